//! Ended flows into Arrow record batches: the flow table's columns, defined once in
//! `flow_columns()` (name, type, meaning), from which the schema and the README's table
//! come. Hosts, protocols and TCP flags are dictionary-encoded by the packet table's own
//! dictionaries, so both tables write them alike.

use std::sync::Arc;

use arrow_array::builder::{
    DurationNanosecondBuilder, Float64Builder, StringBuilder, StringDictionaryBuilder,
    TimestampNanosecondBuilder, UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::types::{Int16Type, Int32Type};
use arrow_array::{ArrayRef, Int16Array, Int32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::app::FlowApp;
use super::stats::Moments;
use super::table::Flow;
use crate::batch::{dictionary16, dictionary32, protocol_name, ByteDictionary, HostDictionary};
use crate::column::tcp_flag_letters;
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
    pub fn batch(&self, flows: &[Flow]) -> RecordBatch {
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
pub fn flows_batch(flows: &[Flow]) -> RecordBatch {
    FlowColumns::default().batch(flows)
}

/// Every column of the flows, the application ones null unless `app`.
fn all_columns_batch(flows: &[Flow], app: bool) -> RecordBatch {
    let n = flows.len();
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(flow_schema().fields().len());
    let u64s = |f: &dyn Fn(&Flow) -> u64| -> ArrayRef {
        let mut b = UInt64Builder::with_capacity(n);
        flows.iter().for_each(|x| b.append_value(f(x)));
        Arc::new(b.finish())
    };
    cols.push(u64s(&|f| f.id));
    let times = |f: &dyn Fn(&Flow) -> Option<i64>| -> ArrayRef {
        let mut b = TimestampNanosecondBuilder::with_capacity(n);
        flows.iter().for_each(|x| b.append_option(f(x)));
        Arc::new(b.finish())
    };
    cols.push(times(&|f| f.start_ns));
    cols.push(times(&|f| f.end_ns));
    let mut duration = DurationNanosecondBuilder::with_capacity(n);
    flows
        .iter()
        .for_each(|f| duration.append_option(f.duration_ns()));
    cols.push(Arc::new(duration.finish()));
    let (src_host, dst_host) = hosts(flows);
    let ports = |f: &dyn Fn(&Flow) -> Option<u16>| -> ArrayRef {
        let mut b = UInt16Builder::with_capacity(n);
        flows.iter().for_each(|x| b.append_option(f(x)));
        Arc::new(b.finish())
    };
    cols.push(src_host);
    cols.push(ports(&|f| f.orig.1));
    cols.push(dst_host);
    cols.push(ports(&|f| f.resp.1));
    let mut names = ByteDictionary::new(protocol_name);
    let keys: Int16Array = flows
        .iter()
        .map(|f| Some(names.key(f.key.protocol)))
        .collect();
    cols.push(dictionary16(keys, names.take_values()));
    cols.push(ports(&|f| f.key.vlan));
    let mut tunnel = UInt32Builder::with_capacity(n);
    flows
        .iter()
        .for_each(|f| tunnel.append_option(f.key.tunnel_id));
    cols.push(Arc::new(tunnel.finish()));
    for side in 0..2 {
        cols.push(u64s(&|f| f.directions[side].packets));
        cols.push(u64s(&|f| f.directions[side].bytes));
        cols.push(u64s(&|f| f.directions[side].payload_bytes));
        let mut letters = ByteDictionary::new(tcp_flag_letters);
        let keys: Int16Array = flows
            .iter()
            .map(|f| {
                let d = &f.directions[side];
                (f.key.protocol == TCP && d.packets > 0).then(|| letters.key(d.tcp_flags))
            })
            .collect();
        cols.push(dictionary16(keys, letters.take_values()));
        cols.push(ports(&|f| f.directions[side].init_window));
        let sizes = |f: &Flow| f.directions[side].sizes;
        cols.push(moment_u32(flows, &|f| sizes(f), |m| {
            (m.count > 0).then_some(m.min)
        }));
        cols.push(moment_f64(flows, &|f| sizes(f), |m| {
            (m.count > 0).then_some(m.mean)
        }));
        cols.push(moment_f64(flows, &|f| sizes(f), |m| m.std()));
        cols.push(moment_u32(flows, &|f| sizes(f), |m| {
            (m.count > 0).then_some(m.max)
        }));
        let gaps = |f: &Flow| f.directions[side].gaps;
        cols.push(moment_ns(flows, &|f| gaps(f), |m| {
            (m.count > 0).then_some(m.min)
        }));
        cols.push(moment_ns(flows, &|f| gaps(f), |m| {
            (m.count > 0).then_some(m.mean)
        }));
        cols.push(moment_ns(flows, &|f| gaps(f), |m| m.std()));
        cols.push(moment_ns(flows, &|f| gaps(f), |m| {
            (m.count > 0).then_some(m.max)
        }));
    }
    let mut state = StringDictionaryBuilder::<Int16Type>::new();
    flows.iter().for_each(|f| {
        state.append_value(f.conn.conn_state());
    });
    cols.push(Arc::new(state.finish()));
    let mut history = StringBuilder::with_capacity(n, n * 8);
    flows
        .iter()
        .for_each(|f| history.append_value(f.conn.history()));
    cols.push(Arc::new(history.finish()));
    let mut reason = StringDictionaryBuilder::<Int16Type>::new();
    flows.iter().for_each(|f| {
        reason.append_value(f.end_reason.name());
    });
    cols.push(Arc::new(reason.finish()));
    let mut community = StringBuilder::with_capacity(n, n * 30);
    flows
        .iter()
        .for_each(|f| community.append_value(f.community_id()));
    cols.push(Arc::new(community.finish()));
    cols.push(u64s(&|f| f.first_frame.number));
    cols.push(u64s(&|f| f.last_frame.number));
    fn of(f: &Flow, app: bool) -> Option<&FlowApp> {
        f.app.as_deref().filter(|_| app)
    }
    let facts = |f| of(f, app);
    let mut applications = StringDictionaryBuilder::<Int16Type>::new();
    flows.iter().for_each(|f| {
        applications.append_option(facts(f).and_then(|a| a.application).map(|a| a.name()));
    });
    cols.push(Arc::new(applications.finish()));
    let texts = |pick: &dyn Fn(&FlowApp) -> Option<&str>| -> ArrayRef {
        let mut b = StringDictionaryBuilder::<Int32Type>::new();
        flows
            .iter()
            .for_each(|f| b.append_option(facts(f).and_then(pick)));
        Arc::new(b.finish())
    };
    cols.push(texts(&|a| a.server_name.as_deref()));
    cols.push(texts(&|a| a.ja4.as_deref()));
    cols.push(texts(&|a| a.ja3.as_deref()));
    cols.push(texts(&|a| a.ja3s.as_deref()));
    RecordBatch::try_new(full_schema(), cols).expect("the columns follow the flow schema")
}

fn moment_u32(
    flows: &[Flow],
    of: &dyn Fn(&Flow) -> Moments,
    pick: fn(&Moments) -> Option<f64>,
) -> ArrayRef {
    let mut b = UInt32Builder::with_capacity(flows.len());
    flows
        .iter()
        .for_each(|f| b.append_option(pick(&of(f)).map(|v| v as u32)));
    Arc::new(b.finish())
}

fn moment_f64(
    flows: &[Flow],
    of: &dyn Fn(&Flow) -> Moments,
    pick: fn(&Moments) -> Option<f64>,
) -> ArrayRef {
    let mut b = Float64Builder::with_capacity(flows.len());
    flows.iter().for_each(|f| b.append_option(pick(&of(f))));
    Arc::new(b.finish())
}

fn moment_ns(
    flows: &[Flow],
    of: &dyn Fn(&Flow) -> Moments,
    pick: fn(&Moments) -> Option<f64>,
) -> ArrayRef {
    let mut b = DurationNanosecondBuilder::with_capacity(flows.len());
    flows
        .iter()
        .for_each(|f| b.append_option(pick(&of(f)).map(|v| v.round() as i64)));
    Arc::new(b.finish())
}

/// Both host columns over one dictionary, as the packet table builds them.
fn hosts(flows: &[Flow]) -> (ArrayRef, ArrayRef) {
    let mut dictionary = HostDictionary::default();
    let src: Int32Array = flows
        .iter()
        .map(|f| Some(dictionary.key(f.orig.0)))
        .collect();
    let dst: Int32Array = flows
        .iter()
        .map(|f| Some(dictionary.key(f.resp.0)))
        .collect();
    let values = dictionary.take_values();
    (dictionary32(src, values.clone()), dictionary32(dst, values))
}
