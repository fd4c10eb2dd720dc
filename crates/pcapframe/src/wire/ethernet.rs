//! Ethernet II / 802.3 headers, 802.1Q and 802.1ad tags, and the LLC/SNAP header that
//! carries an EtherType in 802.3 frames.

use super::{array, be16, rest, Field};

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
pub const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
pub const ETHERTYPE_MPLS: u16 = 0x8847;
pub const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;
pub const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
/// Cisco VN-Tag: a 4-byte tag, then the next EtherType.
pub const ETHERTYPE_VN_TAG: u16 = 0x8926;
/// IEEE 802.1BR E-Tag: a 6-byte tag, then the next EtherType.
pub const ETHERTYPE_E_TAG: u16 = 0x893f;
/// Cisco MetaData (the security group tag): 6 bytes, then the next EtherType.
pub const ETHERTYPE_CISCO_METADATA: u16 = 0x8909;
/// IEEE 802.1ah provider backbone bridging: a 4-byte I-TAG, then a whole Ethernet frame.
pub const ETHERTYPE_PBB: u16 = 0x88e7;
/// Cisco FabricPath: the 2-byte FTag/TTL, then a whole Ethernet frame.
pub const ETHERTYPE_FABRICPATH: u16 = 0x8903;
/// Network Service Header (RFC 8300): see `wire::nsh`.
pub const ETHERTYPE_NSH: u16 = 0x894f;
/// Values of the type/length field up to this are 802.3 lengths, not EtherTypes.
pub const MAX_802_3_LENGTH: u16 = 1500;

mod field {
    use super::Field;
    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: usize = 14;
}

/// The Ethernet header at the start of a frame.
#[derive(Debug, Clone, Copy)]
pub struct EthernetFrame<'a> {
    bytes: &'a [u8],
}

impl<'a> EthernetFrame<'a> {
    pub const HEADER_LEN: usize = field::PAYLOAD;
    pub const SOURCE_AT: usize = field::SOURCE.start;
    pub const DESTINATION_AT: usize = field::DESTINATION.start;

    pub fn new(bytes: &'a [u8]) -> Self {
        EthernetFrame { bytes }
    }
    pub fn destination(&self) -> Option<[u8; 6]> {
        array(self.bytes, field::DESTINATION)
    }
    pub fn source(&self) -> Option<[u8; 6]> {
        array(self.bytes, field::SOURCE)
    }
    /// The EtherType, or an 802.3 length (`<= MAX_802_3_LENGTH`).
    pub fn ethertype(&self) -> Option<u16> {
        be16(self.bytes, field::ETHERTYPE)
    }
    pub fn payload(&self) -> &'a [u8] {
        rest(self.bytes, field::PAYLOAD)
    }
}

mod tag_field {
    use super::Field;
    pub const TCI: Field = 0..2;
    pub const ETHERTYPE: Field = 2..4;
    pub const PAYLOAD: usize = 4;
}

/// An 802.1Q or 802.1ad tag: the 4 bytes after the EtherType that announced it.
#[derive(Debug, Clone, Copy)]
pub struct VlanTag<'a> {
    bytes: &'a [u8],
}

impl<'a> VlanTag<'a> {
    pub const LEN: usize = tag_field::PAYLOAD;

    pub fn new(bytes: &'a [u8]) -> Self {
        VlanTag { bytes }
    }
    /// The VLAN identifier (the tag control information's low 12 bits).
    pub fn vlan_id(&self) -> Option<u16> {
        be16(self.bytes, tag_field::TCI).map(|tci| tci & 0x0fff)
    }
    pub fn ethertype(&self) -> Option<u16> {
        be16(self.bytes, tag_field::ETHERTYPE)
    }
}

/// The length of a tag that carries the next EtherType in its last two bytes (VN-Tag,
/// E-Tag, Cisco MetaData), counted from the byte after the tag's own EtherType, as
/// Wireshark's dissectors read them; `None` for other EtherTypes.
pub fn tag_with_ethertype_len(ethertype: u16) -> Option<usize> {
    match ethertype {
        ETHERTYPE_VN_TAG => Some(6),
        ETHERTYPE_E_TAG | ETHERTYPE_CISCO_METADATA => Some(8),
        _ => None,
    }
}

