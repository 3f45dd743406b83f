//! `pktmon etl2txt` / `pktmon format` text and `pktmon start --log-mode
//! real-time` console output.
//!
//! A packet record is one header line (`[CPU]PID.TID::date time
//! [Microsoft-Windows-PktMon] PktGroupId …`, or with `--timestamp-only` /
//! real-time just `23:02:26.539704700 PktGroupId …`) followed by indented
//! continuation lines: the tcpdump-style decode (several lines with
//! `--verbose`), and `\t0x0000:  7085 …` hex lines with `--hex`. The
//! continuation lines belong to the pending packet and are parsed with it.
//!
//! Labels may be translated (`丢弃： … 方向 Rx, 类型 IP, 组件 101, …`); the
//! parser keys on `PktGroupId` and `DropReason`, which stay English, and maps
//! other values by their position in the event's message template. Values are
//! padded (`Direction Rx ,`) and the DropReason text contains `:` and spaces.
//!
//! The log ends with component records (`Component N, Type …, Name …, Desc`)
//! followed by their `Property:` lines (merged into the component event),
//! `Drop Counters:` / `Flow Counters:` and packet filters.

use std::borrow::Cow;

use crate::decode::common::{find_str, split_str, trim};
use crate::decode::pktmon_list::{dash_starts, slice_columns};
use crate::decode::prefix::{PrefixError, parse_prefix, time_of_day_timestamp};
use crate::decode::{Format, LineDecoder, Sink};
use crate::event::{Direction, Event, Kind, Layer, PacketInfo, Timestamp};
use crate::pktmon::{reasons, summary};

pub const PROVIDER: &str = "Microsoft-Windows-PktMon";

/// Content sniffing for pktmon text: the provider tag, or a time-only
/// real-time/`--timestamp-only` packet line.
pub fn sniff(head: &str) -> Option<Format> {
    if head.contains("[Microsoft-Windows-PktMon]") {
        return Some(Format::PktmonText);
    }
    for line in crate::decode::common::lines(head).take(200) {
        if split_time_only(line).is_some_and(|(_, m)| m.contains("PktGroupId ")) {
            return Some(Format::PktmonText);
        }
    }
    None
}

/// Numeric drop reasons are named from the drop-reason table of the
/// capture's build, which only the log header (`ProviderVersion`) gives. A
/// large file is cut into chunks decoded without that header, so the driver
/// calls this on a file's joined events: each drop is named again with the
/// build of the latest header before it, exactly as a whole-file decode
/// does. `build` carries the latest header's build from chunk to chunk.
pub fn name_drops_from_header(events: &mut [Event], build: &mut Option<u32>) {
    for ev in events {
        if is_trace_header(ev) {
            if let Some(b) = ev
                .field("ProviderVersion")
                .and_then(|v| v.trim().parse().ok())
            {
                *build = Some(b);
            }
            continue;
        }
        if ev.drop.is_some() {
            let named =
                reasons::drop_info(ev.field("DropReason"), ev.field("DropLocation"), *build);
            ev.drop = Some(Box::new(named));
        }
    }
}

/// The trace header record, which gives the build drop reasons are named for.
fn is_trace_header(ev: &Event) -> bool {
    ev.kind == Kind::TraceInfo && ev.provider.as_deref() == Some("MSNT_SystemTrace")
}

/// Whether [`name_drops_from_header`] reads or changes `ev`.
pub fn header_pass_reads(ev: &Event) -> bool {
    is_trace_header(ev) || ev.drop.is_some()
}

/// Whether a chunk may start at `line`: any prefixed or time-only line except
/// `Property:` lines, which continue the preceding component record.
pub fn is_record_start(line: &str) -> bool {
    let t = line.trim_start_matches('\u{feff}');
    // A time-only record starts with a time of day (`23:02:26.5397047 …`);
    // a line that merely starts with a digit may be a row of a console table
    // (`10 BMC … 623` in `pktmon filter list`) whose heading is before it.
    let time_only = t.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && t.split(' ').next().is_some_and(|w| w.contains(':'));
    // A property line continues the component record before it, in either
    // form (`[..] Property: …`, `21:14:03.0 Property: …`), so it never
    // starts a chunk; a garbled record that merely contains the word only
    // moves the chunk boundary to the next record.
    (t.starts_with('[') || time_only) && find_str(t, "Property:").is_none()
}

/// `23:02:26.539704700 message` → (timestamp, message).
fn split_time_only(line: &str) -> Option<(Timestamp, &str)> {
    let t = line.trim_start_matches('\u{feff}');
    if !t.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let (time, rest) = t.split_once(' ')?;
    if !time.contains(':') {
        return None;
    }
    Some((time_of_day_timestamp(time)?, rest))
}

/// Header context of one record.
#[derive(Clone, Copy, Default)]
struct Ctx {
    ts: Option<Timestamp>,
    cpu: Option<u32>,
    pid: Option<u32>,
    tid: Option<u32>,
}

enum PendingKind {
    Packet,
    Component(u32),
}

struct Pending {
    ev: Event,
    kind: PendingKind,
    /// Decoded (non-hex) continuation lines.
    decoded: Vec<String>,
    hex_bytes: usize,
    hex_lines: u32,
}

/// A console `pktmon filter list` table being read.
struct FilterTable {
    header: String,
    /// (start column, heading) once the underline was seen.
    columns: Vec<(usize, String)>,
}

