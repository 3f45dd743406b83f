//! Drops grouped by reason, place, direction and flow.
//!
//! Sources: PktMon drop events (170/240), TCPIP network/transport-layer
//! drops (`Reason = 9(Inspection drop)`), AFD datagram drops and WFP drops.
//! A PktMon packet is counted once per group even when it was logged at
//! several components.

use std::collections::{BTreeMap, BTreeSet};

use crate::event::{Direction, Endpoint, Event, Kind, Proto, SourceRef, Timestamp};
use crate::pipeline::Decoded;

use super::{Analysis, HashMap};

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

fn ep_text(e: Option<Endpoint>) -> String {
    e.map(|e| e.to_string()).unwrap_or_default()
}

/// The grouping key in text form: groups merge and are ordered by it when
/// the analysis ends (component ids are named then).
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

/// Where a group's component comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ComponentKey {
    /// A PktMon component id of one file, named when the analysis ends
    /// (the component table is a trailer, after the packets).
    Pktmon { file: u32, id: u32 },
    /// A fixed name (the TCPIP layer, AFD, WFP).
    Named(&'static str),
}

impl ComponentKey {
    fn text(self) -> String {
        match self {
            ComponentKey::Pktmon { file, id } => format!("{file}/{id}"),
            ComponentKey::Named(n) => n.to_string(),
        }
    }
}

/// What drops are grouped by, compact: the reason text interned, the flow
/// as endpoints (each maps to one text, made when the analysis ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct GroupKey {
    code: Option<u32>,
    reason: u32,
    layer: &'static str,
    component: ComponentKey,
    location: Option<u64>,
    direction: Option<Direction>,
    proto: Option<Proto>,
    src: Option<Endpoint>,
    dst: Option<Endpoint>,
}

/// Texts stored once, however many groups name them (reasons, location
/// and component names repeat across thousands of groups).
#[derive(Debug, Default)]
struct Interner {
    ids: HashMap<Box<str>, u32>,
    texts: Vec<Box<str>>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.texts.len() as u32;
        self.texts.push(s.into());
        self.ids.insert(s.into(), i);
        i
    }

    fn text(&self, i: u32) -> &str {
        self.texts.get(i as usize).map_or("", |s| s)
    }
}

/// One step of a group's example path: all its path text needs.
#[derive(Debug, Clone)]
struct Step {
    component: Option<u32>,
    /// Interned component name, when the window had the component table.
    name: Option<u32>,
    dropped: bool,
}

/// A drop group while drops come in, compact; its text fields are made
/// when the analysis ends ([`DropAccumulator::finish`]).
#[derive(Debug)]
struct Accumulated {
    reason_name: Option<u32>,
    location_name: Option<u32>,
    count: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    first_key: Option<i64>,
    last_key: Option<i64>,
    example: SourceRef,
    example_text: Box<str>,
    /// Connection indexes, ascending, distinct.
    conns: Vec<u32>,
    sources: Vec<SourceRef>,
    /// The example packet's path, assembled in its window.
    path: Option<Box<[Step]>>,
    path_lines: Vec<SourceRef>,
}

/// Drop groups built window by window (see `Correlator::window`).
#[derive(Debug, Default)]
pub(super) struct DropAccumulator {
    index: HashMap<GroupKey, u32>,
    groups: Vec<Accumulated>,
    texts: Interner,
    /// PktMon packets already counted per group (group index, file,
    /// PktGroupId, PktNumber), for this window and the previous one: a
    /// packet's appearances are logged together.
    seen_packets: super::PktmonSeen<(u32, u32, u64, u32)>,
    /// Per file whose appearances have their own ids: the previous
    /// window's packet events of its last [`super::SAME_PACKET_NANOS`],
    /// where a drop at the start of a window finds its first appearances.
    tails: HashMap<u32, Vec<Event>>,
}

/// How many of a group's first drops contribute path lines to rule (a).
const PATH_LINE_SOURCES: usize = 20;

