//! The `timeline` outputs: connections.csv, events.csv, drops.csv,
//! processes.csv and findings.csv, plus the `drops` and `who` renderings.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::correlate::who::WhoAnswer;
use crate::correlate::{Analysis, DropGroup};
use crate::pipeline::Decoded;

use super::{
    CsvRows, Pointer, display_field, endpoint_field, fields_text, ip_field, opt, ptr, ts_field,
    ts_text,
};

/// The columns of connections.csv, as [`ConnRow`] serializes them (a test
/// checks they agree): written once, not serialized with every record.
const CONNECTION_COLUMNS: &str = "conn_id,proto,local_addr,local_port,remote_addr,remote_port,direction,pid,process,services,first_ts,last_ts,duration_s,states,final_state,history,bytes_sent,bytes_received,packets_sent,packets_received,retransmits,drops,close_reason,tcb,endpoint,attribution,confidence,sources\n";

/// connections.csv as a row struct: the reference the field-by-field
/// [`connection_record`] is tested against.
#[cfg(test)]
#[derive(Serialize)]
struct ConnRow<'a> {
    conn_id: &'a str,
    proto: &'static str,
    local_addr: String,
    local_port: String,
    remote_addr: String,
    remote_port: String,
    direction: &'static str,
    pid: String,
    process: String,
    services: String,
    first_ts: String,
    last_ts: String,
    duration_s: String,
    states: String,
    final_state: &'a str,
    history: &'a str,
    bytes_sent: u64,
    bytes_received: u64,
    packets_sent: u64,
    packets_received: u64,
    retransmits: u64,
    drops: u64,
    close_reason: &'a str,
    tcb: String,
    endpoint: String,
    attribution: String,
    confidence: &'static str,
    sources: String,
}

#[cfg(test)]
fn addr(e: Option<crate::event::Endpoint>) -> (String, String) {
    match e {
        None => (String::new(), String::new()),
        Some(e) => (opt(e.ip), opt(e.port)),
    }
}

/// Writes connections.csv: every connection in index order, retired ones
/// (streaming runs) from their spilled records.
pub fn write_connections<W: Write>(
    mut out: W,
    d: &Decoded,
    a: &Analysis,
    tz: Option<i16>,
) -> anyhow::Result<()> {
    let retired = a.retired.records();
    let mut next_retired = retired.iter().peekable();
    let mut header_written = false;
    for i in 0..a.connections.len() {
        let record = match a.connections.get(i) {
            Some(c) => connection_record(c, d, a, tz)?,
            None => {
                // Both walk in index order.
                while next_retired.next_if(|r| (r.index as usize) < i).is_some() {}
                match next_retired.next_if(|r| r.index as usize == i) {
                    Some(r) => a.retired.read(r.offset, r.len)?,
                    None => continue,
                }
            }
        };
        if !header_written {
            out.write_all(CONNECTION_COLUMNS.as_bytes())?;
            header_written = true;
        }
        out.write_all(&record)?;
    }
    out.flush()?;
    Ok(())
}

/// A connection's connections.csv row.
#[cfg(test)]
fn conn_row<'c>(
    c: &'c crate::correlate::Connection,
    d: &Decoded,
    a: &Analysis,
    tz: Option<i16>,
) -> ConnRow<'c> {
    let (la, lp) = addr(c.local);
    let (ra, rp) = addr(c.remote);
    let pid = c.attribution.as_ref().map(|x| x.pid);
    let name = pid.and_then(|p| a.process_name(p, c.first_key));
    let mut attribution = c.attribution.as_ref().map_or(String::new(), |x| {
        let ev: Vec<String> = x.evidence.iter().map(|s| d.location(*s)).collect();
        format!("{} [{}]", x.how, ev.join(", "))
    });
    if let Some(n) = &name
        && !n.conflicts.is_empty()
    {
        attribution.push_str(&format!(
            "; PID also named {} elsewhere",
            n.conflicts.join(", ")
        ));
    }
    let sources: Vec<&str> = c.sources.iter().map(|f| d.file_name(*f)).collect();
    ConnRow {
        conn_id: &c.id,
        proto: c.proto.as_str(),
        local_addr: la,
        local_port: lp,
        remote_addr: ra,
        remote_port: rp,
        direction: c.direction.as_str(),
        pid: opt(pid),
        process: name.as_ref().map(|n| n.image.clone()).unwrap_or_default(),
        services: name
            .as_ref()
            .map(|n| n.services.clone())
            .unwrap_or_default(),
        first_ts: ts_text(c.first, tz),
        last_ts: ts_text(c.last, tz),
        duration_s: c
            .duration_s()
            .map(|s| format!("{s:.6}"))
            .unwrap_or_default(),
        states: c.states.join(">"),
        final_state: c.final_state().unwrap_or(""),
        history: &c.history,
        bytes_sent: c.bytes_sent,
        bytes_received: c.bytes_received,
        packets_sent: c.packets_sent,
        packets_received: c.packets_received,
        retransmits: c.retransmits,
        drops: c.drops,
        close_reason: c.close_reason.as_deref().unwrap_or(""),
        tcb: ptr(c.tcb.or(c.listener)),
        endpoint: ptr(c.endpoint),
        attribution,
        confidence: c.attribution.as_ref().map_or("", |x| x.confidence.as_str()),
        sources: sources.join(";"),
    }
}

