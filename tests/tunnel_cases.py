"""Captures made for the tunnel tests with scapy (an independent packet builder): each tunnel
kind of issue 10, in outer layers, nested, truncated, and the Ethernet tags and link types
before the first IP header. tshark is the oracle for all of them (tests/test_tunnels.py)."""

import struct
from scapy.all import Ether, Dot1Q, Dot1AD, Dot1AH, IP, IPv6, UDP, TCP, ICMP, GRE, Raw, PPPoE, PPP, ARP
from scapy.contrib.geneve import GENEVE
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.contrib.mpls import MPLS
from scapy.contrib.erspan import ERSPAN, ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
from scapy.contrib.nsh import NSH
from scapy.layers.l2tp import L2TP
from scapy.layers.vxlan import VXLAN

def inner4(proto="tcp"):
    ip = IP(src="192.168.7.1", dst="192.168.7.2", id=7)
    return ip / (TCP(sport=40000, dport=443, flags="S") if proto == "tcp" else UDP(sport=5353, dport=53) / b"q")

def inner6():
    return IPv6(src="2001:db8::a", dst="2001:db8::b") / UDP(sport=1111, dport=2222) / b"six"

def eth(payload, **kw):
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", **kw) / payload

def outer4(payload, proto=None):
    kw = {"proto": proto} if proto is not None else {}
    return IP(src="10.1.0.1", dst="10.1.0.2", **kw) / payload

def outer6(payload, nh=None):
    kw = {"nh": nh} if nh is not None else {}
    return IPv6(src="fd00::1", dst="fd00::2", **kw) / payload

INNER_ETH = lambda p: Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b") / p

def teredo(origin):
    head = struct.pack("!HH4s", 0, 0xffff ^ 3544, bytes([255 - 10, 255, 255, 254])) if origin else b""
    return head + bytes(inner6())

