//! Link layers: from a record's bytes to the start of its outermost IP header.
//! Each function reads only what the captured bytes hold; anything else is "not IP".

/// LINKTYPE_* values (tcpdump.org/linktypes.html) we decode.
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const FDDI: u32 = 10;
    pub const PPP: u32 = 9;
    /// DLT_RAW as some systems write it into files (12 on most, 14 on OpenBSD).
    pub const RAW_DLT12: u32 = 12;
    pub const RAW_DLT14: u32 = 14;
    pub const PPP_HDLC: u32 = 50;
    pub const PPP_ETHER: u32 = 51;
    pub const RAW: u32 = 101;
    pub const C_HDLC: u32 = 104;
    pub const IEEE802_11: u32 = 105;
    pub const FRELAY: u32 = 107;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IEEE802_11_RADIOTAP: u32 = 127;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const IPNET: u32 = 226;
    pub const NFLOG: u32 = 239;
    pub const LINUX_SLL2: u32 = 276;
}

use crate::wire::ethernet::{
    is_vlan_tag, tag_before_frame_len, tag_with_ethertype_len, EthernetFrame, SnapHeader, VlanTag,
    ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_MPLS, ETHERTYPE_MPLS_MULTICAST, ETHERTYPE_NSH,
    ETHERTYPE_PPPOE_SESSION, MAX_802_3_LENGTH,
};
use crate::wire::mpls::MplsLabel;
use crate::wire::nsh::{self, NshHeader};
use crate::wire::pppoe::{PppoeSession, PPP_IPV4, PPP_IPV6, PPP_MPLS_MULTICAST, PPP_MPLS_UNICAST};
use crate::wire::{be16, rest};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpVersion {
    V4,
    V6,
}

/// Where the outermost IP header starts, and what the link layer said about the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInfo {
    pub version: IpVersion,
    pub ip_offset: usize,
    /// Offset of the Ethernet header (destination MAC first), when the frame has one.
    pub ethernet_offset: Option<usize>,
    /// Outermost VLAN id, when the frame is tagged.
    pub vlan: Option<u16>,
    /// Offsets of the source and destination MAC addresses (6 bytes each) of the Ethernet
    /// or 802.11 header that carries the IP packet, when there is one.
    pub macs: Option<(usize, usize)>,
    /// Where the link layer says its payload ends, when it says (PPPoE's length field):
    /// the IP packet is not read past it, whatever its own length field claims.
    pub ip_limit: Option<usize>,
}

/// Result of a link-layer decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Ip(LinkInfo),
    /// A frame of a known link type that does not carry IP (ARP, IPX, STP, ...).
    NotIp,
    /// A link type this crate does not decode.
    Unsupported,
}

/// Every link type `decode` understands.
pub const SUPPORTED: [u32; 20] = {
    use linktype::*;
    [
        NULL,
        ETHERNET,
        FDDI,
        PPP,
        RAW_DLT12,
        RAW_DLT14,
        PPP_HDLC,
        PPP_ETHER,
        RAW,
        C_HDLC,
        IEEE802_11,
        FRELAY,
        LOOP,
        LINUX_SLL,
        IEEE802_11_RADIOTAP,
        IPV4,
        IPV6,
        IPNET,
        NFLOG,
        LINUX_SLL2,
    ]
};

pub fn is_supported(link_type: u32) -> bool {
    SUPPORTED.contains(&link_type)
}

/// IP of `version` at `ip_offset`, as far as the link layer knows (the IP decoder checks
/// the version nibble agrees).
#[inline]
pub(crate) fn ip(version: IpVersion, ip_offset: usize) -> Link {
    Link::Ip(LinkInfo {
        version,
        ip_offset,
        ethernet_offset: None,
        vlan: None,
        macs: None,
        ip_limit: None,
    })
}

