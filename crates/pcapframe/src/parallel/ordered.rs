//! A file's byte ranges decoded ahead on helper threads and handed out in order to one
//! caller, which decodes ranges itself whenever the next one is not ready yet.
//!
//! This is for a caller with serial work of its own on each piece (the flow table): with
//! one decoding thread beside it, the caller waited for the decoder about half the time;
//! with two decoding threads beside it, three busy threads shared two cores and each group
//! of ranges waited for its slowest. Here no core waits while a range is left to decode.
//!
//! Ranges are claimed in order, at most `window` ahead of the caller (the decoded ranges
//! in flight are the memory this takes), and checked in order against where the range
//! before really ended (`settle`), as `decode_group` checks them: the pieces are exactly
//! the sequential read's.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::{
    boundary_at_or_after, decode_range, range_plan, settle, stream_records, FileRead, Framing,
    Range, RangeRows, RangeSource,
};
use crate::error::{Error, ErrorKind, Result};
use crate::format::RecordReader;
use crate::options::ReadOptions;
use crate::stream::{StreamCarry, StreamStart};

/// A piece of the file in order, and the offset the read has reached after it.
pub type Piece<T> = (FileRead<T>, u64);

/// The pieces of one file's read, in order (see the module's comment).
pub struct OrderedRanges<R: RangeRows> {
    mode: Mode<R>,
}

enum Mode<R: RangeRows> {
    Ranges(Ranges<R>),
    /// A file read from one offset on, sequentially, on a thread of its own.
    Sequential(Sequential<R::Item>),
    Done,
}

impl<R: RangeRows + 'static> OrderedRanges<R> {
    /// The pieces of `path`'s read, on `threads` threads counting the caller's: in byte
    /// ranges of `range_bytes` when the file can be read so, else sequentially on one
    /// thread beside the caller.
    pub fn open(
        path: &Path,
        options: &ReadOptions,
        threads: usize,
        range_bytes: u64,
    ) -> Result<Self> {
        let range_bytes = range_bytes.max(1);
        match range_plan(path, options, threads, range_bytes)? {
            (size, Some(framing)) => Ok(Self::in_ranges(
                path,
                options,
                threads,
                range_bytes,
                size,
                framing,
            )),
            (size, None) => {
                let records = RecordReader::open_for(path, options)?;
                let streams = StreamStart::FileStart;
                Ok(OrderedRanges {
                    mode: Mode::Sequential(Sequential::start::<R>(
                        records, 0, 0, options, streams, size,
                    )),
                })
            }
        }
    }

    /// The pieces of a read in byte ranges of `range_bytes` (`range_plan` said so).
    pub(super) fn in_ranges(
        path: &Path,
        options: &ReadOptions,
        threads: usize,
        range_bytes: u64,
        size: u64,
        framing: Framing,
    ) -> Self {
        let first = framing.first_record();
        let bounds: Vec<(u64, u64)> = (0..(size - first).div_ceil(range_bytes))
            .map(|i| {
                (
                    first + i * range_bytes,
                    (first + (i + 1) * range_bytes).min(size),
                )
            })
            .collect();
        let shared = Arc::new(Shared {
            path: path.to_path_buf(),
            options: options.clone(),
            framing,
            size,
            // Two ranges ahead per thread: with one, a helper done with its range waited
            // for the caller to take the one before (the flow read of the 2M-packet
            // benchmark capture took 0.48 s instead of 0.36-0.37 s). Each range ahead is
            // memory (an 8 MiB range of minimum-size packets is 17 MB of observations),
            // bounded by the vectors handed back (`spares`).
            window: 2 * threads,
            state: Mutex::new(State {
                claimed: 0,
                wanted: 0,
                decoded: HashMap::new(),
                spares: Vec::new(),
                stop: false,
            }),
            changed: Condvar::new(),
            bounds,
        });
        let helpers = (1..threads.min(shared.bounds.len()))
            .map_while(|_| {
                let shared = Arc::clone(&shared);
                // A thread that cannot start (a limit) leaves its share to the others.
                std::thread::Builder::new()
                    .name("pcapframe-range".into())
                    .spawn(move || shared.help())
                    .ok()
            })
            .collect();
        OrderedRanges {
            mode: Mode::Ranges(Ranges {
                shared,
                helpers,
                next: 0,
                truth: first,
                carry: None,
                packets: 0,
            }),
        }
    }
}

impl<R: RangeRows> OrderedRanges<R> {
    /// Hand back a piece's items, once through with them, for a later range to fill.
    pub fn recycle(&self, mut items: Vec<R::Item>) {
        if let Mode::Ranges(r) = &self.mode {
            items.clear();
            let mut state = r.shared.lock();
            if state.spares.len() <= r.shared.window {
                state.spares.push(items);
            }
        }
    }
}

