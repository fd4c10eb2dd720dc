"""threads=: one file decoded on several cores gives exactly the single-threaded DataFrame."""

import subprocess
import sys

import intake
import pandas as pd
import pytest

import intake_pcap
from conftest import REPO, as_in_dask


sys.path.insert(0, str(REPO / "tools"))
import synthcap  # noqa: E402


@pytest.fixture(scope="module")
def big_capture(tmp_path_factory):
    """About 50 MB: cut into several 16 MiB ranges."""
    path = tmp_path_factory.mktemp("threads") / "big.pcap"
    synthcap.write_capture(path, 90_000, seed=3)
    return str(path)


# The documented six and the per-packet columns every reader must count alike: `frame` (a
# range's reader counts from its start, then learns how many records came before it) and
# `offset` (its reader's offsets count from the range's start).
COLUMNS = ["time", "src_host", "src_port", "dst_host", "dst_port", "protocol", "frame", "offset", "community_id"]


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_every_thread_count_gives_the_single_threaded_frame(big_capture, threads):
    one = intake.open_pcap(big_capture, threads=1, payload=True, columns=COLUMNS).read()
    many = intake.open_pcap(big_capture, threads=threads, payload=True, columns=COLUMNS).read()
    assert len(one) > 80_000
    # Frames count every record (the synthetic capture has some that are not IP).
    assert one.frame.iloc[0] >= 1 and one.frame.is_unique and one.frame.is_monotonic_increasing
    assert one.frame.iloc[-1] > len(one)
    pd.testing.assert_frame_equal(one, many)


def test_threads_with_filter_and_protocol(big_capture):
    one = intake.open_pcap(big_capture, threads=1, filter="tcp port 443", protocol="tcp").read()
    many = intake.open_pcap(big_capture, threads=2, filter="tcp port 443", protocol="tcp").read()
    assert len(one) > 1000
    pd.testing.assert_frame_equal(one, many)


@pytest.mark.parametrize("blocksize", [3_000_017, 8 * 2**20])
def test_byte_range_partitions_concatenate_to_the_whole_read(big_capture, blocksize):
    source = intake.open_pcap(big_capture, blocksize=blocksize, payload=True, columns=COLUMNS)
    info = source.discover()
    assert info["npartitions"] > 4
    parts = [source.read_partition(i) for i in range(info["npartitions"])]
    whole = source.read()
    joined = pd.concat(parts, ignore_index=True)
    assert len(joined) == len(whole)
    for column in whole.columns:
        pd.testing.assert_series_equal(joined[column].astype(object), whole[column].astype(object))
    ddf = source.to_dask()
    assert ddf.npartitions == info["npartitions"]
    assert len(ddf.compute()) == len(whole)


def test_files_that_cannot_be_split_say_why(tmp_path, big_capture):
    import gzip
    import shutil

    compressed = tmp_path / "big.pcap.gz"
    with open(big_capture, "rb") as src, gzip.open(compressed, "wb", compresslevel=1) as dst:
        shutil.copyfileobj(src, dst)
    source = intake.open_pcap([big_capture, str(compressed)], blocksize=1_000_000)
    info = source.discover()
    assert "compressed" in source.metadata["not_split"][str(compressed)]
    assert info["npartitions"] > 2
    assert source.metadata["partitions"][-1] == {"path": str(compressed), "byte_range": None}


@pytest.fixture(scope="module")
def big_pcapng(tmp_path_factory, big_capture):
    """The same packets as a pcapng file written by Wireshark's editcap."""
    path = tmp_path_factory.mktemp("threads-ng") / "big.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", big_capture, str(path)], check=True)
    return str(path)


def test_pcapng_reads_the_same_on_every_core_and_in_partitions(big_capture, big_pcapng):
    # The same packets as the pcap file's, at the pcapng file's own offsets.
    want = intake.open_pcap(big_pcapng, threads=1, payload=True, columns=COLUMNS).read()
    pcap = intake.open_pcap(big_capture, threads=1, payload=True, columns=COLUMNS).read()
    pd.testing.assert_frame_equal(want.drop(columns="offset"), pcap.drop(columns="offset"))
    assert (want.offset > pcap.offset).all()
    pd.testing.assert_frame_equal(intake.open_pcap(big_pcapng, threads=2, payload=True, columns=COLUMNS).read(), want)
    source = intake.open_pcap(big_pcapng, blocksize=2_999_999, payload=True, columns=COLUMNS)
    info = source.discover()
    assert info["npartitions"] > 10 and source.metadata["not_split"] == {}
    joined = pd.concat([source.read_partition(i) for i in range(info["npartitions"])], ignore_index=True)
    assert_same_rows(joined, want)
    assert_same_rows(source.to_dask().compute().reset_index(drop=True), want)


