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

/// Correlates `windows` one after another with closed connections retired,
/// as a streaming run does; lines are numbered across windows.
fn correlate_windows(windows: Vec<Vec<Event>>) -> Correlator {
    let mut corr = Correlator::new(None);
    corr.retire_closed(Box::new(|c, _| format!("{}\n", c.id).into_bytes()));
    let mut line = 0;
    for mut evs in windows {
        for e in &mut evs {
            line += 1;
            e.source.line = line;
        }
        let d = Decoded {
            files: vec![FileReport::default()],
            events: vec![evs],
            problems: Vec::new(),
        };
        corr.window(&d).unwrap();
    }
    corr
}

fn filler() -> Vec<Event> {
    let mut b = B { evs: Vec::new() };
    b.ev(Layer::Other, Kind::Raw, |_| {});
    b.evs
}

#[test]
fn closed_afd_endpoint_leaves_memory_and_its_pointer_is_a_new_socket() {
    let socket = |pid: u32| {
        let local = format!("10.0.0.1:{}", 5000 + pid);
        let mut b = B { evs: Vec::new() };
        b.ev(Layer::Afd, Kind::AfdSocket, |e| {
            e.endpoint = Some(0xE0);
            e.pid = Some(pid);
        });
        b.ev(Layer::Afd, Kind::AfdBind, |e| {
            e.endpoint = Some(0xE0);
            e.local = Some(ep(&local));
        });
        b.ev(Layer::Afd, Kind::AfdSendTo, |e| {
            e.endpoint = Some(0xE0);
            e.remote = Some(ep("10.0.0.2:53"));
            e.bytes = Some(40);
        });
        b.ev(Layer::Afd, Kind::AfdClose, |e| e.endpoint = Some(0xE0));
        b.evs
    };
    let corr = correlate_windows(vec![socket(100), filler(), filler()]);
    // Closed two windows ago and joined to no connection in memory: gone.
    assert!(corr.afd.is_empty(), "{:?}", corr.afd);
    // The same pointer later is another process's socket (the kernel
    // reused the address), and its traffic is that process's.
    let corr = correlate_windows(vec![socket(100), filler(), filler(), socket(200)]);
    let pids: Vec<u32> = corr
        .analysis()
        .connections
        .iter()
        .filter_map(|c| c.attribution.as_ref().map(|a| a.pid))
        .collect();
    assert_eq!(pids, [100, 200]);
}

#[test]
fn an_open_afd_endpoint_stays_however_long_it_is_idle() {
    let mut b = B { evs: Vec::new() };
    b.ev(Layer::Afd, Kind::AfdSocket, |e| {
        e.endpoint = Some(0xE1);
        e.pid = Some(300);
    });
    let mut windows = vec![b.evs];
    windows.extend((0..5).map(|_| filler()));
    let corr = correlate_windows(windows);
    assert_eq!(corr.afd.len(), 1);
}

/// Connections to one place every 60 s, each closed and retired long before
/// the end: rule (f) still sees them all (their start times come back from
/// the spill file) and names every one.
#[test]
fn periodic_connections_found_after_they_were_retired() {
    periodic_connections_found(4, 4, "10.0.0.9:443", &[]);
}

/// Some retired, some still in memory, and connections to another place
/// too few to count: rule (f) names exactly the four.
#[test]
fn periodic_connections_found_among_retired_and_open_ones() {
    periodic_connections_found(4, 2, "10.0.0.9:443", &["10.0.0.7:80", "10.0.0.7:80"]);
}

