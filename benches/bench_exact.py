#!/usr/bin/env python3
"""Benchmark: what exact partitions and linear-time resynchronisation cost (issue 9).

Prints figures, asserts nothing about speed (the tests assert generous bounds):

* the 2-million-packet bench capture (benches/bench_read.py's): ``cat``, ``discover()``'s
  record walk for 256 MiB partitions, ``read()`` on one thread and on every core, the
  partitions read one after another;
* a valid capture of five 16 MiB records of zeros between small packets (84 MB; every
  offset in the zeros parses as a record header): ``read()`` on one thread and on every
  core, and ``pcapframe convert``; the ratio every-core / one-thread is the
  linear-time promise (it was 346 s / 0.5 s before);
* a capture whose UDP payloads carry a forged chain of records (issue 9's attack): the
  same paths, and the rows from the forged address (0 is the only right answer).

    python benches/bench_exact.py            # the 2,000,000-packet capture
    python benches/bench_exact.py --quick    # 200,000 packets
    python benches/bench_exact.py --before OLD_PYTHON   # also read() old against new,
        # alternating fresh processes (OLD_PYTHON: an interpreter with an older build installed)
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benches"))
sys.path.insert(0, str(REPO / "tests"))
from bench_read import DATA_DIR, capture_path  # noqa: E402
from test_partitions import forged_capture, pcap_bytes, udp_frame  # noqa: E402


def best_of(n, fn):
    times, value = [], None
    for _ in range(n):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return min(times), value


def cat_seconds(path):
    return best_of(3, lambda: subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True))[0]


def row(label, seconds, note=""):
    print(f"{label:<46} {seconds:>9.3f}  {note}", flush=True)


READ_ONCE = """
import sys, time, intake
source = intake.open_pcap(sys.argv[1], threads=int(sys.argv[2]))
source.discover()
source.read()
times = []
for _ in range(5):
    started = time.perf_counter()
    source.read()
    times.append(time.perf_counter() - started)
print(min(times))
"""


def read_in_fresh_process(python, path, threads):
    """read()'s best of 5 (after a warm-up) in a fresh process of ``python``."""
    done = subprocess.run([python, "-c", READ_ONCE, str(path), str(threads)], capture_output=True, text=True, check=True)
    return float(done.stdout)


def zero_filled(path):
    records = []
    for i in range(5):
        small = udp_frame([10, 0, 0, i], b"\x01" * 64)
        records.append((1_700_000_000 + i, 0, small, len(small)))
        records.append((1_700_000_000 + i, 1, bytes(16 << 20), 16 << 20))
    data = bytearray(pcap_bytes(records))
    data[16:20] = struct.pack("<I", 16 << 20)  # snaplen: the records are legal
    path.write_bytes(bytes(data))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--before", metavar="PYTHON", help="an interpreter with an older intake-pcap installed")
    args = parser.parse_args()
    import intake

    cores = os.cpu_count() or 1
    print(f"{'what':<46} {'seconds':>9}  note")
    bench = capture_path(200_000 if args.quick else 2_000_000)
    size = bench.stat().st_size
    cat = cat_seconds(bench)
    row("cat FILE > /dev/null", cat, f"best of 3, {size / 2**20:,.0f} MiB")
    from intake_pcap._native import plan_partitions

    walk, plan = best_of(3, lambda: plan_partitions(str(bench), 256 << 20))
    # The index is cached per process for an unchanged file: time a fresh walk.
    fresh = subprocess.run(
        [sys.executable, "-c", "import sys, time; from intake_pcap._native import plan_partitions as p; "
         "t = time.perf_counter(); p(sys.argv[1], 256 << 20); print(time.perf_counter() - t)", str(bench)],
        capture_output=True, text=True, check=True)
    walk = float(fresh.stdout)
    row("discover(): record walk, 256 MiB partitions", walk, f"{len(plan[1])} partitions; {walk / cat:.2f}x cat")
    one, frame = best_of(3, lambda: intake.open_pcap(str(bench), threads=1).read())
    row("read(), threads=1", one, f"best of 3, {len(frame):,} rows")
    many, _ = best_of(3, lambda: intake.open_pcap(str(bench)).read())
    row(f"read(), {cores} threads", many, f"best of 3; {many / cat:.2f}x cat")
    source = intake.open_pcap(str(bench), blocksize=256 << 20, threads=1)
    source.discover()
    parts, n = best_of(1, lambda: sum(len(source.read_partition(i)) for i in range(source.npartitions)))
    row("read_partition(i) for every i, one by one", parts, f"{n:,} rows in {source.npartitions} partitions")

    if args.before:
        for round_ in (1, 2, 3):
            for threads in (1, cores):
                old = read_in_fresh_process(args.before, bench, threads)
                new = read_in_fresh_process(sys.executable, bench, threads)
                print(f"round {round_} threads {threads}: old {old:.3f} s, new {new:.3f} s", flush=True)

    zeros = DATA_DIR / "zero-filled-16MiB-records.pcap"
    DATA_DIR.mkdir(exist_ok=True)
    zero_filled(zeros)
    one, frame = best_of(3, lambda: intake.open_pcap(str(zeros), threads=1).read())
    row("zero-filled 16 MiB records: read(), threads=1", one, f"{len(frame)} rows")
    many, _ = best_of(3, lambda: intake.open_pcap(str(zeros), threads=cores).read())
    row(f"zero-filled 16 MiB records: read(), {cores} threads", many, f"{many / one:.1f}x one thread (was ~700x)")
    out = DATA_DIR / "zeros.parquet"
    convert, _ = best_of(1, lambda: subprocess.run(["pcapframe", "convert", str(zeros), "-o", str(out)], check=True))
    row("zero-filled 16 MiB records: pcapframe convert", convert, f"{convert / one:.1f}x read() on one thread (was 42 s)")
    out.unlink(missing_ok=True)

    forged = DATA_DIR / "forged-chains.pcap"
    forged.write_bytes(forged_capture(40_000))
    for label, read in [
        ("read(), threads=1", lambda: intake.open_pcap(str(forged), threads=1).read()),
        (f"read(), {cores} threads", lambda: intake.open_pcap(str(forged)).read()),
        ("partitions of 1 MiB", lambda: intake.open_pcap(str(forged), blocksize=1 << 20).to_dask().compute()),
    ]:
        seconds, frame = best_of(1, read)
        row(f"forged chains: {label}", seconds, f"{len(frame):,} rows, {int((frame.src_host == '6.6.6.6').sum())} forged")


if __name__ == "__main__":
    main()
