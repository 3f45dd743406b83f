//! Packet assembly: every appearance of one packet (same PktGroupId and
//! PktNumber) becomes one [`PacketPath`] — its ordered path through the stack
//! and its fate — even when appearances of other packets interleave.
//!
//! Component ids are per boot, so names come from the same capture: first
//! the component records at the end of the same log file (the trailer), then
//! a `pktmon list` taken in the same session; each path says which it used.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use crate::event::{
    Direction, DropInfo, Endpoint, Event, FileId, Kind, Proto, SourceRef, Timestamp,
};

/// Where component names came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComponentSource {
    /// The component records at the end of the same pktmon log.
    Trailer,
    /// A `pktmon list` / `pktmon list --json` of the same session.
    List,
    /// No component table: ids only.
    None,
}

impl ComponentSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentSource::Trailer => "capture trailer",
            ComponentSource::List => "pktmon list",
            ComponentSource::None => "none",
        }
    }
}

/// One component's description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentInfo {
    pub id: u32,
    /// Driver or adapter name (`e1r68x64.sys`, `Intel(R) Ethernet …`).
    pub name: Option<String>,
    /// `Miniport`, `Filter`, `Protocol`, …
    pub kind: Option<String>,
    pub description: Option<String>,
    pub mac: Option<String>,
    pub if_index: Option<u32>,
}

impl ComponentInfo {
    /// `e1r68x64.sys (Miniport, Intel(R) I211 Gigabit Network Connection)`.
    pub fn label(&self) -> String {
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| format!("component {}", self.id));
        let extra: Vec<&str> = [self.kind.as_deref(), self.description.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect();
        if extra.is_empty() {
            name
        } else {
            format!("{name} ({})", extra.join(", "))
        }
    }
}

/// Components of one capture, by id.
#[derive(Debug, Clone, Default)]
pub struct ComponentTable {
    pub by_id: HashMap<u32, ComponentInfo>,
}

impl ComponentTable {
    /// Merges one component event (trailer record, list row or JSON entry).
    fn add(&mut self, ev: &Event) {
        let Some(id) = ev
            .field("Component")
            .or_else(|| ev.field("Id"))
            .and_then(|v| v.trim().parse::<u32>().ok())
        else {
            return;
        };
        let c = self.by_id.entry(id).or_insert_with(|| ComponentInfo {
            id,
            ..ComponentInfo::default()
        });
        let set = |slot: &mut Option<String>, v: Option<&str>| {
            if slot.is_none()
                && let Some(v) = v.map(str::trim).filter(|v| !v.is_empty())
            {
                *slot = Some(v.to_string());
            }
        };
        set(&mut c.name, ev.field("Name"));
        set(&mut c.kind, ev.field("Type"));
        set(&mut c.description, ev.field("Description"));
        set(&mut c.mac, ev.field("MAC"));
        if c.if_index.is_none() {
            c.if_index = ev.field("ifIndex").and_then(|v| v.trim().parse().ok());
        }
    }

