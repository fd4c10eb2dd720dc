//! ICMP (RFC 792) and ICMPv6 (RFC 4443) headers: the same first four bytes.

use super::{array, be16, u8_at, Field};

mod field {
    use super::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQ: Field = 6..8;
    pub const BODY: usize = 8;
    /// ICMPv6 neighbor solicitation and advertisement: the target address.
    pub const ND_TARGET: Field = 8..24;
}

#[derive(Debug, Clone, Copy)]
pub struct IcmpHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> IcmpHeader<'a> {
    /// Type, code, checksum and the 4 bytes whose meaning depends on the type.
    pub const LEN: usize = field::BODY;

    pub fn new(bytes: &'a [u8]) -> Self {
        IcmpHeader { bytes }
    }
    pub fn msg_type(&self) -> Option<u8> {
        u8_at(self.bytes, field::TYPE)
    }
    pub fn code(&self) -> Option<u8> {
        u8_at(self.bytes, field::CODE)
    }
    /// Echo request and reply: the identifier.
    pub fn echo_ident(&self) -> Option<u16> {
        be16(self.bytes, field::ECHO_IDENT)
    }
    /// Echo request and reply: the sequence number.
    pub fn echo_seq(&self) -> Option<u16> {
        be16(self.bytes, field::ECHO_SEQ)
    }
    /// ICMPv6 neighbor solicitation and advertisement: the target address.
    pub fn nd_target(&self) -> Option<[u8; 16]> {
        array(self.bytes, field::ND_TARGET)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Destination unreachable, port unreachable.
    static HEADER: [u8; 8] = [3, 3, 0, 0, 0, 0, 0, 0];

    #[test]
    fn type_and_code() {
        let h = IcmpHeader::new(&HEADER);
        assert_eq!((h.msg_type(), h.code()), (Some(3), Some(3)));
        assert_eq!(IcmpHeader::new(&HEADER[..1]).code(), None);
        let echo = IcmpHeader::new(&[8, 0, 0, 0, 0x12, 0x34, 0x00, 0x07]);
        assert_eq!(
            (echo.echo_ident(), echo.echo_seq()),
            (Some(0x1234), Some(7))
        );
        assert_eq!(echo.nd_target(), None);
    }
}
