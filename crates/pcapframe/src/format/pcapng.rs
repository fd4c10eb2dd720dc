//! pcapng: sections (each with its own byte order), interfaces (each with its own link type,
//! time resolution and offset), and the three packet blocks: EPB, SPB and the obsolete PB.
//! Every other block is skipped after its framing is checked.

use std::sync::Arc;

use super::{fill_or_truncated, Endian, Found, MAX_CAPLEN};
use crate::error::{Error, ErrorKind, Result};
use crate::input::ByteWindow;

pub const SHB: u32 = 0x0A0D_0D0A;
pub const IDB: u32 = 0x0000_0001;
pub const PB: u32 = 0x0000_0002;
pub const SPB: u32 = 0x0000_0003;
pub const EPB: u32 = 0x0000_0006;
pub const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

/// A block larger than this is damage, not data: the largest packet plus generous options.
const MAX_BLOCK_LEN: u32 = MAX_CAPLEN + (1 << 20);

const OPT_ENDOFOPT: u16 = 0;
const OPT_IF_NAME: u16 = 2;
const OPT_IF_DESCRIPTION: u16 = 3;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// Longest interface name kept, in bytes (cut at a character boundary). Real names are
/// short (`eth0`, `\Device\NPF_{GUID}`, "Network adapter '...' on local host"); without a
/// cap, a small compressed file of 20,000 interfaces with 64 KiB names held 2.6 GB.
pub const MAX_INTERFACE_NAME: usize = 128;

pub fn is_pcapng(head: &[u8]) -> bool {
    head.len() >= 4 && head[..4] == SHB.to_be_bytes()
}

/// Units of a timestamp: 10^-n or 2^-n seconds (`if_tsresol`, default 10^-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsResolution {
    PowerOfTen(u8),
    PowerOfTwo(u8),
}

impl TsResolution {
    fn from_option(byte: u8) -> Self {
        if byte & 0x80 == 0 {
            TsResolution::PowerOfTen(byte)
        } else {
            TsResolution::PowerOfTwo(byte & 0x7f)
        }
    }

    /// Exact nanoseconds (floored, as Wireshark does) plus an offset in seconds;
    /// `None` beyond what i64 nanoseconds hold.
    pub fn to_ns(self, units: u64, offset_secs: i64) -> Option<i64> {
        let units = units as i128;
        let ns: i128 = match self {
            TsResolution::PowerOfTen(n) if n <= 9 => units * 10i128.pow(9 - n as u32),
            TsResolution::PowerOfTen(n) => match 10i128.checked_pow(n as u32 - 9) {
                Some(div) => units / div,
                None => 0,
            },
            TsResolution::PowerOfTwo(n) if n < 127 => (units * 1_000_000_000) >> n,
            TsResolution::PowerOfTwo(_) => 0,
        };
        i64::try_from(ns + offset_secs as i128 * 1_000_000_000).ok()
    }
}

#[derive(Debug, Clone)]
pub struct Interface {
    pub link_type: u32,
    pub snaplen: u32,
    pub resolution: TsResolution,
    pub offset_secs: i64,
    /// `if_name`, else `if_description` (as Wireshark names interfaces; the only use of
    /// either), at most `MAX_INTERFACE_NAME` bytes: about 40 bytes plus the name per
    /// interface, whatever the file declares.
    pub name: Option<Box<str>>,
}

#[derive(Debug, Default, Clone)]
pub struct PcapngFormat {
    endian: Endian,
    /// Shared, so that readers of byte ranges clone the description of a file with a
    /// million interfaces for free; a sequential reader holds the only reference.
    interfaces: Arc<Vec<Interface>>,
    /// 0-based count of Section Header Blocks seen, minus one.
    pub section: u32,
    seen_section: bool,
    /// Where the first section ends, if its writer said (most write "unknown").
    pub first_section_end: Option<u64>,
    /// Set after `read_head`: the description of the file is complete, and a reader that
    /// resumes at a block boundary further on relies on it.
    frozen: bool,
    /// Return every block, not only packets (`RecordReader::next_item`).
    pub(super) report_blocks: bool,
}

