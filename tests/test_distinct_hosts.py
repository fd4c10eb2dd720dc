"""No cliff on distinct addresses: captures whose addresses never repeat (scans, backbone
traffic, IPv6 privacy addresses) reach pandas without re-hashing every address, and the
values are right whatever representation the rule picks (README, "Choices worth knowing")."""

import importlib.util
import ipaddress
import time

import intake
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from intake_pcap._read import to_pandas

from conftest import CORPUS, REPO

_spec = importlib.util.spec_from_file_location("bench_hosts", REPO / "benches" / "bench_hosts.py")
bench_hosts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_hosts)

ROWS = 200_000


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    root = tmp_path_factory.mktemp("hosts")
    paths = {}
    for kind, n in [("hosts16-v4", ROWS), ("distinct-v4", ROWS), ("distinct-v6", ROWS)]:
        paths[kind] = root / f"{kind}.pcap"
        bench_hosts.write(paths[kind], kind, n)
    return paths


def expected_hosts(kind, n):
    """The addresses the generator wrote, formatted by Python's ipaddress (RFC 5952), not by us."""
    i = np.arange(n, dtype=np.uint64)
    if kind == "hosts16-v4":
        src, dst = bench_hosts._v4(0x0A000001 + i % 16), bench_hosts._v4(0x0A000001 + (i + 1) % 16)
    elif kind == "distinct-v4":
        src, dst = bench_hosts._v4(0x0A000000 + 2 * i), bench_hosts._v4(0x0A000001 + 2 * i)
    else:
        src, dst = bench_hosts._v6(2 * i), bench_hosts._v6(2 * i + 1)
    text = lambda rows: [str(ipaddress.ip_address(bytes(r))) for r in rows]  # noqa: E731
    return text(src), text(dst)


@pytest.mark.parametrize("kind", ["distinct-v4", "distinct-v6"])
@pytest.mark.parametrize("files", [1, 2])
def test_distinct_addresses_are_arrow_strings_with_the_right_values(captures, kind, files):
    source = intake.open_pcap([str(captures[kind])] * files, threads=2)
    df = source.read()
    assert str(df.src_host.dtype) == str(df.dst_host.dtype) == "string"
    assert df.src_host.dtype.storage == "pyarrow"
    src, dst = expected_hosts(kind, ROWS)
    assert df.src_host.tolist() == src * files and df.dst_host.tolist() == dst * files
    # Compare with strings and with each other, as categoricals do.
    assert df.index[df.src_host == src[1234]].tolist() == [1234 + ROWS * k for k in range(files)]
    assert not (df.src_host == df.dst_host).any()
    assert (df.src_host.iloc[1:ROWS].reset_index(drop=True) == pd.Series(src[1:], dtype="string[pyarrow]")).all()
    assert set(df.protocol.cat.categories) == {"udp"}  # bounded columns stay categoricals


def test_streams_follow_the_same_rule(captures):
    from intake_pcap.stream import OfflineStream

    stream = OfflineStream(str(captures["distinct-v4"]))
    assert str(stream.to_dataframe(100).src_host.dtype) == "category"  # 200 entries: few
    rest = stream.to_dataframe()
    assert str(rest.src_host.dtype) == "string" and len(rest) == ROWS - 100
    assert rest.src_host.tolist() == expected_hosts("distinct-v4", ROWS)[0][100:]


def test_repeated_addresses_stay_shared_categoricals(captures):
    df = intake.open_pcap(str(captures["hosts16-v4"]), threads=2).read()
    assert isinstance(df.src_host.dtype, pd.CategoricalDtype)
    assert df.src_host.dtype == df.dst_host.dtype and len(df.src_host.cat.categories) == 16
    assert df.src_host.cat.categories.is_unique
    src, dst = expected_hosts("hosts16-v4", ROWS)
    assert df.src_host.astype(str).tolist() == src and df.dst_host.astype(str).tolist() == dst
    assert (df.src_host == "10.0.0.1").sum() == ROWS // 16
    assert ((df.src_host == df.dst_host) == [s == d for s, d in zip(src, dst)]).all()


