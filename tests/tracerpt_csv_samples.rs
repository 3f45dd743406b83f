//! tracerpt CSV samples in `samples/tracerpt_csv/`: seed 001's XP/2003
//! dumpfile with the legacy kernel UdpIp/TcpIp rows (plus the matching
//! `tasklist /svc`), and a modern (Vista+) dumpfile with V2 kernel rows and
//! Microsoft-Windows-TCPIP manifest rows.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use etwnet::decode::common::{count_lines, split_wide};
use etwnet::decode::{Format, LineCounts, Sink, decode_text, tracerpt_csv};
use etwnet::event::{Direction, Event, Kind, Layer, Proto};
use etwnet::input::encoding::decode;

fn sample(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples/tracerpt_csv")
        .join(rel)
}

fn read_text(rel: &str) -> String {
    let bytes = std::fs::read(sample(rel)).expect("sample exists");
    decode(&bytes, None).text
}

fn decode_csv(text: &str) -> Sink {
    let sink = decode_text(Format::TracerptCsv, 0, 1, text).expect("TracerptCsv has a decoder");
    assert_eq!(
        sink.counts.total(),
        count_lines(text),
        "every line classified once: {:?}",
        sink.counts
    );
    sink
}

fn of_kind(s: &Sink, k: Kind) -> Vec<&Event> {
    s.events.iter().filter(|e| e.kind == k).collect()
}

/// The done-when row of seed 001, alone (as pasted in the blog post, no header).
#[test]
fn seed001_udp_send_row() {
    let row = "UdpIp, Send, 0xFFFFFFFF, 129079416141424158, 0, 0, 2136, 8, 172.023.098.097, 010.001.001.001, 2762, 36003, 0, 0";
    assert!(tracerpt_csv::sniff(row));
    let s = decode_csv(row);
    assert_eq!(
        s.counts,
        LineCounts {
            parsed: 1,
            ..LineCounts::default()
        }
    );
    let e = &s.events[0];
    assert_eq!(e.kind, Kind::KernelUdpSend);
    assert_eq!(e.layer, Layer::Kernel);
    assert_eq!(e.proto, Some(Proto::Udp));
    assert_eq!(e.direction, Some(Direction::Out));
    assert_eq!(e.pid, Some(2136));
    assert_eq!(e.bytes, Some(8));
    assert_eq!(e.local.unwrap().to_string(), "10.1.1.1:36003");
    assert_eq!(e.remote.unwrap().to_string(), "172.23.98.97:2762");
    assert_eq!(e.ts.unwrap().to_string(), "2010-01-14T11:20:14.1424158Z");
    assert_eq!(e.provider.as_deref(), Some("UdpIp"));
    assert_eq!(e.field("daddr"), Some("172.023.098.097"));
    assert_eq!(e.field("connid"), Some("0"));
}

