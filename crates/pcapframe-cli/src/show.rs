//! `show` and `live`: one line per IP packet in the form of `tcpdump -tttt -n -q`, so that
//! the two can be compared line by line. tcpdump's own wording is followed for TCP, UDP
//! and ICMP/ICMPv6 echo; other protocols get `NAME, length N` (tcpdump dissects those
//! further, which a one-line table view does not try to match).

use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

use pcapframe::dissect::Dissection;
use pcapframe::error::{Error, Result};
use pcapframe::format::Record;
use pcapframe::ip::{Addr, IpPacket};
use pcapframe::link::IpVersion;
use pcapframe::live::{LiveCapture, LiveOptions};
use pcapframe::reader::ReadOptions;
use pcapframe::select::PacketSelector;
use pcapframe::wire;
use pcapframe::wire::icmp::IcmpHeader;
use pcapframe::wire::ip_protocol;
use pcapframe::wire::ipv4::Ipv4Header;
use pcapframe::wire::ipv6::{ExtensionHeader, Ipv6Header};
use pcapframe::wire::udp::UdpHeader;

use pcapframe::stream::{Found, SegmentAt, StreamTracker};
use pcapframe::wire::http;
use pcapframe::wire::Progress;

use crate::dns_words;
use crate::inputs;

/// Ports whose UDP tcpdump reads as DNS: the name server's and multicast DNS (not
/// LLMNR's, which `dns::PORTS` also holds).
const DNS_PORT: u16 = 53;
const MDNS_PORT: u16 = pcapframe::wire::dns::MDNS_PORT;
const DNS_PORTS: [u16; 2] = [DNS_PORT, MDNS_PORT];

/// `app`: DNS as tcpdump prints it without `-q` (`dns_words`), and HTTP requests' first
/// lines, read from the TCP streams of each file as the `http_*` columns are.
pub fn run(files: &[String], count: Option<u64>, app: bool, options: &ReadOptions) -> Result<()> {
    let files = inputs::expand(files)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut shown = 0u64;
    let mut failed = None;
    let mut line = String::with_capacity(160);
    // Streams are followed within each file, as the columns follow them.
    let groups: Vec<&[std::path::PathBuf]> = if app {
        files.chunks(1).collect()
    } else {
        vec![&files[..]]
    };
    for group in groups {
        let mut streams = app.then(StreamTracker::new);
        inputs::for_each_packet(
            group,
            options,
            false,
            |_| {},
            |record, dissection| {
                if count.is_some_and(|c| shown >= c) {
                    return false;
                }
                line.clear();
                format_line(&mut line, record, dissection, streams.as_mut());
                if let Err(e) = out.write_all(line.as_bytes()) {
                    failed = Some(e);
                    return false;
                }
                shown += 1;
                true
            },
        )?;
        if failed.is_some() || count.is_some_and(|c| shown >= c) {
            break;
        }
    }
    if let Some(e) = failed {
        return Err(Error::io(e, None));
    }
    out.flush().map_err(|e| Error::io(e, None))
}

pub fn live(
    interface: &str,
    count: Option<u64>,
    snaplen: u32,
    promiscuous: bool,
    options: &ReadOptions,
) -> Result<()> {
    let live = LiveOptions {
        interface: interface.to_string(),
        snaplen,
        promiscuous,
        timeout_ms: 100,
        filter: options.filter.clone(),
        ..LiveOptions::default()
    };
    let mut capture = LiveCapture::open(&live)?;
    // Ctrl-C (or a kill) ends the capture like -c does, so that the counts are printed: the
    // loop below wakes every 100 ms to look.
    stop_live_on_signals();
    // The kernel runs the filter; the selector decodes and applies `--protocol`.
    let mut selector = PacketSelector::new(&ReadOptions {
        filter: None,
        ..options.clone()
    })?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut shown = 0u64;
    let mut line = String::with_capacity(160);
    let outcome = (|| -> Result<()> {
        while count.is_none_or(|c| shown < c)
            && !LIVE_STOP.load(std::sync::atomic::Ordering::Relaxed)
        {
            let deadline = Instant::now() + Duration::from_millis(100);
            let Some(record) = capture.next_record(deadline)? else {
                if capture.is_finished() {
                    break;
                }
                continue;
            };
            if let Some(dissection) = selector.select(&record)? {
                line.clear();
                format_line(&mut line, &record, dissection, None);
                // Each packet as it comes: a live view is read by people, not piped in bulk.
                out.write_all(line.as_bytes())
                    .and_then(|_| out.flush())
                    .map_err(|e| Error::io(e, None))?;
                shown += 1;
            }
        }
        Ok(())
    })();
    // The counts also when the capture failed (an interface that went away), as tcpdump.
    let stats = capture.stats();
    eprintln!(
        "{shown} packets shown, {} received by filter, {} dropped by kernel, {} dropped by interface",
        stats.received, stats.dropped, stats.if_dropped
    );
    outcome
}

static LIVE_STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn request_live_stop(_: libc::c_int) {
    LIVE_STOP.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn stop_live_on_signals() {
    let handler: extern "C" fn(libc::c_int) = request_live_stop;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
    }
}

