//! `flows`: the flow table of captures read as one traffic, printed one line per flow as
//! flows end (the order of Zeek's conn.log), or written like `convert`.

use std::io::Write;
use std::path::Path;

use pcapframe::error::{Error, Result};
use pcapframe::flow::{Flow, FlowColumns, FlowReader, Timeouts};
use pcapframe::reader::{ReadOptions, TruncationPolicy};

use crate::inputs;

/// A timeout in seconds, or none.
#[derive(Debug, Clone, Copy)]
pub struct Timeout(pub Option<f64>);

/// `--idle-timeout`/`--active-timeout`: seconds, or `none` for no timeout.
pub fn parse_timeout(text: &str) -> std::result::Result<Timeout, String> {
    if matches!(text, "none" | "off") {
        return Ok(Timeout(None));
    }
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 9.2e9 => Ok(Timeout(Some(s))),
        _ => Err(format!(
            "{text:?} is not a number of seconds greater than 0, or none"
        )),
    }
}

/// The flow table's timeouts from the command line's.
pub fn timeouts(idle: Timeout, active: Timeout) -> Timeouts {
    let ns = |s: Option<f64>| s.map(|s| (s * 1e9).round() as i64);
    Timeouts {
        idle_ns: ns(idle.0),
        active_ns: ns(active.0),
    }
}

pub fn run(
    files: &[String],
    output: Option<&Path>,
    format: Option<&str>,
    options: ReadOptions,
    columns: FlowColumns,
    (idle, active): (Timeout, Timeout),
    threads: Option<usize>,
) -> Result<()> {
    let files = inputs::expand(files)?;
    let errors = options.errors;
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let schema = columns.schema();
    let mut reader = FlowReader::open(&files, options, timeouts(idle, active))?
        .with_columns(columns)?
        .with_threads(threads, None);
    match output {
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let mut line = String::new();
            let mut print = |flows: &[&Flow]| -> Result<()> {
                for flow in flows {
                    line.clear();
                    flow_line(&mut line, flow);
                    out.write_all(line.as_bytes())
                        .map_err(|e| Error::io(e, None))?;
                }
                Ok(())
            };
            while let Some(printed) = reader.next_with(&mut print)? {
                printed?;
            }
            out.flush().map_err(|e| Error::io(e, None))?;
        }
        Some(output) => {
            let mut writer = crate::convert::open_writer(output, format, schema, &files)?;
            while let Some(batch) = reader.next_batch()? {
                writer.write(&batch)?;
            }
            writer.finish()?;
        }
    }
    if let Some(truncated) = &reader.stats().truncated {
        if errors == TruncationPolicy::Warn {
            inputs::warn_truncated_text(truncated);
        }
    }
    Ok(())
}

/// `start duration protocol orig:port > resp:port conn_state history orig packets/bytes
/// resp packets/bytes end_reason`, start in UTC with microseconds.
fn flow_line(out: &mut String, f: &Flow) {
    use std::fmt::Write as _;
    let endpoint = |out: &mut String, (addr, port): (pcapframe::ip::Addr, Option<u16>)| {
        let v6 = matches!(addr, pcapframe::ip::Addr::V6(_));
        match (port, v6) {
            (Some(p), true) => {
                let _ = write!(out, "[{addr}]:{p}");
            }
            (Some(p), false) => {
                let _ = write!(out, "{addr}:{p}");
            }
            (None, _) => {
                let _ = write!(out, "{addr}");
            }
        }
    };
    match (f.start_ns, f.duration_ns()) {
        (Some(start), Some(duration)) => {
            let secs = start.div_euclid(1_000_000_000);
            let micros = start.rem_euclid(1_000_000_000) / 1000;
            let _ = write!(out, "{secs}.{micros:06} {:.6} ", duration as f64 / 1e9);
        }
        _ => out.push_str("- - "),
    }
    let _ = write!(out, "{} ", pcapframe::protocol::name(f.key.protocol));
    endpoint(out, f.orig);
    out.push_str(" > ");
    endpoint(out, f.resp);
    let history = f.conn.history();
    let _ = writeln!(
        out,
        " {} {} {}/{} {}/{} {}",
        f.conn.conn_state(),
        if history.is_empty() { "-" } else { history },
        f.directions[0].packets,
        f.directions[0].bytes,
        f.directions[1].packets,
        f.directions[1].bytes,
        f.end_reason.name()
    );
}
