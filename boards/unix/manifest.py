# The Unix port used as a virtual board: the same package, for a custom
# micropython build (make -C ports/unix FROZEN_MANIFEST=$REPO/boards/unix/manifest.py);
# its entry point is pot.main (micropython -m pot.main CONFIG.json).
# The pip-installed `micropython` used by `make demo` and the tests is not
# rebuilt: it loads firmware/ through MICROPYPATH instead (see README.md).
package("pot", base_path="../../firmware")
