//! Reading capture files: whole (`read_capture`, on several threads, or one partition of
//! `plan_partitions`) or batch by batch (`CaptureReader`, from a path or a Python file
//! object), and what a read accepts and gives, asked without opening a file.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Mutex;

use arrow_schema::SchemaRef;
use pcapframe::batch::HostEncoding;
use pcapframe::index::{FileStamp, Partition};
use pcapframe::input::ByteWindow;
use pcapframe::options::{MatchTerm, RowMatch};
use pcapframe::protocol;
use pcapframe::reader::{Cancel, PacketReader, ReadOptions};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrow::{ArrowBatch, ArrowSchema};
use crate::errors::{guard, to_py_err, CaptureError};
use crate::files::PyFileReader;
use crate::gil::{interruptible, locked};
use crate::options::{set_protocol_in, ReadArgs};

/// A file read's counters as a dict.
pub(crate) fn stats_dict(py: Python<'_>, s: pcapframe::ReadStats) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("packets", s.packets)?;
    out.set_item("rows", s.rows)?;
    out.set_item("not_ip", s.not_ip)?;
    out.set_item("filtered", s.filtered)?;
    out.set_item("outside_time_range", s.outside_time_range)?;
    out.set_item("unsupported_link_types", s.unsupported_link_types)?;
    out.set_item("truncated", s.truncated)?;
    Ok(out)
}

/// A file's version as `plan_partitions` gives it: (inode, size, modification time in ns).
type Stamp = (u64, u64, i64);

/// What `plan_partitions` gives: the file's stamp, then its byte ranges or why it cannot
/// be split.
type PartitionPlan = (Stamp, Option<Vec<(u64, u64, u64)>>, Option<&'static str>);

/// A whole local capture file, decoded on `threads` threads: (list of batches, stats).
/// Exactly the sequential read's rows, in order. With `byte_range=(start, end)`, the
/// `stamp` and the `frames_before` of `plan_partitions`: only the records that start in
/// that range (a partition).
/// `hosts="text_when_distinct"`: batches from the first one with more than 65,536 distinct
/// hosts on give them as large strings (see `HostEncoding`); the default is dictionaries.
#[pyfunction]
#[pyo3(signature = (path, *, protocol=None, payload=false, errors="warn", filter=None, columns=None, decapsulate=false, start_ns=None, end_ns=None, threads=1, byte_range=None, stamp=None, frames_before=0, hosts="dictionary"))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn read_capture<'py>(
    py: Python<'py>,
    path: PathBuf,
    protocol: Option<&str>,
    payload: bool,
    errors: &str,
    filter: Option<String>,
    columns: Option<Vec<String>>,
    decapsulate: bool,
    start_ns: Option<i64>,
    end_ns: Option<i64>,
    threads: usize,
    byte_range: Option<(u64, u64)>,
    stamp: Option<Stamp>,
    frames_before: u64,
    hosts: &str,
) -> PyResult<(Vec<ArrowBatch>, Bound<'py, PyDict>)> {
    guard("reading a capture", || {
        let hosts = match hosts {
            "dictionary" => HostEncoding::Dictionary,
            "text_when_distinct" => HostEncoding::TextWhenDistinct,
            other => {
                return Err(PyValueError::new_err(format!(
                    "hosts={other:?} is not 'dictionary' or 'text_when_distinct'"
                )))
            }
        };
        let options = ReadArgs {
            protocol,
            payload,
            errors,
            filter,
            columns,
            decapsulate,
            time_range: (start_ns, end_ns),
            // Batches of the default size: smaller batches keep each host dictionary's hash
            // table near the cache, which is most of the cost when every address is new.
            batch_rows: pcapframe::batch::DEFAULT_BATCH_ROWS,
        }
        .into_options()?;
        let options = ReadOptions { hosts, ..options };
        let partition = match (byte_range, stamp) {
            (None, _) => None,
            (Some((start, end)), Some((inode, size, modified_ns))) => Some((
                Partition {
                    start,
                    end,
                    frames_before,
                },
                FileStamp {
                    inode,
                    size,
                    modified_ns,
                },
            )),
            (Some(_), None) => {
                return Err(PyValueError::new_err(
                    "byte_range= needs the stamp= that plan_partitions() gave with it",
                ))
            }
        };
        let read = interruptible(py, &options.cancel, || match partition {
            Some((partition, stamp)) => {
                pcapframe::parallel::read_partition(&path, &options, &stamp, &partition)
            }
            None => pcapframe::parallel::read_file(&path, &options, threads.max(1)),
        })?
        // Errors met while building rows (memory) know no file: this one.
        .map_err(|e| to_py_err(e.in_file(&path)))?;
        let stats = stats_dict(py, read.stats)?;
        Ok((
            read.batches
                .into_iter()
                .map(|batch| ArrowBatch { batch })
                .collect(),
            stats,
        ))
    })
}

