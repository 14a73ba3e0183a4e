#!/usr/bin/env python3
"""Generate the Ed25519 test vectors (deterministic: fixed seeds, no randomness).

    .venv/bin/python tools/gen/gen_ed25519_vectors.py            write the files below
    .venv/bin/python tools/gen/gen_ed25519_vectors.py --check    exit 1 if the committed files differ

writes
  tests/vectors/ed25519_rfc8032.txt     RFC 8032 section 7.1: TEST 1, 2, 3, 1024, SHA(abc)
  tests/vectors/ed25519_sign_input.txt  the 1,024 cases of DJB's sign.input, from the
                                        PyPI package cryptography-vectors
  tests/vectors/ed25519_edge.txt        constructed edge cases: S >= L, non-canonical and
                                        small-order A and R, mixed-order A and R, wrong
                                        lengths, points off the curve ...
  tests/vectors/sha512_lengths.txt      SHA-512 of messages of length 0..300 (hashlib)

Every expected verdict is libsodium's (pynacl's crypto_sign_open), asked here at
generation time; tests/host/test_ed25519_pynacl.py asks it again live. Edge cases
whose verification equation [S]B = R + [h]A holds but which libsodium's policy
rejects are built on purpose (flag "eq-holds"), so that a verifier that skips a
policy check fails them.

The point arithmetic (tools/gen/ed25519_ref.py) is plain affine Edwards code with
pow() inverses, independent of firmware/pot/ed25519.py.
"""
import hashlib
import os
import sys

import cryptography_vectors
import nacl.bindings
import nacl.exceptions

from ed25519_ref import B, L, P, add, decode, encode, encode_raw, mul, neg, recover_x
from genlib import VECTORS, hx, write_or_check


def order(a):
    # Order of a point: 1, 2, 4, 8, L, 2L, 4L or 8L.
    for k in (1, 2, 4, 8, L, 2 * L, 4 * L, 8 * L):
        if mul(k, a) == (0, 1):
            return k
    raise AssertionError("not a curve point")


def small_order_points():
    # The 8 points of order dividing 8: multiples of one of order 8.
    t8 = None
    y = 2
    while t8 is None:  # a point of order 8: 8 * (a point with an 8 in its order)
        x = recover_x(y, 0)
        if x is not None:
            c = mul(L, (x, y))
            if order(c) == 8:
                t8 = c
        y += 1
    return t8, [mul(k, t8) for k in range(8)]


def h_scalar(r_bytes, a_bytes, msg):
    return int.from_bytes(hashlib.sha512(r_bytes + a_bytes + msg).digest(), "little") % L


def secret_scalar(seed):
    # RFC 8032 5.1.5: the clamped secret scalar and the nonce prefix.
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


# --- libsodium's verdict ---------------------------------------------------
def libsodium_verdict(pk, msg, sig):
    # libsodium's detached API only takes a 32-byte key and a 64-byte
    # signature; anything else cannot be a valid signature.
    if len(pk) != 32 or len(sig) != 64:
        return "invalid"
    try:
        nacl.bindings.crypto_sign_open(sig + msg, pk)
        return "valid"
    except nacl.exceptions.BadSignatureError:
        return "invalid"


