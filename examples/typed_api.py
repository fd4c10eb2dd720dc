"""The public API as a type checker sees it: ``mypy --strict`` checks this file against the
installed package's hints and ``_native.pyi`` (tests/test_typing.py), and the test runs it.

    python examples/typed_api.py [CAPTURE]      # the bundled sample without CAPTURE
"""

from __future__ import annotations

import sys

import pyarrow as pa

from intake_pcap import CaptureError, PCAPSource
from intake_pcap.__main__ import sample_path
from intake_pcap._native import column_names, read_capture
from intake_pcap.packet import IPPacket
from intake_pcap.stream import OfflineStream


def udp_rows(path: str) -> int:
    """Rows of UDP packets, through the Intake source, with chosen columns."""
    source = PCAPSource(path, protocol="udp", columns=["time", "src_host", "length"], errors="ignore")
    try:
        return len(source.read())
    finally:
        source.close()


def first_rows(path: str, n: int) -> list[str]:
    """The first ``n`` source addresses, through the stream class."""
    stream = OfflineStream(path, payload=True, compression="infer")
    try:
        frame = stream.to_dataframe(n)
        return [str(host) for host in frame["src_host"]]
    finally:
        stream.close()


def native_rows(path: str) -> tuple[int, int]:
    """Rows and packets of a whole-file read by the native module, options by keyword."""
    batches, stats = read_capture(path, errors="warn", hosts="dictionary", threads=2)
    table = pa.Table.from_batches([pa.record_batch(b) for b in batches])
    return table.num_rows, stats.get("packets", 0)


def first_packet(path: str) -> IPPacket | None:
    """The first frame of a classic pcap file, decoded by ``IPPacket`` (Ethernet assumed)."""
    with open(path, "rb") as f:
        data = f.read(24 + 16 + 65535)
    if len(data) < 40:
        return None
    caplen = int.from_bytes(data[32:36], "little")
    return IPPacket(data[40 : 40 + caplen])


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else sample_path()
    try:
        rows, packets = native_rows(path)
        print(f"{path}: {packets} packets, {rows} IP rows, {udp_rows(path)} UDP rows")
        print("first sources:", ", ".join(first_rows(path, 3)))
        packet = first_packet(path)
        if packet is not None:
            print("first packet:", packet, packet.source_mac_address)
        print("columns:", len(column_names()))
    except CaptureError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
