#!/usr/bin/env python3
"""Benchmark: `pcapframe convert` to Parquet beside `pcapframe show`, tcpdump and
pcaptoparquet, on the same capture, in one run; and the cost of columns (projection).

Rows, on the 2,000,000-packet capture of bench_read.py (about 1.1 GB, in the page cache):

* ``cat FILE > /dev/null``: the I/O floor (best of 3);
* ``pcapframe convert FILE -o OUT.parquet`` on every core and with ``--threads 1``, and
  with ``--columns time,length``, the default six, and every column (best of 3 each);
* ``pcapframe show FILE > /dev/null`` and ``tcpdump -n -r FILE > /dev/null`` (one run);
* ``pcaptoparquet -i FILE -o OUT.parquet`` (PyPI; dpkt inside), one run, with and without
  its ``-m`` (multiprocessing).

Peak memory is each program's maximum RSS (``/usr/bin/time -v``). Not a test: it exits
non-zero only if the Parquet file's row count differs from intake's read().

    python benches/bench_convert.py            # 2,000,000 packets, about 3 minutes (pcaptoparquet is most of it)
    python benches/bench_convert.py --quick    # 200,000 packets
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_read  # noqa: E402
from bench_read import capture_path  # noqa: E402

RUNS = 3
ALL_COLUMNS = None  # filled from intake_pcap._native.column_names()


def timed(cmd: list[str], runs: int = 1, stdout=subprocess.DEVNULL) -> tuple[float, float]:
    """Best wall time of ``runs`` runs of ``cmd`` and the largest maximum RSS (MiB)."""
    best, peak = float("inf"), 0.0
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-v", *cmd], stdout=stdout, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
        best = min(best, seconds)
        peak = max(peak, int(rss.group(1)) / 1024 if rss else 0.0)
    return best, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200,000 packets")
    parser.add_argument("--packets", type=int, default=None)
    args = parser.parse_args(argv)
    packets = args.packets or (200_000 if args.quick else 2_000_000)
    path = capture_path(packets)
    size = path.stat().st_size
    pcapframe = shutil.which("pcapframe")
    if pcapframe is None:
        print("pcapframe is not installed: run `bash scripts/setup.sh`", file=sys.stderr)
        return 2
    from intake_pcap._native import column_names

    every = ",".join(c for c in column_names() if c != "payload")
    print(f"capture: {path.name}, {packets:,} packets, {size / 1e6:,.0f} MB; {bench_read.cores()}")
    print(f"versions: {bench_read.versions()}")
    rows: list[tuple[str, float | None, float | None, str]] = []
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        out = Path(tmp) / "out.parquet"
        cat = bench_read.time_cat(path, RUNS)
        rows.append(("cat FILE > /dev/null", cat, None, "best of 3: the I/O floor"))
        convert = [pcapframe, "convert", str(path), "-o", str(out), "--quiet"]
        s, m = timed(convert, RUNS)
        rows.append(("pcapframe convert -> parquet", s, m, "best of 3, every core"))
        reference = s
        import pyarrow.parquet as pq

        import intake

        written = pq.ParquetFile(out).metadata.num_rows
        expected = len(intake.open_pcap(str(path), columns=["length"]).read())
        s, m = timed([*convert, "--threads", "1"], RUNS)
        rows.append(("pcapframe convert --threads 1", s, m, "best of 3"))
        for label, columns in (("time,length", "time,length"), ("every column", every)):
            s, m = timed([*convert, "--columns", columns], RUNS)
            rows.append((f"pcapframe convert --columns {label}", s, m, f"best of 3; {len(columns.split(','))} columns"))
        s, m = timed([*convert, "--payload"], 1)
        rows.append(("pcapframe convert --payload", s, m, "one run; the six columns and the payload bytes"))
        s, m = timed([pcapframe, "show", str(path)], 1)
        rows.append(("pcapframe show > /dev/null", s, m, "one run; tcpdump -tttt -n -q lines"))
        s, m = timed(["tcpdump", "-n", "-r", str(path)], 1)
        rows.append(("tcpdump -n -r > /dev/null", s, m, "one run"))
        p2p = shutil.which("pcaptoparquet") or str(Path(sys.executable).with_name("pcaptoparquet"))
        if Path(p2p).exists():
            for label, extra in (("", []), (" -m", ["-m"])):
                target = Path(tmp) / f"p2p{label.strip()}.parquet"
                try:
                    s, m = timed([p2p, "-i", str(path), "-o", str(target), *extra], 1)
                    rows.append((f"pcaptoparquet{label} -> parquet", s, m, "one run (dpkt inside)"))
                except RuntimeError as err:
                    rows.append((f"pcaptoparquet{label}", None, None, f"failed: {str(err).splitlines()[-1][:80]}"))
        else:
            rows.append(("pcaptoparquet", None, None, "not installed: pip install pcaptoparquet"))

    print()
    print(f"{'tool':<40} {'seconds':>8} {'packets/s':>12} {'MB/s':>8} {'max RSS MiB':>12} {'x convert':>10}  note")
    for name, seconds, rss, note in rows:
        if seconds is None:
            print(f"{name:<40} {'-':>8} {'-':>12} {'-':>8} {'-':>12} {'-':>10}  {note}")
            continue
        mib = f"{rss:,.1f}" if rss else "-"
        print(f"{name:<40} {seconds:>8.3f} {packets / seconds:>12,.0f} {size / 1e6 / seconds:>8,.0f} {mib:>12} "
              f"{seconds / reference:>9.2f}x  {note}")
    print()
    print("x convert: seconds over `pcapframe convert` on every core (above 1: slower)")
    if written != expected:
        print(f"sanity: DISAGREEMENT: the Parquet file has {written:,} rows, intake read() {expected:,}")
        return 1
    print(f"sanity: the Parquet file has {written:,} rows, as intake's read()")
    return 0


if __name__ == "__main__":
    sys.exit(main())
