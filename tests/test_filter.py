"""filter=: tcpdump filter expressions (libpcap BPF), held to tcpdump itself.

For every corpus capture tcpdump can read and a broad set of expressions, the rows of
``intake.open_pcap(FILE, filter=EXPR).read()`` must be exactly the rows of
``intake.open_pcap(OUT).read()``, where OUT is what ``tcpdump -r FILE -w OUT EXPR`` kept:
same packets, same order, compared on time (integer ns), hosts, ports and protocol. Where
tcpdump refuses an expression for a file's link type, our read must raise too.
"""

from __future__ import annotations

import csv
import gzip
import shutil
import struct
import subprocess
import warnings
from functools import lru_cache

import intake
import pandas as pd
import pytest

import intake_pcap
from intake_pcap.stream import OfflineStream

from conftest import CORPUS, oracle_files

TCPDUMP = shutil.which("tcpdump")
MIN_READABLE = 30
ERRORS = (ValueError, intake_pcap.CaptureError)

# Classic pcap (what tcpdump -w writes) holds 32-bit seconds, and libpcap itself wraps a
# pcapng time beyond 2106 to 32 bits; times are compared modulo 2**32 seconds.
WRAP_NS = (1 << 32) * 1_000_000_000

# The expressions, each tried on every readable capture. {a} and {b} are the source and
# destination of the file's first IP packet (from its tshark oracle), {v6} the first IPv6
# source; an expression whose address the file lacks is not generated for it.
EXPRESSIONS = [
    # protocols
    "ip", "ip6", "tcp", "udp", "icmp", "icmp6", "proto gre", "ip proto 50", "ip proto 51",
    "sctp", "igmp", "arp", "arp or icmp", "not ip and not ip6", "ip6 proto 58",
    # hosts
    "host {a}", "src host {a}", "dst host {a}", "host {b}", "host {a} and host {b}",
    "src host {a} and dst host {b}", "host {v6}", "not host {a}",
    # networks
    "net 192.168.0.0/16", "src net 10.0.0.0/8", "dst net 172.16.0.0/12", "net 2001:db8::/32",
    "net fe80::/10",
    # ports
    "port 80", "port 53", "portrange 1-1024", "tcp dst port 443", "udp port 53", "src port 80",
    "tcp portrange 1024-65535", "udp portrange 0-1023",
    # encapsulations
    "vlan", "vlan and tcp", "vlan 100", "mpls", "mpls and tcp", "pppoes", "pppoes and ip",
    # bytes at offsets
    "tcp[tcpflags] & tcp-syn != 0", "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0", "ip[8] < 64",
    "udp[8:2] = 0", "icmp[icmptype] = icmp-echo", "ip[6:2] & 0x1fff != 0", "ip6[6] = 17",
    # lengths (on the wire)
    "greater 1000", "less 100", "len >= 200 and len <= 600",
    # combinations
    "tcp and not port 80", "(udp or icmp) and not ip6", "not tcp and not udp",
    "ip and (tcp port 80 or udp port 53)", "(host {a} or host {b}) and not tcp",
    "not (tcp or udp)", "icmp or icmp6 or (udp and greater 500)",
    # link level
    "ether broadcast", "ether multicast", "inbound", "ip broadcast", "ip multicast",
]


# --- tcpdump ------------------------------------------------------------------------

def tcpdump(name: str, *args: str) -> subprocess.CompletedProcess:
    """``tcpdump -r FILE ARGS`` with nanosecond time stamps. tcpdump 4.99 cannot read gzip
    files, so a ``.gz`` capture is decompressed into its standard input (``-r -``): our
    reader still gets the compressed file."""
    path = CORPUS / name
    stdin = None
    source = str(path)
    if name.endswith(".gz"):
        stdin, source = gzip.decompress(path.read_bytes()), "-"
    return subprocess.run(
        [TCPDUMP, "--time-stamp-precision=nano", "-r", source, *args],
        input=stdin, capture_output=True, timeout=60,
    )


