# Verify-only Ed25519 (RFC 8032) for the device.
#
#   from pot.ed25519 import crypto_ed25519_verify
#   ok = crypto_ed25519_verify(public_key32, message, signature64)   # bool
#
# Decision policy (normative text: docs/spec.md, the Ed25519 section): the SAME
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
# How step 7 is computed (same verdicts, half the doublings):
#   enc([S]B - [h]A) == R  <=>  R decodes strictly (y < p, on the curve, no
#   "-0") to a point R and Q = [S]B - [h]A - R is the identity, because
#   encodings are unique. Q is not computed directly. Half a Euclid run on
#   (8L, h) gives c0, c1 of ~128 bits with c0 = c1 h (mod 8L) and c1 odd
#   (short_pair); then, with k = c1 S mod L,
#       Q' = [k]B - [c0]A - [c1]R = [c1]Q
#   exactly: every curve point has order dividing 8L, B has order L, and
#   c1 h = c0 modulo 8L, so the torsion parts of A and R are multiplied
#   correctly too (a plain mod-L reduction, as in Pornin's eprint 2020/454,
#   would change the verdict for mixed-order A). As c1 is odd and
#   0 < |c1| < L, it is invertible modulo 8L, so Q' = 0 iff Q = 0. The
#   check needs no inversion: Q' = (X:Y:Z) is the identity iff X = 0 and
#   Y = Z (mod p). Four scalars of ~128 bits (c0, c1, and k split at bit
#   128 over tables of B and [2^128]B) share ~128 doublings instead of the
#   ~253 of [S]B - [h]A; the price is decoding R (an exponentiation, which
#   the final inversion used to cost anyway), a 2-entry table of R and the
#   Euclid run (~50 us on the Unix port; pot.ed25519_field.short_pair).
#   Should Euclid ever give long coefficients (never seen; it would need h
#   of a special form), the code falls back to c0 = h, c1 = 1: slower,
#   still exact.
#
# No constant-time code here: a verifier handles only public data (key,
# message, signature), so timing leaks nothing secret; variable-time
# arithmetic is what makes it fast.
#
# Speed (the device's dominant cost). MicroPython big ints are immutable
# heap objects and every operation costs an allocation plus a call into
# the mpz library, so the design counts big-int operations:
#   - one joint multi-scalar multiplication (Straus/Shamir) over ~128
#     doublings: width-4 w-NAF of k, whose digits at bits 0..127 multiply B
#     and at bits 128..252 multiply [2^128]B, over 2 x 4 precomputed odd
#     multiples in flash (pot/ed25519_table.py, 768 bytes; width 5 doubles
#     it, a heap object where modules are not frozen, to save ~8 of ~110
#     additions, 3 % of a verify); width-3 w-NAF of c0 and |c1| over 2
#     odd multiples each of -A and -+R computed per verify (width 4
#     measured as fast: its bigger tables, 8 more big ints live during a
#     verify, cost about what its ~13 fewer additions save);
#   - extended twisted Edwards coordinates, a = -1: doubling dbl-2008-hwcd
#     (4M/S + 3M, plus 1M for T only when an addition follows; 2XY is one
#     product instead of (X+Y)^2 - X^2 - Y^2), addition add-2008-hwcd-3
#     (8M, 7M with the affine base tables; T only when another addition
#     follows; a negative digit swaps operands instead of negating);
#   - lazy reduction, no % p in the loop: a product of coordinates is
#     folded once, (x & M) + (x >> 255) * 19 (< 2**262), a product of sums
#     of those is folded twice (back below 2**256 in magnitude), except T,
#     folded once (bounds in _multi_scalarmult); on the Unix port one fold
#     costs about 40 % of x % p. Sums and differences are never reduced
#     (they may be negative);
#   - one exponentiation per decoded point (x = u v^3 (u v^7)^((p-5)/8)) by
#     the ref10 addition chain (254 squarings, 11 multiplications), cheaper
#     than pow() on MicroPython;
#   - SHA-512 from pot.sha512 (viper: ~25 us for a record on the Unix
#     port; MicroPython's hashlib has no sha512);
#   - the w-NAF recoding in viper (machine-word arithmetic on bytes).
#   Field chains, decompression and generic point formulas live in
#   pot/ed25519_field.py (split so each module compiles in a small heap).
# Memory: the w-NAF digit buffers and the point tables are preallocated at
# import and reused (so not re-entrant: one verify at a time). The table of
# -R is emptied after each verify; the table of -A is kept for the next: with the same public key (the device's
# case: one issuer) the decoding of A and its table are skipped, ~12 % of a
# verify.
from pot.compat import const, micropython, ptr8
from pot.ed25519_table import BASE_NIELS, WIDTH, SPLIT
from pot.sha512 import sha512
from pot.ed25519_field import P, M255, L, recover_x, short_pair, cached_multiples

