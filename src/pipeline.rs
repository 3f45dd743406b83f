//! The decode driver: inputs → files → encoding → format → chunks decoded
//! in parallel → events, with per-file line accounting.
//!
//! Output order is deterministic and independent of the thread count: files
//! keep discovery order, chunks keep file order, and rayon's indexed
//! `collect` keeps the order of its input.

use rayon::prelude::*;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::decode::{self, Diagnostic, Format, LineClass, LineCounts, Sink};
use crate::detect;
use crate::event::{Event, FileId, SourceRef};
use crate::input::encoding::{self, TextEncoding};
use crate::input::{self, DiscoverOptions, InputFile, InputProblem, Origin};
use encoding_rs::DecoderResult;

/// Options for one decode run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Forced text encoding (`--encoding`).
    pub encoding: Option<TextEncoding>,
    /// Forced format (`--as`), bypassing detection.
    pub format: Option<Format>,
    /// Target size of the chunks a large file is cut into.
    pub chunk_bytes: usize,
    /// A line longer than this is not decoded (reported as an error), so one
    /// pathological "line" cannot make a decoder buffer without bound.
    pub max_line_bytes: usize,
    pub discover: DiscoverOptions,
    /// Size of the blocks a file is read in (streaming decode).
    pub block_bytes: usize,
    /// Input bytes read so far, for a progress display.
    pub progress: Option<Arc<AtomicU64>>,
    /// Decides, as soon as an event is final, whether the consumer gets it
    /// (and may shed parts of it no consumer reads): streaming runs without
    /// events.csv keep only what correlation reads. Applied on the thread
    /// that decoded the event where the format allows (freeing there is
    /// cheaper and runs in parallel). Files still count every event.
    pub keep_event: Option<fn(&mut Event) -> bool>,
    /// No consumer reads the text `correlate::keep_for_correlation` sheds
    /// (raw `.etl` packets then leave it out: [`crate::etl::EtlOptions::lean_packets`]).
    /// Set with that `keep_event`, and by `detect`, which reads no event.
    pub lean_packets: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            encoding: None,
            format: None,
            // 2 MiB blocks in 512 KiB chunks: the decoded events of a block
            // are in memory until the window takes them, and a streaming
            // run has two blocks decoding at once (8 MiB blocks, one at a
            // time, cost 48 MB more peak RSS than 4 MiB ones at the same
            // CPU time: 100 MiB netsh, 2026-11-24).
            chunk_bytes: 512 << 10,
            max_line_bytes: decode::DEFAULT_MAX_LINE_BYTES,
            discover: DiscoverOptions::default(),
            block_bytes: 2 << 20,
            progress: None,
            keep_event: None,
            lean_packets: false,
        }
    }
}

/// What happened to one input file.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    pub id: FileId,
    pub name: String,
    pub format: Option<Format>,
    pub encoding: Option<String>,
    pub size: u64,
    /// Lines of text, or records of a binary input.
    pub lines: u64,
    pub events: u64,
    pub counts: LineCounts,
    pub diagnostics: Vec<Diagnostic>,
    pub diagnostics_dropped: u64,
    /// File-level messages (truncated encoding, binary data, unknown format).
    pub notes: Vec<String>,
    /// The file as a whole had a problem (unreadable, truncated or
    /// malformed encoding, binary data where text was expected).
    pub file_error: bool,
}

impl FileReport {
    pub fn format_name(&self) -> &'static str {
        self.format.map_or("unreadable", Format::as_str)
    }
    /// Whether anything in this file was an error (for `--strict`).
    pub fn has_errors(&self) -> bool {
        self.counts.error > 0 || self.file_error
    }
}

/// The result of decoding all inputs.
#[derive(Debug, Default)]
pub struct Decoded {
    pub files: Vec<FileReport>,
    /// Events per file, in the order of `files`.
    pub events: Vec<Vec<Event>>,
    pub problems: Vec<InputProblem>,
}

impl Decoded {
    pub fn file_name(&self, id: FileId) -> &str {
        self.files.get(id as usize).map_or("?", |f| f.name.as_str())
    }
    /// `file:line` for an event source.
    pub fn location(&self, src: SourceRef) -> String {
        format!("{}:{}", self.file_name(src.file), src.line)
    }
    pub fn all_events(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().flatten()
    }
}

/// Discovers and decodes every input.
pub fn run(inputs: &[String], opts: &RunOptions) -> Decoded {
    let found = input::discover(inputs, &opts.discover);
    let results: Vec<(FileReport, Vec<Event>)> = found
        .files
        .par_iter()
        .enumerate()
        .map(|(i, f)| decode_file(i as FileId, f, opts))
        .collect();
    let mut out = Decoded {
        problems: found.problems,
        ..Decoded::default()
    };
    for (r, e) in results {
        out.files.push(r);
        out.events.push(e);
    }
    out
}

/// Discovers and decodes every input, handing each file's events to
/// `consumer` batch by batch instead of keeping them: memory holds a few
/// blocks of text and their events, whatever the input size. `start`
/// receives the file names (indexed by `FileId`) before any events.
///
/// Small files (snapshots, short traces) are decoded first, in parallel,
/// and delivered in file order; then each large file is streamed in order.
/// So `tasklist`/`netstat` snapshots are known before the big trace's
/// events arrive. The returned `Decoded` has the file reports and problems
/// and no events.
pub fn run_streaming(
    inputs: &[String],
    opts: &RunOptions,
    start: &mut dyn FnMut(&[String]),
    consumer: &mut dyn FnMut(FileId, Vec<Event>),
) -> Decoded {
    run_streaming_ordered(inputs, opts, true, start, consumer)
}

