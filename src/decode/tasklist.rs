//! `tasklist` output in every form: the default table, `/svc`, `/m`, `/v`,
//! `/fo csv` (with or without `/nh`) and `/fo list`, in any UI language.
//!
//! Headers are localized (`Image Name`, `Abbildname`, `Nom de l'image`,
//! `Имя образа`…), so nothing here keys on English words. The shape does the
//! work instead:
//! - table form: the `=====` underline gives the column spans; the number of
//!   columns tells the form (3 = `/svc` or `/m`, 5 = default, 9 = `/v`);
//! - CSV form: the field count tells the form, a non-numeric PID field marks
//!   the header;
//! - list form: blocks of `Label: value` lines; the position of a line in
//!   its block names the field (3, 5 or 9 lines per block);
//! - rows without header or underline (`/nh`, `findstr`/`Select-String`
//!   output, pastes with collapsed spaces) are parsed from their tokens: an
//!   image name, the first integer as PID, then either the session columns
//!   (`… <session#> <memory> <unit>`) or a service/module list.
//!
//! `/svc` and `/m` wrap long lists onto continuation rows that leave the
//! image and PID columns blank; they are merged into the pending row, which
//! is emitted when the next record starts (or at the end).

use super::common::parse_grouped_u64;
use super::{LineClass, LineDecoder, Sink};
use crate::event::{Event, Kind, Layer, SourceRef};

/// Localized spellings of "N/A" that tasklist prints in the services,
/// modules, user and window-title columns. Rows for PID 0 and 4 also teach
/// the decoder the spelling of the file's locale (see [`Decoder::learn_na`]).
const NA_SPELLINGS: &[&str] = &[
    "n/a",
    "nicht zutreffend",
    "non applicable",
    "sans objet",
    "n/d",
    "no disponible",
    "no aplicable",
    "não aplicável",
    "não disponível",
    "non disponibile",
    "н/д",
    "нет данных",
    "暂缺",
    "不適用",
    "無",
    "なし",
    "해당 없음",
    "niet van toepassing",
    "nie dotyczy",
    "ej tillämpligt",
    "ikke relevant",
    "ei saatavilla",
    "yok",
    "geçerli değil",
];

/// Module file extensions: a list containing one of these is a `/m` module
/// list, otherwise it is a `/svc` service list.
const MODULE_EXTENSIONS: &[&str] = &[
    ".dll", ".exe", ".drv", ".ocx", ".cpl", ".sys", ".mui", ".ax", ".ime", ".tlb", ".winmd",
    ".acm", ".tsp", ".flt",
];

/// Which column set a row carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// Image, PID, session name, session#, memory.
    Basic,
    /// Basic plus status, user, CPU time, window title (`/v`).
    Verbose,
    /// Image, PID, a list of services (`/svc`) or modules (`/m`).
    List,
}

impl Form {
    fn from_columns(n: usize) -> Option<Form> {
        match n {
            3 => Some(Form::List),
            5 => Some(Form::Basic),
            9 => Some(Form::Verbose),
            _ => None,
        }
    }
}

/// One process row being assembled (a table row plus its continuation
/// rows, a CSV row, or a list block).
#[derive(Debug, Default)]
struct Row {
    first_line: u64,
    lines: u64,
    raw: String,
    image: String,
    pid: u32,
    session_name: Option<String>,
    session: Option<String>,
    mem: Option<String>,
    status: Option<String>,
    user: Option<String>,
    cpu_time: Option<String>,
    window_title: Option<String>,
    /// The `/svc` or `/m` list, already split into items.
    items: Vec<String>,
    /// Whether the row has a list column at all (so `N/A` can be told from
    /// "not this form").
    has_list: bool,
    /// The list column said N/A (or was empty).
    list_na: bool,
}

/// A `/fo list` block: `(label, value lines)` in order, and the source lines.
#[derive(Debug, Default)]
struct ListBlock {
    fields: Vec<(String, Vec<String>)>,
    lines: Vec<(u64, String)>,
}

#[derive(Default)]
pub struct TasklistDecoder {
    /// Column spans (char offsets) from the last `=====` underline.
    columns: Option<Vec<(usize, usize)>>,
    /// A table or CSV row waiting for continuation rows.
    pending: Option<Row>,
    /// A `/fo list` block being collected.
    block: Option<ListBlock>,
    /// A line that is not a row: the header if an underline follows,
    /// otherwise unknown.
    deferred: Option<(u64, String)>,
    /// Locale N/A spellings learned from the PID 0 / PID 4 rows.
    learned_na: Vec<String>,
    /// Once a list column held module names, the file is a `/m` listing.
    modules_seen: bool,
}

