# pot: the device side of the open Proof-of-Time toolkit.
#
# One concept per module, imported where needed, so that a board loads only
# what it uses (a verifier never loads the decoders of sharded frames).
# docs/spec.md is the byte-exact specification of all of it. A name is
# defined in the module it is looked up in (no module __getattr__ serves
# another module's names), and imports go one way: a receive module
# imports its forward module, never the reverse.
#
# The record and its commitment (forward path, what a verifier needs):
#   record        the 143-byte PoT record: decode into a fixed buffer, checks
#   rice          G1, Golomb-Rice field coding (encoder)
#   rs            R, Reed-Solomon(4,6) over GF(2^8) (parity)
#   golay         G2, Golay(23,12,7) (encoder)
#   hmacsha256    H, HMAC-SHA256 and constant-time comparison
#   grg           the GRG pipeline: context keys, commitment, context gate
# Sharded frames (receive path, loaded on the first frame):
#   grg_frame, rice_decode, rs_rebuild, golay_decode, golay_syndrome
# Names and helpers for hosts and tests (a device never imports them):
#   spec          every public number and name of docs/spec.md; device
#                 modules keep private const() copies, which
#                 tests/host/test_spec_constants.py holds to these values
#   host          allocating helpers: pack_payload, commitment, make_frame,
#                 open_frame, the G1 byte forms, event_for, encode_frame
#   fastpath      CPython's forms of the GRG stages and the link CRC,
#                 injected by the host (Grg(fast=pot.fastpath),
#                 Parser(sink, crc=fastpath.crc_frame))
# Signatures:
#   ed25519, ed25519_field, ed25519_table, sha512
# Verification and device service:
#   verifier      the verification pipeline (verdict codes: pot.spec)
#   nonces        the fixed-capacity replay cache (fails closed; a device's
#                 relies on the ordering floor)
#   switch        AdaptiveSwitch per sender and the per-sender table
#   filo          the bounded FILO queue (freshest record first)
#   clock         the secure clock (challenge-mode sync)
#   link          the framed binary protocol: parser and frame builder
#   device        the service loop: stamped messages and verdict frames
#   device_net    TCP and UDP links (loaded when configured)
#   device_fault  the service loop's fault handler (loaded on the first fault)
#   startup       start-up: configuration, links (dropped once running)
#   board_hw      board-only paths: Wi-Fi, UART, USB console, RTC
# Generated constant tables (tools/gen/gen_*.py, frozen into flash on boards):
#   gf_tables, rs_tables, golay_tables, golay_syndrome, ed25519_table
# Runtime shims for CPython / MicroPython: compat (CPython's stand-ins in
#   compat_cpython, never loaded on a device)
