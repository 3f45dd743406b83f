//! Streaming decode of a raw `.etl` file, with memory flat in the file size.
//!
//! Pass 1 reads only the buffer headers, skipping from one to the next (a
//! header gives its buffer's size). Pass 2 walks each processor's buffers in
//! SequenceNumber order (which also undoes the wrap of circular files),
//! loading — reading, decompressing, walking the records of — a few buffers
//! of one processor at a time, in parallel, and merges the processors'
//! records by timestamp exactly as a whole-file merge does: the merge only
//! ever compares the next record of each processor, so a processor needs
//! its next buffer only once its current one is used up. Merged records are
//! decoded in parallel one window at a time; each window's events go to the
//! consumer, and a buffer is freed once its last record has been decoded.
//!
//! The output (events and their order, counts, diagnostics and their record
//! numbers, [`EtlInfo`]) is the whole-file decode's, whatever the window and
//! batch sizes: diagnostics found out of order (unreadable buffers, broken
//! records) are sorted back into the whole-file reporting order at the end.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, Read, Seek, SeekFrom};
use std::iter::Peekable;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use super::container::{self, BUFFER_HEADER_LEN, BufferInfo, HeaderKind, LogfileHeader, Record};
use super::eventmetadata::MetadataSet;
use super::{
    Clock, DecodeContext, Decoded, Diags, EtlInfo, EtlOptions, Frame, MAX_DIAGNOSTICS, Payload,
    decode_record, fill_info, is_event_metadata, may_use_metadata, ndiscap,
};
use crate::decode::{Diagnostic, LineClass, LineCounts};
use crate::event::{Event, FileId};

/// Where the bytes of an `.etl` file are read from.
pub enum EtlSource<'a> {
    /// The whole file in memory (a zip entry, a test): buffers are sliced,
    /// plain ones are not copied.
    Memory(&'a [u8]),
    /// A file on disk, read buffer by buffer (seek and read).
    File {
        file: std::fs::File,
        len: u64,
        /// The bytes of each buffer are added here as the decode reaches
        /// it (progress display).
        progress: Option<Arc<AtomicU64>>,
    },
}

impl<'a> EtlSource<'a> {
    /// A file on disk, its length taken now.
    pub fn file(file: std::fs::File, progress: Option<Arc<AtomicU64>>) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(EtlSource::File {
            file,
            len,
            progress,
        })
    }

    /// Size of the input in bytes.
    pub fn size(&self) -> u64 {
        match self {
            EtlSource::Memory(b) => b.len() as u64,
            EtlSource::File { len, .. } => *len,
        }
    }

    /// Up to `n` bytes at `offset` (fewer where the input ends).
    fn read(&mut self, offset: usize, n: usize) -> io::Result<Cow<'a, [u8]>> {
        match self {
            EtlSource::Memory(b) => {
                let start = offset.min(b.len());
                let end = start.saturating_add(n).min(b.len());
                Ok(Cow::Borrowed(b.get(start..end).unwrap_or(&[])))
            }
            EtlSource::File { file, len, .. } => {
                let want = (n as u64).min(len.saturating_sub(offset as u64));
                file.seek(SeekFrom::Start(offset as u64))?;
                let mut buf = Vec::with_capacity(want as usize);
                file.by_ref().take(want).read_to_end(&mut buf)?;
                Ok(Cow::Owned(buf))
            }
        }
    }

    /// The decode has reached `n` more bytes of the file.
    fn advance(&self, n: usize) {
        if let EtlSource::File {
            progress: Some(p), ..
        } = self
        {
            p.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}

/// How much a streaming decode holds at once (the output does not depend
/// on these).
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Merged records decoded (in parallel) and handed on per window. A
    /// PktMon packet event holds ~3 KB, so the default window is ~12 MB of
    /// events; larger windows buy no parallelism.
    pub window_records: usize,
    /// Decompressed bytes loaded ahead, shared out between the processors:
    /// one processor loads up to `load_bytes / processors` (at least one
    /// buffer) when its current buffer is used up.
    pub load_bytes: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            window_records: 1 << 12,
            load_bytes: 16 << 20,
        }
    }
}

/// Buffers one processor loads at once, at most (more buys no parallelism).
const MAX_LOAD_BUFFERS: usize = 64;
/// One processor's load goes up to at least this many bytes (when the
/// per-processor share of `load_bytes` is smaller), so that loads of small
/// buffers still run in parallel.
const MIN_LOAD_BYTES: usize = 2 << 20;

/// The events of one decoded window, in final order.
#[derive(Debug, Default)]
pub struct EtlBatch {
    pub events: Vec<Event>,
    /// Packet bytes (only with [`EtlOptions::keep_frames`]); `event_index`
    /// counts the events of the whole file, not of this batch.
    pub frames: Vec<Frame>,
}

/// What a streaming decode reports once the file is done.
#[derive(Debug, Clone, Default)]
pub struct EtlSummary {
    /// Trace records found, plus one per unreadable buffer or record.
    pub records: u64,
    pub diagnostics: Vec<Diagnostic>,
    pub counts: LineCounts,
    pub info: EtlInfo,
}

/// Diagnostics found out of reporting order, sorted back by `K` at the end;
/// only the first [`MAX_DIAGNOSTICS`] by key can ever be reported, so no
/// more are kept.
struct SortedDiags<K: Ord> {
    list: Vec<(K, Diagnostic)>,
}

impl<K: Ord> SortedDiags<K> {
    fn new() -> Self {
        SortedDiags { list: Vec::new() }
    }

    fn push(&mut self, key: K, d: Diagnostic) {
        self.list.push((key, d));
        if self.list.len() >= 2 * MAX_DIAGNOSTICS {
            self.trim();
        }
    }

