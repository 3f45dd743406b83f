//! The `etwnet` binary: parse arguments, call the library, set the exit code.
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use clap::Parser;

use etwnet::cli::{Cli, Command, DropsFormat, EventsFormat, InputConfig, WhoFormat};
use etwnet::correlate;
use etwnet::output;
use etwnet::pipeline::{self, Decoded};

/// mimalloc instead of glibc malloc: decoding builds millions of small
/// strings on several threads, where glibc's per-thread arenas spend more
/// time in malloc/free and page faults than the decoders spend decoding.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    in_pool(cfg, |run| pipeline::run(&cfg.inputs, run))
}

/// Runs `job` with `--threads` rayon workers, with the progress bar
/// counting the bytes the pipeline reads. The job itself runs on this
/// thread (it may hold stdout), its parallel parts on the global pool.
fn in_pool<T>(
    cfg: &InputConfig,
    job: impl FnOnce(&pipeline::RunOptions) -> T,
) -> anyhow::Result<T> {
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(n) = cfg.threads {
        pool = pool.num_threads(n);
    }
    // One command per process: the global pool is built once, here.
    pool.build_global()?;
    let mut run = cfg.run.clone();
    let progress = (!cfg.quiet && io::stderr().is_terminal()).then(|| Progress::start(cfg));
    if let Some(p) = &progress {
        run.progress = Some(p.read.clone());
    }
    let out = job(&run);
    if let Some(p) = progress {
        p.stop();
    }
    Ok(out)
}

/// Decodes and correlates window by window (flat memory).
fn analyze_streaming(
    cfg: &InputConfig,
    events_out: Option<etwnet::stream::EventRowsWriter<'static>>,
) -> anyhow::Result<etwnet::stream::Streamed> {
    in_pool(cfg, |run| {
        etwnet::stream::analyze_streaming(&cfg.inputs, run, cfg.tz, cfg.window_events, events_out)
    })?
}

