//! The ETL container: buffers, the log-file header, trace-record headers.
//!
//! A file is a sequence of buffers, each with a 0x48-byte WMI_BUFFER_HEADER.
//! Buffers belong to one processor each and are written in flush order, so
//! the reader groups them by processor, orders each group by
//! SequenceNumber (which also undoes the wrap of circular files) and
//! merges the groups by event timestamp.

use std::borrow::Cow;

use super::xpress;

pub const BUFFER_HEADER_LEN: usize = 0x48;

/// WMI_BUFFER_HEADER BufferFlag bits.
pub const BUFFER_FLAG_COMPRESSED: u16 = 0x40;
/// WMI_BUFFER_HEADER BufferType of the first (log-file header) buffer.
pub const BUFFER_TYPE_HEADER: u16 = 4;

/// EVENT_HEADER Flags bits.
pub const EVENT_HEADER_FLAG_EXTENDED_INFO: u16 = 0x0001;
pub const EVENT_HEADER_FLAG_32_BIT_HEADER: u16 = 0x0020;
pub const EVENT_HEADER_FLAG_64_BIT_HEADER: u16 = 0x0040;

/// LogFileMode bits.
pub const MODE_CIRCULAR: u32 = 0x2;
pub const MODE_COMPRESSED: u32 = 0x0400_0000;

pub(crate) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

pub(crate) fn i64_at(b: &[u8], at: usize) -> Option<i64> {
    u64_at(b, at).map(|v| v as i64)
}

/// A GUID in its in-memory (mixed-endian) layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Guid {
    pub data1: u32,
    pub data2: u16,
    pub data3: u16,
    pub data4: [u8; 8],
}

impl Guid {
    pub const fn new(data1: u32, data2: u16, data3: u16, data4: [u8; 8]) -> Self {
        Guid {
            data1,
            data2,
            data3,
            data4,
        }
    }

    pub fn read(b: &[u8], at: usize) -> Option<Guid> {
        let s = b.get(at..at.checked_add(16)?)?;
        let mut data4 = [0u8; 8];
        data4.copy_from_slice(&s[8..16]);
        Some(Guid {
            data1: u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
            data2: u16::from_le_bytes([s[4], s[5]]),
            data3: u16::from_le_bytes([s[6], s[7]]),
            data4,
        })
    }

    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&self.data1.to_le_bytes());
        b[4..6].copy_from_slice(&self.data2.to_le_bytes());
        b[6..8].copy_from_slice(&self.data3.to_le_bytes());
        b[8..16].copy_from_slice(&self.data4);
        b
    }
}

impl std::fmt::Display for Guid {
    /// Lower-case registry form without braces, as pktmon prints IfGuid.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = &self.data4;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            self.data1, self.data2, self.data3, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]
        )
    }
}

/// One buffer as found in the file.
#[derive(Debug, Clone)]
pub struct BufferInfo {
    /// File offset of the buffer header.
    pub offset: usize,
    /// Bytes the buffer occupies in the file.
    pub size: usize,
    /// End of valid data, counted from the buffer start, uncompressed.
    pub filled: usize,
    pub sequence: u64,
    pub cpu: u32,
    pub flags: u16,
    pub buffer_type: u16,
    /// Flush time (raw clock) — used as a tie-breaker only.
    pub timestamp: i64,
}

impl BufferInfo {
    pub fn is_compressed(&self) -> bool {
        self.flags & BUFFER_FLAG_COMPRESSED != 0
    }
}

/// Reads the buffer header at `offset`; an error when it is not plausible.
pub fn read_buffer_header(file: &[u8], offset: usize) -> Result<BufferInfo, String> {
    let rest = file.get(offset..).unwrap_or(&[]);
    parse_buffer_header(rest.get(..BUFFER_HEADER_LEN).unwrap_or(rest), offset)
}

