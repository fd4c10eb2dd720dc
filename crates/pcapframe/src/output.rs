//! Tables out: Parquet, Arrow IPC, CSV and JSON lines, written by arrow-rs's own writers.
//! A regular file is written under a temporary name beside its destination and renamed
//! into place only when complete, so a failed or interrupted run leaves no half-written
//! output behind; anything else at the destination is written through or refused, never
//! replaced (`TableWriter` has the rules).

use std::fs::{File, Metadata, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::io::FromRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{
    make_array, Array, ArrayRef, Int64Array, LargeStringArray, RecordBatch, RecordBatchOptions,
    StringArray,
};
use arrow_buffer::{Buffer, OffsetBuffer};
use arrow_data::ArrayData;
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rustc_hash::FxHashMap;

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
    /// Arrow IPC stream format (`.arrows`): what standard output gets for `arrow`.
    IpcStream,
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
            "arrows" | "arrow-stream" => Ok(OutputFormat::IpcStream),
            "csv" => Ok(OutputFormat::Csv),
            "jsonl" | "ndjson" | "json" => Ok(OutputFormat::JsonLines),
            other => Err(Error::invalid_argument(format!(
                "unknown output format {other:?}: choose parquet, arrow, arrows (IPC stream), csv or jsonl"
            ))),
        }
    }
}

/// Rows per Arrow IPC record batch: batches are gathered up to this many rows (or
/// `PARQUET_ROW_GROUP_BYTES`) so that the dictionaries, which grow over the whole file, are
/// compared and sent once per gathered batch rather than once per batch read.
pub const IPC_BATCH_ROWS: usize = 1 << 20;

type Out = Box<dyn Write + Send>;

enum Sink {
    Parquet(ArrowWriter<Out>),
    Ipc(Box<IpcSink>),
    Csv(arrow_csv::Writer<Out>),
    Json(arrow_json::LineDelimitedWriter<Out>),
}

/// Where the bytes go, once the destination rules have been applied.
enum Target {
    /// A regular file or nothing: written under `temporary` beside it, renamed when complete.
    Replace {
        temporary: PathBuf,
        destination: PathBuf,
    },
    /// A FIFO, a character device or standard output: written through; nothing to rename.
    Through,
}

/// Writes record batches of one schema to one file, a FIFO, a device or standard output.
///
/// The destination rules (`open_destination`): only a regular file, or nothing, is ever
/// replaced, by the rename of a complete temporary file; a symbolic link is followed (the
/// rules apply to what it points to, and it stays a link); a FIFO or a character device is
/// written through; a directory, a socket or a block device is refused, and so is any of
/// the inputs (the same device and inode, whatever the name).
pub struct TableWriter {
    sink: Option<Sink>,
    format: OutputFormat,
    schema: SchemaRef,
    target: Target,
    /// The name the caller gave, for messages.
    destination: PathBuf,
    rows: u64,
}

impl TableWriter {
    /// Start writing `destination` (under a temporary name until `finish` when it is a
    /// regular file or does not exist yet).
    pub fn create(destination: &Path, format: OutputFormat, schema: SchemaRef) -> Result<Self> {
        Self::create_avoiding(destination, format, schema, &[])
    }

    /// As `create`, refusing a destination that is one of `inputs` (the same file under any
    /// name: a symbolic or hard link, another path).
    pub fn create_avoiding(
        destination: &Path,
        format: OutputFormat,
        schema: SchemaRef,
        inputs: &[PathBuf],
    ) -> Result<Self> {
        let (file, target) = open_destination(destination, inputs)?;
        Self::start(file, target, destination, format, schema)
    }

    /// Write to standard output (`-o -`). Arrow IPC goes out in the stream format there,
    /// since whoever reads a pipe cannot seek to the file format's footer.
    pub fn stdout(format: OutputFormat, schema: SchemaRef, inputs: &[PathBuf]) -> Result<Self> {
        let name = Path::new("<standard output>");
        let file = dup_stdout().map_err(|e| Error::io(e, None).in_file(name))?;
        let meta = file
            .metadata()
            .map_err(|e| Error::io(e, None).in_file(name))?;
        refuse_inputs(name, &meta, inputs)?;
        let format = match format {
            OutputFormat::Ipc => OutputFormat::IpcStream,
            other => other,
        };
        Self::start(file, Target::Through, name, format, schema)
    }

