"""`pcapframe` in a pipeline (issue 14): `-` reads standard input for every subcommand
(compressed streams found by their magic bytes), `-o -` / `-w -` write standard output, and
`show` takes tcpdump's spelling (`-r FILE -n EXPR...`). Each piped answer is held to the
same command on the file itself, and the filter to tcpdump."""

import gzip
import shutil
import subprocess

import pyarrow.parquet as pq
import pytest

from conftest import CORPUS

PCAPFRAME = shutil.which("pcapframe")
TCPDUMP = shutil.which("tcpdump")
pytestmark = pytest.mark.skipif(PCAPFRAME is None, reason="pcapframe is not installed: run scripts/setup.sh")
UTC = {"TZ": "UTC", "PATH": "/usr/bin:/bin"}

HTTP = CORPUS / "intake_pcap_tests_http.pcap"
# Classic pcap and pcapng, one with IPv6 and non-IP records.
CAPTURES = [HTTP, CORPUS / "ether_ipv6_fragmented_udp_dns.pcap", CORPUS / "ether_untagged_vlan_qinq_tcp.pcapng"]


def pcapframe(*args, stdin: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([PCAPFRAME, *map(str, args)], input=stdin, capture_output=True, env=UTC)
    if check and result.returncode != 0:
        raise AssertionError(f"pcapframe {' '.join(map(str, args))}: {result.stderr.decode()}")
    return result


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_every_subcommand_reads_standard_input_as_it_reads_the_file(capture, tmp_path):
    data = capture.read_bytes()
    for args in (["show"], ["stats"], ["flows"], ["show", "--protocol", "tcp"]):
        piped = pcapframe(*args, "-", stdin=data).stdout
        assert piped == pcapframe(*args, capture).stdout
        assert piped.count(b"\n") >= 3 or "--protocol" in args
    pcapframe("convert", "-", "-o", tmp_path / "piped.parquet", stdin=data)
    pcapframe("convert", capture, "-o", tmp_path / "file.parquet")
    assert pq.read_table(tmp_path / "piped.parquet").equals(pq.read_table(tmp_path / "file.parquet"))
    csv = pcapframe("convert", "-", "-o", "-", "--format", "csv", stdin=data).stdout
    assert csv == pcapframe("convert", capture, "-o", "-", "--format", "csv").stdout


def test_a_compressed_stream_is_found_by_its_magic_bytes():
    data = HTTP.read_bytes()
    assert pcapframe("show", "-", stdin=gzip.compress(data)).stdout == pcapframe("show", HTTP).stdout


@pytest.mark.parametrize("out", ["pcap", "pcapng"])
def test_extract_from_standard_input_writes_what_it_writes_from_the_file(out, tmp_path):
    data = HTTP.read_bytes()
    for how in (["--frames", "1,2,5-9"], ["--flow", "1"], ["--filter", "udp"]):
        pcapframe("extract", "-", "-w", tmp_path / f"piped.{out}", *how, stdin=data)
        pcapframe("extract", HTTP, "-w", tmp_path / f"file.{out}", *how)
        assert (tmp_path / f"piped.{out}").read_bytes() == (tmp_path / f"file.{out}").read_bytes()
    # Standard output too, into a reader of it.
    written = pcapframe("extract", "-", "-w", "-", "--format", out, "--filter", "tcp", stdin=data).stdout
    assert pcapframe("show", "-", stdin=written).stdout == pcapframe("show", HTTP, "--protocol", "tcp").stdout


@pytest.mark.skipif(TCPDUMP is None, reason="tcpdump is not installed")
def test_tcpdump_writing_a_pipe_and_tcpdump_spelling():
    tcpdump = subprocess.run([TCPDUMP, "-r", str(HTTP), "-w", "-", "tcp"], capture_output=True, check=True)
    assert pcapframe("show", "-", stdin=tcpdump.stdout).stdout == pcapframe("show", HTTP, "--filter", "tcp").stdout
    spelled = pcapframe("show", "-r", HTTP, "-n", "-c", "30", "tcp", "port", "80").stdout.decode().splitlines()
    assert spelled == pcapframe("show", HTTP, "--filter", "tcp port 80").stdout.decode().splitlines()[:30]
    theirs = subprocess.run([TCPDUMP, "-r", str(HTTP), "-n", "tcp", "port", "80"], capture_output=True, check=True)
    assert len(theirs.stdout.decode().splitlines()) == 41 == len(
        pcapframe("show", "-r", HTTP, "tcp", "port", "80").stdout.decode().splitlines())


def test_misuse_is_refused_with_a_reason():
    data = HTTP.read_bytes()
    assert "only one input can be a stream" in pcapframe("show", "-", "-", stdin=data, check=False).stderr.decode()
    assert "give capture files" in pcapframe("show", check=False).stderr.decode()
    both = pcapframe("show", "-r", HTTP, "--filter", "udp", "tcp", check=False)
    assert both.returncode != 0 and "not both" in both.stderr.decode()