/// [`run_streaming`], choosing whether small files come first
/// (`small_first`) or every file is delivered strictly in file order (for
/// outputs that list events file by file).
pub fn run_streaming_ordered(
    inputs: &[String],
    opts: &RunOptions,
    small_first: bool,
    start: &mut dyn FnMut(&[String]),
    consumer: &mut dyn FnMut(FileId, Vec<Event>),
) -> Decoded {
    let found = input::discover(inputs, &opts.discover);
    let names: Vec<String> = found.files.iter().map(|f| f.name.clone()).collect();
    start(&names);
    let small_limit = if small_first {
        opts.block_bytes as u64
    } else {
        0
    };
    let mut reports: Vec<Option<FileReport>> = vec![None; found.files.len()];
    // Each small file's events are kept in the batches they were decoded
    // in (appending them to one Vec copied every event again at each
    // doubling: a fifth of the correlating thread's time on a 1 MB .etl).
    let mut small: Vec<(FileId, FileReport, Vec<Vec<Event>>)> = found
        .files
        .par_iter()
        .enumerate()
        .filter(|(_, f)| f.size < small_limit)
        .map(|(i, f)| {
            let mut batches = Vec::new();
            let r = decode_file_stream(i as FileId, f, opts, &mut |evs| batches.push(evs));
            (i as FileId, r, batches)
        })
        .collect();
    if small_first {
        // Snapshots (process and socket tables, component lists) before
        // the traces, so their names are known when trace events arrive.
        small.sort_by_key(|(id, rep, _)| (!rep.format.is_some_and(Format::is_snapshot), *id));
    }
    for (id, rep, batches) in small {
        for events in batches.into_iter().filter(|b| !b.is_empty()) {
            consumer(id, events);
        }
        if let Some(slot) = reports.get_mut(id as usize) {
            *slot = Some(rep);
        }
    }
    for (i, f) in found.files.iter().enumerate() {
        if f.size < small_limit {
            continue;
        }
        let id = i as FileId;
        let rep = decode_file_stream(id, f, opts, &mut |evs| consumer(id, evs));
        if let Some(slot) = reports.get_mut(i) {
            *slot = Some(rep);
        }
    }
    Decoded {
        files: reports.into_iter().flatten().collect(),
        events: Vec::new(),
        problems: found.problems,
    }
}

/// Decodes one input file, collecting its events.
pub fn decode_file(id: FileId, file: &InputFile, opts: &RunOptions) -> (FileReport, Vec<Event>) {
    let mut all: Vec<Event> = Vec::new();
    let rep = decode_file_stream(id, file, opts, &mut |mut evs: Vec<Event>| {
        if all.is_empty() {
            all = evs;
        } else {
            all.append(&mut evs);
        }
    });
    (rep, all)
}

/// Where a file's bytes are read from, block by block.
enum Source<'a> {
    File(std::fs::File),
    /// All the bytes, and how many were read.
    Memory {
        all: &'a [u8],
        read: usize,
    },
}

impl Source<'_> {
    /// Appends up to `n` bytes to `buf`; returns whether the input is exhausted.
    fn read_block(&mut self, buf: &mut Vec<u8>, n: usize) -> std::io::Result<bool> {
        match self {
            Source::File(f) => {
                use std::io::Read;
                let want = n as u64;
                let got = f.by_ref().take(want).read_to_end(buf)?;
                Ok((got as u64) < want)
            }
            Source::Memory { all, read } => {
                let rest = all.get(*read..).unwrap_or(&[]);
                let take = rest.len().min(n);
                buf.extend_from_slice(rest.get(..take).unwrap_or(&[]));
                *read += take;
                Ok(*read >= all.len())
            }
        }
    }
}

