//! Every capture in ../shared/corpus and ../shared/corpus2 against its tshark oracle, row by
//! row: time (integer nanoseconds), hosts, ports and upper protocol, lined up by packet index.
//! Where we judge tshark's value not the column's meaning, `TSHARK_DIFFERS` says so (the
//! reasons are written out in tests/test_corpus.py, which holds the same table).

use std::fs;
use std::path::{Path, PathBuf};

use pcapframe::format::RecordReader;
use pcapframe::link::{self, Link};
use pcapframe::{ip, ErrorKind};

fn corpus_dir() -> PathBuf {
    match std::env::var_os("INTAKE_PCAP_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    }
}

fn corpus2_dir() -> PathBuf {
    match std::env::var_os("INTAKE_PCAP_CORPUS2") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus2"),
    }
}

/// (file, frame number, our dst_host): a source route option, whose last address tshark
/// gives as ip.dst; dst_host is the IP header's destination field (tshark's ip.cur_rt).
const TSHARK_DIFFERS: &[(&str, u64, &str)] = &[
    (
        "pcapplusplus__PacketExamples__ipv4-options.pcap",
        6,
        "10.0.0.138",
    ),
    (
        "pcapplusplus__PacketExamples__ipv4-options.pcap",
        7,
        "10.0.0.138",
    ),
];

#[derive(Debug, PartialEq)]
struct Row {
    packet_index: u64,
    time_ns: Option<i64>,
    src: String,
    src_port: Option<u16>,
    dst: String,
    dst_port: Option<u16>,
    protocol: u8,
}

/// "1479375975.354415000" -> integer nanoseconds, without going through a float; `None` past
/// what 64-bit nanoseconds hold (the year 2262), as the reader gives them (corpus2's
/// pcapng-example.pcapng, frames 60-159, are in the year 586524).
fn parse_time(text: &str) -> Option<i64> {
    if text.is_empty() {
        return None;
    }
    let (secs, frac) = text.split_once('.').unwrap_or((text, "0"));
    let frac = format!("{frac:0<9}");
    let ns = secs.parse::<i128>().unwrap() * 1_000_000_000 + frac[..9].parse::<i128>().unwrap();
    i64::try_from(ns).ok()
}

/// The oracle's rows, with their frame numbers.
fn oracle(path: &Path) -> Vec<(u64, Row)> {
    let text = fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (frame, t, s, sp, d, dp, idx, up) = (
        col("frame_number"),
        col("time_epoch"),
        col("src_host"),
        col("src_port"),
        col("dst_host"),
        col("dst_port"),
        col("packet_index"),
        col("upper_proto_number"),
    );
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let row = Row {
                packet_index: f[idx].parse().unwrap(),
                time_ns: parse_time(f[t]),
                src: f[s].to_string(),
                src_port: f[sp].parse().ok(),
                dst: f[d].to_string(),
                dst_port: f[dp].parse().ok(),
                protocol: f[up].parse().unwrap(),
            };
            (f[frame].parse().unwrap(), row)
        })
        .collect()
}

/// Our rows. Damage ends the read (the rows before it stay) where tshark reports damage too;
/// elsewhere only a capture cut short may end it.
fn ours(path: &Path, damaged: bool) -> Vec<Row> {
    let mut reader = RecordReader::open(path).unwrap();
    let mut rows = Vec::new();
    let mut index = 0;
    loop {
        let record = match reader.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) if e.kind == ErrorKind::Truncated || damaged => break,
            Err(e) => panic!("{}: {e}", path.display()),
        };
        index += 1;
        let Link::Ip(info) = link::decode(record.link_type, record.data) else {
            continue;
        };
        let Some(p) = ip::decode(record.data, &info, record.wire_len) else {
            continue;
        };
        rows.push(Row {
            packet_index: index,
            time_ns: record.timestamp_ns,
            src: p.src.to_string(),
            src_port: p.src_port,
            dst: p.dst.to_string(),
            dst_port: p.dst_port,
            protocol: p.protocol,
        });
    }
    rows
}

/// Every capture of `dir` against its oracle; at least `least` of them.
fn check_corpus(dir: &Path, least: usize) {
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("corpus at {} unreadable: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".expected.csv"))
        .collect();
    entries.sort();
    for expected in entries {
        let capture = PathBuf::from(
            expected
                .to_string_lossy()
                .trim_end_matches(".expected.csv")
                .to_string(),
        );
        let name = capture.file_name().unwrap().to_string_lossy().to_string();
        let summary = fs::read_to_string(format!("{}.summary.json", capture.display())).unwrap();
        let damaged = summary.contains("\"tshark_reports_damage\": true");
        let mut want = oracle(&expected);
        for (file, frame, dst) in TSHARK_DIFFERS.iter().filter(|t| t.0 == name) {
            let (_, w) = want.iter_mut().find(|(f, _)| f == frame).unwrap();
            assert_ne!(
                w.dst, *dst,
                "{name} frame {frame}: tshark agrees now ({file})"
            );
            w.dst = dst.to_string();
        }
        let got = ours(&capture, damaged);
        if want.len() != got.len() {
            failures.push(format!(
                "{name}: {} rows expected, {} read",
                want.len(),
                got.len()
            ));
        }
        for ((_, w), g) in want.iter().zip(&got) {
            if w != g {
                failures.push(format!("{name}: expected {w:?}\n     got {g:?}"));
                break;
            }
        }
        checked += 1;
    }
    eprintln!("checked {checked} captures in {}", dir.display());
    assert!(
        checked >= least,
        "only {checked} captures found in {}",
        dir.display()
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} captures differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_corpus_capture_matches_its_tshark_oracle() {
    check_corpus(&corpus_dir(), 40);
}

#[test]
fn every_corpus2_capture_matches_its_tshark_oracle() {
    check_corpus(&corpus2_dir(), 116);
}
