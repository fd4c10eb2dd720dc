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
