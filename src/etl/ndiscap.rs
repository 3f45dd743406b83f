//! Microsoft-Windows-NDIS-PacketCapture (ndiscap.sys, the `netsh trace
//! capture=yes` packet source): 1001 packet fragments become packet events
//! with their frame bytes; metadata (1002), VMSwitch fragments (1003),
//! rundown (5100/5101) and capture-filter records are recognised and
//! skipped.
//!
//! The link type comes from the keywords, as in Microsoft's etl2pcapng:
//! 0x200 WirelessWAN → raw IP, 0x10000 Native802.11 → 802.11, otherwise
//! Ethernet; keyword 0x1_0000_0000 (SendPath) means outbound. No real netsh
//! capture was available, so this follows the manifest and etl2pcapng and is
//! tested with the test writer only.

use super::container::{Guid, u32_at};
use super::packet::{self, LinkKind};
use super::{Decoded, FrameRef, RecordView};
use crate::event::{Direction, Event, Kind, Layer, PacketInfo};

/// {2ED6006E-4729-4609-B423-3EE7BCD678EF}
pub const PROVIDER: Guid = Guid::new(
    0x2ED6_006E,
    0x4729,
    0x4609,
    [0xB4, 0x23, 0x3E, 0xE7, 0xBC, 0xD6, 0x78, 0xEF],
);
pub const PROVIDER_NAME: &str = "Microsoft-Windows-NDIS-PacketCapture";

pub const KW_WIRELESS_WAN: u64 = 0x200;
pub const KW_NATIVE_80211: u64 = 0x1_0000;
pub const KW_PACKET_START: u64 = 0x4000_0000;
pub const KW_PACKET_END: u64 = 0x8000_0000;
pub const KW_SEND_PATH: u64 = 0x1_0000_0000;

fn push(ev: &mut Event, k: &str, v: impl ToString) {
    ev.fields.push((k.to_string().into(), v.to_string()));
}

/// Decodes one NDIS-PacketCapture record.
pub fn decode(v: &RecordView<'_>) -> Decoded {
    match v.rec.id {
        1001 => fragment(v).unwrap_or_else(|| {
            Decoded::Error(format!(
                "NDIS-PacketCapture 1001: payload of {} bytes is too short for its fragment",
                v.data.len()
            ))
        }),
        1002 | 1003 | 1011..=1016 | 5100 | 5101 => Decoded::Skipped,
        id => Decoded::Unknown(format!(
            "NDIS-PacketCapture event {id} v{} has no decoder",
            v.rec.version
        )),
    }
}

fn fragment(v: &RecordView<'_>) -> Option<Decoded> {
    let d = v.data;
    let miniport = u32_at(d, 0)?;
    let lower = u32_at(d, 4)?;
    let size = u32_at(d, 8)? as usize;
    let bytes = d.get(12..12 + size)?;
    let kw = v.rec.keyword;
    let (link_type, link, media) = if kw & KW_WIRELESS_WAN != 0 {
        (101u16, LinkKind::RawIp, "IP")
    } else if kw & KW_NATIVE_80211 != 0 {
        (105, LinkKind::Ieee80211, "WiFi")
    } else {
        (1, LinkKind::Ethernet, "Ethernet")
    };
    let mut ev = v.base_event(Layer::Packet, Kind::Packet);
    ev.provider = Some(PROVIDER_NAME.into());
    ev.direction = Some(if kw & KW_SEND_PATH != 0 {
        Direction::Out
    } else {
        Direction::In
    });
    let mut info = PacketInfo {
        media: Some(media.to_string()),
        logged_size: Some(size as u32),
        ..PacketInfo::default()
    };
    let p = packet::parse_frame(bytes, link, &mut info);
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
    ev.proto = p.proto;
    ev.local = p.src;
    ev.remote = p.dst;
    ev.bytes = Some(wire as u64);
    push(&mut ev, "MiniportIfIndex", miniport);
    push(&mut ev, "LowerIfIndex", lower);
    push(&mut ev, "FragmentSize", size);
    let multi = match (kw & KW_PACKET_START != 0, kw & KW_PACKET_END != 0) {
        (true, false) => Some("start"),
        (false, true) => Some("end"),
        _ => None,
    };
    if let Some(m) = multi {
        // Windows 8 and older split packets over several events.
        push(&mut ev, "Fragment", m);
    }
    let dir = if kw & KW_SEND_PATH != 0 {
        "Send"
    } else {
        "Receive"
    };
    ev.message = format!(
        "{dir} packet, MiniportIfIndex {miniport}, LowerIfIndex {lower}, FragmentSize {size}{}",
        info.summary
            .as_deref()
            .map(|s| format!(": {s}"))
            .unwrap_or_default()
    );
    ev.packet = Some(Box::new(info));
    let frame = FrameRef {
        link_type,
        original_len: wire as u32,
        offset: 12,
        len: size,
    };
    Some(Decoded::Event(Box::new(ev), Some(frame)))
}
