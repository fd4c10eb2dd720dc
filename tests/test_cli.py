"""python -m intake_pcap: the main job, on the bundled sample or a given file."""

import subprocess
import sys

import intake

from conftest import CORPUS

from intake_pcap.__main__ import sample_path


def run(*args):
    return subprocess.run([sys.executable, "-m", "intake_pcap", *args], capture_output=True, text=True, timeout=120)


def test_prints_the_bundled_sample():
    done = run()
    assert done.returncode == 0, done.stderr
    rows = len(intake.open_pcap(sample_path()).read())
    assert rows > 50
    assert f"{rows} IP packets from" in done.stdout
    assert "src_host" in done.stdout and "tcp" in done.stdout


def test_prints_a_given_file_filtered():
    done = run(str(CORPUS / "intake_pcap_tests_http.pcap"), "--protocol", "udp", "--all")
    assert done.returncode == 0, done.stderr
    assert "2 IP packets from" in done.stdout


def test_bad_file_exits_non_zero_with_a_message(tmp_path):
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"GIF89a....")
    done = run(str(bad))
    assert done.returncode == 1
    assert "bad.pcap" in done.stderr and "not a pcap" in done.stderr


def test_sample_has_the_promised_mix():
    df = intake.open_pcap(sample_path()).read()
    assert {"tcp", "udp", "icmp"} <= set(df.protocol)
    assert df.src_host.astype(str).str.contains(":").any()  # some IPv6
