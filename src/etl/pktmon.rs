//! Microsoft-Windows-PktMon records: packets (160), drops (170, 240) and
//! the rundown records (components, properties, counters, filters), as the
//! same [`Event`]s the PktMon text decoder produces.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::container::{Guid, u16_at, u32_at, u64_at};
use super::packet::{self, LinkKind};
use super::{Decoded, FrameRef, RecordView, text};
use crate::event::{Direction, DropInfo, Event, Fields, Kind, Layer, PacketInfo};
use crate::pktmon::reasons;

/// {4D4F80D9-C8BD-4D73-BB5B-19C90402C5AC}
pub const PROVIDER: Guid = Guid::new(
    0x4D4F_80D9,
    0xC8BD,
    0x4D73,
    [0xBB, 0x5B, 0x19, 0xC9, 0x04, 0x02, 0xC5, 0xAC],
);
pub const PROVIDER_NAME: &str = "Microsoft-Windows-PktMon";

/// Fixed part of the 160/170/240 payload before the packet bytes.
const PACKET_FIXED: usize = 34;

/// PKTMON_DIRECTION_TAG as pktmon prints it.
pub fn direction_name(tag: u16) -> Option<&'static str> {
    Some(match tag {
        0 => "Unspecified",
        1 => "In",
        2 => "Out",
        3 => "Rx",
        4 => "Tx",
        5 => "Ingress",
        6 => "Egress",
        _ => return None,
    })
}

fn direction(tag: u16) -> Option<Direction> {
    match tag {
        1 | 3 | 5 => Some(Direction::In),
        2 | 4 | 6 => Some(Direction::Out),
        _ => None,
    }
}

/// PKTMON_PACKET_TYPE as pktmon prints it (`Type Ethernet`).
pub fn packet_type_name(t: u16) -> Option<&'static str> {
    Some(match t {
        0 => "Unknown",
        1 => "Ethernet",
        2 => "WiFi",
        3 => "IP",
        4 => "HTTP",
        5 => "TCP",
        6 => "UDP",
        7 => "ARP",
        8 => "ICMP",
        9 => "ESP",
        10 => "AH",
        11 => "L4Payload",
        _ => return None,
    })
}

/// pcap LINKTYPE for a packet type whose bytes start at layer 2 or 3.
pub fn link_type(t: u16) -> Option<(u16, LinkKind)> {
    match t {
        1 => Some((1, LinkKind::Ethernet)),
        2 => Some((105, LinkKind::Ieee80211)),
        3 => Some((101, LinkKind::RawIp)),
        _ => None,
    }
}

/// Component `Type` as pktmon prints it.
pub fn component_type_name(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "NDIS",
        2 => "Miniport",
        3 => "Filter",
        4 => "Protocol",
        5 => "VmsVmNic",
        6 => "VmsMiniport",
        7 => "VmsExtMiniport",
        8 => "VmsProtocolNic",
        9 => "NetVsc Miniport",
        10 => "HTTP Protocol",
        _ => return None,
    })
}

/// Component property `Type` as pktmon prints it.
pub fn property_name(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "IfIndex",
        2 => "MiniportIfIndex",
        3 => "LowerIfIndex",
        4 => "IfGuid",
        5 => "NdisMedium",
        6 => "PhysAddress",
        7 => "EtherType",
        8 => "OptDataPath",
        9 => "NdisObject",
        10 => "VMSwitchName",
        11 => "VmsExtIfIndex",
        12 => "LowestIfIndex",
        // 13 and up are newer than the 2020 table; their order follows the
        // pktmon.sys 22000 value map (IP Address, IpIfIndex, VSID, VLAN,
        // Compartment ID, HttpRequestId) — values in real files fit it.
        13 => "IP Address",
        14 => "IpIfIndex",
        15 => "VSID",
        16 => "VLAN",
        17 => "Compartment ID",
        18 => "HttpRequestId",
        _ => return None,
    })
}

