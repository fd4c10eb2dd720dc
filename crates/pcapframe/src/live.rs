//! Live capture on libpcap. A thread reads the interface into blocks of packets and hands
//! them over a bounded queue, so packets that arrive while the caller works on the previous
//! chunk are kept (until the queue is full; then the kernel drops and counts them).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::error::{Error, ErrorKind, Result};
use crate::format::Record;
use crate::libpcap::{self, Handle, NextError, PcapError};
use crate::link::linktype;
use crate::options::ReadOptions;
use crate::reader::RowBuilder;
use crate::stats::ReadStats;
use crate::writer::PcapWriter;

#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub interface: String,
    /// Snap length: the most bytes kept of each packet.
    pub snaplen: u32,
    pub promiscuous: bool,
    /// How long a read waits for packets before returning what arrived.
    pub timeout_ms: u32,
    /// tcpdump expression, compiled by libpcap and run in the kernel.
    pub filter: Option<String>,
    /// Kernel ring buffer; large so that bursts are absorbed rather than dropped.
    pub buffer_bytes: u32,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            interface: String::new(),
            snaplen: 65_536,
            promiscuous: true,
            timeout_ms: 1_000,
            filter: None,
            buffer_bytes: 64 << 20,
        }
    }
}

/// Counters of a live capture: libpcap's (received, dropped by the kernel, dropped by the
/// interface) and ours (packets handed over by the capture thread).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveStats {
    pub received: u64,
    pub dropped: u64,
    pub if_dropped: u64,
    pub captured: u64,
}

/// Packets are handed over in blocks: one queue operation per many packets.
#[derive(Default)]
struct Block {
    data: Vec<u8>,
    entries: Vec<Entry>,
}

struct Entry {
    timestamp_ns: i64,
    start: usize,
    caplen: u32,
    wire_len: u32,
}

const BLOCK_PACKETS: usize = 4_096;
const BLOCK_BYTES: usize = 4 << 20;
/// A partly filled block is handed over after this long, so that slow traffic flows.
const BLOCK_AGE: Duration = Duration::from_millis(20);
/// Blocks in flight: bounds the queue to about QUEUE_BLOCKS * BLOCK_BYTES.
const QUEUE_BLOCKS: usize = 64;
/// The longest the thread sleeps in poll(): how quickly it notices a stop request, and
/// libpcap's block timeout (the longest a packet waits in the kernel ring).
const POLL_MS: u32 = 100;

enum Message {
    Packets(Block),
    Failed(Error),
}

struct Shared {
    stop: AtomicBool,
    stats: Mutex<LiveStats>,
}

pub struct LiveCapture {
    rx: Option<Receiver<Message>>,
    current: Block,
    position: usize,
    link_type: u32,
    interface: String,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    failed: Option<Error>,
    finished: bool,
}

/// LINKTYPE value for the DLT value libpcap reports (they differ for raw IP).
fn dlt_to_linktype(dlt: i32) -> u32 {
    match dlt {
        12 | 14 => linktype::RAW,
        other => other as u32,
    }
}

fn open_error(interface: &str, e: PcapError) -> Error {
    let text = e.to_string();
    let lower = text.to_lowercase();
    if lower.contains("permission") || lower.contains("not permitted") {
        Error::new(
            ErrorKind::PermissionDenied,
            format!("capturing on {interface:?} needs root or the CAP_NET_RAW capability: libpcap says: {text}"),
        )
    } else if lower.contains("no such device") {
        unknown_interface(interface)
    } else {
        Error::new(
            ErrorKind::Capture,
            format!("cannot capture on {interface:?}: libpcap says: {text}"),
        )
    }
}

fn unknown_interface(interface: &str) -> Error {
    let names = libpcap::device_names().unwrap_or_default();
    Error::invalid_argument(format!(
        "there is no network interface {interface:?}; the interfaces are: {}",
        if names.is_empty() {
            "(none visible)".to_string()
        } else {
            names.join(", ")
        }
    ))
}

