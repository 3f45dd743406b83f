//! `tracerpt -of CSV` output (`dumpfile.csv`), in both layouts:
//!
//! * modern (Vista and later): `Event Name, Type, Event ID, Version, Channel,
//!   Level, Opcode, Task, Keyword, PID, TID, Processor Number, Instance ID,
//!   Parent Instance ID, Activity ID, Related Activity ID, Clock-Time,
//!   Kernel(ms), User(ms), User Data`;
//! * XP/2003: `Event Name, Type, TID, Clock-Time, Kernel(ms), User(ms), User Data`.
//!
//! Cells are separated by `,` and padded with spaces; PID/TID are hex;
//! `Clock-Time` is a FILETIME integer (UTC) or, in some builds, text (local
//! time); the payload ("User Data") spills into as many trailing columns as
//! the event has fields, without names. Column positions come from the
//! header row when there is one; a pasted row without header is recognised
//! by its shape (hex TID in the third column means the XP layout).
//!
//! The legacy kernel `TcpIp` / `UdpIp` MOF rows are decoded here: their
//! payload is positional, so the field names come from
//! `schemas/kernel_tcpip_udpip.tsv` by class, event type and version. XP/2003
//! files carry no version column, so the layout is chosen by the number of
//! payload values (the V0, V1 and V2 layouts of one event differ in length,
//! except V1/V2 variants that only swap `seqnum`/`connid`, both of which are
//! effectively always 0). The same typed-slot filling is used for kernel
//! events in XML, where the fields arrive named ([`fill_kernel_slots`]).

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::OnceLock;

use super::common::{parse_ip, parse_u64_auto};
use super::prefix::parse_trace_time;
use super::{LineDecoder, Sink};
use crate::event::{Direction, Endpoint, Event, Kind, Layer, Proto, Timestamp};

/// Whether `head` (the first KiB of a text file) looks like tracerpt CSV: a
/// column header naming `Event Name` and `Clock-Time`, or rows of the
/// trace header / kernel network classes.
pub fn sniff(head: &str) -> bool {
    super::common::lines(head)
        .map(|l| l.trim_start_matches('\u{feff}').trim())
        .filter(|l| !l.is_empty())
        .take(20)
        .any(|l| {
            let cells = split_row(l);
            let first = cells.first().map(|c| c.as_ref()).unwrap_or("");
            (first.eq_ignore_ascii_case("Event Name")
                && cells.iter().any(|c| c.eq_ignore_ascii_case("Clock-Time")))
                || (first == "EventTrace" && cells.get(1).is_some_and(|c| c == "Header"))
                || (KernelClass::from_name(first).is_some()
                    && cells.len() >= 8
                    && cells.get(2).is_some_and(|c| parse_u64_auto(c).is_some()))
        })
}

// ---------------------------------------------------------------------------
// Kernel TcpIp / UdpIp MOF schema

/// The two legacy kernel network classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelClass {
    TcpIp,
    UdpIp,
}

impl KernelClass {
    pub fn from_name(s: &str) -> Option<KernelClass> {
        if s.eq_ignore_ascii_case("TcpIp") {
            Some(KernelClass::TcpIp)
        } else if s.eq_ignore_ascii_case("UdpIp") {
            Some(KernelClass::UdpIp)
        } else {
            None
        }
    }

    /// The MOF class GUIDs (as in `ExtendedTracingInfo/EventGuid` or a
    /// `Provider Guid` of tracerpt XML).
    pub fn from_guid(s: &str) -> Option<KernelClass> {
        let g = s.trim().trim_start_matches('{').trim_end_matches('}');
        if g.eq_ignore_ascii_case("9a280ac0-c8e0-11d1-84e2-00c04fb998a2") {
            Some(KernelClass::TcpIp)
        } else if g.eq_ignore_ascii_case("bf3a50c5-a9c9-4988-a005-2df0b7c80f80") {
            Some(KernelClass::UdpIp)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KernelClass::TcpIp => "TcpIp",
            KernelClass::UdpIp => "UdpIp",
        }
    }
}

/// Type of one MOF payload field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MofType {
    U32,
    U16,
    I16,
    Ptr,
    Ip4,
    Ip6,
    Port,
}

