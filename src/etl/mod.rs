//! Raw `.etl` reader: container, compressed buffers, record headers, and
//! decoding of the network providers' records into [`Event`]s.
//!
//! For binary input the accounting unit is the trace record: every record
//! is classified once as parsed (turned into an event; a manifest event
//! decoded only in part also carries a note), skipped (known but
//! not decoded: the log-file header, kernel/system records, PktMon
//! diagnostic records), unknown (provider or event id without a decoder) or
//! error (a record or buffer that cannot be read), so the counts add up to
//! [`EtlOutput::records`]. A corrupt buffer counts as one error record and
//! the rest of the file still decodes.

use std::borrow::Cow;
use std::sync::Arc;

use crate::decode::{Diagnostic, LineClass, LineCounts};
use crate::event::{Event, FileId, SourceRef, Timestamp};

pub mod container;
pub mod eventmetadata;
pub mod manifest;
pub mod ndiscap;
#[cfg(test)]
mod oracle;
pub mod packet;
pub mod pktmon;
pub mod stream;
pub mod testutil;
pub mod text;
pub mod tracelogging;
pub mod xpress;

use container::{HeaderKind, LogfileHeader, Record};
pub use stream::{EtlBatch, EtlSource, EtlSummary, StreamLimits, decode_etl_stream};

/// How many diagnostics one file keeps (counts are always complete).
pub const MAX_DIAGNOSTICS: usize = 200;

/// What the file says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct EtlInfo {
    /// 4 or 8 (TRACE_LOGFILE_HEADER PointerSize).
    pub pointer_size: u32,
    pub cpus: u32,
    /// 1 QPC, 2 system time, 3 CPU cycle counter.
    pub clock_type: u32,
    pub perf_freq: i64,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    /// Windows build (ProviderVersion).
    pub build: u32,
    pub log_file_mode: u32,
    /// Buffers physically present in the file.
    pub buffers: u32,
    /// Buffers the header says were written.
    pub buffers_written: u32,
    pub compressed_buffers: u32,
    pub compressed: bool,
    pub circular: bool,
    pub events_lost: u32,
    pub buffers_lost: u32,
    pub logger_name: String,
    pub log_file_name: String,
}

/// Captured bytes of one packet event, for pcapng export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Index into [`EtlOutput::events`].
    pub event_index: usize,
    /// pcap LINKTYPE_* (1 Ethernet, 105 IEEE 802.11, 101 raw IP).
    pub link_type: u16,
    /// Length of the packet on the wire (may exceed `bytes.len()`).
    pub original_len: u32,
    pub bytes: Vec<u8>,
}

/// Everything decoded from one `.etl` file.
#[derive(Debug, Clone, Default)]
pub struct EtlOutput {
    pub events: Vec<Event>,
    /// Packet bytes (only when [`EtlOptions::keep_frames`] is set).
    pub frames: Vec<Frame>,
    /// Trace records found, plus one per unreadable buffer or record.
    pub records: u64,
    pub diagnostics: Vec<Diagnostic>,
    pub counts: LineCounts,
    pub info: EtlInfo,
}

/// Decoding options.
#[derive(Debug, Clone, Copy, Default)]
pub struct EtlOptions {
    /// Keep packet bytes in [`EtlOutput::frames`] (pcapng export).
    pub keep_frames: bool,
    /// Leave out of packet events the text that only an events output
    /// reads: PktMon packets' (not drops') fields, message and summary, and
    /// every MAC address — what `correlate::keep_for_correlation` sheds.
    /// For runs that write no events (`detect`, `timeline --no-events`,
    /// `drops`): rendering it was about half the cost of a packet event.
    pub lean_packets: bool,
}

/// Header sniff: the first buffer of an ETL file is the log-file header
/// buffer, whose first record is a SYSTEM_TRACE_HEADER with HookId 0.
pub fn is_etl(head: &[u8]) -> bool {
    let Some(h) = head.get(..0x50) else {
        return false;
    };
    let size = container::u32_at(h, 0).unwrap_or(0) as usize;
    let marker_ok = matches!(h[0x4A], 0x01 | 0x02) && h[0x4B] & 0xC0 == 0xC0;
    let hook = container::u16_at(h, 0x4E).unwrap_or(1);
    size >= 0x100 && marker_ok && hook == 0
}

/// Decodes a whole `.etl` file (no packet bytes kept).
pub fn decode_etl(bytes: &[u8], file: FileId) -> EtlOutput {
    decode_etl_with(bytes, file, EtlOptions::default())
}

/// Converts raw record timestamps to UTC.
#[derive(Debug, Clone, Copy)]
struct Clock {
    kind: u32,
    freq: i64,
    start_filetime: i64,
    start_raw: i64,
}