impl LiveCapture {
    /// Open the interface (errors come back from here, not later), start the thread.
    pub fn open(options: &LiveOptions) -> Result<Self> {
        // libpcap missing is said here, before a thread is started.
        let known = match libpcap::device_names() {
            Ok(names) => names.contains(&options.interface),
            Err(e) if e.kind == ErrorKind::MissingLibrary => return Err(e),
            Err(_) => true,
        };
        if !known {
            return Err(unknown_interface(&options.interface));
        }
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            stats: Mutex::new(LiveStats::default()),
        });
        let (tx, rx) = mpsc::sync_channel(QUEUE_BLOCKS);
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread_options = options.clone();
        let thread_shared = shared.clone();
        // libpcap handles are not Send: the capture is opened inside its own thread, which
        // reports the outcome (link type, or the error) before looping.
        let thread = std::thread::Builder::new()
            .name(format!("capture {}", options.interface))
            .spawn(move || match open_handle(&thread_options) {
                Ok(mut cap) => {
                    let link_type = dlt_to_linktype(cap.datalink());
                    if ready_tx.send(Ok(link_type)).is_ok() {
                        capture_loop(&mut cap, &tx, &thread_shared, &thread_options.interface);
                    }
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|e| Error::io(e, None))?;
        let link_type = match ready_rx.recv() {
            Ok(Ok(opened)) => opened,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(Error::new(
                    ErrorKind::Capture,
                    "the capture thread ended before opening the interface",
                ));
            }
        };
        Ok(LiveCapture {
            rx: Some(rx),
            current: Block::default(),
            position: 0,
            link_type,
            interface: options.interface.clone(),
            shared,
            thread: Some(thread),
            failed: None,
            finished: false,
        })
    }

    /// LINKTYPE_* of the interface.
    pub fn link_type(&self) -> u32 {
        self.link_type
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    pub fn stats(&self) -> LiveStats {
        *self.shared.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next captured packet, waiting until `deadline` at most: `Ok(None)` when the
    /// deadline passed (or the capture has ended). A capture error comes after every packet
    /// captured before it.
    pub fn next_record(&mut self, deadline: Instant) -> Result<Option<Record<'_>>> {
        while self.position >= self.current.entries.len() {
            if let Some(e) = self.failed.take() {
                self.finished = true;
                return Err(e);
            }
            let Some(rx) = &self.rx else { return Ok(None) };
            if self.finished {
                return Ok(None);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            match rx.recv_timeout(deadline - now) {
                Ok(Message::Packets(block)) => {
                    self.current = block;
                    self.position = 0;
                }
                Ok(Message::Failed(e)) => self.failed = Some(e),
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => {
                    self.finished = true;
                    return Ok(None);
                }
            }
        }
        let entry = &self.current.entries[self.position];
        self.position += 1;
        Ok(Some(Record {
            timestamp_ns: Some(entry.timestamp_ns),
            wire_len: entry.wire_len,
            link_type: self.link_type,
            interface: 0,
            interface_name: Some(&self.interface),
            big_endian: cfg!(target_endian = "big"),
            data: &self.current.data[entry.start..entry.start + entry.caplen as usize],
            offset: 0,
        }))
    }

    /// Whether the capture has ended (closed, or failed and reported).
    pub fn is_finished(&self) -> bool {
        self.finished || self.rx.is_none()
    }

    /// Stop capturing: the thread ends, its handle is closed. Packets not read are dropped.
    pub fn close(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Dropping the receiver unblocks a thread waiting on a full queue.
        self.rx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.finished = true;
    }
}

impl Drop for LiveCapture {
    fn drop(&mut self) {
        self.close();
    }
}

fn open_handle(o: &LiveOptions) -> Result<Handle> {
    // Non-blocking, with our own poll(): on Linux (TPACKET_V3) a blocking read does not
    // return on its timeout when no packet comes, so a partly filled block would wait forever.
    let cap = Handle::live(
        &o.interface,
        o.snaplen.clamp(64, 262_144) as i32,
        o.promiscuous,
        o.timeout_ms.clamp(1, POLL_MS) as i32,
        o.buffer_bytes.min(i32::MAX as u32) as i32,
    )?
    .map_err(|e| open_error(&o.interface, e))?;
    if let Some(expression) = &o.filter {
        cap.set_filter(expression).map_err(|e| {
            Error::invalid_argument(format!("invalid filter expression {expression:?}: {e}"))
        })?;
    }
    Ok(cap)
}

fn capture_loop(cap: &mut Handle, tx: &SyncSender<Message>, shared: &Shared, interface: &str) {
    let mut block = Block::default();
    let mut first_at = Instant::now();
    let mut captured = 0u64;
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        match cap.next_packet() {
            Ok((header, data)) => {
                if block.entries.is_empty() {
                    first_at = Instant::now();
                }
                let ts = header.ts;
                // time_t and suseconds_t are not i64 on every platform.
                #[allow(clippy::unnecessary_cast)]
                block.entries.push(Entry {
                    // With nanosecond precision, tv_usec holds nanoseconds.
                    timestamp_ns: ts.tv_sec as i64 * 1_000_000_000 + ts.tv_usec as i64,
                    start: block.data.len(),
                    caplen: data.len() as u32,
                    wire_len: header.len,
                });
                block.data.extend_from_slice(data);
                captured += 1;
                if block.entries.len() >= BLOCK_PACKETS
                    || block.data.len() >= BLOCK_BYTES
                    || first_at.elapsed() >= BLOCK_AGE
                {
                    if !hand_over(&mut block, tx) {
                        break;
                    }
                    update_stats(cap, shared, captured);
                }
            }
            // Non-blocking mode: nothing to read right now.
            Err(NextError::NothingYet) => {
                if !block.entries.is_empty() && !hand_over(&mut block, tx) {
                    break;
                }
                update_stats(cap, shared, captured);
                wait_readable(cap.selectable_fd(), POLL_MS);
            }
            Err(NextError::Failed(e)) => {
                let stopping = shared.stop.load(Ordering::Relaxed);
                if hand_over(&mut block, tx) && !stopping {
                    let _ = tx.send(Message::Failed(Error::new(
                        ErrorKind::Capture,
                        format!(
                            "live capture on {interface:?} stopped: libpcap says: {e} (did the interface go away \
                             or down? `ip link show {interface}` tells)"
                        ),
                    )));
                }
                break;
            }
        }
    }
    update_stats(cap, shared, captured);
}

