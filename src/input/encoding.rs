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

/// A streaming decoder for the block-by-block text input: encoding_rs's,
/// with an ASCII fast path for UTF-16 (see [`Utf16Stream`]). The two
/// methods have encoding_rs's contract, so callers loop over it alike.
pub enum StreamDecoder {
    Whatwg(encoding_rs::Decoder),
    Utf16(Utf16Stream),
}

impl StreamDecoder {
    /// UTF-16 (little- or big-endian) with its own BOM removed.
    pub fn utf16(big_endian: bool) -> StreamDecoder {
        let e = if big_endian { UTF_16BE } else { UTF_16LE };
        StreamDecoder::Utf16(Utf16Stream {
            inner: e.new_decoder_with_bom_removal(),
            big_endian,
            fed: 0,
            neutral: false,
            scratch: Vec::new(),
        })
    }

    /// Any other encoding_rs encoding, as `encoding.new_decoder()`.
    pub fn whatwg(encoding: &'static Encoding) -> StreamDecoder {
        StreamDecoder::Whatwg(encoding.new_decoder())
    }

    pub fn max_utf8_buffer_length_without_replacement(&self, byte_length: usize) -> Option<usize> {
        match self {
            StreamDecoder::Whatwg(d) => d.max_utf8_buffer_length_without_replacement(byte_length),
            StreamDecoder::Utf16(u) => u
                .inner
                .max_utf8_buffer_length_without_replacement(byte_length),
        }
    }

    pub fn decode_to_string_without_replacement(
        &mut self,
        src: &[u8],
        dst: &mut String,
        last: bool,
    ) -> (encoding_rs::DecoderResult, usize) {
        match self {
            StreamDecoder::Whatwg(d) => d.decode_to_string_without_replacement(src, dst, last),
            StreamDecoder::Utf16(u) => u.decode(src, dst, last),
        }
    }
}

/// UTF-16 → UTF-8 where runs of ASCII code units (nearly all of a Windows
/// trace) are narrowed here, eight bytes at a time, and everything else goes
/// through encoding_rs (whose UTF-16 decoder converts one unit per step).
/// The fast path runs only while the encoding_rs decoder holds nothing back
/// (its BOM check done, no odd byte, no high surrogate waiting), so the text
/// and the malformed-sequence reports are exactly encoding_rs's alone.
pub struct Utf16Stream {
    inner: encoding_rs::Decoder,
    big_endian: bool,
    /// Input bytes consumed so far (by either path).
    fed: u64,
    /// The inner decoder holds no state: ASCII units may bypass it.
    neutral: bool,
    /// ASCII narrowed from one run, appended to the output at once.
    scratch: Vec<u8>,
}

/// Bytes narrowed per fast-path step (keeps the scratch buffer in cache).
const ASCII_STEP: usize = 64 << 10;

impl Utf16Stream {
    /// Whether the 2-byte unit `u` is an ASCII character.
    fn ascii_unit(&self, u: [u8; 2]) -> bool {
        let (lo, hi) = if self.big_endian {
            (u[1], u[0])
        } else {
            (u[0], u[1])
        };
        hi == 0 && lo < 0x80
    }

