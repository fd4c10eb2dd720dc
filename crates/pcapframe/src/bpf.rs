//! tcpdump filter expressions, compiled by libpcap for each link type they meet and run on
//! each record's bytes with its wire length (so `greater`/`less` see the real size of a
//! packet truncated by the snap length). libpcap is the reference for this language.

use rustc_hash::FxHashMap;

use crate::error::{Error, ErrorKind, Result};
use crate::format::Record;
use crate::libpcap::{self, Program};
use crate::link::linktype;

/// A pcap file header with no packets, for `link_type` in the given byte order: libpcap
/// compiles some link-layer tests (the address family of BSD NULL headers) for the byte order
/// of the host that wrote the file.
fn empty_file_header(link_type: u32, big_endian: bool) -> Vec<u8> {
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut header = Vec::with_capacity(24);
    header.extend_from_slice(&u32b(0xa1b2_c3d4));
    header.extend_from_slice(&u16b(2));
    header.extend_from_slice(&u16b(4));
    header.extend_from_slice(&[0; 8]);
    header.extend_from_slice(&u32b(262_144));
    header.extend_from_slice(&u32b(link_type));
    header
}

/// Compile as tcpdump does for a file: on an offline handle for the link type, so that
/// libpcap maps LINKTYPE to DLT itself and refuses what it refuses on savefiles (`inbound` on
/// Ethernet, say) instead of compiling a kernel-only program. The outer error is libpcap
/// missing; the inner one, libpcap refusing the expression.
fn compile(
    expression: &str,
    link_type: u32,
    big_endian: bool,
) -> Result<std::result::Result<Program, String>> {
    let header = empty_file_header(link_type, big_endian);
    Ok(libpcap::Handle::offline_for(&header)?
        .and_then(|handle| handle.compile(expression))
        .map_err(|e| e.message))
}

/// Programs are compiled per link type and byte order of the file.
type ProgramKey = (u32, bool);

/// A filter expression and its programs, one per link type (and byte order) met so far.
#[derive(Debug, Clone)]
pub struct BpfFilter {
    expression: String,
    programs: FxHashMap<ProgramKey, Program>,
    /// The last key and its program: the records of a file rarely change link type.
    last: Option<(ProgramKey, Program)>,
}

impl BpfFilter {
    /// Check the expression now (so a typo fails before any reading): it must compile for
    /// at least one common link type; libpcap's message is kept in the error.
    pub fn new(expression: &str) -> Result<Self> {
        let mut first_error = None;
        let mut programs = FxHashMap::default();
        for lt in [
            linktype::ETHERNET,
            linktype::RAW,
            linktype::LINUX_SLL,
            linktype::IEEE802_11_RADIOTAP,
        ] {
            let key = (lt, cfg!(target_endian = "big"));
            match compile(expression, key.0, key.1)? {
                Ok(p) => {
                    programs.insert(key, p);
                    break;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if programs.is_empty() {
            return Err(Error::invalid_argument(format!(
                "invalid filter expression {expression:?}: {}",
                first_error.unwrap_or_default()
            )));
        }
        Ok(BpfFilter {
            expression: expression.to_string(),
            programs,
            last: None,
        })
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// Whether the packet passes. An error when libpcap cannot compile the expression for
    /// this link type: silently passing or dropping every packet would be a wrong answer.
    #[inline]
    pub fn matches(&mut self, record: &Record<'_>) -> Result<bool> {
        let key = (record.link_type, record.big_endian);
        if let Some((last, program)) = &self.last {
            if *last == key {
                return Ok(program.matches(record.data, record.wire_len));
            }
        }
        let program = match self.programs.get(&key) {
            Some(p) => p.clone(),
            None => {
                let compiled = compile(&self.expression, key.0, key.1)?.map_err(|message| {
                    Error::new(
                        ErrorKind::InvalidArgument,
                        format!(
                            "filter {:?} cannot be used on link type {}: libpcap says: {message}",
                            self.expression, key.0
                        ),
                    )
                })?;
                self.programs.insert(key, compiled.clone());
                compiled
            }
        };
        let accepted = program.matches(record.data, record.wire_len);
        self.last = Some((key, program));
        Ok(accepted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp_frame(dst_port: u16) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        f.extend_from_slice(&1234u16.to_be_bytes());
        f.extend_from_slice(&dst_port.to_be_bytes());
        f.extend_from_slice(&[0, 8, 0, 0]);
        f
    }

    fn record(link_type: u32, data: &[u8], wire_len: u32) -> Record<'_> {
        Record {
            timestamp_ns: None,
            wire_len,
            link_type,
            interface: 0,
            interface_name: None,
            big_endian: false,
            data,
            offset: 0,
        }
    }

    #[test]
    fn compiles_and_matches_with_the_wire_length() {
        let mut f = BpfFilter::new("udp dst port 53").unwrap();
        assert!(f
            .matches(&record(linktype::ETHERNET, &udp_frame(53), 42))
            .unwrap());
        assert!(!f
            .matches(&record(linktype::ETHERNET, &udp_frame(54), 42))
            .unwrap());
        let mut big = BpfFilter::new("greater 1000").unwrap();
        let frame = udp_frame(53);
        assert!(big
            .matches(&record(linktype::ETHERNET, &frame, 1500))
            .unwrap());
        assert!(!big
            .matches(&record(linktype::ETHERNET, &frame, frame.len() as u32))
            .unwrap());
        // LINKTYPE_RAW (101) is DLT_RAW (12) to libpcap: it maps it itself.
        let mut raw = BpfFilter::new("udp").unwrap();
        assert!(raw
            .matches(&record(linktype::RAW, &frame[14..], 28))
            .unwrap());
    }

    #[test]
    fn broadcast_is_the_all_ones_address_as_tcpdump_compiles_it_for_a_file() {
        let mut f = BpfFilter::new("ip broadcast").unwrap();
        let mut frame = udp_frame(53);
        assert!(!f.matches(&record(linktype::ETHERNET, &frame, 42)).unwrap());
        frame[30..34].copy_from_slice(&[255; 4]); // the IPv4 destination
        assert!(f.matches(&record(linktype::ETHERNET, &frame, 42)).unwrap());
    }

    #[test]
    fn savefile_restrictions_apply_as_in_tcpdump() {
        let mut f = BpfFilter::new("inbound").unwrap(); // valid on Linux cooked captures
        assert!(f
            .matches(&record(linktype::ETHERNET, &udp_frame(53), 42))
            .is_err());
    }

    #[test]
    fn invalid_expressions_carry_libpcap_message() {
        let err = BpfFilter::new("tcp portt 80").unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert!(
            err.message.contains("tcp portt 80") && err.message.contains("syntax error"),
            "{}",
            err.message
        );
    }
}
