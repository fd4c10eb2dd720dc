//! Rows into Arrow columns. Hosts are dictionary-encoded with one dictionary per batch
//! shared by `src_host` and `dst_host` (so the two columns compare with each other), and
//! each distinct address is formatted once per batch: formatting every row costs about
//! three times the whole parse.

use std::sync::Arc;

use arrow_array::builder::{
    LargeBinaryBuilder, StringBuilder, TimestampNanosecondBuilder, UInt16Builder,
};
use arrow_array::types::{Int16Type, Int32Type};
use arrow_array::{ArrayRef, DictionaryArray, Int16Array, Int32Array, RecordBatch, StringArray};
use arrow_buffer::BufferBuilder;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use rustc_hash::FxHashMap;

use crate::ip::{Addr, IpPacket};
use crate::protocol;

/// Rows per record batch: large enough to amortise per-batch work, small enough that a
/// batch of the default columns stays in cache-friendly megabytes.
pub const DEFAULT_BATCH_ROWS: usize = 64 * 1024;

/// The Arrow schema of a read; `payload` adds the payload column.
pub fn schema(payload: bool) -> SchemaRef {
    let host = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let mut fields = vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            true,
        ),
        Field::new("src_host", host.clone(), false),
        Field::new("src_port", DataType::UInt16, true),
        Field::new("dst_host", host, false),
        Field::new("dst_port", DataType::UInt16, true),
        Field::new(
            "protocol",
            DataType::Dictionary(Box::new(DataType::Int16), Box::new(DataType::Utf8)),
            false,
        ),
    ];
    if payload {
        fields.push(Field::new("payload", DataType::LargeBinary, false));
    }
    Arc::new(Schema::new(fields))
}

/// Address -> dictionary key, formatting each new address once.
#[derive(Default)]
struct HostDictionary {
    v4: FxHashMap<[u8; 4], i32>,
    v6: FxHashMap<[u8; 16], i32>,
    values: Vec<Addr>,
}

impl HostDictionary {
    #[inline]
    fn key(&mut self, addr: Addr) -> i32 {
        let next = self.values.len() as i32;
        let key = match addr {
            Addr::V4(a) => *self.v4.entry(a).or_insert(next),
            Addr::V6(a) => *self.v6.entry(a).or_insert(next),
        };
        if key == next {
            self.values.push(addr);
        }
        key
    }

    fn take_values(&mut self) -> ArrayRef {
        let mut text = StringBuilder::with_capacity(self.values.len(), self.values.len() * 16);
        let mut buf = String::with_capacity(48);
        for addr in &self.values {
            use std::fmt::Write;
            buf.clear();
            let _ = write!(buf, "{addr}");
            text.append_value(&buf);
        }
        self.v4.clear();
        self.v6.clear();
        self.values.clear();
        Arc::new(text.finish())
    }
}

/// Protocol number -> dictionary key, only for the protocols a batch holds.
struct ProtocolDictionary {
    keys: [i16; 256],
    order: Vec<u8>,
}

impl Default for ProtocolDictionary {
    fn default() -> Self {
        ProtocolDictionary {
            keys: [-1; 256],
            order: Vec::new(),
        }
    }
}

impl ProtocolDictionary {
    #[inline]
    fn key(&mut self, p: u8) -> i16 {
        let slot = &mut self.keys[p as usize];
        if *slot < 0 {
            *slot = self.order.len() as i16;
            self.order.push(p);
        }
        *slot
    }

    fn take_values(&mut self) -> ArrayRef {
        let values: StringArray = self
            .order
            .iter()
            .map(|&p| Some(protocol::name(p)))
            .collect();
        self.keys = [-1; 256];
        self.order.clear();
        Arc::new(values)
    }
}

/// Accumulates rows and hands out record batches of the fixed schema.
pub struct BatchBuilder {
    schema: SchemaRef,
    time: TimestampNanosecondBuilder,
    hosts: HostDictionary,
    src_host: BufferBuilder<i32>,
    dst_host: BufferBuilder<i32>,
    src_port: UInt16Builder,
    dst_port: UInt16Builder,
    protocols: ProtocolDictionary,
    protocol: BufferBuilder<i16>,
    payload: Option<LargeBinaryBuilder>,
    rows: usize,
}

impl BatchBuilder {
    pub fn new(payload: bool, capacity: usize) -> Self {
        BatchBuilder {
            schema: schema(payload),
            time: TimestampNanosecondBuilder::with_capacity(capacity),
            hosts: HostDictionary::default(),
            src_host: BufferBuilder::new(capacity),
            dst_host: BufferBuilder::new(capacity),
            src_port: UInt16Builder::with_capacity(capacity),
            dst_port: UInt16Builder::with_capacity(capacity),
            protocols: ProtocolDictionary::default(),
            protocol: BufferBuilder::new(capacity),
            payload: payload.then(|| LargeBinaryBuilder::with_capacity(capacity, capacity * 64)),
            rows: 0,
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
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

    #[inline]
    pub fn push(&mut self, timestamp_ns: Option<i64>, data: &[u8], p: &IpPacket) {
        self.time.append_option(timestamp_ns);
        let src = self.hosts.key(p.src);
        let dst = self.hosts.key(p.dst);
        self.src_host.append(src);
        self.dst_host.append(dst);
        self.src_port.append_option(p.src_port);
        self.dst_port.append_option(p.dst_port);
        let proto = self.protocols.key(p.protocol);
        self.protocol.append(proto);
        if let Some(b) = &mut self.payload {
            b.append_value(&data[p.payload.clone()]);
        }
        self.rows += 1;
    }

    /// The rows so far as one batch; the builder is empty afterwards.
    pub fn finish(&mut self) -> RecordBatch {
        let host_values = self.hosts.take_values();
        let host_column = |keys: &mut BufferBuilder<i32>| -> ArrayRef {
            let keys = Int32Array::new(keys.finish().into(), None);
            // Keys come from the dictionary itself, so they are always in range.
            Arc::new(
                DictionaryArray::<Int32Type>::try_new(keys, host_values.clone())
                    .expect("host keys in range"),
            )
        };
        let src_host = host_column(&mut self.src_host);
        let dst_host = host_column(&mut self.dst_host);
        let protocol = Arc::new(
            DictionaryArray::<Int16Type>::try_new(
                Int16Array::new(self.protocol.finish().into(), None),
                self.protocols.take_values(),
            )
            .expect("protocol keys in range"),
        );
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            src_host,
            Arc::new(self.src_port.finish()),
            dst_host,
            Arc::new(self.dst_port.finish()),
            protocol,
        ];
        if let Some(b) = &mut self.payload {
            columns.push(Arc::new(b.finish()));
        }
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), columns).expect("columns match the schema")
    }
}
