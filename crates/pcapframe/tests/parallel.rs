//! Reading one file in byte ranges on several threads gives exactly the sequential read:
//! every corpus capture at many range sizes, and captures whose payloads are full of fake
//! record headers.

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use pcapframe::error::ErrorKind;
use pcapframe::parallel::{read_byte_range, read_file, read_file_in_ranges};
use pcapframe::reader::{ReadOptions, TruncationPolicy};

fn corpus_dir() -> PathBuf {
    match std::env::var_os("INTAKE_PCAP_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    }
}

fn options() -> ReadOptions {
    ReadOptions {
        payload: true,
        batch_rows: 1 << 40,
        errors: TruncationPolicy::Ignore,
        ..ReadOptions::default()
    }
}

/// Rows as comparable text, whatever the batch boundaries and dictionaries.
fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let text = arrow_cast_free(b);
        out.extend(text);
    }
    out
}

fn arrow_cast_free(batch: &RecordBatch) -> Vec<String> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int16Type, Int32Type, TimestampNanosecondType, UInt16Type};
    use arrow_array::Array;
    let time = batch.column(0).as_primitive::<TimestampNanosecondType>();
    let src = batch.column(1).as_dictionary::<Int32Type>();
    let sport = batch.column(2).as_primitive::<UInt16Type>();
    let dst = batch.column(3).as_dictionary::<Int32Type>();
    let dport = batch.column(4).as_primitive::<UInt16Type>();
    let proto = batch.column(5).as_dictionary::<Int16Type>();
    let payload = batch.column(6).as_binary::<i64>();
    let text = |d: &arrow_array::DictionaryArray<Int32Type>, i: usize| {
        d.values()
            .as_string::<i32>()
            .value(d.keys().value(i) as usize)
            .to_string()
    };
    (0..batch.num_rows())
        .map(|i| {
            format!(
                "{:?} {} {:?} {} {:?} {} {:?}",
                time.is_valid(i).then(|| time.value(i)),
                text(src, i),
                sport.is_valid(i).then(|| sport.value(i)),
                text(dst, i),
                dport.is_valid(i).then(|| dport.value(i)),
                proto
                    .values()
                    .as_string::<i32>()
                    .value(proto.keys().value(i) as usize),
                payload.value(i),
            )
        })
        .collect()
}

fn check(path: &Path, range_sizes: &[u64]) {
    let whole = read_file(path, &options(), 1).unwrap();
    let want = rows(&whole.batches);
    // Independent byte ranges (dask partitions), each read on its own. A pcapng file that
    // describes a section or interface after its first packet cannot be split: the range
    // holding that block must say so.
    let late = late_descriptions(path);
    let size = std::fs::metadata(path).unwrap().len();
    // Each range resynchronises over up to 1 MiB before it: bound the bytes scanned.
    let range_sizes: Vec<u64> = range_sizes
        .iter()
        .copied()
        .filter(|&b| size / b * size.min(2 << 20) <= 1 << 30)
        .collect();
    for &block in &range_sizes {
        let mut got = Vec::new();
        let mut refused = Vec::new();
        let mut start = 0;
        while start < size {
            let end = (start + block).min(size);
            match read_byte_range(path, &options(), start, end) {
                Ok(part) => got.extend(rows(&part.batches)),
                Err(e) if e.kind == ErrorKind::NotSplittable => refused.push((start, end)),
                Err(e) => panic!("{} range {start}..{end}: {e}", path.display()),
            }
            start = end;
        }
        if late.is_empty() {
            assert!(
                refused.is_empty(),
                "{} refused ranges {refused:?}",
                path.display()
            );
            assert!(
                got == want,
                "{} in partitions of {block} bytes: rows differ ({} vs {})",
                path.display(),
                got.len(),
                want.len()
            );
        } else {
            // The range holding the first such block refuses (later ones may resynchronise
            // past them, or refuse as well).
            let at = late[0];
            assert!(
                refused.iter().any(|&(s, e)| s <= at && at < e),
                "{}: block at {at} not refused",
                path.display()
            );
        }
    }
    for &size in &range_sizes {
        let split = read_file_in_ranges(path, &options(), 3, size).unwrap();
        let got = rows(&split.batches);
        assert_eq!(
            got.len(),
            want.len(),
            "{} in ranges of {size} bytes",
            path.display()
        );
        assert!(
            got == want,
            "{} in ranges of {size} bytes: rows differ",
            path.display()
        );
        assert_eq!(
            split.stats.packets,
            whole.stats.packets,
            "{} {size}",
            path.display()
        );
    }
}

