//! One test per crash or broken invariant found by fuzzing (tests/fuzz),
//! with the input inline (minimized where libFuzzer could). Each runs the
//! fuzz target body that failed and asserts the corrected behaviour.

// Only some target bodies have had crashes.
#[allow(dead_code)]
#[path = "fuzz/src/targets.rs"]
mod targets;

use etwnet::correlate::Connection;
use etwnet::decode::{self, Format};
use etwnet::event::Event;

/// Correlates one file's events and returns its first connection.
fn only_connection(events: Vec<Event>) -> Connection {
    let decoded = etwnet::pipeline::Decoded {
        files: Vec::new(),
        events: vec![events],
        problems: Vec::new(),
    };
    let a = etwnet::correlate::analyze(&decoded, None);
    a.connections.iter().next().expect("one connection").clone()
}

/// pktmon_text, found by libFuzzer (crash-9ae715a7…, reduced by hand): a
/// garbled time-only record (`0004\xb46100`: a byte that is not a digit in
/// the time) was unknown, but the indented decode line after it was credited
/// to the packet *before* it. Decoding the file whole and in chunks then
/// disagreed. Fixed in src/decode/pktmon.rs: a non-indented line that is
/// neither a record nor a continuation ends the pending record.
#[test]
fn pktmon_continuation_after_garbled_record_is_not_credited_to_the_previous_packet() {
    let input: &[u8] = b"21:14:03.000436600 PktGroupId 1125899906842702, PktNumber 1, Appearance 3, Direction Rx , Type Ethernet , Component 8, Edge 1, Filter 1, OriginalSize 76, LoggedSize 76 \n\
\t00-E0-81-4C-5D-6E > 3C-7C-3F-1A-2B-3C, ethertype IPv4 (0x0800), length 76: 192.168.1.50.623 > 192.168.1.20.49852: UDP, length 34\n\
21:14:03.0004\xb46100 PktGroupId 1125899906842702, PktNumber 1, Appearance 8, Direction Rx , Type Ethernet , Component 11, Edge 1, Filter 1, OriginalSize 76, LoggedSize 76 \n\
\t00-E0-81-4C-5D-6E > 3C-7C-3F-1A-2B-3C, ethertype IPv4 (0x0800), length 76: 10.9.9.9.1 > 10.8.8.8.2: UDP, length 34\n";
    targets::pktmon_text(input);
    let text = etwnet::input::encoding::decode(input, None).text;
    let s = decode::decode_text(Format::PktmonText, 0, 1, &text).unwrap();
    assert_eq!(s.events.len(), 1);
    assert_eq!(
        (s.counts.parsed, s.counts.unknown),
        (2, 2),
        "{:?}",
        s.counts
    );
    let ev = &s.events[0];
    assert_eq!(
        ev.local
            .and_then(|e| e.ip)
            .map(|ip| ip.to_string())
            .as_deref(),
        Some("192.168.1.50"),
        "the first packet keeps its own addresses"
    );
    let lines: Vec<u64> = s.diagnostics.iter().map(|d| d.source.line).collect();
    assert_eq!(lines, [3, 4], "both lines of the garbled record are named");
}

/// pktmon_text, found by libFuzzer (minimized-from-b81028a7…): rows of a
/// console `pktmon filter list` table that start with a digit (`10 BMC …`
/// with ten or more filters) were taken for time-only record starts, so a
/// chunk could start inside the table and lose the heading the rows need.
/// Fixed in src/decode/pktmon.rs: a time-only record starts with a time of
/// day (a first word containing ':').
#[test]
fn pktmon_filter_table_rows_starting_with_a_digit_are_not_record_starts() {
    let input: &[u8] = b" # Name\n--\n\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff3\xff\xff\xff\xff\xff3\xff\xff\xff3\n33\xff\xff\xff3\n3";
    targets::pktmon_text(input);
    assert!(!Format::PktmonText.is_record_start("10 BMC            623"));
    assert!(Format::PktmonText.is_record_start("21:14:03.000436600 PktGroupId 1"));
}

