//! Microsoft-Windows-NDIS-PacketCapture (ndiscap.sys, the `netsh trace
//! capture=yes` packet source):
//!
//! * 1001 packet fragments become packet events with their frame bytes. A
//!   packet is one event with both PacketStart and PacketEnd keywords;
//!   Windows 8 and older may split it over several events (PacketStart,
//!   zero or more events with neither keyword, PacketEnd), which the
//!   [`Assembler`] joins in record order.
//! * 1002 metadata (a DOT11_EXTSTA_RECV_CONTEXT on Wi-Fi adapters) becomes
//!   an event of its own, and its Wi-Fi fields are also attached to the next
//!   packet of the same LowerIfIndex, as etl2pcapng does.
//! * 1003 VMSwitch fragments become packet events with the source port,
//!   NIC names, destination count and the VLAN / RSS hash from the OOB data.
//! * Rundown (5100/5101) and capture-filter records are recognised and
//!   skipped.
//!
//! The link type comes from the keywords, as in Microsoft's etl2pcapng:
//! 0x200 WirelessWAN → raw IP, 0x10000 Native802.11 → 802.11, otherwise
//! Ethernet; keyword 0x1_0000_0000 (SendPath) means outbound. No real netsh
//! capture was available, so this follows the manifest and etl2pcapng and is
//! tested with the test writer only.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::container::{Record, u16_at, u32_at, u64_at};
use super::packet::{self, LinkKind};
use super::{Decoded, FrameRef, RecordView, text};
use crate::event::{Direction, Event, Kind, Layer, PacketInfo};

/// {2ED6006E-4729-4609-B423-3EE7BCD678EF}
pub const PROVIDER: super::container::Guid = super::container::Guid::new(
    0x2ED6_006E,
    0x4729,
    0x4609,
    [0xB4, 0x23, 0x3E, 0xE7, 0xBC, 0xD6, 0x78, 0xEF],
);
pub const PROVIDER_NAME: &str = "Microsoft-Windows-NDIS-PacketCapture";

pub const KW_WIRELESS_WAN: u64 = 0x200;
pub const KW_NATIVE_80211: u64 = 0x1_0000;
pub const KW_VMSWITCH: u64 = 0x100_0000;
pub const KW_PACKET_START: u64 = 0x4000_0000;
pub const KW_PACKET_END: u64 = 0x8000_0000;
pub const KW_SEND_PATH: u64 = 0x1_0000_0000;

/// Largest packet a multi-event packet may grow to (etl2pcapng's buffer).
const MAX_PACKET: usize = 65_535;

/// Size of DOT11_EXTSTA_RECV_CONTEXT (the same for 32- and 64-bit writers).
const DOT11_RECV_CONTEXT_LEN: usize = 48;

/// dot11_phy_type names, as etl2pcapng prints them.
const PHY_TYPES: [&str; 11] = [
    "Unknown",
    "Fhss",
    "Dsss",
    "IrBaseband",
    "802.11a",
    "802.11b",
    "802.11g",
    "802.11n",
    "802.11ac",
    "802.11ad",
    "802.11ax",
];

/// NDIS_NET_BUFFER_LIST_INFO slots read from 1003's OOB array.
const OOB_8021Q: usize = 4;
const OOB_HASH_VALUE: usize = 8;

fn push(ev: &mut Event, k: &'static str, v: impl std::fmt::Display) {
    ev.fields.push_display(k, v);
}

/// A numeric field, rendered by hand (`to_string` goes through the
/// formatting machinery, a large part of a packet event's cost).
fn push_number(ev: &mut Event, k: &'static str, v: u64) {
    ev.fields.push_with(k, |b| text::push_u64(b, v));
}

fn is_multi_event(keyword: u64) -> bool {
    keyword & (KW_PACKET_START | KW_PACKET_END) != (KW_PACKET_START | KW_PACKET_END)
}

