"""Damaged and foreign files: clear errors naming file and offset, warnings for captures
cut short, never a crash."""

import csv
import gzip
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import warnings

import intake
import pandas as pd
import pytest

import intake_pcap
from conftest import CORPUS, CORPUS2

CUT = str(CORPUS / "pcap_cut_short_mid_record.pcap")


def pcap_header(link_type=1, snaplen=65535):
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, link_type)


def test_not_a_capture_names_file_and_only_its_magic(tmp_path):
    # The file may be a secret (a key, /etc/shadow read as root): only the magic number
    # reaches the message, and so the logs.
    path = tmp_path / "notes.txt"
    path.write_text("hell, this is a secret")
    with pytest.raises(intake_pcap.NotACaptureError) as err:
        intake.open_pcap(str(path)).read()
    message = str(err.value)
    assert "notes.txt" in message and "at byte offset 0" in message
    assert "68 65 6c 6c" in message  # "hell"
    assert "2c" not in message.replace(str(path), "")  # ",", the fifth byte
    assert "0a 0d 0d 0a" in message  # what a capture starts with


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pcap"
    path.write_bytes(b"")
    with pytest.raises(intake_pcap.NotACaptureError, match="empty"):
        intake.open_pcap(str(path)).read()


def test_cut_short_warns_with_offset_and_keeps_complete_packets():
    with pytest.warns(intake_pcap.CaptureWarning, match=r"pcap_cut_short_mid_record\.pcap: at byte offset \d+"):
        df = intake.open_pcap(CUT).read()
    assert len(df) == 1


def test_cut_short_raise_and_ignore():
    with pytest.raises(intake_pcap.TruncatedCaptureError, match="byte offset"):
        intake.open_pcap(CUT, errors="raise").read()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(intake.open_pcap(CUT, errors="ignore").read()) == 1
    with pytest.raises(ValueError, match="errors="):
        intake.open_pcap(CUT, errors="sometimes")


def test_impossible_caplen_is_damage_at_its_offset(tmp_path):
    path = tmp_path / "huge.pcap"
    path.write_bytes(pcap_header() + struct.pack("<IIII", 0, 0, 0xFFFFFFF0, 60) + bytes(60))
    with pytest.raises(intake_pcap.CorruptCaptureError, match="at byte offset 24.*4294967280"):
        intake.open_pcap(str(path), errors="raise").read()
    with pytest.warns(intake_pcap.CaptureWarning, match="at byte offset 24.*4294967280.*damaged"):
        assert len(intake.open_pcap(str(path)).read()) == 0


def test_four_gib_pcapng_block_is_an_error(tmp_path):
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    bad = struct.pack("<II", 6, 0xFFFFFFFC) + bytes(32)
    path = tmp_path / "huge.pcapng"
    path.write_bytes(shb + bad)
    with pytest.raises(intake_pcap.CorruptCaptureError, match="at byte offset 28"):
        intake.open_pcap(str(path), errors="raise").read()
    with pytest.warns(intake_pcap.CaptureWarning, match="at byte offset 28"):
        assert len(intake.open_pcap(str(path)).read()) == 0


def test_unknown_link_type_is_skipped_with_one_warning(tmp_path):
    path = tmp_path / "usb.pcap"
    record = struct.pack("<IIII", 1, 0, 20, 20) + bytes(20)
    path.write_bytes(pcap_header(link_type=189) + record * 3)
    with pytest.warns(intake_pcap.CaptureWarning, match="3 packet.*link type 189") as caught:
        df = intake.open_pcap(str(path)).read()
    assert len(df) == 0 and list(df.columns)[0] == "time"
    assert len(caught) == 1


# Damage keeps what came before: every complete packet before a damaged record is returned,
# with one warning naming the file and offset (errors="warn"), silently ("ignore"), or an
# error ("raise"). tshark is the oracle: it shows the same packets, then reports the damage.

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
needs_tcpdump = pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed")


def udp_frame(i, pad=0):
    """Ethernet, IPv4 and UDP from port 1000 + i, with ``pad`` payload bytes."""
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + pad, i, 0, 64, 17, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return b"\x00\x11\x22\x33\x44\x55" * 2 + b"\x08\x00" + ip + struct.pack("!HHHH", 1000 + i, 53, 8 + pad, 0) + bytes(pad)


def pcap_rec(secs, frac, data, wire=None):
    return struct.pack("<IIII", secs, frac, len(data), len(data) if wire is None else wire) + data


def ng_block(block_type, body):
    body += bytes(-len(body) % 4)
    return struct.pack("<II", block_type, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


def ng_shb(major=1, minor=0):
    return ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, major, minor, -1))


