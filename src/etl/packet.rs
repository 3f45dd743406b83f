//! Packet bytes to packet fields: Ethernet (with 802.1Q), 802.11 data frames
//! (LLC/SNAP), raw IP, ARP, IPv4, IPv6 (extension headers), TCP, UDP, ICMP.
//!
//! Captures are usually truncated (pktmon logs 128 bytes by default), so
//! every layer parses what is present and lengths come from the headers,
//! not from the captured byte count.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::text::{self, TextOut};
use crate::event::{Endpoint, PAYLOAD_PREFIX, PacketInfo, Proto};

/// What the first byte of a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Ethernet,
    Ieee80211,
    /// Starts with an IPv4 or IPv6 header.
    RawIp,
}

/// Fields found in a frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub proto: Option<Proto>,
    pub src: Option<Endpoint>,
    pub dst: Option<Endpoint>,
}

/// Which text parts of [`PacketInfo`] a parse renders. Runs that write no
/// events (`detect`, `timeline --no-events`, `drops`) never read MACs, nor
/// the summary of a packet that was not dropped (see
/// `correlate::keep_for_correlation`), and rendering them was about a
/// third of the cost of a PktMon packet event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Render {
    pub macs: bool,
    pub summary: bool,
}

impl Render {
    /// Everything rendered (events.csv, JSON, pcapng comments, `who`).
    pub const ALL: Render = Render {
        macs: true,
        summary: true,
    };
}

/// MAC address as pktmon prints it: `AA-BB-CC-DD-EE-FF`.
pub fn format_mac(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    // The usual 6 bytes are rendered on the stack and copied once (pushing
    // 17 chars one by one onto a String cost several times more).
    if let Ok(six) = <&[u8; 6]>::try_from(b) {
        let mut out = [b'-'; 17];
        for (chunk, x) in out.chunks_mut(3).zip(six) {
            if let [hi, lo, ..] = chunk {
                *hi = HEX[usize::from(x >> 4)];
                *lo = HEX[usize::from(x & 0x0F)];
            }
        }
        // Hex digits and dashes: ASCII, so the fallback is never taken.
        return std::str::from_utf8(&out)
            .map(str::to_string)
            .unwrap_or_default();
    }
    let mut s = String::with_capacity(b.len() * 3);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push('-');
        }
        s.push(char::from(HEX[usize::from(x >> 4)]));
        s.push(char::from(HEX[usize::from(x & 0x0F)]));
    }
    s
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// TCP flags in tcpdump's letters and order (`S`, `S.`, `P.`, `F.`, `R.`).
pub fn tcp_flag_letters(flags: u8) -> String {
    let mut s = String::with_capacity(flags.count_ones().max(4) as usize);
    for (bit, c) in [
        (0x01, 'F'),
        (0x02, 'S'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x10, '.'),
        (0x20, 'U'),
        (0x40, 'E'),
        (0x80, 'W'),
    ] {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    if s.is_empty() {
        s.push_str("none");
    }
    s
}

/// Whether `frame` is an Ethernet II frame carrying IPv4, IPv6 or
/// Ethernet/IPv4 ARP: an EtherType at byte 12 and the header it names
/// (version nibble, ARP hardware and protocol types) right after. PktMon
/// logs frames as `Type WiFi` at the upper edge of Wi-Fi filters and
/// miniports while they are still Ethernet frames (pktmon prints "unknown
/// 802.11 frame type" for them); an 802.11 header has the last bytes of
/// its second address there, which match this only by a 1-in-a-million
/// chance.
pub fn is_ethernet_frame(frame: &[u8]) -> bool {
    let Some(&next) = frame.get(14) else {
        return false;
    };
    match be16(frame, 12) {
        Some(0x0800) => next >> 4 == 4 && next & 0x0F >= 5,
        Some(0x86DD) => next >> 4 == 6,
        Some(0x0806) => frame.get(14..18) == Some(&[0, 1, 8, 0][..]),
        _ => false,
    }
}

/// Parses `frame` and fills `info` (MACs, EtherType, VLAN, TCP fields,
/// summary). Returns the protocol and the two endpoints when found.
pub fn parse_frame(frame: &[u8], link: LinkKind, info: &mut PacketInfo, render: Render) -> Parsed {
    match link {
        LinkKind::Ethernet => parse_ethernet(frame, info, render),
        LinkKind::Ieee80211 => parse_80211(frame, info, render),
        LinkKind::RawIp => match frame.first().map(|b| b >> 4) {
            Some(4) => parse_l3(0x0800, frame, info, render),
            Some(6) => parse_l3(0x86DD, frame, info, render),
            _ => Parsed::default(),
        },
    }
}

fn parse_ethernet(f: &[u8], info: &mut PacketInfo, render: Render) -> Parsed {
    let (Some(dst), Some(src)) = (f.get(0..6), f.get(6..12)) else {
        return Parsed::default();
    };
    if render.macs {
        info.dst_mac = Some(format_mac(dst));
        info.src_mac = Some(format_mac(src));
    }
    let mut at = 12;
    let mut ethertype = match be16(f, at) {
        Some(t) => t,
        None => return Parsed::default(),
    };
    at += 2;
    // 802.1Q / 802.1ad tags: keep the outermost VLAN id.
    while matches!(ethertype, 0x8100 | 0x88A8) {
        let (Some(tci), Some(inner)) = (be16(f, at), be16(f, at + 2)) else {
            info.ethertype = Some(ethertype);
            return Parsed::default();
        };
        if info.vlan.is_none() {
            info.vlan = Some(tci & 0x0FFF);
        }
        ethertype = inner;
        at += 4;
    }
    if ethertype < 0x0600 {
        // 802.3 length field: LLC follows; only SNAP carries an EtherType.
        return match snap_ethertype(f, at) {
            Some(t) => {
                info.ethertype = Some(t);
                parse_l3(t, f.get(at + 8..).unwrap_or(&[]), info, render)
            }
            None => Parsed::default(),
        };
    }
    info.ethertype = Some(ethertype);
    parse_l3(ethertype, f.get(at..).unwrap_or(&[]), info, render)
}

/// EtherType of an LLC/SNAP header (`AA AA 03 00 00 00 tt tt`) at `at`.
fn snap_ethertype(f: &[u8], at: usize) -> Option<u16> {
    let llc = f.get(at..at + 6)?;
    if llc[0] == 0xAA && llc[1] == 0xAA && llc[2] == 0x03 {
        be16(f, at + 6)
    } else {
        None
    }
}

/// Length of an 802.11 data frame's header: 24 bytes, a fourth address
/// between two distribution systems, QoS control, HT control.
fn data_header_len(fc0: u8, fc1: u8) -> usize {
    let mut at = 24;
    if fc1 & 3 == 3 {
        at += 6;
    }
    if (fc0 >> 4) & 0x8 != 0 {
        at += 2; // QoS control
    }
    if fc1 & 0x80 != 0 {
        at += 4; // HT control (+HTC/Order bit)
    }
    at
}

/// A copy of an 802.11 frame without its Protected bit: Windows logs
/// Wi-Fi frames decrypted and keeps the bit, and readers (tshark) would
/// not dissect their body (etl2pcapng clears it too).
pub fn without_protected_bit(frame: &[u8]) -> Vec<u8> {
    let mut plain = frame.to_vec();
    if let Some(fc1) = plain.get_mut(1) {
        *fc1 &= !0x40;
    }
    plain
}

/// A hash that is the same run after run (a fixed seed), for content keys
/// that decide which packet appearances are one packet: the answer must not
/// change between two runs over the same capture.
pub fn stable_hash(v: impl std::hash::Hash) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x5EED).hash_one(v)
}