/// Decode the link layer of one record. Inlined, with `ethernet`, into the caller: returned
/// through memory, the `Link` was written in pieces and read back whole, a load that could
/// not be forwarded from the stores (single-thread framing and dissection of the 2M-packet
/// capture: 0.275 s -> 0.263 s; inlining `ethertype_chain` as well made it 0.278 s).
#[inline]
pub fn decode(link_type: u32, d: &[u8]) -> Link {
    use linktype::*;
    match link_type {
        ETHERNET => ethernet(d, 0, 0),
        // Frame control, destination and source, then LLC (only SNAP carries an
        // EtherType). The addresses are left alone: their bit order varies by platform.
        FDDI => ethertype_chain(d, FDDI_HEADER_LEN, 0, 0),
        RAW | RAW_DLT12 | RAW_DLT14 => by_version_nibble(d, 0),
        IPV4 => ip(IpVersion::V4, 0),
        IPV6 => ip(IpVersion::V6, 0),
        NULL | LOOP => null_loopback(link_type, d),
        LINUX_SLL => match (be16(d, 2..4), be16(d, 14..16)) {
            (Some(hatype), Some(proto)) => sll_payload(d, 16, hatype, proto),
            _ => Link::NotIp,
        },
        LINUX_SLL2 => match (be16(d, 8..10), be16(d, 0..2)) {
            (Some(hatype), Some(proto)) if d.len() >= 20 => sll_payload(d, 20, hatype, proto),
            _ => Link::NotIp,
        },
        PPP | PPP_HDLC => ppp(d, 0),
        C_HDLC => cisco_hdlc(d, 0),
        FRELAY => frame_relay(d),
        IPNET => ipnet(d),
        PPP_ETHER => pppoe_session(d, 0),
        NFLOG => nflog(d),
        IEEE802_11 => ieee80211(d, 0, false),
        IEEE802_11_RADIOTAP => radiotap(d),
        _ => Link::Unsupported,
    }
}

const FDDI_HEADER_LEN: usize = 13;

/// The IP packet inside an Ethernet frame that starts at `at` (a tunnel's payload).
pub(crate) fn ethernet_payload(d: &[u8], at: usize) -> Link {
    ethernet(d, at, 0)
}

/// The IP packet after an EtherType (a GRE or Geneve protocol type), as Ethernet's.
pub(crate) fn ethertype_payload(d: &[u8], at: usize, ethertype: u16) -> Link {
    ethertype_chain(d, at, ethertype, 0)
}

/// The IP packet inside a PPP frame that starts at `at` (L2TP's, PPTP's).
pub(crate) fn ppp_payload(d: &[u8], at: usize) -> Link {
    ppp(d, at)
}

/// The IP packet after an MPLS label stack that starts at `at` (MPLS in UDP or GRE).
pub(crate) fn mpls_payload(d: &[u8], at: usize) -> Link {
    mpls(d, at, None, 0)
}

/// Raw IP: the version nibble says which.
pub(crate) fn by_version_nibble(d: &[u8], at: usize) -> Link {
    match d.get(at).map(|b| b >> 4) {
        Some(4) => ip(IpVersion::V4, at),
        Some(6) => ip(IpVersion::V6, at),
        _ => Link::NotIp,
    }
}

#[inline]
fn ethernet(d: &[u8], at: usize, depth: u8) -> Link {
    match EthernetFrame::new(rest(d, at)).ethertype() {
        Some(ethertype) => {
            let link = ethertype_chain(d, at + EthernetFrame::HEADER_LEN, ethertype, depth);
            match link {
                Link::Ip(mut info) => {
                    if info.ethernet_offset.is_none() {
                        info.ethernet_offset = Some(at);
                        info.macs = Some((
                            at + EthernetFrame::SOURCE_AT,
                            at + EthernetFrame::DESTINATION_AT,
                        ));
                    }
                    Link::Ip(info)
                }
                other => other,
            }
        }
        None => Link::NotIp,
    }
}

/// Ethernet frames nested inside one another (MPLS pseudowires, PBB, FabricPath, NSH)
/// followed before giving up.
const MAX_NESTED_FRAMES: u8 = 4;

