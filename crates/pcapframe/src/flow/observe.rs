//! What one selected packet tells the flow table: its endpoints, the lengths Zeek counts,
//! its TCP header fields and its fragment fields, read once from the packet's dissection.

use super::app::{AppReader, Application, FlowApp};
use crate::dissect::Dissection;
use crate::error::Result;
use crate::format::Record;
use crate::ip::{Addr, IpPacket};
use crate::link::IpVersion;
use crate::options::ReadOptions;
use crate::parallel::{RangeRows, RangeSource};
use crate::select::PacketSelector;
use crate::stats::ReadStats;
use crate::stream::{Replay, SegmentAt, StreamCarry, StreamStart};
use crate::wire::ip_protocol::{FRAGMENT, ICMP, ICMPV6, ROUTING, TCP, UDP};
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
    /// What checking its checksums found (`ReadOptions::verify_checksums`).
    pub checksum: Checksum,
    /// What it says of its flow's application, when the read looks (`ReadOptions::flow_app`).
    pub app: Option<Box<FlowApp>>,
}

/// A packet's checksums, when a read verifies them (as Zeek does without `-C`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Checksum {
    /// Not verified: not asked, or the packet cannot be (a fragment of a datagram, a
    /// segment not captured whole, a TSO length of 0, a UDP checksum of 0 over IPv4).
    #[default]
    Unchecked,
    Good,
    /// The IPv4 header's checksum is wrong: Zeek drops the packet before any connection.
    BadIp,
    /// The TCP, UDP, ICMP or ICMPv6 checksum is wrong.
    BadTransport,
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
        verify_checksums: bool,
        app: Option<Box<FlowApp>>,
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
            checksum: if verify_checksums {
                verify(d, p, ip_len)
            } else {
                Checksum::Unchecked
            },
            app,
        }
    }
}

/// The one's-complement sum of `bytes` as 16-bit big-endian words (an odd last byte padded
/// with zero), added to `sum`, not yet folded.
fn ones_sum(bytes: &[u8], mut sum: u64) -> u64 {
    let mut words = bytes.chunks_exact(2);
    for w in &mut words {
        sum += u16::from_be_bytes([w[0], w[1]]) as u64;
    }
    if let [last] = words.remainder() {
        sum += (*last as u64) << 8;
    }
    sum
}

fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Check the packet's IPv4 header checksum, then its transport checksum over the whole
/// segment with the pseudo-header (RFC 791, 793, 768, 792, 8200), as Zeek does: only a
/// segment captured whole, of a datagram not fragmented.
fn verify(d: &[u8], p: &IpPacket, ip_len: u32) -> Checksum {
    if p.version == IpVersion::V4 {
        let ihl = rest(d, p.start)
            .first()
            .map_or(0, |b| (b & 0x0f) as usize * 4);
        match d.get(p.start..p.start + ihl) {
            Some(header) if ihl >= 20 => {
                if fold(ones_sum(header, 0)) != 0xffff {
                    return Checksum::BadIp;
                }
            }
            _ => return Checksum::Unchecked,
        }
    }
    if !matches!(p.protocol, TCP | UDP | ICMP | ICMPV6)
        || p.more_fragments
        || p.fragment_offset != 0
        || ip_len == 0
    {
        return Checksum::Unchecked;
    }
    let Some(segment) = d.get(p.transport_offset..p.start + ip_len as usize) else {
        return Checksum::Unchecked; // not captured whole (Zeek: caplen < len)
    };
    if p.protocol == UDP {
        let field = be16(segment, 6..8);
        // Zero: no checksum over IPv4; over IPv6 allowed for tunnels (VXLAN, RFC 6935).
        if field == Some(0) && (p.version == IpVersion::V4 || be16(segment, 2..4) == Some(4789)) {
            return Checksum::Unchecked;
        }
    }
    let mut sum = ones_sum(segment, 0);
    if p.protocol != ICMP {
        // The pseudo-header: addresses, protocol and the segment's length.
        for a in [p.src, final_destination(d, p)] {
            sum = match a {
                Addr::V4(b) => ones_sum(&b, sum),
                Addr::V6(b) => ones_sum(&b, sum),
            };
        }
        sum += p.protocol as u64 + (segment.len() as u64 & 0xffff) + (segment.len() as u64 >> 16);
    }
    if fold(sum) == 0xffff {
        Checksum::Good
    } else {
        Checksum::BadTransport
    }
}

