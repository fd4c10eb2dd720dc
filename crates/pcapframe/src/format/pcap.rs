//! Classic libpcap files: microsecond and nanosecond magic, both byte orders, and the
//! "modified" (Kuznetzov) variant whose record headers carry 8 extra bytes.

use super::{fill_or_truncated, Endian, Found, MAX_CAPLEN};
use crate::error::{Error, ErrorKind, Result};
use crate::input::ByteWindow;

pub const FILE_HEADER_LEN: usize = 24;

const MAGIC_USEC: u32 = 0xa1b2_c3d4;
const MAGIC_NSEC: u32 = 0xa1b2_3c4d;
const MAGIC_MODIFIED: u32 = 0xa1b2_cd34;

#[derive(Debug, Clone)]
pub struct PcapFormat {
    endian: Endian,
    /// Multiplier from the fractional field to nanoseconds.
    frac_to_ns: i64,
    record_header_len: usize,
    link_type: u32,
    modified: bool,
    /// The file header as written.
    header: [u8; FILE_HEADER_LEN],
}

impl PcapFormat {
    /// `Ok(None)` when `head` does not start with a pcap magic number.
    pub fn detect(head: &[u8]) -> Result<Option<Self>> {
        if head.len() < 4 {
            return Ok(None);
        }
        let le = Endian::Little.u32(head, 0);
        let be = Endian::Big.u32(head, 0);
        let (endian, magic) = match (le, be) {
            (m, _) if matches!(m, MAGIC_USEC | MAGIC_NSEC | MAGIC_MODIFIED) => (Endian::Little, m),
            (_, m) if matches!(m, MAGIC_USEC | MAGIC_NSEC | MAGIC_MODIFIED) => (Endian::Big, m),
            _ => return Ok(None),
        };
        if head.len() < FILE_HEADER_LEN {
            return Err(Error::at(
                ErrorKind::Truncated,
                0,
                format!(
                    "the file ends inside the 24-byte pcap file header ({} bytes present)",
                    head.len()
                ),
            ));
        }
        // libpcap reads versions 2.0-2.4 (and 543.0, DG/UX tcpdump); so does Wireshark.
        let (major, minor) = (endian.u16(head, 4), endian.u16(head, 6));
        if !((major == 2 && minor <= 4) || (major == 543 && minor == 0)) {
            return Err(Error::at(
                ErrorKind::NotACapture,
                4,
                format!("unsupported pcap file format version {major}.{minor} (libpcap and Wireshark read 2.0 to 2.4)"),
            ));
        }
        // The upper bits of the link-type field carry FCS information, not the type.
        let link_type = endian.u32(head, 20) & 0xffff;
        Ok(Some(PcapFormat {
            endian,
            frac_to_ns: if magic == MAGIC_NSEC { 1 } else { 1_000 },
            record_header_len: if magic == MAGIC_MODIFIED { 24 } else { 16 },
            link_type,
            modified: magic == MAGIC_MODIFIED,
            header: head[..FILE_HEADER_LEN].try_into().expect("checked above"),
        }))
    }

    /// Bytes of each record header (16, or 24 for the modified format).
    pub fn record_header_len(&self) -> usize {
        self.record_header_len
    }

    /// The captured length of a record header at the start of `h`, if the header could
    /// be a real one: lengths within bounds, fraction of a second below one second. Used to
    /// find record boundaries from an arbitrary offset.
    pub fn plausible_caplen(&self, h: &[u8]) -> Option<u32> {
        let h = h.get(..self.record_header_len)?;
        let frac = self.endian.u32(h, 4) as i64;
        let caplen = self.endian.u32(h, 8);
        let wire_len = self.endian.u32(h, 12);
        let frac_ok = frac * self.frac_to_ns < 1_000_000_000;
        (frac_ok && caplen <= MAX_CAPLEN && caplen <= wire_len && wire_len <= super::MAX_CAPLEN)
            .then_some(caplen)
    }

    /// The seconds field of a record header at the start of `h` (checked by the caller).
    pub fn seconds(&self, h: &[u8]) -> u32 {
        self.endian.u32(h, 0)
    }

    /// The file header as written (24 bytes).
    pub fn header(&self) -> [u8; FILE_HEADER_LEN] {
        self.header
    }

    pub fn big_endian(&self) -> bool {
        self.endian == Endian::Big
    }

    pub fn name(&self) -> &'static str {
        match (self.modified, self.frac_to_ns) {
            (true, _) => "pcap (modified, microseconds)",
            (false, 1) => "pcap (nanoseconds)",
            _ => "pcap (microseconds)",
        }
    }

    pub(super) fn next(&mut self, window: &mut ByteWindow) -> Result<Option<Found>> {
        let hlen = self.record_header_len;
        if !fill_or_truncated(window, hlen, || "a pcap record header".into())? {
            return Ok(None);
        }
        let offset = window.offset();
        let h = window.available();
        let e = self.endian;
        let secs = e.u32(h, 0) as i64;
        let frac = e.u32(h, 4) as i64;
        let caplen = e.u32(h, 8);
        let wire_len = e.u32(h, 12);
        // One rule whatever the snaplen: a record up to 16 MiB is data, beyond is damage
        // (refused before the window grows to hold it).
        if caplen > MAX_CAPLEN {
            return Err(Error::at(
                ErrorKind::Corrupt,
                offset,
                format!(
                    "pcap record claims {caplen} captured bytes, more than the {MAX_CAPLEN}-byte \
                     (16 MiB) limit of a record: the file is damaged here"
                ),
            ));
        }
        let total = hlen + caplen as usize;
        if !fill_or_truncated(window, total, || {
            format!("a pcap record of {caplen} captured bytes")
        })? {
            return Ok(None);
        }
        Ok(Some(Found {
            record_len: total,
            data: hlen..total,
            // u32 seconds * 1e9 + frac stays far below i64::MAX.
            timestamp_ns: Some(secs * 1_000_000_000 + frac * self.frac_to_ns),
            wire_len,
            link_type: self.link_type,
            interface: 0,
            block_type: 0,
        }))
    }
}
