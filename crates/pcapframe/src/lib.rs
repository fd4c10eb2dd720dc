//! pcapframe: packet captures into Arrow record batches.
//!
//! The data path, one module per step:
//! [`input`] (bytes, gzip) -> [`format`] (pcap/pcapng records) -> [`link`] (link layers)
//! -> [`ip`] (IP chain, ports, payload) -> [`tunnel`] (inner IP packets) -> [`batch`] (Arrow columns) -> [`reader`] (the loop).
//! Every header field is read through the views of [`wire`].
//!
//! Features (all on by default): `filter` (tcpdump expressions, libpcap), `live` (capture
//! from interfaces, libpcap), `output` (Parquet, Arrow IPC, CSV, JSON lines writers). With
//! none of them the decoder needs neither libpcap nor parquet.

pub mod app;
pub mod batch;
#[cfg(feature = "filter")]
pub mod bpf;
pub mod column;
pub mod community_id;
pub mod dissect;
pub mod error;
#[cfg(feature = "output")]
pub mod extract;
pub mod flow;
pub mod format;
pub mod index;
pub mod input;
pub mod ip;
#[cfg(any(feature = "filter", feature = "live"))]
pub mod libpcap;
pub mod link;
#[cfg(feature = "live")]
pub mod live;
pub mod options;
#[cfg(feature = "output")]
pub mod output;
pub mod parallel;
pub mod protocol;
pub mod reader;
pub mod select;
pub mod stats;
pub mod stream;
pub mod tunnel;
pub mod wire;
pub mod writer;

pub use error::{Error, ErrorKind, Result};
pub use options::{Cancel, ReadOptions, TruncationPolicy};
pub use reader::PacketReader;
pub use stats::ReadStats;
