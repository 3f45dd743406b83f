//! Writers: normalized events as CSV or JSON Lines, and the accounting
//! summary every run ends with.

use std::io::{self, Write};

use serde::Serialize;

use crate::event::{Endpoint, Event, Timestamp};
use crate::pipeline::{Decoded, FileReport};

/// Formats an optional value as a CSV cell.
pub fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// A pointer as Windows prints it (`0x8921DD28`).
#[derive(Debug, Clone, Copy)]
pub struct Pointer(pub u64);

impl std::fmt::Display for Pointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{:X}", self.0)
    }
}

/// A pointer as Windows prints it.
pub fn ptr(v: Option<u64>) -> String {
    v.map(|p| Pointer(p).to_string()).unwrap_or_default()
}

/// Timestamp in ISO 8601, shifted to UTC when `tz` declares the capture
/// machine's offset for local-time sources.
pub fn ts_text(ts: Option<Timestamp>, tz: Option<i16>) -> String {
    ts.map(|t| local_zone(t, tz).to_string())
        .unwrap_or_default()
}

/// A local-clock timestamp with the offset `--tz` gave it.
pub fn local_zone(t: Timestamp, tz: Option<i16>) -> Timestamp {
    match (t.zone, tz) {
        (crate::event::Zone::Local, Some(m)) => Timestamp {
            nanos: t.nanos,
            zone: crate::event::Zone::Offset(m),
        },
        _ => t,
    }
}

/// The columns of `events` CSV output.
const EVENT_COLUMNS: [&str; 29] = [
    "ts",
    "file",
    "line",
    "layer",
    "kind",
    "provider",
    "event_id",
    "version",
    "symbol",
    "header_pid",
    "tid",
    "cpu",
    "pid",
    "process",
    "proto",
    "local",
    "remote",
    "direction",
    "tcb",
    "endpoint",
    "bytes",
    "state_from",
    "state_to",
    "status",
    "drop_code",
    "drop_reason",
    "drop_location",
    "fields",
    "message",
];

/// A CSV file written batch by batch (events.csv window by window, `events`
/// output file by file): the header goes with the first row (no rows, no
/// header), as serde's header handling did.
pub struct CsvRows<W: Write> {
    csv: csv::Writer<W>,
    header_written: bool,
}

impl<W: Write> CsvRows<W> {
    pub fn new(out: W) -> Self {
        CsvRows {
            csv: csv::Writer::from_writer(out),
            header_written: false,
        }
    }
    /// The writer for the next row, after `columns` if no row came before.
    fn row(&mut self, columns: &[&str]) -> csv::Result<&mut csv::Writer<W>> {
        if !self.header_written {
            self.csv.write_record(columns)?;
            self.header_written = true;
        }
        Ok(&mut self.csv)
    }
    pub fn flush(&mut self) -> io::Result<()> {
        self.csv.flush()
    }
}

/// Writes `v` as a field (empty when absent), rendered in `scratch`.
fn display_field<W: Write>(
    w: &mut csv::Writer<W>,
    scratch: &mut String,
    v: Option<impl std::fmt::Display>,
) -> csv::Result<()> {
    use std::fmt::Write as _;
    scratch.clear();
    if let Some(v) = v {
        let _ = write!(scratch, "{v}");
    }
    w.write_field(scratch.as_str())
}

/// Writes a timestamp as a field (empty when absent), shown in `tz` when
/// it is local time ([`local_zone`]).
fn ts_field<W: Write>(
    w: &mut csv::Writer<W>,
    scratch: &mut String,
    t: Option<Timestamp>,
    tz: Option<i16>,
) -> csv::Result<()> {
    scratch.clear();
    if let Some(t) = t {
        local_zone(t, tz).push_to(scratch);
    }
    w.write_field(scratch.as_str())
}

/// Writes an endpoint as a field (empty when absent), in the text of its
/// `Display` rendered by hand: `write!` of the address cost ~1,200
/// instructions an endpoint, a third of writing an events.csv row.
fn endpoint_field<W: Write>(
    w: &mut csv::Writer<W>,
    scratch: &mut String,
    e: Option<Endpoint>,
) -> csv::Result<()> {
    scratch.clear();
    if let Some(e) = e {
        crate::etl::text::push_endpoint(scratch, &e);
    }
    w.write_field(scratch.as_str())
}

