//! EventMetadata in a raw `.etl`: a merged trace carries TRACE_EVENT_INFO
//! and EVENT_MAP_INFO records (classic records of class
//! {bbccf6c1-6cd1-48c4-80ff-839482e37671}) for its own events, so events of
//! providers (or versions) that `schemas/` does not cover decode by the
//! file's own schema: fields by name and type, value maps, structs and
//! counted arrays, and the message rendered through its template. The
//! metadata is written at the END of the file, after the events it
//! describes, as a merge appends it.

use etwnet::decode::LineClass;
use etwnet::etl::container::Guid;
use etwnet::etl::eventmetadata::{PROVIDER, TYPE_EVENT_INFO, TYPE_MAP_INFO};
use etwnet::etl::testutil::{
    EtlWriter, MapSpec, PropertySpec, TestEvent, event_info_payload, map_info_payload,
};
use etwnet::etl::{self};
use etwnet::event::Kind;

const DNS: Guid = Guid::new(
    0x1c95_126e,
    0x7eea,
    0x49a9,
    [0xa3, 0xfe, 0xa3, 0x78, 0xb0, 0x3d, 0xdb, 0x4d],
);
const TCPIP: Guid = Guid::new(
    0x2f07_e2ee,
    0x15db,
    0x40f1,
    [0x90, 0xef, 0x9d, 0x7b, 0xa2, 0x82, 0x18, 0x8a],
);
const DEMO: Guid = Guid::new(0x1234_5678, 1, 2, [3, 4, 5, 6, 7, 8, 9, 10]);

// TDH in-types and out-types used below.
const UNICODE_STRING: u16 = 1;
const UINT8: u16 = 4;
const UINT16: u16 = 6;
const UINT32: u16 = 8;
const UINT64: u16 = 10;
const BINARY: u16 = 14;
const POINTER: u16 = 16;
const OUT_PORT: u16 = 22;
const OUT_IPV4: u16 = 23;
const OUT_SOCKET_ADDRESS: u16 = 25;
const OUT_NTSTATUS: u16 = 31;

fn event(
    w: &EtlWriter,
    cpu: u32,
    dt: i64,
    provider: Guid,
    id: u16,
    version: u8,
    payload: Vec<u8>,
) -> TestEvent {
    TestEvent {
        cpu,
        raw_ts: w.start_raw + dt,
        provider,
        id,
        version,
        keyword: 0,
        pid: 4242,
        tid: 7,
        payload,
        ext: Vec::new(),
    }
}

fn wide(s: &str) -> Vec<u8> {
    let mut b: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
    b.extend_from_slice(&[0, 0]);
    b
}

fn sockaddr_v4(ip: [u8; 4], port: u16) -> Vec<u8> {
    let mut b = vec![2, 0];
    b.extend_from_slice(&port.to_be_bytes());
    b.extend_from_slice(&ip);
    b.resize(16, 0);
    b
}

