"""Live capture on libpcap: loopback (IPv4 and IPv6) and a veth pair in a network namespace
that the test creates and removes.

Traffic goes only to loopback or to the test's own namespace. Each test binds a UDP socket to
pick a free port (the socket also absorbs the datagrams, so the kernel answers with no ICMP),
opens the capture with ``filter="udp port P"``, then starts the sender, in a thread, with
payloads that carry a per-test tag and a sequence number. Every blocking read runs under a
time bound, so a capture that never returns fails the test instead of hanging the run.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from dataclasses import dataclass

import intake
import pandas as pd
import pytest

import intake_pcap
from intake_pcap.stream import LiveStream

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="live capture needs root or CAP_NET_RAW")

COLUMNS = ["time", "src_host", "src_port", "dst_host", "dst_port", "protocol"]
STATS_KEYS = {"received", "dropped", "if_dropped", "captured"}


# -- helpers -----------------------------------------------------------------------------


# Threads still inside a capture call after their time bound. While one is, the fixtures do
# not close the capture: a call that blocks on the capture with the GIL held would hang the
# whole run instead of failing one test.
STUCK: list[threading.Thread] = []


def stuck():
    return any(t.is_alive() for t in STUCK)


def within(seconds, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` in a thread; fail the test if it has not returned in time."""
    outcome = {}

    def run():
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as err:  # noqa: BLE001 (re-raised in the test's thread)
            outcome["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        STUCK.append(thread)
        pytest.fail(f"{getattr(fn, '__name__', fn)} did not return within {seconds} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def payloads(n, tag=None):
    tag = tag or uuid.uuid4().hex[:8]
    return [f"intake-pcap-live {tag} {i:04d}".encode() for i in range(n)]


def utc_now():
    return pd.Timestamp.now(tz="UTC").tz_localize(None)


class UdpSender:
    """A UDP socket bound on ``host`` (so the source port is known before sending); ``start``
    sends the datagrams from a thread."""

    def __init__(self, host, family=socket.AF_INET):
        self.host = host
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.thread = None

    def start(self, port, datagrams, interval=0.0, stop=None):
        def run():
            for data in datagrams:
                if stop is not None and stop.is_set():
                    break
                self.sock.sendto(data, (self.host, port))
                if interval:
                    time.sleep(interval)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        return self

    def join(self, timeout=10):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the sender did not finish"

    def close(self):
        self.sock.close()


@pytest.fixture
def sink():
    """A UDP socket on 127.0.0.1 (``sink("::1", AF_INET6)`` for IPv6): its port is the test's."""
    sockets = []

    def make(host="127.0.0.1", family=socket.AF_INET):
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.bind((host, 0))
        sockets.append(s)
        return s.getsockname()[1]

    yield make
    for s in sockets:
        s.close()


@pytest.fixture
def senders():
    made = []

    def make(host="127.0.0.1", family=socket.AF_INET):
        sender = UdpSender(host, family)
        made.append(sender)
        return sender

    yield make
    for sender in made:
        if sender.thread is not None:
            sender.thread.join(5)
        sender.close()


@pytest.fixture
def live():
    """Open live sources and streams through this; all are closed after the test."""
    opened = []

    def source(**kwargs):
        src = intake.open_pcap(None, **kwargs)
        opened.append(src)
        return src

    def stream(*args, **kwargs):
        s = LiveStream(*args, **kwargs)
        opened.append(s)
        return s

    source.stream = stream
    yield source
    for obj in reversed(opened):
        if stuck():
            break
        try:
            within(10, obj.close)
        except Exception:  # noqa: BLE001 (a failing close must not hide the test's result)
            pass


def check_udp_rows(df, sent, src_host, src_port, dst_host, dst_port, with_payload=True):
    """``df`` holds exactly the datagrams ``sent``, in order, between the given endpoints."""
    n = len(sent)
    assert list(df.columns) == COLUMNS + (["payload"] if with_payload else [])
    assert len(df) == n, f"expected {n} rows, got {len(df)}:\n{df}"
    assert df.src_host.astype(str).tolist() == [src_host] * n
    assert df.dst_host.astype(str).tolist() == [dst_host] * n
    assert df.src_port.tolist() == [src_port] * n
    assert df.dst_port.tolist() == [dst_port] * n
    assert df.protocol.astype(str).tolist() == ["udp"] * n
    if with_payload:
        assert [bytes(p) for p in df.payload] == sent


def check_times(df, start, end):
    """Capture times: UTC wall clock (naive), between ``start`` and ``end``, in order."""
    assert str(df.time.dtype) == "datetime64[ns]"
    assert df.time.is_monotonic_increasing
    slack = pd.Timedelta(seconds=1)
    assert df.time.min() >= start - slack, (df.time.min(), start)
    assert df.time.max() <= end + slack, (df.time.max(), end)


# -- loopback ----------------------------------------------------------------------------


def test_read_returns_the_sent_datagrams_in_order(live, sink, senders):
    port = sink()
    n = 20
    sent = payloads(n)
    start = utc_now()
    src = live(interface="lo", filter=f"udp port {port}", chunksize=n, payload=True, timeout=200)
    src.discover()  # capture starts here
    sender = senders().start(port, sent)
    df = within(8, src.read)
    end = utc_now()
    check_udp_rows(df, sent, "127.0.0.1", sender.port, "127.0.0.1", port)
    check_times(df, start, end)
    assert df.index.tolist() == list(range(n))


def test_successive_reads_return_successive_packets(live, sink, senders):
    port = sink()
    sent = payloads(12)
    src = live(interface="lo", filter=f"udp port {port}", chunksize=5)
    src.discover()
    sender = senders().start(port, sent)
    first = within(8, src.read)
    second = within(8, src.read)
    # No payload column asked for: the same columns as a file source without payload.
    check_udp_rows(first, sent[:5], "127.0.0.1", sender.port, "127.0.0.1", port, with_payload=False)
    check_udp_rows(second, sent[5:10], "127.0.0.1", sender.port, "127.0.0.1", port, with_payload=False)
    assert first.time.max() <= second.time.min()


def test_read_starts_the_capture_without_discover(live, sink, senders):
    """Capture starts at the first read: traffic sent while read() waits is returned."""
    port = sink()
    sent = payloads(6)
    src = live(interface="lo", filter=f"udp port {port}", chunksize=6, payload=True)
    sender = senders()
    result = {}

    def read():
        try:
            result["df"] = src.read()
        except BaseException as err:  # noqa: BLE001
            result["error"] = err

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    # The source opens the capture inside read(); keep sending until read() has its rows
    # (at most 5 s), as a sender that cannot know when the capture opened would.
    deadline = time.monotonic() + 5
    cycle = itertools.cycle(sent)
    while reader.is_alive() and time.monotonic() < deadline:
        sender.sock.sendto(next(cycle), ("127.0.0.1", port))
        time.sleep(0.02)
    reader.join(3)
    if reader.is_alive():
        STUCK.append(reader)
        pytest.fail("read() did not return although datagrams kept coming")
    if "error" in result:
        raise result["error"]
    df = result["df"]
    assert len(df) == 6
    assert df.src_port.tolist() == [sender.port] * 6 and df.dst_port.tolist() == [port] * 6
    got = [bytes(p) for p in df.payload]
    # Consecutive datagrams of the cycle, whichever one the capture saw first.
    first = sent.index(got[0])
    assert got == [sent[(first + i) % 6] for i in range(6)]


def test_ipv6_loopback(live, sink, senders):
    port = sink("::1", socket.AF_INET6)
    sent = payloads(10)
    start = utc_now()
    src = live(interface="lo", filter=f"udp port {port}", chunksize=10, payload=True)
    src.discover()
    sender = senders("::1", socket.AF_INET6).start(port, sent)
    df = within(8, src.read)
    check_udp_rows(df, sent, "::1", sender.port, "::1", port)
    check_times(df, start, utc_now())


def test_read_chunked_with_limit(live, sink, senders):
    port = sink()
    sent = payloads(15)
    src = live(interface="lo", filter=f"udp port {port}", chunksize=4, limit=10, payload=True, timeout=2000)
    src.discover()
    sender = senders().start(port, sent)
    chunks = within(8, list, src.read_chunked())
    assert [len(c) for c in chunks] == [4, 4, 2]
    df = pd.concat(chunks, ignore_index=True)
    check_udp_rows(df, sent[:10], "127.0.0.1", sender.port, "127.0.0.1", port)
    # limit counts rows of the source, not of one iteration: it is used up.
    assert within(5, list, src.read_chunked()) == []


def test_duration_ends_read_chunked(live, sink, senders):
    port = sink()
    sent = payloads(150)  # one every 20 ms: 3 s of traffic, the capture lasts 1 s
    stop = threading.Event()
    src = live(interface="lo", filter=f"udp port {port}", chunksize=1000, timeout=200, duration=1.0, payload=True)
    start = time.monotonic()
    src.discover()
    sender = senders().start(port, sent, interval=0.02, stop=stop)
    try:
        chunks = within(8, list, src.read_chunked())
        elapsed = time.monotonic() - start
    finally:
        stop.set()
    assert 0.9 <= elapsed <= 2.5, f"duration=1.0 but read_chunked() ended after {elapsed:.2f} s"
    assert chunks and all(len(c) > 0 for c in chunks), [len(c) for c in chunks]
    df = pd.concat(chunks, ignore_index=True)
    # About 50 datagrams in 1 s; consecutive from the first, none lost, none after the end.
    assert 20 <= len(df) < 100, len(df)
    check_udp_rows(df, sent[: len(df)], "127.0.0.1", sender.port, "127.0.0.1", port)


def test_timeout_yields_a_partial_chunk(live, sink, senders):
    """Fewer packets than chunksize: the chunk comes after about one timeout with what
    arrived; a later chunk holds later packets; no empty chunk in between."""
    port = sink()
    sent = payloads(5)
    timeout = 500
    src = live(interface="lo", filter=f"udp port {port}", chunksize=100, timeout=timeout, payload=True)
    src.discover()
    chunks = src.read_chunked()
    sender = senders()
    start = time.monotonic()
    sender.start(port, sent[:3])
    first = within(5, next, chunks)
    elapsed = time.monotonic() - start
    assert len(first) == 3
    assert 0.5 * timeout / 1000 <= elapsed <= 2.5, f"first chunk after {elapsed:.2f} s (timeout {timeout} ms)"
    time.sleep(0.7)  # a whole timeout without traffic: no empty chunk may come of it
    sender.start(port, sent[3:])
    second = within(5, next, chunks)
    check_udp_rows(first, sent[:3], "127.0.0.1", sender.port, "127.0.0.1", port)
    check_udp_rows(second, sent[3:], "127.0.0.1", sender.port, "127.0.0.1", port)


def test_max_packet_is_the_snap_length(live, sink, senders):
    """max_packet=64 keeps 64 bytes of each frame: on lo (Ethernet framing) 14 + 20 + 8
    bytes of headers, so the first 22 bytes of each payload; promisc=False opens too."""
    port = sink()
    sent = [bytes([i]) * 1000 for i in range(1, 4)]
    src = live(interface="lo", filter=f"udp port {port}", chunksize=3, payload=True, max_packet=64, promisc=False)
    src.discover()
    sender = senders().start(port, sent)
    df = within(8, src.read)
    check_udp_rows(df, [data[:22] for data in sent], "127.0.0.1", sender.port, "127.0.0.1", port)


def test_protocol_and_filter_both_apply(live):
    """filter="port P" passes TCP and UDP on port P; protocol= keeps one of them."""
    # One port number free for both TCP and UDP.
    for _ in range(50):
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.bind(("127.0.0.1", 0))
        port = tcp.getsockname()[1]
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind(("127.0.0.1", port))
            break
        except OSError:
            tcp.close()
            udp.close()
    else:
        pytest.fail("no port free for both TCP and UDP")
    tcp.listen(1)
    sent = payloads(5)
    try:
        only_udp = live(interface="lo", filter=f"port {port}", protocol="udp", chunksize=5, payload=True)
        only_udp.discover()
        only_tcp = live.stream("lo", protocol="tcp", filter=f"port {port}")
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.bind(("127.0.0.1", 0))

        def traffic():
            # TCP first: without protocol="udp" the first rows would be TCP.
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                peer, _ = tcp.accept()
                conn.sendall(b"tcp bytes")
                peer.recv(100)
                peer.close()
            for data in sent:
                client.sendto(data, ("127.0.0.1", port))

        thread = threading.Thread(target=traffic, daemon=True)
        thread.start()
        df = within(8, only_udp.read)
        handshake = within(8, only_tcp.to_dataframe, 3)
        thread.join(5)
        check_udp_rows(df, sent, "127.0.0.1", client.getsockname()[1], "127.0.0.1", port)
        assert handshake.protocol.astype(str).tolist() == ["tcp"] * 3
        # SYN, SYN-ACK, ACK: to the port, from it, to it.
        assert handshake.dst_port.tolist()[0] == port
        assert handshake.src_port.tolist()[1] == port
        assert handshake.dst_port.tolist()[2] == port
        assert within(5, only_udp.stats)["captured"] >= 5
        client.close()
    finally:
        tcp.close()
        udp.close()


def test_stats(live, sink, senders):
    port = sink()
    n = 50
    src = live(interface="lo", filter=f"udp port {port}", chunksize=n)
    src.discover()
    senders().start(port, payloads(n))
    df = within(8, src.read)
    assert len(df) == n
    stats = src.stats()
    assert STATS_KEYS <= set(stats), stats
    assert all(isinstance(stats[k], int) for k in STATS_KEYS), stats
    assert stats["captured"] >= n, stats
    assert stats["received"] >= n, stats  # on lo the kernel counts each packet twice (out and in)
    assert stats["dropped"] == 0, stats
    assert stats["if_dropped"] == 0, stats


def test_live_stream(live, sink, senders):
    """LiveStream: dtype, to_dataframe(n), to_dataframe() (one timeout's worth), set_filter,
    stats."""
    port = sink()
    sent = payloads(8)
    stream = live.stream("lo", payload=True, timeout=300, filter=f"udp port {port}")
    assert list(stream.dtype) == COLUMNS + ["payload"]
    assert str(stream.dtype["time"]) == "datetime64[ns]"
    sender = senders().start(port, sent[:5])
    df = within(8, stream.to_dataframe, 5)
    check_udp_rows(df, sent[:5], "127.0.0.1", sender.port, "127.0.0.1", port)
    stream.set_filter("udp")
    with pytest.raises(ValueError, match="valid names"):
        stream.set_filter("bogus")
    sender.join()
    sender.start(port, sent[5:])
    rest = within(8, stream.to_dataframe)  # n < 0: what arrives within one timeout, >= 1 packet
    check_udp_rows(rest, sent[5:], "127.0.0.1", sender.port, "127.0.0.1", port)
    stats = stream.stats()
    assert STATS_KEYS <= set(stats), stats
    assert stats["captured"] >= 8 and stats["dropped"] == 0, stats


def test_catalog_entry_of_the_docs(live, sink, senders, tmp_path):
    port = sink()
    (tmp_path / "catalog.yml").write_text(
        textwrap.dedent(
            f"""\
            sources:
              raw_live:
                driver: pcap
                args:
                  urlpath: ~
                  interface: lo
                  chunksize: 10
              udp_live:
                driver: pcap
                args:
                  urlpath: ~
                  interface: lo
                  chunksize: 10
                  filter: udp port {port}
                  payload: true
            """
        )
    )
    cat = intake.open_catalog(str(tmp_path / "catalog.yml"))
    raw = cat.raw_live
    filtered = cat.udp_live
    try:
        raw.discover()
        filtered.discover()
        sent = payloads(30)
        sender = senders().start(port, sent)
        df = within(8, raw.read)
        exact = within(8, filtered.read)
        # The docs' entry: the next 10 IP packets of lo, whatever they are; this test's
        # datagrams are among them unless lo is very busy.
        assert list(df.columns) == COLUMNS and len(df) == 10
        ours = df[(df.dst_port == port) & (df.protocol == "udp")]
        assert len(ours) >= 1, df
        check_udp_rows(exact, sent[:10], "127.0.0.1", sender.port, "127.0.0.1", port)
    finally:
        for src in (raw, filtered):
            if not stuck():
                within(10, src.close)


def test_unknown_interface_lists_the_interfaces(live):
    with pytest.raises(ValueError) as err:
        within(10, live(interface="nosuchif0").discover)
    assert "nosuchif0" in str(err.value)
    assert "lo" in str(err.value).replace(",", " ").split(), str(err.value)
    with pytest.raises(ValueError, match=r"\blo\b"):
        within(10, LiveStream, "nosuchif0")


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux) to drop CAP_NET_RAW")
def test_without_cap_net_raw_permission_error():
    """Root without CAP_NET_RAW (dropped from the bounding set): PermissionError naming
    what capture needs, from LiveStream and from the Intake source."""
    code = textwrap.dedent(
        """\
        import intake
        from intake_pcap.stream import LiveStream
        for open_ in (lambda: LiveStream("lo"), lambda: intake.open_pcap(None, interface="lo").discover()):
            try:
                open_()
            except PermissionError as err:
                print("PermissionError:", err)
            except BaseException as err:
                print("other:", type(err).__name__, err)
            else:
                print("opened")
        """
    )
    out = subprocess.run(
        ["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2, out.stdout + out.stderr
    for line in lines:
        assert line.startswith("PermissionError:"), line
        assert "root" in line and "CAP_NET_RAW" in line, line


def dump_loopback(live, sink, senders, path, n=10):
    """LiveStream.dump() of ``n`` datagrams sent on lo; returns them and the endpoints."""
    port = sink()
    sent = payloads(n)
    stream = live.stream("lo", filter=f"udp port {port}")
    sender = senders().start(port, sent)
    written = within(8, stream.dump, str(path), n)
    assert written == n
    return sent, sender.port, port


def test_dump_writes_a_pcap_that_intake_and_tcpdump_read(live, sink, senders, tmp_path):
    path = tmp_path / "live.pcap"
    sent, src_port, port = dump_loopback(live, sink, senders, path)
    df = intake.open_pcap(str(path), payload=True).read()
    check_udp_rows(df, sent, "127.0.0.1", src_port, "127.0.0.1", port)
    tcpdump = subprocess.run(["tcpdump", "-n", "-r", str(path)], capture_output=True, text=True, timeout=30)
    assert tcpdump.returncode == 0, tcpdump.stderr
    lines = tcpdump.stdout.splitlines()
    assert len(lines) == len(sent), tcpdump.stdout
    assert all(f"127.0.0.1.{src_port} > 127.0.0.1.{port}: UDP" in line for line in lines), tcpdump.stdout


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (apt-get install tshark)")
def test_dump_writes_a_pcap_that_tshark_reads(live, sink, senders, tmp_path):
    path = tmp_path / "live.pcap"
    sent, src_port, port = dump_loopback(live, sink, senders, path)
    tshark = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "udp.payload"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tshark.returncode == 0, tshark.stderr
    rows = [line.split("\t") for line in tshark.stdout.splitlines()]
    assert rows == [[str(src_port), str(port), data.hex()] for data in sent], tshark.stdout


CONCURRENT = textwrap.dedent(
    """\
    import sys, threading, time
    import intake

    port = int(sys.argv[1])
    src = intake.open_pcap(None, interface="lo", filter=f"udp port {port}", chunksize=10, timeout=200)
    src.discover()
    result = {}

    def consume():
        try:
            result["chunks"] = list(src.read_chunked())  # no traffic: blocks until close()
        except BaseException as err:
            result["error"] = f"{type(err).__name__}: {err}"

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    time.sleep(0.5)
    t = time.monotonic()
    stats = src.stats()
    print("stats", round(time.monotonic() - t, 3), sorted(stats), flush=True)
    t = time.monotonic()
    src.close()
    print("close", round(time.monotonic() - t, 3), flush=True)
    reader.join(3)
    print("reader", "running" if reader.is_alive() else result, flush=True)
    """
)


def test_stats_and_close_from_another_thread_while_read_chunked_waits(sink, tmp_path):
    """A thread blocked in read_chunked() (no traffic) must not block stats() or close()
    from another thread, and close() ends the iteration. Run in a child process: a
    deadlock there (the GIL held while waiting for the capture) fails this test instead of
    hanging the run."""
    port = sink()
    out_path, err_path = tmp_path / "stdout", tmp_path / "stderr"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        child = subprocess.Popen([sys.executable, "-c", CONCURRENT, str(port)], stdout=out, stderr=err)
        try:
            child.wait(8)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            pytest.fail(
                "deadlock: the child did not finish in 8 s; what it printed: "
                f"{out_path.read_text()!r}, stderr: {err_path.read_text()!r}"
            )
    stdout = out_path.read_text()
    assert child.returncode == 0, err_path.read_text()
    lines = stdout.splitlines()
    assert lines[0].startswith("stats ") and float(lines[0].split()[1]) < 1.0, stdout
    assert lines[1].startswith("close ") and float(lines[1].split()[1]) < 2.0, stdout
    assert lines[2] == "reader {'chunks': []}", stdout  # read_chunked() ended, no error


# -- a veth pair into a network namespace ------------------------------------------------

_names = itertools.count()


def ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=check)


@dataclass
class Veth:
    namespace: str
    host_if: str
    peer_if: str
    host_ip: str = "10.200.0.1"
    peer_ip: str = "10.200.0.2"

    def send_from_namespace(self, port, datagrams, interval=0.0):
        """Send from inside the namespace (a Python child under ``ip netns exec``); returns
        the source port."""
        script = textwrap.dedent(
            """\
            import socket, sys, time
            host, port, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("0.0.0.0", 0))
            print(s.getsockname()[1], flush=True)
            for line in sys.stdin:
                s.sendto(bytes.fromhex(line.strip()), (host, port))
                time.sleep(interval)
            """
        )
        child = subprocess.Popen(
            ["ip", "netns", "exec", self.namespace, sys.executable, "-c", script, self.host_ip, str(port), str(interval)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        src_port = int(child.stdout.readline())
        child.stdin.write("".join(d.hex() + "\n" for d in datagrams))
        child.stdin.close()
        try:
            child.wait(10)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert child.returncode == 0
        return src_port


@pytest.fixture
def veth():
    """A namespace with one end of a veth pair (10.200.0.2/30); the other end stays here
    (10.200.0.1/30). Both are removed afterwards, whatever the test did to them."""
    assert shutil.which("ip"), "needs iproute2 (ip) for the network namespace: bash scripts/setup.sh --test installs it"
    tag = f"{os.getpid() % 100000}{next(_names)}"
    v = Veth(namespace=f"intake-pcap-test-{tag}", host_if=f"ipch{tag}"[:15], peer_if=f"ipcn{tag}"[:15])
    try:
        ip("netns", "add", v.namespace)
        ip("link", "add", v.host_if, "type", "veth", "peer", "name", v.peer_if)
        ip("link", "set", v.peer_if, "netns", v.namespace)
        ip("addr", "add", f"{v.host_ip}/30", "dev", v.host_if)
        ip("link", "set", v.host_if, "up")
        ip("-n", v.namespace, "addr", "add", f"{v.peer_ip}/30", "dev", v.peer_if)
        ip("-n", v.namespace, "link", "set", v.peer_if, "up")
        ip("-n", v.namespace, "link", "set", "lo", "up")
        yield v
    finally:
        ip("netns", "del", v.namespace, check=False)  # takes the peer end, hence the pair
        if ip("link", "show", v.host_if, check=False).returncode == 0:
            ip("link", "del", v.host_if, check=False)
        assert ip("link", "show", v.host_if, check=False).returncode != 0, "the veth was not removed"
        assert v.namespace not in ip("netns", "list").stdout, "the namespace was not removed"


@pytest.fixture
def host_sink(veth):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((veth.host_ip, 0))
    yield s.getsockname()[1]
    s.close()


def test_veth_capture_from_a_namespace(live, veth, host_sink):
    port = host_sink
    sent = payloads(10)
    src = live(interface=veth.host_if, filter=f"udp port {port}", chunksize=10, payload=True)
    src.discover()
    result = {}
    sender = threading.Thread(target=lambda: result.update(port=veth.send_from_namespace(port, sent)), daemon=True)
    sender.start()
    df = within(10, src.read)
    sender.join(10)
    check_udp_rows(df, sent, veth.peer_ip, result["port"], veth.host_ip, port)


def test_veth_dump_keeps_non_ip_packets(live, veth, host_sink, tmp_path):
    """dump() writes every packet the filter passes, IP or not: the namespace's ARP request
    for 10.200.0.1 (and the reply) come before its first datagram."""
    port = host_sink
    sent = payloads(20)
    path = tmp_path / "veth.pcap"
    stream = live.stream(veth.host_if, filter=f"arp or udp port {port}")
    sender = threading.Thread(target=veth.send_from_namespace, args=(port, sent, 0.01), daemon=True)
    sender.start()
    assert within(10, stream.dump, str(path), 12) == 12
    sender.join(10)
    tcpdump = subprocess.run(["tcpdump", "-n", "-r", str(path)], capture_output=True, text=True, timeout=30)
    assert tcpdump.returncode == 0, tcpdump.stderr
    lines = tcpdump.stdout.splitlines()
    assert len(lines) == 12, tcpdump.stdout
    arp = sum(" ARP, " in line for line in lines)
    assert arp >= 1, tcpdump.stdout
    assert sum(f" > {veth.host_ip}.{port}: UDP" in line for line in lines) == 12 - arp, tcpdump.stdout
    df = intake.open_pcap(str(path), payload=True).read()
    assert len(df) == 12 - arp  # intake skips the ARP frames, as it does in any file
    assert [bytes(p) for p in df.payload] == sent[: len(df)]
    assert (df.src_host == veth.peer_ip).all() and (df.dst_host == veth.host_ip).all()


def _wait_captured(src, n, seconds=5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if src.stats()["captured"] >= n:
            return
        time.sleep(0.05)
    pytest.fail(f"the capture thread did not report {n} packets captured within {seconds} s: {src.stats()}")


@pytest.mark.parametrize("consumer", ["after", "during", "read", "to_dataframe"])
def test_veth_removed_ends_the_stream_with_capture_error(live, veth, host_sink, consumer):
    """The interface goes away while the capture runs: the packets captured before it are
    returned, then intake_pcap.CaptureError ends the stream.

    after: nobody reads until the link is gone (the packets wait in the queue);
    during: read_chunked() is blocked in another thread when the link goes;
    read: source.read() with chunksize=100 and 10 packets queued returns them, the next
    read() raises;
    to_dataframe: the same with LiveStream.to_dataframe(100)."""
    port = host_sink
    sent = payloads(10)
    if consumer == "to_dataframe":
        src = live.stream(veth.host_if, filter=f"udp port {port}", payload=True, timeout=200)
    else:
        src = live(interface=veth.host_if, filter=f"udp port {port}", chunksize=1000, timeout=200, payload=True)
        src.discover()

    outcome = {"chunks": []}

    def consume():
        try:
            for chunk in src.read_chunked():
                outcome["chunks"].append(chunk)
        except BaseException as err:  # noqa: BLE001
            outcome["error"] = err

    reader = None
    if consumer == "during":
        reader = threading.Thread(target=consume, daemon=True)
        reader.start()
    src_port = veth.send_from_namespace(port, sent)
    if consumer == "during":
        time.sleep(1.0)  # no stats() here: that is another thread's call while one reads
    else:
        _wait_captured(src, 10)
    ip("link", "del", veth.host_if)

    if consumer in ("read", "to_dataframe"):
        read = src.read if consumer == "read" else lambda: src.to_dataframe(100)
        df = within(8, read)
        check_udp_rows(df, sent, veth.peer_ip, src_port, veth.host_ip, port)
        with pytest.raises(intake_pcap.CaptureError):
            within(8, read)
        return
    if consumer == "after":
        within(8, consume)
    else:
        reader.join(8)
        if reader.is_alive():
            STUCK.append(reader)
            pytest.fail("read_chunked() did not end after the interface went away")
    assert isinstance(outcome.get("error"), intake_pcap.CaptureError), outcome.get("error")
    assert outcome["chunks"], "the packets captured before the interface went away were lost"
    df = pd.concat(outcome["chunks"], ignore_index=True)
    check_udp_rows(df, sent, veth.peer_ip, src_port, veth.host_ip, port)