/// Parses a buffer header from the bytes at file offset `offset` (`h` may
/// be shorter than a header when the file ends there: that is an error).
pub fn parse_buffer_header(h: &[u8], offset: usize) -> Result<BufferInfo, String> {
    let h = h
        .get(..BUFFER_HEADER_LEN)
        .ok_or_else(|| format!("truncated buffer header at file offset {offset:#x}"))?;
    let size = u32_at(h, 0).unwrap_or(0) as usize;
    let saved = u32_at(h, 4).unwrap_or(0) as usize;
    let filled_offset = u32_at(h, 0x30).unwrap_or(0) as usize;
    let flags = u16_at(h, 0x34).unwrap_or(0);
    let buffer_type = u16_at(h, 0x36).unwrap_or(0);
    if size < BUFFER_HEADER_LEN {
        return Err(format!(
            "buffer at file offset {offset:#x} has impossible size {size}"
        ));
    }
    // Compressed buffers announce their uncompressed end in SavedOffset;
    // plain ones in Offset (SavedOffset is 0 in files still being written).
    let filled = if flags & BUFFER_FLAG_COMPRESSED != 0 {
        saved
    } else if (BUFFER_HEADER_LEN..=size).contains(&filled_offset) {
        filled_offset
    } else {
        saved.min(size)
    };
    Ok(BufferInfo {
        offset,
        size,
        filled,
        sequence: u64_at(h, 0x18).unwrap_or(0),
        cpu: u32::from(h[0x28]),
        flags,
        buffer_type,
        timestamp: i64_at(h, 0x10).unwrap_or(0),
    })
}

/// The buffer's event area (from 0x48 up to the filled offset), decompressed
/// when needed. The returned bytes are indexed from the buffer start, so
/// record offsets match the on-disk layout (the header part is zeroed for
/// compressed buffers).
pub fn buffer_payload<'a>(file: &'a [u8], b: &BufferInfo) -> Result<Cow<'a, [u8]>, String> {
    if let Some(e) = buffer_range_error(b, file.len() as u64) {
        return Err(e);
    }
    let raw = file.get(b.offset..b.offset + b.size).unwrap_or(&[]);
    payload_from_raw(Cow::Borrowed(raw), b)
}

/// Why buffer `b` cannot be read from a file of `file_len` bytes, if it
/// cannot.
pub fn buffer_range_error(b: &BufferInfo, file_len: u64) -> Option<String> {
    let fits = (b.offset as u64)
        .checked_add(b.size as u64)
        .is_some_and(|e| e <= file_len);
    (!fits).then(|| {
        format!(
            "buffer at file offset {:#x} claims {} bytes but the file ends at {:#x}",
            b.offset, b.size, file_len
        )
    })
}

/// [`buffer_payload`] from the buffer's own bytes (`raw`: the bytes at
/// `b.offset`, all `b.size` of a compressed buffer, a plain one's at least
/// up to its filled offset): a plain buffer keeps its allocation.
pub fn payload_from_raw<'a>(raw: Cow<'a, [u8]>, b: &BufferInfo) -> Result<Cow<'a, [u8]>, String> {
    if b.is_compressed() {
        let want = b.filled.checked_sub(BUFFER_HEADER_LEN).ok_or_else(|| {
            format!(
                "compressed buffer at file offset {:#x} announces {} bytes",
                b.offset, b.filled
            )
        })?;
        // A bound on the size keeps corrupt headers from allocating GiBs.
        if want > 64 * 1024 * 1024 {
            return Err(format!(
                "compressed buffer at file offset {:#x} announces {} bytes",
                b.offset, b.filled
            ));
        }
        let body = raw.get(BUFFER_HEADER_LEN..).unwrap_or(&[]);
        let mut out = Vec::with_capacity(BUFFER_HEADER_LEN + want);
        out.resize(BUFFER_HEADER_LEN, 0);
        xpress::decompress_into(body, want, &mut out)
            .map_err(|e| format!("compressed buffer at file offset {:#x}: {e}", b.offset))?;
        let got = out.len() - BUFFER_HEADER_LEN;
        if got != want {
            return Err(format!(
                "compressed buffer at file offset {:#x} decompressed to {got} bytes, header says {want}",
                b.offset,
            ));
        }
        Ok(Cow::Owned(out))
    } else {
        let filled = b.filled.min(raw.len());
        Ok(match raw {
            Cow::Borrowed(r) => Cow::Borrowed(r.get(..filled).unwrap_or(r)),
            Cow::Owned(mut r) => {
                r.truncate(filled);
                Cow::Owned(r)
            }
        })
    }
}

