//! The flow table (`FlowReader`): every capture of a read through one flow table, flows
//! handed out as they end; and the flow table's schema, asked without opening a file.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Mutex;

use pcapframe::flow::{
    FlowColumns, FlowReader, LabeledPacketReader, Observation, OpenInput, Timeouts,
};
use pcapframe::format::RecordReader;
use pcapframe::input::ByteWindow;
use pcapframe::reader::Cancel;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::arrow::{ArrowBatch, ArrowSchema};
use crate::errors::{guard, to_py_err, CaptureError};
use crate::files::PyFileReader;
use crate::gil::{interruptible, locked};
use crate::options::ReadArgs;
use crate::read::stats_dict;

/// Seconds as nanoseconds of capture time; `None` turns the timeout off.
fn timeout_ns(name: &str, seconds: Option<f64>) -> PyResult<Option<i64>> {
    match seconds {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 && s < 9.2e9 => Ok(Some((s * 1e9).round() as i64)),
        Some(s) => Err(PyValueError::new_err(format!(
            "{name} must be a number of seconds greater than 0, or None; got {s}"
        ))),
    }
}

/// One input: a path read by Rust, or a callable that opens a binary file object when the
/// input's turn comes (remote files, other codecs), named `name` in messages.
fn input(source: &Bound<'_, PyAny>, name: Option<PathBuf>) -> PyResult<OpenInput> {
    if let Ok(path) = source.extract::<PathBuf>() {
        return Ok(pcapframe::flow::path_input(path));
    }
    if !source.is_callable() {
        return Err(PyTypeError::new_err(
            "each source must be a path or a callable that opens a binary file object",
        ));
    }
    let opener: Py<PyAny> = source.clone().unbind();
    let label = name
        .unwrap_or_else(|| PathBuf::from(source.repr().map(|r| r.to_string()).unwrap_or_default()));
    Ok(OpenInput::Opener(std::sync::Arc::new(move || {
        let file = Python::attach(|py| {
            opener
                .bind(py)
                .call0()
                .map(|f| PyFileReader::new(&f))
                .map_err(|e| {
                    pcapframe::Error::invalid_argument(format!("opening {}: {e}", label.display()))
                })
        })?;
        let window = ByteWindow::from_reader(Box::new(file)).map_err(|e| e.in_file(&label))?;
        RecordReader::new(window, Some(label.clone()))
    })))
}