/// Decodes one input file as a stream: the file is read in blocks of
/// `opts.block_bytes`, its text encoding decoded incrementally (partial
/// characters carried across blocks), the text cut before the last record
/// start (the partial last record waits for the next block), and the ready
/// text decoded in record-aligned chunks in parallel while the next block is
/// read. `consumer` receives each chunk's events in file order, so memory
/// holds about two blocks of text whatever the file size. Binary inputs and
/// formats that cannot be split (small by nature: tasklist, netstat, CSV,
/// JSON) are decoded whole.
pub fn decode_file_stream(
    id: FileId,
    file: &InputFile,
    opts: &RunOptions,
    consumer: &mut dyn FnMut(Vec<Event>),
) -> FileReport {
    let mut rep = FileReport {
        id,
        name: file.name.clone(),
        size: file.size,
        ..FileReport::default()
    };
    let mut src = match &file.origin {
        Origin::File(p) => match std::fs::File::open(p) {
            Ok(f) => Source::File(f),
            Err(e) => {
                rep.notes.push(format!("cannot read: {e}"));
                rep.file_error = true;
                return rep;
            }
        },
        Origin::Memory(b) => Source::Memory {
            all: b.as_slice(),
            read: 0,
        },
    };
    let block_bytes = opts.block_bytes.max(detect::HEAD_BYTES).max(1 << 16);
    let mut block = Vec::with_capacity(block_bytes.min(file.size as usize + 16));
    let read = |src: &mut Source, buf: &mut Vec<u8>| -> Result<bool, String> {
        let before = buf.len();
        let eof = src
            .read_block(buf, block_bytes)
            .map_err(|e| format!("cannot read: {e}"))?;
        let n = (buf.len() - before) as u64;
        if let Some(p) = &opts.progress {
            p.fetch_add(n, Ordering::Relaxed);
        }
        Ok(eof)
    };
    let mut eof = match read(&mut src, &mut block) {
        Ok(e) => e,
        Err(m) => {
            rep.notes.push(m);
            rep.file_error = true;
            return rep;
        }
    };
    if opts.format.is_none_or(Format::is_binary)
        && let Some(f) = detect::detect_binary(&block[..block.len().min(detect::HEAD_BYTES)])
    {
        rep.format = Some(f);
        rep.encoding = Some("binary".into());
        if f == Format::Etl {
            return decode_etl_file(rep, src, block.len() as u64, opts, consumer);
        }
        // pcapng: recognised, not decoded; read through for its size.
        let mut size = block.len() as u64;
        while !eof {
            block.clear();
            let r = read(&mut src, &mut block);
            size += block.len() as u64;
            match r {
                Ok(e) => eof = e,
                Err(m) => {
                    rep.notes.push(m);
                    rep.file_error = true;
                    return rep;
                }
            }
        }
        rep.size = size;
        rep.notes.push("pcapng capture recognised; packet captures are not decoded (open it with Wireshark/tshark)".into());
        return rep;
    }
    let enc = opts.encoding.unwrap_or_else(|| encoding::detect(&block));
    rep.encoding = Some(enc.name());
    let mut stream = TextStream::new(enc);
    let mut text = String::with_capacity(block.len() + 16);
    stream.push(&block, eof, &mut text);
    block.clear();
    let head_end = floor_char_boundary(&text, detect::HEAD_BYTES);
    let head = &text[..head_end];
    let mut skip_note: Option<(String, bool)> = None;
    let format = if opts.format.is_none() && detect::looks_binary(head) {
        skip_note = Some((
            "binary data, not a recognised trace format; skipped".into(),
            true,
        ));
        Format::Unknown
    } else {
        let f = opts.format.unwrap_or_else(|| detect::detect_text(head));
        if f == Format::Unknown {
            skip_note = Some(("not a recognised format; skipped".into(), false));
        } else if decode::decoder_for(f).is_none() {
            skip_note = Some((
                format!("no text decoder for format {}; skipped", f.as_str()),
                false,
            ));
        }
        f
    };
    rep.format = Some(format);
    let splittable = format.splittable() && skip_note.is_none();
    let mut file_ctx = decode::FileContext::default();
    let mut line_no = 1u64;
    let mut failed: Option<String> = None;
    // How chunks decode:
    // - on one thread (`-j 1`, or a library caller on a one-thread pool),
    //   inline: no cross-thread handoff per chunk;
    // - on a pool thread (small files decode side by side, one per pool
    //   thread), by work stealing, block by block: a pool thread must not
    //   block waiting for work queued behind it;
    // - otherwise (the CLI's streaming run, on its main thread) pipelined:
    //   a block's events are delivered only once the next block's chunks are
    //   queued, so the decoding threads go from one block's last chunks
    //   straight to the next block's first ones instead of waiting at every
    //   block boundary for the slowest chunk, and the next block is read
    //   meanwhile.
    let threads = rayon::current_num_threads() > 1;
    let pipelined = threads && rayon::current_thread_index().is_none();
    // Blocks whose chunks are decoding, oldest first.
    let mut in_flight: std::collections::VecDeque<BlockDecode> = Default::default();
    let depth = if pipelined { 2 } else { 1 };
    // Events are final when their chunk is decoded, except those the
    // format's finishing pass (which needs the chunks before) reads: they
    // are final after that pass.
    let keep = opts.keep_event;
    let finishes = decode::finishes_across_chunks(format);
    let mut deliver = |b: BlockDecode, rep: &mut FileReport| {
        let chunks: Vec<ChunkDecoded> = match b {
            BlockDecode::Done(chunks) => chunks,
            BlockDecode::Pending { chunks, results } => {
                let mut done: Vec<(usize, ChunkDecoded)> = results.iter().take(chunks).collect();
                done.sort_unstable_by_key(|(i, _)| *i);
                done.into_iter().map(|(_, c)| c).collect()
            }
        };
        for ChunkDecoded { mut sink, events } in chunks {
            rep.counts.merge(&sink.counts);
            rep.diagnostics.extend(sink.diagnostics);
            rep.diagnostics_dropped += sink.diagnostics_dropped;
            rep.events += events;
            decode::finish_events(format, &mut file_ctx, &mut sink.events);
            if let Some(keep) = keep.filter(|_| finishes) {
                sink.events
                    .retain_mut(|ev| !decode::finish_reads(format, ev) || keep(ev));
            }
            if !sink.events.is_empty() {
                consumer(sink.events);
            }
        }
    };
    rayon::in_place_scope(|scope| {
        loop {
            // Text up to `cut` is ready; the rest (a partial record) waits.
            let cut = if eof || failed.is_some() {
                text.len()
            } else if !splittable {
                if skip_note.is_some() {
                    // Only counting lines: everything up to the last newline.
                    memchr::memrchr(b'\n', text.as_bytes()).map_or(0, |i| i + 1)
                } else {
                    0
                }
            } else {
                match last_record_start(&text, format) {
                    Some(c) => c,
                    // One record longer than the cap: cut at a line anyway so
                    // memory stays bounded (the decoder reports the broken record).
                    None if text.len() > MAX_PENDING_TEXT => {
                        memchr::memrchr(b'\n', text.as_bytes()).map_or(text.len(), |i| i + 1)
                    }
                    None => 0,
                }
            };
            let done = eof || failed.is_some();
            // The next block's text: the partial record, then the block,
            // in one buffer sized for both (growing it from the partial
            // record's size copied it several times per block).
            let mut tail = String::with_capacity(if done {
                0
            } else {
                text.len() - cut + block_bytes + 16
            });
            tail.push_str(text.get(cut..).unwrap_or(""));
            text.truncate(cut);
            let ready = text;
            let newlines = memchr::memchr_iter(b'\n', ready.as_bytes()).count() as u64;
            let ends_mid_line = ready.as_bytes().last().is_some_and(|b| *b != b'\n');
            if skip_note.is_none() && !ready.is_empty() {
                let ready = std::sync::Arc::new(ready);
                let chunks: Vec<(u64, std::ops::Range<usize>)> =
                    split_chunks(&ready, format, opts.chunk_bytes)
                        .into_iter()
                        .map(|(first, chunk)| {
                            // Chunks are slices of `ready`: their offsets.
                            let at = chunk.as_ptr() as usize - ready.as_ptr() as usize;
                            (first, at..at + chunk.len())
                        })
                        .collect();
                let first_line = line_no;
                let max_line_bytes = opts.max_line_bytes;
                // Copy and Send: each pool task gets its own.
                let decode_chunk = move |first: u64, chunk: &str| {
                    let mut sink = decode::decode_lines(
                        format,
                        id,
                        first_line + first - 1,
                        chunk,
                        max_line_bytes,
                    );
                    let events = sink.events.len() as u64;
                    if let Some(keep) = keep {
                        sink.events
                            .retain_mut(|ev| decode::finish_reads(format, ev) || keep(ev));
                    }
                    ChunkDecoded { sink, events }
                };
                let text_of = |range: std::ops::Range<usize>| ready.get(range).unwrap_or("");
                let block = if pipelined {
                    let (tx, results) = std::sync::mpsc::channel();
                    let block = BlockDecode::Pending {
                        chunks: chunks.len(),
                        results,
                    };
                    for (i, (first, range)) in chunks.into_iter().enumerate() {
                        let (ready, tx) = (ready.clone(), tx.clone());
                        scope.spawn(move |_| {
                            let sink = decode_chunk(first, ready.get(range).unwrap_or(""));
                            // The receiver lives until the block is delivered.
                            let _ = tx.send((i, sink));
                        });
                    }
                    block
                } else if threads {
                    BlockDecode::Done(
                        chunks
                            .into_par_iter()
                            .map(|(first, range)| decode_chunk(first, text_of(range)))
                            .collect(),
                    )
                } else {
                    BlockDecode::Done(
                        chunks
                            .into_iter()
                            .map(|(first, range)| decode_chunk(first, text_of(range)))
                            .collect(),
                    )
                };
                in_flight.push_back(block);
            }
            rep.lines += if ends_mid_line {
                newlines + 1
            } else {
                newlines
            };
            line_no += newlines;
            while in_flight.len() >= depth || (done && !in_flight.is_empty()) {
                if let Some(b) = in_flight.pop_front() {
                    deliver(b, &mut rep);
                }
            }
            if done {
                break;
            }
            block.clear();
            match read(&mut src, &mut block) {
                Ok(e) => {
                    stream.push(&block, e, &mut tail);
                    text = tail;
                    eof = e;
                }
                Err(m) => {
                    // Decode what was read, then report the read error.
                    failed = Some(m);
                    text = String::new();
                }
            }
        }
    });
    // Bytes read by the overlapped reads are counted through the stream.
    rep.size = stream.consumed;
    if let Some(m) = failed {
        rep.notes.push(m);
        rep.file_error = true;
    }
    stream.report(&mut rep);
    if let Some((note, is_error)) = skip_note {
        rep.notes.push(note);
        rep.counts.unknown = rep.lines;
        rep.file_error |= is_error;
        return rep;
    }
    reconcile(&mut rep);
    rep
}

