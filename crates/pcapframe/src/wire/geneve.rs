//! Geneve headers (RFC 8926): 8 bytes and variable options, on UDP 6081.

use super::{be16, be32, u8_at, Field};

pub const UDP_PORT: u16 = 6081;

mod field {
    use super::Field;
    pub const VER_OPT_LEN: usize = 0;
    pub const PROTOCOL: Field = 2..4;
    pub const VNI: Field = 4..8;
    pub const OPTIONS: usize = 8;
}

#[derive(Debug, Clone, Copy)]
pub struct GeneveHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> GeneveHeader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        GeneveHeader { bytes }
    }
    pub fn version(&self) -> Option<u8> {
        u8_at(self.bytes, field::VER_OPT_LEN).map(|b| b >> 6)
    }
    /// The payload's protocol, as an EtherType (0x6558: Ethernet).
    pub fn protocol(&self) -> Option<u16> {
        be16(self.bytes, field::PROTOCOL)
    }
    /// The 24-bit virtual network identifier.
    pub fn vni(&self) -> Option<u32> {
        be32(self.bytes, field::VNI).map(|w| w >> 8)
    }
    /// The header's length with its options (in 4-byte units in the first byte).
    pub fn header_len(&self) -> Option<usize> {
        u8_at(self.bytes, field::VER_OPT_LEN).map(|b| field::OPTIONS + (b & 0x3f) as usize * 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Version 0, 2 words of options, Ethernet, VNI 0x00abcd, then the options.
    static HEADER: [u8; 16] = [
        0x02, 0x00, 0x65, 0x58, 0x00, 0xab, 0xcd, 0x00, 0x01, 0x02, 0x03, 0x01, 0, 0, 0, 9,
    ];

    #[test]
    fn options_count_in_the_length() {
        let g = GeneveHeader::new(&HEADER);
        assert_eq!(
            (g.version(), g.protocol(), g.vni()),
            (Some(0), Some(0x6558), Some(0xabcd))
        );
        assert_eq!(g.header_len(), Some(16));
        assert_eq!(GeneveHeader::new(&HEADER[..6]).vni(), None);
    }
}
