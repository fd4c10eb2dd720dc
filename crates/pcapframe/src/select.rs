//! Which records become rows: the time range, the `filter=` expression, then the link layer, then IP, then
//! `protocol=`, then the ports and addresses of `row_match`; every record that does not is counted by reason. Shared by the table
//! builder and by per-packet consumers (the command line's `show` and `stats`).

#[cfg(feature = "filter")]
use crate::bpf::BpfFilter;
use crate::dissect::{self, Depth, Dissection, NoIp};

use crate::error::Result;
use crate::format::Record;
use crate::options::{ReadOptions, RowMatch, TimeRange};
use crate::stats::ReadStats;

/// Without the `filter` feature there is no libpcap to compile an expression: a read that
/// asks for one fails before it starts, and no filter can exist.
#[cfg(not(feature = "filter"))]
pub(crate) struct BpfFilter(std::convert::Infallible);

/// A tcpdump expression run on a record's bytes (`bpf`), for readers that keep records
/// rather than rows.
#[cfg_attr(not(feature = "output"), allow(dead_code))]
pub(crate) type RecordFilter = BpfFilter;

#[cfg(not(feature = "filter"))]
impl BpfFilter {
    pub(crate) fn new(expression: &str) -> Result<Self> {
        Err(crate::error::Error::invalid_argument(format!(
            "filter={expression:?} needs libpcap, and this build of pcapframe was made without \
             its `filter` feature: rebuild with it (the command line and the Python module have it)"
        )))
    }

    pub(crate) fn matches(&mut self, _: &Record<'_>) -> Result<bool> {
        match self.0 {}
    }
}

pub struct PacketSelector {
    time_range: Option<TimeRange>,
    protocol: Option<u8>,
    row_match: Option<RowMatch>,
    filter: Option<BpfFilter>,
    depth: Depth,
    /// The slot each selected record is dissected into (see `dissect::dissect_into`).
    dissection: Dissection,
    stats: ReadStats,
}

impl PacketSelector {
    pub fn new(options: &ReadOptions) -> Result<Self> {
        let filter = options.filter.as_deref().map(BpfFilter::new).transpose()?;
        Ok(PacketSelector {
            time_range: options.time_range,
            protocol: options.protocol,
            row_match: options.row_match.clone(),
            filter,
            depth: Depth {
                transport: true,
                tunnels: options.decapsulate,
                decapsulate: options.decapsulate,
            },
            dissection: Dissection::default(),
            stats: ReadStats::default(),
        })
    }

    /// Walk the tunnels of every packet even without decapsulating (a tunnel column needs
    /// them).
    pub fn with_tunnels(mut self, tunnels: bool) -> Self {
        self.depth.tunnels |= tunnels;
        self
    }

    /// Skip decoding ports and payload bounds when `transport` is false.
    pub fn with_transport(mut self, transport: bool) -> Self {
        self.depth.transport = transport;
        self
    }

    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    pub fn stats_mut(&mut self) -> &mut ReadStats {
        &mut self.stats
    }

    /// Count `packets` records a reader jumped over, all outside the time range (as
    /// `select` would have counted them).
    pub fn count_outside_time_range(&mut self, packets: u64) {
        self.stats.packets += packets;
        self.stats.outside_time_range += packets;
    }

    pub fn set_protocol(&mut self, protocol: Option<u8>) {
        self.protocol = protocol;
    }

    /// The record's dissection if it is selected (counted in `packets`, not yet in
    /// `rows`), else `None` with the reason counted. `protocol=` is held to the chain of
    /// the IP packet the row describes (the innermost when decapsulating). Fails only when
    /// the filter cannot be compiled for the record's link type.
    #[inline]
    pub fn select(&mut self, record: &Record<'_>) -> Result<Option<&Dissection>> {
        self.stats.packets += 1;
        if let Some(range) = &self.time_range {
            if !range.contains(record.timestamp_ns) {
                self.stats.outside_time_range += 1;
                return Ok(None);
            }
        }
        if let Some(filter) = &mut self.filter {
            if !filter.matches(record)? {
                self.stats.filtered += 1;
                return Ok(None);
            }
        }
        match dissect::dissect_into(
            record.link_type,
            record.data,
            record.wire_len,
            self.depth,
            &mut self.dissection,
        ) {
            Ok(()) => {}
            Err(NoIp::NotIp) => {
                self.stats.not_ip += 1;
                return Ok(None);
            }
            Err(NoIp::UnsupportedLink) => {
                *self
                    .stats
                    .unsupported_link_types
                    .entry(record.link_type)
                    .or_default() += 1;
                return Ok(None);
            }
        };
        if let Some(p) = self.protocol {
            if !self.dissection.ip().chain.contains(p) {
                self.stats.filtered += 1;
                return Ok(None);
            }
        }
        if let Some(m) = &self.row_match {
            if !m.keeps(self.dissection.ip()) {
                self.stats.filtered += 1;
                return Ok(None);
            }
        }
        Ok(Some(&self.dissection))
    }
}
