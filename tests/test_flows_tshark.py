"""The flow table against tshark's TCP and UDP streams, on every capture of both corpora.

With both timeouts off, the packets tshark gives one ``tcp.stream``/``udp.stream`` are one
flow here: the same first packet, packet count, first and last time, IP bytes, and the same
side first. tshark reads each file with IP reassembly off (as the oracles were made), so a
packet's streams are those of its outermost TCP/UDP header, which is what a flow without
``decapsulate=`` is keyed by. Differences we judge tshark wrong for are in ``DIFFERS``.
"""

import subprocess
import warnings
from collections import defaultdict
from functools import lru_cache

import pytest

import intake_pcap
from conftest import CORPUS, CORPUS2, oracle_files
from test_corpus import NS_MAX, oracle_ns, read_oracle

CORPORA = {"corpus": CORPUS, "corpus2": CORPUS2}

FIELDS = ["frame.number", "frame.time_epoch", "tcp.stream", "udp.stream", "ip.len", "ipv6.plen",
          "ip.flags.mf", "ip.frag_offset", "ipv6.fraghdr.more", "ipv6.fraghdr.offset", "communityid", "frame.protocols"]

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
         "--enable-protocol", "communityid",
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
    # tshark gives Community IDs to compare with in nearly every capture.
    with_ids = sum(any(t["communityid"] for t in tshark_rows(d / n)) for d in CORPORA.values() for n in oracle_files(d))
    assert with_ids >= 140


# -- Join keys on packets ---------------------------------------------------------------

JOIN_COLUMNS = ["src_host", "src_port", "dst_host", "dst_port", "protocol", "frame", "community_id", "flow_id",
                "direction"]

# file -> (packets whose community_id differs from tshark's, why we judge tshark wrong there).
# tshark's Community ID dissector hashes the addresses of the last IP header its dissection
# met, so a packet in which tshark went on into a second IP header is compared with our
# `decapsulate=True` read (the innermost packet), any other with our plain read. The test
# asserts the counts, so an entry cannot go stale.
COMMUNITY_ID_DIFFERS: dict[str, tuple[int, str]] = {
    "ether_ipv4_ah_tunnel_ipcomp_tcp.pcap": (4, "tshark decompresses IPComp and hashes the TCP packet inside; "
        "IPComp is not a tunnel we walk (its payload is compressed), so the row is the IPComp packet"),
    "ether_vlan_gre_variants.pcap": (2, "PIM inside GRE (with Cisco metadata): tshark mixes layers, the inner PIM "
        "packet's addresses with the outer header's protocol (47, GRE); ours hashes the PIM packet's own (103)"),
    "networklessons-labs__packet-captures__ospf-network-type-p2mp-non-broadcast-over-dmvpn.pcapng": (16,
        "OSPF inside GRE: tshark mixes the inner OSPF packet's addresses with the outer protocol (47, GRE)"),
    "pcapng_real_mixed_traffic_nrb_isb.pcapng": (13, "Teredo bubbles: tshark mixes the inner IPv6 addresses with "
        "the outer UDP's protocol and ports; ours hashes the inner IPv6 packet (no next header, no ports)"),
    "networklessons-labs__packet-captures__dmvpn-phase-3-icmp-spoke1-hub-spoke2.pcap": (2, "an NHRP Traffic "
        "Indication quotes an IP packet, which tshark hashes; NHRP is not a tunnel, the row is the GRE packet"),
    "rawip6_229_icmpv6_mldv2.pcap": (2, "MLDv2 reports (ICMPv6 143): ours equals the reference implementation "
        "(the communityid package) for type 143, code 0; tshark's does not"),
    "chrissanders-packets__icmp_traceroute.pcapng": (3, "ICMP time exceeded: tshark hashes the quoted packet; "
        "Community ID hashes the ICMP message's own addresses, type and code, as Zeek and the reference package"),
    "pcapplusplus__PacketExamples__ipsec.pcapng": (1, "AH: tshark hashes the IP header's protocol field (51, AH); "
        "ours hashes the protocol after AH (50, ESP), as the flow key and the protocol column do"),
    "pcapplusplus__PacketExamples__ipv4-options.pcap": (2, "a source route option: tshark takes the route's last "
        "address (0.0.0.0) as the destination; Community ID hashes the header's destination address"),
    "pcapplusplus__pcap_examples__ipv6.dmp": (1, "a LISP control message (port 4342) carries an encapsulated "
        "control message that tshark hashes; it is not a data tunnel, the row is the UDP datagram"),
    "pcapplusplus__pcap_examples__tcp-reassembly.pcap": (1, "an sFlow datagram: tshark hashes the last sampled "
        "packet header inside it; the row is the sFlow UDP datagram"),
}