# --- RFC 8032 section 7.1 --------------------------------------------------
RFC8032 = (
    ("rfc8032-test1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("rfc8032-test2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("rfc8032-test3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ("rfc8032-test1024", "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
     "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
     "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1"
     "e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
     "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a"
     "7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
     "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc10"
     "3b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
     "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d"
     "502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
     "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089b"
     "eccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
     "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969b"
     "e3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
     "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988d"
     "cda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
     "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7"
     "984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
     "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac09"
     "43bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
     "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f161"
     "0e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
     "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8ca"
     "c60c905c15fc910840b94c00a0b9d0",
     "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03"),
    ("rfc8032-sha-abc", "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"),
)


def gen_rfc8032():
    lines = [
        "# Ed25519 test vectors of RFC 8032 section 7.1 (TEST 1, 2, 3, 1024, SHA(abc)),",
        "# transcribed from the RFC; tools/gen/gen_ed25519_vectors.py checks each one by",
        "# re-deriving the public key and the (deterministic) signature from the",
        "# secret key with libsodium (pynacl) and asking libsodium for the verdict.",
        "# fields: id public_key message signature expected",
    ]
    for vid, sk, pk, msg, sig in RFC8032:
        pk_b, msg_b, sig_b = bytes.fromhex(pk), bytes.fromhex(msg), bytes.fromhex(sig)
        derived_pk, _ = nacl.bindings.crypto_sign_seed_keypair(bytes.fromhex(sk))
        assert derived_pk == pk_b, vid
        assert nacl.bindings.crypto_sign(msg_b, bytes.fromhex(sk) + pk_b)[:64] == sig_b, vid
        assert libsodium_verdict(pk_b, msg_b, sig_b) == "valid", vid
        lines.append("%s %s %s %s valid" % (vid, pk, hx(msg_b), sig))
    return lines


def gen_sign_input():
    with cryptography_vectors.open_vector_file("asymmetric/Ed25519/sign.input", "r") as f:
        rows = [line.strip().split(":") for line in f if line.strip()]
    lines = [
        "# The 1,024 cases of sign.input (D. J. Bernstein's Ed25519 reference test file,",
        "# https://ed25519.cr.yp.to/python/sign.input), taken from the PyPI package",
        "# cryptography-vectors 50.0.2 (asymmetric/Ed25519/sign.input) and converted",
        "# by tools/gen/gen_ed25519_vectors.py; messages are 0..1023 bytes. Each verdict",
        "# was confirmed with libsodium (pynacl) at generation time.",
        "# fields: id public_key message signature expected",
    ]
    assert len(rows) == 1024, len(rows)
    for i, (skpk, pk, msg, sigmsg, _) in enumerate(rows):
        pk_b, msg_b = bytes.fromhex(pk), bytes.fromhex(msg)
        sig_b = bytes.fromhex(sigmsg)[:64]
        assert skpk[64:] == pk and bytes.fromhex(sigmsg)[64:] == msg_b
        expected = libsodium_verdict(pk_b, msg_b, sig_b)
        assert expected == "valid", i
        lines.append("sign-input-%04d %s %s %s %s" % (i, pk, hx(msg_b), sig_b.hex(), expected))
    return lines


# --- Edge cases --------------------------------------------------------------
class EdgeWriter:
    def __init__(self):
        self.lines = [
            "# Ed25519 edge cases constructed by tools/gen/gen_ed25519_vectors.py (fixed seeds).",
            "# The expected verdict is libsodium's (pynacl 1.6.2, crypto_sign_open, i.e.",
            "# crypto_sign_verify_detached) at generation time; docs/spec.md section 3",
            "# explains each rule. Flags (comma-separated):",
            "#   valid-sig    an honest signature     eq-holds   [S]B = R + [h]A holds exactly",
            "#   s-ge-l S >= L  s-high high bits of S  a-noncanon / r-noncanon  y >= p",
            "#   a-small / r-small  small-order point (blacklisted y)  a-mixed / r-mixed",
            "#   a torsion component  a-offcurve / r-offcurve  no x for that y",
            "#   x0-sign  x = 0 with the sign bit set  length  wrong pk/sig length",
            "#   cofactored-only  would pass a cofactored ([8]...) verifier",
            "# fields: id flags public_key message signature expected",
        ]
        self.ids = set()

    def add(self, vid, flags, pk, msg, sig, expect=None):
        assert vid not in self.ids, vid
        self.ids.add(vid)
        verdict = libsodium_verdict(pk, msg, sig)
        if expect is not None:
            assert verdict == expect, (vid, verdict)
        self.lines.append("%s %s %s %s %s %s" % (vid, ",".join(flags) or "-", hx(pk), hx(msg), hx(sig), verdict))


def sign_with(a_scalar, a_bytes, msg, prefix, r_point=None, r_bytes=None):
    # Signature (R, S) with S = r + h a mod L; R = [r]B unless given.
    r = int.from_bytes(hashlib.sha512(prefix + msg).digest(), "little") % L
    if r_bytes is None:
        r_pt = mul(r, B)
        if r_point is not None:
            r_pt = add(r_pt, r_point)
        r_bytes = encode(r_pt)
    h = h_scalar(r_bytes, a_bytes, msg)
    s = (r + h * a_scalar) % L
    return r_bytes, s, h


def equation_holds(pk, msg, sig):
    # Cofactorless check on decoded points, for the "eq-holds" flag.
    a, r = decode(pk), decode(sig[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    h = h_scalar(sig[:32], pk, msg)
    return mul(s, B) == add(r, mul(h, a))


def gen_edge():
    w = EdgeWriter()
    seed = hashlib.sha256(b"pot ed25519 edge vectors").digest()
    pk, _ = nacl.bindings.crypto_sign_seed_keypair(seed)
    sk = seed + pk
    a_scalar, prefix = secret_scalar(seed)
    msg = b"PoT edge case"
    sig = nacl.bindings.crypto_sign(msg, sk)[:64]
    r_b, s = sig[:32], int.from_bytes(sig[32:], "little")
    w.add("valid-baseline", ["valid-sig"], pk, msg, sig, "valid")
    w.add("valid-empty-message", ["valid-sig"], pk, b"", nacl.bindings.crypto_sign(b"", sk)[:64], "valid")

    # S out of range: S + L is the same scalar mod L, so only the range check rejects it.
    def with_s(v):
        return r_b + v.to_bytes(32, "little")

    w.add("s-plus-l", ["s-ge-l", "cofactored-only"], pk, msg, with_s(s + L), "invalid")
    w.add("s-equals-l", ["s-ge-l"], pk, msg, with_s(L), "invalid")
    w.add("s-plus-2l", ["s-ge-l"], pk, msg, with_s(s + 2 * L), "invalid")
    w.add("s-all-ones", ["s-ge-l", "s-high"], pk, msg, with_s(2**256 - 1), "invalid")
    w.add("s-bit255", ["s-ge-l", "s-high"], pk, msg, with_s(s | (1 << 255)), "invalid")
    w.add("s-bit253", ["s-ge-l", "s-high"], pk, msg, with_s(s | (1 << 253)), "invalid")
    w.add("s-l-minus-1", [], pk, msg, with_s(L - 1), "invalid")
    w.add("s-zero", [], pk, msg, with_s(0), "invalid")
    w.add("s-plus-1", [], pk, msg, with_s((s + 1) % L), "invalid")

    # Wrong lengths.
    w.add("len-pk-31", ["length"], pk[:31], msg, sig, "invalid")
    w.add("len-pk-33", ["length"], pk + b"\x00", msg, sig, "invalid")
    w.add("len-pk-0", ["length"], b"", msg, sig, "invalid")
    w.add("len-sig-63", ["length"], pk, msg, sig[:63], "invalid")
    w.add("len-sig-65", ["length"], pk, msg, sig + b"\x00", "invalid")
    w.add("len-sig-0", ["length"], pk, msg, b"", "invalid")

    # Plain tampering.
    w.add("msg-changed", [], pk, msg + b"!", sig, "invalid")
    w.add("pk-negated", [], encode(neg(decode(pk))), msg, sig, "invalid")
    w.add("r-negated", [], pk, msg, encode(neg(decode(r_b))) + sig[32:], "invalid")

    # The small-order points: t8 of order 8 and its multiples.
    t8, small = small_order_points()
    small_y = sorted(set(pt[1] for pt in small))
    assert len(small_y) == 5  # y = 1, p-1, 0, and the two order-8 y values

    # Small-order A, with signatures for which the equation holds: R = [S]B and
    # [h]A = 0 (message chosen so that ord(A) divides h).
    for k, t in enumerate(small):
        a_enc = encode(t)
        s_val = 12345 + k
        r_enc = encode(mul(s_val, B))
        for i in range(200):
            m = b"small A %d/%d" % (k, i)
            if h_scalar(r_enc, a_enc, m) % order(t) == 0:
                break
        sig2 = r_enc + s_val.to_bytes(32, "little")
        assert equation_holds(a_enc, m, sig2)
        w.add("a-small-order-%d-of-order-%d" % (k, order(t)), ["a-small", "eq-holds"], a_enc, m, sig2, "invalid")
        if t[0] == 0:  # x = 0: the other sign bit encodes the same point ("-0")
            w.add("a-small-order-%d-x0-sign" % k, ["a-small", "x0-sign", "eq-holds"],
                  encode_raw(t[1], 1), m, sig2, "invalid")

    # Non-canonical A: y + p for the y < 19 that are curve points (and those that
    # are not), both sign bits. y = 0 and y = 1 give the blacklisted p and p+1.
    for y in range(19):
        for sign in (0, 1):
            a_enc = encode_raw(y + P, sign)
            on = recover_x(y, sign) is not None
            flags = ["a-noncanon"] + ([] if on else ["a-offcurve"])
            if y in (0, 1):
                flags.append("a-small")
            s_val = 777 + y
            r_enc = encode(mul(s_val, B))
            m = b"noncanonical A"
            sig2 = r_enc + s_val.to_bytes(32, "little")
            w.add("a-noncanonical-y%d-sign%d" % (y, sign), flags, a_enc, m, sig2, "invalid")

    # A off the curve (canonical y with no x).
    w.add("a-off-curve", ["a-offcurve"], encode_raw(y_off_curve(), 0), msg, sig, "invalid")

    # Mixed-order A = [a]B + T: an honest-looking signature verifies
    # cofactorless only when [h]T = 0, i.e. 8 | h.
    for k in (1, 2, 4):  # torsion of order 8, 4, 2
        t = small[k]
        a_pt = add(mul(a_scalar, B), t)
        a_enc = encode(a_pt)
        good = bad = None
        for i in range(400):
            m = b"mixed A %d/%d" % (k, i)
            r_enc, s_val, h = sign_with(a_scalar, a_enc, m, prefix)
            sig2 = r_enc + s_val.to_bytes(32, "little")
            if h % order(t) == 0 and good is None:
                good = (m, sig2)
            if h % order(t) != 0 and bad is None:
                bad = (m, sig2)
            if good and bad:
                break
        assert equation_holds(a_enc, *good)
        w.add("a-mixed-order-%d-h-kills-torsion" % order(t), ["a-mixed", "eq-holds", "valid-sig"],
              a_enc, good[0], good[1], "valid")
        w.add("a-mixed-order-%d-h-keeps-torsion" % order(t), ["a-mixed", "cofactored-only"],
              a_enc, bad[0], bad[1], "invalid")

    # Mixed-order R = [r]B + T with S = r + h a: cofactorless fails.
    for k in (1, 2, 4):
        r_enc, s_val, _ = sign_with(a_scalar, pk, msg, prefix, r_point=small[k])
        w.add("r-mixed-order-%d" % order(small[k]), ["r-mixed", "cofactored-only"], pk, msg,
              r_enc + s_val.to_bytes(32, "little"), "invalid")

    # Small-order R with the equation holding: A = [a]B + T8 and S = h a, so
    # [S]B - [h]A = -[h]T8; the message is chosen so that this is R.
    a_mixed = add(mul(a_scalar, B), t8)
    a_mixed_enc = encode(a_mixed)
    for k, t in enumerate(small):
        r_enc = encode(t)
        for i in range(400):
            m = b"small R %d/%d" % (k, i)
            h = h_scalar(r_enc, a_mixed_enc, m)
            if mul(h, neg(t8)) == t:
                break
        sig2 = r_enc + (h * a_scalar % L).to_bytes(32, "little")
        assert equation_holds(a_mixed_enc, m, sig2), k
        w.add("r-small-order-%d-of-order-%d" % (k, order(t)), ["r-small", "a-mixed", "eq-holds"],
              a_mixed_enc, m, sig2, "invalid")
        if t[0] == 0:
            w.add("r-small-order-%d-x0-sign" % k, ["r-small", "x0-sign"], a_mixed_enc, m,
                  encode_raw(t[1], 1) + sig2[32:], "invalid")
        if t[1] < 19:  # also the non-canonical encoding y + p
            w.add("r-small-order-%d-noncanonical" % k, ["r-small", "r-noncanon"], a_mixed_enc, m,
                  encode_raw(t[1] + P, t[0] & 1) + sig2[32:], "invalid")

    # Non-canonical R that is not blacklisted: never equals an encoding.
    for y in (2, 3, 4, 9, 18):
        for sign in (0, 1):
            flags = ["r-noncanon"] + ([] if recover_x(y, sign) is not None else ["r-offcurve"])
            w.add("r-noncanonical-y%d-sign%d" % (y, sign), flags, pk, msg, encode_raw(y + P, sign) + sig[32:],
                  "invalid")

    # R off the curve.
    w.add("r-off-curve", ["r-offcurve"], pk, msg, encode_raw(y_off_curve(), 0) + sig[32:], "invalid")

    # A few more honest signatures, various message lengths (hash block edges).
    for n in (1, 47, 79, 111, 112, 128, 143, 239, 240, 256):
        m = hashlib.sha512(b"len %d" % n).digest() * 5
        m = m[:n]
        w.add("valid-len-%d" % n, ["valid-sig"], pk, m, nacl.bindings.crypto_sign(m, sk)[:64], "valid")
    return w.lines


def y_off_curve():
    y = 2
    while recover_x(y, 0) is not None:
        y += 1
    return y


def sha512_message(n):
    # The message of length n in ed25519's SHA-512 vectors: a formula, so that
    # a test on MicroPython (no hashlib.sha512) rebuilds it without storing it.
    return bytes((i * 31 + n * 7 + 1) & 0xFF for i in range(n))


def gen_sha512():
    lines = [
        "# SHA-512 (FIPS 180-4) of messages of every length 0..300 (block edges at 111,",
        "# 112, 128, 239, 240, 256), computed with CPython's hashlib.sha512 by",
        "# tools/gen/gen_ed25519_vectors.py. Message n: byte i = (31*i + 7*n + 1) & 0xff.",
        "# fields: length digest",
    ]
    for n in range(301):
        lines.append("%d %s" % (n, hashlib.sha512(sha512_message(n)).hexdigest()))
    return lines


def main(argv):
    files = {
        "ed25519_rfc8032.txt": gen_rfc8032,
        "ed25519_sign_input.txt": gen_sign_input,
        "ed25519_edge.txt": gen_edge,
        "sha512_lengths.txt": gen_sha512,
    }
    outputs = {os.path.join(VECTORS, name): "\n".join(gen()) + "\n" for name, gen in files.items()}
    return write_or_check("gen_ed25519_vectors", outputs, "--check" in argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
