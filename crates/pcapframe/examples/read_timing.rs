//! Times the stages of a read on one file: framing only, then framing + decoding into
//! Arrow batches. `cargo run --release --example read_timing -- FILE [BATCH_ROWS]`
//! (default: the whole file in one batch).
use std::time::Instant;

use pcapframe::format::RecordReader;
use pcapframe::reader::{PacketReader, ReadOptions};

fn main() {
    let path = std::env::args().nth(1).expect("usage: read_timing FILE");
    let path = std::path::Path::new(&path);
    let batch_rows: usize = std::env::args()
        .nth(2)
        .map_or(1 << 40, |n| n.parse().expect("BATCH_ROWS: a number"));
    for _ in 0..2 {
        let t = Instant::now();
        let mut records = RecordReader::open(path).unwrap();
        let mut n = 0u64;
        while let Some(r) = records.next_record().unwrap() {
            n += r.data.len() as u64 & 1;
        }
        println!(
            "framing only:      {:>8.1} ms ({n})",
            t.elapsed().as_secs_f64() * 1e3
        );
        let t = Instant::now();
        let options = ReadOptions {
            batch_rows,
            ..ReadOptions::default()
        };
        let rows: usize = PacketReader::open(path, options)
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .sum();
        println!(
            "framing + decode:  {:>8.1} ms ({rows} rows)",
            t.elapsed().as_secs_f64() * 1e3
        );
    }
}
