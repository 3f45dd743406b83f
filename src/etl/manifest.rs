//! Manifest-based providers (TCPIP, Winsock-AFD, WFP, Kernel-Network…)
//! decoded from their binary payload by the field types in `schemas/`.
//!
//! The payload is the manifest template's fields laid out back to back, no
//! padding: integers little-endian at their size, `Boolean` 4 bytes,
//! `Pointer` at the log's pointer size, strings NUL-terminated, and
//! `Binary` (SOCKADDR, IP and link-layer addresses) as many bytes as the
//! length field before it says (`LocalAddressLength`, `DlAddrLength`…).
//! Each value is rendered as a converter renders it (pointers `0x…`, value
//! maps `N(Name)`, NTSTATUS by name, SOCKADDR `ip:port`), the message is
//! rendered through the template, and [`crate::schema::enrich`] fills the
//! typed slots exactly as for the text decoders.
//!
//! A field whose type has no fixed layout here (an unknown type, a binary
//! blob without a length field) does not abort the record: the fields
//! before it are kept, the remaining bytes become one hex field, and the
//! record counts as parsed with a note.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Decoded, RecordView};
use crate::event::{Kind, Layer, Timestamp};
use crate::schema::{self, EventSchema, Field, registry};

/// Most hex bytes kept for a blob or an undecoded tail.
const MAX_HEX_BYTES: usize = 256;

/// The schema provider index for an EVENT_HEADER provider GUID.
pub fn provider_for(guid: &super::container::Guid) -> Option<usize> {
    registry().provider_index(&guid.to_string())
}

/// The schema to decode (provider, id, version) with: that version, or
/// else the newest older one (versions append fields, so an older layout
/// is a prefix of the newer one).
fn schema_for(pi: usize, id: u32, version: u8) -> Option<&'static EventSchema> {
    let reg = registry();
    let p = reg.providers.get(pi)?;
    let mut best: Option<&EventSchema> = None;
    for e in p.events.iter().filter_map(|&ei| reg.events.get(ei)) {
        if e.id != id || e.version > version {
            continue;
        }
        if best.is_none_or(|b| e.version > b.version) {
            best = Some(e);
        }
    }
    best
}

/// Whether `schemas/` has (provider, id) at exactly this version.
pub fn has_exact_schema(pi: usize, id: u32, version: u8) -> bool {
    schema_for(pi, id, version).is_some_and(|s| s.version == version)
}

/// One decoded payload: rendered values per schema field (`None` past the
/// point where decoding stopped) and why it stopped, if it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub values: Vec<Option<String>>,
    /// Undecoded bytes from the field where decoding stopped, as hex.
    pub rest: Option<(String, String)>,
    pub note: Option<String>,
}

/// Decodes a record of a provider in the schema registry.
pub fn decode(v: &RecordView<'_>, pi: usize) -> Decoded {
    let reg = registry();
    let Some(prov) = reg.providers.get(pi) else {
        return Decoded::Unknown(format!("provider {{{}}} not in schema", v.rec.guid));
    };
    let id = u32::from(v.rec.id);
    let Some(schema) = schema_for(pi, id, v.rec.version) else {
        return Decoded::Unknown(format!(
            "{} event {} v{} is not in the schema",
            prov.name, v.rec.id, v.rec.version
        ));
    };
    let p = decode_payload(pi, schema, v.data, v.pointer_size);
    let mut ev = v.base_event(Layer::Other, Kind::Raw);
    ev.provider = Some(prov.name.clone().into());
    ev.symbol = Some(schema.symbol.clone().into());
    ev.message = match &schema.template {
        Some(t) => t.render(|i| {
            p.values
                .get(i)
                .and_then(|v| v.clone())
                .unwrap_or_else(|| format!("%{}", i + 1))
        }),
        None => String::new(),
    };
    let mut fields = crate::event::Fields::with_capacity(
        p.values.len() + 1,
        p.values.iter().flatten().map(String::len).sum(),
    );
    for (f, v) in schema.fields.iter().zip(&p.values) {
        if let Some(v) = v {
            fields.push(f.name.as_str(), v);
        }
    }
    if let Some((name, value)) = p.rest {
        fields.push(name, &value);
    }
    ev.fields = fields;
    schema::enrich(&mut ev);
    match p.note {
        Some(note) => Decoded::Partial(
            Box::new(ev),
            format!("{} {} v{}: {note}", prov.name, id, v.rec.version),
        ),
        None => Decoded::Event(Box::new(ev), None),
    }
}