impl<R: RangeRows + 'static> OrderedRanges<R> {
    /// The next piece with its items' frames still counted from the start of their range,
    /// and the packet records before that range: a caller that passes over every item
    /// anyway adds them there (`shift_frames` was a pass of its own over each range's
    /// observations, 2% of a flow read's CPU on the flow table's thread).
    pub fn next_unshifted(&mut self) -> Option<Result<(Piece<R::Item>, u64)>> {
        loop {
            let step = match &mut self.mode {
                Mode::Done => return None,
                // A sequential thread numbers its records from the file's start.
                Mode::Sequential(s) => match s.next() {
                    Some(Ok(piece)) => return Some(Ok((piece, 0))),
                    other => Step::End(other),
                },
                Mode::Ranges(r) => r.next(),
            };
            match step {
                Step::Piece(piece, before) => return Some(Ok((piece, before))),
                Step::Last(piece, before) => {
                    self.mode = Mode::Done;
                    return Some(Ok((piece, before)));
                }
                Step::End(last) => {
                    self.mode = Mode::Done;
                    return last.map(|r| r.map(|piece| (piece, 0)));
                }
                Step::Sequential(s) => self.mode = Mode::Sequential(s),
            }
        }
    }
}

impl<R: RangeRows + 'static> Iterator for OrderedRanges<R> {
    type Item = Result<Piece<R::Item>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_unshifted().map(|r| {
            r.map(|((mut part, offset), before)| {
                R::shift_frames(&mut part.batches, before);
                (part, offset)
            })
        })
    }
}

enum Step<T> {
    /// A piece, and the packet records before its range (its frames are counted from the
    /// range's start).
    Piece(Piece<T>, u64),
    /// The records end with this piece (damage the policy went past).
    Last(Piece<T>, u64),
    End(Option<Result<Piece<T>>>),
    /// The rest is read sequentially (a pcapng block that describes a new section or
    /// interface: every range after it would need it).
    Sequential(Sequential<T>),
}

/// What the caller and the helpers share.
struct Shared<R: RangeRows> {
    path: PathBuf,
    options: ReadOptions,
    framing: Framing,
    size: u64,
    bounds: Vec<(u64, u64)>,
    /// Ranges claimed at most this far ahead of the one the caller wants.
    window: usize,
    state: Mutex<State<R::Item>>,
    /// A range decoded, or one wanted: helpers and caller wait on it.
    changed: Condvar,
}

struct State<T> {
    /// Ranges claimed so far (the next to decode is this one).
    claimed: usize,
    /// The range the caller wants next.
    wanted: usize,
    decoded: HashMap<usize, Range<T>>,
    /// Vectors of items the caller is done with, for the next ranges to fill: a read then
    /// reuses the same few vectors, where fresh ones cost page faults and memory that each
    /// decoding thread's allocator kept (`read_chunked()` of the 2M-flow SYN scan of
    /// `benches/bench_flows.py` peaked at 515-580 MiB without, 471-473 MiB with).
    spares: Vec<Vec<T>>,
    /// The caller is gone (or done): helpers stop.
    stop: bool,
}

impl<R: RangeRows> Shared<R> {
    fn lock(&self) -> MutexGuard<'_, State<R::Item>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A range to decode, claimed, if one is within the window.
    fn claim(&self, state: &mut State<R::Item>) -> Option<usize> {
        let i = state.claimed;
        (!state.stop && i < self.bounds.len() && i < state.wanted + self.window).then(|| {
            state.claimed += 1;
            i
        })
    }

    /// Range `i`: the first from the first record, the others from a guessed boundary.
    fn decode(&self, i: usize) -> Range<R::Item> {
        let (begin, end) = self.bounds[i];
        let (path, options, framing) = (&self.path, &self.options, &self.framing);
        let spare = self.lock().spares.pop().unwrap_or_default();
        if i == 0 {
            let streams = StreamStart::FileStart;
            return decode_range::<R>(path, options, framing, begin, end, streams, spare);
        }
        match boundary_at_or_after(path, framing, begin, self.size) {
            Ok(Some(start)) => {
                let streams = StreamStart::Partial;
                decode_range::<R>(path, options, framing, start, end, streams, spare)
            }
            // No boundary found: its check decodes it from where the range before ended.
            Ok(None) | Err(_) => Range::unread(),
        }
    }

