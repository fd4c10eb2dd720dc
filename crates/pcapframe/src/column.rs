//! The columns a read can produce, and the choice of them (`columns=`): decided once,
//! before the loop, so that only what is asked for is decoded and built.

use arrow_schema::{DataType, Field, TimeUnit};

use crate::error::{Error, Result};

/// One column of a read. The order of [`Column::ALL`] is the documented order, and the
/// order of [`COLUMNS`], whose entries define each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    Time,
    SrcHost,
    SrcPort,
    DstHost,
    DstPort,
    Protocol,
    Payload,
    Length,
    Caplen,
    Interface,
    IpVersion,
    Ttl,
    IpId,
    IpProto,
    Dscp,
    Ecn,
    FragmentOffset,
    MoreFragments,
    TcpFlags,
    TcpSeq,
    TcpAck,
    TcpWindow,
    IcmpType,
    IcmpCode,
    Vlan,
    SrcMac,
    DstMac,
    Ethertype,
    PayloadLength,
    Tunnel,
    TunnelId,
    OuterSrcHost,
    OuterDstHost,
    Frame,
    Offset,
    CommunityId,
    FlowId,
    Direction,
    DnsId,
    DnsResponse,
    DnsOpcode,
    DnsRcode,
    DnsQname,
    DnsQtype,
    DnsQclass,
    DnsAnswers,
    DnsTtls,
    DnsTruncated,
    TlsHandshake,
    TlsSni,
    TlsVersions,
    TlsVersion,
    TlsAlpn,
    TlsCipher,
    TlsJa3,
    TlsJa3s,
    TlsJa4,
    HttpMethod,
    HttpHost,
    HttpUri,
    HttpUserAgent,
    HttpStatus,
    HttpContentType,
    QuicVersion,
    QuicDcid,
    QuicScid,
}

/// The documented six, what a read gives without `columns=`.
pub const DEFAULT: [Column; 6] = [
    Column::Time,
    Column::SrcHost,
    Column::SrcPort,
    Column::DstHost,
    Column::DstPort,
    Column::Protocol,
];

/// A column's Arrow type, as a constant (Arrow's `DataType` cannot be one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Nanoseconds since the epoch, no timezone.
    Timestamp,
    /// Dictionary-encoded text with 32-bit keys (hosts, MACs, interface names).
    Text32,
    /// Dictionary-encoded text with 16-bit keys (few distinct values).
    Text16,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Boolean,
    /// Bytes with 64-bit offsets.
    Binary,
    /// A list of text per row.
    TextList,
    /// A list of 16-bit unsigned integers per row.
    UInt16List,
    /// A list of 32-bit unsigned integers per row.
    UInt32List,
}

impl Kind {
    pub fn data_type(self) -> DataType {
        let text = |keys| DataType::Dictionary(Box::new(keys), Box::new(DataType::Utf8));
        match self {
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Nanosecond, None),
            Kind::Text32 => text(DataType::Int32),
            Kind::Text16 => text(DataType::Int16),
            Kind::UInt8 => DataType::UInt8,
            Kind::UInt16 => DataType::UInt16,
            Kind::UInt32 => DataType::UInt32,
            Kind::UInt64 => DataType::UInt64,
            Kind::Boolean => DataType::Boolean,
            Kind::Binary => DataType::LargeBinary,
            Kind::TextList => DataType::List(std::sync::Arc::new(Field::new_list_field(
                DataType::Utf8,
                true,
            ))),
            Kind::UInt16List => DataType::List(std::sync::Arc::new(Field::new_list_field(
                DataType::UInt16,
                true,
            ))),
            Kind::UInt32List => DataType::List(std::sync::Arc::new(Field::new_list_field(
                DataType::UInt32,
                true,
            ))),
        }
    }

    /// The pandas dtype a read gives (as the README's table names it).
    pub fn pandas_dtype(self) -> &'static str {
        match self {
            Kind::Timestamp => "datetime64[ns]",
            Kind::Text32 | Kind::Text16 => "category",
            Kind::UInt8 => "UInt8",
            Kind::UInt16 => "UInt16",
            Kind::UInt32 => "UInt32",
            Kind::UInt64 => "UInt64",
            Kind::Boolean => "boolean",
            Kind::Binary => "large_binary[pyarrow]",
            Kind::TextList => "list<item: string>[pyarrow]",
            Kind::UInt16List => "list<item: uint16>[pyarrow]",
            Kind::UInt32List => "list<item: uint32>[pyarrow]",
        }
    }
}

