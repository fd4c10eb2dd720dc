//! Tunnels, inside-out: from an IP packet to the IP packet it carries, through IP-in-IP,
//! GRE (keys, sequence numbers, checksums, Transparent Ethernet Bridging and NVGRE, PPTP's
//! PPP, MPLS, Cisco MetaData, ERSPAN types I, II and III), VXLAN, Geneve, GTP-U, Teredo,
//! L2TP (version 2 on UDP, version 3 on UDP or IP), MPLS in UDP, PIM registers and LISP.
//!
//! Each step reads one tunnel header with the `wire` views and says what it carries; the
//! walk stops at the first payload that is not a whole IP header (a tunnel carrying ARP, a
//! GRE keepalive, a header cut by the capture), so a row describes the last whole IP
//! header reached and `Tunnels` says how far the walk got. An ICMP error quoting an IP
//! header is not a tunnel: ICMP is never entered.
//!
//! UDP tunnels are recognised by port, as Wireshark does: the lower of the two ports first,
//! then the higher. Anyone can send a UDP datagram to port 4789, so what a decapsulated
//! row shows is what the datagram claims; `outer_src_host`/`outer_dst_host` say who sent it.

use crate::ip::{self, IpPacket};
use crate::link::{self, IpVersion, Link, LinkInfo};
use crate::wire::erspan::ErspanHeader;
use crate::wire::ethernet::{
    ETHERTYPE_CISCO_METADATA, ETHERTYPE_IPV4, ETHERTYPE_IPV6, MAX_802_3_LENGTH,
};
use crate::wire::geneve::{self, GeneveHeader};
use crate::wire::gre::{self, GreHeader};
use crate::wire::gtpu::{self, GtpuHeader};
use crate::wire::ip_protocol::{GRE, IPV4_IN_IP, IPV6_IN_IP, PIM, UDP};
use crate::wire::l2tp::{self, L2tpIpHeader, L2tpUdpHeader};
use crate::wire::udp::UdpHeader;
use crate::wire::vxlan::{self, VxlanHeader};
use crate::wire::{be16, rest, u8_at};

/// Tunnels followed into one packet before the walk stops (the row then describes the
/// IP header reached so far).
pub const MAX_TUNNELS: usize = 8;

/// UDP ports of tunnels without a `wire` module of their own.
pub const TEREDO_PORT: u16 = 3544;
pub const MPLS_UDP_PORT: u16 = 6635;
pub const LISP_DATA_PORT: u16 = 4341;
const LISP_HEADER_LEN: usize = 8;
/// PIM version 2, message type 1 (Register): 4 bytes of header, 4 of flags, then the packet.
const PIM_REGISTER: u8 = 0x21;
const PIM_REGISTER_LEN: usize = 8;
/// Teredo's optional headers before the IPv6 packet (RFC 4380 5.1.1).
const TEREDO_AUTHENTICATION: u16 = 0x0001;
const TEREDO_ORIGIN: u16 = 0x0000;
const TEREDO_ORIGIN_LEN: usize = 8;
/// The fixed part of Teredo's authentication header: indicator, two lengths, nonce, confirmation.
const TEREDO_AUTHENTICATION_FIXED: usize = 13;

/// One kind of tunnel header crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TunnelKind {
    /// IP directly in IP (protocols 4 and 41: 4in4, 6in4, 4in6, 6in6; IPsec tunnel mode).
    IpIp = 1,
    Gre,
    /// ERSPAN, inside GRE (types I, II and III).
    Erspan,
    Vxlan,
    Geneve,
    GtpU,
    Teredo,
    /// L2TP version 2 (PPP) or 3 (Ethernet).
    L2tp,
    /// MPLS in UDP (RFC 7510).
    MplsUdp,
    /// A PIM Register message.
    Pim,
    /// LISP data (UDP 4341).
    Lisp,
}

impl TunnelKind {
    pub fn name(self) -> &'static str {
        use TunnelKind::*;
        match self {
            IpIp => "ipip",
            Gre => "gre",
            Erspan => "erspan",
            Vxlan => "vxlan",
            Geneve => "geneve",
            GtpU => "gtp-u",
            Teredo => "teredo",
            L2tp => "l2tp",
            MplsUdp => "mpls-udp",
            Pim => "pim",
            Lisp => "lisp",
        }
    }
}

/// The tunnels crossed in one packet, outermost first, and the innermost one's identifier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tunnels {
    kinds: [Option<TunnelKind>; MAX_TUNNELS + 1],
    len: u8,
    id: Option<u32>,
}

