//! `pcapframe`: packet captures from the command line. `show` prints packets the way
//! `tcpdump -tttt -n -q` does, `convert` writes Parquet, Arrow IPC, CSV or JSON lines,
//! `stats` summarises, `live` prints packets from an interface.

mod convert;
mod dns_words;
mod extract;
mod flows;
mod inputs;
mod show;
mod stats;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use pcapframe::reader::{parse_protocol, ReadOptions, TruncationPolicy};

#[derive(Parser)]
#[command(
    name = "pcapframe",
    version,
    about = "Packet captures (pcap, pcapng) as tables: show, convert, stats, live"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print one line per IP packet, in the form of `tcpdump -tttt -n -q`.
    Show {
        /// Capture files, or globs of them (quoted, so that the shell leaves them alone);
        /// `-` is standard input. With -r, these words are the filter expression instead, as
        /// tcpdump takes them (`pcapframe show -r f.pcap -n tcp port 80`).
        words: Vec<String>,
        /// Read this capture file (tcpdump's -r; may be given more than once).
        #[arg(short = 'r', long = "read")]
        read: Vec<String>,
        /// Accepted for tcpdump's sake: addresses and ports are never resolved to names.
        #[arg(short = 'n')]
        numeric: bool,
        /// Stop after this many packets.
        #[arg(short = 'c', long = "count")]
        count: Option<u64>,
        /// DNS over UDP (ports 53 and 5353) as `tcpdump -n` prints it (without -q), and
        /// each HTTP request's first line (`: HTTP: GET / HTTP/1.1`) on the segment that
        /// completes it.
        #[arg(long)]
        app: bool,
        #[command(flatten)]
        select: Selection,
    },
    /// Write the packets' table to a Parquet, Arrow IPC, CSV or JSON-lines file.
    Convert {
        /// Capture files, or globs of them (quoted).
        #[arg(required = true)]
        files: Vec<String>,
        /// Output file; its extension picks the format: .parquet, .arrow, .arrows (IPC stream),
        /// .csv or .jsonl. `-` is standard output (give --format; arrow is the IPC stream
        /// there). A regular file is replaced only when complete; a FIFO or a device is written
        /// through; a directory, a socket and the input itself are refused.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Output format, when the file name does not say (parquet, arrow, arrows, csv, jsonl).
        #[arg(long)]
        format: Option<String>,
        /// Columns to write, comma-separated, in this order (default: time, src_host,
        /// src_port, dst_host, dst_port, protocol). An unknown name lists the valid ones.
        #[arg(long, value_delimiter = ',')]
        columns: Option<Vec<String>>,
        /// Add the payload column (the bytes after the transport header).
        #[arg(long)]
        payload: bool,
        /// Threads that decode each file (default: every core).
        #[arg(long)]
        threads: Option<usize>,
        /// Never show the progress bar (it shows only on a terminal anyway).
        #[arg(short = 'q', long)]
        quiet: bool,
        /// For the flow_id and direction columns: the flow table's idle timeout, as `flows`'.
        #[arg(long, default_value = "120", value_parser = flows::parse_timeout)]
        idle_timeout: flows::Timeout,
        /// For the flow_id and direction columns: the flow table's active timeout, as `flows`'.
        #[arg(long, default_value = "1800", value_parser = flows::parse_timeout)]
        active_timeout: flows::Timeout,
        #[command(flatten)]
        select: Selection,
    },
    /// Packets, bytes, duration, packets per protocol, top talkers and top ports.
    Stats {
        /// Capture files, or globs of them (quoted).
        #[arg(required = true)]
        files: Vec<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// How many talkers and ports to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
        #[command(flatten)]
        select: Selection,
    },
    /// Capture from a network interface and print packets like `show` (needs root or CAP_NET_RAW).
    Live {
        /// The interface, e.g. eth0 or lo.
        #[arg(short = 'i', long = "interface")]
        interface: String,
        /// Stop after this many packets.
        #[arg(short = 'c', long = "count")]
        count: Option<u64>,
        /// Bytes kept of each packet.
        #[arg(short = 's', long = "snaplen", default_value_t = 262_144)]
        snaplen: u32,
        /// Do not put the interface into promiscuous mode.
        #[arg(short = 'p', long = "no-promiscuous-mode")]
        no_promisc: bool,
        #[command(flatten)]
        select: Selection,
    },
    /// The flow table: one line per flow as flows end (Zeek's originator, conn_state and
    /// history, packets/bytes each way), or every column written like `convert` with -o.
    /// The files are one traffic, read in the order given: a flow goes on from one into the next.
    Flows {
        /// Capture files, or globs of them (quoted), in time order.
        #[arg(required = true)]
        files: Vec<String>,
        /// Output file (.parquet, .arrow, .arrows, .csv, .jsonl; `-` with --format: standard output).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// Output format, when the file name does not say.
        #[arg(long)]
        format: Option<String>,
        /// Seconds of capture time without a packet that end a flow, or `none` (default 120).
        #[arg(long, default_value = "120", value_parser = flows::parse_timeout)]
        idle_timeout: flows::Timeout,
        /// Seconds after its first packet at which a flow is cut, or `none` (default 1800).
        #[arg(long, default_value = "1800", value_parser = flows::parse_timeout)]
        active_timeout: flows::Timeout,
        /// Threads (default: every core): the flow table on one, each local file decoded
        /// beside it on the others; the flows are the same whatever the count.
        #[arg(long)]
        threads: Option<usize>,
        /// Verify checksums as Zeek does without -C: a bad IPv4 header checksum drops the
        /// packet, a bad TCP/UDP/ICMP one records C/c (README: Flows).
        #[arg(long)]
        verify_checksums: bool,
        /// Columns -o writes, comma-separated, in this order (default: every column but the
        /// application ones: application, server_name, tls_ja4, tls_ja3, tls_ja3s).
        /// `pcapframe columns --flows` lists them.
        #[arg(long, value_delimiter = ',')]
        columns: Option<Vec<String>>,
        #[command(flatten)]
        select: Selection,
    },
    /// Write packets back as a capture, as the files hold them: those the selection keeps
    /// (--filter as `tcpdump -r FILE -w OUT EXPR`, IP or not; --protocol; packet numbers;
    /// a time range), from every file into one output.
    Extract {
        /// Capture files, or globs of them (quoted), written in the order given.
        #[arg(required = true)]
        files: Vec<String>,
        /// The capture to write: .pcap is classic pcap, any other name pcapng (which keeps
        /// every interface); `-` is standard output (pcapng unless --format says). Written
        /// under a temporary name and renamed when complete.
        #[arg(short = 'w', long = "write")]
        write: std::path::PathBuf,
        /// pcapng or pcap, when the name does not say.
        #[arg(long)]
        format: Option<String>,
        /// Packet numbers, as the frame column gives them (1 is a file's first packet
        /// record, IP or not): 1,5,9-12. One file only.
        #[arg(long, value_delimiter = ',')]
        frames: Option<Vec<String>>,
        /// Every packet of these flows (their `flow_id` in `pcapframe flows` of the same
        /// files, selection and timeouts): 1099511627777,42. Several files: one traffic.
        #[arg(long, value_delimiter = ',')]
        flow: Option<Vec<u64>>,
        /// With --flow: the flow table's idle timeout in seconds, or `none` (default 120).
        #[arg(long, default_value = "120", value_parser = flows::parse_timeout)]
        idle_timeout: flows::Timeout,
        /// With --flow: the flow table's active timeout in seconds, or `none` (default 1800).
        #[arg(long, default_value = "1800", value_parser = flows::parse_timeout)]
        active_timeout: flows::Timeout,
        #[command(flatten)]
        select: Selection,
    },
    /// List the columns `convert --columns` (and the Python `columns=`) can give, with their
    /// types and meanings.
    Columns {
        /// As the README's Markdown table.
        #[arg(long)]
        markdown: bool,
        /// The flow table's columns (`pcapframe flows`, `open_pcap_flows`) instead.
        #[arg(long)]
        flows: bool,
    },
}

