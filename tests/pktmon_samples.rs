//! The hand-made pktmon samples under samples/pktmon/, each with its expected
//! packets, drops and components.

use std::path::{Path, PathBuf};

use etwnet::decode::common::count_lines;
use etwnet::decode::{Format, Sink, decode_text, pktmon, pktmon_list};
use etwnet::event::{Direction, Event, Kind, Proto};
use etwnet::pktmon::{ComponentSource, Fate, assemble};

fn sample(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples/pktmon")
        .join(rel)
}

/// Reads, decodes (any encoding), sniffs and decodes a file; checks the
/// line accounting adds up.
fn decode(rel: &str) -> (Format, Sink) {
    let bytes = std::fs::read(sample(rel)).expect("sample exists");
    let text = etwnet::input::encoding::decode(&bytes, None).text;
    let format = pktmon_list::sniff(&text)
        .or_else(|| pktmon::sniff(&text))
        .expect("sniffed as a pktmon format");
    let sink = decode_text(format, 0, 1, &text).expect("decoder");
    assert_eq!(
        sink.counts.total(),
        count_lines(&text),
        "{rel}: every line classified once"
    );
    (format, sink)
}

fn kinds(sink: &Sink, k: Kind) -> Vec<&Event> {
    sink.events.iter().filter(|e| e.kind == k).collect()
}

fn check_seed003(rel: &str) {
    let (format, sink) = decode(rel);
    assert_eq!(format, Format::PktmonText);
    assert_eq!(
        (sink.counts.unknown, sink.counts.error),
        (0, 0),
        "{rel}: {:?}",
        sink.diagnostics
    );
    assert_eq!(kinds(&sink, Kind::Packet).len(), 3 * 8 + 3 * 8 + 8);
    assert_eq!(kinds(&sink, Kind::PktmonComponent).len(), 6);
    let paths = assemble(&sink.events);
    assert_eq!(paths.len(), 7, "3 requests, 3 replies, 1 DNS answer");
    let dropped: Vec<_> = paths.iter().filter(|p| p.is_dropped()).collect();
    assert_eq!(dropped.len(), 3);
    for p in &dropped {
        let Fate::Dropped {
            component,
            component_name,
            reason,
            ..
        } = &p.fate
        else {
            unreachable!()
        };
        assert_eq!(*component, Some(11));
        assert_eq!(
            component_name.as_deref(),
            Some("tcpip.sys (Protocol, TCPIP)")
        );
        assert_eq!(reason.code, Some(1203));
        assert_eq!(reason.text.as_deref(), Some("INET: checksum is invalid"));
        assert_eq!(
            reason.name.as_deref(),
            Some("PktMonDrop_INET_ChecksumInvalid")
        );
        assert_eq!(reason.location, Some(0xE000_460B));
        assert_eq!(p.components_from, ComponentSource::Trailer);
        // NIC → filters → TCPIP, then the drop at TCPIP.
        let names: Vec<_> = p
            .steps
            .iter()
            .map(|s| (s.component_name.as_deref(), s.component_type.as_deref()))
            .collect();
        assert_eq!(
            names.first(),
            Some(&(Some("e1r68x64.sys"), Some("Miniport")))
        );
        assert!(names[1..7].iter().all(|(_, t)| *t == Some("Filter")));
        assert_eq!(names[7], (Some("tcpip.sys"), Some("Protocol")));
        assert!(p.steps.last().is_some_and(|s| s.dropped));
        assert_eq!(
            p.path_text(),
            "e1r68x64.sys [7] → wfplwfs.sys [8] → wfplwfs.sys [9] → pacer.sys [10] → tcpip.sys [11] → tcpip.sys [11] DROP"
        );
        assert_eq!(p.flow_text(), "udp 192.168.1.50:623 → 192.168.1.20:49852");
        assert!(p.steps.iter().all(|s| s.direction == Some(Direction::In)));
    }
    // The DNS answer interleaved with the second reply is delivered.
    let dns = paths
        .iter()
        .find(|p| p.src.is_some_and(|e| e.port == Some(53)))
        .expect("dns packet");
    assert!(!dns.is_dropped());
    assert_eq!(dns.steps.len(), 8);
    // The trailer's drop counter agrees.
    let tcpip_drops = kinds(&sink, Kind::PktmonCounters)
        .into_iter()
        .find(|e| e.field("Counter") == Some("Drop") && e.field("Component") == Some("11"))
        .and_then(|e| e.field("Rx Drops"));
    assert_eq!(tcpip_drops, Some("3"));
    let nic = kinds(&sink, Kind::PktmonComponent)
        .into_iter()
        .find(|e| e.field("Component") == Some("7"))
        .unwrap();
    assert_eq!(nic.field("MAC"), Some("3C-7C-3F-1A-2B-3C"));
    assert_eq!(nic.field("ifIndex"), Some("14"));
}

