//! MS-XCA "plain LZ77" (Xpress) decompression, the codec of compressed ETL
//! buffers (COMPRESSION_FORMAT_XPRESS = 3).
//!
//! Written from the MS-XCA §2.4 pseudo-code rather than taken from a crate:
//! one published crate fails on ~4 % of real ETL buffers (it rejects matches
//! that end exactly at the output limit), and the codec is small.

use std::fmt;

/// Why a compressed stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XpressError {
    /// The input ended inside a flag word, match token or length field.
    TruncatedInput { at: usize },
    /// A match points before the start of the output.
    BadOffset { at: usize, offset: usize },
    /// An extended length field holds an impossible value.
    BadLength { at: usize },
    /// The output would grow past the size the buffer header announced.
    Overflow { limit: usize },
}

impl fmt::Display for XpressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XpressError::TruncatedInput { at } => {
                write!(f, "compressed data ends early (input byte {at})")
            }
            XpressError::BadOffset { at, offset } => {
                write!(
                    f,
                    "match offset {offset} before output start (input byte {at})"
                )
            }
            XpressError::BadLength { at } => write!(f, "invalid match length (input byte {at})"),
            XpressError::Overflow { limit } => {
                write!(f, "decompressed data exceeds the announced {limit} bytes")
            }
        }
    }
}

impl std::error::Error for XpressError {}

fn read_u16(input: &[u8], at: usize) -> Result<usize, XpressError> {
    match input.get(at..at + 2) {
        Some(b) => Ok(usize::from(u16::from_le_bytes([b[0], b[1]]))),
        None => Err(XpressError::TruncatedInput { at }),
    }
}

fn read_u32(input: &[u8], at: usize) -> Result<u32, XpressError> {
    match input.get(at..at + 4) {
        Some(b) => Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(XpressError::TruncatedInput { at }),
    }
}

fn read_u8(input: &[u8], at: usize) -> Result<usize, XpressError> {
    input
        .get(at)
        .map(|b| usize::from(*b))
        .ok_or(XpressError::TruncatedInput { at })
}

/// Decompresses `input` into at most `limit` bytes. Decoding stops when the
/// output reaches `limit` or the input is exhausted.
pub fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, XpressError> {
    let mut out: Vec<u8> = Vec::with_capacity(limit);
    decompress_into(input, limit, &mut out)?;
    Ok(out)
}

/// Decompresses `input` onto the end of `out`, adding at most `limit`
/// bytes; matches reach back only into the bytes added. Lets a caller put
/// a header in front without copying the decompressed bytes again.
pub fn decompress_into(input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), XpressError> {
    let base = out.len();
    out.reserve(limit);
    let limit = base.saturating_add(limit);
    let mut pos = 0usize;
    let mut flags: u32 = 0;
    let mut flag_count: u32 = 0;
    // Position of the byte whose upper nibble holds the next 4-bit length.
    let mut half_byte: Option<usize> = None;
    while out.len() < limit {
        if flag_count == 0 {
            if pos >= input.len() {
                break;
            }
            flags = read_u32(input, pos)?;
            pos += 4;
            flag_count = 32;
        }
        // A run of clear flag bits is a run of literals: copy it at once.
        let window = flags << (32 - flag_count);
        let literals = (window.leading_zeros().min(flag_count) as usize)
            .min(input.len().saturating_sub(pos))
            .min(limit - out.len());
        if literals > 0 {
            out.extend_from_slice(&input[pos..pos + literals]);
            pos += literals;
            flag_count -= literals as u32;
            continue;
        }
        if window.leading_zeros() > 0 {
            // Literal flagged but the input (or the output room) is used up.
            break;
        }
        flag_count -= 1;
        if pos >= input.len() {
            break;
        }
        let token = read_u16(input, pos)?;
        pos += 2;
        let offset = (token >> 3) + 1;
        let mut length = token & 7;
        if length == 7 {
            length = match half_byte.take() {
                None => {
                    let v = read_u8(input, pos)? & 0x0F;
                    half_byte = Some(pos);
                    pos += 1;
                    v
                }
                Some(at) => read_u8(input, at)? >> 4,
            };
            if length == 15 {
                length = read_u8(input, pos)?;
                pos += 1;
                if length == 255 {
                    length = read_u16(input, pos)?;
                    pos += 2;
                    if length == 0 {
                        length = usize::try_from(read_u32(input, pos)?)
                            .map_err(|_| XpressError::BadLength { at: pos })?;
                        pos += 4;
                    }
                    length = length
                        .checked_sub(15 + 7)
                        .ok_or(XpressError::BadLength { at: pos })?;
                }
                length += 15;
            }
            length += 7;
        }
        length += 3;
        let start = out
            .len()
            .checked_sub(offset)
            .filter(|&start| start >= base)
            .ok_or(XpressError::BadOffset { at: pos, offset })?;
        if out.len() + length > limit {
            return Err(XpressError::Overflow {
                limit: limit - base,
            });
        }
        if offset >= length {
            out.extend_from_within(start..start + length);
        } else {
            // Overlapping copy: the match repeats the last `offset` bytes;
            // copy in growing non-overlapping chunks.
            let mut left = length;
            while left > 0 {
                let avail = out.len() - start;
                let n = left.min(avail);
                out.extend_from_within(start..start + n);
                left -= n;
            }
        }
    }
    Ok(())
}

