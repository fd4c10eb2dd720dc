"""The TLS columns against tshark 4.0 (server name, ALPN, versions, cipher, JA3, JA3S) and
against the ``ja4plus`` package (JA4), on every capture of both corpora and on captures of
real handshakes made here: Python's ``ssl`` (OpenSSL) client and server talking through
memory, their flights written as TCP segments.

A row holds the hello its own segment carries whole; where tshark shows a hello whose
record it reassembled from several segments, our row must be missing (reassembly is still
to come), never a guess. Hellos of QUIC client Initials are held in ``test_quic.py``.
"""

import datetime
import ssl
import struct
import subprocess
import warnings

import intake
import pandas as pd
import pytest

from conftest import CORPUS, CORPUS2, oracle_files
from tcp_starts import unplaceable

COLUMNS = ["frame", "tls_handshake", "tls_sni", "tls_versions", "tls_version", "tls_alpn", "tls_cipher",
           "tls_ja3", "tls_ja3s", "tls_ja4"]
FIELDS = ["frame.number", "tls.handshake.type", "tls.handshake.extensions_server_name",
          "tls.handshake.extensions_alpn_str", "tls.handshake.extensions.supported_version",
          "tls.handshake.version", "tls.handshake.ciphersuite", "tls.handshake.ja3", "tls.handshake.ja3s",
          "tcp.segments", "tcp.segment", "frame.protocols"]


def tshark_hellos(path, decode_as=()):
    """frame -> tshark's fields of the first hello in it (aggregated values joined by ',')."""
    args = ["tshark", "-n", "-r", str(path), "-Y", "tls.handshake.type == 1 or tls.handshake.type == 2",
            "-T", "fields", "-E", "separator=\t", "-E", "aggregator=,"]
    for port in decode_as:
        args += ["-d", f"tcp.port=={port},tls"]
    for f in FIELDS:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=False).stdout
    rows = {}
    for line in out.splitlines():
        row = dict(zip(FIELDS, line.split("\t")))
        rows[int(row["frame.number"])] = row
    return rows


def _numbers(text):
    return [int(v, 16) if v.startswith("0x") else int(v) for v in text.split(",") if v]


def tshark_row(t):
    types = _numbers(t["tls.handshake.type"])
    kind = types[0]
    versions = _numbers(t["tls.handshake.extensions.supported_version"])
    legacy = _numbers(t["tls.handshake.version"])[0]
    ciphers = _numbers(t["tls.handshake.ciphersuite"])
    client = kind == 1
    return {
        "tls_handshake": "client_hello" if client else "server_hello",
        "tls_sni": (t["tls.handshake.extensions_server_name"] or None) if client else None,
        "tls_versions": (versions or [legacy]) if client else None,
        "tls_version": None if client else (versions[0] if versions else legacy),
        "tls_alpn": [a for a in t["tls.handshake.extensions_alpn_str"].split(",") if a],
        "tls_cipher": None if client else ciphers[0],
        "tls_ja3": (t["tls.handshake.ja3"] or None) if client else None,
        "tls_ja3s": None if client else (t["tls.handshake.ja3s"] or None),
    }


def _list(v):
    return None if v is None or v is pd.NA else list(v)


