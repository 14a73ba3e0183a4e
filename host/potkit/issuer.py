"""The issuer: timebase reading -> payload -> GRG commitment -> Ed25519.

    record = P || GRG(P, ctx) || Ed25519(sk, P || GRG(P, ctx))     (143 bytes)

P is packed by pot.host.pack_payload and the commitment computed by
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

from pot.spec import MAX_CTX as MAX_CTX_LEN, TIER_NAMES
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


# --- CLI -----------------------------------------------------------------------
def add_message_args(p, what="with --device-id: the message to stamp"):
    """--message TEXT | --message-file PATH (- = standard input): the same
    bytes for `issue`, `verify`, `show` and `device send` (TEXT as UTF-8,
    a file exactly as it is, trailing newline included)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--message", metavar="TEXT", help=what + " (UTF-8, exactly as given)")
    g.add_argument("--message-file", metavar="PATH",
                   help="the message is this file's bytes, exactly (- reads standard input)")


def message_from_args(args):
    """The message bytes, or None when neither option was given."""
    if getattr(args, "message", None) is not None:
        return args.message.encode()
    path = getattr(args, "message_file", None)
    if path is None:
        return None
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise PotkitError("cannot read --message-file %s: %s; check the path (or use --message TEXT)"
                          % (path, e.strerror or e))


def add_ctx_args(p):
    from potkit import validate

    g = p.add_argument_group("context (spec 2.7); one of")
    g.add_argument("--ctx", type=validate.arg(validate.ctx, "--ctx"), help="the context bytes as hex")
    g.add_argument("--device-id", type=validate.arg(validate.device_id, "--device-id"),
                   help="a board id: ctx = 00 || len || id (with a message: 01 || len || id || SHA-256(message))")
    add_message_args(p)


def ctx_from_args(args):
    from potkit.keys import device_context

    given = [x for x in (args.ctx, args.device_id) if x is not None]
    message = message_from_args(args)
    if len(given) != 1:
        raise PotkitError("no context given; give exactly one of --ctx HEX and --device-id ID")
    if args.ctx is not None:
        if message is not None:
            raise PotkitError("--message/--message-file stamp a board's context; use them with --device-id, not --ctx")
        return check_ctx(args.ctx)
    return device_context(args.device_id, message)


def add_tier_arg(p, default="T0_epoch"):
    from potkit import validate

    p.add_argument("--tier", default=default, type=validate.arg(validate.tier, "--tier"),
                   help="0..3 or T0_epoch (60 s window), T1_block (2 s), T2_slot (12 s), T3_micro (100 ms)")


def issue_args(p):
    from potkit import keys, timebase, validate

    p.add_argument("--key", default=keys.default_key_path(), help="issuer private key (mode 0600)")
    add_ctx_args(p)
    add_tier_arg(p)
    p.add_argument("--challenge", type=validate.arg(validate.challenge, "--challenge"),
                   help="32-byte challenge as hex (challenge mode: it becomes the nonce)")
    p.add_argument("--anchor", action="store_true", help="also print the on-chain anchor")
    p.add_argument("--json", action="store_true", help="print one JSON object (record, time, sources, ...)")
    timebase.add_source_args(p)


def issue_run(args):
    import json

    from potkit import keys, timebase

    ctx = ctx_from_args(args)
    tier = args.tier if isinstance(args.tier, int) else parse_tier(args.tier)
    sk = keys.load_signing_key(args.key)
    tb = timebase.timebase_from_args(args)
    tb.refresh()
    record, now = Issuer(sk, tb).issue_at(ctx, tier, args.challenge)
    if args.json:
        from potkit.synth import format_time_ns

        doc = {"record": record.hex(), "tier": TIER_NAMES[tier], "ctx": ctx.hex(), "time_ns": now.time_ns,
               "time": format_time_ns(now.time_ns), "uncertainty_ns": now.uncertainty_ns,
               "sources": now.source_count, "confidence_ppm": now.confidence_ppm}
        doc["anchor"] = onchain_anchor(record, ctx).hex() if args.anchor else None
        print(json.dumps(doc, indent=2))
        return 0
    print(record.hex())
    if args.anchor:
        print("anchor " + onchain_anchor(record, ctx).hex())
    print("time %d ns +- %d ns, %d sources, confidence %d ppm" % (
        now.time_ns, now.uncertainty_ns, now.source_count, now.confidence_ppm), file=sys.stderr)
    return 0


def verify_args(p):
    from potkit import keys, validate

    p.add_argument("record", type=validate.arg(validate.hex_bytes, "record"),
                   help="the record as hex (143 bytes)")
    p.add_argument("--pubkey", type=validate.arg(validate.public_key, "--pubkey"),
                   help="issuer public key as hex (default: the one of --key)")
    p.add_argument("--key", default=keys.default_key_path(), help="issuer key path whose public key to use")
    add_ctx_args(p)
    p.add_argument("--challenge", type=validate.arg(validate.challenge, "--challenge"),
                   help="the 32-byte challenge the record must carry (hex)")
    p.add_argument("--now-ns", type=validate.arg(validate.now_ns, "--now-ns"),
                   help="verification time, ns since the epoch (default: this host's clock)")
    p.add_argument("--skew-ms", type=validate.arg(validate.skew_ms, "--skew-ms"),
                   help="tolerated clock skew in ms (default: the verifier's, 500)")
    p.add_argument("--json", action="store_true", help="print one JSON object: verdict and each check")


def verify_run(args):
    import json

    from potkit import keys, show

    public = args.pubkey if args.pubkey else keys.load_public_key(args.key)
    ctx = ctx_from_args(args)
    now_ns = args.now_ns if args.now_ns is not None else time.time_ns()
    code = make_verifier(public, skew_ms=args.skew_ms).verify(args.record, ctx, now_ns, args.challenge)
    report = show.explain(args.record, ctx=ctx, public_key=public, now_ns=now_ns, challenge=args.challenge,
                          skew_ms=args.skew_ms)
    report["verdict"] = verdict_names()[code]
    report["code"] = code
    report["why"] = show.why(report, report["verdict"])   # the verifier's reason, not just the first failure
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("%s (%d)" % (report["verdict"], code))
        if report["why"]:
            print("why: " + report["why"])
    return 0 if code == 0 else 1
