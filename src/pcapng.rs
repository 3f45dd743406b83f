//! pcapng export of packet events that carry their captured bytes.
//!
//! One interface per (PktMon component, link type): a component sees
//! Ethernet frames on one edge and 802.11 frames on another, and a pcapng
//! interface has a single link type. Timestamps use 100 ns resolution
//! (`if_tsresol` = 7), the resolution of ETW. Each packet gets a comment
//! with the component path, PktMon identity, PID/TID and, for drops, the
//! reason and location; `epb_flags` carries the direction, `epb_packetid`
//! the PktGroupId and `epb_verdict` marks drops.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use crate::etl::{self, EtlOptions, Frame};
use crate::event::{Direction, Event, Kind};

/// Which packets to export.
#[derive(Debug, Clone, Copy, Default)]
pub struct PcapOptions {
    /// Only dropped packets (PktMon 170/240).
    pub drops_only: bool,
    /// Only packets seen at this PktMon component.
    pub component: Option<u32>,
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PcapSummary {
    /// Enhanced packet blocks written.
    pub packets: u64,
    /// Of those, dropped packets.
    pub drops: u64,
    /// Interface description blocks written.
    pub interfaces: u32,
    /// Packet events without exportable bytes (payload-only types) or
    /// excluded by the options.
    pub skipped: u64,
}

const BLOCK_SHB: u32 = 0x0A0D_0D0A;
const BLOCK_IDB: u32 = 0x0000_0001;
const BLOCK_EPB: u32 = 0x0000_0006;

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

/// Appends one option (code, value, padding).
fn option(buf: &mut Vec<u8>, code: u16, value: &[u8]) {
    buf.extend_from_slice(&code.to_le_bytes());
    buf.extend_from_slice(&(value.len() as u16).to_le_bytes());
    buf.extend_from_slice(value);
    buf.resize(buf.len() + pad4(value.len()) - value.len(), 0);
}

fn end_of_options(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&[0, 0, 0, 0]);
}

fn write_block(out: &mut impl Write, block_type: u32, body: &[u8]) -> io::Result<()> {
    let total = (12 + body.len()) as u32;
    out.write_all(&block_type.to_le_bytes())?;
    out.write_all(&total.to_le_bytes())?;
    out.write_all(body)?;
    out.write_all(&total.to_le_bytes())
}