#[test]
fn seed001_xp_dumpfile_with_tasklist() {
    let text = read_text("seed001_exchange_udp_store/dumpfile.csv");
    assert!(tracerpt_csv::sniff(&text[..text.len().min(1024)]));
    let s = decode_csv(&text);
    // Header row and one blank line skipped; every other row is an event.
    assert_eq!(
        s.counts,
        LineCounts {
            parsed: count_lines(&text) - 2,
            skipped: 2,
            unknown: 0,
            error: 0
        }
    );
    assert_eq!(of_kind(&s, Kind::TraceInfo).len(), 9);
    let header = &s.events[0];
    assert_eq!(header.provider.as_deref(), Some("EventTrace"));
    assert_eq!(header.layer, Layer::Trace);
    assert_eq!(header.tid, Some(0xF2C));
    let svc = s
        .events
        .iter()
        .find(|e| e.field("UserData1") == Some("MSExchangeIS"))
        .expect("Services rundown row");
    assert_eq!(svc.field("UserData3"), Some("store.exe"));
    assert_eq!(svc.field("UserData4"), Some("2136"));
    let nic = s
        .events
        .iter()
        .find(|e| e.symbol.as_deref() == Some("NIC"))
        .unwrap();
    // A quoted cell containing a comma stays one value.
    assert_eq!(nic.field("UserData9"), Some("10.1.1.10, 10.1.1.11"));

    let udp_send = of_kind(&s, Kind::KernelUdpSend);
    assert_eq!(udp_send.len(), 5);
    let store: Vec<&&Event> = udp_send.iter().filter(|e| e.pid == Some(2136)).collect();
    assert_eq!(store.len(), 4);
    let local: IpAddr = "10.1.1.1".parse().unwrap();
    assert!(store.iter().all(|e| e.local.unwrap().ip == Some(local)));
    assert_eq!(
        store
            .iter()
            .map(|e| e.remote.unwrap().to_string())
            .collect::<Vec<_>>(),
        [
            "172.23.98.97:2762",
            "172.27.45.20:6004",
            "172.160.76.112:2344",
            "172.48.102.66:1116"
        ]
    );
    assert_eq!(
        store
            .iter()
            .map(|e| e.local.unwrap().port.unwrap())
            .collect::<Vec<_>>(),
        [36003, 36009, 36016, 36022]
    );

    // The packet a user asks about: udp 10.1.1.1:36003 > 172.23.98.97:2762.
    let hit = s
        .events
        .iter()
        .find(|e| {
            e.proto == Some(Proto::Udp)
                && e.local.is_some_and(|l| l.to_string() == "10.1.1.1:36003")
                && e.remote
                    .is_some_and(|r| r.to_string() == "172.23.98.97:2762")
        })
        .unwrap();
    assert_eq!(hit.pid, Some(2136));
    assert_eq!(hit.ts.unwrap().to_string(), "2010-01-14T11:20:14.1424158Z");

    let recv = of_kind(&s, Kind::KernelUdpRecv);
    assert_eq!(recv.len(), 1);
    assert_eq!(recv[0].pid, Some(1140));
    assert_eq!(recv[0].local.unwrap().to_string(), "10.1.1.1:3311");
    assert_eq!(recv[0].remote.unwrap().to_string(), "10.1.1.10:53");
    assert_eq!(recv[0].direction, Some(Direction::In));

    // TcpIp rows: each XP row's layout is chosen by its value count.
    assert_eq!(of_kind(&s, Kind::KernelTcpSend).len(), 2);
    assert_eq!(of_kind(&s, Kind::KernelTcpRecv).len(), 2);
    let accept = of_kind(&s, Kind::KernelTcpAccept);
    assert_eq!(accept.len(), 1);
    assert_eq!(accept[0].field("mss"), Some("1460"));
    assert_eq!(accept[0].local.unwrap().to_string(), "10.1.1.1:135");
    assert_eq!(accept[0].remote.unwrap().to_string(), "10.1.2.45:1456");
    assert_eq!(of_kind(&s, Kind::KernelTcpRetransmit).len(), 1);
    let connect = of_kind(&s, Kind::KernelTcpConnect);
    assert_eq!(connect[0].pid, Some(12020));
    assert_eq!(connect[0].remote.unwrap().to_string(), "10.1.1.20:102");
    assert_eq!(of_kind(&s, Kind::KernelTcpDisconnect).len(), 1);

    // tasklist /svc taken on the same server: PID 2136 is store.exe hosting
    // MSExchangeIS (the process the correlation answers with).
    let tasklist = read_text("seed001_exchange_udp_store/tasklist_svc.txt");
    let row = tasklist
        .lines()
        .map(split_wide)
        .find(|cells| {
            cells
                .get(1)
                .is_some_and(|c| c.split_whitespace().next() == Some("2136"))
        })
        .expect("PID 2136 row");
    assert_eq!(row[0], "store.exe");
    assert!(row[1].ends_with("MSExchangeIS"));
}