impl LineDecoder for TasklistDecoder {
    fn line(&mut self, line_no: u64, line: &str, sink: &mut Sink) {
        let line = line.trim_start_matches('\u{feff}');
        let text = line.trim_end();
        let trimmed = text.trim_start();

        if trimmed.is_empty() {
            self.flush_all(sink);
            sink.skipped();
            return;
        }

        if let Some(spans) = underline_spans(text) {
            self.flush_row(sink);
            self.flush_block(sink);
            // The line before an underline is the column header.
            if self.deferred.take().is_some() {
                sink.skipped();
            }
            self.columns = Some(spans);
            sink.skipped();
            return;
        }

        if trimmed.starts_with('"') {
            self.flush_deferred(sink);
            self.flush_block(sink);
            self.csv_line(line_no, trimmed, sink);
            return;
        }

        // Table row by column spans.
        if let Some(spans) = self.columns.clone() {
            match self.table_line(line_no, text, &spans) {
                TableLine::Row(row) => {
                    self.flush_deferred(sink);
                    self.flush_row(sink);
                    self.pending = Some(*row);
                    return;
                }
                TableLine::Continuation(items) => {
                    if let Some(p) = self.pending.as_mut() {
                        p.items.extend(items);
                        p.lines += 1;
                        return;
                    }
                }
                TableLine::No => {}
            }
        }

        // `/fo list`: `Label: value` lines and indented continuation values.
        if !starts_with_space(text) {
            if let Some((label, value)) = split_label(text)
                && row_by_shape(text).is_none()
            {
                self.flush_deferred(sink);
                self.flush_row(sink);
                self.list_field(line_no, text, label, value, sink);
                return;
            }
        } else if let Some(block) = self.block.as_mut()
            && let Some((_, values)) = block.fields.last_mut()
        {
            values.push(trimmed.to_string());
            block.lines.push((line_no, text.to_string()));
            return;
        }

        // Rows without an underline (`/nh`, filtered output, pastes).
        if let Some(mut row) = row_by_shape(text) {
            self.flush_deferred(sink);
            self.flush_row(sink);
            self.flush_block(sink);
            row.first_line = line_no;
            self.pending = Some(row);
            return;
        }

        // An indented list continuation of a header-less `/svc` or `/m` row.
        if starts_with_space(text)
            && let Some(p) = self.pending.as_mut()
            && p.has_list
            && !p.list_na
            && looks_like_list(trimmed)
        {
            p.items.extend(split_list(trimmed));
            p.lines += 1;
            return;
        }

        // "INFO: No tasks are running which match the specified criteria."
        if trimmed.starts_with("INFO:") {
            self.flush_all(sink);
            sink.skipped();
            return;
        }

        self.flush_row(sink);
        self.flush_block(sink);
        self.flush_deferred(sink);
        self.deferred = Some((line_no, text.to_string()));
    }

    fn finish(&mut self, sink: &mut Sink) {
        self.flush_all(sink);
    }
}

enum TableLine {
    Row(Box<Row>),
    Continuation(Vec<String>),
    No,
}

impl TasklistDecoder {
    fn flush_all(&mut self, sink: &mut Sink) {
        self.flush_row(sink);
        self.flush_block(sink);
        self.flush_deferred(sink);
    }

    fn flush_deferred(&mut self, sink: &mut Sink) {
        if let Some((n, text)) = self.deferred.take() {
            sink.unknown(n, &text);
        }
    }

    fn flush_row(&mut self, sink: &mut Sink) {
        if let Some(row) = self.pending.take() {
            let lines = row.lines;
            let ev = self.event(sink.src(row.first_line), row);
            sink.event(ev);
            sink.lines(LineClass::Parsed, lines);
        }
    }

    fn flush_block(&mut self, sink: &mut Sink) {
        let Some(block) = self.block.take() else {
            return;
        };
        match self.block_row(&block) {
            Some(row) => {
                let lines = block.lines.len() as u64;
                let ev = self.event(sink.src(row.first_line), row);
                sink.event(ev);
                sink.lines(LineClass::Parsed, lines);
            }
            None => {
                for (n, text) in &block.lines {
                    sink.unknown(*n, text);
                }
            }
        }
    }

    fn csv_line(&mut self, line_no: u64, trimmed: &str, sink: &mut Sink) {
        let Some(cells) = split_csv(trimmed) else {
            self.flush_row(sink);
            sink.error(line_no, "unterminated quote in tasklist CSV row");
            return;
        };
        let form = Form::from_columns(cells.len());
        let pid = cells.get(1).and_then(|p| parse_pid(p));
        match (form, pid) {
            (Some(form), Some(pid)) => {
                self.flush_row(sink);
                let mut row = Row {
                    first_line: line_no,
                    lines: 1,
                    raw: trimmed.to_string(),
                    pid,
                    ..Row::default()
                };
                let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
                fill_row(&mut row, form, &cells);
                self.pending = Some(row);
            }
            (Some(_), None) => {
                // The localized header line.
                self.flush_row(sink);
                sink.skipped();
            }
            _ => {
                self.flush_row(sink);
                sink.unknown(line_no, trimmed);
            }
        }
    }

