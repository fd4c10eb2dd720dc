"""Packet streams, as the old plugin's documentation names them: a source of packets that
``to_dataframe`` turns into rows, ``n`` at a time or all at once."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from . import _native
from ._types import Compression, Errors

if TYPE_CHECKING:
    import pandas as pd
    import polars
    import pyarrow as pa

__all__ = ["PacketStream", "OfflineStream", "LiveStream"]


class PacketStream:
    """Rows from a packet reader.

    Parameters
    ----------
    reader : intake_pcap._native.CaptureReader or intake_pcap._native.LiveReader
        Where packets come from; the stream keeps reading it where it stopped.
    protocol : str or None
        Keep only packets whose IP header chain contains this protocol.
    payload : bool
        Include the ``payload`` column.
    errors : {"warn", "raise", "ignore"}
        Whether a capture cut short is reported as a warning (the reader raises for "raise").
    columns : list of str, optional
        The columns the reader was opened with (``None``: the documented six).
    decapsulate : bool
        Whether the reader was opened with ``decapsulate=True`` (rows describe the
        innermost IP packet reached through tunnels).
    """

    def __init__(
        self,
        reader: _native.CaptureReader | _native.LiveReader,
        protocol: str | None,
        payload: bool,
        errors: Errors = "warn",
        columns: str | Iterable[str] | None = None,
        *,
        decapsulate: bool = False,
    ) -> None:
        from ._read import column_list

        self._reader = reader
        self._closed = False
        self._payload = bool(payload)
        self._errors = errors
        self._columns = column_list(columns)
        self._decapsulate = bool(decapsulate)
        self.set_filter(protocol)

    @property
    def dtype(self) -> dict[str, str]:
        """Column name to pandas dtype name, in column order."""
        from ._read import dtypes

        return dtypes(self._payload, self._columns)

    def set_filter(self, protocol: str | None) -> None:
        """Filters all IP traffic except packets matching given protocol.

        Parameters
        ----------
        protocol : str
            Show only traffic for given IP protocol: icmp, icmp6, igmp, igrp, pim, ah, esp,
            vrrp, udp, tcp, or any other name of the ``protocol`` column. If None, all
            traffic is shown.
        """
        # The native reader checks the name (ValueError listing the valid ones).
        self._reader.set_protocol(None if protocol is None else str(protocol))

    def to_dataframe(self, n: int | None = -1) -> pd.DataFrame:
        """The next ``n`` IP packets as a DataFrame (all that remain when ``n < 0``)."""
        from ._read import to_pandas

        return to_pandas(self._take(n), text="auto")

    def to_arrow(self, n: int | None = -1) -> pa.Table:
        """The next ``n`` IP packets as a pyarrow Table (hosts and protocol
        dictionary-encoded; the buffers come from Rust without a copy)."""
        return self._take(n)

    def to_polars(self, n: int | None = -1) -> polars.DataFrame:
        """The next ``n`` IP packets as a polars DataFrame, straight from Arrow (no pandas)."""
        from ._read import to_polars

        return to_polars(self.to_arrow(n))

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """``to_arrow()``'s rows as an Arrow C stream (the Arrow PyCapsule interface):
        ``pa.table(stream)``, ``pl.DataFrame(stream)`` and DuckDB read the packets that
        remain (live: what arrives within one ``timeout``) without pandas."""
        return self.to_arrow().__arrow_c_stream__(requested_schema)

    def _take(self, n: int | None) -> pa.Table:
        """``_next_table`` for a count as the user gave it, refusing a closed stream: a
        closed reader reads as empty, which must not pass for the end of the capture."""
        if n is not None and (isinstance(n, bool) or not isinstance(n, int)):
            raise ValueError(f"n must be a whole number of rows (negative or None: all that remain); got {n!r}")
        self._check_open()
        table = self._next_table(None if n is None or n < 0 else n)
        self._check_open()  # closed from another thread while reading: the rows may be short
        return table

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"the stream of {self._reader_name()} was closed; open a new one to read again")

    def _reader_name(self) -> str:
        return str(getattr(self._reader, "path", None) or getattr(self._reader, "interface", "the capture"))

    def _next_table(self, n: int | None) -> pa.Table:
        from ._read import read_table, warn_incomplete

        reader = cast(_native.CaptureReader, self._reader)  # a file's: LiveStream reads its own way
        table = read_table(reader, n)
        warn_incomplete(reader.stats(), reader.path, self._errors)
        return table

    def close(self) -> None:
        """Release the file or the interface. A read running in another thread stops and
        raises ``ValueError`` (its rows may be incomplete); later reads raise too."""
        self._closed = True
        self._reader.close()


class OfflineStream(PacketStream):
    """Packets from a capture file (pcap or pcapng, gzip-compressed or not).

    Parameters
    ----------
    path : str
        Path of the capture file.
    protocol : str, optional
        Keep only packets of this protocol (see :meth:`PacketStream.set_filter`).
    payload : bool
        Include the ``payload`` column.
    errors : {"warn", "raise", "ignore"}
        What to do when the file ends inside a record.
    filter : str, optional
        A tcpdump filter expression, compiled by libpcap; both it and ``protocol`` must hold.
    compression, storage_options
        As for :class:`intake_pcap.source.PCAPSource` (``path`` may be any fsspec URL).
    columns : list of str, optional
        The columns, in this order (default: the documented six); only these are decoded.
        ``payload=True`` appends ``payload`` when the list does not name it.
    decapsulate : bool
        Rows describe the innermost IP packet reached through tunnels (VXLAN, GRE, ...);
        ``protocol`` follows it, ``filter`` keeps its meaning on the outer headers.
    start, end : datetime, pandas Timestamp, ISO 8601 text or epoch seconds, optional
        Only packets with ``start <= time < end``, as ``open_pcap``'s.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        protocol: str | None = None,
        payload: bool = False,
        errors: Errors = "warn",
        filter: str | None = None,
        compression: Compression = "infer",
        storage_options: Mapping[str, Any] | None = None,
        columns: str | Iterable[str] | None = None,
        *,
        decapsulate: bool = False,
        start: Any = None,
        end: Any = None,
    ) -> None:
        from ._read import open_reader
        from .source import time_range_ns

        start_ns, end_ns = time_range_ns(start, end)

        # protocol= is applied by set_filter() (which checks the name), not when opening.
        reader = open_reader(
            path,
            payload=payload,
            errors=errors,
            filter=filter,
            storage_options=storage_options,
            compression=compression,
            columns=columns,
            decapsulate=decapsulate,
            start_ns=start_ns,
            end_ns=end_ns,
        )
        super().__init__(reader, protocol, payload, errors=errors, columns=columns, decapsulate=decapsulate)


