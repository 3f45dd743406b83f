//! Network Monitor 3.x text export of an ETL with ETW events (seed 002):
//!
//! ```text
//! 50   tcpserver.exe (2704)   Wscore_MicrosoftWindowsWinsockAFD:socket: 0 (0x0): Process 0x893F92B0 (0x00000A90), …
//! 197  Idle (0)               TCPIP_MicrosoftWindowsTCPIP:TCP: connection 0x8921DD28 transition from ListenState to SynRcvdState, SndNxt = 0 (0x0).
//! 199  Idle (0)   WIN7CLIENT1-2K8   W2K8DC1   TCP   TCP: [Bad CheckSum]Flags=...A..S., SrcPort=13000, DstPort=55908, PayloadLen=0, Seq=2428590241, Ack=260959135, Win=8192 …
//! 54 65 73 74 20 6D 65 73 73 61 67 65 31  Test message1
//! ```
//!
//! Columns: frame number, process `name (pid)`, optional source and
//! destination, then either `ProviderTag_CompactProviderName:message` (an
//! ETW event, parsed with the provider's templates) or a protocol and its
//! summary (a packet). Hex dump lines belong to the packet before them.
//! Columns are separated by runs of blanks; pasted copies use NBSP.

use crate::decode::common::{parse_ip, split_wide};
use crate::decode::prefix;
use crate::decode::{LineClass, LineDecoder, Sink};
use crate::event::{Endpoint, Event, Kind, Layer, PacketInfo, Proto};
use crate::schema;

#[derive(Debug, Default)]
pub struct NetmonDecoder {
    /// Index in the sink of the last packet event, for its hex dump lines.
    last_packet: Option<usize>,
}

/// NBSP and tabs become plain blanks (pasted NetMon text).
fn normalize(line: &str) -> String {
    line.trim_start_matches('\u{feff}')
        .chars()
        .map(|c| if c == '\u{a0}' || c == '\t' { ' ' } else { c })
        .collect()
}

/// Splits `tcpserver.exe (2704)` off the start of `s`: (name, pid, rest).
fn process_column(s: &str) -> Option<(&str, u32, &str)> {
    let mut from = 0;
    while let Some(off) = s.get(from..)?.find('(') {
        let open = from + off;
        let after = &s[open + 1..];
        let close = after.find(')')?;
        let digits = &after[..close];
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            let name = s[..open].trim();
            // The process column is the first column: no wide gap inside.
            if name.contains("  ") {
                return None;
            }
            let pid = digits.parse().ok()?;
            return Some((name, pid, &after[close + 1..]));
        }
        from = open + 1;
    }
    None
}

/// Finds the `Tag_CompactName:` that starts an ETW event's message:
/// (tag, byte offset of the message).
fn provider_tag(s: &str) -> Option<(&str, usize)> {
    let mut start = 0;
    for (i, c) in s.char_indices().chain(std::iter::once((s.len(), ' '))) {
        if c == ' ' {
            let tok = &s[start..i];
            if let Some(colon) = tok.find(':') {
                let tag = &tok[..colon];
                if tag.contains('_')
                    && tag.len() > 3
                    && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    return Some((tag, start + colon + 1));
                }
            }
            start = i + 1;
        }
    }
    None
}

/// NetMon's 8-position flag string (`CEUAPRSF`, `.` for clear) in tcpdump
/// letters: `...A..S.` → `S.`.
pub fn tcpdump_flags(netmon: &str) -> Option<String> {
    let b = netmon.as_bytes();
    if b.len() != 8 || !b.iter().all(|c| c.is_ascii_alphabetic() || *c == b'.') {
        return None;
    }
    let set = |i: usize| b.get(i).is_some_and(|c| *c != b'.');
    let mut out = String::new();
    for (i, letter) in [(7, 'F'), (6, 'S'), (5, 'R'), (4, 'P')] {
        if set(i) {
            out.push(letter);
        }
    }
    if set(3) {
        out.push('.');
    }
    for (i, letter) in [(2, 'U'), (1, 'E'), (0, 'W')] {
        if set(i) {
            out.push(letter);
        }
    }
    Some(out)
}