/// Sleep until the capture descriptor is readable or `ms` pass.
fn wait_readable(fd: std::os::fd::RawFd, ms: u32) {
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call. Errors (EINTR) just return early.
    unsafe {
        libc::poll(&mut poll, 1, ms as libc::c_int);
    }
}

/// Send the block (if any); false when nobody listens any more.
fn hand_over(block: &mut Block, tx: &SyncSender<Message>) -> bool {
    if block.entries.is_empty() {
        return true;
    }
    tx.send(Message::Packets(std::mem::take(block))).is_ok()
}

fn update_stats(cap: &mut Handle, shared: &Shared, captured: u64) {
    let mut stats = shared.stats.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((received, dropped, if_dropped)) = cap.stats() {
        stats.received = received;
        stats.dropped = dropped;
        stats.if_dropped = if_dropped;
    }
    stats.captured = captured;
}

/// Live packets to rows (and to pcap files): the capture plus the same row building as files.
pub struct LiveReader {
    capture: LiveCapture,
    rows: RowBuilder,
    /// A capture error met after some rows: reported on the next call, rows first.
    deferred: Option<Error>,
}

impl LiveReader {
    /// `read.filter` runs in the kernel (it is moved into the capture), `read.protocol` here.
    pub fn open(live: &LiveOptions, read: &ReadOptions) -> Result<Self> {
        let mut live = live.clone();
        let mut read = read.clone();
        live.filter = read.filter.take().or(live.filter);
        let mut rows = RowBuilder::new(&read)?;
        rows.without_offsets();
        Ok(LiveReader {
            capture: LiveCapture::open(&live)?,
            rows,
            deferred: None,
        })
    }

    pub fn schema(&self) -> SchemaRef {
        self.rows.schema()
    }

    pub fn capture(&self) -> &LiveCapture {
        &self.capture
    }

    pub fn read_stats(&self) -> &ReadStats {
        self.rows.stats()
    }

    pub fn set_protocol(&mut self, protocol: Option<u8>) {
        self.rows.set_protocol(protocol);
    }

    /// Add rows from packets arriving until `deadline`, up to `max_rows` held; true when
    /// that many are held (or the batch is full). Call `take_batch` for them. A capture
    /// error after some rows is kept until those rows are taken.
    pub fn fill(&mut self, max_rows: usize, deadline: Instant) -> Result<bool> {
        if self.deferred.is_some() {
            return if self.rows.is_empty() {
                Err(self.deferred.take().expect("checked"))
            } else {
                Ok(true)
            };
        }
        while self.rows.len() < max_rows.max(1) && !self.rows.is_full() {
            let pushed = match self.capture.next_record(deadline) {
                Ok(Some(record)) => self.rows.push(&record),
                Ok(None) => return Ok(false),
                Err(e) => Err(e),
            };
            if let Err(e) = pushed {
                if self.rows.is_empty() {
                    return Err(e);
                }
                self.deferred = Some(e);
                return Ok(true);
            }
        }
        Ok(true)
    }

    /// The rows held, as a batch; `None` when there are none.
    pub fn take_batch(&mut self) -> Option<RecordBatch> {
        self.rows.finish()
    }

    /// Whether no more packets will come (closed, or failed with the error reported).
    pub fn is_finished(&self) -> bool {
        self.capture.is_finished() && self.deferred.is_none()
    }

    /// Write packets (every packet the kernel filter passed, IP or not) to `writer` until
    /// `limit` were written in total or `deadline`; returns how many this call wrote.
    pub fn write_packets(
        &mut self,
        writer: &mut PcapWriter,
        limit: u64,
        deadline: Instant,
    ) -> Result<u64> {
        let mut written = 0;
        while writer.packets_written() < limit {
            match self.capture.next_record(deadline)? {
                Some(record) => {
                    writer.write(record.timestamp_ns, record.data, record.wire_len)?;
                    written += 1;
                }
                None => break,
            }
        }
        Ok(written)
    }

    pub fn close(&mut self) {
        self.capture.close();
    }
}
