//! Hostile inputs: each is reported (naming the file, zip entry and line),
//! never panics, never loses lines from the accounting, and the rest of the
//! inputs are still processed.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::etwnet;

use etwnet::decode::Format;
use etwnet::input::{self, DiscoverOptions, InputFile, Origin};
use etwnet::pipeline::{self, FileReport, RunOptions};

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("hostile", name)
}

fn decode_bytes(name: &str, bytes: Vec<u8>, opts: &RunOptions) -> (FileReport, usize) {
    let f = InputFile {
        name: name.into(),
        size: bytes.len() as u64,
        origin: Origin::Memory(Arc::new(bytes)),
    };
    let (rep, events) = pipeline::decode_file(0, &f, opts);
    assert_eq!(
        rep.counts.total(),
        rep.lines,
        "{name}: lines lost: {:?} vs {}",
        rep.counts,
        rep.lines
    );
    (rep, events.len())
}

fn messages(rep: &FileReport) -> Vec<(u64, String)> {
    rep.diagnostics
        .iter()
        .map(|d| (d.source.line, d.message.clone()))
        .collect()
}

fn make_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (n, b) in entries {
        w.start_file(*n, o).unwrap();
        w.write_all(b).unwrap();
    }
    w.finish().unwrap().into_inner()
}

const NETSTAT_HEAD: &str = "\r\nActive Connections\r\n\r\n  Proto  Local Address          Foreign Address        State           PID\r\n";
const ROW1: &str =
    "  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       1060\r\n";
const ROW2: &str =
    "  TCP    10.0.0.5:49823         20.42.73.29:443        ESTABLISHED     5212\r\n";

fn netstat_clean() -> String {
    format!("{NETSTAT_HEAD}{ROW1}{ROW2}")
}

// ---------------------------------------------------------------------------
// One enormous line.

#[test]
fn line_over_the_cap_is_an_error_and_the_rest_decodes() {
    // The mechanism, with a lowered cap: the long line is counted as an
    // error naming its line, and is never handed to the decoder.
    let long = format!("  TCP    {}\r\n", "9".repeat(50_000));
    let text = format!("{NETSTAT_HEAD}{ROW1}{long}{ROW2}");
    let opts = RunOptions {
        max_line_bytes: 1000,
        ..RunOptions::default()
    };
    let (rep, events) = decode_bytes("long.txt", text.into_bytes(), &opts);
    assert_eq!(rep.format, Some(Format::Netstat));
    assert_eq!(events, 2, "{:?}", rep.diagnostics);
    assert_eq!(rep.counts.error, 1);
    let m = messages(&rep);
    assert_eq!(m[0].0, 6, "{m:?}");
    assert!(m[0].1.contains("exceeds the 1000-byte limit"), "{m:?}");
}

#[test]
fn hundred_megabyte_single_line_is_refused_quickly() {
    let d = temp_dir("100mb");
    let p = d.join("huge_line.txt");
    let mut f = fs::File::create(&p).unwrap();
    f.write_all(NETSTAT_HEAD.as_bytes()).unwrap();
    f.write_all(ROW1.as_bytes()).unwrap();
    f.write_all(b"  TCP    ").unwrap();
    let block = vec![b'A'; 1 << 20];
    for _ in 0..100 {
        f.write_all(&block).unwrap();
    }
    f.write_all(b"\r\n").unwrap();
    f.write_all(ROW2.as_bytes()).unwrap();
    drop(f);
    let start = Instant::now();
    let (code, out, err) = etwnet(&["detect", "-v", p.to_str().unwrap()]);
    let took = start.elapsed();
    assert_eq!(code, 0, "{err}");
    let name = p.to_string_lossy();
    assert!(
        out.contains(&format!(
            "{name}:6: line of {} bytes exceeds the {}-byte limit; not decoded",
            (100 << 20) + 9,
            etwnet::decode::DEFAULT_MAX_LINE_BYTES
        )),
        "{out}"
    );
    assert!(err.contains("2 events"), "{err}");
    // Generous for a loaded CI machine; a few seconds here.
    assert!(took < Duration::from_secs(60), "took {took:?}");
    let _ = fs::remove_dir_all(&d);
}

// ---------------------------------------------------------------------------
// Odd bytes in text.