    pub fn get(&self, id: u32) -> Option<&ComponentInfo> {
        self.by_id.get(&id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// Whether a component event came from a `pktmon list` rather than a log trailer.
fn is_list_event(ev: &Event) -> bool {
    ev.provider
        .as_deref()
        .is_some_and(|p| p.starts_with("pktmon list"))
}

/// Component tables found among `events`: per file for log trailers, and one
/// merged table of `pktmon list` outputs.
pub fn component_tables<'a>(
    events: impl IntoIterator<Item = &'a Event>,
) -> (HashMap<FileId, ComponentTable>, ComponentTable) {
    let mut trailers: HashMap<FileId, ComponentTable> = HashMap::new();
    let mut list = ComponentTable::default();
    for ev in events
        .into_iter()
        .filter(|e| e.kind == Kind::PktmonComponent)
    {
        if is_list_event(ev) {
            list.add(ev);
        } else {
            trailers.entry(ev.source.file).or_default().add(ev);
        }
    }
    (trailers, list)
}

/// One appearance of a packet.
#[derive(Debug, Clone, PartialEq)]
pub struct PathStep {
    pub ts: Option<Timestamp>,
    pub source: SourceRef,
    pub event_id: Option<u32>,
    pub appearance: Option<u32>,
    pub component: Option<u32>,
    pub component_name: Option<String>,
    pub component_type: Option<String>,
    pub edge: Option<u32>,
    pub direction: Option<Direction>,
    pub media: Option<String>,
    pub dropped: bool,
}

/// What became of a packet.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    /// No drop was logged; `last_component` is the last place it was seen.
    Delivered { last_component: Option<u32> },
    /// Dropped at `component` for `reason`.
    Dropped {
        component: Option<u32>,
        component_name: Option<String>,
        reason: DropInfo,
        /// Further (duplicate) drop reports of the same packet.
        duplicates: u32,
    },
}

/// One packet through the stack.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketPath {
    pub pkt_group_id: Option<u64>,
    pub pkt_number: Option<u32>,
    pub steps: Vec<PathStep>,
    pub fate: Fate,
    /// `(original, logged)` when the capture truncated the packet.
    pub truncated: Option<(u32, u32)>,
    pub proto: Option<Proto>,
    pub src: Option<Endpoint>,
    pub dst: Option<Endpoint>,
    pub summary: Option<String>,
    /// Where component names came from.
    pub components_from: ComponentSource,
}

impl PacketPath {
    /// `tcpip.sys (Protocol) ← wfplwfs.sys (Filter) ← e1r68x64.sys (Miniport)`-style
    /// path in order of appearance: `NAME [id] → NAME [id]`.
    pub fn path_text(&self) -> String {
        join_path(
            self.steps
                .iter()
                .map(|s| step_label(s.component_name.as_deref(), s.component, s.dropped))
                .collect(),
        )
    }

    /// `udp 192.168.1.20:49152 → 192.168.1.50:623`.
    pub fn flow_text(&self) -> String {
        let proto = self.proto.map_or("?", Proto::as_str);
        match (self.src, self.dst) {
            (Some(s), Some(d)) => format!("{proto} {s} → {d}"),
            _ => proto.to_string(),
        }
    }

    pub fn is_dropped(&self) -> bool {
        matches!(self.fate, Fate::Dropped { .. })
    }
}

/// One step of a path text: `NAME [id]` (`component id` when unnamed),
/// with ` DROP` where the packet was dropped.
pub fn step_label(name: Option<&str>, component: Option<u32>, dropped: bool) -> String {
    let name = match (name, component) {
        (Some(n), Some(id)) => format!("{n} [{id}]"),
        (None, Some(id)) => format!("component {id}"),
        (Some(n), None) => n.to_string(),
        (None, None) => "?".to_string(),
    };
    if dropped {
        format!("{name} DROP")
    } else {
        name
    }
}

/// A path text from its step labels: a step repeated at once (several
/// appearances at one component) is shown once.
pub fn join_path(mut labels: Vec<String>) -> String {
    labels.dedup();
    labels.join(" → ")
}

fn is_appearance(ev: &Event) -> bool {
    matches!(ev.kind, Kind::Packet | Kind::PacketDrop)
        && ev.packet.is_some()
        // NblInfo (180/190) metadata rides along with a payload event of
        // the same appearance; it is not a separate step.
        && !matches!(ev.event_id, Some(180) | Some(190))
}

/// Groups packet appearances into packets, joining component names from the
/// same file's trailer, else from a `pktmon list` among `events`.
pub fn assemble(events: &[Event]) -> Vec<PacketPath> {
    let (trailers, list) = component_tables(events);
    assemble_with(events, &trailers, &list)
}

/// [`assemble`] with explicit component tables.
pub fn assemble_with(
    events: &[Event],
    trailers: &HashMap<FileId, ComponentTable>,
    list: &ComponentTable,
) -> Vec<PacketPath> {
    assemble_some(events, trailers, list)
}

