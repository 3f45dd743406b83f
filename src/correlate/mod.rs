//! The correlation layer: builds connections (TCP by TCB pointer over its
//! lifetime, UDP and packet-only flows by 5-tuple), joins AFD endpoints and
//! processes to them, groups drops and raises findings.
//!
//! Events are correlated in windows ([`Correlator::window`]): each window's
//! events (from one or more files) are sorted into one timeline and joined
//! to connections that persist across windows; then the window's events can
//! be dropped. [`analyze`] is the one-window case (the whole input), used by
//! `who` and the tests; `timeline` and `drops` stream (`crate::stream`).
//! A join whose two sides fall in windows that are not adjacent (a packet
//! logged before its connection's first TCPIP event, a window earlier) is
//! not made; with windows of tens of thousands of events that is rare, and
//! `tests/bench_smoke.rs` checks that windowed output equals whole output
//! on the generated inputs. Events without a timestamp (NetMon text,
//! snapshots) inherit the time of the event before them in their own file,
//! so they keep their place.

pub mod drops;
pub mod findings;
mod flow_spill;
pub mod process;
pub mod who;

use std::collections::BTreeSet;

/// The correlator's maps are keyed by pointers, ports and 4-tuples, looked
/// up several times per event: SipHash was 7% of a `timeline` run.
/// foldhash is several times faster and still seeded per process.
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// The correlator's sets, hashed like [`HashMap`].
pub type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

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
    /// TCP states in order (names shared, not one allocation per state).
    pub states: Vec<std::borrow::Cow<'static, str>>,
    pub history: String,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub packets_sent: u64,
    pub packets_received: u64,
    pub retransmits: u64,
    pub drops: u64,
    pub close_reason: Option<String>,
    pub attribution: Option<Attribution>,
    /// Events joined to the connection.
    pub event_count: u64,
    /// The earliest events, for `who`'s evidence and rule (f).
    pub first_events: Vec<(TimelinePos, SourceRef)>,
    /// The earliest SYN packets, for rules (c) and (d).
    pub syn_evidence: Vec<(TimelinePos, SourceRef)>,
    /// The earliest retransmission events, for rule (e).
    pub retransmit_evidence: Vec<(TimelinePos, SourceRef)>,
    /// The earliest trace-prefix PID above 4 (not PktMon), the last resort.
    pub header_pid: Option<(TimelinePos, u32, SourceRef)>,
    pub sources: BTreeSet<u32>,
    /// The last window an event joined this connection in.
    pub last_window: u64,
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
    /// PktMon packets already counted (one per packet, not per appearance).
    /// Appearances of a packet are logged together, so only the most recent
    /// identities are kept: memory stays bounded on long flows.
    pktmon_seen: Option<Box<PktmonSeen>>,
}

/// A TCP state name: the TCPIP value map's names are shared statics.
fn state_name(s: &str) -> std::borrow::Cow<'static, str> {
    const KNOWN: [&str; 12] = [
        "Closed",
        "Listen",
        "SynSent",
        "SynRcvd",
        "Established",
        "FinWait1",
        "FinWait2",
        "CloseWait",
        "Closing",
        "LastAck",
        "TimeWait",
        "DeleteTcb",
    ];
    match KNOWN.iter().find(|k| **k == s) {
        Some(k) => std::borrow::Cow::Borrowed(k),
        None => std::borrow::Cow::Owned(s.to_string()),
    }
}

/// The PktMon packet identities of a connection seen in the current and
/// the previous correlation window. The appearances of one packet are
/// logged together, a few lines apart, so two windows (up to 100,000
/// events) cover them; older identities are forgotten, which bounds the
/// memory by the window size rather than by the packets of a long flow
/// (a count per flow kept thousands of identities of every flow: 1 GiB of
/// PktMon text held 117 MB more than 100 MiB did).
/// Drop groups keep one too, keyed by group as well.
#[derive(Debug, Clone, Default)]
pub(super) struct PktmonSeen<K = (u32, u64, u32)> {
    window: u64,
    // foldhash like the correlator's maps: with SipHash these two sets were
    // a quarter of the correlation of a PktMon capture (two look-ups per
    // packet appearance).
    current: HashSet<K>,
    previous: HashSet<K>,
    /// Where appearances carry no common id: the packets of the last few
    /// milliseconds by content hash, each with the time of its latest
    /// appearance and the component edges it was logged at (see
    /// [`PktmonSeen::is_new_appearance`]).
    recent: HashMap<u64, Vec<(i64, Vec<u32>)>>,
    /// The last time of each loose content key (without the IPv4 id).
    recent_loose: HashMap<u64, i64>,
}

impl<K: std::hash::Hash + Eq> PktmonSeen<K> {
    /// Whether `k` is new in window `window`; remembers it.
    pub(super) fn insert(&mut self, k: K, window: u64) -> bool {
        self.turn(window);
        !self.previous.contains(&k) && self.current.insert(k)
    }

    /// Whether an appearance (`key`: content, component edge, time) is a
    /// packet not counted yet: no packet with this content in the last
    /// [`SAME_PACKET_NANOS`], or every such packet was already logged at
    /// this edge (one packet passes a component edge once: the same bytes
    /// there again are another packet, such as an mDNS announcement
    /// repeated a millisecond later). A drop is never a new packet when one
    /// with its content (IPv4 id aside) was just seen.
    fn is_new_appearance(&mut self, key: &SamePacketKey, window: u64, dropped: bool) -> bool {
        // Kept up to date as by `insert`: a set used this window is not stale.
        self.turn(window);
        let t = key.t;
        let near = |last: i64| t.saturating_sub(last) <= SAME_PACKET_NANOS;
        if self.recent.len() >= 256 {
            self.recent.retain(|_, packets| {
                packets.retain(|(last, _)| near(*last));
                !packets.is_empty()
            });
            self.recent_loose.retain(|_, last| near(*last));
        }
        // A drop ends a packet's way, and TCPIP's copy of the packet has no
        // IPv4 id: it belongs to the packet last seen with the same loose
        // key, however many locations of one component report it (a
        // multicast datagram, once per socket).
        let seen_loose = self.recent_loose.insert(key.loose, t);
        if dropped && seen_loose.is_some_and(near) {
            return false;
        }
        // The earliest recent packet with this content not yet logged at
        // this edge is the one climbing: packets alike (two mDNS datagrams)
        // can climb the stack in step, each logged at each edge in turn.
        let packets = self.recent.entry(key.full).or_default();
        packets.retain(|(last, _)| near(*last));
        match packets
            .iter_mut()
            .find(|(_, edges)| !edges.contains(&key.edge))
        {
            Some((last, edges)) => {
                *last = t;
                edges.push(key.edge);
                false
            }
            None => {
                packets.push((t, vec![key.edge]));
                true
            }
        }
    }

    /// Moves on to window `window`: the current set becomes the previous.
    fn turn(&mut self, window: u64) {
        if window != self.window {
            if window == self.window + 1 {
                self.previous = std::mem::take(&mut self.current);
            } else {
                self.previous.clear();
                self.current.clear();
            }
            self.window = window;
        }
    }

