"""Packets written back as captures (`pcapframe extract`), held to tshark, tcpdump and
capinfos reading the outputs, and to an independent framer comparing the records' bytes.
Every capture of both corpora, with several selections."""

import gzip
import os
import re
import shutil
import struct
import subprocess
from decimal import Decimal

import pytest

from conftest import CORPUS, CORPUS2, oracle_files
from test_offset import PCAP_MAGICS

PCAPFRAME = os.environ.get("PCAPFRAME") or shutil.which("pcapframe")
TOOLS = all(shutil.which(t) for t in ("tshark", "tcpdump", "capinfos"))
pytestmark = [
    pytest.mark.skipif(PCAPFRAME is None, reason="pcapframe is not installed: run scripts/setup.sh"),
    pytest.mark.skipif(not TOOLS, reason="tshark, tcpdump and capinfos are the oracles here"),
]

FIELDS = ["frame.time_epoch", "frame.len", "frame.cap_len", "frame.encap_type", "frame.interface_id",
          "frame.interface_name"]


def tshark(path):
    """One tuple per packet record tshark reads (it stops at damage, as the oracle says).
    A classic pcap file's one interface, which tshark leaves without number and name, is
    interface 0 (as in the pcapng it becomes); a pcapng interface without a name tshark
    calls "unknown": both are "" here."""
    done = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "separator=/t"]
                          + [a for f in FIELDS for a in ("-e", f)], capture_output=True, text=True)
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    # Without a link type: a block tshark shows that is not a packet (a custom block),
    # which `frame` does not count.
    return [(*r[:4], r[4] or "0", "" if r[5] == "unknown" else r[5]) for r in rows if r[3]]


def packet_bytes(path):
    """The captured bytes of every whole packet record, read by this module's own framer."""
    return walk(path)[0]


def sections(path):
    """How many pcapng sections the file has (1 for classic pcap)."""
    return max(walk(path)[1], 1)


