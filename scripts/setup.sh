#!/usr/bin/env bash
# Set-up on a fresh machine: the system packages the build needs (libpcap's development
# files), then the Python package, then the `pcapframe` command (into cargo's bin directory,
# ~/.cargo/bin, which rustup puts on PATH).
#   bash scripts/setup.sh          the package
#   bash scripts/setup.sh --test   the package with its test extras, and the tools the tests
#                                  compare against or drive: tcpdump, tshark, iproute2
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
ls /usr/lib/*/libpcap.so /usr/lib/libpcap.so /usr/lib64/libpcap.so >/dev/null 2>&1 || missing+=(libpcap-dev)
target="."
if [ "${1:-}" = "--test" ]; then
    target=".[test]"
    command -v tcpdump >/dev/null 2>&1 || missing+=(tcpdump)
    command -v tshark >/dev/null 2>&1 || missing+=(tshark)
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "missing system packages: ${missing[*]}; install them (e.g. sudo apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi

python3 -m pip install --quiet --disable-pip-version-check "$target"
cargo install --quiet --locked --force --path crates/pcapframe-cli --root "${CARGO_HOME:-$HOME/.cargo}" --target-dir target
