"""The Intake driver: ``intake.open_pcap(urlpath, ...)`` and catalog entries with
``driver: pcap``."""

from __future__ import annotations

import functools
import glob
import inspect
import operator
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Unpack

from intake.source.base import DataSource, Schema

from ._types import Compression, Errors, OutputFormat

if TYPE_CHECKING:
    import dask.dataframe
    import pandas as pd
    import polars
    import pyarrow as pa

    from ._native import LiveReader
    from ._read import RowMatch

__all__ = ["PCAPSource"]

_ERRORS = ("raise", "warn", "ignore")


class _FileOptions(TypedDict):
    """How each file of a source is read: the options ``_read.open_reader`` and
    ``_read.read_file`` take by keyword, in one dict (a plain dict: dask pickles it)."""

    protocol: str | None
    payload: bool
    errors: Errors
    filter: str | None
    storage_options: Mapping[str, Any]
    compression: Compression
    columns: list[str] | None
    decapsulate: bool
    start_ns: int | None
    end_ns: int | None


class _WholeFileOptions(_FileOptions):
    """``_FileOptions`` and the threads that decode one local file (``read_file`` only)."""

    threads: int | None


# One partition: a file, the byte range of it that is read (None: all of it), the stamp of
# the file's version the range was planned on (None without a range), and the packet
# records before the range (its rows' `frame` counts on from there).
_Partition = tuple[str, tuple[int, int] | None, tuple[int, int, int] | None, int]

# The columns that place each packet in its flow: read by one flow table over every file,
# in order, in one partition (see `_labeled_reader`).
FLOW_COLUMNS = ("flow_id", "direction")


