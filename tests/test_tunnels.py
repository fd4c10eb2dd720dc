"""Tunnels against tshark: `tunnel`, `tunnel_id`, the outer hosts, and with
``decapsulate=True`` the addresses and ports of tshark's innermost IP layer.

tshark's view of a frame comes from `frame.protocols` and every occurrence of the address,
port and tunnel-id fields, read here by our own rules (independent of the Rust decoder):
- the innermost IP layer is the last `ip`/`ipv6` of `frame.protocols` before anything that
  quotes or carries a copy of a packet rather than a tunnelled one (an ICMP error, NHRP,
  sFlow samples, IPComp's compressed data, LISP control, ESP), and that has addresses;
- the tunnel chain names each tunnel protocol crossed on the way: `gre`, `erspan`, `vxlan`,
  `geneve`, `teredo`, `l2tp`, `lisp-data` as `lisp`, `gtp` on UDP 2152 as `gtp-u` (tshark
  calls GTP-C on 2123 `gtp` too), MPLS straight after UDP as `mpls-udp`, IP straight after IP
  (or its extension headers or AH) as `ipip`, and IP after PIM as `pim` (a Register);
- `tunnel_id` is the innermost tunnel's field: `vxlan.vni`, `geneve.vni`, `gtp.teid`,
  `gre.key`, `erspan.spanid`, `l2tp.sid` (L2TPv3) or `l2tp.session` (L2TPv2), last occurrence.
Every capture of both corpora, and the captures of `tunnel_cases.py`, is held to it.
"""

import shutil
import subprocess

import intake
import pandas as pd
import pytest

import tunnel_cases
from conftest import CORPUS, CORPUS2
from test_corpus import TSHARK_DIFFERS

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (scripts/setup.sh --test installs it)")

COLUMNS = ["src_host", "dst_host", "src_port", "dst_port", "tunnel", "tunnel_id", "outer_src_host", "outer_dst_host"]
FIELDS = ["frame.number", "frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
          "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport",
          "vxlan.vni", "geneve.vni", "gtp.teid", "gre.key", "erspan.spanid", "l2tp.sid", "l2tp.session"]
TUNNEL_TOKENS = {"gre": "gre", "erspan": "erspan", "vxlan": "vxlan", "geneve": "geneve",
                 "teredo": "teredo", "l2tp": "l2tp", "lisp-data": "lisp"}
CARRIES_A_COPY = {"icmp", "icmpv6", "nhrp", "sflow", "ipcomp", "lisp", "esp"}
IP_EXTENSIONS = {"ipv6.hopopts", "ipv6.routing", "ipv6.fraghdr", "ipv6.dstopts", "ah"}
ID_FIELD = {"vxlan": "vxlan.vni", "geneve": "geneve.vni", "gtp-u": "gtp.teid", "gre": "gre.key",
            "erspan": "erspan.spanid", "l2tp": "l2tp.sid"}

# Captures whose innermost packet tshark cannot reach, each with why and how it is checked.
TSHARK_STOPS = {
    "networklessons-labs__packet-captures__l2tpv3-tunnel-icmp-traffic.pcapng": (
        "L2TPv3 over IP: only the control connection (not in the capture) says the cookie and "
        "sublayer sizes and the pseudowire type, so tshark shows the session's payload as data. "
        "Checked by cutting each frame's first 38 bytes (Ethernet, IPv4, session id) with "
        "editcap and letting tshark read the Ethernet frame left: test_l2tpv3_inner_frames_as_tshark_reads_them."
    ),
}


def all_captures():
    out = []
    for directory in (CORPUS, CORPUS2):
        if directory.is_dir():
            out += sorted(p for p in directory.iterdir() if p.with_name(p.name + ".expected.csv").exists())
    return out


def tshark(path, extra=()):
    """frame number -> field -> every occurrence."""
    cmd = ["tshark", "-n", "-r", str(path), "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE", *extra,
           "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|", "-E", "separator=/t"]
    for f in FIELDS:
        cmd += ["-e", f]
    # Damaged captures make tshark exit 2 after the frames it could read: those are the oracle.
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    frames = {}
    for line in out.splitlines():
        cells = line.split("\t")
        frames[int(cells[0])] = {f: (c.split("|") if c else []) for f, c in zip(FIELDS, cells)}
    return frames


