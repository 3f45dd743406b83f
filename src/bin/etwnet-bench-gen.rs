//! Benchmark input generator and answer checker for etwnet.
//!
//! `etwnet-bench-gen gen --out DIR --size-mib N` writes, deterministically
//! (same seed, same size → same bytes):
//! - `netsh.txt`: netsh/tracefmt text with thousands of concurrent TCP
//!   connections through full lifecycles (AFD socket/send/closesocket, TCPIP
//!   connect request, state changes, sends, receives, retransmits, FIN
//!   handshakes, close) interleaved with noise from other providers (WPP
//!   `[nt]` lines, providers without a schema, converter banners);
//! - `pktmon.txt`: PktMon text in UTF-16LE (BOM, CRLF) with packets that cross
//!   several components (NIC → filter → protocol) and drops with reasons;
//! - `tracerpt.xml`: `tracerpt -of XML` events (an `<Events>` root, one
//!   element over many lines) carrying TCPIP connection lifecycles;
//! - `expected_<input>.json`: the answer a correct decode gives (connection
//!   count, bytes and retransmits per connection, drop counts per reason).
//!
//! `etwnet-bench-gen check --expected FILE --dir TIMELINE_DIR` compares an
//! `etwnet timeline` output folder (connections.csv, drops.csv) with the
//! expected answer and exits non-zero on a mismatch.
//!
//! The message forms are the ones the netsh, PktMon and XML decoders
//! recognise (see samples/seed002_netsh.txt and the schemas); the values are
//! synthetic.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};

#[derive(Parser)]
#[command(
    name = "etwnet-bench-gen",
    about = "Generate etwnet benchmark inputs and check answers"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write benchmark inputs and their expected answers into a folder.
    Gen {
        #[arg(long, short = 'o')]
        out: PathBuf,
        /// Approximate size of each input in MiB.
        #[arg(long, default_value_t = 100)]
        size_mib: u64,
        /// Which inputs: any of netsh, pktmon, xml (comma separated).
        #[arg(long, default_value = "netsh,pktmon,xml")]
        inputs: String,
        /// Concurrent TCP connections kept open at once.
        #[arg(long, default_value_t = 4000)]
        concurrent: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Check an `etwnet timeline` output folder against an expected answer.
    Check {
        #[arg(long)]
        expected: PathBuf,
        /// The timeline output folder (connections.csv, drops.csv).
        #[arg(long)]
        dir: PathBuf,
    },
}

/// The expected answer for one generated input.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Expected {
    pub input: String,
    pub bytes: u64,
    pub lines: u64,
    /// TCP connections (TCB lifecycles) in the input.
    pub tcp_connections: u64,
    pub bytes_sent_total: u64,
    pub bytes_received_total: u64,
    pub retransmits_total: u64,
    /// `local|remote` → [bytes sent, bytes received, retransmits].
    pub per_connection: BTreeMap<String, [u64; 3]>,
    /// Dropped packets in total and per drop reason text.
    pub drops_total: u64,
    pub drops_by_reason: BTreeMap<String, u64>,
    /// Packet flows (5-tuples) seen by PktMon.
    pub packet_flows: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Gen {
            out,
            size_mib,
            inputs,
            concurrent,
            seed,
        } => generate(&out, size_mib << 20, &inputs, concurrent.max(1), seed),
        Cmd::Check { expected, dir } => check(&expected, &dir),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("etwnet-bench-gen: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn generate(
    out: &Path,
    target: u64,
    inputs: &str,
    concurrent: usize,
    seed: u64,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    for which in inputs.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (file, exp) = match which {
            "netsh" => {
                let p = out.join("netsh.txt");
                (p.clone(), gen_netsh(&p, target, concurrent, seed)?)
            }
            "pktmon" => {
                let p = out.join("pktmon.txt");
                (p.clone(), gen_pktmon(&p, target, seed)?)
            }
            "xml" => {
                let p = out.join("tracerpt.xml");
                (p.clone(), gen_xml(&p, target, concurrent, seed)?)
            }
            other => bail!("unknown input kind '{other}' (netsh, pktmon, xml)"),
        };
        let ep = out.join(format!("expected_{which}.json"));
        let f = BufWriter::new(File::create(&ep)?);
        serde_json::to_writer_pretty(f, &exp)?;
        eprintln!(
            "wrote {} ({} bytes, {} lines, {} TCP connections, {} drops) and {}",
            file.display(),
            exp.bytes,
            exp.lines,
            exp.tcp_connections,
            exp.drops_total,
            ep.display()
        );
    }
    Ok(())
}

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// A synthetic clock: 100 ns ticks from 2025-03-27 16:00:00 local.
struct Clock {
    ticks: u64,
}
impl Clock {
    fn advance(&mut self, rng: &mut Rng) {
        self.ticks += 3 + rng.below(40);
    }
    fn hms(&self) -> (u64, u64, u64, u64) {
        let secs = self.ticks / 10_000_000;
        let frac = (self.ticks % 10_000_000) * 100;
        let h = 16 + secs / 3600;
        ((h % 24), (secs / 60) % 60, secs % 60, frac)
    }
    /// netsh form: `2025/03/27-16:12:13.966003800`.
    fn netsh(&self, out: &mut String) {
        let (h, m, s, f) = self.hms();
        use std::fmt::Write as _;
        let _ = write!(out, "2025/03/27-{h:02}:{m:02}:{s:02}.{f:09}");
    }
    /// PktMon form: `2025-03-27 16:10:34.934020500`.
    fn pktmon(&self, out: &mut String) {
        let (h, m, s, f) = self.hms();
        use std::fmt::Write as _;
        let _ = write!(out, "2025-03-27 {h:02}:{m:02}:{s:02}.{f:09}");
    }
    /// XML SystemTime: `2025-03-27T16:10:34.934020500Z`.
    fn xml(&self, out: &mut String) {
        let (h, m, s, f) = self.hms();
        use std::fmt::Write as _;
        let _ = write!(out, "2025-03-27T{h:02}:{m:02}:{s:02}.{f:09}Z");
    }
}