/// The trace: DNS-Client 1001 (not in schemas/), TCPIP 1033 v2 (a version
/// schemas/ lacks), TCPIP 1051 v0 (in schemas/), a demo event with a struct
/// array, an event of a provider nobody describes, then the metadata, one
/// record of it broken.
fn merged_trace() -> Vec<u8> {
    let mut w = EtlWriter::new(2);
    w.buffer_size = 4096;
    // DNS-Client 1001 v0: Interface, TotalServerCount, Index, DynamicAddress
    // (mapped), AddressLength, Address (SOCKADDR sized by AddressLength).
    let mut dns = wide("Ethernet0");
    dns.extend_from_slice(&2u32.to_le_bytes());
    dns.extend_from_slice(&0u32.to_le_bytes());
    dns.push(1);
    dns.extend_from_slice(&16u32.to_le_bytes());
    dns.extend_from_slice(&sockaddr_v4([10, 0, 0, 53], 53));
    w.push(event(&w, 0, 10, DNS, 1001, 0, dns));

    // TCPIP 1033 v2: the v1 layout plus a field schemas/ does not know.
    let mut tcp = 16u32.to_le_bytes().to_vec();
    tcp.extend_from_slice(&sockaddr_v4([192, 168, 1, 10], 50000));
    tcp.extend_from_slice(&16u32.to_le_bytes());
    tcp.extend_from_slice(&sockaddr_v4([93, 184, 216, 34], 443));
    tcp.extend_from_slice(&0u32.to_le_bytes()); // Status
    tcp.extend_from_slice(&4242u32.to_le_bytes()); // ProcessId
    tcp.extend_from_slice(&1u32.to_le_bytes()); // Compartment
    tcp.extend_from_slice(&0xFFFF_E001_0000_1000u64.to_le_bytes()); // Tcb
    tcp.extend_from_slice(&77u64.to_le_bytes()); // ProcessStartKey
    tcp.extend_from_slice(&9u32.to_le_bytes()); // NewField
    w.push(event(&w, 1, 20, TCPIP, 1033, 2, tcp));

    // TCPIP 1051 v0: decoded by schemas/, whatever the file's metadata says.
    let mut sc = 4u32.to_le_bytes().to_vec(); // SynSent
    sc.extend_from_slice(&5u32.to_le_bytes()); // Established
    sc.extend_from_slice(&1000u32.to_le_bytes());
    sc.extend_from_slice(&0xFFFF_E001_0000_1000u64.to_le_bytes());
    w.push(event(&w, 0, 30, TCPIP, 1051, 0, sc));

    // Demo 7: Count, then Count × {Addr (IPv4), Port}, then Flags (bit map).
    let mut demo = 2u16.to_le_bytes().to_vec();
    for (ip, port) in [([10, 1, 1, 1], 80u16), ([10, 2, 2, 2], 8080)] {
        demo.extend_from_slice(&ip);
        demo.extend_from_slice(&port.to_be_bytes());
    }
    demo.extend_from_slice(&5u32.to_le_bytes());
    w.push(event(&w, 1, 40, DEMO, 7, 0, demo));

    // Described by nobody.
    let nobody = Guid::new(0xdead_beef, 1, 1, [1; 8]);
    w.push(event(&w, 0, 50, nobody, 1, 0, vec![1, 2, 3]));

    // The metadata, after every event (as a merge appends it).
    let end = 1000;
    w.push_classic(
        0,
        w.start_raw + end,
        PROVIDER,
        TYPE_EVENT_INFO,
        0,
        &event_info_payload(
            DNS,
            1001,
            0,
            "Microsoft-Windows-DNS-Client",
            "DnsServerForInterface",
            "Interface: %1 Total DNS Server Count: %2 Index: %3 Address: %6 (%4)",
            &[
                PropertySpec::scalar("Interface", UNICODE_STRING, 0),
                PropertySpec::scalar("TotalServerCount", UINT32, 0),
                PropertySpec::scalar("Index", UINT32, 0),
                PropertySpec::scalar("DynamicAddress", UINT8, 0).with_map("AddrKind"),
                PropertySpec::scalar("AddressLength", UINT32, 0),
                PropertySpec::scalar("Address", BINARY, OUT_SOCKET_ADDRESS).with_param_length(4),
            ],
        ),
    );
    w.push_classic(
        0,
        w.start_raw + end + 1,
        PROVIDER,
        TYPE_MAP_INFO,
        0,
        &map_info_payload(
            DNS,
            &MapSpec {
                name: "AddrKind",
                bitmap: false,
                entries: &[(0, "Static"), (1, "Dynamic")],
            },
        ),
    );
    w.push_classic(
        1,
        w.start_raw + end + 2,
        PROVIDER,
        TYPE_EVENT_INFO,
        0,
        &event_info_payload(
            TCPIP,
            1033,
            2,
            "Microsoft-Windows-TCPIP",
            "TcpConnectTcbComplete",
            "TCP: connection %8 (local=%2 remote=%4) connect completed. PID = %6 ProcessSeqNum = %9 New = %10.",
            &[
                PropertySpec::scalar("LocalAddressLength", UINT32, 0),
                PropertySpec::scalar("LocalAddress", BINARY, OUT_SOCKET_ADDRESS).with_param_length(0),
                PropertySpec::scalar("RemoteAddressLength", UINT32, 0),
                PropertySpec::scalar("RemoteAddress", BINARY, OUT_SOCKET_ADDRESS).with_param_length(2),
                PropertySpec::scalar("Status", UINT32, OUT_NTSTATUS),
                PropertySpec::scalar("ProcessId", UINT32, 0),
                PropertySpec::scalar("Compartment", UINT32, 0),
                PropertySpec::scalar("Tcb", POINTER, 0),
                PropertySpec::scalar("ProcessStartKey", UINT64, 0),
                PropertySpec::scalar("NewField", UINT32, 0),
            ],
        ),
    );
    w.push_classic(
        1,
        w.start_raw + end + 3,
        PROVIDER,
        TYPE_EVENT_INFO,
        0,
        &event_info_payload(
            TCPIP,
            1051,
            0,
            "Microsoft-Windows-TCPIP",
            "TcpTcbStateChange",
            "WRONG %1",
            &[PropertySpec::scalar("OldState", UINT32, 0)],
        ),
    );
    w.push_classic(
        0,
        w.start_raw + end + 4,
        PROVIDER,
        TYPE_EVENT_INFO,
        0,
        &event_info_payload(
            DEMO,
            7,
            0,
            "Demo-Provider",
            "Endpoints",
            "%1 endpoint(s): %2; flags %3",
            // Top-level properties first, struct members after them (TDH).
            &[
                PropertySpec::scalar("Count", UINT16, 0),
                PropertySpec::structure("Endpoint", 3, 2).with_param_count(0),
                PropertySpec::scalar("Flags", UINT32, 0).with_map("DemoFlags"),
                PropertySpec::scalar("Addr", UINT32, OUT_IPV4),
                PropertySpec::scalar("Port", UINT16, OUT_PORT),
            ],
        ),
    );
    w.push_classic(
        0,
        w.start_raw + end + 5,
        PROVIDER,
        TYPE_MAP_INFO,
        0,
        &map_info_payload(
            DEMO,
            &MapSpec {
                name: "DemoFlags",
                bitmap: true,
                entries: &[(1, "Bound"), (2, "Listening"), (4, "Shared")],
            },
        ),
    );
    // A broken one: announces more properties than it holds.
    let mut broken = event_info_payload(DEMO, 8, 0, "Demo-Provider", "X", "%1", &[]);
    broken[0x64..0x68].copy_from_slice(&1000u32.to_le_bytes());
    w.push_classic(
        1,
        w.start_raw + end + 6,
        PROVIDER,
        TYPE_EVENT_INFO,
        0,
        &broken,
    );
    w.finish()
}

