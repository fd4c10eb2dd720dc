//! TCP streams: where each direction's messages provably start, and their first bytes put
//! back together, so that a TLS hello, an HTTP message or a DNS message is read only from
//! a place the connection itself says a message starts, never from a segment that merely
//! looks like one (a downloaded file holding a ClientHello).
//!
//! A direction's first message starts at the byte after its SYN's sequence number; the
//! next one where the one before ends (HTTP: after its header and a body whose end the
//! header says; DNS: after its 2-byte length). A TLS direction is read up to its hello, an
//! SSH one up to its version line.
//! Segments must come in order: a gap (a segment lost or captured out of order) ends the
//! direction's reading; a retransmission of bytes already taken is passed over. At most
//! `MAX_BUFFER` bytes of a message's first bytes are kept. A connection whose SYN was not
//! seen gives nothing, as does a direction after a message its reader cannot frame
//! (a response running to the close, a protocol switch, HTTP CONNECT's tunnel).
//!
//! Only segments with data or a SYN, FIN or RST touch the state; a connection untouched
//! for `IDLE_NS` of capture time (the latest such segment's time, never turned back) is
//! forgotten, so memory holds the connections alive at once.
//!
//! A byte range of a file is decoded without the state that the ranges before it leave.
//! It notes where each segment is of a connection it did not see begin (until a SYN
//! begins it); the ranges are then checked in order (`StreamCarry::check`): the segments
//! of connections that the ranges before were reading are read again from that state
//! (`Replay`) and their rows' stream columns replaced, so the rows are exactly the
//! sequential read's.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::hash::BuildHasherDefault;

/// The maps of connections: keyed by `Key`, hashed once when the key is made (`key_of`),
/// as a segment looks its connection up in two or three of them; with random keys, so a
/// crafted set of 5-tuples cannot be made to collide, and aHash's, not SipHash's: SipHash
/// of these 40-byte keys was a fifth of what the DNS, TLS and HTTP columns cost (perf).
type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<KeyHasher>>;
type HashSet<K> = std::collections::HashSet<K, BuildHasherDefault<KeyHasher>>;

use crate::ip::{Addr, IpPacket};
use crate::wire::http::{self, Body, Chunks};
use crate::wire::tls::MAX_HELLO;
use crate::wire::tls::{self, Hello};
use crate::wire::{be16, dns, quic, Progress};

/// The most bytes kept of a message's start while waiting for the rest of it: 16 KiB,
/// and a TLS record's 5-byte header, so that a hello in a record of the largest size
/// (2^14 bytes) is read.
pub const MAX_BUFFER: usize = 16 * 1024 + 5;
/// Capture time after which a connection untouched is forgotten (Zeek's TCP inactivity
/// timeout).
pub const IDLE_NS: i64 = 300 * 1_000_000_000;
/// Requests a connection may have sent ahead of their responses (HTTP pipelining).
const MAX_PENDING_REQUESTS: usize = 64;
/// Connections kept before the first sweep of forgotten ones.
const FIRST_SWEEP: usize = 4096;
/// Capture time after which a QUIC hello begun and not completed is forgotten: a client
/// sends the Initials of one hello together.
const QUIC_HELLO_NS: i64 = 10 * 1_000_000_000;
/// CRYPTO frames kept of one QUIC hello.
const MAX_QUIC_PIECES: usize = 64;
/// Segments a byte range notes to be read again (32 bytes each: 16 MiB). Past this, a range
/// that needs them is decoded again whole instead.
const MAX_NOTED: usize = 1 << 19;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// A message completed by a head: the hello, or where the message is in the head's bytes.
enum Done {
    Tls(Box<Hello>),
    Http(std::ops::Range<usize>),
    Dns(std::ops::Range<usize>),
    Ssh,
}

impl Done {
    /// The message, its bytes taken from `held`: in place when they are the segment's.
    fn found<'a>(self, held: Cow<'a, [u8]>) -> Found<'a> {
        let take = |r: std::ops::Range<usize>| match &held {
            Cow::Borrowed(b) => Cow::Borrowed(&b[r]),
            Cow::Owned(v) => Cow::Owned(v[r].to_vec()),
        };
        match self {
            Done::Tls(h) => Found::Tls(h),
            Done::Http(r) => Found::Http(take(r)),
            Done::Dns(r) => Found::Dns(take(r)),
            Done::Ssh => Found::Ssh,
        }
    }
}

/// A message a segment completes, for the row of that segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found<'a> {
    /// Boxed: a row carries its `Found` through several moves, and a hello is rare.
    Tls(Box<Hello>),
    /// An HTTP message's start line and header fields.
    Http(Cow<'a, [u8]>),
    /// A DNS message (after its 2-byte length).
    Dns(Cow<'a, [u8]>),
    /// An SSH protocol version line (RFC 4253 §4.2): binary packets follow, not read.
    Ssh,
}

/// A connection, its endpoints in a fixed order (the lower address and port first).
/// Addresses are kept as numbers (an IPv4 address's 32 bits; `flags` tells the version):
/// a key is made and compared for every TCP segment with data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    a: u128,
    b: u128,
    /// The fields' hash, under the process's random key (`KEY_HASH`): the maps take it as
    /// it is (`KeyHasher`). Equal fields give equal hashes in every tracker of the process,
    /// so keys move between the trackers of a read's ranges.
    hash: u64,
    a_port: u16,
    b_port: u16,
    vlan: u16,
    /// `KEY_A_V6 | KEY_B_V6 | KEY_VLAN | KEY_QUIC`.
    flags: u8,
}

const KEY_A_V6: u8 = 1;
const KEY_B_V6: u8 = 2;
const KEY_VLAN: u8 = 4;
/// A QUIC connection's client Initials (UDP), not a TCP connection.
const KEY_QUIC: u8 = 8;

/// The random key of connection hashes: endpoints are chosen by strangers, who must not be
/// able to pick ones that collide.
static KEY_HASH: std::sync::LazyLock<ahash::RandomState> =
    std::sync::LazyLock::new(ahash::RandomState::new);

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Passes a `Key`'s own hash through.
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("a Key hashes as its u64")
    }
}

/// What a direction reads next.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dir {
    /// Nothing: its start was not seen, or its reading ended.
    Unread,
    /// A message starts at `next`.
    Expect { next: u32 },
    /// The first bytes of the message that starts at `start`.
    Head { start: u32, buf: Vec<u8> },
    /// `left` bytes of body from `next` on; then `head` (an HTTP message's) is complete.
    Body {
        next: u32,
        left: u64,
        head: Box<[u8]>,
    },
    /// A chunked body from `next` on; then `head` is complete.
    Chunked {
        next: u32,
        chunks: Chunks,
        head: Box<[u8]>,
    },
}