/// One synthetic TCP connection's lifecycle state.
struct Conn {
    tcb: u64,
    endpoint: u64,
    process_object: u64,
    pid: u32,
    tid: u32,
    cpu: u32,
    local: String,
    remote: String,
    step: u32,
    data_left: u32,
    snd_nxt: u64,
    rcv_nxt: u64,
    sent: u64,
    received: u64,
    retransmits: u64,
    /// Bytes of the TCPIP send that follows an AFD send.
    pending_data: u64,
    /// A FIN receive whose state change must follow on the next line.
    pending_timewait: bool,
}

fn new_conn(index: u64, rng: &mut Rng) -> Conn {
    // Unique 4-tuples: the connection index picks the local address and port.
    let lport = 49152 + (index % 16000);
    let lnet = index / 16000;
    let pid = 1000 + 4 * (index % 37) as u32;
    Conn {
        tcb: 0xFFFF_E189_0000_0000 + index * 0x200,
        endpoint: 0xFFFF_D001_0000_0000 + index * 0x100,
        process_object: 0xFFFF_A000_0000_0000 + u64::from(pid) * 0x1000,
        pid,
        tid: 0x100 + (index % 251) as u32 * 4,
        cpu: (index % 8) as u32,
        local: format!(
            "10.{}.{}.{}:{lport}",
            1 + (lnet >> 16) % 200,
            (lnet >> 8) & 255,
            lnet & 255
        ),
        remote: format!(
            "172.{}.{}.{}:{}",
            16 + index % 8,
            (index >> 3) % 256,
            1 + (index >> 11) % 250,
            [443u64, 80, 445, 3389, 8080][(index % 5) as usize]
        ),
        step: 0,
        data_left: 4 + rng.below(24) as u32,
        snd_nxt: rng.below(1 << 31),
        rcv_nxt: rng.below(1 << 31),
        sent: 0,
        received: 0,
        retransmits: 0,
        pending_data: 0,
        pending_timewait: false,
    }
}

/// The lifecycle as (netsh message) steps; `None` when the connection ended.
/// Every message is one the netsh decoder types through the schemas.
#[derive(Clone, Copy)]
enum Step {
    AfdSocket,
    ConnectRequest,
    ToSynSent,
    SynSent,
    ToEstablished,
    ConnectComplete,
    AfdSend(u64),
    DataSent(u64),
    DataReceived(u64),
    Retransmit,
    ToFinWait1,
    FinSent,
    ToFinWait2,
    FinReceived,
    ToTimeWait,
    CloseIssued,
    ToClosed,
    AfdClose,
}

