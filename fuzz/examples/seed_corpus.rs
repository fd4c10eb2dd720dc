//! Seed the fuzz corpora from real captures:
//! `cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus -- DIR...`
//! (default: the project's shared corpus). Captures are copied whole into
//! corpus/read_capture; each of their packets becomes a decode_packet input (its link
//! type's index in `LINK_TYPES`, then its bytes).

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use pcapframe::format::RecordReader;
use pcapframe_fuzz::LINK_TYPES;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        dirs.push(match std::env::var_os("INTAKE_PCAP_CORPUS") {
            Some(d) => PathBuf::from(d),
            None => root.join("../../shared/corpus"),
        });
    }
    let captures = root.join("corpus/read_capture");
    let packets = root.join("corpus/decode_packet");
    fs::create_dir_all(&captures).unwrap();
    fs::create_dir_all(&packets).unwrap();
    let (mut files, mut written) = (0, 0);
    let mut seen = HashSet::new();
    for dir in dirs {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !(name.ends_with(".pcap") || name.ends_with(".pcapng") || name.ends_with(".gz")) {
                continue;
            }
            fs::copy(&path, captures.join(&name)).unwrap();
            files += 1;
            let Ok(mut reader) = RecordReader::open(&path) else { continue };
            let mut index = 0;
            while let Ok(Some(record)) = reader.next_record() {
                let Some(selector) = LINK_TYPES.iter().position(|&l| l == record.link_type) else { continue };
                // One input per distinct packet start, at most 200 per capture: the corpus
                // is for variety, not volume.
                let mut input = vec![selector as u8];
                input.extend_from_slice(&record.data[..record.data.len().min(512)]);
                if index < 200 && seen.insert(input.clone()) {
                    fs::write(packets.join(format!("{name}-{index}")), &input).unwrap();
                    written += 1;
                }
                index += 1;
            }
        }
    }
    eprintln!("{files} captures into {}, {written} packets into {}", captures.display(), packets.display());
}