/// One connection's connections.csv record (no header line: that is
/// [`CONNECTION_COLUMNS`]).
pub fn connection_record(
    c: &crate::correlate::Connection,
    d: &Decoded,
    a: &Analysis,
    tz: Option<i16>,
) -> csv::Result<Vec<u8>> {
    // No header per record, and a small buffer: the default 8 KiB buffer,
    // zeroed, and the 28 header fields serialized again cost more than
    // the record itself (a streaming run formats every retired connection).
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .buffer_capacity(1024)
        .from_writer(Vec::with_capacity(512));
    write_connection_fields(&mut w, c, d, a, tz)?;
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// Writes one connections.csv record field by field from borrowed text and
/// one scratch buffer, in [`CONNECTION_COLUMNS`] order. A row struct of
/// owned Strings, serialized, cost ~16,000 instructions a connection.
fn write_connection_fields<W: Write>(
    w: &mut csv::Writer<W>,
    c: &crate::correlate::Connection,
    d: &Decoded,
    a: &Analysis,
    tz: Option<i16>,
) -> csv::Result<()> {
    use std::fmt::Write as _;
    let mut scratch = String::with_capacity(128);
    let mut int = itoa::Buffer::new();
    let pid = c.attribution.as_ref().map(|x| x.pid);
    let name = pid.and_then(|p| a.process_name(p, c.first_key));
    w.write_field(&c.id)?;
    w.write_field(c.proto.as_str())?;
    for e in [c.local, c.remote] {
        ip_field(w, &mut scratch, e.and_then(|e| e.ip))?;
        w.write_field(e.and_then(|e| e.port).map_or("", |p| int.format(p)))?;
    }
    w.write_field(c.direction.as_str())?;
    w.write_field(pid.map_or("", |p| int.format(p)))?;
    w.write_field(name.as_ref().map_or("", |n| n.image.as_str()))?;
    w.write_field(name.as_ref().map_or("", |n| n.services.as_str()))?;
    ts_field(w, &mut scratch, c.first, tz)?;
    ts_field(w, &mut scratch, c.last, tz)?;
    scratch.clear();
    if let Some(s) = c.duration_s() {
        let _ = write!(scratch, "{s:.6}");
    }
    w.write_field(&scratch)?;
    scratch.clear();
    for (i, s) in c.states.iter().enumerate() {
        if i > 0 {
            scratch.push('>');
        }
        scratch.push_str(s.as_ref());
    }
    w.write_field(&scratch)?;
    w.write_field(c.final_state().unwrap_or(""))?;
    w.write_field(&c.history)?;
    for n in [
        c.bytes_sent,
        c.bytes_received,
        c.packets_sent,
        c.packets_received,
        c.retransmits,
        c.drops,
    ] {
        w.write_field(int.format(n))?;
    }
    w.write_field(c.close_reason.as_deref().unwrap_or(""))?;
    display_field(w, &mut scratch, c.tcb.or(c.listener).map(Pointer))?;
    display_field(w, &mut scratch, c.endpoint.map(Pointer))?;
    scratch.clear();
    if let Some(x) = &c.attribution {
        let _ = write!(scratch, "{} [", x.how);
        for (i, s) in x.evidence.iter().enumerate() {
            if i > 0 {
                scratch.push_str(", ");
            }
            let _ = write!(scratch, "{}:{}", d.file_name(s.file), s.line);
        }
        scratch.push(']');
    }
    if let Some(n) = &name
        && !n.conflicts.is_empty()
    {
        scratch.push_str("; PID also named ");
        scratch.push_str(&n.conflicts.join(", "));
        scratch.push_str(" elsewhere");
    }
    w.write_field(&scratch)?;
    w.write_field(c.attribution.as_ref().map_or("", |x| x.confidence.as_str()))?;
    scratch.clear();
    for (i, f) in c.sources.iter().enumerate() {
        if i > 0 {
            scratch.push(';');
        }
        scratch.push_str(d.file_name(*f));
    }
    w.write_field(&scratch)?;
    w.write_record(None::<&[u8]>)
}

/// The columns of events.csv.
const EVENT_COLUMNS: [&str; 13] = [
    "ts", "conn_id", "layer", "kind", "pid", "process", "proto", "local", "remote", "bytes",
    "state", "text", "source",
];

/// A short description of an event for events.csv.
fn short_text(ev: &crate::event::Event) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    /// The first 300 characters.
    fn first_chars(s: &str) -> &str {
        const MAX: usize = 300;
        if s.len() <= MAX {
            return s;
        }
        match s.char_indices().nth(MAX) {
            Some((end, _)) => s.get(..end).unwrap_or(s),
            None => s,
        }
    }
    let mut t: Cow<'_, str> = if ev.message.is_empty() {
        Cow::Owned(first_chars(&fields_text(ev)).to_string())
    } else {
        Cow::Borrowed(first_chars(&ev.message))
    };
    if let Some(dr) = &ev.drop {
        let reason = dr.text.as_deref().or(dr.name.as_deref()).unwrap_or("");
        if !reason.is_empty() && !t.contains(reason) {
            t = Cow::Owned(format!("DROP {reason}: {t}"));
        }
    }
    t
}

