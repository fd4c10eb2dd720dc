//! Robustness: damaged, truncated and arbitrary input gets a clear error (kind and byte
//! offset) or a counted skip: never a panic, a hang, a stack overflow, nor an allocation
//! sized by a length field read from the file.
//!
//! - arbitrary bytes behind every file-header kind, and well-framed records with arbitrary
//!   contents then mutated (proptest);
//! - every corpus capture cut at every byte offset (a dense sample beyond 64 KiB), against
//!   an independent framing of the capture written here;
//! - corpus captures with flipped bytes and with length fields overwritten;
//! - `link::decode` and `ip::decode` on arbitrary bytes for every link type;
//! - regressions: deep MPLS pseudowire nesting (stack overflow), truncated gzip (was `Io`).
//! - damage keeps the packets before it unless errors are raised; records beyond the snaplen
//!   up to 16 MiB read; 20,000 and 1,000,000 interfaces with long names in bounded memory.
//!
//! `PROPTEST_CASES` sets the number of cases of each property;
//! `PCAPFRAME_EXHAUSTIVE=1` cuts the large captures at every offset too (best with --release).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use arrow_array::{Array, LargeBinaryArray};
use flate2::read::MultiGzDecoder;
use pcapframe::format::{RecordReader, MAX_CAPLEN};
use pcapframe::input::ByteWindow;
use pcapframe::link::{self, linktype, Link};
use pcapframe::wire::ip_protocol;
use pcapframe::{ip, Error, ErrorKind, PacketReader, ReadOptions, TruncationPolicy};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

// ---------------------------------------------------------------------------------------
// Largest single allocation made by the current thread (for "no allocation sized by a
// length field"). A const thread-local `Cell<usize>` has no destructor, so reading it
// from inside the allocator never allocates.

struct PeakAlloc;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    /// Bytes this thread holds (allocated minus freed by it) and the most it held, for
    /// "bounded memory whatever the file declares".
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK_LIVE: Cell<isize> = const { Cell::new(0) };
}

fn note_live(delta: isize) {
    let _ = LIVE.try_with(|live| {
        live.set(live.get() + delta);
        let _ = PEAK_LIVE.try_with(|peak| peak.set(peak.get().max(live.get())));
    });
}

fn note_allocation(size: usize) {
    let _ = LARGEST.try_with(|c| {
        if size > c.get() {
            c.set(size)
        }
    });
}

unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        note_live(layout.size() as isize);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        note_live(layout.size() as isize);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation(new_size);
        note_live(new_size as isize - layout.size() as isize);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_live(-(layout.size() as isize));
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: PeakAlloc = PeakAlloc;

/// Run `f` and return the most bytes this thread held at once meanwhile, beyond what it
/// held before.
fn peak_memory_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(|c| c.get());
    PEAK_LIVE.with(|c| c.set(base));
    let out = f();
    (out, (PEAK_LIVE.with(|c| c.get()) - base).max(0) as usize)
}

/// Run `f` and return the largest single allocation this thread made meanwhile.
fn largest_allocation_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|c| c.set(0));
    let out = f();
    (out, LARGEST.with(|c| c.get()))
}

// ---------------------------------------------------------------------------------------
// Helpers: run with a deadline, read everything, check every outcome.

/// Run `f` on its own thread (with a modest stack, so that runaway recursion shows) and
/// fail if it does not finish in time: a hang fails the test instead of stalling CI.
fn within<T: Send + 'static>(what: &str, secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name(what.to_string())
        .stack_size(1 << 20)
        .spawn(move || {
            let _ = tx.send(f());
        })
        .unwrap();
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => {
            handle.join().unwrap();
            v
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!(),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: no result after {secs} s (a hang?)")
        }
    }
}

/// Every column (a superset of the default six), so arbitrary bytes reach every field's decoding.
fn options(errors: TruncationPolicy, batch_rows: usize) -> ReadOptions {
    // Not the flow columns: `LabeledPacketReader` reads them (see `labeled_reads_...`).
    let columns = Some(
        pcapframe::column::Column::ALL
            .into_iter()
            .filter(|c| c.def().needs != pcapframe::column::Needs::Flows)
            .collect(),
    );
    ReadOptions {
        payload: true,
        batch_rows,
        errors,
        columns,
        ..ReadOptions::default()
    }
}

#[derive(Debug)]
struct Outcome {
    rows: u64,
    packets: u64,
    truncated: Option<String>,
    error: Option<Error>,
}

/// Drain every batch, checking each one; an `Err` ends the read (and must stay ended).
fn drain(mut reader: PacketReader, input_len: usize, batch_rows: usize) -> Outcome {
    let schema = reader.schema();
    let mut rows = 0u64;
    let mut payload_bytes = 0usize;
    let mut error = None;
    // Every batch holds at least one row, one packet record: bound the loop by the input.
    for _ in 0..=input_len + 1 {
        match reader.next_batch() {
            Ok(Some(batch)) => {
                assert!(batch.num_rows() > 0, "an empty batch");
                assert!(
                    batch.num_rows() <= batch_rows.max(1),
                    "batch of {} rows > {batch_rows}",
                    batch.num_rows()
                );
                assert_eq!(batch.schema(), schema);
                if let Some(column) = batch.columns().get(6) {
                    payload_bytes += column
                        .as_any()
                        .downcast_ref::<LargeBinaryArray>()
                        .unwrap()
                        .value_data()
                        .len();
                }
                rows += batch.num_rows() as u64;
            }
            Ok(None) => break,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    // Finished means finished: after the end or an error, only `None`.
    assert!(
        matches!(reader.next_batch(), Ok(None)),
        "the reader went on after its end"
    );
    let stats = reader.stats().clone();
    assert_eq!(stats.rows, rows, "stats.rows disagrees with the batches");
    assert!(
        rows <= stats.packets,
        "{rows} rows from {} packets",
        stats.packets
    );
    // Every packet record has a header of at least 12 bytes (pcapng SPB) or 16 (pcap).
    assert!(
        stats.packets as usize <= input_len / 12 + 1,
        "{} packets from {input_len} bytes",
        stats.packets
    );
    assert!(
        payload_bytes <= input_len,
        "{payload_bytes} payload bytes from {input_len} input bytes"
    );
    if let Some(e) = &error {
        check_error(e, input_len);
        assert!(
            stats.truncated.is_none(),
            "both an error and a truncation warning"
        );
    }
    Outcome {
        rows,
        packets: stats.packets,
        truncated: stats.truncated,
        error,
    }
}

/// Every error names its kind, a byte offset inside the input and says something.
fn check_error(e: &Error, input_len: usize) {
    let offset = e
        .offset
        .unwrap_or_else(|| panic!("error without an offset: {e:?}"));
    assert!(
        offset <= input_len as u64,
        "offset {offset} beyond the {input_len}-byte input: {e}"
    );
    assert!(!e.message.is_empty());
    assert_ne!(e.kind, ErrorKind::InvalidArgument, "{e}");
    assert!(
        e.to_string().contains(&format!("at byte offset {offset}")),
        "{e}"
    );
}

/// Read `bytes` through a small window; `Err` when the header itself is refused.
fn read_bytes(
    bytes: Vec<u8>,
    window: usize,
    errors: TruncationPolicy,
    batch_rows: usize,
) -> Result<Outcome, Error> {
    let len = bytes.len();
    let window = ByteWindow::with_capacity(Box::new(Cursor::new(bytes)), window);
    match PacketReader::from_window(window, options(errors, batch_rows)) {
        Ok(reader) => Ok(drain(reader, len, batch_rows)),
        Err(e) => {
            check_error(&e, len);
            assert!(
                matches!(
                    e.kind,
                    ErrorKind::NotACapture | ErrorKind::Truncated | ErrorKind::Corrupt
                ),
                "header refused with {e:?}"
            );
            Err(e)
        }
    }
}

/// Deterministic pseudo-random numbers (SplitMix64) for the corpus loops.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn runner(default_cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases: cases(default_cases),
        failure_persistence: None,
        ..Config::default()
    })
}

// ---------------------------------------------------------------------------------------
// Building captures: file headers, records and blocks in either byte order.

fn u16b(v: u16, big: bool) -> [u8; 2] {
    if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}
