//! The one normalized event model every decoder produces.
//!
//! A decoder turns a line (or a record) of some input format into an [`Event`].
//! Fields that a format does not carry stay `None`; everything the decoder
//! understood but that has no typed slot goes into [`Event::fields`], and the
//! original text is kept in [`Event::raw`] so no information is lost.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

/// Index of an input file in the run's file table (see `input::FileTable`).
pub type FileId = u32;

/// Where an event came from: file and 1-based line number (for binary inputs,
/// the record number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct SourceRef {
    pub file: FileId,
    pub line: u64,
}

/// How a timestamp relates to UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub enum Zone {
    /// Known UTC (ETL FILETIME, XML `Z`, tracerpt FILETIME clock).
    Utc,
    /// Local time with a known offset east of UTC, in minutes.
    Offset(i16),
    /// The capture machine's local wall-clock time, offset unknown
    /// (netsh / pktmon text prefixes).
    #[default]
    Local,
    /// Time of day only (pktmon `--timestamp-only`, real-time console);
    /// `nanos` counts from midnight local time and the date is unknown.
    TimeOfDay,
}

/// A point in time with full (nanosecond) precision.
///
/// `nanos` counts nanoseconds since 1970-01-01T00:00:00 *in the zone's own
/// wall clock*: for `Utc` that is Unix time; for `Offset(m)` and `Local` it is
/// the local wall-clock reading; for `TimeOfDay` it counts from midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Timestamp {
    pub nanos: i64,
    pub zone: Zone,
}

impl Timestamp {
    pub const fn utc(nanos: i64) -> Self {
        Timestamp {
            nanos,
            zone: Zone::Utc,
        }
    }

    /// Nanoseconds since the Unix epoch in UTC, when the zone allows it.
    /// `assume_local` is the offset (minutes east of UTC) the user declared
    /// for local-time sources (`--tz`).
    pub fn to_utc_nanos(&self, assume_local: Option<i16>) -> Option<i64> {
        match self.zone {
            Zone::Utc => Some(self.nanos),
            Zone::Offset(m) => self.nanos.checked_sub(i64::from(m) * 60_000_000_000),
            Zone::Local => {
                let m = assume_local?;
                self.nanos.checked_sub(i64::from(m) * 60_000_000_000)
            }
            Zone::TimeOfDay => None,
        }
    }

    /// A key that orders timestamps of one run: UTC when known (or when
    /// `--tz` makes it known), otherwise the wall-clock reading.
    pub fn sort_key(&self, assume_local: Option<i16>) -> i64 {
        self.to_utc_nanos(assume_local).unwrap_or(self.nanos)
    }

    /// Builds a timestamp from civil date/time parts; `None` when any part is
    /// out of range (so bad input is reported, never wrapped).
    #[allow(clippy::too_many_arguments)] // the parts of a civil time, in order
    pub fn from_civil(
        year: i32,
        month: u32,
        day: u32,
        hour: u32,
        min: u32,
        sec: u32,
        nanos: u32,
        zone: Zone,
    ) -> Option<Self> {
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || min > 59
            || sec > 60
            || nanos >= 1_000_000_000
            || !(1678..=2261).contains(&year)
        {
            return None;
        }
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(min) * 60 + i64::from(sec);
        let total = secs
            .checked_mul(1_000_000_000)?
            .checked_add(i64::from(nanos))?;
        Some(Timestamp { nanos: total, zone })
    }

    /// Windows FILETIME (100 ns ticks since 1601-01-01 UTC) to a UTC timestamp.
    pub fn from_filetime(ft: u64) -> Option<Self> {
        const EPOCH_DIFF_TICKS: i64 = 116_444_736_000_000_000;
        let ticks = i64::try_from(ft).ok()?.checked_sub(EPOCH_DIFF_TICKS)?;
        Some(Timestamp::utc(ticks.checked_mul(100)?))
    }
}

pub fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((y + i64::from(m <= 2)) as i32, m, d)
}

impl fmt::Display for Timestamp {
    /// ISO 8601 with 100 ns precision (9 digits when the source had them) and
    /// the zone when known: `2010-01-14T11:20:14.1424158Z`,
    /// `2026-10-03T14:29:18.9129558-05:00`, `2025-03-27T16:10:34.934020500`
    /// (local, no zone), `T23:02:26.539704700` (time of day only).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 40];
        match self.render_common(&mut buf) {
            Some(n) => {
                f.write_str(std::str::from_utf8(buf.get(..n).unwrap_or_default()).unwrap_or(""))
            }
            None => self.fmt_general(f),
        }
    }
}

