//! Typed slots from named fields: every ETW decoder (netsh text, NetMon
//! text, XML, CSV, ETL) sets `provider`, `event_id`, `version` and `fields`,
//! then calls [`enrich`].

use super::{registry, values};
use crate::event::{Direction, DropInfo, Event, Kind, Layer, Proto};

// Field names the typed slots are read from (checked against the schemas
// by tests/schema_names.rs).
const TCB: &str = "Tcb";
const ENDPOINT: &[&str] = &["Endpoint", "ListenEndpoint", "Listener", "PortAcquirer"];
const ENDPOINT2: &[&str] = &["AcceptEndpoint", "OriginalAcquirer"];
const PROCESS: &str = "Process";
const PID: &[&str] = &["ProcessId", "Pid", "PID", "UserModePid"];
const LOCAL: &[&str] = &[
    "LocalAddress",
    "LocalSockAddr",
    "SocketAddress",
    "SourceAddress",
    "saddr",
];
const REMOTE: &[&str] = &["RemoteAddress", "RemoteSockAddr", "DestAddress", "daddr"];
const AFD_BYTES: &[&str] = &["BufferLength", "BytesIndicated", "PacketSize"];
const BYTES: &[&str] = &[
    "NumBytes",
    "BytesSent",
    "size",
    "FragmentSize",
    "DataLength",
];
const STATUS: &[&str] = &["Status", "RequestStatus", "Error"];
const REASON: &[&str] = &["Reason", "DropReason"];
const DIRECTION: &[&str] = &["PathDirection", "Direction"];
/// Value maps the code reads by name.
pub const MAPS_USED: &[(&str, &str)] =
    &[("Microsoft-Windows-TCPIP", "TCP_CONNECTION_STATE_ValueMap")];

/// Every field name [`enrich`] reads.
pub fn field_names_used() -> Vec<&'static str> {
    let mut v = vec![
        TCB,
        PROCESS,
        "OldState",
        "NewState",
        "TcpState",
        "State",
        "Address",
        "sport",
        "dport",
        "IPTransportProtocol",
        "Protocol",
    ];
    for l in [
        ENDPOINT, ENDPOINT2, PID, LOCAL, REMOTE, AFD_BYTES, BYTES, STATUS, REASON, DIRECTION,
    ] {
        v.extend_from_slice(l);
    }
    v
}

/// The typed kind of (provider, event id) — `Kind::Raw` when none.
pub fn kind_for(provider: &str, id: u32, symbol: &str) -> Kind {
    match provider {
        "Microsoft-Windows-TCPIP" => tcpip_kind(id, symbol),
        "Microsoft-Windows-Winsock-AFD" => afd_kind(id),
        "Microsoft-Windows-WFP" => match id {
            1001 | 1003 | 1011 | 1029 => Kind::WfpDrop,
            _ => Kind::WfpOther,
        },
        "Microsoft-Windows-Kernel-Network" => kernel_network_kind(id),
        "Microsoft-Windows-NDIS-PacketCapture" if id == 1001 || id == 1003 => Kind::Packet,
        _ => Kind::Raw,
    }
}

/// Fills an event's typed slots (kind, tcb, endpoint, pid, local/remote,
/// bytes, states, status, drop) from its provider, event id/version and
/// named `fields`. Fields keep their rendered text; slots already set by
/// the decoder are not overwritten.
pub fn enrich(ev: &mut Event) {
    let Some(provider) = ev.provider.as_deref() else {
        return;
    };
    let Some(pi) = registry().provider_index(provider) else {
        return;
    };
    enrich_known(ev, pi);
}

/// [`enrich`] for an event whose provider index `pi` the caller already knows.
pub(crate) fn enrich_known(ev: &mut Event, pi: usize) {
    let reg = registry();
    let schema = ev.event_id.and_then(|id| reg.event_in(pi, id, ev.version));
    enrich_with_schema(ev, pi, schema);
}

