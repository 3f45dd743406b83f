#!/usr/bin/env python3
"""Generate etwnet's own schema files (schemas/*.tsv) from the reference facts.

Input: the provider tables kept beside the research summary
(`../shared/reference/events/<provider>.tsv`, `maps/<provider>.maps.tsv` and
the NTSTATUS table of EVENTS.md §11). The repository keeps only this script's
output, never the reference files themselves.

Output (all TSV, UTF-8, `#` comment lines allowed):
  schemas/providers.tsv          name, guid, layer, events file
  schemas/<provider>.events.tsv  id, version, symbol, level, task, opcode,
                                 keywords, fields, template, provenance
  schemas/maps.tsv               provider, map, value, string
  schemas/ntstatus.tsv           code, name

`fields` is `Name:Type` or `Name:Type=Map`, joined by `, `, in template order
(so `%n` is the n-th field, length fields included). Types are the manifest
in-types with the out-types that change rendering folded in: `SocketAddress`
(a Binary SOCKADDR with a preceding length field), `IPv4`, `IPv6`,
`NTStatus` (UInt32 status fields), `Pointer`.

Usage: python3 tools/gen_schemas.py [REFERENCE_EVENTS_DIR] [OUT_DIR]
"""

import csv
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REF = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "shared", "reference", "events")
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "..", "schemas")

PROVIDERS = [
    # name, guid, layer, has maps file
    ("Microsoft-Windows-TCPIP", "2F07E2EE-15DB-40F1-90EF-9D7BA282188A", "tcpip"),
    ("Microsoft-Windows-Winsock-AFD", "E53C6823-7BB8-44BB-90DC-3F86090D48A6", "afd"),
    ("Microsoft-Windows-WFP", "0C478C5B-0351-41B1-8C58-4A6737DA32E3", "wfp"),
    ("Microsoft-Windows-NDIS-PacketCapture", "2ED6006E-4729-4609-B423-3EE7BCD678EF", "packet"),
    ("Microsoft-Windows-Kernel-Network", "7DD42A49-5329-4832-8DFD-43D979153A88", "kernel"),
    ("Microsoft-Windows-PktMon", "4D4F80D9-C8BD-4D73-BB5B-19C90402C5AC", "pktmon"),
]

# Message strings that the reference tables lack (versions newer than the
# 22000 message tables) but that are known from real rendered output or from
# the research notes. Key: (provider, id, version) -> (template, provenance).
SUPPLEMENT = {
    ("Microsoft-Windows-TCPIP", 1215, 2): (
        "TCPIP: Network layer (Protocol %1, AddressFamily = %2) dropped %10 packet(s) on interface %16. "
        "SourceAddress = %13. DestAddress = %15. Reason = %9. Direction = %17. NBL = %18.",
        "real netsh text (MS docs packet-loss article, 2025)",
    ),
    ("Microsoft-Windows-TCPIP", 1332, 5): (
        "TCP: connection %1 (local=%19 remote=%21): TCP send event, SeqNo = %5, BytesSent = %4, CWnd = %2, "
        "SndWnd = %3, SRtt = %6, RttVar = %7, RTO = %8, RcvWnd = %9, PacingRate = %10, State = %11, "
        "CongestionState = %12, SndUna = %13, SndMax = %14, RecoveryMax = %15, RcvBufSet = %16, MaxRcvBuf = %17.",
        "real netsh text (MS docs packet-loss article, 2025)",
    ),
    ("Microsoft-Windows-TCPIP", 1332, 4): (
        "TCP: connection %1: TCP send event, SeqNo = %5, BytesSent = %4, CWnd = %2, SndWnd = %3, SRtt = %6, "
        "RttVar = %7, RTO = %8, RcvWnd = %9, PacingRate = %10, State = %11, CongestionState = %12, "
        "SndUna = %13, SndMax = %14, RecoveryMax = %15, RcvBufSet = %16, MaxRcvBuf = %17.",
        "INFERRED from v5 real text without the addresses",
    ),
    ("Microsoft-Windows-TCPIP", 1332, 3): (
        "TCP: connection %1: TCP send event, SeqNo = %5, BytesSent = %4, CWnd = %2, SndWnd = %3, SRtt = %6, "
        "RttVar = %7, RTO = %8, RcvWnd = %9, PacingRate = %10, State = %11, CongestionState = %12, "
        "SndUna = %13, SndMax = %14, RecoveryMax = %15.",
        "INFERRED from v5 real text",
    ),
    ("Microsoft-Windows-TCPIP", 1332, 2): (
        "TCP: connection %1: TCP send event, SeqNo = %5, BytesSent = %4, CWnd = %2, SndWnd = %3, SRtt = %6, "
        "RttVar = %7, RTO = %8, RcvWnd = %9, PacingRate = %10.",
        "INFERRED from v5 real text",
    ),
    ("Microsoft-Windows-TCPIP", 1064, 2): (
        "TCP: Connection %1 %2 timer started. Scheduled to expire in %3 ms. Processor %4: "
        "LastInterruptTime %5 100-ns ticks; LastMicrosecondCount %6 msec",
        "real netsh text (MS docs packet-loss article, 2025)",
    ),
    ("Microsoft-Windows-TCPIP", 1584, 0): (
        "TCP: connection = %1 send tracker marked a transmit as rexmit. Start = %2, End = %3, Timestamp = %4, "
        "InFlightCount = %5, SackedBytes = %6, BytesInFlight = %7.",
        "real netsh text (MS docs packet-loss article, 2025)",
    ),
    ("Microsoft-Windows-TCPIP", 1043, 2): (
        "TCP: connection %8 (local=%2 remote=%4) disconnect completed. Status = %6 PID = %7 Inspect = %10.",
        "nasbench 24H2 WEPExplorer (EVENTS.md 3.6; labels are Microsoft's bug)",
    ),
    ("Microsoft-Windows-TCPIP", 1074, 1): (
        "TCP: connection %1: Received data with number of bytes = %2, ThSeq = %3, NumPkt = %4.",
        "nasbench 24H2 CSV (';' there stands for ',')",
    ),
}

