"""The Intake driver: ``intake.open_pcap(urlpath, ...)`` and catalog entries with
``driver: pcap``."""

from __future__ import annotations

import glob
import os

from intake.source.base import DataSource, Schema

__all__ = ["PCAPSource"]

_ERRORS = ("raise", "warn", "ignore")


class PCAPSource(DataSource):
    """Packet captures as a DataFrame: one row per IP packet.

    Parameters
    ----------
    urlpath : str, list of str, or None
        A capture file, a glob of them (one partition per file, in sorted order), or a
        list of paths. pcap and pcapng, gzip-compressed or not. ``None`` with
        ``interface=`` reads a live interface.
    protocol : str, optional
        Keep only packets whose IP header chain contains this protocol: ``tcp``, ``udp``,
        ``icmp``, ``icmp6``, ``igmp``, ``igrp``, ``pim``, ``ah``, ``esp``, ``vrrp``, any
        other name the ``protocol`` column uses, or a protocol number.
    payload : bool
        Add a ``payload`` column: the bytes after the transport header.
    chunksize : int, optional
        Rows per DataFrame from ``read_chunked()`` (default 65536); for a live
        interface, packets per read.
    errors : {"warn", "raise", "ignore"}
        A file that ends inside a record (a capture killed while writing): keep every
        complete packet and warn (default), raise, or keep them silently.
    interface : str, optional
        Network interface for live capture (``urlpath=None``).
    metadata : dict, optional
        Intake metadata.
    """

    name = "pcap"
    container = "dataframe"
    partition_access = True

    def __init__(
        self,
        urlpath,
        protocol=None,
        payload=False,
        chunksize=None,
        errors="warn",
        interface=None,
        metadata=None,
        **kwargs,
    ):
        if kwargs:
            raise TypeError(
                f"PCAPSource got unexpected argument(s) {sorted(kwargs)}; it takes urlpath, "
                "protocol, payload, chunksize, errors, interface and metadata"
            )
        if errors not in _ERRORS:
            raise ValueError(f"errors={errors!r} is not one of {_ERRORS}")
        if urlpath is None and interface is None:
            raise ValueError("give a capture file (urlpath) or a network interface (interface=)")
        if protocol is not None:
            from .stream import check_protocol

            check_protocol(protocol)
        self.urlpath = urlpath
        self.protocol = protocol
        self.payload = bool(payload)
        self.chunksize = chunksize
        self.errors = errors
        self.interface = interface
        self._files = None
        super().__init__(metadata=metadata)

    # -- Intake's protocol -------------------------------------------------------------

    def _get_schema(self):
        if self.urlpath is None:
            from .stream import live_capture_unavailable

            live_capture_unavailable(self.interface)
        from ._read import dtypes, open_reader

        self._files = _expand(self.urlpath)
        # Opening the first file checks early that it is a capture, and names its format.
        first = open_reader(self._files[0], errors=self.errors)
        try:
            file_format = first.format
        finally:
            first.close()
        dtype = dtypes(self.payload)
        return Schema(
            dtype=dtype,
            shape=(None, len(dtype)),
            npartitions=len(self._files),
            extra_metadata={"files": list(self._files), "format": file_format},
        )

    def _get_partition(self, i):
        self._load_metadata()
        return _read_partition(self._files[i], self.protocol, self.payload, self.errors)

    def read(self):
        """All partitions as one DataFrame, in file order, with a fresh index."""
        from ._read import to_pandas

        return to_pandas(self.to_arrow())

    def read_chunked(self):
        """DataFrames of at most ``chunksize`` rows (65536 by default), file after file."""
        import pyarrow as pa

        from ._read import open_reader, to_pandas, warn_incomplete

        self._load_metadata()
        rows = self.chunksize or 65536
        for path in self._files:
            reader = open_reader(path, self.protocol, self.payload, self.errors, rows)
            try:
                for batch in reader:
                    yield to_pandas(pa.Table.from_batches([pa.record_batch(batch)]))
                warn_incomplete(reader, self.errors)
            finally:
                reader.close()

    def to_dask(self):
        """A lazy dask DataFrame: one partition per file, read on the workers."""
        import dask.dataframe as dd
        from dask.dataframe.utils import clear_known_categories

        from ._read import empty_frame

        self._load_metadata()
        meta = clear_known_categories(empty_frame(self.payload))
        return dd.from_map(
            _read_partition,
            list(self._files),
            protocol=self.protocol,
            payload=self.payload,
            errors=self.errors,
            meta=meta,
            enforce_metadata=False,
        )

    def to_arrow(self):
        """All partitions as one pyarrow Table (hosts and protocol dictionary-encoded)."""
        import pyarrow as pa

        from ._read import read_file

        self._load_metadata()
        return pa.concat_tables([read_file(p, self.protocol, self.payload, self.errors) for p in self._files])

    @property
    def plot(self):
        """hvPlot of the whole DataFrame (needs hvplot: ``pip install hvplot``)."""
        try:
            import hvplot.pandas  # noqa: F401  (registers the .hvplot accessor)
        except ImportError as err:
            raise ImportError("PCAPSource.plot needs hvplot; install it with `pip install hvplot`") from err
        return self.read().hvplot

    def _close(self):
        self._files = None
        self._schema = None


def _read_partition(path, protocol=None, payload=False, errors="warn"):
    """One file as a DataFrame; module-level so that dask can pickle it to workers."""
    from ._read import read_file, to_pandas

    return to_pandas(read_file(path, protocol, payload, errors))


def _expand(urlpath) -> list[str]:
    """Paths, globs or lists of them into a sorted list of files; a pattern that matches
    nothing is an error naming it."""
    patterns = [urlpath] if isinstance(urlpath, (str, os.PathLike)) else list(urlpath)
    files: list[str] = []
    for pattern in patterns:
        pattern = os.path.expanduser(os.fspath(pattern))
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise FileNotFoundError(f"no capture files match {pattern!r}")
            files.extend(matches)
        else:
            if not os.path.exists(pattern):
                raise FileNotFoundError(f"capture file not found: {pattern!r}")
            files.append(pattern)
    if not files:
        raise FileNotFoundError("urlpath names no capture files")
    return files
