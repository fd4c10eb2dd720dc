//! The flow table: packets grouped into flows by their bidirectional key, cut by the idle
//! and active timeouts and by a TCP connection reused after its close, each flow's counters
//! and Zeek connection state kept as its packets arrive, and each flow handed out when it
//! ends.
//!
//! Time is the capture's clock: the latest packet time seen so far (a packet stamped
//! earlier than one before it does not move the clock back), as nfstream keeps it. A flow
//! is idle once the clock is `idle_timeout` or more past its last packet's clock, and cut
//! once the clock is `active_timeout` or more past its first's. Flows are kept in the order
//! of their last packet, so the idle ones are found at the front and handed out as soon as
//! the clock passes them: memory holds the flows alive at once, not every flow seen.
//!
//! Keys are chosen by whoever writes the packets, so the table hashes with a key drawn at
//! random for the process (aHash's `RandomState`, as `stream` does): a crafted set of
//! 5-tuples cannot collide into one bucket. (std's SipHash took 16% of a sequential flow
//! read's CPU.)

use std::collections::{HashMap, VecDeque};

use super::app::FlowApp;
use super::conn::{self, Conn, Role};
use super::observe::{Checksum, Frame, Observation};
use super::stats::Direction;
use crate::ip::Addr;
use crate::wire::ip_protocol::{ICMP, ICMPV6, TCP, UDP};

/// How long (capture clock) a fragment's datagram waits for its other pieces: Linux's
/// `ipfrag_time`. A later piece after this starts a flow of its own.
pub const FRAGMENT_TIMEOUT_NS: i64 = 30_000_000_000;

/// A flow's identity, the same whichever way a packet goes: the two endpoints in a fixed
/// order (lower address first; for equal addresses, lower port first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    pub a: Addr,
    pub b: Addr,
    /// Ports of `a` and `b` (ICMP: the type and the counterpart type or code).
    pub a_port: u16,
    pub b_port: u16,
    pub has_ports: bool,
    pub protocol: u8,
    pub vlan: Option<u16>,
    pub tunnel_id: Option<u32>,
}

impl std::hash::Hash for FlowKey {
    // Every bit of the key, in three writes (the derived hash made twelve, a quarter of
    // the table's time): nothing is folded before the keyed hasher sees it, so the key
    // still decides every collision.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let (a_version, a) = self.a.ordinal();
        let (b_version, b) = self.b.ordinal();
        state.write_u128(a);
        state.write_u128(b);
        let vlan = self.vlan.map_or(0, |v| 1 << 16 | v as u64);
        let tunnel = self.tunnel_id.map_or(0, |t| 1 << 32 | t as u64);
        state.write_u64(
            (a_version as u64) << 60
                ^ (b_version as u64) << 56
                ^ (self.has_ports as u64) << 48
                ^ (self.protocol as u64) << 40
                ^ (self.a_port as u64) << 16
                ^ self.b_port as u64,
        );
        state.write_u64(vlan << 40 ^ tunnel);
    }
}

/// A packet's endpoints in its own direction (ICMP types in place of ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    pub src: Addr,
    pub dst: Addr,
    pub ports: Option<(u16, u16)>,
}

impl Endpoints {
    pub fn of(obs: &Observation) -> Self {
        let ports = match (obs.protocol, obs.icmp) {
            (ICMP | ICMPV6, Some((t, code))) => Some(conn::icmp_ports(obs.protocol, t, code)),
            (TCP | UDP, _) => obs.ports,
            _ => None,
        };
        Endpoints {
            src: obs.src,
            dst: obs.dst,
            ports,
        }
    }

    pub fn key(&self, obs: &Observation) -> FlowKey {
        let (sp, dp) = self.ports.unwrap_or((0, 0));
        let forward = (self.src.ordinal(), sp) <= (self.dst.ordinal(), dp);
        let ((a, a_port), (b, b_port)) = if forward {
            ((self.src, sp), (self.dst, dp))
        } else {
            ((self.dst, dp), (self.src, sp))
        };
        FlowKey {
            a,
            b,
            a_port,
            b_port,
            has_ports: self.ports.is_some(),
            protocol: obs.protocol,
            vlan: obs.vlan,
            tunnel_id: obs.tunnel_id,
        }
    }
}