/// Decoder for [`Format::PktmonText`].
#[derive(Default)]
pub struct PktmonTextDecoder {
    pending: Option<Pending>,
    /// OS build from the log header (`ProviderVersion`), for numeric drop reasons.
    build: Option<u32>,
    filters: Option<FilterTable>,
}

impl LineDecoder for PktmonTextDecoder {
    fn line(&mut self, line_no: u64, line: &str, sink: &mut Sink) {
        let t = line.trim_start_matches('\u{feff}');
        if is_record_start(t) {
            // A console table (`pktmon filter list`) ends where the trace
            // starts; a chunk starting here must decode as the whole file.
            self.filters = None;
        }
        if trim(t).is_empty() {
            self.filters = None;
            sink.skipped();
            return;
        }
        if t.starts_with('[') {
            match parse_prefix(t) {
                Ok(p) => {
                    let ctx = Ctx {
                        ts: Some(p.ts),
                        cpu: Some(p.cpu),
                        pid: Some(p.pid),
                        tid: Some(p.tid),
                    };
                    self.message(line_no, p.provider, p.message, ctx, sink);
                    return;
                }
                Err(PrefixError::Malformed(why)) => {
                    self.flush(sink);
                    sink.error(
                        line_no,
                        format!("malformed trace prefix ({why}); line cut short?"),
                    );
                    return;
                }
                Err(PrefixError::NotPrefixed) => {}
            }
        }
        if let Some((ts, msg)) = split_time_only(t) {
            let ctx = Ctx {
                ts: Some(ts),
                ..Ctx::default()
            };
            self.message(line_no, PROVIDER, msg, ctx, sink);
            return;
        }
        let indented = t.starts_with([' ', '\t']);
        if indented
            && let Some(p) = self
                .pending
                .as_mut()
                .filter(|p| matches!(p.kind, PendingKind::Packet))
        {
            continuation(p, trim(t));
            sink.parsed();
            return;
        }
        if !indented {
            // A line that is neither a record nor a continuation (a garbled
            // record, console text) ends the pending record: the indented
            // lines after it must not be credited to the packet before it.
            self.flush(sink);
        }
        self.console(line_no, t, sink);
    }

    fn finish(&mut self, sink: &mut Sink) {
        self.flush(sink);
    }
}

/// Adds one indented line to a pending packet: hex dump or decode text.
fn continuation(p: &mut Pending, text: &str) {
    if let Some(rest) = text.strip_prefix("0x")
        && let Some((off, bytes)) = rest.split_once(':')
        && off.bytes().all(|b| b.is_ascii_hexdigit())
    {
        let digits = bytes.bytes().filter(u8::is_ascii_hexdigit).count();
        p.hex_bytes += digits / 2;
        p.hex_lines += 1;
        return;
    }
    p.decoded.push(text.to_string());
}

impl PktmonTextDecoder {
    fn flush(&mut self, sink: &mut Sink) {
        let Some(mut p) = self.pending.take() else {
            return;
        };
        if matches!(p.kind, PendingKind::Packet) {
            apply_decode(&mut p);
        }
        sink.event(p.ev);
    }

    fn base_event(
        &self,
        line_no: u64,
        sink: &Sink,
        kind: Kind,
        provider: &str,
        msg: &str,
        ctx: Ctx,
    ) -> Event {
        let mut ev = Event::new(sink.src(line_no), Layer::Pktmon, kind);
        ev.provider = Some(if provider == PROVIDER {
            PROVIDER.into()
        } else {
            provider.to_string().into()
        });
        ev.ts = ctx.ts;
        ev.cpu = ctx.cpu;
        ev.header_pid = ctx.pid;
        ev.tid = ctx.tid;
        ev.message = msg.trim_end().to_string();
        ev
    }

