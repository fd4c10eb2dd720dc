//! TCP headers (RFC 9293).

use super::{be16, be32, u8_at, Field};

mod field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ: Field = 4..8;
    pub const ACK: Field = 8..12;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Field = 14..16;
}

#[derive(Debug, Clone, Copy)]
pub struct TcpHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> TcpHeader<'a> {
    pub const MIN_LEN: usize = 20;

    pub fn new(bytes: &'a [u8]) -> Self {
        TcpHeader { bytes }
    }
    pub fn src_port(&self) -> Option<u16> {
        be16(self.bytes, field::SRC_PORT)
    }
    pub fn dst_port(&self) -> Option<u16> {
        be16(self.bytes, field::DST_PORT)
    }
    pub fn seq_number(&self) -> Option<u32> {
        be32(self.bytes, field::SEQ)
    }
    /// The acknowledgment number as written, with or without the ACK flag.
    pub fn ack_number(&self) -> Option<u32> {
        be32(self.bytes, field::ACK)
    }
    /// The header length in bytes (data offset * 4), never taken below 20.
    pub fn header_len(&self) -> Option<usize> {
        u8_at(self.bytes, field::DATA_OFFSET).map(|b| ((b >> 4) as usize * 4).max(Self::MIN_LEN))
    }
    /// The eight flag bits, CWR to FIN.
    pub fn flags(&self) -> Option<u8> {
        u8_at(self.bytes, field::FLAGS)
    }
    pub fn window(&self) -> Option<u16> {
        be16(self.bytes, field::WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 443 -> 49152, seq 9, ack 5, data offset 5, SYN-ACK, window 8192.
    static HEADER: [u8; 20] = [
        0x01, 0xbb, 0xc0, 0x00, 0, 0, 0, 9, 0, 0, 0, 5, 0x50, 0x12, 0x20, 0x00, 0, 0, 0, 0,
    ];

    #[test]
    fn fields() {
        let t = TcpHeader::new(&HEADER);
        assert_eq!((t.src_port(), t.dst_port()), (Some(443), Some(49152)));
        assert_eq!((t.seq_number(), t.ack_number()), (Some(9), Some(5)));
        assert_eq!(
            (t.header_len(), t.flags(), t.window()),
            (Some(20), Some(0x12), Some(8192))
        );
    }

    #[test]
    fn a_header_cut_after_the_ports_has_ports_only() {
        let t = TcpHeader::new(&HEADER[..4]);
        assert_eq!((t.src_port(), t.dst_port()), (Some(443), Some(49152)));
        assert_eq!((t.seq_number(), t.flags(), t.window()), (None, None, None));
        let mut odd = HEADER;
        odd[12] = 0x20; // data offset 2: below the minimum
        assert_eq!(TcpHeader::new(&odd).header_len(), Some(20));
    }
}
