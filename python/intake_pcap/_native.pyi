"""The Rust reader as Python objects (the PyO3 module of ``crates/intake-pcap-python``).

Readers take their read options by keyword only: ``protocol=``, ``payload=``,
``errors=``, ``filter=``, ``columns=``, ``decapsulate=``, then their own. Batches leave through the Arrow
PyCapsule interface, so ``pyarrow.record_batch(batch)`` takes the buffers without a copy.
A bug in the Rust code raises ``CaptureError``, never crashes the interpreter.

``tests/test_typing.py`` runs ``mypy.stubtest`` to hold this stub to the module.
"""

from collections.abc import Callable, Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import Final, Literal, Protocol, Self, TypedDict, final, type_check_only

# The values errors= (what a capture cut short or damaged does) and write_table's format=
# accept: the public API's own Literal types.
from ._types import Errors as _Errors
from ._types import OutputFormat as _OutputFormat

__all__ = [
    "TEXT_AFTER_DISTINCT_HOSTS",
    "CaptureError",
    "NotACaptureError",
    "TruncatedCaptureError",
    "CorruptCaptureError",
    "pcapframe_main",
    "ArrowBatch",
    "ArrowSchema",
    "CaptureReader",
    "FlowTableReader",
    "LabeledCaptureReader",
    "ObservedPartition",
    "LiveReader",
    "read_capture",
    "plan_partitions",
    "observe_partition",
    "shard_flows",
    "capture_schema",
    "flow_table_schema",
    "column_names",
    "column_docs",
    "flow_column_docs",
    "stream_column_names",
    "protocol_names",
    "check_filter",
    "check_protocol",
    "write_table",
    "extract_capture",
    "packet_at",
    "decode_packet",
]

# hosts= of read_capture: how the src_host/dst_host columns are built.
_Hosts = Literal["dictionary", "text_when_distinct"]
_Path = str | PathLike[str]

@type_check_only
class _BinaryReader(Protocol):
    """A binary file object: ``read1(n)`` is used when it has one, else ``read(n)``; both
    return at most ``n`` bytes, ``b""`` at the end."""

    def read(self, n: int, /) -> bytes: ...

@type_check_only
class _ArrowStreamExportable(Protocol):
    """Anything with the Arrow PyCapsule stream interface: a pyarrow Table or
    RecordBatchReader, a polars DataFrame, ..."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...

@type_check_only
class _ReadStats(TypedDict, total=False):
    """What a read of a file saw (empty once its reader is closed)."""

    packets: int
    """Packet records read."""
    rows: int
    """Rows produced."""
    not_ip: int
    """Packets that are not IP (ARP, STP, ...) or whose IP header was not captured."""
    filtered: int
    """Packets dropped by ``protocol=`` or ``filter=``."""
    outside_time_range: int
    """Packets outside the read's ``start``/``end``."""
    unsupported_link_types: dict[int, int]
    """Packets skipped because their link type is not decoded, by LINKTYPE value."""
    truncated: str | None
    """Where and how the file was cut short or damaged (``errors`` other than "raise")."""

@type_check_only
class _PacketFields(TypedDict, total=False):
    """One frame decoded by ``decode_packet``; the IP keys (all but the first three) are
    absent without IP."""

    source_mac_address: str | None
    destination_mac_address: str | None
    ethernet_protocol: int | None
    ip_version: int
    source_ip_address: str
    destination_ip_address: str
    source_ip_port: int | None
    destination_ip_port: int | None
    ip_protocol: str
    payload_offset: int
    payload_end: int
    tunnel: str | None
    """The tunnels crossed, outermost first, joined by ``/`` (``vxlan``, ``gre/erspan``);
    ``None`` when there is none."""
    tunnel_id: int | None
    """The innermost tunnel's identifier (VXLAN/Geneve VNI, GRE key, GTP-U TEID, ...)."""
    outer_source_ip_address: str
    """Source address of the outermost IP header."""
    outer_destination_ip_address: str
    """Destination address of the outermost IP header."""

TEXT_AFTER_DISTINCT_HOSTS: Final[int]
"""Distinct addresses (source and destination together) above which ``read()`` gives the
host columns as strings rather than categoricals: 65,536."""

