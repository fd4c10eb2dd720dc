//! One file on every core: the file is cut into byte ranges; each worker finds the first
//! record boundary in its range by resynchronisation (a run of plausible record headers,
//! or pcapng blocks whose leading and trailing lengths agree, that chain into each other),
//! decodes the records that start inside its range, and notes where the first record after
//! its range starts. A range's start is then checked against where the previous range
//! really ended; a range whose guess was wrong (a payload that looks like record headers)
//! is decoded again from the right place. The result is exactly the sequential read's.
//!
//! pcapng files are split after the blocks before their first packet (sections and
//! interfaces) have been read; a file that describes another section or interface later on
//! cannot be split (each range would need what came before it) and is read sequentially.
//! Compressed files are always read sequentially.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use std::sync::Arc;

use arrow_array::{Array, RecordBatch, UInt64Array};

use crate::column::{Column, Needs};

use crate::error::{Error, ErrorKind, Result};
use crate::format::pcap::PcapFormat;
use crate::format::pcapng::PcapngFormat;
use crate::format::Record;
use crate::format::RecordReader;
use crate::index::{FileStamp, Partition};
use crate::input::ByteWindow;
use crate::options::ReadOptions;
use crate::reader::{pump, PacketReader, PumpEnd, RecordSink, RowBuilder};
use crate::stats::ReadStats;
use crate::stream::{Follow, Replay, SegmentAt, StreamCarry, StreamStart};

mod ordered;
pub use ordered::{OrderedRanges, Piece};

/// How far before a byte range's start its reader resynchronises, so that a chain of fake
/// headers inside one payload has run into the real chain before the range begins.
const LOOKBACK: u64 = 4 * (crate::format::MAX_CAPLEN as u64 / 64);
/// The look-back tried first: enough for a believable chain (`CHAIN` records) of records
/// up to 8 KiB, which is every record of most captures. Reading the whole `LOOKBACK` at
/// each 8 MiB range of a flow read was an eighth more bytes read, and 4% of its CPU. A
/// guess is checked against the range before's true end either way (`settle`).
const SHORT_LOOKBACK: u64 = 64 << 10;

/// Smallest range worth a worker: below this, thread start-up costs more than it saves.
const MIN_RANGE: u64 = 16 << 20;
/// Records a candidate boundary must chain through to be believed.
const CHAIN: usize = 8;
/// Seconds between consecutive records beyond which a step counts as a jump, and how many
/// links per jump a believable chain has at least (real captures jump rarely: a clock
/// change, files concatenated; records read at the wrong offset jump at most steps).
const MAX_TIME_STEP: u32 = 86_400;
const TIME_JUMPS_PER_LINK: usize = 8;

/// How records are framed in a file that can be read from a boundary in its middle.
#[derive(Clone)]
enum Framing {
    Pcap(PcapFormat),
    /// What the blocks before the first packet describe, and where that packet starts.
    Pcapng {
        format: PcapngFormat,
        first: u64,
    },
}

/// A reader of `path`'s records from the exact record boundary (an index checkpoint) at or
/// before `offset`, and that boundary; from the file's start when the file has no such
/// index (compressed, several pcapng sections). The reader's offsets count from the
/// boundary.
pub(crate) fn records_from_before(path: &Path, offset: u64) -> Result<(RecordReader, u64)> {
    let index = crate::index::index_of(path, crate::index::SEEK_STEP, &crate::Cancel::default())?;
    let at = index
        .checkpoints
        .partition_point(|c| c.offset <= offset)
        .checked_sub(1)
        .map(|i| index.checkpoints[i].offset);
    match (index.not_splittable, at, Framing::of(path)?) {
        (None, Some(at), Some(framing)) => Ok((framing.resume(path, at)?, at)),
        _ => Ok((RecordReader::open(path)?, 0)),
    }
}

impl Framing {
    /// The framing of `path`, or `None` if it cannot be read in ranges (compressed, or
    /// damaged before its first packet: the sequential read reports that properly).
    fn of(path: &Path) -> Result<Option<Framing>> {
        // Only a regular file has byte ranges; and a pipe's first bytes, once looked at
        // here, would be gone for the reader that reads it after.
        if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) || crate::index::is_compressed(path)?
        {
            return Ok(None);
        }
        let mut reader = RecordReader::open(path)?;
        if let Some(format) = reader.pcap_format() {
            return Ok(Some(Framing::Pcap(format.clone())));
        }
        Ok(match reader.pcapng_head() {
            Ok(Some((format, first))) => Some(Framing::Pcapng { format, first }),
            _ => None,
        })
    }

    /// Offset of the first packet record.
    fn first_record(&self) -> u64 {
        match self {
            Framing::Pcap(_) => crate::format::pcap::FILE_HEADER_LEN as u64,
            Framing::Pcapng { first, .. } => *first,
        }
    }

    /// Bytes past its last offset that a boundary search reads: a classic pcap record is
    /// judged by its header alone, a pcapng block by its header and trailer, so the whole
    /// block. (Reading a whole largest pcap record, 16 MiB, at every range start doubled
    /// the bytes a flow read's 8 MiB ranges read, and its CPU.)
    fn lookahead(&self) -> usize {
        match self {
            Framing::Pcap(f) => f.record_header_len(),
            Framing::Pcapng { format, .. } => format.max_block_len(),
        }
    }

    /// The length of a plausible record (or block) at the start of `bytes`, and for
    /// classic pcap its seconds field (pcapng blocks are checked by their trailers).
    fn record_len(&self, bytes: &[u8]) -> Option<(usize, Option<u32>)> {
        match self {
            Framing::Pcap(f) => f.plausible_caplen(bytes).map(|caplen| {
                (
                    f.record_header_len() + caplen as usize,
                    Some(f.seconds(bytes)),
                )
            }),
            Framing::Pcapng { format, .. } => {
                format.plausible_block_len(bytes).map(|len| (len, None))
            }
        }
    }

    /// A record reader starting at the boundary `at` that accepts section and interface
    /// blocks from there on (for reading the rest of a file sequentially).
    fn resume_thawed(&self, path: &Path, at: u64) -> Result<RecordReader> {
        match self {
            Framing::Pcapng { format, .. } => {
                let mut format = format.clone();
                format.thaw();
                Ok(RecordReader::resume_pcapng(
                    window_at(path, at)?,
                    format,
                    Some(path.to_path_buf()),
                ))
            }
            Framing::Pcap(_) => self.resume(path, at),
        }
    }

    /// A record reader starting at the boundary `at`.
    fn resume(&self, path: &Path, at: u64) -> Result<RecordReader> {
        let window = window_at(path, at)?;
        let name = Some(path.to_path_buf());
        Ok(match self {
            Framing::Pcap(f) => RecordReader::resume_pcap(window, f.clone(), name),
            Framing::Pcapng { format, .. } => {
                RecordReader::resume_pcapng(window, format.clone(), name)
            }
        })
    }
}