    fn start(
        file: File,
        target: Target,
        destination: &Path,
        format: OutputFormat,
        schema: SchemaRef,
    ) -> Result<Self> {
        let sink =
            (|| -> std::result::Result<Sink, String> {
                let buffered = || -> Out { Box::new(BufWriter::with_capacity(1 << 16, file)) };
                Ok(match format {
                    OutputFormat::Parquet => {
                        let props = WriterProperties::builder()
                            .set_compression(Compression::ZSTD(ZstdLevel::default()))
                            .set_max_row_group_row_count(Some(PARQUET_ROW_GROUP_ROWS))
                            .build();
                        Sink::Parquet(
                            ArrowWriter::try_new(buffered(), schema.clone(), Some(props))
                                .map_err(|e| e.to_string())?,
                        )
                    }
                    OutputFormat::Ipc | OutputFormat::IpcStream => Sink::Ipc(Box::new(
                        IpcSink::new(buffered(), &schema, format == OutputFormat::IpcStream)?,
                    )),
                    OutputFormat::Csv => Sink::Csv(
                        arrow_csv::WriterBuilder::new()
                            .with_header(true)
                            .with_timestamp_format(TEXT_TIME_FORMAT.to_string())
                            .build(buffered()),
                    ),
                    OutputFormat::JsonLines => Sink::Json(
                        arrow_json::WriterBuilder::new()
                            .with_explicit_nulls(true)
                            .with_timestamp_format(TEXT_TIME_FORMAT.to_string())
                            .build::<_, arrow_json::writer::LineDelimited>(buffered()),
                    ),
                })
            })();
        match sink {
            Ok(sink) => Ok(TableWriter {
                sink: Some(sink),
                format,
                schema,
                target,
                destination: destination.to_path_buf(),
                rows: 0,
            }),
            Err(message) => {
                if let Target::Replace { temporary, .. } = &target {
                    let _ = std::fs::remove_file(temporary);
                }
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
            Sink::Ipc(w) => w.write(batch),
            Sink::Csv(w) => as_text(batch, true)
                .and_then(|b| w.write(&b))
                .map_err(|e| e.to_string()),
            Sink::Json(w) => as_text(batch, false)
                .and_then(|b| w.write(&b))
                .map_err(|e| e.to_string()),
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

    /// Complete the output and, for a regular file, move it into place.
    pub fn finish(mut self) -> Result<u64> {
        let sink = self
            .sink
            .take()
            .ok_or_else(|| Error::invalid_argument("this writer is finished"))?;
        let flushed = match sink {
            Sink::Parquet(w) => w
                .into_inner()
                .map_err(|e| e.to_string())
                .and_then(|mut out| out.flush().map_err(|e| e.to_string())),
            Sink::Ipc(w) => w.finish(),
            // With no rows, arrow's CSV writer has not written the header yet.
            Sink::Csv(mut w) if self.rows == 0 => w
                .write(&RecordBatch::new_empty(Arc::new(text_schema(
                    &self.schema,
                    true,
                ))))
                .map_err(|e| e.to_string())
                .and_then(|_| w.into_inner().flush().map_err(|e| e.to_string())),
            Sink::Csv(w) => w.into_inner().flush().map_err(|e| e.to_string()),
            Sink::Json(mut w) => w
                .finish()
                .map_err(|e| e.to_string())
                .and_then(|_| w.into_inner().flush().map_err(|e| e.to_string())),
        };
        if let Err(message) = flushed {
            self.remove_temporary();
            return Err(Error::new(ErrorKind::Io, message).in_file(&self.destination));
        }
        if let Target::Replace {
            temporary,
            destination,
        } = &self.target
        {
            if let Err(e) = std::fs::rename(temporary, destination) {
                self.remove_temporary();
                return Err(Error::io(e, None).in_file(&self.destination));
            }
        }
        Ok(self.rows)
    }

    /// Give up: remove the temporary file (what went through to a FIFO, a device or
    /// standard output cannot be taken back).
    pub fn abandon(&mut self) {
        self.sink = None;
        self.remove_temporary();
    }

    fn remove_temporary(&self) {
        if let Target::Replace { temporary, .. } = &self.target {
            let _ = std::fs::remove_file(temporary);
        }
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// Write IPC batches as soon as they hold `rows` rows (tests: deltas from few rows).
    #[cfg(test)]
    fn gather_ipc_rows(&mut self, rows: usize) {
        if let Some(Sink::Ipc(sink)) = self.sink.as_mut() {
            sink.gather_rows = rows;
        }
    }
}

impl Drop for TableWriter {
    fn drop(&mut self) {
        if self.sink.is_some() {
            self.abandon();
        }
    }
}

/// Bytes to one destination by the rules of `TableWriter` (a regular file is completed
/// under a temporary name and renamed into place; nothing is left behind on failure): for
/// writers of other formats than tables (`extract`).
pub struct FileOut {
    out: Option<BufWriter<File>>,
    target: Target,
    destination: PathBuf,
}

impl FileOut {
    /// Start writing `destination`, refusing one of `inputs`.
    pub fn create(destination: &Path, inputs: &[PathBuf]) -> Result<Self> {
        let (file, target) = open_destination(destination, inputs)?;
        Ok(FileOut {
            out: Some(BufWriter::with_capacity(1 << 20, file)),
            target,
            destination: destination.to_path_buf(),
        })
    }

    /// Write to standard output, refusing it when it is one of `inputs`.
    pub fn stdout(inputs: &[PathBuf]) -> Result<Self> {
        let name = Path::new("<standard output>");
        let file = dup_stdout().map_err(|e| Error::io(e, None).in_file(name))?;
        let meta = file
            .metadata()
            .map_err(|e| Error::io(e, None).in_file(name))?;
        refuse_inputs(name, &meta, inputs)?;
        Ok(FileOut {
            out: Some(BufWriter::with_capacity(1 << 20, file)),
            target: Target::Through,
            destination: name.to_path_buf(),
        })
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| Error::invalid_argument("this writer is finished"))?;
        if let Err(e) = out.write_all(bytes) {
            self.abandon();
            return Err(Error::io(e, None).in_file(&self.destination));
        }
        Ok(())
    }

    /// Complete the output and, for a regular file, move it into place.
    pub fn finish(mut self) -> Result<()> {
        let mut out = self
            .out
            .take()
            .ok_or_else(|| Error::invalid_argument("this writer is finished"))?;
        if let Err(e) = out.flush() {
            self.remove_temporary();
            return Err(Error::io(e, None).in_file(&self.destination));
        }
        drop(out);
        if let Target::Replace {
            temporary,
            destination,
        } = &self.target
        {
            if let Err(e) = std::fs::rename(temporary, destination) {
                self.remove_temporary();
                return Err(Error::io(e, None).in_file(&self.destination));
            }
        }
        Ok(())
    }

    /// Give up: remove the temporary file.
    pub fn abandon(&mut self) {
        self.out = None;
        self.remove_temporary();
    }

    fn remove_temporary(&self) {
        if let Target::Replace { temporary, .. } = &self.target {
            let _ = std::fs::remove_file(temporary);
        }
    }
}

impl Drop for FileOut {
    fn drop(&mut self) {
        if self.out.is_some() {
            self.abandon();
        }
    }
}

/// Open `destination` by the rules of `TableWriter`.
fn open_destination(destination: &Path, inputs: &[PathBuf]) -> Result<(File, Target)> {
    let refuse = |why: String| Err(Error::invalid_argument(why).in_file(destination));
    let os_error = |e: std::io::Error| {
        let mut error = Error::io(e, None).in_file(destination);
        error.message = format!("cannot write the output: {}", error.message);
        error
    };
    match std::fs::metadata(destination) {
        Ok(meta) => {
            refuse_inputs(destination, &meta, inputs)?;
            let kind = meta.file_type();
            if kind.is_dir() {
                return refuse("is a directory: give a file name (e.g. inside it)".into());
            }
            if kind.is_socket() {
                return refuse(
                    "is a socket: write to a file, a FIFO, a device or standard output (-o -)"
                        .into(),
                );
            }
            if kind.is_block_device() {
                return refuse(
                    "is a block device: refusing to write a table over a disk; give a file name"
                        .into(),
                );
            }
            if kind.is_fifo() || kind.is_char_device() {
                // Written through: no temporary, no rename, and never created if it vanished.
                let file = OpenOptions::new()
                    .write(true)
                    .open(destination)
                    .map_err(os_error)?;
                return Ok((file, Target::Through));
            }
            // /dev/stdout and the like, when standard output is a regular file: write through
            // the descriptor the shell opened (its append mode, its position), not a new file.
            if let Ok(out) = fstat_stdout() {
                if out.dev() == meta.dev() && out.ino() == meta.ino() {
                    return Ok((dup_stdout().map_err(os_error)?, Target::Through));
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(os_error(e)),
    }
    // A regular file or nothing: complete a temporary file beside what the name (through
    // its symbolic links) points to, then rename it there, so that a link stays a link.
    let real = follow_links(destination).map_err(os_error)?;
    let name = real
        .file_name()
        .ok_or_else(|| Error::invalid_argument("is not a file name").in_file(destination))?;
    let mut hidden = std::ffi::OsString::from(".");
    hidden.push(name);
    // Unique per process and per writer, so that two writers never share one.
    static WRITERS: AtomicU64 = AtomicU64::new(0);
    let n = WRITERS.fetch_add(1, Ordering::Relaxed);
    hidden.push(format!(".partial-{}-{n}", std::process::id()));
    let temporary = real.with_file_name(hidden);
    // create_new: never through a link or a file planted under the temporary name.
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)
        .map_err(|e| {
            let mut error = Error::io(e, None).in_file(destination);
            // Named by the destination the user gave (the error's path), not the temporary
            // name, which means nothing to them.
            error.message = format!("cannot create the output file: {}", error.message);
            error
        })?;
    Ok((
        file,
        Target::Replace {
            temporary,
            destination: real,
        },
    ))
}

/// Refuse to write over one of the inputs (same device and inode).
fn refuse_inputs(destination: &Path, meta: &Metadata, inputs: &[PathBuf]) -> Result<()> {
    for input in inputs {
        if let Ok(m) = std::fs::metadata(input) {
            if m.dev() == meta.dev() && m.ino() == meta.ino() {
                return Err(Error::invalid_argument(format!(
                    "is the input capture {} (the same file): refusing to write over it; choose another output",
                    input.display()
                ))
                .in_file(destination));
            }
        }
    }
    Ok(())
}

/// The path that `path` names once every symbolic link on its last component is followed;
/// the target need not exist (a dangling link names the file to create).
fn follow_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    // As the kernel's own limit on nested links (ELOOP).
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&path)?;
                path = match path.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            Ok(_) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(path),
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

fn fstat_stdout() -> std::io::Result<Metadata> {
    // Through a duplicate, so that closing the File leaves standard output open.
    dup_stdout()?.metadata()
}

/// Standard output as a `File` of its own: written without Rust's line buffering, and Send.
fn dup_stdout() -> std::io::Result<File> {
    // SAFETY: dup returns a new descriptor (or -1), which the File then owns alone.
    let fd = unsafe { libc::dup(libc::STDOUT_FILENO) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, open descriptor owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Arrow IPC, file or stream format. Dictionary columns get one dictionary per column for
/// the whole output, which only grows: each batch's keys are rewritten into it, and it is
/// sent as a delta (the new values only) when it has grown. The IPC file format allows one
/// dictionary per field plus deltas, so a capture whose batches each had their own host
/// dictionary is still one valid file.
struct IpcSink {
    writer: IpcWriter,
    schema: SchemaRef,
    /// For each column: its dictionary across the whole output, if it is a string dictionary.
    dictionaries: Vec<Option<Unified>>,
    /// Batches whose dictionary keys already point into `dictionaries`, not yet written.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    pending_bytes: usize,
    /// `IPC_BATCH_ROWS`, smaller in tests so that deltas are written without a million rows.
    gather_rows: usize,
}

enum IpcWriter {
    File(arrow_ipc::writer::FileWriter<Out>),
    Stream(arrow_ipc::writer::StreamWriter<Out>),
}

impl IpcSink {
    fn new(out: Out, schema: &SchemaRef, stream: bool) -> std::result::Result<Self, String> {
        let options = arrow_ipc::writer::IpcWriteOptions::default()
            .try_with_compression(Some(arrow_ipc::CompressionType::ZSTD))
            .map_err(|e| e.to_string())?
            .with_dictionary_handling(arrow_ipc::writer::DictionaryHandling::Delta);
        let writer = if stream {
            IpcWriter::Stream(
                arrow_ipc::writer::StreamWriter::try_new_with_options(out, schema, options)
                    .map_err(|e| e.to_string())?,
            )
        } else {
            IpcWriter::File(
                arrow_ipc::writer::FileWriter::try_new_with_options(out, schema, options)
                    .map_err(|e| e.to_string())?,
            )
        };
        let dictionaries = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Dictionary(_, value)
                    if matches!(value.as_ref(), DataType::Utf8 | DataType::LargeUtf8) =>
                {
                    Some(Unified::new(value.as_ref().clone()))
                }
                _ => None,
            })
            .collect();
        Ok(IpcSink {
            writer,
            schema: schema.clone(),
            dictionaries,
            pending: Vec::new(),
            pending_rows: 0,
            pending_bytes: 0,
            gather_rows: IPC_BATCH_ROWS,
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> std::result::Result<(), String> {
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (column, unified) in batch.columns().iter().zip(self.dictionaries.iter_mut()) {
            columns.push(match unified {
                // Keys only for now: the values are attached when the batch is written.
                Some(unified) => unified.rekey(column.as_ref())?,
                None => column.clone(),
            });
        }
        self.pending_rows += batch.num_rows();
        self.pending_bytes += batch.get_array_memory_size();
        self.pending.push(
            RecordBatch::try_new_with_options(
                keys_schema(&self.schema),
                columns,
                &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
            )
            .map_err(|e| e.to_string())?,
        );
        if self.pending_rows >= self.gather_rows || self.pending_bytes >= PARQUET_ROW_GROUP_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Write the pending batches, all sharing the dictionaries as they are now.
    fn flush(&mut self) -> std::result::Result<(), String> {
        let values: Vec<Option<ArrayRef>> = self
            .dictionaries
            .iter()
            .map(|d| d.as_ref().map(|d| d.values()).transpose())
            .collect::<std::result::Result<_, _>>()?;
        for keyed in std::mem::take(&mut self.pending) {
            let mut columns = Vec::with_capacity(keyed.num_columns());
            for ((column, values), field) in keyed
                .columns()
                .iter()
                .zip(&values)
                .zip(self.schema.fields())
            {
                columns.push(match values {
                    Some(values) => {
                        let keys = column.to_data();
                        let data = ArrayData::builder(field.data_type().clone())
                            .len(keys.len())
                            .nulls(keys.nulls().cloned())
                            .add_buffer(keys.buffers()[0].clone())
                            .add_child_data(values.to_data())
                            .build()
                            .map_err(|e| e.to_string())?;
                        make_array(data)
                    }
                    None => column.clone(),
                });
            }
            let batch = RecordBatch::try_new_with_options(
                self.schema.clone(),
                columns,
                &RecordBatchOptions::new().with_row_count(Some(keyed.num_rows())),
            )
            .map_err(|e| e.to_string())?;
            match &mut self.writer {
                IpcWriter::File(w) => w.write(&batch),
                IpcWriter::Stream(w) => w.write(&batch),
            }
            .map_err(|e| e.to_string())?;
        }
        self.pending_rows = 0;
        self.pending_bytes = 0;
        Ok(())
    }

    fn finish(mut self) -> std::result::Result<(), String> {
        self.flush()?;
        let out = match self.writer {
            IpcWriter::File(mut w) => w.finish().and_then(|_| w.into_inner()),
            IpcWriter::Stream(mut w) => w.finish().and_then(|_| w.into_inner()),
        };
        out.map_err(|e| e.to_string())?
            .flush()
            .map_err(|e| e.to_string())
    }
}

/// The schema of pending batches: each string-dictionary column replaced by its key type.
fn keys_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Dictionary(key, value)
                    if matches!(value.as_ref(), DataType::Utf8 | DataType::LargeUtf8) =>
                {
                    Field::new(f.name(), key.as_ref().clone(), true)
                }
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ))
}

/// One string dictionary for a whole output: the distinct values in order of first sight.
struct Unified {
    value_type: DataType,
    index: FxHashMap<Box<[u8]>, u64>,
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Unified {
    fn new(value_type: DataType) -> Self {
        Unified {
            value_type,
            index: FxHashMap::default(),
            bytes: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// The keys of `column` (a dictionary array) rewritten to point into this dictionary,
    /// in the column's own key type. A null key or a null value gives a null.
    fn rekey(&mut self, column: &dyn Array) -> std::result::Result<ArrayRef, String> {
        let DataType::Dictionary(key_type, _) = column.data_type() else {
            return Err(format!(
                "expected a dictionary column, got {}",
                column.data_type()
            ));
        };
        let dictionary = column
            .as_any_dictionary_opt()
            .ok_or_else(|| format!("expected a dictionary column, got {}", column.data_type()))?;
        let values = dictionary.values();
        // Where each of the batch's dictionary values lands in this one.
        let mut mapping: Vec<Option<u64>> = Vec::with_capacity(values.len());
        for i in 0..values.len() {
            mapping.push(if values.is_valid(i) {
                let text: &[u8] = match values.data_type() {
                    DataType::Utf8 => values.as_string::<i32>().value(i).as_bytes(),
                    DataType::LargeUtf8 => values.as_string::<i64>().value(i).as_bytes(),
                    other => {
                        return Err(format!(
                            "dictionary values of type {other} where strings were expected"
                        ))
                    }
                };
                Some(self.insert(text))
            } else {
                None
            });
        }
        let keys: Int64Array = if values.is_empty() {
            // normalized_keys() needs values; with none, every key is null (or there are no rows).
            Int64Array::new_null(column.len())
        } else {
            let valid = dictionary.keys().logical_nulls();
            dictionary
                .normalized_keys()
                .into_iter()
                .enumerate()
                .map(|(row, k)| {
                    let present = valid.as_ref().is_none_or(|n| n.is_valid(row));
                    if present {
                        mapping[k].map(|u| u as i64)
                    } else {
                        None
                    }
                })
                .collect()
        };
        // safe: false, so that a dictionary outgrowing its key type is an error, never a null.
        let options = arrow_cast::CastOptions {
            safe: false,
            ..Default::default()
        };
        arrow_cast::cast_with_options(&keys, key_type, &options).map_err(|e| {
            format!(
                "a column's dictionary has {} distinct values, more than its {key_type} keys hold ({e}); write \
                 Parquet, CSV or JSON lines instead",
                self.ends.len()
            )
        })
    }

    fn insert(&mut self, text: &[u8]) -> u64 {
        if let Some(&i) = self.index.get(text) {
            return i;
        }
        let i = self.ends.len() as u64;
        self.bytes.extend_from_slice(text);
        self.ends.push(self.bytes.len());
        self.index.insert(text.into(), i);
        i
    }

    /// Every value so far, as an array of the dictionary's value type.
    fn values(&self) -> std::result::Result<ArrayRef, String> {
        let values = Buffer::from_slice_ref(&self.bytes);
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        Ok(match self.value_type {
            DataType::LargeUtf8 => {
                let offsets: Vec<i64> = starts.map(|e| e as i64).collect();
                Arc::new(LargeStringArray::new(
                    OffsetBuffer::new(offsets.into()),
                    values,
                    None,
                )) as ArrayRef
            }
            _ => {
                let offsets = starts
                    .map(i32::try_from)
                    .collect::<std::result::Result<Vec<i32>, _>>()
                    .map_err(|_| {
                        "a dictionary column's distinct values pass 2 GiB: write Parquet instead"
                            .to_string()
                    })?;
                Arc::new(StringArray::new(
                    OffsetBuffer::new(offsets.into()),
                    values,
                    None,
                )) as ArrayRef
            }
        })
    }
}

/// The schema of `as_text`: dictionary columns become strings, binary becomes hex text,
/// and with `lists_as_json` (CSV, which has no lists) lists become JSON arrays as text.
fn text_schema(schema: &Schema, lists_as_json: bool) -> Schema {
    Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Dictionary(_, _) | DataType::LargeBinary | DataType::Binary => {
                    Field::new(f.name(), DataType::Utf8, f.is_nullable())
                }
                DataType::List(_) if lists_as_json => {
                    Field::new(f.name(), DataType::Utf8, f.is_nullable())
                }
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    )
}

/// Each row's list as a JSON array (`["a","b"]`, `[60,3600]`), for CSV.
fn list_as_json(column: &ArrayRef) -> std::result::Result<ArrayRef, ArrowError> {
    let lists = column.as_list::<i32>();
    let mut out = arrow_array::builder::StringBuilder::new();
    let mut text = String::new();
    for i in 0..lists.len() {
        if lists.is_null(i) {
            out.append_null();
            continue;
        }
        let items = lists.value(i);
        text.clear();
        text.push('[');
        for j in 0..items.len() {
            if j > 0 {
                text.push(',');
            }
            if items.is_null(j) {
                text.push_str("null");
            } else if let Some(strings) = items.as_string_opt::<i32>() {
                push_json_string(strings.value(j), &mut text);
            } else {
                let value =
                    arrow_cast::display::ArrayFormatter::try_new(&items, &Default::default())?;
                text.push_str(&value.value(j).to_string());
            }
        }
        text.push(']');
        out.append_value(&text);
    }
    Ok(Arc::new(out.finish()))
}

fn push_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A batch for text formats: dictionaries decoded to strings, payload bytes as hex, and
/// with `lists_as_json` lists as JSON text.
fn as_text(
    batch: &RecordBatch,
    lists_as_json: bool,
) -> std::result::Result<RecordBatch, ArrowError> {
    let columns = batch
        .columns()
        .iter()
        .map(|column| match column.data_type() {
            DataType::Dictionary(_, _) => arrow_cast::cast(column, &DataType::Utf8),
            DataType::List(_) if lists_as_json => list_as_json(column),
            DataType::LargeBinary => {
                let bytes = column.as_binary::<i64>();
                let hex: StringArray = (0..bytes.len())
                    .map(|i| bytes.is_valid(i).then(|| crate::wire::hex(bytes.value(i))))
                    .collect();
                Ok(Arc::new(hex) as ArrayRef)
            }
            DataType::Binary => {
                let bytes = column.as_binary::<i32>();
                let hex: StringArray = (0..bytes.len())
                    .map(|i| bytes.is_valid(i).then(|| crate::wire::hex(bytes.value(i))))
                    .collect();
                Ok(Arc::new(hex) as ArrayRef)
            }
            _ => Ok(column.clone()),
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    RecordBatch::try_new_with_options(
        Arc::new(text_schema(&batch.schema(), lists_as_json)),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use arrow_array::{DictionaryArray, UInt16Array};
    use arrow_schema::Field;

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("pcapframe-output-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(
                "host",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                true,
            ),
            Field::new("port", DataType::UInt16, true),
        ]))
    }

    /// A batch whose host dictionary is its own (as each read batch's is).
    fn batch(hosts: &[Option<&str>], ports: &[u16]) -> RecordBatch {
        let hosts: DictionaryArray<arrow_array::types::Int32Type> = hosts.iter().copied().collect();
        RecordBatch::try_new(
            schema(),
            vec![Arc::new(hosts), Arc::new(UInt16Array::from(ports.to_vec()))],
        )
        .unwrap()
    }

    fn write_to(path: &Path, format: OutputFormat, inputs: &[PathBuf]) -> Result<u64> {
        let mut w = TableWriter::create_avoiding(path, format, schema(), inputs)?;
        w.write(&batch(&[Some("10.0.0.1"), None], &[1, 2]))?;
        w.finish()
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".partial-"))
            .collect()
    }

    #[test]
    fn regular_missing_and_linked_files() {
        let dir = scratch("regular");
        let out = dir.join("a.csv");
        write_to(&out, OutputFormat::Csv, &[]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "host,port\n10.0.0.1,1\n,2\n"
        );
        std::fs::write(&out, "old").unwrap();
        write_to(&out, OutputFormat::Csv, &[]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "host,port\n10.0.0.1,1\n,2\n"
        );
        // Through a link: the target gets the rows, the link stays a link.
        let link = dir.join("link.csv");
        symlink("a.csv", &link).unwrap();
        std::fs::write(&out, "old").unwrap();
        write_to(&link, OutputFormat::Csv, &[]).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "host,port\n10.0.0.1,1\n,2\n"
        );
        // A dangling link: its target is created.
        let dangling = dir.join("dangling.csv");
        symlink(dir.join("new.csv"), &dangling).unwrap();
        write_to(&dangling, OutputFormat::Csv, &[]).unwrap();
        assert!(std::fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(std::fs::read_to_string(dir.join("new.csv"))
            .unwrap()
            .starts_with("host,port\n"));
        assert!(leftovers(&dir).is_empty());
    }

    #[test]
    fn devices_are_written_through_and_stay_devices() {
        let dir = scratch("devices");
        let link = dir.join("null.parquet");
        symlink("/dev/null", &link).unwrap();
        write_to(&link, OutputFormat::Parquet, &[]).unwrap();
        write_to(Path::new("/dev/null"), OutputFormat::Ipc, &[]).unwrap();
        assert!(std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(leftovers(&dir).is_empty());
    }

    #[test]
    fn fifo_is_written_through_to_its_reader() {
        let dir = scratch("fifo");
        let fifo = dir.join("rows.csv");
        let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
        };
        write_to(&fifo, OutputFormat::Csv, &[]).unwrap();
        assert_eq!(reader.join().unwrap(), "host,port\n10.0.0.1,1\n,2\n");
        assert!(std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo());
        assert!(leftovers(&dir).is_empty());
    }

    #[test]
    fn sockets_directories_and_inputs_are_refused() {
        let dir = scratch("refused");
        let socket = dir.join("s.csv");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let e = write_to(&socket, OutputFormat::Csv, &[]).unwrap_err();
        assert!(e.to_string().contains("is a socket"), "{e}");
        let e = write_to(&dir, OutputFormat::Csv, &[]).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");

        let input = dir.join("in.pcap");
        std::fs::write(&input, b"capture bytes").unwrap();
        let hard = dir.join("hard.parquet");
        std::fs::hard_link(&input, &hard).unwrap();
        let soft = dir.join("soft.parquet");
        symlink(&input, &soft).unwrap();
        let other_name = dir.join(".").join("in.pcap");
        for out in [&input, &hard, &soft, &other_name] {
            let e = write_to(out, OutputFormat::Parquet, std::slice::from_ref(&input)).unwrap_err();
            assert!(e.to_string().contains("is the input capture"), "{e}");
            assert_eq!(std::fs::read(&input).unwrap(), b"capture bytes");
        }
        assert!(std::fs::symlink_metadata(&soft)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(leftovers(&dir).is_empty());
    }

    #[test]
    fn ipc_file_takes_batches_with_different_dictionaries() {
        for gather in [1, IPC_BATCH_ROWS] {
            ipc_file_round_trip(gather);
        }
    }

    /// `gather` 1: each batch written at once, so that the dictionary grows by deltas.
    fn ipc_file_round_trip(gather: usize) {
        let dir = scratch(&format!("ipc-{gather}"));
        let out = dir.join("t.arrow");
        let batches = [
            batch(&[Some("a"), Some("b"), None], &[1, 2, 3]),
            // Another dictionary, in another order, with a value of its own.
            batch(&[Some("c"), Some("a"), Some("c")], &[4, 5, 6]),
            batch(&[], &[]),
            batch(&[None], &[7]),
        ];
        let mut w = TableWriter::create(&out, OutputFormat::Ipc, schema()).unwrap();
        w.gather_ipc_rows(gather);
        for b in &batches {
            w.write(b).unwrap();
        }
        assert_eq!(w.finish().unwrap(), 7);
        let reader =
            arrow_ipc::reader::FileReader::try_new(File::open(&out).unwrap(), None).unwrap();
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        for b in reader {
            let b = b.unwrap();
            let text = arrow_cast::cast(b.column(0), &DataType::Utf8).unwrap();
            hosts.extend(
                text.as_string::<i32>()
                    .iter()
                    .map(|s| s.map(str::to_string)),
            );
            ports.extend(
                b.column(1)
                    .as_primitive::<arrow_array::types::UInt16Type>()
                    .iter(),
            );
        }
        let want: Vec<Option<String>> = [
            Some("a"),
            Some("b"),
            None,
            Some("c"),
            Some("a"),
            Some("c"),
            None,
        ]
        .iter()
        .map(|s| s.map(String::from))
        .collect();
        assert_eq!(hosts, want);
        assert_eq!(ports, (1..=7).map(Some).collect::<Vec<_>>());
    }

    #[test]
    fn a_dictionary_outgrowing_its_key_type_is_an_error_not_a_null() {
        let key8 = DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8));
        let schema = Arc::new(Schema::new(vec![Field::new("h", key8, true)]));
        let dir = scratch("key8");
        let mut w =
            TableWriter::create(&dir.join("k.arrow"), OutputFormat::Ipc, schema.clone()).unwrap();
        let mut failed = None;
        for i in 0..3 {
            let values = StringArray::from_iter_values((0..100).map(|j| format!("{i}-{j}")));
            let keys = arrow_array::Int8Array::from_iter_values(0..100);
            let column =
                DictionaryArray::<arrow_array::types::Int8Type>::try_new(keys, Arc::new(values))
                    .unwrap();
            if let Err(e) =
                w.write(&RecordBatch::try_new(schema.clone(), vec![Arc::new(column)]).unwrap())
            {
                failed = Some(e);
                break;
            }
        }
        let e = failed.expect("300 values do not fit Int8 keys");
        assert!(e.to_string().contains("distinct values"), "{e}");
        assert!(leftovers(&dir).is_empty());
    }
}
