"""The QUIC columns and the TLS columns of QUIC client Initials, against tshark 4.0 (which
opens Initial packets itself) on every capture of both corpora and on Initials sealed here
with the ``cryptography`` package, following RFC 9001 and RFC 9369 independently of the
Rust code: versions 1, 2 and draft 29, a ClientHello in one CRYPTO frame, in several out of
order, and over two Initial packets (read at the second, where tshark reassembles it).
JA4 for QUIC is held to ``ja4plus`` through the same hello carried over TCP (``t`` for ``q``).
"""

import hashlib
import hmac
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import intake
import pandas as pd
import pytest

from conftest import CORPUS, CORPUS2, oracle_files

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import synthcap  # noqa: E402

COLUMNS = ["frame", "quic_version", "quic_dcid", "quic_scid", "tls_handshake", "tls_sni", "tls_alpn", "tls_ja4"]
FIELDS = ["frame.number", "quic.version", "quic.dcid", "quic.scid", "tls.handshake.type",
          "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str", "quic.long.packet_type"]
SALTS = {1: "38762cf7f55934b34d179ae6a4c80cadccbb7f0a", 0x6B3343CF: "0dede3def700a6db819381be6e269dcbf9bd2ed9",
         0xFF00001D: "afbfec289993d24c9e9786f19c6111e04390a899"}


def tshark_quic(path, udp_ports=()):
    args = ["tshark", "-n", "-r", str(path), "-Y", "quic.long.packet_type", "-T", "fields", "-E", "separator=\t",
            "-E", "aggregator=,"]
    for port in udp_ports:
        args += ["-d", f"udp.port=={port},quic"]
    for f in FIELDS:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=False).stdout
    return {int(r["frame.number"]): r for r in (dict(zip(FIELDS, line.split("\t"))) for line in out.splitlines())}


