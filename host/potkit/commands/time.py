"""`potkit time`: read the configured time sources and show the synthesis (potkit.synth).

A table of the sources like `chronyc sources`, then the synthesis; --json
gives the same as one object (docs/json.md).
"""
import json

from potkit import validate
from potkit.commands.options import arg
from potkit.config import config_from_args
from potkit.synth import (LEGEND, SynthesisError, clock_direction, format_counts, format_table, format_time_ns,
                          result_json, synthesize_config)


def add_arguments(parser):
    parser.add_argument("--config", metavar="FILE",
                        help="JSON source list (default: $POTKIT_CONFIG, else the built-in public servers)")
    parser.add_argument("--tolerance-ms", type=arg(validate.tolerance_ms, "--tolerance-ms"),
                        help="agreement bound beyond each reading's uncertainty (0..60000; default 100)")
    parser.add_argument("--min-sources", type=arg(validate.min_sources, "--min-sources"),
                        help="distinct operators needed (3..64; default 3)")
    parser.add_argument("--timeout", type=arg(validate.timeout_s, "--timeout"),
                        help="overall deadline in seconds (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("-v", "--verbose", action="store_true", help="explain the columns (a legend)")


def run(args):
    config = config_from_args(args.config)
    if args.tolerance_ms is not None:
        config.set("tolerance_ms", args.tolerance_ms, "--tolerance-ms")
    if args.min_sources is not None:
        config.set("min_sources", args.min_sources, "--min-sources")
    if args.timeout is not None:
        config.set("timeout_s", args.timeout, "--timeout")
    config.check()
    try:
        result = synthesize_config(config)
    except SynthesisError as e:
        # What was seen, on stdout; the reason, one line on stderr (exit 3).
        if args.json:
            print(json.dumps(result_json(e.readings, e.errors, error=e), indent=2))
        else:
            print_time_text(e.readings, e.errors, None, args.verbose)
        raise
    if args.json:
        print(json.dumps(result_json(result.readings, result.errors, result), indent=2))
        return 0
    print_time_text(result.readings, result.errors, result, args.verbose)
    return 0


def print_time_text(readings, errors, result, verbose):
    """`potkit time`: (with -v) the legend, the sources table, then the
    summary: counts per state and, when a time came out, the synthesis."""
    if verbose:
        print(LEGEND)
        print()
    print(format_table(readings, errors, result))
    print()
    print(format_counts(readings, errors, result))
    if result is None:
        return
    print("time        %s (%s)" % (format_time_ns(result.time_ns), clock_direction(result.offset_ns)))
    print("uncertainty +-%.6f s" % (result.uncertainty_ns / 1e9))
    print("sources     %d of distinct operators agree" % result.source_count)
    print("confidence  %d ppm" % result.confidence_ppm)
    for kind, src, msg in result.alarms:
        print("alarm       %s %s: %s" % (kind, src, msg))
