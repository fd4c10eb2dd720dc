//! Exact partitions: one walk over a file's records notes where a record starts near every
//! `step` bytes, so that byte-range partitions begin on true record boundaries. Nothing is
//! guessed, so nothing a payload holds can move a partition's start: a chain of fake
//! record headers inside a UDP payload is just bytes of the record that holds it.
//!
//! The walk is the sequential reader's own framing (`RecordReader`), so it agrees with a
//! whole-file read on every boundary, on damage and on pcapng blocks; it reads the bytes
//! once, about the speed of `cat` (records are borrowed from the read window, not copied).
//! Indexes are kept per process, keyed by the file's identity (inode, size, modification
//! time), so a changed file is walked again; a large file's index is also saved on disk for
//! later processes (`index_cache_dir`).
//!
//! The same index is the *seek index*: each checkpoint notes the earliest and latest packet
//! time of its block (the records up to the next checkpoint), so that a read of a time range
//! jumps over the blocks whose times miss it (`RecordIndex::time_skips`), and an extraction
//! over the blocks without a frame or offset it wants. Block times make no assumption that
//! the file is sorted: a block is read whenever its own times meet the range.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, ErrorKind, Result};
use crate::format::RecordReader;
use crate::options::Cancel;

/// Farthest apart two checkpoints are: 200 GB of capture index in 200,000 entries (4.8 MB).
pub const MAX_STEP: u64 = 1 << 20;

/// Checkpoints of one index at most (about; 24 bytes each).
const MAX_CHECKPOINTS: u64 = 1 << 20;

/// Indexes kept per process (the most recently built).
const CACHED: usize = 16;

/// What identifies one version of a file: a file replaced, appended to or rewritten gets
/// another stamp (unless it keeps its inode, size and modification time to the
/// nanosecond). Not the device number, which differs between the machines of a dask
/// cluster that mount one network file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStamp {
    pub inode: u64,
    pub size: u64,
    pub modified_ns: i64,
}

impl FileStamp {
    pub fn of(path: &Path) -> Result<FileStamp> {
        let m = std::fs::metadata(path).map_err(|e| Error::io(e, None).in_file(path))?;
        Ok(FileStamp::of_metadata(&m))
    }

    /// The stamp of a file as `metadata` describes it (of a path, or of an open file).
    pub fn of_metadata(m: &std::fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            inode: m.ino(),
            size: m.size(),
            modified_ns: m
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec()),
        }
    }

    /// An error unless `path` still is the file this stamp was taken of.
    pub fn check(&self, path: &Path) -> Result<()> {
        if FileStamp::of(path)? == *self {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Changed,
            "the file changed since its partitions were planned (written to, replaced or touched): \
             open it again (or call discover() again) to plan partitions of what it holds now",
        )
        .in_file(path))
    }
}

/// A record boundary near a multiple of the step, and what the block of records from it
/// to the next checkpoint holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Where the record (or pcapng block) starts.
    pub offset: u64,
    /// Packet records before it.
    pub packets_before: u64,
    /// The earliest and latest packet times in its block (`i64::MAX`, `i64::MIN` when no
    /// packet of the block has a time): a time range that misses them misses the block.
    pub earliest_ns: i64,
    pub latest_ns: i64,
    /// Whether its block holds pcapng blocks other than packets (names, secrets,
    /// statistics), which a copy of the capture keeps.
    pub other_blocks: bool,
}

/// Record boundaries of one file: `checkpoints[j]` is the first record boundary at or
/// after `first + j * step` (the first one being the first record itself).
#[derive(Debug, Clone)]
pub struct RecordIndex {
    pub stamp: FileStamp,
    pub step: u64,
    pub checkpoints: Vec<Checkpoint>,
    /// Where the walk ended: the end of the file, or the damage that ends the records.
    pub end: u64,
    /// Packet records before `end`.
    pub packets: u64,
    /// Why the file cannot be read in independent ranges (checkpoints are then empty).
    pub not_splittable: Option<&'static str>,
}