/// The typed slots [`fill_slots`] reads, each from the first present of
/// its field names ([`Slot::names`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Tcb,
    Endpoint,
    Endpoint2,
    Process,
    Pid,
    Local,
    Remote,
    Address,
    Sport,
    Dport,
    Proto,
    AfdBytes,
    Bytes,
    OldState,
    NewState,
    TcpState,
    Status,
    Reason,
    Direction,
}

const SLOT_COUNT: usize = 19;

const SLOTS: [Slot; SLOT_COUNT] = [
    Slot::Tcb,
    Slot::Endpoint,
    Slot::Endpoint2,
    Slot::Process,
    Slot::Pid,
    Slot::Local,
    Slot::Remote,
    Slot::Address,
    Slot::Sport,
    Slot::Dport,
    Slot::Proto,
    Slot::AfdBytes,
    Slot::Bytes,
    Slot::OldState,
    Slot::NewState,
    Slot::TcpState,
    Slot::Status,
    Slot::Reason,
    Slot::Direction,
];

impl Slot {
    /// Field names in order of preference.
    fn names(self) -> &'static [&'static str] {
        match self {
            Slot::Tcb => &[TCB],
            Slot::Endpoint => ENDPOINT,
            Slot::Endpoint2 => ENDPOINT2,
            Slot::Process => &[PROCESS],
            Slot::Pid => PID,
            Slot::Local => LOCAL,
            Slot::Remote => REMOTE,
            Slot::Address => &["Address"],
            Slot::Sport => &["sport"],
            Slot::Dport => &["dport"],
            Slot::Proto => &["IPTransportProtocol", "Protocol"],
            Slot::AfdBytes => AFD_BYTES,
            Slot::Bytes => BYTES,
            Slot::OldState => &["OldState"],
            Slot::NewState => &["NewState"],
            Slot::TcpState => &["TcpState", "State"],
            Slot::Status => STATUS,
            Slot::Reason => REASON,
            Slot::Direction => DIRECTION,
        }
    }
}

/// The providers whose events [`fill_slots`] treats specially.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProviderClass {
    Tcpip,
    Afd,
    Other,
}

impl ProviderClass {
    fn of(name: &str) -> ProviderClass {
        match name {
            "Microsoft-Windows-TCPIP" => ProviderClass::Tcpip,
            "Microsoft-Windows-Winsock-AFD" => ProviderClass::Afd,
            _ => ProviderClass::Other,
        }
    }
}

/// What [`enrich_with_schema`] works out from the schema alone, done once
/// per template at load: the kind, and per slot the position (in template
/// order) of the field it is read from in an event whose fields are the
/// template's, as [`super::apply_rendered`] builds them.
#[derive(Debug, Clone)]
pub(crate) struct SlotPlan {
    kind: Kind,
    class: ProviderClass,
    /// Whether the schema ties `TcpState`/`State` to the TCP state map.
    state_map: bool,
    at: [Option<u8>; SLOT_COUNT],
}

impl SlotPlan {
    /// The plan for events of `schema` (of provider `pname`) whose fields
    /// are named, in order, `names`.
    pub(crate) fn new<'a>(
        pname: &str,
        schema: &super::EventSchema,
        names: impl Iterator<Item = std::borrow::Cow<'a, str>>,
    ) -> SlotPlan {
        let names: Vec<std::borrow::Cow<'a, str>> = names.collect();
        let mut at = [None; SLOT_COUNT];
        for (slot, place) in SLOTS.iter().zip(at.iter_mut()) {
            *place = slot.names().iter().find_map(|want| {
                names
                    .iter()
                    .position(|n| n == want)
                    .and_then(|i| u8::try_from(i).ok())
            });
        }
        SlotPlan {
            kind: kind_for(pname, schema.id, &schema.symbol),
            class: ProviderClass::of(pname),
            state_map: has_state_map(Some(schema)),
            at,
        }
    }
}

