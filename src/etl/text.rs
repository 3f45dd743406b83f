//! Hand-written rendering of the values packet events carry (decimal and
//! hex numbers, IP addresses, endpoints) straight into a `String`.
//!
//! A PktMon capture turns every 36 bytes of file into an event with a dozen
//! rendered values; going through `format!` for each cost more than
//! everything else in the decoder together. Each function here writes the
//! exact text the `Display` impl it replaces writes (the tests compare
//! them), so outputs do not change.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::event::Endpoint;

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Where rendered text goes: a `String`, or an [`AsciiBuf`] on the stack
/// for a whole summary that becomes one exact-size `String` at the end.
pub trait TextOut {
    /// Appends one ASCII byte.
    fn ascii(&mut self, b: u8);
    /// Appends a string.
    fn text(&mut self, s: &str);
    /// Appends bytes known to be ASCII (digits, hex letters).
    fn ascii_run(&mut self, b: &[u8]) {
        for &c in b {
            self.ascii(c);
        }
    }
}

impl TextOut for String {
    fn ascii(&mut self, b: u8) {
        self.push(char::from(b));
    }
    fn text(&mut self, s: &str) {
        self.push_str(s);
    }
    /// A few bytes go one by one (cheaper than a validation loop and a
    /// `memcpy` call), more as one validated string.
    fn ascii_run(&mut self, b: &[u8]) {
        if b.len() <= 6 {
            for &c in b {
                self.push(char::from(c));
            }
        } else if let Ok(t) = std::str::from_utf8(b) {
            self.push_str(t);
        }
    }
}

/// A fixed-size text buffer on the stack. Writing a byte is a store and a
/// bounds check (a `String` push also checks capacity and encodes a
/// `char`); the text is validated and copied once, into a `String` of
/// exact size. Callers size `N` for the longest text they write; a piece
/// that does not fit is left out whole and the buffer remembers it.
pub struct AsciiBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
    overflowed: bool,
}

impl<const N: usize> Default for AsciiBuf<N> {
    fn default() -> Self {
        AsciiBuf {
            buf: [0; N],
            len: 0,
            overflowed: false,
        }
    }
}

impl<const N: usize> AsciiBuf<N> {
    pub fn as_str(&self) -> &str {
        // Only whole `&str`s and ASCII bytes are written, so the bytes are
        // UTF-8; the fallback is never taken.
        std::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }

    /// Whether some text did not fit.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }
}

impl<const N: usize> TextOut for AsciiBuf<N> {
    fn ascii(&mut self, b: u8) {
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = b;
                self.len += 1;
            }
            None => self.overflowed = true,
        }
    }
    fn text(&mut self, s: &str) {
        match self.buf.get_mut(self.len..self.len + s.len()) {
            Some(dst) => {
                dst.copy_from_slice(s.as_bytes());
                self.len += s.len();
            }
            None => self.overflowed = true,
        }
    }
    fn ascii_run(&mut self, b: &[u8]) {
        for &c in b {
            self.ascii(c);
        }
    }
}

/// Appends `v` in decimal, as `{v}` does. Most PktMon values are 16-bit:
/// their digits are pushed most significant first, without a digit
/// buffer or a copy.
pub fn push_u64(s: &mut impl TextOut, v: u64) {
    let Ok(v) = u16::try_from(v) else {
        s.text(itoa::Buffer::new().format(v));
        return;
    };
    let digit = |x: u16| b'0' + (x % 10) as u8;
    if v >= 10_000 {
        s.ascii(digit(v / 10_000));
    }
    if v >= 1000 {
        s.ascii(digit(v / 1000));
    }
    if v >= 100 {
        s.ascii(digit(v / 100));
    }
    if v >= 10 {
        s.ascii(digit(v / 10));
    }
    s.ascii(digit(v));
}

/// Appends `v` as `{v:08X}` does (at least 8 upper-case hex digits).
pub fn push_hex08_upper(s: &mut impl TextOut, v: u32) {
    let mut buf = [0u8; 8];
    for (i, b) in buf.iter_mut().enumerate() {
        let shift = 28 - 4 * i;
        *b = HEX_UPPER[((v >> shift) & 0xF) as usize];
    }
    s.ascii_run(&buf);
}

