//! A small ETL writer for tests and benchmarks: a log-file header buffer,
//! per-CPU data buffers of EVENT_HEADER records, optional Xpress
//! compression of the data buffers, and an optional circular wrap (the
//! oldest buffers lost and the survivors stored out of order, as a wrapped
//! circular logger leaves them).
//!
//! It writes what the reader expects from real files (layouts checked
//! against the PktMon captures), so round-trip tests exercise the reader's
//! ordering, clock and compression paths on inputs whose answer is known.

use super::container::{BUFFER_HEADER_LEN, Guid};
use super::xpress;

/// One EVENT_HEADER record to write.
#[derive(Debug, Clone)]
pub struct TestEvent {
    pub cpu: u32,
    /// Raw QPC value (10 MHz clock in the header this writer emits).
    pub raw_ts: i64,
    pub provider: Guid,
    pub id: u16,
    pub version: u8,
    pub keyword: u64,
    pub pid: u32,
    pub tid: u32,
    pub payload: Vec<u8>,
    /// Extended-data items (type, data) placed before the payload.
    pub ext: Vec<(u16, Vec<u8>)>,
}

impl TestEvent {
    /// An event of `provider`/`id` logged by PID 4 on thread `100 + cpu`,
    /// version 0, no extended data.
    pub fn new(
        cpu: u32,
        raw_ts: i64,
        provider: Guid,
        id: u16,
        keyword: u64,
        payload: Vec<u8>,
    ) -> TestEvent {
        TestEvent {
            cpu,
            raw_ts,
            provider,
            id,
            version: 0,
            keyword,
            pid: 4,
            tid: 100 + cpu,
            payload,
            ext: Vec::new(),
        }
    }
}

/// xorshift64: a small deterministic generator for tests and generated
/// captures (no dependency).
#[derive(Debug, Clone)]
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A value below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// Builds an `.etl` file in memory.
#[derive(Debug, Clone)]
pub struct EtlWriter {
    pub cpus: u32,
    /// Bytes per data buffer (uncompressed).
    pub buffer_size: usize,
    pub compress: bool,
    /// Lose this many of the oldest data buffers and store the rest
    /// rotated (circular logger wrap). 0 = sequential file.
    pub circular_lost: usize,
    pub pointer_size: u32,
    /// FILETIME of the header event.
    pub start_filetime: i64,
    /// Raw clock value at `start_filetime`.
    pub start_raw: i64,
    pub perf_freq: i64,
    pub build: u32,
    events: Vec<TestEvent>,
    /// Classic (EVENT_TRACE_HEADER) records: cpu, raw timestamp, bytes.
    classic: Vec<(u32, i64, Vec<u8>)>,
}

impl Default for EtlWriter {
    fn default() -> Self {
        EtlWriter {
            cpus: 1,
            buffer_size: 64 * 1024,
            compress: false,
            circular_lost: 0,
            pointer_size: 8,
            // 2021-06-03T13:49:55.4540046Z
            start_filetime: 132_672_017_954_540_046,
            start_raw: 118_544_129_007,
            perf_freq: 10_000_000,
            build: 19042,
            events: Vec::new(),
            classic: Vec::new(),
        }
    }
}

/// PktMon 160/170/240 payload.
#[allow(clippy::too_many_arguments)]
pub fn pktmon_packet_payload(
    group: u64,
    number: u16,
    appearance: u16,
    dir_tag: u16,
    packet_type: u16,
    component: u16,
    edge: u16,
    drop_reason: u32,
    drop_location: u32,
    original: u16,
    frame: &[u8],
) -> Vec<u8> {
    let mut p = Vec::with_capacity(34 + frame.len());
    p.extend_from_slice(&group.to_le_bytes());
    p.extend_from_slice(&number.to_le_bytes());
    p.extend_from_slice(&appearance.to_le_bytes());
    p.extend_from_slice(&dir_tag.to_le_bytes());
    p.extend_from_slice(&packet_type.to_le_bytes());
    p.extend_from_slice(&component.to_le_bytes());
    p.extend_from_slice(&edge.to_le_bytes());
    p.extend_from_slice(&0u16.to_le_bytes()); // filter
    p.extend_from_slice(&drop_reason.to_le_bytes());
    p.extend_from_slice(&drop_location.to_le_bytes());
    p.extend_from_slice(&original.to_le_bytes());
    p.extend_from_slice(&(frame.len() as u16).to_le_bytes());
    p.extend_from_slice(frame);
    p
}

