//! Parser for the tcpdump-style decoded packet text pktmon prints under each
//! packet line: Ethernet (`AA-.. > BB-.., ethertype IPv4 (0x0800), length
//! 66: …`), Wi-Fi (`BSSID:… SA:… DA:… LLC, … ethertype IPv4 …`), `ip: …` for
//! IP-typed appearances, VLAN tags, IPv4/IPv6 with TCP/UDP/ICMP/DNS, and ARP.
//! `--verbose` spreads one decode over several lines; the caller joins them
//! with a space, and the IP-header parenthetical `(tos …, length N)` is
//! skipped here.

use std::net::IpAddr;

use crate::decode::common::{find_str, parse_ip, rfind_str, split_str, trim};
use crate::event::{Endpoint, Proto};

/// What the decoded text says about one packet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decoded {
    pub src_mac: Option<String>,
    pub dst_mac: Option<String>,
    pub ethertype: Option<u16>,
    pub vlan: Option<u16>,
    pub proto: Option<Proto>,
    pub src: Option<Endpoint>,
    pub dst: Option<Endpoint>,
    pub tcp_flags: Option<String>,
    pub seq: Option<u32>,
    pub ack: Option<u32>,
    pub window: Option<u32>,
    /// Transport payload length (`length N` of TCP/UDP/ICMP, DNS `(N)`, ARP length).
    pub payload_len: Option<u32>,
    /// Link-layer frame length (`length N:` after the ethertype).
    pub frame_len: Option<u32>,
    /// What the decode is: `tcp`, `udp`, `icmp`, `icmpv6`, `arp`, `ip`,
    /// `802.11-data` (encrypted, no L3), `802.11-mgmt`, `802.11-other`, `other`.
    pub class: &'static str,
    /// ARP operation (`request`, `reply`) or ICMP message (`echo request`).
    pub detail: Option<String>,
}

/// A MAC as pktmon prints it: `AA-BB-CC-DD-EE-FF`.
fn is_mac(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 17
        && b.iter().enumerate().all(|(i, c)| {
            if i % 3 == 2 {
                *c == b'-' || *c == b':'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

fn num_after(s: &str, key: &str) -> Option<u32> {
    let i = find_str(s, key)?;
    let rest = s.get(i + key.len()..)?;
    let end = rest
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len());
    rest.get(..end)?.parse().ok()
}

/// `IPv4 (0x0800)` → 0x0800.
fn ethertype_in(s: &str) -> Option<u16> {
    let i = find_str(s, "(0x")?;
    let rest = s.get(i + 3..)?;
    let end = memchr::memchr(b')', rest.as_bytes())?;
    u16::from_str_radix(rest.get(..end)?, 16).ok()
}

/// `192.168.0.1.443`, `192.168.0.1`, `fe80::1.546`, `ff02::1:2` → endpoint.
pub fn parse_host_port(s: &str) -> Option<Endpoint> {
    let s = trim(s);
    let b = s.as_bytes();
    // One pass for what the forms are told apart by: a `:` (IPv6), the
    // number of dots and where the last one is.
    let (mut colon, mut dots, mut last_dot) = (false, 0usize, None);
    for (i, c) in b.iter().enumerate() {
        match c {
            b':' => colon = true,
            b'.' => (dots, last_dot) = (dots + 1, Some(i)),
            _ => {}
        }
    }
    if colon {
        if let Some(dot) = last_dot
            && let (Some(ip), Ok(port)) = (
                s.get(..dot).and_then(parse_ip),
                s.get(dot + 1..).unwrap_or_default().parse::<u16>(),
            )
        {
            return Some(Endpoint::new(ip, port));
        }
        let ip = parse_ip(s)?;
        return Some(Endpoint {
            ip: Some(ip),
            port: None,
        });
    }
    match dots {
        4 => {
            let dot = last_dot?;
            let ip = ipv4(s.get(..dot)?)?;
            Some(Endpoint::new(ip, s.get(dot + 1..)?.parse().ok()?))
        }
        3 => Some(Endpoint {
            ip: Some(ipv4(s)?),
            port: None,
        }),
        _ => None,
    }
}

/// [`parse_ip`] of text without a `:`: dotted quads of plain digits (what
/// pktmon prints) are read in one pass; anything else (padding, a stray
/// character) goes to `parse_ip`, so the result is always `parse_ip`'s.
fn ipv4(s: &str) -> Option<IpAddr> {
    let mut oct = [0u8; 4];
    let (mut n, mut value, mut digits) = (0usize, 0u16, 0u8);
    for &c in s.as_bytes() {
        if c.is_ascii_digit() && digits < 3 {
            value = value * 10 + u16::from(c - b'0');
            digits += 1;
        } else if c == b'.' && digits > 0 && n < 3 && value <= 255 {
            oct[n] = value as u8;
            (n, value, digits) = (n + 1, 0, 0);
        } else {
            return parse_ip(s);
        }
    }
    if n == 3 && digits > 0 && value <= 255 {
        oct[3] = value as u8;
        return Some(IpAddr::V4(std::net::Ipv4Addr::from(oct)));
    }
    parse_ip(s)
}

/// Skips one balanced parenthetical at the start (`(tos 0x0, ttl 128, …) `).
fn skip_paren(s: &str) -> &str {
    let t = s.trim_start();
    if !t.starts_with('(') {
        return t;
    }
    let mut depth = 0i32;
    for (i, c) in t.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return t[i + 1..].trim_start();
                }
            }
            _ => {}
        }
    }
    t
}