fn has_state_map(schema: Option<&super::EventSchema>) -> bool {
    schema.is_some_and(|s| {
        s.fields.iter().any(|f| {
            (f.name == "TcpState" || f.name == "State")
                && f.map.as_deref() == Some("TCP_CONNECTION_STATE_ValueMap")
        })
    })
}

/// [`enrich_known`] for an event whose schema the caller already looked up
/// (`reg.event_in(pi, event_id, version)`, `None` without an event id).
pub(crate) fn enrich_with_schema(
    ev: &mut Event,
    pi: usize,
    schema: Option<&'static super::EventSchema>,
) {
    let reg = registry();
    let Some(p) = reg.providers.get(pi) else {
        return;
    };
    let pname: &str = &p.name;
    if ev.layer == Layer::Other {
        ev.layer = p.layer;
    }
    if ev.symbol.is_none() {
        ev.symbol = schema.map(|s| s.symbol.as_str().into());
    }
    let Some(id) = ev.event_id else {
        return;
    };
    let kind = kind_for(pname, id, ev.symbol.as_deref().unwrap_or(""));
    if ev.kind == Kind::Raw {
        ev.kind = kind;
    }
    // The fields are moved out while the typed slots are filled from them
    // (no copy), and put back unchanged.
    let fields = std::mem::take(&mut ev.fields);
    // Most names asked for are not among the event's fields: a digest of
    // the names present rejects those without comparing strings.
    let present = fields.iter().fold(0u64, |bits, (k, _)| bits | name_bit(k));
    let get = |name: &str| -> Option<&str> {
        if present & name_bit(name) == 0 {
            return None;
        }
        fields.find_exact(name)
    };
    let slot = |s: Slot| s.names().iter().find_map(|n| get(n));
    let state_map = || has_state_map(schema);
    fill_slots(ev, &slot, pi, ProviderClass::of(pname), &state_map, schema);
    ev.fields = fields;
}

/// [`enrich_with_schema`] for an event [`super::apply_rendered`] built
/// from `schema`'s template: `ev.symbol` is the schema's, `ev.fields` are
/// the template's fields in template order, and `plan` is the schema's
/// [`SlotPlan`]. Gives what [`enrich_with_schema`] gives, reading each
/// slot's field by position instead of by name.
pub(crate) fn enrich_planned(
    ev: &mut Event,
    pi: usize,
    schema: &'static super::EventSchema,
    plan: &SlotPlan,
) {
    let reg = registry();
    let Some(p) = reg.providers.get(pi) else {
        return;
    };
    if ev.layer == Layer::Other {
        ev.layer = p.layer;
    }
    if ev.symbol.is_none() {
        ev.symbol = Some(schema.symbol.as_str().into());
    }
    if ev.event_id.is_none() {
        return;
    }
    if ev.kind == Kind::Raw {
        ev.kind = plan.kind;
    }
    let fields = std::mem::take(&mut ev.fields);
    let slot = |s: Slot| -> Option<&str> {
        let at = plan.at.get(s as usize).copied().flatten()?;
        fields.value(usize::from(at))
    };
    let state_map = || plan.state_map;
    fill_slots(ev, &slot, pi, plan.class, &state_map, Some(schema));
    ev.fields = fields;
}