/// What must be decoded, beyond the record and its outermost IP header, to build a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// The record and the IP header chain.
    Nothing,
    /// The transport header's ports and where the payload starts.
    Transport,
    /// The tunnels inside the packet (even without `decapsulate=`).
    Tunnels,
    /// The flow table run over every packet before it, in order (`flow::label`): the
    /// transport header, and a read of the whole capture in order.
    Flows,
    /// The TCP streams from each file's start (`stream`): the transport header, and each
    /// file read from its start (its byte ranges checked against each other in order).
    Streams,
}

/// The definition of one column: everything the schema, the choice of columns, the
/// documentation and the tests know about it. The builder is `batch::BatchBuilder`'s arm
/// for it.
#[derive(Debug, Clone, Copy)]
pub struct ColumnDef {
    pub column: Column,
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
    pub needs: Needs,
    /// What the column holds, for the README's table (Markdown).
    pub doc: &'static str,
    /// The tshark fields the tests hold the column to (empty: tested otherwise, as the doc
    /// says).
    pub tshark: &'static str,
}

const fn def(
    column: Column,
    name: &'static str,
    kind: Kind,
    nullable: bool,
    needs: Needs,
    doc: &'static str,
    tshark: &'static str,
) -> ColumnDef {
    ColumnDef {
        column,
        name,
        kind,
        nullable,
        needs,
        doc,
        tshark,
    }
}