/// What a direction's first bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum App {
    Tls,
    Http,
    Dns,
    Ssh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Request {
    head: bool,
    connect: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Conn {
    dirs: [Dir; 2],
    /// Each direction's HTTP requests not yet answered.
    requests: [VecDeque<Request>; 2],
    /// A DNS port at either end: messages framed by their 2-byte length.
    dns: bool,
    /// What each direction's first message was: the ones after it must be the same.
    app: [Option<App>; 2],
    /// The capture time of the last segment that touched it.
    last: Option<i64>,
    /// Whether its state is known not to depend on what came before the reader (a byte
    /// range's): false for one a byte range found by its SYN-ACK. It is
    /// `!partial || begun.contains(key)`, kept here to save a lookup a segment.
    certain: bool,
}

impl Conn {
    fn new(dns: bool, certain: bool) -> Self {
        Conn {
            dirs: [Dir::Unread, Dir::Unread],
            requests: Default::default(),
            dns,
            app: [None, None],
            last: None,
            certain,
        }
    }

    fn is_unread(&self) -> bool {
        self.dirs.iter().all(|d| *d == Dir::Unread)
    }
}

/// A QUIC client's ClientHello begun in an Initial and not yet whole: the CRYPTO bytes
/// its Initials carried, by offset.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingHello {
    version: u32,
    dcid: Vec<u8>,
    pieces: Vec<(usize, Vec<u8>)>,
    /// The capture time of the last Initial that added to it.
    last: Option<i64>,
}

/// The streams of a read, fed every selected TCP segment (and QUIC client Initial that
/// does not hold its hello whole) in capture order.
#[derive(Debug, Default)]
pub struct StreamTracker {
    conns: HashMap<Key, Conn>,
    /// QUIC hellos begun, by the client's UDP endpoints.
    quic: HashMap<Key, PendingHello>,
    quic_sweep_at: usize,
    /// The latest time of a segment that touched a connection.
    clock: Option<i64>,
    sweep_at: usize,
    /// Whether this reader starts inside a file (a byte range) and must note what it
    /// could not know.
    partial: bool,
    /// A partial reader's segments of connections it did not see begin, until a pure
    /// SYN begins them, with the clock each was read at.
    noted: HashMap<Key, Vec<(SegmentAt, Option<i64>)>>,
    /// Segments in `noted`; past `noted_cap` (`MAX_NOTED`), keys only (`overflowed`).
    noted_len: usize,
    noted_cap: usize,
    overflowed: bool,
    /// Connections a partial reader saw begin by a pure SYN: from there on it knows them.
    begun: HashSet<Key>,
    /// The clock after the first segment that touched a connection.
    first_clock: Option<Option<i64>>,
    /// A replaying reader's clocks, one a segment (`Replay`).
    clocks: VecDeque<Option<i64>>,
}

/// Where a segment's row is: the record's byte offset in its reader, and the row's index
/// among the reader's rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmentAt {
    pub record: u64,
    pub row: u64,
}

/// Where a reader of TCP streams starts in its file.
#[derive(Debug)]
pub enum StreamStart {
    /// At the file's first record: nothing came before.
    FileStart,
    /// Inside the file, without what came before (a byte range decoded beside the others).
    Partial,
    /// Inside the file, from the exact state the records before it leave.
    Resume(StreamCarry),
    /// A byte range's segments of some connections, read again (`Replay`).
    Replay(StreamCarry, VecDeque<Option<i64>>),
}

impl StreamTracker {
    pub fn starting(start: StreamStart) -> Self {
        match start {
            StreamStart::FileStart => Self::new(),
            StreamStart::Partial => Self::partial(),
            StreamStart::Resume(carry) => Self::resume(carry),
            StreamStart::Replay(carry, clocks) => StreamTracker {
                clocks,
                ..Self::resume(carry)
            },
        }
    }
}

/// What a range of a file leaves for the ranges after it, and what it did not know.
#[derive(Debug, Default)]
pub struct StreamCarry {
    conns: HashMap<Key, Conn>,
    quic: HashMap<Key, PendingHello>,
    clock: Option<i64>,
    noted: HashMap<Key, Vec<(SegmentAt, Option<i64>)>>,
    overflowed: bool,
    begun: HashSet<Key>,
    first_clock: Option<Option<i64>>,
}

/// What a range decoded without the state before it needs, to stand after that state.
#[derive(Debug)]
pub enum Follow {
    /// Nothing: it touched no connection the state before was reading.
    Holds,
    /// Some of its segments read again from that state.
    Replay(Replay),
    /// Decoding again from that state: its clock started behind it, or it noted too many
    /// segments.
    Redo,
}

/// A range's segments of the connections that the ranges before it were reading, to be
/// read again, in capture order, from their state: the rows they give replace the range's
/// rows at `segments`, the state they leave goes on (`StreamCarry::follow`).
#[derive(Debug)]
pub struct Replay {
    pub segments: Vec<SegmentAt>,
    keys: Vec<Key>,
    start: Option<StreamStart>,
}

impl Replay {
    /// Where the replaying reader starts: once (`None` after, never a guessed start).
    pub fn start(&mut self) -> Option<StreamStart> {
        self.start.take()
    }
}

impl StreamCarry {
    /// What `next` (a range decoded without `self`, what the ranges before it leave
    /// exactly) needs to go on from `self`.
    pub fn check(&self, next: &StreamCarry) -> Follow {
        if let (Some(first), Some(clock)) = (next.first_clock, self.clock) {
            if first.is_none_or(|t| t < clock) {
                return Follow::Redo;
            }
        }
        let keys: Vec<Key> = next
            .noted
            .keys()
            .filter(|k| self.conns.contains_key(*k) || self.quic.contains_key(*k))
            .copied()
            .collect();
        if keys.is_empty() {
            return Follow::Holds;
        }
        if next.overflowed {
            return Follow::Redo;
        }
        let mut segments: Vec<(SegmentAt, Option<i64>)> = keys
            .iter()
            .flat_map(|k| next.noted[k].iter().copied())
            .collect();
        segments.sort_unstable_by_key(|(at, _)| at.row);
        // The clock at each segment, had the range been read after `self`.
        let clocks = segments.iter().map(|(_, c)| (*c).max(self.clock)).collect();
        let conns = keys
            .iter()
            .filter_map(|k| Some((*k, self.conns.get(k)?.clone())))
            .collect();
        let quic = keys
            .iter()
            .filter_map(|k| Some((*k, self.quic.get(k)?.clone())))
            .collect();
        let carry = StreamCarry {
            conns,
            quic,
            clock: self.clock,
            ..Default::default()
        };
        Follow::Replay(Replay {
            segments: segments.into_iter().map(|(at, _)| at).collect(),
            keys,
            start: Some(StreamStart::Replay(carry, clocks)),
        })
    }

