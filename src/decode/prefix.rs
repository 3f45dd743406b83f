//! The tracefmt line prefix shared by `netsh trace convert`, tracefmt and
//! `pktmon etl2txt`: `[CPU]PID.TID::TIME [Provider]message`.
//!
//! The prefix is configurable on Windows (`%TRACE_FORMAT_PREFIX%`), so the
//! parser is tolerant: the time may be `2025/03/27-16:12:13.966003800`
//! (netsh), `2025-03-27 16:10:34.934020500` (pktmon), `09/20/2004-14:41:31.625`
//! (old tracefmt, US date order) with 0–9 fraction digits; there may or may not
//! be a space before the message; provider names may carry `/Channel`; a user
//! may have quoted the line in Markdown (`> `, `***time***`).

use crate::event::{Timestamp, Zone};

/// A parsed prefix. `message` borrows the rest of the line after the
/// provider tag (one leading space removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix<'a> {
    pub cpu: u32,
    pub pid: u32,
    pub tid: u32,
    pub ts: Timestamp,
    /// Provider or WPP component name as printed, without the `/Channel`
    /// suffix (`Microsoft-Windows-TCPIP`, `nt`, `viosock.sys`, `0`).
    pub provider: &'a str,
    /// The `/Channel` part, if any (`Microsoft-Windows-TCPIP/Diagnostic` → `Diagnostic`).
    pub channel: Option<&'a str>,
    pub message: &'a str,
}

/// Why a line that looks like a prefixed line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefixError {
    /// Not a prefixed line at all (no `[digits]` start).
    NotPrefixed,
    /// Looks prefixed but a part is malformed; the text says which.
    Malformed(&'static str),
}

/// Strips Markdown quoting a user may have pasted around a trace line.
fn strip_markdown(line: &str) -> &str {
    let mut s = line.trim_start_matches('\u{feff}').trim_start();
    while let Some(rest) = s.strip_prefix('>') {
        s = rest.trim_start();
    }
    s
}

/// Parses `[CPU]PID.TID::TIME [Provider]message`.
pub fn parse_prefix(line: &str) -> Result<Prefix<'_>, PrefixError> {
    if let Some(p) = parse_prefix_fast(line) {
        return Ok(p);
    }
    parse_prefix_general(line)
}

/// The two layouts converters print by default, parsed byte by byte:
/// `[CPU]PID.TID::YYYY/MM/DD-hh:mm:ss[.f…][ ][Provider]…` (netsh, tracefmt)
/// and `…::YYYY-MM-DD hh:mm:ss[.f…] [Provider]…` (pktmon). `None` for
/// anything else, which [`parse_prefix_general`] then handles; when this
/// returns a prefix it is the one the general parser would return.
fn parse_prefix_fast(line: &str) -> Option<Prefix<'_>> {
    let b = line.as_bytes();
    let mut i = 0usize;
    if *b.first()? != b'[' {
        return None;
    }
    i += 1;
    let (cpu, n) = dec_run(b.get(i..)?, 9)?;
    i += n;
    if *b.get(i)? != b']' {
        return None;
    }
    i += 1;
    let (pid, n) = hex_run(b.get(i..)?)?;
    i += n;
    if *b.get(i)? != b'.' {
        return None;
    }
    i += 1;
    let (tid, n) = hex_run(b.get(i..)?)?;
    i += n;
    if b.get(i..i + 2)? != b"::" {
        return None;
    }
    i += 2;
    // Fixed-width date and time.
    let t = b.get(i..i + 19)?;
    let sep_ok = (t[4] == b'/' && t[7] == b'/' && t[10] == b'-')
        || (t[4] == b'-' && t[7] == b'-' && t[10] == b' ');
    if !sep_ok || t[13] != b':' || t[16] != b':' {
        return None;
    }
    let d2 = |at: usize| -> Option<u32> {
        let (x, y) = (t[at], t[at + 1]);
        (x.is_ascii_digit() && y.is_ascii_digit())
            .then(|| u32::from(x - b'0') * 10 + u32::from(y - b'0'))
    };
    let year = d2(0)? * 100 + d2(2)?;
    let (month, day, hour, min, sec) = (d2(5)?, d2(8)?, d2(11)?, d2(14)?, d2(17)?);
    i += 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        // Nanoseconds per unit of the n-th fraction digit.
        const PLACE: [u32; 9] = [
            100_000_000,
            10_000_000,
            1_000_000,
            100_000,
            10_000,
            1_000,
            100,
            10,
            1,
        ];
        let mut digits = 0usize;
        while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            let place = PLACE.get(digits)?;
            nanos += u32::from(c - b'0') * place;
            digits += 1;
            i += 1;
        }
    }
    if hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    if b.get(i) == Some(&b' ') {
        i += 1;
    }
    if *b.get(i)? != b'[' {
        return None;
    }
    i += 1;
    let ts = Timestamp::from_civil(
        i32::try_from(year).ok()?,
        month,
        day,
        hour,
        min,
        sec,
        nanos,
        Zone::Local,
    )?;
    let after = line.get(i..)?;
    let pclose = memchr::memchr(b']', after.as_bytes())?;
    let tag = after.get(..pclose)?;
    // `split_once('/')` without the generic pattern searcher.
    let (provider, channel) = match memchr::memchr(b'/', tag.as_bytes()) {
        Some(at) => (tag.get(..at)?, Some(tag.get(at + 1..)?)),
        None => (tag, None),
    };
    let msg = after.get(pclose + 1..)?;
    let message = msg.strip_prefix(' ').unwrap_or(msg);
    Some(Prefix {
        cpu,
        pid,
        tid,
        ts,
        provider,
        channel,
        message,
    })
}