/// The length of what sits between a tag's EtherType and the whole Ethernet frame it
/// carries (PBB's I-TAG, FabricPath's FTag/TTL); `None` for other EtherTypes.
pub fn tag_before_frame_len(ethertype: u16) -> Option<usize> {
    match ethertype {
        ETHERTYPE_PBB => Some(4),
        ETHERTYPE_FABRICPATH => Some(2),
        _ => None,
    }
}

/// Whether `ethertype` announces an 802.1Q or 802.1ad tag.
pub fn is_vlan_tag(ethertype: u16) -> bool {
    matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
    )
}

mod snap_field {
    use super::Field;
    pub const LLC: Field = 0..3;
    pub const OUI: Field = 3..6;
    pub const ETHERTYPE: Field = 6..8;
    pub const PAYLOAD: usize = 8;
}

/// An LLC header with SNAP (`aa aa 03`, an OUI, then an EtherType), as 802.3, 802.11 and
/// FDDI frames carry IP.
#[derive(Debug, Clone, Copy)]
pub struct SnapHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> SnapHeader<'a> {
    pub const LEN: usize = snap_field::PAYLOAD;

    pub fn new(bytes: &'a [u8]) -> Self {
        SnapHeader { bytes }
    }
    /// Whether the LLC header says SNAP follows (`aa aa 03`).
    pub fn is_snap(&self) -> bool {
        self.bytes.get(snap_field::LLC) == Some(&[0xaa, 0xaa, 0x03])
    }
    pub fn oui(&self) -> Option<[u8; 3]> {
        array(self.bytes, snap_field::OUI)
    }
    /// The EtherType, when this is SNAP.
    pub fn ethertype(&self) -> Option<u16> {
        self.is_snap()
            .then(|| be16(self.bytes, snap_field::ETHERTYPE))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An 802.1ad tag (VLAN 100) then an 802.1Q tag (VLAN 200) then IPv4.
    static QINQ: [u8; 23] = [
        0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0xc8,
        0x08, 0x00, 0x45,
    ];

    #[test]
    fn fields_of_a_tagged_frame() {
        let frame = EthernetFrame::new(&QINQ);
        assert_eq!(frame.destination(), Some([2, 0, 0, 0, 0, 2]));
        assert_eq!(frame.source(), Some([2, 0, 0, 0, 0, 1]));
        assert_eq!(frame.ethertype(), Some(ETHERTYPE_QINQ));
        let outer = VlanTag::new(frame.payload());
        assert_eq!(
            (outer.vlan_id(), outer.ethertype()),
            (Some(100), Some(ETHERTYPE_VLAN))
        );
        let inner = VlanTag::new(&frame.payload()[VlanTag::LEN..]);
        assert_eq!(
            (inner.vlan_id(), inner.ethertype()),
            (Some(200), Some(ETHERTYPE_IPV4))
        );
    }

    #[test]
    fn short_captures_give_none_not_a_panic() {
        let frame = EthernetFrame::new(&QINQ[..13]);
        assert_eq!(frame.source(), Some([2, 0, 0, 0, 0, 1]));
        assert_eq!(frame.ethertype(), None);
        assert!(frame.payload().is_empty());
        assert_eq!(VlanTag::new(&[0x00]).vlan_id(), None);
        assert_eq!(
            SnapHeader::new(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08]).ethertype(),
            None
        );
    }

    #[test]
    fn snap_carries_an_ethertype_and_other_llc_does_not() {
        let snap = SnapHeader::new(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x86, 0xdd]);
        assert_eq!(snap.ethertype(), Some(ETHERTYPE_IPV6));
        assert_eq!(
            SnapHeader::new(&[0x42, 0x42, 0x03, 0, 0, 0, 0x08, 0x00]).ethertype(),
            None
        );
    }
}
