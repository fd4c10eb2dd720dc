"""Application columns (issue 12's set: ``dns_qname``, ``tls_sni``, ``http_host``): the
cost of asking for them, side by side in one run, against our own default ``read()`` and
against tshark extracting the same fields into pandas; and the flow table's application
columns against its default read.

    python benches/bench_app.py            # the 2,000,000-packet capture of bench_read.py
    python benches/bench_app.py --quick    # 200,000 packets
    python benches/bench_app.py --tshark-packets 200000   # tshark on the first N packets only

tshark runs once (``-T fields`` into pandas through a pipe), on the first
``--tshark-packets`` packets (all by default) and its time is scaled to the whole capture
when it read fewer; the line says so.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benches"))
from bench_flows import best  # noqa: E402
from bench_read import capture_path  # noqa: E402

SIX = ["time", "src_host", "src_port", "dst_host", "dst_port", "protocol"]
APP = ["dns_qname", "tls_sni", "http_host"]
TSHARK_FIELDS = ["frame.time_epoch", "ip.src", "ipv6.src", "tcp.srcport", "udp.srcport", "ip.dst", "ipv6.dst",
                 "tcp.dstport", "udp.dstport", "ip.proto", "dns.qry.name", "tls.handshake.extensions_server_name",
                 "http.host"]


def tshark_frame(path, packets):
    import pandas as pd

    args = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]
    if packets:
        args += ["-c", str(packets)]
    for f in TSHARK_FIELDS:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, check=True).stdout
    return pd.read_csv(io.BytesIO(out), sep="\t", names=TSHARK_FIELDS, header=None, dtype=str)


def main(argv=None) -> int:
    import intake

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=2_000_000)
    parser.add_argument("--quick", action="store_true", help="200,000 packets")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tshark-packets", type=int, default=0, help="tshark on the first N packets (0: all)")
    args = parser.parse_args(argv)
    packets = 200_000 if args.quick else args.packets
    path = capture_path(packets)
    print(f"file: {path.relative_to(REPO)} ({path.stat().st_size:,} bytes, {packets:,} packets), "
          f"{os.cpu_count()} cores, best of {args.rounds}")
    intake.open_pcap(str(path)).read()  # warm the page cache and the allocator
    t_six, df_six = best(lambda: intake.open_pcap(str(path)).read(), args.rounds)
    t_app, df_app = best(lambda: intake.open_pcap(str(path), columns=SIX + APP).read(), args.rounds)
    assert len(df_six) == len(df_app)
    named = {c: int(df_app[c].notna().sum()) for c in APP}
    started = time.perf_counter()
    df_tshark = tshark_frame(path, args.tshark_packets)
    t_tshark = time.perf_counter() - started
    scale = packets / len(df_tshark) if args.tshark_packets else 1.0
    tshark_named = {c: int(df_tshark[f].notna().sum()) for c, f in zip(APP, TSHARK_FIELDS[-3:])}
    print(f"{'reader':52} {'seconds':>8}  note")
    print(f"{'open_pcap(f).read()':52} {t_six:8.3f}  {len(df_six):,} rows")
    print(f"{'open_pcap(f, columns=six + app).read()':52} {t_app:8.3f}  "
          f"non-missing {named}; {t_app / t_six:.2f}x the default read")
    note = f"{len(df_tshark):,} packets, non-missing {tshark_named}"
    if scale != 1.0:
        note += f"; scaled x{scale:.1f} to the whole capture"
    print(f"{'tshark -T fields (same fields) -> pandas':52} {t_tshark * scale:8.3f}  {note}")
    print(f"app columns {APP}: {t_app / t_six:.2f}x our default read; tshark {t_tshark * scale / t_app:.0f}x ours")
    # The flow table's application columns, against its default columns.
    flow_app = ["application", "server_name", "tls_ja4", "tls_ja3", "tls_ja3s"]
    plain = list(intake.open_pcap_flows(str(path)).read().head(0).columns)
    t_flows, f_plain = best(lambda: intake.open_pcap_flows(str(path)).read(), args.rounds)
    t_flows_app, f_app = best(lambda: intake.open_pcap_flows(str(path), columns=plain + flow_app).read(), args.rounds)
    assert len(f_plain) == len(f_app)
    kinds = f_app["application"].value_counts().to_dict()
    print(f"{'open_pcap_flows(f).read()':52} {t_flows:8.3f}  {len(f_plain):,} flows")
    print(f"{'open_pcap_flows(f, columns=default + app).read()':52} {t_flows_app:8.3f}  {kinds}, "
          f"{int(f_app['server_name'].notna().sum()):,} named; {t_flows_app / t_flows:.2f}x the default flow read")
    return 0


if __name__ == "__main__":
    sys.exit(main())