    fn table_line(&self, line_no: u64, text: &str, spans: &[(usize, usize)]) -> TableLine {
        let Some(form) = Form::from_columns(spans.len()) else {
            return TableLine::No;
        };
        let cells = cut_columns(text, spans);
        let image = cells.first().copied().unwrap_or("");
        let pid_cell = cells.get(1).copied().unwrap_or("");
        if image.is_empty() && pid_cell.is_empty() {
            if form == Form::List
                && let Some(last) = cells.get(2).filter(|c| !c.is_empty())
            {
                return TableLine::Continuation(split_list(last));
            }
            return TableLine::No;
        }
        let Some(pid) = parse_pid(pid_cell) else {
            return TableLine::No;
        };
        if image.is_empty() {
            return TableLine::No;
        }
        if matches!(form, Form::Basic | Form::Verbose) {
            // Misaligned rows (wide characters, edited pastes) fall back to
            // the token shape parser.
            let session_ok = cells.get(3).is_some_and(|s| s.parse::<u32>().is_ok());
            if !session_ok {
                return TableLine::No;
            }
        }
        let mut row = Row {
            first_line: line_no,
            lines: 1,
            raw: text.trim().to_string(),
            pid,
            ..Row::default()
        };
        fill_row(&mut row, form, &cells);
        TableLine::Row(Box::new(row))
    }

    fn list_field(&mut self, line_no: u64, text: &str, label: &str, value: &str, sink: &mut Sink) {
        let restart = self
            .block
            .as_ref()
            .and_then(|b| b.fields.first())
            .is_some_and(|(first, _)| first == label);
        if restart {
            self.flush_block(sink);
        }
        let block = self.block.get_or_insert_with(ListBlock::default);
        let values = if value.is_empty() {
            Vec::new()
        } else {
            vec![value.to_string()]
        };
        block.fields.push((label.to_string(), values));
        block.lines.push((line_no, text.to_string()));
    }

    /// Maps a list block to a row by the position of its fields.
    fn block_row(&self, block: &ListBlock) -> Option<Row> {
        let form = Form::from_columns(block.fields.len())?;
        let joined: Vec<String> = block
            .fields
            .iter()
            .map(|(_, v)| v.join(" ").trim().to_string())
            .collect();
        let pid = parse_pid(joined.get(1)?)?;
        let (first_line, first_text) = block.lines.first()?;
        let mut row = Row {
            first_line: *first_line,
            lines: block.lines.len() as u64,
            raw: first_text.trim().to_string(),
            pid,
            ..Row::default()
        };
        let cells: Vec<&str> = joined.iter().map(String::as_str).collect();
        fill_row(&mut row, form, &cells);
        if form == Form::List {
            // One item per line in list form; each line may also hold commas.
            if let Some((_, values)) = block.fields.get(2) {
                row.items = values.iter().flat_map(|v| split_list(v)).collect();
                row.list_na = row.items.is_empty();
            }
        }
        Some(row)
    }

    fn is_na(&self, s: &str) -> bool {
        let t = s.trim();
        t.is_empty() || is_known_na(t) || self.learned_na.iter().any(|n| n == t)
    }

    /// PID 0 (System Idle Process) and PID 4 (System) never host services
    /// or modules and have no window: whatever those columns hold is the
    /// locale's N/A.
    fn learn_na(&mut self, row: &Row) {
        if row.pid != 0 && row.pid != 4 {
            return;
        }
        let mut candidates: Vec<String> = Vec::new();
        if row.has_list && row.items.len() == 1 {
            candidates.extend(row.items.first().cloned());
        }
        candidates.extend(row.window_title.clone());
        for c in candidates {
            let c = c.trim().to_string();
            if !c.is_empty() && !self.learned_na.contains(&c) && self.learned_na.len() < 8 {
                self.learned_na.push(c);
            }
        }
    }

    fn event(&mut self, source: SourceRef, mut row: Row) -> Event {
        self.learn_na(&row);
        if row.has_list && row.items.iter().any(|i| is_module_name(i)) {
            self.modules_seen = true;
        }
        if row.items.len() == 1 && row.items.first().is_some_and(|i| self.is_na(i)) {
            row.items.clear();
            row.list_na = true;
        }

        let mut ev = Event::new(source, Layer::Process, Kind::ProcessInfo);
        ev.provider = Some("tasklist".into());
        ev.pid = Some(row.pid);
        ev.process_name = Some(row.image.clone());
        let mut fields = crate::event::Fields::new();
        fields.push("image", &row.image);
        fields.push_int("pid", row.pid);
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                fields.push(k.to_string(), &v);
            }
        };
        push("session_name", row.session_name.take());
        push("session", row.session.take());
        push(
            "mem_kb",
            row.mem
                .as_deref()
                .and_then(parse_mem_kb)
                .map(|v| v.to_string()),
        );
        push("status", row.status.take());
        let user = row.user.take().filter(|u| !self.is_na(u));
        push("user", user);
        push("cpu_time", row.cpu_time.take());
        let title = row.window_title.take().filter(|t| !self.is_na(t));
        push("window_title", title);
        if row.has_list && !row.items.is_empty() {
            let list = row.items.join(",");
            let is_modules = self.modules_seen || row.items.iter().any(|i| is_module_name(i));
            push(if is_modules { "modules" } else { "services" }, Some(list));
        }
        ev.fields = fields;
        ev.message = row.raw;
        ev
    }
}

