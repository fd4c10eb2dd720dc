"""Where analysts already work (issue 14): the Arrow PyCapsule stream on sources, flow
sources and streams (pyarrow, polars, DuckDB read them without pandas), options that a
file source would ignore refused, mistyped names answered with a suggestion, and
``intake_pcap.column_names()``."""

import subprocess
import sys
import tempfile

import duckdb
import intake
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import intake_pcap
from conftest import CORPUS
from intake_pcap._read import to_pandas
from intake_pcap.stream import OfflineStream

# Several files, so that the stream crosses files whose host dictionaries differ.
TESTS_GLOB = str(CORPUS / "intake_pcap_tests_*.pcap")
HTTP = str(CORPUS / "intake_pcap_tests_http.pcap")


def plain(table: pa.Table) -> pd.DataFrame:
    """Values to compare, whatever the encoding (dictionary or not)."""
    return pd.DataFrame({name: table.column(name).to_pylist() for name in table.column_names})


def test_pa_table_of_a_source_is_its_rows_across_files():
    source = intake.open_pcap(TESTS_GLOB)
    files, _ = source._load_metadata()
    assert len(files) >= 3
    streamed = pa.table(source)
    assert streamed.num_rows == len(source.read()) > 100
    pd.testing.assert_frame_equal(plain(streamed), plain(source.to_arrow()))


def test_the_stream_comes_in_chunks_as_read_chunked_reads():
    source = intake.open_pcap(HTTP, chunksize=5)
    reader = pa.RecordBatchReader.from_stream(source)
    sizes = [batch.num_rows for batch in reader]
    assert sizes[0] == 5 and sum(sizes) == 43 and len(sizes) == 9


def test_polars_and_duckdb_read_a_source_without_pandas():
    source = intake.open_pcap(TESTS_GLOB, columns=["time", "src_host", "dst_port", "protocol"])
    want = source.read()
    frame = pl.DataFrame(source)
    assert frame.columns == ["time", "src_host", "dst_port", "protocol"]
    assert frame.height == len(want)
    counts = dict(duckdb.sql("select protocol, count(*) from source group by protocol").fetchall())
    assert counts == want.protocol.value_counts().loc[lambda s: s > 0].to_dict()
    ((ports,),) = duckdb.sql("select count(*) from source where dst_port = 80").fetchall()
    assert ports == (want.dst_port == 80).sum() > 0


def test_a_flow_source_streams_its_flows_in_flow_id_order():
    flows = intake.open_pcap_flows(HTTP)
    streamed = pa.table(flows)
    want = flows.read()
    assert streamed.num_rows == len(want) > 0
    assert streamed.column("flow_id").to_pylist() == want.flow_id.tolist()
    assert pl.DataFrame(flows).height == len(want)


def test_a_stream_gives_the_packets_that_remain():
    stream = OfflineStream(HTTP)
    first = stream.to_arrow(10)
    rest = pa.table(stream)
    assert first.num_rows == 10 and rest.num_rows == 33
    assert pa.table(stream).num_rows == 0


@pytest.mark.parametrize("option", [
    dict(interface="lo"), dict(timeout=100), dict(max_packet=64), dict(promisc=False), dict(limit=3),
    dict(duration=1.0),
])
def test_live_options_on_a_file_source_are_refused(option):
    (name,) = option
    with pytest.raises(TypeError, match=f"{name} applies to a live interface"):
        intake.open_pcap(HTTP, **option)


def test_live_options_still_open_a_live_source():
    # Nothing is captured until the first read: this only builds the source.
    source = intake.open_pcap(None, interface="lo", timeout=100, max_packet=64, promisc=False, limit=3, duration=1.0)
    assert (source.timeout, source.max_packet, source.promisc, source.limit) == (100, 64, False, 3)
    assert (intake.open_pcap(None, interface="lo").timeout, intake.open_pcap(None, interface="lo").max_packet) == (
        1000, 65536)


@pytest.mark.parametrize("call, typo, suggestion", [
    (lambda v: intake.open_pcap(HTTP, protocol=v), "icmp7", "icmp6"),
    (lambda v: intake.open_pcap(HTTP, protocol=v), "tpc", "tcp"),
    (lambda v: intake.open_pcap(HTTP, protocol=v), "UPD", "udp"),
    (lambda v: intake.open_pcap(HTTP, columns=[v]), "src_hots", "src_host"),
    (lambda v: intake.open_pcap_flows(HTTP, columns=[v]), "conn_stat", "conn_state"),
])
def test_a_mistyped_name_gets_a_suggestion(call, typo, suggestion):
    with pytest.raises(ValueError, match=f'did you mean "{suggestion}"\\?'):
        call(typo)


