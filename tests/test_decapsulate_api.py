"""decapsulate=: the same rows on every Python path (read, read_chunked, partitions, dask,
threads, streams, catalogs, pickling, the command line's --decapsulate), ``protocol=``
following the inner packet, the tunnel columns, and ``IPPacket(..., decapsulate=True)``.

The capture is built here: a VXLAN packet (VNI 0x1234) carrying UDP 192.168.0.1:1234 ->
192.168.0.2:53, an ARP frame, a plain TCP packet, and a VXLAN packet (VNI 7) carrying TCP.
Whether the tunnel columns agree with tshark is tests/test_tunnels.py's business.
"""

from __future__ import annotations

import os
import pickle
import shutil
import socket
import struct
import subprocess
import time

import intake
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from intake_pcap import _native
from intake_pcap.packet import IPPacket
from intake_pcap.stream import LiveStream, OfflineStream

# $PCAPFRAME: a build of the command to test instead of the installed one.
PCAPFRAME = os.environ.get("PCAPFRAME") or shutil.which("pcapframe")

DEFAULT = ["time", "src_host", "src_port", "dst_host", "dst_port", "protocol"]
TUNNEL = ["tunnel", "tunnel_id", "outer_src_host", "outer_dst_host"]
COLUMNS = DEFAULT + TUNNEL + ["src_mac", "ethertype", "length"]

OUTER_MAC = bytes.fromhex("020000000001")
INNER_MAC = bytes.fromhex("0a0000000002")


# -- building the capture ---------------------------------------------------------------


def ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(src: str, dst: str, proto: int, body: bytes) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 1, 0, 64, proto, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    return header[:10] + struct.pack("!H", ip_checksum(header)) + header[12:] + body


def udp(sport: int, dport: int, body: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(body), 0) + body


def tcp(sport: int, dport: int, body: bytes = b"") -> bytes:
    # SYN, data offset 5 words, window 1024; checksum left 0.
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02, 1024, 0, 0) + body


def ether(ethertype: int, body: bytes, src: bytes = OUTER_MAC, dst: bytes = b"\x02\x00\x00\x00\x00\x09") -> bytes:
    return dst + src + struct.pack("!H", ethertype) + body


def vxlan(vni: int, frame: bytes, sport: int) -> bytes:
    """Ethernet/IPv4 10.0.0.1 -> 10.0.0.2/UDP sport -> 4789/VXLAN vni/``frame``."""
    header = struct.pack("!BBHI", 0x08, 0, 0, vni << 8)
    return ether(0x0800, ipv4("10.0.0.1", "10.0.0.2", 17, udp(sport, 4789, header + frame)))


INNER_UDP = ether(0x0800, ipv4("192.168.0.1", "192.168.0.2", 17, udp(1234, 53, b"q")), src=INNER_MAC)
INNER_TCP = ether(0x0800, ipv4("192.168.0.3", "192.168.0.4", 6, tcp(1000, 443)), src=INNER_MAC)
VXLAN_UDP = vxlan(0x1234, INNER_UDP, 50000)
ARP = ether(0x0806, struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, OUTER_MAC, socket.inet_aton("10.0.0.3"),
                                b"\0" * 6, socket.inet_aton("10.0.0.4")))
PLAIN_TCP = ether(0x0800, ipv4("10.0.0.3", "10.0.0.4", 6, tcp(40000, 80)))
VXLAN_TCP = vxlan(7, INNER_TCP, 50001)
FRAMES = [VXLAN_UDP, ARP, PLAIN_TCP, VXLAN_TCP]