    /// Whether it remembers nothing a window from `window` on can match.
    fn stale(&self, window: u64) -> bool {
        self.window + 2 <= window
    }
}

/// The id of the connection at `index`: `C0001` is index 0.
pub fn conn_id(index: u32) -> String {
    format!("C{:04}", u64::from(index) + 1)
}

impl Connection {
    pub(crate) fn new(id: usize, proto: Proto) -> Self {
        Connection {
            id: conn_id(id as u32),
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
            event_count: 0,
            first_events: Vec::new(),
            syn_evidence: Vec::new(),
            retransmit_evidence: Vec::new(),
            header_pid: None,
            sources: BTreeSet::new(),
            last_window: 0,
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
            pktmon_seen: None,
        }
    }

    pub fn final_state(&self) -> Option<&str> {
        self.states.last().map(|s| s.as_ref())
    }

    pub fn duration_s(&self) -> Option<f64> {
        let (a, b) = (self.first_key?, self.last_key?);
        // Timestamps span 1677-2262 as i64 nanoseconds: a garbled year can
        // put two of them further apart than an i64 holds.
        Some(b.saturating_sub(a) as f64 / 1e9)
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
        if !self.history.contains(c) {
            self.history.push(c);
        }
    }

    fn push_state(&mut self, s: &str) {
        if self.states.last().map(|x| x.as_ref()) != Some(s) {
            self.states.push(state_name(s));
        }
    }

    fn touch(&mut self, ev: &Event, key: Option<i64>) {
        let pos: TimelinePos = (key.unwrap_or(i64::MIN), ev.source.file, ev.source.line);
        self.event_count += 1;
        keep_earliest(&mut self.first_events, (pos, ev.source), 5);
        if ev.packet.as_deref().is_some_and(|p| flags_of(p).0) {
            keep_earliest(&mut self.syn_evidence, (pos, ev.source), 10);
        }
        if matches!(ev.kind, Kind::TcpRetransmit | Kind::KernelTcpRetransmit) {
            keep_earliest(&mut self.retransmit_evidence, (pos, ev.source), 10);
        }
        if let Some(pid) = ev.header_pid.filter(|p| *p > 4)
            && ev.layer != Layer::Pktmon
            && self.header_pid.is_none_or(|(p, _, _)| pos < p)
        {
            self.header_pid = Some((pos, pid, ev.source));
        }
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

/// The connections by index (`C0001` is index 0). In a streaming run,
/// closed connections are retired: their connections.csv row and findings
/// are kept in [`Retired`] and their slot is emptied, so memory holds only
/// the connections still open (and recently closed).
#[derive(Debug, Default)]
pub struct Connections {
    slots: Vec<Option<Box<Connection>>>,
    /// Indexes of the connections in memory, ascending: what each window
    /// walks, so its cost follows the open connections, not every
    /// connection of the trace. May name retired slots until
    /// [`Connections::compact`].
    live: Vec<u32>,
}

impl Connections {
    /// Connections ever made, retired ones included.
    pub fn len(&self) -> usize {
        self.slots.len()
    }
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
    /// A connection that is still in memory.
    pub fn get(&self, i: usize) -> Option<&Connection> {
        self.slots.get(i)?.as_deref()
    }
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Connection> {
        self.slots.get_mut(i)?.as_deref_mut()
    }
    fn push(&mut self, c: Connection) {
        self.live.push(self.slots.len() as u32);
        self.slots.push(Some(Box::new(c)));
    }
    fn take(&mut self, i: usize) -> Option<Connection> {
        self.slots.get_mut(i)?.take().map(|b| *b)
    }
    /// Puts a connection read back from the flow spill into its empty slot.
    fn put_back(&mut self, i: u32, c: Connection) {
        if let Some(slot @ None) = self.slots.get_mut(i as usize) {
            *slot = Some(Box::new(c));
            if let Err(at) = self.live.binary_search(&i) {
                self.live.insert(at, i);
            }
        }
    }
    /// Forgets retired slots in `live`.
    fn compact(&mut self) {
        let slots = &self.slots;
        self.live
            .retain(|&i| slots.get(i as usize).is_some_and(Option::is_some));
    }
    /// The indexes of the connections in memory, ascending.
    fn live_indexes(&self) -> Vec<u32> {
        self.iter_indexed().map(|(i, _)| i).collect()
    }
    /// The connections in memory, in index order.
    pub fn iter(&self) -> impl Iterator<Item = &Connection> {
        self.iter_indexed().map(|(_, c)| c)
    }
    /// The connections in memory with their index.
    pub fn iter_indexed(&self) -> impl Iterator<Item = (u32, &Connection)> {
        self.live
            .iter()
            .filter_map(|&i| Some((i, self.slots.get(i as usize)?.as_deref()?)))
    }
}

impl<'a> IntoIterator for &'a Connections {
    type Item = &'a Connection;
    type IntoIter = Box<dyn Iterator<Item = &'a Connection> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// Formats a retired connection's connections.csv record (without the
/// header line).
pub type RowFormatter = Box<dyn FnMut(&Connection, &Analysis) -> Vec<u8> + Send>;

/// What is kept of retired connections: their connections.csv records and
/// rule (f) facts in spill files, their findings, and a 16-byte index entry
/// each. Nothing else of a retired connection stays in memory, so a trace
/// of millions of short connections runs in the memory of its open ones.
#[derive(Default)]
pub struct Retired {
    /// Where each record is in `rows_spill`, in retirement order.
    rows: Vec<RowRef>,
    rows_spill: Spill,
    /// (rule slot, connection index, finding) for rules (b)–(e): only the
    /// connections that have a finding.
    pub findings: Vec<(usize, u32, Finding)>,
    /// Rule (f) facts, [`findings::PeriodicStart::RECORD_LEN`] bytes each.
    periodic_spill: Spill,
}

/// A retired connections.csv record: (offset in the spill, connection
/// index, length), packed into 16 bytes.
#[derive(Debug, Clone, Copy)]
pub struct RowRef {
    pub offset: u64,
    pub index: u32,
    pub len: u32,
}

impl std::fmt::Debug for Retired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retired")
            .field("rows", &self.rows.len())
            .finish()
    }
}

impl Retired {
    fn store(&mut self, index: u32, row: &[u8]) -> std::io::Result<()> {
        let len = u32::try_from(row.len()).map_err(std::io::Error::other)?;
        let offset = self.rows_spill.append(row)?;
        self.rows.push(RowRef { offset, index, len });
        Ok(())
    }

    fn store_periodic(&mut self, p: &findings::PeriodicStart) -> std::io::Result<()> {
        let mut rec = [0u8; findings::PeriodicStart::RECORD_LEN];
        p.encode(&mut rec);
        self.periodic_spill.append(&rec).map(|_| ())
    }

    /// How many connections were retired.
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The retired records by connection index: borrowed once the
    /// analysis is finished (which sorts them in place), else a sorted copy.
    pub fn records(&self) -> std::borrow::Cow<'_, [RowRef]> {
        if self.rows.is_sorted_by_key(|r| r.index) {
            std::borrow::Cow::Borrowed(&self.rows)
        } else {
            let mut v = self.rows.clone();
            v.sort_unstable_by_key(|r| r.index);
            std::borrow::Cow::Owned(v)
        }
    }

    /// Reads one record back.
    pub fn read(&self, offset: u64, len: u32) -> std::io::Result<Vec<u8>> {
        self.rows_spill.read(offset, len as usize)
    }

    /// The retired connections' rule (f) facts, read back from their spill
    /// a block at a time (the whole spill is 47 bytes per connection).
    pub fn for_each_periodic_start(
        &self,
        mut f: impl FnMut(findings::PeriodicStart),
    ) -> std::io::Result<()> {
        const RECORDS_PER_READ: u64 = 4096;
        let len = findings::PeriodicStart::RECORD_LEN as u64;
        let total = self.periodic_spill.len / len * len;
        let mut at = 0;
        while at < total {
            let n = (total - at).min(RECORDS_PER_READ * len);
            let block = self.periodic_spill.read(at, n as usize)?;
            block
                .chunks_exact(len as usize)
                .filter_map(findings::PeriodicStart::decode)
                .for_each(&mut f);
            at += n;
        }
        Ok(())
    }
}

/// An append-only temporary file with a write buffer (records are small:
/// one `write` per record would be a system call per retired connection).
#[derive(Default)]
struct Spill {
    file: Option<std::fs::File>,
    /// Bytes in the file.
    flushed: u64,
    /// Bytes not yet written, which follow `flushed`.
    pending: Vec<u8>,
    /// `flushed + pending.len()`.
    len: u64,
}

impl Spill {
    const FLUSH_AT: usize = 256 * 1024;

