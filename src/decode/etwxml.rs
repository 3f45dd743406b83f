//! ETW events as XML: `tracerpt -of XML` (an `<Events>` root, often UTF-16),
//! `wevtutil qe /f:xml` (bare `<Event>` elements, no root, often all on one
//! line) and PowerShell `Get-WinEvent … | % { $_.ToXml() }` (one element per
//! record, pretty-printed or not).
//!
//! XML is not line-based, but the driver feeds lines: the decoder buffers
//! text from `<Event` to the matching `</Event>` (an element may span many
//! lines, many may share one line, a whole file may be one line), parses
//! each completed element with quick-xml, and only then accounts for the
//! lines it covered. Text outside elements may only be the prolog, the
//! `<Events>` root tags and comments (skipped). A malformed or truncated
//! element is an error naming its first line; decoding resumes at the next
//! `<Event`. A line touched by several elements is classified once: error if
//! any of them failed, else parsed.
//!
//! From each element: `System` (Provider Name/Guid, EventID, Version,
//! Opcode, TimeCreated SystemTime with `Z` or an offset, Execution
//! ProcessID/ThreadID/ProcessorID), `EventData/Data Name=` pairs in order,
//! `UserData` leaves flattened (paths below the wrapper element joined with
//! `.`), `RenderingInfo` Message/Task/Opcode. Kernel `TcpIp`/`UdpIp` MOF
//! events (recognised by class GUID or `EventName`) get their typed slots
//! from [`super::tracerpt_csv::fill_kernel_slots`]; all others go through
//! [`crate::schema::enrich`].

use std::borrow::Cow;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event as XmlEvent};
use quick_xml::reader::Reader;

use super::prefix::parse_time_of_day;
use super::tracerpt_csv::{KernelClass, fill_kernel_slots, kernel_layouts, layer_for_provider};
use super::{LineClass, LineDecoder, Sink};
use crate::event::{Event, Kind, Layer, SourceRef, Timestamp, Zone};

/// An `<Event>` element larger than this is hostile or broken, not ETW.
const MAX_ELEMENT_BYTES: usize = 4 << 20;
/// Element nesting deeper than this is rejected (real events nest ≤ 6).
const MAX_DEPTH: usize = 32;

/// Whether `head` (the start of a text file) looks like ETW event XML.
pub fn sniff(head: &str) -> bool {
    if head.contains("schemas.microsoft.com/win/2004/08/events/event") {
        return true;
    }
    let mut s = head.trim_start_matches('\u{feff}').trim_start();
    // Skip the XML declaration and comments.
    loop {
        if let Some(r) = s.strip_prefix("<?") {
            match r.find("?>") {
                Some(i) => s = r[i + 2..].trim_start(),
                None => return false,
            }
        } else if let Some(r) = s.strip_prefix("<!--") {
            match r.find("-->") {
                Some(i) => s = r[i + 3..].trim_start(),
                None => return false,
            }
        } else {
            break;
        }
    }
    starts_event_tag(s) || (tag_named(s, "<Events") && s.contains("<Event"))
}

/// `s` starts with `<{name}` followed by whitespace, `>` or `/`.
fn tag_named(s: &str, open: &str) -> bool {
    s.strip_prefix(open).is_some_and(|r| {
        r.chars()
            .next()
            .is_some_and(|c| c.is_whitespace() || c == '>' || c == '/')
    })
}

fn starts_event_tag(s: &str) -> bool {
    tag_named(s, "<Event")
}

/// The `</Event>` searcher, built once (a searcher per call costs more than
/// the search).
fn close_finder() -> &'static memchr::memmem::Finder<'static> {
    static FINDER: std::sync::OnceLock<memchr::memmem::Finder<'static>> =
        std::sync::OnceLock::new();
    FINDER.get_or_init(|| memchr::memmem::Finder::new(CLOSE.as_bytes()))
}

/// The element tags the line splitter looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventTag {
    /// `<Event` followed by whitespace, `>` or `/`.
    Start,
    /// `</Event>`.
    Close,
}

/// The first `<Event` start tag or `</Event>` in `s`, and where. A line
/// holds few `<`, so visiting each is cheaper than two substring searches
/// (`<` is ASCII, so every hit is a char boundary).
fn first_event_tag(s: &str) -> Option<(usize, EventTag)> {
    let b = s.as_bytes();
    memchr::memchr_iter(b'<', b).find_map(|i| {
        // The byte after `<` rules out most tags without a compare.
        match b.get(i + 1)? {
            b'/' if s.get(i..)?.starts_with(CLOSE) => Some((i, EventTag::Close)),
            b'E' if starts_event_tag(s.get(i..)?) => Some((i, EventTag::Start)),
            _ => None,
        }
    })
}

