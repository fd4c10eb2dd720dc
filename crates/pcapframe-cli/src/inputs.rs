//! Input files and the packets they hold, for every subcommand.

use std::path::{Path, PathBuf};

use pcapframe::dissect::Dissection;
use pcapframe::error::{Error, Result};
use pcapframe::format::{Record, RecordReader};
use pcapframe::options::TimeRange;
use pcapframe::reader::{pump, PumpEnd, ReadOptions, ReadStats, RecordSink, TruncationPolicy};
use pcapframe::select::PacketSelector;

/// Files named on the command line: each argument is a file, or a glob the shell left
/// alone (quoted); a glob that matches nothing is an error, as a missing file is.
pub fn expand(arguments: &[String]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for argument in arguments {
        let path = Path::new(argument);
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