enum Block {
    End,
    Packet(Found),
    PacketAhead,
    Consumed,
}

/// Block types a resynchronising reader believes: those of the pcapng specification
/// (section header, interface description, packet, simple packet, name resolution,
/// interface statistics, enhanced packet, systemd journal export, decryption secrets and
/// the two custom blocks).
const KNOWN_BLOCK_TYPES: [u32; 11] = [
    SHB,
    IDB,
    PB,
    SPB,
    4,
    5,
    EPB,
    9,
    10,
    0x0000_0BAD,
    0x4000_0BAD,
];

fn not_splittable(offset: u64, what: &str) -> Error {
    Error::at(
        ErrorKind::NotSplittable,
        offset,
        format!(
            "this pcapng file has {what} after its first packet, so its byte ranges cannot be \
             read on their own: read it whole (blocksize=None)"
        ),
    )
}

impl PcapngFormat {
    /// Byte order of the current section.
    pub fn big_endian(&self) -> bool {
        self.endian == Endian::Big
    }

    pub(super) fn next(&mut self, window: &mut ByteWindow) -> Result<Option<Found>> {
        loop {
            match self.block(window, false)? {
                Block::End => return Ok(None),
                Block::Packet(found) => return Ok(Some(found)),
                Block::Consumed | Block::PacketAhead => {}
            }
        }
    }

    /// Read the blocks before the first packet block (section and interface descriptions,
    /// name resolution, ...), stopping in front of it: what a reader of any later byte
    /// range needs to know. Afterwards the format is frozen: a section or interface block
    /// further on means the file cannot be read in independent byte ranges.
    pub(super) fn read_head(&mut self, window: &mut ByteWindow) -> Result<()> {
        loop {
            match self.block(window, true)? {
                Block::End | Block::PacketAhead => break,
                Block::Consumed => {}
                Block::Packet(_) => unreachable!("read_head stops in front of packet blocks"),
            }
        }
        self.frozen = true;
        Ok(())
    }

    /// Accept section and interface blocks again (a sequential reader from a boundary
    /// whose description is known to be complete up to there).
    pub fn thaw(&mut self) {
        self.frozen = false;
    }

    /// The largest block a packet of this file's interfaces can take (for resynchronisation).
    pub fn max_block_len(&self) -> usize {
        let snaplen = self
            .interfaces
            .iter()
            .map(|i| {
                if i.snaplen == 0 {
                    MAX_CAPLEN
                } else {
                    i.snaplen.min(MAX_CAPLEN)
                }
            })
            .max();
        // The block's fixed fields and a generous allowance for options.
        snaplen.unwrap_or(MAX_CAPLEN) as usize + (64 << 10)
    }

    /// The total length of a block at the start of `bytes` if it could be a real block of
    /// this section: a known block type, a length that is a multiple of 4 within bounds,
    /// and the same length repeated at its end. `None` if not, or if `bytes` is too short
    /// to tell.
    pub fn plausible_block_len(&self, bytes: &[u8]) -> Option<usize> {
        let head = bytes.get(..8)?;
        let e = self.endian;
        let block_type = if head[..4] == SHB.to_be_bytes() {
            SHB
        } else {
            e.u32(head, 0)
        };
        if !KNOWN_BLOCK_TYPES.contains(&block_type) {
            return None;
        }
        let total = e.u32(head, 4);
        if total < 12 || !total.is_multiple_of(4) || total > MAX_BLOCK_LEN {
            return None;
        }
        let total = total as usize;
        let trailer = bytes.get(total - 4..total)?;
        (e.u32(trailer, 0) as usize == total).then_some(total)
    }