/// Writes an address as a field (empty when absent), like
/// [`endpoint_field`].
fn ip_field<W: Write>(
    w: &mut csv::Writer<W>,
    scratch: &mut String,
    ip: Option<std::net::IpAddr>,
) -> csv::Result<()> {
    scratch.clear();
    if let Some(ip) = ip {
        crate::etl::text::push_ip(scratch, ip);
    }
    w.write_field(scratch.as_str())
}

/// `name=value; …` of an event's extracted fields.
pub fn fields_text(ev: &Event) -> String {
    let mut s = String::new();
    push_fields_text(&mut s, ev);
    s
}

/// Appends [`fields_text`] to `s`.
fn push_fields_text(s: &mut String, ev: &Event) {
    for (i, (k, v)) in ev.fields.iter().enumerate() {
        if i > 0 {
            s.push_str("; ");
        }
        s.push_str(k);
        s.push('=');
        s.push_str(v);
    }
}

/// Writes events as CSV with a header row.
pub fn write_events_csv<W: Write>(out: W, decoded: &Decoded, tz: Option<i16>) -> csv::Result<()> {
    let mut w = CsvRows::new(out);
    let names: Vec<&str> = decoded.files.iter().map(|f| f.name.as_str()).collect();
    for evs in &decoded.events {
        write_event_batch(&mut w, &names, evs, tz)?;
    }
    w.flush()?;
    Ok(())
}

/// Appends `events` CSV rows (the header comes with the writer's first
/// row); `names` are the file names by file id.
pub fn write_event_batch<W: Write, S: AsRef<str>>(
    out: &mut CsvRows<W>,
    names: &[S],
    events: &[Event],
    tz: Option<i16>,
) -> csv::Result<()> {
    // Field by field from borrowed text and one scratch buffer: a row
    // struct of owned Strings, serialized, cost ~11,000 instructions an
    // event.
    let mut scratch = String::with_capacity(256);
    let mut int = itoa::Buffer::new();
    for ev in events {
        let w = out.row(&EVENT_COLUMNS)?;
        let drop = ev.drop.as_ref();
        ts_field(w, &mut scratch, ev.ts, tz)?;
        w.write_field(
            names
                .get(ev.source.file as usize)
                .map_or("?", |n| n.as_ref()),
        )?;
        w.write_field(int.format(ev.source.line))?;
        w.write_field(ev.layer.as_str())?;
        w.write_field(ev.kind.as_str())?;
        w.write_field(ev.provider.as_deref().unwrap_or(""))?;
        w.write_field(ev.event_id.map_or("", |v| int.format(v)))?;
        w.write_field(ev.version.map_or("", |v| int.format(v)))?;
        w.write_field(ev.symbol.as_deref().unwrap_or(""))?;
        for v in [ev.header_pid, ev.tid, ev.cpu, ev.pid] {
            w.write_field(v.map_or("", |v| int.format(v)))?;
        }
        w.write_field(ev.process_name.as_deref().unwrap_or(""))?;
        w.write_field(ev.proto.map_or("", |p| p.as_str()))?;
        endpoint_field(w, &mut scratch, ev.local)?;
        endpoint_field(w, &mut scratch, ev.remote)?;
        w.write_field(ev.direction.map_or("", |d| d.as_str()))?;
        display_field(w, &mut scratch, ev.tcb.map(Pointer))?;
        display_field(w, &mut scratch, ev.endpoint.map(Pointer))?;
        w.write_field(ev.bytes.map_or("", |v| int.format(v)))?;
        w.write_field(ev.state_from.as_deref().unwrap_or(""))?;
        w.write_field(ev.state_to.as_deref().unwrap_or(""))?;
        w.write_field(ev.status.as_deref().unwrap_or(""))?;
        w.write_field(drop.and_then(|d| d.code).map_or("", |v| int.format(v)))?;
        w.write_field(
            drop.and_then(|d| d.text.as_deref().or(d.name.as_deref()))
                .unwrap_or(""),
        )?;
        display_field(w, &mut scratch, drop.and_then(|d| d.location).map(Pointer))?;
        scratch.clear();
        push_fields_text(&mut scratch, ev);
        w.write_field(&scratch)?;
        w.write_field(&ev.message)?;
        w.write_record(None::<&[u8]>)?;
    }
    Ok(())
}