    /// Appends `bytes`, returning their offset.
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<u64> {
        let offset = self.len;
        self.pending.extend_from_slice(bytes);
        self.len += bytes.len() as u64;
        if self.pending.len() >= Self::FLUSH_AT {
            self.flush()?;
        }
        Ok(offset)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        use std::io::Write;
        if self.pending.is_empty() {
            return Ok(());
        }
        if self.file.is_none() {
            self.file = Some(spill_file()?);
        }
        if let Some(f) = &mut self.file {
            // Reads move the file position: write at the end.
            use std::io::Seek;
            f.seek(std::io::SeekFrom::Start(self.flushed))?;
            f.write_all(&self.pending)?;
        }
        self.flushed += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// Reads `len` bytes at `offset`, from the file and the write buffer.
    fn read(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        let end = offset.saturating_add(len as u64);
        if end > self.len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "read past the end of the spill file",
            ));
        }
        let mut buf = vec![0u8; len];
        let from_file = (self.flushed.min(end).saturating_sub(offset)) as usize;
        if from_file > 0
            && let (Some(mut f), Some(head)) = (self.file.as_ref(), buf.get_mut(..from_file))
        {
            f.seek(SeekFrom::Start(offset))?;
            f.read_exact(head)?;
        }
        if from_file < len {
            // The rest is past the flushed part: offset + from_file is at
            // or after `flushed` (a record wholly in the file has no rest).
            let start_in_pending = offset
                .saturating_add(from_file as u64)
                .saturating_sub(self.flushed) as usize;
            if let (Some(src), Some(dst)) = (
                self.pending
                    .get(start_in_pending..start_in_pending + (len - from_file)),
                buf.get_mut(from_file..),
            ) {
                dst.copy_from_slice(src);
            }
        }
        Ok(buf)
    }
}

