#!/usr/bin/env python3
"""Benchmark: intake-pcap beside cat, tcpdump, tshark, dpkt and scapy, dask, and a huge file.

One command, one run, one table (see benches/README.md, "bench_scale.py"). On the same
2,000,000-packet capture (about 1.1 GB, in the page cache):

* ``cat FILE > /dev/null``, the I/O floor (best of 3);
* ``tcpdump -n -r FILE > /dev/null`` (one run);
* ``tshark -n -r FILE -T fields -e ...`` piped into ``pandas.read_csv`` and made into the
  same DataFrame (one run, end to end, in a fresh process);
* dpkt building the same DataFrame (bench_read.py's loop; one run, in a fresh process);
* scapy's ``PcapReader`` building the same DataFrame, on a 20,000-packet capture;
* ``intake.open_pcap(FILE, threads=1).read()`` and ``intake.open_pcap(FILE).read()`` (every
  core), best of 3 after a warm-up, in this process;
* ``read_chunked()`` over the file, counting rows, in a fresh process;
* ``to_dask()`` over 8 captures of 250,000 packets on a ``LocalCluster`` of 2 worker
  processes against 1 (one thread each, ``threads=1``), best of 3 after a warm-up: once
  gathering every row into the client (``compute()``), once counting packets per protocol
  and per destination port on the workers (``value_counts()``);
* with ``--huge``: ``read_chunked()`` over a ~10 GB capture (18,000,000 packets) in a fresh
  process: its peak RSS and throughput.

Peak memory is measured in fresh processes: for Python readers, the peak RSS (VmHWM)
less the RSS just before the read; for programs, their maximum RSS from ``/usr/bin/time -v``.
Then the goal checks. Captures are written once by tools/synthcap.py into bench-data/.

    python benches/bench_scale.py            # 2,000,000 packets, about 2 minutes
    python benches/bench_scale.py --quick    # 200,000 packets, no --huge, about 20 s
    python benches/bench_scale.py --huge     # also the ~10 GB file (written once, ~80 s, 9.5 GiB of disk)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pickle
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_read  # noqa: E402  (read_dpkt, compare, time_cat, cores, versions; it puts tools/ on sys.path)
from bench_read import DATA_DIR, REPO, capture_path, synthcap  # noqa: E402

MIB = 1 << 20
PACKETS = 2_000_000
QUICK_PACKETS = 200_000
SCAPY_PACKETS = 20_000
DASK_FILES = 8
HUGE_PACKETS = 18_000_000  # about 10 GB at ~560 bytes a packet
HUGE_DISK_MARGIN = 2 << 30  # keep this much disk free after writing the huge file
RUNS = 3
TIMEOUT = 1200  # seconds for any one external step (tshark on 2M packets takes ~60 s)
HUGE_TIMEOUT = 3600

GOAL_DPKT = 100
GOAL_TSHARK = 300
GOAL_CAT = 2.0
GOAL_DASK = 1.6
GOAL_HUGE_MIB = 300

TIME_BIN = "/usr/bin/time"
TSHARK_FIELDS = [
    "frame.time_epoch",
    "ip.src", "ipv6.src", "tcp.srcport", "udp.srcport",
    "ip.dst", "ipv6.dst", "tcp.dstport", "udp.dstport",
    "ip.proto", "ipv6.nxt",
]


@dataclass
class Row:
    """One row of the table; ``seconds`` None means not measured (``note`` says why)."""

    tool: str
    packets: int
    size: int
    seconds: float | None
    peak: float | None = None  # bytes
    note: str = ""


# --- captures -------------------------------------------------------------------------



def huge_capture() -> Path | str:
    """The ~10 GB capture, or the reason it cannot be written (not enough disk)."""
    path = DATA_DIR / f"synth-v{synthcap.VERSION}-{HUGE_PACKETS}-seed1.pcap"
    if path.exists():
        return path
    DATA_DIR.mkdir(exist_ok=True)
    need = HUGE_PACKETS * 600 + HUGE_DISK_MARGIN
    free = shutil.disk_usage(DATA_DIR).free
    if free < need:
        return f"not enough disk: {free / 2**30:.1f} GiB free, need {need / 2**30:.1f} GiB"
    return capture_path(HUGE_PACKETS)


# --- measuring other processes --------------------------------------------------------

def run_bounded(args: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run in its own process group, which is killed on timeout (a probe's
    children, such as tshark, go with it)."""
    proc = subprocess.Popen(args, start_new_session=True, **kwargs)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def timed_program(args: list[str], timeout: float = TIMEOUT) -> tuple[float, float | None]:
    """(wall seconds, max RSS in bytes) of a program with its stdout to /dev/null, the RSS
    from ``/usr/bin/time -v`` (None without it)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        wrapped = [TIME_BIN, "-v", "-o", report.name, *args] if os.access(TIME_BIN, os.X_OK) else args
        started = time.perf_counter()
        done = run_bounded(wrapped, timeout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr[-500:]!r}")
        return seconds, max_rss(report.read())


def max_rss(time_report: str) -> float | None:
    """'Maximum resident set size (kbytes): N' from /usr/bin/time -v, in bytes."""
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_report)
    return int(m.group(1)) * 1024 if m else None


def probe(kind: str, *args: str, timeout: float = TIMEOUT) -> dict:
    """Run ``this script --probe KIND ARGS`` in a fresh interpreter; its last stdout line is JSON."""
    done = run_bounded([sys.executable, str(Path(__file__).resolve()), "--probe", kind, *map(str, args)], timeout,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"probe {kind} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- probes: each runs in a fresh process and prints one JSON line --------------------

def status(field: str) -> int:
    """A /proc/self/status figure (VmRSS, VmHWM) in bytes."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def save_head(df, out: str) -> None:
    with open(out, "wb") as fh:
        pickle.dump(df.head(bench_read.SANITY_ROWS), fh)