/// Options every subcommand shares: which packets.
#[derive(Args, Clone)]
struct Selection {
    /// A tcpdump filter expression, e.g. "tcp port 443".
    #[arg(short = 'f', long)]
    filter: Option<String>,
    /// Only packets whose IP chain holds this protocol (tcp, udp, icmp, icmp6, ...).
    #[arg(long)]
    protocol: Option<String>,
    /// What to do with a file cut short: warn (default), ignore, or raise (fail).
    #[arg(long, default_value = "warn")]
    errors: String,
    /// Rows describe the innermost IP packet reached through tunnels (GRE, VXLAN, Geneve,
    /// GTP-U, IP-in-IP, ...); --protocol follows, --filter keeps its meaning (outer headers).
    #[arg(long)]
    decapsulate: bool,
    /// Only packets at or after this time: epoch seconds (1700000000.25) or ISO 8601
    /// (2024-05-01T12:00:00Z; UTC unless it gives an offset).
    #[arg(long)]
    start: Option<String>,
    /// Only packets before this time (start <= time < end), as --start.
    #[arg(long)]
    end: Option<String>,
}

impl Selection {
    fn options(&self) -> pcapframe::Result<ReadOptions> {
        let time =
            |t: &Option<String>| t.as_deref().map(pcapframe::extract::parse_time).transpose();
        Ok(ReadOptions {
            time_range: pcapframe::options::TimeRange::new(time(&self.start)?, time(&self.end)?)?,
            protocol: parse_protocol(self.protocol.as_deref())?,
            filter: self.filter.clone(),
            errors: TruncationPolicy::parse(&self.errors)?,
            decapsulate: self.decapsulate,
            ..ReadOptions::default()
        })
    }
}

