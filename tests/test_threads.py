"""threads=: one file decoded on several cores gives exactly the single-threaded DataFrame."""

import sys

import intake
import pandas as pd
import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
import synthcap  # noqa: E402


@pytest.fixture(scope="module")
def big_capture(tmp_path_factory):
    """About 50 MB: cut into several 16 MiB ranges."""
    path = tmp_path_factory.mktemp("threads") / "big.pcap"
    synthcap.write_capture(path, 90_000, seed=3)
    return str(path)


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_every_thread_count_gives_the_single_threaded_frame(big_capture, threads):
    one = intake.open_pcap(big_capture, threads=1, payload=True).read()
    many = intake.open_pcap(big_capture, threads=threads, payload=True).read()
    assert len(one) > 80_000
    pd.testing.assert_frame_equal(one, many)


def test_threads_with_filter_and_protocol(big_capture):
    one = intake.open_pcap(big_capture, threads=1, filter="tcp port 443", protocol="tcp").read()
    many = intake.open_pcap(big_capture, threads=2, filter="tcp port 443", protocol="tcp").read()
    assert len(one) > 1000
    pd.testing.assert_frame_equal(one, many)


@pytest.mark.parametrize("blocksize", [3_000_017, 8 * 2**20])
def test_byte_range_partitions_concatenate_to_the_whole_read(big_capture, blocksize):
    source = intake.open_pcap(big_capture, blocksize=blocksize, payload=True)
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