/// What a read of one file gives: its batches (or, for the flow table, its packets'
/// observations) in order, and its counters.
pub struct FileRead<T = RecordBatch> {
    pub batches: Vec<T>,
    pub stats: ReadStats,
}

impl<T> Default for FileRead<T> {
    fn default() -> Self {
        FileRead {
            batches: Vec::new(),
            stats: ReadStats::default(),
        }
    }
}

/// What a range's records become: rows (`RowBuilder`: record batches), or the flow
/// table's observations (`flow::observe::Observations`). Cut into pieces as they grow.
pub trait RangeRows: Sized {
    type Item: Send;
    fn new(options: &ReadOptions) -> Result<Self>;
    fn push(&mut self, record: &Record<'_>) -> Result<()>;
    /// Count `packets` records a reader jumped over, outside the read's time range.
    fn skip_outside_time_range(&mut self, packets: u64);
    /// Whether the piece so far should be handed on now; `collected`: the pieces are put
    /// together again (a whole byte range), so only rows cut into batches need them.
    fn piece_is_full(&self, batch_rows: usize, collected: bool) -> bool;
    /// The piece so far (its counters are taken with `stats_mut`).
    fn take_piece(&mut self) -> Vec<Self::Item>;
    /// Put the items in `spare`'s memory (emptied first), before any is pushed.
    fn reuse(&mut self, _spare: Vec<Self::Item>) {}
    fn stats_mut(&mut self) -> &mut ReadStats;
    /// Frames counted from where a decode started, made the file's: `before` packet
    /// records come before that start.
    fn shift_frames(items: &mut [Self::Item], before: u64);
    /// The records pushed come from a reader that starts at byte `base` of the file.
    fn offsets_from(&mut self, _base: u64) {}
    /// Where the TCP streams start, for rows that read them (`stream`).
    fn start_streams(&mut self, _start: StreamStart) {}
    /// The TCP streams' state at the end, for rows that read them.
    fn take_streams(&mut self) -> Option<StreamCarry> {
        None
    }
    /// Read `replay`'s segments of the range decoded from `start` again and put what they
    /// give in `items`' rows: the replaying streams' state at the end, or `None` when the
    /// rows cannot be replaced (the range is then decoded again).
    fn replay_streams(
        _items: &mut [Self::Item],
        _source: &RangeSource<'_>,
        _start: u64,
        _replay: &mut Replay,
    ) -> Option<StreamCarry> {
        None
    }
}

/// Byte ranges whose TCP streams' rows were read again in part (`Replay`), and whole
/// (`Follow::Redo`, a replay that could not be placed, or a wrong first boundary while
/// streams were followed), in this process: what a test or
/// a benchmark reads to know which way the ranges went.
pub static RANGES_REPLAYED: AtomicUsize = AtomicUsize::new(0);
pub static RANGES_DECODED_AGAIN: AtomicUsize = AtomicUsize::new(0);

/// Where a group of ranges is read from.
pub struct RangeSource<'a> {
    path: &'a Path,
    options: &'a ReadOptions,
    framing: &'a Framing,
}

impl RangeRows for RowBuilder {
    type Item = RecordBatch;
    fn new(options: &ReadOptions) -> Result<Self> {
        RowBuilder::new(options)
    }
    #[inline]
    fn push(&mut self, record: &Record<'_>) -> Result<()> {
        RowBuilder::push(self, record)
    }
    fn skip_outside_time_range(&mut self, packets: u64) {
        RowBuilder::skip_outside_time_range(self, packets)
    }
    #[inline]
    fn piece_is_full(&self, batch_rows: usize, _collected: bool) -> bool {
        self.len() >= batch_rows || self.is_full()
    }
    fn take_piece(&mut self) -> Vec<RecordBatch> {
        self.finish().into_iter().collect()
    }
    fn stats_mut(&mut self) -> &mut ReadStats {
        RowBuilder::stats_mut(self)
    }
    fn replay_streams(
        items: &mut [RecordBatch],
        source: &RangeSource<'_>,
        start: u64,
        replay: &mut Replay,
    ) -> Option<StreamCarry> {
        replay_rows(items, source, start, replay).ok().flatten()
    }
    fn shift_frames(items: &mut [RecordBatch], before: u64) {
        shift_frames(items, before)
    }
    fn offsets_from(&mut self, base: u64) {
        RowBuilder::offsets_from(self, base)
    }
    fn start_streams(&mut self, start: StreamStart) {
        RowBuilder::start_streams(self, start)
    }
    fn take_streams(&mut self) -> Option<StreamCarry> {
        RowBuilder::take_streams(self)
    }
}

/// Read a whole file with `threads` threads (1: the sequential reader), in ranges of at
/// least 16 MiB, about four per thread so that uneven ranges even out.
pub fn read_file(path: &Path, options: &ReadOptions, threads: usize) -> Result<FileRead> {
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(e, None).in_file(path))?
        .len();
    let range_bytes = MIN_RANGE.max(size / (threads.max(1) as u64 * 4));
    read_file_in_ranges(path, options, threads, range_bytes)
}

/// `read_file` with a chosen range size (tests cut small files into many small ranges).
pub fn read_file_in_ranges(
    path: &Path,
    options: &ReadOptions,
    threads: usize,
    range_bytes: u64,
) -> Result<FileRead> {
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(e, None).in_file(path))?
        .len();
    if threads <= 1 || size <= range_bytes || seeks_alone(path, options, threads)? {
        return read_sequential(path, options);
    }
    match Framing::of(path)? {
        Some(framing) => {
            let body = size.saturating_sub(framing.first_record());
            let ranges = body.div_ceil(range_bytes.max(1)) as usize;
            if ranges <= 1 {
                return read_sequential(path, options);
            }
            match read_ranges(path, options, &framing, size, ranges, threads) {
                // A pcapng file that describes an interface after its first packet.
                Err(e) if e.kind == ErrorKind::NotSplittable => read_sequential(path, options),
                other => other,
            }
        }
        None => read_sequential(path, options),
    }
}

