"""``start=``/``end=``: a time range is ``read()`` followed by the mask
``start <= time < end``, on every read path (threads, byte ranges, read_chunked, dask,
the stream class), on every capture of both corpora and on synthetic captures whose times go
backwards; the flow table of a range is the flow table of a capture holding only those
packets; editcap -A/-B keeps the same packets; the command line agrees."""

import datetime
import random
import shutil
import struct
import subprocess
from decimal import Decimal

import intake
import pandas as pd
import pytest

import intake_pcap  # noqa: F401
from intake_pcap.stream import OfflineStream
from conftest import CORPUS, as_in_dask
from test_extract import PCAPFRAME, captures

COLUMNS = ["time", "frame", "src_host", "dst_host", "src_port", "dst_port", "protocol"]


def masked(df, start_ns, end_ns):
    t = df.time.astype("int64")
    keep = df.time.notna()
    if start_ns is not None:
        keep &= t >= start_ns
    if end_ns is not None:
        keep &= t < end_ns
    return df[keep].reset_index(drop=True)


def same(got, want):
    """Equal rows and dtypes; a categorical's unused categories do not matter (a read of a
    range does not know the addresses of the packets outside it), nor whether text came as
    strings rather than categories (many distinct hosts, README: Columns, `src_host`; and
    to_dask())."""
    def plain(df):
        df = df.reset_index(drop=True)
        text = [c for c, d in df.dtypes.items() if isinstance(d, (pd.CategoricalDtype, pd.StringDtype))]
        return df.astype({c: object for c in text}).assign(**{c: df[c].astype(object).where(df[c].notna(), None)
                                                               for c in text})

    # to_dask() gives text as strings (README: to_dask).
    kinds = lambda df: [("str" if str(d) in ("category", "string") else str(d)) for d in df.dtypes]
    assert kinds(got) == kinds(want) or len(got) == 0
    pd.testing.assert_frame_equal(plain(got), plain(want))


