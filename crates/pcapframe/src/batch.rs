//! Rows into Arrow columns. Hosts are dictionary-encoded with one dictionary per batch
//! shared by `src_host` and `dst_host` (so the two columns compare with each other), and
//! each distinct address is formatted once per batch: formatting every row costs about
//! three times the whole parse. Only the columns asked for are built (the rest are `None`),
//! and the columns beyond the documented six sit behind one branch.

use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Int16Builder, Int32Builder, LargeBinaryBuilder, ListBuilder,
    PrimitiveBuilder, StringBuilder, TimestampNanosecondBuilder, UInt16Builder, UInt32Builder,
    UInt64Builder, UInt8Builder,
};
use arrow_array::types::{ArrowPrimitiveType, Int16Type, Int32Type};
use arrow_array::{
    ArrayRef, DictionaryArray, Int16Array, Int32Array, LargeStringArray, RecordBatch,
    RecordBatchOptions, StringArray,
};
use arrow_buffer::{Buffer, BufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use rustc_hash::FxHashMap;

use crate::app;
use crate::column::{self, Column, Needs};
use crate::dissect::Dissection;
use crate::error::{Error, ErrorKind, Result};
use crate::format::Record;
use crate::ip::{Addr, IpPacket};
use crate::link::{self, IpVersion};
use crate::protocol;
use crate::stream::{Found, SegmentAt, StreamCarry, StreamStart, StreamTracker};
use crate::tunnel::Tunnels;
use crate::wire::ip_protocol::TCP;
use crate::wire::Progress;
use crate::wire::{self, dns, http, quic, tls};

/// Rows per record batch: large enough to amortise per-batch work, small enough that a
/// batch of the default columns stays in cache-friendly megabytes.
pub const DEFAULT_BATCH_ROWS: usize = 64 * 1024;

/// How a read writes its host columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostEncoding {
    /// Dictionary-encoded (the schema's type), one dictionary per batch shared by
    /// `src_host` and `dst_host`.
    #[default]
    Dictionary,
    /// As `Dictionary` until a batch holds more than `TEXT_AFTER_DISTINCT_HOSTS` distinct
    /// hosts; that batch and every later one give both host columns as `LargeUtf8` text,
    /// later batches writing each row's address out with no hashing at all (when most
    /// addresses are new, the hash inserts are most of a row's cost). For `read()`, which
    /// turns a read's hosts into text by the same count taken over the whole read, so that
    /// its result does not depend on where batches were cut: a batch over the count means
    /// the read is over it.
    TextWhenDistinct,
}

/// Distinct hosts past which `HostEncoding::TextWhenDistinct` turns to text.
pub const TEXT_AFTER_DISTINCT_HOSTS: usize = 1 << 16;

/// The Arrow schema of a read of the documented columns; `payload` adds the payload column.
pub fn schema(payload: bool) -> SchemaRef {
    schema_of(&column::select::<&str>(None, payload).expect("the default columns are valid"))
}

/// The Arrow schema of a read of `columns`, in that order.
pub fn schema_of(columns: &[Column]) -> SchemaRef {
    Arc::new(Schema::new(
        columns.iter().map(|c| c.field()).collect::<Vec<_>>(),
    ))
}

/// Whether rows of `columns` need the transport header's ports and the payload's bounds.
pub fn needs_transport(columns: &[Column]) -> bool {
    columns.iter().any(|c| {
        matches!(
            c.def().needs,
            Needs::Transport | Needs::Flows | Needs::Streams
        )
    })
}

/// Whether rows of `columns` need the TCP streams followed from each file's start
/// (`stream`): DNS, TLS and HTTP.
pub fn needs_streams(columns: &[Column]) -> bool {
    columns.iter().any(|c| c.def().needs == Needs::Streams)
}

/// Whether rows of `columns` need the flow table run over the read (`flow::label`).
pub fn needs_flows(columns: &[Column]) -> bool {
    columns.iter().any(|c| c.def().needs == Needs::Flows)
}

/// What a row knows besides its record and its dissection: where the record is in its
/// file and, for the flow columns, its flow.
#[derive(Debug, Clone, Copy, Default)]
pub struct RowPlace {
    /// 1-based ordinal of the record among the packet records its reader has seen (a byte
    /// range's reader counts from its start; `parallel::shift_frames` makes it the file's).
    pub frame: u64,
    /// The row's index among the rows its reader made (`stream::SegmentAt`).
    pub row: u64,
    /// The packet's flow id, and whether it goes from the flow's originator.
    pub flow: Option<(u64, bool)>,
    /// Where the record starts in its file; `None` for a live capture.
    pub offset: Option<u64>,
}

/// Whether rows of `columns` need the tunnels walked, even without decapsulating.
pub fn needs_tunnels(columns: &[Column]) -> bool {
    columns.iter().any(|c| c.def().needs == Needs::Tunnels)
}

/// Growth below this many bytes is not checked: small allocations are not where memory
/// runs out.
const CHECK_FROM_BYTES: usize = 4 << 20;

/// Bytes a row may take in the builders of `columns` (besides its payload): fixed-width
/// values, offsets and validity bits, and the host dictionary's share (two addresses, each
/// with its hash slot and text). An overestimate, used only to check growth.
pub fn row_bytes(columns: &[Column]) -> usize {
    let hosts = |pair: [Column; 2]| columns.iter().any(|c| pair.contains(c));
    8 * columns.len()
        + 96 * hosts([Column::SrcHost, Column::DstHost]) as usize
        + 96 * hosts([Column::OuterSrcHost, Column::OuterDstHost]) as usize
}

/// Large growth is tried and made under this lock: two threads must not both be told
/// there is room for the same bytes (the last CI run before this lock aborted that way).
static GROWTH: Mutex<()> = Mutex::new(());

/// Room that must stay free besides a checked growth: for the allocations below
/// `CHECK_FROM_BYTES` that every thread makes unchecked until its next check (a builder
/// below 4 MiB doubles to at most 8 MiB; a thread's builders, dictionaries and streams come
/// to about 20 MiB between checks), and for raising the error once memory has run out.
const SPARE_BYTES: usize = 64 << 20;

/// Proof that a growth was checked; the growth is made while it is held.
#[must_use = "make the growth while the room is held"]
#[derive(Debug)]
pub struct Room {
    _held: Option<MutexGuard<'static, ()>>,
}

/// Fail with `OutOfMemory` unless `bytes` more (and `SPARE_BYTES` beside them) can be
/// allocated now, by allocating them fallibly and letting go. Arrow's builders grow with
/// allocations that abort the process (a Python interpreter with it) when memory runs out;
/// trying each large growth first turns a limit (`ulimit -v`, a container's) into an error
/// that names the file. Make the growth before dropping the returned `Room`.
pub fn check_room(bytes: usize, what: impl FnOnce() -> String) -> Result<Room> {
    if bytes < CHECK_FROM_BYTES {
        return Ok(Room { _held: None });
    }
    let held = GROWTH.lock().unwrap_or_else(|p| p.into_inner());
    let mut probe: Vec<u8> = Vec::new();
    match probe.try_reserve_exact(bytes.saturating_add(SPARE_BYTES)) {
        Ok(()) => Ok(Room { _held: Some(held) }),
        Err(_) => Err(Error::new(
            ErrorKind::OutOfMemory,
            format!(
                "out of memory: {bytes} more bytes cannot be allocated for {} (read in smaller \
                 chunks, with fewer columns or without the payload, or allow more memory)",
                what()
            ),
        )),
    }
}

/// Address -> dictionary key. Each new address is written as text once, straight into
/// the dictionary's string buffers: with every address distinct this insert is most of a
/// row's cost.
pub(crate) struct HostDictionary {
    v4: FxHashMap<[u8; 4], i32>,
    v6: FxHashMap<[u8; 16], i32>,
    /// Arrow string offsets (one more than entries) and bytes of the dictionary's values.
    offsets: Vec<i32>,
    text: Vec<u8>,
}

impl Default for HostDictionary {
    fn default() -> Self {
        HostDictionary {
            v4: FxHashMap::default(),
            v6: FxHashMap::default(),
            offsets: vec![0],
            text: Vec::new(),
        }
    }
}

impl HostDictionary {
    #[inline]
    pub(crate) fn key(&mut self, addr: Addr) -> i32 {
        let next = self.offsets.len() as i32 - 1;
        let key = match addr {
            Addr::V4(a) => *self.v4.entry(a).or_insert(next),
            Addr::V6(a) => *self.v6.entry(a).or_insert(next),
        };
        if key == next {
            addr.push_text(&mut self.text);
            // A batch holds at most a few million addresses of at most 39 bytes.
            self.offsets.push(
                i32::try_from(self.text.len()).expect("a batch's host text fits i32 offsets"),
            );
        }
        key
    }