/// Decodes one NDIS-PacketCapture record.
pub fn decode(v: &RecordView<'_>) -> Decoded {
    match v.rec.id {
        // Part of a multi-event packet (or a writer that sets neither
        // keyword): only the records before it can tell.
        1001 if is_multi_event(v.rec.keyword) => Decoded::Deferred,
        1001 => match fragment_header(v.data) {
            Some((miniport, lower, bytes)) => {
                let frame = FrameRef::in_record(12, bytes.len());
                packet_event(v, miniport, lower, bytes, frame, 1, None)
            }
            None => too_short(v),
        },
        1002 => metadata(v).unwrap_or_else(|| too_short(v)),
        1003 => vmswitch(v).unwrap_or_else(|| too_short(v)),
        1011..=1016 | 5100 | 5101 => Decoded::Skipped,
        id => Decoded::Unknown(format!(
            "NDIS-PacketCapture event {id} v{} has no decoder",
            v.rec.version
        )),
    }
}

fn too_short(v: &RecordView<'_>) -> Decoded {
    Decoded::Error(format!(
        "NDIS-PacketCapture {}: payload of {} bytes is too short for its fields",
        v.rec.id,
        v.data.len()
    ))
}

/// MiniportIfIndex, LowerIfIndex and the fragment bytes of a 1001 payload.
fn fragment_header(d: &[u8]) -> Option<(u32, u32, &[u8])> {
    let miniport = u32_at(d, 0)?;
    let lower = u32_at(d, 4)?;
    let size = u32_at(d, 8)? as usize;
    Some((miniport, lower, d.get(12..12usize.checked_add(size)?)?))
}

/// Link type from the keywords.
fn link_of(keyword: u64) -> (u16, LinkKind, &'static str) {
    if keyword & KW_WIRELESS_WAN != 0 {
        (101, LinkKind::RawIp, "IP")
    } else if keyword & KW_NATIVE_80211 != 0 {
        (105, LinkKind::Ieee80211, "WiFi")
    } else {
        (1, LinkKind::Ethernet, "Ethernet")
    }
}

/// VMSwitch details of a 1003 record.
struct VmSwitch {
    port_id: u32,
    port_name: String,
    nic_name: String,
    nic_type: String,
    destinations: u32,
    vlan: u16,
    hash: u32,
}

