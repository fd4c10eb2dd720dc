//! TLS handshake hellos (RFC 8446, RFC 5246): the ClientHello's and ServerHello's fields the
//! TLS columns hold, and the JA3, JA3S and JA4 fingerprints made from them.
//!
//! A hello is read from a TCP payload that starts with a TLS record (`parse_records`; the
//! handshake message may continue over further records of the same payload) or from the
//! handshake message itself (`Hello::parse`, for QUIC's CRYPTO frames). Only a hello held
//! whole is read: one that continues in a later segment gives `None`, never a hello read
//! from half its extensions. Every length is bounded by the bytes that hold it.

use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::{be16, hex, Progress};

/// TLS record content type of a handshake.
const HANDSHAKE: u8 = 22;
const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;

/// The most bytes of handshake a payload's records are gathered into: a hello beyond this
/// (post-quantum key shares make ClientHellos of 1.5-2 KiB) is not read.
pub const MAX_HELLO: usize = 16 * 1024;

/// Extension numbers the columns read.
mod ext {
    pub const SERVER_NAME: u16 = 0;
    pub const SUPPORTED_GROUPS: u16 = 10;
    pub const EC_POINT_FORMATS: u16 = 11;
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    pub const ALPN: u16 = 16;
    pub const SUPPORTED_VERSIONS: u16 = 43;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelloKind {
    Client,
    Server,
}

impl HelloKind {
    pub fn name(self) -> &'static str {
        match self {
            HelloKind::Client => "client_hello",
            HelloKind::Server => "server_hello",
        }
    }
}

/// A ClientHello's or ServerHello's fields, as written (GREASE values included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub kind: HelloKind,
    pub legacy_version: u16,
    /// The offered cipher suites (ClientHello) or the chosen one (ServerHello).
    pub ciphers: Vec<u16>,
    /// Extension types in the order written.
    pub extensions: Vec<u16>,
    /// The first `host_name` of the server_name extension, as written.
    pub server_name: Option<Vec<u8>>,
    pub alpn: Vec<Vec<u8>>,
    /// supported_versions: the offered list (ClientHello) or the chosen one (ServerHello).
    pub supported_versions: Vec<u16>,
    pub supported_groups: Vec<u16>,
    pub ec_point_formats: Vec<u8>,
    pub signature_algorithms: Vec<u16>,
}

/// GREASE values (RFC 8701): 0x?a?a with both bytes equal.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// The hello a TCP payload's TLS records hold, if the payload starts with a handshake
/// record and its records hold the hello whole.
pub fn parse_records(payload: &[u8]) -> Option<Hello> {
    match records_progress(payload) {
        Progress::Done(hello) => Some(hello),
        _ => None,
    }
}

/// The hello that a stream's first bytes `payload` hold in handshake records:
/// `Incomplete` while the records so far may still complete one (within `MAX_HELLO`
/// bytes of handshake message).
pub fn records_progress(payload: &[u8]) -> Progress<Hello> {
    let mut handshake = Vec::new();
    let mut at = 0;
    loop {
        let Some(header) = payload.get(at..at + 5) else {
            // A partial record header: only a handshake record's may go on.
            let part = &payload[at..];
            let may =
                part.first().is_none_or(|&c| c == HANDSHAKE) && part.get(1).is_none_or(|&m| m == 3);
            return if may {
                Progress::Incomplete
            } else {
                Progress::Invalid
            };
        };
        if header[0] != HANDSHAKE || header[1] != 3 {
            return Progress::Invalid;
        }
        let len = u16::from_be_bytes([header[3], header[4]]) as usize;
        let Some(fragment) = payload.get(at + 5..at + 5 + len) else {
            // Part of a record: the hello is read when its record is whole, as tshark
            // reads a record (and gives its fields to the segment that completes it).
            handshake.extend_from_slice(&payload[at + 5..]);
            return match done_or(&handshake, Progress::Incomplete) {
                Progress::Invalid => Progress::Invalid,
                _ => Progress::Incomplete,
            };
        };
        handshake.extend_from_slice(fragment);
        at += 5 + len;
        if let Progress::Done(h) = done_or(&handshake, Progress::Invalid) {
            return Progress::Done(h);
        }
        if message_len(&handshake).is_some_and(|need| need > MAX_HELLO) {
            return Progress::Invalid;
        }
    }
}