/// A progress bar on stderr for decodes that take over a second: the
/// pipeline counts input bytes read, a thread draws them.
struct Progress {
    read: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Progress {
    fn start(cfg: &InputConfig) -> Progress {
        let read = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        // Plain files' sizes; folders and bundles make the total a lower bound.
        let total: u64 = cfg
            .inputs
            .iter()
            .filter_map(|i| std::fs::metadata(i).ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum();
        let (r, d) = (read.clone(), done.clone());
        let thread = std::thread::spawn(move || {
            let start = std::time::Instant::now();
            let mut bar: Option<indicatif::ProgressBar> = None;
            while !d.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if bar.is_none() && start.elapsed() >= std::time::Duration::from_secs(1) {
                    let b = indicatif::ProgressBar::with_draw_target(
                        Some(total.max(1)),
                        indicatif::ProgressDrawTarget::stderr(),
                    );
                    if let Ok(style) = indicatif::ProgressStyle::with_template(
                        "{elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    ) {
                        b.set_style(style);
                    }
                    bar = Some(b);
                }
                if let Some(b) = &bar {
                    let n = r.load(Ordering::Relaxed);
                    if n > b.length().unwrap_or(0) {
                        b.set_length(n);
                    }
                    b.set_position(n);
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        Progress { read, done, thread }
    }

    fn stop(self) {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
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
        Command::Pcap {
            input,
            output,
            drops_only,
            component,
        } => {
            let bytes = std::fs::read(&input)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", input.display()))?;
            // Convert into memory first so a failed conversion leaves no
            // half-written file behind.
            let mut buf = Vec::new();
            let s = etwnet::pcapng::run_pcap(&bytes, &mut buf, drops_only, component)
                .map_err(|e| anyhow::anyhow!("{}: {e:#}", input.display()))?;
            let mut out = open_output(Some(&output))?;
            out.write_all(&buf)?;
            out.flush()?;
            println!(
                "{}: {} packets ({} dropped) on {} interfaces written to {}; {} packet events without exportable bytes or filtered out",
                input.display(),
                s.packets,
                s.drops,
                s.interfaces,
                output.display(),
                s.skipped
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Detect { input, verbose } => {
            let cfg = input.config().map_err(usage)?;
            // Only the accounting is needed: events are dropped as decoded,
            // by a pool thread when there are several (freeing them here,
            // the pipeline's serial stage, held `detect` to 1.4x on two
            // cores); on one, here, where they were made (cheaper to free).
            let decoded = in_pool(&cfg, |run| {
                // Nothing reads the events' text either.
                let run = pipeline::RunOptions {
                    lean_packets: true,
                    ..run.clone()
                };
                pipeline::run_streaming_ordered(
                    &cfg.inputs,
                    &run,
                    false,
                    &mut |_| {},
                    &mut |_, evs| {
                        if rayon::current_num_threads() > 1 {
                            rayon::spawn(move || drop(evs));
                        }
                    },
                )
            })?;
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
            let out = open_output(output.as_deref())?;
            // Rows are written as each batch is decoded, in file order, so
            // memory does not grow with the input.
            let names: std::cell::RefCell<Vec<String>> = Default::default();
            let mut failed: Option<anyhow::Error> = None;
            enum Rows {
                Csv(Box<output::CsvRows<Box<dyn Write>>>),
                Jsonl(Box<dyn Write>),
            }
            let mut rows = match format {
                EventsFormat::Csv => Rows::Csv(Box::new(output::CsvRows::new(out))),
                EventsFormat::Jsonl => Rows::Jsonl(out),
            };
            let decoded = in_pool(&cfg, |run| {
                pipeline::run_streaming_ordered(
                    &cfg.inputs,
                    run,
                    false,
                    &mut |n: &[String]| *names.borrow_mut() = n.to_vec(),
                    &mut |_, evs| {
                        if failed.is_some() {
                            return;
                        }
                        let names = names.borrow();
                        let r: anyhow::Result<()> = match &mut rows {
                            Rows::Csv(w) => output::write_event_batch(w, &names, &evs, cfg.tz)
                                .map_err(Into::into),
                            Rows::Jsonl(w) => {
                                output::write_jsonl_batch(&mut **w, &names, &evs, cfg.tz)
                                    .map_err(Into::into)
                            }
                        };
                        if let Err(e) = r {
                            failed = Some(e);
                        }
                    },
                )
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
            match rows {
                Rows::Csv(mut w) => w.flush()?,
                Rows::Jsonl(mut w) => w.flush()?,
            }
            if let Some(p) = &output {
                eprintln!("etwnet: wrote {}", p.display());
            }
            finish(&cfg, &decoded)
        }
        Command::Timeline {
            input,
            output,
            no_events,
        } => {
            let cfg = input.config().map_err(usage)?;
            std::fs::create_dir_all(&output)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", output.display()))?;
            let (events_out, events_path) = if no_events {
                (None, None)
            } else {
                let (p, f) = output::timeline::create_in(&output, "events.csv")?;
                let w: Box<dyn Write + Send> = Box::new(f);
                (Some(output::CsvRows::new(w)), Some(p))
            };
            let streamed = analyze_streaming(&cfg, events_out)?;
            let (decoded, analysis) = (streamed.decoded, streamed.analysis);
            let mut written =
                output::timeline::write_timeline_tables(&output, &decoded, &analysis, cfg.tz)?;
            if let Some(p) = events_path {
                // Listed after connections.csv, as the files are described.
                written.insert(1, p);
            }
            let code = finish(&cfg, &decoded)?;
            warn_duplicate_captures(&cfg, &decoded, &analysis);
            eprintln!(
                "etwnet: {} connection(s)/flow(s), {} drop group(s), {} finding(s)",
                analysis.connections.len(),
                analysis.drops.len(),
                analysis.findings.len()
            );
            for p in written {
                println!("wrote {}", p.display());
            }
            Ok(code)
        }
        Command::Who {
            input,
            packet,
            pktgroup,
            at,
            format,
        } => {
            let cfg = input.config().map_err(usage)?;
            let at_key = match &at {
                None => None,
                Some(t) => Some(etwnet::cli::parse_at(t, cfg.tz).ok_or_else(|| {
                    usage(format!(
                        "--at '{t}' is not a time like 2010-01-14T11:20:14Z"
                    ))
                })?),
            };
            let query = match &packet {
                Some(p) => Some(correlate::who::parse_packet_spec(p).map_err(usage)?),
                None => None,
            };
            // Standard input cannot be read twice: it is decoded whole.
            let from_stdin = cfg.inputs.iter().any(|i| i == "-");
            let mut group_query: Option<correlate::who::PacketQuery> = None;
            let (decoded, analysis, whole) = if from_stdin {
                let decoded = decode(&cfg)?;
                let analysis = correlate::analyze(&decoded, cfg.tz);
                if let Some(g) = pktgroup {
                    group_query = correlate::who::query_for_pktgroup(&decoded, g);
                }
                (decoded, analysis, true)
            } else {
                // Pass 1: correlate window by window (connections stay in
                // memory to be matched), noting the packet of --pktgroup.
                let mut inspect = |e: &etwnet::event::Event| {
                    if let Some(g) = pktgroup
                        && group_query.is_none()
                        && correlate::who::is_pktgroup_packet(e, g)
                    {
                        group_query = correlate::who::query_of(e);
                    }
                };
                let streamed = in_pool(&cfg, |run| {
                    etwnet::stream::analyze_streaming_with(
                        &cfg.inputs,
                        run,
                        cfg.tz,
                        etwnet::stream::StreamOptions {
                            window_events: cfg.window_events,
                            events_out: None,
                            retire_closed: false,
                            inspect: Some(&mut inspect),
                        },
                    )
                })??;
                (streamed.decoded, streamed.analysis, false)
            };
            let query = match (query, pktgroup) {
                (Some(q), _) => q,
                (None, Some(g)) => match group_query {
                    Some(q) => q,
                    None => {
                        println!(
                            "no PktMon packet with PktGroupId {g} and a decoded 5-tuple in the inputs"
                        );
                        return finish(&cfg, &decoded);
                    }
                },
                (None, None) => return Err(usage("give --packet or --pktgroup".into())),
            };
            // Pass 2: read back only the evidence lines the answer prints.
            let wanted = correlate::who::evidence_sources(&analysis, &query);
            let mut evidence = Decoded {
                files: decoded.files.clone(),
                events: vec![Vec::new(); decoded.files.len()],
                problems: Vec::new(),
            };
            if !whole && !wanted.is_empty() {
                let quiet_run = pipeline::RunOptions {
                    progress: None,
                    ..cfg.run.clone()
                };
                pipeline::run_streaming_ordered(
                    &cfg.inputs,
                    &quiet_run,
                    false,
                    &mut |_| {},
                    &mut |file, evs| {
                        if let Some(slot) = evidence.events.get_mut(file as usize) {
                            slot.extend(evs.into_iter().filter(|e| wanted.contains(&e.source)));
                        }
                    },
                );
            }
            let evidence = if whole { &decoded } else { &evidence };
            let answer = correlate::who::who(evidence, &analysis, &query, at_key, cfg.tz);

            let mut out = io::stdout().lock();
            match format {
                WhoFormat::Text => output::timeline::write_who_text(&mut out, &answer)?,
                WhoFormat::Json => {
                    serde_json::to_writer_pretty(&mut out, &answer)?;
                    writeln!(out)?;
                }
            }
            out.flush()?;
            finish(&cfg, &decoded)
        }
        Command::Drops {
            input,
            format,
            output,
        } => {
            let cfg = input.config().map_err(usage)?;
            let mut out = open_output(output.as_deref())?;
            let streamed = analyze_streaming(&cfg, None)?;
            let (decoded, analysis) = (streamed.decoded, streamed.analysis);
            match format {
                DropsFormat::Table => {
                    output::timeline::write_drops_table(&mut out, &decoded, &analysis, cfg.tz)?
                }
                DropsFormat::Csv => {
                    output::timeline::write_drops_csv(&mut out, &decoded, &analysis, cfg.tz)?
                }
                DropsFormat::Json => {
                    output::timeline::write_drops_json(&mut out, &decoded, &analysis, cfg.tz)?
                }
            }
            out.flush()?;
            let code = finish(&cfg, &decoded);
            warn_duplicate_captures(&cfg, &decoded, &analysis);
            code
        }
    }
}

/// Says on stderr which files hold the same PktMon capture (finding
/// `g:duplicate-capture`): their counts are doubled in every table, which
/// a user must know before reading them.
fn warn_duplicate_captures(
    cfg: &InputConfig,
    decoded: &pipeline::Decoded,
    analysis: &etwnet::correlate::Analysis,
) {
    if cfg.quiet {
        return;
    }
    for f in analysis
        .findings
        .iter()
        .filter(|f| f.rule == "g:duplicate-capture")
    {
        let files: Vec<&str> = f
            .evidence
            .iter()
            .map(|s| decoded.file_name(s.file))
            .collect();
        eprintln!("etwnet: warning: {}: {}", files.join(", "), f.summary);
    }
}