    /// A helper's loop: decode ranges in the window until none is left or the caller goes.
    fn help(&self) {
        loop {
            let i = {
                let mut state = self.lock();
                loop {
                    if state.stop || state.claimed >= self.bounds.len() {
                        return;
                    }
                    if let Some(i) = self.claim(&mut state) {
                        break i;
                    }
                    state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
                }
            };
            // A panic is the caller's error, in its turn, not a range that never comes.
            let range = catch_unwind(AssertUnwindSafe(|| self.decode(i))).unwrap_or_else(|_| {
                let mut range = Range::unread();
                range.outcome = Err(Error::new(
                    ErrorKind::Io,
                    "a thread decoding this file stopped unexpectedly",
                ));
                range
            });
            self.lock().decoded.insert(i, range);
            self.changed.notify_all();
        }
    }
}

/// The caller's side of a read in ranges: which range comes next, and what the ranges
/// before it left.
struct Ranges<R: RangeRows> {
    shared: Arc<Shared<R>>,
    helpers: Vec<JoinHandle<()>>,
    next: usize,
    /// Where range `next` must start: where the one before really ended.
    truth: u64,
    carry: Option<StreamCarry>,
    /// Packet records before range `next`.
    packets: u64,
}

impl<R: RangeRows + 'static> Ranges<R> {
    fn next(&mut self) -> Step<R::Item> {
        if self.next == self.shared.bounds.len() {
            return Step::End(None);
        }
        let i = self.next;
        let range = {
            let mut state = self.shared.lock();
            loop {
                if let Some(range) = state.decoded.remove(&i) {
                    break range;
                }
                if let Some(j) = self.shared.claim(&mut state) {
                    // Nothing to take: decode a range here rather than wait.
                    drop(state);
                    let range = self.shared.decode(j);
                    state = self.shared.lock();
                    if j == i {
                        break range;
                    }
                    state.decoded.insert(j, range);
                    continue;
                }
                state = self
                    .shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(|p| p.into_inner());
            }
        };
        let range = if i == 0 {
            let mut range = range;
            self.carry = range.streams.take();
            range
        } else {
            let source = RangeSource {
                path: &self.shared.path,
                options: &self.shared.options,
                framing: &self.shared.framing,
            };
            let end = self.shared.bounds[i].1;
            settle::<R>(range, self.truth, end, &mut self.carry, &source)
        };
        self.next += 1;
        self.shared.lock().wanted = self.next;
        self.shared.changed.notify_all();
        let ended = range.ended();
        match range.outcome {
            Ok(part) => {
                let before = self.packets;
                self.packets += part.stats.packets;
                self.truth = range.next;
                let piece = (part, range.next.min(self.shared.size));
                if ended || self.next == self.shared.bounds.len() {
                    Step::Last(piece, before)
                } else {
                    Step::Piece(piece, before)
                }
            }
            Err(e) if e.kind == ErrorKind::NotSplittable => {
                // Everything before this range was read with the right description: go on
                // sequentially from its start.
                let shared = &self.shared;
                match shared.framing.resume_thawed(&shared.path, range.start) {
                    Ok(records) => {
                        let streams = self
                            .carry
                            .take()
                            .map_or(StreamStart::FileStart, StreamStart::Resume);
                        Step::Sequential(Sequential::start::<R>(
                            records,
                            range.start,
                            self.packets,
                            &shared.options,
                            streams,
                            shared.size,
                        ))
                    }
                    Err(e) => Step::End(Some(Err(e))),
                }
            }
            Err(e) => Step::End(Some(Err(e))),
        }
    }
}

impl<R: RangeRows> Drop for Ranges<R> {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        for helper in self.helpers.drain(..) {
            let _ = helper.join();
        }
    }
}

enum Message<T> {
    Piece(Piece<T>),
    End,
    Failed(Error),
}

/// Records read from one offset to the end on a thread beside the caller, piece by piece
/// (at most two waiting).
struct Sequential<T> {
    pieces: Option<Receiver<Message<T>>>,
    thread: Option<JoinHandle<()>>,
    ended: bool,
}

