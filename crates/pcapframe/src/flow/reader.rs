//! Captures to flow batches: every file of a read, in order, through one flow table (a
//! rotated capture is one traffic: a flow goes on from one file into the next), handing out
//! flows as they end.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;

use super::batch::FlowColumns;
use super::observe::{Frame, Observation, Observations};
use super::table::{Flow, FlowTable, Timeouts, FRAME_BITS};
use crate::error::{Error, ErrorKind, Result};
use crate::format::{Record, RecordReader};
use crate::options::ReadOptions;
use crate::parallel::{merge, OrderedRanges, RangeRows};
use crate::reader::{located, pump, PumpEnd, RecordSink};

use crate::stats::ReadStats;

/// One input of a read, opened when its turn comes; it can be opened again (a second pass,
/// for `flow::label`'s `direction`).
#[derive(Clone)]
pub enum OpenInput {
    /// A local file: a flow read decodes it on several threads when it can be read in
    /// byte ranges (`parallel`).
    Path(PathBuf),
    /// Anything else (a Python file object, say), opened by the function.
    Opener(Arc<dyn Fn() -> Result<RecordReader> + Send + Sync>),
}

impl OpenInput {
    pub(crate) fn open(&self, options: &ReadOptions) -> Result<RecordReader> {
        match self {
            OpenInput::Path(path) => {
                RecordReader::open_for(path, options).map_err(|e| e.in_file(path))
            }
            OpenInput::Opener(open) => open(),
        }
    }
}

/// An input that is a local file.
pub fn path_input(path: PathBuf) -> OpenInput {
    OpenInput::Path(path)
}

/// Where `Inputs::pump` hands each record, with its file and frame.
pub(crate) trait FrameSink {
    fn record(&mut self, record: &Record<'_>, frame: Frame) -> Result<()>;
    /// After each record: whether to go on.
    fn go_on(&self) -> bool;
    /// The reader jumped over `packets` records outside the time range (numbered already).
    fn skipped_outside_time_range(&mut self, packets: u64);
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

    /// The next input and its position, if it is a local file and no input is being read:
    /// the caller reads it itself (on several threads), and this goes on after it.
    fn take_next_path(&mut self) -> Option<(u32, PathBuf)> {
        match (&self.current, self.inputs.get(self.next)) {
            (None, Some(OpenInput::Path(path))) => {
                let path = path.clone();
                self.next += 1;
                Some((self.next as u32 - 1, path))
            }
            _ => None,
        }
    }

    /// No input is left to open, and none is being read.
    fn at_end(&self) -> bool {
        self.current.is_none() && self.next == self.inputs.len()
    }

    fn push_truncation(&mut self, text: String) {
        self.truncations.push(text);
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
            let records = self.inputs[self.next].open(&self.options)?;
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
            fn skipped_outside_time_range(&mut self, packets: u64) {
                *self.frames += packets;
                self.sink.skipped_outside_time_range(packets)
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
            Err(e) => {
                self.done = true;
                return Err(located(e, &current.records));
            }
        }
        Ok(())
    }
}

/// Bytes of each range a flow read decodes on a thread: small enough that the observations
/// in flight (a few ranges' worth, 144 bytes a packet) stay within tens of megabytes even
/// for minimum-size packets.
const FLOW_RANGE: u64 = 8 << 20;

pub struct FlowReader {
    inputs: Inputs,
    /// The sequential path's selection of packets and their observation.
    observations: Observations,
    table: FlowTable,
    options: ReadOptions,
    /// The columns of its batches.
    columns: FlowColumns,
    batch_rows: usize,
    /// The flows come out in id order if no more than this many are in the read
    /// (`in_id_order`); 0 once they cannot.
    order_limit: usize,
    finished: bool,
    flows_out: u64,
    /// When asked for (`with_late_turns`): the flows that turned after their first
    /// packet, with the packet at which each turned.
    late_turns: Option<HashMap<u64, Frame>>,
    /// Threads that decode a local file (`with_threads`), and the bytes of each range.
    threads: usize,
    range_bytes: u64,
    /// The local file being decoded on those threads, and what its pieces counted.
    producer: Option<Producer>,
    threaded_stats: ReadStats,
    /// The rest of the producer's last piece, not yet through the table.
    pending: Vec<Observation>,
    /// How many of `pending` went through the table (read in place: a move out of the
    /// vector copied each 144-byte observation once more).
    pending_done: usize,
    /// Packet records before `pending`'s range: its frames are counted from the range's
    /// start (`OrderedRanges::next_unshifted`).
    pending_frames_before: u64,
}

impl FlowReader {
    pub fn new(inputs: Vec<OpenInput>, options: ReadOptions, timeouts: Timeouts) -> Result<Self> {
        let batch_rows = options.batch_rows.max(1);
        let table = FlowTable::new(timeouts);
        Ok(FlowReader {
            inputs: Inputs::new(inputs, &options)?,
            observations: Observations::new(&options)?,
            table,
            batch_rows,
            order_limit: 0,
            columns: FlowColumns::default(),
            options,
            finished: false,
            flows_out: 0,
            late_turns: None,
            threads: 1,
            range_bytes: FLOW_RANGE,
            producer: None,
            threaded_stats: ReadStats::default(),
            pending: Vec::new(),
            pending_done: 0,
            pending_frames_before: 0,
        })
    }

