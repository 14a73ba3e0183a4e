"""The issuer: timebase reading -> payload -> GRG commitment -> Ed25519.

    record = P || GRG(P, ctx) || Ed25519(sk, P || GRG(P, ctx))     (143 bytes)

P is packed by pot.record.pack_payload and the commitment computed by
pot.grg: the very code the boards run, so issuer and verifier cannot drift
apart. Signing is libsodium through pynacl.

Also here: the on-chain anchor (draft-03 section 4.4, made byte-exact in
docs/spec.md section 7.4) and the `potkit issue` / `potkit verify`
commands.
"""
import hashlib
import os
import sys
import time

from potkit import PotkitError

TIER_NAMES = ("T0_epoch", "T1_block", "T2_slot", "T3_micro")
MAX_CTX_LEN = 255


# --- the firmware API, named in this one place ------------------------------
# (pot.record, pot.grg and pot.verifier are written by other engineers; a
# rename there is a change here only.)
def firmware_record_api():
    """(pack_payload, commitment) from the firmware package."""
    from pot import grg, record

    return record.pack_payload, grg.commitment


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


def make_verifier(public_key, skew_ms=None):
    """A pot.verifier.Verifier wired to pynacl: the device pipeline on the host."""
    from pot import verifier

    kw = {"ed25519": pynacl_ed25519_verify}
    if skew_ms is not None:
        kw["skew_ms"] = skew_ms
    return verifier.Verifier(bytes(public_key), **kw)


def verdict_names():
    from pot import verifier

    return verifier.NAMES


# --- validation shared by the CLI and the service ----------------------------
def parse_tier(value):
    """0..3 or a tier name ("T2_slot", case-insensitive); PotkitError otherwise."""
    if isinstance(value, bool):
        raise PotkitError("unknown tier %r (0..3 or %s)" % (value, ", ".join(TIER_NAMES)))
    if isinstance(value, int):
        if 0 <= value <= 3:
            return value
    elif isinstance(value, str):
        if value.isdigit() and 0 <= int(value) <= 3:
            return int(value)
        for i, name in enumerate(TIER_NAMES):
            if value.lower() == name.lower():
                return i
    raise PotkitError("unknown tier %r (0..3 or %s)" % (value, ", ".join(TIER_NAMES)))


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
        # libsodium's 64-byte secret key (seed || public key); crypto_sign on it
        # directly skips pynacl's encoder layer (a few us per record).
        self._sk64 = bytes(signing_key._signing_key)
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


# --- CLI -----------------------------------------------------------------------
def _unhex(text, what):
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise PotkitError("%s is not hex" % what)


def add_ctx_args(p):
    g = p.add_argument_group("context (spec 2.7); one of")
    g.add_argument("--ctx", help="the context bytes as hex")
    g.add_argument("--device-id", help="a board id: ctx = 00 || len || id")
    g.add_argument("--message", help="with --device-id: a file to stamp: ctx = 01 || len || id || SHA-256(file)")


def ctx_from_args(args):
    from potkit.keys import device_context

    given = [x for x in (args.ctx, args.device_id) if x is not None]
    if len(given) != 1:
        raise PotkitError("give exactly one of --ctx and --device-id")
    if args.ctx is not None:
        if args.message:
            raise PotkitError("--message goes with --device-id, not --ctx")
        return check_ctx(_unhex(args.ctx, "--ctx"))
    if not args.message:
        return device_context(args.device_id)
    try:
        with open(args.message, "rb") as f:
            message = f.read()
    except OSError as e:
        raise PotkitError("cannot read --message %s: %s" % (args.message, e.strerror or e))
    return device_context(args.device_id, message)


def issue_args(p):
    from potkit import keys, timebase

    p.add_argument("--key", default=keys.default_key_path(), help="issuer private key (mode 0600)")
    add_ctx_args(p)
    p.add_argument("--tier", default="0", help="0..3 or T0_epoch, T1_block, T2_slot, T3_micro (default 0)")
    p.add_argument("--challenge", help="32-byte challenge as hex (challenge mode: it becomes the nonce)")
    p.add_argument("--anchor", action="store_true", help="also print the on-chain anchor")
    timebase.add_source_args(p)


def issue_run(args):
    from potkit import keys, timebase

    ctx = ctx_from_args(args)
    tier = parse_tier(args.tier)
    challenge = check_challenge(_unhex(args.challenge, "--challenge") if args.challenge else None)
    sk = keys.load_signing_key(args.key)
    tb = timebase.timebase_from_args(args)
    tb.refresh()
    record, now = Issuer(sk, tb).issue_at(ctx, tier, challenge)
    print(record.hex())
    if args.anchor:
        print("anchor " + onchain_anchor(record, ctx).hex())
    print("time %d ns +- %d ns, %d sources, confidence %d ppm" % (
        now.time_ns, now.uncertainty_ns, now.source_count, now.confidence_ppm), file=sys.stderr)


def verify_args(p):
    from potkit import keys

    p.add_argument("record", help="the record as hex (143 bytes)")
    p.add_argument("--pubkey", help="issuer public key as hex (default: KEY.pub)")
    p.add_argument("--key", default=keys.default_key_path(), help="issuer key path whose .pub to use")
    add_ctx_args(p)
    p.add_argument("--challenge", help="the 32-byte challenge the record must carry (hex)")
    p.add_argument("--now-ns", type=int, help="verification time, ns since the epoch (default: this host's clock)")
    p.add_argument("--skew-ms", type=int, help="tolerated clock skew (default: the verifier's)")


def verify_run(args):
    from potkit import keys

    public = keys.parse_public_hex(args.pubkey) if args.pubkey else keys.load_public_key(args.key)
    ctx = ctx_from_args(args)
    record = _unhex(args.record, "the record")
    challenge = check_challenge(_unhex(args.challenge, "--challenge") if args.challenge else None)
    now_ns = args.now_ns if args.now_ns is not None else time.time_ns()
    code = make_verifier(public, skew_ms=args.skew_ms).verify(record, ctx, now_ns, challenge)
    print("%s (%d)" % (verdict_names()[code], code))
    return 0 if code == 0 else 1
