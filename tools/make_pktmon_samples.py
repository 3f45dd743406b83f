#!/usr/bin/env python3
"""Writes the hand-made pktmon samples under samples/pktmon/ (our own data,
modeled on the format facts in FORMATS.md 3.1-3.2 and seed 003). Re-run after
changing; tests/pktmon_samples.rs checks the expected answers."""
import json
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples", "pktmon")
PM = "[Microsoft-Windows-PktMon]"

HOST_MAC, BMC_MAC, GW_MAC = "3C-7C-3F-1A-2B-3C", "00-E0-81-4C-5D-6E", "B0-BE-76-11-22-33"
HOST, BMC, GW = "192.168.1.20", "192.168.1.50", "192.168.1.1"
# id, type, name, description (Windows 11 stack over an Intel I211)
COMPONENTS = [
    (7, "Miniport", "e1r68x64.sys", "Intel(R) I211 Gigabit Network Connection"),
    (8, "Filter", "wfplwfs.sys", "WFP Native MAC Layer LightWeight Filter"),
    (9, "Filter", "wfplwfs.sys", "WFP 802.3 MAC Layer LightWeight Filter"),
    (10, "Filter", "pacer.sys", "QoS Packet Scheduler"),
    (11, "Protocol", "tcpip.sys", "TCPIP"),
    (12, "Protocol", "tcpip.sys", "TCPIP6"),
]
RX_PATH = [(7, 1), (8, 2), (8, 1), (9, 2), (9, 1), (10, 2), (10, 1), (11, 1)]
TX_PATH = [(11, 1), (10, 1), (10, 2), (9, 1), (9, 2), (8, 1), (8, 2), (7, 1)]


