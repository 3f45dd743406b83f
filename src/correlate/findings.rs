//! Findings: rules that point at a likely cause, each with its evidence.
//!
//! (a) received packets that passed the NIC/filters but were dropped by
//!     TCPIP with a checksum reason ⇒ NIC receive checksum offload;
//! (b) bad checksums only on packets the capturing host sent ⇒ transmit
//!     checksum offload, benign;
//! (c) SYNs received and no SYN-ACK sent ⇒ dropped above the capture point;
//! (d) repeated SYNs and connect failure ⇒ unreachable or filtered;
//! (e) retransmissions over a threshold;
//! (f) connections repeating at a fixed interval.

use std::collections::BTreeMap;

use crate::event::{Direction, SourceRef};

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
    // (every `Other` protocol is "other"): the hash takes the same parts.
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