/// The records of a file that start in `[start, end)`, read without the rest of the file
/// (a dask partition). The partition is one of the file's `RecordIndex` (see
/// `index::plan_partitions`), taken of the file whose stamp is `stamp`: a file changed
/// since is refused with `Changed` rather than read from a stale boundary. Nothing is
/// resynchronised, so nothing in a payload can move where the partition starts.
pub fn read_partition(
    path: &Path,
    options: &ReadOptions,
    stamp: &FileStamp,
    partition: &Partition,
) -> Result<FileRead> {
    stamp.check(path)?;
    match Framing::of(path)? {
        Some(framing) => decode_partition::<RowBuilder>(path, options, &framing, partition),
        None if partition.start == 0 => read_sequential(path, options),
        None => Ok(FileRead::default()),
    }
}

/// `read_partition` for the flow table: the observations of the packets it selects, their
/// frames the file's (file 0; the caller sets the file's place in its read).
pub fn observe_partition(
    path: &Path,
    options: &ReadOptions,
    stamp: &FileStamp,
    partition: &Partition,
) -> Result<FileRead<crate::flow::Observation>> {
    use crate::flow::observe::Observations;
    stamp.check(path)?;
    match Framing::of(path)? {
        Some(framing) => decode_partition::<Observations>(path, options, &framing, partition),
        None if partition.start == 0 => {
            let mut out = FileRead::default();
            decode_records::<Observations>(
                RecordReader::open(path)?,
                0,
                u64::MAX,
                options,
                StreamStart::FileStart,
                Some(Vec::new()),
                &mut |piece, _| {
                    out.batches.extend(piece.batches);
                    merge(&mut out.stats, piece.stats);
                    Ok(())
                },
            )?;
            Ok(out)
        }
        None => Ok(FileRead::default()),
    }
}

/// The records that start in `partition`, of a file framed as `framing`.
fn decode_partition<R: RangeRows>(
    path: &Path,
    options: &ReadOptions,
    framing: &Framing,
    partition: &Partition,
) -> Result<FileRead<R::Item>> {
    let start = partition.start.max(framing.first_record());
    if start >= partition.end {
        return Ok(FileRead::default());
    }
    let streams = if start == framing.first_record() {
        StreamStart::FileStart
    } else if crate::batch::needs_streams(&options.selected_columns()) || options.flow_app {
        return Err(Error::invalid_argument(
            "the DNS, TLS and HTTP columns follow each TCP connection from its start, so a \
             file is read whole, not from a byte range in its middle: read it as one \
             partition (open_pcap(..., blocksize=None))",
        )
        .in_file(path));
    } else {
        StreamStart::Partial
    };
    let mut read = decode_range::<R>(
        path,
        options,
        framing,
        start,
        partition.end,
        streams,
        Vec::new(),
    )
    .outcome?;
    R::shift_frames(&mut read.batches, partition.frames_before);
    Ok(read)
}

/// Make the `frame` column of a range's batches (counted from the range's first record)
/// the file's ordinal: `before` packet records come before the range.
pub fn shift_frames(batches: &mut [RecordBatch], before: u64) {
    if before == 0 {
        return;
    }
    for batch in batches {
        let Ok(i) = batch.schema().index_of(Column::Frame.name()) else {
            return;
        };
        let frames = batch
            .column(i)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .expect("the frame column is UInt64");
        let shifted: UInt64Array = frames.unary(|f| f + before);
        let mut columns = batch.columns().to_vec();
        columns[i] = Arc::new(shifted);
        *batch = RecordBatch::try_new(batch.schema(), columns)
            .expect("the same schema with a column of the same type and length");
    }
}

/// The threaded reader's guess of the first record boundary at or after each of `targets`
/// (for tests of the resynchronisation: a wrong guess costs a second decode, not rows).
#[doc(hidden)]
pub fn guess_boundaries(path: &Path, targets: &[u64]) -> Result<Vec<Option<u64>>> {
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(e, None).in_file(path))?
        .len();
    let Some(framing) = Framing::of(path)? else {
        return Ok(vec![None; targets.len()]);
    };
    targets
        .iter()
        .map(|&t| boundary_at_or_after(path, &framing, t, size))
        .collect()
}

/// The first record boundary at or after `target` (past the file header), looking back
/// `SHORT_LOOKBACK` bytes, then `LOOKBACK`, for a chain that reaches it; `None` if none
/// does.
fn boundary_at_or_after(
    path: &Path,
    framing: &Framing,
    target: u64,
    size: u64,
) -> Result<Option<u64>> {
    let from = |lookback: u64| target.saturating_sub(lookback).max(framing.first_record());
    let short = from(SHORT_LOOKBACK);
    match boundary_near(path, framing, short, target, size)? {
        None if from(LOOKBACK) < short => {
            boundary_near(path, framing, from(LOOKBACK), target, size)
        }
        found => Ok(found),
    }
}

/// The first record boundary at or after `target`, found from the bytes `[from, target +
/// one record)`: the first offset from which plausible records chain all the way to
/// `target` (a chain of fake headers inside a payload dies on a real header, or merges
/// into the real chain, before it gets there). `None` if no offset does.
fn boundary_near(
    path: &Path,
    framing: &Framing,
    from: u64,
    target: u64,
    size: u64,
) -> Result<Option<u64>> {
    let span = ((target - from) as usize + framing.lookahead()).min((size - from) as usize);
    let mut window = window_at(path, from)?;
    window
        .fill(span)
        .map_err(|e| Error::io(e, Some(from)).in_file(path))?;
    let bytes = window.available();
    let goal = (target - from) as usize;
    let file_end = (size - from) as usize;
    let at_first_record = from == framing.first_record();
    let timed = matches!(framing, Framing::Pcap(_));
    let record = |at: usize| {
        bytes
            .get(at..)
            .and_then(|rest| framing.record_len(rest))
            .map(|(len, seconds)| (len, seconds.unwrap_or(0)))
    };
    // Candidates are followed plainly while that stays cheap (in real captures the first
    // few do it); past a budget of one step per byte, each offset's chain is followed
    // once and remembered (where it first reaches `goal` or beyond, its links and its
    // time jumps), so that trying every offset costs time linear in the window whatever
    // the bytes hold. (A run of zeros parses as zero-length records at every offset:
    // followed afresh from each, it cost quadratic time.)
    let candidates = goal.min(bytes.len());
    let mut budget = candidates.max(1 << 16);
    let mut memo: Option<Chains> = None;
    for p in 0..candidates {
        let chain = match &mut memo {
            Some(chains) => chains.follow(p, goal, record, timed),
            None => match follow_plain(p, goal, record, timed, &mut budget) {
                Some(chain) => chain,
                None => memo
                    .insert(Chains::new(candidates)?)
                    .follow(p, goal, record, timed),
            },
        };
        let Some(chain) = chain else {
            continue;
        };
        // The chain must be long enough to be believed, unless it starts at the first record;
        // and in classic pcap, its times must mostly move in small steps. (A header read 4
        // bytes late takes the microseconds for seconds and the lengths for lengths: it
        // chains through every record, but its "seconds" jump about at random.)
        let steady = chain.jumps as usize * TIME_JUMPS_PER_LINK <= chain.links as usize;
        if (chain.links as usize >= CHAIN && steady || at_first_record && p == 0)
            && chain.end <= file_end
        {
            return Ok(Some(from + chain.end as u64));
        }
    }
    Ok(None)
}

