//! Zeek's connection rules (Zeek's `base/protocols/conn` and TCP analyzer, as written down
//! in the README's "Flows"): which side is the originator, each TCP endpoint's state, the
//! `history` letters and the `conn_state` they add up to, and when a 5-tuple starts a new
//! connection. A rule here is a rule of Zeek's; where we differ, the README says so.

use super::observe::Observation;
use super::table::{EndReason, Endpoints};
use crate::community_id::{icmp_ports as id_icmp_ports, ICMPV6_PAIRS, ICMP_PAIRS};
use crate::ip::Addr;
use crate::wire::ip_protocol::{ICMPV6, TCP, UDP};

/// Which side of a flow a packet came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Orig = 0,
    Resp = 1,
}

impl Role {
    pub fn other(self) -> Role {
        match self {
            Role::Orig => Role::Resp,
            Role::Resp => Role::Orig,
        }
    }
}

/// The "ports" of an ICMP message as Zeek keys ICMP connections: the message's type, and
/// its counterpart's type for a request or reply, else its code.
pub fn icmp_ports(protocol: u8, msg_type: u8, code: u8) -> (u16, u16) {
    let pairs: &[(u8, u8)] = if protocol == ICMPV6 {
        &ICMPV6_PAIRS
    } else {
        &ICMP_PAIRS
    };
    let (a, b, _) = id_icmp_ports(pairs, msg_type, code);
    (a, b)
}

/// Zeek's `likely_server_ports` (`../shared/reference/zeek_likely_server_ports.txt`).
const TCP_SERVER_PORTS: [u16; 49] = [
    21, 22, 25, 53, 79, 80, 81, 88, 135, 139, 143, 389, 443, 445, 465, 502, 514, 563, 585, 587,
    614, 631, 636, 989, 990, 992, 993, 995, 1080, 1434, 1883, 2811, 3128, 3268, 3306, 3389, 5222,
    5223, 5269, 5432, 6379, 6666, 6667, 6668, 6669, 8000, 8080, 8888, 20000,
];
const UDP_SERVER_PORTS: [u16; 24] = [
    53, 67, 88, 123, 137, 161, 162, 389, 443, 514, 1812, 2123, 2152, 3389, 3544, 4011, 4754, 4789,
    5060, 5072, 5353, 5355, 6081, 20000,
];

fn likely_server(protocol: u8, port: u16) -> bool {
    match protocol {
        TCP => TCP_SERVER_PORTS.contains(&port),
        UDP => UDP_SERVER_PORTS.contains(&port),
        _ => false,
    }
}

fn is_broadcast(a: &Addr) -> bool {
    matches!(a, Addr::V4(b) if *b == [255; 4])
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// Whether the first packet's receiver is the originator (Zeek's `WantConnection` flip):
/// TCP, when the packet is not a bare SYN and its source port is a likely server port and
/// the destination port is not, or both are, the packet has no SYN and its source port is
/// the lower; UDP, when only the source port is one. Never towards 255.255.255.255.
pub fn originator_is_responder(obs: &Observation, ends: &Endpoints) -> bool {
    let Some((sp, dp)) = obs.ports else {
        return false;
    };
    if is_broadcast(&ends.dst) {
        return false;
    }
    match obs.protocol {
        TCP => {
            let Some(tcp) = obs.tcp else {
                return false;
            };
            let flags = tcp.flags;
            if flags & SYN != 0 && flags & ACK == 0 {
                return false;
            }
            match (likely_server(TCP, sp), likely_server(TCP, dp)) {
                (true, false) => true,
                (true, true) => flags & SYN == 0 && sp < dp,
                _ => false,
            }
        }
        UDP => likely_server(UDP, sp) && !likely_server(UDP, dp),
        _ => false,
    }
}

/// A TCP endpoint's state, Zeek's `TCP_ENDPOINT_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointState {
    Inactive,
    SynSent,
    SynAckSent,
    Partial,
    Established,
    Closed,
    Reset,
}

// Zeek's per-role history bits.
const MARK_SYN: u16 = 0x1;
const MARK_FIN: u16 = 0x2;
const MARK_RST: u16 = 0x4;
const MARK_FIN_RST: u16 = 0x8;
const MARK_DATA: u16 = 0x10;
const MARK_ACK: u16 = 0x20;
const MARK_MULTI: u16 = 0x40;

