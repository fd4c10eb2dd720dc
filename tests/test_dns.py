"""The DNS columns against tshark 4.0, on every capture of both corpora and on synthetic
captures of what the corpora lack (compression, every answer type the columns show, mDNS,
LLMNR, DNS over TCP, truncated and cut messages, hostile names).

tshark reads each file with IP reassembly off (as the corpus oracles were made) and TCP
reassembly on (its default). A UDP row holds the DNS message its own datagram carries
whole; so where tshark shows the start of one in a first IP fragment, or one quoted inside
an ICMP error, our row must be missing (never a guess): ``expected_missing`` says which. A
TCP row holds the message its segment completes, read from the connection's SYN on; where
tshark reads one and we do not, tshark's own analysis must say why (``tcp_starts``).
"""

import json
import os
import re
import struct
import subprocess
import warnings
from functools import lru_cache

import intake
import pandas as pd
import pytest

from tcp_starts import unplaceable
from conftest import CORPUS, CORPUS2, as_in_dask, oracle_files

COLUMNS = ["frame", "dns_id", "dns_response", "dns_opcode", "dns_rcode", "dns_qname", "dns_qtype", "dns_qclass",
           "dns_answers", "dns_ttls", "dns_truncated"]

# tshark's field for each answer type's value (the others are "TYPE<n>").
VALUE_FIELDS = {1: "dns.a", 28: "dns.aaaa", 5: "dns.cname", 2: "dns.ns", 12: "dns.ptr.domain_name",
                15: "dns.mx.mail_exchange", 33: "dns.srv.target", 16: "dns.txt", 6: "dns.soa.mname",
                39: "dns.dname", 64: "dns.svcb.targetname", 65: "dns.svcb.targetname"}


class _AnyText:
    """A TXT string tshark 4.0 cannot show as it is: it shows TXT as ASCII, each byte past
    0x7f as U+FFFD and controls raw, where the column writes UTF-8 and escapes controls as
    names are written. The synthetic test checks such a value itself."""

    def __eq__(self, other):
        return isinstance(other, str)

    def __repr__(self):
        return "<TXT tshark cannot show>"


TSHARK_CANNOT_SHOW = _AnyText()


class Pairs(list):
    """A JSON object as its (key, value) pairs in order: tshark's JSON repeats a key for
    records with the same summary line (two HTTPS records of one name), which a dict would
    merge into one."""

    def get(self, key, default=None):
        return next((v for k, v in self if k == key), default)

    def __getitem__(self, key):
        if isinstance(key, str):
            value = self.get(key, KeyError)
            if value is KeyError:
                raise KeyError(key)
            return value
        return super().__getitem__(key)

    def __contains__(self, key):
        return any(k == key for k, _ in self)

    def values(self):
        return [v for _, v in self]


def tshark_dns(path):
    """frame number -> what tshark shows of the first DNS message in it."""
    run = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
         "-Y", "dns or mdns or llmnr", "-T", "json", "-J", "frame ip tcp dns mdns llmnr"],
        capture_output=True, text=True, check=False)
    out = {}
    for packet in json.loads(run.stdout or "[]", object_pairs_hook=Pairs):
        layers = packet["_source"]["layers"]
        frame = int(layers["frame"]["frame.number"])
        # mDNS and LLMNR are dissected as protocols of their own, with DNS's fields; a
        # frame with several messages repeats the layer: the first is the row's.
        dns = layers.get("dns") or layers.get("mdns") or layers["llmnr"]
        ips = [v for k, v in layers if k == "ip"]
        ip = ips[-1] if ips else Pairs()
        protocols = layers["frame"]["frame.protocols"]
        out[frame] = {"protocols": protocols,
                      "segments": _segment_frames(layers.get("tcp") or Pairs()),
                      # The DNS message's datagram is a fragment (IPv4 MF flag; an IPv6 fragment header).
                      "fragment": (ip.get("ip.flags_tree", {}).get("ip.flags.mf") == "1"
                                   or "ipv6.fraghdr" in protocols),
                      "dns": dns}
    return out


