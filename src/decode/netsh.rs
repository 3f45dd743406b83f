//! `netsh trace convert` / tracefmt text: `[CPU]PID.TID::TIME [Provider]message`.
//!
//! Lines of providers in `schemas/` are parsed back into named fields with
//! the provider's message templates and typed by [`crate::schema::enrich`].
//! WPP lines (`[nt]…`, `[0]…`, `[viosock.sys]…`) and other providers keep
//! their prefix data and message as [`Kind::Raw`] events. Converter
//! banners (tracefmt's summary) become [`Kind::TraceInfo`] events.

use crate::decode::prefix::{PrefixError, parse_prefix};
use crate::decode::{LineDecoder, Sink};
use crate::event::{Event, Kind, Layer};
use crate::schema;

/// Text a trace converter prints around the events (tracefmt's header and
/// summary; netsh's banner). Matched at the start of a trimmed line.
const CONVERTER_LINES: &[&str] = &[
    "Setting log file to:",
    "Examining ",
    "Processing ",
    "Total Buffers Processed",
    "Total Events",
    "Total Format",
    "Total Formats Unknown",
    "Elapsed Time",
    "Input file:",
    "Output file:",
    "Dump File:",
    "Summary File:",
    "Trace file:",
    "Generating ",
    "Converting ",
    "Done.",
    "The command completed successfully.",
];

/// netsh text may carry PktMon events (`netsh trace start … provider=
/// Microsoft-Windows-PktMon`, or a pktmon log with TCPIP lines): those
/// lines and their indented packet decodes go to the PktMon decoder, so a
/// mixed trace gives the same packet events as a pure one.
#[derive(Default)]
pub struct NetshDecoder {
    pktmon: crate::decode::pktmon::PktmonTextDecoder,
    in_pktmon: bool,
}

const PKTMON_PROVIDER: &str = "Microsoft-Windows-PktMon";

impl LineDecoder for NetshDecoder {
    fn finish(&mut self, sink: &mut Sink) {
        self.pktmon.finish(sink);
    }

    fn line(&mut self, line_no: u64, line: &str, sink: &mut Sink) {
        let prefixed = parse_prefix(line);
        match &prefixed {
            Ok(p) if p.provider == PKTMON_PROVIDER => {
                self.in_pktmon = true;
                return self.pktmon.line(line_no, line, sink);
            }
            Ok(_) => self.in_pktmon = false,
            Err(PrefixError::NotPrefixed) if self.in_pktmon && line.starts_with([' ', '\t']) => {
                return self.pktmon.line(line_no, line, sink);
            }
            Err(_) => {}
        }
        let trimmed = line.trim_start_matches('\u{feff}').trim();
        if trimmed.is_empty() {
            sink.skipped();
            return;
        }
        // Any other line ends a pending PktMon packet: it is delivered
        // now, so events stay in line order (and a chunk starting here
        // decodes the same as the whole file).
        self.pktmon.finish(sink);
        match prefixed {
            Ok(p) => {
                let mut ev = Event::new(sink.src(line_no), Layer::Other, Kind::Raw);
                ev.ts = Some(p.ts);
                ev.cpu = Some(p.cpu);
                ev.header_pid = Some(p.pid);
                ev.tid = Some(p.tid);
                ev.message = p.message.to_string();
                if let Err(note) = schema::apply_rendered(&mut ev, p.provider, p.message) {
                    sink.diag(line_no, crate::decode::LineClass::Parsed, note);
                }
                sink.event(ev);
                sink.parsed();
            }
            Err(PrefixError::Malformed(why)) => {
                sink.error(line_no, format!("trace line prefix: {why}"))
            }
            Err(PrefixError::NotPrefixed) => {
                if is_converter_line(trimmed) {
                    let mut ev = Event::new(sink.src(line_no), Layer::Trace, Kind::TraceInfo);
                    ev.message = trimmed.to_string();
                    sink.event(ev);
                    sink.parsed();
                } else {
                    sink.unknown(line_no, line);
                }
            }
        }
    }
}

fn is_converter_line(t: &str) -> bool {
    CONVERTER_LINES.iter().any(|p| t.starts_with(p))
        || (t.len() >= 3 && t.bytes().all(|b| matches!(b, b'-' | b'=' | b'*' | b' ')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Format, decode_text};
    use crate::event::{Direction, Proto};

    #[test]
    fn network_drop_line_is_typed() {
        let text = "[30]0000.0000::2025/03/27-16:12:13.966003800 [Microsoft-Windows-TCPIP]TCPIP: Network layer (Protocol 1(ICMP), AddressFamily = 2(IPV4)) dropped 1 packet(s) on interface 13. SourceAddress = 192.168.5.68. DestAddress = 192.168.5.88. Reason = 9(Inspection drop). Direction = 0(Send). NBL = 0xFFFFE189BEAF3AC0.\n";
        let sink = decode_text(Format::NetshText, 0, 1, text).unwrap();
        assert_eq!(sink.counts.parsed, 1);
        let e = &sink.events[0];
        assert_eq!(e.kind, Kind::NetworkDrop);
        assert_eq!((e.event_id, e.version), (Some(1215), Some(2)));
        assert_eq!(e.proto, Some(Proto::Icmp));
        assert_eq!(e.direction, Some(Direction::Out));
        assert_eq!(e.field("IfIndex"), Some("13"));
        assert_eq!(e.field("PacketCount"), Some("1"));
        assert_eq!(e.local.unwrap().to_string(), "192.168.5.68:*");
        assert_eq!(e.remote.unwrap().to_string(), "192.168.5.88:*");
        let d = e.drop.as_ref().unwrap();
        assert_eq!(
            (d.code, d.text.as_deref()),
            (Some(9), Some("Inspection drop"))
        );
    }

    #[test]
    fn wpp_other_providers_and_banners_are_raw_and_counted() {
        let text = "[0]08FC.2CB4::2023/06/22-18:55:06.496848300 [nt]NSI: Enter>>NsiSetAllParametersEx.\n\
                    > [04]0004.8018::2025-08-03 ***12:45:09.474440300*** [Microsoft-Windows-Hyper-V-VfpExt] Block rule\n\
                    Total Events  Processed 2\n\
                    \n\
                    garbage here\n\
                    [1]zz::2025/01/01-00:00:00 [x]y\n";
        let sink = decode_text(Format::NetshText, 0, 1, text).unwrap();
        assert_eq!(sink.counts.parsed, 3);
        assert_eq!(sink.counts.skipped, 1);
        assert_eq!(sink.counts.unknown, 1);
        assert_eq!(sink.counts.error, 1);
        assert_eq!(sink.events[0].kind, Kind::Raw);
        assert_eq!(sink.events[0].provider.as_deref(), Some("nt"));
        assert_eq!(sink.events[0].header_pid, Some(0x8FC));
        assert_eq!(
            sink.events[1].provider.as_deref(),
            Some("Microsoft-Windows-Hyper-V-VfpExt")
        );
        assert_eq!(sink.events[2].kind, Kind::TraceInfo);
    }
}
