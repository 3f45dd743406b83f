//! Round trips through the test ETL writer: several CPUs, uncompressed and
//! compressed buffers, circular wrap, 32-bit headers, extended data,
//! corrupt buffers.

use etwnet::etl::container::Guid;
use etwnet::etl::testutil::{
    EtlWriter, TestEvent, pktmon_component_payload, pktmon_packet_payload, tcp_frame,
};
use etwnet::etl::{self, pktmon};
use etwnet::event::{Direction, Kind, Proto, Timestamp};

const OTHER_PROVIDER: Guid = Guid::new(0x1234_5678, 1, 2, [3, 4, 5, 6, 7, 8, 9, 10]);

fn packet(cpu: u32, raw_ts: i64, group: u64, dir_tag: u16, drop: bool) -> TestEvent {
    let frame = tcp_frame(
        [10, 0, 0, 1],
        50_000,
        [10, 0, 0, 2],
        443,
        0x02,
        group as u32,
    );
    let (reason, location) = if drop { (1204, 0xE000_4704) } else { (0, 0) };
    TestEvent::new(
        cpu,
        raw_ts,
        pktmon::PROVIDER,
        if drop { 170 } else { 160 },
        0x10,
        pktmon_packet_payload(group, 1, 1, dir_tag, 1, 7, 1, reason, location, 60, &frame),
    )
}

/// `n` packets spread round-robin over `cpus`, timestamps interleaved so
/// that no single CPU's buffers are in global time order.
fn writer(cpus: u32, n: u64) -> EtlWriter {
    let mut w = EtlWriter::new(cpus);
    w.buffer_size = 4096;
    for i in 0..n {
        let cpu = (i % u64::from(cpus)) as u32;
        let ts = w.start_raw + 1000 + (i as i64) * 37;
        w.push(packet(
            cpu,
            ts,
            i + 1,
            if i % 2 == 0 { 3 } else { 4 },
            i % 10 == 9,
        ));
    }
    w
}

fn check_in_order(out: &etl::EtlOutput) {
    let mut last = i64::MIN;
    for (i, e) in out.events.iter().enumerate() {
        let t = e.ts.expect("ts").nanos;
        assert!(t >= last, "event {i} out of order");
        last = t;
    }
}

#[test]
fn uncompressed_multi_cpu_round_trip() {
    let w = writer(4, 500);
    let bytes = w.finish();
    assert!(etl::is_etl(&bytes));
    let out = etl::decode_etl(&bytes, 3);
    assert_eq!(out.counts.error, 0, "{:?}", out.diagnostics);
    assert_eq!(out.info.cpus, 4);
    assert!(out.info.buffers > 5, "several buffers per CPU");
    assert_eq!(out.info.compressed_buffers, 0);
    // 1 header record + 500 events.
    assert_eq!(out.records, 501);
    assert_eq!((out.counts.parsed, out.counts.skipped), (500, 1));
    assert_eq!(out.events.len(), 500);
    check_in_order(&out);
    for (i, e) in out.events.iter().enumerate() {
        let p = e.packet.as_ref().unwrap();
        assert_eq!(p.pkt_group_id, Some(i as u64 + 1), "merge order");
        assert_eq!(e.cpu, Some((i % 4) as u32));
        assert_eq!(e.source.file, 3);
        // Record ordinal: the header record is 1.
        assert_eq!(e.source.line, i as u64 + 2);
        // 100 ns clock: start + (1000 + 37 i) ticks.
        let want = Timestamp::from_filetime((w.start_filetime + 1000 + 37 * i as i64) as u64);
        assert_eq!(e.ts, want);
        assert_eq!(e.proto, Some(Proto::Tcp));
        assert_eq!(e.local.unwrap().to_string(), "10.0.0.1:50000");
        assert_eq!(e.remote.unwrap().to_string(), "10.0.0.2:443");
        assert_eq!(p.tcp_flags.as_deref(), Some("S"));
        let dir = if i % 2 == 0 {
            Direction::In
        } else {
            Direction::Out
        };
        assert_eq!(e.direction, Some(dir));
        if i % 10 == 9 {
            assert_eq!(e.kind, Kind::PacketDrop);
            let d = e.drop.as_ref().unwrap();
            assert_eq!((d.code, d.location), (Some(1204), Some(0xE000_4704)));
        } else {
            assert_eq!(e.kind, Kind::Packet);
        }
    }
}

