//! The options of a read (which packets, which columns, how deep, what to do with damage)
//! and the flag that cancels it: one module, imported by every reader and the selector.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::batch::{HostEncoding, DEFAULT_BATCH_ROWS};
use crate::column::{self, Column};
use crate::error::{Error, ErrorKind, Result};
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