_A_WIDTH = 3  # w-NAF width for c0 and |c1|: 2 odd multiples of -A and of -+R
_AR_STRIDE = const(8)  # ints per point table: 4 << (_A_WIDTH - 2)
_B_WIDTH = WIDTH  # w-NAF width of the base-point scalar k (4: tests read it)
_B_HALF = const(96 << (4 - 2))  # bytes per base table (B, then [2^128]B): width 4
_B_SPLIT = const(128)
# The consts above mirror the generated table and _A_WIDTH: fail loudly if not.
if WIDTH != 4 or SPLIT != _B_SPLIT or _AR_STRIDE != 4 << (_A_WIDTH - 2):
    raise ImportError("pot.ed25519_table does not match pot.ed25519")
# Names needed only until here (const: by CPython; the MicroPython compiler
# folds it): out of the module's dict, which MicroPython grows by
# reallocation (a bigger table needs a bigger free block in a small heap).
del WIDTH, SPLIT, const

# libsodium's ge25519_has_small_order blacklist, as y values (the sign bit
# is ignored): y of the points of order 1, 2, 4 and 8, plus the
# non-canonical encodings p and p + 1 of y = 0 and y = 1.
_SMALL_ORDER_Y = (
    0,
    1,
    2707385501144840649318225287225658788936804267575313519463743609750303402022,
    55188659117513257062467267217118295137698188065244968500265048394206261417927,
    P - 1,
    P,
    P + 1,
)

# Reused buffers.
_NAF_S = bytearray(256)  # w-NAF digits of k (the base-point scalar), two's complement
_NAF_H = bytearray(256)  # w-NAF digits of c0 (multiplies -A)
_NAF_R = bytearray(256)  # w-NAF digits of |c1| (multiplies -+R)
_SCALAR = bytearray(34)  # a scalar, little-endian, plus 2 zero bytes
_AR_TABLE = [0] * (2 * _AR_STRIDE)  # (Y+X, Y-X, 2Z, 2dT) of P, 3P, 5P, ..: -A, then -+R
# The public key (as an int) whose -A table is in _AR_TABLE[0:_AR_STRIDE],
# or -1. A device verifies one issuer's records, so the decoding of A (an
# exponentiation) and its table are made once per key, not per verify.
_A_CACHED = [-1]


# --- Scalars ---------------------------------------------------------------
@micropython.viper
def _wnaf(buf, w: int, out):
    # Width-w non-adjacent form of the little-endian scalar in buf (< 2**253,
    # two zero bytes after it): out[i] = digit at bit i, odd in
    # -(2**(w-1)-1)..2**(w-1)-1, stored as a two's complement byte; at
    # least w-1 zeros between non-zero digits. Viper: machine-word
    # arithmetic on small values, the same on every port and on CPython.
    src = ptr8(buf)
    dst = ptr8(out)
    pos = 0
    while pos < 256:
        dst[pos] = 0
        pos += 1
    width = 1 << w
    half = width >> 1
    mask = width - 1
    pos = 0
    carry = 0
    while pos < 256:
        i = pos >> 3
        window = carry + (((int(src[i]) | (int(src[i + 1]) << 8)) >> (pos & 7)) & mask)
        if window & 1 == 0:
            pos += 1
            continue
        if window < half:
            carry = 0
            dst[pos] = window
        else:
            carry = 1
            dst[pos] = (window - width) & 0xFF
        pos += w


def _load_scalar(src32):
    buf = _SCALAR
    for i in range(32):
        buf[i] = src32[i]
    return buf


