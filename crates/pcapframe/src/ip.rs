//! The outermost IP header and what follows it: IPv4 (with AH) and IPv6 (every extension
//! header, AH, fragments), then the ports of TCP/UDP and where the payload starts.
//! All offsets are into the record's captured bytes; nothing is read past them.

use std::ops::Range;

use crate::link::{IpVersion, LinkInfo};
use crate::wire::icmp::IcmpHeader;
use crate::wire::ip_protocol::{AH, FRAGMENT, ICMP, ICMPV6, TCP, UDP};
use crate::wire::ipv4::Ipv4Header;
use crate::wire::ipv6::{is_extension, ExtensionHeader, FragmentHeader, Ipv6Header};
use crate::wire::rest;
use crate::wire::tcp::TcpHeader;
use crate::wire::udp::UdpHeader;

/// An IP address as its bytes; formatted only when a dictionary meets it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Addr {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // std's formatting is RFC 5952 for IPv6 (and writes mapped addresses as ::ffff:a.b.c.d).
        match *self {
            Addr::V4(a) => std::net::Ipv4Addr::from(a).fmt(f),
            Addr::V6(a) => std::net::Ipv6Addr::from(a).fmt(f),
        }
    }
}

impl Addr {
    /// The address as a number, with whether it is IPv6: ordered as the bytes are, every
    /// IPv4 address before every IPv6 one (Community ID's order). Compared as integers,
    /// not arrays: building 16-byte arrays to compare stalled each packet of a flow read
    /// on memory (a store the load after it could not forward).
    #[inline]
    pub fn ordinal(&self) -> (bool, u128) {
        match *self {
            Addr::V4(b) => (false, u32::from_be_bytes(b) as u128),
            Addr::V6(b) => (true, u128::from_be_bytes(b)),
        }
    }

    /// Append the address as text to `out`, byte for byte what `Display` writes (dotted
    /// decimal; RFC 5952 for IPv6, mapped addresses as `::ffff:a.b.c.d`), without
    /// `core::fmt`: when every address is new (scans, backbone traffic, privacy addresses)
    /// `core::fmt` costs more than the rest of a row.
    pub fn push_text(&self, out: &mut Vec<u8>) {
        match self {
            Addr::V4(a) => push_dotted_quad(out, *a),
            Addr::V6(a) => push_v6(out, a),
        }
    }
}

fn push_dotted_quad(out: &mut Vec<u8>, a: [u8; 4]) {
    for (i, &b) in a.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        if b >= 100 {
            out.push(b'0' + b / 100);
        }
        if b >= 10 {
            out.push(b'0' + b / 10 % 10);
        }
        out.push(b'0' + b % 10);
    }
}

fn push_v6(out: &mut Vec<u8>, a: &[u8; 16]) {
    if a[..10] == [0; 10] && a[10] == 0xff && a[11] == 0xff {
        out.extend_from_slice(b"::ffff:");
        return push_dotted_quad(out, [a[12], a[13], a[14], a[15]]);
    }
    let groups: [u16; 8] = std::array::from_fn(|i| u16::from_be_bytes([a[2 * i], a[2 * i + 1]]));
    // The longest run of zero groups (the first of equals), shortened to "::" if longer
    // than one group.
    let (mut best, mut best_len, mut run) = (0, 0, 0);
    for (i, &g) in groups.iter().enumerate() {
        run = if g == 0 { run + 1 } else { 0 };
        if run > best_len {
            (best, best_len) = (i + 1 - run, run);
        }
    }
    let push_groups = |out: &mut Vec<u8>, groups: &[u16]| {
        for (i, &g) in groups.iter().enumerate() {
            if i > 0 {
                out.push(b':');
            }
            push_hex(out, g);
        }
    };
    if best_len > 1 {
        push_groups(out, &groups[..best]);
        out.extend_from_slice(b"::");
        push_groups(out, &groups[best + best_len..]);
    } else {
        push_groups(out, &groups);
    }
}