def test_a_name_far_from_every_other_gets_no_suggestion():
    with pytest.raises(ValueError) as raised:
        intake.open_pcap(HTTP, protocol="zzzzzz")
    assert "did you mean" not in str(raised.value) and "valid names are" in str(raised.value)


def test_column_names_is_public_and_complete():
    names = intake_pcap.column_names()
    assert names[:6] == ["time", "src_host", "src_port", "dst_host", "dst_port", "protocol"]
    assert {"payload", "frame", "flow_id", "community_id"} <= set(names)
    # Every name it lists can be read.
    assert list(intake.open_pcap(HTTP, columns=names[:20]).read().columns) == names[:20]


def test_repr_is_one_short_line_and_html_shows_files_once_known():
    source = intake.open_pcap(TESTS_GLOB, protocol="tcp")
    text = repr(source)
    assert "\n" not in text and len(text) < 300 and "!!python" not in text
    assert text.startswith("<PCAPSource ") and "protocol='tcp'" in text
    assert "files" not in source._repr_html_()
    source.discover()
    assert "files, " in repr(source)
    html = source._repr_html_()
    assert html.startswith("<table>") and "intake_pcap_tests_http.pcap" in html and "partitions" in html
    assert "src_host" in html


def test_the_package_loads_its_names_and_modules_on_first_use():
    # `import intake_pcap` imports no pandas (the pcapframe script relies on it), yet the
    # public names and the modules it used to import are its attributes, as before.
    code = ("import sys, intake_pcap; assert 'pandas' not in sys.modules; "
            "assert intake_pcap.source.PCAPSource is intake_pcap.PCAPSource; "
            "assert intake_pcap.flows.PCAPFlowsSource is intake_pcap.PCAPFlowsSource; "
            "assert intake_pcap.stream.OfflineStream and intake_pcap.errors.CaptureWarning; "
            "assert {'PCAPSource', 'source', 'scan_pcap'} <= set(dir(intake_pcap)); "
            "import pytest; pytest.raises(AttributeError, getattr, intake_pcap, 'nothing')")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tempfile.gettempdir())


def test_the_old_documented_signatures_work():
    from intake_pcap import PCAPSource, Plugin

    old = PCAPSource(HTTP, {"protocol": "udp"}, {"origin": "old docs"})
    assert len(old.read()) == 2 and old.metadata["origin"] == "old docs"
    named = PCAPSource(urlpath=HTTP, pcap_kwargs={"protocol": "tcp"}, metadata={"origin": "keywords"})
    assert len(named.read()) == 41 and named.metadata["origin"] == "keywords"
    plugin = Plugin()
    kwargs = {"protocol": "udp", "metadata": {"a": 1}}
    base, rest = plugin.separate_base_kwargs(kwargs)
    assert base == {"metadata": {"a": 1}} and rest == {"protocol": "udp"} and "metadata" in kwargs
    opened = plugin.open(HTTP, **kwargs)
    assert len(opened.read()) == 2 and opened.metadata["a"] == 1
    with pytest.raises(TypeError, match="old signature"):
        PCAPSource(HTTP, {"protocol": "udp"}, {"a": 1}, filter="udp")


def test_parquet_from_to_file_reads_back_with_reads_dtypes(tmp_path):
    # ICMPv6 rows: ports and vlan missing, which without pandas' metadata come back as float64.
    columns = ["time", "src_host", "src_port", "dst_port", "protocol", "vlan", "ttl"]
    source = intake.open_pcap(str(CORPUS / "ether_icmpv6_errors_inner_udp.pcap"), columns=columns)
    want = source.read()
    assert want.src_port.isna().any()
    source.to_file(tmp_path / "packets.parquet")
    got = pd.read_parquet(tmp_path / "packets.parquet")
    assert got.dtypes.astype(str).to_dict() == want.dtypes.astype(str).to_dict()
    pd.testing.assert_frame_equal(got, want, check_categorical=False)
    flows = intake.open_pcap_flows(HTTP)
    flows.to_file(tmp_path / "flows.parquet")
    got, want = pd.read_parquet(tmp_path / "flows.parquet"), flows.read()
    assert got.dtypes.astype(str).to_dict() == want.dtypes.astype(str).to_dict()


