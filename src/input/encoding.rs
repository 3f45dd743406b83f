//! Text encoding detection and decoding, done once at the input edge so
//! every parser sees UTF-8.
//!
//! Order of evidence: an explicit `--encoding` label; a BOM (UTF-8,
//! UTF-16LE, UTF-16BE); the NUL pattern of BOM-less UTF-16 (ASCII-heavy
//! Windows text has a NUL in every other byte); valid UTF-8; otherwise a
//! legacy code page. Windows tools redirected from cmd.exe write the OEM code
//! page (CP437 in the US, CP850 in western Europe, CP866 in Russia…); the
//! guess between them is made from which decoding yields more letters
//! (CP850 puts accented letters where CP437 has box-drawing characters).

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};
use oem_cp::code_table::{DECODING_TABLE_CP437, DECODING_TABLE_CP850};

/// The encodings this layer knows how to name and decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Utf8Bom,
    Utf16Le {
        bom: bool,
    },
    Utf16Be {
        bom: bool,
    },
    /// IBM/OEM code page 437 (US cmd.exe).
    Cp437,
    /// IBM/OEM code page 850 (western Europe cmd.exe).
    Cp850,
    /// A WHATWG encoding from encoding_rs (windows-1252, IBM866, GBK, Shift_JIS…).
    Whatwg(&'static Encoding),
}

impl TextEncoding {
    pub fn name(self) -> String {
        match self {
            TextEncoding::Utf8 => "utf-8".into(),
            TextEncoding::Utf8Bom => "utf-8-bom".into(),
            TextEncoding::Utf16Le { bom: true } => "utf-16le-bom".into(),
            TextEncoding::Utf16Le { bom: false } => "utf-16le".into(),
            TextEncoding::Utf16Be { bom: true } => "utf-16be-bom".into(),
            TextEncoding::Utf16Be { bom: false } => "utf-16be".into(),
            TextEncoding::Cp437 => "cp437".into(),
            TextEncoding::Cp850 => "cp850".into(),
            TextEncoding::Whatwg(e) => e.name().to_ascii_lowercase(),
        }
    }

    /// Resolves a user-given label (`--encoding`): `utf-8`, `utf-16le`,
    /// `utf-16be`, `cp437`/`437`/`ibm437`, `cp850`/`850`/`ibm850`, or any
    /// WHATWG label (`windows-1252`, `cp866`, `gbk`, `shift_jis`…).
    pub fn from_label(label: &str) -> Option<TextEncoding> {
        let l = label.trim().to_ascii_lowercase();
        match l.as_str() {
            "utf-8" | "utf8" => return Some(TextEncoding::Utf8),
            "utf-16le" | "utf16le" | "utf-16" | "unicode" => {
                return Some(TextEncoding::Utf16Le { bom: false });
            }
            "utf-16be" | "utf16be" => return Some(TextEncoding::Utf16Be { bom: false }),
            "cp437" | "437" | "ibm437" | "oem-us" => return Some(TextEncoding::Cp437),
            "cp850" | "850" | "ibm850" => return Some(TextEncoding::Cp850),
            "cp866" | "866" => return Some(TextEncoding::Whatwg(encoding_rs::IBM866)),
            "cp936" | "936" => return Some(TextEncoding::Whatwg(encoding_rs::GBK)),
            "cp932" | "932" => return Some(TextEncoding::Whatwg(encoding_rs::SHIFT_JIS)),
            _ => {}
        }
        if let Some(n) = l.strip_prefix("cp").and_then(|n| n.parse::<u16>().ok())
            && (1250..=1258).contains(&n)
        {
            return Encoding::for_label(format!("windows-{n}").as_bytes())
                .map(TextEncoding::Whatwg);
        }
        Encoding::for_label(l.as_bytes()).map(|e| {
            if e == UTF_8 {
                TextEncoding::Utf8
            } else if e == UTF_16LE {
                TextEncoding::Utf16Le { bom: false }
            } else if e == UTF_16BE {
                TextEncoding::Utf16Be { bom: false }
            } else {
                TextEncoding::Whatwg(e)
            }
        })
    }
}

/// Result of decoding a file's bytes.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub text: String,
    pub encoding: TextEncoding,
    /// Byte offsets (into the input) of the first few malformed sequences,
    /// replaced by U+FFFD in `text`.
    pub malformed: Vec<usize>,
    /// Total count of malformed sequences.
    pub malformed_count: usize,
    /// The input ended in the middle of a character (e.g. odd UTF-16 length).
    pub truncated: bool,
}

/// Detects the encoding of `bytes` (see the module doc).
pub fn detect(bytes: &[u8]) -> TextEncoding {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return TextEncoding::Utf8Bom;
    }
    if bytes.starts_with(&[0xFF, 0xFE]) {
        return TextEncoding::Utf16Le { bom: true };
    }
    if bytes.starts_with(&[0xFE, 0xFF]) {
        return TextEncoding::Utf16Be { bom: true };
    }
    if let Some(e) = sniff_utf16(bytes) {
        return e;
    }
    let head = &bytes[..bytes.len().min(1 << 20)];
    match std::str::from_utf8(head) {
        Ok(_) => TextEncoding::Utf8,
        // A multi-byte character cut by the 1 MiB window is still UTF-8.
        Err(e) if e.error_len().is_none() => TextEncoding::Utf8,
        Err(_) => guess_legacy(head),
    }
}