/// One block's chunks, decoded or decoding.
enum BlockDecode {
    Done(Vec<ChunkDecoded>),
    /// Decoding on the pool: the chunks arrive in any order, each with its
    /// index.
    Pending {
        chunks: usize,
        results: std::sync::mpsc::Receiver<(usize, ChunkDecoded)>,
    },
}

/// One chunk's sink and how many events it decoded (`keep_event` may have
/// dropped some).
struct ChunkDecoded {
    sink: Sink,
    events: u64,
}

/// A partial record longer than this is cut at a line anyway.
const MAX_PENDING_TEXT: usize = 256 << 20;

/// The start of the last complete line of `text` that starts a record
/// (the text after the last newline is an incomplete line and not judged),
/// or `None` when no complete line starts a record (position 0 excluded).
fn last_record_start(text: &str, format: Format) -> Option<usize> {
    let b = text.as_bytes();
    let mut end = memchr::memrchr(b'\n', b)?;
    loop {
        let start = memchr::memrchr(b'\n', &b[..end]).map_or(0, |i| i + 1);
        if start == 0 {
            return None;
        }
        let line = text.get(start..end)?;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if format.is_record_start(line) {
            return Some(start);
        }
        end = start - 1;
    }
}

/// Makes the counts add up to the line count; a shortfall is a decoder
/// bug, reported rather than hidden.
fn reconcile(rep: &mut FileReport) {
    let total = rep.counts.total();
    if total < rep.lines {
        let missing = rep.lines - total;
        rep.counts.add(LineClass::Error, missing);
        rep.notes.push(format!("{missing} line(s) were not accounted for by the decoder (counted as errors; please report)"));
    } else if total > rep.lines {
        rep.notes.push(format!(
            "decoder accounted for {} lines but the file has {} (please report)",
            total, rep.lines
        ));
    }
}