#[test]
fn compressed_buffers_give_the_same_events() {
    let mut w = writer(3, 400);
    let plain_bytes = w.finish();
    let plain = etl::decode_etl(&plain_bytes, 0);
    w.compress = true;
    let bytes = w.finish();
    let packed = etl::decode_etl(&bytes, 0);
    assert!(packed.info.compressed);
    assert_eq!(packed.info.compressed_buffers, packed.info.buffers - 1);
    assert_eq!(packed.counts, plain.counts);
    assert_eq!(packed.events, plain.events);
    assert!(bytes.len() < plain_bytes.len() / 2);
}

#[test]
fn circular_wrap_keeps_survivors_in_time_order() {
    for compress in [false, true] {
        let mut w = writer(2, 600);
        w.circular_lost = 3;
        w.compress = compress;
        let (bytes, kept) = w.finish_with_kept();
        let out = etl::decode_etl(&bytes, 0);
        assert!(out.info.circular);
        assert_eq!(out.counts.error, 0, "{:?}", out.diagnostics);
        assert!(kept.len() < 600, "buffers were lost");
        assert_eq!(out.events.len(), kept.len());
        check_in_order(&out);
        for (e, raw) in out.events.iter().zip(&kept) {
            let want = Timestamp::from_filetime((w.start_filetime + raw - w.start_raw) as u64);
            assert_eq!(e.ts, want);
        }
    }
}

#[test]
fn pointer_size_4_and_extended_items_and_unknown_providers() {
    let mut w = EtlWriter::new(1);
    w.pointer_size = 4;
    let mut ev = packet(0, w.start_raw + 10, 77, 4, false);
    ev.ext = vec![(1, vec![0xAA; 16]), (13, vec![1, 2, 3, 4, 5, 6, 7, 8])];
    w.push(ev);
    w.push(TestEvent {
        cpu: 0,
        raw_ts: w.start_raw + 20,
        provider: OTHER_PROVIDER,
        id: 5,
        version: 1,
        keyword: 0,
        pid: 1,
        tid: 2,
        payload: vec![1, 2, 3],
        ext: Vec::new(),
    });
    w.push(TestEvent {
        cpu: 0,
        raw_ts: w.start_raw + 30,
        provider: pktmon::PROVIDER,
        id: 20,
        version: 0,
        keyword: 2,
        pid: 0,
        tid: 0,
        payload: pktmon_component_payload(7, 2, "mlx5.sys", "Mellanox ConnectX-4"),
        ext: Vec::new(),
    });
    let out = etl::decode_etl(&w.finish(), 0);
    assert_eq!(out.info.pointer_size, 4);
    assert_eq!(out.counts.error, 0, "{:?}", out.diagnostics);
    assert_eq!(
        (out.counts.parsed, out.counts.unknown, out.counts.skipped),
        (2, 1, 1)
    );
    assert_eq!(out.records, 4);
    let p = out.events[0].packet.as_ref().unwrap();
    assert_eq!(p.pkt_group_id, Some(77));
    assert_eq!(out.events[0].local.unwrap().port, Some(50000));
    let c = &out.events[1];
    assert_eq!(c.kind, Kind::PktmonComponent);
    assert_eq!(
        c.message,
        "Component 7, Type Miniport , Name mlx5.sys, Mellanox ConnectX-4 "
    );
    assert_eq!(c.field("Name"), Some("mlx5.sys"));
    assert!(
        out.diagnostics
            .iter()
            .any(|d| d.message.contains("12345678-0001-0002"))
    );
}

