//! EventMetadata: schemas a merged trace carries for its own events.
//!
//! When a trace is merged on the machine that recorded it (xperf/WPR/
//! PerfView merge, KernelTraceControl), the merge appends classic records
//! of the EventMetadata class `{bbccf6c1-6cd1-48c4-80ff-839482e37671}`:
//! Class.Type 0x20 carries a TDH `TRACE_EVENT_INFO` for one event type of
//! another provider (names, property layout and the message template, as
//! `TdhGetEventInformation` returned it there), and type 0x21 a provider
//! GUID followed by an `EVENT_MAP_INFO` (a value or bit map). With them an
//! event decodes on any machine, manifest or not.
//!
//! `TRACE_EVENT_INFO` (tdh.h): ProviderGuid, EventGuid, EVENT_DESCRIPTOR
//! (Id u16, Version u8, Channel u8, Level u8, Opcode u8, Task u16, Keyword
//! u64), DecodingSource u32, then u32 offsets of the provider, level,
//! channel, keywords, task, opcode, message and provider-message names,
//! BinaryXML offset/size, the event-name and attributes offsets,
//! PropertyCount, TopLevelPropertyCount and Flags (at 0x70 the
//! properties). Each `EVENT_PROPERTY_INFO` is 24 bytes: Flags, NameOffset,
//! then InType u16 / OutType u16 / MapNameOffset u32 (or, for a struct,
//! StructStartIndex u16 / NumOfStructMembers u16), count (or the index of
//! the property holding it) u16, length (or its property index) u16, and
//! tags. Names are NUL-terminated UTF-16 at offsets from the start of the
//! structure. `EVENT_MAP_INFO`: NameOffset, Flag, EntryCount, value type,
//! then (OutputOffset, Value) pairs, offsets from its own start.
//!
//! Such records can sit anywhere in the file (the merge writes them where
//! it pleases), so the reader collects them all before decoding events
//! ([`MetadataSet::add_record`]); the records themselves count as skipped.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::container::{Guid, u16_at, u32_at, u64_at};
use super::{Decoded, RecordView, manifest};
use crate::event::{Kind, Layer, Timestamp};
use crate::schema::template::Template;

/// The EventMetadata class (KernelTraceControl.h).
pub const PROVIDER: Guid = Guid::new(
    0xbbcc_f6c1,
    0x6cd1,
    0x48c4,
    [0x80, 0xff, 0x83, 0x94, 0x82, 0xe3, 0x76, 0x71],
);
/// Class.Type of a record carrying a TRACE_EVENT_INFO.
pub const TYPE_EVENT_INFO: u8 = 0x20;
/// Class.Type of a record carrying a provider GUID and an EVENT_MAP_INFO.
pub const TYPE_MAP_INFO: u8 = 0x21;

/// DECODING_SOURCE of a MOF class.
const DECODING_SOURCE_WBEM: u32 = 1;
/// Size of TRACE_EVENT_INFO up to its property array.
const EVENT_INFO_HEADER: usize = 0x70;
/// Size of one EVENT_PROPERTY_INFO.
const PROPERTY_INFO: usize = 24;
/// Size of EVENT_MAP_INFO up to its entries.
const MAP_INFO_HEADER: usize = 16;

/// EVENT_PROPERTY_INFO flags.
const PROPERTY_STRUCT: u32 = 0x1;
const PROPERTY_PARAM_LENGTH: u32 = 0x2;
const PROPERTY_PARAM_COUNT: u32 = 0x4;
const PROPERTY_PARAM_FIXED_COUNT: u32 = 0x20;

/// EVENT_MAP_INFO flags: a bit map (values are OR-ed bits).
const MAP_BITMAP: u32 = 0x2;
const MAP_WBEM_BITMAP: u32 = 0x10;

/// Largest array expanded (bad data must not spin).
const MAX_ARRAY: u64 = 4096;
/// Deepest struct nesting followed (a struct whose members include itself
/// must not recurse without end).
const MAX_DEPTH: usize = 8;

