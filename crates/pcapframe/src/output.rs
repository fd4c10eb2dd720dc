//! Tables on disk: Parquet, Arrow IPC, CSV and JSON lines, written by arrow-rs's own
//! writers. A file is written under a temporary name beside its destination and renamed
//! into place only when complete, so a failed or interrupted run leaves no half-written
//! output behind.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Error, ErrorKind, Result};

/// Rows per Parquet row group: about 1M rows of the default columns is 10-20 MB
/// compressed, large enough for fast scans and small enough to skip by statistics.
pub const PARQUET_ROW_GROUP_ROWS: usize = 1 << 20;
/// A row group is also cut when its encoded size in memory passes this (payload columns),
/// so that writing holds a bounded amount whatever the rows hold.
pub const PARQUET_ROW_GROUP_BYTES: usize = 128 << 20;

/// Times in CSV and JSON lines: ISO 8601 in UTC with nanoseconds, as pandas and DuckDB parse.
const TEXT_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.9fZ";

/// The file formats we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Parquet,
    /// Arrow IPC file format (Feather v2), zstd-compressed buffers.
    Ipc,
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl OutputFormat {
    /// The format a file name asks for, by its extension.
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        Self::parse(&ext).map_err(|_| {
            Error::invalid_argument(format!(
                "cannot tell the output format of {}: use a name ending in .parquet, .arrow (or \
                 .feather, .ipc), .csv or .jsonl (or .ndjson)",
                path.display()
            ))
        })
    }

    /// A format by name or extension: parquet, arrow/ipc/feather, csv, jsonl/ndjson/json.
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "parquet" | "pq" => Ok(OutputFormat::Parquet),
            "arrow" | "ipc" | "feather" => Ok(OutputFormat::Ipc),
            "csv" => Ok(OutputFormat::Csv),
            "jsonl" | "ndjson" | "json" => Ok(OutputFormat::JsonLines),
            other => Err(Error::invalid_argument(format!(
                "unknown output format {other:?}: choose parquet, arrow, csv or jsonl"
            ))),
        }
    }
}

enum Sink {
    Parquet(ArrowWriter<File>),
    Ipc(arrow_ipc::writer::FileWriter<BufWriter<File>>),
    Csv(arrow_csv::Writer<BufWriter<File>>),
    Json(arrow_json::LineDelimitedWriter<BufWriter<File>>),
}

/// Writes record batches of one schema to one file.
pub struct TableWriter {
    sink: Option<Sink>,
    format: OutputFormat,
    schema: SchemaRef,
    temporary: PathBuf,
    destination: PathBuf,
    rows: u64,
}

impl TableWriter {
    /// Start writing `destination` (under a temporary name until `finish`).
    pub fn create(destination: &Path, format: OutputFormat, schema: SchemaRef) -> Result<Self> {
        let name = destination.file_name().ok_or_else(|| {
            Error::invalid_argument(format!("{} is not a file name", destination.display()))
        })?;
        let mut hidden = std::ffi::OsString::from(".");
        hidden.push(name);
        // Unique per process and per writer, so that two writers never share one.
        static WRITERS: AtomicU64 = AtomicU64::new(0);
        let n = WRITERS.fetch_add(1, Ordering::Relaxed);
        hidden.push(format!(".partial-{}-{n}", std::process::id()));
        let temporary = destination.with_file_name(hidden);
        let file = File::create(&temporary).map_err(|e| {
            let mut error = Error::io(e, None).in_file(destination);
            error.message = format!("cannot create the output file: {}", error.message);
            error
        })?;
        let sink = (|| -> std::result::Result<Sink, String> {
            Ok(match format {
                OutputFormat::Parquet => {
                    let props = WriterProperties::builder()
                        .set_compression(Compression::ZSTD(ZstdLevel::default()))
                        .set_max_row_group_row_count(Some(PARQUET_ROW_GROUP_ROWS))
                        .build();
                    Sink::Parquet(
                        ArrowWriter::try_new(file, schema.clone(), Some(props))
                            .map_err(|e| e.to_string())?,
                    )
                }
                OutputFormat::Ipc => {
                    let options = arrow_ipc::writer::IpcWriteOptions::default()
                        .try_with_compression(Some(arrow_ipc::CompressionType::ZSTD))
                        .map_err(|e| e.to_string())?;
                    Sink::Ipc(
                        arrow_ipc::writer::FileWriter::try_new_with_options(
                            BufWriter::new(file),
                            &schema,
                            options,
                        )
                        .map_err(|e| e.to_string())?,
                    )
                }
                OutputFormat::Csv => Sink::Csv(
                    arrow_csv::WriterBuilder::new()
                        .with_header(true)
                        .with_timestamp_format(TEXT_TIME_FORMAT.to_string())
                        .build(BufWriter::new(file)),
                ),
                OutputFormat::JsonLines => Sink::Json(
                    arrow_json::WriterBuilder::new()
                        .with_explicit_nulls(true)
                        .with_timestamp_format(TEXT_TIME_FORMAT.to_string())
                        .build::<_, arrow_json::writer::LineDelimited>(BufWriter::new(file)),
                ),
            })
        })();
        match sink {
            Ok(sink) => Ok(TableWriter {
                sink: Some(sink),
                format,
                schema,
                temporary,
                destination: destination.to_path_buf(),
                rows: 0,
            }),
            Err(message) => {
                let _ = std::fs::remove_file(&temporary);
                Err(Error::new(ErrorKind::Io, message).in_file(destination))
            }
        }
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let Some(sink) = self.sink.as_mut() else {
            return Err(Error::invalid_argument("this writer is finished"));
        };
        let outcome = match sink {
            Sink::Parquet(w) => w
                .write(batch)
                .and_then(|_| {
                    // Payloads make rows large: cut the row group early rather than buffer it.
                    if w.in_progress_size() > PARQUET_ROW_GROUP_BYTES {
                        w.flush()?;
                    }
                    Ok(())
                })
                .map_err(|e| e.to_string()),
            Sink::Ipc(w) => w.write(batch).map_err(|e| e.to_string()),
            Sink::Csv(w) => w.write(&as_text(batch)).map_err(|e| e.to_string()),
            Sink::Json(w) => w.write(&as_text(batch)).map_err(|e| e.to_string()),
        };
        match outcome {
            Ok(()) => {
                self.rows += batch.num_rows() as u64;
                Ok(())
            }
            Err(message) => {
                self.abandon();
                Err(Error::new(ErrorKind::Io, message).in_file(&self.destination))
            }
        }
    }