impl Conn {
    /// Advances the lifecycle by one step; `None` when it is over.
    fn next_step(&mut self, rng: &mut Rng) -> Option<Step> {
        if self.pending_timewait {
            self.pending_timewait = false;
            return Some(Step::ToTimeWait);
        }
        let s = self.step;
        self.step += 1;
        let st = match s {
            0 => Step::AfdSocket,
            1 => Step::ConnectRequest,
            2 => Step::ToSynSent,
            3 => Step::SynSent,
            4 => Step::ToEstablished,
            5 => Step::ConnectComplete,
            6 if self.data_left > 0 => {
                self.step = 6;
                self.data_left -= 1;
                match rng.below(100) {
                    0..=2 => {
                        self.retransmits += 1;
                        Step::Retransmit
                    }
                    3..=45 => {
                        // Never 1 byte: a lone byte next to SYN/FIN is a control byte.
                        let n = 2 + rng.below(1460);
                        self.sent += n;
                        // AFD send then the TCPIP send on the next step.
                        self.step = 100;
                        self.data_left += 1;
                        self.pending_data = n;
                        return Some(Step::AfdSend(n));
                    }
                    _ => {
                        let n = 2 + rng.below(8000);
                        self.received += n;
                        Step::DataReceived(n)
                    }
                }
            }
            100 => {
                self.step = 6;
                self.data_left -= 1;
                Step::DataSent(self.pending_data)
            }
            6 => {
                self.step = 7;
                Step::ToFinWait1
            }
            7 => Step::FinSent,
            8 => Step::ToFinWait2,
            9 => {
                self.pending_timewait = true;
                Step::FinReceived
            }
            10 => Step::CloseIssued,
            11 => Step::ToClosed,
            12 => Step::AfdClose,
            _ => return None,
        };
        Some(st)
    }
}

const TCPIP: &str = "Microsoft-Windows-TCPIP";
const AFD: &str = "Microsoft-Windows-Winsock-AFD";

/// Renders a step's provider and message (netsh text form) into `msg`, and
/// updates the sequence numbers.
fn render_netsh_message(c: &mut Conn, step: Step, msg: &mut String) -> &'static str {
    use std::fmt::Write as _;
    let (tcb, ep, po) = (c.tcb, c.endpoint, c.process_object);
    let st = |m: &mut String, from: &str, to: &str, snd: u64| {
        let _ = write!(
            m,
            "TCP: connection 0x{tcb:016X} transition from {from} to {to}, SndNxt = {snd}."
        );
    };
    match step {
        Step::AfdSocket => {
            let _ = write!(
                msg,
                "socket: 0: Process 0x{po:016X} (0x{:08X}), Endpoint 0x{ep:016X}, Family 2, Type SOCK_STREAM, Protocol 6, Seq 1006, Status Success",
                c.pid
            );
            AFD
        }
        Step::ConnectRequest => {
            let _ = write!(
                msg,
                "TCP: Tcb 0x{tcb:016X} (local={} remote={}) requested to connect.",
                c.local, c.remote
            );
            TCPIP
        }
        Step::ToSynSent => {
            st(msg, "ClosedState", "SynSentState", c.snd_nxt);
            TCPIP
        }
        Step::SynSent | Step::FinSent => {
            let _ = write!(
                msg,
                "TCP: connection 0x{tcb:016X}: Sent data with number of bytes = 1 and Sequence number = {}.",
                c.snd_nxt
            );
            c.snd_nxt += 1;
            TCPIP
        }
        Step::ToEstablished => {
            st(msg, "SynSentState", "EstablishedState", c.snd_nxt);
            TCPIP
        }
        Step::ConnectComplete => {
            let _ = write!(
                msg,
                "TCP: connection 0x{tcb:016X} (local={} remote={}) connect completed. PID = {}.",
                c.local, c.remote, c.pid
            );
            TCPIP
        }
        Step::AfdSend(n) => {
            let _ = write!(
                msg,
                "send: 0: Process 0x{po:016X}, Endpoint 0x{ep:016X}, Buffer Count 1, Buffer 0x{:016X}, Length {n}, Seq 3047, Status Success",
                ep + 0x40
            );
            AFD
        }
        Step::DataSent(n) => {
            let _ = write!(
                msg,
                "TCP: connection 0x{tcb:016X}: Sent data with number of bytes = {n} and Sequence number = {}.",
                c.snd_nxt
            );
            c.snd_nxt += n;
            TCPIP
        }
        Step::DataReceived(n) => {
            let _ = write!(
                msg,
                "TCP: connection 0x{tcb:016X}: Received data with number of bytes = {n}. ThSeq = {}.",
                c.rcv_nxt
            );
            c.rcv_nxt += n;
            TCPIP
        }
        Step::FinReceived => {
            let _ = write!(
                msg,
                "TCP: connection 0x{tcb:016X}: Received data with number of bytes = 1. ThSeq = {}.",
                c.rcv_nxt
            );
            c.rcv_nxt += 1;
            TCPIP
        }
        Step::Retransmit => {
            let _ = write!(
                msg,
                "TCP: connection 0x{tcb:016X} (local={} remote={}) retransmitting data, RexmitCount = 1.",
                c.local, c.remote
            );
            TCPIP
        }
        Step::ToFinWait1 => {
            st(msg, "EstablishedState", "FinWait1State", c.snd_nxt);
            TCPIP
        }
        Step::ToFinWait2 => {
            st(msg, "FinWait1State", "FinWait2State", c.snd_nxt);
            TCPIP
        }
        Step::ToTimeWait => {
            st(msg, "FinWait2State", "TimeWaitState", c.snd_nxt);
            TCPIP
        }
        Step::CloseIssued => {
            let _ = write!(
                msg,
                "TCP: connection 0x{tcb:016X} (local={} remote={}) close issued.",
                c.local, c.remote
            );
            TCPIP
        }
        Step::ToClosed => {
            st(msg, "TimeWaitState", "ClosedState", c.snd_nxt);
            TCPIP
        }
        Step::AfdClose => {
            let _ = write!(
                msg,
                "closesocket: 0: Process 0x{po:016X}, Endpoint 0x{ep:016X}, Seq 2000, Status Success"
            );
            AFD
        }
    }
}

