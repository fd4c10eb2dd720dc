//! The flow table held to Zeek's documented definitions (conn.log's `conn_state` and
//! `history`, the originator rules) and to nfstream's timeouts, one test per state, letter
//! and rule, on packets built here.

use super::observe::{Checksum, Fragment, Frame, Observation, TcpFields};
use super::table::{EndReason, Flow, FlowTable, Timeouts};
use crate::ip::Addr;
use crate::wire::ip_protocol::{ICMP, TCP, UDP};

const A: Addr = Addr::V4([10, 0, 0, 1]);
const B: Addr = Addr::V4([10, 0, 0, 2]);
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// Packets of one conversation between A:a_port and B:b_port, one per call, a millisecond
/// apart unless told.
struct Talk {
    frame: u64,
    time: i64,
    a_port: u16,
    b_port: u16,
    protocol: u8,
}

impl Talk {
    fn tcp(a_port: u16, b_port: u16) -> Self {
        Talk {
            frame: 0,
            time: 1_000_000_000,
            a_port,
            b_port,
            protocol: TCP,
        }
    }

    fn udp(a_port: u16, b_port: u16) -> Self {
        Talk {
            protocol: UDP,
            ..Talk::tcp(a_port, b_port)
        }
    }

    /// A packet from A (`from_a`) or B.
    fn packet(&mut self, from_a: bool, flags: u8, seq: u32, ack: u32, len: u32) -> Observation {
        self.frame += 1;
        self.time += 1_000_000;
        let (src, dst, sp, dp) = if from_a {
            (A, B, self.a_port, self.b_port)
        } else {
            (B, A, self.b_port, self.a_port)
        };
        let header = if self.protocol == TCP { 40 } else { 28 };
        Observation {
            time_ns: Some(self.time),
            frame: Frame {
                file: 0,
                number: self.frame,
            },
            src,
            dst,
            protocol: self.protocol,
            ports: Some((sp, dp)),
            icmp: None,
            vlan: None,
            tunnel_id: None,
            ip_len: header + len,
            payload_len: len,
            tcp: (self.protocol == TCP).then_some(TcpFields {
                flags,
                seq,
                ack,
                window: 1000,
            }),
            fragment: None,
            checksum: Checksum::Unchecked,
            app: None,
        }
    }
}

fn run(packets: &[Observation], timeouts: Timeouts) -> Vec<Flow> {
    let mut table = FlowTable::new(timeouts);
    for p in packets {
        table.add(p);
    }
    table.finish();
    let mut flows = table.with_ended(usize::MAX, |f| {
        f.iter().map(|&f| f.clone()).collect::<Vec<_>>()
    });
    flows.sort_by_key(|f| f.id);
    flows
}

fn off() -> Timeouts {
    Timeouts {
        idle_ns: None,
        active_ns: None,
    }
}

/// One flow from `packets`: (conn_state, history).
fn one(packets: &[Observation]) -> (&'static str, String) {
    let flows = run(packets, off());
    assert_eq!(flows.len(), 1, "{flows:#?}");
    (
        flows[0].conn.conn_state(),
        flows[0].conn.history().to_string(),
    )
}

/// SYN, SYN-ACK, ACK from a client port to 80.
fn handshake(t: &mut Talk) -> Vec<Observation> {
    vec![
        t.packet(true, SYN, 100, 0, 0),
        t.packet(false, SYN | ACK, 500, 101, 0),
        t.packet(true, ACK, 101, 501, 0),
    ]
}

#[test]
fn s0_attempt_without_reply() {
    let mut t = Talk::tcp(40000, 80);
    assert_eq!(one(&[t.packet(true, SYN, 100, 0, 0)]), ("S0", "S".into()));
}

#[test]
fn rej_attempt_rejected() {
    let mut t = Talk::tcp(40000, 80);
    let p = [
        t.packet(true, SYN, 100, 0, 0),
        t.packet(false, RST | ACK, 0, 101, 0),
    ];
    assert_eq!(one(&p), ("REJ", "Sr".into()));
}

#[test]
fn s1_established_not_closed() {
    let mut t = Talk::tcp(40000, 80);
    assert_eq!(one(&handshake(&mut t)), ("S1", "ShA".into()));
}

