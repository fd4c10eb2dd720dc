//! IPv4 headers (RFC 791) and the Authentication Header walk that follows them.

use super::{array, be16, u8_at, Field};

mod field {
    use super::Field;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const SOURCE: Field = 12..16;
    pub const DESTINATION: Field = 16..20;
}

/// An IPv4 header whose fixed 20 bytes were captured (`new` checks), so its fixed fields
/// are plain values; options and payload may still be cut short.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Header<'a> {
    bytes: &'a [u8],
}

impl<'a> Ipv4Header<'a> {
    pub const MIN_LEN: usize = 20;

    /// `None` when fewer than 20 bytes were captured.
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        (bytes.len() >= Self::MIN_LEN).then_some(Ipv4Header { bytes })
    }
    fn byte(&self, at: usize) -> u8 {
        u8_at(self.bytes, at).unwrap_or(0) // always captured: `new` checked 20 bytes
    }
    fn word(&self, f: Field) -> u16 {
        be16(self.bytes, f).unwrap_or(0) // always captured: `new` checked 20 bytes
    }
    pub fn version(&self) -> u8 {
        self.byte(field::VER_IHL) >> 4
    }
    /// The header length in bytes, options included (IHL * 4).
    pub fn header_len(&self) -> usize {
        (self.byte(field::VER_IHL) & 0x0f) as usize * 4
    }
    /// Type of service: DSCP (high 6 bits) and ECN (low 2).
    pub fn tos(&self) -> u8 {
        self.byte(field::TOS)
    }
    /// The total length as written (0 in TSO captures).
    pub fn total_len(&self) -> u16 {
        self.word(field::LENGTH)
    }
    pub fn ident(&self) -> u16 {
        self.word(field::IDENT)
    }
    pub fn more_fragments(&self) -> bool {
        self.word(field::FLG_OFF) & 0x2000 != 0
    }
    /// The fragment offset in bytes.
    pub fn fragment_offset(&self) -> u16 {
        (self.word(field::FLG_OFF) & 0x1fff) * 8
    }
    pub fn ttl(&self) -> u8 {
        self.byte(field::TTL)
    }
    pub fn protocol(&self) -> u8 {
        self.byte(field::PROTOCOL)
    }
    pub fn source(&self) -> [u8; 4] {
        array(self.bytes, field::SOURCE).unwrap_or_default()
    }
    pub fn destination(&self) -> [u8; 4] {
        array(self.bytes, field::DESTINATION).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10.0.0.1 -> 10.0.0.2, TCP, total length 43, id 0x1234, DF, TTL 63, DSCP 46 ECN 0.
    static HEADER: [u8; 20] = [
        0x45, 0xb8, 0x00, 0x2b, 0x12, 0x34, 0x40, 0x00, 0x3f, 0x06, 0x00, 0x00, 10, 0, 0, 1, 10, 0,
        0, 2,
    ];

    #[test]
    fn fixed_fields() {
        let h = Ipv4Header::new(&HEADER).unwrap();
        assert_eq!((h.version(), h.header_len(), h.tos() >> 2), (4, 20, 46));
        assert_eq!(
            (h.total_len(), h.ident(), h.ttl(), h.protocol()),
            (43, 0x1234, 63, 6)
        );
        assert_eq!((h.fragment_offset(), h.more_fragments()), (0, false));
        assert_eq!(
            (h.source(), h.destination()),
            ([10, 0, 0, 1], [10, 0, 0, 2])
        );
    }

    #[test]
    fn fragments_and_short_captures() {
        let mut f = HEADER;
        f[6..8].copy_from_slice(&[0x20, 0x03]); // MF, offset 3 (24 bytes)
        let h = Ipv4Header::new(&f).unwrap();
        assert_eq!((h.fragment_offset(), h.more_fragments()), (24, true));
        assert!(Ipv4Header::new(&HEADER[..19]).is_none());
    }
}
