//! The bodies of the fuzz targets, shared by the libFuzzer binaries
//! (`tests/fuzz/fuzz_targets/*.rs`, nightly + cargo-fuzz) and the stable
//! mutation loop in `tests/properties.rs` (runs in CI on every build).
//!
//! Each body takes arbitrary bytes, must never panic, and checks the
//! invariants the project promises for any input:
//! - every line is classified exactly once: parsed + skipped + unknown +
//!   error = number of lines;
//! - for splittable formats, decoding the text cut into chunks at record
//!   starts gives the same events and counts as decoding it whole;
//! - re-encoding the text as UTF-16LE and decoding it through the input
//!   layer gives the same text back.

use std::io::{self, Write};
use std::sync::Arc;

use etwnet::correlate;
use etwnet::decode::common::count_lines;
use etwnet::decode::{self, Format, Sink};
use etwnet::input::encoding::{self, TextEncoding};
use etwnet::input::{self, DiscoverOptions, InputFile, Origin};
use etwnet::output;
use etwnet::pipeline::{self, Decoded, RunOptions};
use etwnet::schema;

/// A small line cap so the over-the-cap path is reached by small inputs
/// (run.sh caps inputs at 4 KiB).
const FUZZ_MAX_LINE: usize = 1024;

/// The targets that drive the pipeline run with a one-thread global rayon
/// pool, so the pipeline decodes inline on the fuzzer's thread. With more
/// threads, idle workers spun (`sched_yield`) between executions, and with
/// a one-thread pool entered by `install` every execution waited for the
/// worker to be scheduled (a quarter of the time on a loaded machine).
/// Best effort: a test binary whose global pool already exists keeps it.
fn one_thread<R>(f: impl FnOnce() -> R) -> R {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build_global();
    });
    f()
}

/// Decodes `text` whole and checks the accounting invariant.
fn decode_checked(format: Format, text: &str) -> Sink {
    let sink = decode::decode_lines(format, 0, 1, text, FUZZ_MAX_LINE);
    let lines = count_lines(text);
    assert_eq!(
        sink.counts.total(),
        lines,
        "{}: line accounting {:?} does not add up to {lines} lines",
        format.as_str(),
        sink.counts
    );
    sink
}

/// Decodes `text` cut at record starts (chunks of about `target` bytes)
/// and checks it equals the whole decode.
fn check_chunked(format: Format, text: &str, whole: &Sink, target: usize) {
    if !format.splittable() {
        return;
    }
    let chunks = pipeline::split_chunks(text, format, target);
    if chunks.len() < 2 {
        return;
    }
    let mut events = Vec::new();
    let mut counts = decode::LineCounts::default();
    for (first_line, chunk) in chunks {
        let s = decode::decode_lines(format, 0, first_line, chunk, FUZZ_MAX_LINE);
        counts.merge(&s.counts);
        events.extend(s.events);
    }
    // As the driver does to every chunk's events, whole file or not.
    decode::finish_file(format, &mut events);
    let mut whole_events = whole.events.clone();
    decode::finish_file(format, &mut whole_events);
    assert_eq!(
        counts,
        whole.counts,
        "{}: chunked line accounting differs",
        format.as_str()
    );
    assert_eq!(
        events.len(),
        whole_events.len(),
        "{}: chunked decode gives a different number of events",
        format.as_str()
    );
    for (i, (a, b)) in events.iter().zip(&whole_events).enumerate() {
        assert_eq!(a, b, "{}: event {i} differs when chunked", format.as_str());
    }
}

/// The shared body of the text-decoder targets: bytes go through the input
/// layer's encoding detection (as in a real run), then the decoder.
pub fn text_format(format: Format, data: &[u8]) {
    let text = encoding::decode(data, None).text;
    let whole = decode_checked(format, &text);
    check_chunked(format, &text, &whole, 64);
    // The same bytes read as UTF-8 without detection (when that differs:
    // decoding the same text twice finds nothing new and halves the rate).
    let lossy = String::from_utf8_lossy(data);
    if lossy != text {
        decode_checked(format, &lossy);
    }
}

