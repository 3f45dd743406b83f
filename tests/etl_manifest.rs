//! Manifest events (TCPIP, Winsock-AFD) in a raw `.etl`: seed 002's events,
//! taken from their netsh-text form, are encoded as binary payloads by the
//! schema field types, written with the test ETL writer, decoded, and
//! compared with the netsh-text decoder's typed events; `etwnet timeline`
//! on the file gives the seed-002 connection.

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

mod common;
use common::read_csv;

use etwnet::decode::{Format, LineClass, decode_text};
use etwnet::etl::container::Guid;
use etwnet::etl::testutil::{EtlWriter, TestEvent};
use etwnet::etl::{self, manifest};
use etwnet::event::{Event, Kind};
use etwnet::schema::{Field, FieldType, registry, values};

fn guid_of(provider: &str) -> Guid {
    let p = registry().provider(provider).expect("provider");
    let h: String = p.guid.chars().filter(|c| *c != '-').collect();
    let n = |a: usize, b: usize| u64::from_str_radix(&h[a..b], 16).expect("hex");
    let mut d4 = [0u8; 8];
    for (k, b) in d4.iter_mut().enumerate() {
        *b = n(16 + 2 * k, 18 + 2 * k) as u8;
    }
    Guid::new(n(0, 8) as u32, n(8, 12) as u16, n(12, 16) as u16, d4)
}

fn sockaddr(v: &str) -> Vec<u8> {
    let Some(ep) = values::parse_address(v) else {
        return Vec::new();
    };
    let port = ep.port.unwrap_or(0).to_be_bytes();
    match ep.ip {
        Some(IpAddr::V4(a)) => {
            let mut b = vec![2, 0, port[0], port[1]];
            b.extend_from_slice(&a.octets());
            b.resize(16, 0);
            b
        }
        Some(IpAddr::V6(a)) => {
            let mut b = vec![23, 0, port[0], port[1], 0, 0, 0, 0];
            b.extend_from_slice(&a.octets());
            b.extend_from_slice(&[0; 4]);
            b
        }
        None => Vec::new(),
    }
}

fn int_size(f: &Field, ptr: usize) -> usize {
    match f.type_name.as_str() {
        "UInt8" | "Int8" => 1,
        "UInt16" | "Int16" => 2,
        "UInt64" | "Int64" => 8,
        "Pointer" => ptr,
        _ => 4,
    }
}

/// The payload of an event from its rendered fields (missing ones zero):
/// the inverse of what the decoder does, written from the netsh values.
fn encode(ev: &Event, ptr: usize) -> Vec<u8> {
    let reg = registry();
    let provider = ev.provider.as_deref().expect("provider");
    let pi = reg.provider_index(provider).expect("pi");
    let schema = reg
        .event(provider, ev.event_id.expect("id"), ev.version)
        .expect("schema");
    let get = |name: &str| ev.field(name);
    let blobs: Vec<Vec<u8>> = schema
        .fields
        .iter()
        .map(|f| match f.ty {
            FieldType::SocketAddress => get(&f.name).map(sockaddr).unwrap_or_default(),
            _ => Vec::new(),
        })
        .collect();
    let mut out = Vec::new();
    for (i, f) in schema.fields.iter().enumerate() {
        let v = get(&f.name);
        match f.ty {
            FieldType::SocketAddress => out.extend_from_slice(&blobs[i]),
            FieldType::Str => {
                for u in v.unwrap_or("").encode_utf16() {
                    out.extend_from_slice(&u.to_le_bytes());
                }
                out.extend_from_slice(&[0, 0]);
            }
            _ => {
                let blob_next = schema
                    .fields
                    .get(i + 1)
                    .is_some_and(|n| n.ty == FieldType::SocketAddress);
                let n: u64 = if blob_next {
                    // The length of the blob that follows.
                    blobs.get(i + 1).map_or(0, |b| b.len() as u64)
                } else {
                    match (f.ty, v) {
                        (_, None) => 0,
                        (FieldType::NtStatus, Some(v)) => {
                            let (code, name) = values::parse_status(v);
                            u64::from(
                                code.or_else(|| reg.ntstatus_code(name?))
                                    .expect("status code"),
                            )
                        }
                        (FieldType::Bool, Some(v)) => u64::from(v == "true"),
                        (_, Some(v)) => values::parse_num(v)
                            .or_else(|| reg.map_value(pi, f.map.as_deref()?, v))
                            .unwrap_or_else(|| panic!("{}: value {v:?}", f.name)),
                    }
                };
                out.extend_from_slice(&n.to_le_bytes()[..int_size(f, ptr)]);
            }
        }
    }
    out
}

