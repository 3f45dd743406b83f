//! ETW XML samples in `samples/etw_xml/`: tracerpt `<Events>` in UTF-16LE
//! with BOM, wevtutil bare elements, netsh XML with a local offset, and a
//! file with truncated elements. Each test states the expected events and
//! checks that the line accounting adds up.

use std::path::{Path, PathBuf};

use etwnet::decode::common::{count_lines, lines};
use etwnet::decode::{Format, LineCounts, Sink, decode_text, etwxml};
use etwnet::event::{Direction, Kind, Layer, Proto, Zone};
use etwnet::input::encoding::{TextEncoding, decode};

fn sample(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples/etw_xml")
        .join(rel)
}

fn read_text(rel: &str) -> (String, TextEncoding) {
    let bytes = std::fs::read(sample(rel)).expect("sample exists");
    let d = decode(&bytes, None);
    (d.text, d.encoding)
}

fn decode_xml(text: &str) -> Sink {
    let sink = decode_text(Format::EtwXml, 0, 1, text).expect("EtwXml has a decoder");
    assert_eq!(
        sink.counts.total(),
        count_lines(text),
        "every line classified once: {:?}",
        sink.counts
    );
    sink
}

/// Decodes `text` as the chunked driver would after cutting it at every
/// line where `Format::EtwXml.is_record_start` holds.
fn decode_split_everywhere(text: &str) -> (Vec<etwnet::event::Event>, LineCounts) {
    let all: Vec<&str> = lines(text).collect();
    let mut starts: Vec<usize> = vec![0];
    starts.extend(
        all.iter()
            .enumerate()
            .skip(1)
            .filter(|(_, l)| Format::EtwXml.is_record_start(l))
            .map(|(i, _)| i),
    );
    starts.push(all.len());
    let mut events = Vec::new();
    let mut counts = LineCounts::default();
    for w in starts.windows(2) {
        let chunk = all[w[0]..w[1]].join("\n");
        let sink = decode_text(Format::EtwXml, 0, w[0] as u64 + 1, &chunk).unwrap();
        events.extend(sink.events);
        counts.merge(&sink.counts);
    }
    (events, counts)
}

#[test]
fn tracerpt_utf16le_bom_with_events_root() {
    let (text, enc) = read_text("tracerpt_events_utf16le_bom/dumpfile.xml");
    assert_eq!(enc, TextEncoding::Utf16Le { bom: true });
    assert!(etwxml::sniff(&text[..text.len().min(1024)]));
    let s = decode_xml(&text);
    // Prolog, <Events> and </Events> are skipped; every other line belongs
    // to one of the four elements.
    assert_eq!(
        s.counts,
        LineCounts {
            parsed: count_lines(&text) - 3,
            skipped: 3,
            unknown: 0,
            error: 0
        }
    );
    assert_eq!(s.events.len(), 4);

    let e = &s.events[0];
    assert_eq!(e.provider.as_deref(), Some("Microsoft-Windows-TCPIP"));
    assert_eq!((e.event_id, e.version), (Some(1033), Some(0)));
    assert_eq!(e.source.line, 3);
    let ts = e.ts.unwrap();
    assert_eq!(ts.zone, Zone::Offset(-300));
    assert_eq!(ts.to_string(), "2026-10-03T14:29:18.9129558-05:00");
    assert_eq!(
        (e.header_pid, e.tid, e.cpu),
        (Some(4312), Some(11844), Some(2))
    );
    assert_eq!(e.field("LocalAddress"), Some("192.168.1.50:51234"));
    assert_eq!(e.field("RemoteAddress"), Some("52.109.12.19:443"));
    assert_eq!(e.field("Tcb"), Some("0xFFFFE189BD811AA0"));
    assert_eq!(e.fields.len(), 8);
    assert_eq!(e.symbol.as_deref(), Some("TcpConnectTcbComplete"));
    assert!(
        e.message
            .starts_with("TCP: connection 0xFFFFE189BD811AA0 (local=")
    );
    assert_eq!(e.layer, Layer::Tcpip);
    // Typed slots from the schema's enrich.
    assert_eq!(e.kind, Kind::TcpConnectCompleted);
    assert_eq!(e.tcb, Some(0xFFFF_E189_BD81_1AA0));
    assert_eq!(e.pid, Some(4312));
    assert_eq!(e.local.unwrap().to_string(), "192.168.1.50:51234");

    let e = &s.events[1];
    assert_eq!(e.event_id, Some(1051));
    assert_eq!(e.kind, Kind::TcpStateChange);
    assert_eq!(
        (e.state_from.as_deref(), e.state_to.as_deref()),
        (Some("SynSent"), Some("Established"))
    );
    assert_eq!(
        e.fields.iter().collect::<Vec<_>>(),
        [
            ("OldState", "2"),
            ("NewState", "4"),
            ("SndNxt", "163043"),
            ("Tcb", "0xFFFFE189BD811AA0")
        ]
    );

    // Kernel MOF event: class from EventName/EventGuid, typed slots filled.
    let e = &s.events[2];
    assert_eq!(e.provider.as_deref(), Some("TcpIp"));
    assert_eq!((e.event_id, e.version), (Some(10), Some(2)));
    assert_eq!(e.symbol.as_deref(), Some("SendIPV4"));
    assert_eq!(e.kind, Kind::KernelTcpSend);
    assert_eq!(e.layer, Layer::Kernel);
    assert_eq!(e.proto, Some(Proto::Tcp));
    assert_eq!(e.pid, Some(4312));
    assert_eq!(e.header_pid, Some(4));
    assert_eq!(e.bytes, Some(517));
    assert_eq!(e.local.unwrap().to_string(), "192.168.1.50:51234");
    assert_eq!(e.remote.unwrap().to_string(), "52.109.12.19:443");
    assert_eq!(e.direction, Some(Direction::Out));

    let e = &s.events[3];
    assert_eq!(e.provider.as_deref(), Some("UdpIp"));
    assert_eq!(e.kind, Kind::KernelUdpRecv);
    assert_eq!(e.pid, Some(2620));
    assert_eq!(e.bytes, Some(57));
    // Receive events name the local socket saddr:sport as well.
    assert_eq!(e.local.unwrap().to_string(), "192.168.1.50:61000");
    assert_eq!(e.remote.unwrap().to_string(), "192.168.1.1:53");
    assert_eq!(e.direction, Some(Direction::In));
    assert_eq!(
        e.ts.unwrap().to_string(),
        "2026-10-03T14:29:18.9501139-05:00"
    );
}

