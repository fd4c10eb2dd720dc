//! The checks behind the fuzz targets, in a library so that the targets stay one line and
//! `examples/seed_corpus.rs` shares the link-type table.
//!
//! The rule being fuzzed: bad input gets an error with a byte offset, or a counted skip;
//! never a panic, a hang, nor an allocation sized by a length field (libFuzzer's
//! `-rss_limit_mb` and `-malloc_limit_mb` catch the last).

use std::io::{Cursor, Read};

use flate2::read::MultiGzDecoder;
use pcapframe::input::ByteWindow;
use pcapframe::link::{self, Link};
use pcapframe::{ip, PacketReader, ReadOptions, TruncationPolicy};

/// Link types `decode_packet` tries: every supported one, then some that are not.
pub const LINK_TYPES: [u32; link::SUPPORTED.len() + 4] = {
    let mut all = [0; link::SUPPORTED.len() + 4];
    all[0] = 2;
    all[1] = 147;
    all[2] = 0xffff;
    all[3] = u32::MAX;
    let mut i = 0;
    while i < link::SUPPORTED.len() {
        all[4 + i] = link::SUPPORTED[i];
        i += 1;
    }
    all
};

/// The whole read path. The input is the capture itself (real captures seed the corpus
/// as they are; gzip is unwrapped as `ByteWindow::open` does); its length picks the
/// window size, batch size, policy and filter, so that they vary between inputs.
pub fn read_capture(data: &[u8]) {
    let n = data.len();
    let window = 64 + (n * 7919) % 4096;
    let batch_rows = 1 + n % 97;
    let errors = match n % 3 {
        0 => TruncationPolicy::Raise,
        1 => TruncationPolicy::Warn,
        _ => TruncationPolicy::Ignore,
    };
    let gzip = data.starts_with(&[0x1f, 0x8b]);
    let source: Box<dyn Read + Send> = if gzip {
        Box::new(MultiGzDecoder::new(Cursor::new(data.to_vec())))
    } else {
        Box::new(Cursor::new(data.to_vec()))
    };
    let options = ReadOptions {
        payload: true,
        batch_rows,
        errors,
        protocol: (n % 5 == 0).then_some(6),
        ..ReadOptions::default()
    };
    let mut reader = match PacketReader::from_window(ByteWindow::with_capacity(source, window), options) {
        Ok(r) => r,
        Err(e) => {
            assert!(e.offset.is_some(), "error without an offset: {e:?}");
            return;
        }
    };
    let mut rows = 0u64;
    loop {
        match reader.next_batch() {
            Ok(Some(batch)) => {
                assert!(batch.num_rows() > 0 && batch.num_rows() <= batch_rows, "batch of {} rows", batch.num_rows());
                rows += batch.num_rows() as u64;
            }
            Ok(None) => break,
            Err(e) => {
                assert!(e.offset.is_some(), "error without an offset: {e:?}");
                break;
            }
        }
    }
    assert!(matches!(reader.next_batch(), Ok(None)), "the reader went on after its end");
    let stats = reader.stats();
    assert_eq!(stats.rows, rows);
    assert!(rows <= stats.packets);
    if !gzip {
        assert!(stats.packets as usize <= n / 12 + 1, "{} packets from {n} bytes", stats.packets);
    }
}

/// `link::decode` then `ip::decode` on one packet: first byte picks the link type (and,
/// when 128 or more, the next two a claimed wire length), the rest is the packet.
pub fn decode_packet(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else { return };
    let link_type = LINK_TYPES[selector as usize % LINK_TYPES.len()];
    let (wire_len, d) = match rest {
        [a, b, d @ ..] if selector >= 128 => (u16::from_be_bytes([*a, *b]) as u32, d),
        d => (d.len() as u32, d),
    };
    match link::decode(link_type, d) {
        Link::Unsupported => assert!(!link::is_supported(link_type)),
        Link::NotIp => assert!(link::is_supported(link_type)),
        Link::Ip(info) => {
            assert!(link::is_supported(link_type));
            if let Some(p) = ip::decode(d, &info, wire_len) {
                assert!(info.ip_offset < d.len());
                assert!(p.payload.start <= p.payload.end && p.payload.end <= d.len(), "payload {:?} of {}", p.payload, d.len());
                if p.src_port.is_some() {
                    assert!(p.transport_offset + 4 <= d.len());
                }
                // What the batch builder does with it.
                let _ = &d[p.payload.clone()];
                let _ = (p.src.to_string(), p.dst.to_string(), pcapframe::protocol::name(p.protocol));
            }
        }
    }
}