/// Most source lines kept per group.
const GROUP_SOURCES: usize = 1000;

/// A PktMon packet of a window whose appearances a group wants: (group
/// index, file, PktGroupId, PktNumber).
type PacketWanted = (u32, u32, u64, u32);

impl DropAccumulator {
    /// Adds one window's drop events (`a.order` is the window's timeline,
    /// `window` its number).
    pub(super) fn add_window(
        &mut self,
        d: &Decoded,
        a: &Analysis,
        window: u64,
        per_appearance_ids: &super::HashSet<u32>,
    ) {
        // Example paths of the groups this window made, and rule (a)'s path
        // lines, found once the window's drops are all grouped.
        let mut want_path: Vec<PacketWanted> = Vec::new();
        let mut want_lines: Vec<PacketWanted> = Vec::new();
        for &r in &a.order {
            let Some(ev) = a.event(d, r) else { continue };
            let layer = match ev.kind {
                Kind::PacketDrop => "pktmon",
                Kind::NetworkDrop | Kind::TransportDrop => "tcpip",
                Kind::AfdDatagramDrop => "afd",
                Kind::WfpDrop => "wfp",
                _ => continue,
            };
            let drop = ev.drop.as_deref();
            let code = drop.and_then(|d| d.code);
            let reason_text: std::borrow::Cow<'_, str> =
                match drop.and_then(|d| d.text.as_deref().or(d.name.as_deref())) {
                    Some(t) => t.into(),
                    None => match code {
                        Some(c) => format!("reason {c}").into(),
                        None => "unspecified".into(),
                    },
                };
            let component = match ev.packet.as_ref().and_then(|p| p.component) {
                Some(id) => ComponentKey::Pktmon {
                    file: ev.source.file,
                    id,
                },
                None => ComponentKey::Named(layer_component(ev)),
            };
            let key = GroupKey {
                code,
                reason: self.texts.id(&reason_text),
                layer,
                component,
                location: drop.and_then(|d| d.location),
                direction: ev.direction,
                proto: ev.proto,
                src: ev.local,
                dst: ev.remote,
            };
            let packet_id = ev
                .packet
                .as_ref()
                .and_then(|p| Some((p.pkt_group_id?, p.pkt_number?)));
            let k = a.key_of(r);
            let gi = match self.index.get(&key) {
                Some(&gi) => {
                    if let Some((g, n)) = packet_id
                        && !self.seen_packets.insert((gi, ev.source.file, g, n), window)
                    {
                        continue;
                    }
                    gi
                }
                None => {
                    let gi = self.groups.len() as u32;
                    self.index.insert(key, gi);
                    if let Some((g, n)) = packet_id {
                        self.seen_packets.insert((gi, ev.source.file, g, n), window);
                        if layer == "pktmon" {
                            want_path.push((gi, ev.source.file, g, n));
                        }
                    }
                    let reason_name = drop.and_then(|d| d.name.as_deref());
                    let location_name = drop.and_then(|d| d.location_name.as_deref());
                    self.groups.push(Accumulated {
                        reason_name: reason_name.map(|t| self.texts.id(t)),
                        location_name: location_name.map(|t| self.texts.id(t)),
                        count: 0,
                        first: ev.ts,
                        last: ev.ts,
                        first_key: k,
                        last_key: k,
                        example: ev.source,
                        example_text: example_text(ev),
                        conns: Vec::new(),
                        sources: Vec::new(),
                        path: None,
                        path_lines: Vec::new(),
                    });
                    gi
                }
            };
            let Some(g) = self.groups.get_mut(gi as usize) else {
                continue;
            };
            // Rule (a) follows the first packets of inbound checksum drops
            // through the stack.
            if layer == "pktmon"
                && g.sources.len() < PATH_LINE_SOURCES
                && ev.source.file == g.example.file
                && ev.direction == Some(Direction::In)
                && reason_text.to_ascii_lowercase().contains("checksum")
                && let Some((pg, pn)) = packet_id
            {
                want_lines.push((gi, ev.source.file, pg, pn));
            }
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
            if g.sources.len() < GROUP_SOURCES {
                g.sources.push(ev.source);
            }
            if let Some(c) = a.conn_index_of(r)
                && let Err(at) = g.conns.binary_search(&c)
            {
                g.conns.insert(at, c);
            }
        }
        let tails = std::mem::take(&mut self.tails);
        self.add_paths(d, &want_path, &want_lines, per_appearance_ids, &tails);
        self.tails = tails;
        for &file in per_appearance_ids {
            let Some(evs) = d.events.get(file as usize).filter(|e| !e.is_empty()) else {
                continue;
            };
            let Some(end) = evs.iter().rev().find_map(|e| e.ts).map(|t| t.nanos) else {
                continue;
            };
            let start = evs
                .iter()
                .rposition(|e| {
                    e.ts.is_some_and(|t| end.saturating_sub(t.nanos) > super::SAME_PACKET_NANOS)
                })
                .map_or(0, |i| i + 1);
            let tail: Vec<Event> = evs
                .get(start..)
                .unwrap_or_default()
                .iter()
                .filter(|e| e.kind == Kind::Packet)
                .cloned()
                .collect();
            self.tails.insert(file, tail);
        }
    }

