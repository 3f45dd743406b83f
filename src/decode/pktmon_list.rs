//! `pktmon list` and `pktmon counters` output, as text tables and `--json`.
//!
//! `pktmon list` prints component groups (`Network Adapters:`) each with a
//! fixed-width table (`Id MAC Address Name`, dash underline). Rows become
//! [`Kind::PktmonComponent`] events with fields `Id`, `Name`, `Type`, `Group`,
//! `MAC`, `ifIndex` (whichever the table has).
//!
//! `pktmon counters` prints, per adapter heading, rows `Id Name Counter
//! Direction Packets Bytes | Direction Packets Bytes` (numbers may be
//! comma-grouped; rows of the same component after the first leave Id and
//! Name blank). Rows become [`Kind::PktmonCounters`] events with `Rx/Tx
//! Packets/Bytes` (or `Rx/Tx Drops` for drop rows) and `LastDropReason` when
//! `--drop-reason` printed one.
//!
//! `--json` (both commands): `[{Group, Components: [{Id, Name, Type,
//! Properties: [{Name, Value}], Counters: [{Name, Inbound: {Packets, Bytes},
//! Outbound: {…}}]}]}]`. JSON is not line-based: lines are buffered and parsed
//! at `finish`, every line accounted for there.

use serde_json::Value;

use crate::decode::common::parse_grouped_u64;
use crate::decode::{Format, LineClass, LineDecoder, Sink};
use crate::event::{Event, Kind, Layer};

/// Provider names given to list/counters events, so consumers can tell them
/// from a log's trailer records (`pktmon list …` prefix).
pub const LIST_PROVIDER: &str = "pktmon list";
pub const COUNTERS_PROVIDER: &str = "pktmon list counters";

/// Content sniffing for `pktmon list` / `pktmon counters` / their `--json`.
pub fn sniff(head: &str) -> Option<Format> {
    let t = head.trim_start_matches('\u{feff}').trim_start();
    if (t.starts_with('[') || t.starts_with('{')) && t.contains("\"Components\"") {
        return Some(Format::PktmonJson);
    }
    if t.starts_with('[') && t.contains("[Microsoft-Windows-PktMon]") {
        return None;
    }
    // A table heading `Id …` directly followed by its dash underline.
    let lines: Vec<&str> = crate::decode::common::lines(head)
        .filter(|l| !l.trim().is_empty())
        .take(60)
        .collect();
    for pair in lines.windows(2) {
        let words: Vec<&str> = pair[0].split_whitespace().collect();
        if words.first() != Some(&"Id") || !pair[1].trim_start().starts_with("--") {
            continue;
        }
        if words.contains(&"Counter") && words.contains(&"Direction") {
            return Some(Format::PktmonCounters);
        }
        if words.contains(&"Name") {
            return Some(Format::PktmonList);
        }
    }
    None
}

/// Start columns (char offsets) of the dash runs of a table underline.
pub fn dash_starts(underline: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut prev = ' ';
    for (i, c) in underline.chars().enumerate() {
        if c == '-' && prev != '-' {
            out.push(i);
        }
        prev = c;
    }
    out
}

