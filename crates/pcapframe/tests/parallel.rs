//! Reading one file in byte ranges on several threads gives exactly the sequential read:
//! every corpus capture at many range sizes, and captures whose payloads are full of fake
//! record headers.

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use pcapframe::column::Column;
use pcapframe::error::ErrorKind;
use pcapframe::flow::{flows_batch, FlowReader, Timeouts};
use pcapframe::index::plan_partitions;
use pcapframe::parallel::{read_file, read_file_in_ranges, read_partition};
use pcapframe::reader::{Cancel, ReadOptions, TruncationPolicy};

fn corpus_dir() -> PathBuf {
    match std::env::var_os("INTAKE_PCAP_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    }
}

/// The documented six, the payload, and the columns that count records (`frame`), place
/// them in the file (`offset`) or hash the endpoints (`community_id`), which every reader
/// must agree on too.
fn options() -> ReadOptions {
    let mut columns = pcapframe::column::DEFAULT.to_vec();
    columns.extend([
        Column::Payload,
        Column::Frame,
        Column::Offset,
        Column::CommunityId,
    ]);
    ReadOptions {
        columns: Some(columns),
        payload: true,
        batch_rows: 1 << 40,
        errors: TruncationPolicy::Ignore,
        ..ReadOptions::default()
    }
}

/// Every column a reader builds from the packet alone (not the flow columns, which only
/// a whole read in order gives).
fn per_packet_columns() -> Vec<Column> {
    Column::ALL
        .into_iter()
        .filter(|c| c.def().needs != pcapframe::column::Needs::Flows)
        .collect()
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
    // The record's ordinal and Community ID, when read (`options()`).
    let frame = batch
        .column_by_name("frame")
        .map(|c| c.as_primitive::<arrow_array::types::UInt64Type>().clone());
    let community_id = batch
        .column_by_name("community_id")
        .map(|c| c.as_dictionary::<Int32Type>().clone());
    let offset = batch
        .column_by_name("offset")
        .map(|c| c.as_primitive::<arrow_array::types::UInt64Type>().clone());
    let text = |d: &arrow_array::DictionaryArray<Int32Type>, i: usize| {
        d.values()
            .as_string::<i32>()
            .value(d.keys().value(i) as usize)
            .to_string()
    };
    (0..batch.num_rows())
        .map(|i| {
            format!(
                "{:?} {:?} {:?} {:?} {} {:?} {} {:?} {} {:?}",
                frame.as_ref().map(|f| f.value(i)),
                offset.as_ref().map(|o| o.is_valid(i).then(|| o.value(i))),
                community_id.as_ref().map(|c| text(c, i)),
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
    // Independent byte ranges (dask partitions), each read on its own from the exact
    // boundaries of the file's record index. A pcapng file that describes a section or
    // interface after its first packet cannot be split, and the plan says so.
    let late = late_descriptions(path);
    let size = std::fs::metadata(path).unwrap().len();
    // Threaded ranges resynchronise over up to 1 MiB before each: bound the bytes scanned.
    let range_sizes: Vec<u64> = range_sizes
        .iter()
        .copied()
        .filter(|&b| size / b * size.min(2 << 20) <= 1 << 28)
        .collect();
    for &block in &range_sizes {
        let (stamp, plan) = plan_partitions(path, block, &Cancel::new()).unwrap();
        match plan {
            Ok(partitions) => {
                assert!(
                    late.is_empty(),
                    "{}: split despite late blocks at {late:?}",
                    path.display()
                );
                let mut got = Vec::new();
                for partition in &partitions {
                    got.extend(rows(
                        &read_partition(path, &options(), &stamp, partition)
                            .unwrap()
                            .batches,
                    ));
                }
                assert!(
                    got == want,
                    "{} in partitions of {block} bytes: rows differ ({} vs {})",
                    path.display(),
                    got.len(),
                    want.len()
                );
                // Partitions cover the file and are about `block` bytes (a record may be longer).
                // (Their `frames_before` is checked by the rows' `frame` above.)
                assert_eq!(partitions.last().unwrap().end, size);
                assert!(partitions
                    .windows(2)
                    .all(|w| w[0].end == w[1].start && w[0].start < w[0].end));
            }
            Err(why) => assert!(
                !late.is_empty()
                    && (why.contains("several sections") || why.contains("interface described")),
                "{}: not split: {why}",
                path.display()
            ),
        }
    }
    for &size in &range_sizes {
        // The streaming reader (`convert`, bounded memory), two ranges at a time.
        let (streamed, stats) = streamed_rows(path, &options(), size, rows);
        assert!(
            streamed == want,
            "{} streamed in ranges of {size} bytes",
            path.display()
        );
        assert_eq!(stats.packets, whole.stats.packets);
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
    // The flow table fed by threads decoding ranges: exactly the sequential table's flows,
    // at the smallest and the largest range size of a kilobyte or more (smaller ranges cost
    // a thread start and a resynchronisation each; the rows above are checked at them).
    let flows_of = |threads: usize, range: Option<u64>| {
        let options = ReadOptions {
            errors: TruncationPolicy::Ignore,
            ..ReadOptions::default()
        };
        let timeouts = Timeouts {
            idle_ns: Some(1_000_000_000),
            active_ns: Some(30_000_000_000),
        };
        let mut reader = FlowReader::open(&[path.to_path_buf()], options, timeouts)
            .unwrap()
            .with_threads(threads, range);
        let mut flows = Vec::new();
        while let Some(more) = reader.next_flows().unwrap() {
            flows.extend(more);
        }
        (flows_batch(&flows), reader.stats())
    };
    let (sequential, stats) = flows_of(1, None);
    let flow_sizes: Vec<u64> = range_sizes.iter().copied().filter(|&b| b >= 1000).collect();
    for &size in flow_sizes.first().into_iter().chain(flow_sizes.last()) {
        let (threaded, threaded_stats) = flows_of(3, Some(size));
        assert!(
            threaded == sequential,
            "{}: flows differ with ranges of {size} bytes",
            path.display()
        );
        assert_eq!(
            (
                threaded_stats.packets,
                threaded_stats.not_ip,
                &threaded_stats.truncated
            ),
            (stats.packets, stats.not_ip, &stats.truncated),
            "{}",
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

/// A flow read in id order (`FlowReader::in_id_order`) gives the flows of the read as they
/// end, sorted by id, sequentially and on threads; past its limit, the flows as they end.
#[test]
fn flows_in_id_order_are_the_flows_sorted() {
    let flows_of = |path: &Path, threads: usize, limit: Option<usize>| {
        let timeouts = Timeouts {
            idle_ns: Some(1_000_000_000),
            active_ns: Some(30_000_000_000),
        };
        let options = ReadOptions {
            errors: TruncationPolicy::Ignore,
            batch_rows: 7,
            ..ReadOptions::default()
        };
        let mut reader = FlowReader::open(&[path.to_path_buf()], options, timeouts)
            .unwrap()
            .with_threads(threads, Some(4096));
        if let Some(limit) = limit {
            reader = reader.in_id_order(limit);
        }
        let mut flows = Vec::new();
        while let Some(more) = reader.next_flows().unwrap() {
            flows.extend(more);
        }
        flows
    };
    let (mut reordered, mut files) = (0, 0);
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("pcap" | "pcapng")
        ) {
            continue;
        }
        let as_they_end = flows_of(&path, 1, None);
        let mut by_id = as_they_end.clone();
        by_id.sort_by_key(|f| f.id);
        reordered += (flows_batch(&by_id) != flows_batch(&as_they_end)) as usize;
        for threads in [1, 3] {
            let got = flows_of(&path, threads, Some(usize::MAX));
            assert!(
                flows_batch(&got) == flows_batch(&by_id),
                "{} on {threads} threads",
                path.display()
            );
        }
        if as_they_end.len() > 1 {
            let past_limit = flows_of(&path, 3, Some(as_they_end.len() - 1));
            assert!(
                flows_batch(&past_limit) == flows_batch(&as_they_end),
                "{} past the limit",
                path.display()
            );
        }
        files += 1;
    }
    // Files whose flows end out of id order, where the order is the sort's doing.
    assert!(
        files >= 41 && reordered >= 8,
        "{files} files, {reordered} reordered"
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

        /// Forged record chains (either byte order and precision) and valid records that
        /// plausibility tests reject, at any range size and thread count.
        #[test]
        fn forged_and_odd_captures_read_the_same_on_every_path(
            packets in 1usize..400,
            block in 20_000u64..200_000,
            threads in 2usize..5,
            kind in 0u8..5,
            big_endian in any::<bool>(),
            nanos in any::<bool>(),
        ) {
            let dir = std::env::temp_dir().join(format!("pcapframe-prop2-{}-{packets}-{block}-{kind}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("f.pcap");
            if kind == 0 {
                forged_capture(&path, packets, big_endian, nanos);
            } else {
                let records: Vec<_> = (0..packets)
                    .map(|i| {
                        let f = udp_from([10, 0, (i >> 8) as u8, i as u8], &vec![i as u8; 20 + i * 7 % 900]);
                        let len = f.len() as u32;
                        match kind {
                            1 => (1_000_000_000 + i as u32 * 100_003, 0, f, len),
                            2 => (1_700_000_000, 3, f, len.saturating_sub(1 + i as u32 % 30)),
                            3 => (1_700_000_000 + i as u32, 999_999_999 + i as u32, f, len),
                            _ => (i as u32 % 3 * 90_000, u32::MAX - i as u32, f, len),
                        }
                    })
                    .collect();
                pcap_file(&path, &records, big_endian, nanos, 65535);
            }
            let whole = rows(&read_file(&path, &options(), 1).unwrap().batches);
            check(&path, &[block]);
            let split = read_file_in_ranges(&path, &options(), threads, block).unwrap();
            prop_assert!(rows(&split.batches) == whole);
            if kind == 0 {
                prop_assert!(whole.iter().all(|r| !r.contains("6.6.6.6")));
            }
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
        columns: Some(per_packet_columns()),
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
                    .map(|c| per_packet_columns().iter().position(|a| a == c).unwrap())
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
    // The reader's look-back windows: the short one tried first, then the long one.
    const LOOKBACKS: [u64; 2] = [64 << 10, 1 << 20];
    let mut cuts: Vec<u64> = LOOKBACKS
        .iter()
        .flat_map(|lookback| real.iter().step_by(97).map(move |r| r + 4 + lookback))
        .filter(|&c| c < bytes.len() as u64)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts.insert(0, 0);
    cuts.push(bytes.len() as u64);
    let want = rows(&read_file(&path, &options(), 1).unwrap().batches);
    // The threaded reader's guesses at these cuts (each checked against the previous
    // range's true end, so a wrong guess costs time, not rows): the guess itself is right.
    let framing_guesses =
        pcapframe::parallel::guess_boundaries(&path, &cuts[1..cuts.len() - 1]).unwrap();
    for (cut, guess) in cuts[1..].iter().zip(framing_guesses) {
        let truth = *real.iter().find(|&&r| r >= *cut).unwrap();
        assert_eq!(guess, Some(truth), "cut at {cut}");
    }
    let split = read_file_in_ranges(&path, &options(), 2, 1 << 16).unwrap();
    assert!(rows(&split.batches) == want);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn files_that_cannot_be_split_say_why() {
    let corpus = corpus_dir();
    let why = |name: &str| {
        plan_partitions(&corpus.join(name), 1000, &Cancel::new())
            .unwrap()
            .1
            .err()
    };
    assert!(why("pcapng_le_3sections_ether_null_spb_custom.pcapng")
        .unwrap()
        .contains("several sections"));
    assert!(why("pcapng_be_3ifaces_ether_null_isb_spb.pcapng")
        .unwrap()
        .contains("interface described after its first packet"));
    assert!(why("pcap_gz_ether_http_download.pcap.gz")
        .unwrap()
        .contains("compressed"));
    for name in [
        "pcapng_real_mixed_traffic_nrb_isb.pcapng",
        "pcap_le_usec_ether_http.pcap",
    ] {
        assert_eq!(why(name), None, "{name}");
    }
}

/// A classic pcap file of `records` (seconds, fraction, captured bytes, wire length), in
/// either byte order, with microsecond or nanosecond times.
fn pcap_file(
    path: &Path,
    records: &[(u32, u32, Vec<u8>, u32)],
    big_endian: bool,
    nanos: bool,
    snaplen: u32,
) {
    let w = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = Vec::new();
    out.extend_from_slice(&w(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    let version = if big_endian {
        [0, 2, 0, 4]
    } else {
        [2, 0, 4, 0]
    };
    out.extend_from_slice(&version);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&w(snaplen));
    out.extend_from_slice(&w(1));
    for (secs, frac, data, wire_len) in records {
        out.extend_from_slice(&w(*secs));
        out.extend_from_slice(&w(*frac));
        out.extend_from_slice(&w(data.len() as u32));
        out.extend_from_slice(&w(*wire_len));
        out.extend_from_slice(data);
    }
    std::fs::write(path, out).unwrap();
}

/// Ethernet + IPv4 + UDP from `src` with `payload`.
fn udp_from(src: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8; 12];
    frame.extend_from_slice(&[0x08, 0x00]);
    let total = ((20 + 8 + payload.len()) as u16).to_be_bytes();
    frame.extend_from_slice(&[0x45, 0, total[0], total[1], 0, 0, 0, 0, 64, 17, 0, 0]);
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&[10, 9, 9, 9]);
    frame.extend_from_slice(&5353u16.to_be_bytes());
    frame.extend_from_slice(&53u16.to_be_bytes());
    frame.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(payload);
    frame
}

/// The attack of issue 9: every UDP payload from 10.0.0.1 carries a self-consistent chain of
/// fake records from 6.6.6.6 whose last record spans the next real header, so that the fake
/// chain runs in parallel with the real one through the whole file, with steady times.
fn forged_capture(path: &Path, packets: usize, big_endian: bool, nanos: bool) {
    const PAYLOAD: usize = 1000;
    const FAKE_FRAME: usize = 42 + 8;
    let w = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let records: Vec<(u32, u32, Vec<u8>, u32)> = (0..packets)
        .map(|i| {
            let secs = 1_700_000_000 + i as u32 / 10;
            let mut payload = Vec::with_capacity(PAYLOAD);
            while PAYLOAD - payload.len() >= 2 * (16 + FAKE_FRAME) {
                let fake = udp_from([6, 6, 6, 6], &[0x66; 8]);
                payload.extend_from_slice(&w(secs));
                payload.extend_from_slice(&w(1000));
                payload.extend_from_slice(&w(fake.len() as u32));
                payload.extend_from_slice(&w(fake.len() as u32));
                payload.extend_from_slice(&fake);
            }
            // The last fake record covers the rest of this payload, the next real record
            // header and the next frame's headers: it ends where the next payload's chain starts.
            let rest = PAYLOAD - payload.len() - 16;
            let caplen = (rest + 16 + 42) as u32;
            payload.extend_from_slice(&w(secs));
            payload.extend_from_slice(&w(2000));
            payload.extend_from_slice(&w(caplen));
            payload.extend_from_slice(&w(caplen));
            let fake = udp_from([6, 6, 6, 6], &vec![0x66; rest - 42]);
            payload.extend_from_slice(&fake);
            assert_eq!(payload.len(), PAYLOAD);
            let frame = udp_from([10, 0, 0, 1], &payload);
            let len = frame.len() as u32;
            (secs, (i % 10) as u32 * 1000, frame, len)
        })
        .collect();
    pcap_file(path, &records, big_endian, nanos, 65535);
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pcapframe-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn forged_record_chains_in_payloads_never_become_rows() {
    let dir = temp_dir("forged");
    for (big_endian, nanos) in [(false, false), (true, false), (false, true), (true, true)] {
        let path = dir.join(format!("forged-{big_endian}-{nanos}.pcap"));
        forged_capture(&path, 3000, big_endian, nanos);
        assert!(std::fs::metadata(&path).unwrap().len() > 3 << 20);
        let whole = rows(&read_file(&path, &options(), 1).unwrap().batches);
        assert_eq!(whole.len(), 3000);
        assert!(
            whole.iter().all(|r| r.contains(" 10.0.0.1 ")),
            "{}",
            whole[0]
        );
        check(&path, &[4096, 100_000, 1 << 20]);
        for threads in [2, 3] {
            let split = read_file_in_ranges(&path, &options(), threads, 150_000).unwrap();
            assert!(rows(&split.batches) == whole);
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Valid files that a plausibility test rejects: times jumping by days, captured lengths
/// above the wire length, microsecond fields of a second or more. Every path reads them
/// as the sequential reader does (which reads them as tshark does: tests/test_bad_input.py).
#[test]
fn valid_but_odd_records_read_the_same_in_every_partition() {
    let dir = temp_dir("odd");
    let frame = |i: usize| {
        udp_from(
            [10, 0, (i >> 8) as u8, i as u8],
            &vec![i as u8; 100 + i % 300],
        )
    };
    type Odd = fn(usize, Vec<u8>) -> (u32, u32, Vec<u8>, u32);
    let cases: [(&str, Odd); 3] = [
        ("jumps", |i, f| {
            let len = f.len() as u32;
            (1_000_000_000 + i as u32 * 200_000, 0, f, len)
        }),
        ("caplen-above-len", |i, f| {
            let len = f.len() as u32 - 4;
            (1_700_000_000 + i as u32, 5, f, len)
        }),
        ("big-fraction", |i, f| {
            let len = f.len() as u32;
            (1_700_000_000 + i as u32, 1_500_000 + i as u32, f, len)
        }),
    ];
    for (name, make) in cases {
        let path = dir.join(format!("{name}.pcap"));
        let records: Vec<_> = (0..6000).map(|i| make(i, frame(i))).collect();
        pcap_file(&path, &records, false, false, 65535);
        let whole = read_file(&path, &options(), 1).unwrap();
        assert_eq!(whole.stats.rows, 6000, "{name}");
        check(&path, &[50_000, 300_001]);
        let split = read_file_in_ranges(&path, &options(), 2, 200_000).unwrap();
        assert!(rows(&split.batches) == rows(&whole.batches), "{name}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Records of 16 MiB of zeros: every offset inside them parses as a zero-length record
/// header, so a resynchronisation that follows each candidate's chain afresh takes
/// quadratic time (346 s for 84 MB on two threads). Linear now; the bound is generous.
#[test]
fn zero_filled_giant_records_resynchronise_in_linear_time() {
    let dir = temp_dir("zeros");
    let path = dir.join("zeros.pcap");
    let mut records = Vec::new();
    for i in 0..5u32 {
        let small = udp_from([10, 0, 0, i as u8], &[1; 64]);
        let len = small.len() as u32;
        records.push((1_700_000_000 + i, 0, small, len));
        records.push((1_700_000_000 + i, 1, vec![0u8; 16 << 20], 16 << 20));
    }
    pcap_file(&path, &records, false, false, 16 << 20);
    let started = std::time::Instant::now();
    let whole = read_file(&path, &options(), 1).unwrap();
    let sequential = started.elapsed();
    assert_eq!(whole.stats.rows, 5);
    let started = std::time::Instant::now();
    let split = read_file_in_ranges(&path, &options(), 2, 4 << 20).unwrap();
    let threaded = started.elapsed();
    assert!(rows(&split.batches) == rows(&whole.batches));
    let mut streamed = Vec::new();
    pcapframe::parallel::read_file_streaming(&path, &options(), 2, |piece, _| {
        streamed.extend(rows(&piece.batches));
        Ok(())
    })
    .unwrap();
    assert!(streamed == rows(&whole.batches));
    // Generous: a debug build, while this binary's other tests load both cores, took 22 s
    // against 0.85 s sequential; the quadratic behaviour took 346 s in a release build.
    let threaded_limit = sequential * 30 + std::time::Duration::from_secs(60);
    assert!(
        threaded < threaded_limit,
        "threaded {threaded:?}, sequential {sequential:?}"
    );
    check(&path, &[4 << 20]);
    std::fs::remove_dir_all(dir).unwrap();
}

/// `packets` UDP packets of 200 bytes from 10.0.0.1, a second apart.
fn plain_udp_capture(path: &Path, packets: u32) {
    let records: Vec<_> = (0..packets)
        .map(|i| {
            let f = udp_from([10, 0, 0, 1], &[7; 200]);
            let len = f.len() as u32;
            (1_700_000_000 + i, 0, f, len)
        })
        .collect();
    pcap_file(path, &records, false, false, 65535);
}

#[test]
fn a_partition_of_a_changed_file_is_refused() {
    let dir = temp_dir("changed");
    let path = dir.join("changing.pcap");
    plain_udp_capture(&path, 2000u32);
    let (stamp, plan) = plan_partitions(&path, 100_000, &Cancel::new()).unwrap();
    let partitions = plan.unwrap();
    assert!(partitions.len() >= 4);
    let partition = partitions[1];
    read_partition(&path, &options(), &stamp, &partition).unwrap();
    // Appended to (a capture still being written): refused, not read from stale offsets.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_within(24..300);
    std::fs::write(&path, &bytes).unwrap();
    let e = read_partition(&path, &options(), &stamp, &partition)
        .err()
        .unwrap();
    assert_eq!(e.kind, ErrorKind::Changed);
    assert!(
        e.to_string()
            .contains("changed since its partitions were planned"),
        "{e}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_cancelled_read_stops_with_interrupted() {
    let dir = temp_dir("cancel");
    let path = dir.join("c.pcap");
    plain_udp_capture(&path, 5000u32);
    let cancelled = ReadOptions {
        cancel: Cancel::new(),
        ..options()
    };
    cancelled.cancel.cancel();
    for threads in [1, 2] {
        let e = read_file_in_ranges(&path, &cancelled, threads, 100_000)
            .err()
            .unwrap();
        assert_eq!(e.kind, ErrorKind::Interrupted);
    }
    let e = plan_partitions(&path, 100_000, &cancelled.cancel)
        .err()
        .unwrap();
    assert_eq!(e.kind, ErrorKind::Interrupted);
    std::fs::remove_dir_all(dir).unwrap();
}

/// The streaming reader's rows (`convert`, bounded memory), two ranges of `size` bytes at a
/// time, as `text` writes them, and its counters.
fn streamed_rows(
    path: &Path,
    options: &ReadOptions,
    size: u64,
    text: fn(&[RecordBatch]) -> Vec<String>,
) -> (Vec<String>, pcapframe::stats::ReadStats) {
    let mut streamed = Vec::new();
    let stats =
        pcapframe::parallel::read_file_streaming_in_ranges(path, options, 2, size, |piece, _| {
            streamed.extend(text(&piece.batches));
            Ok(())
        })
        .unwrap();
    (streamed, stats)
}

/// Rows as text by arrow's own formatter (lists and dictionaries included).
fn formatted_rows(batches: &[RecordBatch]) -> Vec<String> {
    use arrow_cast::display::{ArrayFormatter, FormatOptions};
    let mut out = Vec::new();
    for b in batches {
        let options = FormatOptions::default().with_null("-");
        let columns: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            let cells: Vec<String> = columns.iter().map(|f| f.value(i).to_string()).collect();
            out.push(cells.join(" | "));
        }
    }
    out
}

/// Every pcap and pcapng capture of both corpora.
fn both_corpora() -> Vec<PathBuf> {
    let corpus2 = corpus_dir().parent().unwrap().join("corpus2");
    let mut out = Vec::new();
    for dir in [corpus_dir(), corpus2] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            ) {
                out.push(path);
            }
        }
    }
    out
}

/// The range sizes the stream tests cut `path` into: 333 B, 4 KiB and 64 KiB, each only
/// where the ranges stay few enough to read in a test's time.
fn stream_range_sizes(path: &Path) -> Vec<u64> {
    let size = std::fs::metadata(path).unwrap().len();
    [333u64, 4096, 65_536]
        .into_iter()
        .filter(|block| size / block * size.min(2 << 20) <= 1 << 28)
        .collect()
}

/// Every flow column's value, the application ones included, of a flow read of `paths` on
/// `threads` threads (in ranges of `range` bytes), one sorted line a flow.
fn app_flow_rows(paths: &[PathBuf], threads: usize, range: Option<u64>) -> Vec<String> {
    use pcapframe::flow::{flow_columns, FlowColumns};
    let names: Vec<&str> = flow_columns().iter().map(|d| d.name).collect();
    let columns = FlowColumns::named(Some(&names)).unwrap();
    assert!(columns.app());
    let options = ReadOptions {
        errors: TruncationPolicy::Ignore,
        ..ReadOptions::default()
    };
    let mut reader = FlowReader::open(paths, options, Timeouts::default())
        .unwrap()
        .with_columns(columns)
        .unwrap()
        .with_threads(threads, range);
    let mut batches = Vec::new();
    while let Some(batch) = reader.next_batch().unwrap() {
        batches.push(batch);
    }
    let mut rows = formatted_rows(&batches);
    rows.sort();
    rows
}

/// The DNS, TLS and HTTP columns follow TCP streams across byte ranges: threads and the
/// streaming reader give the sequential rows on every capture of both corpora, ranges
/// whose connections the ranges before were reading replayed (or decoded again).
#[test]
fn stream_columns_read_the_same_in_ranges() {
    use std::sync::atomic::Ordering;
    let mut columns = vec![Column::Frame];
    columns.extend(
        Column::ALL
            .into_iter()
            .filter(|c| c.def().needs == pcapframe::column::Needs::Streams),
    );
    assert!(columns.len() > 20);
    let streams = ReadOptions {
        columns: Some(columns),
        payload: false,
        ..options()
    };
    let replayed_before = pcapframe::parallel::RANGES_REPLAYED.load(Ordering::Relaxed);
    let (mut files, mut values) = (0, 0);
    for path in both_corpora() {
        let Ok(whole) = read_file(&path, &streams, 1) else {
            continue; // a capture that cannot be read is another test's business
        };
        let want = formatted_rows(&whole.batches);
        values += want
            .iter()
            .filter(|r| r.split(" | ").skip(1).any(|c| c != "-"))
            .count();
        for block in stream_range_sizes(&path) {
            let split = read_file_in_ranges(&path, &streams, 3, block).unwrap();
            assert!(
                formatted_rows(&split.batches) == want,
                "{} in ranges of {block} bytes",
                path.display()
            );
            let (streamed, _) = streamed_rows(&path, &streams, block, formatted_rows);
            assert!(
                streamed == want,
                "{} streamed in ranges of {block} bytes",
                path.display()
            );
        }
        files += 1;
    }
    let replayed = pcapframe::parallel::RANGES_REPLAYED.load(Ordering::Relaxed) - replayed_before;
    eprintln!("{files} captures, {values} rows with a value, {replayed} ranges replayed");
    assert!(
        files > 140 && values > 1000 && replayed > 100,
        "{files} {values} {replayed}"
    );
}

/// The flow table's application columns follow TCP streams as the packet table's stream
/// columns do: decoded by threads in byte ranges (ranges replayed or decoded again where a
/// connection crosses them), the flows are the sequential read's on every capture of both
/// corpora.
#[test]
fn flow_application_columns_read_the_same_in_ranges() {
    use std::sync::atomic::Ordering;
    let replayed_before = pcapframe::parallel::RANGES_REPLAYED.load(Ordering::Relaxed);
    let (mut files, mut named) = (0, 0);
    for path in both_corpora() {
        if read_file(&path, &options(), 1).is_err() {
            continue;
        }
        let one = std::slice::from_ref(&path);
        let want = app_flow_rows(one, 1, None);
        // The application is the fifth column from the end.
        named += want
            .iter()
            .filter(|r| r.rsplit(" | ").nth(4) != Some("-"))
            .count();
        for block in stream_range_sizes(&path) {
            assert!(
                app_flow_rows(one, 3, Some(block)) == want,
                "{}: flows differ in ranges of {block} bytes",
                path.display()
            );
        }
        files += 1;
    }
    let replayed = pcapframe::parallel::RANGES_REPLAYED.load(Ordering::Relaxed) - replayed_before;
    eprintln!("{files} captures, {named} flows with an application, {replayed} ranges replayed");
    assert!(
        files > 140 && named > 100 && replayed > 20,
        "{files} {named} {replayed}"
    );
}

/// A capture cut into two files between an HTTP connection's handshake and its request: a
/// flow read of both follows each file's TCP streams from its start on one thread as on
/// several (the request in the second file is not read), and the flow itself goes on.
#[test]
fn flow_application_columns_follow_streams_within_each_file() {
    let bytes = std::fs::read(corpus_dir().join("pcap_le_usec_ether_http.pcap")).unwrap();
    // Records: a 24-byte file header, then 16-byte record headers (little-endian lengths).
    let mut records = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        records.push(at..at + 16 + len);
        at += 16 + len;
    }
    let dir = temp_dir("flow-app-files");
    let (first, second) = (dir.join("a.pcap"), dir.join("b.pcap"));
    for (path, part) in [(&first, &records[..3]), (&second, &records[3..])] {
        let mut out = bytes[..24].to_vec();
        for r in part {
            out.extend_from_slice(&bytes[r.clone()]);
        }
        std::fs::write(path, out).unwrap();
    }
    let flows_of = |paths: &[PathBuf], threads: usize| app_flow_rows(paths, threads, Some(1000));
    let both = [first.clone(), second.clone()];
    let one_thread = flows_of(&both, 1);
    assert!(one_thread == flows_of(&both, 3));
    let whole = flows_of(&[corpus_dir().join("pcap_le_usec_ether_http.pcap")], 1);
    // The web flow: one flow across the files, its request (frame 4) unread after the cut.
    let web = |rows: &[String]| rows.iter().find(|r| r.starts_with("1 |")).cloned().unwrap();
    assert!(
        web(&whole).contains("| http | www.ethereal.com |"),
        "{}",
        web(&whole)
    );
    assert!(
        !web(&one_thread).contains("www.ethereal.com"),
        "{}",
        web(&one_thread)
    );
    assert_eq!(
        one_thread.len(),
        whole.len(),
        "the flows go on across the files"
    );
    std::fs::remove_dir_all(&dir).ok();
}