impl Tunnels {
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn kinds(&self) -> impl Iterator<Item = TunnelKind> + '_ {
        self.kinds[..self.len as usize].iter().flatten().copied()
    }

    /// The innermost tunnel's identifier (VXLAN/Geneve VNI, GTP-U TEID, GRE key, ERSPAN
    /// session, L2TP session), `None` when it has none.
    pub fn id(&self) -> Option<u32> {
        self.id
    }

    /// The chain as text, outermost first: `vxlan`, `gre/erspan`, `gtp-u/ipip`.
    pub fn name(&self) -> String {
        let mut out = String::new();
        for (i, kind) in self.kinds().enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(kind.name());
        }
        out
    }

    /// The chain as one number, 4 bits a kind (a dictionary's key for the `tunnel` column).
    pub fn code(&self) -> u64 {
        self.kinds().fold(0, |code, k| code << 4 | k as u64)
    }

    fn push(&mut self, kind: TunnelKind, id: Option<u32>) {
        if (self.len as usize) < self.kinds.len() {
            self.kinds[self.len as usize] = Some(kind);
            self.len += 1;
        }
        self.id = id;
    }
}

/// What one tunnel header carries.
struct Step {
    kind: TunnelKind,
    id: Option<u32>,
    /// A second header inside the first (ERSPAN inside GRE), with its own identifier.
    then: Option<(TunnelKind, Option<u32>)>,
    inner: Link,
}

impl Step {
    fn new(kind: TunnelKind, id: Option<u32>, inner: Link) -> Option<Step> {
        Some(Step {
            kind,
            id,
            then: None,
            inner,
        })
    }
}

/// Walk the tunnels inside `outer` (the record's outermost IP packet, in `d`). Returns the
/// tunnels crossed and the innermost whole IP packet reached through them (`None` when no
/// tunnel carried one); inner packets are decoded with ports and payload bounds only when
/// `transport` is set, as the outer one was.
pub fn walk(
    d: &[u8],
    wire_len: u32,
    outer: &IpPacket,
    transport: bool,
) -> (Tunnels, Option<IpPacket>) {
    let mut tunnels = Tunnels::default();
    let mut inner: Option<IpPacket> = None;
    for _ in 0..MAX_TUNNELS {
        let current = inner.as_ref().unwrap_or(outer);
        let Some(step) = next(d, current) else {
            break;
        };
        tunnels.push(step.kind, step.id);
        if let Some((kind, id)) = step.then {
            tunnels.push(kind, id);
        }
        let Link::Ip(info) = step.inner else {
            break;
        };
        // The inner packet ends where the outer one does, whatever its own length says.
        let limit = info.ip_limit.unwrap_or(usize::MAX).min(current.end);
        if info.ip_offset >= limit {
            break;
        }
        let info = LinkInfo {
            ip_limit: Some(limit),
            ..info
        };
        match ip::decode_with(d, &info, wire_len, transport) {
            Some(p) => inner = Some(p),
            None => break,
        }
    }
    (tunnels, inner)
}

/// The tunnel header right after `p`'s header chain, if there is one.
fn next(d: &[u8], p: &IpPacket) -> Option<Step> {
    if !p.first_fragment {
        return None;
    }
    let at = p.transport_offset;
    let payload = d.get(at..p.end)?;
    match p.protocol {
        IPV4_IN_IP => Step::new(TunnelKind::IpIp, None, link::ip(IpVersion::V4, at)),
        IPV6_IN_IP => Step::new(TunnelKind::IpIp, None, link::ip(IpVersion::V6, at)),
        GRE => gre_step(d, at, payload),
        UDP => udp_step(d, at, payload),
        l2tp::IP_PROTOCOL => {
            let session = L2tpIpHeader::new(payload).session_id()?;
            // Session 0 is a control message. The cookie and sublayer sizes are set by
            // the control connection, which a capture rarely holds: none of either is
            // assumed (the default of Cisco's and Linux's Ethernet pseudowires).
            (session != 0).then_some(())?;
            Step::new(
                TunnelKind::L2tp,
                Some(session),
                link::ethernet_payload(d, at + L2tpIpHeader::LEN),
            )
        }
        PIM if u8_at(payload, 0) == Some(PIM_REGISTER) => Step::new(
            TunnelKind::Pim,
            None,
            link::by_version_nibble(d, at + PIM_REGISTER_LEN),
        ),
        _ => None,
    }
}

