//! The whole path for one capture: records -> link layer -> IP -> filter -> Arrow batches,
//! with the caller's policy for a file that ends mid-record or is damaged.

use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::batch::{self, BatchBuilder, RowPlace, DEFAULT_BATCH_ROWS};
use crate::flow::label::FlowPlacer;
use crate::flow::Frame;
use crate::stream::{StreamCarry, StreamStart};

use crate::column::Column;
use crate::error::{Error, ErrorKind, Result};
use crate::format::{Record, RecordReader};
use crate::input::ByteWindow;
pub use crate::options::{parse_protocol, Cancel, ReadOptions, TruncationPolicy};
use crate::select::PacketSelector;
pub use crate::stats::ReadStats;

/// How `pump` ended.
#[derive(Debug)]
pub enum PumpEnd {
    /// The sink asked to stop.
    Stopped,
    /// The input ended, or the next record starts at or after the bound.
    Ended,
    /// The input is cut short or damaged and the policy keeps the records before it: the
    /// error says where and what.
    Truncated(Error),
}

/// Where `pump` hands the records: every reader of files and byte ranges, and the command
/// line, is one of these.
pub trait RecordSink {
    /// Take one record.
    fn record(&mut self, record: &Record<'_>) -> Result<()>;
    /// After each record, with the byte offset just past it: whether to go on.
    fn go_on(&mut self, offset: u64) -> Result<bool>;
    /// The reader jumped over `packets` records, all outside the read's time range
    /// (`RecordReader::open_for`): count them as read and not selected.
    fn skipped_outside_time_range(&mut self, packets: u64);
}

/// The one loop from records to a sink: hand `sink` each record of `records` that starts
/// before byte `before` (`u64::MAX`: all of them) until it says stop; check `cancel` once
/// per record; a file cut short or damaged ends the loop as `errors` says.
#[inline]
pub fn pump(
    records: &mut RecordReader,
    before: u64,
    errors: TruncationPolicy,
    cancel: &Cancel,
    sink: &mut impl RecordSink,
) -> Result<PumpEnd> {
    loop {
        cancel.check()?;
        match records.jump_if_due() {
            Ok(0) => {}
            Ok(passed) => sink.skipped_outside_time_range(passed),
            Err(e) => return Err(e),
        }
        // pcapng: blocks without packets may be skipped on the way to the next packet.
        match records.next_record_before(before) {
            Ok(Some(record)) => sink.record(&record)?,
            Ok(None) => return Ok(PumpEnd::Ended),
            Err(e) if errors.keeps_packets_before(&e) => return Ok(PumpEnd::Truncated(e)),
            Err(e) => return Err(e),
        }
        if !sink.go_on(records.offset())? {
            return Ok(PumpEnd::Stopped);
        }
    }
}

/// Cut a batch early when its payload bytes pass this, to bound memory on jumbo payloads.
const MAX_BATCH_PAYLOAD: usize = 256 << 20;
/// Cut a batch early when its dictionaries' and text columns' bytes pass this: far below
/// the 2 GiB that Arrow's 32-bit string offsets hold, whatever batch size a caller asks for.
const MAX_BATCH_TEXT: usize = 256 << 20;

/// Records to rows: filters, link layer, IP, then a row in the batch being built. The one
/// place that decides what becomes a row, for files and live captures alike.
pub struct RowBuilder {
    selector: PacketSelector,
    builder: BatchBuilder,
    /// Packet records handed to `push` so far.
    frames: u64,
    /// The flow columns' flow table, when they are read (`flow::label`).
    flows: Option<FlowPlacer>,
    /// The file (its place in the read's list) of the last record pushed.
    file: u32,
    /// Rows made before the batch being built.
    rows_before: u64,
    /// Where the records' reader starts in their file (a byte range's reader counts its
    /// records' offsets from there); `None` for a live capture, which has no file.
    offset_base: Option<u64>,
}

impl RowBuilder {
    /// Rows of `options`' columns; the flow columns need `with_flows`.
    pub fn new(options: &ReadOptions) -> Result<Self> {
        if batch::needs_flows(&options.selected_columns()) {
            return Err(Error::invalid_argument(
                "flow_id and direction place each packet in its flow by running the flow table \
                 over every packet of the read, in order: read them from whole files (open_pcap(...) \
                 read(), read_chunked(), to_file()), not from a live capture or one byte range",
            ));
        }
        Self::build(options, None)
    }

