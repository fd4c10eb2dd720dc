"""The `pcapframe` command (installed by scripts/setup.sh) and the Python outputs: show
against tcpdump, stats against tshark's summaries, convert and to_file read back by pyarrow,
polars and DuckDB equal to read()."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import intake
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import intake_pcap
from conftest import CORPUS, REPO
from intake_pcap._read import to_pandas
from intake_pcap.stream import OfflineStream

sys.path.insert(0, str(REPO / "tools"))
import synthcap  # noqa: E402

PCAPFRAME = shutil.which("pcapframe")
pytestmark = pytest.mark.skipif(PCAPFRAME is None, reason="pcapframe is not installed: run scripts/setup.sh")
CAPTURES = sorted(p for p in CORPUS.iterdir() if p.suffix in (".pcap", ".pcapng"))
HTTP = CORPUS / "pcap_le_usec_ether_http.pcap"
UTC = dict(os.environ, TZ="UTC")


def run(*args, check=True, **kwargs):
    result = subprocess.run([PCAPFRAME, *map(str, args)], capture_output=True, text=True, env=UTC, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"pcapframe {' '.join(map(str, args))} failed:\n{result.stderr}")
    return result


def tcpdump_lines(path):
    out = subprocess.run(["tcpdump", "-tttt", "-n", "-q", "-r", str(path)], capture_output=True, text=True, env=UTC)
    return out.stdout.splitlines()


# tcpdump's -q wording that `show` follows exactly.
FOLLOWED = re.compile(
    r"^\S+ \S+ IP6? \S+ > \S+: (tcp \d+|UDP, length \d+|ICMP echo (request|reply), id \d+, seq \d+, length \d+"
    r"|ICMP6, (echo (request|reply), id \d+, seq \d+, |router (solicitation|advertisement), "
    r"|neighbor solicitation, who has \S+, |neighbor advertisement, tgt is \S+, )length \d+|igmp|ip-proto-\d+)$"
)


def test_every_subcommand_has_help():
    for sub in ([], ["show"], ["convert"], ["stats"], ["live"]):
        out = run(*sub, "--help")
        assert "Usage: pcapframe" in out.stdout


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_show_is_tcpdump_line_for_line_where_it_follows_tcpdump(path):
    ours = run("show", path).stdout.splitlines()
    assert len(ours) == len(intake.open_pcap(str(path)).read())  # one line per row
    theirs = [line for line in tcpdump_lines(path) if FOLLOWED.match(line)]
    missing = [line for line in theirs if line not in set(ours)]
    assert not missing, f"{len(missing)} of tcpdump's lines differ, e.g. {missing[:3]}"


@pytest.mark.parametrize("name", ["intake_pcap_tests_http.pcap", "intake_pcap_tests_96pings.pcap",
                                  "intake_pcap_tests_vlan.pcap", "nflog_ipv4_http.pcap",
                                  "pcapng_be_obsolete_packet_blocks_rawip_pfcp.pcapng",
                                  "ether_ipv6_fragmented_udp_dns.pcap", "ether_ipv6_exthdrs_atomic_frag_tcp.pcap",
                                  "ether_ipv6_ext_header_chain.pcap", "ether_ipv4_fragments_tcp_out_of_order.pcap"])
def test_show_equals_tcpdump_exactly_on_plain_captures(name):
    ip_lines = [line for line in tcpdump_lines(CORPUS / name) if re.match(r"^\S+ \S+ IP6? ", line)]
    assert len(ip_lines) >= 1
    assert run("show", CORPUS / name).stdout.splitlines() == ip_lines


def test_show_count_filter_protocol_and_globs():
    lines = run("show", HTTP, "-c", "5").stdout.splitlines()
    assert lines == tcpdump_lines(HTTP)[:5]
    udp = run("show", HTTP, "--protocol", "udp").stdout.splitlines()
    assert len(udp) == 2 and all("UDP" in line for line in udp)
    port80 = run("show", HTTP, "--filter", "tcp dst port 80").stdout.splitlines()
    assert len(port80) == 19 and all(".80: tcp" in line for line in port80)
    both = run("show", str(CORPUS / "intake_pcap_tests_*.pcap")).stdout.splitlines()
    assert len(both) == 96 + 43 + 18


def test_bad_input_exits_non_zero_with_a_message(tmp_path):
    notes = tmp_path / "notes.pcap"
    notes.write_text("hello")
    for args in (["show", notes], ["stats", notes], ["show", tmp_path / "missing.pcap"],
                 ["show", str(tmp_path / "*.nothing")], ["show", HTTP, "--filter", "tcp port"],
                 ["show", HTTP, "--protocol", "nope"]):
        out = run(*args, check=False)
        assert out.returncode != 0 and out.stderr.startswith("pcapframe: "), out
    assert "not a pcap or pcapng capture" in run("show", notes, check=False).stderr


def summary(path):
    return json.loads(path.with_name(path.name + ".summary.json").read_text())


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_stats_agree_with_tshark_and_capinfos(path):
    s = summary(path)  # for a file cut short, capinfos counts the complete records, as we do
    got = json.loads(run("stats", "--json", "--errors", "ignore", path).stdout)
    assert got["records"] == s["packet_records"]
    assert got["record_bytes"] == int(s["capinfos"]["Data size"].split()[0])
    assert got["ip_packets"] == len(intake.open_pcap(str(path), errors="ignore").read())
    capinfos = s["capinfos"]
    if "First packet time" in capinfos:  # earliest and latest, in UTC, at the file's precision
        for ours, theirs in ((got["first_time"], capinfos["First packet time"]),
                             (got["last_time"], capinfos["Last packet time"])):
            digits = len(theirs.rsplit(".", 1)[1])
            seconds, fraction = ours.split(".")
            utc = pd.Timestamp(int(seconds), unit="s").strftime("%Y-%m-%d %H:%M:%S")
            assert f"{utc}.{fraction[:digits]}" == theirs
        duration = capinfos["Capture duration"].split()[0]
        assert f"{got['duration_seconds']:.{len(duration.split('.')[1])}f}" == duration
    df = intake.open_pcap(str(path), errors="ignore").read()
    assert {p["protocol"]: p["packets"] for p in got["protocols"]} == df.protocol.value_counts().to_dict()


def test_stats_table_lists_protocols_talkers_and_ports():
    text = run("stats", HTTP).stdout
    assert re.search(r"^packets +43 +\(25,091 bytes on the wire\)", text, re.M)
    assert re.search(r"^tcp +41 +95\.3%", text, re.M)
    assert re.search(r"^145\.254\.160\.237 +43 +25,091", text, re.M)
    assert re.search(r"^tcp/80 +19 ", text, re.M)
    assert "2004-05-13 10:17:07.311224000 UTC" in text


def normalised(df: pd.DataFrame):
    """Rows as plain values: time as integer ns, categoricals as text, NA as None."""
    out = pd.DataFrame(index=df.index)
    for name, col in df.items():
        if name == "time":
            out[name] = col.astype("int64")
        else:
            out[name] = col.astype(object).where(col.notna(), None)
    return [tuple(r) for r in out.itertuples(index=False)]


COLUMNS = ["time", "length", "src_host", "dst_mac", "tcp_flags", "ttl", "dst_port", "protocol", "interface"]


@pytest.mark.parametrize("name", ["pcap_le_usec_ether_http.pcap", "pcapng_real_mixed_traffic_nrb_isb.pcapng",
                                  "ether_vlan_mpls_tcp.pcap"])
def test_convert_to_parquet_reads_back_equal_in_pyarrow_polars_and_duckdb(tmp_path, name):
    import duckdb
    import polars as pl

    path = CORPUS / name
    out = tmp_path / "out.parquet"
    run("convert", path, "-o", out, "--payload")
    want = intake.open_pcap(str(path), payload=True).read()
    table = pq.read_table(out)
    assert pa.types.is_dictionary(table.schema.field("src_host").type)  # hosts stay dictionary-encoded
    assert pq.ParquetFile(out).metadata.row_group(0).column(0).compression == "ZSTD"
    assert normalised(to_pandas(table)) == normalised(want)
    polars_rows = pl.read_parquet(out).with_columns(pl.col("time").cast(pl.Int64)).to_pandas()
    assert normalised(polars_rows.assign(time=pd.to_datetime(polars_rows.time))) == normalised(want)
    con = duckdb.connect()
    rows = con.execute(f"select epoch_ns(time), src_host::varchar, src_port, dst_host::varchar, dst_port, "
                       f"protocol::varchar, payload from '{out}'").fetchall()
    expected = [(t, s, sp, d, dp, p, bytes(pl_)) for t, s, sp, d, dp, p, pl_ in normalised(want)]
    assert [(t, s, sp, d, dp, p, bytes(b)) for t, s, sp, d, dp, p, b in rows] == expected


def test_convert_columns_to_every_format_and_python_to_file_agree(tmp_path):
    path = CORPUS / "pcapng_real_mixed_traffic_nrb_isb.pcapng"
    want = intake.open_pcap(str(path), columns=COLUMNS).read()
    for ext in ("parquet", "arrow"):
        run("convert", path, "-o", tmp_path / f"cli.{ext}", "--columns", ",".join(COLUMNS))
        assert intake.open_pcap(str(path), columns=COLUMNS).to_file(tmp_path / f"py.{ext}") == len(want)
        for name in ("cli", "py"):
            table = pq.read_table(tmp_path / f"{name}.{ext}") if ext == "parquet" else \
                pa.ipc.open_file(tmp_path / f"{name}.{ext}").read_all()
            assert table.column_names == COLUMNS
            assert normalised(to_pandas(table)) == normalised(want)
    run("convert", path, "-o", tmp_path / "out.csv", "--columns", ",".join(COLUMNS))
    csv = pd.read_csv(tmp_path / "out.csv", keep_default_na=False, na_values=[""])
    assert list(csv.columns) == COLUMNS and len(csv) == len(want)
    assert (pd.to_datetime(csv.time).dt.tz_localize(None).astype("datetime64[ns]") == want.time).all()
    assert (csv.length == want.length.astype(int)).all() and (csv.src_host == want.src_host.astype(str)).all()
    run("convert", path, "-o", tmp_path / "out.jsonl", "--columns", ",".join(COLUMNS))
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(lines) == len(want) and list(lines[0]) == COLUMNS
    assert [r["dst_port"] for r in lines] == [None if pd.isna(v) else int(v) for v in want.dst_port]
    assert [r["tcp_flags"] for r in lines] == [None if pd.isna(v) else v for v in want.tcp_flags]


def test_convert_refuses_bad_input_and_leaves_no_file(tmp_path):
    good = tmp_path / "good.pcap"
    shutil.copy(HTTP, good)
    damaged = tmp_path / "damaged.pcap"
    data = bytearray(HTTP.read_bytes())
    data[24 + 8 : 24 + 12] = (50_000_000).to_bytes(4, "little")  # first record: impossible caplen
    damaged.write_bytes(bytes(data))
    cases = {
        "unknown column": (["convert", good, "-o", tmp_path / "a.parquet", "--columns", "time,nope"],
                           "unknown column \"nope\"; valid names are: time, src_host"),
        # Damage keeps the packets before it unless --errors raise (the default warns: below).
        "damaged second file": (["convert", good, damaged, "-o", tmp_path / "b.parquet", "--errors", "raise"],
                                "damaged.pcap: at byte offset 24"),
        "unknown format": (["convert", good, "-o", tmp_path / "c.xlsx"], "cannot tell the output format"),
    }
    for name, (args, message) in cases.items():
        out = run(*args, check=False)
        assert out.returncode != 0 and message in out.stderr, (name, out.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.pcap", "good.pcap"]
    kept = run("convert", good, damaged, "-o", tmp_path / "kept.parquet", check=False)
    assert kept.returncode == 0 and "damaged.pcap: at byte offset 24" in kept.stderr and "warning" in kept.stderr
    assert len(pd.read_parquet(tmp_path / "kept.parquet")) == len(intake.open_pcap(str(good)).read())


@pytest.fixture(scope="module")
def big_capture(tmp_path_factory):
    """About 100 MB: several of the streaming reader's 32 MiB ranges."""
    path = tmp_path_factory.mktemp("convert") / "big.pcap"
    synthcap.write_capture(path, 180_000, seed=5)
    return path