/// BOM-less UTF-16: in ASCII-heavy text every other byte is NUL.
fn sniff_utf16(bytes: &[u8]) -> Option<TextEncoding> {
    let n = bytes.len().min(4096) & !1;
    if n < 4 {
        return None;
    }
    let (mut even0, mut odd0) = (0usize, 0usize);
    for pair in bytes[..n].chunks_exact(2) {
        if pair[0] == 0 {
            even0 += 1;
        }
        if pair[1] == 0 {
            odd0 += 1;
        }
    }
    let pairs = n / 2;
    if odd0 * 10 >= pairs * 6 && even0 * 10 <= pairs {
        Some(TextEncoding::Utf16Le { bom: false })
    } else if even0 * 10 >= pairs * 6 && odd0 * 10 <= pairs {
        Some(TextEncoding::Utf16Be { bom: false })
    } else {
        None
    }
}

/// Chooses between OEM code pages for non-UTF-8 bytes by counting how many
/// high bytes decode to letters (accented Latin, Cyrillic) rather than to
/// box-drawing or symbols.
fn guess_legacy(head: &[u8]) -> TextEncoding {
    let high: Vec<u8> = head
        .iter()
        .copied()
        .filter(|b| *b >= 0x80)
        .take(4096)
        .collect();
    let score_table = |table: &[char; 128]| -> usize {
        high.iter()
            .filter(|b| {
                table
                    .get(usize::from(**b - 0x80))
                    .is_some_and(|c| c.is_alphabetic() || *c == '\u{a0}')
            })
            .count()
    };
    let s437 = score_table(&DECODING_TABLE_CP437);
    let s850 = score_table(&DECODING_TABLE_CP850);
    // Cyrillic text in CP866: bytes 0x80–0xAF and 0xE0–0xEF are letters.
    let s866 = high
        .iter()
        .filter(|b| (0x80..=0xAF).contains(*b) || (0xE0..=0xEF).contains(*b))
        .count();
    // windows-1252 (ANSI, e.g. files saved by Notepad): letters at 0xC0–0xFF.
    let s1252 = high.iter().filter(|b| **b >= 0xC0).count();
    let best = [s850, s437, s866, s1252].into_iter().max().unwrap_or(0);
    if best == 0 || best == s850 {
        // CP850 shares its letters with CP437 and adds the ones French,
        // Spanish and German text needs.
        TextEncoding::Cp850
    } else if best == s437 {
        TextEncoding::Cp437
    } else if best == s866 && s866 > s1252 {
        TextEncoding::Whatwg(encoding_rs::IBM866)
    } else {
        TextEncoding::Whatwg(encoding_rs::WINDOWS_1252)
    }
}

const MAX_MALFORMED_OFFSETS: usize = 8;

/// Decodes `bytes` with `forced` or the detected encoding.
pub fn decode(bytes: &[u8], forced: Option<TextEncoding>) -> Decoded {
    let encoding = forced.unwrap_or_else(|| detect(bytes));
    match encoding {
        TextEncoding::Utf8 | TextEncoding::Utf8Bom => {
            let body = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
            decode_utf8_lossy(body, encoding, bytes.len() - body.len())
        }
        TextEncoding::Utf16Le { .. } => decode_utf16(bytes, true, encoding),
        TextEncoding::Utf16Be { .. } => decode_utf16(bytes, false, encoding),
        TextEncoding::Cp437 => decode_single_byte(bytes, &DECODING_TABLE_CP437, encoding),
        TextEncoding::Cp850 => decode_single_byte(bytes, &DECODING_TABLE_CP850, encoding),
        TextEncoding::Whatwg(e) => {
            let (text, _, had_errors) = e.decode(bytes);
            Decoded {
                text: text.into_owned(),
                encoding,
                malformed: Vec::new(),
                malformed_count: usize::from(had_errors),
                truncated: false,
            }
        }
    }
}

fn decode_utf8_lossy(body: &[u8], encoding: TextEncoding, offset: usize) -> Decoded {
    match std::str::from_utf8(body) {
        Ok(s) => Decoded {
            text: s.to_owned(),
            encoding,
            malformed: Vec::new(),
            malformed_count: 0,
            truncated: false,
        },
        Err(_) => {
            let mut text = String::with_capacity(body.len());
            let mut malformed = Vec::new();
            let mut count = 0;
            let mut truncated = false;
            for chunk in body.utf8_chunks() {
                text.push_str(chunk.valid());
                if !chunk.invalid().is_empty() {
                    let at = offset + (chunk.invalid().as_ptr() as usize - body.as_ptr() as usize);
                    if malformed.len() < MAX_MALFORMED_OFFSETS {
                        malformed.push(at);
                    }
                    count += 1;
                    text.push('\u{FFFD}');
                    truncated = at + chunk.invalid().len() == offset + body.len();
                }
            }
            Decoded {
                text,
                encoding,
                malformed,
                malformed_count: count,
                truncated,
            }
        }
    }
}

