//! Message templates (`TCP: connection %4 transition from %1 to %2, SndNxt = %3.`):
//! parsing, rendering, and matching a rendered message back into fields.
//!
//! Matching walks the template's literals left to right. A value runs up
//! to the next occurrence of the following literal; when the value does
//! not fit its field's type (a pointer, a number in any rendering style, a
//! status, an address…) the next occurrence is tried. The type check is what
//! keeps `send %2 %3 bytes` apart when `%2` is `posted posted`, and what
//! makes a v0 template refuse a v1 message whose extra text would have to
//! hide inside a number. A step budget bounds the backtracking.

use super::values;

/// The type of a field as far as rendering is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Pointer,
    /// Any integer type (UInt8…Int64); may carry a value map.
    Int,
    Float,
    Bool,
    NtStatus,
    /// SOCKADDR blob: `1.2.3.4:80`, `[v6]:443`.
    SocketAddress,
    /// A bare IP address (route prefixes, next hops, kernel saddr/daddr).
    IpAddress,
    Str,
    Guid,
    /// Binary, SID, FILETIME and anything else: accepted as text.
    Other,
}

impl FieldType {
    /// From the type names written by `tools/gen_schemas.py`.
    pub fn from_schema(s: &str) -> FieldType {
        match s {
            "Pointer" => FieldType::Pointer,
            "UInt8" | "UInt16" | "UInt32" | "UInt64" | "Int8" | "Int16" | "Int32" | "Int64" => {
                FieldType::Int
            }
            "Double" | "Float" => FieldType::Float,
            "Boolean" => FieldType::Bool,
            "NTStatus" => FieldType::NtStatus,
            "SocketAddress" => FieldType::SocketAddress,
            "IPAddress" | "IPv4" | "IPv6" => FieldType::IpAddress,
            "UnicodeString" | "AnsiString" => FieldType::Str,
            "GUID" => FieldType::Guid,
            _ => FieldType::Other,
        }
    }
}

/// One field of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// The schema's type name (`UInt32`, `SocketAddress`, …).
    pub type_name: String,
    pub ty: FieldType,
    /// Value map name, when the schema ties one to the field.
    pub map: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Lit(String),
    /// 0-based field index (`%1` is 0).
    Field(usize),
}

/// A parsed template: alternating literals and field references, always
/// starting and ending with a (possibly empty) literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub text: String,
    pub segs: Vec<Seg>,
    /// Sum of literal lengths: the more literal text, the more specific.
    pub literal_len: usize,
    /// One prebuilt substring searcher per segment (`None` for fields and
    /// empty literals), so matching a line builds no searcher.
    finders: Vec<Option<LitFinder>>,
    /// The final literal without trailing blanks, and its length without
    /// a final period too: the two endings a message may have.
    tail: Box<str>,
    tail_short: usize,
}

/// A searcher for one literal, built once with the template. Literals
/// are short (`, Endpoint `, ` bytes at `) and the value before one is
/// usually a few bytes long, so rather than a general substring searcher
/// (whose per-call setup costs more than such a search) it looks for the
/// literal's least common byte ([`byte_rank`]) and compares the rest there.
/// It finds what `memmem` finds: the leftmost occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LitFinder {
    needle: Box<[u8]>,
    /// Offset in `needle` of the byte looked for.
    anchor: usize,
}

/// How common a byte is in rendered messages, lower is rarer: the
/// searcher anchors on the rarest byte of its literal. By table: every
/// byte of every literal is ranked while the schemas load.
fn byte_rank(b: u8) -> u8 {
    const TABLE: [u8; 256] = {
        let mut t = [0u8; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = byte_rank_of(i as u8);
            i += 1;
        }
        t
    };
    TABLE[usize::from(b)]
}

const fn byte_rank_of(b: u8) -> u8 {
    match b {
        b' ' => 9,
        // In every `0x…` value.
        b'x' => 7,
        b'a'..=b'z' => 6,
        b'0'..=b'9' => 5,
        b'A'..=b'Z' => 4,
        b'.' => 3,
        b'\t' | b'\r' | b'\n' => 2,
        0x80.. => 2,
        _ => 1,
    }
}

impl LitFinder {
    pub(crate) fn new(needle: &[u8]) -> LitFinder {
        // The first of the rarest bytes.
        let mut anchor = 0usize;
        let mut best = u8::MAX;
        for (i, &b) in needle.iter().enumerate() {
            let rank = byte_rank(b);
            if rank < best {
                best = rank;
                anchor = i;
            }
        }
        LitFinder {
            needle: needle.into(),
            anchor,
        }
    }

