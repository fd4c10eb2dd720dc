//! The whole path for one capture: records -> link layer -> IP -> filter -> Arrow batches,
//! with the caller's policy for a file that ends mid-record or is damaged.

use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::batch::{self, BatchBuilder, DEFAULT_BATCH_ROWS};

use crate::column::Column;
use crate::error::{ErrorKind, Result};
use crate::format::{Record, RecordReader};
use crate::input::ByteWindow;
use crate::select::PacketSelector;
pub use crate::options::{parse_protocol, Cancel, ReadOptions, TruncationPolicy};
pub use crate::stats::ReadStats;

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
}

impl RowBuilder {
    pub fn new(options: &ReadOptions) -> Result<Self> {
        let capacity = options.batch_rows.min(DEFAULT_BATCH_ROWS * 16);
        let columns = options.selected_columns();
        // The builders' first allocation: at most 8 bytes a column, 64 of payload, a row.
        let payload = if columns.contains(&Column::Payload) {
            64
        } else {
            0
        };
        batch::check_room(capacity * (8 * columns.len() + payload), || {
            format!("a batch of {capacity} rows")
        })?;
        // Ports and payload bounds are decoded only when a column needs them.
        let selector = PacketSelector::new(options)?
            .with_transport(batch::needs_transport(&columns))
            .with_tunnels(batch::needs_tunnels(&columns));
        Ok(RowBuilder {
            selector,
            builder: BatchBuilder::with_columns(&columns, capacity)
                .with_host_encoding(options.hosts),
        })
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
        if let Some(dissection) = self.selector.select(record)? {
            self.builder.make_room(dissection.ip().payload.len())?;
            self.builder.push(record, &dissection);
        }
        Ok(())
    }

    /// The rows so far as a batch; `None` when there are none.
    pub fn finish(&mut self) -> Option<RecordBatch> {
        if self.builder.is_empty() {
            return None;
        }
        self.selector.stats_mut().rows += self.builder.len() as u64;
        Some(self.builder.finish())
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
        let rows = RowBuilder::new(&options)?;
        Ok(Self::from_records(
            RecordReader::open(path)?,
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
        let rows = RowBuilder::new(&options)?;
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
        let limit = max_rows.max(1);
        while self.rows.len() < limit && !self.rows.is_full() {
            if let Err(e) = self.cancel.check() {
                // The rows of this unfinished batch are dropped: the reader is done.
                self.done = true;
                return Err(e);
            }
            let step = match self.records.next_record() {
                Ok(Some(record)) => self.rows.push(&record),
                Ok(None) => {
                    self.done = true;
                    break;
                }
                Err(e) if self.errors.keeps_packets_before(&e) => {
                    self.rows.stats_mut().truncated = Some(e.to_string());
                    self.done = true;
                    break;
                }
                Err(e) => Err(e),
            };
            if let Err(mut e) = step {
                self.done = true;
                if e.kind == ErrorKind::OutOfMemory && e.offset.is_none() {
                    // Memory ran out adding the record just read.
                    e.offset = Some(self.records.last_record_offset());
                }
                return Err(match self.records.path() {
                    Some(p) => e.in_file(p),
                    None => e,
                });
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
