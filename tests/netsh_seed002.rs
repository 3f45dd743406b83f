//! Seed 002's AFD and TCPIP events rendered as netsh text through the
//! schema templates (`samples/seed002_netsh.txt`) decode to the same typed
//! events as the NetMon form. Set `ETWNET_REGENERATE=1` to rewrite the sample
//! after a deliberate template change.

use std::path::Path;

use etwnet::decode::common::count_lines;
use etwnet::decode::{Format, decode_text};
use etwnet::event::{Event, Layer};
use etwnet::schema::{registry, values};

/// NetMon's value styles in the plain netsh style: `13 (0xD)` → `13`,
/// `0xC0000241 - STATUS_CONNECTION_ABORTED` → `STATUS_CONNECTION_ABORTED`,
/// `Unknown value: 0` → `0`.
fn netsh_value(v: &str) -> String {
    if let Some((n, _)) = values::split_netmon_pair(v) {
        return n.to_string();
    }
    if let Some((code, name)) = v.split_once(" - ")
        && values::parse_num(code).is_some()
    {
        return name.to_string();
    }
    v.strip_prefix("Unknown value: ").unwrap_or(v).to_string()
}

fn etw_events(events: &[Event]) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| matches!(e.layer, Layer::Afd | Layer::Tcpip))
        .collect()
}

fn render_netsh(events: &[&Event]) -> String {
    let reg = registry();
    let mut out = String::new();
    for e in events {
        let provider = e.provider.as_deref().unwrap();
        let schema = reg.event(provider, e.event_id.unwrap(), e.version).unwrap();
        let t = schema.template.as_ref().unwrap();
        let msg = t.render(|i| {
            schema
                .fields
                .get(i)
                .and_then(|f| e.field(&f.name))
                .map(netsh_value)
                .unwrap_or_default()
        });
        let frame: u64 = e.field("frame").unwrap().parse().unwrap();
        let nanos = 123_456_700 + frame * 1000;
        out.push_str(&format!(
            "[0]{:04X}.0B2C::2010/10/06-14:02:03.{nanos:09} [{provider}]{msg}\n",
            e.header_pid.unwrap_or(0)
        ));
    }
    out
}

#[test]
fn netsh_rendering_decodes_to_the_same_typed_events() {
    let netmon = decode_text(
        Format::NetmonText,
        0,
        1,
        include_str!("../samples/seed002_netmon_afd_tcpip.txt"),
    )
    .unwrap();
    let want = etw_events(&netmon.events);
    assert_eq!(want.len(), 62);
    let rendered = render_netsh(&want);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/seed002_netsh.txt");
    if std::env::var_os("ETWNET_REGENERATE").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text, rendered,
        "samples/seed002_netsh.txt is not the template rendering"
    );

    let sink = decode_text(Format::NetshText, 0, 1, &text).unwrap();
    assert_eq!(sink.counts.total(), count_lines(&text));
    assert_eq!(sink.counts.parsed, 62, "{:?}", sink.diagnostics);
    let got = etw_events(&sink.events);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        let ctx = &g.message;
        assert_eq!(
            (g.event_id, g.version, g.kind),
            (w.event_id, w.version, w.kind),
            "{ctx}"
        );
        assert_eq!(
            (g.tcb, g.endpoint, g.endpoint2, g.process_object),
            (w.tcb, w.endpoint, w.endpoint2, w.process_object),
            "{ctx}"
        );
        assert_eq!(
            (g.pid, g.local, g.remote, g.proto, g.bytes),
            (w.pid, w.local, w.remote, w.proto, w.bytes),
            "{ctx}"
        );
        assert_eq!(
            (&g.state_from, &g.state_to),
            (&w.state_from, &w.state_to),
            "{ctx}"
        );
        assert_eq!(
            (&g.status, g.status_code),
            (&w.status, w.status_code),
            "{ctx}"
        );
        assert_eq!(g.header_pid, w.header_pid, "{ctx}");
        assert!(g.ts.is_some());
    }
}

#[test]
fn truncated_lines_never_panic_and_are_accounted() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/seed002_netsh.txt");
    let text = std::fs::read_to_string(path).unwrap();
    for line in text.lines() {
        for (i, _) in line.char_indices() {
            let cut = &line[..i];
            let sink = decode_text(Format::NetshText, 0, 1, cut).unwrap();
            assert_eq!(sink.counts.total(), count_lines(cut), "{cut:?}");
        }
    }
}
