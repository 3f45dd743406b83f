//! Packet Monitor (pktmon.sys) knowledge shared by the pktmon decoders and
//! the ETL reader: drop reasons and locations, the tcpdump-style decoded
//! packet text, and packet assembly (appearances → one packet's path and fate).

pub mod assemble;
pub mod reasons;
pub mod summary;

pub use assemble::{
    ComponentInfo, ComponentSource, ComponentTable, Fate, PacketPath, PathStep, assemble,
};
