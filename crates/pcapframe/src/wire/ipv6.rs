//! IPv6 headers (RFC 8200), their extension headers, and the Authentication Header
//! (RFC 4302), which IPv4 chains the same way.

use super::ip_protocol::{AH, DSTOPTS, FRAGMENT, HOPOPT, ROUTING};
use super::{array, be16, be32, u8_at, Field};

mod field {
    use super::Field;
    pub const VER_TC_FLOW: Field = 0..2;
    pub const PAYLOAD_LENGTH: Field = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SOURCE: Field = 8..24;
    pub const DESTINATION: Field = 24..40;
}

/// An IPv6 header whose fixed 40 bytes were captured (`new` checks).
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Header<'a> {
    bytes: &'a [u8],
}

impl<'a> Ipv6Header<'a> {
    pub const LEN: usize = 40;

    /// `None` when fewer than 40 bytes were captured.
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        (bytes.len() >= Self::LEN).then_some(Ipv6Header { bytes })
    }
    pub fn version(&self) -> u8 {
        u8_at(self.bytes, 0).unwrap_or(0) >> 4
    }
    /// The traffic class: DSCP (high 6 bits) and ECN (low 2).
    pub fn traffic_class(&self) -> u8 {
        (be16(self.bytes, field::VER_TC_FLOW).unwrap_or(0) >> 4) as u8
    }
    /// The payload length as written (0 for jumbograms and TSO captures).
    pub fn payload_len(&self) -> u16 {
        be16(self.bytes, field::PAYLOAD_LENGTH).unwrap_or(0)
    }
    pub fn next_header(&self) -> u8 {
        u8_at(self.bytes, field::NEXT_HEADER).unwrap_or(0)
    }
    pub fn hop_limit(&self) -> u8 {
        u8_at(self.bytes, field::HOP_LIMIT).unwrap_or(0)
    }
    pub fn source(&self) -> [u8; 16] {
        array(self.bytes, field::SOURCE).unwrap_or_default()
    }
    pub fn destination(&self) -> [u8; 16] {
        array(self.bytes, field::DESTINATION).unwrap_or_default()
    }
}

mod ext_field {
    pub const NEXT_HEADER: usize = 0;
    pub const LENGTH: usize = 1;
    pub const ROUTING_TYPE: usize = 2;
    pub const SEGMENTS_LEFT: usize = 3;
}

/// Whether `protocol` is a header that chains to another by its first byte: the IPv6
/// extension headers walked to reach the transport, and AH.
pub fn is_extension(protocol: u8) -> bool {
    matches!(protocol, HOPOPT | ROUTING | DSTOPTS | AH | FRAGMENT)
}

/// An extension header (hop-by-hop, routing, destination options, fragment) or an AH.
#[derive(Debug, Clone, Copy)]
pub struct ExtensionHeader<'a> {
    bytes: &'a [u8],
    kind: u8,
}

impl<'a> ExtensionHeader<'a> {
    /// The header of kind `kind` (its protocol number: what the previous header named).
    pub fn new(bytes: &'a [u8], kind: u8) -> Self {
        ExtensionHeader { bytes, kind }
    }
    pub fn next_header(&self) -> Option<u8> {
        u8_at(self.bytes, ext_field::NEXT_HEADER)
    }
    /// The header's length in bytes: 8-byte units after the first 8, AH's 4-byte units
    /// after the first 8, and always 8 for a fragment header.
    pub fn header_len(&self) -> Option<usize> {
        match self.kind {
            FRAGMENT => Some(FragmentHeader::LEN),
            AH => u8_at(self.bytes, ext_field::LENGTH).map(|l| (l as usize + 2) * 4),
            _ => u8_at(self.bytes, ext_field::LENGTH).map(|l| (l as usize + 1) * 8),
        }
    }
    /// The length field as written (its unit depends on the kind).
    pub fn length_field(&self) -> Option<u8> {
        u8_at(self.bytes, ext_field::LENGTH)
    }
    /// A routing header's type.
    pub fn routing_type(&self) -> Option<u8> {
        u8_at(self.bytes, ext_field::ROUTING_TYPE)
    }
    /// A routing header's segments left.
    pub fn segments_left(&self) -> Option<u8> {
        u8_at(self.bytes, ext_field::SEGMENTS_LEFT)
    }
}

mod frag_field {
    use super::Field;
    pub const OFFSET_FLAGS: Field = 2..4;
    pub const IDENT: Field = 4..8;
}

/// An IPv6 fragment header, only when all 8 bytes were captured (as Wireshark reads it).
#[derive(Debug, Clone, Copy)]
pub struct FragmentHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> FragmentHeader<'a> {
    pub const LEN: usize = 8;

    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        (bytes.len() >= Self::LEN).then_some(FragmentHeader { bytes })
    }
    /// The fragment offset in bytes.
    pub fn fragment_offset(&self) -> u16 {
        be16(self.bytes, frag_field::OFFSET_FLAGS).unwrap_or(0) & 0xfff8
    }
    pub fn more_fragments(&self) -> bool {
        be16(self.bytes, frag_field::OFFSET_FLAGS).unwrap_or(0) & 1 != 0
    }
    pub fn ident(&self) -> u32 {
        be32(self.bytes, frag_field::IDENT).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2001:db8::1 -> 2001:db8::2, traffic class 0xb8, payload 16, a fragment header
    /// (offset 8 bytes, more fragments, id 0xdeadbeef) then UDP, hop limit 64.
    static PACKET: [u8; 48] = [
        0x6b, 0x80, 0x00, 0x00, 0x00, 0x10, 44, 64, //
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, //
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, //
        17, 0, 0x00, 0x09, 0xde, 0xad, 0xbe, 0xef,
    ];

    #[test]
    fn fixed_fields() {
        let h = Ipv6Header::new(&PACKET).unwrap();
        assert_eq!(
            (h.version(), h.traffic_class(), h.payload_len()),
            (6, 0xb8, 16)
        );
        assert_eq!((h.next_header(), h.hop_limit()), (FRAGMENT, 64));
        assert_eq!(h.source()[15], 1);
        assert_eq!(h.destination()[15], 2);
        assert!(Ipv6Header::new(&PACKET[..39]).is_none());
    }

    #[test]
    fn extension_and_fragment_headers() {
        let ext = ExtensionHeader::new(&PACKET[40..], FRAGMENT);
        assert_eq!((ext.next_header(), ext.header_len()), (Some(17), Some(8)));
        let frag = FragmentHeader::new(&PACKET[40..]).unwrap();
        assert_eq!((frag.fragment_offset(), frag.more_fragments()), (8, true));
        assert_eq!(frag.ident(), 0xdead_beef);
        assert!(FragmentHeader::new(&PACKET[40..47]).is_none());
        // Hop-by-hop of length 0 is 8 bytes; AH of length 4 is 24.
        assert_eq!(ExtensionHeader::new(&[6, 0], HOPOPT).header_len(), Some(8));
        assert_eq!(ExtensionHeader::new(&[6, 4], AH).header_len(), Some(24));
        assert_eq!(ExtensionHeader::new(&[6], ROUTING).header_len(), None);
        let routing = ExtensionHeader::new(&[6, 2, 4, 1], ROUTING);
        assert_eq!(
            (routing.routing_type(), routing.segments_left()),
            (Some(4), Some(1))
        );
        assert_eq!(routing.length_field(), Some(2));
    }
}
