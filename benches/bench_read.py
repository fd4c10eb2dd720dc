#!/usr/bin/env python3
"""Benchmark: reading a large pcap into a DataFrame with intake-pcap, against dpkt.

Prints figures, asserts nothing about speed (see benches/README.md):

* ``intake.open_pcap(path).read()``: best of 3 after a warm-up, in this process;
* the same DataFrame built with dpkt (one run) and the ratio dpkt / intake;
* ``cat FILE > /dev/null``: the I/O floor;
* peak memory of a read in a fresh process, less the DataFrame it returns;
* a sanity check that both readers produce the same rows.

The capture (2,000,000 packets by default, about 1.1 GB) is written once by
tools/synthcap.py into bench-data/ at the repository root and reused.

    python benches/bench_read.py            # 2,000,000 packets
    python benches/bench_read.py --quick    # 200,000 packets
    python benches/bench_read.py --packets 500000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO / "bench-data"
SEED = 1
SANITY_ROWS = 1000
GOAL_RATIO = 50
GOAL_OVERHEAD_MIB = 100
MIB = 1 << 20

sys.path.insert(0, str(REPO / "tools"))
import synthcap  # noqa: E402  (tools/ is not a package)


@dataclass
class Timing:
    """One row of the results table."""

    tool: str
    seconds: float | None
    note: str = ""


# --- the capture ----------------------------------------------------------------------

def capture_path(packets: int, seed: int = SEED) -> Path:
    """The cached capture of ``packets`` packets, written first if missing."""
    path = DATA_DIR / f"synth-v{synthcap.VERSION}-{packets}-seed{seed}.pcap"
    if not path.exists():
        DATA_DIR.mkdir(exist_ok=True)
        partial = path.with_suffix(".partial")
        print(f"writing {path.relative_to(REPO)} ({packets:,} packets) ...", flush=True)
        started = time.perf_counter()
        synthcap.write_capture(partial, packets, seed=seed)
        partial.rename(path)
        size = path.stat().st_size
        print(f"  done in {time.perf_counter() - started:.1f} s, {size:,} bytes", flush=True)
    return path


# --- the readers ----------------------------------------------------------------------

def intake_opener():
    """``intake.open_pcap``, or None (with the reason) when the plugin is not installed."""
    try:
        import intake

        return intake.open_pcap, ""
    except (ImportError, AttributeError) as e:
        return None, f"unavailable: {type(e).__name__}: {e}"


def read_intake(path: Path) -> pd.DataFrame:
    import intake

    return intake.open_pcap(str(path)).read()


PROTOCOL_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmp6"}


def read_dpkt(path: Path) -> pd.DataFrame:
    """The DataFrame intake-pcap returns, built with dpkt: IPv4 and IPv6, non-IP skipped.

    Hosts and protocol are plain text, ports nullable UInt16 (None where the packet
    is neither TCP nor UDP), time from the record's microseconds.
    """
    import dpkt

    ntoa, ntop, AF_INET6 = socket.inet_ntoa, socket.inet_ntop, socket.AF_INET6
    IP, IP6, TCP, UDP = dpkt.ip.IP, dpkt.ip6.IP6, dpkt.tcp.TCP, dpkt.udp.UDP
    Ethernet = dpkt.ethernet.Ethernet
    names = PROTOCOL_NAMES
    time_us, src, sport, dst, dport, proto = [], [], [], [], [], []
    with open(path, "rb") as fh:
        for ts, buf in dpkt.pcap.Reader(fh):
            try:
                ip = Ethernet(buf).data
            except dpkt.UnpackError:
                continue
            if isinstance(ip, IP):
                s, d = ntoa(ip.src), ntoa(ip.dst)
            elif isinstance(ip, IP6):
                s, d = ntop(AF_INET6, ip.src), ntop(AF_INET6, ip.dst)
            else:
                continue
            l4 = ip.data
            if isinstance(l4, (TCP, UDP)):
                sport.append(l4.sport)
                dport.append(l4.dport)
            else:
                sport.append(None)
                dport.append(None)
            time_us.append(round(ts * 1e6))
            src.append(s)
            dst.append(d)
            p = ip.p
            proto.append(names.get(p) or str(p))
    return peer_frame(time_us, src, sport, dst, dport, proto)


def peer_frame(time_us, src, sport, dst, dport, proto) -> pd.DataFrame:
    """The columns a peer's Python loop collected, as intake's DataFrame types them."""
    return pd.DataFrame({
        "time": pd.to_datetime(pd.Series(time_us, dtype="int64"), unit="us").astype("datetime64[ns]"),
        "src_host": src,
        "src_port": pd.array(sport, dtype="UInt16"),
        "dst_host": dst,
        "dst_port": pd.array(dport, dtype="UInt16"),
        "protocol": proto,
    })


# --- measurements ---------------------------------------------------------------------

def timed(fn, *args):
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def time_cat(path: Path, runs: int = 3) -> float:
    """Best wall time of ``cat FILE > /dev/null``."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
        best = min(best, time.perf_counter() - started)
    return best


