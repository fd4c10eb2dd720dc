//! `intake_pcap._native`: the Rust reader as Python objects. Batches leave through the
//! Arrow PyCapsule interface (`__arrow_c_array__`), so pyarrow takes the buffers without a
//! copy. Every entry point runs inside `guard`, so a Rust panic becomes a Python exception
//! instead of crossing the boundary.

use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use arrow_array::ffi::{to_ffi, FFI_ArrowSchema};
use arrow_array::{Array, RecordBatch, StructArray};
use arrow_schema::SchemaRef;
use pcapframe::batch::HostEncoding;
use pcapframe::index::FileStamp;
use pcapframe::input::ByteWindow;
use pcapframe::link::{self, Link};
use pcapframe::live::LiveOptions;
use pcapframe::reader::{Cancel, PacketReader, ReadOptions, TruncationPolicy};
use pcapframe::writer::PcapWriter;
use pcapframe::{ip, protocol, Error, ErrorKind};
use pyo3::create_exception;
use pyo3::exceptions::{
    PyException, PyFileNotFoundError, PyKeyboardInterrupt, PyMemoryError, PyOSError,
    PyPermissionError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict, PyTuple};

create_exception!(
    intake_pcap,
    CaptureError,
    PyException,
    "A capture file could not be read."
);
create_exception!(
    intake_pcap,
    NotACaptureError,
    CaptureError,
    "The file is not a pcap or pcapng capture."
);
create_exception!(
    intake_pcap,
    TruncatedCaptureError,
    CaptureError,
    "The capture ends inside a record."
);
create_exception!(
    intake_pcap,
    CorruptCaptureError,
    CaptureError,
    "The capture holds an impossible length or field."
);

fn to_py_err(e: Error) -> PyErr {
    let text = e.to_string();
    match e.kind {
        ErrorKind::Io => match e.source.as_ref().map(|s| s.kind()) {
            Some(std::io::ErrorKind::NotFound) => PyFileNotFoundError::new_err(text),
            _ => PyOSError::new_err(text),
        },
        ErrorKind::NotACapture => NotACaptureError::new_err(text),
        ErrorKind::Truncated => TruncatedCaptureError::new_err(text),
        ErrorKind::Corrupt => CorruptCaptureError::new_err(text),
        ErrorKind::InvalidArgument => PyValueError::new_err(text),
        ErrorKind::PermissionDenied => PyPermissionError::new_err(text),
        ErrorKind::Capture | ErrorKind::NotSplittable | ErrorKind::Changed => {
            CaptureError::new_err(text)
        }
        ErrorKind::Interrupted => PyKeyboardInterrupt::new_err(text),
        ErrorKind::OutOfMemory => PyMemoryError::new_err(text),
    }
}

/// Run `f`, turning a panic into a `CaptureError` that asks for a bug report.
fn guard<T>(what: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let detail = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(CaptureError::new_err(format!(
            "internal error in {what} (a bug in intake-pcap, please report it): {detail}"
        )))
    })
}

/// How often a thread waiting for Rust work checks for Python signals (Ctrl-C).
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Run `work` on a helper thread while this one waits without the GIL, checking for
/// Python signals every `SIGNAL_POLL`: Ctrl-C then raises KeyboardInterrupt here within
/// that, after `cancel` has stopped the work at its next record. (Signal handlers run only
/// in Python's main thread, and only when it runs Python: a long read in this thread
/// would otherwise hold Ctrl-C back until the whole file is read.) A panic in `work`
/// resumes here, for `guard` to turn into an exception.
fn interruptible<T: Send>(
    py: Python<'_>,
    cancel: &Cancel,
    work: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    use std::sync::mpsc::{sync_channel, RecvTimeoutError};
    std::thread::scope(|scope| {
        let (done_tx, mut done_rx) = sync_channel(1);
        scope.spawn(move || {
            let _ = done_tx.send(catch_unwind(AssertUnwindSafe(work)));
        });
        loop {
            let (rx, waited) = py.detach(move || {
                let waited = done_rx.recv_timeout(SIGNAL_POLL);
                (done_rx, waited)
            });
            done_rx = rx;
            match waited {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(panic)) => std::panic::resume_unwind(panic),
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(interrupt) = py.check_signals() {
                        cancel.cancel();
                        // The work stops at its next record; wait for it to let go of
                        // what it borrows.
                        py.detach(move || drop(done_rx.recv()));
                        return Err(interrupt);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(CaptureError::new_err(
                        "internal error: a read ended without an answer (a bug in intake-pcap, please report it)",
                    ))
                }
            }
        }
    })
}

