//! Conformance on the real pktmon outputs in ../shared/samples-real/pktmon_text
//! (skipped when ../shared is absent).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use etwnet::decode::common::count_lines;
use etwnet::decode::{Format, LineClass, Sink, decode_text, pktmon, pktmon_list};
use etwnet::event::{Direction, Kind, Proto};
use etwnet::pktmon::{ComponentSource, assemble};

fn real_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/samples-real/pktmon_text");
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!("note: ../shared not present, skipping pktmon conformance");
        None
    }
}

fn read(dir: &Path, rel: &str) -> String {
    let bytes = std::fs::read(dir.join(rel)).expect("real sample");
    etwnet::input::encoding::decode(&bytes, None).text
}

fn decode(text: &str) -> (Format, Sink) {
    let format = pktmon_list::sniff(text)
        .or_else(|| pktmon::sniff(text))
        .unwrap_or(Format::PktmonText);
    let sink = decode_text(format, 0, 1, text).expect("decoder");
    assert_eq!(sink.counts.total(), count_lines(text));
    (format, sink)
}

/// Lines classified unknown or error, as (line, class).
fn problems(sink: &Sink) -> Vec<(u64, LineClass)> {
    sink.diagnostics
        .iter()
        .map(|d| (d.source.line, d.class))
        .collect()
}

#[test]
fn nathaniel_full_log() {
    let Some(dir) = real_dir() else { return };
    let text = read(&dir, "nathaniel_security_PktMon.txt");
    let (format, sink) = decode(&text);
    assert_eq!(format, Format::PktmonText);
    assert_eq!(count_lines(&text), 6359);
    assert_eq!(sink.counts.parsed, 6359);
    assert_eq!(
        (sink.counts.unknown, sink.counts.error, sink.counts.skipped),
        (0, 0, 0)
    );

    let packets: Vec<_> = sink
        .events
        .iter()
        .filter(|e| e.kind == Kind::Packet)
        .collect();
    assert_eq!(packets.len(), 2705);
    assert_eq!(
        sink.events
            .iter()
            .filter(|e| e.kind == Kind::PacketDrop)
            .count(),
        0
    );
    assert_eq!(
        packets
            .iter()
            .filter(|e| e.direction == Some(Direction::In))
            .count(),
        948 + 805
    );
    assert_eq!(
        packets
            .iter()
            .filter(|e| e.packet.as_ref().unwrap().media.as_deref() == Some("WiFi"))
            .count(),
        805 + 368
    );

    // Trailer: 141 component records (125 NDIS-stack components + 16 http.sys
    // per-address components), with their counters.
    let comps: Vec<_> = sink
        .events
        .iter()
        .filter(|e| e.kind == Kind::PktmonComponent)
        .collect();
    assert_eq!(comps.len(), 141);
    assert_eq!(
        comps
            .iter()
            .filter(|e| e.field("Type") != Some("HTTP Protocol"))
            .count(),
        125
    );
    let counters = sink
        .events
        .iter()
        .filter(|e| e.kind == Kind::PktmonCounters)
        .count();
    assert_eq!(counters, 141 + 178);
    let wifi = comps
        .iter()
        .find(|e| e.field("Component") == Some("11"))
        .unwrap();
    assert_eq!(wifi.field("Name"), Some("rtwlane02.sys"));
    assert_eq!(wifi.field("MAC"), Some("54-8C-A0-98-0E-25"));
    assert_eq!(wifi.field("ifIndex"), Some("16"));

    // Every packet's component is named by the trailer.
    let ids: BTreeSet<&str> = comps.iter().filter_map(|e| e.field("Component")).collect();
    let used: BTreeSet<String> = packets
        .iter()
        .filter_map(|e| e.packet.as_ref()?.component.map(|c| c.to_string()))
        .collect();
    assert_eq!(used.len(), 19);
    assert!(used.iter().all(|c| ids.contains(c.as_str())));
    let paths = assemble(&sink.events);
    assert_eq!(paths.len(), 260);
    assert_eq!(paths.iter().map(|p| p.steps.len()).sum::<usize>(), 2705);
    assert!(
        paths
            .iter()
            .all(|p| p.components_from == ComponentSource::Trailer)
    );
    assert!(
        paths
            .iter()
            .flat_map(|p| &p.steps)
            .all(|s| s.component_name.is_some())
    );

    // Every decoded line: protocol and 5-tuple (or ARP/ICMP fields); 802.11
    // frames without an L3 payload are classified.
    let mut classes: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &packets {
        let p = e.packet.as_ref().unwrap();
        assert!(p.summary.is_some());
        *classes.entry(e.field("Decoded").unwrap()).or_default() += 1;
        if matches!(p.ethertype, Some(0x0800 | 0x86dd | 0x0806)) {
            assert!(
                e.proto.is_some() && e.local.is_some() && e.remote.is_some(),
                "{:?}",
                p.summary
            );
            match e.proto {
                Some(Proto::Tcp) => {
                    assert!(p.tcp_flags.is_some() && e.local.unwrap().port.is_some())
                }
                Some(Proto::Udp) => {
                    assert!(e.local.unwrap().port.is_some() && e.remote.unwrap().port.is_some())
                }
                Some(Proto::Icmp) | Some(Proto::Arp) => assert!(e.field("Detail").is_some()),
                _ => {}
            }
        }
    }
    let expect: BTreeMap<&str, usize> = [
        ("tcp", 1196),
        ("udp", 470),
        ("icmp", 56),
        ("arp", 48),
        ("ip", 38),
        ("802.11-data", 690),
        ("802.11-mgmt", 53),
        ("802.11-other", 154),
    ]
    .into_iter()
    .collect();
    assert_eq!(classes, expect);
    let flags: BTreeSet<&str> = packets
        .iter()
        .filter_map(|e| e.packet.as_ref()?.tcp_flags.as_deref())
        .collect();
    assert_eq!(
        flags,
        ["F.", "P.", "R", "R.", "S", "S.", "."]
            .into_iter()
            .collect()
    );
}