/// Writes events.csv: every event in time order with its connection.
pub fn write_events<W: Write>(
    out: W,
    d: &Decoded,
    a: &Analysis,
    tz: Option<i16>,
) -> csv::Result<()> {
    let mut w = CsvRows::new(out);
    write_event_rows(&mut w, d, a, tz)?;
    w.flush()?;
    Ok(())
}

/// Appends events.csv rows for the events of `d` in the order of `a.order`
/// (one window of a streaming run, or everything); the header is written
/// with the writer's first row.
pub fn write_event_rows<W: Write>(
    rows: &mut CsvRows<W>,
    d: &Decoded,
    a: &Analysis,
    tz: Option<i16>,
) -> csv::Result<()> {
    // Fields are written one by one from borrowed text and one scratch
    // buffer: serializing a row struct of owned Strings cost ~5,000
    // instructions an event in allocations and serde bookkeeping.
    let mut scratch = String::with_capacity(128);
    let mut int = itoa::Buffer::new();
    for &r in &a.order {
        let Some(ev) = a.event(d, r) else { continue };
        let w = rows.row(&EVENT_COLUMNS)?;
        ts_field(w, &mut scratch, ev.ts, tz)?;
        w.write_field(a.conn_id_of(r).unwrap_or(""))?;
        w.write_field(ev.layer.as_str())?;
        w.write_field(ev.kind.as_str())?;
        let pid = ev.pid;
        w.write_field(pid.map_or("", |p| int.format(p)))?;
        match &ev.process_name {
            Some(p) => w.write_field(p)?,
            None => match pid.and_then(|p| a.process_name(p, a.key_of(r))) {
                Some(n) => w.write_field(&n.image)?,
                None => w.write_field("")?,
            },
        }
        w.write_field(ev.proto.map_or("", |p| p.as_str()))?;
        endpoint_field(w, &mut scratch, ev.local)?;
        endpoint_field(w, &mut scratch, ev.remote)?;
        w.write_field(ev.bytes.map_or("", |b| int.format(b)))?;
        match (&ev.state_from, &ev.state_to) {
            (Some(f), Some(t)) => {
                scratch.clear();
                scratch.push_str(f);
                scratch.push('>');
                scratch.push_str(t);
                w.write_field(&scratch)?;
            }
            (None, Some(t)) => w.write_field(t)?,
            _ => w.write_field(ev.field("state").unwrap_or(""))?,
        }
        w.write_field(short_text(ev).as_ref())?;
        scratch.clear();
        scratch.push_str(d.file_name(ev.source.file));
        scratch.push(':');
        scratch.push_str(int.format(ev.source.line));
        w.write_field(&scratch)?;
        w.write_record(None::<&[u8]>)?;
    }
    Ok(())
}