/// Follow an EtherType through VLAN tags, MPLS labels, PPPoE, LLC/SNAP and the tags that
/// carry an EtherType or a whole frame (VN-Tag, E-Tag, Cisco MetaData, PBB, FabricPath,
/// NSH) to IP. `depth` bounds recursion through nested Ethernet frames.
fn ethertype_chain(d: &[u8], mut at: usize, mut ethertype: u16, depth: u8) -> Link {
    let mut vlan = None;
    loop {
        match ethertype {
            ETHERTYPE_IPV4 => return tagged(IpVersion::V4, at, vlan),
            ETHERTYPE_IPV6 => return tagged(IpVersion::V6, at, vlan),
            t if is_vlan_tag(t) => {
                let tag = VlanTag::new(rest(d, at));
                let (Some(id), Some(next)) = (tag.vlan_id(), tag.ethertype()) else {
                    return Link::NotIp;
                };
                vlan.get_or_insert(id);
                ethertype = next;
                at += VlanTag::LEN;
            }
            ETHERTYPE_MPLS | ETHERTYPE_MPLS_MULTICAST => return mpls(d, at, vlan, depth),
            t if tag_with_ethertype_len(t).is_some() => {
                let len = tag_with_ethertype_len(t).expect("matched");
                let Some(next) = be16(d, at + len - 2..at + len) else {
                    return Link::NotIp;
                };
                ethertype = next;
                at += len;
            }
            t if tag_before_frame_len(t).is_some() => {
                let len = tag_before_frame_len(t).expect("matched");
                return inner_frame(d, at + len, vlan, depth);
            }
            ETHERTYPE_NSH => {
                let header = NshHeader::new(rest(d, at));
                let (Some(len), Some(next)) = (header.header_len(), header.next_protocol()) else {
                    return Link::NotIp;
                };
                at += len;
                match next {
                    nsh::NEXT_IPV4 => return tagged(IpVersion::V4, at, vlan),
                    nsh::NEXT_IPV6 => return tagged(IpVersion::V6, at, vlan),
                    nsh::NEXT_ETHERNET => return inner_frame(d, at, vlan, depth),
                    nsh::NEXT_NSH => ethertype = ETHERTYPE_NSH,
                    nsh::NEXT_MPLS => return mpls(d, at, vlan, depth),
                    _ => return Link::NotIp,
                }
            }
            ETHERTYPE_PPPOE_SESSION => {
                return match pppoe_session(d, at) {
                    Link::Ip(info) => match tagged(info.version, info.ip_offset, vlan) {
                        Link::Ip(tagged) => Link::Ip(LinkInfo {
                            ip_limit: info.ip_limit,
                            ..tagged
                        }),
                        other => other,
                    },
                    other => other,
                }
            }
            // An 802.3 length field: LLC follows; only SNAP carries an EtherType.
            len if len <= MAX_802_3_LENGTH => match SnapHeader::new(rest(d, at)).ethertype() {
                Some(next) => {
                    ethertype = next;
                    at += SnapHeader::LEN;
                }
                None => return Link::NotIp,
            },
            _ => return Link::NotIp,
        }
    }
}

/// A whole Ethernet frame carried at `at` (a pseudowire's, PBB's, FabricPath's, NSH's):
/// its MAC addresses are the row's, the outer VLAN id is kept.
fn inner_frame(d: &[u8], at: usize, vlan: Option<u16>, depth: u8) -> Link {
    if depth >= MAX_NESTED_FRAMES {
        return Link::NotIp;
    }
    match ethernet(d, at, depth + 1) {
        Link::Ip(mut info) => {
            info.vlan = vlan.or(info.vlan);
            Link::Ip(info)
        }
        other => other,
    }
}

fn tagged(version: IpVersion, ip_offset: usize, vlan: Option<u16>) -> Link {
    Link::Ip(LinkInfo {
        version,
        ip_offset,
        ethernet_offset: None,
        vlan,
        macs: None,
        ip_limit: None,
    })
}

/// MPLS labels that announce a payload that is not IP: the Generic Associated Channel
/// Label (13, RFC 5586) and the OAM Alert Label (14, RFC 3429). Wireshark stops at them.
const MPLS_GAL: u32 = 13;
const MPLS_OAM_ALERT: u32 = 14;

