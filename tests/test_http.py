"""The HTTP columns against tshark 4.0, on every capture of both corpora and on synthetic
exchanges of what the corpora lack (methods, bodies by length and by chunks, statuses
without a body, pipelined requests, a port tshark does not know, a response over several
segments).

tshark reassembles a message (header fields and body) and shows its fields at the segment
that completes it; a row here holds the message its own segment carries whole. So where
tshark shows a message reassembled from several segments, our row must be missing
(reassembly is still to come), never a guess.
"""

import subprocess
import warnings

import intake
import pandas as pd
import pytest

from tcp_starts import unplaceable
from conftest import CORPUS, CORPUS2, oracle_files

COLUMNS = ["frame", "http_method", "http_host", "http_uri", "http_user_agent", "http_status", "http_content_type",
           "src_port", "dst_port", "protocol"]
FIELDS = ["frame.number", "http.request.method", "http.host", "http.request.uri", "http.user_agent",
          "http.response.code", "http.content_type", "tcp.segments", "tcp.segment", "frame.protocols", "http.request_in",
          "frame.cap_len", "frame.len"]


def tshark_http(path, decode_as=()):
    """frame -> tshark's HTTP fields; `decode_as`: (transport, port) pairs tshark is told
    carry HTTP (we recognise HTTP by its start line, tshark by port)."""
    args = ["tshark", "-n", "-r", str(path), "-Y", "http.request.method or http.response.code", "-T", "fields",
            "-E", "separator=\t", "-E", "occurrence=f"]
    for transport, port in decode_as:
        args += ["-d", f"{transport}.port=={port},http"]
    for f in FIELDS:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=False).stdout
    return {int(r["frame.number"]): r for r in (dict(zip(FIELDS, line.split("\t"))) for line in out.splitlines())}


def tshark_row(t):
    def text(field):
        # RFC 9110 §5.5: a field value has no leading or trailing whitespace; tshark 4.0
        # drops the leading and keeps the trailing.
        return t[field].rstrip(" \t") or None

    return {"http_method": text("http.request.method"), "http_host": text("http.host"),
            "http_uri": text("http.request.uri"), "http_user_agent": text("http.user_agent"),
            "http_status": int(t["http.response.code"]) if t["http.response.code"] else None,
            "http_content_type": text("http.content_type")}


def our_rows(path, ports=None):
    """frame -> our HTTP columns; `ports` collects each row's (transport, ports)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = intake.open_pcap(str(path), columns=COLUMNS, decapsulate=True, errors="ignore").read()
    rows = {}
    for r in df.itertuples(index=False):
        if pd.isna(r.http_method) and pd.isna(r.http_status):
            continue
        na = lambda v: None if pd.isna(v) else v  # noqa: E731
        if ports is not None:
            ports[int(r.frame)] = (r.protocol, int(r.src_port), int(r.dst_port))
        rows[int(r.frame)] = {"http_method": na(r.http_method), "http_host": na(r.http_host),
                              "http_uri": na(r.http_uri), "http_user_agent": na(r.http_user_agent),
                              "http_status": None if pd.isna(r.http_status) else int(r.http_status),
                              "http_content_type": na(r.http_content_type)}
    return rows


def tshark_not_dissected(path):
    """Frames whose TCP payload tshark does not dissect: its TCP analysis took them for a
    retransmission or out of order (a row reads every packet's own bytes)."""
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-Y", "tcp.analysis.retransmission or "
         "tcp.analysis.spurious_retransmission or tcp.analysis.out_of_order", "-T", "fields", "-e", "frame.number"],
        capture_output=True, text=True, check=False).stdout
    return {int(f) for f in out.split()}


def may_be_missing(t, unplaced):
    """Why our row may have no HTTP where tshark shows some (when it has, it must agree)."""
    if int(t["frame.cap_len"]) < int(t["frame.len"]):
        return "the capture cut the packet: tshark shows what it holds, the message is not whole"
    frames = [int(f) for f in t["tcp.segment"].split(",") if f] or [int(t["frame.number"])]
    for f in frames:
        if f in unplaced:
            return unplaced[f]
    return None