#[test]
fn events_decode_by_the_metadata_the_file_carries_even_when_it_comes_last() {
    let out = etl::decode_etl(&merged_trace(), 0);
    // 1 header + 5 events + 7 metadata records.
    assert_eq!(out.records, 13, "{:?}", out.diagnostics);
    assert_eq!(out.counts.parsed, 4, "{:?}", out.diagnostics);
    assert_eq!(
        out.counts.unknown, 1,
        "the undescribed provider stays unknown"
    );
    assert_eq!(out.counts.error, 1, "the broken metadata record");
    assert_eq!(out.counts.skipped, 7, "header + 6 good metadata records");
    let broken = out
        .diagnostics
        .iter()
        .find(|d| d.class == LineClass::Error)
        .expect("error named");
    assert!(
        broken.message.contains("announces 1000 properties"),
        "{}",
        broken.message
    );

    let dns = out
        .events
        .iter()
        .find(|e| e.event_id == Some(1001))
        .expect("dns");
    assert_eq!(
        dns.provider.as_deref(),
        Some("Microsoft-Windows-DNS-Client")
    );
    assert_eq!(dns.symbol.as_deref(), Some("DnsServerForInterface"));
    assert_eq!(
        dns.message,
        "Interface: Ethernet0 Total DNS Server Count: 2 Index: 0 Address: 10.0.0.53:53 (1(Dynamic))"
    );
    assert_eq!(dns.field("Address"), Some("10.0.0.53:53"));

    // A TCPIP version schemas/ lacks: the file's layout, and the typed
    // slots filled as for any TCPIP event.
    let tcp = out
        .events
        .iter()
        .find(|e| e.event_id == Some(1033))
        .expect("1033");
    assert_eq!(tcp.field("NewField"), Some("9"));
    assert_eq!(tcp.field("ProcessStartKey"), Some("77"));
    assert!(
        tcp.message.ends_with("ProcessSeqNum = 77 New = 9."),
        "{}",
        tcp.message
    );
    assert_eq!(tcp.tcb, Some(0xFFFF_E001_0000_1000));
    assert_eq!(tcp.pid, Some(4242));
    assert_eq!(
        tcp.remote.map(|r| r.to_string()).as_deref(),
        Some("93.184.216.34:443")
    );

    // schemas/ wins where it has the exact event.
    let sc = out
        .events
        .iter()
        .find(|e| e.event_id == Some(1051))
        .expect("1051");
    assert!(
        sc.message
            .starts_with("TCP: connection 0xFFFFE00100001000 transition from"),
        "{}",
        sc.message
    );
    assert_eq!(sc.kind, Kind::TcpStateChange);

    // Struct arrays sized by an earlier property, bit maps.
    let demo = out
        .events
        .iter()
        .find(|e| e.event_id == Some(7))
        .expect("demo");
    assert_eq!(demo.provider.as_deref(), Some("Demo-Provider"));
    assert_eq!(demo.field("Endpoint[1].Addr"), Some("10.2.2.2"));
    assert_eq!(demo.field("Endpoint[1].Port"), Some("8080"));
    assert_eq!(demo.field("Flags"), Some("5(Bound|Shared)"));
    assert_eq!(
        demo.message,
        "2 endpoint(s): Endpoint[0].Addr=10.1.1.1, Endpoint[0].Port=80, Endpoint[1].Addr=10.2.2.2, Endpoint[1].Port=8080; flags 5(Bound|Shared)"
    );
}