/// EtherType names pktmon uses in `EtherType = …` properties.
fn ethertype_name(t: u16) -> Option<&'static str> {
    Some(match t {
        0x0800 => "IPv4",
        0x86DD => "IPv6",
        0x0806 => "ARP",
        0x8100 => "VLAN",
        0x88CC => "LLDP",
        0x88D9 => "LLTD",
        _ => return None,
    })
}

/// NDIS_MEDIUM values pktmon names in `NdisMedium = …` properties.
fn ndis_medium_name(v: u32) -> Option<&'static str> {
    Some(match v {
        0 => "Ethernet",
        16 => "WiFi",
        19 => "IP",
        _ => return None,
    })
}

/// The packet bytes of a 160/170/240 payload.
pub fn payload_bytes(data: &[u8]) -> Option<&[u8]> {
    let logged = usize::from(u16_at(data, 32)?);
    data.get(PACKET_FIXED..PACKET_FIXED + logged)
}

/// Reads a NUL-terminated UTF-16LE string at `at`; returns it and the
/// offset after the terminator. A string that is the last field may end at
/// the end of the payload without a terminator (event 73 on 22H2+).
fn utf16z(b: &[u8], at: usize) -> Option<(String, usize)> {
    let mut units = Vec::new();
    let mut p = at;
    if p > b.len() {
        return None;
    }
    loop {
        let Some(u) = u16_at(b, p) else {
            p = b.len();
            break;
        };
        p += 2;
        if u == 0 {
            break;
        }
        units.push(u);
    }
    Some((String::from_utf16_lossy(&units), p))
}

fn push(ev: &mut Event, k: impl Into<Cow<'static, str>>, v: impl std::fmt::Display) {
    ev.fields.push_display(k, v);
}

/// Appends a value-map name, or the number when the map does not name it.
fn push_named(fields: &mut Fields, k: &'static str, name: Option<&'static str>, raw: u16) {
    match name {
        Some(n) => fields.push(k, n),
        None => fields.push_with(k, |b| text::push_u64(b, u64::from(raw))),
    }
}

fn named(name: Option<&'static str>, raw: impl std::fmt::Display) -> String {
    name.map_or_else(|| raw.to_string(), str::to_string)
}

/// Decodes one PktMon record.
pub fn decode(v: &RecordView<'_>) -> Decoded {
    let d = v.data;
    let id = v.rec.id;
    let r = match id {
        160 | 170 | 240 => packet_event(v),
        20 | 270 | 280 => component(v),
        30 | 40 | 50 | 60 | 65 | 66 | 70 | 73 | 75 => property(v),
        80 => drop_counters(v),
        90 => flow_counters(v),
        100 | 110 => filter(v),
        // Parsed-header, NBL-info and flow-less payload variants: known,
        // not decoded yet.
        10 | 120 | 130 | 140 | 150 | 180 | 190 | 200 | 210 | 220 | 230 | 250 | 260 => {
            return Decoded::Skipped;
        }
        _ => {
            return Decoded::Unknown(format!(
                "PktMon event {id} v{} ({} bytes) has no decoder",
                v.rec.version,
                d.len()
            ));
        }
    };
    match r {
        Some(x) => x,
        None => Decoded::Error(format!(
            "PktMon event {id}: payload of {} bytes is too short",
            d.len()
        )),
    }
}

fn base(v: &RecordView<'_>, kind: Kind) -> Event {
    let mut ev = v.base_event(Layer::Pktmon, kind);
    ev.provider = Some(PROVIDER_NAME.into());
    ev
}

/// The fixed part of a 160/170/240 payload.
struct PacketHeader {
    group: u64,
    number: u16,
    appearance: u16,
    dir_tag: u16,
    ptype: u16,
    component: u16,
    edge: u16,
    filter: u16,
    reason: u32,
    location: u32,
    original: u16,
    logged: u16,
}

