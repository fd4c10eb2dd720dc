//! The outermost IP header and what follows it: IPv4 (with AH) and IPv6 (every extension
//! header, AH, fragments), then the ports of TCP/UDP and where the payload starts.
//! All offsets are into the record's captured bytes; nothing is read past them.

use std::ops::Range;

use crate::link::{IpVersion, LinkInfo};

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_FRAGMENT: u8 = 44;
pub const PROTO_AH: u8 = 51;
pub const PROTO_ICMPV6: u8 = 58;
const PROTO_HOPOPT: u8 = 0;
const PROTO_ROUTING: u8 = 43;
const PROTO_DSTOPTS: u8 = 60;

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

#[inline]
fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

/// Decode the IP header at `link.ip_offset`. `None` when too little was captured to name
/// both addresses, or the header is impossible (IPv4 header length below 20, total length
/// below the header): such packets have no row, as in Wireshark.
pub fn decode(d: &[u8], link: &LinkInfo, wire_len: u32) -> Option<IpPacket> {
    decode_with(d, link, wire_len, true)
}

/// `decode`, reading the ports and the payload's bounds only when `transport` is set
/// (a read whose columns need neither leaves them `None` and empty).
#[inline]
pub fn decode_with(d: &[u8], link: &LinkInfo, wire_len: u32, transport: bool) -> Option<IpPacket> {
    let at = link.ip_offset;
    // The version nibble must agree with what the link layer announced: a frame that says
    // IPv4 but holds a version-6 header (or the reverse) is a bogus IP header to Wireshark,
    // which names no addresses for it, so it has no row.
    let limit = link.ip_limit.unwrap_or(usize::MAX);
    match (d.get(at)? >> 4, link.version) {
        (4, IpVersion::V4) => decode_v4(d, at, wire_len, limit, transport),
        (6, IpVersion::V6) => decode_v6(d, at, wire_len, limit, transport),
        _ => None,
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
) -> Option<IpPacket> {
    let h = d.get(at..at + 20)?;
    let ihl = (h[0] & 0x0f) as usize * 4;
    let total = u16::from_be_bytes([h[2], h[3]]) as usize;
    if ihl < 20 || (total != 0 && total < ihl) {
        return None;
    }
    let frag = u16::from_be_bytes([h[6], h[7]]);
    let mut p = IpPacket {
        version: IpVersion::V4,
        src: Addr::V4([h[12], h[13], h[14], h[15]]),
        dst: Addr::V4([h[16], h[17], h[18], h[19]]),
        ip_proto: h[9],
        protocol: h[9],
        chain: ProtoSet::default(),
        src_port: None,
        dst_port: None,
        ttl: h[8],
        fragment_offset: (frag & 0x1fff) * 8,
        more_fragments: frag & 0x2000 != 0,
        first_fragment: frag & 0x1fff == 0,
        ident: Some(u16::from_be_bytes([h[4], h[5]]) as u32),
        tos: h[1],
        end: 0,
        transport_offset: at + ihl,
        payload: 0..0,
    };
    let end = ip_end(d, at, total, wire_len, limit);
    p.end = end;
    p.chain.insert(p.protocol);
    let first_fragment = p.fragment_offset == 0;
    // AH authenticates what follows; the protocol of interest is behind it.
    let mut t = at + ihl;
    let mut hops = 0;
    while first_fragment && p.protocol == PROTO_AH && hops < 8 {
        let (Some(&next), Some(&len)) = (d.get(t).filter(|_| t < end), d.get(t + 1)) else {
            break;
        };
        p.protocol = next;
        p.chain.insert(next);
        t += (len as usize + 2) * 4;
        hops += 1;
    }
    p.transport_offset = t;
    p.first_fragment = first_fragment;
    if transport {
        finish(d, &mut p, t, end, first_fragment);
    }
    Some(p)
}

fn decode_v6(
    d: &[u8],
    at: usize,
    wire_len: u32,
    limit: usize,
    transport: bool,
) -> Option<IpPacket> {
    let h = d.get(at..at + 40)?;
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&h[8..24]);
    dst.copy_from_slice(&h[24..40]);
    let stated = u16::from_be_bytes([h[4], h[5]]) as usize;
    let mut p = IpPacket {
        version: IpVersion::V6,
        src: Addr::V6(src),
        dst: Addr::V6(dst),
        ip_proto: h[6],
        protocol: h[6],
        chain: ProtoSet::default(),
        src_port: None,
        dst_port: None,
        ttl: h[7],
        fragment_offset: 0,
        more_fragments: false,
        first_fragment: true,
        ident: None,
        tos: (h[0] << 4) | (h[1] >> 4),
        end: 0,
        transport_offset: at + 40,
        payload: 0..0,
    };
    let end = ip_end(
        d,
        at,
        if stated == 0 { 0 } else { stated + 40 },
        wire_len,
        limit,
    );
    p.end = end;
    p.chain.insert(p.protocol);
    let mut t = at + 40;
    let mut first_fragment = true;
    // Each extension header is at least 8 bytes, so the chain ends within the packet;
    // the count bound only guards against a zero-progress loop.
    for _ in 0..=u16::MAX {
        let header = p.protocol;
        let len = match header {
            PROTO_HOPOPT | PROTO_ROUTING | PROTO_DSTOPTS => {
                d.get(t + 1).map(|&l| (l as usize + 1) * 8)
            }
            PROTO_AH => d.get(t + 1).map(|&l| (l as usize + 2) * 4),
            PROTO_FRAGMENT => Some(8),
            _ => break,
        };
        let (Some(len), Some(&next)) = (len, d.get(t)) else {
            break;
        };
        if t >= end {
            break;
        }
        if header == PROTO_FRAGMENT {
            // Followed only when all 8 bytes were captured, as Wireshark does.
            if d.len() < t + 8 {
                break;
            }
            let Some(off) = be16(d, t + 2) else { break };
            if p.ident.is_none() {
                p.fragment_offset = off & 0xfff8;
                p.more_fragments = off & 1 != 0;
                p.ident = Some(u32::from_be_bytes([d[t + 4], d[t + 5], d[t + 6], d[t + 7]]));
            }
            first_fragment = off & 0xfff8 == 0;
        }
        p.protocol = next;
        p.chain.insert(next);
        t += len;
        if !first_fragment {
            break;
        }
    }
    p.transport_offset = t;
    p.first_fragment = first_fragment;
    if transport {
        finish(d, &mut p, t, end, first_fragment);
    }
    Some(p)
}