/// Where the record chain from an offset goes: the first offset at or past the goal it
/// reaches, through how many records, with how many time jumps between them.
#[derive(Clone, Copy)]
struct Chain {
    end: usize,
    links: u32,
    jumps: u32,
}

/// The chain from `p` followed without memory: `Some(None)` if it dies, `None` once
/// `budget` steps are spent (the caller then switches to `Chains`).
fn follow_plain(
    p: usize,
    goal: usize,
    record: impl Fn(usize) -> Option<(usize, u32)>,
    timed: bool,
    budget: &mut usize,
) -> Option<Option<Chain>> {
    let (mut at, mut links, mut jumps, mut previous) = (p, 0u32, 0u32, None);
    while at < goal {
        *budget = budget.checked_sub(1)?;
        let Some((len, seconds)) = record(at) else {
            return Some(None);
        };
        if let Some(before) = previous {
            jumps += (timed && u32::abs_diff(seconds, before) > MAX_TIME_STEP) as u32;
        }
        previous = Some(seconds);
        at += len.max(1);
        links += 1;
    }
    Some(Some(Chain {
        end: at,
        links,
        jumps,
    }))
}

/// Memo of record chains over a window's offsets below the goal.
struct Chains {
    /// 0: not followed yet; `DEAD`: no chain (an implausible header on the way);
    /// otherwise the chain's end + 1.
    reach: Vec<u32>,
    links: Vec<u32>,
    jumps: Vec<u32>,
    seconds: Vec<u32>,
    stack: Vec<usize>,
}

const DEAD: u32 = u32::MAX;

impl Chains {
    fn new(len: usize) -> Result<Self> {
        // Tried first, so that memory running out is an error rather than an abort. (Zeroed
        // vectors are mapped lazily: pages are touched only where chains go.)
        let zeroed = || -> Result<Vec<u32>> {
            let mut v = Vec::new();
            v.try_reserve_exact(len).map_err(|_| {
                Error::new(
                    ErrorKind::OutOfMemory,
                    "out of memory while looking for a record boundary",
                )
            })?;
            v.resize(len, 0);
            Ok(v)
        };
        Ok(Chains {
            reach: zeroed()?,
            links: zeroed()?,
            jumps: zeroed()?,
            seconds: zeroed()?,
            stack: Vec::new(),
        })
    }

    /// The chain from `p` (< goal), following `record` (length and seconds of a plausible
    /// record at an offset), `None` if it dies before reaching the goal.
    fn follow(
        &mut self,
        p: usize,
        goal: usize,
        record: impl Fn(usize) -> Option<(usize, u32)>,
        timed: bool,
    ) -> Option<Chain> {
        enum Tail {
            Dead,
            Reached(usize),
            Known(usize),
        }
        self.stack.clear();
        let mut at = p;
        let mut tail = loop {
            if at >= goal {
                break Tail::Reached(at);
            }
            match self.reach[at] {
                DEAD => break Tail::Dead,
                0 => {}
                _ => break Tail::Known(at),
            }
            match record(at) {
                None => {
                    self.reach[at] = DEAD;
                    break Tail::Dead;
                }
                Some((len, seconds)) => {
                    self.seconds[at] = seconds;
                    self.stack.push(at);
                    at += len.max(1);
                }
            }
        };
        while let Some(q) = self.stack.pop() {
            tail = match tail {
                Tail::Dead => {
                    self.reach[q] = DEAD;
                    Tail::Dead
                }
                Tail::Reached(end) => {
                    self.reach[q] = end as u32 + 1;
                    self.links[q] = 1;
                    self.jumps[q] = 0;
                    Tail::Known(q)
                }
                Tail::Known(k) => {
                    let jump = timed && self.seconds[q].abs_diff(self.seconds[k]) > MAX_TIME_STEP;
                    self.reach[q] = self.reach[k];
                    self.links[q] = self.links[k] + 1;
                    self.jumps[q] = self.jumps[k] + jump as u32;
                    Tail::Known(q)
                }
            };
        }
        match self.reach[p] {
            DEAD | 0 => None,
            reach => Some(Chain {
                end: reach as usize - 1,
                links: self.links[p],
                jumps: self.jumps[p],
            }),
        }
    }
}

/// Whether a read with a time range is quicker on one thread that jumps over the blocks
/// outside it (`RecordReader::open_for`) than on `threads` that read every byte: when the
/// blocks it needs are at most a `threads`-th of the file. Either way gives the same rows.
fn seeks_alone(path: &Path, options: &ReadOptions, threads: usize) -> Result<bool> {
    let Some(range) = &options.time_range else {
        return Ok(false);
    };
    let Some(index) = crate::index::seek_index(path, &options.cancel)? else {
        return Ok(false);
    };
    let skipped: u64 = index.time_skips(range).iter().map(|s| s.to - s.from).sum();
    let needed = index.stamp.size.saturating_sub(skipped);
    Ok(needed.saturating_mul(threads as u64) <= index.stamp.size)
}

fn read_sequential(path: &Path, options: &ReadOptions) -> Result<FileRead> {
    let mut reader = PacketReader::open(path, options.clone())?;
    let mut batches = Vec::new();
    while let Some(batch) = reader.next_batch()? {
        batches.push(batch);
    }
    Ok(FileRead {
        batches,
        stats: reader.stats().clone(),
    })
}

/// One range's outcome.
struct Range<T> {
    /// Where decoding started: the resynchronised (or given) first record boundary.
    start: u64,
    /// The first record boundary at or after the range's end (where the next range must start).
    next: u64,
    outcome: Result<FileRead<T>>,
    /// The TCP streams' state at its end (`stream`): for a range decoded without the
    /// ranges before it, what it did not know; after `decode_group`'s check, exact.
    streams: Option<StreamCarry>,
}

impl<T> Range<T> {
    /// A range no boundary was found for (or not yet read): its check against the truth
    /// decodes it from where the range before it ended.
    fn unread() -> Self {
        Range {
            start: u64::MAX,
            next: u64::MAX,
            outcome: Ok(FileRead::default()),
            streams: None,
        }
    }

