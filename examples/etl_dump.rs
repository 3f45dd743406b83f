//! Prints what the ETL reader finds in a file: `cargo run --example etl_dump FILE [N]`.
use std::collections::BTreeMap;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: etl_dump FILE [N]");
        return;
    };
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{path}: {e}");
            return;
        }
    };
    let t = std::time::Instant::now();
    let out = etwnet::etl::decode_etl(&bytes, 0);
    let dt = t.elapsed();
    println!("{:#?}", out.info);
    println!(
        "records {} counts {:?} events {} in {:?}",
        out.records,
        out.counts,
        out.events.len(),
        dt
    );
    let mut by_id: BTreeMap<(String, u32), usize> = BTreeMap::new();
    for e in &out.events {
        *by_id
            .entry((e.kind.as_str().to_string(), e.event_id.unwrap_or(0)))
            .or_default() += 1;
    }
    println!("{by_id:?}");
    for d in out
        .diagnostics
        .iter()
        .filter(|d| !d.message.contains("bbccf6c1"))
        .take(10)
    {
        println!("diag {:?}", d);
    }
    for e in out.events.iter().take(n) {
        println!(
            "{} [{}] {:?} {:?} {:?}->{:?} {}",
            e.ts.map(|t| t.to_string()).unwrap_or_default(),
            e.cpu.unwrap_or(0),
            e.event_id,
            e.proto,
            e.local.map(|x| x.to_string()),
            e.remote.map(|x| x.to_string()),
            e.message
        );
    }
}