    /// PktMon groups' example paths and rule (a)'s path lines, from this
    /// window's appearances (a packet's appearances are logged together, in
    /// the window of its drop). Only the packets wanted are assembled.
    fn add_paths(
        &mut self,
        d: &Decoded,
        want_path: &[PacketWanted],
        want_lines: &[PacketWanted],
        per_appearance_ids: &super::HashSet<u32>,
        tails: &HashMap<u32, Vec<Event>>,
    ) {
        use std::collections::HashSet;
        let files: BTreeSet<u32> = want_path.iter().chain(want_lines).map(|w| w.1).collect();
        for file in files {
            let Some(evs) = d.events.get(file as usize) else {
                continue;
            };
            if per_appearance_ids.contains(&file) {
                let tail = tails.get(&file).map_or(&[][..], Vec::as_slice);
                self.add_paths_by_content(tail, evs, file, want_path, want_lines);
                continue;
            }
            let path_keys: HashSet<(u64, u32)> = want_path
                .iter()
                .filter(|w| w.1 == file)
                .map(|w| (w.2, w.3))
                .collect();
            let line_keys: HashSet<(u64, u32)> = want_lines
                .iter()
                .filter(|w| w.1 == file)
                .map(|w| (w.2, w.3))
                .collect();
            // The non-drop appearances of the packets rule (a) wants.
            let mut lines: HashMap<(u64, u32), Vec<SourceRef>> = HashMap::default();
            if !line_keys.is_empty() {
                for e in evs.iter().filter(|e| e.kind == Kind::Packet) {
                    if let Some(k) = e
                        .packet
                        .as_ref()
                        .and_then(|p| Some((p.pkt_group_id?, p.pkt_number?)))
                        .filter(|k| line_keys.contains(k))
                    {
                        lines.entry(k).or_default().push(e.source);
                    }
                }
            }
            // Assembly keys appearances without a PktNumber as number 0.
            let wanted = |e: &&Event| {
                e.packet.as_ref().is_some_and(|p| {
                    p.pkt_group_id
                        .is_some_and(|g| path_keys.contains(&(g, p.pkt_number.unwrap_or(0))))
                })
            };
            let mut paths: HashMap<(u64, u32), Box<[Step]>> = HashMap::default();
            if !path_keys.is_empty() {
                let (trailers, list) = crate::pktmon::assemble::component_tables(evs);
                let assembled = crate::pktmon::assemble::assemble_some(
                    evs.iter().filter(wanted),
                    &trailers,
                    &list,
                );
                for p in assembled.into_iter().filter(|p| p.is_dropped()) {
                    let (Some(g), Some(n)) = (p.pkt_group_id, p.pkt_number) else {
                        continue;
                    };
                    paths.insert((g, n), self.steps_of(&p));
                }
            }
            for &(gi, f, pg, pn) in want_path.iter().filter(|w| w.1 == file) {
                if let Some(g) = self.groups.get_mut(gi as usize)
                    && g.path.is_none()
                    && g.example.file == f
                {
                    g.path = paths.get(&(pg, pn)).cloned();
                }
            }
            for &(gi, _, pg, pn) in want_lines.iter().filter(|w| w.1 == file) {
                let Some(g) = self.groups.get_mut(gi as usize) else {
                    continue;
                };
                for l in lines.get(&(pg, pn)).map_or(&[][..], Vec::as_slice) {
                    if g.path_lines.len() < PATH_LINE_SOURCES {
                        g.path_lines.push(*l);
                    }
                }
            }
        }
    }

