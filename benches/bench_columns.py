#!/usr/bin/env python3
"""Benchmark: projection pushdown, reading only some columns of a large capture.

Times ``intake.open_pcap(path, columns=..., threads=T).read()`` (best of 3 after a
warm-up, in this process) for: only ``time`` and ``length``; the six default columns;
every column (``payload`` excluded); every column with ``payload``. Prints a table; asserts
nothing about speed. The capture is the one ``bench_read.py`` uses (written once by
tools/synthcap.py into bench-data/).

    python benches/bench_columns.py             # 2,000,000 packets
    python benches/bench_columns.py --quick     # 200,000 packets
    python benches/bench_columns.py --threads 1 --runs 5
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_read import REPO, capture_path, cores  # noqa: E402


def all_columns() -> list[str] | None:
    try:
        from intake_pcap._native import column_names
    except ImportError:  # a build without columns=: only the default read is measured
        return None
    return [c for c in column_names() if c != "payload"]


def best_read(path: Path, runs: int, **options) -> tuple[float, int, int]:
    """(best seconds, rows, columns) of ``runs`` reads after a warm-up."""
    import intake

    df = intake.open_pcap(str(path), **options).read()
    best = float("inf")
    for _ in range(runs):
        del df
        started = time.perf_counter()
        df = intake.open_pcap(str(path), **options).read()
        best = min(best, time.perf_counter() - started)
    return best, len(df), df.shape[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=2_000_000, help="packets in the capture (default 2,000,000)")
    parser.add_argument("--quick", action="store_true", help="200,000 packets")
    parser.add_argument("--runs", type=int, default=3, help="timed reads per line (best is shown)")
    parser.add_argument("--threads", type=int, nargs="*", default=[1, os.cpu_count() or 1],
                        help="thread counts to measure (default: 1 and every core)")
    args = parser.parse_args(argv)
    packets = 200_000 if args.quick else args.packets
    path = capture_path(packets)
    size = path.stat().st_size
    print(f"file:    {path.relative_to(REPO)}  {size:,} bytes, {packets:,} packets; {cores()} cores")

    everything = all_columns()
    cases = [("default six", None)]
    if everything is not None:
        cases = [("time, length", ["time", "length"]), *cases, (f"all {len(everything)} (no payload)", everything),
                 (f"all {len(everything) + 1} (with payload)", [*everything, "payload"])]
    else:
        print("(this build has no columns=; only the default read is measured)")
    print()
    print(f"{'columns':<26}{'threads':>8}{'seconds':>10}{'packets/s':>14}{'rows':>12}{'vs default':>12}")
    for threads in dict.fromkeys(args.threads):
        default_s = None
        results = []
        for label, columns in cases:
            options = {"threads": threads}
            if columns is not None:
                options["columns"] = columns
            seconds, rows, _ = best_read(path, args.runs, **options)
            if columns is None:
                default_s = seconds
            results.append((label, seconds, rows))
        for label, seconds, rows in results:
            print(f"{label:<26}{threads:>8}{seconds:>10.3f}{packets / seconds:>14,.0f}{rows:>12,}"
                  f"{seconds / default_s:>11.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
