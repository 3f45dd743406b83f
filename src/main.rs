//! The `etwnet` binary: parse arguments, call the library, set the exit code.
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::Parser;

use etwnet::cli::{Cli, Command, EventsFormat, InputConfig};
use etwnet::output;
use etwnet::pipeline::{self, Decoded};

/// Exit status for usage errors and unwritable outputs.
const EXIT_USAGE: u8 = 2;
/// Exit status when `--strict` and some input had errors.
const EXIT_INPUT_ERRORS: u8 = 1;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`etwnet events … | head`) is not an error.
            if e.downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("etwnet: error: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn decode(cfg: &InputConfig) -> anyhow::Result<Decoded> {
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(n) = cfg.threads {
        pool = pool.num_threads(n);
    }
    let pool = pool.build()?;
    Ok(pool.install(|| pipeline::run(&cfg.inputs, &cfg.run)))
}

fn finish(cfg: &InputConfig, decoded: &Decoded) -> anyhow::Result<ExitCode> {
    if !cfg.quiet {
        output::write_summary(io::stderr().lock(), decoded)?;
    }
    let had_errors =
        decoded.files.iter().any(|f| f.has_errors()) || decoded.problems.iter().any(|p| p.skipped);
    Ok(if cfg.strict && had_errors {
        ExitCode::from(EXIT_INPUT_ERRORS)
    } else {
        ExitCode::SUCCESS
    })
}

fn open_output(path: Option<&std::path::Path>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match path {
        None => Box::new(BufWriter::new(io::stdout().lock())),
        Some(p) => {
            let f = File::create(p)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", p.display()))?;
            Box::new(BufWriter::new(f))
        }
    })
}

fn usage(msg: String) -> anyhow::Error {
    anyhow::anyhow!(msg)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Detect { input, verbose } => {
            let cfg = input.config().map_err(usage)?;
            let decoded = decode(&cfg)?;
            let mut out = io::stdout().lock();
            output::write_detect_table(&mut out, &decoded)?;
            if verbose {
                for f in &decoded.files {
                    for d in &f.diagnostics {
                        writeln!(out, "{}: {}", decoded.location(d.source), d.message)?;
                    }
                }
            }
            out.flush()?;
            finish(&cfg, &decoded)
        }
        Command::Events {
            input,
            format,
            output,
        } => {
            let cfg = input.config().map_err(usage)?;
            let mut out = open_output(output.as_deref())?;
            let decoded = decode(&cfg)?;
            match format {
                EventsFormat::Csv => output::write_events_csv(&mut out, &decoded, cfg.tz)?,
                EventsFormat::Jsonl => output::write_events_jsonl(&mut out, &decoded, cfg.tz)?,
            }
            out.flush()?;
            if let Some(p) = &output {
                eprintln!("etwnet: wrote {}", p.display());
            }
            finish(&cfg, &decoded)
        }
    }
}
