//! tasklist and netstat decoders on the samples in `samples/` (every form,
//! named for its quirk) and on the real files in `../shared/samples-real/`
//! (conformance; skipped when `../shared` is absent).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use etwnet::decode::{Format, Sink, common, decode_text, netstat, tasklist};
use etwnet::event::{Endpoint, Event, Kind, Layer, Proto};
use etwnet::input::encoding;

/// Decodes a file the way the input layer does (encoding first) and checks
/// that every line was classified exactly once.
fn decode_file(format: Format, path: &Path) -> (Sink, String) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let decoded = encoding::decode(&bytes, None);
    let sink = decode_text(format, 0, 1, &decoded.text).expect("decoder exists");
    assert_eq!(
        sink.counts.total(),
        common::count_lines(&decoded.text),
        "{}: line accounting does not add up: {:?}",
        path.display(),
        sink.counts
    );
    (sink, decoded.text)
}

fn sample(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(rel)
}

fn clean(sink: &Sink, what: &str) {
    assert_eq!(sink.counts.unknown, 0, "{what}: {:?}", sink.diagnostics);
    assert_eq!(sink.counts.error, 0, "{what}: {:?}", sink.diagnostics);
}

fn by_pid(sink: &Sink, pid: u32) -> &Event {
    sink.events
        .iter()
        .find(|e| e.pid == Some(pid))
        .unwrap_or_else(|| panic!("no row for PID {pid}"))
}

fn ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

fn ep(s: &str, port: u16) -> Option<Endpoint> {
    Some(Endpoint {
        ip: ip(s),
        port: Some(port),
    })
}

fn assert_process_rows(sink: &Sink) {
    for e in &sink.events {
        assert_eq!(e.layer, Layer::Process);
        assert_eq!(e.kind, Kind::ProcessInfo);
        assert_eq!(e.provider.as_deref(), Some("tasklist"));
        assert!(e.pid.is_some());
        let image = e.process_name.as_deref().unwrap_or("");
        assert!(
            !image.is_empty() && !image.contains('\u{fffd}'),
            "{image:?}"
        );
        assert_eq!(e.field("image"), Some(image));
    }
}

fn assert_socket_rows(sink: &Sink) {
    for e in &sink.events {
        assert_eq!(e.layer, Layer::SocketTable);
        assert_eq!(e.kind, Kind::SocketRow);
        assert_eq!(e.provider.as_deref(), Some("netstat"));
        assert!(matches!(e.proto, Some(Proto::Tcp | Proto::Udp)));
        assert!(e.local.is_some() && e.remote.is_some());
        match e.proto {
            Some(Proto::Udp) => assert_eq!(e.field("state"), None),
            _ => assert!(e.field("state").is_some()),
        }
        if let Some(img) = &e.process_name {
            assert!(!img.contains('\u{fffd}'));
        }
    }
}

// ---------------------------------------------------------------- tasklist

#[test]
fn tasklist_svc_wrapped_services() {
    let (s, _) = decode_file(
        Format::Tasklist,
        &sample("tasklist/tasklist_svc_wrapped_services.txt"),
    );
    clean(&s, "svc");
    assert_process_rows(&s);
    assert_eq!(s.events.len(), 17);
    assert_eq!(s.counts.skipped, 3);
    let store = by_pid(&s, 2136);
    assert_eq!(store.process_name.as_deref(), Some("store.exe"));
    assert_eq!(store.field("services"), Some("MSExchangeIS"));
    assert_eq!(
        by_pid(&s, 1564).field("services"),
        Some("IISADMIN,IMAP4Svc,POP3Svc,RESvc,SMTPSVC,W3SVC")
    );
    let netsvcs = by_pid(&s, 800).field("services").unwrap_or("");
    assert_eq!(netsvcs.split(',').count(), 19);
    assert!(netsvcs.starts_with("AeLookupSvc,AudioSrv,") && netsvcs.ends_with(",wuauserv"));
    assert_eq!(by_pid(&s, 0).field("services"), None);
    assert_eq!(by_pid(&s, 5176).field("services"), None);
    // Continuation rows are merged, not separate processes.
    assert_eq!(s.events.iter().filter(|e| e.pid == Some(800)).count(), 1);
    assert!(tasklist::sniff(
        &std::fs::read_to_string(sample("tasklist/tasklist_svc_wrapped_services.txt"))
            .unwrap_or_default()
    ));
}