def tcpdump_message(proc: subprocess.CompletedProcess) -> str:
    """libpcap's own message from tcpdump's last error line, without tcpdump's prefixes."""
    lines = [ln for ln in proc.stderr.decode(errors="replace").splitlines() if ln.startswith("tcpdump: ")]
    assert lines, f"tcpdump failed (exit {proc.returncode}) without an error line: {proc.stderr!r}"
    message = lines[-1][len("tcpdump: "):]
    for prefix in ("can't parse filter expression: ",):
        if message.startswith(prefix):
            message = message[len(prefix):]
    return message


def tcpdump_readable() -> list[str]:
    """The corpus captures tcpdump reads whole (``tcpdump -r FILE -w /dev/null`` exits 0)."""
    if TCPDUMP is None or not CORPUS.is_dir():
        return []
    return [name for name in oracle_files() if tcpdump(name, "-w", "/dev/null").returncode == 0]


READABLE = tcpdump_readable()


# --- the tshark oracle, for addresses and frame numbers ------------------------------------

@lru_cache(maxsize=None)
def oracle(name: str) -> list[dict]:
    with open(CORPUS / f"{name}.expected.csv", newline="") as f:
        return list(csv.DictReader(f))


def oracle_ns(text: str) -> int | None:
    if not text:
        return None
    secs, _, frac = text.partition(".")
    return int(secs) * 1_000_000_000 + int(frac.ljust(9, "0")[:9])


def addresses(name: str) -> dict:
    rows = oracle(name)
    found = {}
    if rows:
        found["a"], found["b"] = rows[0]["src_host"], rows[0]["dst_host"]
    v6 = [r["src_host"] for r in rows if ":" in r["src_host"]]
    if v6:
        found["v6"] = v6[0]
    return found


def matrix():
    params = []
    for name in READABLE:
        found = addresses(name)
        for template in EXPRESSIONS:
            try:
                expression = template.format(**found)
            except KeyError:
                continue
            params.append(pytest.param(name, expression, id=f"{name}::{template}"))
    return params


MATRIX = matrix()


# --- comparing rows -------------------------------------------------------------------

def norm_ns(ns: int | None) -> int:
    """A time for comparison: libpcap gives a Simple Packet Block (no time; NaT for us)
    time 0, and classic pcap wraps seconds at 2**32."""
    return 0 if ns is None else ns % WRAP_NS


def keys(df: pd.DataFrame) -> list[tuple]:
    """Rows as (time ns, src_host, src_port, dst_host, dst_port, protocol)."""
    times = [None if pd.isna(t) else t.value for t in df["time"]]
    ports = lambda col: [None if pd.isna(p) else int(p) for p in df[col]]  # noqa: E731
    return list(zip(
        (norm_ns(t) for t in times),
        df["src_host"].astype(str), ports("src_port"),
        df["dst_host"].astype(str), ports("dst_port"),
        df["protocol"].astype(str),
    ))


def frame_numbers(name: str, rows: list[tuple]) -> list:
    """tshark's frame numbers of rows, for failure messages (None when not found)."""
    index: dict[tuple, list[str]] = {}
    name = name.split(" ")[0]  # "NAME (big-endian copy)"
    for r in oracle(name):
        key = (norm_ns(oracle_ns(r["time_epoch"])), r["src_host"],
               int(r["src_port"]) if r["src_port"] else None, r["dst_host"],
               int(r["dst_port"]) if r["dst_port"] else None)
        index.setdefault(key, []).append(r["frame_number"])
    return [index.get(row[:5]) for row in rows]


