"""Reading at scale: every compression, fsspec URLs (file://, memory://, http:// on
127.0.0.1), directories, globs and lists, to_dask() without reading ahead, pickling, and a
real dask.distributed cluster. Every result is compared with the uncompressed local read of
the same corpus capture."""

import bz2
import functools
import gzip
import http.server
import io
import logging
import lzma
import os
import pickle
import re
import shutil
import sys
import threading
import uuid
import warnings

import dask
import fsspec
import intake
import pandas as pd
import pytest

import intake_pcap
import intake_pcap._read as _read
from conftest import CORPUS, as_in_dask

zstandard = pytest.importorskip("zstandard")
lz4_frame = pytest.importorskip("lz4.frame")

PCAP = CORPUS / "intake_pcap_tests_http.pcap"  # 43 rows, classic pcap
PINGS = CORPUS / "intake_pcap_tests_96pings.pcap"  # 96 rows
VLAN = CORPUS / "intake_pcap_tests_vlan.pcap"  # 18 rows
# 4088 rows, 1.1 MB: larger than the reader's 1 MiB window, so streams refill it.
PCAPNG = CORPUS / "pcapng_real_mixed_traffic_nrb_isb.pcapng"
SECTIONS = CORPUS / "pcapng_le_3sections_ether_null_spb_custom.pcapng"  # NaT times, 3 sections

COMPRESSORS = {
    "gzip": (".gz", gzip.compress),
    "bz2": (".bz2", bz2.compress),
    "xz": (".xz", lzma.compress),
    "zstd": (".zst", lambda data: zstandard.ZstdCompressor().compress(data)),
    "lz4": (".lz4", lambda data: lz4_frame.compress(data)),
}


@functools.lru_cache(maxsize=None)
def compressed(path, codec, level=None):
    """``path``'s bytes compressed with ``codec`` (cached: xz of 1 MB is not free)."""
    data = path.read_bytes()
    if level is not None:
        return {"bz2": bz2.compress, "gzip": gzip.compress}[codec](data, level)
    return COMPRESSORS[codec][1](data)


