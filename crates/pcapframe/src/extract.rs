//! Packets back out as a capture: the records a selection keeps, as the files hold them.
//!
//! pcapng out: one little-endian section, whatever the inputs (libpcap reads a later
//! section only in the first one's byte order, and tshark 4.0 gives the packets of a later
//! section the interfaces of the first). Its header is the first input's (the length set to
//! "unknown"); every input section's interface descriptions (names, link types, time
//! resolutions and offsets, every option), name resolution and decryption secrets follow in
//! order, and the kept packet blocks are copied as they are: the same block type, timestamp
//! units, lengths, bytes and options, the interface number moved past the interfaces of the
//! sections before. Little-endian blocks are copied byte for byte; big-endian ones are
//! rewritten field by field, and options whose layout is not known are left out (their byte
//! order cannot be known). Interface statistics are left out (they count packets that are
//! not there), and so are blocks the specification says not to copy and blocks of unknown
//! types. A classic pcap file becomes one interface of its link type, snap length and
//! resolution (microseconds or nanoseconds). A simple packet block names no interface (it
//! is the section's first): one after the first input section is refused.
//!
//! pcap out: when every input is classic pcap with one header layout (byte order,
//! resolution, link type), the first file's header and the records are copied byte for
//! byte. Otherwise the records are written with nanosecond times (a pcapng resolution
//! finer than that is cut to the nanosecond, as Wireshark shows it), and every packet must
//! have one link type, which classic pcap holds once per file.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::format::pcapng::{BYTE_ORDER_MAGIC, EPB, IDB, PB, SHB};
use crate::format::{Item, Record, RecordReader};
use crate::options::{Cancel, ReadOptions, TruncationPolicy};
use crate::output::FileOut;
use crate::select::{PacketSelector, RecordFilter};

/// The capture formats written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    Pcapng,
    Pcap,
}

impl CaptureFormat {
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "pcapng" | "ntar" => Ok(CaptureFormat::Pcapng),
            "pcap" | "libpcap" => Ok(CaptureFormat::Pcap),
            other => Err(Error::invalid_argument(format!(
                "unknown capture format {other:?}: choose pcapng or pcap"
            ))),
        }
    }

    /// `.pcap` asks for classic pcap; anything else gets pcapng, which holds every input.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("pcap") => CaptureFormat::Pcap,
            _ => CaptureFormat::Pcapng,
        }
    }
}

/// Which records to keep: all of these that are given.
#[derive(Debug, Clone, Default)]
pub struct Keep {
    /// Packet numbers within each input (the `frame` column: 1 for the file's first packet
    /// record), sorted; `None` for every packet. One list per input.
    pub frames: Option<Vec<Vec<u64>>>,
    /// Byte offsets where packet records start in each input (the `offset` column),
    /// sorted; `None` for every packet. One list per input. An offset where no packet
    /// record starts is an error, never a silent miss.
    pub offsets: Option<Vec<Vec<u64>>>,
    /// Only packets with `start_ns <= time < end_ns`; a packet without a time (a pcapng
    /// simple packet block) is kept only when neither bound is given.
    pub start_ns: Option<i64>,
    pub end_ns: Option<i64>,
    /// The read options whose selection applies: `filter` (a tcpdump expression, on every
    /// record, IP or not, as `tcpdump -r IN -w OUT EXPR`) and `protocol` (only IP packets
    /// whose chain holds it, through tunnels with `decapsulate`).
    pub options: ReadOptions,
}

/// What an extraction did.
#[derive(Debug, Default)]
pub struct Extracted {
    /// Packets written.
    pub packets: u64,
    /// Packet records read.
    pub read: u64,
    /// Packet records jumped over unread: whole blocks of the file's seek index
    /// (`index::seek_index`) that hold nothing asked for.
    pub skipped: u64,
    /// Damage that ended an input early, every packet before it kept (with the policy
    /// `Raise`, damage is an error and nothing is written).
    pub damage: Vec<Error>,
}