/// PktMon 20 (component) payload.
pub fn pktmon_component_payload(id: u16, ctype: u16, name: &str, description: &str) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&id.to_le_bytes());
    p.extend_from_slice(&ctype.to_le_bytes());
    for s in [name, description] {
        for u in s.encode_utf16() {
            p.extend_from_slice(&u.to_le_bytes());
        }
        p.extend_from_slice(&[0, 0]);
    }
    p
}

/// An Ethernet/IPv4/TCP frame (no options), `payload_len` bytes of data
/// announced but only the headers included.
pub fn tcp_frame(
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    flags: u8,
    seq: u32,
) -> Vec<u8> {
    let mut f = vec![
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB,
    ];
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    f.extend_from_slice(&[0x45, 0, 0, 40, 0, 0, 0x40, 0, 128, 6, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&0u32.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]);
    f
}

fn align8(n: usize) -> usize {
    (n + 7) & !7
}

impl EtlWriter {
    pub fn new(cpus: u32) -> Self {
        EtlWriter {
            cpus,
            ..EtlWriter::default()
        }
    }

    pub fn push(&mut self, ev: TestEvent) {
        self.events.push(ev);
    }

    /// Adds a classic EVENT_TRACE_HEADER record (MOF class `guid`,
    /// Class.Type `class_type`, Class.Version `version`), as the
    /// KernelTraceControl merge writes EventMetadata. It goes into `cpu`'s
    /// buffers after that CPU's EVENT_HEADER records of earlier timestamps.
    pub fn push_classic(
        &mut self,
        cpu: u32,
        raw_ts: i64,
        guid: Guid,
        class_type: u8,
        version: u16,
        payload: &[u8],
    ) {
        let size = 0x30 + payload.len();
        let mut r = Vec::with_capacity(size);
        r.extend_from_slice(&(size as u16).to_le_bytes());
        r.push(if self.pointer_size == 4 { 0x0A } else { 0x14 });
        r.push(0xC0);
        r.push(class_type);
        r.push(4); // Class.Level
        r.extend_from_slice(&version.to_le_bytes());
        r.extend_from_slice(&0u32.to_le_bytes()); // ThreadId
        r.extend_from_slice(&0u32.to_le_bytes()); // ProcessId
        r.extend_from_slice(&raw_ts.to_le_bytes());
        r.extend_from_slice(&guid.to_bytes());
        r.extend_from_slice(&0u64.to_le_bytes()); // Kernel/User time
        r.extend_from_slice(payload);
        self.classic.push((cpu, raw_ts, r));
    }