/// One line of `tcpdump -tttt -n -q`. A decapsulated packet is introduced by its outer
/// header's addresses and the tunnels crossed (`IP a > b: vxlan 42: IP c.1 > d.2: ...`),
/// as tcpdump shows the outer header before the inner one. With `app` (the file's TCP
/// streams): a DNS message over UDP in the words of `tcpdump -n` (without `-q`) instead of
/// `UDP, length N`, and after `tcp N` the first line of the HTTP request the segment
/// completes, as tcpdump words it (`: HTTP: GET / HTTP/1.1`).
pub fn format_line(
    out: &mut String,
    record: &Record<'_>,
    dissection: &Dissection,
    app: Option<&mut StreamTracker>,
) {
    use std::fmt::Write;
    local_time(out, record.timestamp_ns.unwrap_or(0));
    let d = record.data;
    let packet = dissection.ip();
    let ip_word = |p: &IpPacket| {
        if p.version == IpVersion::V6 {
            " IP6 "
        } else {
            " IP "
        }
    };
    if dissection.inner.is_some() {
        let outer = &dissection.outer;
        let _ = write!(
            out,
            "{}{} > {}: {}",
            ip_word(outer),
            outer.src,
            outer.dst,
            dissection.tunnels.name()
        );
        if let Some(id) = dissection.tunnels.id() {
            let _ = write!(out, " {id}");
        }
        out.push(':');
    }
    out.push_str(ip_word(packet));
    let ports = packet.src_port.zip(packet.dst_port);
    // The IP datagram's end by its own length field (tcpdump counts from the header, not
    // from what was captured).
    let ip_end = ip_end(d, packet);
    let t = packet.transport_offset;
    let mut later_fragment = packet.fragment_offset > 0;
    // IPv6 extension headers: tcpdump names each before the transport, and then gives the
    // ports without the addresses.
    let mut extensions = String::new();
    if packet.version == IpVersion::V6 {
        later_fragment = ipv6_extensions(&mut extensions, d, packet.start, ip_end);
    }
    if extensions.is_empty() {
        match ports {
            Some((sport, dport)) if !later_fragment => {
                let _ = write!(out, "{}.{sport} > {}.{dport}: ", packet.src, packet.dst);
            }
            _ => {
                let _ = write!(out, "{} > {}: ", packet.src, packet.dst);
            }
        }
    } else {
        let _ = write!(out, "{} > {}: {extensions}", packet.src, packet.dst);
        if later_fragment {
            out.truncate(out.trim_end().len());
            out.push('\n');
            return;
        }
        if let Some((sport, dport)) = ports {
            let _ = write!(out, "{sport} > {dport}: ");
        }
    }
    if later_fragment {
        // A later fragment: no transport header to describe (tcpdump's wording).
        let _ = write!(out, "ip-proto-{}", packet.protocol);
        out.push('\n');
        return;
    }
    let transport = d.get(t..).unwrap_or(&[]);
    match packet.protocol {
        ip_protocol::TCP => {
            let _ = write!(out, "tcp {}", ip_end.saturating_sub(packet.payload.start));
            if let Some(streams) = app {
                let vlan = dissection.link.vlan;
                let at = SegmentAt::default();
                if let Some(Found::Http(head)) =
                    streams.segment(d, packet, record.timestamp_ns, vlan, at)
                {
                    if let Progress::Done(h) = http::parse_head(&head) {
                        if h.message.method.is_some() {
                            out.push_str(": HTTP: ");
                            let end = head.iter().position(|&b| b == b'\r' || b == b'\n');
                            dns_words::write_text(out, &head[..end.unwrap_or(head.len())]);
                        }
                    }
                }
            }
        }
        ip_protocol::UDP => match UdpHeader::new(transport).length() {
            Some(len)
                if app.is_some()
                    && ports.is_some_and(|(s, d)| [s, d].iter().any(|p| DNS_PORTS.contains(p))) =>
            {
                let mdns = ports.is_some_and(|(s, d)| s == MDNS_PORT || d == MDNS_PORT)
                    && !ports.is_some_and(|(s, d)| s == DNS_PORT || d == DNS_PORT);
                let length = (len as usize).saturating_sub(8);
                // What was captured of the message, within the datagram's own length.
                let message = transport.get(8..).unwrap_or(&[]);
                let message = &message[..message.len().min(length)];
                dns_words::write(out, message, length, mdns);
            }
            Some(len) => {
                let _ = write!(out, "UDP, length {}", len.saturating_sub(8));
            }
            None => out.push_str("UDP"),
        },
        ip_protocol::ICMP => {
            let length = ip_end.saturating_sub(t);
            let icmp = IcmpHeader::new(transport);
            match (icmp.msg_type(), icmp.echo_ident(), icmp.echo_seq()) {
                (Some(kind @ (0 | 8)), Some(id), Some(seq)) => {
                    let kind = if kind == 8 { "request" } else { "reply" };
                    let _ = write!(out, "ICMP echo {kind}, id {id}, seq {seq}, length {length}");
                }
                (kind, _, _) => {
                    let code = icmp.code().unwrap_or(0);
                    let _ = write!(
                        out,
                        "ICMP type {}, code {code}, length {length}",
                        kind.unwrap_or(0)
                    );
                }
            }
        }
        ip_protocol::ICMPV6 => {
            let length = ip_end.saturating_sub(t);
            let icmp = IcmpHeader::new(transport);
            let target = icmp.nd_target().map(Addr::V6);
            out.push_str("ICMP6, ");
            match (icmp.msg_type(), icmp.echo_ident(), icmp.echo_seq()) {
                (Some(kind @ (128 | 129)), Some(id), Some(seq)) => {
                    let kind = if kind == 128 { "request" } else { "reply" };
                    let _ = write!(out, "echo {kind}, id {id}, seq {seq}, ");
                }
                (Some(133), ..) => out.push_str("router solicitation, "),
                (Some(134), ..) => out.push_str("router advertisement, "),
                (Some(135), ..) if target.is_some() => {
                    let _ = write!(
                        out,
                        "neighbor solicitation, who has {}, ",
                        target.expect("checked")
                    );
                }
                (Some(136), ..) if target.is_some() => {
                    let _ = write!(
                        out,
                        "neighbor advertisement, tgt is {}, ",
                        target.expect("checked")
                    );
                }
                (kind, ..) => {
                    let _ = write!(
                        out,
                        "type {}, code {}, ",
                        kind.unwrap_or(0),
                        icmp.code().unwrap_or(0)
                    );
                }
            }
            let _ = write!(out, "length {length}");
        }
        2 => out.push_str("igmp"),
        p => {
            let _ = write!(
                out,
                "{}, length {}",
                pcapframe::protocol::name(p),
                ip_end.saturating_sub(t)
            );
        }
    }
    out.push('\n');
}