/// Builds the packet event for `bytes` (the whole packet). `frame` says
/// where the bytes are for pcapng export; its link type and wire length
/// are filled in here.
fn packet_event(
    v: &RecordView<'_>,
    miniport: u32,
    lower: u32,
    bytes: &[u8],
    mut frame: FrameRef,
    fragments: u32,
    vms: Option<VmSwitch>,
) -> Decoded {
    let kw = v.rec.keyword;
    let (link_type, link, media) = link_of(kw);
    // ndiscap logs 802.11 frames decrypted but keeps the Protected bit;
    // clear it (as etl2pcapng does) so the frame parses and exports as
    // plain data.
    let cleared;
    let bytes = if link == LinkKind::Ieee80211 && bytes.get(1).is_some_and(|b| b & 0x40 != 0) {
        cleared = packet::without_protected_bit(bytes);
        frame.owned = Some(cleared.clone());
        &cleared[..]
    } else {
        bytes
    };
    let size = bytes.len();
    let mut ev = v.base_event(Layer::Packet, Kind::Packet);
    ev.provider = Some(PROVIDER_NAME.into());
    let out = kw & KW_SEND_PATH != 0;
    ev.direction = Some(if out { Direction::Out } else { Direction::In });
    let mut info = PacketInfo {
        media: Some(media.into()),
        logged_size: Some(size as u32),
        ..PacketInfo::default()
    };
    // Lean runs shed the MACs and summary of a packet (never a drop here)
    // as soon as it is decoded; its fields stay, `Assembler::annotate`
    // reads them.
    let render = packet::Render {
        macs: !v.lean_packets,
        summary: !v.lean_packets,
    };
    let p = packet::parse_frame(bytes, link, &mut info, render);
    // ndiscap does not record truncation: the wire length is taken from
    // the IP header when it says more than was captured.
    let l3_start = match link {
        LinkKind::Ethernet => 14 + if info.vlan.is_some() { 4 } else { 0 },
        _ => 0,
    };
    let ip_len = match info.ethertype {
        Some(0x0800) if link != LinkKind::Ieee80211 => bytes
            .get(l3_start + 2..l3_start + 4)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))),
        Some(0x86DD) if link != LinkKind::Ieee80211 => bytes
            .get(l3_start + 4..l3_start + 6)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])) + 40),
        _ => None,
    };
    let wire = ip_len.map_or(size, |l| (l + l3_start).max(size));
    info.frame_len = Some(wire as u32);
    info.original_size = Some(wire as u32);
    if let Some(vm) = &vms
        && vm.vlan != 0
        && info.vlan.is_none()
    {
        info.vlan = Some(vm.vlan);
    }
    ev.proto = p.proto;
    ev.local = p.src;
    ev.remote = p.dst;
    ev.bytes = Some(wire as u64);
    ev.fields.reserve(
        4 + if vms.is_some() { 7 } else { 0 },
        if vms.is_some() { 160 } else { 32 },
    );
    push_number(&mut ev, "MiniportIfIndex", u64::from(miniport));
    push_number(&mut ev, "LowerIfIndex", u64::from(lower));
    push_number(&mut ev, "FragmentSize", size as u64);
    if fragments > 1 {
        // Windows 8 and older split packets over several events.
        push_number(&mut ev, "Fragments", u64::from(fragments));
    }
    let dir = if out { "Send" } else { "Receive" };
    // `{dir} packet, MiniportIfIndex {miniport}, LowerIfIndex {lower}`
    let mut msg = String::with_capacity(
        96 + info.summary.as_ref().map_or(0, String::len) + if vms.is_some() { 160 } else { 0 },
    );
    msg.push_str(dir);
    msg.push_str(" packet, MiniportIfIndex ");
    text::push_u64(&mut msg, u64::from(miniport));
    msg.push_str(", LowerIfIndex ");
    text::push_u64(&mut msg, u64::from(lower));
    if let Some(vm) = &vms {
        push(&mut ev, "SourcePortId", vm.port_id);
        push(&mut ev, "SourcePortName", &vm.port_name);
        push(&mut ev, "SourceNicName", &vm.nic_name);
        push(&mut ev, "SourceNicType", &vm.nic_type);
        push(&mut ev, "DestinationCount", vm.destinations);
        push(&mut ev, "VlanId", vm.vlan);
        push(&mut ev, "HashValue", format_args!("{:08x}", vm.hash));
        let _ = write!(
            msg,
            ", VMSwitch SrcPortId {} SrcNicType {} SrcNicName {} SrcPortName {} DstNicCount {} VlanId {}",
            vm.port_id, vm.nic_type, vm.nic_name, vm.port_name, vm.destinations, vm.vlan
        );
    }
    msg.push_str(", FragmentSize ");
    text::push_u64(&mut msg, size as u64);
    if fragments > 1 {
        msg.push_str(" in ");
        text::push_u64(&mut msg, u64::from(fragments));
        msg.push_str(" events");
    }
    if let Some(s) = &info.summary {
        msg.push_str(": ");
        msg.push_str(s);
    }
    ev.message = msg;
    ev.packet = Some(Box::new(info));
    frame.link_type = link_type;
    frame.original_len = wire as u32;
    Decoded::Event(Box::new(ev), Some(frame))
}

/// 1002: MiniportIfIndex, LowerIfIndex, MetadataSize, Metadata.
fn metadata(v: &RecordView<'_>) -> Option<Decoded> {
    let d = v.data;
    let miniport = u32_at(d, 0)?;
    let lower = u32_at(d, 4)?;
    let size = u32_at(d, 8)? as usize;
    let meta = d.get(12..12usize.checked_add(size)?)?;
    let mut ev = v.base_event(Layer::Packet, Kind::Raw);
    ev.provider = Some(PROVIDER_NAME.into());
    push(&mut ev, "MiniportIfIndex", miniport);
    push(&mut ev, "LowerIfIndex", lower);
    push(&mut ev, "MetadataSize", size);
    let mut msg =
        format!("Packet Metadata ({size} bytes), MiniportIfIndex {miniport}, LowerIfIndex {lower}");
    if let Some(w) = wifi_metadata(meta) {
        for (k, val) in &w {
            push(&mut ev, k, val);
        }
        msg.push_str(": ");
        msg.push_str(&wifi_text(&w));
    } else if !meta.is_empty() {
        let hex: String = meta.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
        push(&mut ev, "Metadata", hex);
    }
    ev.message = msg;
    Some(Decoded::Event(Box::new(ev), None))
}