impl PacketHeader {
    fn read(d: &[u8]) -> Option<PacketHeader> {
        Some(PacketHeader {
            group: u64_at(d, 0)?,
            number: u16_at(d, 8)?,
            appearance: u16_at(d, 10)?,
            dir_tag: u16_at(d, 12)?,
            ptype: u16_at(d, 14)?,
            component: u16_at(d, 16)?,
            edge: u16_at(d, 18)?,
            filter: u16_at(d, 20)?,
            reason: u32_at(d, 22)?,
            location: u32_at(d, 26)?,
            original: u16_at(d, 30)?,
            logged: u16_at(d, 32)?,
        })
    }
}

fn packet_event(v: &RecordView<'_>) -> Option<Decoded> {
    let d = v.data;
    let h = PacketHeader::read(d)?;
    let is_drop = v.rec.id != 160;
    // Boxed from the start: the event is filled in where it will stay
    // rather than moved into a box at the end (one copy less per packet).
    let mut ev = Box::new(base(
        v,
        if is_drop {
            Kind::PacketDrop
        } else {
            Kind::Packet
        },
    ));
    ev.direction = direction(h.dir_tag);
    ev.bytes = Some(u64::from(h.original));
    let type_name = packet_type_name(h.ptype);
    let mut info = PacketInfo {
        pkt_group_id: Some(h.group),
        pkt_number: Some(u32::from(h.number)),
        appearance: Some(u32::from(h.appearance)),
        component: Some(u32::from(h.component)),
        edge: (!is_drop).then_some(u32::from(h.edge)),
        filter: Some(u32::from(h.filter)),
        original_size: Some(u32::from(h.original)),
        logged_size: Some(u32::from(h.logged)),
        frame_len: Some(u32::from(h.original)),
        media: Some(match type_name {
            Some(n) => Cow::Borrowed(n),
            None => Cow::Owned(h.ptype.to_string()),
        }),
        ..PacketInfo::default()
    };
    // A run that writes no events reads neither the fields nor the message
    // of a packet that was not dropped (they would be shed as soon as
    // decoded: `correlate::keep_for_correlation`), nor any MACs.
    let with_text = is_drop || !v.lean_packets;
    if is_drop {
        // pktmon prints the reason's display string when it knows the code.
        let reason_row = reasons::by_code(h.reason, reasons::ReasonFamily::for_build(v.build));
        packet_fields(&mut ev.fields, &h, type_name, true, reason_row);
        ev.drop = Some(Box::new(DropInfo {
            code: Some(h.reason),
            name: reason_row.map(|r| r.name.clone()),
            text: reason_row.map(|r| r.text.clone()),
            location: Some(u64::from(h.location)),
            location_name: reasons::location_name(u64::from(h.location)),
        }));
    } else if with_text {
        packet_fields(&mut ev.fields, &h, type_name, false, None);
    }
    if with_text {
        let prefix = match v.rec.id {
            170 => "Drop: ",
            240 => "Duplicate Drop: ",
            _ => "",
        };
        ev.message = packet_message(prefix, is_drop, &ev.fields);
    }
    let render = packet::Render {
        macs: !v.lean_packets,
        summary: with_text,
    };
    let bytes = payload_bytes(d);
    // `Type WiFi` frames that are still Ethernet frames are parsed, and
    // exported, as Ethernet (see `packet::is_ethernet_frame`).
    let link = match (link_type(h.ptype), bytes) {
        (Some((_, LinkKind::Ieee80211)), Some(b)) if packet::is_ethernet_frame(b) => {
            Some((1, LinkKind::Ethernet))
        }
        (link, _) => link,
    };
    let frame = match (link, bytes) {
        (Some((lt, kind)), Some(b)) => {
            let p = packet::parse_frame(b, kind, &mut info, render);
            ev.proto = p.proto;
            ev.local = p.src;
            ev.remote = p.dst;
            // A decrypted Wi-Fi frame is exported without its Protected
            // bit, so that readers dissect its body (etl2pcapng does the
            // same for NDIS captures).
            let owned = (kind == LinkKind::Ieee80211 && packet::is_decrypted_80211(b))
                .then(|| packet::without_protected_bit(b));
            Some(FrameRef {
                link_type: lt,
                original_len: u32::from(h.original),
                offset: PACKET_FIXED,
                len: b.len(),
                owned,
            })
        }
        _ => None,
    };
    ev.packet = Some(Box::new(info));
    Some(Decoded::Event(ev, frame))
}