    fn message(&mut self, line_no: u64, provider: &str, msg: &str, ctx: Ctx, sink: &mut Sink) {
        let m = trim(msg);
        // A property line continues the pending component record; anything
        // else (a property line that cannot be read, or one after a packet)
        // ends the pending record, so no later line is credited to it.
        let property = if provider == PROVIDER {
            m.strip_prefix("Property:").and_then(parse_property)
        } else {
            None
        };
        let continues = match (&property, self.pending.as_ref()) {
            (Some((id, _, _)), Some(p)) => matches!(p.kind, PendingKind::Component(c) if c == *id),
            _ => false,
        };
        if !continues {
            self.flush(sink);
        }
        if provider == "MSNT_SystemTrace" {
            let mut ev = self.base_event(line_no, sink, Kind::TraceInfo, provider, msg, ctx);
            ev.layer = Layer::Trace;
            ev.fields = colon_fields(m);
            if let Some(b) = ev
                .field("ProviderVersion")
                .and_then(|v| v.trim().parse().ok())
            {
                self.build = Some(b);
            }
            sink.event(ev);
            sink.parsed();
            return;
        }
        if provider != PROVIDER {
            // Another provider (a pktmon log of a session that also traced
            // TCPIP/AFD) is decoded through its schema like netsh text;
            // WPP (`--tmfpath`) and unknown providers stay raw events.
            let mut ev = self.base_event(line_no, sink, Kind::Raw, provider, msg, ctx);
            ev.layer = Layer::Other;
            if let Err(note) = crate::schema::apply_rendered(&mut ev, provider, msg) {
                sink.diag(line_no, crate::decode::LineClass::Parsed, note);
            }
            sink.event(ev);
            sink.parsed();
            return;
        }
        let group_at = find_str(m, "PktGroupId");
        if group_at.is_some() || starts_groupless(m) {
            // A garbled "Property:" line can carry a packet header; the
            // record it replaces must still be delivered.
            self.flush(sink);
            let mut ev = self.base_event(line_no, sink, Kind::Packet, provider, msg, ctx);
            match parse_packet_header(m, group_at, &mut ev, self.build) {
                Ok(()) => sink.parsed(),
                Err(why) => sink.error(line_no, why),
            }
            self.pending = Some(Pending {
                ev,
                kind: PendingKind::Packet,
                decoded: Vec::new(),
                hex_bytes: 0,
                hex_lines: 0,
            });
            return;
        }
        if m.starts_with("Property:") {
            let Some((id, key, value)) = property else {
                sink.unknown(line_no, msg);
                return;
            };
            let extra = property_fields(&key, &value);
            match self.pending.as_mut() {
                Some(p) if matches!(p.kind, PendingKind::Component(c) if c == id) => {
                    p.ev.fields.push(key, &value);
                    p.ev.fields.extend_from(&extra);
                }
                _ => {
                    self.flush(sink);
                    let mut ev =
                        self.base_event(line_no, sink, Kind::PktmonComponent, provider, msg, ctx);
                    ev.event_id = Some(30);
                    ev.fields.push_display("Component", id);
                    ev.fields.push(key, &value);
                    ev.fields.extend_from(&extra);
                    sink.event(ev);
                }
            }
            sink.parsed();
            return;
        }
        if let Some(fields) = parse_component(m) {
            self.flush(sink);
            let mut ev = self.base_event(line_no, sink, Kind::PktmonComponent, provider, msg, ctx);
            ev.event_id = Some(if m.starts_with("Component added") {
                270
            } else if m.starts_with("Component removed") {
                280
            } else {
                20
            });
            let id = fields
                .find_exact("Component")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            ev.fields = fields;
            self.pending = Some(Pending {
                ev,
                kind: PendingKind::Component(id),
                decoded: Vec::new(),
                hex_bytes: 0,
                hex_lines: 0,
            });
            sink.parsed();
            return;
        }
        for (label, counter, id) in [
            ("Drop Counters:", "Drop", 80u32),
            ("Flow Counters:", "Flow", 90),
        ] {
            if let Some(rest) = m.strip_prefix(label) {
                let mut ev =
                    self.base_event(line_no, sink, Kind::PktmonCounters, provider, msg, ctx);
                ev.event_id = Some(id);
                ev.fields = counter_fields(rest, counter);
                sink.event(ev);
                sink.parsed();
                return;
            }
        }
        if let Some(rest) = m.strip_prefix("Packet Filter ") {
            let mut ev = self.base_event(line_no, sink, Kind::PktmonFilter, provider, msg, ctx);
            ev.event_id = Some(100);
            ev.fields = filter_fields(rest);
            sink.event(ev);
            sink.parsed();
            return;
        }
        if m.starts_with("PktMon driver failed to load") {
            let mut ev = self.base_event(line_no, sink, Kind::TraceInfo, provider, msg, ctx);
            ev.event_id = Some(10);
            sink.event(ev);
            sink.parsed();
            return;
        }
        sink.unknown(line_no, msg);
    }

    /// Lines of an interactive console session around real-time output.
    fn console(&mut self, line_no: u64, t: &str, sink: &mut Sink) {
        let s = t.trim();
        if let Some(table) = self.filters.as_mut() {
            if table.columns.is_empty()
                && s.starts_with('-')
                && s.chars().all(|c| c == '-' || c == ' ')
            {
                // Column starts come from the dashes under the headings.
                let starts = dash_starts(t);
                let names = slice_columns(&table.header, &starts);
                table.columns = starts.into_iter().zip(names).collect();
                sink.skipped();
                return;
            }
            if !table.columns.is_empty() {
                let starts: Vec<usize> = table.columns.iter().map(|c| c.0).collect();
                let cells = slice_columns(t, &starts);
                let mut ev = Event::new(sink.src(line_no), Layer::Pktmon, Kind::PktmonFilter);
                ev.provider = Some("pktmon filter list".into());
                ev.message = s.to_string();
                for (i, cell) in cells.into_iter().enumerate() {
                    let name = match table.columns.get(i) {
                        Some((_, n)) if n == "#" => "Filter".to_string(),
                        Some((_, n)) if !n.is_empty() => n.clone(),
                        _ => format!("Column{i}"),
                    };
                    ev.fields.push(name, &cell);
                }
                sink.event(ev);
                sink.parsed();
                return;
            }
        }
        // `pktmon filter list` heading: ` # Name  EtherType  Protocol  IP Address  Port`.
        if s.starts_with("# Name") {
            self.filters = Some(FilterTable {
                header: t.to_string(),
                columns: Vec::new(),
            });
            sink.skipped();
            return;
        }
        if is_console_noise(s) {
            sink.skipped();
            return;
        }
        sink.unknown(line_no, t);
    }
}