/// One TCP endpoint as Zeek's `TCP_Endpoint` keeps it (sequence numbers as written; only
/// their differences are used).
#[derive(Debug, Clone, Copy)]
struct Endpoint {
    state: EndpointState,
    prev_state: EndpointState,
    did_close: bool,
    start_seq: u32,
    last_seq: u32,
    /// The highest acknowledgment the peer sent for this endpoint's data.
    ack_seq: Option<u32>,
    fins: u32,
    /// History bits seen for this role, and the sequence numbers S/H, F and R were last
    /// recorded at.
    seen: u16,
    last_syn: u32,
    last_fin: u32,
    last_rst: u32,
    /// Counters of the log-10 letters T and W, and where each records its letter next.
    retransmits: Scaled,
    zero_windows: Scaled,
}

impl Default for Endpoint {
    fn default() -> Self {
        Endpoint {
            state: EndpointState::Inactive,
            prev_state: EndpointState::Inactive,
            did_close: false,
            start_seq: 0,
            last_seq: 0,
            ack_seq: None,
            fins: 0,
            seen: 0,
            last_syn: 0,
            last_fin: 0,
            last_rst: 0,
            retransmits: Scaled::default(),
            zero_windows: Scaled::default(),
        }
    }
}

impl Endpoint {
    fn set_state(&mut self, state: EndpointState) {
        if state != self.state {
            self.prev_state = self.state;
            self.state = state;
        }
    }

    /// Zeek's `TCP_Endpoint::Size`: bytes by sequence numbers, SYN and FIN not counted.
    fn size(&self, peer: &Endpoint) -> u64 {
        let acked = self
            .ack_seq
            .map_or(0, |a| a.wrapping_sub(self.start_seq) as u64);
        if self.prev_state == EndpointState::SynSent
            && self.state == EndpointState::Reset
            && peer.state == EndpointState::Inactive
            && acked > 1
        {
            return 0;
        }
        let mut size = (self.last_seq.wrapping_sub(self.start_seq) as u64).max(acked);
        size = size.saturating_sub(1);
        if self.fins > 0 && size != 0 {
            size -= 1;
        }
        size
    }
}

/// A letter recorded at the 1st, 10th, 100th, ... event (Zeek's `ScaledHistoryEntry`).
#[derive(Debug, Clone, Copy)]
struct Scaled {
    count: u32,
    next: u32,
}

impl Default for Scaled {
    fn default() -> Self {
        Scaled { count: 0, next: 1 }
    }
}

impl Scaled {
    /// Count one event; true when its letter is recorded.
    fn hit(&mut self) -> bool {
        self.count += 1;
        if self.count == self.next {
            self.next = self.next.saturating_mul(10);
            true
        } else {
            false
        }
    }
}

/// A connection's Zeek state.
#[derive(Debug, Clone)]
pub struct Conn {
    protocol: u8,
    /// `[originator, responder]`.
    ends: [Endpoint; 2],
    history: String,
    /// Whether a packet came from each side (UDP's `UDP_ACTIVE`).
    sent: [bool; 2],
    /// Packets with a wrong checksum from each side (the log-10 letter C).
    checksum_errors: [Scaled; 2],
}

impl Conn {
    pub fn new(protocol: u8) -> Self {
        Conn {
            protocol,
            ends: [Endpoint::default(); 2],
            history: String::new(),
            sent: [false; 2],
            checksum_errors: [Scaled::default(); 2],
        }
    }

    /// A packet from `role` with a wrong checksum (Zeek's `ChecksumError`, UDP's
    /// `HandleBadChecksum`): `C`/`c` at the 1st, 10th, 100th, ...
    pub fn checksum_error(&mut self, role: Role) {
        if self.checksum_errors[role as usize].hit() {
            self.letter(role, 'C');
        }
    }

    pub fn history(&self) -> &str {
        &self.history
    }

    /// Zeek's `FlipRoles`: the endpoints change roles and `^` is recorded. The history's
    /// letters stay as written; the per-role seen-bits stay with the role.
    pub fn flip(&mut self) {
        let (a, b) = (self.ends[0], self.ends[1]);
        self.ends = [
            Endpoint { seen: a.seen, ..b },
            Endpoint { seen: b.seen, ..a },
        ];
        self.sent.swap(0, 1);
        self.checksum_errors.swap(0, 1);
        self.history.push('^');
    }

