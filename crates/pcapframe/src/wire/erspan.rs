//! ERSPAN headers (draft-foschiano-erspan), carried in GRE: type II (protocol 0x88be, GRE
//! with a sequence number; 8 bytes) and type III (protocol 0x22eb; 12 bytes, 20 with the
//! platform-specific subheader). Type I (0x88be without a sequence number) has no header:
//! the mirrored Ethernet frame follows GRE at once. The mirrored frame follows the header.

use super::{be16, u8_at, Field};

mod field {
    use super::Field;
    pub const VERSION_VLAN: Field = 0..2;
    pub const SESSION: Field = 2..4;
    /// Type III: the byte holding the O flag (a platform-specific subheader follows).
    pub const TYPE3_FLAGS: usize = 11;
}

pub const TYPE2_LEN: usize = 8;
pub const TYPE3_LEN: usize = 12;
const TYPE3_SUBHEADER_LEN: usize = 8;
const TYPE3_OPTIONAL_SUBHEADER: u8 = 0x01;

#[derive(Debug, Clone, Copy)]
pub struct ErspanHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> ErspanHeader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        ErspanHeader { bytes }
    }
    /// 1 for type II, 2 for type III.
    pub fn version(&self) -> Option<u8> {
        be16(self.bytes, field::VERSION_VLAN).map(|w| (w >> 12) as u8)
    }
    /// The 10-bit session id (tshark's `erspan.spanid`).
    pub fn session_id(&self) -> Option<u16> {
        be16(self.bytes, field::SESSION).map(|w| w & 0x03ff)
    }
    /// The header's length for the type its GRE protocol says (`type3`), with type III's
    /// optional subheader; `None` when the flag byte was not captured.
    pub fn header_len(&self, type3: bool) -> Option<usize> {
        if !type3 {
            return Some(TYPE2_LEN);
        }
        let flags = u8_at(self.bytes, field::TYPE3_FLAGS)?;
        Some(TYPE3_LEN + TYPE3_SUBHEADER_LEN * (flags & TYPE3_OPTIONAL_SUBHEADER) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Type II, VLAN 0, session 0x123; then type III with the O flag, session 0x3ff.
    static TYPE2: [u8; 8] = [0x10, 0x00, 0x01, 0x23, 0, 0, 0, 0];
    static TYPE3: [u8; 12] = [0x20, 0x00, 0x03, 0xff, 0, 0, 0, 1, 0, 0, 0, 0x01];

    #[test]
    fn session_and_length_by_type() {
        let h = ErspanHeader::new(&TYPE2);
        assert_eq!((h.version(), h.session_id()), (Some(1), Some(0x123)));
        assert_eq!(h.header_len(false), Some(8));
        let h = ErspanHeader::new(&TYPE3);
        assert_eq!((h.version(), h.session_id()), (Some(2), Some(0x3ff)));
        assert_eq!(h.header_len(true), Some(20));
        assert_eq!(ErspanHeader::new(&TYPE3[..11]).header_len(true), None);
        assert_eq!(ErspanHeader::new(&TYPE3[..3]).session_id(), None);
    }
}