/// Compresses `data` with the same codec. Used by the test ETL writer; it
/// finds matches with a small hash table (good enough to exercise every
/// token form, not tuned for ratio).
pub fn compress(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 16);
    let mut flag_pos = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    let mut flags: u32 = 0;
    let mut flag_count = 0u32;
    let mut half_byte: Option<usize> = None;
    let mut table = vec![usize::MAX; 1 << 12];
    let hash = |d: &[u8], i: usize| -> usize {
        let v = u32::from(d[i]) | (u32::from(d[i + 1]) << 8) | (u32::from(d[i + 2]) << 16);
        (v.wrapping_mul(2_654_435_761) >> 20) as usize & 0xFFF
    };
    let mut i = 0;
    let push_flag =
        |out: &mut Vec<u8>, bit: u32, flags: &mut u32, count: &mut u32, fp: &mut usize| {
            *flags = (*flags << 1) | bit;
            *count += 1;
            if *count == 32 {
                out[*fp..*fp + 4].copy_from_slice(&flags.to_le_bytes());
                *fp = out.len();
                out.extend_from_slice(&[0, 0, 0, 0]);
                *flags = 0;
                *count = 0;
            }
        };
    while i < data.len() {
        let mut matched = None;
        if i + 3 <= data.len() {
            let h = hash(data, i);
            let cand = table[h];
            table[h] = i;
            if cand != usize::MAX && i - cand <= 8192 {
                let mut len = 0;
                while i + len < data.len() && data[cand + len] == data[i + len] && len < 65_000 {
                    len += 1;
                }
                if len >= 3 {
                    matched = Some((i - cand, len));
                }
            }
        }
        match matched {
            None => {
                out.push(data[i]);
                push_flag(&mut out, 0, &mut flags, &mut flag_count, &mut flag_pos);
                i += 1;
            }
            Some((offset, len)) => {
                let l = len - 3;
                let token = ((offset - 1) << 3) | l.min(7);
                out.extend_from_slice(&(token as u16).to_le_bytes());
                if l >= 7 {
                    let l2 = l - 7;
                    let nib = l2.min(15) as u8;
                    match half_byte.take() {
                        None => {
                            half_byte = Some(out.len());
                            out.push(nib);
                        }
                        Some(at) => out[at] |= nib << 4,
                    }
                    if l2 >= 15 {
                        let l3 = l2 - 15;
                        if l3 < 255 {
                            out.push(l3 as u8);
                        } else {
                            out.push(255);
                            let full = l3 + 15 + 7;
                            if full <= 0xFFFF {
                                out.extend_from_slice(&(full as u16).to_le_bytes());
                            } else {
                                out.extend_from_slice(&[0, 0]);
                                out.extend_from_slice(&(full as u32).to_le_bytes());
                            }
                        }
                    }
                }
                push_flag(&mut out, 1, &mut flags, &mut flag_count, &mut flag_pos);
                i += len;
            }
        }
    }
    // Terminate: the remaining flag bits are set to 1 so a decoder that
    // reads past the data sees a match with no token and stops (MS-XCA).
    let remaining = 32 - flag_count;
    let final_flags = if remaining == 32 {
        u32::MAX
    } else {
        (flags << remaining) | ((1u32 << remaining) - 1)
    };
    out[flag_pos..flag_pos + 4].copy_from_slice(&final_flags.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_only_stream() {
        // Flag word 0 (32 literals allowed), then three literal bytes.
        let input = [0, 0, 0, 0, b'a', b'b', b'c'];
        assert_eq!(decompress(&input, 3).unwrap(), b"abc");
    }

    #[test]
    fn overlapping_match_repeats_bytes() {
        // "ab" literal, then a match offset 2 length 6 → "abababab".
        let token: u16 = ((2 - 1) << 3) | (6 - 3);
        let flags: u32 = 0b001 << 29;
        let mut input = flags.to_le_bytes().to_vec();
        input.extend_from_slice(b"ab");
        input.extend_from_slice(&token.to_le_bytes());
        assert_eq!(decompress(&input, 8).unwrap(), b"abababab");
    }

    #[test]
    fn round_trip_covers_long_lengths() {
        let mut data = Vec::new();
        for i in 0..5000u32 {
            data.extend_from_slice(&(i % 7).to_le_bytes());
        }
        data.extend(std::iter::repeat_n(0xFFu8, 70_000));
        data.extend((0..3000u32).map(|i| (i * 31 % 251) as u8));
        let packed = compress(&data);
        assert!(packed.len() < data.len() / 4);
        assert_eq!(decompress(&packed, data.len()).unwrap(), data);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        // Match before any output.
        let flags: u32 = 1 << 31;
        let mut input = flags.to_le_bytes().to_vec();
        input.extend_from_slice(&0u16.to_le_bytes());
        assert!(matches!(
            decompress(&input, 10),
            Err(XpressError::BadOffset { .. })
        ));
        // Truncated flag word.
        assert!(matches!(
            decompress(&[1, 2], 10),
            Err(XpressError::TruncatedInput { .. })
        ));
        // Announced limit too small.
        let packed = compress(&[7u8; 100]);
        assert!(matches!(
            decompress(&packed, 50),
            Err(XpressError::Overflow { .. })
        ));
    }

    /// Decompressing after a header gives the header then the same bytes
    /// as `decompress`, and a match cannot reach back into the header.
    #[test]
    fn decompress_into_appends_and_keeps_matches_within_its_output() {
        let data: Vec<u8> = (0..4000u32).map(|i| (i % 13) as u8).collect();
        let packed = compress(&data);
        let mut out = vec![9u8; 72];
        decompress_into(&packed, data.len(), &mut out).unwrap();
        assert_eq!(out.get(..72), Some(&[9u8; 72][..]));
        assert_eq!(out.get(72..), Some(&data[..]));
        // A match of offset 1 before any output of its own.
        let flags: u32 = 1 << 31;
        let mut input = flags.to_le_bytes().to_vec();
        input.extend_from_slice(&0u16.to_le_bytes());
        let mut out = vec![1u8; 8];
        assert!(matches!(
            decompress_into(&input, 10, &mut out),
            Err(XpressError::BadOffset { .. })
        ));
        // The limit counts only the bytes added.
        let mut out = vec![0u8; 100];
        assert!(matches!(
            decompress_into(&compress(&[7u8; 100]), 50, &mut out),
            Err(XpressError::Overflow { limit: 50 })
        ));
    }
}