    fn trim(&mut self) {
        self.list.sort_by(|a, b| a.0.cmp(&b.0));
        self.list.truncate(MAX_DIAGNOSTICS);
    }

    fn into_sorted(mut self) -> impl Iterator<Item = Diagnostic> {
        self.trim();
        self.list.into_iter().map(|(_, d)| d)
    }
}

fn error_diag(file: FileId, message: String) -> Diagnostic {
    Diagnostic {
        source: crate::event::SourceRef { file, line: 0 },
        class: LineClass::Error,
        message,
    }
}

/// Pass 1: the buffer headers, in file order.
fn index_buffers(
    src: &mut EtlSource<'_>,
    counts: &mut LineCounts,
    diags: &mut Diags,
) -> Vec<BufferInfo> {
    let size = src.size();
    let mut buffers = Vec::new();
    let mut offset = 0usize;
    while (offset as u64) < size {
        let head = match src.read(offset, BUFFER_HEADER_LEN) {
            Ok(h) => h,
            Err(e) => {
                counts.error += 1;
                diags.push(
                    0,
                    LineClass::Error,
                    format!("cannot read the buffer header at file offset {offset:#x}: {e}; rest of file skipped"),
                );
                break;
            }
        };
        match container::parse_buffer_header(&head, offset) {
            Ok(b) => {
                offset = offset.saturating_add(b.size);
                buffers.push(b);
            }
            Err(e) => {
                counts.error += 1;
                diags.push(0, LineClass::Error, format!("{e}; rest of file skipped"));
                break;
            }
        }
    }
    buffers
}

/// The bytes of a buffer that its payload is made from: all of a
/// compressed buffer, a plain one up to its filled offset (the rest is
/// padding).
fn read_raw<'a>(src: &mut EtlSource<'a>, b: &BufferInfo) -> Result<Cow<'a, [u8]>, String> {
    if let Some(e) = container::buffer_range_error(b, src.size()) {
        return Err(e);
    }
    let n = if b.is_compressed() {
        b.size
    } else {
        b.filled.min(b.size)
    };
    src.read(b.offset, n)
        .map_err(|e| format!("cannot read the buffer at file offset {:#x}: {e}", b.offset))
}

/// The log-file header: the first record of the first readable header
/// buffer (BufferType 4, or the buffer at offset 0) that holds one.
fn find_logfile_header(src: &mut EtlSource<'_>, buffers: &[BufferInfo]) -> Option<LogfileHeader> {
    for b in buffers {
        if b.buffer_type != container::BUFFER_TYPE_HEADER && b.offset != 0 {
            continue;
        }
        // An unreadable buffer is reported when pass 2 reaches it.
        let Ok(payload) = read_raw(src, b).and_then(|raw| container::payload_from_raw(raw, b))
        else {
            continue;
        };
        let records = container::parse_records(&payload, 0, b.cpu);
        if let Some(r) = records.records.first()
            && r.kind == HeaderKind::System
            && r.hook == 0
        {
            let header =
                container::parse_logfile_header(r.data(std::slice::from_ref(&payload)), r.raw_ts);
            if header.is_some() {
                return header;
            }
        }
    }
    None
}

/// The bytes a buffer occupies in the file.
type RawBuffer<'a> = Cow<'a, [u8]>;
/// A buffer's payload (decompressed) and its records.
type LoadedBuffer<'a> = (Cow<'a, [u8]>, container::BufferRecords);