/// Write the records of `inputs` that `keep` keeps to `out`, in input order.
pub fn extract(
    inputs: &[PathBuf],
    keep: &Keep,
    format: CaptureFormat,
    mut out: FileOut,
    cancel: &Cancel,
) -> Result<Extracted> {
    for lists in [&keep.frames, &keep.offsets].into_iter().flatten() {
        if lists.len() != inputs.len() {
            return Err(Error::invalid_argument(
                "one list of frames (or offsets) per input is needed",
            ));
        }
        // Walked in file order, and looked up by bisection to jump over blocks.
        if lists
            .iter()
            .any(|list| list.windows(2).any(|w| w[0] > w[1]))
        {
            return Err(Error::invalid_argument(
                "frames (and offsets) must be given in increasing order, one list per input",
            ));
        }
    }
    if let (Some(s), Some(e)) = (keep.start_ns, keep.end_ns) {
        if e < s {
            return Err(Error::invalid_argument(
                "the time range ends before it starts (end < start)",
            ));
        }
    }
    let mut filter = match &keep.options.filter {
        Some(expression) => Some(RecordFilter::new(expression)?),
        None => None,
    };
    let mut selector = match keep.options.protocol {
        Some(_) => Some(PacketSelector::new(&ReadOptions {
            filter: None,
            ..keep.options.clone()
        })?),
        None => None,
    };
    let mut writer = match format {
        CaptureFormat::Pcapng => Writer::Pcapng(Interfaces::default()),
        CaptureFormat::Pcap => Writer::Pcap(PcapOut::for_inputs(inputs)?),
    };
    // Checked above: `end < start` was refused.
    let range = crate::options::TimeRange::new(keep.start_ns, keep.end_ns)?;
    let range = range.as_ref();
    let mut done = Extracted::default();
    for (i, path) in inputs.iter().enumerate() {
        let frames = keep.frames.as_ref().map(|f| f[i].as_slice());
        let offsets = keep.offsets.as_ref().map(|f| f[i].as_slice());
        let mut next_offset = 0usize;
        let damage_before = done.damage.len();
        let seeks = frames.is_some() || offsets.is_some() || range.is_some();
        let index = match seeks {
            true => crate::index::seek_index(path, cancel)?,
            false => None,
        };
        let mut reader = match index {
            Some(index) => {
                let copies_blocks = matches!(writer, Writer::Pcapng(_));
                let skips = index.skips(|b| wanted_in(b, frames, offsets, range, copies_blocks));
                RecordReader::open_skipping(path, &index, skips)?
            }
            None => RecordReader::open(path)?,
        };
        let mut next_frame = 0usize;
        let mut number = 0u64;
        let mut section = Section::default();
        // A classic pcap file's times in the units of its interface in pcapng.
        let mut ns_per_unit = 1;
        if let (Writer::Pcapng(interfaces), Some(header)) = (&mut writer, reader.pcap_header()) {
            let (bytes, nanoseconds) = pcap_as_interface(&header);
            section.base = interfaces.start_section(&mut out, None)?;
            out.write_all(&bytes)?;
            interfaces.count += 1;
            ns_per_unit = if nanoseconds { 1 } else { 1000 };
        }
        loop {
            if number & 0xfff == 0 {
                cancel.check()?;
            }
            let passed = reader.jump_if_due()?;
            number += passed;
            done.skipped += passed;
            let item = match reader.next_item() {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(e) if e.kind == ErrorKind::Io || e.kind == ErrorKind::OutOfMemory => {
                    return Err(e)
                }
                // Damage ends this input: fail (nothing is written) or keep what came
                // before it, by the read's policy for damage.
                Err(e) if keep.options.errors == TruncationPolicy::Raise => return Err(e),
                Err(e) => {
                    done.damage.push(e);
                    break;
                }
            };
            let Some(record) = &item.record else {
                if let Writer::Pcapng(interfaces) = &mut writer {
                    section.metadata(&item, interfaces, &mut out)?;
                }
                continue;
            };
            number += 1;
            done.read += 1;
            if let Some(frames) = frames {
                while frames.get(next_frame).is_some_and(|&f| f < number) {
                    next_frame += 1;
                }
                if frames.get(next_frame) != Some(&number) {
                    if next_frame >= frames.len() {
                        break;
                    }
                    continue;
                }
                next_frame += 1;
            }
            if let Some(offsets) = offsets {
                match offsets.get(next_offset) {
                    None => break,
                    Some(&o) if o < record.offset => return Err(not_a_record_start(path, o)),
                    Some(&o) if o > record.offset => continue,
                    Some(_) => next_offset += 1,
                }
            }
            if range.is_some_and(|r| !r.contains(record.timestamp_ns)) {
                continue;
            }
            if let Some(f) = &mut filter {
                if !f.matches(record)? {
                    continue;
                }
            }
            if let Some(s) = &mut selector {
                if s.select(record)?.is_none() {
                    continue;
                }
            }
            match &mut writer {
                Writer::Pcapng(_) => match reader_kind(&item) {
                    Kind::PcapRecord => {
                        out.write_all(&pcap_record_as_epb(record, section.base, ns_per_unit))?
                    }
                    Kind::Block => out.write_all(&section.packet(&item, path, number)?)?,
                },
                Writer::Pcap(p) => p.write(&mut out, &item, record, path, number)?,
            }
            done.packets += 1;
        }
        // Frames in blocks jumped over (outside the time range) were passed, not missed.
        if let Some(frames) = frames {
            while frames.get(next_frame).is_some_and(|&f| f <= number) {
                next_frame += 1;
            }
        }
        // What was asked for and not found: an error, whatever the policy for damage.
        if let Some(&missing) = frames.and_then(|f| f.get(next_frame)) {
            return Err(Error::invalid_argument(format!(
                "there is no packet {missing}: the file holds {number} packet records{} \
                 (frame values start at 1, as the frame column gives them)",
                if done.damage.len() == damage_before {
                    ""
                } else {
                    " before its damage"
                }
            ))
            .in_file(path));
        }
        if let Some(&missing) = offsets.and_then(|f| f.get(next_offset)) {
            return Err(not_a_record_start(path, missing));
        }
    }
    match &mut writer {
        Writer::Pcap(p) => p.finish(&mut out)?,
        // An input damaged before its section header still gives a capture: an empty one.
        Writer::Pcapng(interfaces) => {
            interfaces.start_section(&mut out, None)?;
        }
    }
    out.finish()?;
    Ok(done)
}

/// Whether `block` must be read: it may hold a record that the lists (sorted) and the time
/// range keep, or, for a pcapng output, blocks other than packets (copied as they are).
fn wanted_in(
    block: &crate::index::Block,
    frames: Option<&[u64]>,
    offsets: Option<&[u64]>,
    range: Option<&crate::options::TimeRange>,
    copies_blocks: bool,
) -> bool {
    if copies_blocks && block.other_blocks {
        return true;
    }
    let first_frame = block.packets_before + 1;
    let frame_in = frames.is_none_or(|f| {
        let i = f.partition_point(|&n| n < first_frame);
        f.get(i).is_some_and(|&n| n < first_frame + block.packets)
    });
    // A block with an offset asked for is read whatever else is asked: an offset where
    // no record starts is an error, and only reading the block tells.
    if let Some(o) = offsets {
        let i = o.partition_point(|&x| x < block.start);
        return o.get(i).is_some_and(|&x| x < block.end);
    }
    frame_in && range.is_none_or(|r| block.meets(r))
}

