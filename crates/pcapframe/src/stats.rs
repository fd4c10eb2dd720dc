//! What a read saw and skipped.

use std::collections::BTreeMap;

/// Counts of what a read saw and skipped, for warnings and `discover()`.
#[derive(Debug, Clone, Default)]
pub struct ReadStats {
    /// Packet records read.
    pub packets: u64,
    /// Rows produced.
    pub rows: u64,
    /// Packets whose outermost network layer is not IP (ARP, STP, ...) or whose IP header
    /// was not captured far enough to name both addresses.
    pub not_ip: u64,
    /// Packets dropped by `protocol=` or `filter=`.
    pub filtered: u64,
    /// Packets outside the read's time range (`ReadOptions::time_range`).
    pub outside_time_range: u64,
    /// Packets skipped because their link type is not decoded, by link type.
    pub unsupported_link_types: BTreeMap<u32, u64>,
    /// Set when the file ended inside a record or was damaged and the policy kept going:
    /// the error's text (file, byte offset, what was wrong).
    pub truncated: Option<String>,
}