/// Exact byte-range partitions of a local file of about `blocksize` bytes each, from one
/// walk over its records (kept per process while the file is unchanged): `(stamp, ranges,
/// None)` with each range as `(start, end, frames_before)`, or `(stamp, None, reason)` when
/// the file cannot be split. `stamp` identifies
/// the file's version; give it back to `read_capture` with each range.
#[pyfunction]
pub(crate) fn plan_partitions(
    py: Python<'_>,
    path: PathBuf,
    blocksize: u64,
) -> PyResult<PartitionPlan> {
    guard("planning partitions", || {
        let cancel = Cancel::new();
        let (stamp, plan) = interruptible(py, &cancel, || {
            pcapframe::index::plan_partitions(&path, blocksize.max(1), &cancel)
        })?
        .map_err(to_py_err)?;
        let stamp = (stamp.inode, stamp.size, stamp.modified_ns);
        Ok(match plan {
            Ok(ranges) => (
                stamp,
                Some(
                    ranges
                        .into_iter()
                        .map(|p| (p.start, p.end, p.frames_before))
                        .collect(),
                ),
                None,
            ),
            Err(why) => (stamp, None, Some(why)),
        })
    })
}

/// Reads one capture file into Arrow batches: `for batch in CaptureReader(path): ...`.
#[pyclass(module = "intake_pcap._native")]
pub(crate) struct CaptureReader {
    reader: Mutex<Option<PacketReader>>,
    schema: SchemaRef,
    path: PathBuf,
    format: &'static str,
    /// Set by Ctrl-C during a read; the reader then refuses to go on (rows were lost).
    cancel: Cancel,
}

/// `[[(column, [value, ...]), ...], ...]`: clauses of terms, as `RowMatch` holds them.
type RowMatchArg = Vec<Vec<(String, Vec<String>)>>;

fn parse_row_match(clauses: RowMatchArg) -> PyResult<RowMatch> {
    let clauses = clauses
        .into_iter()
        .map(|clause| {
            clause
                .into_iter()
                .map(|(column, values)| {
                    MatchTerm::parse(&column, &values).ok_or_else(|| {
                        PyValueError::new_err(format!(
                            "row_match cannot test {column:?}: only src_port, dst_port, src_host and dst_host"
                        ))
                    })
                })
                .collect()
        })
        .collect::<PyResult<_>>()?;
    Ok(RowMatch { clauses })
}