@functools.lru_cache(maxsize=None)
def _reference(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the reference reads must be clean
        return intake.open_pcap(str(path)).read()


def reference(path):
    return _reference(path).copy()


def concat_refs(paths):
    """The reference reads of ``paths`` one after another, hosts and protocol categorical
    (as read() gives them) although each file has its own categories."""
    frame = pd.concat([reference(p).astype(object) for p in paths], ignore_index=True)
    for col, dtype in reference(paths[0]).dtypes.items():
        frame[col] = frame[col].astype("category" if isinstance(dtype, pd.CategoricalDtype) else dtype)
    return frame


def assert_same(got, want):
    """Same columns, same dtypes (by name: categories may be ordered differently), same
    values row by row."""
    got = got.reset_index(drop=True)
    want = want.reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    assert {c: str(t) for c, t in got.dtypes.items()} == {c: str(t) for c, t in want.dtypes.items()}
    assert len(got) == len(want)
    pd.testing.assert_frame_equal(got.astype(object), want.astype(object))


def read_clean(*args, **kwargs):
    """``open_pcap(...).read()``, failing on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return intake.open_pcap(*args, **kwargs).read()


# -- 1. compression -----------------------------------------------------------------------


@pytest.mark.parametrize("codec", sorted(COMPRESSORS))
@pytest.mark.parametrize("capture", [PCAP, PCAPNG, SECTIONS], ids=lambda p: p.suffix[1:] + "-" + p.stem[:12])
def test_every_compression_by_suffix_and_by_name(tmp_path, capture, codec):
    suffix, _ = COMPRESSORS[codec]
    data = compressed(capture, codec)
    by_suffix = tmp_path / (capture.name + suffix)
    by_suffix.write_bytes(data)
    neutral = tmp_path / "capture.data"  # nothing in the name says what it is
    neutral.write_bytes(data)
    want = reference(capture)
    assert_same(read_clean(str(by_suffix)), want)
    assert_same(read_clean(str(neutral), compression=codec), want)
    # compression= naming the suffix's codec reads the same (None over a suffix: below).
    assert_same(read_clean(str(by_suffix), compression=codec), want)


def test_compression_none_reads_the_bytes_as_they_are(tmp_path):
    """compression=None: no codec by name; the reader still knows compressed content by its
    magic bytes (as it always knew gzip), so a bz2 file is read, not refused."""
    path = tmp_path / "capture.pcap.bz2"
    path.write_bytes(compressed(PCAP, "bz2"))
    assert_same(read_clean(str(path), compression=None), reference(PCAP))
    # An uncompressed file named .xz reads with compression=None.
    plain = tmp_path / "plain.pcap.xz"
    shutil.copy(PCAP, plain)
    assert_same(read_clean(str(plain), compression=None), reference(PCAP))


@pytest.mark.parametrize("wrong", ["xz", "zstd", "lz4"])
def test_wrong_codec_is_a_clear_error_naming_the_file(tmp_path, wrong):
    path = tmp_path / "capture.pcap.bz2"
    path.write_bytes(compressed(PCAP, "bz2"))
    with pytest.raises(OSError, match=r"capture\.pcap\.bz2"):
        intake.open_pcap(str(path), compression=wrong).read()


def test_unknown_compression_name_is_a_value_error():
    with pytest.raises(ValueError, match="nope"):
        intake.open_pcap(str(PCAP), compression="nope")
    with pytest.raises(ValueError, match="nope"):
        _read.codec_for("x.pcap", "nope")


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_truncated_gzip_and_zstd_warn_and_keep_the_rows_before_the_cut(tmp_path, codec):
    data = compressed(PCAPNG, codec)
    path = tmp_path / ("cut.pcapng" + COMPRESSORS[codec][0])
    path.write_bytes(data[: len(data) // 2])
    with pytest.warns(intake_pcap.CaptureWarning, match=r"cut\.pcapng\.\w+: at byte offset \d+"):
        got = intake.open_pcap(str(path)).read()
    want = reference(PCAPNG)
    assert 0 < len(got) < len(want)
    assert_same(got, want.iloc[: len(got)])
    with pytest.raises(intake_pcap.TruncatedCaptureError):
        intake.open_pcap(str(path), errors="raise").read()


@pytest.mark.parametrize("codec", ["bz2", "xz", "lz4"])
def test_truncated_bz2_xz_lz4_keep_the_rows_before_the_cut(tmp_path, codec):
    # bz2 at level 1 has 100 kB blocks, so the half before the cut holds whole blocks.
    data = compressed(PCAPNG, codec, 1) if codec == "bz2" else compressed(PCAPNG, codec)
    path = tmp_path / ("cut.pcapng" + COMPRESSORS[codec][0])
    path.write_bytes(data[: len(data) // 2])
    with warnings.catch_warnings(record=True) as caught:  # (pytest.warns would mask the OSError)
        warnings.simplefilter("always")
        got = intake.open_pcap(str(path)).read()
    assert [w for w in caught if issubclass(w.category, intake_pcap.CaptureWarning)]
    want = reference(PCAPNG)
    assert 0 < len(got) < len(want)
    assert_same(got, want.iloc[: len(got)])
    with pytest.raises(intake_pcap.TruncatedCaptureError):
        intake.open_pcap(str(path), errors="raise").read()


def test_truncated_small_zstd_is_not_called_empty(tmp_path):
    """A .zst cut before its first block ends yields no bytes at all: that is a stream cut
    short (TruncatedCaptureError naming it), not an empty file."""
    data = compressed(PCAP, "zstd")  # 25 kB: one zstd block
    path = tmp_path / "cut.pcap.zst"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(intake_pcap.TruncatedCaptureError, match=r"cut\.pcap\.zst: .*ends early"):
        intake.open_pcap(str(path)).read()


def test_streams_reach_rust_in_reads_of_at_most_a_mebibyte(tmp_path, monkeypatch):
    """A compressed 1.1 MB capture is read through the file object in several reads of at
    most 1 MiB, never in one read of the whole file."""
    path = tmp_path / "big.pcapng.xz"
    path.write_bytes(compressed(PCAPNG, "xz"))
    sizes = []
    real_open = fsspec.open

    class Spy:
        def __init__(self, f):
            self.f = f

        def read(self, n=-1):
            sizes.append(n)
            return self.f.read(n)

        def read1(self, n=-1):
            sizes.append(n)
            return self.f.read1(n)

        def __getattr__(self, name):
            return getattr(self.f, name)

    def spy_open(*args, **kwargs):
        opened = real_open(*args, **kwargs)
        real = opened.open
        opened.open = lambda: Spy(real())
        return opened

    monkeypatch.setattr(fsspec, "open", spy_open)
    assert_same(read_clean(str(path)), reference(PCAPNG))
    assert len(sizes) >= 2
    assert all(0 < n <= 1 << 20 for n in sizes), sizes


# -- 2. memory:// -------------------------------------------------------------------------


@pytest.fixture
def memfs():
    """A fresh folder of fsspec's memory filesystem, removed afterwards."""
    fs = fsspec.filesystem("memory")
    root = f"/scale-{uuid.uuid4().hex}"
    yield fs, root
    if fs.exists(root):
        fs.rm(root, recursive=True)
    assert not fs.exists(root)


def test_memory_file_glob_and_directory(memfs):
    fs, root = memfs
    fs.pipe(f"{root}/d/a.pcap", PCAP.read_bytes())
    fs.pipe(f"{root}/d/b.pcapng.zst", compressed(PCAPNG, "zstd"))
    fs.pipe(f"{root}/d/c.pcap.gz", compressed(PINGS, "gzip"))
    fs.pipe(f"{root}/d/README.txt", b"not a capture")
    fs.pipe(f"{root}/d/notes.pcap.txt", b"not a capture either")

    assert_same(read_clean(f"memory://{root}/d/a.pcap"), reference(PCAP))
    assert_same(read_clean(f"memory://{root}/d/b.pcapng.zst"), reference(PCAPNG))
    assert_same(read_clean(f"memory://{root}/d/c.pcap.gz"), reference(PINGS))

    want = concat_refs([PCAP, PCAPNG, PINGS])
    for url in (f"memory://{root}/d", f"memory://{root}/d/", f"memory://{root}/d/*.pcap*"):
        source = intake.open_pcap(url)
        info = source.discover()
        names = [f.rsplit("/", 1)[-1] for f in source.metadata["files"]]
        if url.endswith("*"):
            assert info["npartitions"] == 4
            assert names == ["a.pcap", "b.pcapng.zst", "c.pcap.gz", "notes.pcap.txt"]
        else:
            assert info["npartitions"] == 3
            assert names == ["a.pcap", "b.pcapng.zst", "c.pcap.gz"]  # README.txt and notes.pcap.txt left out
            assert_same(source.read(), want)
        assert all(f.startswith("memory://") for f in source.metadata["files"])
    # The glob "*.pcap*" also matches notes.pcap.txt: a glob is the user's word, so it is
    # read (and is not a capture); a directory keeps capture names only.
    with pytest.raises(intake_pcap.NotACaptureError, match="notes.pcap.txt"):
        intake.open_pcap(f"memory://{root}/d/*.pcap*").read()
    assert_same(read_clean(f"memory://{root}/d/*.pcap"), reference(PCAP))
    with pytest.raises(FileNotFoundError, match="missing"):
        intake.open_pcap(f"memory://{root}/d/missing.pcap").read()


def test_memory_compressed_with_neutral_name(memfs):
    fs, root = memfs
    for codec in COMPRESSORS:
        fs.pipe(f"{root}/{codec}.bin", compressed(SECTIONS, codec))
        assert_same(read_clean(f"memory://{root}/{codec}.bin", compression=codec), reference(SECTIONS))


# -- 3. http:// on 127.0.0.1 --------------------------------------------------------------


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """http.server's static files, plus single byte ranges (``Range: bytes=a-b``) as real
    servers answer them, so fsspec reads remote files in blocks (206 responses); quiet."""

    timeout = 10  # a stuck client cannot hold a handler thread for long
    requests = []  # (method, path, Range header) of every request, for the tests

    def log_message(self, *args):
        pass

    def send_head(self):
        type(self).requests.append((self.command, self.path, self.headers.get("Range")))
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
        path = self.translate_path(self.path)
        if match is None or not os.path.isfile(path):
            return super().send_head()
        with open(path, "rb") as f:
            data = f.read()
        start = int(match[1])
        end = min(int(match[2]) if match[2] else len(data) - 1, len(data) - 1)
        if start >= len(data):
            self.send_error(416)
            return None
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        return io.BytesIO(data[start : end + 1])

    def end_headers(self):
        self.send_header("Accept-Ranges", "bytes")
        super().end_headers()


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that stops reading early (fsspec, once it has its block) is not news.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def http_root(tmp_path_factory):
    """A folder served by http.server on 127.0.0.1 (any free port) for this module: the
    base URL and the folder, with a few corpus captures, plain and compressed."""
    root = tmp_path_factory.mktemp("www")
    (root / "d").mkdir()
    shutil.copy(PCAP, root / "d" / PCAP.name)
    shutil.copy(PINGS, root / "d" / PINGS.name)
    (root / "d" / (PCAPNG.name + ".xz")).write_bytes(compressed(PCAPNG, "xz"))
    (root / "d" / (VLAN.name + ".gz")).write_bytes(compressed(VLAN, "gzip"))
    (root / "d" / "README.txt").write_text("not a capture")
    shutil.copy(PCAPNG, root / "big.pcapng")  # 1.1 MB, outside d/: read in ranged blocks
    server = _QuietServer(("127.0.0.1", 0), functools.partial(_RangeHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        assert not thread.is_alive()


def test_http_plain_compressed_directory_glob_and_missing(http_root):
    base, _ = http_root
    assert_same(read_clean(f"{base}/d/{PCAP.name}"), reference(PCAP))
    assert_same(read_clean(f"{base}/d/{PCAPNG.name}.xz"), reference(PCAPNG))
    assert_same(read_clean(f"{base}/d/{VLAN.name}.gz"), reference(VLAN))

    source = intake.open_pcap(f"{base}/d/")
    assert source.discover()["npartitions"] == 4
    assert [f.rsplit("/", 1)[-1] for f in source.metadata["files"]] == [
        PINGS.name, PCAP.name, VLAN.name + ".gz", PCAPNG.name + ".xz",  # sorted; README.txt left out
    ]
    want = concat_refs([PINGS, PCAP, VLAN, PCAPNG])
    assert_same(source.read(), want)

    globbed = intake.open_pcap(f"{base}/d/*.pcap")
    assert_same(globbed.read(), concat_refs([PINGS, PCAP]))

    # A 1.1 MB capture outside d/, read with small fsspec blocks: several 206 responses.
    _RangeHandler.requests.clear()
    big = intake.open_pcap(f"{base}/big.pcapng", storage_options={"block_size": 256 * 1024})
    assert_same(big.read(), reference(PCAPNG))
    ranges = [r for m, p, r in _RangeHandler.requests if p == "/big.pcapng" and r]
    assert len(ranges) >= 4, _RangeHandler.requests

    # compression= for a URL whose name does not end in the suffix (a query string).
    assert_same(read_clean(f"{base}/d/{PCAPNG.name}.xz?v=1", compression="xz"), reference(PCAPNG))

    missing = f"{base}/d/missing.pcap"
    with pytest.raises(OSError, match=r"127\.0\.0\.1:\d+/d/missing\.pcap"):  # FileNotFoundError is one
        intake.open_pcap(missing).read()


def test_compression_is_inferred_before_a_query_string(http_root):
    base, _ = http_root
    assert_same(read_clean(f"{base}/d/{PCAPNG.name}.xz?v=1"), reference(PCAPNG))


def test_read_chunked_streams_compressed_and_remote_files(memfs, http_root):
    fs, root = memfs
    fs.pipe(f"{root}/big.pcapng.bz2", compressed(PCAPNG, "bz2"))
    base, _ = http_root
    for url, refs in [
        (f"memory://{root}/big.pcapng.bz2", [PCAPNG]),
        (f"{base}/d/*.pcap*", [PINGS, PCAP, VLAN, PCAPNG]),  # .pcap, .pcap.gz, .pcapng.xz
        (f"{base}/big.pcapng", [PCAPNG]),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            chunks = list(intake.open_pcap(url, chunksize=1000, storage_options={}).read_chunked())
        assert all(0 < len(c) <= 1000 for c in chunks)
        got = pd.concat([c.astype(object) for c in chunks], ignore_index=True)
        pd.testing.assert_frame_equal(got, concat_refs(refs).astype(object))


# -- 4. local directories, lists, file:// --------------------------------------------------


@pytest.fixture
def local_dir(tmp_path):
    d = tmp_path / "caps"
    d.mkdir()
    shutil.copy(PCAP, d / "1-http.pcap")
    (d / "2-big.pcapng.bz2").write_bytes(compressed(PCAPNG, "bz2"))
    shutil.copy(PINGS, d / "3-pings.cap")
    (d / "4-vlan.pcap.lz4").write_bytes(compressed(VLAN, "lz4"))
    (d / "README.txt").write_text("a capture directory")
    (d / "notes.pcap.txt").write_text("not a capture either")
    return d


LOCAL_DIR_REFS = [PCAP, PCAPNG, PINGS, VLAN]


def test_local_directory_reads_the_captures_only(local_dir):
    source = intake.open_pcap(str(local_dir))
    assert source.discover()["npartitions"] == 4
    assert [f.rsplit("/", 1)[-1] for f in source.metadata["files"]] == [
        "1-http.pcap", "2-big.pcapng.bz2", "3-pings.cap", "4-vlan.pcap.lz4",
    ]
    want = concat_refs(LOCAL_DIR_REFS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_same(source.read(), want)
    assert [len(source.read_partition(i)) for i in range(4)] == [len(reference(p)) for p in LOCAL_DIR_REFS]


@pytest.mark.parametrize("scheme", ["", "file://", "memory://"])
def test_subdirectory_named_like_a_capture_is_not_listed(local_dir, memfs, scheme):
    if scheme == "memory://":
        fs, root = memfs
        for path in local_dir.iterdir():
            fs.pipe(f"{root}/{path.name}", path.read_bytes())
        fs.pipe(f"{root}/old.pcap/inner.pcap", PINGS.read_bytes())  # a folder named like a capture
        url = f"memory://{root}"
    else:
        (local_dir / "old.pcap").mkdir()
        shutil.copy(PINGS, local_dir / "old.pcap" / "inner.pcap")
        url = scheme + str(local_dir)
    source = intake.open_pcap(url)
    source.discover()
    assert [f.rsplit("/", 1)[-1] for f in source.metadata["files"]] == [
        "1-http.pcap", "2-big.pcapng.bz2", "3-pings.cap", "4-vlan.pcap.lz4",
    ]
    assert_same(source.read(), concat_refs(LOCAL_DIR_REFS))


def test_list_mixing_a_file_and_a_glob_and_paths(local_dir):
    source = intake.open_pcap([str(SECTIONS), str(local_dir / "*.pcap*"), local_dir / "3-pings.cap"])
    source.discover()
    names = [str(f).rsplit("/", 1)[-1] for f in source.metadata["files"]]
    # Each pattern's matches sorted; the list's order kept. "*.pcap*" also takes
    # notes.pcap.txt, so read only what we mean to.
    assert names == [
        SECTIONS.name, "1-http.pcap", "2-big.pcapng.bz2", "4-vlan.pcap.lz4", "notes.pcap.txt", "3-pings.cap",
    ]
    source = intake.open_pcap(
        [str(SECTIONS), str(local_dir / "*.pcap"), str(local_dir / "*.bz2"), local_dir / "3-pings.cap"]
    )
    want = concat_refs((SECTIONS, PCAP, PCAPNG, PINGS))
    assert_same(source.read(), want)
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        intake.open_pcap([str(PCAP), str(local_dir / "nothing-here*.pcap")]).discover()


def test_file_urls(local_dir):
    assert_same(read_clean(PCAP.as_uri()), reference(PCAP))
    assert_same(read_clean(f"file://{local_dir}/2-big.pcapng.bz2"), reference(PCAPNG))
    assert_same(read_clean(f"file://{local_dir}/4-vlan.pcap.lz4"), reference(VLAN))
    gz = local_dir / "x.pcapng.gz"
    gz.write_bytes(compressed(SECTIONS, "gzip"))
    assert_same(read_clean(f"file://{gz}"), reference(SECTIONS))
    gz.unlink()
    source = intake.open_pcap(f"file://{local_dir}")
    assert source.discover()["npartitions"] == 4
    assert all(f.startswith("file://") for f in source.metadata["files"])
    assert_same(source.read(), concat_refs(LOCAL_DIR_REFS))
    assert_same(read_clean(f"file://{local_dir}/*.pcap"), reference(PCAP))


# -- 5. to_dask ---------------------------------------------------------------------------


def _spy_reads(monkeypatch):
    """Record, in this process, every capture opened (``_read.open_reader``: discover()
    reads the first file's header through it) and every whole-file read
    (``_read.read_file``: what each dask partition calls)."""
    seen = {"open_reader": [], "read_file": []}
    for name in seen:
        real = getattr(_read, name)

        def spy(path, *args, _real=real, _log=seen[name], **kwargs):
            _log.append(str(path))
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(_read, name, spy)
    return seen


@pytest.fixture
def four_files(tmp_path):
    d = tmp_path / "four"
    d.mkdir()
    paths = [d / "a.pcap", d / "b.pcapng", d / "c.pcap.xz", d / "d.pcap.gz"]
    shutil.copy(PCAP, paths[0])
    shutil.copy(PCAPNG, paths[1])
    paths[2].write_bytes(compressed(PINGS, "xz"))
    paths[3].write_bytes(compressed(VLAN, "gzip"))
    return d, paths, [PCAP, PCAPNG, PINGS, VLAN]


def test_to_dask_reads_only_the_first_header_until_compute(four_files, monkeypatch):
    d, paths, refs = four_files
    seen = _spy_reads(monkeypatch)
    source = intake.open_pcap(str(d / "*"))
    ddf = source.to_dask()
    # discover() opened the first file (for its header), nothing else; no file was read.
    assert seen == {"open_reader": [str(paths[0])], "read_file": []}

    assert ddf.npartitions == 4
    assert list(ddf.columns) == ["time", "src_host", "src_port", "dst_host", "dst_port", "protocol"]
    assert str(ddf.dtypes["time"]) == "datetime64[ns]"
    assert str(ddf.dtypes["src_port"]) == "UInt16" and str(ddf.dtypes["dst_port"]) == "UInt16"
    for col in ("src_host", "dst_host", "protocol"):
        assert str(ddf.dtypes[col]) == "string"  # README: to_dask
    ddf.__dask_graph__()  # building (and optimising) the graph reads nothing either
    assert seen == {"open_reader": [str(paths[0])], "read_file": []}

    # Second proof: files 2..4 replaced by garbage after discover(): the graph still builds,
    # and only compute() trips on them.
    saved = {p: p.read_bytes() for p in paths[1:]}
    for p in paths[1:]:
        p.write_bytes(b"garbage, not a capture at all")
    ddf2 = intake.open_pcap(str(d / "*")).to_dask()
    assert ddf2.npartitions == 4 and str(ddf2.dtypes["time"]) == "datetime64[ns]"
    ddf2.__dask_graph__()
    garbage = r"/four/(b\.pcapng|c\.pcap\.xz|d\.pcap\.gz): at byte offset 0"
    with pytest.raises(intake_pcap.NotACaptureError, match=garbage):
        ddf2.compute(scheduler="sync")
    for p, data in saved.items():
        p.write_bytes(data)

    seen["read_file"].clear()
    got = ddf.compute(scheduler="sync")
    assert sorted(seen["read_file"]) == sorted(str(p) for p in paths)  # each file once, at compute
    want = source.read()
    assert_same(got, as_in_dask(want))
    assert_same(want, concat_refs(refs))
    for i, ref in enumerate(refs):
        assert_same(ddf.get_partition(i).compute(scheduler="sync"), as_in_dask(reference(ref)))


def test_to_dask_on_memory_and_http(memfs, http_root):
    fs, root = memfs
    fs.pipe(f"{root}/x.pcap", PCAP.read_bytes())
    fs.pipe(f"{root}/y.pcapng.bz2", compressed(SECTIONS, "bz2"))
    fs.pipe(f"{root}/z.pcap.lz4", compressed(PINGS, "lz4"))
    source = intake.open_pcap(f"memory://{root}")
    ddf = source.to_dask()
    assert ddf.npartitions == 3
    assert_same(ddf.compute(scheduler="threads"), as_in_dask(source.read()))

    base, _ = http_root
    source = intake.open_pcap(f"{base}/d/")
    ddf = source.to_dask()
    assert ddf.npartitions == 4 and str(ddf.dtypes["dst_port"]) == "UInt16"
    assert_same(ddf.compute(scheduler="threads"), as_in_dask(source.read()))


# -- 6. pickling --------------------------------------------------------------------------


def test_sources_pickle(local_dir, memfs, http_root):
    fs, root = memfs
    fs.pipe(f"{root}/m.pcapng.xz", compressed(SECTIONS, "xz"))
    fs.pipe(f"{root}/m.bin", compressed(SECTIONS, "xz"))
    base, _ = http_root
    sources = [
        intake.open_pcap(str(local_dir)),
        intake.open_pcap([str(PCAP), str(local_dir / "*.bz2")], protocol="tcp"),
        intake.open_pcap(f"file://{local_dir}/*.lz4", payload=True),
        intake.open_pcap(f"memory://{root}/m.pcapng.xz"),
        intake.open_pcap(f"memory://{root}/m.bin", compression="xz"),
        intake.open_pcap(f"{base}/d/*.pcap*", filter="tcp"),
    ]
    for source in sources:
        want = source.read()
        assert len(want) > 0
        for state in ("fresh", "discovered"):
            if state == "discovered":
                source.discover()
            copy = pickle.loads(pickle.dumps(source))
            assert copy.compression == source.compression and copy.urlpath == source.urlpath
            assert_same(copy.read(), want)
            assert copy.discover()["npartitions"] == source.discover()["npartitions"]


# -- 7. a real dask.distributed cluster ---------------------------------------------------


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close(timeout=20)
        cluster.close(timeout=20)


def test_distributed_cluster_reads_on_its_workers(client, four_files, tmp_path, http_root, monkeypatch):
    distributed = pytest.importorskip("distributed")
    _, paths, refs = four_files
    extra = tmp_path / "sections.pcapng.zst"
    extra.write_bytes(compressed(SECTIONS, "zstd"))
    base, _ = http_root
    urls = [
        *(str(p) for p in paths),  # plain pcap, plain pcapng, xz, gzip
        str(CORPUS / "intake_pcap_tests_*.pcap"),  # 3 more, by glob
        str(extra),
        f"{base}/d/{PCAP.name}",
        f"{base}/d/{PCAPNG.name}.xz",
    ]
    source = intake.open_pcap(urls)
    want = source.read()
    expected_refs = [*refs, PINGS, PCAP, VLAN, SECTIONS, PCAP, PCAPNG]
    assert_same(want, concat_refs(expected_refs))

    source = pickle.loads(pickle.dumps(source))  # a fresh copy, not discovered yet
    seen = _spy_reads(monkeypatch)
    ddf = source.to_dask()
    assert ddf.npartitions == len(expected_refs) == 10
    assert str(ddf.dtypes["time"]) == "datetime64[ns]" and str(ddf.dtypes["src_port"]) == "UInt16"
    with distributed.get_task_stream(client) as tasks:
        got = client.compute(ddf).result(timeout=60)
    # This process opened only the first file's header; the workers read every file.
    assert seen == {"open_reader": [str(paths[0])], "read_file": []}
    assert tasks.data, "no task ran on the cluster"
    workers = {t["worker"] for t in tasks.data}
    assert workers <= set(client.scheduler_info()["workers"])
    assert_same(got, as_in_dask(want))

    # The same through dask's config, the other documented way.
    with dask.config.set(scheduler=client):
        assert_same(ddf.compute(), as_in_dask(want))


def test_a_url_whose_name_is_all_host_still_tells_its_compression():
    """memory://x.pcap.bz2 has no path in URL terms: the suffix is in the "host"."""
    fs = fsspec.filesystem("memory")
    name = f"bare-{uuid.uuid4().hex}.pcap.bz2"
    fs.pipe(f"/{name}", compressed(PCAP, "bz2"))
    try:
        assert _read.codec_for(f"memory://{name}") == "bz2"
        assert_same(read_clean(f"memory://{name}"), reference(PCAP))
    finally:
        fs.rm(f"/{name}")