/// Streams a raw `.etl` file through the ETL reader, which reads the
/// buffers as the decode reaches them (from disk, or from the in-memory
/// bytes of a zip entry): events reach `consumer` window by window.
/// `already_read` bytes were read (and counted as progress) for detection.
fn decode_etl_file(
    mut rep: FileReport,
    src: Source<'_>,
    already_read: u64,
    opts: &RunOptions,
    consumer: &mut dyn FnMut(Vec<Event>),
) -> FileReport {
    let source = match src {
        Source::Memory { all, .. } => {
            if let Some(p) = &opts.progress {
                p.fetch_add(
                    (all.len() as u64).saturating_sub(already_read),
                    Ordering::Relaxed,
                );
            }
            crate::etl::EtlSource::Memory(all)
        }
        Source::File(f) => {
            // The reader counts the bytes of each buffer it reaches, the
            // ones read for detection included.
            if let Some(p) = &opts.progress {
                p.fetch_sub(already_read, Ordering::Relaxed);
            }
            match crate::etl::EtlSource::file(f, opts.progress.clone()) {
                Ok(s) => s,
                Err(e) => {
                    rep.notes.push(format!("cannot read: {e}"));
                    rep.file_error = true;
                    return rep;
                }
            }
        }
    };
    rep.size = source.size();
    let mut events = 0u64;
    let out = crate::etl::decode_etl_stream(
        source,
        rep.id,
        crate::etl::EtlOptions {
            keep_frames: false,
            lean_packets: opts.lean_packets,
        },
        crate::etl::StreamLimits::default(),
        &mut |mut batch| {
            events += batch.events.len() as u64;
            if let Some(keep) = opts.keep_event {
                batch.events.retain_mut(keep);
            }
            if !batch.events.is_empty() {
                consumer(batch.events);
            }
        },
    );
    rep.events = events;
    rep.lines = out.records;
    rep.counts = out.counts;
    rep.diagnostics = out.diagnostics;
    let i = &out.info;
    rep.notes.push(format!(
        "raw ETL: build {}, {} CPU(s), {}-bit pointers, {} of {} buffer(s) present{}{}, events lost {}, buffers lost {}",
        i.build,
        i.cpus,
        i.pointer_size * 8,
        i.buffers,
        i.buffers_written,
        if i.compressed { format!(", {} compressed", i.compressed_buffers) } else { String::new() },
        if i.circular { ", circular" } else { "" },
        i.events_lost,
        i.buffers_lost
    ));
    reconcile(&mut rep);
    rep
}

/// How many malformed-sequence offsets a file report keeps.
const MAX_MALFORMED_OFFSETS: usize = 8;

/// Incremental text decoding: bytes in, UTF-8 appended to a `String`, with
/// partial characters carried to the next block. Gives the same text as
/// [`encoding::decode`] on the whole input.
struct TextStream {
    encoding: TextEncoding,
    kind: StreamKind,
    /// Input bytes consumed so far.
    consumed: u64,
    /// Bytes of an incomplete UTF-8 sequence at the end of the last block.
    carry: Vec<u8>,
    started: bool,
    malformed: Vec<u64>,
    malformed_count: u64,
    truncated: bool,
}

enum StreamKind {
    Utf8,
    /// UTF-16 and other WHATWG encodings (encoding_rs streaming decoder,
    /// with an ASCII fast path for UTF-16).
    Rs(encoding::StreamDecoder),
    /// OEM code pages: stateless byte → char tables.
    SingleByte(&'static [char; 128]),
}

impl TextStream {
    fn new(encoding: TextEncoding) -> Self {
        use oem_cp::code_table::{DECODING_TABLE_CP437, DECODING_TABLE_CP850};
        let kind = match encoding {
            TextEncoding::Utf8 | TextEncoding::Utf8Bom => StreamKind::Utf8,
            TextEncoding::Utf16Le { .. } => StreamKind::Rs(encoding::StreamDecoder::utf16(false)),
            TextEncoding::Utf16Be { .. } => StreamKind::Rs(encoding::StreamDecoder::utf16(true)),
            TextEncoding::Cp437 => StreamKind::SingleByte(&DECODING_TABLE_CP437),
            TextEncoding::Cp850 => StreamKind::SingleByte(&DECODING_TABLE_CP850),
            TextEncoding::Whatwg(e) => StreamKind::Rs(encoding::StreamDecoder::whatwg(e)),
        };
        TextStream {
            encoding,
            kind,
            consumed: 0,
            carry: Vec::new(),
            started: false,
            malformed: Vec::new(),
            malformed_count: 0,
            truncated: false,
        }
    }

    fn bad(&mut self, at: u64) {
        self.malformed_count += 1;
        if self.malformed.len() < MAX_MALFORMED_OFFSETS {
            self.malformed.push(at);
        }
    }