/// The inputs (named by `names`) and timeouts of a read through the flow table.
fn flow_inputs(
    sources: &[Bound<'_, PyAny>],
    names: Option<Vec<Option<PathBuf>>>,
    idle_timeout: Option<f64>,
    active_timeout: Option<f64>,
) -> PyResult<(Vec<OpenInput>, Timeouts)> {
    let timeouts = Timeouts {
        idle_ns: timeout_ns("idle_timeout", idle_timeout)?,
        active_ns: timeout_ns("active_timeout", active_timeout)?,
    };
    let names = names.unwrap_or_default();
    let inputs = sources
        .iter()
        .enumerate()
        .map(|(i, s)| input(s, names.get(i).cloned().flatten()))
        .collect::<PyResult<Vec<_>>>()?;
    Ok((inputs, timeouts))
}

#[pyclass(module = "intake_pcap._native")]
pub(crate) struct FlowTableReader {
    reader: Mutex<Option<FlowReader>>,
    cancel: Cancel,
    schema: arrow_schema::SchemaRef,
}

/// The flow columns named (`None`: the default ones).
fn flow_columns_named(columns: Option<Vec<String>>) -> PyResult<FlowColumns> {
    FlowColumns::named(columns.as_deref()).map_err(to_py_err)
}

#[pymethods]
impl FlowTableReader {
    /// `sources`: paths, or callables that open a binary file object, in time order;
    /// `names` name them in messages.
    #[new]
    #[pyo3(signature = (sources, *, names=None, idle_timeout=Some(120.0), active_timeout=Some(1800.0), protocol=None, errors="warn", filter=None, decapsulate=false, start_ns=None, end_ns=None, batch_rows=65536, threads=1, verify_checksums=false, columns=None, in_id_order=0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        sources: Vec<Bound<'_, PyAny>>,
        names: Option<Vec<Option<PathBuf>>>,
        idle_timeout: Option<f64>,
        active_timeout: Option<f64>,
        protocol: Option<&str>,
        errors: &str,
        filter: Option<String>,
        decapsulate: bool,
        start_ns: Option<i64>,
        end_ns: Option<i64>,
        batch_rows: usize,
        threads: usize,
        verify_checksums: bool,
        columns: Option<Vec<String>>,
        in_id_order: usize,
    ) -> PyResult<Self> {
        guard("opening captures for flows", || {
            let options = ReadArgs {
                protocol,
                payload: false,
                errors,
                filter,
                columns: None,
                decapsulate,
                time_range: (start_ns, end_ns),
                batch_rows: batch_rows.max(1),
            }
            .into_options()?;
            let options = pcapframe::reader::ReadOptions {
                verify_checksums,
                ..options
            };
            let (inputs, timeouts) = flow_inputs(&sources, names, idle_timeout, active_timeout)?;
            let cancel = options.cancel.clone();
            let columns = flow_columns_named(columns)?;
            let schema = columns.schema();
            let reader = FlowReader::new(inputs, options, timeouts)
                .and_then(|r| r.with_columns(columns))
                .map_err(to_py_err)?
                .with_threads(threads, None)
                .in_id_order(in_id_order);
            Ok(FlowTableReader {
                reader: Mutex::new(Some(reader)),
                cancel,
                schema,
            })
        })
    }

    #[getter]
    fn schema(&self) -> ArrowSchema {
        ArrowSchema {
            schema: self.schema.clone(),
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<ArrowBatch>> {
        self.read_batch(py)
    }

    /// The next batch of flows, in the order they ended; `None` when every flow is out.
    fn read_batch(&self, py: Python<'_>) -> PyResult<Option<ArrowBatch>> {
        guard("reading flows", || {
            next_batch(
                py,
                &self.reader,
                &self.cancel,
                "flow reader",
                FlowReader::next_batch,
            )
        })
    }

    /// What the read has seen so far (packets, skipped packets, truncation; `rows`: flows
    /// handed out).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        guard("counting a flow read", || {
            match locked(py, &self.reader, |slot| slot.as_ref().map(|r| r.stats())) {
                Some(stats) => stats_dict(py, stats),
                None => Ok(pyo3::types::PyDict::new(py)),
            }
        })
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        guard("closing a flow read", || {
            locked(py, &self.reader, |slot| *slot = None);
            Ok(())
        })
    }
}

/// The next batch of the reader in `slot`, with the GIL released and Ctrl-C heard; a
/// reader that panicked is dropped (the panic becomes a Python exception in `guard`).
fn next_batch<R: Send>(
    py: Python<'_>,
    slot: &Mutex<Option<R>>,
    cancel: &Cancel,
    what: &str,
    step: fn(&mut R) -> pcapframe::Result<Option<arrow_array::RecordBatch>>,
) -> PyResult<Option<ArrowBatch>> {
    if cancel.is_cancelled() {
        return Err(CaptureError::new_err(format!(
            "this {what} was interrupted, and the rows it held are lost: read again"
        )));
    }
    let got = interruptible(py, cancel, || {
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        match catch_unwind(AssertUnwindSafe(|| match slot.as_mut() {
            None => Ok(None),
            Some(reader) => step(reader),
        })) {
            Ok(got) => got,
            Err(panic) => {
                *slot = None;
                std::panic::resume_unwind(panic)
            }
        }
    })?;
    Ok(got.map_err(to_py_err)?.map(|batch| ArrowBatch { batch }))
}

/// The packet table with the flow columns (`flow_id`, `direction`): every file of a read,
/// in order, its packets placed in their flows by the flow table the flow read runs.
#[pyclass(module = "intake_pcap._native")]
pub(crate) struct LabeledCaptureReader {
    reader: Mutex<Option<LabeledPacketReader>>,
    schema: arrow_schema::SchemaRef,
    cancel: Cancel,
}