def test_convert_streams_a_large_file_on_every_core_to_the_same_rows(tmp_path, big_capture):
    out = tmp_path / "big.parquet"
    run("convert", big_capture, "-o", out, "--threads", "2")
    want = intake.open_pcap(str(big_capture)).read()
    assert pq.ParquetFile(out).metadata.num_rows == len(want) > 150_000
    assert normalised(to_pandas(pq.read_table(out))) == normalised(want)


def test_convert_of_a_pcapng_with_a_late_interface_goes_on_sequentially(tmp_path, big_capture):
    ng = tmp_path / "big.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(big_capture), str(ng)], check=True)
    data = ng.read_bytes()
    at = 0
    while at < len(data) * 3 // 4:  # an interface description block three quarters in
        at += int.from_bytes(data[at + 4 : at + 8], "little")
    idb = (1).to_bytes(4, "little") + (20).to_bytes(4, "little") + (101).to_bytes(2, "little")
    idb += bytes(2) + (65535).to_bytes(4, "little") + (20).to_bytes(4, "little")
    late = tmp_path / "late.pcapng"
    late.write_bytes(data[:at] + idb + data[at:])
    out = tmp_path / "late.parquet"
    run("convert", late, "-o", out, "--threads", "2")
    assert normalised(to_pandas(pq.read_table(out))) == normalised(intake.open_pcap(str(big_capture)).read())