#[test]
fn nathaniel_chunk_split_gives_same_events() {
    let Some(dir) = real_dir() else { return };
    let text = read(&dir, "nathaniel_security_PktMon.txt");
    let whole = decode_text(Format::PktmonText, 0, 1, &text).unwrap();
    let lines: Vec<&str> = etwnet::decode::common::lines(&text).collect();
    for cut in (1..lines.len()).step_by(157) {
        let Some(start) =
            (cut..lines.len()).find(|&i| Format::PktmonText.is_record_start(lines[i]))
        else {
            continue;
        };
        let mut a = decode_text(Format::PktmonText, 0, 1, &lines[..start].join("\n")).unwrap();
        let b = decode_text(
            Format::PktmonText,
            0,
            start as u64 + 1,
            &lines[start..].join("\n"),
        )
        .unwrap();
        a.events.extend(b.events);
        assert!(a.events == whole.events, "split before line {}", start + 1);
    }
}

#[test]
fn msdocs_drop_line() {
    let Some(dir) = real_dir() else { return };
    let (_, sink) = decode(&read(&dir, "msdocs_packet_loss_pktmon_drop.txt"));
    assert_eq!(sink.counts.parsed, 2);
    let ev = &sink.events[0];
    let p = ev.packet.as_ref().unwrap();
    let d = ev.drop.as_ref().unwrap();
    assert_eq!(ev.direction, Some(Direction::In));
    assert_eq!(p.media.as_deref(), Some("IP"));
    assert_eq!((p.component, p.filter), (Some(49), Some(1)));
    assert_eq!(
        d.text.as_deref(),
        Some("INET: transport endpoint was not found")
    );
    assert_eq!(d.code, Some(1204));
    assert_eq!(d.location, Some(0xE000_460A));
    assert_eq!((p.original_size, p.logged_size), (Some(402), Some(148)));
    assert_eq!(ev.proto, Some(Proto::Udp));
    assert_eq!(ev.local.unwrap().to_string(), "192.168.5.88:50005");
    assert_eq!(ev.remote.unwrap().to_string(), "192.168.5.68:50005");
    let path = &assemble(&sink.events)[0];
    assert_eq!(path.truncated, Some((402, 148)));
}