    /// Encodes one EVENT_HEADER record (unpadded).
    pub fn encode_event(&self, ev: &TestEvent) -> Vec<u8> {
        let mut ext = Vec::new();
        for (i, (ty, data)) in ev.ext.iter().enumerate() {
            let more = u16::from(i + 1 < ev.ext.len());
            ext.extend_from_slice(&0u16.to_le_bytes());
            ext.extend_from_slice(&ty.to_le_bytes());
            ext.extend_from_slice(&more.to_le_bytes());
            ext.extend_from_slice(&(data.len() as u16).to_le_bytes());
            ext.extend_from_slice(data);
            ext.resize(align8(ext.len()), 0);
        }
        let size = 0x50 + ext.len() + ev.payload.len();
        let mut r = Vec::with_capacity(size);
        r.extend_from_slice(&(size as u16).to_le_bytes());
        let (header_type, ptr_flag) = if self.pointer_size == 4 {
            (0x12u8, 0x0020u16)
        } else {
            (0x13u8, 0x0040u16)
        };
        r.push(header_type);
        r.push(0xC0);
        let flags = ptr_flag | u16::from(!ev.ext.is_empty());
        r.extend_from_slice(&flags.to_le_bytes());
        r.extend_from_slice(&0u16.to_le_bytes()); // EventProperty
        r.extend_from_slice(&ev.tid.to_le_bytes());
        r.extend_from_slice(&ev.pid.to_le_bytes());
        r.extend_from_slice(&ev.raw_ts.to_le_bytes());
        r.extend_from_slice(&ev.provider.to_bytes());
        r.extend_from_slice(&ev.id.to_le_bytes());
        r.push(ev.version);
        r.push(0); // channel
        r.push(4); // level
        r.push(0); // opcode
        r.extend_from_slice(&0u16.to_le_bytes()); // task
        r.extend_from_slice(&ev.keyword.to_le_bytes());
        r.extend_from_slice(&0u64.to_le_bytes()); // kernel/user time
        r.extend_from_slice(&[0u8; 16]); // activity id
        r.extend_from_slice(&ext);
        r.extend_from_slice(&ev.payload);
        r
    }

    fn header_buffer(&self, buffers_written: u32, log_file_mode: u32) -> Vec<u8> {
        let ptr = self.pointer_size as usize;
        let mut lh = Vec::new();
        lh.extend_from_slice(&(self.buffer_size as u32).to_le_bytes());
        lh.extend_from_slice(&0x0002_000Au32.to_le_bytes()); // Version
        lh.extend_from_slice(&self.build.to_le_bytes());
        lh.extend_from_slice(&self.cpus.to_le_bytes());
        lh.extend_from_slice(&0i64.to_le_bytes()); // EndTime
        lh.extend_from_slice(&156_250u32.to_le_bytes());
        lh.extend_from_slice(&512u32.to_le_bytes());
        lh.extend_from_slice(&log_file_mode.to_le_bytes());
        lh.extend_from_slice(&buffers_written.to_le_bytes());
        lh.extend_from_slice(&1u32.to_le_bytes()); // StartBuffers
        lh.extend_from_slice(&self.pointer_size.to_le_bytes());
        lh.extend_from_slice(&0u32.to_le_bytes()); // EventsLost
        lh.extend_from_slice(&2396u32.to_le_bytes()); // CpuSpeedInMHz
        lh.resize(lh.len() + 2 * ptr, 0); // LoggerName, LogFileName pointers
        lh.resize(lh.len() + 0xB0, 0); // TIME_ZONE_INFORMATION
        lh.extend_from_slice(&(self.start_filetime - self.start_raw).to_le_bytes()); // BootTime
        lh.extend_from_slice(&self.perf_freq.to_le_bytes());
        lh.extend_from_slice(&self.start_filetime.to_le_bytes());
        lh.extend_from_slice(&1u32.to_le_bytes()); // ReservedFlags: QPC
        lh.extend_from_slice(&0u32.to_le_bytes()); // BuffersLost
        for s in ["etwnet test", "C:\\test.etl"] {
            for u in s.encode_utf16() {
                lh.extend_from_slice(&u.to_le_bytes());
            }
            lh.extend_from_slice(&[0, 0]);
        }
        let size = 0x20 + lh.len();
        let mut rec = Vec::new();
        rec.extend_from_slice(&2u16.to_le_bytes());
        rec.push(0x02);
        rec.push(0xC0);
        rec.extend_from_slice(&(size as u16).to_le_bytes());
        rec.extend_from_slice(&0u16.to_le_bytes()); // HookId: header
        rec.extend_from_slice(&0u32.to_le_bytes());
        rec.extend_from_slice(&0u32.to_le_bytes());
        rec.extend_from_slice(&self.start_raw.to_le_bytes());
        rec.extend_from_slice(&0u64.to_le_bytes());
        rec.extend_from_slice(&lh);
        rec.resize(align8(rec.len()), 0);
        let filled = BUFFER_HEADER_LEN + rec.len();
        let total = align8(filled).max(1024);
        let mut b = buffer_header(total, filled, 0, 0, 0, 0x01, 4, 0);
        b.extend_from_slice(&rec);
        b.resize(total, 0xFF);
        b
    }

