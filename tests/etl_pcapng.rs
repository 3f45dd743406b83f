//! pcapng export of the real PktMon captures, checked with tshark when it is
//! installed (skipped otherwise, and without ../shared).

use std::path::Path;
use std::process::Command;

use etwnet::pcapng::run_pcap;

const FILES: [&str; 5] = [
    "nathaniel_security_PktMon.etl",
    "dookisan_stmcast_PktMon.etl",
    "neochenjf_finguard_PktMon.etl",
    "thomasgust_tritonpilot_PktMon.etl",
    "paul90317_gobang_PktMon.etl",
];

fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Packets tshark reads from `path`, failing on any read error it reports.
fn tshark_count(path: &Path, filter: Option<&str>) -> usize {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n")
        .arg("-r")
        .arg(path)
        .args(["-T", "fields", "-e", "frame.number"]);
    if let Some(f) = filter {
        cmd.args(["-Y", f]);
    }
    let out = cmd.output().expect("run tshark");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tshark failed on {}: {stderr}",
        path.display()
    );
    assert!(
        !stderr.contains("appears to be damaged") && !stderr.contains("cut short"),
        "{stderr}"
    );
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn real_captures_export_to_pcapng_that_tshark_reads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/samples-real/etl_binary");
    if !root.is_dir() {
        eprintln!("note: ../shared absent, pcapng conformance skipped");
        return;
    }
    let have_tshark = tshark_available();
    if !have_tshark {
        eprintln!("note: tshark not installed, only the writer's own counts are checked");
    }
    let dir = std::env::temp_dir().join(format!("etwnet-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for name in FILES {
        let bytes = std::fs::read(root.join(name)).expect("sample");
        let out_path = dir.join(name.replace(".etl", ".pcapng"));
        let mut buf = Vec::new();
        let summary = run_pcap(&bytes, &mut buf, false, None).expect("export");
        std::fs::write(&out_path, &buf).expect("write pcapng");
        let decoded = etwnet::etl::decode_etl(&bytes, 0);
        let packet_events = decoded
            .events
            .iter()
            .filter(|e| e.packet.as_ref().is_some_and(|p| p.pkt_group_id.is_some()))
            .count() as u64;
        assert_eq!(summary.packets + summary.skipped, packet_events, "{name}");
        if have_tshark {
            assert_eq!(
                tshark_count(&out_path, None) as u64,
                summary.packets,
                "{name}"
            );
            if summary.drops > 0 {
                // Drops carry their reason in the packet comment.
                let n = tshark_count(&out_path, Some("frame.comment contains \"DROP reason\""));
                assert_eq!(n as u64, summary.drops, "{name}");
            }
        }

        // --drops-only and --component select subsets.
        let mut drops = Vec::new();
        let ds = run_pcap(&bytes, &mut drops, true, None).expect("drops");
        assert_eq!(ds.packets, ds.drops);
        assert_eq!(ds.drops, summary.drops);
        if have_tshark && ds.packets > 0 {
            let p = dir.join(name.replace(".etl", ".drops.pcapng"));
            std::fs::write(&p, &drops).expect("write");
            assert_eq!(tshark_count(&p, None) as u64, ds.packets);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nathaniel_component_filter_and_counts() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/samples-real/etl_binary/nathaniel_security_PktMon.etl");
    let Ok(bytes) = std::fs::read(path) else {
        eprintln!("note: ../shared absent, skipped");
        return;
    };
    let mut all = Vec::new();
    let s = run_pcap(&bytes, &mut all, false, None).expect("export");
    // Every 160 event of this capture is Ethernet or 802.11: all exported.
    assert_eq!(s.packets, 2705);
    assert_eq!(s.skipped, 0);
    assert_eq!(s.drops, 0);
    let mut one = Vec::new();
    let c = run_pcap(&bytes, &mut one, false, Some(84)).expect("export");
    assert!(c.packets > 0 && c.packets < s.packets);
    assert_eq!(c.interfaces, 1);
    assert!(run_pcap(b"not an etl", &mut Vec::new(), false, None).is_err());
}

#[test]
fn cli_pcap_subcommand_writes_the_file() {
    let input = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/samples-real/etl_binary/nathaniel_security_PktMon.etl");
    if !input.is_file() {
        eprintln!("note: ../shared absent, skipped");
        return;
    }
    let out_path = std::env::temp_dir().join(format!("etwnet-cli-{}.pcapng", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_etwnet"))
        .arg("pcap")
        .arg(&input)
        .arg("-o")
        .arg(&out_path)
        .args(["--component", "84"])
        .output()
        .expect("run etwnet");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let written: u64 = stdout
        .split_once(": ")
        .and_then(|(_, r)| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("packet count in output");
    assert!(written > 0, "{stdout}");
    if tshark_available() {
        assert_eq!(tshark_count(&out_path, None) as u64, written);
    }
    let _ = std::fs::remove_file(&out_path);
    // Not an ETL: a clear error, exit status 2.
    let bad = Command::new(env!("CARGO_BIN_EXE_etwnet"))
        .arg("pcap")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .arg("-o")
        .arg(std::env::temp_dir().join("etwnet-never.pcapng"))
        .output()
        .expect("run etwnet");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an .etl"));
}