/// Parses a whole decoded text.
pub fn parse(text: &str) -> Decoded {
    let mut d = Decoded {
        class: "other",
        ..Decoded::default()
    };
    let mut s = trim(text);
    // Drops repeat the `Drop: ` label (or its translation, `丢弃：`) on the
    // decoded line: a first word ending in a colon, other than `ip:`.
    if let Some(first) = s.split_whitespace().next()
        && first != "ip:"
        && (first.ends_with(':') || first.ends_with('：'))
    {
        s = s[first.len()..].trim_start();
    }
    if let Some(r) = s.strip_prefix("ip:") {
        network(r.trim_start(), &mut d);
        return d;
    }
    for p in ["IP6 ", "IP "] {
        if let Some(r) = s.strip_prefix(p) {
            network(r, &mut d);
            return d;
        }
    }
    // Ethernet: `SRC > DST, ethertype …, length N: rest`.
    let first = s.split(' ').next().unwrap_or("");
    if is_mac(first) {
        let after = &s[first.len()..];
        if let Some(after) = after.strip_prefix(" > ") {
            let dst = after.split([',', ' ']).next().unwrap_or("");
            if is_mac(dst) {
                d.src_mac = Some(first.to_string());
                d.dst_mac = Some(dst.to_string());
                link_rest(&after[dst.len()..], &mut d);
                return d;
            }
        }
    }
    // Wi-Fi: `BSSID:… SA:… DA:… …` in any order.
    if s.starts_with("BSSID:")
        || s.starts_with("DA:")
        || s.starts_with("SA:")
        || s.starts_with("RA:")
        || s.starts_with("TA:")
    {
        let mut rest = s;
        loop {
            let tok = rest.split(' ').next().unwrap_or("");
            let Some((k, v)) = tok.split_once(':') else {
                break;
            };
            if !is_mac(v) {
                break;
            }
            match k {
                "SA" => d.src_mac = Some(v.to_string()),
                "DA" => d.dst_mac = Some(v.to_string()),
                "TA" if d.src_mac.is_none() => d.src_mac = Some(v.to_string()),
                "RA" if d.dst_mac.is_none() => d.dst_mac = Some(v.to_string()),
                _ => {}
            }
            rest = rest[tok.len()..].trim_start();
        }
        if find_str(rest, "ethertype ").is_some() {
            link_rest(rest, &mut d);
        } else if rest.starts_with("Data") {
            d.class = "802.11-data";
        } else {
            d.class = "802.11-mgmt";
        }
        return d;
    }
    if s.starts_with("unknown 802.11") || s.starts_with("802.11") {
        d.class = "802.11-other";
        return d;
    }
    // Brief/no-ethernet forms: straight `SRC > DST: …`.
    if find_str(s, " > ").is_some() {
        network(s, &mut d);
    }
    d
}