#[test]
fn corrupt_and_truncated_buffers_are_reported_and_skipped() {
    let mut w = writer(2, 300);
    w.compress = true;
    let bytes = w.finish();
    let good = etl::decode_etl(&bytes, 0);

    // Damage the compressed stream of one data buffer.
    let header_size = u32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
    let mut bad = bytes.clone();
    for b in &mut bad[header_size + 0x48..header_size + 0x60] {
        *b = 0xFF;
    }
    let out = etl::decode_etl(&bad, 0);
    assert!(out.counts.error >= 1, "{:?}", out.counts);
    assert!(out.events.len() < good.events.len());
    assert!(!out.events.is_empty(), "other buffers still decode");
    assert_eq!(out.counts.total(), out.records);
    check_in_order(&out);

    // Truncate the file in the middle of the last buffer.
    let cut = &bytes[..bytes.len() - 100];
    let out = etl::decode_etl(cut, 0);
    assert_eq!(out.counts.error, 1);
    assert!(out.diagnostics[0].message.contains("file ends"));
    assert!(!out.events.is_empty());
}

#[test]
fn random_damage_never_panics() {
    let mut w = writer(2, 120);
    for compress in [false, true] {
        w.compress = compress;
        let bytes = w.finish();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..300 {
            let mut b = bytes.clone();
            for _ in 0..8 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed as usize) % b.len();
                b[at] = (seed >> 32) as u8;
            }
            let cut = (seed as usize >> 8) % (b.len() + 1);
            let out = etl::decode_etl(&b[..cut.max(b.len() / 2)], 0);
            assert_eq!(out.counts.total(), out.records);
        }
    }
}

fn ndis_fragment(cpu: u32, raw_ts: i64, keyword: u64, lower: u32, frame: &[u8]) -> TestEvent {
    let mut payload = Vec::new();
    payload.extend_from_slice(&7u32.to_le_bytes()); // MiniportIfIndex
    payload.extend_from_slice(&lower.to_le_bytes());
    payload.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    payload.extend_from_slice(frame);
    // Newer builds append GftFlowEntryId and GftOffloadInformation.
    payload.extend_from_slice(&[0u8; 16]);
    TestEvent {
        cpu,
        raw_ts,
        provider: etl::ndiscap::PROVIDER,
        id: 1001,
        version: 0,
        keyword,
        pid: 1234,
        tid: 5678,
        payload,
        ext: Vec::new(),
    }
}

#[test]
fn ndis_packet_capture_fragments_become_packets_and_pcapng() {
    use etl::ndiscap::{KW_NATIVE_80211, KW_PACKET_END, KW_PACKET_START, KW_SEND_PATH};
    let mut w = EtlWriter::new(2);
    let whole = KW_PACKET_START | KW_PACKET_END;
    let frame = tcp_frame([192, 168, 1, 10], 49_000, [93, 184, 216, 34], 80, 0x02, 9);
    w.push(ndis_fragment(
        0,
        w.start_raw + 5,
        whole | KW_SEND_PATH,
        7,
        &frame,
    ));
    w.push(ndis_fragment(1, w.start_raw + 9, whole, 12, &frame[..20]));
    // A Native 802.11 fragment (data frame header only) and a metadata record.
    let wifi = [
        0x08u8, 0x02, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 0, 0,
    ];
    w.push(ndis_fragment(
        0,
        w.start_raw + 12,
        whole | KW_NATIVE_80211,
        7,
        &wifi,
    ));
    let mut meta = ndis_fragment(1, w.start_raw + 15, 0, 7, &[]);
    meta.id = 1002;
    w.push(meta);
    let bytes = w.finish();
    let out = etl::decode_etl(&bytes, 0);
    assert_eq!(out.counts.error, 0, "{:?}", out.diagnostics);
    // Three packets and the (empty) metadata record; the header is skipped.
    assert_eq!((out.counts.parsed, out.counts.skipped), (4, 1));
    let e = &out.events[0];
    assert_eq!(e.kind, Kind::Packet);
    assert_eq!(
        e.provider.as_deref(),
        Some("Microsoft-Windows-NDIS-PacketCapture")
    );
    assert_eq!(e.direction, Some(Direction::Out));
    assert_eq!(e.local.unwrap().to_string(), "192.168.1.10:49000");
    assert_eq!(e.field("LowerIfIndex"), Some("7"));
    assert_eq!(e.header_pid, Some(1234));
    // Truncated capture: wire length from the IPv4 header (14 + 40).
    let t = &out.events[1];
    assert_eq!(t.direction, Some(Direction::In));
    assert_eq!(t.packet.as_ref().unwrap().logged_size, Some(20));
    assert_eq!(t.packet.as_ref().unwrap().frame_len, Some(54));
    assert_eq!(
        out.events[2].packet.as_ref().unwrap().media.as_deref(),
        Some("WiFi")
    );

    let mut pcap = Vec::new();
    let s = etwnet::pcapng::run_pcap(&bytes, &mut pcap, false, None).expect("pcap");
    // eth:7, eth:12 (LWF over 7), wifi:7.
    assert_eq!((s.packets, s.interfaces), (3, 3));
    let have_tshark = std::process::Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if have_tshark {
        let path = std::env::temp_dir().join(format!("etwnet-ndis-{}.pcapng", std::process::id()));
        std::fs::write(&path, &pcap).expect("write");
        let o = std::process::Command::new("tshark")
            .arg("-n")
            .arg("-r")
            .arg(&path)
            .args([
                "-T",
                "fields",
                "-e",
                "frame.interface_name",
                "-e",
                "frame.len",
                "-e",
                "frame.cap_len",
            ])
            .output()
            .expect("tshark");
        let text = String::from_utf8_lossy(&o.stdout);
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(
            rows,
            vec!["eth:7:0\t54\t54", "eth:12:0\t54\t20", "wifi:7\t24\t24"],
            "{text}"
        );
        let _ = std::fs::remove_file(&path);
    }
}