fn fill_slots<'f>(
    ev: &mut Event,
    slot: &dyn Fn(Slot) -> Option<&'f str>,
    pi: usize,
    class: ProviderClass,
    state_map: &dyn Fn() -> bool,
    schema: Option<&super::EventSchema>,
) {
    let reg = registry();
    let is_afd = class == ProviderClass::Afd;
    let is_tcpip = class == ProviderClass::Tcpip;

    // Identity pointers.
    if ev.tcb.is_none() {
        ev.tcb = slot(Slot::Tcb).and_then(values::parse_ptr);
    }
    if ev.endpoint.is_none() {
        ev.endpoint = slot(Slot::Endpoint).and_then(values::parse_ptr);
    }
    if ev.endpoint2.is_none() {
        ev.endpoint2 = slot(Slot::Endpoint2).and_then(values::parse_ptr);
    }
    if is_afd && ev.process_object.is_none() {
        ev.process_object = slot(Slot::Process).and_then(values::parse_ptr);
    }

    // Payload PID (AFD renders its ProcessId as a pointer-sized hex value).
    if ev.pid.is_none() {
        ev.pid = slot(Slot::Pid)
            .and_then(values::parse_num)
            .and_then(|v| u32::try_from(v).ok());
    }

    // Addresses.
    let mut local = slot(Slot::Local).and_then(values::parse_address);
    let mut remote = slot(Slot::Remote).and_then(values::parse_address);
    if let Some(a) = slot(Slot::Address).and_then(values::parse_address) {
        // AFD `Address`: the local one for bind, the peer otherwise.
        if matches!(ev.kind, Kind::AfdBind) {
            local = local.or(Some(a));
        } else {
            remote = remote.or(Some(a));
        }
    }
    // Kernel-Network renders ports separately.
    if let (Some(l), Some(p)) = (
        local.as_mut(),
        slot(Slot::Sport).and_then(values::parse_num),
    ) {
        l.port = l.port.or(u16::try_from(p).ok());
    }
    if let (Some(r), Some(p)) = (
        remote.as_mut(),
        slot(Slot::Dport).and_then(values::parse_num),
    ) {
        r.port = r.port.or(u16::try_from(p).ok());
    }
    if ev.local.is_none() {
        ev.local = local;
    }
    if ev.remote.is_none() {
        ev.remote = remote;
    }

    // Transport protocol.
    if ev.proto.is_none() {
        ev.proto = proto_of(ev.kind, slot(Slot::Proto));
    }

    // Byte counts.
    if ev.bytes.is_none() {
        let which = if is_afd { Slot::AfdBytes } else { Slot::Bytes };
        // A negative count (a garbled or wrapped value) is no byte count;
        // taken as two's complement it would add ~2^64 bytes.
        ev.bytes = slot(which)
            .filter(|v| !v.trim_start().starts_with('-'))
            .and_then(values::parse_num);
    }

    // TCP states.
    let state = |v: &str| -> Option<String> {
        let name = match values::value_name(v) {
            Some(n) => n,
            None => {
                let n = values::parse_num(v)?;
                reg.map_string(pi, "TCP_CONNECTION_STATE_ValueMap", n)?
            }
        };
        Some(name.strip_suffix("State").unwrap_or(name).to_string())
    };
    if matches!(ev.kind, Kind::TcpStateChange) {
        if ev.state_from.is_none() {
            ev.state_from = slot(Slot::OldState).and_then(state);
        }
        if ev.state_to.is_none() {
            ev.state_to = slot(Slot::NewState).and_then(state);
        }
    } else if ev.state_to.is_none() && is_tcpip {
        ev.state_to = slot(Slot::TcpState).filter(|_| state_map()).and_then(state);
    }

    // Status.
    if ev.status.is_none()
        && let Some(v) = slot(Slot::Status)
    {
        let (code, name) = values::parse_status(v);
        let code = code.or_else(|| name.and_then(|n| reg.ntstatus_code(n)));
        ev.status_code = code;
        ev.status = match (name, code) {
            (Some(n), _) => Some(n.to_string()),
            (None, Some(0)) => Some("Success".to_string()),
            (None, Some(c)) => Some(
                reg.ntstatus_name(c)
                    .map_or_else(|| format!("0x{c:08X}"), str::to_string),
            ),
            (None, None) => None,
        };
    }

    // Drops.
    if ev.drop.is_none()
        && matches!(
            ev.kind,
            Kind::NetworkDrop | Kind::TransportDrop | Kind::AfdDatagramDrop
        )
        && let Some(v) = slot(Slot::Reason)
    {
        let code = values::parse_num(v).and_then(|c| u32::try_from(c).ok());
        let text = values::value_name(v).map(str::to_string).or_else(|| {
            let f = schema?.fields.iter().find(|f| f.name == "Reason")?;
            reg.map_string(pi, f.map.as_deref()?, u64::from(code?))
                .map(str::to_string)
        });
        ev.drop = Some(Box::new(DropInfo {
            code,
            text,
            ..DropInfo::default()
        }));
    }

    // Direction.
    if ev.direction.is_none()
        && let Some(v) = slot(Slot::Direction)
    {
        let name = values::value_name(v)
            .unwrap_or_default()
            .to_ascii_lowercase();
        ev.direction = match (values::parse_num(v), name.as_str()) {
            (_, "send" | "outbound" | "tx") => Some(Direction::Out),
            (_, "receive" | "inbound" | "rx") => Some(Direction::In),
            (Some(0), _) if is_tcpip => Some(Direction::Out),
            (Some(1), _) if is_tcpip => Some(Direction::In),
            _ => None,
        };
    }
}

