//! One frame decoded outside a read, for `intake_pcap.packet.IPPacket` (the old plugin's
//! packet decoder): the same dissection as a read (link, IP, tunnels), plus link-layer facts.

use pcapframe::dissect::{dissect, Depth};
use pcapframe::link::{self, IpVersion};
use pcapframe::protocol;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::guard;

/// Decode one frame the way a read does, as a dict; the IP keys are absent when it carries
/// no IP packet. Gives link-layer facts too (MAC addresses, EtherType) for `IPPacket`.
/// With `decapsulate`, the IP keys describe the innermost IP packet reached through
/// tunnels; the `outer_*` keys always describe the outermost, and `tunnel`/`tunnel_id`
/// the tunnels crossed (found with or without `decapsulate`).
#[pyfunction]
#[pyo3(signature = (data, link_type=1, *, decapsulate=false))]
pub(crate) fn decode_packet<'py>(
    py: Python<'py>,
    data: &[u8],
    link_type: u32,
    decapsulate: bool,
) -> PyResult<Bound<'py, PyDict>> {
    guard("decoding a packet", || {
        let out = PyDict::new(py);
        let mac = |at: usize| data.get(at..at + 6).map(format_mac);
        if link_type == link::linktype::ETHERNET {
            out.set_item("destination_mac_address", mac(0))?;
            out.set_item("source_mac_address", mac(6))?;
        }
        out.set_item("ethernet_protocol", outer_ethertype(link_type, data))?;
        let Ok(dissection) = dissect(link_type, data, data.len() as u32, Depth::full(decapsulate))
        else {
            return Ok(out);
        };
        let p = dissection.ip();
        out.set_item("ip_version", if p.version == IpVersion::V4 { 4 } else { 6 })?;
        out.set_item("source_ip_address", p.src.to_string())?;
        out.set_item("destination_ip_address", p.dst.to_string())?;
        out.set_item("source_ip_port", p.src_port)?;
        out.set_item("destination_ip_port", p.dst_port)?;
        out.set_item("ip_protocol", protocol::name(p.protocol).into_owned())?;
        out.set_item("payload_offset", p.payload.start)?;
        out.set_item("payload_end", p.payload.end)?;
        let tunnels = &dissection.tunnels;
        out.set_item("tunnel", (!tunnels.is_empty()).then(|| tunnels.name()))?;
        out.set_item("tunnel_id", tunnels.id())?;
        out.set_item("outer_source_ip_address", dissection.outer.src.to_string())?;
        out.set_item(
            "outer_destination_ip_address",
            dissection.outer.dst.to_string(),
        )?;
        Ok(out)
    })
}

fn format_mac(b: &[u8]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4], b[5]
    )
}

/// An Ethernet frame's EtherType after any VLAN tags, as the old plugin reported it.
fn outer_ethertype(link_type: u32, data: &[u8]) -> Option<u16> {
    if link_type != link::linktype::ETHERNET {
        return None;
    }
    let mut at = 12;
    loop {
        let b = data.get(at..at + 2)?;
        let value = u16::from_be_bytes([b[0], b[1]]);
        if !matches!(value, 0x8100 | 0x88a8 | 0x9100) {
            return Some(value);
        }
        at += 4;
    }
}