fn ndis_event(
    cpu: u32,
    raw_ts: i64,
    id: u16,
    keyword: u64,
    tid: u32,
    payload: Vec<u8>,
) -> TestEvent {
    TestEvent {
        cpu,
        raw_ts,
        provider: etl::ndiscap::PROVIDER,
        id,
        version: 0,
        keyword,
        pid: 4,
        tid,
        payload,
        ext: Vec::new(),
    }
}

/// Windows 8 and older: one packet over PacketStart, a middle event and
/// PacketEnd, interleaved with another CPU's single-event packet; a packet
/// whose PacketEnd never comes is reported, its records counted as errors.
#[test]
fn ndis_multi_event_packets_are_reassembled() {
    use etl::ndiscap::{KW_PACKET_END, KW_PACKET_START};
    use etl::testutil::ndis_fragment_payload;
    let mut frame = tcp_frame([10, 0, 0, 1], 1000, [10, 0, 0, 2], 443, 0x18, 77);
    frame[16..18].copy_from_slice(&(40u16 + 60).to_be_bytes()); // IPv4 total length
    frame.extend((0..60u8).map(|i| i.wrapping_mul(3)));
    let t0 = EtlWriter::default().start_raw;
    let mut w = EtlWriter::new(2);
    let (a, b, c) = (&frame[..30], &frame[30..70], &frame[70..]);
    w.push(ndis_event(
        0,
        t0 + 10,
        1001,
        KW_PACKET_START,
        9,
        ndis_fragment_payload(3, 3, a),
    ));
    let single = tcp_frame([10, 0, 0, 9], 53, [10, 0, 0, 1], 5353, 0x10, 1);
    w.push(ndis_event(
        1,
        t0 + 11,
        1001,
        KW_PACKET_START | KW_PACKET_END,
        10,
        ndis_fragment_payload(3, 3, &single),
    ));
    w.push(ndis_event(
        0,
        t0 + 12,
        1001,
        0,
        9,
        ndis_fragment_payload(3, 3, b),
    ));
    w.push(ndis_event(
        0,
        t0 + 13,
        1001,
        KW_PACKET_END,
        9,
        ndis_fragment_payload(3, 3, c),
    ));
    // Never finished.
    w.push(ndis_event(
        0,
        t0 + 20,
        1001,
        KW_PACKET_START,
        9,
        ndis_fragment_payload(3, 3, a),
    ));
    let bytes = w.finish();
    let out = etl::decode_etl_with(
        &bytes,
        0,
        etl::EtlOptions {
            keep_frames: true,
            ..Default::default()
        },
    );
    // 2 packets; header + 2 joined fragments skipped; the lone start is an error.
    assert_eq!(
        (out.counts.parsed, out.counts.skipped, out.counts.error),
        (2, 3, 1),
        "{:?}",
        out.diagnostics
    );
    assert!(
        out.diagnostics
            .iter()
            .any(|d| d.message.contains("ends before its PacketEnd"))
    );
    assert_eq!(out.events.len(), 2);
    let joined = &out.events[1];
    assert_eq!(joined.field("Fragments"), Some("3"));
    assert_eq!(joined.field("FragmentSize"), Some("114"));
    assert_eq!(joined.local.unwrap().to_string(), "10.0.0.1:1000");
    assert_eq!(joined.packet.as_ref().unwrap().payload_len, Some(60));
    assert_eq!(out.frames.len(), 2);
    assert_eq!(out.frames[1].bytes, frame);
    assert_eq!(out.frames[1].event_index, 1);
    assert_eq!(out.events[0].field("Fragments"), None);
}

