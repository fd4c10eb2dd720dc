"""One frame decoded, with the attributes the old plugin's ``IPPacket`` had."""

from __future__ import annotations

import os
from typing import Any, Literal

from . import _native

__all__ = ["IPPacket", "PacketBytes", "packet_bytes", "write_pcap"]


class IPPacket:
    """The addresses, ports and protocols of one link-layer frame.

    Parameters
    ----------
    data : bytes
        The frame as captured (an Ethernet frame unless ``link_type`` says otherwise).
    link_type : int, optional
        LINKTYPE_* value of the frame: that of a ``packet_bytes()`` record, else 1 (Ethernet).
    decapsulate : bool
        The IP attributes (addresses, ports, protocol, payload) describe the innermost IP
        packet reached through tunnels (VXLAN, GRE, Geneve, GTP-U, ...), as a read with
        ``decapsulate=True`` does; the ``outer_*`` attributes keep the outermost addresses.
        The MAC addresses and EtherType are the outer frame's either way.

    Frames that carry no IP packet have ``None`` for the IP attributes.
    """

    def __init__(
        self, data: bytes | bytearray | memoryview, link_type: int | None = None, *, decapsulate: bool = False
    ) -> None:
        if link_type is None:
            # A record from packet_bytes() knows its link type.
            link_type = getattr(data, "link_type", 1)
        self._data = bytes(data)
        self._fields = _native.decode_packet(self._data, link_type, decapsulate=bool(decapsulate))

    @property
    def source_mac_address(self) -> str | None:
        """Source MAC address as ``aa:bb:cc:dd:ee:ff`` (Ethernet frames)."""
        return self._fields.get("source_mac_address")

    @property
    def destination_mac_address(self) -> str | None:
        """Destination MAC address as ``aa:bb:cc:dd:ee:ff`` (Ethernet frames)."""
        return self._fields.get("destination_mac_address")

    @property
    def ethernet_protocol(self) -> int | None:
        """The EtherType after any VLAN tags, as a number (0x0800 for IPv4)."""
        return self._fields.get("ethernet_protocol")

    @property
    def ip_protocol(self) -> str | None:
        """Name of the transport protocol (``tcp``, ``udp``, ``icmp``, ...)."""
        return self._fields.get("ip_protocol")

    @property
    def source_ip_address(self) -> str | None:
        """Source IP address: dotted IPv4 or RFC 5952 IPv6 text."""
        return self._fields.get("source_ip_address")

    @property
    def destination_ip_address(self) -> str | None:
        """Destination IP address: dotted IPv4 or RFC 5952 IPv6 text."""
        return self._fields.get("destination_ip_address")

    @property
    def source_ip_port(self) -> int | None:
        """TCP/UDP source port, or None."""
        return self._fields.get("source_ip_port")

    @property
    def destination_ip_port(self) -> int | None:
        """TCP/UDP destination port, or None."""
        return self._fields.get("destination_ip_port")

    @property
    def tunnel(self) -> str | None:
        """The tunnels crossed, outermost first, joined by ``/`` (``vxlan``, ``gre/erspan``),
        as the ``tunnel`` column names them (with or without ``decapsulate``); ``None``
        when there is none."""
        return self._fields.get("tunnel")

    @property
    def tunnel_id(self) -> int | None:
        """The innermost tunnel's identifier (VXLAN/Geneve VNI, GRE key, GTP-U TEID, ...),
        as the ``tunnel_id`` column holds it, or None."""
        return self._fields.get("tunnel_id")

    @property
    def outer_source_ip_address(self) -> str | None:
        """Source address of the outermost IP header (``source_ip_address`` unless
        decapsulated)."""
        return self._fields.get("outer_source_ip_address")

    @property
    def outer_destination_ip_address(self) -> str | None:
        """Destination address of the outermost IP header (``destination_ip_address`` unless
        decapsulated)."""
        return self._fields.get("outer_destination_ip_address")

    @property
    def payload(self) -> bytes | None:
        """The bytes after the transport header, as the ``payload`` column holds them."""
        start, end = self._fields.get("payload_offset"), self._fields.get("payload_end")
        return None if start is None else self._data[start:end]

    def __repr__(self) -> str:
        return (
            f"IPPacket({self.source_ip_address}:{self.source_ip_port} -> "
            f"{self.destination_ip_address}:{self.destination_ip_port} {self.ip_protocol})"
        )


class PacketBytes(bytes):
    """One packet record's captured bytes (``packet_bytes()``), with what its record says."""

    link_type: int
    """LINKTYPE_* value of its interface (``IPPacket`` decodes it by this)."""
    time: int | None
    """Nanoseconds since 1970 (UTC); ``None`` for a pcapng simple packet block."""
    wire_length: int
    """Length of the packet on the wire (may exceed what was captured)."""
    interface: int
    """pcapng interface number within its section; 0 for classic pcap."""

    def __new__(cls, data: bytes, link_type: int, time: int | None, wire_length: int, interface: int) -> PacketBytes:
        record = super().__new__(cls, data)
        record.link_type, record.time, record.wire_length, record.interface = link_type, time, wire_length, interface
        return record


def packet_bytes(path: str | os.PathLike[str], offset: int) -> PacketBytes:
    """The captured bytes of the packet record that starts at byte ``offset`` of the local
    capture ``path`` (a value of the ``offset`` column); ``IPPacket(packet_bytes(p, o))``
    decodes it. Only a true record boundary is accepted (the records are walked from an
    exact one before it: the file's record index, built by one walk of the file and kept
    for the process), else ValueError naming the nearest boundaries."""
    data, time, wire_length, link_type, interface = _native.packet_at(os.fspath(path), int(offset))
    return PacketBytes(data, link_type, time, wire_length, interface)


def write_pcap(
    rows: Any,
    path: str | os.PathLike[str],
    capture: str | os.PathLike[str] | None = None,
    format: Literal["pcapng", "pcap"] | None = None,
) -> int:
    """Write the packets behind ``rows`` to ``path`` as a capture, as ``PCAPSource.to_pcap``
    does, for rows that say where their packets are: an ``offset`` column (read with
    ``columns=[..., "offset"]``) and the local capture each row is from, as a ``file``
    column of paths or ``capture=`` for every row. Files go out in the order they first
    appear, each file's packets in capture order. An offset where no packet record starts
    is a ValueError. Returns the packets written."""
    import pandas as pd

    from .source import local_output

    if not isinstance(rows, pd.DataFrame) or "offset" not in rows.columns:
        raise ValueError("write_pcap(rows): rows must be a DataFrame with the offset column "
                         "(read with columns=[..., 'offset'])")
    if rows["offset"].isna().any():
        raise ValueError("write_pcap(rows): some rows have no offset (a live capture's rows have none)")
    if capture is not None:
        files = pd.Series(os.fspath(capture), index=rows.index)
    elif "file" in rows.columns:
        files = rows["file"].astype(str)
    else:
        raise ValueError("write_pcap(rows): say which capture the rows are from: a file column of paths, or capture=")
    order = list(dict.fromkeys(files))
    offsets = [sorted(set(rows["offset"][files == f].astype("int64").tolist())) for f in order]
    packets, _, _ = _native.extract_capture(order, local_output(path), format=format, offsets=offsets, errors="raise")
    return packets
