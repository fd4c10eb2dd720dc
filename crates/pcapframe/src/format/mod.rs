//! Capture framing: pcap and pcapng files into a sequence of borrowed packet records.
//!
//! Written here rather than on pcap-parser: we need power-of-two `if_tsresol`, big-endian
//! classic pcap, a clean end on truncated files and bounded buffers, which it lacks (0.17).

pub(crate) mod pcap;
pub(crate) mod pcapng;

pub use pcapng::MAX_INTERFACE_NAME;

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::input::{read_error, ByteWindow};

/// Largest record we accept. libpcap caps most link types at 256 KiB; we allow more for
/// odd writers but never allocate beyond this on a length read from the file.
pub const MAX_CAPLEN: u32 = 16 << 20;

/// One packet record, borrowed from the read window: valid until the next call.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Nanoseconds since the Unix epoch (UTC); `None` for Simple Packet Blocks or a time
    /// beyond what 64-bit nanoseconds hold (year 2262).
    pub timestamp_ns: Option<i64>,
    /// Length of the packet on the wire (may exceed `data.len()` when truncated by snaplen).
    pub wire_len: u32,
    /// LINKTYPE_* value of the interface the packet came from.
    pub link_type: u32,
    /// pcapng interface index within its section; 0 for classic pcap.
    pub interface: u32,
    /// The interface's name: pcapng `if_name`, or a live capture's interface.
    pub interface_name: Option<&'a str>,
    /// Byte order the file (or pcapng section) was written in: the writing host's, which
    /// some link-layer headers (BSD NULL) and so libpcap's filters depend on.
    pub big_endian: bool,
    /// The captured bytes.
    pub data: &'a [u8],
    /// Where the record starts in the byte stream its reader reads (0 for a live capture).
    pub offset: u64,
}

/// One record or block with its bytes as the file holds them (`RecordReader::next_item`).
pub struct Item<'a> {
    /// The packet, if the item holds one.
    pub record: Option<Record<'a>>,
    /// The whole record (header and data) or pcapng block, in the file's byte order.
    pub bytes: &'a [u8],
    /// The pcapng block type; 0 for a classic pcap record.
    pub block_type: u32,
    /// Whether the file (or pcapng section) is big-endian.
    pub big_endian: bool,
}

/// Reads records from a pcap or pcapng byte stream; which one is decided by the first bytes.
pub struct RecordReader {
    window: ByteWindow,
    format: Format,
    path: Option<PathBuf>,
    /// Bytes of the last record, released at the start of the next call.
    pending: usize,
    finished: bool,
    /// Runs of records to jump over (`open_skipping`), in file order, and the next one.
    skips: Vec<crate::index::Skip>,
    /// The file the skips are of, opened once: a jump reads the same file as the reader
    /// even when the path is given to another file meanwhile (a rotated capture).
    jump_file: Option<std::fs::File>,
    next_skip: usize,
}

enum Format {
    Pcap(pcap::PcapFormat),
    Pcapng(pcapng::PcapngFormat),
}

impl RecordReader {
    pub fn open(path: &Path) -> Result<Self> {
        let window = ByteWindow::open(path)?;
        Self::new(window, Some(path.to_path_buf()))
    }

    /// `open` for a read with `options`: with a time range, the reader jumps over the
    /// blocks of the file's seek index that hold no packet in it (see `index::seek_index`;
    /// a file without one is read whole, and the range applied to every packet).
    pub fn open_for(path: &Path, options: &crate::options::ReadOptions) -> Result<Self> {
        if let Some(range) = &options.time_range {
            if let Some(index) = crate::index::seek_index(path, &options.cancel)? {
                return Self::open_skipping(path, &index, index.time_skips(range));
            }
        }
        Self::open(path)
    }

