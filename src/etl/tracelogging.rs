//! Self-describing (TraceLogging) events: the record carries its own schema
//! in extended-data items, so any provider decodes without a manifest.
//!
//! * Item type 11 (EVENT_HEADER_EXT_TYPE_EVENT_SCHEMA_TL) is the event
//!   metadata: `u16 size`, extension bytes (each with bit 7 set when another
//!   follows), the event name (NUL-terminated UTF-8), then per field its name
//!   (NUL-terminated UTF-8), `u8 InType` (low 5 bits the type; 0x20 constant
//!   count, 0x40 variable count, 0x60 custom; bit 7: an OutType follows),
//!   `u8 OutType` (bit 7: extension bytes follow), the extension bytes, a
//!   `u16` count for constant-count arrays and `u16` size + type info for
//!   custom types.
//! * Item type 12 (EVENT_HEADER_EXT_TYPE_PROV_TRAITS) names the provider:
//!   `u16 size`, the provider name (NUL-terminated UTF-8), then traits.
//!
//! Values are read from the user data in field order; a struct (InType 24)
//! groups the next OutType&0x7F fields, whose names get the struct's name as
//! a prefix. Everything becomes `Event.fields` as text.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::container::{Guid, u16_at, u32_at, u64_at};
use super::{Decoded, RecordView};
use crate::event::{Kind, Layer, Timestamp};

pub const EXT_EVENT_SCHEMA_TL: u16 = 11;
pub const EXT_PROV_TRAITS: u16 = 12;

/// TlgIn_t values.
pub mod in_type {
    pub const NULL: u8 = 0;
    pub const UNICODE_STRING: u8 = 1;
    pub const ANSI_STRING: u8 = 2;
    pub const INT8: u8 = 3;
    pub const UINT8: u8 = 4;
    pub const INT16: u8 = 5;
    pub const UINT16: u8 = 6;
    pub const INT32: u8 = 7;
    pub const UINT32: u8 = 8;
    pub const INT64: u8 = 9;
    pub const UINT64: u8 = 10;
    pub const FLOAT: u8 = 11;
    pub const DOUBLE: u8 = 12;
    pub const BOOL32: u8 = 13;
    pub const BINARY: u8 = 14;
    pub const GUID: u8 = 15;
    pub const POINTER: u8 = 16;
    pub const FILETIME: u8 = 17;
    pub const SYSTEMTIME: u8 = 18;
    pub const SID: u8 = 19;
    pub const HEXINT32: u8 = 20;
    pub const HEXINT64: u8 = 21;
    pub const COUNTED_STRING: u8 = 22;
    pub const COUNTED_ANSI_STRING: u8 = 23;
    pub const STRUCT: u8 = 24;
    pub const COUNTED_BINARY: u8 = 25;
}

/// TlgOut_t values that change how a value is shown.
mod out_type {
    pub const HEX: u8 = 3;
    pub const IPV4: u8 = 10;
    pub const IPV6: u8 = 11;
    pub const PORT: u8 = 12;
}

const IN_TYPE_MASK: u8 = 0x1F;
const IN_CCOUNT: u8 = 0x20;
const IN_VCOUNT: u8 = 0x40;
const IN_CUSTOM: u8 = 0x60;
const CHAIN: u8 = 0x80;

/// Largest array this decoder expands (bad data must not spin).
const MAX_ARRAY: usize = 4096;

/// The extended-data items of a record: (type, data).
pub fn ext_items(ext: &[u8]) -> Vec<(u16, &[u8])> {
    let mut items = Vec::new();
    let mut at = 0usize;
    while let (Some(ty), Some(size)) = (u16_at(ext, at + 2), u16_at(ext, at + 6)) {
        let start = at + 8;
        let Some(data) = ext.get(start..start + usize::from(size)) else {
            break;
        };
        items.push((ty, data));
        at = (start + usize::from(size) + 7) & !7;
    }
    items
}

/// One field of the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub in_type: u8,
    pub out_type: u8,
    /// 0 scalar, `IN_CCOUNT` with `count`, or `IN_VCOUNT`.
    pub array: u8,
    pub count: u16,
}