/// A time as nanoseconds since 1970 (UTC): epoch seconds (`1700000000.5`, exact to the
/// nanosecond) or ISO 8601 (`2024-05-01T12:00:00.25Z`, `2024-05-01 12:00`; no zone or `Z`
/// is UTC, `+02:00` an offset).
pub fn parse_time(text: &str) -> Result<i64> {
    let bad = || {
        Error::invalid_argument(format!(
            "cannot read {text:?} as a time: give epoch seconds (1700000000.25) or ISO 8601 \
             (2024-05-01T12:00:00Z, 2024-05-01 12:00:00.5, +02:00 for an offset; UTC when none)"
        ))
    };
    let t = text.trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // Whole seconds and up to 9 digits of fraction, as integers: no float rounding.
    let seconds_and_fraction = |s: &str| -> Option<(i64, i64)> {
        let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
        if !digits(whole) || !(fraction.is_empty() || digits(fraction)) || fraction.len() > 9 {
            return None;
        }
        let ns = format!("{fraction:0<9}").parse::<i64>().ok()?;
        Some((whole.parse::<i64>().ok()?, ns))
    };
    if let Some((negative, rest)) = t
        .strip_prefix('-')
        .map(|r| (true, r))
        .or(Some((false, t)))
        .filter(|(_, r)| r.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
    {
        let (s, ns) = seconds_and_fraction(rest).ok_or_else(bad)?;
        let total = s
            .checked_mul(1_000_000_000)
            .and_then(|v| v.checked_add(ns))
            .ok_or_else(bad)?;
        return Ok(if negative { -total } else { total });
    }
    // ISO 8601: date, then time after 'T' or a space.
    let (date, time) = t.split_once(['T', ' ']).unwrap_or((t, "00:00"));
    let parts: Vec<&str> = date.split('-').collect();
    let [y, m, d] = parts[..] else {
        return Err(bad());
    };
    if !(digits(y) && y.len() == 4 && digits(m) && m.len() == 2 && digits(d) && d.len() == 2) {
        return Err(bad());
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().unwrap(), m.parse().unwrap(), d.parse().unwrap());
    let days_in_month = [
        31,
        28 + (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) as i64,
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month[(m - 1) as usize] {
        return Err(bad());
    }
    let (clock, offset_s) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0)
    } else if let Some(at) = time.rfind(['+', '-']) {
        let (c, zone) = time.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (hh, mm) = zone[1..].split_once(':').unwrap_or((&zone[1..], "00"));
        if !(digits(hh) && hh.len() == 2 && digits(mm) && mm.len() == 2) {
            return Err(bad());
        }
        (
            c,
            sign * (hh.parse::<i64>().unwrap() * 3600 + mm.parse::<i64>().unwrap() * 60),
        )
    } else {
        (time, 0)
    };
    let fields: Vec<&str> = clock.split(':').collect();
    let (hh, mm, ss) = match fields[..] {
        [h, m] => (h, m, "0"),
        [h, m, s] => (h, m, s),
        _ => return Err(bad()),
    };
    if !(digits(hh) && hh.len() == 2 && digits(mm) && mm.len() == 2) {
        return Err(bad());
    }
    let (hh, mm): (i64, i64) = (hh.parse().unwrap(), mm.parse().unwrap());
    let (s, ns) = seconds_and_fraction(ss).ok_or_else(bad)?;
    if hh > 23 || mm > 59 || s > 60 {
        return Err(bad());
    }
    // Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let (yy, mo) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mo + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hh * 3600 + mm * 60 + s - offset_s;
    Ok(seconds * 1_000_000_000 + ns)
}

fn not_a_record_start(path: &Path, offset: u64) -> Error {
    Error::invalid_argument(format!(
        "no packet record starts at byte offset {offset} (give values of the offset column, \
         of this file)"
    ))
    .in_file(path)
}

/// One packet record, found by where it starts in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketAt {
    pub data: Vec<u8>,
    pub timestamp_ns: Option<i64>,
    pub wire_len: u32,
    pub link_type: u32,
    pub interface: u32,
}

/// The packet record that starts at byte `offset` of `path` (a value of the `offset`
/// column). Only a true record boundary is accepted: the records are walked from an exact
/// one before it (the file's index, built once by a walk of the file; the start of a
/// compressed file), so bytes inside a payload that look like a record are never taken
/// for one.
pub fn packet_at(path: &Path, offset: u64) -> Result<PacketAt> {
    let (mut records, base) = crate::parallel::records_from_before(path, offset)?;
    let mut before = None;
    loop {
        let record = match records.next_record()? {
            Some(r) => r,
            None => {
                return Err(Error::invalid_argument(format!(
                    "no packet record starts at byte offset {offset}: the last one starts at {} \
                     (give a value of the offset column)",
                    before.map_or("none".to_string(), |b: u64| b.to_string())
                ))
                .in_file(path))
            }
        };
        let at = base + record.offset;
        if at == offset {
            return Ok(PacketAt {
                data: record.data.to_vec(),
                timestamp_ns: record.timestamp_ns,
                wire_len: record.wire_len,
                link_type: record.link_type,
                interface: record.interface,
            });
        }
        if at > offset {
            return Err(Error::invalid_argument(format!(
                "no packet record starts at byte offset {offset}: the records around it start at \
                 {} and {at} (give a value of the offset column)",
                before.map_or("the file's start".to_string(), |b: u64| b.to_string())
            ))
            .in_file(path));
        }
        before = Some(at);
    }
}

enum Writer {
    Pcapng(Interfaces),
    Pcap(PcapOut),
}

/// The output section: whether its header is written, and the interfaces it describes.
#[derive(Default)]
struct Interfaces {
    started: bool,
    count: u32,
}

impl Interfaces {
    /// An input section begins: the output's section header if none is written yet (the
    /// given one, else ours); returns the output number of the input's interface 0.
    fn start_section(&mut self, out: &mut FileOut, header: Option<&[u8]>) -> Result<u32> {
        if !self.started {
            match header {
                Some(h) => out.write_all(h)?,
                None => {
                    let mut options = Vec::new();
                    option(&mut options, 4, b"intake-pcap"); // shb_userappl
                    option(&mut options, 0, &[]);
                    out.write_all(&section_header(&options))?;
                }
            }
            self.started = true;
        }
        Ok(self.count)
    }
}

enum Kind {
    PcapRecord,
    Block,
}

fn reader_kind(item: &Item<'_>) -> Kind {
    if item.block_type == 0 {
        Kind::PcapRecord
    } else {
        Kind::Block
    }
}

// -- pcap out -----------------------------------------------------------------------------

struct PcapOut {
    /// The header every input shares, copied with its records; `None`: nanosecond records.
    shared: Option<[u8; 24]>,
    header_written: bool,
    /// The link type of every packet written as a nanosecond record.
    link_type: Option<u32>,
}