/// Whether `frame` is an 802.11 data frame marked Protected whose body is
/// plain text all the same: Windows logs Wi-Fi frames decrypted and keeps
/// the bit (pktmon then prints the LLC/SNAP header as "IV:3aaaa"). An
/// encrypted body starts with a CCMP/TKIP header, never with the SNAP
/// header `AA AA 03 00 00 00`.
pub fn is_decrypted_80211(frame: &[u8]) -> bool {
    let (Some(&fc0), Some(&fc1)) = (frame.first(), frame.get(1)) else {
        return false;
    };
    (fc0 >> 2) & 3 == 2
        && fc1 & 0x40 != 0
        && snap_ethertype(frame, data_header_len(fc0, fc1)).is_some()
}

fn parse_80211(f: &[u8], info: &mut PacketInfo, render: Render) -> Parsed {
    let (Some(&fc0), Some(&fc1)) = (f.first(), f.get(1)) else {
        return Parsed::default();
    };
    let frame_type = (fc0 >> 2) & 3;
    let subtype = fc0 >> 4;
    if frame_type != 2 {
        if render.summary {
            info.summary = Some(format!("802.11 type {frame_type} subtype {subtype}"));
        }
        return Parsed::default();
    }
    let to_ds = fc1 & 1 != 0;
    let from_ds = fc1 & 2 != 0;
    let (Some(a1), Some(a2), Some(a3)) = (f.get(4..10), f.get(10..16), f.get(16..22)) else {
        return Parsed::default();
    };
    let a4 = f.get(24..30);
    let (da, sa) = match (to_ds, from_ds) {
        (false, false) => (Some(a1), Some(a2)),
        (true, false) => (Some(a3), Some(a2)),
        (false, true) => (Some(a1), Some(a3)),
        (true, true) => (Some(a3), a4),
    };
    if render.macs {
        info.dst_mac = da.map(format_mac);
        info.src_mac = sa.map(format_mac);
    }
    let at = data_header_len(fc0, fc1);
    if fc1 & 0x40 != 0 && !is_decrypted_80211(f) {
        if render.summary {
            info.summary = Some("802.11 protected data".to_string());
        }
        return Parsed::default();
    }
    match snap_ethertype(f, at) {
        Some(t) => {
            info.ethertype = Some(t);
            parse_l3(t, f.get(at + 8..).unwrap_or(&[]), info, render)
        }
        None => Parsed::default(),
    }
}

