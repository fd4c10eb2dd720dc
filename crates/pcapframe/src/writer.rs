//! Classic pcap out: the nanosecond variant (magic a1b23c4d), which tcpdump, tshark and this
//! crate read back exactly.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const MAGIC_NSEC: u32 = 0xa1b2_3c4d;

pub struct PcapWriter {
    out: BufWriter<File>,
    path: PathBuf,
    snaplen: u32,
    written: u64,
}

impl PcapWriter {
    /// Create (or replace) `path` with a pcap header for `link_type` (a LINKTYPE_* value).
    pub fn create(path: &Path, link_type: u32, snaplen: u32) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io(e, None).in_file(path))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&MAGIC_NSEC.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes());
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&0i32.to_le_bytes()); // thiszone: always UTC
        header.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        header.extend_from_slice(&snaplen.to_le_bytes());
        header.extend_from_slice(&link_type.to_le_bytes());
        out.write_all(&header)
            .map_err(|e| Error::io(e, Some(0)).in_file(path))?;
        Ok(PcapWriter {
            out,
            path: path.to_path_buf(),
            snaplen,
            written: 0,
        })
    }

    /// Append one packet; the bytes beyond the snap length are not written.
    pub fn write(&mut self, timestamp_ns: Option<i64>, data: &[u8], wire_len: u32) -> Result<()> {
        let ns = timestamp_ns.unwrap_or(0).max(0);
        let data = &data[..data.len().min(self.snaplen as usize)];
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&((ns / 1_000_000_000) as u32).to_le_bytes());
        header[4..8].copy_from_slice(&((ns % 1_000_000_000) as u32).to_le_bytes());
        header[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        header[12..16].copy_from_slice(&wire_len.max(data.len() as u32).to_le_bytes());
        self.out
            .write_all(&header)
            .and_then(|_| self.out.write_all(data))
            .map_err(|e| Error::io(e, None).in_file(&self.path))?;
        self.written += 1;
        Ok(())
    }

    pub fn packets_written(&self) -> u64 {
        self.written
    }

    /// Flush everything to the file.
    pub fn finish(mut self) -> Result<u64> {
        self.out
            .flush()
            .map_err(|e| Error::io(e, None).in_file(&self.path))?;
        Ok(self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::RecordReader;

    #[test]
    fn written_packets_read_back_identically() {
        let dir = std::env::temp_dir().join(format!("pcapframe-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.pcap");
        let mut w = PcapWriter::create(&path, 1, 65535).unwrap();
        w.write(Some(1_700_000_000_123_456_789), b"abcdef", 60)
            .unwrap();
        w.write(Some(5), &[7u8; 100], 100).unwrap();
        assert_eq!(w.finish().unwrap(), 2);
        let mut r = RecordReader::open(&path).unwrap();
        let a = r.next_record().unwrap().unwrap();
        assert_eq!(
            (a.timestamp_ns, a.data, a.wire_len, a.link_type),
            (Some(1_700_000_000_123_456_789), &b"abcdef"[..], 60, 1)
        );
        let b = r.next_record().unwrap().unwrap();
        assert_eq!(
            (b.timestamp_ns, b.data.len(), b.wire_len),
            (Some(5), 100, 100)
        );
        assert!(r.next_record().unwrap().is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