/// Counts bytes and lines as they are written.
struct Counted<W: Write> {
    inner: W,
    bytes: u64,
    lines: u64,
}
impl<W: Write> Counted<W> {
    fn new(inner: W) -> Self {
        Counted {
            inner,
            bytes: 0,
            lines: 0,
        }
    }
    fn put(&mut self, s: &[u8]) -> io::Result<()> {
        self.bytes += s.len() as u64;
        self.lines += memchr::memchr_iter(b'\n', s).count() as u64;
        self.inner.write_all(s)
    }
}

/// The pool of concurrent connections shared by the netsh and XML inputs.
struct Pool {
    live: Vec<Conn>,
    next_index: u64,
    exp: Expected,
}
impl Pool {
    fn new(concurrent: usize, rng: &mut Rng) -> Self {
        let mut p = Pool {
            live: Vec::with_capacity(concurrent),
            next_index: 0,
            exp: Expected::default(),
        };
        for _ in 0..concurrent {
            let c = new_conn(p.next_index, rng);
            p.next_index += 1;
            p.live.push(c);
        }
        p
    }
    /// Records a finished connection and replaces it with a new one
    /// (`refill` false once the target size is reached: the pool drains).
    fn retire(&mut self, i: usize, rng: &mut Rng, refill: bool) {
        let c = if refill {
            let n = new_conn(self.next_index, rng);
            self.next_index += 1;
            std::mem::replace(&mut self.live[i], n)
        } else {
            self.live.swap_remove(i)
        };
        self.exp.tcp_connections += 1;
        self.exp.bytes_sent_total += c.sent;
        self.exp.bytes_received_total += c.received;
        self.exp.retransmits_total += c.retransmits;
        self.exp.per_connection.insert(
            format!("{}|{}", c.local, c.remote),
            [c.sent, c.received, c.retransmits],
        );
    }
}

const NOISE_NETSH: &[(&str, &str)] = &[
    ("nt", "NSI: Enter>>NsiGetAllParametersEx."),
    (
        "nt",
        "NSI: Exit<<NsiGetAllParametersEx: Status = STATUS_SUCCESS.",
    ),
    (
        "Microsoft-Windows-Kernel-Process",
        "Process 4312 started at time 2025-03-27T16:00:01.000Z by parent 1240.",
    ),
    (
        "Microsoft-Windows-Dhcp-Client",
        "DHCP: lease renewal scheduled for interface 13.",
    ),
    (
        "ndis",
        "NDIS: Miniport 0xFFFFE189B0A01A20 indicated 4 NBLs.",
    ),
    (
        "Microsoft-Windows-DNS-Client",
        "DNS query for example.contoso.com type 1 completed with status 0.",
    ),
];