/// TRACE_LOGFILE_HEADER fields a reader uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogfileHeader {
    pub buffer_size: u32,
    pub version: u32,
    /// Windows build number (ProviderVersion).
    pub provider_version: u32,
    pub number_of_processors: u32,
    pub end_time: i64,
    pub timer_resolution: u32,
    pub maximum_file_size: u32,
    pub log_file_mode: u32,
    pub buffers_written: u32,
    pub pointer_size: u32,
    pub events_lost: u32,
    pub cpu_speed_mhz: u32,
    pub boot_time: i64,
    pub perf_freq: i64,
    /// FILETIME of the header event.
    pub start_time: i64,
    /// Clock type: 1 QPC, 2 system time, 3 CPU cycle counter.
    pub reserved_flags: u32,
    pub buffers_lost: u32,
    pub logger_name: String,
    pub log_file_name: String,
    /// Raw timestamp of the header event (the clock value at `start_time`).
    pub header_raw_ts: i64,
}

fn utf16z(b: &[u8], at: usize) -> (String, usize) {
    let mut units = Vec::new();
    let mut p = at;
    while let Some(u) = u16_at(b, p) {
        p += 2;
        if u == 0 {
            break;
        }
        units.push(u);
    }
    (String::from_utf16_lossy(&units), p)
}

/// Parses TRACE_LOGFILE_HEADER from the payload of the header event.
/// `data` starts right after the 0x20-byte SYSTEM_TRACE_HEADER.
pub fn parse_logfile_header(data: &[u8], header_raw_ts: i64) -> Option<LogfileHeader> {
    let pointer_size = u32_at(data, 0x2C)?;
    let ptr = match pointer_size {
        4 => 4,
        8 => 8,
        _ => return None,
    };
    // LoggerName and LogFileName pointers sit at 0x38, then the 0xB0-byte
    // TIME_ZONE_INFORMATION, then BootTime (8-aligned).
    let tz = 0x38 + 2 * ptr;
    let boot = tz + 0xB0;
    let (logger_name, next) = utf16z(data, boot + 0x20);
    let (log_file_name, _) = utf16z(data, next);
    Some(LogfileHeader {
        buffer_size: u32_at(data, 0)?,
        version: u32_at(data, 4)?,
        provider_version: u32_at(data, 8)?,
        number_of_processors: u32_at(data, 0x0C)?,
        end_time: i64_at(data, 0x10)?,
        timer_resolution: u32_at(data, 0x18)?,
        maximum_file_size: u32_at(data, 0x1C)?,
        log_file_mode: u32_at(data, 0x20)?,
        buffers_written: u32_at(data, 0x24)?,
        pointer_size,
        events_lost: u32_at(data, 0x30)?,
        cpu_speed_mhz: u32_at(data, 0x34)?,
        boot_time: i64_at(data, boot)?,
        perf_freq: i64_at(data, boot + 8)?,
        start_time: i64_at(data, boot + 0x10)?,
        reserved_flags: u32_at(data, boot + 0x18)?,
        buffers_lost: u32_at(data, boot + 0x1C)?,
        logger_name,
        log_file_name,
        header_raw_ts,
    })
}

/// Which trace-record header a record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderKind {
    /// SYSTEM_TRACE_HEADER (kernel / log-file header events).
    System,
    /// Compact system header.
    CompactSystem,
    /// EVENT_TRACE_HEADER (classic/MOF, EventMetadata).
    Classic,
    /// EVENT_INSTANCE_HEADER.
    Instance,
    /// PERFINFO_TRACE_HEADER.
    PerfInfo,
    /// EVENT_HEADER (manifest / TraceLogging providers).
    Event,
    /// WPP message header.
    Message,
}

/// One trace record, located inside a buffer payload.
#[derive(Debug, Clone)]
pub struct Record {
    pub kind: HeaderKind,
    /// Index of the buffer payload this record lives in.
    pub buffer: u32,
    /// Record start and total (unaligned) size within the payload.
    pub start: u32,
    pub size: u32,
    /// Start of user data within the payload.
    pub data_start: u32,
    /// Start and length of the extended-data items (EVENT_HEADER only).
    pub ext_start: u32,
    pub ext_len: u32,
    pub raw_ts: i64,
    pub cpu: u32,
    pub pid: u32,
    pub tid: u32,
    /// Provider (EVENT_HEADER) or class GUID (classic header).
    pub guid: Guid,
    pub id: u16,
    pub version: u8,
    pub level: u8,
    pub opcode: u8,
    pub task: u16,
    pub keyword: u64,
    /// EVENT_HEADER Flags, or 0.
    pub flags: u16,
    /// System header HookId / classic Class.Type.
    pub hook: u16,
}