impl Timestamp {
    /// Appends the text of [`fmt::Display`] to `s` without the formatting
    /// machinery (~300 instructions a timestamp in events.csv rows).
    pub fn push_to(&self, s: &mut String) {
        let mut buf = [0u8; 40];
        match self
            .render_common(&mut buf)
            .and_then(|n| std::str::from_utf8(buf.get(..n)?).ok())
        {
            Some(t) => s.push_str(t),
            None => {
                use fmt::Write as _;
                let _ = write!(s, "{self}");
            }
        }
    }

    /// The text of [`fmt::Display`] for years 0–9999 and offsets under 100
    /// hours, written digit by digit: events.csv and connections.csv write
    /// one or two timestamps per row, and `write!` with padded integers
    /// cost ~3,000 instructions each. `None` for anything else.
    fn render_common(&self, buf: &mut [u8; 40]) -> Option<usize> {
        fn digits(out: &mut [u8], at: &mut usize, v: u64, width: usize) -> Option<()> {
            let mut v = v;
            let field = out.get_mut(*at..*at + width)?;
            for b in field.iter_mut().rev() {
                *b = b'0' + (v % 10) as u8;
                v /= 10;
            }
            *at += width;
            (v == 0).then_some(())
        }
        fn byte(out: &mut [u8], at: &mut usize, b: u8) -> Option<()> {
            *out.get_mut(*at)? = b;
            *at += 1;
            Some(())
        }
        let secs = self.nanos.div_euclid(1_000_000_000);
        let frac = self.nanos.rem_euclid(1_000_000_000) as u64;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u64;
        let mut at = 0;
        if self.zone != Zone::TimeOfDay {
            let (y, m, d) = civil_from_days(days);
            let y = u64::try_from(y).ok().filter(|y| *y <= 9999)?;
            digits(buf, &mut at, y, 4)?;
            byte(buf, &mut at, b'-')?;
            digits(buf, &mut at, u64::from(m), 2)?;
            byte(buf, &mut at, b'-')?;
            digits(buf, &mut at, u64::from(d), 2)?;
        }
        byte(buf, &mut at, b'T')?;
        digits(buf, &mut at, sod / 3600, 2)?;
        byte(buf, &mut at, b':')?;
        digits(buf, &mut at, (sod / 60) % 60, 2)?;
        byte(buf, &mut at, b':')?;
        digits(buf, &mut at, sod % 60, 2)?;
        byte(buf, &mut at, b'.')?;
        if frac.is_multiple_of(100) {
            digits(buf, &mut at, frac / 100, 7)?;
        } else {
            digits(buf, &mut at, frac, 9)?;
        }
        match self.zone {
            Zone::Utc => byte(buf, &mut at, b'Z')?,
            Zone::Offset(m) => {
                byte(buf, &mut at, if m < 0 { b'-' } else { b'+' })?;
                let a = u64::from(m.unsigned_abs());
                digits(buf, &mut at, a / 60, 2)?;
                byte(buf, &mut at, b':')?;
                digits(buf, &mut at, a % 60, 2)?;
            }
            Zone::Local | Zone::TimeOfDay => {}
        }
        Some(at)
    }

