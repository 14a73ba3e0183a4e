# R receive side: rebuilding erased Reed-Solomon(4,6) shards (docs/spec.md
# section 2.2), apart from the encoder (pot.rs) so that only a device that
# opens sharded frames loads it and its tables (gf_tables.py): a verifier
# never does.
#
# Any 4 good shards determine all 6: for each of the 15 sets of 4 shards,
# REBUILD holds the 6x4 matrix (the encoding matrix times the inverse of the
# set's 4 rows) that maps the set's shards to every shard. The combination
# is a viper kernel (machine code on MicroPython, plain Python on CPython);
# pot.fastpath.rs_reconstruct is the host's bytes.translate form of it.
from pot.compat import const, micropython, ptr8
from pot.gf_tables import EXP, LOG, SET_INDEX, REBUILD

# Private copies of pot.spec's numbers.
_SHARDS = const(6)


def gf_mul(a, b):
    # Product in GF(2^8) mod 0x11D, through the log/exp tables.
    if a == 0 or b == 0:
        return 0
    return EXP[LOG[a] + LOG[b]]


@micropython.viper
def _combine_kernel(dst, s0, s1, s2, s3, n: int, coefs, at: int, exp, log):
    # dst[i] = XOR over k of coefs[at + k] * s_k[i]  (GF(2^8) products by
    # log/exp; a zero coefficient or a zero byte contributes nothing).
    o = ptr8(dst)
    a = ptr8(s0)
    b = ptr8(s1)
    c = ptr8(s2)
    d = ptr8(s3)
    k = ptr8(coefs)
    e = ptr8(exp)
    g = ptr8(log)
    # log of each coefficient, or -1 for a zero coefficient.
    la = -1
    lb = -1
    lc = -1
    ld = -1
    if k[at]:
        la = int(g[k[at]])
    if k[at + 1]:
        lb = int(g[k[at + 1]])
    if k[at + 2]:
        lc = int(g[k[at + 2]])
    if k[at + 3]:
        ld = int(g[k[at + 3]])
    i = 0
    while i < n:
        v = 0
        x = int(a[i])
        if x and la >= 0:
            v ^= int(e[int(g[x]) + la])
        x = int(b[i])
        if x and lb >= 0:
            v ^= int(e[int(g[x]) + lb])
        x = int(c[i])
        if x and lc >= 0:
            v ^= int(e[int(g[x]) + lc])
        x = int(d[i])
        if x and ld >= 0:
            v ^= int(e[int(g[x]) + ld])
        o[i] = v
        i += 1


def reconstruct(shards, present):
    # present: 6-bit mask, bit i set = shards[i] is good. Rebuilds every
    # missing shard (data and parity) in place from 4 good ones. With 5 or
    # 6 good shards the lowest-numbered 4 are used (any 4 determine all 6).
    # No allocation on MicroPython.
    present &= 0x3F
    # a < b < c < d: the first four good shards (the order REBUILD expects).
    a = b = c = d = -1
    i = 0
    while i < _SHARDS and d < 0:
        if present >> i & 1:
            if a < 0:
                a = i
            elif b < 0:
                b = i
            elif c < 0:
                c = i
            else:
                d = i
        i += 1
    if d < 0:
        raise ValueError("too many erasures")
    if present == 0x3F:
        return
    base = SET_INDEX[(1 << a) | (1 << b) | (1 << c) | (1 << d)] * 24  # 6 rows x 4 per set
    s0 = shards[a]
    s1 = shards[b]
    s2 = shards[c]
    s3 = shards[d]
    n = len(s0)
    for j in range(_SHARDS):
        if not present >> j & 1:
            _combine_kernel(shards[j], s0, s1, s2, s3, n, REBUILD, base + 4 * j, EXP, LOG)
