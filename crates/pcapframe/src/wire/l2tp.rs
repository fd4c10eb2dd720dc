//! L2TP data message headers: version 2 on UDP 1701 (RFC 2661, PPP follows) and version 3
//! (RFC 3931) on UDP 1701 or straight over IP (protocol 115), whose session id is followed
//! by a cookie and sublayer whose sizes only the control connection says.

use super::{be16, be32, u8_at, Field};

pub const UDP_PORT: u16 = 1701;
/// IP protocol number of L2TPv3 over IP.
pub const IP_PROTOCOL: u8 = 115;

mod field {
    use super::Field;
    pub const FLAGS_VERSION: Field = 0..2;
    /// Version 3 over UDP: after 2 reserved bytes.
    pub const V3_UDP_SESSION: Field = 4..8;
    /// Version 3 over IP: the session id is the first word (0 marks a control message).
    pub const V3_IP_SESSION: Field = 0..4;
}

const TYPE_CONTROL: u16 = 0x8000;
const LENGTH_PRESENT: u16 = 0x4000;
const SEQUENCE_PRESENT: u16 = 0x0800;
const OFFSET_PRESENT: u16 = 0x0200;

/// L2TP over UDP (either version), at the UDP payload.
#[derive(Debug, Clone, Copy)]
pub struct L2tpUdpHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> L2tpUdpHeader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        L2tpUdpHeader { bytes }
    }
    fn flags(&self) -> Option<u16> {
        be16(self.bytes, field::FLAGS_VERSION)
    }
    pub fn version(&self) -> Option<u8> {
        self.flags().map(|f| (f & 0x000f) as u8)
    }
    /// A control message (no tunnelled frame).
    pub fn is_control(&self) -> Option<bool> {
        self.flags().map(|f| f & TYPE_CONTROL != 0)
    }
    /// Version 2: where the optional fields end, so the session id and the header's length.
    fn v2_layout(&self) -> Option<(usize, usize)> {
        let flags = self.flags()?;
        let session_at = 2 + 2 * (flags & LENGTH_PRESENT != 0) as usize + 2;
        let mut len = session_at + 2 + 4 * (flags & SEQUENCE_PRESENT != 0) as usize;
        if flags & OFFSET_PRESENT != 0 {
            len += 2 + be16(self.bytes, len..len + 2)? as usize;
        }
        Some((session_at, len))
    }
    /// The session id (tshark's `l2tp.sid`): 16 bits in version 2, 32 in version 3.
    pub fn session_id(&self) -> Option<u32> {
        match self.version()? {
            2 => {
                let (at, _) = self.v2_layout()?;
                be16(self.bytes, at..at + 2).map(u32::from)
            }
            3 => be32(self.bytes, field::V3_UDP_SESSION),
            _ => None,
        }
    }
    /// The header's length (version 3: without a cookie or sublayer).
    pub fn header_len(&self) -> Option<usize> {
        match self.version()? {
            2 => self.v2_layout().map(|(_, len)| len),
            3 => Some(field::V3_UDP_SESSION.end),
            _ => None,
        }
    }
}

/// L2TPv3 straight over IP, at the IP payload.
#[derive(Debug, Clone, Copy)]
pub struct L2tpIpHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> L2tpIpHeader<'a> {
    pub const LEN: usize = field::V3_IP_SESSION.end;
    pub fn new(bytes: &'a [u8]) -> Self {
        L2tpIpHeader { bytes }
    }
    /// The session id; 0 marks a control message.
    pub fn session_id(&self) -> Option<u32> {
        be32(self.bytes, field::V3_IP_SESSION)
    }
}

/// The PPP address and control bytes (ff 03) that L2TPv2 and PPTP frames may start with.
pub fn skip_ppp_address(bytes: &[u8], at: usize) -> usize {
    if u8_at(bytes, at) == Some(0xff) && u8_at(bytes, at + 1) == Some(0x03) {
        at + 2
    } else {
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Version 2 data with length, sequence and a 2-byte offset pad; tunnel 7, session 9.
    static V2: [u8; 16] = [
        0x4a, 0x02, 0x00, 0x10, 0x00, 0x07, 0x00, 0x09, 0, 1, 0, 2, 0x00, 0x02, 0, 0,
    ];
    static V3_UDP: [u8; 8] = [0x00, 0x03, 0, 0, 0xfd, 0x42, 0x41, 0xeb];

    #[test]
    fn optional_fields_move_the_session_and_the_payload() {
        let h = L2tpUdpHeader::new(&V2);
        assert_eq!((h.version(), h.is_control()), (Some(2), Some(false)));
        assert_eq!((h.session_id(), h.header_len()), (Some(9), Some(16)));
        assert_eq!(L2tpUdpHeader::new(&V2[..13]).header_len(), None);
        let h = L2tpUdpHeader::new(&V3_UDP);
        assert_eq!(
            (h.session_id(), h.header_len()),
            (Some(0xfd4241eb), Some(8))
        );
        assert_eq!(
            L2tpIpHeader::new(&V3_UDP[4..]).session_id(),
            Some(0xfd4241eb)
        );
        assert_eq!(skip_ppp_address(&[0xff, 0x03, 0x00, 0x21], 0), 2);
    }
}