/// The event schema of item type 11.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    pub event_name: String,
    pub fields: Vec<Field>,
}

fn cstr(b: &[u8], at: usize) -> Option<(String, usize)> {
    let rest = b.get(at..)?;
    let n = memchr::memchr(0, rest)?;
    Some((String::from_utf8_lossy(&rest[..n]).into_owned(), at + n + 1))
}

fn skip_extension(b: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let x = *b.get(at)?;
        at += 1;
        if x & CHAIN == 0 {
            return Some(at);
        }
    }
}

/// Parses the event metadata blob of item type 11.
pub fn parse_schema(m: &[u8]) -> Option<Schema> {
    let size = usize::from(u16_at(m, 0)?);
    let m = m.get(..size.min(m.len()))?;
    let at = skip_extension(m, 2)?;
    let (event_name, mut at) = cstr(m, at)?;
    let mut fields = Vec::new();
    while at < m.len() {
        let (name, next) = cstr(m, at)?;
        at = next;
        let in_raw = *m.get(at)?;
        at += 1;
        let mut out_type = 0;
        if in_raw & CHAIN != 0 {
            let o = *m.get(at)?;
            at += 1;
            out_type = o & 0x7F;
            if o & CHAIN != 0 {
                at = skip_extension(m, at)?;
            }
        }
        let flags = in_raw & IN_CUSTOM;
        let mut count = 0;
        match flags {
            IN_CCOUNT => {
                count = u16_at(m, at)?;
                at += 2;
            }
            IN_CUSTOM => {
                let n = usize::from(u16_at(m, at)?);
                at += 2 + n;
            }
            _ => {}
        }
        fields.push(Field {
            name,
            in_type: in_raw & IN_TYPE_MASK,
            out_type,
            array: if flags == IN_CUSTOM { 0 } else { flags },
            count,
        });
    }
    Some(Schema { event_name, fields })
}

/// Provider name from item type 12.
pub fn provider_name(traits: &[u8]) -> Option<String> {
    cstr(traits, 2).map(|(s, _)| s).filter(|s| !s.is_empty())
}

