//! Streaming analysis: decode → correlate window by window → write, so
//! memory holds one window of events (plus the connections) whatever the
//! input size.
//!
//! The pipeline hands over each file's events batch by batch
//! ([`pipeline::run_streaming`]); batches collect into a window until it
//! holds `window_events` events, then the window is correlated
//! ([`Correlator::window`]), its events.csv rows are written, and its events
//! are dropped. An input smaller than one window is correlated exactly as
//! the whole-input [`correlate::analyze`] does; larger inputs differ only
//! where a join needs events from two windows that are not adjacent (see
//! `Correlator`).

use std::io::Write;

use crate::correlate::{Analysis, Correlator};
use crate::event::{Event, FileId};
use crate::pipeline::{self, Decoded, FileReport, RunOptions};

/// Events per correlation window when the caller does not choose. About
/// 50–70 MB of decoded events; large enough that joins rarely straddle a
/// window boundary.
pub const DEFAULT_WINDOW_EVENTS: usize = 50_000;

/// Where a window's events.csv rows go.
pub type EventRowsWriter<'w> = crate::output::CsvRows<Box<dyn Write + Send + 'w>>;

/// The correlating side: owns the correlator and the events.csv writer,
/// and runs on its own thread so correlation overlaps decoding.
struct Correlating<'w> {
    corr: Correlator,
    retire: bool,
    tz: Option<i16>,
    events_out: Option<EventRowsWriter<'w>>,
    error: Option<anyhow::Error>,
    windows: u64,
}

impl Correlating<'_> {
    fn window(&mut self, window: &Decoded) {
        if self.windows == 0 && self.retire {
            // Closed connections leave memory as connections.csv records
            // (the names are the run's files, known from the first window).
            let names = Decoded {
                files: window.files.clone(),
                ..Decoded::default()
            };
            let tz = self.tz;
            self.corr.retire_closed(Box::new(move |c, a| {
                crate::output::timeline::connection_record(c, &names, a, tz).unwrap_or_default()
            }));
        }
        if let Err(e) = self.corr.window(window)
            && self.error.is_none()
        {
            self.error = Some(anyhow::anyhow!(
                "cannot write the connection spill file: {e}"
            ));
        }
        if let Some(w) = &mut self.events_out
            && self.error.is_none()
            && let Err(e) =
                crate::output::timeline::write_event_rows(w, window, self.corr.analysis(), self.tz)
        {
            self.error = Some(e.into());
        }
        self.windows += 1;
    }
}

/// What the decoding side hands the windowing thread.
enum Batch {
    /// The run's files, before any of their events.
    Files(Vec<String>),
    Events(FileId, Vec<Event>),
}

/// Event batches (a chunk's events, ~2,500 netsh events) waiting for the
/// windowing thread. Each one waiting is memory; two let decoding go on
/// while the windowing thread files a batch.
const BATCHES_IN_FLIGHT: usize = 2;

/// The windowing side, on its own thread: collects batches into windows
/// of `limit` events and hands each full window to correlation. Moving
/// ~50,000 events (424 bytes each) into a window vector is work the
/// decoding side used to do between read blocks while the decoding threads
/// waited (18% of a 2-thread netsh run's CPU time was that thread's).
struct Windowing {
    window: Decoded,
    pending: usize,
    limit: usize,
    send: std::sync::mpsc::SyncSender<Decoded>,
}

impl Windowing {
    fn start(&mut self, names: &[String]) {
        self.window.files = names
            .iter()
            .enumerate()
            .map(|(i, n)| FileReport {
                id: i as FileId,
                name: n.clone(),
                ..FileReport::default()
            })
            .collect();
        self.window.events = vec![Vec::new(); names.len()];
    }

    fn add(&mut self, file: FileId, mut evs: Vec<Event>) {
        // A batch larger than the room left is cut: windows hold at most
        // `limit` events however the pipeline chunks the input.
        while self.pending + evs.len() > self.limit {
            let room = self.limit - self.pending;
            let rest = evs.split_off(room.min(evs.len()));
            self.push(file, evs);
            self.flush();
            evs = rest;
        }
        self.push(file, evs);
        if self.pending >= self.limit {
            self.flush();
        }
    }

    fn push(&mut self, file: FileId, mut evs: Vec<Event>) {
        self.pending += evs.len();
        let room = self.limit.saturating_sub(self.pending - evs.len());
        if let Some(slot) = self.window.events.get_mut(file as usize) {
            if slot.is_empty() && evs.len() < 1024 {
                // A small file, or the start of one: its own vector.
                *slot = evs;
            } else {
                if slot.capacity() == 0 {
                    // A large file: room for the rest of the window at
                    // once. Appending batch after batch would double the
                    // vector (up to ~30% unused, 424 bytes an event) and
                    // copy it each time.
                    slot.reserve_exact(room);
                }
                slot.append(&mut evs);
            }
        }
    }

    fn flush(&mut self) {
        if self.pending == 0 {
            return;
        }
        let next = Decoded {
            files: self.window.files.clone(),
            events: vec![Vec::new(); self.window.events.len()],
            problems: Vec::new(),
        };
        let full = std::mem::replace(&mut self.window, next);
        // The receiver only stops when the run ends.
        let _ = self.send.send(full);
        self.pending = 0;
    }
}