/// One connection to each of `others`, then `n` to `dest` 60 s apart; all
/// but the last `n - retired` are followed by two quiet windows, so they are
/// retired.
fn periodic_connections_found(n: u64, retired: usize, dest: &str, others: &[&str]) {
    let mut windows = Vec::new();
    let dests = others.iter().copied().chain((0..n).map(|_| dest));
    let to_retire = others.len() + retired;
    for (i, dest) in (0u64..).zip(dests) {
        let mut b = B { evs: Vec::new() };
        let tcb = 0x1000 + i;
        let at = |s: i64| Some(crate::event::Timestamp::utc(s * 1_000_000_000));
        for (from, to) in [("Closed", "SynSent"), ("SynSent", "Established")] {
            b.ev(Layer::Tcpip, Kind::TcpStateChange, |e| {
                e.tcb = Some(tcb);
                e.state_from = Some(from.into());
                e.state_to = Some(to.into());
                e.ts = at(60 * i as i64);
            });
        }
        b.ev(Layer::Tcpip, Kind::TcpConnectCompleted, |e| {
            e.tcb = Some(tcb);
            e.proto = Some(Proto::Tcp);
            e.local = Some(ep(&format!("10.0.0.1:{}", 50000 + i)));
            e.remote = Some(ep(dest));
            e.ts = at(60 * i as i64 + 1);
        });
        b.ev(Layer::Tcpip, Kind::TcpStateChange, |e| {
            e.tcb = Some(tcb);
            e.state_from = Some("Established".into());
            e.state_to = Some("Closed".into());
            e.ts = at(60 * i as i64 + 2);
        });
        windows.push(b.evs);
        if (i as usize) < to_retire {
            windows.push(filler());
            windows.push(filler());
        }
    }
    let corr = correlate_windows(windows);
    assert_eq!(corr.analysis().retired.len(), to_retire);
    let a = corr.finish();
    let periodic: Vec<&Finding> = a
        .findings
        .iter()
        .filter(|f| f.rule == "f:periodic")
        .collect();
    assert_eq!(periodic.len(), 1, "{periodic:#?}");
    let first = others.len() as u64;
    let want: Vec<String> = (first..first + n).map(|i| conn_id(i as u32)).collect();
    assert_eq!(periodic[0].conn_ids, want);
    assert!(
        periodic[0].summary.contains("every ~60 s"),
        "{}",
        periodic[0].summary
    );
}

#[test]
fn periodic_start_record_round_trip() {
    use findings::PeriodicStart;
    for (proto, remote, first_event) in [
        (
            Proto::Tcp,
            ep("10.1.2.3:443"),
            Some(SourceRef {
                file: 7,
                line: 1 << 40,
            }),
        ),
        (Proto::Other(47), ep("[fe80::1]:0"), None),
        (
            Proto::Icmpv6,
            Endpoint {
                ip: None,
                port: None,
            },
            None,
        ),
    ] {
        let p = PeriodicStart {
            index: 123_456,
            proto,
            remote,
            first_key: -5,
            first_event,
        };
        let mut rec = [0u8; PeriodicStart::RECORD_LEN];
        p.encode(&mut rec);
        let q = PeriodicStart::decode(&rec).unwrap();
        assert_eq!(
            (q.index, q.proto, q.remote, q.first_key, q.first_event),
            (p.index, p.proto, p.remote, p.first_key, p.first_event)
        );
    }
    assert!(PeriodicStart::decode(&[0u8; 10]).is_none());
}

#[test]
fn spill_reads_records_from_the_file_and_the_write_buffer() {
    let mut s = Spill::default();
    let mut at = Vec::new();
    for i in 0..40_000u32 {
        let rec = format!("record {i}\n");
        at.push((s.append(rec.as_bytes()).unwrap(), rec));
    }
    assert!(s.flushed > 0 && !s.pending.is_empty());
    for (off, rec) in at.iter().step_by(997).chain(at.last()) {
        assert_eq!(s.read(*off, rec.len()).unwrap(), rec.as_bytes());
    }
    // A record cut by the flush boundary.
    let cut = s.flushed - 3;
    let both = s.read(cut, 6).unwrap();
    assert_eq!(both.len(), 6);
    assert!(s.read(s.len, 1).is_err());
}

