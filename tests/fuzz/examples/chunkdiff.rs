//! Prints the events of a whole decode and of a chunked decode side by side
//! (source line, kind, message) for a fuzz input that breaks the chunking
//! property: `cargo run --example chunkdiff -- FORMAT FILE [TARGET_BYTES]`.
use etwnet::decode::{self, Format};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(fmt), Some(file)) = (args.first(), args.get(1)) else {
        eprintln!("usage: chunkdiff FORMAT FILE [TARGET_BYTES]");
        std::process::exit(2);
    };
    let target = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
    let format = Format::from_name(fmt).expect("format name");
    let data = std::fs::read(file).expect("read input");
    let text = etwnet::input::encoding::decode(&data, None).text;
    let whole = decode::decode_lines(format, 0, 1, &text, 1024);
    let mut chunked = Vec::new();
    for (first, chunk) in etwnet::pipeline::split_chunks(&text, format, target) {
        chunked.extend(decode::decode_lines(format, 0, first, chunk, 1024).events);
    }
    decode::finish_file(format, &mut chunked);
    let show = |e: &etwnet::event::Event| {
        format!(
            "{} {:?} {:?}",
            e.source.line,
            e.kind,
            e.message.chars().take(80).collect::<String>()
        )
    };
    let n = whole.events.len().max(chunked.len());
    for i in 0..n {
        let a = whole.events.get(i).map(show).unwrap_or_default();
        let b = chunked.get(i).map(show).unwrap_or_default();
        let mark = if whole.events.get(i) == chunked.get(i) {
            "  "
        } else {
            "!!"
        };
        println!("{mark} whole: {a}\n   chunk: {b}");
    }
}
