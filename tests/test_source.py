"""The documented Intake API: the old plugin's own expectations, catalogs, partitions,
chunks, dask, dtypes."""

import shutil
import sys
from pathlib import Path

import intake
import pandas as pd
import pytest

from conftest import CORPUS, REPO

PINGS = str(CORPUS / "intake_pcap_tests_96pings.pcap")
HTTP = str(CORPUS / "intake_pcap_tests_http.pcap")
VLAN = str(CORPUS / "intake_pcap_tests_vlan.pcap")
COLUMNS = ["time", "src_host", "src_port", "dst_host", "dst_port", "protocol"]


def test_open_pcap_is_the_driver_class():
    from intake_pcap import PCAPSource

    assert intake.open_pcap is PCAPSource or intake.open_pcap.__name__ == "PCAPSource"
    assert isinstance(intake.open_pcap(HTTP), PCAPSource)


def test_old_plugin_expectations():
    assert len(intake.open_pcap(PINGS).read()) == 96
    http = intake.open_pcap(HTTP).read()
    assert len(http) == 43
    assert (http.protocol == "tcp").sum() == 41
    assert (http.protocol == "udp").sum() == 2
    assert (http.protocol == "icmp").sum() == 0
    vlan = intake.open_pcap(VLAN).read()
    assert len(vlan) == 18 and (vlan.protocol == "tcp").all()


def test_glob_gives_one_sorted_partition_per_file():
    source = intake.open_pcap(str(CORPUS / "intake_pcap_tests_*.pcap"))
    info = source.discover()
    assert info["npartitions"] == 3
    assert source.metadata["files"] == [PINGS, HTTP, VLAN]  # sorted: "96pings" < "http"
    df = source.read()
    assert len(df) == 157
    assert list(df.index) == list(range(157))
    parts = [source.read_partition(i) for i in range(3)]
    assert [len(p) for p in parts] == [96, 43, 18]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True).astype(df.dtypes.to_dict()), df)
    with pytest.raises(IndexError):
        source.read_partition(3)


def test_dtypes_are_exact_and_text_compares_like_strings():
    df = intake.open_pcap(HTTP).read()
    assert list(df.columns) == COLUMNS
    assert str(df.time.dtype) == "datetime64[ns]"
    assert str(df.src_port.dtype) == "UInt16" and str(df.dst_port.dtype) == "UInt16"
    assert isinstance(df.src_host.dtype, pd.CategoricalDtype)
    assert isinstance(df.protocol.dtype, pd.CategoricalDtype)
    assert df.src_host[0] == "145.254.160.237"
    assert (df.src_host == "145.254.160.237").sum() > 0
    # Source and destination share categories, so they compare with each other.
    assert ((df.src_host == df.dst_host) | True).all()
    dtype = intake.open_pcap(HTTP).discover()["dtype"]
    assert list(dtype) == COLUMNS
    assert all(df.dtypes[c] == d for c, d in dtype.items())


def test_ports_are_missing_not_zero_without_tcp_or_udp():
    df = intake.open_pcap(PINGS).read()
    assert df.src_port.isna().all() and df.dst_port.isna().all()
    assert (df.protocol == "icmp").all()


def test_protocol_filter_and_unknown_names():
    assert len(intake.open_pcap(HTTP, protocol="udp").read()) == 2
    assert len(intake.open_pcap(HTTP, protocol="icmp").read()) == 0
    ah = intake.open_pcap(str(CORPUS / "ether_ipv4_ah_tunnel_ipcomp_tcp.pcap"), protocol="ah").read()
    assert len(ah) == 10  # every packet is AH-protected, whatever it carries
    with pytest.raises(ValueError, match="valid names are: tcp, udp, icmp, icmp6"):
        intake.open_pcap(HTTP, protocol="tcpp")


def test_read_chunked_concatenates_to_read():
    source = intake.open_pcap(str(CORPUS / "intake_pcap_tests_*.pcap"), chunksize=10)
    chunks = list(source.read_chunked())
    assert all(0 < len(c) <= 10 for c in chunks)
    whole = pd.concat(chunks, ignore_index=True)
    expected = source.read()
    assert len(whole) == len(expected)
    for col in COLUMNS:
        pd.testing.assert_series_equal(whole[col].astype(object), expected[col].astype(object))


def test_to_dask_equals_read():
    source = intake.open_pcap(str(CORPUS / "intake_pcap_tests_*.pcap"))
    ddf = source.to_dask()
    assert ddf.npartitions == 3
    assert str(ddf.dtypes["time"]) == "datetime64[ns]"
    got = ddf.compute().reset_index(drop=True)
    want = source.read()
    assert len(got) == len(want)
    for col in COLUMNS:
        pd.testing.assert_series_equal(got[col].astype(object), want[col].astype(object))