def test_an_empty_file_among_a_directorys_captures_warns_and_is_skipped(tmp_path):
    import shutil

    shutil.copy(HTTP, tmp_path / "a.pcap")
    (tmp_path / "b.pcap").write_bytes(b"")  # the next rotated file, just created
    for where in (str(tmp_path), str(tmp_path / "*.pcap")):
        with pytest.warns(intake_pcap.CaptureWarning, match="b.pcap: an empty file") as caught:
            assert len(intake.open_pcap(where).read()) == 43
        # Attributed to the caller's line, not to this package or Intake.
        assert caught[0].filename == __file__
    with pytest.raises(intake_pcap.NotACaptureError, match="empty"):
        intake.open_pcap(str(tmp_path / "b.pcap")).read()
    (tmp_path / "a.pcap").unlink()
    with pytest.warns(intake_pcap.CaptureWarning), pytest.raises(FileNotFoundError, match="empty files are skipped"):
        intake.open_pcap(str(tmp_path)).read()


@pytest.mark.parametrize("nrows", [1, 5, 43, 100, 157, 10**9])
def test_nrows_gives_the_first_rows_on_every_read_path(nrows):
    full = intake.open_pcap(TESTS_GLOB).read()
    want = full.head(nrows).reset_index(drop=True).astype(str)
    source = intake.open_pcap(TESTS_GLOB, nrows=nrows, chunksize=7)
    assert source.discover()["npartitions"] == 1
    got = {
        "read": source.read(),
        "read_chunked": pd.concat(list(source.read_chunked()), ignore_index=True),
        "read_partition": source.read_partition(0),
        "to_arrow": to_pandas(source.to_arrow()),
        "to_dask": source.to_dask().compute(),
        "arrow stream": to_pandas(pa.table(source)),
    }
    polars = source.to_polars()
    assert polars["src_host"].cast(pl.String).to_list() == want.src_host.tolist()
    assert polars["dst_port"].to_list() == full.dst_port.head(nrows).astype(object).where(
        full.dst_port.head(nrows).notna(), None).tolist()
    for path, frame in got.items():
        frame = frame.reset_index(drop=True).astype(str)[list(want.columns)]
        assert len(frame) == min(nrows, len(full)), path
        pd.testing.assert_frame_equal(frame, want, check_dtype=False, obj=path)


def test_nrows_stops_reading_before_later_damage(tmp_path):
    cut = tmp_path / "cut.pcap"
    cut.write_bytes((CORPUS / "intake_pcap_tests_http.pcap").read_bytes()[:-5])
    with pytest.warns(intake_pcap.CaptureWarning, match="ends inside"):
        assert len(intake.open_pcap(str(cut)).read()) == 42
    # The damage is past the rows asked for: never reached, so no warning, and no error.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(intake.open_pcap(str(cut), nrows=10, errors="raise").read()) == 10
        assert sum(len(c) for c in intake.open_pcap(str(cut), nrows=10, errors="raise").read_chunked()) == 10


def test_nrows_is_checked_and_refused_where_it_cannot_apply(tmp_path):
    with pytest.raises(ValueError, match="nrows= must be a whole number"):
        intake.open_pcap(HTTP, nrows=0)
    with pytest.raises(TypeError, match="limit="):
        intake.open_pcap(None, interface="lo", nrows=5)
    with pytest.raises(ValueError, match="pass the rows"):
        intake.open_pcap(HTTP, nrows=5).to_pcap(tmp_path / "x.pcapng")


def _scan_reads(monkeypatch):
    """What each read behind a scan was asked for, and the rows it gave before Polars'
    filter: (protocol, start_ns, end_ns, nrows, columns, rows, row_match's terms)."""
    import intake_pcap.source as source_module

    reads = []
    original = source_module.PCAPSource._arrow_batches

    def counting(self):
        for batch in original(self):
            match = tuple((c, tuple(v)) for clause in self._row_match or () for c, v in clause) or None
            reads.append((self.protocol, self._start_ns, self._end_ns, self.nrows, tuple(self.columns), batch.num_rows,
                          match))
            yield batch

    monkeypatch.setattr(source_module.PCAPSource, "_arrow_batches", counting)
    return reads