    /// Writes the file.
    pub fn finish(&self) -> Vec<u8> {
        self.finish_with_kept().0
    }

    /// Writes the file; also returns the raw timestamps of the events that
    /// survive (all of them unless the circular wrap lost buffers), sorted.
    pub fn finish_with_kept(&self) -> (Vec<u8>, Vec<i64>) {
        // Per CPU: events in the order given, packed into buffers.
        type Buf = (u32, Vec<u8>, i64, Vec<i64>); // cpu, body, last ts, event ts
        let mut data_buffers: Vec<Buf> = Vec::new();
        for cpu in 0..self.cpus {
            let mut body: Vec<u8> = Vec::new();
            let mut stamps = Vec::new();
            let mut last_ts = 0;
            let mut records: Vec<(i64, Vec<u8>)> = self
                .events
                .iter()
                .filter(|e| e.cpu == cpu)
                .map(|ev| (ev.raw_ts, self.encode_event(ev)))
                .collect();
            for (c, ts, bytes) in &self.classic {
                if *c == cpu {
                    // After the events of earlier or equal timestamps.
                    let at = records.partition_point(|(t, _)| t <= ts);
                    records.insert(at, (*ts, bytes.clone()));
                }
            }
            for (raw_ts, rec) in records {
                let padded = align8(rec.len());
                if !body.is_empty() && BUFFER_HEADER_LEN + body.len() + padded > self.buffer_size {
                    data_buffers.push((
                        cpu,
                        std::mem::take(&mut body),
                        last_ts,
                        std::mem::take(&mut stamps),
                    ));
                }
                body.extend_from_slice(&rec);
                body.resize(body.len() + padded - rec.len(), 0);
                last_ts = raw_ts;
                stamps.push(raw_ts);
            }
            if !body.is_empty() {
                data_buffers.push((cpu, body, last_ts, stamps));
            }
        }
        // Flush order = sequence order: by the last timestamp in each buffer.
        data_buffers.sort_by_key(|(cpu, _, ts, _)| (*ts, *cpu));
        type Numbered = (u64, u32, Vec<u8>, i64, Vec<i64>); // seq, cpu, body, last ts, event ts
        let mut numbered: Vec<Numbered> = data_buffers
            .into_iter()
            .enumerate()
            .map(|(i, (cpu, body, ts, stamps))| (i as u64 + 1, cpu, body, ts, stamps))
            .collect();
        let mut mode = 0x1u32;
        if self.circular_lost > 0 {
            mode = 0x2;
            let lost = self.circular_lost.min(numbered.len());
            numbered.drain(..lost);
            // The survivors sit where the wrap left them: newest first.
            let split = numbered.len() / 2;
            numbered.rotate_left(split);
        }
        if self.compress {
            mode |= 0x0400_0000;
        }
        let mut file = self.header_buffer(numbered.len() as u32 + 1, mode);
        let mut kept: Vec<i64> = numbered.iter().flat_map(|b| b.4.iter().copied()).collect();
        kept.sort_unstable();
        for (seq, cpu, body, ts, _) in numbered {
            let filled = BUFFER_HEADER_LEN + body.len();
            if self.compress {
                let packed = xpress::compress(&body);
                let size = BUFFER_HEADER_LEN + packed.len();
                file.extend_from_slice(&buffer_header(size, filled, seq, cpu, ts, 0x60, 0, filled));
                file.extend_from_slice(&packed);
            } else {
                let size = self.buffer_size.max(filled);
                let start = file.len();
                file.extend_from_slice(&buffer_header(size, filled, seq, cpu, ts, 0x20, 0, filled));
                file.extend_from_slice(&body);
                file.resize(start + size, 0xFF);
            }
        }
        (file, kept)
    }
}