    /// Go on from `self` through `next`, after `check` said it holds or `replayed` (the
    /// replaying reader's state at its end) was read as `replay` said.
    pub fn follow(&mut self, mut next: StreamCarry, replayed: Option<(Replay, StreamCarry)>) {
        if let Some((replay, mut state)) = replayed {
            for key in replay.keys {
                self.conns.remove(&key);
                self.quic.remove(&key);
                if !next.begun.contains(&key) {
                    // Its state in `next` (from a SYN-ACK, say) was read without `self`'s.
                    next.conns.remove(&key);
                    next.quic.remove(&key);
                    if let Some(conn) = state.conns.remove(&key) {
                        self.conns.insert(key, conn);
                    }
                    if let Some(pending) = state.quic.remove(&key) {
                        self.quic.insert(key, pending);
                    }
                }
            }
        }
        // A connection `next` saw begin is what `next` left of it: nothing, if it ended there.
        for key in &next.begun {
            self.conns.remove(key);
            self.quic.remove(key);
        }
        // The rest of `next`'s connections are exactly the sequential read's.
        for (key, mut conn) in next.conns {
            conn.certain = true;
            self.conns.insert(key, conn);
        }
        self.quic.extend(next.quic);
        self.clock = self.clock.max(next.clock);
    }
}

impl StreamTracker {
    pub fn new() -> Self {
        StreamTracker {
            sweep_at: FIRST_SWEEP,
            quic_sweep_at: FIRST_SWEEP,
            ..Default::default()
        }
    }

    /// A tracker for a byte range that starts inside a file, without what came before.
    pub fn partial() -> Self {
        StreamTracker {
            partial: true,
            noted_cap: MAX_NOTED,
            ..Self::new()
        }
    }

    /// A tracker that goes on from `carry`, the exact state at its start.
    pub fn resume(carry: StreamCarry) -> Self {
        StreamTracker {
            conns: carry.conns,
            quic: carry.quic,
            clock: carry.clock,
            ..Self::new()
        }
    }

    /// The state at the end, for the range after.
    pub fn carry(&mut self) -> StreamCarry {
        StreamCarry {
            conns: std::mem::take(&mut self.conns),
            quic: std::mem::take(&mut self.quic),
            clock: self.clock,
            noted: std::mem::take(&mut self.noted),
            overflowed: self.overflowed,
            begun: std::mem::take(&mut self.begun),
            first_clock: self.first_clock,
        }
    }

    /// Feed the packet `p` (of the record's bytes `d`, at `time`), keyed also by its
    /// outer VLAN (not by a tunnel's id: L2TP's differs in each direction): the message it
    /// completes, if any. Only a whole TCP segment (not an IP fragment) is read; a
    /// fragmented one ends its direction's reading.
    pub fn segment<'a>(
        &mut self,
        d: &'a [u8],
        p: &IpPacket,
        time: Option<i64>,
        vlan: Option<u16>,
        at: SegmentAt,
    ) -> Option<Found<'a>> {
        if p.protocol != crate::wire::ip_protocol::TCP || !p.first_fragment {
            return None;
        }
        let tcp = p.tcp(d)?;
        let (flags, seq) = (tcp.flags()?, tcp.seq_number()?);
        let (sport, dport) = (p.src_port?, p.dst_port?);
        let mut stated = stated_payload(d, p, tcp.header_len()? as u32);
        if stated == 0 && flags & (SYN | FIN | RST) == 0 {
            return None; // a pure ACK touches nothing
        }
        let data = d.get(p.payload.clone()).unwrap_or(&[]);
        let data = &data[..data.len().min(stated as usize)];
        if p.more_fragments {
            // The first piece of a fragmented segment: the rest of it is not here.
            stated = stated.max(data.len() as u32 + 1);
        }
        let (key, dir) = key_of(p.src, sport, p.dst, dport, vlan, false);
        let clock = self.tick(time);
        let dead = |c: &Conn| matches!((clock, c.last), (Some(now), Some(l)) if now - l > IDLE_NS);
        let (known, certain) = match self.conns.get(&key) {
            Some(c) if dead(c) => {
                self.conns.remove(&key);
                (false, false)
            }
            Some(c) => (true, c.certain),
            None => (false, false),
        };
        let pure_syn = flags & (SYN | ACK) == SYN;
        if self.partial {
            if pure_syn {
                self.begun.insert(key);
            } else if !certain && (known || !self.begun.contains(&key)) {
                self.note(key, at);
            }
        }
        let mut data_seq = seq;
        if flags & SYN != 0 {
            let dns_conn = dns::PORTS.contains(&sport) || dns::PORTS.contains(&dport);
            let conn = if pure_syn {
                // A new connection, whatever came before on these endpoints.
                self.conns.insert(key, Conn::new(dns_conn, true));
                self.conns.get_mut(&key).expect("just inserted")
            } else {
                // A partial reader knows a connection after its pure SYN, not before.
                let certain = !self.partial || self.begun.contains(&key);
                self.conns
                    .entry(key)
                    .or_insert_with(|| Conn::new(dns_conn, certain))
            };
            conn.dirs[dir] = Dir::Expect {
                next: seq.wrapping_add(1),
            };
            conn.requests[dir].clear();
            conn.app[dir] = None;
            data_seq = seq.wrapping_add(1);
        } else if !known {
            return None; // a connection whose start was not seen
        }
        let conn = self.conns.get_mut(&key)?;
        conn.last = clock;
        let found = if stated > 0 {
            if data.len() < stated as usize {
                cut(conn, dir, data_seq, stated, data)
            } else {
                advance(conn, dir, data_seq, stated, data)
            }
        } else {
            None
        };
        if flags & RST != 0 {
            conn.dirs = [Dir::Unread, Dir::Unread];
        } else if flags & FIN != 0 {
            conn.dirs[dir] = Dir::Unread;
        }
        if conn.is_unread() {
            self.conns.remove(&key);
        }
        if self.conns.len() >= self.sweep_at {
            self.conns.retain(|_, c| !dead(c));
            self.sweep_at = FIRST_SWEEP.max(2 * self.conns.len());
        }
        found
    }

    /// The clock after a segment at `time` touches the state.
    fn tick(&mut self, time: Option<i64>) -> Option<i64> {
        self.clock = match self.clocks.pop_front() {
            // Replaying: the clock the segment was first read at, after what came before.
            Some(pinned) => pinned,
            None => match (self.clock, time) {
                (Some(c), Some(t)) => Some(c.max(t)),
                (c, t) => c.or(t),
            },
        };
        self.first_clock.get_or_insert(self.clock);
        self.clock
    }

    /// Feed a QUIC client Initial `q` of the UDP datagram `p` that opened without holding
    /// its ClientHello whole: the hello, when this Initial completes one that an Initial
    /// from the same endpoints (and to the same connection id) began, its CRYPTO from
    /// offset 0 on, as tshark puts it together. An Initial with CRYPTO at offset 0 begins
    /// the hello again. At most `MAX_QUIC_PIECES` frames of `2 * MAX_HELLO` bytes in all are
    /// kept (a hello is at most `MAX_HELLO`); a hello untouched for `QUIC_HELLO_NS` of capture
    /// time is forgotten.
    pub fn quic_initial(
        &mut self,
        p: &IpPacket,
        time: Option<i64>,
        vlan: Option<u16>,
        at: SegmentAt,
        q: quic::LongHeader<'_>,
    ) -> Option<Box<Hello>> {
        if !q.opened || q.hello.is_some() {
            return None;
        }
        let (sport, dport) = (p.src_port?, p.dst_port?);
        let (key, _) = key_of(p.src, sport, p.dst, dport, vlan, true);
        let clock = self.tick(time);
        let begins = q.crypto.iter().any(|(offset, _)| *offset == 0);
        if self.partial {
            if begins {
                self.begun.insert(key);
            } else if !self.begun.contains(&key) {
                self.note(key, at);
            }
        }
        let dead = |last: Option<i64>| matches!((clock, last), (Some(now), Some(l)) if now - l > QUIC_HELLO_NS);
        if self.quic.get(&key).is_some_and(|h| dead(h.last)) {
            self.quic.remove(&key);
        }
        if self.quic.len() >= self.quic_sweep_at {
            self.quic.retain(|_, h| !dead(h.last));
            self.quic_sweep_at = FIRST_SWEEP.max(2 * self.quic.len());
        }
        if begins {
            let pending = PendingHello {
                version: q.version,
                dcid: q.dcid.to_vec(),
                pieces: q.crypto,
                last: clock,
            };
            self.quic.insert(key, pending);
            return None;
        }
        let pending = self.quic.get_mut(&key)?;
        if pending.version != q.version || pending.dcid != q.dcid {
            return None;
        }
        pending.last = clock;
        let held: usize = pending.pieces.iter().map(|(_, b)| b.len()).sum::<usize>()
            + q.crypto.iter().map(|(_, b)| b.len()).sum::<usize>();
        if pending.pieces.len() + q.crypto.len() > MAX_QUIC_PIECES || held > 2 * MAX_HELLO {
            // Resent or overlapping frames past any real hello: given up, not guessed.
            self.quic.remove(&key);
            return None;
        }
        pending.pieces.extend(q.crypto);
        let stream = quic::contiguous(&mut pending.pieces);
        let hello = quic::hello_of(&stream);
        if hello.is_some() || stream.len() >= MAX_HELLO {
            self.quic.remove(&key);
        }
        hello
    }

    /// Note a segment a partial reader read without knowing its connection's state.
    fn note(&mut self, key: Key, at: SegmentAt) {
        let segments = self.noted.entry(key).or_default();
        if self.noted_len < self.noted_cap {
            segments.push((at, self.clock));
            self.noted_len += 1;
        } else {
            self.overflowed = true;
        }
    }
}