fn u32b(v: u32, big: bool) -> [u8; 4] {
    if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

const MAGIC_USEC: u32 = 0xa1b2_c3d4;
const MAGIC_NSEC: u32 = 0xa1b2_3c4d;
const MAGIC_MODIFIED: u32 = 0xa1b2_cd34;

/// The eight header kinds: pcap usec/nsec/modified in both byte orders, pcapng LE and BE.
#[derive(Debug, Clone, Copy)]
enum HeaderKind {
    Pcap { magic: u32, big: bool },
    Pcapng { big: bool },
}

const HEADER_KINDS: [HeaderKind; 8] = [
    HeaderKind::Pcap {
        magic: MAGIC_USEC,
        big: false,
    },
    HeaderKind::Pcap {
        magic: MAGIC_USEC,
        big: true,
    },
    HeaderKind::Pcap {
        magic: MAGIC_NSEC,
        big: false,
    },
    HeaderKind::Pcap {
        magic: MAGIC_NSEC,
        big: true,
    },
    HeaderKind::Pcap {
        magic: MAGIC_MODIFIED,
        big: false,
    },
    HeaderKind::Pcap {
        magic: MAGIC_MODIFIED,
        big: true,
    },
    HeaderKind::Pcapng { big: false },
    HeaderKind::Pcapng { big: true },
];

fn pcap_header(magic: u32, big: bool, snaplen: u32, link_type: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(24);
    v.extend_from_slice(&u32b(magic, big));
    v.extend_from_slice(&u16b(2, big));
    v.extend_from_slice(&u16b(4, big));
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&u32b(snaplen, big));
    v.extend_from_slice(&u32b(link_type, big));
    v
}

fn pcap_record(
    magic: u32,
    big: bool,
    secs: u32,
    caplen: u32,
    wire_len: u32,
    data: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&u32b(secs, big));
    v.extend_from_slice(&u32b(1234, big));
    v.extend_from_slice(&u32b(caplen, big));
    v.extend_from_slice(&u32b(wire_len, big));
    if magic == MAGIC_MODIFIED {
        v.extend_from_slice(&[0, 0, 0, 1, 0x08, 0x00, 0, 0]);
    }
    v.extend_from_slice(data);
    v
}

fn block(big: bool, block_type: u32, body: &[u8]) -> Vec<u8> {
    let padded = (body.len() + 3) & !3;
    let total = (12 + padded) as u32;
    let mut v = Vec::with_capacity(total as usize);
    v.extend_from_slice(&u32b(block_type, big));
    v.extend_from_slice(&u32b(total, big));
    v.extend_from_slice(body);
    v.resize(8 + padded, 0);
    v.extend_from_slice(&u32b(total, big));
    v
}

fn shb(big: bool) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u32b(0x1a2b_3c4d, big));
    body.extend_from_slice(&u16b(1, big));
    body.extend_from_slice(&u16b(0, big));
    body.extend_from_slice(&[0xff; 8]);
    block(big, 0x0a0d_0d0a, &body)
}

fn idb(big: bool, link_type: u16, snaplen: u32, options: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u16b(link_type, big));
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&u32b(snaplen, big));
    body.extend_from_slice(options);
    block(big, 1, &body)
}

fn epb(big: bool, interface: u32, caplen: u32, wire_len: u32, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u32b(interface, big));
    body.extend_from_slice(&u32b(0x0005_8a3b, big));
    body.extend_from_slice(&u32b(0x1234_5678, big));
    body.extend_from_slice(&u32b(caplen, big));
    body.extend_from_slice(&u32b(wire_len, big));
    body.extend_from_slice(data);
    block(big, 6, &body)
}

fn spb(big: bool, wire_len: u32, data: &[u8]) -> Vec<u8> {
    let mut body = u32b(wire_len, big).to_vec();
    body.extend_from_slice(data);
    block(big, 3, &body)
}

fn obsolete_pb(big: bool, interface: u16, caplen: u32, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u16b(interface, big));
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&u32b(0, big));
    body.extend_from_slice(&u32b(1, big));
    body.extend_from_slice(&u32b(caplen, big));
    body.extend_from_slice(&u32b(caplen, big));
    body.extend_from_slice(data);
    block(big, 2, &body)
}

use pcapframe::link::SUPPORTED;

/// Link types to try: every supported one plus some that are not.
fn any_link_type() -> impl Strategy<Value = u32> {
    prop_oneof![
        8 => prop::sample::select(SUPPORTED.to_vec()),
        1 => prop::sample::select(vec![2u32, 147, 192, 0xffff, 0xfff_ffff, u32::MAX]),
        1 => any::<u32>(),
    ]
}

/// Pieces of link, network and transport headers; a packet is a few of them in a row,
/// so that decoders get past their first checks more often than random bytes would.
fn atoms() -> Vec<Vec<u8>> {
    let mut ipv4 = vec![
        0x45, 0, 0, 60, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let ipv4_ah = {
        let mut h = ipv4.clone();
        h[9] = 51;
        h
    };
    let ipv6 = |next: u8| {
        let mut h = vec![0x60, 0, 0, 0, 0, 32, next, 64];
        h.extend_from_slice(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        h.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        h
    };
    let mut v = vec![
        vec![0; 12],      // MAC addresses
        vec![0x08, 0x00], // EtherTypes
        vec![0x86, 0xdd],
        vec![0x81, 0x00],
        vec![0x88, 0xa8],
        vec![0x91, 0x00],
        vec![0x88, 0x47],
        vec![0x88, 0x48],
        vec![0x88, 0x64],
        vec![0x00, 0x2e],                            // an 802.3 length
        vec![0x00, 0x64],                            // a VLAN TCI
        vec![0, 0, 0, 0x40],                         // MPLS label, not bottom of stack
        vec![0, 0, 1, 0x40],                         // MPLS label, bottom of stack
        vec![0, 0, 0, 0],                            // pseudowire control word
        vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00], // LLC/SNAP
        vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x86, 0xdd],
        vec![0x11, 0, 0, 1, 0, 0x20, 0x00, 0x21], // PPPoE session, IPv4
        vec![0x11, 0, 0, 1, 0, 0x20, 0x00, 0x57], // PPPoE session, IPv6
        vec![0xff, 0x03, 0x00, 0x21],             // PPP
        vec![0x21],
        vec![0x00, 0x57],
        vec![2, 0, 0, 0], // BSD loopback families
        vec![0, 0, 0, 30],
        vec![24, 0, 0, 0],
        vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00], // SLL
        vec![
            0x86, 0xdd, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ], // SLL2
        vec![0, 0, 12, 0, 0x02, 0, 0, 0, 0x20, 0, 0, 0], // radiotap with Flags (data pad)
        vec![0, 0, 8, 0, 0, 0, 0, 0],                    // radiotap, nothing present
        vec![
            0x08, 0x01, 0, 0, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ], // 802.11 data
        vec![
            0x88, 0x03, 0, 0, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 0, 0, 1, 2, 3,
            4, 5, 6, 0, 0,
        ], // QoS, 4 addresses
        vec![2, 0, 0, 0],                                // NFLOG header
        vec![8, 0, 9, 0],                                // NFLOG payload TLV (LE)
        vec![0, 8, 0, 9],                                // NFLOG payload TLV (BE)
        vec![6, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],        // AH (next TCP)
        vec![6, 0, 0, 0, 0, 0, 0, 0],                    // hop-by-hop / dest opts (next TCP)
        vec![44, 0, 0, 0, 0, 0, 0, 0],                   // ... (next fragment)
        vec![17, 0, 0, 1, 0, 0, 0, 7],                   // fragment, first, more (next UDP)
        vec![17, 0, 0x05, 0x38, 0, 0, 0, 7],             // fragment, not first
        vec![
            0x01, 0xbb, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x18, 0, 0, 0, 0, 0, 0,
        ], // TCP
        vec![0x01, 0xbb, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x18], // TCP, long offset, cut
        vec![0, 53, 0, 53, 0, 8, 0, 0],                  // UDP
        ipv4_ah,
        ipv6(0),
        ipv6(43),
        ipv6(44),
        ipv6(51),
        ipv6(60),
        ipv6(17),
        ipv6(58),
    ];
    v.push(ipv4.clone());
    ipv4[9] = 17;
    v.push(ipv4.clone());
    ipv4[6] = 0x20; // more fragments
    v.push(ipv4.clone());
    ipv4[2] = 0; // total length 0: up to the wire length
    ipv4[3] = 0;
    v.push(ipv4);
    v
}

/// A packet: a few header atoms, then arbitrary bytes; sometimes just arbitrary bytes.
fn packet_bytes(max_tail: usize) -> impl Strategy<Value = Vec<u8>> {
    let atoms = atoms();
    let built = (
        prop::collection::vec(prop::sample::select(atoms), 0..8),
        prop::collection::vec(any::<u8>(), 0..max_tail),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
    )
        .prop_map(|(parts, tail, flips)| {
            let mut v: Vec<u8> = parts.concat();
            v.extend_from_slice(&tail);
            if !v.is_empty() {
                for (at, byte) in flips {
                    let i = at.index(v.len());
                    v[i] = byte;
                }
            }
            v
        });
    prop_oneof![4 => built, 1 => prop::collection::vec(any::<u8>(), 0..max_tail)]
}

// ---------------------------------------------------------------------------------------
// 1. Arbitrary bytes behind each header kind.

fn header_for(kind: HeaderKind, snaplen: u32, link_type: u32) -> Vec<u8> {
    match kind {
        HeaderKind::Pcap { magic, big } => pcap_header(magic, big, snaplen, link_type),
        HeaderKind::Pcapng { big } => shb(big),
    }
}

