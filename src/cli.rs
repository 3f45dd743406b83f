//! Command-line syntax (clap derive) and its translation into a [`Config`].
//! The syntax structs hold only what the user typed; `Config::from_cli`
//! resolves meaning (encodings, time zones, thread counts) and reports usage
//! errors, so the library never sees clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::decode::Format;
use crate::input::encoding::TextEncoding;
use crate::pipeline::RunOptions;

const EXIT_CODES: &str = "Exit codes: 0 success (input problems are reported on stderr and still exit 0); \
1 some inputs had errors and --strict was given; 2 usage error (bad arguments, unwritable output).";

#[derive(Parser, Debug)]
#[command(
    name = "etwnet",
    version,
    about = "Decode Windows network traces (netsh/tracefmt text, NetMon text, ETW XML, tracerpt CSV, \
PktMon text/list/counters, tasklist, netstat, raw .etl) on any OS: per-connection timelines, \
which process sent a packet, and why the stack dropped it.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand that reads inputs shares.
#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// Files, folders (searched recursively) and .zip bundles (read in place);
    /// `-` reads standard input. Formats and encodings are detected by content.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Decode text inputs with this encoding instead of detecting it
    /// (utf-8, utf-16le, utf-16be, cp437, cp850, cp866, windows-1252, gbk, shift_jis…).
    #[arg(long, value_name = "LABEL")]
    pub encoding: Option<String>,
    /// Treat every input as this format instead of detecting it.
    #[arg(long = "as", value_name = "FORMAT")]
    pub as_format: Option<String>,
    /// The capture machine's UTC offset (e.g. +02:00, -05:00) for sources
    /// that print local time (netsh/pktmon text); outputs are then in that zone.
    #[arg(long, value_name = "+HH:MM", allow_hyphen_values = true)]
    pub tz: Option<String>,
    /// Worker threads (default: all cores). Output is identical for any value.
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,
    /// Refuse zip bundles that decompress to more than this many MiB in total.
    #[arg(long, value_name = "MIB", default_value_t = 8192)]
    pub max_unzipped: u64,
    /// Exit with status 1 when any input had errors.
    #[arg(long)]
    pub strict: bool,
    /// Do not print the accounting summary on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Events per correlation window (timeline, drops): memory holds one
    /// window of events. Smaller windows use less memory; an input smaller
    /// than one window is correlated as a whole.
    #[arg(long, value_name = "N", default_value_t = crate::stream::DEFAULT_WINDOW_EVENTS, hide_short_help = true)]
    pub window_events: usize,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print, per input file: path, detected format, encoding, size, lines,
    /// events, unknown lines and errors.
    ///
    /// Example: etwnet detect customer_bundle.zip
    Detect {
        #[command(flatten)]
        input: InputArgs,
        /// Also list every unknown line and error with file:line.
        #[arg(long, short = 'v')]
        verbose: bool,
    },
    /// Write every normalized event (time, source file:line, layer, kind,
    /// PIDs, addresses, pointers, bytes, states, status, drop reason, fields,
    /// message) as CSV or JSON Lines.
    ///
    /// Example: etwnet events samples/seed002_netsh.txt --format jsonl -o events.jsonl
    Events {
        #[command(flatten)]
        input: InputArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = EventsFormat::Csv)]
        format: EventsFormat,
        /// Output file (default: standard output).
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Build per-connection timelines and write, into DIR: connections.csv
    /// (one row per TCP connection / UDP or packet flow: addresses, direction,
    /// PID, process, services, states, Zeek-style history, bytes, packets,
    /// retransmits, drops, close reason, TCB, AFD endpoint, attribution),
    /// events.csv (every event in time order with its connection), drops.csv,
    /// processes.csv and findings.csv.
    ///
    /// Example: etwnet timeline samples/seed002_netmon_afd_tcpip.txt -o out/
    Timeline {
        #[command(flatten)]
        input: InputArgs,
        /// Output folder (created if missing).
        #[arg(long, short = 'o', value_name = "DIR")]
        output: PathBuf,
        /// Skip events.csv (the fast path: connections, drops, findings only).
        #[arg(long)]
        no_events: bool,
    },
    /// Which process sent (or received) a packet: PID, image, services, the
    /// connection, a confidence, and the evidence lines as file:line.
    ///
    /// Example: etwnet who samples/tracerpt_csv/seed001_exchange_udp_store --packet "udp 10.1.1.1:36003 > 172.23.98.97:2762"
    Who {
        #[command(flatten)]
        input: InputArgs,
        /// The packet: "udp 10.1.1.1:36003 > 172.23.98.97:2762" (also `->`,
        /// "src:port dst:port", IPv6 as [addr]:port; protocol optional).
        #[arg(long, value_name = "PACKET", required_unless_present = "pktgroup")]
        packet: Option<String>,
        /// A PktMon packet by its PktGroupId instead of --packet.
        #[arg(long, value_name = "ID")]
        pktgroup: Option<u64>,
        /// Prefer the connection nearest this time (ISO 8601 or trace form;
        /// local time unless it ends in Z or an offset).
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        #[arg(long, value_enum, default_value_t = WhoFormat::Text)]
        format: WhoFormat,
    },
    /// Why the stack dropped packets: drops grouped by reason (code, name,
    /// text), place (component/layer, location), direction and flow, with
    /// count, first/last time, an example line and a hint; totals per reason first.
    ///
    /// Example: etwnet drops samples/pktmon/seed003_bmc_udp623_checksum_drop
    Drops {
        #[command(flatten)]
        input: InputArgs,
        #[arg(long, value_enum, default_value_t = DropsFormat::Table)]
        format: DropsFormat,
        /// Output file (default: standard output).
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Export the packets of a raw PktMon .etl as pcapng: one interface per
    /// component and link type, a comment per packet with the component,
    /// PktGroupId, PID/TID and, for drops, the reason and location;
    /// direction flags. Prints the packet count.
    ///
    /// Example: etwnet pcap PktMon.etl -o PktMon.pcapng --drops-only
    Pcap {
        /// The .etl file.
        input: PathBuf,
        /// Output pcapng file.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: PathBuf,
        /// Only dropped packets.
        #[arg(long)]
        drops_only: bool,
        /// Only packets seen at this PktMon component id.
        #[arg(long, value_name = "ID")]
        component: Option<u32>,
    },
}

