//! Helpers shared by the integration tests: run the binary, make scratch
//! folders, read CSV outputs, find `../shared`.
// Each test binary uses only some of these.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the `etwnet` binary: (exit code, stdout, stderr).
pub fn etwnet(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_etwnet"))
        .args(args)
        .output()
        .expect("run etwnet");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fresh, empty scratch folder unique to this test process.
pub fn temp_dir(area: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("etwnet-{area}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A CSV file as rows of column name → value.
pub fn read_csv(p: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            headers
                .iter()
                .zip(rec.unwrap().iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// `../shared` beside the checkout, or `None` (with a note) when absent:
/// CI has it, a user's clone does not.
pub fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipped: ../shared is absent");
        None
    }
}

/// Path of a file or folder under `samples/`.
pub fn sample(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}