#[test]
fn tasklist_v_fo_list_german() {
    let (s, text) = decode_file(
        Format::Tasklist,
        &sample("tasklist/tasklist_v_fo_list_german.txt"),
    );
    clean(&s, "german list");
    assert_process_rows(&s);
    assert_eq!(s.events.len(), 6);
    assert_eq!(s.counts.parsed, 54);
    let sys = by_pid(&s, 4);
    assert_eq!(sys.field("mem_kb"), Some("13160"));
    assert_eq!(sys.field("user"), None);
    assert_eq!(sys.field("window_title"), None);
    let explorer = by_pid(&s, 6148);
    assert_eq!(explorer.field("status"), Some("Wird ausgeführt"));
    assert_eq!(explorer.field("user"), Some("PC-MUELLER\\jmueller"));
    assert_eq!(explorer.field("cpu_time"), Some("0:02:31"));
    assert_eq!(explorer.field("window_title"), Some("Programmmanager"));
    assert_eq!(explorer.field("session_name"), Some("Console"));
    assert_eq!(explorer.field("session"), Some("1"));
    assert_eq!(explorer.field("mem_kb"), Some("112904"));
    assert_eq!(
        by_pid(&s, 9216).field("window_title"),
        Some("bericht.txt - Editor")
    );
    // Localized N/A memory: field absent.
    assert_eq!(by_pid(&s, 11872).field("mem_kb"), None);
    assert!(tasklist::sniff(&text));
}

#[test]
fn tasklist_fo_csv_nh() {
    let (s, text) = decode_file(Format::Tasklist, &sample("tasklist/tasklist_fo_csv_nh.csv"));
    clean(&s, "csv nh");
    assert_process_rows(&s);
    assert_eq!((s.events.len(), s.counts.skipped), (7, 0));
    let chrome = by_pid(&s, 7044);
    assert_eq!(
        chrome.field("window_title"),
        Some("Inbox (3) - alice@contoso.com - Outlook, Mail - Google Chrome")
    );
    assert_eq!(chrome.field("mem_kb"), Some("212488"));
    assert_eq!(
        by_pid(&s, 8812).field("window_title"),
        Some("Q3 \"final\" report.docx - Word")
    );
    assert_eq!(by_pid(&s, 9480).field("status"), Some("Not Responding"));
    assert_eq!(
        by_pid(&s, 2804).field("user"),
        Some("NT AUTHORITY\\LOCAL SERVICE")
    );
    assert_eq!(by_pid(&s, 4).field("user"), None);
    assert_eq!(by_pid(&s, 0).field("cpu_time"), Some("41:23:11"));
    assert!(tasklist::sniff(&text));
    assert!(!netstat::sniff(&text));
}

#[test]
fn tasklist_m_modules() {
    let (s, _) = decode_file(Format::Tasklist, &sample("tasklist/tasklist_m_modules.txt"));
    clean(&s, "modules");
    assert_process_rows(&s);
    assert_eq!(s.events.len(), 6);
    assert_eq!(s.counts.parsed, 14);
    assert_eq!(by_pid(&s, 548).field("modules"), Some("ntdll.dll"));
    let csrss = by_pid(&s, 812).field("modules").unwrap_or("");
    assert_eq!(csrss.split(',').count(), 14);
    assert!(csrss.starts_with("ntdll.dll,CSRSRV.dll,basesrv.DLL,winsrv.DLL,"));
    assert_eq!(
        by_pid(&s, 10244)
            .field("modules")
            .map(|m| m.split(',').count()),
        Some(14)
    );
    assert!(s.events.iter().all(|e| e.field("services").is_none()));
}

