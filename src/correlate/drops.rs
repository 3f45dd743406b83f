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
    /// Lines where the first dropped packets were seen before the drop
    /// (PktMon), for rule (a)'s evidence.
    pub path_lines: Vec<SourceRef>,
    /// PktMon (file, component id), named when the analysis ends (the
    /// component table is a trailer, after the packets).
    component_ref: Option<(u32, u32)>,
    /// The example packet, assembled in its window; its path text is made
    /// when the analysis ends, when every component name is known.
    example_path: Option<crate::pktmon::assemble::PacketPath>,
    first_pos: super::TimelinePos,
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

/// Drop groups built window by window (see `Correlator::window`).
#[derive(Debug, Default)]
pub(super) struct DropAccumulator {
    groups: BTreeMap<Key, DropGroup>,
    /// PktMon packets already counted per group.
    seen_packets: BTreeSet<(Key, u32, u64, u32)>,
}

/// How many of a group's first drops contribute path lines to rule (a).
const PATH_LINE_SOURCES: usize = 20;

impl DropAccumulator {
    /// Adds one window's drop events (`a.order` is the window's timeline).
    pub(super) fn add_window(&mut self, d: &Decoded, a: &Analysis) {
        let mut touched: BTreeMap<Key, usize> = BTreeMap::new();
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
            let component_ref = ev
                .packet
                .as_ref()
                .and_then(|p| p.component)
                .map(|c| (ev.source.file, c));
            let component = match component_ref {
                Some((f, c)) => format!("{f}/{c}"),
                None => layer_component(ev),
            };
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
                && !self
                    .seen_packets
                    .insert((key.clone(), ev.source.file, g, n))
            {
                continue;
            }
            let k = a.key_of(r);
            let pos = (k.unwrap_or(i64::MIN), ev.source.file, ev.source.line);
            let g = self.groups.entry(key.clone()).or_insert_with(|| DropGroup {
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
                path_lines: Vec::new(),
                example_path: None,
                component_ref,
                first_pos: pos,
            });
            touched.entry(key).or_insert(g.sources.len());
            // TCPIP drop events state how many packets they cover.
            let n = ev
                .field("PacketCount")
                .or(ev.field("NumPackets"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|_| layer == "tcpip")
                .unwrap_or(1);
            g.count = g.count.saturating_add(n);
            g.last = ev.ts.or(g.last);
            g.last_key = k.or(g.last_key);
            if g.sources.len() < 1000 {
                g.sources.push(ev.source);
            }
            if let Some(c) = a.conn_id_of(r) {
                g.conn_ids.insert(c.to_string());
            }
        }
        self.add_paths(d, &touched);
    }

    /// PktMon groups' example paths and rule (a)'s path lines, from this
    /// window's appearances (a packet's appearances are logged together, in
    /// the window of its drop). `touched` maps each group that got drops in
    /// this window to its first source index of the window.
    fn add_paths(&mut self, d: &Decoded, touched: &BTreeMap<Key, usize>) {
        use super::findings::AppearanceIndex;
        use std::collections::HashMap;
        /// A file's appearance index and its dropped packets.
        type FilePaths = (
            AppearanceIndex,
            HashMap<(u64, u32), crate::pktmon::assemble::PacketPath>,
        );
        let mut per_file: HashMap<u32, FilePaths> = HashMap::new();
        for (key, from) in touched {
            let Some(g) = self.groups.get_mut(key) else {
                continue;
            };
            if g.layer != "pktmon" {
                continue;
            }
            let wants_path = g.example_path.is_none() && *from == 0;
            let wants_lines = *from < PATH_LINE_SOURCES
                && g.direction == Some(Direction::In)
                && g.reason_text.to_ascii_lowercase().contains("checksum");
            if !wants_path && !wants_lines {
                continue;
            }
            let file = g.example.file;
            let Some(evs) = d.events.get(file as usize) else {
                continue;
            };
            let (index, paths) = per_file.entry(file).or_insert_with(|| {
                let paths = crate::pktmon::assemble::assemble(evs)
                    .into_iter()
                    .filter(|p| p.is_dropped())
                    .filter_map(|p| Some(((p.pkt_group_id?, p.pkt_number?), p)))
                    .collect();
                (AppearanceIndex::new(d, file), paths)
            });
            if wants_path && let Some(k) = index.key_of.get(&g.example.line) {
                g.example_path = paths.get(k).cloned();
            }
            if wants_lines {
                let end = g.sources.len().min(PATH_LINE_SOURCES);
                for src in g.sources.get(*from..end).unwrap_or(&[]) {
                    if src.file != file {
                        continue;
                    }
                    let Some(k) = index.key_of.get(&src.line) else {
                        continue;
                    };
                    for l in index.lines_of(k) {
                        if g.path_lines.len() < PATH_LINE_SOURCES {
                            g.path_lines.push(*l);
                        }
                    }
                }
            }
        }
    }