def time_intake(path: Path, runs: int = 3) -> tuple[float, pd.DataFrame]:
    """Best of ``runs`` reads after one warm-up; returns the last DataFrame too."""
    df = read_intake(path)
    best = float("inf")
    for _ in range(runs):
        del df
        seconds, df = timed(read_intake, path)
        best = min(best, seconds)
    return best, df


MEMORY_PROBE = r"""
import json, resource, sys
import intake, pandas, pyarrow

def status(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

# A tiny read first, so that the modules a read loads lazily are in the baseline.
intake.open_pcap(sys.argv[2]).read()
before = status("VmRSS")
df = intake.open_pcap(sys.argv[1]).read()
print(json.dumps({
    "before": before,
    "peak": status("VmHWM"),
    "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,  # KiB on Linux
    "frame": int(df.memory_usage(deep=True).sum()),
}))
"""


def measure_memory(path: Path, warmup: Path) -> dict:
    """Peak RSS growth of a read in a fresh process, and the size of the DataFrame.

    The process imports intake, pandas and pyarrow and reads a 100-packet capture
    (``warmup``) before taking its baseline, so the figure is the read's own working memory.
    The peak is VmHWM, this process's high-water mark; ``ru_maxrss`` is also
    reported, but on Linux it can carry over the parent's RSS from the fork, so
    this runs before the benchmark's own process grows.
    """
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path), str(warmup)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(intake_df: pd.DataFrame, dpkt_df: pd.DataFrame, rows: int = SANITY_ROWS) -> list[str]:
    """Disagreements between the two frames: row count, then the first ``rows`` rows'
    hosts, ports and protocol compared as text (missing ports as "<NA>"), and time."""
    problems = []
    if len(intake_df) != len(dpkt_df):
        problems.append(f"row count: intake {len(intake_df):,} vs dpkt {len(dpkt_df):,}")
    a, b = intake_df.head(rows), dpkt_df.head(rows)
    for column in ("src_host", "src_port", "dst_host", "dst_port", "protocol"):
        left = a[column].astype(object).map(str).to_numpy()
        right = b[column].astype(object).map(str).to_numpy()
        n = min(len(left), len(right))
        bad = (left[:n] != right[:n]).nonzero()[0]
        if len(bad):
            i = bad[0]
            problems.append(f"{column}: {len(bad)} of the first {n} rows differ "
                            f"(row {i}: intake {left[i]!r}, dpkt {right[i]!r})")
    n = min(len(a), len(b))
    try:
        same_time = (a["time"].to_numpy()[:n] == b["time"].to_numpy()[:n]).all()
    except (TypeError, ValueError):
        same_time = False
    if not same_time:
        problems.append(f"time: differs in the first {n} rows "
                        f"(intake {a['time'].iloc[0]!r}, dpkt {b['time'].iloc[0]!r})")
    return problems


# --- report ---------------------------------------------------------------------------

def cores() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{usable} usable of {os.cpu_count()}"


