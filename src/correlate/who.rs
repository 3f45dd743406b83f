//! "Which process sent this packet?": a packet description or a PktMon
//! packet group id in, the owning process with evidence and confidence out.

use serde::Serialize;

use crate::decode::common::parse_socket_addr;
use crate::event::{Endpoint, Event, Kind, Proto, SourceRef};
use crate::pipeline::Decoded;

use super::{Analysis, Connection, same_ep};

/// A packet to look for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketQuery {
    pub proto: Option<Proto>,
    pub src: Endpoint,
    pub dst: Endpoint,
}

/// Parses `udp 10.1.1.1:36003 > 172.23.98.97:2762`, `->`, `src:port dst:port`,
/// IPv6 as `[addr]:port`; the protocol word is optional.
pub fn parse_packet_spec(s: &str) -> Result<PacketQuery, String> {
    let mut words: Vec<&str> = s
        .split_whitespace()
        .filter(|w| *w != ">" && *w != "->")
        .collect();
    let mut proto = None;
    if let Some(first) = words.first() {
        proto = match first.to_ascii_lowercase().as_str() {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "icmp" => Some(Proto::Icmp),
            _ => None,
        };
        if proto.is_some() {
            words.remove(0);
        }
    }
    // `a->b` without spaces.
    let joined = words.join(" ");
    let parts: Vec<&str> = joined
        .split(['>', ' '])
        .map(|p| p.trim_end_matches('-').trim())
        .filter(|p| !p.is_empty())
        .collect();
    let [src, dst] = parts.as_slice() else {
        return Err(format!(
            "cannot read a packet from '{s}': expected e.g. \"udp 10.1.1.1:36003 > 172.23.98.97:2762\""
        ));
    };
    let src = parse_socket_addr(src).ok_or_else(|| format!("'{src}' is not an address:port"))?;
    let dst = parse_socket_addr(dst).ok_or_else(|| format!("'{dst}' is not an address:port"))?;
    Ok(PacketQuery { proto, src, dst })
}

/// One candidate owner.
#[derive(Debug, Clone, Serialize)]
pub struct WhoMatch {
    pub conn_id: String,
    pub proto: String,
    pub local: String,
    pub remote: String,
    /// `sent` when the packet's source is the capturing host's side.
    pub packet_direction: &'static str,
    pub pid: Option<u32>,
    pub image: Option<String>,
    pub services: Option<String>,
    pub confidence: &'static str,
    pub attribution: String,
    pub first_ts: String,
    pub last_ts: String,
    /// `file:line  text` of the events that carry the PID, then others.
    pub evidence: Vec<String>,
    pub notes: Vec<String>,
}

/// The answer to a `who` question.
#[derive(Debug, Clone, Serialize)]
pub struct WhoAnswer {
    pub query: String,
    pub matches: Vec<WhoMatch>,
    /// When nothing matched: what was searched and the nearest candidates.
    pub searched: String,
    pub nearest: Vec<String>,
}

fn conn_matches(c: &Connection, q: &PacketQuery) -> Option<&'static str> {
    if q.proto.is_some_and(|p| p != c.proto) {
        return None;
    }
    if same_ep(c.local, Some(q.src)) && same_ep(c.remote, Some(q.dst)) {
        Some("sent")
    } else if same_ep(c.local, Some(q.dst)) && same_ep(c.remote, Some(q.src)) {
        Some("received")
    } else {
        None
    }
}

fn short(text: &str) -> String {
    let t: String = text.chars().take(240).collect();
    t.replace(['\r', '\n'], " ")
}

/// The event decoded from a source line (a file's events are in line order).
fn event_at(d: &Decoded, src: SourceRef) -> Option<&Event> {
    let evs = d.events.get(src.file as usize)?;
    let i = evs.partition_point(|e| e.source.line < src.line);
    evs.get(i)
        .filter(|e| e.source == src)
        .or_else(|| evs.iter().find(|e| e.source == src))
}

/// The source lines whose text `who` prints for `q`: the attribution
/// evidence and first events of every matching connection. A streaming
/// run reads just these back in a second pass.
pub fn evidence_sources(a: &Analysis, q: &PacketQuery) -> std::collections::BTreeSet<SourceRef> {
    let mut out = std::collections::BTreeSet::new();
    for c in a.connections.iter() {
        if conn_matches(c, q).is_none() {
            continue;
        }
        if let Some(attr) = &c.attribution {
            out.extend(attr.evidence.iter().copied());
        }
        out.extend(c.first_events.iter().map(|(_, s)| *s));
    }
    out
}

/// Whether an event is a PktMon packet of group `group` with a 5-tuple.
pub fn is_pktgroup_packet(e: &Event, group: u64) -> bool {
    matches!(e.kind, Kind::Packet | Kind::PacketDrop)
        && e.packet
            .as_ref()
            .is_some_and(|p| p.pkt_group_id == Some(group))
        && e.local.is_some()
        && e.remote.is_some()
}

/// The query for a PktMon packet event.
pub fn query_of(e: &Event) -> Option<PacketQuery> {
    Some(PacketQuery {
        proto: e.proto,
        src: e.local?,
        dst: e.remote?,
    })
}

