"""Seeking: a read with ``start=``/``end=`` of a local capture jumps over the blocks of its
index that hold no packet in the range, and ``to_pcap`` over those holding nothing it
writes. The answers are those of the whole read masked by time (``test_time_range``) on
every path, on a capture large enough for many blocks whose times go backwards; the index
of a large capture is saved and serves the next process, unless it is damaged or stale.
(The Rust tests in ``crates/pcapframe/tests/seek.rs`` count the packets jumped over.)"""

import os
import random
import subprocess
import sys
from decimal import Decimal

import intake
import pandas as pd
import pytest

import intake_pcap  # noqa: F401
from intake_pcap.stream import OfflineStream
from test_extract import PCAPFRAME
from test_time_range import COLUMNS, masked, same, synthetic

BASE = 1_700_000_000 * 10**9
DAY = 86_400 * 10**9


def day_of_packets(n, seed):
    """A day of `n` packet times, with stretches an hour behind (two clocks merged)."""
    rng = random.Random(seed)
    step = DAY // n
    times = [BASE + i * step + rng.randrange(step) for i in range(n)]
    return [t - 3600 * 10**9 if (i // 5000) % 4 == 1 else t for i, t in enumerate(times)]


@pytest.fixture(scope="module")
def merged_day(tmp_path_factory):
    path = tmp_path_factory.mktemp("seek") / "day.pcap"
    times = day_of_packets(60_000, 1)
    synthetic(path, times, padding=120)
    assert path.stat().st_size > 100 * 65536
    return path, times


def seconds(ns):
    return None if ns is None else Decimal(ns) / 10**9


def test_a_range_seeks_and_answers_as_the_masked_read_on_every_path(merged_day, tmp_path):
    path, times = merged_day
    whole = intake.open_pcap(str(path), columns=COLUMNS).read()
    rng = random.Random(2)
    for _ in range(3):
        a = rng.choice(times)
        for start_ns, end_ns in [(a, a + 600 * 10**9), (a, None), (None, a), (a, a + 1)]:
            want = masked(whole, start_ns, end_ns)
            options = dict(columns=COLUMNS, start=seconds(start_ns), end=seconds(end_ns))
            same(intake.open_pcap(str(path), threads=2, **options).read(), want)
            chunks = list(intake.open_pcap(str(path), chunksize=1000, **options).read_chunked())
            same(pd.concat(chunks, ignore_index=True) if chunks else want.iloc[:0], want)
            dask = intake.open_pcap(str(path), blocksize=1 << 20, **options).to_dask().compute()
            same(dask.reset_index(drop=True), want)
            stream = OfflineStream(str(path), columns=COLUMNS, start=options["start"], end=options["end"])
            same(stream.to_dataframe(), want)
            # The flow table of the range, and the packets written back, are those of the range.
            out = tmp_path / "range.pcap"
            source = intake.open_pcap(str(path), **options)
            assert source.to_pcap(out, format="pcap") == len(want)
            back = intake.open_pcap(str(out), columns=COLUMNS).read()
            assert list(back.time) == list(want.time)
            flows = intake.open_pcap_flows(str(path), start=options["start"], end=options["end"]).read()
            cut_flows = intake.open_pcap_flows(str(out)).read() if len(want) else flows.iloc[:0]
            numbered = [c for c in flows.columns if c == "flow_id" or "frame" in c]
            same(flows.drop(columns=numbered), cut_flows.drop(columns=numbered))


def test_scattered_frames_are_written_back(merged_day, tmp_path):
    path, times = merged_day
    frames = sorted(random.Random(3).sample(range(1, len(times) + 1), 500))
    out = tmp_path / "frames.pcapng"
    source = intake.open_pcap(str(path), columns=["frame", "time"])
    assert source.to_pcap(out, rows=frames) == len(frames)
    back = intake.open_pcap(str(out), columns=["time"]).read()
    assert list(back.time.astype("int64")) == [times[f - 1] for f in frames]


READ_A_RANGE = """
import sys, intake, intake_pcap
from decimal import Decimal
df = intake.open_pcap(sys.argv[1], columns=["frame"], start=Decimal(sys.argv[2]), end=Decimal(sys.argv[3])).read()
print(",".join(map(str, df.frame)))
"""


def test_the_index_of_a_large_capture_is_saved_and_serves_the_next_process(tmp_path):
    path = tmp_path / "large.pcap"
    times = day_of_packets(250_000, 4)
    synthetic(path, times, padding=100)
    assert path.stat().st_size > 32 << 20
    start, end = times[100_000], times[100_000] + 600 * 10**9
    want = [i + 1 for i, t in enumerate(times) if start <= t < end]
    assert len(want) > 100

    def read(directory):
        env = dict(os.environ, INTAKE_PCAP_INDEX_DIR=str(directory))
        run = subprocess.run([sys.executable, "-c", READ_A_RANGE, str(path), str(seconds(start)),
                              str(seconds(end))], env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return [int(f) for f in run.stdout.strip().split(",") if f]

    directory = tmp_path / "index"
    assert read(directory) == want
    saved = list(directory.glob("*.index"))
    assert len(saved) == 1
    assert read(directory) == want
    # A damaged index is not used, and is written again; nothing is saved where asked not to.
    good = saved[0].read_bytes()
    damaged = bytearray(good)
    damaged[len(good) // 2] ^= 0xFF
    saved[0].write_bytes(bytes(damaged))
    assert read(directory) == want
    assert saved[0].read_bytes() == good
    assert read("off") == want
    assert not (tmp_path / "off").exists() and not os.path.exists("off")
    # A capture appended to is another file: its index is walked again.
    with open(path, "ab") as f:
        f.write(path.read_bytes()[24:24 + 16 + 14 + 28 + 8 + 100])
    assert read(directory) == want
    assert len(list(directory.glob("*.index"))) == 1


@pytest.mark.skipif(PCAPFRAME is None, reason="pcapframe is not installed: run scripts/setup.sh")
def test_the_command_line_extracts_a_range_by_seeking(merged_day, tmp_path):
    path, times = merged_day
    start = times[30_000]
    out = tmp_path / "cli.pcap"
    run = subprocess.run([PCAPFRAME, "extract", str(path), "-w", str(out), "--format", "pcap",
                          "--start", str(seconds(start)), "--end", str(seconds(start + 600 * 10**9))],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    back = intake.open_pcap(str(out), columns=["time"]).read()
    assert list(back.time.astype("int64")) == [t for t in times if start <= t < start + 600 * 10**9]