#[test]
fn pktmon_identities_are_remembered_for_two_windows() {
    let mut seen = PktmonSeen::default();
    let k = (0, 7, 1);
    assert!(seen.insert(k, 0));
    assert!(!seen.insert(k, 0), "a second appearance in the same window");
    assert!(!seen.insert(k, 1), "an appearance in the next window");
    assert!(seen.insert((0, 7, 2), 1));
    assert!(!seen.stale(2) && seen.stale(3));
    // Two windows on, the packet is forgotten: its identity counts again.
    assert!(seen.insert(k, 3));
    assert!(seen.previous.is_empty() && seen.current.len() == 1);
}

#[test]
fn keep_earliest_keeps_the_n_smallest_without_growing_past_n() {
    let mut v = Vec::new();
    for x in [9, 3, 7, 1, 8, 5, 2, 6] {
        keep_earliest(&mut v, x, 5);
        assert!(v.capacity() <= 5, "capacity {}", v.capacity());
    }
    assert_eq!(v, [1, 2, 3, 5, 6]);
    keep_earliest(&mut v, 4, 5);
    keep_earliest(&mut v, 10, 5);
    assert_eq!(v, [1, 2, 3, 4, 5]);
    let mut w = Vec::new();
    for x in (0..30).rev() {
        keep_earliest(&mut w, x, 10);
    }
    assert_eq!(w, (0..10).collect::<Vec<_>>());
    assert_eq!(w.capacity(), 10);
}

/// A UDP packet of the flow 10.0.0.1:5000 <-> 10.0.0.2:53 seen by PktMon.
fn dns_packet(b: &mut B, sent: bool, group: u64, len: u32) {
    b.ev(Layer::Pktmon, Kind::Packet, |e| {
        e.proto = Some(Proto::Udp);
        e.ts = Some(crate::event::Timestamp::utc(group as i64 * 1_000));
        let (c, s) = (ep("10.0.0.1:5000"), ep("10.0.0.2:53"));
        (e.local, e.remote) = if sent {
            (Some(c), Some(s))
        } else {
            (Some(s), Some(c))
        };
        e.direction = Some(if sent { Direction::Out } else { Direction::In });
        e.packet = Some(Box::new(PacketInfo {
            pkt_group_id: Some(group),
            pkt_number: Some(1),
            payload_len: Some(len),
            ..PacketInfo::default()
        }));
    });
}

fn flow_facts(c: &Connection) -> String {
    format!(
        "{} {:?} {:?} {:?}..{:?} {} sent {}/{} recv {}/{} {:?} events {} {:?}",
        c.id,
        c.local,
        c.remote,
        c.first,
        c.last,
        c.history,
        c.packets_sent,
        c.bytes_sent,
        c.packets_received,
        c.bytes_received,
        c.first_events,
        c.event_count,
        c.sources
    )
}

#[test]
fn an_idle_flow_leaves_memory_and_comes_back_as_it_was() {
    let mut first = B { evs: Vec::new() };
    dns_packet(&mut first, true, 1, 30);
    dns_packet(&mut first, false, 2, 90);
    let mut later = B { evs: Vec::new() };
    dns_packet(&mut later, true, 9, 31);
    let windows = vec![first.evs, filler(), filler(), filler(), later.evs];
    // Idle for two windows: out of memory, its tuple still known.
    let corr = correlate_windows(windows[..4].to_vec());
    assert!(corr.a.connections.get(0).is_none());
    assert_eq!(corr.spilled_flows.len(), 1);
    // Seen again: back, with its earlier packets, as if it had stayed.
    let corr = correlate_windows(windows.clone());
    assert!(corr.spilled_flows.is_empty());
    let back = corr.a.connections.get(0).expect("the flow is back");
    let mut line = 0;
    let all: Vec<Event> = windows
        .concat()
        .into_iter()
        .map(|mut e| {
            line += 1;
            e.source.line = line;
            e
        })
        .collect();
    let whole = analyze(
        &Decoded {
            files: vec![FileReport::default()],
            events: vec![all],
            problems: Vec::new(),
        },
        None,
    );
    assert_eq!(whole.connections.len(), 1);
    let stayed = whole.connections.get(0).unwrap();
    assert_eq!(flow_facts(back), flow_facts(stayed));
    assert_eq!((back.packets_sent, back.packets_received), (2, 1));
}