/// The hello at the start of `handshake` when it is all there (or what a message that is
/// not a hello gives: `Invalid`), else `otherwise`.
fn done_or(handshake: &[u8], otherwise: Progress<Hello>) -> Progress<Hello> {
    match message_len(handshake) {
        Some(need) if handshake.len() >= need => match Hello::parse(&handshake[..need]) {
            Some(h) => Progress::Done(h),
            None => Progress::Invalid,
        },
        Some(need) if need > MAX_HELLO => Progress::Invalid,
        _ => match handshake.first() {
            Some(&t) if t != CLIENT_HELLO && t != SERVER_HELLO => Progress::Invalid,
            _ => otherwise,
        },
    }
}

/// The length of the handshake message at the start of `h` (its 4-byte header included).
fn message_len(h: &[u8]) -> Option<usize> {
    let b = h.get(1..4)?;
    Some(4 + (((b[0] as usize) << 16) | ((b[1] as usize) << 8) | b[2] as usize))
}

/// A cursor over a hello's bytes: every read is bounded by them.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn u8(&mut self) -> Option<u8> {
        let v = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(v)
    }
    fn u16(&mut self) -> Option<u16> {
        let v = be16(self.bytes, self.at..self.at + 2)?;
        self.at += 2;
        Some(v)
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let v = self.bytes.get(self.at..self.at + n)?;
        self.at += n;
        Some(v)
    }
    /// A vector with a `width`-byte length (1 or 2).
    fn vector(&mut self, width: usize) -> Option<&'a [u8]> {
        let n = if width == 1 {
            self.u8()? as usize
        } else {
            self.u16()? as usize
        };
        self.take(n)
    }
    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }
}

fn u16s(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect()
}

impl Hello {
    /// Read a handshake message (its 4-byte header first) that is a ClientHello or a
    /// ServerHello, held whole.
    pub fn parse(message: &[u8]) -> Option<Hello> {
        let kind = match *message.first()? {
            CLIENT_HELLO => HelloKind::Client,
            SERVER_HELLO => HelloKind::Server,
            _ => return None,
        };
        let body = message.get(4..message_len(message)?)?;
        let mut c = Cursor { bytes: body, at: 0 };
        let legacy_version = c.u16()?;
        c.take(32)?; // random
        c.vector(1)?; // session id
        let ciphers = match kind {
            HelloKind::Client => {
                let list = c.vector(2)?;
                if list.len() % 2 != 0 {
                    return None;
                }
                c.vector(1)?; // compression methods
                u16s(list)
            }
            HelloKind::Server => {
                let cipher = c.u16()?;
                c.u8()?; // compression method
                vec![cipher]
            }
        };
        let mut hello = Hello {
            kind,
            legacy_version,
            ciphers,
            extensions: Vec::new(),
            server_name: None,
            alpn: Vec::new(),
            supported_versions: Vec::new(),
            supported_groups: Vec::new(),
            ec_point_formats: Vec::new(),
            signature_algorithms: Vec::new(),
        };
        if c.done() {
            return Some(hello); // no extensions (SSL 3.0, old TLS)
        }
        let mut exts = Cursor {
            bytes: c.vector(2)?,
            at: 0,
        };
        while !exts.done() {
            let ty = exts.u16()?;
            let data = exts.vector(2)?;
            hello.extensions.push(ty);
            hello.read_extension(ty, data)?;
        }
        Some(hello)
    }

    fn read_extension(&mut self, ty: u16, data: &[u8]) -> Option<()> {
        let mut d = Cursor { bytes: data, at: 0 };
        match ty {
            ext::SERVER_NAME if self.kind == HelloKind::Client && self.server_name.is_none() => {
                let mut list = Cursor {
                    bytes: d.vector(2)?,
                    at: 0,
                };
                while !list.done() {
                    let name_type = list.u8()?;
                    let name = list.vector(2)?;
                    if name_type == 0 {
                        self.server_name = Some(name.to_vec());
                        break;
                    }
                }
            }
            ext::ALPN => {
                let mut list = Cursor {
                    bytes: d.vector(2)?,
                    at: 0,
                };
                while !list.done() {
                    self.alpn.push(list.vector(1)?.to_vec());
                }
            }
            ext::SUPPORTED_VERSIONS => {
                self.supported_versions = match self.kind {
                    HelloKind::Client => {
                        let list = d.vector(1)?;
                        if list.len() % 2 != 0 {
                            return None;
                        }
                        u16s(list)
                    }
                    HelloKind::Server => vec![d.u16()?],
                };
            }
            ext::SUPPORTED_GROUPS => {
                let list = d.vector(2)?;
                self.supported_groups = u16s(list);
            }
            ext::EC_POINT_FORMATS => self.ec_point_formats = d.vector(1)?.to_vec(),
            ext::SIGNATURE_ALGORITHMS => self.signature_algorithms = u16s(d.vector(2)?),
            _ => {}
        }
        Some(())
    }