fn parse_l3(ethertype: u16, b: &[u8], info: &mut PacketInfo, render: Render) -> Parsed {
    match ethertype {
        0x0800 => parse_ipv4(b, info, render),
        0x86DD => parse_ipv6(b, info, render),
        0x0806 => parse_arp(b, info, render),
        _ => Parsed::default(),
    }
}

fn parse_arp(b: &[u8], info: &mut PacketInfo, render: Render) -> Parsed {
    // Ethernet/IPv4 ARP only: htype 1, ptype 0x0800, hlen 6, plen 4.
    let (Some(op), Some(spa), Some(tpa)) = (be16(b, 6), b.get(14..18), b.get(24..28)) else {
        return Parsed {
            proto: Some(Proto::Arp),
            ..Parsed::default()
        };
    };
    let sender = Ipv4Addr::new(spa[0], spa[1], spa[2], spa[3]);
    let target = Ipv4Addr::new(tpa[0], tpa[1], tpa[2], tpa[3]);
    if render.summary {
        info.summary = Some(match op {
            1 => format!("ARP Request who-has {target} tell {sender}"),
            2 => format!(
                "ARP Reply {sender} is-at {}",
                b.get(8..14).map(format_mac).unwrap_or_default()
            ),
            other => format!("ARP op {other} {sender} > {target}"),
        });
    }
    Parsed {
        proto: Some(Proto::Arp),
        src: Some(Endpoint {
            ip: Some(IpAddr::V4(sender)),
            port: None,
        }),
        dst: Some(Endpoint {
            ip: Some(IpAddr::V4(target)),
            port: None,
        }),
    }
}

fn parse_ipv4(b: &[u8], info: &mut PacketInfo, render: Render) -> Parsed {
    let Some(&vihl) = b.first() else {
        return Parsed::default();
    };
    let ihl = usize::from(vihl & 0x0F) * 4;
    let (Some(total), Some(frag), Some(&proto), Some(s), Some(d)) = (
        be16(b, 2),
        be16(b, 6),
        b.get(9),
        b.get(12..16),
        b.get(16..20),
    ) else {
        return Parsed::default();
    };
    if vihl >> 4 != 4 || ihl < 20 {
        return Parsed::default();
    }
    let src = IpAddr::V4(Ipv4Addr::new(s[0], s[1], s[2], s[3]));
    let dst = IpAddr::V4(Ipv4Addr::new(d[0], d[1], d[2], d[3]));
    info.ip_id = be16(b, 4);
    let l4_len = usize::from(total).saturating_sub(ihl);
    // Only the first fragment carries the transport header.
    let first_fragment = frag & 0x1FFF == 0;
    let l4 = if first_fragment {
        b.get(ihl..).unwrap_or(&[])
    } else {
        &[]
    };
    transport(proto, src, dst, l4, l4_len, info, render)
}

fn parse_ipv6(b: &[u8], info: &mut PacketInfo, render: Render) -> Parsed {
    let (Some(plen), Some(&first_next), Some(s), Some(d)) =
        (be16(b, 4), b.get(6), b.get(8..24), b.get(24..40))
    else {
        return Parsed::default();
    };
    let mut sa = [0u8; 16];
    sa.copy_from_slice(s);
    let mut da = [0u8; 16];
    da.copy_from_slice(d);
    let src = IpAddr::V6(Ipv6Addr::from(sa));
    let dst = IpAddr::V6(Ipv6Addr::from(da));
    let mut next = first_next;
    let mut at = 40;
    let mut remaining = usize::from(plen);
    // Walk extension headers (hop-by-hop, routing, fragment, destination).
    loop {
        match next {
            0 | 43 | 60 => {
                let (Some(&nh), Some(&len)) = (b.get(at), b.get(at + 1)) else {
                    return base(Proto::from_ip_number(next), src, dst);
                };
                let hl = (usize::from(len) + 1) * 8;
                next = nh;
                at += hl;
                remaining = remaining.saturating_sub(hl);
            }
            44 => {
                let (Some(&nh), Some(off)) = (b.get(at), be16(b, at + 2)) else {
                    return base(Proto::from_ip_number(next), src, dst);
                };
                next = nh;
                at += 8;
                remaining = remaining.saturating_sub(8);
                if off & 0xFFF8 != 0 {
                    return base(Proto::from_ip_number(next), src, dst);
                }
            }
            _ => break,
        }
    }
    transport(
        next,
        src,
        dst,
        b.get(at..).unwrap_or(&[]),
        remaining,
        info,
        render,
    )
}

