//! Seed 002 (TCPIP + Winsock-AFD ETW in Network Monitor text, frames 50–252)
//! decodes with no unknown lines: AFD and TCPIP lines become typed events
//! with pointers, addresses, PIDs and lengths; packet lines become packet
//! events with flags, ports, seq/ack, payload length and the bad-checksum mark.

use etwnet::decode::common::count_lines;
use etwnet::decode::{Format, Sink, decode_text};
use etwnet::event::{Event, Kind, Layer, Proto};

fn decode() -> (Sink, u64) {
    let text = include_str!("../samples/seed002_netmon_afd_tcpip.txt");
    let sink = decode_text(Format::NetmonText, 0, 1, text).expect("netmon decoder");
    (sink, count_lines(text))
}

fn frame(sink: &Sink, n: u32) -> &Event {
    let n = n.to_string();
    sink.events
        .iter()
        .find(|e| e.field("frame") == Some(n.as_str()))
        .unwrap_or_else(|| panic!("frame {n} missing"))
}

#[test]
fn every_line_is_accounted_and_none_unknown() {
    let (sink, lines) = decode();
    assert_eq!(sink.counts.total(), lines);
    assert_eq!(lines, 72);
    assert_eq!(sink.counts.unknown, 0, "{:?}", sink.diagnostics);
    assert_eq!(sink.counts.error, 0, "{:?}", sink.diagnostics);
    assert_eq!(sink.counts.parsed, 72);
    // 71 frames; the hex dump line joins frame 213.
    assert_eq!(sink.events.len(), 71);
}

#[test]
fn every_afd_and_tcpip_line_is_a_typed_event() {
    let (sink, _) = decode();
    let mut etw = 0;
    for e in sink.events.iter().filter(|e| e.kind != Kind::Packet) {
        etw += 1;
        assert!(e.event_id.is_some(), "no template matched: {}", e.message);
        assert!(matches!(e.layer, Layer::Afd | Layer::Tcpip), "{e:?}");
        assert_ne!(e.kind, Kind::Raw, "{}", e.message);
        assert!(!e.fields.is_empty());
        // Only the cumulative-ACK event (1071) has no dedicated kind.
        if e.kind == Kind::TcpOther {
            assert_eq!(e.event_id, Some(1071), "{}", e.message);
        }
        if e.layer == Layer::Afd {
            assert!(
                e.endpoint.is_some() && e.process_object == Some(0x893F_92B0),
                "{e:?}"
            );
        }
    }
    assert_eq!(etw, 62);
}

#[test]
fn afd_socket_listen_accept_and_data() {
    let (sink, _) = decode();
    let e = frame(&sink, 50);
    assert_eq!(e.kind, Kind::AfdSocket);
    assert_eq!(e.provider.as_deref(), Some("Microsoft-Windows-Winsock-AFD"));
    assert_eq!(e.pid, Some(2704));
    assert_eq!(e.process_object, Some(0x893F_92B0));
    assert_eq!(e.endpoint, Some(0x8A28_E2D8));
    assert_eq!(e.proto, Some(Proto::Tcp));
    assert_eq!(e.process_name.as_deref(), Some("tcpserver.exe"));
    assert_eq!(e.header_pid, Some(2704));
    let e = frame(&sink, 54);
    assert_eq!(e.kind, Kind::AfdBind);
    assert_eq!(e.local.unwrap().to_string(), "192.168.1.212:13000");
    assert_eq!(frame(&sink, 58).kind, Kind::AfdListen);
    let e = frame(&sink, 203);
    assert_eq!(e.kind, Kind::AfdConnectIndication);
    assert_eq!(e.remote.unwrap().to_string(), "192.168.1.200:55908");
    assert_eq!(e.field("netmon_source"), Some("192.168.1.200"));
    let e = frame(&sink, 210);
    assert_eq!(e.kind, Kind::AfdAccept);
    assert_eq!(e.endpoint, Some(0x8A28_E2D8));
    assert_eq!(e.endpoint2, Some(0x892F_B6D8));
    let e = frame(&sink, 214);
    assert_eq!(e.kind, Kind::AfdDataIndication);
    assert_eq!(e.bytes, Some(13));
    assert_eq!(
        (frame(&sink, 217).kind, frame(&sink, 217).bytes),
        (Kind::AfdRecv, Some(256))
    );
    assert_eq!(
        (frame(&sink, 218).kind, frame(&sink, 218).bytes),
        (Kind::AfdRecv, Some(13))
    );
    assert_eq!(
        (frame(&sink, 219).kind, frame(&sink, 219).bytes),
        (Kind::AfdSend, Some(13))
    );
    assert_eq!(frame(&sink, 233).kind, Kind::AfdDisconnectIndication);
    assert_eq!(frame(&sink, 240).kind, Kind::AfdCleanup);
    assert_eq!(frame(&sink, 242).kind, Kind::AfdClose);
}

