#!/usr/bin/env python3
"""Benchmark: live capture on loopback, packets per second without drops.

For each target rate (100k, 200k, 300k, 400k packets/s by default) sender processes (a
small C program compiled here with gcc, sendmmsg in batches of 32, paced to the rate) send
a burst of UDP datagrams to 127.0.0.1:P while this process reads them with
``intake.open_pcap(None, interface="lo", filter="udp port P", limit=N).read_chunked()``.
It prints a table: what was sent, what was captured and how fast, libpcap's drop counters
from ``stats()``, and the highest rate held without any loss (goal: >= 300,000/s).

Bounded: each level sends rate x --seconds packets (2 s by default) and stops after 10 s
whatever it sent; all levels together send at most --max-packets (2,000,000). Traffic goes
to loopback only. Needs root (or CAP_NET_RAW) and gcc.

    sudo python benches/bench_live.py
    sudo python benches/bench_live.py --rates 300000 --seconds 3
    sudo python benches/bench_live.py --tcpdump      # tcpdump -w /dev/null at each rate too
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

GOAL_PPS = 300_000
MAX_SECONDS = 10.0  # a sender stops after this long, sent or not
HELD = 0.95  # a level counts only if the senders reached this share of its rate

SENDER_C = r"""
/* Paced UDP sender: COUNT datagrams of SIZE bytes to HOST:PORT at RATE packets/s in
   sendmmsg batches; each payload starts with its sequence number. Stops after
   MAX_SECONDS. Prints "SENT SECONDS". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 32

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: udpflood HOST PORT RATE COUNT SIZE MAX_SECONDS\n");
        return 2;
    }
    int port = atoi(argv[2]);
    double rate = atof(argv[3]);
    long count = atol(argv[4]);
    int size = atoi(argv[5]);
    double max_seconds = atof(argv[6]);
    if (size < 8) size = 8;
    if (size > 1400) size = 1400;
    struct sockaddr_in dst = {0};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(port);
    if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
        fprintf(stderr, "udpflood: bad address %s\n", argv[1]);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) {
        perror("udpflood");
        return 1;
    }
    static char bufs[BATCH][1400];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    memset(bufs, 'x', sizeof bufs);
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = size;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    long sent = 0;
    double start = now();
    while (sent < count) {
        double t = now();
        if (t - start > max_seconds) break;
        double due = start + sent / rate; /* packet `sent` is due then */
        if (due > t) {
            double wait = due - t;
            struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
            nanosleep(&ts, NULL);
        }
        int n = count - sent < BATCH ? (int)(count - sent) : BATCH;
        for (int i = 0; i < n; i++) {
            uint64_t seq = (uint64_t)(sent + i);
            memcpy(bufs[i], &seq, sizeof seq);
        }
        int r = sendmmsg(fd, msgs, n, 0);
        if (r < 0) {
            if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN) continue;
            perror("udpflood: sendmmsg");
            return 1;
        }
        sent += r;
    }
    printf("%ld %.6f\n", sent, now() - start);
    return 0;
}
"""


def build_sender(workdir: Path) -> Path:
    if shutil.which("gcc") is None:
        sys.exit("bench_live: needs gcc to build the sender")
    source, binary = workdir / "udpflood.c", workdir / "udpflood"
    source.write_text(SENDER_C)
    subprocess.run(["gcc", "-O2", "-Wall", "-o", str(binary), str(source)], check=True)
    return binary


def softnet_drops() -> int:
    """Packets the kernel dropped from its per-CPU input backlog (second column of
    /proc/net/softnet_stat): loss before any capture could see the packet."""
    try:
        lines = Path("/proc/net/softnet_stat").read_text().splitlines()
    except OSError:
        return 0
    return sum(int(line.split()[1], 16) for line in lines if line.strip())


def sink_socket() -> socket.socket:
    """The datagrams' destination: bound (so no ICMP port-unreachable per packet), never
    read, with a small buffer, so the kernel discards them cheaply."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind(("127.0.0.1", 0))
    return s