/// Console lines of a pktmon session that carry no event: prompts, status
/// messages, `pktmon pcapng`/`etl2txt` summaries, Markdown fences.
fn is_console_noise(s: &str) -> bool {
    const MESSAGES: &[&str] = &[
        "Active measurement started",
        "Processing...",
        "Filter added",
        "Filters removed",
        "All filters removed",
        "Packets total:",
        "Packet drop count:",
        "Packets formatted:",
        "Formatted file:",
        "Log file:",
        "Logger stopped",
        "Merging metadata",
        "Flushing logs",
        "All counters reset",
        "Logging",
        "Packet Monitor",
        "```",
    ];
    if MESSAGES.iter().any(|m| s.starts_with(m)) {
        return true;
    }
    // `C:\Users\x>pktmon …` / `PS C:\x> pktmon …`.
    let p = s.strip_prefix("PS ").unwrap_or(s);
    let b = p.as_bytes();
    b.len() > 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'\\' && p.contains('>')
}

/// Group-less packet events 200/210: `Direction Rx , Type …` / `Drop: Direction …`.
fn starts_groupless(m: &str) -> bool {
    let m = m.strip_prefix("Drop:").map_or(m, str::trim_start);
    m.starts_with("Direction ") && find_str(m, "Component ").is_some()
}

/// English field names of the packet templates, in message order.
const T160: &[&str] = &[
    "PktGroupId",
    "PktNumber",
    "Appearance",
    "Direction",
    "Type",
    "Component",
    "Edge",
    "Filter",
    "OriginalSize",
    "LoggedSize",
];
const T170: &[&str] = &[
    "PktGroupId",
    "PktNumber",
    "Appearance",
    "Direction",
    "Type",
    "Component",
    "Filter",
    "DropReason",
    "DropLocation",
    "OriginalSize",
    "LoggedSize",
];
const KNOWN_LABELS: &[&str] = &[
    "PktGroupId",
    "PktNumber",
    "PktCount",
    "Appearance",
    "Direction",
    "Type",
    "Component",
    "Edge",
    "Filter",
    "DropReason",
    "DropLocation",
    "OriginalSize",
    "LoggedSize",
];

/// Splits `Label value` where the label is one of [`KNOWN_LABELS`]: the
/// labels are single words, so the item's first word is the label.
fn known_label(item: &str) -> Option<(&'static str, &str)> {
    let end = memchr::memchr(b' ', item.as_bytes()).unwrap_or(item.len());
    let (word, rest) = item.split_at(end);
    let label = KNOWN_LABELS.iter().copied().find(|l| *l == word)?;
    Some((label, trim(rest)))
}

/// The header fields [`parse_packet_header`] reads back, by name.
const LOOKED_UP: [&str; 16] = [
    "PktGroupId",
    "PktNumber",
    "PktCount",
    "Appearance",
    "Component",
    "Edge",
    "Filter",
    "Type",
    "OriginalSize",
    "LoggedSize",
    "MAC Dest",
    "MAC Src",
    "TCPFlags",
    "Direction",
    "DropReason",
    "DropLocation",
];

/// Where the first field of each [`LOOKED_UP`] name is in a field list,
/// recorded as fields are pushed (no search by name afterwards).
#[derive(Default)]
struct FirstOf([Option<usize>; LOOKED_UP.len()]);

impl FirstOf {
    fn slot(name: &str) -> Option<usize> {
        // A match compiles to a dispatch on length before any compare.
        Some(match name {
            "PktGroupId" => 0,
            "PktNumber" => 1,
            "PktCount" => 2,
            "Appearance" => 3,
            "Component" => 4,
            "Edge" => 5,
            "Filter" => 6,
            "Type" => 7,
            "OriginalSize" => 8,
            "LoggedSize" => 9,
            "MAC Dest" => 10,
            "MAC Src" => 11,
            "TCPFlags" => 12,
            "Direction" => 13,
            "DropReason" => 14,
            "DropLocation" => 15,
            _ => return None,
        })
    }
    /// Pushes `(name, value)` onto `fields`, noting its position.
    fn push(&mut self, fields: &mut crate::event::Fields, name: Cow<'static, str>, value: &str) {
        if let Some(i) = Self::slot(&name)
            && let Some(first) = self.0.get_mut(i)
        {
            first.get_or_insert(fields.len());
        }
        fields.push(name, value);
    }
    fn get<'f>(&self, fields: &'f crate::event::Fields, name: &str) -> Option<&'f str> {
        let at = (*self.0.get(Self::slot(name)?)?)?;
        fields.value(at)
    }
}

/// Splits the body at `, ` while keeping a DropReason text that itself
/// contains `, ` in one item (it runs until the DropLocation item).
fn split_items(body: &str) -> Vec<Cow<'_, str>> {
    let mut out: Vec<Cow<'_, str>> = Vec::with_capacity(12);
    let mut in_reason = false;
    for part in split_str(body, ", ") {
        // A line cut short may end in a bare comma.
        let p = trim(part);
        let p = if p.ends_with(',') {
            p.trim_end_matches(',').trim_end()
        } else {
            p
        };
        if in_reason {
            let last_tok = p.split_whitespace().last().unwrap_or("");
            if p.starts_with("DropLocation")
                || last_tok.starts_with("0x")
                || last_tok.starts_with("0X")
            {
                in_reason = false;
            } else if let Some(prev) = out.last_mut() {
                let prev = prev.to_mut();
                prev.push_str(", ");
                prev.push_str(p);
                continue;
            }
        }
        if p.starts_with("DropReason") {
            in_reason = true;
        }
        out.push(Cow::Borrowed(p));
    }
    out
}

