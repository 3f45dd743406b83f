//! Drops grouped by reason, place, direction and flow.
//!
//! Sources: PktMon drop events (170/240), TCPIP network/transport-layer
//! drops (`Reason = 9(Inspection drop)`), AFD datagram drops and WFP drops.
//! A PktMon packet is counted once per group even when it was logged at
//! several components.

use std::collections::{BTreeMap, BTreeSet};

use crate::event::{Direction, Event, Kind, Proto, SourceRef, Timestamp};
use crate::pipeline::Decoded;

use super::Analysis;

/// One group of drops.
#[derive(Debug, Clone)]
pub struct DropGroup {
    pub reason_code: Option<u32>,
    pub reason_name: Option<String>,
    pub reason_text: String,
    /// `pktmon`, `tcpip`, `afd`, `wfp`.
    pub layer: &'static str,
    /// PktMon component id and name (where known), or the TCPIP layer.
    pub component: String,
    pub location: Option<u64>,
    pub location_name: Option<String>,
    pub direction: Option<Direction>,
    pub proto: Option<Proto>,
    pub src: String,
    pub dst: String,
    pub count: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    pub first_key: Option<i64>,
    pub last_key: Option<i64>,
    pub example: SourceRef,
    pub example_text: String,
    pub conn_ids: BTreeSet<String>,
    pub hint: Option<&'static str>,
    /// Every source line of a drop in this group (for findings' evidence).
    pub sources: Vec<SourceRef>,
    /// The example packet's path through the stack (PktMon), e.g.
    /// `e1r68x64.sys [7] → wfplwfs.sys [8] → tcpip.sys [11] DROP`.
    pub path: Option<String>,
}

/// Known causes worth telling the user about, keyed on the reason text.
pub fn hint_for(reason: &str, layer: &str, direction: Option<Direction>) -> Option<&'static str> {
    let r = reason.to_ascii_lowercase();
    if r.contains("checksum") {
        return Some(if direction == Some(Direction::In) && layer == "pktmon" {
            "received packet passed the NIC and filters but TCPIP found its checksum invalid: suspect NIC receive checksum offload (try disabling Rx checksum offload for this protocol on the adapter)"
        } else {
            "checksum failure: compare with a capture on the wire; if the wire checksum is fine, suspect checksum offload"
        });
    }
    if r.contains("transport endpoint was not found") || r.contains("port unreachable") {
        return Some(
            "no socket listening on the destination port (service not running, wrong port, or the reply came from an unexpected address)",
        );
    }
    if r.contains("inspection") || r.contains("wfp") || r.contains("filter") && r.contains("drop") {
        return Some(
            "dropped by a Windows Filtering Platform filter (firewall or a security product): check WFP/firewall rules and netsh wfp show state",
        );
    }
    if r.contains("mtu") {
        return Some(
            "packet larger than the path MTU: check MTU settings, VPN/tunnel overhead and PMTU discovery (ICMP fragmentation needed)",
        );
    }
    if r.contains("vlan") {
        return Some("VLAN tag filtered: check the adapter or virtual switch VLAN configuration");
    }
    None
}

fn ep_text(e: Option<crate::event::Endpoint>) -> String {
    e.map(|e| e.to_string()).unwrap_or_default()
}