@pytest.mark.parametrize("kind", ["distinct-v4", "distinct-v6", "hosts16-v4"])
def test_categoricals_of_many_batches_match_pyarrow(captures, kind):
    """The categorical path (to_dask's partitions, discover()'s dtype) unifies the batches'
    dictionaries itself: the values must be pyarrow's own conversion's, and the categories
    unique and shared by both columns."""
    table = intake.open_pcap([str(captures[kind])] * 2, threads=2).to_arrow()
    assert table.column("src_host").num_chunks > 1
    ours = to_pandas(table)
    theirs = table.to_pandas()
    for name in ("src_host", "dst_host"):
        assert isinstance(ours[name].dtype, pd.CategoricalDtype)
        assert ours[name].cat.categories.is_unique
        assert ours[name].astype(object).tolist() == theirs[name].astype(object).tolist()
    assert ours.src_host.dtype == ours.dst_host.dtype


def test_read_chunked_needs_no_unification(captures):
    """One chunk is one Rust batch, one dictionary: categoricals at no hashing cost."""
    chunks = list(intake.open_pcap(str(captures["distinct-v4"]), chunksize=50_000).read_chunked())
    assert [len(c) for c in chunks] == [50_000] * 4
    src, _ = expected_hosts("distinct-v4", ROWS)
    assert all(isinstance(c.src_host.dtype, pd.CategoricalDtype) for c in chunks)
    assert pd.concat([c.src_host.astype(str) for c in chunks]).tolist() == src


def test_missing_values_in_text_columns(tmp_path):
    """tcp_flags is missing for non-TCP rows: codes -1 become NaN, as pyarrow makes them."""
    source = intake.open_pcap(str(CORPUS / "intake_pcap_tests_http.pcap"), columns=["tcp_flags", "src_mac", "dst_mac"])
    table = source.to_arrow()
    ours, theirs = to_pandas(table), table.to_pandas()
    assert ours.tcp_flags.isna().sum() == 2 == theirs.tcp_flags.isna().sum()
    for name in ours:
        assert ours[name].astype(object).fillna("-").tolist() == theirs[name].astype(object).fillna("-").tolist()
    assert ours.src_mac.dtype == ours.dst_mac.dtype


def test_empty_reads_keep_categorical_dtypes(tmp_path):
    df = intake.open_pcap(str(CORPUS / "intake_pcap_tests_http.pcap"), protocol="icmp").read()
    assert len(df) == 0 and isinstance(df.src_host.dtype, pd.CategoricalDtype)
    full = intake.open_pcap(str(CORPUS / "intake_pcap_tests_http.pcap")).read()
    assert [str(d) for d in df.dtypes] == [str(d) for d in full.dtypes]
    assert df.src_host.cat.categories.dtype == full.src_host.cat.categories.dtype


def test_list_of_tables_is_consumed():
    table = intake.open_pcap(str(CORPUS / "intake_pcap_tests_http.pcap")).to_arrow()
    tables = [table, table]
    df = to_pandas(tables)
    assert tables == [] and len(df) == 86


def test_hand_over_to_pandas_is_not_a_cliff(captures):
    """Generous bound, not a benchmark (benches/bench_hosts.py measures): turning the
    table of all-distinct addresses into pandas costs less than reading it. Before, it
    cost 10 to 40 times the read."""
    table_time = pandas_time = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        table = intake.open_pcap(str(captures["distinct-v6"]), threads=2).to_arrow()
        middle = time.perf_counter()
        to_pandas(table, text="auto")
        end = time.perf_counter()
        table_time, pandas_time = min(table_time, middle - start), min(pandas_time, end - middle)
    assert pandas_time < table_time + 0.05, (pandas_time, table_time)


