//! How ETW converters render one field value, and how to read it back.
//!
//! The same number shows up as `13`, `13(Name)`, `Name`, `0xD`, NetMon's
//! `13 (0xD)`, an NTSTATUS as `Success`, `STATUS_CONNECTION_ABORTED`,
//! `0xC0000241` or `0xC0000241 - STATUS_CONNECTION_ABORTED`, a pointer as
//! `0x8921DD28` or `0xFFFFE189BD811AA0`, an address as `1.2.3.4:80` or
//! `[fe80::1]:443`. These helpers are total: malformed text gives `None`.

use crate::decode::common::{parse_ip, parse_pointer, parse_socket_addr};

/// `str::trim` ([`crate::decode::common::trim`]), first checking the
/// common case of a value that starts and ends with printable ASCII (no
/// padding at all), which it returns as it is.
pub fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(&f), Some(&l)) if (0x21..=0x7E).contains(&f) && (0x21..=0x7E).contains(&l) => s,
        _ => crate::decode::common::trim(s),
    }
}
use crate::event::Endpoint;

fn is_dec(s: &str) -> bool {
    let t = s.strip_prefix('-').unwrap_or(s);
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
}

fn is_hex0x(s: &str) -> bool {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => !h.is_empty() && h.len() <= 16 && h.bytes().all(|b| b.is_ascii_hexdigit()),
        None => false,
    }
}

/// Splits `N(Name)` into (`N`, `Name`); `Name` may itself contain
/// parentheses (`0((Ignore IPv4 address), IPv6 address =)`).
pub fn split_num_name(v: &str) -> Option<(&str, &str)> {
    let v = trim(v);
    let open = v.find('(')?;
    let num = &v[..open];
    if !(is_dec(num) || is_hex0x(num)) || !v.ends_with(')') {
        return None;
    }
    Some((num, &v[open + 1..v.len() - 1]))
}

/// Splits NetMon's `N (0xN)` into (`N`, `0xN`).
pub fn split_netmon_pair(v: &str) -> Option<(&str, &str)> {
    let v = trim(v);
    // `split_once(" (")` without building a substring searcher per call.
    let at = memchr::memchr_iter(b'(', v.as_bytes())
        .find(|&i| i > 0 && v.as_bytes().get(i - 1) == Some(&b' '))?;
    let (a, b) = (v.get(..at - 1)?, v.get(at + 1..)?);
    let b = b.strip_suffix(')')?;
    ((is_dec(a) || is_hex0x(a)) && is_hex0x(b)).then_some((a, b))
}

/// The number a rendered integer value stands for, in any numeric style.
pub fn parse_num(v: &str) -> Option<u64> {
    let v = trim(v);
    // The usual plain forms first: digits only, or `0x` and hex digits,
    // hold no `(` and no prefix, so the general path below would reach its
    // decimal or hex parse with them and give the same answer.
    if !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) {
        return v.parse().ok();
    }
    if let Some(n) = plain_pointer(v) {
        return Some(n);
    }
    parse_num_styled(v)
}

/// [`parse_num`] of a trimmed value in any style.
fn parse_num_styled(v: &str) -> Option<u64> {
    if let Some((n, _)) = split_netmon_pair(v) {
        return parse_num(n);
    }
    if let Some((n, _)) = split_num_name(v) {
        return parse_num(n);
    }
    if let Some(rest) = v.strip_prefix("Unknown value: ") {
        return parse_num(rest);
    }
    if is_hex0x(v) {
        return u64::from_str_radix(&v[2..], 16).ok();
    }
    if is_dec(v) {
        if let Some(neg) = v.strip_prefix('-') {
            // Negative Int32 values keep their two's-complement meaning.
            let n: i64 = neg.parse().ok()?;
            return Some((-n) as u64);
        }
        return v.parse().ok();
    }
    None
}

/// [`is_numeric`] of an already trimmed value, answering the common cases
/// without the general splits: plain decimal digits are a number, and text
/// that starts with neither a digit nor `-` is none (every numeric style
/// starts with its number, decimal or `0x…`).
pub fn is_numeric_trimmed(t: &str) -> bool {
    match t.as_bytes().first() {
        None => false,
        Some(c) if !c.is_ascii_digit() && *c != b'-' => false,
        Some(_) if t.bytes().all(|c| c.is_ascii_digit()) => true,
        Some(_) => is_numeric(t),
    }
}