    /// The literal searched for.
    pub(crate) fn needle(&self) -> &[u8] {
        &self.needle
    }

    /// Whether the literal, a word, is one of the words of `hay` (maximal
    /// runs of ASCII alphanumerics, as [`words`] splits them).
    pub(crate) fn is_word_of(&self, hay: &[u8]) -> bool {
        let len = self.needle.len();
        let mut from = 0usize;
        while let Some(at) = hay.get(from..).and_then(|h| self.find(h)) {
            let start = from + at;
            let before = start.checked_sub(1).and_then(|i| hay.get(i));
            if !before.is_some_and(|&c| is_word_byte(c))
                && !hay.get(start + len).is_some_and(|&c| is_word_byte(c))
            {
                return true;
            }
            from = start + 1;
        }
        false
    }

    /// The leftmost occurrence of the literal in `hay`.
    pub(crate) fn find(&self, hay: &[u8]) -> Option<usize> {
        let n = &*self.needle;
        let anchor_byte = *n.get(self.anchor)?;
        let mut from = self.anchor;
        loop {
            let at = from + find_byte(anchor_byte, hay.get(from..)?)?;
            let start = at - self.anchor;
            if hay.get(start..start + n.len()) == Some(n) {
                return Some(start);
            }
            from = at + 1;
        }
    }
}

/// The first `b` in `hay`: a plain loop over the first bytes (where the
/// end of a value usually is), `memchr` beyond.
fn find_byte(b: u8, hay: &[u8]) -> Option<usize> {
    const NEAR: usize = 24;
    let (near, far) = hay.split_at(hay.len().min(NEAR));
    match near.iter().position(|&c| c == b) {
        Some(i) => Some(i),
        None => memchr::memchr(b, far).map(|i| i + near.len()),
    }
}

impl Template {
    pub fn parse(text: &str) -> Template {
        let mut segs = Vec::new();
        let mut lit = String::new();
        // Runs between `%` signs are copied whole (`%` is ASCII, so every
        // cut is a char boundary).
        let b = text.as_bytes();
        let mut i = 0usize;
        while let Some(run) = text.get(i..) {
            let Some(pct) = memchr::memchr(b'%', run.as_bytes()) else {
                lit.push_str(run);
                break;
            };
            lit.push_str(run.get(..pct).unwrap_or(""));
            i += pct + 1;
            match b.get(i) {
                Some(d) if d.is_ascii_digit() => {
                    let mut n = 0usize;
                    while let Some(&d) = b.get(i).filter(|d| d.is_ascii_digit()) {
                        n = n.saturating_mul(10).saturating_add(usize::from(d - b'0'));
                        i += 1;
                    }
                    segs.push(Seg::Lit(std::mem::take(&mut lit)));
                    segs.push(Seg::Field(n.saturating_sub(1)));
                }
                Some(b'%') => {
                    i += 1;
                    lit.push('%');
                }
                Some(b'n') => {
                    i += 1;
                    lit.push('\n');
                }
                Some(b't') => {
                    i += 1;
                    lit.push('\t');
                }
                _ => lit.push('%'),
            }
        }
        segs.push(Seg::Lit(lit));
        let literal_len = segs
            .iter()
            .map(|s| match s {
                Seg::Lit(l) => l.len(),
                Seg::Field(_) => 0,
            })
            .sum();
        let finders = segs
            .iter()
            .map(|s| match s {
                Seg::Lit(l) if !l.is_empty() => Some(LitFinder::new(l.as_bytes())),
                _ => None,
            })
            .collect();
        let tail: Box<str> = match segs.last() {
            Some(Seg::Lit(l)) => trim_tail(l).into(),
            _ => "".into(),
        };
        let tail_short = tail.strip_suffix('.').unwrap_or(&tail).len();
        Template {
            text: text.to_string(),
            segs,
            literal_len,
            finders,
            tail,
            tail_short,
        }
    }

    /// The endings a message may have: the final literal without trailing
    /// blanks, and that without a final period.
    fn tails(&self) -> [&str; 2] {
        [&self.tail, self.tail.get(..self.tail_short).unwrap_or("")]
    }

    /// The literal text before the first field.
    pub fn lead(&self) -> &str {
        match self.segs.first() {
            Some(Seg::Lit(l)) => l,
            _ => "",
        }
    }