# Field names whose value map is known regardless of the event that carries them.
FIELD_MAPS = {
    "Microsoft-Windows-TCPIP": {
        "OldState": "TCP_CONNECTION_STATE_ValueMap",
        "NewState": "TCP_CONNECTION_STATE_ValueMap",
        "TcpState": "TCP_CONNECTION_STATE_ValueMap",
        "TimerType": "TCP_TIMER_TYPE_ValueMap",
        "AddressFamily": "TCPIP_ADDRESS_FAMILY_TYPE_ValueMap",
        "IPTransportProtocol": "TCPIP_Transport_Protocol_ValueMap",
        "PathDirection": "TCPIP_Path_Direction_ValueMap",
        "TlpEvent": "TCP_TAIL_LOSS_PROBE_EVENT_ValueMap",
        "RcvBufSet": "TCPIP_BOOLEAN_ValueMap",
        "SendTrackerEnabled": "TCPIP_BOOLEAN_ValueMap",
        "SwRscUroApplicable": "TCPIP_BOOLEAN_ValueMap",
        "SwRscEnabled": "TCPIP_BOOLEAN_ValueMap",
        "PhysicalMediumType": "TCPIP_IP_PHYSICALMEDIUM_TYPE_ValueMap",
    },
    "Microsoft-Windows-Winsock-AFD": {
        "SocketType": "WINSOCK_SocketType_ValueMap",
    },
}
# Per-event field maps for generic field names (State, Reason) whose meaning
# depends on the event: (symbol base, field) -> map.
EVENT_FIELD_MAPS = {
    "Microsoft-Windows-TCPIP": {
        ("TcpipNetworkPacketDrops", "Reason"): "TCPIP_NETWORK_PACKET_DROP_REASON_ValueMap",
        ("TcpConnectionRundown", "State"): "TCP_CONNECTION_STATE_ValueMap",
        ("TcpConnectionTerminatedByNsi", "State"): "TCP_CONNECTION_STATE_ValueMap",
        ("TcpConnectionSummary1477", "State"): "TCP_CONNECTION_STATE_ValueMap",
        ("TcpDisconnect", "State"): "TCP_CONNECTION_STATE_ValueMap",
    },
    "Microsoft-Windows-Winsock-AFD": {
        ("AfdDatagramDropWithAddressConnected", "Reason"): "AFD_DGRAM_DROP_ValueMap",
    },
}
GENERIC_NAMES = {"Reason", "State", "Type", "Event", "Status", "Option", "Direction", "Protocol", "Operation"}