/// `g` in lowercase hexadecimal without leading zeros.
fn push_hex(out: &mut Vec<u8>, g: u16) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits = (16 - g.leading_zeros()).div_ceil(4).max(1);
    for shift in (0..digits).rev() {
        out.push(DIGITS[(g >> (4 * shift)) as usize & 15]);
    }
}

/// The set of protocol numbers met along the IP header chain, for `protocol=` filtering.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProtoSet([u64; 4]);

impl ProtoSet {
    #[inline]
    pub fn insert(&mut self, p: u8) {
        self.0[(p >> 6) as usize] |= 1 << (p & 63);
    }
    #[inline]
    pub fn contains(&self, p: u8) -> bool {
        self.0[(p >> 6) as usize] & (1 << (p & 63)) != 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpPacket {
    pub version: IpVersion,
    /// Where the IP header starts in the record's bytes.
    pub start: usize,
    pub src: Addr,
    pub dst: Addr,
    /// The outer header's protocol / next-header field.
    pub ip_proto: u8,
    /// The protocol reached after IPv6 extension headers and AH.
    pub protocol: u8,
    pub chain: ProtoSet,
    /// TCP/UDP ports, when the transport header follows the chain and its first 4 bytes
    /// were captured; `None` for non-first fragments and other protocols.
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// Fragment offset in bytes and the more-fragments flag (IPv4 header or IPv6 fragment header).
    pub fragment_offset: u16,
    pub more_fragments: bool,
    /// False for a non-first fragment: what follows the chain is not a transport header.
    pub first_fragment: bool,
    /// IPv4 identification, or the identification of the first IPv6 fragment header followed.
    pub ident: Option<u32>,
    /// IPv4 type of service or IPv6 traffic class (DSCP and ECN).
    pub tos: u8,
    /// End of the IP packet within the captured bytes (its stated length, or what was captured).
    pub end: usize,
    /// Where the transport header starts (after the whole chain).
    pub transport_offset: usize,
    /// The bytes after the transport header (or after the chain), within the IP length
    /// and the captured bytes.
    pub payload: Range<usize>,
}

impl IpPacket {
    /// The TCP header, when the header chain ended at one in a first fragment: a view
    /// over `d` (the record's bytes) up to the end of the IP packet.
    pub fn tcp<'a>(&self, d: &'a [u8]) -> Option<TcpHeader<'a>> {
        (self.first_fragment && self.protocol == TCP)
            .then(|| TcpHeader::new(self.transport_bytes(d)))
    }

    /// The ICMP or ICMPv6 header, as `tcp` finds TCP's.
    pub fn icmp<'a>(&self, d: &'a [u8]) -> Option<IcmpHeader<'a>> {
        (self.first_fragment && matches!(self.protocol, ICMP | ICMPV6))
            .then(|| IcmpHeader::new(self.transport_bytes(d)))
    }

    fn transport_bytes<'a>(&self, d: &'a [u8]) -> &'a [u8] {
        d.get(self.transport_offset..self.end).unwrap_or(&[])
    }
}

/// Decode the IP header at `link.ip_offset`. `None` when too little was captured to name
/// both addresses, or the header is impossible (IPv4 header length below 20, total length
/// below the header): such packets have no row, as in Wireshark.
pub fn decode(d: &[u8], link: &LinkInfo, wire_len: u32) -> Option<IpPacket> {
    decode_with(d, link, wire_len, true)
}

impl IpPacket {
    /// A packet of no bytes, for a slot that `decode_into` fills.
    pub fn placeholder() -> Self {
        IpPacket {
            version: IpVersion::V4,
            start: 0,
            src: Addr::V4([0; 4]),
            dst: Addr::V4([0; 4]),
            ip_proto: 0,
            protocol: 0,
            chain: ProtoSet::default(),
            src_port: None,
            dst_port: None,
            ttl: 0,
            fragment_offset: 0,
            more_fragments: false,
            first_fragment: true,
            ident: None,
            tos: 0,
            end: 0,
            transport_offset: 0,
            payload: 0..0,
        }
    }
}