    /// Distinct addresses so far.
    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub(crate) fn take_values(&mut self) -> ArrayRef {
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        let text = std::mem::take(&mut self.text);
        self.v4.clear();
        self.v6.clear();
        // Validated once for the whole buffer (ASCII), not value by value.
        Arc::new(
            StringArray::try_new(
                OffsetBuffer::new(ScalarBuffer::from(offsets)),
                Buffer::from_vec(text),
                None,
            )
            .expect("address text is ASCII with increasing offsets"),
        )
    }
}

/// Addresses written out row by row, as an Arrow `LargeUtf8` column (what pandas' Arrow
/// strings hold, so they are handed over without a copy).
struct TextColumn {
    offsets: Vec<i64>,
    bytes: Vec<u8>,
}

impl TextColumn {
    fn with_capacity(rows: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        TextColumn {
            offsets,
            bytes: Vec::with_capacity(rows * 16),
        }
    }

    #[inline]
    fn push(&mut self, addr: Addr) {
        addr.push_text(&mut self.bytes);
        self.offsets.push(self.bytes.len() as i64);
    }

    fn finish(&mut self) -> ArrayRef {
        let rows = self.offsets.len() - 1;
        let TextColumn { offsets, bytes } =
            std::mem::replace(self, TextColumn::with_capacity(rows));
        Arc::new(
            LargeStringArray::try_new(
                OffsetBuffer::new(ScalarBuffer::from(offsets)),
                Buffer::from_vec(bytes),
                None,
            )
            .expect("address text is ASCII with increasing offsets"),
        )
    }
}

/// A byte (protocol number, TCP flags) -> dictionary key, only for the values a batch
/// holds; each is named once per batch by `name`.
pub(crate) struct ByteDictionary {
    keys: [i16; 256],
    order: Vec<u8>,
    name: fn(u8) -> String,
}

impl ByteDictionary {
    pub(crate) fn new(name: fn(u8) -> String) -> Self {
        ByteDictionary {
            keys: [-1; 256],
            order: Vec::new(),
            name,
        }
    }

    #[inline]
    pub(crate) fn key(&mut self, p: u8) -> i16 {
        let slot = &mut self.keys[p as usize];
        if *slot < 0 {
            *slot = self.order.len() as i16;
            self.order.push(p);
        }
        *slot
    }

    pub(crate) fn take_values(&mut self) -> ArrayRef {
        let values: StringArray = self.order.iter().map(|&p| Some((self.name)(p))).collect();
        self.keys = [-1; 256];
        self.order.clear();
        Arc::new(values)
    }
}

/// MAC address -> dictionary key, formatted once per batch as `aa:bb:cc:dd:ee:ff`.
#[derive(Default)]
struct MacDictionary {
    keys: FxHashMap<[u8; 6], i32>,
    values: Vec<[u8; 6]>,
}

impl MacDictionary {
    #[inline]
    fn key(&mut self, mac: [u8; 6]) -> i32 {
        let next = self.values.len() as i32;
        let key = *self.keys.entry(mac).or_insert(next);
        if key == next {
            self.values.push(mac);
        }
        key
    }

    fn take_values(&mut self) -> ArrayRef {
        let mut text = StringBuilder::with_capacity(self.values.len(), self.values.len() * 17);
        for b in &self.values {
            text.append_value(format!(
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                b[0], b[1], b[2], b[3], b[4], b[5]
            ));
        }
        self.keys.clear();
        self.values.clear();
        Arc::new(text.finish())
    }
}

/// Tunnel chain (`Tunnels::code`) -> dictionary key, named once per batch.
#[derive(Default)]
struct TunnelDictionary {
    keys: FxHashMap<u64, i32>,
    values: Vec<Tunnels>,
}

impl TunnelDictionary {
    #[inline]
    fn key(&mut self, tunnels: &Tunnels) -> i32 {
        let next = self.values.len() as i32;
        let key = *self.keys.entry(tunnels.code()).or_insert(next);
        if key == next {
            self.values.push(*tunnels);
        }
        key
    }

    fn take_values(&mut self) -> ArrayRef {
        let values: StringArray = self.values.iter().map(|t| Some(t.name())).collect();
        self.keys.clear();
        self.values.clear();
        Arc::new(values)
    }
}

/// Interface name (or index as text) -> dictionary key; the last one is remembered, as
/// consecutive packets mostly share their interface.
#[derive(Default)]
struct TextDictionary<S = rustc_hash::FxBuildHasher> {
    keys: std::collections::HashMap<Box<str>, i32, S>,
    values: Vec<Box<str>>,
    last: Option<i32>,
    /// Bytes of text in `values`.
    text_len: usize,
}

/// A dictionary of text that strangers write (DNS names): hashed with std's keyed SipHash,
/// so that crafted names cannot collide into one bucket.
type KeyedTextDictionary = TextDictionary<std::collections::hash_map::RandomState>;

impl<S: std::hash::BuildHasher> TextDictionary<S> {
    #[inline]
    fn key(&mut self, text: &str) -> i32 {
        if let Some(last) = self.last {
            if &*self.values[last as usize] == text {
                return last;
            }
        }
        let key = match self.keys.get(text) {
            Some(&k) => k,
            None => {
                let k = self.values.len() as i32;
                self.keys.insert(text.into(), k);
                self.values.push(text.into());
                self.text_len += text.len();
                k
            }
        };
        self.last = Some(key);
        key
    }

    fn take_values(&mut self) -> ArrayRef {
        let values: StringArray = self.values.iter().map(|v| Some(&**v)).collect();
        self.keys.clear();
        self.values.clear();
        self.last = None;
        self.text_len = 0;
        Arc::new(values)
    }
}

/// An application column (DNS, TLS, HTTP, QUIC): null in most rows, as a message is rare
/// among packets. Only a row with a value is written, after the null rows since the last
/// one, in one step; the batch's last null rows are written when it is finished. A packet
/// without a message costs these columns nothing, where a builder would write a slot and a
/// validity bit to each of them for every row.
#[derive(Debug)]
struct Sparse<B> {
    builder: B,
    /// Rows written so far.
    len: usize,
}

/// A builder that appends null rows in one step.
trait NullRows {
    fn append_nulls(&mut self, n: usize);
}

impl<T: ArrowPrimitiveType> NullRows for PrimitiveBuilder<T> {
    fn append_nulls(&mut self, n: usize) {
        PrimitiveBuilder::append_nulls(self, n)
    }
}

impl NullRows for BooleanBuilder {
    fn append_nulls(&mut self, n: usize) {
        BooleanBuilder::append_nulls(self, n)
    }
}

impl<B: ArrayBuilder> NullRows for ListBuilder<B> {
    fn append_nulls(&mut self, n: usize) {
        ListBuilder::append_nulls(self, n)
    }
}

impl<B: NullRows> Sparse<B> {
    fn new(builder: B) -> Option<Self> {
        Some(Sparse { builder, len: 0 })
    }

    /// The builder, for the value of the batch's row `row` (each row is given at most one,
    /// in order): the rows before it are nulls.
    #[inline]
    fn at(&mut self, row: usize) -> &mut B {
        debug_assert!(
            row >= self.len,
            "a row's value written twice, or out of order"
        );
        self.builder.append_nulls(row.saturating_sub(self.len));
        self.len = row + 1;
        &mut self.builder
    }

    /// The builder, with the batch's `rows` rows in all, to be finished.
    fn filled(&mut self, rows: usize) -> &mut B {
        self.builder.append_nulls(rows.saturating_sub(self.len));
        self.len = 0;
        &mut self.builder
    }
}

pub(crate) fn dictionary32(keys: Int32Array, values: ArrayRef) -> ArrayRef {
    // Keys come from the dictionary itself, so they are always in range.
    Arc::new(DictionaryArray::<Int32Type>::try_new(keys, values).expect("dictionary keys in range"))
}

pub(crate) fn dictionary16(keys: Int16Array, values: ArrayRef) -> ArrayRef {
    Arc::new(DictionaryArray::<Int16Type>::try_new(keys, values).expect("dictionary keys in range"))
}

#[inline]
fn mac_at(d: &[u8], at: usize) -> Option<[u8; 6]> {
    crate::wire::array(d, at..at + 6)
}

/// A number as text in `buf`, without allocating.
fn itoa(buf: &mut [u8; 10], mut n: u32) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).expect("digits are ASCII")
}

/// The `direction` column's values: a packet from the flow's originator, or to it.
const DIRECTIONS: [&str; 2] = ["orig", "resp"];

/// The Community ID v1 (seed 0) of the packet `p`: TCP's, UDP's or SCTP's ports, ICMP's
/// type and code, nothing for other protocols or a later fragment.
fn packet_community_id(d: &[u8], p: &IpPacket) -> crate::community_id::CommunityId {
    use crate::wire::ip_protocol::{ICMP, ICMPV6};
    /// SCTP's protocol number: its common header starts with the two ports, as UDP's.
    const SCTP: u8 = 132;
    let ports = match p.protocol {
        ICMP | ICMPV6 => p
            .icmp(d)
            .and_then(|h| h.msg_type().zip(h.code()))
            .map(|(t, c)| (t as u16, c as u16)),
        SCTP if p.first_fragment => {
            let header = d.get(p.transport_offset..p.end).unwrap_or(&[]);
            crate::wire::be16(header, 0..2).zip(crate::wire::be16(header, 2..4))
        }
        _ => p.src_port.zip(p.dst_port),
    };
    crate::community_id::community_id_v1(0, p.src, p.dst, p.protocol, ports)
}