def read_table(path):
    with open(path, encoding="utf-8") as f:
        lines = [l for l in f.read().split("\n") if l and not l.startswith("#")]
    header = lines[0].split("\t")
    rows = []
    for l in lines[1:]:
        cells = l.split("\t")
        cells += [""] * (len(header) - len(cells))
        rows.append(dict(zip(header, cells)))
    return rows


def split_symbol(s):
    """`TcpConnectTcbComplete_V1(UInt32 A, Binary B)` -> (symbol, [(type, name)])."""
    m = re.match(r"^(.*?)\((.*)\)\s*$", s)
    if not m:
        return s.strip(), []
    sym, inner = m.group(1).strip(), m.group(2).strip()
    fields = []
    if inner:
        for part in inner.split(","):
            part = part.strip()
            if not part:
                continue
            bits = part.split()
            if len(bits) >= 2:
                fields.append((bits[0], bits[-1]))
            else:
                fields.append(("Binary", bits[0]))
    return sym, fields


def symbol_base(sym):
    return re.sub(r"_V\d+$", "", sym)


def refine_types(provider, fields):
    """Fold the out-types that change rendering into the type name."""
    out = []
    names = [n for _, n in fields]
    for i, (ty, name) in enumerate(fields):
        lname = name.lower()
        prev = names[i - 1].lower() if i > 0 else ""
        if ty == "Binary":
            addrish = any(k in lname for k in ("address", "sockaddr", "prefix", "nexthop", "saddr", "daddr"))
            has_len = "len" in prev or "length" in prev
            if addrish and "dl" not in lname and "mac" not in lname:
                if has_len:
                    # SOCKADDR blob, or a bare IP for route prefixes/next hops.
                    if "prefix" in lname or "nexthop" in lname or provider == "Microsoft-Windows-PktMon":
                        ty = "IPAddress"
                    else:
                        ty = "SocketAddress"
                elif provider in ("Microsoft-Windows-Kernel-Network",) or "ipv6" in lname or "ipaddress" in lname:
                    ty = "IPv6"
        elif ty == "UInt32" and ("ipv4" in lname or (provider == "Microsoft-Windows-Kernel-Network" and lname in ("saddr", "daddr"))):
            ty = "IPv4"
        elif ty == "UInt32" and provider in ("Microsoft-Windows-TCPIP", "Microsoft-Windows-Winsock-AFD", "Microsoft-Windows-WFP") \
                and (name == "Status" or name.endswith("Status") and name not in ("ConnectivityStatus", "ChannelStatus")):
            ty = "NTStatus"
        out.append((ty, name))
    return out


def load_maps(provider):
    path = os.path.join(REF, "maps", f"{provider}.maps.tsv")
    maps = {}
    users = []
    if not os.path.exists(path):
        return maps, users
    for r in read_table(path):
        mp = r["map"]
        try:
            v = int(r["value_dec"])
        except ValueError:
            continue
        maps.setdefault(mp, [])
        if (v, r["string"]) not in maps[mp]:
            maps[mp].append((v, r["string"]))
        used = r.get("used_by(template.field)", "")
        if "." in used:
            t, f = used.rsplit(".", 1)
            t = re.sub(r"Args(_V\d+)?$", "", t)
            users.append((mp, t, f))
    return maps, users


def infer_from_previous(rows_by_key, key, fields):
    """A version without its own message: reuse the previous version's text,
    renumbering `%n` by field name. Returns None when a name is missing."""
    prov, eid, ver = key
    for pv in range(ver - 1, -1, -1):
        prev = rows_by_key.get((prov, eid, pv))
        if not prev or not prev["template"]:
            continue
        prev_names = [n for _, n in prev["fields"]]
        new_index = {n: i + 1 for i, (_, n) in enumerate(fields)}
        ok = True

        def sub(m):
            nonlocal ok
            k = int(m.group(1))
            if k < 1 or k > len(prev_names) or prev_names[k - 1] not in new_index:
                ok = False
                return m.group(0)
            return f"%{new_index[prev_names[k - 1]]}"

        t = re.sub(r"%(\d+)", sub, prev["template"])
        if ok:
            return t, f"INFERRED from v{pv} by field name"
    return None


def parse_ntstatus():
    path = os.path.join(REF, "EVENTS.md")
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\|\s*(0x[0-9A-Fa-f]{8})\s*\|\s*(STATUS_[A-Z0-9_]+)", line)
            if m:
                out[int(m.group(1), 16)] = m.group(2)
    return out


