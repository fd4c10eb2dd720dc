//! pcapframe: packet captures into Arrow record batches.
//!
//! The data path, one module per step:
//! [`input`] (bytes, gzip) -> [`format`] (pcap/pcapng records) -> [`link`] (link layers)
//! -> [`ip`] (IP chain, ports, payload) -> [`batch`] (Arrow columns) -> [`reader`] (the loop).

pub mod batch;
pub mod bpf;
pub mod column;
pub mod error;
pub mod format;
pub mod index;
pub mod input;
pub mod ip;
pub mod link;
pub mod live;
pub mod output;
pub mod parallel;
pub mod protocol;
pub mod reader;
pub mod select;
pub mod writer;

pub use error::{Error, ErrorKind, Result};
pub use reader::{Cancel, PacketReader, ReadOptions, ReadStats, TruncationPolicy};