/// Every sample of ours is recognised by its own module's `sniff` and not
/// by the other one's (the lead's detection can call them).
#[test]
fn sniff_accepts_every_sample() {
    for (dir, own, other) in [
        (
            "tasklist",
            tasklist::sniff as fn(&str) -> bool,
            netstat::sniff as fn(&str) -> bool,
        ),
        ("netstat", netstat::sniff, tasklist::sniff),
    ] {
        let Ok(rd) = std::fs::read_dir(sample(dir)) else {
            panic!("samples/{dir} missing");
        };
        for entry in rd.flatten() {
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            let text = encoding::decode(&bytes, None).text;
            assert!(own(&text), "{}", entry.path().display());
            assert!(!other(&text), "{}", entry.path().display());
        }
    }
}

#[test]
fn tasklist_v_table_not_responding() {
    let (s, _) = decode_file(
        Format::Tasklist,
        &sample("tasklist/tasklist_v_table_not_responding.txt"),
    );
    clean(&s, "v table");
    assert_process_rows(&s);
    assert_eq!((s.events.len(), s.counts.skipped), (8, 3));
    let ssms = by_pid(&s, 7424);
    assert_eq!(ssms.field("status"), Some("Not Responding"));
    assert_eq!(ssms.field("user"), Some("CONTOSO\\bob"));
    assert_eq!(ssms.field("cpu_time"), Some("0:12:48"));
    assert_eq!(ssms.field("session_name"), Some("RDP-Tcp#3"));
    // The window title runs past the underline.
    assert_eq!(
        ssms.field("window_title"),
        Some(
            "SQLQuery1.sql - SQL01.master (CONTOSO\\bob (61)) - Microsoft SQL Server Management Studio"
        )
    );
    assert_eq!(by_pid(&s, 3312).field("mem_kb"), Some("2104388"));
    assert_eq!(
        by_pid(&s, 1184).field("user"),
        Some("NT AUTHORITY\\NETWORK SERVICE")
    );
    assert_eq!(by_pid(&s, 0).field("cpu_time"), Some("112:41:07"));
    assert_eq!(by_pid(&s, 4).field("user"), None);
    assert_eq!(by_pid(&s, 5880).field("window_title"), None);
    // Truncated image name, and a disconnected session without a name.
    assert_eq!(
        by_pid(&s, 8016).process_name.as_deref(),
        Some("Microsoft.ServiceHub.Cont")
    );
    assert_eq!(by_pid(&s, 9120).field("session_name"), None);
    assert_eq!(by_pid(&s, 9120).field("session"), Some("3"));
}

#[test]
fn tasklist_french_cp850_nbsp() {
    let path = sample("tasklist/tasklist_french_cp850_nbsp.txt");
    let bytes = std::fs::read(&path).unwrap_or_default();
    assert!(bytes.contains(&0xFF), "sample must carry CP850 NBSP bytes");
    let (s, text) = decode_file(Format::Tasklist, &path);
    clean(&s, "french");
    assert_process_rows(&s);
    assert_eq!(s.events.len(), 10);
    assert_eq!(by_pid(&s, 120).field("mem_kb"), Some("34452"));
    assert_eq!(by_pid(&s, 7412).field("mem_kb"), Some("1040592"));
    // A 25-character name with an accented letter fills the image column.
    assert_eq!(
        by_pid(&s, 5264).process_name.as_deref(),
        Some("Système_de_sauvegarde.exe")
    );
    assert_eq!(by_pid(&s, 5264).field("session"), Some("1"));
    assert!(tasklist::sniff(&text));
}

// ---------------------------------------------------------------- netstat

