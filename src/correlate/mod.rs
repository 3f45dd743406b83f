//! The correlation layer: builds connections (TCP by TCB pointer over its
//! lifetime, UDP and packet-only flows by 5-tuple), joins AFD endpoints and
//! processes to them, groups drops and raises findings.
//!
//! Everything runs over the events of all inputs sorted into one timeline.
//! Events without a timestamp (NetMon text, snapshots) inherit the time of
//! the event before them in their own file, so they keep their place.

pub mod drops;
pub mod findings;
pub mod process;
pub mod who;

use std::collections::{BTreeSet, HashMap};

use crate::event::{Direction, Endpoint, Event, Kind, Layer, Proto, SourceRef, Timestamp};
use crate::pipeline::Decoded;

pub use drops::DropGroup;
pub use findings::Finding;
pub use process::ProcessTable;

/// An event's place in [`Decoded::events`]: (file index, event index).
pub type EvRef = (u32, u32);

/// How a connection was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnDirection {
    Inbound,
    Outbound,
    Listener,
    Unknown,
}

impl ConnDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnDirection::Inbound => "inbound",
            ConnDirection::Outbound => "outbound",
            ConnDirection::Listener => "listener",
            ConnDirection::Unknown => "",
        }
    }
}

/// How sure the PID of a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// How a PID was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    pub pid: u32,
    pub confidence: Confidence,
    /// Human-readable: what carried the PID.
    pub how: String,
    pub evidence: Vec<SourceRef>,
}

/// One connection or flow.
#[derive(Debug, Clone)]
pub struct Connection {
    pub id: String,
    pub proto: Proto,
    pub local: Option<Endpoint>,
    pub remote: Option<Endpoint>,
    pub direction: ConnDirection,
    pub tcb: Option<u64>,
    /// AFD endpoint of the socket (accept endpoint for inbound connections).
    pub endpoint: Option<u64>,
    /// TCPIP listener pointer (listeners).
    pub listener: Option<u64>,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    pub first_key: Option<i64>,
    pub last_key: Option<i64>,
    pub states: Vec<String>,
    pub history: String,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub packets_sent: u64,
    pub packets_received: u64,
    pub retransmits: u64,
    pub drops: u64,
    pub close_reason: Option<String>,
    pub attribution: Option<Attribution>,
    pub events: Vec<EvRef>,
    pub sources: BTreeSet<u32>,
    /// Ended (Closed state, close/abort): a later reuse of its TCB starts a
    /// new connection.
    pub closed: bool,
    // Packet-level counters used by findings.
    pub syn_in: u64,
    pub syn_out: u64,
    pub synack_in: u64,
    pub synack_out: u64,
    pub rst_out: u64,
    pub rst_in: u64,
    pub bad_checksum_sent: u64,
    pub bad_checksum_received: u64,
    pub bad_checksum_evidence: Vec<SourceRef>,
    pub connect_failed: Option<SourceRef>,
    history_seen: Vec<char>,
    pktmon_seen: BTreeSet<(u32, u64, u32)>,
}

impl Connection {
    fn new(id: usize, proto: Proto) -> Self {
        Connection {
            id: format!("C{:04}", id + 1),
            proto,
            local: None,
            remote: None,
            direction: ConnDirection::Unknown,
            tcb: None,
            endpoint: None,
            listener: None,
            first: None,
            last: None,
            first_key: None,
            last_key: None,
            states: Vec::new(),
            history: String::new(),
            bytes_sent: 0,
            bytes_received: 0,
            packets_sent: 0,
            packets_received: 0,
            retransmits: 0,
            drops: 0,
            close_reason: None,
            attribution: None,
            events: Vec::new(),
            sources: BTreeSet::new(),
            closed: false,
            syn_in: 0,
            syn_out: 0,
            synack_in: 0,
            synack_out: 0,
            rst_out: 0,
            rst_in: 0,
            bad_checksum_sent: 0,
            bad_checksum_received: 0,
            bad_checksum_evidence: Vec::new(),
            connect_failed: None,
            history_seen: Vec::new(),
            pktmon_seen: BTreeSet::new(),
        }
    }

    pub fn final_state(&self) -> Option<&str> {
        self.states.last().map(String::as_str)
    }

    pub fn duration_s(&self) -> Option<f64> {
        let (a, b) = (self.first_key?, self.last_key?);
        Some((b - a) as f64 / 1e9)
    }

    /// Zeek-style history: uppercase for the originator, lowercase for the
    /// responder; each letter once per side, in order of first appearance.
    fn mark(&mut self, by_local: bool, letter: char) {
        let local_is_orig = self.direction != ConnDirection::Inbound;
        let c = if by_local == local_is_orig {
            letter.to_ascii_uppercase()
        } else {
            letter.to_ascii_lowercase()
        };
        if !self.history_seen.contains(&c) {
            self.history_seen.push(c);
            self.history.push(c);
        }
    }

