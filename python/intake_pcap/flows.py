"""The flow table as an Intake source: ``intake.open_pcap_flows(urlpath, ...)`` and catalog
entries with ``driver: pcap_flows``. One row per flow (a conversation between two
endpoints), with Zeek's originator, ``conn_state`` and ``history``, per-direction counters,
and the ``flow_id`` that the packet table's ``flow_id`` column joins on."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from intake.source.base import DataSource, Schema

from ._types import Compression, Errors, OutputFormat

if TYPE_CHECKING:
    import dask.dataframe
    import pandas as pd
    import polars
    import pyarrow as pa

    from ._native import FlowTableReader, ObservedPartition

__all__ = ["PCAPFlowsSource"]

# ``to_arrow()`` asks for flows in id order when a read has at most this many: they are
# held to the end (about 85 MB at 640 bytes a flow) and sorted in Rust, which spared the
# 66,699 flows of the benchmark capture a 15 ms sort of every column in pyarrow.
_HELD_IN_ID_ORDER = 1 << 17


class PCAPFlowsSource(DataSource):
    """Packet captures as a flow table: one row per flow.

    Parameters
    ----------
    urlpath : str or list of str
        Capture files, globs, directories or fsspec URLs, as ``open_pcap`` takes them. The
        files together are one traffic, read in the order given (each pattern's matches
        sorted): a flow goes on from one file into the next, as in a rotated capture.
    idle_timeout : float or None
        Seconds of capture time without a packet after which a flow ends (default 120, as
        nfstream); ``None``: never.
    active_timeout : float or None
        Seconds after its first packet at which a flow is cut and a new one starts with the
        next packet (default 1800, as nfstream); ``None``: never.
    protocol, filter, decapsulate, errors, compression, storage_options
        As ``open_pcap``: which packets count, and how files are read. With
        ``decapsulate=True`` flows are the innermost packets' and keyed by the tunnel id too.
    chunksize : int, optional
        Flows per DataFrame from ``read_chunked()`` (default 65536).
    columns : list of str, optional
        The flow columns, in this order (default: every column but the application ones).
        Naming ``application``, ``server_name``, ``tls_ja4``, ``tls_ja3`` or ``tls_ja3s``
        reads each flow's messages for them, as ``open_pcap``'s DNS, TLS, HTTP and QUIC
        columns read packets: each file's TCP streams are followed from its start, so
        ``to_dask()`` reads each file as one partition.
    threads : int, optional
        Threads (default: every core): the flow table on one, each local file decoded beside
        it on the others. The flows are the same whatever the count.
    verify_checksums : bool
        Verify checksums as Zeek does without ``-C`` (default False, as ``zeek -C``): a packet
        whose IPv4 header checksum is wrong is in no flow; a TCP, UDP, ICMP or ICMPv6
        checksum that is wrong records ``C``/``c`` in ``history`` (TCP, UDP) and the packet
        counts only as Zeek counts it (a TCP one is dropped after the connection exists, a
        UDP one still counts in packets and bytes; ``describe_columns(flows=True)`` says
        what each column holds).
    blocksize : int or None
        For ``to_dask()``: local uncompressed files larger than this (default 256 MiB) are
        decoded in byte ranges of about this size, one task each, as ``open_pcap`` splits
        them.
    metadata : dict, optional
        Intake metadata.
    """

    name = "pcap_flows"
    container = "dataframe"
    partition_access = True

    def __init__(
        self,
        urlpath: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        idle_timeout: float | None = 120.0,
        active_timeout: float | None = 1800.0,
        protocol: str | None = None,
        filter: str | None = None,
        chunksize: int | None = None,
        errors: Errors = "warn",
        compression: Compression = "infer",
        storage_options: Mapping[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        decapsulate: bool = False,
        threads: int | None = None,
        blocksize: int | None = 256 * 2**20,
        verify_checksums: bool = False,
        columns: Sequence[str] | None = None,
        start: Any = None,
        end: Any = None,
        **kwargs: object,
    ) -> None:
        if kwargs:
            raise TypeError(
                f"PCAPFlowsSource got unexpected argument(s) {sorted(kwargs)}; it takes urlpath, idle_timeout, "
                "active_timeout, protocol, filter, chunksize, errors, compression, storage_options, decapsulate, "
                "threads, blocksize, verify_checksums, columns, start, end and metadata"
            )
        if urlpath is None:
            raise ValueError("give capture files (urlpath): flows are read from files")
        from .source import _positive_int_or_none, _positive_number_or_none, check_selection, time_range_ns

        check_selection(errors, protocol, filter, compression)
        self.start, self.end = start, end
        self._start_ns, self._end_ns = time_range_ns(start, end)
        self.urlpath = urlpath
        self.idle_timeout = _positive_number_or_none("idle_timeout", idle_timeout)
        self.active_timeout = _positive_number_or_none("active_timeout", active_timeout)
        self.protocol = protocol
        self.filter = filter
        self.chunksize = _positive_int_or_none("chunksize", chunksize)
        self.errors = errors
        self.compression = compression
        self.decapsulate = bool(decapsulate)
        self.threads = _positive_int_or_none("threads", threads)
        self.blocksize = _positive_int_or_none("blocksize", blocksize)
        self.verify_checksums = bool(verify_checksums)
        if isinstance(columns, str):
            raise TypeError(f"columns= takes a list of column names, not the string {columns!r}")
        self.columns = None if columns is None else list(columns)
        # Checked now: an unknown name is an error at open, not at the first read.
        self._schema_arrow = _arrow_schema(self.columns)
        # The flows are ordered by flow_id: read it even when it is not asked for.
        self._read_columns = self.columns
        if self.columns is not None and "flow_id" not in self.columns:
            self._read_columns = [*self.columns, "flow_id"]
        self._files: list[str] | None = None
        self._state_lock = threading.RLock()
        super().__init__(storage_options=storage_options or {}, metadata=metadata)

    # -- Intake's protocol -------------------------------------------------------------

    def _load_metadata(self) -> list[str]:
        with self._state_lock:
            super()._load_metadata()
            return self._files or []

    def _get_schema(self) -> Schema:
        from ._native import flow_table_schema
        from .source import _expand

        files = _expand(self.urlpath, self.storage_options)
        self._files = files
        schema = self._schema_arrow
        return Schema(
            dtype={f.name: _pandas_dtype(f.type) for f in schema},
            shape=(None, len(schema)),
            # One traffic: flows cross files, so the files are read as one partition.
            npartitions=1,
            extra_metadata={"files": list(files), "schema": str(flow_table_schema(self.columns))},
        )

    def _get_partition(self, i: int) -> pd.DataFrame:
        if i != 0:
            raise IndexError(f"a flow source has one partition; asked for {i}")
        return self.read()

    def _reader(self, in_id_order: int = 0) -> FlowTableReader:
        from ._native import FlowTableReader
        from ._read import native_input

        files = self._load_metadata()
        return FlowTableReader(
            [native_input(f, self.storage_options, self.compression) for f in files],
            names=list(files),
            idle_timeout=self.idle_timeout,
            active_timeout=self.active_timeout,
            protocol=self.protocol,
            errors=self.errors,
            filter=self.filter,
            decapsulate=self.decapsulate,
            start_ns=self._start_ns,
            end_ns=self._end_ns,
            batch_rows=self.chunksize or 65536,
            threads=self.threads or os.cpu_count() or 1,
            verify_checksums=self.verify_checksums,
            columns=self._read_columns,
            in_id_order=in_id_order,
        )

    def _arrow_batches(self, with_flow_id: bool = False, in_id_order: int = 0) -> Iterator[pa.RecordBatch]:
        """Flows as they end (by ``flow_id`` when there are at most ``in_id_order``), in
        batches of at most ``chunksize``, of the columns asked for (and ``flow_id`` when
        ``with_flow_id``)."""
        import pyarrow as pa

        from ._read import warn_incomplete

        reader = self._reader(in_id_order)
        narrow = self.columns is not None and self._read_columns != self.columns and not with_flow_id
        try:
            for batch in reader:
                batch = pa.record_batch(batch)
                yield batch.select(self.columns) if narrow else batch
            warn_incomplete(reader.stats(), ", ".join(self._files or []), self.errors)
        finally:
            reader.close()

    def to_arrow(self) -> pa.Table:
        """Every flow as a pyarrow Table, ordered by ``flow_id`` (the order of their first
        packets)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        batches = self._arrow_batches(with_flow_id=True, in_id_order=_HELD_IN_ID_ORDER)
        table = pa.Table.from_batches(list(batches), schema=_arrow_schema(self._read_columns))
        ids = table["flow_id"]
        # Up to _HELD_IN_ID_ORDER flows come sorted; checked (a millisecond), not assumed.
        if len(ids) > 1 and not pc.all(pc.less(ids[:-1], ids[1:])).as_py():
            table = table.sort_by("flow_id")
        return table if self.columns is None else table.select(self.columns)

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """``to_arrow()``'s flows as an Arrow C stream (the Arrow PyCapsule interface), so
        that ``pa.table(flows)``, ``pl.DataFrame(flows)`` and ``duckdb.sql("select ... from
        flows")`` read them without pandas, ordered by ``flow_id`` as ``read()`` is."""
        return self.to_arrow().__arrow_c_stream__(requested_schema)

    def read(self) -> pd.DataFrame:
        """Every flow as one DataFrame, ordered by ``flow_id`` (the order of their first
        packets), with a fresh index."""
        from ._read import to_pandas

        return to_pandas(self.to_arrow())

    def read_chunked(self) -> Iterator[pd.DataFrame]:
        """DataFrames of at most ``chunksize`` flows, in the order the flows end: memory
        holds the flows alive at once, not every flow. Together they are ``read()``'s rows
        (``pd.concat(...).sort_values("flow_id")``)."""
        import pyarrow as pa

        from ._read import to_pandas

        for batch in self._arrow_batches():
            yield to_pandas(pa.Table.from_batches([batch]))

    def to_dask(self) -> dask.dataframe.DataFrame:
        """A lazy dask DataFrame of every flow, computed on the workers in two steps: each
        partition of the files (a file, or a byte range of a large one, as ``open_pcap``
        splits them) is decoded into its packets' observations by one task; then each
        partition of the result runs a flow table over every observation, in read order,
        keeping the flows of its shard of the address pairs, with the capture's clock taken
        over every packet. So the flows are exactly ``read()``'s, whatever the partitions
        and workers; each partition is sorted by ``flow_id``, and
        ``to_dask().compute().sort_values("flow_id")`` is ``read()``'s table."""
        import dask.dataframe as dd
        from dask.delayed import delayed

        from ._read import to_pandas
        from .source import _plan_partitions

        files = self._load_metadata()
        app = _reads_app(self.columns)
        options = dict(protocol=self.protocol, errors=self.errors, filter=self.filter, decapsulate=self.decapsulate,
                       start_ns=self._start_ns, end_ns=self._end_ns,
                       storage_options=self.storage_options, compression=self.compression,
                       verify_checksums=self.verify_checksums, app=app)
        # The application columns follow each TCP stream from its file's start: whole files.
        blocksize = None if app else self.blocksize
        observed = []
        for i, path in enumerate(files):
            # Each file on its own, so that a file listed twice keeps both its places.
            partitions, _ = _plan_partitions([path], blocksize, self.compression)
            for _, byte_range, stamp, frames_before in partitions:
                observed.append(delayed(_observe, pure=False)(path, i, byte_range, stamp, frames_before, options))
        shards = max(1, min(len(observed), 2 * (os.cpu_count() or 1)))
        # Text as strings, not categoricals whose categories differ by shard (PCAPSource.to_dask).
        meta = to_pandas(self._schema_arrow.empty_table(), text="string")
        parts = [
            delayed(_shard, pure=False)(observed, k, shards, self.idle_timeout, self.active_timeout, self.columns)
            for k in range(shards)
        ]
        frame: dask.dataframe.DataFrame = dd.from_delayed(parts, meta=meta, verify_meta=False)
        return frame

    def to_polars(self) -> polars.DataFrame:
        """Every flow as a polars DataFrame, from the Arrow table without pandas."""
        from ._read import to_polars

        return to_polars(self.to_arrow())

    def to_file(self, path: str | os.PathLike[str], format: OutputFormat | None = None) -> int:
        """Write every flow, in the order they end, to ``path`` (Parquet, Arrow IPC, CSV
        or JSON lines, by ``format`` or the extension), as ``PCAPSource.to_file`` does.
        Returns the flows written."""
        from .source import local_output, write_batches

        out = local_output(path)
        return write_batches(out, self._schema_arrow, self._arrow_batches(), self._load_metadata(), format)

    def stats(self) -> dict[str, Any]:
        """Read the flows and count what was seen: packets, flows (``rows``), skipped packets."""
        reader = self._reader()
        try:
            for _ in reader:
                pass
            return dict(reader.stats())
        finally:
            reader.close()

    def _rebuild(self) -> dict[str, Any]:
        return dict(
            urlpath=self.urlpath,
            idle_timeout=self.idle_timeout,
            active_timeout=self.active_timeout,
            protocol=self.protocol,
            filter=self.filter,
            chunksize=self.chunksize,
            errors=self.errors,
            compression=self.compression,
            storage_options=self.storage_options,
            decapsulate=self.decapsulate,
            threads=self.threads,
            blocksize=self.blocksize,
            verify_checksums=self.verify_checksums,
            columns=self.columns,
            start=self.start,
            end=self.end,
        )

    def _close(self) -> None:
        with self._state_lock:
            self._files = None
            self._schema = None


