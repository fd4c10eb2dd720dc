"""The flow table against tshark's TCP and UDP streams, on every capture of both corpora.

With both timeouts off, the packets tshark gives one ``tcp.stream``/``udp.stream`` are one
flow here: the same first packet, packet count, first and last time, IP bytes, and the same
side first. tshark reads each file with IP reassembly off (as the oracles were made), so a
packet's streams are those of its outermost TCP/UDP header, which is what a flow without
``decapsulate=`` is keyed by. Differences we judge tshark wrong for are in ``DIFFERS``.
"""

import subprocess
from collections import defaultdict
from functools import lru_cache

import pytest

import intake_pcap
from conftest import CORPUS, CORPUS2, oracle_files
from test_corpus import NS_MAX, oracle_ns, read_oracle

CORPORA = {"corpus": CORPUS, "corpus2": CORPUS2}

FIELDS = ["frame.number", "frame.time_epoch", "tcp.stream", "udp.stream", "ip.len", "ipv6.plen",
          "ip.flags.mf", "ip.frag_offset", "ipv6.fraghdr.more", "ipv6.fraghdr.offset"]

# (file, first packet index of a tshark stream) -> why our flow differs there. The test
# asserts that each entry still differs (a stale entry fails).
DIFFERS: dict[tuple[str, int], str] = {
    ("ether_untagged_vlan_qinq_tcp.pcapng", 1): "the same TCP packets are captured untagged, in "
        "VLAN 100 and in QinQ 200/100: flows are keyed by the outer VLAN id too (as nfstream's), "
        "so these are three flows of three packets; tshark's tcp.stream ignores VLANs",
    ("packetnet__CaptureFiles__ip_packet_bogus_length.pcap", 1): "the IPv4 total length field "
        "is 0 (a TSO capture): bytes are the header's length as written, 0, as Zeek counts them; "
        "tshark's ip.len shows the captured length",
    ("packetnet__CaptureFiles__ipv4_tso_frame.pcap", 1): "the IPv4 total length field is 0 "
        "(TSO): bytes count 0, as Zeek's; tshark's ip.len is the captured length",
}


@lru_cache(maxsize=None)
def tshark_rows(path):
    run = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
         "-T", "fields", "-E", "occurrence=f", "-E", "separator=\t", *sum((["-e", f] for f in FIELDS), [])],
        capture_output=True, text=True, check=False,
    )
    # tshark exits non-zero on a file cut short (its rows are still good), never on a bad field.
    assert "aren't valid" not in run.stderr, run.stderr
    out = run.stdout
    return [dict(zip(FIELDS, line.split("\t"))) for line in out.splitlines()]


def tshark_streams(directory, name):
    """(protocol, stream) -> packets [(packet_index, time_ns, ip bytes, src, fragmented)] for
    the packets whose outermost IP header carries TCP or UDP."""
    oracle = {int(r["frame_number"]): r for r in read_oracle(name, directory)}
    streams = defaultdict(list)
    for t in tshark_rows(directory / name):
        row = oracle.get(int(t["frame.number"]))
        if row is None or row["upper_proto_number"] not in ("6", "17"):
            continue
        proto = "tcp" if row["upper_proto_number"] == "6" else "udp"
        stream = t[f"{proto}.stream"]
        if not stream:
            continue
        # The outermost header's length (occurrence=f can name an inner header of the other
        # version: LISP, 6in4).
        if row["ip_version"] == "4":
            size = int(t["ip.len"])
        else:
            size = int(t["ipv6.plen"]) + 40 if t["ipv6.plen"] not in ("", "0") else 0
        fragmented = t["ip.flags.mf"] in ("1", "True") or t["ipv6.fraghdr.more"] in ("1", "True")
        time = oracle_ns(row["time_epoch"])
        if time is not None and time > NS_MAX:
            time = None  # README: times past 64-bit nanoseconds (the year 2262) are unknown
        streams[proto, int(stream)].append(
            (int(row["packet_index"]), time,
             size, (row["src_host"], row["src_port"]), fragmented))
    return streams


def captures():
    return [pytest.param(d, n, id=f"{label}/{n}") for label, d in CORPORA.items() for n in oracle_files(d)]


@pytest.mark.parametrize("directory,name", captures())
def test_streams_are_flows(directory, name):
    streams = tshark_streams(directory, name)
    flows = intake_pcap.PCAPFlowsSource(str(directory / name), idle_timeout=None, active_timeout=None,
                                        errors="ignore").read()
    ours = {}
    for f in flows.itertuples():
        if f.protocol in ("tcp", "udp") and not pd_isna(f.src_port):
            ours[int(f.first_frame)] = f
    problems = []
    for (proto, stream), packets in sorted(streams.items()):
        first = min(p[0] for p in packets)
        f = ours.get(first)
        why = DIFFERS.get((name, first))
        got = None
        if f is None:
            got = "no flow starts there"
        else:
            flipped = f.history.count("^") % 2 == 1
            first_src = (f.dst_host, str(f.dst_port)) if flipped else (f.src_host, str(f.src_port))
            want_src = min(packets)[3]
            times = [p[1] for p in packets if p[1] is not None]
            checks = {
                "protocol": (f.protocol, proto),
                "packets": (int(f.src_packets + f.dst_packets), len(packets)),
                "first sender": (first_src, want_src),
            }
            if len(times) == len(packets):
                checks["start"] = (f.start.value, min(times))
            else:
                # No time for some packets (Simple Packet Blocks, or past the year 2262): the
                # flow's times are those of the packets that have one.
                checks["start"] = (None if pd_isna(f.start) else f.start.value, min(times, default=None))
            fragmented = any(p[4] for p in packets)
            if not fragmented:
                checks["bytes"] = (int(f.src_bytes + f.dst_bytes), sum(p[2] for p in packets))
                checks["end"] = (None if pd_isna(f.end) else f.end.value, max(times, default=None))
            else:
                # A fragmented datagram counts at its reassembled length here, at its first
                # piece's in tshark (reassembly off), and its later pieces are the flow's
                # packets (as Zeek processes a datagram when its last piece arrives): ours can
                # only be larger and later.
                assert int(f.src_bytes + f.dst_bytes) >= sum(p[2] for p in packets)
                assert f.end.value >= max(times)
            bad = {k: v for k, v in checks.items() if v[0] != v[1]}
            got = bad or None
        if why:
            assert got, f"{name}: stream starting at packet {first} no longer differs ({why}): take it off DIFFERS"
        elif got:
            problems.append(f"{proto}.stream {stream} (first packet {first}): {got}")
    assert not problems, f"{name}: {len(problems)} of {len(streams)} streams differ:\n" + "\n".join(problems[:20])


def pd_isna(x):
    import pandas as pd

    return pd.isna(x)


def test_every_corpus_capture_was_compared():
    """The parametrisation cannot pass vacuously: both corpora are there, with streams."""
    names = [n for d in CORPORA.values() for n in oracle_files(d)]
    assert len(names) == 43 + 116
    with_streams = sum(bool(tshark_streams(d, n)) for d in CORPORA.values() for n in oracle_files(d))
    assert with_streams >= 90  # 95 when written