/// `decode`, reading the ports and the payload's bounds only when `transport` is set
/// (a read whose columns need neither leaves them `None` and empty).
#[inline]
pub fn decode_with(d: &[u8], link: &LinkInfo, wire_len: u32, transport: bool) -> Option<IpPacket> {
    let mut p = IpPacket::placeholder();
    decode_into(d, link, wire_len, transport, &mut p).then_some(p)
}

/// `decode_with`, into `out` (false, and `out` unspecified, when there is no packet): the
/// per-record loop keeps one slot rather than moving a packet out of every call.
#[inline]
pub fn decode_into(
    d: &[u8],
    link: &LinkInfo,
    wire_len: u32,
    transport: bool,
    out: &mut IpPacket,
) -> bool {
    let at = link.ip_offset;
    // The version nibble must agree with what the link layer announced: a frame that says
    // IPv4 but holds a version-6 header (or the reverse) is a bogus IP header to Wireshark,
    // which names no addresses for it, so it has no row.
    let limit = link.ip_limit.unwrap_or(usize::MAX);
    match (d.get(at).map(|b| b >> 4), link.version) {
        (Some(4), IpVersion::V4) => decode_v4(d, at, wire_len, limit, transport, out),
        (Some(6), IpVersion::V6) => decode_v6(d, at, wire_len, limit, transport, out),
        _ => false,
    }
}

/// The end of the IP packet in captured bytes: its stated length, or what the wire held
/// when the length field is 0 (TSO captures, jumbograms); never past the link layer's own
/// length for its payload (`limit`: PPPoE's), as Wireshark bounds it.
#[inline]
fn ip_end(d: &[u8], at: usize, stated: usize, wire_len: u32, limit: usize) -> usize {
    let end = if stated == 0 {
        (wire_len as usize).max(at)
    } else {
        at + stated
    };
    end.min(d.len()).min(limit.max(at))
}

fn decode_v4(
    d: &[u8],
    at: usize,
    wire_len: u32,
    limit: usize,
    transport: bool,
    p: &mut IpPacket,
) -> bool {
    let Some(h) = Ipv4Header::new(rest(d, at)) else {
        return false;
    };
    let ihl = h.header_len();
    let total = h.total_len() as usize;
    if ihl < Ipv4Header::MIN_LEN || (total != 0 && total < ihl) {
        return false;
    }
    let end = ip_end(d, at, total, wire_len, limit);
    *p = IpPacket {
        version: IpVersion::V4,
        start: at,
        src: Addr::V4(h.source()),
        dst: Addr::V4(h.destination()),
        ip_proto: h.protocol(),
        protocol: h.protocol(),
        chain: ProtoSet::default(),
        src_port: None,
        dst_port: None,
        ttl: h.ttl(),
        fragment_offset: h.fragment_offset(),
        more_fragments: h.more_fragments(),
        first_fragment: h.fragment_offset() == 0,
        ident: Some(h.ident() as u32),
        tos: h.tos(),
        end,
        transport_offset: at + ihl,
        payload: 0..0,
    };
    p.chain.insert(p.protocol);
    // AH authenticates what follows; the protocol of interest is behind it.
    let mut t = at + ihl;
    let mut hops = 0;
    while p.first_fragment && p.protocol == AH && hops < 8 && t < end {
        let ah = ExtensionHeader::new(rest(d, t), AH);
        let (Some(next), Some(len)) = (ah.next_header(), ah.header_len()) else {
            break;
        };
        p.protocol = next;
        p.chain.insert(next);
        t += len;
        hops += 1;
    }
    p.transport_offset = t;
    if transport {
        finish(d, p);
    }
    true
}

