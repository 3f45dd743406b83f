//! A trace that mixes PktMon and TCPIP/AFD providers decodes to the same
//! typed events whichever of the two text decoders reads it.

use etwnet::decode::{Format, decode_text};
use etwnet::event::Kind;

fn sample(rel: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(rel);
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn netsh_and_pktmon_decoders_agree_on_a_mixed_trace() {
    let netsh = sample("seed002_netsh.txt");
    let pktmon = sample("pktmon/seed003_bmc_udp623_checksum_drop/pktmon.txt");
    let mut mixed = String::new();
    for l in netsh.lines().take(8) {
        mixed.push_str(l);
        mixed.push('\n');
    }
    for l in pktmon
        .lines()
        .filter(|l| !l.contains("[MSNT_SystemTrace]"))
        .take(40)
    {
        mixed.push_str(l);
        mixed.push('\n');
    }
    let lines = mixed.lines().count() as u64;
    let a = decode_text(Format::NetshText, 0, 1, &mixed).unwrap();
    let b = decode_text(Format::PktmonText, 0, 1, &mixed).unwrap();
    for s in [&a, &b] {
        assert_eq!(s.counts.total(), lines);
        assert_eq!(s.counts.unknown + s.counts.error, 0, "{:?}", s.diagnostics);
    }
    let kinds = |s: &etwnet::decode::Sink| {
        let mut k: Vec<(Kind, u64)> = s.events.iter().map(|e| (e.kind, e.source.line)).collect();
        k.sort_by_key(|x| x.1);
        k
    };
    assert_eq!(kinds(&a), kinds(&b));
    assert!(a.events.iter().any(|e| e.kind == Kind::AfdSocket));
    assert!(
        a.events
            .iter()
            .any(|e| e.kind == Kind::PacketDrop
                && e.drop.as_ref().and_then(|d| d.code) == Some(1203))
    );
}
