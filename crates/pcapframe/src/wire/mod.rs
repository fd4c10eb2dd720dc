//! Zero-copy views over the headers of a captured packet, one file per header, in the
//! manner of smoltcp's `wire`: a private `mod field` of byte ranges, one-line accessors,
//! tests at the foot with the packet as a byte array. Unlike smoltcp, a view never refuses
//! a short capture: every accessor returns `None` when its field was not captured (or lies
//! past the bound the view was given), so a decoder can say where it stopped and still
//! use what came before, as etherparse's lax slicing does.
//!
//! A view is made over the bytes from the header's first byte to the end of what may be
//! read (the captured bytes, or less when an outer header bounds its payload).

pub mod dns;
pub mod erspan;
pub mod ethernet;
pub mod geneve;
pub mod gre;
pub mod gtpu;
pub mod http;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod l2tp;
pub mod mpls;
pub mod nsh;
pub mod pppoe;
pub mod quic;
pub mod tcp;
#[cfg(test)]
pub(crate) mod testing;
pub mod tls;
pub mod udp;
pub mod vxlan;

/// IP protocol numbers (IANA), as IPv4's protocol and IPv6's next-header fields hold them.
/// How far a parse of a stream's first bytes got: the bytes may hold the start of a
/// message that later bytes complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress<T> {
    /// What is there may start one: more bytes are needed.
    Incomplete,
    /// Not one.
    Invalid,
    Done(T),
}

pub mod ip_protocol {
    pub const HOPOPT: u8 = 0;
    pub const ICMP: u8 = 1;
    /// IPv4 encapsulated in IP (IP-in-IP, IPsec tunnel mode).
    pub const IPV4_IN_IP: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    /// IPv6 encapsulated in IP (6in4, 6in6).
    pub const IPV6_IN_IP: u8 = 41;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const GRE: u8 = 47;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const DSTOPTS: u8 = 60;
    pub const PIM: u8 = 103;
}

/// A field's byte range within its header.
pub type Field = std::ops::Range<usize>;

/// The byte at `at`, if captured.
#[inline]
pub fn u8_at(bytes: &[u8], at: usize) -> Option<u8> {
    bytes.get(at).copied()
}

/// The big-endian 16-bit field `f`, if wholly captured.
#[inline]
pub fn be16(bytes: &[u8], f: Field) -> Option<u16> {
    let b = bytes.get(f)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// The big-endian 32-bit field `f`, if wholly captured.
#[inline]
pub fn be32(bytes: &[u8], f: Field) -> Option<u32> {
    let b = bytes.get(f)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The `N`-byte field `f` (an address), if wholly captured.
#[inline]
pub fn array<const N: usize>(bytes: &[u8], f: Field) -> Option<[u8; N]> {
    bytes.get(f)?.try_into().ok()
}

/// `bytes` as lowercase hex, two digits a byte (payload in text outputs, fingerprints,
/// QUIC connection ids).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// Append `bytes` to `out` as tshark 4.0 displays text: UTF-8, each invalid sequence as
/// U+FFFD, the C escapes `\a \b \t \n \v \f \r` for those controls and `\ooo` (octal) for
/// the other controls and DEL.
pub fn push_display_text(bytes: &[u8], out: &mut String) {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\x07' => out.push_str("\\a"),
                '\x08' => out.push_str("\\b"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\x0b' => out.push_str("\\v"),
                '\x0c' => out.push_str("\\f"),
                '\r' => out.push_str("\\r"),
                c if (c as u32) < 0x20 || c == '\x7f' => {
                    let v = c as u32;
                    out.push('\\');
                    out.push(char::from(b'0' + (v >> 6) as u8));
                    out.push(char::from(b'0' + ((v >> 3) & 7) as u8));
                    out.push(char::from(b'0' + (v & 7) as u8));
                }
                c => out.push(c),
            }
        }
        if !chunk.invalid().is_empty() {
            out.push('\u{fffd}');
        }
    }
}

/// `bytes` from `at` on (empty past the end): the next header's view starts there.
#[inline]
pub fn rest(bytes: &[u8], at: usize) -> &[u8] {
    bytes.get(at..).unwrap_or(&[])
}

/// A fixed xorshift64 sequence from `seed` (not 0), for the parsers' fuzz tests: a
/// failure repeats.
#[cfg(test)]
pub(crate) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_shown_as_tshark_shows_it() {
        let mut out = String::new();
        push_display_text(b"a\nb\x7f\x1b\x00\xff caf\xc3\xa9\\", &mut out);
        assert_eq!(out, "a\\nb\\177\\033\\000\u{fffd} caf\u{e9}\\");
    }

    #[test]
    fn hex_is_two_lowercase_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x9f, 0xab]), "009fab");
        assert_eq!(hex(&[]), "");
    }
}