    /// Decodes the next block (`last`: no more input follows) onto `out`.
    fn push(&mut self, bytes: &[u8], last: bool, out: &mut String) {
        let base = self.consumed;
        self.consumed += bytes.len() as u64;
        match &mut self.kind {
            StreamKind::Utf8 => {
                let mut body = bytes;
                let mut at = base;
                if !self.started && self.carry.is_empty() && body.len() < 3 && !last {
                    // Too short to see a BOM yet: wait for more.
                    self.carry.extend_from_slice(body);
                    return;
                }
                let joined;
                if !self.carry.is_empty() {
                    at -= self.carry.len() as u64;
                    let mut j = std::mem::take(&mut self.carry);
                    j.extend_from_slice(body);
                    joined = j;
                    body = &joined;
                }
                if !self.started {
                    self.started = true;
                    if let Some(b) = body.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
                        body = b;
                        at += 3;
                    }
                }
                // Keep an incomplete sequence at the end for the next block.
                let keep = if last { 0 } else { incomplete_utf8_tail(body) };
                let (now, later) = body.split_at(body.len() - keep);
                self.carry.extend_from_slice(later);
                self.utf8(now, at, last, out);
            }
            StreamKind::Rs(dec) => {
                self.started = true;
                let mut src = bytes;
                let mut pos = base;
                let mut bad = Vec::new();
                loop {
                    let need = dec
                        .max_utf8_buffer_length_without_replacement(src.len())
                        .unwrap_or(src.len().saturating_mul(3))
                        .max(16);
                    out.reserve(need);
                    let (res, read) = dec.decode_to_string_without_replacement(src, out, last);
                    src = src.get(read..).unwrap_or_default();
                    pos += read as u64;
                    match res {
                        DecoderResult::InputEmpty => break,
                        DecoderResult::OutputFull => continue,
                        DecoderResult::Malformed(len, after) => {
                            bad.push(pos.saturating_sub(u64::from(len) + u64::from(after)));
                            out.push('\u{FFFD}');
                        }
                    }
                }
                for b in bad {
                    self.bad(b);
                }
                if last
                    && matches!(
                        self.encoding,
                        TextEncoding::Utf16Le { .. } | TextEncoding::Utf16Be { .. }
                    )
                    && self.consumed % 2 == 1
                {
                    self.truncated = true;
                }
            }
            StreamKind::SingleByte(table) => {
                let table: &[char; 128] = table;
                out.reserve(bytes.len());
                let mut rest = bytes;
                while !rest.is_empty() {
                    let ascii = rest.iter().position(|b| *b >= 0x80).unwrap_or(rest.len());
                    let (a, r) = rest.split_at(ascii);
                    // ASCII bytes are valid UTF-8 as they are.
                    out.push_str(std::str::from_utf8(a).unwrap_or_default());
                    if let Some((&b, r2)) = r.split_first() {
                        out.push(
                            table
                                .get(usize::from(b - 0x80))
                                .copied()
                                .unwrap_or('\u{FFFD}'),
                        );
                        rest = r2;
                    } else {
                        rest = r;
                    }
                }
            }
        }
    }

    fn utf8(&mut self, body: &[u8], at: u64, last: bool, out: &mut String) {
        if let Ok(s) = std::str::from_utf8(body) {
            out.push_str(s);
            return;
        }
        out.reserve(body.len());
        for chunk in body.utf8_chunks() {
            out.push_str(chunk.valid());
            let inv = chunk.invalid();
            if !inv.is_empty() {
                let off = inv.as_ptr() as usize - body.as_ptr() as usize;
                self.bad(at + off as u64);
                out.push('\u{FFFD}');
                self.truncated = last && off + inv.len() == body.len();
            }
        }
    }

    /// File-level notes, as the whole-file decode words them.
    fn report(&self, rep: &mut FileReport) {
        let name = self.encoding.name();
        rep.file_error |= self.truncated || self.malformed_count > 0;
        if self.truncated {
            rep.notes.push(format!(
                "{name}: input ends in the middle of a character (truncated file?); the partial character was dropped"
            ));
        }
        if self.malformed_count > 0 && !self.truncated {
            rep.notes.push(format!(
                "{} malformed {name} sequence(s) replaced by U+FFFD (first at byte offset {})",
                self.malformed_count,
                self.malformed.first().copied().unwrap_or(0)
            ));
        }
    }
}