/// Parses a packet/drop header message into `ev` (fields, PacketInfo,
/// direction, drop). Returns an error text when required fields are missing
/// (a line cut short); the event keeps what was there.
/// `group_at` is where `PktGroupId` is in `m`, if anywhere.
fn parse_packet_header(
    m: &str,
    group_at: Option<usize>,
    ev: &mut Event,
    build: Option<u32>,
) -> Result<(), String> {
    let (head, body) = match group_at {
        Some(i) => (trim(&m[..i]), &m[i..]),
        None => {
            // Group-less 200/210.
            match find_str(m, "Direction ") {
                Some(i) => (trim(&m[..i]), &m[i..]),
                None => ("", m),
            }
        }
    };
    let groupless = group_at.is_none();
    // The drop label: `Drop:`, `Duplicate Drop:`, or its translation (a
    // head without fields, e.g. `丢弃：`). A head with fields is an older
    // NblParsed or NblInfo event, itself possibly starting with `Drop:`.
    let (is_drop, duplicate, head_fields) = if let Some(r) = head.strip_prefix("Duplicate Drop:") {
        (true, true, r.trim())
    } else if let Some(r) = head.strip_prefix("Drop:") {
        (true, false, r.trim())
    } else if head.is_empty() {
        (false, false, "")
    } else if find_str(head, ", ").is_none() {
        (true, head.contains("Duplicate"), "")
    } else {
        (false, false, head)
    };
    // Fields before PktGroupId: older NblParsed (120–150) or NblInfo (180/190).
    let items = split_items(body);
    // Values are some third of the body (the rest is labels); a little
    // room is left for the decoded-line fields added later.
    let mut fields = crate::event::Fields::with_capacity(
        items.len() + 4,
        (body.len() + head_fields.len()) / 2 + 16,
    );
    let mut first = FirstOf::default();
    let mut older = false;
    let mut nblinfo = false;
    for item in split_str(head_fields.trim_end_matches(','), ", ").filter(|s| !s.trim().is_empty())
    {
        let item = item.trim();
        let (k, v) = split_label_value(item);
        older |= k == "MAC Dest";
        nblinfo |= k == "TcpIpChecksum";
        first.push(&mut fields, k.to_string().into(), v);
    }
    let template = if is_drop { T170 } else { T160 };
    let template: &[&str] = if groupless { &template[3..] } else { template };
    for (i, item) in items.iter().enumerate() {
        if item.is_empty() {
            continue;
        }
        if let Some((k, v)) = known_label(item) {
            first.push(&mut fields, k.into(), v);
        } else if item.starts_with('%') {
            // 250/260 `%11 %12` tail: not rendered by this build.
            first.push(&mut fields, "Context".into(), item);
        } else {
            // Translated label: the value is the last word; the name comes
            // from the template position.
            let value = item.split_whitespace().last().unwrap_or("");
            let name: &'static str = template.get(i).copied().unwrap_or("Field");
            first.push(&mut fields, name.into(), value);
        }
    }
    ev.event_id = Some(match (is_drop, duplicate, groupless, older, nblinfo) {
        (true, true, ..) => 240,
        (true, _, true, ..) => 210,
        (false, _, true, ..) => 200,
        (true, _, _, true, _) => 140,
        (false, _, _, true, _) => 120,
        (true, _, _, _, true) => 190,
        (false, _, _, _, true) => 180,
        (true, ..) => 170,
        (false, ..) => 160,
    });
    ev.kind = if is_drop {
        Kind::PacketDrop
    } else {
        Kind::Packet
    };
    let get = |name: &str| first.get(&fields, name);
    let num = |name: &str| get(name).and_then(|v| trim(v).parse::<u32>().ok());
    let mut p = PacketInfo {
        pkt_group_id: get("PktGroupId").and_then(|v| trim(v).parse().ok()),
        pkt_number: num("PktNumber").or_else(|| num("PktCount")),
        appearance: num("Appearance"),
        component: num("Component"),
        edge: if is_drop { None } else { num("Edge") },
        filter: num("Filter"),
        media: get("Type")
            .map(|v| Cow::<str>::Owned(trim(v).to_string()))
            .filter(|v| !v.is_empty()),
        original_size: num("OriginalSize"),
        logged_size: num("LoggedSize"),
        ..PacketInfo::default()
    };
    if older {
        p.dst_mac = get("MAC Dest").map(str::to_string);
        p.src_mac = get("MAC Src").map(str::to_string);
        p.tcp_flags = get("TCPFlags").map(str::to_string);
    }
    ev.direction = get("Direction").and_then(direction_of);
    if is_drop {
        ev.drop = Some(Box::new(reasons::drop_info(
            get("DropReason"),
            get("DropLocation"),
            build,
        )));
    }
    let missing: Vec<&str> = ["Direction", "Component", "LoggedSize"]
        .into_iter()
        .filter(|k| get(k).is_none() && !(older || nblinfo))
        .collect();
    ev.packet = Some(Box::new(p));
    ev.fields = fields;
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "packet record cut short: no {}",
            missing.join(", ")
        ))
    }
}

/// `MAC Dest 00-11-…` / `TcpIpChecksum 0x0` / `IP Src 1.2.3.4` → (label, value).
fn split_label_value(item: &str) -> (&str, &str) {
    for two in [
        "MAC Dest",
        "MAC Src",
        "IP Dest",
        "IP Src",
        "Port Dest",
        "Port Src",
    ] {
        if let Some(v) = item.strip_prefix(two) {
            return (two, v.trim());
        }
    }
    match item.split_once(' ') {
        Some((k, v)) => (k, v.trim()),
        None => (item, ""),
    }
}