/// `TCP: [Bad CheckSum]Flags=...A..S., SrcPort=13000, …` → packet info and ports.
fn parse_tcp_summary(summary: &str) -> Option<(PacketInfo, Option<u16>, Option<u16>)> {
    let flags_at = summary.find("Flags=")?;
    let mut info = PacketInfo {
        bad_checksum: summary[..flags_at].contains("[Bad CheckSum]"),
        ..PacketInfo::default()
    };
    let rest = &summary[flags_at + "Flags=".len()..];
    let (flags, rest) = rest.split_once(", ")?;
    info.tcp_flags = Some(tcpdump_flags(flags)?);
    let (mut sport, mut dport) = (None, None);
    for part in rest.split(", ") {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        // `Seq=260959135 - 260959148`, `Win=8192 ( Negotiating … ) = 8192`.
        let first_num = || -> Option<u64> {
            let d: String = v.trim().chars().take_while(char::is_ascii_digit).collect();
            d.parse().ok()
        };
        match k.trim() {
            "SrcPort" => sport = first_num().and_then(|n| u16::try_from(n).ok()),
            "DstPort" => dport = first_num().and_then(|n| u16::try_from(n).ok()),
            "PayloadLen" => info.payload_len = first_num().and_then(|n| u32::try_from(n).ok()),
            "Seq" => info.seq = first_num().and_then(|n| u32::try_from(n).ok()),
            "Ack" => info.ack = first_num().and_then(|n| u32::try_from(n).ok()),
            "Win" => info.window = first_num().and_then(|n| u32::try_from(n).ok()),
            _ => {}
        }
    }
    Some((info, sport, dport))
}

/// `54 65 73 74 …  Test message1`: a hex dump line (NBSP allowed).
pub fn is_hex_dump_line(line: &str) -> bool {
    is_hex_dump(normalize(line).trim())
}

fn is_hex_dump(s: &str) -> bool {
    let hex_part = s.split("  ").next().unwrap_or("");
    let mut n = 0;
    for tok in hex_part.split(' ').filter(|t| !t.is_empty()) {
        if tok.len() != 2 || !tok.bytes().all(|b| b.is_ascii_hexdigit()) {
            // Offsets such as `0000` may lead the line.
            if n == 0 && tok.len() == 4 && tok.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            return false;
        }
        n += 1;
    }
    // One two-digit token could be a frame number (`50  tcpserver.exe`).
    n >= 2
}

/// A time or time-offset column: `14:02:03.1234567`, `10/6/2010 2:02:03 PM`,
/// `12.3456000`. Never a process column (`name (pid)`).
fn is_time_column(c: &str) -> bool {
    let c = c.trim();
    if c.contains('(') || c.is_empty() || parse_ip(c).is_some() {
        return false;
    }
    let t = c.trim_end_matches(" AM").trim_end_matches(" PM");
    t.bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b':' | b'.' | b'/' | b'-' | b' ' | b','))
        && t.bytes().any(|b| b == b':' || b == b'.')
}

fn is_column_header(s: &str) -> bool {
    s.starts_with("Frame Number") || s.starts_with("Frame ") && s.contains("Description")
}

