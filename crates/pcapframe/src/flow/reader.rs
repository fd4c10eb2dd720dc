//! Captures to flow batches: every file of a read, in order, through one flow table (a
//! rotated capture is one traffic: a flow goes on from one file into the next), handing out
//! flows as they end.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

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

/// Opens one input of a read when its turn comes (a path, or a Python file object).
pub type OpenInput = Box<dyn FnOnce() -> Result<RecordReader> + Send>;

/// An input that is a local file.
pub fn path_input(path: PathBuf) -> OpenInput {
    Box::new(move || RecordReader::open(&path).map_err(|e| e.in_file(&path)))
}

pub struct FlowReader {
    inputs: VecDeque<OpenInput>,
    /// Position of the next input in the read's list.
    next_file: u32,
    current: Option<Current>,
    selector: PacketSelector,
    table: FlowTable,
    decapsulate: bool,
    batch_rows: usize,
    options: ReadOptions,
    /// Truncations of every file, in order.
    truncations: Vec<String>,
    finished: bool,
    flows_out: u64,
}

struct Current {
    records: RecordReader,
    file: u32,
    frames: u64,
}

impl FlowReader {
    pub fn new(inputs: Vec<OpenInput>, options: ReadOptions, timeouts: Timeouts) -> Result<Self> {
        if inputs.len() as u64 >= 1 << (64 - FRAME_BITS) {
            return Err(Error::invalid_argument(format!(
                "a flow read takes at most {} files; read fewer at once",
                (1u64 << (64 - FRAME_BITS)) - 1
            )));
        }
        let selector = PacketSelector::new(&options)?
            .with_transport(true)
            .with_tunnels(options.decapsulate);
        Ok(FlowReader {
            inputs: inputs.into(),
            next_file: 0,
            current: None,
            selector,
            table: FlowTable::new(timeouts),
            decapsulate: options.decapsulate,
            batch_rows: options.batch_rows.max(1),
            options,
            truncations: Vec::new(),
            finished: false,
            flows_out: 0,
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

    pub fn stats(&self) -> ReadStats {
        let mut stats = self.selector.stats().clone();
        stats.rows = self.flows_out;
        if !self.truncations.is_empty() {
            stats.truncated = Some(self.truncations.join("; "));
        }
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
        if self.current.is_none() {
            match self.inputs.pop_front() {
                Some(open) => {
                    let records = open()?;
                    self.current = Some(Current {
                        records,
                        file: self.next_file,
                        frames: 0,
                    });
                    self.next_file += 1;
                }
                None => {
                    self.table.finish();
                    self.finished = true;
                    return Ok(());
                }
            }
        }
        let current = self.current.as_mut().expect("opened above");
        struct Sink<'a> {
            selector: &'a mut PacketSelector,
            table: &'a mut FlowTable,
            file: u32,
            frames: &'a mut u64,
            decapsulate: bool,
            want: usize,
        }
        impl RecordSink for Sink<'_> {
            #[inline]
            fn record(&mut self, record: &Record<'_>) -> Result<()> {
                *self.frames += 1;
                if let Some(dissection) = self.selector.select(record)? {
                    let frame = Frame {
                        file: self.file,
                        number: *self.frames,
                    };
                    let obs = Observation::of(
                        record.data,
                        dissection,
                        record.timestamp_ns,
                        frame,
                        self.decapsulate,
                    );
                    self.table.add(&obs);
                }
                Ok(())
            }
            #[inline]
            fn go_on(&mut self, _: u64) -> Result<bool> {
                Ok(self.table.ended_len() < self.want)
            }
        }
        let mut sink = Sink {
            selector: &mut self.selector,
            table: &mut self.table,
            file: current.file,
            frames: &mut current.frames,
            decapsulate: self.decapsulate,
            want: self.batch_rows,
        };
        let end = pump(
            &mut current.records,
            u64::MAX,
            self.options.errors,
            &self.options.cancel,
            &mut sink,
        );
        if current.frames >= 1 << FRAME_BITS {
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
                self.finished = true;
                return Err(e);
            }
            Err(e) => {
                self.finished = true;
                return Err(match current.records.path() {
                    Some(p) => e.in_file(p),
                    None => e,
                });
            }
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