#[test]
fn netstat_anob_services() {
    let (s, text) = decode_file(
        Format::Netstat,
        &sample("netstat/netstat_anob_services.txt"),
    );
    clean(&s, "anob");
    assert_socket_rows(&s);
    assert_eq!(s.events.len(), 16);
    assert_eq!((s.counts.parsed, s.counts.skipped), (39, 4));
    assert_eq!(
        s.events
            .iter()
            .filter(|e| e.field("ownership") == Some("unavailable"))
            .count(),
        4
    );
    let rpc = &s.events[1];
    assert_eq!(rpc.pid, Some(680));
    assert_eq!(rpc.local, ep("0.0.0.0", 135));
    assert_eq!(rpc.field("services"), Some("RpcSs"));
    assert_eq!(rpc.field("image"), Some("svchost.exe"));
    assert_eq!(rpc.process_name.as_deref(), Some("svchost.exe"));
    assert_eq!(s.events[0].field("ownership"), Some("unavailable"));
    assert_eq!(s.events[0].process_name, None);
    let store: Vec<&Event> = s.events.iter().filter(|e| e.pid == Some(2136)).collect();
    assert_eq!(store.len(), 2);
    assert_eq!(store[0].remote, ep("10.1.1.5", 3268));
    assert_eq!(store[1].proto, Some(Proto::Udp));
    assert_eq!(
        store[1].remote,
        Some(Endpoint {
            ip: None,
            port: None
        })
    );
    // TIME_WAIT rows have no -b lines; the next row follows directly.
    let tw = by_pid(&s, 0);
    assert_eq!(tw.field("state"), Some("TIME_WAIT"));
    assert_eq!(
        (tw.process_name.as_ref(), tw.field("ownership")),
        (None, None)
    );
    assert!(netstat::sniff(&text));
    assert!(!tasklist::sniff(&text));
}

#[test]
fn netstat_ano_ipv6_zone() {
    let (s, _) = decode_file(
        Format::Netstat,
        &sample("netstat/netstat_ano_ipv6_zone.txt"),
    );
    clean(&s, "ipv6 zone");
    assert_socket_rows(&s);
    assert_eq!(s.events.len(), 13);
    let smb = s
        .events
        .iter()
        .find(|e| e.local.and_then(|l| l.port) == Some(49702))
        .expect("zone row");
    assert_eq!(smb.local, ep("fe80::8d3c:2a41:61e4:b0c1", 49702));
    assert_eq!(smb.remote, ep("fe80::1c2b:3aff:fe4d:5e6f", 445));
    assert_eq!(smb.field("state"), Some("ESTABLISHED"));
    assert_eq!(smb.pid, Some(4));
    let dhcp6 = by_pid(&s, 1452);
    assert_eq!(dhcp6.local, ep("fe80::8d3c:2a41:61e4:b0c1", 546));
    assert_eq!(by_pid(&s, 7788).remote, ep("2001:db8:20::15", 443));
}

#[test]
fn netstat_an_russian_cp866() {
    let (s, text) = decode_file(
        Format::Netstat,
        &sample("netstat/netstat_an_russian_cp866.txt"),
    );
    assert!(text.contains("Активные подключения"), "CP866 decoded");
    clean(&s, "russian");
    assert_socket_rows(&s);
    assert_eq!((s.events.len(), s.counts.skipped), (11, 4));
    assert!(s.events.iter().all(|e| e.pid.is_none()));
    assert_eq!(s.events[6].field("state"), Some("SYN_SENT"));
    assert_eq!(s.events[6].remote, ep("10.20.30.9", 8080));
    assert!(netstat::sniff(&text));
}

// ------------------------------------------------------------ conformance

fn shared_dir() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("note: {} absent, conformance test skipped", p.display());
        None
    }
}

fn real(shared: &Path, rel: &str) -> PathBuf {
    shared.join("samples-real").join(rel)
}

#[test]
fn conformance_every_real_file_parses_cleanly() {
    let Some(shared) = shared_dir() else { return };
    for (dir, format) in [("tasklist", Format::Tasklist), ("netstat", Format::Netstat)] {
        let Ok(rd) = std::fs::read_dir(real(&shared, dir)) else {
            panic!("missing samples-real/{dir}");
        };
        let mut n = 0;
        for entry in rd.flatten() {
            let path = entry.path();
            let (s, text) = decode_file(format, &path);
            clean(&s, &path.display().to_string());
            assert!(!s.events.is_empty(), "{}", path.display());
            match format {
                Format::Tasklist => {
                    assert_process_rows(&s);
                    assert!(tasklist::sniff(&text), "sniff {}", path.display());
                    assert!(!netstat::sniff(&text), "{}", path.display());
                }
                _ => {
                    assert_socket_rows(&s);
                    assert!(netstat::sniff(&text), "sniff {}", path.display());
                    assert!(!tasklist::sniff(&text), "{}", path.display());
                }
            }
            n += 1;
        }
        assert!(n > 0);
    }
}

