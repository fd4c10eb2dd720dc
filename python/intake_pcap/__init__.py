"""Packet captures (pcap, pcapng) as pandas DataFrames through Intake, decoded in Rust.

>>> import intake
>>> df = intake.open_pcap("capture.pcap", protocol="tcp").read()
"""

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

# The public names load their modules on first use, so that `import intake_pcap` (and the
# `pcapframe` command, which lives in this package) does not import pandas, dask and Intake
# until something needs them.
if TYPE_CHECKING:
    from .errors import CaptureError, CaptureWarning, CorruptCaptureError, NotACaptureError, TruncatedCaptureError
    from .flows import PCAPFlowsSource
    from .packet import IPPacket, PacketBytes, packet_bytes, write_pcap
    from .scan import scan_pcap
    from .source import PCAPSource
    from .sql import register_duckdb

_LAZY = {
    "PCAPSource": "source",
    "PCAPFlowsSource": "flows",
    "IPPacket": "packet",
    "PacketBytes": "packet",
    "packet_bytes": "packet",
    "write_pcap": "packet",
    "CaptureError": "errors",
    "CaptureWarning": "errors",
    "CorruptCaptureError": "errors",
    "NotACaptureError": "errors",
    "TruncatedCaptureError": "errors",
    "scan_pcap": "scan",
    "register_duckdb": "sql",
}


# The modules `import intake_pcap` used to import, and so made attributes of the package
# (`intake_pcap.source.PCAPSource`); they still are, loaded on first use.
_SUBMODULES = frozenset({"errors", "flows", "intake2", "packet", "scan", "source", "sql", "stream"})


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        if name in _SUBMODULES:
            return importlib.import_module(f".{name}", __name__)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)


try:
    __version__ = version("intake-pcap")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "PCAPSource",
    "PCAPFlowsSource",
    "Plugin",
    "IPPacket",
    "PacketBytes",
    "packet_bytes",
    "write_pcap",
    "CaptureError",
    "CaptureWarning",
    "CorruptCaptureError",
    "NotACaptureError",
    "TruncatedCaptureError",
    "column_names",
    "describe_columns",
    "scan_pcap",
    "register_duckdb",
]


def column_names() -> list[str]:
    """Every column ``open_pcap(..., columns=[...])`` can give, in the documented order
    (``describe_columns()`` says what each holds)."""
    from ._native import column_names as native_column_names

    return native_column_names()


def describe_columns(flows: bool = False) -> dict[str, str]:
    """What each column holds, by name, in the documented order: the packet table's
    (``open_pcap``), or with ``flows=True`` the flow table's (``open_pcap_flows``). The
    texts are the README's tables', from the same registry."""
    from ._native import column_docs, flow_column_docs

    return dict(flow_column_docs() if flows else column_docs())


class Plugin:
    """The Intake 1 plugin object the old documentation names; Intake 2 uses the
    ``intake.drivers`` entry point instead, so this only builds sources."""

    name = "pcap"
    container = "dataframe"

    def open(self, urlpath: Any, **kwargs: Any) -> "PCAPSource":
        """Open ``urlpath`` (a path or glob) as a :class:`PCAPSource`."""
        from .source import PCAPSource

        base_kwargs, source_kwargs = self.separate_base_kwargs(kwargs)
        return PCAPSource(urlpath, **source_kwargs, **base_kwargs)

    def separate_base_kwargs(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The old Intake plugin API: ``({"metadata": ...}, the other arguments)``, without
        changing ``kwargs``."""
        source_kwargs = dict(kwargs)
        return {"metadata": source_kwargs.pop("metadata", None)}, source_kwargs