/// Byte offset of the next `<Event` start tag (not `<Events`, `<EventData`).
fn find_start(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    memchr::memchr_iter(b'<', b)
        .find(|&i| b.get(i + 1) == Some(&b'E') && s.get(i..).is_some_and(starts_event_tag))
}

/// The local part of a qualified name (after the first `:`), as quick-xml's
/// `local_name` gives it, without its per-call character searcher.
fn local_part(qname: &str) -> &str {
    match qname.bytes().position(|b| b == b':') {
        Some(i) => qname.get(i + 1..).unwrap_or_default(),
        None => qname,
    }
}

const CLOSE: &str = "</Event>";

/// Byte offset of the next `</Event>` (`<` is ASCII, so every hit is a
/// char boundary).
fn find_close(s: &str) -> Option<usize> {
    close_finder().find(s.as_bytes())
}

/// How the text outside `<Event>` elements on a line classifies: prolog,
/// root tags, comments and whitespace are framing (skipped); a stray
/// `</Event>` is a broken element (error); anything else is unknown.
fn outside_class(mut s: &str) -> LineClass {
    loop {
        s = s.trim_start_matches('\u{feff}').trim_start();
        if s.is_empty() {
            return LineClass::Skipped;
        }
        let end = if s.starts_with("<?") {
            s.find("?>").map(|i| i + 2)
        } else if s.starts_with("<!--") {
            s.find("-->").map(|i| i + 3)
        } else if tag_named(s, "<Events") || s.starts_with("</Events") {
            s.find('>').map(|i| i + 1)
        } else {
            None
        };
        match end {
            Some(e) => s = &s[e..],
            None if s.contains(CLOSE) => return LineClass::Error,
            None => return LineClass::Unknown,
        }
    }
}

fn merge(a: Option<LineClass>, b: LineClass) -> LineClass {
    let rank = |c: LineClass| match c {
        LineClass::Skipped => 0,
        LineClass::Unknown => 1,
        LineClass::Parsed => 2,
        LineClass::Error => 3,
    };
    match a {
        Some(a) if rank(a) >= rank(b) => a,
        _ => b,
    }
}

/// An `<Event>` element whose end has not been seen yet.
struct OpenElement {
    text: String,
    first_line: u64,
    /// Class of the first line from elements that ended on it before this
    /// one started.
    first_line_class: Option<LineClass>,
    /// Lines after the first, up to the current one, that lie wholly inside
    /// this element (accounted when it ends).
    middle_lines: u64,
    too_large: bool,
}

impl OpenElement {
    fn push_line(&mut self, s: &str) {
        if self.too_large || self.text.len() + s.len() + 1 > MAX_ELEMENT_BYTES {
            self.too_large = true;
            return;
        }
        self.text.push('\n');
        self.text.push_str(s);
    }
}

#[derive(Default)]
pub struct EtwXmlDecoder {
    open: Option<OpenElement>,
    /// Parser buffers reused across elements.
    scratch: Scratch,
    /// The text buffer of the last finished multi-line element, reused for
    /// the next one (no regrowth per element).
    spare: String,
}

impl EtwXmlDecoder {
    /// Parses one complete element text and reports it; returns the class of
    /// the lines it covered.
    fn element(
        scratch: &mut Scratch,
        text: &str,
        first_line: u64,
        last_line: u64,
        sink: &mut Sink,
    ) -> LineClass {
        match parse_event_with(text, sink.src(first_line), scratch) {
            Ok(ev) => {
                sink.event(ev);
                LineClass::Parsed
            }
            Err(e) => {
                let where_ = if last_line > first_line {
                    format!("<Event> element (lines {first_line}-{last_line})")
                } else {
                    "<Event> element".to_string()
                };
                sink.diag(
                    first_line,
                    LineClass::Error,
                    format!("malformed {where_}: {e}"),
                );
                LineClass::Error
            }
        }
    }

    /// Classifies text outside elements, reporting a stray `</Event>`.
    fn outside(text: &str, line_no: u64, sink: &mut Sink) -> LineClass {
        let c = outside_class(text);
        if c == LineClass::Error {
            sink.diag(
                line_no,
                LineClass::Error,
                "</Event> without a matching <Event>".to_string(),
            );
        }
        c
    }