#[test]
fn sf_normal_establishment_and_termination() {
    let mut t = Talk::tcp(40000, 80);
    let mut p = handshake(&mut t);
    p.push(t.packet(true, PSH | ACK, 101, 501, 20));
    p.push(t.packet(false, ACK, 501, 121, 0));
    p.push(t.packet(false, PSH | ACK, 501, 121, 300));
    p.push(t.packet(true, FIN | ACK, 121, 801, 0));
    p.push(t.packet(false, FIN | ACK, 801, 122, 0));
    p.push(t.packet(true, ACK, 122, 802, 0));
    let flows = run(&p, off());
    assert_eq!(flows.len(), 1);
    let f = &flows[0];
    assert_eq!((f.conn.conn_state(), f.conn.history()), ("SF", "ShADadFf"));
    assert_eq!(f.end_reason, EndReason::Fin);
    assert_eq!((f.directions[0].packets, f.directions[1].packets), (5, 4));
    assert_eq!(
        (f.directions[0].payload_bytes, f.directions[1].payload_bytes),
        (20, 300)
    );
    assert_eq!(f.directions[0].bytes, 5 * 40 + 20);
    assert_eq!((f.first_frame.number, f.last_frame.number), (1, 9));
    assert_eq!(f.orig, (A, Some(40000)));
}

#[test]
fn s2_close_by_originator_only() {
    let mut t = Talk::tcp(40000, 80);
    let mut p = handshake(&mut t);
    p.push(t.packet(true, FIN | ACK, 101, 501, 0));
    assert_eq!(one(&p), ("S2", "ShAF".into()));
}

#[test]
fn s3_close_by_responder_only() {
    let mut t = Talk::tcp(40000, 80);
    let mut p = handshake(&mut t);
    p.push(t.packet(false, FIN | ACK, 501, 101, 0));
    assert_eq!(one(&p), ("S3", "ShAf".into()));
}

#[test]
fn rsto_originator_aborted() {
    let mut t = Talk::tcp(40000, 80);
    let mut p = handshake(&mut t);
    p.push(t.packet(true, RST, 101, 0, 0));
    let flows = run(&p, off());
    assert_eq!(
        (flows[0].conn.conn_state(), flows[0].conn.history()),
        ("RSTO", "ShAR")
    );
    assert_eq!(flows[0].end_reason, EndReason::Rst);
}

#[test]
fn rstr_responder_reset() {
    let mut t = Talk::tcp(40000, 80);
    let mut p = handshake(&mut t);
    p.push(t.packet(false, RST, 501, 0, 0));
    assert_eq!(one(&p), ("RSTR", "ShAr".into()));
}

#[test]
fn rstos0_syn_then_originator_reset() {
    let mut t = Talk::tcp(40000, 80);
    let p = [
        t.packet(true, SYN, 100, 0, 0),
        t.packet(true, RST, 101, 0, 0),
    ];
    assert_eq!(one(&p), ("RSTOS0", "SR".into()));
}

#[test]
fn rstrh_synack_then_responder_reset() {
    // The SYN-ACK comes from a likely server port: it is the responder from the start.
    let mut t = Talk::tcp(80, 40000);
    let p = [
        t.packet(true, SYN | ACK, 500, 101, 0),
        t.packet(true, RST, 501, 0, 0),
    ];
    let flows = run(&p, off());
    let f = &flows[0];
    assert_eq!((f.conn.conn_state(), f.conn.history()), ("RSTRH", "^hr"));
    assert_eq!(f.orig, (B, Some(40000)));
}

#[test]
fn sh_syn_then_fin_without_reply() {
    let mut t = Talk::tcp(40000, 80);
    let p = [
        t.packet(true, SYN, 100, 0, 0),
        t.packet(true, FIN, 101, 0, 0),
    ];
    assert_eq!(one(&p), ("SH", "SF".into()));
}

#[test]
fn shr_synack_then_fin_from_responder() {
    let mut t = Talk::tcp(80, 40000);
    let p = [
        t.packet(true, SYN | ACK, 500, 101, 0),
        t.packet(true, FIN | ACK, 501, 101, 0),
    ];
    assert_eq!(one(&p), ("SHR", "^hf".into()));
}

#[test]
fn oth_midstream_traffic() {
    let mut t = Talk::tcp(40000, 50000);
    let p = [
        t.packet(true, ACK | PSH, 100, 500, 10),
        t.packet(false, ACK, 500, 110, 0),
    ];
    assert_eq!(one(&p), ("OTH", "Da".into()));
}

