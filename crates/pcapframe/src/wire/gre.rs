//! GRE headers (RFC 2784, with RFC 2890's key and sequence number) and PPTP's enhanced GRE
//! (version 1, RFC 2637, with its acknowledgment number).

use super::{be16, be32, u8_at, Field};

/// GRE's protocol types that tunnels carry besides IPv4 and IPv6 (EtherTypes).
pub const PROTOCOL_TRANSPARENT_ETHERNET: u16 = 0x6558;
pub const PROTOCOL_ERSPAN_II: u16 = 0x88be;
pub const PROTOCOL_ERSPAN_III: u16 = 0x22eb;
pub const PROTOCOL_PPP: u16 = 0x880b;

mod field {
    use super::Field;
    pub const FLAGS: usize = 0;
    pub const VERSION: usize = 1;
    pub const PROTOCOL: Field = 2..4;
    pub const OPTIONS: usize = 4;
}

const CHECKSUM_PRESENT: u8 = 0x80;
const ROUTING_PRESENT: u8 = 0x40;
const KEY_PRESENT: u8 = 0x20;
const SEQUENCE_PRESENT: u8 = 0x10;
/// Version 1 only: the acknowledgment number is present (in the second byte).
const ACK_PRESENT: u8 = 0x80;

#[derive(Debug, Clone, Copy)]
pub struct GreHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> GreHeader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        GreHeader { bytes }
    }
    fn flags(&self) -> Option<u8> {
        u8_at(self.bytes, field::FLAGS)
    }
    /// 0 (GRE) or 1 (PPTP's enhanced GRE).
    pub fn version(&self) -> Option<u8> {
        u8_at(self.bytes, field::VERSION).map(|b| b & 0x07)
    }
    /// The payload's protocol, as an EtherType.
    pub fn protocol(&self) -> Option<u16> {
        be16(self.bytes, field::PROTOCOL)
    }
    pub fn has_checksum(&self) -> Option<bool> {
        self.flags().map(|f| f & CHECKSUM_PRESENT != 0)
    }
    /// RFC 1701's routing bit: source route entries follow the optional fields.
    pub fn has_routing(&self) -> Option<bool> {
        self.flags().map(|f| f & ROUTING_PRESENT != 0)
    }
    pub fn has_key(&self) -> Option<bool> {
        self.flags().map(|f| f & KEY_PRESENT != 0)
    }
    pub fn has_sequence(&self) -> Option<bool> {
        self.flags().map(|f| f & SEQUENCE_PRESENT != 0)
    }
    fn has_ack(&self) -> Option<bool> {
        Some(self.version()? == 1 && u8_at(self.bytes, field::VERSION)? & ACK_PRESENT != 0)
    }
    /// Where the key field starts: after the checksum and offset word (present when either
    /// the checksum or the routing bit is set, RFC 1701).
    fn key_at(&self) -> Option<usize> {
        let words = (self.has_checksum()? || self.has_routing()?) as usize;
        Some(field::OPTIONS + 4 * words)
    }
    /// The key (RFC 2890; NVGRE's virtual subnet id and flow id): the whole 32 bits. For
    /// version 1 it holds the payload length and the call id instead (see `call_id`).
    pub fn key(&self) -> Option<u32> {
        if !self.has_key()? {
            return None;
        }
        let at = self.key_at()?;
        be32(self.bytes, at..at + 4)
    }
    /// Version 1: the call id, the key field's low half.
    pub fn call_id(&self) -> Option<u16> {
        if self.version()? != 1 || !self.has_key()? {
            return None;
        }
        let at = self.key_at()?;
        be16(self.bytes, at + 2..at + 4)
    }
    pub fn sequence(&self) -> Option<u32> {
        if !self.has_sequence()? {
            return None;
        }
        let at = self.key_at()? + 4 * self.has_key()? as usize;
        be32(self.bytes, at..at + 4)
    }
    /// The header's length without RFC 1701 routing entries: the fixed 4 bytes and each
    /// optional word present. `None` when the flags were not captured.
    pub fn header_len(&self) -> Option<usize> {
        Some(
            self.key_at()?
                + 4 * (self.has_key()? as usize)
                + 4 * (self.has_sequence()? as usize)
                + 4 * (self.has_ack()? as usize),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checksum, key 0x01020304 and sequence 7 present, carrying IPv4.
    static ALL_OPTIONS: [u8; 16] = [
        0xb0, 0x00, 0x08, 0x00, 0xab, 0xcd, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0, 0, 0, 7,
    ];
    /// PPTP: version 1, key (payload length 0x0010, call id 0x4000), sequence 5, ack 3, PPP.
    static PPTP: [u8; 16] = [
        0x30, 0x81, 0x88, 0x0b, 0x00, 0x10, 0x40, 0x00, 0, 0, 0, 5, 0, 0, 0, 3,
    ];

    #[test]
    fn optional_fields_in_order() {
        let g = GreHeader::new(&ALL_OPTIONS);
        assert_eq!((g.version(), g.protocol()), (Some(0), Some(0x0800)));
        assert_eq!((g.key(), g.sequence()), (Some(0x0102_0304), Some(7)));
        assert_eq!(g.header_len(), Some(16));
        let plain = GreHeader::new(&[0x00, 0x00, 0x86, 0xdd]);
        assert_eq!(
            (plain.key(), plain.sequence(), plain.header_len()),
            (None, None, Some(4))
        );
    }

    #[test]
    fn pptp_enhanced_gre() {
        let g = GreHeader::new(&PPTP);
        assert_eq!((g.version(), g.protocol()), (Some(1), Some(PROTOCOL_PPP)));
        assert_eq!((g.call_id(), g.sequence()), (Some(0x4000), Some(5)));
        assert_eq!(g.header_len(), Some(16));
    }

    #[test]
    fn a_key_cut_off_by_the_capture_is_none() {
        let g = GreHeader::new(&ALL_OPTIONS[..10]);
        assert_eq!(
            (g.key(), g.sequence(), g.header_len()),
            (None, None, Some(16))
        );
        assert_eq!(GreHeader::new(&[]).header_len(), None);
    }
}