#[allow(clippy::too_many_arguments)]
fn buffer_header(
    size: usize,
    saved: usize,
    seq: u64,
    cpu: u32,
    ts: i64,
    flags: u16,
    buffer_type: u16,
    offset: usize,
) -> Vec<u8> {
    let mut h = Vec::with_capacity(BUFFER_HEADER_LEN);
    h.extend_from_slice(&(size as u32).to_le_bytes());
    h.extend_from_slice(&(saved as u32).to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes()); // CurrentOffset
    h.extend_from_slice(&0i32.to_le_bytes()); // ReferenceCount
    h.extend_from_slice(&ts.to_le_bytes());
    h.extend_from_slice(&seq.to_le_bytes());
    h.extend_from_slice(&0u64.to_le_bytes()); // clock
    h.push(cpu as u8);
    h.push(0);
    h.extend_from_slice(&0u16.to_le_bytes()); // LoggerId
    h.extend_from_slice(&3u32.to_le_bytes()); // State
    h.extend_from_slice(&(offset.max(saved) as u32).to_le_bytes());
    h.extend_from_slice(&flags.to_le_bytes());
    h.extend_from_slice(&buffer_type.to_le_bytes());
    h.resize(BUFFER_HEADER_LEN, 0);
    h
}

/// NDIS-PacketCapture 1001 payload: MiniportIfIndex, LowerIfIndex,
/// FragmentSize, Fragment, then GftFlowEntryId and GftOffloadInformation
/// (newer builds).
pub fn ndis_fragment_payload(miniport: u32, lower: u32, fragment: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(28 + fragment.len());
    p.extend_from_slice(&miniport.to_le_bytes());
    p.extend_from_slice(&lower.to_le_bytes());
    p.extend_from_slice(&(fragment.len() as u32).to_le_bytes());
    p.extend_from_slice(fragment);
    p.extend_from_slice(&[0u8; 16]);
    p
}

/// NDIS-PacketCapture 1002 payload carrying a 48-byte
/// DOT11_EXTSTA_RECV_CONTEXT (64-bit layout).
pub fn ndis_wifi_metadata_payload(
    miniport: u32,
    lower: u32,
    phy: u32,
    center_mhz: u32,
    rssi: i32,
    rate: u8,
) -> Vec<u8> {
    let mut ctx = vec![0u8; 48];
    ctx[0] = 0x80; // NDIS_OBJECT_TYPE_DEFAULT
    ctx[1] = 1;
    ctx[2..4].copy_from_slice(&48u16.to_le_bytes());
    ctx[4..8].copy_from_slice(&0x10u32.to_le_bytes()); // uReceiveFlags
    ctx[8..12].copy_from_slice(&phy.to_le_bytes());
    ctx[12..16].copy_from_slice(&center_mhz.to_le_bytes());
    ctx[16..18].copy_from_slice(&1u16.to_le_bytes());
    ctx[20..24].copy_from_slice(&rssi.to_le_bytes());
    ctx[24] = rate;
    let mut p = Vec::new();
    p.extend_from_slice(&miniport.to_le_bytes());
    p.extend_from_slice(&lower.to_le_bytes());
    p.extend_from_slice(&(ctx.len() as u32).to_le_bytes());
    p.extend_from_slice(&ctx);
    p
}

fn utf16z_bytes(s: &str, out: &mut Vec<u8>) {
    for u in s.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out.extend_from_slice(&[0, 0]);
}