fn gre_step(d: &[u8], at: usize, payload: &[u8]) -> Option<Step> {
    let gre = GreHeader::new(payload);
    let version = gre.version()?;
    if version > 1 || gre.has_routing()? {
        // RFC 1701's source routes are not followed; versions above 1 do not exist.
        return Step::new(TunnelKind::Gre, gre.key(), Link::NotIp);
    }
    let protocol = gre.protocol()?;
    let inner_at = at + gre.header_len()?;
    let key = if version == 1 { None } else { gre.key() };
    let inner = match protocol {
        gre::PROTOCOL_TRANSPARENT_ETHERNET => link::ethernet_payload(d, inner_at),
        gre::PROTOCOL_PPP => link::ppp_payload(d, inner_at),
        gre::PROTOCOL_ERSPAN_II | gre::PROTOCOL_ERSPAN_III => {
            let type3 = protocol == gre::PROTOCOL_ERSPAN_III;
            // Type I: 0x88be without a sequence number, and no ERSPAN header at all.
            if !type3 && !gre.has_sequence()? {
                return Some(Step {
                    kind: TunnelKind::Gre,
                    id: key,
                    then: Some((TunnelKind::Erspan, None)),
                    inner: link::ethernet_payload(d, inner_at),
                });
            }
            let header = ErspanHeader::new(rest(d, inner_at));
            let session = header.session_id().map(u32::from);
            let inner = match header.header_len(type3) {
                Some(len) => link::ethernet_payload(d, inner_at + len),
                None => Link::NotIp,
            };
            return Some(Step {
                kind: TunnelKind::Gre,
                id: key,
                then: Some((TunnelKind::Erspan, session)),
                inner,
            });
        }
        // In GRE, Cisco MetaData puts the next EtherType first (Wireshark's cmd_gre).
        ETHERTYPE_CISCO_METADATA => match be16(d, inner_at..inner_at + 2) {
            Some(next) => link::ethertype_payload(d, inner_at + 8, next),
            None => Link::NotIp,
        },
        // IP, MPLS, VLAN tags, NSH and the rest, as they follow an Ethernet header; a value
        // that would be an 802.3 length there (a keepalive's 0) carries nothing.
        other if other > MAX_802_3_LENGTH => link::ethertype_payload(d, inner_at, other),
        _ => Link::NotIp,
    };
    Step::new(TunnelKind::Gre, key, inner)
}

fn udp_step(d: &[u8], at: usize, payload: &[u8]) -> Option<Step> {
    let udp = UdpHeader::new(payload);
    let (src, dst) = (udp.src_port()?, udp.dst_port()?);
    let inner_at = at + UdpHeader::LEN;
    let data = rest(payload, UdpHeader::LEN);
    for port in [src.min(dst), src.max(dst)] {
        let step = match port {
            vxlan::UDP_PORT | vxlan::UDP_PORT_LINUX => {
                let vni = VxlanHeader::new(data).vni()?;
                Step::new(
                    TunnelKind::Vxlan,
                    Some(vni),
                    link::ethernet_payload(d, inner_at + VxlanHeader::LEN),
                )
            }
            geneve::UDP_PORT => {
                let header = GeneveHeader::new(data);
                let (Some(0), Some(protocol), Some(len)) =
                    (header.version(), header.protocol(), header.header_len())
                else {
                    return None;
                };
                let inner = match protocol {
                    gre::PROTOCOL_TRANSPARENT_ETHERNET => link::ethernet_payload(d, inner_at + len),
                    ETHERTYPE_IPV4 => link::ip(IpVersion::V4, inner_at + len),
                    ETHERTYPE_IPV6 => link::ip(IpVersion::V6, inner_at + len),
                    _ => Link::NotIp,
                };
                Step::new(TunnelKind::Geneve, header.vni(), inner)
            }
            gtpu::UDP_PORT => {
                let header = GtpuHeader::new(data);
                if header.version()? != 1 {
                    return None;
                }
                let inner = match (header.message_type()?, header.header_len()) {
                    (gtpu::MESSAGE_G_PDU, Some(len)) => link::by_version_nibble(d, inner_at + len),
                    _ => Link::NotIp,
                };
                Step::new(TunnelKind::GtpU, header.teid(), inner)
            }
            TEREDO_PORT => {
                let len = teredo_headers_len(data)?;
                Step::new(
                    TunnelKind::Teredo,
                    None,
                    link::ip(IpVersion::V6, inner_at + len),
                )
            }
            l2tp::UDP_PORT => {
                let header = L2tpUdpHeader::new(data);
                let session = header.session_id();
                let inner = match (header.is_control()?, header.version()?, header.header_len()) {
                    (false, 2, Some(len)) => link::ppp_payload(d, inner_at + len),
                    (false, 3, Some(len)) => link::ethernet_payload(d, inner_at + len),
                    _ => Link::NotIp,
                };
                Step::new(TunnelKind::L2tp, session, inner)
            }
            MPLS_UDP_PORT => Step::new(TunnelKind::MplsUdp, None, link::mpls_payload(d, inner_at)),
            LISP_DATA_PORT => Step::new(
                TunnelKind::Lisp,
                None,
                link::by_version_nibble(d, inner_at + LISP_HEADER_LEN),
            ),
            _ => continue,
        };
        return step;
    }
    None
}