/// pktmon_text, found by libFuzzer (minimized-from-b8cfa33b…): the same
/// filter-table cut, with the table after a console prompt.
#[test]
fn pktmon_filter_table_after_prompt_chunks_like_whole() {
    let input: &[u8] =
        b"C: list\n # Name EtherType\n23\n--- ---\n 1 BMC 65 \n\t\xff\xff\xff\xff3\n23\n\xff\xff3\n23\n";
    targets::pktmon_text(input);
}

/// Found by the chunking property (tests/properties.rs) on
/// samples/pktmon/numeric_drop_reason: numeric drop reasons are named from
/// the build in the `[MSNT_SystemTrace]` header, which a chunk after the
/// first never sees, so a large PktMon text file lost (or misnamed) drop
/// reasons after its first chunk. Fixed by `decode::finish_file` (in
/// src/decode/pktmon.rs, called by the driver once a file's chunks are
/// joined).
#[test]
fn pktmon_numeric_drop_reasons_are_named_from_the_header_in_every_chunk() {
    let text = "[00]1A2C.0F10::2024-11-05 09:30:00.000213000 [MSNT_SystemTrace] Event: Header, BufferSize: 16777216, ProviderVersion: 17763, NumberOfProcessors: 8\n\
[00]0000.0000::2024-11-05 09:30:00.000216000 [Microsoft-Windows-PktMon] Drop: PktGroupId 844424930132001, PktNumber 1, Appearance 0, Direction Tx , Type Ethernet , Component 2, Filter 0, DropReason 101 , DropLocation 0xE0001005, OriginalSize 60, LoggedSize 60 \n\
[00]0000.0000::2024-11-05 09:30:00.000217000 [Microsoft-Windows-PktMon] Drop: PktGroupId 844424930132002, PktNumber 1, Appearance 0, Direction Tx , Type Ethernet , Component 2, Filter 0, DropReason 101 , DropLocation 0xE0001005, OriginalSize 60, LoggedSize 60 \n";
    targets::pktmon_text(text.as_bytes());
    let whole = decode::decode_text(Format::PktmonText, 0, 1, text).unwrap();
    let mut chunked = Vec::new();
    for (first, chunk) in etwnet::pipeline::split_chunks(text, Format::PktmonText, 1) {
        chunked.extend(
            decode::decode_text(Format::PktmonText, 0, first, chunk)
                .unwrap()
                .events,
        );
    }
    decode::finish_file(Format::PktmonText, &mut chunked);
    assert_eq!(chunked, whole.events);
    let names: Vec<_> = chunked
        .iter()
        .filter_map(|e| e.drop.as_ref()?.name.clone())
        .collect();
    assert_eq!(names, ["PktMonDrop_Pause", "PktMonDrop_Pause"]);
}

/// Found by tests/hostile.rs (NUL bytes in a netstat row): a row that starts
/// with a protocol but does not parse was taken for netstat -b's "Can not
/// obtain ownership information" sentence (marking the row before it), or
/// skipped as a table header. Fixed in src/decode/netstat.rs: it is an error
/// naming its line.
#[test]
fn netstat_garbled_row_is_an_error_not_a_header_or_ownership_note() {
    let text = "  Proto  Local Address          Foreign Address        State           PID\n\
  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       1060\n\
  TCP    0.0.0.0:1\0\0\0 0.0.0.0:0  LISTENING  4\n\
  TCP    10.0.0.5:49823         20.42.73.29:443        ESTABLISHED     5212\n";
    targets::netstat(text.as_bytes());
    let s = decode::decode_text(Format::Netstat, 0, 1, text).unwrap();
    assert_eq!(s.events.len(), 2);
    assert_eq!(s.events[0].field("ownership"), None);
    assert_eq!(s.counts.error, 1);
    assert_eq!(s.diagnostics[0].source.line, 3);
}