fn base(proto: Proto, src: IpAddr, dst: IpAddr) -> Parsed {
    Parsed {
        proto: Some(proto),
        src: Some(Endpoint {
            ip: Some(src),
            port: None,
        }),
        dst: Some(Endpoint {
            ip: Some(dst),
            port: None,
        }),
    }
}

/// `l4` holds the captured transport bytes; `l4_len` the length the IP
/// header announces for them.
fn transport(
    proto: u8,
    src: IpAddr,
    dst: IpAddr,
    l4: &[u8],
    l4_len: usize,
    info: &mut PacketInfo,
    render: Render,
) -> Parsed {
    let mut p = base(Proto::from_ip_number(proto), src, dst);
    match proto {
        6 => {
            let (Some(sp), Some(dp)) = (be16(l4, 0), be16(l4, 2)) else {
                return p;
            };
            p.src = Some(Endpoint::new(src, sp));
            p.dst = Some(Endpoint::new(dst, dp));
            if let (Some(seq), Some(ack), Some(&off), Some(&flags), Some(win)) = (
                be32(l4, 4),
                be32(l4, 8),
                l4.get(12),
                l4.get(13),
                be16(l4, 14),
            ) {
                let hl = usize::from(off >> 4) * 4;
                info.payload_prefix = payload_prefix(l4.get(hl..), l4_len.saturating_sub(hl));
                let letters = tcp_flag_letters(flags);
                let payload = l4_len.saturating_sub(hl);
                info.seq = Some(seq);
                info.ack = (flags & 0x10 != 0).then_some(ack);
                info.window = Some(u32::from(win));
                info.payload_len = u32::try_from(payload).ok();
                if render.summary {
                    // `TCP {src} > {dst} [{letters}] seq {seq} ack {ack} win {win} length {payload}`
                    let mut summary = SummaryBuf::default();
                    summary.text("TCP ");
                    push_endpoints(&mut summary, &p);
                    summary.text(" [");
                    summary.text(&letters);
                    summary.text("] seq ");
                    text::push_u64(&mut summary, u64::from(seq));
                    summary.text(" ack ");
                    text::push_u64(&mut summary, u64::from(ack));
                    summary.text(" win ");
                    text::push_u64(&mut summary, u64::from(win));
                    summary.text(" length ");
                    text::push_u64(&mut summary, payload as u64);
                    info.summary = Some(finish_summary(&summary));
                }
                info.tcp_flags = Some(letters);
            }
        }
        17 => {
            let (Some(sp), Some(dp)) = (be16(l4, 0), be16(l4, 2)) else {
                return p;
            };
            p.src = Some(Endpoint::new(src, sp));
            p.dst = Some(Endpoint::new(dst, dp));
            let len = be16(l4, 4)
                .map(|l| usize::from(l).saturating_sub(8))
                .unwrap_or(l4_len.saturating_sub(8));
            info.payload_len = u32::try_from(len).ok();
            info.payload_prefix = payload_prefix(l4.get(8..), len);
            if render.summary {
                // `UDP {src} > {dst} length {len}`
                let mut summary = SummaryBuf::default();
                summary.text("UDP ");
                push_endpoints(&mut summary, &p);
                summary.text(" length ");
                text::push_u64(&mut summary, len as u64);
                info.summary = Some(finish_summary(&summary));
            }
        }
        1 | 58 if !render.summary => {}
        1 | 58 => {
            let (Some(&t), Some(&c)) = (l4.first(), l4.get(1)) else {
                return p;
            };
            let name = icmp_name(proto == 58, t);
            let label = if proto == 58 { "ICMP6" } else { "ICMP" };
            // `{label} {name}{echo} {src} > {dst}`, the echo part being
            // `, id {id}, seq {seq}`; or `{label} type {t} code {c} {src} > {dst}`.
            let mut summary = SummaryBuf::default();
            summary.text(label);
            summary.ascii(b' ');
            match name {
                Some(n) => {
                    summary.text(n);
                    if let ((1, 0 | 8) | (58, 128 | 129), Some(id), Some(seq)) =
                        ((proto, t), be16(l4, 4), be16(l4, 6))
                    {
                        summary.text(", id ");
                        text::push_u64(&mut summary, u64::from(id));
                        summary.text(", seq ");
                        text::push_u64(&mut summary, u64::from(seq));
                    }
                }
                None => {
                    summary.text("type ");
                    text::push_u64(&mut summary, u64::from(t));
                    summary.text(" code ");
                    text::push_u64(&mut summary, u64::from(c));
                }
            }
            summary.ascii(b' ');
            text::push_ip(&mut summary, src);
            summary.text(" > ");
            text::push_ip(&mut summary, dst);
            info.summary = Some(finish_summary(&summary));
        }
        _ => {}
    }
    p
}