/// A packet's or drop's fields, in the order pktmon's text shows them;
/// `reason_row` names a drop's reason when the value map has it.
fn packet_fields(
    fields: &mut Fields,
    h: &PacketHeader,
    type_name: Option<&'static str>,
    is_drop: bool,
    reason_row: Option<&'static reasons::Reason>,
) {
    // Ten or eleven values, most of them a few digits, a drop reason
    // text up to some 60 bytes.
    fields.reserve(
        if is_drop { 11 } else { 10 },
        if is_drop { 128 } else { 64 },
    );
    let dec = |fields: &mut Fields, name: &'static str, x: u64| {
        fields.push_with(name, |b| text::push_u64(b, x));
    };
    dec(fields, "PktGroupId", h.group);
    dec(fields, "PktNumber", u64::from(h.number));
    dec(fields, "Appearance", u64::from(h.appearance));
    push_named(fields, "Direction", direction_name(h.dir_tag), h.dir_tag);
    push_named(fields, "Type", type_name, h.ptype);
    dec(fields, "Component", u64::from(h.component));
    if !is_drop {
        dec(fields, "Edge", u64::from(h.edge));
    }
    dec(fields, "Filter", u64::from(h.filter));
    if is_drop {
        match reason_row {
            Some(r) => fields.push("DropReason", &r.text),
            None => dec(fields, "DropReason", u64::from(h.reason)),
        }
        fields.push_with("DropLocation", |b| {
            b.push_str("0x");
            text::push_hex08_upper(b, h.location);
        });
    }
    dec(fields, "OriginalSize", u64::from(h.original));
    dec(fields, "LoggedSize", u64::from(h.logged));
}

/// The message of a packet or drop event, from its field values in order:
/// `{prefix}PktGroupId 1, PktNumber 1, …, Direction Rx , Type Ethernet ,
/// Component 5, …, LoggedSize 128 ` (pktmon's text puts a space before the
/// comma after a value-mapped name, and one at the end).
fn packet_message(prefix: &str, is_drop: bool, fields: &Fields) -> String {
    // What comes before each field's value: the separator after the
    // previous value, then the field's name.
    const PACKET: [&str; 10] = [
        "PktGroupId ",
        ", PktNumber ",
        ", Appearance ",
        ", Direction ",
        " , Type ",
        " , Component ",
        ", Edge ",
        ", Filter ",
        ", OriginalSize ",
        ", LoggedSize ",
    ];
    const DROP: [&str; 11] = [
        "PktGroupId ",
        ", PktNumber ",
        ", Appearance ",
        ", Direction ",
        " , Type ",
        " , Component ",
        ", Filter ",
        ", DropReason ",
        ", DropLocation ",
        ", OriginalSize ",
        ", LoggedSize ",
    ];
    let labels: &[&str] = if is_drop { &DROP } else { &PACKET };
    // The fields are the message's values (and only those).
    let len = prefix.len() + 1 + labels.iter().map(|l| l.len()).sum::<usize>() + fields.text_len();
    let mut m = String::with_capacity(len);
    m.push_str(prefix);
    for (label, (_, value)) in labels.iter().zip(fields) {
        m.push_str(label);
        m.push_str(value);
    }
    m.push(' ');
    m
}

