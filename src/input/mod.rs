//! The input layer: finds files in folders and zip bundles, reads them,
//! detects and decodes their text encoding.
//!
//! Inputs are named for people: a plain path as given, a zip entry as
//! `bundle.zip!path/in/zip`, standard input as `-`. Zip entries are read in
//! place (never extracted): a `..` or absolute entry name is only a name.
//! Folder walks are sorted so output order never depends on the file system.

pub mod encoding;

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Default cap on the bytes decompressed from all zip entries of one run
/// (a zip bomb guard). `--max-unzipped` changes it.
pub const DEFAULT_MAX_UNZIPPED: u64 = 8 << 30;
/// An entry whose decompressed size exceeds its compressed size by more than
/// this ratio (and is over 1 MiB) is refused as a likely zip bomb.
pub const MAX_ZIP_RATIO: u64 = 1000;
/// Zips inside zips are opened this deep.
const MAX_ZIP_DEPTH: u32 = 3;

/// Where an input's bytes come from.
#[derive(Debug, Clone)]
pub enum Origin {
    File(PathBuf),
    /// Bytes already in memory (zip entries, standard input).
    Memory(std::sync::Arc<Vec<u8>>),
}

/// One input file found by discovery.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// Display name used in every message and output column.
    pub name: String,
    pub origin: Origin,
    pub size: u64,
}

impl InputFile {
    /// Reads the whole input.
    pub fn read_all(&self) -> io::Result<Vec<u8>> {
        match &self.origin {
            Origin::File(p) => fs::read(p),
            Origin::Memory(b) => Ok(b.as_ref().clone()),
        }
    }

    /// Reads at most `n` bytes from the start (for detection).
    pub fn read_head(&self, n: usize) -> io::Result<Vec<u8>> {
        match &self.origin {
            Origin::File(p) => {
                let mut f = fs::File::open(p)?;
                let mut buf = Vec::with_capacity(n.min(1 << 20));
                f.by_ref().take(n as u64).read_to_end(&mut buf)?;
                Ok(buf)
            }
            Origin::Memory(b) => Ok(b[..b.len().min(n)].to_vec()),
        }
    }
}

/// A problem met while finding inputs; the rest are still processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputProblem {
    pub name: String,
    pub message: String,
    /// Whether the input (or entry) was skipped (true) or only noted (false).
    pub skipped: bool,
}

/// Options for discovery.
#[derive(Debug, Clone)]
pub struct DiscoverOptions {
    pub max_unzipped: u64,
}

impl Default for DiscoverOptions {
    fn default() -> Self {
        DiscoverOptions {
            max_unzipped: DEFAULT_MAX_UNZIPPED,
        }
    }
}

/// Everything discovery found.
#[derive(Debug, Default)]
pub struct Discovered {
    pub files: Vec<InputFile>,
    pub problems: Vec<InputProblem>,
}

fn is_zip_magic(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")
}

/// Expands `inputs` (files, folders, zip bundles, `-` for stdin) into the
/// list of files to decode.
pub fn discover(inputs: &[String], opts: &DiscoverOptions) -> Discovered {
    let mut d = Discovered::default();
    let mut budget = opts.max_unzipped;
    let mut seen_dirs = HashSet::new();
    for input in inputs {
        if input == "-" {
            let mut buf = Vec::new();
            match io::stdin().lock().read_to_end(&mut buf) {
                Ok(_) => add_memory(&mut d, "-".into(), buf, &mut budget, 0),
                Err(e) => d.problems.push(InputProblem {
                    name: "-".into(),
                    message: format!("cannot read standard input: {e}"),
                    skipped: true,
                }),
            }
            continue;
        }
        let path = Path::new(input);
        walk(path, input.clone(), &mut d, &mut budget, &mut seen_dirs);
    }
    d
}