    /// Complete the file and move it into place.
    pub fn finish(mut self) -> Result<u64> {
        let sink = self
            .sink
            .take()
            .ok_or_else(|| Error::invalid_argument("this writer is finished"))?;
        let flushed = match sink {
            Sink::Parquet(w) => w.close().map(|_| ()).map_err(|e| e.to_string()),
            Sink::Ipc(mut w) => w.finish().map_err(|e| e.to_string()).and_then(|_| {
                w.into_inner()
                    .map_err(|e| e.to_string())?
                    .flush()
                    .map_err(|e| e.to_string())
            }),
            // With no rows, arrow's CSV writer has not written the header yet.
            Sink::Csv(mut w) if self.rows == 0 => w
                .write(&RecordBatch::new_empty(Arc::new(text_schema(&self.schema))))
                .map_err(|e| e.to_string())
                .and_then(|_| w.into_inner().flush().map_err(|e| e.to_string())),
            Sink::Csv(w) => w.into_inner().flush().map_err(|e| e.to_string()),
            Sink::Json(mut w) => w
                .finish()
                .map_err(|e| e.to_string())
                .and_then(|_| w.into_inner().flush().map_err(|e| e.to_string())),
        };
        if let Err(message) = flushed {
            let _ = std::fs::remove_file(&self.temporary);
            return Err(Error::new(ErrorKind::Io, message).in_file(&self.destination));
        }
        if let Err(e) = std::fs::rename(&self.temporary, &self.destination) {
            let _ = std::fs::remove_file(&self.temporary);
            return Err(Error::io(e, None).in_file(&self.destination));
        }
        Ok(self.rows)
    }

    /// Give up: remove the temporary file.
    pub fn abandon(&mut self) {
        self.sink = None;
        let _ = std::fs::remove_file(&self.temporary);
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }
}

impl Drop for TableWriter {
    fn drop(&mut self) {
        if self.sink.is_some() {
            self.abandon();
        }
    }
}

/// The schema of `as_text`: dictionary columns become strings, binary becomes hex text.
fn text_schema(schema: &Schema) -> Schema {
    Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Dictionary(_, _) | DataType::LargeBinary | DataType::Binary => {
                    Field::new(f.name(), DataType::Utf8, f.is_nullable())
                }
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    )
}

/// A batch for text formats: dictionaries decoded to strings, payload bytes as hex.
fn as_text(batch: &RecordBatch) -> RecordBatch {
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|column| match column.data_type() {
            DataType::Dictionary(_, _) => arrow_cast::cast(column, &DataType::Utf8)
                .expect("string dictionaries cast to strings"),
            DataType::LargeBinary => {
                let bytes = column.as_binary::<i64>();
                let hex: StringArray = (0..bytes.len())
                    .map(|i| bytes.is_valid(i).then(|| to_hex(bytes.value(i))))
                    .collect();
                Arc::new(hex) as ArrayRef
            }
            _ => column.clone(),
        })
        .collect();
    RecordBatch::try_new(Arc::new(text_schema(&batch.schema())), columns)
        .expect("same lengths as the batch")
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}
