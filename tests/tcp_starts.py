"""tshark's account of which TCP segments a stream reader cannot place: a direction whose
SYN was not captured before the segment, or which lost a segment (or had one arrive out of
order) before it. The DNS, TLS and HTTP columns read a TCP direction only from its SYN on
and only in order (README, Columns), so a value tshark reads there and we do not is
expected; anywhere else it is a failure."""

import subprocess

FIELDS = ["frame.number", "tcp.seq", "tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "tcp.flags.syn",
          "tcp.analysis.lost_segment", "tcp.analysis.out_of_order", "tcp.analysis.ack_lost_segment",
          "ip.flags.mf", "ip.frag_offset"]


def unplaceable(path, decode_as=(), first_only=False):
    """frame -> why the stream reader cannot read its segment's direction there.
    `first_only` (TLS, read up to its hello): also a segment after its direction's first
    data byte (STARTTLS: the hello follows another protocol's messages)."""
    args = ["tshark", "-n", "-r", str(path), "-Y", "tcp", "-T", "fields", "-E", "separator=\t",
            "-E", "occurrence=l"]
    for f in FIELDS:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=False).stdout
    syn_seen, broken, reasons = set(), {}, {}
    for line in out.splitlines():
        r = dict(zip(FIELDS, line.split("\t")))
        key = (r["tcp.stream"], r["ip.src"] or r["ipv6.src"], r["tcp.srcport"])
        frame = int(r["frame.number"])
        if r["tcp.flags.syn"] in ("1", "True"):
            syn_seen.add(key)
            broken.pop(key, None)
        if r["tcp.analysis.lost_segment"] or r["tcp.analysis.out_of_order"] or r["ip.flags.mf"] in ("1", "True") \
                or r["ip.frag_offset"] not in ("", "0"):
            broken.setdefault(key, frame)
        if r["tcp.analysis.ack_lost_segment"]:
            # The other direction lost a segment: its ACK covers bytes we never saw.
            for k in list(syn_seen):
                if k[0] == key[0] and k != key:
                    broken.setdefault(k, frame)
        if first_only and int(r["tcp.seq"] or 0) > 1:
            reasons[frame] = "not its direction's first message"
        if key not in syn_seen:
            reasons[frame] = "its direction's SYN was not captured"
        elif key in broken:
            reasons[frame] = f"its direction lost a segment (frame {broken[key]})"
    return reasons