@pytest.mark.parametrize("query", [
    lambda lf: lf.filter(pl.col("protocol") == "udp"),
    lambda lf: lf.filter((pl.col("dst_port") == 80) | (pl.col("src_port") == 80)).select("time", "src_host"),
    lambda lf: lf.filter(pl.col("src_host").cast(pl.String) == "145.254.160.237", pl.col("protocol") == "tcp"),
    lambda lf: lf.filter(pl.col("time") >= pd.Timestamp("2004-05-13 10:17:20").to_pydatetime(),
                         pl.col("time") <= pd.Timestamp("2004-05-13 10:17:30").to_pydatetime()),
    lambda lf: lf.filter(pl.col("time") > pd.Timestamp("2004-05-13 10:17:08.222534").to_pydatetime()),
    lambda lf: lf.filter(pl.col("protocol") == "tcp").head(7),
    lambda lf: lf.head(11).select("dst_port"),
    lambda lf: lf.group_by("protocol").len().sort("protocol"),
    lambda lf: lf.filter(pl.col("src_host") == "145.254.160.237", (pl.col("dst_port") == 80) | (pl.col("dst_port") == 3372)),
    lambda lf: lf.filter(80 == pl.col("src_port")).select("dst_host", "time"),
    lambda lf: lf.filter((pl.col("dst_host").cast(pl.String) == "65.208.228.223") | (pl.col("src_port") == 53)),
    lambda lf: lf.filter((pl.col("dst_port") == 80) | (pl.col("protocol") == "icmp")),  # not pushed: an OR with another column
    lambda lf: lf.filter(pl.col("dst_port") == 80, pl.col("time") >= pd.Timestamp("2004-05-13 10:17:10").to_pydatetime()),
])
def test_scan_pcap_gives_what_filtering_the_whole_read_gives(query):
    want = query(intake.open_pcap(TESTS_GLOB).to_polars().lazy()).collect()
    got = query(intake_pcap.scan_pcap(TESTS_GLOB)).collect()
    assert got.height > 0
    assert got.with_columns(pl.col(pl.Categorical).cast(pl.String)).equals(
        want.with_columns(pl.col(pl.Categorical).cast(pl.String)))


def test_scan_pcap_pushes_columns_protocol_time_and_limits_to_the_reader(monkeypatch):
    reads = _scan_reads(monkeypatch)
    lf = intake_pcap.scan_pcap(HTTP)
    assert lf.filter(pl.col("protocol") == "udp").select("src_host").collect().height == 2
    # Only UDP packets were built, of two columns: the filter's and the projection's.
    assert [(r[0], r[4], r[5]) for r in reads] == [("udp", ("src_host", "protocol"), 2)]
    reads.clear()
    start = pd.Timestamp("2004-05-13 10:17:30")
    later = int((intake.open_pcap(HTTP).read().time >= start).sum())
    assert 0 < later < 43
    assert lf.filter(pl.col("time") >= start.to_pydatetime()).collect().height == later
    # Only the packets from the start on were built.
    assert reads[0][1] == start.value and sum(r[5] for r in reads) == later
    reads.clear()
    assert lf.head(3).collect().height == 3
    assert [(r[3], r[5]) for r in reads] == [(3, 3)]
    reads.clear()
    # Ports and addresses: only the packets that can pass are built into rows.
    full = intake.open_pcap(HTTP).read()
    web = int(((full.dst_port == 80) | (full.src_port == 80)).sum())
    assert 0 < web < len(full)
    assert lf.filter((pl.col("dst_port") == 80) | (pl.col("src_port") == 80)).collect().height == web
    assert [r[6] for r in reads] == [(("dst_port", ("80",)), ("src_port", ("80",)))]
    assert sum(r[5] for r in reads) == web
    reads.clear()
    # An address only in the column's own spelling: another one equals no row, as in Polars.
    client = full.src_host.iloc[0]
    assert lf.filter(pl.col("src_host") == client).collect().height == int((full.src_host == client).sum()) > 0
    assert sum(r[5] for r in reads) == int((full.src_host == client).sum())
    reads.clear()
    assert lf.filter(pl.col("src_host") == " " + client).collect().height == 0
    assert sum(r[5] for r in reads) == 0


