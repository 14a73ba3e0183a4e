# Verify-only Ed25519 (RFC 8032) for the device.
#
#   from pot.ed25519 import crypto_ed25519_verify
#   ok = crypto_ed25519_verify(public_key32, message, signature64)   # bool
#
# Decision policy (normative text: docs/spec-parts/ed25519.md): the SAME
# accept/reject verdict as libsodium's crypto_sign_verify_detached, which
# is what the host (pynacl) uses, on every input:
#   1. wrong lengths -> reject (libsodium's callers cannot even express them)
#   2. S >= L (all 256 bits compared) -> reject
#   3. R's y (sign bit ignored) one of the 7 small-order y encodings -> reject
#   4. A non-canonical (y >= p, sign bit ignored) -> reject
#   5. A's y one of the small-order encodings -> reject
#   6. A not on the curve -> reject
#   7. h = SHA-512(R || A || M) mod L; accept iff the canonical encoding of
#      [S]B - [h]A equals the 32 bytes R (cofactorless; so a non-canonical
#      R never matches). Mixed-order A (a torsion component) is accepted
#      exactly when that equation holds, as in libsodium.
# Never raises on bad input: anything that is not bytes-like of the right
# length gives False.
#
# No constant-time code here: a verifier handles only public data (key,
# message, signature), so timing leaks nothing secret; variable-time
# arithmetic is what makes it fast.
#
# Speed (the device's dominant cost). MicroPython big ints are immutable
# heap objects and every operation costs an allocation plus a call into
# the mpz library, so the design counts big-int operations:
#   - one joint double-scalar multiplication [S]B + [h](-A) (Straus/Shamir):
#     ~253 doublings shared by both scalars, width-7 w-NAF for S over a
#     precomputed table of 32 odd multiples of B in flash
#     (pot/ed25519_table.py), width-5 w-NAF for h over 8 odd multiples of
#     -A computed per verify; ~32 + ~42 additions;
#   - extended twisted Edwards coordinates, a = -1: doubling dbl-2008-hwcd
#     (4S + 3M, plus 1M for T only when an addition follows), addition
#     add-2008-hwcd-3 (8M, 7M with the affine base table; T only when
#     another addition follows);
#   - two-level lazy reduction, no % p in the loop: a product of
#     coordinates is folded once, (x & M) + (x >> 255) * 19 (< 2**264), a
#     product of sums of those is folded twice (back below 2**256 in
#     magnitude); on the Unix port one fold costs about half of x % p. Sums and
#     differences are never reduced (they may be negative);
#   - one exponentiation to decompress A (x = u v^3 (u v^7)^((p-5)/8)) and
#     one inversion to encode the result, both by the ref10 addition chain
#     (254 squarings, 11 multiplications) instead of pow();
#   - SHA-512 from hashlib where the port has it, else pot.sha512's pure one.
#   Field chains, decompression and generic point formulas live in
#   pot/ed25519_field.py (split so each module compiles in a small heap).
# Memory: the w-NAF digit buffers and the -A table are preallocated at
# import and reused (so not re-entrant: one verify at a time).
try:  # MicroPython: the compiler consumes @micropython.native itself
    import micropython
except ImportError:  # CPython: the same code runs undecorated

    class micropython:
        @staticmethod
        def native(f):
            return f


from pot.ed25519_table import BASE_NIELS, WIDTH as _B_WIDTH
from pot.sha512 import sha512
from pot.ed25519_field import (
    P as _P,
    M255 as _M255,
    L as _L,
    D2 as _D2,
    invert as _invert,
    recover_x as _recover_x,
    dbl as _dbl,
    add_cached as _add_cached,
)

_A_WIDTH = 5  # w-NAF width for h: 8 odd multiples of -A

# libsodium's ge25519_has_small_order blacklist, as y values (the sign bit
# is ignored): y of the points of order 1, 2, 4 and 8, plus the
# non-canonical encodings p and p + 1 of y = 0 and y = 1.
_SMALL_ORDER_Y = (
    0,
    1,
    2707385501144840649318225287225658788936804267575313519463743609750303402022,
    55188659117513257062467267217118295137698188065244968500265048394206261417927,
    _P - 1,
    _P,
    _P + 1,
)

# Reused buffers.
_NAF_S = bytearray(256)  # w-NAF digits of S, two's complement bytes
_NAF_H = bytearray(256)  # w-NAF digits of h
_SCALAR = bytearray(34)  # a scalar, little-endian, plus 2 zero bytes
_A_TABLE = [0] * (4 << (_A_WIDTH - 2))  # (Y+X, Y-X, 2Z, 2dT) of -A, -3A, ..