/// [`assemble_with`] over some of a capture's events: a packet is assembled
/// from the appearances among them, so passing every appearance of the
/// packets wanted (and no others) assembles just those.
pub fn assemble_some<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    trailers: &HashMap<FileId, ComponentTable>,
    list: &ComponentTable,
) -> Vec<PacketPath> {
    // Key: (file, group, number) for grouped events; group-less events
    // (200–230) are each their own packet.
    let mut groups: BTreeMap<(FileId, u64, u32, u64), Vec<&Event>> = BTreeMap::new();
    let mut order: Vec<(FileId, u64, u32, u64)> = Vec::new();
    for ev in events.into_iter().filter(|e| is_appearance(e)) {
        let Some(p) = &ev.packet else { continue };
        let key = match (p.pkt_group_id, p.pkt_number) {
            (Some(g), n) => (ev.source.file, g, n.unwrap_or(0), 0),
            (None, _) => (ev.source.file, u64::MAX, 0, ev.source.line),
        };
        let entry = groups.entry(key).or_default();
        if entry.is_empty() {
            order.push(key);
        }
        entry.push(ev);
    }
    let mut out = Vec::with_capacity(order.len());
    for key in order {
        let Some(mut evs) = groups.remove(&key) else {
            continue;
        };
        out.push(path_of(&mut evs, key.0, trailers, list));
    }
    out
}

/// The path of one packet from appearances known to be its own: those of
/// [`assemble_some`]'s groups, or, in a capture whose appearances share no
/// id, those the correlation matched by content.
pub fn path_of(
    evs: &mut [&Event],
    file: FileId,
    trailers: &HashMap<FileId, ComponentTable>,
    list: &ComponentTable,
) -> PacketPath {
    evs.sort_by_key(|e| (e.ts.map(|t| t.nanos), e.source.line));
    let (table, from) = match trailers.get(&file).filter(|t| !t.is_empty()) {
        Some(t) => (Some(t), ComponentSource::Trailer),
        None if !list.is_empty() => (Some(list), ComponentSource::List),
        None => (None, ComponentSource::None),
    };
    build(evs, table, from)
}

fn build(evs: &[&Event], table: Option<&ComponentTable>, from: ComponentSource) -> PacketPath {
    let mut steps = Vec::with_capacity(evs.len());
    let mut fate: Option<Fate> = None;
    let mut truncated = None;
    let (mut proto, mut src, mut dst, mut summary) = (None, None, None, None);
    for ev in evs {
        let Some(p) = &ev.packet else { continue };
        let comp = p.component.and_then(|c| table.and_then(|t| t.get(c)));
        let dropped = ev.kind == Kind::PacketDrop;
        steps.push(PathStep {
            ts: ev.ts,
            source: ev.source,
            event_id: ev.event_id,
            appearance: p.appearance,
            component: p.component,
            component_name: comp.and_then(|c| c.name.clone()),
            component_type: comp.and_then(|c| c.kind.clone()),
            edge: p.edge,
            direction: ev.direction,
            media: p.media.as_deref().map(str::to_string),
            dropped,
        });
        if let (Some(o), Some(l)) = (p.original_size, p.logged_size)
            && o > l
            && truncated.is_none()
        {
            truncated = Some((o, l));
        }
        // Prefer the first appearance that decoded to a flow.
        if ev.local.is_some() && src.is_none() {
            proto = ev.proto;
            src = ev.local;
            dst = ev.remote;
        } else if proto.is_none() {
            proto = ev.proto;
        }
        if summary.is_none() {
            summary = p.summary.clone();
        }
        if dropped {
            match &mut fate {
                Some(Fate::Dropped { duplicates, .. }) => *duplicates += 1,
                _ => {
                    fate = Some(Fate::Dropped {
                        component: p.component,
                        component_name: comp.map(ComponentInfo::label),
                        reason: ev.drop.as_deref().cloned().unwrap_or_default(),
                        duplicates: 0,
                    })
                }
            }
        }
    }
    let first = evs.first().and_then(|e| e.packet.as_ref());
    PacketPath {
        pkt_group_id: first.and_then(|p| p.pkt_group_id),
        pkt_number: first.and_then(|p| p.pkt_number),
        fate: fate.unwrap_or(Fate::Delivered {
            last_component: steps.last().and_then(|s| s.component),
        }),
        steps,
        truncated,
        proto,
        src,
        dst,
        summary,
        components_from: from,
    }
}

