//! Decodes a file with a named format and prints events and line counts
//! (a development aid: `cargo run --example dump_decode -- netmon-text FILE`).
use etwnet::decode::{Format, decode_text};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(fmt), Some(path)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: dump_decode FORMAT FILE");
        return;
    };
    let Some(format) = Format::from_name(fmt) else {
        eprintln!("unknown format {fmt}");
        return;
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            return;
        }
    };
    let Some(sink) = decode_text(format, 0, 1, &text) else {
        eprintln!("no decoder for {fmt}");
        return;
    };
    for e in &sink.events {
        println!(
            "{:>4} {:<26} id={:?} v={:?} tcb={:?} ep={:?} ep2={:?} proc={:?} pid={:?} l={:?} r={:?} bytes={:?} st={:?}->{:?} status={:?}/{:?} pkt={:?}",
            e.source.line,
            e.kind.as_str(),
            e.event_id,
            e.version,
            e.tcb.map(|v| format!("{v:#x}")),
            e.endpoint.map(|v| format!("{v:#x}")),
            e.endpoint2.map(|v| format!("{v:#x}")),
            e.process_object.map(|v| format!("{v:#x}")),
            e.pid,
            e.local.map(|v| v.to_string()),
            e.remote.map(|v| v.to_string()),
            e.bytes,
            e.state_from,
            e.state_to,
            e.status,
            e.status_code,
            e.packet.as_ref().map(|p| (
                p.tcp_flags.clone(),
                p.seq,
                p.ack,
                p.payload_len,
                p.bad_checksum
            )),
        );
    }
    println!("{:?}", sink.counts);
    for d in &sink.diagnostics {
        println!("diag {}: {}", d.source.line, d.message);
    }
}
