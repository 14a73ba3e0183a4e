# Runs the test_* functions of one shared test module and prints one line
# each: "ok NAME", "SKIP NAME reason" or "FAIL NAME error", then "DONE".
# The printed lines are the contract read by tools/run_tests.py.
#   micropython tests/shared/mptest.py test_golay      (Unix port)
#   python3 tests/shared/mptest.py test_golay          (CPython)
#   import mptest; mptest.run("test_golay")            (on a board)
#
# Deliberately imports nothing but sys: heap-budget modules (test_verify_heap)
# measure everything in the heap, so the driver must not load testlib for
# them. A skip is testlib's SkipTest, looked up only when the module under
# test imported testlib (a module that did not cannot raise it).
import sys


def _trace(e):
    if hasattr(sys, "print_exception"):  # MicroPython
        sys.print_exception(e)
    else:
        import traceback

        traceback.print_exception(type(e), e, e.__traceback__)


def run(name):
    mod = __import__(name)
    testlib = sys.modules.get("testlib")
    skip = testlib.SkipTest if testlib is not None else ()
    names = [n for n in dir(mod) if n.startswith("test_")]
    names.sort()
    for n in names:
        try:
            getattr(mod, n)()
            print("ok", n)
        except skip as e:
            print("SKIP", n, e)
        except Exception as e:
            print("FAIL", n, repr(e))
            _trace(e)
    print("DONE", name)


if __name__ == "__main__":
    run(sys.argv[1])