#[test]
fn retransmitted_syn_is_one_letter_and_one_flow() {
    let mut t = Talk::tcp(40000, 80);
    let p = [
        t.packet(true, SYN, 100, 0, 0),
        t.packet(true, SYN, 100, 0, 0),
    ];
    assert_eq!(one(&p), ("S0", "S".into()));
}

#[test]
fn retransmissions_on_a_log10_scale() {
    let mut t = Talk::tcp(40000, 80);
    let mut p = handshake(&mut t);
    p.push(t.packet(true, ACK, 101, 501, 10));
    for _ in 0..10 {
        p.push(t.packet(true, ACK, 101, 501, 10));
    }
    // The 1st and the 10th retransmission each record a T.
    assert_eq!(one(&p), ("S1", "ShADTT".into()));
}

#[test]
fn zero_window_and_multi_flags() {
    let mut t = Talk::tcp(40000, 80);
    let mut p = handshake(&mut t);
    let mut zero = t.packet(false, ACK, 501, 101, 0);
    zero.tcp.as_mut().unwrap().window = 0;
    p.push(zero);
    p.push(t.packet(true, FIN | RST, 101, 501, 0));
    // update_history (a) runs before update_window (w), as in Zeek.
    assert_eq!(one(&p).1, "ShAawI");
    let mut t = Talk::tcp(40000, 80);
    assert_eq!(one(&[t.packet(true, SYN | FIN, 100, 0, 0)]).1, "Q");
}

#[test]
fn new_connection_on_syn_after_close() {
    let mut t = Talk::tcp(40000, 80);
    let mut p = handshake(&mut t);
    p.push(t.packet(true, FIN | ACK, 101, 501, 0));
    p.push(t.packet(false, FIN | ACK, 501, 102, 0));
    p.push(t.packet(true, SYN, 9000, 0, 0));
    let flows = run(&p, off());
    assert_eq!(flows.len(), 2);
    assert_eq!(
        (flows[0].conn.conn_state(), flows[0].end_reason),
        ("SF", EndReason::Fin)
    );
    assert_eq!(
        (flows[1].conn.conn_state(), flows[1].first_frame.number),
        ("S0", 6)
    );
    assert_ne!(flows[0].id, flows[1].id);
}

#[test]
fn udp_orientation_follows_likely_server_ports() {
    // A reply from port 53 seen first: the client is the originator, `^` says so.
    let mut t = Talk::udp(53, 40000);
    let flows = run(
        &[t.packet(true, 0, 0, 0, 30), t.packet(false, 0, 0, 0, 20)],
        off(),
    );
    let f = &flows[0];
    assert_eq!((f.orig, f.resp), ((B, Some(40000)), (A, Some(53))));
    assert_eq!((f.conn.conn_state(), f.conn.history()), ("SF", "^dD"));
    assert_eq!(f.directions[0].payload_bytes, 20);
    // Both likely server ports: UDP never turns.
    let mut t = Talk::udp(53, 123);
    assert_eq!(
        run(&[t.packet(true, 0, 0, 0, 1)], off())[0].orig,
        (A, Some(53))
    );
    // Neither: the first sender.
    let mut t = Talk::udp(40000, 50000);
    assert_eq!(one(&[t.packet(true, 0, 0, 0, 1)]), ("S0", "D".into()));
}

#[test]
fn udp_never_turns_towards_broadcast() {
    let mut t = Talk::udp(67, 68);
    let mut p = t.packet(true, 0, 0, 0, 300);
    p.dst = Addr::V4([255; 4]);
    assert_eq!(run(&[p], off())[0].orig, (A, Some(67)));
}

#[test]
fn tcp_orientation_rules() {
    // Data from a likely server port first: turned.
    let mut t = Talk::tcp(443, 50000);
    assert_eq!(
        run(&[t.packet(true, ACK, 1, 1, 10)], off())[0].orig,
        (B, Some(50000))
    );
    // Both likely server ports, no SYN: the lower source port is the responder.
    let mut t = Talk::tcp(80, 443);
    assert_eq!(
        run(&[t.packet(true, ACK, 1, 1, 10)], off())[0].orig,
        (B, Some(443))
    );
    let mut t = Talk::tcp(443, 80);
    assert_eq!(
        run(&[t.packet(true, ACK, 1, 1, 10)], off())[0].orig,
        (A, Some(443))
    );
    // Both, and a SYN-ACK: never turned at creation.
    let mut t = Talk::tcp(80, 443);
    assert_eq!(
        run(&[t.packet(true, SYN | ACK, 1, 1, 0)], off())[0].orig,
        (A, Some(80))
    );
    // A bare SYN is never turned.
    let mut t = Talk::tcp(80, 40000);
    assert_eq!(
        run(&[t.packet(true, SYN, 1, 0, 0)], off())[0].orig,
        (A, Some(80))
    );
}

