//! `timeline`, `who` and `drops` end to end over the samples: the answers
//! the issues ask for, read back from the CSV the binary writes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn etwnet(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_etwnet"))
        .args(args)
        .output()
        .expect("run etwnet");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sample(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

fn out_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("etwnet-timeline-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn read_csv(p: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            headers
                .iter()
                .zip(rec.unwrap().iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn timeline(inputs: &[&str], name: &str, threads: &str) -> PathBuf {
    let dir = out_dir(name);
    let mut args = vec!["timeline", "-q", "-j", threads, "-o", dir.to_str().unwrap()];
    args.extend_from_slice(inputs);
    let (code, _out, err) = etwnet(&args);
    assert_eq!(code, 0, "{err}");
    dir
}

fn check_seed002(dir: &Path, with_packets: bool) {
    let conns = read_csv(&dir.join("connections.csv"));
    let c = conns
        .iter()
        .find(|c| c["remote_port"] == "55908")
        .unwrap_or_else(|| panic!("no accepted connection: {conns:#?}"));
    assert_eq!(c["proto"], "tcp");
    assert_eq!(
        (c["local_addr"].as_str(), c["local_port"].as_str()),
        ("192.168.1.212", "13000")
    );
    assert_eq!(c["remote_addr"], "192.168.1.200");
    assert_eq!(c["direction"], "inbound");
    assert_eq!(c["pid"], "2704");
    assert_eq!(
        c["states"],
        "Listen>SynRcvd>Established>CloseWait>LastAck>Closed"
    );
    assert_eq!(c["final_state"], "Closed");
    assert_eq!(
        (c["bytes_received"].as_str(), c["bytes_sent"].as_str()),
        ("13", "13")
    );
    assert_eq!(c["close_reason"], "STATUS_CONNECTION_ABORTED");
    assert_eq!(c["tcb"], "0x8921DD28");
    assert_eq!(c["endpoint"], "0x892FB6D8");
    assert_eq!(c["confidence"], "high");
    let l = conns
        .iter()
        .find(|c| c["direction"] == "listener")
        .expect("listener row");
    assert_eq!(
        (
            l["local_addr"].as_str(),
            l["local_port"].as_str(),
            l["pid"].as_str()
        ),
        ("192.168.1.212", "13000", "2704")
    );
    assert_eq!(conns.len(), 2, "{conns:#?}");
    let findings = read_csv(&dir.join("findings.csv"));
    if with_packets {
        assert_eq!(c["process"], "tcpserver.exe");
        assert_eq!(
            (c["packets_received"].as_str(), c["packets_sent"].as_str()),
            ("5", "4")
        );
        let f = findings
            .iter()
            .find(|f| f["rule"] == "b:tx-checksum-offload")
            .expect("finding (b)");
        assert!(f["conn_ids"].contains(&c["conn_id"]));
        assert_eq!(f["evidence"].split(';').count(), 4);
    }
    // Every AFD/TCPIP event of the accepted socket is on the connection's timeline.
    let events = read_csv(&dir.join("events.csv"));
    let on_conn = events
        .iter()
        .filter(|e| e["conn_id"] == c["conn_id"])
        .count();
    assert!(on_conn >= 30, "{on_conn}");
    assert!(
        events
            .iter()
            .any(|e| e["conn_id"] == c["conn_id"] && e["kind"] == "afd-close")
    );
}

#[test]
fn seed002_netmon_accepted_connection() {
    let dir = timeline(&[&sample("seed002_netmon_afd_tcpip.txt")], "s2m", "2");
    check_seed002(&dir, true);
}

#[test]
fn seed002_netsh_accepted_connection() {
    let dir = timeline(&[&sample("seed002_netsh.txt")], "s2n", "2");
    check_seed002(&dir, false);
}

#[test]
fn timeline_is_identical_for_1_and_n_threads() {
    let inputs = [
        sample("seed002_netmon_afd_tcpip.txt"),
        sample("tasklist"),
        sample("netstat"),
    ];
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let a = timeline(&refs, "t1", "1");
    let b = timeline(&refs, "t4", "4");
    for f in [
        "connections.csv",
        "events.csv",
        "drops.csv",
        "processes.csv",
        "findings.csv",
    ] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs"
        );
    }
}