#[test]
fn flows_still_out_at_the_end_are_retired_with_their_row() {
    let mut first = B { evs: Vec::new() };
    dns_packet(&mut first, true, 1, 30);
    let mut corr = correlate_windows(vec![first.evs, filler(), filler()]);
    assert_eq!(corr.spilled_flows.len(), 1);
    corr.retire_closed(Box::new(|c, _| {
        format!("{},{},{}\n", c.id, c.packets_sent, c.bytes_sent).into_bytes()
    }));
    corr.retire_spilled_flows().unwrap();
    let a = corr.finish();
    assert_eq!(a.retired.len(), 1);
    let r = a.retired.records()[0];
    assert_eq!(a.retired.read(r.offset, r.len).unwrap(), b"C0001,1,30\n");
    assert_eq!(a.connections.iter().count(), 0);
}

#[test]
fn spill_appends_at_the_end_after_a_read() {
    // The flow spill is read between writes: a read must not move where
    // the next flush writes.
    let mut s = Spill::default();
    let big = vec![7u8; Spill::FLUSH_AT];
    let first = s.append(&big).unwrap();
    assert_eq!(s.read(first, 4).unwrap(), [7; 4]);
    let second = s.append(&vec![9u8; Spill::FLUSH_AT]).unwrap();
    assert_eq!(s.read(first, Spill::FLUSH_AT).unwrap(), big);
    assert_eq!(s.read(second + 5, 3).unwrap(), [9; 3]);
}

/// The same PktMon packets in two files (a capture and its text
/// conversion) are counted once per file, and finding (g) says so; a
/// third file with other packets is not part of it.
#[test]
fn a_capture_given_twice_is_flagged_and_counted_per_file() {
    let capture = |base: u64| {
        let mut b = B { evs: Vec::new() };
        for g in base..base + 12 {
            dns_packet(&mut b, true, g, 30);
        }
        for (i, e) in b.evs.iter_mut().enumerate() {
            if let Some(p) = e.packet.as_mut() {
                p.appearance = Some(1 + (i % 2) as u32);
            }
        }
        b.evs
    };
    let mut events = vec![capture(100), capture(100), capture(5_000)];
    for (f, evs) in events.iter_mut().enumerate() {
        for e in evs {
            e.source.file = f as u32;
        }
    }
    let d = Decoded {
        files: vec![FileReport::default(); 3],
        events,
        problems: Vec::new(),
    };
    let a = analyze(&d, None);
    let dup: Vec<_> = a
        .findings
        .iter()
        .filter(|f| f.rule == "g:duplicate-capture")
        .collect();
    assert_eq!(dup.len(), 1, "{:?}", a.findings);
    let files: Vec<u32> = dup[0].evidence.iter().map(|s| s.file).collect();
    assert_eq!(files, vec![0, 1]);
    // What the finding warns of: the flow counts both copies.
    let c = a.connections.get(0).unwrap();
    assert_eq!(c.packets_sent, 12 * 2 + 12);
}

/// One TCP segment as a Windows 11 24H2 capture logs it: an appearance at
/// each (component, edge), each with a PktGroupId of its own and
/// Appearance 0, microseconds apart.
fn per_appearance_segment(b: &mut B, t0: i64, group: &mut u64, seq: u32, hops: &[(u32, u32)]) {
    for (i, &(component, edge)) in hops.iter().enumerate() {
        *group += 1;
        let g = *group;
        b.ev(Layer::Pktmon, Kind::Packet, |e| {
            e.proto = Some(Proto::Tcp);
            e.ts = Some(crate::event::Timestamp::utc(t0 + i as i64 * 3_000));
            (e.local, e.remote) = (Some(ep("10.0.0.1:50000")), Some(ep("10.0.0.2:22")));
            e.direction = Some(Direction::Out);
            e.packet = Some(Box::new(PacketInfo {
                pkt_group_id: Some(g),
                pkt_number: Some(1),
                appearance: Some(0),
                component: Some(component),
                edge: Some(edge),
                seq: Some(seq),
                ack: Some(7),
                tcp_flags: Some("P.".into()),
                payload_len: Some(48),
                payload_prefix: Some(0xAB),
                ..PacketInfo::default()
            }));
        });
    }
}