#[test]
fn seed003_checksum_drops_utf8() {
    check_seed003("seed003_bmc_udp623_checksum_drop/pktmon.txt");
}

#[test]
fn seed003_checksum_drops_utf16le_crlf() {
    check_seed003("seed003_utf16le_crlf/pktmon.txt");
}

#[test]
fn seed003_split_at_any_record_start_gives_same_events() {
    let text =
        std::fs::read_to_string(sample("seed003_bmc_udp623_checksum_drop/pktmon.txt")).unwrap();
    let whole = decode_text(Format::PktmonText, 0, 1, &text).unwrap();
    let lines: Vec<&str> = etwnet::decode::common::lines(&text).collect();
    for cut in 1..lines.len() {
        if !Format::PktmonText.is_record_start(lines[cut]) {
            continue;
        }
        let a = lines[..cut].join("\n");
        let b = lines[cut..].join("\n");
        let mut sa = decode_text(Format::PktmonText, 0, 1, &a).unwrap();
        let sb = decode_text(Format::PktmonText, 0, cut as u64 + 1, &b).unwrap();
        sa.events.extend(sb.events);
        assert_eq!(sa.events, whole.events, "split before line {}", cut + 1);
        assert_eq!(sa.counts.parsed + sb.counts.parsed, whole.counts.parsed);
    }
}

#[test]
fn seed003_list_table_same_session() {
    let (format, sink) = decode("seed003_bmc_udp623_checksum_drop/pktmon_list.txt");
    assert_eq!(format, Format::PktmonList);
    let nic = &kinds(&sink, Kind::PktmonComponent)[0];
    assert_eq!(nic.field("Id"), Some("7"));
    assert_eq!(nic.field("MAC"), Some("3C-7C-3F-1A-2B-3C"));
    assert_eq!(
        nic.field("Name"),
        Some("Intel(R) I211 Gigabit Network Connection")
    );
}

#[test]
fn timestamp_only_realtime_joined_from_list() {
    let (_, rt) = decode("timestamp_only_realtime/pktmon_realtime.txt");
    assert_eq!(
        (rt.counts.unknown, rt.counts.error),
        (0, 0),
        "{:?}",
        rt.diagnostics
    );
    let filters = kinds(&rt, Kind::PktmonFilter);
    assert_eq!(filters.len(), 1);
    assert_eq!(filters[0].field("Name"), Some("BMC"));
    assert_eq!(filters[0].field("Port"), Some("623"));
    assert!(
        rt.events
            .iter()
            .filter_map(|e| e.ts)
            .all(|t| t.zone == etwnet::event::Zone::TimeOfDay)
    );
    let (_, list) = decode("timestamp_only_realtime/pktmon_list.txt");
    assert_eq!(list.counts.unknown, 0);
    assert_eq!(kinds(&list, Kind::PktmonComponent).len(), 6);
    let mut all = rt.events.clone();
    all.extend(list.events.iter().cloned().map(|mut e| {
        e.source.file = 1;
        e
    }));
    let paths = assemble(&all);
    assert_eq!(paths.len(), 6);
    let drops: Vec<_> = paths.iter().filter(|p| p.is_dropped()).collect();
    assert_eq!(drops.len(), 3);
    for p in drops {
        assert_eq!(p.components_from, ComponentSource::List);
        assert_eq!(
            p.steps[0].component_name.as_deref(),
            Some("Intel(R) I211 Gigabit Network Connection")
        );
        assert_eq!(
            p.steps.last().and_then(|s| s.component_name.as_deref()),
            Some("tcpip.sys")
        );
    }
}

