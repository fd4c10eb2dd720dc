"""Flow table speed and memory, side by side in one run: ``open_pcap_flows(f).read()``
against nfstream 6.6.0's ``to_pandas()`` with the same timeouts, and against our own packet
``read()`` of the same capture; and the resident peak of ``read_chunked()`` over a synthetic
SYN scan of distinct flows.

    python benches/bench_flows.py                 # the 2,000,000-packet capture of bench_read.py
    python benches/bench_flows.py --quick         # 200,000 packets
    python benches/bench_flows.py --scan 2000000  # the SYN scan (written once to bench-data/)

Each timing is the best of ``--rounds`` runs, in this process (nfstream forks its own
meter process, as it always does). nfstream runs without nDPI dissection
(``n_dissections=0``: we do none) and with its statistical features on (we compute
per-direction statistics too), IP-length accounting (``accounting_mode=1``, our ``bytes``).
Memory is VmHWM of a fresh child process (``/proc/self/status``), not ru_maxrss, which a
child inherits from its parent.
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
from bench_read import DATA_DIR, capture_path  # noqa: E402


def best(fn, rounds):
    times, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def ours_packets(path):
    import intake

    return intake.open_pcap(str(path)).read()


def ours_flows(path, idle, active):
    import intake

    return intake.open_pcap_flows(str(path), idle_timeout=idle, active_timeout=active).read()


def ours_dask_flows(path, idle, active, workers):
    import intake

    ddf = intake.open_pcap_flows(str(path), idle_timeout=idle, active_timeout=active).to_dask()
    return ddf.compute(scheduler="threads", num_workers=workers)


def nfstream_flows(path, idle, active):
    import nfstream

    return nfstream.NFStreamer(source=str(path), idle_timeout=idle, active_timeout=active, accounting_mode=1,
                               n_dissections=0, statistical_analysis=True).to_pandas()


def write_syn_scan(path: Path, flows: int, rate: int = 20_000) -> None:
    """``flows`` SYNs from one scanner to distinct (address, port) pairs, ``rate`` a
    second: classic pcap, Ethernet, 54-byte frames."""
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    eth = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00"
    with open(path, "wb") as out:
        out.write(header)
        chunk = []
        for i in range(flows):
            t = 1_700_000_000 * 1_000_000 + i * 1_000_000 // rate
            dst = 0x0A000000 + (i >> 10)
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i & 0xFFFF, 0, 64, 6, 0, bytes([192, 0, 2, 1]),
                             dst.to_bytes(4, "big"))
            tcp = struct.pack("!HHIIBBHHH", 40000, 1 + (i & 1023), i, 0, 0x50, 0x02, 1024, 0, 0)
            frame = eth + ip + tcp
            chunk.append(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(frame), len(frame)) + frame)
            if len(chunk) == 65536:
                out.write(b"".join(chunk))
                chunk = []
        out.write(b"".join(chunk))


SCAN_CHILD = """
import sys, intake
flows = 0
for df in intake.open_pcap_flows(sys.argv[1], idle_timeout=10).read_chunked():
    flows += len(df)
hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]
print(flows, int(hwm) // 1024)
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=2_000_000)
    parser.add_argument("--quick", action="store_true", help="200,000 packets")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=float, default=120)
    parser.add_argument("--active", type=float, default=1800)
    parser.add_argument("--scan", type=int, default=0, help="also run the SYN scan of this many flows")
    parser.add_argument("--no-nfstream", action="store_true")
    args = parser.parse_args(argv)
    packets = 200_000 if args.quick else args.packets
    path = capture_path(packets)
    print(f"file: {path.relative_to(REPO)} ({path.stat().st_size:,} bytes, {packets:,} packets), "
          f"idle {args.idle} s, active {args.active} s, {os.cpu_count()} cores, best of {args.rounds}")
    t_packets, df_packets = best(lambda: ours_packets(path), args.rounds)
    t_flows, df_flows = best(lambda: ours_flows(path, args.idle, args.active), args.rounds)
    t_dask1, df_dask1 = best(lambda: ours_dask_flows(path, args.idle, args.active, 1), args.rounds)
    t_dask2, df_dask2 = best(lambda: ours_dask_flows(path, args.idle, args.active, 2), args.rounds)
    assert len(df_dask1) == len(df_dask2) == len(df_flows)
    rows = [("intake-pcap open_pcap(f).read()", t_packets, f"{len(df_packets):,} rows"),
            ("intake-pcap open_pcap_flows(f).read()", t_flows, f"{len(df_flows):,} flows"),
            ("open_pcap_flows(f).to_dask(), 1 worker", t_dask1, "threaded scheduler"),
            ("open_pcap_flows(f).to_dask(), 2 workers", t_dask2, f"{t_dask1 / t_dask2:.2f}x one worker")]
    if not args.no_nfstream:
        t_nf, df_nf = best(lambda: nfstream_flows(path, int(args.idle), int(args.active)), 1)
        rows.append(("nfstream 6.6.0 NFStreamer(f).to_pandas()", t_nf, f"{len(df_nf):,} flows, one run"))
    print(f"{'reader':44} {'seconds':>8} {'vs flows':>9}  note")
    for name, seconds, note in rows:
        print(f"{name:44} {seconds:8.3f} {seconds / t_flows:9.2f}  {note}")
    print(f"flows read() / packets read(): {t_flows / t_packets:.2f}")
    if args.scan:
        scan = DATA_DIR / f"syn-scan-{args.scan}.pcap"
        if not scan.exists():
            print(f"writing {scan.relative_to(REPO)} ...", flush=True)
            write_syn_scan(scan.with_suffix(".partial"), args.scan)
            scan.with_suffix(".partial").rename(scan)
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", SCAN_CHILD, str(scan)], capture_output=True, text=True,
                             check=True).stdout.split()
        print(f"SYN scan {args.scan:,} flows, read_chunked() with idle 10 s: {int(out[0]):,} flows, "
              f"peak resident {out[1]} MiB (VmHWM), {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