    fn push_state(&mut self, s: &str) {
        if self.states.last().map(String::as_str) != Some(s) {
            self.states.push(s.to_string());
        }
    }

    fn touch(&mut self, r: EvRef, ev: &Event, key: Option<i64>) {
        self.events.push(r);
        self.sources.insert(ev.source.file);
        if let Some(k) = key {
            if self.first_key.is_none_or(|f| k < f) {
                self.first_key = Some(k);
                self.first = ev.ts;
            }
            if self.last_key.is_none_or(|l| k >= l) {
                self.last_key = Some(k);
                self.last = ev.ts;
            }
        }
        if self.local.is_none()
            && ev.local.is_some_and(|e| e.ip.is_some())
            && self.proto == Proto::Tcp
            && ev.layer == Layer::Tcpip
        {
            self.local = ev.local;
            self.remote = ev.remote;
        }
    }

    fn attribute(&mut self, a: Attribution) {
        match &self.attribution {
            Some(cur) if cur.confidence >= a.confidence => {}
            _ => self.attribution = Some(a),
        }
    }
}

/// Everything correlation produced.
#[derive(Debug, Default)]
pub struct Analysis {
    /// All events in time order.
    pub order: Vec<EvRef>,
    /// Time key per event, parallel to `Decoded::events`.
    pub keys: Vec<Vec<Option<i64>>>,
    /// Connection index per event, parallel to `Decoded::events`.
    pub conn_of: Vec<Vec<Option<u32>>>,
    pub connections: Vec<Connection>,
    pub processes: ProcessTable,
    pub drops: Vec<DropGroup>,
    pub findings: Vec<Finding>,
    /// PktMon component names per (file, component id), and where the name came from.
    pub components: HashMap<(u32, u32), (String, &'static str)>,
}

impl Analysis {
    pub fn event<'a>(&self, d: &'a Decoded, r: EvRef) -> Option<&'a Event> {
        d.events.get(r.0 as usize)?.get(r.1 as usize)
    }
    pub fn conn_id_of(&self, r: EvRef) -> Option<&str> {
        let c = (*self.conn_of.get(r.0 as usize)?.get(r.1 as usize)?)?;
        self.connections.get(c as usize).map(|c| c.id.as_str())
    }
    pub fn key_of(&self, r: EvRef) -> Option<i64> {
        *self.keys.get(r.0 as usize)?.get(r.1 as usize)?
    }
    /// Process name for a PID near a time.
    pub fn process_name(&self, pid: u32, at: Option<i64>) -> Option<process::ProcessName> {
        self.processes.lookup(pid, at)
    }
}

/// Per-AFD-endpoint facts gathered before the main pass.
#[derive(Debug, Default, Clone)]
struct AfdEndpoint {
    pid: Option<(u32, SourceRef)>,
    process_object: Option<u64>,
    bound: Option<Endpoint>,
}

fn same_ep(a: Option<Endpoint>, b: Option<Endpoint>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            a.port == b.port && (a.ip.is_none() || b.ip.is_none() || a.ip == b.ip)
        }
        _ => false,
    }
}

fn is_payload_pid(ev: &Event) -> bool {
    ev.pid.is_some() && !matches!(ev.kind, Kind::ProcessInfo | Kind::SocketRow)
}

/// TCP flag letters from tcpdump notation (`S.`, `P.`, `F.`, `R`).
fn flags_of(p: &crate::event::PacketInfo) -> (bool, bool, bool, bool) {
    let f = p.tcp_flags.as_deref().unwrap_or("");
    let syn = f.contains('S');
    let ack = f.contains('.') || f.contains('A');
    let fin = f.contains('F');
    let rst = f.contains('R');
    (syn, ack, fin, rst)
}

struct Builder<'a> {
    d: &'a Decoded,
    tz: Option<i16>,
    a: Analysis,
    by_tcb: HashMap<u64, u32>,
    by_listener: HashMap<u64, u32>,
    /// (proto, local, remote) → connection for flows without a TCB.
    by_tuple: HashMap<(Proto, Option<Endpoint>, Option<Endpoint>), u32>,
    /// TCB connections by their 4-tuple, for kernel events.
    tcb_by_tuple: HashMap<(Proto, Endpoint, Endpoint), u32>,
    /// Connections by (proto, lower port, higher port), for packets: a
    /// packet is matched against this bucket only, never against every
    /// connection (NetMon packet lines carry ports but not addresses).
    by_ports: HashMap<(Proto, u16, u16), Vec<u32>>,
    afd: HashMap<u64, AfdEndpoint>,
    proc_objects: HashMap<u64, (u32, SourceRef)>,
}