#[test]
fn every_corpus_capture_reads_the_same_in_ranges() {
    let (mut pcap, mut pcapng) = (0, 0);
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("pcap") => pcap += 1,
            Some("pcapng") => pcapng += 1,
            _ => continue,
        }
        check(&path, &[3, 64, 333, 4096, 100_000]);
    }
    assert!(
        pcap >= 25 && pcapng >= 8,
        "only {pcap} pcap and {pcapng} pcapng files"
    );
}

/// Offsets of section header and interface description blocks after a file's first packet
/// block, by a plain walk of the block chain (independent of the reader under test).
fn late_descriptions(path: &Path) -> Vec<u64> {
    let bytes = std::fs::read(path).unwrap();
    if bytes.get(..4) != Some(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        return Vec::new();
    }
    let (mut at, mut little, mut seen_packet, mut late) = (0usize, true, false, Vec::new());
    while at + 12 <= bytes.len() {
        let word = |i: usize, little: bool| {
            let b = [bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]];
            if little {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            }
        };
        if bytes[at..at + 4] == [0x0a, 0x0d, 0x0d, 0x0a] {
            little = word(at + 8, true) == 0x1a2b3c4d;
        }
        let (kind, len) = (word(at, little), word(at + 4, little) as usize);
        match kind {
            2 | 3 | 6 => seen_packet = true,
            0x0a0d0d0a | 1 if seen_packet => late.push(at as u64),
            _ => {}
        }
        if len < 12 {
            break;
        }
        at += len;
    }
    late
}