impl<T: Send + 'static> Sequential<T> {
    /// Pieces of `records`, which start at byte `start` of a file of `size` bytes after
    /// `frames_before` packet records.
    fn start<R: RangeRows<Item = T> + 'static>(
        records: RecordReader,
        start: u64,
        frames_before: u64,
        options: &ReadOptions,
        streams: StreamStart,
        size: u64,
    ) -> Self {
        let (send, pieces) = sync_channel(2);
        let options = options.clone();
        let thread = std::thread::Builder::new()
            .name("pcapframe-sequential".into())
            .spawn(move || {
                let read = stream_records::<R>(
                    records,
                    start,
                    frames_before,
                    &options,
                    streams,
                    size,
                    &mut |piece, at| {
                        send.send(Message::Piece((piece, at)))
                            .map_err(|_| Error::new(ErrorKind::Interrupted, "the read was dropped"))
                    },
                );
                let _ = send.send(match read {
                    Ok(_) => Message::End,
                    Err(e) => Message::Failed(e),
                });
            });
        match thread {
            Ok(thread) => Sequential {
                pieces: Some(pieces),
                thread: Some(thread),
                ended: false,
            },
            Err(e) => {
                let (send, pieces) = sync_channel(1);
                let _ = send.send(Message::Failed(Error::io(e, None)));
                Sequential {
                    pieces: Some(pieces),
                    thread: None,
                    ended: false,
                }
            }
        }
    }

    fn next(&mut self) -> Option<Result<Piece<T>>> {
        if self.ended {
            return None;
        }
        let message = match self.pieces.as_ref().map(|p| p.recv()) {
            Some(Ok(message)) => message,
            // The thread ended without a word: it panicked.
            _ => Message::Failed(Error::new(
                ErrorKind::Io,
                "the thread decoding this file stopped unexpectedly",
            )),
        };
        match message {
            Message::Piece(piece) => Some(Ok(piece)),
            Message::End => {
                self.ended = true;
                None
            }
            Message::Failed(e) => {
                self.ended = true;
                Some(Err(e))
            }
        }
    }
}

impl<T> Drop for Sequential<T> {
    fn drop(&mut self) {
        // Its next send fails, and it stops.
        self.pieces = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::observe::Observations;

    /// A classic pcap of `packets` Ethernet/IPv4/UDP frames of varied sizes and ports.
    fn udp_capture(packets: u32) -> PathBuf {
        let path = std::env::temp_dir().join(format!("ordered-{}.pcap", std::process::id()));
        let mut out = Vec::new();
        out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        out.extend_from_slice(&[2, 0, 4, 0]); // version 2.4
        for v in [0u32, 0, 65535, 1] {
            out.extend_from_slice(&v.to_le_bytes()); // zone, accuracy, snaplen, Ethernet
        }
        for i in 0..packets {
            let payload = (i * 37 % 300) as usize;
            let ip_len = 28 + payload as u16;
            let mut frame = vec![0u8; 12];
            frame.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 0]);
            frame[16..18].copy_from_slice(&ip_len.to_be_bytes());
            frame.extend_from_slice(&[
                0,
                0,
                0,
                0,
                64,
                17,
                0,
                0,
                10,
                0,
                0,
                1,
                10,
                0,
                1,
                (i % 7) as u8,
            ]);
            frame.extend_from_slice(&(1000 + (i % 50) as u16).to_be_bytes());
            frame.extend_from_slice(&53u16.to_be_bytes());
            frame.extend_from_slice(&(8 + payload as u16).to_be_bytes());
            frame.extend_from_slice(&[0, 0]);
            frame.resize(frame.len() + payload, 0xab);
            for v in [
                1_700_000_000 + i,
                i % 1_000_000,
                frame.len() as u32,
                frame.len() as u32,
            ] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&frame);
        }
        std::fs::write(&path, out).unwrap();
        path
    }

    /// Whatever the threads, the range size and the vectors handed back, the pieces hold
    /// the sequential read's observations in order, with the file's frames; a read
    /// dropped midway stops its helpers (the test would hang otherwise).
    #[test]
    fn pieces_are_the_sequential_read_in_order() {
        let path = udp_capture(3000);
        let options = ReadOptions::default();
        let size = std::fs::metadata(&path).unwrap().len();
        let all = |threads: usize, range: u64, recycle: bool| {
            let mut pieces =
                OrderedRanges::<Observations>::open(&path, &options, threads, range).unwrap();
            let (mut observations, mut last_at) = (Vec::new(), 0);
            while let Some(piece) = pieces.next() {
                let (read, at) = piece.unwrap();
                assert!(at >= last_at);
                last_at = at;
                observations.extend(read.batches.iter().cloned());
                if recycle {
                    pieces.recycle(read.batches);
                }
            }
            assert_eq!(last_at, size);
            observations
        };
        let want = all(1, size, false);
        assert_eq!(want.len(), 3000);
        for (threads, range) in [(2, 4096), (3, 10_000), (4, 997)] {
            for recycle in [false, true] {
                assert!(
                    all(threads, range, recycle) == want,
                    "{threads} threads, ranges of {range} bytes"
                );
            }
            let mut pieces =
                OrderedRanges::<Observations>::open(&path, &options, threads, range).unwrap();
            assert!(pieces.next().unwrap().is_ok());
            drop(pieces);
        }
        std::fs::remove_file(path).unwrap();
    }
}
