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
    let payload = d.get(p.payload.clone())?;
    let message = match p.protocol {
        UDP => {
            let udp_len = crate::wire::be16(d, p.transport_offset + 4..p.transport_offset + 6)?;
            let stated = (udp_len as usize).checked_sub(8)?;
            payload.get(..stated.min(payload.len()))?
        }
        TCP => {
            let len = crate::wire::be16(payload, 0..2)? as usize;
            payload.get(2..2 + len)?
        }
        _ => return None,
    };
    Some((message, port == dns::MDNS_PORT))
}

/// The TCP payload of `p` that may start with TLS records: a first fragment's segment, on
/// any port (TLS is recognised by its record header, not by port).
pub fn tls_payload<'a>(d: &'a [u8], p: &IpPacket) -> Option<&'a [u8]> {
    if !p.first_fragment || p.more_fragments || p.protocol != TCP {
        return None;
    }
    d.get(p.payload.clone()).filter(|b| b.first() == Some(&22))
}
