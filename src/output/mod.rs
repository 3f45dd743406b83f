//! Writers: normalized events as CSV or JSON Lines, and the accounting
//! summary every run ends with.

use std::io::{self, Write};

use serde::Serialize;

use crate::event::{Event, Timestamp};
use crate::pipeline::{Decoded, FileReport};

/// Formats an optional value as a CSV cell.
pub fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// A pointer as Windows prints it.
pub fn ptr(v: Option<u64>) -> String {
    v.map(|p| format!("0x{p:X}")).unwrap_or_default()
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

/// One row of `events` CSV output.
#[derive(Serialize)]
struct EventRow<'a> {
    ts: String,
    file: &'a str,
    line: u64,
    layer: &'static str,
    kind: &'static str,
    provider: &'a str,
    event_id: String,
    version: String,
    symbol: &'a str,
    header_pid: String,
    tid: String,
    cpu: String,
    pid: String,
    process: &'a str,
    proto: &'static str,
    local: String,
    remote: String,
    direction: &'static str,
    tcb: String,
    endpoint: String,
    bytes: String,
    state_from: &'a str,
    state_to: &'a str,
    status: &'a str,
    drop_code: String,
    drop_reason: &'a str,
    drop_location: String,
    fields: String,
    message: &'a str,
}

/// `name=value; …` of an event's extracted fields.
pub fn fields_text(ev: &Event) -> String {
    let mut s = String::new();
    for (i, (k, v)) in ev.fields.iter().enumerate() {
        if i > 0 {
            s.push_str("; ");
        }
        s.push_str(k);
        s.push('=');
        s.push_str(v);
    }
    s
}

/// Writes events as CSV with a header row.
pub fn write_events_csv<W: Write>(out: W, decoded: &Decoded, tz: Option<i16>) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
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
    w: &mut csv::Writer<W>,
    names: &[S],
    events: &[Event],
    tz: Option<i16>,
) -> csv::Result<()> {
    for ev in events {
        let drop = ev.drop.as_ref();
        w.serialize(EventRow {
            ts: ts_text(ev.ts, tz),
            file: names
                .get(ev.source.file as usize)
                .map_or("?", |n| n.as_ref()),
            line: ev.source.line,
            layer: ev.layer.as_str(),
            kind: ev.kind.as_str(),
            provider: ev.provider.as_deref().unwrap_or(""),
            event_id: opt(ev.event_id),
            version: opt(ev.version),
            symbol: ev.symbol.as_deref().unwrap_or(""),
            header_pid: opt(ev.header_pid),
            tid: opt(ev.tid),
            cpu: opt(ev.cpu),
            pid: opt(ev.pid),
            process: ev.process_name.as_deref().unwrap_or(""),
            proto: ev.proto.map_or("", |p| p.as_str()),
            local: opt(ev.local),
            remote: opt(ev.remote),
            direction: ev.direction.map_or("", |d| d.as_str()),
            tcb: ptr(ev.tcb),
            endpoint: ptr(ev.endpoint),
            bytes: opt(ev.bytes),
            state_from: ev.state_from.as_deref().unwrap_or(""),
            state_to: ev.state_to.as_deref().unwrap_or(""),
            status: ev.status.as_deref().unwrap_or(""),
            drop_code: opt(drop.and_then(|d| d.code)),
            drop_reason: drop
                .and_then(|d| d.text.as_deref().or(d.name.as_deref()))
                .unwrap_or(""),
            drop_location: ptr(drop.and_then(|d| d.location)),
            fields: fields_text(ev),
            message: &ev.message,
        })?;
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
