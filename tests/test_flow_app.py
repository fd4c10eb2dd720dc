"""The flow table's application columns (``application``, ``server_name``, ``tls_ja4``,
``tls_ja3``, ``tls_ja3s``) against tshark 4.0 on every capture of both corpora.

tshark's fields of each frame give the frame's message: ``ssh.protocol`` (ssh), a TLS
handshake in a QUIC packet (quic) or over TCP (tls), an HTTP request or response over TCP
(http), a DNS message (dns); and its server name: a ClientHello's SNI, an HTTP request's
``http.host``, a DNS question's ``dns.qry.name``. Frames are put in flows by the packet
table's ``flow_id``. A flow's values are then the first of each in frame order, and where
ours has a value it must be tshark's. Where tshark has one and we do not, the message must
be one the stream rules leave out on purpose (its connection's start was not captured, or a
segment before it is missing: ``tcp_starts.unplaceable``), or one of the cases
``MISSED`` names; every other flow tshark names must be named here too.

``tls_ja4`` has no tshark field (4.0): it must be the flow's first packet-table ``tls_ja4``,
which ``test_tls.py`` and ``test_quic.py`` hold to the ``ja4plus`` package.
"""

import subprocess
import warnings
from functools import lru_cache

import intake
import pandas as pd
import pytest

from conftest import CORPUS, CORPUS2, oracle_files
from tcp_starts import unplaceable

APP = ["application", "server_name", "tls_ja4", "tls_ja3", "tls_ja3s"]
FIELDS = ["frame.number", "frame.protocols", "tcp.stream", "udp.stream", "icmp.type", "icmpv6.type",
          "ip.fragments", "ipv6.fragments",
          "ssh.protocol", "tls.handshake.type", "tls.handshake.extensions_server_name", "tls.handshake.ja3",
          "tls.handshake.ja3s", "quic.version", "http.request.method", "http.response.code", "http.host",
          "dns.flags.response", "dns.qry.name"]

# (capture, flow_id) -> why tshark names what we leave missing there. Each must still be
# missing (a stale entry fails).
MISSED: dict[tuple[str, int], str] = {
    ("ether_ipv4_ah_tunnel_ipcomp_tcp.pcap", 3): "HTTP inside IPComp: tshark reads the IP packet "
        "after the IPComp header; we do not decode through IPComp, so the flow is the ipcomp one",
}
# (capture, flow_id) -> (our values, why tshark is wrong there). Each is checked as stated.
TSHARK_WRONG: dict[tuple[str, int], tuple[list, str]] = {
    ("pcap_le_nsec_ether_http.pcap", 1): (
        ["http", "128.3.50.246", None, None],
        "frame 4 is a browser's 'GET / HTTP/1.1' (Host: 128.3.50.246) sent to port 22, answered by "
        "an SSH version line (frame 6): tshark dissects both by the port as ssh and names no "
        "server; by content the flow's first message is the HTTP request"),
}


@lru_cache(maxsize=None)
def tshark_frames(path, decode_as=()):
    args = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]
    for port, protocol in decode_as:
        args += ["-d", f"tcp.port=={port},{protocol}"]
    for f in FIELDS:
        args += ["-e", f]
    run = subprocess.run(args, capture_output=True, text=True, check=False)
    assert "aren't valid" not in run.stderr, run.stderr
    return [dict(zip(FIELDS, line.split("\t"))) for line in run.stdout.splitlines()]


def tshark_message(t):
    """(application, server name, ja3, ja3s) of one frame as tshark dissects it."""
    protocols = t["frame.protocols"].split(":")
    if t["icmp.type"] or t["icmpv6.type"]:
        return None  # an ICMP error quoting a packet: not the flow's own message
    hello = t["tls.handshake.type"]
    if t["ssh.protocol"]:
        return "ssh", None, None, None
    if hello in ("1", "2"):
        app = "quic" if "quic" in protocols else "tls"
        client = hello == "1"
        if app == "quic" and not client:
            return None  # a server's Initial: the QUIC columns open the client's only
        return (app, (t["tls.handshake.extensions_server_name"] or None) if client else None,
                (t["tls.handshake.ja3"] or None) if client else None,
                None if client else (t["tls.handshake.ja3s"] or None))
    if (t["http.request.method"] or t["http.response.code"]) and t["tcp.stream"]:
        return "http", t["http.host"] or None, None, None
    if t["dns.flags.response"]:
        return "dns", t["dns.qry.name"] or None, None, None
    return None