/// Reads values from the user data.
struct Reader<'a> {
    d: &'a [u8],
    at: usize,
    pointer_size: u32,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.d.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    fn u16(&mut self) -> Option<u16> {
        let v = u16_at(self.d, self.at)?;
        self.at += 2;
        Some(v)
    }

    /// One scalar value as text.
    fn value(&mut self, f: &Field) -> Option<String> {
        use in_type::*;
        let hex = f.out_type == out_type::HEX;
        Some(match f.in_type {
            NULL => String::new(),
            UNICODE_STRING => {
                let mut units = Vec::new();
                loop {
                    let u = self.u16()?;
                    if u == 0 {
                        break;
                    }
                    units.push(u);
                }
                String::from_utf16_lossy(&units)
            }
            ANSI_STRING => {
                let rest = self.d.get(self.at..)?;
                let n = memchr::memchr(0, rest)?;
                self.at += n + 1;
                String::from_utf8_lossy(&rest[..n]).into_owned()
            }
            INT8 => (self.take(1)?[0] as i8).to_string(),
            UINT8 => {
                let v = self.take(1)?[0];
                if hex {
                    format!("0x{v:X}")
                } else {
                    v.to_string()
                }
            }
            INT16 => (self.u16()? as i16).to_string(),
            UINT16 => {
                let v = self.u16()?;
                if f.out_type == out_type::PORT {
                    u16::from_be(v).to_string()
                } else if hex {
                    format!("0x{v:X}")
                } else {
                    v.to_string()
                }
            }
            INT32 => (u32_at(self.take(4)?, 0)? as i32).to_string(),
            UINT32 | HEXINT32 => {
                let b = self.take(4)?;
                let v = u32_at(b, 0)?;
                if f.out_type == out_type::IPV4 {
                    Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()
                } else if hex || f.in_type == HEXINT32 {
                    format!("0x{v:X}")
                } else {
                    v.to_string()
                }
            }
            INT64 => (u64_at(self.take(8)?, 0)? as i64).to_string(),
            UINT64 | HEXINT64 => {
                let v = u64_at(self.take(8)?, 0)?;
                if hex || f.in_type == HEXINT64 {
                    format!("0x{v:X}")
                } else {
                    v.to_string()
                }
            }
            FLOAT => f32::from_bits(u32_at(self.take(4)?, 0)?).to_string(),
            DOUBLE => f64::from_bits(u64_at(self.take(8)?, 0)?).to_string(),
            BOOL32 => (u32_at(self.take(4)?, 0)? != 0).to_string(),
            POINTER => {
                let v = if self.pointer_size == 4 {
                    u64::from(u32_at(self.take(4)?, 0)?)
                } else {
                    u64_at(self.take(8)?, 0)?
                };
                format!("0x{v:X}")
            }
            GUID => format!("{{{}}}", Guid::read(self.take(16)?, 0)?),
            FILETIME => {
                let ft = u64_at(self.take(8)?, 0)?;
                Timestamp::from_filetime(ft).map_or_else(|| ft.to_string(), |t| t.to_string())
            }
            SYSTEMTIME => {
                let b = self.take(16)?;
                let w = |i: usize| u16_at(b, i * 2).unwrap_or(0);
                format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
                    w(0),
                    w(1),
                    w(3),
                    w(4),
                    w(5),
                    w(6),
                    w(7)
                )
            }
            SID => {
                // Revision, SubAuthorityCount, IdentifierAuthority[6], SubAuthority[].
                let head = self.take(8)?;
                let n = usize::from(head[1]);
                let auth = head[2..8]
                    .iter()
                    .fold(0u64, |a, b| (a << 8) | u64::from(*b));
                let mut s = format!("S-{}-{auth}", head[0]);
                let subs = self.take(n * 4)?;
                for i in 0..n {
                    let _ = write!(s, "-{}", u32_at(subs, i * 4)?);
                }
                s
            }
            BINARY | COUNTED_BINARY => {
                let n = usize::from(self.u16()?);
                let b = self.take(n)?;
                if f.out_type == out_type::IPV6 && n == 16 {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(b);
                    Ipv6Addr::from(a).to_string()
                } else {
                    b.iter().fold(String::with_capacity(2 + 2 * n), |mut s, x| {
                        if s.is_empty() {
                            s.push_str("0x");
                        }
                        let _ = write!(s, "{x:02X}");
                        s
                    })
                }
            }
            COUNTED_STRING => {
                let n = usize::from(self.u16()?);
                let b = self.take(n)?;
                let units: Vec<u16> = b
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16_lossy(&units)
            }
            COUNTED_ANSI_STRING => {
                let n = usize::from(self.u16()?);
                String::from_utf8_lossy(self.take(n)?).into_owned()
            }
            _ => return None,
        })
    }
}

/// Decodes the fields `schema.fields[range]` (structs expand in place).
fn decode_fields(
    fields: &[Field],
    r: &mut Reader<'_>,
    prefix: &str,
    out: &mut crate::event::Fields,
) -> Result<(), String> {
    let mut i = 0;
    while let Some(f) = fields.get(i) {
        i += 1;
        let name = if prefix.is_empty() {
            f.name.clone()
        } else {
            format!("{prefix}.{}", f.name)
        };
        let count = match f.array {
            IN_CCOUNT => usize::from(f.count),
            IN_VCOUNT => usize::from(
                r.u16()
                    .ok_or_else(|| format!("field {name}: array count past the end"))?,
            ),
            _ => 1,
        }
        .min(MAX_ARRAY);
        if f.in_type == in_type::STRUCT {
            let members = usize::from(f.out_type);
            let body = fields
                .get(i..i + members)
                .ok_or_else(|| format!("struct {name} announces {members} fields"))?;
            i += members;
            for n in 0..count {
                let p = if f.array == 0 {
                    name.clone()
                } else {
                    format!("{name}[{n}]")
                };
                decode_fields(body, r, &p, out)?;
            }
            continue;
        }
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            let v = r.value(f).ok_or_else(|| {
                format!(
                    "field {name} (in-type {}) runs past the end of the data or has an unknown type",
                    f.in_type
                )
            })?;
            values.push(v);
        }
        let v = if f.array == 0 {
            values.pop().unwrap_or_default()
        } else {
            format!("[{}]", values.join(", "))
        };
        out.push(name, &v);
    }
    Ok(())
}