/// tcpdump's words for the IPv6 extension headers from the one at `ip + 40` on (`HBH `,
/// `DSTOPT `, `RT6 (...) `, `frag (offset|length) `), written to `out`; true when a fragment
/// header says this is a later fragment (tcpdump then stops).
fn ipv6_extensions(out: &mut String, d: &[u8], ip: usize, ip_end: usize) -> bool {
    use std::fmt::Write;
    let Some(header) = Ipv6Header::new(d.get(ip..).unwrap_or(&[])) else {
        return false;
    };
    let (mut next, mut at) = (header.next_header(), ip + Ipv6Header::LEN);
    // Each header takes at least 8 bytes: the packet bounds the walk.
    while at < ip_end {
        let ext = ExtensionHeader::new(d.get(at..).unwrap_or(&[]), next);
        let (Some(following), Some(len)) = (ext.next_header(), ext.length_field()) else {
            return false;
        };
        match next {
            ip_protocol::HOPOPT | ip_protocol::DSTOPTS => {
                out.push_str(if next == ip_protocol::HOPOPT {
                    "HBH "
                } else {
                    "DSTOPT "
                });
            }
            ip_protocol::ROUTING => {
                let (Some(kind), Some(left)) = (ext.routing_type(), ext.segments_left()) else {
                    return false;
                };
                let deprecated = if kind == 0 { " [Deprecated]" } else { "" };
                let _ = write!(
                    out,
                    "RT6 (len={len}, type={kind}{deprecated}, segleft={left}) "
                );
            }
            ip_protocol::FRAGMENT => {
                // tcpdump reads the offset from the first 4 bytes, without the other 4.
                let Some(offset) = wire::be16(d, at + 2..at + 4).map(|word| word & !7) else {
                    return false;
                };
                let _ = write!(out, "frag ({offset}|{}) ", ip_end.saturating_sub(at + 8));
                if offset > 0 {
                    return true;
                }
            }
            _ => return false,
        }
        at += ext.header_len().unwrap_or(8);
        next = following;
    }
    false
}

/// Where the IP datagram ends according to its header (IPv4 total length, IPv6 payload
/// length), or the captured end when the header does not say.
fn ip_end(d: &[u8], packet: &IpPacket) -> usize {
    let at = packet.start;
    let header = d.get(at..).unwrap_or(&[]);
    let by_header = match packet.version {
        IpVersion::V4 => Ipv4Header::new(header).map(|h| at + h.total_len() as usize),
        IpVersion::V6 => Ipv6Header::new(header)
            .map(|h| h.payload_len())
            .filter(|&len| len != 0)
            .map(|len| at + Ipv6Header::LEN + len as usize),
    };
    by_header.unwrap_or(d.len())
}

/// `YYYY-MM-DD HH:MM:SS.uuuuuu` in the local time zone, as `tcpdump -tttt` prints it
/// (microseconds, truncated, as libpcap gives a nanosecond file to tcpdump).
fn local_time(out: &mut String, ns: i64) {
    use std::fmt::Write;
    let secs = ns.div_euclid(1_000_000_000);
    let micros = ns.rem_euclid(1_000_000_000) / 1_000;
    let t = secs as libc::time_t;
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r writes only into `tm`, which lives for the call.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok {
        let _ = write!(
            out,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{micros:06}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec
        );
    } else {
        let _ = write!(out, "{secs}.{micros:06}");
    }
}
