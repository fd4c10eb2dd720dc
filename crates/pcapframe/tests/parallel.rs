//! Reading one file in byte ranges on several threads gives exactly the sequential read:
//! every corpus capture at many range sizes, and captures whose payloads are full of fake
//! record headers.

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use pcapframe::parallel::{read_byte_range, read_file, read_file_in_ranges};
use pcapframe::reader::{ReadOptions, TruncationPolicy};

fn corpus_dir() -> PathBuf {
    match std::env::var_os("INTAKE_PCAP_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    }
}

fn options() -> ReadOptions {
    ReadOptions { payload: true, batch_rows: 1 << 40, errors: TruncationPolicy::Ignore, ..ReadOptions::default() }
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
        d.values().as_string::<i32>().value(d.keys().value(i) as usize).to_string()
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
                proto.values().as_string::<i32>().value(proto.keys().value(i) as usize),
                payload.value(i),
            )
        })
        .collect()
}

fn check(path: &Path, range_sizes: &[u64]) {
    let whole = read_file(path, &options(), 1).unwrap();
    let want = rows(&whole.batches);
    // Independent byte ranges (dask partitions), each read on its own.
    let size = std::fs::metadata(path).unwrap().len();
    for &block in range_sizes {
        let mut got = Vec::new();
        let mut start = 0;
        while start < size {
            let end = (start + block).min(size);
            got.extend(rows(&read_byte_range(path, &options(), start, end).unwrap().batches));
            start = end;
        }
        assert!(got == want, "{} in partitions of {block} bytes: rows differ ({} vs {})", path.display(), got.len(), want.len());
    }
    for &size in range_sizes {
        let split = read_file_in_ranges(path, &options(), 3, size).unwrap();
        let got = rows(&split.batches);
        assert_eq!(got.len(), want.len(), "{} in ranges of {size} bytes", path.display());
        assert!(got == want, "{} in ranges of {size} bytes: rows differ", path.display());
        assert_eq!(split.stats.packets, whole.stats.packets, "{} {size}", path.display());
    }
}

#[test]
fn every_classic_pcap_in_the_corpus_reads_the_same_in_ranges() {
    let mut checked = 0;
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("pcap") {
            continue;
        }
        check(&path, &[3, 64, 333, 4096]);
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} pcap files");
}

/// A pcap whose payloads are copies of plausible record headers (with lengths that chain
/// to further fake headers), the worst case for resynchronisation.
fn adversarial_capture(path: &Path, packets: usize, seed: u64) {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    out.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0]);
    for i in 0..packets {
        // Ethernet + IPv4 + UDP header, then a payload made of fake record headers.
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        let payload_len = 16 + (next() % 600) as usize;
        let total = (20 + 8 + payload_len) as u16;
        frame.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0, 0, 64, 17, 0, 0]);
        frame.extend_from_slice(&[10, 0, (i >> 8) as u8, i as u8, 10, 1, 0, 1]);
        frame.extend_from_slice(&(1000 + i as u16).to_be_bytes());
        frame.extend_from_slice(&53u16.to_be_bytes());
        frame.extend_from_slice(&((8 + payload_len) as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
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

#[test]
fn payloads_full_of_fake_record_headers_do_not_fool_the_split() {
    let dir = std::env::temp_dir().join(format!("pcapframe-parallel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for seed in 1..=6u64 {
        let path = dir.join(format!("fake-{seed}.pcap"));
        adversarial_capture(&path, 400, seed * 7919);
        check(&path, &[13, 256, 1000, 20_000]);
    }
    std::fs::remove_dir_all(dir).unwrap();
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

/// Rows of a projection as text: each column's value (dictionaries looked up), whatever
/// the batch boundaries.
fn projected_rows(batches: &[RecordBatch]) -> Vec<String> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int16Type, Int32Type, TimestampNanosecondType, UInt16Type, UInt32Type, UInt8Type};
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
                        DataType::Timestamp(..) => c.as_primitive::<TimestampNanosecondType>().value(i).to_string(),
                        DataType::LargeBinary => format!("{:?}", c.as_binary::<i64>().value(i)),
                        DataType::Dictionary(k, _) if **k == DataType::Int16 => {
                            let d = c.as_dictionary::<Int16Type>();
                            d.values().as_string::<i32>().value(d.keys().value(i) as usize).to_string()
                        }
                        DataType::Dictionary(..) => {
                            let d = c.as_dictionary::<Int32Type>();
                            d.values().as_string::<i32>().value(d.keys().value(i) as usize).to_string()
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
    let picked = vec![Column::Length, Column::TcpFlags, Column::SrcMac, Column::Time, Column::IpId, Column::DstPort];
    let projected = ReadOptions { columns: Some(picked.clone()), payload: false, ..options() };
    let all = ReadOptions { columns: Some(Column::ALL.to_vec()), ..options() };
    let mut checked = 0;
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("pcap") {
            continue;
        }
        let whole = read_file(&path, &projected, 1).unwrap();
        assert!(whole.batches.iter().all(|b| b.num_columns() == picked.len()));
        let want = projected_rows(&whole.batches);
        // The same columns taken out of a read of every column.
        let full = read_file(&path, &all, 1).unwrap();
        let taken: Vec<RecordBatch> = full
            .batches
            .iter()
            .map(|b| {
                let indices: Vec<usize> =
                    picked.iter().map(|c| Column::ALL.iter().position(|a| a == c).unwrap()).collect();
                b.project(&indices).unwrap()
            })
            .collect();
        assert_eq!(projected_rows(&taken), want, "{}", path.display());
        for size in [64, 4096] {
            let split = read_file_in_ranges(&path, &projected, 3, size).unwrap();
            assert_eq!(projected_rows(&split.batches), want, "{} in ranges of {size}", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 25);
}
