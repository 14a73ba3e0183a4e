# The emulated board's image with the PoT package frozen into flash, as
# boards run it (tools/build_micropython.py builds it; the shared tests run
# on it). manifest_plain.py is the same board without the package, for the
# deploy test, which copies .mpy files as to a real board.
include("manifest_plain.py")
package("pot", base_path="../../firmware")
