//! Input files and the packets they hold, for every subcommand.

use std::path::{Path, PathBuf};

use pcapframe::dissect::Dissection;
use pcapframe::error::{Error, Result};
use pcapframe::format::{Record, RecordReader};
use pcapframe::options::TimeRange;
use pcapframe::reader::{pump, PumpEnd, ReadOptions, ReadStats, RecordSink, TruncationPolicy};
use pcapframe::select::PacketSelector;

/// Files named on the command line: each argument is a file, or a glob the shell left
/// alone (quoted); a glob that matches nothing is an error, as a missing file is. `-` is
/// standard input (read through `/dev/stdin`, so compression is found by its magic bytes
/// as in a file); a pipe or a character device named as such (`<(tcpdump -w -)`,
/// `/dev/stdin`) is read as a stream, once.
pub fn expand(arguments: &[String]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut streams = 0;
    for argument in arguments {
        let path = Path::new(if argument == "-" { STDIN } else { argument });
        if is_stream(path) {
            streams += 1;
            if streams > 1 {
                return Err(Error::invalid_argument(format!(
                    "{argument}: only one input can be a stream (standard input or a pipe): it is read once, in order"
                )));
            }
            files.push(path.to_path_buf());
            continue;
        }
        if path.exists() || !argument.contains(['*', '?', '[']) {
            if !path.is_file() {
                let why = if path.exists() {
                    "is not a file"
                } else {
                    "does not exist"
                };
                return Err(Error::invalid_argument(format!("{argument} {why}")));
            }
            files.push(path.to_path_buf());
            continue;
        }
        let pattern = glob::glob(argument).map_err(|e| {
            Error::invalid_argument(format!("{argument} is not a valid pattern: {e}"))
        })?;
        let mut matched: Vec<PathBuf> = pattern
            .filter_map(|entry| entry.ok())
            .filter(|p| p.is_file())
            .collect();
        if matched.is_empty() {
            return Err(Error::invalid_argument(format!(
                "no file matches {argument}"
            )));
        }
        matched.sort();
        files.append(&mut matched);
    }
    Ok(files)
}

/// What `-` reads.
pub const STDIN: &str = "/dev/stdin";

/// A pipe or a character device: read as a stream (no seeking, no second pass).
pub fn is_stream(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo() || m.file_type().is_char_device())
}

/// A stream input copied to a file, for a subcommand that reads its inputs more than once
/// (`extract` to classic pcap looks at every input's header first; `extract --flow` finds
/// the flows, then copies their packets). Removed when dropped.
pub struct Spooled(PathBuf);

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `files` with each stream among them copied to a temporary file (in `$TMPDIR`), which
/// lives as long as the returned guards.
pub fn spool_streams(files: Vec<PathBuf>) -> Result<(Vec<PathBuf>, Vec<Spooled>)> {
    let mut guards = Vec::new();
    let mut out = Vec::with_capacity(files.len());
    for path in files {
        if !is_stream(&path) {
            out.push(path);
            continue;
        }
        let spool = std::env::temp_dir().join(format!(
            ".pcapframe-stdin-{}-{}",
            std::process::id(),
            guards.len()
        ));
        let mut to = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&spool)
            .map_err(|e| Error::io(e, None).in_file(&spool))?;
        guards.push(Spooled(spool.clone()));
        let mut from = std::fs::File::open(&path).map_err(|e| Error::io(e, None).in_file(&path))?;
        std::io::copy(&mut from, &mut to).map_err(|e| {
            Error::invalid_argument(format!(
                "copying {} to the temporary file {} (extract reads its inputs twice): {e}; \
                 set TMPDIR to a directory with room for the capture",
                path.display(),
                spool.display()
            ))
        })?;
        out.push(spool);
    }
    Ok((out, guards))
}

/// A truncated file under `errors=warn`: say so, keep going.
pub fn warn_truncated(error: &Error) {
    warn_truncated_text(&error.to_string());
}

pub fn warn_truncated_text(error: &str) {
    eprintln!("pcapframe: warning: {error} (the packets before it are kept)");
}

/// Call `each` with the dissection of every selected IP packet of `files`, in order, until
/// it returns false. Every record (IP or not) inside the time range (`--start`/`--end`)
/// is passed to `every_record` first, for counts of the whole file. `tunnels` walks the tunnels even without `options.decapsulate`.
/// Returns the selection's counters.
pub fn for_each_packet(
    files: &[PathBuf],
    options: &ReadOptions,
    tunnels: bool,
    every_record: impl FnMut(&Record<'_>),
    each: impl FnMut(&Record<'_>, &Dissection) -> bool,
) -> Result<ReadStats> {
    struct Packets<F, G> {
        selector: PacketSelector,
        time_range: Option<TimeRange>,
        every_record: F,
        each: G,
        stop: bool,
    }
    impl<F: FnMut(&Record<'_>), G: FnMut(&Record<'_>, &Dissection) -> bool> RecordSink
        for Packets<F, G>
    {
        fn record(&mut self, record: &Record<'_>) -> Result<()> {
            if self
                .time_range
                .is_none_or(|r| r.contains(record.timestamp_ns))
            {
                (self.every_record)(record);
            }
            let go_on = match self.selector.select(record)? {
                Some(dissection) => (self.each)(record, dissection),
                None => return Ok(()),
            };
            self.selector.stats_mut().rows += 1;
            self.stop = !go_on;
            Ok(())
        }
        fn go_on(&mut self, _: u64) -> Result<bool> {
            Ok(!self.stop)
        }
        fn skipped_outside_time_range(&mut self, packets: u64) {
            self.selector.count_outside_time_range(packets)
        }
    }
    let mut packets = Packets {
        selector: PacketSelector::new(options)?.with_tunnels(tunnels),
        time_range: options.time_range,
        every_record,
        each,
        stop: false,
    };
    for path in files {
        let mut records = RecordReader::open_for(path, options)?;
        match pump(
            &mut records,
            u64::MAX,
            options.errors,
            &options.cancel,
            &mut packets,
        )
        .map_err(|e| e.in_file(path))?
        {
            PumpEnd::Stopped => break,
            PumpEnd::Ended => {}
            PumpEnd::Truncated(e) => {
                if options.errors == TruncationPolicy::Warn {
                    warn_truncated(&e);
                }
                packets.selector.stats_mut().truncated = Some(e.to_string());
            }
        }
    }
    Ok(packets.selector.stats().clone())
}
