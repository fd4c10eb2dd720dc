"""The wheel's ``pcapframe`` command: the Rust command line, run in this process. It imports
nothing but the native module (no pandas, no Intake), so it starts quickly."""

import signal
import sys


def main() -> int:
    """Run ``pcapframe`` with this process's arguments; its exit status."""
    # Ctrl-C stops the command as it stops the standalone binary: Python's own handler would
    # only set a flag that nobody looks at until the Rust code returns.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from ._native import pcapframe_main

    return pcapframe_main(["pcapframe", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
