#!/usr/bin/env bash
# Every test of the project: the Rust crates (cargo test) and the Python package (pytest).
# Installs what the tests need first (scripts/setup.sh), so it runs as-is on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --test
cargo test --workspace --exclude intake-pcap-python
python3 -m pytest tests "$@"
