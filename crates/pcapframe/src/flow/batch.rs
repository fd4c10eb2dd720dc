//! Ended flows into Arrow record batches: the flow table's columns, defined once in
//! `flow_columns()` (name, type, meaning), from which the schema and the README's table
//! come. Hosts, protocols and TCP flags are dictionary-encoded by the packet table's own
//! dictionaries, so both tables write them alike.

use std::borrow::Borrow;
use std::sync::Arc;

use arrow_array::builder::{
    DurationNanosecondBuilder, Float64Builder, StringBuilder, StringDictionaryBuilder,
    TimestampNanosecondBuilder, UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::types::{Int16Type, Int32Type};
use arrow_array::{ArrayRef, Int16Array, Int32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::app::FlowApp;
use super::table::Flow;
use crate::batch::{dictionary16, dictionary32, protocol_name, ByteDictionary, HostDictionary};
use crate::column::tcp_flag_letters;
use crate::ip::Addr;
use crate::wire::ip_protocol::TCP;

/// A flow column's Arrow type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    Timestamp,
    Duration,
    /// Dictionary-encoded text, 32-bit keys (hosts).
    Text32,
    /// Dictionary-encoded text, 16-bit keys (few distinct values).
    Text16,
    /// Plain text (history, community id).
    Text,
    UInt16,
    UInt32,
    UInt64,
    Float64,
}

impl FlowKind {
    pub fn data_type(self) -> DataType {
        let dict = |k| DataType::Dictionary(Box::new(k), Box::new(DataType::Utf8));
        match self {
            FlowKind::Timestamp => DataType::Timestamp(TimeUnit::Nanosecond, None),
            FlowKind::Duration => DataType::Duration(TimeUnit::Nanosecond),
            FlowKind::Text32 => dict(DataType::Int32),
            FlowKind::Text16 => dict(DataType::Int16),
            FlowKind::Text => DataType::Utf8,
            FlowKind::UInt16 => DataType::UInt16,
            FlowKind::UInt32 => DataType::UInt32,
            FlowKind::UInt64 => DataType::UInt64,
            FlowKind::Float64 => DataType::Float64,
        }
    }

    pub fn pandas_dtype(self) -> &'static str {
        match self {
            FlowKind::Timestamp => "datetime64[ns]",
            FlowKind::Duration => "timedelta64[ns]",
            FlowKind::Text32 | FlowKind::Text16 => "category",
            FlowKind::Text => "string",
            FlowKind::UInt16 => "UInt16",
            FlowKind::UInt32 => "UInt32",
            FlowKind::UInt64 => "UInt64",
            FlowKind::Float64 => "Float64",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct FlowColumnDef {
    pub name: &'static str,
    pub kind: FlowKind,
    pub nullable: bool,
    pub doc: &'static str,
}

const fn col(
    name: &'static str,
    kind: FlowKind,
    nullable: bool,
    doc: &'static str,
) -> FlowColumnDef {
    FlowColumnDef {
        name,
        kind,
        nullable,
        doc,
    }
}

use FlowKind::*;

/// Columns before and after the per-direction ones.
const HEAD: [FlowColumnDef; 11] = [
    col("flow_id", UInt64, false, "the flow's id: its first packet's file (position in the read's list) times 2^40 plus its frame; the packet table's `flow_id`"),
    col("start", Timestamp, true, "the earliest packet time of the flow (NaT when no packet had one: Simple Packet Blocks)"),
    col("end", Timestamp, true, "the latest packet time of the flow"),
    col("duration", Duration, true, "`end - start`"),
    col("src_host", Text32, false, "the originator's address (Zeek's `id.orig_h`)"),
    col("src_port", UInt16, true, "the originator's port; ICMP: the first message's type"),
    col("dst_host", Text32, false, "the responder's address (`id.resp_h`)"),
    col("dst_port", UInt16, true, "the responder's port; ICMP: the counterpart type of a request or reply, else the code"),
    col("protocol", Text16, false, "the transport protocol, named as the packet table names it"),
    col("vlan", UInt16, true, "the outer VLAN id the flow is keyed by"),
    col("tunnel_id", UInt32, true, "the innermost tunnel's id the flow is keyed by (`decapsulate=True`)"),
];

/// Per-direction columns, each once with `src_` (originator) and once with `dst_`.
const DIRECTION: [FlowColumnDef; 13] = [
    col("packets", UInt64, false, "IP packets sent (a fragmented datagram once)"),
    col("bytes", UInt64, false, "IP lengths as the headers write them (IPv6: payload length + 40; a datagram at its reassembled length)"),
    col("payload_bytes", UInt64, false, "transport payload by the headers' lengths"),
    col("tcp_flags", Text16, true, "TCP flags seen, ORed, as tcpdump letters"),
    col("init_window", UInt16, true, "the window field of the first TCP packet sent"),
    col("size_min", UInt32, true, "smallest IP length"),
    col("size_mean", Float64, true, "mean IP length"),
    col("size_std", Float64, true, "sample standard deviation of IP lengths (two packets or more)"),
    col("size_max", UInt32, true, "largest IP length"),
    col("iat_min", Duration, true, "shortest gap between consecutive packets sent (two packets or more)"),
    col("iat_mean", Duration, true, "mean gap"),
    col("iat_std", Duration, true, "sample standard deviation of the gaps (three packets or more)"),
    col("iat_max", Duration, true, "longest gap"),
];

const TAIL: [FlowColumnDef; 6] = [
    col("conn_state", Text16, false, "Zeek's `conn_state` (README: Flows)"),
    col("history", Text, false, "Zeek's `history` (README: Flows)"),
    col("end_reason", Text16, false, "why the flow ended: `idle`, `active`, `fin`, `rst`, `reused` (a SYN with a new sequence number before any close) or `end_of_capture`"),
    col("community_id", Text, false, "Community ID v1, seed 0"),
    col("first_frame", UInt64, false, "frame number of the flow's first packet in its file"),
    col("last_frame", UInt64, false, "frame number of the flow's last packet in its file"),
];

/// The application columns: read only when one is selected (`FlowColumns`), as the packet
/// table's DNS, TLS, HTTP and QUIC columns are.
const APP: [FlowColumnDef; 5] = [
    col("application", Text16, true, "the application protocol of the flow's first message told by content (`dns`, `tls`, `quic`, `http`, `ssh`), never by port alone (README: Flows)"),
    col("server_name", Text32, true, "the first server name the flow asks for: a ClientHello's SNI (TLS or QUIC), an HTTP request's Host, or a DNS question's name"),
    col("tls_ja4", Text32, true, "the flow's first client hello's JA4 (`tls_ja4`)"),
    col("tls_ja3", Text32, true, "the flow's first client hello's JA3 (`tls_ja3`)"),
    col("tls_ja3s", Text32, true, "the flow's first server hello's JA3S (`tls_ja3s`)"),
];

/// Every flow column, in order (the per-direction names are made once, here); the
/// application columns last.
pub fn flow_columns() -> &'static [FlowColumnDef] {
    static COLUMNS: std::sync::OnceLock<Vec<FlowColumnDef>> = std::sync::OnceLock::new();
    COLUMNS.get_or_init(all_columns)
}

fn all_columns() -> Vec<FlowColumnDef> {
    let mut out: Vec<FlowColumnDef> = HEAD.to_vec();
    let leak = |prefix: &str, d: &FlowColumnDef| -> FlowColumnDef {
        let name: &'static str = Box::leak(format!("{prefix}{}", d.name).into_boxed_str());
        FlowColumnDef { name, ..*d }
    };
    for prefix in ["src_", "dst_"] {
        out.extend(DIRECTION.iter().map(|d| leak(prefix, d)));
    }
    out.extend(TAIL);
    out.extend(APP);
    out
}

/// Every flow column's field, in order.
fn full_schema() -> SchemaRef {
    static SCHEMA: std::sync::OnceLock<SchemaRef> = std::sync::OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(
                flow_columns()
                    .iter()
                    .map(|d| Field::new(d.name, d.kind.data_type(), d.nullable))
                    .collect::<Vec<_>>(),
            ))
        })
        .clone()
}