/// Every column, in the documented order (the order of `Column`'s variants).
pub const COLUMNS: [ColumnDef; 66] = {
    use Column::*;
    use Kind::*;
    use Needs::*;
    [
        def(Time, "time", Timestamp, true, Nothing,
            "capture time, UTC wall-clock without a timezone, exact to the nanosecond the file holds; `NaT` for pcapng Simple Packet Blocks (they carry no time) and for times past what 64-bit nanoseconds hold (the year 2262)",
            "frame.time_epoch"),
        def(SrcHost, "src_host", Text32, false, Nothing,
            "source address of the row's IP header (the outermost; the innermost with `decapsulate=True`): dotted IPv4, RFC 5952 IPv6; shares its categories with `dst_host`",
            "ip.src, ipv6.src"),
        def(SrcPort, "src_port", UInt16, true, Transport,
            "source port of the TCP or UDP header that follows the row's IP header (after IPv6 extension headers and AH); missing (`<NA>`) for every other protocol and for non-first fragments",
            "tcp.srcport, udp.srcport"),
        def(DstHost, "dst_host", Text32, false, Nothing,
            "destination address of the row's IP header, as `src_host`",
            "ip.dst, ipv6.dst"),
        def(DstPort, "dst_port", UInt16, true, Transport,
            "destination port, as `src_port`",
            "tcp.dstport, udp.dstport"),
        def(Protocol, "protocol", Text16, false, Nothing,
            "lowercase name of the protocol reached after the row's IP header, its IPv6 extension headers and AH: `tcp`, `udp`, `icmp`, `icmp6`, `igmp`, `igrp`, `pim`, `ah`, `esp`, `vrrp`, then IANA keywords (`gre`, `sctp`, `ipip` for 4, `ipv6`, `ipcomp`, `l2tp`, `ipv6-nonxt`, ...), else the number as text",
            "ip.proto, ipv6.nxt"),
        def(Payload, "payload", Binary, false, Transport,
            "(only with `payload=True` or when named) the bytes after the transport header (TCP with options, UDP, ICMP/ICMPv6 after their 8-byte header), bounded by the IP length (no Ethernet padding), by PPPoE's length when the IP length claims more (as Wireshark), and by what was captured; for other protocols and non-first fragments, the bytes after the IP header chain",
            ""),
        def(Length, "length", UInt32, false, Nothing,
            "length of the packet on the wire, which may exceed what was captured",
            "frame.len"),
        def(Caplen, "caplen", UInt32, false, Nothing,
            "bytes of it in the capture",
            "frame.cap_len"),
        def(Interface, "interface", Text32, false, Nothing,
            "the pcapng interface's `if_name`, else its `if_description` (as Wireshark names it), else the interface's index in its section as text; `\"0\"` for classic pcap; a live source's interface name",
            "frame.interface_name, frame.interface_id"),
        def(IpVersion, "ip_version", UInt8, false, Nothing,
            "4 or 6: the version of the row's IP header, the one `src_host` and `dst_host` come from",
            "ip.version, ipv6.version"),
        def(Ttl, "ttl", UInt8, false, Nothing,
            "that header's IPv4 TTL or IPv6 hop limit",
            "ip.ttl, ipv6.hlim"),
        def(IpId, "ip_id", UInt32, true, Nothing,
            "IPv4 identification (16 bits); for IPv6, the 32-bit identification of the first fragment header in that header chain, missing when there is none",
            "ip.id, ipv6.fraghdr.ident"),
        def(IpProto, "ip_proto", UInt8, false, Nothing,
            "that header's protocol / next-header number, before IPv6 extension headers and AH (`protocol` names what comes after them)",
            "ip.proto, ipv6.nxt"),
        def(Dscp, "dscp", UInt8, false, Nothing,
            "the DiffServ code point (6 bits) of IPv4's type of service or IPv6's traffic class",
            "ip.dsfield.dscp, ipv6.tclass.dscp"),
        def(Ecn, "ecn", UInt8, false, Nothing,
            "ECN (2 bits), from the same field",
            "ip.dsfield.ecn, ipv6.tclass.ecn"),
        def(FragmentOffset, "fragment_offset", UInt16, false, Nothing,
            "fragment offset in bytes, of the IPv4 header or of the first IPv6 fragment header; 0 when not fragmented (tshark's field output gives IPv6's in 8-byte units)",
            "ip.frag_offset, ipv6.fraghdr.offset"),
        def(MoreFragments, "more_fragments", Boolean, false, Nothing,
            "the more-fragments flag, from the same header; false when not fragmented",
            "ip.flags.mf, ipv6.fraghdr.more"),
        def(TcpFlags, "tcp_flags", Text16, true, Nothing,
            "TCP flags as tcpdump prints them: `F S R P . U E W` in that order (`S`, `S.`, `.`, `P.`, `F.`, `R`, `R.`, `SEW`), `none` when no flag is set; missing for non-TCP packets, non-first fragments and a flags byte not captured",
            "tcp.flags"),
        def(TcpSeq, "tcp_seq", UInt32, true, Nothing,
            "sequence number as the header holds it, not relative",
            "tcp.seq_raw"),
        def(TcpAck, "tcp_ack", UInt32, true, Nothing,
            "acknowledgement number as the header holds it, even without the ACK flag, as tshark",
            "tcp.ack_raw"),
        def(TcpWindow, "tcp_window", UInt16, true, Nothing,
            "the window field, not scaled",
            "tcp.window_size_value"),
        def(IcmpType, "icmp_type", UInt8, true, Nothing,
            "type of the ICMP or ICMPv6 header reached after extension headers; missing for other protocols",
            "icmp.type, icmpv6.type"),
        def(IcmpCode, "icmp_code", UInt8, true, Nothing,
            "its code",
            "icmp.code, icmpv6.code"),
        def(Vlan, "vlan", UInt16, true, Nothing,
            "the outer frame's outermost 802.1Q / 802.1ad VLAN id; missing for untagged frames",
            "vlan.id, ieee8021ad.id"),
        def(SrcMac, "src_mac", Text32, true, Nothing,
            "source address of the outer frame's Ethernet header that carries the IP packet (the inner one behind an MPLS Ethernet pseudowire, PBB, FabricPath or NSH), or of the 802.11 header (SA, by To DS / From DS), as `aa:bb:cc:dd:ee:ff`; missing for links without them (raw IP, Linux SLL, BSD NULL, PPP, FDDI, ...); shares its categories with `dst_mac`",
            "eth.src, wlan.sa"),
        def(DstMac, "dst_mac", Text32, true, Nothing,
            "destination address of the same header, as `src_mac`",
            "eth.dst, wlan.da"),
        def(Ethertype, "ethertype", UInt16, true, Nothing,
            "the EtherType of that Ethernet header after its VLAN tags: `0x0800`, `0x86dd`, `0x8864` (PPPoE), `0x8847` (MPLS), the SNAP type of an 802.3 LLC/SNAP frame; missing without an Ethernet header (802.11 included)",
            "eth.type, vlan.etype, llc.type"),
        def(PayloadLength, "payload_length", UInt32, false, Transport,
            "length of the row's `payload` bytes, as that column defines them",
            "tcp.len"),
        def(Tunnel, "tunnel", Text32, true, Tunnels,
            "the tunnels crossed to reach the innermost IP packet, outermost first, joined by `/`: `ipip`, `gre`, `erspan`, `vxlan`, `geneve`, `gtp-u`, `teredo`, `l2tp`, `mpls-udp`, `pim`, `lisp` (`gre/erspan`, `ipip/gre`, ...); a tunnel whose payload is not a whole IP packet ends the chain; missing when there is none; the same with or without `decapsulate`",
            "frame.protocols"),
        def(TunnelId, "tunnel_id", UInt32, true, Tunnels,
            "the innermost tunnel's identifier: VXLAN or Geneve VNI, GTP-U TEID, GRE key, ERSPAN session, L2TP session; missing when it has none",
            "vxlan.vni, geneve.vni, gtp.teid, gre.key, erspan.spanid, l2tp.sid"),
        def(OuterSrcHost, "outer_src_host", Text32, false, Nothing,
            "source address of the outermost IP header, tshark's first `ip`/`ipv6` layer (equal to `src_host` without `decapsulate`); shares its categories with `outer_dst_host`",
            "ip.src, ipv6.src"),
        def(OuterDstHost, "outer_dst_host", Text32, false, Nothing,
            "destination address of the outermost IP header, as `outer_src_host`",
            "ip.dst, ipv6.dst"),
        def(Frame, "frame", UInt64, false, Nothing,
            "1-based ordinal of the packet's record in its file, counting every packet record (IP or not, filtered or not): tshark's `frame.number` where the file has no non-packet blocks; the same on every path (threads, byte ranges, dask)",
            "frame.number"),
        def(Offset, "offset", UInt64, true, Nothing,
            "byte offset in its file where the packet's record starts (pcap: its 16-byte record header; pcapng: its block), counted in the decompressed bytes of a compressed file; the same on every path; missing for a live capture",
            ""),
        def(CommunityId, "community_id", Text32, true, Transport,
            "Community ID v1 (seed 0) of the row's packet: its addresses, protocol and ports (ICMP: type and counterpart type or code), the same for both directions; without ports for a non-first fragment and for protocols without them",
            "communityid"),
        def(FlowId, "flow_id", UInt64, false, Flows,
            "the id of the packet's flow in the flow table (`open_pcap_flows`) read with the same files, options and timeouts (`idle_timeout=`, `active_timeout=`), so that `df.merge(flows, on=\"flow_id\")` joins them; reads every file in order on one thread, in one partition",
            ""),
        def(Direction, "direction", Text16, false, Flows,
            "`orig` when the packet goes from the flow's originator (`src_host`, `src_port` of its flow row), else `resp`; the flow's final orientation, found by reading the capture twice (a connection first seen by its SYN-ACK turns later), so not for pipes",
            ""),
        def(DnsId, "dns_id", UInt16, true, Streams,
            "the DNS message's id, for a UDP datagram (unfragmented) or TCP segment to or from port 53, 5353 (mDNS) or 5355 (LLMNR) that holds a whole message's header (TCP: the first message after its 2-byte length, whole in the segment); missing for every other packet. Messages split over TCP segments or IP fragments are not yet reassembled: their rows are missing",
            "dns.id"),
        def(DnsResponse, "dns_response", Boolean, true, Streams,
            "the QR flag: true for a response",
            "dns.flags.response"),
        def(DnsOpcode, "dns_opcode", UInt8, true, Streams,
            "the opcode (0 query, 4 notify, 5 update, ...)",
            "dns.flags.opcode"),
        def(DnsRcode, "dns_rcode", UInt8, true, Streams,
            "the header's 4-bit response code (0 no error, 2 server failure, 3 name error, ...)",
            "dns.flags.rcode"),
        def(DnsQname, "dns_qname", Text32, true, Streams,
            "the first question's name, as tshark shows it: labels joined by `.`, `<Root>` for the root, UTF-8 with each invalid sequence as U+FFFD, controls escaped (`\\n`, `\\033`); missing when the message has no question or it cannot be read whole (a compression pointer that does not point before itself, more than 127 pointers, a name over 255 bytes, the end of the capture)",
            "dns.qry.name"),
        def(DnsQtype, "dns_qtype", UInt16, true, Streams,
            "the first question's type (1 A, 28 AAAA, 65 HTTPS, ...)",
            "dns.qry.type"),
        def(DnsQclass, "dns_qclass", UInt16, true, Streams,
            "the first question's class (1 IN); for mDNS without its unicast-response bit, as tshark",
            "dns.qry.class"),
        def(DnsAnswers, "dns_answers", TextList, true, Streams,
            "the answer section's values, in order: A and AAAA addresses, CNAME/NS/PTR/DNAME names, the MX exchange, the SRV/SVCB/HTTPS target, the SOA primary server, TXT strings joined; any other type as `TYPE` and its number; an empty list for none; missing when any answer up to the end of the section cannot be read whole, or when they would make more than 1 MiB of text",
            "dns.a, dns.aaaa, dns.cname, dns.ptr.domain_name, dns.ns, dns.mx.mail_exchange, dns.srv.target, dns.txt"),
        def(DnsTtls, "dns_ttls", UInt32List, true, Streams,
            "the TTL of each answer of `dns_answers`, in the same order; missing when they are",
            "dns.resp.ttl"),
        def(DnsTruncated, "dns_truncated", Boolean, true, Streams,
            "the TC flag: the message was truncated by its sender",
            "dns.flags.truncated"),
        def(TlsHandshake, "tls_handshake", Text16, true, Streams,
            "`client_hello` or `server_hello`, for the TCP segment (on any port) that completes a TLS hello (over one or more records and segments) where its stream says a message starts (README: Columns), or `client_hello` for the QUIC client Initial (versions 1, 2 and drafts 29-32, opened with the version's initial keys) whose CRYPTO frames complete the ClientHello, with those of the Initials before it from the same endpoints to the same connection id; missing for every other packet. Every `tls_` column comes from this hello",
            "tls.handshake.type"),
        def(TlsSni, "tls_sni", Text32, true, Streams,
            "the ClientHello's server name (the first `host_name` of its server_name extension), as tshark shows text",
            "tls.handshake.extensions_server_name"),
        def(TlsVersions, "tls_versions", UInt16List, true, Streams,
            "the versions the ClientHello offers: its supported_versions extension as written (GREASE values included), else its legacy version (`0x0303` is TLS 1.2, `0x0304` TLS 1.3)",
            "tls.handshake.extensions.supported_version, tls.handshake.version"),
        def(TlsVersion, "tls_version", UInt16, true, Streams,
            "the version the ServerHello chose: its supported_versions extension, else its legacy version",
            "tls.handshake.extensions.supported_version, tls.handshake.version"),
        def(TlsAlpn, "tls_alpn", TextList, true, Streams,
            "the ALPN protocols the hello names (ClientHello: offered, in order; ServerHello: the chosen one); an empty list without the extension",
            "tls.handshake.extensions_alpn_str"),
        def(TlsCipher, "tls_cipher", UInt16, true, Streams,
            "the cipher suite the ServerHello chose",
            "tls.handshake.ciphersuite"),
        def(TlsJa3, "tls_ja3", Text32, true, Streams,
            "the ClientHello's JA3 (MD5 of version, ciphers, extensions, groups and point formats, GREASE left out)",
            "tls.handshake.ja3"),
        def(TlsJa3s, "tls_ja3s", Text32, true, Streams,
            "the ServerHello's JA3S (MD5 of version, cipher and extensions)",
            "tls.handshake.ja3s"),
        def(TlsJa4, "tls_ja4", Text32, true, Streams,
            "the ClientHello's JA4 (FoxIO's TLS client fingerprint, `t13d1516h2_8daaf6152771_e5627efa2ab1`, `q` first for QUIC; only JA4 itself, BSD-3-Clause, none of the other JA4+ methods)",
            ""),
        def(HttpMethod, "http_method", Text32, true, Streams,
            "the method of an HTTP/1.x request, for a TCP segment or UDP datagram (SSDP; on any port) whose payload starts with a request line (`METHOD SP target SP HTTP/1.x`, or HTTP/0.9's `GET SP target` and an empty line) and holds the whole message: its header fields and a body whose end it shows (none for a request without a length, `Content-Length` bytes, chunks up to the last), as tshark attributes a message to the segment that completes it; missing for every other packet (messages over several segments are not yet reassembled)",
            "http.request.method"),
        def(HttpHost, "http_host", Text32, true, Streams,
            "the message's first `Host` field, trimmed, as tshark shows text",
            "http.host"),
        def(HttpUri, "http_uri", Text32, true, Streams,
            "the request's target as written",
            "http.request.uri"),
        def(HttpUserAgent, "http_user_agent", Text32, true, Streams,
            "the message's first `User-Agent` field",
            "http.user_agent"),
        def(HttpStatus, "http_status", UInt16, true, Streams,
            "the status code of an HTTP/1.x response (`HTTP/1.x SP 3DIGIT`), held whole as a request is (a response without a length only when its status has no body: 1xx, 204, 304)",
            "http.response.code"),
        def(HttpContentType, "http_content_type", Text32, true, Streams,
            "the message's first `Content-Type` field, parameters included",
            "http.content_type"),
        def(QuicVersion, "quic_version", UInt32, true, Transport,
            "the version of a UDP datagram's first QUIC packet when it has a long header of a version read here (1, `0x6b3343cf` for 2, drafts 29-32 as `0xff00001d`...), recognised on any port; missing for every other packet (short headers carry no version)",
            "quic.version"),
        def(QuicDcid, "quic_dcid", Text32, true, Transport,
            "that long header's destination connection id, in lowercase hex (empty text for an empty id)",
            "quic.dcid"),
        def(QuicScid, "quic_scid", Text32, true, Transport,
            "its source connection id, as `quic_dcid`",
            "quic.scid"),
    ]
};