fn gen_netsh(path: &Path, target: u64, concurrent: usize, seed: u64) -> anyhow::Result<Expected> {
    let mut rng = Rng::new(seed);
    let mut clock = Clock { ticks: 0 };
    let mut w = Counted::new(BufWriter::with_capacity(1 << 20, File::create(path)?));
    w.put(b"Setting log file to: C:\\traces\\NetTrace.etl\nExamining C:\\traces\\NetTrace.etl for message formats, 3 found.\n")?;
    let mut pool = Pool::new(concurrent, &mut rng);
    let mut line = String::with_capacity(512);
    let mut msg = String::with_capacity(384);
    let mut events = 0u64;
    while !pool.live.is_empty() {
        let refill = w.bytes < target;
        if rng.below(100) < 12 {
            // Noise from other providers.
            let (prov, m) = NOISE_NETSH[rng.below(NOISE_NETSH.len() as u64) as usize];
            line.clear();
            clock.advance(&mut rng);
            line.push_str(&format!(
                "[{}]0004.{:04X}::",
                rng.below(8),
                0x10 + rng.below(64) * 4
            ));
            clock.netsh(&mut line);
            line.push_str(&format!(" [{prov}]{m}\n"));
            w.put(line.as_bytes())?;
            events += 1;
            continue;
        }
        let i = rng.below(pool.live.len() as u64) as usize;
        loop {
            let c = &mut pool.live[i];
            let Some(step) = c.next_step(&mut rng) else {
                pool.retire(i, &mut rng, refill);
                break;
            };
            msg.clear();
            let prov = render_netsh_message(c, step, &mut msg);
            let hpid = if prov == AFD || matches!(step, Step::ConnectRequest) {
                c.pid
            } else {
                0
            };
            let htid = if hpid == 0 { 0 } else { c.tid };
            line.clear();
            clock.advance(&mut rng);
            line.push_str(&format!("[{}]{hpid:04X}.{htid:04X}::", c.cpu));
            clock.netsh(&mut line);
            line.push_str(" [");
            line.push_str(prov);
            line.push(']');
            line.push_str(&msg);
            line.push('\n');
            w.put(line.as_bytes())?;
            events += 1;
            if !c.pending_timewait {
                break;
            }
        }
    }
    let trailer = format!(
        "\nTotal Buffers Processed {}\nTotal Events  Processed {}\nTotal Events  Lost     0\nTotal Format  Errors   0\nTotal Formats Unknown  0\nElapsed Time           12 sec\n",
        w.bytes / 65536 + 1,
        events
    );
    w.put(trailer.as_bytes())?;
    w.inner.flush()?;
    let mut exp = pool.exp;
    exp.input = "netsh.txt".into();
    exp.bytes = w.bytes;
    exp.lines = w.lines;
    Ok(exp)
}

/// PktMon components on a packet's path: (id, edge) from the NIC up.
const PKTMON_PATH: &[(u32, u32)] = &[(84, 1), (12, 1), (11, 2), (5, 1)];
const DROP_REASONS: &[&str] = &[
    "INET: transport endpoint was not found",
    "Filtered VLAN",
    "Bad checksum",
    "MTU mismatch",
];

fn put_utf16(w: &mut Counted<impl Write>, s: &str, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    for u in s.encode_utf16() {
        buf.extend_from_slice(&u.to_le_bytes());
    }
    w.bytes += buf.len() as u64;
    w.lines += s.bytes().filter(|b| *b == b'\n').count() as u64;
    w.inner.write_all(buf)
}