/// The default flow table's schema: every column but the application ones.
pub fn flow_schema() -> SchemaRef {
    FlowColumns::default().schema()
}

/// Which flow columns a read gives, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowColumns {
    indices: Vec<usize>,
}

impl Default for FlowColumns {
    /// Every column but the application ones.
    fn default() -> Self {
        FlowColumns {
            indices: (0..flow_columns().len() - APP.len()).collect(),
        }
    }
}

impl FlowColumns {
    /// The columns named, in that order (`None`: the default); an unknown or repeated name
    /// is an `InvalidArgument` error listing the valid ones.
    pub fn named<S: AsRef<str>>(names: Option<&[S]>) -> crate::error::Result<Self> {
        let Some(names) = names else {
            return Ok(Self::default());
        };
        let mut indices = Vec::with_capacity(names.len());
        for name in names {
            let name = name.as_ref();
            let Some(i) = flow_columns().iter().position(|d| d.name == name) else {
                let valid: Vec<&str> = flow_columns().iter().map(|d| d.name).collect();
                return Err(crate::error::Error::invalid_argument(format!(
                    "unknown flow column {name:?};{} the flow table's columns are {}",
                    crate::error::did_you_mean(name, valid.iter().copied()),
                    valid.join(", ")
                )));
            };
            if indices.contains(&i) {
                return Err(crate::error::Error::invalid_argument(format!(
                    "flow column {name:?} is named twice"
                )));
            }
            indices.push(i);
        }
        if indices.is_empty() {
            return Err(crate::error::Error::invalid_argument(
                "no flow column named: give at least one",
            ));
        }
        Ok(FlowColumns { indices })
    }