def _segment_frames(tcp):
    """The frames of the TCP segments a message was reassembled from (none: its own)."""
    tree = tcp.get("tcp.segments") if "tcp.segments" in tcp else None
    if not tree:
        return []
    frames = [v for k, v in tree if k == "tcp.segment"]
    return [int(f) for f in frames]


def _entries(tree):
    """The records of a Queries/Answers subtree, in order."""
    return (tree or Pairs()).values()


def tshark_row(dns):
    flags = dns.get("dns.flags_tree", {})
    row = {"dns_id": int(dns["dns.id"], 16), "dns_response": flags.get("dns.flags.response") == "1",
           "dns_opcode": int(flags["dns.flags.opcode"]), "dns_rcode": int(flags.get("dns.flags.rcode", 0)),
           "dns_truncated": flags.get("dns.flags.truncated") == "1"}
    queries = list(_entries(dns.get("Queries")))
    if queries and "dns.qry.type" in queries[0]:
        q = queries[0]
        row.update(dns_qname=q["dns.qry.name"], dns_qtype=int(q["dns.qry.type"]),
                   dns_qclass=int(q["dns.qry.class"], 16))
    else:
        row.update(dns_qname=None, dns_qtype=None, dns_qclass=None)
    answers, ttls = [], []
    for a in _entries(dns.get("Answers")):
        rtype = int(a["dns.resp.type"])
        field = VALUE_FIELDS.get(rtype)
        if field is None:
            value = f"TYPE{rtype}"
        else:
            value = "".join(v for k, v in a if k == field)  # TXT: its strings, joined
            if rtype == 16 and any(c == "\ufffd" or ord(c) < 0x20 or c == "\x7f" for c in value):
                value = TSHARK_CANNOT_SHOW
        answers.append(value)
        ttls.append(int(a["dns.resp.ttl"]))
    row.update(dns_answers=answers, dns_ttls=ttls)
    return row


