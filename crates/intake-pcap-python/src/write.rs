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