    /// Whether this packet shows the roles are the wrong way round: a connection first
    /// seen by its SYN-ACK, not turned when it was made, turns at the first ACK or data
    /// packet from the SYN-ACK's receiver (Zeek 5.1 and later, #2191).
    pub fn should_flip(&self, role: Role, obs: &Observation) -> bool {
        if self.protocol != TCP || role != Role::Resp || self.sent[1] {
            return false;
        }
        let Some(tcp) = obs.tcp else {
            return false;
        };
        let first = &self.ends[0];
        first.state == EndpointState::SynAckSent
            && first.prev_state == EndpointState::Inactive
            && self.history.chars().all(|c| c == 'H')
            && tcp.flags & (SYN | FIN | RST) == 0
            && (tcp.flags & ACK != 0 || obs.payload_len > 0)
    }

    /// After `flip` for `should_flip`: made as if the connection had been turned when it
    /// was made (`^` first, the SYN-ACK the responder's, which establishes it), as Zeek's
    /// turn at creation would have it.
    pub fn turned_late(&mut self) {
        let letters: String = self
            .history
            .chars()
            .filter(|&c| c != '^')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        self.history = format!("^{letters}");
        let (o, r) = (self.ends[0].seen, self.ends[1].seen);
        self.ends[0].seen = r;
        self.ends[1].seen = o;
        self.ends[1].state = EndpointState::Established;
        self.ends[1].prev_state = EndpointState::Inactive;
    }

    /// Zeek's `IsReuse`: whether this packet, on a live connection's 5-tuple, starts a new
    /// connection. A SYN does, after a close or reset, or with a sequence number other
    /// than the connection's first (not a retransmission); a SYN-ACK only while the
    /// originator has sent nothing. The old connection ended by FIN or RST, or else was
    /// `Reused`.
    pub fn reused_by(&self, obs: &Observation) -> Option<EndReason> {
        if self.protocol != TCP {
            return None;
        }
        let tcp = obs.tcp?;
        if tcp.flags & SYN == 0 {
            return None;
        }
        let [orig, resp] = &self.ends;
        let conn_orig = if tcp.flags & ACK != 0 {
            if orig.state != EndpointState::Inactive {
                return None;
            }
            resp
        } else {
            orig
        };
        if !(orig.did_close || resp.did_close) {
            if tcp.seq == conn_orig.start_seq {
                return None;
            }
            if tcp.flags & ACK == 0
                && conn_orig.state == EndpointState::SynAckSent
                && resp.state == EndpointState::Inactive
                && tcp.seq == resp.start_seq
            {
                return None;
            }
        }
        Some(self.closed().unwrap_or(EndReason::Reused))
    }

    /// How the TCP connection closed, if it did: a reset by either side, or a FIN from both.
    pub fn closed(&self) -> Option<EndReason> {
        if self.protocol != TCP {
            return None;
        }
        let [o, r] = [self.ends[0].state, self.ends[1].state];
        if o == EndpointState::Reset || r == EndpointState::Reset {
            Some(EndReason::Rst)
        } else if o == EndpointState::Closed && r == EndpointState::Closed {
            Some(EndReason::Fin)
        } else {
            None
        }
    }

    fn letter(&mut self, role: Role, upper: char) {
        self.history.push(if role == Role::Orig {
            upper
        } else {
            upper.to_ascii_lowercase()
        });
    }

    /// Zeek's `CheckHistory`: record the letter the first time this role shows it;
    /// true when it was already seen.
    fn check(&mut self, role: Role, mark: u16, upper: char) -> bool {
        let seen = &mut self.ends[role as usize].seen;
        if *seen & mark == 0 {
            *seen |= mark;
            self.letter(role, upper);
            false
        } else {
            true
        }
    }

    /// Update the state with one packet from `role`.
    pub fn update(&mut self, role: Role, obs: &Observation) {
        match self.protocol {
            TCP => {
                if let Some(tcp) = obs.tcp {
                    self.update_tcp(
                        role,
                        tcp.flags,
                        tcp.seq,
                        tcp.ack,
                        tcp.window,
                        obs.payload_len,
                    );
                }
            }
            UDP => {
                // Zeek records D/d on every datagram, empty ones too.
                self.check(role, if role == Role::Orig { 0x1 } else { 0x2 }, 'D');
            }
            _ => {}
        }
        self.sent[role as usize] = true;
    }