    /// Whether an application column is selected: the read then follows each flow's
    /// messages (`flow::app`, `ReadOptions::flow_app`).
    pub fn app(&self) -> bool {
        let first_app = flow_columns().len() - APP.len();
        self.indices.iter().any(|&i| i >= first_app)
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::new(
            full_schema()
                .project(&self.indices)
                .expect("indices of flow columns"),
        )
    }

    /// The flows as one record batch of these columns, in the order given.
    pub fn batch<F: Borrow<Flow> + Sync>(&self, flows: &[F]) -> RecordBatch {
        all_columns_batch(flows, self.app())
            .project(&self.indices)
            .expect("indices of flow columns")
    }
}

/// The README's table of flow columns.
pub fn flow_markdown_table() -> String {
    let mut out = String::from("| column | dtype | meaning |\n|---|---|---|\n");
    for d in flow_columns() {
        let nullable = if d.nullable && !matches!(d.kind, Timestamp | Text32 | Text16 | Text) {
            " (nullable)"
        } else {
            ""
        };
        out.push_str(&format!(
            "| `{}` | {}{} | {} |\n",
            d.name,
            d.kind.pandas_dtype(),
            nullable,
            d.doc
        ));
    }
    out
}

/// The flows as one record batch of the default columns, in the order given.
pub fn flows_batch<F: Borrow<Flow> + Sync>(flows: &[F]) -> RecordBatch {
    FlowColumns::default().batch(flows)
}

