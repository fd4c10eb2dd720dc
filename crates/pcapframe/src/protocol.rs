//! IP protocol numbers and the names the `protocol` column uses: the old plugin's names
//! first (`icmp6`, `igrp`, `ipip`), then lowercase IANA keywords, else the number as text.

/// Name for each protocol number; `None` where IANA assigns no keyword.
static NAMES: [Option<&str>; 256] = {
    let mut t: [Option<&str>; 256] = [None; 256];
    let known: &[(usize, &str)] = &[
        (0, "hopopt"),
        (1, "icmp"),
        (2, "igmp"),
        (3, "ggp"),
        (4, "ipip"),
        (5, "st"),
        (6, "tcp"),
        (7, "cbt"),
        (8, "egp"),
        (9, "igrp"),
        (10, "bbn-rcc-mon"),
        (11, "nvp-ii"),
        (12, "pup"),
        (13, "argus"),
        (14, "emcon"),
        (15, "xnet"),
        (16, "chaos"),
        (17, "udp"),
        (18, "mux"),
        (19, "dcn-meas"),
        (20, "hmp"),
        (21, "prm"),
        (22, "xns-idp"),
        (23, "trunk-1"),
        (24, "trunk-2"),
        (25, "leaf-1"),
        (26, "leaf-2"),
        (27, "rdp"),
        (28, "irtp"),
        (29, "iso-tp4"),
        (30, "netblt"),
        (31, "mfe-nsp"),
        (32, "merit-inp"),
        (33, "dccp"),
        (34, "3pc"),
        (35, "idpr"),
        (36, "xtp"),
        (37, "ddp"),
        (38, "idpr-cmtp"),
        (39, "tp++"),
        (40, "il"),
        (41, "ipv6"),
        (42, "sdrp"),
        (43, "ipv6-route"),
        (44, "ipv6-frag"),
        (45, "idrp"),
        (46, "rsvp"),
        (47, "gre"),
        (48, "dsr"),
        (49, "bna"),
        (50, "esp"),
        (51, "ah"),
        (52, "i-nlsp"),
        (53, "swipe"),
        (54, "narp"),
        (55, "min-ipv4"),
        (56, "tlsp"),
        (57, "skip"),
        (58, "icmp6"),
        (59, "ipv6-nonxt"),
        (60, "ipv6-opts"),
        (62, "cftp"),
        (64, "sat-expak"),
        (65, "kryptolan"),
        (66, "rvd"),
        (67, "ippc"),
        (69, "sat-mon"),
        (70, "visa"),
        (71, "ipcv"),
        (72, "cpnx"),
        (73, "cphb"),
        (74, "wsn"),
        (75, "pvp"),
        (76, "br-sat-mon"),
        (77, "sun-nd"),
        (78, "wb-mon"),
        (79, "wb-expak"),
        (80, "iso-ip"),
        (81, "vmtp"),
        (82, "secure-vmtp"),
        (83, "vines"),
        (84, "ttp"),
        (85, "nsfnet-igp"),
        (86, "dgp"),
        (87, "tcf"),
        (88, "eigrp"),
        (89, "ospfigp"),
        (90, "sprite-rpc"),
        (91, "larp"),
        (92, "mtp"),
        (93, "ax.25"),
        (94, "ipeip"),
        (95, "micp"),
        (96, "scc-sp"),
        (97, "etherip"),
        (98, "encap"),
        (100, "gmtp"),
        (101, "ifmp"),
        (102, "pnni"),
        (103, "pim"),
        (104, "aris"),
        (105, "scps"),
        (106, "qnx"),
        (107, "a/n"),
        (108, "ipcomp"),
        (109, "snp"),
        (110, "compaq-peer"),
        (111, "ipx-in-ip"),
        (112, "vrrp"),
        (113, "pgm"),
        (115, "l2tp"),
        (116, "ddx"),
        (117, "iatp"),
        (118, "stp"),
        (119, "srp"),
        (120, "uti"),
        (121, "smp"),
        (122, "sm"),
        (123, "ptp"),
        (124, "isis"),
        (125, "fire"),
        (126, "crtp"),
        (127, "crudp"),
        (128, "sscopmce"),
        (129, "iplt"),
        (130, "sps"),
        (131, "pipe"),
        (132, "sctp"),
        (133, "fc"),
        (134, "rsvp-e2e-ignore"),
        (135, "mobility-header"),
        (136, "udplite"),
        (137, "mpls-in-ip"),
        (138, "manet"),
        (139, "hip"),
        (140, "shim6"),
        (141, "wesp"),
        (142, "rohc"),
        (143, "ethernet"),
        (144, "aggfrag"),
        (145, "nsh"),
    ];
    let mut i = 0;
    while i < known.len() {
        t[known[i].0] = Some(known[i].1);
        i += 1;
    }
    t
};

/// Other spellings users reach for, accepted by `protocol=` but never produced.
const ALIASES: &[(&str, u8)] = &[
    ("icmpv6", 58),
    ("ipv6-icmp", 58),
    ("ipv4", 4),
    ("ipencap", 4),
    ("igp", 9),
    ("ospf", 89),
];

/// The `protocol` column's text for a protocol number.
pub fn name(number: u8) -> std::borrow::Cow<'static, str> {
    match NAMES[number as usize] {
        Some(n) => n.into(),
        None => number.to_string().into(),
    }
}

/// The protocol number for a name (as the column writes it, an alias, or the number as
/// text); `None` for anything else.
pub fn number(name: &str) -> Option<u8> {
    let lower = name.trim().to_ascii_lowercase();
    if let Some(i) = NAMES.iter().position(|n| *n == Some(lower.as_str())) {
        return Some(i as u8);
    }
    if let Some((_, n)) = ALIASES.iter().find(|(a, _)| *a == lower) {
        return Some(*n);
    }
    lower.parse::<u8>().ok()
}

/// Every name `number` accepts besides plain numbers: the documented ones first.
pub fn valid_names() -> Vec<&'static str> {
    const DOCUMENTED: [&str; 10] = [
        "tcp", "udp", "icmp", "icmp6", "igmp", "igrp", "pim", "ah", "esp", "vrrp",
    ];
    let mut out: Vec<&'static str> = DOCUMENTED.to_vec();
    out.extend(NAMES.iter().flatten().filter(|n| !DOCUMENTED.contains(n)));
    out.extend(ALIASES.iter().map(|(a, _)| *a));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        for n in 0..=255u8 {
            assert_eq!(number(&name(n)), Some(n), "protocol {n}");
        }
        assert_eq!(name(58), "icmp6");
        assert_eq!(name(253), "253");
        assert_eq!(number("ICMPv6"), Some(58));
        assert_eq!(number("nonsense"), None);
        let names = valid_names();
        assert_eq!(names[0], "tcp");
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }
}
