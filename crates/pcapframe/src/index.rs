//! Exact partitions: one walk over a file's records notes where a record starts near every
//! `step` bytes, so that byte-range partitions begin on true record boundaries. Nothing is
//! guessed, so nothing a payload holds can move a partition's start: a chain of fake
//! record headers inside a UDP payload is just bytes of the record that holds it.
//!
//! The walk is the sequential reader's own framing (`RecordReader`), so it agrees with a
//! whole-file read on every boundary, on damage and on pcapng blocks; it reads the bytes
//! once, about the speed of `cat` (records are borrowed from the read window, not copied).
//! Indexes are kept per process, keyed by the file's identity (device, inode, size,
//! modification time), so a changed file is walked again.

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
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).map_err(|e| Error::io(e, None).in_file(path))?;
        Ok(FileStamp {
            inode: m.ino(),
            size: m.size(),
            modified_ns: m
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec()),
        })
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

/// A record boundary near a multiple of the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Where the record (or pcapng block) starts.
    pub offset: u64,
    /// Packet records before it.
    pub packets_before: u64,
    /// The time of the first packet at or after it, if it has one.
    pub time_ns: Option<i64>,
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
    /// Why the file cannot be read in independent ranges (checkpoints are then empty).
    pub not_splittable: Option<&'static str>,
}

impl RecordIndex {
    /// Walk `path`'s records once. Stops early, with `Interrupted`, when `cancel` is set.
    pub fn build(path: &Path, step: u64, cancel: &Cancel) -> Result<RecordIndex> {
        let stamp = FileStamp::of(path)?;
        let step = step.clamp(stamp.size.div_ceil(MAX_CHECKPOINTS).max(1), MAX_STEP);
        let unsplittable = |why| RecordIndex {
            stamp,
            step,
            checkpoints: Vec::new(),
            end: stamp.size,
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
        let mut checkpoints = Vec::with_capacity((stamp.size / step) as usize + 1);
        let mut next_mark = first;
        let mut packets = 0u64;
        let end = loop {
            cancel.check()?;
            let at = records.offset();
            // A boundary at or after each mark up to here; several marks may share one
            // boundary when a record is longer than the step.
            let needs_checkpoint = at >= next_mark;
            match records.next_record() {
                Ok(Some(record)) => {
                    if needs_checkpoint {
                        let point = Checkpoint {
                            offset: at,
                            packets_before: packets,
                            time_ns: record.timestamp_ns,
                        };
                        while next_mark <= at {
                            checkpoints.push(point);
                            next_mark += step;
                        }
                    }
                    packets += 1;
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
                Err(e) => break e.offset.unwrap_or(at),
            }
        };
        Ok(RecordIndex {
            stamp,
            step,
            checkpoints,
            end,
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

/// The index of `path` for `step`, from the cache when the file has not changed since.
pub fn index_of(path: &Path, step: u64, cancel: &Cancel) -> Result<Arc<RecordIndex>> {
    static CACHE: Mutex<Vec<(PathBuf, Arc<RecordIndex>)>> = Mutex::new(Vec::new());
    let stamp = FileStamp::of(path)?;
    // At most about a million checkpoints (24 MB), whatever step was asked for.
    let step = step.clamp(stamp.size.div_ceil(MAX_CHECKPOINTS).max(1), MAX_STEP);
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
    let index = Arc::new(RecordIndex::build(path, step, cancel)?);
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    cache.retain(|(p, i)| !(*p == key && i.step == step));
    if cache.len() >= CACHED {
        cache.remove(0);
    }
    cache.push((key, index.clone()));
    Ok(index)
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
    let index = index_of(path, blocksize.min(MAX_STEP), cancel)?;
    Ok(match index.not_splittable {
        Some(why) => (index.stamp, Err(why)),
        None => (index.stamp, Ok(index.partitions(blocksize))),
    })
}
