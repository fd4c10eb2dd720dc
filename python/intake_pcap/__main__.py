"""``python -m intake_pcap [FILE]``: print a capture as the DataFrame a read gives."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.resources import files


def sample_path() -> str:
    """The small capture bundled with the package (made by tools/synthcap.py)."""
    return str(files("intake_pcap") / "data" / "sample.pcap")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m intake_pcap",
        description="Print the IP packets of a capture file as a DataFrame.",
    )
    parser.add_argument("file", nargs="?", help="pcap or pcapng file or glob (default: the bundled sample)")
    parser.add_argument("--protocol", help="keep only this protocol (tcp, udp, icmp, ...)")
    parser.add_argument("--payload", action="store_true", help="add the payload column")
    parser.add_argument("--errors", choices=("warn", "raise", "ignore"), default="warn")
    parser.add_argument("--all", action="store_true", help="print every row, not the head and tail")
    args = parser.parse_args(argv)

    import pandas as pd

    from .errors import CaptureError
    from .source import PCAPSource

    path = args.file or sample_path()
    try:
        frame = PCAPSource(path, protocol=args.protocol, payload=args.payload, errors=args.errors).read()
    except (CaptureError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    rows = None if args.all else 60
    with pd.option_context("display.max_rows", rows, "display.max_columns", None, "display.width", 200):
        print(frame)
    print(f"\n{len(frame)} IP packets from {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
