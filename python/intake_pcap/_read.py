"""Reading captures: the native reader's Arrow batches into tables and pandas frames.

Hosts and protocol (and the other text columns: MACs, interface, TCP flags) arrive
dictionary-encoded and become pandas categoricals: one small array of distinct strings, a
code per row, and no Python object per row. Integers become pandas' nullable dtypes
(``UInt8``, ``UInt16``, ``UInt32``; missing where a packet has no such field, e.g. ports of
ICMP), booleans ``boolean``, time ``datetime64[ns]``.
"""

from __future__ import annotations

import os
import stat
import sys
import urllib.parse
import warnings
from collections.abc import Callable, Iterable, Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, TypedDict, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import _native
from ._types import Compression, Errors
from .errors import CaptureWarning

if TYPE_CHECKING:
    import polars

# columns= as users give it: None (the documented six), one name, or names in order.
Columns = str | Iterable[str] | None
# A capture's path or URL (str or os.PathLike).
PathArg = str | os.PathLike[str]


# Clauses of (column, values) terms: see ``_native.CaptureReader``'s ``row_match``.
RowMatch = list[list[tuple[str, list[str]]]]


class NativeReadOptions(TypedDict):
    """The read options ``_native.read_capture`` and ``_native.CaptureReader`` take, by
    keyword: one dict built from the caller's arguments, passed as ``**options``."""

    protocol: str | None
    payload: bool
    errors: Errors
    filter: str | None
    columns: list[str] | None
    decapsulate: bool
    start_ns: int | None
    end_ns: int | None


def time_ns(name: str, value: Any) -> int | None:
    """``start=``/``end=`` as nanoseconds since 1970 (UTC): a datetime, pandas Timestamp or
    numpy datetime64 (without a timezone: UTC, as the ``time`` column), an ISO 8601 string,
    or epoch seconds (int, float, Decimal or a numeric string; exact to the nanosecond as
    written)."""
    import datetime
    from decimal import Decimal, InvalidOperation

    import numpy as np

    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name}= is a time (datetime, Timestamp, ISO 8601 text or epoch seconds), not a bool")
    seconds: Decimal | None = None
    if isinstance(value, (int, np.integer)):
        return int(value) * 1_000_000_000
    if isinstance(value, (float, np.floating)):
        seconds = Decimal(repr(float(value)))
    elif isinstance(value, Decimal):
        seconds = value
    elif isinstance(value, str):
        try:
            seconds = Decimal(value.strip())
        except InvalidOperation:
            seconds = None
    if seconds is not None:
        if not seconds.is_finite():
            raise ValueError(f"{name}={value!r} is not a time")
        return int((seconds * 1_000_000_000).to_integral_value(rounding="ROUND_FLOOR"))
    if isinstance(value, (str, datetime.datetime, datetime.date, np.datetime64, pd.Timestamp)):
        try:
            stamp = pd.Timestamp(value)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{name}={value!r} is not a time: {e}") from None
        if stamp is pd.NaT:
            raise ValueError(f"{name}={value!r} is not a time")
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return int(stamp.as_unit("ns").value)
    raise TypeError(
        f"{name}={value!r}: give a datetime, pandas Timestamp, ISO 8601 text or epoch seconds"
    )

_PANDAS_TYPES = {
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.bool_(): pd.BooleanDtype(),
    pa.large_binary(): pd.ArrowDtype(pa.large_binary()),
    # The flow table's counters, statistics and plain text.
    pa.uint64(): pd.UInt64Dtype(),
    pa.float64(): pd.Float64Dtype(),
    pa.string(): pd.StringDtype("pyarrow"),
    # Lists (DNS answers and TTLs, TLS versions and ALPN): Arrow-backed, not object
    # columns of arrays.
    pa.list_(pa.string()): pd.ArrowDtype(pa.list_(pa.string())),
    pa.list_(pa.uint16()): pd.ArrowDtype(pa.list_(pa.uint16())),
    pa.list_(pa.uint32()): pd.ArrowDtype(pa.list_(pa.uint32())),
}