#[test]
fn wevtutil_bare_elements_several_per_line() {
    let (text, enc) = read_text("wevtutil_bare_events/events.xml");
    assert_eq!(enc, TextEncoding::Utf8);
    assert!(etwxml::sniff(&text));
    let s = decode_xml(&text);
    assert_eq!(
        s.counts,
        LineCounts {
            parsed: 2,
            ..LineCounts::default()
        }
    );
    assert_eq!(s.events.len(), 3);
    assert_eq!(
        s.events.iter().map(|e| e.source.line).collect::<Vec<_>>(),
        [1, 1, 2]
    );

    let e = &s.events[0];
    assert_eq!(e.event_id, Some(1300));
    assert_eq!(e.ts.unwrap().to_string(), "2026-03-27T15:10:35.1234567Z");
    assert_eq!(e.ts.unwrap().zone, Zone::Utc);

    // Classic event: EventID with Qualifiers, unnamed Data.
    let e = &s.events[1];
    assert_eq!(e.provider.as_deref(), Some("Tcpip"));
    assert_eq!(e.event_id, Some(4199));
    assert_eq!(e.field("Data1"), Some("192.168.1.50"));
    assert_eq!(e.field("Data2"), Some("00-1A-2B-3C-4D-5E"));

    // UserData children flattened, empty element kept.
    let e = &s.events[2];
    assert_eq!(e.event_id, Some(104));
    assert_eq!(
        e.fields.iter().collect::<Vec<_>>(),
        [
            ("SubjectUserName", "admin"),
            ("SubjectDomainName", "CONTOSO"),
            ("Channel", "System"),
            ("BackupPath", "")
        ]
    );
    assert_eq!(
        (e.header_pid, e.tid, e.cpu),
        (Some(1228), Some(4404), Some(3))
    );
}

