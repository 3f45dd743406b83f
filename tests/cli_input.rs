//! Integration tests of the input layer through the binary: bundles,
//! encodings, hostile inputs, and detection over the real samples.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

mod common;
use common::{etwnet, shared};

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("input", name)
}

const NETSTAT: &str = "\r\nActive Connections\r\n\r\n  Proto  Local Address          Foreign Address        State           PID\r\n  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       1060\r\n";

fn utf16le_bom(s: &str) -> Vec<u8> {
    let mut v = vec![0xFF, 0xFE];
    for u in s.encode_utf16() {
        v.extend_from_slice(&u.to_le_bytes());
    }
    v
}

#[test]
fn hostile_inputs_are_reported_and_the_rest_is_processed() {
    let d = temp_dir("hostile");
    // Truncated UTF-16: odd byte count.
    let mut t = utf16le_bom(NETSTAT);
    t.push(b'X');
    std::fs::write(d.join("truncated_utf16.txt"), &t).unwrap();
    // Binary garbage.
    let bin: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(d.join("garbage.bin"), &bin).unwrap();
    // Zip with a ../evil entry and a good file.
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    w.start_file("../evil", o).unwrap();
    w.write_all(b"evil").unwrap();
    w.start_file("logs/netstat.txt", o).unwrap();
    w.write_all(NETSTAT.as_bytes()).unwrap();
    let z = w.finish().unwrap().into_inner();
    std::fs::write(d.join("bundle.zip"), &z).unwrap();

    let (code, out, err) = etwnet(&["detect", d.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("truncated_utf16.txt: utf-16le-bom: input ends in the middle of a character"),
        "{err}"
    );
    assert!(err.contains("garbage.bin: binary data"), "{err}");
    assert!(
        err.contains("bundle.zip!../evil: entry name is absolute or contains '..'"),
        "{err}"
    );
    assert!(out.contains("bundle.zip!logs/netstat.txt"), "{out}");
    // The truncated file's complete lines are still decoded.
    let line = out
        .lines()
        .find(|l| l.contains("truncated_utf16.txt"))
        .unwrap();
    assert!(line.contains("netstat"), "{line}");
    // Nothing was extracted next to the bundle.
    assert!(!d.join("../evil").exists());

    let (code, _, _) = etwnet(&["detect", "--strict", d.to_str().unwrap()]);
    assert_eq!(code, 1, "--strict turns input errors into exit 1");
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, err) = etwnet(&["detect", "--encoding", "klingon", "x"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown encoding label"));
    let (code, _, _) = etwnet(&["nonsense"]);
    assert_eq!(code, 2);
}

#[test]
fn stdin_is_an_input() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_etwnet"))
        .args(["detect", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(NETSTAT.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("- ") && l.contains("netstat")),
        "{stdout}"
    );
}

/// `detect` names a sensible format and encoding for every real sample.
#[test]
fn detect_names_every_real_sample() {
    let Some(shared) = shared() else { return };
    let root = shared.join("samples-real");
    let (code, out, err) = etwnet(&["detect", root.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let expect = |suffix: &str, format: &str, encoding: &str| {
        let line = out
            .lines()
            .find(|l| {
                l.split_whitespace()
                    .next()
                    .is_some_and(|f| f.ends_with(suffix))
            })
            .unwrap_or_else(|| panic!("{suffix} not listed:\n{out}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!((cols[1], cols[2]), (format, encoding), "{line}");
    };
    for f in [
        "dookisan_stmcast_PktMon.etl",
        "nathaniel_security_PktMon.etl",
        "neochenjf_finguard_PktMon.etl",
        "airbus_etl_parser_lxcore_kernel.etl",
        "paul90317_gobang_PktMon.etl",
        "thomasgust_tritonpilot_PktMon.etl",
    ] {
        expect(f, "etl", "binary");
    }
    expect(
        "msdocs_packet_loss_nettrace_drop.txt",
        "netsh-text",
        "utf-8",
    );
    expect("princepereira_nsi_route_delete.txt", "netsh-text", "utf-8");
    expect(
        "virtio_win_551_tracefmt_wpp_viosock.txt",
        "netsh-text",
        "utf-8",
    );
    expect(
        "wsl_10989_vfpext_block_line_markdown.txt",
        "netsh-text",
        "utf-8",
    );
    expect(
        "jsmendezm_netstat_ano_es_utf16le.txt",
        "netstat",
        "utf-16le-bom",
    );
    expect(
        "qaiser2raza_netstat_ano_fragment_utf16le.txt",
        "netstat",
        "utf-16le-bom",
    );
    expect("hamed0406_netstat_an.log", "netstat", "utf-8");
    expect("laytoncoombs_netstat_ab.txt", "netstat", "utf-8");
    expect(
        "nathaniel_security_PktMon.txt",
        "pktmon-text",
        "utf-16le-bom",
    );
    expect(
        "rosesecurity_pktmon_realtime_filters_list.txt",
        "pktmon-text",
        "utf-8",
    );
    expect("msquic_tsg_pktmon_list.txt", "pktmon-list", "utf-8");
    expect(
        "samuvel145_tasklist_fo_csv_utf16le.csv",
        "tasklist",
        "utf-16le-bom",
    );
    expect(
        "hnggiahung_tasklist_dot_thousands_utf8bom.txt",
        "tasklist",
        "utf-8-bom",
    );
    expect(
        "princepereira_tasklist_svc_sls_line.txt",
        "tasklist",
        "utf-8",
    );
    expect("willsmythe_tasklist_fo_csv.csv", "tasklist", "utf-8");
    // Prose that quotes trace lines is not a trace.
    expect("PROVENANCE.md", "unknown", "utf-8");
}

/// The README's first command is `cargo run --release -- timeline …`: with
/// two binaries in the package (etwnet and the benchmark generator) cargo
/// only knows which to run from `default-run`.
#[test]
fn readme_cargo_run_reaches_etwnet() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.contains("cargo run --release -- timeline samples/"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(
        manifest
            .lines()
            .any(|l| l.trim() == "default-run = \"etwnet\""),
        "Cargo.toml must name etwnet as default-run"
    );
}