/// Fills the named columns of `row` from cells in tasklist column order.
fn fill_row(row: &mut Row, form: Form, cells: &[&str]) {
    let cell = |i: usize| cells.get(i).map(|c| c.trim().to_string());
    row.image = cell(0).unwrap_or_default();
    match form {
        Form::List => {
            row.has_list = true;
            let list = cell(2).unwrap_or_default();
            row.items = split_list(&list);
            row.list_na = row.items.is_empty();
        }
        Form::Basic | Form::Verbose => {
            row.session_name = cell(2);
            row.session = cell(3);
            row.mem = cell(4);
            if form == Form::Verbose {
                row.status = cell(5);
                row.user = cell(6);
                row.cpu_time = cell(7);
                row.window_title = cell(8);
            }
        }
    }
}

fn starts_with_space(s: &str) -> bool {
    s.starts_with([' ', '\t'])
}

fn parse_pid(s: &str) -> Option<u32> {
    let t = s.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// Memory in KB from `1,040,592 K`, `13.160 K`, `34 452 Ko`, `64 200 КБ`;
/// `None` for N/A in any language.
pub fn parse_mem_kb(s: &str) -> Option<u64> {
    let t = s.trim();
    let last_digit = t.rfind(|c: char| c.is_ascii_digit())?;
    let number = t.get(..=last_digit)?;
    let unit = t.get(last_digit + 1..)?.trim();
    if unit.chars().count() > 3 || unit.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    parse_grouped_u64(number)
}

/// Whether `s` is a memory cell (`8 K`, `1.420 K`) rather than N/A.
fn is_mem(s: &str) -> bool {
    parse_mem_kb(s).is_some()
}

fn is_module_name(item: &str) -> bool {
    let l = item.to_ascii_lowercase();
    MODULE_EXTENSIONS.iter().any(|e| l.ends_with(e))
}

/// Splits a service/module list cell (`A, B, C,`) into items.
fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(str::to_string)
        .collect()
}

/// A continuation of a service/module list: names separated by commas,
/// no runs of spaces inside a name.
fn looks_like_list(s: &str) -> bool {
    !s.is_empty()
        && s.split(',')
            .map(str::trim)
            .all(|i| !i.contains(' ') && !i.contains('\t'))
}

/// `=====` underline: runs of `=` separated by single spaces. Returns the
/// char spans of the runs.
fn underline_spans(text: &str) -> Option<Vec<(usize, usize)>> {
    let t = text.trim();
    if t.is_empty() || !t.chars().all(|c| c == '=' || c == ' ') {
        return None;
    }
    let mut spans = Vec::new();
    let mut start: Option<usize> = None;
    let mut count = 0;
    for (i, c) in text.chars().enumerate() {
        count = i + 1;
        match (c, start) {
            ('=', None) => start = Some(i),
            ('=', Some(_)) => {}
            (_, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            (_, None) => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, count));
    }
    (spans.len() >= 2).then_some(spans)
}

/// Cuts `text` into cells by char spans: cell `i` runs from its span's start
/// to the next span's start (the last cell to the end of the line), trimmed.
fn cut_columns<'a>(text: &'a str, spans: &[(usize, usize)]) -> Vec<&'a str> {
    let byte_at = |char_idx: usize| -> usize {
        text.char_indices()
            .nth(char_idx)
            .map_or(text.len(), |(b, _)| b)
    };
    let mut cells = Vec::with_capacity(spans.len());
    for (i, (start, _)) in spans.iter().enumerate() {
        let from = byte_at(*start);
        let to = spans
            .get(i + 1)
            .map_or(text.len(), |(next, _)| byte_at(*next));
        let cell = if i == 0 {
            // The first column also takes any text left of the underline
            // (indented pastes shift the header and rows alike).
            text.get(..to)
        } else {
            text.get(from.min(to)..to)
        };
        cells.push(cell.unwrap_or("").trim());
    }
    cells
}

/// `Label: value` of `/fo list`, with the label in any language. The label
/// ends at the first `:` (or full-width `：`) followed by a space or the end
/// of the line; values may contain colons (`0:00:01`, `C:\…`).
fn split_label(text: &str) -> Option<(&str, &str)> {
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if c == ':' || c == '：' {
            let next = iter.peek().map(|(_, n)| *n);
            if next.is_none() || next.is_some_and(|n| n == ' ' || n == '\t') {
                let label = text.get(..i)?.trim();
                let value = text.get(i + c.len_utf8()..)?.trim();
                if label.is_empty() || label.contains("  ") || label.chars().count() > 40 {
                    return None;
                }
                return Some((label, value));
            }
        }
    }
    None
}