#[test]
fn arbitrary_bytes_after_every_header_kind_end_cleanly() {
    let strategy = (
        0..HEADER_KINDS.len(),
        any::<u32>(),
        any_link_type(),
        prop::collection::vec(any::<u8>(), 0..1024),
        64usize..700,
        1usize..40,
        prop::sample::select(vec![
            TruncationPolicy::Raise,
            TruncationPolicy::Warn,
            TruncationPolicy::Ignore,
        ]),
    );
    runner(1024)
        .run(
            &strategy,
            |(kind, snaplen, link_type, tail, window, batch_rows, policy)| {
                let mut bytes = header_for(HEADER_KINDS[kind], snaplen, link_type);
                bytes.extend_from_slice(&tail);
                let _ = read_bytes(bytes, window, policy, batch_rows);
                Ok(())
            },
        )
        .unwrap();
}

/// A well-framed capture of `records` packets of one header kind, then `mutations`
/// overwrites (bytes or whole 32-bit words with the values length checks care about).
#[derive(Debug, Clone)]
struct Framed {
    kind: usize,
    link_type: u32,
    snaplen: u32,
    packets: Vec<(u8, Vec<u8>)>,
    mutations: Vec<(prop::sample::Index, u8, u32)>,
}

fn build_framed(f: &Framed) -> Vec<u8> {
    let kind = HEADER_KINDS[f.kind];
    match kind {
        HeaderKind::Pcap { magic, big } => {
            let mut v = pcap_header(magic, big, f.snaplen, f.link_type);
            for (i, (_, data)) in f.packets.iter().enumerate() {
                let wire = data.len() as u32 + (i as u32 % 3) * 100;
                v.extend_from_slice(&pcap_record(
                    magic,
                    big,
                    i as u32,
                    data.len() as u32,
                    wire,
                    data,
                ));
            }
            v
        }
        HeaderKind::Pcapng { big } => {
            let mut v = shb(big);
            // Interface 0 with the link type and, for variety, a time resolution option.
            let mut options = Vec::new();
            options.extend_from_slice(&u16b(9, big));
            options.extend_from_slice(&u16b(1, big));
            options.extend_from_slice(&[(f.snaplen & 0xff) as u8, 0, 0, 0, 0, 0, 0, 0]);
            v.extend_from_slice(&idb(big, f.link_type as u16, f.snaplen % 70_000, &options));
            v.extend_from_slice(&idb(big, linktype::RAW as u16, 0, &[]));
            for (i, (choice, data)) in f.packets.iter().enumerate() {
                let len = data.len() as u32;
                v.extend_from_slice(&match choice % 5 {
                    0 | 1 => epb(big, 0, len, len + 4, data),
                    2 => spb(big, len, data),
                    3 => obsolete_pb(big, 1, len, data),
                    // A block of a type the reader skips.
                    _ => block(big, 0x0000_0bad + i as u32, data),
                });
            }
            v
        }
    }
}

fn framed_strategy() -> impl Strategy<Value = Framed> {
    (
        0..HEADER_KINDS.len(),
        any_link_type(),
        prop_oneof![Just(65_535u32), Just(0), Just(u32::MAX), any::<u32>()],
        prop::collection::vec((any::<u8>(), packet_bytes(120)), 0..10),
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                any::<u8>(),
                prop::sample::select(vec![
                    0u32,
                    1,
                    11,
                    12,
                    0xffff_ffff,
                    0x7fff_ffff,
                    0xffff_fff0,
                    0x8000_0000,
                    0x0100_0001,
                ]),
            ),
            0..4,
        ),
    )
        .prop_map(|(kind, link_type, snaplen, packets, mutations)| Framed {
            kind,
            link_type,
            snaplen,
            packets,
            mutations,
        })
}

#[test]
fn framed_records_with_arbitrary_contents_then_mutated() {
    let strategy = (framed_strategy(), 64usize..512, 1usize..9);
    runner(1024)
        .run(&strategy, |(framed, window, batch_rows)| {
            let mut bytes = build_framed(&framed);
            let header = match HEADER_KINDS[framed.kind] {
                HeaderKind::Pcap { .. } => 24,
                HeaderKind::Pcapng { .. } => 0,
            };
            // Unmutated, the generator's capture reads whole: every record, no error.
            let clean =
                read_bytes(bytes.clone(), window, TruncationPolicy::Raise, batch_rows).unwrap();
            assert!(clean.error.is_none(), "{:?}", clean.error);
            assert!(clean.truncated.is_none());
            let expected = framed
                .packets
                .iter()
                .filter(|(c, _)| header == 24 || c % 5 != 4)
                .count() as u64;
            prop_assert_eq!(clean.packets, expected);

            for (at, byte, word) in &framed.mutations {
                let i = at.index(bytes.len());
                if byte & 1 == 0 {
                    bytes[i] = *byte;
                } else {
                    let i = i & !3;
                    let end = (i + 4).min(bytes.len());
                    let big = byte & 2 != 0;
                    bytes[i..end].copy_from_slice(&u32b(*word, big)[..end - i]);
                }
            }
            let _ = read_bytes(bytes, window, TruncationPolicy::Raise, batch_rows);
            Ok(())
        })
        .unwrap();
}

/// The packet table with the flow columns (`LabeledPacketReader`) against the plain read
/// of the same bytes: exactly its rows and per-packet values, each row placed in a flow
/// whose id is its first row's frame, and the same flows as the flow table's. A payload
/// cannot hide a row from the flow columns, nor move a row into a flow it does not open.
/// Returns the rows and flows seen.
fn check_labeled(
    bytes: Arc<Vec<u8>>,
    window: usize,
    batch_rows: usize,
    short_timeouts: bool,
) -> (u64, usize) {
    use pcapframe::column::Column;
    use pcapframe::flow::{FlowReader, LabeledPacketReader, OpenInput, Timeouts};
    use std::collections::{BTreeMap, BTreeSet};

    let input = {
        let bytes = bytes.clone();
        OpenInput::Opener(Arc::new(move || {
            let source = Box::new(Cursor::new(bytes.as_ref().clone()));
            pcapframe::format::RecordReader::new(ByteWindow::with_capacity(source, window), None)
        }))
    };
    let plain = options(TruncationPolicy::Ignore, batch_rows);
    let mut labeled = plain.clone();
    let mut columns = plain.columns.clone().unwrap();
    columns.extend([Column::FlowId, Column::Direction]);
    labeled.columns = Some(columns);
    let timeouts = if short_timeouts {
        Timeouts {
            idle_ns: Some(1_000),
            active_ns: Some(2_000_000),
        }
    } else {
        Timeouts {
            idle_ns: None,
            active_ns: None,
        }
    };
    let plain_batches = PacketReader::from_window(
        ByteWindow::with_capacity(Box::new(Cursor::new(bytes.as_ref().clone())), window),
        plain.clone(),
    )
    .and_then(|reader| reader.collect::<Result<Vec<_>, _>>());
    let labeled_batches = LabeledPacketReader::new(vec![input.clone()], labeled, timeouts, 1)
        .and_then(|reader| reader.collect::<Result<Vec<_>, _>>());
    let (plain_batches, labeled_batches) = match (plain_batches, labeled_batches) {
        (Ok(p), Ok(l)) => (p, l),
        (Err(p), Err(l)) => {
            assert_eq!(p.kind, l.kind);
            return (0, 0);
        }
        (p, l) => panic!("one read failed: {:?} / {:?}", p.err(), l.err()),
    };
    assert_eq!(plain_batches.len(), labeled_batches.len());
    let mut first_frame: BTreeMap<u64, u64> = BTreeMap::new();
    let mut rows = 0;
    for (p, l) in plain_batches.iter().zip(&labeled_batches) {
        let shared: Vec<usize> = (0..p.num_columns()).collect();
        assert_eq!(p, &l.project(&shared).unwrap());
        let frames = l.column_by_name("frame").unwrap();
        let frames = frames
            .as_any()
            .downcast_ref::<arrow_array::UInt64Array>()
            .unwrap();
        let ids = l.column_by_name("flow_id").unwrap();
        let ids = ids
            .as_any()
            .downcast_ref::<arrow_array::UInt64Array>()
            .unwrap();
        for (frame, id) in frames.values().iter().zip(ids.values()) {
            first_frame.entry(*id).or_insert(*frame);
            rows += 1;
        }
    }
    // A flow's id is the frame of its first packet, which is its first row.
    for (id, frame) in &first_frame {
        assert_eq!(id, frame);
    }
    // The flows the rows are placed in are the flow table's.
    let mut flow_reader = FlowReader::new(vec![input], plain, timeouts).unwrap();
    let mut ids = BTreeSet::new();
    while let Some(flows) = flow_reader.next_flows().unwrap() {
        ids.extend(flows.iter().map(|f| f.id));
    }
    assert_eq!(ids, first_frame.keys().copied().collect::<BTreeSet<_>>());
    (rows, first_frame.len())
}