fn direction_of(v: &str) -> Option<Direction> {
    let v = trim(v);
    let is = |names: [&str; 3]| names.iter().any(|n| v.eq_ignore_ascii_case(n));
    if is(["rx", "in", "ingress"]) {
        Some(Direction::In)
    } else if is(["tx", "out", "egress"]) {
        Some(Direction::Out)
    } else {
        None
    }
}

/// Fills the pending packet from its decoded continuation lines.
fn apply_decode(p: &mut Pending) {
    if p.hex_lines > 0 {
        p.ev.fields.push_int("HexBytes", p.hex_bytes);
    }
    if p.decoded.is_empty() {
        return;
    }
    // One decoded line is the common case: no joined copy.
    let text = if p.decoded.len() == 1 {
        p.decoded.pop().unwrap_or_default()
    } else {
        p.decoded.join(" ")
    };
    let d = summary::parse(&text);
    let ev = &mut p.ev;
    let info = ev.packet.get_or_insert_with(Box::default);
    info.src_mac = d.src_mac.or(info.src_mac.take());
    info.dst_mac = d.dst_mac.or(info.dst_mac.take());
    info.ethertype = d.ethertype;
    info.vlan = d.vlan;
    info.tcp_flags = d.tcp_flags.or(info.tcp_flags.take());
    info.seq = d.seq;
    info.ack = d.ack;
    info.window = d.window;
    info.payload_len = d.payload_len;
    info.frame_len = d.frame_len;
    info.summary = Some(text);
    ev.proto = d.proto;
    ev.local = d.src;
    ev.remote = d.dst;
    ev.fields.push_display("Decoded", d.class);
    if let Some(x) = d.detail {
        ev.fields.push("Detail", &x);
    }
    if let Some(n) = d.payload_len {
        ev.bytes = Some(u64::from(n));
    }
}

/// `Event: Header, BufferSize: 16777216, …` → fields split at `, Key: `.
fn colon_fields(m: &str) -> crate::event::Fields {
    m.split(", ")
        .filter_map(|item| {
            let (k, v) = item.split_once(':')?;
            let k = k.trim();
            (!k.is_empty() && !k.contains(' ')).then(|| (k.to_string(), v.trim()))
        })
        .collect()
}

/// ` Component 52, EtherType  = VLAN  ` → (52, "EtherType", "VLAN").
fn parse_property(rest: &str) -> Option<(u32, String, String)> {
    let rest = rest.trim();
    let rest = rest.strip_prefix("Component ")?;
    let (id, kv) = rest.split_once(',')?;
    let id = id.trim().parse().ok()?;
    let (k, v) = kv.split_once(" = ").or_else(|| kv.split_once('='))?;
    Some((id, k.trim().to_string(), v.trim().to_string()))
}

/// Normalised extra fields for a property: `MAC` from PhysAddress, `ifIndex`.
fn property_fields(key: &str, value: &str) -> crate::event::Fields {
    let mut out = crate::event::Fields::new();
    if key.eq_ignore_ascii_case("PhysAddress") || key.eq_ignore_ascii_case("Physical Address") {
        let hex = value
            .trim()
            .trim_start_matches("0x")
            .trim_start_matches("0X");
        if hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let parts: Vec<String> = (0..6)
                .filter_map(|i| hex.get(i * 2..i * 2 + 2))
                .map(str::to_ascii_uppercase)
                .collect();
            out.push("MAC", &parts.join("-"));
        } else if value.len() == 17 {
            out.push("MAC", &value.to_ascii_uppercase().replace(':', "-"));
        }
    }
    if key == "IfIndex" {
        out.push("ifIndex", value);
    }
    out
}

/// `Component 141, Type HTTP Protocol , Name http.sys, HTTP` (event 20) and
/// `Component added: Id 5, Type Miniport , Name x.sys, Desc` (270/280).
fn parse_component(m: &str) -> Option<crate::event::Fields> {
    let (id_txt, rest) = if let Some(r) = m
        .strip_prefix("Component added:")
        .or_else(|| m.strip_prefix("Component removed:"))
    {
        let r = r.trim().strip_prefix("Id ")?;
        r.split_once(',')?
    } else {
        let r = m.strip_prefix("Component ")?;
        r.split_once(',')?
    };
    let id: u32 = id_txt.trim().parse().ok()?;
    let rest = rest.trim_start().strip_prefix("Type ")?;
    let (ty, rest) = rest
        .split_once(", Name ")
        .or_else(|| rest.split_once(",Name "))?;
    let (name, desc) = rest.split_once(", ").unwrap_or((rest, ""));
    let mut f = crate::event::Fields::with_capacity(5, m.len());
    f.push_int("Component", id);
    f.push("Type", ty.trim());
    f.push("Name", name.trim().trim_end_matches(','));
    f.push("Description", desc.trim());
    if m.starts_with("Component added") {
        f.push("Event", "added");
    } else if m.starts_with("Component removed") {
        f.push("Event", "removed");
    }
    Some(f)
}

