//! Every capture in ../shared/corpus against its tshark oracle, row by row: time (integer
//! nanoseconds), hosts, ports and upper protocol, lined up by packet index.

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

/// "1479375975.354415000" -> integer nanoseconds, without going through a float.
fn parse_time(text: &str) -> Option<i64> {
    if text.is_empty() {
        return None;
    }
    let (secs, frac) = text.split_once('.').unwrap_or((text, "0"));
    let frac = format!("{frac:0<9}");
    Some(secs.parse::<i64>().unwrap() * 1_000_000_000 + frac[..9].parse::<i64>().unwrap())
}

fn oracle(path: &Path) -> Vec<Row> {
    let text = fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (t, s, sp, d, dp, idx, up) = (
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
            Row {
                packet_index: f[idx].parse().unwrap(),
                time_ns: parse_time(f[t]),
                src: f[s].to_string(),
                src_port: f[sp].parse().ok(),
                dst: f[d].to_string(),
                dst_port: f[dp].parse().ok(),
                protocol: f[up].parse().unwrap(),
            }
        })
        .collect()
}

fn ours(path: &Path) -> Vec<Row> {
    let mut reader = RecordReader::open(path).unwrap();
    let mut rows = Vec::new();
    let mut index = 0;
    loop {
        let record = match reader.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) if e.kind == ErrorKind::Truncated => break,
            Err(e) => panic!("{e}"),
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

#[test]
fn every_corpus_capture_matches_its_tshark_oracle() {
    let dir = corpus_dir();
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(&dir)
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
        let want = oracle(&expected);
        let got = ours(&capture);
        let name = capture.file_name().unwrap().to_string_lossy().to_string();
        if want.len() != got.len() {
            failures.push(format!(
                "{name}: {} rows expected, {} read",
                want.len(),
                got.len()
            ));
        }
        for (w, g) in want.iter().zip(&got) {
            if w != g {
                failures.push(format!("{name}: expected {w:?}\n     got {g:?}"));
                break;
            }
        }
        checked += 1;
    }
    eprintln!("checked {checked} captures");
    assert!(
        checked >= 40,
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
