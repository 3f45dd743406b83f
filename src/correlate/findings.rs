//! Findings: rules that point at a likely cause, each with its evidence.
//!
//! (a) received packets that passed the NIC/filters but were dropped by
//!     TCPIP with a checksum reason ⇒ NIC receive checksum offload;
//! (b) bad checksums only on packets the capturing host sent ⇒ transmit
//!     checksum offload, benign;
//! (c) SYNs received and no SYN-ACK sent ⇒ dropped above the capture point;
//! (d) repeated SYNs and connect failure ⇒ unreachable or filtered;
//! (e) retransmissions over a threshold;
//! (f) connections repeating at a fixed interval;
//! (g) the same PktMon packets in two files (a capture and its conversion
//!     given together), which every count above would hold twice.

use std::collections::{BTreeMap, HashSet};

use crate::event::{Direction, Event, FileId, SourceRef, Timestamp, Zone};

use super::{Analysis, ConnDirection};

/// A finding with its evidence lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Rule letter and short name, e.g. `a:rx-checksum-offload`.
    pub rule: &'static str,
    pub severity: &'static str,
    pub summary: String,
    pub conn_ids: Vec<String>,
    pub evidence: Vec<SourceRef>,
}

/// Retransmissions per connection that make rule (e) fire.
pub const RETRANSMIT_THRESHOLD: u64 = 3;
/// Connections to the same place needed before (f) looks for a period.
const PERIODIC_MIN: usize = 3;

pub fn find(a: &Analysis) -> Vec<Finding> {
    let mut out = Vec::new();
    rx_checksum(a, &mut out);
    // Rules (b)–(e), each over the connections in id order; retired
    // connections' findings were made when they were retired.
    let mut per_rule: [Vec<(u32, Finding)>; PER_CONNECTION_RULES] = Default::default();
    for (i, c) in a.connections.iter_indexed() {
        for (r, f) in per_connection(c).into_iter().enumerate() {
            if let (Some(f), Some(v)) = (f, per_rule.get_mut(r)) {
                v.push((i, f));
            }
        }
    }
    for (r, i, f) in &a.retired.findings {
        if let Some(v) = per_rule.get_mut(*r) {
            v.push((*i, f.clone()));
        }
    }
    for mut v in per_rule {
        v.sort_by_key(|(i, _)| *i);
        out.extend(v.into_iter().map(|(_, f)| f));
    }
    periodic(&periodic_candidates(a), &mut out);
    out
}

/// The starts rule (f) can use: those whose destination has at least
/// [`PERIODIC_MIN`] connections, in index order. A trace of 600,000
/// connections has as many starts, mostly to destinations met once
/// (inbound clients' ephemeral ports); grouping them all by their text
/// needed ~75 MB at the end of a 4 GiB run. Here a first pass keeps 8 bytes
/// per start (a hash of the destination), a second keeps only the starts
/// whose hash occurs often enough; `periodic` then groups those exactly.
fn periodic_candidates(a: &Analysis) -> Vec<PeriodicStart> {
    use std::hash::BuildHasher;
    // Seeded once, so both passes hash alike.
    let hasher = foldhash::fast::RandomState::default();
    // `periodic` groups by the destination's text and the protocol's name
    // (every unnamed `Other` protocol is "other"): the hash takes the same
    // parts.
    let dest_hash = |p: &PeriodicStart| hasher.hash_one((p.proto.as_str(), p.remote));
    let live = || {
        a.connections
            .iter_indexed()
            .filter_map(|(i, c)| PeriodicStart::of(i, c))
    };
    let report = |e: std::io::Error| {
        // The spill file was written by this process a moment ago; if the
        // disk fails it now, say what is missing rather than stop.
        eprintln!(
            "etwnet: cannot read back the retired connections' start times ({e}); rule f (periodic connections) saw only the connections still in memory"
        )
    };
    let mut hashes: Vec<u64> = live().map(|p| dest_hash(&p)).collect();
    if let Err(e) = a
        .retired
        .for_each_periodic_start(|p| hashes.push(dest_hash(&p)))
    {
        report(e);
    }
    hashes.sort_unstable();
    let mut frequent: Vec<u64> = Vec::new();
    for run in hashes.chunk_by(|x, y| x == y) {
        if run.len() >= PERIODIC_MIN
            && let Some(h) = run.first()
        {
            frequent.push(*h);
        }
    }
    drop(hashes);
    let wanted = |p: &PeriodicStart| frequent.binary_search(&dest_hash(p)).is_ok();
    let mut starts: Vec<PeriodicStart> = live().filter(|p| wanted(p)).collect();
    if let Err(e) = a.retired.for_each_periodic_start(|p| {
        if wanted(&p) {
            starts.push(p);
        }
    }) {
        report(e);
    }
    starts.sort_by_key(|s| s.index);
    starts
}