#[test]
fn a_short_payload_keeps_what_was_read_and_says_where_it_stopped() {
    let mut w = EtlWriter::default();
    let mut demo = 3u16.to_le_bytes().to_vec();
    demo.extend_from_slice(&[10, 1, 1, 1, 0, 80]); // one of three endpoints
    w.push(event(&w, 0, 10, DEMO, 7, 0, demo));
    w.push_classic(
        0,
        w.start_raw + 20,
        PROVIDER,
        TYPE_EVENT_INFO,
        0,
        &event_info_payload(
            DEMO,
            7,
            0,
            "Demo-Provider",
            "Endpoints",
            "%1 endpoint(s)",
            &[
                PropertySpec::scalar("Count", UINT16, 0),
                PropertySpec::structure("Endpoint", 2, 2).with_param_count(0),
                PropertySpec::scalar("Addr", UINT32, OUT_IPV4),
                PropertySpec::scalar("Port", UINT16, OUT_PORT),
            ],
        ),
    );
    let out = etl::decode_etl(&w.finish(), 0);
    assert_eq!(out.counts.parsed, 1);
    let e = &out.events[0];
    assert_eq!(e.field("Endpoint[0].Port"), Some("80"));
    assert_eq!(e.field("Endpoint[1].Addr"), None);
    let note = out
        .diagnostics
        .iter()
        .find(|d| d.class == LineClass::Parsed)
        .expect("note");
    assert!(
        note.message.contains("Endpoint[1].Addr"),
        "{}",
        note.message
    );
}
