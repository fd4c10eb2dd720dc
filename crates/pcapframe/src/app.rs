//! Application messages in a packet's payload: where one starts, for the columns that read
//! it. Only what a single packet holds is read here: a message split over TCP segments or
//! IP fragments gives nothing (a missing value, never a guess).

use crate::ip::IpPacket;
use crate::wire::dns;
use crate::wire::ip_protocol::{TCP, UDP};

/// The DNS message in `p` (a packet of the record's bytes `d`), and whether it is mDNS:
/// a UDP datagram or TCP segment to or from a DNS port (53, 5353, 5355), not fragmented.
/// UDP's payload is bounded by the UDP length; TCP's message is the first after its 2-byte
/// length, and only when the segment holds all of it.
pub fn dns_message<'a>(d: &'a [u8], p: &IpPacket) -> Option<(&'a [u8], bool)> {
    if !p.first_fragment || p.more_fragments {
        return None;
    }
    let (sport, dport) = (p.src_port?, p.dst_port?);
    let port = dns::PORTS.into_iter().find(|&q| q == sport || q == dport)?;
    let message = match p.protocol {
        UDP => udp_payload(d, p)?,
        TCP => {
            let payload = d.get(p.payload.clone())?;
            let len = crate::wire::be16(payload, 0..2)? as usize;
            payload.get(2..2 + len)?
        }
        _ => return None,
    };
    Some((message, port == dns::MDNS_PORT))
}

/// The payload of `p` when it is a whole TCP segment (an unfragmented datagram's): where
/// TLS and HTTP are recognised by their first bytes, on any port.
pub fn tcp_payload<'a>(d: &'a [u8], p: &IpPacket) -> Option<&'a [u8]> {
    if !p.first_fragment || p.more_fragments || p.protocol != TCP {
        return None;
    }
    d.get(p.payload.clone()).filter(|b| !b.is_empty())
}

/// The payload of `p` where an HTTP/1.x message may start: a whole TCP segment's, or a UDP
/// datagram's (SSDP), bounded by the UDP length; and whether it is a datagram.
pub fn http_payload<'a>(d: &'a [u8], p: &IpPacket) -> Option<(&'a [u8], bool)> {
    if p.protocol == UDP {
        return udp_payload(d, p).map(|b| (b, true));
    }
    tcp_payload(d, p).map(|b| (b, false))
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

/// The TCP payload of `p` that may start with TLS records (a handshake record's type).
pub fn tls_payload<'a>(d: &'a [u8], p: &IpPacket) -> Option<&'a [u8]> {
    tcp_payload(d, p).filter(|b| b.first() == Some(&22))
}