def compare(path, decode_as=()):
    ports = {}
    theirs, ours = tshark_http(path, decode_as), our_rows(path, ports)
    # Where we read HTTP on a port tshark gives another protocol (HTTP on port 22), ask
    # tshark again, told that those ports carry HTTP.
    unknown = {(ports[f][0], p) for f in set(ours) - set(theirs) for p in ports[f][1:]}
    if unknown:
        theirs = tshark_http(path, [*decode_as, *sorted(unknown)])
    problems, compared = [], 0
    skipped = tshark_not_dissected(path)
    unplaced = unplaceable(path, decode_as)
    for frame in sorted(set(theirs) | set(ours)):
        t, o = theirs.get(frame), ours.get(frame)
        if frame in skipped:
            continue
        if t is None:
            problems.append((frame, "we read HTTP where tshark does not", o))
            continue
        if "ipcomp" in t["frame.protocols"].split(":"):
            # tshark inflates IPComp's compressed payload; we do not.
            if o is not None:
                problems.append((frame, "expected missing: inside IPComp", o))
            continue
        if o is None and may_be_missing(t, unplaced):
            continue
        if o is None:
            problems.append((frame, "tshark reads HTTP, we do not", t))
            continue
        want = tshark_row(t)
        if o != want:
            problems.append((frame, "differs", {k: (o[k], want[k]) for k in o if o[k] != want[k]}))
        compared += 1
    return compared, problems


CAPTURES = [(d, n) for d in (CORPUS, CORPUS2) for n in oracle_files(d)]


@pytest.mark.parametrize("directory,name", CAPTURES, ids=[n for _, n in CAPTURES])
def test_http_columns_match_tshark_on_the_corpora(directory, name):
    _, problems = compare(directory / name)
    assert problems == []


def test_the_corpora_hold_http_to_compare():
    compared = sum(compare(d / n)[0] for d, n in CAPTURES
                   if n in ("chrissanders-packets__http_espn.pcapng", "pcap_le_usec_ether_http.pcap"))
    assert compared >= 20


def write_exchange(path, payloads, port=80):
    """One connection: its SYN and SYN-ACK (frames 1 and 2), then each payload one TCP
    segment, client and server in turn as each payload's `from_client` says, with sequence
    numbers that follow on."""
    from scapy.all import IP, TCP, Ether, Raw, wrpcap

    seq = {True: 1000, False: 5000}
    packets = [Ether() / IP(src="192.0.2.1", dst="198.51.100.1") / TCP(sport=40000, dport=port, flags="S", seq=999),
               Ether() / IP(src="198.51.100.1", dst="192.0.2.1") /
               TCP(sport=port, dport=40000, flags="SA", seq=4999, ack=1000)]
    for p in packets:
        p.time = 1_700_000_000 - 1
    for i, (from_client, payload) in enumerate(payloads):
        ip = IP(src="192.0.2.1", dst="198.51.100.1") if from_client else IP(src="198.51.100.1", dst="192.0.2.1")
        sport, dport = (40000, port) if from_client else (port, 40000)
        tcp = TCP(sport=sport, dport=dport, flags="PA", seq=seq[from_client], ack=seq[not from_client])
        seq[from_client] += len(payload)
        p = Ether() / ip / tcp / Raw(payload)
        p.time = 1_700_000_000 + i
        packets.append(p)
    wrpcap(str(path), packets)