def column_list(columns: Columns) -> list[str] | None:
    """``columns=`` as given (``None``, a name, or names) as ``None`` or a list of str."""
    if columns is None:
        return None
    if isinstance(columns, str):
        return [columns]
    return [str(c) for c in columns]


def arrow_schema(payload: bool = False, columns: Columns = None) -> pa.Schema:
    """The schema of a read; an unknown column raises ValueError listing the valid names."""
    return pa.schema(_native.capture_schema(payload=payload, columns=column_list(columns)))


# Text columns that share one dictionary per batch (the Rust core builds one for both), so
# that pandas gives them the same categories and ``src_host == dst_host`` works.
# ``src_host``/``dst_host`` come first: ``_hosts_as_text`` names them by position.
_SHARED_TEXT = (("src_host", "dst_host"), ("src_mac", "dst_mac"), ("outer_src_host", "outer_dst_host"))
# Columns whose distinct values are whatever the traffic holds (scans, spoofed or privacy
# addresses): only these may become Arrow-backed strings. Protocol names, TCP flags and
# interfaces are few by nature and always categoricals.
_ADDRESS_COLUMNS = frozenset(name for pair in _SHARED_TEXT for name in pair)
# read()'s rule (text="auto"): addresses become Arrow-backed strings when a read holds more
# than this many distinct ones (source and destination together). Above it a categorical
# costs a hash of every distinct string, twice: to unify the batches' dictionaries here, and
# in pandas at the first comparison with a string (measured: 3 s for 500,000 categories,
# pandas 3). The count is exact, so the dtype does not depend on how the read was cut into
# batches (threads, files): the batches' dictionaries bound it from below (the largest) and
# above (their sum), and only between the two are they hashed to count.
_MAX_CATEGORIES = _native.TEXT_AFTER_DISTINCT_HOSTS  # 65,536, the Rust core's same rule
ADDRESS_STRING_DTYPE = pd.StringDtype("pyarrow")
# The allocator the Rust batches came from (malloc): strings built there reuse the memory of
# the batches freed before them, which Arrow's default pool (jemalloc) cannot.
_POOL = pa.system_memory_pool()


def to_pandas(table: pa.Table | list[pa.Table], text: Literal["category", "auto", "string"] = "category") -> pd.DataFrame:
    """Convert a capture table (or a list of tables, which is emptied as it is converted, so
    that each Rust batch is freed once its rows are in pandas: the peak stays near the
    DataFrame's own size). Text columns become categoricals whose categories are the Rust
    dictionaries themselves, not hashed again (they are unique by construction: one entry
    per address, MAC, protocol number, ...); the dictionaries of several batches are
    unified on the way. ``text="auto"`` (what ``read()`` uses) turns the address columns
    into ``string[pyarrow]`` instead when they hold more than ``_MAX_CATEGORIES`` distinct
    values, where categoricals would cost more than the read; ``text="string"`` (what
    ``to_dask()`` uses) makes every text column ``string[pyarrow]``."""
    if text not in ("category", "auto", "string"):
        raise ValueError(f"text={text!r} is not 'category', 'auto' or 'string'")
    consume = isinstance(table, list)
    tables: list[pa.Table] = table if isinstance(table, list) else [table]
    schema = tables[0].schema
    # Address columns may come as large strings from the Rust core already (read_file's
    # hosts="text_when_distinct"); they are text columns all the same.
    text_types = {n for t in tables for n in t.schema.names if _is_text(n, t.schema.field(n).type)}
    batches = []
    while tables:
        batches.extend(tables.pop(0).to_batches())
    names = schema.names
    rows = sum(b.num_rows for b in batches)
    is_text = {n: n in text_types for n in names}
    rest = [n for n in names if not is_text[n]]
    grouped = [[n for n in pair if is_text.get(n)] for pair in _SHARED_TEXT]
    grouped = [g for g in grouped if g]
    in_pairs = {n for g in grouped for n in g}
    groups = grouped + [[n] for n in names if is_text[n] and n not in in_pairs]
    builders = [
        _TextGroup(g, batches, "always" if text == "string" else "if_rare" if text == "auto" and g[0] in _ADDRESS_COLUMNS
                   else "never", consume)
        for g in groups
    ]
    rest_schema = pa.schema([schema.field(n) for n in rest])
    kept = []
    while batches:
        batch = batches.pop(0)
        for builder in builders:
            builder.add(batch)
        if consume:
            # Copies, not views: a view keeps its whole Rust batch (host dictionaries
            # included) alive for as long as the DataFrame lives; this way it is freed now.
            kept.append(pa.record_batch([pa.concat_arrays([batch.column(n)]) for n in rest], schema=rest_schema))
        else:
            kept.append(batch.select(rest))
        del batch
    frame = pa.Table.from_batches(kept, schema=rest_schema).to_pandas(
        types_mapper=_PANDAS_TYPES.get, split_blocks=True, coerce_temporal_nanoseconds=True
    )
    del kept
    # pandas 3 infers datetime resolution from values; the column is nanoseconds by contract.
    if "time" in frame and frame["time"].dtype != "datetime64[ns]":
        frame["time"] = frame["time"].astype("datetime64[ns]")
    columns = {n: frame[n] for n in rest}
    for builder in builders:
        columns.update(builder.finish())
    return pd.DataFrame({n: columns[n] for n in names}, index=pd.RangeIndex(rows), copy=False)


