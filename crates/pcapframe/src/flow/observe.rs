//! What one selected packet tells the flow table: its endpoints, the lengths Zeek counts,
//! its TCP header fields and its fragment fields, read once from the packet's dissection.

use crate::dissect::Dissection;
use crate::error::Result;
use crate::format::Record;
use crate::ip::{Addr, IpPacket};
use crate::link::IpVersion;
use crate::options::ReadOptions;
use crate::parallel::RangeRows;
use crate::select::PacketSelector;
use crate::stats::ReadStats;
use crate::wire::ip_protocol::{FRAGMENT, ICMP, ICMPV6, TCP, UDP};
use crate::wire::ipv6::{ExtensionHeader, Ipv6Header};
use crate::wire::{be16, rest};

/// Where a packet is: its file's position in the read's list and its 1-based ordinal
/// among the file's packet records (tshark's `frame.number` where no other blocks exist).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Frame {
    pub file: u32,
    pub number: u64,
}

/// A TCP header's fields the connection state machine reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFields {
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
}

/// The fragment fields of a fragmented IP datagram's piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// IPv4 identification or the IPv6 fragment header's.
    pub ident: u32,
    /// Where this piece's data goes in the datagram's fragmentable part, in bytes.
    pub offset: u32,
    pub more: bool,
    /// Bytes before the fragment's data: the IPv4 header, or IPv6's header through the
    /// fragment header.
    pub header_len: u32,
    /// The fragment's data bytes, as the IP length field says.
    pub data_len: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Nanoseconds since the epoch; `None` for a record without a time (a Simple Packet
    /// Block), which the table places at its clock.
    pub time_ns: Option<i64>,
    pub frame: Frame,
    pub src: Addr,
    pub dst: Addr,
    /// The transport protocol (after IPv6 extension headers and AH).
    pub protocol: u8,
    /// TCP/UDP ports; `None` for other protocols and non-first fragments.
    pub ports: Option<(u16, u16)>,
    /// ICMP's (ICMPv6's) type and code.
    pub icmp: Option<(u8, u8)>,
    /// The outer frame's VLAN id.
    pub vlan: Option<u16>,
    /// The innermost tunnel's id, when keying by it (`decapsulate=True`).
    pub tunnel_id: Option<u32>,
    /// The IP header's length as written (IPv6: payload length + 40; 0 when the field is 0).
    pub ip_len: u32,
    /// Transport payload bytes by the headers' lengths (not what was captured).
    pub payload_len: u32,
    pub tcp: Option<TcpFields>,
    pub fragment: Option<Fragment>,
}

impl Observation {
    /// Read the packet `dissection` describes (the innermost when decapsulating) out of
    /// the record's bytes `d`; `key_tunnel` adds the tunnel id to the key.
    pub fn of(
        d: &[u8],
        dissection: &Dissection,
        time_ns: Option<i64>,
        frame: Frame,
        key_tunnel: bool,
    ) -> Self {
        let p = dissection.ip();
        let ip_len = stated_len(d, p);
        let chain_len = (p.transport_offset - p.start) as u32;
        let after_chain = if ip_len == 0 {
            // A TSO capture's or jumbogram's length field is 0: what was captured.
            (p.end - p.transport_offset) as u32
        } else {
            ip_len.saturating_sub(chain_len)
        };
        let mut tcp = None;
        let mut icmp = None;
        let payload_len = match p.protocol {
            _ if !p.first_fragment => after_chain,
            TCP => match p.tcp(d) {
                Some(h) => {
                    if let (Some(flags), Some(seq), Some(ack), Some(window)) =
                        (h.flags(), h.seq_number(), h.ack_number(), h.window())
                    {
                        tcp = Some(TcpFields {
                            flags,
                            seq,
                            ack,
                            window,
                        });
                    }
                    after_chain.saturating_sub(h.header_len().unwrap_or(20) as u32)
                }
                None => after_chain,
            },
            UDP => after_chain.saturating_sub(8),
            ICMP | ICMPV6 => {
                if let Some(h) = p.icmp(d) {
                    icmp = h.msg_type().zip(h.code());
                }
                after_chain.saturating_sub(4)
            }
            _ => after_chain,
        };
        Observation {
            time_ns,
            frame,
            src: p.src,
            dst: p.dst,
            protocol: p.protocol,
            ports: p.src_port.zip(p.dst_port),
            icmp,
            vlan: dissection.link.vlan,
            tunnel_id: if key_tunnel {
                dissection.tunnels.id()
            } else {
                None
            },
            ip_len,
            payload_len,
            tcp,
            fragment: fragment(d, p, ip_len),
        }
    }
}

