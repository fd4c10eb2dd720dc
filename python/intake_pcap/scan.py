"""``scan_pcap``: captures as a lazy Polars frame, through Polars' IO plugin interface.

Polars hands the scan the columns a query needs, its filter and its row limit. The columns
and some of the filter reach the Rust reader as ``open_pcap`` options, so fewer columns
are decoded and fewer rows built:

- ``protocol == "tcp"`` becomes ``protocol="tcp"``, which keeps the
  packets whose IP header chain holds TCP: every row the test can keep, and maybe a few
  more (an ICMP error quoting a TCP header), which the filter then drops;
- ``time >= t``, ``time > t``, ``time < t``, ``time <= t`` become ``start=`` and ``end=``
  (with the seek index, a large file is read only where those times are).

Whatever is pushed, Polars' whole filter is then applied to every batch, so the rows are
exactly those of ``pl.from_arrow(open_pcap(...).to_arrow()).filter(...)``: pushing down
only ever narrows what is read, never what is kept.

- ``src_port == 80``, ``dst_host == "10.0.0.1"`` (or the host cast to ``pl.String``) and
  ``|`` of such terms become the reader's ``row_match``: packets whose ports and addresses
  cannot pass are not built into rows. The comparison is the column's: an address is
  equal only in the text the column writes (libpcap's ``port 80`` would not do: it does not
  follow IPv6 extension headers as the ``dst_port`` column does).

A row limit without a filter is ``nrows=``; with one, the scan stops once enough rows
passed it. Nothing is handed down when the query reads flow or application columns: flows
and TCP streams are built from the packets read, so reading fewer would change them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars

    from ._read import RowMatch


def scan_pcap(urlpath: Any, **kwargs: Any) -> polars.LazyFrame:
    """A lazy Polars frame of one row per IP packet of ``urlpath`` (files, globs, lists, as
    ``open_pcap`` takes them, with its keyword arguments). Projection, predicates on
    ``protocol``, ``time``, ports and hosts, and row limits reach the reader (see this
    module's docstring).

    >>> lf = intake_pcap.scan_pcap("day.pcap")
    >>> lf.filter(pl.col("protocol") == "udp").select("src_host", "dst_port").head(10).collect()
    """
    import polars as pl
    from polars.io.plugins import register_io_source

    from ._read import arrow_schema, to_polars
    from .source import PCAPSource

    if urlpath is None:
        raise TypeError("scan_pcap() reads files; a live interface has open_pcap(None, interface=...)")
    base = PCAPSource(urlpath, **kwargs)  # checks every argument now, not at collect()
    columns = base.columns or arrow_schema(base.payload, None).names
    schema = to_polars(arrow_schema(base.payload, columns).empty_table()).schema

    def source(
        with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, batch_size: int | None
    ) -> Iterator[pl.DataFrame]:
        wanted = list(with_columns) if with_columns is not None else list(columns)
        needed = list(dict.fromkeys(wanted + (predicate.meta.root_names() if predicate is not None else [])))
        options = {**kwargs, "columns": needed, "payload": False}
        if batch_size:
            options.setdefault("chunksize", batch_size)
        left = n_rows
        if left == 0:
            return
        scan = PCAPSource(urlpath, **options)
        if not (scan._with_flows or scan._with_streams):
            # Flows and TCP streams are built from the packets read (a time range starts
            # them inside it): a query on flow or application columns is applied after
            # reading only, never handed down.
            if predicate is not None:
                pushed, row_match = pushed_down(predicate, kwargs)
                scan = PCAPSource(urlpath, **{**options, **pushed})
                scan._row_match = row_match
            elif n_rows is not None:
                scan = PCAPSource(urlpath, **{**options, "nrows": max(n_rows, 1)})
        for batch in scan._arrow_batches():
            frame = to_polars(batch)
            if predicate is not None:
                frame = frame.filter(predicate)
            frame = frame.select(wanted)
            if left is not None:
                frame = frame.head(left)
                left -= frame.height
            yield frame
            if left == 0:
                return

    return register_io_source(source, schema=schema, explain_name="intake_pcap", explain_detail=str(urlpath))


def pushed_down(predicate: Any, given: dict[str, Any]) -> tuple[dict[str, Any], RowMatch | None]:
    """``open_pcap`` options that keep every row ``predicate`` keeps (and maybe more), from
    its conjuncts on ``protocol`` and ``time`` (options the caller gave win), and the
    reader's ``row_match`` from its conjuncts on ports and addresses. Nothing for a
    predicate this does not understand."""
    try:
        tree = json.loads(predicate.meta.serialize(format="json"))
    except Exception:  # a Polars that serializes otherwise: push nothing, filter after
        return {}, None
    out: dict[str, Any] = {}
    row_match: RowMatch = []
    for term in _conjuncts(tree):
        clause = _match_clause(term)
        if clause is not None:
            row_match.append(clause)
            continue
        found = _protocol(term) or _time_bound(term)
        if found is None:
            continue
        name, value = found
        if name in given:
            continue
        if name == "start":
            value = max(value, out.get("start", value))
        elif name == "end":
            value = min(value, out.get("end", value))
        out[name] = value
    if "start" in out or "end" in out:
        out = {k: (_timestamp(v) if k in ("start", "end") else v) for k, v in out.items()}
    return out, row_match or None


_PORTS = ("src_port", "dst_port")
_HOSTS = ("src_host", "dst_host")


def _match_clause(term: Any) -> list[tuple[str, list[str]]] | None:
    """The terms of a conjunct that is ``column == literal`` on a port or host column, or
    an ``|`` of such (``(dst_port == 80) | (src_port == 80)``): ``[(column, [value])]``
    with the value as the column writes it; ``None`` for anything else."""
    binary = term.get("BinaryExpr") if isinstance(term, dict) else None
    if binary is not None and binary.get("op") in ("Or", "LogicalOr"):
        left, right = _match_clause(binary["left"]), _match_clause(binary["right"])
        return None if left is None or right is None else left + right
    found = _column_and_literal(term)
    if found is None or found[1] != "Eq":
        return None
    column, _, literal = found
    value = _literal(literal)
    if column in _PORTS and isinstance(value, int) and not isinstance(value, bool):
        return [(column, [str(value)])]
    if column in _HOSTS and isinstance(value, str):
        return [(column, [value])]
    return None


def _literal(literal: Any) -> Any:
    """A literal's Python value: an int or a str, else ``None``."""
    if not isinstance(literal, dict):
        return None
    dynamic = literal.get("Dyn")
    if isinstance(dynamic, dict) and isinstance(dynamic.get("Int"), int):
        return dynamic["Int"]
    scalar = literal.get("Scalar")
    if isinstance(scalar, dict) and len(scalar) == 1:
        (kind, value), = scalar.items()
        if kind == "String" and isinstance(value, str):
            return value
        if kind in ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64") and isinstance(value, int):
            return value
    return None


def _conjuncts(tree: Any) -> Iterator[Any]:
    binary = tree.get("BinaryExpr") if isinstance(tree, dict) else None
    if binary is not None and binary.get("op") in ("And", "LogicalAnd"):
        yield from _conjuncts(binary["left"])
        yield from _conjuncts(binary["right"])
    else:
        yield tree


def _column_and_literal(term: Any) -> tuple[str, str, Any] | None:
    """``(column, op, literal)`` of ``column OP literal`` (or the mirror, op turned)."""
    binary = term.get("BinaryExpr") if isinstance(term, dict) else None
    if binary is None:
        return None
    left, op, right = binary.get("left"), binary.get("op"), binary.get("right")
    mirror = {"Lt": "Gt", "LtEq": "GtEq", "Gt": "Lt", "GtEq": "LtEq", "Eq": "Eq"}
    on_left, on_right = _column(left), _column(right)
    if on_left is not None and isinstance(right, dict) and "Literal" in right:
        return on_left, op, right["Literal"]
    if on_right is not None and isinstance(left, dict) and "Literal" in left and op in mirror:
        return on_right, mirror[op], left["Literal"]
    return None


def _column(node: Any) -> str | None:
    """The column a node reads: ``pl.col(c)``, or a host column cast to text
    (``pl.col("src_host").cast(pl.String)``: the same text as the categorical)."""
    if not isinstance(node, dict):
        return None
    if isinstance(node.get("Column"), str):
        return str(node["Column"])
    cast = node.get("Cast")
    if isinstance(cast, dict) and cast.get("dtype") in ({"Literal": "String"}, "String"):
        inner = cast.get("expr")
        if isinstance(inner, dict) and inner.get("Column") in _HOSTS:
            return str(inner["Column"])
    return None


def _protocol(term: Any) -> tuple[str, Any] | None:
    found = _column_and_literal(term)
    if found is None or found[0] != "protocol" or found[1] != "Eq":
        return None
    scalar = found[2].get("Scalar", {}) if isinstance(found[2], dict) else {}
    name = scalar.get("String") if isinstance(scalar, dict) else None
    return ("protocol", name) if isinstance(name, str) else None


# Nanoseconds per unit of a Polars datetime literal.
_UNIT_NS = {"Nanoseconds": 1, "Microseconds": 1_000, "Milliseconds": 1_000_000}


def _time_bound(term: Any) -> tuple[str, int] | None:
    """``("start", ns)`` or ``("end", ns)`` (exclusive) that keep every row of a bound on
    ``time``."""
    found = _column_and_literal(term)
    if found is None or found[0] != "time":
        return None
    scalar = found[2].get("Scalar", {}) if isinstance(found[2], dict) else {}
    value = scalar.get("Datetime") if isinstance(scalar, dict) else None
    if not (isinstance(value, list) and len(value) >= 2 and value[1] in _UNIT_NS and value[2:] in ([], [None])):
        return None  # a zoned literal or another form: filtered after, not pushed
    ns = int(value[0]) * _UNIT_NS[value[1]]
    op = found[1]
    if op in ("GtEq", "Gt"):
        return "start", ns  # time > t: from t on, t itself dropped by the filter
    if op == "Lt":
        return "end", ns
    if op == "LtEq":
        return "end", ns + 1
    return None


def _timestamp(ns: int) -> Any:
    import pandas as pd

    return pd.Timestamp(ns, unit="ns", tz="UTC")