def _is_text(name: str, type: pa.DataType) -> bool:
    return pa.types.is_dictionary(type) or (name in _ADDRESS_COLUMNS and pa.types.is_large_string(type))


class _TextGroup:
    """The dictionary columns of ``group`` (a shared-dictionary pair, or one column), built
    batch by batch: as categoricals sharing one categories Index, or as Arrow-backed strings
    (``strings``: ``"always"``, ``"never"``, or ``"if_rare"``: when they hold more than
    ``_MAX_CATEGORIES`` distinct values)."""

    def __init__(self, group: list[str], batches: list[pa.RecordBatch],
                 strings: Literal["always", "never", "if_rare"], consume: bool) -> None:
        self.group = group
        self.consume = consume
        self.strings = strings == "always" or (strings == "if_rare" and self._distinct_above(batches, _MAX_CATEGORIES))
        # Per column: its Arrow string arrays (strings), or (dictionary number, codes) pairs.
        self.parts: dict[str, list[Any]] = {n: [] for n in group}
        self.dictionaries: list[pa.Array] = []

    def _distinct_above(self, batches: list[pa.RecordBatch], limit: int) -> bool:
        """Whether the group's columns hold more than ``limit`` distinct values in all. The
        Rust core gives them as text from the first batch that holds more on its own."""
        if any(not pa.types.is_dictionary(b.schema.field(self.group[0]).type) for b in batches):
            return True
        dictionaries = [d for b in batches for d in self._dictionaries(b)]
        if not dictionaries or max(len(d) for d in dictionaries) > limit:
            return bool(dictionaries)
        if sum(len(d) for d in dictionaries) <= limit:
            return False
        return bool(pc.count_distinct(pa.chunked_array(dictionaries)).as_py() > limit)

    def _dictionaries(self, batch: pa.RecordBatch) -> list[pa.Array]:
        """The batch's distinct dictionaries for the group: the Rust core shares one between
        the columns of a pair."""
        columns = [batch.column(n) for n in self.group]
        if all(c.dictionary.equals(columns[0].dictionary) for c in columns[1:]):
            return [columns[0].dictionary]
        return [c.dictionary for c in columns]

    def add(self, batch: pa.RecordBatch) -> None:
        columns = [batch.column(n) for n in self.group]
        if self.strings:
            for name, column in zip(self.group, columns):
                if pa.types.is_dictionary(column.type):
                    column = pc.cast(column, pa.large_string(), memory_pool=_POOL)
                self.parts[name].append(column)
            return
        dictionaries = self._dictionaries(batch)
        shared = len(dictionaries) == 1
        first = len(self.dictionaries)
        self.dictionaries.extend(pa.concat_arrays([d]) for d in dictionaries)  # a copy: frees the batch
        for k, (name, column) in enumerate(zip(self.group, columns)):
            codes = pc.fill_null(column.indices, -1).to_numpy(zero_copy_only=False)
            if self.consume and column.null_count == 0:
                # A view into the batch would keep all of it alive until finish(); with
                # nulls, fill_null has made a new array already.
                codes = codes.copy()
            self.parts[name].append((first + (0 if shared else k), codes))

    def finish(self) -> dict[str, pd.Series]:
        if self.strings:
            return {
                n: pd.Series(pd.array(pa.chunked_array(self.parts[n], pa.large_string()), dtype=ADDRESS_STRING_DTYPE),
                             copy=False)
                for n in self.group
            }
        offsets = np.cumsum([0] + [len(d) for d in self.dictionaries])
        if len(self.dictionaries) <= 1:
            categories = self.dictionaries[0] if self.dictionaries else pa.array([], pa.string())
            remap = None
        else:
            # One hash pass over the distinct dictionaries, shared by the whole group.
            encoded = pc.dictionary_encode(pa.concat_arrays(self.dictionaries))
            categories = encoded.dictionary
            remap = encoded.indices.to_numpy()
        index = pd.Index(categories.to_pandas(), copy=False)
        if index.dtype == object:  # pandas 2: no str dtype, the same as for an empty read
            index = index.astype("str")
        dtype = _categorical_dtype(index)
        code_type = np.int8 if len(index) < 2**7 else np.int16 if len(index) < 2**15 else np.int32
        out = {}
        for name in self.group:
            parts = self.parts[name]
            codes = np.empty(sum(len(c) for _, c in parts), code_type)
            at = 0
            for which, part in parts:
                into = codes[at : at + len(part)]
                at += len(part)
                if remap is None:
                    into[:] = part
                    continue
                # This dictionary's positions in the unified categories, and -1 (missing)
                # at the end, where a code of -1 indexes. np.take into place: a third of
                # the time of indexing and concatenating.
                lookup = np.append(remap[offsets[which]:offsets[which + 1]], -1).astype(code_type)
                np.take(lookup, part, out=into)
            out[name] = pd.Series(pd.Categorical.from_codes(codes, dtype=dtype, validate=False), copy=False)
        return out


