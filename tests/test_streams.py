"""The documented stream and packet classes."""

import dpkt
import pandas as pd
import pytest

from intake_pcap.packet import IPPacket
from intake_pcap.stream import OfflineStream, PacketStream

from conftest import CORPUS

HTTP = str(CORPUS / "intake_pcap_tests_http.pcap")


def test_offline_stream_reads_on_from_where_it_stopped():
    stream = OfflineStream(HTTP)
    assert isinstance(stream, PacketStream)
    first = stream.to_dataframe(10)
    rest = stream.to_dataframe()
    assert (len(first), len(rest)) == (10, 33)
    assert len(stream.to_dataframe()) == 0
    whole = OfflineStream(HTTP).to_dataframe()
    joined = pd.concat([first, rest], ignore_index=True)
    assert (joined.time == whole.time).all()


def test_offline_stream_filter_and_dtype():
    stream = OfflineStream(HTTP, protocol="udp", payload=True)
    assert list(stream.dtype) == ["time", "src_host", "src_port", "dst_host", "dst_port", "protocol", "payload"]
    assert str(stream.dtype["time"]) == "datetime64[ns]"
    df = stream.to_dataframe()
    assert len(df) == 2 and (df.protocol == "udp").all()
    stream = OfflineStream(HTTP)
    stream.set_filter("tcp")
    assert len(stream.to_dataframe()) == 41
    with pytest.raises(ValueError, match="valid names"):
        stream.set_filter("bogus")


def test_ip_packet_attributes_match_dpkt():
    with open(HTTP, "rb") as f:
        frames = [frame for _, frame in dpkt.pcap.Reader(f)]
    checked = 0
    for frame in frames:
        eth = dpkt.ethernet.Ethernet(frame)
        packet = IPPacket(frame)
        assert packet.source_mac_address == ":".join(f"{b:02x}" for b in eth.src)
        assert packet.destination_mac_address == ":".join(f"{b:02x}" for b in eth.dst)
        assert packet.ethernet_protocol == eth.type == 0x0800
        ip = eth.data
        assert packet.source_ip_address == ".".join(str(b) for b in ip.src)
        assert packet.destination_ip_address == ".".join(str(b) for b in ip.dst)
        assert packet.ip_protocol == {6: "tcp", 17: "udp"}[ip.p]
        assert packet.source_ip_port == ip.data.sport
        assert packet.destination_ip_port == ip.data.dport
        assert packet.payload == bytes(ip.data.data)
        checked += 1
    assert checked == 43


def test_ip_packet_of_a_non_ip_frame():
    arp = bytes(12) + b"\x08\x06" + bytes(28)
    packet = IPPacket(arp)
    assert packet.ethernet_protocol == 0x0806
    assert packet.source_ip_address is None and packet.source_ip_port is None and packet.ip_protocol is None


def test_stream_counts_are_checked():
    from intake_pcap.stream import LiveStream

    stream = OfflineStream(HTTP)
    for bad in (2.5, "3", True):
        with pytest.raises(ValueError, match="n must be a whole number of rows"):
            stream.to_dataframe(bad)
    assert len(stream.to_dataframe(None)) == 43
    for name, value in (("max_packet", 0), ("timeout", -5), ("timeout", 1.5)):
        with pytest.raises(ValueError, match=f"{name}= must be a whole number of at least 1"):
            LiveStream("lo", **{name: value})


def test_a_closed_stream_says_so():
    stream = OfflineStream(HTTP)
    assert len(stream.to_dataframe(3)) == 3
    stream.close()
    with pytest.raises(ValueError, match="was closed"):
        stream.to_dataframe()  # not an empty DataFrame, which would read as the end of the file


def test_close_from_another_thread_during_a_stream_read(tmp_path):
    """Either the rows are all there, or the read says the stream was closed."""
    import threading

    big = tmp_path / "big.pcap"
    data = open(HTTP, "rb").read()
    big.write_bytes(data + data[24:] * 2000)  # 43 * 2001 rows
    outcomes = set()
    for delay in (0, 0.001, 0.005, 0.02):
        stream = OfflineStream(str(big))
        timer = threading.Timer(delay, stream.close)
        timer.start()
        try:
            rows = sum(len(stream.to_dataframe(500)) for _ in range(200))
            outcomes.add("complete")
            assert rows == 43 * 2001
        except ValueError as err:
            assert "was closed" in str(err)
            outcomes.add("closed")
        timer.join()
    assert outcomes
