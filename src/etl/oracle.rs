//! The whole-file decoder as it was before the streaming reader, kept for
//! tests only: the streaming decode must give exactly its output.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use super::container::{self, BufferInfo, HeaderKind, LogfileHeader, Record};
use super::*;
use crate::decode::LineClass;

/// Decodes a whole `.etl` file, holding every buffer and record.
pub fn decode_etl_whole(bytes: &[u8], file: FileId, opts: EtlOptions) -> EtlOutput {
    let mut out = EtlOutput::default();
    let mut diags = Diags {
        file,
        list: Vec::new(),
    };

    // 1. Walk the buffer headers in file order.
    let mut buffers: Vec<BufferInfo> = Vec::new();
    let mut offset = 0usize;
    while offset < bytes.len() {
        match container::read_buffer_header(bytes, offset) {
            Ok(b) => {
                offset += b.size;
                buffers.push(b);
            }
            Err(e) => {
                out.counts.error += 1;
                diags.push(0, LineClass::Error, format!("{e}; rest of file skipped"));
                break;
            }
        }
    }
    out.info.buffers = buffers.len() as u32;
    out.info.compressed_buffers = buffers.iter().filter(|b| b.is_compressed()).count() as u32;

    // 2. Decompress / slice every buffer (in parallel: this is the costly part).
    let payloads: Vec<Result<Cow<'_, [u8]>, String>> = buffers
        .par_iter()
        .map(|b| container::buffer_payload(bytes, b))
        .collect();
    let mut good: Vec<Cow<'_, [u8]>> = Vec::with_capacity(payloads.len());
    let mut good_info: Vec<&BufferInfo> = Vec::with_capacity(payloads.len());
    for (p, b) in payloads.into_iter().zip(&buffers) {
        match p {
            Ok(p) => {
                good.push(p);
                good_info.push(b);
            }
            Err(e) => {
                out.counts.error += 1;
                diags.push(0, LineClass::Error, format!("{e}; buffer skipped"));
            }
        }
    }

    // 3. Records of each buffer.
    let parsed: Vec<container::BufferRecords> = good
        .par_iter()
        .zip(good_info.par_iter())
        .enumerate()
        .map(|(i, (p, b))| container::parse_records(p, i as u32, b.cpu))
        .collect();

    // 4. The log-file header: first record of the header buffer.
    let mut header: Option<LogfileHeader> = None;
    for (br, b) in parsed.iter().zip(&good_info) {
        if b.buffer_type != container::BUFFER_TYPE_HEADER && b.offset != 0 {
            continue;
        }
        if let Some(r) = br.records.first()
            && r.kind == HeaderKind::System
            && r.hook == 0
        {
            header = container::parse_logfile_header(r.data(&good), r.raw_ts);
            if header.is_some() {
                break;
            }
        }
    }
    match &header {
        Some(h) => fill_info(&mut out.info, h),
        None => diags.push(
            0,
            LineClass::Error,
            "no log-file header record: timestamps are taken as FILETIME, pointer size 8"
                .to_string(),
        ),
    }
    let clock = Clock::from_header(header.as_ref());
    let default_pointer_size = header.as_ref().map(|h| h.pointer_size).unwrap_or(8);
    let build = header.as_ref().map(|h| h.provider_version);

    // 5. Per-CPU streams in SequenceNumber order, merged by timestamp.
    let mut order: Vec<usize> = (0..parsed.len()).collect();
    order.sort_by_key(|&i| (good_info[i].cpu, good_info[i].sequence, good_info[i].offset));
    let mut streams: Vec<Vec<&Record>> = Vec::new();
    let mut last_cpu = None;
    for &i in &order {
        let b = good_info[i];
        if last_cpu != Some(b.cpu) {
            streams.push(Vec::new());
            last_cpu = Some(b.cpu);
        }
        if let Some(s) = streams.last_mut() {
            s.extend(parsed[i].records.iter());
        }
        if let Some(e) = &parsed[i].error {
            out.counts.error += 1;
            diags.push(
                0,
                LineClass::Error,
                format!(
                    "buffer at file offset {:#x} (cpu {}, sequence {}): {e}; rest of buffer skipped",
                    b.offset, b.cpu, b.sequence
                ),
            );
        }
    }
    let merged = merge_streams(&streams);

    // EventMetadata records may come after the events they describe (a
    // merge appends them), so they are all read before any event.
    let mut metadata = eventmetadata::MetadataSet::default();
    for r in merged.iter().filter(|r| is_event_metadata(r)) {
        // A bad one is reported where it stands, by `decode_record`.
        let _ = metadata.add_record(r.opcode, r.data(&good));
    }

    // 6. Decode the records: independent per record, so in parallel, one
    // window at a time (the boxed events of a window are moved into
    // `out.events` before the next window is decoded, which bounds the
    // extra memory to one window); what depends on earlier records (NDIS
    // multi-event packets, Wi-Fi metadata) is resolved in record order.
    let shared: Vec<Payload<'_>> = good.iter().map(|g| Payload::new(g.clone())).collect();
    let ctx = DecodeContext {
        good: &shared,
        metadata: &metadata,
        clock,
        default_pointer_size,
        build,
        file,
        lean_packets: opts.lean_packets,
    };
    let mut ndis = ndiscap::Assembler::default();
    out.events.reserve(merged.len());
    for (w, window) in merged.chunks(ORACLE_WINDOW).enumerate() {
        let first_line = (w * ORACLE_WINDOW) as u64 + 1;
        let decoded: Vec<Decoded> = window
            .par_iter()
            .enumerate()
            .map(|(i, r)| decode_record(&ctx.view(r, first_line + i as u64), ctx.metadata))
            .collect();
        for (i, (d, r)) in decoded.into_iter().zip(window).enumerate() {
            let line = first_line + i as u64;
            let d = match d {
                Decoded::Deferred => ndis.fragment(&ctx.view(r, line)),
                d => d,
            };
            match d {
                Decoded::Event(mut ev, frame) => {
                    out.counts.parsed += 1;
                    ndis.annotate(r, &mut ev);
                    if let (true, Some(f)) = (opts.keep_frames, frame) {
                        let bytes = match f.owned {
                            Some(b) => b,
                            None => {
                                let data = r.data(&good);
                                data.get(f.offset..f.offset + f.len).unwrap_or(&[]).to_vec()
                            }
                        };
                        out.frames.push(Frame {
                            event_index: out.events.len(),
                            link_type: f.link_type,
                            original_len: f.original_len,
                            bytes,
                        });
                    }
                    out.events.push(*ev);
                }
                Decoded::Partial(ev, m) => {
                    out.counts.parsed += 1;
                    diags.push(line, LineClass::Parsed, m);
                    out.events.push(*ev);
                }
                Decoded::Skipped | Decoded::Deferred => out.counts.skipped += 1,
                Decoded::Unknown(m) => {
                    out.counts.unknown += 1;
                    diags.push(line, LineClass::Unknown, m);
                }
                Decoded::Error(m) => {
                    out.counts.error += 1;
                    diags.push(line, LineClass::Error, m);
                }
            }
        }
    }
    // Fragments of packets that were never completed were counted as
    // skipped while they waited; they are errors.
    for (line, m, records) in ndis.finish() {
        let n = records.min(out.counts.skipped);
        out.counts.skipped -= n;
        out.counts.error += n;
        diags.push(line, LineClass::Error, m);
    }
    out.records = out.counts.total();
    out.diagnostics = diags.list;
    out
}

/// Records decoded in parallel per window (as before streaming).
const ORACLE_WINDOW: usize = 1 << 16;

/// k-way merge of per-CPU record streams by raw timestamp; each stream
/// keeps its own order (ties go to the lower stream).
fn merge_streams<'a>(streams: &[Vec<&'a Record>]) -> Vec<&'a Record> {
    let total = streams.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(total);
    let mut heap: BinaryHeap<Reverse<(i64, usize, usize)>> = BinaryHeap::new();
    for (s, recs) in streams.iter().enumerate() {
        if let Some(r) = recs.first() {
            heap.push(Reverse((r.raw_ts, s, 0)));
        }
    }
    while let Some(Reverse((_, s, i))) = heap.pop() {
        let Some(stream) = streams.get(s) else {
            continue;
        };
        if let Some(r) = stream.get(i) {
            out.push(*r);
        }
        if let Some(n) = stream.get(i + 1) {
            heap.push(Reverse((n.raw_ts, s, i + 1)));
        }
    }
    out
}