EXCHANGE = [
    (True, b"GET /a?b=c HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: test-agent/1.0 (x; y)\r\n\r\n"),
    (False, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nhello"),
    (True, b"POST /submit HTTP/1.1\r\nHost: api.example.com:8080\r\nContent-Type: application/json\r\n"
           b"Content-Length: 13\r\n\r\n{\"key\": true}"),
    (False, b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
            b"4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n"),
    (True, b"HEAD /h HTTP/1.0\r\nhost:  lower.example \r\n\r\n"),
    (False, b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"),
    (True, b"DELETE /item/7 HTTP/1.1\r\nHost: www.example.com\r\n\r\n"
           b"GET /pipelined HTTP/1.1\r\nHost: second.example\r\n\r\n"),
    (False, b"HTTP/1.1 204 No Content\r\n\r\n"),
]


def test_http_columns_match_tshark_on_synthetic_exchanges(tmp_path):
    path = tmp_path / "http.pcap"
    write_exchange(path, EXCHANGE)
    compared, problems = compare(path)
    assert problems == [] and compared == len(EXCHANGE)
    ours = our_rows(path)
    assert ours[3]["http_uri"] == "/a?b=c" and ours[3]["http_user_agent"] == "test-agent/1.0 (x; y)"
    assert ours[6]["http_status"] == 201 and ours[7]["http_host"] == "lower.example"
    assert ours[9]["http_method"] == "DELETE"  # the first of two pipelined requests


def test_http_on_a_port_tshark_does_not_know_and_a_response_over_segments(tmp_path):
    path = tmp_path / "port.pcap"
    write_exchange(path, EXCHANGE[:2], port=5555)
    assert compare(path, decode_as=[("tcp", 5555)]) == (2, [])
    # A response whose body continues in a second segment: tshark shows it at the second,
    # where the message ends, and so do we.
    body = b"x" * 3000
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\nContent-Type: text/plain\r\n\r\n" + body
    split = tmp_path / "split.pcap"
    write_exchange(split, [EXCHANGE[0], (False, response[:1400]), (False, response[1400:])])
    theirs = tshark_http(split)
    assert theirs[5]["tcp.segments"] and theirs[5]["http.response.code"] == "200"
    assert set(our_rows(split)) == {3, 5}
    assert compare(split) == (2, [])


def test_show_app_writes_http_requests_as_tcpdump_does():
    # `pcapframe show --app` adds tcpdump's words for an HTTP request (`: HTTP: GET /
    # HTTP/1.1`) to the line of the segment that completes it. Every request line tcpdump
    # prints in both corpora is ours on the same frame, unless tshark does not place a
    # request there either (tcpdump reads each segment on its own: it prints a request's
    # first segment, a cut one, an HTTP/0.9 line) or says the reader cannot place that
    # segment (its direction's SYN not captured, a segment lost before it). Every request we
    # print is one the http_* columns read on that frame.
    import os
    import re
    import shutil

    env = dict(os.environ, TZ="UTC")
    compared = explained = 0
    problems = []
    paths = [p for d in (CORPUS, CORPUS2) for p in sorted(d.iterdir()) if p.suffix in (".pcap", ".pcapng")]
    for path in paths:
        dump = subprocess.run(["tcpdump", "-#", "-n", "-r", str(path)], capture_output=True, text=True,
                              env=env).stdout
        # (tcpdump closes what a PPP frame carried with "}".)
        theirs = {int(m[1]): m[2].rstrip("}") for m in re.finditer(r"^\s*(\d+)\s.*?: HTTP: ([A-Z]+ .*)$", dump,
                                                                    re.M)}
        # Decapsulated, as tcpdump shows what a tunnel carries.
        ours_lines = subprocess.run([shutil.which("pcapframe"), "show", "--app", "--decapsulate", str(path)],
                                    capture_output=True, text=True, env=env).stdout.splitlines()
        if not theirs and not any(": HTTP: " in line for line in ours_lines):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = intake.open_pcap(str(path), columns=["frame", "http_method"], decapsulate=True).read()
        assert len(ours_lines) == len(rows), path.name
        ours = dict(zip(rows.frame, ours_lines))
        methods = dict(zip(rows.frame, rows.http_method))
        unplaced = unplaceable(path)
        tshark_requests = {f for f, t in tshark_http(path).items() if t["http.request.method"]}
        for frame, words in theirs.items():
            compared += 1
            line = ours.get(frame)
            if line is not None and line.endswith(": HTTP: " + words):
                continue
            if (line is None or ": HTTP: " not in line) and (frame in unplaced or frame not in tshark_requests):
                explained += 1
                continue
            problems.append((path.name, frame, words, line))
        for frame, line in ours.items():
            if ": HTTP: " in line and (pd.isna(methods[frame]) or not line.split(": HTTP: ", 1)[1].startswith(
                    str(methods[frame]) + " ")):
                problems.append((path.name, frame, "not a request of the columns", line))
    assert problems == [], "\n".join(map(str, problems))
    print(f"{compared} request lines of tcpdump, {explained} explained")
    assert compared > 100 and explained < compared / 3, (compared, explained)