/// pktmon_text, found by libFuzzer (crash-80fffb56…, reduced by hand): a
/// console `pktmon filter list` table stayed open across trace records, so
/// console lines far below it (`C:\…>pktmon start`, `Processing...`) were
/// decoded as filter rows in a whole-file decode but not when a chunk
/// started between them. Fixed in src/decode/pktmon.rs: a record start ends
/// the table.
#[test]
fn pktmon_filter_table_ends_at_the_first_record() {
    let text = " # Name EtherType Protocol IP Address Port\n\
 - ---- --------- -------- ---------- ----\n\
 1 BMC                                623\n\
[00]1A2C.0F10::2024-11-05 09:30:00.000000000 [MSNT_SystemTrace] Event: PartitionInfoExtensionV2, EventVersion: 0\n\
C:\\Windows\\system32>pktmon start --etw --log-mode real-time\n\
Processing...\n";
    targets::pktmon_text(text.as_bytes());
    let s = decode::decode_text(Format::PktmonText, 0, 1, text).unwrap();
    let filters = s
        .events
        .iter()
        .filter(|e| e.kind == etwnet::event::Kind::PktmonFilter)
        .count();
    assert_eq!(filters, 1, "only the row under the heading is a filter");
}

/// pktmon_text and etw_xml, found by libFuzzer (crash-9e51c92d… and
/// crash-8f3c34a6…, reduced by hand): a record-start line over the line cap
/// was reported but never reached the decoder, so the record before it
/// stayed open and took the lines after it. A chunk starting at that line
/// did not. Fixed in `decode::decode_lines` (src/decode/mod.rs): an
/// over-the-cap record start ends the pending record, as a chunk boundary
/// does.
#[test]
fn record_start_over_the_line_cap_ends_the_pending_record() {
    let long_record = format!(
        "[03]2F4C.3A18::2024-11-05 21:14:03.000002600 [Microsoft-Windows-PktMon] PktGroupId 1, {}\n",
        "x".repeat(5000)
    );
    let pktmon = format!(
        "[03]2F4C.3A18::2024-11-05 21:14:03.000001600 [Microsoft-Windows-PktMon] PktGroupId 1125899906842701, PktNumber 1, Appearance 1, Direction Tx , Type Ethernet , Component 8, Edge 2, Filter 1, OriginalSize 76, LoggedSize 76 \n\
\t00-E0-81-4C-5D-6E > 3C-7C-3F-1A-2B-3C, ethertype IPv4 (0x0800), length 76: 192.168.1.50.623 > 192.168.1.20.49852: UDP, length 34\n\
{long_record}\
\t3C-7C-3F-1A-2B-3C > 00-E0-81-4C-5D-6E, ethertype IPv4 (0x0800), length 65: 10.9.9.9.1 > 10.8.8.8.2: UDP, length 23\n"
    );
    targets::pktmon_text(pktmon.as_bytes());
    let s = decode::decode_lines(Format::PktmonText, 0, 1, &pktmon, 4096);
    assert_eq!(s.events.len(), 1);
    assert_eq!(
        (s.counts.parsed, s.counts.error, s.counts.unknown),
        (2, 1, 1),
        "{:?}",
        s.counts
    );

    let xml = format!(
        "<Events>\n<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\">\n<System>\n<Event xmlns=\"{}\">\n<System>\n</Events>\n",
        "r".repeat(5000)
    );
    targets::etw_xml(xml.as_bytes());
    let s = decode::decode_lines(Format::EtwXml, 0, 1, &xml, 4096);
    assert_eq!(s.counts.total(), 6);
    assert_eq!(s.diagnostics[0].source.line, 2, "{:?}", s.diagnostics);
}