impl Column {
    pub const ALL: [Column; COLUMNS.len()] = {
        let mut all = [Column::Time; COLUMNS.len()];
        let mut i = 0;
        while i < COLUMNS.len() {
            all[i] = COLUMNS[i].column;
            i += 1;
        }
        all
    };

    /// The column's definition.
    #[inline]
    pub fn def(self) -> &'static ColumnDef {
        &COLUMNS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.def().name
    }

    pub fn from_name(name: &str) -> Option<Column> {
        COLUMNS.iter().find(|d| d.name == name).map(|d| d.column)
    }

    /// The column's Arrow field.
    pub fn field(self) -> Field {
        let d = self.def();
        Field::new(d.name, d.kind.data_type(), d.nullable)
    }

    /// Every valid name, in the documented order.
    pub fn names() -> Vec<&'static str> {
        COLUMNS.iter().map(|d| d.name).collect()
    }
}

/// The README's table of columns, one row per column: name, pandas dtype, meaning and the
/// tshark fields it is tested against. `tests/readme.rs` holds the README to it.
pub fn markdown_table() -> String {
    let mut out = String::from("| column | dtype | meaning | tshark |\n|---|---|---|---|\n");
    for d in &COLUMNS {
        let nullable = if d.nullable
            && d.kind != Kind::Timestamp
            && d.kind != Kind::Text32
            && d.kind != Kind::Text16
        {
            " (nullable)"
        } else {
            ""
        };
        let tshark = if d.tshark.is_empty() {
            String::new()
        } else {
            d.tshark
                .split(", ")
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!(
            "| `{}` | `{}`{} | {} | {} |\n",
            d.name,
            d.kind.pandas_dtype(),
            nullable,
            d.doc,
            tshark
        ));
    }
    out
}

