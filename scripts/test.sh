#!/usr/bin/env bash
# Every test of the project: the Rust crates (cargo test) and the Python package (pytest).
# Installs what the tests need first (scripts/setup.sh), so it runs as-is on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --test
cargo test --workspace --exclude intake-pcap-python
# The decoder alone: without its features it builds and passes its own tests with neither
# libpcap nor parquet in its dependency tree.
cargo test -p pcapframe --no-default-features --lib
if cargo tree -p pcapframe --no-default-features -e normal | grep -E " (pcap|parquet) v"; then
    echo "pcapframe without features still depends on libpcap or parquet" >&2
    exit 1
fi
python3 -m pytest tests "$@"