def versions() -> str:
    import dpkt

    parts = [f"Python {platform.python_version()}", f"pandas {pd.__version__}", f"dpkt {dpkt.__version__}"]
    try:
        from importlib.metadata import version

        parts.append(f"intake {version('intake')}")
        parts.append(f"intake-pcap {version('intake-pcap')}")
    except Exception:  # noqa: BLE001  (not installed: just leave it out)
        pass
    return ", ".join(parts)


def print_table(rows: list[Timing], packets: int, size: int) -> None:
    print(f"{'tool':<28}{'seconds':>10}{'packets/s':>14}{'us/packet':>11}{'MB/s':>9}  note")
    for r in rows:
        if r.seconds is None:
            print(f"{r.tool:<28}{'-':>10}{'-':>14}{'-':>11}{'-':>9}  {r.note}")
            continue
        print(f"{r.tool:<28}{r.seconds:>10.3f}{packets / r.seconds:>14,.0f}"
              f"{r.seconds / packets * 1e6:>11.3f}{size / r.seconds / 1e6:>9,.0f}  {r.note}")


def print_memory(mem: dict) -> None:
    growth = mem["peak"] - mem["before"]
    overhead = growth - mem["frame"]
    verdict = "meets" if overhead <= GOAL_OVERHEAD_MIB * MIB else "ABOVE"
    print(f"memory:  RSS before read {mem['before'] / MIB:,.1f} MiB, peak {mem['peak'] / MIB:,.1f} MiB "
          f"(ru_maxrss {mem['ru_maxrss'] / MIB:,.1f} MiB): growth {growth / MIB:,.1f} MiB")
    print(f"         DataFrame memory_usage(deep=True) = {mem['frame'] / MIB:,.1f} MiB; "
          f"peak - dataframe = {overhead / MIB:,.1f} MiB  ({verdict} the goal of <= {GOAL_OVERHEAD_MIB} MiB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=2_000_000, help="packets in the capture (default 2,000,000)")
    parser.add_argument("--quick", action="store_true", help="200,000 packets")
    args = parser.parse_args(argv)
    packets = 200_000 if args.quick else args.packets

    if packets < 1:
        parser.error("--packets must be at least 1")
    path = capture_path(packets)
    warmup = capture_path(100)
    size = path.stat().st_size
    print()
    print(f"file:    {path.relative_to(REPO)}  {size:,} bytes ({size / MIB:,.1f} MiB), {packets:,} packets")
    print(f"machine: {cores()} cores, {platform.machine()}, {versions()}")
    print()

    opener, why_not = intake_opener()
    mem = measure_memory(path, warmup) if opener else None  # first, while this process is small
    cat_s = time_cat(path)
    intake_s, intake_df = time_intake(path) if opener else (None, None)
    dpkt_s, dpkt_df = timed(read_dpkt, path)

    rows = [
        Timing("cat FILE > /dev/null", cat_s, "I/O floor, best of 3"),
        Timing("intake.open_pcap().read()", intake_s,
               f"best of 3 after a warm-up, {len(intake_df):,} rows" if opener else why_not),
        Timing("dpkt -> DataFrame", dpkt_s, f"one run, {len(dpkt_df):,} rows"),
    ]
    print_table(rows, packets, size)
    print()

    failed = False
    if opener:
        ratio = dpkt_s / intake_s
        verdict = "meets" if ratio >= GOAL_RATIO else "BELOW"
        print(f"speed:   dpkt / intake = {ratio:,.1f}x  ({verdict} the goal of >= {GOAL_RATIO}x); "
              f"intake / cat = {intake_s / cat_s:,.1f}x")
        print_memory(mem)
        problems = compare(intake_df, dpkt_df)
        failed = bool(problems)
        if problems:
            print("sanity:  intake and dpkt DISAGREE:")
            for p in problems:
                print(f"         - {p}")
        else:
            print(f"sanity:  same row count ({len(dpkt_df):,}); the first {SANITY_ROWS} rows agree "
                  "on hosts, ports, protocol and time")
    else:
        print(f"intake:  not measured ({why_not}); dpkt alone: "
              f"{dpkt_s / packets * 1e6:.2f} us/packet")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