/// `Component 52, [Edge Lower, Edge Id 1, ]Direction In = Rx , Packets In 0,
/// Bytes In 0, Direction Out = Tx , Packets Out 0, Bytes Out 0`.
fn counter_fields(rest: &str, counter: &str) -> crate::event::Fields {
    let mut f = crate::event::Fields::with_capacity(8, rest.len());
    f.push("Counter", counter);
    let (mut tag_in, mut tag_out) = ("Rx".into(), "Tx".to_string());
    let (packets, bytes) = if counter == "Drop" {
        ("Drops", "Drop Bytes")
    } else {
        ("Packets", "Bytes")
    };
    for item in rest.split(", ").map(str::trim) {
        if let Some(v) = item.strip_prefix("Component ") {
            f.push("Component", v.trim());
        } else if let Some(v) = item.strip_prefix("Edge Id ") {
            f.push("Edge Id", v.trim());
        } else if let Some(v) = item.strip_prefix("Edge ") {
            f.push("Edge", v.trim());
        } else if let Some(v) = item.strip_prefix("Direction In =") {
            tag_in = v.trim().to_string();
        } else if let Some(v) = item.strip_prefix("Direction Out =") {
            tag_out = v.trim().to_string();
        } else if let Some(v) = item.strip_prefix("Packets In ") {
            f.push(format!("{tag_in} {packets}"), v.trim());
        } else if let Some(v) = item.strip_prefix("Bytes In ") {
            f.push(format!("{tag_in} {bytes}"), v.trim());
        } else if let Some(v) = item.strip_prefix("Packets Out ") {
            f.push(format!("{tag_out} {packets}"), v.trim());
        } else if let Some(v) = item.strip_prefix("Bytes Out ") {
            f.push(format!("{tag_out} {bytes}"), v.trim());
        } else if !item.is_empty() {
            let (k, v) = split_label_value(item);
            f.push(k.to_string(), v);
        }
    }
    f
}