    /// The general (slower) rendering, for the cases
    /// [`Timestamp::render_common`] leaves out.
    fn fmt_general(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.nanos.div_euclid(1_000_000_000);
        let frac = self.nanos.rem_euclid(1_000_000_000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (h, mi, s) = (sod / 3600, (sod / 60) % 60, sod % 60);
        if self.zone != Zone::TimeOfDay {
            let (y, m, d) = civil_from_days(days);
            write!(f, "{y:04}-{m:02}-{d:02}")?;
        }
        write!(f, "T{h:02}:{mi:02}:{s:02}")?;
        if frac % 100 == 0 {
            write!(f, ".{:07}", frac / 100)?;
        } else {
            write!(f, ".{frac:09}")?;
        }
        match self.zone {
            Zone::Utc => f.write_str("Z"),
            Zone::Offset(m) => {
                let sign = if m < 0 { '-' } else { '+' };
                let a = m.unsigned_abs();
                write!(f, "{sign}{:02}:{:02}", a / 60, a % 60)
            }
            Zone::Local | Zone::TimeOfDay => Ok(()),
        }
    }
}

/// Which part of the stack an event describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    /// Winsock / AFD (afd.sys): the application's socket calls.
    Afd,
    /// Microsoft-Windows-TCPIP (tcpip.sys) manifest events.
    Tcpip,
    /// A packet seen on the wire or in a capture (NetMon/NDIS frames).
    Packet,
    /// Packet Monitor (pktmon.sys) packet, drop and component records.
    Pktmon,
    /// NT kernel logger MOF events (TcpIp / UdpIp classes).
    Kernel,
    /// Windows Filtering Platform.
    Wfp,
    /// Process table (tasklist).
    Process,
    /// Socket table (netstat).
    SocketTable,
    /// Trace metadata: headers, converter banners, rundown.
    Trace,
    /// Anything else (other providers, WPP).
    #[default]
    Other,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Afd => "afd",
            Layer::Tcpip => "tcpip",
            Layer::Packet => "packet",
            Layer::Pktmon => "pktmon",
            Layer::Kernel => "kernel",
            Layer::Wfp => "wfp",
            Layer::Process => "process",
            Layer::SocketTable => "socket-table",
            Layer::Trace => "trace",
            Layer::Other => "other",
        }
    }
}