/// Comment text for a string option: pcapng strings are UTF-8, options are
/// at most 65535 bytes.
fn clip(s: &str) -> &str {
    let mut end = s.len().min(60_000);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Names of PktMon components from the rundown records (event 20).
fn component_names(events: &[Event]) -> HashMap<u32, (String, String)> {
    let mut names = HashMap::new();
    for e in events {
        if e.kind != Kind::PktmonComponent || e.field("Name").is_none() {
            continue;
        }
        let Some(id) = e.field("Component").and_then(|c| c.parse().ok()) else {
            continue;
        };
        names.insert(
            id,
            (
                e.field("Name").unwrap_or_default().to_string(),
                e.field("Description").unwrap_or_default().to_string(),
            ),
        );
    }
    names
}

/// Writes a pcapng section with the packets of `frames` (bytes of
/// `events[frame.event_index]`).
pub fn write_pcapng(
    events: &[Event],
    frames: &[Frame],
    out: &mut impl Write,
    opts: &PcapOptions,
) -> io::Result<PcapSummary> {
    let mut summary = PcapSummary::default();
    let names = component_names(events);
    let packet_events = events
        .iter()
        .filter(|e| matches!(e.kind, Kind::Packet | Kind::PacketDrop))
        .count() as u64;

    // Select frames, then assign interfaces in (component, link type) order.
    let selected: Vec<(&Frame, &Event)> = frames
        .iter()
        .filter_map(|f| events.get(f.event_index).map(|e| (f, e)))
        .filter(|(_, e)| !opts.drops_only || e.kind == Kind::PacketDrop)
        .filter(|(_, e)| {
            opts.component.is_none()
                || e.packet.as_ref().and_then(|p| p.component) == opts.component
        })
        .collect();
    let mut interfaces: BTreeMap<IfKey, u32> = BTreeMap::new();
    for (f, e) in &selected {
        interfaces.insert(if_key(e, f.link_type), 0);
    }
    for (i, v) in interfaces.values_mut().enumerate() {
        *v = i as u32;
    }

    // Section header.
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    option(&mut shb, 4, b"etwnet");
    end_of_options(&mut shb);
    write_block(out, BLOCK_SHB, &shb)?;

    for key in interfaces.keys() {
        let mut idb = Vec::new();
        idb.extend_from_slice(&key.link_type.to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&0u32.to_le_bytes()); // snaplen: unlimited
        let id = key.id;
        // etl2pcapng's interface names.
        let name = match (key.source, key.link_type, &key.vnic) {
            (IfSource::Pktmon, _, _) => format!("pktmon:{id}"),
            (IfSource::Ndis, _, Some(v)) => {
                format!("vNIC:{}:{}:{id}:{}", v.nic_type, v.port_name, key.vlan)
            }
            (IfSource::Ndis, 105, None) => format!("wifi:{id}"),
            (IfSource::Ndis, 101, None) => format!("mbb:{id}"),
            (IfSource::Ndis, _, None) => format!("eth:{id}:{}", key.vlan),
        };
        option(&mut idb, 2, clip(&name).as_bytes());
        match key.source {
            IfSource::Pktmon => {
                if let Some((n, d)) = names.get(&id) {
                    let text = format!("Component {id}: {n}, {d}");
                    option(&mut idb, 3, clip(&text).as_bytes());
                }
            }
            IfSource::Ndis => {
                // etl2pcapng's wording for a filter's view of an adapter.
                let mut desc = String::new();
                if key.filter {
                    desc = format!("LWF over IfIndex {}", key.miniport);
                }
                if key.vlan != 0 {
                    desc.push_str(&format!(" VlanID={} ", key.vlan));
                }
                if !desc.is_empty() {
                    option(&mut idb, 3, clip(&desc).as_bytes());
                }
            }
        }
        option(&mut idb, 9, &[7]); // if_tsresol: 10^-7 s
        end_of_options(&mut idb);
        write_block(out, BLOCK_IDB, &idb)?;
        summary.interfaces += 1;
    }

    for (f, e) in &selected {
        let p = e.packet.as_ref();
        let Some(&if_id) = interfaces.get(&if_key(e, f.link_type)) else {
            continue;
        };
        // 100 ns units since 1970 (negative times clamp to 0).
        let ticks = e.ts.map(|t| t.nanos.max(0) / 100).unwrap_or(0) as u64;
        let captured = f.bytes.len();
        let original = (f.original_len as usize).max(captured);
        let mut epb = Vec::with_capacity(32 + pad4(captured) + 128);
        epb.extend_from_slice(&if_id.to_le_bytes());
        epb.extend_from_slice(&((ticks >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ticks as u32).to_le_bytes());
        epb.extend_from_slice(&(captured as u32).to_le_bytes());
        epb.extend_from_slice(&(original as u32).to_le_bytes());
        epb.extend_from_slice(&f.bytes);
        epb.resize(epb.len() + pad4(captured) - captured, 0);
        option(&mut epb, 1, clip(&packet_comment(e, &names)).as_bytes());
        let dir_flags: u32 = match e.direction {
            Some(Direction::In) => 1,
            Some(Direction::Out) => 2,
            None => 0,
        };
        option(&mut epb, 2, &dir_flags.to_le_bytes());
        if let Some(g) = p.and_then(|p| p.pkt_group_id) {
            option(&mut epb, 5, &g.to_le_bytes());
        }
        if e.kind == Kind::PacketDrop {
            // epb_verdict type 2 (Linux eBPF XDP), value XDP_DROP (1), as
            // Microsoft's etl2pcapng marks PktMon drops.
            let mut v = vec![2u8];
            v.extend_from_slice(&1u64.to_le_bytes());
            option(&mut epb, 7, &v);
            summary.drops += 1;
        }
        end_of_options(&mut epb);
        write_block(out, BLOCK_EPB, &epb)?;
        summary.packets += 1;
    }
    summary.skipped = packet_events.saturating_sub(summary.packets);
    Ok(summary)
}

/// Which capture point a packet belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum IfSource {
    Pktmon,
    Ndis,
}

/// VMSwitch port an NDIS 1003 packet came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct VNic {
    port_id: u32,
    nic_type: String,
    port_name: String,
}