    /// Field indices the template renders, in template order.
    pub fn field_refs(&self) -> impl Iterator<Item = usize> + '_ {
        self.segs.iter().filter_map(|s| match s {
            Seg::Field(i) => Some(*i),
            Seg::Lit(_) => None,
        })
    }

    /// The literal text with fields blanked: two templates with the same
    /// skeleton cannot be told apart by their rendered text.
    pub fn skeleton(&self) -> String {
        self.segs
            .iter()
            .map(|s| match s {
                Seg::Lit(l) => l.as_str(),
                Seg::Field(_) => "\u{0}",
            })
            .collect()
    }

    /// The first alphanumeric word of the literal after the first field:
    /// the second-level dispatch key.
    pub fn key_word(&self) -> Option<&str> {
        match self.segs.get(2) {
            Some(Seg::Lit(l)) => first_word(l),
            _ => None,
        }
    }

    /// Words every message this template matches contains as whole words
    /// (maximal ASCII-alphanumeric runs) after the leading literal: the
    /// words of the literals after the first field that start with a letter
    /// and sit inside their literal. A word touching a field may be glued
    /// to the value (`%2path drop` renders `Outboundpath drop`), so it is
    /// not one. At the end of the final literal a word is one: only blanks
    /// or the end of the message can follow it there (a converter may drop
    /// the final period).
    pub fn reliable_words(&self) -> Vec<&str> {
        let mut out = Vec::new();
        let n = self.segs.len();
        for (i, seg) in self.segs.iter().enumerate().skip(2) {
            let Seg::Lit(l) = seg else { continue };
            let is_final = i + 1 == n;
            let b = l.as_bytes();
            let mut at = 0usize;
            while at < b.len() {
                if !b.get(at).is_some_and(u8::is_ascii_alphanumeric) {
                    at += 1;
                    continue;
                }
                let start = at;
                while b.get(at).is_some_and(u8::is_ascii_alphanumeric) {
                    at += 1;
                }
                let inside = start > 0 && (at < b.len() || is_final);
                if inside
                    && b.get(start).is_some_and(u8::is_ascii_alphabetic)
                    && let Some(w) = l.get(start..at)
                {
                    out.push(w);
                }
            }
        }
        out
    }

    /// Renders with `value(i)` for field index `i`.
    pub fn render(&self, mut value: impl FnMut(usize) -> String) -> String {
        let mut out = String::new();
        for s in &self.segs {
            match s {
                Seg::Lit(l) => out.push_str(l),
                Seg::Field(i) => out.push_str(&value(*i)),
            }
        }
        out
    }

    /// Matches `msg` (which must start with [`Template::lead`]); returns
    /// `(field index, value)` for every field reference, in template order.
    pub fn match_message<'m>(
        &self,
        msg: &'m str,
        fields: &[Field],
        valid_name: &dyn Fn(&Field, &str) -> bool,
    ) -> Option<Vec<(usize, &'m str)>> {
        let lead = self.lead();
        if !msg.starts_with(lead) {
            return None;
        }
        // Cheap necessary condition before the backtracking search: the
        // message ends with the final literal (a converter may drop its
        // period or add blanks, as `go` allows).
        let tails = self.tails();
        if self.segs.len() > 1 {
            let m = trim_tail(msg);
            if !m.ends_with(tails[0]) && !m.ends_with(tails[1]) {
                return None;
            }
        }
        let mut out = Vec::with_capacity(self.segs.len() / 2);
        let mut budget = 256u32;
        let ctx = MatchCtx {
            segs: &self.segs,
            finders: &self.finders,
            tails,
            msg,
            fields,
            valid_name,
        };
        ctx.go(1, lead.len(), &mut out, &mut budget).then_some(out)
    }
}