/// TDH_INTYPE values. 1–23 are the numbers TraceLogging uses too (its 24
/// and 25 mean something else there); the ones after are TDH's own.
mod in_type {
    pub use crate::etl::tracelogging::in_type::{
        ANSI_STRING, BINARY, BOOL32 as BOOLEAN, COUNTED_ANSI_STRING, COUNTED_STRING, DOUBLE,
        FILETIME, FLOAT, GUID, HEXINT32, HEXINT64, INT8, INT16, INT32, INT64, POINTER, SID,
        SYSTEMTIME, UINT8, UINT16, UINT32, UINT64, UNICODE_STRING,
    };
    pub const REVERSED_COUNTED_STRING: u8 = 24;
    pub const REVERSED_COUNTED_ANSI_STRING: u8 = 25;
    pub const NON_NULL_TERMINATED_STRING: u8 = 26;
    pub const NON_NULL_TERMINATED_ANSI_STRING: u8 = 27;
    pub const UNICODE_CHAR: u8 = 28;
    pub const ANSI_CHAR: u8 = 29;
    pub const SIZET: u8 = 30;
    pub const HEXDUMP: u8 = 31;
    pub const WBEM_SID: u8 = 32;
}

/// TDH_OUTTYPE values that change how a value is shown.
mod out_type {
    pub const BOOLEAN: u16 = 13;
    pub const HEXINT8: u16 = 16;
    pub const HEXINT16: u16 = 17;
    pub const HEXINT32: u16 = 18;
    pub const HEXINT64: u16 = 19;
    pub const PORT: u16 = 22;
    pub const IPV4: u16 = 23;
    pub const IPV6: u16 = 24;
    pub const SOCKET_ADDRESS: u16 = 25;
    pub const NTSTATUS: u16 = 31;
    pub const HRESULT: u16 = 32;
}

/// One EVENT_PROPERTY_INFO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub name: String,
    pub flags: u32,
    pub in_type: u16,
    pub out_type: u16,
    pub map: Option<String>,
    /// For a struct: index of its first member and how many there are.
    pub struct_start: u16,
    pub struct_members: u16,
    /// Element count, or (PROPERTY_PARAM_COUNT) the index of the property
    /// holding it.
    pub count: u16,
    /// Length, or (PROPERTY_PARAM_LENGTH) the index of the property
    /// holding it.
    pub length: u16,
}

/// One TRACE_EVENT_INFO.
#[derive(Debug, Clone)]
pub struct EventInfo {
    pub provider: Guid,
    /// The MOF class of a classic event (zero for manifest events).
    pub event_guid: Guid,
    pub id: u16,
    pub version: u8,
    pub opcode: u8,
    /// DECODING_SOURCE: 0 manifest, 1 WBEM (MOF), 2 WPP, 3 TraceLogging.
    pub decoding_source: u32,
    pub provider_name: Option<String>,
    pub task_name: Option<String>,
    pub opcode_name: Option<String>,
    pub event_name: Option<String>,
    pub message: Option<Template>,
    pub properties: Vec<Property>,
    pub top_level: usize,
}

impl EventInfo {
    /// What the event is called: its name, else task and opcode names.
    fn symbol(&self) -> Option<String> {
        if let Some(n) = self.event_name.as_deref().filter(|n| !n.is_empty()) {
            return Some(n.to_string());
        }
        match (self.task_name.as_deref(), self.opcode_name.as_deref()) {
            (Some(t), Some(o)) if !t.is_empty() && !o.is_empty() => Some(format!("{t}/{o}")),
            (Some(t), _) if !t.is_empty() => Some(t.to_string()),
            (_, Some(o)) if !o.is_empty() => Some(o.to_string()),
            _ => None,
        }
    }
}

/// One EVENT_MAP_INFO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueMap {
    pub bitmap: bool,
    pub entries: Vec<(u32, String)>,
}

