//! Writes the seed corpora in `tests/fuzz/seeds/<target>/` from the
//! project's own samples (short excerpts) plus hand-made edge cases, ETL
//! files from the test writer and zip bundles. The seeds are checked in; run
//! this again after adding samples: `cargo run --release --example make_seeds` (in tests/fuzz).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use etwnet::etl::container::Guid;
use etwnet::etl::pktmon;
use etwnet::etl::eventmetadata;
use etwnet::etl::testutil::{
    EtlWriter, MapSpec, PropertySpec, TestEvent, event_info_payload, map_info_payload,
    pktmon_component_payload, pktmon_packet_payload, tcp_frame,
};
use etwnet::schema;

/// Seeds are kept small: libFuzzer mutates small inputs much faster.
const MAX_SEED: usize = 6 * 1024;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn out_dir(target: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("create seed dir");
    d
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::write(dir.join(name), bytes).expect("write seed");
}

/// The first lines of a sample, cut at a line end, at most `MAX_SEED` bytes.
fn head(bytes: &[u8], max: usize) -> Vec<u8> {
    if bytes.len() <= max {
        return bytes.to_vec();
    }
    let cut = bytes[..max]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(max, |i| i + 1);
    bytes[..cut].to_vec()
}

/// Excerpts of a sample: the head and up to two windows from its middle,
/// each starting at a line start.
fn excerpts(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![head(bytes, MAX_SEED)];
    if bytes.len() > 3 * MAX_SEED && !bytes.starts_with(&[0xFF, 0xFE]) {
        for at in [bytes.len() / 3, bytes.len() * 2 / 3] {
            let start = bytes[at..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(at, |i| at + i + 1);
            out.push(head(&bytes[start..], MAX_SEED / 2));
        }
    }
    out
}

fn sample(rel: &str) -> Vec<u8> {
    fs::read(root().join("samples").join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn sample_seeds(target: &str, rels: &[&str], extra: &[(&str, &[u8])]) -> Vec<Vec<u8>> {
    let dir = out_dir(target);
    let mut all = Vec::new();
    for rel in rels {
        let stem = rel.replace(['/', '.'], "_");
        for (i, e) in excerpts(&sample(rel)).into_iter().enumerate() {
            write(&dir, &format!("{stem}_{i}"), &e);
            all.push(e);
        }
    }
    for (name, bytes) in extra {
        write(&dir, name, bytes);
        all.push(bytes.to_vec());
    }
    all
}

fn etl_seeds() -> Vec<(String, Vec<u8>)> {
    let frame = tcp_frame([10, 0, 0, 1], 50_000, [10, 0, 0, 2], 443, 0x02, 7);
    let packet = |cpu: u32, ts: i64, group: u64, drop: bool| TestEvent {
        cpu,
        raw_ts: ts,
        provider: pktmon::PROVIDER,
        id: if drop { 170 } else { 160 },
        version: 0,
        keyword: 0x10,
        pid: 4,
        tid: 100,
        payload: pktmon_packet_payload(
            group,
            1,
            1,
            if drop { 2 } else { 1 },
            1,
            7,
            1,
            if drop { 1204 } else { 0 },
            if drop { 0xE000_4704 } else { 0 },
            60,
            &frame,
        ),
        ext: Vec::new(),
    };
    let component = TestEvent {
        cpu: 0,
        raw_ts: 118_544_129_100,
        provider: pktmon::PROVIDER,
        id: 20,
        version: 0,
        keyword: 0x10,
        pid: 4,
        tid: 100,
        payload: pktmon_component_payload(7, 1, "Intel NIC", "Ethernet"),
        ext: Vec::new(),
    };
    let other = TestEvent {
        cpu: 1,
        raw_ts: 118_544_129_300,
        provider: Guid::new(0x1234_5678, 1, 2, [3, 4, 5, 6, 7, 8, 9, 10]),
        id: 1,
        version: 0,
        keyword: 0,
        pid: 1234,
        tid: 5678,
        payload: b"x\0y\0".to_vec(),
        ext: vec![(0x0005, vec![1, 2, 3, 4, 5, 6, 7, 8])],
    };
    let mut out = Vec::new();
    for (name, compress, ptr, circular) in [
        ("plain", false, 8, 0),
        ("xpress", true, 8, 0),
        ("ptr32", false, 4, 0),
        ("circular", false, 8, 1),
    ] {
        let mut w = EtlWriter::new(2);
        w.buffer_size = 1024;
        w.compress = compress;
        w.pointer_size = ptr;
        w.circular_lost = circular;
        w.push(component.clone());
        for i in 0..6u32 {
            let ts = 118_544_129_200 + i64::from(i) * 1000;
            w.push(packet(i % 2, ts, u64::from(i / 2), i == 5));
        }
        w.push(other.clone());
        out.push((format!("etl_{name}"), w.finish()));
    }
    // EventMetadata describing `other` (a string, a counted struct array
    // and a mapped value), written after it as a merge does.
    let mut w = EtlWriter::new(2);
    w.buffer_size = 1024;
    let mut described = other.clone();
    described.payload = b"n\0\x02\x00\x0a\x00\x00\x01\x00\x50\x0a\x00\x00\x02\x1f\x90\x03\x00\x00\x00".to_vec();
    w.push(described);
    w.push_classic(
        0,
        118_544_130_000,
        eventmetadata::PROVIDER,
        eventmetadata::TYPE_EVENT_INFO,
        0,
        &event_info_payload(
            other.provider,
            1,
            0,
            "Seed-Provider",
            "Task",
            "%1: %2 endpoint(s) %3, flags %4",
            &[
                PropertySpec::scalar("Name", 2, 0),
                PropertySpec::scalar("Count", 6, 0),
                PropertySpec::structure("Endpoint", 4, 2).with_param_count(1),
                PropertySpec::scalar("Flags", 8, 0).with_map("Flags"),
                PropertySpec::scalar("Addr", 8, 23),
                PropertySpec::scalar("Port", 6, 22),
            ],
        ),
    );
    w.push_classic(
        1,
        118_544_130_001,
        eventmetadata::PROVIDER,
        eventmetadata::TYPE_MAP_INFO,
        0,
        &map_info_payload(
            other.provider,
            &MapSpec {
                name: "Flags",
                bitmap: true,
                entries: &[(1, "A"), (2, "B")],
            },
        ),
    );
    out.push(("etl_eventmetadata".to_string(), w.finish()));
    out
}

fn zip_of(entries: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    for (n, b) in entries {
        w.start_file(*n, opts).expect("zip entry");
        w.write_all(b).expect("zip write");
    }
    w.finish().expect("zip finish").into_inner()
}

/// Rendered messages for the template matcher: each template with simple
/// values, prefixed by the provider's index byte.
fn template_seeds() -> Vec<(String, Vec<u8>)> {
    let reg = schema::registry();
    let mut out = Vec::new();
    for (pi, p) in reg.providers.iter().enumerate() {
        let mut n = 0;
        for ev in reg.events.iter().filter(|e| e.provider == pi) {
            let Some(t) = &ev.template else { continue };
            if n >= 12 {
                break;
            }
            let msg = t.render(|i| match i % 4 {
                0 => "10.0.0.1:443".to_string(),
                1 => "0xFFFFA50C8E7C4010".to_string(),
                2 => "17".to_string(),
                _ => "SynSent".to_string(),
            });
            let mut b = vec![pi as u8];
            b.extend_from_slice(msg.as_bytes());
            out.push((format!("{}_{}_{}", p.name, ev.id, ev.version), b));
            n += 1;
        }
    }
    out
}

fn main() {
    let netsh_extra: &[(&str, &[u8])] = &[
        (
            "one_line",
            b"[0]0004.0008::2025/03/27-16:12:13.912345600 [Microsoft-Windows-TCPIP]TCP: connection 0xFFFFA50C8E7C4010 transition from ClosedState to SynSentState.\n",
        ),
        ("prefix_only", b"[1]00A4.01B0::03/27/2025-16:12:13.912 [P]\n\t\n"),
        ("bad_time", b"[0]0004.0008::2025/13/45-25:61:61.999999999999 [X]y\n"),
    ];
    let all_text = [
        sample_seeds(
            "netsh_text",
            &["seed002_netsh.txt"],
            netsh_extra,
        ),
        sample_seeds(
            "netmon_text",
            &["seed002_netmon_afd_tcpip.txt"],
            &[],
        ),
        sample_seeds(
            "etw_xml",
            &[
                "etw_xml/wevtutil_bare_events/events.xml",
                "etw_xml/netsh_xml_local_offset/trace.xml",
                "etw_xml/truncated_element/dumpfile.xml",
                "etw_xml/tracerpt_events_utf16le_bom/dumpfile.xml",
            ],
            &[(
                "nested",
                b"<Events><Event><System><Provider Name=\"P\"/><EventID>1</EventID><TimeCreated SystemTime=\"2025-03-27T16:12:13.9123456Z\"/></System><EventData><Data Name=\"a\"><b><c><d>x</d></c></b></Data></EventData></Event></Events>\n",
            )],
        ),
        sample_seeds(
            "tracerpt_csv",
            &[
                "tracerpt_csv/modern_tcpip_kernel_and_manifest/dumpfile.csv",
                "tracerpt_csv/seed001_exchange_udp_store/dumpfile.csv",
            ],
            &[("unbalanced_quote", b"Event Name, Type, Event ID\n\"TcpIp, Info, \"1\n")],
        ),
        sample_seeds(
            "pktmon_text",
            &[
                "pktmon/brief_tcp_handshake/pktmon.txt",
                "pktmon/timestamp_only_realtime/pktmon_realtime.txt",
                "pktmon/seed003_bmc_udp623_checksum_drop/pktmon.txt",
                "pktmon/translated_labels/pktmon.txt",
                "pktmon/seed003_utf16le_crlf/pktmon.txt",
                "pktmon/verbose3_tcp_handshake/pktmon.txt",
                "pktmon/numeric_drop_reason/pktmon_22631.txt",
                "pktmon/hex_arp/pktmon.txt",
                "pktmon/nblinfo_metadata_180/pktmon.txt",
            ],
            &[],
        ),
        sample_seeds(
            "tasklist",
            &[
                "tasklist/tasklist_svc_wrapped_services.txt",
                "tasklist/tasklist_m_modules.txt",
                "tasklist/tasklist_french_cp850_nbsp.txt",
                "tasklist/tasklist_fo_csv_nh.csv",
                "tasklist/tasklist_v_table_not_responding.txt",
                "tasklist/tasklist_v_fo_list_german.txt",
                "tracerpt_csv/seed001_exchange_udp_store/tasklist_svc.txt",
            ],
            &[],
        ),
        sample_seeds(
            "netstat",
            &[
                "netstat/netstat_an_russian_cp866.txt",
                "netstat/netstat_ano_ipv6_zone.txt",
                "netstat/netstat_anob_services.txt",
            ],
            &[],
        ),
    ]
    .concat();

    // pktmon list / counters / json: a selector byte, then the table.
    let dir = out_dir("pktmon_tables");
    for (sel, rel) in [
        (0u8, "pktmon/timestamp_only_realtime/pktmon_list.txt"),
        (0, "pktmon/seed003_bmc_udp623_checksum_drop/pktmon_list.txt"),
        (1, "pktmon/counters_table/pktmon_counters.txt"),
        (2, "pktmon/list_json/pktmon_list.json"),
        (2, "pktmon/counters_json/pktmon_counters.json"),
    ] {
        let mut b = vec![sel];
        b.extend_from_slice(&head(&sample(rel), MAX_SEED));
        write(&dir, &rel.replace(['/', '.'], "_"), &b);
    }

    let etl = etl_seeds();
    let dir = out_dir("etl");
    for (n, b) in &etl {
        write(&dir, n, b);
    }

    let dir = out_dir("zip_input");
    let netstat = head(&sample("netstat/netstat_ano_ipv6_zone.txt"), 1500);
    let tasklist = head(&sample("tasklist/tasklist_fo_csv_nh.csv"), 1500);
    let inner = zip_of(
        &[("netstat.txt", &netstat)],
        zip::CompressionMethod::Deflated,
    );
    write(
        &dir,
        "bundle_deflated",
        &zip_of(
            &[("logs/netstat.txt", &netstat), ("tasklist.csv", &tasklist)],
            zip::CompressionMethod::Deflated,
        ),
    );
    write(
        &dir,
        "bundle_stored",
        &zip_of(&[("netstat.txt", &netstat)], zip::CompressionMethod::Stored),
    );
    write(
        &dir,
        "nested",
        &zip_of(&[("inner.zip", &inner)], zip::CompressionMethod::Stored),
    );
    write(
        &dir,
        "dotdot_absolute",
        &zip_of(
            &[
                ("../evil.txt", b"x"),
                ("/etc/abs.txt", b"y"),
                ("C:/w.txt", b"z"),
            ],
            zip::CompressionMethod::Deflated,
        ),
    );
    if let Some((_, e)) = etl.first() {
        write(
            &dir,
            "etl_in_zip",
            &zip_of(&[("trace.etl", e)], zip::CompressionMethod::Deflated),
        );
    }

    let dir = out_dir("template_match");
    for (n, b) in template_seeds() {
        write(&dir, &n.replace(['/', ' '], "_"), &b);
    }

    let dir = out_dir("encoding");
    for rel in [
        "netstat/netstat_an_russian_cp866.txt",
        "tasklist/tasklist_french_cp850_nbsp.txt",
        "pktmon/seed003_utf16le_crlf/pktmon.txt",
        "etw_xml/tracerpt_events_utf16le_bom/dumpfile.xml",
        "tasklist/tasklist_v_fo_list_german.txt",
    ] {
        write(
            &dir,
            &rel.replace(['/', '.'], "_"),
            &head(&sample(rel), 2048),
        );
    }
    write(&dir, "odd_utf16", &[0xFF, 0xFE, b'a', 0, b'b']);
    write(
        &dir,
        "utf8_bom",
        "\u{feff}Proto  Local Address\n".as_bytes(),
    );

    // The whole pipeline: every text seed and the ETL files.
    let dir = out_dir("whole_pipeline");
    for (i, b) in all_text.iter().enumerate() {
        write(&dir, &format!("text_{i:03}"), b);
    }
    for (n, b) in &etl {
        write(&dir, n, b);
    }
}