#[test]
fn verbose3_and_brief_handshake() {
    for rel in [
        "verbose3_tcp_handshake/pktmon.txt",
        "brief_tcp_handshake/pktmon.txt",
    ] {
        let (_, sink) = decode(rel);
        assert_eq!((sink.counts.unknown, sink.counts.error), (0, 0), "{rel}");
        let pk = kinds(&sink, Kind::Packet);
        let flags: Vec<_> = pk
            .iter()
            .map(|e| e.packet.as_ref().and_then(|p| p.tcp_flags.clone()))
            .collect();
        assert_eq!(
            flags,
            [Some("S".into()), Some("S.".into()), Some(".".into())],
            "{rel}"
        );
        assert!(pk.iter().all(|e| e.proto == Some(Proto::Tcp)));
        assert_eq!(pk[0].local.unwrap().to_string(), "10.0.0.15:50123");
        assert_eq!(pk[1].local.unwrap().to_string(), "93.184.216.34:443");
        assert_eq!(pk[1].packet.as_ref().unwrap().ack, Some(2401735812));
    }
}

#[test]
fn hex_dump_lines_belong_to_their_packet() {
    let (_, sink) = decode("hex_arp/pktmon.txt");
    assert_eq!((sink.counts.unknown, sink.counts.error), (0, 0));
    let pk = kinds(&sink, Kind::Packet);
    assert_eq!(pk.len(), 2);
    assert_eq!(pk[0].field("HexBytes"), Some("60"));
    assert_eq!(pk[1].field("HexBytes"), Some("42"));
    assert_eq!(pk[0].proto, Some(Proto::Arp));
    assert_eq!(pk[0].field("Detail"), Some("request"));
    assert_eq!(
        pk[1]
            .local
            .and_then(|e| e.ip)
            .map(|i| i.to_string())
            .as_deref(),
        Some("10.0.0.15")
    );
}

#[test]
fn nblinfo_metadata_rides_with_payload_events() {
    let (_, sink) = decode("nblinfo_metadata_180/pktmon.txt");
    assert_eq!((sink.counts.unknown, sink.counts.error), (0, 0));
    let meta: Vec<_> = sink
        .events
        .iter()
        .filter(|e| e.event_id == Some(180))
        .collect();
    assert_eq!(meta.len(), 4);
    assert_eq!(meta[0].field("HashValue"), Some("0x5A3C11F2"));
    let paths = assemble(&sink.events);
    assert_eq!(paths.len(), 1);
    assert_eq!(
        paths[0].steps.len(),
        4,
        "metadata events are not extra steps"
    );
}

#[test]
fn translated_labels() {
    let (_, sink) = decode("translated_labels/pktmon.txt");
    assert_eq!(
        (sink.counts.unknown, sink.counts.error),
        (0, 0),
        "{:?}",
        sink.diagnostics
    );
    let pk = &kinds(&sink, Kind::Packet)[0];
    let p = pk.packet.as_ref().unwrap();
    assert_eq!(
        (p.appearance, p.component, p.edge, p.filter, p.logged_size),
        (Some(1), Some(80), Some(1), Some(1), Some(74))
    );
    assert_eq!(pk.direction, Some(Direction::Out));
    let d = &kinds(&sink, Kind::PacketDrop)[0];
    assert_eq!(d.drop.as_ref().and_then(|x| x.code), Some(1203));
    assert_eq!(d.packet.as_ref().and_then(|p| p.component), Some(101));
    assert_eq!(d.remote.unwrap().to_string(), "192.168.1.20:49852");
}

#[test]
fn numeric_drop_reasons_per_build_family() {
    let (_, new) = decode("numeric_drop_reason/pktmon_22631.txt");
    let d = new.events.iter().find_map(|e| e.drop.clone()).unwrap();
    assert_eq!(d.code, Some(1203));
    assert_eq!(d.text.as_deref(), Some("INET: checksum is invalid"));
    let (_, old) = decode("numeric_drop_reason/pktmon_17763.txt");
    let d = old.events.iter().find_map(|e| e.drop.clone()).unwrap();
    assert_eq!(d.code, Some(101));
    assert_eq!(
        d.text.as_deref(),
        Some("Adapter paused"),
        "1809-era numbering"
    );
    assert_eq!(d.location_name.as_deref(), Some("NDIS"));
}