/// Whether an already trimmed value is a pointer as the matcher accepts
/// one: what [`parse_ptr`] reads, or `0` or `NULL`. The usual `0x…` and
/// NetMon's `0x… (0x…)` are recognised by digit table; anything else gets
/// the general parser's verdict.
pub fn is_pointer_value(t: &str) -> bool {
    if plain_pointer(t).is_some() {
        return true;
    }
    // `0xA (0xB)`: both plain pointers; the general path splits it the same
    // way (the first `(` follows the blank after the first number).
    if let Some(open) = memchr::memchr(b'(', t.as_bytes())
        && let (Some(a), Some(b)) = (t.get(..open), t.get(open + 1..))
        && let (Some(a), Some(b)) = (a.strip_suffix(' '), b.strip_suffix(')'))
        && plain_pointer(a).is_some()
        && plain_pointer(b).is_some()
    {
        return true;
    }
    parse_ptr(t).is_some() || t == "0" || t == "NULL"
}

/// Whether an already trimmed value is an address ([`parse_address`]),
/// the common dotted forms without the general parsers.
pub fn is_address_trimmed(t: &str) -> bool {
    match parse_dotted_address(t) {
        Some(known) => known.is_some(),
        None => parse_address(t).is_some(),
    }
}

/// True when `v` is a number in one of the numeric styles.
pub fn is_numeric(v: &str) -> bool {
    let v = trim(v);
    is_dec(v) || is_hex0x(v) || split_netmon_pair(v).is_some() || split_num_name(v).is_some()
}

/// The symbolic part of a rendered value: `Name` from `N(Name)`, or the
/// value itself when it is not a number.
pub fn value_name(v: &str) -> Option<&str> {
    let v = trim(v);
    if let Some((_, name)) = split_num_name(v) {
        return Some(name);
    }
    if is_numeric(v) {
        return None;
    }
    Some(v)
}

/// A pointer in any style (`0x8921DD28`, `0x8921DD28 (…)`).
pub fn parse_ptr(v: &str) -> Option<u64> {
    let v = trim(v);
    if let Some(p) = plain_pointer(v) {
        return Some(p);
    }
    parse_pointer(v).or_else(|| split_netmon_pair(v).and_then(|(a, _)| parse_pointer(a)))
}