    /// An assembled path's steps, names interned.
    fn steps_of(&mut self, path: &crate::pktmon::assemble::PacketPath) -> Box<[Step]> {
        path.steps
            .iter()
            .map(|s| Step {
                component: s.component,
                name: s.component_name.as_deref().map(|t| self.texts.id(t)),
                dropped: s.dropped,
            })
            .collect()
    }

    /// [`DropAccumulator::add_paths`] for a file whose appearances each
    /// have their own PktGroupId: a dropped packet's earlier appearances
    /// are the nearest packet event at each component edge before the
    /// drop, within [`super::SAME_PACKET_NANOS`], with its content key
    /// (the loose one: TCPIP's copy has no IPv4 id).
    fn add_paths_by_content(
        &mut self,
        tail: &[Event],
        evs: &[Event],
        file: u32,
        want_path: &[PacketWanted],
        want_lines: &[PacketWanted],
    ) {
        let wanted: BTreeSet<(u64, u32)> = want_path
            .iter()
            .chain(want_lines)
            .filter(|w| w.1 == file)
            .map(|w| (w.2, w.3))
            .collect();
        let mut found: HashMap<(u64, u32), Vec<&Event>> = HashMap::default();
        let all: Vec<&Event> = tail.iter().chain(evs).collect();
        for (i, &drop) in all.iter().enumerate().skip(tail.len()) {
            let Some(p) = drop
                .packet
                .as_ref()
                .filter(|_| drop.kind == Kind::PacketDrop)
            else {
                continue;
            };
            let Some(id) = p
                .pkt_group_id
                .zip(p.pkt_number)
                .filter(|k| wanted.contains(k))
            else {
                continue;
            };
            let Some(key) = super::same_packet_key(drop, p) else {
                // Nothing to match its appearances by: the drop alone.
                found.entry(id).or_insert_with(|| vec![drop]);
                continue;
            };
            // The nearest appearance at each edge: two packets alike but
            // for their IPv4 id can climb the stack in step, and either
            // one's appearances name the same components.
            let mut appearances = vec![drop];
            let mut edges = vec![key.edge];
            for &prior in all.get(..i).unwrap_or_default().iter().rev() {
                let Some(pp) = prior.packet.as_ref() else {
                    continue;
                };
                if prior
                    .ts
                    .is_some_and(|pt| key.t.saturating_sub(pt.nanos) > super::SAME_PACKET_NANOS)
                {
                    break;
                }
                if prior.kind != Kind::Packet {
                    continue;
                }
                if let Some(k) = super::same_packet_key(prior, pp)
                    && k.loose == key.loose
                    && !edges.contains(&k.edge)
                {
                    edges.push(k.edge);
                    appearances.push(prior);
                }
            }
            found.entry(id).or_insert(appearances);
        }
        let (trailers, list) = crate::pktmon::assemble::component_tables(evs);
        for &(gi, f, pg, pn) in want_path.iter().filter(|w| w.1 == file) {
            let Some(appearances) = found.get(&(pg, pn)) else {
                continue;
            };
            let mut appearances = appearances.clone();
            let path = crate::pktmon::assemble::path_of(&mut appearances, file, &trailers, &list);
            let steps = self.steps_of(&path);
            if let Some(g) = self.groups.get_mut(gi as usize)
                && g.path.is_none()
                && g.example.file == f
            {
                g.path = Some(steps);
            }
        }
        for &(gi, _, pg, pn) in want_lines.iter().filter(|w| w.1 == file) {
            let (Some(g), Some(appearances)) =
                (self.groups.get_mut(gi as usize), found.get(&(pg, pn)))
            else {
                continue;
            };
            let mut earlier: Vec<SourceRef> = appearances
                .iter()
                .filter(|e| e.kind == Kind::Packet)
                .map(|e| e.source)
                .collect();
            earlier.sort_unstable();
            for l in earlier {
                if g.path_lines.len() < PATH_LINE_SOURCES {
                    g.path_lines.push(l);
                }
            }
        }
    }