def probe_intake(path: str, warmup: str, threads: str) -> dict:
    """Peak RSS growth of ``intake.open_pcap(path, threads=...).read()``."""
    import intake
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    n = None if threads == "all" else int(threads)
    intake.open_pcap(warmup, threads=n).read()  # lazily loaded modules into the baseline
    before = status("VmRSS")
    started = time.perf_counter()
    df = intake.open_pcap(path, threads=n).read()
    seconds = time.perf_counter() - started
    return {"before": before, "peak": status("VmHWM"), "seconds": seconds, "rows": len(df),
            "frame": int(df.memory_usage(deep=True).sum())}


def probe_chunked(path: str, warmup: str) -> dict:
    """Iterate ``read_chunked()`` counting rows: peak RSS and time."""
    import intake
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    sum(len(c) for c in intake.open_pcap(warmup).read_chunked())
    before = status("VmRSS")
    started = time.perf_counter()
    rows = chunks = 0
    for chunk in intake.open_pcap(path).read_chunked():
        rows += len(chunk)
        chunks += 1
    seconds = time.perf_counter() - started
    return {"before": before, "peak": status("VmHWM"), "seconds": seconds, "rows": rows, "chunks": chunks}


def probe_dpkt(path: str, warmup: str, head_out: str) -> dict:
    """bench_read.py's dpkt loop: time and peak RSS growth."""
    import dpkt  # noqa: F401

    bench_read.read_dpkt(Path(warmup))
    before = status("VmRSS")
    started = time.perf_counter()
    df = bench_read.read_dpkt(Path(path))
    seconds = time.perf_counter() - started
    save_head(df, head_out)
    return {"before": before, "peak": status("VmHWM"), "seconds": seconds, "rows": len(df)}


def tshark_args(path: str) -> list[str]:
    fields = [a for f in TSHARK_FIELDS for a in ("-e", f)]
    return ["tshark", "-n", "-r", path, "-T", "fields", "-E", "occurrence=f", *fields]