    /// `open`, the reader jumping over `skips` of `index` (see `index::RecordIndex::skips`)
    /// where it stands at their start (`jump_if_due`). The file is opened once, for the
    /// reader and its jumps; if it is not the file the index is of (replaced, rewritten or
    /// appended to since), the reader reads it whole instead.
    pub fn open_skipping(
        path: &Path,
        index: &crate::index::RecordIndex,
        skips: Vec<crate::index::Skip>,
    ) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(e, None).in_file(path))?;
        let meta = file
            .metadata()
            .map_err(|e| Error::io(e, None).in_file(path))?;
        let reading = file
            .try_clone()
            .map_err(|e| Error::io(e, None).in_file(path))?;
        let window = ByteWindow::from_reader(Box::new(reading)).map_err(|e| e.in_file(path))?;
        let mut records = Self::new(window, Some(path.to_path_buf()))?;
        if crate::index::FileStamp::of_metadata(&meta) == index.stamp {
            records.skips = skips;
            records.jump_file = Some(file);
        }
        Ok(records)
    }

    /// Read the file header from `window` and get ready to iterate records.
    pub fn new(mut window: ByteWindow, path: Option<PathBuf>) -> Result<Self> {
        let name = |e: Error| match &path {
            Some(p) => e.in_file(p),
            None => e,
        };
        window
            .fill(pcap::FILE_HEADER_LEN)
            .map_err(|e| name(read_error(e, 0)))?;
        let head = window.available();
        let format = if let Some(f) = pcap::PcapFormat::detect(head).map_err(&name)? {
            window.consume(pcap::FILE_HEADER_LEN);
            Format::Pcap(f)
        } else if pcapng::is_pcapng(head) {
            Format::Pcapng(pcapng::PcapngFormat::default())
        } else {
            return Err(name(not_a_capture(head)));
        };
        Ok(RecordReader {
            window,
            format,
            path,
            pending: 0,
            finished: false,
            skips: Vec::new(),
            jump_file: None,
            next_skip: 0,
        })
    }

    /// The classic pcap layout of this file, if it is one (for byte-range reading).
    pub(crate) fn pcap_format(&self) -> Option<&pcap::PcapFormat> {
        match &self.format {
            Format::Pcap(f) => Some(f),
            Format::Pcapng(_) => None,
        }
    }

    /// Records of a classic pcap file from a record boundary inside it: `window` starts
    /// there, `format` comes from the file's header.
    pub(crate) fn resume_pcap(
        window: ByteWindow,
        format: pcap::PcapFormat,
        path: Option<PathBuf>,
    ) -> Self {
        RecordReader {
            window,
            format: Format::Pcap(format),
            path,
            pending: 0,
            finished: false,
            skips: Vec::new(),
            jump_file: None,
            next_skip: 0,
        }
    }

    /// For a pcapng file: read the blocks before the first packet and return what they
    /// describe (frozen, see `PcapngFormat::read_head`) and the offset of the first packet block.
    pub(crate) fn pcapng_head(&mut self) -> Result<Option<(pcapng::PcapngFormat, u64)>> {
        match &mut self.format {
            Format::Pcap(_) => Ok(None),
            Format::Pcapng(f) => {
                f.read_head(&mut self.window)
                    .map_err(|e| match &self.path {
                        Some(p) => e.in_file(p),
                        None => e,
                    })?;
                Ok(Some((f.clone(), self.window.offset())))
            }
        }
    }

    /// Records of a pcapng file from a block boundary after its head (see `pcapng_head`).
    pub(crate) fn resume_pcapng(
        window: ByteWindow,
        format: pcapng::PcapngFormat,
        path: Option<PathBuf>,
    ) -> Self {
        RecordReader {
            window,
            format: Format::Pcapng(format),
            path,
            pending: 0,
            finished: false,
            skips: Vec::new(),
            jump_file: None,
            next_skip: 0,
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Byte offset in the (decompressed) stream of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.window.offset() + self.pending as u64
    }

    /// Byte offset where the record last returned starts (its bytes are still held).
    pub fn last_record_offset(&self) -> u64 {
        self.window.offset()
    }

    /// "pcap (microsecond)" etc., for `discover()` metadata.
    pub fn format_name(&self) -> &'static str {
        match &self.format {
            Format::Pcap(f) => f.name(),
            Format::Pcapng(_) => "pcapng",
        }
    }

    /// Make the jump due where the reader stands (between records), if any: the packet
    /// records passed over, which the caller counts as it would have counted them read.
    /// A skip the reader has passed without standing at its start is dropped (a pcapng
    /// reader reaches its first boundary only after the first packet): the records are
    /// then read, never miscounted.
    pub(crate) fn jump_if_due(&mut self) -> Result<u64> {
        if self.next_skip >= self.skips.len() || self.finished {
            return Ok(0);
        }
        self.window.consume(std::mem::take(&mut self.pending));
        let mut passed = 0;
        while let Some(skip) = self.skips.get(self.next_skip) {
            let at = self.window.offset();
            if skip.from > at {
                break;
            }
            self.next_skip += 1;
            if skip.from < at {
                continue;
            }
            let (Some(path), Some(jump_file)) = (&self.path, &self.jump_file) else {
                return Ok(passed);
            };
            // A handle of the same open file: seeking it moves the reader's position too,
            // which the window is about to leave.
            let mut file = jump_file
                .try_clone()
                .map_err(|e| Error::io(e, None).in_file(path))?;
            std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(skip.to))
                .map_err(|e| Error::io(e, Some(skip.to)).in_file(path))?;
            self.window.restart_at(Box::new(file), skip.to);
            passed += skip.packets;
        }
        Ok(passed)
    }

    /// The next packet record, `Ok(None)` at a clean end of file. After an error the
    /// reader is finished and returns `Ok(None)`.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>> {
        self.next_record_before(u64::MAX)
    }

    /// The next record or pcapng block as its bytes in the file: every block, not only
    /// packets (section and interface descriptions, name resolution, ...), for writers that
    /// copy a capture's records as they are. `Ok(None)` at a clean end of file.
    pub fn next_item(&mut self) -> Result<Option<Item<'_>>> {
        if let Format::Pcapng(f) = &mut self.format {
            f.report_blocks = true;
        }
        if self.finished {
            return Ok(None);
        }
        self.window.consume(std::mem::take(&mut self.pending));
        let (step, big_endian) = match &mut self.format {
            Format::Pcap(f) => (f.next(&mut self.window), f.big_endian()),
            Format::Pcapng(f) => {
                let step = f.next(&mut self.window);
                (step, f.big_endian())
            }
        };
        match step {
            Ok(Some(found)) => {
                self.pending = found.record_len;
                let bytes = &self.window.available()[..found.record_len];
                let offset = self.window.offset();
                // A record of a classic pcap file has block type 0; in pcapng, 0 is a
                // reserved block type, which holds no packet.
                let is_packet = match &self.format {
                    Format::Pcap(_) => true,
                    Format::Pcapng(_) => {
                        matches!(found.block_type, pcapng::EPB | pcapng::SPB | pcapng::PB)
                    }
                };
                let record = is_packet.then(|| Record {
                    interface_name: match &self.format {
                        Format::Pcap(_) => None,
                        Format::Pcapng(f) => f.interface_name(found.interface),
                    },
                    timestamp_ns: found.timestamp_ns,
                    wire_len: found.wire_len,
                    link_type: found.link_type,
                    interface: found.interface,
                    big_endian,
                    data: &bytes[found.data.clone()],
                    offset,
                });
                Ok(Some(Item {
                    record,
                    bytes,
                    block_type: found.block_type,
                    big_endian,
                }))
            }
            Ok(None) => {
                self.finished = true;
                Ok(None)
            }
            Err(e) => {
                self.finished = true;
                Err(match &self.path {
                    Some(p) => e.in_file(p),
                    None => e,
                })
            }
        }
    }

    /// The 24-byte file header of a classic pcap file (`None` for pcapng).
    pub fn pcap_header(&self) -> Option<[u8; pcap::FILE_HEADER_LEN]> {
        match &self.format {
            Format::Pcap(f) => Some(f.header()),
            Format::Pcapng(_) => None,
        }
    }

    /// `next_record`, but a record starting at or after offset `limit` is left unread and
    /// `Ok(None)` returned, with `offset()` at its start (for readers of byte ranges: in
    /// pcapng, blocks without packets may be skipped on the way to the next packet).
    pub(crate) fn next_record_before(&mut self, limit: u64) -> Result<Option<Record<'_>>> {
        if self.finished {
            return Ok(None);
        }
        self.window.consume(std::mem::take(&mut self.pending));
        let step = match &mut self.format {
            Format::Pcap(f) => f.next(&mut self.window),
            Format::Pcapng(f) => f.next(&mut self.window),
        };
        let big_endian = match &self.format {
            Format::Pcap(f) => f.big_endian(),
            Format::Pcapng(f) => f.big_endian(),
        };
        match step {
            Ok(Some(_)) if self.window.offset() >= limit => Ok(None),
            Ok(Some(found)) => {
                self.pending = found.record_len;
                let data = &self.window.available()[found.data.clone()];
                let interface_name = match &self.format {
                    Format::Pcap(_) => None,
                    Format::Pcapng(f) => f.interface_name(found.interface),
                };
                Ok(Some(Record {
                    interface_name,
                    timestamp_ns: found.timestamp_ns,
                    wire_len: found.wire_len,
                    link_type: found.link_type,
                    interface: found.interface,
                    big_endian,
                    data,
                    offset: self.window.offset(),
                }))
            }
            Ok(None) => {
                self.finished = true;
                Ok(None)
            }
            Err(e) => {
                self.finished = true;
                Err(match &self.path {
                    Some(p) => e.in_file(p),
                    None => e,
                })
            }
        }
    }
}