impl RecordIndex {
    /// Walk `path`'s records once. Stops early, with `Interrupted`, when `cancel` is set.
    pub fn build(path: &Path, step: u64, cancel: &Cancel) -> Result<RecordIndex> {
        let stamp = FileStamp::of(path)?;
        let step = step_for(step, stamp.size);
        let unsplittable = |why| RecordIndex {
            stamp,
            step,
            checkpoints: Vec::new(),
            end: stamp.size,
            packets: 0,
            not_splittable: Some(why),
        };
        if is_compressed(path)? {
            return Ok(unsplittable(COMPRESSED));
        }
        let mut records = RecordReader::open(path)?;
        if records.pcap_format().is_none() {
            // pcapng: read (and freeze) what the blocks before the first packet describe; a
            // later section or interface block then stops the walk with `NotSplittable`.
            match records.pcapng_head() {
                Ok(_) => {}
                Err(e) if e.kind == ErrorKind::Io => return Err(e),
                Err(_) => return Ok(unsplittable(DAMAGED_HEAD)),
            }
        }
        let first = records.offset();
        let mut checkpoints: Vec<Checkpoint> = Vec::with_capacity((stamp.size / step) as usize + 1);
        let mut next_mark = first;
        let mut packets = 0u64;
        // Where the current block's checkpoints start in `checkpoints` (several marks may
        // share one boundary), and blocks other than packets met since the last packet.
        let mut block = 0usize;
        let mut others_ahead = false;
        // Where the record after the last packet starts: a checkpoint is put there, before
        // any blocks without packets that come first, as a reader's offset is there.
        let mut after_packet = first;
        let end = loop {
            cancel.check()?;
            match records.next_item() {
                Ok(Some(item)) => {
                    let Some(record) = item.record else {
                        others_ahead = true;
                        continue;
                    };
                    let at = after_packet;
                    if at >= next_mark {
                        block = checkpoints.len();
                        let point = Checkpoint {
                            offset: at,
                            packets_before: packets,
                            earliest_ns: i64::MAX,
                            latest_ns: i64::MIN,
                            other_blocks: false,
                        };
                        while next_mark <= at {
                            checkpoints.push(point);
                            next_mark += step;
                        }
                    }
                    for point in &mut checkpoints[block..] {
                        point.other_blocks |= others_ahead;
                        if let Some(t) = record.timestamp_ns {
                            point.earliest_ns = point.earliest_ns.min(t);
                            point.latest_ns = point.latest_ns.max(t);
                        }
                    }
                    others_ahead = false;
                    packets += 1;
                    after_packet = records.offset();
                }
                Ok(None) => break records.offset(),
                Err(e) if e.kind == ErrorKind::NotSplittable => {
                    return Ok(unsplittable(if e.message.contains("section") {
                        SEVERAL_SECTIONS
                    } else {
                        LATE_INTERFACE
                    }))
                }
                Err(e) if e.kind == ErrorKind::Io => return Err(e),
                // Damage ends the records here, for the sequential read as for this walk:
                // the partition that holds it reports it, as the sequential read would.
                Err(e) => break e.offset.unwrap_or(after_packet),
            }
        };
        for point in &mut checkpoints[block..] {
            point.other_blocks |= others_ahead;
        }
        Ok(RecordIndex {
            stamp,
            step,
            checkpoints,
            end,
            packets,
            not_splittable: None,
        })
    }

    /// Byte ranges of about `blocksize` bytes that start and end on record boundaries and
    /// together hold every record: `[start, end)` holds the records that start in it.
    pub fn partitions(&self, blocksize: u64) -> Vec<Partition> {
        let Some(&first) = self.checkpoints.first() else {
            // No packet record: one partition reads what there is (and reports damage).
            return vec![Partition {
                start: 0,
                end: self.stamp.size,
                frames_before: 0,
            }];
        };
        let blocksize = blocksize.max(1);
        let mut cuts = vec![first];
        let mut i = 1u64;
        loop {
            let j = (i * blocksize).div_ceil(self.step) as usize;
            match self.checkpoints.get(j) {
                Some(&point) if point.offset > cuts.last().map_or(0, |c| c.offset) => {
                    cuts.push(point)
                }
                Some(_) => {}
                None => break,
            }
            i += 1;
        }
        let ends = cuts
            .iter()
            .skip(1)
            .map(|c| c.offset)
            .chain([self.stamp.size]);
        cuts.iter()
            .zip(ends)
            .map(|(cut, end)| Partition {
                start: cut.offset,
                end,
                frames_before: cut.packets_before,
            })
            .collect()
    }
}

/// A run of whole blocks a reader jumps over (`RecordReader::open_skipping`): from the record
/// boundary `from` to the one at `to`, past `packets` packet records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skip {
    pub from: u64,
    pub to: u64,
    pub packets: u64,
}