/// The columns beyond the documented six, each built only when asked for.
#[derive(Default)]
struct MoreColumns {
    length: Option<UInt32Builder>,
    caplen: Option<UInt32Builder>,
    interfaces: TextDictionary,
    interface: Option<BufferBuilder<i32>>,
    ip_version: Option<UInt8Builder>,
    ttl: Option<UInt8Builder>,
    ip_id: Option<UInt32Builder>,
    ip_proto: Option<UInt8Builder>,
    dscp: Option<UInt8Builder>,
    ecn: Option<UInt8Builder>,
    fragment_offset: Option<UInt16Builder>,
    more_fragments: Option<BooleanBuilder>,
    tcp_flag_names: Option<ByteDictionary>,
    tcp_flags: Option<Int16Builder>,
    tcp_seq: Option<UInt32Builder>,
    tcp_ack: Option<UInt32Builder>,
    tcp_window: Option<UInt16Builder>,
    icmp_type: Option<UInt8Builder>,
    icmp_code: Option<UInt8Builder>,
    vlan: Option<UInt16Builder>,
    macs: MacDictionary,
    src_mac: Option<Int32Builder>,
    dst_mac: Option<Int32Builder>,
    /// This batch's MAC dictionary values, once taken (shared by both MAC columns).
    mac_values: Option<ArrayRef>,
    ethertype: Option<UInt16Builder>,
    payload_length: Option<UInt32Builder>,
    tunnels: TunnelDictionary,
    tunnel: Option<Int32Builder>,
    tunnel_id: Option<UInt32Builder>,
    /// The outermost IP header's addresses: their own dictionary, shared by the two.
    outer_hosts: HostDictionary,
    outer_src_host: Option<BufferBuilder<i32>>,
    outer_dst_host: Option<BufferBuilder<i32>>,
    /// This batch's outer host dictionary values, once taken.
    outer_values: Option<ArrayRef>,
    frame: Option<UInt64Builder>,
    offset: Option<UInt64Builder>,
    community_ids: TextDictionary,
    community_id: Option<Int32Builder>,
    flow_id: Option<UInt64Builder>,
    /// Keys into `DIRECTIONS`.
    direction: Option<BufferBuilder<i16>>,
    dns_id: Option<Sparse<UInt16Builder>>,
    dns_response: Option<Sparse<BooleanBuilder>>,
    dns_opcode: Option<Sparse<UInt8Builder>>,
    dns_rcode: Option<Sparse<UInt8Builder>>,
    dns_qnames: KeyedTextDictionary,
    dns_qname: Option<Sparse<Int32Builder>>,
    dns_qtype: Option<Sparse<UInt16Builder>>,
    dns_qclass: Option<Sparse<UInt16Builder>>,
    dns_answers: Option<Sparse<ListBuilder<StringBuilder>>>,
    dns_ttls: Option<Sparse<ListBuilder<UInt32Builder>>>,
    dns_truncated: Option<Sparse<BooleanBuilder>>,
    tls_handshake: Option<Sparse<Int16Builder>>,
    tls_snis: KeyedTextDictionary,
    tls_sni: Option<Sparse<Int32Builder>>,
    tls_versions: Option<Sparse<ListBuilder<UInt16Builder>>>,
    tls_version: Option<Sparse<UInt16Builder>>,
    tls_alpn: Option<Sparse<ListBuilder<StringBuilder>>>,
    tls_cipher: Option<Sparse<UInt16Builder>>,
    /// JA3, JA3S and JA4 share one dictionary of fingerprints (hashes: few distinct).
    fingerprints: KeyedTextDictionary,
    tls_ja3: Option<Sparse<Int32Builder>>,
    tls_ja3s: Option<Sparse<Int32Builder>>,
    tls_ja4: Option<Sparse<Int32Builder>>,
    /// This batch's fingerprint dictionary values, once taken (shared by the three).
    fingerprint_values: Option<ArrayRef>,
    http_methods: KeyedTextDictionary,
    http_method: Option<Sparse<Int32Builder>>,
    http_hosts: KeyedTextDictionary,
    http_host: Option<Sparse<Int32Builder>>,
    http_uris: KeyedTextDictionary,
    http_uri: Option<Sparse<Int32Builder>>,
    http_user_agents: KeyedTextDictionary,
    http_user_agent: Option<Sparse<Int32Builder>>,
    http_status: Option<Sparse<UInt16Builder>>,
    http_content_types: KeyedTextDictionary,
    http_content_type: Option<Sparse<Int32Builder>>,
    quic_version: Option<Sparse<UInt32Builder>>,
    /// Both connection id columns share one dictionary.
    quic_cids: KeyedTextDictionary,
    quic_dcid: Option<Sparse<Int32Builder>>,
    quic_scid: Option<Sparse<Int32Builder>>,
    /// This batch's connection id dictionary values, once taken.
    quic_cid_values: Option<ArrayRef>,
    /// QUIC client Initial keys derived so far.
    quic_keys: quic::KeyCache,
    /// Any column of the packet's own headers (not an application one).
    packet: bool,
    /// Any of the TCP columns, any of the ICMP ones, any of the DNS ones (each group shares
    /// one look at its header or message).
    tcp: bool,
    icmp: bool,
    dns: bool,
    /// Whether a DNS column reads the answer section (`dns_answers`, `dns_ttls`).
    dns_records: bool,
    tls: bool,
    http: bool,
    quic: bool,
    /// The TCP streams of the read, for DNS, TLS and HTTP over TCP: kept across batches.
    streams: Option<StreamTracker>,
}

