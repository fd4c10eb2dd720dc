"""The flow table's Python API (``intake.open_pcap_flows``), Community ID against the
reference implementation, rotated files, and timeouts and counters against nfstream."""

import os
import shutil
import subprocess

import intake
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import intake_pcap
from conftest import CORPUS, CORPUS2, as_in_dask, oracle_files

SAMPLE = str(CORPUS / "pcap_le_usec_ether_http.pcap")


def flows_of(path, **kw):
    return intake.open_pcap_flows(path, **kw).read()


def test_open_pcap_flows_reads_a_table_in_flow_id_order():
    src = intake.open_pcap_flows(SAMPLE)
    assert isinstance(src, intake_pcap.PCAPFlowsSource)
    df = src.read()
    schema = pa.schema(intake_pcap._native.flow_table_schema())
    assert list(df.columns) == schema.names
    assert len(df) > 0 and df.flow_id.is_monotonic_increasing and df.flow_id.is_unique
    assert str(df.start.dtype) == "datetime64[ns]" and str(df.duration.dtype) == "timedelta64[ns]"
    assert str(df.src_packets.dtype) == "UInt64" and str(df.src_host.dtype) == "category"
    # src_host and dst_host share their categories, as in the packet table.
    assert list(df.src_host.cat.categories) == list(df.dst_host.cat.categories)
    assert (df.src_packets + df.dst_packets).sum() == intake.open_pcap(SAMPLE).read().shape[0]
    assert src.discover()["npartitions"] == 1


def test_read_chunked_gives_the_same_flows_as_they_end():
    src = intake.open_pcap_flows(SAMPLE, chunksize=3, idle_timeout=1)
    chunks = list(src.read_chunked())
    assert len(chunks) > 1 and all(len(c) <= 3 for c in chunks)
    together = pd.concat(chunks).sort_values("flow_id").reset_index(drop=True)
    whole = src.read()
    pd.testing.assert_frame_equal(together.astype(object), whole.astype(object))


@pytest.mark.parametrize("held", [1 << 17, 1, 0])
def test_read_is_in_flow_id_order_whether_rust_or_pyarrow_sorts(monkeypatch, held):
    # Up to _HELD_IN_ID_ORDER flows, Rust hands them out sorted; past it, pyarrow sorts.
    ended = pd.concat(intake.open_pcap_flows(SAMPLE, idle_timeout=1).read_chunked())
    assert not ended.flow_id.is_monotonic_increasing  # the order is the sort's doing
    monkeypatch.setattr(intake_pcap.flows, "_HELD_IN_ID_ORDER", held)
    got = intake.open_pcap_flows(SAMPLE, idle_timeout=1, chunksize=5).read()
    want = ended.sort_values("flow_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got.astype(object), want.astype(object))


def test_to_arrow_polars_dask_and_file_agree(tmp_path):
    src = intake.open_pcap_flows(SAMPLE)
    table = src.to_arrow()
    df = src.read()
    assert table.num_rows == len(df)
    assert src.to_polars()["flow_id"].to_list() == df.flow_id.tolist()
    assert sorted(src.to_dask().compute().flow_id.tolist()) == df.flow_id.tolist()
    out = tmp_path / "flows.parquet"
    assert src.to_file(out) == len(df)
    back = pa.parquet.read_table(out) if hasattr(pa, "parquet") else None
    import pyarrow.parquet as pq

    back = pq.read_table(out).sort_by("flow_id")
    assert back.column("flow_id").to_pylist() == df.flow_id.tolist()


def test_catalog_driver(tmp_path):
    cat = tmp_path / "cat.yaml"
    cat.write_text(f"sources:\n  flows:\n    driver: pcap_flows\n    args:\n      urlpath: '{SAMPLE}'\n      idle_timeout: 60\n")
    df = intake.open_catalog(str(cat)).flows.read()
    assert len(df) == len(flows_of(SAMPLE, idle_timeout=60))


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "x"])
def test_bad_timeouts_are_refused(bad):
    with pytest.raises((ValueError, TypeError)):
        intake.open_pcap_flows(SAMPLE, idle_timeout=bad)