/// pktmon_text, found by libFuzzer in round 6 (crash-ec67e95b…, reduced by
/// hand): a garbled `Property:` line that also carries a packet header
/// (`… PktGroupId …`) replaced the pending packet without delivering it, so
/// the packet before it vanished from a whole decode but not from a chunk
/// that ended there. Fixed in src/decode/pktmon.rs: a new packet or
/// component record flushes the pending one first.
#[test]
fn pktmon_packet_header_in_a_property_line_does_not_lose_the_pending_packet() {
    let input: &[u8] = b"[00]0000.0000::2024-11-05 21:14:04.000883100 [Microsoft-Windows-PktMon] PktGroupId 1125899906842704, PktNumber 1, Appearance 2, Direction Rx , Type Ethernet , Component 8, Edge 1, Filter 0, OriginalSize 106, LoggedSize 106 \n\
\tB0-BE-76-11-22-33 > 3C-7C-3F-1A-2B-3C, ethertype IPv4 (0x0800), length 106: 192.168.1.1.53 > 192.168.1.20.61544: UDP, length 64\n\
[00]0000.0000::2024-11-05 21:14:04.000883200 [Microsoft-Windows-PktMon] Property: ] PktGroupId 1125899906842705, PktNumber 1, Appearance 3, Direction Rx , Type Ethernet , Component 9, Edge 1, Filter 0, OriginalSize 106, LoggedSize 106 \n";
    targets::pktmon_text(input);
    let text = etwnet::input::encoding::decode(input, None).text;
    let s = decode::decode_text(Format::PktmonText, 0, 1, &text).unwrap();
    let lines: Vec<u64> = s.events.iter().map(|e| e.source.line).collect();
    assert_eq!(lines, [1, 3], "both packets are delivered");
    assert_eq!(s.counts.total(), 3);
}

/// netmon_text, found by libFuzzer in round 6 (crash-ad2b6efc…, reduced by
/// hand): a hex-dump-looking line (`58 50   tcpserver.exe …`) after an
/// unknown line was appended to the packet before the unknown line, but
/// decoded as a frame when a chunk started at the unknown line. Fixed in
/// src/decode/netmon.rs: any line other than a hex dump (blank lines and
/// column headers aside) ends the packet's dump.
#[test]
fn netmon_hex_dump_after_an_unknown_line_is_not_credited_to_the_earlier_packet() {
    let input = "60            tcpserver.exe (2704)              192.168.1.200         192.168.1.212         TCP        TCP: Flags=...A...., SrcPort=55908, DstPort=13000, PayloadLen=0, Seq=1, Ack=2, Win=8192\n\
not a frame line\n\
58 50            tcpserver.exe (2704)              Wscore_MicrosoftWindowsWinsockAFD:socket: 0 (0x0): Process 0x893F92B0\n";
    targets::netmon_text(input.as_bytes());
    let s = decode::decode_text(Format::NetmonText, 0, 1, input).unwrap();
    assert_eq!(s.events.len(), 2, "{:?}", s.counts);
    assert!(s.events[0].field("payload_hex").is_none());
    assert_eq!(s.events[1].source.line, 3);
    assert_eq!(s.counts.unknown, 1);
}

/// netsh_text, found by libFuzzer in round 6 (crash-fe8c1f23…, reduced by
/// hand): a PktMon packet line inside netsh text waited for its indented
/// decode lines while the TCPIP lines after it were delivered, so a whole
/// decode put the packet after them and a chunk starting after the packet
/// did not. Fixed in src/decode/netsh.rs: any other non-blank line
/// delivers the pending PktMon packet first.
#[test]
fn netsh_pktmon_packet_is_delivered_before_the_lines_after_it() {
    let input = "[0]0A90.0B2C::2010/10/06-14:02:03.123663700 [Microsoft-Windows-PktMon]PktGroupId 1, PktNumber 1, Appearance 1, Direction Rx , Type Ethernet , Component 8, Edge 1, Filter 0, OriginalSize 76, LoggedSize 76\n\
[0]0A90.0B2C::2010/10/06-14:02:03.123707700 [Microsoft-Windows-TCPIP]TCP: endpoint (sockaddr=192.168.1.212:13000) closed.\n\
[0]0A90.0B2C::2010/10/06-14:02:03.123719700 [Microsoft-Windows-TCPIP]TCP: endpoint (sockaddr=192.168.1.212:13001) closed.\n";
    targets::netsh_text(input.as_bytes());
    let s = decode::decode_text(Format::NetshText, 0, 1, input).unwrap();
    let lines: Vec<u64> = s.events.iter().map(|e| e.source.line).collect();
    assert_eq!(lines, [1, 2, 3]);
}