/// One bit of 64 for a field name (from its length and first and last
/// bytes): equal names have equal bits.
fn name_bit(name: &str) -> u64 {
    let b = name.as_bytes();
    let first = u32::from(b.first().copied().unwrap_or(0));
    let last = u32::from(b.last().copied().unwrap_or(0));
    let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
    1u64 << (len
        .wrapping_mul(7)
        .wrapping_add(first.wrapping_mul(3))
        .wrapping_add(last)
        % 64)
}

fn proto_of(kind: Kind, rendered: Option<&str>) -> Option<Proto> {
    if let Some(v) = rendered {
        let n = values::parse_num(v).or_else(|| {
            match values::value_name(v)?.to_ascii_uppercase().as_str() {
                "TCP" => Some(6),
                "UDP" => Some(17),
                "ICMP" => Some(1),
                "ICMPV6" => Some(58),
                _ => None,
            }
        });
        if let Some(n) = n.and_then(|n| u8::try_from(n).ok()).filter(|&n| n != 0) {
            return Some(Proto::from_ip_number(n));
        }
    }
    let name = kind.as_str();
    if name.starts_with("tcp-") || name.starts_with("kernel-tcp") {
        Some(Proto::Tcp)
    } else if name.starts_with("udp-") || name.starts_with("kernel-udp") {
        Some(Proto::Udp)
    } else {
        None
    }
}

fn tcpip_kind(id: u32, symbol: &str) -> Kind {
    match id {
        1001 | 1013 => Kind::TcpEndpointCreated,
        1008 => Kind::TcpEndpointBound,
        1009 => Kind::TcpEndpointClosed,
        1191 | 1194 => Kind::TcpPortAcquired,
        1123 => Kind::TcpListenerActivated,
        1002 | 1031 => Kind::TcpConnectRequested,
        1033 => Kind::TcpConnectCompleted,
        1018..=1021 | 1034 | 1045 | 1050 | 1183 => Kind::TcpConnectFailed,
        1017 => Kind::TcpAcceptCompleted,
        1051 => Kind::TcpStateChange,
        1073 | 1332 | 1160 => Kind::TcpDataSent,
        1074 => Kind::TcpDataReceived,
        1159 => Kind::TcpSendPosted,
        1156 | 1157 | 1176 => Kind::TcpDelivery,
        // 1385: a tail loss probe resends the last segment.
        1077 | 1351 | 1186 | 1187 | 1385 | 1584 => Kind::TcpRetransmit,
        1064..=1066 => Kind::TcpTimer,
        1038 => Kind::TcpCloseIssued,
        1039 | 1040 | 1468 => Kind::TcpAbortIssued,
        1042 => Kind::TcpDisconnectIssued,
        1043 => Kind::TcpDisconnectCompleted,
        1044 => Kind::TcpShutdown,
        1046..=1048 | 1200 => Kind::TcpTimeout,
        1184 | 1185 | 1479 => Kind::TcpReset,
        1300 | 1477 => Kind::TcpSummary,
        1215 | 1478 => Kind::NetworkDrop,
        1214 => Kind::TransportDrop,
        1391 => Kind::UdpEndpointCreated,
        1397 => Kind::UdpEndpointClosed,
        1169 => Kind::UdpSend,
        1170 => Kind::UdpReceive,
        _ if symbol.starts_with("Tcp") => Kind::TcpOther,
        _ if symbol.starts_with("Udp") => Kind::UdpOther,
        _ => Kind::IpOther,
    }
}

