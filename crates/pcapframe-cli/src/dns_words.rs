//! A DNS message in the words `tcpdump -n` (default verbosity) prints for it: the id and
//! flags, a query's questions (`A? example.com.`), a response's counts and answers
//! (`2/0/0 A 192.0.2.1, CNAME b.example.`), and the length. The rules are those of
//! tcpdump 4.99's `print-domain.c`, down to its marks for what it cannot read (`<BAD PTR>`,
//! ` [|domain]` for a message the capture cut); `tests/test_show_app.py` holds every DNS line
//! of the corpora to the installed tcpdump.
//!
//! Positions are offsets into the captured bytes of the message (`snapend` is their end);
//! `None` is tcpdump's `NULL`: a name or record that runs past what was captured.

use std::fmt::Write;

/// The most characters of a name before tcpdump says it is too long (`MAXCDNAME`).
const MAX_NAME: usize = 255;
const HEADER_LEN: usize = 12;
const CLASS_IN: u16 = 1;
const QU_BIT: u16 = 0x8000;
const OPT: u16 = 41;

/// Write `message` (a UDP payload of `length` bytes by the UDP header, of which `message`
/// holds what was captured) in tcpdump's words: `mdns` for port 5353.
pub fn write(out: &mut String, message: &[u8], length: usize, mdns: bool) {
    let p = Printer {
        bp: message,
        out,
        mdns,
    };
    p.domain(length);
}

/// Text as tcpdump prints bytes it does not trust (`nd_printn`): `M-` before a byte above
/// 127, `^` before a control character.
pub fn write_text(out: &mut String, bytes: &[u8]) {
    for &c in bytes {
        let mut c = c;
        if !c.is_ascii() {
            c &= 0x7f;
            out.push_str("M-");
        }
        if !(0x20..0x7f).contains(&c) {
            c ^= 0x40;
            out.push('^');
        }
        out.push(c as char);
    }
}

struct Printer<'a, 'o> {
    bp: &'a [u8],
    out: &'o mut String,
    mdns: bool,
}

impl Printer<'_, '_> {
    fn snapend(&self) -> usize {
        self.bp.len()
    }

    fn u8_at(&self, at: usize) -> Option<u8> {
        self.bp.get(at).copied()
    }

