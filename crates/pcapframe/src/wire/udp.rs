//! UDP headers (RFC 768).

use super::{be16, Field};

mod field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const PAYLOAD: usize = 8;
}

#[derive(Debug, Clone, Copy)]
pub struct UdpHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> UdpHeader<'a> {
    pub const LEN: usize = field::PAYLOAD;

    pub fn new(bytes: &'a [u8]) -> Self {
        UdpHeader { bytes }
    }
    pub fn src_port(&self) -> Option<u16> {
        be16(self.bytes, field::SRC_PORT)
    }
    pub fn dst_port(&self) -> Option<u16> {
        be16(self.bytes, field::DST_PORT)
    }
    /// The length field (header and data).
    pub fn length(&self) -> Option<u16> {
        be16(self.bytes, field::LENGTH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static HEADER: [u8; 8] = [0xc0, 0x00, 0x00, 0x35, 0x00, 0x1c, 0x00, 0x00];

    #[test]
    fn ports_and_length() {
        let u = UdpHeader::new(&HEADER);
        assert_eq!(
            (u.src_port(), u.dst_port(), u.length()),
            (Some(49152), Some(53), Some(28))
        );
        assert_eq!(UdpHeader::new(&HEADER[..3]).dst_port(), None);
    }
}
