"""The ``offset`` column against an independent framer: for every capture of both corpora,
each row's offset is where this module's own walk of the file's records (pcap record
headers, pcapng blocks) finds the row's packet record (``frame``). The same on every path
is tests/test_threads.py's; a live capture's missing offsets, tests/test_columns.py's."""

import gzip
import struct

import intake
import pytest

from conftest import CORPUS, CORPUS2, oracle_files

# Byte order and record header length by magic: micro- and nanosecond pcap, and
# Kuznetzov's modified pcap (8 more bytes a record: interface, protocol, packet type).
PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 16), b"\x4d\x3c\xb2\xa1": ("<", 16), b"\x34\xcd\xb2\xa1": ("<", 24),
    b"\xa1\xb2\xc3\xd4": (">", 16), b"\xa1\xb2\x3c\x4d": (">", 16), b"\xa1\xb2\xcd\x34": (">", 24),
}
# pcapng blocks that hold a packet: Enhanced, Simple, and the obsolete Packet block.
PCAPNG_PACKET_BLOCKS = {6, 3, 2}


def record_offsets(data):
    """The offset of every packet record of the capture ``data``, in order, as far as its
    records are whole."""
    out = []
    if data[:4] in PCAP_MAGICS:
        order, header = PCAP_MAGICS[data[:4]]
        at = 24
        while at + header <= len(data):
            (caplen,) = struct.unpack_from(order + "I", data, at + 8)
            if at + header + caplen > len(data):
                break
            out.append(at)
            at += header + caplen
        return out
    assert data[:4] == b"\x0a\x0d\x0d\x0a", "not a capture"
    at, order = 0, "<"
    while at + 12 <= len(data):
        block_type = struct.unpack_from(order + "I", data, at)[0]
        if block_type == 0x0A0D0D0A:  # a section header: its byte-order magic decides
            order = "<" if data[at + 8:at + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        (length,) = struct.unpack_from(order + "I", data, at + 4)
        if length < 12 or at + length > len(data):
            break
        if block_type in PCAPNG_PACKET_BLOCKS:
            out.append(at)
        at += length
    return out


def captures():
    for directory in (CORPUS, CORPUS2):
        for name in oracle_files(directory):
            yield pytest.param(directory / name, id=f"{directory.name}/{name}")


@pytest.mark.parametrize("path", list(captures()))
def test_offsets_are_where_an_independent_framer_finds_each_record(path):
    raw = path.read_bytes()
    data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    offsets = record_offsets(data)
    df = intake.open_pcap(str(path), columns=["frame", "offset"], errors="ignore").read()
    assert df.offset.notna().all()
    assert (df.frame <= len(offsets)).all(), "a row beyond the records the framer found"
    want = [offsets[f - 1] for f in df.frame]
    assert list(df.offset) == want


def test_offsets_on_many_files_count_from_each_file(tmp_path):
    paths = sorted(str(p) for p in CORPUS.glob("*.pcap"))[:3]
    df = intake.open_pcap(paths, columns=["frame", "offset"]).read()
    singles = [intake.open_pcap(p, columns=["frame", "offset"]).read() for p in paths]
    assert sum(len(s) for s in singles) == len(df) > 0
    assert list(df.offset) == [o for s in singles for o in s.offset]
    # The first packet record of a classic pcap file follows its 24-byte header.
    assert all(s.offset.iloc[0] == 24 for s in singles if s.frame.iloc[0] == 1)