    fn u16_at(&self, at: usize) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8_at(at)?, self.u8_at(at + 1)?]))
    }

    fn domain(mut self, length: usize) {
        if length < HEADER_LEN {
            let _ = write!(
                self.out,
                "domain [length {length} < {HEADER_LEN}] (invalid)"
            );
            return;
        }
        if self.bp.len() < HEADER_LEN {
            self.out.push_str(" [|domain]");
            return;
        }
        let id = self.u16_at(0).unwrap_or(0);
        let flags = self.u16_at(2).unwrap_or(0);
        let count = |at| self.u16_at(at).unwrap_or(0) as usize;
        let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
        let rcode = self.extended_rcode(flags, qd, an + ns, ar);
        let opcode = ((flags >> 11) & 0xf) as usize;
        let printed = if flags & 0x8000 != 0 {
            let _ = write!(
                self.out,
                "{id}{}{}{}{}{}{}",
                OPS[opcode],
                rcode_word(rcode),
                if flags & 0x0400 != 0 { "*" } else { "" },
                if flags & 0x0080 != 0 { "" } else { "-" },
                if flags & 0x0200 != 0 { "|" } else { "" },
                if flags & 0x0020 != 0 { "$" } else { "" },
            );
            self.response(qd, an, ns, ar)
        } else {
            let _ = write!(
                self.out,
                "{id}{}{}{}",
                OPS[opcode],
                if flags & 0x0100 != 0 { "+" } else { "" },
                if flags & 0x0010 != 0 { "%" } else { "" },
            );
            if flags & 0x06cf != 0 {
                let _ = write!(self.out, " [b2&3=0x{flags:x}]");
            }
            self.query(opcode, qd, an, ns, ar)
        };
        match printed {
            Some(()) => {
                let _ = write!(self.out, " ({length})");
            }
            None => self.out.push_str(" [|domain]"),
        }
    }

    /// The response code, with the upper bits of an OPT record's extended code.
    fn extended_rcode(&self, flags: u16, qd: usize, an_ns: usize, ar: usize) -> u16 {
        let rcode = flags & 0xf;
        let end = self.snapend();
        let mut cp = HEADER_LEN;
        for _ in 0..qd {
            let Some(at) = self.nskip(cp) else {
                return rcode;
            };
            cp = at + 4;
            if cp >= end {
                return rcode;
            }
        }
        for _ in 0..an_ns {
            let Some(at) = self.nskip(cp) else {
                return rcode;
            };
            cp = at + 8;
            let Some(rdlen) = self.u16_at(cp) else {
                return rcode;
            };
            cp += 2 + rdlen as usize;
            if cp >= end {
                return rcode;
            }
        }
        for _ in 0..ar {
            let Some(at) = self.nskip(cp) else {
                return rcode;
            };
            cp = at;
            let Some(kind) = self.u16_at(cp) else {
                return rcode;
            };
            cp += 4;
            let Some(upper) = self.u8_at(cp) else {
                return rcode;
            };
            if kind == OPT {
                return rcode | (upper as u16) << 4;
            }
            cp += 4;
            let Some(rdlen) = self.u16_at(cp) else {
                return rcode;
            };
            cp += 2 + rdlen as usize;
            if cp >= end {
                return rcode;
            }
        }
        rcode
    }

    fn response(&mut self, qd: usize, mut an: usize, ns: usize, ar: usize) -> Option<()> {
        if qd != 1 {
            let _ = write!(self.out, " [{qd}q]");
        }
        let mut cp = HEADER_LEN;
        for i in 0..qd {
            if i != 0 {
                self.out.push(',');
            }
            cp = self.nskip(cp)? + 4;
        }
        let _ = write!(self.out, " {an}/{ns}/{ar}");
        if an > 0 {
            cp = self.rprint(cp)?;
            an -= 1;
            while cp < self.snapend() && an > 0 {
                self.out.push(',');
                cp = self.rprint(cp)?;
                an -= 1;
            }
        }
        (an == 0).then_some(())
    }

    fn query(
        &mut self,
        opcode: usize,
        mut qd: usize,
        an: usize,
        ns: usize,
        ar: usize,
    ) -> Option<()> {
        const IQUERY: usize = 1;
        if opcode == IQUERY {
            if qd > 0 {
                let _ = write!(self.out, " [{qd}q]");
            }
            if an != 1 {
                let _ = write!(self.out, " [{an}a]");
            }
        } else {
            if an > 0 {
                let _ = write!(self.out, " [{an}a]");
            }
            if qd != 1 {
                let _ = write!(self.out, " [{qd}q]");
            }
        }
        if ns > 0 {
            let _ = write!(self.out, " [{ns}n]");
        }
        if ar > 0 {
            let _ = write!(self.out, " [{ar}au]");
        }
        let mut cp = HEADER_LEN;
        if qd > 0 {
            cp = self.qprint(cp)?;
            qd -= 1;
            while cp < self.snapend() && qd > 0 {
                cp = self.qprint(cp)?;
                qd -= 1;
            }
        }
        (qd == 0).then_some(())
    }

    /// Past a name (`ns_nskip`), without following pointers.
    fn nskip(&self, mut cp: usize) -> Option<usize> {
        let mut i = self.u8_at(cp)?;
        cp += 1;
        while i != 0 {
            match i & 0xc0 {
                0xc0 => return Some(cp + 1),
                0x40 => {
                    if i & 0x3f != 0x01 {
                        return None; // an extended label type other than bit labels
                    }
                    let bits = match self.u8_at(cp)? {
                        0 => 256,
                        b => b as usize,
                    };
                    cp += 1 + bits.div_ceil(8);
                }
                0x80 => return None,
                _ => cp += i as usize,
            }
            i = self.u8_at(cp)?;
            cp += 1;
        }
        Some(cp)
    }

    /// The length of the label at `cp` (`labellen`), saying why not when there is none.
    fn label_len(&mut self, cp: usize) -> Option<usize> {
        let i = self.u8_at(cp)?;
        match i & 0xc0 {
            0x40 => {
                let elt = i & 0x3f;
                if elt != 0x01 {
                    let _ = write!(self.out, "<ELT {elt}>");
                    return None;
                }
                let bits = match self.u8_at(cp + 1)? {
                    0 => 256,
                    b => b as usize,
                };
                Some(bits.div_ceil(8) + 1)
            }
            0x80 => {
                self.out.push_str("<BAD LABEL TYPE>");
                None
            }
            _ => Some(i as usize),
        }
    }

    /// A bit label (`\[x...\/n]`, RFC 2673), as tcpdump writes it.
    fn bit_label(&mut self, cp: usize) -> Option<()> {
        let bitlen = match self.u8_at(cp)? {
            0 => 256,
            b => b as usize,
        };
        let lim = cp + 1 + bitlen.div_ceil(4);
        self.out.push_str("\\[x");
        let (mut bitp, mut b) = (cp + 1, bitlen);
        while bitp < lim && b > 7 {
            let _ = write!(self.out, "{:02x}", self.u8_at(bitp)?);
            b -= 8;
            bitp += 1;
        }
        if b > 4 {
            let tc = self.u8_at(bitp)?;
            let _ = write!(self.out, "{:02x}", tc & (0xffu8 << (8 - b)));
        } else if b > 0 {
            let tc = self.u8_at(bitp)?;
            let _ = write!(self.out, "{:x}", ((tc >> 4) & 0x0f) & (0x0fu8 << (4 - b)));
        }
        let _ = write!(self.out, "/{bitlen}]");
        Some(())
    }

    /// Bytes as tcpdump prints text it does not trust (`nd_printn`): `M-` before a byte
    /// above 127, `^` before a control character. `None` when they run past the capture.
    fn printn(&mut self, cp: usize, n: usize) -> Option<()> {
        let bytes = self.bp.get(cp..).unwrap_or(&[]);
        write_text(self.out, &bytes[..bytes.len().min(n)]);
        (bytes.len() >= n).then_some(())
    }

    /// A name (`fqdn_print`): its labels, pointers followed only backwards; the offset
    /// after the name where it was written.
    fn fqdn(&mut self, mut cp: usize) -> Option<usize> {
        let mut l = self.label_len(cp)?;
        let mut max_offset = cp;
        let mut i = self.u8_at(cp)?;
        cp += 1;
        let mut compressed = false;
        let mut rp = 0;
        if i & 0xc0 != 0xc0 {
            rp = cp + l;
        }
        if i == 0 {
            self.out.push('.');
            return Some(rp);
        }
        let mut chars = 0usize;
        while i != 0 && cp < self.snapend() {
            match i & 0xc0 {
                0xc0 => {
                    if !compressed {
                        rp = cp + 1;
                        compressed = true;
                    }
                    let offset = (((i as usize) << 8) | self.u8_at(cp)? as usize) & 0x3fff;
                    if offset >= max_offset {
                        self.out.push_str("<BAD PTR>");
                        return None;
                    }
                    max_offset = offset;
                    cp = offset;
                    i = self.u8_at(cp)?;
                    l = self.label_len(cp)?;
                    cp += 1;
                    continue;
                }
                0x40 => {
                    let elt = i & 0x3f;
                    if elt != 0x01 {
                        let _ = write!(self.out, "<ELT {elt}>");
                        return None;
                    }
                    self.bit_label(cp)?;
                }
                0x80 => {
                    self.out.push_str("<BAD LABEL TYPE>");
                    return None;
                }
                _ => {
                    if chars + l <= MAX_NAME {
                        self.printn(cp, l)?;
                    } else if chars < MAX_NAME {
                        self.printn(cp, MAX_NAME - chars)?;
                    }
                    chars += l;
                }
            }
            cp += l;
            if chars <= MAX_NAME {
                self.out.push('.');
            }
            chars += 1;
            i = self.u8_at(cp)?;
            l = self.label_len(cp)?;
            cp += 1;
            if !compressed {
                rp += l + 1;
            }
        }
        if chars > MAX_NAME {
            self.out.push_str("<DOMAIN NAME TOO LONG>");
        }
        Some(rp)
    }

    /// A question (`ns_qprint`): ` TYPE? name.`, mDNS's ` (QU)` or ` (QM)` before the mark.
    fn qprint(&mut self, start: usize) -> Option<usize> {
        let cp = self.nskip(start)?;
        let qtype = self.u16_at(cp)?;
        let qclass = self.u16_at(cp + 2)?;
        let _ = write!(self.out, " {}", type_word(qtype));
        let class = if self.mdns { qclass & !QU_BIT } else { qclass };
        if class != CLASS_IN {
            let _ = write!(self.out, " {}", class_word(class));
        }
        if self.mdns {
            self.out.push_str(if qclass & QU_BIT != 0 {
                " (QU)"
            } else {
                " (QM)"
            });
        }
        self.out.push_str("? ");
        Some(self.fqdn(start)? + 4)
    }

    /// An answer (`ns_rprint` at default verbosity): its type and, for the types tcpdump
    /// shows, its data; the offset of the next record.
    fn rprint(&mut self, start: usize) -> Option<usize> {
        let end = self.snapend();
        let Some(cp) = self.nskip(start).filter(|&cp| cp + 10 <= end) else {
            return Some(end);
        };
        let kind = self.u16_at(cp)?;
        let raw_class = self.u16_at(cp + 2)?;
        let class = if self.mdns {
            raw_class & !QU_BIT
        } else {
            raw_class
        };
        if class != CLASS_IN && kind != OPT {
            let _ = write!(self.out, " {}", class_word(class));
        }
        if self.mdns && raw_class & QU_BIT != 0 {
            self.out.push_str(" (Cache flush)");
        }
        let opt_flags = if kind == OPT { self.u16_at(cp + 6)? } else { 0 };
        let len = self.u16_at(cp + 8)? as usize;
        let data = cp + 10;
        let rp = data + len;
        let _ = write!(self.out, " {}", type_word(kind));
        if rp > end {
            return None;
        }
        match kind {
            1 => {
                let a = self.bp.get(data..data + 4)?;
                let _ = write!(self.out, " {}.{}.{}.{}", a[0], a[1], a[2], a[3]);
            }
            2 | 5 | 12 | 39 => {
                self.out.push(' ');
                self.fqdn(data)?;
            }
            15 => {
                self.out.push(' ');
                let preference = self.u16_at(data)?;
                self.fqdn(data + 2)?;
                let _ = write!(self.out, " {preference}");
            }
            16 => {
                let mut at = data;
                while at < rp {
                    self.out.push_str(" \"");
                    let n = self.u8_at(at)? as usize;
                    self.printn(at + 1, n)?;
                    at += 1 + n;
                    self.out.push('"');
                }
            }
            33 => {
                self.out.push(' ');
                let (priority, weight, port) = (
                    self.u16_at(data)?,
                    self.u16_at(data + 2)?,
                    self.u16_at(data + 4)?,
                );
                self.fqdn(data + 6)?;
                let _ = write!(self.out, ":{port} {priority} {weight}");
            }
            28 => {
                let a: [u8; 16] = self.bp.get(data..data + 16)?.try_into().ok()?;
                let _ = write!(self.out, " {}", std::net::Ipv6Addr::from(a));
            }
            OPT => {
                let _ = write!(self.out, " UDPsize={class}");
                if opt_flags & 0x8000 != 0 {
                    self.out.push_str(" DO");
                }
                if data < rp {
                    // EDNS options: tcpdump names them; a one-line view stops at their count.
                    return None;
                }
            }
            _ => {}
        }
        Some(rp)
    }
}

