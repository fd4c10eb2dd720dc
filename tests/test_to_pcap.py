"""Back to the packets from Python: ``PCAPSource.to_pcap`` (rows, flows, filters, several
files) held to tshark and tcpdump reading the outputs, and ``packet_bytes`` held to an
independent framer on every capture of both corpora."""

import os
import shutil
from decimal import Decimal
import subprocess

import intake
import pandas as pd
import pytest

import intake_pcap
from conftest import CORPUS
from test_extract import captures, packet_bytes as framed, tshark

TOOLS = all(shutil.which(t) for t in ("tshark", "tcpdump"))
needs_tools = pytest.mark.skipif(not TOOLS, reason="tshark and tcpdump are the oracles here")


@pytest.mark.parametrize("path", list(captures()))
def test_packet_bytes_is_the_record_at_each_offset(path):
    df = intake.open_pcap(str(path), columns=["frame", "offset", "src_host"], errors="ignore").read()
    records = framed(path)
    for frame, offset, src in zip(df.frame, df.offset, df.src_host):
        record = intake_pcap.packet_bytes(path, offset)
        assert bytes(record) == records[frame - 1]
        if record.link_type in (1, 101, 113) and record.time is not None:
            # IPPacket takes the record's link type.
            assert intake_pcap.IPPacket(record).source_ip_address in (src, None)


def test_packet_bytes_refuses_what_is_not_a_record_start():
    path = CORPUS / "pcap_le_nsec_ether_http.pcap"
    offsets = list(intake.open_pcap(str(path), columns=["offset"]).read().offset)
    assert len(offsets) > 3
    for wrong in (0, 23, offsets[1] + 16, offsets[-1] + 1, 10**12):
        with pytest.raises(ValueError, match="no packet record starts at byte offset"):
            intake_pcap.packet_bytes(path, wrong)


@needs_tools
@pytest.mark.parametrize("path", [p for p in captures()][::4])
def test_rows_come_out_as_the_packets_behind_them(path, tmp_path):
    source = intake.open_pcap(str(path), columns=["frame", "protocol"], errors="ignore")
    df = source.read()
    rows = df.iloc[::3]
    out = tmp_path / "rows.pcapng"
    assert source.to_pcap(out, rows) == len(rows)
    want = tshark(path)
    assert tshark(out) == [want[f - 1] for f in rows.frame]
    # A Series or list of frames is the same.
    again = tmp_path / "again.pcapng"
    source.to_pcap(again, list(rows.frame))
    assert again.read_bytes() == out.read_bytes()


@needs_tools
@pytest.mark.parametrize("expression", ["udp", "tcp port 80", "arp or icmp"])
def test_a_filtered_source_writes_what_tcpdump_writes(expression, tmp_path):
    for name in ("pcap_le_nsec_ether_http.pcap", "ether_vlan_gre_variants.pcap", "ether_icmpv6_errors_inner_udp.pcap"):
        path = CORPUS / name
        theirs = tmp_path / "tcpdump.pcap"
        subprocess.run(["tcpdump", "-r", str(path), "-w", str(theirs), expression], check=True, capture_output=True)
        ours = tmp_path / "ours.pcap"
        intake.open_pcap(str(path), filter=expression).to_pcap(ours)
        assert framed(ours) == framed(theirs)
        # The times, to the microsecond tcpdump writes.
        micro = lambda p: [(Decimal(r[0]).quantize(Decimal("0.000001"), rounding="ROUND_FLOOR"), r[1]) for r in tshark(p)]
        assert micro(ours) == micro(theirs)


@needs_tools
def test_rows_of_several_files_find_their_files(tmp_path):
    paths = [str(CORPUS / n) for n in ("pcap_le_nsec_ether_http.pcap", "ether_vlan_gre_variants.pcap",
                                       "pcapng_2ifaces_tsresol9_and_6.pcapng")]
    source = intake.open_pcap(paths, columns=["frame", "src_host"])
    df = source.read()
    rows = df.iloc[1::2]
    out = tmp_path / "several.pcapng"
    assert source.to_pcap(out, rows) == len(rows)
    # The rows of each file, in order, as tshark reads that file.
    per_file = [intake.open_pcap(p, columns=["frame"]).read() for p in paths]
    want, start = [], 0
    for p, part in zip(paths, per_file):
        mine = [i - start for i in rows.index if start <= i < start + len(part)]
        want += [tshark(p)[part.frame.iloc[i] - 1] for i in mine]
        start += len(part)
    assert [r[:4] for r in tshark(out)] == [r[:4] for r in want]
    # Rows whose index was reset cannot be placed: refused, never misread.
    with pytest.raises(ValueError, match="not this source's read"):
        source.to_pcap(tmp_path / "no.pcapng", rows.reset_index(drop=True))
    with pytest.raises(ValueError, match="pass the DataFrame"):
        source.to_pcap(tmp_path / "no.pcapng", list(rows.frame))


