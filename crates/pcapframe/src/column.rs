//! The columns a read can produce, and the choice of them (`columns=`): decided once,
//! before the loop, so that only what is asked for is decoded and built.

use arrow_schema::{DataType, Field, TimeUnit};

use crate::error::{Error, Result};

/// One column of a read. The order of [`Column::ALL`] is the documented order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    Time,
    SrcHost,
    SrcPort,
    DstHost,
    DstPort,
    Protocol,
    Payload,
    Length,
    Caplen,
    Interface,
    IpVersion,
    Ttl,
    IpId,
    IpProto,
    Dscp,
    Ecn,
    FragmentOffset,
    MoreFragments,
    TcpFlags,
    TcpSeq,
    TcpAck,
    TcpWindow,
    IcmpType,
    IcmpCode,
    Vlan,
    SrcMac,
    DstMac,
    Ethertype,
    PayloadLength,
}

/// The documented six, what a read gives without `columns=`.
pub const DEFAULT: [Column; 6] = [
    Column::Time,
    Column::SrcHost,
    Column::SrcPort,
    Column::DstHost,
    Column::DstPort,
    Column::Protocol,
];

impl Column {
    pub const ALL: [Column; 29] = {
        use Column::*;
        [
            Time,
            SrcHost,
            SrcPort,
            DstHost,
            DstPort,
            Protocol,
            Payload,
            Length,
            Caplen,
            Interface,
            IpVersion,
            Ttl,
            IpId,
            IpProto,
            Dscp,
            Ecn,
            FragmentOffset,
            MoreFragments,
            TcpFlags,
            TcpSeq,
            TcpAck,
            TcpWindow,
            IcmpType,
            IcmpCode,
            Vlan,
            SrcMac,
            DstMac,
            Ethertype,
            PayloadLength,
        ]
    };

    pub fn name(self) -> &'static str {
        use Column::*;
        match self {
            Time => "time",
            SrcHost => "src_host",
            SrcPort => "src_port",
            DstHost => "dst_host",
            DstPort => "dst_port",
            Protocol => "protocol",
            Payload => "payload",
            Length => "length",
            Caplen => "caplen",
            Interface => "interface",
            IpVersion => "ip_version",
            Ttl => "ttl",
            IpId => "ip_id",
            IpProto => "ip_proto",
            Dscp => "dscp",
            Ecn => "ecn",
            FragmentOffset => "fragment_offset",
            MoreFragments => "more_fragments",
            TcpFlags => "tcp_flags",
            TcpSeq => "tcp_seq",
            TcpAck => "tcp_ack",
            TcpWindow => "tcp_window",
            IcmpType => "icmp_type",
            IcmpCode => "icmp_code",
            Vlan => "vlan",
            SrcMac => "src_mac",
            DstMac => "dst_mac",
            Ethertype => "ethertype",
            PayloadLength => "payload_length",
        }
    }

    pub fn from_name(name: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The column's Arrow field.
    pub fn field(self) -> Field {
        use Column::*;
        let text32 = || DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let text16 = || DataType::Dictionary(Box::new(DataType::Int16), Box::new(DataType::Utf8));
        let (data_type, nullable) = match self {
            Time => (DataType::Timestamp(TimeUnit::Nanosecond, None), true),
            SrcHost | DstHost => (text32(), false),
            Protocol => (text16(), false),
            SrcPort | DstPort | TcpWindow => (DataType::UInt16, true),
            Payload => (DataType::LargeBinary, false),
            Length | Caplen | PayloadLength => (DataType::UInt32, false),
            Interface => (text32(), false),
            IpVersion | Ttl | IpProto | Dscp | Ecn => (DataType::UInt8, false),
            IpId | TcpSeq | TcpAck => (DataType::UInt32, true),
            FragmentOffset => (DataType::UInt16, false),
            MoreFragments => (DataType::Boolean, false),
            TcpFlags => (text16(), true),
            IcmpType | IcmpCode => (DataType::UInt8, true),
            Vlan | Ethertype => (DataType::UInt16, true),
            SrcMac | DstMac => (text32(), true),
        };
        Field::new(self.name(), data_type, nullable)
    }

    /// Every valid name, in the documented order.
    pub fn names() -> Vec<&'static str> {
        Column::ALL.iter().map(|c| c.name()).collect()
    }
}