def gtp_is_user_plane(t, toks, i):
    n = sum(1 for x in toks[: i - 1] if x == "udp")
    return "2152" in (t["udp.srcport"][n], t["udp.dstport"][n])


def expected_row(t, decapsulate):
    """What the row of tshark's frame ``t`` must hold; None when the frame has no row."""
    toks = t["frame.protocols"][0].split(":") if t["frame.protocols"] else []
    ips = [i for i, x in enumerate(toks) if x in ("ip", "ipv6")]
    if not ips:
        return None

    def addresses(at):
        family = toks[at]
        k = sum(1 for x in toks[:at] if x == family)
        src, dst = t[f"{family}.src"], t[f"{family}.dst"]
        return (src[k], dst[k]) if k < len(src) and k < len(dst) else None

    first = ips[0]
    if addresses(first) is None:
        return None  # an IP layer without addresses has no row, as in the corpus oracles
    tunnels, inner, prev = [], [first], "ip"
    for i in range(first + 1, len(toks)):
        x = toks[i]
        if x in CARRIES_A_COPY:
            break
        if x in ("ip", "ipv6"):
            if prev in ("ip", "ipv6"):
                tunnels.append("ipip")
            elif prev == "pim":
                tunnels.append("pim")
            inner.append(i)
        elif x in TUNNEL_TOKENS:
            tunnels.append(TUNNEL_TOKENS[x])
        elif x == "gtp" and prev == "udp" and gtp_is_user_plane(t, toks, i):
            tunnels.append("gtp-u")
        elif x == "mpls" and prev == "udp":
            tunnels.append("mpls-udp")
        if x not in IP_EXTENSIONS:
            prev = x
    # The row describes the last IP layer that has addresses (a malformed inner header ends it).
    at = next(i for i in reversed(inner) if addresses(i) is not None) if decapsulate else first
    src, dst = addresses(at)
    j = at + 1
    while j < len(toks) and toks[j] in IP_EXTENSIONS:
        j += 1
    sport = dport = None
    if j < len(toks) and toks[j] in ("tcp", "udp"):
        n = sum(1 for x in toks[:j] if x == toks[j])
        if n < len(t[f"{toks[j]}.srcport"]):
            sport, dport = int(t[f"{toks[j]}.srcport"][n]), int(t[f"{toks[j]}.dstport"][n])
    tunnel_id = None
    field = ID_FIELD.get(tunnels[-1]) if tunnels else None
    if field == "l2tp.sid" and not t[field]:
        field = "l2tp.session"
    if field and t[field]:
        value = t[field][-1]
        tunnel_id = int(value, 16) if value.startswith("0x") else int(value)
    outer_src, outer_dst = addresses(first)
    return dict(src_host=src, dst_host=dst, src_port=sport, dst_port=dport, tunnel="/".join(tunnels) or None,
                tunnel_id=tunnel_id, outer_src_host=outer_src, outer_dst_host=outer_dst)


def ours(path, decapsulate):
    df = intake.open_pcap(str(path), columns=COLUMNS, decapsulate=decapsulate, errors="ignore").read()
    return [{c: (None if pd.isna(v) else (int(v) if c in ("src_port", "dst_port", "tunnel_id") else str(v)))
             for c, v in row.items()} for row in df.to_dict("records")]


def compare(path, frames, decapsulate):
    want = [(n, e) for n, t in sorted(frames.items()) if (e := expected_row(t, decapsulate)) is not None]
    # Where test_corpus.py judges tshark's outermost address not what the column means (its
    # reasons are there), hold the row to that judgement; those frames carry no tunnel.
    for n, e in want:
        for column in ("src_host", "dst_host"):
            if (path.name, n, column) in TSHARK_DIFFERS:
                assert e["tunnel"] is None
                e[column] = e[f"outer_{column}"] = TSHARK_DIFFERS[(path.name, n, column)][0]
    got = ours(path, decapsulate)
    assert len(got) == len(want), f"{path.name}: {len(got)} rows, tshark has {len(want)} IP frames"
    bad = [(n, w, g) for (n, w), g in zip(want, got) if w != g]
    assert not bad, f"{path.name} decapsulate={decapsulate}: {len(bad)} rows differ, first: frame {bad[0][0]}\n tshark {bad[0][1]}\n ours   {bad[0][2]}"
    return got