/// Splits a quoted CSV line (`"a","b,c","d ""e"""`). `None` when a quote is
/// not closed.
fn split_csv(line: &str) -> Option<Vec<String>> {
    let mut cells = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut cell = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        cell.push('"');
                    } else {
                        closed = true;
                        break;
                    }
                } else {
                    cell.push(c);
                }
            }
            if !closed {
                return None;
            }
            // Anything between the closing quote and the comma is kept.
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                cell.push(c);
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                cell.push(c);
                chars.next();
            }
        }
        cells.push(cell);
        match chars.next() {
            Some(',') => continue,
            _ => break,
        }
    }
    Some(cells)
}

/// Tokens separated by ASCII spaces/tabs only: NBSP is a thousands
/// separator inside the memory column, not a column break.
fn tokens(s: &str) -> Vec<&str> {
    s.split([' ', '\t']).filter(|t| !t.is_empty()).collect()
}

fn is_cpu_time(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Parses a row without column spans from its tokens. Image names may hold
/// spaces; the PID is the first all-digit token after at least one token.
fn row_by_shape(text: &str) -> Option<Row> {
    let toks = tokens(text);
    let pid_at = toks
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, t)| parse_pid(t).is_some())
        .map(|(i, _)| i)?;
    let pid = parse_pid(toks.get(pid_at)?)?;
    let image = toks.get(..pid_at)?.join(" ");
    let rest = toks.get(pid_at + 1..)?;
    if rest.is_empty() || !plausible_image(&image) {
        return None;
    }
    let mut row = Row {
        lines: 1,
        raw: text.trim().to_string(),
        image,
        pid,
        ..Row::default()
    };

    // `/v`: … <session#> <mem> <unit> <status> <user> <h:mm:ss> <title>
    if let Some(cpu_at) = rest.iter().position(|t| is_cpu_time(t)) {
        let (before, after) = rest.split_at(cpu_at);
        if let Some(basic_len) = basic_prefix_len(before) {
            let basic = before.get(..basic_len)?;
            fill_basic(&mut row, basic)?;
            let middle = before.get(basic_len..)?.join(" ");
            // Status and user are separated by a run of spaces in the
            // original line; find them there.
            let (status, user) = split_status_user(text, &middle);
            row.status = status;
            row.user = user;
            row.cpu_time = after.first().map(|s| s.to_string());
            let title = after.get(1..).map(|t| t.join(" ")).unwrap_or_default();
            row.window_title = Some(title);
            return Some(row);
        }
    }

    // Default: [session name…] <session#> <mem> <unit>  (or N/A memory).
    if basic_prefix_len(rest) == Some(rest.len()) {
        fill_basic(&mut row, rest)?;
        return Some(row);
    }

    // `/svc` or `/m`: a comma-separated list of names, or N/A.
    let list = rest.join(" ");
    let names_ok = split_list(&list).iter().all(|i| plausible_list_item(i));
    if (names_ok && looks_like_list(&list)) || is_known_na(&list) {
        row.has_list = true;
        row.items = split_list(&list);
        row.list_na = row.items.is_empty();
        return Some(row);
    }
    None
}

/// An image name as the table form prints it: at most 25 characters (the
/// column truncates), at least one letter, and none of the characters
/// Windows forbids in file names.
fn plausible_image(s: &str) -> bool {
    s.chars().count() <= 25
        && s.chars().any(char::is_alphabetic)
        && !s.chars().any(|c| {
            c.is_control()
                || matches!(
                    c,
                    '<' | '>' | ':' | '"' | '/' | '\\' | '|' | '?' | '*' | ','
                )
        })
}

/// A service short name or module file name.
fn plausible_list_item(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| {
            c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '$' | '@' | '#' | '~' | '{' | '}')
        })
}

fn is_known_na(s: &str) -> bool {
    let t = s.trim().to_lowercase();
    NA_SPELLINGS.iter().any(|n| *n == t)
}

/// Length of the longest prefix of `toks` shaped like
/// `[session name…] <session#> <mem…> <unit>` or `… <session#> N/A`.
fn basic_prefix_len(toks: &[&str]) -> Option<usize> {
    (2..=toks.len())
        .rev()
        .find(|&end| toks.get(..end).is_some_and(|t| split_basic(t).is_some()))
}