/// The columns of a read: `names` in the caller's order (`None`: the documented six), and
/// `payload` appended when asked for and not already named. An unknown or repeated name, or
/// an empty list, is an `InvalidArgument` error listing the valid names.
pub fn select<S: AsRef<str>>(names: Option<&[S]>, payload: bool) -> Result<Vec<Column>> {
    let mut out: Vec<Column> = match names {
        None => DEFAULT.to_vec(),
        Some(names) => {
            if names.is_empty() {
                return Err(Error::invalid_argument(format!(
                    "the list of columns is empty; valid names are: {}",
                    Column::names().join(", ")
                )));
            }
            let mut out = Vec::with_capacity(names.len() + 1);
            for name in names {
                let name = name.as_ref();
                let column = Column::from_name(name).ok_or_else(|| {
                    Error::invalid_argument(format!(
                        "unknown column {name:?}; valid names are: {}",
                        Column::names().join(", ")
                    ))
                })?;
                if out.contains(&column) {
                    return Err(Error::invalid_argument(format!(
                        "column {name:?} is named twice in the list of columns"
                    )));
                }
                out.push(column);
            }
            out
        }
    };
    if payload && !out.contains(&Column::Payload) {
        out.push(Column::Payload);
    }
    Ok(out)
}

/// tcpdump's letters for the TCP flags byte, in tcpdump's order: F S R P . U E W; `none`
/// when no flag is set (tcpdump prints `Flags [none]`).
pub fn tcp_flag_letters(flags: u8) -> String {
    const LETTERS: [(u8, char); 8] = [
        (0x01, 'F'),
        (0x02, 'S'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x10, '.'),
        (0x20, 'U'),
        (0x40, 'E'),
        (0x80, 'W'),
    ];
    if flags == 0 {
        return "none".to_string();
    }
    LETTERS
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|&(_, c)| c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn names_round_trip_and_are_unique() {
        for c in Column::ALL {
            assert_eq!(Column::from_name(c.name()), Some(c));
            assert_eq!(c.field().name(), c.name());
        }
        let mut names = Column::names();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Column::ALL.len());
    }

    #[test]
    fn selection_keeps_order_and_appends_payload() {
        assert_eq!(select::<&str>(None, false).unwrap(), DEFAULT.to_vec());
        assert_eq!(
            select::<&str>(None, true).unwrap().last(),
            Some(&Column::Payload)
        );
        let picked = select(Some(&["length", "time"]), true).unwrap();
        assert_eq!(picked, vec![Column::Length, Column::Time, Column::Payload]);
        let picked = select(Some(&["payload", "time"]), true).unwrap();
        assert_eq!(picked, vec![Column::Payload, Column::Time]);
    }

    #[test]
    fn bad_selections_are_invalid_arguments_naming_the_valid_columns() {
        let e = select(Some(&["time", "nope"]), false).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(
            e.to_string().contains("\"nope\"") && e.to_string().contains("tcp_flags"),
            "{e}"
        );
        assert_eq!(
            select(Some(&["time", "time"]), false).unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            select::<&str>(Some(&[]), false).unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn tcp_flags_read_like_tcpdump() {
        assert_eq!(tcp_flag_letters(0x02), "S");
        assert_eq!(tcp_flag_letters(0x12), "S.");
        assert_eq!(tcp_flag_letters(0x18), "P.");
        assert_eq!(tcp_flag_letters(0x11), "F.");
        assert_eq!(tcp_flag_letters(0x19), "FP.");
        assert_eq!(tcp_flag_letters(0x04), "R");
        assert_eq!(tcp_flag_letters(0x10), ".");
        assert_eq!(tcp_flag_letters(0xc2), "SEW");
        assert_eq!(tcp_flag_letters(0), "none");
    }
}