#[test]
fn nul_bytes_in_text_cost_only_their_lines() {
    let text = format!(
        "{NETSTAT_HEAD}{ROW1}  TCP    0.0.0.0:1\0\0\0 0.0.0.0:0  LISTENING  4\r\n\0\0\0\0\0\0\0\0\r\n{ROW2}"
    );
    let (rep, events) = decode_bytes("nul.txt", text.into_bytes(), &RunOptions::default());
    assert_eq!(rep.format, Some(Format::Netstat), "{:?}", rep.notes);
    assert_eq!(events, 2, "{:?}", rep.diagnostics);
    let bad: Vec<u64> = messages(&rep).iter().map(|m| m.0).collect();
    assert_eq!(bad, [6, 7], "{:?}", rep.diagnostics);
    assert_eq!(
        (rep.counts.error, rep.counts.unknown),
        (1, 1),
        "{:?}",
        rep.counts
    );
}

#[test]
fn mixed_encodings_in_one_file_keep_the_readable_lines() {
    // UTF-8 text with a Windows-1252 line (é as 0xE9) and a UTF-16LE
    // fragment pasted in.
    let mut bytes = Vec::new();
    bytes.extend_from_slice(NETSTAT_HEAD.as_bytes());
    for _ in 0..40 {
        bytes.extend_from_slice(ROW1.as_bytes());
    }
    bytes.extend_from_slice(b"Connexions actives \xE9tablies\r\n");
    for u in "  TCP  1.2.3.4:5\r\n".encode_utf16() {
        bytes.extend_from_slice(&u.to_le_bytes());
    }
    bytes.extend_from_slice(ROW2.as_bytes());
    let (rep, events) = decode_bytes("mixed.txt", bytes, &RunOptions::default());
    assert_eq!(rep.format, Some(Format::Netstat), "{:?}", rep.notes);
    // The UTF-16 line ends in "\n\0": the row after it starts with a NUL
    // and is reported with the fragment, not silently dropped.
    assert_eq!(events, 40, "{:?} {:?}", rep.notes, rep.diagnostics);
    let bad: Vec<u64> = messages(&rep).iter().map(|m| m.0).collect();
    assert_eq!(bad, [46, 47], "{:?}", rep.diagnostics);
}

#[test]
fn truncated_utf16_is_noted_and_its_complete_lines_decode() {
    let mut bytes = vec![0xFF, 0xFE];
    for u in netstat_clean().encode_utf16() {
        bytes.extend_from_slice(&u.to_le_bytes());
    }
    bytes.push(b'T'); // odd length: half a code unit
    let (rep, events) = decode_bytes("odd.txt", bytes, &RunOptions::default());
    assert_eq!(events, 2);
    assert!(rep.file_error);
    assert!(
        rep.notes
            .iter()
            .any(|n| n.contains("ends in the middle of a character")),
        "{:?}",
        rep.notes
    );
}

// ---------------------------------------------------------------------------
// XML.

const XML_EVENT: &str = r#"<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-TCPIP" Guid="{2f07e2ee-15db-40f1-90ef-9d7ba282188a}" /><EventID>1300</EventID><Version>0</Version><TimeCreated SystemTime="2026-03-27T15:10:35.1234567Z" /><Execution ProcessID="4" ThreadID="8120" ProcessorID="0" /></System><EventData><Data Name="LocalAddress">0.0.0.0:0</Data><Data Name="Tcb">0xFFFFE189BD811AA0</Data></EventData></Event>"#;

#[test]
fn truncated_xml_reports_the_cut_record() {
    let cut = &XML_EVENT[..XML_EVENT.len() / 2];
    let text = format!("<Events>\n{XML_EVENT}\n{XML_EVENT}\n{cut}");
    let (rep, events) = decode_bytes("cut.xml", text.into_bytes(), &RunOptions::default());
    assert_eq!(rep.format, Some(Format::EtwXml));
    assert_eq!(events, 2);
    assert_eq!(rep.counts.error, 1, "{:?}", rep.diagnostics);
    assert_eq!(messages(&rep)[0].0, 4, "{:?}", rep.diagnostics);
}

