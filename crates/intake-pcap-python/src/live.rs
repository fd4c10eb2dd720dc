//! Live capture on a network interface (`LiveReader`): libpcap captures in a Rust thread
//! from the moment the reader opens; reads take rows from its queue without the GIL, in
//! short slices so that Ctrl-C is seen.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use arrow_schema::SchemaRef;
use pcapframe::live::LiveOptions;
use pcapframe::writer::PcapWriter;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrow::{ArrowBatch, ArrowSchema};
use crate::errors::{guard, to_py_err};
use crate::gil::locked;
use crate::options::{set_protocol_in, ReadArgs};

/// Live capture on an interface, read in batches: `LiveReader("lo", filter="udp")`.
#[pyclass(module = "intake_pcap._native")]
pub(crate) struct LiveReader {
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
    #[pyo3(signature = (interface, *, protocol=None, payload=false, filter=None, columns=None, decapsulate=false, start_ns=None, end_ns=None, snaplen=65536, promisc=true, timeout_ms=1000, buffer_bytes=67108864))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        interface: String,
        protocol: Option<&str>,
        payload: bool,
        filter: Option<String>,
        columns: Option<Vec<String>>,
        decapsulate: bool,
        start_ns: Option<i64>,
        end_ns: Option<i64>,
        snaplen: u32,
        promisc: bool,
        timeout_ms: u32,
        buffer_bytes: u32,
    ) -> PyResult<Self> {
        guard("opening a live capture", || {
            let read = ReadArgs {
                protocol,
                payload,
                // A capture has no file to be cut short or damaged.
                errors: "warn",
                filter,
                columns,
                decapsulate,
                time_range: (start_ns, end_ns),
                batch_rows: pcapframe::batch::DEFAULT_BATCH_ROWS,
            }
            .into_options()?;
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
        guard("changing the protocol", || {
            set_protocol_in(py, &self.reader, protocol)
        })
    }

    /// libpcap's counters (received, dropped by the kernel, dropped by the interface),
    /// packets captured, and rows made.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        guard("counting a live capture", || {
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
        })
    }

    /// Stop capturing and release the interface. A read waiting in another thread ends.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        guard("closing a live capture", || {
            let taken = locked(py, &self.reader, |slot| slot.take());
            if let Some(mut reader) = taken {
                py.detach(move || reader.close());
            }
            Ok(())
        })
    }
}