    /// Accounts for the lines of a finished open element, except the current
    /// (last) line, which the caller classifies.
    fn account(open: &OpenElement, outcome: LineClass, sink: &mut Sink) {
        sink.lines(merge(open.first_line_class, outcome), 1);
        sink.lines(outcome, open.middle_lines);
    }

    /// Reports an element that never ended (a new `<Event` began, or input ended).
    fn truncated(open: OpenElement, why: &str, sink: &mut Sink) {
        sink.diag(
            open.first_line,
            LineClass::Error,
            format!("truncated <Event> element: {why}"),
        );
        Self::account(&open, LineClass::Error, sink);
    }
}

impl LineDecoder for EtwXmlDecoder {
    fn line(&mut self, line_no: u64, line: &str, sink: &mut Sink) {
        let mut class: Option<LineClass> = None;
        let mut rest = line;

        if let Some(mut open) = self.open.take() {
            // Whichever of `</Event>` and a new `<Event` comes first decides.
            match first_event_tag(rest) {
                Some((s, EventTag::Start)) => {
                    Self::truncated(
                        open,
                        &format!("a new <Event> starts at line {line_no} before </Event>"),
                        sink,
                    );
                    if !rest[..s].trim().is_empty() {
                        // Part of the broken element is on this line too.
                        class = Some(LineClass::Error);
                    }
                    rest = &rest[s..];
                }
                Some((c, EventTag::Close)) => {
                    let end = c + CLOSE.len();
                    open.push_line(&rest[..end]);
                    let outcome = if open.too_large {
                        sink.diag(
                            open.first_line,
                            LineClass::Error,
                            format!("<Event> element larger than {MAX_ELEMENT_BYTES} bytes"),
                        );
                        LineClass::Error
                    } else {
                        Self::element(
                            &mut self.scratch,
                            &open.text,
                            open.first_line,
                            line_no,
                            sink,
                        )
                    };
                    Self::account(&open, outcome, sink);
                    self.spare = open.text;
                    class = Some(outcome);
                    rest = &rest[end..];
                }
                None => {
                    open.push_line(rest);
                    open.middle_lines += 1;
                    self.open = Some(open);
                    return;
                }
            }
        }

        while let Some(s) = find_start(rest) {
            class = Some(merge(class, Self::outside(&rest[..s], line_no, sink)));
            let elem = &rest[s..];
            match find_close(elem) {
                Some(c) => {
                    let end = c + CLOSE.len();
                    let outcome =
                        Self::element(&mut self.scratch, &elem[..end], line_no, line_no, sink);
                    class = Some(merge(class, outcome));
                    rest = &elem[end..];
                }
                None => {
                    let mut text = std::mem::take(&mut self.spare);
                    text.clear();
                    text.push_str(elem);
                    self.open = Some(OpenElement {
                        text,
                        first_line: line_no,
                        first_line_class: class,
                        middle_lines: 0,
                        too_large: elem.len() > MAX_ELEMENT_BYTES,
                    });
                    return;
                }
            }
        }
        class = Some(merge(class, Self::outside(rest, line_no, sink)));
        match class.unwrap_or(LineClass::Skipped) {
            LineClass::Unknown => sink.unknown(line_no, line),
            c => sink.lines(c, 1),
        }
    }

    fn finish(&mut self, sink: &mut Sink) {
        if let Some(open) = self.open.take() {
            Self::truncated(open, "input ends before </Event>", sink);
        }
    }
}

/// `2026-10-03T14:29:18.912955800-05:00`, `…Z`, or without zone (local).
/// Keeps up to 9 fraction digits.
pub fn parse_system_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let (date, rest) = s.split_once('T').or_else(|| s.split_once(' '))?;
    let mut dp = date.split('-');
    let y: i32 = dp.next()?.parse().ok()?;
    let m: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    if dp.next().is_some() {
        return None;
    }
    let (time, zone) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, Zone::Utc)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (t, off) = rest.split_at(i);
        let sign: i16 = if off.starts_with('-') { -1 } else { 1 };
        let digits: String = off[1..].chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 && digits.len() != 2 {
            return None;
        }
        let hh: i16 = digits.get(..2)?.parse().ok()?;
        let mm: i16 = digits
            .get(2..)
            .filter(|x| !x.is_empty())
            .map_or(Some(0), |x| x.parse().ok())?;
        if hh > 14 || mm > 59 {
            return None;
        }
        (t, Zone::Offset(sign * (hh * 60 + mm)))
    } else {
        (rest, Zone::Local)
    };
    let (h, mi, sec, nanos) = parse_time_of_day(time)?;
    Timestamp::from_civil(y, m, d, h, mi, sec, nanos, zone)
}

