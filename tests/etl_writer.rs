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
    TestEvent {
        cpu,
        raw_ts,
        provider: pktmon::PROVIDER,
        id: if drop { 170 } else { 160 },
        version: 0,
        keyword: 0x10,
        pid: 4,
        tid: 100 + cpu,
        payload: pktmon_packet_payload(group, 1, 1, dir_tag, 1, 7, 1, reason, location, 60, &frame),
        ext: Vec::new(),
    }
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
            vec!["eth:7\t54\t54", "eth:12\t54\t20", "wifi:7\t24\t24"],
            "{text}"
        );
        let _ = std::fs::remove_file(&path);
    }
}