/// The IP length field as written: IPv4's total length, IPv6's payload length + 40 (0 when
/// the field is 0: TSO captures, jumbograms).
fn stated_len(d: &[u8], p: &IpPacket) -> u32 {
    match p.version {
        IpVersion::V4 => be16(rest(d, p.start), 2..4).unwrap_or(0) as u32,
        IpVersion::V6 => match be16(rest(d, p.start), 4..6).unwrap_or(0) {
            0 => 0,
            n => n as u32 + Ipv6Header::LEN as u32,
        },
    }
}

fn fragment(d: &[u8], p: &IpPacket, ip_len: u32) -> Option<Fragment> {
    if !p.more_fragments && p.fragment_offset == 0 {
        return None;
    }
    let header_len = match p.version {
        IpVersion::V4 => (rest(d, p.start).first()? & 0x0f) as u32 * 4,
        IpVersion::V6 => v6_fragment_end(d, p.start)? - p.start as u32,
    };
    Some(Fragment {
        ident: p.ident.unwrap_or(0),
        offset: p.fragment_offset as u32,
        more: p.more_fragments,
        header_len,
        data_len: ip_len.saturating_sub(header_len),
    })
}

/// Where the first IPv6 fragment header ends (the extension chain walked as `ip` walks it).
fn v6_fragment_end(d: &[u8], start: usize) -> Option<u32> {
    let mut next = Ipv6Header::new(rest(d, start))?.next_header();
    let mut at = start + Ipv6Header::LEN;
    for _ in 0..16 {
        let h = ExtensionHeader::new(rest(d, at), next);
        let len = h.header_len()?;
        if next == FRAGMENT {
            return Some((at + len) as u32);
        }
        next = h.next_header()?;
        at += len;
    }
    None
}

/// Records to observations, for reading byte ranges on several threads
/// (`parallel::stream_in_ranges`): the flow table's selection of packets, each observed
/// with its frame counted from where the decode started (file 0; the reader sets the file).
pub struct Observations {
    selector: PacketSelector,
    decapsulate: bool,
    frames: u64,
    items: Vec<Observation>,
}

impl Observations {
    /// Observations of the packets `options` select, as `FlowReader` selects them.
    pub fn selector(options: &ReadOptions) -> Result<PacketSelector> {
        Ok(PacketSelector::new(options)?
            .with_transport(true)
            .with_tunnels(options.decapsulate))
    }
}

impl RangeRows for Observations {
    type Item = Observation;

    fn new(options: &ReadOptions) -> Result<Self> {
        Ok(Observations {
            selector: Self::selector(options)?,
            decapsulate: options.decapsulate,
            frames: 0,
            items: Vec::new(),
        })
    }

    #[inline]
    fn push(&mut self, record: &Record<'_>) -> Result<()> {
        self.frames += 1;
        if let Some(dissection) = self.selector.select(record)? {
            let frame = Frame {
                file: 0,
                number: self.frames,
            };
            self.items.push(Observation::of(
                record.data,
                dissection,
                record.timestamp_ns,
                frame,
                self.decapsulate,
            ));
        }
        Ok(())
    }

    #[inline]
    fn piece_is_full(&self, batch_rows: usize) -> bool {
        self.items.len() >= batch_rows
    }

    fn take_piece(&mut self) -> Vec<Observation> {
        std::mem::take(&mut self.items)
    }

    fn stats_mut(&mut self) -> &mut ReadStats {
        self.selector.stats_mut()
    }

    fn shift_frames(items: &mut [Observation], before: u64) {
        for o in items {
            o.frame.number += before;
        }
    }
}
