//! GTP-U headers (3GPP TS 29.281) on UDP 2152: 8 bytes, 4 more when any of the E, S or PN
//! flags is set, then a chain of extension headers.

use super::{be16, be32, u8_at, Field};

pub const UDP_PORT: u16 = 2152;
/// The message type of user data (a G-PDU: an IP packet follows).
pub const MESSAGE_G_PDU: u8 = 0xff;

mod field {
    use super::Field;
    pub const FLAGS: usize = 0;
    pub const MESSAGE_TYPE: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const TEID: Field = 4..8;
    pub const OPTIONAL: usize = 8;
    pub const NEXT_EXTENSION: usize = 11;
    pub const EXTENSIONS: usize = 12;
}

const EXTENSION_PRESENT: u8 = 0x04;
const SEQUENCE_PRESENT: u8 = 0x02;
const N_PDU_PRESENT: u8 = 0x01;
/// Extension headers followed before giving up (each takes at least 4 bytes anyway).
const MAX_EXTENSIONS: usize = 16;

#[derive(Debug, Clone, Copy)]
pub struct GtpuHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> GtpuHeader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        GtpuHeader { bytes }
    }
    fn flags(&self) -> Option<u8> {
        u8_at(self.bytes, field::FLAGS)
    }
    /// 1 for GTPv1 (GTP-U).
    pub fn version(&self) -> Option<u8> {
        self.flags().map(|f| f >> 5)
    }
    pub fn message_type(&self) -> Option<u8> {
        u8_at(self.bytes, field::MESSAGE_TYPE)
    }
    /// The length of what follows the first 8 bytes.
    pub fn length(&self) -> Option<u16> {
        be16(self.bytes, field::LENGTH)
    }
    /// The tunnel endpoint identifier.
    pub fn teid(&self) -> Option<u32> {
        be32(self.bytes, field::TEID)
    }
    /// The header's length with its optional fields and extension headers (each says its
    /// length in 4-byte units in its first byte, and the next one's type in its last);
    /// `None` when a length was not captured, is 0, or the chain is too long.
    pub fn header_len(&self) -> Option<usize> {
        let flags = self.flags()?;
        if flags & (EXTENSION_PRESENT | SEQUENCE_PRESENT | N_PDU_PRESENT) == 0 {
            return Some(field::OPTIONAL);
        }
        let mut next = if flags & EXTENSION_PRESENT != 0 {
            u8_at(self.bytes, field::NEXT_EXTENSION)?
        } else {
            0
        };
        let mut at = field::EXTENSIONS;
        for _ in 0..MAX_EXTENSIONS {
            if next == 0 {
                return Some(at);
            }
            let units = u8_at(self.bytes, at)? as usize;
            if units == 0 {
                return None;
            }
            at += 4 * units;
            next = u8_at(self.bytes, at - 1)?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Version 1, PT, E set; G-PDU, length 40, TEID 0x01020304; sequence 0, N-PDU 0, next
    /// extension 0x85 (PDU session container, 1 unit), which ends the chain.
    static WITH_EXTENSION: [u8; 16] = [
        0x34, 0xff, 0x00, 0x28, 0x01, 0x02, 0x03, 0x04, 0, 0, 0, 0x85, 0x01, 0x10, 0x01, 0x00,
    ];

    #[test]
    fn plain_and_extended_headers() {
        let g = GtpuHeader::new(&WITH_EXTENSION);
        assert_eq!(
            (g.version(), g.message_type()),
            (Some(1), Some(MESSAGE_G_PDU))
        );
        assert_eq!((g.length(), g.teid()), (Some(40), Some(0x0102_0304)));
        assert_eq!(g.header_len(), Some(16));
        let plain = GtpuHeader::new(&[0x30, 0xff, 0x00, 0x14, 0, 0, 0, 1]);
        assert_eq!((plain.header_len(), plain.teid()), (Some(8), Some(1)));
    }

    #[test]
    fn a_zero_length_extension_is_refused_not_looped_on() {
        let mut bad = WITH_EXTENSION;
        bad[12] = 0;
        assert_eq!(GtpuHeader::new(&bad).header_len(), None);
        assert_eq!(GtpuHeader::new(&WITH_EXTENSION[..13]).header_len(), None);
    }
}