    /// Narrows the ASCII units at the start of `src` into `dst`; returns
    /// the bytes consumed (even).
    fn ascii_prefix(&mut self, src: &[u8], dst: &mut String) -> usize {
        // Four units in a little-endian u64: every high byte zero and every
        // low byte below 0x80.
        let mask: u64 = if self.big_endian {
            0x80FF_80FF_80FF_80FF
        } else {
            0xFF80_FF80_FF80_FF80
        };
        let lo = usize::from(self.big_endian);
        let mut done = 0;
        loop {
            let step = src.get(done..).unwrap_or_default();
            let step = step.get(..ASCII_STEP.min(step.len())).unwrap_or_default();
            // Sized once; every byte used is written before it is read.
            if self.scratch.len() < step.len() / 2 {
                self.scratch.resize(step.len() / 2, 0);
            }
            let mut n = 0;
            // Sixteen units per step while all are ASCII: one mask test for
            // four words, then each word's four low bytes packed (bytes 0,
            // 2, 4, 6 of the little-endian word for LE, 1, 3, 5, 7 for BE).
            let pack = |w: u64| {
                let x = (w >> (8 * lo)) & 0x00FF_00FF_00FF_00FF;
                let x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
                (x | (x >> 16)) & 0xFFFF_FFFF
            };
            for (chunk, narrow) in step.chunks_exact(32).zip(self.scratch.chunks_exact_mut(16)) {
                let Ok(words) = <[u8; 32]>::try_from(chunk) else {
                    break;
                };
                let word = |i: usize| {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(&words[i * 8..i * 8 + 8]);
                    u64::from_le_bytes(w)
                };
                let (a, b, c, d) = (word(0), word(1), word(2), word(3));
                if (a | b | c | d) & mask != 0 {
                    break;
                }
                for (out, unit) in narrow.iter_mut().zip(words.chunks_exact(2)) {
                    if let Some(b) = unit.get(lo) {
                        *out = *b;
                    }
                }
                n += 32;
            }
            // Then four units per step.
            let words = step.get(n..).unwrap_or_default().chunks_exact(8);
            let narrow = self.scratch.get_mut(n / 2..).unwrap_or_default();
            for (chunk, narrow) in words.zip(narrow.chunks_exact_mut(4)) {
                let Ok(word) = <[u8; 8]>::try_from(chunk) else {
                    break;
                };
                let w = u64::from_le_bytes(word);
                if w & mask != 0 {
                    break;
                }
                narrow.copy_from_slice(&(pack(w) as u32).to_le_bytes());
                n += 8;
            }
            // The rest of the run, unit by unit.
            for unit in step.get(n..).unwrap_or_default().chunks_exact(2) {
                let Ok(u) = <[u8; 2]>::try_from(unit) else {
                    break;
                };
                if !self.ascii_unit(u) {
                    break;
                }
                if let Some(slot) = self.scratch.get_mut(n / 2) {
                    *slot = u[lo];
                }
                n += 2;
            }
            // Every byte written is below 0x80: valid UTF-8.
            let narrowed = self.scratch.get(..n / 2).unwrap_or_default();
            dst.push_str(std::str::from_utf8(narrowed).unwrap_or_default());
            done += n;
            if n < step.len() || step.is_empty() {
                return done;
            }
        }
    }

    /// The length of the next stretch for encoding_rs: through the first
    /// unit of the next four ASCII units (so the stretch ends in an ASCII
    /// unit and the fast path can take the rest), or all of `src`.
    fn non_ascii_stretch(&self, src: &[u8]) -> usize {
        // Unit boundaries in `src` are where the stream offset is even.
        let mut at = (self.fed % 2) as usize + 2;
        while let Some(window) = src.get(at..at + 8) {
            let Ok([a, b, c, d, e, f, g, h]) = <[u8; 8]>::try_from(window) else {
                break;
            };
            if self.ascii_unit([a, b])
                && self.ascii_unit([c, d])
                && self.ascii_unit([e, f])
                && self.ascii_unit([g, h])
            {
                return at + 2;
            }
            at += 2;
        }
        src.len()
    }