macro_rules! kinds {
    ($($(#[$m:meta])* $v:ident = $s:literal,)*) => {
        /// What an event means, as far as the decoder could tell. Payload
        /// values live in the typed fields of [`Event`] (addresses, bytes,
        /// states, status, drop reason) so the correlation layer can read them
        /// without matching strings.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum Kind {
            $($(#[$m])* $v,)*
        }
        impl Kind {
            pub fn as_str(self) -> &'static str {
                match self { $(Kind::$v => $s,)* }
            }
            pub fn all() -> &'static [Kind] {
                &[$(Kind::$v,)*]
            }
            pub fn from_name(s: &str) -> Option<Kind> {
                match s { $($s => Some(Kind::$v),)* _ => None }
            }
        }
        impl Serialize for Kind {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

kinds! {
    /// A line of a known format whose meaning has no typed kind (other
    /// providers, WPP, events not modelled yet): fields and text are kept.
    #[default]
    Raw = "raw",
    /// Converter banner, trace header, rundown, column headers with content.
    TraceInfo = "trace-info",

    // ---- Winsock / AFD
    AfdSocket = "afd-socket",
    AfdBind = "afd-bind",
    AfdListen = "afd-listen",
    AfdWaitForListen = "afd-wait-for-listen",
    AfdConnect = "afd-connect",
    AfdConnectIndication = "afd-connect-indication",
    AfdAccept = "afd-accept",
    AfdSend = "afd-send",
    AfdRecv = "afd-recv",
    AfdSendTo = "afd-sendto",
    AfdRecvFrom = "afd-recvfrom",
    AfdDataIndication = "afd-data-indication",
    AfdDisconnect = "afd-disconnect",
    AfdDisconnectIndication = "afd-disconnect-indication",
    AfdAbort = "afd-abort",
    AfdCleanup = "afd-cleanup",
    AfdClose = "afd-close",
    AfdDatagramDrop = "afd-datagram-drop",
    AfdOther = "afd-other",

    // ---- TCPIP: TCP
    TcpEndpointCreated = "tcp-endpoint-created",
    TcpEndpointBound = "tcp-endpoint-bound",
    TcpEndpointClosed = "tcp-endpoint-closed",
    TcpPortAcquired = "tcp-port-acquired",
    TcpListenerActivated = "tcp-listener-activated",
    TcpConnectRequested = "tcp-connect-requested",
    TcpConnectCompleted = "tcp-connect-completed",
    TcpConnectFailed = "tcp-connect-failed",
    TcpAcceptCompleted = "tcp-accept-completed",
    TcpStateChange = "tcp-state-change",
    TcpDataSent = "tcp-data-sent",
    TcpDataReceived = "tcp-data-received",
    TcpSendPosted = "tcp-send-posted",
    TcpDelivery = "tcp-delivery",
    TcpRetransmit = "tcp-retransmit",
    TcpTimer = "tcp-timer",
    TcpCloseIssued = "tcp-close-issued",
    TcpAbortIssued = "tcp-abort-issued",
    TcpDisconnectIssued = "tcp-disconnect-issued",
    TcpDisconnectCompleted = "tcp-disconnect-completed",
    TcpShutdown = "tcp-shutdown",
    TcpTimeout = "tcp-timeout",
    TcpReset = "tcp-reset",
    TcpSummary = "tcp-summary",
    TcpOther = "tcp-other",
    // ---- TCPIP: UDP / IP
    UdpEndpointCreated = "udp-endpoint-created",
    UdpEndpointClosed = "udp-endpoint-closed",
    UdpSend = "udp-send",
    UdpReceive = "udp-receive",
    UdpOther = "udp-other",
    /// Network-layer (IP) drop with a reason.
    NetworkDrop = "network-drop",
    /// Transport-layer drop (TCP/UDP) with a reason.
    TransportDrop = "transport-drop",
    IpOther = "ip-other",

    // ---- Kernel logger (MOF TcpIp / UdpIp classes)
    KernelTcpSend = "kernel-tcp-send",
    KernelTcpRecv = "kernel-tcp-recv",
    KernelTcpConnect = "kernel-tcp-connect",
    KernelTcpAccept = "kernel-tcp-accept",
    KernelTcpDisconnect = "kernel-tcp-disconnect",
    KernelTcpRetransmit = "kernel-tcp-retransmit",
    KernelTcpReconnect = "kernel-tcp-reconnect",
    KernelTcpFail = "kernel-tcp-fail",
    KernelTcpCopy = "kernel-tcp-copy",
    KernelUdpSend = "kernel-udp-send",
    KernelUdpRecv = "kernel-udp-recv",
    KernelUdpFail = "kernel-udp-fail",

    // ---- Packets
    /// A packet (NetMon frame line, NDIS capture, PktMon appearance).
    Packet = "packet",
    /// A packet dropped by a component (PktMon 170/240, NDIS drop).
    PacketDrop = "packet-drop",
    /// PktMon component description / property.
    PktmonComponent = "pktmon-component",
    /// PktMon drop or flow counters of one component.
    PktmonCounters = "pktmon-counters",
    /// PktMon packet filter.
    PktmonFilter = "pktmon-filter",

    // ---- WFP
    WfpDrop = "wfp-drop",
    WfpAllow = "wfp-allow",
    WfpOther = "wfp-other",

    // ---- Snapshots
    /// One process row (tasklist).
    ProcessInfo = "process-info",
    /// One socket row (netstat).
    SocketRow = "socket-row",
}

/// Transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Arp,
    Other(u8),
}

impl Proto {
    /// The protocol's name in outputs: IANA's keyword (lower case) for the
    /// IP protocols captures commonly hold besides TCP, UDP and ICMP
    /// (multicast group management, tunnels, IPsec, routing), else `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
            Proto::Icmpv6 => "icmpv6",
            Proto::Arp => "arp",
            Proto::Other(n) => Self::ip_protocol_name(n).unwrap_or("other"),
        }
    }

    /// IANA keywords of other IP protocol numbers a capture commonly holds.
    fn ip_protocol_name(n: u8) -> Option<&'static str> {
        Some(match n {
            2 => "igmp",
            4 => "ipv4-in-ip",
            41 => "ipv6-in-ip",
            47 => "gre",
            50 => "esp",
            51 => "ah",
            89 => "ospf",
            103 => "pim",
            112 => "vrrp",
            115 => "l2tp",
            132 => "sctp",
            _ => return None,
        })
    }
    pub fn from_ip_number(n: u8) -> Proto {
        match n {
            6 => Proto::Tcp,
            17 => Proto::Udp,
            1 => Proto::Icmp,
            58 => Proto::Icmpv6,
            x => Proto::Other(x),
        }
    }
    /// Two bytes for the spill files: a tag and `Other`'s number.
    pub fn to_tag(self) -> [u8; 2] {
        match self {
            Proto::Tcp => [0, 0],
            Proto::Udp => [1, 0],
            Proto::Icmp => [2, 0],
            Proto::Icmpv6 => [3, 0],
            Proto::Arp => [4, 0],
            Proto::Other(n) => [5, n],
        }
    }
    /// [`Proto::to_tag`] read back (an unknown tag is `Other`).
    pub fn from_tag([tag, n]: [u8; 2]) -> Proto {
        match tag {
            0 => Proto::Tcp,
            1 => Proto::Udp,
            2 => Proto::Icmp,
            3 => Proto::Icmpv6,
            4 => Proto::Arp,
            _ => Proto::Other(n),
        }
    }
}