/// Appends `v` as `{v:x}` does (lower-case hex, no leading zeros).
fn push_hex_lower(s: &mut impl TextOut, v: u16) {
    let mut buf = [0u8; 4];
    let mut start = buf.len();
    let mut v = v;
    while start > 0 {
        start -= 1;
        if let Some(b) = buf.get_mut(start) {
            *b = HEX_LOWER[usize::from(v & 0xF)];
        }
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    s.ascii_run(buf.get(start..).unwrap_or_default());
}

/// Appends an IPv4 address as its `Display` does (`192.168.0.1`).
pub fn push_ipv4(s: &mut impl TextOut, a: Ipv4Addr) {
    for (i, octet) in a.octets().into_iter().enumerate() {
        if i > 0 {
            s.ascii(b'.');
        }
        push_u8(s, octet);
    }
}

/// Appends `v` in decimal, without a digit buffer (an IPv4 octet).
fn push_u8(s: &mut impl TextOut, v: u8) {
    if v >= 100 {
        s.ascii(b'0' + v / 100);
    }
    if v >= 10 {
        s.ascii(b'0' + v / 10 % 10);
    }
    s.ascii(b'0' + v % 10);
}

/// Appends an IPv6 address as its `Display` does without width or
/// precision: IPv4-mapped addresses as `::ffff:a.b.c.d`, otherwise
/// lower-case groups with the first longest run of two or more zero groups
/// shortened to `::` (RFC 5952).
pub fn push_ipv6<O: TextOut>(s: &mut O, a: Ipv6Addr) {
    if let Some(v4) = a.to_ipv4_mapped() {
        s.text("::ffff:");
        push_ipv4(s, v4);
        return;
    }
    let groups = a.segments();
    // First longest run of zero groups: (start, len).
    let (mut best_start, mut best_len) = (0usize, 0usize);
    let (mut run_start, mut run_len) = (0usize, 0usize);
    for (i, &g) in groups.iter().enumerate() {
        if g == 0 {
            if run_len == 0 {
                run_start = i;
            }
            run_len += 1;
            if run_len > best_len {
                (best_start, best_len) = (run_start, run_len);
            }
        } else {
            run_len = 0;
        }
    }
    let push_groups = |s: &mut O, gs: &[u16]| {
        for (i, &g) in gs.iter().enumerate() {
            if i > 0 {
                s.ascii(b':');
            }
            push_hex_lower(s, g);
        }
    };
    if best_len > 1 {
        push_groups(s, groups.get(..best_start).unwrap_or_default());
        s.text("::");
        push_groups(s, groups.get(best_start + best_len..).unwrap_or_default());
    } else {
        push_groups(s, &groups);
    }
}

/// Appends an IP address as its `Display` does.
pub fn push_ip(s: &mut impl TextOut, a: IpAddr) {
    match a {
        IpAddr::V4(a) => push_ipv4(s, a),
        IpAddr::V6(a) => push_ipv6(s, a),
    }
}

/// Appends an endpoint as [`Endpoint`]'s `Display` does (`1.2.3.4:80`,
/// `[fe80::1]:53`, `*:*`).
pub fn push_endpoint(s: &mut impl TextOut, e: &Endpoint) {
    match e.ip {
        Some(IpAddr::V6(a)) => {
            s.ascii(b'[');
            push_ipv6(s, a);
            s.ascii(b']');
        }
        Some(IpAddr::V4(a)) => push_ipv4(s, a),
        None => s.ascii(b'*'),
    }
    match e.port {
        Some(p) => {
            s.ascii(b':');
            push_u64(s, u64::from(p));
        }
        None => s.text(":*"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::etl::testutil::XorShift as Rng;

    #[test]
    fn decimals_match_display() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut values = vec![
            0,
            1,
            9,
            10,
            99,
            100,
            101,
            65_535,
            u64::from(u32::MAX),
            u64::MAX,
        ];
        values.extend((0..=20).map(|e| 10u64.saturating_pow(e)));
        values.extend((1..=20).map(|e| 10u64.saturating_pow(e) - 1));
        for _ in 0..2000 {
            let v = rng.next_u64();
            values.push(v);
            values.push(v >> (v % 64));
        }
        for v in values {
            let small = v as u16;
            let mut s = String::new();
            push_u64(&mut s, u64::from(small));
            assert_eq!(s, small.to_string());
            let mut s = String::from("x");
            push_u64(&mut s, v);
            assert_eq!(s, format!("x{v}"));
        }
    }

    #[test]
    fn octets_match_display() {
        for v in 0..=255u8 {
            let mut s = String::new();
            push_u8(&mut s, v);
            assert_eq!(s, v.to_string());
        }
        let mut s = String::new();
        push_ipv4(&mut s, Ipv4Addr::new(0, 9, 10, 255));
        assert_eq!(s, "0.9.10.255");
    }

    #[test]
    fn hex_matches_format() {
        let mut rng = Rng(12345);
        for v in [0u32, 1, 0xE000_460A, u32::MAX]
            .into_iter()
            .chain((0..500).map(|_| rng.next_u64() as u32))
        {
            let mut s = String::new();
            push_hex08_upper(&mut s, v);
            assert_eq!(s, format!("{v:08X}"));
            let mut s = String::new();
            push_hex_lower(&mut s, v as u16);
            assert_eq!(s, format!("{:x}", v as u16));
        }
    }

    /// Addresses built from groups that are each zero half the time, so
    /// zero runs of every length and position occur, plus the special
    /// forms (unspecified, loopback, IPv4-mapped and -compatible).
    #[test]
    fn ipv6_matches_display() {
        let mut rng = Rng(0xDEAD_BEEF);
        let mut addrs: Vec<Ipv6Addr> = vec![
            Ipv6Addr::UNSPECIFIED,
            Ipv6Addr::LOCALHOST,
            "::ffff:192.168.0.1".parse().unwrap(),
            "::192.168.0.1".parse().unwrap(),
            "ff02::16".parse().unwrap(),
            "fe80::1:0:0:1".parse().unwrap(),
            "1:0:0:2:0:0:0:3".parse().unwrap(),
            "1:0:2:0:3:0:4:0".parse().unwrap(),
        ];
        for _ in 0..5000 {
            let mut g = [0u16; 8];
            for x in &mut g {
                let r = rng.next_u64();
                *x = if r & 1 == 0 { 0 } else { (r >> 8) as u16 };
            }
            addrs.push(Ipv6Addr::from(g));
        }
        for a in addrs {
            let mut s = String::new();
            push_ipv6(&mut s, a);
            assert_eq!(s, a.to_string(), "{:?}", a.segments());
        }
    }

    #[test]
    fn endpoints_match_display() {
        let mut rng = Rng(777);
        for _ in 0..1000 {
            let r = rng.next_u64();
            let ip = match r % 3 {
                0 => None,
                1 => Some(IpAddr::V4(Ipv4Addr::from((r >> 16) as u32))),
                _ => Some(IpAddr::V6(Ipv6Addr::from(
                    u128::from(rng.next_u64()) << 64 | u128::from(r & 0xFFFF_0000_FFFF),
                ))),
            };
            let port = (r & 4 != 0).then_some((r >> 40) as u16);
            let e = Endpoint { ip, port };
            let mut s = String::new();
            push_endpoint(&mut s, &e);
            assert_eq!(s, e.to_string());
            let mut b = AsciiBuf::<64>::default();
            push_endpoint(&mut b, &e);
            assert_eq!(b.as_str(), e.to_string());
            assert!(!b.overflowed());
        }
    }

    /// A piece that does not fit is left out whole (the text stays valid
    /// UTF-8) and the buffer says so.
    #[test]
    fn ascii_buf_leaves_out_what_does_not_fit() {
        let mut b = AsciiBuf::<8>::default();
        b.text("abc");
        push_u64(&mut b, 12345);
        assert_eq!(b.as_str(), "abc12345");
        assert!(!b.overflowed());
        b.text("é");
        b.ascii(b'x');
        assert_eq!(b.as_str(), "abc12345");
        assert!(b.overflowed());
        let mut b = AsciiBuf::<4>::default();
        b.text("ab");
        b.text("éé");
        assert_eq!(b.as_str(), "ab");
    }
}
