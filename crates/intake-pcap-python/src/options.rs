//! The read options every reader takes by keyword (`protocol=`, `payload=`, `errors=`,
//! `filter=`, `columns=`, `decapsulate=`), checked in one place, and `protocol=` changed between batches.

use std::sync::Mutex;

use pcapframe::options::TimeRange;
use pcapframe::reader::{PacketReader, ReadOptions, TruncationPolicy};
use pyo3::prelude::*;

use crate::errors::to_py_err;
use crate::gil::locked;

/// The keyword arguments of a read as Python gave them.
pub(crate) struct ReadArgs<'a> {
    /// A protocol name or number as text (`None`: every IP packet).
    pub(crate) protocol: Option<&'a str>,
    pub(crate) payload: bool,
    /// "raise", "warn" or "ignore".
    pub(crate) errors: &'a str,
    /// A tcpdump expression.
    pub(crate) filter: Option<String>,
    /// Column names in order (`None`: the documented six).
    pub(crate) columns: Option<Vec<String>>,
    /// Rows describe the innermost IP packet reached through tunnels.
    pub(crate) decapsulate: bool,
    /// Only packets with `start <= time < end`, in ns since 1970 (`ReadOptions::time_range`).
    pub(crate) time_range: (Option<i64>, Option<i64>),
    pub(crate) batch_rows: usize,
}

impl ReadArgs<'_> {
    /// The core's options; a bad value is a `ValueError` naming the valid ones.
    pub(crate) fn into_options(self) -> PyResult<ReadOptions> {
        let errors = TruncationPolicy::parse(self.errors).map_err(to_py_err)?;
        let time_range = TimeRange::new(self.time_range.0, self.time_range.1).map_err(to_py_err)?;
        ReadOptions {
            time_range,
            payload: self.payload,
            batch_rows: self.batch_rows,
            errors,
            filter: self.filter,
            decapsulate: self.decapsulate,
            ..ReadOptions::default()
        }
        .with_protocol_name(self.protocol)
        .and_then(|o| o.with_column_names(self.columns.as_deref()))
        .map_err(to_py_err)
    }
}

/// The readers whose protocol filter can change between batches.
pub(crate) trait ProtocolFilter: Send {
    fn set_protocol(&mut self, protocol: Option<u8>);
}

impl ProtocolFilter for PacketReader {
    fn set_protocol(&mut self, protocol: Option<u8>) {
        PacketReader::set_protocol(self, protocol);
    }
}

impl ProtocolFilter for pcapframe::live::LiveReader {
    fn set_protocol(&mut self, protocol: Option<u8>) {
        pcapframe::live::LiveReader::set_protocol(self, protocol);
    }
}

/// `set_protocol` of both Python reader classes: check the name, then apply it to the
/// reader in `slot` (none once closed).
pub(crate) fn set_protocol_in<R: ProtocolFilter>(
    py: Python<'_>,
    slot: &Mutex<Option<R>>,
    protocol: Option<&str>,
) -> PyResult<()> {
    let number = pcapframe::reader::parse_protocol(protocol).map_err(to_py_err)?;
    locked(py, slot, |held| {
        if let Some(reader) = held.as_mut() {
            reader.set_protocol(number);
        }
    });
    Ok(())
}