/// After the MACs: `, ethertype IPv4 (0x0800), length 66: rest`, possibly
/// with an 802.1Q tag, or an LLC/SNAP header on Wi-Fi.
fn link_rest(s: &str, d: &mut Decoded) {
    let Some(et) = find_str(s, "ethertype ") else {
        return;
    };
    let s = &s[et..];
    d.ethertype = ethertype_in(s);
    let Some(colon) = find_str(s, ": ") else {
        d.frame_len = num_after(s, "length ");
        return;
    };
    d.frame_len = num_after(&s[..colon], "length ");
    let mut rest = &s[colon + 2..];
    // 802.1Q: `vlan 10, p 0, ethertype IPv4 (0x0800), rest`.
    if let Some(v) = rest.strip_prefix("vlan ") {
        d.vlan = num_after(v, "").and_then(|n| u16::try_from(n).ok());
        if let Some(i) = find_str(v, "ethertype ") {
            let inner = &v[i..];
            d.ethertype = ethertype_in(inner);
            rest = match find_str(inner, "), ") {
                Some(j) => &inner[j + 3..],
                None => "",
            };
        }
    }
    match d.ethertype {
        Some(0x0806) => arp(rest, d),
        Some(0x0800) | Some(0x86dd) => network(rest, d),
        _ => {}
    }
}

fn arp(s: &str, d: &mut Decoded) {
    d.proto = Some(Proto::Arp);
    d.class = "arp";
    d.payload_len = rfind_str(s, "length ").and_then(|i| num_after(&s[i..], "length "));
    let ip_of = |t: &str| t.split([' ', ',']).next().and_then(parse_ip);
    if let Some(r) = s.strip_prefix("Request who-has ") {
        d.detail = Some("request".into());
        d.dst = ip_of(r).map(|ip| Endpoint {
            ip: Some(ip),
            port: None,
        });
        if let Some(i) = find_str(r, " tell ") {
            d.src = ip_of(&r[i + 6..]).map(|ip| Endpoint {
                ip: Some(ip),
                port: None,
            });
        }
    } else if let Some(r) = s.strip_prefix("Reply ") {
        d.detail = Some("reply".into());
        d.src = ip_of(r).map(|ip| Endpoint {
            ip: Some(ip),
            port: None,
        });
    } else {
        d.detail = s.split(',').next().map(|x| x.trim().to_string());
    }
}

/// `[(ip header)] SRC > DST: transport`.
fn network(s: &str, d: &mut Decoded) {
    let s = skip_paren(s);
    let Some(gt) = find_str(s, " > ") else {
        return;
    };
    let after = &s[gt + 3..];
    let (dst_txt, l4) = match find_str(after, ": ") {
        Some(c) => (&after[..c], after[c + 2..].trim_start()),
        None => (after.trim_end_matches(':'), ""),
    };
    let (Some(src), Some(dst)) = (parse_host_port(&s[..gt]), parse_host_port(dst_txt)) else {
        return;
    };
    let v6 = matches!(src.ip, Some(IpAddr::V6(_)));
    d.src = Some(src);
    d.dst = Some(dst);
    d.class = "ip";
    let has_ports = src.port.is_some();
    if let Some(f) = l4.strip_prefix("Flags [") {
        d.proto = Some(Proto::Tcp);
        d.class = "tcp";
        d.tcp_flags = f.split(']').next().map(str::to_string);
        for part in split_str(l4, ", ") {
            if let Some(v) = part.strip_prefix("seq ") {
                d.seq = v.split(':').next().and_then(|x| x.parse().ok());
            } else if let Some(v) = part.strip_prefix("ack ") {
                d.ack = v.parse().ok();
            } else if let Some(v) = part.strip_prefix("win ") {
                d.window = v.parse().ok();
            } else if let Some(v) = part.strip_prefix("length ") {
                d.payload_len = num_after(v, "");
            }
        }
    } else if l4.starts_with("ICMP6") || (v6 && l4.starts_with("ICMP")) {
        d.proto = Some(Proto::Icmpv6);
        d.class = "icmpv6";
        icmp(l4, d);
    } else if l4.starts_with("ICMP") {
        d.proto = Some(Proto::Icmp);
        d.class = "icmp";
        icmp(l4, d);
    } else if let Some(p) = l4.trim_start().strip_prefix("ip-proto-") {
        let n = num_after(p, "").and_then(|n| u8::try_from(n).ok());
        d.proto = n.map(Proto::from_ip_number);
        d.class = "ip";
        d.payload_len = p.split(' ').nth(1).and_then(|x| x.parse().ok());
    } else if has_ports {
        // UDP, or an application decode over UDP (DNS, DHCPv6, SSDP…):
        // TCP always starts with `Flags [`.
        d.proto = Some(Proto::Udp);
        d.class = "udp";
        if let Some(v) = l4.strip_prefix("UDP, length ") {
            d.payload_len = num_after(v, "");
        } else if let Some(open) = rfind_str(l4, " (") {
            // DNS: `… A? name. (28)` — the UDP payload length.
            let tail = &l4[open + 2..];
            if tail.ends_with(')') {
                d.payload_len = num_after(tail, "");
            }
        }
    }
}