/// Decodes `data` by the schema's fields.
pub fn decode_payload(pi: usize, schema: &EventSchema, data: &[u8], pointer_size: u32) -> Payload {
    let mut values: Vec<Option<String>> = vec![None; schema.fields.len()];
    let mut nums: Vec<Option<u64>> = vec![None; schema.fields.len()];
    let mut at = 0usize;
    for (i, f) in schema.fields.iter().enumerate() {
        let rest = data.get(at..).unwrap_or(&[]);
        let len_field = length_for(&schema.fields, &nums, i);
        match read_field(pi, f, rest, pointer_size, len_field) {
            Read::Value(text, used, num) => {
                values[i] = Some(text);
                nums[i] = num;
                at += used;
            }
            Read::Short => {
                return Payload {
                    values,
                    rest: tail(f, rest),
                    note: Some(format!(
                        "payload ends inside field {} ({}); {} byte(s) left",
                        f.name,
                        f.type_name,
                        rest.len()
                    )),
                };
            }
            Read::Unsupported(why) => {
                return Payload {
                    values,
                    rest: tail(f, rest),
                    note: Some(format!(
                        "field {} ({}): {why}; {} byte(s) kept as hex",
                        f.name,
                        f.type_name,
                        rest.len()
                    )),
                };
            }
        }
    }
    Payload {
        values,
        rest: None,
        note: None,
    }
}

/// The undecoded bytes as one hex field, named so that no typed slot
/// reads it as the field's value.
fn tail(f: &Field, rest: &[u8]) -> Option<(String, String)> {
    (!rest.is_empty()).then(|| (format!("{}[undecoded]", f.name), hex(rest)))
}

/// The value of the length field a blob at `i` is sized by: the nearest
/// integer field before it, past other blobs (`DlAddrLength, SrcDLAddress,
/// DestDLAddress` share one length), when its name says it is a length.
fn length_for(fields: &[Field], nums: &[Option<u64>], i: usize) -> Option<u64> {
    let mut j = i;
    while j > 0 {
        j -= 1;
        let f = fields.get(j)?;
        if is_blob(&f.type_name) {
            continue;
        }
        let n = f.name.to_ascii_lowercase();
        let is_len = ["length", "len", "size"].iter().any(|s| n.ends_with(s));
        return if is_len { *nums.get(j)? } else { None };
    }
    None
}

fn is_blob(type_name: &str) -> bool {
    matches!(type_name, "Binary" | "SocketAddress" | "IPAddress")
}

