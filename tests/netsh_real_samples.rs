//! Conformance over the real netsh/tracefmt text in ../shared/samples-real
//! (skipped when that folder is absent): every TCPIP line decodes to named
//! fields, WPP and other providers are kept as raw events, every line is
//! accounted for.

use std::path::{Path, PathBuf};

use etwnet::decode::common::count_lines;
use etwnet::decode::{Format, Sink, decode_text};
use etwnet::event::{Direction, Event, Kind, Proto};

fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/samples-real/netsh_text");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "note: {} absent; real-sample conformance skipped",
            p.display()
        );
        None
    }
}

fn decode(path: &Path) -> (Sink, u64) {
    let text = std::fs::read_to_string(path).unwrap();
    let sink = decode_text(Format::NetshText, 0, 1, &text).unwrap();
    (sink, count_lines(&text))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in [dir.to_path_buf(), dir.join("variants")] {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.path().is_file() {
                    out.push(e.path());
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_tcpip_line_decodes_to_named_fields() {
    let Some(dir) = shared() else { return };
    let mut tcpip = 0;
    let mut raw = 0;
    for f in files(&dir) {
        let (sink, lines) = decode(&f);
        assert_eq!(sink.counts.total(), lines, "{}", f.display());
        assert_eq!(
            sink.counts.unknown + sink.counts.error,
            0,
            "{}: {:?}",
            f.display(),
            sink.diagnostics
        );
        for e in &sink.events {
            if e.provider.as_deref() == Some("Microsoft-Windows-TCPIP") {
                tcpip += 1;
                assert!(
                    e.event_id.is_some(),
                    "{}: no template for {}",
                    f.display(),
                    e.message
                );
                assert!(e.fields.len() >= 2, "{}", e.message);
                assert_ne!(e.kind, Kind::Raw);
            } else {
                raw += 1;
                assert_eq!(e.kind, Kind::Raw, "{}", e.message);
                assert!(e.provider.is_some() && e.ts.is_some());
            }
        }
    }
    assert_eq!(tcpip, 12);
    assert_eq!(raw, 12);
}

fn one(dir: &Path, name: &str) -> Vec<Event> {
    decode(&dir.join(name)).0.events
}

#[test]
fn network_layer_drop() {
    let Some(dir) = shared() else { return };
    let ev = one(&dir, "msdocs_packet_loss_nettrace_drop.txt");
    let e = &ev[0];
    assert_eq!(e.kind, Kind::NetworkDrop);
    assert_eq!(e.proto, Some(Proto::Icmp));
    assert_eq!(e.field("AddressFamily"), Some("2(IPV4)"));
    assert_eq!(e.field("PacketCount"), Some("1"));
    assert_eq!(e.field("IfIndex"), Some("13"));
    assert_eq!(e.local.unwrap().ip, "192.168.5.68".parse().ok());
    assert_eq!(e.remote.unwrap().ip, "192.168.5.88".parse().ok());
    let d = e.drop.as_ref().unwrap();
    assert_eq!(d.code, Some(9));
    assert_eq!(d.text.as_deref(), Some("Inspection drop"));
    assert_eq!(e.direction, Some(Direction::Out));
    assert_eq!(e.field("Nbl"), Some("0xFFFFE189BEAF3AC0"));
    assert_eq!(e.ts.unwrap().to_string(), "2025-03-27T16:12:13.9660038");
    assert_eq!(e.cpu, Some(30));
}

#[test]
fn retransmit_sequence() {
    let Some(dir) = shared() else { return };
    let ev = one(&dir, "msdocs_packet_loss_nettrace_retransmit.txt");
    let kinds: Vec<Kind> = ev.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            Kind::TcpTimer,
            Kind::TcpOther,
            Kind::TcpRetransmit,
            Kind::TcpDataSent,
            Kind::TcpRetransmit,
            Kind::TcpTimer
        ]
    );
    assert!(ev.iter().all(|e| e.tcb == Some(0xFFFF_E189_BD81_1AA0)));
    assert_eq!(ev[0].field("TimerType"), Some("0(RetransmitTimer)"));
    assert_eq!(ev[1].field("TlpEvent"), Some("2(TimerFired)"));
    let send = &ev[3];
    assert_eq!(send.bytes, Some(1460));
    assert_eq!(send.field("SeqNo"), Some("2526320299"));
    assert_eq!(send.state_to.as_deref(), Some("Established"));
    assert_eq!(send.local.unwrap().to_string(), "192.168.5.68:55330");
    assert_eq!(send.remote.unwrap().to_string(), "6.6.0.27:443");
    assert_eq!(send.field("MaxRcvBuf"), Some("65535"));
    assert_eq!(ev[5].field("LastMicroseconds"), Some("30532515324"));
}

#[test]
fn other_tcpip_lines_and_wpp() {
    let Some(dir) = shared() else { return };
    let ev = one(&dir, "msquic_tsg_interface_rundown.txt");
    assert_eq!(ev[0].event_id, Some(1527));
    assert_eq!(ev[0].field("IfAlias"), Some("Ethernet (Kernel Debugger)"));
    assert_eq!(
        ev[0].field("PhysicalMediumType"),
        Some("19(NdisPhysicalMediumOther)")
    );
    let ev = one(&dir, "msquic_tsg_uro_scu.txt");
    assert_eq!(
        (ev[0].event_id, ev[0].field("SegCount")),
        (Some(1515), Some("5"))
    );
    let ev = one(&dir, "princepereira_nsi_route_delete.txt");
    assert_eq!(ev[0].provider.as_deref(), Some("nt"));
    assert_eq!(ev[0].header_pid, Some(0x08FC));
    assert_eq!(ev[1].event_id, Some(1442));
    assert_eq!(ev[1].field("IfIndex"), Some("9"));
    assert_eq!(ev[2].event_id, Some(1146));
    assert_eq!(ev[2].field("Route"), Some("0xFFFFE50CCCA90770"));
    assert_eq!(ev[2].field("Interface"), Some("9"));
}
