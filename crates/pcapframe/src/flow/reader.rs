//! Captures to flow batches: every file of a read, in order, through one flow table (a
//! rotated capture is one traffic: a flow goes on from one file into the next), handing out
//! flows as they end.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;

use super::batch::flows_batch;
use super::observe::{Frame, Observation};
use super::table::{Flow, FlowTable, Timeouts, FRAME_BITS};
use crate::error::{Error, ErrorKind, Result};
use crate::format::{Record, RecordReader};
use crate::options::ReadOptions;
use crate::reader::{pump, PumpEnd, RecordSink};
use crate::select::PacketSelector;
use crate::stats::ReadStats;

/// Opens one input of a read when its turn comes (a path, or a Python file object); may be
/// called again for a second pass (`flow::label`'s `direction`).
pub type OpenInput = Arc<dyn Fn() -> Result<RecordReader> + Send + Sync>;

/// An input that is a local file.
pub fn path_input(path: PathBuf) -> OpenInput {
    Arc::new(move || RecordReader::open(&path).map_err(|e| e.in_file(&path)))
}

/// Where `Inputs::pump` hands each record, with its file and frame.
pub(crate) trait FrameSink {
    fn record(&mut self, record: &Record<'_>, frame: Frame) -> Result<()>;
    /// After each record: whether to go on.
    fn go_on(&self) -> bool;
}

/// The files of a read, opened in turn and pumped in order; a file's records are numbered
/// from 1 (its frames).
pub(crate) struct Inputs {
    inputs: Vec<OpenInput>,
    /// Position of the next input to open.
    next: usize,
    current: Option<Current>,
    options: ReadOptions,
    /// Truncations of every file, in order.
    truncations: Vec<String>,
    done: bool,
}

struct Current {
    records: RecordReader,
    file: u32,
    frames: u64,
}

impl Inputs {
    pub(crate) fn new(inputs: Vec<OpenInput>, options: &ReadOptions) -> Result<Self> {
        if inputs.len() as u64 >= 1 << (64 - FRAME_BITS) {
            return Err(Error::invalid_argument(format!(
                "a flow read takes at most {} files; read fewer at once",
                (1u64 << (64 - FRAME_BITS)) - 1
            )));
        }
        Ok(Inputs {
            inputs,
            next: 0,
            current: None,
            options: options.clone(),
            truncations: Vec::new(),
            done: false,
        })
    }

    /// Every input is read.
    pub(crate) fn done(&self) -> bool {
        self.done
    }

    /// The truncations met, joined (for `ReadStats::truncated`).
    pub(crate) fn truncated(&self) -> Option<String> {
        (!self.truncations.is_empty()).then(|| self.truncations.join("; "))
    }

    /// Hand `sink` records until it says stop or the current file ends (then the next
    /// `pump` opens the next file); sets `done` after the last.
    pub(crate) fn pump(&mut self, sink: &mut impl FrameSink) -> Result<()> {
        if self.current.is_none() {
            if self.next == self.inputs.len() {
                self.done = true;
                return Ok(());
            }
            let records = (self.inputs[self.next])()?;
            self.current = Some(Current {
                records,
                file: self.next as u32,
                frames: 0,
            });
            self.next += 1;
        }
        let current = self.current.as_mut().expect("opened above");
        struct Numbered<'a, S> {
            sink: &'a mut S,
            file: u32,
            frames: &'a mut u64,
        }
        impl<S: FrameSink> RecordSink for Numbered<'_, S> {
            #[inline]
            fn record(&mut self, record: &Record<'_>) -> Result<()> {
                *self.frames += 1;
                let frame = Frame {
                    file: self.file,
                    number: *self.frames,
                };
                self.sink.record(record, frame)
            }
            #[inline]
            fn go_on(&mut self, _: u64) -> Result<bool> {
                Ok(self.sink.go_on())
            }
        }
        let end = pump(
            &mut current.records,
            u64::MAX,
            self.options.errors,
            &self.options.cancel,
            &mut Numbered {
                sink,
                file: current.file,
                frames: &mut current.frames,
            },
        );
        if current.frames >= 1 << FRAME_BITS {
            self.done = true;
            return Err(Error::invalid_argument(format!(
                "more than 2^{FRAME_BITS} packets in one file: flow ids cannot name them"
            ))
            .in_file(current.records.path().unwrap_or(Path::new("?"))));
        }
        match end {
            Ok(PumpEnd::Stopped) => {}
            Ok(PumpEnd::Ended) => self.current = None,
            Ok(PumpEnd::Truncated(e)) => {
                self.truncations.push(e.to_string());
                self.current = None;
            }
            Err(e) if e.kind == ErrorKind::Interrupted => {
                self.done = true;
                return Err(e);
            }
            Err(mut e) => {
                self.done = true;
                if e.kind == ErrorKind::OutOfMemory && e.offset.is_none() {
                    // Memory ran out adding the record just read.
                    e.offset = Some(current.records.last_record_offset());
                }
                return Err(match current.records.path() {
                    Some(p) => e.in_file(p),
                    None => e,
                });
            }
        }
        Ok(())
    }
}

