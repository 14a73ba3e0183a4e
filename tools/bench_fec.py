# Benchmark section "fec": the R and G2 stages (pot.rs, pot.golay) on one
# record's worth of data, as the GRG pipeline calls them.
#   python3 tools/bench_fec.py                                  CPython
#   MICROPYPATH=firmware:tools micropython tools/bench_fec.py   Unix port
# (or as a section of tools/bench.py). Prints figures; asserts nothing.
from pot import golay, rs, rs_rebuild


def run(report):
    area = bytearray(90)
    for i in range(60):
        area[i] = (i * 73 + 41) & 0xFF
    mv = memoryview(area)
    shards = [mv[15 * i : 15 * i + 15] for i in range(6)]
    coded = bytearray(29)
    out = bytearray(15)
    rs.encode_parity(shards)
    golay.encode_shard(shards[0], coded)
    noisy = bytearray(coded)
    noisy[0] ^= 0x80
    noisy[20] ^= 0x11

    def rebuild_two():
        rs_rebuild.reconstruct(shards, 0b110110)  # shards 0 and 3 lost

    def gate_fec():
        # The forward FEC of one context-gate check: RS parity, then Golay
        # encoding of all six shards (60 words).
        rs.encode_parity(shards)
        for s in shards:
            golay.encode_shard(s, coded)

    report("rs.encode_parity (4 x 15 -> 2 x 15)", lambda: rs.encode_parity(shards), 2000)
    report("rs_rebuild.reconstruct (2 erasures)", rebuild_two, 2000)
    report("golay.encode_shard (15 -> 29)", lambda: golay.encode_shard(shards[0], coded), 2000)
    report("golay.decode_shard (29 -> 15, 0 errors)", lambda: golay.decode_shard(coded, out), 2000)
    report("golay.decode_shard (29 -> 15, 3 errors)", lambda: golay.decode_shard(noisy, out), 2000)
    report("gate FEC: encode_parity + 6 x encode_shard", gate_fec, 1000)


if __name__ == "__main__":
    import sys

    from benchlib import report

    print("bench_fec on %s %s" % (sys.implementation.name, sys.version.split()[0]))
    run(report)