/// NDIS-PacketCapture 1003 (VMSwitch) payload with a 64-bit OOB array
/// whose 802.1Q slot holds `vlan` and whose hash slot holds `hash`.
#[allow(clippy::too_many_arguments)]
pub fn ndis_vmswitch_payload(
    miniport: u32,
    lower: u32,
    port_id: u32,
    port_name: &str,
    nic_name: &str,
    nic_type: &str,
    destinations: u32,
    vlan: u16,
    hash: u32,
    fragment: &[u8],
) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&miniport.to_le_bytes());
    p.extend_from_slice(&lower.to_le_bytes());
    p.extend_from_slice(&port_id.to_le_bytes());
    utf16z_bytes(port_name, &mut p);
    utf16z_bytes(nic_name, &mut p);
    utf16z_bytes(nic_type, &mut p);
    p.extend_from_slice(&destinations.to_le_bytes());
    for d in 0..destinations {
        p.extend_from_slice(&u64::from(d + 100).to_le_bytes());
    }
    p.extend_from_slice(&(fragment.len() as u32).to_le_bytes());
    p.extend_from_slice(fragment);
    let mut oob = vec![0u8; 10 * 8];
    oob[4 * 8..4 * 8 + 8].copy_from_slice(&(u64::from(vlan) << 4).to_le_bytes());
    oob[8 * 8..8 * 8 + 8].copy_from_slice(&u64::from(hash).to_le_bytes());
    p.extend_from_slice(&(oob.len() as u32).to_le_bytes());
    p.extend_from_slice(&oob);
    p
}

/// Extended-data items of a TraceLogging event: the provider traits (type
/// 12, the provider name) and the event schema (type 11). Each field is
/// (name, InType with its count flags, OutType or none, constant count).
pub fn tracelogging_ext(
    provider: &str,
    event: &str,
    fields: &[(&str, u8, Option<u8>, Option<u16>)],
) -> Vec<(u16, Vec<u8>)> {
    let mut traits = vec![0, 0];
    traits.extend_from_slice(provider.as_bytes());
    traits.push(0);
    let n = traits.len() as u16;
    traits[0..2].copy_from_slice(&n.to_le_bytes());

    let mut m = vec![0, 0, 0]; // size, one extension byte (no tags)
    m.extend_from_slice(event.as_bytes());
    m.push(0);
    for (name, in_type, out_type, count) in fields {
        m.extend_from_slice(name.as_bytes());
        m.push(0);
        match out_type {
            Some(o) => {
                m.push(in_type | 0x80);
                m.push(*o);
            }
            None => m.push(*in_type),
        }
        if let Some(c) = count {
            m.extend_from_slice(&c.to_le_bytes());
        }
    }
    let n = m.len() as u16;
    m[0..2].copy_from_slice(&n.to_le_bytes());
    vec![(12, traits), (11, m)]
}

/// One EVENT_PROPERTY_INFO for [`event_info_payload`].
#[derive(Debug, Clone)]
pub struct PropertySpec {
    pub name: &'static str,
    pub flags: u32,
    /// InType / OutType, or for a struct its first member and member count.
    pub in_type: u16,
    pub out_type: u16,
    pub map: Option<&'static str>,
    pub count: u16,
    pub length: u16,
}

impl PropertySpec {
    pub fn scalar(name: &'static str, in_type: u16, out_type: u16) -> Self {
        PropertySpec {
            name,
            flags: 0,
            in_type,
            out_type,
            map: None,
            count: 1,
            length: 0,
        }
    }

    /// A struct of `members` properties starting at index `first`.
    pub fn structure(name: &'static str, first: u16, members: u16) -> Self {
        PropertySpec {
            name,
            flags: 0x1,
            in_type: first,
            out_type: members,
            map: None,
            count: 1,
            length: 0,
        }
    }

    pub fn with_map(mut self, map: &'static str) -> Self {
        self.map = Some(map);
        self
    }