def assert_same_rows(name: str, expression: str, got: pd.DataFrame, want: pd.DataFrame) -> None:
    ours, theirs = keys(got), keys(want)
    if ours == theirs:
        return
    missing = [r for r in theirs if r not in ours]
    extra = [r for r in ours if r not in theirs]
    first = next((i for i, (x, y) in enumerate(zip(ours, theirs)) if x != y), min(len(ours), len(theirs)))
    pytest.fail(
        f"{name} filter={expression!r}: {len(ours)} rows, tcpdump keeps {len(theirs)}; first difference at "
        f"row {first}.\n  kept by tcpdump only (frames {frame_numbers(name, missing[:10])}): {missing[:5]}\n"
        f"  kept by us only (frames {frame_numbers(name, extra[:10])}): {extra[:5]}"
    )


def read(path, **kwargs) -> pd.DataFrame:
    return intake.open_pcap(str(path), **kwargs).read()


def check_against_tcpdump(name: str, expression: str, tmp_path, **kwargs) -> None:
    """The whole contract for one capture and expression (``kwargs`` go to both reads)."""
    out = tmp_path / "tcpdump.pcap"
    proc = tcpdump(name, "-w", str(out), expression)
    if proc.returncode != 0:
        message = tcpdump_message(proc)
        if message == "expression rejects all packets":
            # libpcap's optimiser proved the program is "return 0" for this link type:
            # raising with that message and keeping nothing are both right.
            try:
                df = read(CORPUS / name, filter=expression, **kwargs)
            except ERRORS as err:
                assert message in str(err)
            else:
                assert len(df) == 0, f"{name} filter={expression!r}: libpcap rejects every packet"
            return
        with pytest.raises(ERRORS) as info:
            read(CORPUS / name, filter=expression, **kwargs)
        assert message in str(info.value), f"libpcap's message {message!r} is missing from: {info.value}"
        return
    assert_same_rows(name, expression, read(CORPUS / name, filter=expression, **kwargs), read(out, **kwargs))


# --- the tests ------------------------------------------------------------------------

def test_enough_captures_are_readable_by_tcpdump():
    assert TCPDUMP, "tcpdump is needed for these tests (apt-get install tcpdump)"
    assert len(READABLE) >= MIN_READABLE, f"only {len(READABLE)} corpus captures readable by tcpdump: {READABLE}"
    assert any(n.endswith(".gz") for n in READABLE), "the gzip captures are fed to tcpdump decompressed"
    assert len(MATRIX) >= MIN_READABLE * 40


@pytest.mark.parametrize(("name", "expression"), MATRIX)
def test_filter_keeps_what_tcpdump_keeps(name, expression, tmp_path):
    check_against_tcpdump(name, expression, tmp_path)


@pytest.mark.parametrize(
    ("name", "expression", "protocol"),
    [
        ("intake_pcap_tests_http.pcap", "tcp port 80", "tcp"),
        ("intake_pcap_tests_http.pcap", "tcp port 80", "udp"),  # nothing holds both
        ("intake_pcap_tests_http.pcap", "not tcp", "udp"),
        ("ether_icmpv6_errors_inner_udp.pcap", "icmp6", "icmp6"),
        ("ether_icmpv6_errors_inner_udp.pcap", "ip6", "udp"),
        ("ether_ipv4_ah_tunnel_ipcomp_tcp.pcap", "ip", "ah"),
        ("ether_pppoe_l2tp_ipv6_in_ipv4.pcap", "pppoes", "udp"),
        ("ether_vlan_mpls_tcp.pcap", "vlan and mpls", "tcp"),
        ("pcapng_real_mixed_traffic_nrb_isb.pcapng", "greater 200 and not port 80", "tcp"),
        ("pcapng_real_mixed_traffic_nrb_isb.pcapng", "ip", "udp"),
        ("ppp_ipv4_ipv6_quic.pcap", "ip6", "udp"),
        ("sll_ipv4_sctp_forces.pcap", "ip[8] > 1", "sctp"),
    ],
)
def test_filter_and_protocol_both_hold(name, expression, protocol, tmp_path):
    check_against_tcpdump(name, expression, tmp_path, protocol=protocol)
    df = read(CORPUS / name, filter=expression, protocol=protocol)
    assert len(df) <= len(read(CORPUS / name, filter=expression))
    assert len(df) <= len(read(CORPUS / name, protocol=protocol))


