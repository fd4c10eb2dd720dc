//! QUIC long headers (RFC 9000 §17.2) and the client's Initial packets, opened with the
//! version's initial secrets (RFC 9001 §5 for version 1 and the drafts, RFC 9369 for
//! version 2): HKDF, header protection (AES-128 in ECB on a sample), AES-128-GCM.
//!
//! A datagram's first packet is read, and from a client Initial the CRYPTO frames that
//! carry the start of the TLS handshake. A ClientHello that continues in a later Initial is
//! put together by the caller (`stream::StreamTracker::quic_initial`, from `crypto`); a
//! hello cut short gives none (a missing value, never half a hello). Any packet that does
//! not open (a server's Initial, a packet number too large for its truncated form, damage)
//! gives nothing: the AEAD tag decides, so nothing unauthenticated is ever read as a hello.

use std::collections::HashMap;

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes128Gcm, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;

use super::be16;
use super::tls::{Hello, MAX_HELLO};

pub const VERSION_1: u32 = 0x0000_0001;
pub const VERSION_2: u32 = 0x6b33_43cf;

/// The most bytes of a connection id (RFC 9000 §17.2: 20 in versions 1 and 2).
const MAX_CID: usize = 20;

/// The least a client's datagram with an Initial packet holds (RFC 9000 §14.1).
const MIN_CLIENT_DATAGRAM: usize = 1200;

/// A known version's initial salt and labels.
struct Suite {
    salt: [u8; 20],
    v2: bool,
}

fn suite(version: u32) -> Option<Suite> {
    const V1: [u8; 20] = [
        0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c,
        0xad, 0xcc, 0xbb, 0x7f, 0x0a,
    ];
    const V2: [u8; 20] = [
        0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d,
        0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
    ];
    const DRAFT_29: [u8; 20] = [
        0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11,
        0xe0, 0x43, 0x90, 0xa8, 0x99,
    ];
    match version {
        VERSION_1 => Some(Suite {
            salt: V1,
            v2: false,
        }),
        VERSION_2 => Some(Suite { salt: V2, v2: true }),
        // Drafts 29 to 32.
        0xff00_001d..=0xff00_0020 => Some(Suite {
            salt: DRAFT_29,
            v2: false,
        }),
        _ => None,
    }
}

/// A datagram's first packet when it has a long header of a known version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongHeader<'a> {
    pub version: u32,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
    /// Whether it is a client Initial that opened with its version's initial keys (its
    /// AEAD tag checked): a QUIC packet beyond doubt.
    pub opened: bool,
    /// The ClientHello of a client Initial that opened and holds it whole.
    pub hello: Option<Box<Hello>>,
    /// An opened client Initial without a whole hello: its CRYPTO frames' bytes before
    /// `MAX_HELLO`, by offset, for a hello that spans Initials.
    pub crypto: Vec<(usize, Vec<u8>)>,
}

/// A variable-length integer (RFC 9000 §16) at `*at`, moving past it.
fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let first = *b.get(*at)?;
    let len = 1usize << (first >> 6);
    let bytes = b.get(*at..*at + len)?;
    let mut v = (first & 0x3f) as u64;
    for &x in &bytes[1..] {
        v = (v << 8) | x as u64;
    }
    *at += len;
    Some(v)
}

/// A client's initial keys (RFC 9001 §5.2).
struct ClientKeys {
    aead: Aes128Gcm,
    hp: aes::Aes128,
    iv: [u8; 12],
}

/// Client keys already derived, by version and Destination Connection ID: a client sends
/// its Initials to one id, and deriving the keys costs a dozen SHA-256 blocks (a fifth of
/// what opening the Initials of the benchmark capture cost).
#[derive(Default)]
pub struct KeyCache {
    /// By version, then by connection id.
    keys: HashMap<u32, HashMap<Vec<u8>, ClientKeys>>,
}

/// Keys kept at most (about 1 KiB each); past this the cache starts again.
const MAX_CACHED_KEYS: usize = 1024;

impl KeyCache {
    fn client_keys(&mut self, version: u32, dcid: &[u8], suite: &Suite) -> Option<&ClientKeys> {
        if !self
            .keys
            .get(&version)
            .is_some_and(|k| k.contains_key(dcid))
        {
            let keys = client_keys(dcid, suite)?;
            if self.keys.values().map(HashMap::len).sum::<usize>() >= MAX_CACHED_KEYS {
                self.keys.clear();
            }
            self.keys
                .entry(version)
                .or_default()
                .insert(dcid.to_vec(), keys);
        }
        self.keys.get(&version)?.get(dcid)
    }
}

/// Read the long header at the start of a UDP payload (a QUIC version this module knows,
/// the fixed bit set) and, for a client Initial, its ClientHello.
pub fn parse(datagram: &[u8]) -> Option<LongHeader<'_>> {
    parse_cached(datagram, &mut KeyCache::default())
}