/// MPLS: labels until the bottom-of-stack bit, then IP by its version nibble, or an
/// Ethernet pseudowire after a zero control word (as Wireshark guesses).
fn mpls(d: &[u8], mut at: usize, vlan: Option<u16>, depth: u8) -> Link {
    loop {
        let label = MplsLabel::new(rest(d, at));
        let (Some(value), Some(bottom)) = (label.label(), label.bottom_of_stack()) else {
            return Link::NotIp;
        };
        if matches!(value, MPLS_GAL | MPLS_OAM_ALERT) {
            return Link::NotIp;
        }
        at += MplsLabel::LEN;
        if bottom {
            break;
        }
    }
    match d.get(at).map(|b| b >> 4) {
        Some(4) => tagged(IpVersion::V4, at, vlan),
        Some(6) => tagged(IpVersion::V6, at, vlan),
        Some(0) => inner_frame(d, at + 4, vlan, depth),
        _ => Link::NotIp,
    }
}

/// PPPoE session header (6 bytes: its length counts the PPP protocol number and what
/// follows) then a PPP protocol number.
fn pppoe_session(d: &[u8], at: usize) -> Link {
    let session = PppoeSession::new(rest(d, at));
    let link = match session.ppp_protocol() {
        Some(PPP_IPV4) => ip(IpVersion::V4, at + PppoeSession::PPP_PAYLOAD_AT),
        Some(PPP_IPV6) => ip(IpVersion::V6, at + PppoeSession::PPP_PAYLOAD_AT),
        _ => return Link::NotIp,
    };
    match (link, session.length()) {
        (Link::Ip(info), Some(len)) => Link::Ip(LinkInfo {
            ip_limit: Some(at + PppoeSession::PAYLOAD_AT + len as usize),
            ..info
        }),
        (other, _) => other,
    }
}

/// PPP in HDLC-like framing: optional ff 03, then a 1- or 2-byte protocol field. Links
/// that say PPP sometimes carry Cisco HDLC (address 0x0f or 0x8f), as Wireshark notices.
fn ppp(d: &[u8], mut at: usize) -> Link {
    if matches!(d.get(at), Some(0x0f | 0x8f)) {
        return cisco_hdlc(d, at);
    }
    if d.get(at..at + 2) == Some(&[0xff, 0x03]) {
        at += 2;
    }
    let Some(&first) = d.get(at) else {
        return Link::NotIp;
    };
    // Protocol-field compression: an odd first byte is the whole protocol number.
    let (proto, len) = if first & 1 == 1 {
        (first as u16, 1)
    } else {
        match be16(d, at..at + 2) {
            Some(p) => (p, 2),
            None => return Link::NotIp,
        }
    };
    match proto {
        PPP_IPV4 => ip(IpVersion::V4, at + len),
        PPP_IPV6 => ip(IpVersion::V6, at + len),
        PPP_MPLS_UNICAST | PPP_MPLS_MULTICAST => mpls(d, at + len, None, 0),
        _ => Link::NotIp,
    }
}

/// Cisco HDLC: address, control, then an EtherType.
fn cisco_hdlc(d: &[u8], at: usize) -> Link {
    match be16(d, at + 2..at + 4) {
        Some(ethertype) => ethertype_chain(d, at + 4, ethertype, 0),
        None => Link::NotIp,
    }
}

