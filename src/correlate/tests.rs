//! Correlation over hand-built events shaped like seed 002's accepted
//! connection; the same answer over the decoded sample is checked in
//! `tests/timeline.rs`.

use super::*;
use crate::event::{Endpoint, Event, Kind, Layer, PacketInfo, SourceRef};
use crate::pipeline::{Decoded, FileReport};

fn ep(s: &str) -> Endpoint {
    crate::decode::common::parse_socket_addr(s).unwrap()
}

struct B {
    evs: Vec<Event>,
}

impl B {
    fn ev(&mut self, layer: Layer, kind: Kind, f: impl FnOnce(&mut Event)) {
        let line = self.evs.len() as u64 + 1;
        let mut e = Event::new(SourceRef { file: 0, line }, layer, kind);
        f(&mut e);
        self.evs.push(e);
    }
    fn state(&mut self, from: &str, to: &str) {
        self.ev(Layer::Tcpip, Kind::TcpStateChange, |e| {
            e.tcb = Some(0x8921DD28);
            e.state_from = Some(from.into());
            e.state_to = Some(to.into());
        });
    }
    fn data(&mut self, kind: Kind, n: u64) {
        self.ev(Layer::Tcpip, kind, |e| {
            e.tcb = Some(0x8921DD28);
            e.bytes = Some(n);
        });
    }
    fn pkt(&mut self, from_server: bool, flags: &str, len: u32, bad: bool) {
        self.ev(Layer::Packet, Kind::Packet, |e| {
            e.proto = Some(Proto::Tcp);
            let (s, c) = (
                Endpoint {
                    ip: None,
                    port: Some(13000),
                },
                Endpoint {
                    ip: None,
                    port: Some(55908),
                },
            );
            (e.local, e.remote) = if from_server {
                (Some(s), Some(c))
            } else {
                (Some(c), Some(s))
            };
            e.packet = Some(Box::new(PacketInfo {
                tcp_flags: Some(flags.into()),
                payload_len: Some(len),
                bad_checksum: bad,
                ..PacketInfo::default()
            }));
        });
    }
}

fn seed002_like() -> Decoded {
    let mut b = B { evs: Vec::new() };
    b.ev(Layer::Afd, Kind::AfdSocket, |e| {
        e.endpoint = Some(0x8A28E2D8);
        e.process_object = Some(0x893F92B0);
        e.pid = Some(2704);
    });
    b.ev(Layer::Afd, Kind::AfdBind, |e| {
        e.endpoint = Some(0x8A28E2D8);
        e.local = Some(ep("192.168.1.212:13000"));
    });
    b.ev(Layer::Tcpip, Kind::TcpListenerActivated, |e| {
        e.endpoint = Some(0x8A213398);
        e.local = Some(ep("192.168.1.212:13000"));
    });
    b.pkt(false, "S", 0, false);
    b.state("Listen", "SynRcvd");
    b.data(Kind::TcpDataSent, 1);
    b.pkt(true, "S.", 0, true);
    b.pkt(false, ".", 0, false);
    b.data(Kind::TcpDataReceived, 0);
    b.state("SynRcvd", "Established");
    b.ev(Layer::Tcpip, Kind::TcpAcceptCompleted, |e| {
        e.tcb = Some(0x8921DD28);
        e.local = Some(ep("192.168.1.212:13000"));
        e.remote = Some(ep("192.168.1.200:55908"));
        e.pid = Some(2704);
    });
    b.ev(Layer::Afd, Kind::AfdSocket, |e| {
        e.endpoint = Some(0x892FB6D8);
        e.process_object = Some(0x893F92B0);
        e.pid = Some(2704);
    });
    b.ev(Layer::Afd, Kind::AfdAccept, |e| {
        e.endpoint = Some(0x8A28E2D8);
        e.endpoint2 = Some(0x892FB6D8);
        e.remote = Some(ep("192.168.1.200:55908"));
    });
    b.pkt(false, "P.", 13, false);
    b.data(Kind::TcpDataReceived, 13);
    b.data(Kind::TcpDataSent, 13);
    b.pkt(true, "P.", 13, true);
    b.pkt(false, "F.", 0, false);
    b.data(Kind::TcpDataReceived, 1);
    b.ev(Layer::Tcpip, Kind::TcpOther, |e| e.tcb = Some(0x8921DD28));
    b.state("Established", "CloseWait");
    b.state("CloseWait", "LastAck");
    b.data(Kind::TcpDataSent, 1);
    b.pkt(true, "F.", 0, true);
    b.ev(Layer::Afd, Kind::AfdClose, |e| {
        e.endpoint = Some(0x892FB6D8)
    });
    b.state("LastAck", "Closed");
    b.ev(Layer::Tcpip, Kind::TcpShutdown, |e| {
        e.tcb = Some(0x8921DD28);
        e.status = Some("STATUS_CONNECTION_ABORTED".into());
        e.pid = Some(2704);
    });
    b.state("Closed", "Closed");
    Decoded {
        files: vec![FileReport {
            name: "t".into(),
            ..FileReport::default()
        }],
        events: vec![b.evs],
        problems: Vec::new(),
    }
}