fn gen_pktmon(path: &Path, target: u64, seed: u64) -> anyhow::Result<Expected> {
    use std::fmt::Write as _;
    let mut rng = Rng::new(seed ^ 0x5EED);
    let mut clock = Clock { ticks: 0 };
    let mut w = Counted::new(BufWriter::with_capacity(1 << 20, File::create(path)?));
    let mut buf = Vec::with_capacity(2048);
    w.inner.write_all(&[0xFF, 0xFE])?;
    w.bytes += 2;
    let mut exp = Expected {
        input: "pktmon.txt".into(),
        ..Expected::default()
    };
    let mut flows = std::collections::HashSet::new();
    let mut text = String::with_capacity(2048);
    text.push_str("[00]1864.06A4::2025-03-27 16:00:00.000000000 [MSNT_SystemTrace] Event: Header, BufferSize: 16777216, Version: 131082, ProviderVersion: 19042, NumberOfProcessors: 2, PointerSize: 8, EventsLost: 0, BuffersLost: 0\r\n");
    put_utf16(&mut w, &text, &mut buf)?;
    let mut group: u64 = 562_949_953_421_313;
    while w.bytes < target {
        group += 1;
        let flow = rng.below(20_000);
        let udp = flow.is_multiple_of(4);
        let (a, b) = (
            format!("10.0.{}.{}", (flow >> 8) & 255, 1 + (flow & 127)),
            format!("192.168.{}.{}", (flow >> 7) % 200, 10 + flow % 200),
        );
        let (ap, bp) = (50000 + flow % 10000, if udp { 53 } else { 443 });
        let rx = rng.below(2) == 0;
        let (src, sp, dst, dp) = if rx {
            (&b, bp, &a, ap)
        } else {
            (&a, ap, &b, bp)
        };
        flows.insert(flow);
        let len = 40 + rng.below(1400);
        let drop_at = if rng.below(100) < 6 {
            Some(1 + rng.below(PKTMON_PATH.len() as u64 - 1) as usize)
        } else {
            None
        };
        let path_len = drop_at.map_or(PKTMON_PATH.len(), |d| d + 1);
        for hop in 0..path_len {
            let (comp, edge) = if rx {
                PKTMON_PATH[hop]
            } else {
                PKTMON_PATH[PKTMON_PATH.len() - 1 - hop]
            };
            let dir = if rx { "Rx" } else { "Tx" };
            text.clear();
            clock.advance(&mut rng);
            let _ = write!(text, "[{:02}]0000.0000::", rng.below(2));
            clock.pktmon(&mut text);
            let is_drop = drop_at == Some(hop);
            let l4 = if udp {
                format!("UDP, length {}", len - 28)
            } else {
                format!(
                    "Flags [P.], seq 1:{}, ack 1, win 2042, length {}",
                    len - 39,
                    len - 40
                )
            };
            if is_drop {
                let reason = DROP_REASONS[rng.below(DROP_REASONS.len() as u64) as usize];
                *exp.drops_by_reason.entry(reason.to_string()).or_default() += 1;
                exp.drops_total += 1;
                let _ = write!(
                    text,
                    " [Microsoft-Windows-PktMon] Drop: PktGroupId {group}, PktNumber 1, Appearance {}, Direction {dir} , Type IP , Component {comp}, Filter 1, DropReason {reason} , DropLocation 0xE000460A, OriginalSize {len}, LoggedSize {}\r\n       Drop: ip: {src}.{sp} > {dst}.{dp}: {l4}\r\n",
                    hop + 1,
                    len.min(128)
                );
            } else {
                let _ = write!(
                    text,
                    " [Microsoft-Windows-PktMon] PktGroupId {group}, PktNumber 1, Appearance {}, Direction {dir} , Type Ethernet , Component {comp}, Edge {edge}, Filter 1, OriginalSize {}, LoggedSize {} \r\n\t54-8C-A0-98-0E-25 > 3C-84-6A-01-EA-8B, ethertype IPv4 (0x0800), length {}: {src}.{sp} > {dst}.{dp}: {l4}\r\n",
                    hop + 1,
                    len + 14,
                    (len + 14).min(128),
                    len + 14
                );
            }
            put_utf16(&mut w, &text, &mut buf)?;
        }
    }
    w.inner.flush()?;
    exp.packet_flows = flows.len() as u64;
    exp.bytes = w.bytes;
    exp.lines = w.lines;
    Ok(exp)
}

/// An XML event: (event id, task, EventData fields, message).
type XmlEvent = (u32, &'static str, Vec<(&'static str, String)>, String);

/// The step as an XML event.
fn xml_event(c: &mut Conn, step: Step) -> Option<XmlEvent> {
    let tcb = format!("0x{:016X}", c.tcb);
    let mut msg = String::new();
    render_netsh_message(c, step, &mut msg);
    let addrs = |c: &Conn| {
        vec![
            ("LocalAddressLength", "16".to_string()),
            ("LocalAddress", c.local.clone()),
            ("RemoteAddressLength", "16".to_string()),
            ("RemoteAddress", c.remote.clone()),
        ]
    };
    let state = |from: &str, to: &str, snd: u64, tcb: &str| {
        vec![
            ("OldState", from.to_string()),
            ("NewState", to.to_string()),
            ("SndNxt", snd.to_string()),
            ("Tcb", tcb.to_string()),
        ]
    };
    let snd = c.snd_nxt;
    Some(match step {
        Step::AfdSocket | Step::AfdSend(_) | Step::AfdClose => return None,
        Step::ConnectRequest => {
            let mut f = vec![("Tcb", tcb)];
            f.extend(addrs(c));
            f.push(("NewState", "SynSentState".into()));
            f.push(("RexmitCount", "0".into()));
            (1002, "TcpRequestConnect", f, msg)
        }
        Step::ToSynSent => (
            1051,
            "TcpTcbStateChange",
            state("ClosedState", "SynSentState", snd, &tcb),
            msg,
        ),
        Step::ToEstablished => (
            1051,
            "TcpTcbStateChange",
            state("SynSentState", "EstablishedState", snd, &tcb),
            msg,
        ),
        Step::ToFinWait1 => (
            1051,
            "TcpTcbStateChange",
            state("EstablishedState", "FinWait1State", snd, &tcb),
            msg,
        ),
        Step::ToFinWait2 => (
            1051,
            "TcpTcbStateChange",
            state("FinWait1State", "FinWait2State", snd, &tcb),
            msg,
        ),
        Step::ToTimeWait => (
            1051,
            "TcpTcbStateChange",
            state("FinWait2State", "TimeWaitState", snd, &tcb),
            msg,
        ),
        Step::ToClosed => (
            1051,
            "TcpTcbStateChange",
            state("TimeWaitState", "ClosedState", snd, &tcb),
            msg,
        ),
        Step::SynSent | Step::FinSent | Step::DataSent(_) => {
            let n = match step {
                Step::DataSent(n) => n,
                _ => 1,
            };
            (
                1073,
                "TcpDataTransferSend",
                vec![
                    ("Tcb", tcb),
                    ("Cwnd", "64240".into()),
                    ("SSThresh", "4294967295".into()),
                    ("RttSample", "0".into()),
                    ("NumBytes", n.to_string()),
                    ("SeqNo", (snd - n).to_string()),
                    ("SndUna", (snd - n).to_string()),
                ],
                msg,
            )
        }
        Step::DataReceived(n) => (
            1074,
            "TcpDataTransferReceive",
            vec![
                ("Tcb", tcb),
                ("NumBytes", n.to_string()),
                ("SeqNo", c.rcv_nxt.to_string()),
            ],
            msg,
        ),
        Step::FinReceived => (
            1074,
            "TcpDataTransferReceive",
            vec![
                ("Tcb", tcb),
                ("NumBytes", "1".into()),
                ("SeqNo", c.rcv_nxt.to_string()),
            ],
            msg,
        ),
        Step::ConnectComplete | Step::CloseIssued => {
            let mut f = addrs(c);
            f.push(("Status", "STATUS_SUCCESS".into()));
            f.push(("ProcessId", c.pid.to_string()));
            f.push(("Compartment", "1".into()));
            f.push(("Tcb", tcb));
            if matches!(step, Step::ConnectComplete) {
                (1033, "TcpConnectTcbComplete", f, msg)
            } else {
                (1038, "TcpCloseTcbRequest", f, msg)
            }
        }
        Step::Retransmit => {
            let mut f = vec![("Tcb", tcb)];
            f.extend(addrs(c));
            f.push(("NewState", "EstablishedState".into()));
            f.push(("RexmitCount", "1".into()));
            (1187, "TcpDataTransferRestransmit", f, msg)
        }
    })
}