fn afd_kind(id: u32) -> Kind {
    match id {
        1 | 1000 => Kind::AfdSocket,
        2 | 3 | 40 | 1029 | 1030 => Kind::AfdBind,
        1037 => Kind::AfdListen,
        1036 => Kind::AfdWaitForListen,
        4..=6 | 1017 | 1018 | 1020 | 1021 => Kind::AfdConnect,
        35 | 36 | 3000 | 3001 => Kind::AfdConnectIndication,
        15..=17 | 1023 | 1024 | 1026 | 1027 => Kind::AfdAccept,
        9 | 10 | 18 | 24 | 25 | 1003 | 1011 => Kind::AfdSend,
        11 | 19 | 23 | 1004 | 1012 => Kind::AfdRecv,
        21 | 22 | 28 | 1005 | 1007 | 1013 => Kind::AfdSendTo,
        12 | 20 | 26 | 27 | 1006 | 1009 | 1015 => Kind::AfdRecvFrom,
        37..=39 | 3003 | 3004 => Kind::AfdDataIndication,
        41 | 3006 => Kind::AfdDisconnectIndication,
        7 | 8 | 1032 => Kind::AfdAbort,
        14 | 1002 => Kind::AfdCleanup,
        13 | 1001 => Kind::AfdClose,
        33 | 34 | 1033 => Kind::AfdDatagramDrop,
        _ => Kind::AfdOther,
    }
}