#[test]
fn tcpip_timeline() {
    let (sink, _) = decode();
    let e = frame(&sink, 52);
    assert_eq!(
        (e.kind, e.endpoint, e.pid),
        (Kind::TcpEndpointCreated, Some(0x8930_4008), Some(2704))
    );
    let e = frame(&sink, 60);
    assert_eq!(e.kind, Kind::TcpListenerActivated);
    assert_eq!(e.endpoint, Some(0x8A21_3398));
    let states: Vec<(String, String)> = sink
        .events
        .iter()
        .filter(|e| e.kind == Kind::TcpStateChange)
        .map(|e| {
            assert_eq!(e.tcb, Some(0x8921_DD28));
            (e.state_from.clone().unwrap(), e.state_to.clone().unwrap())
        })
        .collect();
    let want = [
        ("Listen", "SynRcvd"),
        ("SynRcvd", "Established"),
        ("Established", "CloseWait"),
        ("CloseWait", "LastAck"),
        ("LastAck", "Closed"),
        ("Closed", "Closed"),
    ];
    assert_eq!(states.len(), want.len());
    for (got, want) in states.iter().zip(want) {
        assert_eq!((got.0.as_str(), got.1.as_str()), want);
    }
    let e = frame(&sink, 205);
    assert_eq!(e.kind, Kind::TcpAcceptCompleted);
    assert_eq!(e.tcb, Some(0x8921_DD28));
    assert_eq!(e.pid, Some(2704));
    assert_eq!(e.local.unwrap().to_string(), "192.168.1.212:13000");
    assert_eq!(e.remote.unwrap().to_string(), "192.168.1.200:55908");
    assert_eq!(
        (frame(&sink, 198).kind, frame(&sink, 198).bytes),
        (Kind::TcpDataSent, Some(1))
    );
    assert_eq!(
        (frame(&sink, 216).kind, frame(&sink, 216).bytes),
        (Kind::TcpDataReceived, Some(13))
    );
    let e = frame(&sink, 215);
    assert_eq!(
        (e.kind, e.bytes, e.status.as_deref()),
        (Kind::TcpDelivery, Some(13), Some("Success"))
    );
    let e = frame(&sink, 221);
    assert_eq!((e.kind, e.bytes), (Kind::TcpSendPosted, Some(13)));
    assert_eq!(e.field("Injected"), Some("posted posted"));
    assert_eq!(frame(&sink, 236).kind, Kind::TcpDisconnectIssued);
    assert_eq!(frame(&sink, 249).kind, Kind::TcpDisconnectCompleted);
    assert_eq!(frame(&sink, 250).kind, Kind::TcpCloseIssued);
    let e = frame(&sink, 251);
    assert_eq!(e.kind, Kind::TcpShutdown);
    assert_eq!(e.status.as_deref(), Some("STATUS_CONNECTION_ABORTED"));
    assert_eq!(e.status_code, Some(0xC000_0241));
    assert_eq!(e.pid, Some(2704));
}

#[test]
fn packets_with_flags_ports_seq_ack_and_checksum() {
    let (sink, _) = decode();
    let packets: Vec<&Event> = sink
        .events
        .iter()
        .filter(|e| e.kind == Kind::Packet)
        .collect();
    assert_eq!(packets.len(), 9);
    let flags: Vec<&str> = packets
        .iter()
        .map(|e| {
            e.packet
                .as_ref()
                .and_then(|p| p.tcp_flags.as_deref())
                .unwrap()
        })
        .collect();
    assert_eq!(flags, ["S", "S.", ".", "P.", "P.", "F.", ".", "F.", "."]);
    let e = frame(&sink, 199);
    let p = e.packet.as_ref().unwrap();
    assert!(p.bad_checksum);
    assert_eq!(
        (p.seq, p.ack, p.window, p.payload_len),
        (Some(2_428_590_241), Some(260_959_135), Some(8192), Some(0))
    );
    assert_eq!(
        (e.local.unwrap().port, e.remote.unwrap().port),
        (Some(13000), Some(55908))
    );
    assert_eq!(e.field("source"), Some("WIN7CLIENT1-2K8"));
    assert_eq!(e.layer, Layer::Packet);
    let e = frame(&sink, 213);
    let p = e.packet.as_ref().unwrap();
    assert!(!p.bad_checksum);
    assert_eq!((p.seq, p.payload_len), (Some(260_959_135), Some(13)));
    assert_eq!(
        e.field("payload_hex"),
        Some("54 65 73 74 20 6D 65 73 73 61 67 65 31")
    );
    assert_eq!(e.process_name.as_deref(), Some("tcpserver.exe"));
    assert_eq!(
        packets
            .iter()
            .filter(|e| e.packet.as_ref().unwrap().bad_checksum)
            .count(),
        4
    );
}

#[test]
fn truncated_lines_never_panic_and_are_accounted() {
    let text = include_str!("../samples/seed002_netmon_afd_tcpip.txt");
    for line in text.lines() {
        for (i, _) in line.char_indices() {
            let cut = &line[..i];
            let sink = decode_text(Format::NetmonText, 0, 1, cut).unwrap();
            assert_eq!(sink.counts.total(), count_lines(cut), "{cut:?}");
        }
    }
}