#[test]
fn conformance_tasklist_rows() {
    let Some(shared) = shared_dir() else { return };

    let (s, _) = decode_file(
        Format::Tasklist,
        &real(&shared, "tasklist/willsmythe_tasklist_fo_csv.csv"),
    );
    assert_eq!((s.events.len(), s.counts.skipped), (382, 1));
    assert!(s.events.iter().all(|e| e.field("session").is_some()));
    let vmmem = by_pid(&s, 13516);
    assert_eq!(vmmem.process_name.as_deref(), Some("vmmem"));
    assert_eq!(vmmem.field("mem_kb"), None);
    assert_eq!(by_pid(&s, 3884).field("mem_kb"), Some("2538880"));
    assert_eq!(
        by_pid(&s, 3884).process_name.as_deref(),
        Some("Memory Compression")
    );
    assert_eq!(
        by_pid(&s, 12320).process_name.as_deref(),
        Some("Docker for Windows.exe")
    );
    assert_eq!(by_pid(&s, 12320).field("session"), Some("2"));
    assert_eq!(
        by_pid(&s, 20396).process_name.as_deref(),
        Some("WindowsInternal.ComposableShell.Experiences.TextInput.InputApp.exe")
    );

    let (s, _) = decode_file(
        Format::Tasklist,
        &real(&shared, "tasklist/samuvel145_tasklist_fo_csv_utf16le.csv"),
    );
    assert_eq!(s.events.len(), 233);
    assert_eq!(by_pid(&s, 704).process_name.as_deref(), Some("smss.exe"));
    assert_eq!(by_pid(&s, 704).field("mem_kb"), None);
    assert_eq!(by_pid(&s, 4).field("mem_kb"), Some("1704"));
    assert_eq!(
        s.events[0].process_name.as_deref(),
        Some("System Idle Process")
    );

    let (s, _) = decode_file(
        Format::Tasklist,
        &real(
            &shared,
            "tasklist/hnggiahung_tasklist_dot_thousands_utf8bom.txt",
        ),
    );
    assert_eq!((s.events.len(), s.counts.skipped), (2, 3));
    assert_eq!(by_pid(&s, 5376).field("mem_kb"), Some("1420"));
    assert_eq!(by_pid(&s, 5052).field("mem_kb"), Some("27296"));
    assert_eq!(by_pid(&s, 5052).process_name.as_deref(), Some("node.exe"));

    let (s, _) = decode_file(
        Format::Tasklist,
        &real(&shared, "tasklist/princepereira_tasklist_svc_sls_line.txt"),
    );
    assert_eq!(s.events.len(), 1);
    assert_eq!(
        by_pid(&s, 2300).process_name.as_deref(),
        Some("svchost.exe")
    );
    assert_eq!(by_pid(&s, 2300).field("services"), Some("hns"));
}