class CaptureError(Exception):
    """A capture file could not be read."""

class NotACaptureError(CaptureError):
    """The file is not a pcap or pcapng capture."""

class TruncatedCaptureError(CaptureError):
    """The capture ends inside a record."""

class CorruptCaptureError(CaptureError):
    """The capture holds an impossible length or field."""

@final
class ArrowSchema:
    """An Arrow schema, readable by ``pyarrow.schema(obj)``."""

    def __arrow_c_schema__(self) -> object:
        """The schema as an ``arrow_schema`` PyCapsule."""

@final
class ArrowBatch:
    """One record batch, readable by ``pyarrow.record_batch(obj)`` without copying."""

    @property
    def num_rows(self) -> int:
        """Rows in the batch."""

    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[object, object]:
        """The batch as ``arrow_schema`` and ``arrow_array`` PyCapsules; always in its own
        schema (pyarrow casts afterwards when it asked for another)."""

@final
class CaptureReader:
    """Reads one capture file into Arrow batches: ``for batch in CaptureReader(path): ...``."""

    def __new__(
        cls,
        source: _Path | _BinaryReader,
        *,
        protocol: str | None = None,
        payload: bool = False,
        errors: _Errors = "warn",
        filter: str | None = None,
        columns: Sequence[str] | None = None,
        decapsulate: bool = False,
        start_ns: int | None = None,
        end_ns: int | None = None,
        batch_rows: int = 65536,
        name: _Path | None = None,
        row_match: Sequence[Sequence[tuple[str, Sequence[str]]]] | None = None,
    ) -> Self:
        """Open ``source``: a local path (plain or gzip, recognised by content), or a binary
        file object (what ``fsspec.open`` gives). ``name`` names it in messages (a URL, say).

        ``row_match``: rows kept by their ports and addresses, ``[[(column, [value, ...]),
        ...], ...]``: every inner list must have a term whose column (``src_port``,
        ``dst_port``, ``src_host``, ``dst_host``) equals one of its values, written as the
        column writes them (a port's digits, an address's text); ``scan_pcap`` hands its
        predicates down this way.

        ``protocol``: keep packets whose IP header chain holds it (a name of
        ``protocol_names()`` or a number 0-255 as text). ``payload``: add the payload column.
        ``filter``: a tcpdump expression, compiled by libpcap. ``columns``: the columns in
        order (``None``: the documented six; a single ``str`` is refused). ``decapsulate``:
        rows describe the innermost IP packet reached through tunnels (VXLAN, GRE, Geneve,
        GTP-U, ...), and ``protocol`` follows it; ``filter`` still sees the outer headers.
        ``batch_rows``: rows per batch. Raises ``ValueError`` for a bad option (naming the valid values),
        ``FileNotFoundError``, ``NotACaptureError``, ...
        """

    @property
    def schema(self) -> ArrowSchema:
        """The schema of every batch."""

    @property
    def path(self) -> Path:
        """The file's path, or the ``name`` given."""

    @property
    def format(self) -> str:
        """The file's format: ``pcap (microseconds)``, ``pcap (nanoseconds)``, ``pcapng``, ..."""

    def __iter__(self) -> Self: ...
    def __next__(self) -> ArrowBatch: ...
    def read_batch(self, max_rows: int | None = None) -> ArrowBatch | None:
        """The next batch of at most ``max_rows`` rows (the reader's batch size by default);
        ``None`` at the end of the file. Ctrl-C raises KeyboardInterrupt and leaves the reader
        refusing to go on (the batch's rows are lost)."""

    def set_protocol(self, protocol: str | None = None) -> None:
        """Keep only packets whose IP header chain holds ``protocol`` (a name or number),
        from the next batch on; ``None`` keeps every IP packet."""

    def stats(self) -> _ReadStats:
        """What the read has seen so far: packets, rows, skipped packets, truncation."""

    def close(self) -> None:
        """Release the file now rather than when the object is collected."""

