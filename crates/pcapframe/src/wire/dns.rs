//! DNS messages (RFC 1035; mDNS and LLMNR use the same format): a view over a message's
//! header, names read through compression pointers, and a `Repr` of what the DNS columns
//! hold: the header's fields, the first question, and the answer section as text.
//!
//! Every count, length and pointer in a message is written by whoever sent it, so reading
//! is bounded by the message itself: a pointer must point before itself (as RFC 1035 §4.1.4
//! has it: "a prior occurrence"), which makes loops impossible and a name's reading at most
//! one pass over the bytes before it; a name is at most 255 bytes on the wire, and the text
//! of one message's answers at most `MAX_ANSWER_TEXT`. Anything past the end, or beyond
//! these bounds, makes the field missing (`None`), never partial: a list of answers that
//! stops early would be a wrong answer, not a shorter one.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{be16, be32, push_display_text, Field};

mod field {
    use super::Field;
    pub const ID: Field = 0..2;
    pub const FLAGS: Field = 2..4;
    pub const QDCOUNT: Field = 4..6;
    pub const ANCOUNT: Field = 6..8;
}

/// The ports whose UDP and TCP payloads are read as DNS (tshark's `dns`, `mdns` and
/// `llmnr`, which share its fields).
pub const PORTS: [u16; 3] = [53, MDNS_PORT, 5355];
pub const MDNS_PORT: u16 = 5353;

/// The most bytes a name takes on the wire (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;

/// The most pointers one name may follow: as many as a name can have labels (each pointer
/// of a sensible compressor skips at least one). Without a bound, a chain of pointers
/// each pointing at the one before would make every name of a message walk all of them.
pub const MAX_POINTERS: usize = 127;

/// The most text one message's answers may make: pointers let a 64 KiB message name the
/// same 255-byte name thousands of times; past this the answers are missing.
pub const MAX_ANSWER_TEXT: usize = 1 << 20;

/// How tshark writes the root name.
pub const ROOT: &str = "<Root>";

pub const HEADER_LEN: usize = 12;

/// A DNS message's header; the rest is read by `Repr::parse`.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    bytes: &'a [u8],
}

impl<'a> Message<'a> {
    /// A view over `bytes`, if they hold the 12-byte header.
    pub fn new_checked(bytes: &'a [u8]) -> Option<Self> {
        (bytes.len() >= HEADER_LEN).then_some(Message { bytes })
    }
    pub fn id(&self) -> u16 {
        be16(self.bytes, field::ID).unwrap_or(0)
    }
    fn flags(&self) -> u16 {
        be16(self.bytes, field::FLAGS).unwrap_or(0)
    }
    pub fn is_response(&self) -> bool {
        self.flags() & 0x8000 != 0
    }
    pub fn opcode(&self) -> u8 {
        ((self.flags() >> 11) & 0x0f) as u8
    }
    pub fn truncated(&self) -> bool {
        self.flags() & 0x0200 != 0
    }
    /// The header's 4-bit response code (an EDNS extended code's upper bits are in OPT).
    pub fn rcode(&self) -> u8 {
        (self.flags() & 0x0f) as u8
    }
    pub fn question_count(&self) -> u16 {
        be16(self.bytes, field::QDCOUNT).unwrap_or(0)
    }
    pub fn answer_count(&self) -> u16 {
        be16(self.bytes, field::ANCOUNT).unwrap_or(0)
    }
}

/// Record types whose value the answers show.
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const PTR: u16 = 12;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const DNAME: u16 = 39;
    pub const SVCB: u16 = 64;
    pub const HTTPS: u16 = 65;
}

/// The first question of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub qtype: u16,
    /// The class; in mDNS without the unicast-response bit (tshark's `dns.qry.class`).
    pub qclass: u16,
}

/// One record of the answer section: its type, TTL and value as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub rtype: u16,
    pub ttl: u32,
    /// A and AAAA: the address; CNAME, NS, PTR, DNAME: the name; MX: the exchange; SRV,
    /// SVCB, HTTPS: the target; SOA: the primary server; TXT: its strings, joined; any other
    /// type: `TYPE` and its number (RFC 3597's name for it).
    pub value: String,
}

/// What the DNS columns hold of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    pub id: u16,
    pub response: bool,
    pub opcode: u8,
    pub rcode: u8,
    pub truncated: bool,
    /// `None` when the message has no question or its first could not be read whole.
    pub question: Option<Question>,
    /// `None` when any record up to the end of the answer section could not be read whole
    /// (a message cut short by the capture, a bad pointer, a name too long).
    pub answers: Option<Vec<Answer>>,
}