/// A temporary file, unlinked at once where the OS allows it (it lives
/// until closed); where it does not (Windows), it stays in the temp folder,
/// named for the process.
fn spill_file() -> std::io::Result<std::fs::File> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "etwnet-{}-{n}.connections.spill",
        std::process::id()
    ));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let _ = std::fs::remove_file(&path);
    Ok(f)
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
    pub connections: Connections,
    /// Connections retired from memory (streaming runs only).
    pub retired: Retired,
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
    /// The index of the in-memory connection an event was joined to.
    pub(crate) fn conn_index_of(&self, r: EvRef) -> Option<u32> {
        let c = (*self.conn_of.get(r.0 as usize)?.get(r.1 as usize)?)?;
        self.connections.get(c as usize).map(|_| c)
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
    /// The window in which the endpoint was closed (AFD cleanup/close).
    closed_in: Option<u64>,
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

/// A place in the timeline: (time key, file, line). Events compare in the
/// order the whole-input analysis sorts them (untimed events inherit the key
/// of the event before them), whatever window they were decoded in.
pub type TimelinePos = (i64, u32, u64);

/// Keeps the `n` earliest entries.
fn keep_earliest<T: Ord>(v: &mut Vec<T>, item: T, n: usize) {
    if v.len() >= n {
        if v.last().is_none_or(|l| &item >= l) {
            return;
        }
        // The last one makes room for the item (no growth when full).
        v.truncate(n.saturating_sub(1));
    } else if v.len() == v.capacity() {
        // Grown to `n` at most: a doubling would make room for 8 of 5 first
        // events, 120 bytes a flow of tens of thousands.
        let room = (v.len() * 2).clamp(4, n);
        v.reserve_exact(room - v.len());
    }
    let at = v.partition_point(|x| x < &item);
    v.insert(at, item);
}

/// An AFD accept/connect/bind/listen seen in an earlier window, kept so a
/// connection that starts in the next window can still join it.
#[derive(Debug, Clone)]
struct AfdCandidate {
    kind: Kind,
    endpoint: Option<u64>,
    endpoint2: Option<u64>,
    remote: Option<Endpoint>,
    key: Option<i64>,
    source: SourceRef,
}

/// A received byte count of 1 seen at the end of a window: whether it is
/// the FIN's sequence byte depends on the next event of the same TCB, which
/// is in the next window.
#[derive(Debug, Clone)]
struct DeferredFin {
    conn: u32,
    tcb: u64,
    file: u32,
    /// Events of that file still to look at in the next window.
    lookahead: usize,
}

/// Correlation state that outlives one window of events: the connections
/// and the indexes that join later events to them. Memory grows with the
/// number of connections and endpoints, not with the number of events.
pub struct Correlator {
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
    /// Listener pointers and the base endpoints they replaced → listener row.
    socket_of: HashMap<u64, u32>,
    /// AFD endpoint → the connection it was joined to.
    endpoint_conn: HashMap<u64, u32>,
    /// The previous window's AFD join candidates.
    afd_carry: Vec<AfdCandidate>,
    deferred_fin: Vec<DeferredFin>,
    /// The last time key per file, inherited by untimed events.
    last_key: HashMap<u32, i64>,
    /// netstat rows with a PID, for the last-resort attribution.
    netstat: Vec<Event>,
    drops: drops::DropAccumulator,
    /// Set for streaming runs: closed connections leave memory.
    retire: Option<RowFormatter>,
    /// Windows correlated so far (the current window's number).
    windows: u64,
    /// Idle packet-only flows out of memory (streaming runs): their state
    /// records, and where each flow's record is (offset, length). Their
    /// tuple and port indexes stay, so a later event finds them.
    flow_spill: Spill,
    spilled_flows: HashMap<u32, (u64, u32)>,
    /// A flow that could not be read back, reported by the window.
    flow_spill_error: Option<std::io::Error>,
    /// The first PktMon packet identities of each file, to tell a capture
    /// and its conversion given together (finding g).
    packet_prints: findings::PacketPrints,
    /// Files whose PktMon packets carry a PktGroupId of their own at each
    /// appearance (see [`same_packet_key`]).
    per_appearance_ids: HashSet<crate::event::FileId>,
}

/// netstat rows, then the trace prefix PID, for a connection still without
/// a PID of medium confidence or better.
fn fallback_attribution(netstat: &[Event], conn: &mut Connection) {
    if conn
        .attribution
        .as_ref()
        .is_some_and(|a| a.confidence >= Confidence::Medium)
    {
        return;
    }
    let (local, remote, proto) = (conn.local, conn.remote, conn.proto);
    // netstat rows in file order (they are kept in the order they came).
    let hit = netstat.iter().find(|e| {
        e.proto == Some(proto)
            && same_ep(e.local, local)
            && (proto == Proto::Udp
                || same_ep(e.remote, remote)
                || (conn.direction == ConnDirection::Listener))
    });
    if let (Some(e), Some(pid)) = (hit, hit.and_then(|e| e.pid)) {
        conn.attribute(Attribution {
            pid,
            confidence: Confidence::Medium,
            how: "netstat row with the same addresses".into(),
            evidence: vec![e.source],
        });
        return;
    }
    // Last resort: the trace prefix PID, if it is not 0/4.
    if let Some((_, pid, src)) = conn.header_pid {
        conn.attribute(Attribution {
            pid,
            confidence: Confidence::Low,
            how: "trace prefix PID only (often 0, 4 or the DPC's context: unreliable)".into(),
            evidence: vec![src],
        });
    }
}

/// What follows a one-byte receive on the same TCB.
enum NextOnTcb {
    /// The next TCPIP event on the TCB moves it to a FIN-received state.
    Fin,
    /// Another event comes first, or none within the lookahead.
    Other,
    /// The window ended before the lookahead: `lookahead` events of the next
    /// window still count.
    WindowEnd { lookahead: usize },
}

/// How many later events of the same file are searched for the TCB's next event.
const FIN_LOOKAHEAD: usize = 8;

fn fin_or_other(evs: &[Event], tcb: u64) -> Option<bool> {
    evs.iter()
        .filter(|e| e.tcb == Some(tcb) && e.layer == Layer::Tcpip)
        .find(|e| {
            matches!(
                e.kind,
                Kind::TcpStateChange | Kind::TcpDataSent | Kind::TcpDataReceived
            )
        })
        .map(|e| {
            e.kind == Kind::TcpStateChange
                && matches!(
                    e.state_to.as_deref(),
                    Some("CloseWait" | "Closing" | "TimeWait")
                )
        })
}

fn next_on_tcb(d: &Decoded, r: EvRef, tcb: u64) -> NextOnTcb {
    let Some(evs) = d.events.get(r.0 as usize) else {
        return NextOnTcb::Other;
    };
    let from = (r.1 as usize + 1).min(evs.len());
    let to = (from + FIN_LOOKAHEAD).min(evs.len());
    match fin_or_other(&evs[from..to], tcb) {
        Some(true) => NextOnTcb::Fin,
        Some(false) => NextOnTcb::Other,
        None if to - from < FIN_LOOKAHEAD => NextOnTcb::WindowEnd {
            lookahead: FIN_LOOKAHEAD - (to - from),
        },
        None => NextOnTcb::Other,
    }
}

struct Builder<'a> {
    d: &'a Decoded,
    s: &'a mut Correlator,
}

/// Whether correlation reads an event at all. Runs that write no events.csv
/// drop the others as soon as they are decoded (noise providers, WPP,
/// converter banners), so they cost no memory or correlation time.
pub fn is_relevant(ev: &Event) -> bool {
    match ev.layer {
        Layer::Afd
        | Layer::Tcpip
        | Layer::Packet
        | Layer::Pktmon
        | Layer::Kernel
        | Layer::Wfp
        | Layer::Process
        | Layer::SocketTable => true,
        Layer::Trace | Layer::Other => {
            ev.process_name.is_some()
                || is_drop(ev.kind)
                || matches!(
                    ev.kind,
                    Kind::PktmonComponent | Kind::Packet | Kind::ProcessInfo | Kind::SocketRow
                )
        }
    }
}

/// How far apart the appearances of one packet may be: they are logged
/// microseconds apart as it climbs the stack (at most ~0.1 ms in the real
/// captures).
pub(super) const SAME_PACKET_NANOS: i64 = 2_000_000;

/// What the appearances of one packet share where PktMon gives each its
/// own PktGroupId and Appearance 0 (captures of Windows 11 24H2, builds
/// 26100 and 26200 among the real samples, where one packet was logged at
/// up to 12 components as 12 "packets"): a hash of its direction,
/// addresses, ports, IPv4 Identification, TCP sequence, acknowledgement,
/// flags and window, payload length and first bytes (and one without the
/// Identification, which TCPIP's copy of a dropped packet has as 0); with
/// the appearance's component and edge, and time. `None` without a time,
/// a component or addresses (then every appearance counts). Text
/// conversions carry no bytes and no Identification: two packets alike in
/// every header field within 2 ms are told apart there only by passing an
/// edge twice.
pub(super) fn same_packet_key(ev: &Event, p: &crate::event::PacketInfo) -> Option<SamePacketKey> {
    use crate::etl::packet::stable_hash;
    let t = ev.ts?.nanos;
    // A frame with no addresses (an 802.11 management frame) has nothing
    // that tells it from the frames around it.
    ev.local.or(ev.remote)?;
    // A packet passes each edge of a component once (a filter's lower and
    // upper edge are two appearances of it).
    let edge = (p.component? << 16) | (p.edge.unwrap_or(0) & 0xFFFF);
    let loose = stable_hash((
        ev.direction,
        ev.proto,
        ev.local,
        ev.remote,
        p.seq,
        p.ack,
        p.tcp_flags.as_deref(),
        p.window,
        p.payload_len,
        p.payload_prefix,
    ));
    Some(SamePacketKey {
        full: stable_hash((loose, p.ip_id)),
        loose,
        edge,
        t,
    })
}

/// [`same_packet_key`]'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SamePacketKey {
    /// The content hash, the IPv4 id included.
    pub full: u64,
    /// The same without the IPv4 id (TCPIP's copy of a dropped packet has 0).
    pub loose: u64,
    /// Component and edge of the appearance.
    pub edge: u32,
    /// Its time, in nanoseconds.
    pub t: i64,
}