@needs_tools
def test_flow_rows_bring_every_packet_of_their_flows(tmp_path):
    path = str(CORPUS / "pcap_le_nsec_ether_http.pcap")
    flows = intake.open_pcap_flows(path).read()
    packets = intake.open_pcap(path, columns=["frame", "flow_id"]).read()
    chosen = flows.iloc[:1]
    out = tmp_path / "flow.pcapng"
    count = intake.open_pcap(path).to_pcap(out, chosen)
    frames = packets.frame[packets.flow_id.isin(chosen.flow_id)]
    assert count == len(frames) == chosen.src_packets.iloc[0] + chosen.dst_packets.iloc[0]
    want = tshark(path)
    assert tshark(out) == [want[f - 1] for f in frames]


def test_to_pcap_refuses_what_it_cannot_do(tmp_path):
    path = str(CORPUS / "pcap_le_nsec_ether_http.pcap")
    source = intake.open_pcap(path, columns=["src_host"])
    with pytest.raises(ValueError, match="no frame column"):
        source.to_pcap(tmp_path / "x.pcapng", source.read())
    with pytest.raises(ValueError, match="start at 1"):
        source.to_pcap(tmp_path / "x.pcapng", [0])
    with pytest.raises(ValueError, match="choose pcapng or pcap"):
        source.to_pcap(tmp_path / "x.pcapng", format="png")
    assert list(tmp_path.iterdir()) == []
    # A named pipe is read once: its packets cannot be found again.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="read once only"):
        intake.open_pcap(str(fifo)).to_pcap(tmp_path / "y.pcapng")


@needs_tools
def test_write_pcap_takes_rows_that_say_where_their_packets_are(tmp_path):
    paths = [str(CORPUS / n) for n in ("pcap_le_nsec_ether_http.pcap", "pcapng_2ifaces_tsresol9_and_6.pcapng")]
    parts = []
    for p in paths:
        df = intake.open_pcap(p, columns=["frame", "offset"]).read()
        parts.append(df.assign(file=p).iloc[::2])
    rows = pd.concat(parts, ignore_index=True).sample(frac=1, random_state=1)  # any order
    out = tmp_path / "rows.pcapng"
    assert intake_pcap.write_pcap(rows, out) == len(rows)
    # Files in the order they first appear in the rows, each in capture order.
    order = list(dict.fromkeys(rows.file))
    assert order == paths[::-1]  # this shuffle puts the pcapng first
    want = [tshark(p)[f - 1] for p in order for f in sorted(rows.frame[rows.file == p])]
    assert [r[:4] for r in tshark(out)] == [r[:4] for r in want]
    # One capture for every row.
    one = tmp_path / "one.pcap"
    assert intake_pcap.write_pcap(parts[0].drop(columns="file"), one, capture=paths[0]) == len(parts[0])
    assert tshark(one) == [tshark(paths[0])[f - 1] for f in parts[0].frame]
    # An offset where no record starts is refused, and nothing is written.
    bad = parts[0].assign(offset=parts[0].offset + 1)
    with pytest.raises(ValueError, match="no packet record starts at byte offset"):
        intake_pcap.write_pcap(bad, tmp_path / "bad.pcapng")
    with pytest.raises(ValueError, match="which capture"):
        intake_pcap.write_pcap(parts[0].drop(columns="file"), tmp_path / "bad.pcapng")
    assert not (tmp_path / "bad.pcapng").exists()


@needs_tools
def test_flow_rows_of_several_files_bring_their_packets_from_each(tmp_path):
    # Flows go on from one file into the next: their packets come from both.
    paths = [str(CORPUS / n) for n in ("pcap_le_nsec_ether_http.pcap", "ether_vlan_gre_variants.pcap")]
    flows = intake.open_pcap_flows(paths).read()
    source = intake.open_pcap(paths, columns=["frame", "flow_id"])
    packets = source.read()
    chosen = flows.iloc[[0, -1]]
    out = tmp_path / "flows.pcapng"
    count = source.to_pcap(out, chosen)
    assert count == packets.flow_id.isin(chosen.flow_id).sum() == (chosen.src_packets + chosen.dst_packets).sum()
    # The packets of each file, in order, as tshark reads that file.
    per_file = [intake.open_pcap(p, columns=["frame"]).read() for p in paths]
    hit = packets.flow_id.isin(chosen.flow_id).to_numpy()
    want, start = [], 0
    for p, part in zip(paths, per_file):
        frames = packets.frame[start:start + len(part)][hit[start:start + len(part)]]
        want += [tshark(p)[f - 1] for f in frames]
        start += len(part)
    assert len(want) == count
    assert [r[:4] for r in tshark(out)] == [r[:4] for r in want]