/// Addresses in numeric order, IPv4 before IPv6 (Community ID's order), as byte arrays:
/// the definition `Addr::ordinal` is held to.
#[cfg(test)]
pub(crate) fn addr_order(a: &Addr) -> (u8, [u8; 16]) {
    match a {
        Addr::V4(b) => {
            let mut out = [0; 16];
            out[..4].copy_from_slice(b);
            (4, out)
        }
        Addr::V6(b) => (6, *b),
    }
}

/// Why a flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Idle,
    Active,
    Fin,
    Rst,
    /// A SYN with a new sequence number took the ports over before any close (Zeek's
    /// `active_connection_reuse`).
    Reused,
    EndOfCapture,
}

impl EndReason {
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Idle => "idle",
            EndReason::Active => "active",
            EndReason::Fin => "fin",
            EndReason::Rst => "rst",
            EndReason::Reused => "reused",
            EndReason::EndOfCapture => "end_of_capture",
        }
    }
}

/// Timeouts in nanoseconds of capture time; `None` turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub idle_ns: Option<i64>,
    pub active_ns: Option<i64>,
}

impl Default for Timeouts {
    /// nfstream's defaults (and Zeek's TCP inactivity is of the same order): 120 s idle,
    /// 1800 s active.
    fn default() -> Self {
        Timeouts {
            idle_ns: Some(120_000_000_000),
            active_ns: Some(1_800_000_000_000),
        }
    }
}

/// One flow: what is kept while it lives, and what is handed out when it ends.
#[derive(Debug, Clone)]
pub struct Flow {
    pub key: FlowKey,
    pub id: u64,
    /// The originator's and the responder's endpoints, as Zeek decides them.
    pub orig: (Addr, Option<u16>),
    pub resp: (Addr, Option<u16>),
    /// The earliest and latest packet times (`None` while no packet had a time: Simple
    /// Packet Blocks, or a time past 64-bit nanoseconds).
    pub start_ns: Option<i64>,
    pub end_ns: Option<i64>,
    first_clock: i64,
    last_clock: i64,
    pub first_frame: Frame,
    pub last_frame: Frame,
    /// `[originator, responder]`.
    pub directions: [Direction; 2],
    pub conn: Conn,
    pub end_reason: EndReason,
    /// What its packets said of its application (`flow::app`), when the read looks.
    pub app: Option<Box<FlowApp>>,
    /// Times the roles were swapped (`flip`): a datagram's pieces keep the role of its
    /// first piece only while this stays as it was.
    flips: u32,
    /// The 32 bits of the key's hash that place it in the table's index.
    hash: u32,
}

impl Flow {
    pub fn duration_ns(&self) -> Option<i64> {
        Some(self.end_ns? - self.start_ns?)
    }

    pub fn community_id(&self) -> crate::community_id::CommunityId {
        let ports = self
            .key
            .has_ports
            .then(|| (self.orig.1.unwrap_or(0), self.resp.1.unwrap_or(0)));
        crate::community_id::community_id_v1(0, self.orig.0, self.resp.0, self.key.protocol, ports)
    }

    fn role_of(&self, ends: &Endpoints) -> Role {
        let (sp, dp) = match ends.ports {
            Some((s, d)) => (Some(s), Some(d)),
            None => (None, None),
        };
        if (ends.src, sp) == self.orig && (ends.dst, dp) == self.resp {
            Role::Orig
        } else {
            Role::Resp
        }
    }

    /// Swap originator and responder (Zeek's `FlipRoles`).
    fn flip(&mut self) {
        std::mem::swap(&mut self.orig, &mut self.resp);
        self.directions.swap(0, 1);
        self.conn.flip();
        self.flips += 1;
    }
}

const NIL: u32 = u32::MAX;

/// Values by slot, in chunks that never move: a table of a million live flows grows a
/// chunk at a time instead of copying every flow into a vector twice its size (with the
/// old one still held, that copy was the read's peak of memory on a SYN scan). The flows
/// and their links (`Link`) are kept so, slot for slot.
struct Slab<T> {
    chunks: Vec<Vec<T>>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { chunks: Vec::new() }
    }
}

/// Slots per chunk of a slab (about 2.4 MB of flows).
const SLAB_CHUNK: usize = 4096;

impl<T> Slab<T> {
    /// Put `value` in a new slot at the end; its slot.
    fn push(&mut self, value: T) -> u32 {
        if self.chunks.last().is_none_or(|c| c.len() == SLAB_CHUNK) {
            self.chunks.push(Vec::with_capacity(SLAB_CHUNK));
        }
        let last = self.chunks.len() - 1;
        self.chunks[last].push(value);
        (last * SLAB_CHUNK + self.chunks[last].len() - 1) as u32
    }
}

