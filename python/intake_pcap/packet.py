"""One frame decoded, with the attributes the old plugin's ``IPPacket`` had."""

from __future__ import annotations

from . import _native

__all__ = ["IPPacket"]


class IPPacket:
    """The addresses, ports and protocols of one link-layer frame.

    Parameters
    ----------
    data : bytes
        The frame as captured (an Ethernet frame unless ``link_type`` says otherwise).
    link_type : int
        LINKTYPE_* value of the frame (1, Ethernet, by default).
    decapsulate : bool
        The IP attributes (addresses, ports, protocol, payload) describe the innermost IP
        packet reached through tunnels (VXLAN, GRE, Geneve, GTP-U, ...), as a read with
        ``decapsulate=True`` does; the ``outer_*`` attributes keep the outermost addresses.
        The MAC addresses and EtherType are the outer frame's either way.

    Frames that carry no IP packet have ``None`` for the IP attributes.
    """

    def __init__(self, data: bytes | bytearray | memoryview, link_type: int = 1, *, decapsulate: bool = False) -> None:
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
