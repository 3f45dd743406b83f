//! Properties the project promises for any input, tested on every build:
//! - a stable (no nightly needed) mutation loop runs every fuzz target of
//!   `tests/fuzz` over its checked-in seeds: no panic, and each target's
//!   own invariants (line accounting, chunked = whole, UTF-16 round trip);
//! - every sample's lines add up: parsed + skipped + unknown + error = lines;
//! - splitting a file at any record start gives the same events;
//! - 1 thread and N threads give byte-identical outputs;
//! - re-encoding an input UTF-8 ↔ UTF-16LE gives the same events.

#[path = "fuzz/src/targets.rs"]
mod targets;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etwnet::correlate;
use etwnet::decode::{self, Format};
use etwnet::input::{InputFile, Origin};
use etwnet::output;
use etwnet::pipeline::{self, Decoded, RunOptions};

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir`, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Sample inputs (README.md files describe samples; they are not inputs).
fn sample_files() -> Vec<PathBuf> {
    files_under(&manifest().join("samples"))
        .into_iter()
        .filter(|p| p.extension().is_none_or(|e| e != "md"))
        .collect()
}

fn memory_file(name: &str, bytes: Vec<u8>) -> InputFile {
    InputFile {
        name: name.into(),
        size: bytes.len() as u64,
        origin: Origin::Memory(Arc::new(bytes)),
    }
}

// ---------------------------------------------------------------------------
// The stable mutation loop over the fuzz targets.

/// xorshift64*: deterministic, so a failure reproduces run after run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Tokens that tend to break parsers: separators, quotes, markup, huge and
/// negative numbers, odd times, NULs, BOMs, stray surrogate halves.
const TOKENS: &[&[u8]] = &[
    b"\0",
    b"\r\n",
    b"\n",
    b"\"",
    b",",
    b"\t",
    b"<",
    b"</Event>",
    b"<Event>",
    b"<![CDATA[",
    b"&#xFFFF;",
    b"]",
    b"[",
    b"::",
    b":",
    b"0x",
    b"0xFFFFFFFFFFFFFFFFFFFF",
    b"18446744073709551616",
    b"-1",
    b"99999999999999999999999",
    b"2025/13/45-25:61:61.9999999999",
    b"9999-99-99T99:99:99.9999999999Z",
    b"1601-01-01T00:00:00Z",
    b"[::ffff:1.2.3.4%99999]:99999",
    b"999.999.999.999:65536",
    b"\xEF\xBB\xBF",
    b"\xFF\xFE",
    b"\xED\xA0\x80",
    b"\xC3",
    b"PktGroupId 18446744073709551615",
    b"=====",
    b"------ ----",
];

fn mutate(rng: &mut Rng, input: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(9) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                let i = rng.below(b.len() + 1);
                b.splice(i..i, t.iter().copied());
            }
            3 if !b.is_empty() => {
                let i = rng.below(b.len());
                let n = rng.below(b.len() - i).min(64) + 1;
                b.drain(i..(i + n).min(b.len()));
            }
            4 if !b.is_empty() => {
                // Duplicate a run (repeated records, nested elements).
                let i = rng.below(b.len());
                let n = rng.below(b.len() - i).min(256) + 1;
                let run: Vec<u8> = b[i..(i + n).min(b.len())].to_vec();
                let at = rng.below(b.len() + 1);
                b.splice(at..at, run);
            }
            5 if !b.is_empty() => {
                b.truncate(rng.below(b.len()));
            }
            6 if !others.is_empty() => {
                // Splice the tail of another seed in.
                let o = &others[rng.below(others.len())];
                let from = rng.below(o.len() + 1);
                let at = rng.below(b.len() + 1);
                b.truncate(at);
                b.extend_from_slice(&o[from..]);
            }
            7 if b.len() >= 8 => {
                // Overwrite a little-endian integer (binary formats).
                let i = rng.below(b.len() - 7);
                let v: u64 = match rng.below(4) {
                    0 => 0,
                    1 => u64::MAX,
                    2 => 1 << rng.below(64),
                    _ => rng.next(),
                };
                let w = [1usize, 2, 4, 8][rng.below(4)];
                b[i..i + w].copy_from_slice(&v.to_le_bytes()[..w]);
            }
            _ => {
                let i = rng.below(b.len() + 1);
                b.insert(i, rng.next() as u8);
            }
        }
    }
    b
}

/// Runs one target over its seeds and mutants for about `budget`.
/// Returns the number of executions.
fn mutation_loop(name: &str, target: fn(&[u8]), budget: Duration) -> u64 {
    let dir = manifest().join("tests/fuzz/seeds").join(name);
    let seeds: Vec<Vec<u8>> = files_under(&dir)
        .iter()
        .filter_map(|p| fs::read(p).ok())
        .collect();
    assert!(!seeds.is_empty(), "no seeds for fuzz target {name}");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ name.len() as u64);
    let start = Instant::now();
    let mut execs = 0u64;
    for s in &seeds {
        target(s);
        execs += 1;
    }
    while start.elapsed() < budget {
        let base = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, base, &seeds);
        let run = std::panic::catch_unwind(|| target(&input));
        if let Err(e) = run {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "fuzz target {name} failed after {execs} runs: {msg}\ninput ({} bytes): {:?}",
                input.len(),
                String::from_utf8_lossy(&input[..input.len().min(2000)])
            );
        }
        execs += 1;
    }
    execs
}

#[test]
fn every_fuzz_target_survives_mutated_seeds() {
    // A few seconds in all: CI runs this on every build; tests/fuzz/run.sh
    // runs the same bodies under libFuzzer for much longer.
    let per_target = Duration::from_millis(
        std::env::var("ETWNET_MUTATION_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(400),
    );
    for (name, target) in targets::TARGETS {
        let n = mutation_loop(name, *target, per_target);
        eprintln!("{name}: {n} executions");
    }
}

// ---------------------------------------------------------------------------
// Accounting over every sample.

#[test]
fn every_sample_accounts_for_every_line() {
    let files: Vec<String> = sample_files()
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert!(files.len() > 20, "samples/ not found");
    let opts = RunOptions {
        chunk_bytes: 1024,
        ..RunOptions::default()
    };
    let d = pipeline::run(&files, &opts);
    assert!(d.problems.is_empty(), "{:?}", d.problems);
    for f in &d.files {
        assert_eq!(
            f.counts.total(),
            f.lines,
            "{}: {:?} vs {} lines",
            f.name,
            f.counts,
            f.lines
        );
        assert!(
            !f.notes.iter().any(|n| n.contains("please report")),
            "{}: {:?}",
            f.name,
            f.notes
        );
        assert_ne!(f.format, Some(Format::Unknown), "{} not detected", f.name);
    }
}

// ---------------------------------------------------------------------------
// Chunking at record starts.

#[test]
fn chunking_at_any_record_start_gives_the_same_events() {
    let mut checked = 0;
    for p in sample_files() {
        let bytes = fs::read(&p).unwrap();
        let text = etwnet::input::encoding::decode(&bytes, None).text;
        let format = etwnet::detect::detect_text(&text);
        if !format.splittable() {
            continue;
        }
        let whole = decode::decode_text(format, 0, 1, &text).unwrap();
        assert!(!whole.events.is_empty(), "{}", p.display());
        // target 1 = a chunk at every record start.
        for target in [1, 13, 200, 1500] {
            let mut events = Vec::new();
            let mut counts = decode::LineCounts::default();
            let chunks = pipeline::split_chunks(&text, format, target);
            for (first, chunk) in &chunks {
                let s = decode::decode_text(format, 0, *first, chunk).unwrap();
                counts.merge(&s.counts);
                events.extend(s.events);
            }
            // As the driver does once a file's chunks are joined.
            decode::finish_file(format, &mut events);
            assert_eq!(counts, whole.counts, "{} cut at ~{target}", p.display());
            assert_eq!(
                events.len(),
                whole.events.len(),
                "{} cut at ~{target} into {} chunks",
                p.display(),
                chunks.len()
            );
            for (a, b) in events.iter().zip(&whole.events) {
                assert_eq!(a, b, "{} cut at ~{target}", p.display());
            }
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} splittable samples");
}

// ---------------------------------------------------------------------------
// Thread count.

/// Every output the tool writes, for `d`, as bytes.
fn all_outputs(d: &Decoded) -> Vec<(String, Vec<u8>)> {
    let a = correlate::analyze(d, None);
    let mut out = Vec::new();
    let mut push = |name: &str, f: &mut dyn FnMut(&mut Vec<u8>)| {
        let mut b = Vec::new();
        f(&mut b);
        out.push((name.to_string(), b));
    };
    push("events.csv", &mut |b| {
        output::write_events_csv(b, d, None).unwrap()
    });
    push("events.jsonl", &mut |b| {
        output::write_events_jsonl(b, d, None).unwrap()
    });
    push("summary", &mut |b| output::write_summary(b, d).unwrap());
    push("connections.csv", &mut |b| {
        output::timeline::write_connections(b, d, &a, None).unwrap()
    });
    push("timeline events.csv", &mut |b| {
        output::timeline::write_events(b, d, &a, None).unwrap()
    });
    push("drops.csv", &mut |b| {
        output::timeline::write_drops_csv(b, d, &a, None).unwrap()
    });
    push("drops table", &mut |b| {
        output::timeline::write_drops_table(b, d, &a, None).unwrap()
    });
    push("processes.csv", &mut |b| {
        output::timeline::write_processes(b, d, &a).unwrap()
    });
    push("findings.csv", &mut |b| {
        output::timeline::write_findings(b, d, &a).unwrap()
    });
    out
}

#[test]
fn one_and_many_threads_give_identical_outputs_library() {
    let files: Vec<String> = sample_files()
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    // Small chunks so files are cut and decoded in parallel too.
    let opts = RunOptions {
        chunk_bytes: 700,
        ..RunOptions::default()
    };
    let run_with = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| all_outputs(&pipeline::run(&files, &opts)))
    };
    let one = run_with(1);
    for n in [2, 5] {
        let many = run_with(n);
        for ((name, a), (_, b)) in one.iter().zip(&many) {
            assert!(a == b, "{name} differs between 1 and {n} threads");
        }
    }
    // And chunking itself does not change the answer.
    let whole = all_outputs(&pipeline::run(&files, &RunOptions::default()));
    for ((name, a), (_, b)) in one.iter().zip(&whole) {
        assert!(a == b, "{name} differs between chunked and whole decoding");
    }
}

#[test]
fn one_and_many_threads_give_identical_timeline_files() {
    let samples = manifest().join("samples");
    let run = |threads: &str| {
        let dir =
            std::env::temp_dir().join(format!("etwnet-props-{}-j{threads}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let out = Command::new(env!("CARGO_BIN_EXE_etwnet"))
            .args(["timeline", "-q", "-j", threads, "-o"])
            .arg(&dir)
            .arg(&samples)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let files: Vec<(String, Vec<u8>)> = files_under(&dir)
            .into_iter()
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    fs::read(&p).unwrap(),
                )
            })
            .collect();
        let _ = fs::remove_dir_all(&dir);
        files
    };
    let one = run("1");
    assert!(
        one.len() >= 5,
        "{:?}",
        one.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    let four = run("4");
    assert_eq!(one.len(), four.len());
    for ((name, a), (_, b)) in one.iter().zip(&four) {
        assert!(a == b, "{name} differs between -j 1 and -j 4");
    }
}

// ---------------------------------------------------------------------------
// Re-encoding.

fn utf16le(text: &str, bom: bool) -> Vec<u8> {
    let mut b = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
    for u in text.encode_utf16() {
        b.extend_from_slice(&u.to_le_bytes());
    }
    b
}

#[test]
fn reencoding_utf8_and_utf16le_gives_the_same_events() {
    let opts = RunOptions::default();
    let mut checked = 0;
    for p in sample_files() {
        let bytes = fs::read(&p).unwrap();
        if etwnet::detect::detect_binary(&bytes).is_some() {
            continue;
        }
        let text = etwnet::input::encoding::decode(&bytes, None).text;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text).to_string();
        let (ref_rep, ref_events) =
            pipeline::decode_file(0, &memory_file("x", text.clone().into_bytes()), &opts);
        for (label, enc) in [
            (
                "utf-8 bom",
                [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat(),
            ),
            ("utf-16le bom", utf16le(&text, true)),
            ("utf-16le", utf16le(&text, false)),
        ] {
            let (rep, events) = pipeline::decode_file(0, &memory_file("x", enc), &opts);
            assert_eq!(rep.format, ref_rep.format, "{} as {label}", p.display());
            assert_eq!(rep.counts, ref_rep.counts, "{} as {label}", p.display());
            assert_eq!(events.len(), ref_events.len(), "{} as {label}", p.display());
            for (a, b) in events.iter().zip(&ref_events) {
                assert_eq!(a, b, "{} as {label}", p.display());
            }
        }
        checked += 1;
    }
    assert!(checked > 20);
}