class Clock:
    def __init__(self, h, m, s):
        self.ns = ((h * 60 + m) * 60 + s) * 1_000_000_000

    def tick(self, ns):
        self.ns += ns
        return self.ns

    @staticmethod
    def tod(ns):
        s, f = divmod(ns, 1_000_000_000)
        return "%02d:%02d:%02d.%09d" % (s // 3600, s // 60 % 60, s % 60, f)


def prefix(ns, cpu=2, pid=0, tid=0, date="2024-11-05"):
    return "[%02d]%04X.%04X::%s %s %s " % (cpu, pid, tid, date, Clock.tod(ns), PM)


def pkt_header(g, n, app, d, typ, comp, edge, flt, size):
    return ("PktGroupId %d, PktNumber %d, Appearance %d, Direction %s , Type %s , Component %d, Edge %d, "
            "Filter %d, OriginalSize %d, LoggedSize %d " % (g, n, app, d, typ, comp, edge, flt, size, min(size, 128)))


def drop_header(g, n, d, typ, comp, flt, reason, loc, size, label="Drop:"):
    return ("%s PktGroupId %d, PktNumber %d, Appearance 0, Direction %s , Type %s , Component %d, Filter %d, "
            "DropReason %s , DropLocation 0x%08X, OriginalSize %d, LoggedSize %d " %
            (label, g, n, d, typ, comp, flt, reason, loc, size, min(size, 128)))


def udp_decode(smac, dmac, frame, src, sport, dst, dport, plen):
    return "\t%s > %s, ethertype IPv4 (0x0800), length %d: %s.%d > %s.%d: UDP, length %d" % (
        smac, dmac, frame, src, sport, dst, dport, plen)


def header_lines(ns, build=22621):
    p = "[00]1A2C.0F10::2024-11-05 %s [MSNT_SystemTrace] " % Clock.tod(ns)
    return [
        p + "Event: Header, BufferSize: 16777216, Version: 131082, ProviderVersion: %d, NumberOfProcessors: 8, "
            "EndTime: 133752117305512340, TimerResolution: 156250, MaxFileSize: 512, LogFileMode: 0x4010001, "
            "BuffersWritten: 2, StartBuffers: 1, PointerSize: 8, EventsLost: 0, CPUSpeed: 3600, LoggerName: 0x0, "
            "LogFileName: 0x0, TimeZoneInformation: " % build,
        p + "Event: PartitionInfoExtensionV2, EventVersion: 0, Reserved: 0, PartitionType: 0, QpcOffsetFromRoot: 0, PartitionId: , ParentId: ",
        p + "Event: PartitionInfoExtensionV2, EventVersion: 0, Reserved: 0, PartitionType: 0, QpcOffsetFromRoot: 0, PartitionId: , ParentId: ",
    ]


def trailer(clock, drops_in):
    out = []
    t = lambda: prefix(clock.tick(700), cpu=0, pid=0x1A2C, tid=0x0F10)
    for cid, typ, name, desc in COMPONENTS:
        out.append(t() + "Component %d, Type %s , Name %s, %s " % (cid, typ, name, desc))
        if cid == 7:
            out.append(t() + "Property: Component 7, PhysAddress  = 0x%s " % HOST_MAC.replace("-", ""))
            out.append(t() + "Property: Component 7, NdisMedium  = Ethernet  ")
            out.append(t() + "Property: Component 7, IfIndex  = 14 ")
        elif typ == "Filter":
            out.append(t() + "Property: Component %d, MiniportIfIndex  = 14 " % cid)
            out.append(t() + "Property: Component %d, IfIndex  = %d " % (cid, cid + 20))
        else:
            for et in (["ARP", "IPv4"] if desc == "TCPIP" else ["IPv6"]):
                out.append(t() + "Property: Component %d, EtherType  = %s  " % (cid, et))
            out.append(t() + "Property: Component %d, MiniportIfIndex  = 14 " % cid)
        n_in = drops_in if cid == 11 else 0
        out.append(t() + "Drop Counters: Component %d, Direction In = Rx , Packets In %d, Bytes In %d, "
                   "Direction Out = Tx , Packets Out 0, Bytes Out 0 " % (cid, n_in, n_in * 62))
        edges = [("Lower", 1)] if typ != "Filter" else [("Upper", 1), ("Lower", 2)]
        if typ == "Miniport":
            edges = [("Upper", 1)]
        for ename, eid in edges:
            out.append(t() + "Flow Counters: Component %d, Edge %s, Edge Id %d, Direction In = Rx , Packets In %d, "
                       "Bytes In %d, Direction Out = Tx , Packets Out 3, Bytes Out 195 " % (cid, ename, eid, 4, 4 * 76))
    return out


def seed003():
    """Seed 003: ipmiutil on a Windows 11 host asks the BMC (UDP 623) three
    times; each reply climbs NIC -> filters -> TCPIP and TCPIP drops it with
    'INET: checksum is invalid'. A DNS reply in the middle is delivered and
    interleaves with the second reply's appearances."""
    clock = Clock(21, 14, 3)
    lines = header_lines(clock.tick(0))
    g = 1125899906842700
    sport = 49852
    for attempt in range(3):
        # request: Tx down the stack
        g += 1
        for app, (comp, edge) in enumerate(TX_PATH, 1):
            lines.append(prefix(clock.tick(2600), cpu=3, pid=0x2F4C, tid=0x3A18) + pkt_header(g, 1, app, "Tx", "Ethernet", comp, edge, 0, 65))
            lines.append(udp_decode(HOST_MAC, BMC_MAC, 65, HOST, sport, BMC, 623, 23))
        # reply: Rx up the stack, then the drop
        g += 1
        reply = g
        rx_lines = []
        for app, (comp, edge) in enumerate(RX_PATH, 1):
            rx_lines.append([prefix(clock.tick(1900 if app > 1 else 412_000), cpu=0, pid=0, tid=0) + pkt_header(reply, 1, app, "Rx", "Ethernet", comp, edge, 0, 76),
                             udp_decode(BMC_MAC, HOST_MAC, 76, BMC, 623, HOST, sport, 34)])
        drop = [prefix(clock.tick(2300), cpu=0) + drop_header(reply, 1, "Rx", "IP", 11, 0, "INET: checksum is invalid", 0xE000460B, 62),
                "       Drop: ip: %s.623 > %s.%d: UDP, length 34" % (BMC, HOST, sport)]
        if attempt == 1:
            # A DNS answer arrives while the reply is climbing: interleave.
            g += 1
            dns = []
            for app, (comp, edge) in enumerate(RX_PATH, 1):
                dns.append([prefix(clock.tick(900), cpu=1) + pkt_header(g, 1, app, "Rx", "Ethernet", comp, edge, 0, 106),
                            "\t%s > %s, ethertype IPv4 (0x0800), length 106: %s.53 > %s.61544: 4660 1/0/0 A 192.168.1.50 (64)" % (GW_MAC, HOST_MAC, GW, HOST)])
            merged = []
            for a, b in zip(rx_lines, dns):
                merged += [a, b]
            rx_lines = merged
        for pair in rx_lines:
            lines += pair
        lines += drop
        clock.tick(1_000_000_000)
    lines += trailer(clock, 3)
    return lines


def write(rel, lines, utf16=False):
    path = os.path.join(ROOT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    text = "\r\n".join(lines) + "\r\n" if utf16 else "\n".join(lines) + "\n"
    with open(path, "wb") as f:
        if utf16:
            f.write(b"\xff\xfe" + text.encode("utf-16-le"))
        else:
            f.write(text.encode("utf-8"))


def strip_prefix_to_time_only(line):
    if line.startswith("[") and PM in line:
        t = line.split("::", 1)[1]
        time = t.split(" ")[1]
        # the real-time session ran with filter 1 (BMC, port 623)
        return time + " " + line.split(PM + " ", 1)[1].replace("Filter 0,", "Filter 1,")
    return line


def main():
    s = seed003()
    write("seed003_bmc_udp623_checksum_drop/pktmon.txt", s)
    write("seed003_utf16le_crlf/pktmon.txt", s, utf16=True)
    write("seed003_bmc_udp623_checksum_drop/pktmon_list.txt", [
        "PS C:\\Users\\admin> pktmon list", "", "Network Adapters:",
        "   Id MAC Address       Name", "   -- -----------       ----",
        "    7 %s Intel(R) I211 Gigabit Network Connection" % HOST_MAC, ""])
    # Real-time console session with the time-only prefix (no trailer):
    # names must come from the pktmon list of the same session.
    body = [l for l in s if PM in l and "PktGroupId" in l or l.startswith("\t") or l.startswith("       Drop")]
    rt = ["C:\\Windows\\system32>pktmon filter add BMC -p 623", "Filter added.", "",
          "C:\\Windows\\system32>pktmon filter list", " # Name EtherType Protocol IP Address Port",
          " - ---- --------- -------- ---------- ----", " 1 BMC" + " " * 32 + "623", "",
          "C:\\Windows\\system32>pktmon start --etw --log-mode real-time", "Active measurement started.", "Processing...", ""]
    rt += [strip_prefix_to_time_only(l) for l in body if "4660 1/0/0" not in l]
    # drop the DNS packet headers (their decode lines were removed above)
    out, skip = [], False
    for l in rt:
        if "Type Ethernet" in l and " PktGroupId" in l and "Component" in l:
            pass
        out.append(l)
    rt_clean = []
    for i, l in enumerate(out):
        if " PktGroupId " in l and not l.startswith("Drop") and i + 1 < len(out) and not out[i + 1].startswith(("\t", "       ")):
            continue
        rt_clean.append(l)
    write("timestamp_only_realtime/pktmon_realtime.txt", rt_clean)
    write("timestamp_only_realtime/pktmon_list.txt", [
        "C:\\Windows\\system32>pktmon list -a", "", "Network Adapters:",
        "   Id MAC Address       Name", "   -- -----------       ----",
        "    7 %s Intel(R) I211 Gigabit Network Connection" % HOST_MAC, "",
        "Protocols:", "   Id Name      Type", "   -- ----      ----",
        "   11 tcpip.sys Protocol", "   12 tcpip.sys Protocol", "",
        "Filters:", "   Id Name        Type", "   -- ----        ----",
        "    8 wfplwfs.sys Filter", "    9 wfplwfs.sys Filter", "   10 pacer.sys   Filter", ""])
    variants()


def variants():
    c = Clock(9, 30, 0)
    me, gw, web = "10.0.0.15", "10.0.0.1", "93.184.216.34"
    mac_me, mac_gw = "00-15-5D-01-02-03", "00-15-5D-0A-0B-0C"
    # --verbose 3: IP header on the Ethernet line, 4-tuple on a continuation line.
    v = header_lines(c.tick(0), build=26100)
    syn = [("Tx", 5, 1, "Flags [S], seq 2401735811, win 64240, options [mss 1460,nop,wscale 8,nop,nop,sackOK], length 0", 66, me, 50123, web, 443, mac_me, mac_gw, "(tos 0x0, ttl 128, id 46774, offset 0, flags [DF], proto TCP (6), length 52)"),
           ("Rx", 5, 2, "Flags [S.], seq 99887766, ack 2401735812, win 65535, options [mss 1400,nop,wscale 9,nop,nop,sackOK], length 0", 66, web, 443, me, 50123, mac_gw, mac_me, "(tos 0x0, ttl 56, id 0, offset 0, flags [DF], proto TCP (6), length 52)"),
           ("Tx", 5, 3, "Flags [.], ack 99887767, win 1026, length 0", 54, me, 50123, web, 443, mac_me, mac_gw, "(tos 0x0, ttl 128, id 46775, offset 0, flags [DF], proto TCP (6), length 40)")]
    g = 281474976710800
    for d, comp, k, l4, frame, s, sp, dd, dp, sm, dm, iph in syn:
        g += 1
        v.append(prefix(c.tick(31000), cpu=4, pid=4, tid=0x514) + pkt_header(g, 1, 1, d, "Ethernet", comp, 1, 0, frame))
        v.append("\t%s > %s, ethertype IPv4 (0x0800), length %d: %s" % (sm, dm, frame, iph))
        v.append("    %s.%d > %s.%d: %s" % (s, sp, dd, dp, l4))
    write("verbose3_tcp_handshake/pktmon.txt", v)
    # --brief: abbreviated decode (no link header)
    b = header_lines(c.tick(0), build=26100)
    g = 281474976710900
    for d, comp, k, l4, frame, s, sp, dd, dp, sm, dm, iph in syn:
        g += 1
        b.append(prefix(c.tick(31000), cpu=4, pid=4, tid=0x514) + pkt_header(g, 1, 1, d, "Ethernet", comp, 1, 0, frame))
        b.append("\t%s.%d > %s.%d: %s" % (s, sp, dd, dp, l4.split(", options")[0] + (", length 0" if "options" in l4 else "")))
    write("brief_tcp_handshake/pktmon.txt", b)
    # --hex: decode line then hex dump lines
    h = header_lines(c.tick(0), build=22631)
    h.append(prefix(c.tick(5000), cpu=1, pid=4, tid=0x88) + pkt_header(281474976711001, 1, 1, "Rx", "Ethernet", 5, 1, 0, 60))
    h.append("\t%s > FF-FF-FF-FF-FF-FF, ethertype ARP (0x0806), length 60: Request who-has %s tell %s, length 46" % (mac_gw, me, gw))
    hexd = "ffffffffffff00155d0a0b0c08060001080006040001" + "00155d0a0b0c" + "0a000001" + "000000000000" + "0a00000f" + "00" * 18
    for off in range(0, len(hexd) // 2, 16):
        chunk = hexd[off * 2: off * 2 + 32]
        words = " ".join(chunk[i:i + 4] for i in range(0, len(chunk), 4))
        h.append("\t0x%04x:  %s" % (off, words))
    h.append(prefix(c.tick(5000), cpu=1, pid=4, tid=0x88) + pkt_header(281474976711002, 1, 1, "Tx", "Ethernet", 5, 1, 0, 42))
    h.append("\t%s > %s, ethertype ARP (0x0806), length 42: Reply %s is-at 00:15:5d:01:02:03, length 28" % (mac_me, mac_gw, me))
    for off in range(0, 42, 16):
        chunk = ("00155d0a0b0c00155d010203080600010800060400020015" + "5d0102030a00000f00155d0a0b0c0a000001")[off * 2: off * 2 + 32]
        h.append("\t0x%04x:  %s" % (off, " ".join(chunk[i:i + 4] for i in range(0, len(chunk), 4))))
    write("hex_arp/pktmon.txt", h)
    # NblInfo metadata events (180) next to the payload events (160)
    m = header_lines(c.tick(0), build=22631)
    g = 562949953421900
    for app, (comp, edge) in enumerate([(5, 1), (6, 2), (6, 1), (7, 1)], 1):
        t = prefix(c.tick(2000), cpu=2, pid=4, tid=0x90)
        m.append(t + "TcpIpChecksum 0x0, TcpLargeSend 0x0, Ieee8021Q 0x0, HashInfo 0x801, HashValue 0x5A3C11F2, VirtualSubnetInfo 0x0, TcpRecvSegCoalesceInfo 0x0, NrtNameResolutionId 0x0, TcpSendOffloadsSupplementalInfo 0x0, SwitchForwardingDetail 0, GftOffloadInfo 0, GftFlowEntryId 0, PktGroupId %d, PktCount 1, Appearance %d, Direction Rx , Type Ethernet , Component %d, Edge %d, Filter 0 " % (g, app, comp, edge))
        m.append(t + pkt_header(g, 1, app, "Rx", "Ethernet", comp, edge, 0, 86))
        m.append("\t%s > %s, ethertype IPv4 (0x0800), length 86: %s.53 > %s.60001: 33000 1/0/0 A %s (44)" % (mac_gw, mac_me, gw, me, web))
    write("nblinfo_metadata_180/pktmon.txt", m)
    # translated labels (Chinese drop, Korean packet)
    tr = header_lines(c.tick(0), build=22631)
    tr.append(prefix(c.tick(3000), cpu=6) + "PktGroupId 844424930131970, PktNumber 1, 모양 1, 방향 Tx , 유형 Ethernet , 구성 요소 80, 에지 1, 필터 1, 원래 크기 74, 기록된 크기 74 ")
    tr.append("\t%s > %s, ethertype IPv4 (0x0800), length 74: %s.50700 > %s.80: Flags [S], seq 1, win 64240, options [mss 1460,sackOK], length 0" % (mac_me, mac_gw, me, web))
    tr.append(prefix(c.tick(3000), cpu=6) + "丢弃： PktGroupId 844424930131971, PktNumber 1, 外观 0, 方向 Rx , 类型 IP , 组件 101, 筛选器 1, DropReason INET: checksum is invalid , DropLocation 0xE000460B, 原始大小 62, 记录大小 62 ")
    tr.append("       丢弃： ip: %s.623 > %s.49852: UDP, length 34" % (BMC, HOST))
    write("translated_labels/pktmon.txt", tr)
    # numeric DropReason on a current build and on an 1809-era build
    n = header_lines(c.tick(0), build=22631)
    n.append(prefix(c.tick(3000), cpu=0) + drop_header(844424930132000, 1, "Rx", "IP", 11, 0, "1203", 0xE000460B, 62))
    n.append("       Drop: ip: %s.623 > %s.49852: UDP, length 34" % (BMC, HOST))
    write("numeric_drop_reason/pktmon_22631.txt", n)
    o = header_lines(c.tick(0), build=17763)
    o.append(prefix(c.tick(3000), cpu=0) + drop_header(844424930132001, 1, "Tx", "Ethernet", 2, 0, "101", 0xE0001005, 60))
    o.append("\t%s > %s, ethertype IPv4 (0x0800), length 60: %s.137 > 10.0.0.255.137: UDP, length 18" % (mac_me, "FF-FF-FF-FF-FF-FF", me))
    write("numeric_drop_reason/pktmon_17763.txt", o)
    # pktmon list --json
    lj = [{"Group": "Network Adapters", "Components": [
        {"Id": 7, "Name": "Intel(R) I211 Gigabit Network Connection", "Type": "Miniport",
         "Properties": [{"Name": "MAC Address", "Value": HOST_MAC}, {"Name": "ifIndex", "Value": 14}, {"Name": "Driver", "Value": "e1r68x64.sys"}]},
        {"Id": 8, "SecondaryId": 7, "Name": "WFP Native MAC Layer LightWeight Filter", "Type": "Filter",
         "Properties": [{"Name": "Driver", "Value": "wfplwfs.sys"}, {"Name": "ifIndex", "Value": 28}]},
        {"Id": 10, "SecondaryId": 7, "Name": "QoS Packet Scheduler", "Type": "Filter", "Properties": [{"Name": "Driver", "Value": "pacer.sys"}]}]},
        {"Group": "Protocols", "Components": [
            {"Id": 11, "Name": "TCPIP", "Type": "Protocol", "Properties": [{"Name": "Driver", "Value": "tcpip.sys"}, {"Name": "EtherType", "Value": "IPv4"}]},
            {"Id": 12, "Name": "TCPIP6", "Type": "Protocol", "Properties": [{"Name": "Driver", "Value": "tcpip.sys"}, {"Name": "EtherType", "Value": "IPv6"}]}]}]
    write("list_json/pktmon_list.json", json.dumps(lj, indent=2).split("\n"))
    # pktmon counters (table and --json)
    ct = ["C:\\Windows\\system32>pktmon counters --drop-reason", "",
          "Intel(R) I211 Gigabit Network Connection",
          "   Id Name                    Counter  Direction  Packets    Bytes | Direction Packets  Bytes",
          "   -- ----                    -------  ---------  -------    ----- | --------- -------  -----",
          "    7 Intel(R) I211 Gigab...  Upper    Rx               4      304 | Tx              3    195",
          "    8 WFP Native MAC Laye...  Upper    Rx               4      304 | Tx              3    195",
          "                              Lower    Rx               4      304 | Tx              3    195",
          "   10 QoS Packet Scheduler    Upper    Rx               4      304 | Tx              3    195",
          "                              Lower    Rx               4      304 | Tx              3    195",
          "   11 TCPIP                   Lower    Rx               4      304 | Tx              3    195",
          "                              Drop     Rx               3      186 | Tx              0      0",
          "                              Drop reason: INET: checksum is invalid", ""]
    write("counters_table/pktmon_counters.txt", ct)
    cj = [{"Group": "Intel(R) I211 Gigabit Network Connection", "Components": [
        {"Id": 7, "Name": "Intel(R) I211 Gigabit Network Connection", "Type": "Miniport",
         "Counters": [{"Name": "Upper", "Inbound": {"Packets": 4, "Bytes": 304}, "Outbound": {"Packets": 3, "Bytes": 195}}]},
        {"Id": 11, "Name": "TCPIP", "Type": "Protocol",
         "Counters": [{"Name": "Lower", "Inbound": {"Packets": 4, "Bytes": 304}, "Outbound": {"Packets": 3, "Bytes": 195}},
                      {"Name": "Drop", "Inbound": {"Packets": 3, "Bytes": 186, "DropReason": "INET: checksum is invalid", "DropLocation": "0xE000460B"},
                       "Outbound": {"Packets": 0, "Bytes": 0}}]}]}]
    write("counters_json/pktmon_counters.json", json.dumps(cj, indent=2).split("\n"))


if __name__ == "__main__":
    main()
