//! Format decoders: bytes already decoded to UTF-8 text in, [`Event`]s out.
//!
//! Every decoder is a [`LineDecoder`]: the driver feeds it one line at a
//! time (without the line terminator) and the decoder classifies every line
//! exactly once through the [`Sink`] — parsed, known-and-skipped, unknown or
//! error. Multi-line records (pktmon `--verbose`, NetMon payload hex, XML
//! elements) keep a pending event and account for their lines when the record
//! completes or in [`LineDecoder::finish`]. The driver checks that the counts
//! add up to the number of lines it fed, so nothing is lost silently.
//!
//! Decoders do no I/O. Large files are split into chunks that start at a line
//! for which [`Format::is_record_start`] is true, and each chunk gets a fresh
//! decoder, so a decoder must not depend on lines before its first record
//! start (header-dependent formats are not split: see [`Format::splittable`]).

use crate::event::{Event, FileId, SourceRef};

pub mod common;
pub mod etwxml;
pub mod netmon;
pub mod netsh;
pub mod netstat;
pub mod pktmon;
pub mod pktmon_list;
pub mod prefix;
pub mod tasklist;
pub mod tracerpt_csv;

/// Input formats recognised by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// `netsh trace convert` / tracefmt text: `[CPU]PID.TID::TIME [Provider]message`.
    NetshText,
    /// Network Monitor text export (seed 002): frame, process, addresses, `Provider_Tag:message`.
    NetmonText,
    /// `tracerpt -of XML`, `wevtutil qe /f:xml`, `Get-WinEvent | ToXml()`.
    EtwXml,
    /// `tracerpt -of CSV` (dumpfile.csv), modern and XP/2003 layouts.
    TracerptCsv,
    /// `pktmon etl2txt` / `pktmon format` text, and real-time console output.
    PktmonText,
    /// `pktmon list` table.
    PktmonList,
    /// `pktmon counters` table.
    PktmonCounters,
    /// `pktmon list --json` / `pktmon counters --json`.
    PktmonJson,
    /// `tasklist` in any form (table, /svc, /v, /m, /fo csv, /fo list).
    Tasklist,
    /// `netstat -ano`, `-anob`, `-an`, `-ab`.
    Netstat,
    /// Raw `.etl` trace file (binary).
    Etl,
    /// pcapng capture (binary; recognised, not decoded).
    Pcapng,
    /// Not recognised.
    Unknown,
}

impl Format {
    /// A system snapshot (tasklist, netstat, pktmon list/counters) rather
    /// than a trace: small, and what names the trace's PIDs and components.
    pub fn is_snapshot(self) -> bool {
        matches!(
            self,
            Format::Tasklist
                | Format::Netstat
                | Format::PktmonList
                | Format::PktmonCounters
                | Format::PktmonJson
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::NetshText => "netsh-text",
            Format::NetmonText => "netmon-text",
            Format::EtwXml => "etw-xml",
            Format::TracerptCsv => "tracerpt-csv",
            Format::PktmonText => "pktmon-text",
            Format::PktmonList => "pktmon-list",
            Format::PktmonCounters => "pktmon-counters",
            Format::PktmonJson => "pktmon-json",
            Format::Tasklist => "tasklist",
            Format::Netstat => "netstat",
            Format::Etl => "etl",
            Format::Pcapng => "pcapng",
            Format::Unknown => "unknown",
        }
    }

    pub fn from_name(s: &str) -> Option<Format> {
        Format::all().iter().copied().find(|f| f.as_str() == s)
    }

    pub fn all() -> &'static [Format] {
        &[
            Format::NetshText,
            Format::NetmonText,
            Format::EtwXml,
            Format::TracerptCsv,
            Format::PktmonText,
            Format::PktmonList,
            Format::PktmonCounters,
            Format::PktmonJson,
            Format::Tasklist,
            Format::Netstat,
            Format::Etl,
            Format::Pcapng,
            Format::Unknown,
        ]
    }

    /// Binary formats are not decoded as text.
    pub fn is_binary(self) -> bool {
        matches!(self, Format::Etl | Format::Pcapng)
    }

    /// Whether a large file of this format may be cut into chunks decoded
    /// independently (the format has no file-level header state).
    pub fn splittable(self) -> bool {
        matches!(
            self,
            Format::NetshText | Format::NetmonText | Format::PktmonText | Format::EtwXml
        )
    }

    /// Whether `line` starts a record, i.e. a chunk may begin at it.
    pub fn is_record_start(self, line: &str) -> bool {
        match self {
            Format::NetshText => {
                let t = line.trim_start_matches('\u{feff}');
                t.starts_with('[') || t.as_bytes().first().is_some_and(u8::is_ascii_digit)
            }
            Format::PktmonText => pktmon::is_record_start(line),
            Format::NetmonText => {
                line.as_bytes().first().is_some_and(u8::is_ascii_digit)
                    && !netmon::is_hex_dump_line(line)
            }
            Format::EtwXml => {
                line.trim_start().starts_with("<Event ") || line.trim_start().starts_with("<Event>")
            }
            _ => false,
        }
    }
}