/// Splits basic-column tokens into (session name, session#, memory text).
fn split_basic<'a>(toks: &[&'a str]) -> Option<(String, &'a str, String)> {
    let n = toks.len();
    let last = *toks.last()?;
    // Memory N/A (no unit): `… <session#> N/A`.
    if n >= 2 && !last.bytes().any(|b| b.is_ascii_digit()) && last.contains('/') {
        let session = *toks.get(n - 2)?;
        session.parse::<u32>().ok()?;
        let name = toks.get(..n - 2)?.join(" ");
        return Some((name, session, last.to_string()));
    }
    // `<mem groups…> <unit>` where the unit has no digits, or a unit glued
    // to the number.
    let (unit_len, unit) = if last.bytes().any(|b| b.is_ascii_digit()) {
        (0, "")
    } else {
        (1, last)
    };
    if unit.chars().count() > 3 {
        return None;
    }
    let body = toks.get(..n - unit_len)?;
    // Try the longest memory group run first: `1 040 592` with plain spaces.
    let max_groups = body.len().saturating_sub(1).min(4);
    for groups in (1..=max_groups).rev() {
        let mem_toks = body.get(body.len() - groups..)?;
        let valid = mem_toks.iter().enumerate().all(|(i, t)| {
            let digits_ok = if i == 0 {
                t.chars().any(|c| c.is_ascii_digit()) && parse_mem_kb(&format!("{t} K")).is_some()
            } else {
                t.len() == 3 && t.bytes().all(|b| b.is_ascii_digit())
            };
            digits_ok && !(i == 0 && groups > 1 && t.starts_with('0'))
        });
        if !valid {
            continue;
        }
        let session_idx = body.len() - groups - 1;
        let session = *body.get(session_idx)?;
        if session.parse::<u32>().is_err() {
            continue;
        }
        let name = body.get(..session_idx)?.join(" ");
        let mem = format!("{} {}", mem_toks.join(" "), unit)
            .trim()
            .to_string();
        if !is_mem(&mem) {
            continue;
        }
        return Some((name, session, mem));
    }
    None
}

fn fill_basic(row: &mut Row, toks: &[&str]) -> Option<()> {
    let (name, session, mem) = split_basic(toks)?;
    row.session_name = Some(name);
    row.session = Some(session.to_string());
    row.mem = Some(mem);
    Some(())
}

/// Status and user of a header-less `/v` row: in the original line they are
/// separated by a run of two or more spaces.
fn split_status_user(line: &str, middle: &str) -> (Option<String>, Option<String>) {
    let words: Vec<&str> = tokens(middle);
    if words.is_empty() {
        return (None, None);
    }
    // Find where the middle sits in the line and split it on wide gaps.
    if let Some(first) = words.first()
        && let Some(pos) = line.find(&format!(" {first}"))
    {
        let tail = line.get(pos..).unwrap_or("");
        let parts = super::common::split_wide(tail);
        let joined_len: usize = words.len();
        let mut status_words = Vec::new();
        if let Some(p) = parts.first() {
            status_words = tokens(p);
        }
        if !status_words.is_empty() && status_words.len() < joined_len {
            let user = words.get(status_words.len()..).map(|w| w.join(" "));
            return (Some(status_words.join(" ")), user);
        }
    }
    let status = words.first().map(|s| s.to_string());
    let user = words
        .get(1..)
        .map(|w| w.join(" "))
        .filter(|u| !u.is_empty());
    (status, user)
}

/// Whether the first lines of a text look like tasklist output in any form.
pub fn sniff(head: &str) -> bool {
    let mut label_values: Vec<String> = Vec::new();
    for line in super::common::lines(head).take(40) {
        let line = line.trim_start_matches('\u{feff}').trim_end();
        let t = line.trim_start();
        if t.is_empty() {
            if is_list_block(&label_values) {
                return true;
            }
            label_values.clear();
            continue;
        }
        if let Some(spans) = underline_spans(line) {
            // Image column 25 wide, PID column 8 wide.
            let first_two = spans
                .get(..2)
                .map(|s| s.iter().map(|(a, b)| b - a).collect::<Vec<_>>());
            if Form::from_columns(spans.len()).is_some() && first_two == Some(vec![25, 8]) {
                return true;
            }
            continue;
        }
        if t.starts_with('"') {
            if let Some(cells) = split_csv(t) {
                let pid_ok = cells.get(1).and_then(|p| parse_pid(p)).is_some();
                let shape_ok = match cells.len() {
                    5 | 9 => cells.get(3).is_some_and(|s| parse_pid(s).is_some()),
                    3 => true,
                    _ => false,
                };
                if pid_ok && shape_ok {
                    return true;
                }
            }
            continue;
        }
        if let Some((_, value)) = split_label(line) {
            label_values.push(value.to_string());
            continue;
        }
        if let Some(row) = row_by_shape(line) {
            let exe = row.image.to_ascii_lowercase().ends_with(".exe");
            if row.session.is_some() || (exe && row.has_list) {
                return true;
            }
        }
    }
    is_list_block(&label_values)
}