/// One processor's buffers on their way through the merge.
struct CpuStream<'a> {
    /// Buffers not loaded yet (indices into the index), in SequenceNumber order.
    pending: VecDeque<usize>,
    /// Loaded buffers waiting their turn, with their records.
    loaded: VecDeque<(Payload<'a>, Vec<Record>)>,
    /// The buffer being merged, and its records not merged yet.
    current: Option<(Payload<'a>, Peekable<std::vec::IntoIter<Record>>)>,
    /// Where `current` sits in the window's payloads, once one of its
    /// records is in the window.
    slot: Option<u32>,
}

/// Pass 2's reading side: loads buffers per processor and hands out each
/// processor's next record.
struct Merger<'s, 'a> {
    src: &'s mut EtlSource<'a>,
    buffers: &'s [BufferInfo],
    streams: Vec<CpuStream<'a>>,
    /// Decompressed bytes one processor loads at once.
    load_bytes: usize,
    counts: LineCounts,
    file: FileId,
    /// Unreadable buffers, reported in file order.
    payload_errors: SortedDiags<usize>,
    /// Buffers with a broken record, reported in (cpu, sequence, offset) order.
    record_errors: SortedDiags<(u32, u64, usize)>,
}

impl<'a> Merger<'_, 'a> {
    /// Loads the next buffers of stream `s` (at least one).
    fn load(&mut self, s: usize) {
        self.load_streams(&[s]);
    }

    /// Loads the next buffers (at least one, up to the per-processor
    /// share) of each of `streams`, decompressing and walking all of them
    /// in one parallel pass. The merge starts by loading every processor's
    /// first buffers this way: loaded one processor at a time, a capture
    /// with one or two buffers per processor (most real ones: 16 CPUs, 17
    /// buffers in the largest) was decompressed on one thread.
    fn load_streams(&mut self, streams: &[usize]) {
        let mut batch: Vec<(usize, usize)> = Vec::new();
        for &s in streams {
            let Some(stream) = self.streams.get_mut(s) else {
                continue;
            };
            let first = batch.len();
            let mut bytes = 0usize;
            while let Some(&i) = stream.pending.front() {
                let Some(b) = self.buffers.get(i) else {
                    stream.pending.pop_front();
                    continue;
                };
                let size = b.filled.max(b.size);
                if batch.len() > first
                    && (bytes.saturating_add(size) > self.load_bytes
                        || batch.len() - first >= MAX_LOAD_BUFFERS)
                {
                    break;
                }
                bytes = bytes.saturating_add(size);
                batch.push((s, i));
                stream.pending.pop_front();
            }
        }
        // Reads in order, then decompression and record walks in parallel.
        let raws: Vec<(usize, usize, Result<RawBuffer<'a>, String>)> = batch
            .iter()
            .filter_map(|&(s, i)| {
                let b = self.buffers.get(i)?;
                self.src.advance(b.size);
                Some((s, i, read_raw(self.src, b)))
            })
            .collect();
        let buffers = self.buffers;
        let load_one = |(s, i, raw): (usize, usize, Result<RawBuffer<'a>, String>)| {
            let b = buffers.get(i)?;
            let payload = raw.and_then(|raw| container::payload_from_raw(raw, b));
            Some((
                s,
                i,
                payload.map(|p| {
                    let records = container::parse_records(&p, 0, b.cpu);
                    (p, records)
                }),
            ))
        };
        let loaded: Vec<(usize, usize, Result<LoadedBuffer<'a>, String>)> =
            if on_one_thread() || raws.len() <= 1 {
                raws.into_iter().filter_map(load_one).collect()
            } else {
                raws.into_par_iter().filter_map(load_one).collect()
            };
        for (s, i, result) in loaded {
            let Some(b) = buffers.get(i) else {
                continue;
            };
            match result {
                Err(e) => {
                    self.counts.error += 1;
                    self.payload_errors
                        .push(i, error_diag(self.file, format!("{e}; buffer skipped")));
                }
                Ok((payload, parsed)) => {
                    if let Some(e) = parsed.error {
                        self.counts.error += 1;
                        self.record_errors.push(
                            (b.cpu, b.sequence, b.offset),
                            error_diag(
                                self.file,
                                format!(
                                    "buffer at file offset {:#x} (cpu {}, sequence {}): {e}; rest of buffer skipped",
                                    b.offset, b.cpu, b.sequence
                                ),
                            ),
                        );
                    }
                    if !parsed.records.is_empty()
                        && let Some(stream) = self.streams.get_mut(s)
                    {
                        stream
                            .loaded
                            .push_back((Payload::new(payload), parsed.records));
                    }
                }
            }
        }
    }

    /// Timestamp of stream `s`'s next record, loading buffers as needed;
    /// `None` once the stream is used up.
    fn head(&mut self, s: usize) -> Option<i64> {
        loop {
            let stream = self.streams.get_mut(s)?;
            if let Some((_, records)) = &mut stream.current
                && let Some(r) = records.peek()
            {
                return Some(r.raw_ts);
            }
            stream.current = None;
            stream.slot = None;
            if let Some((payload, records)) = stream.loaded.pop_front() {
                stream.current = Some((payload, records.into_iter().peekable()));
                continue;
            }
            if stream.pending.is_empty() {
                return None;
            }
            self.load(s);
        }
    }

    /// Stream `s`'s next record, pointed at its payload's slot in
    /// `payloads` (added there on the buffer's first record in the window).
    fn take(&mut self, s: usize, payloads: &mut Vec<Payload<'a>>) -> Option<Record> {
        let stream = self.streams.get_mut(s)?;
        let (payload, records) = stream.current.as_mut()?;
        let mut r = records.next()?;
        let slot = match stream.slot {
            Some(slot) => slot,
            None => {
                payloads.push(payload.clone());
                let slot = (payloads.len() - 1) as u32;
                stream.slot = Some(slot);
                slot
            }
        };
        r.buffer = slot;
        Some(r)
    }

    /// A new window starts: no payload has a slot yet.
    fn new_window(&mut self) {
        for s in &mut self.streams {
            s.slot = None;
        }
    }
}

/// On one thread (`-j 1`, or a library caller on a one-thread pool)
/// buffers are loaded and records decoded inline, as the text pipeline
/// does: handing the work to the pool's only worker costs a handoff per
/// batch, and events built there are freed on the consumer's thread,
/// which for the allocator is the slower cross-thread free.
fn on_one_thread() -> bool {
    rayon::current_num_threads() <= 1
}

/// Pass 2's decoding side: what carries over from window to window.
struct WindowDecoder {
    /// The file's EventMetadata schemas, once read (see
    /// [`read_event_metadata`]); until then no decoded record needed them.
    metadata: Option<MetadataSet>,
    /// Stands in for `metadata` before it is read.
    no_metadata: MetadataSet,
    clock: Clock,
    default_pointer_size: u32,
    build: Option<u32>,
    file: FileId,
    keep_frames: bool,
    lean_packets: bool,
    ndis: ndiscap::Assembler,
    counts: LineCounts,
    diags: Diags,
    /// Record number of the window's first record.
    next_line: u64,
    /// Events handed on so far.
    events: usize,
}

impl WindowDecoder {
    /// Decodes one window of merged records (independent per record, so in
    /// parallel; what depends on earlier records — NDIS multi-event
    /// packets, Wi-Fi metadata — in record order) and hands its events on.
    fn decode(
        &mut self,
        records: &[Record],
        payloads: &[Payload<'_>],
        consumer: &mut dyn FnMut(EtlBatch),
    ) {
        let ctx = DecodeContext {
            good: payloads,
            metadata: self.metadata.as_ref().unwrap_or(&self.no_metadata),
            clock: self.clock,
            default_pointer_size: self.default_pointer_size,
            build: self.build,
            file: self.file,
            lean_packets: self.lean_packets,
        };
        let first_line = self.next_line;
        let decode_one = |(i, r): (usize, &Record)| {
            decode_record(&ctx.view(r, first_line + i as u64), ctx.metadata)
        };
        let decoded: Vec<Decoded> = if on_one_thread() {
            records.iter().enumerate().map(decode_one).collect()
        } else {
            records.par_iter().enumerate().map(decode_one).collect()
        };
        let mut batch = EtlBatch {
            events: Vec::with_capacity(decoded.len()),
            frames: Vec::new(),
        };
        for (i, (d, r)) in decoded.into_iter().zip(records).enumerate() {
            let line = first_line + i as u64;
            let d = match d {
                Decoded::Deferred => self.ndis.fragment(&ctx.view(r, line)),
                d => d,
            };
            match d {
                Decoded::Event(mut ev, frame) => {
                    self.counts.parsed += 1;
                    self.ndis.annotate(r, &mut ev);
                    if let (true, Some(f)) = (self.keep_frames, frame) {
                        let bytes = match f.owned {
                            Some(b) => b,
                            None => {
                                let data = r.data(payloads);
                                data.get(f.offset..f.offset + f.len).unwrap_or(&[]).to_vec()
                            }
                        };
                        batch.frames.push(Frame {
                            event_index: self.events + batch.events.len(),
                            link_type: f.link_type,
                            original_len: f.original_len,
                            bytes,
                        });
                    }
                    batch.events.push(*ev);
                }
                Decoded::Partial(ev, m) => {
                    self.counts.parsed += 1;
                    self.diags.push(line, LineClass::Parsed, m);
                    batch.events.push(*ev);
                }
                Decoded::Skipped | Decoded::Deferred => self.counts.skipped += 1,
                Decoded::Unknown(m) => {
                    self.counts.unknown += 1;
                    self.diags.push(line, LineClass::Unknown, m);
                }
                Decoded::Error(m) => {
                    self.counts.error += 1;
                    self.diags.push(line, LineClass::Error, m);
                }
            }
        }
        self.next_line += records.len() as u64;
        self.events += batch.events.len();
        if !batch.events.is_empty() || !batch.frames.is_empty() {
            consumer(batch);
        }
    }
}

/// Reads the file's EventMetadata before the first window with a record
/// whose decoding it can change. The records decoded before did not need
/// it, so the output is that of reading it before any record, while files
/// without such records (PktMon captures) never pay for the extra pass.
fn read_metadata_if_needed(
    decoder: &mut WindowDecoder,
    records: &[Record],
    merger: &mut Merger<'_, '_>,
    stream_buffers: &[Vec<usize>],
) {
    if decoder.metadata.is_none() && records.iter().any(may_use_metadata) {
        decoder.metadata = Some(read_event_metadata(
            merger.src,
            merger.buffers,
            stream_buffers,
        ));
    }
}

/// Buffers the metadata pre-pass loads at once (enough to keep the
/// threads busy; only the EventMetadata records are kept).
const METADATA_SCAN_BUFFERS: usize = 8;

/// An EventMetadata record found by the pre-pass: its place in the merge
/// (see [`read_event_metadata`]), its class type and its data.
type FoundMetadata = ((i64, usize, usize, usize), u8, Vec<u8>);

/// One buffer's EventMetadata records: (largest timestamp up to and
/// including the record, record index, class type, data), and the
/// largest timestamp of the buffer.
type BufferMetadata = (Vec<(i64, usize, u8, Vec<u8>)>, Option<i64>);

/// The pre-pass: every buffer is read again (decompressed, its records
/// walked) and the EventMetadata records are added in merged order, as
/// the whole-file reader adds them (a later schema for the same event
/// replaces an earlier one). The merge compares the next record of each
/// processor, so it emits records in the order of (largest timestamp of
/// the processor's records so far, processor, position): that key is
/// computed here without merging.
fn read_event_metadata(
    src: &mut EtlSource<'_>,
    buffers: &[BufferInfo],
    streams: &[Vec<usize>],
) -> MetadataSet {
    let mut found: Vec<FoundMetadata> = Vec::new();
    for (rank, order) in streams.iter().enumerate() {
        let mut running_max: Option<i64> = None;
        for (c, chunk) in order.chunks(METADATA_SCAN_BUFFERS).enumerate() {
            let raws: Vec<(&BufferInfo, Result<RawBuffer<'_>, String>)> = chunk
                .iter()
                .filter_map(|&i| buffers.get(i))
                .map(|b| (b, read_raw(src, b)))
                .collect();
            let scanned: Vec<BufferMetadata> = raws
                .into_par_iter()
                .map(|(b, raw)| scan_buffer_metadata(b, raw))
                .collect();
            for (j, (metas, buffer_max)) in scanned.into_iter().enumerate() {
                let position = c * METADATA_SCAN_BUFFERS + j;
                for (local_max, index, class_type, data) in metas {
                    let key_ts = running_max.map_or(local_max, |m| m.max(local_max));
                    found.push(((key_ts, rank, position, index), class_type, data));
                }
                running_max = match (running_max, buffer_max) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
        }
    }
    found.sort_by_key(|f| f.0);
    let mut set = MetadataSet::default();
    for (_, class_type, data) in found {
        // A bad one is reported where it stands, by `decode_record`.
        let _ = set.add_record(class_type, &data);
    }
    set
}

fn scan_buffer_metadata(b: &BufferInfo, raw: Result<RawBuffer<'_>, String>) -> BufferMetadata {
    // An unreadable buffer has no records in the merge either.
    let Ok(payload) = raw.and_then(|raw| container::payload_from_raw(raw, b)) else {
        return (Vec::new(), None);
    };
    let parsed = container::parse_records(&payload, 0, b.cpu);
    let mut max: Option<i64> = None;
    let mut metas = Vec::new();
    for (index, r) in parsed.records.iter().enumerate() {
        let m = max.map_or(r.raw_ts, |m| m.max(r.raw_ts));
        max = Some(m);
        if is_event_metadata(r) {
            let data = r.data(std::slice::from_ref(&payload)).to_vec();
            metas.push((m, index, r.opcode, data));
        }
    }
    (metas, max)
}

/// Decodes an `.etl` file, handing its events to `consumer` one window at a
/// time in final order; memory holds the buffer index, a few buffers per
/// processor and one window of records and events, whatever the file size.
pub fn decode_etl_stream(
    mut source: EtlSource<'_>,
    file: FileId,
    opts: EtlOptions,
    limits: StreamLimits,
    consumer: &mut dyn FnMut(EtlBatch),
) -> EtlSummary {
    let mut walk_counts = LineCounts::default();
    let mut walk_diags = Diags {
        file,
        list: Vec::new(),
    };
    let buffers = index_buffers(&mut source, &mut walk_counts, &mut walk_diags);
    let mut info = EtlInfo {
        buffers: buffers.len() as u32,
        compressed_buffers: buffers.iter().filter(|b| b.is_compressed()).count() as u32,
        ..EtlInfo::default()
    };

    let header = find_logfile_header(&mut source, &buffers);
    let mut header_diags = Diags {
        file,
        list: Vec::new(),
    };
    match &header {
        Some(h) => fill_info(&mut info, h),
        None => header_diags.push(
            0,
            LineClass::Error,
            "no log-file header record: timestamps are taken as FILETIME, pointer size 8"
                .to_string(),
        ),
    }

    // Per-CPU streams in SequenceNumber order (ties: file order).
    let mut order: Vec<usize> = (0..buffers.len()).collect();
    order.sort_by_key(|&i| buffers.get(i).map(|b| (b.cpu, b.sequence, b.offset)));
    let mut streams: Vec<CpuStream<'_>> = Vec::new();
    let mut stream_buffers: Vec<Vec<usize>> = Vec::new();
    let mut last_cpu = None;
    for i in order {
        let Some(b) = buffers.get(i) else {
            continue;
        };
        if last_cpu != Some(b.cpu) {
            streams.push(CpuStream {
                pending: VecDeque::new(),
                loaded: VecDeque::new(),
                current: None,
                slot: None,
            });
            stream_buffers.push(Vec::new());
            last_cpu = Some(b.cpu);
        }
        if let (Some(s), Some(all)) = (streams.last_mut(), stream_buffers.last_mut()) {
            s.pending.push_back(i);
            all.push(i);
        }
    }
    let load_bytes =
        (limits.load_bytes / streams.len().max(1)).max(MIN_LOAD_BYTES.min(limits.load_bytes));
    let mut merger = Merger {
        src: &mut source,
        buffers: &buffers,
        streams,
        load_bytes,
        counts: LineCounts::default(),
        file,
        payload_errors: SortedDiags::new(),
        record_errors: SortedDiags::new(),
    };
    let mut decoder = WindowDecoder {
        metadata: None,
        no_metadata: MetadataSet::default(),
        clock: Clock::from_header(header.as_ref()),
        default_pointer_size: header.as_ref().map(|h| h.pointer_size).unwrap_or(8),
        build: header.as_ref().map(|h| h.provider_version),
        file,
        keep_frames: opts.keep_frames,
        lean_packets: opts.lean_packets,
        ndis: ndiscap::Assembler::default(),
        counts: LineCounts::default(),
        diags: Diags {
            file,
            list: Vec::new(),
        },
        next_line: 1,
        events: 0,
    };

    // k-way merge by raw timestamp; each stream keeps its own order and
    // ties go to the lower CPU.
    let window_records = limits.window_records.max(1);
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> = BinaryHeap::new();
    let all: Vec<usize> = (0..merger.streams.len()).collect();
    merger.load_streams(&all);
    for s in 0..merger.streams.len() {
        if let Some(ts) = merger.head(s) {
            heap.push(Reverse((ts, s)));
        }
    }
    let mut records: Vec<Record> = Vec::with_capacity(window_records);
    let mut payloads: Vec<Payload<'_>> = Vec::new();
    while let Some(Reverse((_, s))) = heap.pop() {
        if let Some(r) = merger.take(s, &mut payloads) {
            records.push(r);
        }
        if let Some(ts) = merger.head(s) {
            heap.push(Reverse((ts, s)));
        }
        if records.len() >= window_records {
            read_metadata_if_needed(&mut decoder, &records, &mut merger, &stream_buffers);
            decoder.decode(&records, &payloads, consumer);
            records.clear();
            payloads.clear();
            merger.new_window();
        }
    }
    if !records.is_empty() {
        read_metadata_if_needed(&mut decoder, &records, &mut merger, &stream_buffers);
        decoder.decode(&records, &payloads, consumer);
    }
    drop(payloads);

    // Fragments of packets that were never completed were counted as
    // skipped while they waited; they are errors.
    let WindowDecoder {
        ndis,
        mut counts,
        diags: mut record_diags,
        ..
    } = decoder;
    for (line, m, n) in ndis.finish() {
        let n = n.min(counts.skipped);
        counts.skipped -= n;
        counts.error += n;
        record_diags.push(line, LineClass::Error, m);
    }
    counts.merge(&walk_counts);
    counts.merge(&merger.counts);

    // The whole-file reporting order: the header walk, unreadable buffers
    // (file order), the missing log-file header, broken records (per CPU in
    // sequence order), then the records in merged order.
    let diagnostics: Vec<Diagnostic> = walk_diags
        .list
        .into_iter()
        .chain(merger.payload_errors.into_sorted())
        .chain(header_diags.list)
        .chain(merger.record_errors.into_sorted())
        .chain(record_diags.list)
        .take(MAX_DIAGNOSTICS)
        .collect();
    EtlSummary {
        records: counts.total(),
        diagnostics,
        counts,
        info,
    }
}

#[cfg(test)]
mod tests {
    use super::super::eventmetadata::{PROVIDER as METADATA_CLASS, TYPE_EVENT_INFO};
    use super::super::oracle::decode_etl_whole;
    use super::super::testutil::{
        EtlWriter, PropertySpec, TestEvent, event_info_payload, ndis_fragment_payload,
        pktmon_packet_payload, tcp_frame,
    };
    use super::super::{EtlOutput, container::Guid, decode_etl_collect, ndiscap, pktmon};
    use super::*;

    const OTHER_PROVIDER: Guid = Guid::new(0x1234_5678, 1, 2, [3, 4, 5, 6, 7, 8, 9, 10]);
    /// A provider only the file's EventMetadata describes.
    const DESCRIBED: Guid = Guid::new(0x5EED_0001, 1, 2, [9, 8, 7, 6, 5, 4, 3, 2]);
    /// TDH in-type UINT32.
    const UINT32: u16 = 8;

    fn schema(field: &'static str) -> Vec<u8> {
        event_info_payload(
            DESCRIBED,
            9,
            0,
            "Described",
            "Task",
            "value %1",
            &[PropertySpec::scalar(field, UINT32, 0)],
        )
    }

    /// [`mixed_writer`] plus events of a provider that only the file's
    /// EventMetadata describes, the metadata appended at the end as a merge
    /// does: two different schemas for the same event at the same time on
    /// two CPUs (the merge order decides which one counts), an earlier one
    /// on a third CPU, and a broken one.
    fn metadata_writer(cpus: u32, n: u64) -> EtlWriter {
        let mut w = mixed_writer(cpus, n);
        let t0 = w.start_raw + 1000;
        for i in (n / 2..n).step_by(5) {
            let cpu = (i % u64::from(cpus)) as u32;
            let ts = t0 + (i as i64 / 2) * 37 + 3;
            w.push(TestEvent::new(
                cpu,
                ts,
                DESCRIBED,
                9,
                0,
                (i as u32).to_le_bytes().to_vec(),
            ));
        }
        let end = t0 + n as i64 * 40;
        let last_cpu = cpus.saturating_sub(1);
        w.push_classic(
            last_cpu,
            end,
            METADATA_CLASS,
            TYPE_EVENT_INFO,
            0,
            &schema("Early"),
        );
        w.push_classic(
            0,
            end + 5,
            METADATA_CLASS,
            TYPE_EVENT_INFO,
            0,
            &schema("First"),
        );
        w.push_classic(
            last_cpu.min(1),
            end + 5,
            METADATA_CLASS,
            TYPE_EVENT_INFO,
            0,
            &schema("Second"),
        );
        w.push_classic(0, end + 6, METADATA_CLASS, 0x22, 0, &[1, 2, 3]);
        w
    }

    /// PktMon packets (some dropped) over `cpus` CPUs with interleaved
    /// timestamps and equal-timestamp ties across CPUs, events of a provider
    /// without a decoder (more than `MAX_DIAGNOSTICS` of them, so the
    /// diagnostics cap is reached), and NDIS multi-event packets whose
    /// fragments are spread over many records (one never completed).
    fn mixed_writer(cpus: u32, n: u64) -> EtlWriter {
        let mut w = EtlWriter::new(cpus);
        w.buffer_size = 4096;
        let t0 = w.start_raw + 1000;
        for i in 0..n {
            let cpu = (i % u64::from(cpus)) as u32;
            // Pairs of CPUs share timestamps: ties go to the lower CPU.
            let ts = t0 + (i as i64 / 2) * 37;
            let frame = tcp_frame([10, 0, 0, 1], 50_000, [10, 0, 0, 2], 443, 0x02, i as u32);
            let drop = i % 10 == 9;
            let (reason, location) = if drop { (1204, 0xE000_4704) } else { (0, 0) };
            let payload = pktmon_packet_payload(
                i + 1,
                1,
                1,
                if i % 2 == 0 { 3 } else { 4 },
                1,
                7,
                1,
                reason,
                location,
                60,
                &frame,
            );
            w.push(TestEvent::new(
                cpu,
                ts,
                pktmon::PROVIDER,
                if drop { 170 } else { 160 },
                0x10,
                payload,
            ));
            if i % 3 != 1 {
                w.push(TestEvent::new(
                    cpu,
                    ts + 1,
                    OTHER_PROVIDER,
                    7,
                    0,
                    vec![1, 2, 3, 4],
                ));
            }
            if i % 25 == 0 {
                // A three-fragment NDIS packet on one thread, interleaved
                // with the other events of its CPU.
                let f = tcp_frame([10, 0, 0, 3], 1000, [10, 0, 0, 4], 80, 0x18, i as u32);
                let (a, b) = f.split_at(20);
                let (b, c) = b.split_at(10);
                let kw = [ndiscap::KW_PACKET_START, 0, ndiscap::KW_PACKET_END];
                let last = if i % 100 == 0 { 2 } else { 3 }; // some never end
                for (k, part) in [a, b, c].iter().enumerate().take(last) {
                    w.push(TestEvent::new(
                        cpu,
                        ts + 2 + k as i64,
                        ndiscap::PROVIDER,
                        1001,
                        kw[k],
                        ndis_fragment_payload(3, 3, part),
                    ));
                }
            }
        }
        w
    }

    fn assert_same(name: &str, got: &EtlOutput, want: &EtlOutput) {
        assert_eq!(got.info, want.info, "{name}: info");
        assert_eq!(got.counts, want.counts, "{name}: counts");
        assert_eq!(got.records, want.records, "{name}: records");
        assert_eq!(got.diagnostics, want.diagnostics, "{name}: diagnostics");
        assert_eq!(got.events.len(), want.events.len(), "{name}: event count");
        for (i, (a, b)) in got.events.iter().zip(&want.events).enumerate() {
            assert_eq!(a, b, "{name}: event {i}");
        }
        assert_eq!(got.frames, want.frames, "{name}: frames");
    }

    /// Window and load sizes that cut everywhere: one record per window,
    /// one buffer per load, and sizes that are not multiples of anything.
    const LIMITS: [(usize, usize); 4] = [(1, 1), (7, 1), (333, 10_000), (1 << 14, 64 << 20)];

    fn check_all_limits(name: &str, bytes: &[u8]) {
        for keep_frames in [false, true] {
            let opts = EtlOptions {
                keep_frames,
                ..Default::default()
            };
            let want = decode_etl_whole(bytes, 3, opts);
            assert_eq!(want.counts.total(), want.records, "{name}");
            for (window_records, load_bytes) in LIMITS {
                let limits = StreamLimits {
                    window_records,
                    load_bytes,
                };
                let got = decode_etl_collect(EtlSource::Memory(bytes), 3, opts, limits);
                assert_same(
                    &format!("{name} {limits:?} frames {keep_frames}"),
                    &got,
                    &want,
                );
            }
        }
    }

    fn variants(cpus: u32, n: u64) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for compress in [false, true] {
            for circular_lost in [0, 3] {
                let mut w = mixed_writer(cpus, n);
                w.compress = compress;
                w.circular_lost = circular_lost;
                out.push((
                    format!("{cpus} cpus, compressed {compress}, lost {circular_lost}"),
                    w.finish(),
                ));
            }
        }
        out
    }

    #[test]
    fn streaming_matches_the_whole_file_decode() {
        for cpus in [1, 3, 4] {
            for (name, bytes) in variants(cpus, 400) {
                let want = decode_etl_whole(&bytes, 3, EtlOptions::default());
                assert!(want.events.len() > 300, "{name}");
                assert!(want.diagnostics.len() == MAX_DIAGNOSTICS, "{name}");
                assert!(want.counts.error > 0, "{name}: the unfinished NDIS packets");
                check_all_limits(&name, &bytes);
            }
        }
    }

    /// Damaged files: corrupt compressed streams and records, truncation in
    /// the middle of a buffer and of a header, a lost log-file header.
    #[test]
    fn streaming_matches_the_whole_file_decode_on_damaged_files() {
        for (name, bytes) in variants(3, 150) {
            check_damaged(&name, &bytes);
        }
    }

    /// Events described by the file's EventMetadata decode as in the whole
    /// file, the schemas read before the first window that needs them.
    #[test]
    fn streaming_reads_event_metadata_like_the_whole_file_decode() {
        for cpus in [1, 2, 3] {
            for compress in [false, true] {
                let mut w = metadata_writer(cpus, 300);
                w.compress = compress;
                let bytes = w.finish();
                let name = format!("metadata, {cpus} cpus, compressed {compress}");
                let want = decode_etl_whole(&bytes, 3, EtlOptions::default());
                let described: Vec<&Event> = want
                    .events
                    .iter()
                    .filter(|e| {
                        e.field("Early").is_some()
                            || e.field("First").is_some()
                            || e.field("Second").is_some()
                    })
                    .collect();
                assert!(described.len() >= 25, "{name}: {}", described.len());
                // The schema the merge meets last wins (a tie in time goes
                // to the lower CPU, so "Second" comes last).
                assert!(
                    described.iter().all(|e| e.field("Second").is_some()),
                    "{name}"
                );
                check_all_limits(&name, &bytes);
                check_damaged(&name, &bytes);
            }
        }
    }

    /// Damaged copies of `bytes`: corrupt compressed streams and records,
    /// truncation in the middle of a buffer and of a header, a lost
    /// log-file header, random byte damage.
    fn check_damaged(name: &str, bytes: &[u8]) {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let header_size = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        // Damage the start of every third data buffer's payload.
        let mut bad = bytes.to_vec();
        let mut at = header_size;
        let mut k = 0;
        while at + 0x60 < bad.len() {
            let size =
                u32::from_le_bytes([bad[at], bad[at + 1], bad[at + 2], bad[at + 3]]) as usize;
            if k % 3 == 1 {
                bad[at + 0x48..at + 0x60].fill(0xFF);
            }
            k += 1;
            at += size.max(0x48);
        }
        check_all_limits(&format!("{name}, damaged buffers"), &bad);
        check_all_limits(&format!("{name}, cut"), &bytes[..bytes.len() - 100]);
        check_all_limits(
            &format!("{name}, cut in a header"),
            &bytes[..header_size + 0x20],
        );
        let mut no_header = bytes.to_vec();
        no_header[header_size - 0x100..header_size].fill(0);
        no_header[0x48..0x50].fill(0x11);
        check_all_limits(&format!("{name}, no log-file header"), &no_header);
        for round in 0..12 {
            let mut b = bytes.to_vec();
            for _ in 0..6 {
                let r = next();
                let at = (r as usize) % b.len();
                b[at] = (r >> 32) as u8;
            }
            let cut = (next() as usize) % (b.len() + 1);
            let b = &b[..cut.max(b.len() / 2)];
            check_all_limits(&format!("{name}, random damage {round}"), b);
        }
    }

    /// A file on disk is read buffer by buffer and gives the same output.
    #[test]
    fn file_source_matches_memory_source() {
        let mut w = mixed_writer(4, 300);
        w.compress = true;
        w.circular_lost = 2;
        let bytes = w.finish();
        let path = std::env::temp_dir().join(format!("etwnet-stream-{}.etl", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        let want = decode_etl_whole(
            &bytes,
            3,
            EtlOptions {
                keep_frames: true,
                ..Default::default()
            },
        );
        let progress = Arc::new(AtomicU64::new(0));
        for (window_records, load_bytes) in LIMITS {
            let limits = StreamLimits {
                window_records,
                load_bytes,
            };
            let file = std::fs::File::open(&path).unwrap();
            let src = EtlSource::file(file, Some(progress.clone())).unwrap();
            let got = decode_etl_collect(
                src,
                3,
                EtlOptions {
                    keep_frames: true,
                    ..Default::default()
                },
                limits,
            );
            assert_same(&format!("file {limits:?}"), &got, &want);
        }
        let _ = std::fs::remove_file(&path);
        // Every buffer once per decode.
        assert_eq!(progress.load(Ordering::Relaxed), 4 * bytes.len() as u64);
    }

    /// Windows reach the consumer in order, each at most `window_records`
    /// records, and frames count the events of the whole file.
    #[test]
    fn batches_are_bounded_and_frames_index_the_whole_file() {
        let bytes = mixed_writer(2, 200).finish();
        let limits = StreamLimits {
            window_records: 50,
            load_bytes: 1,
        };
        let mut batches = Vec::new();
        let summary = decode_etl_stream(
            EtlSource::Memory(&bytes),
            0,
            EtlOptions {
                keep_frames: true,
                ..Default::default()
            },
            limits,
            &mut |b: EtlBatch| batches.push(b),
        );
        assert!(batches.len() > 5);
        let mut seen = 0;
        for b in &batches {
            assert!(!b.events.is_empty() && b.events.len() <= 50);
            for f in &b.frames {
                assert!(f.event_index >= seen && f.event_index < seen + b.events.len());
            }
            seen += b.events.len();
        }
        assert_eq!(seen as u64, summary.counts.parsed);
    }

    /// `lean_packets` leaves out exactly what correlation sheds: after
    /// `keep_for_correlation` every event equals the full decode's, and
    /// counts, diagnostics and frames are the same. Over the writer's mixed
    /// files (PktMon, NDIS capture, manifest events) and the real captures.
    #[test]
    fn lean_packets_leave_out_only_what_correlation_sheds() {
        let mut files = variants(3, 300);
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/samples-real/etl_binary");
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.path().extension().is_some_and(|x| x == "etl") {
                files.push((
                    e.path().display().to_string(),
                    std::fs::read(e.path()).unwrap(),
                ));
            }
        }
        let mut lean_events = 0;
        for (name, bytes) in &files {
            let full = decode_etl_whole(
                bytes,
                3,
                EtlOptions {
                    keep_frames: true,
                    ..Default::default()
                },
            );
            let lean_opts = EtlOptions {
                keep_frames: true,
                lean_packets: true,
            };
            let lean = decode_etl_collect(
                EtlSource::Memory(bytes),
                3,
                lean_opts,
                StreamLimits::default(),
            );
            assert_eq!(lean.counts, full.counts, "{name}");
            assert_eq!(lean.diagnostics, full.diagnostics, "{name}");
            assert_eq!(lean.frames, full.frames, "{name}");
            assert_eq!(lean.events.len(), full.events.len(), "{name}");
            for (i, (l, f)) in lean.events.iter().zip(&full.events).enumerate() {
                let (mut l, mut f) = (l.clone(), f.clone());
                if l.packet.is_some() && l.message.is_empty() {
                    lean_events += 1;
                }
                let kept = crate::correlate::keep_for_correlation(&mut f);
                assert_eq!(
                    crate::correlate::keep_for_correlation(&mut l),
                    kept,
                    "{name} {i}"
                );
                assert_eq!(l, f, "{name}: event {i}");
            }
        }
        assert!(lean_events > 1000, "{lean_events}");
    }

    /// The real PktMon captures (compressed, several CPUs) stream to the
    /// same output; skipped when the shared samples are absent.
    #[test]
    fn real_files_stream_like_the_whole_file_decode() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/samples-real/etl_binary");
        if !dir.is_dir() {
            eprintln!("skipped: {} absent", dir.display());
            return;
        }
        let mut n = 0;
        let entries = [dir.clone(), dir.join("non_network")]
            .into_iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flatten();
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_none_or(|x| x != "etl") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let name = path.display().to_string();
            let want = decode_etl_whole(
                &bytes,
                1,
                EtlOptions {
                    keep_frames: true,
                    ..Default::default()
                },
            );
            for (window_records, load_bytes) in [(1, 1), (997, 1), (1 << 14, 64 << 20)] {
                let limits = StreamLimits {
                    window_records,
                    load_bytes,
                };
                let got = decode_etl_collect(
                    EtlSource::Memory(&bytes),
                    1,
                    EtlOptions {
                        keep_frames: true,
                        ..Default::default()
                    },
                    limits,
                );
                assert_same(&format!("{name} {limits:?}"), &got, &want);
            }
            let src = EtlSource::file(std::fs::File::open(&path).unwrap(), None).unwrap();
            let got = decode_etl_collect(
                src,
                1,
                EtlOptions {
                    keep_frames: true,
                    ..Default::default()
                },
                StreamLimits::default(),
            );
            assert_same(&format!("{name} from disk"), &got, &want);
            n += 1;
        }
        assert!(n >= 6, "{n} real .etl files");
    }
}