/// How many rules [`per_connection`] checks.
pub const PER_CONNECTION_RULES: usize = 4;

/// Rules (b) to (e) on one connection.
pub fn per_connection(c: &super::Connection) -> [Option<Finding>; PER_CONNECTION_RULES] {
    [
        tx_checksum(c),
        syn_no_synack(c),
        connect_failure(c),
        retransmits(c),
    ]
}

/// What rule (f) needs of a connection.
#[derive(Debug, Clone)]
pub struct PeriodicStart {
    pub index: u32,
    pub proto: crate::event::Proto,
    pub remote: crate::event::Endpoint,
    pub first_key: i64,
    pub first_event: Option<SourceRef>,
}

impl PeriodicStart {
    /// Bytes of one spilled record ([`PeriodicStart::encode`]).
    pub const RECORD_LEN: usize = 47;

    /// A fixed-size record: index, proto (tag, number), remote address
    /// (tag 0/4/6, 16 bytes), port (tag, u16), first key, first event
    /// (tag, file, line); little-endian.
    pub fn encode(&self, out: &mut [u8; Self::RECORD_LEN]) {
        use std::io::Write;
        let [proto_tag, n] = self.proto.to_tag();
        let (ip_tag, ip) = match self.remote.ip {
            None => (0u8, [0u8; 16]),
            Some(std::net::IpAddr::V4(ip)) => {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&ip.octets());
                (4, b)
            }
            Some(std::net::IpAddr::V6(ip)) => (6, ip.octets()),
        };
        let (ev_tag, file, line) = self
            .first_event
            .map_or((0u8, 0, 0), |s| (1, s.file, s.line));
        // The parts add up to RECORD_LEN, so the writes cannot run out.
        let mut w: &mut [u8] = out;
        let _ = w
            .write_all(&self.index.to_le_bytes())
            .and_then(|()| w.write_all(&[proto_tag, n, ip_tag]))
            .and_then(|()| w.write_all(&ip))
            .and_then(|()| w.write_all(&[u8::from(self.remote.port.is_some())]))
            .and_then(|()| w.write_all(&self.remote.port.unwrap_or(0).to_le_bytes()))
            .and_then(|()| w.write_all(&self.first_key.to_le_bytes()))
            .and_then(|()| w.write_all(&[ev_tag]))
            .and_then(|()| w.write_all(&file.to_le_bytes()))
            .and_then(|()| w.write_all(&line.to_le_bytes()));
    }

    /// Reads a record written by [`PeriodicStart::encode`].
    pub fn decode(b: &[u8]) -> Option<PeriodicStart> {
        use crate::event::Proto;
        fn take<const N: usize>(b: &mut &[u8]) -> Option<[u8; N]> {
            let (head, rest) = b.split_first_chunk::<N>()?;
            *b = rest;
            Some(*head)
        }
        let mut b = b;
        let index = u32::from_le_bytes(take(&mut b)?);
        let proto = Proto::from_tag(take::<2>(&mut b)?);
        let [ip_tag] = take::<1>(&mut b)?;
        let octets = take::<16>(&mut b)?;
        let ip = match ip_tag {
            4 => {
                let v4: [u8; 4] = octets.get(..4)?.try_into().ok()?;
                Some(std::net::IpAddr::from(v4))
            }
            6 => Some(std::net::IpAddr::from(octets)),
            _ => None,
        };
        let [port_tag] = take::<1>(&mut b)?;
        let port = u16::from_le_bytes(take(&mut b)?);
        let first_key = i64::from_le_bytes(take(&mut b)?);
        let [ev_tag] = take::<1>(&mut b)?;
        let file = u32::from_le_bytes(take(&mut b)?);
        let line = u64::from_le_bytes(take(&mut b)?);
        Some(PeriodicStart {
            index,
            proto,
            remote: crate::event::Endpoint {
                ip,
                port: (port_tag != 0).then_some(port),
            },
            first_key,
            first_event: (ev_tag != 0).then_some(SourceRef { file, line }),
        })
    }

    pub fn of(index: u32, c: &super::Connection) -> Option<PeriodicStart> {
        if c.direction == ConnDirection::Listener {
            return None;
        }
        Some(PeriodicStart {
            index,
            proto: c.proto,
            remote: c.remote?,
            first_key: c.first_key?,
            first_event: c.first_events.first().map(|(_, s)| *s),
        })
    }
}

