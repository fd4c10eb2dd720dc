"""Partitions are exact by construction: whatever the payloads hold, every path that
returns rows gives the sequential read's rows (issue 9). And a read stops promptly on
Ctrl-C, raising KeyboardInterrupt, even when it produces no rows."""

import gzip
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time

import intake
import pandas as pd
import pyarrow.parquet as pq
import pytest

import intake_pcap


def udp_frame(src, payload):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 0, 0, 64, 17, 0, bytes(src), bytes([10, 9, 9, 9]))
    return bytes(12) + b"\x08\x00" + ip + struct.pack("!HHHH", 5353, 53, 8 + len(payload), 0) + payload


def pcap_bytes(records, big_endian=False, nanos=False):
    e = ">" if big_endian else "<"
    out = [struct.pack(e + "IHHiIII", 0xA1B23C4D if nanos else 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for secs, frac, data, wire_len in records:
        out.append(struct.pack(e + "IIII", secs, frac, len(data), wire_len) + data)
    return b"".join(out)


def forged_capture(packets, big_endian=False, nanos=False):
    """Every UDP payload from 10.0.0.1 carries a chain of fake records from 6.6.6.6 whose
    last record spans the next real record's header and frame headers: a second,
    self-consistent record chain through the whole file, with steady times."""
    e = ">" if big_endian else "<"
    records = []
    for i in range(packets):
        secs = 1_700_000_000 + i // 10
        payload = b""
        fake = udp_frame([6, 6, 6, 6], b"\x66" * 8)
        while 1000 - len(payload) >= 2 * (16 + len(fake)):
            payload += struct.pack(e + "IIII", secs, 1000, len(fake), len(fake)) + fake
        rest = 1000 - len(payload) - 16
        caplen = rest + 16 + 42
        payload += struct.pack(e + "IIII", secs, 2000, caplen, caplen) + udp_frame([6, 6, 6, 6], b"\x66" * (rest - 42))
        assert len(payload) == 1000
        frame = udp_frame([10, 0, 0, 1], payload)
        records.append((secs, (i % 10) * 1000, frame, len(frame)))
    return pcap_bytes(records, big_endian, nanos)


@pytest.fixture(scope="module", params=[(False, False), (True, True)], ids=["le-usec", "be-nsec"])
def forged(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("forged") / "forged.pcap"
    path.write_bytes(forged_capture(4000, *request.param))
    return str(path)


def test_forged_chains_in_payloads_never_become_rows_on_any_path(forged, tmp_path):
    want = intake.open_pcap(forged, threads=1).read()
    assert len(want) == 4000 and set(want.src_host) == {"10.0.0.1"}
    for blocksize in [5_000, 65_536, 1_000_003]:
        source = intake.open_pcap(forged, blocksize=blocksize)
        n = source.discover()["npartitions"]
        assert n > 3
        parts = pd.concat([source.read_partition(i) for i in range(n)], ignore_index=True)
        assert_same_rows(parts, want)
        assert_same_rows(source.to_dask().compute().reset_index(drop=True), want)
    for threads in [2, 3]:
        pd.testing.assert_frame_equal(intake.open_pcap(forged, threads=threads).read(), want)
    chunks = pd.concat(intake.open_pcap(forged, chunksize=999).read_chunked(), ignore_index=True)
    assert_same_rows(chunks, want)
    out = tmp_path / "forged.parquet"
    subprocess.run(["pcapframe", "convert", forged, "-o", str(out), "--threads", "2"], check=True)
    assert pq.read_table(out).column("src_host").to_pylist() == ["10.0.0.1"] * 4000


def test_a_partition_of_a_file_changed_since_discover_is_refused(tmp_path):
    path = tmp_path / "growing.pcap"
    path.write_bytes(forged_capture(1000))
    source = intake.open_pcap(str(path), blocksize=100_000)
    n = source.discover()["npartitions"]
    assert n > 3
    assert len(source.read_partition(1)) > 0
    with open(path, "ab") as f:  # a capture still being written
        f.write(forged_capture(10)[24:])
    with pytest.raises(intake_pcap.CaptureError, match="changed since its partitions were planned"):
        source.read_partition(1)


def assert_same_rows(got, want):
    """Equal values row for row (partitions' categoricals have their own categories)."""
    assert list(got.columns) == list(want.columns) and len(got) == len(want)
    for column in want.columns:
        pd.testing.assert_series_equal(got[column].astype(object), want[column].astype(object))


@pytest.fixture(scope="module")
def long_capture_of_no_rows(tmp_path_factory):
    """About 2 GB of ARP frames (no row among them) in a small multi-member gzip file: one
    long Rust call, seconds of decompression, whatever the disk."""
    arp = bytes(12) + b"\x08\x06" + bytes(28)
    record = struct.pack("<IIII", 1_700_000_000, 0, len(arp), len(arp)) + arp
    chunk = gzip.compress(record * ((4 << 20) // len(record)), compresslevel=9)
    path = tmp_path_factory.mktemp("arp") / "arp.pcap.gz"
    with open(path, "wb") as f:
        f.write(gzip.compress(pcap_bytes([])))
        for _ in range((2 << 30) // (4 << 20)):
            f.write(chunk)
    return str(path)


@pytest.mark.parametrize(
    "call",
    [
        "source.read()",
        "sum(len(df) for df in source.read_chunked())",
        "source.to_file(os.path.join(os.path.dirname(path), 'out.parquet'))",
    ],
)
def test_ctrl_c_stops_a_read_that_produces_no_rows_within_half_a_second(long_capture_of_no_rows, call):
    script = textwrap.dedent(
        f"""
        import os, sys, time, intake
        path = sys.argv[1]
        source = intake.open_pcap(path)
        source.discover()
        print("reading", flush=True)
        started = time.monotonic()
        try:
            {call}
        except KeyboardInterrupt:
            print("KeyboardInterrupt", flush=True)
            sys.exit(3)
        print(f"finished after {{time.monotonic() - started:.2f}} s", flush=True)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script, long_capture_of_no_rows], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "reading\n"
    time.sleep(0.5)
    sent = time.monotonic()
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    stopped = time.monotonic() - sent
    assert child.returncode == 3, (out, err)
    assert "KeyboardInterrupt" in out
    assert stopped < 0.5 + 0.5, f"stopped {stopped:.2f} s after Ctrl-C"  # half a second, with slack for CI
    assert not os.path.exists(os.path.join(os.path.dirname(long_capture_of_no_rows), "out.parquet"))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_convert_stops_within_half_a_second_and_leaves_nothing(long_capture_of_no_rows, tmp_path, signum):
    out = tmp_path / "out.parquet"
    child = subprocess.Popen(["pcapframe", "convert", long_capture_of_no_rows, "-o", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    assert child.poll() is None, "convert finished before the signal: the capture is too short to test"
    sent = time.monotonic()
    child.send_signal(signum)
    _, err = child.communicate(timeout=60)
    stopped = time.monotonic() - sent
    assert child.returncode != 0 and "interrupted; no output written" in err
    assert stopped < 0.5 + 0.5, f"stopped {stopped:.2f} s after the signal"
    assert list(tmp_path.iterdir()) == []
