//! Idle packet-only flows out of memory and back.
//!
//! A PktMon flow (UDP, or TCP seen only as packets) has no close: without
//! this it stays in memory for the whole run, so a trace of many short
//! flows (DNS lookups, one source port each) grows with its length. A flow
//! idle for two windows is written to a spill file ([`encode`]); a later
//! event of its tuple reads it back ([`decode`]) and it goes on exactly as
//! if it had stayed; flows still out at the end are retired like closed TCP
//! connections. Only flows whose whole state is the fields below leave
//! ([`spillable`]): no TCB, AFD endpoint, listener, direction, process,
//! TCP state or close other than a RST.

use std::net::IpAddr;

use crate::event::{Endpoint, Proto, SourceRef, Timestamp, Zone};

use super::{ConnDirection, Connection, TimelinePos};

/// Whether `c` can leave memory as a spill record.
pub(super) fn spillable(c: &Connection) -> bool {
    c.tcb.is_none()
        && c.endpoint.is_none()
        && c.listener.is_none()
        && c.direction == ConnDirection::Unknown
        && c.attribution.is_none()
        && c.states.is_empty()
        && c.close_reason.as_deref().is_none_or(|r| r == "RST")
        && c.connect_failed.is_none()
        && c.pktmon_seen.is_none()
}

/// The state of a [`spillable`] connection, to be read back by [`decode`].
pub(super) fn encode(c: &Connection, out: &mut Vec<u8>) {
    let mut w = Writer(out);
    w.proto(c.proto);
    w.endpoint(c.local);
    w.endpoint(c.remote);
    w.ts(c.first);
    w.ts(c.last);
    w.opt_i64(c.first_key);
    w.opt_i64(c.last_key);
    w.bytes(c.history.as_bytes());
    for n in [
        c.bytes_sent,
        c.bytes_received,
        c.packets_sent,
        c.packets_received,
        c.retransmits,
        c.drops,
        c.event_count,
        c.last_window,
        c.syn_in,
        c.syn_out,
        c.synack_in,
        c.synack_out,
        c.rst_out,
        c.rst_in,
        c.bad_checksum_sent,
        c.bad_checksum_received,
    ] {
        w.u64(n);
    }
    w.u8(u8::from(c.close_reason.is_some()) | u8::from(c.closed) << 1);
    for v in [&c.first_events, &c.syn_evidence, &c.retransmit_evidence] {
        w.u32(v.len() as u32);
        for (pos, src) in v {
            w.pos(*pos);
            w.source(*src);
        }
    }
    match c.header_pid {
        Some((pos, pid, src)) => {
            w.u8(1);
            w.pos(pos);
            w.u32(pid);
            w.source(src);
        }
        None => w.u8(0),
    }
    w.u32(c.sources.len() as u32);
    for f in &c.sources {
        w.u32(*f);
    }
    w.u32(c.bad_checksum_evidence.len() as u32);
    for s in &c.bad_checksum_evidence {
        w.source(*s);
    }
}