const OPS: [&str; 16] = [
    "",
    " inv_q",
    " stat",
    " op3",
    " notify",
    " update",
    " op6",
    " op7",
    " op8",
    " updateA",
    " updateD",
    " updateDA",
    " updateM",
    " updateMA",
    " zoneInit",
    " zoneRef",
];

fn rcode_word(rcode: u16) -> String {
    const WORDS: [&str; 24] = [
        "",
        " FormErr",
        " ServFail",
        " NXDomain",
        " NotImp",
        " Refused",
        " YXDomain",
        " YXRRSet",
        " NXRRSet",
        " NotAuth",
        " NotZone",
        " Resp11",
        " Resp12",
        " Resp13",
        " Resp14",
        " NoChange",
        " BadVers",
        "Resp17",
        " Resp18",
        " Resp19",
        " Resp20",
        "Resp21",
        " Resp22",
        " BadCookie",
    ];
    match WORDS.get(rcode as usize) {
        Some(w) => w.to_string(),
        None => format!(" Resp{}", rcode & 0xfff),
    }
}

fn class_word(class: u16) -> String {
    match class {
        1 => "IN".into(),
        3 => "CHAOS".into(),
        4 => "HS".into(),
        255 => "ANY".into(),
        c => format!("(Class {c})"),
    }
}