/// Frees what correlation never reads of a relevant event when no
/// events.csv is written: the message text and the packet summary, except
/// on drop events (a drop group quotes its first drop), MAC addresses, and
/// the named fields of plain packets (their typed slots and `packet` carry
/// what correlation uses). A window holds ~50,000 events and a PktMon
/// packet's text is most of its size. Correlation, and the outputs built
/// from it, must read `message` and `packet.summary` only on drop events,
/// MACs never, and `fields` never on plain packets.
fn shed_for_correlation(ev: &mut Event) {
    if ev.kind == Kind::Packet {
        ev.fields = Default::default();
    }
    if let Some(p) = &mut ev.packet {
        p.src_mac = None;
        p.dst_mac = None;
        if !is_drop(ev.kind) {
            p.summary = None;
        }
    }
    if !is_drop(ev.kind) {
        ev.message = String::new();
    }
}

/// Whether correlation reads `ev` ([`is_relevant`]); if so, sheds what it
/// never reads of it ([`shed_for_correlation`]).
pub fn keep_for_correlation(ev: &mut Event) -> bool {
    if !is_relevant(ev) {
        return false;
    }
    shed_for_correlation(ev);
    true
}

fn is_drop(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::PacketDrop
            | Kind::NetworkDrop
            | Kind::TransportDrop
            | Kind::AfdDatagramDrop
            | Kind::WfpDrop
    )
}

/// Correlates all decoded events (one window: the whole input).
pub fn analyze(d: &Decoded, tz: Option<i16>) -> Analysis {
    let mut c = Correlator::new(tz);
    // Nothing is retired here, so the window cannot fail.
    let _ = c.window(d);
    c.finish_keep_window()
}

impl Correlator {
    pub fn new(tz: Option<i16>) -> Self {
        Correlator {
            tz,
            a: Analysis::default(),
            by_tcb: HashMap::default(),
            by_listener: HashMap::default(),
            by_tuple: HashMap::default(),
            tcb_by_tuple: HashMap::default(),
            by_ports: HashMap::default(),
            afd: HashMap::default(),
            proc_objects: HashMap::default(),
            socket_of: HashMap::default(),
            endpoint_conn: HashMap::default(),
            afd_carry: Vec::new(),
            deferred_fin: Vec::new(),
            last_key: HashMap::default(),
            netstat: Vec::new(),
            drops: drops::DropAccumulator::default(),
            retire: None,
            windows: 0,
            flow_spill: Spill::default(),
            spilled_flows: HashMap::default(),
            flow_spill_error: None,
            packet_prints: findings::PacketPrints::default(),
            per_appearance_ids: HashSet::default(),
        }
    }

    /// Retire closed TCP connections that saw no event for two windows:
    /// `format` makes their connections.csv record,
    /// which goes to a spill file with their findings. Memory then holds
    /// the open connections, not every connection of the trace.
    pub fn retire_closed(&mut self, format: RowFormatter) {
        self.retire = Some(format);
    }

    /// The analysis so far (connections, process table, components); its
    /// `order`/`keys`/`conn_of` describe the last window.
    pub fn analysis(&self) -> &Analysis {
        &self.a
    }