#[test]
fn deeply_nested_xml_is_refused_without_recursing() {
    let depth = 100_000;
    let nested = format!(
        r#"<Event><System><Provider Name="P"/><EventID>1</EventID></System><EventData>{}x{}</EventData></Event>"#,
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    // On one line, and spread over many lines.
    let many = nested.replace("><", ">\n<");
    for (label, body) in [("one line", nested.clone()), ("many lines", many)] {
        let text = format!("<Events>\n{XML_EVENT}\n{body}\n{XML_EVENT}\n</Events>\n");
        let (rep, events) = decode_bytes("deep.xml", text.into_bytes(), &RunOptions::default());
        assert_eq!(rep.format, Some(Format::EtwXml), "{label}");
        assert_eq!(events, 2, "{label}: {:?}", rep.diagnostics);
        assert!(rep.counts.error >= 1, "{label}");
        assert!(
            rep.diagnostics
                .iter()
                .any(|d| d.message.contains("nested deeper")),
            "{label}: {:?}",
            rep.diagnostics
        );
    }
}

// ---------------------------------------------------------------------------
// CSV.

const CSV_HEAD: &str = "Event Name, Type, Event ID, Version, Channel, Level, Opcode, Task, Keyword, PID, TID, Processor Number, Instance ID, Parent Instance ID, Activity ID, Related Activity ID, Clock-Time, Kernel(ms), User(ms), User Data\n\n";
const CSV_ROW: &str = "                   TcpIp,      ConnectIPV4,      0,   2,    0,   0,   12,      0, 0x0000000000000000, 0x000010D8, 0x00002E44,   2,       ,       , {00000000-0000-0000-0000-000000000000},       ,   134190978349340205,        0,        0,       4312,          0, 52.109.12.19, 192.168.1.50,        443,      51234,       1460,          1,          0,          1,      65535,          8,          8,          0,        0x0\n";

#[test]
fn csv_with_unbalanced_quotes_costs_only_its_line() {
    let bad = "                   TcpIp,      \"SendIPV4,      0,   2,    0,   0,   10,      0, 0x0, 0x1, 0x2,   2,       ,       , {00000000-0000-0000-0000-000000000000},       ,   134190978349341405,        0,        0,       4312,        517, \"52.109.12.19, 192.168.1.50\n";
    let text = format!("{CSV_HEAD}{CSV_ROW}{bad}{CSV_ROW}{CSV_ROW}");
    let (rep, events) = decode_bytes("quotes.csv", text.into_bytes(), &RunOptions::default());
    assert_eq!(rep.format, Some(Format::TracerptCsv));
    assert_eq!(events, 3, "{:?}", rep.diagnostics);
    assert_eq!(rep.counts.error + rep.counts.unknown, 1, "{:?}", rep.counts);
    assert_eq!(messages(&rep)[0].0, 4, "{:?}", rep.diagnostics);

    // tasklist /fo csv: the same.
    let text = "\"svchost.exe\",\"1060\",\"Services\",\"0\",\"10,240 K\"\n\"bad.exe,\"2\",\"Console\",\"1\",\"1 K\"\n\"lsass.exe\",\"700\",\"Services\",\"0\",\"9,000 K\"\n";
    let (rep, events) = decode_bytes("tl.csv", text.as_bytes().to_vec(), &RunOptions::default());
    assert_eq!(rep.format, Some(Format::Tasklist));
    assert!(events >= 2, "{:?}", rep.diagnostics);
}

// ---------------------------------------------------------------------------
// Numbers and times out of range.

#[test]
fn numbers_and_times_out_of_range_are_errors_not_wraps() {
    let netsh = "[0]0A90.0B2C::2010/13/45-25:61:61.123506700 [Microsoft-Windows-TCPIP]TCP: endpoint (Family=IPV4 PID=2704) created.\n\
[0]FFFFFFFFFFFF.0B2C::99999/10/06-14:02:03.1 [Microsoft-Windows-TCPIP]TCP: endpoint (Family=IPV4 PID=99999999999999999999) created.\n\
[99999999999]0A90.0B2C::2010/10/06-14:02:03.123507700 [Microsoft-Windows-TCPIP]TCP: endpoint (Family=IPV4 PID=2704) created.\n\
[0]0A90.0B2C::2010/10/06-14:02:03.123508700 [Microsoft-Windows-TCPIP]TCP: endpoint (Family=IPV4 PID=2704) created.\n";
    let (rep, _) = decode_bytes("range_netsh.txt", netsh.into(), &RunOptions::default());
    assert_eq!(rep.format, Some(Format::NetshText));
    assert!(
        rep.counts.error >= 2,
        "{:?} {:?}",
        rep.counts,
        rep.diagnostics
    );

    let xml = XML_EVENT
        .replace(
            "2026-03-27T15:10:35.1234567Z",
            "99999-99-99T99:99:99.99999999999Z",
        )
        .replace("ProcessID=\"4\"", "ProcessID=\"99999999999999999999\"");
    let text = format!("<Events>\n{xml}\n{XML_EVENT}\n</Events>\n");
    let (rep, events) = decode_bytes("range.xml", text.into_bytes(), &RunOptions::default());
    assert_eq!(
        events + rep.counts.error as usize,
        2,
        "{:?}",
        rep.diagnostics
    );

    let row = CSV_ROW.replace("134190978349340205", "99999999999999999999999");
    let row2 = CSV_ROW.replace("0x000010D8", "0xFFFFFFFFFFFFFFFFFFFF");
    let text = format!("{CSV_HEAD}{row}{row2}{CSV_ROW}");
    let (rep, events) = decode_bytes("range.csv", text.into_bytes(), &RunOptions::default());
    assert!(events >= 1, "{:?}", rep.diagnostics);

    let text = format!(
        "{NETSTAT_HEAD}  TCP    0.0.0.0:99999          0.0.0.0:0              LISTENING       1060\r\n  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       99999999999999999999\r\n  TCP    999.0.0.1:135          0.0.0.0:0              LISTENING       4\r\n{ROW2}"
    );
    let f = InputFile {
        name: "range_netstat.txt".into(),
        size: text.len() as u64,
        origin: Origin::Memory(Arc::new(text.into_bytes())),
    };
    let (rep, events) = pipeline::decode_file(0, &f, &RunOptions::default());
    // Port 99999 and address 999.0.0.1 are kept as text, never wrapped into
    // a number; a PID beyond u32 makes the row malformed.
    assert_eq!(events.len(), 3, "{:?}", rep.diagnostics);
    assert_eq!(events[0].local.and_then(|e| e.port), None);
    assert_eq!(events[0].field("local_text"), Some("0.0.0.0:99999"));
    assert_eq!(events[1].local.and_then(|e| e.ip), None);
    assert_eq!(rep.counts.error, 1, "{:?}", rep.counts);
    assert_eq!(messages(&rep)[0].0, 6);

    let pktmon = "99:99:99.999999999999 PktGroupId 99999999999999999999999, PktNumber 70000, Appearance 1, Direction Rx , Type Ethernet , Component 4294967296, Edge 1, Filter 1, OriginalSize 76, LoggedSize 76 \n\
21:14:03.000436600 PktGroupId 1, PktNumber 1, Appearance 1, Direction Rx , Type Ethernet , Component 8, Edge 1, Filter 1, OriginalSize 99999999999, LoggedSize 76 \n";
    let (rep, _) = decode_bytes("range_pktmon.txt", pktmon.into(), &RunOptions::default());
    assert_eq!(rep.format, Some(Format::PktmonText));
}

// ---------------------------------------------------------------------------
// Zip bundles.

#[test]
fn zip_entries_with_dotdot_and_absolute_names_are_only_names() {
    let d = temp_dir("zipnames");
    let netstat = netstat_clean();
    let z = make_zip(&[
        ("../../evil.txt", netstat.as_bytes()),
        ("/etc/abs.txt", netstat.as_bytes()),
        ("C:/Windows/win.txt", netstat.as_bytes()),
        ("\\\\server\\share\\unc.txt", netstat.as_bytes()),
        ("ok/netstat.txt", netstat.as_bytes()),
    ]);
    let zp = d.join("bundle.zip");
    fs::write(&zp, z).unwrap();
    let before: Vec<_> = fs::read_dir(&d).unwrap().collect();
    let zname = zp.to_string_lossy().into_owned();
    let found = input::discover(std::slice::from_ref(&zname), &DiscoverOptions::default());
    let names: Vec<&str> = found.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    let flagged: Vec<&str> = found.problems.iter().map(|p| p.name.as_str()).collect();
    for e in [
        "../../evil.txt",
        "/etc/abs.txt",
        "C:/Windows/win.txt",
        "\\\\server\\share\\unc.txt",
    ] {
        assert!(
            flagged.contains(&format!("{zname}!{e}").as_str()),
            "{e} not flagged: {flagged:?}"
        );
    }
    assert!(found.problems.iter().all(|p| !p.skipped));
    // Read in place: nothing written anywhere near the bundle.
    assert_eq!(fs::read_dir(&d).unwrap().count(), before.len());
    assert!(!d.join("../../evil.txt").exists() || d.join("../../evil.txt").is_dir());
    assert!(!Path::new("/etc/abs.txt").exists());
    let (code, out, err) = etwnet(&["detect", &zname]);
    assert_eq!(code, 0);
    assert!(out.contains(&format!("{zname}!../../evil.txt")), "{out}");
    assert!(
        err.contains(&format!("{zname}!/etc/abs.txt: entry name is absolute")),
        "{err}"
    );
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn zip_bomb_is_stopped_with_a_clear_message() {
    let d = temp_dir("bomb");
    // 64 MiB of zeros deflates ~1030:1: over the ratio limit.
    let zeros = vec![0u8; 64 << 20];
    let netstat = netstat_clean();
    let z = make_zip(&[("zeros.txt", &zeros), ("netstat.txt", netstat.as_bytes())]);
    assert!(z.len() < 200_000);
    let zp = d.join("bomb.zip");
    fs::write(&zp, &z).unwrap();
    let zname = zp.to_string_lossy().into_owned();
    let (code, out, err) = etwnet(&["detect", &zname]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!(
            "{zname}!zeros.txt: refused: decompresses to {} bytes",
            64 << 20
        )) && err.contains("a likely zip bomb (skipped)"),
        "{err}"
    );
    assert!(out.contains(&format!("{zname}!netstat.txt")), "{out}");
    let (code, _, _) = etwnet(&["detect", "--strict", &zname]);
    assert_eq!(code, 1, "--strict: a refused entry is an input error");

    // An entry within the ratio but over the run's budget (--max-unzipped, MiB).
    let text: Vec<u8> = (0..3u32 << 20)
        .map(|i| b"0123456789abcdef\n"[(i.wrapping_mul(2_654_435_761) >> 28) as usize])
        .collect();
    let z = make_zip(&[("big.txt", &text), ("netstat.txt", netstat.as_bytes())]);
    let zp = d.join("budget.zip");
    fs::write(&zp, &z).unwrap();
    let zname = zp.to_string_lossy().into_owned();
    let (code, _, err) = etwnet(&["detect", "--max-unzipped", "1", &zname]);
    assert_eq!(code, 0);
    assert!(
        err.contains(&format!(
            "{zname}!big.txt: refused: decompressed data exceeds the limit"
        )),
        "{err}"
    );

    // A header that lies about the size: the reader stops at the budget
    // (or the zip library at the declared size), never at the real size.
    let z = make_zip(&[("liar.txt", &zeros[..8 << 20])]);
    let mut lied = z.clone();
    patch_uncompressed_sizes(&mut lied, 100);
    let found = input::discover_bytes(
        "liar.zip",
        lied,
        &DiscoverOptions {
            max_unzipped: 1 << 20,
        },
    );
    let total: u64 = found.files.iter().map(|f| f.size).sum();
    assert!(total <= 1 << 20, "{total} bytes let through");
    assert!(
        !found.problems.is_empty() || total <= 100,
        "{:?}",
        found.problems
    );
    let _ = fs::remove_dir_all(&d);
}

/// Sets the uncompressed size in every local and central header of `z`.
fn patch_uncompressed_sizes(z: &mut [u8], size: u32) {
    let mut i = 0;
    while i + 4 <= z.len() {
        if z[i..].starts_with(b"PK\x03\x04") && i + 26 <= z.len() {
            z[i + 22..i + 26].copy_from_slice(&size.to_le_bytes());
        } else if z[i..].starts_with(b"PK\x01\x02") && i + 28 <= z.len() {
            z[i + 24..i + 28].copy_from_slice(&size.to_le_bytes());
        }
        i += 1;
    }
}

#[test]
fn messages_name_the_zip_entry_and_line() {
    let d = temp_dir("names");
    let netsh = "[0]0A90.0B2C::2010/10/06-14:02:03.123507700 [Microsoft-Windows-TCPIP]TCP: endpoint (Family=IPV4 PID=2704) created.\n\
[0]0A90.0B2C::2010/10/06-14:02:03.123508700 [Microsoft-Windows-TCPIP]TCP: endpoint (Family=IPV4 PID=2704) created.\n\
[0]0A90.0B2C::2010/1\n";
    let z = make_zip(&[("logs/trace.txt", netsh.as_bytes())]);
    let zp = d.join("case.zip");
    fs::write(&zp, z).unwrap();
    let zname = zp.to_string_lossy().into_owned();
    let (code, out, err) = etwnet(&["detect", "-v", &zname]);
    assert_eq!(code, 0);
    let at = format!("{zname}!logs/trace.txt:3: ");
    assert!(err.contains(&at) && out.contains(&at), "{err}\n{out}");
    let _ = fs::remove_dir_all(&d);
}

// ---------------------------------------------------------------------------
// Folders.

#[test]
fn unreadable_files_and_folders_are_reported_and_the_rest_processed() {
    use std::os::unix::fs::PermissionsExt;
    let d = temp_dir("perm");
    fs::write(d.join("a_netstat.txt"), netstat_clean()).unwrap();
    let locked = d.join("b_locked.txt");
    fs::write(&locked, netstat_clean()).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    let locked_dir = d.join("c_locked_dir");
    fs::create_dir(&locked_dir).unwrap();
    fs::write(locked_dir.join("inside.txt"), netstat_clean()).unwrap();
    fs::set_permissions(&locked_dir, fs::Permissions::from_mode(0o000)).unwrap();
    // Root (as in CI containers) reads mode-000 files anyway.
    let privileged = fs::read(&locked).is_ok();

    let (code, out, err) = etwnet(&["detect", d.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("a_netstat.txt"), "{out}");
    if privileged {
        eprintln!("note: running with privileges; mode 000 does not stop reads here");
        assert!(
            out.contains("b_locked.txt") && out.contains("inside.txt"),
            "{out}"
        );
    } else {
        assert!(
            err.contains(&format!("{}: cannot", locked.display())),
            "{err}"
        );
        assert!(
            err.contains(&format!("{}: cannot list directory", locked_dir.display())),
            "{err}"
        );
        let (code, _, _) = etwnet(&["detect", "--strict", d.to_str().unwrap()]);
        assert_eq!(code, 1);
    }
    // A file that vanishes between discovery and reading (the same path the
    // decoder takes for an unreadable file) is reported, not a panic.
    let gone = InputFile {
        name: "gone.txt".into(),
        size: 10,
        origin: Origin::File(d.join("gone.txt")),
    };
    let (rep, events) = pipeline::decode_file(0, &gone, &RunOptions::default());
    assert!(events.is_empty() && rep.file_error);
    assert!(rep.notes[0].starts_with("cannot read:"), "{:?}", rep.notes);

    fs::set_permissions(&locked_dir, fs::Permissions::from_mode(0o755)).unwrap();
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn symlink_loops_end() {
    use std::os::unix::fs::symlink;
    let d = temp_dir("loops");
    let sub = d.join("sub");
    fs::create_dir(&sub).unwrap();
    fs::write(sub.join("netstat.txt"), netstat_clean()).unwrap();
    symlink("..", sub.join("up")).unwrap(); // sub/up -> d
    symlink(&sub, sub.join("again")).unwrap(); // sub/again -> sub
    symlink("self", d.join("self")).unwrap(); // self -> self (ELOOP)
    symlink("nowhere", d.join("dangling")).unwrap();

    let start = Instant::now();
    let found = input::discover(
        &[d.to_string_lossy().into_owned()],
        &DiscoverOptions::default(),
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(found.files.len(), 1, "{:?}", found.files);
    let problems: Vec<String> = found
        .problems
        .iter()
        .map(|p| format!("{}: {}", p.name, p.message))
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("up: directory already visited")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("self: cannot open")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("dangling: cannot open")),
        "{problems:?}"
    );
    let _ = fs::remove_dir_all(&d);
}

// ---------------------------------------------------------------------------
// Exit codes.

#[test]
fn exit_codes_are_documented_in_help() {
    let (code, out, _) = etwnet(&["--help"]);
    assert_eq!(code, 0);
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(out.contains("Exit codes: 0 success"), "{out}");
    assert!(
        out.contains("1 some inputs had errors and --strict"),
        "{out}"
    );
    assert!(out.contains("2 usage error"), "{out}");
    let (code, _, err) = etwnet(&["detect"]);
    assert_eq!(code, 2, "{err}");
}