    /// The groups, components named, sorted: biggest reasons first, then
    /// biggest groups. Groups that differ only by the file their component
    /// id came from merge when the component names agree.
    pub(super) fn finish(self, a: &Analysis) -> Vec<DropGroup> {
        let DropAccumulator {
            index,
            groups,
            texts,
            ..
        } = self;
        let mut groups: Vec<Option<Accumulated>> = groups.into_iter().map(Some).collect();
        let mut keyed: Vec<(Key, GroupKey, Accumulated)> = index
            .into_iter()
            .filter_map(|(k, gi)| {
                let g = groups.get_mut(gi as usize)?.take()?;
                let text_key: Key = (
                    k.code,
                    texts.text(k.reason).to_string(),
                    k.layer,
                    k.component.text(),
                    k.location,
                    k.direction.map(Direction::as_str),
                    k.proto,
                    ep_text(k.src),
                    ep_text(k.dst),
                );
                Some((text_key, k, g))
            })
            .collect();
        drop(groups);
        keyed.sort_unstable_by(|x, y| x.0.cmp(&y.0));
        let mut named: BTreeMap<Key, DropGroup> = BTreeMap::new();
        for (mut key, k, acc) in keyed {
            let g = drop_group(&key, k, acc, &texts, a);
            key.3 = g.component.clone();
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

/// A group's output form: texts made, its component and path named.
fn drop_group(
    key: &Key,
    k: GroupKey,
    acc: Accumulated,
    texts: &Interner,
    a: &Analysis,
) -> DropGroup {
    let component = match k.component {
        ComponentKey::Pktmon { file, id } => match a.components.get(&(file, id)) {
            Some((name, _)) => format!("{id} {name}"),
            None => id.to_string(),
        },
        ComponentKey::Named(n) => n.to_string(),
    };
    let path = acc.path.map(|steps| {
        crate::pktmon::assemble::join_path(
            steps
                .iter()
                .map(|s| {
                    let name = match s.name {
                        Some(t) => Some(texts.text(t)),
                        None => component_name(s.component, acc.example.file, a),
                    };
                    crate::pktmon::assemble::step_label(name, s.component, s.dropped)
                })
                .collect(),
        )
    });
    DropGroup {
        reason_code: k.code,
        reason_name: acc.reason_name.map(|t| texts.text(t).to_string()),
        hint: hint_for(&key.1, k.layer, k.direction),
        reason_text: key.1.clone(),
        layer: k.layer,
        component,
        location: k.location,
        location_name: acc.location_name.map(|t| texts.text(t).to_string()),
        direction: k.direction,
        proto: k.proto,
        src: key.7.clone(),
        dst: key.8.clone(),
        count: acc.count,
        first: acc.first,
        last: acc.last,
        first_key: acc.first_key,
        last_key: acc.last_key,
        example: acc.example,
        example_text: acc.example_text.into(),
        conn_ids: acc.conns.into_iter().map(super::conn_id).collect(),
        sources: acc.sources,
        path,
        path_lines: acc.path_lines,
        // The group's first drop: its example.
        first_pos: (
            acc.first_key.unwrap_or(i64::MIN),
            acc.example.file,
            acc.example.line,
        ),
    }
}

/// The name of a path step's component, for a path assembled before its
/// file's component table was seen: the capture's own trailer first, else a
/// `pktmon list`.
fn component_name(id: Option<u32>, file: u32, a: &Analysis) -> Option<&str> {
    let id = id?;
    a.components
        .get(&(file, id))
        .or_else(|| {
            a.components
                .iter()
                .filter(|((_, i), (_, origin))| *i == id && *origin == "pktmon list")
                .min_by_key(|((f, _), _)| *f)
                .map(|(_, v)| v)
        })
        .map(|(name, _)| name.as_str())
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
    sources.truncate(GROUP_SOURCES);
    a.sources = sources;
    for l in b.path_lines {
        if a.path_lines.len() < PATH_LINE_SOURCES {
            a.path_lines.push(l);
        }
    }
}

fn layer_component(ev: &Event) -> &'static str {
    match ev.kind {
        Kind::NetworkDrop => "TCPIP network layer",
        Kind::TransportDrop => "TCPIP transport layer",
        Kind::AfdDatagramDrop => "AFD",
        Kind::WfpDrop => "WFP",
        _ => "",
    }
}

fn example_text(ev: &Event) -> Box<str> {
    let s = ev
        .packet
        .as_ref()
        .and_then(|p| p.summary.as_deref())
        .unwrap_or(&ev.message);
    s.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::super::{Correlator, analyze};
    use super::*;
    use crate::event::{DropInfo, Layer, PacketInfo};
    use crate::pipeline::{Decoded, FileReport};

    fn ep(s: &str) -> Endpoint {
        crate::decode::common::parse_socket_addr(s).unwrap()
    }

    /// One PktMon appearance of packet (`group`, `number`) at `component`;
    /// a drop when `reason` is given.
    fn appearance(
        file: u32,
        group: u64,
        number: u32,
        component: u32,
        flow: (&str, &str, Direction),
        reason: Option<(u32, &str)>,
    ) -> Event {
        let kind = if reason.is_some() {
            Kind::PacketDrop
        } else {
            Kind::Packet
        };
        let mut e = Event::new(SourceRef { file, line: 0 }, Layer::Pktmon, kind);
        e.ts = Some(Timestamp::utc(1_000 * group as i64 + i64::from(number)));
        e.proto = Some(Proto::Udp);
        (e.local, e.remote, e.direction) = (Some(ep(flow.0)), Some(ep(flow.1)), Some(flow.2));
        e.packet = Some(Box::new(PacketInfo {
            pkt_group_id: Some(group),
            pkt_number: Some(number),
            component: Some(component),
            summary: Some(format!("ip: {} > {}: UDP, length 9", flow.0, flow.1)),
            ..PacketInfo::default()
        }));
        e.drop = reason.map(|(code, text)| {
            Box::new(DropInfo {
                code: Some(code),
                text: Some(text.into()),
                location: Some(0xE000_460A),
                location_name: Some("UDP_RECEIVE1".into()),
                ..DropInfo::default()
            })
        });
        e
    }

    const RX: (&str, &str, Direction) = ("10.0.0.2:53", "10.0.0.1:5000", Direction::In);
    const TX: (&str, &str, Direction) = ("10.0.0.1:5001", "10.0.0.9:53", Direction::Out);

    /// Packets as units (a packet's appearances are logged together): seen
    /// at components 5 and 11, dropped at 11; some drops logged twice.
    fn packets(file: u32) -> Vec<Vec<Event>> {
        let checksum = Some((912, "Bad checksum"));
        let mtu = Some((23, "MTU mismatch"));
        let mut units = Vec::new();
        for n in 0..12u32 {
            let (flow, reason) = if n % 3 == 0 {
                (TX, mtu)
            } else {
                (RX, checksum)
            };
            let mut unit = vec![
                appearance(file, 7, n, 5, flow, None),
                appearance(file, 7, n, 11, flow, reason),
            ];
            if n % 4 == 1 {
                // The same drop reported again: one packet, counted once.
                unit.push(appearance(file, 7, n, 11, flow, reason));
            }
            units.push(unit);
        }
        units
    }

    fn decoded(windows: &[Vec<Event>], files: usize) -> Vec<Decoded> {
        windows
            .iter()
            .map(|w| {
                let mut events = vec![Vec::new(); files];
                for e in w {
                    events[e.source.file as usize].push(e.clone());
                }
                Decoded {
                    files: vec![FileReport::default(); files],
                    events,
                    problems: Vec::new(),
                }
            })
            .collect()
    }

    /// Numbers lines per file in order and cuts the units into windows
    /// after the given unit counts.
    fn windows_of(units: Vec<Vec<Event>>, cuts: &[usize]) -> Vec<Vec<Event>> {
        let mut line = [0u64; 2];
        let mut windows = vec![Vec::new()];
        for (i, unit) in units.into_iter().enumerate() {
            if cuts.contains(&i) {
                windows.push(Vec::new());
            }
            for mut e in unit {
                let f = e.source.file as usize;
                line[f] += 1;
                e.source.line = line[f];
                windows.last_mut().unwrap().push(e);
            }
        }
        windows
    }

    fn groups_text(groups: &[DropGroup]) -> Vec<String> {
        groups
            .iter()
            .map(|g| {
                format!(
                    "{} {} {} {} {}->{} n={} {:?}..{:?} e.g.={:?} {:?} conns={:?} path={:?} lines={:?} sources={:?} {:?}",
                    g.reason_text,
                    g.layer,
                    g.component,
                    g.location_name.as_deref().unwrap_or(""),
                    g.src,
                    g.dst,
                    g.count,
                    g.first,
                    g.last,
                    g.example,
                    g.example_text,
                    g.conn_ids,
                    g.path,
                    g.path_lines,
                    g.sources,
                    g.hint,
                )
            })
            .collect()
    }

    fn correlate(windows: &[Vec<Event>], files: usize) -> Vec<DropGroup> {
        let mut corr = Correlator::new(None);
        for d in decoded(windows, files) {
            corr.window(&d).unwrap();
        }
        corr.finish().drops
    }

    #[test]
    fn drop_groups_are_the_same_whatever_the_windows() {
        let whole = correlate(&windows_of(packets(0), &[]), 1);
        // Two flows, one reason each; drops reported twice count once.
        assert_eq!(whole.len(), 2);
        assert_eq!(
            (whole[0].reason_text.as_str(), whole[0].count),
            ("Bad checksum", 8)
        );
        assert_eq!(
            (whole[1].reason_text.as_str(), whole[1].count),
            ("MTU mismatch", 4)
        );
        assert_eq!(
            whole[0].path.as_deref(),
            Some("component 5 → component 11 DROP")
        );
        // Rule (a)'s lines: the appearances before each inbound checksum drop.
        assert_eq!(whole[0].path_lines.len(), 8);
        assert!(whole[0].hint.is_some_and(|h| h.contains("offload")));
        let expected = groups_text(&whole);
        for cuts in [vec![1], vec![2, 3], vec![1, 4, 5, 9], (1..12).collect()] {
            let windowed = correlate(&windows_of(packets(0), &cuts), 1);
            assert_eq!(groups_text(&windowed), expected, "cuts {cuts:?}");
        }
    }

    #[test]
    fn a_packet_is_counted_once_per_group_while_remembered() {
        let drop = |n| appearance(0, 3, n, 11, RX, Some((912, "Bad checksum")));
        let units = vec![vec![drop(1)], vec![drop(1)], vec![drop(2)], vec![drop(3)]];
        // The repeat one window later is the same packet.
        let groups = correlate(&windows_of(units.clone(), &[1, 2, 3]), 1);
        assert_eq!(groups[0].count, 3);
        // Two windows later it is forgotten, as the connections forget it.
        let units = vec![vec![drop(1)], vec![drop(2)], vec![drop(3)], vec![drop(1)]];
        let groups = correlate(&windows_of(units, &[1, 2, 3]), 1);
        assert_eq!(groups[0].count, 4);
    }

    #[test]
    fn groups_of_two_files_merge_when_their_components_have_one_name() {
        let mut units = packets(0);
        units.extend(packets(1));
        let windows = windows_of(units, &[12]);
        let mut corr = Correlator::new(None);
        for d in decoded(&windows, 2) {
            corr.window(&d).unwrap();
        }
        // Both captures name component 11 (and only file 1 names 5).
        for f in 0..2 {
            corr.a
                .components
                .insert((f, 11), ("tcpip.sys".into(), "capture trailer"));
        }
        corr.a
            .components
            .insert((1, 5), ("e1r68x64.sys".into(), "capture trailer"));
        let groups = corr.finish().drops;
        assert_eq!(groups.len(), 2, "{:#?}", groups_text(&groups));
        assert_eq!(groups[0].count, 16);
        assert_eq!(groups[0].component, "11 tcpip.sys");
        // The example is the earliest drop (file 0); its path is named from
        // its own file's trailer, which does not name component 5.
        assert_eq!(groups[0].example.file, 0);
        assert_eq!(
            groups[0].path.as_deref(),
            Some("component 5 → tcpip.sys [11] DROP")
        );
        // Each file's eight checksum drops had their appearances followed.
        assert_eq!(groups[0].path_lines.len(), 16);
    }

    #[test]
    fn one_window_analysis_groups_as_streaming_does() {
        let windows = windows_of(packets(0), &[]);
        let d = decoded(&windows, 1).remove(0);
        let a = analyze(&d, None);
        assert_eq!(groups_text(&a.drops), groups_text(&correlate(&windows, 1)));
    }

    /// A capture whose appearances have their own ids (Appearance 0): the
    /// drop's path is made of the packet's appearances matched by content
    /// (the drop's copy has no IPv4 id), also when they are in the window
    /// before the drop's; the drop counts the packet once.
    #[test]
    fn per_appearance_drop_paths_are_matched_by_content() {
        let mut evs = Vec::new();
        let mut group = 100u64;
        let mut line = 0u64;
        let mut push = |component: u32, dropped: bool, t: i64, ip_id: Option<u16>| {
            group += 1;
            line += 1;
            let reason = dropped.then_some((1207, "INET: receive inspection"));
            let mut e = appearance(0, group, 1, component, RX, reason);
            e.source.line = line;
            e.ts = Some(Timestamp::utc(t));
            if let Some(p) = e.packet.as_mut() {
                p.appearance = Some(0);
                p.edge = Some(1);
                p.ip_id = ip_id;
                p.payload_len = Some(9);
                p.payload_prefix = Some(0x77);
            }
            e
        };
        for (i, c) in [13u32, 42, 41, 80].into_iter().enumerate() {
            evs.push(push(c, false, 5_000_000 + i as i64 * 20_000, Some(4242)));
        }
        evs.push(push(98, true, 5_500_000, Some(0)));
        evs.push(push(98, true, 5_600_000, Some(0)));
        for windows in [
            vec![evs.clone()],
            vec![evs[..3].to_vec(), evs[3..].to_vec()],
        ] {
            let mut corr = Correlator::new(None);
            for d in decoded(&windows, 1) {
                corr.window(&d).unwrap();
            }
            let a = corr.finish();
            assert_eq!(a.drops.len(), 1, "{:?}", a.drops);
            assert_eq!(
                a.drops[0].path.as_deref(),
                Some(
                    "component 13 → component 42 → component 41 → component 80 → component 98 DROP"
                )
            );
            let c = a.connections.get(0).unwrap();
            assert_eq!((c.packets_received, c.drops), (1, 2));
        }
    }
}