@pytest.mark.parametrize("directory,name", captures())
def test_packets_carry_frame_community_id_and_their_flow(directory, name):
    path = directory / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cut-short and damaged captures warn; tested elsewhere
        packets = intake_pcap.PCAPSource(str(path), columns=JOIN_COLUMNS, idle_timeout=None,
                                          active_timeout=None).read()
        inner = intake_pcap.PCAPSource(str(path), columns=["frame", "community_id"], decapsulate=True).read()
        flows = intake_pcap.PCAPFlowsSource(str(path), idle_timeout=None, active_timeout=None).read()
    oracle = read_oracle(name, directory)
    # frame: the oracle's packet_index, row for row (test_corpus holds the rows to the oracle).
    assert packets.frame.tolist() == [int(r["packet_index"]) for r in oracle]

    # community_id: tshark's Community ID dissector's, packet by packet.
    theirs = {int(t["frame.number"]): t["communityid"] for t in tshark_rows(path)}
    went_inside = {int(t["frame.number"]) for t in tshark_rows(path)
                   if sum(layer in ("ip", "ipv6") for layer in t["frame.protocols"].split(":")) > 1}
    frame_of = {int(r["packet_index"]): int(r["frame_number"]) for r in oracle}
    innermost = dict(zip(inner.frame, inner.community_id))
    compared, differ = 0, []
    for index, ours in zip(packets.frame, packets.community_id):
        frame = frame_of[int(index)]
        want = theirs.get(frame, "")
        if not want:
            continue
        compared += 1
        got = innermost[index] if frame in went_inside else ours
        if got != want:
            differ.append(f"packet {index}: ours {got}, tshark {want}")
    count, why = COMMUNITY_ID_DIFFERS.get(name, (0, ""))
    assert len(differ) == count, f"{name}: {len(differ)} community ids differ ({why or 'none expected'}):\n" + \
        "\n".join(differ[:20])
    assert compared or not packets.frame.size or not any(theirs.values())

    # flow_id and direction: the flow table's flows, oriented as its rows are.
    assert set(packets.flow_id) == set(flows.flow_id)
    by_id = flows.set_index("flow_id")
    for flow_id, group in packets.groupby("flow_id", sort=False):
        f = by_id.loc[flow_id]
        assert int(group.frame.iloc[0]) == int(f.first_frame)
        assert int(group.frame.iloc[-1]) == int(f.last_frame)
        orig = group[group.direction == "orig"]
        resp = group[group.direction == "resp"]
        assert (orig.src_host.astype(str) == f.src_host).all() and (orig.dst_host.astype(str) == f.dst_host).all()
        assert (resp.src_host.astype(str) == f.dst_host).all() and (resp.dst_host.astype(str) == f.src_host).all()
        if f.protocol in ("tcp", "udp") and not pd_isna(f.src_port):
            known = orig.src_port.notna()  # a later fragment has no ports
            assert (orig.src_port[known] == f.src_port).all(), (name, flow_id)
        if len(group) == f.src_packets + f.dst_packets:  # no fragmented datagram in it
            assert (len(orig), len(resp)) == (f.src_packets, f.dst_packets), (name, flow_id)
