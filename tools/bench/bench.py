#!/usr/bin/env python3
# Benchmarks of the firmware, the same file on every target:
#   python3 tools/bench/bench.py                          CPython
#   MICROPYPATH=firmware:tools/bench micropython tools/bench/bench.py     Unix port
#   (`make bench` runs both, then tools/bench/bench_compare.py and bench_issuer.py)
#
# Each section is a module tools/bench/bench_<name>.py with run(report); report()
# prints one line "stage  us/call  heap bytes/call". Benchmarks print figures;
# no test asserts a time.
import sys

from benchlib import report

SECTIONS = ("fec", "codec", "verify")


def main():
    print("bench on %s %s" % (sys.implementation.name, sys.version.split()[0]))
    for name in SECTIONS:
        try:
            mod = __import__("bench_" + name)
        except ImportError as e:
            print("bench_%s: not available (%s)" % (name, e))
            continue
        mod.run(report)


main()