/// The connection's key, and the direction index of the packet from `src`: the lower
/// endpoint first, in `Addr::ordinal`'s order (the flow table's); `quic` for a QUIC
/// client's Initials.
#[inline]
fn key_of(
    src: Addr,
    sport: u16,
    dst: Addr,
    dport: u16,
    vlan: Option<u16>,
    quic: bool,
) -> (Key, usize) {
    let (src_n, dst_n) = (src.ordinal(), dst.ordinal());
    let dir = usize::from((src_n, sport) > (dst_n, dport));
    let ((a, a_port), (b, b_port)) = if dir == 0 {
        ((src_n, sport), (dst_n, dport))
    } else {
        ((dst_n, dport), (src_n, sport))
    };
    let flags = (a.0 as u8 * KEY_A_V6)
        | (b.0 as u8 * KEY_B_V6)
        | (vlan.is_some() as u8 * KEY_VLAN)
        | (quic as u8 * KEY_QUIC);
    let vlan = vlan.unwrap_or(0);
    let packed =
        ((a_port as u64) << 48) | ((b_port as u64) << 32) | ((vlan as u64) << 16) | flags as u64;
    let key = Key {
        a: a.1,
        b: b.1,
        hash: KEY_HASH.hash_one((a.1, b.1, packed)),
        a_port,
        b_port,
        vlan,
        flags,
    };
    (key, dir)
}

/// TCP payload bytes by the IP length field (what was captured when it is 0: TSO).
fn stated_payload(d: &[u8], p: &IpPacket, tcp_header: u32) -> u32 {
    let ip_len = crate::flow::observe::stated_len(d, p);
    if ip_len == 0 {
        return (p.end.saturating_sub(p.transport_offset) as u32).saturating_sub(tcp_header);
    }
    ip_len.saturating_sub((p.transport_offset - p.start) as u32 + tcp_header)
}

/// Where a segment of `len` bytes at `seq` meets the stream position `want`.
enum Meets {
    /// It starts after `want`: bytes were not seen.
    Gap,
    /// All of it is before `want` (a retransmission).
    Before,
    /// `want` is at this offset in it.
    At(usize),
}

fn meets(want: u32, seq: u32, len: u32) -> Meets {
    let off = want.wrapping_sub(seq) as i32;
    if off < 0 {
        Meets::Gap
    } else if off as u32 >= len {
        Meets::Before
    } else {
        Meets::At(off as usize)
    }
}

/// A segment captured short of its length: its missing bytes end the direction's
/// reading where they are needed. A body's bytes are not (they are only counted), so a
/// segment within a length-framed body is taken whole.
fn cut<'a>(conn: &mut Conn, dir: usize, seq: u32, len: u32, data: &'a [u8]) -> Option<Found<'a>> {
    if let Dir::Body { next, left, .. } = &conn.dirs[dir] {
        let end = seq.wrapping_add(len);
        if matches!(meets(*next, seq, len), Meets::At(_))
            && (end.wrapping_sub(*next) as u64) < *left
        {
            return advance(conn, dir, seq, len, data);
        }
    }
    let found = advance(conn, dir, seq, data.len() as u32, data);
    // What follows the captured bytes was not seen.
    let end = seq.wrapping_add(data.len() as u32);
    let waits_at = match &conn.dirs[dir] {
        Dir::Unread => None,
        Dir::Expect { next } | Dir::Body { next, .. } | Dir::Chunked { next, .. } => Some(*next),
        Dir::Head { start, buf } => Some(start.wrapping_add(buf.len() as u32)),
    };
    if waits_at.is_some_and(|w| w == end) {
        conn.dirs[dir] = Dir::Unread;
    }
    found
}