fn decode_utf16(bytes: &[u8], le: bool, encoding: TextEncoding) -> Decoded {
    let bom: &[u8] = if le { &[0xFF, 0xFE] } else { &[0xFE, 0xFF] };
    let start = if bytes.starts_with(bom) { 2 } else { 0 };
    let body = &bytes[start..];
    let truncated = body.len() % 2 == 1;
    let units = body.chunks_exact(2).map(|p| {
        if le {
            u16::from_le_bytes([p[0], p[1]])
        } else {
            u16::from_be_bytes([p[0], p[1]])
        }
    });
    let mut text = String::with_capacity(body.len() / 2 + 16);
    let mut malformed = Vec::new();
    let mut count = 0;
    for (i, r) in char::decode_utf16(units).enumerate() {
        match r {
            Ok(c) => text.push(c),
            Err(_) => {
                if malformed.len() < MAX_MALFORMED_OFFSETS {
                    malformed.push(start + i * 2);
                }
                count += 1;
                text.push('\u{FFFD}');
            }
        }
    }
    if truncated {
        count += 1;
        if malformed.len() < MAX_MALFORMED_OFFSETS {
            malformed.push(bytes.len() - 1);
        }
    }
    Decoded {
        text,
        encoding,
        malformed,
        malformed_count: count,
        truncated,
    }
}

fn decode_single_byte(bytes: &[u8], table: &[char; 128], encoding: TextEncoding) -> Decoded {
    let text = bytes
        .iter()
        .map(|&b| {
            if b < 0x80 {
                char::from(b)
            } else {
                table
                    .get(usize::from(b - 0x80))
                    .copied()
                    .unwrap_or('\u{FFFD}')
            }
        })
        .collect();
    Decoded {
        text,
        encoding,
        malformed: Vec::new(),
        malformed_count: 0,
        truncated: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(s: &str, bom: bool) -> Vec<u8> {
        let mut v = if bom { vec![0xFF, 0xFE] } else { vec![] };
        for u in s.encode_utf16() {
            v.extend_from_slice(&u.to_le_bytes());
        }
        v
    }

    #[test]
    fn utf16le_with_and_without_bom() {
        let d = decode(&utf16le("Image Name   PID\r\n", true), None);
        assert_eq!(d.encoding, TextEncoding::Utf16Le { bom: true });
        assert_eq!(d.text, "Image Name   PID\r\n");
        let d = decode(&utf16le("Proto  Dirección local\r\n", false), None);
        assert_eq!(d.encoding, TextEncoding::Utf16Le { bom: false });
        assert_eq!(d.text, "Proto  Dirección local\r\n");
    }

    #[test]
    fn utf16be_bom() {
        let mut v = vec![0xFE, 0xFF];
        for u in "abc".encode_utf16() {
            v.extend_from_slice(&u.to_be_bytes());
        }
        let d = decode(&v, None);
        assert_eq!(d.text, "abc");
        assert_eq!(d.encoding.name(), "utf-16be-bom");
    }

    #[test]
    fn truncated_utf16_is_reported() {
        let mut v = utf16le("abcd", true);
        v.push(b'e');
        let d = decode(&v, None);
        assert!(d.truncated);
        assert_eq!(d.text, "abcd");
        assert_eq!(d.malformed_count, 1);
    }

    #[test]
    fn utf8_bom_stripped() {
        let d = decode(b"\xEF\xBB\xBFImage Name", None);
        assert_eq!(d.encoding, TextEncoding::Utf8Bom);
        assert_eq!(d.text, "Image Name");
    }

    #[test]
    fn oem_cp850_french_tasklist() {
        // "Numéro de session" and "34 452 Ko" with NBSP (0xFF in CP850).
        let bytes = b"Nom de l'image  Num\x82ro de s\r\nsvchost.exe  34\xFF452 Ko\r\n";
        let d = decode(bytes, None);
        assert_eq!(d.encoding, TextEncoding::Cp850);
        assert!(d.text.contains("Numéro"));
        assert!(d.text.contains("34\u{a0}452"));
    }

    #[test]
    fn labels_resolve() {
        assert_eq!(TextEncoding::from_label("cp437"), Some(TextEncoding::Cp437));
        assert_eq!(TextEncoding::from_label("850"), Some(TextEncoding::Cp850));
        assert_eq!(
            TextEncoding::from_label("cp1252").map(|e| e.name()),
            Some("windows-1252".into())
        );
        assert_eq!(
            TextEncoding::from_label("cp866").map(|e| e.name()),
            Some("ibm866".into())
        );
        assert_eq!(TextEncoding::from_label("nonsense"), None);
    }

    #[test]
    fn invalid_utf8_falls_back_to_legacy() {
        let d = decode(b"caf\xe9 ok", None);
        assert!(!matches!(d.encoding, TextEncoding::Utf8));
        assert!(!d.text.contains('\u{FFFD}'));
    }
}
