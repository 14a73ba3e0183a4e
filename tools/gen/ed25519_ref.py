"""Reference Ed25519 arithmetic for the generators (RFC 8032 section 5.1):
affine twisted Edwards coordinates, pow() inverses, slow and obviously
correct. Shared by tools/gen/gen_ed25519_vectors.py (which builds edge-case
inputs with it; the verdicts come from libsodium) and
tools/gen/gen_ed25519_table.py (the base-point table); deliberately independent
of firmware/pot/ed25519*.py, which those files test or feed.
"""

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRTM1 = pow(2, (P - 1) // 4, P)


def inv(x):
    return pow(x, P - 2, P)


def add(a, b):
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return (x1 * y2 + x2 * y1) * inv(1 + t) % P, (y1 * y2 + x1 * x2) * inv(1 - t) % P


def neg(a):
    return (-a[0]) % P, a[1]


def mul(k, a):
    r = (0, 1)
    while k:
        if k & 1:
            r = add(r, a)
        a = add(a, a)
        k >>= 1
    return r


def recover_x(y, sign):
    # RFC 8032 5.1.3 without its y < p check (callers pass y mod p).
    x2 = (y * y - 1) * inv(D * y * y + 1) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRTM1 % P
    if (x * x - x2) % P:
        return None
    return P - x if (x & 1) != sign else x


def encode(a):
    return (a[1] | ((a[0] & 1) << 255)).to_bytes(32, "little")


def encode_raw(y, sign):
    # Any 255-bit y (canonical or not) with a sign bit.
    return (y | (sign << 255)).to_bytes(32, "little")


def decode(b):
    v = int.from_bytes(b, "little")
    y = v & ((1 << 255) - 1)
    x = recover_x(y % P, v >> 255)
    return None if x is None else (x, y % P)


B = (recover_x(4 * inv(5) % P, 0), 4 * inv(5) % P)