def our_rows(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = intake.open_pcap(str(path), columns=COLUMNS, decapsulate=True, errors="ignore").read()
    rows = {}
    for r in df.itertuples(index=False):
        if pd.isna(r.tls_handshake):
            continue
        na = lambda v: None if pd.isna(v) else v  # noqa: E731
        rows[int(r.frame)] = {
            "tls_handshake": r.tls_handshake, "tls_sni": na(r.tls_sni),
            "tls_versions": None if _list(r.tls_versions) is None else [int(v) for v in r.tls_versions],
            "tls_version": None if pd.isna(r.tls_version) else int(r.tls_version),
            "tls_alpn": _list(r.tls_alpn),
            "tls_cipher": None if pd.isna(r.tls_cipher) else int(r.tls_cipher),
            "tls_ja3": na(r.tls_ja3), "tls_ja3s": na(r.tls_ja3s), "tls_ja4": na(r.tls_ja4),
        }
    return rows


def ja4plus_fingerprints(path):
    """frame -> JA4 from the ja4plus package, reading the capture with scapy itself."""
    from ja4plus import JA4Fingerprinter
    from scapy.utils import PcapReader

    fingerprinter = JA4Fingerprinter()
    out = {}
    with PcapReader(str(path)) as reader:
        for frame, packet in enumerate(reader, start=1):
            value = fingerprinter.process_packet(packet)
            if value:
                out[frame] = value if isinstance(value, str) else value.fingerprint
    return out


def compare(path, decode_as=()):
    """(hellos compared, [problems]) against tshark."""
    theirs, ours = tshark_hellos(path, decode_as), our_rows(path)
    unplaced = unplaceable(path, decode_as, first_only=True)
    problems, compared = [], 0
    for frame in sorted(set(theirs) | set(ours)):
        t, o = theirs.get(frame), ours.get(frame)
        if (o is not None and (o["tls_ja4"] or "").startswith("q")) or (
                t is not None and "quic" in t["frame.protocols"].split(":")):
            continue  # a QUIC client Initial's hello: tests/test_quic.py holds those
        if t is None:
            problems.append((frame, "we read a hello where tshark does not", o))
            continue
        first = int(t["tcp.segment"].split(",")[0]) if t["tcp.segment"] else frame
        if o is None:
            if first not in unplaced and frame not in unplaced:
                problems.append((frame, "tshark reads a hello, we do not", t))
            continue
        want = tshark_row(t)
        got = {k: o[k] for k in want}
        if got != want:
            problems.append((frame, "differs", {k: (got[k], want[k]) for k in want if got[k] != want[k]}))
        compared += 1
    return compared, problems


CAPTURES = [(d, n) for d in (CORPUS, CORPUS2) for n in oracle_files(d)]


@pytest.mark.parametrize("directory,name", CAPTURES, ids=[n for _, n in CAPTURES])
def test_tls_columns_match_tshark_on_the_corpora(directory, name):
    _, problems = compare(directory / name)
    assert problems == []


# -- Real handshakes, made here ---------------------------------------------------------

def _certificate(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test.example")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def handshake_flights(tmp_path, sni, alpn, max_version, ciphers=None):
    """The client's first flight and the server's first flight of a real handshake."""
    cert, key = _certificate(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    client_ctx.maximum_version = max_version
    if ciphers:
        client_ctx.set_ciphers(ciphers)
    if alpn:
        client_ctx.set_alpn_protocols(alpn)
        server_ctx.set_alpn_protocols(alpn[-1:])
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=sni)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    client_hello = c_out.read()
    s_in.write(client_hello)
    with pytest.raises(ssl.SSLWantReadError):
        server.do_handshake()
    return client_hello, s_out.read()


def write_segments(path, payloads, port=443):
    """Each pair of payloads a connection (SYN, SYN-ACK, then each payload as one TCP
    segment: client to server, then server to client)."""
    from scapy.all import IP, TCP, Ether, Raw, wrpcap

    packets = []
    for i, payload in enumerate(payloads):
        forward = i % 2 == 0
        ip = IP(src="192.0.2.1", dst="198.51.100.1") if forward else IP(src="198.51.100.1", dst="192.0.2.1")
        back = IP(src="198.51.100.1", dst="192.0.2.1")
        if forward:
            for p in (Ether() / ip / TCP(sport=40000 + i // 2, dport=port, flags="S", seq=0),
                      Ether() / back / TCP(sport=port, dport=40000 + i // 2, flags="SA", seq=0, ack=1)):
                p.time = 1_700_000_000 + i
                packets.append(p)
        tcp = TCP(sport=40000 + i // 2, dport=port, flags="PA", seq=1, ack=1) if forward else \
            TCP(sport=port, dport=40000 + i // 2, flags="PA", seq=1, ack=1)
        p = Ether() / ip / tcp / Raw(payload)
        p.time = 1_700_000_000 + i
        packets.append(p)
    wrpcap(str(path), packets)


CASES = [
    ("tls13 h2", "www.example.com", ["h2", "http/1.1"], ssl.TLSVersion.TLSv1_3, None),
    ("tls12 no alpn", "api.example.org", None, ssl.TLSVersion.TLSv1_2, None),
    ("no sni", None, ["http/1.1"], ssl.TLSVersion.TLSv1_3, None),
    ("tls12 few ciphers", "old.example.net", ["h2"], ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256"),
]


def test_tls_columns_match_tshark_and_ja4plus_on_real_handshakes(tmp_path):
    payloads = []
    for _, sni, alpn, version, ciphers in CASES:
        payloads.extend(handshake_flights(tmp_path, sni, alpn, version, ciphers))
    path = tmp_path / "tls.pcap"
    write_segments(path, payloads)
    compared, problems = compare(path)
    assert problems == []
    assert compared == 2 * len(CASES)
    ours = our_rows(path)
    ja4 = ja4plus_fingerprints(path)
    assert len(ja4) == len(CASES)
    assert {f: ours[f]["tls_ja4"] for f in ja4} == ja4
    # What the columns promise, beyond agreeing.
    assert ours[3]["tls_sni"] == "www.example.com" and ours[3]["tls_alpn"] == ["h2", "http/1.1"]
    assert 0x0304 in ours[3]["tls_versions"] and ours[4]["tls_version"] == 0x0304
    assert ours[8]["tls_version"] == 0x0303 and ours[8]["tls_alpn"] == []
    assert ours[11]["tls_sni"] is None and ours[11]["tls_ja4"].startswith("t13i")


def test_tls_on_any_port_and_a_hello_split_over_segments(tmp_path):
    client_hello, server_flight = handshake_flights(tmp_path, "split.example", ["h2"], ssl.TLSVersion.TLSv1_3)
    # On port 8443 (tshark needs to be told it is TLS; we recognise the record).
    path = tmp_path / "port.pcap"
    write_segments(path, [client_hello, server_flight], port=8443)
    compared, problems = compare(path, decode_as=[8443])
    assert problems == [] and compared == 2
    # A ClientHello cut over two segments: tshark reassembles it into the second, and so
    # do we, after the connection's SYN. Without the SYN nothing says where a message
    # starts: no row, not a hello guessed from a segment that looks like one.
    from scapy.all import IP, TCP, Ether, Raw, wrpcap

    half = len(client_hello) // 2
    for with_syn in (True, False):
        packets = []
        if with_syn:
            packets.append(Ether() / IP(src="192.0.2.1", dst="198.51.100.1") / TCP(sport=40000, dport=443, flags="S", seq=0))
        for seq, part in [(1, client_hello[:half]), (1 + half, client_hello[half:])]:
            packets.append(Ether() / IP(src="192.0.2.1", dst="198.51.100.1") /
                           TCP(sport=40000, dport=443, flags="PA", seq=seq, ack=1) / Raw(part))
        for i, p in enumerate(packets):
            p.time = 1_700_000_000 + i
        split = tmp_path / "split.pcap"
        wrpcap(str(split), packets)
        last = len(packets)
        assert tshark_hellos(split)[last]["tcp.segments"]
        if with_syn:
            assert set(our_rows(split)) == {last}
            assert compare(split) == (1, [])
        else:
            assert our_rows(split) == {}
            assert compare(split) == (0, [])


def test_the_records_of_a_hello_and_a_bounded_hello(tmp_path):
    # Garbage that starts like a handshake record, and a record claiming 16 KiB more than
    # it holds: no hello, no error.
    path = tmp_path / "junk.pcap"
    write_segments(path, [b"\x16\x03\x01\x40\x00" + b"\x01" * 100, b"\x16\x03\x03\x00\x05\x02\x00\x00\x01\x00"])
    assert our_rows(path) == {}
    assert struct.calcsize("!H") == 2


def test_the_generators_hellos_match_tshark_and_ja4plus(tmp_path):
    # tools/synthcap.py's ClientHellos (GREASE or not, three cipher lists, four ALPN lists,
    # many server names) and ServerHellos: every one read, and read as tshark and ja4plus do.
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
    import synthcap

    path = tmp_path / "synth.pcap"
    synthcap.write_capture(path, 20_000, seed=11)
    compared, problems = compare(path)
    assert problems == [] and compared > 100
    ours = our_rows(path)
    ja4 = ja4plus_fingerprints(path)
    clients = {f for f, r in ours.items() if r["tls_handshake"] == "client_hello"}
    assert set(ja4) == clients
    assert {f: ours[f]["tls_ja4"] for f in ja4} == ja4
    assert len({r["tls_ja4"] for r in ours.values()}) > 4