def start_senders(binary: Path, port: int, rate: int, count: int, senders: int, size: int):
    """``senders`` processes sharing ``rate`` and ``count``."""
    procs = []
    for i in range(senders):
        share = count // senders + (1 if i < count % senders else 0)
        procs.append(
            subprocess.Popen(
                [str(binary), "127.0.0.1", str(port), str(rate / senders), str(share), str(size), str(MAX_SECONDS)],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    return procs


def finish_senders(procs) -> tuple[int, float]:
    """Packets sent in all, and the longest sender's time."""
    sent, seconds = 0, 0.0
    for p in procs:
        out, _ = p.communicate(timeout=MAX_SECONDS + 10)
        if p.returncode != 0:
            sys.exit(f"bench_live: a sender failed (exit {p.returncode})")
        n, s = out.split()
        sent += int(n)
        seconds = max(seconds, float(s))
    return sent, seconds


@dataclass
class Level:
    tool: str
    rate: int
    sent: int
    send_seconds: float
    captured: int
    capture_pps: float | None
    dropped: int | None
    if_dropped: int | None
    backlog: int
    cpu: float | None
    received: int | None = None

    @property
    def sender_pps(self) -> float:
        return self.sent / self.send_seconds if self.send_seconds else 0.0

    @property
    def lost(self) -> int:
        return self.sent - self.captured

    @property
    def lossless(self) -> bool:
        return self.lost == 0 and not self.dropped and not self.if_dropped

    @property
    def held(self) -> bool:
        return self.lossless and self.sender_pps >= HELD * self.rate

    @property
    def verdict(self) -> str:
        if not self.lossless:
            return "no: lost"
        return "yes" if self.held else "no: senders short"


def run_intake(binary, rate, count, args) -> Level:
    import intake

    sink = sink_socket()
    port = sink.getsockname()[1]
    src = intake.open_pcap(
        None,
        interface="lo",
        filter=f"udp port {port}",
        chunksize=args.chunksize,
        timeout=args.timeout,
        limit=count,
        # Ends the read when packets were lost (the limit is never reached): the
        # senders' time, plus time for the last packets to come through.
        duration=min(count / rate, MAX_SECONDS) + 3,
    )
    try:
        src.discover()  # capture starts
        backlog0 = softnet_drops()
        cpu0, wall0 = os.times(), time.monotonic()
        procs = start_senders(binary, port, rate, count, args.senders, args.size)
        captured, last = 0, wall0
        for chunk in src.read_chunked():
            captured += len(chunk)
            last = time.monotonic()
        sent, send_seconds = finish_senders(procs)
        cpu1 = os.times()
        stats = src.stats()
    finally:
        src.close()
        sink.close()
    cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / max(last - wall0, 1e-9)
    return Level(
        tool="intake",
        rate=rate,
        sent=sent,
        send_seconds=send_seconds,
        captured=captured,
        capture_pps=captured / max(last - wall0, 1e-9),
        dropped=stats["dropped"],
        if_dropped=stats["if_dropped"],
        received=stats["received"],
        backlog=softnet_drops() - backlog0,
        cpu=cpu,
    )


def run_tcpdump(binary, rate, count, args) -> Level:
    """The same burst captured by ``tcpdump -w /dev/null`` (its default 2 MiB buffer)."""
    sink = sink_socket()
    port = sink.getsockname()[1]
    dump = subprocess.Popen(
        ["tcpdump", "-i", "lo", "-n", "-c", str(count), "-w", "/dev/null", f"udp port {port}"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # tcpdump prints "listening on lo" once the capture is open.
        line = dump.stderr.readline()
        while line and "listening on" not in line:
            line = dump.stderr.readline()
        backlog0 = softnet_drops()
        procs = start_senders(binary, port, rate, count, args.senders, args.size)
        sent, send_seconds = finish_senders(procs)
        try:
            dump.wait(3)  # -c COUNT: it ends by itself when nothing was lost
        except subprocess.TimeoutExpired:
            dump.send_signal(2)
        err = dump.communicate(timeout=10)[1]
    finally:
        if dump.poll() is None:
            dump.kill()
            dump.wait()
        sink.close()

    def number(what):
        m = re.search(rf"(\d+) packets? {what}", err)
        return int(m.group(1)) if m else 0

    return Level(
        tool="tcpdump",
        rate=rate,
        sent=sent,
        send_seconds=send_seconds,
        captured=number("captured"),
        capture_pps=None,  # tcpdump ends a second after its last packet: no fair figure
        dropped=number("dropped by kernel"),
        if_dropped=number("dropped by interface"),
        received=number("received by filter"),
        backlog=softnet_drops() - backlog0,
        cpu=None,
    )


def libpcap_version() -> str:
    try:
        out = subprocess.run(["tcpdump", "--version"], capture_output=True, text=True).stdout
        return next((line for line in out.splitlines() if "libpcap" in line), "libpcap ?")
    except OSError:
        return "libpcap ?"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="100000,200000,300000,400000", help="target packets/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each burst (default 2)")
    parser.add_argument("--senders", type=int, default=2, help="sender processes sharing the rate (default 2)")
    parser.add_argument("--size", type=int, default=18, help="UDP payload bytes (default 18: 60-byte frames)")
    parser.add_argument("--chunksize", type=int, default=65536, help="read_chunked() rows per DataFrame")
    parser.add_argument("--timeout", type=int, default=100, help="live timeout in ms (default 100)")
    parser.add_argument("--max-packets", type=int, default=2_000_000, help="bound on all levels together")
    parser.add_argument("--tcpdump", action="store_true", help="also capture each burst with tcpdump -w /dev/null")
    args = parser.parse_args(argv)

    if os.geteuid() != 0:
        print("bench_live: live capture needs root or CAP_NET_RAW; trying anyway", file=sys.stderr)
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    counts = [int(min(r * args.seconds, r * MAX_SECONDS)) for r in rates]
    if sum(counts) > args.max_packets:
        sys.exit(
            f"bench_live: {sum(counts):,} packets in all is more than --max-packets {args.max_packets:,}; "
            "use fewer --rates or --seconds"
        )

    import intake_pcap

    print(
        f"live capture on lo, filter 'udp port P', {args.size}-byte UDP payloads ({args.size + 42}-byte frames); "
        f"{os.cpu_count()} cores; intake-pcap {intake_pcap.__version__}; {libpcap_version()}"
    )
    print(
        f"{args.senders} paced sender process(es) (sendmmsg), {args.seconds:g} s per level; "
        f"read_chunked() with chunksize={args.chunksize}, timeout={args.timeout} ms"
    )
    print()
    levels = []
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        binary = build_sender(Path(tmp))
        for rate, count in zip(rates, counts):
            levels.append(run_intake(binary, rate, count, args))
            if args.tcpdump:
                levels.append(run_tcpdump(binary, rate, count, args))

    header = (
        f"{'tool':<8} {'target/s':>9} {'sent':>10} {'sent/s':>9} {'captured':>10} {'captured/s':>10} "
        f"{'lost':>8} {'dropped':>8} {'if_drop':>7} {'received':>10} {'backlog':>7} {'cpu':>5}  held"
    )
    print(header)
    for lv in levels:
        cpu = f"{lv.cpu * 100:4.0f}%" if lv.cpu is not None else "    -"
        pps = f"{lv.capture_pps:>10,.0f}" if lv.capture_pps is not None else f"{'-':>10}"
        print(
            f"{lv.tool:<8} {lv.rate:>9,} {lv.sent:>10,} {lv.sender_pps:>9,.0f} {lv.captured:>10,} "
            f"{pps} {lv.lost:>8,} {lv.dropped:>8,} {lv.if_dropped:>7,} "
            f"{lv.received:>10,} {lv.backlog:>7,} {cpu}  {lv.verdict}"
        )
    print()
    print(
        "sent/s: what the senders reached. captured/s (intake only): rows over the time from the\n"
        "senders' start to the last chunk. lost: sent - captured. dropped, if_dropped, received:\n"
        "libpcap's pcap_stats (on lo the kernel counts each packet twice, out and in). backlog: the\n"
        "kernel's input-queue drops meanwhile (loss before any capture). cpu: this process's CPU time\n"
        "over the same time. held: nothing lost or dropped, and the senders reached "
        f"{HELD:.0%} of the target\n(\"senders short\": nothing lost, but the machine could not send that fast)."
    )
    held = [lv.rate for lv in levels if lv.tool == "intake" and lv.held]
    best = max(held) if held else 0
    verdict = "meets" if best >= GOAL_PPS else "does not meet"
    lossless = [lv.sender_pps for lv in levels if lv.tool == "intake" and lv.lossless]
    print()
    print(f"highest rate held without drops: {best:,} packets/s ({verdict} the goal of >= {GOAL_PPS:,}/s)")
    if lossless:
        print(f"highest rate actually sent with nothing lost: {max(lossless):,.0f} packets/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