    /// Whether the records end in this range: an error, or damage the policy kept going past.
    fn ended(&self) -> bool {
        match &self.outcome {
            Ok(read) => read.stats.truncated.is_some(),
            Err(_) => true,
        }
    }
}

fn read_ranges(
    path: &Path,
    options: &ReadOptions,
    framing: &Framing,
    size: u64,
    ranges: usize,
    threads: usize,
) -> Result<FileRead> {
    let first = framing.first_record();
    let span = (size - first).div_ceil(ranges as u64);
    let bounds: Vec<(u64, u64)> = (0..ranges as u64)
        .map(|i| (first + i * span, (first + (i + 1) * span).min(size)))
        .collect();
    let mut out = FileRead::default();
    let start = StreamStart::FileStart;
    for range in
        decode_group::<RowBuilder>(path, options, framing, size, &bounds, first, start, threads)
    {
        let mut part = range.outcome?;
        shift_frames(&mut part.batches, out.stats.packets);
        out.batches.extend(part.batches);
        merge(&mut out.stats, part.stats);
    }
    Ok(out)
}

/// Decode consecutive ranges on up to `threads` threads, the first from the known record
/// boundary `known_start`, the others from resynchronised guesses checked in order.
fn decode_group<R: RangeRows>(
    path: &Path,
    options: &ReadOptions,
    framing: &Framing,
    size: u64,
    bounds: &[(u64, u64)],
    known_start: u64,
    streams: StreamStart,
    threads: usize,
) -> Vec<Range<R::Item>> {
    let ranges = bounds.len();
    let first_streams = Mutex::new(Some(streams));
    let results: Vec<Mutex<Option<Range<R::Item>>>> =
        (0..ranges).map(|_| Mutex::new(None)).collect();
    let next_index = AtomicUsize::new(0);
    let worker = || loop {
        let i = next_index.fetch_add(1, Ordering::Relaxed);
        if i >= ranges {
            break;
        }
        let (begin, end) = bounds[i];
        let range = if i == 0 {
            let streams = first_streams
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .unwrap_or(StreamStart::FileStart);
            decode_range::<R>(
                path,
                options,
                framing,
                known_start,
                end,
                streams,
                Vec::new(),
            )
        } else {
            match boundary_at_or_after(path, framing, begin, size) {
                Ok(Some(start)) => {
                    let streams = StreamStart::Partial;
                    decode_range::<R>(path, options, framing, start, end, streams, Vec::new())
                }
                // No boundary found: leave it to the check below, which decodes the
                // range from where the previous one ended.
                Ok(None) | Err(_) => Range::unread(),
            }
        };
        *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(range);
    };
    std::thread::scope(|scope| {
        let mut started = 0;
        for _ in 0..threads.min(ranges) {
            // A thread that cannot start (a memory limit) leaves its share to the others.
            if std::thread::Builder::new()
                .spawn_scoped(scope, worker)
                .is_err()
            {
                break;
            }
            started += 1;
        }
        if started == 0 {
            worker();
        }
    });
    let mut done: Vec<Range<R::Item>> = results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("every range ran")
        })
        .collect();
    // Check each guess against the truth, in order. The records end where a range met
    // damage (or an error): the sequential read stops there.
    let source = RangeSource {
        path,
        options,
        framing,
    };
    let mut carry = done.first_mut().and_then(|r| r.streams.take());
    for i in 1..done.len() {
        if done[i - 1].ended() {
            done.truncate(i);
            break;
        }
        let truth = done[i - 1].next;
        let range = std::mem::replace(&mut done[i], Range::unread());
        done[i] = settle::<R>(range, truth, bounds[i].1, &mut carry, &source);
    }
    // The last range holds the state at its end (or, if it failed, at its start).
    if let Some(last) = done.last_mut() {
        last.streams = carry;
    }
    done
}

/// `range` (decoded from a guessed boundary, up to `end`) as the sequential read has it,
/// the range before it having ended at `truth` with the TCP streams `carry`: decoded again
/// from `truth` when its guess was wrong, or when its rows could depend on the streams the
/// ranges before it left (`StreamCarry::follow`) and replaying its segments cannot place
/// them. `carry` becomes the streams' state at its end.
fn settle<R: RangeRows>(
    mut range: Range<R::Item>,
    truth: u64,
    end: u64,
    carry: &mut Option<StreamCarry>,
    source: &RangeSource<'_>,
) -> Range<R::Item> {
    let redo = range.start != truth
        || match (carry.as_mut(), range.streams.take()) {
            (Some(before), Some(streams)) => match before.check(&streams) {
                Follow::Holds => {
                    before.follow(streams, None);
                    false
                }
                Follow::Replay(mut replay) => {
                    let start = range.start;
                    let replayed = match &mut range.outcome {
                        Ok(read) => {
                            R::replay_streams(&mut read.batches, source, start, &mut replay)
                        }
                        Err(_) => None,
                    };
                    match replayed {
                        Some(state) => {
                            RANGES_REPLAYED.fetch_add(1, Ordering::Relaxed);
                            before.follow(streams, Some((replay, state)));
                            false
                        }
                        None => true,
                    }
                }
                Follow::Redo => true,
            },
            _ => false,
        };
    if !redo {
        return range;
    }
    if carry.is_some() {
        RANGES_DECODED_AGAIN.fetch_add(1, Ordering::Relaxed);
    }
    let streams = carry
        .take()
        .map_or(StreamStart::FileStart, StreamStart::Resume);
    let spare = range.outcome.map(|read| read.batches).unwrap_or_default();
    let (path, options, framing) = (source.path, source.options, source.framing);
    let mut range = decode_range::<R>(path, options, framing, truth, end, streams, spare);
    *carry = range.streams.take();
    range
}

