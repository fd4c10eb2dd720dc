"""The values some arguments accept, as ``Literal`` types for type checkers (the checks
themselves are made at run time, by the Rust core or beside the argument)."""

from __future__ import annotations

from typing import Literal, TypeAlias

# errors=: what a capture cut short or damaged does (the Rust core's TruncationPolicy).
Errors: TypeAlias = Literal["raise", "warn", "ignore"]
# compression=: "infer" from the file name, None for none, or a codec (fsspec's names).
Compression: TypeAlias = Literal["infer", "gzip", "bz2", "xz", "zstd", "lz4"] | None
# format= of to_file() (the Rust core's OutputFormat::parse, which ignores case).
OutputFormat: TypeAlias = Literal[
    "parquet", "pq", "arrow", "ipc", "feather", "arrows", "arrow-stream", "csv", "jsonl", "ndjson", "json"
]