    /// The version the hello offers at most (ClientHello) or chose (ServerHello): the
    /// supported_versions extension's highest non-GREASE value, else the legacy version.
    pub fn version(&self) -> u16 {
        self.supported_versions
            .iter()
            .copied()
            .filter(|&v| !is_grease(v))
            .max()
            .unwrap_or(self.legacy_version)
    }

    /// The versions offered: supported_versions as written, else the legacy version.
    pub fn offered_versions(&self) -> Vec<u16> {
        if self.supported_versions.is_empty() {
            vec![self.legacy_version]
        } else {
            self.supported_versions.clone()
        }
    }

    /// JA3's text (ClientHello) or JA3S's (ServerHello), GREASE values left out, as
    /// tshark's `tls.handshake.ja3_full` and `ja3s_full`.
    pub fn ja3_text(&self) -> String {
        fn join<T: ToString>(values: impl Iterator<Item = T>) -> String {
            values.map(|v| v.to_string()).collect::<Vec<_>>().join("-")
        }
        let no_grease = |v: &&u16| !is_grease(**v);
        let extensions = join(self.extensions.iter().filter(no_grease));
        match self.kind {
            HelloKind::Client => format!(
                "{},{},{},{},{}",
                self.legacy_version,
                join(self.ciphers.iter().filter(no_grease)),
                extensions,
                join(self.supported_groups.iter().filter(no_grease)),
                join(self.ec_point_formats.iter()),
            ),
            HelloKind::Server => {
                format!("{},{},{}", self.legacy_version, self.ciphers[0], extensions)
            }
        }
    }

    /// JA3 (ClientHello) or JA3S (ServerHello): the MD5 of `ja3_text`, in hex.
    pub fn ja3(&self) -> String {
        hex(&Md5::digest(self.ja3_text().as_bytes()))
    }

