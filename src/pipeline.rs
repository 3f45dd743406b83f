//! The decode driver: inputs → files → encoding → format → chunks decoded
//! in parallel → events, with per-file line accounting.
//!
//! Output order is deterministic and independent of the thread count: files
//! keep discovery order, chunks keep file order, and rayon's indexed
//! `collect` keeps the order of its input.

use rayon::prelude::*;

use crate::decode::common::count_lines;
use crate::decode::{self, Diagnostic, Format, LineClass, LineCounts, Sink};
use crate::detect;
use crate::event::{Event, FileId, SourceRef};
use crate::input::encoding::{self, TextEncoding};
use crate::input::{self, DiscoverOptions, InputFile, InputProblem};

/// Options for one decode run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Forced text encoding (`--encoding`).
    pub encoding: Option<TextEncoding>,
    /// Forced format (`--as`), bypassing detection.
    pub format: Option<Format>,
    /// Target size of the chunks a large file is cut into.
    pub chunk_bytes: usize,
    /// A line longer than this is not decoded (reported as an error), so one
    /// pathological "line" cannot make a decoder buffer without bound.
    pub max_line_bytes: usize,
    pub discover: DiscoverOptions,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            encoding: None,
            format: None,
            chunk_bytes: 4 << 20,
            max_line_bytes: decode::DEFAULT_MAX_LINE_BYTES,
            discover: DiscoverOptions::default(),
        }
    }
}

/// What happened to one input file.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    pub id: FileId,
    pub name: String,
    pub format: Option<Format>,
    pub encoding: Option<String>,
    pub size: u64,
    /// Lines of text, or records of a binary input.
    pub lines: u64,
    pub events: u64,
    pub counts: LineCounts,
    pub diagnostics: Vec<Diagnostic>,
    pub diagnostics_dropped: u64,
    /// File-level messages (truncated encoding, binary data, unknown format).
    pub notes: Vec<String>,
    /// The file as a whole had a problem (unreadable, truncated or
    /// malformed encoding, binary data where text was expected).
    pub file_error: bool,
}

impl FileReport {
    pub fn format_name(&self) -> &'static str {
        self.format.map_or("unreadable", Format::as_str)
    }
    /// Whether anything in this file was an error (for `--strict`).
    pub fn has_errors(&self) -> bool {
        self.counts.error > 0 || self.file_error
    }
}

/// The result of decoding all inputs.
#[derive(Debug, Default)]
pub struct Decoded {
    pub files: Vec<FileReport>,
    /// Events per file, in the order of `files`.
    pub events: Vec<Vec<Event>>,
    pub problems: Vec<InputProblem>,
}

impl Decoded {
    pub fn file_name(&self, id: FileId) -> &str {
        self.files.get(id as usize).map_or("?", |f| f.name.as_str())
    }
    /// `file:line` for an event source.
    pub fn location(&self, src: SourceRef) -> String {
        format!("{}:{}", self.file_name(src.file), src.line)
    }
    pub fn all_events(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().flatten()
    }
}

/// Discovers and decodes every input.
pub fn run(inputs: &[String], opts: &RunOptions) -> Decoded {
    let found = input::discover(inputs, &opts.discover);
    let results: Vec<(FileReport, Vec<Event>)> = found
        .files
        .par_iter()
        .enumerate()
        .map(|(i, f)| decode_file(i as FileId, f, opts))
        .collect();
    let mut out = Decoded {
        problems: found.problems,
        ..Decoded::default()
    };
    for (r, e) in results {
        out.files.push(r);
        out.events.push(e);
    }
    out
}

/// Decodes one input file.
pub fn decode_file(id: FileId, file: &InputFile, opts: &RunOptions) -> (FileReport, Vec<Event>) {
    let mut rep = FileReport {
        id,
        name: file.name.clone(),
        size: file.size,
        ..FileReport::default()
    };
    let bytes = match file.read_all() {
        Ok(b) => b,
        Err(e) => {
            rep.notes.push(format!("cannot read: {e}"));
            rep.file_error = true;
            return (rep, Vec::new());
        }
    };
    rep.size = bytes.len() as u64;
    if opts.format.is_none_or(Format::is_binary)
        && let Some(f) = detect::detect_binary(&bytes[..bytes.len().min(detect::HEAD_BYTES)])
    {
        rep.format = Some(f);
        rep.encoding = Some("binary".into());
        return decode_binary(rep, f, &bytes);
    }
    let dec = encoding::decode(&bytes, opts.encoding);
    drop(bytes);
    rep.encoding = Some(dec.encoding.name());
    rep.file_error = dec.truncated || dec.malformed_count > 0;
    if dec.truncated {
        rep.notes.push(format!(
            "{}: input ends in the middle of a character (truncated file?); the partial character was dropped",
            dec.encoding.name()
        ));
    }
    if dec.malformed_count > 0 && !dec.truncated {
        rep.notes.push(format!(
            "{} malformed {} sequence(s) replaced by U+FFFD (first at byte offset {})",
            dec.malformed_count,
            dec.encoding.name(),
            dec.malformed.first().copied().unwrap_or(0)
        ));
    }
    let text = dec.text;
    rep.lines = count_lines(&text);
    let head_end = floor_char_boundary(&text, detect::HEAD_BYTES);
    let head = &text[..head_end];
    if opts.format.is_none() && detect::looks_binary(head) {
        rep.format = Some(Format::Unknown);
        rep.notes
            .push("binary data, not a recognised trace format; skipped".into());
        rep.file_error = true;
        rep.counts.unknown = rep.lines;
        return (rep, Vec::new());
    }
    let format = opts.format.unwrap_or_else(|| detect::detect_text(head));
    rep.format = Some(format);
    if format == Format::Unknown {
        rep.notes.push("not a recognised format; skipped".into());
        rep.counts.unknown = rep.lines;
        return (rep, Vec::new());
    }
    if decode::decoder_for(format).is_none() {
        rep.notes.push(format!(
            "no text decoder for format {}; skipped",
            format.as_str()
        ));
        rep.counts.unknown = rep.lines;
        return (rep, Vec::new());
    }
    let chunks = split_chunks(&text, format, opts.chunk_bytes);
    let sinks: Vec<Sink> = chunks
        .par_iter()
        .map(|(first_line, chunk)| {
            decode::decode_lines(format, id, *first_line, chunk, opts.max_line_bytes)
        })
        .collect();
    let mut events = Vec::new();
    for s in sinks {
        rep.counts.merge(&s.counts);
        rep.diagnostics.extend(s.diagnostics);
        rep.diagnostics_dropped += s.diagnostics_dropped;
        events.extend(s.events);
    }
    decode::finish_file(format, &mut events);
    reconcile(&mut rep);
    rep.events = events.len() as u64;
    (rep, events)
}