/// The columns of a read: `names` in the caller's order (`None`: the documented six), and
/// `payload` appended when asked for and not already named. An unknown or repeated name, or
/// an empty list, is an `InvalidArgument` error listing the valid names.
pub fn select<S: AsRef<str>>(names: Option<&[S]>, payload: bool) -> Result<Vec<Column>> {
    let mut out: Vec<Column> = match names {
        None => DEFAULT.to_vec(),
        Some(names) => {
            if names.is_empty() {
                return Err(Error::invalid_argument(format!(
                    "the list of columns is empty; valid names are: {}",
                    Column::names().join(", ")
                )));
            }
            let mut out = Vec::with_capacity(names.len() + 1);
            for name in names {
                let name = name.as_ref();
                let column = Column::from_name(name).ok_or_else(|| {
                    Error::invalid_argument(format!(
                        "unknown column {name:?};{} valid names are: {}",
                        crate::error::did_you_mean(
                            name,
                            Column::names().iter().map(|s| s.as_ref())
                        ),
                        Column::names().join(", ")
                    ))
                })?;
                if out.contains(&column) {
                    return Err(Error::invalid_argument(format!(
                        "column {name:?} is named twice in the list of columns"
                    )));
                }
                out.push(column);
            }
            out
        }
    };
    if payload && !out.contains(&Column::Payload) {
        out.push(Column::Payload);
    }
    Ok(out)
}