def pcap_bytes(frames: list[bytes], start: int = 1_700_000_000) -> bytes:
    """A classic little-endian microsecond pcap of Ethernet ``frames``, one a second."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i, frame in enumerate(frames):
        out.append(struct.pack("<IIII", start + i, 0, len(frame), len(frame)) + frame)
    return b"".join(out)


@pytest.fixture
def capture(tmp_path) -> str:
    path = tmp_path / "vxlan.pcap"
    path.write_bytes(pcap_bytes(FRAMES))
    return str(path)


# What each row holds: (src_host, src_port, dst_host, dst_port, protocol, tunnel, tunnel_id,
# outer_src_host, outer_dst_host).
OUTER_ROWS = [
    ("10.0.0.1", 50000, "10.0.0.2", 4789, "udp", "vxlan", 0x1234, "10.0.0.1", "10.0.0.2"),
    ("10.0.0.3", 40000, "10.0.0.4", 80, "tcp", None, None, "10.0.0.3", "10.0.0.4"),
    ("10.0.0.1", 50001, "10.0.0.2", 4789, "udp", "vxlan", 7, "10.0.0.1", "10.0.0.2"),
]
INNER_ROWS = [
    ("192.168.0.1", 1234, "192.168.0.2", 53, "udp", "vxlan", 0x1234, "10.0.0.1", "10.0.0.2"),
    ("10.0.0.3", 40000, "10.0.0.4", 80, "tcp", None, None, "10.0.0.3", "10.0.0.4"),
    ("192.168.0.3", 1000, "192.168.0.4", 443, "tcp", "vxlan", 7, "10.0.0.1", "10.0.0.2"),
]
ROW_FIELDS = ["src_host", "src_port", "dst_host", "dst_port", "protocol", *TUNNEL]


def value(x):
    if x is None or x is pd.NA or (isinstance(x, float) and pd.isna(x)):
        return None
    return x.item() if hasattr(x, "item") else x


def rows(df: pd.DataFrame) -> list[tuple]:
    return [tuple(value(df[c].iat[i]) for c in ROW_FIELDS) for i in range(len(df))]


def plain(df: pd.DataFrame) -> tuple[list[str], list[tuple]]:
    """``df``'s column names and rows as plain Python values, whatever its dtypes and index
    (chunks and partitions have categories of their own, a Parquet file its own types)."""
    return list(df.columns), [tuple(value(df[c].iat[i]) for c in df.columns) for i in range(len(df))]


# -- the rows ---------------------------------------------------------------------------


def test_without_decapsulate_rows_are_the_outer_packets_and_name_their_tunnels(capture):
    df = intake.open_pcap(capture, columns=COLUMNS).read()
    assert rows(df) == OUTER_ROWS
    assert list(df.outer_src_host.astype(str)) == list(df.src_host.astype(str))
    # The default read is unchanged: the six columns, the outer packets.
    default = intake.open_pcap(capture).read()
    assert list(default.columns) == DEFAULT
    assert [tuple(value(default[c].iat[i]) for c in DEFAULT[1:]) for i in range(3)] == [r[:5] for r in OUTER_ROWS]


def test_with_decapsulate_rows_are_the_inner_packets(capture):
    df = intake.open_pcap(capture, columns=COLUMNS, decapsulate=True).read()
    assert rows(df) == INNER_ROWS
    # The link columns stay the outer frame's.
    assert set(df.src_mac.astype(str)) == {"02:00:00:00:00:01"}
    assert list(df.ethertype) == [0x0800] * 3
    assert list(df.length) == [len(VXLAN_UDP), len(PLAIN_TCP), len(VXLAN_TCP)]
    default = intake.open_pcap(capture, decapsulate=True).read()
    assert list(default.columns) == DEFAULT
    assert [tuple(value(default[c].iat[i]) for c in DEFAULT[1:]) for i in range(3)] == [r[:5] for r in INNER_ROWS]


def test_payload_is_the_inner_packets_with_decapsulate(capture):
    outer = intake.open_pcap(capture, columns=["protocol"], payload=True).read()
    inner = intake.open_pcap(capture, columns=["protocol"], payload=True, decapsulate=True).read()
    assert outer.payload[0] == struct.pack("!BBHI", 0x08, 0, 0, 0x1234 << 8) + INNER_UDP
    assert inner.payload[0] == b"q"
    assert outer.payload[1] == inner.payload[1] == b""


def test_dtypes_of_the_tunnel_columns_and_shared_outer_categories(capture):
    source = intake.open_pcap(capture, columns=COLUMNS, decapsulate=True)
    dtype = source.discover()["dtype"]
    assert {c: dtype[c] for c in TUNNEL} == {
        "tunnel": "category", "tunnel_id": "UInt32", "outer_src_host": "category", "outer_dst_host": "category",
    }
    df = source.read()
    assert {c: str(t) for c, t in df.dtypes.items()} == dtype
    # The outer hosts share their categories, as src_host and dst_host do.
    assert list(df.outer_src_host.cat.categories) == list(df.outer_dst_host.cat.categories)
    assert (df.outer_src_host != df.outer_dst_host).all()
    assert df.src_host.dtype == df.dst_host.dtype


@pytest.mark.parametrize("decapsulate", [False, True])
def test_protocol_follows_the_row_packet(capture, decapsulate):
    counts = {p: len(intake.open_pcap(capture, protocol=p, decapsulate=decapsulate).read()) for p in ("tcp", "udp")}
    # Outer: one TCP packet, two VXLAN (UDP) ones; inner: two TCP, one UDP.
    assert counts == ({"tcp": 2, "udp": 1} if decapsulate else {"tcp": 1, "udp": 2})
    tcp_rows = intake.open_pcap(capture, protocol="tcp", columns=COLUMNS, decapsulate=decapsulate).read()
    want = INNER_ROWS if decapsulate else OUTER_ROWS
    assert rows(tcp_rows) == [r for r in want if r[4] == "tcp"]


def test_filter_keeps_its_meaning_on_the_outer_headers(capture):
    df = intake.open_pcap(capture, filter="udp port 4789", columns=COLUMNS, decapsulate=True).read()
    assert rows(df) == [INNER_ROWS[0], INNER_ROWS[2]]
    assert len(intake.open_pcap(capture, filter="host 192.168.0.1", decapsulate=True).read()) == 0


# -- the same rows on every path --------------------------------------------------------


def test_every_path_gives_the_same_rows(capture, tmp_path):
    source = intake.open_pcap(capture, columns=COLUMNS, decapsulate=True)
    frame = source.read()
    assert rows(frame) == INNER_ROWS
    want = plain(frame)

    chunks = list(intake.open_pcap(capture, columns=COLUMNS, decapsulate=True, chunksize=1).read_chunked())
    assert len(chunks) == 3
    assert plain(pd.concat(chunks)) == want

    assert plain(source.read_partition(0)) == want

    dask_df = source.to_dask()
    computed = dask_df.compute()
    assert {c: str(t) for c, t in dask_df.dtypes.items()} == {c: str(t) for c, t in computed.dtypes.items()}
    assert plain(computed) == want

    threaded = intake.open_pcap(capture, columns=COLUMNS, decapsulate=True, threads=2).read()
    assert plain(threaded) == want

    # Byte-range partitions (one record each, or nearly).
    split = intake.open_pcap(capture, columns=COLUMNS, decapsulate=True, blocksize=64)
    assert split.discover()["npartitions"] > 1
    parts = [split.read_partition(i) for i in range(split.npartitions)]
    assert plain(pd.concat(parts)) == want
    assert plain(split.to_dask().compute()) == want

    stream = OfflineStream(capture, columns=COLUMNS, decapsulate=True)
    assert plain(stream.to_dataframe()) == want
    stream.close()

    assert plain(source.to_arrow().to_pandas()) == want
    copy = pickle.loads(pickle.dumps(source))
    assert copy.decapsulate is True
    assert plain(copy.read()) == want

    # A compressed file streams through another reader (open_reader, not read_capture).
    gz = tmp_path / "vxlan.pcap.xz"
    import lzma

    gz.write_bytes(lzma.compress(pcap_bytes(FRAMES)))
    assert plain(intake.open_pcap(str(gz), columns=COLUMNS, decapsulate=True).read()) == want


def test_native_readers_take_decapsulate(capture):
    batches, _ = _native.read_capture(capture, columns=TUNNEL + ["src_host"], decapsulate=True)
    table = pa.Table.from_batches([pa.record_batch(b) for b in batches])
    assert table.column("src_host").to_pylist() == ["192.168.0.1", "10.0.0.3", "192.168.0.3"]
    reader = _native.CaptureReader(capture, columns=["src_host"], decapsulate=True)
    assert pa.record_batch(next(reader)).column(0).to_pylist() == ["192.168.0.1", "10.0.0.3", "192.168.0.3"]
    with pytest.raises(TypeError):
        _native.read_capture(capture, None, False, "warn", None, None, True)  # keyword only


def test_catalog_entry_takes_decapsulate(capture, tmp_path):
    catalog = tmp_path / "cat.yml"
    catalog.write_text(
        "sources:\n  inner:\n    driver: pcap\n    args:\n"
        f"      urlpath: {capture}\n      columns: [{', '.join(COLUMNS)}]\n      decapsulate: true\n"
    )
    entry = intake.open_catalog(str(catalog)).inner
    df = entry.read()
    assert rows(df) == INNER_ROWS
    assert plain(df) == plain(intake.open_pcap(capture, columns=COLUMNS, decapsulate=True).read())


def test_unknown_argument_message_names_decapsulate(capture):
    with pytest.raises(TypeError, match="decapsulate"):
        intake.open_pcap(capture, decapsulat=True)


def test_to_file_and_the_command_line_write_the_same_rows(capture, tmp_path):
    source = intake.open_pcap(capture, columns=COLUMNS, decapsulate=True)
    ours = tmp_path / "ours.parquet"
    assert source.to_file(str(ours)) == 3
    want = plain(source.read())
    assert plain(pq.read_table(ours).to_pandas()) == want
    if PCAPFRAME is None:
        pytest.skip("pcapframe is not installed: run scripts/setup.sh")
    for decapsulate, expected in ((True, want), (False, plain(intake.open_pcap(capture, columns=COLUMNS).read()))):
        out = tmp_path / f"cli-{decapsulate}.parquet"
        command = [PCAPFRAME, "convert", capture, "-o", str(out), "--columns", ",".join(COLUMNS), "-q"]
        done = subprocess.run(command + (["--decapsulate"] if decapsulate else []), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        got = pq.read_table(out).to_pandas()
        assert plain(got) == expected
        assert rows(got) == (INNER_ROWS if decapsulate else OUTER_ROWS)


def test_many_distinct_inner_hosts_turn_to_text_and_the_outer_pair_stays_categorical(tmp_path):
    """read()'s rule for more than 65,536 distinct hosts applies to each address pair on its
    own: the inner hosts become strings, the two outer ones stay a categorical."""
    n = _native.TEXT_AFTER_DISTINCT_HOSTS // 2 + 100
    frames = []
    for i in range(n):
        a, b = (i >> 8) & 0xFF, i & 0xFF
        inner = ether(0x0800, ipv4(f"10.1.{a}.{b}", f"10.2.{a}.{b}", 17, udp(1, 2, b"")), src=INNER_MAC)
        frames.append(vxlan(1, inner, 3))
    path = tmp_path / "many.pcap"
    path.write_bytes(pcap_bytes(frames))
    df = intake.open_pcap(str(path), columns=DEFAULT + TUNNEL, decapsulate=True).read()
    assert len(df) == n
    assert str(df.src_host.dtype) == str(df.dst_host.dtype) == "string"
    assert str(df.outer_src_host.dtype) == "category" and set(df.outer_src_host) == {"10.0.0.1"}
    assert df.src_host.iat[n - 1] == f"10.1.{((n - 1) >> 8) & 0xFF}.{(n - 1) & 0xFF}"
    # The chunks and dask keep categoricals, as without tunnels.
    chunk = next(intake.open_pcap(str(path), columns=DEFAULT + TUNNEL, decapsulate=True).read_chunked())
    assert str(chunk.src_host.dtype) == "category"


# -- IPPacket ---------------------------------------------------------------------------


def test_ip_packet_decapsulates():
    outer = IPPacket(VXLAN_UDP)
    assert (outer.source_ip_address, outer.source_ip_port, outer.destination_ip_address,
            outer.destination_ip_port, outer.ip_protocol) == ("10.0.0.1", 50000, "10.0.0.2", 4789, "udp")
    assert (outer.tunnel, outer.tunnel_id) == ("vxlan", 0x1234)
    assert (outer.outer_source_ip_address, outer.outer_destination_ip_address) == ("10.0.0.1", "10.0.0.2")

    inner = IPPacket(VXLAN_UDP, decapsulate=True)
    assert (inner.source_ip_address, inner.source_ip_port, inner.destination_ip_address,
            inner.destination_ip_port, inner.ip_protocol) == ("192.168.0.1", 1234, "192.168.0.2", 53, "udp")
    assert inner.payload == b"q"
    assert (inner.tunnel, inner.tunnel_id) == ("vxlan", 0x1234)
    assert (inner.outer_source_ip_address, inner.outer_destination_ip_address) == ("10.0.0.1", "10.0.0.2")
    # The link layer stays the outer frame's.
    assert inner.source_mac_address == "02:00:00:00:00:01" and inner.ethernet_protocol == 0x0800

    tcp_inner = IPPacket(VXLAN_TCP, 1, decapsulate=True)
    assert (tcp_inner.ip_protocol, tcp_inner.destination_ip_port, tcp_inner.tunnel_id) == ("tcp", 443, 7)

    plain_tcp = IPPacket(PLAIN_TCP, decapsulate=True)
    assert plain_tcp.tunnel is None and plain_tcp.tunnel_id is None
    assert plain_tcp.outer_source_ip_address == plain_tcp.source_ip_address == "10.0.0.3"

    arp = IPPacket(ARP, decapsulate=True)
    assert arp.source_ip_address is None and arp.tunnel is None and arp.outer_source_ip_address is None
    assert arp.ethernet_protocol == 0x0806

    fields = _native.decode_packet(VXLAN_UDP, decapsulate=True)
    assert fields["tunnel"] == "vxlan" and fields["outer_source_ip_address"] == "10.0.0.1"
    with pytest.raises(TypeError):
        _native.decode_packet(VXLAN_UDP, 1, True)  # keyword only


# -- live -------------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="live capture needs root or CAP_NET_RAW")
def test_live_capture_decapsulates():
    """A VXLAN datagram sent to 127.0.0.1: the live reader gives the inner packet."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    port = receiver.getsockname()[1]
    vxlan_payload = struct.pack("!BBHI", 0x08, 0, 0, 0x1234 << 8) + INNER_UDP
    # The outer UDP port must be 4789 for the packet to be VXLAN: send from there.
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sender.bind(("127.0.0.1", 4789))
    except OSError:
        pytest.skip("UDP port 4789 is in use")
    capture_filter = f"udp dst port {port}"
    source = intake.open_pcap(None, interface="lo", columns=COLUMNS, filter=capture_filter, chunksize=2,
                              decapsulate=True, timeout=100)
    stream = LiveStream("lo", columns=COLUMNS, filter=capture_filter, decapsulate=True, timeout=100)
    try:
        source.discover()  # capture starts
        time.sleep(0.2)
        for _ in range(2):
            sender.sendto(vxlan_payload, ("127.0.0.1", port))
        df = source.read()
        streamed = stream.to_dataframe(2)
    finally:
        source.close()
        stream.close()
        sender.close()
        receiver.close()
    for got in (df, streamed):
        assert len(got) == 2
        assert rows(got) == [("192.168.0.1", 1234, "192.168.0.2", 53, "udp", "vxlan", 0x1234, "127.0.0.1",
                              "127.0.0.1")] * 2