impl Clock {
    fn from_header(h: Option<&LogfileHeader>) -> Clock {
        match h {
            Some(h) => {
                let freq = match h.reserved_flags {
                    3 => i64::from(h.cpu_speed_mhz) * 1_000_000,
                    _ => h.perf_freq,
                };
                Clock {
                    kind: h.reserved_flags,
                    freq,
                    start_filetime: h.start_time,
                    start_raw: h.header_raw_ts,
                }
            }
            None => Clock {
                kind: 2,
                freq: 0,
                start_filetime: 0,
                start_raw: 0,
            },
        }
    }

    /// FILETIME = StartTime + (raw − raw at StartTime) × 10⁷ / frequency.
    fn to_timestamp(self, raw: i64) -> Option<Timestamp> {
        let filetime = if self.kind == 2 || self.freq <= 0 {
            raw
        } else {
            // 64-bit arithmetic when it cannot overflow (a day of QPC
            // ticks and more); 128-bit division is a library call, paid
            // once per record otherwise.
            let ticks = match raw
                .checked_sub(self.start_raw)
                .and_then(|d| d.checked_mul(10_000_000))
            {
                Some(scaled) => i128::from(scaled / self.freq),
                None => {
                    let delta = i128::from(raw) - i128::from(self.start_raw);
                    delta * 10_000_000 / i128::from(self.freq)
                }
            };
            i64::try_from(i128::from(self.start_filetime) + ticks).ok()?
        };
        Timestamp::from_filetime(u64::try_from(filetime).ok()?)
    }
}

/// Where a packet's bytes are: a range of the record's user data, or
/// bytes of their own (a packet reassembled from several records, or one
/// whose bytes had to be changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRef {
    /// pcap LINKTYPE_*.
    pub link_type: u16,
    /// Length on the wire.
    pub original_len: u32,
    /// Byte range within the record's user data (when `owned` is `None`).
    pub offset: usize,
    pub len: usize,
    pub owned: Option<Vec<u8>>,
}

impl FrameRef {
    /// `len` bytes at `offset` of the record's user data; link type and
    /// wire length are filled in by the provider decoder once known.
    pub fn in_record(offset: usize, len: usize) -> FrameRef {
        FrameRef {
            link_type: 0,
            original_len: 0,
            offset,
            len,
            owned: None,
        }
    }
}

/// How one record was classified by a provider decoder.
pub enum Decoded {
    /// An event, and where its packet bytes are when it is a packet.
    Event(Box<Event>, Option<FrameRef>),
    /// An event decoded only in part (the note says where it stopped).
    Partial(Box<Event>, String),
    Skipped,
    Unknown(String),
    Error(String),
    /// Needs the records before it (a fragment of a multi-event NDIS
    /// packet): decoded again, in record order, by [`ndiscap::Assembler`].
    Deferred,
}

/// A decompressed buffer payload, shared by the records that point into it
/// until the last of them is decoded.
#[derive(Clone)]
pub(crate) struct Payload<'a>(Arc<Cow<'a, [u8]>>);

impl<'a> Payload<'a> {
    pub(crate) fn new(bytes: Cow<'a, [u8]>) -> Self {
        Payload(Arc::new(bytes))
    }
}

impl AsRef<[u8]> for Payload<'_> {
    fn as_ref(&self) -> &[u8] {
        self.0.as_ref()
    }
}

/// What every record of one file is decoded with.
struct DecodeContext<'a> {
    /// The payloads `Record::buffer` indexes.
    good: &'a [Payload<'a>],
    /// Schemas the file carries for its own events (EventMetadata).
    metadata: &'a eventmetadata::MetadataSet,
    clock: Clock,
    default_pointer_size: u32,
    build: Option<u32>,
    file: FileId,
    /// [`EtlOptions::lean_packets`].
    lean_packets: bool,
}

impl<'a> DecodeContext<'a> {
    fn view<'r>(&self, r: &'r Record, line: u64) -> RecordView<'r>
    where
        'a: 'r,
    {
        RecordView {
            rec: r,
            data: r.data(self.good),
            ext: r.ext(self.good),
            pointer_size: r.pointer_size(self.default_pointer_size),
            ts: self.clock.to_timestamp(r.raw_ts),
            source: SourceRef {
                file: self.file,
                line,
            },
            build: self.build,
            lean_packets: self.lean_packets,
        }
    }
}

/// What a provider decoder gets for one record.
pub struct RecordView<'a> {
    pub rec: &'a Record,
    pub data: &'a [u8],
    /// The record's extended-data items (EVENT_HEADER_EXTENDED_DATA_ITEM
    /// chain), empty when it has none.
    pub ext: &'a [u8],
    pub pointer_size: u32,
    pub ts: Option<Timestamp>,
    pub source: SourceRef,
    /// Windows build of the capture (drop-reason numbering depends on it).
    pub build: Option<u32>,
    /// [`EtlOptions::lean_packets`].
    pub lean_packets: bool,
}