pub fn netsh_text(data: &[u8]) {
    text_format(Format::NetshText, data);
}
pub fn netmon_text(data: &[u8]) {
    text_format(Format::NetmonText, data);
}
pub fn etw_xml(data: &[u8]) {
    text_format(Format::EtwXml, data);
}
pub fn tracerpt_csv(data: &[u8]) {
    text_format(Format::TracerptCsv, data);
}
pub fn pktmon_text(data: &[u8]) {
    text_format(Format::PktmonText, data);
}
pub fn tasklist(data: &[u8]) {
    text_format(Format::Tasklist, data);
}
pub fn netstat(data: &[u8]) {
    text_format(Format::Netstat, data);
}
/// `pktmon list`, `pktmon counters` and their `--json` forms: the first byte
/// picks the format so one corpus serves the three decoders.
pub fn pktmon_tables(data: &[u8]) {
    let (sel, rest) = data.split_first().unwrap_or((&0, &[]));
    let format = match sel % 3 {
        0 => Format::PktmonList,
        1 => Format::PktmonCounters,
        _ => Format::PktmonJson,
    };
    text_format(format, rest);
}

/// The raw ETL reader, with and without packet bytes kept.
pub fn etl(data: &[u8]) {
    let out = etwnet::etl::decode_etl(data, 0);
    let kept = etwnet::etl::decode_etl_with(
        data,
        0,
        etwnet::etl::EtlOptions {
            keep_frames: true,
            ..Default::default()
        },
    );
    assert_eq!(kept.events.len(), out.events.len());
    for f in &kept.frames {
        assert!(f.event_index < kept.events.len());
    }
}

/// Zip input: the bytes as a bundle (read in place, with a small
/// decompression budget), then every entry through the whole pipeline.
pub fn zip_input(data: &[u8]) {
    one_thread(|| zip_input_body(data));
}

fn zip_input_body(data: &[u8]) {
    let opts = DiscoverOptions {
        max_unzipped: 1 << 20,
    };
    let found = input::discover_bytes("fuzz.zip", data.to_vec(), &opts);
    for p in &found.problems {
        assert!(
            p.name.starts_with("fuzz.zip"),
            "problem not named after the bundle: {p:?}"
        );
    }
    let run = RunOptions::default();
    for (i, f) in found.files.iter().enumerate() {
        // Not a zip: the bytes are one input named as given.
        assert!(
            f.name == "fuzz.zip" || f.name.starts_with("fuzz.zip!"),
            "entry name {:?}",
            f.name
        );
        let _ = pipeline::decode_file(i as u32, f, &run);
    }
}

/// The template matcher: the first byte picks a provider, the rest is a
/// rendered message.
pub fn template_match(data: &[u8]) {
    let reg = schema::registry();
    if reg.providers.is_empty() {
        return;
    }
    let (sel, rest) = data.split_first().unwrap_or((&0, &[]));
    let pi = usize::from(*sel) % reg.providers.len();
    let msg = String::from_utf8_lossy(rest);
    if let Some(m) = reg.match_in(pi, &msg) {
        assert!(reg.events.iter().any(|e| e.id == m.event_id));
    }
    if let Some(p) = reg.providers.get(pi) {
        let _ = reg.match_message(&p.name, &msg);
    }
}