fn gen_xml(path: &Path, target: u64, concurrent: usize, seed: u64) -> anyhow::Result<Expected> {
    use std::fmt::Write as _;
    let mut rng = Rng::new(seed ^ 0x0C0FFEE);
    let mut clock = Clock { ticks: 0 };
    let mut w = Counted::new(BufWriter::with_capacity(1 << 20, File::create(path)?));
    w.put(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Events>\n")?;
    let mut pool = Pool::new(concurrent, &mut rng);
    let mut text = String::with_capacity(4096);
    while !pool.live.is_empty() {
        let refill = w.bytes < target;
        let noise = rng.below(100) < 8;
        let i = rng.below(pool.live.len() as u64) as usize;
        loop {
            let (provider, guid, id, task, fields, msg, pid, cpu) = if noise {
                (
                    "Microsoft-Windows-Kernel-Process",
                    "{22fb2cd6-0e7b-422b-a0c7-2fad1fd0e716}",
                    1,
                    "ProcessStart",
                    vec![
                        ("ProcessID", "4312".to_string()),
                        ("ParentProcessID", "1240".to_string()),
                    ],
                    "Process 4312 started.".to_string(),
                    4u32,
                    0u32,
                )
            } else {
                let c = &mut pool.live[i];
                let Some(step) = c.next_step(&mut rng) else {
                    pool.retire(i, &mut rng, refill);
                    break;
                };
                let Some((id, task, fields, msg)) = xml_event(c, step) else {
                    continue;
                };
                let c = &pool.live[i];
                (
                    TCPIP,
                    "{2f07e2ee-15db-40f1-90ef-9d7ba282188a}",
                    id,
                    task,
                    fields,
                    msg,
                    0,
                    c.cpu,
                )
            };
            text.clear();
            clock.advance(&mut rng);
            let _ = write!(
                text,
                "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\">\n\t<System>\n\t\t<Provider Name=\"{provider}\" Guid=\"{guid}\" />\n\t\t<EventID>{id}</EventID>\n\t\t<Version>0</Version>\n\t\t<Level>4</Level>\n\t\t<Task>0</Task>\n\t\t<Opcode>0</Opcode>\n\t\t<Keywords>0x8000000000000000</Keywords>\n\t\t<TimeCreated SystemTime=\""
            );
            clock.xml(&mut text);
            let _ = write!(
                text,
                "\" />\n\t\t<Correlation ActivityID=\"{{00000000-0000-0000-0000-000000000000}}\" />\n\t\t<Execution ProcessID=\"{pid}\" ThreadID=\"0\" ProcessorID=\"{cpu}\" KernelTime=\"0\" UserTime=\"0\" />\n\t\t<Channel>{provider}/Diagnostic</Channel>\n\t\t<Computer>BENCH01</Computer>\n\t</System>\n\t<EventData>\n"
            );
            for (k, v) in &fields {
                let _ = writeln!(text, "\t\t<Data Name=\"{k}\">{v}</Data>");
            }
            let _ = write!(
                text,
                "\t</EventData>\n\t<RenderingInfo Culture=\"en-US\">\n\t\t<Level>Information </Level>\n\t\t<Opcode>Info </Opcode>\n\t\t<Task>{task} </Task>\n\t\t<Message>{msg} </Message>\n\t\t<Channel>{provider}/Diagnostic</Channel>\n\t\t<Provider>{provider} </Provider>\n\t</RenderingInfo>\n</Event>\n"
            );
            w.put(text.as_bytes())?;
            if noise || !pool.live[i].pending_timewait {
                break;
            }
        }
    }
    w.put(b"</Events>\n")?;
    w.inner.flush()?;
    let mut exp = pool.exp;
    exp.input = "tracerpt.xml".into();
    exp.bytes = w.bytes;
    exp.lines = w.lines;
    Ok(exp)
}

#[derive(Debug, Deserialize)]
struct ConnRow {
    proto: String,
    local_addr: String,
    local_port: String,
    remote_addr: String,
    remote_port: String,
    bytes_sent: u64,
    bytes_received: u64,
    retransmits: u64,
}

#[derive(Debug, Deserialize)]
struct DropRow {
    reason: String,
    count: u64,
}

/// Compares a timeline folder with the expected answer; prints each
/// mismatch (up to a few) and fails when there is any.
fn check(expected: &Path, dir: &Path) -> anyhow::Result<()> {
    let exp: Expected = serde_json::from_reader(io::BufReader::new(
        File::open(expected).with_context(|| format!("open {}", expected.display()))?,
    ))?;
    let mut problems = Vec::new();
    let mut tcp = 0u64;
    let mut flows = 0u64;
    let mut seen = 0u64;
    let conn_path = dir.join("connections.csv");
    let mut rd = csv::Reader::from_path(&conn_path)
        .with_context(|| format!("open {}", conn_path.display()))?;
    for row in rd.deserialize::<ConnRow>() {
        let row = row?;
        if row.proto == "tcp" || row.proto == "udp" {
            flows += 1;
        }
        // PktMon inputs are checked by flow count only (packets carry no TCB).
        if row.proto != "tcp" || exp.packet_flows > 0 {
            continue;
        }
        tcp += 1;
        let key = format!(
            "{}:{}|{}:{}",
            row.local_addr, row.local_port, row.remote_addr, row.remote_port
        );
        match exp.per_connection.get(&key) {
            Some(want) => {
                seen += 1;
                let got = [row.bytes_sent, row.bytes_received, row.retransmits];
                if &got != want {
                    problems.push(format!(
                        "{key}: got sent/recv/retrans {got:?}, expected {want:?}"
                    ));
                }
            }
            None => problems.push(format!("{key}: connection not in the expected answer")),
        }
    }
    if tcp != exp.tcp_connections || seen != exp.tcp_connections {
        problems.push(format!(
            "TCP connections: got {tcp} ({seen} matched), expected {}",
            exp.tcp_connections
        ));
    }
    if exp.packet_flows > 0 && flows != exp.packet_flows {
        problems.push(format!(
            "packet flows: got {flows}, expected {}",
            exp.packet_flows
        ));
    }
    let drops_path = dir.join("drops.csv");
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    if drops_path.exists() {
        let mut rd = csv::Reader::from_path(&drops_path)?;
        for row in rd.deserialize::<DropRow>() {
            let row = row?;
            *by_reason.entry(row.reason).or_default() += row.count;
        }
    }
    let total: u64 = by_reason.values().sum();
    if total != exp.drops_total || by_reason != exp.drops_by_reason {
        problems.push(format!(
            "drops: got {total} {by_reason:?}, expected {} {:?}",
            exp.drops_total, exp.drops_by_reason
        ));
    }
    if problems.is_empty() {
        println!(
            "OK {}: {} TCP connections, {} packet flows, {} bytes sent, {} received, {} retransmits, {} drops",
            exp.input,
            exp.tcp_connections,
            exp.packet_flows,
            exp.bytes_sent_total,
            exp.bytes_received_total,
            exp.retransmits_total,
            exp.drops_total
        );
        Ok(())
    } else {
        for p in problems.iter().take(10) {
            eprintln!("MISMATCH {}: {p}", exp.input);
        }
        bail!("{} mismatch(es) in {}", problems.len(), exp.input)
    }
}