/// Groups every drop event.
pub fn group(d: &Decoded, a: &Analysis) -> Vec<DropGroup> {
    type Key = (
        Option<u32>,
        String,
        &'static str,
        String,
        Option<u64>,
        Option<&'static str>,
        Option<Proto>,
        String,
        String,
    );
    let mut groups: BTreeMap<Key, DropGroup> = BTreeMap::new();
    let mut seen_packets: BTreeSet<(Key, u32, u64, u32)> = BTreeSet::new();
    for &r in &a.order {
        let Some(ev) = a.event(d, r) else { continue };
        let layer = match ev.kind {
            Kind::PacketDrop => "pktmon",
            Kind::NetworkDrop | Kind::TransportDrop => "tcpip",
            Kind::AfdDatagramDrop => "afd",
            Kind::WfpDrop => "wfp",
            _ => continue,
        };
        let drop = ev.drop.clone().unwrap_or_default();
        let reason_text = drop
            .text
            .clone()
            .or_else(|| drop.name.clone())
            .or_else(|| drop.code.map(|c| format!("reason {c}")))
            .unwrap_or_else(|| "unspecified".into());
        let component = component_text(ev, a);
        let key: Key = (
            drop.code,
            reason_text.clone(),
            layer,
            component.clone(),
            drop.location,
            ev.direction.map(Direction::as_str),
            ev.proto,
            ep_text(ev.local),
            ep_text(ev.remote),
        );
        if let Some(p) = &ev.packet
            && let (Some(g), Some(n)) = (p.pkt_group_id, p.pkt_number)
            && !seen_packets.insert((key.clone(), ev.source.file, g, n))
        {
            continue;
        }
        let k = a.key_of(r);
        let g = groups.entry(key).or_insert_with(|| DropGroup {
            reason_code: drop.code,
            reason_name: drop.name.clone(),
            reason_text: reason_text.clone(),
            layer,
            component,
            location: drop.location,
            location_name: drop.location_name.clone(),
            direction: ev.direction,
            proto: ev.proto,
            src: ep_text(ev.local),
            dst: ep_text(ev.remote),
            count: 0,
            first: ev.ts,
            last: ev.ts,
            first_key: k,
            last_key: k,
            example: ev.source,
            example_text: example_text(ev),
            conn_ids: BTreeSet::new(),
            hint: hint_for(&reason_text, layer, ev.direction),
            sources: Vec::new(),
            path: None,
        });
        // TCPIP drop events state how many packets they cover.
        let n = ev
            .field("PacketCount")
            .or(ev.field("NumPackets"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|_| layer == "tcpip")
            .unwrap_or(1);
        g.count += n;
        g.last = ev.ts.or(g.last);
        g.last_key = k.or(g.last_key);
        if g.sources.len() < 1000 {
            g.sources.push(ev.source);
        }
        if let Some(c) = a.conn_id_of(r) {
            g.conn_ids.insert(c.to_string());
        }
    }
    let mut v: Vec<DropGroup> = groups.into_values().collect();
    add_paths(d, &mut v);
    // Totals per reason first: biggest reasons, then biggest groups.
    let mut per_reason: BTreeMap<String, u64> = BTreeMap::new();
    for g in &v {
        *per_reason.entry(g.reason_text.clone()).or_default() += g.count;
    }
    v.sort_by(|a, b| {
        per_reason[&b.reason_text]
            .cmp(&per_reason[&a.reason_text])
            .then_with(|| a.reason_text.cmp(&b.reason_text))
            .then_with(|| b.count.cmp(&a.count))
            .then_with(|| a.example.cmp(&b.example))
    });
    v
}

/// Fills each PktMon group's example path. All packets of one file are
/// assembled once (appearances of a packet interleave with other packets,
/// so they are grouped by PktGroupId/PktNumber, never by adjacency).
fn add_paths(d: &Decoded, groups: &mut [DropGroup]) {
    use std::collections::HashMap;
    type Paths = (
        super::findings::AppearanceIndex,
        HashMap<(u64, u32), String>,
    );
    let mut per_file: HashMap<u32, Paths> = HashMap::new();
    for g in groups.iter_mut().filter(|g| g.layer == "pktmon") {
        let file = g.example.file;
        let Some(evs) = d.events.get(file as usize) else {
            continue;
        };
        let (index, paths) = per_file.entry(file).or_insert_with(|| {
            let paths = crate::pktmon::assemble::assemble(evs)
                .into_iter()
                .filter(|p| p.is_dropped())
                .filter_map(|p| Some(((p.pkt_group_id?, p.pkt_number?), p.path_text())))
                .collect();
            (super::findings::AppearanceIndex::new(d, file), paths)
        });
        let Some(key) = index.key_of.get(&g.example.line).copied() else {
            continue;
        };
        g.path = paths.get(&key).cloned();
    }
}

fn component_text(ev: &Event, a: &Analysis) -> String {
    if let Some(c) = ev.packet.as_ref().and_then(|p| p.component) {
        return match a.components.get(&(ev.source.file, c)) {
            Some((name, _)) => format!("{c} {name}"),
            None => c.to_string(),
        };
    }
    match ev.kind {
        Kind::NetworkDrop => "TCPIP network layer".into(),
        Kind::TransportDrop => "TCPIP transport layer".into(),
        Kind::AfdDatagramDrop => "AFD".into(),
        Kind::WfpDrop => "WFP".into(),
        _ => String::new(),
    }
}

fn example_text(ev: &Event) -> String {
    let s = ev
        .packet
        .as_ref()
        .and_then(|p| p.summary.clone())
        .unwrap_or_else(|| ev.message.clone());
    s.chars().take(200).collect()
}