/// Every column of the flows, the application ones null unless `app`: each flow read
/// once, its values appended to every column's builder (a pass per column read each
/// flow again: 66,699 flows took 0.06 s, each pass waiting on memory). A large
/// batch is built on two threads, each making half the columns (the last batch of a read
/// is built after every packet is decoded, with the other core idle).
fn all_columns_batch<F: Borrow<Flow> + Sync>(flows: &[F], app: bool) -> RecordBatch {
    // Halves of about equal work: Community ID (a SHA-1 a flow) is as much as the rest.
    let first_half = || {
        let mut head = HeadBuilders::new(flows.len());
        flows.iter().for_each(|f| head.append(f.borrow()));
        head.finish()
    };
    let second_half = || {
        let n = flows.len();
        let mut directions = [DirectionBuilders::new(n), DirectionBuilders::new(n)];
        let mut tail = TailBuilders::new(n, app);
        for f in flows {
            let f = f.borrow();
            directions[0].append(f, 0);
            directions[1].append(f, 1);
            tail.append(f);
        }
        let [src, dst] = directions;
        (src.finish(), dst.finish(), tail.finish())
    };
    let (head, (src, dst, tail)) = if flows.len() < PARALLEL_BATCH_FLOWS {
        (first_half(), second_half())
    } else {
        std::thread::scope(|scope| {
            // No thread to be had (a limit): both halves here.
            let other = std::thread::Builder::new().spawn_scoped(scope, second_half);
            let head = first_half();
            let rest = match other {
                Ok(other) => other
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(_) => second_half(),
            };
            (head, rest)
        })
    };
    let (head, community_id) = head;
    let mut cols = Vec::with_capacity(flow_columns().len());
    cols.extend(head);
    cols.extend(src);
    cols.extend(dst);
    let [conn_state, history, end_reason, first_frame, last_frame, app @ ..] = tail;
    cols.extend([
        conn_state,
        history,
        end_reason,
        community_id,
        first_frame,
        last_frame,
    ]);
    cols.extend(app);
    RecordBatch::try_new(full_schema(), cols).expect("the columns follow the flow schema")
}

/// Flows in a batch from which building it on two threads pays for the second thread.
const PARALLEL_BATCH_FLOWS: usize = 8192;

/// The builders of the columns before the per-direction ones, in `HEAD` order.
struct HeadBuilders {
    id: UInt64Builder,
    start: TimestampNanosecondBuilder,
    end: TimestampNanosecondBuilder,
    duration: DurationNanosecondBuilder,
    hosts: HostDictionary,
    src_host: Vec<i32>,
    /// Keyed after every source address, so that the dictionary lists the sources first.
    dst_host: Vec<Addr>,
    src_port: UInt16Builder,
    dst_port: UInt16Builder,
    protocols: ByteDictionary,
    protocol: Vec<i16>,
    vlan: UInt16Builder,
    tunnel_id: UInt32Builder,
    /// `TAIL`'s `community_id`, made here for the halves' balance.
    community_id: StringBuilder,
}

/// One direction's builders (`src_` or `dst_`), in `DIRECTION` order.
struct DirectionBuilders {
    packets: UInt64Builder,
    bytes: UInt64Builder,
    payload_bytes: UInt64Builder,
    letters: ByteDictionary,
    tcp_flags: Vec<Option<i16>>,
    init_window: UInt16Builder,
    size_min: UInt32Builder,
    size_mean: Float64Builder,
    size_std: Float64Builder,
    size_max: UInt32Builder,
    iat_min: DurationNanosecondBuilder,
    iat_mean: DurationNanosecondBuilder,
    iat_std: DurationNanosecondBuilder,
    iat_max: DurationNanosecondBuilder,
}

/// The builders of the columns after the per-direction ones (`TAIL` but `community_id`,
/// then `APP`).
struct TailBuilders {
    app: bool,
    conn_state: StringDictionaryBuilder<Int16Type>,
    history: StringBuilder,
    end_reason: StringDictionaryBuilder<Int16Type>,
    first_frame: UInt64Builder,
    last_frame: UInt64Builder,
    application: StringDictionaryBuilder<Int16Type>,
    /// Server name, JA4, JA3, JA3S.
    app_texts: [StringDictionaryBuilder<Int32Type>; 4],
}

