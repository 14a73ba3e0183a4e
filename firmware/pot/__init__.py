# pot: the device side of the open Proof-of-Time toolkit.
#
# One concept per module, imported where needed, so that a board loads only
# what it uses (a verifier never loads the decoders of sharded frames).
# docs/spec.md is the byte-exact specification of all of it.
#
# The record and its commitment (forward path, what a verifier needs):
#   record        the 143-byte PoT record: layout, decode into a fixed buffer
#   rice          G1, Golomb-Rice field coding (encoder)
#   rs            R, Reed-Solomon(4,6) over GF(2^8) (parity)
#   golay         G2, Golay(23,12,7) (encoder)
#   hmacsha256    H, HMAC-SHA256 and constant-time comparison
#   grg           the GRG pipeline: context keys, commitment, context gate
# Sharded frames (receive path, loaded on first use):
#   grg_frame, rice_decode, rs_rebuild, golay_decode, golay_syndrome
# Host conveniences (allocating; loaded on first use):
#   grg_host, record_pack (also the record's layout constants by name),
#   record_fields (Record's host-only accessors)
# Public names for hosts and tests, served by their module's __getattr__
# (the device modules fold private const() copies; a device never loads
# these): verdicts (pot.verifier's), switch_names (pot.switch's),
# link_names (pot.link's), record_pack (pot.record's)
# Signatures:
#   ed25519, ed25519_field, ed25519_table, sha512
# Verification and device service:
#   verifier      the verification pipeline (verdict codes: verdicts)
#   nonces        the fixed-capacity replay cache (fails closed; a device's
#                 relies on the ordering floor)
#   switch        AdaptiveSwitch per sender and the per-sender table
#   filo          the bounded FILO queue (freshest record first)
#   clock         the secure clock (challenge-mode sync)
#   link          the framed binary protocol: parser and frame builder
#   device        the service loop: stamped messages and verdict frames
#   device_net    TCP and UDP links (loaded when configured)
#   device_fault  the service loop's fault handler (loaded on the first fault)
#   board         start-up: configuration, links (dropped once running)
#   board_hw      board-only paths: Wi-Fi, UART, USB console, RTC
# Generated constant tables (tools/gen_*.py, frozen into flash on boards):
#   gf_tables, rs_tables, golay_tables, golay_syndrome, ed25519_table
# Runtime shims for CPython / MicroPython: compat (CPython's stand-ins in
#   compat_cpython, never loaded on a device)
# CPython only (the host's fast forward path, never loaded on a device):
#   fastpath