#[pymethods]
impl LabeledCaptureReader {
    /// `sources` and `names` as `FlowTableReader`'s; the other arguments as `read_capture`'s
    /// and `FlowTableReader`'s. With `direction` in `columns`, each source is opened twice.
    #[new]
    #[pyo3(signature = (sources, *, names=None, idle_timeout=Some(120.0), active_timeout=Some(1800.0), protocol=None, payload=false, errors="warn", filter=None, columns=None, decapsulate=false, start_ns=None, end_ns=None, batch_rows=65536, threads=1))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        sources: Vec<Bound<'_, PyAny>>,
        names: Option<Vec<Option<PathBuf>>>,
        idle_timeout: Option<f64>,
        active_timeout: Option<f64>,
        protocol: Option<&str>,
        payload: bool,
        errors: &str,
        filter: Option<String>,
        columns: Option<Vec<String>>,
        decapsulate: bool,
        start_ns: Option<i64>,
        end_ns: Option<i64>,
        batch_rows: usize,
        threads: usize,
    ) -> PyResult<Self> {
        guard("opening captures for packets with their flows", || {
            let options = ReadArgs {
                protocol,
                payload,
                errors,
                filter,
                columns,
                decapsulate,
                time_range: (start_ns, end_ns),
                batch_rows: batch_rows.max(1),
            }
            .into_options()?;
            let (inputs, timeouts) = flow_inputs(&sources, names, idle_timeout, active_timeout)?;
            let cancel = options.cancel.clone();
            // The first pass (for `direction`) reads every file: without the GIL, Ctrl-C heard.
            let reader = interruptible(py, &cancel, || {
                LabeledPacketReader::new(inputs, options, timeouts, threads)
            })?
            .map_err(to_py_err)?;
            Ok(LabeledCaptureReader {
                schema: reader.schema(),
                reader: Mutex::new(Some(reader)),
                cancel,
            })
        })
    }

    #[getter]
    fn schema(&self) -> ArrowSchema {
        ArrowSchema {
            schema: self.schema.clone(),
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<ArrowBatch>> {
        guard("reading packets with their flows", || {
            next_batch(
                py,
                &self.reader,
                &self.cancel,
                "packet reader",
                LabeledPacketReader::next_batch,
            )
        })
    }

    /// What the read has seen so far (packets, rows, skipped packets, truncation).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        guard("counting a read", || {
            match locked(py, &self.reader, |slot| slot.as_ref().map(|r| r.stats())) {
                Some(stats) => stats_dict(py, stats),
                None => Ok(pyo3::types::PyDict::new(py)),
            }
        })
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        guard("closing a read", || {
            locked(py, &self.reader, |slot| *slot = None);
            Ok(())
        })
    }
}

/// Every flow column, with what it holds (Markdown), in order.
#[pyfunction]
pub(crate) fn flow_column_docs() -> Vec<(&'static str, &'static str)> {
    pcapframe::flow::flow_columns()
        .iter()
        .map(|d| (d.name, d.doc))
        .collect()
}

/// The flow table's Arrow schema, of the `columns` named (`None`: the default ones).
#[pyfunction]
#[pyo3(signature = (columns=None))]
pub(crate) fn flow_table_schema(columns: Option<Vec<String>>) -> PyResult<ArrowSchema> {
    Ok(ArrowSchema {
        schema: flow_columns_named(columns)?.schema(),
    })
}

/// Step 1 of a flow table split across dask workers (`pcapframe::flow::shard`): the
/// observations of one partition of a read, in read order. Pickles to bytes.
#[pyclass(module = "intake_pcap._native", frozen)]
pub(crate) struct ObservedPartition {
    observations: Vec<Observation>,
}

#[pymethods]
impl ObservedPartition {
    /// The packets observed.
    fn __len__(&self) -> usize {
        self.observations.len()
    }

    /// Made again from `encode`'s bytes (for pickle).
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        let observations = pcapframe::flow::observe::decode(data)
            .ok_or_else(|| PyValueError::new_err("these bytes are not an ObservedPartition's"))?;
        Ok(ObservedPartition { observations })
    }

    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let make = py.get_type::<ObservedPartition>().getattr("from_bytes")?;
        let bytes = PyBytes::new(py, &pcapframe::flow::observe::encode(&self.observations));
        Ok((make, (bytes,)))
    }
}