/// Read `replay`'s segments of the range decoded from `start` again, from the state
/// before the range, and put their stream columns in `batches` (the range's rows, in
/// order): the replaying streams' state at the end. `None` (the range is then decoded
/// again whole) when a segment is not where it was noted or does not give one row, or
/// the columns cannot be merged.
fn replay_rows(
    batches: &mut [RecordBatch],
    source: &RangeSource<'_>,
    start: u64,
    replay: &mut Replay,
) -> Result<Option<StreamCarry>> {
    let Some(streams) = replay.start() else {
        return Ok(None);
    };
    // The same rows as the range's, but for the flow columns (they need the whole read).
    let mut options = source.options.clone();
    let columns: Vec<Column> = options
        .selected_columns()
        .into_iter()
        .filter(|c| c.def().needs != Needs::Flows)
        .collect();
    options.columns = Some(columns);
    options.payload = false;
    let mut rows = RowBuilder::new(&options)?;
    rows.start_streams(streams);
    if !noted_records(source, start, &replay.segments, |record, _| {
        rows.push(record)?;
        Ok(true)
    })? {
        return Ok(None);
    }
    let state = rows.take_streams();
    let Some(patch) = rows.finish() else {
        return Ok(None);
    };
    if patch.num_rows() != replay.segments.len() {
        return Ok(None);
    }
    let names: Vec<&str> = Column::ALL
        .iter()
        .filter(|c| c.def().needs == Needs::Streams)
        .map(|c| c.name())
        .collect();
    let mut segments = replay
        .segments
        .iter()
        .map(|at| at.row)
        .enumerate()
        .peekable();
    let mut first_row = 0u64;
    for batch in batches.iter_mut() {
        let end = first_row + batch.num_rows() as u64;
        // (batch, row) of each row: the range's own, or the replayed one.
        let mut take: Vec<(usize, usize)> = (0..batch.num_rows()).map(|r| (0, r)).collect();
        let mut any = false;
        while let Some(&(j, row)) = segments.peek() {
            if row >= end {
                break;
            }
            if row < first_row {
                return Ok(None);
            }
            take[(row - first_row) as usize] = (1, j);
            any = true;
            segments.next();
        }
        first_row = end;
        if !any {
            continue;
        }
        let schema = batch.schema();
        let mut columns = batch.columns().to_vec();
        for (i, field) in schema.fields().iter().enumerate() {
            if !names.contains(&field.name().as_str()) {
                continue;
            }
            let Some(replayed) = patch.column_by_name(field.name()) else {
                return Ok(None);
            };
            match arrow_select::interleave::interleave(&[&columns[i], replayed], &take) {
                Ok(merged) => columns[i] = merged,
                Err(_) => return Ok(None),
            }
        }
        match RecordBatch::try_new(schema, columns) {
            Ok(b) => *batch = b,
            Err(_) => return Ok(None),
        }
    }
    if segments.peek().is_some() {
        return Ok(None);
    }
    Ok(state)
}

/// `replay_rows` for the flow table's observations: the replayed segments' application
/// facts put in `items` (the range's observations, in order).
pub(crate) fn replay_observations(
    items: &mut [crate::flow::Observation],
    source: &RangeSource<'_>,
    start: u64,
    replay: &mut Replay,
) -> Result<Option<StreamCarry>> {
    use crate::flow::observe::Observations;
    use crate::flow::Frame;
    let Some(streams) = replay.start() else {
        return Ok(None);
    };
    let mut observations = Observations::new(source.options)?;
    observations.start_streams(streams);
    if !noted_records(source, start, &replay.segments, |record, at| {
        let (Some(obs), Some(item)) = (
            observations.observe(record, Frame::default())?,
            items.get_mut(at.row as usize),
        ) else {
            return Ok(false);
        };
        item.app = obs.app;
        Ok(true)
    })? {
        return Ok(None);
    }
    Ok(observations.take_streams())
}

