//! `netstat` socket tables: `-an`, `-ano`, `-anob`, `-ab`, in any UI
//! language, with or without the title and column header.
//!
//! A row is recognised by its shape: a protocol token (`TCP`, `UDP`,
//! `TCPv6`, `UDPv6` — never localized), a local and a remote address, then
//! for TCP a state, and optionally a PID. Splitting on whitespace (rather
//! than fixed columns) keeps rows intact when an IPv6 address with a zone id
//! (`[fe80::1d61:ce96:c2ee:3d2c%4]:1900`) pushes the later columns right.
//!
//! With `-b` each row is followed by an optional service-name line
//! (`  RpcSs`), then either the `[image.exe]` line or a localized "Can not
//! obtain ownership information" sentence. The row stays pending until the
//! next row (or a blank line, or the end) so those lines land on it.
//!
//! The title (`Active Connections`, `Conexiones activas`, `Активные
//! подключения`) and the column header are held until the first row: text
//! lines that directly precede rows are skipped as headers, any other text
//! is unknown.

use super::common::{parse_ip, parse_socket_addr};
use super::{LineClass, LineDecoder, Sink};
use crate::event::{Endpoint, Event, Kind, Layer, Proto, SourceRef};

/// TCP state names as netstat prints them in English, the name every
/// output event uses.
const ENGLISH_STATES: &[&str] = &[
    "CLOSED",
    "LISTENING",
    "SYN_SENT",
    "SYN_RECEIVED",
    "ESTABLISHED",
    "FIN_WAIT_1",
    "FIN_WAIT_2",
    "CLOSE_WAIT",
    "CLOSING",
    "LAST_ACK",
    "TIME_WAIT",
    "DELETE_TCB",
    "BOUND",
];

/// Localized state names (German and Polish UIs translate them; most other
/// languages keep the English names).
const LOCALIZED_STATES: &[(&str, &str)] = &[
    ("ABHÖREN", "LISTENING"),
    ("HERGESTELLT", "ESTABLISHED"),
    ("WARTEND", "TIME_WAIT"),
    ("SCHLIESSEN_WARTEN", "CLOSE_WAIT"),
    ("SYN_GESENDET", "SYN_SENT"),
    ("SYN_EMPFANGEN", "SYN_RECEIVED"),
    ("FIN_WARTEN_1", "FIN_WAIT_1"),
    ("FIN_WARTEN_2", "FIN_WAIT_2"),
    ("LETZTE_BESTÄTIGUNG", "LAST_ACK"),
    ("SCHLIESSEN", "CLOSING"),
    ("GESCHLOSSEN", "CLOSED"),
    ("GEBUNDEN", "BOUND"),
    ("NASŁUCHIWANIE", "LISTENING"),
    ("USTANOWIONO", "ESTABLISHED"),
    ("CZAS_OCZEKIWANIA", "TIME_WAIT"),
    ("ZAMKNIJ_CZEKAJ", "CLOSE_WAIT"),
];

/// How many non-row text lines may precede a table (title + header, with
/// blank lines skipped in between) before they count as unknown.
const MAX_PREAMBLE: usize = 4;

/// One socket row plus the `-b` lines that follow it.
#[derive(Debug)]
struct PendingRow {
    event: Event,
    lines: u64,
    services: Vec<String>,
    image: Option<String>,
    ownership_unavailable: bool,
}

#[derive(Default)]
pub struct NetstatDecoder {
    pending: Option<PendingRow>,
    /// Text lines seen since the last row: the title and header if a row
    /// follows, unknown otherwise.
    preamble: Vec<(u64, String)>,
}

impl LineDecoder for NetstatDecoder {
    fn line(&mut self, line_no: u64, line: &str, sink: &mut Sink) {
        let line = line.trim_start_matches('\u{feff}');
        let text = line.trim_end();
        let trimmed = text.trim_start();

        if trimmed.is_empty() {
            // A blank line ends the `-b` lines of a row.
            self.flush_row(sink);
            sink.skipped();
            return;
        }

        if let Some(event) = parse_row(sink.src(line_no), text) {
            self.flush_row(sink);
            // Whatever text came just before the rows was the title/header,
            // except a garbled row or binary junk, which are reported.
            for (n, text) in self.preamble.drain(..) {
                if looks_like_broken_row(&text) {
                    sink.error(n, format!("malformed socket row: {}", shown(&text)));
                } else if text.chars().any(|c| c.is_control() && c != '\t') {
                    sink.unknown(n, &text);
                } else {
                    sink.skipped();
                }
            }
            self.pending = Some(PendingRow {
                event,
                lines: 1,
                services: Vec::new(),
                image: None,
                ownership_unavailable: false,
            });
            return;
        }

        if let Some(p) = self.pending.as_mut()
            && p.image.is_none()
            && !p.ownership_unavailable
        {
            if let Some(image) = bracketed_image(trimmed) {
                p.image = Some(image.to_string());
                p.lines += 1;
                return;
            }
            if is_service_name(trimmed) {
                p.services.push(trimmed.to_string());
                p.lines += 1;
                return;
            }
            if is_sentence(trimmed) && !looks_like_broken_row(trimmed) {
                // "Can not obtain ownership information" in the UI
                // language: the only sentence netstat -b puts here.
                p.ownership_unavailable = true;
                p.lines += 1;
                return;
            }
        }

        self.flush_row(sink);
        if self.preamble.len() >= MAX_PREAMBLE {
            self.flush_preamble(sink);
        }
        self.preamble.push((line_no, text.to_string()));
    }