def clean(s):
    return s.replace("\t", " ").replace("\r", " ").replace("\n", " ").strip()


def main():
    os.makedirs(OUT, exist_ok=True)
    all_maps = []
    prov_rows = []
    for prov, guid, layer in PROVIDERS:
        rows = read_table(os.path.join(REF, f"{prov}.tsv"))
        maps, users = load_maps(prov)
        for mp, vals in maps.items():
            for v, s in vals:
                all_maps.append((prov, mp, v, s))
        fmap = dict(FIELD_MAPS.get(prov, {}))
        efmap = dict(EVENT_FIELD_MAPS.get(prov, {}))
        for mp, tmpl, field in users:
            efmap.setdefault((tmpl, field), mp)
            if field not in GENERIC_NAMES:
                fmap.setdefault(field, mp)
        events = {}
        for r in rows:
            try:
                eid, ver = int(r["event_id"]), int(r["version"])
            except ValueError:
                continue
            sym, fields = split_symbol(r["symbol(fields)"])
            if prov == "Microsoft-Windows-Kernel-Network":
                sym = (r.get("opcode") or sym).strip().rstrip(".") or sym
            fields = refine_types(prov, fields)
            msg = clean(r.get("message", ""))
            provn = clean(r.get("message_provenance", "")).split(";")[0]
            events[(prov, eid, ver)] = {
                "symbol": sym,
                "fields": fields,
                "template": msg,
                "prov": provn[:60],
                "level": clean(r.get("level", "")),
                "task": clean(r.get("task", "")),
                "opcode": clean(r.get("opcode", "")),
                "keywords": clean(r.get("keywords", "")),
            }
        for key in sorted(events):
            ev = events[key]
            if key in SUPPLEMENT:
                ev["template"], ev["prov"] = SUPPLEMENT[key]
            elif not ev["template"]:
                inf = infer_from_previous(events, key, ev["fields"])
                if inf:
                    ev["template"], ev["prov"] = inf
        fname = f"{prov}.events.tsv"
        with open(os.path.join(OUT, fname), "w", encoding="utf-8", newline="\n") as f:
            f.write(f"# {prov} {{{guid}}}: generated by tools/gen_schemas.py from the reference facts; do not edit\n")
            f.write("id\tversion\tsymbol\tlevel\ttask\topcode\tkeywords\tfields\ttemplate\tprovenance\n")
            for key in sorted(events):
                ev = events[key]
                base = symbol_base(ev["symbol"])
                cells = []
                for ty, name in ev["fields"]:
                    mp = efmap.get((base, name)) or fmap.get(name)
                    cells.append(f"{name}:{ty}" + (f"={mp}" if mp else ""))
                f.write("\t".join([
                    str(key[1]), str(key[2]), ev["symbol"], ev["level"], ev["task"], ev["opcode"],
                    ev["keywords"], ", ".join(cells), ev["template"], ev["prov"],
                ]) + "\n")
        prov_rows.append((prov, guid, layer, fname, len(events)))
    with open(os.path.join(OUT, "providers.tsv"), "w", encoding="utf-8", newline="\n") as f:
        f.write("# generated by tools/gen_schemas.py; do not edit\n")
        f.write("name\tguid\tlayer\tevents\trows\n")
        for p in prov_rows:
            f.write("\t".join(str(x) for x in p) + "\n")
    with open(os.path.join(OUT, "maps.tsv"), "w", encoding="utf-8", newline="\n") as f:
        f.write("# value maps (repnz 18990 rebuild, via the reference tables); generated by tools/gen_schemas.py\n")
        f.write("provider\tmap\tvalue\tstring\n")
        for prov, mp, v, s in all_maps:
            f.write(f"{prov}\t{mp}\t{v}\t{clean(s)}\n")
    nt = parse_ntstatus()
    nt.setdefault(0, "STATUS_SUCCESS")
    with open(os.path.join(OUT, "ntstatus.tsv"), "w", encoding="utf-8", newline="\n") as f:
        f.write("# NTSTATUS values seen in TCPIP/AFD Status fields (EVENTS.md 11); generated by tools/gen_schemas.py\n")
        f.write("code\tname\n")
        for code in sorted(nt):
            f.write(f"0x{code:08X}\t{nt[code]}\n")


if __name__ == "__main__":
    main()