fn is_list_block(values: &[String]) -> bool {
    let pid_ok = values.get(1).and_then(|p| parse_pid(p)).is_some();
    match values.len() {
        5 | 9 => pid_ok && values.get(3).and_then(|s| parse_pid(s)).is_some(),
        3 => pid_ok,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Format, decode_text};

    fn run(text: &str) -> Sink {
        decode_text(Format::Tasklist, 0, 1, text).expect("tasklist decoder")
    }

    fn total(s: &Sink) -> u64 {
        s.counts.total()
    }

    #[test]
    fn default_table_with_dot_thousands() {
        let text = "\nImage Name                     PID Session Name        Session#    Mem Usage\n\
========================= ======== ================ =========== ============\n\
node.exe                      5376 Console                    1      1.420 K\n\
node.exe                      5052 Console                    1     27.296 K\n";
        let s = run(text);
        assert_eq!(s.counts.parsed, 2);
        assert_eq!(s.counts.skipped, 3);
        assert_eq!(s.counts.unknown, 0);
        let e = &s.events[1];
        assert_eq!(e.pid, Some(5052));
        assert_eq!(e.field("mem_kb"), Some("27296"));
        assert_eq!(e.field("session_name"), Some("Console"));
        assert_eq!(e.field("session"), Some("1"));
    }

    #[test]
    fn truncated_image_name_fills_the_column() {
        let text = "Image Name                     PID Session Name        Session#    Mem Usage\n\
========================= ======== ================ =========== ============\n\
WindowsInternal.Composabl    20396 Console                    2      4,076 K\n";
        let s = run(text);
        assert_eq!(s.events.len(), 1);
        assert_eq!(
            s.events[0].process_name.as_deref(),
            Some("WindowsInternal.Composabl")
        );
        assert_eq!(s.events[0].field("mem_kb"), Some("4076"));
    }

    #[test]
    fn svc_continuation_rows_merge() {
        let text = concat!(
            "Image Name                     PID Services\n",
            "========================= ======== ============================================\n",
            "System Idle Process              0 N/A\n",
            "svchost.exe                    800 BrokerInfrastructure, DcomLaunch, LSM,\n",
            "                                   PlugPlay, Power\n",
            "lsass.exe                      664 KeyIso, SamSs\n",
        );
        let s = run(text);
        assert_eq!(s.counts.parsed, 4);
        assert_eq!(s.counts.skipped, 2);
        assert_eq!(s.events.len(), 3);
        assert_eq!(s.events[0].field("services"), None);
        assert_eq!(
            s.events[1].field("services"),
            Some("BrokerInfrastructure,DcomLaunch,LSM,PlugPlay,Power")
        );
        assert_eq!(s.events[2].field("services"), Some("KeyIso,SamSs"));
    }

    #[test]
    fn select_string_line_with_indentation() {
        let s = run("     svchost.exe                   2300 hns");
        assert_eq!(s.counts.parsed, 1);
        assert_eq!(s.events[0].pid, Some(2300));
        assert_eq!(s.events[0].field("services"), Some("hns"));
    }

    #[test]
    fn collapsed_spaces_paste() {
        let s = run("store.exe 2136 Console 0 1,040,592 K\nSystem Idle Process 0 Services 0 8 K");
        assert_eq!(s.counts.parsed, 2);
        assert_eq!(s.events[0].field("mem_kb"), Some("1040592"));
        assert_eq!(
            s.events[1].process_name.as_deref(),
            Some("System Idle Process")
        );
        assert_eq!(s.events[1].field("session_name"), Some("Services"));
    }

    #[test]
    fn headerless_verbose_row_by_shape() {
        let s = run(
            "ssms.exe   7424 RDP-Tcp#3   2   412,660 K Not Responding  CONTOSO\\bob   0:12:48 SQLQuery1.sql - Studio",
        );
        assert_eq!(s.counts.parsed, 1);
        let e = &s.events[0];
        assert_eq!(e.field("status"), Some("Not Responding"));
        assert_eq!(e.field("user"), Some("CONTOSO\\bob"));
        assert_eq!(e.field("cpu_time"), Some("0:12:48"));
        assert_eq!(e.field("window_title"), Some("SQLQuery1.sql - Studio"));
        assert_eq!(e.field("mem_kb"), Some("412660"));
    }

    #[test]
    fn csv_with_na_memory_and_header() {
        let s = run(
            "\"Image Name\",\"PID\",\"Session Name\",\"Session#\",\"Mem Usage\"\n\
\"vmmem\",\"13516\",\"Services\",\"0\",\"N/A\"\n",
        );
        assert_eq!((s.counts.parsed, s.counts.skipped), (1, 1));
        assert_eq!(s.events[0].field("mem_kb"), None);
        assert_eq!(s.events[0].field("session_name"), Some("Services"));
    }

    #[test]
    fn list_form_german_positions() {
        let text = "\nAbbildname:      System Idle Process\nPID:             0\nSitzungsname:    Services\n\
Sitz.-Nr.:       0\nSpeichernutzung: 8 K\nStatus:          Unbekannt\nBenutzername:    NT-AUTORITÄT\\SYSTEM\n\
CPU-Zeit:        12:11:05\nFenstertitel:    Nicht zutreffend\n\nAbbildname:      explorer.exe\nPID:             4711\n\
Sitzungsname:    Console\nSitz.-Nr.:       1\nSpeichernutzung: 13.160 K\nStatus:          Wird ausgeführt\n\
Benutzername:    PC\\anna\nCPU-Zeit:        0:00:05\nFenstertitel:    Nicht zutreffend\n";
        let s = run(text);
        assert_eq!(s.counts.parsed, 18);
        assert_eq!(s.counts.skipped, 2);
        let e = &s.events[1];
        assert_eq!(e.field("mem_kb"), Some("13160"));
        assert_eq!(e.field("window_title"), None);
        assert_eq!(e.field("status"), Some("Wird ausgeführt"));
        assert_eq!(e.field("cpu_time"), Some("0:00:05"));
    }

    #[test]
    fn list_form_svc_values_on_lines() {
        let text = "Image Name:   svchost.exe\nPID:          800\nServices:     BrokerInfrastructure\n              DcomLaunch\n              LSM\n";
        let s = run(text);
        assert_eq!(s.counts.parsed, 5);
        assert_eq!(
            s.events[0].field("services"),
            Some("BrokerInfrastructure,DcomLaunch,LSM")
        );
    }

    #[test]
    fn modules_are_told_from_services() {
        let s = run(
            "\"Image Name\",\"PID\",\"Modules\"\n\"csrss.exe\",\"456\",\"ntdll.dll,CSRSRV.dll\"\n",
        );
        assert_eq!(s.events[0].field("modules"), Some("ntdll.dll,CSRSRV.dll"));
        assert_eq!(s.events[0].field("services"), None);
    }

    #[test]
    fn unknown_lines_are_kept_and_counted() {
        let s = run("hello world\nstore.exe 2136 Console 0 1,040,592 K\n");
        assert_eq!(s.counts.unknown, 1);
        assert_eq!(s.counts.parsed, 1);
        assert_eq!(total(&s), 2);
    }

    #[test]
    fn mem_of_any_locale() {
        assert_eq!(parse_mem_kb("1,040,592 K"), Some(1_040_592));
        assert_eq!(parse_mem_kb("34\u{a0}452 Ko"), Some(34_452));
        assert_eq!(parse_mem_kb("64 200 КБ"), Some(64_200));
        assert_eq!(parse_mem_kb("N/A"), None);
        assert_eq!(parse_mem_kb("Nicht zutreffend"), None);
    }

    #[test]
    fn sniff_recognises_forms() {
        assert!(sniff(
            "\"Image Name\",\"PID\",\"Session Name\",\"Session#\",\"Mem Usage\"\n\"System\",\"4\",\"Services\",\"0\",\"3,784 K\"\n"
        ));
        assert!(sniff(
            "\nAbbildname   PID Sitzungsname   Sitz.-Nr. Speichernutzung\n========================= ======== ================ =========== ============\n"
        ));
        assert!(sniff("     svchost.exe                   2300 hns"));
        assert!(!sniff(
            "  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       832"
        ));
        assert!(!sniff(
            "[0]08FC.2CB4::2023/06/22-18:55:06.496848300 [nt]NSI: Enter"
        ));
    }

    #[test]
    fn prose_is_not_a_process_row() {
        let prose = concat!(
            "=> It's payload is always 1 byte\n",
            "|-> HTTP/1.1 200 OK\n",
            "Wait Start TickCount 294068 Ticks: 6 (0:00:00:00.093)\n",
            "0 0 0\n",
            "8 posts | 1 followers\n",
            "a) Create a distribution package which simply includes a 100 MB executable file\n",
            "59270 0.000000 10.1.1.2 10.1.1.1 SMB Read AndX Response, 61440 bytes\n",
        );
        let s = run(prose);
        assert_eq!(
            s.events.len(),
            0,
            "{:?}",
            s.events.first().map(|e| &e.message)
        );
        assert_eq!(s.counts.unknown, 7);
        assert!(!sniff(prose));
    }

    #[test]
    fn headerless_svc_rows_with_wrapped_lists() {
        let text = concat!(
            "svchost.exe                    800 BrokerInfrastructure, DcomLaunch, LSM,\n",
            "                                   PlugPlay, Power\n",
            "System                           4 N/A\n",
            "vmmem                        13516 Services                   0           N/A\n",
        );
        let s = run(text);
        assert_eq!((s.counts.parsed, s.events.len()), (4, 3));
        assert_eq!(
            s.events[0].field("services"),
            Some("BrokerInfrastructure,DcomLaunch,LSM,PlugPlay,Power")
        );
        assert_eq!(s.events[1].field("services"), None);
        assert_eq!(s.events[2].field("session_name"), Some("Services"));
        assert_eq!(s.events[2].field("mem_kb"), None);
    }

    #[test]
    fn garbage_never_panics() {
        for t in [
            "\"unterminated",
            "=",
            "= =",
            "a:",
            "x 1",
            "\u{feff}",
            "é 1 ü 2 ö 3 K",
        ] {
            let s = run(t);
            assert_eq!(total(&s), crate::decode::common::count_lines(t));
        }
    }
}