/// A deterministic pseudo-random sequence (xorshift64) for the generated captures.
fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// Ethernet, IPv4 and UDP headers of packet `i` of the fake-laden captures below, for a
/// payload of `payload_len` bytes that the caller appends.
fn udp_frame_header(i: usize, payload_len: usize) -> Vec<u8> {
    let mut frame = vec![0u8; 12];
    frame.extend_from_slice(&[0x08, 0x00]);
    let total = ((20 + 8 + payload_len) as u16).to_be_bytes();
    frame.extend_from_slice(&[0x45, 0, total[0], total[1], 0, 0, 0, 0, 64, 17, 0, 0]);
    frame.extend_from_slice(&[10, 0, (i >> 8) as u8, i as u8, 10, 1, 0, 1]);
    frame.extend_from_slice(&(1000 + i as u16).to_be_bytes());
    frame.extend_from_slice(&53u16.to_be_bytes());
    frame.extend_from_slice(&((8 + payload_len) as u16).to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame
}

/// A pcap whose payloads are copies of plausible record headers (with lengths that chain
/// to further fake headers), the worst case for resynchronisation.
fn adversarial_capture(path: &Path, packets: usize, seed: u64) {
    let mut next = xorshift(seed);
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    out.extend_from_slice(&[
        2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ]);
    for i in 0..packets {
        // Ethernet + IPv4 + UDP headers, then a payload made of fake record headers.
        let payload_len = 16 + (next() % 600) as usize;
        let mut frame = udp_frame_header(i, payload_len);
        let mut payload = Vec::with_capacity(payload_len);
        while payload.len() < payload_len {
            let fake_len = (next() % 40) as u32;
            payload.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
            payload.extend_from_slice(&((next() % 1_000_000) as u32).to_le_bytes());
            payload.extend_from_slice(&fake_len.to_le_bytes());
            payload.extend_from_slice(&(fake_len + (next() % 3) as u32).to_le_bytes());
            payload.extend((0..fake_len).map(|_| next() as u8));
        }
        payload.truncate(payload_len);
        frame.extend_from_slice(&payload);
        out.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        out.extend_from_slice(&((next() % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out).unwrap();
}

/// Six generated captures (`make(path, seed)`), each checked at four range sizes.
fn check_generated(extension: &str, make: impl Fn(&Path, u64)) {
    let dir = std::env::temp_dir().join(format!(
        "pcapframe-parallel-{extension}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for seed in 1..=6u64 {
        let path = dir.join(format!("fake-{seed}.{extension}"));
        make(&path, seed);
        check(&path, &[13, 256, 1000, 20_000]);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn payloads_full_of_fake_record_headers_do_not_fool_the_split() {
    check_generated("pcap", |path, seed| {
        adversarial_capture(path, 400, seed * 7919)
    });
}

#[test]
fn independent_byte_ranges_of_a_large_fake_laden_capture_match() {
    // Larger than the reader's look-back, so each range resynchronises inside fake headers.
    let dir = std::env::temp_dir().join(format!("pcapframe-ranges-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fake-large.pcap");
    adversarial_capture(&path, 12_000, 424_242);
    assert!(std::fs::metadata(&path).unwrap().len() > 3 << 20);
    check(&path, &[700_001, 1_500_000]);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A pcapng file (either byte order) whose packet payloads are made of fake enhanced
/// packet blocks with matching leading and trailing lengths, with name resolution,
/// statistics and custom blocks between the packets.
fn adversarial_pcapng(path: &Path, packets: usize, seed: u64, big_endian: bool) {
    let mut next = xorshift(seed);
    let w = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let block = |kind: u32, body: &[u8]| {
        let mut b = Vec::new();
        let total = (12 + body.len().div_ceil(4) * 4) as u32;
        b.extend_from_slice(&w(kind));
        b.extend_from_slice(&w(total));
        b.extend_from_slice(body);
        b.resize(total as usize - 4, 0);
        b.extend_from_slice(&w(total));
        b
    };
    let mut out = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&w(0x1a2b3c4d));
    shb.extend_from_slice(&if big_endian {
        [0, 1, 0, 0]
    } else {
        [1, 0, 0, 0]
    });
    shb.extend_from_slice(&[0xff; 8]);
    out.extend(block(0x0a0d0d0a, &shb));
    let mut idb = Vec::new();
    idb.extend_from_slice(&if big_endian {
        [0, 1, 0, 0]
    } else {
        [1, 0, 0, 0]
    });
    idb.extend_from_slice(&w(65535));
    out.extend(block(1, &idb));
    for i in 0..packets {
        let payload_len = 16 + (next() % 600) as usize;
        let mut frame = udp_frame_header(i, payload_len);
        let mut payload = Vec::with_capacity(payload_len);
        while payload.len() < payload_len {
            // A fake EPB: type, length, interface 0, time, lengths, data, length again.
            let data = (next() % 40) as usize * 4;
            let fake_total = 32 + data as u32;
            payload.extend_from_slice(&w(6));
            payload.extend_from_slice(&w(fake_total));
            payload.extend_from_slice(&w(0));
            payload.extend_from_slice(&w(0x0006_0000));
            payload.extend_from_slice(&w(next() as u32));
            payload.extend_from_slice(&w(data as u32));
            payload.extend_from_slice(&w(data as u32));
            payload.extend((0..data).map(|_| next() as u8));
            payload.extend_from_slice(&w(fake_total));
        }
        payload.truncate(payload_len);
        frame.extend_from_slice(&payload);
        let mut epb = Vec::new();
        epb.extend_from_slice(&w(0));
        let ts = (1_700_000_000u64 + i as u64) * 1_000_000 + next() % 1_000_000;
        epb.extend_from_slice(&w((ts >> 32) as u32));
        epb.extend_from_slice(&w(ts as u32));
        epb.extend_from_slice(&w(frame.len() as u32));
        epb.extend_from_slice(&w(frame.len() as u32));
        epb.extend_from_slice(&frame);
        out.extend(block(6, &epb));
        match next() % 40 {
            0 => out.extend(block(4, &[0; 4])),  // name resolution (empty)
            1 => out.extend(block(5, &[0; 12])), // interface statistics
            2 => out.extend(block(0x0bad, &[0, 0, 0x7e, 0x2a, 1])), // custom, copyable
            _ => {}
        }
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn pcapng_payloads_full_of_fake_blocks_do_not_fool_the_split() {
    check_generated("pcapng", |path, seed| {
        adversarial_pcapng(path, 400, seed * 104_729, seed % 2 == 0)
    });
    let dir = std::env::temp_dir().join(format!("pcapframe-parallel-large-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fake-large.pcapng");
    adversarial_pcapng(&path, 12_000, 99, false);
    assert!(std::fs::metadata(&path).unwrap().len() > 3 << 20);
    check(&path, &[700_001, 1_500_000]);
    std::fs::remove_dir_all(dir).unwrap();
}

mod any_size {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Any capture of fake-laden packets, in either format, cut at any range size.
        #[test]
        fn partitions_concatenate_to_the_sequential_read(
            seed in 1u64..u64::MAX,
            packets in 1usize..300,
            block in 16u64..60_000,
            pcapng in any::<bool>(),
            big_endian in any::<bool>(),
        ) {
            let dir = std::env::temp_dir().join(format!("pcapframe-prop-{}-{seed}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(if pcapng { "f.pcapng" } else { "f.pcap" });
            if pcapng {
                adversarial_pcapng(&path, packets, seed, big_endian);
            } else {
                adversarial_capture(&path, packets, seed);
            }
            check(&path, &[block]);
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}

/// Rows of a projection as text: each column's value (dictionaries looked up), whatever
/// the batch boundaries.
fn projected_rows(batches: &[RecordBatch]) -> Vec<String> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{
        Int16Type, Int32Type, TimestampNanosecondType, UInt16Type, UInt32Type, UInt8Type,
    };
    use arrow_array::Array;
    use arrow_schema::DataType;
    let mut out = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(i) {
                        return "-".to_string();
                    }
                    match c.data_type() {
                        DataType::UInt8 => c.as_primitive::<UInt8Type>().value(i).to_string(),
                        DataType::UInt16 => c.as_primitive::<UInt16Type>().value(i).to_string(),
                        DataType::UInt32 => c.as_primitive::<UInt32Type>().value(i).to_string(),
                        DataType::Boolean => c.as_boolean().value(i).to_string(),
                        DataType::Timestamp(..) => c
                            .as_primitive::<TimestampNanosecondType>()
                            .value(i)
                            .to_string(),
                        DataType::LargeBinary => format!("{:?}", c.as_binary::<i64>().value(i)),
                        DataType::Dictionary(k, _) if **k == DataType::Int16 => {
                            let d = c.as_dictionary::<Int16Type>();
                            d.values()
                                .as_string::<i32>()
                                .value(d.keys().value(i) as usize)
                                .to_string()
                        }
                        DataType::Dictionary(..) => {
                            let d = c.as_dictionary::<Int32Type>();
                            d.values()
                                .as_string::<i32>()
                                .value(d.keys().value(i) as usize)
                                .to_string()
                        }
                        other => panic!("unexpected column type {other}"),
                    }
                })
                .collect();
            out.push(cells.join(" "));
        }
    }
    out
}

#[test]
fn a_projection_reads_the_same_in_ranges_and_equals_those_columns_of_the_full_read() {
    use pcapframe::column::Column;
    let picked = vec![
        Column::Length,
        Column::TcpFlags,
        Column::SrcMac,
        Column::Time,
        Column::IpId,
        Column::DstPort,
    ];
    let projected = ReadOptions {
        columns: Some(picked.clone()),
        payload: false,
        ..options()
    };
    let all = ReadOptions {
        columns: Some(Column::ALL.to_vec()),
        ..options()
    };
    let mut checked = 0;
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("pcap") {
            continue;
        }
        let whole = read_file(&path, &projected, 1).unwrap();
        assert!(whole
            .batches
            .iter()
            .all(|b| b.num_columns() == picked.len()));
        let want = projected_rows(&whole.batches);
        // The same columns taken out of a read of every column.
        let full = read_file(&path, &all, 1).unwrap();
        let taken: Vec<RecordBatch> = full
            .batches
            .iter()
            .map(|b| {
                let indices: Vec<usize> = picked
                    .iter()
                    .map(|c| Column::ALL.iter().position(|a| a == c).unwrap())
                    .collect();
                b.project(&indices).unwrap()
            })
            .collect();
        assert_eq!(projected_rows(&taken), want, "{}", path.display());
        for size in [64, 4096] {
            let split = read_file_in_ranges(&path, &projected, 3, size).unwrap();
            assert_eq!(
                projected_rows(&split.batches),
                want,
                "{} in ranges of {size}",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 25);
}

/// A header read 4 bytes late (microseconds as seconds, lengths as lengths) chains through
/// every record of a capture whose frames start with suitable bytes. Ranges whose look-back
/// window starts exactly there must still find the real records (found with a 36 MB file of
/// a corpus capture repeated, cut into 64 KiB partitions).
#[test]
fn a_chain_of_headers_read_four_bytes_late_is_not_believed() {
    let original = std::fs::read(corpus_dir().join("pcap_le_usec_ether_http.pcap")).unwrap();
    let mut bytes = original[..24].to_vec();
    for _ in 0..200 {
        bytes.extend_from_slice(&original[24..]);
    }
    let dir = std::env::temp_dir().join(format!("pcapframe-late-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("repeated.pcap");
    std::fs::write(&path, &bytes).unwrap();
    // Real record boundaries.
    let mut real = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        real.push(at as u64);
        at += 16 + u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
    }
    const LOOKBACK: u64 = 1 << 20; // the reader's look-back window
    let mut cuts: Vec<u64> = real
        .iter()
        .step_by(97)
        .map(|r| r + 4 + LOOKBACK)
        .filter(|&c| c < bytes.len() as u64)
        .collect();
    cuts.insert(0, 0);
    cuts.push(bytes.len() as u64);
    let want = rows(&read_file(&path, &options(), 1).unwrap().batches);
    let mut got = Vec::new();
    for pair in cuts.windows(2) {
        got.extend(rows(
            &read_byte_range(&path, &options(), pair[0], pair[1])
                .unwrap()
                .batches,
        ));
    }
    assert_eq!(got.len(), want.len());
    assert!(got == want);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn files_that_cannot_be_split_say_why() {
    use pcapframe::parallel::why_not_splittable;
    let corpus = corpus_dir();
    let sections = corpus.join("pcapng_le_3sections_ether_null_spb_custom.pcapng");
    assert!(why_not_splittable(&sections)
        .unwrap()
        .unwrap()
        .contains("several sections"));
    let late = corpus.join("pcapng_be_3ifaces_ether_null_isb_spb.pcapng");
    assert!(why_not_splittable(&late)
        .unwrap()
        .unwrap()
        .contains("interface described after its first packet"));
    let gz = corpus.join("pcap_gz_ether_http_download.pcap.gz");
    assert!(why_not_splittable(&gz)
        .unwrap()
        .unwrap()
        .contains("compressed"));
    for name in [
        "pcapng_real_mixed_traffic_nrb_isb.pcapng",
        "pcap_le_usec_ether_http.pcap",
    ] {
        assert_eq!(
            why_not_splittable(&corpus.join(name)).unwrap(),
            None,
            "{name}"
        );
    }
}
