//! PPPoE session headers (RFC 2516) and the PPP protocol number after them.

use super::{be16, Field};

pub const PPP_IPV4: u16 = 0x0021;
pub const PPP_IPV6: u16 = 0x0057;
pub const PPP_MPLS_UNICAST: u16 = 0x0281;
pub const PPP_MPLS_MULTICAST: u16 = 0x0283;

mod field {
    use super::Field;
    pub const LENGTH: Field = 4..6;
    pub const PPP_PROTOCOL: Field = 6..8;
    pub const PPP_PAYLOAD: usize = 8;
}

/// A PPPoE session header (version, type, code, session id, length) and the PPP
/// protocol number that starts its payload.
#[derive(Debug, Clone, Copy)]
pub struct PppoeSession<'a> {
    bytes: &'a [u8],
}

impl<'a> PppoeSession<'a> {
    /// Where the PPP payload (the IP packet) starts.
    pub const PPP_PAYLOAD_AT: usize = field::PPP_PAYLOAD;
    /// Where the bytes that `length` counts start.
    pub const PAYLOAD_AT: usize = field::PPP_PROTOCOL.start;

    pub fn new(bytes: &'a [u8]) -> Self {
        PppoeSession { bytes }
    }
    /// The length of the PPP protocol number and what follows it.
    pub fn length(&self) -> Option<u16> {
        be16(self.bytes, field::LENGTH)
    }
    pub fn ppp_protocol(&self) -> Option<u16> {
        be16(self.bytes, field::PPP_PROTOCOL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Version/type 0x11, session data, session 1, length 22, PPP IPv4.
    static SESSION: [u8; 9] = [0x11, 0x00, 0x00, 0x01, 0x00, 0x16, 0x00, 0x21, 0x45];

    #[test]
    fn length_and_protocol() {
        let s = PppoeSession::new(&SESSION);
        assert_eq!((s.length(), s.ppp_protocol()), (Some(22), Some(PPP_IPV4)));
        assert_eq!(PppoeSession::new(&SESSION[..7]).ppp_protocol(), None);
    }
}