/// Hand `each` the records of the range decoded from `start` that `segments` noted (in
/// order, with their places), framed again from the first of them: `false` when one is not
/// where it was noted, the file ends first, or `each` says so.
fn noted_records(
    source: &RangeSource<'_>,
    start: u64,
    segments: &[SegmentAt],
    mut each: impl FnMut(&Record<'_>, SegmentAt) -> Result<bool>,
) -> Result<bool> {
    let Some(first) = segments.first().map(|at| at.record) else {
        return Ok(false);
    };
    let mut records = source.framing.resume(source.path, start + first)?;
    for &at in segments {
        let want = at.record - first;
        let record = loop {
            let Some(record) = records.next_record_before(u64::MAX)? else {
                return Ok(false);
            };
            if record.offset >= want {
                break record;
            }
        };
        if record.offset > want || !each(&record, at)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Bytes of each range of a streaming read: enough to keep every core busy, small enough
/// that the decoded ranges in flight stay within tens of megabytes.
const STREAM_RANGE: u64 = 32 << 20;

/// Read a file of any size in order with bounded memory, `threads` ranges at a time,
/// handing each piece (its batches and counters) to `each` with the bytes read so far.
/// The pieces together are exactly the sequential read's rows.
pub fn read_file_streaming(
    path: &Path,
    options: &ReadOptions,
    threads: usize,
    each: impl FnMut(FileRead, u64) -> Result<()>,
) -> Result<ReadStats> {
    read_file_streaming_in_ranges(path, options, threads, STREAM_RANGE, each)
}

/// `read_file_streaming` with a chosen range size (tests cut small files into many ranges).
pub fn read_file_streaming_in_ranges(
    path: &Path,
    options: &ReadOptions,
    threads: usize,
    range_bytes: u64,
    each: impl FnMut(FileRead, u64) -> Result<()>,
) -> Result<ReadStats> {
    stream_in_ranges::<RowBuilder>(path, options, threads, range_bytes, each)
}

/// `read_file_streaming` of what `R` makes of the records: each piece's frames are the
/// file's (counted from its first record). On one thread, or for a file that cannot be
/// read in ranges, here in order; else through `OrderedRanges`, `each` on this thread.
pub fn stream_in_ranges<R: RangeRows + 'static>(
    path: &Path,
    options: &ReadOptions,
    threads: usize,
    range_bytes: u64,
    mut each: impl FnMut(FileRead<R::Item>, u64) -> Result<()>,
) -> Result<ReadStats> {
    let range_bytes = range_bytes.max(1);
    let (size, framing) = range_plan(path, options, threads, range_bytes)?;
    let Some(framing) = framing else {
        let records = RecordReader::open_for(path, options)?;
        let streams = StreamStart::FileStart;
        return stream_records::<R>(records, 0, 0, options, streams, size, &mut each);
    };
    let mut total = ReadStats::default();
    for piece in OrderedRanges::<R>::in_ranges(path, options, threads, range_bytes, size, framing) {
        let (piece, at) = piece?;
        merge(&mut total, piece.stats.clone());
        each(piece, at)?;
    }
    Ok(total)
}

/// `path`'s size, and its framing when a streaming read on `threads` threads reads it in
/// byte ranges of `range_bytes`: two ranges or more, a file that can be split, and no time
/// range that one thread jumping over blocks reads sooner.
fn range_plan(
    path: &Path,
    options: &ReadOptions,
    threads: usize,
    range_bytes: u64,
) -> Result<(u64, Option<Framing>)> {
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(e, None).in_file(path))?
        .len();
    if threads <= 1 || size <= 2 * range_bytes {
        return Ok((size, None));
    }
    let framing = match Framing::of(path)? {
        Some(f) if !seeks_alone(path, options, threads)? => Some(f),
        _ => None,
    };
    Ok((size, framing))
}

/// Rows of `records` (which start at byte `start` of the file, after `frames_before`
/// packet records), piece by piece.
fn stream_records<R: RangeRows>(
    records: RecordReader,
    start: u64,
    frames_before: u64,
    options: &ReadOptions,
    streams: StreamStart,
    size: u64,
    each: &mut impl FnMut(FileRead<R::Item>, u64) -> Result<()>,
) -> Result<ReadStats> {
    let mut total = ReadStats::default();
    decode_records::<R>(
        records,
        start,
        u64::MAX,
        options,
        streams,
        None,
        &mut |mut piece, at| {
            R::shift_frames(&mut piece.batches, frames_before);
            merge(&mut total, piece.stats.clone());
            each(piece, at.min(size))
        },
    )?;
    Ok(total)
}

/// The one loop from records to rows for every reader here: decode the records of `records`
/// (whose first byte is byte `start` of the file) that start before `end`, handing `emit`
/// each batch of `batch_rows` rows, with the counters since the last piece and the offset
/// reached, and a last piece with the rest. Returns the first record boundary at or after
/// `end` (or where the file ended). `collect_into`: the pieces are put together in that
/// vector's memory (a whole range), so only rows cut into batches need them.
fn decode_records<R: RangeRows>(
    mut records: RecordReader,
    start: u64,
    end: u64,
    options: &ReadOptions,
    streams: StreamStart,
    collect_into: Option<Vec<R::Item>>,
    emit: &mut dyn FnMut(FileRead<R::Item>, u64) -> Result<()>,
) -> Result<(u64, Option<StreamCarry>)> {
    /// Rows cut into pieces of `batch_rows`, each emitted with the offset reached.
    struct Pieces<'a, R: RangeRows> {
        rows: R,
        batch_rows: usize,
        collected: bool,
        start: u64,
        emit: &'a mut dyn FnMut(FileRead<R::Item>, u64) -> Result<()>,
    }
    impl<R: RangeRows> Pieces<'_, R> {
        fn piece(&mut self, at: u64) -> Result<()> {
            let batches = self.rows.take_piece();
            let stats = std::mem::take(self.rows.stats_mut());
            (self.emit)(FileRead { batches, stats }, at)
        }
    }
    impl<R: RangeRows> RecordSink for Pieces<'_, R> {
        #[inline]
        fn record(&mut self, record: &Record<'_>) -> Result<()> {
            self.rows.push(record)
        }
        fn skipped_outside_time_range(&mut self, packets: u64) {
            self.rows.skip_outside_time_range(packets)
        }
        #[inline]
        fn go_on(&mut self, offset: u64) -> Result<bool> {
            if self.rows.piece_is_full(self.batch_rows, self.collected) {
                self.piece(self.start + offset)?;
            }
            Ok(true)
        }
    }
    let mut rows = R::new(options)?;
    let collected = collect_into.is_some();
    if let Some(spare) = collect_into {
        rows.reuse(spare);
    }
    rows.start_streams(streams);
    rows.offsets_from(start);
    let mut pieces = Pieces {
        rows,
        batch_rows: options.batch_rows,
        collected,
        start,
        emit,
    };
    let before = end.saturating_sub(start);
    let ended = pump(
        &mut records,
        before,
        options.errors,
        &options.cancel,
        &mut pieces,
    )
    .map_err(|e| offset_error(e, start))?;
    if let PumpEnd::Truncated(e) = ended {
        pieces.rows.stats_mut().truncated = Some(offset_error(e, start).to_string());
    }
    let next = start + records.offset();
    pieces.piece(next)?;
    Ok((next, pieces.rows.take_streams()))
}

pub(crate) fn merge(total: &mut ReadStats, part: ReadStats) {
    total.packets += part.packets;
    total.rows += part.rows;
    total.not_ip += part.not_ip;
    total.filtered += part.filtered;
    total.outside_time_range += part.outside_time_range;
    for (link, count) in part.unsupported_link_types {
        *total.unsupported_link_types.entry(link).or_default() += count;
    }
    if part.truncated.is_some() {
        total.truncated = part.truncated;
    }
}

fn window_at(path: &Path, offset: u64) -> Result<ByteWindow> {
    let mut file = File::open(path).map_err(|e| Error::io(e, None).in_file(path))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io(e, Some(offset)).in_file(path))?;
    Ok(ByteWindow::new(Box::new(file)))
}

/// Decode the records that start in [start, end); note the first boundary at or after `end`.
/// The range's items go in `spare`'s memory (a vector let go by an earlier range).
fn decode_range<R: RangeRows>(
    path: &Path,
    options: &ReadOptions,
    framing: &Framing,
    start: u64,
    end: u64,
    streams: StreamStart,
    spare: Vec<R::Item>,
) -> Range<R::Item> {
    let mut out = FileRead::default();
    let decoded = framing.resume(path, start).and_then(|records| {
        decode_records::<R>(
            records,
            start,
            end,
            options,
            streams,
            Some(spare),
            &mut |piece, _| {
                if out.batches.is_empty() {
                    out.batches = piece.batches;
                } else {
                    out.batches.extend(piece.batches);
                }
                merge(&mut out.stats, piece.stats);
                Ok(())
            },
        )
    });
    match decoded {
        Ok((next, streams)) => Range {
            start,
            next,
            outcome: Ok(out),
            streams,
        },
        // The error is reported in this range's turn; no range starts from here.
        Err(e) => Range {
            start,
            next: u64::MAX,
            outcome: Err(e),
            streams: None,
        },
    }
}

