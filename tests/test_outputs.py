"""Outputs that never clobber, `-o -`, `.arrow` for any capture, and compressed input on the
command line. Every output is read back by pyarrow (or the csv module) and held to
`intake.open_pcap(f).to_arrow()`; every destination kind is tried, and what must stay (a
link, a device, the input) is checked to have stayed."""

import bz2
import csv
import gzip
import io
import json
import lzma
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading

import intake
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq
import pytest

from conftest import CORPUS, REPO

sys.path.insert(0, str(REPO / "tools"))
import synthcap  # noqa: E402

# PCAPFRAME names a build to test (a work tree's target/debug/pcapframe); else the installed one.
PCAPFRAME = os.environ.get("PCAPFRAME") or shutil.which("pcapframe")
needs_pcapframe = pytest.mark.skipif(PCAPFRAME is None, reason="pcapframe is not installed: run scripts/setup.sh")
HTTP = CORPUS / "pcap_le_usec_ether_http.pcap"


def run(*args, check=True, **kwargs):
    if "stdout" not in kwargs and "stderr" not in kwargs:
        kwargs.setdefault("capture_output", True)
    result = subprocess.run([PCAPFRAME, *map(str, args)], **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"pcapframe {' '.join(map(str, args))} failed:\n{result.stderr}")
    return result


def expected(path):
    """The rows by the Python reader, hosts and protocol as plain strings."""
    return plain(intake.open_pcap(str(path)).to_arrow())


def plain(table):
    columns = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        columns[name] = column.to_pylist()
    return columns


@pytest.fixture
def capture(tmp_path):
    dest = tmp_path / "in.pcap"
    shutil.copy(HTTP, dest)
    return dest


# --- destinations -------------------------------------------------------------------------


@needs_pcapframe
def test_regular_file_and_missing_file_are_written(capture, tmp_path):
    out = tmp_path / "out.parquet"
    run("convert", capture, "-o", out)
    assert plain(pq.read_table(out)) == expected(capture)
    # An existing regular file is replaced, by a new file (a rename), with the new rows.
    out.write_text("old")
    run("convert", capture, "-o", out)
    assert plain(pq.read_table(out)) == expected(capture)
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


@needs_pcapframe
def test_symlink_to_a_file_stays_a_link(capture, tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    run("convert", capture, "-o", link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    rows = list(csv.DictReader(target.open()))
    assert [r["src_host"] for r in rows] == expected(capture)["src_host"]
    # A dangling link names the file to create; it stays a link too.
    dangling = tmp_path / "dangling.jsonl"
    dangling.symlink_to("made.jsonl")
    run("convert", capture, "-o", dangling)
    assert dangling.is_symlink()
    lines = (tmp_path / "made.jsonl").read_text().splitlines()
    assert [json.loads(x)["dst_host"] for x in lines] == expected(capture)["dst_host"]


@needs_pcapframe
def test_symlink_to_a_character_device_is_written_through(capture, tmp_path):
    link = tmp_path / "null.parquet"
    link.symlink_to("/dev/null")
    before = os.stat("/dev/null")
    run("convert", capture, "-o", link)
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino and after.st_rdev == before.st_rdev
    assert link.is_symlink()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]
    run("convert", capture, "-o", "/dev/null", "--format", "csv")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@needs_pcapframe
def test_dev_stdout_into_a_pipe_is_written_through(capture):
    out = run("convert", capture, "-o", "/dev/stdout", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out.stdout.decode())))
    assert [r["dst_port"] for r in rows] == ["" if p is None else str(p) for p in expected(capture)["dst_port"]]


@needs_pcapframe
def test_fifo_is_written_through_to_its_reader(capture, tmp_path):
    fifo = tmp_path / "rows.arrow"
    os.mkfifo(fifo)
    got = {}

    def read():
        with open(fifo, "rb") as f:
            got["bytes"] = f.read()

    reader = threading.Thread(target=read)
    reader.start()
    run("convert", capture, "-o", fifo, timeout=60)
    reader.join(60)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    table = pa.ipc.open_file(pa.BufferReader(got["bytes"])).read_all()
    assert plain(table) == expected(capture)


@needs_pcapframe
def test_socket_and_directory_are_refused(capture, tmp_path):
    sock_path = tmp_path / "s.csv"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    try:
        result = run("convert", capture, "-o", sock_path, check=False, text=True)
        assert result.returncode != 0
        assert "is a socket" in result.stderr and str(sock_path) in result.stderr
        assert stat.S_ISSOCK(os.lstat(sock_path).st_mode)
    finally:
        server.close()
    directory = tmp_path / "d.parquet"
    directory.mkdir()
    result = run("convert", capture, "-o", directory, check=False, text=True)
    assert result.returncode != 0 and "is a directory" in result.stderr
    assert directory.is_dir() and not list(directory.iterdir())