impl ValueMap {
    /// The name of `v`: the entry, or for a bit map the names of its set
    /// bits joined by `|`.
    fn name_of(&self, v: u64) -> Option<String> {
        if !self.bitmap {
            return self
                .entries
                .iter()
                .find(|(k, _)| u64::from(*k) == v)
                .map(|(_, n)| n.clone());
        }
        let names: Vec<&str> = self
            .entries
            .iter()
            .filter(|(k, _)| *k != 0 && v & u64::from(*k) == u64::from(*k))
            .map(|(_, n)| n.as_str())
            .collect();
        (!names.is_empty()).then(|| names.join("|"))
    }
}

/// The EventMetadata of one file.
#[derive(Debug, Clone, Default)]
pub struct MetadataSet {
    /// (provider, id, version) → schema, for EVENT_HEADER events.
    events: HashMap<(Guid, u16, u8), EventInfo>,
    /// (class GUID, opcode, version) → schema, for classic (MOF) events.
    classic: HashMap<(Guid, u8, u8), EventInfo>,
    /// (provider, map name) → map.
    maps: HashMap<(Guid, String), ValueMap>,
}

impl MetadataSet {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.classic.is_empty()
    }

    /// Event types described.
    pub fn len(&self) -> usize {
        self.events.len() + self.classic.len()
    }

    /// Takes one EventMetadata record (Class.Type `class_type`, user data
    /// `data`).
    pub fn add_record(&mut self, class_type: u8, data: &[u8]) -> Result<(), String> {
        match class_type {
            TYPE_EVENT_INFO => {
                let info = parse_event_info(data)?;
                if info.event_guid != Guid::default() {
                    self.classic
                        .insert((info.event_guid, info.opcode, info.version), info.clone());
                }
                if info.provider != Guid::default() {
                    self.events
                        .insert((info.provider, info.id, info.version), info);
                }
                Ok(())
            }
            TYPE_MAP_INFO => {
                let provider = Guid::read(data, 0)
                    .ok_or("EventMetadata map record shorter than a provider GUID")?;
                let body = data.get(16..).unwrap_or(&[]);
                let (name, map) = parse_map_info(body)?;
                self.maps.insert((provider, name), map);
                Ok(())
            }
            other => Err(format!("EventMetadata record of unknown type {other:#04x}")),
        }
    }

    /// The schema for a record, if the file carries one.
    fn info_for(&self, v: &RecordView<'_>) -> Option<&EventInfo> {
        match v.rec.kind {
            super::container::HeaderKind::Event => {
                self.events.get(&(v.rec.guid, v.rec.id, v.rec.version))
            }
            super::container::HeaderKind::Classic | super::container::HeaderKind::Instance => self
                .classic
                .get(&(v.rec.guid, v.rec.opcode, v.rec.version))
                .or_else(|| {
                    // TDH describes some MOF classes under the provider
                    // GUID rather than the event GUID.
                    self.events
                        .get(&(v.rec.guid, u16::from(v.rec.opcode), v.rec.version))
                }),
            _ => None,
        }
    }

    /// Decodes `v` by the file's metadata; `None` when it has none for it.
    pub fn decode(&self, v: &RecordView<'_>) -> Option<Decoded> {
        let info = self.info_for(v)?;
        let mut ev = v.base_event(Layer::Other, Kind::Raw);
        let provider = info
            .provider_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("{{{}}}", info.provider));
        ev.provider = Some(provider.clone().into());
        ev.symbol = info.symbol().map(Into::into);
        let mut d = PayloadDecoder {
            info,
            maps: &self.maps,
            data: v.data,
            at: 0,
            pointer_size: v.pointer_size,
            numbers: vec![None; info.properties.len()],
        };
        let mut fields = crate::event::Fields::new();
        let mut top: Vec<Option<String>> = vec![None; info.top_level];
        let mut failure = None;
        for i in 0..info.top_level {
            match d.property(i, "", &mut fields, 0) {
                Ok(text) => {
                    if let Some(slot) = top.get_mut(i) {
                        *slot = text;
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        ev.message = match &info.message {
            Some(t) => t.render(|i| {
                top.get(i)
                    .and_then(Clone::clone)
                    .unwrap_or_else(|| format!("%{}", i + 1))
            }),
            None => fields
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        ev.fields = fields;
        crate::schema::enrich(&mut ev);
        Some(match failure {
            None => Decoded::Event(Box::new(ev), None),
            Some(e) => Decoded::Partial(
                Box::new(ev),
                format!(
                    "{provider} event {} v{} (EventMetadata): {e}",
                    v.rec.id, v.rec.version
                ),
            ),
        })
    }
}

/// A NUL-terminated UTF-16 string at `offset` of `b` (0 = none).
fn wide_at(b: &[u8], offset: u32) -> Option<String> {
    if offset == 0 {
        return None;
    }
    let s = b.get(offset as usize..)?;
    let units: Vec<u16> = s
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    Some(String::from_utf16_lossy(&units).trim_end().to_string())
}

/// Parses a TRACE_EVENT_INFO.
pub fn parse_event_info(b: &[u8]) -> Result<EventInfo, String> {
    if b.len() < EVENT_INFO_HEADER {
        return Err(format!(
            "EventMetadata TRACE_EVENT_INFO of {} bytes (< {EVENT_INFO_HEADER})",
            b.len()
        ));
    }
    let g32 = |o: usize| u32_at(b, o).unwrap_or(0);
    let provider = Guid::read(b, 0).unwrap_or_default();
    let event_guid = Guid::read(b, 16).unwrap_or_default();
    let count = g32(0x64) as usize;
    let top_level = g32(0x68) as usize;
    let needed = count
        .checked_mul(PROPERTY_INFO)
        .and_then(|n| n.checked_add(EVENT_INFO_HEADER));
    if top_level > count || needed.is_none_or(|n| n > b.len()) {
        return Err(format!(
            "EventMetadata TRACE_EVENT_INFO announces {count} properties ({top_level} top-level) in {} bytes",
            b.len()
        ));
    }
    let mut properties = Vec::with_capacity(count);
    for i in 0..count {
        let at = EVENT_INFO_HEADER + i * PROPERTY_INFO;
        let p32 = |o: usize| u32_at(b, at + o).unwrap_or(0);
        let p16 = |o: usize| u16_at(b, at + o).unwrap_or(0);
        let flags = p32(0);
        let is_struct = flags & PROPERTY_STRUCT != 0;
        properties.push(Property {
            name: wide_at(b, p32(4)).unwrap_or_else(|| format!("Property{}", i + 1)),
            flags,
            in_type: if is_struct { 0 } else { p16(8) },
            out_type: if is_struct { 0 } else { p16(10) },
            map: if is_struct {
                None
            } else {
                wide_at(b, p32(12)).filter(|m| !m.is_empty())
            },
            struct_start: if is_struct { p16(8) } else { 0 },
            struct_members: if is_struct { p16(10) } else { 0 },
            count: p16(16),
            length: p16(18),
        });
    }
    Ok(EventInfo {
        provider,
        event_guid,
        id: u16_at(b, 32).unwrap_or(0),
        version: b[34],
        opcode: b[37],
        decoding_source: g32(0x30),
        provider_name: wide_at(b, g32(0x34)),
        task_name: wide_at(b, g32(0x44)),
        opcode_name: wide_at(b, g32(0x48)),
        // The same offset names the activity-ID property of a MOF class.
        event_name: if g32(0x30) == DECODING_SOURCE_WBEM {
            None
        } else {
            wide_at(b, g32(0x5C))
        },
        message: wide_at(b, g32(0x4C))
            .filter(|m| !m.is_empty())
            .map(|m| Template::parse(&m)),
        properties,
        top_level,
    })
}

/// Parses an EVENT_MAP_INFO: its name and entries.
pub fn parse_map_info(b: &[u8]) -> Result<(String, ValueMap), String> {
    if b.len() < MAP_INFO_HEADER {
        return Err(format!(
            "EventMetadata EVENT_MAP_INFO of {} bytes (< {MAP_INFO_HEADER})",
            b.len()
        ));
    }
    let g32 = |o: usize| u32_at(b, o).unwrap_or(0);
    let name = wide_at(b, g32(0)).ok_or("EventMetadata EVENT_MAP_INFO without a name")?;
    let flag = g32(4);
    let count = g32(8) as usize;
    if count
        .checked_mul(8)
        .and_then(|n| n.checked_add(MAP_INFO_HEADER))
        .is_none_or(|n| n > b.len())
    {
        return Err(format!(
            "EventMetadata map {name} announces {count} entries in {} bytes",
            b.len()
        ));
    }
    let mut entries = Vec::with_capacity(count);
    for i in 0..count {
        let at = MAP_INFO_HEADER + 8 * i;
        let text = wide_at(b, g32(at)).unwrap_or_default();
        entries.push((g32(at + 4), text));
    }
    Ok((
        name,
        ValueMap {
            bitmap: flag & (MAP_BITMAP | MAP_WBEM_BITMAP) != 0,
            entries,
        },
    ))
}

/// Reads one event's user data by its TRACE_EVENT_INFO.
struct PayloadDecoder<'a> {
    info: &'a EventInfo,
    maps: &'a HashMap<(Guid, String), ValueMap>,
    data: &'a [u8],
    at: usize,
    pointer_size: u32,
    /// Numeric value of each property read so far (lengths and counts
    /// refer to earlier properties by index).
    numbers: Vec<Option<u64>>,
}

impl<'a> PayloadDecoder<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let data: &'a [u8] = self.data;
        let s = data.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    fn param(&self, index: u16, what: &str, name: &str) -> Result<u64, String> {
        self.numbers
            .get(usize::from(index))
            .copied()
            .flatten()
            .ok_or_else(|| {
                format!("property {name}: its {what} is in property {index}, which holds no number")
            })
    }

    /// Decodes property `i` (appending its fields, named under `prefix`)
    /// and returns its text for the message.
    fn property(
        &mut self,
        i: usize,
        prefix: &str,
        out: &mut crate::event::Fields,
        depth: usize,
    ) -> Result<Option<String>, String> {
        let info = self.info;
        let p = info
            .properties
            .get(i)
            .ok_or_else(|| format!("property index {i} out of range"))?;
        let name = if prefix.is_empty() {
            p.name.clone()
        } else {
            format!("{prefix}.{}", p.name)
        };
        let count = if p.flags & PROPERTY_PARAM_COUNT != 0 {
            self.param(p.count, "count", &name)?
        } else {
            u64::from(p.count.max(1))
        };
        let is_array =
            p.flags & (PROPERTY_PARAM_COUNT | PROPERTY_PARAM_FIXED_COUNT) != 0 || count > 1;
        if count > MAX_ARRAY {
            return Err(format!("property {name}: array of {count} elements"));
        }
        if p.flags & PROPERTY_STRUCT != 0 {
            if depth >= MAX_DEPTH {
                return Err(format!("property {name}: structs nested too deep"));
            }
            let first = usize::from(p.struct_start);
            let members = first..first + usize::from(p.struct_members);
            let from = out.len();
            for n in 0..count {
                let sub = if is_array {
                    format!("{name}[{n}]")
                } else {
                    name.clone()
                };
                for m in members.clone() {
                    self.property(m, &sub, out, depth + 1)?;
                }
            }
            // In the message, the struct shows as its members' fields.
            let shown: Vec<String> = out
                .iter()
                .skip(from)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            return Ok(Some(shown.join(", ")));
        }
        let length = if p.flags & PROPERTY_PARAM_LENGTH != 0 {
            Some(self.param(p.length, "length", &name)?)
        } else {
            (p.length > 0).then_some(u64::from(p.length))
        };
        let mut values = Vec::new();
        for _ in 0..count {
            let (text, number) = self.value(p, length).ok_or_else(|| {
                format!(
                    "property {name} (in-type {}) cannot be read: past the end of the data, an unknown type, or a binary without a length",
                    p.in_type
                )
            })?;
            if !is_array && let Some(slot) = self.numbers.get_mut(i) {
                *slot = number;
            }
            values.push(text);
        }
        let text = if is_array {
            format!("[{}]", values.join(", "))
        } else {
            values.pop().unwrap_or_default()
        };
        out.push(name, &text);
        Ok(Some(text))
    }

    /// One scalar: its text and, for integers, its value.
    fn value(&mut self, p: &Property, length: Option<u64>) -> Option<(String, Option<u64>)> {
        use in_type::*;
        // Every known in-type fits a byte; a larger one is unknown.
        let t = u8::try_from(p.in_type).ok()?;
        let len = length.and_then(|n| usize::try_from(n).ok());
        let int = |d: &mut Self, n: usize, signed: bool| -> Option<(String, Option<u64>)> {
            let b = d.take(n)?;
            let mut v = 0u64;
            for (k, &x) in b.iter().enumerate() {
                v |= u64::from(x) << (8 * k);
            }
            let text = d.render_int(p, v, n, signed);
            Some((text, Some(v)))
        };
        Some(match t {
            UNICODE_STRING => (self.unicode(len)?, None),
            ANSI_STRING => (self.ansi(len)?, None),
            INT8 => int(self, 1, true)?,
            UINT8 => int(self, 1, false)?,
            INT16 => int(self, 2, true)?,
            UINT16 => int(self, 2, false)?,
            INT32 => int(self, 4, true)?,
            UINT32 | HEXINT32 => int(self, 4, false)?,
            INT64 => int(self, 8, true)?,
            UINT64 | HEXINT64 => int(self, 8, false)?,
            POINTER | SIZET => {
                let n = if self.pointer_size == 4 { 4 } else { 8 };
                let b = self.take(n)?;
                let v = if n == 4 {
                    u64::from(u32_at(b, 0)?)
                } else {
                    u64_at(b, 0)?
                };
                (format!("0x{v:0w$X}", w = n * 2), Some(v))
            }
            FLOAT => (f32::from_bits(u32_at(self.take(4)?, 0)?).to_string(), None),
            DOUBLE => (f64::from_bits(u64_at(self.take(8)?, 0)?).to_string(), None),
            BOOLEAN => {
                let v = u32_at(self.take(4)?, 0)?;
                ((v != 0).to_string(), Some(u64::from(v)))
            }
            BINARY => {
                let b = self.take(len?)?;
                (self.render_binary(p, b), None)
            }
            HEXDUMP => {
                let n = usize::try_from(u32_at(self.take(4)?, 0)?).ok()?;
                (manifest::hex(self.take(n)?), None)
            }
            GUID => (
                format!(
                    "{{{}}}",
                    Guid::read(self.take(16)?, 0)?
                        .to_string()
                        .to_ascii_uppercase()
                ),
                None,
            ),
            FILETIME => {
                let ft = u64_at(self.take(8)?, 0)?;
                (
                    Timestamp::from_filetime(ft).map_or_else(|| ft.to_string(), |t| t.to_string()),
                    None,
                )
            }
            SYSTEMTIME => (manifest::systemtime_text(self.take(16)?), None),
            SID => (self.sid()?, None),
            WBEM_SID => {
                // TOKEN_USER (two pointers) before the SID.
                let skip = if self.pointer_size == 4 { 8 } else { 16 };
                self.take(skip)?;
                (self.sid()?, None)
            }
            COUNTED_STRING | REVERSED_COUNTED_STRING => {
                (utf16(self.counted(t == REVERSED_COUNTED_STRING)?), None)
            }
            COUNTED_ANSI_STRING | REVERSED_COUNTED_ANSI_STRING => {
                let s = self.counted(t == REVERSED_COUNTED_ANSI_STRING)?;
                (String::from_utf8_lossy(s).into_owned(), None)
            }
            NON_NULL_TERMINATED_STRING => {
                let rest = self.data.len().saturating_sub(self.at);
                let s = self.take(len.map_or(rest, |n| n.saturating_mul(2)))?;
                (utf16(s), None)
            }
            NON_NULL_TERMINATED_ANSI_STRING => {
                let rest = self.data.len().saturating_sub(self.at);
                let s = self.take(len.unwrap_or(rest))?;
                (String::from_utf8_lossy(s).into_owned(), None)
            }
            UNICODE_CHAR => (utf16(self.take(2)?), None),
            ANSI_CHAR => (char::from(self.take(1)?[0]).to_string(), None),
            _ => return None,
        })
    }

    /// The bytes of a counted string: a 16-bit byte count (big-endian for
    /// the "reversed" in-types), then the bytes.
    fn counted(&mut self, big_endian: bool) -> Option<&'a [u8]> {
        let b = self.take(2)?;
        let n = if big_endian {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        };
        self.take(usize::from(n))
    }

    /// A NUL-terminated UTF-16 string, or `len` characters of one.
    fn unicode(&mut self, len: Option<usize>) -> Option<String> {
        if let Some(n) = len {
            let s = self.take(n.checked_mul(2)?)?;
            let text = utf16(s);
            return Some(text.trim_end_matches('\0').to_string());
        }
        let rest = self.data.get(self.at..)?;
        let mut units = Vec::new();
        let mut used = 0;
        loop {
            let u = u16_at(rest, used)?;
            used += 2;
            if u == 0 {
                break;
            }
            units.push(u);
        }
        self.at += used;
        Some(String::from_utf16_lossy(&units))
    }

    /// A NUL-terminated byte string, or `len` bytes of one.
    fn ansi(&mut self, len: Option<usize>) -> Option<String> {
        if let Some(n) = len {
            let s = self.take(n)?;
            let end = memchr::memchr(0, s).unwrap_or(s.len());
            return Some(String::from_utf8_lossy(&s[..end]).into_owned());
        }
        let rest = self.data.get(self.at..)?;
        let end = memchr::memchr(0, rest)?;
        self.at += end + 1;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    fn sid(&mut self) -> Option<String> {
        let head = self.take(8)?;
        let n = usize::from(head[1]);
        let auth = head[2..8]
            .iter()
            .fold(0u64, |a, b| (a << 8) | u64::from(*b));
        let mut s = format!("S-{}-{auth}", head[0]);
        let subs = self.take(n * 4)?;
        for k in 0..n {
            let _ = write!(s, "-{}", u32_at(subs, k * 4)?);
        }
        Some(s)
    }

    /// An integer as its out-type and value map show it.
    fn render_int(&self, p: &Property, v: u64, n: usize, signed: bool) -> String {
        use out_type::*;
        let text = match p.out_type {
            HEXINT8 | HEXINT16 | HEXINT32 | HEXINT64 => format!("0x{v:X}"),
            HRESULT => format!("0x{v:08X}"),
            NTSTATUS => manifest::ntstatus_text(v as u32),
            BOOLEAN => (v != 0).to_string(),
            PORT if n == 2 => u16::from_be(v as u16).to_string(),
            IPV4 if n == 4 => Ipv4Addr::from((v as u32).to_le_bytes()).to_string(),
            _ if [in_type::HEXINT32, in_type::HEXINT64]
                .map(u16::from)
                .contains(&p.in_type) =>
            {
                format!("0x{v:X}")
            }
            _ if signed => {
                let shift = 64 - 8 * n as u32;
                (((v << shift) as i64) >> shift).to_string()
            }
            _ => v.to_string(),
        };
        match p
            .map
            .as_ref()
            .and_then(|m| self.maps.get(&(self.info.provider, m.clone())))
            .and_then(|m| m.name_of(v))
        {
            Some(name) => format!("{text}({name})"),
            None => text,
        }
    }

    fn render_binary(&self, p: &Property, b: &[u8]) -> String {
        match p.out_type {
            out_type::SOCKET_ADDRESS => {
                manifest::sockaddr_text(b).unwrap_or_else(|| manifest::hex(b))
            }
            out_type::IPV6 if b.len() == 16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                Ipv6Addr::from(a).to_string()
            }
            out_type::IPV4 if b.len() == 4 => Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string(),
            // HexBinary and every other out-type: hex.
            _ => manifest::hex(b),
        }
    }
}