    /// This reader on `threads` threads: each local file decoded in byte ranges of
    /// `range_bytes` (tests cut small files into many) by `threads - 1` helpers and by this
    /// thread whenever the table has nothing to take (`parallel::OrderedRanges`). The
    /// packets reach the table in the same order, so the flows are exactly the sequential
    /// read's. (On two cores, for the 2M-packet benchmark capture: one decoding thread
    /// beside the table, 0.44 s, the table waiting on it half the time; this, 0.35-0.40 s.)
    pub fn with_threads(mut self, threads: usize, range_bytes: Option<u64>) -> Self {
        self.threads = threads.max(1);
        self.range_bytes = range_bytes.unwrap_or(FLOW_RANGE).max(1);
        self
    }

    /// This reader, its batches of `columns`: when they include an application column,
    /// each flow's packets are read for it (`flow::app`). Call before the first batch.
    pub fn with_columns(mut self, columns: FlowColumns) -> Result<Self> {
        self.options.flow_app = columns.app();
        self.inputs.options.flow_app = columns.app();
        self.observations = Observations::new(&self.options)?;
        self.columns = columns;
        Ok(self)
    }

    /// Open every file at `paths` in order.
    pub fn open(paths: &[PathBuf], options: ReadOptions, timeouts: Timeouts) -> Result<Self> {
        Self::new(
            paths.iter().cloned().map(path_input).collect(),
            options,
            timeouts,
        )
    }

    /// This reader, its flows handed out in id order (the order of their first packets)
    /// when the read has at most `limit` of them: they are held until the last packet, then
    /// sorted, not handed out as they end. A caller that wants the whole table in that
    /// order then need not sort it (sorting 66,699 flows in pyarrow took 15 ms, the read
    /// 0.35 s); past `limit` (the memory of 640-byte flows held), flows come out as they
    /// end. Call before the first batch.
    pub fn in_id_order(mut self, limit: usize) -> Self {
        self.order_limit = limit;
        self
    }

    /// Ended flows to gather before handing any out: a batch, or while the flows may still
    /// come out in id order, one more than that order's limit.
    fn want(&self) -> usize {
        self.batch_rows.max(self.order_limit.saturating_add(1))
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
        let mut stats = self.observations.stats().clone();
        merge(&mut stats, self.threaded_stats.clone());
        stats.rows = self.flows_out;
        stats.truncated = self.inputs.truncated();
        stats
    }

    /// The next batch of at most `batch_rows` flows, in the order they ended; `None` once
    /// every file is read and every flow handed out.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let columns = self.columns.clone();
        self.next_with(|flows| columns.batch(flows))
    }

    /// `next_batch`'s flows themselves.
    pub fn next_flows(&mut self) -> Result<Option<Vec<Flow>>> {
        self.next_with(|flows| flows.iter().map(|&f| f.clone()).collect())
    }

    /// `f` of the next flows (at most `batch_rows`), in the order they ended.
    pub fn next_with<T>(&mut self, f: impl FnOnce(&[&Flow]) -> T) -> Result<Option<T>> {
        while self.table.ended_len() < self.want() && !self.finished {
            self.advance()?;
        }
        if self.order_limit > 0 {
            if self.finished && self.table.ended_len() <= self.order_limit {
                self.table.sort_ended_by_id();
            }
            // Sorted, or too many to hold: from now on, batches as they come.
            self.order_limit = 0;
        }
        let n = self.table.ended_len().min(self.batch_rows);
        if n == 0 {
            return Ok(None);
        }
        self.flows_out += n as u64;
        Ok(Some(self.table.with_ended(n, f)))
    }

