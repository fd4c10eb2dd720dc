//! Seeking: a read with a time range jumps over the blocks of the file's seek index that
//! hold no packet in it, and an extraction over those that hold nothing it keeps. The rows
//! are the whole read's, masked by time; the packets jumped over are counted, so a test
//! that read everything could not pass. The captures' times go backwards (merged clocks,
//! shuffled stretches), their payloads hold fake record headers, and the pcapng ones hold
//! packets without times and blocks other than packets.

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use pcapframe::column::Column;
use pcapframe::extract::{extract, CaptureFormat, Keep};
use pcapframe::format::{Record, RecordReader};
use pcapframe::index::{self, FileStamp, RecordIndex, SEEK_STEP};
use pcapframe::options::TimeRange;
use pcapframe::output::FileOut;
use pcapframe::reader::{pump, Cancel, PacketReader, ReadOptions, ReadStats, RecordSink};

/// A small deterministic generator (xorshift), so that every run tests the same files.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const BASE_NS: i64 = 1_700_000_000_000_000_000;
const DAY_NS: i64 = 86_400_000_000_000;

/// Times of `n` packets: `Shape` says how they run.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// A day, rising.
    Rising,
    /// Two clocks merged badly: stretches that jump back by hours, and repeats.
    Merged,
    /// Stretches of a rising day in shuffled order.
    Shuffled,
}

fn times(shape: Shape, n: usize, rng: &mut Rng) -> Vec<i64> {
    let step = DAY_NS / n as i64;
    let rising: Vec<i64> = (0..n as i64)
        .map(|i| BASE_NS + i * step + rng.below(step as u64) as i64)
        .collect();
    match shape {
        Shape::Rising => rising,
        Shape::Merged => rising
            .iter()
            .enumerate()
            .map(|(i, &t)| match (i / 700) % 3 {
                1 => t - 3 * 3_600_000_000_000,
                2 if i % 5 == 0 => rising[i - 1],
                _ => t,
            })
            .collect(),
        Shape::Shuffled => {
            let mut stretches: Vec<&[i64]> = rising.chunks(1500).collect();
            for i in (1..stretches.len()).rev() {
                stretches.swap(i, rng.below(i as u64 + 1) as usize);
            }
            stretches.concat()
        }
    }
}

/// An Ethernet/IPv4/UDP frame whose payload is full of things that look like records: a
/// pcap file header and record headers claiming lengths that chain.
fn frame(i: usize, rng: &mut Rng) -> Vec<u8> {
    let mut payload = Vec::new();
    let len = rng.below(600) as usize;
    while payload.len() < len {
        payload.extend_from_slice(&0xA1B23C4Du32.to_le_bytes());
        payload.extend_from_slice(&[0x11; 4]);
        payload.extend_from_slice(&(BASE_NS as u64 / 1_000_000_000).to_le_bytes()[..4]);
        payload.extend_from_slice(&16u32.to_le_bytes());
        payload.extend_from_slice(&16u32.to_le_bytes());
    }
    payload.truncate(len);
    let udp_len = 8 + payload.len();
    let ip_len = 20 + udp_len;
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&[
        0x45,
        0,
        (ip_len >> 8) as u8,
        ip_len as u8,
        0,
        0,
        0,
        0,
        64,
        17,
        0,
        0,
    ]);
    f.extend_from_slice(&[10, 0, (i >> 8) as u8, i as u8, 10, 1, 0, (i % 7) as u8]);
    f.extend_from_slice(&(1000 + (i % 50) as u16).to_be_bytes());
    f.extend_from_slice(&53u16.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&payload);
    f
}