/// `N(Name)` in the ETL rendering stands for `Name` or `N` in netsh's.
fn msg_eq(netsh: &str, etl: &str) -> bool {
    let (nb, eb) = (netsh.as_bytes(), etl.as_bytes());
    let (mut i, mut j) = (0, 0);
    while j < eb.len() {
        let at_word = j == 0 || !eb[j - 1].is_ascii_alphanumeric();
        let digits = eb[j..].iter().take_while(|b| b.is_ascii_digit()).count();
        if at_word && digits > 0 && eb.get(j + digits) == Some(&b'(') {
            let name_start = j + digits + 1;
            if let Some(close) = etl[name_start..].find(')') {
                let num = &etl[j..j + digits];
                let name = &etl[name_start..name_start + close];
                let rest_n = &netsh[i..];
                let rest_e = &etl[name_start + close + 1..];
                return (rest_n.starts_with(name) && msg_eq(&rest_n[name.len()..], rest_e))
                    || (rest_n.starts_with(num) && msg_eq(&rest_n[num.len()..], rest_e));
            }
        }
        if nb.get(i) != Some(&eb[j]) {
            return false;
        }
        i += 1;
        j += 1;
    }
    i == nb.len()
}

fn seed002_netsh() -> Vec<Event> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/seed002_netsh.txt"),
    )
    .expect("sample");
    let sink = decode_text(Format::NetshText, 0, 1, &text).expect("decoder");
    sink.events
        .into_iter()
        .filter(|e| e.event_id.is_some() && e.provider.is_some())
        .collect()
}

/// Seed 002 as a 32-bit `.etl`, one record per schema-matched netsh event.
fn seed002_etl(netsh: &[Event]) -> Vec<u8> {
    let mut w = EtlWriter::new(1);
    w.pointer_size = 4;
    w.buffer_size = 4096;
    for (i, e) in netsh.iter().enumerate() {
        w.push(TestEvent {
            cpu: 0,
            raw_ts: w.start_raw + 1000 + i as i64 * 10,
            provider: guid_of(e.provider.as_deref().unwrap()),
            id: e.event_id.unwrap() as u16,
            version: e.version.unwrap(),
            keyword: 0,
            pid: e.header_pid.unwrap_or(0),
            tid: e.tid.unwrap_or(0),
            payload: encode(e, 4),
            ext: Vec::new(),
        });
    }
    w.finish()
}

