//! Decode throughput: `cargo run --release --example etl_bench MIB SNAP [FILE...]`.
//! Generates a PktMon ETL of about MIB mebibytes (4 CPUs, SNAP-byte packet
//! snapshots — pktmon's default is 128, `--pkt-size 0` logs whole frames —
//! plain 1 MiB buffers) and times the streaming decode on it and on each
//! FILE, with every text rendered and lean.
//! `ETL_BENCH_SAVE=PATH` also writes the generated file there (with
//! `ETL_BENCH_SAVE_ONLY=1`: write it and stop).
use std::time::Instant;

use etwnet::etl::testutil::{EtlWriter, TestEvent, pktmon_packet_payload, tcp_frame};
use etwnet::etl::{self, pktmon};

/// CPU time used by this process so far (all threads), from /proc: the
/// machine is shared, so wall time alone overstates the cost.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name: utime is the 12th, stime the 13th.
    let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// Times the streaming decode the CLI runs, each window's events dropped
/// as they come (`detect`): with every text rendered (what `events` and
/// `timeline` with events.csv decode) and lean (`detect`, `--no-events`,
/// `drops`: `EtlOptions::lean_packets`).
fn time(name: &str, bytes: &[u8], runs: u32) {
    for lean_packets in [false, true] {
        let mut best = f64::MAX;
        let mut best_cpu = f64::MAX;
        let mut events = 0;
        for _ in 0..runs {
            let c = cpu_seconds();
            let t = Instant::now();
            events = 0;
            let opts = etl::EtlOptions {
                keep_frames: false,
                lean_packets,
            };
            let out = etl::decode_etl_stream(
                etl::EtlSource::Memory(bytes),
                0,
                opts,
                etl::StreamLimits::default(),
                &mut |batch| events += batch.events.len(),
            );
            best = best.min(t.elapsed().as_secs_f64());
            best_cpu = best_cpu.min(cpu_seconds() - c);
            assert_eq!(out.counts.error, 0);
        }
        let mib = bytes.len() as f64 / (1024.0 * 1024.0);
        let mode = if lean_packets { "lean" } else { "full text" };
        println!(
            "{name} ({mode}): {mib:.1} MiB, {events} events, best of {runs}: wall {best:.4} s = {:.0} MiB/s ({:.2} M events/s); CPU {best_cpu:.2} s = {:.0} MiB per CPU-second",
            mib / best,
            events as f64 / best / 1e6,
            mib / best_cpu.max(0.01)
        );
    }
}

/// The container alone: every buffer header walked and every buffer's
/// payload decompressed (one thread), no event decoded — the floor under
/// `decode_etl` for compressed files.
fn time_container(name: &str, bytes: &[u8], runs: u32) {
    let mut best = f64::MAX;
    let mut out_bytes = 0usize;
    for _ in 0..runs {
        let t = Instant::now();
        out_bytes = 0;
        let mut offset = 0usize;
        while let Ok(b) = etl::container::read_buffer_header(bytes, offset) {
            offset += b.size;
            if let Ok(p) = etl::container::buffer_payload(bytes, &b) {
                out_bytes += p.len();
            }
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    let mib = bytes.len() as f64 / (1024.0 * 1024.0);
    println!(
        "{name}: container only (headers + decompression, one thread), best of {runs}: {best:.4} s = {:.0} MiB/s of file, {:.0} MiB/s of the {:.1} MiB of buffer payloads",
        mib / best,
        out_bytes as f64 / (1024.0 * 1024.0) / best,
        out_bytes as f64 / (1024.0 * 1024.0)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mib: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let snap: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(128);
    for f in args.iter().skip(3) {
        let bytes = std::fs::read(f).expect("read");
        time_container(f, &bytes, 20);
        time(f, &bytes, 5);
    }
    if mib == 0 {
        return;
    }
    let mut w = EtlWriter::new(4);
    w.buffer_size = 1024 * 1024;
    let mut payload_frame = tcp_frame([10, 1, 2, 3], 50_000, [10, 3, 2, 1], 443, 0x18, 1);
    payload_frame.resize(snap, 0x5A);
    let target = mib * 1024 * 1024;
    let per_event = (0x50 + 34 + snap + 7) & !7;
    let n = target / per_event;
    for i in 0..n as u64 {
        let cpu = (i % 4) as u32;
        payload_frame[38..42].copy_from_slice(&(i as u32).to_be_bytes());
        w.push(TestEvent {
            cpu,
            raw_ts: w.start_raw + 10 * i as i64,
            provider: pktmon::PROVIDER,
            id: if i % 50 == 0 { 170 } else { 160 },
            version: 0,
            keyword: 0x10,
            pid: 4,
            tid: 8 + cpu,
            payload: pktmon_packet_payload(
                i / 8,
                1,
                (i % 8) as u16,
                3 + (i % 2) as u16,
                1,
                (i % 30) as u16,
                1,
                0,
                0,
                1514,
                &payload_frame,
            ),
            ext: Vec::new(),
        });
    }
    let t = Instant::now();
    let bytes = w.finish();
    println!(
        "generated {} bytes in {:.1} s",
        bytes.len(),
        t.elapsed().as_secs_f64()
    );
    drop(w);
    if let Ok(path) = std::env::var("ETL_BENCH_SAVE") {
        std::fs::write(&path, &bytes).expect("save");
        // Generating the CLI benchmark inputs only (the decode is timed
        // through the CLI then).
        if std::env::var_os("ETL_BENCH_SAVE_ONLY").is_some() {
            return;
        }
    }
    time(&format!("generated, {snap}-byte snapshots"), &bytes, 2);
}
