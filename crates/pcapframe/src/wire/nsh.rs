//! The Network Service Header (RFC 8300): a 4-byte base header saying its whole length in
//! 4-byte words and the next protocol, a 4-byte service path header, and context headers
//! (fixed for MD type 1, variable for MD type 2), all counted by the length.

use super::{u8_at, Field};

mod field {
    use super::Field;
    pub const LENGTH: usize = 1;
    pub const NEXT_PROTOCOL: usize = 3;
    pub const _SERVICE_PATH: Field = 4..8;
}

pub const NEXT_IPV4: u8 = 1;
pub const NEXT_IPV6: u8 = 2;
pub const NEXT_ETHERNET: u8 = 3;
pub const NEXT_NSH: u8 = 4;
pub const NEXT_MPLS: u8 = 5;
/// The base and service path headers: no NSH is shorter.
const MIN_LEN: usize = 8;

#[derive(Debug, Clone, Copy)]
pub struct NshHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> NshHeader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        NshHeader { bytes }
    }
    pub fn next_protocol(&self) -> Option<u8> {
        u8_at(self.bytes, field::NEXT_PROTOCOL)
    }
    /// The whole header's length; `None` when not captured or shorter than the fixed part.
    pub fn header_len(&self) -> Option<usize> {
        let len = (u8_at(self.bytes, field::LENGTH)? & 0x3f) as usize * 4;
        (len >= MIN_LEN).then_some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MD type 1 (length 6 words), next protocol IPv4, path 1, index 255, 16 bytes of context.
    static MD1: [u8; 8] = [0x0f, 0xc6, 0x01, 0x01, 0x00, 0x00, 0x01, 0xff];

    #[test]
    fn length_counts_the_context_headers() {
        let h = NshHeader::new(&MD1);
        assert_eq!(
            (h.header_len(), h.next_protocol()),
            (Some(24), Some(NEXT_IPV4))
        );
        assert_eq!(NshHeader::new(&[0x0f, 0xc1]).header_len(), None);
        assert_eq!(NshHeader::new(&MD1[..3]).next_protocol(), None);
    }
}
