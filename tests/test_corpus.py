"""Every corpus capture through intake.open_pcap, row for row against its tshark oracle."""

import csv
import warnings

import dpkt
import intake
import pandas as pd
import pytest

from conftest import CORPUS, oracle_files

# Independent of the package's own table: IANA numbers to the names the docs promise.
PROTOCOL_NAMES = {
    1: "icmp", 2: "igmp", 4: "ipip", 6: "tcp", 17: "udp", 41: "ipv6", 47: "gre", 50: "esp",
    51: "ah", 58: "icmp6", 103: "pim", 108: "ipcomp", 112: "vrrp", 115: "l2tp", 132: "sctp",
}


def read_oracle(name):
    with open(CORPUS / f"{name}.expected.csv", newline="") as f:
        return list(csv.DictReader(f))


def oracle_ns(text):
    """'1479375975.354415000' as integer nanoseconds, never through a float."""
    if not text:
        return None
    secs, _, frac = text.partition(".")
    return int(secs) * 1_000_000_000 + int(frac.ljust(9, "0")[:9])


@pytest.mark.parametrize("name", oracle_files())
def test_capture_equals_tshark_oracle(name):
    expected = read_oracle(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cut-short capture warns; tested elsewhere
        df = intake.open_pcap(str(CORPUS / name)).read()

    assert len(df) == len(expected)
    assert df["time"].dtype == "datetime64[ns]"
    for row, want in zip(df.itertuples(index=False), expected):
        where = f"{name} packet_index {want['packet_index']}"
        want_ns = oracle_ns(want["time_epoch"])
        got_ns = None if pd.isna(row.time) else row.time.value
        assert got_ns == want_ns, where
        assert row.src_host == want["src_host"], where
        assert row.dst_host == want["dst_host"], where
        assert (None if pd.isna(row.src_port) else int(row.src_port)) == (
            int(want["src_port"]) if want["src_port"] else None
        ), where
        assert (None if pd.isna(row.dst_port) else int(row.dst_port)) == (
            int(want["dst_port"]) if want["dst_port"] else None
        ), where
        number = int(want["upper_proto_number"])
        assert row.protocol == PROTOCOL_NAMES.get(number, str(number)), where


def dpkt_payloads(path):
    """Transport payloads of IPv4/IPv6 TCP and UDP packets, decoded by dpkt."""
    out = []
    with open(path, "rb") as f:
        for _, frame in dpkt.pcap.Reader(f):
            eth = dpkt.ethernet.Ethernet(frame)
            ip = eth.data
            if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) and isinstance(ip.data, (dpkt.tcp.TCP, dpkt.udp.UDP)):
                out.append(bytes(ip.data.data))
    return out


@pytest.mark.parametrize("name", ["pcap_le_usec_ether_http.pcap", "intake_pcap_tests_http.pcap"])
def test_payload_equals_dpkt(name):
    df = intake.open_pcap(str(CORPUS / name), payload=True).read()
    assert list(df.columns) == ["time", "src_host", "src_port", "dst_host", "dst_port", "protocol", "payload"]
    ours = [bytes(p) for p in df["payload"]]
    assert ours == dpkt_payloads(CORPUS / name)
    assert sum(len(p) for p in ours) > 10_000