/// Whether an endpoint's address is IPv6 (for display choices).
pub fn is_v6(e: &Endpoint) -> bool {
    matches!(e.ip, Some(IpAddr::V6(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Layer, PacketInfo};

    fn appearance(line: u64, group: u64, app: u32, comp: u32, drop: bool) -> Event {
        let mut ev = Event::new(
            SourceRef { file: 0, line },
            Layer::Pktmon,
            if drop { Kind::PacketDrop } else { Kind::Packet },
        );
        ev.ts = Some(Timestamp::utc(i64::try_from(line).unwrap_or(0) * 10));
        ev.packet = Some(Box::new(PacketInfo {
            pkt_group_id: Some(group),
            pkt_number: Some(1),
            appearance: Some(app),
            component: Some(comp),
            original_size: Some(200),
            logged_size: Some(128),
            ..PacketInfo::default()
        }));
        if drop {
            ev.drop = Some(Box::new(DropInfo {
                code: Some(1203),
                ..DropInfo::default()
            }));
        }
        ev
    }

    #[test]
    fn interleaved_groups_and_trailer_join() {
        let mut evs = vec![
            appearance(1, 7, 1, 10, false),
            appearance(2, 8, 1, 10, false),
            appearance(3, 7, 2, 20, false),
            appearance(4, 8, 2, 20, false),
            appearance(5, 7, 0, 30, true),
        ];
        let mut c = Event::new(
            SourceRef { file: 0, line: 9 },
            Layer::Pktmon,
            Kind::PktmonComponent,
        );
        c.fields = [
            ("Component", "30"),
            ("Type", "Protocol"),
            ("Name", "tcpip.sys"),
        ]
        .into_iter()
        .collect();
        evs.push(c);
        let paths = assemble(&evs);
        assert_eq!(paths.len(), 2);
        let p7 = &paths[0];
        assert_eq!(
            p7.steps.iter().map(|s| s.component).collect::<Vec<_>>(),
            [Some(10), Some(20), Some(30)]
        );
        assert!(p7.is_dropped());
        assert_eq!(p7.truncated, Some((200, 128)));
        assert_eq!(p7.components_from, ComponentSource::Trailer);
        assert!(p7.path_text().ends_with("tcpip.sys [30] DROP"));
        match &p7.fate {
            Fate::Dropped { component_name, .. } => {
                assert_eq!(component_name.as_deref(), Some("tcpip.sys (Protocol)"))
            }
            f => panic!("unexpected fate {f:?}"),
        }
        assert!(!paths[1].is_dropped());
    }

    #[test]
    fn assembling_some_packets_gives_their_paths_as_assembling_all() {
        let evs = vec![
            appearance(1, 7, 1, 10, false),
            appearance(2, 8, 1, 10, false),
            appearance(3, 7, 2, 20, false),
            appearance(4, 8, 2, 20, true),
            appearance(5, 7, 0, 30, true),
            appearance(6, 7, 0, 30, true),
        ];
        let all = assemble(&evs);
        let (trailers, list) = component_tables(&evs);
        let some = assemble_some(
            evs.iter()
                .filter(|e| e.packet.as_ref().and_then(|p| p.pkt_group_id) == Some(7)),
            &trailers,
            &list,
        );
        assert_eq!(some.len(), 1);
        assert_eq!(some[0], all[0]);
        assert_eq!(
            some[0].path_text(),
            "component 10 → component 20 → component 30 DROP"
        );
    }

    #[test]
    fn path_text_shows_a_repeated_step_once() {
        let labels = vec![
            step_label(Some("e1r68x64.sys"), Some(7), false),
            step_label(None, Some(8), false),
            step_label(None, Some(8), false),
            step_label(Some("tcpip.sys"), Some(11), true),
            step_label(None, None, false),
        ];
        assert_eq!(
            join_path(labels),
            "e1r68x64.sys [7] → component 8 → tcpip.sys [11] DROP → ?"
        );
    }
}