/// Parses a `--at` time into a timeline key (UTC nanoseconds when the zone
/// is known or declared with --tz, else local wall-clock nanoseconds).
pub fn parse_at(s: &str, tz: Option<i16>) -> Option<i64> {
    let s = s.trim();
    let (body, zone) = if let Some(b) = s.strip_suffix('Z') {
        (b, Some(0i16))
    } else if s.len() > 6
        && (s.as_bytes()[s.len() - 6] == b'+' || s.as_bytes()[s.len() - 6] == b'-')
        && s.as_bytes()[s.len() - 3] == b':'
    {
        (&s[..s.len() - 6], parse_tz(&s[s.len() - 6..]))
    } else {
        (s, None)
    };
    let ts = crate::decode::prefix::parse_trace_time(&body.replace('T', " "))?;
    let ts = match zone {
        Some(m) => crate::event::Timestamp {
            nanos: ts.nanos,
            zone: crate::event::Zone::Offset(m),
        },
        None => ts,
    };
    Some(ts.sort_key(tz))
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhoFormat {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropsFormat {
    Table,
    Csv,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventsFormat {
    Csv,
    Jsonl,
}

/// The meaning of the shared input options.
#[derive(Debug, Clone)]
pub struct InputConfig {
    pub inputs: Vec<String>,
    pub run: RunOptions,
    pub tz: Option<i16>,
    pub threads: Option<usize>,
    pub strict: bool,
    pub quiet: bool,
    pub window_events: usize,
}

/// Parses `+HH:MM`, `-05:00`, `+0530`, `UTC`, `Z` into minutes east of UTC.
pub fn parse_tz(s: &str) -> Option<i16> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("utc") || s == "Z" {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1i16, &s[1..]),
        b'-' => (-1i16, &s[1..]),
        _ => return None,
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    let h: i16 = h.parse().ok()?;
    let m: i16 = m.parse().ok()?;
    if h > 14 || m > 59 {
        return None;
    }
    Some(sign * (h * 60 + m))
}

impl InputArgs {
    pub fn config(&self) -> Result<InputConfig, String> {
        let encoding = match &self.encoding {
            None => None,
            Some(l) => Some(
                TextEncoding::from_label(l)
                    .ok_or_else(|| format!("unknown encoding label '{l}'"))?,
            ),
        };
        let format = match &self.as_format {
            None => None,
            Some(f) => Some(Format::from_name(f).ok_or_else(|| {
                let names: Vec<&str> = Format::all().iter().map(|f| f.as_str()).collect();
                format!("unknown format '{f}' (one of: {})", names.join(", "))
            })?),
        };
        let tz = match &self.tz {
            None => None,
            Some(t) => Some(
                parse_tz(t)
                    .ok_or_else(|| format!("--tz '{t}' is not an offset like +02:00 or -05:00"))?,
            ),
        };
        if self.threads == Some(0) {
            return Err("--threads must be at least 1".into());
        }
        if self.window_events == 0 {
            return Err("--window-events must be at least 1".into());
        }
        let mut run = RunOptions {
            encoding,
            format,
            ..RunOptions::default()
        };
        run.discover.max_unzipped = self.max_unzipped.saturating_mul(1 << 20);
        Ok(InputConfig {
            inputs: self.inputs.clone(),
            run,
            tz,
            threads: self.threads,
            strict: self.strict,
            quiet: self.quiet,
            window_events: self.window_events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn at_forms() {
        let utc = parse_at("2010-01-14T11:20:14Z", None).unwrap();
        let off = parse_at("2010-01-14T12:20:14+01:00", None).unwrap();
        assert_eq!(utc, off);
        assert!(parse_at("yesterday", None).is_none());
    }

    #[test]
    fn tz_forms() {
        assert_eq!(parse_tz("+02:00"), Some(120));
        assert_eq!(parse_tz("-05:00"), Some(-300));
        assert_eq!(parse_tz("+0530"), Some(330));
        assert_eq!(parse_tz("UTC"), Some(0));
        assert_eq!(parse_tz("5"), None);
        assert_eq!(parse_tz("+25:00"), None);
    }
}