/// System and rendering values collected from one element.
#[derive(Default)]
struct Collected {
    provider_name: Option<String>,
    provider_guid: Option<String>,
    event_id: Option<String>,
    version: Option<String>,
    opcode: Option<String>,
    system_time: Option<String>,
    pid: Option<String>,
    tid: Option<String>,
    cpu: Option<String>,
    rendered_task: Option<String>,
    rendered_opcode: Option<String>,
    rendered_provider: Option<String>,
    event_name: Option<String>,
    event_guid: Option<String>,
    message: Option<String>,
    fields: crate::event::Fields,
}

/// The values of the attributes `names` (local names, any case; the first
/// of each wins). Every attribute is still parsed, so a malformed one is an
/// error as before, but only the wanted values are copied.
fn attrs<const N: usize>(
    e: &BytesStart<'_>,
    names: [&str; N],
) -> Result<[Option<String>; N], String> {
    attrs_plain(e, names).map_or_else(|| attrs_checked(e, names), Ok)
}

/// How many attributes [`attrs_plain`] reads (ETW tags carry at most five).
const MAX_PLAIN_ATTRS: usize = 16;

/// XML whitespace, as quick-xml's attribute reader knows it.
fn xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\r' | b'\n' | b'\t')
}

/// [`attrs`] for the plain attribute lists ETW writes (`name="value"`
/// separated by whitespace, values without references, tabs or line
/// breaks, names distinct), read in one pass without quick-xml's attribute
/// iterator, duplicate list and normalisation. For such a list the values
/// are what quick-xml gives; `None` for anything else, which
/// [`attrs_checked`] then reads (and words the errors of).
fn attrs_plain<const N: usize>(
    e: &BytesStart<'_>,
    names: [&str; N],
) -> Option<[Option<String>; N]> {
    let raw = e.attributes_raw();
    let b = raw.as_bytes();
    let mut out: [Option<String>; N] = std::array::from_fn(|_| None);
    let mut seen: [&str; MAX_PLAIN_ATTRS] = [""; MAX_PLAIN_ATTRS];
    let mut count = 0;
    let mut at = 0;
    loop {
        while b.get(at).is_some_and(|c| xml_space(*c)) {
            at += 1;
        }
        if at >= b.len() {
            return Some(out);
        }
        let key_len = b
            .get(at..)?
            .iter()
            .position(|c| *c == b'=' || xml_space(*c))?;
        let key = raw.get(at..at + key_len)?;
        let quote = *b.get(at + key_len + 1)?;
        if key.is_empty() || b.get(at + key_len) != Some(&b'=') || !matches!(quote, b'"' | b'\'') {
            return None;
        }
        let value_at = at + key_len + 2;
        let value_len = memchr::memchr(quote, b.get(value_at..)?)?;
        let value = raw.get(value_at..value_at + value_len)?;
        at = value_at + value_len + 1;
        if value
            .bytes()
            .any(|c| matches!(c, b'&' | b'\t' | b'\r' | b'\n'))
            || b.get(at).is_some_and(|c| !xml_space(*c))
            || seen.get(..count)?.contains(&key)
        {
            return None;
        }
        *seen.get_mut(count)? = key;
        count += 1;
        let local = local_part(key);
        for (slot, name) in out.iter_mut().zip(names) {
            if slot.is_none() && local.eq_ignore_ascii_case(name) {
                *slot = Some(value.to_string());
                break;
            }
        }
    }
}

/// [`attrs`] with quick-xml's own checks and error texts.
fn attrs_checked<const N: usize>(
    e: &BytesStart<'_>,
    names: [&str; N],
) -> Result<[Option<String>; N], String> {
    let mut out: [Option<String>; N] = std::array::from_fn(|_| None);
    for a in e.attributes() {
        let a = a.map_err(|err| format!("bad attribute: {err}"))?;
        let value = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| format!("bad attribute value: {err}"))?;
        let key = a.key.local_name();
        let key: &str = key.as_ref();
        for (slot, name) in out.iter_mut().zip(names) {
            if slot.is_none() && key.eq_ignore_ascii_case(name) {
                *slot = Some(value.into_owned());
                break;
            }
        }
    }
    Ok(out)
}