    /// One block: a packet is returned (unconsumed), anything else is applied and consumed.
    /// With `stop_before_packets`, a packet block is left unread (`PacketAhead`).
    fn block(&mut self, window: &mut ByteWindow, stop_before_packets: bool) -> Result<Block> {
        if !fill_or_truncated(window, 12, || "a pcapng block header".into())? {
            return Ok(Block::End);
        }
        let offset = window.offset();
        let head = window.available();
        let raw_type = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        if raw_type == SHB {
            if self.frozen {
                return Err(not_splittable(offset, "a second section header block"));
            }
            // The byte-order magic decides how to read this section, its length included.
            self.endian = match Endian::Little.u32(head, 8) {
                BYTE_ORDER_MAGIC => Endian::Little,
                m if m.swap_bytes() == BYTE_ORDER_MAGIC => Endian::Big,
                m => {
                    // At the start of the file this is not pcapng at all; further on, damage.
                    let kind = if self.seen_section {
                        ErrorKind::Corrupt
                    } else {
                        ErrorKind::NotACapture
                    };
                    return Err(Error::at(
                        kind,
                        offset,
                        format!(
                            "pcapng section header has byte-order magic {m:#010x}, not 0x1a2b3c4d"
                        ),
                    ));
                }
            };
        } else if !self.seen_section && !self.frozen {
            return Err(Error::at(
                ErrorKind::Corrupt,
                offset,
                "pcapng file does not start with a section header block",
            ));
        }
        let e = self.endian;
        let block_type = e.u32(head, 0);
        if stop_before_packets && matches!(block_type, EPB | SPB | PB) {
            return Ok(Block::PacketAhead);
        }
        let total = e.u32(head, 4);
        if total < 12 || !total.is_multiple_of(4) || total > MAX_BLOCK_LEN {
            return Err(Error::at(
                ErrorKind::Corrupt,
                offset,
                format!(
                    "pcapng block of type {block_type:#x} claims a length of {total} bytes \
                     (it must be a multiple of 4 between 12 and {MAX_BLOCK_LEN}): the file is damaged here"
                ),
            ));
        }
        let total = total as usize;
        if !fill_or_truncated(window, total, || {
            format!("a pcapng block of type {block_type:#x} and {total} bytes")
        })? {
            return Ok(Block::End);
        }
        let block = &window.available()[..total];
        let trailer = e.u32(block, total - 4) as usize;
        if trailer != total {
            return Err(Error::at(
                ErrorKind::Corrupt,
                offset,
                format!("pcapng block of type {block_type:#x} starts with length {total} but ends with {trailer}: the file is damaged here"),
            ));
        }
        let body = &block[8..total - 4];
        let found = match block_type {
            SHB => {
                self.read_section_header(body, offset)?;
                None
            }
            IDB if self.frozen => {
                return Err(not_splittable(offset, "an interface description block"))
            }
            IDB => {
                let iface = read_interface(e, body, offset)?;
                Arc::make_mut(&mut self.interfaces).push(iface);
                None
            }
            EPB => Some(self.enhanced_packet(body, offset)?),
            SPB => Some(self.simple_packet(body, offset)?),
            PB => Some(self.obsolete_packet(body, offset)?),
            _ => None,
        };
        match found {
            Some(mut f) => {
                f.record_len = total;
                f.data = f.data.start + 8..f.data.end + 8;
                f.block_type = block_type;
                Ok(Block::Packet(f))
            }
            None if self.report_blocks => Ok(Block::Packet(Found {
                record_len: total,
                data: 0..total,
                timestamp_ns: None,
                wire_len: 0,
                link_type: 0,
                interface: 0,
                block_type,
            })),
            None => {
                window.consume(total);
                Ok(Block::Consumed)
            }
        }
    }

