# The Unix port used as a virtual board: the same package, for a custom
# micropython build (make -C ports/unix FROZEN_MANIFEST=$REPO/boards/unix/manifest.py).
# The pip-installed `micropython` used by `make demo` and the tests is not
# rebuilt: it loads firmware/ through MICROPYPATH instead (see README.md).
package("pot", base_path="../../firmware")
# The entry point once more, as the top-level module `main` (micropython -m main
# CONFIG.json): it runs as a board runs /main.py, outside the pot package.
module("main.py", base_path="../../firmware/pot")