/// Answers `who` for a packet, optionally near a time key (`at`).
pub fn who(
    d: &Decoded,
    a: &Analysis,
    q: &PacketQuery,
    at: Option<i64>,
    tz: Option<i16>,
) -> WhoAnswer {
    let query = format!(
        "{} {} -> {}",
        q.proto.map_or("any", Proto::as_str),
        q.src,
        q.dst
    );
    let mut cands: Vec<(&Connection, &'static str)> = a
        .connections
        .iter()
        .filter_map(|c| conn_matches(c, q).map(|dir| (c, dir)))
        .collect();
    if let Some(t) = at {
        cands.sort_by_key(|(c, _)| match (c.first_key, c.last_key) {
            (Some(f), Some(l)) if t >= f && t <= l => 0,
            (Some(f), Some(l)) => t
                .saturating_sub(f)
                .saturating_abs()
                .min(t.saturating_sub(l).saturating_abs()),
            _ => i64::MAX,
        });
    } else {
        // Best attribution first.
        cands.sort_by_key(|(c, _)| std::cmp::Reverse(c.attribution.as_ref().map(|a| a.confidence)));
    }
    let mut matches = Vec::new();
    for (c, dir) in cands {
        let mut evidence = Vec::new();
        let mut notes = Vec::new();
        if let Some(attr) = &c.attribution {
            for src in &attr.evidence {
                let text = event_at(d, *src)
                    .map(|e| short(&e.message))
                    .unwrap_or_default();
                evidence.push(format!("{}  {}", d.location(*src), text));
            }
        }
        for (_, src) in &c.first_events {
            if let Some(ev) = event_at(d, *src) {
                let line = format!("{}  {}", d.location(ev.source), short(&ev.message));
                if !evidence.contains(&line) {
                    evidence.push(line);
                }
            }
        }
        let pid = c.attribution.as_ref().map(|a| a.pid);
        let name = pid.and_then(|p| a.process_name(p, c.first_key));
        if let Some(n) = &name
            && !n.conflicts.is_empty()
        {
            notes.push(format!(
                "PID {} also named {} in other snapshots (PID reuse?)",
                pid.unwrap_or(0),
                n.conflicts.join(", ")
            ));
        }
        if pid.is_none() {
            notes.push(
                "packet records (PktMon, NDIS capture) log the thread that handled a packet, not its owner; \
                 add `netstat -ano` taken during the capture, or a netsh trace with the Microsoft-Windows-TCPIP \
                 and Microsoft-Windows-Winsock-AFD providers, to attribute this flow"
                    .into(),
            );
        }
        if pid.is_some() && name.is_none() {
            notes.push("no tasklist/netstat in the inputs names this PID".into());
        }
        let ts = |t| crate::output::ts_text(t, tz);
        matches.push(WhoMatch {
            conn_id: c.id.clone(),
            proto: c.proto.as_str().into(),
            local: c.local.map(|e| e.to_string()).unwrap_or_default(),
            remote: c.remote.map(|e| e.to_string()).unwrap_or_default(),
            packet_direction: dir,
            pid,
            image: name.as_ref().map(|n| n.image.clone()),
            services: name
                .as_ref()
                .map(|n| n.services.clone())
                .filter(|s| !s.is_empty()),
            confidence: c
                .attribution
                .as_ref()
                .map_or("none", |a| a.confidence.as_str()),
            attribution: c
                .attribution
                .as_ref()
                .map(|a| a.how.clone())
                .unwrap_or_else(|| "no event carries a PID for this flow".into()),
            first_ts: ts(c.first),
            last_ts: ts(c.last),
            evidence,
            notes,
        });
    }
    let searched = format!(
        "{} connection(s)/flow(s) from {} event(s) in {} file(s), matched on {query} in either direction",
        a.connections.len(),
        d.files.iter().map(|f| f.events).sum::<u64>(),
        d.files.len()
    );
    let mut nearest = Vec::new();
    if matches.is_empty() {
        for c in &a.connections {
            let ips = [q.src.ip, q.dst.ip];
            let ports = [q.src.port, q.dst.port];
            let near = c.local.iter().chain(c.remote.iter()).any(|e| {
                (e.ip.is_some() && ips.contains(&e.ip))
                    || (e.port.is_some() && ports.contains(&e.port))
            });
            if near && nearest.len() < 10 {
                nearest.push(format!(
                    "{} {} {} <-> {} pid {}",
                    c.id,
                    c.proto.as_str(),
                    c.local.map(|e| e.to_string()).unwrap_or_default(),
                    c.remote.map(|e| e.to_string()).unwrap_or_default(),
                    c.attribution
                        .as_ref()
                        .map_or("?".into(), |a| a.pid.to_string())
                ));
            }
        }
    }
    WhoAnswer {
        query,
        matches,
        searched,
        nearest,
    }
}

/// The 5-tuple of a PktMon packet group, for `who --pktgroup`.
pub fn query_for_pktgroup(d: &Decoded, group: u64) -> Option<PacketQuery> {
    d.all_events()
        .find(|e| is_pktgroup_packet(e, group))
        .and_then(query_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_spec_forms() {
        let q = parse_packet_spec("udp 10.1.1.1:36003 > 172.23.98.97:2762").unwrap();
        assert_eq!(q.proto, Some(Proto::Udp));
        assert_eq!(q.src.port, Some(36003));
        assert_eq!(q.dst.to_string(), "172.23.98.97:2762");
        let q = parse_packet_spec("10.1.1.1:36003 -> 172.23.98.97:2762").unwrap();
        assert_eq!(q.proto, None);
        let q = parse_packet_spec("tcp [fe80::1]:445 [fe80::2]:50000").unwrap();
        assert_eq!(q.src.port, Some(445));
        let q = parse_packet_spec("10.0.0.1:1->10.0.0.2:2").unwrap();
        assert_eq!(q.dst.port, Some(2));
        assert!(parse_packet_spec("udp 10.1.1.1").is_err());
    }
}