impl PcapOut {
    fn for_inputs(inputs: &[PathBuf]) -> Result<Self> {
        let headers = inputs
            .iter()
            .map(|p| Ok(RecordReader::open(p)?.pcap_header()))
            .collect::<Result<Vec<_>>>()?;
        // Magic (byte order, resolution, layout), version and link type alike; the snap
        // length may differ (the first file's is kept).
        let same = |a: &[u8; 24], b: &[u8; 24]| a[..8] == b[..8] && a[20..] == b[20..];
        let shared = match headers.first() {
            Some(Some(first)) if headers.iter().all(|h| h.is_some_and(|h| same(&h, first))) => {
                Some(*first)
            }
            _ => None,
        };
        Ok(PcapOut {
            shared,
            header_written: false,
            link_type: None,
        })
    }

    fn write(
        &mut self,
        out: &mut FileOut,
        item: &Item<'_>,
        record: &Record<'_>,
        path: &Path,
        number: u64,
    ) -> Result<()> {
        if !self.header_written {
            match self.shared {
                Some(header) => out.write_all(&header)?,
                None => out.write_all(&nanosecond_header(record.link_type))?,
            }
            self.header_written = true;
            self.link_type = Some(record.link_type);
        }
        if self.shared.is_some() {
            return out.write_all(item.bytes);
        }
        if let Some(l) = self.link_type.filter(|&l| l != record.link_type) {
            return Err(Error::invalid_argument(format!(
                "packet {number} of {} has link type {}, the packets before it {l}: a pcap \
                 file holds one link type; write pcapng (format=\"pcapng\", a .pcapng name) to \
                 keep them all",
                path.display(),
                record.link_type
            )));
        }
        let ns = record.timestamp_ns.unwrap_or(0);
        let Ok(secs) = u32::try_from(ns.div_euclid(1_000_000_000)) else {
            return Err(Error::invalid_argument(format!(
                "packet {number} of {} has a time ({ns} ns since 1970) that a pcap record cannot \
                 hold (1970 to 2106): write pcapng (format=\"pcapng\")",
                path.display()
            )));
        };
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&(ns.rem_euclid(1_000_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(record.data.len() as u32).to_le_bytes());
        h[12..16].copy_from_slice(&record.wire_len.to_le_bytes());
        out.write_all(&h)?;
        out.write_all(record.data)
    }

    /// A file without packets still gets its header.
    fn finish(&mut self, out: &mut FileOut) -> Result<()> {
        if !self.header_written {
            out.write_all(&self.shared.unwrap_or_else(|| nanosecond_header(1)))?;
            self.header_written = true;
        }
        Ok(())
    }
}

/// A little-endian nanosecond pcap header (magic a1b23c4d), snap length 262144 (tcpdump's).
fn nanosecond_header(link_type: u32) -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    h[16..20].copy_from_slice(&262_144u32.to_le_bytes());
    h[20..24].copy_from_slice(&link_type.to_le_bytes());
    h
}

// -- pcapng out ---------------------------------------------------------------------------

/// A pcapng block: type, total length, body padded to 4 bytes, total length.
fn block(block_type: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().div_ceil(4) * 4;
    let total = (12 + padded) as u32;
    let mut b = Vec::with_capacity(total as usize);
    b.extend_from_slice(&block_type.to_le_bytes());
    b.extend_from_slice(&total.to_le_bytes());
    b.extend_from_slice(body);
    b.resize(8 + padded, 0);
    b.extend_from_slice(&total.to_le_bytes());
    b
}

fn option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    out.resize(out.len().div_ceil(4) * 4, 0);
}

/// A section header block (version 1.0, length unknown) with `options` (already encoded).
fn section_header(options: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(16 + options.len());
    body.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&u64::MAX.to_le_bytes());
    body.extend_from_slice(options);
    block(SHB, &body)
}

/// The interface a classic pcap file becomes: its link type, snap length and resolution;
/// and whether that resolution is nanoseconds.
fn pcap_as_interface(header: &[u8; 24]) -> (Vec<u8>, bool) {
    let big = header[0] == 0xa1;
    let u32_at = |at: usize| {
        let b = [header[at], header[at + 1], header[at + 2], header[at + 3]];
        if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let nanoseconds = u32_at(0) == 0xa1b2_3c4d;
    let mut body = Vec::with_capacity(20);
    // The low 16 bits are the link type (the upper ones carry FCS information).
    body.extend_from_slice(&((u32_at(20) & 0xffff) as u16).to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&u32_at(16).to_le_bytes());
    if nanoseconds {
        option(&mut body, 9, &[9]); // if_tsresol: 10^-9
        option(&mut body, 0, &[]);
    }
    (block(IDB, &body), nanoseconds)
}

/// A classic pcap record as an enhanced packet block of interface 0, in the units of its
/// file's resolution (those of `pcap_as_section`'s interface): exact, since the reader made
/// the time from those units.
fn pcap_record_as_epb(record: &Record<'_>, interface: u32, ns_per_unit: i64) -> Vec<u8> {
    // A pcap record's time is from 1970 to 2106, never missing.
    let units = (record.timestamp_ns.unwrap_or(0) / ns_per_unit) as u64;
    let mut body = Vec::with_capacity(20 + record.data.len());
    body.extend_from_slice(&interface.to_le_bytes());
    body.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(units as u32).to_le_bytes());
    body.extend_from_slice(&(record.data.len() as u32).to_le_bytes());
    body.extend_from_slice(&record.wire_len.to_le_bytes());
    body.extend_from_slice(record.data);
    block(EPB, &body)
}

/// How one option's value is laid out, to rewrite a big-endian option little-endian.
#[derive(Clone, Copy)]
enum Value {
    Bytes,
    U32,
    U64,
    /// A custom option: a private enterprise number, then bytes.
    Custom,
    /// A verdict: a type byte, then 8 bytes in the section's order for eBPF verdicts.
    Verdict,
    Unknown,
}

fn custom(code: u16) -> bool {
    matches!(code, 2988 | 2989 | 19372 | 19373)
}

fn shb_value(code: u16) -> Value {
    match code {
        1..=4 => Value::Bytes,
        c if custom(c) => Value::Custom,
        _ => Value::Unknown,
    }
}

fn idb_value(code: u16) -> Value {
    match code {
        1..=7 | 9 | 11..=13 | 15 | 18 => Value::Bytes,
        8 | 14 | 16 | 17 => Value::U64,
        10 => Value::U32,
        c if custom(c) => Value::Custom,
        _ => Value::Unknown,
    }
}

