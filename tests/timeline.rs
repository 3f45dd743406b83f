//! `timeline`, `who` and `drops` end to end over the samples: the answers
//! the issues ask for, read back from the CSV the binary writes.

use std::path::{Path, PathBuf};

mod common;
use common::{etwnet, read_csv, sample, temp_dir};

/// A scratch folder name for an output directory (`timeline` creates it).
fn out_dir(name: &str) -> PathBuf {
    let d = temp_dir("timeline", name);
    let _ = std::fs::remove_dir_all(&d);
    d
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

#[test]
fn seed001_who_sent_the_udp_packet() {
    let bundle = sample("tracerpt_csv/seed001_exchange_udp_store");
    let (code, out, err) = etwnet(&[
        "who",
        "-q",
        &bundle,
        "--packet",
        "udp 10.1.1.1:36003 > 172.23.98.97:2762",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let m = &v["matches"][0];
    assert_eq!(m["pid"], 2136);
    assert_eq!(m["image"], "store.exe");
    assert!(
        m["services"]
            .as_str()
            .unwrap_or("")
            .contains("MSExchangeIS"),
        "{m}"
    );
    assert_eq!(m["confidence"], "high");
    assert_eq!(m["packet_direction"], "sent");
    let ev = m["evidence"][0].as_str().unwrap();
    assert!(
        ev.contains("dumpfile.csv:") && ev.contains("UdpIp") && ev.contains("2136"),
        "{ev}"
    );
    // The other spellings of the same packet.
    for spec in [
        "10.1.1.1:36003 -> 172.23.98.97:2762",
        "172.23.98.97:2762 10.1.1.1:36003",
    ] {
        let (_, out, _) = etwnet(&["who", "-q", &bundle, "--packet", spec]);
        assert!(out.contains("PID 2136 store.exe"), "{spec}: {out}");
    }
    // No match: say what was searched and the nearest candidates.
    let (_, out, _) = etwnet(&[
        "who",
        "-q",
        &bundle,
        "--packet",
        "udp 10.1.1.1:36003 > 172.23.98.97:9999",
    ]);
    assert!(out.contains("no connection or flow matches"), "{out}");
    assert!(
        out.contains("searched:") && out.contains("nearest candidates"),
        "{out}"
    );
}

#[test]
fn seed003_drops_and_rx_checksum_finding() {
    let bundle = sample("pktmon/seed003_bmc_udp623_checksum_drop");
    let (code, out, err) = etwnet(&["drops", "-q", &bundle, "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    let mut r = csv::Reader::from_reader(out.as_bytes());
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{out}");
    let h = r.headers().unwrap().clone();
    let get = |name: &str| {
        rows[0]
            .get(h.iter().position(|x| x == name).unwrap())
            .unwrap()
            .to_string()
    };
    assert_eq!(get("reason_code"), "1203");
    assert_eq!(get("reason"), "INET: checksum is invalid");
    assert!(
        get("component").contains("tcpip.sys"),
        "{}",
        get("component")
    );
    assert_eq!(get("src"), "192.168.1.50:623");
    assert_eq!(get("count"), "3");
    assert!(get("hint").contains("receive checksum offload"));
    // The path NIC → filters → TCPIP, ending in the drop.
    let path = get("path");
    assert!(
        path.starts_with("e1r68x64.sys")
            && path.contains("wfplwfs.sys")
            && path.ends_with("tcpip.sys [11] DROP"),
        "{path}"
    );
    let dir = timeline(&[&bundle], "s3", "2");
    let findings = read_csv(&dir.join("findings.csv"));
    let f = findings
        .iter()
        .find(|f| f["rule"] == "a:rx-checksum-offload")
        .expect("finding (a)");
    assert!(
        f["summary"].contains("192.168.1.50:623"),
        "{}",
        f["summary"]
    );
    assert!(f["evidence"].contains("pktmon.txt:"), "{}", f["evidence"]);
}

/// `timeline` over every real sample completes, accounts for every file,
/// and lists the nathaniel PktMon flows with packets per direction.
#[test]
fn timeline_over_all_real_samples() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/samples-real");
    if !root.is_dir() {
        eprintln!("skipped: ../shared is absent");
        return;
    }
    let dir = out_dir("real");
    let (code, _out, err) = etwnet(&[
        "timeline",
        root.to_str().unwrap(),
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // Every file has a summary line whose counts add up.
    let n_files = walk(&root);
    let summaries: Vec<&str> = err
        .lines()
        .filter(|l| {
            l.starts_with("  ")
                && !l.starts_with("  total:")
                && l.contains(" = ")
                && l.contains(" parsed + ")
        })
        .collect();
    assert_eq!(summaries.len(), n_files, "{err}");
    for l in summaries {
        let nums: Vec<u64> = l
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect::<Vec<_>>();
        // … N lines = P parsed + S skipped + U unknown + E error; K events
        let k = nums.len();
        assert_eq!(
            nums[k - 6],
            nums[k - 5] + nums[k - 4] + nums[k - 3] + nums[k - 2],
            "{l}"
        );
    }
    let conns = read_csv(&dir.join("connections.csv"));
    let nat: Vec<_> = conns
        .iter()
        .filter(|c| c["sources"].ends_with("nathaniel_security_PktMon.txt"))
        .collect();
    assert!(nat.len() >= 20, "{}", nat.len());
    let total: u64 = nat
        .iter()
        .map(|c| {
            c["packets_sent"].parse::<u64>().unwrap()
                + c["packets_received"].parse::<u64>().unwrap()
        })
        .sum();
    assert!(total > 100, "{total}");
    assert!(
        nat.iter().any(|c| c["proto"] == "tcp"
            && c["packets_sent"] != "0"
            && c["packets_received"] != "0")
    );
}

/// Over the real samples (many files, ETL PktMon captures whose component
/// names come in a trailer after the packets), correlating in windows of
/// 2,000 events gives the same rows as one window. Only the numbering of
/// connections may differ: windows meet connections file by file.
#[test]
fn windowed_timeline_over_real_samples_equals_whole() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/samples-real");
    if !root.is_dir() {
        eprintln!("skipped: ../shared is absent");
        return;
    }
    let renumbered = |dir: &Path, file: &str| -> Vec<String> {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let mut rows: Vec<String> = text
            .lines()
            .map(|l| {
                // Connection ids (C0001…) replaced by C.
                let mut out = String::new();
                let mut chars = l.chars().peekable();
                while let Some(c) = chars.next() {
                    out.push(c);
                    if c == 'C' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                        while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                            chars.next();
                        }
                    }
                }
                out
            })
            .collect();
        rows.sort();
        rows
    };
    let mut dirs = Vec::new();
    for window in ["100000000", "2000"] {
        let dir = out_dir(&format!("real_window_{window}"));
        let (code, _out, err) = etwnet(&[
            "timeline",
            "-q",
            "--window-events",
            window,
            root.to_str().unwrap(),
            "-o",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        dirs.push(dir);
    }
    for file in [
        "connections.csv",
        "events.csv",
        "drops.csv",
        "findings.csv",
        "processes.csv",
    ] {
        assert!(
            renumbered(&dirs[0], file) == renumbered(&dirs[1], file),
            "{file} differs between one window and windows of 2,000 events"
        );
    }
}

/// The fast path (`--no-events`: events correlation never reads are
/// dropped as decoded, and of the rest the message text except on drops and
/// the named fields of plain packets are freed) writes the same tables as
/// the run that keeps whole events for events.csv: over our samples, and
/// over the real ones when `../shared` is there.
#[test]
fn no_events_tables_equal_the_full_runs() {
    let mut inputs = vec![
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("samples")
            .to_string_lossy()
            .into_owned(),
    ];
    if let Some(shared) = common::shared() {
        inputs.push(shared.join("samples-real").to_string_lossy().into_owned());
    }
    for (i, input) in inputs.iter().enumerate() {
        let full = timeline(&[input], &format!("full_{i}"), "2");
        let fast = out_dir(&format!("fast_{i}"));
        let (code, _out, err) = etwnet(&[
            "timeline",
            "-q",
            "--no-events",
            input,
            "-o",
            fast.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(!fast.join("events.csv").exists());
        for file in [
            "connections.csv",
            "drops.csv",
            "findings.csv",
            "processes.csv",
        ] {
            let (a, b) = (
                std::fs::read_to_string(full.join(file)).unwrap(),
                std::fs::read_to_string(fast.join(file)).unwrap(),
            );
            assert!(a.lines().count() > 1 || file != "connections.csv");
            assert!(a == b, "{input}: {file} differs with --no-events");
        }
    }
}

fn walk(p: &Path) -> usize {
    std::fs::read_dir(p)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            if p.is_dir() { walk(&p) } else { 1 }
        })
        .sum()
}

#[test]
fn tz_declares_the_offset_of_local_time_sources() {
    let dir = out_dir("tz");
    let (code, _, err) = etwnet(&[
        "timeline",
        "-q",
        "--tz",
        "+02:00",
        "-o",
        dir.to_str().unwrap(),
        &sample("seed002_netsh.txt"),
    ]);
    assert_eq!(code, 0, "{err}");
    let conns = read_csv(&dir.join("connections.csv"));
    assert!(
        conns.iter().all(|c| c["first_ts"].ends_with("+02:00")),
        "{conns:#?}"
    );
    // Without --tz, netsh text times are local with no zone.
    let dir = timeline(&[&sample("seed002_netsh.txt")], "notz", "1");
    let conns = read_csv(&dir.join("connections.csv"));
    assert!(
        conns
            .iter()
            .all(|c| c["first_ts"].starts_with("2010-10-06T14:02:03.")
                && !c["first_ts"].contains('+'))
    );
    // --at picks a time; a bad value is a usage error.
    let (code, _, _) = etwnet(&[
        "who",
        "-q",
        &sample("seed002_netsh.txt"),
        "--packet",
        "tcp 192.168.1.212:13000 > 192.168.1.200:55908",
        "--at",
        "not-a-time",
    ]);
    assert_eq!(code, 2);
    let (code, out, _) = etwnet(&[
        "who",
        "-q",
        &sample("seed002_netsh.txt"),
        "--packet",
        "tcp 192.168.1.212:13000 > 192.168.1.200:55908",
        "--at",
        "2010-10-06T14:02:03",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("PID 2704") && out.contains("confidence: high"),
        "{out}"
    );
}

/// `timeline --no-events` over `input` (quiet or not): the rows of
/// finding (g) in findings.csv, and stderr.
fn duplicate_findings(input: &str, name: &str, quiet: bool) -> (Vec<String>, String) {
    let dir = out_dir(name);
    let mut args = vec![
        "timeline",
        "--no-events",
        "-o",
        dir.to_str().unwrap(),
        input,
    ];
    if quiet {
        args.insert(1, "-q");
    }
    let (code, _out, err) = etwnet(&args);
    assert_eq!(code, 0, "{err}");
    let evidence = read_csv(&dir.join("findings.csv"))
        .into_iter()
        .filter(|f| f["rule"] == "g:duplicate-capture")
        .map(|f| f["evidence"].clone())
        .collect();
    (evidence, err)
}

/// samples/pktmon holds seed 003 three times (the UTF-8 log, the same log
/// as pktmon writes it in UTF-16LE, and a real-time console session of the
/// same packets): run over the whole folder, finding (g) names exactly
/// those three files, and the summary warns on stderr.
#[test]
fn one_capture_given_several_times_is_named_by_finding_g() {
    let (dup, err) = duplicate_findings(&sample("pktmon"), "duplicate-capture", false);
    assert_eq!(dup.len(), 1, "{dup:#?}");
    let mut files: Vec<&str> = dup[0]
        .split(';')
        .filter_map(|e| e.rsplit_once(':').map(|(f, _)| f))
        .filter_map(|f| f.split("samples/pktmon/").nth(1))
        .collect();
    files.sort_unstable();
    assert_eq!(
        files,
        [
            "seed003_bmc_udp623_checksum_drop/pktmon.txt",
            "seed003_utf16le_crlf/pktmon.txt",
            "timestamp_only_realtime/pktmon_realtime.txt"
        ]
    );
    assert!(
        err.contains("warning:") && err.contains("hold the same PktMon packets"),
        "{err}"
    );
    // One bundle per capture: no finding.
    let one = sample("pktmon/seed003_bmc_udp623_checksum_drop");
    assert!(
        duplicate_findings(&one, "single-capture", true)
            .0
            .is_empty()
    );
}

/// The real PktMon capture given with its own text conversion
/// (`nathaniel_security_PktMon.etl` and `.txt`) is named by finding (g),
/// with the capture machine's UTC offset; no other pair of the real
/// samples is.
#[test]
fn real_capture_and_its_text_conversion_are_named_by_finding_g() {
    let Some(shared) = common::shared() else {
        return;
    };
    let real = shared.join("samples-real");
    let (dup, err) = duplicate_findings(real.to_str().unwrap(), "real-duplicate", false);
    assert_eq!(dup.len(), 1, "{dup:#?}");
    let evidence = &dup[0];
    assert!(
        evidence.contains("etl_binary/nathaniel_security_PktMon.etl:")
            && evidence.contains("pktmon_text/nathaniel_security_PktMon.txt:")
            && evidence.matches(';').count() == 1,
        "{evidence}"
    );
    // The .etl stamps UTC, the text the capture machine's clock (India).
    assert!(err.contains("give --tz +05:30"), "{err}");
}

/// dookisan's capture (Windows build 26100) gives each appearance of a
/// packet its own PktGroupId, and logs one SSH segment at up to 12
/// component edges: the SSH connection holds 400 sent and 326 received
/// segments — its packet events' distinct (direction, sequence,
/// acknowledgement, length, flags, IPv4 Identification), counted apart
/// from this code — and each unanswered connect 5 SYNs, not 45.
#[test]
fn per_appearance_ids_of_a_24h2_capture_count_each_packet_once() {
    let Some(shared) = common::shared() else {
        return;
    };
    let etl = shared.join("samples-real/etl_binary/dookisan_stmcast_PktMon.etl");
    let dir = out_dir("per-appearance");
    let (code, _out, err) = etwnet(&[
        "timeline",
        "-q",
        "--no-events",
        "-o",
        dir.to_str().unwrap(),
        etl.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let conns = read_csv(&dir.join("connections.csv"));
    let ssh = conns
        .iter()
        .find(|c| c["local_port"] == "1637" && c["remote_port"] == "22")
        .expect("the SSH connection");
    assert_eq!(
        (
            ssh["packets_sent"].as_str(),
            ssh["packets_received"].as_str()
        ),
        ("400", "326")
    );
    let findings = read_csv(&dir.join("findings.csv"));
    let failed: Vec<_> = findings
        .iter()
        .filter(|f| f["rule"] == "d:connect-failed")
        .collect();
    assert_eq!(failed.len(), 8);
    assert!(
        failed
            .iter()
            .all(|f| f["summary"].contains(": 5 SYNs sent")),
        "{failed:#?}"
    );
}
