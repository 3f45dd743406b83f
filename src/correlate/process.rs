//! The process table: PID → image name and services, from tasklist and
//! netstat snapshots and from the trace itself (NetMon process column, AFD
//! and TCPIP payload PIDs).
//!
//! PIDs are reused by Windows. When snapshots disagree about a PID the
//! table keeps every claim, and a lookup at a time prefers the snapshot
//! nearest to it (snapshots without a time rank after timed ones); the
//! disagreement is reported so the user knows the name is a guess.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::event::{Event, Kind, SourceRef};

/// One claim that a PID had an image name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessClaim {
    pub pid: u32,
    pub image: String,
    pub services: Vec<String>,
    pub session_name: Option<String>,
    pub session: Option<String>,
    pub mem_kb: Option<String>,
    pub user: Option<String>,
    /// `tasklist`, `netstat`, or `trace` (a name printed next to a PID in the trace).
    pub origin: &'static str,
    pub source: SourceRef,
    /// When the claim was true, if the source says (trace events).
    pub ts_key: Option<i64>,
}

/// A resolved name for a PID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessName {
    pub image: String,
    pub services: String,
    pub origin: &'static str,
    /// Other names the same PID had in other snapshots (PID reuse).
    pub conflicts: Vec<String>,
    #[serde(skip)]
    pub source: SourceRef,
}

#[derive(Debug, Default)]
pub struct ProcessTable {
    claims: BTreeMap<u32, Vec<ProcessClaim>>,
}

fn services_of(ev: &Event) -> Vec<String> {
    ev.field("services")
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty() && x != "N/A")
                .collect()
        })
        .unwrap_or_default()
}

impl ProcessTable {
    /// Builds the table from all events (`ts_key` gives an event's time key).
    pub fn build<'a>(
        events: impl Iterator<Item = &'a Event>,
        ts_key: impl Fn(&Event) -> Option<i64>,
    ) -> Self {
        let mut t = ProcessTable::default();
        for ev in events {
            t.add(ev, ts_key(ev));
        }
        t
    }

    /// Adds the claim an event makes, if any (`ts_key`: its time key).
    pub fn add(&mut self, ev: &Event, ts_key: Option<i64>) {
        let snapshot = matches!(ev.kind, Kind::ProcessInfo | Kind::SocketRow);
        // In a trace, a printed process name (NetMon's process column)
        // belongs to the record's own PID, not to a PID in the payload.
        let pid = if snapshot {
            ev.pid
        } else {
            ev.header_pid.or(ev.pid)
        };
        let (Some(pid), Some(image)) = (pid, ev.process_name.as_deref()) else {
            return;
        };
        let image = image.trim();
        if image.is_empty() {
            return;
        }
        let origin = match ev.kind {
            Kind::ProcessInfo => "tasklist",
            Kind::SocketRow => "netstat",
            _ => "trace",
        };
        let list = self.claims.entry(pid).or_default();
        // One claim per (origin, image, file) is enough; merge services.
        let services = services_of(ev);
        if let Some(c) = list.iter_mut().find(|c| {
            c.origin == origin
                && c.image.eq_ignore_ascii_case(image)
                && c.source.file == ev.source.file
        }) {
            for s in services {
                if !c.services.contains(&s) {
                    c.services.push(s);
                }
            }
            return;
        }
        list.push(ProcessClaim {
            pid,
            image: image.to_string(),
            services,
            session_name: ev.field("session_name").map(str::to_string),
            session: ev.field("session").map(str::to_string),
            mem_kb: ev.field("mem_kb").map(str::to_string),
            user: ev.field("user").map(str::to_string),
            origin,
            source: ev.source,
            ts_key: if origin == "trace" { ts_key } else { None },
        });
    }

    /// The best name for `pid` near time `at`.
    pub fn lookup(&self, pid: u32, at: Option<i64>) -> Option<ProcessName> {
        let claims = self.claims.get(&pid)?;
        let rank = |c: &ProcessClaim| -> (u8, i64) {
            // tasklist first (it names services), then the trace's own names
            // nearest in time, then netstat.
            let origin_rank = match c.origin {
                "tasklist" => 0,
                "trace" => 1,
                _ => 2,
            };
            let dist = match (c.ts_key, at) {
                (Some(a), Some(b)) => (a - b).abs(),
                _ => i64::MAX,
            };
            (origin_rank, dist)
        };
        let best = claims.iter().min_by_key(|c| rank(c))?;
        let mut services = best.services.clone();
        // Services from any snapshot that agrees on the image.
        for c in claims {
            if c.image.eq_ignore_ascii_case(&best.image) {
                for s in &c.services {
                    if !services.contains(s) {
                        services.push(s.clone());
                    }
                }
            }
        }
        let mut conflicts: Vec<String> = claims
            .iter()
            .filter(|c| {
                !c.image.eq_ignore_ascii_case(&best.image)
                    && !is_truncation_of(&c.image, &best.image)
            })
            .map(|c| format!("{} ({})", c.image, c.origin))
            .collect();
        conflicts.sort();
        conflicts.dedup();
        Some(ProcessName {
            image: best.image.clone(),
            services: services.join(","),
            origin: best.origin,
            conflicts,
            source: best.source,
        })
    }

    /// All claims, for `processes.csv`.
    pub fn claims(&self) -> impl Iterator<Item = &ProcessClaim> {
        self.claims.values().flatten()
    }
}

/// tasklist's table form truncates long image names to 25 characters.
fn is_truncation_of(short: &str, long: &str) -> bool {
    short.len() >= 20
        && long
            .to_ascii_lowercase()
            .starts_with(&short.to_ascii_lowercase())
        || long.len() >= 20
            && short
                .to_ascii_lowercase()
                .starts_with(&long.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Layer, SourceRef};

    fn row(pid: u32, image: &str, services: &str, kind: Kind, file: u32) -> Event {
        let mut e = Event::new(SourceRef { file, line: 1 }, Layer::Process, kind);
        e.pid = Some(pid);
        e.process_name = Some(image.into());
        if !services.is_empty() {
            e.fields.push("services", services);
        }
        e
    }

    #[test]
    fn tasklist_wins_and_services_merge() {
        let evs = [
            row(2136, "store.exe", "MSExchangeIS", Kind::ProcessInfo, 0),
            row(2136, "store.exe", "", Kind::SocketRow, 1),
        ];
        let t = ProcessTable::build(evs.iter(), |_| None);
        let n = t.lookup(2136, None).unwrap();
        assert_eq!(n.image, "store.exe");
        assert_eq!(n.services, "MSExchangeIS");
        assert_eq!(n.origin, "tasklist");
        assert!(n.conflicts.is_empty());
    }

    #[test]
    fn pid_reuse_is_reported() {
        let evs = [
            row(500, "a.exe", "", Kind::ProcessInfo, 0),
            row(500, "b.exe", "", Kind::ProcessInfo, 1),
        ];
        let t = ProcessTable::build(evs.iter(), |_| None);
        let n = t.lookup(500, None).unwrap();
        assert_eq!(n.conflicts.len(), 1);
    }
}