/// One pcapng interface. The field order is the sort order: PktMon
/// components by id; NDIS interfaces grouped by miniport (MiniportIfIndex),
/// the miniport itself first, then the filters above it by LowerIfIndex,
/// as etl2pcapng numbers them; VMSwitch ports and VLANs get their own.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct IfKey {
    source: IfSource,
    miniport: u32,
    /// A filter over the miniport (LowerIfIndex ≠ MiniportIfIndex);
    /// `false` sorts first, so the miniport comes before its filters.
    filter: bool,
    /// Component id (PktMon) or LowerIfIndex (NDIS).
    id: u32,
    link_type: u16,
    vnic: Option<VNic>,
    vlan: u16,
}

fn if_key(e: &Event, link_type: u16) -> IfKey {
    let num = |k: &str| e.field(k).and_then(|v| v.parse::<u32>().ok());
    match (num("LowerIfIndex"), num("MiniportIfIndex")) {
        (Some(lower), Some(miniport)) if e.layer == crate::event::Layer::Packet => {
            let vnic = num("SourcePortId").map(|port_id| VNic {
                port_id,
                nic_type: e.field("SourceNicType").unwrap_or_default().to_string(),
                port_name: e.field("SourcePortName").unwrap_or_default().to_string(),
            });
            let vlan = if vnic.is_some() {
                num("VlanId").unwrap_or(0) as u16
            } else {
                0
            };
            IfKey {
                source: IfSource::Ndis,
                miniport,
                filter: lower != miniport,
                id: lower,
                link_type,
                vnic,
                vlan,
            }
        }
        _ => IfKey {
            source: IfSource::Pktmon,
            miniport: 0,
            filter: false,
            id: e.packet.as_ref().and_then(|p| p.component).unwrap_or(0),
            link_type,
            vnic: None,
            vlan: 0,
        },
    }
}

fn packet_comment(e: &Event, names: &HashMap<u32, (String, String)>) -> String {
    let mut s = String::new();
    if let Some(p) = &e.packet {
        if let Some(c) = p.component {
            s.push_str(&format!("Component {c}"));
            if let Some((n, d)) = names.get(&c) {
                s.push_str(&format!(" ({n}, {d})"));
            }
        }
        if let Some(edge) = p.edge {
            s.push_str(&format!(", Edge {edge}"));
        }
        if let Some(g) = p.pkt_group_id {
            s.push_str(&format!(", PktGroupId {g}"));
        }
        if let Some(n) = p.pkt_number {
            s.push_str(&format!(", PktNumber {n}"));
        }
        if let Some(a) = p.appearance {
            s.push_str(&format!(", Appearance {a}"));
        }
        if let Some(m) = &p.media {
            s.push_str(&format!(", Type {m}"));
        }
    }
    if let Some(d) = e.direction {
        s.push_str(match d {
            Direction::In => ", Rx",
            Direction::Out => ", Tx",
        });
    }
    if let Some(d) = &e.drop {
        s.push_str(", DROP");
        if let Some(code) = d.code {
            s.push_str(&format!(" reason {code}"));
        }
        if let Some(t) = d.text.as_deref().or(d.name.as_deref()) {
            s.push_str(&format!(" ({t})"));
        }
        if let Some(l) = d.location {
            s.push_str(&format!(" location 0x{l:08X}"));
        }
        if let Some(n) = &d.location_name {
            s.push_str(&format!(" ({n})"));
        }
    }
    if let (Some(lower), Some(miniport)) = (e.field("LowerIfIndex"), e.field("MiniportIfIndex")) {
        s.push_str(&format!(
            ", LowerIfIndex {lower}, MiniportIfIndex {miniport}"
        ));
    }
    if let (Some(pid), Some(tid)) = (e.header_pid, e.tid) {
        s.push_str(&format!(", PID={pid} TID={tid}"));
    }
    s.trim_start_matches(", ").to_string()
}

