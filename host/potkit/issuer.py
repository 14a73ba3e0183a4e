"""The issuer: timebase reading -> payload -> GRG commitment -> Ed25519.

    record = P || GRG(P, ctx) || Ed25519(sk, P || GRG(P, ctx))     (143 bytes)

P is packed by pot.host.pack_payload and the commitment computed by
pot.grg: the very code the boards run, so issuer and verifier cannot drift
apart. Signing is libsodium through pynacl.

Also here: the on-chain anchor (draft-03 section 4.4, made byte-exact in
docs/spec.md section 7.4). The commands `potkit issue` and `potkit verify`
are potkit.commands.issue and potkit.commands.verify.
"""
import hashlib
import os

from pot.spec import MAX_CTX as MAX_CTX_LEN
from potkit import PotkitError


# --- the firmware API, named in this one place ------------------------------
# (pot.record, pot.grg and pot.verifier are written by other engineers; a
# rename there is a change here only.)
def firmware_record_api():
    """(pack_payload, commitment) from the firmware package."""
    from pot import host

    return host.pack_payload, host.commitment


def pynacl_ed25519_verify(public_key, message, signature):
    """The Ed25519 function handed to pot.verifier: True iff the signature verifies.

    libsodium's crypto_sign_verify_detached rejects non-canonical S and
    small-order keys, the strict rules the device verifier also applies.
    """
    from nacl.bindings import crypto_sign_open
    from nacl.exceptions import BadSignatureError

    try:
        crypto_sign_open(bytes(signature) + bytes(message), bytes(public_key))
        return True
    except (BadSignatureError, ValueError, TypeError):
        return False


def make_verifier(public_key, skew_ms=None, **kw):
    """A pot.verifier.Verifier wired to pynacl and to pot.fastpath's GRG stages:
    the device pipeline on the host. kw: Verifier's cache and ordering."""
    from pot import fastpath, verifier
    from pot.grg import Grg

    kw["ed25519"] = pynacl_ed25519_verify
    if skew_ms is not None:
        kw["skew_ms"] = skew_ms
    # The context gate with the host's stages (the same bytes, 8x faster).
    return verifier.Verifier(bytes(public_key), grg=Grg(fastpath), **kw)


def verdict_names():
    from pot import spec

    return spec.VERDICT_NAMES


# --- validation shared by the CLI and the service (potkit.validate) -----------
def parse_tier(value):
    """0..3 or a tier name ("T2_slot", "t2", "slot"); BadValue (a PotkitError) otherwise."""
    from potkit import validate

    return validate.tier(value, "tier")


def check_ctx(ctx):
    ctx = bytes(ctx)
    if len(ctx) > MAX_CTX_LEN:
        raise PotkitError("ctx is %d bytes (at most %d)" % (len(ctx), MAX_CTX_LEN))
    return ctx


def check_challenge(challenge):
    if challenge is None:
        return None
    challenge = bytes(challenge)
    if len(challenge) != 32:
        raise PotkitError("challenge is %d bytes (must be 32)" % len(challenge))
    return challenge


# --- the issuer ---------------------------------------------------------------
class Issuer:
    """Signs PoT records with `signing_key` at the time `timebase.now()` gives.

    signing_key: a nacl.signing.SigningKey or a 32-byte seed.
    timebase: a potkit.timebase.TimeBase (or anything with now() -> Now).
    """

    def __init__(self, signing_key, timebase):
        from nacl.bindings import crypto_sign
        from nacl.signing import SigningKey

        if not isinstance(signing_key, SigningKey):
            signing_key = SigningKey(bytes(signing_key))
        self.public_key = bytes(signing_key.verify_key)
        # libsodium's 64-byte secret key is seed || public key; crypto_sign on
        # it directly skips pynacl's encoder layer (a few us per record).
        self._sk64 = bytes(signing_key) + self.public_key
        self._crypto_sign = crypto_sign
        self.timebase = timebase
        self._pack, self._commit = firmware_record_api()

    def issue_at(self, ctx, tier, challenge=None):
        """(record, Now): the record and the timebase reading it carries."""
        if tier.__class__ is not int or not 0 <= tier <= 3:
            tier = parse_tier(tier)
        if len(ctx) > MAX_CTX_LEN:
            check_ctx(ctx)
        if challenge is None:
            nonce = os.urandom(32)
        else:
            nonce = check_challenge(challenge)
        now = self.timebase.now()
        payload = self._pack(tier, now.source_count, now.time_ns, now.confidence_ppm, nonce)
        signed = payload + self._commit(payload, ctx)
        # crypto_sign returns signature || message.
        return signed + self._crypto_sign(signed, self._sk64)[:64], now

    def issue(self, ctx, tier, challenge=None):
        """One 143-byte record for `ctx` (bytes, <= 255) and `tier` (0..3).

        The nonce is 32 bytes from os.urandom, or the caller's 32-byte
        challenge (challenge mode: the caller knows the record is fresh).
        Raises TimeBaseUnavailable (a PotkitError) when the time is not vouched for.
        """
        return self.issue_at(ctx, tier, challenge)[0]


# --- on-chain anchor ------------------------------------------------------------
def keccak256(data):
    from Crypto.Hash import keccak

    return keccak.new(digest_bits=256, data=data).digest()


def ctx_id(ctx):
    """bytes32 naming a context on chain: SHA-256(ctx) (spec 7.4)."""
    return hashlib.sha256(bytes(ctx)).digest()


def anchor_abi_encoding(record, ctx):
    """abi.encode(uint64 timestamp, bytes32 grg_commitment, bytes32 ctx_id, bytes32 nonce).

    Solidity's ABI encodes each of these static types in one 32-byte word:
    the uint64 right-aligned (24 zero bytes, then its 8 big-endian bytes),
    a bytes32 as it is. 128 bytes, no length prefix, no offsets.
    """
    record = bytes(record)
    if len(record) != 143:
        raise PotkitError("a record is 143 bytes (got %d)" % len(record))
    timestamp = record[3:11]
    commitment = record[47:79]
    nonce = record[15:47]
    return bytes(24) + timestamp + commitment + ctx_id(check_ctx(ctx)) + nonce


def onchain_anchor(record, ctx):
    """keccak256 of anchor_abi_encoding(record, ctx): 32 bytes.

    A contract recomputes it as
    keccak256(abi.encode(uint64(ts), commitment, sha256(ctx), nonce)).
    """
    return keccak256(anchor_abi_encoding(record, ctx))