#[test]
fn seed002_binary_events_match_netsh_text() {
    let netsh = seed002_netsh();
    let ids: Vec<u32> = netsh.iter().filter_map(|e| e.event_id).collect();
    for want in [
        1000, 1030, 1037, 1024, 1003, 1004, 1001, 1051, 1017, 1074, 1073, 1044,
    ] {
        assert!(ids.contains(&want), "seed lacks event {want}");
    }
    let bytes = seed002_etl(&netsh);
    let out = etl::decode_etl(&bytes, 0);
    assert_eq!(out.counts.error, 0, "{:?}", out.diagnostics);
    assert_eq!(out.counts.unknown, 0, "{:?}", out.diagnostics);
    assert_eq!(out.records, out.counts.total());
    assert_eq!(out.events.len(), netsh.len());
    assert!(
        out.diagnostics.iter().all(|d| d.class != LineClass::Parsed),
        "partial decodes: {:?}",
        out.diagnostics
    );
    for (n, b) in netsh.iter().zip(&out.events) {
        let what = format!("netsh line {}: {}", n.source.line, n.message);
        assert_eq!(b.provider, n.provider, "{what}");
        assert_eq!((b.event_id, b.version), (n.event_id, n.version), "{what}");
        assert_eq!(b.kind, n.kind, "{what}");
        assert_eq!(b.layer, n.layer, "{what}");
        assert!(
            msg_eq(&n.message, &b.message),
            "{what}\n etl: {}",
            b.message
        );
        macro_rules! same_when_set {
            ($($slot:ident),*) => {$(
                if n.$slot.is_some() {
                    assert_eq!(b.$slot, n.$slot, "{} of {what}", stringify!($slot));
                }
            )*};
        }
        same_when_set!(
            tcb,
            endpoint,
            endpoint2,
            process_object,
            pid,
            local,
            remote,
            bytes,
            state_from,
            state_to,
            status,
            status_code,
            proto
        );
    }
    // Spot checks of the answer itself, independent of the netsh decoder.
    let find = |id: u32| {
        out.events
            .iter()
            .find(|e| e.event_id == Some(id))
            .unwrap_or_else(|| panic!("event {id}"))
    };
    let accept = find(1017);
    assert_eq!(accept.kind, Kind::TcpAcceptCompleted);
    assert_eq!(accept.pid, Some(2704));
    assert_eq!(accept.tcb, Some(0x8921_DD28));
    assert_eq!(accept.local.unwrap().to_string(), "192.168.1.212:13000");
    assert_eq!(accept.remote.unwrap().to_string(), "192.168.1.200:55908");
    assert_eq!(
        accept.message,
        "TCP: listener (local=192.168.1.212:13000 remote=192.168.1.200:55908) accept completed. TCB = 0x8921DD28. PID = 2704."
    );
    let shutdown = find(1044);
    assert_eq!(
        shutdown.status.as_deref(),
        Some("STATUS_CONNECTION_ABORTED")
    );
    assert_eq!(shutdown.status_code, Some(0xC000_0241));
    let first_state = find(1051);
    assert_eq!(
        (
            first_state.state_from.as_deref(),
            first_state.state_to.as_deref()
        ),
        (Some("Listen"), Some("SynRcvd"))
    );
    assert!(
        first_state
            .field("OldState")
            .unwrap()
            .ends_with("(ListenState)"),
        "{:?}",
        first_state.fields
    );
    let sent: u64 = out
        .events
        .iter()
        .filter(|e| e.kind == Kind::TcpDataSent)
        .filter_map(|e| e.bytes)
        .sum();
    assert_eq!(sent, 15, "1 SYN + 13 data + 1 FIN as TCPIP counts them");
    let socket = find(1000);
    assert_eq!(socket.pid, Some(2704));
    assert_eq!(socket.endpoint, Some(0x8A28_E2D8));
}