#[test]
fn netsh_xml_with_local_offset_time() {
    let (text, _) = read_text("netsh_xml_local_offset/trace.xml");
    let s = decode_xml(&text);
    assert_eq!(
        (s.counts.skipped, s.counts.error, s.counts.unknown),
        (3, 0, 0)
    );
    assert_eq!(s.events.len(), 2);
    let e = &s.events[0];
    assert_eq!(e.provider.as_deref(), Some("Microsoft-Windows-Winsock-AFD"));
    assert_eq!(e.layer, Layer::Afd);
    let ts = e.ts.unwrap();
    assert_eq!(ts.zone, Zone::Offset(330));
    assert_eq!(ts.to_string(), "2025-11-21T09:41:07.2045183+05:30");
    // UTC is 5h30 earlier.
    assert_eq!(
        ts.to_utc_nanos(None).unwrap(),
        ts.nanos - 330 * 60 * 1_000_000_000
    );
    assert_eq!(e.field("ProcessId"), Some("0x1C90"));
    assert_eq!(e.field("Endpoint"), Some("0xFFFFB40A31D5C8A0"));
    assert_eq!(e.symbol.as_deref(), Some("AfdCreate"));
    assert_eq!(e.kind, Kind::AfdSocket);
    assert_eq!(e.pid, Some(0x1C90));
    assert_eq!(e.endpoint, Some(0xFFFF_B40A_31D5_C8A0));
    let e = &s.events[1];
    assert_eq!(e.event_id, Some(1017));
    assert_eq!(e.kind, Kind::AfdConnect);
    assert_eq!(e.status.as_deref(), Some("STATUS_CONNECTION_REFUSED"));
    assert_eq!(e.field("Status"), Some("0xC0000236"));
}

#[test]
fn truncated_elements_are_errors_naming_their_line() {
    let (text, _) = read_text("truncated_element/dumpfile.xml");
    let s = decode_xml(&text);
    // Lines 3-19: an element cut inside EventData (the next <Event> starts
    // on line 20); lines 20-48: a whole element; lines 49-63: an element cut
    // by the end of the file.
    assert_eq!(
        s.counts,
        LineCounts {
            parsed: 29,
            skipped: 2,
            unknown: 0,
            error: 17 + 15
        }
    );
    assert_eq!(s.events.len(), 1);
    assert_eq!(s.events[0].event_id, Some(1051));
    assert_eq!(s.events[0].source.line, 20);
    let lines: Vec<u64> = s.diagnostics.iter().map(|d| d.source.line).collect();
    assert_eq!(lines, [3, 49]);
    assert!(
        s.diagnostics
            .iter()
            .all(|d| d.message.contains("truncated"))
    );
}

#[test]
fn splitting_at_any_record_start_gives_the_same_result() {
    for rel in [
        "tracerpt_events_utf16le_bom/dumpfile.xml",
        "wevtutil_bare_events/events.xml",
        "netsh_xml_local_offset/trace.xml",
        "truncated_element/dumpfile.xml",
    ] {
        let (text, _) = read_text(rel);
        let whole = decode_xml(&text);
        let (events, counts) = decode_split_everywhere(&text);
        assert_eq!(events, whole.events, "{rel}");
        assert_eq!(counts, whole.counts, "{rel}");
    }
}

#[test]
fn hostile_input_never_panics() {
    let cases = [
        "<Event>",
        "</Event>",
        "<Event></Event>",
        "<Event/>",
        "<Event><System><Provider Name=\"x\"/><EventID>99999999999</EventID></System></Event>",
        "<Event><System><TimeCreated SystemTime=\"9999-99-99T99:99:99Z\"/></System></Event>",
        "<Event><EventData><Data Name=\"a\">&bogus;</Data></EventData></Event>",
        "<Event><EventData><Data Name=\"a\">&#0;</Data></EventData></Event>",
        "<Event a=\"1\" a=\"2\"></Event>",
        "<Event><![CDATA[</Event>]]></Event>",
        "<Events><Event xmlns=\"x\"><System></Event></Events>",
        "\u{feff}<Event>\u{0}</Event>",
    ];
    for c in cases {
        let s = decode_xml(c);
        assert_eq!(s.counts.unknown, 0, "{c}: {:?}", s.diagnostics);
    }
    let deep = format!("<Event>{}</Event>", "<x>".repeat(10_000));
    let s = decode_xml(&deep);
    assert_eq!(s.counts.error, 1);
}

/// Throughput on a synthetic file (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn throughput_synthetic() {
    let (text, _) = read_text("tracerpt_events_utf16le_bom/dumpfile.xml");
    let body: String = text
        .lines()
        .filter(|l| !l.contains("Events>") && !l.starts_with("<?xml"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut big = String::from("<Events>\n");
    for _ in 0..25_000 {
        big.push_str(&body);
        big.push('\n');
    }
    big.push_str("</Events>\n");
    let t = std::time::Instant::now();
    let s = decode_text(Format::EtwXml, 0, 1, &big).unwrap();
    let dt = t.elapsed();
    eprintln!(
        "{} events, {} MB in {:?}: {:.1} MB/s, {:.0} events/s",
        s.events.len(),
        big.len() / 1_000_000,
        dt,
        big.len() as f64 / 1e6 / dt.as_secs_f64(),
        s.events.len() as f64 / dt.as_secs_f64()
    );
    assert_eq!(s.events.len(), 100_000);
}
