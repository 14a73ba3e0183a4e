# Benchmark section "fec": the R and G2 stages (pot.rs, pot.rs_rebuild,
# pot.golay, pot.golay_decode) on one record's worth of data, as the GRG
# pipeline calls them; on CPython also the host's forms of pot.fastpath.
#   python3 tools/bench/bench_fec.py                                  CPython
#   MICROPYPATH=firmware:tools/bench micropython tools/bench/bench_fec.py   Unix port
# (or as a section of tools/bench/bench.py). Prints figures; asserts nothing.
import sys

from pot import golay, golay_decode, rs, rs_rebuild


def run(report):
    impl = [("", rs.encode_parity, rs_rebuild.reconstruct, golay.encode_shard, golay_decode.decode_shard)]
    if sys.implementation.name != "micropython":
        from pot import fastpath

        impl.append(("fastpath ", fastpath.rs_encode_parity, fastpath.rs_reconstruct,
                     fastpath.golay_encode_shard, fastpath.golay_decode_shard))
    for prefix, encode_parity, reconstruct, encode_shard, decode_shard in impl:
        _run(report, prefix, encode_parity, reconstruct, encode_shard, decode_shard)


def _run(report, prefix, encode_parity, reconstruct, encode_shard, decode_shard):
    area = bytearray(90)
    for i in range(60):
        area[i] = (i * 73 + 41) & 0xFF
    mv = memoryview(area)
    shards = [mv[15 * i : 15 * i + 15] for i in range(6)]
    coded = bytearray(29)
    out = bytearray(15)
    encode_parity(shards)
    encode_shard(shards[0], coded)
    noisy = bytearray(coded)
    noisy[0] ^= 0x80
    noisy[20] ^= 0x11

    def rebuild_two():
        reconstruct(shards, 0b110110)  # shards 0 and 3 lost

    def gate_fec():
        # The forward FEC of one context-gate check: RS parity, then Golay
        # encoding of all six shards (60 words).
        encode_parity(shards)
        for s in shards:
            encode_shard(s, coded)

    report(prefix + "rs.encode_parity (4 x 15 -> 2 x 15)", lambda: encode_parity(shards), 2000)
    report(prefix + "rs_rebuild.reconstruct (2 erasures)", rebuild_two, 2000)
    report(prefix + "golay.encode_shard (15 -> 29)", lambda: encode_shard(shards[0], coded), 2000)
    report(prefix + "golay_decode.decode_shard (29 -> 15, 0 errors)", lambda: decode_shard(coded, out), 2000)
    report(prefix + "golay_decode.decode_shard (29 -> 15, 3 errors)", lambda: decode_shard(noisy, out), 2000)
    report(prefix + "gate FEC: encode_parity + 6 x encode_shard", gate_fec, 1000)


if __name__ == "__main__":
    from benchlib import report

    print("bench_fec on %s %s" % (sys.implementation.name, sys.version.split()[0]))
    run(report)