impl LineDecoder for NetmonDecoder {
    fn line(&mut self, line_no: u64, line: &str, sink: &mut Sink) {
        let norm = normalize(line);
        let t = norm.trim();
        if t.is_empty() {
            sink.skipped();
            return;
        }
        if is_column_header(t) {
            sink.skipped();
            return;
        }
        // A hex dump line of the packet before it (checked first: `54 65 …`
        // starts with digits like a frame number).
        if is_hex_dump(t)
            && let Some(ev) = self.last_packet.and_then(|i| sink.events.get_mut(i))
        {
            let hex = t.split("  ").next().unwrap_or("").trim();
            match ev.fields.position("payload_hex") {
                Some(i) => {
                    ev.fields.append_to_value(i, " ");
                    ev.fields.append_to_value(i, hex);
                }
                None => ev.fields.push("payload_hex", hex),
            }
            sink.parsed();
            return;
        }
        // Any other line ends the packet's hex dump: a dump line after an
        // unknown or broken line is not credited to the packet before it
        // (and a chunk starting at such a line decodes the same).
        self.last_packet = None;
        // Frame number.
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        let after_frame = &t[digits..];
        if digits == 0 || !after_frame.starts_with(' ') {
            sink.unknown(line_no, line);
            return;
        }
        let frame: u64 = t[..digits].parse().unwrap_or(0);
        let mut rest = after_frame.trim_start();
        // Optional time columns before the process (`Time Date Local
        // Adjusted`, `Time Offset`), as NetMon exports them when shown.
        let mut time_cols: Vec<&str> = Vec::new();
        while let Some(col) = split_wide(rest).first().copied() {
            if !is_time_column(col) || time_cols.len() >= 2 {
                break;
            }
            time_cols.push(col);
            rest = rest[col.len()..].trim_start();
        }
        let ts = time_cols
            .iter()
            .find_map(|c| prefix::parse_trace_time(c).or_else(|| prefix::time_of_day_timestamp(c)));
        let (pname, pid, rest) = match process_column(rest) {
            Some((n, p, r)) => (Some(n), Some(p), r.trim_start()),
            None => (None, None, rest),
        };
        if let Some((tag, msg_at)) = provider_tag(rest) {
            let columns = split_wide(&rest[..msg_at.saturating_sub(tag.len() + 1)]);
            let message = rest[msg_at..].trim_end();
            let mut ev = Event::new(sink.src(line_no), Layer::Other, Kind::Raw);
            ev.ts = ts;
            ev.header_pid = pid;
            ev.process_name = pname.map(str::to_string);
            ev.message = message.to_string();
            if let Err(note) = schema::apply_rendered(&mut ev, tag, message) {
                sink.diag(line_no, LineClass::Parsed, note);
            }
            ev.fields.push_display("frame", frame);
            for c in &time_cols {
                ev.fields.push_display("netmon_time", c);
            }
            for (k, v) in ["netmon_source", "netmon_destination"].iter().zip(columns) {
                ev.fields.push_display(k.to_string(), v);
            }
            sink.event(ev);
            sink.parsed();
            return;
        }
        // A packet: source, destination, protocol, summary.
        let cols = split_wide(rest);
        let [src, dst, proto_name, ..] = cols.as_slice() else {
            sink.unknown(line_no, line);
            return;
        };
        let summary_at = rest
            .find(proto_name)
            .map_or(rest.len(), |i| i + proto_name.len());
        let summary = rest[summary_at..].trim();
        let mut ev = Event::new(sink.src(line_no), Layer::Packet, Kind::Packet);
        ev.ts = ts;
        ev.header_pid = pid;
        ev.process_name = pname.map(str::to_string);
        ev.message = summary.to_string();
        ev.fields.push_display("frame", frame);
        for c in &time_cols {
            ev.fields.push_display("netmon_time", c);
        }
        ev.fields.push_display("source", src);
        ev.fields.push_display("destination", dst);
        ev.fields.push_display("protocol", proto_name);
        let host = |h: &str, port: Option<u16>| Endpoint {
            ip: parse_ip(h),
            port,
        };
        if *proto_name == "TCP" || summary.starts_with("TCP:") {
            ev.proto = Some(Proto::Tcp);
            match parse_tcp_summary(summary) {
                Some((info, sport, dport)) => {
                    ev.local = Some(host(src, sport));
                    ev.remote = Some(host(dst, dport));
                    ev.bytes = info.payload_len.map(u64::from);
                    ev.packet = Some(Box::new(info));
                }
                None => {
                    sink.error(line_no, "NetMon TCP summary without Flags=");
                    return;
                }
            }
        } else {
            ev.proto = match *proto_name {
                "UDP" => Some(Proto::Udp),
                "ICMP" => Some(Proto::Icmp),
                "ARP" => Some(Proto::Arp),
                _ => None,
            };
            ev.local = Some(host(src, None));
            ev.remote = Some(host(dst, None));
            ev.packet = Some(Box::new(PacketInfo {
                summary: Some(summary.to_string()),
                ..PacketInfo::default()
            }));
        }
        sink.event(ev);
        self.last_packet = Some(sink.events.len() - 1);
        sink.parsed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Format, decode_text};