/// 1002 Wi-Fi metadata is an event of its own and its fields ride on the
/// next packet of the interface; the 802.11 Protected bit is cleared.
#[test]
fn ndis_wifi_metadata_attaches_to_the_next_packet() {
    use etl::ndiscap::{KW_NATIVE_80211, KW_PACKET_END, KW_PACKET_START};
    use etl::testutil::{ndis_fragment_payload, ndis_wifi_metadata_payload};
    let t0 = EtlWriter::default().start_raw;
    let mut w = EtlWriter::new(1);
    w.push(ndis_event(
        0,
        t0 + 1,
        1002,
        0,
        1,
        ndis_wifi_metadata_payload(5, 5, 7, 5180, -52, 130),
    ));
    // Protected data frame (FC 08 41: to-DS + Protected), LLC/SNAP IPv4/UDP.
    let mut wifi = vec![0x08u8, 0x41, 0, 0];
    wifi.extend_from_slice(&[1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 0, 0]);
    wifi.extend_from_slice(&[0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00]);
    wifi.extend_from_slice(&[
        0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 192, 168, 0, 2, 192, 168, 0, 1,
    ]);
    wifi.extend_from_slice(&[0x13, 0x88, 0x00, 0x35, 0, 8, 0, 0]);
    let kw = KW_NATIVE_80211 | KW_PACKET_START | KW_PACKET_END;
    w.push(ndis_event(
        0,
        t0 + 2,
        1001,
        kw,
        1,
        ndis_fragment_payload(5, 5, &wifi),
    ));
    w.push(ndis_event(
        0,
        t0 + 3,
        1001,
        kw,
        1,
        ndis_fragment_payload(5, 5, &wifi),
    ));
    let bytes = w.finish();
    let out = etl::decode_etl_with(
        &bytes,
        0,
        etl::EtlOptions {
            keep_frames: true,
            ..Default::default()
        },
    );
    assert_eq!(out.counts.error, 0, "{:?}", out.diagnostics);
    let meta = &out.events[0];
    assert_eq!(meta.kind, Kind::Raw);
    assert_eq!(meta.field("PhyType"), Some("802.11n"));
    assert_eq!(meta.field("CenterCh"), Some("5180"));
    assert_eq!(meta.field("RSSI"), Some("-52"));
    assert_eq!(meta.field("DataRate"), Some("130"));
    let first = &out.events[1];
    assert_eq!(first.kind, Kind::Packet);
    assert_eq!(first.field("RSSI"), Some("-52"));
    assert!(
        first.message.contains("PhyType:802.11n"),
        "{}",
        first.message
    );
    assert_eq!(first.local.unwrap().to_string(), "192.168.0.2:5000");
    // Only the next packet gets it.
    assert_eq!(out.events[2].field("RSSI"), None);
    assert_eq!(out.frames[0].bytes[1], 0x01, "Protected bit cleared");
    assert_eq!(out.frames[0].link_type, 105);
}