#[test]
fn labeled_reads_place_every_row_of_the_plain_read() {
    let strategy = (framed_strategy(), 64usize..512, 1usize..9, any::<bool>());
    runner(256)
        .run(&strategy, |(framed, window, batch_rows, short_timeouts)| {
            let mut bytes = build_framed(&framed);
            for (at, byte, _) in &framed.mutations {
                let i = at.index(bytes.len());
                bytes[i] = *byte;
            }
            check_labeled(Arc::new(bytes), window, batch_rows, short_timeouts);
            Ok(())
        })
        .unwrap();
    // Real traffic, with bytes changed at random: many rows in each flow.
    let (mut rows, mut flows) = (0, 0);
    for (i, (_, bytes)) in corpus().into_iter().enumerate() {
        let mut rng = Rng(i as u64);
        for round in 0..3 {
            let mut bytes = bytes.clone();
            for _ in 0..round * 4 {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next() as u8;
            }
            let (r, f) = check_labeled(Arc::new(bytes), 4096, 1 + rng.below(100), round == 1);
            rows += r;
            flows += f;
        }
    }
    // Not vacuous: flows of many rows.
    assert!(
        rows > 10_000 && flows > 1_000 && rows > 2 * flows as u64,
        "{rows} rows, {flows} flows"
    );
}

// ---------------------------------------------------------------------------------------
// 2. link::decode and ip::decode on arbitrary bytes.

fn check_decode(link_type: u32, data: &[u8], wire_len: u32) {
    match link::decode(link_type, data) {
        Link::Unsupported => assert!(
            !link::is_supported(link_type),
            "link type {link_type} is supported"
        ),
        Link::NotIp => assert!(link::is_supported(link_type)),
        Link::Ip(info) => {
            assert!(link::is_supported(link_type));
            if let Some(eth) = info.ethernet_offset {
                assert!(
                    eth + 14 <= info.ip_offset,
                    "Ethernet at {eth}, IP at {}",
                    info.ip_offset
                );
            }
            if let Some(p) = ip::decode(data, &info, wire_len) {
                assert!(
                    info.ip_offset < data.len(),
                    "an IP packet from beyond the data"
                );
                assert!(
                    p.payload.start <= p.payload.end && p.payload.end <= data.len(),
                    "payload {:?} outside {} captured bytes",
                    p.payload,
                    data.len()
                );
                assert!(p.transport_offset >= info.ip_offset + 20);
                // Ports come from captured bytes only, and only for TCP and UDP.
                if p.src_port.is_some() {
                    assert!(matches!(p.protocol, ip_protocol::TCP | ip_protocol::UDP));
                    assert!(p.transport_offset + 4 <= data.len());
                }
                assert!(p.chain.contains(p.protocol) && p.chain.contains(p.ip_proto));
            }
        }
    }
}

#[test]
fn link_and_ip_decode_take_arbitrary_bytes() {
    let strategy = (any_link_type(), packet_bytes(200), any::<u32>());
    runner(16384)
        .run(&strategy, |(link_type, data, wire_len)| {
            check_decode(link_type, &data, wire_len);
            check_decode(link_type, &data, data.len() as u32);
            Ok(())
        })
        .unwrap();
}