@pytest.mark.parametrize("path", all_captures(), ids=lambda p: p.name)
def test_every_corpus_capture_as_tshark_reads_its_tunnels(path):
    frames = tshark(path)
    compare(path, frames, decapsulate=False)
    if path.name in TSHARK_STOPS:
        return
    compare(path, frames, decapsulate=True)


def test_the_corpora_hold_tunnels_of_several_kinds():
    """So that the test above cannot pass by finding no tunnel anywhere."""
    seen = set()
    for path in all_captures():
        df = intake.open_pcap(str(path), columns=["tunnel"], errors="ignore").read()
        seen |= set(df["tunnel"].dropna().astype(str))
    assert {"gre", "gre/erspan", "vxlan", "teredo", "l2tp", "ipip", "pim", "lisp", "ipip/gre"} <= seen, seen


def test_l2tpv3_inner_frames_as_tshark_reads_them(tmp_path):
    name = "networklessons-labs__packet-captures__l2tpv3-tunnel-icmp-traffic.pcapng"
    path = CORPUS2 / name
    if not path.exists():
        pytest.skip("corpus2 is not present")
    cut = tmp_path / "inner.pcapng"
    subprocess.run(["editcap", "-C", "38", str(path), str(cut)], check=True, capture_output=True)
    inner = [expected_row(t, decapsulate=False) for _, t in sorted(tshark(cut).items())]
    got = ours(path, decapsulate=True)
    assert len(got) == len(inner) == 10
    for g, i in zip(got, inner):
        assert (g["src_host"], g["dst_host"]) == (i["src_host"], i["dst_host"])
        assert g["tunnel"] == "l2tp" and g["outer_src_host"] != g["src_host"]
    sessions = [int(t["l2tp.sid"][0], 16) for _, t in sorted(tshark(path).items())]
    assert [g["tunnel_id"] for g in got] == sessions and len(set(sessions)) == 2


@pytest.mark.parametrize("name", list(tunnel_cases.CASES))
def test_generated_tunnels_as_tshark_reads_them(tmp_path, name):
    frames, extra, chain = tunnel_cases.CASES[name]
    path = tmp_path / f"{name}.pcap"
    tunnel_cases.write_pcap(path, frames)
    seen = tshark(path, extra)
    for decapsulate in (False, True):
        got = compare(path, seen, decapsulate)
    # The case says what it builds: the chain tshark saw is the one intended.
    assert [r["tunnel"] for r in got] == [chain or None] * len(frames)


@pytest.mark.parametrize("name", list(tunnel_cases.TAGS))
def test_ethernet_tags_before_ip_as_tshark_reads_them(tmp_path, name):
    path = tmp_path / f"{name}.pcap"
    tunnel_cases.write_pcap(path, tunnel_cases.TAGS[name])
    got = compare(path, tshark(path), decapsulate=False)
    stops = name.startswith("mpls_")  # labels 13 and 14 announce no IP payload
    assert len(got) == (0 if stops else 1)


def test_fddi_with_llc_snap_as_tshark_reads_it(tmp_path):
    path = tmp_path / "fddi.pcap"
    tunnel_cases.write_pcap(path, [tunnel_cases.fddi(tunnel_cases.inner4())], linktype=10)
    got = compare(path, tshark(path), decapsulate=False)
    assert got[0]["src_host"] == "192.168.7.1" and got[0]["dst_port"] == 443


def test_decapsulate_changes_the_protocol_filter_and_keeps_the_libpcap_filter(tmp_path):
    path = tmp_path / "vxlan.pcap"
    tunnel_cases.write_pcap(path, tunnel_cases.CASES["vxlan_4789"][0] + tunnel_cases.CASES["ip6in4"][0])
    tcp_inside = intake.open_pcap(str(path), protocol="tcp", decapsulate=True).read()
    assert list(tcp_inside.src_host.astype(str)) == ["192.168.7.1"]
    assert len(intake.open_pcap(str(path), protocol="tcp").read()) == 0
    # filter= is libpcap's, on the outer headers, with or without decapsulate.
    outer_udp = intake.open_pcap(str(path), filter="udp port 4789", decapsulate=True).read()
    assert list(outer_udp.dst_port) == [443]