    /// JA4, the TLS client fingerprint (FoxIO's JA4 specification, BSD-3-Clause), for a
    /// ClientHello carried by TCP (`t`) or QUIC (`q`).
    pub fn ja4(&self, quic: bool) -> Option<String> {
        if self.kind != HelloKind::Client {
            return None;
        }
        let version = match self.version() {
            0x0304 => "13",
            0x0303 => "12",
            0x0302 => "11",
            0x0301 => "10",
            0x0300 => "s3",
            0x0002 => "s2",
            0xfeff => "d1",
            0xfefd => "d2",
            0xfefc => "d3",
            _ => "00",
        };
        let ciphers: Vec<u16> = self
            .ciphers
            .iter()
            .copied()
            .filter(|&c| !is_grease(c))
            .collect();
        let extensions: Vec<u16> = self
            .extensions
            .iter()
            .copied()
            .filter(|&e| !is_grease(e))
            .collect();
        let sni = if self.extensions.contains(&ext::SERVER_NAME) {
            'd'
        } else {
            'i'
        };
        let alpn = ja4_alpn(self.alpn.first().map(Vec::as_slice));
        let a = format!(
            "{}{version}{sni}{:02}{:02}{alpn}",
            if quic { 'q' } else { 't' },
            ciphers.len().min(99),
            extensions.len().min(99),
        );
        let hex4 = |v: &[u16]| {
            v.iter()
                .map(|x| format!("{x:04x}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let truncated_sha256 = |text: &str| hex(&Sha256::digest(text.as_bytes()))[..12].to_string();
        let b = if ciphers.is_empty() {
            "000000000000".to_string()
        } else {
            let mut sorted = ciphers.clone();
            sorted.sort_unstable();
            truncated_sha256(&hex4(&sorted))
        };
        let mut sorted: Vec<u16> = extensions
            .iter()
            .copied()
            .filter(|&e| e != ext::SERVER_NAME && e != ext::ALPN)
            .collect();
        sorted.sort_unstable();
        let c = if sorted.is_empty() {
            "000000000000".to_string()
        } else {
            let algorithms: Vec<u16> = self
                .signature_algorithms
                .iter()
                .copied()
                .filter(|&s| !is_grease(s))
                .collect();
            let mut text = hex4(&sorted);
            if !algorithms.is_empty() {
                text.push('_');
                text.push_str(&hex4(&algorithms));
            }
            truncated_sha256(&text)
        };
        Some(format!("{a}_{b}_{c}"))
    }
}

/// JA4's two ALPN characters: `00` without one; else the first and last bytes of the first
/// value, each itself when printable ASCII and `9` past 0x7f; a control byte at either end
/// makes `99` (the ja4plus reading of FoxIO's rule).
fn ja4_alpn(first: Option<&[u8]>) -> String {
    let Some(v) = first.filter(|v| !v.is_empty()) else {
        return "00".into();
    };
    let (a, z) = (v[0], v[v.len() - 1]);
    let control = |b: u8| b < 0x20 || b == 0x7f;
    if control(a) || control(z) {
        return "99".into();
    }
    let ch = |b: u8| if b >= 0x80 { '9' } else { b as char };
    [ch(a), ch(z)].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello record: TLS 1.2 legacy version, two ciphers (one GREASE), SNI
    /// "example.com", ALPN h2 and http/1.1, supported_versions GREASE, 1.3, 1.2, groups,
    /// point formats and signature algorithms.
    fn client_hello() -> Vec<u8> {
        let mut exts = Vec::new();
        let mut push = |ty: u16, data: &[u8]| {
            exts.extend_from_slice(&ty.to_be_bytes());
            exts.extend_from_slice(&(data.len() as u16).to_be_bytes());
            exts.extend_from_slice(data);
        };
        push(0x0a0a, &[]);
        push(
            0,
            &[
                0, 14, 0, 0, 11, b'e', b'x', b'a', b'm', b'p', b'l', b'e', b'.', b'c', b'o', b'm',
            ],
        );
        push(
            16,
            &[
                0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
            ],
        );
        push(43, &[6, 0x1a, 0x1a, 3, 4, 3, 3]);
        push(10, &[0, 4, 0, 29, 0, 23]);
        push(11, &[1, 0]);
        push(13, &[0, 4, 4, 3, 8, 4]);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0, 4, 0x2a, 0x2a, 0x13, 0x01]);
        body.extend_from_slice(&[1, 0]); // compression: null
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        let mut hs = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
        hs.extend_from_slice(&body);
        let mut record = vec![22, 3, 1, (hs.len() >> 8) as u8, hs.len() as u8];
        record.extend_from_slice(&hs);
        record
    }

    #[test]
    fn reads_a_client_hello() {
        let h = parse_records(&client_hello()).unwrap();
        assert_eq!(h.kind, HelloKind::Client);
        assert_eq!(h.server_name.as_deref(), Some(&b"example.com"[..]));
        assert_eq!(h.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert_eq!(h.version(), 0x0304);
        assert_eq!(h.offered_versions(), vec![0x1a1a, 0x0304, 0x0303]);
        assert_eq!(h.ja3_text(), "771,4865,0-16-43-10-11-13,29-23,0");
        let ja4 = h.ja4(false).unwrap();
        assert!(ja4.starts_with("t13d0106h2_"), "{ja4}");
    }

    #[test]
    fn a_hello_split_over_records_is_joined_and_one_cut_short_is_none() {
        let whole = client_hello();
        let hs = &whole[5..];
        let mut split = Vec::new();
        for part in [&hs[..20], &hs[20..]] {
            split.extend_from_slice(&[22, 3, 1, (part.len() >> 8) as u8, part.len() as u8]);
            split.extend_from_slice(part);
        }
        assert_eq!(parse_records(&split), parse_records(&whole));
        for cut in 0..whole.len() {
            assert_eq!(parse_records(&whole[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn grease_is_recognised() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa));
        assert!(!is_grease(0x0a1a) && !is_grease(0x1301));
    }

    #[test]
    fn alpn_characters_follow_ja4plus() {
        assert_eq!(ja4_alpn(None), "00");
        assert_eq!(ja4_alpn(Some(b"h2")), "h2");
        assert_eq!(ja4_alpn(Some(b"http/1.1")), "h1");
        assert_eq!(ja4_alpn(Some(b"x")), "xx");
        assert_eq!(ja4_alpn(Some(&[0xba, 0xad])), "99");
        assert_eq!(ja4_alpn(Some(&[b'h', 0x1f])), "99");
    }

    #[test]
    fn any_bytes_parse_without_panic() {
        let base = client_hello();
        let mut next = crate::wire::xorshift(0x2545_f491_4f6c_dd1du64);
        for _ in 0..20_000 {
            let mut m = base.clone();
            for _ in 0..(next() % 5) {
                let i = (next() as usize) % m.len();
                m[i] = next() as u8;
            }
            m.truncate((next() as usize) % (m.len() + 1));
            if let Some(h) = parse_records(&m) {
                let _ = (h.ja3(), h.ja4(false), h.version());
            }
        }
    }
}