impl MoreColumns {
    fn new(columns: &[Column], capacity: usize) -> Option<Box<Self>> {
        use Column::*;
        let mut m = MoreColumns::default();
        let mut any = false;
        for &c in columns {
            // An application column is null in most rows, written only where it has a value
            // (`Sparse`); the others are written for every row.
            m.packet |= !matches!(
                c,
                DnsId
                    | DnsResponse
                    | DnsOpcode
                    | DnsRcode
                    | DnsQname
                    | DnsQtype
                    | DnsQclass
                    | DnsAnswers
                    | DnsTtls
                    | DnsTruncated
                    | TlsHandshake
                    | TlsSni
                    | TlsVersions
                    | TlsVersion
                    | TlsAlpn
                    | TlsCipher
                    | TlsJa3
                    | TlsJa3s
                    | TlsJa4
                    | HttpMethod
                    | HttpHost
                    | HttpUri
                    | HttpUserAgent
                    | HttpStatus
                    | HttpContentType
                    | QuicVersion
                    | QuicDcid
                    | QuicScid
            );
            let u8s = || Some(UInt8Builder::with_capacity(capacity));
            let u16s = || Some(UInt16Builder::with_capacity(capacity));
            let u32s = || Some(UInt32Builder::with_capacity(capacity));
            fn sparse<T: ArrowPrimitiveType>() -> Option<Sparse<PrimitiveBuilder<T>>> {
                Sparse::new(PrimitiveBuilder::new())
            }
            match c {
                Time | SrcHost | SrcPort | DstHost | DstPort | Protocol | Payload => continue,
                Length => m.length = u32s(),
                Caplen => m.caplen = u32s(),
                Interface => m.interface = Some(BufferBuilder::new(capacity)),
                IpVersion => m.ip_version = u8s(),
                Ttl => m.ttl = u8s(),
                IpId => m.ip_id = u32s(),
                IpProto => m.ip_proto = u8s(),
                Dscp => m.dscp = u8s(),
                Ecn => m.ecn = u8s(),
                FragmentOffset => m.fragment_offset = u16s(),
                MoreFragments => m.more_fragments = Some(BooleanBuilder::with_capacity(capacity)),
                TcpFlags => {
                    m.tcp_flags = Some(Int16Builder::with_capacity(capacity));
                    m.tcp_flag_names = Some(ByteDictionary::new(column::tcp_flag_letters));
                }
                TcpSeq => m.tcp_seq = u32s(),
                TcpAck => m.tcp_ack = u32s(),
                TcpWindow => m.tcp_window = u16s(),
                IcmpType => m.icmp_type = u8s(),
                IcmpCode => m.icmp_code = u8s(),
                Vlan => m.vlan = u16s(),
                SrcMac => m.src_mac = Some(Int32Builder::with_capacity(capacity)),
                DstMac => m.dst_mac = Some(Int32Builder::with_capacity(capacity)),
                Ethertype => m.ethertype = u16s(),
                PayloadLength => m.payload_length = u32s(),
                Tunnel => m.tunnel = Some(Int32Builder::with_capacity(capacity)),
                TunnelId => m.tunnel_id = u32s(),
                OuterSrcHost => m.outer_src_host = Some(BufferBuilder::new(capacity)),
                OuterDstHost => m.outer_dst_host = Some(BufferBuilder::new(capacity)),
                Frame => m.frame = Some(UInt64Builder::with_capacity(capacity)),
                Offset => m.offset = Some(UInt64Builder::with_capacity(capacity)),
                CommunityId => m.community_id = Some(Int32Builder::with_capacity(capacity)),
                FlowId => m.flow_id = Some(UInt64Builder::with_capacity(capacity)),
                Direction => m.direction = Some(BufferBuilder::new(capacity)),
                DnsId => m.dns_id = sparse(),
                DnsResponse => m.dns_response = Sparse::new(BooleanBuilder::new()),
                DnsOpcode => m.dns_opcode = sparse(),
                DnsRcode => m.dns_rcode = sparse(),
                DnsQname => m.dns_qname = sparse(),
                DnsQtype => m.dns_qtype = sparse(),
                DnsQclass => m.dns_qclass = sparse(),
                DnsAnswers => m.dns_answers = Sparse::new(ListBuilder::new(StringBuilder::new())),
                DnsTtls => m.dns_ttls = Sparse::new(ListBuilder::new(UInt32Builder::new())),
                DnsTruncated => m.dns_truncated = Sparse::new(BooleanBuilder::new()),
                TlsHandshake => m.tls_handshake = sparse(),
                TlsSni => m.tls_sni = sparse(),
                TlsVersions => m.tls_versions = Sparse::new(ListBuilder::new(UInt16Builder::new())),
                TlsVersion => m.tls_version = sparse(),
                TlsAlpn => m.tls_alpn = Sparse::new(ListBuilder::new(StringBuilder::new())),
                TlsCipher => m.tls_cipher = sparse(),
                TlsJa3 => m.tls_ja3 = sparse(),
                TlsJa3s => m.tls_ja3s = sparse(),
                TlsJa4 => m.tls_ja4 = sparse(),
                HttpMethod => m.http_method = sparse(),
                HttpHost => m.http_host = sparse(),
                HttpUri => m.http_uri = sparse(),
                HttpUserAgent => m.http_user_agent = sparse(),
                HttpStatus => m.http_status = sparse(),
                HttpContentType => m.http_content_type = sparse(),
                QuicVersion => m.quic_version = sparse(),
                QuicDcid => m.quic_dcid = sparse(),
                QuicScid => m.quic_scid = sparse(),
            }
            any = true;
        }
        m.tcp = m.tcp_flags.is_some()
            || m.tcp_seq.is_some()
            || m.tcp_ack.is_some()
            || m.tcp_window.is_some();
        m.icmp = m.icmp_type.is_some() || m.icmp_code.is_some();
        m.dns = m.dns_id.is_some()
            || m.dns_response.is_some()
            || m.dns_opcode.is_some()
            || m.dns_rcode.is_some()
            || m.dns_qname.is_some()
            || m.dns_qtype.is_some()
            || m.dns_qclass.is_some()
            || m.dns_answers.is_some()
            || m.dns_ttls.is_some()
            || m.dns_truncated.is_some();
        m.dns_records = m.dns_answers.is_some() || m.dns_ttls.is_some();
        m.tls = m.tls_handshake.is_some()
            || m.tls_sni.is_some()
            || m.tls_versions.is_some()
            || m.tls_version.is_some()
            || m.tls_alpn.is_some()
            || m.tls_cipher.is_some()
            || m.tls_ja3.is_some()
            || m.tls_ja3s.is_some()
            || m.tls_ja4.is_some();
        m.http = m.http_method.is_some()
            || m.http_host.is_some()
            || m.http_uri.is_some()
            || m.http_user_agent.is_some()
            || m.http_status.is_some()
            || m.http_content_type.is_some();
        m.quic = m.quic_version.is_some() || m.quic_dcid.is_some() || m.quic_scid.is_some();
        if m.dns || m.tls || m.http {
            m.streams = Some(StreamTracker::new());
        }
        any.then(|| Box::new(m))
    }

    /// One row: `row` is its place in the batch.
    #[inline]
    fn push(&mut self, record: &Record<'_>, dissection: &Dissection, place: &RowPlace, row: usize) {
        if self.packet {
            self.push_packet(record, dissection, place);
        }
        if self.dns || self.tls || self.http || self.quic {
            self.push_app(record, dissection, place, row);
        }
    }

    /// The columns of the packet's own headers.
    #[inline]
    fn push_packet(&mut self, record: &Record<'_>, dissection: &Dissection, place: &RowPlace) {
        let (d, link, p) = (record.data, &dissection.link, dissection.ip());
        if let Some(b) = &mut self.length {
            b.append_value(record.wire_len);
        }
        if let Some(b) = &mut self.caplen {
            b.append_value(d.len() as u32);
        }
        if let Some(b) = &mut self.interface {
            let key = match record.interface_name {
                Some(name) => self.interfaces.key(name),
                None => self.interfaces.key(itoa(&mut [0u8; 10], record.interface)),
            };
            b.append(key);
        }
        if let Some(b) = &mut self.ip_version {
            b.append_value(if p.version == IpVersion::V4 { 4 } else { 6 });
        }
        if let Some(b) = &mut self.ttl {
            b.append_value(p.ttl);
        }
        if let Some(b) = &mut self.ip_id {
            b.append_option(p.ident);
        }
        if let Some(b) = &mut self.ip_proto {
            b.append_value(p.ip_proto);
        }
        if let Some(b) = &mut self.dscp {
            b.append_value(p.tos >> 2);
        }
        if let Some(b) = &mut self.ecn {
            b.append_value(p.tos & 0x03);
        }
        if let Some(b) = &mut self.fragment_offset {
            b.append_value(p.fragment_offset);
        }
        if let Some(b) = &mut self.more_fragments {
            b.append_value(p.more_fragments);
        }
        if self.tcp {
            self.push_tcp(d, p);
        }
        if self.icmp {
            let icmp = p.icmp(d);
            if let Some(b) = &mut self.icmp_type {
                b.append_option(icmp.and_then(|h| h.msg_type()));
            }
            if let Some(b) = &mut self.icmp_code {
                b.append_option(icmp.and_then(|h| h.code()));
            }
        }
        if let Some(b) = &mut self.vlan {
            b.append_option(link.vlan);
        }
        if self.src_mac.is_some() || self.dst_mac.is_some() {
            let (src, dst) = match link.macs {
                Some((s, t)) => (mac_at(d, s), mac_at(d, t)),
                None => (None, None),
            };
            if let Some(b) = &mut self.src_mac {
                b.append_option(src.map(|m| self.macs.key(m)));
            }
            if let Some(b) = &mut self.dst_mac {
                b.append_option(dst.map(|m| self.macs.key(m)));
            }
        }
        if let Some(b) = &mut self.ethertype {
            b.append_option(
                link.ethernet_offset
                    .and_then(|at| link::ethernet_type(d, at)),
            );
        }
        if let Some(b) = &mut self.payload_length {
            b.append_value(p.payload.len() as u32);
        }
        let tunnels = &dissection.tunnels;
        if let Some(b) = &mut self.tunnel {
            b.append_option((!tunnels.is_empty()).then(|| self.tunnels.key(tunnels)));
        }
        if let Some(b) = &mut self.tunnel_id {
            b.append_option(tunnels.id());
        }
        if let Some(b) = &mut self.outer_src_host {
            b.append(self.outer_hosts.key(dissection.outer.src));
        }
        if let Some(b) = &mut self.outer_dst_host {
            b.append(self.outer_hosts.key(dissection.outer.dst));
        }
        if let Some(b) = &mut self.frame {
            b.append_value(place.frame);
        }
        if let Some(b) = &mut self.offset {
            b.append_option(place.offset);
        }
        if let Some(b) = &mut self.community_id {
            b.append_value(self.community_ids.key(packet_community_id(d, p).as_str()));
        }
        if self.flow_id.is_some() || self.direction.is_some() {
            // A read with flow columns has its rows placed (`flow::label`) before they come here.
            let (id, from_orig) = place
                .flow
                .expect("a flow column's row is placed in its flow");
            if let Some(b) = &mut self.flow_id {
                b.append_value(id);
            }
            if let Some(b) = &mut self.direction {
                b.append(if from_orig { 0 } else { 1 });
            }
        }
    }