fn rx_checksum(a: &Analysis, out: &mut Vec<Finding>) {
    for g in &a.drops {
        if g.layer != "pktmon"
            || g.direction != Some(Direction::In)
            || !g.reason_text.to_ascii_lowercase().contains("checksum")
        {
            continue;
        }
        // The packets were seen at other components before the drop.
        let path_lines = g.path_lines.clone();
        let mut evidence = path_lines;
        evidence.extend(g.sources.iter().take(10));
        out.push(Finding {
            rule: "a:rx-checksum-offload",
            severity: "high",
            summary: format!(
                "{} received {} packet(s) {} -> {} passed the NIC and filter layers but were dropped at {} with \"{}\"{}: suspect the NIC's receive checksum offload (disable Rx checksum offload for this protocol on the adapter and retest)",
                g.count,
                g.proto.map_or("", |p| p.as_str()),
                g.src,
                g.dst,
                g.component,
                g.reason_text,
                g.reason_code.map(|c| format!(" ({c})")).unwrap_or_default()
            ),
            conn_ids: g.conn_ids.iter().cloned().collect(),
            evidence,
        });
    }
}

fn tx_checksum(c: &super::Connection) -> Option<Finding> {
    if c.bad_checksum_sent > 0 && c.bad_checksum_received == 0 {
        return Some(Finding {
            rule: "b:tx-checksum-offload",
            severity: "info",
            summary: format!(
                "{} packet(s) sent by the capturing host on {} show a bad checksum and no received packet does: transmit checksum offload (the NIC fills the checksum after capture); benign",
                c.bad_checksum_sent,
                describe(c)
            ),
            conn_ids: vec![c.id.clone()],
            evidence: c.bad_checksum_evidence.clone(),
        });
    }
    None
}

fn describe(c: &super::Connection) -> String {
    let ep =
        |e: Option<crate::event::Endpoint>| e.map(|e| e.to_string()).unwrap_or_else(|| "?".into());
    format!(
        "{} {} {} <-> {}",
        c.id,
        c.proto.as_str(),
        ep(c.local),
        ep(c.remote)
    )
}

fn sources(v: &[(super::TimelinePos, SourceRef)]) -> Vec<SourceRef> {
    v.iter().map(|(_, s)| *s).collect()
}

fn syn_no_synack(c: &super::Connection) -> Option<Finding> {
    if c.syn_in > 0
        && c.synack_out == 0
        && c.tcb
            .is_none_or(|_| c.states.iter().all(|s| s != "Established"))
    {
        return Some(Finding {
            rule: "c:syn-no-synack",
            severity: "high",
            summary: format!(
                "{} SYN(s) received on {} and no SYN-ACK sent: something above the capture point (firewall, WFP filter, no listener) drops them",
                c.syn_in,
                describe(c)
            ),
            conn_ids: vec![c.id.clone()],
            evidence: sources(&c.syn_evidence),
        });
    }
    None
}