#[test]
fn list_json() {
    let (format, sink) = decode("list_json/pktmon_list.json");
    assert_eq!(format, Format::PktmonJson);
    let comps = kinds(&sink, Kind::PktmonComponent);
    assert_eq!(comps.len(), 5);
    assert_eq!(comps[0].field("MAC"), Some("3C-7C-3F-1A-2B-3C"));
    assert_eq!(comps[0].field("ifIndex"), Some("14"));
    assert_eq!(comps[1].field("SecondaryId"), Some("7"));
    assert_eq!(comps[3].field("Group"), Some("Protocols"));
}

#[test]
fn counters_table_and_json() {
    let (format, sink) = decode("counters_table/pktmon_counters.txt");
    assert_eq!(format, Format::PktmonCounters);
    assert_eq!(
        (sink.counts.unknown, sink.counts.error),
        (0, 0),
        "{:?}",
        sink.diagnostics
    );
    let rows = kinds(&sink, Kind::PktmonCounters);
    assert_eq!(rows.len(), 7);
    let drop = rows
        .iter()
        .find(|e| e.field("Counter") == Some("Drop"))
        .unwrap();
    assert_eq!(drop.field("Id"), Some("11"));
    assert_eq!(drop.field("Rx Drops"), Some("3"));
    assert_eq!(
        drop.field("LastDropReason"),
        Some("INET: checksum is invalid")
    );
    assert_eq!(drop.drop.as_ref().and_then(|d| d.code), Some(1203));
    assert_eq!(
        rows[2].field("Id"),
        Some("8"),
        "blank Id continues the component"
    );
    assert_eq!(rows[0].field("Rx Packets"), Some("4"));
    let (format, sink) = decode("counters_json/pktmon_counters.json");
    assert_eq!(format, Format::PktmonJson);
    let rows = kinds(&sink, Kind::PktmonCounters);
    assert_eq!(rows.len(), 3);
    let drop = rows
        .iter()
        .find(|e| e.field("Counter") == Some("Drop"))
        .unwrap();
    assert_eq!(drop.field("Rx Drops"), Some("3"));
    assert_eq!(
        drop.field("LastDropReason"),
        Some("INET: checksum is invalid")
    );
    assert_eq!(
        drop.drop.as_ref().and_then(|d| d.location),
        Some(0xE000_460B)
    );
}

/// Every sample line cut at every character boundary (as pasted logs are)
/// decodes without panicking and with complete line accounting.
#[test]
fn cut_lines_never_panic() {
    let files = [
        (
            "seed003_bmc_udp623_checksum_drop/pktmon.txt",
            Format::PktmonText,
        ),
        ("translated_labels/pktmon.txt", Format::PktmonText),
        (
            "timestamp_only_realtime/pktmon_realtime.txt",
            Format::PktmonText,
        ),
        ("counters_table/pktmon_counters.txt", Format::PktmonCounters),
        (
            "timestamp_only_realtime/pktmon_list.txt",
            Format::PktmonList,
        ),
        ("counters_json/pktmon_counters.json", Format::PktmonJson),
    ];
    for (rel, format) in files {
        let text = std::fs::read_to_string(sample(rel)).unwrap();
        let mut seen = std::collections::HashSet::new();
        for line in etwnet::decode::common::lines(&text) {
            if !seen.insert(line) {
                continue;
            }
            for (i, _) in line.char_indices().step_by(3) {
                let cut = format!("{}\n{}\n", &line[..i], line);
                let sink = decode_text(format, 0, 1, &cut).unwrap();
                assert_eq!(sink.counts.total(), 2);
            }
        }
    }
}

/// The content detector recognises every sample as the intended format.
#[test]
fn detector_recognises_every_sample() {
    let expect = [
        ("counters_table/pktmon_counters.txt", Format::PktmonCounters),
        (
            "timestamp_only_realtime/pktmon_list.txt",
            Format::PktmonList,
        ),
        (
            "seed003_bmc_udp623_checksum_drop/pktmon_list.txt",
            Format::PktmonList,
        ),
        ("counters_json/pktmon_counters.json", Format::PktmonJson),
        (
            "timestamp_only_realtime/pktmon_realtime.txt",
            Format::PktmonText,
        ),
        ("seed003_utf16le_crlf/pktmon.txt", Format::PktmonText),
    ];
    for (rel, f) in expect {
        let bytes = std::fs::read(sample(rel)).unwrap();
        let text = etwnet::input::encoding::decode(&bytes, None).text;
        assert_eq!(etwnet::detect::detect_text(&text), f, "{rel}");
    }
}