    /// The application columns of the row `row`, from the message the packet holds or
    /// completes, if any.
    #[inline]
    fn push_app(
        &mut self,
        record: &Record<'_>,
        dissection: &Dissection,
        place: &RowPlace,
        row: usize,
    ) {
        let (d, p) = (record.data, dissection.ip());
        let at = SegmentAt {
            record: record.offset,
            row: place.row,
        };
        // A TCP segment's message, from its stream (`stream`); UDP's from the datagram.
        let found = match &mut self.streams {
            Some(streams) if p.protocol == TCP => {
                streams.segment(d, p, record.timestamp_ns, dissection.link.vlan, at)
            }
            _ => None,
        };
        if self.dns {
            let message = match &found {
                Some(Found::Dns(m)) => {
                    let mdns =
                        p.src_port == Some(dns::MDNS_PORT) || p.dst_port == Some(dns::MDNS_PORT);
                    dns::Repr::parse_with(m, mdns, self.dns_records)
                }
                _ => app::dns_datagram(d, p)
                    .and_then(|(m, mdns)| dns::Repr::parse_with(m, mdns, self.dns_records)),
            };
            if let Some(m) = &message {
                self.push_dns(row, m);
            }
        }
        // QUIC's long header, read when its columns are asked for, or when the streams are
        // followed: a client Initial whose hello continues in a later one is fed to them
        // whatever the columns, so that their clock, and so every stream column's value,
        // is the same whichever of them a read names.
        let quic = if self.quic || self.tls || self.streams.is_some() {
            app::udp_payload(d, p).and_then(|b| quic::parse_cached(b, &mut self.quic_keys))
        } else {
            None
        };
        if let (true, Some(q)) = (self.quic, &quic) {
            self.push_quic(row, q);
        }
        // A hello over several Initials, put together by the streams.
        let quic_hello = match (quic, &mut self.streams) {
            (Some(mut q), streams) => match (q.hello.take(), streams) {
                (Some(h), _) => Some(h),
                (None, Some(streams)) => {
                    let vlan = dissection.link.vlan;
                    streams.quic_initial(p, record.timestamp_ns, vlan, at, q)
                }
                (None, None) => None,
            },
            (None, _) => None,
        };
        if self.tls {
            match (&quic_hello, &found) {
                (Some(h), _) => self.push_tls(row, h, true),
                (None, Some(Found::Tls(h))) => self.push_tls(row, h, false),
                _ => {}
            }
        }
        if self.http {
            let message = match &found {
                Some(Found::Http(head)) => match http::parse_head(head) {
                    Progress::Done(h) => Some(h.message),
                    _ => None,
                },
                _ => app::udp_payload(d, p).and_then(|b| http::parse(b, true)),
            };
            if let Some(m) = &message {
                self.push_http(row, m);
            }
        }
    }

    /// The HTTP columns of the row `row`, from its message.
    fn push_http(&mut self, row: usize, m: &http::Message<'_>) {
        fn text(
            b: &mut Option<Sparse<Int32Builder>>,
            dictionary: &mut KeyedTextDictionary,
            row: usize,
            value: Option<&[u8]>,
        ) {
            if let (Some(b), Some(v)) = (b, value) {
                let mut shown = String::new();
                wire::push_display_text(v, &mut shown);
                b.at(row).append_value(dictionary.key(&shown));
            }
        }
        text(&mut self.http_method, &mut self.http_methods, row, m.method);
        text(&mut self.http_host, &mut self.http_hosts, row, m.host);
        text(&mut self.http_uri, &mut self.http_uris, row, m.uri);
        text(
            &mut self.http_user_agent,
            &mut self.http_user_agents,
            row,
            m.user_agent,
        );
        if let (Some(b), Some(status)) = (&mut self.http_status, m.status) {
            b.at(row).append_value(status);
        }
        text(
            &mut self.http_content_type,
            &mut self.http_content_types,
            row,
            m.content_type,
        );
    }

    /// The QUIC columns of the row `row`, from its long header.
    fn push_quic(&mut self, row: usize, q: &quic::LongHeader<'_>) {
        if let Some(b) = &mut self.quic_version {
            b.at(row).append_value(q.version);
        }
        if let Some(b) = &mut self.quic_dcid {
            b.at(row)
                .append_value(self.quic_cids.key(&quic::cid_hex(q.dcid)));
        }
        if let Some(b) = &mut self.quic_scid {
            b.at(row)
                .append_value(self.quic_cids.key(&quic::cid_hex(q.scid)));
        }
    }

    /// The TLS columns of the row `row`, from its hello (`over_quic`: from a QUIC client
    /// Initial).
    fn push_tls(&mut self, row: usize, h: &tls::Hello, over_quic: bool) {
        use tls::HelloKind::{Client, Server};
        let client = h.kind == Client;
        if let Some(b) = &mut self.tls_handshake {
            b.at(row).append_value(h.kind as i16);
        }
        if let (Some(b), true, Some(name)) = (&mut self.tls_sni, client, h.server_name.as_deref()) {
            let mut text = String::new();
            wire::push_display_text(name, &mut text);
            b.at(row).append_value(self.tls_snis.key(&text));
        }
        if let (Some(b), true) = (&mut self.tls_versions, client) {
            let b = b.at(row);
            b.values().append_slice(&h.offered_versions());
            b.append(true);
        }
        if let (Some(b), Server) = (&mut self.tls_version, h.kind) {
            b.at(row).append_value(h.version());
        }
        if let Some(b) = &mut self.tls_alpn {
            let b = b.at(row);
            for p in &h.alpn {
                let mut text = String::new();
                wire::push_display_text(p, &mut text);
                b.values().append_value(&text);
            }
            b.append(true);
        }
        if let (Some(b), Server) = (&mut self.tls_cipher, h.kind) {
            b.at(row).append_value(h.ciphers[0]);
        }
        if let (Some(b), true) = (&mut self.tls_ja3, client) {
            b.at(row).append_value(self.fingerprints.key(&h.ja3()));
        }
        if let (Some(b), Server) = (&mut self.tls_ja3s, h.kind) {
            b.at(row).append_value(self.fingerprints.key(&h.ja3()));
        }
        if let (Some(b), true) = (&mut self.tls_ja4, client) {
            if let Some(ja4) = h.ja4(over_quic) {
                b.at(row).append_value(self.fingerprints.key(&ja4));
            }
        }
    }

    /// The DNS columns of the row `row`, from its message.
    fn push_dns(&mut self, row: usize, m: &dns::Repr) {
        if let Some(b) = &mut self.dns_id {
            b.at(row).append_value(m.id);
        }
        if let Some(b) = &mut self.dns_response {
            b.at(row).append_value(m.response);
        }
        if let Some(b) = &mut self.dns_opcode {
            b.at(row).append_value(m.opcode);
        }
        if let Some(b) = &mut self.dns_rcode {
            b.at(row).append_value(m.rcode);
        }
        if let Some(q) = &m.question {
            if let Some(b) = &mut self.dns_qname {
                b.at(row).append_value(self.dns_qnames.key(&q.name));
            }
            if let Some(b) = &mut self.dns_qtype {
                b.at(row).append_value(q.qtype);
            }
            if let Some(b) = &mut self.dns_qclass {
                b.at(row).append_value(q.qclass);
            }
        }
        if let (Some(b), Some(answers)) = (&mut self.dns_answers, &m.answers) {
            let b = b.at(row);
            for a in answers {
                b.values().append_value(&a.value);
            }
            b.append(true);
        }
        if let (Some(b), Some(answers)) = (&mut self.dns_ttls, &m.answers) {
            let b = b.at(row);
            for a in answers {
                b.values().append_value(a.ttl);
            }
            b.append(true);
        }
        if let Some(b) = &mut self.dns_truncated {
            b.at(row).append_value(m.truncated);
        }
    }

    /// Bytes of text the DNS, TLS, HTTP and QUIC columns hold so far.
    fn app_text_bytes(&self) -> usize {
        self.dns_qnames.text_len
            + self
                .dns_answers
                .as_ref()
                .map_or(0, |b| b.builder.values_ref().values_slice().len())
            + self.tls_snis.text_len
            + self.fingerprints.text_len
            + self.http_methods.text_len
            + self.http_hosts.text_len
            + self.http_uris.text_len
            + self.http_user_agents.text_len
            + self.http_content_types.text_len
            + self.quic_cids.text_len
            + self
                .tls_alpn
                .as_ref()
                .map_or(0, |b| b.builder.values_ref().values_slice().len())
    }

    /// The TCP header's fields, each as far as it was captured within the IP packet.
    #[inline]
    fn push_tcp(&mut self, d: &[u8], p: &IpPacket) {
        let tcp = p.tcp(d);
        if let (Some(b), Some(names)) = (&mut self.tcp_flags, &mut self.tcp_flag_names) {
            b.append_option(tcp.and_then(|h| h.flags()).map(|f| names.key(f)));
        }
        if let Some(b) = &mut self.tcp_seq {
            b.append_option(tcp.and_then(|h| h.seq_number()));
        }
        if let Some(b) = &mut self.tcp_ack {
            // As the header holds it, with or without the ACK flag (as tshark's tcp.ack_raw).
            b.append_option(tcp.and_then(|h| h.ack_number()));
        }
        if let Some(b) = &mut self.tcp_window {
            b.append_option(tcp.and_then(|h| h.window()));
        }
    }