def _build_a_table(ax, ay):
    # Odd multiples (2i+1)A' of A' = (ax, ay), i = 0..7, in cached form.
    p = _P
    tab = _A_TABLE
    X, Y, Z, T = ax, ay, 1, ax * ay % p
    X2, Y2, Z2, T2 = _dbl(ax, ay, 1)
    yp2, ym2, z22, t2d2 = (Y2 + X2) % p, (Y2 - X2) % p, (Z2 + Z2) % p, T2 * _D2 % p
    for i in range(0, len(tab), 4):
        if i:
            X, Y, Z, T = _add_cached(X, Y, Z, T, yp2, ym2, z22, t2d2)
        tab[i] = (Y + X) % p
        tab[i + 1] = (Y - X) % p
        tab[i + 2] = (Z + Z) % p
        tab[i + 3] = T * _D2 % p


# --- Scalars ---------------------------------------------------------------
@micropython.native
def _wnaf(buf, w, out):
    # Width-w non-adjacent form of the little-endian scalar in buf (< 2**253,
    # two zero bytes after it): out[i] = digit at bit i, odd in
    # -(2**(w-1)-1)..2**(w-1)-1, stored as a two's complement byte; at
    # least w-1 zeros between non-zero digits.
    for i in range(256):
        out[i] = 0
    width = 1 << w
    half = width >> 1
    mask = width - 1
    pos = 0
    carry = 0
    while pos < 256:
        i = pos >> 3
        window = carry + (((buf[i] | (buf[i + 1] << 8)) >> (pos & 7)) & mask)
        if window & 1 == 0:
            pos += 1
            continue
        if window < half:
            carry = 0
            out[pos] = window
        else:
            carry = 1
            out[pos] = (window - width) & 0xFF
        pos += w


def _load_scalar(src32):
    buf = _SCALAR
    for i in range(32):
        buf[i] = src32[i]
    return buf