impl RecordView<'_> {
    /// An event pre-filled from the record header.
    pub fn base_event(&self, layer: crate::event::Layer, kind: crate::event::Kind) -> Event {
        let mut ev = Event::new(self.source, layer, kind);
        ev.ts = self.ts;
        ev.event_id = Some(u32::from(self.rec.id));
        ev.version = Some(self.rec.version);
        ev.header_pid = Some(self.rec.pid);
        ev.tid = Some(self.rec.tid);
        ev.cpu = Some(self.rec.cpu);
        ev
    }
}

struct Diags {
    file: FileId,
    list: Vec<Diagnostic>,
}

impl Diags {
    fn push(&mut self, line: u64, class: LineClass, message: String) {
        if self.list.len() < MAX_DIAGNOSTICS {
            self.list.push(Diagnostic {
                source: SourceRef {
                    file: self.file,
                    line,
                },
                class,
                message,
            });
        }
    }
}

/// Decodes a whole `.etl` file held in memory, collecting its events (see
/// [`decode_etl_stream`], which hands them on window by window instead).
pub fn decode_etl_with(bytes: &[u8], file: FileId, opts: EtlOptions) -> EtlOutput {
    decode_etl_collect(
        EtlSource::Memory(bytes),
        file,
        opts,
        StreamLimits::default(),
    )
}

/// [`decode_etl_stream`], collecting the events and frames.
pub fn decode_etl_collect(
    source: EtlSource<'_>,
    file: FileId,
    opts: EtlOptions,
    limits: StreamLimits,
) -> EtlOutput {
    let mut events: Vec<Event> = Vec::new();
    let mut frames: Vec<Frame> = Vec::new();
    let summary = decode_etl_stream(source, file, opts, limits, &mut |batch: EtlBatch| {
        events.extend(batch.events);
        frames.extend(batch.frames);
    });
    EtlOutput {
        events,
        frames,
        records: summary.records,
        diagnostics: summary.diagnostics,
        counts: summary.counts,
        info: summary.info,
    }
}

fn fill_info(info: &mut EtlInfo, h: &LogfileHeader) {
    info.pointer_size = h.pointer_size;
    info.cpus = h.number_of_processors;
    info.clock_type = h.reserved_flags;
    info.perf_freq = h.perf_freq;
    info.start_time = u64::try_from(h.start_time)
        .ok()
        .and_then(Timestamp::from_filetime);
    info.end_time = u64::try_from(h.end_time)
        .ok()
        .filter(|t| *t > 0)
        .and_then(Timestamp::from_filetime);
    info.build = h.provider_version;
    info.log_file_mode = h.log_file_mode;
    info.buffers_written = h.buffers_written;
    info.compressed = h.log_file_mode & container::MODE_COMPRESSED != 0;
    info.circular = h.log_file_mode & container::MODE_CIRCULAR != 0;
    info.events_lost = h.events_lost;
    info.buffers_lost = h.buffers_lost;
    info.logger_name = h.logger_name.clone();
    info.log_file_name = h.log_file_name.clone();
}

/// EventTraceGuid {68fdd900-4a3e-11d1-84f4-0000f80464e3}.
const EVENT_TRACE_GUID: container::Guid = container::Guid::new(
    0x68FD_D900,
    0x4A3E,
    0x11D1,
    [0x84, 0xF4, 0x00, 0x00, 0xF8, 0x04, 0x64, 0xE3],
);
/// SystemConfigEx {9B79EE91-B5FD-41C0-A243-4248E266E9D0}: relogger rundown.
const SYSTEM_CONFIG_EX_GUID: container::Guid = container::Guid::new(
    0x9B79_EE91,
    0xB5FD,
    0x41C0,
    [0xA2, 0x43, 0x42, 0x48, 0xE2, 0x66, 0xE9, 0xD0],
);

/// WinSAT assessment {ED54DFF8-C409-4CF6-BF83-05E1E61A09C4}: relogger rundown.
const WINSAT_GUID: container::Guid = container::Guid::new(
    0xED54_DFF8,
    0xC409,
    0x4CF6,
    [0xBF, 0x83, 0x05, 0xE1, 0xE6, 0x1A, 0x09, 0xC4],
);
const TRACE_METADATA_GUIDS: [container::Guid; 3] =
    [EVENT_TRACE_GUID, SYSTEM_CONFIG_EX_GUID, WINSAT_GUID];