/// Lock `slot` and run `f` on what it holds, both without the GIL: a thread that holds the
/// lock may be waiting for the GIL, so waiting for the lock while holding the GIL deadlocks.
/// A panic in `f` empties the slot (its reader may be half-updated) and goes on unwinding,
/// to be turned into an exception by `guard`.
fn locked<R: Send, T: Send>(
    py: Python<'_>,
    slot: &Mutex<Option<R>>,
    f: impl FnOnce(&mut Option<R>) -> T + Send,
) -> T {
    py.detach(|| {
        let mut held = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match catch_unwind(AssertUnwindSafe(|| f(&mut held))) {
            Ok(value) => value,
            Err(panic) => {
                *held = None;
                std::panic::resume_unwind(panic)
            }
        }
    })
}

/// A file read's counters as a dict.
fn stats_dict(py: Python<'_>, s: pcapframe::ReadStats) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("packets", s.packets)?;
    out.set_item("rows", s.rows)?;
    out.set_item("not_ip", s.not_ip)?;
    out.set_item("filtered", s.filtered)?;
    out.set_item("unsupported_link_types", s.unsupported_link_types)?;
    out.set_item("truncated", s.truncated)?;
    Ok(out)
}

/// The readers whose protocol filter can change between batches.
trait ProtocolFilter: Send {
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

/// `set_protocol` of both Python reader classes: check the name, then apply it.
fn set_protocol_in<R: ProtocolFilter>(
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

const SCHEMA_CAPSULE: &CStr = c"arrow_schema";
const ARRAY_CAPSULE: &CStr = c"arrow_array";
const STREAM_CAPSULE: &CStr = c"arrow_array_stream";

fn schema_capsule<'py>(py: Python<'py>, schema: &SchemaRef) -> PyResult<Bound<'py, PyCapsule>> {
    let ffi = FFI_ArrowSchema::try_from(schema.as_ref())
        .map_err(|e| CaptureError::new_err(e.to_string()))?;
    PyCapsule::new_with_value(py, ffi, SCHEMA_CAPSULE)
}

/// A Python binary file object as a byte stream: each `read` takes the GIL for one call of
/// the object's `read1(n)` (or `read(n)`); the window asks for about a megabyte at a time.
/// `read1` matters for decompressors: their `read(n)` throws away what it had decompressed
/// when the stream turns out to be cut short.
struct PyFileReader {
    file: Py<PyAny>,
    method: &'static str,
}

impl PyFileReader {
    fn new(file: &Bound<'_, PyAny>) -> Self {
        let method = if file.hasattr("read1").unwrap_or(false) {
            "read1"
        } else {
            "read"
        };
        PyFileReader {
            file: file.clone().unbind(),
            method,
        }
    }
}

impl std::io::Read for PyFileReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        Python::attach(|py| {
            let chunk = self
                .file
                .bind(py)
                .call_method1(self.method, (buf.len(),))
                .map_err(|e| {
                    // A compressed stream that ends early: a truncated capture, not an I/O failure.
                    let kind = if e.is_instance_of::<pyo3::exceptions::PyEOFError>(py) {
                        std::io::ErrorKind::UnexpectedEof
                    } else {
                        std::io::ErrorKind::Other
                    };
                    std::io::Error::new(kind, e.to_string())
                })?;
            let bytes: &[u8] = chunk
                .extract()
                .map_err(|e| std::io::Error::other(format!("read() must return bytes: {e}")))?;
            let n = bytes.len().min(buf.len());
            buf[..n].copy_from_slice(&bytes[..n]);
            Ok(n)
        })
    }
}

