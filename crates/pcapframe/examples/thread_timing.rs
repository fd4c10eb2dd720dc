//! Times `parallel::read_file` (best of 5) on one file at each thread count, to compare
//! commits side by side: `cargo run --release --example thread_timing -- FILE 1 2`
use std::time::Instant;

use pcapframe::parallel::read_file;
use pcapframe::reader::ReadOptions;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: thread_timing FILE THREADS...");
    let path = std::path::Path::new(&path);
    for threads in args {
        let threads: usize = threads.parse().expect("THREADS: a number");
        let mut best = f64::MAX;
        let mut rows = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let read = read_file(path, &ReadOptions::default(), threads).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
            rows = read.batches.iter().map(|b| b.num_rows()).sum::<usize>();
        }
        println!(
            "{threads} threads: {:>8.1} ms best of 5 ({rows} rows)",
            best * 1e3
        );
    }
}
