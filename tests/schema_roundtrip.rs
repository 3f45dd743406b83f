//! Every template in schemas/: render with synthetic values in each value
//! style a converter uses, parse back with the matcher, compare fields.

use etwnet::schema::{EventSchema, Field, FieldType, registry};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// `13`, `Success`, 32-bit pointers, IPv4.
    Plain,
    /// `13(Name)` (netsh/tracefmt with a value map), `STATUS_…`, 64-bit pointers, IPv6.
    NumName,
    /// `Name` alone (NetMon / older converters), `0xC0000241`.
    Name,
    /// `0xD`.
    Hex,
    /// NetMon `13 (0xD)`, `0xC0000241 - STATUS_CONNECTION_ABORTED`.
    NetMon,
}

const STYLES: [Style; 5] = [
    Style::Plain,
    Style::NumName,
    Style::Name,
    Style::Hex,
    Style::NetMon,
];

fn value(ev: &EventSchema, i: usize, f: &Field, style: Style) -> String {
    let reg = registry();
    let n = 10 + i as u64 * 7;
    let map_entry = f.map.as_deref().and_then(|m| {
        let e = reg.map_entries(ev.provider, m);
        e.get(i % e.len().max(1)).cloned()
    });
    let wide = matches!(style, Style::NumName | Style::Hex);
    match f.ty {
        FieldType::Pointer => {
            if wide {
                format!("0xFFFFE189BD8{:05X}", n)
            } else {
                format!("0x8921{:04X}", n)
            }
        }
        FieldType::Int => match (style, map_entry) {
            (Style::NumName, Some((v, s))) => format!("{v}({s})"),
            (Style::Name, Some((_, s))) => s,
            (Style::Hex, _) => format!("0x{n:X}"),
            (Style::NetMon, _) => format!("{n} (0x{n:X})"),
            _ => n.to_string(),
        },
        FieldType::Float => "1.5".into(),
        FieldType::Bool => match style {
            Style::Plain | Style::NetMon => "true".into(),
            _ => "FALSE".into(),
        },
        FieldType::NtStatus => match style {
            Style::Plain => "Success".into(),
            Style::NumName => "STATUS_CONNECTION_ABORTED".into(),
            Style::Name | Style::Hex => "0xC0000241".into(),
            Style::NetMon => "0xC0000241 - STATUS_CONNECTION_ABORTED".into(),
        },
        FieldType::SocketAddress => {
            if wide {
                "[fe80::1:2]:443".into()
            } else {
                format!("192.168.1.{}:{}", 200 + i % 50, 13000 + i)
            }
        }
        FieldType::IpAddress => {
            if wide {
                "fe80::1234:5678".into()
            } else {
                format!("10.1.2.{}", i % 250)
            }
        }
        FieldType::Str => match style {
            Style::NetMon => "posted".into(),
            _ => format!("str{i}"),
        },
        FieldType::Guid => "{C761F2A3-729E-4AF4-B74F-CEA59EF8F7D9}".into(),
        FieldType::Other => match f.type_name.as_str() {
            "SID" => "S-1-5-18".into(),
            "FILETIME" => "2025-03-27T16:12:13.966003800Z".into(),
            _ => "0x00155D563406".into(),
        },
    }
}

#[test]
fn every_template_round_trips_in_every_style() {
    let reg = registry();
    assert!(reg.load_errors.is_empty(), "{:?}", reg.load_errors);
    let mut checked = 0;
    let mut failures = Vec::new();
    for ev in &reg.events {
        let Some(t) = &ev.template else { continue };
        let provider = &reg.providers[ev.provider].name;
        for style in STYLES {
            let vals: Vec<String> = ev
                .fields
                .iter()
                .enumerate()
                .map(|(i, f)| value(ev, i, f, style))
                .collect();
            let msg = t.render(|i| vals.get(i).cloned().unwrap_or_default());
            checked += 1;
            let Some(m) = reg.match_message(provider, &msg) else {
                failures.push(format!(
                    "{provider} {} v{} {style:?}: no match for {msg:?}",
                    ev.id, ev.version
                ));
                continue;
            };
            // Another (id, version) with the same literal text cannot be told
            // apart from this one by the rendered text; the values must agree.
            let same_template = reg
                .event(provider, m.event_id, Some(m.version))
                .and_then(|e| e.template.as_ref())
                .is_some_and(|mt| mt.skeleton() == t.skeleton());
            if (m.event_id, m.version) != (ev.id, ev.version) && !same_template {
                failures.push(format!(
                    "{provider} {} v{} {style:?}: matched {} v{} for {msg:?}",
                    ev.id, ev.version, m.event_id, m.version
                ));
                continue;
            }
            let expected: Vec<(String, String)> = t
                .field_refs()
                .map(|i| (ev.fields[i].name.clone(), vals[i].trim().to_string()))
                .collect();
            if same_template && (m.event_id, m.version) != (ev.id, ev.version) {
                // Field names may differ between the versions; compare values.
                let a: Vec<&String> = expected.iter().map(|(_, v)| v).collect();
                let b: Vec<&String> = m.fields.iter().map(|(_, v)| v).collect();
                if a != b {
                    failures.push(format!(
                        "{provider} {} v{} {style:?}: values {b:?} != {a:?}",
                        ev.id, ev.version
                    ));
                }
            } else if m.fields != expected {
                failures.push(format!(
                    "{provider} {} v{} {style:?}: fields {:?} != {:?} for {msg:?}",
                    ev.id, ev.version, m.fields, expected
                ));
            }
        }
    }
    assert!(checked > 4000, "only {checked} renderings checked");
    assert!(
        failures.is_empty(),
        "{} of {checked} round trips failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