impl HeadBuilders {
    fn new(n: usize) -> Self {
        HeadBuilders {
            id: UInt64Builder::with_capacity(n),
            start: TimestampNanosecondBuilder::with_capacity(n),
            end: TimestampNanosecondBuilder::with_capacity(n),
            duration: DurationNanosecondBuilder::with_capacity(n),
            hosts: HostDictionary::default(),
            src_host: Vec::with_capacity(n),
            dst_host: Vec::with_capacity(n),
            src_port: UInt16Builder::with_capacity(n),
            dst_port: UInt16Builder::with_capacity(n),
            protocols: ByteDictionary::new(protocol_name),
            protocol: Vec::with_capacity(n),
            vlan: UInt16Builder::with_capacity(n),
            tunnel_id: UInt32Builder::with_capacity(n),
            community_id: StringBuilder::with_capacity(n, n * 30),
        }
    }

    fn append(&mut self, f: &Flow) {
        self.id.append_value(f.id);
        self.start.append_option(f.start_ns);
        self.end.append_option(f.end_ns);
        self.duration.append_option(f.duration_ns());
        self.src_host.push(self.hosts.key(f.orig.0));
        self.dst_host.push(f.resp.0);
        self.src_port.append_option(f.orig.1);
        self.dst_port.append_option(f.resp.1);
        self.protocol.push(self.protocols.key(f.key.protocol));
        self.vlan.append_option(f.key.vlan);
        self.tunnel_id.append_option(f.key.tunnel_id);
        self.community_id.append_value(f.community_id().as_str());
    }

    /// The head columns, and the Community ID column.
    fn finish(mut self) -> ([ArrayRef; 11], ArrayRef) {
        // Both host columns over one dictionary, as the packet table builds them.
        let hosts = &mut self.hosts;
        let dst_host: Int32Array = self.dst_host.iter().map(|&a| Some(hosts.key(a))).collect();
        let hosts = self.hosts.take_values();
        let head: [ArrayRef; 11] = [
            Arc::new(self.id.finish()),
            Arc::new(self.start.finish()),
            Arc::new(self.end.finish()),
            Arc::new(self.duration.finish()),
            dictionary32(Int32Array::from(self.src_host), hosts.clone()),
            Arc::new(self.src_port.finish()),
            dictionary32(dst_host, hosts),
            Arc::new(self.dst_port.finish()),
            dictionary16(
                Int16Array::from(self.protocol),
                self.protocols.take_values(),
            ),
            Arc::new(self.vlan.finish()),
            Arc::new(self.tunnel_id.finish()),
        ];
        (head, Arc::new(self.community_id.finish()))
    }
}

impl TailBuilders {
    fn new(n: usize, app: bool) -> Self {
        TailBuilders {
            app,
            conn_state: StringDictionaryBuilder::new(),
            history: StringBuilder::with_capacity(n, n * 8),
            end_reason: StringDictionaryBuilder::new(),
            first_frame: UInt64Builder::with_capacity(n),
            last_frame: UInt64Builder::with_capacity(n),
            application: StringDictionaryBuilder::new(),
            app_texts: std::array::from_fn(|_| StringDictionaryBuilder::new()),
        }
    }

    fn append(&mut self, f: &Flow) {
        self.conn_state.append_value(f.conn.conn_state());
        self.history.append_value(f.conn.history());
        self.end_reason.append_value(f.end_reason.name());
        self.first_frame.append_value(f.first_frame.number);
        self.last_frame.append_value(f.last_frame.number);
        let facts = f.app.as_deref().filter(|_| self.app);
        self.application
            .append_option(facts.and_then(|a| a.application).map(|a| a.name()));
        for (b, text) in self.app_texts.iter_mut().zip(app_texts(facts)) {
            b.append_option(text);
        }
    }