impl MofType {
    fn from_name(s: &str) -> Option<MofType> {
        Some(match s {
            "u32" => MofType::U32,
            "u16" => MofType::U16,
            "i16" => MofType::I16,
            "ptr" => MofType::Ptr,
            "ip4" => MofType::Ip4,
            "ip6" => MofType::Ip6,
            "port" => MofType::Port,
            _ => return None,
        })
    }
}

/// One payload layout of a kernel class event (a row of the schema file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MofLayout {
    pub class: KernelClass,
    pub event_type: u32,
    pub version: u8,
    /// EventTypeName as tracerpt prints it (`Send`, `RecvIPV4`).
    pub opcode: String,
    /// The MOF class defining the payload (`TcpIp_TypeGroup1`).
    pub mof_class: String,
    pub fields: Vec<(String, MofType)>,
}

const KERNEL_SCHEMA: &str = include_str!("../../schemas/kernel_tcpip_udpip.tsv");

/// Parses the kernel schema file; errors name the line.
pub fn parse_kernel_schema(text: &str) -> Result<Vec<MofLayout>, String> {
    let mut out = Vec::new();
    for (i, line) in super::common::lines(text).enumerate() {
        let n = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [class, ty, ver, opcode, mof_class, fields] = cols.as_slice() else {
            return Err(format!("line {n}: expected 6 tab-separated columns"));
        };
        let class =
            KernelClass::from_name(class).ok_or_else(|| format!("line {n}: unknown class"))?;
        let event_type = ty
            .parse()
            .map_err(|_| format!("line {n}: bad event type"))?;
        let version = ver.parse().map_err(|_| format!("line {n}: bad version"))?;
        let mut fs = Vec::new();
        for f in fields.split(',') {
            let (name, t) = f
                .split_once(':')
                .ok_or_else(|| format!("line {n}: field `{f}` lacks a type"))?;
            let t = MofType::from_name(t)
                .ok_or_else(|| format!("line {n}: unknown field type `{t}`"))?;
            fs.push((name.to_string(), t));
        }
        out.push(MofLayout {
            class,
            event_type,
            version,
            opcode: (*opcode).to_string(),
            mof_class: (*mof_class).to_string(),
            fields: fs,
        });
    }
    Ok(out)
}

/// The layouts of `schemas/kernel_tcpip_udpip.tsv`. The file is part of the
/// binary; a test checks that it parses, so an empty table only results from
/// a broken build.
pub fn kernel_layouts() -> &'static [MofLayout] {
    static LAYOUTS: OnceLock<Vec<MofLayout>> = OnceLock::new();
    LAYOUTS.get_or_init(|| parse_kernel_schema(KERNEL_SCHEMA).unwrap_or_default())
}

/// `RecvIPV6` → (`Recv`, Some(true)); `Send` → (`Send`, None).
fn split_ip_suffix(opcode: &str) -> (&str, Option<bool>) {
    let len = opcode.len();
    if len > 4 && opcode.is_char_boundary(len - 4) {
        let (base, suffix) = opcode.split_at(len - 4);
        if suffix.eq_ignore_ascii_case("IPV4") {
            return (base, Some(false));
        }
        if suffix.eq_ignore_ascii_case("IPV6") {
            return (base, Some(true));
        }
    }
    (opcode, None)
}

/// Chooses the payload layout of a kernel row: by event type number when the
/// input has one, else by opcode name (IPv4 types for names without an
/// `IPV6` suffix); then the layout of the stated version with exactly
/// `n_values` fields, else any version with that many fields (highest
/// version first).
pub fn select_layout(
    class: KernelClass,
    opcode_name: &str,
    event_type: Option<u32>,
    version: Option<u8>,
    n_values: usize,
) -> Option<&'static MofLayout> {
    let (base, v6) = split_ip_suffix(opcode_name.trim());
    let candidates = kernel_layouts().iter().filter(|l| {
        if l.class != class {
            return false;
        }
        match event_type {
            // tracerpt prints 0 in the opcode column when it has no type
            Some(t) if t != 0 => l.event_type == t,
            _ => {
                let (lbase, _) = split_ip_suffix(&l.opcode);
                lbase.eq_ignore_ascii_case(base) && (v6 == Some(true)) == (l.event_type >= 26)
            }
        }
    });
    let fitting: Vec<&MofLayout> = candidates.filter(|l| l.fields.len() == n_values).collect();
    if let Some(v) = version
        && let Some(l) = fitting.iter().find(|l| l.version == v)
    {
        return Some(l);
    }
    fitting.into_iter().max_by_key(|l| l.version)
}