/// Frame Relay (RFC 2427): a 2-byte Q.922 address (longer when its EA bit is clear), UI
/// control 0x03, then an NLPID: 0xcc IPv4, 0x8e IPv6, or 0x80 and a SNAP header; or, in
/// Cisco's encapsulation, an EtherType right after the address.
fn frame_relay(d: &[u8]) -> Link {
    let mut at = 0;
    while at < 4 {
        let Some(&b) = d.get(at) else {
            return Link::NotIp;
        };
        at += 1;
        if b & 0x01 != 0 {
            break;
        }
    }
    if d.get(at) != Some(&0x03) {
        // Cisco's encapsulation: the address is followed by an EtherType.
        return match be16(d, at..at + 2) {
            Some(ethertype) if ethertype > 1500 => ethertype_chain(d, at + 2, ethertype, 0),
            _ => Link::NotIp,
        };
    }
    // An optional pad byte (0x00) may come before the NLPID.
    let mut nlpid_at = at + 1;
    if d.get(nlpid_at) == Some(&0x00) {
        nlpid_at += 1;
    }
    match d.get(nlpid_at) {
        Some(0xcc) => ip(IpVersion::V4, nlpid_at + 1),
        Some(0x8e) => ip(IpVersion::V6, nlpid_at + 1),
        Some(0x80) => match (
            d.get(nlpid_at + 1..nlpid_at + 4),
            be16(d, nlpid_at + 4..nlpid_at + 6),
        ) {
            (Some([0, 0, 0]), Some(ethertype)) => ethertype_chain(d, nlpid_at + 6, ethertype, 0),
            _ => Link::NotIp,
        },
        _ => Link::NotIp,
    }
}

/// Solaris ipnet: a 24-byte header whose second byte is the address family (2 or 26).
fn ipnet(d: &[u8]) -> Link {
    match d.get(1) {
        Some(2) if d.len() >= 24 => ip(IpVersion::V4, 24),
        Some(26) if d.len() >= 24 => ip(IpVersion::V6, 24),
        _ => Link::NotIp,
    }
}

/// BSD loopback: a 4-byte address family in the capturing host's byte order (NULL) or
/// network order (LOOP); both are accepted either way round. A NULL header is read as
/// Wireshark reads it (`packet-null.c`): byte-swapped when its upper half is set (or
/// shifted down, for IRIX's 16-bit family in the upper half), and a value above 1500 is an
/// EtherType in its low 16 bits, as some systems write there.
fn null_loopback(link_type: u32, d: &[u8]) -> Link {
    let Some(raw) = d.get(0..4) else {
        return Link::NotIp;
    };
    let mut family = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
    if link_type == linktype::LOOP {
        if family & 0xffff_0000 != 0 && family & 0xffff == 0 {
            family = family.swap_bytes();
        }
    } else if family & 0xffff_0000 != 0 {
        if family & 0xff00_0000 == 0 && family & 0x00ff_0000 < 0x0006_0000 {
            family >>= 16;
        } else {
            family = family.swap_bytes();
        }
    } else if family & 0xff == 0 && family & 0xff00 < 0x0600 {
        family = u32::from((family as u16).swap_bytes());
    }
    match family {
        2 => ip(IpVersion::V4, 4),
        // AF_INET6 on NetBSD/OpenBSD, FreeBSD and Darwin.
        24 | 28 | 30 => ip(IpVersion::V6, 4),
        f if link_type == linktype::NULL && f > 1500 => match f as u16 {
            ethertype @ 1501.. => ethertype_chain(d, 4, ethertype, 0),
            _ => Link::NotIp,
        },
        _ => Link::NotIp,
    }
}

const ARPHRD_NETLINK: u16 = 824;
const LINUX_PROTO_802_3: u16 = 0x0001;
const LINUX_PROTO_802_2: u16 = 0x0004;

/// Linux cooked capture (SLL and SLL2): the protocol field is an EtherType unless the
/// frame is 802.2 LLC or netlink.
fn sll_payload(d: &[u8], at: usize, hatype: u16, proto: u16) -> Link {
    if hatype == ARPHRD_NETLINK {
        return Link::NotIp;
    }
    match proto {
        LINUX_PROTO_802_2 => ethertype_chain(d, at, 0, 0),
        LINUX_PROTO_802_3 => Link::NotIp,
        ethertype => ethertype_chain(d, at, ethertype, 0),
    }
}

const NFULA_PAYLOAD: u16 = 9;

