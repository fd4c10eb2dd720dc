#!/usr/bin/env python3
"""Benchmark: tcpdump filter expressions (``filter=``) in intake-pcap, beside tcpdump itself.

For a few expressions, on the same capture and in the same run, prints the wall time of

* ``intake.open_pcap(path, filter=EXPR).read()``: best of 3 after a warm-up, in this process;
* ``tcpdump -r FILE -w /dev/null EXPR``: best of 3;

with packets/s (packets in the file over the time), the rows each kept, and the ratio of
each time to tcpdump's for the same expression. The row ``(none)`` is the read without a
filter, and tcpdump copying every packet, for reference. Asserts nothing about speed (see
benches/README.md); exits non-zero only when intake's rows and tcpdump's packets disagree.

The capture (2,000,000 packets by default, about 1.1 GB) is the one bench_read.py uses,
written once by tools/synthcap.py into bench-data/ at the repository root and reused.

    python benches/bench_filter.py            # 2,000,000 packets
    python benches/bench_filter.py --quick    # 200,000 packets
    python benches/bench_filter.py --packets 500000
"""

from __future__ import annotations

import argparse
import platform
import shutil
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_read import REPO, capture_path, cores  # noqa: E402  (the same cached capture)

EXPRESSIONS = [None, "tcp port 443", "udp", "host 192.168.1.15 and tcp", "icmp or icmp6", "greater 1000"]
RUNS = 3


@dataclass
class Row:
    tool: str
    expression: str | None
    seconds: float | None
    rows: int | None
    note: str = ""


# --- the two readers ------------------------------------------------------------------

def read_intake(path: Path, expression: str | None):
    import intake

    if expression is None:
        return intake.open_pcap(str(path)).read()
    return intake.open_pcap(str(path), filter=expression).read()


def time_intake(path: Path, expression: str | None, runs: int = RUNS) -> tuple[float, int]:
    """Best of ``runs`` reads after one warm-up, and the rows of the last one."""
    rows = len(read_intake(path, expression))
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        rows = len(read_intake(path, expression))
        best = min(best, time.perf_counter() - started)
    return best, rows


def tcpdump_args(path: Path, out: str, expression: str | None) -> list[str]:
    return ["tcpdump", "-r", str(path), "-w", out] + ([expression] if expression else [])


def time_tcpdump(path: Path, expression: str | None, runs: int = RUNS) -> float:
    """Best wall time of ``tcpdump -r FILE -w /dev/null EXPR``."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(tcpdump_args(path, "/dev/null", expression), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)
        best = min(best, time.perf_counter() - started)
    return best


def count_tcpdump(path: Path, expression: str | None) -> int:
    """Packets tcpdump keeps (an untimed run writing to a pipe; the records are counted)."""
    proc = subprocess.Popen(tcpdump_args(path, "-", expression), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    stream = proc.stdout
    header = stream.read(24)
    endian = "<" if header[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    record = struct.Struct(endian + "IIII")
    packets = 0
    while True:
        head = stream.read(16)
        if len(head) < 16:
            break
        incl = record.unpack(head)[2]
        stream.read(incl)
        packets += 1
    if proc.wait() != 0:
        raise RuntimeError(f"tcpdump failed on {expression!r}")
    return packets


# --- report ---------------------------------------------------------------------------

def versions() -> str:
    import pandas as pd

    parts = [f"Python {platform.python_version()}", f"pandas {pd.__version__}"]
    try:
        from importlib.metadata import version

        parts.append(f"intake {version('intake')}")
        parts.append(f"intake-pcap {version('intake-pcap')}")
    except Exception:  # noqa: BLE001  (not installed: just leave it out)
        pass
    out = subprocess.run(["tcpdump", "--version"], capture_output=True, text=True)
    for line in (out.stdout + out.stderr).splitlines():
        if line.startswith(("tcpdump version", "libpcap version")):
            parts.append(line.split(" (")[0].replace(" version", ""))
    return ", ".join(parts)


def print_table(rows: list[Row], packets: int) -> None:
    by_expression = {r.expression: r.seconds for r in rows if r.tool == "tcpdump"}
    width = max(len(r.expression or "(none)") for r in rows) + 2
    print(f"{'tool':<10}{'expression':<{width}}{'seconds':>9}{'packets/s':>14}{'rows':>12}{'ratio':>8}  note")
    for r in rows:
        expression = r.expression or "(none)"
        if r.seconds is None:
            print(f"{r.tool:<10}{expression:<{width}}{'-':>9}{'-':>14}{'-':>12}{'-':>8}  {r.note}")
            continue
        base = by_expression.get(r.expression)
        ratio = f"{r.seconds / base:.2f}" if base else "-"
        print(f"{r.tool:<10}{expression:<{width}}{r.seconds:>9.3f}{packets / r.seconds:>14,.0f}"
              f"{r.rows:>12,}{ratio:>8}  {r.note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=2_000_000, help="packets in the capture (default 2,000,000)")
    parser.add_argument("--quick", action="store_true", help="200,000 packets")
    args = parser.parse_args(argv)
    packets = 200_000 if args.quick else args.packets
    if packets < 1:
        parser.error("--packets must be at least 1")
    if shutil.which("tcpdump") is None:
        parser.error("tcpdump is not installed (apt-get install tcpdump)")

    path = capture_path(packets)
    size = path.stat().st_size
    print()
    print(f"file:    {path.relative_to(REPO)}  {size:,} bytes ({size / (1 << 20):,.1f} MiB), {packets:,} packets")
    print(f"machine: {cores()} cores, {platform.machine()}, {versions()}")
    print()

    results: list[Row] = []
    problems: list[str] = []
    for expression in EXPRESSIONS:
        try:
            seconds, rows = time_intake(path, expression)
            results.append(Row("intake", expression, seconds, rows, "best of 3 after a warm-up"))
        except TypeError as e:  # an intake-pcap without filter=
            results.append(Row("intake", expression, None, None, f"unavailable: {e}"))
        kept = count_tcpdump(path, expression)
        note = "best of 3, -w /dev/null" + ("; every packet, non-IP too" if expression is None else "")
        results.append(Row("tcpdump", expression, time_tcpdump(path, expression), kept, note))
        ours = results[-2].rows
        if expression is not None and ours is not None and ours != kept:
            problems.append(f"{expression}: intake {ours:,} rows, tcpdump {kept:,} packets")

    print_table(results, packets)
    print()
    print("ratio:   seconds / tcpdump's seconds for the same expression (below 1: faster than tcpdump)")
    print("rows:    intake's DataFrame rows; for tcpdump, the packets it kept (counted in a separate, untimed run)")
    if problems:
        print("sanity:  intake and tcpdump DISAGREE:")
        for p in problems:
            print(f"         - {p}")
        return 1
    if any(r.tool == "intake" and r.seconds is not None for r in results):
        print("sanity:  for every expression, intake's rows = the packets tcpdump kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