def _categorical_dtype(categories: pd.Index) -> pd.CategoricalDtype:
    """A categorical dtype over ``categories``, which are known to be unique: the public
    constructor would hash them all again to check, the cost this module exists to avoid."""
    fastpath = getattr(pd.CategoricalDtype, "_from_fastpath", None)
    if fastpath is not None:
        return fastpath(categories, ordered=False)
    return pd.CategoricalDtype(categories, ordered=False)


def to_polars(table: pa.Table) -> polars.DataFrame:
    """A pyarrow Table as a polars DataFrame, without pandas (hosts and protocol become
    polars Categoricals)."""
    try:
        import polars as pl
    except ImportError as err:
        raise ImportError("to_polars() needs polars; install it with `pip install polars`") from err
    # A Table gives a DataFrame (a Series comes only from an Array).
    return cast("polars.DataFrame", pl.from_arrow(table))


def empty_frame(payload: bool = False, columns: Columns = None) -> pd.DataFrame:
    """A zero-row frame with the exact dtypes of a read (dask's ``meta``)."""
    return to_pandas(arrow_schema(payload, columns).empty_table())


def dtypes(payload: bool = False, columns: Columns = None) -> dict[str, str]:
    """Column name to dtype name (``"category"`` for hosts and protocol), in column order."""
    return {name: str(dtype) for name, dtype in empty_frame(payload, columns).dtypes.items()}


