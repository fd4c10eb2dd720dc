#!/usr/bin/env python3
"""Run a benchmark with an older build and with this one, alternately, in one run.

The older build is a directory to put first on PYTHONPATH (``pip install --no-deps
--target DIR`` of the older commit); this one is whatever ``python`` imports. Each round
runs the older build, then this one, each in a fresh process, so a busy machine weighs on
both alike. Prints every run's output, marked by build and round, for figures quoted as
ratios (DEVELOPERS.md: measure the old commit and the new one in the same run).

    pip install --no-deps --target /tmp/old-pkg /path/to/old/checkout
    python benches/side_by_side.py /tmp/old-pkg --rounds 3 -- benches/bench_columns.py --quick
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Everything after "--" is the benchmark's own command line.
    split = argv.index("--") if "--" in argv else len(argv)
    ours, bench = argv[:split], argv[split + 1:]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     usage="%(prog)s BEFORE [--rounds N] -- BENCH.py [ARGS...]")
    parser.add_argument("before", help="directory holding the older intake_pcap (put first on PYTHONPATH)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each build, alternating")
    args = parser.parse_args(ours)
    if not bench:
        parser.error("name the benchmark after --")
    if not os.path.isdir(os.path.join(args.before, "intake_pcap")):
        parser.error(f"{args.before} holds no intake_pcap package")
    status = 0
    for round_ in range(1, args.rounds + 1):
        for build, pythonpath in (("before", args.before), ("this build", None)):
            env = dict(os.environ)
            env.pop("PYTHONPATH", None)
            if pythonpath:
                env["PYTHONPATH"] = pythonpath
            done = subprocess.run([sys.executable, *bench], env=env, capture_output=True, text=True)
            print(f"===== {build}, round {round_} (exit {done.returncode})")
            print(done.stdout.rstrip())
            if done.returncode:
                print(done.stderr[-2000:].rstrip())
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