/// `parse`, with the keys of Initials sent before kept in `cache`.
pub fn parse_cached<'a>(datagram: &'a [u8], cache: &mut KeyCache) -> Option<LongHeader<'a>> {
    let first = *datagram.first()?;
    if first & 0xc0 != 0xc0 {
        return None;
    }
    let version = u32::from_be_bytes(datagram.get(1..5)?.try_into().ok()?);
    let suite = suite(version)?;
    let mut at = 5;
    let dcid_len = *datagram.get(at)? as usize;
    let dcid = datagram.get(at + 1..at + 1 + dcid_len)?;
    at += 1 + dcid_len;
    let scid_len = *datagram.get(at)? as usize;
    let scid = datagram.get(at + 1..at + 1 + scid_len)?;
    at += 1 + scid_len;
    if dcid_len > MAX_CID || scid_len > MAX_CID {
        return None;
    }
    let packet_type = (first >> 4) & 3;
    let initial = if suite.v2 {
        packet_type == 1
    } else {
        packet_type == 0
    };
    // A client pads every datagram with an Initial to 1200 bytes (RFC 9000 §14.1): a shorter
    // one is a server's, whose keys are not the client's, and is not worth opening.
    let payload = if initial && datagram.len() >= MIN_CLIENT_DATAGRAM {
        open_initial(datagram, at, version, dcid, &suite, cache)
    } else {
        None
    };
    let opened = payload.is_some();
    let mut pieces = payload
        .as_deref()
        .and_then(crypto_frames)
        .unwrap_or_default();
    let hello = hello_of(&contiguous(&mut pieces));
    let crypto = if opened && hello.is_none() {
        pieces.into_iter().map(|(o, b)| (o, b.to_vec())).collect()
    } else {
        Vec::new()
    };
    Some(LongHeader {
        version,
        dcid,
        scid,
        opened,
        hello,
        crypto,
    })
}