def our_rows(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = intake.open_pcap(str(path), columns=COLUMNS, errors="ignore").read()
    rows = {}
    for r in df.itertuples(index=False):
        if pd.isna(r.quic_version):
            continue
        na = lambda v: None if pd.isna(v) else v  # noqa: E731
        rows[int(r.frame)] = {"quic_version": int(r.quic_version), "quic_dcid": r.quic_dcid, "quic_scid": r.quic_scid,
                              "tls_sni": na(r.tls_sni), "tls_ja4": na(r.tls_ja4),
                              "tls_alpn": None if r.tls_alpn is None or r.tls_alpn is pd.NA else list(r.tls_alpn)}
    return rows


def compare(path, udp_ports=()):
    theirs, ours = tshark_quic(path, udp_ports), our_rows(path)
    problems, compared, hellos = [], 0, 0
    seen_hellos = set()
    for frame in sorted(set(theirs) | set(ours)):
        t, o = theirs.get(frame), ours.get(frame)
        if t is None or o is None:
            problems.append((frame, "only one of tshark and us reads a long header", t, o))
            continue
        # A datagram's coalesced packets each have a header: the first is the row's.
        first = {f: t[f].split(",")[0] for f in ("quic.version", "quic.dcid", "quic.scid")}
        want = {"quic_version": int(first["quic.version"], 16), "quic_dcid": first["quic.dcid"].replace(":", ""),
                "quic_scid": first["quic.scid"].replace(":", "")}
        got = {k: o[k] for k in want}
        if got != want:
            problems.append((frame, "header differs", got, want))
        compared += 1
        t_hello = t["tls.handshake.type"].split(",")[0] == "1"
        if o["tls_sni"] is not None or o["tls_ja4"] is not None:
            key = (o["tls_sni"], o["tls_ja4"])
            if not t_hello:
                # tshark reads a connection's CRYPTO stream once: a client Initial that repeats
                # the ClientHello (after a Retry, or a resend) is not dissected again there.
                if key not in seen_hellos:
                    problems.append((frame, "we read a hello tshark does not", o))
                continue
            seen_hellos.add(key)
            want_tls = {"tls_sni": t["tls.handshake.extensions_server_name"] or None,
                        "tls_alpn": [a for a in t["tls.handshake.extensions_alpn_str"].split(",") if a]}
            if {k: o[k] for k in want_tls} != want_tls:
                problems.append((frame, "hello differs", o, want_tls))
            hellos += 1
        elif t_hello:
            problems.append((frame, "tshark reads a hello, we do not", t))
    return compared, hellos, problems


CAPTURES = [(d, n) for d in (CORPUS, CORPUS2) for n in oracle_files(d)]


@pytest.mark.parametrize("directory,name", CAPTURES, ids=[n for _, n in CAPTURES])
def test_quic_columns_match_tshark_on_the_corpora(directory, name):
    _, _, problems = compare(directory / name)
    assert problems == []


def test_the_corpora_hold_quic_to_compare():
    found = [compare(CORPUS / n)[:2] for n in ("ppp_ipv4_ipv6_quic.pcap", "null_af30_ipv6_quic_snaplen256.pcap")]
    assert sum(c for c, _ in found) >= 10 and sum(h for _, h in found) >= 1


# -- Initials sealed here ------------------------------------------------------------------

def _expand_label(secret, label, length):
    full = b"tls13 " + label
    info = struct.pack("!HB", length, len(full)) + full + b"\x00"
    out, block, i = b"", b"", 1
    while len(out) < length:  # HKDF-Expand (RFC 5869) with HMAC-SHA256
        block = hmac.new(secret, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def seal_initial(version, dcid, crypto_frames, pn=0, scid=b"", size=1200):
    """A client Initial of `version` carrying `crypto_frames` [(offset, bytes)], padded to
    `size` bytes, protected as RFC 9001 §5 (RFC 9369 for version 2) says."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    v2 = version == 0x6B3343CF
    initial = hmac.new(bytes.fromhex(SALTS[version]), dcid, hashlib.sha256).digest()
    client = _expand_label(initial, b"client in", 32)
    prefix = b"quicv2 " if v2 else b"quic "
    key, iv, hp = (_expand_label(client, prefix + n, length) for n, length in ((b"key", 16), (b"iv", 12), (b"hp", 16)))
    payload = b"".join(b"\x06" + _varint(off) + _varint(len(data)) + data for off, data in crypto_frames)
    pn_len = 2
    first = 0xC0 | ((1 if v2 else 0) << 4) | (pn_len - 1)
    head = bytes([first]) + struct.pack("!I", version) + bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid + b"\x00"
    length = size - len(head) - 2  # the length field itself takes 2 bytes
    payload += b"\x00" * (length - pn_len - 16 - len(payload))
    header = head + struct.pack("!H", 0x4000 | length) + pn.to_bytes(pn_len, "big")
    nonce = bytes(a ^ b for a, b in zip(iv, pn.to_bytes(12, "big")))
    sealed = AESGCM(key).encrypt(nonce, payload, header)
    sample = sealed[4 - pn_len: 4 - pn_len + 16]
    mask = Cipher(algorithms.AES(hp), modes.ECB()).encryptor().update(sample)
    protected = bytearray(header)
    protected[0] ^= mask[0] & 0x0F
    for i in range(pn_len):
        protected[len(head) + 2 + i] ^= mask[1 + i]
    return bytes(protected) + sealed


def _varint(v):
    if v < 0x40:
        return bytes([v])
    if v < 0x4000:
        return struct.pack("!H", 0x4000 | v)
    return struct.pack("!I", 0x80000000 | v)


def write_datagrams(path, datagrams, port=443, one_flow=False):
    """Each datagram from its own client port, or all from one (`one_flow`)."""
    from scapy.all import IP, UDP, Ether, Raw, wrpcap

    packets = []
    for i, d in enumerate(datagrams):
        sport = 50000 if one_flow else 50000 + i
        p = Ether() / IP(src="192.0.2.1", dst="198.51.100.1") / UDP(sport=sport, dport=port) / Raw(d)
        p.time = 1_700_000_000 + i
        packets.append(p)
    wrpcap(str(path), packets)


def _hello(rng_seed, name):
    import random

    record = synthcap.client_hello(random.Random(rng_seed), name)
    return record[5:]  # the handshake message, without its TLS record header


def test_initials_of_every_version_open_as_tshark_opens_them(tmp_path):
    hellos = [_hello(i, f"host{i}.example") for i in range(6)]
    datagrams = [
        seal_initial(1, bytes(range(8)), [(0, hellos[0])]),
        seal_initial(0xFF00001D, b"\x22" * 20, [(0, hellos[2])], scid=b"\x33" * 4),
        # One hello in three CRYPTO frames, out of order (as Chrome writes them).
        seal_initial(1, b"\x44" * 8, [(200, hellos[3][200:]), (0, hellos[3][:100]), (100, hellos[3][100:200])]),
        # An empty destination connection id, and a packet number of 7.
        seal_initial(1, b"", [(0, hellos[4])], pn=7),
    ]
    path = tmp_path / "quic.pcap"
    write_datagrams(path, datagrams)
    compared, hellos_compared, problems = compare(path)
    assert problems == [] and compared == len(datagrams) and hellos_compared == len(datagrams)
    ours = our_rows(path)
    assert ours[2]["quic_version"] == 0xFF00001D and ours[2]["quic_scid"] == "33333333"
    assert ours[3]["tls_sni"] == "host3.example"


def test_version_2_initials_open_as_they_were_sealed(tmp_path):
    # tshark 4.0 predates RFC 9369's version number (0x6b3343cf) and does not open these;
    # the truth is what the test sealed with the cryptography package.
    hello = _hello(1, "v2.example")
    path = tmp_path / "v2.pcap"
    write_datagrams(path, [seal_initial(0x6B3343CF, b"\x11" * 8, [(0, hello)])])
    assert tshark_quic(path) == {}
    row = our_rows(path)[1]
    assert (row["quic_version"], row["quic_dcid"], row["tls_sni"]) == (0x6B3343CF, "11" * 8, "v2.example")
    assert row["tls_ja4"].startswith("q13d")


def test_a_hello_over_two_initials_is_read_at_the_second_and_a_damaged_one_is_never_read(tmp_path):
    hello = _hello(9, "split.example")
    dcid = b"\x55" * 8
    first = seal_initial(1, dcid, [(0, hello[:150])], pn=0)
    second = seal_initial(1, dcid, [(150, hello[150:])], pn=1)
    damaged = bytearray(seal_initial(1, b"\x66" * 8, [(0, hello)]))
    damaged[600] ^= 1  # in the ciphertext: the tag no longer matches
    path = tmp_path / "split.pcap"
    write_datagrams(path, [first, second, bytes(damaged)], one_flow=True)
    theirs, ours = tshark_quic(path), our_rows(path)
    assert theirs[2]["tls.handshake.extensions_server_name"] == "split.example"  # reassembled
    assert [ours[f]["tls_sni"] for f in (1, 2, 3)] == [None, "split.example", None]
    assert ours[3]["quic_dcid"] == "66" * 8  # the header is still read
    assert compare(path)[2] == []
    # The second half alone (its first Initial not captured), or sent to another connection
    # id, or after a gap in the CRYPTO bytes: no hello, never a guess.
    other = seal_initial(1, b"\x77" * 8, [(150, hello[150:])], pn=1)
    gap = seal_initial(1, dcid, [(160, hello[160:])], pn=1)
    for datagrams in ([second], [first, other], [first, gap]):
        write_datagrams(path, datagrams, one_flow=True)
        assert all(r["tls_sni"] is None for r in our_rows(path).values())


def test_ja4_over_quic_is_ja4plus_over_tcp_with_q(tmp_path):
    from test_tls import ja4plus_fingerprints, write_segments

    hellos = [_hello(20 + i, f"ja4-{i}.example") for i in range(4)]
    quic_path, tcp_path = tmp_path / "q.pcap", tmp_path / "t.pcap"
    write_datagrams(quic_path, [seal_initial(1, bytes([i]) * 8, [(0, h)]) for i, h in enumerate(hellos)])
    segments = []
    for h in hellos:
        segments += [b"\x16\x03\x01" + len(h).to_bytes(2, "big") + h, b"\x15\x03\x03\x00\x02\x02\x28"]
    write_segments(tcp_path, segments)
    reference = ja4plus_fingerprints(tcp_path)
    assert len(reference) == len(hellos)
    ours = [r["tls_ja4"] for _, r in sorted(our_rows(quic_path).items())]
    assert ours == ["q" + j[1:] for _, j in sorted(reference.items())]