#[test]
fn timeline_of_seed002_etl_gives_the_connection() {
    let dir = std::env::temp_dir().join(format!("etwnet-etlman-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let input = dir.join("seed002.etl");
    std::fs::write(&input, seed002_etl(&seed002_netsh())).expect("write etl");
    let out_dir = dir.join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_etwnet"))
        .args(["timeline", "-q", "-o"])
        .arg(&out_dir)
        .arg(&input)
        .output()
        .expect("run etwnet");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conns = read_csv(&out_dir.join("connections.csv"));
    let c = conns
        .iter()
        .find(|c| c["remote_port"] == "55908")
        .unwrap_or_else(|| panic!("no accepted connection: {conns:#?}"));
    assert_eq!(c["proto"], "tcp");
    assert_eq!(
        (c["local_addr"].as_str(), c["local_port"].as_str()),
        ("192.168.1.212", "13000")
    );
    assert_eq!(c["remote_addr"], "192.168.1.200");
    assert_eq!(c["pid"], "2704");
    assert_eq!(
        c["states"],
        "Listen>SynRcvd>Established>CloseWait>LastAck>Closed"
    );
    assert_eq!(
        (c["bytes_received"].as_str(), c["bytes_sent"].as_str()),
        ("13", "13")
    );
    assert_eq!(c["close_reason"], "STATUS_CONNECTION_ABORTED");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_field_type_decodes_partially() {
    let reg = registry();
    let pi = reg
        .provider_index("Microsoft-Windows-TCPIP")
        .expect("tcpip");
    let base = reg
        .event("Microsoft-Windows-TCPIP", 1074, Some(0))
        .expect("1074");
    // A schema whose second field has a type this decoder does not know.
    let schema = etwnet::schema::EventSchema {
        provider: pi,
        id: 1074,
        version: 0,
        symbol: "Test".into(),
        level: String::new(),
        task: String::new(),
        opcode: String::new(),
        keywords: String::new(),
        fields: vec![
            base.fields[0].clone(),
            Field {
                name: "Mystery".into(),
                type_name: "win:Fancy".into(),
                ty: FieldType::Other,
                map: None,
            },
            base.fields[1].clone(),
        ],
        template: None,
        provenance: String::new(),
    };
    let mut data = 0x8921_DD28u64.to_le_bytes().to_vec();
    data.extend_from_slice(&[0xAB, 0xCD, 13, 0, 0, 0]);
    let p = manifest::decode_payload(pi, &schema, &data, 8);
    assert_eq!(p.values[0].as_deref(), Some("0x000000008921DD28"));
    assert_eq!(p.values[1], None);
    assert_eq!(p.values[2], None);
    assert_eq!(
        p.rest,
        Some((
            "Mystery[undecoded]".to_string(),
            "0xABCD0D000000".to_string()
        ))
    );
    assert!(p.note.unwrap().contains("win:Fancy"));
}

#[test]
fn blob_without_length_field_is_parsed_with_a_note() {
    // AFD 3 (IPv6 bind) has `Address:Binary` with no length field before it:
    // Process and Endpoint decode, the rest is kept as hex, nothing panics.
    let mut w = EtlWriter::new(1);
    w.pointer_size = 8;
    let mut payload = 0xFFFF_E189_0000_1000u64.to_le_bytes().to_vec();
    payload.extend_from_slice(&0xFFFF_E189_0000_2000u64.to_le_bytes());
    payload.extend_from_slice(&[0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    payload.extend_from_slice(&443u16.to_le_bytes());
    payload.extend_from_slice(&0u32.to_le_bytes());
    let afd = guid_of("Microsoft-Windows-Winsock-AFD");
    w.push(TestEvent {
        cpu: 0,
        raw_ts: w.start_raw + 100,
        provider: afd,
        id: 3,
        version: 0,
        keyword: 0,
        pid: 1,
        tid: 2,
        payload,
        ext: Vec::new(),
    });
    // And one truncated record of the same provider: the payload ends
    // inside a field.
    w.push(TestEvent {
        cpu: 0,
        raw_ts: w.start_raw + 200,
        provider: afd,
        id: 1037,
        version: 0,
        keyword: 0,
        pid: 1,
        tid: 2,
        payload: vec![0, 0, 0, 0, 1, 0],
        ext: Vec::new(),
    });
    let out = etl::decode_etl(&w.finish(), 0);
    assert_eq!(out.counts.parsed, 2, "{:?}", out.diagnostics);
    assert_eq!(out.counts.error + out.counts.unknown, 0);
    let notes: Vec<_> = out
        .diagnostics
        .iter()
        .filter(|d| d.class == LineClass::Parsed)
        .collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    let e = &out.events[0];
    assert_eq!(e.endpoint, Some(0xFFFF_E189_0000_2000));
    assert_eq!(e.process_object, Some(0xFFFF_E189_0000_1000));
    assert!(
        e.field("Address[undecoded]").unwrap().starts_with("0xFE80"),
        "{:?}",
        e.fields
    );
    let l = &out.events[1];
    assert_eq!(l.field("EnterExit"), Some("0"));
    assert_eq!(l.field("Location"), None);
    assert_eq!(l.field("Location[undecoded]"), Some("0x0100"));
    assert_eq!(l.kind, Kind::AfdListen);
}