@pytest.mark.parametrize(
    "expression",
    ["tcp port 80 and and", "port 99999", "host 300.1.1.1", "portrange 10-", "(tcp", "len >= 1 and",
     "vlan 5000", "net 10.0.0.0/33", "no_such_keyword", "tcp[tcpflags] & tcp-syn !="],
)
def test_invalid_expression_raises_value_error_with_libpcap_message(expression):
    proc = tcpdump("intake_pcap_tests_http.pcap", "-w", "/dev/null", expression)
    assert proc.returncode != 0, f"tcpdump accepts {expression!r}"
    message = tcpdump_message(proc)
    for opener in (
        lambda: read(CORPUS / "intake_pcap_tests_http.pcap", filter=expression),
        lambda: OfflineStream(str(CORPUS / "intake_pcap_tests_http.pcap"), filter=expression).to_dataframe(),
    ):
        with pytest.raises(ValueError) as info:
            opener()
        assert message in str(info.value), f"libpcap's message {message!r} is missing from: {info.value}"
        assert expression in str(info.value), f"the expression is missing from: {info.value}"


def test_syntax_error_is_named_as_such():
    with pytest.raises(ValueError, match="syntax error"):
        read(CORPUS / "intake_pcap_tests_http.pcap", filter="tcp and or udp")


SNAP = "null_af30_ipv6_quic_snaplen256.pcap"


@pytest.mark.parametrize("expression", ["greater 1000", "greater 257", "less 300", "less 256", "len > 1200"])
def test_lengths_are_wire_lengths_on_a_snaplen_truncated_capture(expression, tmp_path):
    """Every packet of this capture was cut to 256 bytes; greater/less see the wire length."""
    rows = oracle(SNAP)
    assert any(int(r["cap_len"]) < int(r["frame_len"]) for r in rows)
    assert max(int(r["cap_len"]) for r in rows) <= 256 < max(int(r["frame_len"]) for r in rows)
    check_against_tcpdump(SNAP, expression, tmp_path)
    # And independently of tcpdump: tshark's frame_len is the wire length.
    op, n = expression.split()[-2:] if expression.startswith("len") else expression.split()
    n = int(n)
    test = {"greater": lambda length: length >= n, "less": lambda length: length <= n,
            ">": lambda length: length > n}[op]
    want = [norm_ns(oracle_ns(r["time_epoch"])) for r in rows if test(int(r["frame_len"]))]
    got = [norm_ns(t.value) for t in read(CORPUS / SNAP, filter=expression)["time"]]
    assert got == want
    if expression in ("greater 1000", "greater 257"):
        assert want, "the test needs packets longer on the wire than captured"


MIXED = {
    # name: interfaces whose packets libpcap's byte-order rule leaves undecided (see below)
    "pcapng_be_3ifaces_ether_null_isb_spb.pcapng": {"1"},
    "pcapng_le_3sections_ether_null_spb_custom.pcapng": set(),
}


