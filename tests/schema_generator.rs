//! `tools/gen_schemas.py` reproduces the committed `schemas/` from the
//! reference facts (skipped without ../shared or python3).

use std::path::Path;
use std::process::Command;

#[test]
fn generator_reproduces_committed_schemas() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let reference = root.join("../shared/reference/events");
    if !reference.is_dir() {
        eprintln!(
            "note: {} absent; generator check skipped",
            reference.display()
        );
        return;
    }
    let out = std::env::temp_dir().join(format!("etwnet-schemas-{}", std::process::id()));
    let status = Command::new("python3")
        .arg(root.join("tools/gen_schemas.py"))
        .arg(&reference)
        .arg(&out)
        .status();
    let Ok(status) = status else {
        eprintln!("note: python3 not available; generator check skipped");
        return;
    };
    assert!(status.success());
    for name in ["providers.tsv", "maps.tsv", "ntstatus.tsv"]
        .into_iter()
        .map(String::from)
        .chain(
            etwnet::schema::registry()
                .providers
                .iter()
                .map(|p| format!("{}.events.tsv", p.name)),
        )
    {
        let fresh = std::fs::read_to_string(out.join(&name)).unwrap();
        let committed = std::fs::read_to_string(root.join("schemas").join(&name)).unwrap();
        assert!(
            fresh == committed,
            "schemas/{name} differs from the generator output"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}