def test_an_interrupted_convert_leaves_nothing_behind(tmp_path, big_capture):
    out = tmp_path / "big.csv"
    proc = subprocess.Popen([PCAPFRAME, "convert", str(big_capture), str(big_capture), "-o", str(out), "--payload",
                             "--threads", "1"], stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:  # finished before the signal: then the file is whole
        assert len(pd.read_csv(out)) == 2 * len(intake.open_pcap(str(big_capture)).read())
    else:
        assert "interrupted" in err and list(tmp_path.iterdir()) == []


def test_sources_and_streams_give_arrow_and_polars_without_pandas():
    import polars as pl

    source = intake.open_pcap(str(HTTP), columns=["time", "src_host", "length", "tcp_flags"])
    table = source.to_arrow()
    assert table.num_rows == 43 and pa.types.is_dictionary(table.schema.field("src_host").type)
    frame = source.to_polars()
    assert isinstance(frame, pl.DataFrame) and frame.shape == (43, 4)
    assert frame.schema["src_host"] == pl.Categorical and frame["length"].sum() == 25_091
    stream = OfflineStream(str(HTTP), protocol="udp")
    assert stream.to_arrow().num_rows == 2
    stream = OfflineStream(str(HTTP))
    first, rest = stream.to_polars(40), stream.to_polars()
    assert (first.height, rest.height) == (40, 3)


@pytest.mark.skipif(os.geteuid() != 0, reason="live capture needs root")
def test_live_prints_loopback_packets_like_show():
    import socket

    proc = subprocess.Popen([PCAPFRAME, "live", "-i", "lo", "-c", "3", "--filter", "udp port 47123"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=UTC)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            sock.sendto(b"hello", ("127.0.0.1", 47123))
            time.sleep(0.05)
        out, err = proc.communicate(timeout=10)
    finally:
        sock.close()
        if proc.poll() is None:
            proc.kill()
    lines = out.splitlines()
    assert proc.returncode == 0 and len(lines) == 3, err
    assert all(re.fullmatch(r"\S+ \S+ IP 127\.0\.0\.1\.\d+ > 127\.0\.0\.1\.47123: UDP, length 5", line) for line in lines)


@pytest.mark.skipif(shutil.which("script") is None, reason="needs script(1) for a terminal")
def test_convert_shows_progress_on_a_terminal_and_is_quiet_when_piped(tmp_path, big_capture):
    piped = run("convert", big_capture, "-o", tmp_path / "piped.parquet")
    assert piped.stderr == "" and piped.stdout == ""
    command = f"{PCAPFRAME} convert {big_capture} -o {tmp_path / 'tty.parquet'}"
    shown = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True, env=UTC)
    assert shown.returncode == 0
    assert re.search(r"\d+ rows from \d+ packets in 1 file\(s\) -> ", shown.stdout)
    assert re.search(r"MiB/\d+(\.\d+)? MiB", shown.stdout)  # the bar: bytes read of the total


def test_outputs_whatever_goes_wrong_at_the_end_leave_nothing_and_name_the_destination(tmp_path):
    taken = tmp_path / "taken.parquet"
    taken.mkdir()  # the rename onto it fails
    out = run("convert", HTTP, "-o", taken, check=False)
    assert out.returncode != 0 and "taken.parquet" in out.stderr
    with pytest.raises(ValueError, match="taken.parquet: is a directory"):
        intake.open_pcap(str(HTTP)).to_file(taken)
    missing = run("convert", HTTP, "-o", tmp_path / "nowhere" / "x.parquet", check=False)
    assert "cannot create the output file" in missing.stderr and "partial" not in missing.stderr
    assert "nowhere/x.parquet" in missing.stderr
    with pytest.raises(ValueError, match="writes local files"):
        intake.open_pcap(str(HTTP)).to_file("memory://out.parquet")
    assert [p.name for p in tmp_path.iterdir()] == ["taken.parquet"]


def test_an_empty_table_still_has_its_header_and_columns_may_have_spaces(tmp_path):
    run("convert", HTTP, "-o", tmp_path / "none.csv", "--protocol", "icmp")
    assert (tmp_path / "none.csv").read_text() == "time,src_host,src_port,dst_host,dst_port,protocol\n"
    assert intake.open_pcap(str(HTTP), protocol="icmp").to_file(tmp_path / "none2.csv") == 0
    assert len(pd.read_csv(tmp_path / "none2.csv")) == 0
    run("convert", HTTP, "-o", tmp_path / "some.csv", "--columns", "time, length , ttl")
    assert pd.read_csv(tmp_path / "some.csv").columns.tolist() == ["time", "length", "ttl"]