fn component(v: &RecordView<'_>) -> Option<Decoded> {
    let d = v.data;
    let id = u16_at(d, 0)?;
    let ctype = u16_at(d, 2)?;
    let (name, next) = utf16z(d, 4)?;
    let (desc, _) = utf16z(d, next)?;
    let mut ev = base(v, Kind::PktmonComponent);
    let type_name = named(component_type_name(ctype), ctype);
    push(&mut ev, "Component", id);
    push(&mut ev, "Type", &type_name);
    push(&mut ev, "Name", &name);
    push(&mut ev, "Description", &desc);
    let what = match v.rec.id {
        270 => "Component added: Id ",
        280 => "Component removed: Id ",
        _ => "Component ",
    };
    ev.message = format!("{what}{id}, Type {type_name} , Name {name}, {desc} ");
    ev.packet = Some(Box::new(PacketInfo {
        component: Some(u32::from(id)),
        ..PacketInfo::default()
    }));
    Some(Decoded::Event(Box::new(ev), None))
}

fn property(v: &RecordView<'_>) -> Option<Decoded> {
    let d = v.data;
    let id = u16_at(d, 0)?;
    let ptype = u16_at(d, 2)?;
    let pname: Cow<'static, str> = match v.rec.id {
        65 | 66 => "IP Address".into(),
        _ => property_name(ptype).map_or_else(|| ptype.to_string().into(), Cow::Borrowed),
    };
    // Values rendered through a value map are followed by a space in
    // pktmon's text (`NdisMedium  = WiFi  `), plain numbers are not.
    let (value, mapped) = match v.rec.id {
        30 | 50 | 60 => {
            let x = if v.rec.id == 60 {
                u32::from(u16_at(d, 4)?)
            } else {
                u32_at(d, 4)?
            };
            match (ptype, ndis_medium_name(x)) {
                (5, Some(n)) => (n.to_string(), true),
                _ => (x.to_string(), false),
            }
        }
        40 => (format!("{{{}}}", Guid::read(d, 4)?), false),
        65 => {
            let b = d.get(4..8)?;
            (Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string(), false)
        }
        66 => {
            let b = d.get(4..20)?;
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            (Ipv6Addr::from(a).to_string(), false)
        }
        70 => {
            let size = u32_at(d, 4)? as usize;
            let b = d.get(8..8 + size)?;
            let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
            (format!("0x{hex}"), false)
        }
        73 => (utf16z(d, 4)?.0, false),
        75 => {
            let x = u16_at(d, 4)?;
            match ethertype_name(x) {
                Some(n) => (n.to_string(), true),
                None => (x.to_string(), false),
            }
        }
        _ => return None,
    };
    let mut ev = base(v, Kind::PktmonComponent);
    // Same fields as the text decoder: `Component`, the property by its
    // name, and the normalized `MAC` / `ifIndex` the component table uses.
    push(&mut ev, "Component", id);
    push(&mut ev, pname.clone(), &value);
    match (v.rec.id, ptype) {
        (70, 6) => {
            if let Some(mac) = u32_at(d, 4)
                .and_then(|n| d.get(8..8 + n as usize))
                .filter(|b| b.len() == 6)
            {
                push(&mut ev, "MAC", packet::format_mac(mac));
            }
        }
        (30 | 50, 1) => push(&mut ev, "ifIndex", &value),
        _ => {}
    }
    let pad = if mapped { " " } else { "" };
    ev.message = format!("Property: Component {id}, {pname}  = {value}{pad} ");
    ev.packet = Some(Box::new(PacketInfo {
        component: Some(u32::from(id)),
        ..PacketInfo::default()
    }));
    Some(Decoded::Event(Box::new(ev), None))
}

/// The in/out counters of events 80 and 90: (direction tag, packets,
/// bytes) twice.
type Counts = (String, u64, u64, String, u64, u64);