impl Serialize for Proto {
    /// As [`Proto::as_str`], an unnamed protocol by its number (`ip-proto-N`).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Proto::Other(n) if Self::ip_protocol_name(*n).is_none() => {
                s.serialize_str(&format!("ip-proto-{n}"))
            }
            p => s.serialize_str(p.as_str()),
        }
    }
}

impl Serialize for Direction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Pointers serialize as Windows prints them (`0x8921DD28`), so JSON output
/// can be searched with the same text as the trace.
fn hex_pointer<S: serde::Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(p) => s.serialize_str(&format!("0x{p:X}")),
        None => s.serialize_none(),
    }
}

/// An IP address with an optional port; either part may be unknown
/// (`*:*` in netstat, an IP-only drop event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Endpoint {
    pub ip: Option<IpAddr>,
    pub port: Option<u16>,
}

impl Endpoint {
    pub fn new(ip: IpAddr, port: u16) -> Self {
        Endpoint {
            ip: Some(ip),
            port: Some(port),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            Some(IpAddr::V6(a)) => write!(f, "[{a}]")?,
            Some(IpAddr::V4(a)) => write!(f, "{a}")?,
            None => f.write_str("*")?,
        }
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => f.write_str(":*"),
        }
    }
}

/// Direction of a packet or drop relative to the capturing host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received (Rx, inbound).
    In,
    /// Sent (Tx, outbound).
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// Why a packet was dropped, as the source stated it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize)]
pub struct DropInfo {
    /// Numeric reason code when known (PktMon code, TCPIP `Reason = N`).
    pub code: Option<u32>,
    /// Symbolic name (`PktMonDrop_INET_ChecksumInvalid`), when known.
    pub name: Option<String>,
    /// Display text (`INET: checksum is invalid`, `Inspection drop`).
    pub text: Option<String>,
    /// Where the drop happened (PktMon DropLocation, e.g. `0xE000460A`).
    pub location: Option<u64>,
    /// Name of the location when known.
    pub location_name: Option<String>,
}

/// Transport payload bytes hashed into [`PacketInfo::payload_prefix`]:
/// few enough that a 128-byte snapshot of an 802.11 frame (its header and
/// SNAP take 18 bytes more than Ethernet's) still holds them.
pub const PAYLOAD_PREFIX: usize = 16;

/// Packet details parsed from a decoded summary line, frame or bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PacketInfo {
    pub src_mac: Option<String>,
    pub dst_mac: Option<String>,
    pub ethertype: Option<u16>,
    pub vlan: Option<u16>,
    /// TCP flags in tcpdump letters (`S`, `S.`, `P.`, `F.`, `R`) or NetMon
    /// form normalized to the same letters.
    pub tcp_flags: Option<String>,
    pub seq: Option<u32>,
    pub ack: Option<u32>,
    pub window: Option<u32>,
    /// IPv4 Identification: tells apart packets whose transport fields are
    /// alike (duplicate ACKs) where PktMon ids do not.
    pub ip_id: Option<u16>,
    /// A hash of the first bytes of the transport payload (up to
    /// [`PAYLOAD_PREFIX`]), from captured bytes: the same at every
    /// appearance of one packet, told apart from other packets with the
    /// same headers (an mDNS probe and the next). Internal, not written out.
    #[serde(skip)]
    pub payload_prefix: Option<u64>,
    /// Transport payload length.
    pub payload_len: Option<u32>,
    /// Frame length on the wire.
    pub frame_len: Option<u32>,
    pub bad_checksum: bool,
    /// PktMon identity of this packet.
    pub pkt_group_id: Option<u64>,
    pub pkt_number: Option<u32>,
    pub appearance: Option<u32>,
    pub component: Option<u32>,
    pub edge: Option<u32>,
    pub filter: Option<u32>,
    /// PktMon `Type` (Ethernet, IP, WiFi…).
    /// Borrowed when it is a value-map name (the usual case).
    pub media: Option<Cow<'static, str>>,
    pub original_size: Option<u32>,
    pub logged_size: Option<u32>,
    /// ICMP type/code, ARP operation, DNS summary…: the decoded summary text.
    pub summary: Option<String>,
}