fn kernel_network_kind(id: u32) -> Kind {
    match id {
        10 | 26 => Kind::KernelTcpSend,
        11 | 27 => Kind::KernelTcpRecv,
        12 | 28 => Kind::KernelTcpConnect,
        13 | 29 => Kind::KernelTcpDisconnect,
        14 | 30 => Kind::KernelTcpRetransmit,
        15 | 31 => Kind::KernelTcpAccept,
        16 | 32 => Kind::KernelTcpReconnect,
        17 => Kind::KernelTcpFail,
        18 | 34 => Kind::KernelTcpCopy,
        42 | 58 => Kind::KernelUdpSend,
        43 | 59 => Kind::KernelUdpRecv,
        49 => Kind::KernelUdpFail,
        _ => Kind::Raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::SourceRef;

    fn ev(provider: &str, id: u32, fields: &[(&str, &str)]) -> Event {
        let mut e = Event::new(SourceRef::default(), Layer::Other, Kind::Raw);
        e.provider = Some(provider.to_string().into());
        e.event_id = Some(id);
        e.fields = fields.iter().map(|&(k, v)| (k.to_string(), v)).collect();
        e
    }

    #[test]
    fn slots_table_is_in_discriminant_order() {
        for (i, s) in SLOTS.iter().enumerate() {
            assert_eq!(*s as usize, i, "{s:?}");
        }
    }

    /// Every template's plan reads the slots enrich reads by name: the
    /// event built from a rendered template gets the same typed slots
    /// through [`enrich_planned`] as through [`enrich_with_schema`].
    #[test]
    fn planned_enrich_equals_enrich_by_name() {
        use crate::schema::FieldType;
        let reg = registry();
        let mut checked = 0;
        for (ei, schema) in reg.events.iter().enumerate() {
            let (Some(t), Some(Some(plan))) = (&schema.template, reg.plans.get(ei)) else {
                continue;
            };
            let value = |i: usize| match schema.fields.get(i).map(|f| f.ty) {
                Some(FieldType::Pointer) => format!("0xFFFFE1890009{i:04X}"),
                Some(FieldType::Int) => format!("{}", i % 3),
                Some(FieldType::NtStatus) => "0xC0000241".into(),
                Some(FieldType::SocketAddress) => format!("10.1.0.{i}:5{i}"),
                Some(FieldType::IpAddress) => format!("172.16.0.{i}"),
                _ => "1(SendState)".into(),
            };
            let base = || {
                let mut e = Event::new(SourceRef::default(), Layer::Other, Kind::Raw);
                e.provider = Some("p".into());
                e.event_id = Some(schema.id);
                e.version = Some(schema.version);
                e.symbol = Some(schema.symbol.as_str().into());
                e.fields = t
                    .field_refs()
                    .map(|fi| (super::super::field_name(schema, fi), value(fi)))
                    .collect();
                e
            };
            let (mut by_name, mut planned) = (base(), base());
            enrich_with_schema(&mut by_name, schema.provider, Some(schema));
            enrich_planned(&mut planned, schema.provider, schema, plan);
            assert_eq!(
                format!("{by_name:?}"),
                format!("{planned:?}"),
                "{} {}",
                schema.id,
                schema.version
            );
            checked += 1;
        }
        assert!(checked > 500, "{checked}");
    }

    #[test]
    fn afd_socket_gets_process_and_pid() {
        let mut e = ev(
            "Microsoft-Windows-Winsock-AFD",
            1000,
            &[
                ("Process", "0x893F92B0"),
                ("ProcessId", "0x00000A90"),
                ("Endpoint", "0x8A28E2D8"),
                ("Protocol", "6 (0x6)"),
                ("Status", "Success"),
            ],
        );
        enrich(&mut e);
        assert_eq!(e.kind, Kind::AfdSocket);
        assert_eq!(e.layer, Layer::Afd);
        assert_eq!(e.pid, Some(2704));
        assert_eq!(e.process_object, Some(0x893F_92B0));
        assert_eq!(e.endpoint, Some(0x8A28_E2D8));
        assert_eq!(e.proto, Some(Proto::Tcp));
        assert_eq!(e.status.as_deref(), Some("Success"));
        assert_eq!(e.status_code, Some(0));
    }

    #[test]
    fn state_change_and_shutdown_status() {
        let mut e = ev(
            "Microsoft-Windows-TCPIP",
            1051,
            &[
                ("Tcb", "0x8921DD28"),
                ("OldState", "1(ListenState)"),
                ("NewState", "3"),
            ],
        );
        enrich(&mut e);
        assert_eq!(e.kind, Kind::TcpStateChange);
        assert_eq!(e.state_from.as_deref(), Some("Listen"));
        assert_eq!(e.state_to.as_deref(), Some("SynRcvd"));
        let mut e = ev(
            "Microsoft-Windows-TCPIP",
            1044,
            &[
                ("Status", "0xC0000241 - STATUS_CONNECTION_ABORTED"),
                ("ProcessId", "2704 (0xA90)"),
            ],
        );
        enrich(&mut e);
        assert_eq!(e.status.as_deref(), Some("STATUS_CONNECTION_ABORTED"));
        assert_eq!(e.status_code, Some(0xC000_0241));
        assert_eq!(e.pid, Some(2704));
        let mut e = ev("Microsoft-Windows-TCPIP", 1044, &[("Status", "0xC0000241")]);
        enrich(&mut e);
        assert_eq!(e.status.as_deref(), Some("STATUS_CONNECTION_ABORTED"));
    }

    #[test]
    fn network_drop_reason_by_number_only() {
        let mut e = ev(
            "Microsoft-Windows-TCPIP",
            1215,
            &[
                ("IPTransportProtocol", "1"),
                ("Reason", "9"),
                ("PathDirection", "0"),
            ],
        );
        e.version = Some(1);
        enrich(&mut e);
        assert_eq!(e.kind, Kind::NetworkDrop);
        assert_eq!(e.proto, Some(Proto::Icmp));
        let d = e.drop.unwrap();
        assert_eq!(d.code, Some(9));
        assert_eq!(d.text.as_deref(), Some("Inspection drop"));
        assert_eq!(e.direction, Some(Direction::Out));
    }
}
