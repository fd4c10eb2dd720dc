//! `extract`: the packets a selection keeps, written back as a capture (`pcapframe::extract`
//! has the rules): `tcpdump -r IN -w OUT EXPR` with packet numbers and time ranges, over
//! several files into one output.

use std::path::Path;

use pcapframe::error::{Error, Result};
use pcapframe::extract::{extract, CaptureFormat, Keep};
use pcapframe::flow::{frames_of_flows, path_input, Timeouts};
use pcapframe::output::FileOut;
use pcapframe::reader::{Cancel, ReadOptions, TruncationPolicy};

use crate::inputs;

pub fn run(
    files: &[String],
    output: &Path,
    format: Option<&str>,
    frames: Option<&[String]>,
    flows: Option<(Vec<u64>, Timeouts)>,
    options: ReadOptions,
) -> Result<()> {
    let (files, _spooled) = inputs::spool_streams(inputs::expand(files)?)?;
    let to_stdout = output == Path::new("-");
    let format = match format {
        Some(name) => CaptureFormat::parse(name)?,
        None if to_stdout => CaptureFormat::Pcapng,
        None => CaptureFormat::from_path(output),
    };
    let frames = match frames {
        None => None,
        Some(_) if files.len() != 1 => return Err(Error::invalid_argument(
            "--frames numbers the packets of one file (as the frame column does): give one file",
        )),
        Some(list) => Some(vec![parse_frames(list)?]),
    };
    let frames = match (frames, flows) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid_argument("give --frames or --flow, not both"))
        }
        (None, Some((ids, timeouts))) => {
            let inputs = files.iter().cloned().map(path_input).collect();
            Some(frames_of_flows(inputs, &options, timeouts, &ids)?)
        }
        (frames, None) => frames,
    };
    // The range applies to every record, IP or not.
    let range = options.time_range.unwrap_or_default();
    let keep = Keep {
        frames,
        offsets: None,
        start_ns: range.start_ns,
        end_ns: range.end_ns,
        options: ReadOptions {
            time_range: None,
            ..options.clone()
        },
    };
    let out = if to_stdout {
        FileOut::stdout(&files)?
    } else {
        FileOut::create(output, &files)?
    };
    let done = extract(&files, &keep, format, out, &Cancel::default())?;
    if options.errors == TruncationPolicy::Warn {
        for e in &done.damage {
            inputs::warn_truncated(e);
        }
    }
    if !to_stdout {
        eprintln!(
            "pcapframe: {} of {} packets written to {}",
            done.packets,
            done.read + done.skipped,
            output.display()
        );
    }
    Ok(())
}

/// `1,5,9-12` as sorted packet numbers (1 is a file's first packet).
pub fn parse_frames(list: &[String]) -> Result<Vec<u64>> {
    let bad = |part: &str| {
        Error::invalid_argument(format!(
            "--frames: {part:?} is not a packet number or a range (1,5,9-12; 1 is the first packet)"
        ))
    };
    let mut frames = Vec::new();
    for part in list.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (u64, u64) = match (a.trim().parse(), b.trim().parse()) {
            (Ok(a), Ok(b)) if a >= 1 && a <= b => (a, b),
            _ => return Err(bad(part)),
        };
        if b - a > 100_000_000 {
            return Err(bad(part));
        }
        frames.extend(a..=b);
    }
    frames.sort_unstable();
    frames.dedup();
    Ok(frames)
}