pub struct FlowReader {
    inputs: Inputs,
    selector: PacketSelector,
    table: FlowTable,
    decapsulate: bool,
    batch_rows: usize,
    finished: bool,
    flows_out: u64,
    /// When asked for (`with_late_turns`): the flows that turned after their first
    /// packet, with the packet at which each turned.
    late_turns: Option<HashMap<u64, Frame>>,
}

impl FlowReader {
    pub fn new(inputs: Vec<OpenInput>, options: ReadOptions, timeouts: Timeouts) -> Result<Self> {
        let selector = PacketSelector::new(&options)?
            .with_transport(true)
            .with_tunnels(options.decapsulate);
        Ok(FlowReader {
            inputs: Inputs::new(inputs, &options)?,
            selector,
            table: FlowTable::new(timeouts),
            decapsulate: options.decapsulate,
            batch_rows: options.batch_rows.max(1),
            finished: false,
            flows_out: 0,
            late_turns: None,
        })
    }

    /// Open every file at `paths` in order.
    pub fn open(paths: &[PathBuf], options: ReadOptions, timeouts: Timeouts) -> Result<Self> {
        Self::new(
            paths.iter().cloned().map(path_input).collect(),
            options,
            timeouts,
        )
    }

    /// This reader, noting the flows that turn late (see `take_late_turns`).
    pub(crate) fn with_late_turns(mut self) -> Self {
        self.late_turns = Some(HashMap::new());
        self
    }

    /// The flows that turned after their first packet (a connection first seen by its
    /// SYN-ACK), each with the packet at which it turned.
    pub(crate) fn take_late_turns(&mut self) -> HashMap<u64, Frame> {
        self.late_turns.take().unwrap_or_default()
    }

    pub fn stats(&self) -> ReadStats {
        let mut stats = self.selector.stats().clone();
        stats.rows = self.flows_out;
        stats.truncated = self.inputs.truncated();
        stats
    }

    /// The next batch of at most `batch_rows` flows, in the order they ended; `None` once
    /// every file is read and every flow handed out.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        Ok(self.next_flows()?.map(|flows| flows_batch(&flows)))
    }

    /// `next_batch`'s flows themselves.
    pub fn next_flows(&mut self) -> Result<Option<Vec<Flow>>> {
        while self.table.ended_len() < self.batch_rows && !self.finished {
            self.advance()?;
        }
        let flows = self.table.take_ended(self.batch_rows);
        if flows.is_empty() {
            return Ok(None);
        }
        self.flows_out += flows.len() as u64;
        Ok(Some(flows))
    }

    /// Read records until some flows have ended or the input is done.
    fn advance(&mut self) -> Result<()> {
        struct Sink<'a> {
            selector: &'a mut PacketSelector,
            table: &'a mut FlowTable,
            decapsulate: bool,
            want: usize,
            late_turns: Option<&'a mut HashMap<u64, Frame>>,
        }
        impl FrameSink for Sink<'_> {
            #[inline]
            fn record(&mut self, record: &Record<'_>, frame: Frame) -> Result<()> {
                if let Some(dissection) = self.selector.select(record)? {
                    let obs = Observation::of(
                        record.data,
                        dissection,
                        record.timestamp_ns,
                        frame,
                        self.decapsulate,
                    );
                    let placed = self.table.add(&obs);
                    if let Some(turns) = self.late_turns.as_deref_mut().filter(|_| placed.turned) {
                        turns.insert(placed.flow_id, frame);
                    }
                }
                Ok(())
            }
            #[inline]
            fn go_on(&self) -> bool {
                self.table.ended_len() < self.want
            }
        }
        let result = self.inputs.pump(&mut Sink {
            selector: &mut self.selector,
            table: &mut self.table,
            decapsulate: self.decapsulate,
            want: self.batch_rows,
            late_turns: self.late_turns.as_mut(),
        });
        if let Err(e) = result {
            self.finished = true;
            return Err(e);
        }
        if self.inputs.done() {
            self.table.finish();
            self.finished = true;
        }
        Ok(())
    }
}

impl Iterator for FlowReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch().transpose()
    }
}
