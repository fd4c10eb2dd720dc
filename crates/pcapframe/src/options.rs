//! The options of a read (which packets, which columns, how deep, what to do with damage)
//! and the flag that cancels it: one module, imported by every reader and the selector.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::batch::{HostEncoding, DEFAULT_BATCH_ROWS};
use crate::column::{self, Column};
use crate::error::{Error, ErrorKind, Result};
use crate::ip::{Addr, IpPacket};
use crate::protocol;

/// What to do when a capture ends inside a record (a capture killed while writing) or is
/// damaged (a length that cannot be right, a later section we cannot read, garbage after
/// a compressed stream): the packets before it are complete and correct, and tshark,
/// tcpdump and Wireshark show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TruncationPolicy {
    /// Stop with an error.
    Raise,
    /// Keep every complete packet before it and report it in `ReadStats`.
    #[default]
    Warn,
    /// Keep every complete packet before it and report nothing (still in `ReadStats`).
    Ignore,
}

impl TruncationPolicy {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "raise" => Ok(TruncationPolicy::Raise),
            "warn" => Ok(TruncationPolicy::Warn),
            "ignore" => Ok(TruncationPolicy::Ignore),
            other => Err(Error::invalid_argument(format!(
                "errors={other:?} is not one of 'raise', 'warn', 'ignore'"
            ))),
        }
    }

    /// Whether a read that met `e` ends there keeping the packets before it (reported in
    /// `ReadStats::truncated`) rather than failing: a file cut short or damaged, unless
    /// the caller asked for errors. Any other error (I/O, memory) always fails.
    pub fn keeps_packets_before(self, e: &Error) -> bool {
        self != TruncationPolicy::Raise
            && matches!(e.kind, ErrorKind::Truncated | ErrorKind::Corrupt)
    }
}

/// A flag that stops a read from outside (a signal handler, Python's KeyboardInterrupt):
/// every loop from bytes to rows checks it once per record, so a read stops within a
/// record's time whether or not it is producing rows. Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask every read holding this flag to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(Interrupted)` once cancelled.
    #[inline]
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            return Err(Error::new(
                ErrorKind::Interrupted,
                "the read was interrupted",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Keep only packets whose IP header chain contains this protocol number.
    pub protocol: Option<u8>,
    /// Keep only packets a tcpdump expression accepts (checked by `ReadOptions::build`).
    pub filter: Option<String>,
    pub payload: bool,
    /// The columns, in order (`None`: the documented six); `payload` appends the payload
    /// column when it is not named here. Only these are decoded and built.
    pub columns: Option<Vec<Column>>,
    pub batch_rows: usize,
    pub errors: TruncationPolicy,
    /// Stops the read when set (see `Cancel`).
    pub cancel: Cancel,
    /// How the host columns are written.
    pub hosts: HostEncoding,
    /// Rows describe the innermost IP packet reached through tunnels (`tunnel` module);
    /// `protocol` follows, `filter` keeps its libpcap meaning (the outer headers).
    pub decapsulate: bool,
    /// The flow table verifies checksums, as Zeek without `-C` (`flow::observe::Checksum`);
    /// rows of the packet table are the same either way.
    pub verify_checksums: bool,
    /// The flow table reads each flow's application, server name and first TLS
    /// fingerprints (`flow::app`): its TCP streams are then followed from each file's start.
    pub flow_app: bool,
    /// Only packets with `start <= time < end` (nanoseconds since 1970, UTC), either bound
    /// optional; a packet without a time (a pcapng simple packet block) is outside every
    /// range. Applied to each record before anything else, as if the capture held only
    /// those packets (`editcap -A -B`): TCP streams and flows begin inside the range.
    pub time_range: Option<TimeRange>,
    /// Only rows whose ports and addresses match (`RowMatch`): a query's predicate handed
    /// down (`scan_pcap`), so that the rows it cannot keep are not built.
    pub row_match: Option<RowMatch>,
}

/// Rows kept by their ports and addresses: every clause must hold, and a clause holds when
/// any of its terms does. A term holds when the row's field equals one of its values, as
/// the column shows it: a missing port equals nothing, and an address given in another
/// spelling than the column's text (`2001:DB8::1` for `2001:db8::1`) equals nothing, as
/// a string comparison with the column would find.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowMatch {
    pub clauses: Vec<Vec<MatchTerm>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchTerm {
    SrcPort(Vec<u16>),
    DstPort(Vec<u16>),
    SrcHost(Vec<Addr>),
    DstHost(Vec<Addr>),
}

impl MatchTerm {
    /// The term for `column == one of values` (values as text: a port's decimal digits, an
    /// address as the column writes it); `None` for a column that is not a port or a host.
    pub fn parse<S: AsRef<str>>(column: &str, values: &[S]) -> Option<MatchTerm> {
        let ports = || {
            values
                .iter()
                .filter_map(|v| v.as_ref().parse().ok())
                .collect()
        };
        let hosts = || {
            values
                .iter()
                .filter_map(|v| {
                    let text = v.as_ref();
                    let addr = match text.parse::<std::net::IpAddr>().ok()? {
                        std::net::IpAddr::V4(a) => Addr::V4(a.octets()),
                        std::net::IpAddr::V6(a) => Addr::V6(a.octets()),
                    };
                    let mut written = Vec::with_capacity(text.len());
                    addr.push_text(&mut written);
                    (written == text.as_bytes()).then_some(addr)
                })
                .collect()
        };
        Some(match column {
            "src_port" => MatchTerm::SrcPort(ports()),
            "dst_port" => MatchTerm::DstPort(ports()),
            "src_host" => MatchTerm::SrcHost(hosts()),
            "dst_host" => MatchTerm::DstHost(hosts()),
            _ => return None,
        })
    }

    #[inline]
    fn holds(&self, ip: &IpPacket) -> bool {
        match self {
            MatchTerm::SrcPort(v) => ip.src_port.is_some_and(|p| v.contains(&p)),
            MatchTerm::DstPort(v) => ip.dst_port.is_some_and(|p| v.contains(&p)),
            MatchTerm::SrcHost(v) => v.contains(&ip.src),
            MatchTerm::DstHost(v) => v.contains(&ip.dst),
        }
    }
}

impl RowMatch {
    #[inline]
    pub fn keeps(&self, ip: &IpPacket) -> bool {
        self.clauses
            .iter()
            .all(|clause| clause.iter().any(|term| term.holds(ip)))
    }
}

/// `start <= time < end`, each bound optional (`ReadOptions::time_range`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    pub start_ns: Option<i64>,
    pub end_ns: Option<i64>,
}

