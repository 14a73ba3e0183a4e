# pot: the device side of the open Proof-of-Time toolkit.
#
# Modules (one concept each, imported where needed so a board only loads
# what it uses):
#   record      the 143-byte PoT record: layout, decode into a fixed buffer
#   rice        G1, the Golomb-Rice field coder
#   rs          R, Reed-Solomon(4,6) over GF(2^8)
#   golay       G2, Golay(23,12,7)
#   hmacsha256  H, HMAC-SHA256 and constant-time comparison
#   grg         the GRG pipeline: commitment, sharded frames
#   ed25519     verify-only Ed25519 (with sha512 where hashlib lacks it)
#   verifier    the verification pipeline and its verdicts
#   switch      AdaptiveSwitch per sender
# docs/spec.md is the byte-exact specification of all of it.