/// `etwnet pcap INPUT.etl -o OUT.pcapng [--drops-only] [--component ID]`.
pub fn run_pcap(
    input_bytes: &[u8],
    out: &mut impl Write,
    drops_only: bool,
    component: Option<u32>,
) -> anyhow::Result<PcapSummary> {
    if !etl::is_etl(input_bytes) {
        anyhow::bail!("input is not an .etl trace (no log-file header buffer)");
    }
    let decoded = etl::decode_etl_with(
        input_bytes,
        0,
        EtlOptions {
            keep_frames: true,
            ..Default::default()
        },
    );
    let opts = PcapOptions {
        drops_only,
        component,
    };
    let summary = write_pcapng(&decoded.events, &decoded.frames, out, &opts)?;
    out.flush()?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Layer, PacketInfo, SourceRef, Timestamp};

    fn packet(kind: Kind, comp: u32, dir: Direction) -> Event {
        let mut e = Event::new(SourceRef::default(), Layer::Pktmon, kind);
        e.ts = Some(Timestamp::utc(1_622_728_195_618_793_000));
        e.direction = Some(dir);
        e.packet = Some(Box::new(PacketInfo {
            component: Some(comp),
            pkt_group_id: Some(42),
            ..PacketInfo::default()
        }));
        e
    }

    #[test]
    fn blocks_are_well_formed_and_filtered() {
        let events = vec![
            packet(Kind::Packet, 5, Direction::In),
            packet(Kind::PacketDrop, 7, Direction::Out),
        ];
        let frames = vec![
            Frame {
                event_index: 0,
                link_type: 1,
                original_len: 60,
                bytes: vec![0xAB; 14],
            },
            Frame {
                event_index: 1,
                link_type: 101,
                original_len: 21,
                bytes: vec![0x45; 21],
            },
        ];
        let mut buf = Vec::new();
        let s = write_pcapng(&events, &frames, &mut buf, &PcapOptions::default()).unwrap();
        assert_eq!((s.packets, s.drops, s.interfaces), (2, 1, 2));
        // Walk the blocks: every length field matches its trailer.
        let mut at = 0;
        let mut types = Vec::new();
        while at < buf.len() {
            let t = u32::from_le_bytes(buf[at..at + 4].try_into().unwrap());
            let len = u32::from_le_bytes(buf[at + 4..at + 8].try_into().unwrap()) as usize;
            assert_eq!(len % 4, 0);
            let trailer = u32::from_le_bytes(buf[at + len - 4..at + len].try_into().unwrap());
            assert_eq!(trailer as usize, len);
            types.push(t);
            at += len;
        }
        assert_eq!(
            types,
            vec![BLOCK_SHB, BLOCK_IDB, BLOCK_IDB, BLOCK_EPB, BLOCK_EPB]
        );

        let mut buf = Vec::new();
        let opts = PcapOptions {
            drops_only: true,
            component: None,
        };
        let s = write_pcapng(&events, &frames, &mut buf, &opts).unwrap();
        assert_eq!((s.packets, s.interfaces, s.skipped), (1, 1, 1));
        let opts = PcapOptions {
            drops_only: false,
            component: Some(5),
        };
        let s = write_pcapng(&events, &frames, &mut Vec::new(), &opts).unwrap();
        assert_eq!((s.packets, s.drops), (1, 0));
    }
}