/// How one input line was classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineClass {
    /// Contributed to an event.
    Parsed,
    /// Recognised and deliberately not turned into an event (blank lines,
    /// column headers, underlines, converter banners, prose around a paste).
    Skipped,
    /// Not understood.
    Unknown,
    /// Recognised but malformed (bad number, truncated record).
    Error,
}

/// Per-file line accounting. `parsed + skipped + unknown + error == total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LineCounts {
    pub parsed: u64,
    pub skipped: u64,
    pub unknown: u64,
    pub error: u64,
}

impl LineCounts {
    pub fn total(&self) -> u64 {
        self.parsed + self.skipped + self.unknown + self.error
    }
    pub fn add(&mut self, class: LineClass, n: u64) {
        match class {
            LineClass::Parsed => self.parsed += n,
            LineClass::Skipped => self.skipped += n,
            LineClass::Unknown => self.unknown += n,
            LineClass::Error => self.error += n,
        }
    }
    pub fn merge(&mut self, o: &LineCounts) {
        self.parsed += o.parsed;
        self.skipped += o.skipped;
        self.unknown += o.unknown;
        self.error += o.error;
    }
}

/// A message about the input, tied to a place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub source: SourceRef,
    pub class: LineClass,
    pub message: String,
}

/// How many unknown-line / error diagnostics one chunk keeps (the counts
/// are always complete; only the messages are capped).
pub const MAX_DIAGNOSTICS_PER_CHUNK: usize = 50;

/// Where a decoder puts events, line classifications and diagnostics.
#[derive(Debug, Default)]
pub struct Sink {
    pub file: FileId,
    pub events: Vec<Event>,
    pub counts: LineCounts,
    pub diagnostics: Vec<Diagnostic>,
    /// Diagnostics not kept because of the cap.
    pub diagnostics_dropped: u64,
}

impl Sink {
    pub fn new(file: FileId) -> Self {
        Sink {
            file,
            ..Sink::default()
        }
    }

    pub fn src(&self, line: u64) -> SourceRef {
        SourceRef {
            file: self.file,
            line,
        }
    }

    pub fn event(&mut self, ev: Event) {
        self.events.push(ev);
    }

    /// Account for `n` lines of one class.
    pub fn lines(&mut self, class: LineClass, n: u64) {
        self.counts.add(class, n);
    }

    pub fn parsed(&mut self) {
        self.counts.parsed += 1;
    }

    pub fn skipped(&mut self) {
        self.counts.skipped += 1;
    }

    /// An unknown line: counted, and its start kept as a diagnostic.
    pub fn unknown(&mut self, line_no: u64, line: &str) {
        self.counts.unknown += 1;
        let shown: String = line.chars().take(160).collect();
        self.diag(
            line_no,
            LineClass::Unknown,
            format!("unrecognised line: {shown}"),
        );
    }

    /// A malformed line: counted, with the reason.
    pub fn error(&mut self, line_no: u64, message: impl Into<String>) {
        self.counts.error += 1;
        self.diag(line_no, LineClass::Error, message.into());
    }

    /// A diagnostic that does not classify a line (e.g. a note at finish).
    pub fn diag(&mut self, line_no: u64, class: LineClass, message: String) {
        if self.diagnostics.len() < MAX_DIAGNOSTICS_PER_CHUNK {
            let source = self.src(line_no);
            self.diagnostics.push(Diagnostic {
                source,
                class,
                message,
            });
        } else {
            self.diagnostics_dropped += 1;
        }
    }
}

/// A stateful decoder for one chunk of one file.
pub trait LineDecoder: Send {
    /// One line, without its terminator (`\n` / `\r\n` stripped), already
    /// UTF-8. `line_no` is 1-based within the file.
    fn line(&mut self, line_no: u64, line: &str, sink: &mut Sink);

    /// End of the chunk: flush any pending record and account for its lines.
    fn finish(&mut self, _sink: &mut Sink) {}
}