#[test]
fn synack_first_turns_at_the_first_ack() {
    let mut t = Talk::tcp(5000, 40000);
    let p = [
        t.packet(true, SYN | ACK, 500, 101, 0),
        t.packet(false, ACK, 101, 501, 0),
    ];
    let flows = run(&p, off());
    let f = &flows[0];
    assert_eq!((f.conn.conn_state(), f.conn.history()), ("S1", "^hA"));
    assert_eq!(f.orig, (B, Some(40000)));
    assert_eq!((f.directions[0].packets, f.directions[1].packets), (1, 1));
    assert_eq!(f.directions[1].tcp_flags, SYN | ACK);
}

#[test]
fn icmp_keyed_by_type_and_counterpart() {
    let icmp = |from_a: bool, t: u8, code: u8, n: u64| Observation {
        time_ns: Some(n as i64),
        frame: Frame { file: 0, number: n },
        src: if from_a { A } else { B },
        dst: if from_a { B } else { A },
        protocol: ICMP,
        ports: None,
        icmp: Some((t, code)),
        vlan: None,
        tunnel_id: None,
        ip_len: 84,
        payload_len: 60,
        tcp: None,
        fragment: None,
        checksum: Checksum::Unchecked,
        app: None,
    };
    let flows = run(
        &[
            icmp(true, 8, 0, 1),
            icmp(false, 0, 0, 2),
            icmp(false, 3, 1, 3),
        ],
        off(),
    );
    assert_eq!(flows.len(), 2);
    assert_eq!((flows[0].orig, flows[0].resp), ((A, Some(8)), (B, Some(0))));
    assert_eq!(flows[0].directions[1].packets, 1);
    assert_eq!((flows[1].orig, flows[1].resp), ((B, Some(3)), (A, Some(1))));
    assert_eq!(
        (flows[0].conn.conn_state(), flows[0].conn.history()),
        ("OTH", "")
    );
}

#[test]
fn idle_and_active_timeouts() {
    let secs = 1_000_000_000;
    let mut t = Talk::udp(40000, 50000);
    let mut p: Vec<Observation> = (0..4).map(|_| t.packet(true, 0, 0, 0, 1)).collect();
    // Gaps after the first packet: 9.999 s, exactly 10 s (idle: >= ends), 20 s.
    p[1].time_ns = Some(p[0].time_ns.unwrap() + 10 * secs - 1_000_000);
    p[2].time_ns = Some(p[1].time_ns.unwrap() + 10 * secs);
    p[3].time_ns = Some(p[2].time_ns.unwrap() + 20 * secs);
    let idle = Timeouts {
        idle_ns: Some(10 * secs),
        active_ns: None,
    };
    let flows = run(&p, idle);
    let counts: Vec<u64> = flows.iter().map(|f| f.directions[0].packets).collect();
    assert_eq!(counts, [2, 1, 1]);
    assert_eq!(flows[0].end_reason, EndReason::Idle);
    assert_eq!(flows[2].end_reason, EndReason::EndOfCapture);
    // Active: cut at 15 s after the first packet, whatever the gaps.
    let mut t = Talk::udp(40000, 50000);
    let p: Vec<Observation> = (0..5)
        .map(|i| {
            let mut o = t.packet(true, 0, 0, 0, 1);
            o.time_ns = Some(i * 5 * secs);
            o
        })
        .collect();
    let active = Timeouts {
        idle_ns: Some(10 * secs),
        active_ns: Some(15 * secs),
    };
    let flows = run(&p, active);
    let counts: Vec<u64> = flows.iter().map(|f| f.directions[0].packets).collect();
    assert_eq!(counts, [3, 2]);
    assert_eq!(flows[0].end_reason, EndReason::Active);
}