CASES = {
    # name: (frames, tshark extra args, expected tunnel chain with decapsulate)
    "vxlan_4789": ([eth(outer4(UDP(sport=50000, dport=4789) / VXLAN(vni=0x1234) / INNER_ETH(inner4())))], [], "vxlan"),
    "vxlan_8472": ([eth(outer4(UDP(sport=50000, dport=8472) / VXLAN(vni=77) / INNER_ETH(inner6())))], ["-d", "udp.port==8472,vxlan"], "vxlan"),
    "geneve_eth_options": ([eth(outer4(UDP(sport=50001, dport=6081) / GENEVE(vni=0xabcdef, proto=0x6558, optionlen=2, options=b"\x01\x02\x03\x01\x00\x00\x00\x09") / INNER_ETH(inner4())))], [], "geneve"),
    "geneve_ipv4": ([eth(outer6(UDP(sport=50001, dport=6081) / GENEVE(vni=9, proto=0x0800) / inner4("udp")))], [], "geneve"),
    "gtpu_extension": ([eth(outer4(UDP(sport=2152, dport=2152) / GTP_U_Header(teid=0xdeadbeef, E=1, next_ex=0x85) / GTPPDUSessionContainer(type=1, QFI=5) / inner4()))], [], "gtp-u"),
    "gtpu_plain_v6": ([eth(outer4(UDP(sport=2152, dport=2152) / GTP_U_Header(teid=5) / inner6()))], [], "gtp-u"),
    "gre_all_options_v6": ([eth(outer4(GRE(chksum_present=1, key_present=1, seqnum_present=1, key=0x01020304, sequence_number=9, proto=0x86dd) / inner6()))], [], "gre"),
    "nvgre": ([eth(outer4(GRE(key_present=1, key=0x00123400, proto=0x6558) / INNER_ETH(inner4())))], [], "gre"),
    "erspan_i": ([eth(outer4(GRE(proto=0x88be) / INNER_ETH(inner4())))], [], "gre/erspan"),
    "erspan_ii": ([eth(outer4(GRE(seqnum_present=1, sequence_number=1, proto=0x88be) / ERSPAN_II(session_id=300) / INNER_ETH(inner4())))], [], "gre/erspan"),
    "erspan_iii": ([eth(outer4(GRE(seqnum_present=1, sequence_number=1, proto=0x22eb) / ERSPAN_III(session_id=301, o=0) / INNER_ETH(inner6())))], [], "gre/erspan"),
    "erspan_iii_platform": ([eth(outer4(GRE(seqnum_present=1, sequence_number=1, proto=0x22eb) / ERSPAN_III(session_id=302, o=1) / ERSPAN_PlatformSpecific() / INNER_ETH(inner4())))], [], "gre/erspan"),
    "mpls_over_gre": ([eth(outer4(GRE(proto=0x8847) / MPLS(label=100, s=1) / inner4()))], [], "gre"),
    "mpls_over_udp": ([eth(outer4(UDP(sport=50002, dport=6635) / MPLS(label=200, s=0) / MPLS(label=201, s=1) / inner4()))], ["-d", "udp.port==6635,mpls"], "mpls-udp"),
    "ip4in4": ([eth(outer4(inner4(), proto=4))], [], "ipip"),
    "ip6in4": ([eth(outer4(inner6(), proto=41))], [], "ipip"),
    "ip4in6": ([eth(outer6(inner4(), nh=4))], [], "ipip"),
    "ip6in6": ([eth(outer6(inner6(), nh=41))], [], "ipip"),
    "teredo_origin": ([eth(outer4(UDP(sport=3544, dport=40001) / Raw(teredo(True))))], [], "teredo"),
    "teredo_plain": ([eth(outer4(UDP(sport=40001, dport=3544) / Raw(teredo(False))))], [], "teredo"),
    "l2tpv2_ppp": ([eth(outer4(UDP(sport=1701, dport=1701) / L2TP(hdr="length+sequence+offset", tunnel_id=3, session_id=44) / Raw(b"\xff\x03\x00\x21") / inner4()))], [], "l2tp"),
    "l2tpv2_plain": ([eth(outer4(UDP(sport=1701, dport=1701) / L2TP(tunnel_id=3, session_id=45) / Raw(b"\x00\x57") / inner6()))], [], "l2tp"),
    "vxlan_in_vlan_qinq": ([Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / Dot1AD(vlan=100) / Dot1Q(vlan=200) / outer4(UDP(sport=1, dport=4789) / VXLAN(vni=5) / INNER_ETH(inner4()))], [], "vxlan"),
    "gre_in_mpls": ([eth(MPLS(label=16, s=1) / outer4(GRE(key_present=1, key=8) / inner4()))], [], "gre"),
    "gtpu_in_pppoe": ([eth(PPPoE(sessionid=1) / PPP(proto=0x0021) / outer4(UDP(sport=2152, dport=2152) / GTP_U_Header(teid=6) / inner4()))], [], "gtp-u"),
    "vxlan_in_gre": ([eth(outer4(GRE(key_present=1, key=1) / IP(src="10.9.0.1", dst="10.9.0.2") / UDP(sport=2, dport=4789) / VXLAN(vni=42) / INNER_ETH(inner4())))], [], "gre/vxlan"),
    "vxlan_arp": ([eth(outer4(UDP(sport=3, dport=4789) / VXLAN(vni=43) / INNER_ETH(ARP())))], [], "vxlan"),
    "gre_ipip_nested": ([eth(outer4(GRE() / IP(src="10.8.0.1", dst="10.8.0.2", proto=4) / inner4()))], [], "gre/ipip"),
    "icmp_error_quotes": ([eth(outer4(ICMP(type=3, code=3) / IP(src="10.1.0.2", dst="10.1.0.1", proto=47) / GRE() / inner4()))], [], ""),
    "truncated_inner": ([eth(outer4(UDP(sport=4, dport=4789) / VXLAN(vni=44) / Raw(bytes(INNER_ETH(inner4()))[:24])))], [], "vxlan"),
}

# Ethernet tags before the first IP header (no tunnel: compared to tshark's first IP layer).
def raw_eth(ethertype, tag, payload):
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", type=ethertype) / Raw(tag + bytes(payload))

TAGS = {
    "vn_tag": [raw_eth(0x8926, b"\x80\x01\x00\x02" + b"\x08\x00", inner4())],
    "e_tag": [raw_eth(0x893f, b"\x00\x00\x10\x01\x00\x00" + b"\x86\xdd", inner6())],
    "cisco_metadata": [raw_eth(0x8909, b"\x01\x01\x00\x01\x00\x10" + b"\x08\x00", inner4())],
    "pbb": [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / Dot1AH(isid=1000) / INNER_ETH(inner4())],
    "fabricpath": [Raw(b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x89\x03\x00\x3f" + bytes(INNER_ETH(inner4())))],
    "nsh_md1_ipv4": [eth(NSH(mdtype=1, nextproto=1, spi=1, si=255) / inner4())],
    "nsh_md2_eth": [eth(NSH(mdtype=2, nextproto=3, spi=2, si=254) / INNER_ETH(inner6()))],
    "mpls_gal": [eth(MPLS(label=13, s=1) / inner4())],
    "mpls_oam_alert": [eth(MPLS(label=100, s=0) / MPLS(label=14, s=1) / inner4())],
}

def fddi(payload):
    # Frame control 0x50 (LLC, async), destination, source, LLC/SNAP, EtherType.
    return b"\x50" + b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + bytes(payload)

def write_pcap(path, frames, linktype=1):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, linktype))
        for i, frame in enumerate(frames):
            data = bytes(frame)
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(data), len(data)))
            f.write(data)