def _write(path, src_numbers, dst_numbers):
    n = len(src_numbers)
    records = bench_hosts._records(n, bench_hosts._v4(src_numbers), bench_hosts._v4(dst_numbers), v6=False)
    path.write_bytes(bench_hosts.GLOBAL_HEADER + records.tobytes())


@pytest.mark.parametrize("shared, dtype", [(True, "category"), (False, "string")])
def test_the_rule_counts_distinct_addresses_not_batches(tmp_path, shared, dtype):
    """Three files of 20,000 packets, each with 40,000 distinct addresses: the same ones in
    every file (40,000 in all: categoricals) or new ones in each (120,000: strings). Read as
    three files (three dictionaries) or as one file (one), the dtype is the same."""
    i = np.arange(20_000, dtype=np.uint64)
    parts = []
    for k in range(3):
        base = 0x0A000000 + (0 if shared else k * 40_000)
        parts.append(tmp_path / f"part{k}.pcap")
        _write(parts[-1], base + 2 * i, base + 2 * i + 1)
    whole = tmp_path / "whole.pcap"
    whole.write_bytes(bench_hosts.GLOBAL_HEADER + b"".join(p.read_bytes()[24:] for p in parts))
    by_parts = intake.open_pcap([str(p) for p in parts]).read()
    at_once = intake.open_pcap(str(whole), threads=1).read()
    assert str(by_parts.src_host.dtype) == str(at_once.src_host.dtype) == dtype
    assert by_parts.src_host.astype(str).tolist() == at_once.src_host.astype(str).tolist()
    assert by_parts.dst_host.astype(str).tolist()[:3] == ["10.0.0.1", "10.0.0.3", "10.0.0.5"]


@pytest.mark.parametrize("threads", [1, 2])
def test_hosts_turn_to_text_mid_file_with_the_same_values(tmp_path, threads):
    """The Rust core writes hosts as text from the first batch that holds more than 65,536
    distinct ones (no hashing after it); the batches before it, and other files, come as
    dictionaries. Whatever the mix, read() gives every row's own address, as the
    dictionary path (to_arrow) and Python's ipaddress write it."""
    repeated = np.arange(70_000, dtype=np.uint64) % 16
    distinct = np.arange(140_000, dtype=np.uint64)
    src = np.concatenate([0x0A000001 + repeated, 0x0B000000 + 2 * distinct, 0x0A000001 + repeated[:30_000]])
    dst = np.concatenate([0x0A000002 + repeated, 0x0B000001 + 2 * distinct, 0x0A000002 + repeated[:30_000]])
    mixed, few = tmp_path / "mixed.pcap", tmp_path / "few.pcap"
    _write(mixed, src, dst)
    _write(few, 0x0A000001 + repeated, 0x0A000002 + repeated)
    source = intake.open_pcap([str(few), str(mixed)], threads=threads)
    df = source.read()
    assert str(df.src_host.dtype) == str(df.dst_host.dtype) == "string"
    text = lambda numbers: [str(ipaddress.IPv4Address(int(n))) for n in numbers]  # noqa: E731
    assert df.src_host.tolist() == text(0x0A000001 + repeated) + text(src)
    assert df.dst_host.tolist() == text(0x0A000002 + repeated) + text(dst)
    table = source.to_arrow()  # dictionaries throughout
    assert pa.types.is_dictionary(table.schema.field("src_host").type)
    assert df.src_host.tolist() == table.column("src_host").cast(pa.string()).to_pylist()
    assert len(df) == 70_000 + len(src)
    # Not vacuous: the core did switch, mid-file, and only for read().
    from intake_pcap import _native

    batches, _ = _native.read_capture(str(mixed), threads=threads, hosts="text_when_distinct")
    kinds = [str(pa.record_batch(b).schema.field("src_host").type) for b in batches]
    assert kinds[0].startswith("dictionary") and kinds[-1] == "large_string", kinds