impl Repr {
    /// Read a message (a UDP payload, or a TCP one after its 2-byte length); `mdns` clears
    /// the class's top bit, as mDNS uses it for unicast-response and cache-flush.
    pub fn parse(bytes: &[u8], mdns: bool) -> Option<Repr> {
        Self::parse_with(bytes, mdns, true)
    }

    /// `parse`, the answer section read only when `answers` (text for every answer is
    /// what a read of the name alone need not pay for).
    pub fn parse_with(bytes: &[u8], mdns: bool, answers: bool) -> Option<Repr> {
        let message = Message::new_checked(bytes)?;
        let mut at = HEADER_LEN;
        let mut question = None;
        let mut questions_read = true;
        for i in 0..message.question_count() {
            let mut name = String::new();
            let parsed = read_name(bytes, at, &mut name).and_then(|end| {
                Some((
                    end,
                    be16(bytes, end..end + 2)?,
                    be16(bytes, end + 2..end + 4)?,
                ))
            });
            let Some((end, qtype, qclass)) = parsed else {
                questions_read = false;
                break;
            };
            if i == 0 {
                question = Some(Question {
                    name,
                    qtype,
                    qclass: if mdns { qclass & 0x7fff } else { qclass },
                });
            }
            at = end + 4;
        }
        let answers = if questions_read && answers {
            read_answers(bytes, at, message.answer_count())
        } else {
            None
        };
        Some(Repr {
            id: message.id(),
            response: message.is_response(),
            opcode: message.opcode(),
            rcode: message.rcode(),
            truncated: message.truncated(),
            question,
            answers,
        })
    }
}

fn read_answers(bytes: &[u8], mut at: usize, count: u16) -> Option<Vec<Answer>> {
    // Each record takes at least 11 bytes: a count the message cannot hold is refused
    // before anything is allocated for it.
    if (count as usize) * 11 > bytes.len().saturating_sub(at) {
        return None;
    }
    let mut answers = Vec::with_capacity(count as usize);
    let mut text = 0usize;
    let mut scratch = String::new();
    for _ in 0..count {
        scratch.clear();
        let end = read_name(bytes, at, &mut scratch)?;
        let rtype = be16(bytes, end..end + 2)?;
        let ttl = be32(bytes, end + 4..end + 8)?;
        let len = be16(bytes, end + 8..end + 10)? as usize;
        let start = end + 10;
        let rdata = bytes.get(start..start + len)?;
        let value = answer_value(bytes, start, rdata, rtype)?;
        text += value.len();
        if text > MAX_ANSWER_TEXT {
            return None;
        }
        answers.push(Answer { rtype, ttl, value });
        at = start + len;
    }
    Some(answers)
}

/// The value of a record of type `rtype` whose data `rdata` starts at `start` of the
/// message (names in it may point anywhere before them).
fn answer_value(message: &[u8], start: usize, rdata: &[u8], rtype: u16) -> Option<String> {
    let name_at = |offset: usize| {
        let mut out = String::new();
        let end = read_name(message, start + offset, &mut out)?;
        // A name running past its record's data is a malformed record.
        (end <= start + rdata.len()).then_some(out)
    };
    match rtype {
        rtype::A => Some(Ipv4Addr::from(<[u8; 4]>::try_from(rdata).ok()?).to_string()),
        rtype::AAAA => Some(Ipv6Addr::from(<[u8; 16]>::try_from(rdata).ok()?).to_string()),
        rtype::NS | rtype::CNAME | rtype::PTR | rtype::DNAME | rtype::SOA => name_at(0),
        rtype::MX => name_at(2),
        rtype::SRV => name_at(6),
        rtype::SVCB | rtype::HTTPS => name_at(2),
        rtype::TXT => {
            let mut raw = Vec::with_capacity(rdata.len());
            let mut i = 0;
            while i < rdata.len() {
                let len = rdata[i] as usize;
                raw.extend_from_slice(rdata.get(i + 1..i + 1 + len)?);
                i += 1 + len;
            }
            let mut out = String::new();
            push_display_text(&raw, &mut out);
            Some(out)
        }
        other => Some(format!("TYPE{other}")),
    }
}