@needs_pcapframe
@pytest.mark.parametrize("how", ["itself", "symlink", "hardlink", "other-name"])
def test_the_input_is_refused(capture, tmp_path, how):
    original = capture.read_bytes()
    if how == "itself":
        out = capture
    elif how == "symlink":
        out = tmp_path / "alias.parquet"
        out.symlink_to(capture)
    elif how == "hardlink":
        out = tmp_path / "hard.parquet"
        os.link(capture, out)
    else:
        out = tmp_path / "." / ".." / tmp_path.name / "in.pcap"
    result = run("convert", capture, "-o", out, "--format", "parquet", check=False, text=True)
    assert result.returncode != 0
    assert "is the input capture" in result.stderr
    assert capture.read_bytes() == original
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


@needs_pcapframe
def test_standard_output_appending_to_the_input_is_refused(capture):
    original = capture.read_bytes()
    with open(capture, "ab") as out:
        result = run("convert", capture, "-o", "-", "--format", "csv", stdout=out, stderr=subprocess.PIPE, check=False)
    assert result.returncode != 0 and b"is the input capture" in result.stderr
    assert capture.read_bytes() == original


@needs_pcapframe
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "arrow", "parquet"])
def test_dash_writes_standard_output(capture, tmp_path, fmt):
    result = run("convert", capture, "-o", "-", "--format", fmt, cwd=tmp_path)
    assert not (tmp_path / "-").exists()
    want = expected(capture)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(result.stdout.decode())))
        assert [r["src_host"] for r in rows] == want["src_host"]
        assert [r["protocol"] for r in rows] == want["protocol"]
    elif fmt == "jsonl":
        rows = [json.loads(x) for x in result.stdout.decode().splitlines()]
        assert [r["src_port"] for r in rows] == want["src_port"]
    elif fmt == "arrow":
        # The IPC stream format: what a reader of a pipe can read.
        assert plain(pa.ipc.open_stream(result.stdout).read_all()) == want
    else:
        assert plain(pq.read_table(pa.BufferReader(result.stdout))) == want


@needs_pcapframe
def test_dash_piped_into_pyarrow_reading_standard_input(capture, tmp_path):
    producer = subprocess.Popen(
        [PCAPFRAME, "convert", str(capture), "-o", "-", "--format", "arrow"], stdout=subprocess.PIPE, cwd=tmp_path
    )
    code = "import sys, pyarrow.ipc as ipc; print(ipc.open_stream(sys.stdin.buffer).read_all().num_rows)"
    consumer = subprocess.run([sys.executable, "-c", code], stdin=producer.stdout, capture_output=True, text=True)
    producer.stdout.close()
    assert producer.wait(60) == 0
    assert int(consumer.stdout) == len(expected(capture)["time"])
    assert not (tmp_path / "-").exists()


@needs_pcapframe
def test_dash_needs_a_format(capture, tmp_path):
    result = run("convert", capture, "-o", "-", check=False, text=True, cwd=tmp_path)
    assert result.returncode != 0 and "--format" in result.stderr
    assert not (tmp_path / "-").exists()


def test_to_file_follows_the_same_rules(capture, tmp_path):
    ds = intake.open_pcap(str(capture))
    link = tmp_path / "link.arrow"
    target = tmp_path / "target.arrow"
    link.symlink_to(target)
    ds.to_file(str(link))
    assert link.is_symlink()
    assert plain(pa.ipc.open_file(target).read_all()) == expected(capture)
    directory = tmp_path / "dir.parquet"
    directory.mkdir()
    with pytest.raises(Exception, match="is a directory"):
        ds.to_file(str(directory))
    ds.to_file("/dev/null", format="parquet")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


# --- .arrow for any capture -------------------------------------------------------------


@pytest.fixture(scope="module")
def big_capture(tmp_path_factory):
    """More than 65,536 packets whose hosts change: batches have different dictionaries."""
    path = tmp_path_factory.mktemp("big") / "big.pcap"
    synthcap.write_capture(path, 150_000, seed=7)
    return path


def test_big_capture_has_batches_with_different_host_dictionaries(big_capture):
    # What makes the .arrow tests below mean something: the hosts of the first 65,536 rows
    # are not those of the next, so one per-batch dictionary cannot serve the whole file.
    from intake_pcap.stream import OfflineStream

    stream = OfflineStream(str(big_capture))
    first, second = stream.to_arrow(65_536), stream.to_arrow(65_536)
    assert second.num_rows == 65_536
    assert set(first.column("src_host").to_pylist()) != set(second.column("src_host").to_pylist())


@needs_pcapframe
def test_convert_to_arrow_any_capture(big_capture, tmp_path):
    out = tmp_path / "big.arrow"
    run("convert", big_capture, "-o", out)
    with pa.ipc.open_file(out) as reader:
        table = reader.read_all()
    assert plain(table) == expected(big_capture)
    # Hosts stay dictionary-encoded.
    assert pa.types.is_dictionary(table.schema.field("src_host").type)


def test_to_file_arrow_any_capture(big_capture, tmp_path):
    out = tmp_path / "big.arrow"
    intake.open_pcap(str(big_capture)).to_file(str(out))
    assert plain(pa.ipc.open_file(out).read_all()) == expected(big_capture)