    fn read_section_header(&mut self, body: &[u8], offset: u64) -> Result<()> {
        if body.len() < 16 {
            return Err(Error::at(
                ErrorKind::Corrupt,
                offset,
                "pcapng section header block is too short",
            ));
        }
        let (major, minor) = (self.endian.u16(body, 4), self.endian.u16(body, 6));
        // Version 1.0, and 1.2 which some writers put (libpcap accepts both; so does Wireshark).
        if major != 1 || !(minor == 0 || minor == 2) {
            if self.seen_section {
                // A later section we cannot read: the packets before it stand (the policy
                // for damage decides whether that is an error).
                return Err(Error::at(
                    ErrorKind::Corrupt,
                    offset,
                    format!(
                        "section {} of this pcapng file has version {major}.{minor}, which is \
                         not read (libpcap and Wireshark read 1.0): its packets are not read",
                        self.section + 2
                    ),
                ));
            }
            return Err(Error::at(
                ErrorKind::NotACapture,
                offset,
                format!(
                    "unsupported pcapng version {major}.{minor} (libpcap and Wireshark read 1.0)"
                ),
            ));
        }
        self.interfaces = Arc::default();
        if self.seen_section {
            self.section += 1;
        } else {
            let len = self.endian.u64(body, 8);
            if len != u64::MAX {
                self.first_section_end = Some(
                    offset
                        .saturating_add(body.len() as u64 + 12)
                        .saturating_add(len),
                );
            }
        }
        self.seen_section = true;
        Ok(())
    }

    /// The `if_name` of interface `id` of the current section, else its `if_description`
    /// (as Wireshark names interfaces).
    pub fn interface_name(&self, id: u32) -> Option<&str> {
        self.interfaces.get(id as usize)?.name.as_deref()
    }

    fn interface(&self, id: u32, offset: u64) -> Result<&Interface> {
        self.interfaces.get(id as usize).ok_or_else(|| {
            if self.frozen {
                // Perhaps described by an interface block in an earlier byte range.
                return not_splittable(
                    offset,
                    &format!("a packet of interface {id}, not described before the first packet,"),
                );
            }
            Error::at(
                ErrorKind::Corrupt,
                offset,
                format!(
                    "packet block names interface {id}, but this section describes {} interface(s)",
                    self.interfaces.len()
                ),
            )
        })
    }

    fn enhanced_packet(&self, body: &[u8], offset: u64) -> Result<Found> {
        let e = self.endian;
        if body.len() < 20 {
            return Err(too_short("enhanced packet block", offset));
        }
        let id = e.u32(body, 0);
        let units = (e.u32(body, 4) as u64) << 32 | e.u32(body, 8) as u64;
        self.timed_packet(
            id,
            units,
            e.u32(body, 12),
            e.u32(body, 16),
            20,
            body.len(),
            offset,
        )
    }

    fn obsolete_packet(&self, body: &[u8], offset: u64) -> Result<Found> {
        let e = self.endian;
        if body.len() < 20 {
            return Err(too_short("packet block", offset));
        }
        let id = e.u16(body, 0) as u32;
        let units = (e.u32(body, 4) as u64) << 32 | e.u32(body, 8) as u64;
        self.timed_packet(
            id,
            units,
            e.u32(body, 12),
            e.u32(body, 16),
            20,
            body.len(),
            offset,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn timed_packet(
        &self,
        id: u32,
        units: u64,
        caplen: u32,
        wire_len: u32,
        data_at: usize,
        body_len: usize,
        offset: u64,
    ) -> Result<Found> {
        let iface = self.interface(id, offset)?;
        if caplen as usize > body_len - data_at {
            return Err(Error::at(
                ErrorKind::Corrupt,
                offset,
                format!(
                    "packet block claims {caplen} captured bytes but only {} fit in the block: the file is damaged here",
                    body_len - data_at
                ),
            ));
        }
        Ok(Found {
            record_len: 0,
            data: data_at..data_at + caplen as usize,
            timestamp_ns: iface.resolution.to_ns(units, iface.offset_secs),
            wire_len,
            link_type: iface.link_type,
            interface: id,
            block_type: 0,
        })
    }

    fn simple_packet(&self, body: &[u8], offset: u64) -> Result<Found> {
        if body.len() < 4 {
            return Err(too_short("simple packet block", offset));
        }
        let iface = self.interface(0, offset)?;
        let wire_len = self.endian.u32(body, 0);
        // An SPB does not store its captured length: it is bounded by the snaplen and the block.
        let mut caplen = (wire_len as usize).min(body.len() - 4);
        if iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen as usize);
        }
        Ok(Found {
            record_len: 0,
            data: 4..4 + caplen,
            timestamp_ns: None,
            wire_len,
            link_type: iface.link_type,
            interface: 0,
            block_type: 0,
        })
    }
}

