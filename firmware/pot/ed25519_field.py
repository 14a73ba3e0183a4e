# Field and point arithmetic for pot.ed25519 (verify-only Ed25519): the
# field GF(p), p = 2**255 - 19, with the ref10 exponentiation chains, point
# decompression, the short scalar pair of the verification equation, and the
# generic extended-coordinate doubling and addition used to build per-verify
# tables. The hot loop (pot.ed25519) inlines its own copies of the formulas. A separate module so that compiling either
# from source fits a small heap (MicroPython holds one module's parse tree
# at a time). See pot/ed25519.py for the design notes.
from pot.compat import const, micropython


# Field and group constants (computed once at import, as big ints).
P = (1 << 255) - 19
M255 = (1 << 255) - 1
L = (1 << 252) + 27742317777372353535851937790883648493
D = 37095705934669439343138083508754565189542113879843219016388785533085940283555
D2 = 16295367250680780974490674513165176452449235426866156013048779062215315747161
SQRTM1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752


# --- Field arithmetic mod p = 2**255 - 19 ---------------------------------
@micropython.native
def sqr_n(x, n):
    # x**(2**n) mod p, up to a multiple of p unless n % 3 != 0 (then fully
    # reduced): for 0 <= x < 2**256 the result is in [0, 2**256). Groups of
    # three squarings, each folded once, (x & m) + (x >> 255) * 19, then
    # folded once more: from < 2**256 the folds give < 2**262, < 2**272,
    # < 2**293, then < 2**256 again, so the bound does not grow. 4 folds
    # per 3 squarings instead of 3 per 2 (the longer operands cost less
    # than the saved fold); % p costs as much as two folds and more.
    m = M255
    while n >= 3:
        x = x * x
        x = (x & m) + (x >> 255) * 19
        x = x * x
        x = (x & m) + (x >> 255) * 19
        x = x * x
        x = (x & m) + (x >> 255) * 19
        x = (x & m) + (x >> 255) * 19
        n -= 3
    while n:
        x = x * x % P
        n -= 1
    return x


def _pow_2_250_1(z):
    # (z**(2**250 - 1), z**11) mod p: the common part of the ref10 chains.
    p = P
    z2 = z * z % p
    z9 = sqr_n(z2, 2) * z % p
    z11 = z9 * z2 % p
    t = z11 * z11 % p * z9 % p  # z^(2^5 - 1)
    z10 = sqr_n(t, 5) * t % p  # z^(2^10 - 1)
    t = sqr_n(z10, 10) * z10 % p  # 2^20 - 1
    t = sqr_n(t, 20) * t % p  # 2^40 - 1
    z50 = sqr_n(t, 10) * z10 % p  # 2^50 - 1
    t = sqr_n(z50, 50) * z50 % p  # 2^100 - 1
    t = sqr_n(t, 100) * t % p  # 2^200 - 1
    t = sqr_n(t, 50) * z50 % p  # 2^250 - 1
    return t, z11


def invert(z):
    # z**(p - 2) = z**(2**255 - 21)
    t, z11 = _pow_2_250_1(z)
    return sqr_n(t, 5) * z11 % P


def pow22523(z):
    # z**((p - 5) / 8) = z**(2**252 - 3)
    t, _ = _pow_2_250_1(z)
    return sqr_n(t, 2) * z % P


def recover_x(y, sign):
    # RFC 8032 5.1.3 steps 2-4 for a canonical y (< p): x with the given
    # parity, or -1 when y is not the y of a curve point.
    p = P
    yy = y * y % p
    u = (yy - 1) % p
    v = (D * yy + 1) % p
    v3 = v * v % p * v % p
    x = u * v3 % p * pow22523(u * (v3 * v3 % p) % p * v % p) % p
    vxx = v * (x * x % p) % p
    if vxx != u:
        if vxx != (p - u) % p:
            return -1
        x = x * SQRTM1 % p
    if x == 0 and sign:
        # RFC 8032 rejects "-0". Unreachable under our policy: x = 0 only
        # for y = 1 and y = p - 1, which the small-order check rejects.
        return -1
    if (x & 1) != sign:
        x = p - x
    return x


# --- Scalars ----------------------------------------------------------------
# (Private consts: folded by the compiler, no module attribute.)
_HALF = const(1 << 128)  # Euclid stops below this: |c0|, |c1| ~ sqrt(8L)
_LONG = const(1 << 200)  # coefficients this long mean "fall back" (see short_pair)