# --- The multi-scalar multiplication ----------------------------------------
@micropython.native
def _multi_scalarmult():
    # Returns (X, Y, Z) of sum_i 2**i (naf_a[i] A' + naf_r[i] R' +
    # naf_k[i] B) with the odd multiples of A' and R' cached in table_ar
    # and those of B and [2**128]B in table_b (digit i >= 128 of naf_k is
    # used at position i - 128, with [2**128]B): the module's buffers
    # (locals here, as parameter names would be interned strings).
    # Reduction, lazy, no % p: a fold F(x) = (x & m) + (x >> 255) * 19 is
    # congruent to x, and for |x| < 2**(255+j) it lies in
    # (-19 * 2**j, 2**255 + 19 * 2**j). X, Y, Z enter every step below
    # 2**256 in magnitude; table values are below 2**257. Doubling: the
    # products a, b, c, XY are < 2**512, folded once < 2**262, so E, F, G,
    # H < 2**264; X3, Y3, Z3 < 2**527, folded twice (< 2**277, then below
    # 2**256 again); T3 = EH is folded only once (< 2**277): it is only
    # ever multiplied by a table value and that product is folded.
    # Addition: (Y-X)ym, (Y+X)yp, Z*2Z2 < 2**514 -> < 2**264; T*2dT2 <
    # 2**534 -> < 2**284, so E, F, G, H < 2**285 and X3, Y3, Z3 < 2**570,
    # which two folds bring back below 2**256 (T3 once, as above). Sums
    # and differences are never reduced and may be negative (& and >> are
    # two's complement on both runtimes). Two folds are cheaper than % p on
    # MicroPython; the caller reduces at the end. (The bounds only keep the
    # numbers short; every value stays congruent whatever its size.)
    naf_k = _NAF_S
    naf_a = _NAF_H
    naf_r = _NAF_R
    table_ar = _AR_TABLE
    table_b = memoryview(BASE_NIELS)
    m = M255
    split = _B_SPLIT
    i = 255
    while i >= 0 and not (naf_a[i] or naf_r[i] or (i < split and (naf_k[i] or naf_k[i + split]))):
        i -= 1
    X = 0
    Y = 1
    Z = 1
    T = 0
    while i >= 0:
        da = naf_a[i]
        dr = naf_r[i]
        db = 0
        db2 = 0
        if i < split:
            db = naf_k[i]
            db2 = naf_k[i + split]
        n = 0  # additions at this position
        if da:
            n += 1
        if dr:
            n += 1
        if db:
            n += 1
        if db2:
            n += 1
        # Doubling, dbl-2008-hwcd with a = -1 and the signs of E, F, G, H
        # flipped (products unchanged): a = X^2, b = Y^2, c = 2Z^2,
        # H = a + b, E = -2XY, G = a - b, F = G + c;
        # X3 = EF, Y3 = GH, Z3 = FG, T3 = EH.
        a = X * X
        a = (a & m) + (a >> 255) * 19
        b = Y * Y
        b = (b & m) + (b >> 255) * 19
        c = Z * Z
        c = (c & m) + (c >> 255) * 19
        e = X * Y
        e = ((e & m) + (e >> 255) * 19) * -2
        h = a + b
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
        if n:
            T = e * h
            T = (T & m) + (T >> 255) * 19  # folded once: see above
        # Then the additions: (+-)(2k+1) times A', R', B, [2**128]B, in
        # that order, by add-2008-hwcd-3 from the cached table of A' and R'
        # (Y+X, Y-X, 2Z, 2dT), or from the affine Niels tables of B and
        # [2**128]B in flash (y+x, y-x, 2dxy; Z = 1, so 2 Z1 Z2 is a sum).
        # A negative digit adds -P = (-x, y): Y+X and Y-X swap and 2dT
        # changes sign, which swaps F and G below.
        j = 0
        while n:
            if j == 0:
                d = da
            elif j == 1:
                d = dr
            elif j == 2:
                d = db
            else:
                d = db2
            j += 1
            if not d:
                continue
            neg = d > 127
            if neg:
                d = 255 - d  # |digit| - 1
            else:
                d -= 1
            if j < 3:
                k = (j - 1) * _AR_STRIDE + (d << 1)  # 4 ints per entry
                yp = table_ar[k]
                ym = table_ar[k + 1]
                t2 = table_ar[k + 3]
                g = Z * table_ar[k + 2]
                g = (g & m) + (g >> 255) * 19
            else:
                k = (j - 3) * _B_HALF + 48 * d  # 96 bytes per entry
                yp = int.from_bytes(table_b[k:k + 32], "little")
                ym = int.from_bytes(table_b[k + 32:k + 64], "little")
                t2 = int.from_bytes(table_b[k + 64:k + 96], "little")
                g = Z + Z
            if neg:
                yp, ym = ym, yp
            a = (Y - X) * ym
            a = (a & m) + (a >> 255) * 19
            b = (Y + X) * yp
            b = (b & m) + (b >> 255) * 19
            c = T * t2
            c = (c & m) + (c >> 255) * 19
            e = b - a
            h = b + a
            if neg:
                f = g + c
                g = g - c
            else:
                f = g - c
                g = g + c
            X = e * f
            X = (X & m) + (X >> 255) * 19
            X = (X & m) + (X >> 255) * 19
            Y = g * h
            Y = (Y & m) + (Y >> 255) * 19
            Y = (Y & m) + (Y >> 255) * 19
            Z = f * g
            Z = (Z & m) + (Z >> 255) * 19
            Z = (Z & m) + (Z >> 255) * 19
            n -= 1
            if n:
                T = e * h
                T = (T & m) + (T >> 255) * 19
        i -= 1
    return X, Y, Z