    fn finish(mut self) -> [ArrayRef; 10] {
        let [server_name, ja4, ja3, ja3s] = self.app_texts.each_mut().map(|b| b.finish());
        [
            Arc::new(self.conn_state.finish()),
            Arc::new(self.history.finish()),
            Arc::new(self.end_reason.finish()),
            Arc::new(self.first_frame.finish()),
            Arc::new(self.last_frame.finish()),
            Arc::new(self.application.finish()),
            Arc::new(server_name),
            Arc::new(ja4),
            Arc::new(ja3),
            Arc::new(ja3s),
        ]
    }
}

/// The server name, JA4, JA3 and JA3S of a flow's application facts.
fn app_texts(facts: Option<&FlowApp>) -> [Option<&str>; 4] {
    match facts {
        Some(a) => [
            a.server_name.as_deref(),
            a.ja4.as_deref(),
            a.ja3.as_deref(),
            a.ja3s.as_deref(),
        ],
        None => [None; 4],
    }
}

impl DirectionBuilders {
    fn new(n: usize) -> Self {
        DirectionBuilders {
            packets: UInt64Builder::with_capacity(n),
            bytes: UInt64Builder::with_capacity(n),
            payload_bytes: UInt64Builder::with_capacity(n),
            letters: ByteDictionary::new(tcp_flag_letters),
            tcp_flags: Vec::with_capacity(n),
            init_window: UInt16Builder::with_capacity(n),
            size_min: UInt32Builder::with_capacity(n),
            size_mean: Float64Builder::with_capacity(n),
            size_std: Float64Builder::with_capacity(n),
            size_max: UInt32Builder::with_capacity(n),
            iat_min: DurationNanosecondBuilder::with_capacity(n),
            iat_mean: DurationNanosecondBuilder::with_capacity(n),
            iat_std: DurationNanosecondBuilder::with_capacity(n),
            iat_max: DurationNanosecondBuilder::with_capacity(n),
        }
    }

    fn append(&mut self, f: &Flow, side: usize) {
        let d = &f.directions[side];
        self.packets.append_value(d.packets);
        self.bytes.append_value(d.bytes);
        self.payload_bytes.append_value(d.payload_bytes);
        let letters = &mut self.letters;
        self.tcp_flags
            .push((f.key.protocol == TCP && d.packets > 0).then(|| letters.key(d.tcp_flags)));
        self.init_window.append_option(d.init_window);
        let (sizes, gaps) = (&d.sizes, &d.gaps);
        // Gaps are below 2^64 nanoseconds; one past 2^63 (times centuries apart) is held at
        // the largest duration.
        let ns = |v: u64| v.min(i64::MAX as u64) as i64;
        let seen = sizes.count > 0;
        self.size_min.append_option(seen.then_some(sizes.min));
        self.size_mean.append_option(sizes.mean());
        self.size_std.append_option(sizes.std());
        self.size_max.append_option(seen.then_some(sizes.max));
        let rounded = |v: Option<f64>| v.map(|v| v.round() as i64);
        let seen = gaps.count > 0;
        self.iat_min.append_option(seen.then_some(ns(gaps.min)));
        self.iat_mean.append_option(rounded(gaps.mean()));
        self.iat_std.append_option(rounded(gaps.std()));
        self.iat_max.append_option(seen.then_some(ns(gaps.max)));
    }

    fn finish(mut self) -> [ArrayRef; 13] {
        [
            Arc::new(self.packets.finish()),
            Arc::new(self.bytes.finish()),
            Arc::new(self.payload_bytes.finish()),
            dictionary16(Int16Array::from(self.tcp_flags), self.letters.take_values()),
            Arc::new(self.init_window.finish()),
            Arc::new(self.size_min.finish()),
            Arc::new(self.size_mean.finish()),
            Arc::new(self.size_std.finish()),
            Arc::new(self.size_max.finish()),
            Arc::new(self.iat_min.finish()),
            Arc::new(self.iat_mean.finish()),
            Arc::new(self.iat_std.finish()),
            Arc::new(self.iat_max.finish()),
        ]
    }
}
