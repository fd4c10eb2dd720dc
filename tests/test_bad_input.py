"""Damaged and foreign files: clear errors naming file and offset, warnings for captures
cut short, never a crash."""

import struct
import warnings

import intake
import pytest

import intake_pcap
from conftest import CORPUS

CUT = str(CORPUS / "pcap_cut_short_mid_record.pcap")


def pcap_header(link_type=1, snaplen=65535):
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, link_type)


def test_not_a_capture_names_file_and_first_bytes(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is text")
    with pytest.raises(intake_pcap.NotACaptureError) as err:
        intake.open_pcap(str(path)).read()
    assert "notes.txt" in str(err.value)
    assert "68 65 6c 6c 6f" in str(err.value)  # "hello"


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


def test_impossible_caplen_is_an_error_at_its_offset(tmp_path):
    path = tmp_path / "huge.pcap"
    path.write_bytes(pcap_header() + struct.pack("<IIII", 0, 0, 0xFFFFFFF0, 60) + bytes(60))
    with pytest.raises(intake_pcap.CorruptCaptureError, match="at byte offset 24.*4294967280"):
        intake.open_pcap(str(path)).read()


def test_four_gib_pcapng_block_is_an_error(tmp_path):
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    bad = struct.pack("<II", 6, 0xFFFFFFFC) + bytes(32)
    path = tmp_path / "huge.pcapng"
    path.write_bytes(shb + bad)
    with pytest.raises(intake_pcap.CorruptCaptureError, match="at byte offset 28"):
        intake.open_pcap(str(path)).read()


def test_unknown_link_type_is_skipped_with_one_warning(tmp_path):
    path = tmp_path / "usb.pcap"
    record = struct.pack("<IIII", 1, 0, 20, 20) + bytes(20)
    path.write_bytes(pcap_header(link_type=189) + record * 3)
    with pytest.warns(intake_pcap.CaptureWarning, match="3 packet.*link type 189") as caught:
        df = intake.open_pcap(str(path)).read()
    assert len(df) == 0 and list(df.columns)[0] == "time"
    assert len(caught) == 1
