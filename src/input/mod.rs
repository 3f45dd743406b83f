//! The input layer: finds files in folders and zip bundles, reads them,
//! detects and decodes their text encoding.
pub mod encoding;