def test_command_line_flows(tmp_path):
    pcapframe = shutil.which("pcapframe")
    if pcapframe is None:
        pytest.fail("the pcapframe command is not installed (scripts/setup.sh installs it)")
    lines = subprocess.run([pcapframe, "flows", SAMPLE], capture_output=True, text=True, check=True).stdout.splitlines()
    df = flows_of(SAMPLE)
    assert len(lines) == len(df)
    out = tmp_path / "f.parquet"
    subprocess.run([pcapframe, "flows", SAMPLE, "-o", str(out), "--idle-timeout", "none"], check=True)
    import pyarrow.parquet as pq

    assert pq.read_table(out).num_rows == len(flows_of(SAMPLE, idle_timeout=None))
    # convert writes the packets' flow columns from the same flow table.
    packets = tmp_path / "p.parquet"
    subprocess.run([pcapframe, "convert", SAMPLE, "-o", str(packets), "--columns", "frame,flow_id,direction",
                    "--idle-timeout", "none"], check=True)
    want = intake.open_pcap(SAMPLE, columns=["frame", "flow_id", "direction"], idle_timeout=None).read()
    got = pq.read_table(packets).to_pandas()
    assert got.flow_id.tolist() == want.flow_id.tolist() and got.direction.astype(str).tolist() == want.direction.astype(str).tolist()


APP_COLUMNS = ["application", "server_name", "tls_ja4", "tls_ja3", "tls_ja3s"]