    fn update_tcp(&mut self, role: Role, flags: u8, seq: u32, ack: u32, window: u16, len: u32) {
        use EndpointState::*;
        let i = role as usize;
        let p = 1 - i;
        let seg_len = if flags & RST != 0 { 0 } else { len }
            + (flags & SYN != 0) as u32
            + (flags & FIN != 0) as u32;
        let seg_end = seq.wrapping_add(seg_len);
        // Sequence bootstrap (Zeek's init_endpoint).
        let ep = &mut self.ends[i];
        match ep.state {
            Inactive if flags & SYN != 0 => {
                ep.start_seq = seq;
                ep.last_seq = seg_end;
            }
            Inactive => {
                ep.start_seq = seq.wrapping_sub(1);
                ep.last_seq = seq;
            }
            SynSent | SynAckSent if flags & SYN != 0 && seq != ep.start_seq => {
                ep.start_seq = seq;
                ep.last_seq = seg_end;
            }
            Established | Partial if flags & SYN != 0 => {
                ep.start_seq = seq;
                ep.last_seq = seg_end;
            }
            Reset if flags & SYN != 0 && ep.prev_state == Inactive => {
                ep.start_seq = seq;
                ep.last_seq = seg_end;
            }
            _ => {}
        }
        let rel = seq.wrapping_sub(self.ends[i].start_seq);
        self.update_history(role, flags, rel, len);
        // Zero window (Zeek's update_window; the scale does not change a zero).
        if window == 0
            && flags & RST == 0
            && self.ends[p].state != Closed
            && self.ends[i].state != Reset
            && self.ends[i].zero_windows.hit()
        {
            self.letter(role, 'W');
        }
        if flags & FIN != 0 {
            self.ends[i].fins += 1;
        }
        if flags & ACK != 0 {
            let peer = &mut self.ends[p];
            if peer.state == Inactive {
                // Zeek's init_peer: the acknowledgment says where the silent side began.
                let at = ack.wrapping_sub(1);
                (peer.start_seq, peer.last_seq, peer.ack_seq) = (at, at, Some(at));
            } else if flags & RST == 0 {
                let newer = peer
                    .ack_seq
                    .is_none_or(|a| (ack.wrapping_sub(a) as i32) > 0);
                if newer {
                    peer.ack_seq = Some(ack);
                }
            }
        }
        // Zeek's update_last_seq: data at or below the furthest sent is a retransmission.
        let ep = &mut self.ends[i];
        let delta = seg_end.wrapping_sub(ep.last_seq) as i32;
        if flags & (SYN | RST) != 0 && delta.unsigned_abs() > 1 << 20 {
        } else if flags & FIN != 0 && ep.last_seq == ep.start_seq.wrapping_add(1) {
            ep.last_seq = seg_end;
        } else if ep.state == Reset {
        } else if delta > 0 {
            ep.last_seq = seg_end;
        } else if len > 0 && ep.retransmits.hit() {
            self.letter(role, 'T');
        }
        self.step_state(role, flags, seq, len);
    }

    /// Zeek's `update_history`, before the state changes.
    fn update_history(&mut self, role: Role, flags: u8, rel: u32, len: u32) {
        let i = role as usize;
        let bits = (flags & SYN != 0) as u8 + (flags & FIN != 0) as u8 + (flags & RST != 0) as u8;
        if bits > 1 {
            if flags & FIN != 0 && flags & RST != 0 {
                self.check(role, MARK_FIN_RST, 'I');
            } else {
                self.check(role, MARK_MULTI, 'Q');
            }
        } else if flags & SYN != 0 {
            let code = if flags & ACK != 0 { 'H' } else { 'S' };
            if self.check(role, MARK_SYN, code) && rel != self.ends[i].last_syn {
                self.letter(role, code);
            }
            self.ends[i].last_syn = rel;
        } else if flags & FIN != 0 {
            let at = rel.wrapping_add(len);
            if self.check(role, MARK_FIN, 'F') && at != self.ends[i].last_fin {
                self.letter(role, 'F');
            }
            self.ends[i].last_fin = at;
        } else if flags & RST != 0 {
            if self.check(role, MARK_RST, 'R') && rel != self.ends[i].last_rst {
                self.letter(role, 'R');
            }
            self.ends[i].last_rst = rel;
        } else if len > 0 {
            self.check(role, MARK_DATA, 'D');
        } else if flags & ACK != 0 {
            self.check(role, MARK_ACK, 'A');
        }
    }