/// What a streaming analysis produced.
pub struct Streamed {
    /// File reports and input problems (no events).
    pub decoded: Decoded,
    pub analysis: Analysis,
    /// How many windows the events were correlated in.
    pub windows: u64,
}

/// How a streaming analysis runs.
pub struct StreamOptions<'a, 'w> {
    /// Events per window.
    pub window_events: usize,
    /// Where events.csv rows go, if anywhere.
    pub events_out: Option<EventRowsWriter<'w>>,
    /// Retire closed connections from memory (their rows stay in the
    /// outputs; `who` keeps them in memory to match them).
    pub retire_closed: bool,
    /// Sees every decoded event.
    pub inspect: Option<&'a mut dyn FnMut(&Event)>,
}

/// [`analyze_streaming_with`] with closed connections retired and no
/// inspection.
pub fn analyze_streaming<'w>(
    inputs: &[String],
    opts: &RunOptions,
    tz: Option<i16>,
    window_events: usize,
    events_out: Option<EventRowsWriter<'w>>,
) -> anyhow::Result<Streamed> {
    analyze_streaming_with(
        inputs,
        opts,
        tz,
        StreamOptions {
            window_events,
            events_out,
            retire_closed: true,
            inspect: None,
        },
    )
}

/// Decodes and correlates `inputs` window by window. With `events_out`,
/// events.csv rows are written to it as each window is done. Correlation
/// runs on its own thread, one window behind decoding (at most one full
/// window waits), so memory holds about three windows of events.
pub fn analyze_streaming_with(
    inputs: &[String],
    opts: &RunOptions,
    tz: Option<i16>,
    so: StreamOptions<'_, '_>,
) -> anyhow::Result<Streamed> {
    let StreamOptions {
        window_events,
        events_out,
        retire_closed,
        inspect,
    } = so;
    let writes_events = events_out.is_some();
    let mut side = Correlating {
        corr: Correlator::new(tz),
        retire: retire_closed,
        tz,
        events_out,
        error: None,
        windows: 0,
    };
    let (tx, rx) = std::sync::mpsc::sync_channel::<Decoded>(0);
    let (batch_tx, batch_rx) = std::sync::mpsc::sync_channel::<Batch>(BATCHES_IN_FLIGHT);
    let decoded = std::thread::scope(|scope| {
        let side = &mut side;
        // Freeing a window's events (~50,000 of them, a dozen allocations
        // each) is work the correlating thread, the pipeline's serial
        // stage, need not do: a third thread frees them (100 MiB netsh
        // --no-events: 0.83-1.05 s -> 0.81-0.90 s). No window waits to be
        // freed: a correlated window is handed over only when the previous
        // one is freed (freeing is quicker than correlating), so memory
        // holds at most three windows: filling, correlating, freeing.
        let (free_tx, free_rx) = std::sync::mpsc::sync_channel::<Decoded>(0);
        scope.spawn(move || free_rx.into_iter().for_each(drop));
        let worker = scope.spawn(move || {
            for w in rx {
                side.window(&w);
                // The freeing thread only stops when this one does.
                let _ = free_tx.send(w);
            }
        });
        let windower = scope.spawn(move || {
            let mut windowing = Windowing {
                window: Decoded::default(),
                pending: 0,
                limit: window_events.max(1),
                send: tx,
            };
            for batch in batch_rx {
                match batch {
                    Batch::Files(names) => windowing.start(&names),
                    Batch::Events(file, evs) => windowing.add(file, evs),
                }
            }
            windowing.flush();
        });
        let mut inspect = inspect;
        // Without events.csv only the events correlation reads are kept,
        // and only what it reads of them. The pipeline filters them as they
        // are decoded, on the decoding threads; an inspector must see every
        // event first, so then they are filtered here.
        let mut run_opts = opts.clone();
        let filter_here = !writes_events && inspect.is_some();
        if !writes_events && !filter_here {
            run_opts.keep_event = Some(crate::correlate::keep_for_correlation);
            run_opts.lean_packets = true;
        }
        // The receivers only stop when this scope ends (or a thread panics,
        // which is reported below).
        let decoded = pipeline::run_streaming(
            inputs,
            &run_opts,
            &mut |names: &[String]| {
                let _ = batch_tx.send(Batch::Files(names.to_vec()));
            },
            &mut |file, mut evs| {
                if let Some(f) = &mut inspect {
                    evs.iter().for_each(&mut **f);
                }
                if filter_here {
                    evs.retain_mut(crate::correlate::keep_for_correlation);
                }
                let _ = batch_tx.send(Batch::Events(file, evs));
            },
        );
        drop(batch_tx);
        let windowed = windower.join();
        let joined = worker.join();
        (decoded, windowed.is_ok() && joined.is_ok())
    });
    let (decoded, worker_ok) = decoded;
    if !worker_ok {
        anyhow::bail!("the windowing or correlation thread panicked");
    }
    if let Some(e) = side.error.take() {
        return Err(e);
    }
    if let Err(e) = side.corr.retire_spilled_flows() {
        anyhow::bail!("cannot read the connection spill file: {e}");
    }
    if let Some(mut w) = side.events_out.take() {
        w.flush()?;
    }
    Ok(Streamed {
        decoded,
        analysis: side.corr.finish(),
        windows: side.windows,
    })
}
