//! [`Fields`]: an event's named field values, all in one buffer.
//!
//! Every decoder produces a dozen or so named values per event. Kept as one
//! `String` per value they were the largest allocation cost shared by all
//! decoders; here the values sit back to back in one `String` and each entry
//! records its name and where its value ends, so an event's fields cost two
//! allocations however many there are. Numbers, MACs and addresses are
//! written straight into the buffer ([`Fields::push_with`]).

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

/// One field: its name and where its value lies in [`Fields::text`].
/// Offsets are `u32` (an entry is as small as with one `usize`): an
/// event's values never come near 4 GiB, and values that would end past
/// it are stored empty rather than wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: Cow<'static, str>,
    start: u32,
    end: u32,
}

impl Entry {
    fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// Named fields of an event: (name, rendered value), in order.
///
/// Serializes exactly as a sequence of `[name, value]` pairs (what a
/// `Vec<(Cow<str>, String)>` gives), so JSON output lists
/// `[["Tcb","0x…"],…]`.
#[derive(Clone, Default)]
pub struct Fields {
    /// All values, back to back.
    text: String,
    entries: Vec<Entry>,
}

impl Fields {
    pub fn new() -> Self {
        Fields::default()
    }

    /// Room for `n` fields whose values total `text_bytes` bytes.
    pub fn with_capacity(n: usize, text_bytes: usize) -> Self {
        Fields {
            text: String::with_capacity(text_bytes),
            entries: Vec::with_capacity(n),
        }
    }

    /// Reserves room for `n` more fields and `text_bytes` more value bytes.
    pub fn reserve(&mut self, n: usize, text_bytes: usize) {
        self.entries.reserve(n);
        self.text.reserve(text_bytes);
    }

    /// The total length of the values, in bytes.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes every field, keeping the allocations.
    pub fn clear(&mut self) {
        self.text.clear();
        self.entries.clear();
    }

    /// Records a field whose value was appended to `text` from `start`
    /// (at most the text's length) on.
    #[inline]
    fn close(&mut self, name: Cow<'static, str>, start: usize) {
        // `start` is at most `end`: one check covers both.
        let (start, end) = match u32::try_from(self.text.len()) {
            Ok(end) => (start as u32, end),
            Err(_) => {
                // Past 4 GiB: drop the value (see [`Entry`]).
                self.text.truncate(start);
                (u32::MAX, u32::MAX)
            }
        };
        self.entries.push(Entry { name, start, end });
    }

    /// Appends a field.
    #[inline]
    pub fn push(&mut self, name: impl Into<Cow<'static, str>>, value: &str) {
        let start = self.text.len();
        self.text.push_str(value);
        self.close(name.into(), start);
    }

    /// Appends a field whose value `write` appends to the buffer it is
    /// given (which holds the earlier values: `write` must only append).
    #[inline]
    pub fn push_with(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        write: impl FnOnce(&mut String),
    ) {
        let start = self.text.len();
        write(&mut self.text);
        self.close(name.into(), start.min(self.text.len()));
    }

    /// Appends a field holding `value`'s `Display` text.
    pub fn push_display(&mut self, name: impl Into<Cow<'static, str>>, value: impl fmt::Display) {
        self.push_with(name, |buf| {
            use std::fmt::Write;
            // Writing into a String does not fail.
            let _ = write!(buf, "{value}");
        });
    }

    /// Appends a field holding the decimal text of `value`.
    pub fn push_int(&mut self, name: impl Into<Cow<'static, str>>, value: impl itoa::Integer) {
        self.push(name, itoa::Buffer::new().format(value));
    }

    fn value_of(&self, e: &Entry) -> &str {
        self.text.get(e.range()).unwrap_or("")
    }

    /// Field `i`: (name, value).
    pub fn get(&self, i: usize) -> Option<(&str, &str)> {
        let e = self.entries.get(i)?;
        Some((&e.name, self.value_of(e)))
    }

    /// The value of field `i`.
    pub fn value(&self, i: usize) -> Option<&str> {
        Some(self.value_of(self.entries.get(i)?))
    }