impl TimeRange {
    /// `None` when neither bound is given; an error when the range ends before it starts.
    pub fn new(start_ns: Option<i64>, end_ns: Option<i64>) -> Result<Option<TimeRange>> {
        if let (Some(s), Some(e)) = (start_ns, end_ns) {
            if e < s {
                return Err(Error::invalid_argument(
                    "the time range ends before it starts (end < start): give start <= end",
                ));
            }
        }
        Ok((start_ns.is_some() || end_ns.is_some()).then_some(TimeRange { start_ns, end_ns }))
    }

    #[inline]
    pub fn contains(&self, time_ns: Option<i64>) -> bool {
        match time_ns {
            Some(t) => self.start_ns.is_none_or(|s| s <= t) && self.end_ns.is_none_or(|e| t < e),
            None => false,
        }
    }
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            protocol: None,
            filter: None,
            payload: false,
            columns: None,
            batch_rows: DEFAULT_BATCH_ROWS,
            errors: TruncationPolicy::Warn,
            cancel: Cancel::default(),
            hosts: HostEncoding::Dictionary,
            decapsulate: false,
            verify_checksums: false,
            flow_app: false,
            time_range: None,
            row_match: None,
        }
    }
}

impl ReadOptions {
    /// Set `protocol` from a name as the `protocol` column writes it (or an alias, or a number).
    pub fn with_protocol_name(mut self, name: Option<&str>) -> Result<Self> {
        self.protocol = parse_protocol(name)?;
        Ok(self)
    }

    /// Set `columns` from names (`None`: the documented six); an unknown or repeated name
    /// is an `InvalidArgument` error listing the valid ones.
    pub fn with_column_names<S: AsRef<str>>(mut self, names: Option<&[S]>) -> Result<Self> {
        self.columns = match names {
            None => None,
            Some(names) => Some(column::select(Some(names), false)?),
        };
        Ok(self)
    }

    /// The columns of a read with these options, in order.
    pub fn selected_columns(&self) -> Vec<Column> {
        let mut out = self
            .columns
            .clone()
            .unwrap_or_else(|| column::DEFAULT.to_vec());
        if self.payload && !out.contains(&Column::Payload) {
            out.push(Column::Payload);
        }
        out
    }
}

/// A protocol name (as the `protocol` column writes it, an alias, or a number) to its number.
pub fn parse_protocol(name: Option<&str>) -> Result<Option<u8>> {
    match name {
        None => Ok(None),
        Some(n) => protocol::number(n).map(Some).ok_or_else(|| {
            let names = protocol::valid_names();
            Error::invalid_argument(format!(
                "unknown protocol {n:?};{} valid names are: {} (or a protocol number 0-255)",
                crate::error::did_you_mean(n, names.iter().map(|s| s.as_ref())),
                names.join(", ")
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(src: Addr, src_port: Option<u16>, dst_port: Option<u16>) -> IpPacket {
        IpPacket {
            src,
            dst: Addr::V4([10, 0, 0, 2]),
            src_port,
            dst_port,
            ..IpPacket::placeholder()
        }
    }

    #[test]
    fn row_match_keeps_what_the_columns_text_equals() {
        let v6 = Addr::V6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let by_host = |text: &str| RowMatch {
            clauses: vec![vec![MatchTerm::parse("src_host", &[text]).unwrap()]],
        };
        assert!(by_host("2001:db8::1").keeps(&packet(v6, None, None)));
        // Other spellings of the same address are other text: no row's column equals them.
        assert!(!by_host("2001:DB8::1").keeps(&packet(v6, None, None)));
        assert!(!by_host("2001:db8:0::1").keeps(&packet(v6, None, None)));
        assert!(!by_host("::ffff:10.0.0.1").keeps(&packet(Addr::V4([10, 0, 0, 1]), None, None)));
        assert!(by_host("10.0.0.1").keeps(&packet(Addr::V4([10, 0, 0, 1]), None, None)));
        // (dst_port == 80 or src_port == 80) and dst_host == 10.0.0.2; a missing port equals nothing.
        let web = RowMatch {
            clauses: vec![
                vec![
                    MatchTerm::parse("dst_port", &["80"]).unwrap(),
                    MatchTerm::parse("src_port", &["80", "70000", "-1"]).unwrap(),
                ],
                vec![MatchTerm::parse("dst_host", &["10.0.0.2"]).unwrap()],
            ],
        };
        let a = Addr::V4([10, 0, 0, 1]);
        assert!(web.keeps(&packet(a, Some(80), Some(5000))));
        assert!(web.keeps(&packet(a, Some(5000), Some(80))));
        assert!(!web.keeps(&packet(a, Some(5000), Some(5001))));
        assert!(!web.keeps(&packet(a, None, None)));
        assert_eq!(MatchTerm::parse("protocol", &["tcp"]), None);
    }
}