#[test]
fn realtime_console_session() {
    let Some(dir) = real_dir() else { return };
    let (format, sink) = decode(&read(&dir, "rosesecurity_pktmon_realtime_filters_list.txt"));
    assert_eq!(format, Format::PktmonText);
    // Explained: line 23 is a packet line the author cut mid-line (an error:
    // record cut short, still kept as an event), line 24 is the author's
    // `... <TRUNCATED FOR BREVITY>....` note (unknown).
    assert_eq!(
        problems(&sink),
        [(23, LineClass::Error), (24, LineClass::Unknown)]
    );
    let packets: Vec<_> = sink
        .events
        .iter()
        .filter(|e| e.kind == Kind::Packet)
        .collect();
    assert_eq!(packets.len(), 6);
    let filter = sink
        .events
        .iter()
        .find(|e| e.kind == Kind::PktmonFilter)
        .unwrap();
    assert_eq!(filter.field("Name"), Some("IP-TCP-SYN-443"));
    assert_eq!(filter.field("IP Address"), Some("172.217.2.115"));
    assert_eq!(filter.field("Port"), Some("443"));
    let paths = assemble(&sink.events);
    assert_eq!(paths.len(), 2);
    assert_eq!(
        paths[0]
            .steps
            .iter()
            .map(|s| s.component)
            .collect::<Vec<_>>(),
        [Some(78), Some(31), Some(32), Some(33)]
    );
    assert_eq!(
        paths[0].flow_text(),
        "tcp 192.168.0.62:65066 → 172.217.2.115:443"
    );
    assert_eq!(paths[0].components_from, ComponentSource::None);
}

#[test]
fn list_table_and_console_summary() {
    let Some(dir) = real_dir() else { return };
    let (format, sink) = decode(&read(&dir, "msquic_tsg_pktmon_list.txt"));
    assert_eq!(format, Format::PktmonList);
    assert_eq!((sink.counts.unknown, sink.counts.error), (0, 0));
    let ids: Vec<_> = sink.events.iter().filter_map(|e| e.field("Id")).collect();
    assert_eq!(ids, ["9", "104", "80"]);
    assert_eq!(sink.events[1].field("MAC"), Some("00-15-5D-D1-5A-30"));
    // `pktmon pcapng` console summary: recognised, nothing to decode.
    let (_, sink) = decode(&read(&dir, "rosesecurity_pktmon_pcapng_summary.txt"));
    assert_eq!(sink.counts.skipped, 8);
    assert_eq!(sink.counts.unknown, 0);
}

#[test]
fn fragments_cut_mid_line() {
    let Some(dir) = real_dir() else { return };
    let (_, s1) = decode(&read(
        &dir,
        "fragments/win_containers_439_pktmon_txt_part1_header_first_packet.txt",
    ));
    assert!(problems(&s1).is_empty());
    let first = s1.events.iter().find(|e| e.kind == Kind::Packet).unwrap();
    assert_eq!(first.packet.as_ref().unwrap().component, Some(57));
    assert_eq!(
        s1.events
            .iter()
            .find(|e| e.kind == Kind::TraceInfo)
            .and_then(|e| e.field("ProviderVersion")),
        Some("20348")
    );
    // Line 10 stops inside the provider tag (`[Microsoft-Windows-PktMo`).
    let (_, s2) = decode(&read(
        &dir,
        "fragments/win_containers_439_pktmon_txt_part2_component_props.txt",
    ));
    assert_eq!(problems(&s2), [(10, LineClass::Error)]);
    let tcpip = s2
        .events
        .iter()
        .find(|e| e.field("Name") == Some("tcpip.sys"))
        .unwrap();
    assert_eq!(tcpip.field("Component"), Some("51"));
    // Line 9 stops right after the word `Component`.
    let (_, s3) = decode(&read(
        &dir,
        "fragments/win_containers_439_pktmon_txt_part3_component_props.txt",
    ));
    assert_eq!(problems(&s3), [(9, LineClass::Unknown)]);
    let c39 = s3
        .events
        .iter()
        .find(|e| e.field("Component") == Some("39") && e.kind == Kind::PktmonComponent)
        .unwrap();
    assert_eq!(c39.field("MiniportIfIndex"), Some("40"));
}