/// Discovery over bytes already in memory, named `name`: a zip bundle is
/// opened (with the same budget, ratio and depth limits as a file on disk),
/// anything else is one input.
pub fn discover_bytes(name: &str, bytes: Vec<u8>, opts: &DiscoverOptions) -> Discovered {
    let mut d = Discovered::default();
    let mut budget = opts.max_unzipped;
    add_memory(&mut d, name.to_string(), bytes, &mut budget, 0);
    d
}

fn walk(
    path: &Path,
    name: String,
    d: &mut Discovered,
    budget: &mut u64,
    seen_dirs: &mut HashSet<PathBuf>,
) {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            d.problems.push(InputProblem {
                name,
                message: format!("cannot open: {e}"),
                skipped: true,
            });
            return;
        }
    };
    if meta.is_dir() {
        // Symlink loops: a directory already walked (by its canonical path)
        // is not walked again.
        let canon = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if !seen_dirs.insert(canon) {
            d.problems.push(InputProblem {
                name,
                message: "directory already visited (symlink loop?); skipped".into(),
                skipped: true,
            });
            return;
        }
        let mut entries: Vec<PathBuf> = match fs::read_dir(path) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => {
                d.problems.push(InputProblem {
                    name,
                    message: format!("cannot list directory: {e}"),
                    skipped: true,
                });
                return;
            }
        };
        entries.sort();
        for p in entries {
            let child = p.to_string_lossy().into_owned();
            walk(&p, child, d, budget, seen_dirs);
        }
        return;
    }
    if !meta.is_file() {
        d.problems.push(InputProblem {
            name,
            message: "not a regular file; skipped".into(),
            skipped: true,
        });
        return;
    }
    let file = InputFile {
        name: name.clone(),
        origin: Origin::File(path.to_path_buf()),
        size: meta.len(),
    };
    match file.read_head(4) {
        Ok(head) if is_zip_magic(&head) => match fs::read(path) {
            Ok(bytes) => open_zip(&name, &bytes, d, budget, 0),
            Err(e) => d.problems.push(InputProblem {
                name,
                message: format!("cannot read: {e}"),
                skipped: true,
            }),
        },
        Ok(_) => d.files.push(file),
        Err(e) => d.problems.push(InputProblem {
            name,
            message: format!("cannot read: {e}"),
            skipped: true,
        }),
    }
}

fn add_memory(d: &mut Discovered, name: String, bytes: Vec<u8>, budget: &mut u64, depth: u32) {
    if is_zip_magic(&bytes) {
        open_zip(&name, &bytes, d, budget, depth);
    } else {
        d.files.push(InputFile {
            name,
            size: bytes.len() as u64,
            origin: Origin::Memory(std::sync::Arc::new(bytes)),
        });
    }
}