    fn decode(
        &mut self,
        src: &[u8],
        dst: &mut String,
        last: bool,
    ) -> (encoding_rs::DecoderResult, usize) {
        use encoding_rs::DecoderResult;
        let mut read = 0;
        loop {
            let rest = src.get(read..).unwrap_or_default();
            if self.neutral {
                let n = self.ascii_prefix(rest, dst);
                read += n;
                self.fed += n as u64;
                if read == src.len() {
                    return (DecoderResult::InputEmpty, read);
                }
            }
            let rest = src.get(read..).unwrap_or_default();
            let len = self.non_ascii_stretch(rest);
            let stretch = rest.get(..len).unwrap_or(rest);
            let is_last = last && len == rest.len();
            let (res, n) = self
                .inner
                .decode_to_string_without_replacement(stretch, dst, is_last);
            read += n;
            self.fed += n as u64;
            self.neutral = false;
            if res != DecoderResult::InputEmpty {
                return (res, read);
            }
            // Nothing is held back after a whole even stretch that ends in
            // an ASCII unit (so no high surrogate waits), once the BOM check
            // has seen its bytes.
            self.neutral = self.fed >= 4
                && self.fed.is_multiple_of(2)
                && stretch
                    .get(stretch.len().wrapping_sub(2)..)
                    .and_then(|u| <[u8; 2]>::try_from(u).ok())
                    .is_some_and(|u| self.ascii_unit(u));
            if read == src.len() {
                return (DecoderResult::InputEmpty, read);
            }
        }
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

    /// Decodes `blocks` the way the pipeline's text stream does: the text
    /// and the stream offsets of malformed sequences.
    fn stream_decode(
        mut next: impl FnMut(&[u8], &mut String, bool) -> (encoding_rs::DecoderResult, usize),
        blocks: &[&[u8]],
    ) -> (String, Vec<u64>) {
        let mut out = String::new();
        let mut bad = Vec::new();
        let mut pos = 0u64;
        for (i, block) in blocks.iter().enumerate() {
            let last = i + 1 == blocks.len();
            let mut src: &[u8] = block;
            loop {
                out.reserve(src.len() * 2 + 16);
                let (res, read) = next(src, &mut out, last);
                src = &src[read..];
                pos += read as u64;
                match res {
                    encoding_rs::DecoderResult::InputEmpty => break,
                    encoding_rs::DecoderResult::OutputFull => continue,
                    encoding_rs::DecoderResult::Malformed(len, after) => {
                        bad.push(pos - u64::from(len) - u64::from(after));
                        out.push('\u{FFFD}');
                    }
                }
            }
        }
        (out, bad)
    }

    #[test]
    fn utf16_fast_path_is_encoding_rs_exactly() {
        // Deterministic pseudo-random inputs mixing ASCII runs, BMP text,
        // surrogate pairs, lone surrogates, BOMs and odd lengths, cut into
        // blocks at arbitrary (also odd) offsets.
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for case in 0..400 {
            let big_endian = case % 4 == 3;
            let mut units: Vec<u16> = Vec::new();
            if rnd(2) == 0 {
                units.push(0xFEFF);
            }
            for _ in 0..rnd(300) {
                match rnd(10) {
                    0 => units.push(0x4E2D),
                    1 => units.extend([0xD83D, 0xDE00]),
                    2 => units.push(0xD800 + rnd(0x400) as u16),
                    3 => units.push(0xDC00 + rnd(0x400) as u16),
                    4 => units.push(0xFEFF),
                    5 => units.push(0x80 + rnd(0x80) as u16),
                    _ => units.extend((0..rnd(40)).map(|_| 0x20 + rnd(0x5F) as u16)),
                }
            }
            let mut bytes: Vec<u8> = units
                .iter()
                .flat_map(|u| {
                    if big_endian {
                        u.to_be_bytes()
                    } else {
                        u.to_le_bytes()
                    }
                })
                .collect();
            if rnd(3) == 0 {
                bytes.push(b'x');
            }
            let mut cuts = vec![0, bytes.len()];
            for _ in 0..rnd(6) {
                cuts.push(rnd(bytes.len() as u64 + 1) as usize);
            }
            cuts.sort_unstable();
            let blocks: Vec<&[u8]> = cuts.windows(2).map(|w| &bytes[w[0]..w[1]]).collect();
            let e = if big_endian { UTF_16BE } else { UTF_16LE };
            let mut reference = e.new_decoder_with_bom_removal();
            let expected = stream_decode(
                |s, d, l| reference.decode_to_string_without_replacement(s, d, l),
                &blocks,
            );
            let mut ours = StreamDecoder::utf16(big_endian);
            let got = stream_decode(
                |s, d, l| ours.decode_to_string_without_replacement(s, d, l),
                &blocks,
            );
            assert_eq!(got, expected, "case {case}");
        }
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