def short_pair(h):
    # (c0, c1) with c0 = c1 h (mod 8L), c1 odd, |c0| and |c1| ~ 2**128.
    # Extended Euclid on (8L, h) keeps r_i = t_i h (mod 8L) for every
    # remainder r_i and its cofactor t_i; |t_i| grows as r_i shrinks, and
    # where r_i first drops below 2**128, |t_i| < 8L / r_(i-1) <= 2**127.
    # Consecutive t are coprime, so if t_i is even its neighbours are odd:
    # take the shorter neighbour pair. c0 = r >= 0; c1 may be negative.
    r0 = L << 3  # 8L: every curve point's order divides it
    r1 = h
    t0 = 0
    t1 = 1
    while r1 >= _HALF:
        q, r = divmod(r0, r1)
        r0 = r1
        r1 = r
        t = t0 - q * t1
        t0 = t1
        t1 = t
    if t1 & 1:
        c0, c1 = r1, t1
    else:  # r1 > 0 here (r1 = 0 only for h = 0, where t1 = 1 is odd)
        q, r = divmod(r0, r1)
        t = t0 - q * t1
        if max(r, abs(t)) < max(r0, abs(t0)):
            c0, c1 = r, t
        else:
            c0, c1 = r0, t0
    if c0 >= _LONG or abs(c1) >= _LONG:
        return h, 1  # trivially c0 = 1 * h: the full-length computation
    return c0, c1


# --- Point arithmetic (builds the per-verify tables; not on the hot path) ----
def dbl(X, Y, Z):
    # dbl-2008-hwcd, a = -1, signs of E, F, G, H flipped (products unchanged;
    # see pot.ed25519._double_scalarmult). Returns (X, Y, Z, T).
    p = P
    a = X * X % p
    b = Y * Y % p
    c = 2 * Z * Z % p
    s = (X + Y) * (X + Y) % p
    h = a + b
    e = h - s
    g = a - b
    f = g + c
    return e * f % p, g * h % p, f * g % p, e * h % p


def cached_multiples(tab, base, count, x, y):
    # The odd multiples (2i+1)P of the affine point P = (x, y) in cached
    # form (Y+X, Y-X, 2Z, 2dT) into tab[base:base + count] (4 ints per
    # point). Lazily reduced like pot.ed25519's loop (no % p per entry):
    # every value is congruent mod p and below 2**257 in magnitude, which is
    # all the loop needs. Runs 3 additions per new key or R: plain bytecode.
    X2, Y2, Z2, T2 = dbl(x, y, 1)  # 2P, reduced
    yp2, ym2, z22, t2d2 = Y2 + X2, Y2 - X2, Z2 + Z2, T2 * D2 % P
    X, Y, Z, T = x, y, 1, x * y % P  # reduced: add_cached wants inputs < 2**257
    m = M255
    for i in range(base, base + count, 4):
        if i != base:
            X, Y, Z, T = add_cached(X, Y, Z, T, yp2, ym2, z22, t2d2)
        tab[i] = Y + X
        tab[i + 1] = Y - X
        tab[i + 2] = Z + Z
        c = T * D2
        c = (c & m) + (c >> 255) * 19
        tab[i + 3] = (c & m) + (c >> 255) * 19


def add_cached(X, Y, Z, T, yp, ym, z2, t2d):
    # add-2008-hwcd-3: (X, Y, Z, T) + a cached point (Y+X, Y-X, 2Z, 2dT).
    # Congruent results, lazily reduced: for inputs below 2**257 in
    # magnitude the products are < 2**515, folded once (< 2**264), and the
    # outputs, products of sums of those, folded twice: below 2**256 again.
    m = M255
    a = (Y - X) * ym
    a = (a & m) + (a >> 255) * 19
    b = (Y + X) * yp
    b = (b & m) + (b >> 255) * 19
    c = T * t2d
    c = (c & m) + (c >> 255) * 19
    d = Z * z2
    d = (d & m) + (d >> 255) * 19
    e = b - a
    f = d - c
    g = d + c
    h = b + a
    X = e * f
    X = (X & m) + (X >> 255) * 19
    Y = g * h
    Y = (Y & m) + (Y >> 255) * 19
    Z = f * g
    Z = (Z & m) + (Z >> 255) * 19
    T = e * h
    T = (T & m) + (T >> 255) * 19
    return ((X & m) + (X >> 255) * 19, (Y & m) + (Y >> 255) * 19,
            (Z & m) + (Z >> 255) * 19, (T & m) + (T >> 255) * 19)