# --- compressed input -------------------------------------------------------------------


def compress(codec, data):
    if codec == "gz":
        return gzip.compress(data)
    if codec == "bz2":
        return bz2.compress(data)
    if codec == "xz":
        return lzma.compress(data)
    # The test extras' reference bindings, with the checksums the zstd and lz4 commands write.
    if codec == "zst":
        import zstandard

        return zstandard.ZstdCompressor(write_checksum=True).compress(data)
    import lz4.frame

    return lz4.frame.compress(data, content_checksum=True)


@needs_pcapframe
@pytest.mark.parametrize("codec", ["gz", "zst", "bz2", "xz", "lz4"])
def test_compressed_input_on_the_command_line(codec, tmp_path):
    data = HTTP.read_bytes()
    # A misleading name: the codec is known by its magic bytes.
    path = tmp_path / "capture.bin"
    path.write_bytes(compress(codec, data))
    out = tmp_path / "out.parquet"
    run("convert", path, "-o", out)
    assert plain(pq.read_table(out)) == expected(HTTP)
    stats = json.loads(run("stats", path, "--json").stdout)
    assert stats == json.loads(run("stats", HTTP, "--json").stdout) | {"files": stats["files"]}


@needs_pcapframe
def test_gzip_members_are_read_as_zcat_reads_them(tmp_path):
    data = HTTP.read_bytes()
    cut = len(data) // 3
    path = tmp_path / "members.pcap.gz"
    path.write_bytes(gzip.compress(data[:cut]) + gzip.compress(data[cut:]))
    zcat = subprocess.run(["gzip", "-dc", str(path)], capture_output=True, check=True).stdout
    assert zcat == data
    out = tmp_path / "out.csv"
    run("convert", path, "-o", out)
    assert [r["src_host"] for r in csv.DictReader(out.open())] == expected(HTTP)["src_host"]


@needs_pcapframe
def test_gzip_trailing_garbage_keeps_the_packets_and_says_where(tmp_path):
    data = HTTP.read_bytes()
    packed = gzip.compress(data)
    path = tmp_path / "garbage.pcap.gz"
    path.write_bytes(packed + b"this is not gzip")
    # zcat keeps the bytes too (and complains).
    zcat = subprocess.run(["gzip", "-dc", str(path)], capture_output=True)
    assert zcat.stdout == data
    result = run("convert", path, "-o", tmp_path / "out.csv", "--errors", "raise", check=False, text=True)
    assert result.returncode != 0
    assert "garbage after the last gzip member" in result.stderr
    assert f"compressed byte {len(packed)}" in result.stderr
    assert f"offset {len(data)}" in result.stderr
    assert str(path) in result.stderr


def test_write_table_refuses_its_inputs(capture, tmp_path):
    from intake_pcap._native import write_table

    original = capture.read_bytes()
    table = intake.open_pcap(str(capture)).to_arrow()
    alias = tmp_path / "alias.parquet"
    os.link(capture, alias)
    for out in (capture, alias):
        with pytest.raises(ValueError, match="is the input capture"):
            write_table(table, str(out), format="parquet", inputs=[str(capture)])
    assert capture.read_bytes() == original
    assert write_table(table, str(tmp_path / "ok.parquet"), inputs=[str(capture)]) == table.num_rows


# --- live -------------------------------------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="live capture needs root (CI runs as root)")


@needs_pcapframe
@needs_root
def test_live_prints_counts_on_ctrl_c():
    import signal
    import time

    live = subprocess.Popen([PCAPFRAME, "live", "-i", "lo", "-f", "udp port 40999"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(5):
        sender.sendto(b"x", ("127.0.0.1", 40999))
    sender.close()
    time.sleep(0.5)
    live.send_signal(signal.SIGINT)
    out, err = live.communicate(timeout=10)
    assert len(out.splitlines()) == 5
    # lo: the kernel counts each packet twice (its outgoing and incoming copy).
    shown, received = (int(x) for x in __import__("re").search(r"(\d+) packets shown, (\d+) received by filter", err).groups())
    assert shown == 5 and received >= 5
    assert "dropped by kernel" in err


@needs_pcapframe
@needs_root
def test_live_names_the_interface_that_went_away():
    import time

    made = subprocess.run(["ip", "link", "add", "pfgone", "type", "veth", "peer", "name", "pfgone1"], capture_output=True)
    # As root with iproute2 (the test set-up installs it), a veth pair can always be made.
    assert made.returncode == 0, f"cannot make a veth pair: {made.stderr.decode().strip()}"
    try:
        subprocess.run(["ip", "link", "set", "pfgone", "up"], check=True)
        live = subprocess.Popen([PCAPFRAME, "live", "-i", "pfgone"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
    finally:
        subprocess.run(["ip", "link", "del", "pfgone"], capture_output=True)
    out, err = live.communicate(timeout=10)
    assert live.returncode != 0
    assert '"pfgone"' in err and "stopped" in err
    assert "received by filter" in err
