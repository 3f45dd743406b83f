//! Small parsing helpers shared by the decoders. All are total: they return
//! `None` on malformed input rather than panicking.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::event::Endpoint;

/// Iterates the lines of `text` without terminators (`\n`, `\r\n`, and a lone
/// trailing `\r`). A final line without terminator is yielded; an empty text
/// yields nothing, and a text ending in `\n` yields no empty last line.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos >= bytes.len() {
            return None;
        }
        let end = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
        let mut line = &text[pos..end];
        pos = end + 1;
        if let Some(stripped) = line.strip_suffix('\r') {
            line = stripped;
        }
        Some(line)
    })
}

/// Number of lines [`lines`] yields for `text`.
pub fn count_lines(text: &str) -> u64 {
    let b = text.as_bytes();
    if b.is_empty() {
        return 0;
    }
    let n = memchr::memchr_iter(b'\n', b).count() as u64;
    if b.last() == Some(&b'\n') { n } else { n + 1 }
}

/// Byte offset of the first `needle` in `hay`, exactly as `hay.find(needle)`
/// gives it. For the short needles and lines the decoders search, a
/// `memchr` for the needle's first byte and a compare is several times
/// cheaper than the two-way searcher `str::find` builds on every call. A
/// match of a whole UTF-8 needle always starts on a char boundary.
pub fn find_str(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = n.split_first() else {
        return Some(0);
    };
    let mut from = 0;
    while let Some(i) = memchr::memchr(first, h.get(from..)?) {
        let at = from + i;
        if h.get(at + 1..at + n.len()) == Some(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Byte offset of the last `needle` in `hay`, exactly as `hay.rfind(needle)`
/// gives it (see [`find_str`]).
pub fn rfind_str(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = n.split_first() else {
        return Some(h.len());
    };
    let mut end = h.len();
    while let Some(at) = memchr::memrchr(first, h.get(..end)?) {
        if h.get(at + 1..at + n.len()) == Some(rest) {
            return Some(at);
        }
        end = at;
    }
    None
}

/// `s.split(sep)` for a separator that cannot overlap itself (`", "`),
/// searched with [`find_str`].
pub fn split_str<'a>(s: &'a str, sep: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        match find_str(r, sep).filter(|_| !sep.is_empty()) {
            Some(i) => {
                rest = r.get(i + sep.len()..);
                r.get(..i)
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// Parses a decimal integer that may carry thousands separators of any
/// locale (`1,040,592`, `13.160`, `34 452` with NBSP or narrow NBSP, `64'200`).
pub fn parse_grouped_u64(s: &str) -> Option<u64> {
    let mut v: u64 = 0;
    let mut digits = 0;
    for c in s.trim().chars() {
        match c {
            '0'..='9' => {
                v = v
                    .checked_mul(10)?
                    .checked_add(u64::from(c as u32 - '0' as u32))?;
                digits += 1;
            }
            ',' | '.' | ' ' | '\u{a0}' | '\u{202f}' | '\'' | '\u{2019}' => {}
            _ => return None,
        }
    }
    (digits > 0).then_some(v)
}

/// `0x1A2B` / `1A2B` hex, or decimal when `hex` is false and there is no `0x`.
pub fn parse_u64_auto(s: &str) -> Option<u64> {
    let s = trim(s);
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

/// `str::trim` with a fast path for the common case: ASCII spaces and tabs
/// (the padding of most fields) are stripped as bytes, and only an end that
/// is then neither printable ASCII nor empty needs `str::trim`'s
/// Unicode-aware scan. The result is always `s.trim()`.
pub fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t'))
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !matches!(c, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    let inner = s.get(start..end).unwrap_or_default();
    let ib = inner.as_bytes();
    match (ib.first(), ib.last()) {
        (None, None) => inner,
        (Some(&f), Some(&l)) if (0x21..=0x7E).contains(&f) && (0x21..=0x7E).contains(&l) => inner,
        _ => inner.trim(),
    }
}

/// A pointer value `0x8921DD28` / `0xFFFFE189BD811AA0` (32 or 64 bits).
pub fn parse_pointer(s: &str) -> Option<u64> {
    let s = trim(s);
    let h = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    if h.is_empty() || h.len() > 16 {
        return None;
    }
    // Plain hex digits (the usual case) without the generic radix parser;
    // anything else (a `+` sign) gets the parser's own verdict.
    let mut v = 0u64;
    for &c in h.as_bytes() {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return u64::from_str_radix(h, 16).ok(),
        };
        v = (v << 4) | u64::from(d);
    }
    Some(v)
}

/// IPv4 that tolerates zero-padded octets (`172.023.098.097` is decimal,
/// as tracerpt prints it), or IPv6 (with an optional `%zone`).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = trim(s);
    if s.contains(':') {
        let s = s.split('%').next()?;
        return s.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let mut oct = [0u8; 4];
    let mut n = 0;
    for part in s.split('.') {
        if n == 4 || part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        oct[n] = part
            .parse::<u16>()
            .ok()
            .and_then(|v| u8::try_from(v).ok())?;
        n += 1;
    }
    (n == 4).then(|| IpAddr::V4(Ipv4Addr::from(oct)))
}

/// A socket address as Windows tools print it: `1.2.3.4:80`, `[::1]:445`,
/// `[fe80::1%9]:1900`, `*:*`, `0.0.0.0:0`, `[::]:0`. A `*` port or address
/// becomes `None`. Returns `None` when the text is not an address at all.
pub fn parse_socket_addr(s: &str) -> Option<Endpoint> {
    let s = trim(s);
    if s == "*:*" {
        return Some(Endpoint {
            ip: None,
            port: None,
        });
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let close = rest.find(']')?;
        let host = &rest[..close];
        let after = &rest[close + 1..];
        let port = after.strip_prefix(':')?;
        (host, port)
    } else {
        let idx = s.rfind(':')?;
        (&s[..idx], &s[idx + 1..])
    };
    let ip = if host == "*" {
        None
    } else {
        Some(parse_ip(host)?)
    };
    let port = if port == "*" {
        None
    } else {
        Some(port.parse::<u16>().ok()?)
    };
    Some(Endpoint { ip, port })
}

/// Splits `s` on runs of two or more spaces/tabs (fixed-width tables whose
/// cells may contain single spaces).
pub fn split_wide(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < b.len() {
        let ws = b[i] == b' ' || b[i] == b'\t';
        if ws {
            let mut j = i;
            while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                j += 1;
            }
            if (j - i >= 2 || b[i] == b'\t' || j == b.len())
                && let Some(st) = start.take()
            {
                out.push(&s[st..i]);
            }
            i = j;
            continue;
        }
        if start.is_none() {
            start = Some(i);
        }
        i += 1;
    }
    if let Some(st) = start {
        out.push(&s[st..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_is_str_trim() {
        for t in [
            "",
            " ",
            "\t \t",
            "abc",
            "  abc ",
            " 562949953421314",
            "Rx ",
            "\u{3000}x\u{3000}",
            " \u{a0}x ",
            " \r\nx\n ",
            "é ",
            " \t",
        ] {
            assert_eq!(trim(t), t.trim(), "{t:?}");
        }
    }

    #[test]
    fn find_str_rfind_str_split_str_agree_with_std() {
        let hays = [
            "",
            "a",
            "192.168.0.1.443 > 10.0.0.2.80: Flags [S.], seq 1, ack 2, win 3, length 0",
            ", , ,,  , ",
            "丢弃： ip: 1.2.3.4 > 5.6.7.8: UDP, length 1",
            "ethertype ethertype  ethertyp",
            "aaaa",
        ];
        let needles = [
            " > ",
            ": ",
            ", ",
            "ethertype ",
            "a",
            "aa",
            "：",
            "length ",
            "x",
        ];
        for h in hays {
            for n in needles {
                assert_eq!(find_str(h, n), h.find(n), "find {n:?} in {h:?}");
                assert_eq!(rfind_str(h, n), h.rfind(n), "rfind {n:?} in {h:?}");
            }
            assert_eq!(find_str(h, ""), h.find(""));
            assert_eq!(rfind_str(h, ""), h.rfind(""));
            let ours: Vec<&str> = split_str(h, ", ").collect();
            let std: Vec<&str> = h.split(", ").collect();
            assert_eq!(ours, std, "split {h:?}");
        }
    }

    #[test]
    fn pointer_parse_matches_radix_parser() {
        for t in [
            "0x0",
            "0xFFFFFFFFFFFFFFFF",
            "0x8921dd28",
            "0X1",
            "0x+1F",
            "0x-1",
            "0xG",
            "0x",
            "0x10000000000000000",
            " 0xAB ",
        ] {
            let h = t
                .trim()
                .strip_prefix("0x")
                .or_else(|| t.trim().strip_prefix("0X"));
            let want = h
                .filter(|h| !h.is_empty() && h.len() <= 16)
                .and_then(|h| u64::from_str_radix(h, 16).ok());
            assert_eq!(parse_pointer(t), want, "{t:?}");
        }
    }

    #[test]
    fn fast_trim_equals_str_trim() {
        for t in [
            "",
            " ",
            "a",
            " a ",
            "0x12",
            "\u{b}x\u{b}",
            "\u{a0}x",
            "x\u{3000}",
            "\tab\r\n",
            "é",
            "~x!",
            "(0x1)",
        ] {
            assert_eq!(trim(t), t.trim(), "{t:?}");
        }
    }

    #[test]
    fn lines_strip_crlf_and_final() {
        let v: Vec<_> = lines("a\r\nb\n\nc").collect();
        assert_eq!(v, ["a", "b", "", "c"]);
        assert_eq!(count_lines("a\r\nb\n\nc"), 4);
        assert_eq!(lines("a\n").count(), 1);
        assert_eq!(count_lines("a\n"), 1);
        assert_eq!(count_lines(""), 0);
    }

    #[test]
    fn grouped_numbers_of_any_locale() {
        assert_eq!(parse_grouped_u64("1,040,592"), Some(1_040_592));
        assert_eq!(parse_grouped_u64("13.160"), Some(13_160));
        assert_eq!(parse_grouped_u64("34\u{a0}452"), Some(34_452));
        assert_eq!(parse_grouped_u64("N/A"), None);
        assert_eq!(parse_grouped_u64("99999999999999999999999"), None);
    }

    #[test]
    fn zero_padded_ipv4_is_decimal() {
        assert_eq!(parse_ip("172.023.098.097"), "172.23.98.97".parse().ok());
        assert_eq!(parse_ip("010.001.001.001"), "10.1.1.1".parse().ok());
        assert_eq!(parse_ip("256.1.1.1"), None);
        assert_eq!(parse_ip("1.2.3"), None);
    }

    #[test]
    fn socket_addresses_in_windows_forms() {
        let e = parse_socket_addr("[fe80::1%9]:1900").unwrap();
        assert_eq!(e.ip, "fe80::1".parse().ok());
        assert_eq!(e.port, Some(1900));
        let e = parse_socket_addr("*:*").unwrap();
        assert_eq!((e.ip, e.port), (None, None));
        let e = parse_socket_addr("0.0.0.0:135").unwrap();
        assert_eq!(e.port, Some(135));
        assert!(parse_socket_addr("hostname:https").is_none());
        assert_eq!(parse_socket_addr("[::]:0").unwrap().port, Some(0));
    }

    #[test]
    fn wide_split_keeps_single_spaces() {
        assert_eq!(
            split_wide("System Idle Process              0 Services"),
            ["System Idle Process", "0 Services"]
        );
    }
}