    /// The groups, components named, sorted: biggest reasons first, then
    /// biggest groups. Groups that differ only by the file their component
    /// id came from merge when the component names agree.
    pub(super) fn finish(self, a: &Analysis) -> Vec<DropGroup> {
        let mut named: BTreeMap<Key, DropGroup> = BTreeMap::new();
        for (mut key, mut g) in self.groups {
            if let Some(mut p) = g.example_path.take() {
                name_components(&mut p, g.example.file, a);
                g.path = Some(p.path_text());
            }
            if let Some((f, c)) = g.component_ref {
                g.component = match a.components.get(&(f, c)) {
                    Some((name, _)) => format!("{c} {name}"),
                    None => c.to_string(),
                };
                key.3 = g.component.clone();
            }
            match named.get_mut(&key) {
                None => {
                    named.insert(key, g);
                }
                Some(m) => merge(m, g),
            }
        }
        let mut v: Vec<DropGroup> = named.into_values().collect();
        let mut per_reason: BTreeMap<String, u64> = BTreeMap::new();
        for g in &v {
            let c = per_reason.entry(g.reason_text.clone()).or_default();
            *c = c.saturating_add(g.count);
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
}

/// Names the steps of a packet path assembled before its file's component
/// table was seen: the capture's own trailer first, else a `pktmon list`.
fn name_components(p: &mut crate::pktmon::assemble::PacketPath, file: u32, a: &Analysis) {
    for s in p.steps.iter_mut().filter(|s| s.component_name.is_none()) {
        let Some(id) = s.component else { continue };
        s.component_name = a
            .components
            .get(&(file, id))
            .or_else(|| {
                a.components
                    .iter()
                    .filter(|((_, i), (_, origin))| *i == id && *origin == "pktmon list")
                    .min_by_key(|((f, _), _)| *f)
                    .map(|(_, v)| v)
            })
            .map(|(name, _)| name.clone());
    }
}

/// Folds group `b` into `a` (same reason, component name and flow).
fn merge(a: &mut DropGroup, b: DropGroup) {
    let b_first = b.first_pos < a.first_pos;
    a.count = a.count.saturating_add(b.count);
    if b_first {
        a.first = b.first;
        a.first_key = b.first_key;
        a.example = b.example;
        a.example_text = b.example_text;
        a.path = b.path.or(a.path.take());
        a.first_pos = b.first_pos;
    } else if a.path.is_none() {
        a.path = b.path;
    }
    if b.last_key >= a.last_key {
        a.last = b.last;
        a.last_key = b.last_key;
    }
    a.conn_ids.extend(b.conn_ids);
    let mut sources = std::mem::take(&mut a.sources);
    sources.extend(b.sources);
    sources.sort();
    sources.truncate(1000);
    a.sources = sources;
    for l in b.path_lines {
        if a.path_lines.len() < PATH_LINE_SOURCES {
            a.path_lines.push(l);
        }
    }
}

fn layer_component(ev: &Event) -> String {
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