/// Take the segment's bytes into the direction's reading: the first message it
/// completes (a row holds one; later ones in the same segment are framed, not shown).
fn advance<'a>(
    conn: &mut Conn,
    dir: usize,
    seq: u32,
    len: u32,
    data: &'a [u8],
) -> Option<Found<'a>> {
    let mut found: Option<Found<'a>> = None;
    loop {
        let state = std::mem::replace(&mut conn.dirs[dir], Dir::Unread);
        let want = match &state {
            Dir::Unread => return found,
            Dir::Expect { next } | Dir::Body { next, .. } | Dir::Chunked { next, .. } => *next,
            Dir::Head { start, buf } => start.wrapping_add(buf.len() as u32),
        };
        let at = match meets(want, seq, len) {
            Meets::Gap => return found, // left Unread
            Meets::Before => {
                conn.dirs[dir] = state;
                return found;
            }
            Meets::At(at) => at,
        };
        match state {
            Dir::Unread => unreachable!("returned above"),
            Dir::Expect { next } => {
                conn.dirs[dir] = Dir::Head {
                    start: next,
                    buf: Vec::new(),
                };
            }
            Dir::Head { start, mut buf } => {
                let bytes = &data[at..];
                // The common case: the whole head in this segment, read in place.
                let held: Cow<'a, [u8]> = if buf.is_empty() {
                    Cow::Borrowed(bytes)
                } else {
                    let room = MAX_BUFFER.saturating_sub(buf.len());
                    buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
                    Cow::Owned(buf)
                };
                match read_head(conn, dir, &held) {
                    Progress::Invalid => return found,
                    Progress::Incomplete => {
                        // Within `MAX_BUFFER` bytes, or never.
                        if held.len() < MAX_BUFFER {
                            conn.dirs[dir] = Dir::Head {
                                start,
                                buf: held.into_owned(),
                            };
                        }
                        return found;
                    }
                    Progress::Done(step) => {
                        conn.app[dir].get_or_insert(step.app());
                        let done = complete(conn, dir, start, step, &held);
                        if found.is_none() {
                            found = done.map(|d| d.found(held));
                        }
                        if conn.dirs[dir] == Dir::Unread {
                            return found;
                        }
                    }
                }
            }
            Dir::Body { next, left, head } => {
                let take = left.min((len as usize - at) as u64);
                let (next, left) = (next.wrapping_add(take as u32), left - take);
                if left > 0 {
                    conn.dirs[dir] = Dir::Body { next, left, head };
                    return found;
                }
                conn.dirs[dir] = Dir::Expect { next };
                found.get_or_insert(Found::Http(Cow::Owned(head.into_vec())));
            }
            Dir::Chunked {
                next,
                mut chunks,
                head,
            } => match chunks.feed(&data[at..]) {
                Err(()) => return found,
                Ok(None) => {
                    let next = next.wrapping_add((len as usize - at) as u32);
                    conn.dirs[dir] = Dir::Chunked { next, chunks, head };
                    return found;
                }
                Ok(Some(n)) => {
                    conn.dirs[dir] = Dir::Expect {
                        next: next.wrapping_add(n as u32),
                    };
                    found.get_or_insert(Found::Http(Cow::Owned(head.into_vec())));
                }
            },
        }
    }
}

/// What a completed head tells: the message, if complete now, and where the direction
/// goes on.
enum Step {
    Tls(Box<Hello>),
    Http {
        len: usize,
        body: Body,
        request: Request,
        status: Option<u16>,
    },
    Dns {
        len: usize,
    },
    Ssh,
}

impl Step {
    fn app(&self) -> App {
        match self {
            Step::Tls(_) => App::Tls,
            Step::Http { .. } => App::Http,
            Step::Dns { .. } => App::Dns,
            Step::Ssh => App::Ssh,
        }
    }
}

/// The longest SSH protocol version line, CR LF included (RFC 4253 §4.2).
const MAX_SSH_LINE: usize = 255;

/// Whether `bytes` start as an SSH protocol version line does (`SSH-`), or could once more
/// bytes come.
fn starts_as_ssh(bytes: &[u8]) -> bool {
    let n = bytes.len().min(4);
    bytes[..n] == b"SSH-"[..n]
}

/// An SSH protocol version line, `SSH-protoversion-softwareversion` ending in LF within
/// `MAX_SSH_LINE` bytes, its protocol version digits and dots (`2.0`, `1.99`).
fn ssh_progress(bytes: &[u8]) -> Progress<Step> {
    let Some(end) = bytes.iter().take(MAX_SSH_LINE).position(|&b| b == b'\n') else {
        return if bytes.len() < MAX_SSH_LINE && starts_as_ssh(bytes) {
            Progress::Incomplete
        } else {
            Progress::Invalid
        };
    };
    let line = &bytes[..end];
    let Some(rest) = line.strip_prefix(b"SSH-") else {
        return Progress::Invalid;
    };
    let version_len = rest.iter().position(|&b| b == b'-').unwrap_or(0);
    let version = &rest[..version_len];
    let well_formed = version.first().is_some_and(u8::is_ascii_digit)
        && version.iter().all(|&b| b.is_ascii_digit() || b == b'.')
        && version.contains(&b'.');
    if well_formed {
        Progress::Done(Step::Ssh)
    } else {
        Progress::Invalid
    }
}

/// Read the head of the direction's message from its first bytes; which protocol is
/// decided by the connection's ports (DNS) or the bytes themselves.
fn read_head(conn: &Conn, dir: usize, bytes: &[u8]) -> Progress<Step> {
    let app = match (conn.dns, conn.app[dir], bytes.first()) {
        (true, _, _) => App::Dns,
        (_, Some(app), _) => app,
        (_, None, Some(22)) => App::Tls,
        (_, None, Some(b'S')) if starts_as_ssh(bytes) => App::Ssh,
        (_, None, Some(_)) => App::Http,
        (_, None, None) => return Progress::Incomplete,
    };
    match app {
        App::Tls => match tls::records_progress(bytes) {
            Progress::Done(h) => Progress::Done(Step::Tls(Box::new(h))),
            Progress::Incomplete => Progress::Incomplete,
            Progress::Invalid => Progress::Invalid,
        },
        App::Dns => match be16(bytes, 0..2) {
            None => Progress::Incomplete,
            Some(n) if 2 + n as usize > MAX_BUFFER => Progress::Invalid,
            Some(n) if bytes.len() < 2 + n as usize => Progress::Incomplete,
            Some(n) => Progress::Done(Step::Dns {
                len: 2 + n as usize,
            }),
        },
        App::Http => match http::parse_head(bytes) {
            Progress::Done(h) => Progress::Done(Step::Http {
                len: h.len,
                body: h.body,
                request: Request {
                    head: h.message.method == Some(b"HEAD"),
                    connect: h.message.method == Some(b"CONNECT"),
                },
                status: h.message.status,
            }),
            Progress::Incomplete => Progress::Incomplete,
            Progress::Invalid => Progress::Invalid,
        },
        App::Ssh => ssh_progress(bytes),
    }
}