#[test]
fn a_fragmented_datagram_counts_once_at_its_length() {
    let mut t = Talk::udp(40000, 50000);
    let mut first = t.packet(true, 0, 0, 0, 1472);
    first.ip_len = 1500;
    first.fragment = Some(Fragment {
        ident: 7,
        offset: 0,
        more: true,
        header_len: 20,
        data_len: 1480,
    });
    let mut second = t.packet(true, 0, 0, 0, 0);
    second.ports = None;
    second.ip_len = 520;
    second.fragment = Some(Fragment {
        ident: 7,
        offset: 1480,
        more: false,
        header_len: 20,
        data_len: 500,
    });
    let flows = run(&[first, second], off());
    assert_eq!(flows.len(), 1);
    let d = &flows[0].directions[0];
    assert_eq!((d.packets, d.bytes), (1, 20 + 1480 + 500));
    assert_eq!(flows[0].last_frame.number, 2);
}

#[test]
fn a_datagram_split_by_a_late_turn_counts_on_its_senders_side() {
    // A connection first seen by its SYN-ACK from A; A then sends the SYN-ACK again (same
    // sequence number: no letter) as a fragmented datagram, whose first piece comes before
    // B's ACK turns the connection and whose second piece comes after.
    let mut t = Talk::tcp(5000, 40000);
    let synack = t.packet(true, SYN | ACK, 500, 101, 0);
    let mut first = t.packet(true, SYN | ACK, 500, 101, 1460);
    first.fragment = Some(Fragment {
        ident: 9,
        offset: 0,
        more: true,
        header_len: 20,
        data_len: 1480,
    });
    let ack = t.packet(false, ACK, 101, 501, 0);
    let mut second = t.packet(true, 0, 0, 0, 0);
    second.ports = None;
    second.tcp = None;
    second.fragment = Some(Fragment {
        ident: 9,
        offset: 1480,
        more: false,
        header_len: 20,
        data_len: 300,
    });
    let mut table = FlowTable::new(off());
    let placed: Vec<_> = [synack, first, ack, second]
        .iter()
        .map(|p| table.add(p).unwrap())
        .collect();
    assert_eq!(
        placed.iter().map(|p| p.turned).collect::<Vec<_>>(),
        [false, false, true, false]
    );
    table.finish();
    let flows = table.with_ended(usize::MAX, |f| {
        f.iter().map(|&f| f.clone()).collect::<Vec<_>>()
    });
    let f = &flows[0];
    // Turned: B is the originator, and every packet of A counts on the responder's side.
    assert_eq!(f.orig, (B, Some(40000)));
    assert_eq!(f.directions[1].bytes, 40 + (40 + 1460) + 300);
    assert_eq!((f.directions[0].packets, f.directions[1].packets), (1, 2));
    // The second piece went the responder's way, as its first did after the turn.
    assert_eq!(placed[3].role, super::conn::Role::Resp);
}

#[test]
fn bad_checksums_count_as_zeek_counts_them() {
    let bad = |mut o: Observation| {
        o.checksum = Checksum::BadTransport;
        o
    };
    // TCP: the bad packets record C/c (at the 1st and 10th) and count nothing else.
    let mut t = Talk::tcp(40000, 80);
    let mut p = handshake(&mut t);
    for _ in 0..10 {
        p.push(bad(t.packet(true, ACK | PSH, 101, 501, 100)));
    }
    p.push(bad(t.packet(false, ACK, 501, 101, 0)));
    let flows = run(&p, off());
    let f = &flows[0];
    assert_eq!(f.conn.history(), "ShACCc");
    assert_eq!((f.directions[0].packets, f.directions[1].packets), (2, 1));
    assert_eq!(f.directions[0].payload_bytes, 0);
    assert_eq!(f.last_frame.number, 3);
    // UDP: counted in packets and IP bytes, no D, no payload bytes.
    let mut t = Talk::udp(40000, 50000);
    let p = [
        t.packet(true, 0, 0, 0, 10),
        bad(t.packet(false, 0, 0, 0, 20)),
    ];
    let f = &run(&p, off())[0];
    assert_eq!(f.conn.history(), "Dc");
    assert_eq!((f.directions[1].packets, f.directions[1].bytes), (1, 48));
    assert_eq!(f.directions[1].payload_bytes, 0);
    // A wrong IPv4 header checksum: no flow at all.
    let mut t = Talk::udp(40000, 50000);
    let mut o = t.packet(true, 0, 0, 0, 10);
    o.checksum = Checksum::BadIp;
    assert!(run(&[o], off()).is_empty());
}