class LiveStream(PacketStream):
    """Packets from a network interface, captured by libpcap in a background thread.

    Capture starts here and runs until :meth:`close`; packets that arrive between reads wait
    in a bounded queue. Needs root or the CAP_NET_RAW capability.

    Parameters
    ----------
    interface : str
        Network interface from which to capture packets (``lo``, ``eth0``, ``any``, ...).
    protocol : str, optional
        Keep only packets of this protocol.
    payload : bool
        Include the ``payload`` column.
    max_packet : int
        Snap length: the most bytes kept of each packet.
    timeout : int
        Read timeout in milliseconds: ``to_dataframe()`` with no count returns what
        arrived within it.
    promisc : bool
        Put the interface in promiscuous mode.
    filter : str, optional
        A tcpdump filter expression, run in the kernel.
    columns : list of str, optional
        The columns, in this order (default: the documented six); ``interface`` holds the
        interface's name.
    decapsulate : bool
        Rows describe the innermost IP packet reached through tunnels, as for
        :class:`OfflineStream`.
    """

    _reader: _native.LiveReader

    def __init__(
        self,
        interface: str,
        protocol: str | None = None,
        payload: bool = False,
        max_packet: int = 65536,
        timeout: int = 1000,
        promisc: bool = True,
        filter: str | None = None,
        columns: str | Iterable[str] | None = None,
        *,
        decapsulate: bool = False,
    ) -> None:
        from ._read import column_list
        from .source import _positive_int

        max_packet = _positive_int("max_packet", max_packet)
        timeout = _positive_int("timeout", timeout)
        # protocol= is applied by set_filter(), as for files.
        reader = _native.LiveReader(
            interface,
            payload=payload,
            filter=filter,
            columns=column_list(columns),
            decapsulate=bool(decapsulate),
            snaplen=max_packet,
            promisc=bool(promisc),
            timeout_ms=timeout,
        )
        self._timeout = timeout
        super().__init__(reader, protocol, payload, columns=columns, decapsulate=decapsulate)

    def to_dataframe(self, n: int | None = -1) -> pd.DataFrame:
        """The next ``n`` IP packets, waiting for them; with ``n < 0``, what arrives within
        one ``timeout`` (waiting on until at least one packet has come)."""
        return super().to_dataframe(n)

    def _next_table(self, n: int | None) -> pa.Table:
        from ._read import arrow_schema, live_chunk, live_rows

        if n is not None:
            return live_rows(self._reader, n)
        table = live_chunk(self._reader, 1 << 20, self._timeout)
        return table if table is not None else arrow_schema(self._payload, self._columns).empty_table()

    def stats(self) -> dict[str, int]:
        """libpcap's counters (``received``, ``dropped``, ``if_dropped``), packets
        ``captured`` and ``rows`` made so far."""
        return self._reader.stats()

    def dump(self, path: str | os.PathLike[str], limit: int) -> int:
        """Write the next ``limit`` captured packets (all that pass ``filter``, IP or not) to a
        pcap file; returns how many were written."""
        return self._reader.dump(str(path), int(limit))