/// A run of 1..=`max` decimal digits at the start of `b`: (value, length).
fn dec_run(b: &[u8], max: usize) -> Option<(u32, usize)> {
    let mut v = 0u32;
    let mut n = 0usize;
    for &c in b.iter().take(max + 1) {
        if !c.is_ascii_digit() {
            break;
        }
        // At most 9 digits: no overflow.
        v = v.wrapping_mul(10).wrapping_add(u32::from(c - b'0'));
        n += 1;
    }
    (n != 0 && n <= max).then_some((v, n))
}

/// A run of 1..=8 hex digits at the start of `b`: (value, length), in
/// one pass by digit table.
fn hex_run(b: &[u8]) -> Option<(u32, usize)> {
    let mut v = 0u32;
    let mut n = 0usize;
    for &c in b.iter().take(9) {
        let d = crate::schema::values::HEX_VALUE[usize::from(c)];
        if d > 15 {
            break;
        }
        v = (v << 4) | u32::from(d);
        n += 1;
    }
    (n != 0 && n <= 8).then_some((v, n))
}

/// The general parser: Markdown quoting, other time forms, blanks.
fn parse_prefix_general(line: &str) -> Result<Prefix<'_>, PrefixError> {
    let s = strip_markdown(line);
    let rest = s.strip_prefix('[').ok_or(PrefixError::NotPrefixed)?;
    let close = rest.find(']').ok_or(PrefixError::NotPrefixed)?;
    let cpu_txt = &rest[..close];
    if cpu_txt.is_empty() || !cpu_txt.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PrefixError::NotPrefixed);
    }
    let cpu = cpu_txt
        .parse()
        .map_err(|_| PrefixError::Malformed("CPU number"))?;
    let rest = &rest[close + 1..];
    let sep = memchr::memmem::find(rest.as_bytes(), b"::")
        .ok_or(PrefixError::Malformed("missing '::' after PID.TID"))?;
    let (pid_txt, tid_txt) = rest[..sep]
        .split_once('.')
        .ok_or(PrefixError::Malformed("PID.TID"))?;
    let pid =
        u32::from_str_radix(pid_txt.trim(), 16).map_err(|_| PrefixError::Malformed("PID (hex)"))?;
    let tid =
        u32::from_str_radix(tid_txt.trim(), 16).map_err(|_| PrefixError::Malformed("TID (hex)"))?;
    let rest = &rest[sep + 2..];
    // The provider tag is the first " [" after the time (pktmon and
    // Markdown-quoted lines) or "[" right after it.
    let open = rest
        .find('[')
        .ok_or(PrefixError::Malformed("missing [Provider]"))?;
    let time_txt = rest[..open].trim();
    // Markdown emphasis (`***12:45:09***`) only in pasted lines: the common
    // case does not allocate.
    let ts = if time_txt.contains('*') {
        parse_trace_time(&time_txt.replace('*', ""))
    } else {
        parse_trace_time(time_txt)
    }
    .ok_or(PrefixError::Malformed("timestamp"))?;
    let after = &rest[open + 1..];
    let pclose = after
        .find(']')
        .ok_or(PrefixError::Malformed("unterminated [Provider]"))?;
    let tag = &after[..pclose];
    let (provider, channel) = match tag.split_once('/') {
        Some((p, c)) => (p, Some(c)),
        None => (tag, None),
    };
    let msg = &after[pclose + 1..];
    let message = msg.strip_prefix(' ').unwrap_or(msg);
    Ok(Prefix {
        cpu,
        pid,
        tid,
        ts,
        provider,
        channel,
        message,
    })
}