def tshark_frame(stream):
    """tshark's tab-separated fields into the DataFrame intake returns (non-IP rows dropped)."""
    import pandas as pd

    raw = pd.read_csv(stream, sep="\t", header=None, names=TSHARK_FIELDS, quoting=3,
                      dtype={"frame.time_epoch": "float64", "ip.src": str, "ipv6.src": str,
                             "ip.dst": str, "ipv6.dst": str, "tcp.srcport": "UInt16",
                             "udp.srcport": "UInt16", "tcp.dstport": "UInt16",
                             "udp.dstport": "UInt16", "ip.proto": "UInt8", "ipv6.nxt": "UInt8"})
    src = raw["ip.src"].fillna(raw["ipv6.src"])
    raw = raw[src.notna()]
    proto = raw["ip.proto"].fillna(raw["ipv6.nxt"])
    names = {k: v for k, v in bench_read.PROTOCOL_NAMES.items()}
    return pd.DataFrame({
        "time": pd.to_datetime((raw["frame.time_epoch"] * 1e6).round().astype("int64"), unit="us")
                  .astype("datetime64[ns]"),
        "src_host": raw["ip.src"].fillna(raw["ipv6.src"]),
        "src_port": raw["tcp.srcport"].fillna(raw["udp.srcport"]),
        "dst_host": raw["ip.dst"].fillna(raw["ipv6.dst"]),
        "dst_port": raw["tcp.dstport"].fillna(raw["udp.dstport"]),
        "protocol": proto.astype("int64").map(lambda p: names.get(p) or str(p)),
    }).reset_index(drop=True)


def probe_tshark(path: str, head_out: str) -> dict:
    """tshark | pandas.read_csv, end to end: time, tshark's max RSS, pandas' RSS growth."""
    import pandas  # noqa: F401

    with subprocess.Popen(tshark_args(path) + ["-c", "10"], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL) as warm:
        tshark_frame(warm.stdout)  # pandas' parser and conversions into the baseline
    before = status("VmRSS")
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        timed = os.access(TIME_BIN, os.X_OK)
        args = ([TIME_BIN, "-v", "-o", report.name] if timed else []) + tshark_args(path)
        started = time.perf_counter()
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        df = tshark_frame(proc.stdout)
        code = proc.wait()
        seconds = time.perf_counter() - started
        if code != 0:
            raise RuntimeError(f"tshark exited with {code}")
        tshark_rss = max_rss(report.read()) if timed else None
    save_head(df, head_out)
    return {"before": before, "peak": status("VmHWM"), "seconds": seconds, "rows": len(df),
            "tshark_rss": tshark_rss}


def scapy_frame(path: str):
    """The same DataFrame built with scapy's PcapReader (the first IP layer; non-IP skipped)."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.utils import PcapReader

    names = bench_read.PROTOCOL_NAMES
    time_us, src, sport, dst, dport, proto = [], [], [], [], [], []
    with PcapReader(path) as reader:
        for pkt in reader:
            ip = pkt.getlayer(IP)
            if ip is not None:
                p = ip.proto
            else:
                ip = pkt.getlayer(IPv6)
                if ip is None:
                    continue
                p = ip.nh
            l4 = ip.payload
            if isinstance(l4, (TCP, UDP)):
                sport.append(l4.sport)
                dport.append(l4.dport)
            else:
                sport.append(None)
                dport.append(None)
            time_us.append(int(round(pkt.time * 1_000_000)))
            src.append(ip.src)
            dst.append(ip.dst)
            proto.append(names.get(p) or str(p))
    return bench_read.peer_frame(time_us, src, sport, dst, dport, proto)


def probe_scapy(path: str, warmup: str, head_out: str) -> dict:
    started = time.perf_counter()
    import scapy.all  # noqa: F401  (what a user imports; loads every layer)

    import_s = time.perf_counter() - started
    scapy_frame(warmup)
    before = status("VmRSS")
    started = time.perf_counter()
    df = scapy_frame(path)
    seconds = time.perf_counter() - started
    save_head(df, head_out)
    return {"before": before, "peak": status("VmHWM"), "seconds": seconds, "rows": len(df),
            "import": import_s}


PROBES = {"intake": probe_intake, "chunked": probe_chunked, "dpkt": probe_dpkt,
          "tshark": probe_tshark, "scapy": probe_scapy}


# --- measurements in this process -----------------------------------------------------

def time_intake(path: Path, threads: int | None, runs: int = RUNS) -> tuple[float, int]:
    """Best of ``runs`` reads after a warm-up; the rows."""
    import intake

    rows = len(intake.open_pcap(str(path), threads=threads).read())
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        df = intake.open_pcap(str(path), threads=threads).read()
        best = min(best, time.perf_counter() - started)
        rows = len(df)
        del df
    return best, rows


def time_dask(files: list[Path], workers: int, runs: int = RUNS) -> tuple[float, int, float, float]:
    """Best of ``runs`` computes of ``open_pcap(files, threads=1).to_dask()`` on a LocalCluster
    of ``workers`` single-threaded worker processes, after a warm-up compute; the rows; the
    best of ``runs`` computes of an analysis done on the workers (packets per protocol and
    per destination port: only the small answer travels); and, to tell the workers' share
    from the client's (gathering and concatenating the frames), the best of ``runs``
    computes of only each partition's length."""
    import intake
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        ddf = intake.open_pcap([str(f) for f in files], threads=1).to_dask()
        rows = len(client.compute(ddf).result(timeout=TIMEOUT))  # warm-up: imports on the workers
        best = float("inf")
        for _ in range(runs):
            forget_all(client)
            started = time.perf_counter()
            df = client.compute(ddf).result(timeout=TIMEOUT)
            best = min(best, time.perf_counter() - started)
            rows = len(df)
            del df
        best_len = best_of(client, ddf.map_partitions(len), runs)
        counts = [ddf.protocol.value_counts(split_out=1), ddf.dst_port.value_counts(split_out=1)]
        best_counts = best_of(client, counts, runs)
        per_protocol = client.compute(counts[0]).result(timeout=TIMEOUT)
        if int(per_protocol.sum()) != rows:
            raise RuntimeError(f"packets per protocol add up to {int(per_protocol.sum()):,}, not {rows:,}")
    return best, rows, best_counts, best_len