@pytest.mark.parametrize("name", sorted(MIXED))
def test_files_mixing_link_types(name):
    """tcpdump cannot read these (Ethernet and NULL interfaces in one file). The program is
    compiled for each link type, so what each packet carries decides, and an expression one
    of the link types cannot take is an error, not a silent pass. The oracle is tshark's.

    libpcap reads a NULL header's address family in the file's byte order; the big-endian
    file's NULL packet carries a little-endian family, so whether IP expressions match it
    is left open (its row is not compared for them)."""
    rows = oracle(name)
    assert {r["interface_id"] for r in rows} >= {"0", "1"}
    open_rows = {(oracle_ns(r["time_epoch"]), r["src_host"]) for r in rows if r["interface_id"] in MIXED[name]}
    for expression, keep, link_independent in [
        ("greater 300", lambda r: int(r["frame_len"]) >= 300, True),
        ("less 200", lambda r: int(r["frame_len"]) <= 200, True),
        ("udp port 67", lambda r: "67" in (r["src_port"], r["dst_port"]), False),
        ("host 255.255.255.255 and less 200",
         lambda r: r["dst_host"] == "255.255.255.255" and int(r["frame_len"]) <= 200, False),
        ("ip", lambda r: True, False),
        ("ip6", lambda r: False, False),
    ]:
        df = read(CORPUS / name, filter=expression)
        got = [(None if pd.isna(t) else t.value, s) for t, s in zip(df["time"], df["src_host"].astype(str))]
        want = [(oracle_ns(r["time_epoch"]), r["src_host"]) for r in rows if keep(r)]
        if not link_independent:
            got = [k for k in got if k not in open_rows]
            want = [k for k in want if k not in open_rows]
        assert got == want, expression
    with pytest.raises(ERRORS, match="no VLAN support for BSD loopback"):
        read(CORPUS / name, filter="vlan")


def big_endian_null_copy(name: str, out) -> None:
    """A little-endian LINKTYPE_NULL pcap rewritten as a big-endian host would have written
    it: header, record headers and the NULL header's address family all big-endian."""
    data = (CORPUS / name).read_bytes()
    header = struct.unpack("<IHHiIII", data[:24])
    assert header[0] == 0xA1B2C3D4 and header[6] == 0
    parts = [struct.pack(">IHHiIII", *header)]
    at = 24
    while at + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack_from("<IIII", data, at)
        body = data[at + 16: at + 16 + incl]
        family = struct.unpack_from("<I", body)[0]
        parts.append(struct.pack(">IIII", sec, frac, incl, orig) + struct.pack(">I", family) + body[4:])
        at += 16 + incl
    assert at == len(data)
    out.write_bytes(b"".join(parts))