/// Where the direction goes after the head `step` read from `held` (which starts at the
/// stream position `start`), and the message it completes now, if any.
fn complete(conn: &mut Conn, dir: usize, start: u32, step: Step, held: &[u8]) -> Option<Done> {
    match step {
        // TLS is read up to its hello, SSH up to its version line.
        Step::Tls(hello) => Some(Done::Tls(hello)),
        Step::Ssh => Some(Done::Ssh),
        Step::Dns { len } => {
            conn.dirs[dir] = Dir::Expect {
                next: start.wrapping_add(len as u32),
            };
            Some(Done::Dns(2..len))
        }
        Step::Http {
            len,
            body,
            request,
            status,
        } => {
            let head = 0..len;
            let after = start.wrapping_add(len as u32);
            let body = match status {
                None => {
                    if conn.requests[dir].len() >= MAX_PENDING_REQUESTS {
                        return None;
                    }
                    conn.requests[dir].push_back(request);
                    if request.connect {
                        return Some(Done::Http(head)); // a tunnel follows
                    }
                    body
                }
                Some(101) => {
                    conn.dirs = [Dir::Unread, Dir::Unread]; // another protocol follows
                    return Some(Done::Http(head));
                }
                Some(100..=199) => Body::None,
                Some(code) => {
                    // The request it answers says whether a body follows (RFC 9112 6.3).
                    let asked = conn.requests[1 - dir].pop_front()?;
                    if asked.connect && (200..300).contains(&code) {
                        conn.dirs = [Dir::Unread, Dir::Unread];
                        return Some(Done::Http(head));
                    }
                    if asked.head {
                        Body::None
                    } else {
                        body
                    }
                }
            };
            match body {
                Body::None => {
                    conn.dirs[dir] = Dir::Expect { next: after };
                    Some(Done::Http(head))
                }
                Body::Length(0) => {
                    conn.dirs[dir] = Dir::Expect { next: after };
                    Some(Done::Http(head))
                }
                Body::Length(left) => {
                    conn.dirs[dir] = Dir::Body {
                        next: after,
                        left,
                        head: held[head].into(),
                    };
                    None
                }
                Body::Chunked => {
                    conn.dirs[dir] = Dir::Chunked {
                        next: after,
                        chunks: Chunks::default(),
                        head: held[head].into(),
                    };
                    None
                }
                // Its end is the connection's: not followed.
                Body::ToClose => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::{dissect, Depth};

    const CLIENT: [u8; 4] = [10, 0, 0, 1];
    const SERVER: [u8; 4] = [10, 0, 0, 2];

    /// A raw IPv4 packet (link type 228) from `from` (the client or the server) of
    /// connection `conn` (its client port is 40000 + conn), with TCP `flags`, `seq` and
    /// `data`.
    fn packet(conn: u16, to_server: bool, flags: u8, seq: u32, data: &[u8]) -> Vec<u8> {
        let (src, dst) = if to_server {
            (CLIENT, SERVER)
        } else {
            (SERVER, CLIENT)
        };
        let (sport, dport) = if to_server {
            (40000 + conn, 443)
        } else {
            (443, 40000 + conn)
        };
        let total = 40 + data.len();
        let mut p = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            6,
            0,
            0,
        ];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&0u32.to_be_bytes());
        p.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        p.extend_from_slice(data);
        p
    }

    /// What the tracker says of each packet: `None`, or a short text of the message.
    fn feed(t: &mut StreamTracker, packets: &[(Vec<u8>, i64)]) -> Vec<Option<String>> {
        packets
            .iter()
            .enumerate()
            .map(|(i, (bytes, time))| {
                let d = dissect(228, bytes, bytes.len() as u32, Depth::full(false)).ok()?;
                let at = SegmentAt {
                    record: i as u64,
                    row: i as u64,
                };
                t.segment(bytes, d.ip(), Some(*time), None, at)
                    .map(|f| match f {
                        Found::Tls(h) => format!(
                            "tls {}",
                            String::from_utf8_lossy(&h.server_name.unwrap_or_default())
                        ),
                        Found::Http(b) => format!(
                            "http {}",
                            String::from_utf8_lossy(&b).lines().next().unwrap_or("")
                        ),
                        Found::Dns(b) => format!("dns {}", b.len()),
                        Found::Ssh => "ssh".into(),
                    })
            })
            .collect()
    }

    use crate::wire::testing::client_hello_record as client_hello;

    const S: u8 = SYN;
    const SA: u8 = SYN | ACK;
    const A: u8 = ACK;

    #[test]
    fn a_hello_over_two_segments_belongs_to_the_second() {
        let hello = client_hello("split.example", 1500);
        let (one, two) = hello.split_at(1000);
        let packets = vec![
            (packet(1, true, S, 99, b""), 1),
            (packet(1, false, SA, 499, b""), 2),
            (packet(1, true, A, 100, one), 3),
            (packet(1, true, A, 1100, two), 4),
        ];
        let out = feed(&mut StreamTracker::new(), &packets);
        assert_eq!(out, [None, None, None, Some("tls split.example".into())]);
    }

    /// A client Initial's CRYPTO frames `(offset, bytes)` and its time.
    type Initial = (Vec<(usize, Vec<u8>)>, i64);

    /// What the tracker says of each QUIC client Initial `(crypto frames, time)` sent from
    /// port 5000 to `dcid`: the hello's server name when one completes.
    fn feed_initials(
        t: &mut StreamTracker,
        dcid: &[u8],
        initials: &[Initial],
    ) -> Vec<Option<String>> {
        let mut out = Vec::new();
        for (i, (frames, time)) in initials.iter().enumerate() {
            let frames: Vec<(usize, &[u8])> =
                frames.iter().map(|(o, b)| (*o, b.as_slice())).collect();
            let sealed = quic::seal_client_initial(quic::VERSION_1, dcid, &frames, i as u16);
            let p = crate::wire::testing::ipv4_udp(CLIENT, 5000, SERVER, 443, &sealed);
            let d = dissect(228, &p, p.len() as u32, Depth::full(false)).unwrap();
            let q = quic::parse(&sealed).unwrap();
            let at = SegmentAt {
                record: i as u64,
                row: i as u64,
            };
            let hello = t.quic_initial(d.ip(), Some(*time), None, at, q);
            out.push(
                hello.map(|h| {
                    String::from_utf8_lossy(&h.server_name.unwrap_or_default()).into_owned()
                }),
            );
        }
        out
    }

    #[test]
    fn a_quic_hello_over_initials_is_bounded_and_never_guessed() {
        let hello = client_hello("q.example", 600)[5..].to_vec();
        let (one, two) = (hello[..300].to_vec(), hello[300..].to_vec());
        let second = |time| (vec![(300, two.clone())], time);
        // Put together at the Initial that completes it; the first alone gives nothing.
        let mut t = StreamTracker::new();
        let out = feed_initials(&mut t, &[1; 8], &[(vec![(0, one.clone())], 0), second(1)]);
        assert_eq!(out, [None, Some("q.example".into())]);
        assert!(t.quic.is_empty());
        // The second half alone, after a gap in the bytes, or 10 s after the first: nothing.
        let mut t = StreamTracker::new();
        assert_eq!(feed_initials(&mut t, &[2; 8], &[second(0)]), [None]);
        let gap = (vec![(301, hello[301..].to_vec())], 1);
        assert_eq!(
            feed_initials(&mut t, &[3; 8], &[(vec![(0, one.clone())], 0), gap]),
            [None, None]
        );
        let late = second(QUIC_HELLO_NS + 10);
        assert_eq!(
            feed_initials(&mut t, &[4; 8], &[(vec![(0, one.clone())], 0), late]),
            [None, None]
        );
        // A flood of resent frames is given up at `MAX_QUIC_PIECES`, and its memory with it.
        let mut t = StreamTracker::new();
        let mut flood = vec![(vec![(0, one.clone())], 0)];
        flood.extend((0..MAX_QUIC_PIECES).map(|i| (vec![(10, one[10..20].to_vec())], i as i64)));
        flood.push(second(100));
        let out = feed_initials(&mut t, &[5; 8], &flood);
        assert!(out.iter().all(Option::is_none));
        assert!(t.quic.is_empty());
    }

    #[test]
    fn keys_order_endpoints_as_the_flow_table_does() {
        use crate::flow::table::addr_order;
        let addrs = [
            Addr::V4([10, 0, 0, 1]),
            Addr::V4([10, 0, 0, 2]),
            Addr::V4([0, 0, 0, 0]),
            Addr::V6([0; 16]),
            Addr::V6([0xfe; 16]),
            Addr::V6([10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ];
        for a in addrs {
            for b in addrs {
                for (sp, dp) in [(1, 2), (2, 1), (7, 7)] {
                    let (key, dir) = key_of(a, sp, b, dp, None, false);
                    let want = if (addr_order(&a), sp) <= (addr_order(&b), dp) {
                        0
                    } else {
                        1
                    };
                    assert_eq!(dir, want, "{a:?}:{sp} {b:?}:{dp}");
                    assert_eq!(key, key_of(b, dp, a, sp, None, false).0);
                }
            }
        }
    }

    #[test]
    fn an_ssh_version_line_over_two_segments_and_one_that_is_not() {
        let packets = vec![
            (packet(1, false, S, 499, b""), 1),
            (packet(1, false, A, 500, b"SSH-2.0-Open"), 2),
            (packet(1, false, A, 512, b"SSH_9.6\r\n\0\0\x05\xdc"), 3),
            // The binary packets after it are not read.
            (packet(1, false, A, 525, b"SSH-2.0-again\r\n"), 4),
            (packet(2, true, S, 99, b""), 5),
            (packet(2, true, A, 100, b"SSH-two-x\r\n"), 6),
            (packet(3, true, S, 99, b""), 7),
            (packet(3, true, A, 100, b"SSHX-2.0-x\r\n"), 8),
        ];
        let out = feed(&mut StreamTracker::new(), &packets);
        let ssh = Some("ssh".to_string());
        assert_eq!(out, [None, None, ssh, None, None, None, None, None]);
        // A line longer than RFC 4253's 255 bytes is not one.
        let mut long = b"SSH-2.0-".to_vec();
        long.extend(std::iter::repeat_n(b'x', 300));
        long.extend_from_slice(b"\r\n");
        let out = feed(
            &mut StreamTracker::new(),
            &[
                (packet(4, true, S, 99, b""), 1),
                (packet(4, true, A, 100, &long), 2),
            ],
        );
        assert_eq!(out, [None, None]);
    }

    #[test]
    fn a_hello_in_the_middle_of_a_stream_is_not_one() {
        let hello = client_hello("forged.example", 10);
        // No SYN seen: nothing says where a message starts.
        let out = feed(
            &mut StreamTracker::new(),
            &[(packet(1, true, A, 100, &hello), 1)],
        );
        assert_eq!(out, [None]);
        // After the SYN, a body's bytes are the body's, however they look.
        let mut request = b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: ".to_vec();
        let forged = b"GET /forged HTTP/1.1\r\nHost: evil\r\n\r\n";
        request.extend_from_slice(format!("{}\r\n\r\n", hello.len() + forged.len()).as_bytes());
        let after = 100 + request.len() as u32;
        let next = b"GET /real HTTP/1.1\r\nHost: a\r\n\r\n";
        let packets = vec![
            (packet(2, true, S, 99, b""), 1),
            (packet(2, true, A, 100, &request), 2),
            (packet(2, true, A, after, &hello), 3),
            (packet(2, true, A, after + hello.len() as u32, forged), 4),
            (
                packet(
                    2,
                    true,
                    A,
                    after + (hello.len() + forged.len()) as u32,
                    next,
                ),
                5,
            ),
        ];
        let out = feed(&mut StreamTracker::new(), &packets);
        assert_eq!(
            out,
            [
                None,
                None,
                None,
                Some("http POST /up HTTP/1.1".into()),
                Some("http GET /real HTTP/1.1".into())
            ]
        );
    }

    #[test]
    fn a_gap_ends_the_reading_and_a_retransmission_is_passed_over() {
        let hello = client_hello("gap.example", 1500);
        let (one, two) = hello.split_at(1000);
        let lost = vec![
            (packet(1, true, S, 99, b""), 1),
            (packet(1, true, A, 1100, two), 2), // the first part never came
            (packet(1, true, A, 100, one), 3),
        ];
        assert_eq!(feed(&mut StreamTracker::new(), &lost), [None, None, None]);
        let again = vec![
            (packet(1, true, S, 99, b""), 1),
            (packet(1, true, A, 100, one), 2),
            (packet(1, true, A, 100, one), 3),
            (packet(1, true, A, 1100, two), 4),
        ];
        let out = feed(&mut StreamTracker::new(), &again);
        assert_eq!(out[3].as_deref(), Some("tls gap.example"));
    }

    #[test]
    fn responses_end_where_their_request_and_header_say() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab";
        let packets = vec![
            (packet(1, true, S, 99, b""), 1),
            (packet(1, false, SA, 499, b""), 2),
            (
                packet(
                    1,
                    true,
                    A,
                    100,
                    b"HEAD / HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n",
                ),
                3,
            ),
            // A HEAD response's length is the resource's: no body follows it.
            (
                packet(
                    1,
                    false,
                    A,
                    500,
                    b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",
                ),
                4,
            ),
            (packet(1, false, A, 538, chunked), 5),
            (
                packet(1, false, A, 538 + chunked.len() as u32, b"cd\r\n0\r\n\r\n"),
                6,
            ),
        ];
        let out = feed(&mut StreamTracker::new(), &packets);
        assert_eq!(out[2].as_deref(), Some("http HEAD / HTTP/1.1"));
        assert_eq!(out[3].as_deref(), Some("http HTTP/1.1 200 OK"));
        assert_eq!(out[4], None);
        assert_eq!(out[5].as_deref(), Some("http HTTP/1.1 200 OK"));
    }

    /// A range that noted more segments than it may keeps the keys: one whose connection
    /// the state before was reading is decoded again whole, never replayed from a part.
    #[test]
    fn a_range_that_noted_too_much_is_decoded_again() {
        let request = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
        let before = [
            (packet(1, true, S, 100, b""), 1_000),
            (packet(1, true, A, 101, &request[..10]), 2_000),
        ];
        let range: Vec<_> = (0..4u32)
            .map(|i| {
                let part: &[u8] = if i == 0 { &request[10..] } else { b"" };
                let seq = 111 + if i == 0 { 0 } else { request.len() as u32 - 10 };
                (
                    packet(1, true, A | if i == 0 { 0 } else { FIN }, seq, part),
                    3_000 + i as i64,
                )
            })
            .collect();
        let carry = first_state(&before);
        for (cap, replays) in [(usize::MAX, true), (2, false)] {
            let mut partial = StreamTracker::partial();
            partial.noted_cap = cap;
            feed(&mut partial, &range);
            match (carry.check(&partial.carry()), replays) {
                (Follow::Replay(r), true) => assert_eq!(r.segments.len(), 4),
                (Follow::Redo, false) => {}
                (other, _) => panic!("cap {cap}: {other:?}"),
            }
        }
    }

    fn first_state(packets: &[(Vec<u8>, i64)]) -> StreamCarry {
        let mut t = StreamTracker::new();
        feed(&mut t, packets);
        t.carry()
    }

    /// A random capture of `conns` connections interleaved: hellos split or not, HTTP
    /// requests, retransmissions, lost segments, idle gaps and 5-tuples used again.
    fn random_capture(seed: u64, conns: u16) -> Vec<(Vec<u8>, i64)> {
        let mut next = crate::wire::xorshift(seed | 1);
        let mut streams: Vec<Vec<(Vec<u8>, i64)>> = Vec::new();
        for c in 0..conns {
            let conn = c % (conns / 2).max(1); // 5-tuples used again
            let mut t = (next() % 1000) as i64 * 1_000_000_000;
            let mut out = Vec::new();
            let isn = next() as u32;
            if next() % 4 != 0 {
                out.push((packet(conn, true, S, isn, b""), t));
            }
            let msg = if next() % 2 == 0 {
                client_hello("r.example", (next() % 3000) as usize)
            } else {
                b"GET /x HTTP/1.1\r\nHost: r\r\n\r\n".to_vec()
            };
            let mut at = 0;
            while at < msg.len() {
                let n = (1 + next() % 1400) as usize;
                let end = (at + n).min(msg.len());
                t += (next() % 4) as i64 * 100_000_000_000; // some gaps past IDLE_NS
                let seg = packet(
                    conn,
                    true,
                    A,
                    isn.wrapping_add(1 + at as u32),
                    &msg[at..end],
                );
                match next() % 10 {
                    0 => {} // lost
                    1 => {
                        out.push((seg.clone(), t));
                        out.push((seg, t));
                    }
                    _ => out.push((seg, t)),
                }
                at = end;
            }
            streams.push(out);
        }
        let mut all: Vec<(Vec<u8>, i64)> = streams.into_iter().flatten().collect();
        // Interleave by time, times within a connection kept in order.
        all.sort_by_key(|(_, t)| *t);
        all
    }

    /// Cut anywhere into three, ranges decoded without what came before, checked in
    /// order and their noted segments read again (or decoded again whole) give exactly
    /// the rows and the state that one pass gives.
    #[test]
    fn ranges_give_what_one_pass_gives() {
        let (mut checked, mut replayed, mut redone) = (0, 0, 0);
        for seed in 1..40u64 {
            let mut capture = random_capture(seed, 24);
            if seed % 4 == 0 {
                // Time that goes back now and then: a range may start behind the clock.
                for i in (0..capture.len() - 1).step_by(7) {
                    capture.swap(i, i + 1);
                }
            }
            let mut one_pass = StreamTracker::new();
            let whole = feed(&mut one_pass, &capture);
            let whole_state = one_pass.carry().conns;
            assert!(
                whole.iter().any(Option::is_some),
                "seed {seed} reads something"
            );
            for cut in (1..capture.len()).step_by(3) {
                let cuts = [0, cut / 2, cut, capture.len()];
                let mut out = Vec::new();
                let mut carry: Option<StreamCarry> = None;
                for w in cuts.windows(2) {
                    let part = &capture[w[0]..w[1]];
                    let Some(before) = carry.as_mut() else {
                        let mut first = StreamTracker::new();
                        out.extend(feed(&mut first, part));
                        carry = Some(first.carry());
                        continue;
                    };
                    let mut range = StreamTracker::partial();
                    let mut rows = feed(&mut range, part);
                    let range = range.carry();
                    match before.check(&range) {
                        Follow::Holds => before.follow(range, None),
                        Follow::Replay(mut replay) => {
                            replayed += 1;
                            let again: Vec<_> = replay
                                .segments
                                .iter()
                                .map(|at| part[at.row as usize].clone())
                                .collect();
                            let mut replaying =
                                StreamTracker::starting(replay.start().expect("a replay's start"));
                            for (at, row) in
                                replay.segments.iter().zip(feed(&mut replaying, &again))
                            {
                                rows[at.row as usize] = row;
                            }
                            before.follow(range, Some((replay, replaying.carry())));
                        }
                        Follow::Redo => {
                            redone += 1;
                            let state = std::mem::take(before);
                            let mut again = StreamTracker::resume(state);
                            rows = feed(&mut again, part);
                            *before = again.carry();
                        }
                    }
                    out.extend(rows);
                }
                assert_eq!(out, whole, "seed {seed}, cuts {cuts:?}");
                let state = carry.unwrap().conns;
                let differ: Vec<_> = whole_state
                    .keys()
                    .chain(state.keys())
                    .filter(|k| state.get(k) != whole_state.get(k))
                    .map(|k| {
                        let short = |c: Option<&Conn>| {
                            c.map(|c| {
                                (
                                    c.last,
                                    c.dirs.clone().map(|d| match d {
                                        Dir::Head { start, buf } => {
                                            format!("head {start} {}", buf.len())
                                        }
                                        d => format!("{d:?}"),
                                    }),
                                )
                            })
                        };
                        (k.a_port, short(state.get(k)), short(whole_state.get(k)))
                    })
                    .collect();
                assert!(differ.is_empty(), "seed {seed}, cuts {cuts:?}: {differ:?}");
                checked += 1;
            }
        }
        eprintln!("{checked} cuts checked: {replayed} ranges replayed, {redone} decoded again");
        // Each way was taken, so none is checked vacuously.
        assert!(
            checked > 800 && replayed > 50 && redone > 10,
            "{checked} {replayed} {redone}"
        );
    }
}
