//! Replays inputs (crash files) through a fuzz target, or explains a
//! chunking difference: `cargo run --example replay -- TARGET FILE...`.
//! With TARGET a text format name (`pktmon-text`, `netsh-text`, …) it prints
//! how the text is cut into chunks and each chunk's accounting.

use etwnet::decode::{self, Format};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((target, files)) = args.split_first() else {
        eprintln!("usage: replay TARGET FILE...");
        std::process::exit(2);
    };
    for f in files {
        let data = std::fs::read(f).expect("read input");
        if let Some(format) = Format::from_name(target) {
            let text = etwnet::input::encoding::decode(&data, None).text;
            let whole = decode::decode_lines(format, 0, 1, &text, 1024);
            println!("whole: {:?}", whole.counts);
            for d in &whole.diagnostics {
                println!("  {}: {:?} {}", d.source.line, d.class, d.message);
            }
            for (first, chunk) in etwnet::pipeline::split_chunks(&text, format, 64) {
                let s = decode::decode_lines(format, 0, first, chunk, 1024);
                println!(
                    "chunk at line {first}: {:?} {} events",
                    s.counts,
                    s.events.len()
                );
                for d in &s.diagnostics {
                    println!("  {}: {:?} {}", d.source.line, d.class, d.message);
                }
                println!("  first line: {:?}", chunk.lines().next());
            }
        } else if let Some((_, body)) = etwnet_fuzz::targets::TARGETS
            .iter()
            .find(|(n, _)| n == target)
        {
            body(&data);
            println!("{f}: ok");
        } else {
            eprintln!("unknown target {target}");
            std::process::exit(2);
        }
    }
}