/// Parses the time forms trace converters print, as capture-machine local time:
/// `YYYY/MM/DD-hh:mm:ss[.f…]`, `YYYY-MM-DD hh:mm:ss[.f…]`,
/// `MM/DD/YYYY-hh:mm:ss[.f…]`, and `YYYY-MM-DDThh:mm:ss[.f…]`.
pub fn parse_trace_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    // The date/time separator is the last '-', ' ' or 'T' before the first
    // ':' (the date itself may contain '-').
    let colon = s.find(':')?;
    let split = s[..colon].rfind(['-', ' ', 'T'])?;
    let (date, time) = (&s[..split], &s[split + 1..]);
    let (y, m, d) = parse_date(date)?;
    let (hh, mm, ss, nanos) = parse_time_of_day(time)?;
    Timestamp::from_civil(y, m, d, hh, mm, ss, nanos, Zone::Local)
}

fn parse_date(date: &str) -> Option<(i32, u32, u32)> {
    let mut parts = date.split(['/', '-', '.']);
    let (Some(a), Some(b), Some(c), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let num = |t: &str| -> Option<u32> {
        if t.is_empty() || t.len() > 4 || !t.bytes().all(|x| x.is_ascii_digit()) {
            None
        } else {
            t.parse().ok()
        }
    };
    if a.len() == 4 {
        Some((i32::try_from(num(a)?).ok()?, num(b)?, num(c)?))
    } else if c.len() == 4 {
        // US order MM/DD/YYYY as tracefmt prints it.
        Some((i32::try_from(num(c)?).ok()?, num(a)?, num(b)?))
    } else {
        None
    }
}

/// `hh:mm:ss[.fffffffff]` → (h, m, s, nanos). Accepts 0–9 fraction digits.
pub fn parse_time_of_day(t: &str) -> Option<(u32, u32, u32, u32)> {
    let (hms, frac) = match t.split_once(['.', ',']) {
        Some((a, b)) => (a, b),
        None => (t, ""),
    };
    let mut it = hms.split(':');
    let h: u32 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let s: u32 = it.next()?.parse().ok()?;
    if it.next().is_some() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let mut nanos: u32 = 0;
    for (i, b) in frac.bytes().enumerate() {
        nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    Some((h, m, s, nanos))
}

/// A time-of-day-only timestamp (pktmon `--timestamp-only`, real-time console).
pub fn time_of_day_timestamp(t: &str) -> Option<Timestamp> {
    let (h, m, s, n) = parse_time_of_day(t)?;
    let nanos =
        (i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s)) * 1_000_000_000 + i64::from(n);
    Some(Timestamp {
        nanos,
        zone: Zone::TimeOfDay,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netsh_form_without_space() {
        let p = parse_prefix("[30]0000.0000::2025/03/27-16:12:13.966003800 [Microsoft-Windows-TCPIP]TCPIP: Network layer").unwrap();
        assert_eq!((p.cpu, p.pid, p.tid), (30, 0, 0));
        assert_eq!(p.provider, "Microsoft-Windows-TCPIP");
        assert_eq!(p.message, "TCPIP: Network layer");
        assert_eq!(p.ts.to_string(), "2025-03-27T16:12:13.9660038");
        assert_eq!(p.ts.zone, Zone::Local);
    }

    #[test]
    fn pktmon_form_with_space_and_hex_pid() {
        let p = parse_prefix(
            "[23]0004.06C4::2026-09-30 16:31:20.155844000 [Microsoft-Windows-PktMon] PktGroupId 1",
        )
        .unwrap();
        assert_eq!((p.cpu, p.pid, p.tid), (23, 4, 0x6c4));
        assert_eq!(p.message, "PktGroupId 1");
        assert_eq!(p.ts.to_string(), "2026-09-30T16:31:20.1558440");
    }

    #[test]
    fn old_tracefmt_us_date_millis() {
        let p =
            parse_prefix("[0]0C40.0C3C::09/20/2004-14:41:31.625 [tracedrv]Hello, 1 Hi").unwrap();
        assert_eq!(p.pid, 0xC40);
        assert_eq!(p.provider, "tracedrv");
        assert_eq!(p.ts.to_string(), "2004-09-20T14:41:31.6250000");
    }

    #[test]
    fn channel_and_markdown_quoting() {
        let p = parse_prefix("> [04]0004.8018::2025-08-03 ***12:45:09.474440300*** [Microsoft-Windows-Hyper-V-VfpExt] Block rule").unwrap();
        assert_eq!(p.provider, "Microsoft-Windows-Hyper-V-VfpExt");
        assert_eq!(p.message, "Block rule");
        let p = parse_prefix(
            "[1]0000.0000::2025/03/27-16:12:13.1 [Microsoft-Windows-TCPIP/Diagnostic]x",
        )
        .unwrap();
        assert_eq!(p.provider, "Microsoft-Windows-TCPIP");
        assert_eq!(p.channel, Some("Diagnostic"));
    }

    #[test]
    fn not_prefixed_and_malformed() {
        assert_eq!(parse_prefix("hello").unwrap_err(), PrefixError::NotPrefixed);
        assert_eq!(
            parse_prefix("\tip: 1.2.3.4").unwrap_err(),
            PrefixError::NotPrefixed
        );
        assert!(matches!(
            parse_prefix("[1]0000.0000::2025/13/27-16:12:13.1 [X]m"),
            Err(PrefixError::Malformed("timestamp"))
        ));
        assert!(matches!(
            parse_prefix("[1]zz.0::"),
            Err(PrefixError::Malformed(_))
        ));
    }

    #[test]
    fn fast_path_agrees_with_general_parser() {
        for l in [
            "[30]0000.0000::2025/03/27-16:12:13.966003800 [Microsoft-Windows-TCPIP]TCPIP: x",
            "[0]08FC.2CB4::2023/06/22-18:55:06.496848300 [nt]NSI: Enter>>NsiSetAllParametersEx.",
            "[23]0004.06C4::2026-09-30 16:31:20.155844000 [Microsoft-Windows-PktMon] PktGroupId 1",
            "[1]0000.0000::2025/03/27-16:12:13.1 [Microsoft-Windows-TCPIP/Diagnostic]x",
            "[1]0000.0000::2025/03/27-16:12:13[P]",
            "[1]0000.0000::2024/02/29-23:59:60.123 [P] m",
            "[1]0000.0000::2025/02/29-16:12:13.1 [P]m",
            "[1]0000.0000::2025/03/27-24:12:13.1 [P]m",
            "[1]0000.0000::2025/03/27-16:12:13.1234567890 [P]m",
            "[1]0000.0000::2025/03/27-16:12:13.1  [P]m",
            "[1]abcdef012.0::2025/03/27-16:12:13.1 [P]m",
            "[1]0.FFFFFFFF::2025/03/27-16:12:13.1 [P]",
            "[1]0.0::2025/03/27-16:12:13.1 [P",
            "[9999999999]0.0::2025/03/27-16:12:13.1 [P]m",
            "[1]0.0::2025/03/27-16:12:13.",
            "[1]0.0::2025/03/27-16:12:13. [P]m",
        ] {
            let general = parse_prefix_general(l);
            if let Some(fast) = parse_prefix_fast(l) {
                assert_eq!(Ok(fast), general, "{l}");
            }
            assert_eq!(parse_prefix(l), general, "{l}");
        }
        assert!(parse_prefix_fast("[30]0000.0000::2025/03/27-16:12:13.966003800 [P]m").is_some());
    }

    #[test]
    fn time_of_day_only() {
        let t = time_of_day_timestamp("23:02:26.539704700").unwrap();
        assert_eq!(t.to_string(), "T23:02:26.5397047");
        assert!(time_of_day_timestamp("25:00:00").is_none());
    }

    #[test]
    fn digit_runs_agree_with_std_parsers() {
        use crate::etl::testutil::XorShift;
        let mut rng = XorShift(0x7E57_0301);
        const BYTES: &[u8] = b"0123456789abcdefABCDEFgG.:] ";
        for _ in 0..50_000 {
            let len = rng.below(12) as usize;
            let b: Vec<u8> = (0..len)
                .map(|_| BYTES[rng.below(BYTES.len() as u64) as usize])
                .collect();
            let run = |pred: fn(&u8) -> bool| b.iter().take_while(|c| pred(c)).count();
            let text = |n: usize| std::str::from_utf8(&b[..n]).unwrap_or_default();
            let n = run(u8::is_ascii_hexdigit);
            let want = (1..=8)
                .contains(&n)
                .then(|| (u32::from_str_radix(text(n), 16).unwrap_or(u32::MAX), n));
            assert_eq!(hex_run(&b), want, "{b:?}");
            let n = run(u8::is_ascii_digit);
            for max in [1, 4, 9] {
                let want = (1..=max)
                    .contains(&n)
                    .then(|| (text(n).parse().unwrap_or(0), n));
                assert_eq!(dec_run(&b, max), want, "{b:?} {max}");
            }
        }
    }
}