/// The element path of the parser (`Event`, `System`, `Provider`…): the
/// name strings are reused from element to element instead of allocated
/// per tag.
#[derive(Default)]
struct ElementPath {
    names: Vec<String>,
    len: usize,
}

impl ElementPath {
    fn push(&mut self, name: &str) {
        match self.names.get_mut(self.len) {
            Some(slot) => {
                slot.clear();
                slot.push_str(name);
            }
            None => self.names.push(name.to_string()),
        }
        self.len += 1;
    }
    fn pop(&mut self) {
        self.len = self.len.saturating_sub(1);
    }
    fn get(&self) -> &[String] {
        self.names.get(..self.len).unwrap_or(&[])
    }
    fn len(&self) -> usize {
        self.len
    }
    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Records the attributes that matter on a start or empty tag at `path`
/// (the element itself is the last entry).
fn on_tag(
    c: &mut Collected,
    path: &[String],
    e: &BytesStart<'_>,
    data_name: &mut Option<String>,
) -> Result<(), String> {
    if path.len() != 3 {
        return Ok(());
    }
    match (path[1].as_str(), path[2].as_str()) {
        ("System", "Provider") => {
            let [name, guid] = attrs(e, ["Name", "Guid"])?;
            c.provider_name = name;
            c.provider_guid = guid;
        }
        ("System", "TimeCreated") => {
            let [time, raw] = attrs(e, ["SystemTime", "RawTime"])?;
            c.system_time = time;
            if let Some(raw) = raw {
                c.fields.push("RawTime", &raw);
            }
        }
        ("System", "Execution") => {
            let [pid, tid, cpu] = attrs(e, ["ProcessID", "ThreadID", "ProcessorID"])?;
            c.pid = pid;
            c.tid = tid;
            c.cpu = cpu;
        }
        ("EventData", "Data" | "ComplexData") => {
            let [name] = attrs(e, ["Name"])?;
            *data_name = name;
        }
        _ => {}
    }
    Ok(())
}

/// Stores the text of an element that just ended at `path` (matched
/// without allocating: most elements are ignored).
fn on_text_end(
    c: &mut Collected,
    path: &[String],
    text: &str,
    data_name: &mut Option<String>,
    leaf: bool,
) {
    let t = || text.trim().to_string();
    let trimmed = text.trim();
    if path.len() > 3 && path[1] == "UserData" {
        if leaf {
            let name = path[3..].join(".");
            c.fields.push(name, trimmed);
        }
        return;
    }
    if path.len() != 3 {
        return;
    }
    match (path[1].as_str(), path[2].as_str()) {
        ("System", "EventID") => c.event_id = Some(t()),
        ("System", "Version") => c.version = Some(t()),
        ("System", "Opcode") => c.opcode = Some(t()),
        ("EventData", "Data" | "ComplexData") => {
            let name = data_name
                .take()
                .unwrap_or_else(|| format!("Data{}", c.fields.len() + 1));
            c.fields.push(name, trimmed);
        }
        ("EventData", "Binary") => c.fields.push("Binary", trimmed),
        ("RenderingInfo", "Message") => c.message = Some(t()),
        ("RenderingInfo", "Task") => c.rendered_task = Some(t()),
        ("RenderingInfo", "Opcode") => c.rendered_opcode = Some(t()),
        ("RenderingInfo", "Provider") => c.rendered_provider = Some(t()),
        ("RenderingInfo", "EventName") => c.event_name = Some(t()),
        ("ExtendedTracingInfo", "EventGuid") => c.event_guid = Some(t()),
        _ => {}
    }
}

/// Parses one `<Event …>…</Event>` element into an event.
pub fn parse_event(xml: &str, source: SourceRef) -> Result<Event, String> {
    parse_event_with(xml, source, &mut Scratch::default())
}

/// Buffers one decoder reuses from element to element.
#[derive(Default)]
struct Scratch {
    path: ElementPath,
    text: String,
}

fn parse_event_with(xml: &str, source: SourceRef, scratch: &mut Scratch) -> Result<Event, String> {
    let mut reader = Reader::from_str(xml);
    let mut c = Collected::default();
    let Scratch { path, text } = scratch;
    path.len = 0;
    text.clear();
    let mut data_name: Option<String> = None;
    // Depth of the most recent start tag: an end tag at that depth closes a
    // leaf (an element without child elements).
    let mut last_start_depth = 0usize;
    let mut done = false;
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("{e} at byte {}", reader.error_position()))?;
        match ev {
            XmlEvent::Start(e) => {
                if done {
                    return Err("content after </Event>".to_string());
                }
                if path.len() >= MAX_DEPTH {
                    return Err(format!("elements nested deeper than {MAX_DEPTH}"));
                }
                let name = local_part(e.name().0);
                if path.is_empty() && name != "Event" {
                    return Err(format!("root element is <{name}>, not <Event>"));
                }
                path.push(name);
                on_tag(&mut c, path.get(), &e, &mut data_name)?;
                text.clear();
                last_start_depth = path.len();
            }
            XmlEvent::Empty(e) => {
                if path.is_empty() {
                    return Err("empty <Event/> element".to_string());
                }
                path.push(local_part(e.name().0));
                on_tag(&mut c, path.get(), &e, &mut data_name)?;
                on_text_end(&mut c, path.get(), "", &mut data_name, true);
                path.pop();
                last_start_depth = 0;
            }
            // Only a `\r` needs XML 1.0 end-of-line normalisation.
            XmlEvent::Text(t) if !t.as_bytes().contains(&b'\r') => text.push_str(&t),
            XmlEvent::Text(t) => text.push_str(&t.xml10_content()),
            XmlEvent::CData(t) => text.push_str(&t),
            XmlEvent::GeneralRef(r) => match r.resolve_char_ref() {
                Ok(Some(ch)) => text.push(ch),
                Ok(None) => {
                    let name: &str = &r;
                    match quick_xml::escape::resolve_predefined_entity(name) {
                        Some(v) => text.push_str(v),
                        None => return Err(format!("unknown entity &{name};")),
                    }
                }
                Err(e) => return Err(format!("bad character reference: {e}")),
            },
            XmlEvent::End(_) => {
                let leaf = last_start_depth == path.len();
                on_text_end(&mut c, path.get(), text, &mut data_name, leaf);
                text.clear();
                path.pop();
                last_start_depth = 0;
                if path.is_empty() {
                    done = true;
                }
            }
            XmlEvent::Eof => break,
            XmlEvent::Comment(_) | XmlEvent::Decl(_) | XmlEvent::PI(_) | XmlEvent::DocType(_) => {}
        }
    }
    if !done || !path.is_empty() {
        return Err("element not closed".to_string());
    }
    build_event(c, source)
}