/// Field counts the layouts of this event accept, for error messages.
fn accepted_counts(class: KernelClass, opcode_name: &str, event_type: Option<u32>) -> Vec<usize> {
    let (base, v6) = split_ip_suffix(opcode_name.trim());
    let mut v: Vec<usize> = kernel_layouts()
        .iter()
        .filter(|l| {
            l.class == class
                && match event_type {
                    Some(t) if t != 0 => l.event_type == t,
                    _ => {
                        split_ip_suffix(&l.opcode).0.eq_ignore_ascii_case(base)
                            && (v6 == Some(true)) == (l.event_type >= 26)
                    }
                }
        })
        .map(|l| l.fields.len())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// `ERROR_*` names of the `FailureCode` of TcpIp/UdpIp `Fail` events.
fn failure_code_name(code: u32) -> Option<&'static str> {
    Some(match code {
        1 => "ERROR_INSUFFICIENT_RESOURCES",
        2 => "ERROR_TOO_MANY_ADDRESSES",
        3 => "ERROR_ADDRESS_EXISTS",
        4 => "ERROR_INVALID_ADDRESS",
        5 => "ERROR_OTHER",
        6 => "ERROR_TIMEWAIT_ADDRESS_EXIST",
        _ => return None,
    })
}

fn parse_port(s: &str) -> Option<u16> {
    u16::try_from(parse_u64_auto(s)?).ok()
}

fn parse_u32(s: &str) -> Option<u32> {
    u32::try_from(parse_u64_auto(s)?).ok()
}