fn decode_v6(
    d: &[u8],
    at: usize,
    wire_len: u32,
    limit: usize,
    transport: bool,
    p: &mut IpPacket,
) -> bool {
    let Some(h) = Ipv6Header::new(rest(d, at)) else {
        return false;
    };
    let stated = h.payload_len() as usize;
    let end = ip_end(
        d,
        at,
        if stated == 0 {
            0
        } else {
            stated + Ipv6Header::LEN
        },
        wire_len,
        limit,
    );
    *p = IpPacket {
        version: IpVersion::V6,
        start: at,
        src: Addr::V6(h.source()),
        dst: Addr::V6(h.destination()),
        ip_proto: h.next_header(),
        protocol: h.next_header(),
        chain: ProtoSet::default(),
        src_port: None,
        dst_port: None,
        ttl: h.hop_limit(),
        fragment_offset: 0,
        more_fragments: false,
        first_fragment: true,
        ident: None,
        tos: h.traffic_class(),
        end,
        transport_offset: at + Ipv6Header::LEN,
        payload: 0..0,
    };
    p.chain.insert(p.protocol);
    let mut t = at + Ipv6Header::LEN;
    // Each extension header is at least 8 bytes, so the chain ends within the packet;
    // the count bound only guards against a zero-progress loop.
    for _ in 0..=u16::MAX {
        if !is_extension(p.protocol) || t >= end {
            break;
        }
        let header = ExtensionHeader::new(rest(d, t), p.protocol);
        let (Some(len), Some(next)) = (header.header_len(), header.next_header()) else {
            break;
        };
        if p.protocol == FRAGMENT {
            // Followed only when all 8 bytes were captured, as Wireshark does.
            let Some(fragment) = FragmentHeader::new(rest(d, t)) else {
                break;
            };
            if p.ident.is_none() {
                p.fragment_offset = fragment.fragment_offset();
                p.more_fragments = fragment.more_fragments();
                p.ident = Some(fragment.ident());
            }
            p.first_fragment = fragment.fragment_offset() == 0;
        }
        p.protocol = next;
        p.chain.insert(next);
        t += len;
        if !p.first_fragment {
            break;
        }
    }
    p.transport_offset = t;
    if transport {
        finish(d, p);
    }
    true
}

