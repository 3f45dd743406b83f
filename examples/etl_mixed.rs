//! `cargo run --release --example etl_mixed OUT.etl [EVENTS] [SEED]`: writes
//! a varied PktMon + NDIS-PacketCapture capture for before/after output
//! comparisons of the packet-event builders: Ethernet (with and without
//! VLAN tags), 802.11 data frames, raw IP; IPv4 and IPv6 (extension
//! headers, fragments, IPv4-mapped and zero-run addresses); TCP, UDP, ICMP,
//! ICMPv6, ARP; direction tags and packet types inside and outside their
//! value maps; drops with known and unknown reasons; NDIS single- and
//! multi-event packets, Wi-Fi metadata and VMSwitch records; and, for a
//! share of the events, frames with random bytes or cut short.
use etwnet::etl::testutil::{
    EtlWriter, TestEvent, XorShift as Rng, ndis_fragment_payload, ndis_vmswitch_payload,
    ndis_wifi_metadata_payload, pktmon_packet_payload,
};
use etwnet::etl::{ndiscap, pktmon};

fn ipv4_header(rng: &mut Rng, proto: u8, l4_len: usize) -> Vec<u8> {
    let total = (20 + l4_len) as u16;
    let frag: u16 = if rng.below(10) == 0 { 0x00B9 } else { 0x4000 };
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    for _ in 0..2 {
        let a = match rng.below(4) {
            0 => [10, 0, 0, rng.below(256) as u8],
            1 => [224, 0, 0, 251],
            2 => [255, 255, 255, 255],
            _ => (rng.next_u64() as u32).to_be_bytes(),
        };
        h.extend_from_slice(&a);
    }
    h
}

fn ipv6_address(rng: &mut Rng) -> [u8; 16] {
    let mut groups = [0u16; 8];
    match rng.below(5) {
        0 => groups = [0xfe80, 0, 0, 0, rng.next_u64() as u16, 0, 0, 1],
        1 => groups = [0xff02, 0, 0, 0, 0, 0, 0, 0x16],
        2 => groups = [0, 0, 0, 0, 0, 0xffff, 0xc0a8, rng.next_u64() as u16],
        3 => groups = [0, 0, 0, 0, 0, 0, 0, 0],
        _ => {
            for g in &mut groups {
                let r = rng.next_u64();
                *g = if r & 1 == 0 { 0 } else { (r >> 8) as u16 };
            }
        }
    }
    let mut b = [0u8; 16];
    for (i, g) in groups.iter().enumerate() {
        b[2 * i..2 * i + 2].copy_from_slice(&g.to_be_bytes());
    }
    b
}

fn ipv6_header(rng: &mut Rng, next: u8, l4: &[u8]) -> Vec<u8> {
    let mut ext = Vec::new();
    let mut first = next;
    match rng.below(4) {
        0 => {
            first = 0; // hop-by-hop
            ext.extend_from_slice(&[next, 0, 5, 2, 0, 0, 1, 0]);
        }
        1 => {
            first = 44; // fragment, sometimes not the first
            let off: u16 = if rng.below(2) == 0 { 0 } else { 0x0100 };
            ext.extend_from_slice(&[next, 0]);
            ext.extend_from_slice(&off.to_be_bytes());
            ext.extend_from_slice(&[0, 0, 0, 1]);
        }
        _ => {}
    }
    let plen = (ext.len() + l4.len()) as u16;
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&plen.to_be_bytes());
    h.extend_from_slice(&[first, 64]);
    h.extend_from_slice(&ipv6_address(rng));
    h.extend_from_slice(&ipv6_address(rng));
    h.extend_from_slice(&ext);
    h
}