def ranges(times):
    """Cut points at, between and beyond the capture's own times."""
    times = sorted(set(times))
    if not times:
        return [(0, 10**19 // 10)]
    picks = [times[len(times) // 3], times[len(times) // 2], times[-1], times[0] - 1, times[-1] + 1]
    out = [(picks[0], picks[1]), (None, picks[1]), (picks[0], None), (picks[2], picks[2] + 1),
           (picks[1], picks[1]), (picks[3], picks[4])]
    return out


@pytest.mark.parametrize("path", list(captures()))
def test_a_range_is_the_read_masked_by_time(path):
    whole = intake.open_pcap(str(path), columns=COLUMNS, errors="ignore").read()
    for start_ns, end_ns in ranges(whole.time.dropna().astype("int64")):
        start = None if start_ns is None else pd.Timestamp(start_ns, unit="ns")
        end = None if end_ns is None else pd.Timestamp(end_ns, unit="ns")
        got = intake.open_pcap(str(path), columns=COLUMNS, errors="ignore", start=start, end=end).read()
        same(got, masked(whole, start_ns, end_ns))


def synthetic(path, times, padding=0):
    """A classic nanosecond pcap of UDP packets at `times` (ns), in the order given, each
    with `padding` bytes of payload."""
    out = [struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1)]
    for i, t in enumerate(times):
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + padding, i & 0xFFFF, 0, 64, 17, 0,
                         bytes([10, 0, i >> 8 & 255, i & 255]), bytes([10, 1, 0, 1]))
        frame = (b"\x00" * 12 + b"\x08\x00" + ip + struct.pack("!HHHH", 1000 + i % 50, 53, 8 + padding, 0)
                 + b"\xa5" * padding)
        out.append(struct.pack("<IIII", t // 10**9, t % 10**9, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))


@pytest.mark.parametrize("seed", range(12))
def test_out_of_order_times_on_every_path(tmp_path, seed):
    rng = random.Random(seed)
    base = 1_700_000_000 * 10**9
    # Mostly rising, with jumps back (a merged capture), repeats and a far outlier.
    times, t = [], base
    for _ in range(3000):
        t += rng.choice([1, 1000, 10**6, 10**9])
        times.append(t - rng.choice([0, 0, 0, 5 * 10**9, 3600 * 10**9]))
    times[rng.randrange(len(times))] = base + 10**15
    path = tmp_path / "merged.pcap"
    synthetic(path, times)
    whole = intake.open_pcap(str(path), columns=COLUMNS).read()
    assert len(whole) == len(times)
    for _ in range(4):
        a, b = sorted(rng.sample(times, 2))
        start_ns, end_ns = rng.choice([(a, b), (a, None), (None, b), (a, a + 1)])
        want = masked(whole, start_ns, end_ns)
        # Epoch seconds as Decimal: exact to the nanosecond.
        options = dict(columns=COLUMNS, start=None if start_ns is None else Decimal(start_ns) / 10**9,
                       end=None if end_ns is None else Decimal(end_ns) / 10**9)
        source = intake.open_pcap(str(path), **options)
        same(source.read(), want)
        chunks = [c for c in intake.open_pcap(str(path), chunksize=97, **options).read_chunked()]
        if chunks:
            same(pd.concat(chunks, ignore_index=True), want)
        else:
            assert len(want) == 0
        split = intake.open_pcap(str(path), blocksize=4096, threads=2, **options)
        parts = split.discover()["npartitions"]
        assert parts > 10
        dask = split.to_dask().compute().reset_index(drop=True)
        same(dask, want)
        stream = OfflineStream(str(path), columns=COLUMNS, start=options["start"], end=options["end"])
        same(stream.to_dataframe(), want)


def test_the_flows_of_a_range_are_those_of_its_packets_alone(tmp_path):
    path = CORPUS / "pcap_le_nsec_ether_http.pcap"
    times = intake.open_pcap(str(path), columns=["time"]).read().time.astype("int64")
    start, end = int(times.iloc[2]), int(times.iloc[6])
    cut = tmp_path / "cut.pcap"
    assert intake.open_pcap(str(path), start=Decimal(start) / 10**9, end=Decimal(end) / 10**9).to_pcap(cut) == 4
    ours = intake.open_pcap_flows(str(path), start=pd.Timestamp(start, unit="ns"),
                                  end=pd.Timestamp(end, unit="ns")).read()
    theirs = intake.open_pcap_flows(str(cut)).read()
    assert len(ours) > 0
    # flow_id and the frame columns are the packet numbers of the source, which a range keeps.
    numbered = [c for c in ours.columns if c == "flow_id" or "frame" in c]
    assert (ours.first_frame > theirs.first_frame).all()
    same(ours.drop(columns=numbered), theirs.drop(columns=numbered))


@pytest.mark.skipif(shutil.which("editcap") is None, reason="editcap is the oracle here")
@pytest.mark.parametrize("path", [p for p in captures() if not str(p.values[0]).endswith(".gz")][::6])
def test_editcap_keeps_the_same_packets(path, tmp_path):
    whole = intake.open_pcap(str(path), columns=COLUMNS, errors="ignore").read()
    times = sorted(set(whole.time.dropna().astype("int64"))) or [10**18]
    # The middle half; all of it when the capture has few distinct times.
    start, end = (times[len(times) // 4], times[3 * len(times) // 4]) if len(times) >= 3 else (times[0], times[-1] + 1)
    text = lambda ns: f"{ns // 10**9}.{ns % 10**9:09d}"
    cut = tmp_path / "editcap.pcapng"
    subprocess.run(["editcap", "-A", text(start), "-B", text(end), str(path), str(cut)], check=True,
                   capture_output=True)
    theirs = intake.open_pcap(str(cut), columns=COLUMNS[:1] + COLUMNS[2:], errors="ignore").read()
    ours = intake.open_pcap(str(path), columns=COLUMNS[:1] + COLUMNS[2:], errors="ignore",
                            start=text(start), end=text(end)).read()
    same(ours, theirs)


@pytest.mark.skipif(PCAPFRAME is None, reason="pcapframe is not installed: run scripts/setup.sh")
def test_the_command_line_takes_the_same_range(tmp_path):
    path = CORPUS / "pcap_le_nsec_ether_http.pcap"
    whole = intake.open_pcap(str(path), columns=COLUMNS).read()
    start = whole.time.iloc[3]
    iso = start.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
    want = intake.open_pcap(str(path), columns=COLUMNS, start=start).read()
    out = tmp_path / "range.parquet"
    subprocess.run([PCAPFRAME, "convert", str(path), "-o", str(out), "--columns", ",".join(COLUMNS),
                    "--start", iso], check=True, capture_output=True)
    assert list(pd.read_parquet(out).frame) == list(want.frame)
    shown = subprocess.run([PCAPFRAME, "show", str(path), "--start", iso], capture_output=True, text=True)
    assert len(shown.stdout.splitlines()) == len(want)
    flows = subprocess.run([PCAPFRAME, "flows", str(path), "--start", iso, "-o", str(tmp_path / "f.csv")],
                           capture_output=True, text=True)
    assert flows.returncode == 0, flows.stderr
    assert len(pd.read_csv(tmp_path / "f.csv")) == len(intake.open_pcap_flows(str(path), start=start).read())


def test_bad_ranges_are_refused():
    path = str(CORPUS / "pcap_le_nsec_ether_http.pcap")
    with pytest.raises(ValueError, match="before start"):
        intake.open_pcap(path, start=10, end=5)
    with pytest.raises(ValueError, match="not a time"):
        intake.open_pcap(path, start="yesterday")
    with pytest.raises(TypeError):
        intake.open_pcap(path, start=True)
    # Each form of one instant gives one answer.
    instant = datetime.datetime(2026, 2, 3, 13, 47, 5, 884708)
    forms = [instant, pd.Timestamp(instant), instant.replace(tzinfo=datetime.timezone.utc),
             "2026-02-03T13:47:05.884708Z", "2026-02-03 15:47:05.884708+02:00",
             Decimal(int(pd.Timestamp(instant).value)) / 10**9, str(pd.Timestamp(instant).value / 10**9)]
    counts = {len(intake.open_pcap(path, start=f).read()) for f in forms}
    assert len(counts) == 1 and 0 < counts.pop() < len(intake.open_pcap(path).read())