impl Record {
    pub fn data<'a, P: AsRef<[u8]>>(&self, payloads: &'a [P]) -> &'a [u8] {
        payloads
            .get(self.buffer as usize)
            .and_then(|p| {
                p.as_ref()
                    .get(self.data_start as usize..(self.start + self.size) as usize)
            })
            .unwrap_or(&[])
    }

    pub fn ext<'a, P: AsRef<[u8]>>(&self, payloads: &'a [P]) -> &'a [u8] {
        payloads
            .get(self.buffer as usize)
            .and_then(|p| {
                p.as_ref()
                    .get(self.ext_start as usize..(self.ext_start + self.ext_len) as usize)
            })
            .unwrap_or(&[])
    }

    /// Pointer size of the provider that wrote this record.
    pub fn pointer_size(&self, file_default: u32) -> u32 {
        if self.flags & EVENT_HEADER_FLAG_64_BIT_HEADER != 0 {
            8
        } else if self.flags & EVENT_HEADER_FLAG_32_BIT_HEADER != 0 {
            4
        } else {
            file_default
        }
    }
}

fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// Result of walking one buffer.
#[derive(Debug, Default)]
pub struct BufferRecords {
    pub records: Vec<Record>,
    /// A record that could not be read; the rest of the buffer is skipped.
    pub error: Option<String>,
}

/// Walks the records of a buffer payload (indexed from the buffer start).
pub fn parse_records(payload: &[u8], buffer_index: u32, cpu: u32) -> BufferRecords {
    let mut out = BufferRecords::default();
    // Records take 100 bytes and more (header and payload); a guess on
    // the low side of the count saves most of the regrowth copies.
    out.records.reserve(payload.len() / 256);
    let mut pos = BUFFER_HEADER_LEN;
    let end = payload.len();
    while pos + 4 <= end {
        let Some(marker) = u32_at(payload, pos) else {
            break;
        };
        if marker == 0xFFFF_FFFF || marker == 0 {
            break;
        }
        let [_, _, header_type, marker_flags] = marker.to_le_bytes();
        let rec = if marker_flags & 0xC0 == 0xC0 {
            parse_trace_header(payload, pos, header_type, buffer_index, cpu)
        } else if marker_flags & 0xD0 == 0x90 {
            let size = usize::from(u16_at(payload, pos).unwrap_or(0));
            if size < 8 {
                Err(format!("WPP message record with size {size}"))
            } else {
                Ok(simple_record(
                    HeaderKind::Message,
                    buffer_index,
                    pos,
                    size,
                    8,
                    cpu,
                ))
            }
        } else {
            Err(format!("unrecognised record marker {marker:#010x}"))
        };
        match rec {
            Ok(r) => {
                let size = r.size as usize;
                if pos + size > end {
                    out.error = Some(format!(
                        "record at buffer offset {pos:#x} runs {} bytes past the buffer end",
                        pos + size - end
                    ));
                    break;
                }
                out.records.push(r);
                pos += align8(size);
            }
            Err(e) => {
                out.error = Some(format!("{e} at buffer offset {pos:#x}"));
                break;
            }
        }
    }
    out
}

fn simple_record(
    kind: HeaderKind,
    buffer: u32,
    pos: usize,
    size: usize,
    header_len: usize,
    cpu: u32,
) -> Record {
    Record {
        kind,
        buffer,
        start: pos as u32,
        size: size as u32,
        data_start: (pos + header_len) as u32,
        ext_start: 0,
        ext_len: 0,
        raw_ts: 0,
        cpu,
        pid: 0,
        tid: 0,
        guid: Guid::default(),
        id: 0,
        version: 0,
        level: 0,
        opcode: 0,
        task: 0,
        keyword: 0,
        flags: 0,
        hook: 0,
    }
}