class PCAPSource(DataSource):
    """Packet captures as a DataFrame: one row per IP packet.

    Parameters
    ----------
    urlpath : str, list of str, or None
        A capture file, a glob of them, a directory, or a list of these (one partition per
        file, in sorted order): local paths or any fsspec URL (``http://``, ``s3://``,
        ``memory://``, ...). pcap and pcapng. ``None`` with ``interface=`` reads a live
        interface.
    protocol : str, optional
        Keep only packets whose IP header chain contains this protocol: ``tcp``, ``udp``,
        ``icmp``, ``icmp6``, ``igmp``, ``igrp``, ``pim``, ``ah``, ``esp``, ``vrrp``, any
        other name the ``protocol`` column uses, or a protocol number.
    payload : bool
        Add a ``payload`` column: the bytes after the transport header (appended to
        ``columns`` when they do not name it).
    columns : list of str, optional
        The columns, in this order (default: ``time, src_host, src_port, dst_host,
        dst_port, protocol``); only these are decoded and built.
        ``intake_pcap.describe_columns()`` says what each name holds; an unknown one
        raises ``ValueError`` listing them.
        ``frame``, ``community_id``, ``flow_id`` and ``direction`` join packets to
        ``open_pcap_flows``' flows; a source with ``flow_id`` or ``direction`` reads every
        file in order as one partition.
    idle_timeout, active_timeout : float or None
        For ``flow_id`` and ``direction``: the flow table's timeouts, as ``open_pcap_flows``
        takes them (defaults 120 and 1800 seconds; ``None``: off). Give the flow read's, and
        the ids are the same.
    decapsulate : bool
        Rows describe the innermost IP packet reached through tunnels (VXLAN, GRE, Geneve,
        GTP-U, IP-in-IP, Teredo, L2TP, ERSPAN, ...) rather than the outermost: hosts,
        ports, protocol, and ``protocol=`` with them. ``filter=`` keeps libpcap's meaning,
        on the outer headers; the link columns (``vlan``, MACs, ``ethertype``) stay the
        outer frame's; ``outer_src_host``/``outer_dst_host`` give the outer addresses.
    filter : str, optional
        A tcpdump filter expression (``"tcp port 443 and not host 10.0.0.1"``), compiled by
        libpcap; both it and ``protocol`` must hold. On a live interface it runs in the kernel.
    chunksize : int, optional
        Rows per DataFrame from ``read_chunked()`` (default 65536); for a live
        interface, the IP packets each ``read()`` returns (default 100).
    errors : {"warn", "raise", "ignore"}
        A file that ends inside a record (a capture killed while writing): keep every
        complete packet and warn (default), raise, or keep them silently.
    compression : str or None
        ``"infer"`` (default: by file name, ``.gz .bz2 .xz .zst .lz4``; gzip is also
        recognised by content), ``None``, or one of ``gzip bz2 xz zstd lz4``.
    storage_options : dict, optional
        Passed to fsspec for remote URLs (credentials, endpoints, ...).
    threads : int, optional
        Threads that decode one local file (default: every core); the rows are exactly
        those of a single-threaded read.
    blocksize : int or None
        Local uncompressed files larger than this (default 256 MiB) are split into
        byte-range partitions for ``to_dask()`` and ``read_partition()``. ``discover()``
        walks such a file's records once (about the speed of ``cat``) so that each
        partition starts on a true record boundary, and holds the records that start
        inside it. Compressed files, and pcapng files that describe a section or interface
        after their first packet, are one partition each; ``discover()``'s metadata says
        which and why.
        ``None``: one partition per file. A read of the DNS, TLS or HTTP columns takes each
        file as one partition: they follow each TCP connection from the file's start.
    interface : str, optional
        Network interface for live capture (``urlpath=None``). Capture starts at the first
        ``discover()`` or read and runs until ``close()``; packets arriving between reads
        are kept in a bounded queue.
    timeout : int, optional
        Live: milliseconds ``read_chunked()`` waits before yielding what arrived (default
        1000).
    max_packet : int, optional
        Live: snap length, the most bytes kept of each packet (default 65536).
    promisc : bool, optional
        Live: put the interface in promiscuous mode (default True).
    start, end : datetime, pandas Timestamp, ISO 8601 text or epoch seconds, optional
        Only packets with ``start <= time < end`` (either may be omitted; without a timezone
        a time is UTC, as the ``time`` column), on every read path, as if the capture held
        only those packets (``editcap -A start -B end``): a pcapng simple packet block,
        which has no time, is outside every range. ``to_pcap()`` without rows writes them.
    nrows : int, optional
        Files: only the first ``nrows`` rows of the whole source (in file order), on every
        read path (``read()``, ``read_chunked()``, ``read_partition(0)``, ``to_arrow()``,
        ``to_polars()``, ``to_dask()``, ``to_file()``, the Arrow stream); reading stops there.
        The source is then one partition. (A live source has ``limit=``.)
    limit : int, optional
        Live: stop after this many rows in all.
    duration : float, optional
        Live: ``read_chunked()`` stops after this many seconds.

        The live options (``interface``, ``timeout``, ``max_packet``, ``promisc``, ``limit``,
        ``duration``) given with a ``urlpath`` raise ``TypeError``: a file source would
        ignore them.
    metadata : dict, optional
        Intake metadata.
    """

    name = "pcap"
    container = "dataframe"
    partition_access = True

    def __init__(
        self,
        urlpath: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None,
        protocol: str | None = None,
        payload: bool = False,
        filter: str | None = None,
        chunksize: int | None = None,
        errors: Errors = "warn",
        interface: str | None = None,
        timeout: int | None = None,
        max_packet: int | None = None,
        promisc: bool | None = None,
        limit: int | None = None,
        duration: float | None = None,
        compression: Compression = "infer",
        storage_options: Mapping[str, Any] | None = None,
        threads: int | None = None,
        blocksize: int | None = 256 * 2**20,
        columns: str | Iterable[str] | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        decapsulate: bool = False,
        idle_timeout: float | None = 120.0,
        active_timeout: float | None = 1800.0,
        start: Any = None,
        end: Any = None,
        nrows: int | None = None,
        **kwargs: object,
    ) -> None:
        if isinstance(protocol, Mapping) or "pcap_kwargs" in kwargs:
            # The old documented signature, PCAPSource(urlpath, pcap_kwargs, metadata), as the
            # old Plugin.open called it: the options in one dict, then the metadata.
            pcap_kwargs = dict(kwargs.pop("pcap_kwargs") if "pcap_kwargs" in kwargs else protocol)  # type: ignore[call-overload]
            old_metadata = payload if isinstance(payload, Mapping) else metadata
            arguments = locals()
            also_given = [
                name for name, default in _init_defaults().items()
                if name not in ("protocol", "payload", "metadata") and arguments[name] != default
            ]
            if kwargs or also_given or not isinstance(protocol, (Mapping, type(None))) or not isinstance(
                    payload, (Mapping, bool)):
                raise TypeError(
                    "the old signature is PCAPSource(urlpath, pcap_kwargs, metadata): give the options as "
                    "one dict, or use keywords (PCAPSource(urlpath, protocol=..., ...))"
                )
            self.__init__(urlpath, **pcap_kwargs, metadata=dict(old_metadata or {}))  # type: ignore[misc]
            return
        if kwargs:
            raise TypeError(
                f"PCAPSource got unexpected argument(s) {sorted(kwargs)}; it takes urlpath, protocol, "
                "payload, filter, chunksize, errors, interface, timeout, max_packet, promisc, limit, "
                "duration, compression, storage_options, threads, blocksize, columns, decapsulate, "
                "idle_timeout, active_timeout, start, end, nrows and metadata"
            )
        if urlpath is None and interface is None:
            raise ValueError("give a capture file (urlpath) or a network interface (interface=)")
        if urlpath is None and nrows is not None:
            raise TypeError("nrows applies to files; a live source stops after limit= rows")
        if urlpath is not None:
            live_only = dict(
                interface=interface, timeout=timeout, max_packet=max_packet, promisc=promisc, limit=limit,
                duration=duration,
            )
            given = sorted(name for name, value in live_only.items() if value is not None)
            if given:
                raise TypeError(
                    f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to a live interface "
                    f"(open_pcap(None, interface=...)), not to files such as {urlpath!r}: leave "
                    f"{'it' if len(given) == 1 else 'them'} out"
                )
        check_selection(errors, protocol, filter, compression)
        from ._native import capture_schema
        from ._read import column_list

        columns = column_list(columns)
        # Validates the names (ValueError listing the valid ones).
        capture_schema(payload=bool(payload), columns=columns)
        self.urlpath = urlpath
        self.protocol = protocol
        self.payload = bool(payload)
        self.filter = filter
        self.chunksize = _positive_int_or_none("chunksize", chunksize)
        self.errors = errors
        self.interface = interface
        self.timeout = _positive_int("timeout", 1000 if timeout is None else timeout)
        self.max_packet = _positive_int("max_packet", 65536 if max_packet is None else max_packet)
        self.promisc = True if promisc is None else bool(promisc)
        self.limit = _positive_int_or_none("limit", limit)
        self.duration = _positive_number_or_none("duration", duration)
        self.compression = compression
        self.threads = _positive_int_or_none("threads", threads)
        self.blocksize = _positive_int_or_none("blocksize", blocksize)
        self.columns = columns
        self.decapsulate = bool(decapsulate)
        self.start, self.end = start, end
        self._start_ns, self._end_ns = time_range_ns(start, end)
        self.idle_timeout = _positive_number_or_none("idle_timeout", idle_timeout)
        self.active_timeout = _positive_number_or_none("active_timeout", active_timeout)
        self._with_flows = any(c in FLOW_COLUMNS for c in columns or ())
        self.nrows = _positive_int_or_none("nrows", nrows)
        # Ports and addresses a scan_pcap query keeps (`_native.CaptureReader`'s row_match),
        # set by the scan on its own source; _arrow_batches only.
        self._row_match: RowMatch | None = None
        # Read as one partition, from the files' start: with the flow columns (one traffic
        # through one flow table) or nrows (the first rows of the whole source).
        self._whole = self._with_flows or self.nrows is not None
        from ._native import stream_column_names

        self._with_streams = bool(set(columns or ()) & set(stream_column_names()))
        if self._with_flows and urlpath is None:
            raise ValueError(
                "flow_id and direction place each packet in its flow over the whole capture: read them "
                "from files, not a live interface"
            )
        self._files: list[str] | None = None
        self._partitions: list[_Partition] | None = None
        self._live: LiveReader | None = None
        self._live_rows = 0
        # Held while metadata is loaded or dropped, so that close() from another thread
        # never leaves a read half-way between the two (the read keeps what it loaded).
        self._state_lock = threading.RLock()
        super().__init__(storage_options=storage_options or {}, metadata=metadata)

    def __repr__(self) -> str:
        """One line: what is read and the options given (Intake's YAML is ``yaml()``)."""
        what = f"interface={self.interface!r}" if self.is_live else repr(self.urlpath)
        options = {
            "protocol": self.protocol, "filter": self.filter, "columns": self.columns,
            "payload": self.payload or None, "decapsulate": self.decapsulate or None,
            "start": self.start, "end": self.end,
        }
        given = "".join(f", {name}={value!r}" for name, value in options.items() if value is not None)
        files = "" if self._files is None else f" ({len(self._files)} files, {len(self._partitions or ())} partitions)"
        return f"<PCAPSource {what}{given}{files}>"

    def _repr_html_(self) -> str:
        """For notebooks: what is read, its files and partitions once known (a repr reads
        nothing), the columns and the selection."""
        from html import escape

        from ._read import arrow_schema

        rows = [("reads", f"interface {self.interface}" if self.is_live else str(self.urlpath))]
        if self._files is not None:
            shown = self._files[:10]
            more = f" and {len(self._files) - len(shown)} more" if len(self._files) > len(shown) else ""
            rows.append((f"{len(self._files)} files", ", ".join(shown) + more))
            rows.append(("partitions", str(len(self._partitions or ()))))
        rows.append(("columns", ", ".join(arrow_schema(self.payload, self.columns).names)))
        for name in ("protocol", "filter", "start", "end"):
            if getattr(self, name) is not None:
                rows.append((name, str(getattr(self, name))))
        body = "".join(f"<tr><th style='text-align:left'>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
        return f"<table><caption>PCAPSource</caption>{body}</table>"

    @property
    def _file_options(self) -> _FileOptions:
        """How each file is read: what every partition needs, picklable for dask."""
        return _FileOptions(
            protocol=self.protocol,
            payload=self.payload,
            errors=self.errors,
            filter=self.filter,
            storage_options=self.storage_options,
            compression=self.compression,
            columns=self.columns,
            decapsulate=self.decapsulate,
            start_ns=self._start_ns,
            end_ns=self._end_ns,
        )

    @property
    def _whole_file_options(self) -> _WholeFileOptions:
        return _WholeFileOptions(**self._file_options, threads=self.threads)

    @property
    def is_live(self) -> bool:
        """Whether this source reads a network interface rather than files."""
        return self.urlpath is None

    # -- Intake's protocol -------------------------------------------------------------

    def _load_metadata(self) -> tuple[list[str], list[_Partition]]:
        """Discover if needed; returns the files and partitions to read, which a
        concurrent close() cannot take away from the read that holds them (none for a
        live source)."""
        with self._state_lock:
            super()._load_metadata()
            return self._files or [], self._partitions or []

    def _get_schema(self) -> Schema:
        from ._read import dtypes, is_stream, open_reader

        if self.is_live:
            reader = self._live_reader()
            dtype = dtypes(self.payload, self.columns)
            return Schema(
                dtype=dtype,
                shape=(None, len(dtype)),
                npartitions=1,
                extra_metadata={"interface": self.interface, "link_type": reader.link_type},
            )
        assert self.urlpath is not None  # not live
        files = _expand(self.urlpath, self.storage_options)
        # Opening the first file checks early that it is a capture, and names its format;
        # the others are opened only when read (on dask workers, for to_dask()). A pipe or
        # device is not: its bytes can be read only once, by the read itself.
        streams = [f for f in files if is_stream(f)]
        file_format = None
        if files[0] not in streams:
            # Without the flow columns, which only a read of every file gives.
            probe = _FileOptions(**{**self._file_options, "columns": None})
            first = open_reader(files[0], **probe)
            try:
                file_format = first.format
            finally:
                first.close()
        if self._whole:
            if "direction" in (self.columns or ()) and streams:
                raise ValueError(
                    f"direction reads the capture twice (a flow can turn after its first packets), and "
                    f"{streams[0]} can be read once: save it to a file first, or leave direction out"
                )
            # One traffic through one flow table, or the first nrows rows: the files whole, from
            # their start, as one partition (no walk of a large file to plan byte ranges).
            partitions: list[_Partition] = [(path, None, None, 0) for path in files]
            not_split: dict[str, str] = {}
        else:
            # DNS, TLS and HTTP follow each TCP connection from its file's start: files whole.
            blocksize = None if self._with_streams else self.blocksize
            partitions, not_split = _plan_partitions(files, blocksize, self.compression)
        self._files, self._partitions = files, partitions
        dtype = dtypes(self.payload, self.columns)
        return Schema(
            dtype=dtype,
            shape=(None, len(dtype)),
            npartitions=1 if self._whole else len(partitions),
            extra_metadata={
                "files": list(self._files),
                "format": file_format,
                "partitions": [{"path": p, "byte_range": r} for p, r, _, _ in partitions],
                "not_split": not_split,
                "streams": streams,
            },
        )

    def _get_partition(self, i: int) -> pd.DataFrame:
        _, partitions = self._load_metadata()
        if self.is_live:
            return self.read()
        if self._whole:
            if i != 0:
                raise IndexError(f"a source with flow columns or nrows= has one partition; asked for {i}")
            return self.read()
        path, byte_range, stamp, frames_before = partitions[i]
        return _read_partition(path, byte_range, stamp, frames_before, **self._whole_file_options)

    def read(self) -> pd.DataFrame:
        """All partitions as one DataFrame, in file order, with a fresh index. Live: the
        next ``chunksize`` IP packets (100 by default), waiting for them."""
        from ._read import to_pandas

        if self.is_live:
            return to_pandas(self.to_arrow(), text="auto")
        # A list that to_pandas empties as it goes: each file's Arrow memory is released as
        # soon as its rows are in pandas, rather than held until the end.
        return to_pandas(self._file_tables(text="auto"), text="auto")

    def read_chunked(self) -> Iterator[pd.DataFrame]:
        """DataFrames of at most ``chunksize`` rows (65536 by default), file after file.
        Live: one per ``chunksize`` packets or per ``timeout`` with what arrived (never
        empty), until ``close()``, ``limit`` or ``duration``."""
        import pyarrow as pa

        from ._read import to_pandas

        self._load_metadata()
        if self.is_live:
            yield from self._live_chunks()
            return
        for batch in self._arrow_batches():
            # Always categoricals: every chunk of a read has the same dtypes.
            yield to_pandas(pa.Table.from_batches([batch]))

    def _arrow_batches(self) -> Iterator[pa.RecordBatch]:
        """Record batches of at most ``chunksize`` rows, file after file, each file streamed
        (bounded memory whatever its size)."""
        import pyarrow as pa

        from ._read import open_reader, warn_incomplete

        rows = self.chunksize or 65536
        files, _ = self._load_metadata()
        left = self.nrows  # None: every row

        def readers() -> Iterator[tuple[Any, str]]:
            """Each reader with the name its warnings give, opened when its turn comes."""
            if self._with_flows:
                yield self._labeled_reader(files, rows), ", ".join(files)
                return
            for path in files:
                # With nrows, batches no larger than the rows still wanted: the read stops there.
                batch_rows = rows if left is None else min(rows, left)
                yield open_reader(path, batch_rows=batch_rows, row_match=self._row_match, **self._file_options), path

        for reader, name in readers():
            try:
                for batch in reader:
                    batch = pa.record_batch(batch)
                    if left is not None:
                        batch = batch.slice(0, left)
                        left -= batch.num_rows
                    yield batch
                    if left == 0:
                        return
                warn_incomplete(reader.stats(), name, self.errors)
            finally:
                reader.close()

    def _labeled_reader(self, files: list[str], rows: int) -> Any:
        """The packets of every file, in order, placed in their flows (``LabeledCaptureReader``)."""
        from ._native import LabeledCaptureReader
        from ._read import native_input

        return LabeledCaptureReader(
            [native_input(f, self.storage_options, self.compression) for f in files],
            names=list(files),
            idle_timeout=self.idle_timeout,
            active_timeout=self.active_timeout,
            protocol=self.protocol,
            payload=self.payload,
            errors=self.errors,
            filter=self.filter,
            columns=self.columns,
            decapsulate=self.decapsulate,
            start_ns=self._start_ns,
            end_ns=self._end_ns,
            batch_rows=rows,
            threads=self.threads or os.cpu_count() or 1,
        )

    def to_file(self, path: str | os.PathLike[str], format: OutputFormat | None = None) -> int:
        """Write every row to ``path``: Parquet (``.parquet``: zstd, hosts and protocol
        dictionary-encoded, row groups of 1M rows), Arrow IPC (``.arrow``), CSV (``.csv``) or
        JSON lines (``.jsonl``), by ``format`` or the file's extension. Streams file after
        file with bounded memory; the file appears only when complete. Returns the rows
        written. Live sources: use ``LiveStream.dump()`` (pcap) or ``read_chunked()``."""
        from ._read import arrow_schema

        out = local_output(path)
        files, _ = self._load_metadata()
        if self.is_live:
            raise ValueError("to_file() writes file sources; for a live capture use LiveStream.dump() or read_chunked()")
        return write_batches(out, arrow_schema(self.payload, self.columns), self._arrow_batches(), files, format)

    def to_pcap(
        self,
        path: str | os.PathLike[str],
        rows: Any = None,
        format: Literal["pcapng", "pcap"] | None = None,
    ) -> int:
        """Write the packets behind ``rows`` to ``path`` as a capture, as the files hold
        them: original bytes, times and interfaces (pcapng interface blocks with their
        names, link types and time resolutions), in capture order.

        ``rows``: a DataFrame with this source's ``frame`` column (from ``read()``: with
        several files, its index says which file each row is from, as ``read()`` numbers
        them), a Series, index or list of ``frame`` values (one file), or rows of this
        source's flow table (``open_pcap_flows``, same files: every packet of those flows).
        Without ``rows``: every packet the source's ``filter=`` and ``protocol=`` keep, IP or
        not (``filter=E`` then writes what ``tcpdump -r FILE -w OUT E`` writes).

        ``format``: ``"pcapng"`` (default; any name but ``.pcap``) or ``"pcap"`` (one link
        type; byte for byte when every file is classic pcap with one header). The file
        appears only when complete. Returns the packets written."""
        from ._native import extract_capture
        from ._read import is_local, is_stream, local_path

        files, _ = self._load_metadata()
        if self.is_live:
            raise ValueError("to_pcap() writes the packets of capture files; a live capture has LiveStream.dump()")
        if not all(is_local(f) for f in files):
            raise ValueError("to_pcap() reads local capture files: copy remote ones locally first")
        if any(is_stream(f) for f in files):
            raise ValueError("to_pcap() reads its files again: a named pipe or device can be read once only")
        if rows is None and self.nrows is not None:
            raise ValueError(
                "to_pcap() without rows writes every packet the selection keeps, IP or not, and nrows= "
                "counts rows: pass the rows, to_pcap(path, source.read())"
            )
        out = local_output(path)
        frames = None if rows is None else self._frames_of(rows, files)
        packets, _, damage = extract_capture(
            [local_path(f) for f in files], out, format=format, frames=frames,
            start_ns=self._start_ns if rows is None else None, end_ns=self._end_ns if rows is None else None,
            filter=self.filter if rows is None else None, protocol=self.protocol if rows is None else None,
            decapsulate=self.decapsulate, errors=self.errors,
        )
        if self.errors == "warn":
            from ._read import _warn

            for message in damage:
                _warn(f"{message}; every packet before it was written")
        return packets

    def _frames_of(self, rows: Any, files: list[str]) -> list[list[int]]:
        """``rows`` as one sorted list of packet numbers per file."""
        import numpy as np
        import pandas as pd

        if isinstance(rows, pd.DataFrame) and "frame" not in rows.columns:
            if "flow_id" in rows.columns:
                return self._frames_of_flows(rows["flow_id"], files)
            raise ValueError("to_pcap(rows): the rows have no frame column; read it with columns=[..., 'frame']")
        if isinstance(rows, pd.DataFrame):
            frames = rows["frame"].to_numpy(dtype="int64", na_value=0)
            labels = rows.index
        else:
            frames = np.asarray(rows.to_numpy() if hasattr(rows, "to_numpy") else list(rows), dtype="int64")
            labels = None
        if (frames < 1).any():
            raise ValueError("to_pcap(rows): frame values start at 1 (a file's first packet record)")
        if len(files) == 1:
            return [sorted(set(frames.tolist()))]
        if labels is None or not pd.api.types.is_integer_dtype(labels):
            raise ValueError(
                f"to_pcap(rows) with {len(files)} files needs the rows of this source's read(), "
                "whose index says which file each row is from: pass the DataFrame (not a frame list)"
            )
        # Rows of read(): positions in the concatenation of each file's rows. Checked
        # against the frames they carry, so rows from elsewhere are refused, not misread.
        every = self._with(columns=["frame"]).read()["frame"].to_numpy(dtype="int64")
        positions = labels.to_numpy(dtype="int64")
        if (positions < 0).any() or (positions >= len(every)).any() or (every[positions] != frames).any():
            raise ValueError(
                "to_pcap(rows): these rows are not this source's read() rows by their index (their "
                "frames differ): pass rows of this source's read(), keeping the index it gave"
            )
        return self._split_by_file(positions, frames, files)

    def _split_by_file(self, positions: Any, frames: Any, files: list[str]) -> list[list[int]]:
        """Frames at ``positions`` of this source's rows, as one sorted list per file."""
        import numpy as np

        counts = [len(self._with(urlpath=f, columns=["frame"]).read()) for f in files]
        which = np.searchsorted(np.cumsum(counts), positions, side="right")
        return [sorted(set(frames[which == i].tolist())) for i in range(len(files))]

    def _frames_of_flows(self, flow_ids: pd.Series, files: list[str]) -> list[list[int]]:
        """The packet numbers, per file, of every packet of the flows ``flow_ids`` (the flow
        table of these files with this source's timeouts)."""
        import numpy as np

        wanted = flow_ids.dropna().astype("int64").to_numpy()
        df = self._with(columns=["frame", "flow_id"]).read()
        hit = df.flow_id.isin(wanted).to_numpy(dtype=bool, na_value=False)
        positions = np.flatnonzero(hit)
        frames = df.frame.to_numpy(dtype="int64")[positions]
        if len(files) == 1:
            return [sorted(set(frames.tolist()))]
        return self._split_by_file(positions, frames, files)

    def _with(self, **changes: Any) -> PCAPSource:
        """This source with some arguments changed."""
        args = dict(
            urlpath=self.urlpath, protocol=self.protocol, payload=False, filter=self.filter,
            errors="ignore", compression=self.compression, storage_options=self.storage_options,
            threads=self.threads, blocksize=None, decapsulate=self.decapsulate,
            idle_timeout=self.idle_timeout, active_timeout=self.active_timeout, start=self.start, end=self.end,
        )
        args.update(changes)
        return PCAPSource(**args)

    def to_polars(self) -> polars.DataFrame:
        """All rows as a polars DataFrame, from the Arrow table without pandas."""
        from ._read import to_polars

        return to_polars(self.to_arrow())

    def to_dask(self) -> dask.dataframe.DataFrame:
        """A lazy dask DataFrame: one partition per file (or byte range of a large file),
        read on the workers. Its text columns (hosts, protocol, ...) are ``string[pyarrow]``
        where ``read()`` has categoricals: each partition would have its own categories,
        which dask's meta cannot know, and ``value_counts()``, ``groupby`` and ``merge`` then
        answer wrongly (``__UNKNOWN_CATEGORIES__``). ``.categorize()`` makes them
        categoricals again, with one pass over the data."""
        import dask.dataframe as dd

        from ._read import arrow_schema, to_pandas

        if self.is_live:
            raise ValueError("a live source has no files to distribute: use read() or read_chunked()")
        _, partitions = self._load_metadata()
        meta = to_pandas(arrow_schema(self.payload, self.columns).empty_table(), text="string")
        if self._whole:
            # One traffic through one flow table, or the first nrows rows: one partition.
            whole: dask.dataframe.DataFrame = dd.from_map(
                _read_whole, [self._rebuild()], meta=meta, enforce_metadata=False
            )
            return whole
        paths, ranges, stamps, frames_before = zip(*partitions)
        frame: dask.dataframe.DataFrame = dd.from_map(
            _read_partition,
            list(paths),
            list(ranges),
            list(stamps),
            list(frames_before),
            text="string",
            **self._whole_file_options,
            meta=meta,
            enforce_metadata=False,
        )
        return frame

    def _rebuild(self) -> dict[str, Any]:
        """The arguments that make this source again (on a dask worker)."""
        return dict(
            urlpath=self.urlpath,
            protocol=self.protocol,
            payload=self.payload,
            filter=self.filter,
            chunksize=self.chunksize,
            errors=self.errors,
            compression=self.compression,
            storage_options=self.storage_options,
            columns=self.columns,
            decapsulate=self.decapsulate,
            idle_timeout=self.idle_timeout,
            active_timeout=self.active_timeout,
            threads=self.threads,
            start=self.start,
            end=self.end,
            nrows=self.nrows,
        )

    def to_arrow(self) -> pa.Table:
        """All partitions as one pyarrow Table (hosts and protocol dictionary-encoded)."""
        import pyarrow as pa

        from ._read import live_rows

        self._load_metadata()
        if self.is_live:
            table = live_rows(self._live_reader(), self._live_quota(self.chunksize or 100))
            self._live_rows += table.num_rows
            return table
        return pa.concat_tables(self._file_tables())

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """The rows as an Arrow C stream (the Arrow PyCapsule interface), so that
        ``pa.table(source)``, ``pl.DataFrame(source)`` and ``duckdb.sql("select ... from
        source")`` read it without pandas. Files are streamed batch by batch, as
        ``read_chunked()`` reads them (memory stays bounded); a live source gives its next
        ``chunksize`` packets, as ``read()`` does."""
        import pyarrow as pa

        from ._read import arrow_schema

        if self.is_live:
            return self.to_arrow().__arrow_c_stream__(requested_schema)
        self._load_metadata()
        schema = arrow_schema(self.payload, self.columns)
        return pa.RecordBatchReader.from_batches(schema, self._arrow_batches()).__arrow_c_stream__(requested_schema)

    def _file_tables(self, text: Literal["category", "auto"] = "category") -> list[pa.Table]:
        """One pyarrow Table per file, in order (``text``: see ``read_file``)."""
        from ._read import read_file

        files, _ = self._load_metadata()
        if self._whole:
            import pyarrow as pa

            from ._read import arrow_schema

            schema = arrow_schema(self.payload, self.columns)
            return [pa.Table.from_batches(list(self._arrow_batches()), schema=schema)]
        return [read_file(p, text=text, **self._whole_file_options) for p in files]

    @property
    def plot(self) -> Any:
        """hvPlot of the whole DataFrame (needs hvplot: ``pip install hvplot``)."""
        try:
            import hvplot.pandas  # noqa: F401  (registers the .hvplot accessor)
        except ImportError as err:
            raise ImportError("PCAPSource.plot needs hvplot; install it with `pip install hvplot`") from err
        return self.read().hvplot

    def stats(self) -> dict[str, int]:
        """Live: libpcap's counters (``received``, ``dropped`` by the kernel, ``if_dropped``
        by the interface), packets ``captured`` and ``rows`` made so far."""
        if not self.is_live:
            raise TypeError("stats() is for live sources; a file source reads what the file holds")
        return self._live_reader().stats()

    # -- live capture --------------------------------------------------------------------

    def _live_reader(self) -> LiveReader:
        if self._live is None:
            from ._native import LiveReader

            assert self.interface is not None  # is_live sources are made with one
            self._live = LiveReader(
                self.interface,
                protocol=self.protocol,
                payload=self.payload,
                filter=self.filter,
                columns=self.columns,
                decapsulate=self.decapsulate,
                start_ns=self._start_ns,
                end_ns=self._end_ns,
                snaplen=self.max_packet,
                promisc=self.promisc,
                timeout_ms=self.timeout,
            )
        return self._live

    def _live_quota(self, rows: int) -> int:
        """``rows``, cut to what ``limit`` still allows."""
        if self.limit is None:
            return rows
        return max(0, min(rows, int(self.limit) - self._live_rows))

    def _live_chunks(self) -> Iterator[pd.DataFrame]:
        import time

        import pyarrow as pa

        from ._read import to_pandas

        reader = self._live_reader()
        end = None if self.duration is None else time.monotonic() + float(self.duration)
        while True:
            rows = self._live_quota(self.chunksize or 100)
            if rows == 0 or (end is not None and time.monotonic() >= end):
                return
            timeout = self.timeout
            if end is not None:
                timeout = max(1, min(timeout, int((end - time.monotonic()) * 1000)))
            batch = reader.read_batch(rows, timeout)
            if batch is not None:
                self._live_rows += batch.num_rows
                yield to_pandas(pa.Table.from_batches([pa.record_batch(batch)]))
            elif reader.finished:
                return

    def _close(self) -> None:
        with self._state_lock:
            live, self._live = self._live, None
            self._files = None
            self._partitions = None
            self._schema = None
        if live is not None:
            live.close()  # a read waiting on it in another thread ends with what it has


@functools.cache
def _init_defaults() -> dict[str, Any]:
    """``PCAPSource.__init__``'s arguments that have defaults, with them."""
    parameters = inspect.signature(PCAPSource.__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def check_selection(errors: Any, protocol: str | None, filter: str | None, compression: Compression) -> None:
    """Check the options that choose packets and read files (``errors=``, ``protocol=``,
    ``filter=``, ``compression=``) before any file is opened; ValueError names the valid values."""
    if errors not in _ERRORS:
        raise ValueError(f"errors={errors!r} is not one of {_ERRORS}")
    if protocol is not None:
        from ._native import check_protocol

        check_protocol(str(protocol))
    if filter is not None:
        from ._native import check_filter

        check_filter(filter)
    from ._read import codec_for

    codec_for("", compression)  # validates the name


def time_range_ns(start: Any, end: Any) -> tuple[int | None, int | None]:
    """``start=``/``end=`` in nanoseconds since 1970, checked."""
    from ._read import time_ns

    start_ns, end_ns = time_ns("start", start), time_ns("end", end)
    if start_ns is not None and end_ns is not None and end_ns < start_ns:
        raise ValueError(f"end={end!r} is before start={start!r}: the range is start <= time < end")
    return start_ns, end_ns


def local_output(path: str | os.PathLike[str]) -> str:
    """``to_file()``'s path as a local path; a URL is refused."""
    from ._read import is_local, local_path

    if not is_local(os.fspath(path)):
        raise ValueError(f"to_file() writes local files; {os.fspath(path)!r} is a URL (write locally, then copy)")
    return local_path(path)


def pandas_metadata(schema: pa.Schema) -> dict[bytes, bytes]:
    """The ``pandas`` schema metadata of the frame a read of ``schema`` gives (``to_pandas``)."""
    import pyarrow as pa

    from ._read import to_pandas

    frame = to_pandas(schema.empty_table())
    return dict(pa.Schema.from_pandas(frame, preserve_index=False).metadata or {})


def write_batches(
    path: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch], files: list[str], format: OutputFormat | None
) -> int:
    """Stream ``batches`` into the file at ``path`` (``to_file()`` of both sources); the
    ``files`` read are refused as the output. An exception while reading (Ctrl-C, a damaged
    file) reaches ``write_table`` as an Arrow stream error: it is kept and raised as it was
    rather than as its text."""
    import pyarrow as pa

    from ._native import write_table
    from ._read import is_local, local_path

    failed: list[BaseException] = []

    def guarded() -> Iterator[pa.RecordBatch]:
        try:
            yield from batches
        except BaseException as err:
            failed.append(err)
            raise

    try:
        inputs = [local_path(f) for f in files if is_local(f)]
        # pandas' description of read()'s frame (nullable ports, nanosecond times, ...), so that
        # pd.read_parquet gives back read()'s dtypes; other formats keep no schema metadata.
        schema = schema.with_metadata(pandas_metadata(schema))
        stream = pa.RecordBatchReader.from_batches(schema, guarded())
        return int(write_table(stream, os.fspath(path), format=format, inputs=inputs))
    except Exception:
        if failed:
            raise failed[0] from None
        raise


def _positive_int_or_none(name: str, value: Any) -> int | None:
    """``value`` as a whole number of at least 1, or None; anything else is the caller's mistake."""
    return None if value is None else _positive_int(name, value, ", or None")


def _positive_int(name: str, value: Any, alternative: str = "") -> int:
    """``value`` as a whole number of at least 1 (not a float, a bool or a numeric string)."""
    try:
        number = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = None
    if number is None or number < 1:
        raise ValueError(f"{name}= must be a whole number of at least 1{alternative}; got {value!r}")
    return number


def _positive_number_or_none(name: str, value: Any) -> float | None:
    """``value`` as a number (seconds) greater than 0, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
        raise ValueError(f"{name}= must be a number of seconds greater than 0, or None; got {value!r}")
    return value


def _read_partition(
    path: str,
    byte_range: tuple[int, int] | None = None,
    stamp: tuple[int, int, int] | None = None,
    frames_before: int = 0,
    text: Literal["category", "string"] = "category",
    **options: Unpack[_WholeFileOptions],
) -> pd.DataFrame:
    """One partition (a file, or a byte range of one) as a DataFrame, its text columns as
    ``text`` (``to_dask()``'s are strings); module-level so that dask can pickle it to
    workers."""
    from ._read import read_file, to_pandas

    table = read_file(path, byte_range=byte_range, stamp=stamp, frames_before=frames_before, **options)
    return to_pandas(table, text=text)


def _read_whole(options: dict[str, Any]) -> pd.DataFrame:
    """A source read as one partition (flow columns, nrows) on a dask worker; module-level
    so that dask can pickle it."""
    from ._read import to_pandas

    return to_pandas(PCAPSource(**options).to_arrow(), text="string")


def _plan_partitions(
    files: list[str], blocksize: int | None, compression: Compression
) -> tuple[list[_Partition], dict[str, str]]:
    """(path, byte range or None, file stamp or None) for each partition, and why big files
    were not split. Sizes come from the file system; each local file larger than
    ``blocksize`` is walked record by record once (about the speed of ``cat``; kept per
    process while the file is unchanged), so that every range starts on a true record
    boundary: no guess that payload bytes could fool. Workers check the stamp and refuse
    a file that changed since."""
    from ._native import plan_partitions
    from ._read import codec_for, is_local, is_stream, local_path

    partitions: list[_Partition] = []
    not_split: dict[str, str] = {}
    for path in files:
        # A pipe or device is read once, whole: never walked ahead of the read.
        size = os.path.getsize(local_path(path)) if is_local(path) and not is_stream(path) else None
        if not blocksize or size is None or size <= blocksize:
            partitions.append((path, None, None, 0))
            continue
        if codec_for(path, compression) is not None:
            not_split[path] = "compressed: a byte range cannot be decompressed on its own"
            partitions.append((path, None, None, 0))
            continue
        stamp, ranges, reason = plan_partitions(local_path(path), int(blocksize))
        if ranges is None:
            assert reason is not None  # the module gives a reason whenever it gives no ranges
            not_split[path] = reason
            partitions.append((path, None, None, 0))
        else:
            partitions.extend((path, (start, end), stamp, before) for start, end, before in ranges)
    return partitions, not_split


# File names taken from a directory: captures, compressed or not.
_CAPTURE_NAME = re.compile(r"\.(pcap|pcapng|cap|dmp|trace)\d*(\.(gz|bz2|xz|zst|lz4))?$", re.IGNORECASE)


def _expand(
    urlpath: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], storage_options: Mapping[str, Any] | None = None
) -> list[str]:
    """Paths, URLs, globs and directories (or a list of them) into the list of files to
    read, each pattern's matches sorted; a pattern that matches nothing is an error naming it.
    A directory gives the capture files in it (by name: .pcap, .pcapng, .cap, ...)."""
    patterns = [urlpath] if isinstance(urlpath, (str, os.PathLike)) else list(urlpath)
    files: list[str] = []
    for pattern in patterns:
        pattern = os.fspath(pattern)
        found = _expand_local(pattern) if "://" not in pattern else _expand_remote(pattern, storage_options)
        files.extend(found)
    if not files:
        raise FileNotFoundError("urlpath names no capture files")
    return files


def _expand_local(pattern: str) -> list[str]:
    pattern = os.path.expanduser(pattern)
    # A name that exists is that file, even with glob characters in it ("cap[1].pcap").
    if glob.has_magic(pattern) and not os.path.exists(pattern):
        matches = _without_empty(sorted(glob.glob(pattern)))
        if not matches:
            raise FileNotFoundError(f"no capture files match {pattern!r} (empty files are skipped)")
        return matches
    if os.path.isdir(pattern):
        names = sorted(
            n for n in os.listdir(pattern) if _CAPTURE_NAME.search(n) and os.path.isfile(os.path.join(pattern, n))
        )
        paths = _without_empty([os.path.join(pattern, n) for n in names])
        if not paths:
            raise FileNotFoundError(
                f"no capture files (.pcap, .pcapng, ...) in the directory {pattern!r} (empty files are skipped)"
            )
        return paths
    if not os.path.exists(pattern):
        raise FileNotFoundError(f"capture file not found: {pattern!r}")
    return [pattern]


def _without_empty(paths: list[str]) -> list[str]:
    """``paths`` less the regular files of 0 bytes, each with a warning: a directory or a
    glob often holds a capture being started (tcpdump's next rotated file) beside the
    finished ones. A file named alone is read, so that its emptiness is an error."""
    from ._read import _warn

    kept = []
    for path in paths:
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            _warn(f"{path}: an empty file (no capture header yet), skipped")
        else:
            kept.append(path)
    return kept


def _expand_remote(url: str, storage_options: Mapping[str, Any] | None) -> list[str]:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    if glob.has_magic(path) and not fs.exists(path):
        paths = sorted(fs.glob(path))
    elif fs.isdir(path):
        paths = sorted(e["name"] for e in fs.ls(path, detail=True) if e["type"] == "file" and _CAPTURE_NAME.search(e["name"]))
    else:
        if not fs.exists(path):
            raise FileNotFoundError(f"capture file not found: {url!r}")
        return [url]
    if not paths:
        raise FileNotFoundError(f"no capture files match {url!r}")
    return [fs.unstrip_protocol(p) for p in paths]