#[derive(Serialize)]
struct DropRow<'a> {
    reason_code: String,
    reason_name: &'a str,
    reason: &'a str,
    layer: &'static str,
    component: &'a str,
    location: String,
    location_name: &'a str,
    direction: &'static str,
    proto: &'static str,
    src: &'a str,
    dst: &'a str,
    count: u64,
    first_ts: String,
    last_ts: String,
    conn_ids: String,
    example_source: String,
    example: &'a str,
    path: &'a str,
    hint: &'a str,
}

fn drop_row<'a>(g: &'a DropGroup, d: &Decoded, tz: Option<i16>) -> DropRow<'a> {
    DropRow {
        reason_code: opt(g.reason_code),
        reason_name: g.reason_name.as_deref().unwrap_or(""),
        reason: &g.reason_text,
        layer: g.layer,
        component: &g.component,
        location: ptr(g.location),
        location_name: g.location_name.as_deref().unwrap_or(""),
        direction: g.direction.map_or("", |x| x.as_str()),
        proto: g.proto.map_or("", |p| p.as_str()),
        src: &g.src,
        dst: &g.dst,
        count: g.count,
        first_ts: ts_text(g.first, tz),
        last_ts: ts_text(g.last, tz),
        conn_ids: g.conn_ids.iter().cloned().collect::<Vec<_>>().join(";"),
        example_source: d.location(g.example),
        example: &g.example_text,
        path: g.path.as_deref().unwrap_or(""),
        hint: g.hint.unwrap_or(""),
    }
}

/// Writes drops.csv.
pub fn write_drops_csv<W: Write>(
    out: W,
    d: &Decoded,
    a: &Analysis,
    tz: Option<i16>,
) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    for g in &a.drops {
        w.serialize(drop_row(g, d, tz))?;
    }
    w.flush()?;
    Ok(())
}

/// Writes drops as a JSON array.
pub fn write_drops_json<W: Write>(
    mut out: W,
    d: &Decoded,
    a: &Analysis,
    tz: Option<i16>,
) -> io::Result<()> {
    let rows: Vec<DropRow> = a.drops.iter().map(|g| drop_row(g, d, tz)).collect();
    serde_json::to_writer_pretty(&mut out, &rows)?;
    writeln!(out)
}

/// The `drops` table: totals per reason first, then each group.
pub fn write_drops_table<W: Write>(
    mut out: W,
    d: &Decoded,
    a: &Analysis,
    tz: Option<i16>,
) -> io::Result<()> {
    if a.drops.is_empty() {
        return writeln!(
            out,
            "No drop events in the inputs (PktMon drops, TCPIP network/transport drops, AFD datagram drops, WFP drops)."
        );
    }
    let mut totals: Vec<(String, Option<u32>, u64)> = Vec::new();
    for g in &a.drops {
        match totals.iter_mut().find(|t| t.0 == g.reason_text) {
            Some(t) => t.2 += g.count,
            None => totals.push((g.reason_text.clone(), g.reason_code, g.count)),
        }
    }
    writeln!(out, "Drops by reason")?;
    for (reason, code, n) in &totals {
        writeln!(
            out,
            "  {n:>8}  {reason}{}",
            code.map(|c| format!(" ({c})")).unwrap_or_default()
        )?;
    }
    writeln!(out)?;
    for g in &a.drops {
        writeln!(
            out,
            "{} x  {}{}",
            g.count,
            g.reason_text,
            g.reason_code.map(|c| format!(" ({c})")).unwrap_or_default()
        )?;
        writeln!(
            out,
            "    where: {} {}{}",
            g.layer,
            g.component,
            g.location
                .map(|l| format!(
                    ", location 0x{l:X}{}",
                    g.location_name
                        .as_deref()
                        .map(|n| format!(" {n}"))
                        .unwrap_or_default()
                ))
                .unwrap_or_default()
        )?;
        writeln!(
            out,
            "    flow:  {} {} {} -> {}{}",
            g.direction
                .map_or("", |x| if x == crate::event::Direction::In {
                    "Rx"
                } else {
                    "Tx"
                }),
            g.proto.map_or("", |p| p.as_str()),
            g.src,
            g.dst,
            if g.conn_ids.is_empty() {
                String::new()
            } else {
                format!(
                    "  [{}]",
                    g.conn_ids.iter().cloned().collect::<Vec<_>>().join(",")
                )
            }
        )?;
        if let Some(p) = &g.path {
            writeln!(out, "    path:  {p}")?;
        }
        writeln!(
            out,
            "    time:  {} .. {}",
            ts_text(g.first, tz),
            ts_text(g.last, tz)
        )?;
        writeln!(
            out,
            "    e.g.:  {}  {}",
            d.location(g.example),
            g.example_text
        )?;
        if let Some(h) = g.hint {
            writeln!(out, "    hint:  {h}")?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct ProcessRow<'a> {
    source: String,
    origin: &'static str,
    pid: u32,
    image: &'a str,
    session_name: &'a str,
    session: &'a str,
    mem_kb: &'a str,
    user: &'a str,
    services: String,
}

/// Writes processes.csv (every claim: tasklist, netstat and trace).
pub fn write_processes<W: Write>(out: W, d: &Decoded, a: &Analysis) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    for c in a.processes.claims() {
        w.serialize(ProcessRow {
            source: d.location(c.source),
            origin: c.origin,
            pid: c.pid,
            image: &c.image,
            session_name: c.session_name.as_deref().unwrap_or(""),
            session: c.session.as_deref().unwrap_or(""),
            mem_kb: c.mem_kb.as_deref().unwrap_or(""),
            user: c.user.as_deref().unwrap_or(""),
            services: c.services.join(","),
        })?;
    }
    w.flush()?;
    Ok(())
}

#[derive(Serialize)]
struct FindingRow<'a> {
    rule: &'static str,
    severity: &'static str,
    summary: &'a str,
    conn_ids: String,
    evidence: String,
}