def assert_same_rows(got, want):
    """Equal values row for row (partitions' categoricals have their own categories)."""
    assert list(got.columns) == list(want.columns) and len(got) == len(want)
    for column in want.columns:
        pd.testing.assert_series_equal(got[column].astype(object), want[column].astype(object))


def test_pcapng_with_an_interface_described_late_is_one_partition_and_refused_in_ranges(tmp_path, big_pcapng):
    """An interface description block in the middle (as a capture that adds an interface
    while running writes): byte ranges past it cannot be read alone, so discover() keeps
    the file whole."""
    data = open(big_pcapng, "rb").read()
    at = 0
    while at < len(data) // 2:  # walk the blocks to one past the middle
        at += int.from_bytes(data[at + 4 : at + 8], "little")
    idb = (1).to_bytes(4, "little") + (20).to_bytes(4, "little") + (101).to_bytes(2, "little")
    idb += bytes(2) + (65535).to_bytes(4, "little") + (20).to_bytes(4, "little")
    path = tmp_path / "late.pcapng"
    path.write_bytes(data[:at] + idb + data[at:])
    whole = intake.open_pcap(str(path), threads=1).read()
    pd.testing.assert_frame_equal(whole, intake.open_pcap(big_pcapng, threads=1).read())
    pd.testing.assert_frame_equal(intake.open_pcap(str(path), threads=2).read(), whole)
    source = intake.open_pcap(str(path), blocksize=3_000_000)
    assert source.discover()["npartitions"] == 1
    assert "interface described after its first packet" in source.metadata["not_split"][str(path)]
    assert_same_rows(source.to_dask().compute().reset_index(drop=True), whole)


def test_pcapng_whose_section_header_claims_a_wrong_length_is_split_by_its_real_blocks(tmp_path, big_pcapng):
    """The section length is advisory (readers ignore it, as tshark does): the walk over the
    blocks finds one section, so the file is split, exactly."""
    data = bytearray(open(big_pcapng, "rb").read())
    assert data[:4] == b"\x0a\x0d\x0d\x0a" and data[8:12] == b"\x4d\x3c\x2b\x1a"
    data[16:24] = (1000).to_bytes(8, "little")  # section length: claims the section ends early
    path = tmp_path / "sections.pcapng"
    path.write_bytes(bytes(data))
    source = intake.open_pcap(str(path), blocksize=1_000_000)
    assert source.discover()["npartitions"] > 10
    assert source.metadata["not_split"] == {}
    assert_same_rows(source.to_dask().compute().reset_index(drop=True), intake.open_pcap(big_pcapng).read())


def test_pcapng_files_joined_end_to_end_are_one_partition_and_read_whole(tmp_path, big_pcapng):
    """`cat a.pcapng b.pcapng` makes a file of two sections; its first section header does
    not give its length (-1), so discover() scans for the second one."""
    small = tmp_path / "small.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(REPO / "python/intake_pcap/data/sample.pcap"), str(small)],
                   check=True)
    joined = tmp_path / "joined.pcapng"
    joined.write_bytes(open(big_pcapng, "rb").read() + small.read_bytes())
    source = intake.open_pcap(str(joined), blocksize=3_000_000)
    assert source.discover()["npartitions"] == 1
    assert "several sections" in source.metadata["not_split"][str(joined)]
    want = pd.concat([intake.open_pcap(big_pcapng).read(), intake.open_pcap(str(small)).read()], ignore_index=True)
    assert_same_rows(source.to_dask().compute().reset_index(drop=True), want)
    assert_same_rows(intake.open_pcap(str(joined), threads=2).read(), want)


@pytest.mark.parametrize("threads", [2, 3])
def test_flows_on_every_thread_count_are_the_sequential_flows(big_capture, threads):
    # Two threads: the file decoded on one beside the flow table; three: in 8 MiB byte
    # ranges on two (the file is about 50 MB).
    one = intake.open_pcap_flows(big_capture, threads=1, idle_timeout=0.5)
    many = intake.open_pcap_flows(big_capture, threads=threads, idle_timeout=0.5)
    want = one.read()
    assert len(want) > 1000
    pd.testing.assert_frame_equal(many.read(), want)
    assert many.stats() == one.stats()


def test_flows_to_dask_on_byte_ranges_are_the_sequential_flows(big_capture):
    src = intake.open_pcap_flows(big_capture, idle_timeout=0.5, blocksize=4 * 2**20)
    want = src.read()
    ddf = src.to_dask()
    assert ddf.npartitions >= 2 and len(want) > 1000
    got = ddf.compute(num_workers=2).sort_values("flow_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, as_in_dask(want))