def ng_idb(link_type=1, options=b""):
    return ng_block(1, struct.pack("<HHI", link_type, 0, 0) + options)


def ng_epb(i, interface=0):
    frame, ts = udp_frame(i), 1_000_000 * (100 + i)
    return ng_block(6, struct.pack("<IIIII", interface, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame)) + frame)


def tshark_ports(path):
    """(udp source port, frame.len, frame.cap_len) of every frame tshark shows, and its exit status."""
    done = subprocess.run(
        ["tshark", "-r", str(path), "-T", "fields", "-e", "udp.srcport", "-e", "frame.len", "-e", "frame.cap_len"],
        capture_output=True, text=True,
    )
    rows = [tuple(int(v) for v in line.split("\t")) for line in done.stdout.splitlines() if line]
    return rows, done.returncode


def ours(df):
    return [(int(p), int(n), int(c)) for p, n, c in zip(df.src_port, df.length, df.caplen)]


COLUMNS = ["time", "src_port", "length", "caplen"]

# Five good packets, then damage, then a good packet nobody may show.
DAMAGED = {
    "caplen.pcap": (
        pcap_header() + b"".join(pcap_rec(100 + i, 1, udp_frame(i)) for i in range(5)),
        struct.pack("<IIII", 102, 0, 0xFFFFFFF0, 60) + bytes(200) + pcap_rec(200, 1, udp_frame(9)),
    ),
    "later-section.pcapng": (
        ng_shb() + ng_idb() + b"".join(ng_epb(i) for i in range(5)),
        ng_shb(2, 0) + ng_idb() + ng_epb(9),
    ),
    "block-length.pcapng": (
        ng_shb() + ng_idb() + b"".join(ng_epb(i) for i in range(5)),
        struct.pack("<II", 6, 0xFFFFFFFC) + bytes(64) + ng_epb(9),
    ),
}


@needs_tshark
@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_damage_keeps_the_packets_before_it_as_tshark(tmp_path, name):
    good, damage = DAMAGED[name]
    path = tmp_path / name
    path.write_bytes(good + damage)
    expected, status = tshark_ports(path)
    assert status != 0 and len(expected) == 5  # tshark shows them, then reports the damage
    where = rf"{re.escape(name)}: at byte offset {len(good)}: "

    with pytest.warns(intake_pcap.CaptureWarning, match=where) as caught:
        df = intake.open_pcap(str(path), columns=COLUMNS).read()
    assert ours(df) == expected
    assert len([w for w in caught if issubclass(w.category, intake_pcap.CaptureWarning)]) == 1

    with pytest.warns(intake_pcap.CaptureWarning, match=where) as caught:
        chunks = list(intake.open_pcap(str(path), columns=COLUMNS, chunksize=2).read_chunked())
    assert ours(pd.concat(chunks)) == expected
    assert len([w for w in caught if issubclass(w.category, intake_pcap.CaptureWarning)]) == 1

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ours(intake.open_pcap(str(path), columns=COLUMNS, errors="ignore").read()) == expected
    with pytest.raises(intake_pcap.CorruptCaptureError, match=where):
        intake.open_pcap(str(path), errors="raise").read()

    # Compressed, the same (the offset is in the decompressed stream).
    gz = tmp_path / (name + ".gz")
    gz.write_bytes(gzip.compress(good + damage))
    with pytest.warns(intake_pcap.CaptureWarning, match=rf"at byte offset {len(good)}: "):
        assert ours(intake.open_pcap(str(gz), columns=COLUMNS).read()) == expected


# $PCAPFRAME: a build of the command to test instead of the installed one.
PCAPFRAME = os.environ.get("PCAPFRAME") or shutil.which("pcapframe")