/// netsh_text, found by libFuzzer in round 6 (crash-4e15d6b0…, reduced by
/// hand): after a PktMon packet line, a broken record line kept the
/// decoder in "PktMon continuation" mode, so an indented converter line
/// later on went to the PktMon decoder (unknown) in a whole decode but was
/// netsh's own (parsed) in a chunk starting at the broken line. Fixed in
/// src/decode/netsh.rs: any line that is not a PktMon record or its
/// indented continuation ends that mode.
#[test]
fn netsh_broken_record_ends_pktmon_continuation_lines() {
    // The fuzz input itself, a line per literal (leading spaces matter);
    // the target asserts that chunked and whole decodes agree.
    let parts: &[&[u8]] = &[
        b"[0]0A90.0B1C::2000/011/6-14:02:03.123506700 [Mic[001]0:90.0B2C::pe SOCK_STREAM, Protocol \x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d0000A90), Endpoint 0x78uccess\x0a",
        b"[0]0A90.0B2C::2010/10/06-14:02:03.123663700 [Microsoft-Windows-PktMon]TCP: endpoint (Fam[0]0A90.0B2[0]0004.0008::2025/13/4\xff\xff5-25:3:*1999893F9[0]rosoftndows-Winso\x0a",
        b"[0]0A900004.0008::2th num1.\x0a",
        b"\x0a",
        b" connectio90.0B2C::2010of byt0\xe6equend Sequence number = 242859.0B2C::20110241.\x0a",
        b"ence ko90.0ce numbe42.\x0a",
        b"\x0a",
        b" \x0a",
        b" connectio90.0ce number = 2428590242.\x0a",
        b"\x0a",
        b" The command completed successfully.Microsoft-Windows-Winsock-AFD]socket: 0: Pr:\x0a",
        b" connectio90.0B2C::2010/10/06-14:\x102:03.123506700 [Microsoft-Window/10/s- B2of byt0 tranus Sus",
    ];
    targets::netsh_text(&parts.concat());
}

/// whole_pipeline, found by libFuzzer in round 6 (crash-d7a8a2ba…, reduced
/// by hand): "Sent data with number of bytes = -1" became 2^64 − 1 bytes
/// (the two's-complement reading of a negative Int32), and adding it to a
/// connection's bytes overflowed (a panic in a debug build, a wrapped
/// total in a release one). Fixed: a negative value is no byte count
/// (src/schema/enrich.rs), and byte and drop totals add saturating
/// (src/correlate).
#[test]
fn negative_byte_counts_are_not_counted_and_totals_do_not_overflow() {
    let input = "[0]0000.0B2C::2010/10/06-14:02:03.123653700 [Microsoft-Windows-TCPIP]TCP: connection 0x8921DD28 transition from ListenState to SynRcvdState, SndNxt = 0.\n\
[0]0000.0B2C::2010/10/06-14:02:03.123658700 [Microsoft-Windows-TCPIP]TCP: connection 0x8921DD28 transition from SynRcvdState to EstablishedState, SndNxt = 2428590242.\n\
[0]0000.0B2C::2010/10/06-14:02:03.123664700 [Microsoft-Windows-TCPIP]TCP: connection 0x8921DD28: Sent data with number of bytes = -1 and Sequence number = 2428590242.\n\
[0]0000.0B2C::2010/10/06-14:02:03.123665700 [Microsoft-Windows-TCPIP]TCP: connection 0x8921DD28: Sent data with number of bytes = 18446744073709551615 and Sequence number = 2428590242.\n\
[0]0000.0B2C::2010/10/06-14:02:03.123666700 [Microsoft-Windows-TCPIP]TCP: connection 0x8921DD28: Sent data with number of bytes = 18446744073709551615 and Sequence number = 2428590242.\n";
    targets::whole_pipeline(input.as_bytes());
    let s = decode::decode_text(Format::NetshText, 0, 1, input).unwrap();
    assert_eq!(s.events[2].bytes, None, "-1 is no byte count");
    assert_eq!(s.events[3].bytes, Some(u64::MAX));
    let c = only_connection(s.events);
    assert_eq!(c.bytes_sent, u64::MAX, "saturated, not wrapped");
}