/// DOT11_EXTSTA_RECV_CONTEXT fields etl2pcapng reports.
fn wifi_metadata(m: &[u8]) -> Option<Vec<(&'static str, String)>> {
    if m.len() != DOT11_RECV_CONTEXT_LEN {
        return None;
    }
    let flags = u32_at(m, 4)?;
    let phy = u32_at(m, 8)?;
    let freq = u32_at(m, 12)?;
    let mpdus = u16_at(m, 16)?;
    let rssi = u32_at(m, 20)? as i32;
    let rate = *m.get(24)?;
    let phy_name = PHY_TYPES.get(phy as usize).copied().unwrap_or("Unknown");
    Some(vec![
        ("ReceiveFlags", format!("0x{flags:x}")),
        ("PhyType", phy_name.to_string()),
        ("CenterCh", freq.to_string()),
        ("NumMPDUsReceived", mpdus.to_string()),
        ("RSSI", rssi.to_string()),
        ("DataRate", rate.to_string()),
    ])
}

fn wifi_text(w: &[(&'static str, String)]) -> String {
    w.iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A NUL-terminated UTF-16LE string; the offset after it.
fn utf16z(b: &[u8], at: usize) -> Option<(String, usize)> {
    let mut units = Vec::new();
    let mut p = at;
    loop {
        let u = u16_at(b, p)?;
        p += 2;
        if u == 0 {
            break;
        }
        units.push(u);
    }
    Some((String::from_utf16_lossy(&units), p))
}

/// 1003: MiniportIfIndex, LowerIfIndex, SourcePortId, SourcePortName,
/// SourceNicName, SourceNicType, DestinationCount, Destination[count]
/// (8 bytes each), FragmentSize, Fragment, OOBDataSize, OOBData (an array
/// of pointer-sized NDIS_NET_BUFFER_LIST_INFO values).
fn vmswitch(v: &RecordView<'_>) -> Option<Decoded> {
    let d = v.data;
    let miniport = u32_at(d, 0)?;
    let lower = u32_at(d, 4)?;
    let port_id = u32_at(d, 8)?;
    let (port_name, p) = utf16z(d, 12)?;
    let (nic_name, p) = utf16z(d, p)?;
    let (nic_type, p) = utf16z(d, p)?;
    let destinations = u32_at(d, p)?;
    let p = p
        .checked_add(4)?
        .checked_add((destinations as usize).checked_mul(8)?)?;
    let size = u32_at(d, p)? as usize;
    let start = p + 4;
    let bytes = d.get(start..start.checked_add(size)?)?;
    let p = start + size;
    // The OOB array may be absent on some builds: VLAN and hash are then 0.
    let (vlan, hash) = match u32_at(d, p) {
        Some(oob_len) => {
            let oob = d.get(p + 4..(p + 4).saturating_add(oob_len as usize))?;
            let ptr = v.pointer_size as usize;
            let slot = |i: usize| -> u64 {
                if ptr == 4 {
                    u32_at(oob, i * 4).map(u64::from).unwrap_or(0)
                } else {
                    u64_at(oob, i * 8).unwrap_or(0)
                }
            };
            // NDIS_NET_BUFFER_LIST_8021Q_INFO: UserPriority:3, CFI:1, VlanId:12.
            let tag = slot(OOB_8021Q);
            (((tag >> 4) & 0x0FFF) as u16, slot(OOB_HASH_VALUE) as u32)
        }
        None => (0, 0),
    };
    let frame = FrameRef::in_record(start, size);
    let vms = VmSwitch {
        port_id,
        port_name,
        nic_name,
        nic_type,
        destinations,
        vlan,
        hash,
    };
    Some(packet_event(v, miniport, lower, bytes, frame, 1, Some(vms)))
}

/// A multi-event packet being joined.
struct Pending {
    miniport: u32,
    first_line: u64,
    events: u32,
    bytes: Vec<u8>,
}

/// Joins multi-event NDIS packets and attaches Wi-Fi metadata to the next
/// packet; fed the records in record order.
#[derive(Default)]
pub struct Assembler {
    /// Open packets by (cpu, thread, LowerIfIndex): the fragments of one
    /// packet are logged back to back by one thread.
    open: HashMap<(u32, u32, u32), Pending>,
    /// Wi-Fi metadata (1002) waiting for the next packet, by LowerIfIndex.
    metadata: HashMap<u32, crate::event::Fields>,
    /// Fragments counted as skipped that never became a packet:
    /// (line of the first, message, records).
    abandoned: Vec<(u64, String, u64)>,
}

impl Assembler {
    /// Decodes a deferred 1001 record (see [`decode`]).
    pub fn fragment(&mut self, v: &RecordView<'_>) -> Decoded {
        let Some((miniport, lower, bytes)) = fragment_header(v.data) else {
            return too_short(v);
        };
        let kw = v.rec.keyword;
        let key = (v.rec.cpu, v.rec.tid, lower);
        let start = kw & KW_PACKET_START != 0;
        let end = kw & KW_PACKET_END != 0;
        if start {
            if let Some(old) = self.open.remove(&key) {
                self.abandon(old, "a new packet started before its PacketEnd event");
            }
            self.open.insert(
                key,
                Pending {
                    miniport,
                    first_line: v.source.line,
                    events: 1,
                    bytes: bytes.to_vec(),
                },
            );
            return Decoded::Skipped;
        }
        let Some(mut p) = self.open.remove(&key) else {
            // Neither keyword and nothing open: a single-event packet from
            // a writer that does not set the keywords. PacketEnd alone:
            // the tail of a packet whose start was lost.
            let frame = FrameRef::in_record(12, bytes.len());
            let d = packet_event(v, miniport, lower, bytes, frame, 1, None);
            return match (end, d) {
                (true, Decoded::Event(ev, _)) => Decoded::Partial(
                    ev,
                    "NDIS-PacketCapture 1001: PacketEnd fragment without its PacketStart (earlier fragments lost); decoded alone".to_string(),
                ),
                (_, d) => d,
            };
        };
        if p.bytes.len() + bytes.len() > MAX_PACKET {
            self.abandon(p, "fragments add up to more than 65535 bytes");
            return Decoded::Error(format!(
                "NDIS-PacketCapture 1001: multi-event packet grows past {MAX_PACKET} bytes"
            ));
        }
        p.bytes.extend_from_slice(bytes);
        p.events += 1;
        if !end {
            self.open.insert(key, p);
            return Decoded::Skipped;
        }
        let frame = FrameRef {
            link_type: 0,
            original_len: 0,
            offset: 0,
            len: p.bytes.len(),
            owned: Some(p.bytes.clone()),
        };
        packet_event(v, p.miniport, lower, &p.bytes, frame, p.events, None)
    }

    fn abandon(&mut self, p: Pending, why: &str) {
        // The fragments before this one were counted as skipped.
        self.abandoned.push((
            p.first_line,
            format!(
                "NDIS-PacketCapture 1001: multi-event packet of {} event(s) dropped: {why}",
                p.events
            ),
            u64::from(p.events),
        ));
    }

    /// Remembers Wi-Fi metadata and attaches it to the next packet of the
    /// same interface.
    pub fn annotate(&mut self, r: &Record, ev: &mut Event) {
        if r.guid != PROVIDER {
            return;
        }
        let Some(lower) = ev.field("LowerIfIndex").and_then(|l| l.parse::<u32>().ok()) else {
            return;
        };
        match r.id {
            1002 => {
                let wifi = ev
                    .fields
                    .position("ReceiveFlags")
                    .map(|i| ev.fields.tail(i))
                    .unwrap_or_default();
                if !wifi.is_empty() {
                    self.metadata.insert(lower, wifi);
                }
            }
            1001 | 1003 => {
                if let Some(wifi) = self.metadata.remove(&lower) {
                    let text = wifi
                        .iter()
                        .map(|(k, v)| format!("{k}:{v}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    ev.message.push_str(" [Packet Metadata: ");
                    ev.message.push_str(&text);
                    ev.message.push(']');
                    ev.fields.append(wifi);
                }
            }
            _ => {}
        }
    }

    /// Packets still open at the end of the trace, and packets dropped on
    /// the way: (line, message, records that were counted as skipped).
    pub fn finish(mut self) -> Vec<(u64, String, u64)> {
        let mut open: Vec<Pending> = self.open.drain().map(|(_, p)| p).collect();
        open.sort_by_key(|p| p.first_line);
        for p in open {
            self.abandon(p, "the trace ends before its PacketEnd event");
        }
        self.abandoned.sort_by_key(|a| a.0);
        self.abandoned
    }
}
