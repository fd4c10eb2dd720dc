//! Application messages in a UDP datagram's payload, for the columns that read them. A TCP
//! segment's come from its stream (`stream`), where a message provably starts; a datagram
//! split over IP fragments gives nothing (a missing value, never a guess).

use crate::ip::IpPacket;
use crate::wire::dns;
use crate::wire::ip_protocol::UDP;

/// The DNS message of a UDP datagram to or from a DNS port (53, 5353, 5355), not
/// fragmented, and whether it is mDNS.
pub fn dns_datagram<'a>(d: &'a [u8], p: &IpPacket) -> Option<(&'a [u8], bool)> {
    let (sport, dport) = (p.src_port?, p.dst_port?);
    let port = dns::PORTS.into_iter().find(|&q| q == sport || q == dport)?;
    Some((udp_payload(d, p)?, port == dns::MDNS_PORT))
}

/// The payload of `p` when it is a whole UDP datagram, bounded by the UDP length.
pub fn udp_payload<'a>(d: &'a [u8], p: &IpPacket) -> Option<&'a [u8]> {
    if !p.first_fragment || p.more_fragments || p.protocol != UDP {
        return None;
    }
    let payload = d.get(p.payload.clone())?;
    let udp_len = crate::wire::be16(d, p.transport_offset + 4..p.transport_offset + 6)?;
    let stated = (udp_len as usize).checked_sub(8)?;
    payload.get(..stated.min(payload.len()))
}