fn icmp(l4: &str, d: &mut Decoded) {
    let body = l4
        .trim_start_matches("ICMP6")
        .trim_start_matches("ICMP")
        .trim_start_matches(',')
        .trim();
    d.detail = body.split(',').next().map(|x| x.trim().to_string());
    d.payload_len = rfind_str(l4, "length ").and_then(|i| num_after(&l4[i..], "length "));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethernet_tcp_syn_with_options() {
        let d = parse(
            "40-EC-99-B9-17-25 > F0-B4-D2-5A-D3-E2, ethertype IPv4 (0x0800), length 66: 192.168.0.62.65066 > 172.217.2.115.443: Flags [S], seq 1995496356, win 64240, options [mss 1460,nop,wscale 8,nop,nop,sackOK], length 0",
        );
        assert_eq!(d.src_mac.as_deref(), Some("40-EC-99-B9-17-25"));
        assert_eq!(d.ethertype, Some(0x0800));
        assert_eq!(d.frame_len, Some(66));
        assert_eq!(d.proto, Some(Proto::Tcp));
        assert_eq!(d.src.unwrap().to_string(), "192.168.0.62:65066");
        assert_eq!(d.dst.unwrap().to_string(), "172.217.2.115:443");
        assert_eq!(d.tcp_flags.as_deref(), Some("S"));
        assert_eq!(
            (d.seq, d.ack, d.window, d.payload_len),
            (Some(1995496356), None, Some(64240), Some(0))
        );
    }

    #[test]
    fn push_with_seq_range_and_http() {
        let d = parse(
            "00-FF-3C-DA-16-9C > 00-FF-3D-DA-16-9C, ethertype IPv4 (0x0800), length 94: 10.7.3.2.52648 > 91.108.23.100.80: Flags [P.], seq 3119698246:3119698286, ack 3459562924, win 1028, length 40: HTTP",
        );
        assert_eq!(d.tcp_flags.as_deref(), Some("P."));
        assert_eq!(d.seq, Some(3119698246));
        assert_eq!(d.payload_len, Some(40));
    }

    #[test]
    fn ip_typed_drop_line() {
        let d = parse("Drop: ip: 192.168.5.88.50005 > 192.168.5.68.50005: UDP, length 374");
        assert_eq!(d.proto, Some(Proto::Udp));
        assert_eq!(d.src.unwrap().to_string(), "192.168.5.88:50005");
        assert_eq!(d.dst.unwrap().to_string(), "192.168.5.68:50005");
        assert_eq!(d.payload_len, Some(374));
        assert_eq!(d.src_mac, None);
    }

    #[test]
    fn ipv6_dns_and_dhcp6() {
        let d = parse(
            "A8-A7-95-AA-59-6B > 33-33-00-00-00-FB, ethertype IPv6 (0x86dd), length 102: fe80::59df:1ebf:95e6:52a5.5353 > ff02::fb.5353: 0 PTR (QM)? _googlecast._tcp.local. (40)",
        );
        assert_eq!(d.proto, Some(Proto::Udp));
        assert_eq!(d.dst.unwrap().to_string(), "[ff02::fb]:5353");
        assert_eq!(d.payload_len, Some(40));
        let d = parse(
            "EC-8E-B5-4A-56-EF > 33-33-00-01-00-02, ethertype IPv6 (0x86dd), length 165: fe80::3933:1f2b:90a9:8e0c.546 > ff02::1:2.547: dhcp6 solicit",
        );
        assert_eq!(d.dst.unwrap().to_string(), "[ff02::1:2]:547");
    }

    #[test]
    fn arp_icmp_igmp() {
        let d = parse(
            "3C-84-6A-01-EA-8B > FF-FF-FF-FF-FF-FF, ethertype ARP (0x0806), length 42: Request who-has 192.168.0.111 tell 192.168.0.1, length 28",
        );
        assert_eq!(d.proto, Some(Proto::Arp));
        assert_eq!(d.src.unwrap().ip, "192.168.0.1".parse().ok());
        assert_eq!(d.dst.unwrap().ip, "192.168.0.111".parse().ok());
        let d = parse(
            "54-8C-A0-98-0E-25 > 3C-84-6A-01-EA-8B, ethertype IPv4 (0x0800), length 74: 192.168.0.111 > 142.250.192.110: ICMP echo request, id 1, seq 5, length 40",
        );
        assert_eq!(d.proto, Some(Proto::Icmp));
        assert_eq!(d.detail.as_deref(), Some("echo request"));
        assert_eq!(d.payload_len, Some(40));
        assert_eq!(d.src.unwrap().port, None);
        let d = parse(
            "3C-84-6A-01-EA-8B > 01-00-5E-00-00-01, ethertype IPv4 (0x0800), length 46: 192.168.0.1 > 224.0.0.1:  ip-proto-2 8",
        );
        assert_eq!(d.proto, Some(Proto::Other(2)));
        assert_eq!(d.payload_len, Some(8));
        let d = parse(
            "00-15-5D-01-02-03 > 33-33-FF-00-00-01, ethertype IPv6 (0x86dd), length 86: fe80::1 > ff02::1:ff00:1: ICMP6, neighbor solicitation, who has fe80::2, length 32",
        );
        assert_eq!(d.proto, Some(Proto::Icmpv6));
        assert_eq!(d.dst.unwrap().ip, "ff02::1:ff00:1".parse().ok());
    }

    #[test]
    fn wifi_forms() {
        let d = parse(
            "BSSID:3C-84-6A-01-EA-8B SA:54-8C-A0-98-0E-25 DA:3C-84-6A-01-EA-8B LLC, dsap SNAP (0xaa) Individual, ssap SNAP (0xaa) Command, ctrl 0x03: oui Ethernet (0x000000), ethertype IPv4 (0x0800), length 40: 192.168.0.111.63086 > 31.171.152.19.443: Flags [.], ack 1974835126, win 2042, length 0",
        );
        assert_eq!(d.src_mac.as_deref(), Some("54-8C-A0-98-0E-25"));
        assert_eq!(d.proto, Some(Proto::Tcp));
        assert_eq!(d.frame_len, Some(40));
        let d = parse(
            "DA:54-8C-A0-98-0E-25 BSSID:3C-84-6A-01-EA-8B SA:3C-84-6A-01-EA-8B Data IV:1a2b Pad 20 KeyID 0",
        );
        assert_eq!(d.class, "802.11-data");
        assert_eq!(d.dst_mac.as_deref(), Some("54-8C-A0-98-0E-25"));
        assert_eq!(parse("unknown 802.11 frame type (3)").class, "802.11-other");
    }

    #[test]
    fn verbose_joined_and_vlan() {
        let d = parse(
            "AA-AA-AA-AA-AA-AA > BB-BB-BB-BB-BB-BB, ethertype IPv4 (0x0800), length 66: (tos 0x0, ttl 128, id 46774, offset 0, flags [DF], proto TCP (6), length 52) 192.168.1.8.14813 > 1.1.1.1.443: Flags [S], seq 1, win 65535, length 0",
        );
        assert_eq!(d.proto, Some(Proto::Tcp));
        assert_eq!(d.dst.unwrap().to_string(), "1.1.1.1:443");
        let d = parse(
            "AA-AA-AA-AA-AA-AA > BB-BB-BB-BB-BB-BB, ethertype 802.1Q (0x8100), length 70: vlan 10, p 0, ethertype IPv4 (0x0800), 10.0.0.1.53 > 10.0.0.2.5000: UDP, length 20",
        );
        assert_eq!(d.vlan, Some(10));
        assert_eq!(d.ethertype, Some(0x0800));
        assert_eq!(d.proto, Some(Proto::Udp));
    }

    #[test]
    fn garbage_never_panics() {
        for s in [
            "",
            ">",
            " > : ",
            "AA-BB > ",
            "ip:",
            "BSSID:",
            "(((",
            "1.2.3.4.5 > :",
            "Flags [",
        ] {
            let _ = parse(s);
        }
    }
}