/// Writes events as JSON Lines: the full event plus the resolved file name.
pub fn write_events_jsonl<W: Write>(
    mut out: W,
    decoded: &Decoded,
    tz: Option<i16>,
) -> io::Result<()> {
    let names: Vec<&str> = decoded.files.iter().map(|f| f.name.as_str()).collect();
    for evs in &decoded.events {
        write_jsonl_batch(&mut out, &names, evs, tz)?;
    }
    out.flush()
}

/// Appends JSON Lines for `events`; `names` are the file names by file id.
pub fn write_jsonl_batch<W: Write, S: AsRef<str>>(
    mut out: W,
    names: &[S],
    events: &[Event],
    tz: Option<i16>,
) -> io::Result<()> {
    #[derive(Serialize)]
    struct Line<'a> {
        time: String,
        file: &'a str,
        #[serde(flatten)]
        event: &'a Event,
    }
    for ev in events {
        let line = Line {
            time: ts_text(ev.ts, tz),
            file: names
                .get(ev.source.file as usize)
                .map_or("?", |n| n.as_ref()),
            event: ev,
        };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The per-file table `etwnet detect` prints.
pub fn write_detect_table<W: Write>(mut out: W, decoded: &Decoded) -> io::Result<()> {
    writeln!(
        out,
        "{:<60} {:<15} {:<13} {:>10} {:>8} {:>8} {:>8} {:>7}",
        "FILE", "FORMAT", "ENCODING", "SIZE", "LINES", "EVENTS", "UNKNOWN", "ERRORS"
    )?;
    for f in &decoded.files {
        writeln!(
            out,
            "{:<60} {:<15} {:<13} {:>10} {:>8} {:>8} {:>8} {:>7}",
            f.name,
            f.format_name(),
            f.encoding.as_deref().unwrap_or("-"),
            f.size,
            f.lines,
            f.events,
            f.counts.unknown,
            f.counts.error
        )?;
    }
    Ok(())
}

/// How many diagnostics per file the summary shows.
const SUMMARY_DIAGNOSTICS: usize = 5;

/// The accounting summary printed on stderr at the end of every run:
/// per file, parsed / skipped / unknown / error lines adding up to the total,
/// file-level notes, and the first diagnostics with `file:line`.
pub fn write_summary<W: Write>(mut out: W, decoded: &Decoded) -> io::Result<()> {
    for p in &decoded.problems {
        let what = if p.skipped { "skipped" } else { "note" };
        writeln!(out, "etwnet: {}: {} ({what})", p.name, p.message)?;
    }
    let mut tot = crate::decode::LineCounts::default();
    let mut lines = 0;
    writeln!(out, "etwnet: summary ({} file(s))", decoded.files.len())?;
    for f in &decoded.files {
        tot.merge(&f.counts);
        lines += f.lines;
        write_file_summary(&mut out, f, decoded)?;
    }
    writeln!(
        out,
        "  total: {} lines = {} parsed + {} skipped + {} unknown + {} error; {} events",
        lines,
        tot.parsed,
        tot.skipped,
        tot.unknown,
        tot.error,
        decoded.files.iter().map(|f| f.events).sum::<u64>()
    )
}

fn write_file_summary<W: Write>(out: &mut W, f: &FileReport, decoded: &Decoded) -> io::Result<()> {
    let unit = if f.format.is_some_and(|x| x.is_binary()) {
        "records"
    } else {
        "lines"
    };
    writeln!(
        out,
        "  {} [{} {}]: {} {unit} = {} parsed + {} skipped + {} unknown + {} error; {} events",
        f.name,
        f.format_name(),
        f.encoding.as_deref().unwrap_or("-"),
        f.lines,
        f.counts.parsed,
        f.counts.skipped,
        f.counts.unknown,
        f.counts.error,
        f.events
    )?;
    for n in &f.notes {
        writeln!(out, "    {}: {n}", f.name)?;
    }
    for d in f.diagnostics.iter().take(SUMMARY_DIAGNOSTICS) {
        writeln!(out, "    {}: {}", decoded.location(d.source), d.message)?;
    }
    let more =
        f.diagnostics.len().saturating_sub(SUMMARY_DIAGNOSTICS) as u64 + f.diagnostics_dropped;
    if more > 0 {
        writeln!(
            out,
            "    … {more} more message(s) for {} (see `etwnet detect -v`)",
            f.name
        )?;
    }
    Ok(())
}
pub mod timeline;