fn type_word(kind: u16) -> String {
    let name = match kind {
        1 => "A",
        2 => "NS",
        3 => "MD",
        4 => "MF",
        5 => "CNAME",
        6 => "SOA",
        7 => "MB",
        8 => "MG",
        9 => "MR",
        10 => "NULL",
        11 => "WKS",
        12 => "PTR",
        13 => "HINFO",
        14 => "MINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        19 => "X25",
        20 => "ISDN",
        21 => "RT",
        22 => "NSAP",
        23 => "NSAP_PTR",
        24 => "SIG",
        25 => "KEY",
        26 => "PX",
        27 => "GPOS",
        28 => "AAAA",
        29 => "LOC",
        30 => "NXT",
        31 => "EID",
        32 => "NIMLOC",
        33 => "SRV",
        34 => "ATMA",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        38 => "A6",
        39 => "DNAME",
        40 => "SINK",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        99 => "SPF",
        100 => "UINFO",
        101 => "UID",
        102 => "GID",
        103 => "UNSPEC",
        104 => "UNSPECA",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        253 => "MAILB",
        254 => "MAILA",
        255 => "ANY",
        256 => "URI",
        other => return format!("Type{other}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(message: &[u8], mdns: bool) -> String {
        let mut out = String::new();
        write(&mut out, message, message.len(), mdns);
        out
    }

    #[test]
    fn a_query_and_its_answer() {
        // id 0x1234, RD; one question: example.com A IN.
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
        assert_eq!(words(&q, false), "4660+ A? example.com. (29)");
        // The response: QR, RD, RA; the question, then A 192.0.2.1 by a pointer to it.
        let mut r = q.clone();
        r[2] = 0x81;
        r[3] = 0x80;
        r[7] = 1;
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        assert_eq!(words(&r, false), "4660 1/0/0 A 192.0.2.1 (45)");
        // Cut inside the answer: tcpdump's mark for a message cut short.
        let mut out = String::new();
        write(&mut out, &r[..r.len() - 2], r.len(), false);
        assert_eq!(out, "4660 1/0/0 A [|domain]");
    }

    #[test]
    fn a_pointer_forwards_or_to_itself_is_bad() {
        let mut r = vec![0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        r.extend_from_slice(b"\x01a\x00\x00\x01\x00\x01");
        // A CNAME whose target points at itself.
        let at = r.len() + 12;
        r.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 1, 0, 2]);
        r.extend_from_slice(&[0xc0 | (at >> 8) as u8, at as u8]);
        assert_eq!(words(&r, false), "1 1/0/0 CNAME <BAD PTR> [|domain]");
    }

    #[test]
    fn any_bytes_are_written_without_panic() {
        let mut state = 7u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = words(&bytes, len % 2 == 0);
        }
    }
}