/// `show`'s files and filter from its words: without `-r`, the words are the files; with
/// it, they are the filter expression, as tcpdump reads `tcpdump -r FILE EXPR...`.
fn tcpdump_words(
    words: Vec<String>,
    read: Vec<String>,
    select: &mut Selection,
) -> pcapframe::Result<Vec<String>> {
    if read.is_empty() {
        if words.is_empty() {
            return Err(pcapframe::Error::invalid_argument(
                "give capture files (or -r FILE, as tcpdump takes it; `-` reads standard input)",
            ));
        }
        return Ok(words);
    }
    if !words.is_empty() {
        if select.filter.is_some() {
            return Err(pcapframe::Error::invalid_argument(
                "with -r, the words after the options are the filter expression: give it there or \
                 with --filter, not both",
            ));
        }
        select.filter = Some(words.join(" "));
    }
    Ok(read)
}

/// The whole command: parse `args` (the program's name first) and run it; the exit status.
/// The `pcapframe` binary calls this, and so does the Python package's `pcapframe` command
/// (through its native module), so that one `pip install` brings the command too.
pub fn run(args: impl IntoIterator<Item = OsString>) -> u8 {
    // A closed pipe (`pcapframe show x | head`) ends the program quietly, as in C tools.
    // SAFETY: setting a signal's disposition to its default.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse_from(args);
    let outcome = match cli.command {
        Command::Show {
            words,
            read,
            numeric: _,
            count,
            app,
            mut select,
        } => tcpdump_words(words, read, &mut select)
            .and_then(|files| select.options().map(|o| (files, o)))
            .and_then(|(files, o)| show::run(&files, count, app, &o)),
        Command::Convert {
            files,
            output,
            format,
            columns,
            payload,
            threads,
            quiet,
            idle_timeout,
            active_timeout,
            select,
        } => select
            .options()
            .and_then(|o| {
                // "time, length" as well as "time,length".
                let names: Option<Vec<&str>> = columns
                    .as_ref()
                    .map(|c| c.iter().map(|n| n.trim()).collect());
                ReadOptions { payload, ..o }.with_column_names(names.as_deref())
            })
            .and_then(|o| {
                let reading = convert::Reading {
                    threads,
                    timeouts: flows::timeouts(idle_timeout, active_timeout),
                };
                convert::run(&files, &output, format.as_deref(), o, reading, quiet)
            }),
        Command::Stats {
            files,
            json,
            top,
            select,
        } => select
            .options()
            .and_then(|o| stats::run(&files, json, top, &o)),
        Command::Live {
            interface,
            count,
            snaplen,
            no_promisc,
            select,
        } => select
            .options()
            .and_then(|o| show::live(&interface, count, snaplen, !no_promisc, &o)),
        Command::Flows {
            files,
            output,
            format,
            idle_timeout,
            active_timeout,
            threads,
            verify_checksums,
            columns,
            select,
        } => select.options().and_then(|o| {
            let o = ReadOptions {
                verify_checksums,
                ..o
            };
            let names: Option<Vec<&str>> = columns
                .as_ref()
                .map(|c| c.iter().map(|n| n.trim()).collect());
            let columns = pcapframe::flow::FlowColumns::named(names.as_deref())?;
            if names.is_some() && output.is_none() {
                return Err(pcapframe::error::Error::invalid_argument(
                    "--columns chooses what -o writes (the one-line-per-flow output is fixed): \
                     add -o FILE, or -o - --format csv for standard output",
                ));
            }
            flows::run(
                &files,
                output.as_deref(),
                format.as_deref(),
                o,
                columns,
                (idle_timeout, active_timeout),
                threads,
            )
        }),
        Command::Extract {
            files,
            write,
            format,
            frames,
            flow,
            idle_timeout,
            active_timeout,
            select,
        } => select.options().and_then(|o| {
            let flows = flow.map(|ids| (ids, flows::timeouts(idle_timeout, active_timeout)));
            extract::run(
                &files,
                &write,
                format.as_deref(),
                frames.as_deref(),
                flows,
                o,
            )
        }),
        Command::Columns {
            markdown,
            flows: true,
        } => {
            if markdown {
                print!("{}", pcapframe::flow::flow_markdown_table());
            } else {
                for d in pcapframe::flow::flow_columns() {
                    println!("{:<20} {:<16} {}", d.name, d.kind.pandas_dtype(), d.doc);
                }
            }
            Ok(())
        }
        Command::Columns {
            markdown,
            flows: false,
        } => {
            if markdown {
                print!("{}", pcapframe::column::markdown_table());
            } else {
                for d in &pcapframe::column::COLUMNS {
                    println!("{:<16} {:<22} {}", d.name, d.kind.pandas_dtype(), d.doc);
                }
            }
            Ok(())
        }
    };
    // Inside Python nothing flushes Rust's standard output at exit: flush it here.
    let flushed = std::io::stdout().flush();
    match outcome.and_then(|()| flushed.map_err(|e| pcapframe::Error::io(e, None))) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("pcapframe: {e}");
            1
        }
    }
}