/// pktmon_text, found by libFuzzer in round 6 (crash-e2b0f267…): a
/// `Property:` line with no space after the colon was a record start for
/// the chunker (which looked for "] Property: ") but a property line for
/// the decoder, which keeps the pending record open across it; an indented
/// line after it then joined the packet before it in a whole decode only.
/// Fixed in src/decode/pktmon.rs: no "] Property:" line starts a record.
#[test]
fn pktmon_property_line_without_a_space_is_not_a_record_start() {
    // The fuzz input itself, a line per literal (leading spaces matter);
    // the target asserts that chunked and whole decodes agree.
    let parts: &[&[u8]] = &[
        b"\x093C-7C-3F-1A-2B-3C > 00-E0-81-4C-5D-6E, ethertype IPv4 (0x0800), length 65: 192.168.1.20.49852 > 192.168.1.50.623: UDP, length 23\x0a",
        b"[00]0000.0000::2024-11-05 21:14:05.001336800 [Microsoft-Windows-Pk\x84Mon] PktGroupId 1125899906842707, PktNumber 1, App\xbc\x9arance 1, DirectiKon Rx , Type Ethernet , Component 7, Edge 1, Filter 0, OriginalSize 76, LoggedSize 76 \x0a",
        b"\x0900-E0-81-4C-5D-6E[00]1A2C.0F10::2024-11-05 09:30:00.000000000 [MSNT_SystemTrace] Event: Header, BufferSize: 16777216, Version: 131082, ProviderVersion: 26100, NumberOfProcessors: 8, EndTime: 133752117305512340, TimerResolution: 156250, MaxFileSize: 512nop,wscale 9,nop,nop,sackOK], length 0\x0a",
        b"[04]0004.0514::2024-11-05 09:30:00.000093000 [Microsoft-Windows-PktMon] lPktGroupId 2814\xb8\xa2\xe5\xbc\x83\xef\xbc\x9a PktGroupId 844424930131971, PktNMSNT_\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94 1, DropReason INET: checksum is invalid , DropLocation 0xE000460B, \xe5\x8e\x9f\xe5\xa7\x8b\xe5\xa4\xa7\xe5\xb0\x8f 62, \xe8\xae\xb0\xe5\xbdR\xe5\xa4\xa7\xe5\xb0\x8f 62 \x0a",
        b"       \xe4\xb8\xa2\xe5\xbc\x83\xef\xbc\x9a ip: 192.168.1.50.623 > 19F\x001\x000\x00:\x00e: 0x0, T:\x002\x000imeZo, NumberOfPro34\x0a",
        b"[00]0000.0\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00000::2024-11-05 21:14:05.001338700 [Microsoft-Windows-PktMon] PktGroupId 1125899906842707, PktNumber 1, Appearance 2, Direction Rx , Type Ethernet , Component 8, Edge 2, Filter 0, OriginalSize 76, LoggedSize 76 \x0a",
        b"\x0900-E0-81-4C-5D-6E > 3C-7C-3F-1A-2B-3C, ethertype IPv4 (0x0800), length 76: 192.168.1.50.623 > 192.168s: 1, OOOOOOOOOOOOOO\xcf\xc4-5D-01-02-03 > 00-15-5D-0A60,sackOK], length 0\x0a",
        b"[06]0000.0000::2024-11-05 09:30:00.000210000 [Microsoft-Windows-PktMon] \xe4\xb8\xa2\xe5\xbc\x83\xef\xbc\x9a PktGroupId 844424930131971, PktNMSNT_\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2[03]2)F4C.3A18::2024-11-05 21:14:04.000192.168Mic2osoft-Win\x1bows-PktMon3\x0a",
        b"[00]0000.0000::2024-11-05 21:14:04.000881200 [Microsoft-Windows-PktMon] Property:Microsoft-Windows-Winsock-AFD4-11-05 21:14:04.000192.168Mic2osoft-Win\x1bow\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94\x98\xe2\x94 1, DropReason INET: checksum is invalid , DropLocation 0xE000460B, \xe5\x8e\x9f\xe5\xa7\x8b\xe5\xa4\xa7\xe5\xb0\x8f 62, \xe8\xae\xb0\xe5\xbdR\xe5\xa4\xa7\xe5\xb0\x8f 62 \x0a",
        b"       \xe4\xb8\xa2\xe5\xbc\x83\xef\xbc\x9a ip: 192.168.1.50.623 > 19F\x001\x000\x00:\x00e: 0.1.20.4\xab9585: UDP, length 34\x0a",
        b"[00]0000.ktNumber 1, Appearance 1, Direction Tx , Type Ethernet , Component 5, Edge 1, 0000::2024s-PktMon3\x0a",
        b"[00]0000.0000::2024-11-05 21:14:04.000881200 [Microsoft-Windo-1ws-PktMon] Property: ] PktGroupId 13125899906842704, PktNumber 1, Appearance 1, Direct1-05 21:14:05.00134Filter 0, OriginalSize 54, LoggedSdTime: 133752117305512340, TimerResolutiion RxiginalSon: 156250, MaxFilePv4 (0x0800), lengize 76, LoggedSize th 54: (76 tos\x0a",
        b" 0x0, 060\x0a",
        b"0t",
    ];
    targets::pktmon_text(&parts.concat());
    assert!(!Format::PktmonText.is_record_start(
        "[00]0000.0000::2024-11-05 21:14:04.000881200 [Microsoft-Windows-PktMon] Property:x"
    ));
}

