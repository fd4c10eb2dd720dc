#!/usr/bin/env python3
"""Write synthetic, deterministic packet captures (classic pcap, Ethernet).

The traffic is a realistic mix, interleaved between a handful of concurrent
conversations:

* TCP over IPv4 and IPv6: three-way handshake with SYN options, a request, data
  segments of a full MSS (1448 bytes with the timestamp option, 1460 without),
  delayed ACKs, FIN; also interactive sessions of small segments.  Port 443
  downloads start with a real TLS ClientHello (varied server names, cipher lists,
  ALPN, GREASE) answered by a ServerHello, then TLS-looking records; port 80 plain
  HTTP/1.1, port 22 random bytes;
* UDP: DNS queries and responses (real DNS messages), QUIC-like traffic on port
  443, NTP;
* ICMP and ICMPv6 echo request/reply (Linux ``ping`` payloads);
* some 802.1Q VLAN-tagged conversations, and ARP frames (not IP: readers skip them).

Every header is consistent: IPv4 IHL, total length and header checksum, IPv6
payload length, TCP data offset, UDP length, and TCP/UDP/ICMP checksums.  Frames
under 60 bytes received by the capturing host carry Ethernet padding.

The output depends only on the packet count and the seed: timestamps are integer
microseconds from 2024-01-01T00:00:00Z, and only exact random-number operations
are used (no wall clock, no floating-point transcendental functions).

Command line::

    python tools/synthcap.py OUT.pcap --packets N [--seed S]
    python tools/synthcap.py --sample   # (re)writes python/intake_pcap/data/sample.pcap

From Python: ``write_capture(path, packets, seed=1)`` and ``write_sample(path)``.
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
import time
from itertools import islice
from pathlib import Path
from typing import Callable, Iterator

REPO = Path(__file__).resolve().parent.parent
SAMPLE_PATH = REPO / "python" / "intake_pcap" / "data" / "sample.pcap"

VERSION = 2  # bump when the output for a given packet count and seed changes
EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z, seconds
LINKTYPE_ETHERNET = 1
SNAPLEN = 262_144

# pcap framing is little-endian; everything on the wire is big-endian.
GLOBAL_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)
RECORD = struct.Struct("<IIII")  # ts_sec, ts_usec, incl_len, orig_len
IPV4 = struct.Struct("!BBHHHBBH8s")  # ver/ihl, tos, total length, id, flags/frag, ttl, proto, csum, addrs
IPV6 = struct.Struct("!IHBB32s")  # ver/class/flow label, payload length, next header, hop limit, addrs
TCP = struct.Struct("!HHIIHHHH")  # ports, seq, ack, offset/flags, window, checksum, urgent
TCP_TS = struct.Struct("!HHII")  # NOP NOP, kind 8 len 10, TSval, TSecr
UDP = struct.Struct("!HHHH")  # ports, length, checksum
ICMP = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence

ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_ARP, ETHERTYPE_VLAN = 0x0800, 0x86DD, 0x0806, 0x8100
PROTO_ICMP, PROTO_TCP, PROTO_UDP, PROTO_ICMPV6 = 1, 6, 17, 58
FIN, SYN, PSH, ACK = 0x01, 0x02, 0x08, 0x10
ETH_MIN_FRAME = 60
ZEROS = bytes(ETH_MIN_FRAME)
EMPTY = b""

Frame = tuple[int, tuple[bytes, ...]]  # (frame length, the frame's pieces to write in order)


# --- checksums ------------------------------------------------------------------------

def ones_sum(data: bytes) -> int:
    """The Internet checksum's one's-complement sum of ``data``, reduced mod 0xffff.

    2**16 is 1 mod 0xffff, so a big-endian number is congruent to the sum of its
    16-bit words: one C-level conversion replaces a Python loop over the words.
    For the same reason a 32-bit field adds to a sum as it is (hi*65536 + lo = hi + lo).
    """
    if len(data) & 1:
        data += b"\0"
    return int.from_bytes(data, "big") % 0xFFFF


def fold(total: int) -> int:
    """The checksum field for a sum of words (0, not 0xffff, for a zero sum: RFC 1624)."""
    return (0xFFFF - total % 0xFFFF) % 0xFFFF


# --- payloads -------------------------------------------------------------------------

class Payloads:
    """Pre-built payload bytes with their checksum sums, reused across packets.

    ``get(kind, size)`` returns ``(bytes, ones_sum)``; each (kind, size) is built once
    in a few variants, so writing a packet never generates or sums payload bytes.
    """

    VARIANTS = 3

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.cache: dict[tuple[str, int], list[tuple[bytes, int]]] = {}
        self.makers: dict[str, Callable[[int], bytes]] = {
            "tls": self._tls,
            "random": self._random,
            "quic-long": self._quic_initial,
            "quic-short": lambda n: bytes([0x40 | self.rng.getrandbits(5)]) + self._random(n - 1),
        }

    def _random(self, n: int) -> bytes:
        return self.rng.randbytes(n)

    def _tls(self, n: int) -> bytes:
        """A TLS 1.2/1.3 application-data record header, then ciphertext-like bytes."""
        if n < 5:
            return self._random(n)
        return b"\x17\x03\x03" + (n - 5).to_bytes(2, "big") + self._random(n - 5)

    def _quic_initial(self, n: int) -> bytes:
        """A QUIC v1 Initial packet header (8-byte connection ids), then ciphertext-like bytes."""
        cids = b"\x08" + self._random(8) + b"\x08" + self._random(8)
        return b"\xc3\x00\x00\x00\x01" + cids + b"\x00" + (0x4000 | (n - 26)).to_bytes(2, "big") + self._random(n - 26)

    def get(self, kind: str, size: int) -> tuple[bytes, int]:
        variants = self.cache.get((kind, size))
        if variants is None:
            variants = []
            for _ in range(self.VARIANTS):
                data = self.makers[kind](size)
                variants.append((data, ones_sum(data)))
            self.cache[(kind, size)] = variants
        return variants[int(self.rng.random() * self.VARIANTS)]


def _extension(ty: int, data: bytes) -> bytes:
    return struct.pack("!HH", ty, len(data)) + data


def _handshake_record(kind: int, body: bytes) -> bytes:
    message = bytes([kind]) + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(message).to_bytes(2, "big") + message


# Cipher lists of a few client families (TLS 1.3 suites first, as browsers and curl send).
TLS_CIPHER_LISTS = [
    [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014, 0x009C, 0x009D,
     0x002F, 0x0035],
    [0x1302, 0x1303, 0x1301, 0xC02C, 0xC030, 0x009F, 0xCCA9, 0xCCA8, 0xCCAA, 0xC02B, 0xC02F, 0x009E],
    [0x1301, 0x1303, 0x1302, 0xC02B, 0xC02C, 0xCCA9],
]
TLS_ALPN = [[b"h2", b"http/1.1"], [b"http/1.1"], [b"h2"], []]


def client_hello(rng: random.Random, server_name: str) -> bytes:
    """A TLS 1.3 ClientHello record as clients write them: GREASE (sometimes), the server
    name, groups, point formats, signature algorithms, ALPN, supported versions and an
    X25519 key share."""
    grease = 0x0A0A + 0x1010 * rng.randrange(16) if rng.random() < 0.6 else None
    ciphers = list(rng.choice(TLS_CIPHER_LISTS))
    if grease is not None:
        ciphers.insert(0, grease)
    name = server_name.encode()
    exts = b""
    if grease is not None:
        exts += _extension(grease, b"")
    exts += _extension(0, struct.pack("!HBH", len(name) + 3, 0, len(name)) + name)
    exts += _extension(10, struct.pack("!HHHH", 6, 29, 23, 24))
    exts += _extension(11, b"\x01\x00")
    exts += _extension(13, struct.pack("!H", 8) + struct.pack("!HHHH", 0x0403, 0x0804, 0x0401, 0x0503))
    alpn = rng.choice(TLS_ALPN)
    if alpn:
        protocols = b"".join(bytes([len(a)]) + a for a in alpn)
        exts += _extension(16, struct.pack("!H", len(protocols)) + protocols)
    exts += _extension(43, b"\x04\x03\x04\x03\x03")
    exts += _extension(51, struct.pack("!HHH", 36, 29, 32) + rng.randbytes(32))
    body = (b"\x03\x03" + rng.randbytes(32) + b"\x20" + rng.randbytes(32)
            + struct.pack("!H", 2 * len(ciphers)) + b"".join(struct.pack("!H", c) for c in ciphers)
            + b"\x01\x00" + struct.pack("!H", len(exts)) + exts)
    return _handshake_record(1, body)


def server_hello(rng: random.Random) -> bytes:
    """A TLS 1.3 ServerHello record: TLS_AES_128_GCM_SHA256 and an X25519 key share."""
    exts = _extension(43, b"\x03\x04") + _extension(51, struct.pack("!HH", 29, 32) + rng.randbytes(32))
    body = (b"\x03\x03" + rng.randbytes(32) + b"\x20" + rng.randbytes(32) + b"\x13\x01\x00"
            + struct.pack("!H", len(exts)) + exts)
    return _handshake_record(2, body)


def dns_name(name: str) -> bytes:
    """A domain name in DNS wire format."""
    return b"".join(len(p).to_bytes(1, "big") + p.encode() for p in name.split(".")) + b"\0"


def dns_pair(rng: random.Random, name: str, ipv6: bool) -> tuple[bytes, bytes]:
    """A DNS query for ``name`` (A or AAAA, with an EDNS0 OPT record) and its response."""
    ident = rng.getrandbits(16)
    qtype = 28 if ipv6 else 1
    question = dns_name(name) + struct.pack("!HH", qtype, 1)
    opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0)
    query = struct.pack("!HHHHHH", ident, 0x0120, 1, 0, 0, 1) + question + opt
    answers = []
    for _ in range(1 + rng.randrange(3)):
        rdata = rng.randbytes(16) if ipv6 else rng.randbytes(4)
        answers.append(struct.pack("!HHHIH", 0xC00C, qtype, 1, 60 + rng.randrange(3600), len(rdata)) + rdata)
    response = (struct.pack("!HHHHHH", ident, 0x8180, 1, len(answers), 0, 1)
                + question + b"".join(answers) + opt)
    return query, response


DNS_LABELS = ["www", "api", "cdn", "mail", "static", "img", "login", "assets", "edge", "telemetry"]
DNS_DOMAINS = ["example.com", "example.org", "example.net", "shop.example", "news.example",
               "video.example", "cloud.example", "maps.example", "docs.example", "social.example"]


# --- addresses and directions --------------------------------------------------------

class Direction:
    """One direction of a conversation: Ethernet header and IP addresses, pre-built.

    Holds what every packet in that direction shares, so a packet costs a few
    ``struct.pack`` calls: the Ethernet (and VLAN) header, the packed address pair,
    the checksum sums of the constant IPv4 header words and of the pseudo-header
    addresses, the TTL / hop limit and the running IPv4 identification.
    """

    __slots__ = ("eth", "v6", "addrs", "ip_sum", "addr_sum", "ttl", "ident", "flow", "inbound")

    def __init__(self, rng: random.Random, src_mac: bytes, dst_mac: bytes, src: bytes, dst: bytes,
                 ttl: int, vlan: int | None, inbound: bool):
        self.v6 = len(src) == 16
        ethertype = ETHERTYPE_IPV6 if self.v6 else ETHERTYPE_IPV4
        tag = struct.pack("!HH", ETHERTYPE_VLAN, vlan) if vlan is not None else EMPTY
        self.eth = dst_mac + src_mac + tag + struct.pack("!H", ethertype)
        self.addrs = src + dst
        self.addr_sum = ones_sum(self.addrs)
        self.ttl = ttl
        self.inbound = inbound  # received by the capturing host: short frames are padded
        self.ident = rng.getrandbits(16)
        self.flow = 0x60000000 | rng.getrandbits(20)
        # Constant IPv4 header words: version/IHL/TOS, flags (DF), TTL/protocol (protocol added later).
        self.ip_sum = 0x4500 + 0x4000 + (ttl << 8) + self.addr_sum

    def packet(self, proto: int, header: bytes, payload: bytes, extra: bytes = EMPTY) -> Frame:
        """A frame carrying ``header + extra + payload`` as the IP payload."""
        length = len(header) + len(extra) + len(payload)
        if self.v6:
            ip = IPV6.pack(self.flow, length, proto, self.ttl, self.addrs)
        else:
            total = 20 + length
            self.ident = ident = (self.ident + 1) & 0xFFFF
            csum = fold(self.ip_sum + proto + total + ident)
            ip = IPV4.pack(0x45, 0, total, ident, 0x4000, self.ttl, proto, csum, self.addrs)
        size = len(self.eth) + len(ip) + length
        if size < ETH_MIN_FRAME and self.inbound:
            pad = ZEROS[: ETH_MIN_FRAME - size]
            return ETH_MIN_FRAME, (self.eth, ip, header, extra, payload, pad)
        return size, (self.eth, ip, header, extra, payload)


class Network:
    """The capturing host's LAN and the Internet hosts it talks to.

    The capture is taken on client machines behind one gateway: clients on
    192.168.1.0/24 and 2001:db8:1::/64, servers anywhere, chosen with a skew so that
    a few are popular and many are seen rarely (as in a real capture).
    """

    GATEWAY_MAC = bytes.fromhex("00005e0001fe")
    GATEWAY_V4 = bytes([192, 168, 1, 1])

    def __init__(self, rng: random.Random, servers: int = 1500, clients: int = 40):
        self.rng = rng
        self.clients_v4 = [bytes([192, 168, 1, 10 + i]) for i in range(clients)]
        self.clients_v6 = [bytes.fromhex("20010db8000100000000") + rng.randbytes(6) for _ in range(clients)]
        self.client_macs = [bytes([0x02, 0x42, 0xAC, 0x11, 0x00, 10 + i]) for i in range(clients)]
        self.servers_v4 = [self._public_v4() for _ in range(servers)]
        self.servers_v6 = [bytes.fromhex("20010db8") + rng.randbytes(4) + bytes(6) + rng.randbytes(2)
                           for _ in range(servers // 4)]
        self.resolver_v4 = bytes([192, 168, 1, 1])
        self.resolver_v6 = bytes.fromhex("20010db8000100000000000000000001")
        self.ntp_servers = self.servers_v4[:4]

    def _public_v4(self) -> bytes:
        while True:
            a = bytes([1 + self.rng.randrange(222), *self.rng.randbytes(3)])
            if a[0] not in (10, 127, 169, 172, 192) and a[3] not in (0, 255):
                return a

    def skewed(self, items: list):
        """An item, the first ones much more often than the last (about a power law)."""
        r = self.rng.random()
        return items[int(len(items) * r * r * r)]

    def client(self) -> int:
        return self.rng.randrange(len(self.clients_v4))

    def directions(self, client: int, server: bytes, vlan: int | None, hops: int | None = None,
                   local: bool = False) -> tuple[Direction, Direction]:
        """The (client -> server, server -> client) directions of one conversation."""
        rng = self.rng
        v6 = len(server) == 16
        src = self.clients_v6[client] if v6 else self.clients_v4[client]
        mac = self.client_macs[client]
        if hops is None:
            hops = 0 if local else 6 + rng.randrange(14)
        initial = 64 if rng.random() < 0.7 else (128 if not v6 else 64)
        out = Direction(rng, mac, self.GATEWAY_MAC, src, server, 64, vlan, inbound=False)
        back = Direction(rng, self.GATEWAY_MAC, mac, server, src, initial - hops, vlan, inbound=True)
        return out, back

    def ephemeral_port(self) -> int:
        return 32768 + self.rng.randrange(28232)


# --- conversations --------------------------------------------------------------------

class Clock:
    """Integer microseconds since the capture's epoch, advanced by the scheduler."""

    __slots__ = ("us",)

    def __init__(self) -> None:
        self.us = 0