/// The records of an index that start in `[start, end)`, and what the walk saw of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub start: u64,
    pub end: u64,
    pub packets_before: u64,
    pub packets: u64,
    /// Earliest and latest packet time (`i64::MAX`, `i64::MIN` when none has one).
    pub earliest_ns: i64,
    pub latest_ns: i64,
    /// pcapng blocks other than packets among them.
    pub other_blocks: bool,
}

impl Block {
    /// Whether a packet of the block may lie in `range`: its times meet it (packets without
    /// a time are in no range, as `TimeRange::contains` says).
    pub fn meets(&self, range: &crate::options::TimeRange) -> bool {
        self.earliest_ns <= self.latest_ns
            && range.start_ns.is_none_or(|s| self.latest_ns >= s)
            && range.end_ns.is_none_or(|e| self.earliest_ns < e)
    }
}

impl RecordIndex {
    /// The blocks between distinct checkpoints, the last one running to where the walk ended.
    pub fn blocks(&self) -> Vec<Block> {
        let mut points: Vec<&Checkpoint> = Vec::with_capacity(self.checkpoints.len());
        for point in &self.checkpoints {
            if points.last().is_none_or(|p| p.offset != point.offset) {
                points.push(point);
            }
        }
        let next = points
            .iter()
            .skip(1)
            .map(|p| (p.offset, p.packets_before))
            .chain([(self.end, self.packets)]);
        points
            .iter()
            .zip(next)
            .map(|(p, (end, packets_after))| Block {
                start: p.offset,
                end,
                packets_before: p.packets_before,
                packets: packets_after - p.packets_before,
                earliest_ns: p.earliest_ns,
                latest_ns: p.latest_ns,
                other_blocks: p.other_blocks,
            })
            .collect()
    }

    /// Jumps over the blocks that hold nothing `needed` wants, adjacent ones joined. The
    /// first block is always read (a reader from the file's start reads the pcapng blocks
    /// before the first packet with it, and only then stands on a boundary), and so is the
    /// last unless the walk ended cleanly at the file's end (damage is reported by the
    /// read that meets it, and what lies past it was not indexed). Nothing to jump over
    /// for a file that cannot be read in ranges.
    pub fn skips(&self, mut needed: impl FnMut(&Block) -> bool) -> Vec<Skip> {
        if self.not_splittable.is_some() {
            return Vec::new();
        }
        let blocks = self.blocks();
        let last = blocks.len().saturating_sub(1);
        let clean_end = self.end == self.stamp.size;
        let mut skips: Vec<Skip> = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            if i == 0 || (i == last && !clean_end) || needed(block) {
                continue;
            }
            match skips.last_mut() {
                Some(skip) if skip.to == block.start => {
                    skip.to = block.end;
                    skip.packets += block.packets;
                }
                _ => skips.push(Skip {
                    from: block.start,
                    to: block.end,
                    packets: block.packets,
                }),
            }
        }
        skips
    }

    /// Jumps over the blocks without a packet in `range`.
    pub fn time_skips(&self, range: &crate::options::TimeRange) -> Vec<Skip> {
        self.skips(|b| b.meets(range))
    }
}

/// Checkpoints about this far apart in the index that seeking uses (time ranges, frames,
/// offsets): a jump lands at most this many bytes before what it wants. 10 GB of capture
/// take 160,000 checkpoints (6.4 MB).
pub const SEEK_STEP: u64 = 64 << 10;

/// The index a reader of `path` seeks with, or `None` when the file cannot be read from a
/// boundary in its middle (not a regular file, compressed, several pcapng sections).
pub fn seek_index(path: &Path, cancel: &Cancel) -> Result<Option<Arc<RecordIndex>>> {
    let regular = std::fs::metadata(path)
        .map_err(|e| Error::io(e, None).in_file(path))?
        .is_file();
    if !regular || is_compressed(path)? {
        return Ok(None);
    }
    let index = index_of(path, SEEK_STEP, cancel)?;
    Ok(index.not_splittable.is_none().then_some(index))
}

const COMPRESSED: &str = "compressed: a byte range cannot be decompressed on its own";
const DAMAGED_HEAD: &str = "damaged before its first packet";
const SEVERAL_SECTIONS: &str =
    "pcapng with several sections: a range cannot be read without the sections before it";
const LATE_INTERFACE: &str =
    "pcapng with an interface described after its first packet: a range after it cannot be read alone";

