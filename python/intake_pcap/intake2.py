"""Captures in Intake 2's own terms: the ``PCAP`` data type and its readers.

Intake 2 finds readers by data type: ``intake.datatypes.recommend(url)`` names the types a
URL could hold (by magic bytes, then MIME type, then file name), and
``intake.recommend(data, reader=True)`` / ``intake.readers.recommend(data)`` the readers of
a type. Intake imports this module at start-up through the ``intake.imports`` entry point,
which is all a data type or reader needs to be registered. (The v1 driver,
``intake.open_pcap`` and ``driver: pcap`` in a catalog, is ``source.PCAPSource`` and stays.)

>>> import intake
>>> data = intake.datatypes.recommend("day.pcapng")[0](url="day.pcapng")   # PCAP, not PNG
>>> df = data.to_reader("pandas:DataFrame").read()

Where Intake itself goes wrong for captures, this works around it:

- Intake's ``PNG`` type matches any name ending in ``png``, ``.pcapng`` included; a name is
  ranked by where its pattern starts to match, so ``PCAP``'s pattern, which matches from the
  ``pcap`` of ``.pcapng``, comes first.
- For a compressed file whose name no type matches, ``recommend`` calls itself with the
  compression in ``storage_options`` and reads the same compressed bytes again, without
  end (a ``RecursionError``). ``PCAP``'s pattern takes ``.pcap.gz`` and the other codecs'
  suffixes, so a compressed capture is matched by name before that happens.
"""

from __future__ import annotations

from typing import Any

from intake.readers import datatypes, readers

# Both byte orders of classic pcap (microsecond and nanosecond forms), and pcapng's section
# header block type, which is the same in either byte order.
PCAP_MAGIC = {b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a"}


class PCAP(datatypes.FileData):
    """A packet capture: pcap (either byte order, micro- or nanoseconds) or pcapng, plain
    or compressed (gzip, bzip2, xz, zstd, lz4), read by intake-pcap."""

    filepattern = r"\.(pcap|pcapng|cap|dmp)(\.(gz|bz2|xz|zst|lz4))?$"
    mimetypes = "application/(vnd\\.tcpdump\\.pcap|x-pcapng|x-pcap)"
    structure = {"table"}
    magic = PCAP_MAGIC

    @property
    def possible_readers(self) -> dict[str, list[type]]:
        """Intake's list, with ours first in a fixed order, packets before flows: Intake
        collects readers in a set, and ``to_reader("pandas:DataFrame")`` takes the first
        that matches, which would otherwise be the packets' or the flows' by chance."""
        found: dict[str, list[type]] = super().possible_readers
        order = [PCAPPandas, PCAPArrow, PCAPPolars, PCAPDask, PCAPFlows]
        found["importable"].sort(key=lambda r: order.index(r) if r in order else len(order))
        return found


class _CaptureReader(readers.FileReader):
    """What the capture readers share: a ``PCAPSource`` of the data's URL (a path, a glob
    or any fsspec URL) with the reader's keyword arguments, which are ``open_pcap``'s, and
    the source's method ``method`` for the output."""

    imports = {"intake_pcap"}
    url_arg = "urlpath"
    storage_options = True
    method = "read"

    def _source_class(self) -> Any:
        from .source import PCAPSource

        return PCAPSource

    def _source(self, data: PCAP, **kwargs: Any) -> Any:
        if data.storage_options:
            kwargs.setdefault("storage_options", data.storage_options)
        return self._source_class()(data.url, **kwargs)

    def _read(self, data: PCAP, **kwargs: Any) -> Any:
        return getattr(self._source(data, **kwargs), self.method)()

    def discover(self, data: PCAP | None = None, **kwargs: Any) -> Any:
        """The first packets' rows (at most 100), as ``read()`` gives them."""
        data = data or self.kwargs["data"]
        kwargs = {**{k: v for k, v in self.kwargs.items() if k != "data"}, **kwargs}
        return self._source(data, **{**kwargs, "chunksize": 100}).read_chunked().__next__()


class PCAPPandas(_CaptureReader):
    """One row per IP packet as a pandas DataFrame (``open_pcap(url, **kwargs).read()``)."""

    implements = {PCAP}
    output_instance = "pandas:DataFrame"
    func = "intake_pcap.source:PCAPSource"
    other_funcs = {"intake:open_pcap"}
    imports = {"intake_pcap", "pandas"}


class PCAPArrow(_CaptureReader):
    """One row per IP packet as a pyarrow Table, hosts and protocol dictionary-encoded
    (``to_arrow()``)."""

    implements = {PCAP}
    output_instance = "pyarrow:Table"
    imports = {"intake_pcap", "pyarrow"}
    method = "to_arrow"


class PCAPPolars(_CaptureReader):
    """One row per IP packet as a polars DataFrame, straight from Arrow (``to_polars()``)."""

    implements = {PCAP}
    output_instance = "polars:DataFrame"
    imports = {"intake_pcap", "polars"}
    method = "to_polars"


class PCAPDask(_CaptureReader):
    """One row per IP packet as a lazy dask DataFrame, a partition per file or byte range
    (``to_dask()``)."""

    implements = {PCAP}
    output_instance = "dask.dataframe:DataFrame"
    imports = {"intake_pcap", "dask"}
    method = "to_dask"

    def discover(self, data: PCAP | None = None, **kwargs: Any) -> Any:
        return self.read(data, **kwargs).head()


class PCAPFlows(_CaptureReader):
    """One row per flow (``open_pcap_flows(url, **kwargs).read()``): the conversation table
    (``intake_pcap.describe_columns(flows=True)`` says what each column holds)."""

    implements = {PCAP}
    output_instance = "pandas:DataFrame"
    func = "intake_pcap.flows:PCAPFlowsSource"
    other_funcs = {"intake:open_pcap_flows"}
    imports = {"intake_pcap", "pandas"}

    def _source_class(self) -> Any:
        from .flows import PCAPFlowsSource

        return PCAPFlowsSource

    def discover(self, data: PCAP | None = None, **kwargs: Any) -> Any:
        return self.read(data, **kwargs).head(100)