    fn finish(&mut self, sink: &mut Sink) {
        self.flush_row(sink);
        self.flush_preamble(sink);
    }
}

impl NetstatDecoder {
    fn flush_row(&mut self, sink: &mut Sink) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let mut ev = p.event;
        if !p.services.is_empty() {
            ev.fields.push("services", &p.services.join(","));
        }
        if let Some(image) = p.image {
            ev.fields.push("image", &image);
            ev.process_name = Some(image);
        }
        if p.ownership_unavailable {
            ev.fields.push("ownership", "unavailable");
        }
        sink.event(ev);
        sink.lines(LineClass::Parsed, p.lines);
    }

    fn flush_preamble(&mut self, sink: &mut Sink) {
        for (n, text) in self.preamble.drain(..) {
            sink.unknown(n, &text);
        }
    }
}

fn parse_proto(tok: &str) -> Option<Proto> {
    match tok.to_ascii_uppercase().as_str() {
        "TCP" | "TCPV6" => Some(Proto::Tcp),
        "UDP" | "UDPV6" => Some(Proto::Udp),
        _ => None,
    }
}

/// An address column: a clean socket address, or a resolved name
/// (`chi02legaldc01:msft-gc`, `10.46.47.17:https`, `R90JYPJ8:50188`) whose
/// numeric parts are kept and whose text goes to a `*_text` field.
fn parse_address(tok: &str) -> Option<(Endpoint, bool)> {
    if let Some(ep) = parse_socket_addr(tok) {
        return Some((ep, true));
    }
    let (host, port) = if let Some(rest) = tok.strip_prefix('[') {
        let close = rest.find(']')?;
        (
            rest.get(..close)?,
            rest.get(close + 1..)?.strip_prefix(':')?,
        )
    } else {
        let idx = tok.rfind(':')?;
        (tok.get(..idx)?, tok.get(idx + 1..)?)
    };
    if host.is_empty() || port.is_empty() {
        return None;
    }
    let name_ok = |s: &str| {
        s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '*' | '%' | ':'))
    };
    if !name_ok(host) || !name_ok(port) {
        return None;
    }
    let ip = if host == "*" { None } else { parse_ip(host) };
    let port = port.parse::<u16>().ok();
    Some((Endpoint { ip, port }, false))
}

fn english_state(s: &str) -> String {
    let upper = s.to_uppercase();
    if ENGLISH_STATES.contains(&upper.as_str()) {
        return upper;
    }
    LOCALIZED_STATES
        .iter()
        .find(|(l, _)| *l == upper)
        .map_or_else(|| s.to_string(), |(_, e)| (*e).to_string())
}