#[pymethods]
impl CaptureReader {
    /// `source` is a path, or a binary file object (anything with `read(n)`, such as what
    /// `fsspec.open` gives); `name` names it in messages (a URL, say).
    #[new]
    #[pyo3(signature = (source, *, protocol=None, payload=false, errors="warn", filter=None, columns=None, decapsulate=false, start_ns=None, end_ns=None, batch_rows=65536, name=None, row_match=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        protocol: Option<&str>,
        payload: bool,
        errors: &str,
        filter: Option<String>,
        columns: Option<Vec<String>>,
        decapsulate: bool,
        start_ns: Option<i64>,
        end_ns: Option<i64>,
        batch_rows: usize,
        name: Option<PathBuf>,
        row_match: Option<RowMatchArg>,
    ) -> PyResult<Self> {
        guard("opening a capture", || {
            let mut options = ReadArgs {
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
            options.row_match = row_match.map(parse_row_match).transpose()?;
            let cancel = options.cancel.clone();
            let (reader, path) = if let Ok(path) = source.extract::<PathBuf>() {
                (
                    py.detach(|| PacketReader::open(&path, options))
                        .map_err(to_py_err)?,
                    name.unwrap_or(path),
                )
            } else if source.hasattr("read")? {
                let label = name.unwrap_or_else(|| {
                    PathBuf::from(source.repr().map(|r| r.to_string()).unwrap_or_default())
                });
                let file = PyFileReader::new(source);
                let opened = py.detach(|| {
                    let window =
                        ByteWindow::from_reader(Box::new(file)).map_err(|e| e.in_file(&label))?;
                    PacketReader::from_named_window(window, Some(label.clone()), options)
                });
                (opened.map_err(to_py_err)?, label)
            } else {
                return Err(PyTypeError::new_err(
                    "source must be a path or a binary file object with read()",
                ));
            };
            Ok(CaptureReader {
                schema: reader.schema(),
                format: reader.format_name(),
                reader: Mutex::new(Some(reader)),
                path,
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

    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// "pcap (microseconds)", "pcap (nanoseconds)", "pcapng", ...
    #[getter]
    fn format(&self) -> &'static str {
        self.format
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<ArrowBatch>> {
        self.read_batch(py, None)
    }

    /// The next batch of at most `max_rows` rows (the reader's batch size by default);
    /// `None` at the end of the file.
    #[pyo3(signature = (max_rows=None))]
    fn read_batch(&self, py: Python<'_>, max_rows: Option<usize>) -> PyResult<Option<ArrowBatch>> {
        guard("reading a capture", || {
            if self.cancel.is_cancelled() {
                return Err(CaptureError::new_err(format!(
                    "{}: this reader was interrupted in the middle of a batch, whose rows are lost: open the capture again",
                    self.path.display()
                )));
            }
            // Decoding needs no Python objects: it runs without the GIL, and Ctrl-C stops it.
            let step = interruptible(py, &self.cancel, || {
                let mut slot = self.reader.lock().unwrap_or_else(|p| p.into_inner());
                match catch_unwind(AssertUnwindSafe(|| match slot.as_mut() {
                    None => Ok(None),
                    Some(reader) => match max_rows {
                        Some(n) => reader.next_batch_of(n),
                        None => reader.next_batch(),
                    },
                })) {
                    Ok(step) => step,
                    Err(panic) => {
                        // The reader may be half-updated: drop it.
                        *slot = None;
                        std::panic::resume_unwind(panic)
                    }
                }
            })?;
            Ok(step.map_err(to_py_err)?.map(|batch| ArrowBatch { batch }))
        })
    }

    /// Keep only packets whose IP header chain holds `protocol` (a name or number), from
    /// the next batch on; `None` keeps every IP packet.
    #[pyo3(signature = (protocol=None))]
    fn set_protocol(&self, py: Python<'_>, protocol: Option<&str>) -> PyResult<()> {
        guard("changing the protocol", || {
            set_protocol_in(py, &self.reader, protocol)
        })
    }

    /// What the read has seen so far: packets, rows, skipped packets, truncation.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        guard("counting a read", || {
            match locked(py, &self.reader, |slot| {
                slot.as_ref().map(|r| r.stats().clone())
            }) {
                Some(stats) => stats_dict(py, stats),
                None => Ok(PyDict::new(py)),
            }
        })
    }

    /// Release the file now rather than when the object is collected.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        guard("closing a capture", || {
            locked(py, &self.reader, |slot| *slot = None);
            Ok(())
        })
    }
}

/// The Arrow schema of a read, without opening a file: `columns` in order (`None`: the
/// documented six), `payload` appended when asked for and not named. An unknown column
/// raises ValueError listing the valid names.
#[pyfunction]
#[pyo3(signature = (*, payload=false, columns=None))]
pub(crate) fn capture_schema(payload: bool, columns: Option<Vec<String>>) -> PyResult<ArrowSchema> {
    guard("making a schema", || {
        let selected = pcapframe::column::select(columns.as_deref(), payload).map_err(to_py_err)?;
        Ok(ArrowSchema {
            schema: pcapframe::batch::schema_of(&selected),
        })
    })
}

/// Every column a read can produce, in the documented order.
#[pyfunction]
pub(crate) fn column_names() -> Vec<&'static str> {
    pcapframe::column::Column::names()
}

/// Every column a read can produce, with what it holds (Markdown), in the documented order.
#[pyfunction]
pub(crate) fn column_docs() -> Vec<(&'static str, &'static str)> {
    pcapframe::column::Column::ALL
        .iter()
        .map(|c| (c.def().name, c.def().doc))
        .collect()
}

/// The columns that follow TCP connections from each file's start (DNS, TLS, HTTP): a
/// read of them takes each file whole, as one partition.
#[pyfunction]
pub(crate) fn stream_column_names() -> Vec<&'static str> {
    pcapframe::column::Column::ALL
        .iter()
        .filter(|c| c.def().needs == pcapframe::column::Needs::Streams)
        .map(|c| c.name())
        .collect()
}

/// The names `protocol=` accepts (documented ones first), besides numbers 0-255.
#[pyfunction]
pub(crate) fn protocol_names() -> Vec<&'static str> {
    protocol::valid_names()
}

/// Raise ValueError (with libpcap's message) unless `expression` is a valid tcpdump filter.
#[pyfunction]
pub(crate) fn check_filter(expression: &str) -> PyResult<()> {
    guard("checking a filter", || {
        pcapframe::bpf::BpfFilter::new(expression)
            .map(|_| ())
            .map_err(to_py_err)
    })
}

/// Raise ValueError (listing the valid names) unless `name` is a protocol `protocol=` accepts.
#[pyfunction]
pub(crate) fn check_protocol(name: &str) -> PyResult<()> {
    guard("checking a protocol", || {
        pcapframe::reader::parse_protocol(Some(name))
            .map(|_| ())
            .map_err(to_py_err)
    })
}