/// Step 1: the observations of the packets the flow table selects in one partition of a
/// read: the records of `source` (a local path) that start in `byte_range` (with the `stamp`
/// and `frames_before` of `plan_partitions`), or the whole of `source` (a path, or a callable
/// that opens a binary file object). `file` is its file's place in the read. Returns the
/// partition and the counters of what was read.
#[pyfunction]
#[pyo3(signature = (source, *, file, name=None, byte_range=None, stamp=None, frames_before=0, protocol=None, errors="warn", filter=None, decapsulate=false, start_ns=None, end_ns=None, verify_checksums=false, app=false))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn observe_partition<'py>(
    py: Python<'py>,
    source: Bound<'py, PyAny>,
    file: u32,
    name: Option<PathBuf>,
    byte_range: Option<(u64, u64)>,
    stamp: Option<(u64, u64, i64)>,
    frames_before: u64,
    protocol: Option<&str>,
    errors: &str,
    filter: Option<String>,
    decapsulate: bool,
    start_ns: Option<i64>,
    end_ns: Option<i64>,
    verify_checksums: bool,
    app: bool,
) -> PyResult<(ObservedPartition, Bound<'py, pyo3::types::PyDict>)> {
    guard("observing a partition for flows", || {
        let options = ReadArgs {
            protocol,
            payload: false,
            errors,
            filter,
            columns: None,
            decapsulate,
            time_range: (start_ns, end_ns),
            batch_rows: pcapframe::batch::DEFAULT_BATCH_ROWS,
        }
        .into_options()?;
        let options = pcapframe::reader::ReadOptions {
            verify_checksums,
            flow_app: app,
            ..options
        };
        let read = match (byte_range, stamp) {
            (Some((start, end)), Some((inode, size, modified_ns))) => {
                let path: PathBuf = source.extract()?;
                let stamp = pcapframe::index::FileStamp {
                    inode,
                    size,
                    modified_ns,
                };
                let partition = pcapframe::index::Partition {
                    start,
                    end,
                    frames_before,
                };
                interruptible(py, &options.cancel, || {
                    pcapframe::parallel::observe_partition(&path, &options, &stamp, &partition)
                        .map_err(|e| e.in_file(&path))
                })?
            }
            (None, _) => {
                let input = input(&source, name)?;
                interruptible(py, &options.cancel, || {
                    pcapframe::flow::shard::observe_input(&input, &options)
                })?
            }
            (Some(_), None) => {
                return Err(PyValueError::new_err(
                    "byte_range= needs the stamp= that plan_partitions() gave with it",
                ))
            }
        }
        .map_err(to_py_err)?;
        let mut observations = read.batches;
        for o in &mut observations {
            o.frame.file = file;
        }
        Ok((
            ObservedPartition { observations },
            stats_dict(py, read.stats)?,
        ))
    })
}

/// Step 2: the flows of shard `shard` of `shards` from every partition of a read, in read
/// order (`observe_partition`'s), sorted by `flow_id`; exactly those of the sequential
/// flow table that fall in the shard.
#[pyfunction]
#[pyo3(signature = (partitions, *, shard, shards, idle_timeout=Some(120.0), active_timeout=Some(1800.0), columns=None))]
pub(crate) fn shard_flows(
    py: Python<'_>,
    partitions: Vec<Py<ObservedPartition>>,
    shard: u32,
    shards: u32,
    idle_timeout: Option<f64>,
    active_timeout: Option<f64>,
    columns: Option<Vec<String>>,
) -> PyResult<ArrowBatch> {
    guard("building a shard of flows", || {
        if shards == 0 || shard >= shards {
            return Err(PyValueError::new_err(format!(
                "shard {shard} of {shards}: a shard is one of 0..shards"
            )));
        }
        let timeouts = Timeouts {
            idle_ns: timeout_ns("idle_timeout", idle_timeout)?,
            active_ns: timeout_ns("active_timeout", active_timeout)?,
        };
        let columns = flow_columns_named(columns)?;
        let parts: Vec<&ObservedPartition> = partitions.iter().map(|p| p.get()).collect();
        let batch = py.detach(|| {
            let flows = pcapframe::flow::shard::shard_flows(
                parts.iter().map(|p| p.observations.as_slice()),
                shard,
                shards,
                timeouts,
            );
            columns.batch(&flows)
        });
        Ok(ArrowBatch { batch })
    })
}