/// `1, Name X, MAC-1 …, …, TCPFlags 0` (after `Packet Filter `).
fn filter_fields(rest: &str) -> crate::event::Fields {
    let mut f = crate::event::Fields::new();
    let mut items = rest.split(", ");
    if let Some(id) = items.next() {
        f.push("Filter", id.trim());
    }
    for item in items {
        let (k, v) = split_label_value(item.trim());
        f.push(k.to_string(), v);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_text;
    use crate::event::Proto;

    const MSDOCS_DROP: &str = "[30]0000.0000::2025-03-27 16:10:34.934020500 [Microsoft-Windows-PktMon] Drop: PktGroupId 8444249301423149, PktNumber 1, Appearance 0, Direction Rx , Type IP , Component 49, Filter 1, DropReason INET: transport endpoint was not found , DropLocation 0xE000460A, OriginalSize 402, LoggedSize 148\n       Drop: ip: 192.168.5.88.50005 > 192.168.5.68.50005: UDP, length 374\n";

    #[test]
    fn first_of_slots_are_the_looked_up_names() {
        for (i, name) in LOOKED_UP.iter().enumerate() {
            assert_eq!(FirstOf::slot(name), Some(i), "{name}");
        }
        assert_eq!(FirstOf::slot("Context"), None);
        assert_eq!(FirstOf::slot("pktgroupid"), None);
    }

    #[test]
    fn formats_3_1_drop_line() {
        let sink = decode_text(Format::PktmonText, 0, 1, MSDOCS_DROP).unwrap();
        assert_eq!(sink.counts.parsed, 2);
        assert_eq!(sink.events.len(), 1);
        let ev = &sink.events[0];
        assert_eq!(ev.kind, Kind::PacketDrop);
        assert_eq!(ev.event_id, Some(170));
        assert_eq!(
            (ev.cpu, ev.header_pid, ev.tid),
            (Some(30), Some(0), Some(0))
        );
        assert_eq!(ev.direction, Some(Direction::In));
        let p = ev.packet.as_ref().unwrap();
        assert_eq!(p.media.as_deref(), Some("IP"));
        assert_eq!((p.component, p.filter, p.edge), (Some(49), Some(1), None));
        assert_eq!((p.original_size, p.logged_size), (Some(402), Some(148)));
        assert_eq!(p.pkt_group_id, Some(8444249301423149));
        let d = ev.drop.as_ref().unwrap();
        assert_eq!(
            d.text.as_deref(),
            Some("INET: transport endpoint was not found")
        );
        assert_eq!(d.code, Some(1204));
        assert_eq!(d.location, Some(0xE000460A));
        assert_eq!(ev.proto, Some(Proto::Udp));
        assert_eq!(ev.local.unwrap().to_string(), "192.168.5.88:50005");
        assert_eq!(ev.remote.unwrap().to_string(), "192.168.5.68:50005");
    }

    #[test]
    fn translated_labels_by_position() {
        let text = "[1]0004.0010::2024-05-01 10:00:00.000000100 [Microsoft-Windows-PktMon] 丢弃： PktGroupId 5, PktNumber 1, 外观 0, 方向 Rx , 类型 IP , 组件 101, 筛选器 1, DropReason INET: checksum is invalid , DropLocation 0xE0004601, 原始大小 76, 记录大小 76\n";
        let sink = decode_text(Format::PktmonText, 0, 1, text).unwrap();
        let ev = &sink.events[0];
        assert_eq!(ev.kind, Kind::PacketDrop);
        let p = ev.packet.as_ref().unwrap();
        assert_eq!(
            (p.component, p.filter, p.logged_size),
            (Some(101), Some(1), Some(76))
        );
        assert_eq!(ev.direction, Some(Direction::In));
        assert_eq!(ev.drop.as_ref().unwrap().code, Some(1203));
    }

    #[test]
    fn numeric_reason_and_truncated_line() {
        let text = "[2]0000.0000::2024-05-01 10:00:00.1 [Microsoft-Windows-PktMon] Drop: PktGroupId 9, PktNumber 1, Appearance 0, Direction Rx , Type Ethernet , Component 2, Filter 0, DropReason 228, DropLocation 0xE000100F, OriginalSize 60, LoggedSize 60\n23:02:26.599510100 PktGroupId 1688849860264106, PktNumber 1, Appearance 2, Direction Rx , Type Ethernet , Component 32,\n";
        let sink = decode_text(Format::PktmonText, 0, 1, text).unwrap();
        assert_eq!(sink.events.len(), 2);
        let d = sink.events[0].drop.as_ref().unwrap();
        assert_eq!(d.code, Some(228));
        assert_eq!(d.location_name.as_deref(), Some("NDIS"));
        assert_eq!(sink.counts.error, 1);
        assert_eq!(sink.events[1].packet.as_ref().unwrap().component, Some(32));
    }

    #[test]
    fn trailer_records() {
        let text = "\
[00]425C.34D8::2024-04-02 10:27:05.458679100 [Microsoft-Windows-PktMon] Component 51, Type Protocol , Name tcpip.sys, TCPIP \n\
[00]425C.34D8::2024-04-02 10:27:05.458679500 [Microsoft-Windows-PktMon] Property: Component 51, EtherType  = ARP  \n\
[00]425C.34D8::2024-04-02 10:27:05.458679500 [Microsoft-Windows-PktMon] Property: Component 51, PhysAddress  = 0x00FF3CDA169C \n\
[00]425C.34D8::2024-04-02 10:27:05.458678500 [Microsoft-Windows-PktMon] Drop Counters: Component 52, Direction In = Rx , Packets In 3, Bytes In 228, Direction Out = Tx , Packets Out 0, Bytes Out 0 \n\
[00]425C.34D8::2024-04-02 10:27:05.458678800 [Microsoft-Windows-PktMon] Flow Counters: Component 52, Edge Lower, Edge Id 1, Direction In = Rx , Packets In 5, Bytes In 0, Direction Out = Tx , Packets Out 0, Bytes Out 0 \n";
        let sink = decode_text(Format::PktmonText, 0, 1, text).unwrap();
        assert_eq!(sink.counts.parsed, 5);
        assert_eq!(sink.events.len(), 3);
        let c = &sink.events[0];
        assert_eq!(c.kind, Kind::PktmonComponent);
        assert_eq!(c.field("Name"), Some("tcpip.sys"));
        assert_eq!(c.field("Type"), Some("Protocol"));
        assert_eq!(c.field("Description"), Some("TCPIP"));
        assert_eq!(c.field("EtherType"), Some("ARP"));
        assert_eq!(c.field("MAC"), Some("00-FF-3C-DA-16-9C"));
        assert_eq!(sink.events[1].field("Rx Drops"), Some("3"));
        assert_eq!(sink.events[2].field("Edge"), Some("Lower"));
        assert_eq!(sink.events[2].field("Rx Packets"), Some("5"));
    }

    #[test]
    fn hex_and_verbose_continuations() {
        let text = "\
[12]0004.0514::2026-01-01 10:00:00.000000000 [Microsoft-Windows-PktMon] PktGroupId 1, PktNumber 1, Appearance 1, Direction Tx , Type Ethernet , Component 5, Edge 1, Filter 0, OriginalSize 66, LoggedSize 66\n\
\tAA-AA-AA-AA-AA-AA > BB-BB-BB-BB-BB-BB, ethertype IPv4 (0x0800), length 66: (tos 0x0, ttl 128, id 46774, offset 0, flags [DF], proto TCP (6), length 52)\n    192.168.1.8.14813 > 1.1.1.1.443: Flags [S], seq 1, win 65535, options [mss 1460,nop,wscale 8,nop,nop,sackOK], length 0\n\
\t0x0000:  bbbb bbbb bbbb aaaa aaaa aaaa 0800 4500\n";
        let sink = decode_text(Format::PktmonText, 0, 1, text).unwrap();
        assert_eq!(sink.counts.parsed, 4);
        let ev = &sink.events[0];
        assert_eq!(ev.proto, Some(Proto::Tcp));
        assert_eq!(ev.remote.unwrap().to_string(), "1.1.1.1:443");
        assert_eq!(ev.field("HexBytes"), Some("16"));
        assert_eq!(ev.direction, Some(Direction::Out));
    }

    #[test]
    fn record_start_excludes_property_lines() {
        assert!(is_record_start(
            "[00]1.2::2024-04-02 10:27:05.4 [Microsoft-Windows-PktMon] Component 5, Type X , Name y, z"
        ));
        assert!(!is_record_start(
            "[00]1.2::2024-04-02 10:27:05.4 [Microsoft-Windows-PktMon] Property: Component 5, A = 1"
        ));
        assert!(is_record_start("23:02:26.539704700 PktGroupId 1"));
        assert!(!is_record_start("\tAA-BB"));
    }

    #[test]
    fn sniffs_both_prefixes() {
        assert_eq!(sniff(MSDOCS_DROP), Some(Format::PktmonText));
        assert_eq!(
            sniff("C:\\>pktmon start\n23:02:26.539704700 PktGroupId 5, PktNumber 1"),
            Some(Format::PktmonText)
        );
        assert_eq!(sniff("hello"), None);
    }
}