/// Correlates all decoded events.
pub fn analyze(d: &Decoded, tz: Option<i16>) -> Analysis {
    let mut b = Builder {
        d,
        tz,
        a: Analysis::default(),
        by_tcb: HashMap::new(),
        by_listener: HashMap::new(),
        by_tuple: HashMap::new(),
        tcb_by_tuple: HashMap::new(),
        by_ports: HashMap::new(),
        afd: HashMap::new(),
        proc_objects: HashMap::new(),
    };
    b.order_events();
    b.a.processes = ProcessTable::build(d.all_events(), |e| e.ts.map(|t| t.sort_key(tz)));
    b.components();
    b.afd_table();
    let order = std::mem::take(&mut b.a.order);
    // Stack events first, so TCB connections know their 4-tuple before
    // packets (which may precede the accept event) are joined to them.
    for &r in &order {
        b.event(r);
    }
    b.join_listener_endpoints(&order);
    for c in 0..b.a.connections.len() as u32 {
        b.index_ports(c);
    }
    for &r in &order {
        if let Some(ev) = b.a.event(d, r)
            && matches!(ev.layer, Layer::Packet | Layer::Pktmon)
            && matches!(ev.kind, Kind::Packet | Kind::PacketDrop)
        {
            b.packet(r, ev);
        }
    }
    b.a.order = order;
    b.join_afd();
    // Each connection's events in timeline order.
    let pos: HashMap<EvRef, usize> = b.a.order.iter().enumerate().map(|(i, r)| (*r, i)).collect();
    for c in &mut b.a.connections {
        c.events
            .sort_by_key(|r| pos.get(r).copied().unwrap_or(usize::MAX));
    }
    b.attribute_fallbacks();
    b.a.drops = drops::group(d, &b.a);
    b.a.findings = findings::find(d, &b.a);
    b.a
}