mod fields;
pub use fields::Fields;

/// One normalized event.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Event {
    pub ts: Option<Timestamp>,
    pub source: SourceRef,
    /// Provider name (`Microsoft-Windows-TCPIP`), MOF class (`TcpIp`), or the
    /// snapshot tool (`tasklist`, `netstat`). Borrowed from the schema
    /// registry (a static) when the provider is known, so most events do
    /// not allocate for it.
    pub provider: Option<Cow<'static, str>>,
    pub event_id: Option<u32>,
    pub version: Option<u8>,
    /// The event's symbol / opcode name when known (`TcpRequestConnect`, `Send`).
    pub symbol: Option<Cow<'static, str>>,
    /// PID from the trace record header (often 0/4/DPC context — unreliable).
    pub header_pid: Option<u32>,
    pub tid: Option<u32>,
    pub cpu: Option<u32>,
    /// PID carried by the event's own payload (`PID = 2704`, AFD `Process
    /// 0x… (0xA90)`, kernel MOF `PID`, tasklist/netstat rows): reliable.
    pub pid: Option<u32>,
    /// Image name when the source names it (NetMon process column, tasklist, netstat -b).
    pub process_name: Option<String>,
    pub layer: Layer,
    pub kind: Kind,
    pub proto: Option<Proto>,
    /// Local / remote for socket-level events; for packets, `local` is the
    /// source and `remote` the destination (see `direction`).
    pub local: Option<Endpoint>,
    pub remote: Option<Endpoint>,
    pub direction: Option<Direction>,
    /// TCB / connection pointer (TCPIP), the identity of a TCP connection.
    #[serde(serialize_with = "hex_pointer")]
    pub tcb: Option<u64>,
    /// AFD endpoint pointer, or TCPIP endpoint/listener pointer.
    #[serde(serialize_with = "hex_pointer")]
    pub endpoint: Option<u64>,
    /// A second endpoint pointer (AFD `Accept Endpoint`).
    #[serde(serialize_with = "hex_pointer")]
    pub endpoint2: Option<u64>,
    /// Process object pointer (AFD `Process 0x…`).
    #[serde(serialize_with = "hex_pointer")]
    pub process_object: Option<u64>,
    /// Byte count the event reports (send/recv length, packet size).
    pub bytes: Option<u64>,
    /// TCP state transition (names as in the TCPIP value map, without `State`).
    pub state_from: Option<String>,
    pub state_to: Option<String>,
    /// NTSTATUS or other status, rendered (`Success`, `STATUS_CONNECTION_ABORTED`).
    pub status: Option<String>,
    pub status_code: Option<u32>,
    /// Boxed: most events are not drops, and a smaller `Event` is cheaper
    /// to store and move (millions of them per trace).
    pub drop: Option<Box<DropInfo>>,
    /// Boxed for the same reason as `drop`.
    pub packet: Option<Box<PacketInfo>>,
    /// All named fields the decoder extracted, in order. Names are borrowed
    /// from the schema registry or literals whenever possible.
    pub fields: Fields,
    /// The rendered message (without the line prefix), or the whole line.
    pub message: String,
}

impl Event {
    pub fn new(source: SourceRef, layer: Layer, kind: Kind) -> Self {
        Event {
            source,
            layer,
            kind,
            ..Event::default()
        }
    }

    /// The value of a named field, if the decoder extracted it.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.find(name)
    }

    /// The PID to attribute this event to and how reliable it is.
    pub fn best_pid(&self) -> Option<(u32, PidSource)> {
        if let Some(p) = self.pid {
            Some((p, PidSource::Payload))
        } else {
            self.header_pid.map(|p| (p, PidSource::Header))
        }
    }
}

/// Where a PID came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidSource {
    Payload,
    Header,
}

#[cfg(test)]
mod tests {