    /// Column `c` of the batch, which holds `rows` rows.
    fn finish(&mut self, c: Column, rows: usize) -> ArrayRef {
        use Column::*;
        fn take<B: arrow_array::builder::ArrayBuilder>(b: &mut Option<B>) -> ArrayRef {
            b.as_mut()
                .expect("a selected column has a builder")
                .finish()
        }
        fn take_sparse<B: NullRows + ArrayBuilder>(
            b: &mut Option<Sparse<B>>,
            rows: usize,
        ) -> ArrayRef {
            b.as_mut()
                .expect("a selected column has a builder")
                .filled(rows)
                .finish()
        }
        match c {
            Length => take(&mut self.length),
            Caplen => take(&mut self.caplen),
            Interface => {
                let keys = self.interface.as_mut().expect("selected").finish();
                dictionary32(
                    Int32Array::new(keys.into(), None),
                    self.interfaces.take_values(),
                )
            }
            IpVersion => take(&mut self.ip_version),
            Ttl => take(&mut self.ttl),
            IpId => take(&mut self.ip_id),
            IpProto => take(&mut self.ip_proto),
            Dscp => take(&mut self.dscp),
            Ecn => take(&mut self.ecn),
            FragmentOffset => take(&mut self.fragment_offset),
            MoreFragments => take(&mut self.more_fragments),
            TcpFlags => {
                let keys = self.tcp_flags.as_mut().expect("selected").finish();
                dictionary16(
                    keys,
                    self.tcp_flag_names
                        .as_mut()
                        .expect("selected")
                        .take_values(),
                )
            }
            TcpSeq => take(&mut self.tcp_seq),
            TcpAck => take(&mut self.tcp_ack),
            TcpWindow => take(&mut self.tcp_window),
            IcmpType => take(&mut self.icmp_type),
            IcmpCode => take(&mut self.icmp_code),
            Vlan => take(&mut self.vlan),
            SrcMac | DstMac => {
                let keys = if c == SrcMac {
                    self.src_mac.as_mut()
                } else {
                    self.dst_mac.as_mut()
                };
                let keys = keys.expect("selected").finish();
                if self.mac_values.is_none() {
                    self.mac_values = Some(self.macs.take_values());
                }
                dictionary32(keys, self.mac_values.clone().expect("just set"))
            }
            Ethertype => take(&mut self.ethertype),
            PayloadLength => take(&mut self.payload_length),
            Tunnel => {
                let keys = self.tunnel.as_mut().expect("selected").finish();
                dictionary32(keys, self.tunnels.take_values())
            }
            TunnelId => take(&mut self.tunnel_id),
            OuterSrcHost | OuterDstHost => {
                let keys = if c == OuterSrcHost {
                    self.outer_src_host.as_mut()
                } else {
                    self.outer_dst_host.as_mut()
                };
                let keys = keys.expect("selected").finish();
                if self.outer_values.is_none() {
                    self.outer_values = Some(self.outer_hosts.take_values());
                }
                dictionary32(
                    Int32Array::new(keys.into(), None),
                    self.outer_values.clone().expect("just set"),
                )
            }
            Frame => take(&mut self.frame),
            Offset => take(&mut self.offset),
            CommunityId => {
                let keys = self.community_id.as_mut().expect("selected").finish();
                dictionary32(keys, self.community_ids.take_values())
            }
            FlowId => take(&mut self.flow_id),
            Direction => {
                let keys = self.direction.as_mut().expect("selected").finish();
                dictionary16(
                    Int16Array::new(keys.into(), None),
                    Arc::new(StringArray::from(DIRECTIONS.to_vec())),
                )
            }
            DnsId => take_sparse(&mut self.dns_id, rows),
            DnsResponse => take_sparse(&mut self.dns_response, rows),
            DnsOpcode => take_sparse(&mut self.dns_opcode, rows),
            DnsRcode => take_sparse(&mut self.dns_rcode, rows),
            DnsQname => {
                let keys = self
                    .dns_qname
                    .as_mut()
                    .expect("selected")
                    .filled(rows)
                    .finish();
                dictionary32(keys, self.dns_qnames.take_values())
            }
            DnsQtype => take_sparse(&mut self.dns_qtype, rows),
            DnsQclass => take_sparse(&mut self.dns_qclass, rows),
            DnsAnswers => take_sparse(&mut self.dns_answers, rows),
            DnsTtls => take_sparse(&mut self.dns_ttls, rows),
            DnsTruncated => take_sparse(&mut self.dns_truncated, rows),
            TlsHandshake => {
                let keys = self
                    .tls_handshake
                    .as_mut()
                    .expect("selected")
                    .filled(rows)
                    .finish();
                dictionary16(
                    keys,
                    Arc::new(StringArray::from(vec![
                        tls::HelloKind::Client.name(),
                        tls::HelloKind::Server.name(),
                    ])),
                )
            }
            TlsSni => {
                let keys = self
                    .tls_sni
                    .as_mut()
                    .expect("selected")
                    .filled(rows)
                    .finish();
                dictionary32(keys, self.tls_snis.take_values())
            }
            TlsVersions => take_sparse(&mut self.tls_versions, rows),
            TlsVersion => take_sparse(&mut self.tls_version, rows),
            TlsAlpn => take_sparse(&mut self.tls_alpn, rows),
            TlsCipher => take_sparse(&mut self.tls_cipher, rows),
            HttpMethod | HttpHost | HttpUri | HttpUserAgent | HttpContentType => {
                let (keys, values) = match c {
                    HttpMethod => (self.http_method.as_mut(), &mut self.http_methods),
                    HttpHost => (self.http_host.as_mut(), &mut self.http_hosts),
                    HttpUri => (self.http_uri.as_mut(), &mut self.http_uris),
                    HttpUserAgent => (self.http_user_agent.as_mut(), &mut self.http_user_agents),
                    _ => (
                        self.http_content_type.as_mut(),
                        &mut self.http_content_types,
                    ),
                };
                dictionary32(
                    keys.expect("selected").filled(rows).finish(),
                    values.take_values(),
                )
            }
            HttpStatus => take_sparse(&mut self.http_status, rows),
            QuicVersion => take_sparse(&mut self.quic_version, rows),
            QuicDcid | QuicScid => {
                let keys = if c == QuicDcid {
                    self.quic_dcid.as_mut()
                } else {
                    self.quic_scid.as_mut()
                };
                let keys = keys.expect("selected").filled(rows).finish();
                if self.quic_cid_values.is_none() {
                    self.quic_cid_values = Some(self.quic_cids.take_values());
                }
                dictionary32(keys, self.quic_cid_values.clone().expect("just set"))
            }
            TlsJa3 | TlsJa3s | TlsJa4 => {
                let keys = match c {
                    TlsJa3 => self.tls_ja3.as_mut(),
                    TlsJa3s => self.tls_ja3s.as_mut(),
                    _ => self.tls_ja4.as_mut(),
                };
                let keys = keys.expect("selected").filled(rows).finish();
                if self.fingerprint_values.is_none() {
                    self.fingerprint_values = Some(self.fingerprints.take_values());
                }
                dictionary32(keys, self.fingerprint_values.clone().expect("just set"))
            }
            Time | SrcHost | SrcPort | DstHost | DstPort | Protocol | Payload => {
                unreachable!("the documented columns are built by BatchBuilder")
            }
        }
    }
}

/// Accumulates rows and hands out record batches of the chosen columns.
pub struct BatchBuilder {
    schema: SchemaRef,
    columns: Vec<Column>,
    time: Option<TimestampNanosecondBuilder>,
    hosts: HostDictionary,
    src_host: Option<BufferBuilder<i32>>,
    dst_host: Option<BufferBuilder<i32>>,
    host_encoding: HostEncoding,
    /// Set once `HostEncoding::TextWhenDistinct` has turned to text: the host columns are
    /// these, and the two above stay empty.
    host_text: Option<(Option<TextColumn>, Option<TextColumn>)>,
    /// `schema` with the host columns as `LargeUtf8`, once they are text.
    text_schema: Option<SchemaRef>,
    src_port: Option<UInt16Builder>,
    dst_port: Option<UInt16Builder>,
    protocols: ByteDictionary,
    protocol: Option<BufferBuilder<i16>>,
    payload: Option<LargeBinaryBuilder>,
    more: Option<Box<MoreColumns>>,
    rows: usize,
    /// `row_bytes` of the columns.
    row_bytes: usize,
}

pub(crate) fn protocol_name(p: u8) -> String {
    protocol::name(p).into_owned()
}

impl BatchBuilder {
    /// A builder of the documented columns (`payload` adds the payload column).
    pub fn new(payload: bool, capacity: usize) -> Self {
        Self::with_columns(
            &column::select::<&str>(None, payload).expect("the default columns are valid"),
            capacity,
        )
    }