/// Cuts `row` at the column starts (char offsets). A cell that overflows
/// into the next column (a long value) moves that boundary to the next space.
pub fn slice_columns(row: &str, starts: &[usize]) -> Vec<String> {
    let chars: Vec<char> = row.chars().collect();
    if starts.is_empty() {
        return vec![row.trim().to_string()];
    }
    let mut bounds: Vec<usize> = Vec::with_capacity(starts.len() + 1);
    for (i, &s) in starts.iter().enumerate() {
        let mut b = s.min(chars.len());
        if i > 0 {
            // Move right while the boundary splits a word.
            while b > 0
                && b < chars.len()
                && !chars[b - 1].is_whitespace()
                && !chars[b].is_whitespace()
            {
                b += 1;
            }
            let prev = bounds.last().copied().unwrap_or(0);
            b = b.max(prev);
        } else {
            b = 0;
        }
        bounds.push(b);
    }
    bounds.push(chars.len());
    bounds
        .windows(2)
        .map(|w| {
            let (a, b) = (w[0].min(chars.len()), w[1].min(chars.len()));
            chars
                .get(a..b)
                .map(|c| c.iter().collect::<String>())
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .collect()
}

fn is_prompt_or_noise(s: &str) -> bool {
    let p = s.strip_prefix("PS ").unwrap_or(s);
    let b = p.as_bytes();
    let prompt = b.len() > 3
        && b[0].is_ascii_alphabetic()
        && b[1] == b':'
        && b[2] == b'\\'
        && p.contains('>');
    prompt || s.starts_with("> pktmon") || s.starts_with("```") || s.starts_with("$ pktmon")
}

/// Canonical field name for a `pktmon list` heading.
fn list_heading(h: &str) -> String {
    match h {
        "MAC Address" | "MAC" | "Physical Address" => "MAC".into(),
        "ifIndex" | "IfIndex" | "Interface Index" => "ifIndex".into(),
        other => other.to_string(),
    }
}

/// Decoder for [`Format::PktmonList`].
#[derive(Default)]
pub struct PktmonListDecoder {
    group: Option<String>,
    header: Option<String>,
    columns: Vec<(usize, String)>,
}

impl LineDecoder for PktmonListDecoder {
    fn line(&mut self, line_no: u64, line: &str, sink: &mut Sink) {
        let t = line.trim_start_matches('\u{feff}');
        let s = t.trim();
        if s.is_empty() || is_prompt_or_noise(s) {
            sink.skipped();
            return;
        }
        let words: Vec<&str> = s.split_whitespace().collect();
        if words.first() == Some(&"Id") {
            self.header = Some(t.to_string());
            self.columns.clear();
            sink.skipped();
            return;
        }
        if s.starts_with('-') && s.chars().all(|c| c == '-' || c == ' ') {
            if let Some(h) = &self.header {
                let starts = dash_starts(t);
                let names = slice_columns(h, &starts);
                self.columns = starts
                    .into_iter()
                    .zip(names.iter().map(|n| list_heading(n)))
                    .collect();
                sink.skipped();
            } else {
                sink.unknown(line_no, line);
            }
            return;
        }
        if !self.columns.is_empty() && words.first().is_some_and(|w| w.parse::<u32>().is_ok()) {
            let starts: Vec<usize> = self.columns.iter().map(|c| c.0).collect();
            let cells = slice_columns(t, &starts);
            let mut ev = Event::new(sink.src(line_no), Layer::Pktmon, Kind::PktmonComponent);
            ev.provider = Some(LIST_PROVIDER.into());
            ev.message = s.to_string();
            for (i, cell) in cells.into_iter().enumerate() {
                if let Some((_, name)) = self.columns.get(i) {
                    ev.fields.push(name.clone(), &cell);
                }
            }
            if let Some(g) = &self.group {
                ev.fields.push("Group", g);
            }
            sink.event(ev);
            sink.parsed();
            return;
        }
        // A group heading: `Network Adapters:`, `Hyper-V Switch …:`.
        if s.ends_with(':') && !t.starts_with("   ") {
            self.group = Some(s.trim_end_matches(':').trim().to_string());
            self.columns.clear();
            self.header = None;
            sink.skipped();
            return;
        }
        sink.unknown(line_no, line);
    }
}

/// Decoder for [`Format::PktmonCounters`].
#[derive(Default)]
pub struct PktmonCountersDecoder {
    group: Option<String>,
    in_table: bool,
    last_id: Option<String>,
    last_name: Option<String>,
    /// Index in the sink of the last drop-row event, for a following
    /// `Drop reason:` line.
    last_drop_event: Option<usize>,
}

impl LineDecoder for PktmonCountersDecoder {
    fn line(&mut self, line_no: u64, line: &str, sink: &mut Sink) {
        let t = line.trim_start_matches('\u{feff}');
        let s = t.trim();
        if s.is_empty() || is_prompt_or_noise(s) {
            sink.skipped();
            return;
        }
        let words: Vec<&str> = s.split_whitespace().collect();
        if words.first() == Some(&"Id") && words.contains(&"Counter") {
            self.in_table = true;
            sink.skipped();
            return;
        }
        if s.starts_with('-') && s.chars().all(|c| c == '-' || c == ' ' || c == '|') {
            sink.skipped();
            return;
        }
        if let Some(reason) = drop_reason_line(s) {
            match self.last_drop_event.and_then(|i| sink.events.get_mut(i)) {
                Some(ev) => {
                    ev.fields.push("LastDropReason", reason);
                    let info = crate::pktmon::reasons::drop_info(Some(reason), None, None);
                    ev.drop = Some(Box::new(info));
                    sink.parsed();
                }
                None => sink.unknown(line_no, line),
            }
            return;
        }
        if self.in_table && s.contains('|') {
            match self.row(line_no, s, sink) {
                Some(ev) => {
                    let is_drop = ev
                        .field("Counter")
                        .is_some_and(|c| c.to_ascii_lowercase().starts_with("drop"));
                    sink.event(ev);
                    self.last_drop_event = is_drop.then(|| sink.events.len() - 1);
                    sink.parsed();
                }
                None => sink.error(
                    line_no,
                    "counters row without Counter Direction Packets Bytes",
                ),
            }
            return;
        }
        // Adapter or group heading.
        if !s.contains('|') {
            self.group = Some(s.trim_end_matches(':').to_string());
            self.last_id = None;
            self.last_name = None;
            sink.skipped();
            return;
        }
        sink.unknown(line_no, line);
    }
}

/// `Drop reason: INET: checksum is invalid` / `Last drop reason: …`.
fn drop_reason_line(s: &str) -> Option<&str> {
    for p in [
        "Last drop reason:",
        "Drop reason:",
        "Last Drop Reason:",
        "LastDropReason:",
        "DropReason:",
    ] {
        if let Some(r) = s.strip_prefix(p) {
            return Some(r.trim());
        }
    }
    None
}

impl PktmonCountersDecoder {
    /// `10 Intel(R) Ether... Upper  Rx  118  147,232 | Tx  34  4,668`; the
    /// Id/Name part may be blank on later rows of the same component.
    fn row(&mut self, line_no: u64, s: &str, sink: &Sink) -> Option<Event> {
        let (left, right) = s.split_once('|')?;
        let lw: Vec<&str> = left.split_whitespace().collect();
        let rw: Vec<&str> = right.split_whitespace().collect();
        if lw.len() < 4 || rw.len() < 3 {
            return None;
        }
        let n = lw.len();
        let (counter, dir_l, pk_l, by_l) = (lw[n - 4], lw[n - 3], lw[n - 2], lw[n - 1]);
        let (dir_r, pk_r, by_r) = (rw[0], rw[1], rw[2]);
        parse_grouped_u64(pk_l)?;
        if lw.len() > 4 {
            if lw[0].parse::<u32>().is_ok() {
                self.last_id = Some(lw[0].to_string());
                self.last_name = Some(lw[1..n - 4].join(" "));
            } else {
                self.last_name = Some(lw[..n - 4].join(" "));
            }
        }
        let mut ev = Event::new(sink.src(line_no), Layer::Pktmon, Kind::PktmonCounters);
        ev.provider = Some(COUNTERS_PROVIDER.into());
        ev.message = s.to_string();
        if let Some(id) = &self.last_id {
            ev.fields.push("Id", id);
            ev.fields.push("Component", id);
        }
        if let Some(name) = &self.last_name {
            ev.fields.push("Name", name);
        }
        if let Some(g) = &self.group {
            ev.fields.push("Group", g);
        }
        ev.fields.push_display("Counter", counter);
        let drop = counter.to_ascii_lowercase().starts_with("drop");
        let num = |v: &str| parse_grouped_u64(v).map_or_else(|| v.to_string(), |n| n.to_string());
        for (dir, pk, by) in [(dir_l, pk_l, by_l), (dir_r, pk_r, by_r)] {
            if drop {
                ev.fields.push(format!("{dir} Drops"), &num(pk));
                ev.fields.push(format!("{dir} Drop Bytes"), &num(by));
            } else {
                ev.fields.push(format!("{dir} Packets"), &num(pk));
                ev.fields.push(format!("{dir} Bytes"), &num(by));
            }
        }
        // `--drop-reason` may print the reason after the numbers.
        if rw.len() > 3 {
            let reason = rw[3..].join(" ");
            let reason = reason.trim_start_matches("Reason:").trim().to_string();
            ev.drop = Some(Box::new(crate::pktmon::reasons::drop_info(
                Some(&reason),
                None,
                None,
            )));
            ev.fields.push("LastDropReason", &reason);
        }
        Some(ev)
    }
}

/// Decoder for [`Format::PktmonJson`] (`pktmon list --json`, `pktmon counters --json`).
#[derive(Default)]
pub struct PktmonJsonDecoder {
    first_line: Option<u64>,
    /// Lines before the JSON (prompt, blank) already accounted.
    text: String,
    lines: u64,
    blank: u64,
}

impl LineDecoder for PktmonJsonDecoder {
    fn line(&mut self, line_no: u64, line: &str, sink: &mut Sink) {
        let t = line.trim_start_matches('\u{feff}');
        if self.first_line.is_none() {
            let s = t.trim_start();
            if !(s.starts_with('[') || s.starts_with('{')) {
                if s.is_empty() || is_prompt_or_noise(s.trim()) {
                    sink.skipped();
                } else {
                    sink.unknown(line_no, line);
                }
                return;
            }
            self.first_line = Some(line_no);
        }
        if t.trim().is_empty() {
            self.blank += 1;
        }
        self.text.push_str(t);
        self.text.push('\n');
        self.lines += 1;
    }

    fn finish(&mut self, sink: &mut Sink) {
        let Some(first) = self.first_line else { return };
        let root: Value = match serde_json::from_str(&self.text) {
            Ok(v) => v,
            Err(e) => {
                sink.lines(LineClass::Error, self.lines);
                let line = first + e.line().saturating_sub(1) as u64;
                sink.diag(
                    line,
                    LineClass::Error,
                    format!("pktmon JSON does not parse: {e}"),
                );
                return;
            }
        };
        sink.lines(LineClass::Parsed, self.lines - self.blank);
        sink.lines(LineClass::Skipped, self.blank);
        let groups: Vec<&Value> = match &root {
            Value::Array(a) => a.iter().collect(),
            v => vec![v],
        };
        for g in groups {
            let group = g.get("Group").and_then(json_str);
            let comps = g
                .get("Components")
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_else(Vec::new);
            for c in comps {
                json_component(c, group.as_deref(), first, sink);
            }
        }
    }
}

fn json_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn json_component(c: &Value, group: Option<&str>, line: u64, sink: &mut Sink) {
    let mut ev = Event::new(sink.src(line), Layer::Pktmon, Kind::PktmonComponent);
    ev.provider = Some(LIST_PROVIDER.into());
    let mut base = crate::event::Fields::new();
    for key in ["Id", "SecondaryId", "Name", "Type", "Description"] {
        if let Some(v) = c.get(key).and_then(json_str) {
            base.push(key, &v);
        }
    }
    if let Some(g) = group {
        base.push("Group", g);
    }
    ev.fields = base.clone();
    if let Some(props) = c.get("Properties").and_then(Value::as_array) {
        for p in props {
            let (Some(k), Some(v)) = (
                p.get("Name").and_then(json_str),
                p.get("Value").and_then(json_str),
            ) else {
                continue;
            };
            let canon = match k.as_str() {
                "MAC Address" | "MacAddress" | "PhysAddress" | "Physical Address" => Some("MAC"),
                "ifIndex" | "IfIndex" => Some("ifIndex"),
                _ => None,
            };
            ev.fields.push(k.clone(), &v);
            // The canonical name is added once, unless the key already is it.
            if let Some(c) = canon
                && !ev.fields.iter().any(|(n, _)| n == c)
            {
                ev.fields.push(c.to_string(), &v);
            }
        }
    }
    ev.message = ev
        .fields
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    sink.event(ev);
    if let Some(counters) = c.get("Counters").and_then(Value::as_array) {
        for k in counters {
            let mut ce = Event::new(sink.src(line), Layer::Pktmon, Kind::PktmonCounters);
            ce.provider = Some(COUNTERS_PROVIDER.into());
            ce.fields = base.clone();
            if let Some(id) = c.get("Id").and_then(json_str) {
                ce.fields.push("Component", &id);
            }
            let name = k.get("Name").and_then(json_str).unwrap_or_default();
            let drop = name.to_ascii_lowercase().contains("drop");
            ce.fields.push("Counter", &name);
            for (dir_key, dir) in [("Inbound", "Rx"), ("Outbound", "Tx")] {
                let Some(d) = k.get(dir_key) else { continue };
                let (pk, by) = if drop {
                    ("Drops", "Drop Bytes")
                } else {
                    ("Packets", "Bytes")
                };
                if let Some(v) = d.get("Packets").and_then(json_str) {
                    ce.fields.push(format!("{dir} {pk}"), &v);
                }
                if let Some(v) = d.get("Bytes").and_then(json_str) {
                    ce.fields.push(format!("{dir} {by}"), &v);
                }
                for rk in ["DropReason", "LastDropReason"] {
                    if let Some(r) = d.get(rk).and_then(json_str) {
                        ce.drop = Some(Box::new(crate::pktmon::reasons::drop_info(
                            Some(&r),
                            d.get("DropLocation").and_then(json_str).as_deref(),
                            None,
                        )));
                        ce.fields.push("LastDropReason", &r);
                    }
                }
            }
            for rk in ["DropReason", "LastDropReason"] {
                if let Some(r) = k.get(rk).and_then(json_str) {
                    ce.drop = Some(Box::new(crate::pktmon::reasons::drop_info(
                        Some(&r),
                        k.get("DropLocation").and_then(json_str).as_deref(),
                        None,
                    )));
                    ce.fields.push("LastDropReason", &r);
                }
            }
            ce.message = ce
                .fields
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ");
            sink.event(ce);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_text;

    #[test]
    fn columns_from_underline() {
        let starts = dash_starts("   -- -----------       ----");
        assert_eq!(starts, [3, 6, 24]);
        let cells = slice_columns("  104 00-15-5D-D1-5A-30 433db3ea-0acd", &starts);
        assert_eq!(cells, ["104", "00-15-5D-D1-5A-30", "433db3ea-0acd"]);
    }

    #[test]
    fn list_table() {
        let text = "> pktmon list\n\nNetwork Adapters:\n   Id MAC Address       Name\n   -- -----------       ----\n    9 40-8D-5C-B5-46-51 Intel(R) Ethernet Connection (2) I219-V #2\n";
        let sink = decode_text(Format::PktmonList, 0, 1, text).unwrap();
        assert_eq!(sink.counts.unknown, 0);
        assert_eq!(sink.counts.total(), 6);
        let ev = &sink.events[0];
        assert_eq!(ev.field("Id"), Some("9"));
        assert_eq!(ev.field("MAC"), Some("40-8D-5C-B5-46-51"));
        assert_eq!(
            ev.field("Name"),
            Some("Intel(R) Ethernet Connection (2) I219-V #2")
        );
        assert_eq!(ev.field("Group"), Some("Network Adapters"));
    }

    #[test]
    fn bad_json_is_error_per_line() {
        let sink = decode_text(Format::PktmonJson, 0, 1, "[\n{\"Group\": \n").unwrap();
        assert_eq!(sink.counts.error, 2);
        assert_eq!(sink.counts.total(), 2);
    }

    #[test]
    fn sniffing() {
        assert_eq!(
            sniff("[{\"Group\":\"x\",\"Components\":[]}]"),
            Some(Format::PktmonJson)
        );
        assert_eq!(
            sniff("Network Adapters:\n   Id MAC Address       Name\n   -- ---  ----\n"),
            Some(Format::PktmonList)
        );
        assert_eq!(
            sniff(
                "   Id Name   Counter  Direction Packets Bytes | Direction Packets Bytes\n   -- ----\n"
            ),
            Some(Format::PktmonCounters)
        );
        assert_eq!(sniff("hello"), None);
    }
}