impl<T> std::ops::Index<u32> for Slab<T> {
    type Output = T;
    #[inline]
    fn index(&self, slot: u32) -> &T {
        &self.chunks[slot as usize / SLAB_CHUNK][slot as usize % SLAB_CHUNK]
    }
}

impl<T> std::ops::IndexMut<u32> for Slab<T> {
    #[inline]
    fn index_mut(&mut self, slot: u32) -> &mut T {
        &mut self.chunks[slot as usize / SLAB_CHUNK][slot as usize % SLAB_CHUNK]
    }
}

/// Identifies a fragmented datagram: its addresses, protocol, IP id, and the flow key's
/// VLAN and tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DatagramKey {
    src: Addr,
    dst: Addr,
    protocol: u8,
    ident: u32,
    vlan: Option<u16>,
    tunnel_id: Option<u32>,
}

impl DatagramKey {
    fn of(obs: &Observation, ident: u32) -> Self {
        DatagramKey {
            src: obs.src,
            dst: obs.dst,
            protocol: obs.protocol,
            ident,
            vlan: obs.vlan,
            tunnel_id: obs.tunnel_id,
        }
    }
}

/// A datagram whose first piece was seen: which flow counts it, and how much of it.
#[derive(Debug, Clone, Copy)]
struct Datagram {
    flow_key: FlowKey,
    flow_id: u64,
    /// The first piece's role, when the flow had been flipped `flips` times.
    role: Role,
    flips: u32,
    /// End of the data seen so far (offset + length of the furthest piece).
    data_end: u32,
    created_clock: i64,
}

/// What `FlowTable::add` did with a packet: the flow it joined and which way it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub flow_id: u64,
    pub role: Role,
    /// This packet turned the flow round after its first packet (`Conn::should_flip`):
    /// the roles of its earlier packets are the other way round now.
    pub turned: bool,
}

pub struct FlowTable {
    timeouts: Timeouts,
    /// Live flows by key: each entry a flow's slot and 32 bits of its key's hash
    /// (`Indexed`, 8 bytes), the keys read from the flows themselves (a map holding the
    /// 52-byte keys took 56 bytes an entry: on a SYN scan of 200,000 live flows the index was
    /// the read's largest growth after the flows). With the hash at hand the index grows and
    /// sheds its tombstones, and a flow leaves it, without reading each flow's key to hash
    /// it again (2.5% of the table's time, a cache miss a flow).
    index: hashbrown::HashTable<Indexed>,
    hasher: ahash::RandomState,
    slots: Slab<Flow>,
    free: Vec<u32>,
    // Least recently seen flow first.
    head: u32,
    tail: u32,
    /// Each slot's place in that order, apart from the flows: moving a flow to the back
    /// then touches its neighbours' links, not their lines of the 600-byte flows.
    links: Slab<Link>,
    datagrams: HashMap<DatagramKey, Datagram, ahash::RandomState>,
    datagram_order: VecDeque<(DatagramKey, i64)>,
    clock: Option<i64>,
    /// The slots of the flows ended and not yet taken, in the order they ended: an ended
    /// flow stays where it lived until it is taken (moved to a queue of its own, each
    /// flow (616 bytes then) was copied once more, into memory that each read faulted in
    /// afresh: 7% of the CPU of the benchmark capture's flow read).
    ended: VecDeque<u32>,
}