/// The client's initial keys for a Destination Connection ID (RFC 9001 §5.2).
fn client_keys(dcid: &[u8], suite: &Suite) -> Option<ClientKeys> {
    let (initial, _) = Hkdf::<Sha256>::extract(Some(&suite.salt), dcid);
    let initial = Hkdf::<Sha256>::from_prk(&initial).ok()?;
    let mut client = [0u8; 32];
    expand_label(&initial, "client in", &mut client);
    let client = Hkdf::<Sha256>::from_prk(&client).ok()?;
    let prefix = if suite.v2 { "quicv2 " } else { "quic " };
    let (mut key, mut iv, mut hp) = ([0u8; 16], [0u8; 12], [0u8; 16]);
    expand_label(&client, &format!("{prefix}key"), &mut key);
    expand_label(&client, &format!("{prefix}iv"), &mut iv);
    expand_label(&client, &format!("{prefix}hp"), &mut hp);
    Some(ClientKeys {
        aead: Aes128Gcm::new_from_slice(&key).ok()?,
        hp: aes::Aes128::new_from_slice(&hp).ok()?,
        iv,
    })
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
fn expand_label(secret: &Hkdf<Sha256>, label: &str, out: &mut [u8]) {
    let full = format!("tls13 {label}");
    let mut info = Vec::with_capacity(4 + full.len());
    info.extend_from_slice(&(out.len() as u16).to_be_bytes());
    info.push(full.len() as u8);
    info.extend_from_slice(full.as_bytes());
    info.push(0);
    secret
        .expand(&info, out)
        .expect("lengths within what HKDF-SHA256 expands");
}

/// The payload of the Initial packet starting at 0 of `datagram` (its token at `at`),
/// opened with the client's initial keys; `None` if it does not open.
fn open_initial(
    datagram: &[u8],
    mut at: usize,
    version: u32,
    dcid: &[u8],
    suite: &Suite,
    cache: &mut KeyCache,
) -> Option<Vec<u8>> {
    let token_len = varint(datagram, &mut at)? as usize;
    at = at.checked_add(token_len)?;
    let length = varint(datagram, &mut at)? as usize;
    let pn_offset = at;
    let packet = datagram.get(..pn_offset.checked_add(length)?)?;
    if length < 4 + 16 + 1 {
        return None;
    }
    let keys = cache.client_keys(version, dcid, suite)?;

    // Header protection: a mask from the 16 bytes 4 past the packet number's start.
    let sample = packet.get(pn_offset + 4..pn_offset + 20)?;
    let mut mask = aes::Block::default();
    mask.copy_from_slice(sample);
    keys.hp.encrypt_block(&mut mask);
    let mut header = packet[..pn_offset + 4].to_vec();
    header[0] ^= mask[0] & 0x0f;
    let pn_len = (header[0] & 3) as usize + 1;
    let mut pn: u64 = 0;
    for i in 0..pn_len {
        header[pn_offset + i] ^= mask[1 + i];
        pn = (pn << 8) | header[pn_offset + i] as u64;
    }
    header.truncate(pn_offset + pn_len);

    // The payload, opened: the nonce is the IV with the packet number in its last bytes.
    let mut nonce = keys.iv;
    for (i, b) in pn.to_be_bytes().iter().enumerate() {
        nonce[4 + i] ^= b;
    }
    let body = &packet[pn_offset + pn_len..];
    let (ciphertext, tag) = body.split_at(body.len().checked_sub(16)?);
    let mut payload = ciphertext.to_vec();
    keys.aead
        .decrypt_inout_detached(
            &Nonce::from(nonce),
            &header,
            payload.as_mut_slice().into(),
            &Tag::try_from(tag).ok()?,
        )
        .ok()?;
    Some(payload)
}

/// The CRYPTO frames of an Initial's payload that start before `MAX_HELLO`: (offset, bytes).
fn crypto_frames(payload: &[u8]) -> Option<Vec<(usize, &[u8])>> {
    let mut pieces: Vec<(usize, &[u8])> = Vec::new();
    let mut at = 0;
    while at < payload.len() {
        let frame = varint(payload, &mut at)?;
        match frame {
            0x00 | 0x01 => {} // PADDING, PING
            0x02 | 0x03 => {
                // ACK: largest, delay, range count, first range, then ranges (and ECN counts).
                varint(payload, &mut at)?;
                varint(payload, &mut at)?;
                let ranges = varint(payload, &mut at)?;
                varint(payload, &mut at)?;
                for _ in 0..ranges.min(payload.len() as u64) {
                    varint(payload, &mut at)?;
                    varint(payload, &mut at)?;
                }
                if frame == 0x03 {
                    for _ in 0..3 {
                        varint(payload, &mut at)?;
                    }
                }
            }
            0x06 => {
                let offset = varint(payload, &mut at)? as usize;
                let len = varint(payload, &mut at)? as usize;
                let data = payload.get(at..at.checked_add(len)?)?;
                at += len;
                if offset < MAX_HELLO {
                    pieces.push((offset, data));
                }
            }
            0x1c => {
                // CONNECTION_CLOSE: error code, frame type, reason.
                varint(payload, &mut at)?;
                varint(payload, &mut at)?;
                let len = varint(payload, &mut at)? as usize;
                at = at.checked_add(len)?;
            }
            _ => break, // nothing else belongs in an Initial
        }
    }
    Some(pieces)
}

/// The bytes from offset 0 that `pieces` cover without a gap, at most `MAX_HELLO` (the
/// pieces are sorted by offset).
pub fn contiguous<B: AsRef<[u8]>>(pieces: &mut [(usize, B)]) -> Vec<u8> {
    pieces.sort_by_key(|(offset, _)| *offset);
    let mut stream: Vec<u8> = Vec::new();
    for (offset, data) in pieces.iter() {
        let (offset, data) = (*offset, data.as_ref());
        if offset > stream.len() {
            break;
        }
        let end = (offset + data.len()).min(MAX_HELLO);
        if end > stream.len() {
            let skip = stream.len() - offset;
            stream.extend_from_slice(&data[skip..end - offset]);
        }
    }
    stream
}

/// The ClientHello that a CRYPTO stream's first bytes hold whole.
pub fn hello_of(stream: &[u8]) -> Option<Box<Hello>> {
    let need = 4 + (((*stream.get(1)? as usize) << 16) | (be16(stream, 2..4)? as usize));
    if stream.first() != Some(&1) || stream.len() < need {
        return None;
    }
    Hello::parse(&stream[..need]).map(Box::new)
}

/// A connection id as lowercase hex, as tshark shows `quic.dcid`.
pub fn cid_hex(cid: &[u8]) -> String {
    super::hex(cid)
}

/// A client Initial of `version` to `dcid` carrying the CRYPTO frames `crypto` [(offset,
/// bytes)], padded to 1200 bytes and protected as RFC 9001 §5 (RFC 9369) says: what tests
/// feed the readers.
#[cfg(test)]
pub(crate) fn seal_client_initial(
    version: u32,
    dcid: &[u8],
    crypto: &[(usize, &[u8])],
    pn: u16,
) -> Vec<u8> {
    fn varint(v: usize, out: &mut Vec<u8>) {
        if v < 0x40 {
            out.push(v as u8);
        } else {
            out.extend_from_slice(&(0x4000 | v as u16).to_be_bytes());
        }
    }
    let suite = suite(version).expect("a known version");
    let keys = client_keys(dcid, &suite).expect("keys");
    let mut payload = Vec::new();
    for (offset, data) in crypto {
        payload.push(0x06);
        varint(*offset, &mut payload);
        varint(data.len(), &mut payload);
        payload.extend_from_slice(data);
    }
    let kind = if suite.v2 { 1 } else { 0 };
    let mut header = vec![0xc0 | (kind << 4) | 1];
    header.extend_from_slice(&version.to_be_bytes());
    header.push(dcid.len() as u8);
    header.extend_from_slice(dcid);
    header.extend_from_slice(&[0, 0]); // no source id, no token
    let length = MIN_CLIENT_DATAGRAM - header.len() - 2;
    assert!(
        payload.len() + 2 + 16 <= length,
        "the frames fit one Initial"
    );
    payload.resize(length - 2 - 16, 0);
    header.extend_from_slice(&(0x4000 | length as u16).to_be_bytes());
    let pn_offset = header.len();
    header.extend_from_slice(&pn.to_be_bytes());
    let mut nonce = keys.iv;
    for (i, b) in (pn as u64).to_be_bytes().iter().enumerate() {
        nonce[4 + i] ^= b;
    }
    let tag = keys
        .aead
        .encrypt_inout_detached(&Nonce::from(nonce), &header, payload.as_mut_slice().into())
        .expect("sealed");
    payload.extend_from_slice(&tag);
    let mut mask = aes::Block::default();
    mask.copy_from_slice(&payload[2..18]);
    keys.hp.encrypt_block(&mut mask);
    header[0] ^= mask[0] & 0x0f;
    header[pn_offset] ^= mask[1];
    header[pn_offset + 1] ^= mask[2];
    header.extend_from_slice(&payload);
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s = s.trim();
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 9001 Appendix A.2: the client's first Initial packet, protected, 1200 bytes.
    fn rfc9001_client_initial() -> Vec<u8> {
        unhex(include_str!("testdata/rfc9001_a2_client_initial.hex"))
    }

    #[test]
    fn opens_rfc9001s_client_initial() {
        let d = rfc9001_client_initial();
        let h = parse(&d).unwrap();
        assert_eq!(h.version, VERSION_1);
        assert_eq!(cid_hex(h.dcid), "8394c8f03e515708");
        assert!(h.scid.is_empty());
        let hello = h.hello.expect("the appendix's ClientHello");
        assert_eq!(hello.server_name.as_deref(), Some(&b"example.com"[..]));
        assert_eq!(hello.version(), 0x0304);
        assert!(hello.ja4(true).unwrap().starts_with("q13d"));
    }

    #[test]
    fn a_changed_byte_or_a_cut_packet_opens_nothing() {
        let d = rfc9001_client_initial();
        for i in [0usize, 30, 600, 1199] {
            let mut bad = d.clone();
            bad[i] ^= 0x20;
            assert!(parse(&bad).is_none_or(|h| h.hello.is_none()), "byte {i}");
        }
        for cut in [10, 100, 1000, 1199] {
            assert!(
                parse(&d[..cut]).is_none_or(|h| h.hello.is_none()),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn varints_read_all_four_lengths() {
        for (bytes, want) in [
            (&[0x25][..], 37u64),
            (&[0x7b, 0xbd], 15293),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c],
                151_288_809_941_952_652,
            ),
        ] {
            let mut at = 0;
            assert_eq!(varint(bytes, &mut at), Some(want));
            assert_eq!(at, bytes.len());
        }
    }

    #[test]
    fn any_bytes_parse_without_panic() {
        let base = rfc9001_client_initial();
        let mut next = crate::wire::xorshift(0x1234_5678_9abc_def1u64);
        for _ in 0..2_000 {
            let mut m = base.clone();
            for _ in 0..(next() % 4) {
                let i = (next() as usize) % 30;
                m[i] = next() as u8;
            }
            m.truncate((next() as usize) % (m.len() + 1));
            let _ = parse(&m);
        }
        // The payload reader on its own, with frames of any bytes.
        for _ in 0..20_000 {
            let p: Vec<u8> = (0..(next() % 64) as usize).map(|_| next() as u8).collect();
            let mut pieces = crypto_frames(&p).unwrap_or_default();
            let _ = hello_of(&contiguous(&mut pieces));
        }
    }

    #[test]
    fn a_sealed_initial_opens_with_its_crypto() {
        let hello = b"\x01\x00\x00\x05hello";
        let sealed =
            seal_client_initial(VERSION_1, &[9; 8], &[(0, &hello[..4]), (4, &hello[4..])], 3);
        assert_eq!(sealed.len(), MIN_CLIENT_DATAGRAM);
        let q = parse(&sealed).unwrap();
        assert!(q.opened && q.hello.is_none());
        let mut crypto = q.crypto.clone();
        assert_eq!(contiguous(&mut crypto), hello);
        let v2 = seal_client_initial(VERSION_2, &[1; 4], &[(7, b"x")], 0);
        assert!(parse(&v2).unwrap().opened);
    }
}
