"""Names are names: a path that exists is that file, glob characters or not; a named pipe
or character device is read once, as a stream."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import intake
import pandas as pd
import pytest

from conftest import CORPUS

HTTP = CORPUS / "intake_pcap_tests_http.pcap"  # 43 IP packets
PINGS = CORPUS / "intake_pcap_tests_96pings.pcap"  # 96 IP packets


def rows(df):
    return [tuple(map(str, r)) for r in df.itertuples(index=False)]


# -- glob characters in names that exist --------------------------------------------------


def test_existing_name_with_glob_characters_is_that_file(tmp_path):
    (tmp_path / "names").mkdir()
    name = tmp_path / "names" / "cap[1].pcap"
    shutil.copy(HTTP, name)
    source = intake.open_pcap(str(name))
    assert source.discover()["metadata"]["files"] == [str(name)]
    assert len(source.read()) == 43


def test_existing_name_wins_over_the_file_its_pattern_matches(tmp_path):
    # As a glob, "cap[1].pcap" matches "cap1.pcap": the file named "cap[1].pcap" must be read.
    shutil.copy(HTTP, tmp_path / "cap[1].pcap")
    shutil.copy(PINGS, tmp_path / "cap1.pcap")
    df = intake.open_pcap(str(tmp_path / "cap[1].pcap")).read()
    assert len(df) == 43
    assert rows(df) == rows(intake.open_pcap(str(HTTP)).read())
    # A pattern that is not a file name is still a pattern.
    assert intake.open_pcap(str(tmp_path / "cap?.pcap")).discover()["metadata"]["files"] == [str(tmp_path / "cap1.pcap")]
    matched = intake.open_pcap(str(tmp_path / "cap*.pcap")).discover()["metadata"]["files"]
    assert matched == sorted([str(tmp_path / "cap1.pcap"), str(tmp_path / "cap[1].pcap")])


def test_existing_name_with_glob_characters_by_url(tmp_path):
    shutil.copy(HTTP, tmp_path / "cap[1].pcap")
    shutil.copy(PINGS, tmp_path / "cap1.pcap")
    df = intake.open_pcap(f"file://{tmp_path}/cap[1].pcap").read()
    assert len(df) == 43


def test_existing_name_with_glob_characters_in_memory_filesystem():
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/names-test/cap[1].pcap", HTTP.read_bytes())
    fs.pipe("/names-test/cap1.pcap", PINGS.read_bytes())
    try:
        assert len(intake.open_pcap("memory:///names-test/cap[1].pcap").read()) == 43
        assert len(intake.open_pcap("memory:///names-test/cap?.pcap").read()) == 96
    finally:
        fs.rm("/names-test", recursive=True)


# -- named pipes and character devices ----------------------------------------------------

# The read runs in a child process so that a hang fails the test (timeout) instead of
# hanging the suite; a `cat FILE > FIFO` writer feeds the pipe as tcpdump -w would.
CHILD = textwrap.dedent(
    """
    import json, sys, warnings
    import intake
    from intake_pcap.stream import OfflineStream
    path, how = sys.argv[1], sys.argv[2]
    if how == "read":
        source = intake.open_pcap(path)
        info = source.discover()
        df = source.read()
        meta = {"format": info["metadata"]["format"], "streams": info["metadata"]["streams"],
                "npartitions": info["npartitions"]}
    elif how == "chunks":
        import pandas as pd
        df = pd.concat(list(intake.open_pcap(path, chunksize=10).read_chunked()), ignore_index=True)
        meta = {}
    elif how == "stream":
        stream = OfflineStream(path)
        import pandas as pd
        df = pd.concat([stream.to_dataframe(5), stream.to_dataframe()], ignore_index=True)
        meta = {}
    print(json.dumps({"rows": [list(map(str, r)) for r in df.itertuples(index=False)], **meta}))
    """
)


def read_through_fifo(tmp_path, capture, how):
    fifo = tmp_path / "live.fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen([sys.executable, "-c", CHILD, str(fifo), how], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    writer = subprocess.Popen(["sh", "-c", 'cat "$1" > "$2"', "sh", str(capture), str(fifo)])
    try:
        out, err = reader.communicate(timeout=60)
        writer.wait(timeout=10)
    except subprocess.TimeoutExpired:
        reader.kill()
        writer.kill()
        pytest.fail(f"reading a named pipe with {how} hung")
    assert reader.returncode == 0, err
    assert writer.returncode == 0  # the writer was not cut off (SIGPIPE) by a second open
    return json.loads(out)


@pytest.mark.parametrize("how", ["read", "chunks", "stream"])
def test_fifo_is_read_once_as_a_stream(tmp_path, how):
    got = read_through_fifo(tmp_path, HTTP, how)
    want = rows(intake.open_pcap(str(HTTP)).read())
    assert [tuple(r) for r in got["rows"]] == want and len(want) == 43
    if how == "read":
        # discover() did not open the pipe: the format is known only to the read.
        assert got["format"] is None and got["npartitions"] == 1
        assert got["streams"] == [str(tmp_path / "live.fifo")]


def test_gzip_through_fifo(tmp_path):
    import gzip

    packed = tmp_path / "http.pcap.gz"
    packed.write_bytes(gzip.compress(HTTP.read_bytes()))
    got = read_through_fifo(tmp_path, packed, "read")
    assert [tuple(r) for r in got["rows"]] == rows(intake.open_pcap(str(HTTP)).read())


def test_character_device_is_read_as_a_stream():
    # /dev/null: a character device with no bytes; the read must end, not hang, and say
    # that this is not a capture.
    script = "import intake\nintake.open_pcap('/dev/null').read()"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "NotACaptureError" in done.stderr and "/dev/null" in done.stderr


def test_fifo_between_regular_files(tmp_path):
    """A pipe among regular files: the regular files are read as files, the pipe once."""
    fifo = tmp_path / "b.fifo"
    os.mkfifo(fifo)
    script = textwrap.dedent(
        f"""
        import intake
        df = intake.open_pcap([{str(PINGS)!r}, {str(fifo)!r}, {str(HTTP)!r}]).read()
        print(len(df))
        """
    )
    reader = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writer = subprocess.Popen(["sh", "-c", 'cat "$1" > "$2"', "sh", str(HTTP), str(fifo)])
    try:
        out, err = reader.communicate(timeout=60)
    finally:
        writer.kill() if writer.poll() is None else None
    assert reader.returncode == 0, err
    assert int(out) == 96 + 43 + 43