/// The value of each hex digit byte; 0xFF for any other byte.
pub(crate) const HEX_VALUE: [u8; 256] = {
    let mut t = [0xFF; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// The usual pointer, `0x` and 1–16 hex digits, by digit table (a line
/// parses a few; every template match and enrich check one); `None` for
/// anything else, which the general parser then judges.
fn plain_pointer(v: &str) -> Option<u64> {
    let h = v.as_bytes().strip_prefix(b"0x")?;
    if h.is_empty() || h.len() > 16 {
        return None;
    }
    let mut value = 0u64;
    for &c in h {
        let d = HEX_VALUE[usize::from(c)];
        if d > 15 {
            return None;
        }
        value = (value << 4) | u64::from(d);
    }
    Some(value)
}

/// A rendered NTSTATUS: (code when known, name when known).
pub fn parse_status(v: &str) -> (Option<u32>, Option<&str>) {
    let v = trim(v);
    if v.eq_ignore_ascii_case("Success") || v == "STATUS_SUCCESS" {
        return (Some(0), Some("Success"));
    }
    if let Some((code, name)) = v.split_once(" - ") {
        let c = parse_num(code).and_then(|c| u32::try_from(c).ok());
        return (c, Some(trim(name)));
    }
    if let Some(rest) = v.strip_prefix("Unknown NTSTATUS Error code: ") {
        return (parse_num(rest).and_then(|c| u32::try_from(c).ok()), None);
    }
    if v.starts_with("STATUS_") {
        return (None, Some(v));
    }
    if let Some((n, name)) = split_num_name(v) {
        return (parse_num(n).and_then(|c| u32::try_from(c).ok()), Some(name));
    }
    (parse_num(v).and_then(|c| u32::try_from(c).ok()), None)
}

/// True when `v` looks like a rendered NTSTATUS.
pub fn is_status(v: &str) -> bool {
    let v = trim(v);
    if v.eq_ignore_ascii_case("Success") || is_numeric(v) {
        return true;
    }
    if let Some(n) = v.strip_prefix("STATUS_") {
        return !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    }
    if let Some((code, name)) = v.split_once(" - ") {
        return is_numeric(code) && !trim(name).is_empty();
    }
    v.starts_with("Unknown NTSTATUS Error code: ")
}

/// A rendered address: socket address with port, bare IP, or the NetMon
/// `IP:port` form; `None` for anything else.
pub fn parse_address(v: &str) -> Option<Endpoint> {
    let v = trim(v);
    if let Some(known) = parse_dotted_address(v) {
        return known;
    }
    if let Some(ip) = parse_ip(v) {
        return Some(Endpoint {
            ip: Some(ip),
            port: None,
        });
    }
    parse_socket_addr(v).or_else(|| parse_sockaddr_hex(v))
}

/// [`parse_address`] of the common `a.b.c.d` and `a.b.c.d:port` forms
/// without the general parsers: `Some(answer)` for text of digits and dots
/// with at most one colon (what those forms are made of), `None` for any
/// other text. The answer is the one the general path gives: such text is
/// no IPv6 address (that needs two colons), no SOCKADDR hex (it has a dot)
/// and no bracketed or `*` form, so only the dotted IPv4 address with its
/// optional decimal port remains, each part as strict as the general
/// parsers are (1–3 digits up to 255 per octet; a port up to 65535).
fn parse_dotted_address(v: &str) -> Option<Option<Endpoint>> {
    let b = v.as_bytes();
    let mut dots = 0usize;
    let mut colon = None;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'0'..=b'9' => {}
            b'.' => dots += 1,
            b':' if colon.is_none() => colon = Some(i),
            _ => return None,
        }
    }
    if dots == 0 {
        return None;
    }
    let (host, port) = match colon {
        Some(at) => (b.get(..at)?, Some(b.get(at + 1..)?)),
        None => (b, None),
    };
    let mut octets = [0u8; 4];
    let mut parts = 0usize;
    for part in host.split(|&c| c == b'.') {
        if part.is_empty() || part.len() > 3 {
            return Some(None);
        }
        let mut value = 0u16;
        for &d in part {
            if !d.is_ascii_digit() {
                return Some(None);
            }
            value = value * 10 + u16::from(d - b'0');
        }
        let (Some(slot), Ok(octet)) = (octets.get_mut(parts), u8::try_from(value)) else {
            return Some(None);
        };
        *slot = octet;
        parts += 1;
    }
    if parts != 4 {
        return Some(None);
    }
    let port = match port {
        None => None,
        Some(p) => {
            if p.is_empty() {
                return Some(None);
            }
            let mut value = 0u32;
            for &d in p {
                if !d.is_ascii_digit() {
                    return Some(None);
                }
                value = value * 10 + u32::from(d - b'0');
                if value > u32::from(u16::MAX) {
                    return Some(None);
                }
            }
            Some(u16::try_from(value).ok()?)
        }
    };
    Some(Some(Endpoint {
        ip: Some(std::net::IpAddr::V4(std::net::Ipv4Addr::from(octets))),
        port,
    }))
}

/// `0x0200 32C8 C0A801D4 …`: a raw SOCKADDR as XML and binary decoders see
/// `win:Binary` address fields: family (little-endian), port (big-endian),
/// then the IPv4 address, or for family 23 flow info and the IPv6 address.
pub fn parse_sockaddr_hex(v: &str) -> Option<Endpoint> {
    let h = v
        .strip_prefix("0x")
        .or_else(|| v.strip_prefix("0X"))
        .unwrap_or(v);
    if h.len() < 16 || !h.len().is_multiple_of(2) || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes: Vec<u8> = (0..h.len() / 2)
        .filter_map(|i| u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    let family = u16::from_le_bytes([*bytes.first()?, *bytes.get(1)?]);
    let port = u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]);
    let ip = match family {
        2 => {
            let o: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
            std::net::IpAddr::from(o)
        }
        23 => {
            let o: [u8; 16] = bytes.get(8..24)?.try_into().ok()?;
            std::net::IpAddr::from(o)
        }
        _ => return None,
    };
    Some(Endpoint {
        ip: Some(ip),
        port: Some(port),
    })
}