/// First maximal run of ASCII alphanumerics.
pub fn first_word(s: &str) -> Option<&str> {
    let start = s.find(|c: char| c.is_ascii_alphanumeric())?;
    let rest = &s[start..];
    let end = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Up to `n` alphanumeric words of `s`, in order.
pub fn words(s: &str, n: usize) -> impl Iterator<Item = &str> {
    // Byte-wise: ASCII alphanumerics are single bytes and no byte of a
    // multi-byte character is one, so this splits exactly like a `char`
    // split, without decoding UTF-8.
    let b = s.as_bytes();
    let mut i = 0usize;
    std::iter::from_fn(move || {
        let tail = b.get(i..)?;
        let start = i + tail.iter().position(|&c| is_word_byte(c))?;
        let len = b
            .get(start..)?
            .iter()
            .position(|&c| !is_word_byte(c))
            .unwrap_or(b.len() - start);
        i = start + len;
        // Both ends sit next to ASCII bytes (or the ends of `s`): char boundaries.
        s.get(start..i)
    })
    .take(n)
}

/// Whether `c` is an ASCII letter or digit, by table (the per-byte test of
/// the word scans on every line).
pub(crate) fn is_word_byte(c: u8) -> bool {
    const TABLE: [bool; 256] = {
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = (i as u8).is_ascii_alphanumeric();
            i += 1;
        }
        t
    };
    TABLE[usize::from(c)]
}