def best_of(client, collections, runs: int) -> float:
    """Best of ``runs`` computes of ``collections`` on ``client``, after a warm-up."""
    client.gather(client.compute(collections), errors="raise")
    best = float("inf")
    for _ in range(runs):
        forget_all(client)
        started = time.perf_counter()
        client.gather(client.compute(collections), errors="raise")
        best = min(best, time.perf_counter() - started)
    return best


def _scheduler_tasks(dask_scheduler) -> int:
    return len(dask_scheduler.tasks)


def forget_all(client, timeout: float = 60) -> None:
    """Wait until the scheduler has released every task of the previous compute. A result
    dropped on the client is released asynchronously; until then a compute of the same graph
    (same keys) is answered from the workers' memory without reading anything."""
    deadline = time.monotonic() + timeout
    while client.run_on_scheduler(_scheduler_tasks):
        if time.monotonic() > deadline:
            raise RuntimeError("the dask scheduler still holds tasks from the previous run")
        time.sleep(0.01)


class CpuWatch:
    """CPU time other processes used while this one measured: the machine's busy time
    (/proc/stat) less this process's and its reaped children's (os.times)."""

    def __init__(self):
        self.start = self._now()

    @staticmethod
    def _now() -> tuple[float, float, float]:
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:9]]
        busy = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")  # not idle, iowait
        t = os.times()
        return busy, t.user + t.system + t.children_user + t.children_system, time.perf_counter()

    def others(self) -> float:
        """Other processes' share of the machine (0-1) since this watch started."""
        end = self._now()
        busy, own, wall = (e - s for e, s in zip(end, self.start))
        return max(0.0, busy - own) / (wall * (os.cpu_count() or 1))


def load_head(path: str):
    with open(path, "rb") as fh:
        return pickle.load(fh)


# --- report ---------------------------------------------------------------------------

def tool_versions() -> str:
    parts = []
    for args, pattern in ((["tcpdump", "--version"], r"tcpdump version (\S+)"),
                          (["tshark", "--version"], r"TShark \(Wireshark\) (\S+?)\.?\s")):
        try:
            out = subprocess.run(args, capture_output=True, text=True, timeout=30)
            m = re.search(pattern, out.stdout + out.stderr)
            parts.append(f"{args[0]} {m.group(1) if m else '?'}")
        except (OSError, subprocess.TimeoutExpired):
            parts.append(f"{args[0]} missing")
    from importlib.metadata import PackageNotFoundError, version

    for name in ("scapy", "dask", "distributed"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} not installed")
    return ", ".join(parts)


def load_average() -> str:
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "unknown"


def fmt_mib(value: float | None) -> str:
    return "-" if value is None else f"{value / MIB:,.1f}"