fn connect_failure(c: &super::Connection) -> Option<Finding> {
    let repeated_syn = c.syn_out >= 2 && c.synack_in == 0;
    if c.direction == ConnDirection::Outbound && (c.connect_failed.is_some() || repeated_syn) {
        return Some(Finding {
            rule: "d:connect-failed",
            severity: "high",
            summary: format!(
                "{}: {}{} — the destination is unreachable or the traffic is filtered",
                describe(c),
                if repeated_syn {
                    format!("{} SYNs sent without a SYN-ACK", c.syn_out)
                } else {
                    "connect failed".into()
                },
                c.close_reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
            conn_ids: vec![c.id.clone()],
            evidence: c
                .connect_failed
                .into_iter()
                .chain(sources(&c.syn_evidence))
                .collect(),
        });
    }
    None
}

fn retransmits(c: &super::Connection) -> Option<Finding> {
    if c.retransmits >= RETRANSMIT_THRESHOLD {
        return Some(Finding {
            rule: "e:retransmissions",
            severity: "medium",
            summary: format!(
                "{}: {} retransmission(s){} — packet loss or a slow path",
                describe(c),
                c.retransmits,
                c.close_reason
                    .as_ref()
                    .map(|r| format!(", closed with {r}"))
                    .unwrap_or_default()
            ),
            conn_ids: vec![c.id.clone()],
            evidence: sources(&c.retransmit_evidence),
        });
    }
    None
}

fn periodic(starts: &[PeriodicStart], out: &mut Vec<Finding>) {
    let mut by_dest: BTreeMap<(String, &'static str), Vec<&PeriodicStart>> = BTreeMap::new();
    for c in starts {
        by_dest
            .entry((c.remote.to_string(), c.proto.as_str()))
            .or_default()
            .push(c);
    }
    for ((dest, proto), mut conns) in by_dest {
        if conns.len() < PERIODIC_MIN {
            continue;
        }
        conns.sort_by_key(|c| c.first_key);
        let starts: Vec<i64> = conns.iter().map(|c| c.first_key).collect();
        let mut gaps: Vec<i64> = starts
            .windows(2)
            .map(|w| w[1].saturating_sub(w[0]))
            .collect();
        // Connections opened in a burst (within a second) count as one attempt.
        gaps.retain(|g| *g > 1_000_000_000);
        if gaps.len() + 1 < PERIODIC_MIN {
            continue;
        }
        let mut sorted = gaps.clone();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2];
        if median < 10_000_000_000 {
            continue;
        }
        let regular = gaps
            .iter()
            .all(|g| g.saturating_sub(median).saturating_abs().saturating_mul(10) <= median);
        if regular {
            out.push(Finding {
                rule: "f:periodic",
                severity: "info",
                summary: format!(
                    "{} {proto} connections to {dest} start every {} — a timer-driven client: a scheduled task, a service's poll or retry loop, or a periodic protocol (browser announcements, for example, repeat every 12 minutes)",
                    conns.len(),
                    human_interval(median)
                ),
                conn_ids: conns.iter().map(|c| super::conn_id(c.index)).collect(),
                evidence: conns.iter().filter_map(|c| c.first_event).collect(),
            });
        }
    }
}

fn human_interval(nanos: i64) -> String {
    let s = nanos / 1_000_000_000;
    if s >= 120 {
        format!("~{} min {} s", s / 60, s % 60)
    } else {
        format!("~{s} s")
    }
}

/// PktMon packet identities (PktGroupId, PktNumber, Appearance) compared
/// per file: the first [`PRINT_LEN`] of each.
const PRINT_LEN: usize = 64;
/// Identities two files must both have before they are compared: a few
/// packets in common can be chance, not the same capture.
const PRINT_MIN: usize = 8;

/// A PktMon packet appearance: (PktGroupId, PktNumber, Appearance).
type PacketIdentity = (u64, u32, u32);

/// One file's print: where and when its first packet is, and the first
/// identities.
#[derive(Debug)]
struct Print {
    first: SourceRef,
    first_ts: Option<Timestamp>,
    ids: Vec<PacketIdentity>,
}

/// The first packet identities of each file.
#[derive(Debug, Default)]
pub(super) struct PacketPrints {
    files: BTreeMap<FileId, Print>,
    /// The file whose print was last completed: its further packets (the
    /// events of a window come file by file) skip the map.
    last_full: Option<FileId>,
}

impl PacketPrints {
    /// Notes a PktMon packet or drop event's identity (the first
    /// [`PRINT_LEN`] of its file).
    pub(super) fn add(&mut self, ev: &Event) {
        let Some(p) = ev.packet.as_ref() else { return };
        let (Some(g), Some(n), Some(a)) = (p.pkt_group_id, p.pkt_number, p.appearance) else {
            return;
        };
        if self.last_full == Some(ev.source.file) {
            return;
        }
        let print = self.files.entry(ev.source.file).or_insert_with(|| Print {
            first: ev.source,
            first_ts: ev.ts,
            ids: Vec::new(),
        });
        if print.ids.len() < PRINT_LEN {
            print.ids.push((g, n, a));
        } else {
            self.last_full = Some(ev.source.file);
        }
    }
}

/// Rule (g): files whose first PktMon packets are the same packets — a
/// `.etl` and its `pktmon format`/`etl2txt` text, or one capture given
/// twice. Each copy's packets are counted as packets of their own, so
/// connections.csv, drops.csv and the other findings count them once per
/// copy; the user is told which files to keep apart. Files are the same
/// capture when nine in ten identities of the shorter print are in the
/// other (PktGroupId is unique within a boot, so two captures share none).
///
/// A UTC copy (`.etl`, XML) and a local-time one (pktmon text) of the same
/// first packet also tell the capture machine's UTC offset: the finding
/// gives it as the `--tz` to pass, unless that is what was given.
pub(super) fn duplicate_captures(prints: &PacketPrints, tz: Option<i16>) -> Vec<Finding> {
    let files: Vec<(&Print, HashSet<&PacketIdentity>)> = prints
        .files
        .values()
        .filter(|p| p.ids.len() >= PRINT_MIN)
        .map(|p| (p, p.ids.iter().collect()))
        .collect();
    // Each file joins the group of the first earlier file it repeats.
    let mut group_of: Vec<usize> = (0..files.len()).collect();
    for j in 0..files.len() {
        for i in 0..j {
            let (Some((_, a)), Some((_, b))) = (files.get(i), files.get(j)) else {
                continue;
            };
            let shared = a.intersection(b).count();
            if shared * 10 >= a.len().min(b.len()) * 9 {
                if let Some(g) = group_of.get(i).copied()
                    && let Some(slot) = group_of.get_mut(j)
                {
                    *slot = g;
                }
                break;
            }
        }
    }
    let mut out = Vec::new();
    for g in 0..files.len() {
        let members: Vec<&Print> = (0..files.len())
            .filter(|&j| group_of.get(j) == Some(&g))
            .filter_map(|j| files.get(j).map(|(p, _)| *p))
            .collect();
        if members.len() < 2 {
            continue;
        }
        let mut summary = format!(
            "{} files hold the same PktMon packets (a capture and its conversion, or one capture given twice; the evidence is the first packet of each): every packet, flow and drop of them is counted once per file in connections.csv, drops.csv and the other findings — analyse one of them",
            members.len()
        );
        if let Some(offset) = utc_offset(&members)
            && tz != Some(offset)
        {
            let sign = if offset < 0 { '-' } else { '+' };
            let m = offset.unsigned_abs();
            summary.push_str(&format!(
                ". Its local-time copy's clock is UTC{sign}{:02}:{:02} (the same first packet in a UTC copy): give --tz {sign}{:02}:{:02} to put both on one clock",
                m / 60,
                m % 60,
                m / 60,
                m % 60
            ));
        }
        out.push(Finding {
            rule: "g:duplicate-capture",
            severity: "warning",
            summary,
            conn_ids: Vec::new(),
            evidence: members.iter().map(|p| p.first).collect(),
        });
    }
    out
}

/// The capture machine's UTC offset in minutes, when one copy stamps the
/// same first packet in UTC and another in local wall-clock time: their
/// difference, when it is a whole number of quarter hours (every zone's
/// offset is) within a second, and at most 14 hours.
fn utc_offset(copies: &[&Print]) -> Option<i16> {
    let first_of = |zone: Zone| {
        copies.iter().find_map(|p| {
            let t = p.first_ts?;
            (t.zone == zone).then_some((p.ids.first()?, t.nanos))
        })
    };
    let (utc_id, utc) = first_of(Zone::Utc)?;
    let (local_id, local) = first_of(Zone::Local)?;
    if utc_id != local_id {
        return None;
    }
    const QUARTER_HOUR: i64 = 15 * 60 * 1_000_000_000;
    let diff = local.checked_sub(utc)?;
    let quarters = (diff + diff.signum() * QUARTER_HOUR / 2) / QUARTER_HOUR;
    let off_by = (diff - quarters * QUARTER_HOUR).abs();
    let minutes = quarters * 15;
    (off_by < 1_000_000_000 && minutes.abs() <= 14 * 60)
        .then(|| i16::try_from(minutes).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Kind, Layer, PacketInfo};

    fn packet(file: FileId, line: u64, group: u64, number: u32, appearance: u32) -> Event {
        let mut e = Event::new(SourceRef { file, line }, Layer::Pktmon, Kind::Packet);
        e.packet = Some(Box::new(PacketInfo {
            pkt_group_id: Some(group),
            pkt_number: Some(number),
            appearance: Some(appearance),
            ..PacketInfo::default()
        }));
        e
    }

    /// Files 0 and 2 log packets 1..=n of groups from `base` at three
    /// components each (as pktmon does), starting on line `first`.
    fn capture(prints: &mut PacketPrints, file: FileId, first: u64, base: u64, n: u64) {
        let mut line = first;
        for g in base..base + n {
            for a in 1..=3 {
                prints.add(&packet(file, line, g, 1, a));
                line += 1;
            }
        }
    }

    #[test]
    fn a_capture_and_its_conversion_are_one_finding_with_both_first_packets() {
        let mut prints = PacketPrints::default();
        capture(&mut prints, 0, 23, 562_949_953_421_313, 40);
        capture(&mut prints, 1, 5, 900_000_000, 40);
        capture(&mut prints, 2, 4, 562_949_953_421_313, 40);
        let f = duplicate_captures(&prints, None);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].rule, "g:duplicate-capture");
        assert_eq!(
            f[0].evidence,
            vec![
                SourceRef { file: 0, line: 23 },
                SourceRef { file: 2, line: 4 }
            ]
        );
        assert!(
            f[0].summary
                .starts_with("2 files hold the same PktMon packets")
        );
    }

    /// The same first packet stamped in UTC (`.etl`) and in local time
    /// (pktmon text) gives the `--tz` to pass; none when it was given, when
    /// both are in one zone, or when the difference is no zone's offset.
    #[test]
    fn a_utc_and_a_local_copy_tell_the_capture_machines_offset() {
        let stamped = |offset_nanos: i64, local_zone: Zone| {
            let mut prints = PacketPrints::default();
            for (file, zone, shift) in [(0, Zone::Utc, 0), (1, local_zone, offset_nanos)] {
                for g in 0..20u64 {
                    let mut e = packet(file, 1 + g, 77 + g, 1, 1);
                    e.ts = Some(Timestamp {
                        nanos: 1_622_728_195_618_793_000 + shift + g as i64,
                        zone,
                    });
                    prints.add(&e);
                }
            }
            prints
        };
        let min = 60_000_000_000i64;
        let summary = |p: &PacketPrints, tz| duplicate_captures(p, tz)[0].summary.clone();
        let india = stamped(330 * min, Zone::Local);
        assert!(summary(&india, None).ends_with("give --tz +05:30 to put both on one clock"));
        assert!(!summary(&india, Some(330)).contains("--tz"));
        assert!(summary(&india, Some(60)).contains("--tz +05:30"));
        let chicago = stamped(-300 * min, Zone::Local);
        assert!(summary(&chicago, None).contains("UTC-05:00"));
        // A second off a quarter hour, or both copies in UTC: no offset.
        let odd = stamped(330 * min + 2_000_000_000, Zone::Local);
        assert!(!summary(&odd, None).contains("--tz"));
        let both_utc = stamped(0, Zone::Utc);
        assert!(!summary(&both_utc, None).contains("--tz"));
    }

    #[test]
    fn three_copies_are_one_finding_and_different_captures_none() {
        let mut prints = PacketPrints::default();
        for file in [3, 5, 7] {
            capture(&mut prints, file, 1, 1_000, 30);
        }
        let f = duplicate_captures(&prints, None);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].evidence.len(), 3);
        // Consecutive captures of one boot: later groups, nothing shared.
        let mut prints = PacketPrints::default();
        capture(&mut prints, 0, 1, 1_000, 30);
        capture(&mut prints, 1, 1, 1_030, 30);
        assert!(duplicate_captures(&prints, None).is_empty());
    }

    #[test]
    fn few_or_partly_shared_packets_are_not_the_same_capture() {
        // Two packets in common (under PRINT_MIN identities each).
        let mut prints = PacketPrints::default();
        capture(&mut prints, 0, 1, 10, 2);
        capture(&mut prints, 1, 1, 10, 2);
        assert!(duplicate_captures(&prints, None).is_empty());
        // Half of the first packets shared: a later capture that overlaps.
        let mut prints = PacketPrints::default();
        capture(&mut prints, 0, 1, 10, 22);
        capture(&mut prints, 1, 1, 21, 22);
        assert!(duplicate_captures(&prints, None).is_empty());
    }

    #[test]
    fn only_the_first_packets_of_a_file_are_kept() {
        let mut prints = PacketPrints::default();
        capture(&mut prints, 0, 1, 10, 1_000);
        assert_eq!(prints.files[&0].ids.len(), PRINT_LEN);
        // Events without a PktMon identity (NDIS capture, NetMon) count for nothing.
        let mut e = packet(1, 1, 1, 1, 1);
        e.packet.as_mut().unwrap().pkt_group_id = None;
        prints.add(&e);
        assert!(!prints.files.contains_key(&1));
    }
}