/// Whether `path` starts with the magic of a compression format the reader decodes (see
/// `input::is_compressed_head`): no pcap or pcapng file does, and a compressed byte range
/// cannot be read alone.
pub fn is_compressed(path: &Path) -> Result<bool> {
    let mut head = [0u8; 6];
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(e, None).in_file(path))?;
    let n = crate::input::read_fully(&mut file, &mut head)
        .map_err(|e| Error::io(e, Some(0)).in_file(path))?;
    Ok(crate::input::is_compressed_head(&head[..n]))
}

/// The index of `path` for `step`: from this process's cache or the index cache on disk
/// when the file has not changed since, else walked (and, for a large file, saved there).
pub fn index_of(path: &Path, step: u64, cancel: &Cancel) -> Result<Arc<RecordIndex>> {
    static CACHE: Mutex<Vec<(PathBuf, Arc<RecordIndex>)>> = Mutex::new(Vec::new());
    let stamp = FileStamp::of(path)?;
    let step = step_for(step, stamp.size);
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    {
        let cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, index)) = cache
            .iter()
            .find(|(p, i)| *p == key && i.stamp == stamp && i.step == step)
        {
            return Ok(index.clone());
        }
    }
    let saved = (stamp.size >= SAVED_FROM_BYTES)
        .then(index_cache_dir)
        .flatten()
        .map(|dir| saved_index_path(&dir, &key, step));
    let index = match saved.as_deref().and_then(|f| load(f, &key, stamp, step)) {
        Some(index) => Arc::new(index),
        None => {
            let index = Arc::new(RecordIndex::build(path, step, cancel)?);
            if let Some(file) = &saved {
                // A cache: a directory that cannot be written only costs the next walk.
                let _ = save(&index, &key, file);
            }
            index
        }
    };
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    cache.retain(|(p, i)| !(*p == key && i.step == step));
    if cache.len() >= CACHED {
        cache.remove(0);
    }
    cache.push((key, index.clone()));
    Ok(index)
}

/// Files from this size on have their index saved: a walk of a smaller one takes well
/// under a tenth of a second.
pub const SAVED_FROM_BYTES: u64 = 32 << 20;

/// Where indexes are saved: `$INTAKE_PCAP_INDEX_DIR` (empty or `off`: nowhere), else
/// `$XDG_CACHE_HOME/intake-pcap/index`, else `~/.cache/intake-pcap/index`.
pub fn index_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("INTAKE_PCAP_INDEX_DIR") {
        return (!dir.is_empty() && dir != "off").then(|| PathBuf::from(dir));
    }
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("intake-pcap").join("index"))
}

/// The saved index of the file at canonical path `key` for `step`.
pub fn saved_index_path(dir: &Path, key: &Path, step: u64) -> PathBuf {
    use sha2::Digest;
    use std::os::unix::ffi::OsStrExt;
    let digest = sha2::Sha256::digest(key.as_os_str().as_bytes());
    let name: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("{name}-{step}.index"))
}

/// Changed whenever what a walk notes changes, so that older saved indexes are walked again.
const SAVED_MAGIC: &[u8; 16] = b"pcapframe-index2";
const WHY: [&str; 4] = [COMPRESSED, DAMAGED_HEAD, SEVERAL_SECTIONS, LATE_INTERFACE];

/// Write `index` of the file at `key` to `file` (through a temporary file, so that a
/// reader sees the whole index or none), with a SHA-256 of its bytes at the end.
pub fn save(index: &RecordIndex, key: &Path, file: &Path) -> std::io::Result<()> {
    use sha2::Digest;
    use std::io::Write;
    use std::os::unix::ffi::OsStrExt;
    let path = key.as_os_str().as_bytes();
    let mut out = Vec::with_capacity(128 + path.len() + index.checkpoints.len() * 33);
    out.extend_from_slice(SAVED_MAGIC);
    out.extend_from_slice(&(path.len() as u64).to_le_bytes());
    out.extend_from_slice(path);
    let why = index.not_splittable.map_or(0, |w| {
        WHY.iter().position(|x| *x == w).map_or(0, |i| i as u64 + 1)
    });
    for v in [
        index.stamp.inode,
        index.stamp.size,
        index.stamp.modified_ns as u64,
        index.step,
        index.end,
        index.packets,
        why,
        index.checkpoints.len() as u64,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for c in &index.checkpoints {
        out.extend_from_slice(&c.offset.to_le_bytes());
        out.extend_from_slice(&c.packets_before.to_le_bytes());
        out.extend_from_slice(&c.earliest_ns.to_le_bytes());
        out.extend_from_slice(&c.latest_ns.to_le_bytes());
        out.push(c.other_blocks as u8);
    }
    let digest = sha2::Sha256::digest(&out);
    out.extend_from_slice(&digest);
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(
        ".{}.{}.tmp",
        file.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let written = std::fs::File::create(&temporary).and_then(|mut f| f.write_all(&out));
    match written.and_then(|_| std::fs::rename(&temporary, file)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&temporary);
            Err(e)
        }
    }
}