def our_rows(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = intake.open_pcap(str(path), columns=COLUMNS, decapsulate=True, errors="ignore").read()
    rows = {}
    for r in df.itertuples(index=False):
        if pd.isna(r.dns_id):
            continue
        rows[int(r.frame)] = {
            "dns_id": int(r.dns_id), "dns_response": bool(r.dns_response), "dns_opcode": int(r.dns_opcode),
            "dns_rcode": int(r.dns_rcode), "dns_truncated": bool(r.dns_truncated),
            "dns_qname": None if pd.isna(r.dns_qname) else r.dns_qname,
            "dns_qtype": None if pd.isna(r.dns_qtype) else int(r.dns_qtype),
            "dns_qclass": None if pd.isna(r.dns_qclass) else int(r.dns_qclass),
            "dns_answers": None if r.dns_answers is None or r.dns_answers is pd.NA else list(r.dns_answers),
            "dns_ttls": None if r.dns_ttls is None or r.dns_ttls is pd.NA else [int(t) for t in r.dns_ttls],
        }
    return rows


def expected_missing(t):
    """Why our row has no DNS where tshark shows some, or None."""
    protocols = t["protocols"].split(":")
    if t["fragment"]:
        return ("the first fragment of a datagram: its message is whole only once the datagram is "
                "reassembled (not yet here; tshark, with IP reassembly off, reads what the fragment holds)")
    first = next(i for i, p in enumerate(protocols) if p in ("dns", "mdns", "llmnr"))
    if any(p in ("icmp", "icmpv6") for p in protocols[:first]):
        return "a message quoted in an ICMP error: the row is the ICMP message"
    return None


def compare(path):
    """(rows compared, [problems])."""
    theirs, ours = tshark_dns(path), our_rows(path)
    unplaced = unplaceable(path)
    problems = []
    compared = 0
    for frame in sorted(set(theirs) | set(ours)):
        t, o = theirs.get(frame), ours.get(frame)
        if t is None:
            problems.append((frame, "we read DNS where tshark does not", o))
            continue
        if expected_missing(t):
            if o is not None:
                problems.append((frame, f"expected missing ({expected_missing(t)})", o))
            continue
        if o is None:
            if not any(f in unplaced for f in t["segments"] or [frame]):
                problems.append((frame, "tshark reads DNS, we do not", t["protocols"]))
            continue
        want = tshark_row(t["dns"])
        if o["dns_answers"] is None and len(want["dns_answers"]) < int(t["dns"].get("dns.count.answers", 0)):
            # The answers could not be read whole, and tshark read fewer than the header
            # counts too (a message cut by the capture): missing, while the header and the
            # question are still tshark's.
            want.update(dns_answers=None, dns_ttls=None)
        if o != want:
            problems.append((frame, "differs", {k: (o[k], want[k]) for k in o if o[k] != want[k]}))
        compared += 1
    return compared, problems


CAPTURES = [(d, n) for d in (CORPUS, CORPUS2) for n in oracle_files(d)]


@pytest.mark.parametrize("directory,name", CAPTURES, ids=[n for _, n in CAPTURES])
def test_dns_columns_match_tshark_on_the_corpora(directory, name):
    _, problems = compare(directory / name)
    assert problems == []


def test_the_corpora_hold_dns_to_compare():
    compared = sum(compare(d / n)[0] for d, n in CAPTURES if n in _WITH_DNS)
    assert compared >= 150


# Captures of both corpora where tshark finds DNS (checked above for all of them).
_WITH_DNS = {"pcapng_real_mixed_traffic_nrb_isb.pcapng", "chrissanders-packets__http_espn.pcapng",
             "pcapplusplus__PcapExamples__sll.pcap", "ether_pppoe_l2tp_ipv6_in_ipv4.pcap",
             "pcapplusplus__PcapExamples__many_interfaces-1.pcapng", "pcapplusplus__PcapExamples__raw_ip.pcap",
             "pcapng_2ifaces_tsresol9_and_6.pcapng"}


# -- Synthetic captures: what the corpora lack ------------------------------------------

def _messages():
    """(name, wire message, transport, sport, dport) for every case the columns name."""
    import dns.flags
    import dns.message
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
    import dns.rrset

    def response(qname, qtype, records, rcode=0, flags=0, id=0x4242):
        q = dns.message.make_query(qname, qtype, id=id)
        r = dns.message.make_response(q)
        r.set_rcode(rcode)
        r.flags |= flags
        for name, ttl, rtype, text in records:
            r.answer.append(dns.rrset.from_text(dns.name.from_text(name), ttl, "IN", rtype, text))
        return r.to_wire()  # compressed, as servers write them

    cases = [
        ("query", dns.message.make_query("www.example.com", "A", id=7).to_wire(), "udp", 40000, 53),
        ("cname chain", response("www.example.com", "A", [
            ("www.example.com", 300, "CNAME", "edge.example.net."),
            ("edge.example.net", 60, "CNAME", "e1.edge.example.net."),
            ("e1.edge.example.net", 20, "A", "192.0.2.10"),
            ("e1.edge.example.net", 20, "A", "192.0.2.11")]), "udp", 53, 40000),
        ("aaaa", response("v6.example.com", "AAAA", [("v6.example.com", 3600, "AAAA", "2001:db8::1"),
                                                      ("v6.example.com", 3600, "AAAA", "::ffff:192.0.2.1")]),
         "udp", 53, 40001),
        ("mx ns ptr", response("example.com", "MX", [
            ("example.com", 10, "MX", "10 mail.example.com."),
            ("example.com", 10, "NS", "ns1.example.com."),
            ("1.2.0.192.in-addr.arpa", 10, "PTR", "host.example.com.")]), "udp", 53, 40002),
        ("txt", response("example.com", "TXT", [
            ("example.com", 5, "TXT", '"v=spf1 -all"'),
            ("example.com", 5, "TXT", '"part one " "part two"'),
            ("example.com", 5, "TXT", '"caf\\195\\169 \\010 line"')]), "udp", 53, 40003),
        ("srv soa dname", response("_sip._tcp.example.com", "SRV", [
            ("_sip._tcp.example.com", 30, "SRV", "10 60 5060 sip.example.com."),
            ("example.com", 30, "SOA", "ns1.example.com. admin.example.com. 1 7200 900 1209600 86400"),
            ("old.example.com", 30, "DNAME", "new.example.com.")]), "udp", 53, 40004),
        ("https svcb", response("example.com", "HTTPS", [
            ("example.com", 300, "HTTPS", '1 . alpn="h3,h2" ipv4hint=192.0.2.1'),
            ("example.com", 300, "HTTPS", "0 cdn.example.net."),
            ("_dns.resolver.arpa", 300, "SVCB", '1 dns.example.net. alpn="dot"')]), "udp", 53, 40005),
        ("unknown types", response("example.com", "CAA", [
            ("example.com", 9, "CAA", '0 issue "ca.example.net"'),
            ("example.com", 9, "TYPE65280", "\\# 3 010203")]), "udp", 53, 40006),
        ("nxdomain", response("nope.example.com", "A", [], rcode=3), "udp", 53, 40007),
        ("truncated", response("big.example.com", "TXT", [], flags=dns.flags.TC), "udp", 53, 40008),
        ("root", dns.message.make_query(".", "NS", id=9).to_wire(), "udp", 40009, 53),
        ("mdns", dns.message.make_query("printer.local", "PTR", id=0).to_wire(), "udp", 5353, 5353),
        ("llmnr", dns.message.make_query("wpad", "A", id=0x3131).to_wire(), "udp", 50000, 5355),
        ("odd names", dns.message.make_query("a\\010b.\\195\\169t\\255.example", "A", id=11).to_wire(),
         "udp", 40010, 53),
    ]
    # mDNS's unicast-response bit on the question class.
    mdns_qu = bytearray(dns.message.make_query("tv.local", "A", id=0).to_wire())
    mdns_qu[-2] |= 0x80
    cases.append(("mdns qu", bytes(mdns_qu), "udp", 5353, 5353))
    # DNS over TCP, whole in one segment.
    tcp = response("tcp.example.com", "A", [("tcp.example.com", 1, "A", "198.51.100.7")], id=0x5151)
    cases.append(("tcp", struct.pack("!H", len(tcp)) + tcp, "tcp", 53, 40011))
    return cases


def _write_capture(path, cases):
    """Each case one datagram, or one TCP segment after its connection's SYN."""
    from scapy.all import IP, TCP, UDP, Ether, Raw, wrpcap

    packets = []
    t = 1_700_000_000.0
    for i, (_, message, transport, sport, dport) in enumerate(cases):
        ip = IP(src="192.0.2.1", dst="198.51.100.1")
        if transport == "udp":
            layer = UDP(sport=sport, dport=dport)
        else:
            syn = Ether() / ip / TCP(sport=sport, dport=dport, flags="S", seq=999)
            syn.time = t + i
            packets.append(syn)
            layer = TCP(sport=sport, dport=dport, flags="PA", seq=1000, ack=1)
        p = Ether() / ip / layer / Raw(message)
        p.time = t + i
        packets.append(p)
    wrpcap(str(path), packets)


def test_dns_columns_match_tshark_on_every_answer_type(tmp_path):
    path = tmp_path / "dns.pcap"
    cases = _messages()
    _write_capture(path, cases)
    compared, problems = compare(path)
    assert problems == []
    assert compared == len(cases)
    rows = our_rows(path)
    # The values themselves, beyond agreeing with tshark: what the columns promise.
    by_case = dict(zip([name for name, *_ in cases], [rows[f] for f in sorted(rows)], strict=True))
    assert by_case["cname chain"]["dns_answers"] == ["edge.example.net", "e1.edge.example.net", "192.0.2.10",
                                                     "192.0.2.11"]
    assert by_case["cname chain"]["dns_ttls"] == [300, 60, 20, 20]
    assert by_case["https svcb"]["dns_answers"] == ["<Root>", "cdn.example.net", "dns.example.net"]
    assert by_case["unknown types"]["dns_answers"] == ["TYPE257", "TYPE65280"]
    assert by_case["txt"]["dns_answers"] == ["v=spf1 -all", "part one part two", "caf\u00e9 \\n line"]
    assert by_case["nxdomain"]["dns_answers"] == [] and by_case["nxdomain"]["dns_rcode"] == 3
    assert by_case["truncated"]["dns_truncated"] is True
    assert by_case["root"]["dns_qname"] == "<Root>"
    assert by_case["mdns qu"]["dns_qclass"] == 1
    assert by_case["query"]["dns_answers"] == [] and by_case["query"]["dns_response"] is False


def test_a_message_cut_by_the_capture_keeps_its_header_and_loses_its_answers(tmp_path):
    # Frames cut at every length inside the answers: never a shorter list of answers.
    from scapy.all import IP, UDP, Ether, Raw, wrpcap

    message = _messages()[1][1]
    frame = bytes(Ether() / IP(src="192.0.2.1", dst="198.51.100.1") / UDP(sport=53, dport=40000) / Raw(message))
    header = 14 + 20 + 8
    path = tmp_path / "cut.pcap"
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for cap in range(header + 12, len(frame) + 1):
            f.write(struct.pack("<IIII", 1_700_000_000, cap, cap, len(frame)) + frame[:cap])
    rows = our_rows(path)
    complete = len(frame) - header
    assert len(rows) == complete - 12 + 1
    for frame_no, row in rows.items():
        captured = frame_no - 1 + 12
        assert row["dns_id"] == 0x4242
        assert row["dns_answers"] is None if captured < complete else len(row["dns_answers"]) == 4
    compared, problems = compare(path)
    assert problems == [] and compared == len(rows)


def test_every_path_and_output_gives_the_same_dns_rows(tmp_path):
    import pyarrow.parquet as pq

    path = CORPUS / "pcapng_real_mixed_traffic_nrb_isb.pcapng"
    cols = ["frame", "dns_qname", "dns_answers", "dns_ttls"]
    whole = intake.open_pcap(str(path), columns=cols).read()
    assert whole.dns_qname.notna().sum() > 40
    threads = intake.open_pcap(str(path), columns=cols, threads=2, blocksize=4096).read()
    pd.testing.assert_frame_equal(threads, whole)
    dask = intake.open_pcap(str(path), columns=cols, blocksize=4096).to_dask().compute().reset_index(drop=True)
    pd.testing.assert_frame_equal(dask, as_in_dask(whole))
    assert intake.open_pcap(str(path), columns=cols).to_polars()["dns_answers"].to_list() == [
        None if a is None or a is pd.NA else list(a) for a in whole.dns_answers]
    # Files: lists stay lists in Parquet and JSON lines, and become JSON arrays in CSV.
    for fmt in ("parquet", "jsonl", "csv"):
        out = tmp_path / f"dns.{fmt}"
        subprocess.run(["pcapframe", "convert", "--columns", ",".join(cols), "-o", str(out), str(path)], check=True)
        if fmt == "parquet":
            back = pq.read_table(out).column("dns_answers").to_pylist()
        elif fmt == "jsonl":
            back = [json.loads(line)["dns_answers"] for line in out.read_text().splitlines()]
        else:
            back = [None if v is pd.NA or (isinstance(v, float)) else json.loads(v)
                    for v in pd.read_csv(out, dtype=str).dns_answers]
        want = [None if a is None or a is pd.NA else list(a) for a in whole.dns_answers]
        assert back == want, fmt


def test_dns_over_tcp_split_over_segments_and_one_after_another(tmp_path):
    # A connection's first message cut over two segments, then two more in one segment:
    # tshark reassembles the first into its second segment, and so do we; the segment with
    # two gives the first of them. Without the SYN, nothing says where a message starts.
    import dns.message
    import dns.rrset
    from scapy.all import IP, TCP, Ether, Raw, wrpcap

    def framed(name, ident):
        r = dns.message.make_response(dns.message.make_query(name, "A", id=ident))
        r.answer.append(dns.rrset.from_text(name + ".", 5, "IN", "A", "198.51.100.9"))
        m = r.to_wire()
        return struct.pack("!H", len(m)) + m

    first, second, third = framed("one.example", 1), framed("two.example", 2), framed("three.example", 3)
    segments = [first[:9], first[9:], second + third]
    for with_syn in (True, False):
        ip = IP(src="198.51.100.1", dst="192.0.2.1")
        packets = [Ether() / ip / TCP(sport=53, dport=40053, flags="SA", seq=999, ack=1)] if with_syn else []
        seq = 1000
        for segment in segments:
            packets.append(Ether() / ip / TCP(sport=53, dport=40053, flags="PA", seq=seq, ack=1) / Raw(segment))
            seq += len(segment)
        for i, p in enumerate(packets):
            p.time = 1_700_000_000 + i
        path = tmp_path / "tcp.pcap"
        wrpcap(str(path), packets)
        rows = our_rows(path)
        compared, problems = compare(path)
        assert problems == []
        if with_syn:
            assert {f: r["dns_qname"] for f, r in rows.items()} == {3: "one.example", 4: "two.example"}
            assert compared == 2
        else:
            assert rows == {} and compared == 0


def _show_and_tcpdump(path):
    """DNS over UDP as `pcapframe show --app` writes it, and as `tcpdump -tttt -n` does
    (its lines that start with the IP header: a radiotap or other link prefix is tcpdump's)."""
    import shutil

    env = dict(os.environ, TZ="UTC")
    kept = "udp port 53 or udp port 5353"
    theirs = subprocess.run(["tcpdump", "-tttt", "-n", "-r", str(path), kept], capture_output=True, text=True,
                            env=env).stdout.splitlines()
    ours = subprocess.run([shutil.which("pcapframe"), "show", "--app", "--filter", kept, str(path)],
                          capture_output=True, text=True, env=env)
    theirs = [line for line in theirs if re.match(r"^\S+ \S+ IP6? ", line)]
    if ours.returncode != 0:
        # A link type libpcap cannot filter (NFLOG): tcpdump cannot either.
        assert "cannot be used on link type" in ours.stderr and theirs == [], ours.stderr
    return ours.stdout.splitlines(), theirs


def test_show_app_writes_dns_as_tcpdump_does(tmp_path):
    # Every DNS datagram of the corpora, every answer type the columns name, and a response
    # cut by the capture at every length: tcpdump 4.99's words, line for line.
    from scapy.all import IP, UDP, Ether, Raw

    synthetic = tmp_path / "dns.pcap"
    _write_capture(synthetic, [c for c in _messages() if c[2] == "udp"])
    message = _messages()[1][1]
    frame = bytes(Ether() / IP(src="192.0.2.1", dst="198.51.100.1") / UDP(sport=53, dport=40000) / Raw(message))
    cut = tmp_path / "cut.pcap"
    with open(cut, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for cap in range(14 + 20 + 8, len(frame) + 1):
            f.write(struct.pack("<IIII", 1_700_000_000, cap, cap, len(frame)) + frame[:cap])
    paths = [p for d in (CORPUS, CORPUS2) for p in sorted(d.iterdir()) if p.suffix in (".pcap", ".pcapng")]
    compared, differ = 0, []
    for path in paths + [synthetic, cut]:
        ours, theirs = _show_and_tcpdump(path)
        ours = set(ours)
        compared += len(theirs)
        differ += [line for line in theirs if line not in ours]
    assert differ == [], f"{len(differ)} of {compared} lines differ, e.g. {differ[:3]}"
    assert compared > 400
