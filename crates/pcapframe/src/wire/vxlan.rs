//! VXLAN headers (RFC 7348): 8 bytes before an inner Ethernet frame, on UDP 4789 (and
//! 8472, Linux's older default).

use super::{be32, u8_at, Field};

pub const UDP_PORT: u16 = 4789;
pub const UDP_PORT_LINUX: u16 = 8472;

mod field {
    use super::Field;
    pub const FLAGS: usize = 0;
    pub const VNI: Field = 4..8;
    pub const PAYLOAD: usize = 8;
}

/// The I flag: the VNI is valid.
const VNI_VALID: u8 = 0x08;

#[derive(Debug, Clone, Copy)]
pub struct VxlanHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> VxlanHeader<'a> {
    pub const LEN: usize = field::PAYLOAD;

    pub fn new(bytes: &'a [u8]) -> Self {
        VxlanHeader { bytes }
    }
    /// Whether the I flag says the VNI is valid.
    pub fn vni_valid(&self) -> Option<bool> {
        u8_at(self.bytes, field::FLAGS).map(|f| f & VNI_VALID != 0)
    }
    /// The 24-bit VXLAN network identifier.
    pub fn vni(&self) -> Option<u32> {
        be32(self.bytes, field::VNI).map(|w| w >> 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// I flag set, VNI 0x123456.
    static HEADER: [u8; 8] = [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0x00];

    #[test]
    fn vni() {
        let v = VxlanHeader::new(&HEADER);
        assert_eq!((v.vni_valid(), v.vni()), (Some(true), Some(0x12_3456)));
        assert_eq!(VxlanHeader::new(&HEADER[..7]).vni(), None);
    }
}