/// NFLOG: a 4-byte header (family, version, resource id), then TLVs whose length and type
/// are in the capturing host's byte order; the payload TLV holds the IP packet.
fn nflog(d: &[u8]) -> Link {
    let Some(&family) = d.first() else {
        return Link::NotIp;
    };
    // Guess the TLV byte order from the first TLV's length: it must be at least 4.
    let first = match d.get(4..6) {
        Some(b) => [b[0], b[1]],
        None => return Link::NotIp,
    };
    let le = u16::from_le_bytes(first);
    let big_endian = !(4..=d.len() as u16).contains(&le) && u16::from_be_bytes(first) >= 4;
    let read16 = |at: usize| -> Option<u16> {
        let b = d.get(at..at + 2)?;
        Some(if big_endian {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        })
    };
    let mut at = 4;
    while let (Some(len), Some(kind)) = (read16(at), read16(at + 2)) {
        let len = len as usize;
        if len < 4 {
            return Link::NotIp;
        }
        if kind & 0x3fff == NFULA_PAYLOAD {
            return match family {
                2 => ip(IpVersion::V4, at + 4),
                10 => ip(IpVersion::V6, at + 4),
                _ => by_version_nibble(d, at + 4),
            };
        }
        at += (len + 3) & !3;
    }
    Link::NotIp
}

/// Radiotap: skip its self-described length; read the Flags field for data padding.
fn radiotap(d: &[u8]) -> Link {
    let Some(len) = d
        .get(2..4)
        .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    else {
        return Link::NotIp;
    };
    if len < 8 || len > d.len() {
        return Link::NotIp;
    }
    // Present bitmaps chain through bit 31; fields start after the last one.
    let mut at = 4;
    let mut present0 = None;
    loop {
        let Some(word) = d.get(at..at + 4) else {
            return Link::NotIp;
        };
        let word = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        present0.get_or_insert(word);
        at += 4;
        if word & (1 << 31) == 0 {
            break;
        }
    }
    let present0 = present0.unwrap_or(0);
    let mut flags = 0u8;
    if present0 & 0b10 != 0 {
        // Field 0 (TSFT) is 8 bytes aligned to 8, then field 1 (Flags) is one byte.
        if present0 & 1 != 0 {
            at = (at + 7) & !7;
            at += 8;
        }
        flags = d.get(at).copied().unwrap_or(0);
    }
    const DATA_PAD: u8 = 0x20;
    ieee80211(d, len, flags & DATA_PAD != 0)
}

/// 802.11 data frames carrying LLC/SNAP; management, control, null and protected frames
/// do not carry readable IP.
fn ieee80211(d: &[u8], at: usize, data_pad: bool) -> Link {
    let (Some(&fc0), Some(&fc1)) = (d.get(at), d.get(at + 1)) else {
        return Link::NotIp;
    };
    let frame_type = (fc0 >> 2) & 0x3;
    let subtype = fc0 >> 4;
    if frame_type != 2 || subtype & 0x4 != 0 || fc1 & 0x40 != 0 {
        return Link::NotIp;
    }
    let mut hdr = 24;
    if fc1 & 0x03 == 0x03 {
        hdr += 6;
    }
    if subtype & 0x8 != 0 {
        // QoS control; its A-MSDU bit marks aggregated subframes, which are not decoded.
        if d.get(at + hdr).is_some_and(|b| b & 0x80 != 0) {
            return Link::NotIp;
        }
        hdr += 2;
        if fc1 & 0x80 != 0 {
            hdr += 4;
        }
    }
    if data_pad {
        hdr = (hdr + 3) & !3;
    }
    match ethertype_chain(d, at + hdr, 0, 0) {
        Link::Ip(mut info) => {
            // Addresses 1-4 at 4, 10, 16, 24; which is which depends on To DS / From DS.
            let (src, dst) = match fc1 & 0x03 {
                0b00 => (10, 4),
                0b01 => (10, 16),
                0b10 => (16, 4),
                _ => (24, 16),
            };
            info.macs = Some((at + src, at + dst));
            Link::Ip(info)
        }
        other => other,
    }
}