/// The IP length field as written: IPv4's total length, IPv6's payload length + 40 (0 when
/// the field is 0: TSO captures, jumbograms).
pub(crate) fn stated_len(d: &[u8], p: &IpPacket) -> u32 {
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

/// The destination a transport checksum's pseudo-header holds: IPv6's final one when a
/// routing header has segments left (RFC 8200 8.1): the last address of a type 0 or 2
/// header, the first of a segment routing header's list (type 4).
fn final_destination(d: &[u8], p: &IpPacket) -> Addr {
    if p.version != IpVersion::V6 {
        return p.dst;
    }
    let Some(mut next) = Ipv6Header::new(rest(d, p.start)).map(|h| h.next_header()) else {
        return p.dst;
    };
    let mut at = p.start + Ipv6Header::LEN;
    for _ in 0..16 {
        if at >= p.transport_offset {
            break;
        }
        let h = ExtensionHeader::new(rest(d, at), next);
        let Some(len) = h.header_len() else { break };
        if next == ROUTING {
            let bytes = rest(d, at);
            let (kind, left) = (bytes.get(2).copied(), bytes.get(3).copied().unwrap_or(0));
            let addresses = len.saturating_sub(8) / 16;
            let pick = match kind {
                Some(0 | 2) if left > 0 && addresses > 0 => Some(addresses - 1),
                Some(4) if left > 0 && addresses > 0 => Some(0),
                _ => None,
            };
            if let Some(b) =
                pick.and_then(|i| crate::wire::array::<16>(bytes, 8 + 16 * i..24 + 16 * i))
            {
                return Addr::V6(b);
            }
        }
        let Some(n) = h.next_header() else { break };
        next = n;
        at += len;
    }
    p.dst
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

/// Observations per piece a decoding thread hands the flow table (1.1 MB): pieces wait in
/// a queue, so their size is memory (with 65,536, the pieces in flight held 35 MiB more on
/// the SYN scan of `benches/bench_flows.py`).
const OBSERVATION_PIECE: usize = 8192;

/// Records to observations, for reading byte ranges on several threads
/// (`parallel::stream_in_ranges`): the flow table's selection of packets, each observed
/// with its frame counted from where the decode started (file 0; the reader sets the file).
pub struct Observations {
    selector: PacketSelector,
    decapsulate: bool,
    verify_checksums: bool,
    frames: u64,
    /// Observations made since the decode started (a byte range's notes name them).
    observed: u64,
    /// Each packet's application facts, when the read looks (`ReadOptions::flow_app`).
    app: Option<AppReader>,
    /// The file of the last observation: TCP streams are followed within a file.
    file: Option<u32>,
    items: Vec<Observation>,
}

impl Observations {
    /// The observation of `record` (its `frame` given), if the flow table selects it.
    #[inline]
    pub fn observe(&mut self, record: &Record<'_>, frame: Frame) -> Result<Option<Observation>> {
        self.observe_then(record, frame, |obs| obs)
    }

    /// `put` of the observation of `record`, if the flow table selects it: `put` keeps it
    /// where it is built (pushed through `observe`'s `Option`, each 144-byte observation
    /// was copied once more, by a call to `memcpy`).
    #[inline(always)]
    fn observe_then<T>(
        &mut self,
        record: &Record<'_>,
        frame: Frame,
        put: impl FnOnce(Observation) -> T,
    ) -> Result<Option<T>> {
        let Some(dissection) = self.selector.select(record)? else {
            return Ok(None);
        };
        let app = match &mut self.app {
            Some(app) => {
                // A read of several files on one thread: each file's streams from its
                // start, as threads and dask partitions read them.
                if self.file.is_some_and(|f| f != frame.file) {
                    app.start_streams(StreamStart::FileStart);
                }
                self.file = Some(frame.file);
                let at = SegmentAt {
                    record: record.offset,
                    row: self.observed,
                };
                app.read(record.data, dissection, record.timestamp_ns, at)
            }
            None => None,
        };
        self.observed += 1;
        Ok(Some(put(Observation::of(
            record.data,
            dissection,
            record.timestamp_ns,
            frame,
            self.decapsulate,
            self.verify_checksums,
            app,
        ))))
    }

    /// What the selection has counted so far.
    pub fn stats(&self) -> &ReadStats {
        self.selector.stats()
    }

    /// Count records jumped over by a reader that numbers the records itself.
    pub fn count_outside_time_range(&mut self, packets: u64) {
        self.selector.count_outside_time_range(packets);
    }
}

impl RangeRows for Observations {
    type Item = Observation;

    fn new(options: &ReadOptions) -> Result<Self> {
        Ok(Observations {
            selector: PacketSelector::new(options)?
                .with_transport(true)
                .with_tunnels(options.decapsulate),
            decapsulate: options.decapsulate,
            verify_checksums: options.verify_checksums,
            frames: 0,
            observed: 0,
            app: options.flow_app.then(AppReader::default),
            file: None,
            items: Vec::new(),
        })
    }

    fn skip_outside_time_range(&mut self, packets: u64) {
        self.frames += packets;
        self.selector.count_outside_time_range(packets);
    }

    #[inline]
    fn push(&mut self, record: &Record<'_>) -> Result<()> {
        self.frames += 1;
        let frame = Frame {
            file: 0,
            number: self.frames,
        };
        let mut items = std::mem::take(&mut self.items);
        let observed = self.observe_then(record, frame, |obs| items.push(obs));
        self.items = items;
        observed.map(|_| ())
    }

    #[inline]
    fn piece_is_full(&self, batch_rows: usize, collected: bool) -> bool {
        // A whole range's observations in one vector, not copied from pieces into it.
        !collected && self.items.len() >= batch_rows.min(OBSERVATION_PIECE)
    }

    fn take_piece(&mut self) -> Vec<Observation> {
        std::mem::take(&mut self.items)
    }

    fn reuse(&mut self, mut spare: Vec<Observation>) {
        if self.items.is_empty() {
            spare.clear();
            self.items = spare;
        }
    }

    fn stats_mut(&mut self) -> &mut ReadStats {
        self.selector.stats_mut()
    }

    fn shift_frames(items: &mut [Observation], before: u64) {
        for o in items {
            o.frame.number += before;
        }
    }

    fn start_streams(&mut self, start: StreamStart) {
        if let Some(app) = &mut self.app {
            app.start_streams(start);
        }
    }

    fn take_streams(&mut self) -> Option<StreamCarry> {
        Some(self.app.as_mut()?.streams_mut().carry())
    }

    fn replay_streams(
        items: &mut [Observation],
        source: &RangeSource<'_>,
        start: u64,
        replay: &mut Replay,
    ) -> Option<StreamCarry> {
        crate::parallel::replay_observations(items, source, start, replay)
            .ok()
            .flatten()
    }
}

/// Bytes of one observation's fixed part in `encode`'s layout.
const ENCODED_LEN: usize = 102;
/// `encode`'s flag of an observation with application facts (they follow every fixed part).
const HAS_APP: u16 = 1 << 12;
/// A missing text in an application fact's encoding.
const NO_TEXT: u32 = u32::MAX;

/// Observations as bytes (to move them between processes: a dask worker's partition to
/// another's shard): their count, one fixed-size little-endian record each, then the
/// application facts of those that have them; `decode` reads them back.
pub fn encode(observations: &[Observation]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + observations.len() * ENCODED_LEN);
    out.extend_from_slice(&(observations.len() as u64).to_le_bytes());
    for o in observations {
        let bit = |b: bool, n: u16| (b as u16) << n;
        let flags = bit(o.time_ns.is_some(), 0)
            | bit(matches!(o.src, Addr::V6(_)), 1)
            | bit(matches!(o.dst, Addr::V6(_)), 2)
            | bit(o.ports.is_some(), 3)
            | bit(o.icmp.is_some(), 4)
            | bit(o.vlan.is_some(), 5)
            | bit(o.tunnel_id.is_some(), 6)
            | bit(o.tcp.is_some(), 7)
            | bit(o.fragment.is_some(), 8)
            | bit(o.fragment.is_some_and(|f| f.more), 9)
            | (match o.checksum {
                Checksum::Unchecked => 0,
                Checksum::Good => 1,
                Checksum::BadIp => 2,
                Checksum::BadTransport => 3,
            }) << 10
            | if o.app.is_some() { HAS_APP } else { 0 };
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&o.time_ns.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&o.frame.file.to_le_bytes());
        out.extend_from_slice(&o.frame.number.to_le_bytes());
        for a in [o.src, o.dst] {
            let mut bytes = [0u8; 16];
            match a {
                Addr::V4(b) => bytes[..4].copy_from_slice(&b),
                Addr::V6(b) => bytes = b,
            }
            out.extend_from_slice(&bytes);
        }
        out.push(o.protocol);
        let (sp, dp) = o.ports.unwrap_or((0, 0));
        out.extend_from_slice(&sp.to_le_bytes());
        out.extend_from_slice(&dp.to_le_bytes());
        let (t, c) = o.icmp.unwrap_or((0, 0));
        out.extend_from_slice(&[t, c]);
        out.extend_from_slice(&o.vlan.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&o.tunnel_id.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&o.ip_len.to_le_bytes());
        out.extend_from_slice(&o.payload_len.to_le_bytes());
        let tcp = o.tcp.unwrap_or(TcpFields {
            flags: 0,
            seq: 0,
            ack: 0,
            window: 0,
        });
        out.push(tcp.flags);
        out.extend_from_slice(&tcp.seq.to_le_bytes());
        out.extend_from_slice(&tcp.ack.to_le_bytes());
        out.extend_from_slice(&tcp.window.to_le_bytes());
        let f = o.fragment.unwrap_or(Fragment {
            ident: 0,
            offset: 0,
            more: false,
            header_len: 0,
            data_len: 0,
        });
        for v in [f.ident, f.offset, f.header_len, f.data_len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    for app in observations.iter().filter_map(|o| o.app.as_deref()) {
        let application = Application::ALL
            .iter()
            .position(|&a| Some(a) == app.application)
            .map_or(0, |i| i as u8 + 1);
        out.push(application);
        for text in [&app.server_name, &app.ja4, &app.ja3, &app.ja3s] {
            match text {
                Some(t) => {
                    out.extend_from_slice(&(t.len() as u32).to_le_bytes());
                    out.extend_from_slice(t.as_bytes());
                }
                None => out.extend_from_slice(&NO_TEXT.to_le_bytes()),
            }
        }
    }
    out
}

/// One observation's application facts at `*at` of `bytes`, moving past them.
fn decode_app(bytes: &[u8], at: &mut usize) -> Option<FlowApp> {
    let application = match *bytes.get(*at)? {
        0 => None,
        n => Some(*Application::ALL.get(n as usize - 1)?),
    };
    *at += 1;
    let mut text = || -> Option<Option<Box<str>>> {
        let len = u32::from_le_bytes(bytes.get(*at..*at + 4)?.try_into().ok()?);
        *at += 4;
        if len == NO_TEXT {
            return Some(None);
        }
        let end = at.checked_add(len as usize)?;
        let t = std::str::from_utf8(bytes.get(*at..end)?).ok()?;
        *at = end;
        Some(Some(t.into()))
    };
    Some(FlowApp {
        application,
        server_name: text()?,
        ja4: text()?,
        ja3: text()?,
        ja3s: text()?,
    })
}

/// `encode`'s observations back; `None` for bytes it did not write.
pub fn decode(bytes: &[u8]) -> Option<Vec<Observation>> {
    let count = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let fixed_end = usize::try_from(count)
        .ok()?
        .checked_mul(ENCODED_LEN)?
        .checked_add(8)?;
    let fixed = bytes.get(8..fixed_end)?;
    let mut out = Vec::with_capacity(fixed.len() / ENCODED_LEN);
    let mut app_at = fixed_end;
    for r in fixed.chunks_exact(ENCODED_LEN) {
        let mut at = 0;
        let mut take = |n: usize| {
            let s = &r[at..at + n];
            at += n;
            s
        };
        let u16_at = |s: &[u8]| u16::from_le_bytes([s[0], s[1]]);
        let u32_at = |s: &[u8]| u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
        let flags = u16_at(take(2));
        let has = |n: u16| flags & (1 << n) != 0;
        let time = i64::from_le_bytes(take(8).try_into().ok()?);
        let file = u32_at(take(4));
        let number = u64::from_le_bytes(take(8).try_into().ok()?);
        let mut addr = |v6: bool| {
            let b: [u8; 16] = take(16).try_into().expect("16 bytes");
            if v6 {
                Addr::V6(b)
            } else {
                Addr::V4([b[0], b[1], b[2], b[3]])
            }
        };
        let (src, dst) = (addr(has(1)), addr(has(2)));
        let protocol = take(1)[0];
        let ports = (u16_at(take(2)), u16_at(take(2)));
        let icmp = take(2);
        let icmp = (icmp[0], icmp[1]);
        let vlan = u16_at(take(2));
        let tunnel_id = u32_at(take(4));
        let ip_len = u32_at(take(4));
        let payload_len = u32_at(take(4));
        let tcp = TcpFields {
            flags: take(1)[0],
            seq: u32_at(take(4)),
            ack: u32_at(take(4)),
            window: u16_at(take(2)),
        };
        let fragment = Fragment {
            ident: u32_at(take(4)),
            offset: u32_at(take(4)),
            more: has(9),
            header_len: u32_at(take(4)),
            data_len: u32_at(take(4)),
        };
        out.push(Observation {
            time_ns: has(0).then_some(time),
            frame: Frame { file, number },
            src,
            dst,
            protocol,
            ports: has(3).then_some(ports),
            icmp: has(4).then_some(icmp),
            vlan: has(5).then_some(vlan),
            tunnel_id: has(6).then_some(tunnel_id),
            ip_len,
            payload_len,
            tcp: has(7).then_some(tcp),
            fragment: has(8).then_some(fragment),
            checksum: match (flags >> 10) & 3 {
                0 => Checksum::Unchecked,
                1 => Checksum::Good,
                2 => Checksum::BadIp,
                _ => Checksum::BadTransport,
            },
            app: if flags & HAS_APP != 0 {
                Some(Box::new(decode_app(bytes, &mut app_at)?))
            } else {
                None
            },
        });
    }
    (app_at == bytes.len()).then_some(out)
}
