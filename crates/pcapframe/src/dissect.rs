//! The dissection of one selected packet: its link layer, its outermost IP packet, the
//! tunnels inside it and the innermost IP packet they carry. Built once per record by
//! `select::PacketSelector` and read by every consumer (the column builders, `protocol=`,
//! the command line's `show` and `stats`, `IPPacket`), so that each sees the same layers.
//! It holds offsets into the record's bytes, never a copy, and allocates nothing.

use crate::ip::IpPacket;
use crate::link::LinkInfo;
use crate::tunnel::Tunnels;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dissection {
    /// What the frame's link layer said (the outer frame's VLAN, MAC addresses, EtherType).
    pub link: LinkInfo,
    /// The outermost IP packet (tshark's first `ip`/`ipv6` layer).
    pub outer: IpPacket,
    /// The innermost whole IP packet reached through tunnels, when decapsulating and a
    /// tunnel carried one.
    pub inner: Option<IpPacket>,
    /// The tunnels crossed (empty unless they were looked for: `decapsulate=` or a tunnel
    /// column).
    pub tunnels: Tunnels,
}

impl Default for Dissection {
    /// An empty slot for `dissect_into` (what it holds is overwritten before it is read).
    fn default() -> Self {
        let nothing = IpPacket::placeholder();
        Dissection {
            link: LinkInfo {
                version: crate::link::IpVersion::V4,
                ip_offset: 0,
                ethernet_offset: None,
                vlan: None,
                macs: None,
                ip_limit: None,
            },
            outer: nothing,
            inner: None,
            tunnels: Tunnels::default(),
        }
    }
}

impl Dissection {
    /// The IP packet a row describes: the innermost when decapsulating, else the outermost.
    #[inline]
    pub fn ip(&self) -> &IpPacket {
        self.inner.as_ref().unwrap_or(&self.outer)
    }
}

/// What to decode beyond the outermost IP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Depth {
    /// Ports and payload bounds (not when no column needs them).
    pub transport: bool,
    /// Walk the tunnels (for `decapsulate` or a tunnel column).
    pub tunnels: bool,
    /// Rows describe the innermost IP packet.
    pub decapsulate: bool,
}

impl Depth {
    /// Everything: the row's ports and payload, through tunnels when `decapsulate`.
    pub fn full(decapsulate: bool) -> Self {
        Depth {
            transport: true,
            tunnels: true,
            decapsulate,
        }
    }
}

/// Why a record has no dissection (no row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoIp {
    /// A frame of a known link type without a readable IP header (ARP, STP, a header cut
    /// by the capture, an impossible IP header).
    NotIp,
    /// A link type this crate does not decode.
    UnsupportedLink,
}

/// Dissect one record's bytes `d` of link type `link_type`, `wire_len` long on the wire.
pub fn dissect(link_type: u32, d: &[u8], wire_len: u32, depth: Depth) -> Result<Dissection, NoIp> {
    let mut out = Dissection::default();
    dissect_into(link_type, d, wire_len, depth, &mut out)?;
    Ok(out)
}

/// `dissect`, into a slot the caller keeps from record to record: a dissection is a few
/// hundred bytes, and moving one per packet cost a fifth of a read's time (`perf`: memmove).
#[inline]
pub fn dissect_into(
    link_type: u32,
    d: &[u8],
    wire_len: u32,
    depth: Depth,
    out: &mut Dissection,
) -> Result<(), NoIp> {
    out.link = match crate::link::decode(link_type, d) {
        crate::link::Link::Ip(info) => info,
        crate::link::Link::NotIp => return Err(NoIp::NotIp),
        crate::link::Link::Unsupported => return Err(NoIp::UnsupportedLink),
    };
    if !crate::ip::decode_into(d, &out.link, wire_len, depth.transport, &mut out.outer) {
        return Err(NoIp::NotIp);
    }
    out.inner = None;
    out.tunnels = Tunnels::default();
    if depth.tunnels || depth.decapsulate {
        let (tunnels, inner) = crate::tunnel::walk(d, wire_len, &out.outer, depth.transport);
        out.tunnels = tunnels;
        out.inner = inner.filter(|_| depth.decapsulate);
    }
    Ok(())
}