/// Ports and payload, given where the header chain ended.
fn finish(d: &[u8], p: &mut IpPacket) {
    let (t, end) = (p.transport_offset, p.end);
    let mut start = t;
    if p.first_fragment {
        let header = d.get(t..end).unwrap_or(&[]);
        match p.protocol {
            TCP | UDP if header.len() >= 4 => {
                let udp = UdpHeader::new(header); // TCP's ports are where UDP's are
                p.src_port = udp.src_port();
                p.dst_port = udp.dst_port();
                start = match p.protocol {
                    // The data offset as far as captured (past `end` too, as before).
                    TCP => {
                        t + TcpHeader::new(rest(d, t))
                            .header_len()
                            .unwrap_or(TcpHeader::MIN_LEN)
                    }
                    _ => t + UdpHeader::LEN,
                };
            }
            ICMP | ICMPV6 => start = t + IcmpHeader::LEN,
            _ => {}
        }
    }
    p.payload = start.min(end)..end.max(start.min(end));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(addr: Addr) -> String {
        let mut out = Vec::new();
        addr.push_text(&mut out);
        String::from_utf8(out).expect("ASCII")
    }

    #[test]
    fn address_text_is_std_display_at_the_edges() {
        let cases: [[u8; 16]; 8] = [
            [0; 16],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 1],
            [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1],
            [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1],
            [
                0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x0a, 0xbc, 0, 0x0f, 0xf0, 0, 0, 0,
            ],
            [0xff; 16],
        ];
        for a in cases {
            assert_eq!(text(Addr::V6(a)), std::net::Ipv6Addr::from(a).to_string());
        }
        for a in [[0, 0, 0, 0], [255, 255, 255, 255], [10, 0, 100, 9]] {
            assert_eq!(text(Addr::V4(a)), std::net::Ipv4Addr::from(a).to_string());
        }
    }

    proptest! {
        /// Zero groups are drawn often, so runs of every length and position are met.
        #[test]
        fn v6_text_is_std_display(groups in proptest::collection::vec(
            prop_oneof![Just(0u16), Just(0xffff), 1u16..16, any::<u16>()], 8)) {
            let mut a = [0u8; 16];
            for (i, g) in groups.iter().enumerate() {
                a[2 * i..2 * i + 2].copy_from_slice(&g.to_be_bytes());
            }
            prop_assert_eq!(text(Addr::V6(a)), std::net::Ipv6Addr::from(a).to_string());
        }

        #[test]
        fn v4_text_is_std_display(a in any::<[u8; 4]>()) {
            prop_assert_eq!(text(Addr::V4(a)), std::net::Ipv4Addr::from(a).to_string());
        }
    }

    fn link(version: IpVersion) -> LinkInfo {
        LinkInfo {
            version,
            ip_offset: 0,
            ethernet_offset: None,
            vlan: None,
            macs: None,
            ip_limit: None,
        }
    }

    fn v4(proto: u8, frag: u16, rest: &[u8]) -> Vec<u8> {
        let total = (20 + rest.len()) as u16;
        let mut v = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            (frag >> 8) as u8,
            frag as u8,
            64,
            proto,
            0,
            0,
        ];
        v.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        v.extend_from_slice(rest);
        v
    }

    #[test]
    fn tcp_ports_and_payload_after_options() {
        let mut tcp = vec![
            0x01, 0xbb, 0xc0, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x60, 0x18, 0, 0, 0, 0, 0, 0,
        ];
        tcp.extend_from_slice(&[1, 1, 1, 1]); // 4 bytes of options: data offset 6
        tcp.extend_from_slice(b"hello");
        let mut pkt = v4(TCP, 0, &tcp);
        pkt.extend_from_slice(&[0; 6]); // Ethernet padding beyond the IP length
        let p = decode(&pkt, &link(IpVersion::V4), pkt.len() as u32).unwrap();
        assert_eq!((p.src_port, p.dst_port), (Some(443), Some(49152)));
        assert_eq!(&pkt[p.payload.clone()], b"hello");
        assert_eq!(p.src.to_string(), "10.0.0.1");
    }

    #[test]
    fn later_fragments_have_no_ports() {
        let pkt = v4(UDP, 185, &[0, 53, 0, 53, 0, 0, 0, 0]);
        let p = decode(&pkt, &link(IpVersion::V4), pkt.len() as u32).unwrap();
        assert_eq!(p.src_port, None);
        assert_eq!(p.fragment_offset, 185 * 8);
        assert_eq!(p.payload, 20..28);
    }

    #[test]
    fn ipv6_chain_to_udp_behind_hop_by_hop_and_fragment() {
        let mut pkt = vec![0x60, 0, 0, 0, 0, 24, 0, 64];
        pkt.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        pkt.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        pkt.extend_from_slice(&[44, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop -> fragment
        pkt.extend_from_slice(&[17, 0, 0, 1, 0, 0, 0, 7]); // fragment (offset 0, M) -> UDP
        pkt.extend_from_slice(&[0x12, 0x34, 0x00, 0x35, 0, 8, 0, 0]);
        let p = decode(&pkt, &link(IpVersion::V6), pkt.len() as u32).unwrap();
        assert_eq!(p.protocol, UDP);
        assert_eq!((p.src_port, p.dst_port), (Some(0x1234), Some(53)));
        assert!(p.chain.contains(FRAGMENT) && p.chain.contains(0));
        assert_eq!(p.src.to_string(), "2001:db8::1");
    }

    #[test]
    fn truncated_headers_yield_nothing_rather_than_garbage() {
        let pkt = v4(TCP, 0, &[0x01, 0xbb]);
        let p = decode(&pkt, &link(IpVersion::V4), 60).unwrap();
        assert_eq!(p.src_port, None);
        assert!(decode(&pkt[..19], &link(IpVersion::V4), 60).is_none());
        let mut bad = pkt.clone();
        bad[0] = 0x44; // header length 16
        assert!(decode(&bad, &link(IpVersion::V4), 60).is_none());
    }
}