/// Offsets inside a range's reader count from the range's start; report them from the file's.
fn offset_error(mut e: Error, start: u64) -> Error {
    e.offset = e.offset.map(|o| o + start);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memo gives every offset the chain that following it afresh gives, on windows
    /// of toy records (a length byte; 0 is implausible) with seconds that jump or not.
    #[test]
    fn remembered_chains_equal_chains_followed_afresh() {
        let mut next = crate::wire::xorshift(0x9e37_79b9_7f4a_7c15);
        for round in 0..200 {
            let len = 50 + round * 7;
            let bytes: Vec<u8> = (0..len).map(|_| (next() % 9) as u8).collect();
            let record = |at: usize| {
                let b = *bytes.get(at)?;
                (b > 0).then_some((b as usize, (b as u32 % 3) * MAX_TIME_STEP))
            };
            let goal = len - 10;
            let mut chains = Chains::new(goal).unwrap();
            // Every order of asking: ascending, then again from the memo.
            for p in (0..goal).chain((0..goal).rev()) {
                let plain = follow_plain(p, goal, record, true, &mut usize::MAX.clone()).unwrap();
                let remembered = chains.follow(p, goal, record, true);
                assert_eq!(
                    plain.map(|c| (c.end, c.links, c.jumps)),
                    remembered.map(|c| (c.end, c.links, c.jumps)),
                    "round {round}, offset {p}"
                );
            }
        }
    }

    #[test]
    fn a_plain_follow_stops_when_its_budget_is_spent() {
        let record = |_: usize| Some((1usize, 0u32));
        let mut budget = 10;
        assert!(follow_plain(0, 100, record, true, &mut budget).is_none());
        let mut budget = 100;
        let chain = follow_plain(0, 100, record, true, &mut budget)
            .unwrap()
            .unwrap();
        assert_eq!((chain.end, chain.links, chain.jumps), (100, 100, 0));
    }

    /// A ClientHello handshake message naming `sni`, padded by an extension of `pad` bytes.
    fn client_hello(sni: &str, pad: usize) -> Vec<u8> {
        crate::wire::testing::client_hello_record(sni, pad)[5..].to_vec()
    }

    /// A raw-IPv4 pcap (link type 228) of UDP datagrams `(client port, payload)` from a
    /// client to port 443, a millisecond apart.
    fn udp_capture(path: &Path, datagrams: &[(u16, Vec<u8>)]) {
        let mut out = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        out.extend_from_slice(&65535u32.to_le_bytes());
        out.extend_from_slice(&228u32.to_le_bytes());
        for (i, (port, payload)) in datagrams.iter().enumerate() {
            let p = crate::wire::testing::ipv4_udp(
                [192, 0, 2, 1],
                *port,
                [198, 51, 100, 1],
                443,
                payload,
            );
            out.extend_from_slice(&(1_700_000_000u32 + i as u32 / 1000).to_le_bytes());
            out.extend_from_slice(&((i as u32 % 1000) * 1000).to_le_bytes());
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            out.extend_from_slice(&p);
        }
        std::fs::write(path, out).unwrap();
    }

    /// QUIC hellos over two Initials, the second sent 40 datagrams after the first, read
    /// in byte ranges that cut between them: every hello is read at its second Initial,
    /// as the sequential read reads it, in the packet table and in the flow table.
    #[test]
    fn quic_hellos_over_two_initials_read_the_same_in_ranges() {
        use crate::column::Column;
        use crate::flow::{flow_columns, FlowColumns, FlowReader, Timeouts};
        use crate::wire::quic::{seal_client_initial, VERSION_1, VERSION_2};
        let n = 200usize;
        let gap = 40;
        let mut slots: Vec<Option<(u16, Vec<u8>)>> = vec![None; 2 * n + gap];
        for i in 0..n {
            let hello = client_hello(&format!("q{i}.example"), 900);
            let version = if i % 3 == 0 { VERSION_2 } else { VERSION_1 };
            let dcid = (i as u64).to_be_bytes();
            let half = 500 + i % 300;
            let first = seal_client_initial(version, &dcid, &[(0, &hello[..half])], 0);
            let second = seal_client_initial(version, &dcid, &[(half, &hello[half..])], 1);
            let port = 20_000 + i as u16;
            // Slots 2i and 2i + gap + 1 (odd gap keeps them apart from other pairs' slots).
            let (a, b) = (2 * i, 2 * i + gap + 1);
            let free = |slots: &Vec<Option<(u16, Vec<u8>)>>, mut at: usize| {
                while slots[at].is_some() {
                    at += 1;
                }
                at
            };
            let a = free(&slots, a);
            slots[a] = Some((port, first));
            let b = free(&slots, b.max(a + 1));
            if b >= slots.len() {
                slots.resize(b + 1, None);
            }
            slots[b] = Some((port, second));
        }
        let datagrams: Vec<(u16, Vec<u8>)> = slots.into_iter().flatten().collect();
        let dir =
            std::env::temp_dir().join(format!("pcapframe-quic-ranges-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("quic.pcap");
        udp_capture(&path, &datagrams);

        let options = ReadOptions {
            columns: Some(vec![
                Column::Frame,
                Column::SrcPort,
                Column::TlsSni,
                Column::TlsJa4,
            ]),
            ..ReadOptions::default()
        };
        let text = |batches: &[RecordBatch]| -> Vec<String> {
            use arrow_cast::display::{ArrayFormatter, FormatOptions};
            let mut out = Vec::new();
            for b in batches {
                let f = FormatOptions::default().with_null("-");
                let cols: Vec<ArrayFormatter> = b
                    .columns()
                    .iter()
                    .map(|c| ArrayFormatter::try_new(c.as_ref(), &f).unwrap())
                    .collect();
                for i in 0..b.num_rows() {
                    out.push(
                        cols.iter()
                            .map(|c| c.value(i).to_string())
                            .collect::<Vec<_>>()
                            .join(" "),
                    );
                }
            }
            out
        };
        let whole = text(&read_file(&path, &options, 1).unwrap().batches);
        let named: Vec<&String> = whole.iter().filter(|r| r.contains(".example")).collect();
        assert_eq!(named.len(), n, "every hello is read");
        let replayed = RANGES_REPLAYED.load(Ordering::Relaxed);
        for range in [3_000u64, 20_000, 100_000] {
            let split = read_file_in_ranges(&path, &options, 3, range).unwrap();
            assert!(text(&split.batches) == whole, "ranges of {range} bytes");
        }
        assert!(RANGES_REPLAYED.load(Ordering::Relaxed) > replayed + 10);

        let names: Vec<&str> = flow_columns().iter().map(|d| d.name).collect();
        let columns = FlowColumns::named(Some(&names)).unwrap();
        let flows = |threads: usize, range: Option<u64>| {
            let mut reader = FlowReader::open(
                std::slice::from_ref(&path),
                ReadOptions::default(),
                Timeouts::default(),
            )
            .unwrap()
            .with_columns(columns.clone())
            .unwrap()
            .with_threads(threads, range);
            let mut out = Vec::new();
            while let Some(b) = reader.next_batch().unwrap() {
                out.extend(text(&[b]));
            }
            out.sort();
            out
        };
        let sequential = flows(1, None);
        assert_eq!(
            sequential
                .iter()
                .filter(|r| r.contains(" quic ") && r.contains(".example"))
                .count(),
            n
        );
        for range in [3_000u64, 50_000] {
            assert!(
                flows(3, Some(range)) == sequential,
                "flows in ranges of {range} bytes"
            );
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