    /// Rows whose flow columns come from `flows`, which sees every selected packet in order.
    pub fn with_flows(options: &ReadOptions, flows: FlowPlacer) -> Result<Self> {
        Self::build(options, Some(flows))
    }

    fn build(options: &ReadOptions, flows: Option<FlowPlacer>) -> Result<Self> {
        let capacity = options.batch_rows.min(DEFAULT_BATCH_ROWS * 16);
        let columns = options.selected_columns();
        // The builders' first allocation: at most 8 bytes a column, 64 of payload, a row.
        let payload = if columns.contains(&Column::Payload) {
            64
        } else {
            0
        };
        let room = batch::check_room(capacity * (8 * columns.len() + payload), || {
            format!("a batch of {capacity} rows")
        })?;
        // Ports and payload bounds are decoded only when a column needs them.
        let selector = PacketSelector::new(options)?
            .with_transport(batch::needs_transport(&columns))
            .with_tunnels(batch::needs_tunnels(&columns));
        let builder =
            BatchBuilder::with_columns(&columns, capacity).with_host_encoding(options.hosts);
        drop(room);
        Ok(RowBuilder {
            selector,
            builder,
            frames: 0,
            flows,
            file: 0,
            rows_before: 0,
            offset_base: Some(0),
        })
    }

    /// The records pushed come from a reader that starts at byte `base` of their file.
    pub fn offsets_from(&mut self, base: u64) {
        self.offset_base = Some(base);
    }

    /// The records pushed come from a live capture: no file, no offsets.
    pub fn without_offsets(&mut self) {
        self.offset_base = None;
    }

    pub fn schema(&self) -> SchemaRef {
        self.builder.schema()
    }

    pub fn stats(&self) -> &ReadStats {
        self.selector.stats()
    }

    pub fn stats_mut(&mut self) -> &mut ReadStats {
        self.selector.stats_mut()
    }

    pub fn set_protocol(&mut self, protocol: Option<u8>) {
        self.selector.set_protocol(protocol);
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.builder.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.builder.is_empty()
    }

    /// Whether the batch should be cut now, whatever its row count.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.builder.payload_bytes() > MAX_BATCH_PAYLOAD
            || self.builder.text_bytes() > MAX_BATCH_TEXT
    }

    /// Add the record as a row, or count why not. Fails when the filter cannot be
    /// compiled for the record's link type, or when memory runs out (`OutOfMemory`).
    #[inline]
    pub fn push(&mut self, record: &Record<'_>) -> Result<()> {
        self.frames += 1;
        let frame = Frame {
            file: 0,
            number: self.frames,
        };
        self.push_framed(record, frame)
    }

    /// Count `packets` records that a reader jumped over, outside the time range.
    pub fn skip_outside_time_range(&mut self, packets: u64) {
        self.frames += packets;
        self.selector.count_outside_time_range(packets);
    }

    /// Count records jumped over by a reader that numbers the records itself.
    pub fn count_outside_time_range(&mut self, packets: u64) {
        self.selector.count_outside_time_range(packets);
    }

    /// `push` for a reader that numbers the records itself (several files in one read).
    #[inline]
    pub fn push_framed(&mut self, record: &Record<'_>, frame: Frame) -> Result<()> {
        if frame.file != self.file {
            // TCP streams are followed within each file, whatever else a read spans.
            self.file = frame.file;
            self.builder.start_streams(StreamStart::FileStart);
        }
        if let Some(dissection) = self.selector.select(record)? {
            let room = self.builder.make_room(dissection.ip().payload.len())?;
            let flow = self
                .flows
                .as_mut()
                .map(|f| f.place(record, dissection, frame));
            let place = RowPlace {
                frame: frame.number,
                row: self.rows_before + self.builder.len() as u64,
                flow,
                offset: self.offset_base.map(|base| base + record.offset),
            };
            self.builder.push(record, dissection, &place);
            drop(room);
        }
        Ok(())
    }

    /// Follow the TCP streams (when a column reads them) from `start`.
    pub fn start_streams(&mut self, start: StreamStart) {
        self.builder.start_streams(start);
    }

    /// The TCP streams' state at this point (`stream`).
    pub fn take_streams(&mut self) -> Option<StreamCarry> {
        self.builder.take_streams()
    }