/// The length of Teredo's authentication and origin indication headers before its IPv6
/// packet (0 when there are none); `None` when they were not captured.
fn teredo_headers_len(data: &[u8]) -> Option<usize> {
    let mut at = 0;
    if be16(data, 0..2)? == TEREDO_AUTHENTICATION {
        let id_len = u8_at(data, 2)? as usize;
        let auth_len = u8_at(data, 3)? as usize;
        at += TEREDO_AUTHENTICATION_FIXED + id_len + auth_len;
    }
    if be16(data, at..at + 2)? == TEREDO_ORIGIN {
        at += TEREDO_ORIGIN_LEN;
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::linktype;

    /// An IPv4 header (20 bytes, no options) of protocol `proto` around `payload`.
    fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut v = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0,
            0,
            64,
            proto,
            0,
            0,
        ];
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        v.extend_from_slice(payload);
        v
    }

    fn udp(src: u16, dst: u16, payload: &[u8]) -> Vec<u8> {
        let len = (8 + payload.len()) as u16;
        let mut v = Vec::new();
        for w in [src, dst, len, 0] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        v.extend_from_slice(&ethertype.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn walk_frame(frame: &[u8]) -> (Tunnels, Option<IpPacket>) {
        let Link::Ip(info) = link::decode(linktype::ETHERNET, frame) else {
            panic!("not IP");
        };
        let outer = ip::decode(frame, &info, frame.len() as u32).expect("outer IP");
        walk(frame, frame.len() as u32, &outer, true)
    }

    fn inner_udp() -> Vec<u8> {
        ipv4(17, [192, 168, 0, 1], [192, 168, 0, 2], &udp(1234, 53, b"q"))
    }

    #[test]
    fn vxlan_then_ethernet_then_ip() {
        let mut vx = vec![0x08, 0, 0, 0, 0x00, 0x12, 0x34, 0x00];
        vx.extend(ethernet(0x0800, &inner_udp()));
        let frame = ethernet(
            0x0800,
            &ipv4(17, [10, 0, 0, 1], [10, 0, 0, 2], &udp(50000, 4789, &vx)),
        );
        let (tunnels, inner) = walk_frame(&frame);
        assert_eq!(
            (tunnels.name(), tunnels.id()),
            ("vxlan".to_string(), Some(0x1234))
        );
        let inner = inner.expect("inner packet");
        assert_eq!(inner.src.to_string(), "192.168.0.1");
        assert_eq!((inner.src_port, inner.dst_port), (Some(1234), Some(53)));
    }

    #[test]
    fn gre_erspan_ii_names_both_and_the_session() {
        let mut gre = vec![0x30, 0x00, 0x88, 0xbe, 0, 0, 0, 9, 0, 0, 0, 1]; // K and S
        gre.extend_from_slice(&[0x10, 0x00, 0x00, 0x2a, 0, 0, 0, 0]); // session 42
        gre.extend(ethernet(0x0800, &inner_udp()));
        let frame = ethernet(0x0800, &ipv4(47, [10, 0, 0, 1], [10, 0, 0, 2], &gre));
        let (tunnels, inner) = walk_frame(&frame);
        assert_eq!(
            (tunnels.name(), tunnels.id()),
            ("gre/erspan".to_string(), Some(42))
        );
        assert_eq!(inner.expect("inner").dst.to_string(), "192.168.0.2");
    }

    #[test]
    fn ip_in_ip_nests_and_a_tunnel_of_arp_stops_at_the_outer_header() {
        let frame = ethernet(
            0x0800,
            &ipv4(
                4,
                [10, 0, 0, 1],
                [10, 0, 0, 2],
                &ipv4(4, [1, 1, 1, 1], [2, 2, 2, 2], &inner_udp()),
            ),
        );
        let (tunnels, inner) = walk_frame(&frame);
        assert_eq!(
            (tunnels.name(), tunnels.id()),
            ("ipip/ipip".to_string(), None)
        );
        assert_eq!(inner.expect("inner").src.to_string(), "192.168.0.1");

        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 7, 0];
        vx.extend(ethernet(0x0806, &[0; 28]));
        let frame = ethernet(
            0x0800,
            &ipv4(17, [10, 0, 0, 1], [10, 0, 0, 2], &udp(4789, 4789, &vx)),
        );
        let (tunnels, inner) = walk_frame(&frame);
        assert_eq!(
            (tunnels.name(), tunnels.id(), inner),
            ("vxlan".to_string(), Some(7), None)
        );
    }

    #[test]
    fn a_gre_protocol_below_1501_carries_nothing_even_if_llc_snap_follows() {
        let mut gre = vec![0x00, 0x00, 0x00, 0x00]; // protocol 0, as a keepalive
        gre.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
        gre.extend(inner_udp());
        let frame = ethernet(0x0800, &ipv4(47, [10, 0, 0, 1], [10, 0, 0, 2], &gre));
        let (tunnels, inner) = walk_frame(&frame);
        assert_eq!((tunnels.name(), inner), ("gre".to_string(), None));
    }

    #[test]
    fn an_inner_packet_never_reads_past_the_outer_one() {
        // The inner header says 1000 bytes; the outer packet ends 8 bytes into its UDP.
        let mut inner = inner_udp();
        inner[2..4].copy_from_slice(&1000u16.to_be_bytes());
        let mut frame = ethernet(0x0800, &ipv4(4, [10, 0, 0, 1], [10, 0, 0, 2], &inner));
        frame.extend_from_slice(&[0xee; 40]); // trailer beyond the outer packet
        let (_, inner) = walk_frame(&frame);
        let inner = inner.expect("inner");
        assert_eq!(inner.end, frame.len() - 40);
        assert_eq!(&frame[inner.payload.clone()], b"q");
    }

    proptest::proptest! {
        /// Whatever a stranger puts after a tunnel header (and wherever the capture cuts
        /// it), the walk ends, every inner packet lies inside the one that carried it, after
        /// its header, and the chain is bounded.
        #[test]
        fn any_bytes_after_a_tunnel_header_stay_inside_the_outer_packet(
            carrier in 0usize..12,
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..160),
            cut in 0usize..260,
        ) {
            let ports = [4789, 8472, 6081, 2152, 3544, 1701, 6635, 4341];
            let payload = match carrier {
                0..=7 => udp(40000, ports[carrier], &tail),
                _ => tail.clone(),
            };
            let proto = match carrier {
                0..=7 => 17,
                8 => 47,
                9 => 4,
                10 => 41,
                _ => 115,
            };
            let mut frame = ethernet(0x0800, &ipv4(proto, [10, 0, 0, 1], [10, 0, 0, 2], &payload));
            frame.truncate(cut.max(34));
            let Link::Ip(info) = link::decode(linktype::ETHERNET, &frame) else {
                return Ok(());
            };
            let Some(outer) = ip::decode(&frame, &info, frame.len() as u32) else {
                return Ok(());
            };
            let (tunnels, inner) = walk(&frame, frame.len() as u32, &outer, true);
            proptest::prop_assert!(tunnels.kinds().count() <= MAX_TUNNELS + 1);
            if let Some(inner) = inner {
                proptest::prop_assert!(!tunnels.is_empty());
                proptest::prop_assert!(inner.start > outer.start);
                proptest::prop_assert!(inner.end <= outer.end && inner.end <= frame.len());
                proptest::prop_assert!(inner.payload.start <= inner.payload.end);
                proptest::prop_assert!(inner.payload.end <= inner.end);
            }
        }
    }

    #[test]
    fn depth_is_bounded() {
        let mut p = inner_udp();
        for _ in 0..20 {
            p = ipv4(4, [10, 0, 0, 1], [10, 0, 0, 2], &p);
        }
        let (tunnels, inner) = walk_frame(&ethernet(0x0800, &p));
        assert_eq!(tunnels.kinds().count(), MAX_TUNNELS);
        assert_eq!(inner.expect("inner").protocol, IPV4_IN_IP);
    }
}
