//! Format detection by content, never by file name.
//!
//! Binary formats are recognised from their first bytes. Text formats are
//! recognised by scoring the shape of the first non-blank lines against each
//! format's line grammar: the format whose lines match best wins, so a
//! tasklist pasted with a few lines of prose around it is still a tasklist.

use crate::decode::Format;
use crate::decode::common::{lines, parse_socket_addr};
use crate::decode::prefix::parse_prefix;

/// How many bytes of a file detection looks at.
pub const HEAD_BYTES: usize = 256 * 1024;
/// How many non-blank lines the text scorer reads.
const SCORE_LINES: usize = 400;

/// Recognises binary formats from the first bytes.
pub fn detect_binary(head: &[u8]) -> Option<Format> {
    if head.len() >= 12 && head[..4] == [0x0A, 0x0D, 0x0D, 0x0A] {
        return Some(Format::Pcapng);
    }
    if crate::etl::is_etl(head) || looks_like_etl(head) {
        return Some(Format::Etl);
    }
    None
}

/// An ETL file starts with a header buffer: WMI_BUFFER_HEADER with
/// BufferType 4 (header) at 0x36, followed at 0x48 by a SYSTEM_TRACE_HEADER
/// whose flags byte marks a trace header (0xC0).
fn looks_like_etl(head: &[u8]) -> bool {
    if head.len() < 0x50 {
        return false;
    }
    let buffer_size = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let buffer_type = u16::from_le_bytes([head[0x36], head[0x37]]);
    buffer_size >= 0x200 && buffer_type == 4 && head[0x4B] & 0xC0 == 0xC0
}

/// Whether decoded text is really binary data (NULs or many control
/// characters in the head).
pub fn looks_binary(text: &str) -> bool {
    let sample: Vec<char> = text.chars().take(8192).collect();
    if sample.is_empty() {
        return false;
    }
    let bad = sample
        .iter()
        .filter(|c| (**c < ' ' && !matches!(**c, '\t' | '\n' | '\r' | '\x0c')) || **c == '\u{FFFD}')
        .count();
    bad * 20 > sample.len()
}

/// Recognises a text format from the decoded head of a file.
pub fn detect_text(text: &str) -> Format {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with("<?xml")
        || trimmed.starts_with("<Events")
        || trimmed.starts_with("<Event ")
        || trimmed.starts_with("<Event>")
    {
        return Format::EtwXml;
    }
    if (trimmed.starts_with('[') || trimmed.starts_with('{'))
        && (trimmed.contains("\"Components\"")
            || trimmed.contains("\"Counters\"")
            || trimmed.contains("\"Group\""))
    {
        return Format::PktmonJson;
    }
    // `pktmon list` / `pktmon counters` tables: only the heading is distinctive.
    if let Some(f) = crate::decode::pktmon_list::sniff(text) {
        return f;
    }
    let mut score = Scores::default();
    let mut scored = 0u32;
    for line in lines(text)
        .filter(|l| !l.trim().is_empty())
        .take(SCORE_LINES)
    {
        scored += 1;
        score.line(line);
    }
    // Prose that merely quotes a few trace lines (a README, a mail) is not
    // a trace: the winner must match a fair share of the lines.
    let (best, matched) = score.best();
    if matched * 4 >= scored && best != Format::Unknown {
        return best;
    }
    // The decoders' own sniffers know their rarer variants (translated
    // labels, /fo list blocks, /m continuation rows, counters tables,
    // header-less fragments).
    if crate::decode::etwxml::sniff(text) {
        return Format::EtwXml;
    }
    if crate::decode::tracerpt_csv::sniff(text) {
        return Format::TracerptCsv;
    }
    if crate::decode::netstat::sniff(text) {
        return Format::Netstat;
    }
    if crate::decode::tasklist::sniff(text) {
        return Format::Tasklist;
    }
    Format::Unknown
}

#[derive(Default, Debug)]
struct Scores {
    netsh: u32,
    pktmon: u32,
    netmon: u32,
    csv: u32,
    tasklist: u32,
    netstat: u32,
    pktmon_list: u32,
    pktmon_counters: u32,
    xml: u32,
    /// Lines that matched any format's grammar.
    matched: u32,
}