/// Writes findings.csv.
pub fn write_findings<W: Write>(out: W, d: &Decoded, a: &Analysis) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    for f in &a.findings {
        w.serialize(FindingRow {
            rule: f.rule,
            severity: f.severity,
            summary: &f.summary,
            conn_ids: f.conn_ids.join(";"),
            evidence: f
                .evidence
                .iter()
                .map(|s| d.location(*s))
                .collect::<Vec<_>>()
                .join(";"),
        })?;
    }
    w.flush()?;
    Ok(())
}

/// Creates the output file `dir/name` (buffered), naming it in the error.
pub fn create_in(dir: &Path, name: &str) -> anyhow::Result<(PathBuf, BufWriter<File>)> {
    let p = dir.join(name);
    let f = File::create(&p).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", p.display()))?;
    Ok((p, BufWriter::with_capacity(1 << 20, f)))
}

/// Writes connections.csv, drops.csv, processes.csv and findings.csv into
/// `dir` (which exists; events.csv is written while the run streams);
/// returns the paths written.
pub fn write_timeline_tables(
    dir: &Path,
    d: &Decoded,
    a: &Analysis,
    tz: Option<i16>,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let (p, f) = create_in(dir, "connections.csv")?;
    write_connections(f, d, a, tz)?;
    written.push(p);
    let (p, f) = create_in(dir, "drops.csv")?;
    write_drops_csv(f, d, a, tz)?;
    written.push(p);
    let (p, f) = create_in(dir, "processes.csv")?;
    write_processes(f, d, a)?;
    written.push(p);
    let (p, f) = create_in(dir, "findings.csv")?;
    write_findings(f, d, a)?;
    written.push(p);
    Ok(written)
}