#[test]
fn conformance_netstat_rows() {
    let Some(shared) = shared_dir() else { return };

    let (s, _) = decode_file(
        Format::Netstat,
        &real(&shared, "netstat/laytoncoombs_netstat_ab.txt"),
    );
    assert_eq!(s.events.len(), 66);
    let first = &s.events[0];
    assert_eq!(first.local, ep("10.46.88.66", 50111));
    assert_eq!(
        first.remote,
        Some(Endpoint {
            ip: None,
            port: None
        })
    );
    assert_eq!(first.field("remote_text"), Some("chi02legaldc01:msft-gc"));
    assert_eq!(first.process_name.as_deref(), Some("CiscoJabber.exe"));
    assert_eq!(first.pid, None);
    let https = s
        .events
        .iter()
        .find(|e| e.field("remote_text") == Some("10.46.47.17:https"))
        .expect("ip:https row");
    assert_eq!(
        https.remote,
        Some(Endpoint {
            ip: ip("10.46.47.17"),
            port: None
        })
    );
    assert_eq!(
        s.events
            .iter()
            .filter(|e| e.field("ownership") == Some("unavailable"))
            .count(),
        2
    );
    let named_port = s
        .events
        .iter()
        .find(|e| e.field("remote_text") == Some("fwdexcas03:59532"))
        .expect("name:port row");
    assert_eq!(
        named_port.remote,
        Some(Endpoint {
            ip: None,
            port: Some(59532)
        })
    );
    assert_eq!(
        s.events
            .iter()
            .filter(|e| e.field("state") == Some("FIN_WAIT_2"))
            .count(),
        4
    );

    let (s, _) = decode_file(
        Format::Netstat,
        &real(&shared, "netstat/laytoncoombs_netstatnaob.txt"),
    );
    assert_eq!(s.events.len(), 178);
    assert_eq!(s.events[0].pid, Some(832));
    assert_eq!(s.events[0].field("services"), Some("RpcSs"));
    assert_eq!(s.events[0].process_name.as_deref(), Some("svchost.exe"));
    assert_eq!(
        s.events
            .iter()
            .filter(|e| e.field("ownership") == Some("unavailable"))
            .count(),
        17
    );
    let zone = s
        .events
        .iter()
        .find(|e| e.local == ep("fe80::1d61:ce96:c2ee:3d2c", 53304))
        .expect("zone id row");
    assert_eq!(zone.pid, Some(2004));
    assert_eq!(
        s.events
            .iter()
            .filter(|e| e.local.and_then(|l| l.ip).is_some_and(|i| i.is_ipv6()))
            .count(),
        36
    );

    let (s, _) = decode_file(
        Format::Netstat,
        &real(&shared, "netstat/fuentestudent_netstat_anob_es.txt"),
    );
    assert_eq!((s.events.len(), s.counts.skipped), (62, 4));
    assert_eq!(s.events[0].field("services"), Some("RpcEptMapper"));
    assert_eq!(s.events[1].pid, Some(4));
    assert_eq!(s.events[1].field("ownership"), Some("unavailable"));
    let warp = s
        .events
        .iter()
        .find(|e| e.local == ep("0.0.0.0", 50587))
        .expect("udp with remote");
    assert_eq!(warp.remote, ep("162.159.198.2", 443));
    assert_eq!(warp.process_name.as_deref(), Some("warp-svc.exe"));
    assert_eq!(warp.field("state"), None);

    let (s, _) = decode_file(
        Format::Netstat,
        &real(&shared, "netstat/jsmendezm_netstat_ano_es_utf16le.txt"),
    );
    assert_eq!(s.events.len(), 365);
    let count = |st: &str| {
        s.events
            .iter()
            .filter(|e| e.field("state") == Some(st))
            .count()
    };
    assert_eq!(
        (
            count("ESTABLISHED"),
            count("TIME_WAIT"),
            count("CLOSE_WAIT")
        ),
        (116, 89, 17)
    );
    assert_eq!(s.events[0].pid, Some(1620));
    assert_eq!(s.events[0].local, ep("0.0.0.0", 135));
    let last = s.events.last().expect("rows");
    assert_eq!(last.local, ep("fe80::c713:10b8:c272:b42c", 61762));
    assert_eq!(last.pid, Some(6848));

    let (s, _) = decode_file(
        Format::Netstat,
        &real(
            &shared,
            "netstat/qaiser2raza_netstat_ano_fragment_utf16le.txt",
        ),
    );
    assert_eq!((s.events.len(), s.counts.skipped), (39, 0));
    assert!(
        s.events
            .iter()
            .all(|e| e.field("state") == Some("LISTENING"))
    );
    assert_eq!(s.events[0].pid, Some(1172));
    assert_eq!(s.events.last().and_then(|e| e.local), ep("::1", 9983));

    let (s, _) = decode_file(
        Format::Netstat,
        &real(&shared, "netstat/hamed0406_netstat_an.log"),
    );
    assert_eq!(s.events.len(), 205);
    assert!(s.events.iter().all(|e| e.pid.is_none()));
    assert_eq!(s.events[0].local, ep("0.0.0.0", 135));
    assert_eq!(s.events.last().and_then(|e| e.local), ep("::1", 57975));
}