    /// Read records until some flows have ended or the input is done.
    fn advance(&mut self) -> Result<()> {
        if self.producer.is_none() && self.threads > 1 {
            if let Some((file, path)) = self.inputs.take_next_path() {
                let pieces =
                    OrderedRanges::open(&path, &self.options, self.threads, self.range_bytes)
                        .map_err(|e| e.in_file(&path));
                match pieces {
                    Ok(pieces) => self.producer = Some(Producer { file, path, pieces }),
                    Err(e) => {
                        self.finished = true;
                        return Err(e);
                    }
                }
            }
        }
        if self.producer.is_some() {
            let result = self.add_piece();
            if result.is_err() {
                self.finished = true;
                self.producer = None;
            }
            return result;
        }
        struct Sink<'a> {
            observations: &'a mut Observations,
            table: &'a mut FlowTable,
            want: usize,
            late_turns: Option<&'a mut HashMap<u64, Frame>>,
        }
        impl FrameSink for Sink<'_> {
            #[inline]
            fn record(&mut self, record: &Record<'_>, frame: Frame) -> Result<()> {
                if let Some(obs) = self.observations.observe(record, frame)? {
                    add_observation(self.table, self.late_turns.as_deref_mut(), &obs);
                }
                Ok(())
            }
            #[inline]
            fn go_on(&self) -> bool {
                self.table.ended_len() < self.want
            }
            fn skipped_outside_time_range(&mut self, packets: u64) {
                self.observations.count_outside_time_range(packets)
            }
        }
        let want = self.want();
        let result = self.inputs.pump(&mut Sink {
            observations: &mut self.observations,
            table: &mut self.table,
            want,
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

impl FlowReader {
    /// The threaded file's packets through the table until some flows have ended (the
    /// rest of a piece waits: the flows ended and not taken stay about one batch); the
    /// file's end lets the next input go on.
    fn add_piece(&mut self) -> Result<()> {
        let producer = self.producer.as_mut().expect("a file is being decoded");
        let (file, path) = (producer.file, producer.path.clone());
        if self.pending_done == self.pending.len() {
            let mut done = std::mem::take(&mut self.pending);
            if !self.options.flow_app {
                // Without application columns no observation owns anything (`app` is
                // None), so they need not be dropped one by one: that pass over each
                // range's observations was 2.5% of the read's CPU, on the table's thread.
                // SAFETY: 0 is within the capacity, and no element is exposed; an element
                // that did own something would be leaked, never freed twice.
                unsafe { done.set_len(0) };
            }
            producer.pieces.recycle(done);
            self.pending_done = 0;
            match producer.pieces.next_unshifted() {
                Some(Ok(((mut piece, _), frames_before))) => {
                    if let Some(truncated) = piece.stats.truncated.take() {
                        self.inputs.push_truncation(truncated);
                    }
                    merge(&mut self.threaded_stats, piece.stats);
                    self.pending = piece.batches;
                    self.pending_frames_before = frames_before;
                }
                None => {
                    self.producer = None;
                    if self.inputs.at_end() {
                        self.table.finish();
                        self.finished = true;
                    }
                    return Ok(());
                }
                Some(Err(e)) => return Err(e.in_file(&path)),
            }
        }
        while self.table.ended_len() < self.want() {
            let Some(obs) = self.pending.get_mut(self.pending_done) else {
                break;
            };
            self.pending_done += 1;
            obs.frame.number += self.pending_frames_before;
            if obs.frame.number >= 1 << FRAME_BITS {
                return Err(Error::invalid_argument(format!(
                    "more than 2^{FRAME_BITS} packets in one file: flow ids cannot name them"
                ))
                .in_file(&path));
            }
            obs.frame.file = file;
            add_observation(&mut self.table, self.late_turns.as_mut(), obs);
        }
        Ok(())
    }
}

/// One packet through the table, noting where its flow turned late when asked.
#[inline]
fn add_observation(
    table: &mut FlowTable,
    late_turns: Option<&mut HashMap<u64, Frame>>,
    obs: &Observation,
) {
    let placed = table.add(obs);
    if let (Some(turns), Some(placed)) = (late_turns, placed) {
        if placed.turned {
            turns.insert(placed.flow_id, obs.frame);
        }
    }
}

/// A local file decoded into observations on several threads, piece by piece in order
/// (`parallel::OrderedRanges`: the reader's thread decodes too whenever the table has
/// nothing to do).
struct Producer {
    file: u32,
    path: PathBuf,
    pieces: OrderedRanges<Observations>,
}

impl Iterator for FlowReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch().transpose()
    }
}