/// Encoding detection and decoding: every forced encoding, and the
/// UTF-8 → UTF-16LE → UTF-8 round trip through detection.
pub fn encoding(data: &[u8]) {
    let detected = encoding::decode(data, None);
    let _ = encoding::detect(data);
    let _ = detected.encoding.name();
    for forced in [
        TextEncoding::Utf8,
        TextEncoding::Utf16Le { bom: false },
        TextEncoding::Utf16Be { bom: false },
        TextEncoding::Cp437,
        TextEncoding::Cp850,
    ]
    .into_iter()
    .chain(
        ["windows-1252", "cp866", "gbk", "shift_jis"]
            .into_iter()
            .filter_map(TextEncoding::from_label),
    ) {
        let _ = encoding::decode(data, Some(forced));
    }
    // Round trip: any text, written as UTF-16LE with a BOM (what PowerShell
    // and `pktmon format` write), reads back identical.
    let text = String::from_utf8_lossy(data);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut utf16 = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    let back = encoding::decode(&utf16, None);
    assert_eq!(back.encoding, TextEncoding::Utf16Le { bom: true });
    assert_eq!(back.text, text, "UTF-16LE round trip changed the text");
    assert!(!back.truncated);
}

/// Any bytes as one input file through the whole tool: binary/text
/// detection, encoding, format detection, decoding, correlation and every
/// output writer.
pub fn whole_pipeline(data: &[u8]) {
    one_thread(|| whole_pipeline_body(data));
}

fn whole_pipeline_body(data: &[u8]) {
    let file = InputFile {
        name: "fuzz.bin".into(),
        size: data.len() as u64,
        origin: Origin::Memory(Arc::new(data.to_vec())),
    };
    let opts = RunOptions {
        max_line_bytes: FUZZ_MAX_LINE,
        chunk_bytes: 256,
        ..RunOptions::default()
    };
    let (rep, events) = pipeline::decode_file(0, &file, &opts);
    assert_eq!(rep.events, events.len() as u64);
    assert!(
        rep.counts.total() == rep.lines || rep.notes.iter().any(|n| n.contains("please report")),
        "pipeline: accounting {:?} vs {} lines",
        rep.counts,
        rep.lines
    );
    assert!(
        !rep.notes.iter().any(|n| n.contains("please report")),
        "pipeline: decoder accounting bug: {:?} ({:?})",
        rep.notes,
        rep.format
    );
    let decoded = Decoded {
        files: vec![rep],
        events: vec![events],
        problems: Vec::new(),
    };
    // One zone per input (by its length), not all three per input: the
    // writers' zone arithmetic is the same code for every input, and three
    // passes cut the execution rate by half.
    let zones = [None, Some(-720), Some(840)];
    if let Some(tz) = zones.get(data.len() % zones.len()).copied() {
        let a = correlate::analyze(&decoded, tz);
        let mut sink = io::sink();
        let _ = output::write_events_csv(&mut sink, &decoded, tz);
        let _ = output::write_events_jsonl(&mut sink, &decoded, tz);
        let _ = output::write_summary(&mut sink, &decoded);
        let _ = output::write_detect_table(&mut sink, &decoded);
        let _ = output::timeline::write_connections(&mut sink, &decoded, &a, tz);
        let _ = output::timeline::write_events(&mut sink, &decoded, &a, tz);
        let _ = output::timeline::write_drops_csv(&mut sink, &decoded, &a, tz);
        let _ = output::timeline::write_drops_json(&mut sink, &decoded, &a, tz);
        let _ = output::timeline::write_drops_table(&mut sink, &decoded, &a, tz);
        let _ = output::timeline::write_processes(&mut sink, &decoded, &a);
        let _ = output::timeline::write_findings(&mut sink, &decoded, &a);
        let _ = sink.flush();
    }
}

/// Every target by name (for the stable loop and the seed generator).
/// A fuzz target body.
pub type Target = fn(&[u8]);

pub const TARGETS: &[(&str, Target)] = &[
    ("netsh_text", netsh_text),
    ("netmon_text", netmon_text),
    ("etw_xml", etw_xml),
    ("tracerpt_csv", tracerpt_csv),
    ("pktmon_text", pktmon_text),
    ("tasklist", tasklist),
    ("netstat", netstat),
    ("pktmon_tables", pktmon_tables),
    ("etl", etl),
    ("zip_input", zip_input),
    ("template_match", template_match),
    ("encoding", encoding),
    ("whole_pipeline", whole_pipeline),
];