def test_catalog_entries_from_the_docs(tmp_path):
    shutil.copy(HTTP, tmp_path / "local.pcap")
    shutil.copy(REPO / "examples" / "catalog.yml", tmp_path / "catalog.yml")
    cat = intake.open_catalog(str(tmp_path / "catalog.yml"))
    assert {"raw_live", "raw_local", "tcp_local", "udp_local"} <= set(cat)
    assert len(cat.raw_local.read()) == 43
    assert (cat.tcp_local.read().protocol == "tcp").sum() == 41
    assert len(cat.udp_local.read()) == 2


def test_payload_column_and_close():
    source = intake.open_pcap(HTTP, payload=True)
    df = source.read()
    assert df.columns[-1] == "payload"
    assert isinstance(df.payload[3], bytes)
    assert df.payload[3].startswith(b"GET /download.html")
    source.close()
    assert len(source.read()) == 43  # a closed source opens again on demand


def test_plot_needs_hvplot(monkeypatch):
    monkeypatch.setitem(sys.modules, "hvplot", None)
    monkeypatch.setitem(sys.modules, "hvplot.pandas", None)
    with pytest.raises(ImportError, match="pip install hvplot"):
        intake.open_pcap(HTTP).plot


def test_plugin_and_unexpected_arguments():
    from intake_pcap import Plugin

    assert len(Plugin().open(PINGS).read()) == 96
    with pytest.raises(TypeError, match="unexpected argument"):
        intake.open_pcap(HTTP, protocl="tcp")


def test_missing_files_are_named():
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        intake.open_pcap("/nonexistent/nothing-here.pcap").read()
    with pytest.raises(FileNotFoundError, match="no capture files match"):
        intake.open_pcap("/nonexistent/*.pcap").discover()


@pytest.mark.parametrize("name, value", [("threads", -1), ("threads", 0), ("threads", "2"), ("threads", 1.5),
                                         ("blocksize", -5), ("blocksize", 1.5), ("blocksize", "1MB"),
                                         ("blocksize", True)])
def test_threads_and_blocksize_must_be_whole_numbers(name, value):
    with pytest.raises(ValueError, match=f"{name}= must be a whole number of at least 1, or None"):
        intake.open_pcap(HTTP, **{name: value})


@pytest.mark.parametrize("name, value", [("chunksize", -5), ("chunksize", 0), ("chunksize", 2.5), ("chunksize", True),
                                         ("chunksize", "10"), ("limit", 0), ("limit", 1.5), ("timeout", 0),
                                         ("timeout", "1000"), ("max_packet", -1)])
def test_counts_must_be_whole_numbers_at_construction(name, value):
    # The live options on a live source (on a file source they are refused: test_interop.py).
    where = dict(urlpath=HTTP) if name == "chunksize" else dict(urlpath=None, interface="lo")
    with pytest.raises(ValueError, match=f"{name}= must be a whole number of at least 1"):
        intake.open_pcap(**where, **{name: value})


@pytest.mark.parametrize("value", [0, -1.0, "1", True, float("nan"), float("inf")])
def test_duration_must_be_positive_seconds(value):
    with pytest.raises(ValueError, match="duration= must be a number of seconds greater than 0"):
        intake.open_pcap(None, interface="lo", duration=value)


def test_chunksize_is_kept_as_given():
    assert intake.open_pcap(HTTP, chunksize=7).chunksize == 7
    assert [len(c) for c in intake.open_pcap(HTTP, chunksize=20).read_chunked()] == [20, 20, 3]


def test_close_from_another_thread_during_reads():
    """close() may land anywhere in a read (while files are listed, opened, decoded):
    the read finishes with every row, and never fails inside the source's state."""
    import threading

    source = intake.open_pcap(str(CORPUS / "intake_pcap_tests_*.pcap"), threads=1)
    stop = threading.Event()

    def closer():
        while not stop.is_set():
            source.close()

    thread = threading.Thread(target=closer)
    thread.start()
    try:
        for _ in range(100):
            assert len(source.read()) == 157
            assert sum(len(c) for c in source.read_chunked()) == 157
            assert source.to_arrow().num_rows == 157
            assert source.discover()["npartitions"] == 3
    finally:
        stop.set()
        thread.join()


def test_warnings_point_at_the_callers_line(tmp_path):
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(Path(HTTP).read_bytes()[:-100])
    source = intake.open_pcap(str(cut))
    for read in (source.read, lambda: list(source.read_chunked()), source.to_arrow):
        with pytest.warns(Warning) as caught:
            read()
        assert [Path(w.filename).name for w in caught] == ["test_source.py"], [(w.filename, w.lineno) for w in caught]