    /// Correlates one window of events. Windows must come in file order;
    /// events of a window may be dropped after this returns (and after the
    /// window's events.csv rows are written from [`Correlator::analysis`]).
    pub fn window(&mut self, d: &Decoded) -> std::io::Result<()> {
        let mut b = Builder { d, s: self };
        b.resolve_deferred_fin();
        b.order_events();
        let tz = b.s.tz;
        let netstat_before = b.s.netstat.len();
        for ev in d.all_events() {
            b.s.a.processes.add(ev, ev.ts.map(|t| t.sort_key(tz)));
            if ev.kind == Kind::SocketRow && ev.pid.is_some() {
                b.s.netstat.push(ev.clone());
            }
        }
        if b.s.netstat.len() > netstat_before {
            // Files may arrive out of id order (small files first).
            b.s.netstat.sort_by_key(|e| e.source);
        }
        b.components();
        b.afd_table();
        let order = std::mem::take(&mut b.s.a.order);
        // Stack events first, so TCB connections know their 4-tuple before
        // packets (which may precede the accept event) are joined to them.
        for &r in &order {
            b.event(r);
        }
        b.join_listener_endpoints(&order);
        for c in b.s.a.connections.live_indexes() {
            b.index_ports(c);
        }
        for &r in &order {
            if let Some(ev) = b.s.a.event(d, r)
                && matches!(ev.layer, Layer::Packet | Layer::Pktmon)
                && matches!(ev.kind, Kind::Packet | Kind::PacketDrop)
            {
                b.s.packet_prints.add(ev);
                b.packet(r, ev);
            }
        }
        b.s.a.order = order;
        b.join_afd();
        let Builder { s, .. } = b;
        let now = s.windows;
        for c in s.a.connections.live_indexes() {
            if let Some(conn) = s.a.connections.get_mut(c as usize)
                && conn.pktmon_seen.as_ref().is_some_and(|p| p.stale(now + 1))
            {
                conn.pktmon_seen = None;
            }
        }
        s.drops.add_window(d, &s.a, now, &s.per_appearance_ids);
        s.retire_idle()?;
        s.windows += 1;
        match s.flow_spill_error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Reads back a flow that left memory, if `c` is one.
    fn restore(&mut self, c: u32) {
        let Some((offset, len)) = self.spilled_flows.remove(&c) else {
            return;
        };
        let conn = self.flow_spill.read(offset, len as usize).and_then(|rec| {
            flow_spill::decode(c, &rec)
                .ok_or_else(|| std::io::Error::other("a flow spill record does not read back"))
        });
        match conn {
            Ok(conn) => self.a.connections.put_back(c, conn),
            Err(e) => {
                self.flow_spill_error.get_or_insert(e);
            }
        }
    }

    /// Moves a flow idle for two windows to the flow spill.
    fn spill_flow(&mut self, i: u32, buf: &mut Vec<u8>) -> std::io::Result<()> {
        let Some(conn) = self.a.connections.take(i as usize) else {
            return Ok(());
        };
        buf.clear();
        flow_spill::encode(&conn, buf);
        let len = u32::try_from(buf.len()).map_err(std::io::Error::other)?;
        let offset = self.flow_spill.append(buf)?;
        self.spilled_flows.insert(i, (offset, len));
        Ok(())
    }

    /// Retires the flows still in the flow spill, as closed TCP connections
    /// are retired (connections.csv record, findings); streaming runs call
    /// it once every window is correlated, before [`Correlator::finish`].
    pub fn retire_spilled_flows(&mut self) -> std::io::Result<()> {
        let Some(mut format) = self.retire.take() else {
            return Ok(());
        };
        let mut spilled: Vec<u32> = self.spilled_flows.keys().copied().collect();
        spilled.sort_unstable();
        let mut result = Ok(());
        for i in spilled {
            self.restore(i);
            if let Some(e) = self.flow_spill_error.take() {
                result = Err(e);
                break;
            }
            if let Err(e) = self.retire_one(i, &mut format) {
                result = Err(e);
                break;
            }
        }
        self.a.connections.compact();
        self.flow_spill = Spill::default();
        self.retire = Some(format);
        result
    }

    /// Moves closed TCP connections idle for two windows out of memory.
    fn retire_idle(&mut self) -> std::io::Result<()> {
        let Some(mut format) = self.retire.take() else {
            return Ok(());
        };
        let now = self.windows;
        let idle: Vec<u32> = self
            .a
            .connections
            .iter_indexed()
            .filter(|(_, c)| {
                c.closed
                    && c.proto == Proto::Tcp
                    && c.tcb.is_some()
                    && c.direction != ConnDirection::Listener
                    && c.last_window + 2 <= now
            })
            .map(|(i, _)| i)
            .collect();
        let mut result = Ok(());
        for i in idle {
            if let Err(e) = self.retire_one(i, &mut format) {
                result = Err(e);
                break;
            }
        }
        // Packet-only flows have no close: idle ones leave for the flow
        // spill, and come back if their tuple is seen again.
        let idle_flows: Vec<u32> = self
            .a
            .connections
            .iter_indexed()
            .filter(|(_, c)| c.last_window + 2 <= now && flow_spill::spillable(c))
            .map(|(i, _)| i)
            .collect();
        let mut buf = Vec::new();
        for i in idle_flows {
            if result.is_err() {
                break;
            }
            result = self.spill_flow(i, &mut buf);
        }
        self.a.connections.compact();
        // A closed AFD endpoint is done with once the joins that may still
        // look it up have passed (AFD candidates wait one window) and no
        // connection in memory holds it; a later event with the same
        // pointer is a new socket. Without this every socket of the trace
        // would stay in the table.
        let endpoint_conn = &self.endpoint_conn;
        self.afd.retain(|ep, e| {
            e.closed_in.is_none_or(|w| w + 2 > now) || endpoint_conn.contains_key(ep)
        });
        self.retire = Some(format);
        result
    }

    fn retire_one(&mut self, i: u32, format: &mut RowFormatter) -> std::io::Result<()> {
        let Some(mut conn) = self.a.connections.take(i as usize) else {
            return Ok(());
        };
        fallback_attribution(&self.netstat, &mut conn);
        // Later events of its TCB, tuple or endpoint start afresh.
        if let Some(t) = conn.tcb
            && self.by_tcb.get(&t) == Some(&i)
        {
            self.by_tcb.remove(&t);
        }
        if let (Some(l), Some(r)) = (conn.local, conn.remote) {
            let key = (conn.proto, l, r);
            if self.tcb_by_tuple.get(&key) == Some(&i) {
                self.tcb_by_tuple.remove(&key);
            }
        }
        if let (Some(a), Some(b)) = (
            conn.local.and_then(|e| e.port),
            conn.remote.and_then(|e| e.port),
        ) {
            let key = (conn.proto, a.min(b), a.max(b));
            if let Some(v) = self.by_ports.get_mut(&key) {
                v.retain(|c| *c != i);
                if v.is_empty() {
                    self.by_ports.remove(&key);
                }
            }
        }
        if let Some(ep) = conn.endpoint
            && self.endpoint_conn.get(&ep) == Some(&i)
        {
            self.endpoint_conn.remove(&ep);
            self.afd.remove(&ep);
        }
        for (r, f) in findings::per_connection(&conn).into_iter().enumerate() {
            if let Some(f) = f {
                self.a.retired.findings.push((r, i, f));
            }
        }
        if let Some(p) = findings::PeriodicStart::of(i, &conn) {
            self.a.retired.store_periodic(&p)?;
        }
        let record = format(&conn, &self.a);
        self.a.retired.store(i, &record)
    }

    /// Ends the analysis: attribution fallbacks, drop groups, findings. The
    /// last window's `order`/`keys`/`conn_of` are kept (for a one-window
    /// analysis they describe every event).
    fn finish_keep_window(mut self) -> Analysis {
        // What is still deferred had no next event: not a FIN byte.
        for f in std::mem::take(&mut self.deferred_fin) {
            if let Some(conn) = self.a.connections.get_mut(f.conn as usize) {
                conn.bytes_received = conn.bytes_received.saturating_add(1);
                conn.mark(false, 'd');
            }
        }
        self.attribute_fallbacks();
        // connections.csv is written in index order: sorting here, in
        // place, spares a copy of the index (16 bytes a retired connection).
        self.a.retired.rows.sort_unstable_by_key(|r| r.index);
        let drops = std::mem::take(&mut self.drops);
        self.a.drops = drops.finish(&self.a);
        self.a.findings = findings::find(&self.a);
        self.a
            .findings
            .extend(findings::duplicate_captures(&self.packet_prints, self.tz));
        self.a
    }

    /// Ends the analysis (see [`Correlator::window`]).
    pub fn finish(self) -> Analysis {
        let mut a = self.finish_keep_window();
        a.order.clear();
        a.keys.clear();
        a.conn_of.clear();
        a
    }

    /// netstat rows, then the trace prefix PID, for connections still without one.
    fn attribute_fallbacks(&mut self) {
        for ci in self.a.connections.live_indexes() {
            if let Some(conn) = self.a.connections.get_mut(ci as usize) {
                fallback_attribution(&self.netstat, conn);
            }
        }
    }
}

impl Builder<'_> {
    /// One-byte receives left open by the previous window, decided by the
    /// first events of this one.
    fn resolve_deferred_fin(&mut self) {
        for f in std::mem::take(&mut self.s.deferred_fin) {
            let evs = self
                .d
                .events
                .get(f.file as usize)
                .map_or(&[][..], Vec::as_slice);
            let head = &evs[..f.lookahead.min(evs.len())];
            if fin_or_other(head, f.tcb) == Some(true) {
                continue;
            }
            if let Some(conn) = self.s.a.connections.get_mut(f.conn as usize) {
                conn.bytes_received = conn.bytes_received.saturating_add(1);
                conn.mark(false, 'd');
            }
        }
    }