/// 1003 VMSwitch fragments: port and NIC names, destinations, VLAN and
/// hash from the OOB array; one pcapng interface per port and VLAN, named
/// like etl2pcapng's.
#[test]
fn ndis_vmswitch_fragments_decode_and_get_their_own_interfaces() {
    use etl::ndiscap::{KW_PACKET_END, KW_PACKET_START, KW_SEND_PATH, KW_VMSWITCH};
    use etl::testutil::{ndis_fragment_payload, ndis_vmswitch_payload};
    let t0 = EtlWriter::default().start_raw;
    let mut w = EtlWriter::new(1);
    let frame = tcp_frame([172, 16, 0, 5], 50_000, [172, 16, 0, 1], 22, 0x02, 5);
    let kw = KW_VMSWITCH | KW_PACKET_START | KW_PACKET_END | KW_SEND_PATH;
    let vm = |ts, port, vlan| {
        ndis_event(
            0,
            t0 + ts,
            1003,
            kw,
            2,
            ndis_vmswitch_payload(
                9,
                9,
                port,
                "PortA",
                "vm01 NIC",
                "Synthetic",
                2,
                vlan,
                0xABCD,
                &frame,
            ),
        )
    };
    w.push(vm(1, 4, 42));
    w.push(vm(2, 4, 42));
    w.push(vm(3, 6, 0));
    // The miniport's own view and a filter over it.
    let whole = KW_PACKET_START | KW_PACKET_END;
    w.push(ndis_event(
        0,
        t0 + 4,
        1001,
        whole,
        2,
        ndis_fragment_payload(9, 11, &frame),
    ));
    w.push(ndis_event(
        0,
        t0 + 5,
        1001,
        whole,
        2,
        ndis_fragment_payload(9, 9, &frame),
    ));
    let bytes = w.finish();
    let out = etl::decode_etl(&bytes, 0);
    assert_eq!(out.counts.error, 0, "{:?}", out.diagnostics);
    let e = &out.events[0];
    assert_eq!(e.kind, Kind::Packet);
    assert_eq!(e.event_id, Some(1003));
    assert_eq!(e.direction, Some(Direction::Out));
    assert_eq!(e.field("SourcePortId"), Some("4"));
    assert_eq!(e.field("SourcePortName"), Some("PortA"));
    assert_eq!(e.field("SourceNicName"), Some("vm01 NIC"));
    assert_eq!(e.field("SourceNicType"), Some("Synthetic"));
    assert_eq!(e.field("DestinationCount"), Some("2"));
    assert_eq!(e.field("VlanId"), Some("42"));
    assert_eq!(e.field("HashValue"), Some("0000abcd"));
    assert_eq!(e.packet.as_ref().unwrap().vlan, Some(42));
    assert_eq!(e.remote.unwrap().to_string(), "172.16.0.1:22");

    let mut pcap = Vec::new();
    let s = etwnet::pcapng::run_pcap(&bytes, &mut pcap, false, None).expect("pcap");
    assert_eq!((s.packets, s.interfaces), (5, 4));
    // Interface names in IDB order: miniport 9 first, then its filter (11),
    // then the vNICs (port 4 / VLAN 42, port 6).
    let names = idb_names(&pcap);
    assert_eq!(
        names,
        vec![
            "eth:9:0",
            "vNIC:Synthetic:PortA:9:42",
            "vNIC:Synthetic:PortA:9:0",
            "eth:11:0"
        ]
    );
}

/// The if_name option of every interface description block.
fn idb_names(pcap: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut at = 0;
    while at + 12 <= pcap.len() {
        let t = u32::from_le_bytes(pcap[at..at + 4].try_into().unwrap());
        let len = u32::from_le_bytes(pcap[at + 4..at + 8].try_into().unwrap()) as usize;
        if t == 1 {
            let mut o = at + 16;
            while o + 4 <= at + len - 4 {
                let code = u16::from_le_bytes([pcap[o], pcap[o + 1]]);
                let l = u16::from_le_bytes([pcap[o + 2], pcap[o + 3]]) as usize;
                if code == 0 {
                    break;
                }
                if code == 2 {
                    names.push(String::from_utf8_lossy(&pcap[o + 4..o + 4 + l]).into_owned());
                }
                o += 4 + ((l + 3) & !3);
            }
        }
        at += len;
    }
    names
}