fn too_short(what: &str, offset: u64) -> Error {
    Error::at(
        ErrorKind::Corrupt,
        offset,
        format!("pcapng {what} is too short for its fixed fields"),
    )
}

fn read_interface(e: Endian, body: &[u8], offset: u64) -> Result<Interface> {
    if body.len() < 8 {
        return Err(too_short("interface description block", offset));
    }
    let mut iface = Interface {
        link_type: e.u16(body, 0) as u32,
        snaplen: e.u32(body, 4),
        resolution: TsResolution::PowerOfTen(6),
        offset_secs: 0,
        name: None,
    };
    let mut description = None;
    // Options: code, length, value padded to 4 bytes. A malformed option list ends the
    // options (as Wireshark does) rather than the file: the packets are still readable.
    let mut at = 8;
    while at + 4 <= body.len() {
        let code = e.u16(body, at);
        let len = e.u16(body, at + 2) as usize;
        let value = match body.get(at + 4..at + 4 + len) {
            Some(v) => v,
            None => break,
        };
        match (code, len) {
            (OPT_ENDOFOPT, _) => break,
            (OPT_IF_TSRESOL, 1) => iface.resolution = TsResolution::from_option(value[0]),
            (OPT_IF_TSOFFSET, 8) => iface.offset_secs = e.u64(value, 0) as i64,
            (OPT_IF_NAME, _) => iface.name = Some(interface_name(value)),
            (OPT_IF_DESCRIPTION, _) => description = Some(value),
            _ => {}
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    if iface.name.is_none() {
        iface.name = description.map(interface_name);
    }
    Ok(iface)
}

/// An interface name option's text: up to its first NUL, lossy UTF-8, at most
/// `MAX_INTERFACE_NAME` bytes.
fn interface_name(value: &[u8]) -> Box<str> {
    let text = value.split(|&b| b == 0).next().unwrap_or(&[]);
    // Decode a little more than is kept, so that the cut falls on a whole character.
    let text = String::from_utf8_lossy(&text[..text.len().min(MAX_INTERFACE_NAME + 4)]);
    let mut end = text.len().min(MAX_INTERFACE_NAME);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].into()
}

#[cfg(test)]
mod tests {
    use super::TsResolution::*;

    #[test]
    fn timestamps_convert_exactly_for_every_resolution() {
        assert_eq!(PowerOfTen(6).to_ns(1_500_000, 0), Some(1_500_000_000));
        assert_eq!(PowerOfTen(9).to_ns(7, 0), Some(7));
        assert_eq!(PowerOfTen(12).to_ns(1_999, 0), Some(1));
        // 2^-10 s units: 1024 units = 1 s; 1 unit = 976562.5 ns, floored.
        assert_eq!(PowerOfTwo(10).to_ns(1024, 0), Some(1_000_000_000));
        assert_eq!(PowerOfTwo(10).to_ns(1, 0), Some(976_562));
        assert_eq!(PowerOfTen(6).to_ns(0, 100), Some(100_000_000_000));
        assert_eq!(PowerOfTen(0).to_ns(u64::MAX, 0), None);
        assert_eq!(PowerOfTwo(127).to_ns(u64::MAX, 0), Some(0));
    }
}