enum Read {
    /// Rendered text, bytes used, numeric value (for length fields).
    Value(String, usize, Option<u64>),
    Short,
    Unsupported(&'static str),
}

fn int_le(b: &[u8], n: usize) -> Option<u64> {
    let s = b.get(..n)?;
    let mut v = 0u64;
    for (k, &byte) in s.iter().enumerate() {
        v |= u64::from(byte) << (8 * k);
    }
    Some(v)
}

fn read_field(pi: usize, f: &Field, b: &[u8], pointer_size: u32, len: Option<u64>) -> Read {
    let ptr = if pointer_size == 4 { 4 } else { 8 };
    let int = |n: usize, signed: bool| -> Read {
        let Some(v) = int_le(b, n) else {
            return Read::Short;
        };
        let text = if signed {
            let shift = 64 - 8 * n as u32;
            (((v << shift) as i64) >> shift).to_string()
        } else {
            v.to_string()
        };
        Read::Value(with_map(pi, f, v, text), n, Some(v))
    };
    match f.type_name.as_str() {
        "UInt8" => int(1, false),
        "UInt16" => int(2, false),
        "UInt32" => int(4, false),
        "UInt64" => int(8, false),
        "Int8" => int(1, true),
        "Int16" => int(2, true),
        "Int32" => int(4, true),
        "Int64" => int(8, true),
        "Boolean" => match int_le(b, 4) {
            Some(v) => Read::Value((v != 0).to_string(), 4, Some(v)),
            None => Read::Short,
        },
        "Pointer" | "SizeT" => match int_le(b, ptr) {
            Some(v) => Read::Value(format!("0x{v:0w$X}", w = ptr * 2), ptr, Some(v)),
            None => Read::Short,
        },
        "HexInt32" | "HexInt64" => {
            let n = if f.type_name == "HexInt32" { 4 } else { 8 };
            match int_le(b, n) {
                Some(v) => Read::Value(format!("0x{v:X}"), n, Some(v)),
                None => Read::Short,
            }
        }
        "NTStatus" => match int_le(b, 4) {
            Some(v) => Read::Value(ntstatus_text(v as u32), 4, Some(v)),
            None => Read::Short,
        },
        "Float" => match b.get(..4) {
            Some(s) => {
                let x = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
                Read::Value(x.to_string(), 4, None)
            }
            None => Read::Short,
        },
        "Double" => match int_le(b, 8) {
            Some(v) => Read::Value(f64::from_bits(v).to_string(), 8, None),
            None => Read::Short,
        },
        "IPv4" => match b.get(..4) {
            Some(s) => Read::Value(Ipv4Addr::new(s[0], s[1], s[2], s[3]).to_string(), 4, None),
            None => Read::Short,
        },
        "IPv6" => match b.get(..16).and_then(|s| <[u8; 16]>::try_from(s).ok()) {
            Some(a) => Read::Value(Ipv6Addr::from(a).to_string(), 16, None),
            None => Read::Short,
        },
        "GUID" => match super::container::Guid::read(b, 0) {
            Some(g) => Read::Value(
                format!("{{{}}}", g.to_string().to_ascii_uppercase()),
                16,
                None,
            ),
            None => Read::Short,
        },
        "FILETIME" => match int_le(b, 8) {
            Some(v) => Read::Value(
                Timestamp::from_filetime(v).map_or_else(|| v.to_string(), |t| t.to_string()),
                8,
                None,
            ),
            None => Read::Short,
        },
        "SYSTEMTIME" => match b.get(..16) {
            Some(s) => Read::Value(systemtime_text(s), 16, None),
            None => Read::Short,
        },
        "UnicodeString" => unicode_z(b),
        "AnsiString" => match memchr::memchr(0, b) {
            Some(end) => {
                let s: String = b[..end].iter().map(|&c| char::from(c)).collect();
                Read::Value(s, end + 1, None)
            }
            None => Read::Short,
        },
        "SID" => sid(b),
        "SocketAddress" | "IPAddress" | "Binary" => {
            let Some(n) = len.and_then(|n| usize::try_from(n).ok()) else {
                return Read::Unsupported("binary field without a length field");
            };
            let Some(s) = b.get(..n) else {
                return Read::Short;
            };
            let text = match f.type_name.as_str() {
                "SocketAddress" => sockaddr_text(s).unwrap_or_else(|| hex(s)),
                "IPAddress" => ip_text(s).unwrap_or_else(|| hex(s)),
                _ => hex(s),
            };
            Read::Value(text, n, None)
        }
        _ => Read::Unsupported("field type not supported"),
    }
}

/// `N(Name)` when the field has a value map holding `v`, as netsh renders.
fn with_map(pi: usize, f: &Field, v: u64, text: String) -> String {
    match f
        .map
        .as_deref()
        .and_then(|m| registry().map_string(pi, m, v))
    {
        Some(name) => format!("{text}({name})"),
        None => text,
    }
}

pub(crate) fn ntstatus_text(code: u32) -> String {
    if code == 0 {
        return "Success".to_string();
    }
    match registry().ntstatus_name(code) {
        Some(n) => n.to_string(),
        None => format!("0x{code:08X}"),
    }
}

fn unicode_z(b: &[u8]) -> Read {
    let mut units = Vec::new();
    let mut i = 0usize;
    loop {
        let Some(u) = int_le(b.get(i..).unwrap_or(&[]), 2) else {
            return Read::Short;
        };
        i += 2;
        if u == 0 {
            break;
        }
        units.push(u as u16);
    }
    Read::Value(String::from_utf16_lossy(&units), i, None)
}

/// SID: revision, sub-authority count, 48-bit big-endian authority, then
/// the sub-authorities (little-endian u32).
fn sid(b: &[u8]) -> Read {
    let (Some(&rev), Some(&count)) = (b.first(), b.get(1)) else {
        return Read::Short;
    };
    let n = 8 + 4 * usize::from(count);
    let Some(s) = b.get(..n) else {
        return Read::Short;
    };
    let auth = s[2..8].iter().fold(0u64, |a, &x| (a << 8) | u64::from(x));
    let mut text = format!("S-{rev}-{auth}");
    for k in 0..usize::from(count) {
        if let Some(v) = int_le(&s[8 + 4 * k..], 4) {
            text.push_str(&format!("-{v}"));
        }
    }
    Read::Value(text, n, None)
}

pub(crate) fn systemtime_text(s: &[u8]) -> String {
    let w = |k: usize| int_le(s.get(2 * k..).unwrap_or(&[]), 2).unwrap_or(0);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        w(0),
        w(1),
        w(3),
        w(4),
        w(5),
        w(6),
        w(7)
    )
}