@pytest.mark.parametrize("name", ["null_af2_ipv4_radius.pcap", "null_af30_ipv6_quic_snaplen256.pcap"])
@pytest.mark.parametrize("template", ["ip", "ip6", "udp", "not ip", "host {a}", "greater 200", "udp and less 300"])
def test_big_endian_null_capture(name, template, tmp_path):
    """A NULL header's address family is in the writing host's byte order, which libpcap
    takes to be the file's: tcpdump matches 'ip' on a big-endian file's big-endian AF_INET."""
    src = tmp_path / "be.pcap"
    big_endian_null_copy(name, src)
    expression = template.format(**addresses(name))
    out = tmp_path / "tcpdump.pcap"
    proc = subprocess.run([TCPDUMP, "--time-stamp-precision=nano", "-r", str(src), "-w", str(out), expression],
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert keys(read(src)) == keys(read(CORPUS / name))  # the copy reads as the original
    assert_same_rows(f"{name} (big-endian copy)", expression, read(src, filter=expression), read(out))


def test_cut_short_capture_keeps_what_tcpdump_kept(tmp_path):
    name = "pcap_cut_short_mid_record.pcap"
    out = tmp_path / "tcpdump.pcap"
    proc = tcpdump(name, "-w", str(out), "ip")
    assert proc.returncode != 0 and "truncated dump file" in tcpdump_message(proc)
    with pytest.warns(intake_pcap.CaptureWarning):
        got = read(CORPUS / name, filter="ip")
    assert_same_rows(name, "ip", got, read(out))
    with pytest.raises(intake_pcap.TruncatedCaptureError):
        read(CORPUS / name, filter="ip", errors="raise")


HTTP = CORPUS / "intake_pcap_tests_http.pcap"


def test_empty_expression_keeps_everything():
    assert keys(read(HTTP, filter="")) == keys(read(HTTP))
    assert keys(read(HTTP, filter=None)) == keys(read(HTTP))


def test_offline_stream_filter(tmp_path):
    out = tmp_path / "tcpdump.pcap"
    assert tcpdump(HTTP.name, "-w", str(out), "tcp port 80 and greater 100").returncode == 0
    want = keys(read(out))
    assert 0 < len(want) < len(read(HTTP))

    stream = OfflineStream(str(HTTP), filter="tcp port 80 and greater 100")
    assert keys(stream.to_dataframe()) == want
    # n rows at a time: the filter holds across the pieces
    stream = OfflineStream(str(HTTP), protocol=None, payload=False, filter="tcp port 80 and greater 100")
    pieces = []
    while len(piece := stream.to_dataframe(4)):
        pieces.append(piece)
    assert keys(pd.concat(pieces, ignore_index=True)) == want
    stream.close()
    # with protocol=, and with set_filter (the protocol) afterwards
    assert len(OfflineStream(str(HTTP), protocol="udp", filter="tcp port 80").to_dataframe()) == 0
    stream = OfflineStream(str(HTTP), filter="port 53 or port 80")
    stream.set_filter("udp")
    assert keys(stream.to_dataframe()) == keys(read(HTTP, filter="udp port 53"))
    # payload rows follow the filter
    stream = OfflineStream(str(HTTP), payload=True, filter="tcp port 80 and greater 100")
    df = stream.to_dataframe()
    assert keys(df) == want and "payload" in df.columns


def test_filter_reaches_every_way_of_reading(tmp_path):
    """read(), read_chunked(), read_partition(), to_dask() and to_arrow() all filter, on
    every file of a glob."""
    names = ["intake_pcap_tests_http.pcap", "pcap_le_usec_ether_http.pcap", "ether_vlan_mpls_tcp.pcap"]
    for i, name in enumerate(names):
        shutil.copy(CORPUS / name, tmp_path / f"part{i}.pcap")
    expression = "tcp and greater 80"
    want = [keys(read(CORPUS / n, filter=expression)) for n in names]
    assert all(want) and want != [keys(read(CORPUS / n)) for n in names]

    source = intake.open_pcap(str(tmp_path / "part*.pcap"), filter=expression, chunksize=7)
    assert keys(source.read()) == sum(want, [])
    assert keys(pd.concat(list(source.read_chunked()), ignore_index=True)) == sum(want, [])
    assert [keys(source.read_partition(i)) for i in range(len(names))] == want
    assert keys(source.to_dask().compute().reset_index(drop=True)) == sum(want, [])
    assert source.to_arrow().num_rows == len(sum(want, []))


def test_filter_from_a_catalog(tmp_path):
    shutil.copy(HTTP, tmp_path / "local.pcap")
    (tmp_path / "catalog.yml").write_text(
        "sources:\n"
        "  web:\n"
        "    driver: pcap\n"
        "    args:\n"
        "      urlpath: '{{ CATALOG_DIR }}/local.pcap'\n"
        "      filter: 'tcp port 80 and tcp[tcpflags] & tcp-syn != 0'\n"
        "  web_udp:\n"
        "    driver: pcap\n"
        "    args:\n"
        "      urlpath: '{{ CATALOG_DIR }}/local.pcap'\n"
        "      filter: 'port 53 or port 80'\n"
        "      protocol: udp\n"
    )
    out = tmp_path / "tcpdump.pcap"
    assert tcpdump(HTTP.name, "-w", str(out), "tcp port 80 and tcp[tcpflags] & tcp-syn != 0").returncode == 0
    cat = intake.open_catalog(str(tmp_path / "catalog.yml"))
    syn = cat.web.read()
    assert keys(syn) == keys(read(out))
    assert 0 < len(syn) < 43
    assert keys(cat.web_udp.read()) == keys(read(HTTP, filter="udp port 53"))
    assert len(cat.web_udp.read()) == 2


def test_warnings_stay_quiet_for_a_plain_filter():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read(HTTP, filter="tcp")