/// pktmon_text, found by libFuzzer in round 6 (crash-c1972bc8…): a
/// time-only `21:14:03.0 Property: ` line (unreadable) was a record start
/// for the chunker but left the packet before it open in the decoder, so
/// the indented line after it joined that packet in a whole decode only.
/// Fixed in src/decode/pktmon.rs: no line containing "Property:" starts a
/// chunk, and only a readable property line of the pending component keeps
/// a record open.
#[test]
fn pktmon_unreadable_time_only_property_line_ends_the_pending_packet() {
    // The fuzz input itself, a line per literal (leading spaces matter);
    // the target asserts that chunked and whole decodes agree.
    let parts: &[&[u8]] = &[
        b"[[03]2F4C.3A18::2024-11-05 21:14:04.000469200 [Microsoft-Windows-PktMon] PktGroupId 1125899906842703, PktNumber 1, Appearance 8, Direection Tx , Type Ethernut , Component 5, Edge 1, Filter 0, OriginalSize 54, Lo64)\x0a",
        b"[00]0000.0000::2024-11-05 21:14:04.000885000 [Microsoft-Windows-PktMon] PktGroupId 1125899906842704,192.168.1.20.49852 \x00\x00\x00\x00\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00PktN\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00umber 1, AppeaedS: UDrance 3, DirectCP (6), length 52)\x0a",
        b"    10.0.0.15.50123 > 93.184.216.34.443: Flags [S], seq 24017P, le35811,ction [03]2F4C.3A18::2021A-, length 0\x0a",
        b"[04]0 Filter 0, OriginalSize 54, Lo64)\x0a",
        b"[00]0000.0000::2024-11-05 21:14:14.000885000 [Microsoft-Windows-PktMon] PktGroupId 1125899906842704,192.168.1.20.498on] Pk[00]1A2C.0F10::2024-11-05 09:30:00.000186000 [MSg...\x0a",
        b"\x0a",
        b"11:14:03.0 Property: \x0a",
        b"\x092thD\x00P\x00,\x00 EventVarsion: 0, Reserved: 0, PartitionType: 0, QpcOffs~etFromRoot: 0, PartitionId: , ParentId: \x0a",
        b"[01]0004.0088::2024-\xcd11-05 09:30:00.000191000 [Microsoft-Windows-PktMon] PktGroupItGroupId 1125899906842704,192.168.1.20.49852 PktNumber 1, Ad 28pp1",
    ];
    targets::pktmon_text(&parts.concat());
    assert!(!Format::PktmonText.is_record_start("11:14:03.0 Property: "));
}