struct MatchCtx<'a, 'm> {
    segs: &'a [Seg],
    finders: &'a [Option<LitFinder>],
    /// [`Template::tails`].
    tails: [&'a str; 2],
    msg: &'m str,
    fields: &'a [Field],
    valid_name: &'a dyn Fn(&Field, &str) -> bool,
}

/// Trailing text a converter may add or drop at the end of a message.
fn trim_tail(s: &str) -> &str {
    let b = s.as_bytes();
    let mut end = b.len();
    while end > 0 && matches!(b[end - 1], b' ' | b'\t' | b'\r' | b'\n') {
        end -= 1;
    }
    // Only ASCII bytes were removed, so `end` is a char boundary.
    s.get(..end).unwrap_or(s)
}

impl<'m> MatchCtx<'_, 'm> {
    /// `i` indexes a Field segment (odd positions); `pos` is where its value starts.
    fn go(&self, i: usize, pos: usize, out: &mut Vec<(usize, &'m str)>, budget: &mut u32) -> bool {
        let msg = self.msg;
        let Some(Seg::Field(fi)) = self.segs.get(i) else {
            // No more fields: the rest must be the final literal (already
            // consumed by the caller), modulo trailing blanks.
            return trim_tail(msg.get(pos..).unwrap_or("")).is_empty();
        };
        let fi = *fi;
        let lit = match self.segs.get(i + 1) {
            Some(Seg::Lit(l)) => l.as_str(),
            _ => "",
        };
        let is_last = i + 2 >= self.segs.len();
        let rest = msg.get(pos..).unwrap_or("");
        if is_last {
            // The value runs to the end minus the final literal; converters
            // sometimes drop the final period or add blanks.
            let r = trim_tail(rest);
            for l in self.tails {
                if let Some(v) = r.strip_suffix(l)
                    && let Some(t) = self.valid(fi, v)
                {
                    out.push((fi, t));
                    return true;
                }
            }
            return false;
        }
        if lit.is_empty() {
            // Two adjacent fields: split at blanks.
            for (off, _) in rest
                .match_indices(' ')
                .chain(std::iter::once((rest.len(), "")))
            {
                if *budget == 0 {
                    return false;
                }
                *budget -= 1;
                let v = &rest[..off];
                if let Some(t) = self.valid(fi, v) {
                    out.push((fi, t));
                    if self.go(i + 2, pos + off, out, budget) {
                        return true;
                    }
                    out.pop();
                }
            }
            return false;
        }
        let Some(Some(finder)) = self.finders.get(i + 1) else {
            return false;
        };
        let mut from = 0;
        while let Some(off) = rest.as_bytes().get(from..).and_then(|r| finder.find(r)) {
            if *budget == 0 {
                return false;
            }
            *budget -= 1;
            let at = from + off;
            let v = &rest[..at];
            if let Some(t) = self.valid(fi, v)
                && !self.cuts_netmon_echo(fi, v, &rest[at..])
            {
                out.push((fi, t));
                if self.go(i + 2, pos + at + lit.len(), out, budget) {
                    return true;
                }
                out.pop();
            }
            // Next occurrence, one character further.
            from = at + rest[at..].chars().next().map_or(1, char::len_utf8);
        }
        false
    }

    /// A number whose NetMon echo ` (0x…)` (the same number in hex) follows
    /// must take the echo along.
    fn cuts_netmon_echo(&self, fi: usize, v: &str, after: &str) -> bool {
        let numeric = self
            .fields
            .get(fi)
            .is_some_and(|f| matches!(f.ty, FieldType::Int | FieldType::NtStatus));
        numeric
            && after.strip_prefix(" (0x").is_some_and(|h| {
                let end = h.find(')').unwrap_or(0);
                end > 0 && u64::from_str_radix(&h[..end], 16).ok() == values::parse_num(v)
            })
    }

    /// The trimmed value when `v` fits field `fi`'s type.
    fn valid(&self, fi: usize, v: &'m str) -> Option<&'m str> {
        let t = values::trim(v);
        let Some(f) = self.fields.get(fi) else {
            return Some(t);
        };
        fits(f, t, self.valid_name).then_some(t)
    }
}

/// Whether the trimmed value `t` fits the type of `f`: what makes the
/// matcher try the next occurrence of the following literal.
fn fits(f: &Field, t: &str, valid_name: &dyn Fn(&Field, &str) -> bool) -> bool {
    match f.ty {
        FieldType::Pointer => values::is_pointer_value(t),
        FieldType::Int => {
            values::is_numeric_trimmed(t)
                || (f.map.is_some() && (t.starts_with("Unknown value: ") || valid_name(f, t)))
        }
        FieldType::Float => t.parse::<f64>().is_ok(),
        FieldType::Bool => values::parse_bool(t).is_some(),
        FieldType::NtStatus => values::is_status(t),
        FieldType::SocketAddress | FieldType::IpAddress => {
            t.is_empty()
                || values::is_address_trimmed(t)
                || values::is_numeric_trimmed(t)
                || t.starts_with("0x")
        }
        FieldType::Guid => t.starts_with('{') && t.ends_with('}'),
        // NetMon's `(0x…)` echo always ends the previous value, never
        // starts a value of its own.
        FieldType::Str | FieldType::Other => !t.starts_with("(0x"),
    }
}

/// The type check as first written, kept as the reference the fast
/// checks of [`fits`] are tested against.
#[cfg(test)]
fn fits_general(f: &Field, t: &str, valid_name: &dyn Fn(&Field, &str) -> bool) -> bool {
    let t = crate::decode::common::trim(t);
    match f.ty {
        FieldType::Pointer => values::parse_ptr(t).is_some() || t == "0" || t == "NULL",
        FieldType::Int => {
            values::is_numeric(t)
                || (f.map.is_some() && (t.starts_with("Unknown value: ") || valid_name(f, t)))
        }
        FieldType::Float => t.parse::<f64>().is_ok(),
        FieldType::Bool => values::parse_bool(t).is_some(),
        FieldType::NtStatus => values::is_status(t),
        FieldType::SocketAddress | FieldType::IpAddress => {
            t.is_empty()
                || values::parse_address(t).is_some()
                || values::is_numeric(t)
                || t.starts_with("0x")
        }
        FieldType::Guid => t.starts_with('{') && t.ends_with('}'),
        FieldType::Str | FieldType::Other => !t.starts_with("(0x"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, ty: &str) -> Field {
        Field {
            name: name.into(),
            type_name: ty.into(),
            ty: FieldType::from_schema(ty),
            map: None,
        }
    }

    #[test]
    fn parses_escapes_and_refs() {
        let t = Template::parse("a %1 b %10%% c%n");
        assert_eq!(
            t.segs,
            vec![
                Seg::Lit("a ".into()),
                Seg::Field(0),
                Seg::Lit(" b ".into()),
                Seg::Field(9),
                Seg::Lit("% c\n".into()),
            ]
        );
        assert_eq!(t.key_word(), Some("b"));
    }

    #[test]
    fn backtracks_on_type_mismatch() {
        let t = Template::parse("TCP: connection %1 send %2 %3 bytes at %4.");
        let fields = [
            f("Tcb", "Pointer"),
            f("Injected", "UnicodeString"),
            f("NumBytes", "UInt32"),
            f("SndNxt", "UInt32"),
        ];
        let m = t
            .match_message(
                "TCP: connection 0x8921DD28 send posted posted 13 (0xD) bytes at 2428590242 (0x90C158A2).",
                &fields,
                &|_, _| false,
            )
            .unwrap();
        assert_eq!(
            m,
            vec![
                (0, "0x8921DD28"),
                (1, "posted posted"),
                (2, "13 (0xD)"),
                (3, "2428590242 (0x90C158A2)")
            ]
        );
    }

    #[test]
    fn words_split_like_chars() {
        for t in [
            "",
            "a",
            " a b ",
            "Tcb 0x1 (local=1.2.3.4:5) é=x ü",
            "--x--y",
            "日本 ab",
        ] {
            let by_char: Vec<&str> = t
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .take(8)
                .collect();
            assert_eq!(words(t, 8).collect::<Vec<_>>(), by_char, "{t:?}");
        }
    }

    #[test]
    fn final_period_may_be_missing() {
        let t = Template::parse("x = %1.");
        let fields = [f("X", "UInt32")];
        assert!(t.match_message("x = 5", &fields, &|_, _| false).is_some());
        assert!(
            t.match_message("x = 5.  ", &fields, &|_, _| false)
                .is_some()
        );
        assert!(
            t.match_message("x = five.", &fields, &|_, _| false)
                .is_none()
        );
    }

    #[test]
    fn literal_finder_finds_what_memmem_finds() {
        use crate::etl::testutil::XorShift;
        let mut rng = XorShift(0x7E57_0101);
        // A small alphabet, so needles occur, nearly occur and overlap.
        const BYTES: &[u8] = b"ab ,.x0(";
        let pick = |rng: &mut XorShift, n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| BYTES[rng.below(BYTES.len() as u64) as usize])
                .collect()
        };
        for _ in 0..50_000 {
            let needle_len = 1 + rng.below(5) as usize;
            let needle = pick(&mut rng, needle_len);
            let hay_len = rng.below(80) as usize;
            let hay = pick(&mut rng, hay_len);
            let finder = LitFinder::new(&needle);
            assert_eq!(
                finder.find(&hay),
                memchr::memmem::find(&hay, &needle),
                "{:?} in {:?}",
                String::from_utf8_lossy(&needle),
                String::from_utf8_lossy(&hay)
            );
        }
    }

    #[test]
    fn type_checks_agree_with_general_checks() {
        use crate::etl::testutil::XorShift;
        let mut rng = XorShift(0x7E57_0102);
        let mut fields: Vec<Field> = [
            "Pointer",
            "UInt32",
            "Double",
            "Boolean",
            "NTStatus",
            "SocketAddress",
            "IPAddress",
            "UnicodeString",
            "GUID",
            "Binary",
        ]
        .iter()
        .map(|ty| f("F", ty))
        .collect();
        let mut mapped = f("M", "UInt32");
        mapped.map = Some("Map".into());
        fields.push(mapped);
        let names = |_: &Field, s: &str| s == "IPV4" || s == "Success";
        let mut accepted = 0usize;
        for _ in 0..100_000 {
            let raw = values::fast_path_tests::random_value(&mut rng);
            let t = values::trim(&raw);
            for fld in &fields {
                let fast = fits(fld, t, &names);
                assert_eq!(
                    fast,
                    fits_general(fld, &raw, &names),
                    "{:?} {raw:?}",
                    fld.ty
                );
                accepted += usize::from(fast);
            }
        }
        assert!(accepted > 100_000, "{accepted}");
    }

    /// The template parser as first written, char by char.
    fn parse_segs_by_char(text: &str) -> Vec<Seg> {
        let mut segs = Vec::new();
        let mut lit = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                lit.push(c);
                continue;
            }
            match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut n = 0usize;
                    while let Some(v) = chars.peek().and_then(|d| d.to_digit(10)) {
                        n = n.saturating_mul(10).saturating_add(v as usize);
                        chars.next();
                    }
                    segs.push(Seg::Lit(std::mem::take(&mut lit)));
                    segs.push(Seg::Field(n.saturating_sub(1)));
                }
                Some('%') => {
                    chars.next();
                    lit.push('%');
                }
                Some('n') => {
                    chars.next();
                    lit.push('\n');
                }
                Some('t') => {
                    chars.next();
                    lit.push('\t');
                }
                _ => lit.push('%'),
            }
        }
        segs.push(Seg::Lit(lit));
        segs
    }

    #[test]
    fn parse_by_runs_equals_parse_by_char() {
        use crate::etl::testutil::XorShift;
        let mut rng = XorShift(0x7E57_0103);
        const PIECES: &[&str] = &[
            "%", "%%", "%1", "%12", "%n", "%t", "%x", "a", " ", "é", "日", "9", "=", ".",
        ];
        for _ in 0..20_000 {
            let n = rng.below(10) as usize;
            let text: String = (0..n)
                .map(|_| PIECES[rng.below(PIECES.len() as u64) as usize])
                .collect();
            assert_eq!(
                Template::parse(&text).segs,
                parse_segs_by_char(&text),
                "{text:?}"
            );
        }
    }
}