/// Reads a zip bundle's entries into memory, in archive order.
fn open_zip(zip_name: &str, bytes: &[u8], d: &mut Discovered, budget: &mut u64, depth: u32) {
    if depth >= MAX_ZIP_DEPTH {
        d.problems.push(InputProblem {
            name: zip_name.into(),
            message: format!("zip nested more than {MAX_ZIP_DEPTH} deep; not opened"),
            skipped: true,
        });
        return;
    }
    let mut archive = match zip::ZipArchive::new(io::Cursor::new(bytes)) {
        Ok(a) => a,
        Err(e) => {
            d.problems.push(InputProblem {
                name: zip_name.into(),
                message: format!("not a readable zip archive: {e}"),
                skipped: true,
            });
            return;
        }
    };
    for i in 0..archive.len() {
        let mut entry = match archive.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                d.problems.push(InputProblem {
                    name: format!("{zip_name}!#{i}"),
                    message: format!("cannot read zip entry: {e}"),
                    skipped: true,
                });
                continue;
            }
        };
        // Names that are not valid in the archive's declared encoding are
        // shown lossily rather than refused: they are only names.
        let entry_name = match entry.name() {
            Ok(n) => n.into_owned(),
            Err(_) => String::from_utf8_lossy(entry.name_raw()).into_owned(),
        };
        let name = format!("{zip_name}!{entry_name}");
        if entry.is_dir() {
            continue;
        }
        if entry_name.split(['/', '\\']).any(|c| c == "..")
            || entry_name.starts_with('/')
            || entry_name.starts_with('\\')
            || entry_name.get(1..2) == Some(":")
        {
            d.problems.push(InputProblem {
                name: name.clone(),
                message: "entry name is absolute or contains '..': used only as a name (nothing is extracted)".into(),
                skipped: false,
            });
        }
        let declared = entry.size();
        let compressed = entry.compressed_size().max(1);
        if declared > (1 << 20) && declared / compressed > MAX_ZIP_RATIO {
            d.problems.push(InputProblem {
                name,
                message: format!(
                    "refused: decompresses to {declared} bytes from {compressed} (ratio over {MAX_ZIP_RATIO}:1), a likely zip bomb"
                ),
                skipped: true,
            });
            continue;
        }
        // The declared size can lie: read at most the remaining budget + 1.
        let mut buf = Vec::with_capacity(declared.min(*budget).min(64 << 20) as usize);
        let read = entry
            .by_ref()
            .take(budget.saturating_add(1))
            .read_to_end(&mut buf);
        match read {
            Err(e) => d.problems.push(InputProblem {
                name,
                message: format!("cannot decompress: {e}"),
                skipped: true,
            }),
            Ok(n) if n as u64 > *budget => {
                d.problems.push(InputProblem {
                    name,
                    message: format!(
                        "refused: decompressed data exceeds the limit for this run ({} bytes; raise --max-unzipped if this bundle is genuine)",
                        *budget
                    ),
                    skipped: true,
                });
                *budget = 0;
            }
            Ok(n) => {
                *budget -= n as u64;
                add_memory(d, name, buf, budget, depth + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn make_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (n, b) in entries {
            w.start_file(*n, opts).unwrap();
            w.write_all(b).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn zip_entries_named_with_bang_and_dotdot_only_a_name() {
        let z = make_zip(&[("logs/netstat.txt", b"TCP"), ("../evil", b"x")]);
        let mut d = Discovered::default();
        let mut budget = DEFAULT_MAX_UNZIPPED;
        open_zip("bundle.zip", &z, &mut d, &mut budget, 0);
        let names: Vec<_> = d.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["bundle.zip!logs/netstat.txt", "bundle.zip!../evil"]);
        assert_eq!(d.problems.len(), 1);
        assert!(d.problems[0].message.contains("'..'"));
        assert!(!d.problems[0].skipped);
    }

    #[test]
    fn zip_bomb_stopped_by_ratio_and_budget() {
        let big = vec![0u8; 8 << 20];
        let z = make_zip(&[("bomb.txt", &big), ("ok.txt", b"fine")]);
        let mut d = Discovered::default();
        let mut budget = DEFAULT_MAX_UNZIPPED;
        open_zip("b.zip", &z, &mut d, &mut budget, 0);
        assert_eq!(d.files.len(), 1, "{:?}", d.problems);
        assert!(d.problems[0].message.contains("zip bomb"));

        let z = make_zip(&[("a.txt", &[b'a'; 5000][..]), ("b.txt", b"small")]);
        let mut d = Discovered::default();
        let mut budget = 1000;
        open_zip("c.zip", &z, &mut d, &mut budget, 0);
        assert!(d.problems[0].message.contains("exceeds the limit"));
    }

    #[test]
    fn nested_zip_is_opened() {
        let inner = make_zip(&[("x.txt", b"hello")]);
        let outer = make_zip(&[("inner.zip", &inner)]);
        let mut d = Discovered::default();
        let mut budget = DEFAULT_MAX_UNZIPPED;
        open_zip("o.zip", &outer, &mut d, &mut budget, 0);
        assert_eq!(d.files[0].name, "o.zip!inner.zip!x.txt");
    }

    #[test]
    fn missing_path_is_a_problem_not_a_panic() {
        let d = discover(
            &["/nonexistent/etwnet-test".into()],
            &DiscoverOptions::default(),
        );
        assert!(d.files.is_empty());
        assert!(d.problems[0].message.contains("cannot open"));
    }
}
