//! Community ID v1 (github.com/corelight/community-id-spec): a flow's endpoints hashed
//! into one string that Zeek, Suricata, Wireshark and nfstream also write, so that flows
//! and packets from here join theirs. SHA-1 over the seed, the two addresses, the protocol,
//! a pad byte and the two ports (ICMP's type and its counterpart or code), endpoints in
//! numeric order unless the ICMP message is one-way; then base64, prefixed with `1:`.

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::ip::Addr;
use crate::wire::ip_protocol::{ICMP, ICMPV6, TCP, UDP};

/// SCTP's IP protocol number: its ports are hashed too.
const SCTP: u8 = 132;

/// ICMP request/reply pairs, as Zeek pairs them: each type with its counterpart.
pub(crate) const ICMP_PAIRS: [(u8, u8); 5] = [(8, 0), (13, 14), (15, 16), (10, 9), (17, 18)];
pub(crate) const ICMPV6_PAIRS: [(u8, u8); 6] = [
    (128, 129),
    (130, 131),
    (133, 134),
    (135, 136),
    (139, 140),
    (144, 145),
];

/// The "ports" of an ICMP message: its type and its counterpart's type, or its type and
/// code when it has no counterpart (then the message is one-way and the endpoints keep
/// their order).
pub(crate) fn icmp_ports(pairs: &[(u8, u8)], msg_type: u8, code: u8) -> (u16, u16, bool) {
    let counterpart = pairs.iter().find_map(|&(a, b)| match msg_type {
        t if t == a => Some(b),
        t if t == b => Some(a),
        _ => None,
    });
    match counterpart {
        Some(other) => (msg_type.into(), other.into(), false),
        None => (msg_type.into(), code.into(), true),
    }
}

/// The Community ID v1 of a packet's flow. `ports` are TCP's, UDP's or SCTP's source and
/// destination ports, or ICMP's (ICMPv6's) type and code; protocols without ports hash
/// the addresses and the protocol only, as do port protocols whose ports are unknown (a
/// later fragment). Made without allocating: with the hashed bytes gathered in two
/// vectors and the text in a string, 65,536 flows took 17 ms, the largest part of
/// building a batch of them.
pub fn community_id_v1(
    seed: u16,
    src: Addr,
    dst: Addr,
    protocol: u8,
    ports: Option<(u16, u16)>,
) -> CommunityId {
    let ports = ports.and_then(|(a, b)| match protocol {
        TCP | UDP | SCTP => Some((a, b, false)),
        ICMP => Some(icmp_ports(&ICMP_PAIRS, a as u8, b as u8)),
        ICMPV6 => Some(icmp_ports(&ICMPV6_PAIRS, a as u8, b as u8)),
        _ => None,
    });
    let octets = |a: &Addr| -> ([u8; 16], usize) {
        let mut out = [0u8; 16];
        match a {
            Addr::V4(b) => {
                out[..4].copy_from_slice(b);
                (out, 4)
            }
            Addr::V6(b) => (*b, 16),
        }
    };
    let (s, d) = (octets(&src), octets(&dst));
    let (mut s, mut d) = (&s.0[..s.1], &d.0[..d.1]);
    let (mut sp, mut dp, one_way) = ports.unwrap_or((0, 0, false));
    if !one_way && (s > d || (s == d && sp > dp)) {
        std::mem::swap(&mut s, &mut d);
        std::mem::swap(&mut sp, &mut dp);
    }
    // The hashed message, at most 2 + 16 + 16 + 2 + 4 bytes.
    let mut message = [0u8; 40];
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        message[n..n + bytes.len()].copy_from_slice(bytes);
        n += bytes.len();
    };
    put(&seed.to_be_bytes());
    put(s);
    put(d);
    put(&[protocol, 0]);
    if ports.is_some() {
        put(&sp.to_be_bytes());
        put(&dp.to_be_bytes());
    }
    let digest = Sha1::digest(&message[..n]);
    let mut text = [0u8; 30];
    text[..2].copy_from_slice(b"1:");
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(digest, &mut text[2..])
        .expect("20 bytes are 28 base64 characters");
    debug_assert_eq!(written, 28);
    CommunityId(text)
}

/// A Community ID v1 as its 30 ASCII bytes: `1:` and the base64 of the SHA-1.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CommunityId([u8; 30]);

impl CommunityId {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("base64 is ASCII")
    }
}