/// SOCKADDR_IN (family 2) / SOCKADDR_IN6 (family 23) as `ip:port` /
/// `[ip]:port`.
pub fn sockaddr_text(s: &[u8]) -> Option<String> {
    let family = int_le(s, 2)?;
    let port = u16::from_be_bytes([*s.get(2)?, *s.get(3)?]);
    match family {
        2 => {
            let a = s.get(4..8)?;
            Some(format!("{}:{port}", Ipv4Addr::new(a[0], a[1], a[2], a[3])))
        }
        23 => {
            let a: [u8; 16] = s.get(8..24)?.try_into().ok()?;
            Some(format!("[{}]:{port}", Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

/// A bare address: 4 or 16 bytes, or a SOCKADDR without its port.
fn ip_text(s: &[u8]) -> Option<String> {
    match s.len() {
        4 => Some(Ipv4Addr::new(s[0], s[1], s[2], s[3]).to_string()),
        16 => {
            let a: [u8; 16] = s.try_into().ok()?;
            Some(Ipv6Addr::from(a).to_string())
        }
        _ => {
            let t = sockaddr_text(s)?;
            let ip = t.rsplit_once(':').map(|(ip, _)| ip)?;
            Some(ip.trim_matches(['[', ']']).to_string())
        }
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * b.len().min(MAX_HEX_BYTES) + 3);
    s.push_str("0x");
    for x in b.iter().take(MAX_HEX_BYTES) {
        s.push_str(&format!("{x:02X}"));
    }
    if b.len() > MAX_HEX_BYTES {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcpip() -> usize {
        registry()
            .provider_index("Microsoft-Windows-TCPIP")
            .expect("tcpip")
    }

    #[test]
    fn state_change_renders_maps_and_pointer() {
        let pi = tcpip();
        let s = registry()
            .event("Microsoft-Windows-TCPIP", 1051, Some(0))
            .expect("1051");
        let mut d = Vec::new();
        d.extend_from_slice(&1u32.to_le_bytes());
        d.extend_from_slice(&2u32.to_le_bytes());
        d.extend_from_slice(&0u32.to_le_bytes());
        d.extend_from_slice(&0x8921_DD28u32.to_le_bytes());
        let p = decode_payload(pi, s, &d, 4);
        assert_eq!(p.note, None);
        assert_eq!(p.values[3].as_deref(), Some("0x8921DD28"));
        assert!(p.values[0].as_deref().unwrap().starts_with("1("));
    }

    #[test]
    fn sockaddr_forms() {
        let v4 = [2, 0, 0x32, 0xC8, 192, 168, 1, 212, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(sockaddr_text(&v4).as_deref(), Some("192.168.1.212:13000"));
        let mut v6 = vec![23, 0, 0x01, 0xBB, 0, 0, 0, 0];
        v6.extend_from_slice(&[0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        v6.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(sockaddr_text(&v6).as_deref(), Some("[fe80::1]:443"));
        assert_eq!(sockaddr_text(&[9, 0]), None);
    }

    #[test]
    fn truncated_payload_is_partial_not_panic() {
        let pi = tcpip();
        let s = registry()
            .event("Microsoft-Windows-TCPIP", 1017, Some(0))
            .expect("1017");
        // LocalAddressLength says 16 but only 3 bytes follow.
        let d = [16u8, 0, 0, 0, 2, 0, 0x32];
        let p = decode_payload(pi, s, &d, 8);
        assert_eq!(p.values[0].as_deref(), Some("16"));
        assert!(p.values[1].is_none());
        assert!(p.note.is_some());
        assert_eq!(p.rest.as_ref().map(|r| r.1.as_str()), Some("0x020032"));
    }

    #[test]
    fn every_schema_event_survives_arbitrary_payloads() {
        let reg = registry();
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for e in &reg.events {
            for len in [0usize, 3, 17, 64, 300] {
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        (seed & 0xFF) as u8
                    })
                    .collect();
                for ptr in [4, 8] {
                    let p = decode_payload(e.provider, e, &data, ptr);
                    assert_eq!(p.values.len(), e.fields.len());
                }
            }
        }
    }

    #[test]
    fn sid_and_strings() {
        let sid_bytes = [1u8, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0];
        match sid(&sid_bytes) {
            Read::Value(t, n, _) => assert_eq!((t.as_str(), n), ("S-1-5-32-544", 16)),
            _ => panic!("sid"),
        }
        match unicode_z(&[b'h', 0, b'i', 0, 0, 0, 0xFF]) {
            Read::Value(t, n, _) => assert_eq!((t.as_str(), n), ("hi", 6)),
            _ => panic!("utf16"),
        }
        assert!(matches!(unicode_z(&[b'h', 0, b'i']), Read::Short));
    }
}