impl FlowTable {
    pub fn new(timeouts: Timeouts) -> Self {
        FlowTable {
            timeouts,
            index: hashbrown::HashTable::new(),
            hasher: ahash::RandomState::new(),
            slots: Slab::default(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            links: Slab::default(),
            datagrams: HashMap::with_hasher(ahash::RandomState::new()),
            datagram_order: VecDeque::new(),
            clock: None,
            ended: VecDeque::new(),
        }
    }

    /// `f` of up to `n` of the flows ended and not yet taken, in the order they ended, which
    /// are then let go: read where they lie, not copied out first (a batch of ended flows
    /// is tens of megabytes).
    pub fn with_ended<T>(&mut self, n: usize, f: impl FnOnce(&[&Flow]) -> T) -> T {
        let n = n.min(self.ended.len());
        let flows: Vec<&Flow> = self.ended.range(..n).map(|&s| &self.slots[s]).collect();
        let out = f(&flows);
        self.free.extend(self.ended.drain(..n));
        out
    }

    /// Put the flows ended and not yet taken in id order.
    pub fn sort_ended_by_id(&mut self) {
        let slots = &self.slots;
        let mut by_id: Vec<(u64, u32)> = self.ended.iter().map(|&s| (slots[s].id, s)).collect();
        by_id.sort_unstable();
        self.ended.clear();
        self.ended.extend(by_id.into_iter().map(|(_, s)| s));
    }

    pub fn ended_len(&self) -> usize {
        self.ended.len()
    }

    /// Let go of the flows ended so far (a reader that wants only the packets' places).
    pub fn discard_ended(&mut self) {
        self.free.extend(self.ended.drain(..));
    }

    /// Add one packet; `flow_id` for a new flow is made from its frame. `None` for a
    /// packet whose IPv4 header checksum is wrong (verifying checksums): no flow has it.
    pub fn add(&mut self, obs: &Observation) -> Option<Placed> {
        let now = clock_after(self.clock, obs);
        self.add_at(obs, now)
    }

    /// `add` with the capture's clock at this packet given (`clock_after` over every packet
    /// of the read up to this one): a table that sees only some flows' packets (a shard,
    /// `flow::shard`) ends and cuts them exactly as the table of every packet does.
    pub fn add_at(&mut self, obs: &Observation, now: i64) -> Option<Placed> {
        self.clock = Some(now);
        self.expire_idle(now);
        self.expire_datagrams(now);
        if obs.checksum == Checksum::BadIp {
            return None;
        }
        let time = obs.time_ns;

        // A later piece of a datagram whose first piece is in a live flow: counted there.
        if let Some(f) = obs.fragment.filter(|f| f.offset > 0) {
            let dkey = DatagramKey::of(obs, f.ident);
            if let Some(dg) = self.datagrams.get_mut(&dkey) {
                let hash = key_hash(&self.hasher, &dg.flow_key);
                let live = live_slot(&self.index, &self.slots, &dg.flow_key, hash);
                if let Some(slot) = live.filter(|&s| self.slots[s].id == dg.flow_id) {
                    let flow = &mut self.slots[slot];
                    let end = f.offset.saturating_add(f.data_len);
                    let grown = end.saturating_sub(dg.data_end);
                    dg.data_end = dg.data_end.max(end);
                    let role = if (flow.flips - dg.flips).is_multiple_of(2) {
                        dg.role
                    } else {
                        dg.role.other()
                    };
                    let placed = Placed {
                        flow_id: dg.flow_id,
                        role,
                        turned: false,
                    };
                    flow.directions[placed.role as usize].add_fragment(grown);
                    Self::touch_times(flow, time, now, obs.frame);
                    self.move_to_back(slot, now);
                    return Some(placed);
                }
            }
        }

        let ends = Endpoints::of(obs);
        let key = ends.key(obs);
        let hash = key_hash(&self.hasher, &key);
        // One lookup for a packet of a live flow (the common case); a new flow is inserted.
        let slot = match live_slot(&self.index, &self.slots, &key, hash) {
            Some(slot) => match self.ended_by(slot, obs, now) {
                None => slot,
                Some(reason) => {
                    self.end(slot, reason);
                    self.insert(new_flow(key, hash, &ends, obs, time, now))
                }
            },
            None => self.insert(new_flow(key, hash, &ends, obs, time, now)),
        };
        let flow = &mut self.slots[slot];
        let role = flow.role_of(&ends);
        if obs.checksum == Checksum::BadTransport {
            return Some(Self::add_corrupt(flow, role, obs));
        }
        // Zeek decides, packet by packet, whether the roles are the wrong way round.
        let turned = flow.conn.should_flip(role, obs);
        let role = if turned {
            flow.flip();
            flow.conn.turned_late();
            role.other()
        } else {
            role
        };
        Self::touch_times(flow, time, now, obs.frame);
        flow.directions[role as usize].add_packet(obs, time);
        flow.conn.update(role, obs);
        if let Some(facts) = &obs.app {
            flow.app.get_or_insert_default().take(facts);
        }
        let placed = Placed {
            flow_id: flow.id,
            role,
            turned,
        };
        if let Some(f) = obs.fragment.filter(|f| f.offset == 0 && f.more) {
            let dkey = DatagramKey::of(obs, f.ident);
            self.datagrams.insert(
                dkey,
                Datagram {
                    flow_key: key,
                    flow_id: placed.flow_id,
                    role,
                    flips: self.slots[slot].flips,
                    data_end: f.data_len,
                    created_clock: now,
                },
            );
            self.datagram_order.push_back((dkey, now));
        }
        self.move_to_back(slot, now);
        Some(placed)
    }

    /// A packet whose transport checksum is wrong, as Zeek's analyzers take it: TCP and
    /// ICMP drop it after the connection exists (TCP recording `C`/`c`), UDP counts it in
    /// packets and IP bytes first and records `C`/`c`; none moves the connection's times,
    /// state or payload bytes.
    fn add_corrupt(flow: &mut Flow, role: Role, obs: &Observation) -> Placed {
        match obs.protocol {
            TCP => flow.conn.checksum_error(role),
            UDP => {
                let d = &mut flow.directions[role as usize];
                d.packets += 1;
                d.bytes += obs.ip_len as u64;
                flow.conn.checksum_error(role);
            }
            _ => {}
        }
        Placed {
            flow_id: flow.id,
            role,
            turned: false,
        }
    }

    /// Why the live flow in `slot` ends before this packet, if it does: a timeout, or a
    /// TCP connection taken over by a new one.
    fn ended_by(&self, slot: u32, obs: &Observation, now: i64) -> Option<EndReason> {
        let flow = &self.slots[slot];
        if self
            .timeouts
            .idle_ns
            .is_some_and(|t| now - flow.last_clock >= t)
        {
            Some(EndReason::Idle)
        } else if self
            .timeouts
            .active_ns
            .is_some_and(|t| now - flow.first_clock >= t)
        {
            Some(EndReason::Active)
        } else {
            flow.conn.reused_by(obs)
        }
    }

    /// Put a new flow in a free slot, in the index and at the back of the order.
    fn insert(&mut self, flow: Flow) -> u32 {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s] = flow;
                s
            }
            None => {
                self.links.push(Link::default());
                self.slots.push(flow)
            }
        };
        let hash = self.slots[slot].hash;
        self.index
            .insert_unique(spread(hash), Indexed { slot, hash }, |e| spread(e.hash));
        self.push_back(slot, self.slots[slot].last_clock);
        slot
    }

    /// `finish` for a table that saw only some flows' packets: first end, as idle, those
    /// that the capture's last clock `now` had made idle in the table of every packet.
    pub fn finish_at(&mut self, now: Option<i64>) {
        if let Some(now) = now {
            self.expire_idle(now);
        }
        self.finish();
    }

    /// End every flow still alive (the capture is over), in the order of their last packets.
    pub fn finish(&mut self) {
        while self.head != NIL {
            self.end(self.head, EndReason::EndOfCapture);
        }
        self.datagrams.clear();
        self.datagram_order.clear();
    }

    fn touch_times(flow: &mut Flow, time: Option<i64>, now: i64, frame: Frame) {
        if let Some(t) = time {
            flow.start_ns = Some(flow.start_ns.map_or(t, |s| s.min(t)));
            flow.end_ns = Some(flow.end_ns.map_or(t, |e| e.max(t)));
        }
        flow.last_clock = now;
        flow.last_frame = frame;
    }

    fn expire_idle(&mut self, now: i64) {
        let Some(idle) = self.timeouts.idle_ns else {
            return;
        };
        while self.head != NIL && now - self.links[self.head].last_clock >= idle {
            self.end(self.head, EndReason::Idle);
        }
    }

    fn expire_datagrams(&mut self, now: i64) {
        while let Some(&(key, created)) = self.datagram_order.front() {
            if now - created < FRAGMENT_TIMEOUT_NS {
                break;
            }
            self.datagram_order.pop_front();
            if self
                .datagrams
                .get(&key)
                .is_some_and(|d| d.created_clock == created)
            {
                self.datagrams.remove(&key);
            }
        }
    }

    /// End the live flow in `slot`: out of the index and the order, into `ended`; its slot
    /// is free once the flow is taken (`with_ended`).
    fn end(&mut self, slot: u32, reason: EndReason) {
        self.unlink(slot);
        let flow = &mut self.slots[slot];
        if let Ok(entry) = self.index.find_entry(spread(flow.hash), |e| e.slot == slot) {
            entry.remove();
        }
        // A TCP connection closed by FIN or RST says so, whatever removed it afterwards;
        // an active timeout cuts even a closed one.
        flow.end_reason = match (reason, flow.conn.closed()) {
            (EndReason::Active, _) => EndReason::Active,
            (_, Some(closed)) => closed,
            (reason, None) => reason,
        };
        self.ended.push_back(slot);
    }

    fn push_back(&mut self, slot: u32, last_clock: i64) {
        self.links[slot] = Link {
            prev: self.tail,
            next: NIL,
            last_clock,
        };
        if self.tail != NIL {
            self.links[self.tail].next = slot;
        } else {
            self.head = slot;
        }
        self.tail = slot;
    }

    fn unlink(&mut self, slot: u32) {
        let Link { prev, next, .. } = self.links[slot];
        if prev != NIL {
            self.links[prev].next = next;
        } else {
            self.head = next;
        }
        if next != NIL {
            self.links[next].prev = prev;
        } else {
            self.tail = prev;
        }
    }

    /// The flow in `slot` has just had a packet, at the clock `now`.
    fn move_to_back(&mut self, slot: u32, now: i64) {
        if self.tail != slot {
            self.unlink(slot);
            self.push_back(slot, now);
        } else {
            self.links[slot].last_clock = now;
        }
    }
}