del micropython  # the decorators above were its last use (CPython; see const)


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
    if s >= L:
        return False
    r_int = int.from_bytes(signature[0:32], "little")
    ry = r_int & M255
    if ry in _SMALL_ORDER_Y:
        return False
    a_int = int.from_bytes(public_key[0:32], "little")
    if a_int != _A_CACHED[0]:  # else A passed these checks and -A's table is built
        ay = a_int & M255
        if ay >= P or ay in _SMALL_ORDER_Y:
            return False
        ax = recover_x(ay, a_int >> 255)
        if ax < 0:
            return False
        _A_CACHED[0] = -1  # no valid table while it is rewritten
        cached_multiples(_AR_TABLE, 0, _AR_STRIDE, P - ax, ay)
        _A_CACHED[0] = a_int
        ax = ay = None  # not needed any more (see below)
    # R must be the canonical encoding of a point for enc(R') == R to hold.
    if ry >= P:
        return False
    rx = recover_x(ry, r_int >> 255)
    if rx < 0:
        return False
    # h = SHA-512(R || A || M) mod L, over the parts without concatenating.
    h = int.from_bytes(sha512((signature[0:32], public_key, message)), "little") % L
    # Q' = [c1 S mod L]B + [c0](-A) + [|c1|](-+R) must be the identity.
    c0, c1 = short_pair(h)
    k = c1 * s % L
    if c1 > 0:
        rx = P - rx  # -[c1]R = [c1](-R)
    else:
        c1 = -c1
    _wnaf(_load_scalar(k.to_bytes(32, "little")), _B_WIDTH, _NAF_S)
    _wnaf(_load_scalar(c0.to_bytes(32, "little")), _A_WIDTH, _NAF_H)
    _wnaf(_load_scalar(c1.to_bytes(32, "little")), _A_WIDTH, _NAF_R)
    # The scalars are in the digit buffers now. Drop them, and then R's
    # coordinates once its table is built: ~10 big ints (~1 KB on the Unix
    # port) that would stay live (a frame's locals are GC roots) beside the
    # table's and the loop's temporaries, so a verify needs that much less
    # free heap (the device soak runs in a smaller heap).
    s = r_int = a_int = h = c0 = c1 = k = None
    cached_multiples(_AR_TABLE, _AR_STRIDE, _AR_STRIDE, rx, ry)
    rx = ry = None
    X, Y, Z = _multi_scalarmult()
    # R's table is dropped (~1 KB of ints) until the next verify; -A's is
    # kept for the next record of the same issuer.
    for i in range(_AR_STRIDE, 2 * _AR_STRIDE):
        _AR_TABLE[i] = 0
    return X % P == 0 and (Y - Z) % P == 0


verify = crypto_ed25519_verify