/// An Arrow schema, readable by `pyarrow.schema(obj)`.
#[pyclass(module = "intake_pcap._native", frozen)]
struct ArrowSchema {
    schema: SchemaRef,
}

#[pymethods]
impl ArrowSchema {
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &self.schema)
    }
}

/// One record batch, readable by `pyarrow.record_batch(obj)` without copying.
#[pyclass(module = "intake_pcap._native", frozen)]
struct ArrowBatch {
    batch: RecordBatch,
}

#[pymethods]
impl ArrowBatch {
    #[getter]
    fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        // We always export our own schema; pyarrow casts afterwards if it asked for another.
        let _ = requested_schema;
        let data = StructArray::from(self.batch.clone()).into_data();
        let (array, schema) = to_ffi(&data).map_err(|e| CaptureError::new_err(e.to_string()))?;
        let schema = PyCapsule::new_with_value(py, schema, SCHEMA_CAPSULE)?;
        let array = PyCapsule::new_with_value(py, array, ARRAY_CAPSULE)?;
        PyTuple::new(py, [schema.into_any(), array.into_any()])
    }
}

/// Reads one capture file into Arrow batches: `for batch in CaptureReader(path): ...`.
#[pyclass(module = "intake_pcap._native")]
struct CaptureReader {
    reader: Mutex<Option<PacketReader>>,
    schema: SchemaRef,
    path: PathBuf,
    format: &'static str,
    /// Set by Ctrl-C during a read; the reader then refuses to go on (rows were lost).
    cancel: Cancel,
}

#[pymethods]
impl CaptureReader {
    /// `source` is a path, or a binary file object (anything with `read(n)`, such as what
    /// `fsspec.open` gives); `name` names it in messages (a URL, say).
    #[new]
    #[pyo3(signature = (source, protocol=None, payload=false, errors="warn", batch_rows=65536, filter=None, name=None, columns=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        protocol: Option<&str>,
        payload: bool,
        errors: &str,
        batch_rows: usize,
        filter: Option<String>,
        name: Option<PathBuf>,
        columns: Option<Vec<String>>,
    ) -> PyResult<Self> {
        guard("opening a capture", || {
            let options = read_options(
                protocol,
                payload,
                errors,
                filter,
                columns,
                batch_rows.max(1),
            )?;
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
        set_protocol_in(py, &self.reader, protocol)
    }

    /// What the read has seen so far: packets, rows, skipped packets, truncation.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        match locked(py, &self.reader, |slot| {
            slot.as_ref().map(|r| r.stats().clone())
        }) {
            Some(stats) => stats_dict(py, stats),
            None => Ok(PyDict::new(py)),
        }
    }

    /// Release the file now rather than when the object is collected.
    fn close(&self, py: Python<'_>) {
        locked(py, &self.reader, |slot| *slot = None);
    }
}

/// Live capture on an interface, read in batches: `LiveReader("lo", filter="udp")`.
#[pyclass(module = "intake_pcap._native")]
struct LiveReader {
    reader: Mutex<Option<pcapframe::live::LiveReader>>,
    schema: SchemaRef,
    interface: String,
    link_type: u32,
}

/// How long the GIL-free waits last before Python gets a chance to handle Ctrl-C.
const SIGNAL_SLICE: Duration = Duration::from_millis(100);