# --- The joint double-scalar multiplication --------------------------------
@micropython.native
def _double_scalarmult(naf_s, naf_h, table_a, table_b):
    # Returns (X, Y, Z) of sum_i 2**i (naf_s[i] B + naf_h[i] A'), with the
    # odd multiples of A' cached in table_a and those of B in table_b.
    # Reduction, two levels: the products of coordinates (|x| < 2**256) are
    # folded once, (x & m) + (x >> 255) * 19, giving |x| < 2**264; the
    # products of sums of those (|x| < 2**532) are folded twice, giving
    # -2**31 < x < 2**255 + 2**31: not canonical, but bounded, so every
    # coordinate stays below 2**256 in magnitude (two folds are ~15 %
    # cheaper than % p on the Unix port). The caller reduces at the end.
    m = _M255
    top = 255
    while top >= 0 and not (naf_s[top] or naf_h[top]):
        top -= 1
    X = 0
    Y = 1
    Z = 1
    T = 0
    i = top
    while i >= 0:
        da = naf_h[i]
        db = naf_s[i]
        # Doubling, dbl-2008-hwcd with a = -1 and the signs of E, F, G, H
        # flipped (products unchanged): a = X^2, b = Y^2, c = 2Z^2,
        # H = a + b, E = H - (X+Y)^2, G = a - b, F = G + c;
        # X3 = EF, Y3 = GH, Z3 = FG, T3 = EH.
        a = X * X
        a = (a & m) + (a >> 255) * 19
        b = Y * Y
        b = (b & m) + (b >> 255) * 19
        c = Z * Z
        c = (c & m) + (c >> 255) * 19
        e = X + Y
        e = e * e
        e = (e & m) + (e >> 255) * 19
        h = a + b
        e = h - e
        g = a - b
        f = g + c + c
        X = e * f
        X = (X & m) + (X >> 255) * 19
        X = (X & m) + (X >> 255) * 19
        Y = g * h
        Y = (Y & m) + (Y >> 255) * 19
        Y = (Y & m) + (Y >> 255) * 19
        Z = f * g
        Z = (Z & m) + (Z >> 255) * 19
        Z = (Z & m) + (Z >> 255) * 19
        if da or db:
            T = e * h
            T = (T & m) + (T >> 255) * 19
            T = (T & m) + (T >> 255) * 19  # only an addition reads T
        if da:
            # + (+-)(2k+1)A' from the cached table: add-2008-hwcd-3.
            if da < 128:
                k = (da - 1) << 1
                yp = table_a[k]
                ym = table_a[k + 1]
                t2 = table_a[k + 3]
            else:
                k = (255 - da) << 1  # negative digit: -P = (-x, y)
                yp = table_a[k + 1]
                ym = table_a[k]
                t2 = -table_a[k + 3]
            a = (Y - X) * ym
            a = (a & m) + (a >> 255) * 19
            b = (Y + X) * yp
            b = (b & m) + (b >> 255) * 19
            c = T * t2
            c = (c & m) + (c >> 255) * 19
            d = Z * table_a[k + 2]
            d = (d & m) + (d >> 255) * 19
            e = b - a
            f = d - c
            g = d + c
            h = b + a
            X = e * f
            X = (X & m) + (X >> 255) * 19
            X = (X & m) + (X >> 255) * 19
            Y = g * h
            Y = (Y & m) + (Y >> 255) * 19
            Y = (Y & m) + (Y >> 255) * 19
            Z = f * g
            Z = (Z & m) + (Z >> 255) * 19
            Z = (Z & m) + (Z >> 255) * 19
            if db:
                T = e * h
                T = (T & m) + (T >> 255) * 19
                T = (T & m) + (T >> 255) * 19
        if db:
            # + (+-)(2k+1)B from the affine Niels table in flash (Z2 = 1).
            if db < 128:
                k = 48 * (db - 1)  # 96 bytes per entry
                yp = int.from_bytes(table_b[k:k + 32], "little")
                ym = int.from_bytes(table_b[k + 32:k + 64], "little")
                t2 = int.from_bytes(table_b[k + 64:k + 96], "little")
            else:
                k = 48 * (255 - db)
                yp = int.from_bytes(table_b[k + 32:k + 64], "little")
                ym = int.from_bytes(table_b[k:k + 32], "little")
                t2 = -int.from_bytes(table_b[k + 64:k + 96], "little")
            a = (Y - X) * ym
            a = (a & m) + (a >> 255) * 19
            b = (Y + X) * yp
            b = (b & m) + (b >> 255) * 19
            c = T * t2
            c = (c & m) + (c >> 255) * 19
            d = Z + Z
            e = b - a
            f = d - c
            g = d + c
            h = b + a
            X = e * f
            X = (X & m) + (X >> 255) * 19
            X = (X & m) + (X >> 255) * 19
            Y = g * h
            Y = (Y & m) + (Y >> 255) * 19
            Y = (Y & m) + (Y >> 255) * 19
            Z = f * g
            Z = (Z & m) + (Z >> 255) * 19
            Z = (Z & m) + (Z >> 255) * 19
        i -= 1
    return X, Y, Z


# --- Verify ------------------------------------------------------------------
def crypto_ed25519_verify(public_key, message, signature):
    # True iff signature is a valid Ed25519 signature of message under
    # public_key, with exactly libsodium's accept/reject decisions.
    try:  # anything without the buffer protocol is not a signature
        public_key = memoryview(public_key)
        signature = memoryview(signature)
        message = memoryview(message)
    except TypeError:
        return False
    if len(public_key) != 32 or len(signature) != 64:
        return False
    s = int.from_bytes(signature[32:64], "little")
    if s >= _L:
        return False
    r_int = int.from_bytes(signature[0:32], "little")
    if (r_int & _M255) in _SMALL_ORDER_Y:
        return False
    a_int = int.from_bytes(public_key[0:32], "little")
    ay = a_int & _M255
    if ay >= _P or ay in _SMALL_ORDER_Y:
        return False
    ax = _recover_x(ay, a_int >> 255)
    if ax < 0:
        return False
    # h = SHA-512(R || A || M) mod L, over the parts without concatenating.
    h = int.from_bytes(sha512((signature[0:32], public_key, message)), "little") % _L
    # Joint multiplication [S]B + [h](-A): -A = (-x, y).
    _build_a_table((_P - ax) % _P, ay)
    _wnaf(_load_scalar(signature[32:64]), _B_WIDTH, _NAF_S)
    _wnaf(_load_scalar(h.to_bytes(32, "little")), _A_WIDTH, _NAF_H)
    X, Y, Z = _double_scalarmult(_NAF_S, _NAF_H, _A_TABLE, memoryview(BASE_NIELS))
    # Encode and compare with R: y | (x & 1) << 255 must equal R's 256 bits.
    zi = _invert(Z)
    x = X * zi % _P
    y = Y * zi % _P
    return (y | ((x & 1) << 255)) == r_int


verify = crypto_ed25519_verify