def test_application_columns_are_the_same_on_every_path(tmp_path):
    # A capture with DNS, TLS and HTTP flows, three times over in one file list: every path
    # (threads, chunks, dask's whole-file partitions and shards, files, the command) gives
    # the sequential flows, and naming the columns picks and orders them.
    path = CORPUS2 / "chrissanders-packets__http_espn.pcapng"
    columns = ["server_name", "flow_id", "application", "protocol", "tls_ja3"]
    src = intake.open_pcap_flows(str(path), columns=columns, threads=1, blocksize=100_000)
    want = src.read()
    assert list(want.columns) == columns and want.application.notna().sum() > 10
    assert set(want.application.dropna()) >= {"dns", "http"}
    for threads in (2, 4):
        got = intake.open_pcap_flows(str(path), columns=columns, threads=threads).read()
        pd.testing.assert_frame_equal(got, want)
    chunks = list(intake.open_pcap_flows(str(path), columns=columns, chunksize=7).read_chunked())
    together = pd.concat(chunks).sort_values("flow_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(together.astype(object), want.astype(object))
    dask = src.to_dask().compute().sort_values("flow_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(dask, as_in_dask(want))
    # Without flow_id among them, the flows still come in flow_id order.
    no_id = intake.open_pcap_flows(str(path), columns=["server_name", "application"]).read()
    pd.testing.assert_frame_equal(no_id.astype(object), want[["server_name", "application"]].astype(object))
    assert list(intake.open_pcap_flows(str(path)).read().columns) == pa.schema(
        intake_pcap._native.flow_table_schema()).names
    out = tmp_path / "f.parquet"
    assert src.to_file(out) == len(want)
    import pyarrow.parquet as pq

    back = pq.read_table(out).to_pandas().sort_values("flow_id").reset_index(drop=True)
    assert back.server_name.astype(object).tolist() == want.server_name.astype(object).tolist()
    pcapframe = shutil.which("pcapframe")
    if pcapframe is None:
        pytest.fail("the pcapframe command is not installed (scripts/setup.sh installs it)")
    cli = tmp_path / "cli.parquet"
    subprocess.run([pcapframe, "flows", str(path), "-o", str(cli), "--columns", ",".join(columns)], check=True)
    got = pq.read_table(cli).to_pandas().sort_values("flow_id").reset_index(drop=True)
    assert got.columns.tolist() == columns
    assert got.application.astype(object).tolist() == want.application.astype(object).tolist()
    run = subprocess.run([pcapframe, "flows", str(path), "--columns", "server_name"], capture_output=True, text=True)
    assert run.returncode != 0 and "-o" in run.stderr
    for bad in (["nope"], ["flow_id", "flow_id"], []):
        with pytest.raises(ValueError):
            intake.open_pcap_flows(str(path), columns=bad)
    with pytest.raises(TypeError):
        intake.open_pcap_flows(str(path), columns="server_name")


# -- Community ID: the reference implementation, on every flow of both corpora -----------

def reference_community_id(row):
    import communityid

    cid = communityid.CommunityID()
    proto = row.protocol
    src, dst = str(row.src_host), str(row.dst_host)
    if proto in ("tcp", "udp", "sctp") and not pd.isna(row.src_port):
        make = {"tcp": communityid.FlowTuple.make_tcp, "udp": communityid.FlowTuple.make_udp,
                "sctp": communityid.FlowTuple.make_sctp}[proto]
        return cid.calc(make(src, dst, int(row.src_port), int(row.dst_port)))
    if proto in ("icmp", "icmp6") and not pd.isna(row.src_port):
        make = communityid.FlowTuple.make_icmp if proto == "icmp" else communityid.FlowTuple.make_icmp6
        # dst_port is the counterpart type (ignored by the reference for such types) or the code.
        return cid.calc(make(src, dst, int(row.src_port), int(row.dst_port)))
    return None


@pytest.mark.parametrize("directory", [CORPUS, CORPUS2], ids=["corpus", "corpus2"])
def test_community_id_is_the_reference_implementations(directory):
    import communityid

    checked = 0
    for name in oracle_files(directory):
        df = flows_of(str(directory / name), errors="ignore")
        for row in df.itertuples():
            want = reference_community_id(row)
            if want is None:
                number = {"icmp": 1, "icmp6": 58}.get(row.protocol)
                if number is None:
                    # TCP/UDP without ports (pieces of a datagram whose first piece was not
                    # seen) the reference refuses to hash; we hash addresses and protocol.
                    continue
                want = communityid.CommunityID().calc(communityid.FlowTuple(number, str(row.src_host), str(row.dst_host)))
            assert row.community_id == want, (name, row)
            checked += 1
    assert checked > 200


# -- Rotated captures: a flow goes on from one file into the next ------------------------

def test_rotated_files_are_one_traffic(tmp_path):
    editcap = shutil.which("editcap")
    assert editcap, "editcap (tshark's package) is installed by scripts/setup.sh --test"
    subprocess.run([editcap, "-c", "7", SAMPLE, str(tmp_path / "part.pcap")], check=True)
    parts = sorted(str(p) for p in tmp_path.glob("part*.pcap"))
    assert len(parts) > 2
    keep = ["src_host", "src_port", "dst_host", "dst_port", "protocol", "start", "end", "src_packets",
            "dst_packets", "src_bytes", "dst_bytes", "conn_state", "history", "end_reason", "community_id"]
    whole = flows_of(SAMPLE)[keep].astype(str).sort_values(keep).reset_index(drop=True)
    rotated = flows_of(parts)[keep].astype(str).sort_values(keep).reset_index(drop=True)
    pd.testing.assert_frame_equal(rotated, whole)
    # Flow ids name the file of the first packet.
    ids = flows_of(parts).flow_id
    assert (ids // 2**40).nunique() > 1


# -- Timeouts and per-direction counters against nfstream ------------------------------

def write_gaps(path, gaps_ms):
    """UDP packets 10.0.0.1:40000 -> 10.0.0.2:50000 and back, alternating, after each gap
    (milliseconds, whole: nfstream keeps milliseconds)."""
    from scapy.all import IP, UDP, Ether, Raw, wrpcap

    t = 1_700_000_000.0
    packets = []
    for i, gap in enumerate(gaps_ms):
        t += gap / 1000
        forward = i % 3 != 2
        ip = IP(src="10.0.0.1", dst="10.0.0.2") if forward else IP(src="10.0.0.2", dst="10.0.0.1")
        udp = UDP(sport=40000, dport=50000) if forward else UDP(sport=50000, dport=40000)
        p = Ether() / ip / udp / Raw(b"x" * (10 + i))
        p.time = t
        packets.append(p)
    wrpcap(str(path), packets)


def nfstream_flows(path, idle, active):
    import nfstream

    df = nfstream.NFStreamer(source=str(path), idle_timeout=idle, active_timeout=active, accounting_mode=1,
                             n_dissections=0, statistical_analysis=False, decode_tunnels=False).to_pandas()
    return sorted((int(r.bidirectional_first_seen_ms), int(r.src2dst_packets), int(r.src2dst_bytes),
                   int(r.dst2src_packets), int(r.dst2src_bytes)) for r in df.itertuples())


def our_flows(path, idle, active):
    df = flows_of(str(path), idle_timeout=idle, active_timeout=active)
    return sorted((int(r.start.value // 1_000_000), int(r.src_packets), int(r.src_bytes), int(r.dst_packets),
                   int(r.dst_bytes)) for r in df.itertuples())


@pytest.mark.parametrize("idle,active", [(10, 1800), (5, 12), (10, 30)])
def test_timeouts_and_counters_match_nfstream(tmp_path, idle, active):
    # Gaps just under, at and over the idle timeout, and a long run that crosses the active one.
    gaps = [0, 1000, idle * 1000 - 1, idle * 1000, idle * 1000 + 1, 2000, 2000, 3000, 4000, 4000, 4000,
            idle * 1000 + 500, 10, 20, idle * 1000 - 1, 1]
    path = tmp_path / "gaps.pcap"
    write_gaps(path, gaps)
    ours, theirs = our_flows(path, idle, active), nfstream_flows(path, idle, active)
    assert len(ours) > 2
    assert ours == theirs


@pytest.mark.parametrize("blocksize", [None, 3000, 20_000])
def test_to_dask_splits_the_flow_table_exactly(blocksize):
    # Partitions decoded apart, flows built in shards of the address pairs with the capture's
    # clock: the same flows as the sequential table, even with timeouts that end flows all along.
    src = intake.open_pcap_flows(SAMPLE, blocksize=blocksize, idle_timeout=0.05, active_timeout=1)
    want = src.read()
    ddf = src.to_dask()
    assert ddf.npartitions > (1 if blocksize else 0)
    got = ddf.compute().sort_values("flow_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, as_in_dask(want))


def test_to_dask_flows_move_between_processes(tmp_path):
    import pickle

    from intake_pcap._native import observe_partition, shard_flows

    observed, stats = observe_partition(SAMPLE, file=0)
    again = pickle.loads(pickle.dumps(observed))
    assert len(again) == len(observed) == stats["packets"] - stats["not_ip"] > 0
    flows = [pa.record_batch(shard_flows([p], shard=0, shards=1)) for p in (observed, again)]
    assert flows[0].equals(flows[1]) and flows[0].num_rows == 3  # two TCP connections and a DNS query
    # Rotated files, decoded and sharded in worker processes: the sequential flows.
    parts_dir = tmp_path / "parts"
    parts_dir.mkdir()
    subprocess.run(["editcap", "-c", "9", SAMPLE, str(parts_dir / "part.pcap")], check=True)
    parts = sorted(str(p) for p in parts_dir.iterdir())
    src = intake.open_pcap_flows(parts, idle_timeout=0.05)
    got = src.to_dask().compute(scheduler="processes", num_workers=2).sort_values("flow_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, as_in_dask(src.read()))


# -- Join keys on packets (frame, flow_id, direction) -------------------------------------

JOIN = ["time", "src_host", "src_port", "dst_host", "dst_port", "protocol", "frame", "community_id", "flow_id",
        "direction"]


def write_turned_connection(path):
    """A TCP connection first seen by its SYN-ACK (retransmitted once), between two ports that
    are not likely server ports, so that it turns round at the first ACK; and a UDP flow."""
    from scapy.all import IP, TCP, UDP, Ether, Raw, wrpcap

    server, client = "10.0.0.1", "10.0.0.2"
    s2c = dict(src=server, dst=client)
    c2s = dict(src=client, dst=server)
    packets = [
        Ether() / IP(**s2c) / TCP(sport=40000, dport=50000, flags="SA", seq=100, ack=1),
        Ether() / IP(**s2c) / TCP(sport=40000, dport=50000, flags="SA", seq=100, ack=1),
        Ether() / IP(src="10.0.0.3", dst="10.0.0.4") / UDP(sport=1234, dport=5678) / Raw(b"x"),
        Ether() / IP(**c2s) / TCP(sport=50000, dport=40000, flags="A", seq=1, ack=101),
        Ether() / IP(**c2s) / TCP(sport=50000, dport=40000, flags="PA", seq=1, ack=101) / Raw(b"hello"),
        Ether() / IP(**s2c) / TCP(sport=40000, dport=50000, flags="A", seq=101, ack=6),
    ]
    for i, p in enumerate(packets):
        p.time = 1_700_000_000 + i / 10
    wrpcap(str(path), packets)


def test_direction_is_against_the_flows_final_originator(tmp_path):
    path = tmp_path / "turned.pcap"
    write_turned_connection(path)
    flows = flows_of(str(path))
    tcp = flows[flows.protocol == "tcp"].iloc[0]
    # Zeek turns the connection at the client's first ACK: the client is the originator.
    assert (tcp.src_host, tcp.src_port, tcp.history[0]) == ("10.0.0.2", 50000, "^")
    packets = intake.open_pcap(str(path), columns=JOIN).read()
    assert packets.frame.tolist() == [1, 2, 3, 4, 5, 6]
    assert packets.direction.tolist() == ["resp", "resp", "orig", "orig", "orig", "resp"]
    assert packets.flow_id.tolist() == [tcp.flow_id] * 2 + [3] + [tcp.flow_id] * 3
    # The join the columns are for: every packet meets its flow, and orig packets come from src.
    joined = packets.merge(flows, on="flow_id", suffixes=("", "_flow"))
    assert len(joined) == len(packets)
    orig = joined[joined.direction == "orig"]
    assert (orig.src_host.astype(str) == orig.src_host_flow.astype(str)).all()


def test_every_path_gives_the_same_packets_with_flow_columns(tmp_path):
    source = intake.open_pcap(SAMPLE, columns=JOIN, chunksize=7, idle_timeout=1)
    whole = source.read()
    assert len(whole) > 20 and whole.flow_id.nunique() > 1
    assert source.discover()["npartitions"] == 1
    flows = intake.open_pcap_flows(SAMPLE, idle_timeout=1).read()
    assert set(whole.flow_id) == set(flows.flow_id)
    plain = lambda df: df.astype(object).reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(plain(pd.concat(list(source.read_chunked()))), plain(whole))
    pd.testing.assert_frame_equal(plain(source.read_partition(0)), plain(whole))
    pd.testing.assert_frame_equal(source.to_dask().compute().reset_index(drop=True), as_in_dask(whole))
    assert source.to_arrow().column("flow_id").to_pylist() == whole.flow_id.tolist()
    assert source.to_polars()["direction"].to_list() == whole.direction.tolist()
    out = tmp_path / "packets.parquet"
    assert source.to_file(out) == len(whole)
    import pyarrow.parquet as pq

    assert pq.read_table(out).column("flow_id").to_pylist() == whole.flow_id.tolist()
    # The timeouts are the flow table's: other timeouts, other flows.
    one_flow_each = intake.open_pcap(SAMPLE, columns=["flow_id"], idle_timeout=None).read()
    assert one_flow_each.flow_id.nunique() < whole.flow_id.nunique()


def test_flow_columns_follow_a_rotated_capture_across_files(tmp_path):
    parts_dir = tmp_path / "parts"
    parts_dir.mkdir()
    subprocess.run(["editcap", "-c", "7", SAMPLE, str(parts_dir / "part.pcap")], check=True)
    parts = sorted(str(p) for p in parts_dir.iterdir())
    assert len(parts) > 2
    packets = intake.open_pcap(parts, columns=JOIN).read()
    flows = intake.open_pcap_flows(parts).read()
    assert set(packets.flow_id) == set(flows.flow_id)
    # frame counts within each file; a flow goes on into the next file.
    assert packets.frame.max() <= 7
    files_of = packets.groupby("flow_id").flow_id.size()
    assert (files_of > 7).any()


def test_flow_columns_are_refused_where_they_cannot_be_exact(tmp_path):
    fifo = tmp_path / "capture.fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="reads the capture twice"):
        intake.open_pcap(str(fifo), columns=["time", "direction"]).discover()
    with pytest.raises(ValueError, match="live interface"):
        intake.open_pcap(None, interface="lo", columns=["flow_id"])


def test_verify_checksums_drops_what_tshark_finds_bad_and_records_c():
    # A capture taken on the sending host: its TCP checksums were left to the network card.
    path = str(CORPUS2 / "chrissanders-packets__http_espn.pcapng")
    run = subprocess.run(
        ["tshark", "-n", "-r", path, "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
         "-T", "fields", "-E", "occurrence=f", "-e", "ip.checksum.status", "-e", "tcp.checksum.status"],
        capture_output=True, text=True, check=True,
    )
    bad_tcp = sum(1 for line in run.stdout.splitlines() if line.split("\t") == ["1", "0"])
    assert bad_tcp > 50
    plain = flows_of(path, idle_timeout=None)
    verified = flows_of(path, idle_timeout=None, verify_checksums=True)
    count = lambda df: int((df.src_packets + df.dst_packets).sum())  # noqa: E731
    # TCP packets with a bad checksum count for nothing (Zeek's TCP analyzer returns early).
    assert count(plain) - count(verified) == bad_tcp
    assert verified.history.str.contains("C|c").sum() > 0
    assert not plain.history.str.contains("C|c").any()
    # Every path verifies alike: dask (observations carry the verdicts) and the command line.
    ddf = intake.open_pcap_flows(path, idle_timeout=None, verify_checksums=True, blocksize=100_000).to_dask()
    got = ddf.compute().sort_values("flow_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, as_in_dask(verified))
    lines = subprocess.run([shutil.which("pcapframe"), "flows", path, "--idle-timeout", "none", "--verify-checksums"],
                           capture_output=True, text=True, check=True).stdout
    assert len(lines.splitlines()) == len(verified)


IAT_CAPTURES = [(d, n) for d in (CORPUS, CORPUS2) for n in oracle_files(d)]


@pytest.mark.parametrize("directory,name", IAT_CAPTURES, ids=[n for _, n in IAT_CAPTURES])
def test_inter_arrival_statistics_are_the_packets_gaps_in_pandas(directory, name):
    # Each direction's gaps, worked out in pandas from the packet table's times, flow_id and
    # direction: a packet's gap is its time less the latest time of its direction before it
    # (0 for one stamped earlier); later pieces of a fragmented datagram are not packets of
    # their flow, and packets without a time have no gap. (nfstream's own inter-arrival
    # features are in whole milliseconds, so pandas is the oracle here.)
    import warnings

    path = str(directory / name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # damaged captures: the good packets before the damage
        packets = intake.open_pcap(path, columns=["time", "flow_id", "direction", "fragment_offset"],
                                   errors="ignore").read()
        flows = intake.open_pcap_flows(path, errors="ignore").read().set_index("flow_id")
    packets = packets[packets.flow_id.notna() & (packets.fragment_offset == 0) & packets.time.notna()]
    packets = packets.assign(ns=packets.time.astype("int64"), direction=packets.direction.astype(str))
    compared = 0
    for (flow_id, direction), group in packets.groupby(["flow_id", "direction"], sort=False):
        side = "src" if direction == "orig" else "dst"
        ns = group.ns.to_numpy(dtype="int64")  # exact: epoch nanoseconds do not fit a float
        gaps = pd.Series(ns[1:] - np.maximum.accumulate(ns)[:-1]).clip(lower=0)
        row = flows.loc[flow_id]
        got = [row[f"{side}_iat_{s}"] for s in ("min", "mean", "std", "max")]
        if len(gaps) == 0:
            assert all(pd.isna(v) for v in got), (flow_id, direction)
            continue
        want = [gaps.min(), gaps.mean(), gaps.std(), gaps.max()]
        assert got[0].value == want[0] and got[3].value == want[3], (flow_id, direction)
        # Nanosecond durations: the mean and spread rounded to the nanosecond.
        assert abs(got[1].value - want[1]) <= 1, (flow_id, direction)
        if len(gaps) < 2:
            assert pd.isna(got[2]), (flow_id, direction)
        else:
            assert abs(got[2].value - want[2]) <= max(1, want[2] * 1e-9), (flow_id, direction)
        compared += 1
    if len(packets) > 1:
        assert compared > 0 or packets.groupby(["flow_id", "direction"]).size().max() < 2