@pytest.mark.skipif(PCAPFRAME is None, reason="pcapframe is not installed: run scripts/setup.sh")
def test_damage_in_the_command_line_keeps_the_packets_before_it(tmp_path):
    good, damage = DAMAGED["caplen.pcap"]
    path = tmp_path / "damaged.pcap"
    path.write_bytes(good + damage)
    pcapframe = PCAPFRAME
    done = subprocess.run([pcapframe, "stats", str(path), "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["records"] == 5
    assert f"at byte offset {len(good)}" in done.stderr
    done = subprocess.run([pcapframe, "stats", str(path), "--errors", "raise"], capture_output=True, text=True)
    assert done.returncode != 0 and f"at byte offset {len(good)}" in done.stderr


@needs_tshark
@needs_tcpdump
def test_valid_odd_records_read_as_tshark_and_tcpdump(tmp_path):
    """caplen beyond the snaplen, caplen beyond the wire length, microseconds past a second:
    valid files that tshark and tcpdump read, and so do we."""
    path = tmp_path / "odd.pcap"
    records = [
        pcap_rec(100, 5, udp_frame(1, 958)),  # 1000 bytes, snaplen 64
        pcap_rec(101, 5, udp_frame(2), wire=20),  # 42 bytes captured of 20 on the wire
        pcap_rec(102, 1_500_000, udp_frame(3)),  # microseconds past a second
        pcap_rec(103, 4_294_967_295, udp_frame(4)),
        pcap_rec(104, 999_999, udp_frame(5)),
    ]
    path.write_bytes(pcap_header(snaplen=64) + b"".join(records))
    expected, status = tshark_ports(path)
    assert status == 0 and len(expected) == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = intake.open_pcap(str(path), columns=COLUMNS).read()
    assert ours(df) == expected
    # tcpdump -tt prints seconds and the fraction field as the file holds them (and no time
    # for the record whose caplen passes its wire length: "[Invalid header: ...]").
    lines = subprocess.run(["tcpdump", "-tt", "-n", "-r", str(path)], capture_output=True, text=True).stdout.splitlines()
    assert len(lines) == 5 and lines[1].startswith("[Invalid header")
    stamps = [line.split()[0].split(".") for i, line in enumerate(lines) if i != 1]
    times = df.time.astype("int64").tolist()
    assert [int(s) * 10**9 + int(f) * 1000 for s, f in stamps] == times[:1] + times[2:]


def test_records_up_to_16_mib_are_read_whatever_the_snaplen(tmp_path):
    # tshark 4.0 refuses an Ethernet record over 256 KiB; the README's rule is 16 MiB.
    path = tmp_path / "big.pcap"
    big = udp_frame(1, 1000) + bytes(300_000 - 1042)
    path.write_bytes(pcap_header(snaplen=65535) + pcap_rec(100, 0, big) + pcap_rec(101, 0, udp_frame(2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = intake.open_pcap(str(path), columns=COLUMNS).read()
    assert ours(df) == [(1001, 300_000, 300_000), (1002, 42, 42)]


# Bounded memory whatever the file declares, and MemoryError (never an abort) when memory
# runs out. Each runs in a subprocess: peak memory (VmHWM) is per process, and a limit
# (RLIMIT_AS, what `ulimit -v` sets) must not touch this one.


def run_python(code, *args, timeout=600):
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def many_interfaces_pcapng_gz(path, count, name_len):
    """A section of ``count`` interfaces, each with ``name_len``-byte if_name and
    if_description options (65535 at most), then a packet on the last one; gzip level 1."""
    import zlib

    def option(code, text):
        text = text[:name_len].ljust(name_len, b"n")
        return struct.pack("<HH", code, len(text)) + text + bytes(-len(text) % 4)

    z = zlib.compressobj(1, zlib.DEFLATED, 31)
    with open(path, "wb") as out:
        out.write(z.compress(ng_shb()))
        chunk = []
        for i in range(count):
            tag = b"if%d-" % i
            chunk.append(ng_idb(1, option(2, tag + b"name-") + option(3, tag + b"description-")))
            if len(chunk) == 4096:
                out.write(z.compress(b"".join(chunk)))
                chunk = []
        chunk.append(ng_epb(1, interface=count - 1))
        out.write(z.compress(b"".join(chunk)))
        out.write(z.flush())


PEAK_OF_READ_CHUNKED = """
import sys, intake
rows = sum(len(df) for df in intake.open_pcap(sys.argv[1], chunksize=1000, columns=["interface", "src_port"]).read_chunked())
peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(rows, int(peak) * 1024)
"""


@pytest.mark.parametrize("count, name_len", [(20_000, 65_000), (1_000_000, 200)])
def test_many_interfaces_with_long_names_stay_under_400_mib(tmp_path, count, name_len):
    # 20,000 interfaces with 64 KiB names (a 3 MB file) once took 2.6 GB.
    path = tmp_path / "interfaces.pcapng.gz"
    many_interfaces_pcapng_gz(path, count, name_len)
    done = run_python(PEAK_OF_READ_CHUNKED, path)
    assert done.returncode == 0, done.stderr
    rows, peak = map(int, done.stdout.split())
    assert rows == 1
    assert peak < 400 << 20, f"{peak / 2**20:.0f} MiB"
    # The row names its interface, cut to 128 bytes.
    df = intake.open_pcap(str(path), columns=["interface"]).read()
    assert df.interface[0] == (b"if%d-name-" % (count - 1)).ljust(min(name_len, 128), b"n").decode()


OUT_OF_MEMORY = """
import resource, sys, intake, pandas, pyarrow
# As `ulimit -v` would, with room for this interpreter but not for the capture's payloads.
size = int([l for l in open("/proc/self/status") if l.startswith("VmSize")][0].split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + int(sys.argv[2]), resource.RLIM_INFINITY))
source = intake.open_pcap(sys.argv[1], payload=True, threads=int(sys.argv[3]), chunksize=int(sys.argv[4]) or None)
try:
    if sys.argv[4] == "0":
        source.read()
    else:
        for df in source.read_chunked():
            pass
except MemoryError as e:
    print("MemoryError:", e)
else:
    print("read")
"""


@pytest.fixture(scope="module")
def big_payloads(tmp_path_factory):
    """A 600 MB capture of 9000-byte frames."""
    frame = udp_frame(1, 8958)
    path = tmp_path_factory.mktemp("big") / "payloads.pcap"
    path.write_bytes(pcap_header() + pcap_rec(100, 5, frame) * (600_000_000 // (len(frame) + 16)))
    return path


@pytest.mark.parametrize(
    "threads, chunksize",
    [(1, 0), (1, 100_000), (2, 0)],
)
def test_memory_running_out_raises_memory_error_naming_the_file(big_payloads, threads, chunksize):
    # Less than the 600 MB of payloads a read() holds, or than one 256 MiB batch of them.
    for room in (100 << 20, 200 << 20) if chunksize else (100 << 20, 250 << 20, 400 << 20):
        done = run_python(OUT_OF_MEMORY, big_payloads, room, threads, chunksize)
        # Never an abort ("memory allocation of N bytes failed", exit status 134).
        assert done.returncode == 0, f"room {room}: status {done.returncode}: {done.stderr[-2000:]}"
        assert done.stdout.startswith("MemoryError: "), done.stdout
        assert "payloads.pcap" in done.stdout and "out of memory" in done.stdout


@pytest.mark.skipif(not CORPUS2.is_dir(), reason="the shared corpus2 is missing")
@pytest.mark.parametrize("name", ["gopacket__le__test901.pcapng", "gopacket__be__test901.pcapng"])
def test_real_capture_with_an_unreadable_later_section_keeps_its_packets(name):
    # gopacket's test files: a second section of version 2.0. tshark shows the packet of
    # the first section, then stops (its oracle holds that row).
    with open(CORPUS2 / f"{name}.expected.csv", newline="") as f:
        expected = list(csv.DictReader(f))
    with pytest.warns(intake_pcap.CaptureWarning, match=rf"{name}: at byte offset 480: section 2 .* version 2\.0"):
        df = intake.open_pcap(str(CORPUS2 / name)).read()
    assert len(df) == len(expected) == 1
    for row, want in zip(df.itertuples(), expected):
        assert (row.src_host, row.dst_host) == (want["src_host"], want["dst_host"])
        assert row.time.value == int(want["time_epoch"].replace(".", ""))
    with pytest.raises(intake_pcap.CorruptCaptureError, match="version 2.0"):
        intake.open_pcap(str(CORPUS2 / name), errors="raise").read()


@needs_tshark
def test_damage_in_a_file_read_on_several_threads(tmp_path):
    """A 70 MB capture damaged in its middle: the threaded read() and convert keep exactly the
    packets before the damage, as the sequential read and tshark do (ranges beyond the damage
    are not read)."""
    frames = [pcap_rec(100 + i // 1000, i % 1000, udp_frame(i % 5000, 1000)) for i in range(66_000)]
    good = pcap_header() + b"".join(frames[:33_000])
    path = tmp_path / "damaged-middle.pcap"
    path.write_bytes(good + struct.pack("<IIII", 200, 0, 0xFFFFFFF0, 60) + bytes(60) + b"".join(frames[33_000:]))
    expected, status = tshark_ports(path)
    assert status != 0 and len(expected) == 33_000
    where = rf"damaged-middle\.pcap: at byte offset {len(good)}: "
    for threads in (1, 2, 4):
        with pytest.warns(intake_pcap.CaptureWarning, match=where):
            df = intake.open_pcap(str(path), columns=COLUMNS, threads=threads).read()
        assert ours(df) == expected, threads
    if PCAPFRAME:
        out = tmp_path / "out.csv"
        done = subprocess.run([PCAPFRAME, "convert", str(path), "-o", str(out), "--threads", "2"],
                              capture_output=True, text=True)
        assert done.returncode == 0 and f"at byte offset {len(good)}" in done.stderr, done.stderr
        assert len(pd.read_csv(out)) == 33_000