/// Where every appearance has its own PktGroupId (Appearance 0), a packet
/// is counted once however many component edges log it; the same bytes at
/// the same edge a millisecond later are a second packet; another segment
/// is a third.
#[test]
fn per_appearance_ids_count_each_packet_once() {
    let hops = [(80, 1), (39, 1), (39, 2), (40, 1), (40, 2), (13, 1)];
    let mut b = B { evs: Vec::new() };
    let mut group = 0x3000_0000_0000_0000;
    per_appearance_segment(&mut b, 1_000_000_000, &mut group, 100, &hops);
    per_appearance_segment(&mut b, 1_001_000_000, &mut group, 100, &hops);
    per_appearance_segment(&mut b, 1_001_500_000, &mut group, 148, &hops);
    let d = Decoded {
        files: vec![FileReport::default()],
        events: vec![b.evs],
        problems: Vec::new(),
    };
    let a = analyze(&d, None);
    let c = a.connections.get(0).unwrap();
    assert_eq!((c.packets_sent, c.bytes_sent), (3, 3 * 48));
    assert_eq!(a.connections.len(), 1);
}

/// Where appearances share their PktGroupId (the documented layout), the
/// ids decide alone: two appearances with equal content but different ids
/// at the same edge are two packets, equal ids one.
#[test]
fn shared_ids_still_decide_where_appearances_carry_them() {
    let mut b = B { evs: Vec::new() };
    let mut group = 10;
    per_appearance_segment(&mut b, 1_000_000_000, &mut group, 100, &[(80, 1), (80, 1)]);
    for (i, e) in b.evs.iter_mut().enumerate() {
        let p = e.packet.as_mut().unwrap();
        p.appearance = Some(1 + i as u32);
        p.pkt_group_id = Some(if i == 0 { 10 } else { 11 });
    }
    let mut again = B { evs: Vec::new() };
    let mut g = 11;
    per_appearance_segment(&mut again, 1_000_010_000, &mut g, 100, &[(39, 1)]);
    for e in &mut again.evs {
        let p = e.packet.as_mut().unwrap();
        p.appearance = Some(3);
        p.pkt_group_id = Some(11);
    }
    b.evs.extend(again.evs);
    let d = Decoded {
        files: vec![FileReport::default()],
        events: vec![b.evs],
        problems: Vec::new(),
    };
    let a = analyze(&d, None);
    assert_eq!(a.connections.get(0).unwrap().packets_sent, 2);
}

/// Two packets alike in every field (two IPv6 mDNS datagrams, no IPv4 id)
/// climbing the stack in step, each logged at each edge in turn, are two
/// packets, not one per edge.
#[test]
fn packets_alike_climbing_in_step_count_once_each() {
    let hops = [(13, 1), (42, 2), (42, 1), (41, 2), (80, 1)];
    let mut first = B { evs: Vec::new() };
    let mut second = B { evs: Vec::new() };
    let (mut g1, mut g2) = (0x100, 0x200);
    per_appearance_segment(&mut first, 1_000_000_000, &mut g1, 100, &hops);
    per_appearance_segment(&mut second, 1_000_001_000, &mut g2, 100, &hops);
    let mut evs = Vec::new();
    for (a, b) in first.evs.into_iter().zip(second.evs) {
        evs.push(a);
        evs.push(b);
    }
    for (i, e) in evs.iter_mut().enumerate() {
        e.source.line = i as u64 + 1;
    }
    let d = Decoded {
        files: vec![FileReport::default()],
        events: vec![evs],
        problems: Vec::new(),
    };
    let a = analyze(&d, None);
    assert_eq!(a.connections.get(0).unwrap().packets_sent, 2);
}