    #[test]
    fn netmon_flags_become_tcpdump_letters() {
        assert_eq!(tcpdump_flags("......S.").as_deref(), Some("S"));
        assert_eq!(tcpdump_flags("...A..S.").as_deref(), Some("S."));
        assert_eq!(tcpdump_flags("...AP...").as_deref(), Some("P."));
        assert_eq!(tcpdump_flags("...A...F").as_deref(), Some("F."));
        assert_eq!(tcpdump_flags("...A....").as_deref(), Some("."));
        assert_eq!(tcpdump_flags("...A.R..").as_deref(), Some("R."));
        assert_eq!(tcpdump_flags("bad"), None);
    }

    #[test]
    fn nbsp_columns_and_hex_dump() {
        let text = "213\u{a0}\u{a0} tcpserver.exe (2704)\u{a0}\u{a0} W2K8DC1\u{a0}\u{a0} WIN7CLIENT1-2K8\u{a0}\u{a0} TCP\u{a0}\u{a0} TCP:Flags=...AP..., SrcPort=55908, DstPort=13000, PayloadLen=13, Seq=260959135 - 260959148, Ack=2428590242, Win=513\n\
                    \u{a0}  54 65 73 74 20 6D 65 73 73 61 67 65 31 \u{a0} Test message1\n";
        let sink = decode_text(Format::NetmonText, 0, 1, text).unwrap();
        assert_eq!(sink.counts.parsed, 2, "{:?}", sink.diagnostics);
        let e = &sink.events[0];
        let p = e.packet.as_ref().unwrap();
        assert_eq!(p.tcp_flags.as_deref(), Some("P."));
        assert_eq!(
            (p.seq, p.ack, p.window, p.payload_len),
            (Some(260_959_135), Some(2_428_590_242), Some(513), Some(13))
        );
        assert!(!p.bad_checksum);
        assert_eq!(e.local.unwrap().port, Some(55908));
        assert_eq!(e.process_name.as_deref(), Some("tcpserver.exe"));
        assert_eq!(
            e.field("payload_hex"),
            Some("54 65 73 74 20 6D 65 73 73 61 67 65 31")
        );
    }

    #[test]
    fn optional_time_columns() {
        let text = "197  14:02:03.1234567  Idle (0)  TCPIP_MicrosoftWindowsTCPIP:TCP: connection 0x8921DD28 transition from ListenState to SynRcvdState, SndNxt = 0 (0x0).\n";
        let sink = decode_text(Format::NetmonText, 0, 1, text).unwrap();
        assert_eq!(sink.counts.parsed, 1);
        let e = &sink.events[0];
        assert_eq!(e.kind, Kind::TcpStateChange);
        assert_eq!(e.ts.unwrap().to_string(), "T14:02:03.1234567");
        assert_eq!(e.process_name.as_deref(), Some("Idle"));
        assert!(!is_time_column("192.168.1.200"));
        assert!(is_time_column("10/6/2010 2:02:03 PM"));
        assert!(is_hex_dump_line("54 65 73  Tes"));
        assert!(!is_hex_dump_line("50  tcpserver.exe (2704)  X_Y:z"));
    }

    #[test]
    fn orphan_hex_dump_and_noise_are_unknown() {
        let sink = decode_text(Format::NetmonText, 0, 1, "54 65 73  Tes\nhello world\n").unwrap();
        assert_eq!(sink.counts.unknown, 2);
    }
}