#[test]
fn link_and_ip_decode_take_every_short_frame() {
    // Every length up to 96 of a few fills, for every link type: all the "is there a
    // next byte" edges of every decoder.
    let mut fills: Vec<Vec<u8>> = vec![vec![0; 96], vec![0xff; 96], (0..96u8).collect()];
    for atom in atoms() {
        let mut v = atom.repeat(96 / atom.len() + 1);
        v.truncate(96);
        fills.push(v);
    }
    for link_type in SUPPORTED.iter().copied().chain([2, 147, u32::MAX]) {
        for fill in &fills {
            for len in 0..=fill.len() {
                check_decode(link_type, &fill[..len], len as u32);
                check_decode(link_type, &fill[..len], 0);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// 3. The corpus: an independent framing of each capture, then cuts and mutations.

fn corpus_dir() -> PathBuf {
    match std::env::var_os("INTAKE_PCAP_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    }
}

/// (file name, decompressed bytes) of every capture in the corpus.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir();
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus at {} unreadable: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let raw = std::fs::read(&path).unwrap();
        let bytes = if name.ends_with(".pcap.gz") || name.ends_with(".pcapng.gz") {
            let mut v = Vec::new();
            MultiGzDecoder::new(Cursor::new(raw))
                .read_to_end(&mut v)
                .unwrap();
            v
        } else if name.ends_with(".pcap") || name.ends_with(".pcapng") {
            raw
        } else {
            continue;
        };
        out.push((name, bytes));
    }
    assert!(
        out.len() >= 40,
        "only {} captures in {}",
        out.len(),
        dir.display()
    );
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnitKind {
    PcapHeader,
    PcapRecord,
    Shb,
    Idb,
    /// EPB, SPB or obsolete PB: one packet record.
    Packet(u32),
    OtherBlock,
}

/// One framing unit: the file header, a pcap record or a pcapng block.
#[derive(Debug, Clone, Copy)]
struct Unit {
    kind: UnitKind,
    start: usize,
    /// May lie beyond the file for a capture that is already cut short.
    end: usize,
    big: bool,
}

impl Unit {
    fn is_packet(&self) -> bool {
        matches!(self.kind, UnitKind::PcapRecord | UnitKind::Packet(_))
    }
}

/// Frame a capture without the crate: where each record or block starts and ends.
fn frame(bytes: &[u8]) -> Vec<Unit> {
    let le = u32::from_le_bytes(bytes[..4].try_into().unwrap());
    let be = u32::from_be_bytes(bytes[..4].try_into().unwrap());
    let rd = |at: usize, big: bool| -> usize {
        let b: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
        (if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }) as usize
    };
    let mut units = Vec::new();
    if le == 0x0a0d_0d0a {
        let mut at = 0;
        let mut big = false;
        while at + 12 <= bytes.len() {
            let raw_type = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
            if raw_type == 0x0a0d_0d0a {
                big = bytes[at + 8..at + 12] == [0x1a, 0x2b, 0x3c, 0x4d];
            }
            let kind = match rd(at, big) as u32 {
                0x0a0d_0d0a => UnitKind::Shb,
                1 => UnitKind::Idb,
                t @ (2 | 3 | 6) => UnitKind::Packet(t),
                _ => UnitKind::OtherBlock,
            };
            let len = rd(at + 4, big);
            assert!(
                len >= 12 && len % 4 == 0,
                "corpus block at {at} of length {len}"
            );
            units.push(Unit {
                kind,
                start: at,
                end: at + len,
                big,
            });
            at += len;
        }
        if at < bytes.len() {
            // Cut inside a block header: its length is unknown; it ends beyond the file.
            units.push(Unit {
                kind: UnitKind::OtherBlock,
                start: at,
                end: usize::MAX,
                big,
            });
        }
    } else {
        let big = be & 0xffff_0000 == 0xa1b2_0000;
        assert!(
            big || le & 0xffff_0000 == 0xa1b2_0000,
            "corpus file is neither pcap nor pcapng"
        );
        let magic = if big { be } else { le };
        let hlen = if magic == MAGIC_MODIFIED { 24 } else { 16 };
        units.push(Unit {
            kind: UnitKind::PcapHeader,
            start: 0,
            end: 24,
            big,
        });
        let mut at = 24;
        while at < bytes.len() {
            let end = if at + hlen <= bytes.len() {
                at + hlen + rd(at + 8, big)
            } else {
                usize::MAX
            };
            units.push(Unit {
                kind: UnitKind::PcapRecord,
                start: at,
                end,
                big,
            });
            at = end;
        }
    }
    units
}

/// For each packet unit in order: whether the reader makes a row of it (IP, decodable).
fn row_flags(name: &str, bytes: &[u8]) -> Vec<bool> {
    let window = ByteWindow::with_capacity(Box::new(Cursor::new(bytes.to_vec())), 1 << 16);
    let mut records = RecordReader::new(window, None).unwrap();
    let mut flags = Vec::new();
    loop {
        match records.next_record() {
            Ok(Some(r)) => flags.push(match link::decode(r.link_type, r.data) {
                Link::Ip(info) => ip::decode(r.data, &info, r.wire_len).is_some(),
                _ => false,
            }),
            Ok(None) => break,
            Err(e) if e.kind == ErrorKind::Truncated => break,
            Err(e) => panic!("{name}: {e}"),
        }
    }
    flags
}

/// A capture taken apart: its bytes, its units and which packets make rows.
struct Capture {
    name: String,
    bytes: Vec<u8>,
    units: Vec<Unit>,
    rows: Vec<bool>,
    /// Packet units among `units[..k]`, for every k.
    packets_before: Vec<usize>,
    /// pcapng: the last section header among `units[..k]`, for every k.
    section_before: Vec<usize>,
    /// pcapng: indexes of the interface description blocks.
    interfaces: Vec<usize>,
}

impl Capture {
    fn new(name: String, bytes: Vec<u8>) -> Capture {
        let units = frame(&bytes);
        let rows = row_flags(&name, &bytes);
        let packets = units
            .iter()
            .filter(|u| u.is_packet() && u.end <= bytes.len())
            .count();
        assert_eq!(
            rows.len(),
            packets,
            "{name}: the crate reads {} packets, the framing here {packets}",
            rows.len()
        );
        let mut packets_before = vec![0];
        for u in &units {
            packets_before.push(packets_before.last().unwrap() + u.is_packet() as usize);
        }
        let mut section_before = vec![0];
        for (i, u) in units.iter().enumerate() {
            section_before.push(if u.kind == UnitKind::Shb {
                i
            } else {
                *section_before.last().unwrap()
            });
        }
        let interfaces = (0..units.len())
            .filter(|&i| units[i].kind == UnitKind::Idb)
            .collect();
        Capture {
            name,
            bytes,
            units,
            rows,
            packets_before,
            section_before,
            interfaces,
        }
    }

    fn is_pcap(&self) -> bool {
        self.units[0].kind == UnitKind::PcapHeader
    }

    /// What the reader must hold to read from unit `k` on as it would from the file's
    /// start: the pcap file header, or the pcapng section header and interfaces in force.
    fn context(&self, k: usize) -> Vec<u8> {
        if k == 0 {
            return Vec::new();
        }
        if self.is_pcap() {
            return self.bytes[..24].to_vec();
        }
        let section = self.section_before[k];
        let mut v = self.bytes[self.units[section].start..self.units[section].end].to_vec();
        let first = self.interfaces.partition_point(|&i| i < section);
        for &i in self.interfaces[first..].iter().take_while(|&&i| i < k) {
            v.extend_from_slice(&self.bytes[self.units[i].start..self.units[i].end]);
        }
        v
    }

    fn packets_before(&self, k: usize) -> usize {
        self.packets_before[k]
    }

    /// Read the context of unit `k` plus the file's bytes from unit `k` up to `cut`, with
    /// `policy`, and check the result against the framing: complete packets before the cut
    /// are read, a cut inside a unit is a truncation at that unit's start, a cut on a unit
    /// boundary is a clean end.
    fn check_cut(&self, k: usize, cut: usize, policy: TruncationPolicy, window: usize) {
        let context = self.context(k);
        let base = self.units[k].start;
        let mut input = context.clone();
        input.extend_from_slice(&self.bytes[base..cut]);
        let shift = |offset: usize| (context.len() + offset - base) as u64;
        let what = format!("{} cut at {cut} (from unit {k}, {policy:?})", self.name);

        // Units are contiguous: those complete before the cut are a run from `k`.
        let done = (k..self.units.len())
            .find(|&j| self.units[j].end > cut)
            .unwrap_or(self.units.len());
        let first_packet = self.packets_before(k);
        let packets = self.packets_before(done) - first_packet;
        let rows = self.rows[first_packet..first_packet + packets]
            .iter()
            .filter(|&&r| r)
            .count() as u64;
        let on_boundary = cut == base || (done > k && self.units[done - 1].end == cut);
        let cut_unit = (done < self.units.len()).then_some(done);

        let result = read_bytes(input.clone(), window, policy, 7);
        // Too short to tell what the file is.
        if k == 0 && cut < 4 {
            let e = result.unwrap_err();
            assert_eq!(e.kind, ErrorKind::NotACapture, "{what}: {e}");
            return;
        }
        // A pcap file header cut short: refused whatever the policy.
        if k == 0 && self.is_pcap() && cut < 24 {
            let e = result.unwrap_err();
            assert_eq!(
                (e.kind, e.offset),
                (ErrorKind::Truncated, Some(0)),
                "{what}: {e}"
            );
            return;
        }
        let out = result.unwrap_or_else(|e| panic!("{what}: header refused: {e}"));
        if on_boundary {
            assert!(
                out.error.is_none() && out.truncated.is_none(),
                "{what}: {out:?}"
            );
        } else if policy == TruncationPolicy::Raise {
            let e = out
                .error
                .as_ref()
                .unwrap_or_else(|| panic!("{what}: no error"));
            let at = self.units[cut_unit.unwrap()].start;
            assert_eq!(
                (e.kind, e.offset),
                (ErrorKind::Truncated, Some(shift(at))),
                "{what}: {e}"
            );
            // Raise may drop the rows of the batch in progress: never more than complete.
            assert!(
                out.packets <= packets as u64 && out.rows <= rows,
                "{what}: {out:?}"
            );
            return;
        } else {
            assert!(out.error.is_none(), "{what}: {:?}", out.error);
            let message = out
                .truncated
                .as_ref()
                .unwrap_or_else(|| panic!("{what}: truncation not reported"));
            let at = self.units[cut_unit.unwrap()].start;
            assert!(
                message.contains(&format!("at byte offset {}", shift(at))),
                "{what}: {message}"
            );
        }
        assert_eq!((out.packets, out.rows), (packets as u64, rows), "{what}");
    }

    /// The unit that holds byte `at` (a boundary belongs to the unit it starts).
    fn unit_at(&self, at: usize) -> usize {
        self.units
            .partition_point(|u| u.start <= at)
            .saturating_sub(1)
    }
}

fn corpus_captures() -> Vec<Capture> {
    corpus()
        .into_iter()
        .map(|(name, bytes)| Capture::new(name, bytes))
        .collect()
}

/// Captures larger than this are cut at a dense sample of offsets rather than all.
const EVERY_OFFSET_UP_TO: usize = 64 << 10;

#[test]
fn corpus_cut_at_every_offset_keeps_complete_packets() {
    let exhaustive = std::env::var_os("PCAPFRAME_EXHAUSTIVE").is_some();
    let captures = corpus_captures();
    within("cuts", 600, move || {
        let started = std::time::Instant::now();
        let mut checked = 0usize;
        for cap in &captures {
            let len = cap.bytes.len();
            let mut rng = Rng(len as u64);
            let cuts: Vec<usize> = if exhaustive || len <= EVERY_OFFSET_UP_TO {
                (0..=len).collect()
            } else {
                // Every offset of the first 64 KiB; then every offset within 16 bytes of one
                // unit boundary in four (block headers, trailers, record headers), and one
                // offset in 32 elsewhere.
                let mut v: Vec<usize> = (0..=len)
                    .filter(|&c| c < EVERY_OFFSET_UP_TO || c % 32 == 5)
                    .collect();
                for u in cap.units.iter().filter(|_| rng.below(4) == 0) {
                    v.extend(u.start.saturating_sub(16)..(u.start + 16).min(len + 1));
                }
                v.sort_unstable();
                v.dedup();
                v
            };
            for &cut in &cuts {
                // Read from a unit or two before the cut (with the header context) so that
                // each cut costs a few records, not the whole file before it.
                let j = cap.unit_at(cut);
                let k = j.saturating_sub(1 + rng.below(2));
                let k = if k > 0 && k < 3 { 0 } else { k };
                let window = 64 + rng.below(400);
                cap.check_cut(k, cut, TruncationPolicy::Warn, window);
                if cut % 3 == 0 || cut < cap.units[j].start + 24 || cut + 8 > cap.units[j].end {
                    cap.check_cut(k, cut, TruncationPolicy::Raise, window);
                }
                checked += 1;
            }
            // The literal file cut short, read from its start, at a sample of offsets.
            for _ in 0..40 {
                let cut = rng.below(len + 1);
                cap.check_cut(0, cut, TruncationPolicy::Warn, 4096);
                cap.check_cut(0, cut, TruncationPolicy::Raise, 4096);
            }
        }
        eprintln!(
            "checked {checked} cuts of {} captures in {:?}",
            captures.len(),
            started.elapsed()
        );
    });
}

#[test]
fn corpus_reads_whole_through_any_window_size() {
    // The full read agrees with the framing for every window size, including windows
    // smaller than one record (the window grows, and only as far as a record needs).
    for cap in corpus_captures() {
        let mut rng = Rng(7);
        for window in [64, 100 + rng.below(1000), 1 << 16] {
            cap.check_cut(0, cap.bytes.len(), TruncationPolicy::Warn, window);
        }
    }
}

#[test]
fn corpus_gzip_cut_at_every_offset_is_a_truncation() {
    // A .pcap.gz cut short (a capture piped through gzip and killed) must keep the packets
    // decompressed before the cut and report a truncation, not an I/O error.
    for name in [
        "pcap_gz_ether_http_download.pcap.gz",
        "pcapng_gz_ether_http.pcapng.gz",
    ] {
        let raw = std::fs::read(corpus_dir().join(name)).unwrap();
        let full = {
            let window = ByteWindow::with_capacity(
                Box::new(MultiGzDecoder::new(Cursor::new(raw.clone()))),
                4096,
            );
            drain(
                PacketReader::from_window(window, options(TruncationPolicy::Raise, 64)).unwrap(),
                usize::MAX / 2,
                64,
            )
        };
        assert!(
            full.error.is_none() && full.truncated.is_none() && full.rows > 0,
            "{name}: {full:?}"
        );
        let mut last_rows = 0;
        let step = if raw.len() > 2000 { 3 } else { 1 };
        for cut in (0..raw.len()).step_by(step) {
            let read = |policy| {
                let gz = MultiGzDecoder::new(Cursor::new(raw[..cut].to_vec()));
                let window = ByteWindow::with_capacity(Box::new(gz), 4096);
                PacketReader::from_window(window, options(policy, 64))
                    .map(|r| drain(r, usize::MAX / 2, 64))
            };
            match read(TruncationPolicy::Warn) {
                Err(e) => {
                    assert_eq!(
                        (e.kind, e.offset),
                        (ErrorKind::Truncated, Some(0)),
                        "{name} cut at {cut}: {e}"
                    );
                    assert_eq!(last_rows, 0, "{name} cut at {cut}");
                }
                Ok(out) => {
                    assert!(out.error.is_none(), "{name} cut at {cut}: {:?}", out.error);
                    assert!(
                        out.truncated.is_some(),
                        "{name} cut at {cut}: truncation not reported"
                    );
                    assert!(
                        out.rows >= last_rows && out.rows <= full.rows,
                        "{name} cut at {cut}: {out:?}"
                    );
                    last_rows = out.rows;
                    if cut % 30 == 0 {
                        let raised = read(TruncationPolicy::Raise).unwrap();
                        let e = raised.error.expect("Raise ends with an error");
                        assert_eq!(e.kind, ErrorKind::Truncated, "{name} cut at {cut}: {e}");
                    }
                }
            }
        }
        assert!(
            last_rows > full.rows / 2,
            "{name}: {last_rows} of {} rows before the end",
            full.rows
        );
    }
}

#[test]
fn truncated_gzip_file_opened_by_path_keeps_its_packets() {
    // The same through `PacketReader::open` (gzip detected from the magic bytes).
    let raw = std::fs::read(corpus_dir().join("pcap_gz_ether_http_download.pcap.gz")).unwrap();
    let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("robustness-cut-{}.pcap.gz", std::process::id()));
    std::fs::write(&path, &raw[..raw.len() - 100]).unwrap();
    let warn = PacketReader::open(&path, ReadOptions::default()).unwrap();
    let out = drain_default(warn);
    assert!(out.rows > 200, "{out:?}");
    let message = out.truncated.expect("truncation reported");
    assert!(
        message.contains("robustness-cut") && message.contains("compressed stream ends early"),
        "{message}"
    );
    let raise = PacketReader::open(
        &path,
        ReadOptions {
            errors: TruncationPolicy::Raise,
            ..ReadOptions::default()
        },
    );
    let err = raise.unwrap().find_map(|b| b.err()).expect("an error");
    assert_eq!(err.kind, ErrorKind::Truncated, "{err}");
    assert!(err.offset.is_some() && err.path.is_some(), "{err:?}");
    std::fs::remove_file(&path).unwrap();
}

fn drain_default(reader: PacketReader) -> Outcome {
    let batch_rows = pcapframe::batch::DEFAULT_BATCH_ROWS;
    drain(reader, usize::MAX / 2, batch_rows)
}

#[test]
fn corpus_with_flipped_bytes_never_panics_or_hangs() {
    let captures = corpus_captures();
    within("flips", 300, move || {
        let mut rng = Rng(0x5eed);
        let mut errors = 0;
        for cap in &captures {
            // Fewer mutants of the big captures: each one is read whole.
            let mutants = (4_000_000 / cap.bytes.len().max(1)).clamp(4, 250);
            for _ in 0..mutants {
                let mut bytes = cap.bytes.clone();
                for _ in 0..1 + rng.below(8) {
                    // Mostly in the first units, where the framing state is set up.
                    let at = if rng.below(2) == 0 {
                        rng.below(bytes.len().min(256))
                    } else {
                        rng.below(bytes.len())
                    };
                    bytes[at] ^= 1 << rng.below(8);
                    if rng.below(4) == 0 {
                        bytes[at] = rng.next() as u8;
                    }
                }
                let policy = if rng.below(2) == 0 {
                    TruncationPolicy::Raise
                } else {
                    TruncationPolicy::Warn
                };
                if let Ok(out) = read_bytes(bytes, 64 + rng.below(2000), policy, 1 + rng.below(500))
                {
                    errors += out.error.is_some() as usize;
                }
            }
        }
        assert!(
            errors > 0,
            "no mutant was refused: are the mutations landing?"
        );
    });
}

fn put_u32(bytes: &mut [u8], at: usize, v: u32, big: bool) {
    bytes[at..at + 4].copy_from_slice(&u32b(v, big));
}

/// Overwrite the length fields of every unit (a sample of the big captures' units) with
/// values that cannot be right, and check the error kind and offset where they are sure.
#[test]
fn corpus_with_impossible_length_fields_is_corrupt_at_that_unit() {
    const WILD: [u32; 9] = [
        0,
        1,
        4,
        0xffff_ffff,
        0xffff_fffc,
        0x7fff_ffff,
        0xffff_fff0,
        0x8000_0000,
        0x0110_0004,
    ];
    let captures = corpus_captures();
    within("lengths", 300, move || {
        let mut rng = Rng(42);
        for cap in &captures {
            let len = cap.bytes.len();
            let per_file = 60;
            let picks: Vec<usize> = if cap.units.len() <= per_file {
                (0..cap.units.len()).collect()
            } else {
                (0..per_file).map(|_| rng.below(cap.units.len())).collect()
            };
            for j in picks {
                let u = cap.units[j];
                if u.end > len {
                    continue;
                }
                // Read from a unit or two before, as in the cut test.
                let k = j.saturating_sub(2);
                let k = if k > 0 && k < 3 { 0 } else { k };
                let first_packet = cap.packets_before(k);
                let packets_before = cap.packets_before(j) - first_packet;
                // The context, units k..j and a few after: the read costs a few records.
                let context = cap.context(k);
                let stop = cap.units[(j + 3).min(cap.units.len() - 1)].end.min(len);
                let mut original = context.clone();
                original.extend_from_slice(&cap.bytes[cap.units[k].start..stop]);
                let pos = |at: usize| context.len() + at - cap.units[k].start;
                let check = |bytes: Vec<u8>, field: &str, value: u32, corrupt: bool| {
                    let shift = pos(u.start) as u64;
                    let what = format!(
                        "{}: unit {j} at {}, {field} = {value:#x}",
                        cap.name, u.start
                    );
                    let out =
                        match read_bytes(bytes, 256 + (j * 37) % 900, TruncationPolicy::Raise, 5) {
                            Ok(out) => out,
                            Err(e) => {
                                assert!(
                                    !corrupt
                                        || (e.kind, e.offset) == (ErrorKind::Corrupt, Some(shift)),
                                    "{what}: {e}"
                                );
                                return;
                            }
                        };
                    if corrupt {
                        let e = out
                            .error
                            .as_ref()
                            .unwrap_or_else(|| panic!("{what}: read without error"));
                        assert_eq!(
                            (e.kind, e.offset),
                            (ErrorKind::Corrupt, Some(shift)),
                            "{what}: {e}"
                        );
                        assert_eq!(out.packets, packets_before as u64, "{what}: {out:?}");
                    }
                };
                let with = |at: usize, v: u32| {
                    let mut b = original.clone();
                    put_u32(&mut b, pos(at), v, u.big);
                    b
                };
                match u.kind {
                    UnitKind::PcapHeader => {
                        // Snaplen and link type: any value reads (records are still capped).
                        for v in WILD {
                            for at in [16, 20] {
                                let b = with(at, v);
                                check(b, "header field", v, false);
                            }
                        }
                    }
                    UnitKind::PcapRecord => {
                        for v in WILD {
                            let b = with(u.start + 8, v);
                            // Beyond the cap whatever the snaplen says: corrupt, right there.
                            check(b, "caplen", v, v > MAX_CAPLEN);
                            let b = with(u.start + 12, v);
                            check(b, "wire length", v, false);
                        }
                    }
                    _ => {
                        let body_len = u.end - u.start - 12;
                        for v in WILD
                            .iter()
                            .copied()
                            .chain([(u.end - u.start) as u32 + 4, 12, 8])
                        {
                            // The leading length: impossible values are corrupt at the block.
                            let b = with(u.start + 4, v);
                            let impossible = v < 12 || v % 4 != 0 || v > MAX_CAPLEN + (1 << 20);
                            check(b, "block length", v, impossible);
                            // The trailing length disagreeing with the leading one.
                            if v as usize != u.end - u.start {
                                let b = with(u.end - 4, v);
                                check(b, "trailing block length", v, true);
                            }
                        }
                        if let UnitKind::Packet(t) = u.kind {
                            if t != 3 {
                                // EPB / PB captured length: beyond the block is corrupt.
                                let room = body_len as u32 - 20;
                                for v in [room + 1, room + 4, 0x7fff_ffff, 0xffff_fff0, 0xffff_ffff]
                                {
                                    let b = with(u.start + 20, v);
                                    check(b, "packet caplen", v, true);
                                }
                                let b = with(u.start + 20, 0);
                                check(b, "packet caplen", 0, false);
                            } else {
                                // SPB original length: the block bounds what is read.
                                for v in WILD {
                                    let b = with(u.start + 8, v);
                                    check(b, "SPB length", v, false);
                                }
                            }
                        }
                        if u.kind == UnitKind::Idb {
                            for v in WILD {
                                let b = with(u.start + 12, v);
                                check(b, "IDB snaplen", v, false);
                            }
                        }
                    }
                }
            }
        }
    });
}

// ---------------------------------------------------------------------------------------
// 4. Impossible lengths do not allocate.

/// A reader that remembers the largest buffer it was asked to fill: the window's size.
struct Spy {
    inner: Cursor<Vec<u8>>,
    largest: Arc<AtomicUsize>,
}

impl Read for Spy {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.largest.fetch_max(out.len(), Ordering::Relaxed);
        self.inner.read(out)
    }
}

/// Read `bytes` through a 4 KiB window; the outcome, the largest single allocation and
/// the largest buffer the window asked its source to fill.
fn read_measured(bytes: Vec<u8>) -> (Result<Outcome, Error>, usize, usize) {
    let largest_read = Arc::new(AtomicUsize::new(0));
    let spy = Spy {
        inner: Cursor::new(bytes.clone()),
        largest: largest_read.clone(),
    };
    let len = bytes.len();
    drop(bytes);
    let (out, largest_alloc) = largest_allocation_during(|| {
        let window = ByteWindow::with_capacity(Box::new(spy), 4096);
        PacketReader::from_window(window, options(TruncationPolicy::Raise, 16))
            .map(|r| drain(r, len, 16))
    });
    (out, largest_alloc, largest_read.load(Ordering::Relaxed))
}

#[test]
fn impossible_lengths_are_refused_before_any_allocation() {
    // A full batch of 16 rows, the reader and a 4 KiB window need far less than this.
    const SMALL: usize = 256 << 10;
    let data = [0x45u8; 60];
    for kind in HEADER_KINDS {
        for caplen in [0xffff_fff0u32, 0xffff_ffff, 0x7fff_ffff, MAX_CAPLEN + 1] {
            // Two good records, then one whose length cannot be right.
            let (bytes, bad_at) = match kind {
                HeaderKind::Pcap { magic, big } => {
                    let mut v = pcap_header(magic, big, u32::MAX, linktype::RAW);
                    for i in 0..2 {
                        v.extend_from_slice(&pcap_record(magic, big, i, 60, 60, &data));
                    }
                    let at = v.len();
                    v.extend_from_slice(&pcap_record(magic, big, 9, caplen, 60, &data));
                    (v, at)
                }
                HeaderKind::Pcapng { big } => {
                    let mut v = shb(big);
                    v.extend_from_slice(&idb(big, linktype::RAW as u16, 0, &[]));
                    for _ in 0..2 {
                        v.extend_from_slice(&epb(big, 0, 60, 60, &data));
                    }
                    let at = v.len();
                    // An EPB whose captured length exceeds its block...
                    v.extend_from_slice(&epb(big, 0, caplen, 60, &data));
                    (v, at)
                }
            };
            let (out, alloc, window) = read_measured(bytes.clone());
            let out = out.unwrap();
            let e = out.error.expect("an error");
            assert_eq!(
                (e.kind, e.offset),
                (ErrorKind::Corrupt, Some(bad_at as u64)),
                "{kind:?} {caplen:#x}: {e}"
            );
            assert_eq!(out.packets, 2);
            assert!(
                alloc < SMALL,
                "{kind:?} {caplen:#x}: an allocation of {alloc} bytes"
            );
            assert!(
                window <= 4096,
                "{kind:?} {caplen:#x}: the window grew to {window} bytes"
            );
        }
        if let HeaderKind::Pcapng { big } = kind {
            // ... and a block whose own length is 4 GiB (or any impossible value).
            let mut good = shb(big);
            good.extend_from_slice(&idb(big, linktype::RAW as u16, 0, &[]));
            good.extend_from_slice(&epb(big, 0, 60, 60, &data));
            let bad_at = good.len();
            for total in [
                0xffff_fff0u32,
                0xffff_fffc,
                0xffff_ffff,
                0x7fff_fffc,
                0x8000_0000,
                MAX_CAPLEN + (1 << 20) + 4,
            ] {
                let mut v = good.clone();
                v.extend_from_slice(&u32b(6, big));
                v.extend_from_slice(&u32b(total, big));
                v.extend_from_slice(&[0; 64]);
                let (out, alloc, window) = read_measured(v);
                let e = out.unwrap().error.expect("an error");
                assert_eq!(
                    (e.kind, e.offset),
                    (ErrorKind::Corrupt, Some(bad_at as u64)),
                    "{e}"
                );
                assert!(e.message.contains("length"), "{e}");
                assert!(alloc < SMALL && window <= 4096, "{alloc} {window}");
            }
        }
    }
}

#[test]
fn a_large_but_possible_length_in_a_short_file_allocates_at_most_the_cap() {
    // A record of MAX_CAPLEN bytes is allowed (snaplen u32::MAX), so the window grows to
    // hold it before finding the file too short: bounded by the cap (the window rounds
    // up to a power of two), never by the file's claim beyond it.
    let mut v = pcap_header(MAGIC_USEC, false, u32::MAX, linktype::RAW);
    v.extend_from_slice(&pcap_record(
        MAGIC_USEC,
        false,
        0,
        MAX_CAPLEN,
        60,
        &[0x45; 60],
    ));
    let (out, alloc, _) = read_measured(v);
    let e = out.unwrap().error.expect("an error");
    assert_eq!((e.kind, e.offset), (ErrorKind::Truncated, Some(24)), "{e}");
    assert!(
        alloc <= 2 * (MAX_CAPLEN as usize + 24),
        "an allocation of {alloc} bytes"
    );
}

// ---------------------------------------------------------------------------------------
// 5. Regressions.

/// Ethernet, MPLS bottom-of-stack, a zero control word, Ethernet again...: each level of
/// pseudowire used to recurse with the depth guard reset, so a large frame overflowed
/// the stack (a process abort, not even a panic).
fn nested_pseudowires(levels: usize) -> Vec<u8> {
    let unit: [u8; 22] = [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x88, 0x47, 0, 0, 1, 0, 0, 0, 0, 0,
    ];
    let mut v = unit.repeat(levels);
    // The innermost level carries IPv4, so that only the depth bound stops the descent.
    v.extend_from_slice(&unit[..18]);
    v.extend_from_slice(&[
        0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    v
}

#[test]
fn deep_mpls_pseudowire_nesting_is_bounded() {
    let frame = nested_pseudowires((MAX_CAPLEN as usize - 38) / 22);
    let shallow = nested_pseudowires(2);
    let result = std::thread::Builder::new()
        .stack_size(128 << 10)
        .spawn(move || {
            (
                link::decode(linktype::ETHERNET, &frame),
                link::decode(linktype::ETHERNET, &shallow),
            )
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(result.0, Link::NotIp);
    // A pseudowire or two is still followed to its IP packet.
    match result.1 {
        Link::Ip(info) => assert_eq!(info.ip_offset, 2 * 22 + 18),
        other => panic!("{other:?}"),
    }

    // The same frame through the reader, as a file would bring it.
    let mut file = pcap_header(MAGIC_USEC, false, u32::MAX, linktype::ETHERNET);
    let frame = nested_pseudowires((MAX_CAPLEN as usize - 38) / 22);
    file.extend_from_slice(&pcap_record(
        MAGIC_USEC,
        false,
        0,
        frame.len() as u32,
        frame.len() as u32,
        &frame,
    ));
    drop(frame);
    let out = within("deep mpls", 120, move || {
        read_bytes(file, 1 << 16, TruncationPolicy::Raise, 4).unwrap()
    });
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!((out.packets, out.rows), (1, 0));
}

#[test]
fn empty_and_tiny_inputs_are_not_captures_or_truncated() {
    for len in 0..64 {
        for kind in HEADER_KINDS {
            let mut v = header_for(kind, 65535, linktype::ETHERNET);
            v.extend_from_slice(&pcap_record(MAGIC_USEC, false, 0, 4, 4, &[1, 2, 3, 4]));
            v.truncate(len);
            for policy in [TruncationPolicy::Raise, TruncationPolicy::Warn] {
                match read_bytes(v.clone(), 64, policy, 1) {
                    Err(e) if len < 4 => {
                        assert_eq!(e.kind, ErrorKind::NotACapture, "{kind:?} {len}: {e}")
                    }
                    Err(e) => assert_eq!(
                        (e.kind, e.offset),
                        (ErrorKind::Truncated, Some(0)),
                        "{kind:?} {len}: {e}"
                    ),
                    Ok(out) => assert!(len >= 4 && out.rows == 0, "{kind:?} {len}: {out:?}"),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// 6. Damage keeps what came before; per-interface state is bounded.

/// An IPv4 header alone (protocol 6, total length 20): a row with both addresses.
const IPV4_ONLY: [u8; 20] = [
    0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
];

/// A pcapng section header block with this version.
fn shb_version(big: bool, major: u16, minor: u16) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u32b(0x1a2b_3c4d, big));
    body.extend_from_slice(&u16b(major, big));
    body.extend_from_slice(&u16b(minor, big));
    body.extend_from_slice(&[0xff; 8]);
    block(big, 0x0a0d_0d0a, &body)
}

/// Captures of every header kind: two good packets, damage of each kind this format can
/// have, then a good packet that must not be read. With the damage's offset and name.
fn damaged_captures() -> Vec<(String, Vec<u8>, usize)> {
    let mut out = Vec::new();
    for kind in HEADER_KINDS {
        let good = |v: &mut Vec<u8>| match kind {
            HeaderKind::Pcap { magic, big } => {
                v.extend_from_slice(&pcap_record(magic, big, 7, 20, 20, &IPV4_ONLY))
            }
            HeaderKind::Pcapng { big } => v.extend_from_slice(&epb(big, 0, 20, 20, &IPV4_ONLY)),
        };
        let mut start = match kind {
            HeaderKind::Pcap { magic, big } => pcap_header(magic, big, 64, linktype::RAW),
            HeaderKind::Pcapng { big } => {
                let mut v = shb(big);
                v.extend_from_slice(&idb(big, linktype::RAW as u16, 64, &[]));
                v
            }
        };
        good(&mut start);
        good(&mut start);
        let bad_at = start.len();
        let mut damages: Vec<(&str, Vec<u8>)> = Vec::new();
        match kind {
            HeaderKind::Pcap { magic, big } => {
                for caplen in [MAX_CAPLEN + 1, 0xffff_fff0] {
                    damages.push(("caplen", pcap_record(magic, big, 8, caplen, 60, &IPV4_ONLY)));
                }
            }
            HeaderKind::Pcapng { big } => {
                damages.push(("EPB caplen", epb(big, 0, 0xffff_fff0, 60, &IPV4_ONLY)));
                let mut huge = u32b(6, big).to_vec();
                huge.extend_from_slice(&u32b(0xffff_fffc, big));
                huge.extend_from_slice(&[0; 64]);
                damages.push(("block length", huge));
                let mut trailer = epb(big, 0, 20, 20, &IPV4_ONLY);
                let n = trailer.len();
                trailer[n - 4..].copy_from_slice(&u32b(n as u32 + 4, big));
                damages.push(("trailing length", trailer));
                damages.push(("section version 2.0", shb_version(big, 2, 0)));
                damages.push(("unknown interface", epb(big, 5, 20, 20, &IPV4_ONLY)));
            }
        }
        for (what, damage) in damages {
            let mut v = start.clone();
            v.extend_from_slice(&damage);
            good(&mut v);
            out.push((format!("{kind:?} {what}"), v, bad_at));
        }
    }
    out
}

#[test]
fn damage_keeps_every_packet_before_it_unless_errors_are_raised() {
    for (what, bytes, bad_at) in damaged_captures() {
        for window in [64, 4096] {
            let raised = read_bytes(bytes.clone(), window, TruncationPolicy::Raise, 1).unwrap();
            let e = raised
                .error
                .as_ref()
                .unwrap_or_else(|| panic!("{what}: no error"));
            assert_eq!(
                (e.kind, e.offset),
                (ErrorKind::Corrupt, Some(bad_at as u64)),
                "{what}: {e}"
            );
            for policy in [TruncationPolicy::Warn, TruncationPolicy::Ignore] {
                let kept = read_bytes(bytes.clone(), window, policy, 1).unwrap();
                assert!(kept.error.is_none(), "{what} {policy:?}: {:?}", kept.error);
                assert_eq!((kept.packets, kept.rows), (2, 2), "{what} {policy:?}");
                // The message the warning carries: where, and the same words as the error.
                assert_eq!(kept.truncated.as_deref(), Some(&*e.to_string()), "{what}");
                assert!(e
                    .to_string()
                    .contains(&format!("at byte offset {bad_at}: ")));
            }
        }
    }
}

#[test]
fn damage_allocates_nothing_of_the_claimed_size_under_any_policy() {
    for (what, bytes, _) in damaged_captures() {
        for policy in [TruncationPolicy::Warn, TruncationPolicy::Ignore] {
            let len = bytes.len();
            let (out, alloc) = largest_allocation_during(|| {
                let window = ByteWindow::with_capacity(Box::new(Cursor::new(bytes.clone())), 4096);
                PacketReader::from_window(window, options(policy, 16))
                    .map(|r| drain(r, len, 16))
                    .unwrap()
            });
            assert_eq!(out.rows, 2, "{what}");
            assert!(alloc < 256 << 10, "{what}: an allocation of {alloc} bytes");
        }
    }
}

#[test]
fn records_beyond_the_snaplen_up_to_16_mib_are_read_whatever_the_header_says() {
    for kind in HEADER_KINDS {
        let HeaderKind::Pcap { magic, big } = kind else {
            continue;
        };
        for caplen in [65, 300_000, MAX_CAPLEN] {
            let mut data = IPV4_ONLY.to_vec();
            data.resize(caplen as usize, 0xab);
            let mut v = pcap_header(magic, big, 64, linktype::RAW);
            v.extend_from_slice(&pcap_record(magic, big, 1, caplen, caplen, &data));
            v.extend_from_slice(&pcap_record(magic, big, 2, 20, 20, &IPV4_ONLY));
            let out = read_bytes(v, 4096, TruncationPolicy::Raise, 4).unwrap();
            assert!(out.error.is_none(), "{kind:?} {caplen}: {:?}", out.error);
            assert_eq!((out.packets, out.rows), (2, 2), "{kind:?} {caplen}");
        }
    }
}

/// A pcapng capture made on the fly: a section, `count` interfaces each named by
/// `name_len`-byte if_name and if_description options, then one packet on the last one.
struct ManyInterfaces {
    count: usize,
    name_len: usize,
    made: usize,
    pending: Cursor<Vec<u8>>,
}

impl ManyInterfaces {
    fn new(count: usize, name_len: usize) -> Self {
        ManyInterfaces {
            count,
            name_len,
            made: 0,
            pending: Cursor::new(shb(false)),
        }
    }
}

impl Read for ManyInterfaces {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.pending.read(out)?;
            if n > 0 || out.is_empty() {
                return Ok(n);
            }
            let next = if self.made < self.count {
                let mut options = Vec::new();
                for code in [2u16, 3] {
                    let mut text = format!("if{}-{code}-", self.made).into_bytes();
                    text.resize(self.name_len, b'n');
                    options.extend_from_slice(&code.to_le_bytes());
                    options.extend_from_slice(&(text.len() as u16).to_le_bytes());
                    options.extend_from_slice(&text);
                    options.resize(options.len().div_ceil(4) * 4, 0);
                }
                idb(false, linktype::RAW as u16, 0, &options)
            } else if self.made == self.count {
                epb(false, self.count as u32 - 1, 20, 20, &IPV4_ONLY)
            } else {
                return Ok(0);
            };
            self.made += 1;
            self.pending = Cursor::new(next);
        }
    }
}

/// Read a generated many-interface capture with the interface column: the peak bytes
/// held, and the interface name of its one row.
fn read_many_interfaces(count: usize, name_len: usize) -> (usize, String) {
    let (name, peak) = peak_memory_during(|| {
        let window = ByteWindow::new(Box::new(ManyInterfaces::new(count, name_len)));
        let options = ReadOptions {
            columns: Some(vec![pcapframe::column::Column::Interface]),
            ..ReadOptions::default()
        };
        let mut reader = PacketReader::from_window(window, options).unwrap();
        let batch = reader.next_batch().unwrap().expect("one row");
        assert!(reader.next_batch().unwrap().is_none());
        let column = arrow_cast::display::ArrayFormatter::try_new(
            batch.column(0).as_ref(),
            &Default::default(),
        )
        .unwrap();
        column.value(0).to_string()
    });
    (peak, name)
}

#[test]
fn twenty_thousand_interfaces_with_long_names_take_a_few_megabytes() {
    // 20,000 interfaces named by 60 KiB options (2.4 GB of names): held whole, 2.6 GB.
    let (peak, name) = within("20000 interfaces", 300, || {
        read_many_interfaces(20_000, 60_000)
    });
    let cap = pcapframe::format::MAX_INTERFACE_NAME;
    assert!(peak < 32 << 20, "{peak} bytes held");
    assert!(
        name.starts_with("if19999-2-nnn") && name.len() == cap,
        "{name}"
    );
}

#[test]
fn a_million_interfaces_stay_bounded() {
    let (peak, name) = within("1M interfaces", 300, || {
        read_many_interfaces(1_000_000, 400)
    });
    // About 40 bytes of description and at most 128 of name per interface.
    assert!(peak < 256 << 20, "{peak} bytes held");
    assert!(name.starts_with("if999999-2-nn"), "{name}");
}