def first_values(messages):
    """A flow's first application, server name, ja3 and ja3s from its frames' messages."""
    out = [None] * 4
    for m in messages:
        for i, v in enumerate(m):
            if out[i] is None and v is not None:
                out[i] = v
    return out


@lru_cache(maxsize=None)
def ours(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flows = intake.open_pcap_flows(str(path), columns=["flow_id", "protocol", *APP], decapsulate=True,
                                       errors="ignore").read()
        packets = intake.open_pcap(str(path), columns=["frame", "flow_id", "tls_ja4"], decapsulate=True,
                                   errors="ignore").read()
    return flows, packets


def _value(v):
    return None if pd.isna(v) else str(v)


def compare(directory, name, decode_as=()):
    """(flows named, [problems]) of one capture against tshark (told that the TCP ports of
    ``decode_as`` [(port, protocol)] carry those protocols)."""
    path = directory / name
    flows, packets = ours(path)
    flow_of = dict(zip(packets["frame"].astype(int), packets["flow_id"].astype("Int64")))
    messages: dict[int, list] = {}
    frames: dict[int, list] = {}
    kinds: dict[int, str] = {}
    for t in tshark_frames(path, tuple(decode_as)):
        frame = int(t["frame.number"])
        m = tshark_message(t)
        flow = flow_of.get(frame)
        if m is None or flow is None or pd.isna(flow):
            continue
        messages.setdefault(int(flow), []).append(m)
        frames.setdefault(int(flow), []).append(frame)
        kinds[frame] = m[0]
    ja4 = packets.dropna(subset=["tls_ja4"]).groupby("flow_id", observed=True)["tls_ja4"].first()
    # A message tshark put together from IP fragments is left out on purpose (README); so is
    # a TCP message its direction's reader could not place, and a TLS hello after another
    # protocol's messages (STARTTLS).
    left_out = unplaceable(path, (), first_only=False)
    after_first = unplaceable(path, (), first_only=True)
    fragmented = {int(t["frame.number"]) for t in tshark_frames(path) if t["ip.fragments"] or t["ipv6.fragments"]}
    named, problems = 0, []
    for r in flows.itertuples(index=False):
        flow = int(r.flow_id)
        got = [_value(r.application), _value(r.server_name), _value(r.tls_ja3), _value(r.tls_ja3s)]
        want = first_values(messages.get(flow, []))
        if (name, flow) in TSHARK_WRONG:
            stated, _ = TSHARK_WRONG[name, flow]
            if got != stated or got == want:
                problems.append((flow, "TSHARK_WRONG is stale", got, want))
            named += 1
            continue

        def explained(f):
            return f in left_out or f in fragmented or (kinds.get(f) == "tls" and f in after_first)
        if _value(r.tls_ja4) != (str(ja4[flow]) if flow in ja4.index else None):
            problems.append((flow, "tls_ja4 is not the flow's first packet's", _value(r.tls_ja4)))
        for field, g, w in zip(["application", "server_name", "tls_ja3", "tls_ja3s"], got, want):
            if g is not None and g != w:
                problems.append((flow, field, g, w))
            elif g is None and w is not None:
                if (name, flow) not in MISSED and not all(explained(f) for f in frames.get(flow, [])):
                    problems.append((flow, field, "missing", w, frames.get(flow, [])[:5]))
        if (name, flow) in MISSED and got[0] is not None:
            problems.append((flow, "MISSED is stale", got))
        named += got[0] is not None
    return named, problems


CAPTURES = [(d, n) for d in (CORPUS, CORPUS2) for n in oracle_files(d)]


@pytest.mark.parametrize("directory,name", CAPTURES, ids=[n for _, n in CAPTURES])
def test_flow_application_columns_match_tshark(directory, name):
    _, problems = compare(directory, name)
    assert not problems, problems[:10]


def test_the_corpora_name_applications_of_every_kind():
    kinds: dict[str, int] = {}
    named = 0
    for directory, name in CAPTURES:
        flows, _ = ours(directory / name)
        for v in flows["application"].dropna():
            kinds[str(v)] = kinds.get(str(v), 0) + 1
        named += flows["server_name"].notna().sum()
    assert {"dns", "tls", "quic", "http"} <= set(kinds), kinds
    assert named > 100, named


# -- Flows made here: what the corpora hold few of -----------------------------------------

def _flows(path):
    return ours(path)[0].set_index("flow_id")


def test_tls_handshakes_split_hellos_and_ssh_on_any_port(tmp_path):
    import ssl

    from test_tls import handshake_flights, write_segments

    cases = [("www.example.com", ["h2"], ssl.TLSVersion.TLSv1_3), ("old.example.net", None, ssl.TLSVersion.TLSv1_2),
             (None, ["http/1.1"], ssl.TLSVersion.TLSv1_3)]
    payloads = []
    for sni, alpn, version in cases:
        payloads.extend(handshake_flights(tmp_path, sni, alpn, version))
    tls = tmp_path / "tls.pcap"
    write_segments(tls, payloads)
    named, problems = compare(tmp_path, "tls.pcap")
    assert problems == [] and named == len(cases)
    flows = _flows(tls)
    assert list(flows["application"]) == ["tls"] * 3
    assert list(flows["server_name"].astype(object).where(flows["server_name"].notna(), None)) == \
        ["www.example.com", "old.example.net", None]
    assert [j[:4] for j in flows["tls_ja4"]] == ["t13d", "t12d", "t13i"] and flows["tls_ja3s"].notna().all()

    # The same on port 8443, the first hello cut over two segments: tshark, told the port is
    # TLS, reassembles it into the second; so do we.
    hello, server_flight = payloads[0], payloads[1]
    from scapy.all import IP, TCP, Ether, Raw, wrpcap

    client, server = IP(src="192.0.2.1", dst="198.51.100.1"), IP(src="198.51.100.1", dst="192.0.2.1")
    half = len(hello) // 2
    packets = [Ether() / client / TCP(sport=40000, dport=8443, flags="S", seq=0),
               Ether() / server / TCP(sport=8443, dport=40000, flags="SA", seq=0, ack=1),
               Ether() / client / TCP(sport=40000, dport=8443, flags="PA", seq=1, ack=1) / Raw(hello[:half]),
               Ether() / client / TCP(sport=40000, dport=8443, flags="PA", seq=1 + half, ack=1) / Raw(hello[half:]),
               Ether() / server / TCP(sport=8443, dport=40000, flags="PA", seq=1, ack=1 + len(hello)) / Raw(server_flight)]
    # SSH on port 22 and on 2222: the version lines, then binary packets.
    for port in (22, 2222):
        packets += [Ether() / client / TCP(sport=41000 + port, dport=port, flags="S", seq=0),
                    Ether() / server / TCP(sport=port, dport=41000 + port, flags="SA", seq=0, ack=1),
                    Ether() / server / TCP(sport=port, dport=41000 + port, flags="PA", seq=1, ack=1) /
                    Raw(b"SSH-2.0-OpenSSH_9.6p1 Debian-3\r\n"),
                    Ether() / client / TCP(sport=41000 + port, dport=port, flags="PA", seq=1, ack=33) /
                    Raw(b"SSH-2.0-OpenSSH_9.2p1\r\n\x00\x00\x05\xdc\x0a\x14" + bytes(40))]
    for i, p in enumerate(packets):
        p.time = 1_700_000_000 + i
    mixed = tmp_path / "mixed.pcap"
    wrpcap(str(mixed), packets)
    named, problems = compare(tmp_path, "mixed.pcap", decode_as=((8443, "tls"), (2222, "ssh")))
    assert problems == [] and named == 3
    flows = _flows(mixed)
    assert list(flows["application"]) == ["tls", "ssh", "ssh"]
    assert flows["server_name"].iloc[0] == "www.example.com"
    assert tshark_frames(mixed, ((8443, "tls"),))[3]["tls.handshake.type"] == "1"  # the hello's second segment


def test_quic_dns_and_http_flows(tmp_path):
    from scapy.all import DNS, DNSQR, IP, TCP, UDP, Ether, Raw, wrpcap

    from test_quic import _hello, seal_initial

    client, server = IP(src="192.0.2.1", dst="198.51.100.1"), IP(src="198.51.100.1", dst="192.0.2.1")
    packets = [
        # QUIC version 1 and draft-29 client Initials.
        Ether() / client / UDP(sport=50000, dport=443) / Raw(seal_initial(1, bytes(range(8)), [(0, _hello(1, "q1.example"))])),
        Ether() / client / UDP(sport=50001, dport=443) /
        Raw(seal_initial(0xFF00001D, b"\x22" * 20, [(0, _hello(2, "q29.example"))], scid=b"\x33" * 4)),
        # A hello over two Initials: named at the second, as tshark reassembles it.
        Ether() / client / UDP(sport=50002, dport=443) / Raw(seal_initial(1, b"\x44" * 8, [(0, _hello(3, "q2x.example")[:200])])),
        Ether() / client / UDP(sport=50002, dport=443) /
        Raw(seal_initial(1, b"\x44" * 8, [(200, _hello(3, "q2x.example")[200:])], pn=1)),
        # DNS over UDP, and over TCP.
        Ether() / client / UDP(sport=53000, dport=53) / DNS(id=7, rd=1, qd=DNSQR(qname="udp.example", qtype="A")),
        Ether() / client / TCP(sport=53001, dport=53, flags="S", seq=0),
        Ether() / server / TCP(sport=53, dport=53001, flags="SA", seq=0, ack=1),
    ]
    query = bytes(DNS(id=8, rd=1, qd=DNSQR(qname="tcp.example", qtype="AAAA")))
    packets.append(Ether() / client / TCP(sport=53001, dport=53, flags="PA", seq=1, ack=1) /
                   Raw(len(query).to_bytes(2, "big") + query))
    # HTTP on port 8080: the request's Host.
    request = b"GET /x HTTP/1.1\r\nHost: web.example:8080\r\nUser-Agent: t\r\n\r\n"
    packets += [Ether() / client / TCP(sport=54000, dport=8080, flags="S", seq=0),
                Ether() / server / TCP(sport=8080, dport=54000, flags="SA", seq=0, ack=1),
                Ether() / client / TCP(sport=54000, dport=8080, flags="PA", seq=1, ack=1) / Raw(request),
                Ether() / server / TCP(sport=8080, dport=54000, flags="PA", seq=1, ack=1 + len(request)) /
                Raw(b"HTTP/1.1 204 No Content\r\n\r\n")]
    for i, p in enumerate(packets):
        p.time = 1_700_000_000 + i
    path = tmp_path / "mixed.pcap"
    wrpcap(str(path), packets)
    named, problems = compare(tmp_path, "mixed.pcap")
    assert problems == [] and named == 6
    flows = _flows(path)
    assert list(flows["application"]) == ["quic", "quic", "quic", "dns", "dns", "http"]
    assert list(flows["server_name"]) == ["q1.example", "q29.example", "q2x.example", "udp.example", "tcp.example",
                                          "web.example:8080"]
    assert flows["tls_ja4"].iloc[0].startswith("q13d") and flows["tls_ja3"].iloc[:2].notna().all()
