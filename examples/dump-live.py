#!/usr/bin/env python3
"""Write LIMIT packets captured on INTERFACE to PATH, a classic pcap file.

    sudo python examples/dump-live.py capture.pcap eth0 100
    tcpdump -r capture.pcap          # or intake.open_pcap("capture.pcap").read()

Every packet is written, IP or not. Capture needs root or the CAP_NET_RAW capability.
"""

import sys

from intake_pcap.stream import LiveStream


def main(argv):
    if len(argv) != 4 or not argv[3].isdigit():
        print("usage: dump-live PATH INTERFACE LIMIT", file=sys.stderr)
        return 1
    path, interface, limit = argv[1], argv[2], int(argv[3])
    stream = LiveStream(interface)
    try:
        written = stream.dump(path, limit)
    finally:
        stream.close()
    print(f"{written} packets from {interface} written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