/// Reads the counters at `at` and adds them as fields named like the text
/// decoder names the same values (`Rx Packets`, `Tx Bytes`; for drop
/// counters `Rx Drops`, `Rx Drop Bytes`): the direction tag pktmon prints
/// after `Direction In =`, then the quantity.
fn counters_common(ev: &mut Event, d: &[u8], at: usize, drop: bool) -> Option<Counts> {
    let din = u16_at(d, at)?;
    let pin = u64_at(d, at + 2)?;
    let bin = u64_at(d, at + 10)?;
    let dout = u16_at(d, at + 18)?;
    let pout = u64_at(d, at + 20)?;
    let bout = u64_at(d, at + 28)?;
    let din = named(direction_name(din), din);
    let dout = named(direction_name(dout), dout);
    let (packets, bytes) = if drop {
        ("Drops", "Drop Bytes")
    } else {
        ("Packets", "Bytes")
    };
    ev.fields.push_int(format!("{din} {packets}"), pin);
    ev.fields.push_int(format!("{din} {bytes}"), bin);
    ev.fields.push_int(format!("{dout} {packets}"), pout);
    ev.fields.push_int(format!("{dout} {bytes}"), bout);
    Some((din, pin, bin, dout, pout, bout))
}

fn drop_counters(v: &RecordView<'_>) -> Option<Decoded> {
    let d = v.data;
    let id = u16_at(d, 0)?;
    let mut ev = base(v, Kind::PktmonCounters);
    push(&mut ev, "Counter", "Drop");
    push(&mut ev, "Component", id);
    let (din, pin, bin, dout, pout, bout) = counters_common(&mut ev, d, 2, true)?;
    ev.message = format!(
        "Drop Counters: Component {id}, Direction In = {din} , Packets In {pin}, Bytes In {bin}, Direction Out = {dout} , Packets Out {pout}, Bytes Out {bout} "
    );
    ev.packet = Some(Box::new(PacketInfo {
        component: Some(u32::from(id)),
        ..PacketInfo::default()
    }));
    Some(Decoded::Event(Box::new(ev), None))
}

fn flow_counters(v: &RecordView<'_>) -> Option<Decoded> {
    let d = v.data;
    let id = u16_at(d, 0)?;
    let (edge, next) = utf16z(d, 2)?;
    let edge_id = u16_at(d, next)?;
    let mut ev = base(v, Kind::PktmonCounters);
    push(&mut ev, "Counter", "Flow");
    push(&mut ev, "Component", id);
    push(&mut ev, "Edge", &edge);
    push(&mut ev, "Edge Id", edge_id);
    let (din, pin, bin, dout, pout, bout) = counters_common(&mut ev, d, next + 2, false)?;
    ev.message = format!(
        "Flow Counters: Component {id}, Edge {edge}, Edge Id {edge_id}, Direction In = {din} , Packets In {pin}, Bytes In {bin}, Direction Out = {dout} , Packets Out {pout}, Bytes Out {bout} "
    );
    ev.packet = Some(Box::new(PacketInfo {
        component: Some(u32::from(id)),
        edge: Some(u32::from(edge_id)),
        ..PacketInfo::default()
    }));
    Some(Decoded::Event(Box::new(ev), None))
}

