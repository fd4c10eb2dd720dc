//! `stats`: what a capture holds, as capinfos and tshark's endpoint and protocol
//! statistics would summarise it.
//!
//! - `records`, `record_bytes` (wire lengths), `first_time`, `last_time`, `duration`:
//!   every packet record of the files, IP or not (capinfos' packets, data size, times);
//! - `ip_packets`, `ip_bytes`: the rows `read()` gives (after `--filter`/`--protocol`);
//! - `protocols`: IP packets per protocol (the `protocol` column);
//! - `top_talkers`: hosts by bytes sent plus received, with packets, over IP packets;
//! - `top_ports`: `protocol/port` of the destination port, by packets.

use std::collections::HashMap;

use pcapframe::error::Result;
use pcapframe::ip::Addr;
use pcapframe::reader::ReadOptions;
use serde_json::json;

use crate::inputs;

#[derive(Default)]
struct Tally {
    records: u64,
    record_bytes: u64,
    first_ns: Option<i64>,
    last_ns: Option<i64>,
    ip_packets: u64,
    ip_bytes: u64,
    protocols: HashMap<u8, u64>,
    talkers: HashMap<Addr, (u64, u64)>,
    ports: HashMap<(u8, u16), u64>,
    /// Packets by the chain of tunnels they cross (`tunnel` column's names).
    tunnels: HashMap<String, u64>,
}

pub fn run(files: &[String], as_json: bool, top: usize, options: &ReadOptions) -> Result<()> {
    let files = inputs::expand(files)?;
    let mut t = Tally::default();
    let mut all = (0u64, 0u64, None::<i64>, None::<i64>);
    let stats = inputs::for_each_packet(
        &files,
        options,
        true,
        |record| {
            all.0 += 1;
            all.1 += record.wire_len as u64;
            if let Some(ns) = record.timestamp_ns {
                all.2 = Some(all.2.map_or(ns, |f: i64| f.min(ns)));
                all.3 = Some(all.3.map_or(ns, |l: i64| l.max(ns)));
            }
        },
        |record, dissection| {
            let packet = dissection.ip();
            if !dissection.tunnels.is_empty() {
                *t.tunnels.entry(dissection.tunnels.name()).or_default() += 1;
            }
            let bytes = record.wire_len as u64;
            t.ip_packets += 1;
            t.ip_bytes += bytes;
            *t.protocols.entry(packet.protocol).or_default() += 1;
            for host in [packet.src, packet.dst] {
                let e = t.talkers.entry(host).or_default();
                e.0 += 1;
                e.1 += bytes;
            }
            if let Some(port) = packet.dst_port {
                *t.ports.entry((packet.protocol, port)).or_default() += 1;
            }
            true
        },
    )?;
    (t.records, t.record_bytes, t.first_ns, t.last_ns) = all;

    let mut protocols: Vec<(String, u64)> = t
        .protocols
        .iter()
        .map(|(&p, &n)| (pcapframe::protocol::name(p).into_owned(), n))
        .collect();
    protocols.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut talkers: Vec<(String, u64, u64)> = t
        .talkers
        .iter()
        .map(|(a, &(p, b))| (a.to_string(), p, b))
        .collect();
    talkers.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)).then(a.0.cmp(&b.0)));
    talkers.truncate(top);
    let mut ports: Vec<(String, u64)> = t
        .ports
        .iter()
        .map(|(&(p, port), &n)| (format!("{}/{port}", pcapframe::protocol::name(p)), n))
        .collect();
    ports.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ports.truncate(top);
    let mut tunnels: Vec<(String, u64)> = t.tunnels.iter().map(|(k, &n)| (k.clone(), n)).collect();
    tunnels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let duration_ns = match (t.first_ns, t.last_ns) {
        (Some(f), Some(l)) => Some(l - f),
        _ => None,
    };

    if as_json {
        let value = json!({
            "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
            "records": t.records,
            "record_bytes": t.record_bytes,
            "first_time": t.first_ns.map(epoch_text),
            "last_time": t.last_ns.map(epoch_text),
            "duration_seconds": duration_ns.map(|d| d as f64 / 1e9),
            "ip_packets": t.ip_packets,
            "ip_bytes": t.ip_bytes,
            "not_ip": stats.not_ip,
            "filtered": stats.filtered,
            "truncated": stats.truncated,
            "protocols": protocols.iter().map(|(n, c)| json!({"protocol": n, "packets": c})).collect::<Vec<_>>(),
            "top_talkers": talkers.iter().map(|(h, p, b)| json!({"host": h, "packets": p, "bytes": b})).collect::<Vec<_>>(),
            "top_ports": ports.iter().map(|(p, c)| json!({"port": p, "packets": c})).collect::<Vec<_>>(),
            "tunnels": tunnels.iter().map(|(k, c)| json!({"tunnel": k, "packets": c})).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON of plain values")
        );
        return Ok(());
    }

    let share = |n: u64, of: u64| {
        if of == 0 {
            0.0
        } else {
            100.0 * n as f64 / of as f64
        }
    };
    println!("files        {}", files.len());
    println!(
        "packets      {:>14}  ({} bytes on the wire)",
        thousands(t.records),
        thousands(t.record_bytes)
    );
    println!(
        "IP packets   {:>14}  ({} bytes)",
        thousands(t.ip_packets),
        thousands(t.ip_bytes)
    );
    if let (Some(f), Some(l), Some(d)) = (t.first_ns, t.last_ns, duration_ns) {
        println!("first        {}  ({})", utc_text(f), epoch_text(f));
        println!("last         {}  ({})", utc_text(l), epoch_text(l));
        println!("duration     {:>14.6} s", d as f64 / 1e9);
    }
    println!();
    println!("{:<24} {:>14} {:>7}", "protocol", "packets", "%");
    for (name, n) in &protocols {
        println!(
            "{name:<24} {:>14} {:>6.1}%",
            thousands(*n),
            share(*n, t.ip_packets)
        );
    }
    println!();
    println!(
        "{:<40} {:>14} {:>16}",
        "top talkers (host)", "packets", "bytes"
    );
    for (host, p, b) in &talkers {
        println!("{host:<40} {:>14} {:>16}", thousands(*p), thousands(*b));
    }
    println!();
    println!(
        "{:<24} {:>14} {:>7}",
        "top ports (destination)", "packets", "%"
    );
    for (port, n) in &ports {
        println!(
            "{port:<24} {:>14} {:>6.1}%",
            thousands(*n),
            share(*n, t.ip_packets)
        );
    }
    if !tunnels.is_empty() {
        println!();
        println!("{:<24} {:>14} {:>7}", "tunnels", "packets", "%");
        for (name, n) in &tunnels {
            println!(
                "{name:<24} {:>14} {:>6.1}%",
                thousands(*n),
                share(*n, t.ip_packets)
            );
        }
    }
    Ok(())
}

/// Seconds since the epoch with nanoseconds: `1234567890.123456789`.
fn epoch_text(ns: i64) -> String {
    format!(
        "{}.{:09}",
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000)
    )
}

/// `YYYY-MM-DD HH:MM:SS.nnnnnnnnn UTC` (proleptic Gregorian; Hinnant's civil-from-days).
fn utc_text(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:09} UTC",
        day_secs / 3600,
        day_secs / 60 % 60,
        day_secs % 60,
        ns.rem_euclid(1_000_000_000)
    )
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