def walk(path):
    raw = path.read_bytes()
    data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    out = []
    if data[:4] in PCAP_MAGICS:
        order, header = PCAP_MAGICS[data[:4]]
        at = 24
        while at + header <= len(data):
            (caplen,) = struct.unpack_from(order + "I", data, at + 8)
            if at + header + caplen > len(data):
                break
            out.append(data[at + header:at + header + caplen])
            at += header + caplen
        return out, 1
    at, order, snaplens, count = 0, "<", [], 0
    while at + 12 <= len(data):
        block_type = struct.unpack_from(order + "I", data, at)[0]
        if block_type == 0x0A0D0D0A:
            order = "<" if data[at + 8:at + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            snaplens = []
            count += 1
        (length,) = struct.unpack_from(order + "I", data, at + 4)
        if length < 12 or at + length > len(data):
            break
        body = data[at + 8:at + length - 4]
        if block_type == 1:
            snaplens.append(struct.unpack_from(order + "I", body, 4)[0])
        elif block_type in (2, 6):
            (caplen,) = struct.unpack_from(order + "I", body, 12)
            out.append(body[20:20 + caplen])
        elif block_type == 3:
            (wire,) = struct.unpack_from(order + "I", body, 0)
            caplen = min(wire, len(body) - 4, snaplens[0] or wire)
            out.append(body[4:4 + caplen])
        at += length
    return out, count


def extract(*args):
    done = subprocess.run([PCAPFRAME, "extract", *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done


def captures():
    for directory in (CORPUS, CORPUS2):
        for name in oracle_files(directory):
            yield pytest.param(directory / name, id=f"{directory.name}/{name}")


def reads_in_tcpdump(path):
    """Whether tcpdump reads the whole file, and how many packets it counts."""
    done = subprocess.run(["tcpdump", "--count", "-r", str(path)], capture_output=True, text=True)
    counted = re.match(r"(\d+) packets?", done.stdout)
    return done.returncode == 0, int(counted.group(1)) if counted else None


@pytest.mark.parametrize("path", list(captures()))
def test_every_seventh_frame_comes_out_as_the_source_holds_it(path, tmp_path):
    source = tshark(path)
    frames = list(range(1, len(source) + 1, 7))
    if not frames:
        pytest.skip("tshark reads no packet here")  # counted: see the test below
    out = tmp_path / "out.pcapng"
    extract(path, "-w", out, "--frames", ",".join(map(str, frames)))
    want = [source[f - 1] for f in frames]
    got = tshark(out)
    if sections(path) > 1:
        # The output is one section, its interfaces numbered across the source's sections
        # (tshark 4.0 shows a later section's interface by its number within the section).
        got, want = [r[:4] + r[5:] for r in got], [r[:4] + r[5:] for r in want]
    assert got == want
    source_bytes = packet_bytes(path)
    assert packet_bytes(out) == [source_bytes[f - 1] for f in frames]
    # capinfos and tcpdump read it too (tcpdump where it reads the source: libpcap takes
    # one link type per file).
    info = subprocess.run(["capinfos", "-c", "-M", str(out)], capture_output=True, text=True)
    assert f"Number of packets:   {len(frames)}" in info.stdout, info.stdout + info.stderr
    if reads_in_tcpdump(path)[0]:
        assert reads_in_tcpdump(out) == (True, len(frames))


def test_the_corpora_hold_packets_for_the_test_above():
    # The skip above is for files without a packet tshark reads; it must stay rare.
    empty = [p for p in captures() if not tshark(p.values[0])]
    assert len(empty) <= 3, empty


@pytest.mark.parametrize("path", [p for p in captures() if p.values[0].read_bytes()[:4] in PCAP_MAGICS])
def test_a_classic_pcap_file_comes_out_byte_for_byte(path, tmp_path):
    out = tmp_path / "out.pcap"
    extract(path, "-w", out)
    data = path.read_bytes()
    # Its header and every whole record before any damage.
    assert data.startswith(out.read_bytes())
    assert len(packet_bytes(out)) == len(tshark(path))


@pytest.mark.parametrize("path", [p for p in captures()
                                  if not str(p.values[0]).endswith(".gz")][::9])
@pytest.mark.parametrize("expression", ["udp", "tcp and port 80", "not ip"])
def test_a_filter_keeps_what_tcpdump_keeps(path, expression, tmp_path):
    theirs = tmp_path / "tcpdump.pcap"
    done = subprocess.run(["tcpdump", "-r", str(path), "-w", str(theirs), expression], capture_output=True)
    if done.returncode != 0:
        pytest.skip("tcpdump does not read this file (several link types)")
    ours = tmp_path / "ours.pcap"
    extract(path, "-w", ours, "--filter", expression, "--format", "pcap")
    assert packet_bytes(ours) == packet_bytes(theirs)
    # The times, to the microsecond tcpdump writes.
    times = lambda p: [Decimal(r[0]).quantize(Decimal("0.000001"), rounding="ROUND_FLOOR") for r in tshark(p)]
    assert times(ours) == times(theirs)


@pytest.mark.parametrize("path", [p for p in captures()][::5])
def test_a_time_range_keeps_the_packets_inside_it(path, tmp_path):
    source = tshark(path)
    times = sorted({Decimal(r[0]) for r in source if r[0]}) or [Decimal(10**9)]
    # The middle third; everything when the capture has few distinct times.
    start, end = ((times[len(times) // 3], times[2 * len(times) // 3]) if len(times) >= 3
                  else (times[0], times[-1] + 1))
    out = tmp_path / "out.pcapng"
    extract(path, "-w", out, "--start", format(start, "f"), "--end", format(end, "f"))
    assert tshark(out) == [r for r in source if r[0] and start <= Decimal(r[0]) < end]


def test_many_files_make_one_capture_that_every_tool_reads(tmp_path):
    paths = [CORPUS / "pcapng_2ifaces_tsresol9_and_6.pcapng", CORPUS / "pcap_cut_short_mid_record.pcap",
             CORPUS / "ether_vlan_gre_variants.pcap"]
    out = tmp_path / "all.pcapng"
    extract(*paths, "-w", out)
    want = [row for p in paths for row in tshark(p)]
    got = tshark(out)
    # One section: the interfaces of each file numbered on from those before.
    strip = lambda rows: [r[:4] + r[5:] for r in rows]
    assert strip(got) == strip(want)
    ids, base = [], 0
    for p in paths:
        ids += [int(r[4]) + base for r in tshark(p)]
        info = subprocess.run(["capinfos", str(p)], capture_output=True, text=True).stdout
        base += int(re.search(r"Number of interfaces in file: (\d+)", info).group(1))
    assert [int(r[4]) for r in got] == ids
    assert packet_bytes(out) == [b for p in paths for b in packet_bytes(p)[: len(tshark(p))]]
    # libpcap reads a file only when every interface has the first one's link type and
    # snap length (200 bytes in the damaged file): the interfaces are kept as they are.
    done = subprocess.run(["tcpdump", "--count", "-r", str(out)], capture_output=True, text=True)
    assert "different from the snapshot length of the first interface" in done.stderr
    alike = tmp_path / "alike.pcapng"
    extract(paths[0], paths[2], "-w", alike)
    assert reads_in_tcpdump(alike) == (True, len(tshark(paths[0])) + len(tshark(paths[2])))
    # Classic pcap: the nanosecond form, one link type.
    pcap = tmp_path / "all.pcap"
    extract(*paths, "-w", pcap)
    assert [r[:4] for r in tshark(pcap)] == [r[:4] for r in want]


def test_pcap_out_refuses_two_link_types_and_leaves_nothing(tmp_path):
    path = CORPUS / "pcapng_be_3ifaces_ether_null_isb_spb.pcapng"
    out = tmp_path / "x.pcap"
    done = subprocess.run([PCAPFRAME, "extract", str(path), "-w", str(out)], capture_output=True, text=True)
    assert done.returncode != 0 and "one link type" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments_say_what_to_do(tmp_path):
    path = CORPUS / "pcap_cut_short_mid_record.pcap"
    for args, message in [
        (["--frames", "0"], "is not a packet number"),
        (["--frames", "5-2"], "is not a packet number"),
        (["--start", "yesterday"], "cannot read"),
        (["--format", "png"], "choose pcapng or pcap"),
        ([str(path), "--frames", "1"], "give one file"),
    ]:
        done = subprocess.run([PCAPFRAME, "extract", str(path), "-w", str(tmp_path / "o"), *args],
                              capture_output=True, text=True)
        assert done.returncode != 0 and message in done.stderr, (args, done.stderr)
    # Damage with --errors raise: nothing written.
    done = subprocess.run([PCAPFRAME, "extract", str(path), "-w", str(tmp_path / "o"), "--errors", "raise"],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "cut short" in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["intake_pcap_tests_http.pcap", "ether_vlan_mpls_tcp.pcap", "ether_ipv6_exthdrs_atomic_frag_tcp.pcap"])
def test_flow_writes_every_packet_of_the_flows_the_flow_table_names(name, tmp_path):
    """`--flow ID` against the flow table (another reader of the same files): as many packets
    as the flow counts, tshark reading each with the flow's endpoints; across two files
    when the capture is cut in two (editcap -c), a flow going on from one into the next."""
    import intake
    import pandas as pd

    path = CORPUS / name
    half = (len(packet_bytes(path)) + 1) // 2
    subprocess.run(["editcap", "-c", str(half), str(path), str(tmp_path / "part.pcap")], check=True)
    parts = sorted(tmp_path.glob("part_*.pcap"))
    assert len(parts) == 2
    for files in ([path], parts):
        flows = intake.open_pcap_flows([str(f) for f in files]).read()
        assert len(flows) >= 2
        for _, flow in flows.iterrows():
            out = tmp_path / "flow.pcap"
            extract(*files, "--flow", int(flow.flow_id), "-w", out)
            want = int(flow.src_packets) + int(flow.dst_packets)
            assert len(tshark(out)) == want
            rows = intake.open_pcap(str(out)).read()
            # The hosts (ports too for TCP and UDP: an ICMP flow's "ports" are its types).
            ported = flow.protocol in ("tcp", "udp")
            key = lambda a, ap, b, bp: (str(a), str(b)) + ((int(ap), int(bp)) if ported else ())
            ends = {key(flow.src_host, flow.src_port, flow.dst_host, flow.dst_port),
                    key(flow.dst_host, flow.dst_port, flow.src_host, flow.src_port)}
            assert {key(r.src_host, r.src_port, r.dst_host, r.dst_port) for r in rows.itertuples()} <= ends
        # Two flows at once; a flow id that names no flow writes nothing.
        both = tmp_path / "both.pcapng"
        ids = ",".join(str(int(i)) for i in flows.flow_id[:2])
        extract(*files, "--flow", ids, "-w", both)
        assert len(tshark(both)) == int((flows.src_packets + flows.dst_packets)[:2].sum())
        extract(*files, "--flow", "999999999", "-w", both)
        assert tshark(both) == []