    /// The (name, value) pairs, in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            text: &self.text,
            entries: self.entries.iter(),
        }
    }

    /// The value of the first field named `name` (ASCII case-insensitive).
    pub fn find(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The value of the first field named exactly `name`.
    pub fn find_exact(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// The index of the first field named exactly `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.name == name)
    }

    pub fn last(&self) -> Option<(&str, &str)> {
        self.get(self.entries.len().checked_sub(1)?)
    }

    /// Replaces the value of field `i` (no effect when there is none).
    /// Rare: the fields are rebuilt.
    pub fn set(&mut self, i: usize, value: &str) {
        if i >= self.len() {
            return;
        }
        let mut rebuilt = Fields::with_capacity(self.len(), self.text.len() + value.len());
        for (n, e) in self.entries.iter().enumerate() {
            let v = if n == i { value } else { self.value_of(e) };
            rebuilt.push(e.name.clone(), v);
        }
        *self = rebuilt;
    }

    /// Appends `more` to the value of field `i`: in place when it is the
    /// last field (NetMon hex dump lines, one after another), else as
    /// [`Fields::set`].
    pub fn append_to_value(&mut self, i: usize, more: &str) {
        if i + 1 == self.len() {
            if let Some(e) = self.entries.pop() {
                let start = e.start as usize;
                if start <= self.text.len() && e.end as usize == self.text.len() {
                    self.text.push_str(more);
                    self.close(e.name, start);
                } else {
                    self.entries.push(e);
                }
            }
        } else if let Some(v) = self.value(i) {
            let joined = format!("{v}{more}");
            self.set(i, &joined);
        }
    }

    /// Appends a copy of every field of `other`.
    pub fn extend_from(&mut self, other: &Fields) {
        self.reserve(other.len(), other.text.len());
        for (e, (_, v)) in other.entries.iter().zip(other.iter()) {
            let start = self.text.len();
            self.text.push_str(v);
            self.close(e.name.clone(), start);
        }
    }

    /// A copy of the fields from `i` on.
    pub fn tail(&self, i: usize) -> Fields {
        let mut out = Fields::new();
        if let Some(rest) = self.entries.get(i..) {
            out.reserve(rest.len(), 0);
            for e in rest {
                let start = out.text.len();
                out.text.push_str(self.value_of(e));
                out.close(e.name.clone(), start);
            }
        }
        out
    }

    /// Appends every field of `other` (taking its buffers when `self` has
    /// no fields).
    pub fn append(&mut self, other: Fields) {
        if self.is_empty() {
            *self = other;
        } else {
            self.extend_from(&other);
        }
    }

    /// Keeps the first `n` fields.
    pub fn truncate(&mut self, n: usize) {
        if n < self.entries.len() {
            let end = n
                .checked_sub(1)
                .and_then(|p| self.entries.get(p))
                .map_or(0, |e| e.end as usize);
            self.entries.truncate(n);
            self.text.truncate(end.min(self.text.len()));
        }
    }
}

/// Equal when the (name, value) pairs are: how the values sit in the
/// buffer (after [`Fields::set`]) does not matter.
impl PartialEq for Fields {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Fields {}

impl<N: Into<Cow<'static, str>>, V: AsRef<str>> FromIterator<(N, V)> for Fields {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut f = Fields::new();
        f.extend(iter);
        f
    }
}

impl<N: Into<Cow<'static, str>>, V: AsRef<str>> Extend<(N, V)> for Fields {
    fn extend<I: IntoIterator<Item = (N, V)>>(&mut self, iter: I) {
        for (n, v) in iter {
            self.push(n, v.as_ref());
        }
    }
}