/// A boolean as TDH renders it.
pub fn parse_bool(v: &str) -> Option<bool> {
    let v = trim(v);
    let name = split_num_name(v).map_or(v, |(_, n)| n);
    match name {
        "TRUE" | "true" | "True" | "1" => Some(true),
        "FALSE" | "false" | "False" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_every_style() {
        assert_eq!(parse_num("13"), Some(13));
        assert_eq!(parse_num("13 (0xD)"), Some(13));
        assert_eq!(parse_num("0xD"), Some(13));
        assert_eq!(parse_num("9(Inspection drop)"), Some(9));
        assert_eq!(parse_num("Unknown value: 0"), Some(0));
        assert_eq!(parse_num("Inspection drop"), None);
        assert_eq!(value_name("9(Inspection drop)"), Some("Inspection drop"));
        assert_eq!(value_name("ListenState"), Some("ListenState"));
        assert_eq!(value_name("2 (0x2)"), None);
    }

    #[test]
    fn statuses_in_every_style() {
        assert_eq!(parse_status("Success"), (Some(0), Some("Success")));
        assert_eq!(
            parse_status("0xC0000241 - STATUS_CONNECTION_ABORTED"),
            (Some(0xC000_0241), Some("STATUS_CONNECTION_ABORTED"))
        );
        assert_eq!(parse_status("0xC0000241"), (Some(0xC000_0241), None));
        assert_eq!(
            parse_status("STATUS_CONNECTION_ABORTED"),
            (None, Some("STATUS_CONNECTION_ABORTED"))
        );
        assert!(is_status("Unknown NTSTATUS Error code: 0x10003"));
        assert!(!is_status("posted"));
    }

    #[test]
    fn dotted_fast_path_agrees_with_general_parsers() {
        use crate::decode::common::{parse_ip, parse_socket_addr};
        let general = |v: &str| {
            let v = trim(v);
            parse_ip(v)
                .map(|ip| Endpoint {
                    ip: Some(ip),
                    port: None,
                })
                .or_else(|| parse_socket_addr(v))
                .or_else(|| parse_sockaddr_hex(v))
        };
        for v in [
            "1.2.3.4",
            "1.2.3.4:80",
            " 10.1.0.0:51416 ",
            "172.023.098.097",
            "172.023.098.097:0080",
            "255.255.255.255:65535",
            "1.2.3.4:65536",
            "1.2.3.4:99999999999999999999",
            "256.1.1.1:80",
            "1.2.3:80",
            "1.2.3.4.5",
            "1..3.4",
            "1.2.3.4:",
            ":80",
            "1.2.3.4:8.0",
            "1.2.3.4:80:1",
            "1234.2.3.4",
            ".",
            "1.2.3.4:+80",
            "0.0.0.0:0",
            "12",
            "1:2",
        ] {
            assert_eq!(parse_address(v), general(v), "{v:?}");
            if let Some(fast) = parse_dotted_address(trim(v)) {
                assert_eq!(fast, general(v), "{v:?}");
            }
        }
    }

    #[test]
    fn plain_pointer_agrees_with_general_parser() {
        for v in [
            "0x0",
            "0x8921DD28",
            "0xffffe189bd811aa0",
            "0xFFFFFFFFFFFFFFFF",
            "0x1FFFFFFFFFFFFFFFF",
            "0x",
            "0X12",
            "0x+12",
            "0x12g",
            "12",
            "0x8921DD28 (0x1)",
            "0xFFFFA000003FC000 (0x000003FC)",
            "0x1 (0x)",
            "0x1  (0x2)",
            "0x1 (0x2))",
            "0x1 (0x2) ",
            "0x (0x2)",
            "12 (0xC)",
            "0x1FFFFFFFFFFFFFFFF (0x1)",
        ] {
            let pointer = parse_ptr(v).is_some() || v == "0" || v == "NULL";
            assert_eq!(is_pointer_value(trim(v)), pointer, "{v:?}");
            if let Some(fast) = plain_pointer(v) {
                assert_eq!(Some(fast), parse_pointer(v), "{v:?}");
            }
            assert_eq!(
                parse_ptr(v),
                parse_pointer(v)
                    .or_else(|| split_netmon_pair(v).and_then(|(a, _)| parse_pointer(a))),
                "{v:?}"
            );
        }
        assert_eq!(
            plain_pointer("0xFFFFE189BD811AA0"),
            Some(0xFFFF_E189_BD81_1AA0)
        );
    }

    #[test]
    fn pointers_and_addresses() {
        assert_eq!(parse_ptr("0x893F92B0"), Some(0x893F_92B0));
        assert_eq!(parse_ptr("0xFFFFE189BD811AA0"), Some(0xFFFF_E189_BD81_1AA0));
        assert_eq!(parse_ptr("12"), None);
        let e = parse_address("192.168.1.212:13000").unwrap();
        assert_eq!(e.port, Some(13000));
        let e = parse_address("fe80::1").unwrap();
        assert_eq!(e.port, None);
        assert!(parse_address("[::1]:445").is_some());
        assert!(parse_address("posted").is_none());
        let e = parse_address("0x020032C8C0A801D40000000000000000").unwrap();
        assert_eq!(e.to_string(), "192.168.1.212:13000");
        // Odd length: not a SOCKADDR.
        assert!(parse_address("0x020032C8C0A801D400000000000000000").is_none());
        let e = parse_address("170001BB00000000FE80000000000000000000000000000100000000").unwrap();
        assert_eq!(e.to_string(), "[fe80::1]:443");
    }
}

#[cfg(test)]
pub(crate) mod fast_path_tests {
    use super::*;
    use crate::etl::testutil::XorShift;

    /// Values glued from pieces every numeric, pointer, status and
    /// address style is made of, so the generated text hits the edges of
    /// each fast path (and plenty of near misses).
    pub(crate) fn random_value(rng: &mut XorShift) -> String {
        const PIECES: &[&str] = &[
            "0",
            "1",
            "7",
            "9",
            "25",
            "255",
            "256",
            "65535",
            "65536",
            "0x",
            "0X",
            "FF",
            "a",
            "g",
            "FFFFE189BD811AA0",
            "1FFFFFFFFFFFFFFFF",
            ".",
            ".",
            ":",
            "::",
            " ",
            " ",
            "\t",
            "(",
            ")",
            " (0x",
            "-",
            "+",
            "Unknown value: ",
            "STATUS_",
            "Success",
            " - ",
            "NULL",
            "é",
            "\u{3000}",
            "[",
            "]",
            "*",
            "IPV4",
            "true",
        ];
        let n = rng.below(7) as usize;
        (0..n)
            .map(|_| PIECES[rng.below(PIECES.len() as u64) as usize])
            .collect()
    }

    #[test]
    fn trim_agrees_with_common_trim() {
        let mut rng = XorShift(0x7E57_0001);
        for _ in 0..20_000 {
            let v = random_value(&mut rng);
            assert_eq!(trim(&v), crate::decode::common::trim(&v), "{v:?}");
        }
    }

    #[test]
    fn fast_checks_agree_with_general_ones() {
        let mut rng = XorShift(0x7E57_0002);
        let mut seen = [0usize; 3];
        for _ in 0..200_000 {
            let raw = random_value(&mut rng);
            let t = trim(&raw);
            let numeric = is_numeric(t);
            assert_eq!(is_numeric_trimmed(t), numeric, "{t:?}");
            let pointer = parse_ptr(t).is_some() || t == "0" || t == "NULL";
            assert_eq!(is_pointer_value(t), pointer, "{t:?}");
            let address = parse_address(t).is_some();
            assert_eq!(is_address_trimmed(t), address, "{t:?}");
            seen[0] += usize::from(numeric);
            seen[1] += usize::from(pointer);
            seen[2] += usize::from(address);
        }
        // The generator reaches the accepting side of every check.
        assert!(seen.iter().all(|&n| n > 1000), "{seen:?}");
    }

    #[test]
    fn dotted_check_on_generated_addresses() {
        let mut rng = XorShift(0x7E57_0003);
        for _ in 0..50_000 {
            let part = |rng: &mut XorShift| match rng.below(4) {
                0 => format!("{}", rng.below(300)),
                1 => format!("{:03}", rng.below(1000)),
                2 => String::new(),
                _ => format!("{}", rng.below(10)),
            };
            let parts = 2 + rng.below(4) as usize;
            let v: Vec<String> = (0..parts).map(|_| part(&mut rng)).collect();
            let mut text = v.join(".");
            if rng.below(2) == 0 {
                text.push(':');
                text.push_str(&format!("{}", rng.below(70_000)));
                if rng.below(8) == 0 {
                    text.push('.');
                }
            }
            assert_eq!(
                is_address_trimmed(&text),
                parse_address(&text).is_some(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn parse_num_fast_forms_agree_with_styled_parse() {
        let mut rng = XorShift(0x7E57_0004);
        for _ in 0..200_000 {
            let raw = random_value(&mut rng);
            assert_eq!(parse_num(&raw), parse_num_styled(trim(&raw)), "{raw:?}");
        }
        for v in [
            "0",
            "18446744073709551615",
            "18446744073709551616",
            "0x",
            "0xFFFFFFFFFFFFFFFF",
        ] {
            assert_eq!(parse_num(v), parse_num_styled(v), "{v:?}");
        }
    }
}