    /// A builder of `columns`, in that order.
    pub fn with_columns(columns: &[Column], capacity: usize) -> Self {
        let has = |c: Column| columns.contains(&c);
        BatchBuilder {
            schema: schema_of(columns),
            columns: columns.to_vec(),
            time: has(Column::Time).then(|| TimestampNanosecondBuilder::with_capacity(capacity)),
            hosts: HostDictionary::default(),
            src_host: has(Column::SrcHost).then(|| BufferBuilder::new(capacity)),
            dst_host: has(Column::DstHost).then(|| BufferBuilder::new(capacity)),
            host_encoding: HostEncoding::Dictionary,
            host_text: None,
            text_schema: None,
            src_port: has(Column::SrcPort).then(|| UInt16Builder::with_capacity(capacity)),
            dst_port: has(Column::DstPort).then(|| UInt16Builder::with_capacity(capacity)),
            protocols: ByteDictionary::new(protocol_name),
            protocol: has(Column::Protocol).then(|| BufferBuilder::new(capacity)),
            payload: has(Column::Payload)
                .then(|| LargeBinaryBuilder::with_capacity(capacity, capacity * 64)),
            more: MoreColumns::new(columns, capacity),
            rows: 0,
            row_bytes: row_bytes(columns),
        }
    }

    /// This builder, writing its hosts as `encoding` says.
    /// Follow the TCP streams (when a column reads them) from `start`.
    pub fn start_streams(&mut self, start: StreamStart) {
        if let Some(t) = self.more.as_mut().and_then(|m| m.streams.as_mut()) {
            *t = StreamTracker::starting(start);
        }
    }

    /// The TCP streams' state at this point, for the byte range after (`stream`).
    pub fn take_streams(&mut self) -> Option<StreamCarry> {
        Some(self.more.as_mut()?.streams.as_mut()?.carry())
    }

    pub fn with_host_encoding(mut self, encoding: HostEncoding) -> Self {
        self.host_encoding = encoding;
        self
    }

    /// The schema of the batches (with `HostEncoding::TextWhenDistinct`, a batch's host
    /// columns may be `LargeUtf8` instead).
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.rows
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Payload bytes held so far (to cut batches before they grow too large).
    pub fn payload_bytes(&self) -> usize {
        self.payload.as_ref().map_or(0, |b| b.values_slice().len())
    }

    /// Text bytes the batch's dictionaries and text columns hold so far (to cut batches
    /// before 32-bit string offsets could overflow, and bound their memory, whatever the
    /// batch's row count).
    pub fn text_bytes(&self) -> usize {
        let host_text = self.host_text.as_ref().map_or(0, |(src, dst)| {
            src.as_ref().map_or(0, |t| t.bytes.len()) + dst.as_ref().map_or(0, |t| t.bytes.len())
        });
        self.hosts.text.len()
            + host_text
            + self.more.as_ref().map_or(0, |m| {
                m.macs.values.len() * 17 + m.outer_hosts.text.len() + m.app_text_bytes()
            })
    }

    /// Check that the next row, with `payload_len` payload bytes, can be added: the
    /// builders double (each when full, the per-row ones all at row counts that are powers
    /// of two), so the doubling about to happen is tried first (see `check_room`).
    #[inline]
    pub fn make_room(&self, payload_len: usize) -> Result<Room> {
        let rows = self.rows;
        let mut grown = 0;
        if rows.is_power_of_two() && rows * self.row_bytes >= CHECK_FROM_BYTES {
            grown += 2 * rows * self.row_bytes;
        }
        let mut payload = None;
        if let Some(b) = &self.payload {
            let (len, capacity) = (b.values_slice().len(), b.values_capacity());
            if len + payload_len > capacity {
                let more = (2 * capacity).max(len + payload_len);
                if more >= CHECK_FROM_BYTES {
                    grown += more;
                    payload = Some(len);
                }
            }
        }
        if grown == 0 {
            return Ok(Room { _held: None });
        }
        // One check for both: the second would wait on the lock the first holds.
        check_room(grown, || match payload {
            Some(len) => format!("{len} bytes of payload in one batch of {rows} rows"),
            None => format!("a batch of {} rows", 2 * rows),
        })
    }

    #[inline]
    pub fn push(&mut self, record: &Record<'_>, dissection: &Dissection, place: &RowPlace) {
        let p = dissection.ip();
        if let Some(b) = &mut self.time {
            b.append_option(record.timestamp_ns);
        }
        if let Some((src, dst)) = &mut self.host_text {
            if let Some(t) = src {
                t.push(p.src);
            }
            if let Some(t) = dst {
                t.push(p.dst);
            }
        } else {
            if let Some(b) = &mut self.src_host {
                b.append(self.hosts.key(p.src));
            }
            if let Some(b) = &mut self.dst_host {
                b.append(self.hosts.key(p.dst));
            }
        }
        if let Some(b) = &mut self.src_port {
            b.append_option(p.src_port);
        }
        if let Some(b) = &mut self.dst_port {
            b.append_option(p.dst_port);
        }
        if let Some(b) = &mut self.protocol {
            b.append(self.protocols.key(p.protocol));
        }
        if let Some(b) = &mut self.payload {
            b.append_value(&record.data[p.payload.clone()]);
        }
        if let Some(more) = &mut self.more {
            more.push(record, dissection, place, self.rows);
        }
        self.rows += 1;
    }

    /// The rows so far as one batch; the builder is empty afterwards.
    pub fn finish(&mut self) -> RecordBatch {
        let selects_hosts = self.src_host.is_some() || self.dst_host.is_some();
        // This batch turns the hosts to text (see `HostEncoding::TextWhenDistinct`).
        let to_text = self.host_text.is_none()
            && self.host_encoding == HostEncoding::TextWhenDistinct
            && self.hosts.len() > TEXT_AFTER_DISTINCT_HOSTS;
        let host_values =
            (selects_hosts && self.host_text.is_none()).then(|| self.hosts.take_values());
        let host_column = |keys: &mut Option<BufferBuilder<i32>>| -> ArrayRef {
            let keys = keys.as_mut().expect("selected").finish();
            let column = dictionary32(
                Int32Array::new(keys.into(), None),
                host_values.clone().expect("hosts selected"),
            );
            if to_text {
                arrow_cast::cast(&column, &DataType::LargeUtf8)
                    .expect("a string dictionary casts to text")
            } else {
                column
            }
        };
        let text_column = |text: &mut Option<(Option<TextColumn>, Option<TextColumn>)>,
                           src: bool| {
            let (s, d) = text.as_mut().expect("hosts are text");
            if src { s } else { d }.as_mut().expect("selected").finish()
        };
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for i in 0..self.columns.len() {
            columns.push(match self.columns[i] {
                Column::Time => Arc::new(self.time.as_mut().expect("selected").finish()),
                Column::SrcHost if self.host_text.is_some() => {
                    text_column(&mut self.host_text, true)
                }
                Column::DstHost if self.host_text.is_some() => {
                    text_column(&mut self.host_text, false)
                }
                Column::SrcHost => host_column(&mut self.src_host),
                Column::DstHost => host_column(&mut self.dst_host),
                Column::SrcPort => Arc::new(self.src_port.as_mut().expect("selected").finish()),
                Column::DstPort => Arc::new(self.dst_port.as_mut().expect("selected").finish()),
                Column::Protocol => {
                    let keys = self.protocol.as_mut().expect("selected").finish();
                    dictionary16(
                        Int16Array::new(keys.into(), None),
                        self.protocols.take_values(),
                    )
                }
                Column::Payload => Arc::new(self.payload.as_mut().expect("selected").finish()),
                other => self
                    .more
                    .as_mut()
                    .expect("a column beyond the six has its builders")
                    .finish(other, self.rows),
            });
        }
        if let Some(more) = &mut self.more {
            more.mac_values = None;
            more.outer_values = None;
            more.fingerprint_values = None;
            more.quic_cid_values = None;
        }
        let rows = std::mem::take(&mut self.rows);
        if to_text {
            let capacity = rows.max(1024);
            self.host_text = Some((
                self.src_host
                    .is_some()
                    .then(|| TextColumn::with_capacity(capacity)),
                self.dst_host
                    .is_some()
                    .then(|| TextColumn::with_capacity(capacity)),
            ));
        }
        let schema = if to_text || self.host_text.is_some() {
            self.text_schema().clone()
        } else {
            self.schema.clone()
        };
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(schema, columns, &options)
            .expect("columns match the schema")
    }