def read_table(reader: _native.CaptureReader, max_rows: int | None = None) -> pa.Table:
    """Drain ``reader`` (or take up to ``max_rows`` rows of it) into one table."""
    schema = pa.schema(reader.schema)
    batches = []
    remaining = max_rows
    while remaining is None or remaining > 0:
        batch = reader.read_batch(remaining)
        if batch is None:
            break
        batches.append(pa.record_batch(batch))
        if remaining is not None:
            remaining -= batch.num_rows
    return pa.Table.from_batches(batches, schema=schema)


# Compression by file name, as fsspec names the codecs.
_SUFFIX_CODECS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd", ".lz4": "lz4"}
COMPRESSIONS = ("infer", None, "gzip", "bz2", "xz", "zstd", "lz4")


def codec_for(path: PathArg, compression: Compression = "infer") -> str | None:
    """The compression of ``path``: as given, or inferred from its suffix."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression={compression!r} is not one of {COMPRESSIONS}")
    if compression != "infer":
        return compression
    name = str(path).lower()
    if "://" in name:  # a URL's query string (presigned links) is not part of the name
        parts = urllib.parse.urlsplit(name)
        name = parts.netloc + parts.path  # memory://x.pcap.bz2 has no path, only a "host"
    return next((codec for suffix, codec in _SUFFIX_CODECS.items() if name.endswith(suffix)), None)


def is_local(path: PathArg) -> bool:
    text = str(path)
    return "://" not in text or text.startswith("file://")


def local_path(path: PathArg) -> str:
    text = os.fspath(path)
    return text[len("file://"):] if text.startswith("file://") else os.path.expanduser(text)


def is_stream(path: PathArg) -> bool:
    """Whether ``path`` is a local named pipe or character device (``mkfifo``,
    ``/dev/stdin``): something that can be read once, from the start, and not measured,
    mapped or reopened. Such inputs are opened once, as a Python file object."""
    if not is_local(path):
        return False
    try:
        mode = os.stat(local_path(path)).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def open_reader(
    path: PathArg,
    *,
    protocol: str | None = None,
    payload: bool = False,
    errors: Errors = "warn",
    batch_rows: int = 65536,
    filter: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    compression: Compression = "infer",
    columns: Columns = None,
    decapsulate: bool = False,
    start_ns: int | None = None,
    end_ns: int | None = None,
    row_match: RowMatch | None = None,
) -> _native.CaptureReader:
    """The native reader for one capture: local plain or gzip files are read by Rust
    directly; anything else (other codecs, remote URLs) streams through fsspec in large
    blocks, never whole in memory. A named pipe or device is opened once and streamed.
    ``row_match``: see ``_native.CaptureReader``."""
    codec = codec_for(path, compression)
    options = NativeReadOptions(
        protocol=protocol,
        payload=payload,
        errors=errors,
        filter=filter,
        columns=column_list(columns),
        decapsulate=bool(decapsulate),
        start_ns=start_ns,
        end_ns=end_ns,
    )
    if is_stream(path) and codec in (None, "gzip"):
        pipe = open(local_path(path), "rb")
        try:
            return _native.CaptureReader(pipe, name=os.fspath(path), batch_rows=batch_rows, row_match=row_match,
                                         **options)
        except BaseException:
            pipe.close()
            raise
    if is_local(path) and codec in (None, "gzip"):  # Rust detects and inflates gzip itself
        return _native.CaptureReader(local_path(path), batch_rows=batch_rows, row_match=row_match, **options)
    return _native.CaptureReader(
        _open_stream(path, codec, storage_options), name=str(path), batch_rows=batch_rows, row_match=row_match,
        **options
    )


def native_input(
    path: PathArg, storage_options: Mapping[str, Any] | None = None, compression: Compression = "infer"
) -> str | Callable[[], Any]:
    """What the native readers of several files take for one: the local path Rust reads
    itself (plain or gzip, or a pipe), or a callable that opens the file through fsspec
    when its turn comes."""
    codec = codec_for(path, compression)
    if is_local(path) and codec in (None, "gzip"):
        return local_path(path)
    return lambda: _open_stream(path, codec, storage_options)


def _open_stream(path: PathArg, codec: str | None, storage_options: Mapping[str, Any] | None) -> Any:
    """A binary file object over ``path`` through fsspec, decompressing ``codec``."""
    import fsspec

    # gzip is left to Rust (flate2, detected by content) even for remote files; zstd to a
    # reader that notices a stream cut short (fsspec's ends quietly).
    python_codec = None if codec in ("gzip", "zstd") else codec
    try:
        stream = fsspec.open(str(path), mode="rb", compression=python_codec, **(storage_options or {})).open()
        if codec == "zstd":
            stream = ZstdStream(stream)
    except ValueError as err:
        if python_codec and "not supported" in str(err):
            package = {"zstd": "zstandard", "lz4": "lz4"}.get(python_codec, python_codec)
            raise ValueError(f"{path}: reading {python_codec} needs the {package} package (pip install {package})") from err
        raise
    return stream


def warn_incomplete(stats: Mapping[str, Any], name: PathArg, errors: Errors) -> None:
    """Tell the user what a finished read skipped, unless they asked for silence."""
    if errors != "warn":
        return
    if stats.get("truncated"):
        _warn(f"{stats['truncated']}; every complete packet before it was read")
    for link_type, count in (stats.get("unsupported_link_types") or {}).items():
        _warn(f"{name}: {count} packet(s) of link type {link_type} were skipped: this link type is not decoded")


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _library_dirs() -> tuple[str, ...]:
    """This package's directory and Intake's (whose DataSource calls ours on the way)."""
    import intake

    return _PACKAGE_DIR, os.path.dirname(os.path.abspath(intake.__file__)) + os.sep


def _warn(message: str) -> None:
    """A CaptureWarning pointing at the first caller outside this package and Intake (the
    user's line), however deep inside them the read happened."""
    frame: FrameType | None = sys._getframe(1)
    level = 2  # stacklevel 2 is the frame that called _warn
    libraries = _library_dirs()
    while frame is not None and frame.f_code.co_filename.startswith(libraries):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, CaptureWarning, stacklevel=level)