/// What a format found: positions inside the window rather than a borrow, so that the
/// format's loop can skip blocks without fighting the borrow checker.
struct Found {
    record_len: usize,
    data: std::ops::Range<usize>,
    timestamp_ns: Option<i64>,
    wire_len: u32,
    link_type: u32,
    interface: u32,
    /// The pcapng block type (0 for a classic pcap record); a block that holds no packet
    /// is returned only to a reader that asked for every block (`next_item`).
    block_type: u32,
}

fn not_a_capture(head: &[u8]) -> Error {
    // Only the magic number: the file may be a secret (a key, /etc/shadow read as root),
    // and this message goes to logs.
    let magic: Vec<String> = head.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let msg = if head.is_empty() {
        "not a capture file: the file is empty".to_string()
    } else {
        format!(
            "not a pcap or pcapng capture: its magic number (first 4 bytes) is {} (a pcap \
             file starts with d4 c3 b2 a1, a1 b2 c3 d4 or their nanosecond forms, a pcapng file \
             with 0a 0d 0d 0a; a compressed capture needs its codec's suffix, e.g. .gz or .zst)",
            magic.join(" ")
        )
    };
    Error::at(ErrorKind::NotACapture, 0, msg)
}

/// Fill the window with `need` bytes or explain what was cut short.
fn fill_or_truncated(
    window: &mut ByteWindow,
    need: usize,
    what: impl FnOnce() -> String,
) -> Result<bool> {
    let offset = window.offset();
    if window.fill(need).map_err(|e| read_error(e, offset))? {
        return Ok(true);
    }
    let have = window.available().len();
    if have == 0 {
        return Ok(false);
    }
    Err(Error::at(
        ErrorKind::Truncated,
        offset,
        format!(
            "the file ends inside {}: {have} of {need} bytes present (cut short while writing?)",
            what()
        ),
    ))
}

/// Integer readers in a chosen byte order; every caller has checked the length first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Endian {
    #[default]
    Little,
    Big,
}

impl Endian {
    #[inline]
    fn u16(self, b: &[u8], at: usize) -> u16 {
        let v = [b[at], b[at + 1]];
        match self {
            Endian::Little => u16::from_le_bytes(v),
            Endian::Big => u16::from_be_bytes(v),
        }
    }
    #[inline]
    fn u32(self, b: &[u8], at: usize) -> u32 {
        let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        match self {
            Endian::Little => u32::from_le_bytes(v),
            Endian::Big => u32::from_be_bytes(v),
        }
    }
    #[inline]
    fn u64(self, b: &[u8], at: usize) -> u64 {
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[at..at + 8]);
        match self {
            Endian::Little => u64::from_le_bytes(v),
            Endian::Big => u64::from_be_bytes(v),
        }
    }
}