def print_table(rows: list[Row], ref: Row | None) -> None:
    ref_rate = ref.seconds / ref.packets if ref and ref.seconds else None
    print(f"{'tool':<34}{'packets':>12}{'seconds':>10}{'packets/s':>13}{'MB/s':>8}{'peak MiB':>10}"
          f"{'ratio':>9}  note")
    for r in rows:
        if r.seconds is None:
            print(f"{r.tool:<34}{r.packets:>12,}{'-':>10}{'-':>13}{'-':>8}{fmt_mib(r.peak):>10}{'-':>9}  {r.note}")
            continue
        ratio = f"{r.seconds / r.packets / ref_rate:,.2f}" if ref_rate else "-"
        print(f"{r.tool:<34}{r.packets:>12,}{r.seconds:>10.3f}{r.packets / r.seconds:>13,.0f}"
              f"{r.size / r.seconds / 1e6:>8,.0f}{fmt_mib(r.peak):>10}{ratio:>9}  {r.note}")


def goal_line(name: str, value: float | None, goal: str, ok: bool | None, detail: str = "") -> str:
    if value is None:
        return f"  {name:<44} {'-':>9}  goal {goal:<12} not measured{detail}"
    verdict = "met" if ok else "MISSED"
    return f"  {name:<44} {value:>8,.1f}x  goal {goal:<12} {verdict}{detail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_PACKETS:,} packets; no --huge")
    parser.add_argument("--huge", action="store_true",
                        help=f"also read_chunked() over a ~10 GB capture ({HUGE_PACKETS:,} packets, written once)")
    parser.add_argument("--probe", nargs="+", help=argparse.SUPPRESS)  # internal: a fresh-process measurement
    args = parser.parse_args(argv)
    if args.probe:
        kind, *rest = args.probe
        print(json.dumps(PROBES[kind](*rest)))
        return 0
    if args.quick and args.huge:
        parser.error("--quick skips --huge")

    packets = QUICK_PACKETS if args.quick else PACKETS
    started_all = time.perf_counter()
    load_before = load_average()
    path = capture_path(packets)
    warmup = capture_path(100)
    small = capture_path(SCAPY_PACKETS)
    per_file = packets // DASK_FILES
    dask_files = [capture_path(per_file, seed) for seed in range(1, DASK_FILES + 1)]
    huge = huge_capture() if args.huge else None
    size = path.stat().st_size
    small_size = small.stat().st_size
    dask_size = sum(f.stat().st_size for f in dask_files)

    print()
    print(f"file:    {path.relative_to(REPO)}  {size:,} bytes ({size / MIB:,.1f} MiB), {packets:,} packets")
    print(f"machine: {bench_read.cores()} cores, {platform.machine()}, {bench_read.versions()}")
    print(f"         load average before the run {load_before} (anything else running skews the figures)")
    print(f"         {tool_versions()}")
    print(flush=True)

    rows: list[Row] = []
    others: dict[str, float] = {}
    run_watch = CpuWatch()
    problems: list[str] = []
    heads = {}
    tmp = tempfile.mkdtemp(prefix="bench_scale.")

    def step(label: str):
        print(f"  ... {label} ({time.perf_counter() - started_all:.0f} s)", file=sys.stderr, flush=True)

    try:
        # Fresh-process memory probes first (also reads the files into the page cache).
        step("intake memory probes")
        mem1 = probe("intake", path, warmup, 1)
        mem_all = probe("intake", path, warmup, "all")
        step("read_chunked probe")
        chunked = probe("chunked", path, warmup)

        step("cat")
        subprocess.run(["cat", *map(str, dask_files), str(small)], stdout=subprocess.DEVNULL, check=True)
        cat_s = bench_read.time_cat(path, RUNS)
        _, cat_rss = timed_program(["cat", str(path)])
        rows.append(Row("cat FILE > /dev/null", packets, size, cat_s, cat_rss, "I/O floor, best of 3"))

        step("tcpdump")
        try:
            tcpdump_s, tcpdump_rss = timed_program(["tcpdump", "-n", "-r", str(path)])
            rows.append(Row("tcpdump -n -r FILE > /dev/null", packets, size, tcpdump_s, tcpdump_rss,
                            "one run, text to /dev/null"))
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
            rows.append(Row("tcpdump -n -r FILE > /dev/null", packets, size, None, note=f"failed: {e}"[:120]))

        step("tshark | pandas.read_csv")
        try:
            ts = probe("tshark", path, f"{tmp}/tshark.pkl")
            heads["tshark"] = (load_head(f"{tmp}/tshark.pkl"), ts["rows"])
            growth = ts["peak"] - ts["before"]
            peak = (ts["tshark_rss"] or 0) + growth
            rows.append(Row("tshark -T fields | read_csv", packets, size, ts["seconds"], peak,
                            f"one run, end to end; tshark {fmt_mib(ts['tshark_rss'])} + pandas "
                            f"{fmt_mib(growth)} MiB; {ts['rows']:,} rows"))
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
            ts = None
            rows.append(Row("tshark -T fields | read_csv", packets, size, None, note=f"failed: {e}"[:120]))

        step("dpkt")
        dp = probe("dpkt", path, warmup, f"{tmp}/dpkt.pkl")
        heads["dpkt"] = (load_head(f"{tmp}/dpkt.pkl"), dp["rows"])
        rows.append(Row("dpkt -> DataFrame", packets, size, dp["seconds"], dp["peak"] - dp["before"],
                        f"one run, {dp['rows']:,} rows"))

        step("scapy")
        if importlib.util.find_spec("scapy") is not None:
            sc = probe("scapy", small, warmup, f"{tmp}/scapy.pkl")
            heads["scapy"] = (load_head(f"{tmp}/scapy.pkl"), sc["rows"])
            rows.append(Row("scapy PcapReader -> DataFrame", SCAPY_PACKETS, small_size, sc["seconds"],
                            sc["peak"] - sc["before"],
                            f"one run on a {SCAPY_PACKETS:,}-packet file, {sc['rows']:,} rows "
                            f"(import scapy.all: {sc['import']:.1f} s, not counted)"))
        else:
            rows.append(Row("scapy PcapReader -> DataFrame", SCAPY_PACKETS, small_size, None,
                            note="not installed (pip install scapy)"))

        step("intake read()")
        watch = CpuWatch()
        intake1_s, intake1_rows = time_intake(path, 1)
        intake_s, intake_rows = time_intake(path, None)
        others["intake read()"] = watch.others()
        rows.append(Row("intake read(), threads=1", packets, size, intake1_s, mem1["peak"] - mem1["before"],
                        f"best of 3 after a warm-up; {intake1_rows:,} rows; frame {fmt_mib(mem1['frame'])} MiB"))
        ref = Row("intake read(), all cores", packets, size, intake_s, mem_all["peak"] - mem_all["before"],
                  f"best of 3 after a warm-up; {intake_rows:,} rows; frame {fmt_mib(mem_all['frame'])} MiB")
        rows.append(ref)
        rows.append(Row("intake read_chunked(), count rows", packets, size, chunked["seconds"],
                        chunked["peak"] - chunked["before"],
                        f"one run, fresh process; {chunked['rows']:,} rows in {chunked['chunks']} chunks; "
                        f"peak RSS {fmt_mib(chunked['peak'])} MiB"))
        if chunked["rows"] != intake_rows:
            problems.append(f"read_chunked rows {chunked['rows']:,} != read() rows {intake_rows:,}")

        step("dask")
        dask_rows = {}
        watch = CpuWatch()
        for workers in (1, 2):
            seconds, n, counts_s, len_s = time_dask(dask_files, workers)
            dask_rows[workers] = (seconds, counts_s, len_s)
            label = f"{workers} worker{'s' if workers > 1 else ''}"
            rows.append(Row(f"intake to_dask().compute(), {label}",
                            per_file * DASK_FILES, dask_size, seconds, None,
                            f"best of 3 after a warm-up; {DASK_FILES} files of {per_file:,}, threads=1; "
                            f"{n:,} rows gathered into the client; partition lengths only: {len_s:.3f} s"))
            rows.append(Row(f"intake to_dask() value_counts, {label}",
                            per_file * DASK_FILES, dask_size, counts_s, None,
                            "best of 3 after a warm-up; packets per protocol and per dst_port (value_counts(split_out=1)), "
                            "counted on the workers"))
        others["to_dask()"] = watch.others()

        hu = None
        if args.huge:
            if isinstance(huge, str):
                rows.append(Row("read_chunked(), ~10 GB file", HUGE_PACKETS, 0, None, note=huge))
            else:
                step("cat of the huge file")
                huge_size = huge.stat().st_size
                # Twice: the first read brings the file into the page cache if it fits.
                cat_huge = bench_read.time_cat(huge, 2)
                rows.append(Row("cat HUGE > /dev/null", HUGE_PACKETS, huge_size, cat_huge, None,
                                f"best of 2: the I/O floor for the row below; {huge_size / 2**30:,.1f} GiB"))
                step("read_chunked over the huge file")
                hu = probe("chunked", huge, warmup, timeout=HUGE_TIMEOUT)
                rows.append(Row("read_chunked(), ~10 GB file", HUGE_PACKETS, huge_size, hu["seconds"],
                                hu["peak"], f"one run, fresh process; {hu['rows']:,} rows in {hu['chunks']} "
                                f"chunks; peak RSS absolute (growth {fmt_mib(hu['peak'] - hu['before'])} MiB)"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    # Sanity: every DataFrame agrees with intake's on the same file.
    import intake

    for name, (head, n) in heads.items():
        target = small if name == "scapy" else path
        full = intake.open_pcap(str(target)).read()
        mine = full.head(bench_read.SANITY_ROWS)
        for p in bench_read.compare(mine, head):
            if not p.startswith("row count"):
                problems.append(f"{name}: {p}")
        if n != len(full):
            problems.append(f"{name}: {n:,} rows, intake {len(full):,}")

    print()
    print_table(rows, ref)
    print()
    print("peak MiB: Python readers: peak RSS minus RSS before the read, in a fresh process; programs: max RSS")
    print("ratio: seconds per packet over intake read() on all cores (above 1: slower than intake)")
    others["whole run"] = run_watch.others()
    print("other processes' CPU while measuring (share of the machine; above a few % skews the timings): "
          + ", ".join(f"{k} {v:.0%}" for k, v in others.items()))
    print()
    print("goals (intake read() on all cores):")
    by = {r.tool: r for r in rows}
    dpkt_x = dp["seconds"] / intake_s
    print(goal_line("dpkt time / intake time", dpkt_x, f">= {GOAL_DPKT}x", dpkt_x >= GOAL_DPKT))
    ts_row = by["tshark -T fields | read_csv"]
    ts_x = ts_row.seconds / intake_s if ts_row.seconds else None
    print(goal_line("tshark|read_csv time / intake time", ts_x, f">= {GOAL_TSHARK}x",
                    ts_x is not None and ts_x >= GOAL_TSHARK))
    cat_x = intake_s / cat_s
    print(goal_line("intake time / cat time", cat_x, f"<= {GOAL_CAT:g}x", cat_x <= GOAL_CAT))
    dask_x = dask_rows[1][1] / dask_rows[2][1]
    print(goal_line("to_dask value_counts: 1 worker / 2 workers", dask_x, f">= {GOAL_DASK:g}x", dask_x >= GOAL_DASK,
                    f"  (partition lengths only: {dask_rows[1][2] / dask_rows[2][2]:.2f}x)"))
    gather_x = dask_rows[1][0] / dask_rows[2][0]
    print(goal_line("to_dask compute() into the client: 1 / 2", gather_x, f">= {GOAL_DASK:g}x",
                    gather_x >= GOAL_DASK, "  (gathering every row to one client is serial)"))
    if hu is not None:
        peak = hu["peak"] / MIB
        verdict = "met" if peak < GOAL_HUGE_MIB else "MISSED"
        print(f"  {'read_chunked() ~10 GB file: peak RSS':<44} {peak:>6,.1f} MiB  goal < {GOAL_HUGE_MIB} MiB   "
              f"{verdict}  ({hu['rows'] / hu['seconds']:,.0f} rows/s)")
    else:
        why = huge if isinstance(huge, str) else "run with --huge"
        print(f"  {'read_chunked() ~10 GB file: peak RSS':<44} {'-':>9}  goal < {GOAL_HUGE_MIB} MiB   "
              f"not measured ({why}); on this file: {chunked['peak'] / MIB:,.1f} MiB")
    print()
    if problems:
        print("sanity:  DISAGREEMENTS:")
        for p in problems:
            print(f"         - {p}")
    else:
        print(f"sanity:  {', '.join(heads)} agree with intake on row count and the first "
              f"{bench_read.SANITY_ROWS} rows; read_chunked() and read() give the same rows")
    print(f"total:   {time.perf_counter() - started_all:.0f} s; load average after the run {load_average()}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