fn filter(v: &RecordView<'_>) -> Option<Decoded> {
    let d = v.data;
    let id = u16_at(d, 0)?;
    let (name, mut p) = utf16z(d, 2)?;
    let mac1 = d.get(p..p + 6)?;
    let mac2 = d.get(p + 6..p + 12)?;
    p += 12;
    let ethertype = u16_at(d, p)?;
    let vlan = u16_at(d, p + 2)?;
    p += 4;
    let (ip1, ip2) = if v.rec.id == 100 {
        let a = d.get(p..p + 4)?;
        let b = d.get(p + 4..p + 8)?;
        p += 8;
        (
            Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string(),
            Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string(),
        )
    } else {
        let mut a = [0u8; 16];
        a.copy_from_slice(d.get(p..p + 16)?);
        let mut b = [0u8; 16];
        b.copy_from_slice(d.get(p + 16..p + 32)?);
        p += 32;
        (Ipv6Addr::from(a).to_string(), Ipv6Addr::from(b).to_string())
    };
    let proto = *d.get(p)?;
    let port1 = u16_at(d, p + 1)?;
    let port2 = u16_at(d, p + 3)?;
    let flags = *d.get(p + 5)?;
    let mut ev = base(v, Kind::PktmonFilter);
    let (m1, m2) = (packet::format_mac(mac1), packet::format_mac(mac2));
    push(&mut ev, "Filter", id);
    push(&mut ev, "Name", &name);
    push(&mut ev, "MAC-1", &m1);
    push(&mut ev, "MAC-2", &m2);
    push(&mut ev, "EtherType", ethertype);
    push(&mut ev, "VlanId", vlan);
    push(&mut ev, "IP-1", &ip1);
    push(&mut ev, "IP-2", &ip2);
    push(&mut ev, "Protocol", proto);
    push(&mut ev, "Port-1", port1);
    push(&mut ev, "Port-2", port2);
    push(&mut ev, "TCPFlags", flags);
    ev.message = format!(
        "Packet Filter {id}, Name {name}, MAC-1 {m1}, MAC-2 {m2}, EtherType {ethertype}, VlanId {vlan}, IP-1 {ip1}, IP-2 {ip2}, Protocol {proto}, Port-1 {port1}, Port-2 {port2}, TCPFlags {flags}"
    );
    ev.packet = Some(Box::new(PacketInfo {
        filter: Some(u32::from(id)),
        ..PacketInfo::default()
    }));
    Some(Decoded::Event(Box::new(ev), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&'static str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), (*v).to_string()))
            .collect()
    }

    /// The message put together from the fields is pktmon's text layout
    /// (the `format!` templates it replaced), for packets and drops, with
    /// value-mapped and unmapped names.
    #[test]
    fn packet_message_matches_the_text_layout() {
        let (group, number, appearance, component, edge, filter) = (1234567890u64, 7, 2, 15, 1, 0);
        let (dir, ty, original, logged) = ("Rx", "Ethernet", 1514, 128);
        let f = fields(&[
            ("PktGroupId", "1234567890"),
            ("PktNumber", "7"),
            ("Appearance", "2"),
            ("Direction", dir),
            ("Type", ty),
            ("Component", "15"),
            ("Edge", "1"),
            ("Filter", "0"),
            ("OriginalSize", "1514"),
            ("LoggedSize", "128"),
        ]);
        assert_eq!(
            packet_message("", false, &f),
            format!(
                "PktGroupId {group}, PktNumber {number}, Appearance {appearance}, Direction {dir} , Type {ty} , Component {component}, Edge {edge}, Filter {filter}, OriginalSize {original}, LoggedSize {logged} "
            )
        );
        let (dir, ty, reason, location) = ("9", "42", "INET: checksum is invalid", 0xE000_460Au32);
        let f = fields(&[
            ("PktGroupId", "1234567890"),
            ("PktNumber", "7"),
            ("Appearance", "2"),
            ("Direction", dir),
            ("Type", ty),
            ("Component", "15"),
            ("Filter", "0"),
            ("DropReason", reason),
            ("DropLocation", "0xE000460A"),
            ("OriginalSize", "1514"),
            ("LoggedSize", "128"),
        ]);
        let got = packet_message("Duplicate Drop: ", true, &f);
        assert_eq!(
            got,
            format!(
                "Duplicate Drop: PktGroupId {group}, PktNumber {number}, Appearance {appearance}, Direction {dir} , Type {ty} , Component {component}, Filter {filter}, DropReason {reason}, DropLocation 0x{location:08X}, OriginalSize {original}, LoggedSize {logged} "
            )
        );
        assert_eq!(got.capacity(), got.len());
    }
}