impl Scores {
    fn sum(&self) -> u32 {
        self.netsh
            + self.pktmon
            + self.netmon
            + self.csv
            + self.tasklist
            + self.netstat
            + self.pktmon_list
            + self.pktmon_counters
            + self.xml
    }

    fn line(&mut self, line: &str) {
        let before = self.sum();
        self.classify(line);
        if self.sum() > before {
            self.matched += 1;
        }
    }

    fn classify(&mut self, line: &str) {
        let t = line.trim();
        if let Ok(p) = parse_prefix(line) {
            if p.provider == "MSNT_SystemTrace" {
                self.matched += 1;
                // Converter header lines: written by pktmon and netsh alike.
                return;
            }
            if p.provider == "Microsoft-Windows-PktMon" || p.message.contains("PktGroupId") {
                self.pktmon += 3;
            } else {
                self.netsh += 3;
            }
            return;
        }
        if t.contains("PktGroupId") || t.starts_with("[MSNT_SystemTrace]") && t.contains("PktMon") {
            self.pktmon += 3;
            return;
        }
        if t.starts_with("Component ") && t.contains(", Type ")
            || t.starts_with("Drop Counters:")
            || t.starts_with("Flow Counters:")
            || t.starts_with("Property: Component")
        {
            self.pktmon += 1;
            return;
        }
        if t.starts_with("<Event")
            || t.starts_with("</Event")
            || t.starts_with("<System>")
            || t.starts_with("<Data ")
        {
            self.xml += 2;
            return;
        }
        let first = t.split_whitespace().next().unwrap_or("");
        if first.bytes().all(|b| b.is_ascii_digit())
            && !first.is_empty()
            && (t.contains("Wscore_")
                || t.contains("TCPIP_")
                || t.contains("TCP:Flags=")
                || t.contains("TCP: [Bad CheckSum]"))
        {
            self.netmon += 3;
            return;
        }
        if t.starts_with("Event Name,")
            || t.contains(", Clock-Time,")
            || t.contains("User Data") && t.contains(',')
        {
            self.csv += 4;
            return;
        }
        let cells: Vec<&str> = t.split(',').map(str::trim).collect();
        if cells.len() >= 6
            && cells[0]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            && (cells.iter().any(|c| c.starts_with("0x"))
                || cells
                    .get(3)
                    .is_some_and(|c| c.len() >= 17 && c.bytes().all(|b| b.is_ascii_digit())))
            && !t.starts_with('"')
        {
            self.csv += 2;
            return;
        }
        // netstat rows: proto then two socket addresses.
        let words: Vec<&str> = t.split_whitespace().collect();
        if words.len() >= 3
            && matches!(words[0], "TCP" | "UDP" | "TCPv6" | "UDPv6")
            && (parse_socket_addr(words[1]).is_some() || words[1].contains(':'))
        {
            self.netstat += 3;
            return;
        }
        if words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("proto"))
        {
            self.netstat += 2;
            return;
        }
        if t.starts_with('[') && t.ends_with(']') && t.to_ascii_lowercase().contains(".exe") {
            self.netstat += 1;
            return;
        }
        // tasklist: `=== ===` underline, CSV with quoted PID, table rows
        // `image  1234 Session  0  1,234 K`, /fo list `PID: 1234`.
        if !t.is_empty() && t.bytes().all(|b| b == b'=' || b == b' ') && t.contains("= =") {
            self.tasklist += 3;
            return;
        }
        if t.starts_with('"')
            && cells.len() >= 2
            && cells.get(1).is_some_and(|c| {
                c.trim_matches('"').bytes().all(|b| b.is_ascii_digit()) && c.len() > 2
            })
        {
            self.tasklist += 3;
            return;
        }
        if t.starts_with('"') && (t.contains("\"PID\"") || t.contains("\"Image Name\"")) {
            self.tasklist += 3;
            return;
        }
        if let Some((label, value)) = t.split_once(':')
            && label.trim() == "PID"
            && value.trim().bytes().all(|b| b.is_ascii_digit())
        {
            self.tasklist += 3;
            return;
        }
        if words.len() >= 2
            && words
                .iter()
                .any(|w| w.to_ascii_lowercase().ends_with(".exe"))
            && words
                .iter()
                .skip(1)
                .any(|w| w.bytes().all(|b| b.is_ascii_digit()))
            && (t.ends_with(" K")
                || t.ends_with(" KB")
                || t.ends_with(" Ko")
                || t.ends_with(" КБ")
                || t.ends_with("N/A")
                || words.len() <= 4)
        {
            self.tasklist += 2;
            return;
        }
        let lower = t.to_ascii_lowercase();
        if lower.contains("counter") && lower.contains("direction") && lower.contains("packets") {
            self.pktmon_counters += 4;
            return;
        }
        if (lower.starts_with("id") && lower.contains("mac address") && lower.contains("name"))
            || lower == "network adapters:"
        {
            self.pktmon_list += 4;
        }
    }

    fn best(&self) -> (Format, u32) {
        let cands = [
            // PktMon first: on a tie (header lines only) a pktmon log wins.
            (self.pktmon, Format::PktmonText),
            (self.netsh, Format::NetshText),
            (self.netmon, Format::NetmonText),
            (self.xml, Format::EtwXml),
            (self.csv, Format::TracerptCsv),
            (self.netstat, Format::Netstat),
            (self.tasklist, Format::Tasklist),
            (self.pktmon_counters, Format::PktmonCounters),
            (self.pktmon_list, Format::PktmonList),
        ];
        let mut best = (0, Format::Unknown);
        for (s, f) in cands {
            if s > best.0 {
                best = (s, f);
            }
        }
        if best.0 < 2 {
            (Format::Unknown, 0)
        } else {
            (best.1, self.matched)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_each_text_format_by_shape() {
        let netsh = "[30]0000.0000::2025/03/27-16:12:13.966003800 [Microsoft-Windows-TCPIP]TCPIP: Network layer dropped";
        assert_eq!(detect_text(netsh), Format::NetshText);
        let pkt = "[30]0000.0000::2025-03-27 16:10:34.934020500 [Microsoft-Windows-PktMon] Drop: PktGroupId 8444249301423149, PktNumber 1";
        assert_eq!(detect_text(pkt), Format::PktmonText);
        let rt = "23:02:26.539704700 PktGroupId 562949953421500, PktNumber 1, Appearance 1, Direction Tx , Type Ethernet";
        assert_eq!(detect_text(rt), Format::PktmonText);
        let netmon = "50            tcpserver.exe (2704)              Wscore_MicrosoftWindowsWinsockAFD:socket: 0 (0x0): Process 0x893F92B0";
        assert_eq!(detect_text(netmon), Format::NetmonText);
        let netstat = "\nActive Connections\n\n  Proto  Local Address          Foreign Address        State           PID\n  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       1060\n";
        assert_eq!(detect_text(netstat), Format::Netstat);
        let tl = "\nImage Name                     PID Session Name        Session#    Mem Usage\n========================= ======== ================ =========== ============\nSystem Idle Process              0 Services                   0          8 K\n";
        assert_eq!(detect_text(tl), Format::Tasklist);
        let csv = "\"Image Name\",\"PID\",\"Session Name\",\"Session#\",\"Mem Usage\"\n\"System Idle Process\",\"0\",\"Services\",\"0\",\"8 K\"\n";
        assert_eq!(detect_text(csv), Format::Tasklist);
        let tr = "UdpIp, Send, 0xFFFFFFFF, 129079416141424158, 0, 0, 2136, 8, 172.023.098.097, 010.001.001.001, 2762, 36003, 0, 0\n";
        assert_eq!(detect_text(tr), Format::TracerptCsv);
        assert_eq!(
            detect_text("<?xml version=\"1.0\"?>\n<Events>"),
            Format::EtwXml
        );
        assert_eq!(detect_text("hello world\nthis is prose\n"), Format::Unknown);
    }

    #[test]
    fn binary_heads() {
        assert_eq!(
            detect_binary(&[0x0A, 0x0D, 0x0D, 0x0A, 0, 0, 0, 0, 0x4D, 0x3C, 0x2B, 0x1A]),
            Some(Format::Pcapng)
        );
        assert_eq!(detect_binary(b"plain text"), None);
        assert!(looks_binary("\u{0}\u{1}\u{2}abc\u{0}\u{0}\u{3}"));
        assert!(!looks_binary("abc\r\ndef\n"));
    }
}