class Tcp:
    """One TCP connection: sequence numbers, windows and timestamps for both sides."""

    SYN_OPTIONS_TS = struct.Struct("!HHHHIIHH")  # MSS, SACK_PERM, TS, NOP + window scale
    SYN_OPTIONS_PLAIN = bytes.fromhex("020405b4010303080101" "0402")  # MSS 1460, NOP WS, NOP NOP SACK_PERM

    def __init__(self, clock: Clock, rng: random.Random, out: Direction, back: Direction, sport: int, dport: int,
                 timestamps: bool):
        self.clock = clock
        self.paths = (out, back)
        self.ports = ((sport, dport), (dport, sport))
        self.seq = [rng.getrandbits(32), rng.getrandbits(32)]
        self.acked = [0, 0]  # what each side acknowledges (the other's next sequence number)
        self.window = (502 + rng.randrange(64), 501 + rng.randrange(2000))
        self.timestamps = timestamps
        self.mss = 1448 if timestamps else 1460
        self.ts_offset = (rng.getrandbits(32), rng.getrandbits(32))
        self.last_tsval = [0, 0]

    def send(self, side: int, flags: int, payload: tuple[bytes, int] = (EMPTY, 0)) -> Frame:
        """A segment from ``side`` (0 = client, 1 = server); ACK numbers follow the peer."""
        data, data_sum = payload
        path = self.paths[side]
        sport, dport = self.ports[side]
        seq = self.seq[side]
        ack = self.acked[side] if flags & ACK else 0
        window = 64240 if flags & SYN else self.window[side]
        extra, extra_sum = self._options(side, flags)
        offset_flags = ((20 + len(extra)) // 4) << 12 | flags
        length = 20 + len(extra) + len(data)
        total = (path.addr_sum + PROTO_TCP + length + sport + dport + seq + ack + offset_flags
                 + window + extra_sum + data_sum)
        header = TCP.pack(sport, dport, seq, ack, offset_flags, window, fold(total), 0)
        consumed = len(data) + (1 if flags & (SYN | FIN) else 0)
        self.seq[side] = (seq + consumed) & 0xFFFFFFFF
        self.acked[1 - side] = self.seq[side]
        return path.packet(PROTO_TCP, header, data, extra)

    def _options(self, side: int, flags: int) -> tuple[bytes, int]:
        """TCP options and their checksum sum: SYN options, else timestamps if negotiated."""
        if flags & SYN:
            if not self.timestamps:
                return self.SYN_OPTIONS_PLAIN, ones_sum(self.SYN_OPTIONS_PLAIN)
            tsval, tsecr = self._tsvals(side)
            return self.SYN_OPTIONS_TS.pack(0x0204, 1460, 0x0402, 0x080A, tsval, tsecr, 0x0103, 0x0307), \
                0x0204 + 1460 + 0x0402 + 0x080A + tsval + tsecr + 0x0103 + 0x0307
        if not self.timestamps:
            return EMPTY, 0
        tsval, tsecr = self._tsvals(side)
        return TCP_TS.pack(0x0101, 0x080A, tsval, tsecr), 0x0101 + 0x080A + tsval + tsecr

    def _tsvals(self, side: int) -> tuple[int, int]:
        tsval = (self.clock.us // 1000 + self.ts_offset[side]) & 0xFFFFFFFF
        self.last_tsval[side] = tsval
        return tsval, self.last_tsval[1 - side]

    def handshake(self) -> Iterator[Frame]:
        yield self.send(0, SYN)
        yield self.send(1, SYN | ACK)
        yield self.send(0, ACK)

    def close(self) -> Iterator[Frame]:
        yield self.send(0, FIN | ACK)
        yield self.send(1, FIN | ACK)
        yield self.send(0, ACK)


def udp(path: Direction, sport: int, dport: int, payload: tuple[bytes, int]) -> Frame:
    """A UDP datagram with its length and checksum."""
    data, data_sum = payload
    length = 8 + len(data)
    csum = fold(path.addr_sum + PROTO_UDP + length + sport + dport + length + data_sum) or 0xFFFF
    return path.packet(PROTO_UDP, UDP.pack(sport, dport, length, csum), data)


def echo(path: Direction, clock: Clock, request: bool, ident: int, seq: int) -> Frame:
    """An ICMP or ICMPv6 echo request/reply with a Linux ``ping`` payload (56 bytes)."""
    now = EPOCH * 1_000_000 + clock.us
    data = struct.pack("<QQ", now // 1_000_000, now % 1_000_000) + PING_PATTERN
    if path.v6:
        kind, proto = (128 if request else 129), PROTO_ICMPV6
        pseudo = path.addr_sum + PROTO_ICMPV6 + 8 + len(data)
    else:
        kind, proto, pseudo = (8 if request else 0), PROTO_ICMP, 0
    csum = fold(pseudo + (kind << 8) + ident + seq + ones_sum(data))
    return path.packet(proto, ICMP.pack(kind, 0, csum, ident, seq), data)


PING_PATTERN = bytes(range(0x10, 0x38))  # Linux ping fills the rest with 0x10, 0x11, ...


class Traffic:
    """The conversations a capture is made of, each a generator of frames.

    A conversation yields one frame per ``next()``; the scheduler sets the clock
    before asking, so time-dependent fields (TCP timestamps, ping payloads) agree
    with the record's timestamp.
    """

    def __init__(self, rng: random.Random, clock: Clock, vlan_share: float = 0.05):
        self.rng = rng
        self.clock = clock
        self.net = Network(rng)
        self.payloads = Payloads(rng)
        self.vlan_share = vlan_share
        self.dns_pool = [self._dns_entry(v6) for v6 in (False, True) for _ in range(128)]

    def _dns_entry(self, v6: bool):
        name = f"{self.rng.choice(DNS_LABELS)}.{self.rng.choice(DNS_DOMAINS)}"
        q, r = dns_pair(self.rng, name, v6)
        return v6, (q, ones_sum(q)), (r, ones_sum(r))

    def _vlan(self, force: bool = False) -> int | None:
        if force or self.rng.random() < self.vlan_share:
            return (10, 20, 100)[self.rng.randrange(3)]  # priority 0, VLAN id
        return None

    def _server(self, v6: bool) -> bytes:
        return self.net.skewed(self.net.servers_v6 if v6 else self.net.servers_v4)

    def _sizes(self, low: int, high: int) -> int:
        return low + self.rng.randrange(high - low + 1)

    # -- TCP --

    def tcp_download(self, v6: bool = False, segments: int | None = None, port: int = 443,
                     timestamps: bool | None = None, vlan: bool = False) -> Iterator[Frame]:
        """A request and a bulk response: full-MSS segments, an ACK every second segment."""
        rng, net = self.rng, self.net
        if timestamps is None:
            timestamps = rng.random() < 0.8
        if segments is None:
            r = rng.random()
            segments = (1 + rng.randrange(12) if r < 0.7 else
                        12 + rng.randrange(100) if r < 0.97 else 200 + rng.randrange(1000))
        out, back = net.directions(net.client(), self._server(v6), self._vlan(vlan))
        conn = Tcp(self.clock, rng, out, back, net.ephemeral_port(), port, timestamps)
        last = self._sizes(200, conn.mss)
        if port == 443:
            hello = client_hello(rng, f"{rng.choice(DNS_LABELS)}.{rng.choice(DNS_DOMAINS)}")
            request = (hello, ones_sum(hello))
            # The server's first segment starts with its ServerHello; the rest of the segment
            # is TLS-looking records.
            answer = server_hello(rng)
            rest = self.payloads.get("tls", max(5, (last if segments == 1 else conn.mss) - len(answer)))
            first = (answer + rest[0], ones_sum(answer + rest[0]))
        else:
            request, first = self._http(segments, conn.mss, last)
        yield from conn.handshake()
        yield conn.send(0, PSH | ACK, request)
        yield conn.send(1, ACK)
        for i in range(segments):
            final = i == segments - 1
            size = last if final else conn.mss
            data = first if i == 0 and first else self.payloads.get("tls" if port == 443 else "random", size)
            yield conn.send(1, (PSH | ACK) if final else ACK, data)
            if i % 2 == 1 or final:
                yield conn.send(0, ACK)
        yield from conn.close()

    def _http(self, segments: int, mss: int, last: int) -> tuple[tuple[bytes, int], tuple[bytes, int]]:
        """A plain HTTP/1.1 GET and the first segment of its response (headers, then body)."""
        rng = self.rng
        host = f"{rng.choice(DNS_LABELS)}.{rng.choice(DNS_DOMAINS)}"
        request = (f"GET /files/{rng.getrandbits(32):08x}.bin HTTP/1.1\r\nHost: {host}\r\n"
                   "User-Agent: synthcap/1.0\r\nAccept: */*\r\nConnection: close\r\n\r\n").encode()
        total = (segments - 1) * mss + last
        head = b""
        for _ in range(2):  # the header's length depends on the digits of Content-Length
            head = (f"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/octet-stream\r\n"
                    f"Content-Length: {total - len(head)}\r\nConnection: close\r\n\r\n").encode()
        first = head + rng.randbytes((mss if segments > 1 else last) - len(head))
        return (request, ones_sum(request)), (first, ones_sum(first))

    def tcp_interactive(self, v6: bool = False, rounds: int | None = None, port: int = 22,
                        vlan: bool = False) -> Iterator[Frame]:
        """Small request/response exchanges (a shell session, an API client)."""
        rng, net = self.rng, self.net
        rounds = rounds if rounds is not None else 3 + rng.randrange(40)
        out, back = net.directions(net.client(), self._server(v6), self._vlan(vlan))
        conn = Tcp(self.clock, rng, out, back, net.ephemeral_port(), port, rng.random() < 0.8)
        kind = "random" if port == 22 else "tls"
        yield from conn.handshake()
        for _ in range(rounds):
            yield conn.send(0, PSH | ACK, self.payloads.get(kind, 36 + 16 * rng.randrange(12)))
            yield conn.send(1, PSH | ACK, self.payloads.get(kind, 36 + 16 * rng.randrange(40)))
            if rng.random() < 0.5:
                yield conn.send(0, ACK)
        yield from conn.close()

    # -- UDP --

    def dns(self, v6: bool = False, vlan: bool = False) -> Iterator[Frame]:
        """A DNS lookup to the LAN resolver (A over IPv4, AAAA over IPv6)."""
        rng, net = self.rng, self.net
        _, query, response = self.dns_pool[(128 if v6 else 0) + rng.randrange(128)]
        resolver = net.resolver_v6 if v6 else net.resolver_v4
        out, back = net.directions(net.client(), resolver, self._vlan(vlan), local=True)
        port = net.ephemeral_port()
        yield udp(out, port, 53, query)
        yield udp(back, 53, port, response)

    def quic(self, v6: bool = False, packets: int | None = None) -> Iterator[Frame]:
        """QUIC-like UDP 443: long-header handshake, then short-header data and ACKs."""
        rng, net, get = self.rng, self.net, self.payloads.get
        packets = packets if packets is not None else 6 + rng.randrange(120)
        out, back = net.directions(net.client(), self._server(v6), self._vlan())
        port = net.ephemeral_port()
        full = 1232 if v6 else 1252
        yield udp(out, port, 443, get("quic-long", full))
        yield udp(back, 443, port, get("quic-long", full))
        yield udp(back, 443, port, get("quic-long", self._sizes(300, 1100)))
        for i in range(packets):
            if rng.random() < 0.7:
                yield udp(back, 443, port, get("quic-short", full if rng.random() < 0.7 else self._sizes(40, 900)))
            else:
                yield udp(out, port, 443, get("quic-short", self._sizes(30, 60)))

    def ntp(self) -> Iterator[Frame]:
        """An NTPv4 client request (mode 3) and the server's reply (mode 4)."""
        rng, net = self.rng, self.net
        out, back = net.directions(net.client(), self.net.ntp_servers[rng.randrange(4)], self._vlan())
        port = 123 if rng.random() < 0.5 else net.ephemeral_port()
        request = b"\x23" + bytes(39) + rng.randbytes(8)
        reply = b"\x24\x02\x00\xe7" + rng.randbytes(44)
        yield udp(out, port, 123, (request, ones_sum(request)))
        yield udp(back, 123, port, (reply, ones_sum(reply)))

    # -- ICMP, ARP --

    def ping(self, v6: bool = False, count: int | None = None) -> Iterator[Frame]:
        """``ping -c count``: echo requests and replies with one identifier."""
        rng, net = self.rng, self.net
        count = count if count is not None else 1 + rng.randrange(4)
        out, back = net.directions(net.client(), self._server(v6), self._vlan())
        ident = rng.getrandbits(16)
        for seq in range(1, count + 1):
            yield echo(out, self.clock, True, ident, seq)
            yield echo(back, self.clock, False, ident, seq)

    def arp(self) -> Iterator[Frame]:
        """An ARP request for the gateway (broadcast) and its reply (padded to 60 bytes)."""
        net = self.net
        i = net.client()
        mac, ip = net.client_macs[i], net.clients_v4[i]
        gw_mac, gw_ip = net.GATEWAY_MAC, net.GATEWAY_V4
        head = struct.pack("!HHBB", 1, ETHERTYPE_IPV4, 6, 4)
        arp_type = struct.pack("!H", ETHERTYPE_ARP)
        request = b"\xff" * 6 + mac + arp_type + head + b"\x00\x01" + mac + ip + bytes(6) + gw_ip
        reply = mac + gw_mac + arp_type + head + b"\x00\x02" + gw_mac + gw_ip + mac + ip
        yield len(request), (request,)
        yield ETH_MIN_FRAME, (reply, ZEROS[: ETH_MIN_FRAME - len(reply)])

    # -- mixes --

    def mixed(self) -> Iterator[Iterator[Frame]]:
        """Endless conversations in proportions that average about 550 bytes a packet."""
        rng = self.rng
        table = [
            (0.13, lambda: self.tcp_download(v6=rng.random() < 0.2, port=443 if rng.random() < 0.9 else 80)),
            (0.18, lambda: self.tcp_interactive(v6=rng.random() < 0.2, port=22 if rng.random() < 0.5 else 443)),
            (0.34, lambda: self.dns(v6=rng.random() < 0.25)),
            (0.05, lambda: self.quic(v6=rng.random() < 0.3)),
            (0.12, lambda: self.ntp()),
            (0.13, lambda: self.ping(v6=rng.random() < 0.2)),
            (0.05, lambda: self.arp()),
        ]
        while True:
            r = rng.random()
            for share, make in table:
                r -= share
                if r < 0:
                    break
            yield make()

    def sample(self) -> Iterator[Iterator[Frame]]:
        """A short, fixed scenario that shows every kind of packet at least once."""
        yield self.arp()
        yield self.dns()
        yield self.tcp_download(segments=5, timestamps=True)
        yield self.ping(count=2)
        yield self.dns(v6=True)
        yield self.tcp_download(v6=True, segments=3, timestamps=True)
        yield self.quic(packets=4)
        yield self.ntp()
        yield self.dns(vlan=True)
        yield self.tcp_interactive(rounds=4, vlan=True)
        yield self.tcp_download(segments=3, port=80, timestamps=False)
        yield self.ping(v6=True, count=1)
        yield self.quic(v6=True, packets=3)
        yield self.tcp_interactive(v6=True, rounds=3, port=443)
        yield self.dns()
        yield self.tcp_interactive(rounds=8, port=22)
        yield self.dns(v6=True)
        yield self.ping(count=3)
        yield self.tcp_download(segments=4, timestamps=True)
        yield self.arp()


# --- writing --------------------------------------------------------------------------

def frames(rng: random.Random, clock: Clock, conversations: Iterator[Iterator[Frame]],
           concurrency: int) -> Iterator[Frame]:
    """Interleave conversations: each frame comes from a random one of the open ones.

    The clock advances 1-64 microseconds per packet, now and then by more (a pause).
    Ends when ``conversations`` and every open conversation are exhausted.
    """
    open_: list[Iterator[Frame]] = []
    pending = True
    while True:
        while pending and len(open_) < concurrency:
            nxt = next(conversations, None)
            if nxt is None:
                pending = False
            else:
                open_.append(nxt)
        if not open_:
            return
        i = int(rng.random() * len(open_))
        r = rng.random()
        before = clock.us
        clock.us += 1 + int(r * 64) if r < 0.98 else 200 + int(r * 4000)
        frame = next(open_[i], None)
        if frame is None:  # that conversation is over: no packet, no time passed
            clock.us = before
            open_[i] = open_[-1]
            open_.pop()
            continue
        yield frame


def write_frames(path: str | Path, clock: Clock, stream: Iterator[Frame], limit: int | None) -> int:
    """Write the pcap: global header, then each frame with its record header. Returns packets."""
    chunk: list[bytes] = []
    count = 0
    pack = RECORD.pack
    with open(path, "wb") as fh:
        fh.write(GLOBAL_HEADER)
        for size, pieces in islice(stream, limit):
            us = clock.us
            chunk.append(pack(EPOCH + us // 1_000_000, us % 1_000_000, size, size))
            chunk.extend(pieces)
            count += 1
            if len(chunk) >= 200_000:
                fh.write(b"".join(chunk))
                chunk.clear()
        fh.write(b"".join(chunk))
    return count


def write_capture(path: str | Path, packets: int, seed: int = 1) -> int:
    """Write ``packets`` packets of mixed traffic to ``path``; same seed, same bytes."""
    rng = random.Random(seed)
    clock = Clock()
    traffic = Traffic(rng, clock)
    return write_frames(path, clock, frames(rng, clock, traffic.mixed(), concurrency=12), packets)


def write_sample(path: str | Path = SAMPLE_PATH, seed: int = 2024) -> int:
    """Write the small sample capture shipped with the package (every kind of packet)."""
    rng = random.Random(seed)
    clock = Clock()
    traffic = Traffic(rng, clock)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return write_frames(path, clock, frames(rng, clock, traffic.sample(), concurrency=3), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", help="output .pcap file")
    parser.add_argument("--packets", type=int, default=100_000, help="packets to write (default 100000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--sample", action="store_true", help=f"(re)write {SAMPLE_PATH.relative_to(REPO)}")
    args = parser.parse_args(argv)
    if args.sample == bool(args.out):
        parser.error("give either OUT.pcap or --sample")
    started = time.perf_counter()
    if args.sample:
        out = SAMPLE_PATH
        count = write_sample(out)
    else:
        out = Path(args.out)
        count = write_capture(out, args.packets, args.seed)
    elapsed = time.perf_counter() - started
    size = out.stat().st_size
    print(f"{out}: {count} packets, {size} bytes ({size / max(count, 1):.0f} B/packet) "
          f"in {elapsed:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