/// Length of an incomplete (but so far valid) UTF-8 sequence at the end of
/// `b`, which the next block may complete.
fn incomplete_utf8_tail(b: &[u8]) -> usize {
    for back in 1..=3.min(b.len()) {
        let i = b.len() - back;
        let byte = b[i];
        if byte & 0xC0 == 0x80 {
            continue; // continuation byte: look further back
        }
        let need = match byte {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 0,
        };
        return if need > back { back } else { 0 };
    }
    0
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Cuts `text` into chunks of about `target` bytes, each starting at a
/// line that starts a record, and returns (first line number, chunk).
pub fn split_chunks(text: &str, format: Format, target: usize) -> Vec<(u64, &str)> {
    if !format.splittable() || text.len() <= target || target == 0 {
        return vec![(1, text)];
    }
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut line_no = 1u64;
    while start < bytes.len() {
        let mut cut = (start + target).min(bytes.len());
        // Advance to the next line start that begins a record.
        while cut < bytes.len() {
            match memchr::memchr(b'\n', &bytes[cut..]) {
                None => {
                    cut = bytes.len();
                }
                Some(i) => {
                    cut += i + 1;
                    if cut >= bytes.len() {
                        break;
                    }
                    let end = memchr::memchr(b'\n', &bytes[cut..]).map_or(bytes.len(), |j| cut + j);
                    if format.is_record_start(&text[cut..end]) {
                        break;
                    }
                }
            }
        }
        let chunk = &text[start..cut];
        out.push((line_no, chunk));
        line_no += memchr::memchr_iter(b'\n', chunk.as_bytes()).count() as u64;
        start = cut;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::common::count_lines;

    fn memory_file(name: &str, bytes: Vec<u8>) -> InputFile {
        InputFile {
            name: name.into(),
            size: bytes.len() as u64,
            origin: Origin::Memory(Arc::new(bytes)),
        }
    }

    fn netsh_text(records: usize) -> String {
        let mut t = String::new();
        for i in 0..records {
            t.push_str(&format!(
                "[0]0A90.0B2C::2010/10/06-14:02:03.{:09} [Microsoft-Windows-TCPIP]TCP: connection 0x8921DD28: Sent data with number of bytes = {} and Sequence number = 7. é\n",
                i,
                i + 2
            ));
            if i % 7 == 0 {
                t.push_str("garbage line ü\n\n");
            }
        }
        t
    }

    /// Streaming with tiny blocks (cutting characters and records) gives
    /// the same events, counts and line numbers as one whole-text decode.
    fn same_as_whole(bytes: Vec<u8>, text: &str, format: Format) {
        let whole = decode::decode_text(format, 0, 1, text).unwrap();
        for (block, chunk) in [(1 << 16, 1 << 10), (70_001, 333), (1 << 20, 1 << 22)] {
            let opts = RunOptions {
                block_bytes: block,
                chunk_bytes: chunk,
                ..RunOptions::default()
            };
            let f = memory_file("x", bytes.clone());
            for (rep, events) in in_each_pool_mode(|| decode_file(0, &f, &opts)) {
                same_decode(&rep, &events, &whole, text, format, block);
            }
        }
    }

    /// `run` from outside any pool (pipelined when the global pool has
    /// more than one thread), from a thread of a two-thread pool (work
    /// stealing block by block), and on one thread (inline).
    fn in_each_pool_mode<T: Send>(run: impl Fn() -> T + Send + Sync) -> Vec<T> {
        let mut out = vec![run()];
        for n in [2, 1] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap();
            out.push(pool.install(&run));
        }
        out
    }

    fn same_decode(
        rep: &FileReport,
        events: &[Event],
        whole: &Sink,
        text: &str,
        format: Format,
        block: usize,
    ) {
        assert_eq!(rep.format, Some(format));
        assert_eq!(rep.lines, count_lines(text), "block {block}");
        assert_eq!(rep.counts, whole.counts, "block {block}");
        assert_eq!(rep.counts.total(), rep.lines);
        assert_eq!(events.len(), whole.events.len());
        for (a, b) in events.iter().zip(&whole.events) {
            assert_eq!(a.source, b.source);
            assert_eq!(a.message, b.message);
            assert_eq!(a.bytes, b.bytes);
        }
        assert!(!rep.file_error, "{:?}", rep.notes);
    }

    #[test]
    fn streaming_utf8_across_blocks_matches_whole_decode() {
        let t = netsh_text(3000);
        assert!(t.len() > 3 * 70_001);
        same_as_whole(t.clone().into_bytes(), &t, Format::NetshText);
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(t.as_bytes());
        same_as_whole(bom, &t, Format::NetshText);
    }

    /// `keep_event` sees events once they are final: netsh events in their
    /// chunk, PktMon text events after the pass that names drops from the
    /// file header (which needs the chunks before). The file still counts
    /// every decoded event.
    #[test]
    fn keep_event_filters_final_events_and_counts_all() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let pktmon = root.join("pktmon/seed003_utf16le_crlf");
        let pktmon_file = std::fs::read_dir(&pktmon)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "txt"))
            .unwrap();
        // Events of a whole decode, each kept or not by a line-number rule
        // that also sheds the message of the odd lines it keeps.
        fn keep(ev: &mut Event) -> bool {
            if ev.source.line.is_multiple_of(3) {
                return false;
            }
            if ev.source.line % 2 == 1 {
                ev.message.clear();
            }
            true
        }
        for (path, format) in [
            (root.join("seed002_netsh.txt"), Format::NetshText),
            (pktmon_file, Format::PktmonText),
        ] {
            let bytes = std::fs::read(&path).unwrap();
            let f = memory_file("x", bytes);
            let small = RunOptions {
                block_bytes: 1 << 16,
                chunk_bytes: 1 << 9,
                ..RunOptions::default()
            };
            let (whole_rep, mut whole) = decode_file(0, &f, &small);
            whole.retain_mut(keep);
            let opts = RunOptions {
                keep_event: Some(keep),
                ..small.clone()
            };
            for (mode, (rep, events)) in in_each_pool_mode(|| decode_file(0, &f, &opts))
                .into_iter()
                .enumerate()
            {
                assert_eq!(rep.format, Some(format));
                assert_eq!(rep.events, whole_rep.events);
                assert!(rep.events > events.len() as u64, "{path:?}");
                assert_eq!(events, whole, "{path:?} mode {mode}");
            }
        }
    }

    #[test]
    fn streaming_utf16le_across_blocks_matches_whole_decode() {
        let t = netsh_text(3000).replace('\n', "\r\n");
        let mut b = vec![0xFF, 0xFE];
        for u in t.encode_utf16() {
            b.extend_from_slice(&u.to_le_bytes());
        }
        same_as_whole(b, &t, Format::NetshText);
    }

    #[test]
    fn streaming_reports_truncated_and_malformed_input() {
        let t = netsh_text(50);
        let mut b: Vec<u8> = Vec::new();
        for u in t.encode_utf16() {
            b.extend_from_slice(&u.to_le_bytes());
        }
        b.push(b'x');
        let opts = RunOptions {
            encoding: Some(TextEncoding::Utf16Le { bom: false }),
            ..RunOptions::default()
        };
        let (rep, _) = decode_file(0, &memory_file("t", b), &opts);
        assert!(rep.file_error);
        assert!(
            rep.notes.iter().any(|n| n.contains("truncated")),
            "{:?}",
            rep.notes
        );

        let mut b = t.clone().into_bytes();
        b.insert(100, 0xFF);
        let opts = RunOptions {
            encoding: Some(TextEncoding::Utf8),
            ..RunOptions::default()
        };
        let (rep, _) = decode_file(0, &memory_file("m", b), &opts);
        assert!(
            rep.notes
                .iter()
                .any(|n| n.contains("malformed") && n.contains("offset 100")),
            "{:?}",
            rep.notes
        );
    }

    #[test]
    fn incomplete_utf8_tails() {
        assert_eq!(incomplete_utf8_tail(b"ab"), 0);
        assert_eq!(incomplete_utf8_tail(&[b'a', 0xC3]), 1);
        assert_eq!(incomplete_utf8_tail(&[0xE2, 0x82]), 2);
        assert_eq!(incomplete_utf8_tail(&[0xE2, 0x82, 0xAC]), 0);
        assert_eq!(incomplete_utf8_tail(&[0xF0, 0x9F, 0x98]), 3);
    }

    #[test]
    fn last_record_start_skips_continuations_and_partial_line() {
        let t = "[0]a\n\tcont\n[1]b\n\tcont\n[2]partial";
        assert_eq!(
            last_record_start(t, Format::NetshText),
            Some(t.find("[1]").unwrap())
        );
        assert_eq!(last_record_start("[0]a\n\tx\n", Format::NetshText), None);
    }

    #[test]
    fn chunks_start_at_records_and_keep_line_numbers() {
        let mut t = String::new();
        for i in 0..100 {
            t.push_str(&format!(
                "[0]0000.0000::2025/03/27-16:12:13.9 [P]line {i}\n\tcontinuation {i}\n"
            ));
        }
        let chunks = split_chunks(&t, Format::NetshText, 300);
        assert!(chunks.len() > 5);
        let mut expect_line = 1;
        let mut joined = String::new();
        for (first, c) in &chunks {
            assert_eq!(*first, expect_line);
            assert!(c.starts_with('['), "chunk starts mid-record: {c:?}");
            expect_line += count_lines(c);
            joined.push_str(c);
        }
        assert_eq!(joined, t);
    }

    /// A raw `.etl` streams through the pipeline from memory (a zip entry)
    /// and from disk with the events, counts and notes of the whole-file
    /// decode, its windows reaching the consumer one by one.
    #[test]
    fn etl_streams_from_memory_and_disk_like_the_whole_file_decode() {
        use crate::etl::testutil::{EtlWriter, TestEvent, pktmon_packet_payload, tcp_frame};
        let mut w = EtlWriter::new(3);
        w.buffer_size = 4096;
        w.compress = true;
        for i in 0..12_000u64 {
            let frame = tcp_frame([10, 0, 0, 1], 5000, [10, 0, 0, 2], 443, 0x10, i as u32);
            w.push(TestEvent {
                cpu: (i % 3) as u32,
                raw_ts: w.start_raw + 100 + i as i64,
                provider: crate::etl::pktmon::PROVIDER,
                id: 160,
                version: 0,
                keyword: 0x10,
                pid: 4,
                tid: 8,
                payload: pktmon_packet_payload(i, 1, 1, 3, 1, 7, 1, 0, 0, 60, &frame),
                ext: Vec::new(),
            });
        }
        let bytes = w.finish();
        let whole = crate::etl::decode_etl(&bytes, 0);
        assert_eq!(whole.events.len(), 12_000);
        let path = std::env::temp_dir().join(format!("etwnet-pipeline-{}.etl", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        let progress = Arc::new(AtomicU64::new(0));
        let opts = RunOptions {
            progress: Some(progress.clone()),
            ..RunOptions::default()
        };
        let on_disk = InputFile {
            name: "d.etl".into(),
            size: bytes.len() as u64,
            origin: Origin::File(path.clone()),
        };
        for f in [memory_file("m.etl", bytes.clone()), on_disk] {
            progress.store(0, Ordering::Relaxed);
            let mut batches = 0;
            let mut events = Vec::new();
            let rep = decode_file_stream(0, &f, &opts, &mut |mut e| {
                batches += 1;
                events.append(&mut e);
            });
            assert_eq!(rep.format, Some(Format::Etl), "{}", f.name);
            assert_eq!(rep.size, bytes.len() as u64);
            assert_eq!(progress.load(Ordering::Relaxed), bytes.len() as u64);
            assert!(batches > 1, "{}: {batches} batch(es)", f.name);
            assert_eq!(rep.lines, whole.records);
            assert_eq!(rep.counts, whole.counts);
            assert_eq!(rep.events, 12_000);
            assert_eq!(rep.diagnostics, whole.diagnostics);
            assert!(rep.notes.iter().any(|n| n.starts_with("raw ETL: build")));
            assert!(!rep.file_error);
            assert!(events == whole.events, "{}: events differ", f.name);
        }
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn unsplittable_formats_stay_whole() {
        let t = "a\n".repeat(1000);
        assert_eq!(split_chunks(&t, Format::Tasklist, 10).len(), 1);
    }
}
