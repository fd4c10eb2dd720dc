#!/usr/bin/env bash
# Set-up on a fresh machine: the system packages the build and tests need (libpcap's
# development files; tcpdump, the oracle of the filter tests), then the Python package.
# Usage: bash scripts/setup.sh [PIP-TARGET]   (default ".", the package; ".[test]" for tests)
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
ls /usr/lib/*/libpcap.so /usr/lib/libpcap.so /usr/lib64/libpcap.so >/dev/null 2>&1 || missing+=(libpcap-dev)
command -v tcpdump >/dev/null 2>&1 || missing+=(tcpdump)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "missing system packages: ${missing[*]}; install them (e.g. sudo apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi

python3 -m pip install --quiet --disable-pip-version-check "${1:-.}"