/// A TraceLogging (self-describing) event of a provider nobody ships a
/// schema for decodes generically from its own metadata: provider and
/// event names, every field by name, arrays, structs, out-types.
#[test]
fn tracelogging_events_decode_from_their_own_schema() {
    use etl::testutil::tracelogging_ext;
    use etl::tracelogging::in_type::*;
    let provider = etl::container::Guid::new(0x1234_5678, 0x9ABC, 0xDEF0, [1, 2, 3, 4, 5, 6, 7, 8]);
    let ext = tracelogging_ext(
        "Contoso-Net-Probe",
        "ProbeResult",
        &[
            ("Host", ANSI_STRING, None, None),
            ("Port", UINT16, Some(12), None),
            ("Addr", UINT32, Some(10), None),
            ("LatencyMs", DOUBLE, None, None),
            ("Ok", BOOL32, None, None),
            ("Samples", UINT32 | 0x40, None, None),
            ("Peer", STRUCT, Some(2), None),
            ("Name", UNICODE_STRING, None, None),
            ("Flags", UINT8, Some(3), None),
            ("Pair", INT16 | 0x20, None, Some(2)),
            ("Blob", BINARY, None, None),
        ],
    );
    let mut data = Vec::new();
    data.extend_from_slice(b"example.org\0");
    data.extend_from_slice(&443u16.to_be_bytes());
    data.extend_from_slice(&[93, 184, 216, 34]);
    data.extend_from_slice(&12.5f64.to_le_bytes());
    data.extend_from_slice(&1u32.to_le_bytes());
    data.extend_from_slice(&3u16.to_le_bytes());
    for s in [10u32, 20, 30] {
        data.extend_from_slice(&s.to_le_bytes());
    }
    for u in "gw".encode_utf16() {
        data.extend_from_slice(&u.to_le_bytes());
    }
    data.extend_from_slice(&[0, 0, 0x2A]);
    data.extend_from_slice(&(-1i16).to_le_bytes());
    data.extend_from_slice(&7i16.to_le_bytes());
    data.extend_from_slice(&2u16.to_le_bytes());
    data.extend_from_slice(&[0xBE, 0xEF]);
    let t0 = EtlWriter::default().start_raw;
    let mut w = EtlWriter::new(1);
    let ev = |ts: i64, payload: Vec<u8>| TestEvent {
        cpu: 0,
        raw_ts: t0 + ts,
        provider,
        id: 0,
        version: 0,
        keyword: 0,
        pid: 300,
        tid: 301,
        payload,
        ext: ext.clone(),
    };
    w.push(ev(1, data.clone()));
    // The same event cut short: decoded up to the break, with a note.
    w.push(ev(2, data[..20].to_vec()));
    let out = etl::decode_etl(&w.finish(), 0);
    assert_eq!(
        (out.counts.parsed, out.counts.unknown, out.counts.error),
        (2, 0, 0)
    );
    let e = &out.events[0];
    assert_eq!(e.provider.as_deref(), Some("Contoso-Net-Probe"));
    assert_eq!(e.symbol.as_deref(), Some("ProbeResult"));
    let f = |k: &str| e.field(k).map(str::to_string);
    assert_eq!(f("Host").as_deref(), Some("example.org"));
    assert_eq!(f("Port").as_deref(), Some("443"));
    assert_eq!(f("Addr").as_deref(), Some("93.184.216.34"));
    assert_eq!(f("LatencyMs").as_deref(), Some("12.5"));
    assert_eq!(f("Ok").as_deref(), Some("true"));
    assert_eq!(f("Samples").as_deref(), Some("[10, 20, 30]"));
    assert_eq!(f("Peer.Name").as_deref(), Some("gw"));
    assert_eq!(f("Peer.Flags").as_deref(), Some("0x2A"));
    assert_eq!(f("Pair").as_deref(), Some("[-1, 7]"));
    assert_eq!(f("Blob").as_deref(), Some("0xBEEF"));
    assert!(
        e.message
            .starts_with("ProbeResult: Host=example.org, Port=443"),
        "{}",
        e.message
    );
    let cut = &out.events[1];
    assert_eq!(cut.field("Addr"), Some("93.184.216.34"));
    assert_eq!(cut.field("LatencyMs"), None);
    assert!(
        out.diagnostics
            .iter()
            .any(|d| d.message.contains("LatencyMs")),
        "{:?}",
        out.diagnostics
    );
}