/// Makes the counts add up to the line count; a shortfall is a decoder
/// bug, reported rather than hidden.
fn reconcile(rep: &mut FileReport) {
    let total = rep.counts.total();
    if total < rep.lines {
        let missing = rep.lines - total;
        rep.counts.add(LineClass::Error, missing);
        rep.notes.push(format!("{missing} line(s) were not accounted for by the decoder (counted as errors; please report)"));
    } else if total > rep.lines {
        rep.notes.push(format!(
            "decoder accounted for {} lines but the file has {} (please report)",
            total, rep.lines
        ));
    }
}

fn decode_binary(mut rep: FileReport, format: Format, bytes: &[u8]) -> (FileReport, Vec<Event>) {
    match format {
        Format::Etl => {
            let mut out = crate::etl::decode_etl(bytes, rep.id);
            name_drop_reasons(&mut out.events, Some(out.info.build));
            rep.lines = out.records;
            rep.counts = out.counts;
            rep.diagnostics = out.diagnostics;
            rep.events = out.events.len() as u64;
            let i = &out.info;
            rep.notes.push(format!(
                "raw ETL: build {}, {} CPU(s), {}-bit pointers, {} of {} buffer(s) present{}{}, events lost {}, buffers lost {}",
                i.build,
                i.cpus,
                i.pointer_size * 8,
                i.buffers,
                i.buffers_written,
                if i.compressed { format!(", {} compressed", i.compressed_buffers) } else { String::new() },
                if i.circular { ", circular" } else { "" },
                i.events_lost,
                i.buffers_lost
            ));
            reconcile(&mut rep);
            (rep, out.events)
        }
        _ => {
            rep.notes.push("pcapng capture recognised; packet captures are not decoded (open it with Wireshark/tshark)".into());
            (rep, Vec::new())
        }
    }
}

/// Binary decoders give PktMon drop reasons and locations as numbers; name
/// them from the drop-reason table of the capture's build family.
fn name_drop_reasons(events: &mut [Event], build: Option<u32>) {
    for ev in events {
        if let Some(d) = ev.drop.as_mut()
            && d.text.is_none()
            && let Some(code) = d.code
        {
            let loc = d.location.map(|l| format!("0x{l:X}"));
            let named =
                crate::pktmon::reasons::drop_info(Some(&code.to_string()), loc.as_deref(), build);
            d.name = named.name;
            d.text = named.text;
            if d.location_name.is_none() {
                d.location_name = named.location_name;
            }
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Cuts `text` into chunks of about `target` bytes, each starting at a
/// line that starts a record, and returns (first line number, chunk).
pub fn split_chunks(text: &str, format: Format, target: usize) -> Vec<(u64, &str)> {
    if !format.splittable() || text.len() <= target || target == 0 {
        return vec![(1, text)];
    }
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut line_no = 1u64;
    while start < bytes.len() {
        let mut cut = (start + target).min(bytes.len());
        // Advance to the next line start that begins a record.
        while cut < bytes.len() {
            match memchr::memchr(b'\n', &bytes[cut..]) {
                None => {
                    cut = bytes.len();
                }
                Some(i) => {
                    cut += i + 1;
                    if cut >= bytes.len() {
                        break;
                    }
                    let end = memchr::memchr(b'\n', &bytes[cut..]).map_or(bytes.len(), |j| cut + j);
                    if format.is_record_start(&text[cut..end]) {
                        break;
                    }
                }
            }
        }
        let chunk = &text[start..cut];
        out.push((line_no, chunk));
        line_no += memchr::memchr_iter(b'\n', chunk.as_bytes()).count() as u64;
        start = cut;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_start_at_records_and_keep_line_numbers() {
        let mut t = String::new();
        for i in 0..100 {
            t.push_str(&format!(
                "[0]0000.0000::2025/03/27-16:12:13.9 [P]line {i}\n\tcontinuation {i}\n"
            ));
        }
        let chunks = split_chunks(&t, Format::NetshText, 300);
        assert!(chunks.len() > 5);
        let mut expect_line = 1;
        let mut joined = String::new();
        for (first, c) in &chunks {
            assert_eq!(*first, expect_line);
            assert!(c.starts_with('['), "chunk starts mid-record: {c:?}");
            expect_line += count_lines(c);
            joined.push_str(c);
        }
        assert_eq!(joined, t);
    }

    #[test]
    fn unsplittable_formats_stay_whole() {
        let t = "a\n".repeat(1000);
        assert_eq!(split_chunks(&t, Format::Tasklist, 10).len(), 1);
    }
}