/// Connection `index` from its [`encode`]d state; `None` if the record is
/// not one.
pub(super) fn decode(index: u32, rec: &[u8]) -> Option<Connection> {
    let mut r = Reader(rec);
    let mut c = Connection::new(index as usize, r.proto()?);
    c.local = r.endpoint()?;
    c.remote = r.endpoint()?;
    c.first = r.ts()?;
    c.last = r.ts()?;
    c.first_key = r.opt_i64()?;
    c.last_key = r.opt_i64()?;
    c.history = String::from_utf8(r.bytes()?.to_vec()).ok()?;
    for n in [
        &mut c.bytes_sent,
        &mut c.bytes_received,
        &mut c.packets_sent,
        &mut c.packets_received,
        &mut c.retransmits,
        &mut c.drops,
        &mut c.event_count,
        &mut c.last_window,
        &mut c.syn_in,
        &mut c.syn_out,
        &mut c.synack_in,
        &mut c.synack_out,
        &mut c.rst_out,
        &mut c.rst_in,
        &mut c.bad_checksum_sent,
        &mut c.bad_checksum_received,
    ] {
        *n = r.u64()?;
    }
    let flags = r.u8()?;
    if flags & 1 != 0 {
        c.close_reason = Some("RST".into());
    }
    c.closed = flags & 2 != 0;
    for v in [
        &mut c.first_events,
        &mut c.syn_evidence,
        &mut c.retransmit_evidence,
    ] {
        let n = r.u32()? as usize;
        v.reserve_exact(n.min(16));
        for _ in 0..n {
            v.push((r.pos()?, r.source()?));
        }
    }
    c.header_pid = match r.u8()? {
        0 => None,
        _ => Some((r.pos()?, r.u32()?, r.source()?)),
    };
    for _ in 0..r.u32()? {
        c.sources.insert(r.u32()?);
    }
    for _ in 0..r.u32()? {
        c.bad_checksum_evidence.push(r.source()?);
    }
    r.0.is_empty().then_some(c)
}

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            Some(v) => {
                self.u8(1);
                self.i64(v);
            }
            None => self.u8(0),
        }
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn proto(&mut self, p: Proto) {
        let [tag, n] = p.to_tag();
        self.u8(tag);
        self.u8(n);
    }
    /// Bit 0: present; bits 1-2: no IP, IPv4, IPv6; bit 3: port.
    fn endpoint(&mut self, e: Option<Endpoint>) {
        let Some(e) = e else {
            self.u8(0);
            return;
        };
        let ip = match e.ip {
            None => 0,
            Some(IpAddr::V4(_)) => 1,
            Some(IpAddr::V6(_)) => 2,
        };
        self.u8(1 | ip << 1 | u8::from(e.port.is_some()) << 3);
        match e.ip {
            Some(IpAddr::V4(a)) => self.0.extend_from_slice(&a.octets()),
            Some(IpAddr::V6(a)) => self.0.extend_from_slice(&a.octets()),
            None => {}
        }
        if let Some(p) = e.port {
            self.u16(p);
        }
    }
    fn ts(&mut self, t: Option<Timestamp>) {
        let Some(t) = t else {
            self.u8(0);
            return;
        };
        match t.zone {
            Zone::Utc => self.u8(1),
            Zone::Offset(m) => {
                self.u8(2);
                self.u16(m as u16);
            }
            Zone::Local => self.u8(3),
            Zone::TimeOfDay => self.u8(4),
        }
        self.i64(t.nanos);
    }
    fn pos(&mut self, p: TimelinePos) {
        self.i64(p.0);
        self.u32(p.1);
        self.u64(p.2);
    }
    fn source(&mut self, s: SourceRef) {
        self.u32(s.file);
        self.u64(s.line);
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_le_bytes)
    }
    fn opt_i64(&mut self) -> Option<Option<i64>> {
        match self.u8()? {
            0 => Some(None),
            _ => self.i64().map(Some),
        }
    }
    fn bytes(&mut self) -> Option<&[u8]> {
        let n = self.u32()? as usize;
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn proto(&mut self) -> Option<Proto> {
        Some(Proto::from_tag([self.u8()?, self.u8()?]))
    }
    fn endpoint(&mut self) -> Option<Option<Endpoint>> {
        let b = self.u8()?;
        if b & 1 == 0 {
            return Some(None);
        }
        let ip = match (b >> 1) & 3 {
            1 => Some(IpAddr::from(self.take::<4>()?)),
            2 => Some(IpAddr::from(self.take::<16>()?)),
            _ => None,
        };
        let port = if b & 8 != 0 { Some(self.u16()?) } else { None };
        Some(Some(Endpoint { ip, port }))
    }
    fn ts(&mut self) -> Option<Option<Timestamp>> {
        let zone = match self.u8()? {
            0 => return Some(None),
            1 => Zone::Utc,
            2 => Zone::Offset(self.u16()? as i16),
            3 => Zone::Local,
            _ => Zone::TimeOfDay,
        };
        Some(Some(Timestamp {
            nanos: self.i64()?,
            zone,
        }))
    }
    fn pos(&mut self) -> Option<TimelinePos> {
        Some((self.i64()?, self.u32()?, self.u64()?))
    }
    fn source(&mut self) -> Option<SourceRef> {
        Some(SourceRef {
            file: self.u32()?,
            line: self.u64()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(line: u64) -> SourceRef {
        SourceRef { file: 1, line }
    }

    /// A flow with every field it may carry set.
    fn busy_flow() -> Connection {
        let mut c = Connection::new(41, Proto::Udp);
        c.local = Some(Endpoint {
            ip: "10.0.0.1".parse().ok(),
            port: Some(5353),
        });
        c.remote = Some(Endpoint {
            ip: "ff02::fb".parse().ok(),
            port: None,
        });
        c.first = Some(Timestamp {
            nanos: -5,
            zone: Zone::Offset(-300),
        });
        c.last = Some(Timestamp {
            nanos: 99,
            zone: Zone::Local,
        });
        (c.first_key, c.last_key) = (Some(-5), Some(99));
        c.history = "Dadcr".into();
        (c.bytes_sent, c.bytes_received) = (1, 2);
        (c.packets_sent, c.packets_received) = (3, 4);
        (c.retransmits, c.drops, c.event_count, c.last_window) = (5, 6, 7, 8);
        (c.syn_in, c.syn_out, c.synack_in, c.synack_out) = (9, 10, 11, 12);
        (c.rst_out, c.rst_in) = (13, 14);
        (c.bad_checksum_sent, c.bad_checksum_received) = (15, 16);
        c.close_reason = Some("RST".into());
        c.closed = true;
        c.first_events = vec![((-5, 1, 3), src(3)), ((7, 1, 9), src(9))];
        c.syn_evidence = vec![((1, 1, 4), src(4))];
        c.retransmit_evidence = vec![((2, 1, 5), src(5))];
        c.header_pid = Some(((3, 1, 6), 4242, src(6)));
        c.sources = [0, 1, 7].into_iter().collect();
        c.bad_checksum_evidence = vec![src(10), src(11)];
        c
    }

    #[test]
    fn a_flow_comes_back_as_it_left() {
        for c in [busy_flow(), Connection::new(0, Proto::Other(47))] {
            assert!(spillable(&c));
            let mut rec = Vec::new();
            encode(&c, &mut rec);
            let back = decode(c.id[1..].parse::<u32>().unwrap() - 1, &rec).unwrap();
            assert_eq!(format!("{back:?}"), format!("{c:?}"));
        }
    }

    #[test]
    fn a_cut_record_is_refused() {
        let mut rec = Vec::new();
        encode(&busy_flow(), &mut rec);
        for n in 0..rec.len() {
            assert!(decode(41, &rec[..n]).is_none(), "{n} bytes");
        }
    }

    #[test]
    fn only_plain_flows_leave_memory() {
        let mut c = busy_flow();
        c.direction = ConnDirection::Outbound;
        assert!(!spillable(&c));
        let mut c = busy_flow();
        c.tcb = Some(1);
        assert!(!spillable(&c));
        let mut c = busy_flow();
        c.close_reason = Some("timeout".into());
        assert!(!spillable(&c));
        let mut c = busy_flow();
        c.states.push("Established".into());
        assert!(!spillable(&c));
    }
}
