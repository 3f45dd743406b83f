//! `cargo run --example etl_pcap IN.etl OUT.pcapng [--drops-only]`: the pcap export without the CLI.
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(output)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: etl_pcap IN.etl OUT.pcapng [--drops-only]");
    };
    let bytes = std::fs::read(input)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(output)?);
    let drops = args.iter().any(|a| a == "--drops-only");
    let s = etwnet::pcapng::run_pcap(&bytes, &mut out, drops, None)?;
    println!("{s:?}");
    Ok(())
}