#[test]
fn accepted_connection_like_seed_002() {
    let d = seed002_like();
    let a = analyze(&d, None);
    let tcp: Vec<&Connection> = a.connections.iter().filter(|c| c.tcb.is_some()).collect();
    assert_eq!(tcp.len(), 1, "{:#?}", a.connections);
    let c = tcp[0];
    assert_eq!(
        c.states.join(">"),
        "Listen>SynRcvd>Established>CloseWait>LastAck>Closed"
    );
    assert_eq!((c.bytes_received, c.bytes_sent), (13, 13));
    assert_eq!(c.direction, ConnDirection::Inbound);
    assert_eq!(c.close_reason.as_deref(), Some("STATUS_CONNECTION_ABORTED"));
    assert_eq!(c.endpoint, Some(0x892FB6D8));
    let attr = c.attribution.as_ref().unwrap();
    assert_eq!((attr.pid, attr.confidence), (2704, Confidence::High));
    assert_eq!((c.packets_received, c.packets_sent), (4, 3));
    assert_eq!(c.bad_checksum_sent, 3);
    assert!(c.history.starts_with("Sh"), "{}", c.history);
    // The AFD close on the accepted endpoint belongs to the connection.
    assert!(a.conn_of[0].iter().zip(&d.events[0]).any(|(conn, e)| {
        conn.is_some_and(|i| a.connections.get(i as usize).is_some_and(|x| x.id == c.id))
            && e.kind == Kind::AfdClose
    }));

    let listener: Vec<&Connection> = a
        .connections
        .iter()
        .filter(|c| c.direction == ConnDirection::Listener)
        .collect();
    assert_eq!(listener.len(), 1);
    assert_eq!(listener[0].local, Some(ep("192.168.1.212:13000")));
    assert_eq!(listener[0].attribution.as_ref().map(|a| a.pid), Some(2704));

    assert!(
        a.findings.iter().any(|f| f.rule == "b:tx-checksum-offload"),
        "{:#?}",
        a.findings
    );
}

#[test]
fn tcb_reuse_after_close_starts_a_new_connection() {
    let mut b = B { evs: Vec::new() };
    b.state("Closed", "SynSent");
    b.state("SynSent", "Established");
    b.state("Established", "Closed");
    b.state("Closed", "SynSent");
    let d = Decoded {
        files: vec![FileReport::default()],
        events: vec![b.evs],
        problems: Vec::new(),
    };
    let a = analyze(&d, None);
    assert_eq!(a.connections.len(), 2);
    assert_eq!(
        a.connections.get(0).map(|c| c.direction),
        Some(ConnDirection::Outbound)
    );
}