class ZstdStream:
    """zstd decompression of a binary file object, raising EOFError (as bz2 and lzma do)
    when the compressed stream ends inside a frame."""

    def __init__(self, raw: BinaryIO, chunk: int = 1 << 20) -> None:
        try:
            import zstandard
        except ImportError as err:
            raise ValueError("reading zstd needs the zstandard package (pip install zstandard)") from err
        self._raw = raw
        self._chunk = chunk
        self._new = zstandard.ZstdDecompressor().decompressobj
        self._d = self._new()
        self._pending = b""

    def read1(self, n: int | None = -1) -> bytes:
        while not self._pending:
            data = self._raw.read(self._chunk)
            if not data:
                if not self._d.eof and self._started:
                    raise EOFError("Compressed file ended before the end-of-stream marker was reached")
                return b""
            self._started = True
            self._pending = self._d.decompress(data)
            # Several frames back to back: start the next one on what is left over.
            while self._d.eof and self._d.unused_data:
                rest = self._d.unused_data
                self._d = self._new()
                self._pending += self._d.decompress(rest)
        n = len(self._pending) if n is None or n < 0 else n
        out, self._pending = self._pending[:n], self._pending[n:]
        return out

    read = read1
    _started = False

    def close(self) -> None:
        self._raw.close()


# Streamed (non-local) files are read as one batch: one dictionary for the hosts, nothing
# to unify in pandas; measured faster and lighter than 64K-row batches.
_WHOLE_FILE = 1 << 62