    fn order_events(&mut self) {
        let mut order = Vec::new();
        self.s.a.keys.clear();
        self.s.a.conn_of.clear();
        for (fi, evs) in self.d.events.iter().enumerate() {
            let mut keys = Vec::with_capacity(evs.len());
            // Untimed events inherit the time of the event before them,
            // also across a window boundary.
            let mut last: Option<i64> = self.s.last_key.get(&(fi as u32)).copied();
            for (ei, ev) in evs.iter().enumerate() {
                let k = ev.ts.map(|t| t.sort_key(self.s.tz)).or(last);
                last = k;
                keys.push(k);
                order.push((fi as u32, ei as u32));
            }
            if let Some(k) = last {
                self.s.last_key.insert(fi as u32, k);
            }
            self.s.a.keys.push(keys);
            self.s.a.conn_of.push(vec![None; evs.len()]);
        }
        let keys = &self.s.a.keys;
        order.sort_by_key(|&(f, e)| (keys[f as usize][e as usize].unwrap_or(i64::MIN), f, e));
        self.s.a.order = order;
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
                self.s
                    .a
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
                self.s.proc_objects.entry(po).or_insert((pid, ev.source));
            }
            let Some(ep) = ev.endpoint else { continue };
            let e = self.s.afd.entry(ep).or_default();
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
            if matches!(ev.kind, Kind::AfdClose | Kind::AfdCleanup) {
                e.closed_in = Some(self.s.windows);
            }
        }
    }

    fn afd_pid(&self, ep: u64) -> Option<(u32, SourceRef)> {
        let e = self.s.afd.get(&ep)?;
        e.pid
            .or_else(|| self.s.proc_objects.get(&e.process_object?).copied())
    }

    fn new_conn(&mut self, proto: Proto) -> u32 {
        let i = self.s.a.connections.len();
        self.s.a.connections.push(Connection::new(i, proto));
        i as u32
    }

    fn assign(&mut self, c: u32, r: EvRef) {
        let (Some(ev), key) = (self.s.a.event(self.d, r), self.s.a.key_of(r)) else {
            return;
        };
        let window = self.s.windows;
        if let Some(conn) = self.s.a.connections.get_mut(c as usize) {
            conn.touch(ev, key);
            conn.last_window = window;
        }
        if let Some(slot) = self
            .s
            .a
            .conn_of
            .get_mut(r.0 as usize)
            .and_then(|v| v.get_mut(r.1 as usize))
        {
            *slot = Some(c);
        }
    }

    fn event(&mut self, r: EvRef) {
        let Some(ev) = self.s.a.event(self.d, r) else {
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
            let c = match self.s.by_listener.get(&l) {
                Some(c) => *c,
                None => {
                    let c = self.new_conn(Proto::Tcp);
                    self.s.by_listener.insert(l, c);
                    if let Some(conn) = self.s.a.connections.get_mut(c as usize) {
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
        let existing = self.s.by_tcb.get(&tcb).copied();
        let c = match existing {
            Some(c)
                if self
                    .s
                    .a
                    .connections
                    .get(c as usize)
                    .is_some_and(|conn| !(conn.closed && Self::starts_new(ev))) =>
            {
                c
            }
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
                self.s.by_tcb.insert(tcb, c);
                if let Some(conn) = self.s.a.connections.get_mut(c as usize) {
                    conn.tcb = Some(tcb);
                }
                c
            }
        };
        self.assign(c, r);
        let Some(conn) = self.s.a.connections.get_mut(c as usize) else {
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
                    conn.bytes_sent = conn.bytes_sent.saturating_add(n);
                    conn.mark(true, 'd');
                }
            }
            Kind::TcpDataReceived => {
                let n = ev.bytes.unwrap_or(0);
                // One byte followed by the move to CloseWait is the FIN's
                // sequence byte, not data.
                let control = n == 1
                    && (matches!(state_before.as_deref(), Some("SynSent") | None)
                        || match next_on_tcb(self.d, r, tcb) {
                            NextOnTcb::Fin => true,
                            NextOnTcb::Other => false,
                            NextOnTcb::WindowEnd { lookahead } => {
                                // Decided when the next window arrives.
                                self.s.deferred_fin.push(DeferredFin {
                                    conn: c,
                                    tcb,
                                    file: r.0,
                                    lookahead,
                                });
                                true
                            }
                        });
                if !control && n > 0 {
                    conn.bytes_received = conn.bytes_received.saturating_add(n);
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
            self.s.tcb_by_tuple.insert(key, c);
        }
    }

    fn flow(&mut self, proto: Proto, local: Option<Endpoint>, remote: Option<Endpoint>) -> u32 {
        let key = (proto, local, remote);
        if let Some(&c) = self.s.by_tuple.get(&key) {
            self.s.restore(c);
            return c;
        }
        let c = self.new_conn(proto);
        self.s.by_tuple.insert(key, c);
        if let Some(conn) = self.s.a.connections.get_mut(c as usize) {
            conn.local = local;
            conn.remote = remote;
        }
        self.index_ports(c);
        c
    }

    /// Adds a connection to the packet index once both its ports are known.
    fn index_ports(&mut self, c: u32) {
        let Some(conn) = self.s.a.connections.get(c as usize) else {
            return;
        };
        if let (Some(a), Some(b)) = (
            conn.local.and_then(|e| e.port),
            conn.remote.and_then(|e| e.port),
        ) {
            let v = self
                .s
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
        let Some(conn) = self.s.a.connections.get_mut(c as usize) else {
            return;
        };
        let n = ev.bytes.unwrap_or(0);
        if ev.kind == Kind::UdpSend {
            conn.packets_sent += 1;
            conn.bytes_sent = conn.bytes_sent.saturating_add(n);
        } else {
            conn.packets_received += 1;
            conn.bytes_received = conn.bytes_received.saturating_add(n);
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
        let c = match self.s.tcb_by_tuple.get(&(proto, local, remote)) {
            Some(c) => *c,
            None => self.flow(proto, Some(local), Some(remote)),
        };
        self.assign(c, r);
        let Some(conn) = self.s.a.connections.get_mut(c as usize) else {
            return;
        };
        let n = ev.bytes.unwrap_or(0);
        match ev.kind {
            Kind::KernelTcpSend | Kind::KernelUdpSend => {
                conn.packets_sent += 1;
                conn.bytes_sent = conn.bytes_sent.saturating_add(n);
                conn.mark(true, 'd');
            }
            Kind::KernelTcpRecv | Kind::KernelUdpRecv => {
                conn.packets_received += 1;
                conn.bytes_received = conn.bytes_received.saturating_add(n);
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
        let ports = match (src.port, dst.port) {
            (Some(p1), Some(p2)) => Some((proto, p1.min(p2), p1.max(p2))),
            _ => None,
        };
        // Flows of the bucket that left memory come back first: the choice
        // below is made among the same connections as if they had stayed.
        if !self.s.spilled_flows.is_empty()
            && let Some(v) = ports.and_then(|k| self.s.by_ports.get(&k))
            && v.iter().any(|i| self.s.spilled_flows.contains_key(i))
        {
            for i in v.clone() {
                self.s.restore(i);
            }
        }
        let bucket = ports
            .and_then(|k| self.s.by_ports.get(&k))
            .map_or(&[][..], Vec::as_slice);
        for &i in bucket {
            let Some(c) = self.s.a.connections.get(i as usize) else {
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
                (Some(k), Some(f), Some(l))
                    if k >= f.saturating_sub(slack) && k <= l.saturating_add(slack) =>
                {
                    0
                }
                (Some(k), Some(f), Some(l)) => k
                    .saturating_sub(f)
                    .saturating_abs()
                    .min(k.saturating_sub(l).saturating_abs()),
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
        let key = self.s.a.key_of(r);
        let window = self.s.windows;
        let Some((c, sent)) = self.packet_conn(ev, key) else {
            return;
        };
        self.assign(c, r);
        let Some(p) = ev.packet.as_ref() else { return };
        let file = ev.source.file;
        // PktMon logs one appearance per component: count a packet once,
        // by its (PktGroupId, PktNumber), or by its content where every
        // appearance has an id of its own.
        if ev.kind == Kind::Packet && p.appearance == Some(0) && p.pkt_group_id.is_some() {
            self.s.per_appearance_ids.insert(file);
        }
        let by_content = self.s.per_appearance_ids.contains(&file);
        let Some(conn) = self.s.a.connections.get_mut(c as usize) else {
            return;
        };
        let seen = conn.pktmon_seen.get_or_insert_with(Box::default);
        let repeated = match (p.pkt_group_id, p.pkt_number) {
            (Some(_), Some(_)) if by_content => same_packet_key(ev, p).is_some_and(|key| {
                !seen.is_new_appearance(&key, window, ev.kind == Kind::PacketDrop)
            }),
            (Some(g), Some(n)) => !seen.insert((file, g, n), window),
            _ => false,
        };
        if repeated {
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
                    conn.bytes_sent = conn
                        .bytes_sent
                        .saturating_add(u64::from(p.payload_len.unwrap_or(0)));
                } else {
                    conn.bytes_received = conn
                        .bytes_received
                        .saturating_add(u64::from(p.payload_len.unwrap_or(0)));
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
        for (l, c) in &self.s.by_listener {
            self.s.socket_of.entry(*l).or_insert(*c);
        }
        for &r in order {
            if let Some(ev) = self.s.a.event(self.d, r)
                && ev.layer == Layer::Tcpip
                && let (Some(a), Some(b)) = (ev.endpoint, ev.endpoint2)
                && let Some(c) = self.s.socket_of.get(&a).copied()
            {
                self.s.socket_of.entry(b).or_insert(c);
            }
        }
        for &r in order {
            let Some(ev) = self.s.a.event(self.d, r) else {
                continue;
            };
            if ev.layer != Layer::Tcpip || ev.tcb.is_some() || self.s.a.conn_id_of(r).is_some() {
                continue;
            }
            if let Some(c) = ev.endpoint.and_then(|e| self.s.socket_of.get(&e)).copied() {
                self.assign(c, r);
            }
        }
    }

    /// Joins AFD endpoints to TCP connections: accept (`Accept Endpoint` +
    /// remote address) and connect (remote address, nearest in time), then
    /// assigns the endpoint's AFD events to the connection. Candidates are
    /// this window's AFD events plus the previous window's (a connect logged
    /// just before a window boundary); a connection keeps the first endpoint
    /// it is joined to.
    fn join_afd(&mut self) {
        let mut afd_events: Vec<EvRef> = Vec::new();
        for &r in &self.s.a.order {
            if let Some(ev) = self.s.a.event(self.d, r)
                && ev.layer == Layer::Afd
            {
                afd_events.push(r);
            }
        }
        let mut cands: Vec<AfdCandidate> = std::mem::take(&mut self.s.afd_carry);
        let carried = cands.len();
        for &r in &afd_events {
            let Some(ev) = self.s.a.event(self.d, r) else {
                continue;
            };
            if matches!(
                ev.kind,
                Kind::AfdAccept | Kind::AfdConnect | Kind::AfdListen | Kind::AfdBind
            ) {
                cands.push(AfdCandidate {
                    kind: ev.kind,
                    endpoint: ev.endpoint,
                    endpoint2: ev.endpoint2,
                    remote: ev.remote,
                    key: self.s.a.key_of(r),
                    source: ev.source,
                });
            }
        }
        // Candidates by port (`same_ep` needs equal ports), so the join is
        // not connections × AFD events. Buckets keep timeline order, so the
        // nearest-first choice is unchanged.
        let mut by_remote_port: HashMap<Option<u16>, Vec<usize>> = HashMap::default();
        let mut by_bound_port: HashMap<Option<u16>, Vec<usize>> = HashMap::default();
        for (i, cand) in cands.iter().enumerate() {
            match cand.kind {
                Kind::AfdAccept | Kind::AfdConnect => {
                    if let Some(e) = cand.remote {
                        by_remote_port.entry(e.port).or_default().push(i);
                    }
                }
                _ => {
                    if let Some(b) = cand
                        .endpoint
                        .and_then(|e| self.s.afd.get(&e))
                        .and_then(|e| e.bound)
                    {
                        by_bound_port.entry(b.port).or_default().push(i);
                    }
                }
            }
        }
        if !cands.is_empty() {
            for ci in self.s.a.connections.live_indexes() {
                let ci = ci as usize;
                let Some(conn) = self.s.a.connections.get(ci) else {
                    continue;
                };
                if conn.endpoint.is_some() {
                    continue;
                }
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
                for &i in bucket.map_or(&[][..], Vec::as_slice) {
                    let Some(cand) = cands.get(i) else { continue };
                    let dist = match (cand.key, first) {
                        (Some(a), Some(b)) => (a - b).abs(),
                        _ => 0,
                    };
                    let ep = match (dir, cand.kind) {
                        (ConnDirection::Inbound, Kind::AfdAccept)
                            if cand.endpoint2.is_some() && same_ep(cand.remote, remote) =>
                        {
                            cand.endpoint2
                        }
                        (ConnDirection::Outbound, Kind::AfdConnect)
                            if same_ep(cand.remote, remote) =>
                        {
                            cand.endpoint
                        }
                        (ConnDirection::Listener, Kind::AfdListen | Kind::AfdBind) => {
                            let bound = cand
                                .endpoint
                                .and_then(|e| self.s.afd.get(&e))
                                .and_then(|e| e.bound);
                            if same_ep(bound, local) {
                                cand.endpoint
                            } else {
                                None
                            }
                        }
                        _ => None,
                    };
                    if let Some(e) = ep
                        && best.is_none_or(|b| dist < b.1)
                    {
                        best = Some((e, dist, cand.source));
                    }
                }
                if let Some((ep, _, src)) = best {
                    self.s.endpoint_conn.insert(ep, ci as u32);
                    let pid = self.afd_pid(ep);
                    let Some(conn) = self.s.a.connections.get_mut(ci) else {
                        continue;
                    };
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
        }
        // This window's candidates wait one more window for their connection.
        self.s.afd_carry = cands.split_off(carried);
        for r in afd_events {
            let Some(ev) = self.s.a.event(self.d, r) else {
                continue;
            };
            let c = ev
                .endpoint
                .and_then(|e| self.s.endpoint_conn.get(&e))
                .or_else(|| ev.endpoint2.and_then(|e| self.s.endpoint_conn.get(&e)))
                .copied();
            if let Some(c) = c {
                self.assign(c, r);
            } else if matches!(ev.kind, Kind::AfdSendTo | Kind::AfdRecvFrom) && ev.remote.is_some()
            {
                let local = ev.local.or_else(|| {
                    ev.endpoint
                        .and_then(|e| self.s.afd.get(&e))
                        .and_then(|e| e.bound)
                });
                let c = self.flow(Proto::Udp, local, ev.remote);
                self.assign(c, r);
                let pid = ev
                    .endpoint
                    .and_then(|e| self.afd_pid(e))
                    .or(ev.pid.map(|p| (p, ev.source)));
                if let (Some((pid, src)), Some(conn)) =
                    (pid, self.s.a.connections.get_mut(c as usize))
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
}

#[cfg(test)]
mod tests;
