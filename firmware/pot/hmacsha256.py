# H: HMAC-SHA256 (RFC 2104 / FIPS 198-1) on hashlib.sha256, and
# constant-time comparison.
#
# MicroPython has no hmac module and its sha256 objects have no .copy(), so
# the keyed form keeps the two padded key blocks (key XOR ipad, key XOR opad)
# and hashes each block again per message: two extra SHA-256 blocks per MAC,
# done in C. On CPython the hash states after those blocks are kept and
# copied instead (saves the two blocks; the host issuer tags six shards per
# record). Both give the same bytes; tests run both against RFC 4231.
import hashlib

from pot.compat import micropython, ptr8


BLOCK = 64  # SHA-256 block size in bytes
DIGEST_LEN = 32

_HAS_COPY = hasattr(hashlib.sha256(), "copy")


class HmacKey:
    # A key prepared once (per context in GRG), used for many messages.
    # pads: None, or a host's faster pad maker, pads(key64) -> (key XOR
    # ipad, key XOR opad) (pot.fastpath.hmac_pads: one bytes.translate each).
    def __init__(self, key, pads=None, use_copy=_HAS_COPY):
        self.ipad = self.opad = None
        self.inner = self.outer = None
        self.pads = pads
        self.use_copy = use_copy
        self.rekey(key)

    def rekey(self, key):
        # A new key in this object. On MicroPython the two pad blocks are
        # rewritten in place: a verifier changes context with every stamped
        # message, and new pad objects each time would be long-lived blocks
        # dropped between the Ed25519 verify's temporaries, cutting a small
        # heap into pieces (MicroPython never moves objects).
        # RFC 2104: keys longer than a block are hashed first; then zero-pad.
        if len(key) > BLOCK:
            key = hashlib.sha256(key).digest()
        if self.pads is not None:
            k = bytearray(BLOCK)
            k[0 : len(key)] = key
            self.ipad, self.opad = self.pads(k)
        else:
            if self.ipad is None:
                self.ipad = bytearray(BLOCK)
                self.opad = bytearray(BLOCK)
            ipad = self.ipad
            opad = self.opad
            n = len(key)
            for i in range(BLOCK):
                b = key[i] if i < n else 0
                ipad[i] = b ^ 0x36
                opad[i] = b ^ 0x5C
        if self.use_copy:  # CPython: hash states after the pad blocks, to copy
            self.inner = hashlib.sha256(self.ipad)
            self.outer = hashlib.sha256(self.opad)

    def mac(self, part1, part2=None):
        # HMAC(key, part1 || part2) as 32 bytes; two parts so that callers
        # can prefix a label or index without concatenating (allocating).
        if self.inner is not None:
            h = self.inner.copy()
        else:
            h = hashlib.sha256(self.ipad)
        h.update(part1)
        if part2 is not None:
            h.update(part2)
        inner = h.digest()
        if self.outer is not None:
            h = self.outer.copy()
        else:
            h = hashlib.sha256(self.opad)
        h.update(inner)
        return h.digest()


def hmac_sha256(key, msg):
    # One-shot HMAC-SHA256(key, msg).
    return HmacKey(key).mac(msg)


def crypto_verify(a, b):
    # True when a == b, in time that depends only on the lengths.
    #
    # Why constant time: an early-exit comparison returns sooner the earlier
    # the first differing byte is, so an attacker who can time the verifier
    # learns how many leading bytes of a guessed tag or commitment are right
    # and can find a valid one byte by byte (256 tries per byte instead of
    # 2**64 for a whole 8-byte tag). In PoT profile 1 the tag key is public
    # (it separates contexts, it is not a secret) so this is defence in
    # depth: it keeps the context gate's cost independent of the data (the
    # drafts' C.7 speaks of what timing may reveal), and keeps the function
    # safe to reuse where a key is secret. Lengths are public (fixed).
    n = len(a)
    if n != len(b):
        return False
    return crypto_verify_at(a, 0, b, 0, n)


@micropython.viper
def _diff_at(a, a_off: int, b, b_off: int, n: int) -> int:
    # OR of the XORs of n byte pairs: no branch depends on the data, and
    # every byte is read whatever the earlier ones were. A viper loop
    # (machine code on the boards), plain Python on CPython.
    x = ptr8(a)
    y = ptr8(b)
    d = 0
    i = 0
    while i < n:
        d |= x[a_off + i] ^ y[b_off + i]
        i += 1
    return d


def crypto_verify_at(a, a_off, b, b_off, n):
    # crypto_verify(a[a_off:a_off+n], b[b_off:b_off+n]) without slicing
    # (slices of bytes allocate on MicroPython). The caller guarantees the
    # ranges lie inside a and b (viper does not check bounds).
    if a_off < 0 or b_off < 0 or a_off + n > len(a) or b_off + n > len(b):
        raise IndexError("crypto_verify_at: range outside the buffers")
    return _diff_at(a, a_off, b, b_off, n) == 0