impl Builder<'_> {
    fn order_events(&mut self) {
        let mut order = Vec::new();
        for (fi, evs) in self.d.events.iter().enumerate() {
            let mut keys = Vec::with_capacity(evs.len());
            let mut last: Option<i64> = None;
            for (ei, ev) in evs.iter().enumerate() {
                let k = ev.ts.map(|t| t.sort_key(self.tz)).or(last);
                last = k;
                keys.push(k);
                order.push((fi as u32, ei as u32));
            }
            self.a.keys.push(keys);
            self.a.conn_of.push(vec![None; evs.len()]);
        }
        let keys = &self.a.keys;
        order.sort_by_key(|&(f, e)| (keys[f as usize][e as usize].unwrap_or(i64::MIN), f, e));
        self.a.order = order;
    }

    fn components(&mut self) {
        for ev in self.d.all_events() {
            if ev.kind != Kind::PktmonComponent {
                continue;
            }
            let id = ev
                .field("Component")
                .or(ev.field("Id"))
                .and_then(|v| v.trim().parse::<u32>().ok());
            let name = ev.field("Name");
            if let (Some(id), Some(name)) = (id, name) {
                let origin = if ev.field("Id").is_some() && ev.field("Component").is_none() {
                    "pktmon list"
                } else {
                    "capture trailer"
                };
                self.a
                    .components
                    .entry((ev.source.file, id))
                    .or_insert_with(|| (name.trim().to_string(), origin));
            }
        }
    }

    fn afd_table(&mut self) {
        for ev in self.d.all_events() {
            if ev.layer != Layer::Afd {
                continue;
            }
            if let (Some(po), Some(pid)) = (ev.process_object, ev.pid) {
                self.proc_objects.entry(po).or_insert((pid, ev.source));
            }
            let Some(ep) = ev.endpoint else { continue };
            let e = self.afd.entry(ep).or_default();
            if e.pid.is_none()
                && let Some(pid) = ev.pid
            {
                e.pid = Some((pid, ev.source));
            }
            if e.process_object.is_none() {
                e.process_object = ev.process_object;
            }
            if ev.kind == Kind::AfdBind && e.bound.is_none() {
                e.bound = ev.local.or(ev.remote);
            }
        }
    }

    fn afd_pid(&self, ep: u64) -> Option<(u32, SourceRef)> {
        let e = self.afd.get(&ep)?;
        e.pid
            .or_else(|| self.proc_objects.get(&e.process_object?).copied())
    }

    fn new_conn(&mut self, proto: Proto) -> u32 {
        let i = self.a.connections.len();
        self.a.connections.push(Connection::new(i, proto));
        i as u32
    }

    fn assign(&mut self, c: u32, r: EvRef) {
        let (Some(ev), key) = (self.a.event(self.d, r), self.a.key_of(r)) else {
            return;
        };
        if let Some(conn) = self.a.connections.get_mut(c as usize) {
            conn.touch(r, ev, key);
        }
        if let Some(slot) = self
            .a
            .conn_of
            .get_mut(r.0 as usize)
            .and_then(|v| v.get_mut(r.1 as usize))
        {
            *slot = Some(c);
        }
    }

    fn event(&mut self, r: EvRef) {
        let Some(ev) = self.a.event(self.d, r) else {
            return;
        };
        match ev.layer {
            Layer::Tcpip => self.tcpip(r, ev),
            Layer::Kernel => self.kernel(r, ev),
            _ => {}
        }
    }

    fn starts_new(ev: &Event) -> bool {
        matches!(ev.kind, Kind::TcpConnectRequested)
            || ev.kind == Kind::TcpStateChange
                && matches!(ev.state_to.as_deref(), Some("SynSent" | "SynRcvd"))
    }

    fn tcpip(&mut self, r: EvRef, ev: &Event) {
        if ev.kind == Kind::TcpListenerActivated
            && let Some(l) = ev.endpoint.or(ev.tcb)
        {
            let c = match self.by_listener.get(&l) {
                Some(c) => *c,
                None => {
                    let c = self.new_conn(Proto::Tcp);
                    self.by_listener.insert(l, c);
                    if let Some(conn) = self.a.connections.get_mut(c as usize) {
                        conn.direction = ConnDirection::Listener;
                        conn.listener = Some(l);
                        conn.local = ev.local;
                        conn.states.push("Listen".into());
                    }
                    c
                }
            };
            self.assign(c, r);
            return;
        }
        let Some(tcb) = ev.tcb else {
            self.udp_or_tuple(r, ev);
            return;
        };
        let existing = self.by_tcb.get(&tcb).copied();
        let c = match existing {
            Some(c) if !(self.a.connections[c as usize].closed && Self::starts_new(ev)) => c,
            _ => {
                let proto = if matches!(
                    ev.kind,
                    Kind::UdpSend
                        | Kind::UdpReceive
                        | Kind::UdpOther
                        | Kind::UdpEndpointCreated
                        | Kind::UdpEndpointClosed
                ) {
                    Proto::Udp
                } else {
                    Proto::Tcp
                };
                let c = self.new_conn(proto);
                self.by_tcb.insert(tcb, c);
                if let Some(conn) = self.a.connections.get_mut(c as usize) {
                    conn.tcb = Some(tcb);
                }
                c
            }
        };
        self.assign(c, r);
        let next_kind = self.peek_same_tcb(r, tcb);
        let Some(conn) = self.a.connections.get_mut(c as usize) else {
            return;
        };
        let state_before = conn.states.last().cloned();
        if ev.local.is_some() && conn.local.is_none_or(|l| l.ip.is_none()) {
            conn.local = ev.local;
        }
        if ev.remote.is_some() && conn.remote.is_none_or(|l| l.ip.is_none()) {
            conn.remote = ev.remote;
        }
        match ev.kind {
            Kind::TcpStateChange => {
                if let Some(f) = ev.state_from.as_deref()
                    && conn.states.is_empty()
                {
                    conn.push_state(f);
                }
                if let Some(t) = ev.state_to.as_deref() {
                    if conn.direction == ConnDirection::Unknown {
                        match (ev.state_from.as_deref(), t) {
                            (Some("Listen"), _) | (_, "SynRcvd") => {
                                conn.direction = ConnDirection::Inbound
                            }
                            (_, "SynSent") => conn.direction = ConnDirection::Outbound,
                            _ => {}
                        }
                    }
                    conn.push_state(t);
                    if t == "Closed" {
                        conn.closed = true;
                    }
                    match t {
                        "SynSent" => conn.mark(true, 's'),
                        "SynRcvd" => {
                            conn.mark(false, 's');
                            conn.mark(true, 'h');
                        }
                        "CloseWait" => conn.mark(false, 'f'),
                        "FinWait1" | "LastAck" => conn.mark(true, 'f'),
                        _ => {}
                    }
                }
            }
            Kind::TcpConnectRequested => {
                conn.direction = ConnDirection::Outbound;
            }
            Kind::TcpAcceptCompleted => {
                conn.direction = ConnDirection::Inbound;
            }
            Kind::TcpDataSent => {
                let n = ev.bytes.unwrap_or(0);
                // TCPIP counts SYN and FIN as one sequence byte each.
                let control = n == 1
                    && matches!(
                        state_before.as_deref(),
                        Some("SynSent" | "SynRcvd" | "FinWait1" | "LastAck" | "Closing" | "Listen")
                            | None
                    );
                if !control && n > 0 {
                    conn.bytes_sent += n;
                    conn.mark(true, 'd');
                }
            }
            Kind::TcpDataReceived => {
                let n = ev.bytes.unwrap_or(0);
                let fin_next = next_kind.as_ref().is_some_and(|(k, to)| {
                    *k == Kind::TcpStateChange
                        && matches!(to.as_deref(), Some("CloseWait" | "Closing" | "TimeWait"))
                });
                let control = n == 1
                    && (fin_next || matches!(state_before.as_deref(), Some("SynSent") | None));
                if !control && n > 0 {
                    conn.bytes_received += n;
                    conn.mark(false, 'd');
                }
            }
            Kind::TcpRetransmit => {
                conn.retransmits += 1;
                conn.mark(true, 't');
            }
            Kind::TcpConnectFailed => {
                conn.connect_failed = Some(ev.source);
                conn.close_reason =
                    Some(ev.status.clone().unwrap_or_else(|| "connect failed".into()));
                conn.closed = true;
            }
            Kind::TcpTimeout => {
                let what = ev
                    .field("Reason")
                    .or(ev.symbol.as_deref())
                    .unwrap_or("timeout");
                conn.close_reason = Some(format!("timeout ({what})"));
            }
            Kind::TcpReset => {
                conn.close_reason.get_or_insert_with(|| "RST".into());
                conn.mark(true, 'r');
            }
            Kind::TcpShutdown
            | Kind::TcpAbortIssued
            | Kind::TcpCloseIssued
            | Kind::TcpDisconnectCompleted => {
                if let Some(s) = ev.status.as_deref()
                    && s != "Success"
                    && s != "STATUS_SUCCESS"
                {
                    conn.close_reason = Some(s.to_string());
                } else if ev.kind == Kind::TcpAbortIssued {
                    conn.close_reason.get_or_insert_with(|| "abort".into());
                }
            }
            _ => {}
        }
        if is_payload_pid(ev)
            && let Some(pid) = ev.pid
        {
            conn.attribute(Attribution {
                pid,
                confidence: Confidence::High,
                how: format!("TCPIP {} carries PID", ev.kind.as_str()),
                evidence: vec![ev.source],
            });
        }
        if let (Some(l), Some(rm)) = (conn.local, conn.remote) {
            let key = (conn.proto, l, rm);
            self.tcb_by_tuple.insert(key, c);
        }
    }

    /// The kind (and target state) of the next TCPIP event on the same TCB.
    fn peek_same_tcb(&self, r: EvRef, tcb: u64) -> Option<(Kind, Option<String>)> {
        let evs = self.d.events.get(r.0 as usize)?;
        evs.iter()
            .skip(r.1 as usize + 1)
            .take(8)
            .filter(|e| e.tcb == Some(tcb) && e.layer == Layer::Tcpip)
            .find(|e| {
                matches!(
                    e.kind,
                    Kind::TcpStateChange | Kind::TcpDataSent | Kind::TcpDataReceived
                )
            })
            .map(|e| (e.kind, e.state_to.clone()))
    }

    fn flow(&mut self, proto: Proto, local: Option<Endpoint>, remote: Option<Endpoint>) -> u32 {
        let key = (proto, local, remote);
        if let Some(c) = self.by_tuple.get(&key) {
            return *c;
        }
        let c = self.new_conn(proto);
        self.by_tuple.insert(key, c);
        if let Some(conn) = self.a.connections.get_mut(c as usize) {
            conn.local = local;
            conn.remote = remote;
        }
        self.index_ports(c);
        c
    }

    /// Adds a connection to the packet index once both its ports are known.
    fn index_ports(&mut self, c: u32) {
        let Some(conn) = self.a.connections.get(c as usize) else {
            return;
        };
        if let (Some(a), Some(b)) = (
            conn.local.and_then(|e| e.port),
            conn.remote.and_then(|e| e.port),
        ) {
            let v = self
                .by_ports
                .entry((conn.proto, a.min(b), a.max(b)))
                .or_default();
            if !v.contains(&c) {
                v.push(c);
            }
        }
    }

    fn udp_or_tuple(&mut self, r: EvRef, ev: &Event) {
        if !matches!(ev.kind, Kind::UdpSend | Kind::UdpReceive)
            || ev.local.is_none()
            || ev.remote.is_none()
        {
            return;
        }
        let c = self.flow(Proto::Udp, ev.local, ev.remote);
        self.assign(c, r);
        let Some(conn) = self.a.connections.get_mut(c as usize) else {
            return;
        };
        let n = ev.bytes.unwrap_or(0);
        if ev.kind == Kind::UdpSend {
            conn.packets_sent += 1;
            conn.bytes_sent += n;
        } else {
            conn.packets_received += 1;
            conn.bytes_received += n;
        }
        if let Some(pid) = ev.pid {
            conn.attribute(Attribution {
                pid,
                confidence: Confidence::High,
                how: format!("TCPIP {} carries PID", ev.kind.as_str()),
                evidence: vec![ev.source],
            });
        }
    }

    fn kernel(&mut self, r: EvRef, ev: &Event) {
        let proto = ev.proto.unwrap_or(Proto::Tcp);
        let (Some(local), Some(remote)) = (ev.local, ev.remote) else {
            return;
        };
        // Join a TCB-keyed connection with the same 4-tuple, else a flow.
        let c = match self.tcb_by_tuple.get(&(proto, local, remote)) {
            Some(c) => *c,
            None => self.flow(proto, Some(local), Some(remote)),
        };
        self.assign(c, r);
        let Some(conn) = self.a.connections.get_mut(c as usize) else {
            return;
        };
        let n = ev.bytes.unwrap_or(0);
        match ev.kind {
            Kind::KernelTcpSend | Kind::KernelUdpSend => {
                conn.packets_sent += 1;
                conn.bytes_sent += n;
                conn.mark(true, 'd');
            }
            Kind::KernelTcpRecv | Kind::KernelUdpRecv => {
                conn.packets_received += 1;
                conn.bytes_received += n;
                conn.mark(false, 'd');
            }
            Kind::KernelTcpConnect => {
                conn.direction = ConnDirection::Outbound;
                conn.push_state("Established");
            }
            Kind::KernelTcpAccept => {
                conn.direction = ConnDirection::Inbound;
                conn.push_state("Established");
            }
            Kind::KernelTcpDisconnect => {
                conn.push_state("Closed");
                conn.closed = true;
            }
            Kind::KernelTcpRetransmit => {
                conn.retransmits += 1;
                conn.mark(true, 't');
            }
            Kind::KernelTcpFail | Kind::KernelUdpFail => {
                conn.connect_failed = Some(ev.source);
                conn.close_reason
                    .get_or_insert_with(|| "failed (kernel Fail event)".into());
            }
            _ => {}
        }
        if let Some(pid) = ev.pid {
            conn.attribute(Attribution {
                pid,
                confidence: Confidence::High,
                how: format!(
                    "kernel {} event carries PID",
                    ev.provider.as_deref().unwrap_or("TcpIp/UdpIp")
                ),
                evidence: vec![ev.source],
            });
        }
    }

    /// Finds the connection a packet belongs to, in either orientation.
    fn packet_conn(&mut self, ev: &Event, key: Option<i64>) -> Option<(u32, bool)> {
        let proto = ev.proto?;
        let (src, dst) = (ev.local?, ev.remote?);
        // Prefer a TCB-keyed connection whose time span covers the packet.
        let slack = 5_000_000_000i64;
        let mut best: Option<(u32, bool, i64)> = None;
        // Port-less packets (ICMP) only ever form their own flows.
        let bucket = match (src.port, dst.port) {
            (Some(p1), Some(p2)) => self
                .by_ports
                .get(&(proto, p1.min(p2), p1.max(p2)))
                .map_or(&[][..], Vec::as_slice),
            _ => &[][..],
        };
        for &i in bucket {
            let Some(c) = self.a.connections.get(i as usize) else {
                continue;
            };
            if c.proto != proto || c.direction == ConnDirection::Listener {
                continue;
            }
            let sent = same_ep(c.local, Some(src)) && same_ep(c.remote, Some(dst));
            let recv = same_ep(c.local, Some(dst)) && same_ep(c.remote, Some(src));
            if !(sent || recv) {
                continue;
            }
            let dist = match (key, c.first_key, c.last_key) {
                (Some(k), Some(f), Some(l)) if k >= f - slack && k <= l + slack => 0,
                (Some(k), Some(f), Some(l)) => (k - f).abs().min((k - l).abs()),
                _ => 0,
            };
            if best.is_none_or(|b| dist < b.2) {
                best = Some((i, sent, dist));
            }
        }
        if let Some((c, sent, _)) = best {
            return Some((c, sent));
        }
        // A packet-only flow: the capturing host's side is the source of a
        // sent packet and the destination of a received one.
        let sent = ev.direction != Some(Direction::In);
        let (local, remote) = if sent { (src, dst) } else { (dst, src) };
        if local.ip.is_none() && remote.ip.is_none() {
            return None;
        }
        Some((self.flow(proto, Some(local), Some(remote)), sent))
    }

    fn packet(&mut self, r: EvRef, ev: &Event) {
        let key = self.a.key_of(r);
        let Some((c, sent)) = self.packet_conn(ev, key) else {
            return;
        };
        self.assign(c, r);
        let Some(conn) = self.a.connections.get_mut(c as usize) else {
            return;
        };
        let Some(p) = ev.packet.as_ref() else { return };
        // PktMon logs one appearance per component: count a packet once.
        if let (Some(g), Some(n)) = (p.pkt_group_id, p.pkt_number)
            && !conn.pktmon_seen.insert((ev.source.file, g, n))
        {
            if ev.kind == Kind::PacketDrop {
                conn.drops += 1;
                conn.mark(sent, 'x');
            }
            return;
        }
        if ev.kind == Kind::PacketDrop {
            conn.drops += 1;
            conn.mark(sent, 'x');
        }
        if sent {
            conn.packets_sent += 1;
        } else {
            conn.packets_received += 1;
        }
        let (syn, ack, fin, rst) = flags_of(p);
        if conn.direction == ConnDirection::Unknown && syn && !ack {
            conn.direction = if sent {
                ConnDirection::Outbound
            } else {
                ConnDirection::Inbound
            };
        }
        if syn && !ack {
            if sent {
                conn.syn_out += 1;
            } else {
                conn.syn_in += 1;
            }
            conn.mark(sent, 's');
        }
        if syn && ack {
            if sent {
                conn.synack_out += 1;
            } else {
                conn.synack_in += 1;
            }
            conn.mark(sent, 'h');
        }
        if !syn && ack && p.payload_len.unwrap_or(0) == 0 && !fin && !rst {
            conn.mark(sent, 'a');
        }
        if p.payload_len.unwrap_or(0) > 0 {
            conn.mark(sent, 'd');
            // Without TCPIP data events, bytes come from the packets.
            if conn.tcb.is_none() {
                if sent {
                    conn.bytes_sent += u64::from(p.payload_len.unwrap_or(0));
                } else {
                    conn.bytes_received += u64::from(p.payload_len.unwrap_or(0));
                }
            }
        }
        if fin {
            conn.mark(sent, 'f');
        }
        if rst {
            if sent {
                conn.rst_out += 1;
            } else {
                conn.rst_in += 1;
            }
            conn.mark(sent, 'r');
            conn.close_reason.get_or_insert_with(|| "RST".into());
        }
        if p.bad_checksum {
            conn.mark(sent, 'c');
            if sent {
                conn.bad_checksum_sent += 1;
            } else {
                conn.bad_checksum_received += 1;
            }
            if conn.bad_checksum_evidence.len() < 10 {
                conn.bad_checksum_evidence.push(ev.source);
            }
        }
        // A process named in the capture (NetMon's process column).
        if let (Some(pid), Some(_)) = (ev.header_pid, ev.process_name.as_deref())
            && pid > 4
        {
            conn.attribute(Attribution {
                pid,
                confidence: Confidence::Medium,
                how: "capture tool named the process of a packet".into(),
                evidence: vec![ev.source],
            });
        }
    }

    /// TCPIP endpoint events that built a listener (endpoint created, port
    /// acquired, `replaced base endpoint`) belong on the listener's row: the
    /// listener pointer and the base endpoint it replaced are one socket.
    fn join_listener_endpoints(&mut self, order: &[EvRef]) {
        let mut socket_of: HashMap<u64, u32> = self.by_listener.clone();
        for &r in order {
            if let Some(ev) = self.a.event(self.d, r)
                && ev.layer == Layer::Tcpip
                && let (Some(a), Some(b)) = (ev.endpoint, ev.endpoint2)
                && let Some(c) = socket_of.get(&a).copied()
            {
                socket_of.entry(b).or_insert(c);
            }
        }
        for &r in order {
            let Some(ev) = self.a.event(self.d, r) else {
                continue;
            };
            if ev.layer != Layer::Tcpip || ev.tcb.is_some() || self.a.conn_id_of(r).is_some() {
                continue;
            }
            if let Some(c) = ev.endpoint.and_then(|e| socket_of.get(&e)).copied() {
                self.assign(c, r);
            }
        }
    }

    /// Joins AFD endpoints to TCP connections: accept (`Accept Endpoint` +
    /// remote address) and connect (remote address, nearest in time), then
    /// assigns the endpoint's AFD events to the connection.
    fn join_afd(&mut self) {
        let mut afd_events: Vec<EvRef> = Vec::new();
        for &r in &self.a.order {
            if let Some(ev) = self.a.event(self.d, r)
                && ev.layer == Layer::Afd
            {
                afd_events.push(r);
            }
        }
        // Candidates by port (`same_ep` needs equal ports), so the join is
        // not connections × AFD events. Buckets keep timeline order, so the
        // nearest-first choice is unchanged.
        let mut by_remote_port: HashMap<Option<u16>, Vec<EvRef>> = HashMap::new();
        let mut by_bound_port: HashMap<Option<u16>, Vec<EvRef>> = HashMap::new();
        for &r in &afd_events {
            let Some(ev) = self.a.event(self.d, r) else {
                continue;
            };
            match ev.kind {
                Kind::AfdAccept | Kind::AfdConnect => {
                    if let Some(e) = ev.remote {
                        by_remote_port.entry(e.port).or_default().push(r);
                    }
                }
                Kind::AfdListen | Kind::AfdBind => {
                    if let Some(b) = ev
                        .endpoint
                        .and_then(|e| self.afd.get(&e))
                        .and_then(|e| e.bound)
                    {
                        by_bound_port.entry(b.port).or_default().push(r);
                    }
                }
                _ => {}
            }
        }
        let mut endpoint_conn: HashMap<u64, u32> = HashMap::new();
        for ci in 0..self.a.connections.len() {
            let conn = &self.a.connections[ci];
            let (dir, remote, local, first) =
                (conn.direction, conn.remote, conn.local, conn.first_key);
            let mut best: Option<(u64, i64, SourceRef)> = None;
            let bucket = match dir {
                ConnDirection::Inbound | ConnDirection::Outbound => {
                    remote.and_then(|e| by_remote_port.get(&e.port))
                }
                ConnDirection::Listener => local.and_then(|e| by_bound_port.get(&e.port)),
                _ => None,
            };
            for &r in bucket.map_or(&[][..], Vec::as_slice) {
                let Some(ev) = self.a.event(self.d, r) else {
                    continue;
                };
                let dist = match (self.a.key_of(r), first) {
                    (Some(a), Some(b)) => (a - b).abs(),
                    _ => 0,
                };
                let cand = match (dir, ev.kind) {
                    (ConnDirection::Inbound, Kind::AfdAccept)
                        if ev.endpoint2.is_some() && same_ep(ev.remote, remote) =>
                    {
                        ev.endpoint2
                    }
                    (ConnDirection::Outbound, Kind::AfdConnect) if same_ep(ev.remote, remote) => {
                        ev.endpoint
                    }
                    (ConnDirection::Listener, Kind::AfdListen | Kind::AfdBind) => {
                        let bound = ev
                            .endpoint
                            .and_then(|e| self.afd.get(&e))
                            .and_then(|e| e.bound);
                        if same_ep(bound, local) {
                            ev.endpoint
                        } else {
                            None
                        }
                    }
                    _ => None,
                };
                if let Some(e) = cand
                    && best.is_none_or(|b| dist < b.1)
                {
                    best = Some((e, dist, ev.source));
                }
            }
            if let Some((ep, _, src)) = best {
                endpoint_conn.insert(ep, ci as u32);
                let pid = self.afd_pid(ep);
                let conn = &mut self.a.connections[ci];
                conn.endpoint = Some(ep);
                if let Some((pid, psrc)) = pid {
                    conn.attribute(Attribution {
                        pid,
                        confidence: Confidence::High,
                        how: format!(
                            "AFD endpoint 0x{ep:X} joined by {}; its socket was created by PID {pid}",
                            match dir {
                                ConnDirection::Outbound => "connect (remote address)",
                                ConnDirection::Listener => "bind/listen (local address)",
                                _ => "accept (Accept Endpoint, remote address)",
                            }
                        ),
                        evidence: vec![src, psrc],
                    });
                }
            }
        }
        for r in afd_events {
            let Some(ev) = self.a.event(self.d, r) else {
                continue;
            };
            let c = ev
                .endpoint
                .and_then(|e| endpoint_conn.get(&e))
                .or_else(|| ev.endpoint2.and_then(|e| endpoint_conn.get(&e)))
                .copied();
            if let Some(c) = c {
                self.assign(c, r);
            } else if matches!(ev.kind, Kind::AfdSendTo | Kind::AfdRecvFrom) && ev.remote.is_some()
            {
                let local = ev.local.or_else(|| {
                    ev.endpoint
                        .and_then(|e| self.afd.get(&e))
                        .and_then(|e| e.bound)
                });
                let c = self.flow(Proto::Udp, local, ev.remote);
                self.assign(c, r);
                let pid = ev
                    .endpoint
                    .and_then(|e| self.afd_pid(e))
                    .or(ev.pid.map(|p| (p, ev.source)));
                if let (Some((pid, src)), Some(conn)) =
                    (pid, self.a.connections.get_mut(c as usize))
                {
                    conn.attribute(Attribution {
                        pid,
                        confidence: Confidence::High,
                        how: "AFD sendto/recvfrom on an endpoint created by this PID".into(),
                        evidence: vec![ev.source, src],
                    });
                }
            }
        }
    }

    /// netstat rows, then the trace prefix PID, for connections still without one.
    fn attribute_fallbacks(&mut self) {
        let mut netstat: Vec<&Event> = self
            .d
            .all_events()
            .filter(|e| e.kind == Kind::SocketRow && e.pid.is_some())
            .collect();
        netstat.sort_by_key(|e| e.source);
        for ci in 0..self.a.connections.len() {
            let conn = &self.a.connections[ci];
            if conn
                .attribution
                .as_ref()
                .is_some_and(|a| a.confidence >= Confidence::Medium)
            {
                continue;
            }
            let (local, remote, proto) = (conn.local, conn.remote, conn.proto);
            let hit = netstat.iter().find(|e| {
                e.proto == Some(proto)
                    && same_ep(e.local, local)
                    && (proto == Proto::Udp
                        || same_ep(e.remote, remote)
                        || (conn.direction == ConnDirection::Listener))
            });
            if let (Some(e), Some(pid)) = (hit, hit.and_then(|e| e.pid)) {
                self.a.connections[ci].attribute(Attribution {
                    pid,
                    confidence: Confidence::Medium,
                    how: "netstat row with the same addresses".into(),
                    evidence: vec![e.source],
                });
                continue;
            }
            // Last resort: the trace prefix PID, if it is not 0/4.
            let header = self.a.connections[ci]
                .events
                .iter()
                .filter_map(|&r| self.a.event(self.d, r))
                .find(|e| e.header_pid.is_some_and(|p| p > 4) && e.layer != Layer::Pktmon)
                .map(|e| (e.header_pid.unwrap_or(0), e.source));
            if let Some((pid, src)) = header {
                self.a.connections[ci].attribute(Attribution {
                    pid,
                    confidence: Confidence::Low,
                    how: "trace prefix PID only (often 0, 4 or the DPC's context: unreliable)"
                        .into(),
                    evidence: vec![src],
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