fn utf16(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etl::testutil::{MapSpec, PropertySpec, event_info_payload, map_info_payload};

    fn dns_info() -> Vec<u8> {
        event_info_payload(
            Guid::new(
                0x1c95_126e,
                0x7eea,
                0x49a9,
                [0xa3, 0xfe, 0xa3, 0x78, 0xb0, 0x3d, 0xdb, 0x4d],
            ),
            1001,
            0,
            "Microsoft-Windows-DNS-Client",
            "DnsServerForInterface",
            "Interface: %1 Total DNS Server Count: %2 Index: %3 Address: %6 (%4)",
            &[
                PropertySpec::scalar("Interface", in_type::UNICODE_STRING.into(), 0),
                PropertySpec::scalar("TotalServerCount", in_type::UINT32.into(), 0),
                PropertySpec::scalar("Index", in_type::UINT32.into(), 0),
                PropertySpec::scalar("DynamicAddress", in_type::UINT8.into(), 0)
                    .with_map("AddrKind"),
                PropertySpec::scalar("AddressLength", in_type::UINT32.into(), 0),
                PropertySpec::scalar("Address", in_type::BINARY.into(), out_type::SOCKET_ADDRESS)
                    .with_param_length(4),
            ],
        )
    }

    #[test]
    fn event_info_round_trips_names_properties_and_message() {
        let info = parse_event_info(&dns_info()).expect("parses");
        assert_eq!(info.id, 1001);
        assert_eq!(
            info.provider_name.as_deref(),
            Some("Microsoft-Windows-DNS-Client")
        );
        assert_eq!(info.task_name.as_deref(), Some("DnsServerForInterface"));
        assert_eq!(info.top_level, 6);
        let names: Vec<&str> = info.properties.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Interface",
                "TotalServerCount",
                "Index",
                "DynamicAddress",
                "AddressLength",
                "Address"
            ]
        );
        assert_eq!(
            info.properties[5].flags & PROPERTY_PARAM_LENGTH,
            PROPERTY_PARAM_LENGTH
        );
        assert_eq!(info.properties[5].length, 4);
        assert_eq!(info.properties[3].map.as_deref(), Some("AddrKind"));
    }

    #[test]
    fn truncated_or_overlong_structures_are_refused() {
        let b = dns_info();
        assert!(parse_event_info(&b[..0x40]).is_err());
        let mut lying = b.clone();
        lying[0x64..0x68].copy_from_slice(&5000u32.to_le_bytes());
        assert!(parse_event_info(&lying).is_err());
        let m = map_info_payload(
            Guid::default(),
            &MapSpec {
                name: "AddrKind",
                bitmap: false,
                entries: &[(0, "Static"), (1, "Dynamic")],
            },
        );
        assert!(parse_map_info(&m[16..]).is_ok());
        assert!(parse_map_info(&m[16..24]).is_err());
        let mut set = MetadataSet::default();
        assert!(set.add_record(0x22, &m).is_err());
        assert!(set.add_record(TYPE_MAP_INFO, &m[..10]).is_err());
    }

    #[test]
    fn bit_maps_join_the_set_bits() {
        let m = ValueMap {
            bitmap: true,
            entries: vec![
                (1, "Read".into()),
                (2, "Write".into()),
                (4, "Delete".into()),
            ],
        };
        assert_eq!(m.name_of(5).as_deref(), Some("Read|Delete"));
        assert_eq!(m.name_of(8), None);
        let v = ValueMap {
            bitmap: false,
            entries: vec![(0, "Off".into()), (1, "On".into())],
        };
        assert_eq!(v.name_of(1).as_deref(), Some("On"));
    }
}