/// The EtherType of the Ethernet header at `at`, after its 802.1Q/802.1ad tags (the SNAP
/// type of an 802.3 frame carrying LLC/SNAP); `None` when not captured.
pub fn ethernet_type(d: &[u8], at: usize) -> Option<u16> {
    let mut ethertype = EthernetFrame::new(rest(d, at)).ethertype()?;
    let mut at = at + EthernetFrame::HEADER_LEN;
    loop {
        match ethertype {
            t if is_vlan_tag(t) => {
                ethertype = VlanTag::new(rest(d, at)).ethertype()?;
                at += VlanTag::LEN;
            }
            // The SNAP type, read as it stands (without checking for aa aa 03).
            len if len <= MAX_802_3_LENGTH => return be16(d, at + 6..at + 8),
            ethertype => return Some(ethertype),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(ethertype: &[u8], rest: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 12];
        v.extend_from_slice(ethertype);
        v.extend_from_slice(rest);
        v
    }

    #[test]
    fn ethernet_tags_are_followed_and_the_outer_vlan_kept() {
        let f = eth(
            &[0x88, 0xa8],
            &[0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00, 0x45],
        );
        match decode(linktype::ETHERNET, &f) {
            Link::Ip(info) => {
                assert_eq!(info.ip_offset, 22);
                assert_eq!(info.vlan, Some(100));
                assert_eq!(info.ethernet_offset, Some(0));
                assert_eq!(info.macs, Some((6, 0)));
                assert_eq!(ethernet_type(&f, 0), Some(0x0800));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn short_or_foreign_frames_are_not_ip() {
        assert_eq!(decode(linktype::ETHERNET, &[0u8; 5]), Link::NotIp);
        assert_eq!(
            decode(linktype::ETHERNET, &eth(&[0x08, 0x06], &[])),
            Link::NotIp
        );
        assert_eq!(decode(linktype::NULL, &[2, 0]), Link::NotIp);
        assert_eq!(decode(147, &[0u8; 40]), Link::Unsupported);
        // An MPLS stack that never reaches bottom-of-stack within the frame.
        assert_eq!(
            decode(linktype::ETHERNET, &eth(&[0x88, 0x47], &[0, 0, 0, 0])),
            Link::NotIp
        );
    }

    #[test]
    fn null_family_reads_in_either_byte_order() {
        assert_eq!(
            decode(linktype::NULL, &[2, 0, 0, 0, 0x45]),
            ip(IpVersion::V4, 4)
        );
        assert_eq!(
            decode(linktype::LOOP, &[0, 0, 0, 30, 0x60]),
            ip(IpVersion::V6, 4)
        );
    }

    #[test]
    fn null_header_above_1500_is_an_ethertype_as_wireshark_reads_it() {
        // PcapPlusPlus's null_loopback.pcap, frame 3: 0f 00 08 00, swapped to 0x0f000800,
        // whose low 16 bits are IPv4's EtherType (tshark: null:ip:udp:dns).
        assert_eq!(
            decode(linktype::NULL, &[0x0f, 0x00, 0x08, 0x00, 0x45]),
            ip(IpVersion::V4, 4)
        );
        assert_eq!(
            decode(linktype::NULL, &[0x00, 0x00, 0x86, 0xdd, 0x60]),
            ip(IpVersion::V6, 4)
        );
        // An EtherType that is not IP (ARP), or a value above 1500 whose low 16 bits are
        // not an EtherType (0x00100005), is not IP.
        assert_eq!(decode(linktype::NULL, &[0, 0, 0x08, 0x06, 0]), Link::NotIp);
        assert_eq!(
            decode(linktype::NULL, &[0, 0x10, 0, 0x05, 0x45]),
            Link::NotIp
        );
        // IRIX's family in the upper half, in either byte order.
        assert_eq!(
            decode(linktype::NULL, &[0, 0, 2, 0, 0x45]),
            ip(IpVersion::V4, 4)
        );
        assert_eq!(
            decode(linktype::NULL, &[0, 2, 0, 0, 0x45]),
            ip(IpVersion::V4, 4)
        );
        // LOOP is a family in network order only, never an EtherType (tshark's dissect_loop).
        assert_eq!(
            decode(linktype::LOOP, &[0, 0, 0x08, 0x00, 0x45]),
            Link::NotIp
        );
    }
}