impl LiveReader {
    /// Run `step` on the reader without the GIL, in slices until it reports done or the
    /// deadline passes (`None`: no deadline), checking for Python signals between slices.
    /// `Ok(None)` when the deadline passed or the capture is closed.
    fn in_slices<T: Send>(
        &self,
        py: Python<'_>,
        deadline: Option<Instant>,
        mut step: impl FnMut(&mut pcapframe::live::LiveReader, Instant) -> pcapframe::Result<Option<T>>
            + Send,
    ) -> PyResult<Option<T>> {
        loop {
            let now = Instant::now();
            let slice_end = deadline.map_or(now + SIGNAL_SLICE, |d| d.min(now + SIGNAL_SLICE));
            let outcome = locked(py, &self.reader, |slot| match slot.as_mut() {
                None => Ok(Err(())),
                Some(reader) => step(reader, slice_end).map(Ok),
            });
            match outcome.map_err(to_py_err)? {
                Ok(Some(done)) => return Ok(Some(done)),
                Ok(None) => {}
                Err(()) => return Ok(None),
            }
            py.check_signals()?;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
        }
    }
}

#[pymethods]
impl LiveReader {
    #[new]
    #[pyo3(signature = (interface, protocol=None, payload=false, filter=None, snaplen=65536, promisc=true, timeout_ms=1000, buffer_bytes=67108864, columns=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        interface: String,
        protocol: Option<&str>,
        payload: bool,
        filter: Option<String>,
        snaplen: u32,
        promisc: bool,
        timeout_ms: u32,
        buffer_bytes: u32,
        columns: Option<Vec<String>>,
    ) -> PyResult<Self> {
        guard("opening a live capture", || {
            let read = read_options(
                protocol,
                payload,
                "warn",
                filter,
                columns,
                pcapframe::batch::DEFAULT_BATCH_ROWS,
            )?;
            let live = LiveOptions {
                interface: interface.clone(),
                snaplen,
                promiscuous: promisc,
                timeout_ms,
                filter: None,
                buffer_bytes,
            };
            let reader = py
                .detach(|| pcapframe::live::LiveReader::open(&live, &read))
                .map_err(to_py_err)?;
            Ok(LiveReader {
                schema: reader.schema(),
                link_type: reader.capture().link_type(),
                reader: Mutex::new(Some(reader)),
                interface,
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
    fn interface(&self) -> &str {
        &self.interface
    }

    /// LINKTYPE_* value of the interface.
    #[getter]
    fn link_type(&self) -> u32 {
        self.link_type
    }

    /// Up to `max_rows` rows from packets arriving within `timeout_ms` (`None`: as long as
    /// it takes to get `max_rows`); `None` when none came in time or the capture has ended.
    /// Rows taken from the capture before it failed come back first; the error on the next call.
    #[pyo3(signature = (max_rows, timeout_ms=None))]
    fn read_batch(
        &self,
        py: Python<'_>,
        max_rows: usize,
        timeout_ms: Option<u64>,
    ) -> PyResult<Option<ArrowBatch>> {
        guard("reading a live capture", || {
            let deadline = timeout_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
            let filled = self.in_slices(py, deadline, |reader, until| {
                let full = reader.fill(max_rows, until)?;
                Ok((full || reader.is_finished()).then_some(()))
            });
            let batch = locked(py, &self.reader, |slot| {
                slot.as_mut().and_then(|r| r.take_batch())
            });
            match (filled, batch) {
                (_, Some(batch)) => Ok(Some(ArrowBatch { batch })),
                (Err(e), None) => Err(e),
                (Ok(_), None) => Ok(None),
            }
        })
    }

    /// Whether the capture has ended (closed, or failed with the error already raised).
    #[getter]
    fn finished(&self, py: Python<'_>) -> bool {
        locked(py, &self.reader, |slot| {
            slot.as_ref().is_none_or(|r| r.is_finished())
        })
    }

    /// Write the next `limit` captured packets (all that pass the filter, IP or not) to a
    /// pcap file at `path`; returns how many were written.
    fn dump(&self, py: Python<'_>, path: PathBuf, limit: u64) -> PyResult<u64> {
        guard("writing a live capture", || {
            let snaplen = 262_144;
            let mut writer =
                PcapWriter::create(&path, self.link_type, snaplen).map_err(to_py_err)?;
            let writer_slot = Mutex::new(&mut writer);
            self.in_slices(py, None, |reader, until| {
                let mut w = writer_slot.lock().unwrap_or_else(|p| p.into_inner());
                reader.write_packets(&mut w, limit, until)?;
                Ok((w.packets_written() >= limit || reader.is_finished()).then_some(()))
            })?;
            writer.finish().map_err(to_py_err)
        })
    }

    /// Keep only packets whose IP header chain holds `protocol`, from now on.
    #[pyo3(signature = (protocol=None))]
    fn set_protocol(&self, py: Python<'_>, protocol: Option<&str>) -> PyResult<()> {
        set_protocol_in(py, &self.reader, protocol)
    }

    /// libpcap's counters (received, dropped by the kernel, dropped by the interface),
    /// packets captured, and rows made.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        let counts = locked(py, &self.reader, |slot| {
            slot.as_ref()
                .map(|r| (r.capture().stats(), r.read_stats().clone()))
        });
        if let Some((live, rows)) = counts {
            out.set_item("received", live.received)?;
            out.set_item("dropped", live.dropped)?;
            out.set_item("if_dropped", live.if_dropped)?;
            out.set_item("captured", live.captured)?;
            out.set_item("rows", rows.rows)?;
            out.set_item("not_ip", rows.not_ip)?;
            out.set_item("filtered", rows.filtered)?;
        }
        Ok(out)
    }

    /// Stop capturing and release the interface. A read waiting in another thread ends.
    fn close(&self, py: Python<'_>) {
        let taken = locked(py, &self.reader, |slot| slot.take());
        if let Some(mut reader) = taken {
            py.detach(move || reader.close());
        }
    }
}

/// Write every batch of `table` (anything with `__arrow_c_stream__`: a pyarrow Table or
/// RecordBatchReader) to `path` with the core's writers: Parquet (zstd, hosts kept
/// dictionary-encoded), Arrow IPC, CSV or JSON lines, by `format` or the file's extension.
/// The file appears only when complete; the core's destination rules apply (a FIFO or a
/// device is written through; a directory, a socket or one of `inputs` is refused).
/// Returns the rows written.
#[pyfunction]
#[pyo3(signature = (table, path, format=None, inputs=None))]
fn write_table(
    table: &Bound<'_, PyAny>,
    path: PathBuf,
    format: Option<&str>,
    inputs: Option<Vec<PathBuf>>,
) -> PyResult<u64> {
    use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
    use arrow_array::RecordBatchReader;
    use pcapframe::output::{OutputFormat, TableWriter};
    guard("writing a table", || {
        let format = match format {
            Some(name) => OutputFormat::parse(name),
            None => OutputFormat::from_path(&path),
        }
        .map_err(to_py_err)?;
        let capsule = table.call_method0("__arrow_c_stream__")?;
        let capsule = capsule.cast::<PyCapsule>()?;
        let pointer = capsule.pointer_checked(Some(STREAM_CAPSULE))?;
        // SAFETY: the capsule holds an FFI_ArrowArrayStream (checked by name); from_raw moves
        // it out and leaves a released stream behind for the capsule's destructor.
        let reader = unsafe {
            RecordBatchStreamReader::from_raw(pointer.as_ptr() as *mut FFI_ArrowArrayStream)
        }
        .map_err(|e| PyValueError::new_err(format!("not an Arrow stream: {e}")))?;
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

/// The options of a read, from the Python arguments every reader takes; a bad value is a
/// `ValueError` naming the valid ones.
fn read_options(
    protocol: Option<&str>,
    payload: bool,
    errors: &str,
    filter: Option<String>,
    columns: Option<Vec<String>>,
    batch_rows: usize,
) -> PyResult<ReadOptions> {
    let errors = TruncationPolicy::parse(errors).map_err(to_py_err)?;
    ReadOptions {
        payload,
        batch_rows,
        errors,
        filter,
        ..ReadOptions::default()
    }
    .with_protocol_name(protocol)
    .and_then(|o| o.with_column_names(columns.as_deref()))
    .map_err(to_py_err)
}

/// Exact byte-range partitions of a local file of about `blocksize` bytes each, from one
/// walk over its records (kept per process while the file is unchanged): `(stamp, ranges,
/// None)`, or `(stamp, None, reason)` when the file cannot be split. `stamp` identifies
/// the file's version; give it back to `read_capture` with each range.
#[pyfunction]
fn plan_partitions(
    py: Python<'_>,
    path: PathBuf,
    blocksize: u64,
) -> PyResult<(Stamp, Option<Vec<(u64, u64)>>, Option<&'static str>)> {
    guard("planning partitions", || {
        let cancel = Cancel::new();
        let (stamp, plan) = interruptible(py, &cancel, || {
            pcapframe::index::plan_partitions(&path, blocksize.max(1), &cancel)
        })?
        .map_err(to_py_err)?;
        let stamp = (stamp.inode, stamp.size, stamp.modified_ns);
        Ok(match plan {
            Ok(ranges) => (stamp, Some(ranges), None),
            Err(why) => (stamp, None, Some(why)),
        })
    })
}

/// A file's version as `plan_partitions` gives it: (inode, size, modification time in ns).
type Stamp = (u64, u64, i64);

/// A whole local capture file, decoded on `threads` threads: (list of batches, stats).
/// Exactly the sequential read's rows, in order. With `byte_range=(start, end)` and the
/// `stamp` of `plan_partitions`: only the records that start in that range (a partition).
/// `hosts="text_when_distinct"`: batches from the first one with more than 65,536 distinct
/// hosts on give them as large strings (see `HostEncoding`); the default is dictionaries.
#[pyfunction]
#[pyo3(signature = (path, protocol=None, payload=false, errors="warn", filter=None, threads=1, byte_range=None, columns=None, stamp=None, hosts="dictionary"))]
#[allow(clippy::too_many_arguments)]
fn read_capture<'py>(
    py: Python<'py>,
    path: PathBuf,
    protocol: Option<&str>,
    payload: bool,
    errors: &str,
    filter: Option<String>,
    threads: usize,
    byte_range: Option<(u64, u64)>,
    columns: Option<Vec<String>>,
    stamp: Option<Stamp>,
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
        // Batches of the default size: smaller batches keep each host dictionary's hash table
        // near the cache, which is most of the cost when every address is new.
        let options = read_options(
            protocol,
            payload,
            errors,
            filter,
            columns,
            pcapframe::batch::DEFAULT_BATCH_ROWS,
        )?;
        let options = ReadOptions { hosts, ..options };
        let partition = match (byte_range, stamp) {
            (None, _) => None,
            (Some(range), Some((inode, size, modified_ns))) => Some((
                range,
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
            Some(((start, end), stamp)) => {
                pcapframe::parallel::read_partition(&path, &options, &stamp, start, end)
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

/// The Arrow schema of a read, without opening a file: `columns` in order (`None`: the
/// documented six), `payload` appended when asked for and not named. An unknown column
/// raises ValueError listing the valid names.
#[pyfunction]
#[pyo3(signature = (payload=false, columns=None))]
fn capture_schema(payload: bool, columns: Option<Vec<String>>) -> PyResult<ArrowSchema> {
    let selected = pcapframe::column::select(columns.as_deref(), payload).map_err(to_py_err)?;
    Ok(ArrowSchema {
        schema: pcapframe::batch::schema_of(&selected),
    })
}

/// Every column a read can produce, in the documented order.
#[pyfunction]
fn column_names() -> Vec<&'static str> {
    pcapframe::column::Column::names()
}

/// Raise ValueError (with libpcap's message) unless `expression` is a valid tcpdump filter.
#[pyfunction]
fn check_filter(expression: &str) -> PyResult<()> {
    guard("checking a filter", || {
        pcapframe::bpf::BpfFilter::new(expression)
            .map(|_| ())
            .map_err(to_py_err)
    })
}

/// Raise ValueError (listing the valid names) unless `name` is a protocol `protocol=` accepts.
#[pyfunction]
fn check_protocol(name: &str) -> PyResult<()> {
    pcapframe::reader::parse_protocol(Some(name))
        .map(|_| ())
        .map_err(to_py_err)
}

/// The names `protocol=` accepts (documented ones first), besides numbers 0-255.
#[pyfunction]
fn protocol_names() -> Vec<&'static str> {
    protocol::valid_names()
}

/// Decode one frame the way a read does; `None` when it carries no IP packet.
/// Gives link-layer facts too (MAC addresses, EtherType) for `IPPacket`.
#[pyfunction]
#[pyo3(signature = (data, link_type=1))]
fn decode_packet<'py>(
    py: Python<'py>,
    data: &[u8],
    link_type: u32,
) -> PyResult<Bound<'py, PyDict>> {
    guard("decoding a packet", || {
        let out = PyDict::new(py);
        let mac = |at: usize| data.get(at..at + 6).map(format_mac);
        if link_type == link::linktype::ETHERNET {
            out.set_item("destination_mac_address", mac(0))?;
            out.set_item("source_mac_address", mac(6))?;
        }
        out.set_item("ethernet_protocol", outer_ethertype(link_type, data))?;
        let Link::Ip(info) = link::decode(link_type, data) else {
            return Ok(out);
        };
        if let Some(p) = ip::decode(data, &info, data.len() as u32) {
            out.set_item(
                "ip_version",
                if p.version == link::IpVersion::V4 {
                    4
                } else {
                    6
                },
            )?;
            out.set_item("source_ip_address", p.src.to_string())?;
            out.set_item("destination_ip_address", p.dst.to_string())?;
            out.set_item("source_ip_port", p.src_port)?;
            out.set_item("destination_ip_port", p.dst_port)?;
            out.set_item("ip_protocol", protocol::name(p.protocol).into_owned())?;
            out.set_item("payload_offset", p.payload.start)?;
            out.set_item("payload_end", p.payload.end)?;
        }
        Ok(out)
    })
}

fn format_mac(b: &[u8]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4], b[5]
    )
}

/// An Ethernet frame's EtherType after any VLAN tags, as the old plugin reported it.
fn outer_ethertype(link_type: u32, data: &[u8]) -> Option<u16> {
    if link_type != link::linktype::ETHERNET {
        return None;
    }
    let mut at = 12;
    loop {
        let b = data.get(at..at + 2)?;
        let value = u16::from_be_bytes([b[0], b[1]]);
        if !matches!(value, 0x8100 | 0x88a8 | 0x9100) {
            return Some(value);
        }
        at += 4;
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add(
        "TEXT_AFTER_DISTINCT_HOSTS",
        pcapframe::batch::TEXT_AFTER_DISTINCT_HOSTS,
    )?;
    m.add_class::<CaptureReader>()?;
    m.add_class::<LiveReader>()?;
    m.add_class::<ArrowBatch>()?;
    m.add_class::<ArrowSchema>()?;
    m.add_function(wrap_pyfunction!(capture_schema, m)?)?;
    m.add_function(wrap_pyfunction!(column_names, m)?)?;
    m.add_function(wrap_pyfunction!(protocol_names, m)?)?;
    m.add_function(wrap_pyfunction!(check_filter, m)?)?;
    m.add_function(wrap_pyfunction!(check_protocol, m)?)?;
    m.add_function(wrap_pyfunction!(read_capture, m)?)?;
    m.add_function(wrap_pyfunction!(plan_partitions, m)?)?;
    m.add_function(wrap_pyfunction!(write_table, m)?)?;
    m.add_function(wrap_pyfunction!(decode_packet, m)?)?;
    m.add("CaptureError", py.get_type::<CaptureError>())?;
    m.add("NotACaptureError", py.get_type::<NotACaptureError>())?;
    m.add(
        "TruncatedCaptureError",
        py.get_type::<TruncatedCaptureError>(),
    )?;
    m.add("CorruptCaptureError", py.get_type::<CorruptCaptureError>())?;
    Ok(())
}