def test_scan_pcap_hands_nothing_down_when_flows_or_streams_are_read(monkeypatch):
    # A time range starts flows and TCP streams inside it: handed down, it would change the
    # flow ids and directions of the rows kept.
    reads = _scan_reads(monkeypatch)
    columns = ["time", "frame", "flow_id", "direction", "src_host", "dst_port"]
    full = pl.from_arrow(intake.open_pcap(HTTP, columns=columns).to_arrow())
    after = full["time"][20]
    for query in (lambda lf: lf.filter(pl.col("time") >= after, pl.col("dst_port") == 80),
                  lambda lf: lf.filter(pl.col("src_port") == 80).select("http_host", "time"),
                  lambda lf: lf.head(5)):
        want = query(pl.from_arrow(intake.open_pcap(HTTP, columns=intake_pcap.column_names()).to_arrow()).lazy())
        got = query(intake_pcap.scan_pcap(HTTP, columns=intake_pcap.column_names())).collect()
        assert got.height > 0
        assert got.with_columns(pl.col(pl.Categorical).cast(pl.String)).equals(
            want.collect().with_columns(pl.col(pl.Categorical).cast(pl.String)))
        assert all(r[1] is None and r[2] is None and r[3] is None and r[6] is None for r in reads)
        reads.clear()


def test_read_pcap_in_duckdb_after_one_registration_call():
    con = duckdb.connect()
    assert intake_pcap.register_duckdb(con) is con
    want = intake.open_pcap(TESTS_GLOB).read()
    counts = dict(con.sql(f"select protocol, count(*) from read_pcap('{TESTS_GLOB}') group by 1").fetchall())
    assert counts == want.protocol.value_counts().loc[lambda s: s > 0].to_dict()
    ports = con.sql(f"select src_port from read_pcap('{HTTP}')").fetchall()
    assert [p for (p,) in ports] == intake.open_pcap(HTTP).read().src_port.tolist()
    # Options for every call, and every column type there is.
    intake_pcap.register_duckdb(con, name="pcap_udp", protocol="udp", columns=intake_pcap.column_names(), payload=True)
    ((rows, payloads),) = con.sql(f"select count(*), count(payload) from pcap_udp('{HTTP}')").fetchall()
    assert rows == payloads == 2
    with pytest.raises(ValueError, match="unknown protocol"):
        intake_pcap.register_duckdb(con, protocol="nope")
    with pytest.raises(ValueError, match="identifier"):
        intake_pcap.register_duckdb(con, name="read pcap; drop")


def test_describe_columns_says_what_every_column_holds():
    packets = intake_pcap.describe_columns()
    assert list(packets) == intake_pcap.column_names()
    assert all(text.strip() for text in packets.values())
    assert "port" in packets["src_port"].lower()
    flows = intake_pcap.describe_columns(flows=True)
    assert {"flow_id", "conn_state", "history", "community_id"} <= set(flows)
    assert set(intake.open_pcap_flows(HTTP).read().columns) <= set(flows)
    # help() stands alone: the docstrings point at this, not at a README that is not installed.
    assert "README" not in (intake_pcap.PCAPSource.__doc__ or "") + (intake_pcap.PCAPFlowsSource.__doc__ or "")


def test_dask_answers_value_counts_groupby_and_merge_as_pandas_across_files():
    # Each file's partition has its own hosts and protocols: as categoricals, dask's meta
    # could not know them, and value_counts() gave __UNKNOWN_CATEGORIES__ rows.
    source = intake.open_pcap(TESTS_GLOB, columns=["time", "src_host", "dst_host", "dst_port", "protocol", "tcp_flags"])
    df = source.read()
    ddf = source.to_dask()
    assert ddf.npartitions == len(source._load_metadata()[0]) >= 3
    for column in ("protocol", "src_host", "tcp_flags"):
        want = df[column].value_counts()
        got = ddf[column].value_counts().compute()
        # pandas lists a categorical's unused categories with count 0; dask has none.
        assert dict(got) == {k: v for k, v in want.items() if v > 0}, column
        assert "__UNKNOWN_CATEGORIES__" not in set(got.index)
    want = df.groupby(["protocol", "dst_host"], observed=True).dst_port.count()
    got = ddf.groupby(["protocol", "dst_host"]).dst_port.count().compute()
    assert dict(got) == dict(want) and len(want) > 5
    assert ddf.src_host.nunique().compute() == df.src_host.nunique()
    labels = pd.DataFrame({"protocol": ["tcp", "udp", "icmp"], "label": ["stream", "datagram", "control"]})
    want = df.merge(labels, on="protocol").astype(str).sort_values(list(df.columns)).reset_index(drop=True)
    got = ddf.merge(labels, on="protocol").compute().astype(str).sort_values(list(df.columns)).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert 0 < len(want) < len(df) or len(want) == len(df) > 0
    # The text columns are strings in dask (the same values, NA where read() has NaN).
    assert {str(ddf.dtypes[c]) for c in ("src_host", "dst_host", "protocol", "tcp_flags")} == {"string"}