/// The 32 bits of `key`'s keyed hash that place it in the index.
#[inline]
fn key_hash(hasher: &ahash::RandomState, key: &FlowKey) -> u32 {
    hasher.hash_one(key) as u32
}

/// The slot of the live flow with `key`, whose `key_hash` is `hash`, from the table's parts
/// (for a caller holding another part).
#[inline]
fn live_slot(
    index: &hashbrown::HashTable<Indexed>,
    slots: &Slab<Flow>,
    key: &FlowKey,
    hash: u32,
) -> Option<u32> {
    index
        .find(spread(hash), |e| {
            e.hash == hash && slots[e.slot].key == *key
        })
        .map(|e| e.slot)
}

/// A live flow in the index: its slot, and the 32 bits of its key's hash (`Flow::hash`).
#[derive(Debug, Clone, Copy)]
struct Indexed {
    slot: u32,
    hash: u32,
}

/// The index's 64-bit hash of a key's 32 (`key_hash`): multiplying by an odd
/// constant keeps the low bits, which place an entry, uniform, and mixes every bit into
/// the top seven, which tag it.
#[inline]
fn spread(hash: u32) -> u64 {
    (hash as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// A flow's place in the order of last packets (slot indices; NIL at the ends), and its
/// last packet's clock (`Flow::last_clock`), which the idle check reads at the front.
#[derive(Debug, Clone, Copy, Default)]
struct Link {
    prev: u32,
    next: u32,
    last_clock: i64,
}

/// The capture's clock after a packet, from the clock before it (`None`: no packet yet):
/// the latest time seen; a packet without a time is placed at the clock (at 0 first).
pub fn clock_after(clock: Option<i64>, obs: &Observation) -> i64 {
    match (obs.time_ns, clock) {
        (Some(t), Some(c)) => t.max(c),
        (Some(t), None) => t,
        (None, Some(c)) => c,
        (None, None) => 0,
    }
}

/// Bits of a flow id for the packet's ordinal in its file; the file's position in the
/// read's list takes the bits above.
pub const FRAME_BITS: u32 = 40;

/// A flow's id: its first packet's file and frame, so that any reader of the same files
/// (a thread, a byte range, a dask worker) names a flow as the sequential read does.
pub fn flow_id(frame: Frame) -> u64 {
    (frame.file as u64) << FRAME_BITS | (frame.number & ((1 << FRAME_BITS) - 1))
}

fn new_flow(
    key: FlowKey,
    hash: u32,
    ends: &Endpoints,
    obs: &Observation,
    time: Option<i64>,
    now: i64,
) -> Flow {
    let (sp, dp) = match ends.ports {
        Some((s, d)) => (Some(s), Some(d)),
        None => (None, None),
    };
    let mut flow = Flow {
        key,
        hash,
        id: flow_id(obs.frame),
        orig: (ends.src, sp),
        resp: (ends.dst, dp),
        start_ns: time,
        end_ns: time,
        first_clock: now,
        last_clock: now,
        first_frame: obs.frame,
        last_frame: obs.frame,
        directions: [Direction::default(), Direction::default()],
        conn: Conn::new(obs.protocol),
        end_reason: EndReason::EndOfCapture,
        app: None,
        flips: 0,
    };
    if conn::originator_is_responder(obs, ends) {
        // Zeek's FlipRoles at creation, recorded as `^` like every turn.
        flow.flip();
    }
    flow
}
