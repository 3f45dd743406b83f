//! etwnet: decode Windows network traces (netsh/tracefmt text, NetMon text,
//! ETW XML, tracerpt CSV, PktMon text, tasklist, netstat, raw .etl) into one
//! event model, and answer: what happened to each connection, which process
//! sent a packet, and why the stack dropped it.
#![forbid(unsafe_code)]

pub mod cli;
pub mod correlate;
pub mod decode;
pub mod detect;
pub mod etl;
pub mod event;
pub mod input;
pub mod output;
pub mod pcapng;
pub mod pipeline;
pub mod pktmon;
pub mod schema;
pub mod stream;