    /// Length held by property `index` (PropertyParamLength).
    pub fn with_param_length(mut self, index: u16) -> Self {
        self.flags |= 0x2;
        self.length = index;
        self
    }

    /// Fixed length (characters for strings, bytes for binary).
    pub fn with_length(mut self, length: u16) -> Self {
        self.length = length;
        self
    }

    /// Element count held by property `index` (PropertyParamCount).
    pub fn with_param_count(mut self, index: u16) -> Self {
        self.flags |= 0x4;
        self.count = index;
        self
    }
}

fn push_wide(out: &mut Vec<u8>, s: &str) -> u32 {
    let at = out.len() as u32;
    for u in s.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out.extend_from_slice(&[0, 0]);
    at
}

/// A TRACE_EVENT_INFO (EventMetadata type 0x20 payload) for a manifest
/// event; every property is top-level unless a struct names it as a member.
pub fn event_info_payload(
    provider: Guid,
    id: u16,
    version: u8,
    provider_name: &str,
    task_name: &str,
    message: &str,
    properties: &[PropertySpec],
) -> Vec<u8> {
    let members: usize = properties
        .iter()
        .filter(|p| p.flags & 1 != 0)
        .map(|p| usize::from(p.out_type))
        .sum();
    let mut b = vec![0u8; 0x70 + 24 * properties.len()];
    b[0..16].copy_from_slice(&provider.to_bytes());
    b[32..34].copy_from_slice(&id.to_le_bytes());
    b[34] = version;
    b[36] = 4; // level
    let put = |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let o = push_wide(&mut b, provider_name);
    put(&mut b, 0x34, o);
    let o = push_wide(&mut b, task_name);
    put(&mut b, 0x44, o);
    let o = push_wide(&mut b, message);
    put(&mut b, 0x4C, o);
    put(&mut b, 0x64, properties.len() as u32);
    put(&mut b, 0x68, (properties.len() - members) as u32);
    for (i, p) in properties.iter().enumerate() {
        let at = 0x70 + 24 * i;
        let name = push_wide(&mut b, p.name);
        let map = p.map.map_or(0, |m| push_wide(&mut b, m));
        put(&mut b, at, p.flags);
        put(&mut b, at + 4, name);
        b[at + 8..at + 10].copy_from_slice(&p.in_type.to_le_bytes());
        b[at + 10..at + 12].copy_from_slice(&p.out_type.to_le_bytes());
        put(&mut b, at + 12, map);
        b[at + 16..at + 18].copy_from_slice(&p.count.to_le_bytes());
        b[at + 18..at + 20].copy_from_slice(&p.length.to_le_bytes());
    }
    b
}

/// One value or bit map for [`map_info_payload`].
#[derive(Debug, Clone)]
pub struct MapSpec {
    pub name: &'static str,
    pub bitmap: bool,
    pub entries: &'static [(u32, &'static str)],
}

/// An EventMetadata type 0x21 payload: the provider GUID, then an
/// EVENT_MAP_INFO.
pub fn map_info_payload(provider: Guid, spec: &MapSpec) -> Vec<u8> {
    let mut m = vec![0u8; 16 + 8 * spec.entries.len()];
    let name = push_wide(&mut m, spec.name);
    m[0..4].copy_from_slice(&name.to_le_bytes());
    m[4..8].copy_from_slice(&(if spec.bitmap { 2u32 } else { 1 }).to_le_bytes());
    m[8..12].copy_from_slice(&(spec.entries.len() as u32).to_le_bytes());
    for (i, (value, text)) in spec.entries.iter().enumerate() {
        let o = push_wide(&mut m, text);
        let at = 16 + 8 * i;
        m[at..at + 4].copy_from_slice(&o.to_le_bytes());
        m[at + 4..at + 8].copy_from_slice(&value.to_le_bytes());
    }
    let mut out = provider.to_bytes().to_vec();
    out.extend_from_slice(&m);
    out
}