def read_file(
    path: PathArg,
    *,
    protocol: str | None = None,
    payload: bool = False,
    errors: Errors = "warn",
    filter: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    compression: Compression = "infer",
    threads: int | None = None,
    byte_range: tuple[int, int] | None = None,
    columns: Columns = None,
    stamp: tuple[int, int, int] | None = None,
    frames_before: int = 0,
    text: Literal["category", "auto"] = "category",
    decapsulate: bool = False,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> pa.Table:
    """One whole capture file as a table. Local files are decoded on ``threads`` threads
    (default: every core) with exactly the sequential result; others stream through fsspec.
    ``byte_range=(start, end)`` with its ``stamp``, as ``_native.plan_partitions`` gives
    them: only the records that start there (a partition of a local uncompressed file), after
    ``frames_before`` packet records (the plan's third number).
    ``text="auto"``: for ``to_pandas(..., text="auto")`` only: hosts may come as large
    strings (all of the file's, when any batch holds more than ``_MAX_CATEGORIES``).
    ``decapsulate``: rows describe the innermost IP packet reached through tunnels."""
    codec = codec_for(path, compression)
    options = NativeReadOptions(
        protocol=protocol,
        payload=payload,
        errors=errors,
        filter=filter,
        columns=column_list(columns),
        decapsulate=bool(decapsulate),
        start_ns=start_ns,
        end_ns=end_ns,
    )
    if is_local(path) and codec in (None, "gzip") and not is_stream(path):
        batches, stats = _native.read_capture(
            local_path(path),
            threads=threads or os.cpu_count() or 1,
            byte_range=byte_range,
            stamp=stamp,
            frames_before=frames_before,
            hosts="text_when_distinct" if text == "auto" else "dictionary",
            **options,
        )
        warn_incomplete(stats, path, errors)
        record_batches = [pa.record_batch(b) for b in batches]
        schema = arrow_schema(payload, columns)
        if any(b.schema != schema for b in record_batches):
            record_batches, schema = _hosts_as_text(record_batches, schema)
        return pa.Table.from_batches(record_batches, schema=schema)
    if byte_range is not None:
        raise ValueError(f"{path}: byte ranges are read from local uncompressed regular files only")
    reader = open_reader(
        path, batch_rows=_WHOLE_FILE, storage_options=storage_options, compression=compression, **options
    )
    try:
        table = read_table(reader)
        warn_incomplete(reader.stats(), path, errors)
    finally:
        reader.close()
    return table


def _hosts_as_text(batches: list[pa.RecordBatch], schema: pa.Schema) -> tuple[list[pa.RecordBatch], pa.Schema]:
    """``batches`` of one file, some with large-string hosts: all of them so (a table has
    one schema)."""
    hosts = _SHARED_TEXT[0]
    text_schema = pa.schema([pa.field(f.name, pa.large_string(), f.nullable) if f.name in hosts else f
                             for f in schema])
    out = []
    for b in batches:
        if b.schema != text_schema:
            columns = [pc.cast(c, pa.large_string(), memory_pool=_POOL) if pa.types.is_dictionary(c.type)
                       and name in hosts else c for name, c in zip(b.schema.names, b.columns)]
            b = pa.record_batch(columns, schema=text_schema)
        out.append(b)
    return out, text_schema


def live_rows(reader: _native.LiveReader, rows: int) -> pa.Table:
    """The next ``rows`` IP packets of a live capture, waiting as long as it takes (Ctrl-C
    interrupts); fewer if the capture ends (or their payloads pass 256 MiB). Packets taken
    before a capture error come back first; the error comes with the next read."""
    schema = pa.schema(reader.schema)
    batch = reader.read_batch(rows) if rows > 0 else None
    return pa.Table.from_batches([] if batch is None else [pa.record_batch(batch)], schema=schema)


def live_chunk(reader: _native.LiveReader, rows: int, timeout_ms: int) -> pa.Table | None:
    """What arrives within one ``timeout_ms`` (at most ``rows`` rows, waiting on until at
    least one arrives); ``None`` once the capture has ended."""
    while True:
        batch = reader.read_batch(rows, timeout_ms)
        if batch is not None:
            return pa.Table.from_batches([pa.record_batch(batch)])
        if reader.finished:
            return None
