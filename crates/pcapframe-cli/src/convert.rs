//! `convert`: captures into one Parquet, Arrow IPC, CSV or JSON-lines file, streamed with
//! bounded memory; a regular file is written under a temporary name and renamed only when
//! complete, a FIFO, a device or standard output (`-o -`) is written through.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use arrow_schema::SchemaRef;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pcapframe::error::{Error, ErrorKind, Result};
use pcapframe::flow::{path_input, LabeledPacketReader, Timeouts};
use pcapframe::output::{OutputFormat, TableWriter};
use pcapframe::parallel::read_file_streaming;
use pcapframe::reader::{Cancel, ReadOptions, TruncationPolicy};

use crate::inputs;

/// How the files are read: the threads that decode each, and the flow table's timeouts
/// for the flow columns.
pub struct Reading {
    pub threads: Option<usize>,
    pub timeouts: Timeouts,
}

pub fn run(
    files: &[String],
    output: &Path,
    format: Option<&str>,
    options: ReadOptions,
    reading: Reading,
    quiet: bool,
) -> Result<()> {
    let to_stdout = output == Path::new("-");
    let files = inputs::expand(files)?;
    let threads = reading
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let total_bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let bar = progress_bar(total_bytes, quiet);

    let schema = pcapframe::batch::schema_of(&options.selected_columns());
    let mut writer = open_writer(output, format, schema, &files)?;
    // Ctrl-C or a kill: the reader stops at its next record (within milliseconds, even
    // while no row comes) and the temporary file is removed.
    let _ = CANCEL.set(options.cancel.clone());
    stop_on_signals();
    let interrupted = |e: Error| match e.kind {
        ErrorKind::Interrupted => {
            Error::new(ErrorKind::Interrupted, "interrupted; no output written")
        }
        _ => e,
    };
    let errors = options.errors;
    let mut packets = 0u64;
    if pcapframe::batch::needs_flows(&options.selected_columns()) {
        // Every file through one flow table, in order, on one thread (`flow::label`).
        let inputs = files.iter().cloned().map(path_input).collect();
        let mut reader = LabeledPacketReader::new(inputs, options, reading.timeouts, threads)
            .map_err(interrupted)?;
        while let Some(batch) = reader.next_batch().map_err(interrupted)? {
            if STOP.load(Ordering::Relaxed) {
                return Err(Error::new(
                    ErrorKind::Interrupted,
                    "interrupted; no output written",
                ));
            }
            writer.write(&batch)?;
            bar.set_message(format!("{} rows", writer.rows()));
        }
        let stats = reader.stats();
        packets = stats.packets;
        if let (Some(truncated), TruncationPolicy::Warn) = (&stats.truncated, errors) {
            bar.suspend(|| inputs::warn_truncated_text(truncated));
        }
    } else {
        let mut done_before = 0u64;
        for path in &files {
            let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            let stats = read_file_streaming(path, &options, threads, |piece, at| {
                if STOP.load(Ordering::Relaxed) {
                    return Err(Error::new(ErrorKind::Io, "interrupted; no output written"));
                }
                for batch in &piece.batches {
                    writer.write(batch)?;
                }
                packets += piece.stats.packets;
                bar.set_position(done_before + at);
                bar.set_message(format!("{} rows of {} packets", writer.rows(), packets));
                Ok(())
            })
            .map_err(interrupted)?;
            if let (Some(truncated), TruncationPolicy::Warn) = (&stats.truncated, errors) {
                bar.suspend(|| inputs::warn_truncated_text(truncated));
            }
            done_before += size;
        }
    }
    let rows = writer.finish()?;
    bar.finish_and_clear();
    if !quiet && !to_stdout && std::io::stderr().is_terminal() {
        eprintln!(
            "{rows} rows from {packets} packets in {} file(s) -> {}",
            files.len(),
            output.display()
        );
    }
    Ok(())
}

/// The table writer for `-o output` (`-`: standard output, which has no extension to tell
/// the format by, so `--format` must) and `--format`, for `convert` and `flows`.
pub fn open_writer(
    output: &Path,
    format: Option<&str>,
    schema: SchemaRef,
    inputs: &[PathBuf],
) -> Result<TableWriter> {
    let to_stdout = output == Path::new("-");
    let format = match format {
        Some(name) => OutputFormat::parse(name)?,
        None if to_stdout => {
            return Err(Error::invalid_argument(
                "-o - writes to standard output: choose the format with --format (parquet, arrow, csv or jsonl)",
            ))
        }
        None => OutputFormat::from_path(output)?,
    };
    if to_stdout {
        TableWriter::stdout(format, schema, inputs)
    } else {
        TableWriter::create_avoiding(output, format, schema, inputs)
    }
}

/// Bytes read, packets, rate and time left, on a terminal only.
fn progress_bar(total_bytes: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}  {msg}",
        )
        .expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

static STOP: AtomicBool = AtomicBool::new(false);
/// The read's stop flag, for the signal handler.
static CANCEL: OnceLock<Cancel> = OnceLock::new();

extern "C" fn request_stop(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
    // An atomic load and store: async-signal-safe.
    if let Some(cancel) = CANCEL.get() {
        cancel.cancel();
    }
}

fn stop_on_signals() {
    let handler: extern "C" fn(libc::c_int) = request_stop;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
    }
}