/// Renders a `who` answer for people.
pub fn write_who_text<W: Write>(mut out: W, w: &WhoAnswer) -> io::Result<()> {
    writeln!(out, "packet: {}", w.query)?;
    if w.matches.is_empty() {
        writeln!(out, "no connection or flow matches.")?;
        writeln!(out, "searched: {}", w.searched)?;
        if w.nearest.is_empty() {
            writeln!(out, "no flow shares an address or port with it.")?;
        } else {
            writeln!(out, "nearest candidates (same address or port):")?;
            for n in &w.nearest {
                writeln!(out, "  {n}")?;
            }
        }
        return Ok(());
    }
    for (i, m) in w.matches.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        match m.pid {
            Some(pid) => writeln!(
                out,
                "process: PID {pid} {}{}   confidence: {}",
                m.image.as_deref().unwrap_or("(image unknown)"),
                m.services
                    .as_deref()
                    .map(|s| format!(" (services: {s})"))
                    .unwrap_or_default(),
                m.confidence
            )?,
            None => writeln!(out, "process: unknown   confidence: none")?,
        }
        writeln!(
            out,
            "connection: {} {} {} <-> {} (packet {} by this host), {} .. {}",
            m.conn_id, m.proto, m.local, m.remote, m.packet_direction, m.first_ts, m.last_ts
        )?;
        writeln!(out, "how: {}", m.attribution)?;
        for n in &m.notes {
            writeln!(out, "note: {n}")?;
        }
        writeln!(out, "evidence:")?;
        for e in &m.evidence {
            writeln!(out, "  {e}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_columns_are_the_rows_fields() {
        let c = crate::correlate::Connection::new(0, crate::event::Proto::Tcp);
        let (d, a) = (Decoded::default(), Analysis::default());
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(conn_row(&c, &d, &a, None)).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let header = text.lines().next().unwrap();
        assert_eq!(format!("{header}\n"), CONNECTION_COLUMNS);
        let record = connection_record(&c, &d, &a, None).unwrap();
        assert_eq!(text.as_bytes()[header.len() + 1..], record[..]);
    }

    /// The field-by-field record equals the serialized row struct for
    /// every connection of every sample bundle (TCP with states and
    /// attribution, UDP, PktMon flows with drops, tracerpt CSV with PIDs and
    /// services, ETW XML), and of the real samples when `../shared` is
    /// there, with and without a `--tz` offset.
    #[test]
    fn connection_records_equal_the_row_struct() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut inputs = vec![root.join("samples")];
        let real = root.join("../shared/samples-real");
        if real.is_dir() {
            inputs.push(real);
        }
        let inputs: Vec<String> = inputs
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let d = crate::pipeline::run(&inputs, &crate::pipeline::RunOptions::default());
        let mut checked = 0;
        for tz in [None, Some(-300)] {
            let a = crate::correlate::analyze(&d, tz);
            for i in 0..a.connections.len() {
                let Some(c) = a.connections.get(i) else {
                    continue;
                };
                let mut w = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(Vec::new());
                w.serialize(conn_row(c, &d, &a, tz)).unwrap();
                let want = w.into_inner().unwrap();
                let got = connection_record(c, &d, &a, tz).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&want)
                );
                checked += 1;
            }
        }
        assert!(checked > 20, "{checked}");
    }

    /// events.csv rows written field by field read back as the columns
    /// they name: quoting of commas, quotes and newlines, the 300-character
    /// text cut on a character boundary, the DROP prefix, empty fields.
    #[test]
    fn event_rows_read_back() {
        use crate::event::{DropInfo, Event, Kind, Layer, SourceRef, Timestamp};
        let mut long = Event::new(
            SourceRef { file: 0, line: 7 },
            Layer::Tcpip,
            Kind::TcpDataSent,
        );
        long.message = "é,\"x\"\n".repeat(100);
        long.pid = Some(42);
        long.bytes = Some(1460);
        long.ts = Some(Timestamp::utc(1_000_000_000));
        long.state_to = Some("Established".into());
        let mut dropped = Event::new(
            SourceRef { file: 0, line: 9 },
            Layer::Pktmon,
            Kind::PacketDrop,
        );
        dropped.message = "packet".into();
        dropped.drop = Some(Box::new(DropInfo {
            text: Some("INET: checksum is invalid".into()),
            ..DropInfo::default()
        }));
        let d = Decoded {
            files: vec![crate::pipeline::FileReport {
                name: "a,b.txt".into(),
                ..Default::default()
            }],
            events: vec![vec![long.clone(), dropped]],
            problems: Vec::new(),
        };
        let a = crate::correlate::analyze(&d, None);
        let mut out = Vec::new();
        write_events(&mut out, &d, &a, None).unwrap();
        let mut r = csv::Reader::from_reader(out.as_slice());
        assert_eq!(
            r.headers().unwrap().iter().collect::<Vec<_>>(),
            EVENT_COLUMNS
        );
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        let first = &rows[0];
        assert_eq!(&first[0], "1970-01-01T00:00:01.0000000Z");
        assert_eq!(
            (&first[4], &first[9], &first[10]),
            ("42", "1460", "Established")
        );
        assert_eq!(first[11].chars().count(), 300);
        assert!(long.message.starts_with(&first[11]));
        assert_eq!(&first[12], "a,b.txt:7");
        assert_eq!(&rows[1][11], "DROP INET: checksum is invalid: packet");
        assert_eq!((&rows[1][4], &rows[1][9]), ("", ""));
    }
}