impl PartialEq<&str> for CommunityId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Debug for CommunityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4]) -> Addr {
        Addr::V4(a)
    }

    fn v6(text: &str) -> Addr {
        Addr::V6(
            text.parse::<std::net::Ipv6Addr>()
                .expect("an address")
                .octets(),
        )
    }

    /// Each expected value was computed by the reference implementation, pycommunityid
    /// 1.5.0 (`CommunityID().calc(FlowTuple.make_tcp(...))` and its siblings); the first is
    /// also the spec's README example.
    #[test]
    fn equals_the_reference_implementation() {
        let tcp = community_id_v1(
            0,
            v4([128, 232, 110, 120]),
            v4([66, 35, 250, 204]),
            TCP,
            Some((34855, 80)),
        );
        assert_eq!(tcp, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
        let back = community_id_v1(
            0,
            v4([66, 35, 250, 204]),
            v4([128, 232, 110, 120]),
            TCP,
            Some((80, 34855)),
        );
        assert_eq!(back, tcp);
        assert_eq!(
            community_id_v1(0, v6("fe80::1"), v6("2001:db8::2"), UDP, Some((5353, 53))),
            "1:14aq09RhPv6ojsvt5daa6n2F1ds="
        );
        // An echo request and its reply are one flow.
        let request = community_id_v1(
            0,
            v4([192, 168, 0, 89]),
            v4([192, 168, 0, 1]),
            ICMP,
            Some((8, 0)),
        );
        let reply = community_id_v1(
            0,
            v4([192, 168, 0, 1]),
            v4([192, 168, 0, 89]),
            ICMP,
            Some((0, 0)),
        );
        assert_eq!(
            (request.as_str(), reply.as_str()),
            (
                "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=",
                "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="
            )
        );
        // A one-way message keeps its endpoints' order.
        assert_eq!(
            community_id_v1(0, v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), ICMP, Some((3, 3))),
            "1:sn6MAmXQ6UD1gYE1XbV3XTNewrk="
        );
        assert_eq!(
            community_id_v1(0, v4([10, 0, 0, 2]), v4([10, 0, 0, 1]), ICMP, Some((3, 3))),
            "1:LhjXG72oBqb/FpYqPl9LboG4/B4="
        );
        assert_eq!(
            community_id_v1(
                0,
                v6("fe80::200:86ff:fe05:80da"),
                v6("fe80::260:97ff:fe07:69ea"),
                ICMPV6,
                Some((135, 0))
            ),
            "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="
        );
        assert_eq!(
            community_id_v1(
                0,
                v6("3ffe:507:0:1:200:86ff:fe05:80da"),
                v6("3ffe:507:0:1:260:97ff:fe07:69ea"),
                ICMPV6,
                Some((128, 0))
            ),
            "1:GpbEQrKqfWtsfsFiqg8fufoZe5Y="
        );
        assert_eq!(
            community_id_v1(
                0,
                v4([192, 168, 170, 8]),
                v4([192, 168, 170, 56]),
                SCTP,
                Some((7, 80))
            ),
            "1:jQgCxbku+pNGw8WPbEc/TS/uTpQ="
        );
        assert_eq!(
            community_id_v1(0, v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), 47, None),
            "1:+KlEHDT0vJgzs/eNmzHq0aSpRYw="
        );
        // Equal addresses: the ports decide the order.
        assert_eq!(
            community_id_v1(
                0,
                v4([10, 0, 0, 1]),
                v4([10, 0, 0, 1]),
                TCP,
                Some((80, 1234))
            ),
            "1:WaobEo3Uyp/JjlL9QX3lvrl1Oag="
        );
        assert_eq!(
            community_id_v1(1, v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), TCP, Some((1, 2))),
            "1:erVUS54Wc9CCvvYjJ15vnxAV4Fw="
        );
    }

    proptest::proptest! {
        /// Both directions of a flow have one id (ICMP's one-way messages aside).
        #[test]
        fn both_directions_hash_alike(a in proptest::prelude::any::<[u8; 4]>(), b in proptest::prelude::any::<[u8; 4]>(),
                                      p in proptest::prelude::any::<u16>(), q in proptest::prelude::any::<u16>()) {
            proptest::prop_assert_eq!(
                community_id_v1(0, v4(a), v4(b), UDP, Some((p, q))),
                community_id_v1(0, v4(b), v4(a), UDP, Some((q, p)))
            );
        }
    }
}
