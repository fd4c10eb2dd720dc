#!/usr/bin/env bash
# The publishable wheel: manylinux_2_34 (pyproject.toml says why), with the `pcapframe`
# command inside and libpcap loaded at run time, checked by maturin as auditwheel checks.
# Plain `pip wheel .` builds the same wheel tagged for this machine only (linux_x86_64):
# maturin leaves the manylinux check off for pip unless asked, as here.
#   bash scripts/build_wheel.sh            -> target/wheels/intake_pcap-VERSION-cp311-abi3-manylinux_2_34_x86_64.whl
set -euo pipefail
cd "$(dirname "$0")/.."
out="target/wheels"
mkdir -p "$out"
rm -f "$out"/intake_pcap-*.whl
MATURIN_PEP517_ARGS="--compatibility manylinux_2_34" \
    python3 -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$out" .
ls "$out"/intake_pcap-*manylinux*.whl