/// Append the name at `at` of `message` to `out` as tshark shows it (labels joined by `.`,
/// `<Root>` for the root, text as `wire::push_display_text` writes it); the offset just past the
/// name where it is written (after its first pointer, if any). `None` for a name past the
/// end, a pointer that does not point before itself, more than `MAX_POINTERS` pointers, a
/// reserved label type, or a name longer than 255 bytes.
pub fn read_name(message: &[u8], at: usize, out: &mut String) -> Option<usize> {
    let mut raw = [0u8; MAX_NAME_LEN];
    let mut raw_len = 0;
    let mut wire_len = 0;
    let mut pos = at;
    let mut end = None;
    let mut pointers = 0;
    loop {
        let len = *message.get(pos)? as usize;
        match len & 0xc0 {
            0x00 if len == 0 => {
                wire_len += 1;
                if wire_len > MAX_NAME_LEN {
                    return None;
                }
                break;
            }
            0x00 => {
                let label = message.get(pos + 1..pos + 1 + len)?;
                wire_len += 1 + len;
                if wire_len > MAX_NAME_LEN {
                    return None;
                }
                if raw_len > 0 {
                    raw[raw_len] = b'.';
                    raw_len += 1;
                }
                raw[raw_len..raw_len + len].copy_from_slice(label);
                raw_len += len;
                pos += 1 + len;
            }
            0xc0 => {
                let target = (be16(message, pos..pos + 2)? & 0x3fff) as usize;
                pointers += 1;
                if target >= pos || pointers > MAX_POINTERS {
                    return None;
                }
                end.get_or_insert(pos + 2);
                pos = target;
            }
            // 0x40 (extended label types, RFC 6891 deprecated them) and 0x80: reserved.
            _ => return None,
        }
    }
    if raw_len == 0 {
        out.push_str(ROOT);
    } else {
        push_display_text(&raw[..raw_len], out);
    }
    Some(end.unwrap_or(pos + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response for www.example.com A: a CNAME to example.com (by pointer), then an A.
    static RESPONSE: [u8; 65] = [
        0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0, // id, QR RD RA, 1 question, 2 answers
        3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0,
        0, 1, 0, 1, // A, IN
        0xc0, 12, 0, 5, 0, 1, 0, 0, 0x0e, 0x10, 0, 2, 0xc0,
        16, // CNAME -> example.com, TTL 3600
        0xc0, 16, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 93, 184, 216, 34, // example.com A, TTL 60
        0, 0, // padding past the answer section: not read
    ];

    #[test]
    fn reads_the_header_question_and_answers() {
        let r = Repr::parse(&RESPONSE, false).unwrap();
        assert_eq!(
            (r.id, r.response, r.opcode, r.rcode, r.truncated),
            (0x1234, true, 0, 0, false)
        );
        assert_eq!(
            r.question,
            Some(Question {
                name: "www.example.com".into(),
                qtype: 1,
                qclass: 1
            })
        );
        let answers = r.answers.unwrap();
        assert_eq!(
            answers,
            vec![
                Answer {
                    rtype: rtype::CNAME,
                    ttl: 3600,
                    value: "example.com".into()
                },
                Answer {
                    rtype: rtype::A,
                    ttl: 60,
                    value: "93.184.216.34".into()
                },
            ]
        );
    }

    #[test]
    fn a_message_cut_short_keeps_its_header_but_not_a_partial_answer_list() {
        let r = Repr::parse(&RESPONSE[..60], false).unwrap();
        assert_eq!(r.id, 0x1234);
        assert!(r.question.is_some());
        assert_eq!(r.answers, None);
        assert_eq!(Repr::parse(&RESPONSE[..11], false), None);
    }

    #[test]
    fn pointers_must_point_before_themselves() {
        // A name that points to itself, and one that points forward.
        let mut m = RESPONSE;
        m[12] = 0xc0;
        m[13] = 12;
        let r = Repr::parse(&m, false).unwrap();
        assert_eq!((r.question, r.answers), (None, None));
        let mut out = String::new();
        assert_eq!(read_name(&[0xc0, 2, 0], 0, &mut out), None);
        assert_eq!(read_name(&[0, 0xc0, 0], 1, &mut out), Some(3));
        assert_eq!(out, ROOT);
    }

    #[test]
    fn a_chain_of_pointers_is_followed_only_so_far() {
        // Each pointer points to the one before it, down to the name `a` at 0.
        let chain = |hops: usize| {
            let mut m = vec![1, b'a', 0];
            for i in 0..hops {
                let prev = if i == 0 { 0 } else { 3 + (i - 1) * 2 };
                m.extend_from_slice(&[0xc0 | (prev >> 8) as u8, prev as u8]);
            }
            m
        };
        let mut out = String::new();
        let m = chain(MAX_POINTERS);
        assert_eq!(read_name(&m, m.len() - 2, &mut out), Some(m.len()));
        assert_eq!(out, "a");
        let m = chain(MAX_POINTERS + 1);
        assert_eq!(read_name(&m, m.len() - 2, &mut out), None);
    }

    #[test]
    fn names_longer_than_255_bytes_are_refused() {
        let mut m = Vec::new();
        for _ in 0..4 {
            m.push(63);
            m.extend_from_slice(&[b'x'; 63]);
        }
        m.push(0);
        let mut out = String::new();
        assert_eq!(read_name(&m, 0, &mut out), None);
        // 3 labels of 63 and one of 61: 255 bytes with the root.
        let mut ok = Vec::new();
        for len in [63, 63, 63, 61] {
            ok.push(len as u8);
            ok.extend(std::iter::repeat_n(b'y', len));
        }
        ok.push(0);
        assert_eq!(ok.len(), 255);
        assert_eq!(read_name(&ok, 0, &mut out), Some(255));
    }

    #[test]
    fn counts_the_message_cannot_hold_allocate_nothing() {
        let mut m = RESPONSE;
        m[6] = 0xff;
        m[7] = 0xff;
        assert_eq!(Repr::parse(&m, false).unwrap().answers, None);
    }

    #[test]
    fn mdns_classes_lose_the_unicast_response_bit() {
        let mut m = RESPONSE;
        m[31] = 0x80;
        assert_eq!(Repr::parse(&m, true).unwrap().question.unwrap().qclass, 1);
        assert_eq!(
            Repr::parse(&m, false).unwrap().question.unwrap().qclass,
            0x8001
        );
    }

    /// A message of `count` CNAME answers, each named by a pointer to one long name and
    /// pointing to it again: a few bytes each on the wire, 253 bytes of text each.
    fn pointer_bomb(count: u16) -> Vec<u8> {
        let mut m = vec![
            0,
            1,
            0x81,
            0x80,
            0,
            1,
            (count >> 8) as u8,
            count as u8,
            0,
            0,
            0,
            0,
        ];
        for len in [63, 63, 63, 61] {
            m.push(len as u8);
            m.extend(std::iter::repeat_n(b'z', len));
        }
        m.push(0);
        m.extend_from_slice(&[0, 5, 0, 1]);
        for _ in 0..count {
            m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 1, 0, 2, 0xc0, 12]);
        }
        m
    }

    #[test]
    fn answers_that_would_make_too_much_text_are_missing() {
        let m = pointer_bomb(4500);
        assert!(m.len() < 65536);
        let r = Repr::parse(&m, false).unwrap();
        assert_eq!(r.question.unwrap().name.len(), 253);
        assert_eq!(
            r.answers,
            None,
            "{} bytes of text from {} on the wire",
            4500 * 253,
            m.len()
        );
        // Under the bound, the same records are all there.
        let r = Repr::parse(&pointer_bomb(500), false).unwrap();
        assert_eq!(r.answers.unwrap().len(), 500);
    }

    #[test]
    fn any_bytes_parse_without_panic_in_bounded_time() {
        // Random messages and random mutations of a real one (a fixed xorshift, so that a
        // failure repeats): no panic, and every name read stays within its bounds.
        let mut next = crate::wire::xorshift(0x9e37_79b9_7f4a_7c15u64);
        let started = std::time::Instant::now();
        let mut parsed = 0;
        for round in 0..20_000 {
            let mut m = if round % 2 == 0 {
                RESPONSE.to_vec()
            } else {
                (0..(next() % 600) as usize).map(|_| next() as u8).collect()
            };
            for _ in 0..(next() % 6) {
                if !m.is_empty() {
                    let i = (next() as usize) % m.len();
                    m[i] = next() as u8;
                }
            }
            if let Some(r) = Repr::parse(&m, round % 3 == 0) {
                parsed += 1;
                if let Some(q) = r.question {
                    assert!(q.name.chars().count() <= 4 * MAX_NAME_LEN);
                }
                if let Some(a) = r.answers {
                    assert!(a.iter().map(|a| a.value.len()).sum::<usize>() <= MAX_ANSWER_TEXT);
                }
            }
        }
        assert!(parsed > 10_000, "{parsed}");
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }
}
