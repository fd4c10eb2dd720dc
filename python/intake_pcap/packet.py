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

    Frames that carry no IP packet have ``None`` for the IP attributes.
    """

    def __init__(self, data, link_type=1):
        self._data = bytes(data)
        self._fields = _native.decode_packet(self._data, link_type)

    @property
    def source_mac_address(self):
        """Source MAC address as ``aa:bb:cc:dd:ee:ff`` (Ethernet frames)."""
        return self._fields.get("source_mac_address")

    @property
    def destination_mac_address(self):
        """Destination MAC address as ``aa:bb:cc:dd:ee:ff`` (Ethernet frames)."""
        return self._fields.get("destination_mac_address")

    @property
    def ethernet_protocol(self):
        """The EtherType after any VLAN tags, as a number (0x0800 for IPv4)."""
        return self._fields.get("ethernet_protocol")

    @property
    def ip_protocol(self):
        """Name of the transport protocol (``tcp``, ``udp``, ``icmp``, ...)."""
        return self._fields.get("ip_protocol")

    @property
    def source_ip_address(self):
        return self._fields.get("source_ip_address")

    @property
    def destination_ip_address(self):
        return self._fields.get("destination_ip_address")

    @property
    def source_ip_port(self):
        """TCP/UDP source port, or None."""
        return self._fields.get("source_ip_port")

    @property
    def destination_ip_port(self):
        """TCP/UDP destination port, or None."""
        return self._fields.get("destination_ip_port")

    @property
    def payload(self):
        """The bytes after the transport header, as the ``payload`` column holds them."""
        start, end = self._fields.get("payload_offset"), self._fields.get("payload_end")
        return None if start is None else self._data[start:end]

    def __repr__(self):
        return (
            f"IPPacket({self.source_ip_address}:{self.source_ip_port} -> "
            f"{self.destination_ip_address}:{self.destination_ip_port} {self.ip_protocol})"
        )