/// tcpdump's letters for the TCP flags byte, in tcpdump's order: F S R P . U E W; `none`
/// when no flag is set (tcpdump prints `Flags [none]`).
pub fn tcp_flag_letters(flags: u8) -> String {
    const LETTERS: [(u8, char); 8] = [
        (0x01, 'F'),
        (0x02, 'S'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x10, '.'),
        (0x20, 'U'),
        (0x40, 'E'),
        (0x80, 'W'),
    ];
    if flags == 0 {
        return "none".to_string();
    }
    LETTERS
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|&(_, c)| c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn the_table_is_in_the_order_of_the_variants() {
        for (i, d) in COLUMNS.iter().enumerate() {
            assert_eq!(d.column as usize, i, "{} is out of place", d.name);
        }
    }

    #[test]
    fn names_round_trip_and_are_unique() {
        for c in Column::ALL {
            assert_eq!(Column::from_name(c.name()), Some(c));
            assert_eq!(c.field().name(), c.name());
        }
        let mut names = Column::names();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Column::ALL.len());
    }

    #[test]
    fn selection_keeps_order_and_appends_payload() {
        assert_eq!(select::<&str>(None, false).unwrap(), DEFAULT.to_vec());
        assert_eq!(
            select::<&str>(None, true).unwrap().last(),
            Some(&Column::Payload)
        );
        let picked = select(Some(&["length", "time"]), true).unwrap();
        assert_eq!(picked, vec![Column::Length, Column::Time, Column::Payload]);
        let picked = select(Some(&["payload", "time"]), true).unwrap();
        assert_eq!(picked, vec![Column::Payload, Column::Time]);
    }

    #[test]
    fn bad_selections_are_invalid_arguments_naming_the_valid_columns() {
        let e = select(Some(&["time", "nope"]), false).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(
            e.to_string().contains("\"nope\"") && e.to_string().contains("tcp_flags"),
            "{e}"
        );
        assert_eq!(
            select(Some(&["time", "time"]), false).unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            select::<&str>(Some(&[]), false).unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn tcp_flags_read_like_tcpdump() {
        assert_eq!(tcp_flag_letters(0x02), "S");
        assert_eq!(tcp_flag_letters(0x12), "S.");
        assert_eq!(tcp_flag_letters(0x18), "P.");
        assert_eq!(tcp_flag_letters(0x11), "F.");
        assert_eq!(tcp_flag_letters(0x19), "FP.");
        assert_eq!(tcp_flag_letters(0x04), "R");
        assert_eq!(tcp_flag_letters(0x10), ".");
        assert_eq!(tcp_flag_letters(0xc2), "SEW");
        assert_eq!(tcp_flag_letters(0), "none");
    }
}