/// Whether a decoder of our own handles `v` exactly: PktMon, NDIS packet
/// capture, or a provider in `schemas/` with this event id and version.
/// Those win over the file's EventMetadata (the typed slots and tests are
/// built on them); the metadata fills what they do not cover.
fn has_exact_schema(r: &Record) -> bool {
    r.kind == HeaderKind::Event
        && (r.guid == pktmon::PROVIDER
            || r.guid == ndiscap::PROVIDER
            || manifest::provider_for(&r.guid)
                .is_some_and(|pi| manifest::has_exact_schema(pi, u32::from(r.id), r.version)))
}

/// Whether the file's EventMetadata can change how `r` decodes: without
/// one (no such record, or only records of our own exact schemas) the
/// schemas need not be read before decoding starts.
fn may_use_metadata(r: &Record) -> bool {
    matches!(
        r.kind,
        HeaderKind::Event | HeaderKind::Classic | HeaderKind::Instance
    ) && !is_event_metadata(r)
        && !has_exact_schema(r)
        // Logger bookkeeping (EventTrace header, SystemConfigEx rundown)
        // stays skipped: every real capture has it, and looking for
        // metadata for it would decompress the file twice.
        && (r.kind == HeaderKind::Event || !TRACE_METADATA_GUIDS.contains(&r.guid))
}

/// A classic record of the EventMetadata class.
fn is_event_metadata(r: &Record) -> bool {
    matches!(r.kind, HeaderKind::Classic | HeaderKind::Instance)
        && r.guid == eventmetadata::PROVIDER
}

fn decode_record(v: &RecordView<'_>, metadata: &eventmetadata::MetadataSet) -> Decoded {
    if is_event_metadata(v.rec) {
        // Read before decoding began; checked again here so that a bad one
        // is reported at its own record.
        let mut probe = eventmetadata::MetadataSet::default();
        return match probe.add_record(v.rec.opcode, v.data) {
            Ok(()) => Decoded::Skipped,
            Err(e) => Decoded::Error(e),
        };
    }
    if !metadata.is_empty()
        && may_use_metadata(v.rec)
        && let Some(d) = metadata.decode(v)
    {
        return d;
    }
    match v.rec.kind {
        // Log-file header, partition info and other kernel/system records.
        HeaderKind::System | HeaderKind::CompactSystem | HeaderKind::PerfInfo => Decoded::Skipped,
        HeaderKind::Message => Decoded::Unknown(
            "WPP message record (needs TMF data, not decodable from the file)".to_string(),
        ),
        // Trace-session metadata written by the logger / relogger
        // (EventTrace header records, SystemConfigEx hardware rundown).
        HeaderKind::Classic | HeaderKind::Instance
            if TRACE_METADATA_GUIDS.contains(&v.rec.guid) =>
        {
            Decoded::Skipped
        }
        HeaderKind::Classic | HeaderKind::Instance => Decoded::Unknown(format!(
            "classic (MOF) record of class {{{}}} type {}",
            v.rec.guid, v.rec.opcode
        )),
        HeaderKind::Event => {
            if v.rec.guid == pktmon::PROVIDER {
                pktmon::decode(v)
            } else if v.rec.guid == ndiscap::PROVIDER {
                ndiscap::decode(v)
            } else if let Some(pi) = manifest::provider_for(&v.rec.guid) {
                manifest::decode(v, pi)
            } else if let Some(d) = tracelogging::decode(v) {
                // Self-describing: no provider is lost for want of a schema.
                d
            } else {
                Decoded::Unknown(format!(
                    "event {} v{} of provider {{{}}} has no decoder",
                    v.rec.id, v.rec.version, v.rec.guid
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 64-bit fast path converts exactly as the 128-bit formula does,
    /// on both sides of the start, near the overflow bound and past it.
    #[test]
    fn clock_conversion_matches_the_wide_formula() {
        let wide = |c: Clock, raw: i64| {
            let delta = i128::from(raw) - i128::from(c.start_raw);
            let ticks = delta * 10_000_000 / i128::from(c.freq);
            i64::try_from(i128::from(c.start_filetime) + ticks)
                .ok()
                .and_then(|f| Timestamp::from_filetime(u64::try_from(f).ok()?))
        };
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for freq in [10_000_000i64, 2_441_406, 3_000_000_000, 1] {
            let c = Clock {
                kind: 1,
                freq,
                start_filetime: 132_672_017_954_540_046,
                start_raw: 118_544_129_007,
            };
            let bound = i64::MAX / 10_000_000;
            let mut raws = vec![
                c.start_raw,
                c.start_raw - 1,
                c.start_raw + bound,
                c.start_raw + bound + 1,
                i64::MAX,
                i64::MIN,
                0,
            ];
            for _ in 0..2000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                raws.push((x as i64) >> (x % 48));
            }
            for raw in raws {
                assert_eq!(c.to_timestamp(raw), wide(c, raw), "freq {freq} raw {raw}");
            }
        }
    }
}