/// A decoder for `format`, or `None` for formats without a text decoder
/// (binary, unknown).
pub fn decoder_for(format: Format) -> Option<Box<dyn LineDecoder>> {
    match format {
        Format::Tasklist => Some(Box::new(tasklist::TasklistDecoder::default())),
        Format::Netstat => Some(Box::new(netstat::NetstatDecoder::default())),
        Format::NetshText => Some(Box::new(netsh::NetshDecoder::default())),
        Format::NetmonText => Some(Box::new(netmon::NetmonDecoder::default())),
        Format::PktmonText => Some(Box::new(pktmon::PktmonTextDecoder::default())),
        Format::PktmonList => Some(Box::new(pktmon_list::PktmonListDecoder::default())),
        Format::PktmonCounters => Some(Box::new(pktmon_list::PktmonCountersDecoder::default())),
        Format::PktmonJson => Some(Box::new(pktmon_list::PktmonJsonDecoder::default())),
        Format::EtwXml => Some(Box::new(etwxml::EtwXmlDecoder::default())),
        Format::TracerptCsv => Some(Box::new(tracerpt_csv::TracerptCsvDecoder::default())),
        _ => None,
    }
}

/// What a file's header tells the chunks after it, which are decoded
/// independently (PktMon text: the build that names numeric drop reasons).
#[derive(Debug, Clone, Default)]
pub struct FileContext {
    pub pktmon_build: Option<u32>,
}

/// Whether [`finish_events`] changes events of `format` (it needs the
/// chunks before, so events cannot be final until then).
pub fn finishes_across_chunks(format: Format) -> bool {
    format == Format::PktmonText
}

/// Whether [`finish_events`] reads or changes `ev` (of a file of
/// `format`); every other event is final once its chunk is decoded.
pub fn finish_reads(format: Format, ev: &Event) -> bool {
    finishes_across_chunks(format) && pktmon::header_pass_reads(ev)
}

/// Pass over one chunk's events once the chunks before it (in file order)
/// were passed with the same `ctx`: fills in what only a file header tells,
/// so a file cut into chunks gives the same events as decoded whole.
pub fn finish_events(format: Format, ctx: &mut FileContext, events: &mut [Event]) {
    if finishes_across_chunks(format) {
        pktmon::name_drops_from_header(events, &mut ctx.pktmon_build);
    }
}

/// [`finish_events`] over all of a file's events at once.
pub fn finish_file(format: Format, events: &mut [Event]) {
    finish_events(format, &mut FileContext::default(), events);
}

/// A line longer than this is not decoded by default (reported as an error),
/// so one pathological "line" cannot make a decoder buffer without bound.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 << 20;

/// Decodes a whole text with one decoder: the reference path used by tests
/// and by the chunked driver for each chunk. `first_line` is the 1-based
/// number of the text's first line in its file.
pub fn decode_text(format: Format, file: FileId, first_line: u64, text: &str) -> Option<Sink> {
    decoder_for(format)?;
    Some(decode_lines(
        format,
        file,
        first_line,
        text,
        DEFAULT_MAX_LINE_BYTES,
    ))
}

/// [`decode_text`] with an explicit line-length cap; formats without a text
/// decoder yield an empty sink.
pub fn decode_lines(
    format: Format,
    file: FileId,
    first_line: u64,
    text: &str,
    max_line: usize,
) -> Sink {
    let mut sink = Sink::new(file);
    let Some(mut dec) = decoder_for(format) else {
        return sink;
    };
    // Room for an event per line, up to one per 96 bytes: growing the
    // vector by doubling cost ~460 instructions a line in moves of 424-byte
    // events (a fixed one per 192 bytes fell short of generated netsh
    // lines, 174 bytes on average: one doubling per chunk, 4% of a run).
    // Formats with longer records leave the rest unused (and, not being
    // written, not resident).
    let lines = memchr::memchr_iter(b'\n', text.as_bytes()).count() + 1;
    sink.events.reserve(lines.min(text.len() / 96 + 1));
    for (n, line) in (first_line..).zip(common::lines(text)) {
        if line.len() > max_line {
            if format.splittable() && format.is_record_start(line) {
                // As at a chunk boundary: the record before it ends here,
                // and the lines after it are not credited to that record.
                dec.finish(&mut sink);
                if let Some(fresh) = decoder_for(format) {
                    dec = fresh;
                }
            }
            sink.error(
                n,
                format!(
                    "line of {} bytes exceeds the {max_line}-byte limit; not decoded",
                    line.len()
                ),
            );
        } else {
            dec.line(n, line, &mut sink);
        }
    }
    dec.finish(&mut sink);
    sink
}