    fn text_schema(&mut self) -> &SchemaRef {
        let columns = &self.columns;
        self.text_schema.get_or_insert_with(|| {
            let fields: Vec<Field> = columns
                .iter()
                .map(|&c| match c {
                    Column::SrcHost | Column::DstHost => {
                        Field::new(c.name(), DataType::LargeUtf8, c.field().is_nullable())
                    }
                    _ => c.field(),
                })
                .collect();
            Arc::new(Schema::new(fields))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{UInt16Type, UInt32Type, UInt64Type};
    use arrow_array::Array;

    /// An Ethernet frame with a VLAN tag, IPv4 and a TCP SYN-ACK with 3 bytes of data.
    fn frame() -> Vec<u8> {
        let mut f = vec![
            0xbb, 0, 0, 0, 0, 2, 0xaa, 0, 0, 0, 0, 1, 0x81, 0x00, 0x00, 0x07, 0x08, 0x00,
        ];
        let tcp = [
            0x01, 0xbb, 0xc0, 0x00, 0, 0, 0, 9, 0, 0, 0, 5, 0x50, 0x12, 0x20, 0x00, 0, 0, 0, 0,
            b'a', b'b', b'c',
        ];
        let total = (20 + tcp.len()) as u8;
        f.extend_from_slice(&[
            0x45, 0xb8, 0, total, 0x12, 0x34, 0x40, 0, 63, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        f.extend_from_slice(&tcp);
        f.extend_from_slice(&[0; 4]); // Ethernet padding
        f
    }

    fn push(builder: &mut BatchBuilder, data: &[u8], transport: bool) {
        let record = Record {
            timestamp_ns: Some(5),
            wire_len: 100,
            link_type: link::linktype::ETHERNET,
            interface: 2,
            interface_name: None,
            big_endian: false,
            data,
            offset: 0,
        };
        let depth = crate::dissect::Depth {
            transport,
            tunnels: true,
            decapsulate: false,
        };
        let dissection =
            crate::dissect::dissect(record.link_type, data, record.wire_len, depth).unwrap();
        let place = RowPlace {
            frame: 7,
            row: 0,
            flow: Some((42, false)),
            offset: Some(24),
        };
        builder.push(&record, &dissection, &place);
    }

    /// `frame()` with the IPv4 source address set to `src` (the checksum is not checked).
    fn frame_from(src: [u8; 4]) -> Vec<u8> {
        let mut f = frame();
        f[18 + 12..18 + 16].copy_from_slice(&src);
        f
    }

    /// The host column as text, whichever encoding the batch chose.
    fn host_text(batch: &RecordBatch, name: &str) -> (bool, Vec<String>) {
        let column = batch.column_by_name(name).unwrap();
        let is_text = column.data_type() == &DataType::LargeUtf8;
        let text = arrow_cast::cast(column, &DataType::Utf8).unwrap();
        let values = text
            .as_string::<i32>()
            .iter()
            .map(|v| v.unwrap().to_owned())
            .collect();
        (is_text, values)
    }

    #[test]
    fn hosts_turn_to_text_after_a_batch_of_many_distinct() {
        let few = |i: u32| [10, 0, 0, (i % 16) as u8];
        let many = |i: u32| {
            let [a, b, c, d] = (0x0b00_0000 + i).to_be_bytes();
            [a, b, c, d]
        };
        type Addresses = fn(u32) -> [u8; 4];
        let batches: [(u32, Addresses); 4] = [
            (1000, few),
            (TEXT_AFTER_DISTINCT_HOSTS as u32 + 10, many), // with 10.0.0.2: over the count
            (1000, few),
            (70_000, many),
        ];
        for encoding in [HostEncoding::Dictionary, HostEncoding::TextWhenDistinct] {
            let mut b = BatchBuilder::new(false, 1024).with_host_encoding(encoding);
            let mut kinds = Vec::new();
            for (rows, address) in batches {
                for i in 0..rows {
                    push(&mut b, &frame_from(address(i)), true);
                }
                let batch = b.finish();
                let (src_is_text, src) = host_text(&batch, "src_host");
                let (dst_is_text, dst) = host_text(&batch, "dst_host");
                assert_eq!(src_is_text, dst_is_text);
                kinds.push(src_is_text);
                let want: Vec<String> = (0..rows)
                    .map(|i| std::net::Ipv4Addr::from(address(i)).to_string())
                    .collect();
                assert_eq!(src, want);
                assert!(dst.iter().all(|d| d == "10.0.0.2"));
                assert_eq!(batch.schema().field(0), b.schema().field(0)); // time as ever
            }
            let expected = match encoding {
                HostEncoding::Dictionary => [false; 4],
                HostEncoding::TextWhenDistinct => [false, true, true, true],
            };
            assert_eq!(kinds, expected, "{encoding:?}");
        }
    }

    #[test]
    fn only_the_chosen_columns_in_their_order() {
        let columns = [Column::Length, Column::Time];
        let mut b = BatchBuilder::with_columns(&columns, 4);
        assert!(b.more.is_some() && b.src_host.is_none() && b.protocol.is_none());
        assert!(!needs_transport(&columns));
        push(&mut b, &frame(), false);
        let batch = b.finish();
        let schema = batch.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["length", "time"]);
        assert_eq!(batch.column(0).as_primitive::<UInt32Type>().value(0), 100);
        // The documented six need nothing beyond their own builders.
        assert!(BatchBuilder::new(false, 4).more.is_none());
    }

    #[test]
    fn every_column_of_one_frame() {
        let mut b = BatchBuilder::with_columns(&Column::ALL, 4);
        let data = frame();
        push(&mut b, &data, true);
        let batch = b.finish();
        let get = |name: &str| batch.column_by_name(name).unwrap().clone();
        let text = |name: &str| {
            let c = get(name);
            let d = c.as_dictionary::<Int32Type>();
            d.values()
                .as_string::<i32>()
                .value(d.keys().value(0) as usize)
                .to_string()
        };
        let u32_of = |name: &str| get(name).as_primitive::<UInt32Type>().value(0);
        let u16_of = |name: &str| get(name).as_primitive::<UInt16Type>().value(0);
        let u8_of = |name: &str| {
            get(name)
                .as_primitive::<arrow_array::types::UInt8Type>()
                .value(0)
        };
        assert_eq!(text("src_mac"), "aa:00:00:00:00:01");
        assert_eq!(text("dst_mac"), "bb:00:00:00:00:02");
        assert_eq!(text("interface"), "2");
        assert_eq!(u16_of("ethertype"), 0x0800);
        assert_eq!(u16_of("vlan"), 7);
        assert_eq!(
            (u32_of("length"), u32_of("caplen")),
            (100, data.len() as u32)
        );
        assert_eq!(
            (u8_of("ttl"), u8_of("ip_proto"), u8_of("ip_version")),
            (63, 6, 4)
        );
        assert_eq!((u8_of("dscp"), u8_of("ecn")), (46, 0));
        assert_eq!(u32_of("ip_id"), 0x1234);
        assert_eq!((u32_of("tcp_seq"), u32_of("tcp_ack")), (9, 5));
        assert_eq!(u16_of("tcp_window"), 0x2000);
        let flags = get("tcp_flags");
        let flags = flags.as_dictionary::<Int16Type>();
        assert_eq!(
            flags
                .values()
                .as_string::<i32>()
                .value(flags.keys().value(0) as usize),
            "S."
        );
        assert!(get("icmp_type").is_null(0) && get("icmp_code").is_null(0));
        assert_eq!(u32_of("payload_length"), 3);
        assert!(!get("more_fragments").as_boolean().value(0));
        let u64_of = |name: &str| get(name).as_primitive::<UInt64Type>().value(0);
        assert_eq!((u64_of("frame"), u64_of("flow_id")), (7, 42));
        let direction = get("direction");
        let direction = direction.as_dictionary::<Int16Type>();
        assert_eq!(
            direction
                .values()
                .as_string::<i32>()
                .value(direction.keys().value(0) as usize),
            "resp"
        );
        // Base64 of a SHA-1 digest after the version (tshark holds the value to the spec).
        let id = text("community_id");
        assert!(id.starts_with("1:") && id.len() == 30, "{id}");
    }

    #[test]
    fn tcp_fields_stop_where_the_capture_does() {
        let data = frame();
        let mut b =
            BatchBuilder::with_columns(&[Column::TcpSeq, Column::TcpAck, Column::TcpFlags], 4);
        // Cut inside the acknowledgement number: the sequence number is there, the rest not.
        push(&mut b, &data[..18 + 20 + 10], true);
        let batch = b.finish();
        assert_eq!(batch.column(0).as_primitive::<UInt32Type>().value(0), 9);
        assert!(batch.column(1).is_null(0) && batch.column(2).is_null(0));
    }

    #[test]
    fn growth_that_cannot_be_allocated_is_an_out_of_memory_error() {
        // Small growth is not checked; growth beyond any address space is refused.
        assert!(check_room(1 << 10, || unreachable!()).is_ok());
        let e = check_room(isize::MAX as usize, || "a test".into()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::OutOfMemory);
        assert!(e.message.contains("a test"), "{e}");
        assert!(check_room(64 << 20, || "64 MiB".into()).is_ok());
    }

    #[test]
    fn a_checked_growth_holds_the_room_until_it_is_made() {
        // Another thread's check waits: both cannot be told there is room for the same bytes.
        let room = check_room(8 << 20, || unreachable!()).unwrap();
        let (told, heard) = std::sync::mpsc::channel();
        let other = std::thread::spawn(move || {
            let _room = check_room(8 << 20, || unreachable!()).unwrap();
            told.send(()).unwrap();
        });
        let wait = std::time::Duration::from_millis(300);
        assert!(
            heard.recv_timeout(wait).is_err(),
            "the second check did not wait"
        );
        drop(room);
        heard
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap();
        other.join().unwrap();
    }
}