/// pktmon_text, found by libFuzzer in round 6 (crash-35fe6d03…): the
/// target compared chunked events, renamed by the driver's per-file pass
/// (`decode::finish_events`: drop reasons and locations named again from
/// the fields with the capture's build), against whole-file events that
/// had not had that pass; a garbled `DropLocation 0xE0, 0046…` read as no
/// location while decoding and as 0xE0 in the pass. The driver runs the
/// pass on every chunk whether or not the file is cut, so the target now
/// compares both after it (tests/fuzz/src/targets.rs).
#[test]
fn pktmon_chunked_and_whole_decodes_agree_after_the_drivers_pass() {
    let parts: &[&[u8]] = &[
        b"[03]2F4C.3A18::2024-11-05 21:14:04.0p0469200 [Microsypeft-WindowsDirectionPktGroupId 1125899906842703, PktNumber 1, Ap\xf0earance 8, Direc, ParentId: \x0a",
        b"[00]0000.0000::2024-11-05 09:30:00.000213000 [Microsoft-Windows-PktMon] Drop: PkComponent 11, Filter 0, DropoanRse 1203 , DropLocAtion 0xE0, 0046P\x00k\x96t\x00G\x00 106: 192fferSize: 1ooRoot: 0, P.168.1.1.53 > 192.168.1.20.61544: \xcc\xc9\xc9\xce2024-11-\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xffMicrosoft-Wind3\x00.\x000\x000\x000\x0021:14:04.000469200 [Microsoft-WindowsDirectionPktGroupId 112-0000::2024-11-05 09:30:00.000G213\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01Rx , Type EtherAppearance 0er 0, ",
    ];
    targets::pktmon_text(&parts.concat());
}

/// whole_pipeline, found by libFuzzer in round 6 (crash-c3875105…, reduced
/// by hand): a garbled year (1696) put a connection's first and last events
/// further apart than i64 nanoseconds hold, and its duration overflowed (a
/// panic in a debug build, a negative duration in release). Fixed in
/// src/correlate: differences of timestamps saturate (duration, periodic
/// gaps, the who/packet time distance).
#[test]
fn timestamps_centuries_apart_give_a_positive_duration() {
    let input = "[0]0000.0B2C::1690/10/06-14:02:03.123653700 [Microsoft-Windows-TCPIP]TCP: connection 0x8921DD28 transition from ListenState to SynRcvdState, SndNxt = 0.\n\
[0]0000.0B2C::2250/10/06-14:02:03.123658700 [Microsoft-Windows-TCPIP]TCP: connection 0x8921DD28 transition from SynRcvdState to EstablishedState, SndNxt = 2428590242.\n";
    targets::whole_pipeline(input.as_bytes());
    let s = decode::decode_text(Format::NetshText, 0, 1, input).unwrap();
    let d = only_connection(s.events).duration_s().expect("a duration");
    assert!(d > 9.0e9, "saturated at ~292 years, not wrapped: {d}");
}