/// [`PacketInfo::payload_prefix`]: a hash of the first
/// [`PAYLOAD_PREFIX`] payload bytes (all of them when the payload is
/// shorter); `None` when the capture cut them short.
fn payload_prefix(captured: Option<&[u8]>, payload_len: usize) -> Option<u64> {
    let want = payload_len.min(PAYLOAD_PREFIX);
    Some(stable_hash(captured?.get(..want)?))
}

/// Summaries are built on the stack, then copied once into a `String` of
/// exact size. The longest (TCP between two IPv6 endpoints with every
/// flag and the largest numbers) is under 200 bytes.
type SummaryBuf = text::AsciiBuf<256>;

fn finish_summary(b: &SummaryBuf) -> String {
    debug_assert!(!b.overflowed(), "summary longer than its buffer");
    b.as_str().to_string()
}

/// `{src} > {dst}` of a parsed frame (both endpoints are set by then).
fn push_endpoints(s: &mut impl TextOut, p: &Parsed) {
    if let (Some(src), Some(dst)) = (&p.src, &p.dst) {
        text::push_endpoint(s, src);
        s.text(" > ");
        text::push_endpoint(s, dst);
    }
}

fn icmp_name(v6: bool, t: u8) -> Option<&'static str> {
    Some(match (v6, t) {
        (false, 0) => "echo reply",
        (false, 3) => "destination unreachable",
        (false, 5) => "redirect",
        (false, 8) => "echo request",
        (false, 11) => "time exceeded",
        (true, 1) => "destination unreachable",
        (true, 2) => "packet too big",
        (true, 3) => "time exceeded",
        (true, 128) => "echo request",
        (true, 129) => "echo reply",
        (true, 133) => "router solicitation",
        (true, 134) => "router advertisement",
        (true, 135) => "neighbor solicitation",
        (true, 136) => "neighbor advertisement",
        (true, 143) => "multicast listener report v2",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(ethertype: u16, body: &[u8]) -> Vec<u8> {
        let mut f = vec![
            0x3C, 0x84, 0x6A, 0x01, 0xEA, 0x8B, 0x54, 0x8C, 0xA0, 0x98, 0x0E, 0x25,
        ];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(body);
        f
    }

    fn ipv4(proto: u8, total: u16, l4: &[u8]) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 128, proto, 0, 0];
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&[192, 168, 0, 111, 31, 171, 152, 19]);
        h.extend_from_slice(l4);
        h
    }

    fn tcp(flags: u8) -> Vec<u8> {
        let mut t = vec![0xF6, 0x6E, 0x01, 0xBB];
        t.extend_from_slice(&1u32.to_be_bytes());
        t.extend_from_slice(&1_974_835_126u32.to_be_bytes());
        t.extend_from_slice(&[0x50, flags, 0x07, 0xFA, 0, 0, 0, 0]);
        t
    }

    #[test]
    fn ethernet_ipv4_tcp_ack() {
        let f = eth(0x0800, &ipv4(6, 40, &tcp(0x10)));
        let mut info = PacketInfo::default();
        let p = parse_frame(&f, LinkKind::Ethernet, &mut info, Render::ALL);
        assert_eq!(p.proto, Some(Proto::Tcp));
        assert_eq!(p.src.unwrap().to_string(), "192.168.0.111:63086");
        assert_eq!(p.dst.unwrap().to_string(), "31.171.152.19:443");
        assert_eq!(info.src_mac.as_deref(), Some("54-8C-A0-98-0E-25"));
        assert_eq!(info.dst_mac.as_deref(), Some("3C-84-6A-01-EA-8B"));
        assert_eq!(info.tcp_flags.as_deref(), Some("."));
        assert_eq!(info.ack, Some(1_974_835_126));
        assert_eq!(info.window, Some(2042));
        assert_eq!(info.payload_len, Some(0));
    }

    #[test]
    fn tcp_flag_letters_follow_tcpdump() {
        assert_eq!(tcp_flag_letters(0x02), "S");
        assert_eq!(tcp_flag_letters(0x12), "S.");
        assert_eq!(tcp_flag_letters(0x18), "P.");
        assert_eq!(tcp_flag_letters(0x11), "F.");
        assert_eq!(tcp_flag_letters(0x04), "R");
        assert_eq!(tcp_flag_letters(0x14), "R.");
        assert_eq!(tcp_flag_letters(0), "none");
    }

    #[test]
    fn vlan_tag_and_truncated_udp() {
        let mut body = vec![0x00, 0x05, 0x08, 0x00];
        let udp = [0x13, 0x88, 0x00, 0x35, 0x00, 0x24];
        body.extend_from_slice(&ipv4(17, 56, &udp));
        let f = eth(0x8100, &body);
        let mut info = PacketInfo::default();
        let p = parse_frame(&f, LinkKind::Ethernet, &mut info, Render::ALL);
        assert_eq!(info.vlan, Some(5));
        assert_eq!(info.ethertype, Some(0x0800));
        assert_eq!(p.proto, Some(Proto::Udp));
        assert_eq!(p.dst.unwrap().port, Some(53));
        assert_eq!(info.payload_len, Some(28));
    }

    #[test]
    fn ipv6_with_hop_by_hop_and_icmpv6() {
        let mut h = vec![0x60, 0, 0, 0, 0, 16, 0, 1];
        h.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        h.extend_from_slice(&[0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16]);
        h.extend_from_slice(&[58, 0, 5, 2, 0, 0, 1, 0]); // hop-by-hop, next = ICMPv6
        h.extend_from_slice(&[143, 0, 0, 0, 0, 0, 0, 1]);
        let mut info = PacketInfo::default();
        let p = parse_frame(&eth(0x86DD, &h), LinkKind::Ethernet, &mut info, Render::ALL);
        assert_eq!(p.proto, Some(Proto::Icmpv6));
        assert_eq!(p.dst.unwrap().ip.unwrap().to_string(), "ff02::16");
        assert!(info.summary.unwrap().contains("multicast listener report"));
    }

    #[test]
    fn arp_request() {
        let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1];
        a.extend_from_slice(&[1, 2, 3, 4, 5, 6, 192, 168, 0, 1]);
        a.extend_from_slice(&[0, 0, 0, 0, 0, 0, 192, 168, 0, 111]);
        let mut info = PacketInfo::default();
        let p = parse_frame(&eth(0x0806, &a), LinkKind::Ethernet, &mut info, Render::ALL);
        assert_eq!(p.proto, Some(Proto::Arp));
        assert_eq!(
            info.summary.as_deref(),
            Some("ARP Request who-has 192.168.0.111 tell 192.168.0.1")
        );
    }

    #[test]
    fn wifi_to_ds_data_frame_with_snap() {
        let mut f = vec![0x08, 0x01, 0, 0];
        f.extend_from_slice(&[0x3C, 0x84, 0x6A, 0x01, 0xEA, 0x8B]); // BSSID
        f.extend_from_slice(&[0x54, 0x8C, 0xA0, 0x98, 0x0E, 0x25]); // SA
        f.extend_from_slice(&[0x3C, 0x84, 0x6A, 0x01, 0xEA, 0x8B]); // DA
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&[0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00]);
        f.extend_from_slice(&ipv4(6, 40, &tcp(0x18)));
        let mut info = PacketInfo::default();
        let p = parse_frame(&f, LinkKind::Ieee80211, &mut info, Render::ALL);
        assert_eq!(info.src_mac.as_deref(), Some("54-8C-A0-98-0E-25"));
        assert_eq!(info.tcp_flags.as_deref(), Some("P."));
        assert_eq!(p.dst.unwrap().port, Some(443));
    }

    /// A frame marked Protected with a plain LLC/SNAP body (as Windows
    /// logs Wi-Fi frames) parses like an unprotected one; an encrypted body
    /// (CCMP header) does not.
    #[test]
    fn decrypted_frames_marked_protected_are_parsed() {
        let mut f = vec![0x08, 0x42, 0, 0];
        f.extend_from_slice(&[0x54, 0x8C, 0xA0, 0x98, 0x0E, 0x25]); // DA
        f.extend_from_slice(&[0x3C, 0x84, 0x6A, 0x01, 0xEA, 0x8B]); // BSSID
        f.extend_from_slice(&[0x3C, 0x84, 0x6A, 0x01, 0xEA, 0x8B, 0xF0, 0x20]); // SA, seq
        let mut plain = f.clone();
        plain.extend_from_slice(&[0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00]);
        plain.extend_from_slice(&ipv4(17, 28, &[0, 53, 0xF9, 0xA8, 0, 8, 0, 0]));
        assert!(is_decrypted_80211(&plain));
        let mut info = PacketInfo::default();
        let p = parse_frame(&plain, LinkKind::Ieee80211, &mut info, Render::ALL);
        assert_eq!(p.proto, Some(Proto::Udp));
        assert_eq!(p.src.unwrap().port, Some(53));
        let mut sealed = f.clone();
        sealed.extend_from_slice(&[0x01, 0x00, 0x00, 0x20, 0, 0, 0, 0, 0x9C, 0x4E]);
        assert!(!is_decrypted_80211(&sealed));
        let mut info = PacketInfo::default();
        let p = parse_frame(&sealed, LinkKind::Ieee80211, &mut info, Render::ALL);
        assert_eq!(p, Parsed::default());
        assert_eq!(info.summary.as_deref(), Some("802.11 protected data"));
        // Not marked Protected: not "decrypted".
        plain[1] &= !0x40;
        assert!(!is_decrypted_80211(&plain));
    }

    /// The IPv4 Identification and the payload's first bytes are the same
    /// in an Ethernet frame and the 802.11 frame of the same packet, and
    /// tell apart packets whose headers are alike.
    #[test]
    fn ip_id_and_payload_prefix_follow_the_packet_not_the_link() {
        let mut seg = tcp(0x18);
        seg.extend_from_slice(b"SSH-2.0-OpenSSH_9.6 more bytes here");
        let mut ip = ipv4(6, 20 + seg.len() as u16, &seg);
        ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        let parse = |f: &[u8], link| {
            let mut info = PacketInfo::default();
            parse_frame(f, link, &mut info, Render::ALL);
            info
        };
        let on_ethernet = parse(&eth(0x0800, &ip), LinkKind::Ethernet);
        let mut wifi = vec![0x08, 0x01, 0, 0];
        wifi.extend_from_slice(&[0x3C, 0x84, 0x6A, 0x01, 0xEA, 0x8B]);
        wifi.extend_from_slice(&[0x54, 0x8C, 0xA0, 0x98, 0x0E, 0x25]);
        wifi.extend_from_slice(&[0x3C, 0x84, 0x6A, 0x01, 0xEA, 0x8B, 0, 0]);
        wifi.extend_from_slice(&[0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00]);
        wifi.extend_from_slice(&ip);
        let on_wifi = parse(&wifi, LinkKind::Ieee80211);
        assert_eq!(on_ethernet.ip_id, Some(0x1234));
        assert!(on_ethernet.payload_prefix.is_some());
        assert_eq!(
            (on_wifi.ip_id, on_wifi.payload_prefix),
            (on_ethernet.ip_id, on_ethernet.payload_prefix)
        );
        let mut other = ip.clone();
        let last = other.len() - 30;
        other[last] ^= 1;
        assert_ne!(
            parse(&eth(0x0800, &other), LinkKind::Ethernet).payload_prefix,
            on_ethernet.payload_prefix
        );
        // Cut before the payload's 16th byte: no prefix.
        let cut = &eth(0x0800, &ip)[..14 + 20 + 20 + 8];
        assert_eq!(parse(cut, LinkKind::Ethernet).payload_prefix, None);
    }

    #[test]
    fn ethernet_frames_are_told_from_80211_frames() {
        assert!(is_ethernet_frame(&eth(0x0800, &ipv4(6, 40, &tcp(0x10)))));
        let mut v6 = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
        v6.extend_from_slice(&[0; 40]);
        assert!(is_ethernet_frame(&eth(0x86DD, &v6)));
        assert!(is_ethernet_frame(&eth(0x0806, &[0, 1, 8, 0, 6, 4, 0, 1])));
        // An 802.11 data frame (the SNAP test's), a VLAN-less LLDP frame,
        // a frame cut before its IP header, a bad IPv4 header length.
        let mut wifi = vec![0x08, 0x01, 0, 0];
        wifi.extend_from_slice(&[0x3C, 0x84, 0x6A, 0x01, 0xEA, 0x8B]);
        wifi.extend_from_slice(&[0x54, 0x8C, 0xA0, 0x98, 0x0E, 0x25]);
        wifi.extend_from_slice(&[0x3C, 0x84, 0x6A, 0x01, 0xEA, 0x8B, 0, 0]);
        wifi.extend_from_slice(&[0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00]);
        assert!(!is_ethernet_frame(&wifi));
        assert!(!is_ethernet_frame(&eth(0x88CC, &[2, 7, 4])));
        assert!(!is_ethernet_frame(&eth(0x0800, &[])));
        assert!(!is_ethernet_frame(&eth(0x0800, &[0x44, 0, 0, 20])));
    }

    #[test]
    fn garbage_and_empty_frames_do_not_panic() {
        for len in 0..80 {
            let f: Vec<u8> = (0..len).map(|i| (i * 37 + 5) as u8).collect();
            for link in [LinkKind::Ethernet, LinkKind::Ieee80211, LinkKind::RawIp] {
                let mut info = PacketInfo::default();
                let _ = parse_frame(&f, link, &mut info, Render::ALL);
            }
        }
        let mut info = PacketInfo::default();
        let _ = parse_frame(
            &eth(0x0800, &[0x4F]),
            LinkKind::Ethernet,
            &mut info,
            Render::ALL,
        );
    }

    /// Leaving out MACs and/or the summary changes nothing else: the same
    /// endpoints, protocol and packet fields, over every frame kind the
    /// other tests build and over random bytes.
    #[test]
    fn partial_render_leaves_only_the_skipped_text_out() {
        let mut frames: Vec<(Vec<u8>, LinkKind)> = vec![
            (eth(0x0800, &ipv4(6, 40, &tcp(0x12))), LinkKind::Ethernet),
            (
                eth(0x0800, &ipv4(17, 28, &[0, 53, 0xC0, 0x01, 0, 8, 0, 0])),
                LinkKind::Ethernet,
            ),
            (
                eth(0x0800, &ipv4(1, 28, &[8, 0, 0, 0, 0, 1, 0, 2])),
                LinkKind::Ethernet,
            ),
            (ipv4(6, 40, &tcp(0x18)), LinkKind::RawIp),
        ];
        let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 2];
        arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
        frames.push((eth(0x0806, &arp), LinkKind::Ethernet));
        let mut rng = crate::etl::testutil::XorShift(0x5EED_F12A);
        for len in [14usize, 20, 34, 54, 60, 80] {
            for link in [LinkKind::Ethernet, LinkKind::Ieee80211, LinkKind::RawIp] {
                let mut f: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                if let (LinkKind::RawIp, Some(b)) = (link, f.first_mut()) {
                    *b = 0x45;
                }
                frames.push((f, link));
            }
        }
        for (f, link) in &frames {
            let mut full = PacketInfo::default();
            let want = parse_frame(f, *link, &mut full, Render::ALL);
            for (macs, summary) in [(false, false), (false, true), (true, false)] {
                let mut part = PacketInfo::default();
                let got = parse_frame(f, *link, &mut part, Render { macs, summary });
                assert_eq!(got, want, "{f:02X?}");
                let mut expect = full.clone();
                if !macs {
                    expect.src_mac = None;
                    expect.dst_mac = None;
                }
                if !summary {
                    expect.summary = None;
                }
                assert_eq!(part, expect, "{f:02X?} macs {macs} summary {summary}");
            }
        }
    }

    /// The longest summary (TCP between IPv6 endpoints with no zero
    /// groups, every flag and the largest numbers) fits its buffer.
    #[test]
    fn longest_tcp_summary_fits() {
        let mut h = vec![0x60, 0, 0, 0, 0xFF, 0xFF, 6, 64];
        h.extend_from_slice(&[0xAB; 32]);
        h.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
        h.extend_from_slice(&u32::MAX.to_be_bytes());
        h.extend_from_slice(&u32::MAX.to_be_bytes());
        h.extend_from_slice(&[0x00, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]);
        let mut info = PacketInfo::default();
        let p = parse_frame(&h, LinkKind::RawIp, &mut info, Render::ALL);
        let src = p.src.unwrap();
        let dst = p.dst.unwrap();
        assert_eq!(
            info.summary.as_deref(),
            Some(
                format!(
                    "TCP {src} > {dst} [FSRP.UEW] seq {0} ack {0} win 65535 length 65535",
                    u32::MAX
                )
                .as_str()
            )
        );
    }

    #[test]
    fn mac_text_of_any_length() {
        assert_eq!(format_mac(&[]), "");
        assert_eq!(format_mac(&[0x0A]), "0A");
        let long: Vec<u8> = (0..20).collect();
        let want: Vec<String> = long.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(format_mac(&long), want.join("-"));
        assert_eq!(
            format_mac(&[0, 0x1F, 0xA0, 0xFF, 0x09, 0x90]),
            "00-1F-A0-FF-09-90"
        );
    }
}
