"""Packet streams, as the old plugin's documentation names them: a source of packets that
``to_dataframe`` turns into rows, ``n`` at a time or all at once."""

from __future__ import annotations

from . import _native

__all__ = ["PacketStream", "OfflineStream", "LiveStream"]


def check_protocol(protocol):
    """Raise ValueError, listing the valid names, unless ``protocol`` is one (or None)."""
    if protocol is None:
        return
    names = _native.protocol_names()
    text = str(protocol).strip().lower()
    if text in names or (text.isdigit() and int(text) <= 255):
        return
    raise ValueError(
        f"unknown protocol {protocol!r}; valid names are: {', '.join(names)} (or a protocol number 0-255)"
    )


def live_capture_unavailable(interface):
    raise RuntimeError(
        f"live capture (interface={interface!r}) is not available in this version of "
        "intake-pcap: read capture files, or record one with tcpdump -w"
    )


class PacketStream:
    """Rows from a packet reader.

    Parameters
    ----------
    reader : intake_pcap._native.CaptureReader
        Where packets come from; the stream keeps reading it where it stopped.
    protocol : str or None
        Keep only packets whose IP header chain contains this protocol.
    payload : bool
        Include the ``payload`` column.
    errors : {"warn", "raise", "ignore"}
        Whether a capture cut short is reported as a warning (the reader raises for "raise").
    """

    def __init__(self, reader, protocol, payload, errors="warn"):
        self._reader = reader
        self._payload = bool(payload)
        self._errors = errors
        self.set_filter(protocol)

    @property
    def dtype(self):
        """Column name to pandas dtype name, in column order."""
        from ._read import dtypes

        return dtypes(self._payload)

    def set_filter(self, protocol):
        """Filters all IP traffic except packets matching given protocol.

        Parameters
        ----------
        protocol : str
            Show only traffic for given IP protocol: icmp, icmp6, igmp, igrp, pim, ah, esp,
            vrrp, udp, tcp, or any other name of the ``protocol`` column. If None, all
            traffic is shown.
        """
        check_protocol(protocol)
        self._protocol = protocol
        self._reader.set_protocol(None if protocol is None else str(protocol))

    def to_dataframe(self, n=-1):
        """The next ``n`` IP packets as a DataFrame (all that remain when ``n < 0``)."""
        from ._read import read_table, to_pandas, warn_incomplete

        table = read_table(self._reader, None if n is None or n < 0 else int(n))
        warn_incomplete(self._reader, self._errors)
        return to_pandas(table)


class OfflineStream(PacketStream):
    """Packets from a capture file (pcap or pcapng, gzip-compressed or not).

    Parameters
    ----------
    path : str
        Path of the capture file.
    protocol : str, optional
        Keep only packets of this protocol (see :meth:`PacketStream.set_filter`).
    payload : bool
        Include the ``payload`` column.
    errors : {"warn", "raise", "ignore"}
        What to do when the file ends inside a record.
    """

    def __init__(self, path, protocol=None, payload=False, errors="warn"):
        from ._read import open_reader

        super().__init__(open_reader(path, None, payload, errors), protocol, payload, errors)

    def close(self):
        """Release the file."""
        self._reader.close()


class LiveStream(PacketStream):
    """Packets from a network interface (not available in this version).

    Parameters
    ----------
    interface : str
        Network interface from which to capture packets.
    protocol : str, optional
        Keep only packets of this protocol.
    payload : bool
        Include the ``payload`` column.
    max_packet : int
        Snap length: the most bytes kept of each packet.
    timeout : int
        Read timeout in milliseconds.
    """

    def __init__(self, interface, protocol=None, payload=False, max_packet=65536, timeout=1000):
        live_capture_unavailable(interface)