fn parse_trace_header(
    p: &[u8],
    pos: usize,
    header_type: u8,
    buffer: u32,
    cpu: u32,
) -> Result<Record, String> {
    let g16 = |o: usize| u16_at(p, pos + o).unwrap_or(0);
    let g32 = |o: usize| u32_at(p, pos + o).unwrap_or(0);
    let g64 = |o: usize| i64_at(p, pos + o).unwrap_or(0);
    let check = |size: usize, min: usize, what: &str| -> Result<(), String> {
        if size < min {
            Err(format!("{what} record with size {size} (< {min})"))
        } else {
            Ok(())
        }
    };
    match header_type {
        // SYSTEM_TRACE_HEADER: Marker, Size/HookId, TID, PID, SystemTime, Kernel/User.
        0x01 | 0x02 => {
            let size = usize::from(g16(4));
            check(size, 0x20, "system")?;
            let mut r = simple_record(HeaderKind::System, buffer, pos, size, 0x20, cpu);
            r.hook = g16(6);
            r.version = g16(0) as u8;
            r.tid = g32(8);
            r.pid = g32(12);
            r.raw_ts = g64(16);
            Ok(r)
        }
        // Compact system header: as above without Kernel/User time.
        0x03 | 0x04 => {
            let size = usize::from(g16(4));
            check(size, 0x18, "compact system")?;
            let mut r = simple_record(HeaderKind::CompactSystem, buffer, pos, size, 0x18, cpu);
            r.hook = g16(6);
            r.tid = g32(8);
            r.pid = g32(12);
            r.raw_ts = g64(16);
            Ok(r)
        }
        // EVENT_TRACE_HEADER (0x30) and EVENT_INSTANCE_HEADER (0x38 + GUID).
        0x0A | 0x14 | 0x0B | 0x15 => {
            let instance = matches!(header_type, 0x0B | 0x15);
            let header_len = if instance { 0x48 } else { 0x30 };
            let size = usize::from(g16(0));
            check(size, header_len, "classic")?;
            let kind = if instance {
                HeaderKind::Instance
            } else {
                HeaderKind::Classic
            };
            let mut r = simple_record(kind, buffer, pos, size, header_len, cpu);
            r.opcode = p.get(pos + 4).copied().unwrap_or(0);
            r.hook = u16::from(r.opcode);
            r.level = p.get(pos + 5).copied().unwrap_or(0);
            r.version = g16(6) as u8;
            r.tid = g32(8);
            r.pid = g32(12);
            r.raw_ts = g64(16);
            r.guid = Guid::read(p, pos + 24).unwrap_or_default();
            Ok(r)
        }
        // PERFINFO_TRACE_HEADER: Marker, Size/HookId, SystemTime (+ extra words).
        0x10 | 0x11 => {
            let size = usize::from(g16(4));
            check(size, 0x10, "perfinfo")?;
            let mut r = simple_record(HeaderKind::PerfInfo, buffer, pos, size, 0x10, cpu);
            r.hook = g16(6);
            r.raw_ts = g64(8);
            Ok(r)
        }
        // EVENT_HEADER.
        0x12 | 0x13 => {
            let size = usize::from(g16(0));
            check(size, 0x50, "event")?;
            let mut r = simple_record(HeaderKind::Event, buffer, pos, size, 0x50, cpu);
            r.flags = g16(4);
            r.tid = g32(8);
            r.pid = g32(12);
            r.raw_ts = g64(16);
            r.guid = Guid::read(p, pos + 24).unwrap_or_default();
            r.id = g16(40);
            r.version = p.get(pos + 42).copied().unwrap_or(0);
            r.level = p.get(pos + 44).copied().unwrap_or(0);
            r.opcode = p.get(pos + 45).copied().unwrap_or(0);
            r.task = g16(46);
            r.keyword = g64(48) as u64;
            if r.flags & EVENT_HEADER_FLAG_EXTENDED_INFO != 0 {
                let ext_start = pos + 0x50;
                let mut q = ext_start;
                let limit = pos + size;
                loop {
                    // EVENT_HEADER_EXTENDED_DATA_ITEM: Reserved1, ExtType,
                    // Linkage (bit 0: another item follows), DataSize.
                    let linkage = u16_at(p, q + 4).ok_or("truncated extended item")?;
                    let data_size = usize::from(u16_at(p, q + 6).ok_or("truncated extended item")?);
                    q = q + 8 + align8(data_size);
                    if q > limit {
                        return Err("extended data items run past the record".to_string());
                    }
                    if linkage & 1 == 0 {
                        break;
                    }
                }
                r.ext_start = ext_start as u32;
                r.ext_len = (q - ext_start) as u32;
                r.data_start = q as u32;
            }
            Ok(r)
        }
        other => Err(format!("unsupported trace header type {other:#04x}")),
    }
}