fn transport(rng: &mut Rng, v6: bool) -> (u8, Vec<u8>) {
    match rng.below(4) {
        0 | 1 => {
            let mut t = Vec::new();
            t.extend_from_slice(&(rng.next_u64() as u16).to_be_bytes());
            t.extend_from_slice(&[0x01, 0xBB]);
            t.extend_from_slice(&(rng.next_u64() as u32).to_be_bytes());
            t.extend_from_slice(&(rng.next_u64() as u32).to_be_bytes());
            let off = if rng.below(5) == 0 { 0x80 } else { 0x50 };
            t.extend_from_slice(&[off, rng.next_u64() as u8]);
            t.extend_from_slice(&(rng.next_u64() as u16).to_be_bytes());
            t.extend_from_slice(&[0, 0, 0, 0]);
            t.extend({
                let n = rng.below(40) as usize;
                rng.bytes(n)
            });
            (6, t)
        }
        2 => {
            let data = {
                let n = rng.below(60) as usize;
                rng.bytes(n)
            };
            let mut t = Vec::new();
            t.extend_from_slice(&(rng.next_u64() as u16).to_be_bytes());
            t.extend_from_slice(&[0x00, 0x35]);
            t.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
            t.extend_from_slice(&[0, 0]);
            t.extend(data);
            (17, t)
        }
        _ => {
            let types: &[u8] = if v6 {
                &[1, 2, 3, 128, 129, 133, 134, 135, 136, 143, 200]
            } else {
                &[0, 3, 5, 8, 11, 13, 42]
            };
            let t = types[rng.below(types.len() as u64) as usize];
            let mut m = vec![t, rng.below(4) as u8, 0, 0];
            m.extend({
                let n = rng.below(8) as usize;
                rng.bytes(n)
            });
            (if v6 { 58 } else { 1 }, m)
        }
    }
}

fn l3(rng: &mut Rng) -> (u16, Vec<u8>) {
    match rng.below(9) {
        0 => {
            let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1 + rng.below(3) as u8];
            a.extend(rng.bytes(20));
            (0x0806, a)
        }
        1..=3 => {
            let (next, l4) = transport(rng, true);
            let mut p = ipv6_header(rng, next, &l4);
            p.extend(l4);
            (0x86DD, p)
        }
        _ => {
            let (proto, l4) = transport(rng, false);
            let mut p = ipv4_header(rng, proto, l4.len());
            p.extend(l4);
            (0x0800, p)
        }
    }
}

