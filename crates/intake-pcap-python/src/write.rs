//! Writing tables with the core's writers (`write_table`: Parquet, Arrow IPC, CSV, JSON
//! lines), under the core's destination rules. (A live capture's packets are written to
//! pcap by `LiveReader.dump`, beside the capture it reads.)

use std::path::PathBuf;

use arrow_array::RecordBatchReader;
use pcapframe::output::{OutputFormat, TableWriter};
use pyo3::prelude::*;

use crate::arrow::import_stream;
use crate::errors::{guard, to_py_err, CaptureError};

/// Write every batch of `table` (anything with `__arrow_c_stream__`: a pyarrow Table or
/// RecordBatchReader) to `path` with the core's writers: Parquet (zstd, hosts kept
/// dictionary-encoded), Arrow IPC, CSV or JSON lines, by `format` or the file's extension.
/// The file appears only when complete; the core's destination rules apply (a FIFO or a
/// device is written through; a directory, a socket or one of `inputs` is refused).
/// Returns the rows written.
#[pyfunction]
#[pyo3(signature = (table, path, *, format=None, inputs=None))]
pub(crate) fn write_table(
    table: &Bound<'_, PyAny>,
    path: PathBuf,
    format: Option<&str>,
    inputs: Option<Vec<PathBuf>>,
) -> PyResult<u64> {
    guard("writing a table", || {
        let format = match format {
            Some(name) => OutputFormat::parse(name),
            None => OutputFormat::from_path(&path),
        }
        .map_err(to_py_err)?;
        let reader = import_stream(table)?;
        let inputs = inputs.unwrap_or_default();
        let mut writer = TableWriter::create_avoiding(&path, format, reader.schema(), &inputs)
            .map_err(to_py_err)?;
        for batch in reader {
            // A failing source (an exception in a Python generator) ends the write; the
            // unfinished file is removed when `writer` is dropped.
            let batch = batch
                .map_err(|e| CaptureError::new_err(format!("reading the table to write: {e}")))?;
            writer.write(&batch).map_err(to_py_err)?;
        }
        writer.finish().map_err(to_py_err)
    })
}

/// Write the packets of `paths` that the selection keeps to `path` as a capture
/// (`pcapframe::extract`): `frames` (one sorted list of packet numbers per file, or
/// `None` for every packet), `offsets` (one sorted list of record offsets per file), a time range `[start_ns, end_ns)`, and the read options
/// `filter=`, `protocol=`, `decapsulate=` and `errors=`. Returns (packets written, packet
/// records read, messages of the damage that ended a file early under errors="warn" or
/// "ignore").
#[pyfunction]
#[pyo3(signature = (paths, path, *, format=None, frames=None, offsets=None, start_ns=None, end_ns=None,
                    filter=None, protocol=None, decapsulate=false, errors="warn"))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn extract_capture(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    path: PathBuf,
    format: Option<&str>,
    frames: Option<Vec<Vec<u64>>>,
    offsets: Option<Vec<Vec<u64>>>,
    start_ns: Option<i64>,
    end_ns: Option<i64>,
    filter: Option<String>,
    protocol: Option<&str>,
    decapsulate: bool,
    errors: &str,
) -> PyResult<(u64, u64, Vec<String>)> {
    use pcapframe::extract::{extract, CaptureFormat, Keep};
    use pcapframe::output::FileOut;
    guard("writing a capture", || {
        let format = match format {
            Some(name) => CaptureFormat::parse(name).map_err(to_py_err)?,
            None => CaptureFormat::from_path(&path),
        };
        let options = crate::options::ReadArgs {
            protocol,
            payload: false,
            errors,
            filter,
            columns: None,
            decapsulate,
            // The range is `Keep`'s, on every record (IP or not).
            time_range: (None, None),
            batch_rows: 1,
        }
        .into_options()?;
        let keep = Keep {
            frames,
            offsets,
            start_ns,
            end_ns,
            options,
        };
        let cancel = pcapframe::reader::Cancel::default();
        let done = crate::gil::interruptible(py, &cancel, || {
            let out = FileOut::create(&path, &paths)?;
            extract(&paths, &keep, format, out, &cancel)
        })?
        .map_err(to_py_err)?;
        let damage = done.damage.iter().map(|e| e.to_string()).collect();
        Ok((done.packets, done.read, damage))
    })
}

/// The packet record that starts at byte `offset` of `path` (`pcapframe::extract::packet_at`):
/// (captured bytes, time in ns or None, wire length, link type, interface number).
#[pyfunction]
pub(crate) fn packet_at(
    py: Python<'_>,
    path: PathBuf,
    offset: u64,
) -> PyResult<(Py<pyo3::types::PyBytes>, Option<i64>, u32, u32, u32)> {
    guard("reading a packet", || {
        let p = py
            .detach(|| pcapframe::extract::packet_at(&path, offset))
            .map_err(to_py_err)?;
        Ok((
            pyo3::types::PyBytes::new(py, &p.data).unbind(),
            p.timestamp_ns,
            p.wire_len,
            p.link_type,
            p.interface,
        ))
    })
}