/// The index saved in `file`, if it is whole (its SHA-256 matches) and is of the file at
/// `key` as it is now (`stamp`), for `step`; `None` otherwise, and the file is walked again.
pub fn load(file: &Path, key: &Path, stamp: FileStamp, step: u64) -> Option<RecordIndex> {
    use sha2::Digest;
    use std::os::unix::ffi::OsStrExt;
    let bytes = std::fs::read(file).ok()?;
    let (body, digest) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if sha2::Sha256::digest(body).as_slice() != digest {
        return None;
    }
    let mut input = Cursor { bytes: body, at: 0 };
    if input.take(16)? != SAVED_MAGIC {
        return None;
    }
    let path_len = usize::try_from(input.u64()?).ok()?;
    if input.take(path_len)? != key.as_os_str().as_bytes() {
        return None;
    }
    let mut fields = [0u64; 8];
    for f in &mut fields {
        *f = input.u64()?;
    }
    let [inode, size, modified_ns, saved_step, end, packets, why, count] = fields;
    let saved_stamp = FileStamp {
        inode,
        size,
        modified_ns: modified_ns as i64,
    };
    if saved_stamp != stamp || saved_step != step || end > size || count > MAX_CHECKPOINTS * 2 {
        return None;
    }
    let not_splittable = match why {
        0 => None,
        w => Some(*WHY.get(usize::try_from(w - 1).ok()?)?),
    };
    let mut checkpoints = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let offset = input.u64()?;
        let packets_before = input.u64()?;
        let earliest_ns = input.u64()? as i64;
        let latest_ns = input.u64()? as i64;
        let other_blocks = match input.take(1)? {
            [0] => false,
            [1] => true,
            _ => return None,
        };
        checkpoints.push(Checkpoint {
            offset,
            packets_before,
            earliest_ns,
            latest_ns,
            other_blocks,
        });
    }
    // Boundaries in order, inside the walk, with packet counts that only grow.
    let ordered = checkpoints
        .windows(2)
        .all(|w| w[0].offset <= w[1].offset && w[0].packets_before <= w[1].packets_before);
    let inside = checkpoints
        .iter()
        .all(|c| c.offset < end.max(1) && c.packets_before <= packets);
    if input.at != body.len() || !ordered || !inside {
        return None;
    }
    Some(RecordIndex {
        stamp,
        step,
        checkpoints,
        end,
        packets,
        not_splittable,
    })
}

/// Bytes of a saved index, read from the front.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let piece = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(piece)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// The step an index of a file of `size` bytes takes for `asked`: at most `MAX_STEP` and
/// at most about a million checkpoints (40 MB), the second winning past 1 TiB.
fn step_for(asked: u64, size: u64) -> u64 {
    let fewest = size.div_ceil(MAX_CHECKPOINTS).max(1);
    asked.clamp(fewest, MAX_STEP.max(fewest))
}

/// A byte range `[start, end)` on record boundaries, and how many packet records come
/// before it in the file (so that its rows' `frame` is the file's ordinal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub start: u64,
    pub end: u64,
    pub frames_before: u64,
}

/// Partitions on record boundaries, or why the file cannot be split.
pub type Plan = std::result::Result<Vec<Partition>, &'static str>;

/// Exact partitions of `path` of about `blocksize` bytes, or why it cannot be split.
pub fn plan_partitions(path: &Path, blocksize: u64, cancel: &Cancel) -> Result<(FileStamp, Plan)> {
    // The seek index serves partitions too (one walk a file): finer only for small blocks.
    let index = index_of(path, blocksize.min(SEEK_STEP), cancel)?;
    Ok(match index.not_splittable {
        Some(why) => (index.stamp, Err(why)),
        None => (index.stamp, Ok(index.partitions(blocksize))),
    })
}