/// Iterator over (name, value) pairs of [`Fields`].
#[derive(Clone)]
pub struct Iter<'a> {
    text: &'a str,
    entries: std::slice::Iter<'a, Entry>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let e = self.entries.next()?;
        Some((&e.name, self.text.get(e.range()).unwrap_or("")))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let e = self.entries.next_back()?;
        Some((&e.name, self.text.get(e.range()).unwrap_or("")))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Fields {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old(pairs: &[(&'static str, &str)]) -> Vec<(Cow<'static, str>, String)> {
        pairs
            .iter()
            .map(|&(k, v)| (Cow::Borrowed(k), v.to_string()))
            .collect()
    }

    #[test]
    fn push_get_iter_keep_order_and_values() {
        let mut f = Fields::new();
        assert!(f.is_empty());
        f.push("Tcb", "0x8921DD28");
        f.push(String::from("Empty"), "");
        f.push_with("Port", |b| b.push_str("443"));
        f.push_int("Bytes", 1460u32);
        f.push_display("Addr", std::net::Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(f.len(), 5);
        assert_eq!(f.get(0), Some(("Tcb", "0x8921DD28")));
        assert_eq!(f.get(1), Some(("Empty", "")));
        assert_eq!(f.value(2), Some("443"));
        assert_eq!(f.get(5), None);
        let all: Vec<_> = f.iter().collect();
        assert_eq!(
            all,
            vec![
                ("Tcb", "0x8921DD28"),
                ("Empty", ""),
                ("Port", "443"),
                ("Bytes", "1460"),
                ("Addr", "10.0.0.1")
            ]
        );
        let rev: Vec<_> = f.iter().rev().map(|(k, _)| k).collect();
        assert_eq!(rev, vec!["Addr", "Bytes", "Port", "Empty", "Tcb"]);
        assert_eq!(f.iter().len(), 5);
        assert_eq!(f.last(), Some(("Addr", "10.0.0.1")));
    }

    #[test]
    fn find_is_case_insensitive_and_first_wins() {
        let f: Fields = [("PID", "4"), ("pid", "8"), ("Name", "a")]
            .into_iter()
            .collect();
        assert_eq!(f.find("pid"), Some("4"));
        assert_eq!(f.find_exact("pid"), Some("8"));
        assert_eq!(f.find("missing"), None);
        assert_eq!(f.position("Name"), Some(2));
    }

    #[test]
    fn set_shifts_later_values() {
        let mut f: Fields = [("a", "1"), ("b", "22"), ("c", "333")]
            .into_iter()
            .collect();
        f.set(1, "longer value");
        assert_eq!(f.get(1), Some(("b", "longer value")));
        assert_eq!(f.get(2), Some(("c", "333")));
        f.set(0, "");
        assert_eq!(f.get(0), Some(("a", "")));
        assert_eq!(f.get(1), Some(("b", "longer value")));
        f.set(2, "x");
        f.set(9, "ignored");
        f.append_to_value(2, "y");
        f.append_to_value(1, "!");
        f.append_to_value(9, "ignored");
        let all: Vec<_> = f.iter().collect();
        assert_eq!(all, vec![("a", ""), ("b", "longer value!"), ("c", "xy")]);
    }

    #[test]
    fn extend_truncate_and_non_ascii() {
        let mut f: Fields = [("Name", "café")].into_iter().collect();
        let g: Fields = [("Größe", "½"), ("E", "")].into_iter().collect();
        f.extend_from(&g);
        f.extend([("x", "日本")]);
        let all: Vec<_> = f.iter().collect();
        assert_eq!(
            all,
            vec![("Name", "café"), ("Größe", "½"), ("E", ""), ("x", "日本")]
        );
        let t = f.tail(1);
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            vec![("Größe", "½"), ("E", ""), ("x", "日本")]
        );
        assert!(f.tail(4).is_empty());
        assert_eq!(f.tail(3).get(0), Some(("x", "日本")));
        f.truncate(2);
        assert_eq!(f.len(), 2);
        assert_eq!(f.last(), Some(("Größe", "½")));
        f.push("y", "z");
        assert_eq!(f.last(), Some(("y", "z")));
        f.truncate(0);
        assert!(f.is_empty());
        f.push("only", "v");
        assert_eq!(f.get(0), Some(("only", "v")));
    }

    #[test]
    fn equality_follows_the_pairs() {
        let a: Fields = [("a", "1"), ("b", "2")].into_iter().collect();
        let mut b: Fields = [("a", "1"), ("b", "x")].into_iter().collect();
        assert_ne!(a, b);
        b.set(1, "2");
        assert_eq!(a, b);
        assert_eq!(format!("{a:?}"), r#"[("a", "1"), ("b", "2")]"#);
    }

    #[test]
    fn serializes_as_the_old_vector_of_pairs() {
        let pairs = [("Tcb", "0x1"), ("Empty", ""), ("Text", "a \"q\" é\n")];
        let f: Fields = pairs.iter().copied().collect();
        assert_eq!(
            serde_json::to_string(&f).ok(),
            serde_json::to_string(&old(&pairs)).ok()
        );
        let none = Fields::new();
        assert_eq!(
            serde_json::to_string(&none).ok(),
            serde_json::to_string(&old(&[])).ok()
        );
    }
}