/// A frame of the given link kind: 1 Ethernet, 2 Wi-Fi, 3 raw IP.
fn frame(rng: &mut Rng, link: u16) -> Vec<u8> {
    let (ethertype, body) = l3(rng);
    let mut f = match link {
        2 => {
            let fc0 = if rng.below(8) == 0 { 0x80 } else { 0x88 };
            let fc1 = rng.below(4) as u8 | if rng.below(8) == 0 { 0x40 } else { 0 };
            let mut f = vec![fc0, fc1, 0, 0];
            f.extend(rng.bytes(18));
            f.extend_from_slice(&[0, 0]);
            if fc1 & 3 == 3 {
                f.extend(rng.bytes(6));
            }
            f.extend_from_slice(&[0, 0]); // QoS control
            f.extend_from_slice(&[0xAA, 0xAA, 0x03, 0, 0, 0]);
            f.extend_from_slice(&ethertype.to_be_bytes());
            f
        }
        3 => Vec::new(),
        _ => {
            let mut f = rng.bytes(12);
            if rng.below(5) == 0 {
                f.extend_from_slice(&[0x81, 0x00]);
                f.extend_from_slice(&(rng.next_u64() as u16).to_be_bytes());
            }
            f.extend_from_slice(&ethertype.to_be_bytes());
            f
        }
    };
    f.extend(body);
    match rng.below(12) {
        0 => f.truncate(rng.below(f.len() as u64) as usize),
        1 => {
            f = {
                let n = rng.below(80) as usize;
                rng.bytes(n)
            }
        }
        _ => {}
    }
    f
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(out) = args.get(1) else {
        eprintln!("usage: etl_mixed OUT.etl [EVENTS] [SEED]");
        std::process::exit(2);
    };
    let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let seed: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(7);
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut w = EtlWriter::new(2);
    w.compress = true;
    w.build = 22621;
    for i in 0..n {
        let cpu = (i % 2) as u32;
        let raw_ts = w.start_raw + 10 * i as i64;
        let ev = |provider, id, keyword, payload| {
            TestEvent::new(cpu, raw_ts, provider, id, keyword, payload)
        };
        match rng.below(10) {
            0..=6 => {
                let ptype = match rng.below(12) {
                    0 => rng.below(15) as u16,
                    1 => 2,
                    2 => 3,
                    _ => 1,
                };
                let f = frame(&mut rng, ptype);
                let id = match rng.below(10) {
                    0 => 170,
                    1 => 240,
                    _ => 160,
                };
                let reason = if rng.below(3) == 0 {
                    rng.next_u64() as u32
                } else {
                    rng.below(300) as u32
                };
                let location = if rng.below(2) == 0 {
                    0xE000_0000 | rng.below(0x5000) as u32
                } else {
                    rng.next_u64() as u32
                };
                let payload = pktmon_packet_payload(
                    rng.next_u64() >> rng.below(64),
                    rng.next_u64() as u16,
                    rng.below(20) as u16,
                    rng.below(9) as u16,
                    ptype,
                    rng.below(300) as u16,
                    rng.below(3) as u16,
                    reason,
                    location,
                    (f.len() as u64 + rng.below(2000)) as u16,
                    &f,
                );
                w.push(ev(pktmon::PROVIDER, id, 0x10, payload));
            }
            7 => {
                let link = 1 + rng.below(3);
                let mut keyword = ndiscap::KW_PACKET_START | ndiscap::KW_PACKET_END;
                keyword |= match link {
                    2 => ndiscap::KW_NATIVE_80211,
                    3 => ndiscap::KW_WIRELESS_WAN,
                    _ => 0,
                };
                if rng.below(2) == 0 {
                    keyword |= ndiscap::KW_SEND_PATH;
                }
                let f = frame(&mut rng, link as u16);
                let lower = rng.below(4) as u32;
                if rng.below(6) == 0 && f.len() > 20 {
                    // A packet split over three events.
                    let (a, rest) = f.split_at(10);
                    let (b, c) = rest.split_at(5);
                    let base = keyword & !(ndiscap::KW_PACKET_START | ndiscap::KW_PACKET_END);
                    for (part, kw) in [
                        (a, base | ndiscap::KW_PACKET_START),
                        (b, base),
                        (c, base | ndiscap::KW_PACKET_END),
                    ] {
                        w.push(ev(
                            ndiscap::PROVIDER,
                            1001,
                            kw,
                            ndis_fragment_payload(7, lower, part),
                        ));
                    }
                } else {
                    w.push(ev(
                        ndiscap::PROVIDER,
                        1001,
                        keyword,
                        ndis_fragment_payload(7, lower, &f),
                    ));
                }
            }
            8 => {
                let payload = ndis_wifi_metadata_payload(
                    7,
                    rng.below(4) as u32,
                    rng.below(12) as u32,
                    2412 + rng.below(100) as u32,
                    -(rng.below(90) as i32),
                    rng.below(255) as u8,
                );
                w.push(ev(ndiscap::PROVIDER, 1002, 0, payload));
            }
            _ => {
                let f = frame(&mut rng, 1);
                let payload = ndis_vmswitch_payload(
                    7,
                    rng.below(4) as u32,
                    rng.below(5) as u32,
                    "Port 1",
                    "Network Adapter",
                    "Synthetic",
                    rng.below(3) as u32,
                    rng.below(5) as u16,
                    rng.next_u64() as u32,
                    &f,
                );
                w.push(ev(
                    ndiscap::PROVIDER,
                    1003,
                    ndiscap::KW_VMSWITCH | ndiscap::KW_PACKET_START | ndiscap::KW_PACKET_END,
                    payload,
                ));
            }
        }
    }
    if let Err(e) = std::fs::write(out, w.finish()) {
        eprintln!("{out}: {e}");
        std::process::exit(1);
    }
}