@final
class FlowTableReader:
    """The flow table of captures read as one traffic, flows in batches as they end:
    ``for batch in FlowTableReader([path]): ...``."""

    def __new__(
        cls,
        sources: Sequence[_Path | Callable[[], _BinaryReader]],
        *,
        names: Sequence[_Path | None] | None = None,
        idle_timeout: float | None = ...,
        active_timeout: float | None = ...,
        protocol: str | None = None,
        errors: _Errors = "warn",
        filter: str | None = None,
        decapsulate: bool = False,
        start_ns: int | None = None,
        end_ns: int | None = None,
        batch_rows: int = 65536,
        threads: int = 1,
        verify_checksums: bool = False,
        columns: Sequence[str] | None = None,
        in_id_order: int = 0,
    ) -> Self:
        """``sources`` in time order: local paths, or callables that open a binary file object
        when the source's turn comes; ``names`` name them in messages. Timeouts in seconds of
        capture time (``None``: off; defaults 120 and 1800). ``threads``: the flow table on
        one, each local file decoded beside it on the others (the same flows whatever the
        count). ``verify_checksums``: as Zeek without ``-C``. ``columns``: the flow columns,
        in order (``None``: all but the application ones, which read each flow's messages).
        ``in_id_order``: when the read has at most this many flows, they are held to the
        end and come out ordered by ``flow_id``, not as they end. The other options as
        ``CaptureReader``'s."""

    @property
    def schema(self) -> ArrowSchema:
        """The flow table's schema."""

    def __iter__(self) -> Self: ...
    def __next__(self) -> ArrowBatch: ...
    def read_batch(self) -> ArrowBatch | None:
        """The next batch of flows, in the order they ended; ``None`` when every flow is out."""

    def stats(self) -> _ReadStats:
        """What the read has seen so far; ``rows`` counts the flows handed out."""

    def close(self) -> None:
        """Release the files now."""

@final
class LabeledCaptureReader:
    """The packet table with the flow columns (``flow_id``, ``direction``): every source of
    a read, in order, each packet placed in its flow by the flow table ``FlowTableReader``
    runs with the same options: ``for batch in LabeledCaptureReader([path], columns=[...]): ...``."""

    def __new__(
        cls,
        sources: Sequence[_Path | Callable[[], _BinaryReader]],
        *,
        names: Sequence[_Path | None] | None = None,
        idle_timeout: float | None = ...,
        active_timeout: float | None = ...,
        protocol: str | None = None,
        payload: bool = False,
        errors: _Errors = "warn",
        filter: str | None = None,
        columns: Sequence[str] | None = None,
        decapsulate: bool = False,
        start_ns: int | None = None,
        end_ns: int | None = None,
        batch_rows: int = 65536,
        threads: int = 1,
    ) -> Self:
        """``sources``, ``names`` and the timeouts as ``FlowTableReader``'s; the other options
        as ``CaptureReader``'s. With ``direction`` among the columns every source is read
        twice (the first pass, on ``threads`` threads, finds the flows that turned after
        their first packets)."""

    @property
    def schema(self) -> ArrowSchema:
        """The schema of every batch."""

    def __iter__(self) -> Self: ...
    def __next__(self) -> ArrowBatch: ...
    def stats(self) -> _ReadStats:
        """What the read has seen so far."""

    def close(self) -> None:
        """Release the files now."""

@final
class ObservedPartition:
    """The first step of a flow table split across dask workers: the observations of the
    packets of one partition of a read, in read order. Pickles to bytes."""

    def __len__(self) -> int: ...
    @staticmethod
    def from_bytes(data: bytes) -> ObservedPartition:
        """Made again from its pickled bytes."""

def observe_partition(
    source: _Path | Callable[[], _BinaryReader],
    *,
    file: int,
    name: _Path | None = None,
    byte_range: tuple[int, int] | None = None,
    stamp: tuple[int, int, int] | None = None,
    frames_before: int = 0,
    protocol: str | None = None,
    errors: _Errors = "warn",
    filter: str | None = None,
    decapsulate: bool = False,
    start_ns: int | None = None,
    end_ns: int | None = None,
    verify_checksums: bool = False,
    app: bool = False,
) -> tuple[ObservedPartition, _ReadStats]:
    """The observations of the packets the flow table selects in one partition of a read:
    the records of the local file ``source`` that start in ``byte_range`` (with the
    ``stamp`` and ``frames_before`` of ``plan_partitions``), or the whole of ``source``.
    ``file`` is its file's place in the read. ``app``: with each packet's application facts
    (the application flow columns), which follow TCP streams from the file's start, so a
    ``byte_range`` in the file's middle is refused. Also returns the counters of what was
    read."""

