//! CI smoke test of the benchmark: generate a few MiB of each bench input,
//! run the decode pipeline and correlation as `timeline` does, and check the
//! generator's expected answer. Correctness only; no timing assertions.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin(name: &str) -> PathBuf {
    match name {
        "etwnet" => PathBuf::from(env!("CARGO_BIN_EXE_etwnet")),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_etwnet-bench-gen")),
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{:?} failed: {}\n{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn check(dir: &Path, input: &str, expected: &str, threads: &str) {
    let out = dir.join(format!("out_{input}_{threads}"));
    let _ = std::fs::remove_dir_all(&out);
    run(Command::new(bin("etwnet"))
        .args(["timeline", "-q", "--no-events", "-j", threads])
        .arg(dir.join(input))
        .arg("-o")
        .arg(&out));
    let ok = run(Command::new(bin("etwnet-bench-gen"))
        .arg("check")
        .arg("--expected")
        .arg(dir.join(expected))
        .arg("--dir")
        .arg(&out));
    assert!(ok.starts_with("OK "), "{ok}");
}

#[test]
fn bench_inputs_decode_to_the_expected_answer() {
    let dir = std::env::temp_dir().join(format!("etwnet-bench-smoke-{}", std::process::id()));
    run(Command::new(bin("gen"))
        .args(["gen", "--size-mib", "3", "--concurrent", "500", "-o"])
        .arg(&dir));
    // Same answer for one and two threads (output does not depend on the
    // thread count).
    for threads in ["1", "2"] {
        check(&dir, "netsh.txt", "expected_netsh.json", threads);
        check(&dir, "pktmon.txt", "expected_pktmon.json", threads);
        check(&dir, "tracerpt.xml", "expected_xml.json", threads);
    }
    let a = std::fs::read(dir.join("out_netsh.txt_1/connections.csv")).unwrap();
    let b = std::fs::read(dir.join("out_netsh.txt_2/connections.csv")).unwrap();
    assert_eq!(a, b, "connections.csv differs between -j 1 and -j 2");
    windowed_equals_whole(&dir);
    closed_connections_leave_memory(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

/// In a windowed run most connections have closed long before the end:
/// they are retired from memory, and connections.csv still lists them all.
fn closed_connections_leave_memory(dir: &Path) {
    let input = dir.join("netsh.txt").to_string_lossy().into_owned();
    let s = etwnet::stream::analyze_streaming(
        &[input],
        &etwnet::pipeline::RunOptions::default(),
        None,
        1000,
        None,
    )
    .unwrap();
    let total = s.analysis.connections.len();
    let live = s.analysis.connections.iter().count();
    let retired = s.analysis.retired.len();
    assert!(s.windows > 10, "{} windows", s.windows);
    assert!(retired > total / 2, "{retired} of {total} retired");
    assert_eq!(live + retired, total);
}

/// Correlating in windows of 1,000 events (dozens of windows, connections
/// and PktMon packets spanning their boundaries) writes the same files as
/// correlating the whole input at once.
fn windowed_equals_whole(dir: &Path) {
    for input in ["netsh.txt", "pktmon.txt", "tracerpt.xml"] {
        let mut outs = Vec::new();
        for window in ["1000", "100000000"] {
            let out = dir.join(format!("win_{input}_{window}"));
            let _ = std::fs::remove_dir_all(&out);
            run(Command::new(bin("etwnet"))
                .args(["timeline", "-q", "--window-events", window])
                .arg(dir.join(input))
                .arg("-o")
                .arg(&out));
            outs.push(out);
        }
        // The fast path (no events.csv; events correlation never reads are
        // dropped when decoded, messages and plain packets' fields freed)
        // gives the same tables.
        let fast = dir.join(format!("win_{input}_fast"));
        let _ = std::fs::remove_dir_all(&fast);
        run(Command::new(bin("etwnet"))
            .args(["timeline", "-q", "--no-events", "--window-events", "1000"])
            .arg(dir.join(input))
            .arg("-o")
            .arg(&fast));
        for file in [
            "connections.csv",
            "drops.csv",
            "findings.csv",
            "processes.csv",
        ] {
            let a = std::fs::read(fast.join(file)).unwrap();
            let b = std::fs::read(outs[1].join(file)).unwrap();
            assert!(
                a == b,
                "{input}: {file} differs between --no-events and events"
            );
        }
        let events = std::fs::read_to_string(outs[1].join("events.csv")).unwrap();
        assert!(
            events.lines().count() > 3_000,
            "{input}: too few events to span windows"
        );
        for file in [
            "connections.csv",
            "events.csv",
            "drops.csv",
            "findings.csv",
            "processes.csv",
        ] {
            let a = std::fs::read(outs[0].join(file)).unwrap();
            let b = std::fs::read(outs[1].join(file)).unwrap();
            assert!(a == b, "{input}: {file} differs between windowed and whole");
        }
    }
}