    /// The digit-by-digit rendering equals the general one wherever it
    /// applies, and declines (so the general one runs) elsewhere.
    #[test]
    fn timestamp_fast_text_equals_general_text() {
        struct General(Timestamp);
        impl fmt::Display for General {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt_general(f)
            }
        }
        let zones = [
            Zone::Utc,
            Zone::Local,
            Zone::TimeOfDay,
            Zone::Offset(-300),
            Zone::Offset(330),
            Zone::Offset(0),
            Zone::Offset(-6000),
            Zone::Offset(i16::MIN),
        ];
        let mut rng = crate::etl::testutil::XorShift(0x9E37_79B9_7F4A_7C15);
        // i64 nanoseconds span the years 1677-2262.
        let mut nanos = vec![0, -1, 1, 99, 100, i64::MIN, i64::MAX, i64::MIN + 1];
        for _ in 0..20_000 {
            let n = rng.next_u64() as i64;
            nanos.push(n);
            nanos.push(n - n % 100);
        }
        let mut fast = 0;
        for &n in &nanos {
            for zone in zones {
                let t = Timestamp { nanos: n, zone };
                let mut buf = [0u8; 40];
                if let Some(len) = t.render_common(&mut buf) {
                    fast += 1;
                    assert_eq!(
                        std::str::from_utf8(&buf[..len]).unwrap(),
                        General(t).to_string(),
                        "{t:?}"
                    );
                }
                assert_eq!(t.to_string(), General(t).to_string());
                let mut pushed = String::from("x");
                t.push_to(&mut pushed);
                assert_eq!(pushed.get(1..), Some(General(t).to_string().as_str()));
            }
        }
        assert!(fast > nanos.len() * 4, "{fast}");
    }
    use super::*;

    #[test]
    fn filetime_converts_seed_001_clock() {
        let t = Timestamp::from_filetime(129_079_416_141_424_158).unwrap();
        assert_eq!(t.to_string(), "2010-01-14T11:20:14.1424158Z");
    }

    #[test]
    fn civil_round_trip_and_display() {
        let t = Timestamp::from_civil(2025, 3, 27, 16, 10, 34, 934_020_500, Zone::Local).unwrap();
        assert_eq!(t.to_string(), "2025-03-27T16:10:34.9340205");
        let t = Timestamp::from_civil(2026, 10, 3, 14, 29, 18, 912_955_800, Zone::Offset(-300))
            .unwrap();
        assert_eq!(t.to_string(), "2026-10-03T14:29:18.9129558-05:00");
        assert_eq!(
            t.to_utc_nanos(None).unwrap() - t.nanos,
            300 * 60 * 1_000_000_000
        );
        for days in [-1_000_000i64, -1, 0, 1, 59, 10_000, 100_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn out_of_range_civil_is_none() {
        assert!(Timestamp::from_civil(2025, 2, 30, 0, 0, 0, 0, Zone::Utc).is_none());
        assert!(Timestamp::from_civil(2025, 13, 1, 0, 0, 0, 0, Zone::Utc).is_none());
        assert!(Timestamp::from_civil(99999, 1, 1, 0, 0, 0, 0, Zone::Utc).is_none());
        assert!(Timestamp::from_filetime(u64::MAX).is_none());
    }

    #[test]
    fn proto_tags_round_trip() {
        for p in [
            Proto::Tcp,
            Proto::Udp,
            Proto::Icmp,
            Proto::Icmpv6,
            Proto::Arp,
            Proto::Other(0),
            Proto::Other(47),
        ] {
            assert_eq!(Proto::from_tag(p.to_tag()), p);
        }
    }

    #[test]
    fn other_ip_protocols_are_named_where_iana_names_them() {
        assert_eq!(Proto::Other(2).as_str(), "igmp");
        assert_eq!(Proto::Other(47).as_str(), "gre");
        assert_eq!(Proto::Other(200).as_str(), "other");
        let json = |p: Proto| serde_json::to_string(&p).unwrap();
        assert_eq!(json(Proto::Other(2)), "\"igmp\"");
        assert_eq!(json(Proto::Other(200)), "\"ip-proto-200\"");
        assert_eq!(json(Proto::Tcp), "\"tcp\"");
    }

    #[test]
    fn kind_names_round_trip() {
        for k in Kind::all() {
            assert_eq!(Kind::from_name(k.as_str()), Some(*k));
        }
    }
}
