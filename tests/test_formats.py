"""Formats and link types the corpus lacks, built byte by byte here: power-of-two
if_tsresol, if_tsoffset, big-endian nanosecond pcap, DLT 12/14 raw IP, LOOP, gzip."""

import gzip
import struct

import intake
import pandas as pd
import pytest

import intake_pcap

# IPv4/UDP 10.0.0.1:1234 -> 10.0.0.2:53 with a 4-byte payload.
IPV4_UDP = (
    bytes([0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
    + struct.pack(">HHHH", 1234, 53, 12, 0)
    + b"ping"
)
ETHERNET = bytes(12) + b"\x08\x00"


def pcap(records, link_type=1, endian="<", magic=0xA1B2C3D4):
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, link_type)
    for secs, frac, data in records:
        out += struct.pack(endian + "IIII", secs, frac, len(data), len(data)) + data
    return out


def option(code, value):
    return struct.pack("<HH", code, len(value)) + value + bytes(-len(value) % 4)


def block(kind, body):
    body += bytes(-len(body) % 4)
    return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def pcapng(link_type, options, timestamp_units, data):
    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = block(1, struct.pack("<HHI", link_type, 0, 0) + options + option(0, b""))
    epb = block(6, struct.pack("<IIIII", 0, timestamp_units >> 32, timestamp_units & 0xFFFFFFFF, len(data), len(data)) + data)
    return shb + idb + epb


def read(tmp_path, name, content, **kwargs):
    path = tmp_path / name
    path.write_bytes(content)
    return intake.open_pcap(str(path), **kwargs).read()


def test_pcapng_power_of_two_resolution_and_offset(tmp_path):
    # 2^-10 s units: 1536 units = 1.5 s; if_tsoffset adds 1_000_000_000 s.
    options = option(9, bytes([0x8A])) + option(14, struct.pack("<q", 1_000_000_000))
    df = read(tmp_path, "pow2.pcapng", pcapng(1, options, 1536 + 1, ETHERNET + IPV4_UDP))
    expected = 1_000_000_001 * 10**9 + 500_000_000 + 976_562  # 1/1024 s floored to ns
    assert df.time[0].value == expected
    assert (df.src_port[0], df.dst_port[0], df.protocol[0]) == (1234, 53, "udp")


def test_pcapng_nanosecond_resolution(tmp_path):
    df = read(tmp_path, "ns.pcapng", pcapng(101, option(9, bytes([9])), 1_700_000_000_123_456_789, IPV4_UDP))
    assert df.time[0] == pd.Timestamp("2023-11-14 22:13:20.123456789")


def test_big_endian_nanosecond_pcap(tmp_path):
    content = pcap([(1_700_000_000, 999_999_999, ETHERNET + IPV4_UDP)], endian=">", magic=0xA1B23C4D)
    df = read(tmp_path, "be_ns.pcap", content)
    assert df.time[0].value == 1_700_000_000 * 10**9 + 999_999_999
    assert df.src_host[0] == "10.0.0.1"


def test_raw_ip_dlt12_dlt14_and_loop(tmp_path):
    for link_type in (12, 14, 101, 228):
        df = read(tmp_path, f"raw{link_type}.pcap", pcap([(1, 0, IPV4_UDP)], link_type=link_type))
        assert list(df.dst_port) == [53], link_type
    loop_be = struct.pack(">I", 2) + IPV4_UDP
    loop_le = struct.pack("<I", 2) + IPV4_UDP
    df = read(tmp_path, "loop.pcap", pcap([(1, 0, loop_be), (2, 0, loop_le)], link_type=108))
    assert len(df) == 2


def test_gzip_is_detected_by_content(tmp_path):
    content = gzip.compress(pcap([(1, 0, ETHERNET + IPV4_UDP)] * 5))
    df = read(tmp_path, "renamed.pcap", content, payload=True)
    assert len(df) == 5 and df.payload[0] == b"ping"


@pytest.mark.parametrize(
    "link_type, header",
    [
        (104, bytes([0x0F, 0x00, 0x08, 0x00])),  # Cisco HDLC
        (9, bytes([0x0F, 0x00, 0x08, 0x00])),  # PPP link carrying Cisco HDLC
        (9, bytes([0xFF, 0x03, 0x02, 0x81, 0x00, 0x01, 0x01, 0x40])),  # PPP -> MPLS (bottom of stack) -> IPv4
        (107, bytes([0x18, 0x41, 0x03, 0xCC])),  # Frame Relay, NLPID IPv4
        (107, bytes([0x18, 0x41, 0x08, 0x00])),  # Frame Relay, Cisco encapsulation
        (226, bytes([1, 2]) + bytes(22)),  # Solaris ipnet, family 2
    ],
    ids=["c_hdlc", "ppp_chdlc", "ppp_mpls", "frelay_nlpid", "frelay_cisco", "ipnet"],
)
def test_wan_and_solaris_link_types(tmp_path, link_type, header):
    df = read(tmp_path, "wan.pcap", pcap([(1, 0, header + IPV4_UDP)], link_type=link_type))
    assert list(df.dst_port) == [53] and list(df.src_host) == ["10.0.0.1"]


def test_unsupported_file_versions_are_refused(tmp_path):
    content = bytearray(pcap([(1, 0, ETHERNET + IPV4_UDP)]))
    content[4:6] = (1).to_bytes(2, "little")  # version 1.4: "archaic" to libpcap
    with pytest.raises(intake_pcap.NotACaptureError, match="version 1.4"):
        read(tmp_path, "old.pcap", bytes(content))
    ng = bytearray(pcapng(1, b"", 0, ETHERNET + IPV4_UDP))
    ng[14:16] = (1).to_bytes(2, "little")  # section version 1.1
    with pytest.raises(intake_pcap.NotACaptureError, match="version 1.1"):
        read(tmp_path, "new.pcapng", bytes(ng))


def test_a_cut_ipv6_fragment_header_is_not_followed(tmp_path):
    ipv6 = bytes([0x60, 0, 0, 0, 0, 16, 44, 64]) + bytes(15) + b"\x01" + bytes(15) + b"\x02"
    frag = bytes([17, 0, 0, 0, 0, 0])  # 6 of its 8 bytes captured
    df = read(tmp_path, "frag.pcap", pcap([(1, 0, bytes(12) + b"\x86\xdd" + ipv6 + frag)]))
    assert list(df.protocol) == ["ipv6-frag"]