APP_COLUMNS = ("application", "server_name", "tls_ja4", "tls_ja3", "tls_ja3s")


def _reads_app(columns: list[str] | None) -> bool:
    """Whether a flow read of ``columns`` reads each flow's messages."""
    return columns is not None and any(c in APP_COLUMNS for c in columns)


def _arrow_schema(columns: list[str] | None = None) -> pa.Schema:
    import pyarrow as pa

    from ._native import flow_table_schema

    return pa.schema(flow_table_schema(columns))


def _pandas_dtype(type: pa.DataType) -> str:
    import pyarrow as pa

    if pa.types.is_dictionary(type):
        return "category"
    if pa.types.is_timestamp(type):
        return "datetime64[ns]"
    if pa.types.is_duration(type):
        return "timedelta64[ns]"
    if pa.types.is_string(type):
        return "string"
    return {pa.uint16(): "UInt16", pa.uint32(): "UInt32", pa.uint64(): "UInt64", pa.float64(): "Float64"}[type]


def _observe(
    path: str,
    file: int,
    byte_range: tuple[int, int] | None,
    stamp: tuple[int, int, int] | None,
    frames_before: int,
    options: dict[str, Any],
) -> ObservedPartition:
    """``to_dask()``'s first step on a worker: one partition's observations."""
    from ._native import observe_partition
    from ._read import native_input, warn_incomplete

    source = path if byte_range is not None else native_input(path, options["storage_options"], options["compression"])
    observed, stats = observe_partition(
        source, file=file, name=path, byte_range=byte_range, stamp=stamp, frames_before=frames_before,
        protocol=options["protocol"], errors=options["errors"], filter=options["filter"],
        decapsulate=options["decapsulate"], verify_checksums=options["verify_checksums"], app=options["app"],
        start_ns=options["start_ns"], end_ns=options["end_ns"],
    )
    warn_incomplete(stats, path, options["errors"])
    return observed


def _shard(
    observed: list[ObservedPartition],
    shard: int,
    shards: int,
    idle: float | None,
    active: float | None,
    columns: list[str] | None,
) -> pd.DataFrame:
    """``to_dask()``'s second step on a worker: one shard's flows."""
    import pyarrow as pa

    from ._native import shard_flows
    from ._read import to_pandas

    batch = pa.record_batch(
        shard_flows(observed, shard=shard, shards=shards, idle_timeout=idle, active_timeout=active, columns=columns)
    )
    return to_pandas(pa.Table.from_batches([batch]), text="string")