    /// Zeek's `UpdateStateMachine`: dispatch on the sender's state.
    fn step_state(&mut self, role: Role, flags: u8, seq: u32, len: u32) {
        use EndpointState::*;
        let i = role as usize;
        let p = 1 - i;
        let is_orig = role == Role::Orig;
        let mut do_close = false;
        match self.ends[i].state {
            Inactive => {
                if flags & SYN != 0 {
                    if is_orig {
                        let s = if flags & ACK != 0 {
                            SynAckSent
                        } else {
                            SynSent
                        };
                        self.ends[i].set_state(s);
                    } else {
                        if flags & ACK == 0
                            && self.ends[p].state == SynAckSent
                            && seq == self.ends[i].start_seq
                        {
                            // A SYN answering a SYN-ACK seen first: the roles were reversed.
                            self.flip();
                            self.ends[i].set_state(Established);
                            self.ends[p].set_state(Established);
                            return;
                        }
                        if self.ends[p].state == SynSent {
                            self.ends[p].set_state(Established);
                        }
                        self.ends[i].set_state(Established);
                    }
                }
                do_close |= self.fin_or_rst(i, flags);
                if self.ends[i].state == Inactive {
                    if !is_orig && len == 0 && self.ends[p].state == SynSent {
                        // A bare ACK to a SYN before any SYN-ACK is ignored.
                    } else if flags & ACK != 0 && self.ends[p].state == Established {
                        self.ends[i].set_state(Established);
                    } else {
                        self.ends[i].set_state(Partial);
                    }
                }
            }
            SynSent | SynAckSent => {
                do_close |= self.fin_or_rst(i, flags);
            }
            Established | Partial => {
                if flags & SYN != 0
                    && flags & ACK == 0
                    && self.ends[i].state == Partial
                    && self.ends[p].state == Inactive
                {
                    self.ends[i].set_state(SynSent);
                }
                if flags & FIN != 0 && flags & RST == 0 {
                    self.ends[i].set_state(Closed);
                    if self.ends[p].state == Reset && self.ends[p].prev_state == Closed {
                        self.ends[p].set_state(Closed);
                    }
                    do_close = true;
                }
                if flags & RST != 0 {
                    self.ends[i].set_state(Reset);
                    do_close = true;
                }
            }
            Closed => {
                if flags & RST != 0 && self.ends[p].state != Closed {
                    self.ends[i].set_state(Reset);
                    do_close = !self.ends[i].did_close;
                }
            }
            Reset => {}
        }
        if do_close {
            self.ends[i].did_close = true;
        }
    }

    /// A FIN closes the sender, a RST resets it (a RST wins over a FIN); true when either
    /// was there (Zeek's `do_close`).
    fn fin_or_rst(&mut self, i: usize, flags: u8) -> bool {
        if flags & FIN != 0 {
            self.ends[i].set_state(EndpointState::Closed);
        }
        if flags & RST != 0 {
            self.ends[i].set_state(EndpointState::Reset);
        }
        flags & (FIN | RST) != 0
    }

    /// Zeek's `conn_state` for the connection as it stands.
    pub fn conn_state(&self) -> &'static str {
        use EndpointState::*;
        match self.protocol {
            TCP => {
                let (o, r) = (&self.ends[0], &self.ends[1]);
                let (os, rs) = (o.state, r.state);
                let o_inactive = matches!(os, Inactive | Partial);
                let r_inactive = matches!(rs, Inactive | Partial);
                if rs == Reset {
                    if matches!(os, SynSent | SynAckSent)
                        || (os == Reset && o.size(r) == 0 && r.size(o) == 0)
                    {
                        "REJ"
                    } else if o_inactive {
                        "RSTRH"
                    } else {
                        "RSTR"
                    }
                } else if os == Reset {
                    if r_inactive {
                        if rstos0_history(&self.history) {
                            "RSTOS0"
                        } else {
                            "OTH"
                        }
                    } else {
                        "RSTO"
                    }
                } else if rs == Closed && os == Closed {
                    "SF"
                } else if os == Closed {
                    if r_inactive {
                        "SH"
                    } else {
                        "S2"
                    }
                } else if rs == Closed {
                    if o_inactive {
                        "SHR"
                    } else {
                        "S3"
                    }
                } else if os == SynSent && rs == Inactive {
                    "S0"
                } else if os == Established && rs == Established {
                    "S1"
                } else {
                    "OTH"
                }
            }
            UDP => match self.sent {
                [true, true] => "SF",
                [true, false] => "S0",
                [false, true] => "SHR",
                [false, false] => "OTH",
            },
            _ => "OTH",
        }
    }
}

/// Zeek's `/\^?S[^HAFGIQ]*R.*/` on the history (the whole string).
fn rstos0_history(h: &str) -> bool {
    let h = h.strip_prefix('^').unwrap_or(h);
    let Some(rest) = h.strip_prefix('S') else {
        return false;
    };
    for c in rest.chars() {
        match c {
            'R' => return true,
            'H' | 'A' | 'F' | 'G' | 'I' | 'Q' => return false,
            _ => {}
        }
    }
    false
}