/// Ports and payload, given where the chain ended.
fn finish(d: &[u8], p: &mut IpPacket, t: usize, end: usize, first_fragment: bool) {
    let mut start = t;
    if first_fragment {
        match p.protocol {
            PROTO_TCP | PROTO_UDP if t + 4 <= end => {
                p.src_port = be16(d, t);
                p.dst_port = be16(d, t + 2);
                start = match p.protocol {
                    PROTO_TCP => {
                        t + d
                            .get(t + 12)
                            .map_or(20, |&b| ((b >> 4) as usize * 4).max(20))
                    }
                    _ => t + 8,
                };
            }
            PROTO_ICMP | PROTO_ICMPV6 => start = t + 8,
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
        let mut pkt = v4(PROTO_TCP, 0, &tcp);
        pkt.extend_from_slice(&[0; 6]); // Ethernet padding beyond the IP length
        let p = decode(&pkt, &link(IpVersion::V4), pkt.len() as u32).unwrap();
        assert_eq!((p.src_port, p.dst_port), (Some(443), Some(49152)));
        assert_eq!(&pkt[p.payload.clone()], b"hello");
        assert_eq!(p.src.to_string(), "10.0.0.1");
    }

    #[test]
    fn later_fragments_have_no_ports() {
        let pkt = v4(PROTO_UDP, 185, &[0, 53, 0, 53, 0, 0, 0, 0]);
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
        assert_eq!(p.protocol, PROTO_UDP);
        assert_eq!((p.src_port, p.dst_port), (Some(0x1234), Some(53)));
        assert!(p.chain.contains(PROTO_FRAGMENT) && p.chain.contains(0));
        assert_eq!(p.src.to_string(), "2001:db8::1");
    }

    #[test]
    fn truncated_headers_yield_nothing_rather_than_garbage() {
        let pkt = v4(PROTO_TCP, 0, &[0x01, 0xbb]);
        let p = decode(&pkt, &link(IpVersion::V4), 60).unwrap();
        assert_eq!(p.src_port, None);
        assert!(decode(&pkt[..19], &link(IpVersion::V4), 60).is_none());
        let mut bad = pkt.clone();
        bad[0] = 0x44; // header length 16
        assert!(decode(&bad, &link(IpVersion::V4), 60).is_none());
    }
}