fn epb_value(code: u16) -> Value {
    match code {
        1 | 3 => Value::Bytes,
        2 | 6 => Value::U32,
        4 | 5 => Value::U64,
        7 => Value::Verdict,
        c if custom(c) => Value::Custom,
        _ => Value::Unknown,
    }
}

fn bytes_value(code: u16) -> Value {
    match code {
        c if custom(c) => Value::Custom,
        _ => Value::Bytes,
    }
}

/// Big-endian options rewritten little-endian; options of unknown layout are left out,
/// and a malformed list ends where it stops making sense (as readers end it).
fn options_le(options: &[u8], value: fn(u16) -> Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(options.len() + 4);
    let mut at = 0;
    while at + 4 <= options.len() {
        let code = u16::from_be_bytes([options[at], options[at + 1]]);
        let len = u16::from_be_bytes([options[at + 2], options[at + 3]]) as usize;
        if code == 0 {
            break;
        }
        let Some(v) = options.get(at + 4..at + 4 + len) else {
            break;
        };
        let mut v = v.to_vec();
        let keep = match (value(code), len) {
            (Value::Bytes, _) => true,
            (Value::U32, 4) | (Value::Custom, 4..) => {
                v[..4].reverse();
                true
            }
            (Value::U64, 8) => {
                v.reverse();
                true
            }
            (Value::Verdict, 9) if matches!(v[0], 2 | 3) => {
                v[1..].reverse();
                true
            }
            (Value::Verdict, _) => v.first() == Some(&1),
            _ => false,
        };
        if keep {
            option(&mut out, code, &v);
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    if !out.is_empty() {
        option(&mut out, 0, &[]);
    }
    out
}

/// The state of the input section being copied.
#[derive(Default)]
struct Section {
    big_endian: bool,
    /// The output number of its interface 0.
    base: u32,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

impl Section {
    /// A block without a packet: written as the output holds it, or left out.
    fn metadata(
        &mut self,
        item: &Item<'_>,
        interfaces: &mut Interfaces,
        out: &mut FileOut,
    ) -> Result<()> {
        if item.block_type == SHB {
            self.big_endian = item.big_endian;
            let body = &item.bytes[8..item.bytes.len() - 4];
            let options = &body[16..];
            let header = if self.big_endian {
                section_header(&options_le(options, shb_value))
            } else {
                section_header(options)
            };
            self.base = interfaces.start_section(out, Some(&header))?;
            return Ok(());
        }
        if let Some(bytes) = self.convert(item) {
            out.write_all(&bytes)?;
            interfaces.count += (item.block_type == IDB) as u32;
        }
        Ok(())
    }

    /// A block without a packet as the output holds it; `None` when it is left out.
    fn convert(&self, item: &Item<'_>) -> Option<Vec<u8>> {
        let bytes = item.bytes;
        let body = &bytes[8..bytes.len() - 4];
        if !self.big_endian {
            return match item.block_type {
                // Interfaces, name resolution, systemd journal entries, decryption secrets,
                // custom blocks that may be copied.
                IDB | 4 | 9 | 10 | 0x0000_0BAD => Some(bytes.to_vec()),
                _ => None,
            };
        }
        match item.block_type {
            IDB if body.len() >= 8 => {
                let mut b = Vec::with_capacity(body.len());
                b.extend_from_slice(&be16(body, 0).to_le_bytes());
                b.extend_from_slice(&be16(body, 2).to_le_bytes());
                b.extend_from_slice(&be32(body, 4).to_le_bytes());
                b.extend_from_slice(&options_le(&body[8..], idb_value));
                Some(block(IDB, &b))
            }
            4 => {
                // Name records: type, length, value padded; a type 0 record ends them.
                let mut b = Vec::with_capacity(body.len());
                let mut at = 0;
                loop {
                    if at + 4 > body.len() {
                        return None;
                    }
                    let (kind, len) = (be16(body, at), be16(body, at + 2) as usize);
                    let value = body.get(at + 4..at + 4 + len)?;
                    option(&mut b, kind, value);
                    at += 4 + len.div_ceil(4) * 4;
                    if kind == 0 {
                        break;
                    }
                }
                b.extend_from_slice(&options_le(&body[at.min(body.len())..], bytes_value));
                Some(block(4, &b))
            }
            9 => Some(block(9, body)),
            10 if body.len() >= 8 => {
                let len = be32(body, 4) as usize;
                let secrets = body.get(8..8 + len)?;
                let mut b = Vec::with_capacity(body.len());
                b.extend_from_slice(&be32(body, 0).to_le_bytes());
                b.extend_from_slice(&(len as u32).to_le_bytes());
                b.extend_from_slice(secrets);
                b.resize(b.len().div_ceil(4) * 4, 0);
                let rest = body.get(8 + len.div_ceil(4) * 4..).unwrap_or(&[]);
                b.extend_from_slice(&options_le(rest, bytes_value));
                Some(block(10, &b))
            }
            _ => None,
        }
    }

    /// A kept packet block, as the output holds it.
    fn packet<'a>(&self, item: &Item<'a>, path: &Path, number: u64) -> Result<Cow<'a, [u8]>> {
        let mut b = self.packet_as_is(item);
        if self.base == 0 {
            return Ok(b);
        }
        let b_mut = b.to_mut();
        // The interface number, past the interfaces of the sections before.
        match item.block_type {
            EPB => {
                let id = u32::from_le_bytes(b_mut[8..12].try_into().expect("a whole block"));
                b_mut[8..12].copy_from_slice(&(id + self.base).to_le_bytes());
            }
            PB => {
                let id = u16::from_le_bytes([b_mut[8], b_mut[9]]) as u32 + self.base;
                let Ok(id) = u16::try_from(id) else {
                    return Err(Error::invalid_argument(format!(
                        "packet {number} of {} is an obsolete packet block of interface {id} of \
                         the output, beyond the 65535 it can name: write the files one by one",
                        path.display()
                    )));
                };
                b_mut[8..10].copy_from_slice(&id.to_le_bytes());
            }
            _ => {
                return Err(Error::invalid_argument(format!(
                    "packet {number} of {} is a simple packet block, which belongs to the first \
                     interface of its section: it can be written only from the first file (or \
                     section) of a pcapng output; write this file first or on its own",
                    path.display()
                )))
            }
        }
        Ok(b)
    }

    /// Little-endian blocks as they are (no copy); big-endian ones rewritten.
    fn packet_as_is<'a>(&self, item: &Item<'a>) -> Cow<'a, [u8]> {
        let bytes = item.bytes;
        if !self.big_endian {
            return Cow::Borrowed(bytes);
        }
        let body = &bytes[8..bytes.len() - 4];
        let mut b = Vec::with_capacity(body.len());
        match item.block_type {
            EPB | PB => {
                // The reader checked the fixed fields and the captured length.
                let caplen = be32(body, 12) as usize;
                if item.block_type == EPB {
                    b.extend_from_slice(&be32(body, 0).to_le_bytes());
                } else {
                    b.extend_from_slice(&be16(body, 0).to_le_bytes());
                    b.extend_from_slice(&be16(body, 2).to_le_bytes());
                }
                for at in [4, 8, 12, 16] {
                    b.extend_from_slice(&be32(body, at).to_le_bytes());
                }
                b.extend_from_slice(&body[20..20 + caplen]);
                b.resize(b.len().div_ceil(4) * 4, 0);
                let options = body.get(20 + caplen.div_ceil(4) * 4..).unwrap_or(&[]);
                b.extend_from_slice(&options_le(options, epb_value));
            }
            // SPB: the original length, then the data.
            _ => {
                b.extend_from_slice(&be32(body, 0).to_le_bytes());
                b.extend_from_slice(&body[4..]);
            }
        }
        Cow::Owned(block(item.block_type, &b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::pcapng::SPB;

    /// A packet as a reader gives it: time, wire length, link type, interface, bytes.
    type Packet = (Option<i64>, u32, u32, u32, Vec<u8>);

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pcapframe-extract-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    /// Every packet of `path`: (time, wire length, link type, interface, bytes).
    fn packets(path: &Path) -> Vec<Packet> {
        let mut r = RecordReader::open(path).unwrap();
        let mut v = Vec::new();
        while let Some(p) = r.next_record().unwrap() {
            v.push((
                p.timestamp_ns,
                p.wire_len,
                p.link_type,
                p.interface,
                p.data.to_vec(),
            ));
        }
        v
    }

    fn run(inputs: &[PathBuf], keep: &Keep, format: CaptureFormat, out: &Path) -> Extracted {
        let file = FileOut::create(out, inputs).unwrap();
        extract(inputs, keep, format, file, &Cancel::default()).unwrap()
    }

    // A big-endian pcapng section: two interfaces (10^-9 and 2^-10 resolutions, a name and
    // an if_tsoffset), an enhanced packet with a flags option, an obsolete packet block,
    // interface statistics, a simple packet block can only come from interface 0.
    fn be_section() -> Vec<u8> {
        fn blk(t: u32, body: &[u8]) -> Vec<u8> {
            let total = (12 + body.len()) as u32;
            [
                &t.to_be_bytes()[..],
                &total.to_be_bytes(),
                body,
                &total.to_be_bytes(),
            ]
            .concat()
        }
        fn opt(code: u16, v: &[u8]) -> Vec<u8> {
            let mut o = [&code.to_be_bytes()[..], &(v.len() as u16).to_be_bytes(), v].concat();
            o.resize(o.len().div_ceil(4) * 4, 0);
            o
        }
        let shb = blk(
            SHB,
            &[
                &0x1a2b3c4du32.to_be_bytes()[..],
                &1u16.to_be_bytes(),
                &0u16.to_be_bytes(),
                &u64::MAX.to_be_bytes(),
                &opt(3, b"an os"),
                &opt(0, b""),
            ]
            .concat(),
        );
        let idb0 = blk(
            IDB,
            &[
                &1u16.to_be_bytes()[..],
                &0u16.to_be_bytes(),
                &65535u32.to_be_bytes(),
                &opt(2, b"eth-be"),
                &opt(9, &[9]),
                &opt(14, &100u64.to_be_bytes()),
                &opt(0, b""),
            ]
            .concat(),
        );
        let idb1 = blk(
            IDB,
            &[
                &101u16.to_be_bytes()[..],
                &0u16.to_be_bytes(),
                &0u32.to_be_bytes(),
                &opt(9, &[0x8a]),
                &opt(0, b""),
            ]
            .concat(),
        );
        let data = [
            0x45u8, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 9,
        ];
        let mut padded = data.to_vec();
        padded.resize(24, 0);
        let epb = blk(
            EPB,
            &[
                &1u32.to_be_bytes()[..],
                &7u32.to_be_bytes(),
                &123_456u32.to_be_bytes(),
                &(data.len() as u32).to_be_bytes(),
                &1000u32.to_be_bytes(),
                &padded,
                &opt(2, &0x11223344u32.to_be_bytes()),
                &opt(0, b""),
            ]
            .concat(),
        );
        let pb = blk(
            PB,
            &[
                &0u16.to_be_bytes()[..],
                &3u16.to_be_bytes(),
                &0u32.to_be_bytes(),
                &5_000_000_000u64.to_be_bytes()[4..],
                &(data.len() as u32).to_be_bytes(),
                &(data.len() as u32).to_be_bytes(),
                &padded,
            ]
            .concat(),
        );
        let isb = blk(
            5,
            &[
                &0u32.to_be_bytes()[..],
                &0u32.to_be_bytes(),
                &0u32.to_be_bytes(),
            ]
            .concat(),
        );
        let spb = blk(
            SPB,
            &[&(data.len() as u32).to_be_bytes()[..], &padded].concat(),
        );
        [shb, idb0, idb1, epb, isb, pb, spb].concat()
    }

    #[test]
    fn a_big_endian_section_is_rewritten_little_endian_with_the_same_packets() {
        let input = temp("be.pcapng");
        std::fs::write(&input, be_section()).unwrap();
        let source = packets(&input);
        assert_eq!(source.len(), 3);
        let out = temp("be-out.pcapng");
        let done = run(
            std::slice::from_ref(&input),
            &Keep::default(),
            CaptureFormat::Pcapng,
            &out,
        );
        assert_eq!((done.packets, done.read), (3, 3));
        assert_eq!(packets(&out), source);
        let bytes = std::fs::read(&out).unwrap();
        // Little-endian throughout; the statistics block is gone, the other blocks stay.
        assert_eq!(&bytes[8..12], &0x1a2b3c4du32.to_le_bytes());
        let mut at = 0;
        let mut types = Vec::new();
        while at < bytes.len() {
            types.push(u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()));
            at += u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        }
        assert_eq!(types, [SHB, IDB, IDB, EPB, PB, SPB]);
        // The interface name and the flags option come through, in little-endian order.
        let find = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(find(b"eth-be") && find(b"an os"));
        assert!(find(&[2, 0, 4, 0, 0x44, 0x33, 0x22, 0x11]));
        // A little-endian copy of that output is byte for byte the same.
        let again = temp("be-again.pcapng");
        run(
            std::slice::from_ref(&out),
            &Keep::default(),
            CaptureFormat::Pcapng,
            &again,
        );
        assert_eq!(std::fs::read(&again).unwrap(), bytes);
    }

    #[test]
    fn many_inputs_make_one_section_with_the_interfaces_numbered_on() {
        let input = temp("two.pcapng");
        std::fs::write(&input, be_section()).unwrap();
        let source = packets(&input);
        let out = temp("two-out.pcapng");
        let keep = Keep {
            frames: Some(vec![vec![1, 2, 3], vec![1, 2]]),
            ..Keep::default()
        };
        let inputs = [input.clone(), input.clone()];
        assert_eq!(run(&inputs, &keep, CaptureFormat::Pcapng, &out).packets, 5);
        let written = packets(&out);
        assert_eq!(written[..3], source[..]);
        // The second input's interfaces 1 and 0 are the output's 3 and 2.
        let moved = |p: &Packet, id| (p.0, p.1, p.2, id, p.4.clone());
        assert_eq!(written[3..], [moved(&source[0], 3), moved(&source[1], 2)]);
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(
            bytes.windows(4).filter(|w| *w == SHB.to_le_bytes()).count(),
            1
        );
        // Its simple packet block cannot name its interface there.
        let file = FileOut::create(&out, &[]).unwrap();
        let e = extract(
            &inputs,
            &Keep::default(),
            CaptureFormat::Pcapng,
            file,
            &Cancel::default(),
        )
        .unwrap_err();
        assert!(e.message.contains("simple packet block"), "{e}");
    }

    #[test]
    fn a_packet_is_found_only_where_its_record_starts() {
        let input = temp("at.pcapng");
        std::fs::write(&input, be_section()).unwrap();
        let mut r = RecordReader::open(&input).unwrap();
        let mut starts = Vec::new();
        while let Some(p) = r.next_record().unwrap() {
            starts.push((p.offset, p.data.to_vec()));
        }
        for (at, data) in &starts {
            assert_eq!(&packet_at(&input, *at).unwrap().data, data);
        }
        for wrong in [0, starts[0].0 + 4, starts[2].0 + 1, 1 << 40] {
            let e = packet_at(&input, wrong).unwrap_err();
            assert!(e.message.contains("no packet record starts"), "{e}");
        }
    }

    /// The packets a reader gives before the end or the first damage.
    fn packets_before_damage(path: &Path) -> Option<Vec<Packet>> {
        let mut r = RecordReader::open(path).ok()?;
        let mut v = Vec::new();
        while let Ok(Some(p)) = r.next_record() {
            v.push((
                p.timestamp_ns,
                p.wire_len,
                p.link_type,
                p.interface,
                p.data.to_vec(),
            ));
        }
        Some(v)
    }

    #[test]
    fn damaged_and_mutated_inputs_give_exactly_the_packets_before_the_damage() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        // A big-endian section, the same little-endian (our rewrite), and classic pcap.
        let be = be_section();
        let dir = temp("fuzz");
        std::fs::create_dir_all(&dir).unwrap();
        let (be_path, le_path) = (dir.join("be.pcapng"), dir.join("le.pcapng"));
        std::fs::write(&be_path, &be).unwrap();
        run(
            std::slice::from_ref(&be_path),
            &Keep::default(),
            CaptureFormat::Pcapng,
            &le_path,
        );
        let pcap_path = dir.join("in.pcap");
        let mut w = crate::writer::PcapWriter::create(&pcap_path, 1, 65535).unwrap();
        for i in 0..6u8 {
            w.write(Some(1_000_000_007 * i as i64), &[i; 60], 60 + i as u32)
                .unwrap();
        }
        w.finish().unwrap();
        let bases = [
            be,
            std::fs::read(&le_path).unwrap(),
            std::fs::read(&pcap_path).unwrap(),
        ];
        let keep = Keep {
            options: ReadOptions {
                errors: TruncationPolicy::Warn,
                ..ReadOptions::default()
            },
            ..Keep::default()
        };
        let (damaged, whole) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
        let mut runner = TestRunner::new(Config {
            cases: 600,
            failure_persistence: None,
            ..Config::default()
        });
        let strategy = (
            0..3usize,
            0..400usize,
            proptest::collection::vec((0..400usize, any::<u8>()), 0..6),
        );
        runner
            .run(&strategy, |(which, cut, flips)| {
                let mut bytes = bases[which].clone();
                for (at, value) in flips {
                    if at < bytes.len() {
                        bytes[at] = value;
                    }
                }
                bytes.truncate(cut.max(24).min(bytes.len()));
                let input = dir.join("mutated");
                let out = dir.join("out.pcapng");
                std::fs::write(&input, &bytes).unwrap();
                let Some(before) = packets_before_damage(&input) else {
                    return Ok(()); // not a capture at all: nothing to compare
                };
                let file = FileOut::create(&out, &[]).unwrap();
                let done = extract(
                    std::slice::from_ref(&input),
                    &keep,
                    CaptureFormat::Pcapng,
                    file,
                    &Cancel::default(),
                );
                let done = done.map_err(|e| TestCaseError::fail(format!("extract failed: {e}")))?;
                let counter = if done.damage.is_empty() {
                    &whole
                } else {
                    &damaged
                };
                counter.set(counter.get() + 1);
                prop_assert_eq!(done.packets as usize, before.len());
                prop_assert_eq!(packets_before_damage(&out).unwrap(), before);
                // Our own output is copied byte for byte.
                let again = dir.join("again.pcapng");
                run(
                    std::slice::from_ref(&out),
                    &Keep::default(),
                    CaptureFormat::Pcapng,
                    &again,
                );
                prop_assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(&out).unwrap());
                Ok(())
            })
            .unwrap();
        // Counted, so that the property cannot hold vacuously.
        let (damaged, whole) = (damaged.get(), whole.get());
        assert!(
            damaged > 50 && whole > 20,
            "damaged {damaged}, whole {whole}"
        );
    }

    #[test]
    fn offsets_pick_records_and_what_is_not_found_is_an_error() {
        let input = temp("offsets.pcapng");
        std::fs::write(&input, be_section()).unwrap();
        let source = packets(&input);
        let mut r = RecordReader::open(&input).unwrap();
        let mut starts = Vec::new();
        while let Some(p) = r.next_record().unwrap() {
            starts.push(p.offset);
        }
        let out = temp("offsets-out.pcapng");
        let keep = |offsets: Vec<u64>, frames: Option<Vec<u64>>| Keep {
            offsets: Some(vec![offsets]),
            frames: frames.map(|f| vec![f]),
            ..Keep::default()
        };
        let done = run(
            std::slice::from_ref(&input),
            &keep(vec![starts[0], starts[2]], None),
            CaptureFormat::Pcapng,
            &out,
        );
        assert_eq!(done.packets, 2);
        assert_eq!(packets(&out), [source[0].clone(), source[2].clone()]);
        for (offsets, frames, message) in [
            (
                vec![starts[0] + 4],
                None,
                "no packet record starts at byte offset",
            ),
            (
                vec![starts[2] + 1000],
                None,
                "no packet record starts at byte offset",
            ),
            (vec![], Some(vec![2, 4]), "there is no packet 4"),
        ] {
            let offsets = (!offsets.is_empty()).then(|| vec![offsets]);
            let frames = frames.map(|f: Vec<u64>| vec![f]);
            let keep = Keep {
                offsets,
                frames,
                ..Keep::default()
            };
            let file = FileOut::create(&out, &[]).unwrap();
            let e = extract(
                std::slice::from_ref(&input),
                &keep,
                CaptureFormat::Pcapng,
                file,
                &Cancel::default(),
            )
            .unwrap_err();
            assert!(e.message.contains(message), "{e}");
        }
    }

    #[test]
    fn times_parse_exactly() {
        assert_eq!(parse_time("0").unwrap(), 0);
        assert_eq!(
            parse_time("1700000000.123456789").unwrap(),
            1_700_000_000_123_456_789
        );
        assert_eq!(
            parse_time("1700000000.5").unwrap(),
            1_700_000_000_500_000_000
        );
        assert_eq!(parse_time("-1.5").unwrap(), -1_500_000_000);
        // date -u -d 2023-11-14T22:13:20Z +%s: 1700000000
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000_000_000
        );
        assert_eq!(
            parse_time("2023-11-14 22:13:20.25").unwrap(),
            1_700_000_000_250_000_000
        );
        assert_eq!(
            parse_time("2023-11-15T00:13:20+02:00").unwrap(),
            1_700_000_000_000_000_000
        );
        assert_eq!(
            parse_time("2023-11-14 22:13").unwrap(),
            1_699_999_980_000_000_000
        );
        assert_eq!(parse_time("2000-02-29").unwrap(), 951_782_400_000_000_000);
        for bad in [
            "",
            "1e9",
            "2023-02-29",
            "2023-11-14T25:00",
            "yesterday",
            "1.1234567891",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn frames_and_time_ranges_pick_records() {
        let input = temp("pick.pcapng");
        std::fs::write(&input, be_section()).unwrap();
        let source = packets(&input);
        let out = temp("pick-out.pcapng");
        let keep = Keep {
            frames: Some(vec![vec![2, 3]]),
            ..Keep::default()
        };
        assert_eq!(
            run(
                std::slice::from_ref(&input),
                &keep,
                CaptureFormat::Pcapng,
                &out
            )
            .packets,
            2
        );
        assert_eq!(packets(&out), source[1..]);
        // The simple packet block has no time: a range leaves it out.
        let t = source[1].0.unwrap();
        let keep = Keep {
            start_ns: Some(t),
            end_ns: Some(t + 1),
            ..Keep::default()
        };
        assert_eq!(
            run(
                std::slice::from_ref(&input),
                &keep,
                CaptureFormat::Pcapng,
                &out
            )
            .packets,
            1
        );
        assert_eq!(packets(&out), source[1..2]);
    }

    #[test]
    fn pcap_out_refuses_mixed_link_types_and_copies_a_shared_header() {
        let input = temp("mixed.pcapng");
        std::fs::write(&input, be_section()).unwrap();
        let out = temp("mixed.pcap");
        let file = FileOut::create(&out, &[]).unwrap();
        let e = extract(
            std::slice::from_ref(&input),
            &Keep::default(),
            CaptureFormat::Pcap,
            file,
            &Cancel::default(),
        )
        .unwrap_err();
        assert!(e.message.contains("one link type"), "{e}");
        assert!(!out.exists(), "nothing is left half-written");
        // One link type: nanosecond records, the same packets.
        let keep = Keep {
            frames: Some(vec![vec![2, 3]]),
            ..Keep::default()
        };
        run(
            std::slice::from_ref(&input),
            &keep,
            CaptureFormat::Pcap,
            &out,
        );
        let source = packets(&input);
        let written = packets(&out);
        assert_eq!(written[0], source[1]);
        // The simple packet block's missing time is written as 0.
        assert_eq!(written[1].0, Some(0));
        // A classic pcap input is copied byte for byte, header first.
        let again = temp("again.pcap");
        run(
            std::slice::from_ref(&out),
            &Keep::default(),
            CaptureFormat::Pcap,
            &again,
        );
        assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(&out).unwrap());
    }
}