def shard_flows(
    partitions: Sequence[ObservedPartition],
    *,
    shard: int,
    shards: int,
    idle_timeout: float | None = ...,
    active_timeout: float | None = ...,
    columns: Sequence[str] | None = None,
) -> ArrowBatch:
    """The flows of shard ``shard`` of ``shards`` from every partition of a read, in read
    order, sorted by ``flow_id``: exactly the sequential flow table's flows in that shard."""

@final
class LiveReader:
    """Live capture on an interface, read in batches: ``LiveReader("lo", filter="udp")``.

    Capture starts when the reader is made and runs in a Rust thread until ``close()``.
    Needs root or CAP_NET_RAW."""

    def __new__(
        cls,
        interface: str,
        *,
        protocol: str | None = None,
        payload: bool = False,
        filter: str | None = None,
        columns: Sequence[str] | None = None,
        decapsulate: bool = False,
        start_ns: int | None = None,
        end_ns: int | None = None,
        snaplen: int = 65536,
        promisc: bool = True,
        timeout_ms: int = 1000,
        buffer_bytes: int = 67108864,
    ) -> Self:
        """Open ``interface`` (``ValueError`` listing the interfaces when it does not
        exist, ``PermissionError`` without the privilege). ``protocol``, ``payload``,
        ``filter`` (run in the kernel), ``columns`` and ``decapsulate`` as for ``CaptureReader``;
        ``snaplen``: the most bytes kept of each packet; ``timeout_ms``: libpcap's read
        timeout; ``buffer_bytes``: the kernel's capture buffer."""

    @property
    def schema(self) -> ArrowSchema:
        """The schema of every batch."""

    @property
    def interface(self) -> str:
        """The interface's name."""

    @property
    def link_type(self) -> int:
        """LINKTYPE_* value of the interface."""

    @property
    def finished(self) -> bool:
        """Whether the capture has ended (closed, or failed with the error already raised)."""

    def read_batch(self, max_rows: int, timeout_ms: int | None = None) -> ArrowBatch | None:
        """Up to ``max_rows`` rows from packets arriving within ``timeout_ms`` (``None``: as
        long as it takes to get ``max_rows``); ``None`` when none came in time or the capture
        has ended. Rows taken before the capture failed come back first; the error on the
        next call."""

    def dump(self, path: _Path, limit: int) -> int:
        """Write the next ``limit`` captured packets (all that pass the filter, IP or not)
        to a pcap file at ``path`` (nanosecond format); returns how many were written."""

    def set_protocol(self, protocol: str | None = None) -> None:
        """Keep only packets whose IP header chain holds ``protocol``, from now on."""

    def stats(self) -> dict[str, int]:
        """libpcap's ``received``, ``dropped`` (by the kernel) and ``if_dropped`` (by the
        interface), packets ``captured``, and ``rows``, ``not_ip``, ``filtered``; empty
        once closed."""

    def close(self) -> None:
        """Stop capturing and release the interface. A read waiting in another thread ends."""

def read_capture(
    path: _Path,
    *,
    protocol: str | None = None,
    payload: bool = False,
    errors: _Errors = "warn",
    filter: str | None = None,
    columns: Sequence[str] | None = None,
    decapsulate: bool = False,
    start_ns: int | None = None,
    end_ns: int | None = None,
    threads: int = 1,
    byte_range: tuple[int, int] | None = None,
    stamp: tuple[int, int, int] | None = None,
    frames_before: int = 0,
    hosts: _Hosts = "dictionary",
) -> tuple[list[ArrowBatch], _ReadStats]:
    """A whole local capture file decoded on ``threads`` threads: its batches and what the
    read saw. Exactly the sequential read's rows, in order.

    The read options are those of ``CaptureReader``. ``byte_range=(start, end)`` with the
    ``stamp`` and ``frames_before`` ``plan_partitions`` gave with it: only the records that
    start in that range (``CaptureError`` if the file changed since), their ``frame``
    counted on from ``frames_before``. ``hosts="text_when_distinct"``: from the
    first batch holding more than ``TEXT_AFTER_DISTINCT_HOSTS`` distinct hosts on, the
    host columns are large strings instead of dictionaries.
    """