/// Fills the typed slots of a kernel `TcpIp`/`UdpIp` event from its named
/// fields (`PID`, `size`, `daddr`, `saddr`, `dport`, `sport`, `FailureCode`).
/// `opcode` is the event type name (`Send`, `RecvIPV4`, `TCPCopyIPV6`).
///
/// Which side is local: the MOF descriptions call `saddr`/`daddr` "source"
/// and "destination" addresses, which would suggest that on a receive event
/// `saddr` is the remote peer. It is not: the kernel logs these events from
/// the connection's (TCB's / UDP endpoint's) point of view, so `saddr:sport`
/// is the local socket and `daddr:dport` the peer on Send *and* Recv. This is
/// what users comparing the events with a packet capture report
/// (microsoft/perfview#859: on TcpIpRecvIPv4 / UdpIpRecvIPv4 events "saddr and
/// daddr appear in the opposite way" to the received packet), and it is the
/// reading under which seed 001's store.exe Send rows (saddr = 10.1.1.1, the
/// traced Exchange server) and Recv rows agree on one local address. So
/// `local` = saddr:sport and `remote` = daddr:dport for every event type, and
/// `direction` comes from the event type alone.
pub fn fill_kernel_slots(ev: &mut Event, class: KernelClass, opcode: &str) -> Result<(), String> {
    let (base, _) = split_ip_suffix(opcode.trim());
    let base_lc = base.to_ascii_lowercase();
    ev.layer = Layer::Kernel;
    ev.proto = Some(match class {
        KernelClass::TcpIp => Proto::Tcp,
        KernelClass::UdpIp => Proto::Udp,
    });
    let (kind, direction) = match (class, base_lc.as_str()) {
        (KernelClass::TcpIp, "send") => (Kind::KernelTcpSend, Some(Direction::Out)),
        (KernelClass::TcpIp, "recv") => (Kind::KernelTcpRecv, Some(Direction::In)),
        (KernelClass::TcpIp, "connect") => (Kind::KernelTcpConnect, Some(Direction::Out)),
        (KernelClass::TcpIp, "accept") => (Kind::KernelTcpAccept, Some(Direction::In)),
        (KernelClass::TcpIp, "disconnect") => (Kind::KernelTcpDisconnect, None),
        (KernelClass::TcpIp, "retransmit") => (Kind::KernelTcpRetransmit, Some(Direction::Out)),
        (KernelClass::TcpIp, "reconnect") => (Kind::KernelTcpReconnect, Some(Direction::Out)),
        (KernelClass::TcpIp, "fail") => (Kind::KernelTcpFail, None),
        // TCPCopy: data copied to the user's buffer on receive.
        (KernelClass::TcpIp, "tcpcopy") => (Kind::KernelTcpCopy, Some(Direction::In)),
        (KernelClass::UdpIp, "send") => (Kind::KernelUdpSend, Some(Direction::Out)),
        (KernelClass::UdpIp, "recv") => (Kind::KernelUdpRecv, Some(Direction::In)),
        (KernelClass::UdpIp, "fail") => (Kind::KernelUdpFail, None),
        // ARPCopy, FullACK, PartACK, DupACK (V1): kept with their fields.
        _ => (Kind::Raw, None),
    };
    ev.kind = kind;
    ev.direction = direction;

    let get = |name: &str| ev.field(name).map(str::trim).filter(|v| !v.is_empty());
    let pid = match get("PID") {
        Some(v) => Some(parse_u32(v).ok_or_else(|| format!("bad PID `{v}`"))?),
        None => None,
    };
    let size = match get("size") {
        Some(v) => Some(parse_u64_auto(v).ok_or_else(|| format!("bad size `{v}`"))?),
        None => None,
    };
    let ip = |name: &str| -> Result<Option<IpAddr>, String> {
        match get(name) {
            Some(v) => parse_ip(v)
                .map(Some)
                .ok_or_else(|| format!("bad {name} `{v}`")),
            None => Ok(None),
        }
    };
    let port = |name: &str| -> Result<Option<u16>, String> {
        match get(name) {
            Some(v) => parse_port(v)
                .map(Some)
                .ok_or_else(|| format!("bad {name} `{v}`")),
            None => Ok(None),
        }
    };
    let (saddr, daddr, sport, dport) = (ip("saddr")?, ip("daddr")?, port("sport")?, port("dport")?);
    let failure = match get("FailureCode") {
        Some(v) => Some(parse_u32(v).ok_or_else(|| format!("bad FailureCode `{v}`"))?),
        None => None,
    };

    // PID 0xFFFFFFFF is "no process" (-1), not a process id.
    ev.pid = pid.filter(|p| *p != u32::MAX);
    ev.bytes = size;
    if saddr.is_some() || sport.is_some() {
        ev.local = Some(Endpoint {
            ip: saddr,
            port: sport,
        });
    }
    if daddr.is_some() || dport.is_some() {
        ev.remote = Some(Endpoint {
            ip: daddr,
            port: dport,
        });
    }
    if let Some(code) = failure {
        ev.status_code = Some(code);
        ev.status = Some(
            failure_code_name(code)
                .map(str::to_string)
                .unwrap_or_else(|| code.to_string()),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// CSV rows

/// Splits a tracerpt CSV row on commas, trimming the space padding of each
/// cell and unquoting `"…"` cells (strings such as SystemConfig device
/// names may contain commas).
fn split_row(line: &str) -> Vec<Cow<'_, str>> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut pos = 0usize;
    loop {
        while bytes.get(pos).is_some_and(|b| *b == b' ' || *b == b'\t') {
            pos += 1;
        }
        if bytes.get(pos) == Some(&b'"') {
            // Quoted cell: `""` is a quote; text after the closing quote up
            // to the comma is padding.
            let mut cell = String::new();
            let mut rest = &line[pos + 1..];
            loop {
                match rest.find('"') {
                    Some(q) if rest[q + 1..].starts_with('"') => {
                        cell.push_str(&rest[..=q]);
                        rest = &rest[q + 2..];
                    }
                    Some(q) => {
                        cell.push_str(&rest[..q]);
                        rest = &rest[q + 1..];
                        break;
                    }
                    None => {
                        cell.push_str(rest);
                        rest = "";
                        break;
                    }
                }
            }
            out.push(Cow::Owned(cell));
            match rest.find(',') {
                Some(c) => pos = line.len() - rest.len() + c + 1,
                None => return out,
            }
        } else {
            let rest = &line[pos..];
            match memchr::memchr(b',', rest.as_bytes()) {
                Some(c) => {
                    out.push(Cow::Borrowed(rest[..c].trim_end()));
                    pos += c + 1;
                }
                None => {
                    out.push(Cow::Borrowed(rest.trim_end()));
                    return out;
                }
            }
        }
    }
}

/// Column positions of one CSV layout.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Columns {
    event_name: usize,
    kind: usize,
    event_id: Option<usize>,
    version: Option<usize>,
    opcode: Option<usize>,
    pid: Option<usize>,
    tid: Option<usize>,
    cpu: Option<usize>,
    clock: Option<usize>,
    user_data: usize,
}

impl Columns {
    /// `Event Name, Type, TID, Clock-Time, Kernel(ms), User(ms), User Data`.
    fn xp() -> Columns {
        Columns {
            event_name: 0,
            kind: 1,
            event_id: None,
            version: None,
            opcode: None,
            pid: None,
            tid: Some(2),
            cpu: None,
            clock: Some(3),
            user_data: 6,
        }
    }

    /// The modern header (Vista and later).
    fn modern() -> Columns {
        Columns {
            event_name: 0,
            kind: 1,
            event_id: Some(2),
            version: Some(3),
            opcode: Some(6),
            pid: Some(9),
            tid: Some(10),
            cpu: Some(11),
            clock: Some(16),
            user_data: 19,
        }
    }

    /// Column positions from a header row, `None` when it is not one.
    fn from_header(cells: &[Cow<'_, str>]) -> Option<Columns> {
        let first = cells.first()?;
        if !first
            .trim_start_matches('\u{feff}')
            .eq_ignore_ascii_case("Event Name")
        {
            return None;
        }
        let find = |name: &str| cells.iter().position(|c| c.eq_ignore_ascii_case(name));
        Some(Columns {
            event_name: 0,
            kind: find("Type").unwrap_or(1),
            event_id: find("Event ID"),
            version: find("Version"),
            opcode: find("Opcode"),
            pid: find("PID"),
            tid: find("TID"),
            cpu: find("Processor Number"),
            clock: find("Clock-Time"),
            user_data: find("User Data").unwrap_or(cells.len()),
        })
    }

    /// A row seen before any header (a pasted excerpt): XP when the third
    /// cell is a hex TID and the fourth a clock, modern otherwise.
    fn guess(cells: &[Cow<'_, str>]) -> Columns {
        let third_hex = cells
            .get(2)
            .is_some_and(|c| c.starts_with("0x") || c.starts_with("0X"));
        if third_hex && cells.len() >= 6 {
            Columns::xp()
        } else {
            Columns::modern()
        }
    }
}

/// The UTC range in which a `Clock-Time` integer is taken as a FILETIME
/// (1990–2100); other integers are raw QPC/CPU-cycle stamps (`-rts`).
const FILETIME_MIN: u64 = 122_756_544_000_000_000;
const FILETIME_MAX: u64 = 159_992_640_000_000_000;

fn parse_clock(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let v: u64 = s.parse().ok()?;
        if (FILETIME_MIN..=FILETIME_MAX).contains(&v) {
            return Timestamp::from_filetime(v);
        }
        return None;
    }
    parse_trace_time(s)
}

/// A hex (`0x…`) or decimal id; `0xFFFFFFFF` (no thread / no process) is none.
fn parse_id(s: &str) -> Option<u32> {
    parse_u32(s).filter(|v| *v != u32::MAX)
}

pub fn layer_for_provider(name: &str) -> Layer {
    let n = name.to_ascii_lowercase();
    if n == "microsoft-windows-tcpip" {
        Layer::Tcpip
    } else if n == "microsoft-windows-winsock-afd" {
        Layer::Afd
    } else if n == "microsoft-windows-wfp" || n.contains("filtering") {
        Layer::Wfp
    } else if n == "microsoft-windows-pktmon" {
        Layer::Pktmon
    } else if n == "microsoft-windows-ndis-packetcapture" {
        Layer::Packet
    } else if n == "microsoft-windows-kernel-network" {
        Layer::Kernel
    } else {
        Layer::Other
    }
}

/// Decoder state: the column layout once a header row was seen.
#[derive(Default)]
pub struct TracerptCsvDecoder {
    columns: Option<Columns>,
}

impl TracerptCsvDecoder {
    fn row(&mut self, line_no: u64, line: &str, cells: &[Cow<'_, str>], sink: &mut Sink) {
        let cols = self
            .columns
            .clone()
            .unwrap_or_else(|| Columns::guess(cells));
        let cell = |i: Option<usize>| i.and_then(|i| cells.get(i)).map(|c| c.as_ref());
        let name = cell(Some(cols.event_name)).unwrap_or("");
        let opcode_name = cell(Some(cols.kind)).unwrap_or("");
        if name.is_empty() || cells.len() < cols.user_data {
            sink.unknown(line_no, line);
            return;
        }
        let mut ev = Event::new(sink.src(line_no), Layer::Other, Kind::Raw);
        ev.provider = Some(name.to_string().into());
        ev.symbol = Some(opcode_name.to_string().into()).filter(|s: &Cow<str>| !s.is_empty());
        ev.message = line.trim().to_string();
        let event_id = cell(cols.event_id).and_then(parse_u32);
        let version = cell(cols.version).and_then(|v| u8::try_from(parse_u64_auto(v)?).ok());
        let opcode_no = cell(cols.opcode).and_then(parse_u32);
        ev.event_id = event_id;
        ev.version = version;
        ev.header_pid = cell(cols.pid).and_then(parse_id);
        ev.tid = cell(cols.tid).and_then(parse_id);
        ev.cpu = cell(cols.cpu).and_then(parse_u32);
        if let Some(clock) = cell(cols.clock) {
            ev.ts = parse_clock(clock);
            if ev.ts.is_none() && !clock.is_empty() {
                ev.fields.push("Clock-Time", clock);
            }
        }
        let mut data: &[Cow<'_, str>] = cells.get(cols.user_data..).unwrap_or(&[]);
        while let Some((last, rest)) = data.split_last() {
            if last.is_empty() {
                data = rest;
            } else {
                break;
            }
        }

        if let Some(class) = KernelClass::from_name(name) {
            let Some(layout) = select_layout(class, opcode_name, opcode_no, version, data.len())
            else {
                sink.error(
                    line_no,
                    format!(
                        "{name} {opcode_name}: {} user-data values fit no known layout (expected {:?})",
                        data.len(),
                        accepted_counts(class, opcode_name, opcode_no)
                    ),
                );
                return;
            };
            // MOF events have no manifest id: the event type (opcode) is
            // what identifies them, so it goes into `event_id`.
            ev.event_id = Some(layout.event_type);
            ev.version = Some(layout.version);
            ev.provider = Some(class.as_str().into());
            for ((fname, _), v) in layout.fields.iter().zip(data) {
                ev.fields.push(fname.as_str(), v);
            }
            if let Err(e) = fill_kernel_slots(&mut ev, class, opcode_name) {
                sink.error(line_no, format!("{name} {opcode_name}: {e}"));
                return;
            }
            sink.parsed();
            sink.event(ev);
            return;
        }

        // tracerpt prints manifest payloads without names: take them from
        // the provider schema when the value count matches its field list,
        // else keep them by position (`UserData1`…).
        let schema_fields = event_id.and_then(|id| {
            crate::schema::registry()
                .event(name, id, version)
                .map(|s| &s.fields)
                .filter(|f| f.len() == data.len())
        });
        match schema_fields {
            Some(fields) => {
                for (f, v) in fields.iter().zip(data) {
                    ev.fields.push(f.name.as_str(), v);
                }
            }
            None => {
                for (i, v) in data.iter().enumerate() {
                    ev.fields.push(format!("UserData{}", i + 1), v);
                }
            }
        }
        if name == "EventTrace" || name == "SystemConfig" {
            // Trace header and machine configuration rundown.
            ev.layer = Layer::Trace;
            ev.kind = Kind::TraceInfo;
        } else {
            ev.layer = layer_for_provider(name);
            // A generic opcode name says less than the schema's event
            // symbol, which enrich fills in when the symbol is unset.
            if ev.symbol.as_deref().is_some_and(|t| {
                t.eq_ignore_ascii_case("Info") || t.eq_ignore_ascii_case("win:Info")
            }) {
                ev.symbol = None;
            }
            crate::schema::enrich(&mut ev);
        }
        sink.parsed();
        sink.event(ev);
    }
}

impl LineDecoder for TracerptCsvDecoder {
    fn line(&mut self, line_no: u64, line: &str, sink: &mut Sink) {
        let t = line.trim_start_matches('\u{feff}').trim();
        if t.is_empty() || t.chars().all(|c| c == ',' || c.is_whitespace()) {
            sink.skipped();
            return;
        }
        let cells = split_row(t);
        if let Some(cols) = Columns::from_header(&cells) {
            self.columns = Some(cols);
            sink.skipped();
            return;
        }
        if cells.len() < 3 {
            sink.unknown(line_no, line);
            return;
        }
        self.row(line_no, line, &cells, sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> Sink {
        let mut d = TracerptCsvDecoder::default();
        let mut sink = Sink::new(0);
        for (i, l) in super::super::common::lines(text).enumerate() {
            d.line(i as u64 + 1, l, &mut sink);
        }
        d.finish(&mut sink);
        sink
    }

    #[test]
    fn kernel_schema_loads_and_covers_every_class_version() {
        let layouts = parse_kernel_schema(KERNEL_SCHEMA).unwrap();
        assert_eq!(layouts.len(), kernel_layouts().len());
        for (class, ty, ver) in [
            (KernelClass::TcpIp, 10, 0),
            (KernelClass::TcpIp, 10, 1),
            (KernelClass::TcpIp, 10, 2),
            (KernelClass::TcpIp, 28, 2),
            (KernelClass::TcpIp, 34, 2),
            (KernelClass::UdpIp, 10, 0),
            (KernelClass::UdpIp, 11, 1),
            (KernelClass::UdpIp, 27, 2),
            (KernelClass::UdpIp, 17, 2),
        ] {
            assert!(
                layouts
                    .iter()
                    .any(|l| l.class == class && l.event_type == ty && l.version == ver),
                "{class:?} {ty} v{ver}"
            );
        }
        // Every layout that has addresses names both ends and both ports.
        for l in &layouts {
            let has = |n: &str| l.fields.iter().any(|(f, _)| f == n);
            if has("saddr") {
                assert!(has("daddr") && has("sport") && has("dport"), "{l:?}");
            }
        }
        assert!(parse_kernel_schema("TcpIp\t10\t2\tSend\tX\tPID:float").is_err());
        assert!(parse_kernel_schema("TcpIp\t10\t2\tSend").is_err());
    }

    #[test]
    fn field_names_used_by_the_code_exist_in_the_schema() {
        let names: Vec<&str> = kernel_layouts()
            .iter()
            .flat_map(|l| l.fields.iter().map(|(n, _)| n.as_str()))
            .collect();
        // Read by fill_kernel_slots.
        for n in [
            "PID",
            "size",
            "saddr",
            "daddr",
            "sport",
            "dport",
            "FailureCode",
        ] {
            assert!(names.contains(&n), "{n}");
        }
        // Every opcode of the schema maps to a kernel kind, except the V1
        // ACK/ARP diagnostics that are kept as raw events.
        for l in kernel_layouts() {
            let mut ev = Event::default();
            fill_kernel_slots(&mut ev, l.class, &l.opcode).unwrap();
            let raw_ok = ["ARPCopy", "FullACK", "PartACK", "DupACK"].contains(&l.opcode.as_str());
            assert_eq!(ev.kind == Kind::Raw, raw_ok, "{}", l.opcode);
        }
    }

    #[test]
    fn layout_is_chosen_by_value_count_without_version() {
        let l = select_layout(KernelClass::UdpIp, "Send", None, None, 8).unwrap();
        assert_eq!((l.version, l.event_type), (2, 10));
        let l = select_layout(KernelClass::UdpIp, "Send", None, None, 6).unwrap();
        assert_eq!(l.version, 1);
        let l = select_layout(KernelClass::UdpIp, "Recv", None, None, 7).unwrap();
        assert_eq!(l.version, 0);
        let l = select_layout(KernelClass::TcpIp, "RecvIPV6", None, None, 8).unwrap();
        assert_eq!(l.event_type, 27);
        let l = select_layout(KernelClass::TcpIp, "Send", Some(10), Some(2), 10).unwrap();
        assert_eq!(l.opcode, "SendIPV4");
        assert!(select_layout(KernelClass::TcpIp, "Send", None, None, 5).is_none());
    }

    #[test]
    fn seed_001_udp_send_row_without_header() {
        let s = decode(
            "UdpIp, Send, 0xFFFFFFFF, 129079416141424158, 0, 0, 2136, 8, 172.023.098.097, 010.001.001.001, 2762, 36003, 0, 0",
        );
        assert_eq!(s.counts.parsed, 1, "{:?}", s.diagnostics);
        let e = &s.events[0];
        assert_eq!(e.kind, Kind::KernelUdpSend);
        assert_eq!(e.pid, Some(2136));
        assert_eq!(e.bytes, Some(8));
        assert_eq!(e.local.unwrap().to_string(), "10.1.1.1:36003");
        assert_eq!(e.remote.unwrap().to_string(), "172.23.98.97:2762");
        assert_eq!(e.ts.unwrap().to_string(), "2010-01-14T11:20:14.1424158Z");
        assert_eq!(e.tid, None);
        assert_eq!(e.direction, Some(Direction::Out));
    }

    #[test]
    fn quoted_cells_and_padding() {
        assert_eq!(
            split_row(r#"SystemConfig,   PhyDisk,  0x0, "a, b" , 12,"#),
            ["SystemConfig", "PhyDisk", "0x0", "a, b", "12", ""]
        );
        assert_eq!(split_row("a,  b ,c"), ["a", "b", "c"]);
        assert_eq!(split_row(r#""x""y""#), [r#"x"y"#]);
        assert_eq!(split_row(r#""unterminated"#), ["unterminated"]);
    }

    #[test]
    fn text_clock_row_is_local_time() {
        let s = decode(
            "Event Name, Type, TID, Clock-Time, Kernel(ms), User(ms), User Data\n\
             UdpIp, Recv, 0x00000A10, 01/14/2010-12:20:14.1424158, 0, 0, 1140, 57, 10.1.1.10, 10.1.1.1, 53, 3311",
        );
        assert_eq!(s.counts.parsed, 1, "{:?}", s.diagnostics);
        let e = &s.events[0];
        assert_eq!(e.ts.unwrap().zone, crate::event::Zone::Local);
        assert_eq!(e.ts.unwrap().to_string(), "2010-01-14T12:20:14.1424158");
        assert_eq!(e.tid, Some(0xA10));
        assert_eq!(e.version, Some(1));
        assert_eq!(e.kind, Kind::KernelUdpRecv);
    }

    #[test]
    fn clock_text_is_local_and_raw_integers_are_kept() {
        let t = parse_clock("01/14/2010-11:20:14.142").unwrap();
        assert_eq!(t.to_string(), "2010-01-14T11:20:14.1420000");
        assert!(parse_clock("48753297340").is_none());
    }

    #[test]
    fn bad_address_is_an_error_naming_the_line() {
        let s = decode(
            "UdpIp, Send, 0xFFFFFFFF, 129079416141424158, 0, 0, 2136, 8, 300.1.1.1, 10.1.1.1, 2762, 36003, 0, 0",
        );
        assert_eq!(s.counts.error, 1);
        assert_eq!(s.diagnostics[0].source.line, 1);
        assert!(s.diagnostics[0].message.contains("daddr"));
    }

    #[test]
    fn sniffs_headers_and_bare_kernel_rows() {
        assert!(sniff(
            "Event Name, Type, TID, Clock-Time, Kernel(ms), User(ms), User Data\n"
        ));
        assert!(sniff(
            "\u{feff}\n  UdpIp, Send, 0xFFFFFFFF, 129079416141424158, 0, 0, 2136, 8, 1.2.3.4, 5.6.7.8, 1, 2, 0, 0\n"
        ));
        assert!(!sniff("Image Name                     PID Session Name\n"));
        assert!(!sniff("<Events>\n"));
    }
}