fn parse_pid(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A socket row, or `None` when the line does not have the row shape.
fn parse_row(source: SourceRef, text: &str) -> Option<Event> {
    let toks: Vec<&str> = text.split_whitespace().collect();
    let proto = parse_proto(toks.first()?)?;
    let (local, local_clean) = parse_address(toks.get(1)?)?;
    let (remote, remote_clean) = parse_address(toks.get(2)?)?;
    let rest = toks.get(3..).unwrap_or(&[]);
    let (state, pid) = match (proto, rest) {
        (Proto::Tcp, [state]) if parse_pid(state).is_none() => (Some(*state), None),
        (Proto::Tcp, [state, pid]) => (Some(*state), Some(parse_pid(pid)?)),
        (Proto::Udp, []) => (None, None),
        (Proto::Udp, [pid]) => (None, Some(parse_pid(pid)?)),
        _ => return None,
    };

    let mut ev = Event::new(source, Layer::SocketTable, Kind::SocketRow);
    ev.provider = Some("netstat".into());
    ev.proto = Some(proto);
    ev.local = Some(local);
    ev.remote = Some(remote);
    ev.pid = pid;
    ev.message = text.trim().to_string();
    if let Some(state) = state {
        ev.fields.push("state", &english_state(state));
    }
    if let Some(pid) = pid {
        ev.fields.push_display("pid", pid);
    }
    if !local_clean {
        ev.fields.push("local_text", toks.get(1)?);
    }
    if !remote_clean {
        ev.fields.push("remote_text", toks.get(2)?);
    }
    Some(ev)
}

/// `[svchost.exe]` → `svchost.exe`.
fn bracketed_image(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('[')?.strip_suffix(']')?.trim();
    (!inner.is_empty()).then_some(inner)
}

/// A Windows service short name (`RpcSs`, `Dnscache`, `MSSQL$SQLEXPRESS`):
/// one token, no brackets.
fn is_service_name(s: &str) -> bool {
    !s.is_empty()
        && s.is_ascii()
        && s.len() <= 80
        && !s.contains(char::is_whitespace)
        && !s.contains(['[', ']', ':'])
}

/// The ownership message in any language: several words, or one run of
/// non-ASCII text (CJK has no spaces: `无法获取所有权信息`). Service short
/// names are ASCII.
/// A line that starts like a socket row (`TCP`, `UDP`…) but did not parse.
fn looks_like_broken_row(s: &str) -> bool {
    s.split_whitespace().next().and_then(parse_proto).is_some()
}

/// The start of a line for a message.
fn shown(s: &str) -> String {
    s.trim().chars().take(160).collect()
}

fn is_sentence(s: &str) -> bool {
    !s.contains(['[', ']']) && (s.split_whitespace().count() >= 3 || !s.is_ascii())
}

/// Whether the first lines of a text look like netstat output: at least one
/// socket row (headers may be absent or localized).
pub fn sniff(head: &str) -> bool {
    let src = SourceRef::default();
    super::common::lines(head)
        .take(40)
        .any(|l| parse_row(src, l.trim_start_matches('\u{feff}')).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Format, decode_text};

    fn run(text: &str) -> Sink {
        decode_text(Format::Netstat, 0, 1, text).expect("netstat decoder")
    }

    #[test]
    fn anob_rows_collect_service_image_and_ownership() {
        let text = concat!(
            "\n",
            "Active Connections\n",
            "\n",
            "  Proto  Local Address          Foreign Address        State           PID\n",
            "  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       832\n",
            "  RpcSs\n",
            " [svchost.exe]\n",
            "  TCP    0.0.0.0:445            0.0.0.0:0              LISTENING       4\n",
            " Can not obtain ownership information\n",
            "  UDP    0.0.0.0:500            *:*                                    1024\n",
        );
        let s = run(text);
        assert_eq!(s.events.len(), 3);
        assert_eq!(
            (s.counts.parsed, s.counts.skipped, s.counts.unknown),
            (6, 4, 0)
        );
        let e = &s.events[0];
        assert_eq!(e.pid, Some(832));
        assert_eq!(e.process_name.as_deref(), Some("svchost.exe"));
        assert_eq!(e.field("services"), Some("RpcSs"));
        assert_eq!(e.field("state"), Some("LISTENING"));
        assert_eq!(s.events[1].field("ownership"), Some("unavailable"));
        assert_eq!(s.events[2].field("state"), None);
        assert_eq!(
            s.events[2].remote,
            Some(Endpoint {
                ip: None,
                port: None
            })
        );
    }

    #[test]
    fn resolved_names_keep_text() {
        let s = run(
            "  TCP    10.46.88.66:50111      chi02legaldc01:msft-gc  ESTABLISHED\n  TCP    10.46.88.66:54038      10.46.47.17:https      TIME_WAIT\n",
        );
        assert_eq!(s.events.len(), 2);
        let e = &s.events[0];
        assert_eq!(e.field("remote_text"), Some("chi02legaldc01:msft-gc"));
        assert_eq!(
            e.remote,
            Some(Endpoint {
                ip: None,
                port: None
            })
        );
        let e = &s.events[1];
        assert_eq!(e.remote.and_then(|r| r.ip), "10.46.47.17".parse().ok());
        assert_eq!(e.field("remote_text"), Some("10.46.47.17:https"));
        assert_eq!(e.field("state"), Some("TIME_WAIT"));
    }

    #[test]
    fn ipv6_zone_breaks_columns_but_not_rows() {
        let s = run(
            "  UDP    [fe80::1d61:ce96:c2ee:3d2c%4]:53304  *:*                                    2004\n",
        );
        assert_eq!(s.events.len(), 1);
        let e = &s.events[0];
        assert_eq!(e.local.and_then(|l| l.port), Some(53304));
        assert_eq!(e.pid, Some(2004));
    }

    #[test]
    fn cjk_ownership_message_is_not_a_service() {
        let s = run(
            "  TCP    0.0.0.0:445            0.0.0.0:0              LISTENING       4\n 无法获取所有权信息\n",
        );
        assert_eq!(s.counts.parsed, 2);
        assert_eq!(s.events[0].field("ownership"), Some("unavailable"));
        assert_eq!(s.events[0].field("services"), None);
    }

    #[test]
    fn localized_states_become_english() {
        let s = run("  TCP    0.0.0.0:135            0.0.0.0:0              ABHÖREN         904\n");
        assert_eq!(s.events[0].field("state"), Some("LISTENING"));
    }

    #[test]
    fn stray_text_is_unknown() {
        let s = run("hello\nworld\n");
        assert_eq!(s.counts.unknown, 2);
        let s = run("  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       x\n");
        assert_eq!(s.counts.unknown, 1);
    }

    #[test]
    fn sniff_rows_only() {
        assert!(sniff(
            "  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       1172"
        ));
        assert!(!sniff("\"Image Name\",\"PID\"\n"));
        assert!(!sniff("Image Name                     PID Session Name"));
    }
}
