"""``read_pcap`` in DuckDB's SQL, after one registration call.

>>> import duckdb, intake_pcap
>>> con = duckdb.connect()
>>> intake_pcap.register_duckdb(con)
>>> con.sql("select protocol, count(*) from read_pcap('day.pcap') group by 1")

DuckDB's Python API makes scalar functions, not table functions, so ``read_pcap(path)`` is
a table macro over a function that returns the capture's rows as one list, unnested: the
rows of one call are held in memory together, as DuckDB builds them. For a large capture,
hand DuckDB the source's Arrow stream instead, which it reads batch by batch:
``ds = intake.open_pcap(path); con.sql("select ... from ds")``.
"""

from __future__ import annotations

from typing import Any

# DuckDB's names for the Arrow types the columns have (dictionary-encoded text is text).
_DUCK_TYPES = {
    "timestamp[ns]": "TIMESTAMP_NS",
    "string": "VARCHAR",
    "large_binary": "BLOB",
    "binary": "BLOB",
    "bool": "BOOLEAN",
    "uint8": "UTINYINT",
    "uint16": "USMALLINT",
    "uint32": "UINTEGER",
    "uint64": "UBIGINT",
    "int8": "TINYINT",
    "int16": "SMALLINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "double": "DOUBLE",
}


def register_duckdb(connection: Any = None, name: str = "read_pcap", **options: Any) -> Any:
    """Make ``name(path)`` a table function of ``connection`` (default: DuckDB's default
    connection, which ``duckdb.sql`` uses): one row per IP packet of the capture files at
    ``path`` (a file, glob or directory, as ``open_pcap`` takes it), with ``options`` (the
    other ``open_pcap`` arguments: ``columns=``, ``protocol=``, ``filter=``, ...) for every
    call. Returns the connection."""
    import duckdb
    import pyarrow as pa
    from duckdb.sqltypes import VARCHAR

    from ._read import arrow_schema
    from .source import PCAPSource

    if not name.isidentifier():
        raise ValueError(f"name must be an SQL identifier (letters, digits, _); got {name!r}")
    con = connection if connection is not None else duckdb.default_connection()
    PCAPSource("x.pcap", **options)  # every option checked now, not inside a query
    schema = arrow_schema(bool(options.get("payload")), options.get("columns"))
    plain = pa.schema([pa.field(f.name, _plain(f.type)) for f in schema])
    row_type = duckdb.struct_type({f.name: _duck_type(f.type) for f in plain})

    def rows(paths: Any) -> Any:
        if isinstance(paths, pa.ChunkedArray):
            paths = paths.combine_chunks()
        structs, offsets = [], [0]
        for path in paths.to_pylist():
            table = PCAPSource(path, **options).to_arrow().cast(plain).combine_chunks()
            columns = [column.combine_chunks() for column in table.columns]
            struct = pa.StructArray.from_arrays(columns, names=table.column_names)
            structs.append(struct)
            offsets.append(offsets[-1] + len(struct))
        values = pa.concat_arrays(structs) if structs else pa.array([], pa.struct(list(plain)))
        return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)

    function = f"_{name}_rows"
    try:
        con.remove_function(function)  # registered before: replaced
    except Exception:  # not registered yet
        pass
    # type="arrow": the function takes and gives Arrow arrays. (DuckDB's stub wants its
    # PythonUDFType enum, which its module does not export; the name is what it accepts.)
    con.create_function(  # type: ignore[call-overload]
        function, rows, [VARCHAR], duckdb.list_type(row_type), type="arrow", side_effects=True
    )
    con.execute(f"CREATE OR REPLACE MACRO {name}(path) AS TABLE SELECT unnest({function}(path), recursive := true)")
    return con


def _plain(arrow_type: Any) -> Any:
    """Dictionary-encoded columns as their values' type (DuckDB takes text as text)."""
    import pyarrow as pa

    return arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type


def _duck_type(arrow_type: Any) -> Any:
    import duckdb
    import pyarrow as pa

    if pa.types.is_list(arrow_type):
        return duckdb.list_type(_duck_type(arrow_type.value_type))
    name = _DUCK_TYPES.get(str(arrow_type))
    if name is None:
        raise TypeError(f"no DuckDB type for the Arrow type {arrow_type}: leave that column out")
    return duckdb.sqltype(name) if hasattr(duckdb, "sqltype") else name
