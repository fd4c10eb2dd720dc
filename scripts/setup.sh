#!/usr/bin/env bash
# Set-up on a fresh machine: builds the wheel (scripts/build_wheel.sh: the Python package
# with the `pcapframe` command inside) and installs it. Building needs Rust and nothing
# else: libpcap is loaded at run time, by filters and live capture only.
#   bash scripts/setup.sh          the package
#   bash scripts/setup.sh --test   the package with its test extras, and the tools the tests
#                                  compare against or drive: tcpdump (and with it libpcap),
#                                  tshark, iproute2
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
missing=()
if [ "${1:-}" = "--test" ]; then
    extras="[test]"
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

wheel=$(bash scripts/build_wheel.sh | tail -n 1)
# The wheel replaces an installed copy of the same version; its dependencies come after.
python3 -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall "$wheel"
python3 -m pip install --quiet --disable-pip-version-check "$wheel$extras"
# pyenv finds a new command only after a rehash (its pip shim would do this; `python3 -m pip` does not).
if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