fn parse_num(s: &str) -> Option<u64> {
    super::common::parse_u64_auto(s)
}

fn build_event(c: Collected, source: SourceRef) -> Result<Event, String> {
    let mut ev = Event::new(source, Layer::Other, Kind::Raw);
    let kernel = c
        .event_name
        .as_deref()
        .and_then(KernelClass::from_name)
        .or_else(|| c.event_guid.as_deref().and_then(KernelClass::from_guid))
        .or_else(|| c.provider_guid.as_deref().and_then(KernelClass::from_guid));
    ev.provider = c
        .provider_name
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| kernel.map(|k| k.as_str().to_string()))
        .or_else(|| c.event_name.clone())
        .or_else(|| c.rendered_provider.clone())
        .or_else(|| c.provider_guid.clone())
        .map(Cow::Owned);
    ev.event_id = c
        .event_id
        .as_deref()
        .and_then(parse_num)
        .and_then(|v| u32::try_from(v).ok());
    ev.version = c
        .version
        .as_deref()
        .and_then(parse_num)
        .and_then(|v| u8::try_from(v).ok());
    let id = |s: &Option<String>| {
        s.as_deref()
            .and_then(parse_num)
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v != u32::MAX)
    };
    ev.header_pid = id(&c.pid);
    ev.tid = id(&c.tid);
    ev.cpu = id(&c.cpu);
    if let Some(t) = &c.system_time {
        ev.ts = parse_system_time(t);
        if ev.ts.is_none() {
            ev.fields.push("SystemTime", t);
        }
    }
    let rendered = |s: &Option<String>| s.clone().filter(|t| !t.is_empty());
    ev.symbol = rendered(&c.rendered_task)
        .or_else(|| rendered(&c.rendered_opcode))
        .map(Cow::Owned);
    ev.message = c.message.unwrap_or_default();
    ev.fields.append(c.fields);

    if let Some(class) = kernel {
        let opcode_no = c
            .opcode
            .as_deref()
            .and_then(parse_num)
            .and_then(|v| u32::try_from(v).ok());
        // The type name: rendered, else from the schema by type number.
        let opcode_name = rendered(&c.rendered_opcode).or_else(|| {
            let t = opcode_no?;
            kernel_layouts()
                .iter()
                .find(|l| l.class == class && l.event_type == t)
                .map(|l| l.opcode.clone())
        });
        ev.symbol = opcode_name.clone().map(Cow::Owned);
        // As in the CSV decoder, a MOF event is identified by its type.
        if let Some(t) = opcode_no.filter(|t| *t != 0) {
            ev.event_id = Some(t);
        }
        ev.provider = Some(class.as_str().into());
        if let Some(op) = opcode_name {
            fill_kernel_slots(&mut ev, class, &op)?;
        } else {
            ev.layer = Layer::Kernel;
        }
        return Ok(ev);
    }
    ev.layer = ev
        .provider
        .as_deref()
        .map_or(Layer::Other, layer_for_provider);
    crate::schema::enrich(&mut ev);
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::LineCounts;

    #[test]
    fn plain_attribute_reader_agrees_with_quick_xml() {
        let tags = [
            r#"<Provider Name="Microsoft-Windows-TCPIP" Guid="{2f07e2ee-15db-40f1-90ef-9d7ba282188a}" />"#,
            r#"<Execution ProcessID="0" ThreadID="0" ProcessorID="3" KernelTime="0" UserTime="0" />"#,
            r#"<TimeCreated SystemTime='2025-03-27T16:00:00.0000027Z' RawTime="1"/>"#,
            r#"<Data Name="LocalAddress">"#,
            r#"<Data xmlns:x="u" x:Name="a" >"#,
            r#"<Data NAME="upper">"#,
            r#"<Data Name="a&amp;b">"#,
            "<Data Name=\"tab\there\">",
            "<Data\tName=\"x\"\n>",
            r#"<Data Name="a" Name="b">"#,
            r#"<Data Name="a"Guid="b">"#,
            r#"<Data Name = "spaced">"#,
            r#"<Data Name=unquoted>"#,
            r#"<Data Name="unclosed>"#,
            r#"<Data Name>"#,
            r#"<Data Name="&bogus;">"#,
            r#"<Data Name="<lt>">"#,
            r#"<Data Guid="" Name="">"#,
        ];
        for tag in tags {
            let mut reader = Reader::from_str(tag);
            let e = match reader.read_event() {
                Ok(XmlEvent::Start(e) | XmlEvent::Empty(e)) => e.into_owned(),
                // Not a tag the reader gives (an unclosed quote).
                _ => continue,
            };
            let names = ["Name", "Guid", "ProcessID", "SystemTime"];
            let checked = attrs_checked(&e, names);
            if let Some(plain) = attrs_plain(&e, names) {
                assert_eq!(Ok(plain), checked, "{tag}");
            }
            assert_eq!(attrs(&e, names), checked, "{tag}");
        }
        // The plain reader takes the common forms itself.
        let mut reader = Reader::from_str(tags[0]);
        let Ok(XmlEvent::Empty(e)) = reader.read_event() else {
            panic!("not an empty tag");
        };
        assert!(attrs_plain(&e, ["Name"]).is_some());
    }

    fn decode(text: &str) -> Sink {
        let mut d = EtwXmlDecoder::default();
        let mut sink = Sink::new(0);
        for (i, l) in crate::decode::common::lines(text).enumerate() {
            d.line(i as u64 + 1, l, &mut sink);
        }
        d.finish(&mut sink);
        sink
    }

    const ONE: &str = r#"<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-TCPIP" Guid="{2f07e2ee-15db-40f1-90ef-9d7ba282188a}"/><EventID>1033</EventID><Version>0</Version><TimeCreated SystemTime="2026-10-03T14:29:18.912955800-05:00"/><Execution ProcessID="10040" ThreadID="18656" ProcessorID="1"/></System><EventData><Data Name="Tcb">0xFFFFE189BD811AA0</Data><Data Name="Pid">4 &amp; 5</Data></EventData><RenderingInfo Culture="en-US"><Message>TCP: done &lt;ok&gt;</Message><Task>TcpConnectTcbComplete</Task></RenderingInfo></Event>"#;

    #[test]
    fn one_line_element_with_offset_time_and_entities() {
        let s = decode(ONE);
        assert_eq!(
            s.counts,
            LineCounts {
                parsed: 1,
                ..LineCounts::default()
            }
        );
        let e = &s.events[0];
        assert_eq!(e.provider.as_deref(), Some("Microsoft-Windows-TCPIP"));
        assert_eq!(e.event_id, Some(1033));
        assert_eq!(
            e.ts.unwrap().to_string(),
            "2026-10-03T14:29:18.9129558-05:00"
        );
        assert_eq!(e.ts.unwrap().zone, Zone::Offset(-300));
        assert_eq!(
            (e.header_pid, e.tid, e.cpu),
            (Some(10040), Some(18656), Some(1))
        );
        assert_eq!(e.field("Pid"), Some("4 & 5"));
        assert_eq!(e.message, "TCP: done <ok>");
        assert_eq!(e.symbol.as_deref(), Some("TcpConnectTcbComplete"));
        assert_eq!(e.layer, Layer::Tcpip);
    }

    #[test]
    fn many_elements_on_one_line_and_one_element_on_many() {
        let two = format!("<Events>{ONE}{ONE}</Events>");
        let s = decode(&two);
        assert_eq!(s.events.len(), 2);
        assert_eq!(s.counts.parsed, 1);
        let pretty = ONE.replace("><", ">\n<");
        let n = crate::decode::common::count_lines(&pretty);
        let s = decode(&pretty);
        assert_eq!(s.events.len(), 1);
        assert_eq!(s.counts.parsed, n);
    }

    #[test]
    fn truncated_element_is_an_error_and_decoding_resumes() {
        let cut = &ONE[..ONE.len() / 2];
        let text = format!("<Events>\n{cut}\n{ONE}\n</Events>");
        let s = decode(&text);
        assert_eq!(s.events.len(), 1);
        assert_eq!(s.counts.error, 1);
        assert_eq!(s.counts.parsed, 1);
        assert_eq!(s.counts.skipped, 2);
        assert_eq!(s.diagnostics[0].source.line, 2);
        // Truncated at end of input.
        let s = decode(cut);
        assert_eq!((s.counts.error, s.events.len()), (1, 0));
    }

    #[test]
    fn mismatched_tags_and_deep_nesting_are_errors() {
        let bad = ONE.replace("</EventID>", "</EventId>");
        assert_eq!(decode(&bad).counts.error, 1);
        let deep = format!(
            "<Event><UserData>{}x{}</UserData></Event>",
            "<a>".repeat(100),
            "</a>".repeat(100)
        );
        let s = decode(&deep);
        assert_eq!(s.counts.error, 1);
        assert!(s.diagnostics[0].message.contains("nested"));
    }

    #[test]
    fn user_data_is_flattened() {
        let x = r#"<Event><System><Provider Name="P"/></System><UserData><W xmlns="u"><A>1</A><B><C>2</C></B><D/></W></UserData></Event>"#;
        let s = decode(x);
        let f = &s.events[0].fields;
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            vec![("A", "1"), ("B.C", "2"), ("D", "")]
        );
    }

    #[test]
    fn system_time_forms() {
        assert_eq!(
            parse_system_time("2010-01-14T11:20:14.142415800Z")
                .unwrap()
                .to_string(),
            "2010-01-14T11:20:14.1424158Z"
        );
        assert_eq!(
            parse_system_time("2026-10-03T14:29:18.9129558+0530")
                .unwrap()
                .zone,
            Zone::Offset(330)
        );
        assert_eq!(
            parse_system_time("2026-10-03T14:29:18").unwrap().zone,
            Zone::Local
        );
        assert!(parse_system_time("2026-13-03T14:29:18Z").is_none());
        assert!(parse_system_time("garbage").is_none());
    }

    #[test]
    fn sniffs_roots_and_bare_events() {
        assert!(sniff(
            "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<Events>\n<Event xmlns=\"x\">"
        ));
        assert!(sniff(
            "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>"
        ));
        assert!(sniff("  <Event><System>"));
        assert!(!sniff("<html><body>"));
        assert!(!sniff("Event Name, Type, TID"));
    }

    #[test]
    fn junk_between_elements_is_unknown() {
        let s = decode(&format!("hello\n{ONE}"));
        assert_eq!(s.counts.unknown, 1);
        assert_eq!(s.counts.parsed, 1);
    }
}