    /// The rows so far as a batch; `None` when there are none.
    pub fn finish(&mut self) -> Option<RecordBatch> {
        if self.builder.is_empty() {
            return None;
        }
        self.selector.stats_mut().rows += self.builder.len() as u64;
        self.rows_before += self.builder.len() as u64;
        Some(self.builder.finish())
    }
}

/// An error met pumping `records`, placed: memory that ran out adding a row is at the
/// record just read, and every error is in the reader's file.
pub(crate) fn located(mut e: Error, records: &RecordReader) -> Error {
    if e.kind == ErrorKind::OutOfMemory && e.offset.is_none() {
        e.offset = Some(records.last_record_offset());
    }
    match records.path() {
        Some(p) => e.in_file(p),
        None => e,
    }
}

pub struct PacketReader {
    records: RecordReader,
    rows: RowBuilder,
    batch_rows: usize,
    errors: TruncationPolicy,
    cancel: Cancel,
    done: bool,
}

impl PacketReader {
    pub fn open(path: &Path, options: ReadOptions) -> Result<Self> {
        // Out of memory for the first batch already: say which file was being opened.
        let rows = RowBuilder::new(&options).map_err(|e| e.in_file(path))?;
        Ok(Self::from_records(
            RecordReader::open_for(path, &options)?,
            rows,
            &options,
        ))
    }

    /// Read from any byte source (already decompressed, or not: gzip is not detected here).
    pub fn from_window(window: ByteWindow, options: ReadOptions) -> Result<Self> {
        Self::from_named_window(window, None, options)
    }

    /// Read from a byte source that has a name for error messages (a URL, say).
    pub fn from_named_window(
        window: ByteWindow,
        name: Option<std::path::PathBuf>,
        options: ReadOptions,
    ) -> Result<Self> {
        let rows = RowBuilder::new(&options).map_err(|e| match &name {
            Some(name) => e.in_file(name),
            None => e,
        })?;
        Ok(Self::from_records(
            RecordReader::new(window, name)?,
            rows,
            &options,
        ))
    }

    fn from_records(records: RecordReader, rows: RowBuilder, options: &ReadOptions) -> Self {
        PacketReader {
            records,
            rows,
            batch_rows: options.batch_rows,
            errors: options.errors,
            cancel: options.cancel.clone(),
            done: false,
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.rows.schema()
    }

    pub fn stats(&self) -> &ReadStats {
        self.rows.stats()
    }

    pub fn format_name(&self) -> &'static str {
        self.records.format_name()
    }

    /// Change the protocol filter for the packets not read yet.
    pub fn set_protocol(&mut self, protocol: Option<u8>) {
        self.rows.set_protocol(protocol);
    }

    /// The next batch of at most `batch_rows` rows; `Ok(None)` once the file is done.
    /// Never returns an empty batch.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        self.next_batch_of(self.batch_rows)
    }

    /// The next batch of at most `max_rows` rows (at least one); `Ok(None)` at the end.
    pub fn next_batch_of(&mut self, max_rows: usize) -> Result<Option<RecordBatch>> {
        if self.done {
            return Ok(None);
        }
        struct Batch<'a> {
            rows: &'a mut RowBuilder,
            limit: usize,
        }
        impl RecordSink for Batch<'_> {
            #[inline]
            fn record(&mut self, record: &Record<'_>) -> Result<()> {
                self.rows.push(record)
            }
            #[inline]
            fn go_on(&mut self, _: u64) -> Result<bool> {
                Ok(self.rows.len() < self.limit && !self.rows.is_full())
            }
            fn skipped_outside_time_range(&mut self, packets: u64) {
                self.rows.skip_outside_time_range(packets)
            }
        }
        let mut batch = Batch {
            rows: &mut self.rows,
            limit: max_rows.max(1),
        };
        match pump(
            &mut self.records,
            u64::MAX,
            self.errors,
            &self.cancel,
            &mut batch,
        ) {
            Ok(PumpEnd::Stopped) => {}
            Ok(PumpEnd::Ended) => self.done = true,
            Ok(PumpEnd::Truncated(e)) => {
                self.rows.stats_mut().truncated = Some(e.to_string());
                self.done = true;
            }
            // Cancelled: the rows of this unfinished batch are dropped, the reader is done.
            Err(e) if e.kind == ErrorKind::Interrupted => {
                self.done = true;
                return Err(e);
            }
            Err(e) => {
                self.done = true;
                return Err(located(e, &self.records));
            }
        }
        Ok(self.rows.finish())
    }
}

impl Iterator for PacketReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch().transpose()
    }
}
