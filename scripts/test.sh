#!/usr/bin/env bash
# Every test of the project: the Rust crates (cargo test) and the Python package (pytest).
# Installs what the tests need first, so it runs as-is on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check ".[test]"
cargo test --workspace --exclude intake-pcap-python
python3 -m pytest tests "$@"