/// Decodes a record that carries a TraceLogging schema; `None` when it has
/// none.
pub fn decode(v: &RecordView<'_>) -> Option<Decoded> {
    let items = ext_items(v.ext);
    let schema_blob = items
        .iter()
        .find(|(t, _)| *t == EXT_EVENT_SCHEMA_TL)
        .map(|(_, d)| *d)?;
    let provider = items
        .iter()
        .find(|(t, _)| *t == EXT_PROV_TRAITS)
        .and_then(|(_, d)| provider_name(d))
        .unwrap_or_else(|| format!("{{{}}}", v.rec.guid));
    let Some(schema) = parse_schema(schema_blob) else {
        return Some(Decoded::Error(format!(
            "TraceLogging event of provider {provider}: unreadable schema ({} bytes)",
            schema_blob.len()
        )));
    };
    let mut ev = v.base_event(Layer::Other, Kind::Raw);
    ev.provider = Some(provider.into());
    ev.symbol = Some(schema.event_name.clone().into());
    let mut r = Reader {
        d: v.data,
        at: 0,
        pointer_size: v.pointer_size,
    };
    let mut fields = crate::event::Fields::with_capacity(schema.fields.len(), 0);
    let res = decode_fields(&schema.fields, &mut r, "", &mut fields);
    let mut msg = schema.event_name.clone();
    for (i, (k, val)) in fields.iter().enumerate() {
        msg.push_str(if i == 0 { ": " } else { ", " });
        let _ = write!(msg, "{k}={val}");
    }
    ev.message = msg;
    ev.fields = fields;
    Some(match res {
        Ok(()) => Decoded::Event(Box::new(ev), None),
        Err(e) => Decoded::Partial(
            Box::new(ev),
            format!("TraceLogging {}: {e}", schema.event_name),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_skips_extension_chains_and_custom_type_info() {
        let mut m = vec![0, 0, 0x81, 0x00]; // two extension bytes (chained)
        m.extend_from_slice(b"Ev\0");
        m.extend_from_slice(b"A\0");
        m.extend_from_slice(&[UINT32_CHAINED, 0x83, 0x01]); // out-type HEX + extension
        m.extend_from_slice(b"C\0");
        m.extend_from_slice(&[in_type::BINARY | IN_CUSTOM, 3, 0, 9, 9, 9]);
        m.extend_from_slice(b"D\0");
        m.push(in_type::UINT8);
        let n = m.len() as u16;
        m[0..2].copy_from_slice(&n.to_le_bytes());
        let s = parse_schema(&m).expect("schema");
        assert_eq!(s.event_name, "Ev");
        let names: Vec<&str> = s.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["A", "C", "D"]);
        assert_eq!(
            (s.fields[0].in_type, s.fields[0].out_type),
            (in_type::UINT32, 3)
        );
        // Metadata cut after the event name has no fields; cut inside a
        // field it is refused, not guessed.
        assert_eq!(parse_schema(&m[..7]).map(|s| s.fields.len()), Some(0));
        assert_eq!(parse_schema(&m[..9]), None);
    }

    const UINT32_CHAINED: u8 = in_type::UINT32 | CHAIN;

    #[test]
    fn ext_items_walk_stops_at_a_short_item() {
        let mut ext = vec![0, 0, 12, 0, 1, 0, 3, 0, b'P', 0, 0, 0, 0, 0, 0, 0];
        ext.extend_from_slice(&[0, 0, 11, 0, 0, 0, 200, 0, 1, 2]);
        let items = ext_items(&ext);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].0, EXT_PROV_TRAITS);
    }
}
