//! Checksum verification (`ReadOptions::verify_checksums`, which the flow table uses as
//! Zeek without `-C`) against tshark's own, packet by packet, on every capture of both
//! corpora: a packet is bad here exactly when tshark finds its IPv4 header checksum, or
//! the checksum of the transport its row names (TCP, UDP, ICMP, ICMPv6), bad.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use pcapframe::flow::observe::Checksum;
use pcapframe::flow::path_input;
use pcapframe::flow::shard::observe_input;
use pcapframe::reader::{ReadOptions, TruncationPolicy};
use pcapframe::wire::ip_protocol::{ICMP, ICMPV6, TCP, UDP};

fn corpora() -> Vec<PathBuf> {
    let first = match std::env::var_os("INTAKE_PCAP_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    };
    let second = first.with_file_name("corpus2");
    [first, second].into_iter().filter(|d| d.is_dir()).collect()
}

/// packet_index -> tshark's frame number, from the capture's oracle.
fn frame_numbers(capture: &Path) -> HashMap<u64, u64> {
    let oracle = std::fs::read_to_string(format!("{}.expected.csv", capture.display())).unwrap();
    let mut lines = oracle.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (frame, index) = (column("frame_number"), column("packet_index"));
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (
                fields[index].parse().unwrap(),
                fields[frame].parse().unwrap(),
            )
        })
        .collect()
}

/// tshark's frame number -> its checksum statuses (0 bad, 1 good, 2 unverified, 3 absent)
/// of the first IP, TCP, UDP, ICMP and ICMPv6 headers.
fn tshark_statuses(capture: &Path) -> HashMap<u64, [String; 5]> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(capture)
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-o",
            "ip.defragment:FALSE",
            "-o",
            "ipv6.defragment:FALSE",
            "-T",
            "fields",
            "-E",
            "occurrence=f",
            "-e",
            "frame.number",
            "-e",
            "ip.checksum.status",
            "-e",
            "tcp.checksum.status",
            "-e",
            "udp.checksum.status",
            "-e",
            "icmp.checksum.status",
            "-e",
            "icmpv6.checksum.status",
        ])
        .output()
        .expect("tshark runs (scripts/setup.sh --test installs it)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let f: Vec<String> = line.split('\t').map(str::to_owned).collect();
            (
                f[0].parse().unwrap(),
                [
                    f[1].clone(),
                    f[2].clone(),
                    f[3].clone(),
                    f[4].clone(),
                    f[5].clone(),
                ],
            )
        })
        .collect()
}

/// (file, packet_index) -> why our verdict differs from tshark's there. Each must still
/// differ.
const DIFFERS: &[(&str, u64, &str)] = &[
    ("ether_qinq_pppoe_ipv4_tls.pcap", 19, PPPOE_SHORT),
    ("ether_qinq_pppoe_ipv4_tls.pcap", 33, PPPOE_SHORT),
    ("ether_qinq_pppoe_ipv4_tls.pcap", 41, PPPOE_SHORT),
    ("ether_qinq_pppoe_ipv4_tls.pcap", 47, PPPOE_SHORT),
    ("ether_qinq_pppoe_ipv4_tls.pcap", 63, PPPOE_SHORT),
    ("ether_qinq_pppoe_ipv4_tls.pcap", 81, PPPOE_SHORT),
];

const PPPOE_SHORT: &str = "the IPv4 length claims more bytes than the PPPoE session carries: Zeek \
    verifies a segment only when it has all of it (caplen >= len) and so do we; tshark checks \
    the bytes the PPPoE length bounds, and finds them bad";

#[test]
fn verdicts_match_tsharks_on_every_corpus_capture() {
    let options = ReadOptions {
        errors: TruncationPolicy::Ignore,
        verify_checksums: true,
        ..ReadOptions::default()
    };
    let (mut files, mut bad, mut good) = (0, 0, 0);
    let mut problems = Vec::new();
    for dir in corpora() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if !path.to_string_lossy().ends_with(".expected.csv") {
                continue;
            }
            let capture = PathBuf::from(path.to_string_lossy().trim_end_matches(".expected.csv"));
            let name = capture.file_name().unwrap().to_string_lossy().to_string();
            let frames = frame_numbers(&capture);
            let theirs = tshark_statuses(&capture);
            let observed = observe_input(&path_input(capture.clone()), &options).unwrap();
            files += 1;
            for obs in &observed.batches {
                let index = obs.frame.number;
                let Some(status) = frames.get(&index).and_then(|f| theirs.get(f)) else {
                    continue;
                };
                let transport = match obs.protocol {
                    TCP => &status[1],
                    UDP => &status[2],
                    ICMP => &status[3],
                    ICMPV6 => &status[4],
                    _ => "",
                };
                let want_ip_bad = status[0] == "0";
                let want_bad = !want_ip_bad && transport == "0";
                let (ip_bad, transport_bad) = match obs.checksum {
                    Checksum::BadIp => (true, false),
                    Checksum::BadTransport => (false, true),
                    _ => (false, false),
                };
                bad += (ip_bad || transport_bad) as usize;
                good += (obs.checksum == Checksum::Good) as usize;
                let differs = (ip_bad, transport_bad) != (want_ip_bad, want_bad);
                let known = DIFFERS.iter().find(|(n, i, _)| *n == name && *i == index);
                match known {
                    Some((_, _, why)) => {
                        assert!(differs, "{name} packet {index} agrees now: {why}")
                    }
                    None if differs => problems.push(format!(
                        "{name} packet {index}: ours {:?}, tshark ip {} transport {transport}",
                        obs.checksum, status[0]
                    )),
                    None => {}
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} packets differ:\n{}",
        problems.len(),
        problems[..problems.len().min(30)].join("\n")
    );
    // Not vacuous: both corpora, real bad checksums (captures made with offloading) and
    // thousands of good ones.
    assert!(
        files >= 150 && bad >= 50 && good >= 5_000,
        "{files} files, {bad} bad, {good} good"
    );
}
