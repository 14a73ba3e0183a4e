# Runs the test_* functions of one shared test module and prints one line
# each: "ok NAME", "SKIP NAME reason" or "FAIL NAME error", then "DONE".
# The printed lines are the contract read by tools/run_tests.py.
#   micropython tests/shared/mptest.py test_golay      (Unix port)
#   python3 tests/shared/mptest.py test_golay          (CPython)
#   import mptest; mptest.run("test_golay")            (on a board)
import sys

import testlib


def _trace(e):
    if testlib.IS_MICROPYTHON:
        sys.print_exception(e)
    else:
        import traceback

        traceback.print_exception(type(e), e, e.__traceback__)


def run(name):
    mod = __import__(name)
    names = [n for n in dir(mod) if n.startswith("test_")]
    names.sort()
    for n in names:
        try:
            getattr(mod, n)()
            print("ok", n)
        except testlib.SkipTest as e:
            print("SKIP", n, e)
        except Exception as e:
            print("FAIL", n, repr(e))
            _trace(e)
    print("DONE", name)


if __name__ == "__main__":
    run(sys.argv[1])
