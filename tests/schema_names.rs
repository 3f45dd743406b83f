//! Every schema file loads, and every name the code relies on (providers,
//! event ids with a typed kind, field names, value maps) exists in them.

use etwnet::event::Kind;
use etwnet::schema::{SCHEMA_FILES, enrich, registry};

const PROVIDERS: &[&str] = &[
    "Microsoft-Windows-TCPIP",
    "Microsoft-Windows-Winsock-AFD",
    "Microsoft-Windows-WFP",
    "Microsoft-Windows-NDIS-PacketCapture",
    "Microsoft-Windows-Kernel-Network",
    "Microsoft-Windows-PktMon",
];

#[test]
fn every_schema_file_loads() {
    let reg = registry();
    assert!(reg.load_errors.is_empty(), "{:?}", reg.load_errors);
    assert_eq!(SCHEMA_FILES.len(), 3 + PROVIDERS.len());
    for p in PROVIDERS {
        let ps = reg.provider(p).unwrap_or_else(|| panic!("{p} missing"));
        assert!(!ps.events.is_empty(), "{p} has no events");
    }
    let tcpip = reg.provider("Microsoft-Windows-TCPIP").unwrap();
    assert!(
        tcpip.events.len() >= 750,
        "TCPIP rows: {}",
        tcpip.events.len()
    );
    assert!(reg.ntstatus_name(0xC000_0241) == Some("STATUS_CONNECTION_ABORTED"));
}

#[test]
fn ids_with_a_kind_exist_in_the_schemas() {
    let reg = registry();
    for p in PROVIDERS {
        for id in 0..5000u32 {
            let k = enrich::kind_for(p, id, "");
            if matches!(
                k,
                Kind::Raw
                    | Kind::TcpOther
                    | Kind::UdpOther
                    | Kind::IpOther
                    | Kind::AfdOther
                    | Kind::WfpOther
            ) {
                continue;
            }
            assert!(
                reg.event(p, id, None).is_some(),
                "{p} event {id} ({k:?}) not in schemas"
            );
        }
    }
}

#[test]
fn field_and_map_names_used_by_enrich_exist() {
    let reg = registry();
    for name in enrich::field_names_used() {
        let found = reg
            .events
            .iter()
            .any(|e| e.fields.iter().any(|f| f.name == name));
        assert!(found, "field {name} is in no schema");
    }
    for (p, m) in enrich::MAPS_USED {
        let pi = reg.provider_index(p).unwrap();
        assert!(
            !reg.map_entries(pi, m).is_empty(),
            "map {m} missing for {p}"
        );
    }
}