/// A nanosecond classic pcap.
fn pcap(times: &[i64], rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xA1B23C4Du32.to_le_bytes());
    out.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, &t) in times.iter().enumerate() {
        let f = frame(i, rng);
        out.extend_from_slice(&((t / 1_000_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((t % 1_000_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&f);
    }
    out
}

fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().div_ceil(4) * 4;
    let len = (12 + padded) as u32;
    let mut b = kind.to_le_bytes().to_vec();
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(body);
    b.resize(8 + padded, 0);
    b.extend_from_slice(&len.to_le_bytes());
    b
}

/// A microsecond pcapng: enhanced packet blocks, a simple packet block (no time) every
/// 97th packet, a name resolution block and a block of reserved type 0 every 1000th.
fn pcapng(times: &[i64], rng: &mut Rng) -> Vec<u8> {
    let mut shb = 0x1A2B3C4Du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    let mut out = block(0x0A0D0D0A, &shb);
    let mut idb = 1u16.to_le_bytes().to_vec();
    idb.extend_from_slice(&[0, 0]);
    idb.extend_from_slice(&65535u32.to_le_bytes());
    out.extend(block(1, &idb));
    for (i, &t) in times.iter().enumerate() {
        let f = frame(i, rng);
        if i % 1000 == 500 {
            let mut nrb = 1u16.to_le_bytes().to_vec();
            nrb.extend_from_slice(&10u16.to_le_bytes());
            nrb.extend_from_slice(&[10, 0, 0, 1]);
            nrb.extend_from_slice(b"a.b\0\0\0");
            nrb.extend_from_slice(&[0, 0, 0, 0]);
            out.extend(block(4, &nrb));
        }
        if i % 1000 == 700 {
            // A block of the reserved type 0: no packet, though a classic pcap record's
            // type is 0 where a reader reports every record.
            out.extend(block(0, &[]));
        }
        if i % 97 == 0 {
            let mut spb = (f.len() as u32).to_le_bytes().to_vec();
            spb.extend_from_slice(&f);
            out.extend(block(3, &spb));
            continue;
        }
        let us = (t / 1000) as u64;
        let mut epb = 0u32.to_le_bytes().to_vec();
        epb.extend_from_slice(&((us >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(us as u32).to_le_bytes());
        epb.extend_from_slice(&(f.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(f.len() as u32).to_le_bytes());
        epb.extend_from_slice(&f);
        out.extend(block(6, &epb));
    }
    out
}

struct Capture {
    path: PathBuf,
    /// Every packet record's time and bytes, in file order, from a plain walk.
    records: Vec<(Option<i64>, Vec<u8>)>,
}

fn write_capture(dir: &Path, name: &str, bytes: &[u8]) -> Capture {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let mut reader = RecordReader::open(&path).unwrap();
    let mut records = Vec::new();
    while let Some(r) = reader.next_record().unwrap() {
        records.push((r.timestamp_ns, r.data.to_vec()));
    }
    Capture { path, records }
}

fn captures(dir: &Path) -> Vec<Capture> {
    let mut out = Vec::new();
    for (k, shape) in [Shape::Rising, Shape::Merged, Shape::Shuffled]
        .into_iter()
        .enumerate()
    {
        let mut rng = Rng(0x9E3779B97F4A7C15 ^ k as u64);
        let t = times(shape, 30_000, &mut rng);
        out.push(write_capture(
            dir,
            &format!("{shape:?}.pcap"),
            &pcap(&t, &mut rng),
        ));
        out.push(write_capture(
            dir,
            &format!("{shape:?}.pcapng"),
            &pcapng(&t, &mut rng),
        ));
    }
    for c in &out {
        // Big enough for many blocks of the seek index.
        assert!(
            std::fs::metadata(&c.path).unwrap().len() > 40 * SEEK_STEP,
            "{:?}",
            c.path
        );
    }
    out
}

fn columns() -> Vec<Column> {
    let mut c = pcapframe::column::DEFAULT.to_vec();
    c.extend([Column::Frame, Column::Offset, Column::Payload]);
    c
}

fn options(range: Option<TimeRange>) -> ReadOptions {
    ReadOptions {
        columns: Some(columns()),
        payload: true,
        time_range: range,
        errors: pcapframe::reader::TruncationPolicy::Ignore,
        ..ReadOptions::default()
    }
}

fn text(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let formatters: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default()).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            let row: Vec<String> = formatters.iter().map(|f| f.value(i).to_string()).collect();
            out.push(row.join("|"));
        }
    }
    out
}

fn read(path: &Path, range: Option<TimeRange>) -> (Vec<String>, ReadStats) {
    let mut reader = PacketReader::open(path, options(range)).unwrap();
    let mut batches = Vec::new();
    while let Some(b) = reader.next_batch().unwrap() {
        batches.push(b);
    }
    (text(&batches), reader.stats().clone())
}

/// Ranges at, between and beyond the capture's times: narrow ones (what seeking is for),
/// wide ones, open ones, empty ones.
fn ranges(capture: &Capture, rng: &mut Rng) -> Vec<TimeRange> {
    let mut timed: Vec<i64> = capture.records.iter().filter_map(|r| r.0).collect();
    timed.sort_unstable();
    let pick = |rng: &mut Rng| timed[rng.below(timed.len() as u64) as usize];
    let mut out = Vec::new();
    for i in 0..24 {
        let a = pick(rng);
        let width = match i % 4 {
            0 => 600_000_000_000,
            1 => rng.below(DAY_NS as u64) as i64,
            2 => 1,
            _ => 0,
        };
        out.push(match i % 6 {
            4 => TimeRange::new(None, Some(a)).unwrap().unwrap(),
            5 => TimeRange::new(Some(a), None).unwrap().unwrap(),
            _ => TimeRange::new(Some(a), Some(a + width)).unwrap().unwrap(),
        });
    }
    // Ranges whose bounds fall exactly on a block's earliest or latest packet: a block
    // misjudged by one nanosecond loses (or wrongly keeps) that packet.
    let index = index::seek_index(&capture.path, &Cancel::default())
        .unwrap()
        .unwrap();
    let blocks = index.blocks();
    for _ in 0..3 {
        let b = blocks[1 + rng.below(blocks.len() as u64 - 1) as usize];
        if b.earliest_ns > b.latest_ns {
            continue;
        }
        for (s, e) in [
            (Some(b.earliest_ns), Some(b.earliest_ns + 1)),
            (Some(b.latest_ns), Some(b.latest_ns + 1)),
            (None, Some(b.earliest_ns + 1)),
            (Some(b.latest_ns), None),
        ] {
            out.push(TimeRange::new(s, e).unwrap().unwrap());
        }
    }
    out.push(
        TimeRange::new(Some(BASE_NS - DAY_NS), Some(BASE_NS - 1))
            .unwrap()
            .unwrap(),
    );
    out.push(
        TimeRange::new(Some(BASE_NS + 10 * DAY_NS), None)
            .unwrap()
            .unwrap(),
    );
    out
}

/// What `pump` handed over from a reader opened for `range`: the times of the records read
/// and the packets jumped over.
fn pumped(path: &Path, range: TimeRange) -> (Vec<Option<i64>>, u64) {
    let options = options(Some(range));
    drain(RecordReader::open_for(path, &options).unwrap(), &options)
}

/// The times of the records `records` hands over to its end, and the packets it jumps over.
fn drain(mut records: RecordReader, options: &ReadOptions) -> (Vec<Option<i64>>, u64) {
    let mut times = Vec::new();
    let mut sink = Collect(&mut times, 0);
    pump(
        &mut records,
        u64::MAX,
        options.errors,
        &Cancel::default(),
        &mut sink,
    )
    .unwrap();
    let jumped = sink.1;
    (times, jumped)
}

#[test]
fn a_range_read_is_the_whole_read_masked_and_jumps_over_the_rest() {
    let dir = tempdir("ranges");
    let mut rng = Rng(7);
    let mut jumped_in_narrow = 0u64;
    let mut narrow = 0u64;
    for capture in captures(&dir) {
        let (whole, _) = read(&capture.path, None);
        assert_eq!(whole.len(), capture.records.len());
        let time_of = |row: &String| -> Option<i64> {
            capture.records[row.split('|').nth(6).unwrap().parse::<usize>().unwrap() - 1].0
        };
        for range in ranges(&capture, &mut rng) {
            let want: Vec<String> = whole
                .iter()
                .filter(|row| range.contains(time_of(row)))
                .cloned()
                .collect();
            let (got, stats) = read(&capture.path, Some(range));
            assert_eq!(got, want, "{:?} {range:?}", capture.path);
            let total = capture.records.len() as u64;
            assert_eq!(stats.packets, total);
            assert_eq!(stats.rows, want.len() as u64);
            assert_eq!(stats.outside_time_range, total - want.len() as u64);
            // Threads and the streaming reader take the same rows.
            let threaded = pcapframe::parallel::read_file_in_ranges(
                &capture.path,
                &options(Some(range)),
                2,
                1 << 18,
            )
            .unwrap();
            assert_eq!(
                text(&threaded.batches),
                want,
                "{:?} {range:?}",
                capture.path
            );
            assert_eq!(threaded.stats.outside_time_range, total - want.len() as u64);
            // What was handed over and what was jumped over add up to every packet, and
            // every packet in the range was handed over.
            let (seen, jumped) = pumped(&capture.path, range);
            assert_eq!(seen.len() as u64 + jumped, total);
            let in_range = seen.iter().filter(|t| range.contains(**t)).count();
            assert_eq!(in_range, want.len());
            if range.start_ns.is_some()
                && range
                    .end_ns
                    .is_some_and(|e| e - range.start_ns.unwrap() <= 600_000_000_000)
            {
                narrow += total;
                jumped_in_narrow += jumped;
            }
        }
    }
    // Narrow ranges jump over nearly everything, even where the times go backwards (each
    // stretch's blocks are narrow in time too).
    assert!(
        jumped_in_narrow * 10 > narrow * 9,
        "{jumped_in_narrow} of {narrow}"
    );
}

#[test]
fn an_extraction_by_frames_or_time_writes_the_records_asked_for_and_jumps_over_the_rest() {
    let dir = tempdir("extract");
    let mut rng = Rng(11);
    for capture in captures(&dir) {
        let total = capture.records.len() as u64;
        for format in [CaptureFormat::Pcap, CaptureFormat::Pcapng] {
            if format == CaptureFormat::Pcap && capture.path.extension().unwrap() == "pcapng" {
                continue;
            }
            // A few scattered frames, the first and the last among them.
            let mut frames: Vec<u64> = (0..40).map(|_| 1 + rng.below(total)).collect();
            frames.extend([1, total]);
            frames.sort_unstable();
            frames.dedup();
            let out = dir.join("out");
            let keep = Keep {
                frames: Some(vec![frames.clone()]),
                ..Keep::default()
            };
            let done = extract_one(&capture.path, &keep, format, &out);
            let want: Vec<_> = frames
                .iter()
                .map(|&f| capture.records[f as usize - 1].clone())
                .collect();
            assert_eq!(written(&out), want, "{:?} {format:?}", capture.path);
            assert!(done.skipped > total / 2, "{} of {total}", done.skipped);
            assert_eq!(done.read + done.skipped, total);
            // A ten-minute range.
            let start = capture.records[rng.below(total) as usize]
                .0
                .unwrap_or(BASE_NS);
            let keep = Keep {
                start_ns: Some(start),
                end_ns: Some(start + 600_000_000_000),
                ..Keep::default()
            };
            let done = extract_one(&capture.path, &keep, format, &out);
            let want: Vec<_> = capture
                .records
                .iter()
                .filter(|r| {
                    r.0.is_some_and(|t| start <= t && t < start + 600_000_000_000)
                })
                .cloned()
                .collect();
            assert_eq!(written(&out), want, "{:?} {format:?}", capture.path);
            assert!(done.skipped > total / 2, "{} of {total}", done.skipped);
            // Frames and a range together: frames outside the range are passed, not
            // missing (the last one lies in a block jumped over to the end of the file).
            let keep = Keep {
                frames: Some(vec![frames.clone()]),
                ..keep
            };
            extract_one(&capture.path, &keep, format, &out);
            let want: Vec<_> = frames
                .iter()
                .map(|&f| capture.records[f as usize - 1].clone())
                .filter(|r| {
                    r.0.is_some_and(|t| start <= t && t < start + 600_000_000_000)
                })
                .collect();
            assert_eq!(written(&out), want, "{:?} {format:?}", capture.path);
        }
    }
    // Frames out of order are refused, not half used.
    let capture = &captures(&dir)[0];
    let keep = Keep {
        frames: Some(vec![vec![900, 5]]),
        ..Keep::default()
    };
    let refused = extract(
        std::slice::from_ref(&capture.path),
        &keep,
        CaptureFormat::Pcap,
        FileOut::create(&dir.join("refused"), &[]).unwrap(),
        &Cancel::default(),
    );
    assert!(refused.unwrap_err().message.contains("increasing order"));
}

/// `extract` of one input into `out`.
fn extract_one(
    input: &Path,
    keep: &Keep,
    format: CaptureFormat,
    out: &Path,
) -> pcapframe::extract::Extracted {
    extract(
        std::slice::from_ref(&input.to_path_buf()),
        keep,
        format,
        FileOut::create(out, &[]).unwrap(),
        &Cancel::default(),
    )
    .unwrap()
}

/// Times (as the output's resolution gives them, the sources' being whole microseconds or
/// nanoseconds) and bytes of a capture's packet records.
fn written(path: &Path) -> Vec<(Option<i64>, Vec<u8>)> {
    let mut reader = RecordReader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(r) = reader.next_record().unwrap() {
        out.push((r.timestamp_ns, r.data.to_vec()));
    }
    out
}

#[test]
fn a_saved_index_is_used_only_when_whole_and_of_the_file_as_it_is() {
    let dir = tempdir("saved");
    let mut rng = Rng(3);
    let t = times(Shape::Merged, 5000, &mut rng);
    let capture = write_capture(&dir, "c.pcap", &pcap(&t, &mut rng));
    let key = std::fs::canonicalize(&capture.path).unwrap();
    let built = RecordIndex::build(&capture.path, 4096, &Cancel::default()).unwrap();
    assert!(built.checkpoints.len() > 50);
    assert_eq!(built.packets, 5000);
    let file = index::saved_index_path(&dir.join("cache"), &key, built.step);
    index::save(&built, &key, &file).unwrap();
    let stamp = FileStamp::of(&capture.path).unwrap();
    let loaded = index::load(&file, &key, stamp, built.step).unwrap();
    assert_eq!(loaded.checkpoints, built.checkpoints);
    assert_eq!((loaded.end, loaded.packets), (built.end, built.packets));
    // Another step, another file, another version of the file: not this index.
    assert!(index::load(&file, &key, stamp, built.step * 2).is_none());
    assert!(index::load(&file, &dir.join("other.pcap"), stamp, built.step).is_none());
    let touched = FileStamp {
        modified_ns: stamp.modified_ns + 1,
        ..stamp
    };
    assert!(index::load(&file, &key, touched, built.step).is_none());
    // Any byte changed, or the file cut short: not used.
    let bytes = std::fs::read(&file).unwrap();
    for i in (0..bytes.len())
        .step_by(bytes.len() / 97 + 1)
        .chain([bytes.len() - 1])
    {
        let mut bad = bytes.clone();
        bad[i] ^= 0x20;
        std::fs::write(&file, &bad).unwrap();
        assert!(
            index::load(&file, &key, stamp, built.step).is_none(),
            "byte {i}"
        );
    }
    std::fs::write(&file, &bytes[..bytes.len() - 1]).unwrap();
    assert!(index::load(&file, &key, stamp, built.step).is_none());
    std::fs::write(&file, &bytes).unwrap();
    assert!(index::load(&file, &key, stamp, built.step).is_some());
}

#[test]
fn blocks_account_for_every_packet_and_skips_join_adjacent_blocks() {
    let dir = tempdir("blocks");
    let mut rng = Rng(5);
    let t = times(Shape::Shuffled, 20_000, &mut rng);
    for capture in [
        write_capture(&dir, "c.pcap", &pcap(&t, &mut rng)),
        write_capture(&dir, "c.pcapng", &pcapng(&t, &mut rng)),
    ] {
        let index = RecordIndex::build(&capture.path, 8192, &Cancel::default()).unwrap();
        let blocks = index.blocks();
        assert!(blocks.len() > 100);
        assert_eq!(index.packets, capture.records.len() as u64);
        assert_eq!(blocks.iter().map(|b| b.packets).sum::<u64>(), index.packets);
        for pair in blocks.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
            assert_eq!(
                pair[0].packets_before + pair[0].packets,
                pair[1].packets_before
            );
        }
        // Each block's times, against the records themselves.
        for b in &blocks {
            let first = b.packets_before as usize;
            let times: Vec<i64> = capture.records[first..first + b.packets as usize]
                .iter()
                .filter_map(|r| r.0)
                .collect();
            assert_eq!(
                b.earliest_ns,
                times.iter().copied().min().unwrap_or(i64::MAX)
            );
            assert_eq!(b.latest_ns, times.iter().copied().max().unwrap_or(i64::MIN));
        }
        let is_pcapng = capture.path.extension().unwrap() == "pcapng";
        assert_eq!(blocks.iter().any(|b| b.other_blocks), is_pcapng);
        // Nothing wanted: everything but the first block is jumped, in one skip.
        let skips = index.skips(|_| false);
        assert_eq!(skips.len(), 1);
        assert_eq!(skips[0].from, blocks[1].start);
        assert_eq!(skips[0].to, std::fs::metadata(&capture.path).unwrap().len());
        assert_eq!(skips[0].packets, index.packets - blocks[0].packets);
    }
}

#[test]
fn damage_is_read_and_reported_as_the_whole_read_reports_it() {
    let dir = tempdir("damage");
    let mut rng = Rng(9);
    let t = times(Shape::Rising, 20_000, &mut rng);
    let mut bytes = pcap(&t, &mut rng);
    // A record header cut off at the end.
    bytes.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
    let capture = write_capture_lenient(&dir, "cut.pcap", &bytes);
    let first = capture.records[0].0.unwrap();
    let range = TimeRange::new(Some(first), Some(first + 600_000_000_000))
        .unwrap()
        .unwrap();
    let (_, stats) = read(&capture.path, Some(range));
    let (_, whole) = read(&capture.path, None);
    assert!(whole.truncated.is_some());
    assert_eq!(stats.truncated, whole.truncated);
    assert_eq!(stats.packets, whole.packets);
}

fn write_capture_lenient(dir: &Path, name: &str, bytes: &[u8]) -> Capture {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let mut reader = RecordReader::open(&path).unwrap();
    let mut records = Vec::new();
    while let Ok(Some(r)) = reader.next_record() {
        records.push((r.timestamp_ns, r.data.to_vec()));
    }
    Capture { path, records }
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pcapframe-seek-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_capture_replaced_during_a_read_does_not_move_its_jumps() {
    // Log rotation: another capture is renamed onto the path while a range is read. The
    // reader's jumps stay in the file it opened.
    let dir = tempdir("rotated");
    let mut rng = Rng(13);
    let t = times(Shape::Rising, 30_000, &mut rng);
    let capture = write_capture(&dir, "c.pcap", &pcap(&t, &mut rng));
    let other = times(Shape::Shuffled, 30_000, &mut rng);
    std::fs::write(dir.join("next.pcap"), pcap(&other, &mut rng)).unwrap();
    let start = t[1000];
    let range = TimeRange::new(Some(start), Some(start + 600_000_000_000))
        .unwrap()
        .unwrap();
    let want: Vec<Option<i64>> = t
        .iter()
        .filter(|&&x| range.contains(Some(x)))
        .map(|&x| Some(x))
        .collect();
    let options = options(Some(range));
    let records = RecordReader::open_for(&capture.path, &options).unwrap();
    std::fs::rename(dir.join("next.pcap"), &capture.path).unwrap();
    let (got, jumped) = drain(records, &options);
    // Most of the day was jumped over, in the file the reader opened.
    assert!(jumped > 25_000, "{jumped}");
    let kept: Vec<Option<i64>> = got.into_iter().filter(|t| range.contains(*t)).collect();
    assert_eq!(kept, want);
}

/// A sink that keeps the records' times and counts the packets jumped over.
struct Collect<'a>(&'a mut Vec<Option<i64>>, u64);

impl RecordSink for Collect<'_> {
    fn record(&mut self, record: &Record<'_>) -> pcapframe::error::Result<()> {
        self.0.push(record.timestamp_ns);
        Ok(())
    }
    fn go_on(&mut self, _: u64) -> pcapframe::error::Result<bool> {
        Ok(true)
    }
    fn skipped_outside_time_range(&mut self, packets: u64) {
        self.1 += packets;
    }
}