def plan_partitions(
    path: _Path, blocksize: int
) -> tuple[tuple[int, int, int], list[tuple[int, int, int]] | None, str | None]:
    """Exact byte-range partitions of a local file of about ``blocksize`` bytes each, from
    one walk over its records: ``(stamp, ranges, None)`` with each range as ``(start, end,
    frames_before)`` (packet records before it), or ``(stamp, None, reason)`` when
    the file cannot be split. ``stamp`` (inode, size, modification time in ns) identifies
    the file's version; give it back to ``read_capture`` with each range."""

def capture_schema(*, payload: bool = False, columns: Sequence[str] | None = None) -> ArrowSchema:
    """The Arrow schema of a read, without opening a file: ``columns`` in order (``None``:
    the documented six), ``payload`` appended when asked for and not named. An unknown
    column raises ``ValueError`` listing the valid names."""

def flow_table_schema(columns: Sequence[str] | None = None) -> ArrowSchema:
    """The flow table's Arrow schema, of ``columns`` (``None``: all but the application
    ones); an unknown name raises ``ValueError``."""

def pcapframe_main(argv: Sequence[str]) -> int:
    """Run the ``pcapframe`` command line with ``argv`` (the program's name first), in this
    process with the GIL released; its exit status (101 after a bug's panic)."""

def column_names() -> list[str]:
    """Every column a read can produce, in the documented order."""

def column_docs() -> list[tuple[str, str]]:
    """Every column a read can produce, with what it holds (Markdown), in the documented
    order."""

def flow_column_docs() -> list[tuple[str, str]]:
    """Every flow column, with what it holds (Markdown), in order."""

def stream_column_names() -> list[str]:
    """The columns that follow TCP connections from each file's start (DNS, TLS, HTTP):
    a read of them takes each file whole, as one partition."""

def protocol_names() -> list[str]:
    """The names ``protocol=`` accepts (documented ones first), besides numbers 0-255."""

def check_filter(expression: str) -> None:
    """Raise ``ValueError`` (with libpcap's message) unless ``expression`` is a valid
    tcpdump filter."""

def check_protocol(name: str) -> None:
    """Raise ``ValueError`` (listing the valid names) unless ``name`` is a protocol
    ``protocol=`` accepts."""

def extract_capture(
    paths: Sequence[_Path],
    path: _Path,
    *,
    format: str | None = None,
    frames: Sequence[Sequence[int]] | None = None,
    offsets: Sequence[Sequence[int]] | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
    filter: str | None = None,
    protocol: str | None = None,
    decapsulate: bool = False,
    errors: str = "warn",
) -> tuple[int, int, list[str]]:
    """Write the packets of ``paths`` the selection keeps to ``path`` as a capture: returns
    (packets written, packet records read, damage messages)."""

def packet_at(path: _Path, offset: int) -> tuple[bytes, int | None, int, int, int]:
    """The packet record starting at byte ``offset``: (bytes, time in ns, wire length,
    link type, interface number)."""

def write_table(
    table: _ArrowStreamExportable,
    path: _Path,
    *,
    format: _OutputFormat | None = None,
    inputs: Sequence[_Path] | None = None,
) -> int:
    """Write every batch of ``table`` to ``path`` with the core's writers: Parquet (zstd,
    hosts kept dictionary-encoded), Arrow IPC, CSV or JSON lines, by ``format`` or the
    file's extension. The file appears only when complete; a FIFO or a device is written
    through; a directory, a socket or one of ``inputs`` is refused. Returns the rows
    written."""

def decode_packet(data: bytes, link_type: int = 1, *, decapsulate: bool = False) -> _PacketFields:
    """Decode one frame (an Ethernet frame unless ``link_type`` says otherwise) the way a
    read does; the IP keys are absent when it carries no IP packet. ``decapsulate``: they
    describe the innermost IP packet reached through tunnels; the ``outer_*`` keys always
    describe the outermost, ``tunnel`` and ``tunnel_id`` the tunnels crossed."""