#[test]
fn modern_dumpfile_kernel_and_manifest_rows() {
    let text = read_text("modern_tcpip_kernel_and_manifest/dumpfile.csv");
    assert!(tracerpt_csv::sniff(&text));
    let s = decode_csv(&text);
    assert_eq!(
        s.counts,
        LineCounts {
            parsed: count_lines(&text) - 2,
            skipped: 2,
            unknown: 0,
            error: 0
        }
    );
    let by = |k: Kind| -> &Event { of_kind(&s, k).first().copied().expect("kind present") };

    let c = by(Kind::KernelTcpConnect);
    assert_eq!((c.event_id, c.version), (Some(12), Some(2)));
    assert_eq!(c.symbol.as_deref(), Some("ConnectIPV4"));
    assert_eq!(c.pid, Some(4312));
    assert_eq!(c.header_pid, Some(0x10D8));
    assert_eq!((c.tid, c.cpu), (Some(0x2E44), Some(2)));
    assert_eq!(c.local.unwrap().to_string(), "192.168.1.50:51234");
    assert_eq!(c.remote.unwrap().to_string(), "52.109.12.19:443");
    assert_eq!(c.ts.unwrap().to_string(), "2026-03-27T15:10:34.9340205Z");
    assert_eq!(c.field("rcvwin"), Some("65535"));

    let send = by(Kind::KernelTcpSend);
    assert_eq!(send.bytes, Some(517));
    assert_eq!(send.field("startime"), Some("163043"));
    assert_eq!(send.ts.unwrap().to_string(), "2026-03-27T15:10:34.9341405Z");

    let recv = by(Kind::KernelTcpRecv);
    // Header PID 4 (System, DPC context) is not the owner; the payload PID is.
    assert_eq!((recv.header_pid, recv.pid), (Some(4), Some(4312)));
    assert_eq!(recv.bytes, Some(1448));
    assert_eq!(recv.local.unwrap().to_string(), "192.168.1.50:51234");

    assert_eq!(by(Kind::KernelTcpRetransmit).bytes, Some(517));
    assert_eq!(by(Kind::KernelTcpDisconnect).event_id, Some(13));
    let acc = by(Kind::KernelTcpAccept);
    assert_eq!(acc.local.unwrap().to_string(), "192.168.1.50:3389");
    assert_eq!(acc.pid, Some(1204));

    let v6: Vec<&Event> = of_kind(&s, Kind::KernelTcpSend)
        .into_iter()
        .filter(|e| e.event_id == Some(26))
        .collect();
    assert_eq!(v6.len(), 1);
    assert_eq!(
        v6[0].remote.unwrap().to_string(),
        "[fe80::1c2d:3e4f:5a6b:7c8d]:445"
    );
    assert_eq!(
        v6[0].local.unwrap().to_string(),
        "[fe80::aa:bbff:fecc:ddee]:49822"
    );

    let fail = by(Kind::KernelTcpFail);
    assert_eq!(fail.status.as_deref(), Some("ERROR_ADDRESS_EXISTS"));
    assert_eq!(fail.status_code, Some(3));
    assert_eq!(fail.field("Proto"), Some("2"));

    let u = by(Kind::KernelUdpSend);
    assert_eq!(u.pid, Some(2620));
    assert_eq!(u.remote.unwrap().to_string(), "192.168.1.1:53");
    assert_eq!(by(Kind::KernelUdpRecv).bytes, Some(57));

    // Manifest rows: the positional payload is named from the provider
    // schema, then the schema's enrich fills the typed slots.
    let m: Vec<&Event> = s
        .events
        .iter()
        .filter(|e| e.provider.as_deref() == Some("Microsoft-Windows-TCPIP"))
        .collect();
    assert_eq!(m.len(), 3);
    assert_eq!(
        m.iter().map(|e| e.event_id.unwrap()).collect::<Vec<_>>(),
        [1033, 1051, 1074]
    );
    assert_eq!(m[0].layer, Layer::Tcpip);
    assert_eq!(m[0].header_pid, Some(4312));
    assert_eq!(m[0].field("LocalAddress"), Some("192.168.1.50:51234"));
    assert_eq!(m[0].field("Tcb"), Some("0xFFFFE189BD811AA0"));
    assert_eq!(m[0].symbol.as_deref(), Some("TcpConnectTcbComplete"));
    assert_eq!(m[0].kind, Kind::TcpConnectCompleted);
    assert_eq!(m[0].tcb, Some(0xFFFF_E189_BD81_1AA0));
    assert_eq!(m[0].pid, Some(4312));
    assert_eq!(m[0].remote.unwrap().to_string(), "52.109.12.19:443");
    assert_eq!(m[1].field("NewState"), Some("EstablishedState"));
    assert_eq!(m[1].kind, Kind::TcpStateChange);
    assert_eq!(m[1].state_to.as_deref(), Some("Established"));
    assert_eq!(m[2].kind, Kind::TcpDataReceived);
    assert_eq!(m[2].bytes, Some(1448));
}

#[test]
fn malformed_rows_are_errors_or_unknown_never_panics() {
    let text = "Event Name, Type, TID, Clock-Time, Kernel(ms), User(ms), User Data\n\
        UdpIp, Send, 0xFFFFFFFF, 129079416141424158, 0, 0, 2136, 8, 1.2.3.4\n\
        TcpIp, Send, 0xFFFFFFFF, 99999999999999999999999, 0, 0, 1, 2, 1.2.3.4, 5.6.7.8, 70000, 1, 0, 0, 0, 0\n\
        garbage\n\
        ,,,,\n\
        \"unterminated, x, y\n\
        UdpIp, Send\n";
    let s = decode_csv(text);
    assert_eq!(s.counts.error, 2, "{:?}", s.diagnostics);
    assert_eq!(s.diagnostics[0].source.line, 2);
    assert!(s.diagnostics[0].message.contains("fit no known layout"));
    assert!(s.diagnostics[1].message.contains("dport"));
    assert_eq!(s.counts.skipped, 2);
    assert_eq!(s.counts.unknown, 3);
}

/// Throughput on a synthetic file (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn throughput_synthetic() {
    let text = read_text("modern_tcpip_kernel_and_manifest/dumpfile.csv");
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    let mut big = format!("{header}\n");
    for _ in 0..10_000 {
        for r in &rows {
            big.push_str(r);
            big.push('\n');
        }
    }
    let t = std::time::Instant::now();
    let s = decode_text(Format::TracerptCsv, 0, 1, &big).unwrap();
    let dt = t.elapsed();
    eprintln!(
        "{} events, {} MB in {:?}: {:.1} MB/s, {:.0} rows/s",
        s.events.len(),
        big.len() / 1_000_000,
        dt,
        big.len() as f64 / 1e6 / dt.as_secs_f64(),
        s.events.len() as f64 / dt.as_secs_f64()
    );
}
