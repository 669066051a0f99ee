//! Compact JSON for segment documents, and the size bound.
//!
//! An entity is first written as a *fragment*: `{"name":…,"id":…,…}` without the keys that
//! only a standalone document needs. [`standalone_subsegment`] and [`root_segment`] prefix a
//! fragment with `type`/`trace_id`/`parent_id` without re-serializing it, so a closed child can
//! be embedded in its parent or streamed on its own at the same cost.
//!
//! [`fit`] enforces the bound: a fragment never exceeds [`FRAGMENT_BUDGET`], which leaves room
//! for the standalone prefix under [`crate::MAX_DOCUMENT_BYTES`]. Children are streamed out
//! first; then the largest metadata values, SQL text and stack traces are truncated with a
//! visible `…truncated` marker that carries the original size.

use crate::id::{EntityId, TraceId};
use crate::model::{AnnotationValue, Cause, EntityData, Exception, JsonText};
use crate::time::{write_epoch_seconds, write_u64};

/// Largest fragment: the document bound less room for the standalone prefix and frame.
pub const FRAGMENT_BUDGET: usize = crate::MAX_DOCUMENT_BYTES - 256;

/// Marker appended to truncated text.
pub const TRUNCATED_MARK: &str = "…truncated";

/// Bytes that need escaping inside a JSON string: control characters, `"` and `\\`.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// True when some byte of `word` is below 0x20, `"` or `\\` (bytes ≥ 0x80, UTF-8, never are).
#[inline]
fn word_needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Sets the high bit of every byte of `x` that is zero (exact when no byte of `x` has
    // its high bit set before the subtraction borrows into it, which the `!x` term handles).
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    let quote = zero_bytes(word ^ (ONES * b'"' as u64));
    let backslash = zero_bytes(word ^ (ONES * b'\\' as u64));
    control | quote | backslash != 0
}

/// Index of the first byte of `bytes` that needs escaping, eight bytes at a time: most
/// strings (names, keys, ids) need none and are copied in one go. The last partial word is
/// checked as the (overlapping) last word.
fn first_escape(bytes: &[u8]) -> Option<usize> {
    let find = |from: usize| {
        bytes[from..]
            .iter()
            .position(|b| NEEDS_ESCAPE[*b as usize])
            .map(|i| from + i)
    };
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        if word_needs_escape(word) {
            return find(offset);
        }
        offset += 8;
    }
    let rest = chunks.remainder();
    if rest.is_empty() {
        return None;
    }
    if bytes.len() >= 8 {
        // The last eight bytes, overlapping the words already checked.
        let tail = &bytes[bytes.len() - 8..];
        if !word_needs_escape(u64::from_le_bytes(tail.try_into().unwrap_or([0; 8]))) {
            return None;
        }
    }
    find(offset)
}

/// Appends `bytes` to `out`. Runs of 4 to 32 bytes (the usual name, key, id or small value)
/// are copied with two overlapping loads and stores instead of a call to `memcpy`, whose
/// dispatch costs more than the copy at these sizes.
#[inline]
pub(crate) fn append(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len();
    if !(4..=32).contains(&n) {
        out.extend_from_slice(bytes);
        return;
    }
    out.reserve(n);
    // SAFETY: `reserve(n)` leaves room for `n` more bytes after `len`, and 4 <= n <= 32.
    unsafe {
        let len = out.len();
        copy_short(bytes, out.as_mut_ptr().add(len));
        out.set_len(len + n);
    }
}

/// Appends `"bytes"` (a string literal that needs no escaping) with one capacity check.
#[inline(always)]
fn append_quoted(out: &mut Vec<u8>, bytes: &[u8]) {
    append_framed(out, b"\"", bytes, b"\"");
}

/// Appends `"key":` (after a comma if `comma`) for a key that needs no escaping, with one
/// capacity check.
#[inline(always)]
fn append_key(out: &mut Vec<u8>, comma: bool, key: &[u8]) {
    let open: &[u8] = if comma { b",\"" } else { b"\"" };
    append_framed(out, open, key, b"\":");
}

/// Appends `open`, `bytes` and `close` (each frame at most 2 bytes) with one capacity check;
/// `bytes` of 4 to 32 bytes are copied without a `memcpy` call.
#[inline(always)]
fn append_framed(out: &mut Vec<u8>, open: &[u8], bytes: &[u8], close: &[u8]) {
    let n = bytes.len();
    debug_assert!(open.len() <= 2 && close.len() <= 2);
    out.reserve(open.len() + n + close.len());
    if !(4..=32).contains(&n) {
        out.extend_from_slice(open);
        out.extend_from_slice(bytes);
        out.extend_from_slice(close);
        return;
    }
    // SAFETY: `reserve` left room for the frames and the `n` bytes (4 <= n <= 32) after
    // `len`; every write below is inside that room and `set_len` covers exactly what was
    // written.
    unsafe {
        let len = out.len();
        let mut dst = out.as_mut_ptr().add(len);
        for b in open {
            *dst = *b;
            dst = dst.add(1);
        }
        copy_short(bytes, dst);
        dst = dst.add(n);
        for b in close {
            *dst = *b;
            dst = dst.add(1);
        }
        out.set_len(len + open.len() + n + close.len());
    }
}

/// Copies `src` (4 to 32 bytes) to `dst` with two overlapping loads and stores.
///
/// # Safety
/// `src.len()` is within 4..=32 and `dst` is valid for `src.len()` bytes of writes.
#[inline]
unsafe fn copy_short(src: &[u8], dst: *mut u8) {
    let n = src.len();
    debug_assert!((4..=32).contains(&n));
    // Every load reads inside `src` (n >= 16, 8 or 4 for the pair of 16-, 8- or 4-byte
    // words) and every store writes inside `dst..dst + n` (the second ends exactly there);
    // unaligned accesses of plain bytes.
    let src = src.as_ptr();
    if n >= 16 {
        let head = src.cast::<u128>().read_unaligned();
        let tail = src.add(n - 16).cast::<u128>().read_unaligned();
        dst.cast::<u128>().write_unaligned(head);
        dst.add(n - 16).cast::<u128>().write_unaligned(tail);
    } else if n >= 8 {
        let head = src.cast::<u64>().read_unaligned();
        let tail = src.add(n - 8).cast::<u64>().read_unaligned();
        dst.cast::<u64>().write_unaligned(head);
        dst.add(n - 8).cast::<u64>().write_unaligned(tail);
    } else {
        let head = src.cast::<u32>().read_unaligned();
        let tail = src.add(n - 4).cast::<u32>().read_unaligned();
        dst.cast::<u32>().write_unaligned(head);
        dst.add(n - 4).cast::<u32>().write_unaligned(tail);
    }
}

/// True when a string of at most 32 bytes needs escaping, checked a word at a time (the
/// last word overlapping the others). Below 8 bytes the word is put together from
/// overlapping pieces of the string (a byte checked twice changes nothing): keys and values
/// this short are common, and a loop over their bytes cost more than the rest of the write.
#[inline(always)]
fn short_needs_escape(bytes: &[u8]) -> bool {
    let n = bytes.len();
    if n < 8 {
        let word = match n {
            0 => return false,
            1..=3 => {
                let piece = u32::from_le_bytes([bytes[0], bytes[n / 2], bytes[n - 1], bytes[0]]);
                u64::from(piece) * 0x1_0000_0001
            }
            _ => {
                let head = u32::from_le_bytes(bytes[..4].try_into().unwrap_or([0; 4]));
                let tail = u32::from_le_bytes(bytes[n - 4..].try_into().unwrap_or([0; 4]));
                u64::from(head) | u64::from(tail) << 32
            }
        };
        return word_needs_escape(word);
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
    let last = n - 8;
    let mut any = word_needs_escape(word(0)) | word_needs_escape(word(last));
    if n > 16 {
        any |= word_needs_escape(word(8)) | word_needs_escape(word(16.min(last)));
    }
    any
}

/// Appends `s` as a JSON string literal. Runs of plain bytes are copied in one go.
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if bytes.len() <= 32 && !short_needs_escape(bytes) {
        // The usual name, key or value: nothing to escape.
        append_quoted(out, bytes);
    } else {
        write_escaped_str(out, bytes);
    }
}

/// [`write_str`] for text that is long or needs escaping (kept out of line: the short path
/// is inlined at every call).
#[inline(never)]
fn write_escaped_str(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut rest = bytes;
    while let Some(i) = first_escape(rest) {
        out.extend_from_slice(&rest[..i]);
        let b = rest[i];
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(b"0123456789abcdef"[(b >> 4) as usize]);
                out.push(b"0123456789abcdef"[(b & 0xf) as usize]);
            }
        }
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// Writes objects key by key, managing commas.
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    fn open(out: &'a mut Vec<u8>) -> Obj<'a> {
        out.push(b'{');
        Obj { out, first: true }
    }

    /// Continues an object whose opening (and at least one field) is already in `out`.
    fn resume(out: &'a mut Vec<u8>) -> Obj<'a> {
        Obj { out, first: true }
    }

    /// A literal key: written as is (literal keys need no escaping).
    fn key(&mut self, k: &'static str) -> &mut Vec<u8> {
        let comma = !std::mem::replace(&mut self.first, false);
        append_key(self.out, comma, k.as_bytes());
        self.out
    }

    /// A key from data (annotation, metadata, service keys): escaped.
    fn dyn_key(&mut self, k: &str) -> &mut Vec<u8> {
        let comma = !std::mem::replace(&mut self.first, false);
        let bytes = k.as_bytes();
        if bytes.len() <= 32 && !short_needs_escape(bytes) {
            append_key(self.out, comma, bytes);
        } else {
            if comma {
                self.out.push(b',');
            }
            write_escaped_str(self.out, bytes);
            self.out.push(b':');
        }
        self.out
    }

    fn str(&mut self, k: &'static str, v: &str) {
        let out = self.key(k);
        write_str(out, v);
    }

    fn opt_str(&mut self, k: &'static str, v: &Option<String>) {
        if let Some(v) = v {
            self.str(k, v);
        }
    }

    fn raw(&mut self, k: &'static str, v: &[u8]) {
        self.key(k).extend_from_slice(v);
    }

    fn id(&mut self, k: &'static str, id: EntityId) {
        let out = self.key(k);
        out.push(b'"');
        out.extend_from_slice(&id.to_hex());
        out.push(b'"');
    }

    fn uint(&mut self, k: &'static str, v: u64) {
        let out = self.key(k);
        write_u64(out, v);
    }

    fn flag(&mut self, k: &'static str, v: bool) {
        if v {
            self.raw(k, b"true");
        }
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        // serde_json writes the shortest round-tripping form.
        if let Ok(s) = serde_json::to_string(&v) {
            out.extend_from_slice(s.as_bytes());
            return;
        }
    }
    out.extend_from_slice(b"null");
}

fn write_annotation(out: &mut Vec<u8>, v: &AnnotationValue) {
    match v {
        AnnotationValue::Str(s) => write_str(out, s),
        AnnotationValue::Int(i) => {
            if *i < 0 {
                out.push(b'-');
            }
            write_u64(out, i.unsigned_abs());
        }
        AnnotationValue::Float(f) => write_f64(out, *f),
        AnnotationValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
    }
}

fn write_exception(out: &mut Vec<u8>, e: &Exception) {
    let mut o = Obj::open(out);
    o.id("id", e.id);
    o.opt_str("message", &e.message);
    o.opt_str("type", &e.type_name);
    o.flag("remote", e.remote);
    if e.truncated > 0 {
        o.uint("truncated", e.truncated as u64);
    }
    if e.skipped > 0 {
        o.uint("skipped", e.skipped as u64);
    }
    if let Some(c) = e.cause {
        o.id("cause", c);
    }
    if !e.stack.is_empty() {
        let out = o.key("stack");
        out.push(b'[');
        for (i, f) in e.stack.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let mut fo = Obj::open(out);
            fo.opt_str("path", &f.path);
            if let Some(line) = f.line {
                fo.uint("line", line as u64);
            }
            fo.opt_str("label", &f.label);
            fo.close();
        }
        out.push(b']');
    }
    o.close();
}

fn write_cause(out: &mut Vec<u8>, cause: &Cause) {
    match cause {
        Cause::ExceptionRef(id) => write_str(out, id),
        Cause::Details {
            working_directory,
            paths,
            exceptions,
        } => {
            let mut o = Obj::open(out);
            o.opt_str("working_directory", working_directory);
            if !paths.is_empty() {
                let out = o.key("paths");
                out.push(b'[');
                for (i, p) in paths.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(out, p);
                }
                out.push(b']');
            }
            let out = o.key("exceptions");
            out.push(b'[');
            for (i, e) in exceptions.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_exception(out, e);
            }
            out.push(b']');
            o.close();
        }
    }
}

/// Writes one entity as a fragment: its own fields plus `children` (already fragments)
/// embedded under `subsegments`. `in_progress` is written when there is no end time.
pub fn write_fragment(out: &mut Vec<u8>, id: EntityId, data: &EntityData, children: &[Vec<u8>]) {
    write_fields(Obj::open(out), id, data, children)
}

/// Writes the entity's fields after a document prefix already in `out` (one that ends with
/// `,`, as [`write_standalone_prefix`] and [`write_root_prefix`] leave it).
pub fn write_after_prefix(
    out: &mut Vec<u8>,
    id: EntityId,
    data: &EntityData,
    children: &[Vec<u8>],
) {
    write_fields(Obj::resume(out), id, data, children)
}

/// Writes `,"id":…,"start_time":…,"end_time":…` (or `"in_progress":true`) after the name.
/// Every part has a fixed length for times between 2001 and 2286, so the usual case is laid
/// out at fixed offsets in a stack buffer and appended in one go.
fn write_id_and_times(o: &mut Obj<'_>, id: EntityId, data: &EntityData) {
    const ID: &[u8; 7] = b",\"id\":\"";
    const START: &[u8; 15] = b"\",\"start_time\":";
    const END: &[u8; 12] = b",\"end_time\":";
    const IN_PROGRESS: &[u8; 19] = b",\"in_progress\":true";
    let end = data.end_micros.map(|end| end.max(data.start_micros));
    let start_text = crate::time::ten_digit_epoch_seconds(data.start_micros);
    // None: in progress; Some(None): an end time without a fixed-width form.
    let end_text = end.map(crate::time::ten_digit_epoch_seconds);
    if let (Some(start_text), None | Some(Some(_))) = (start_text, end_text) {
        let mut buf = [0u8; 7 + 16 + 15 + 17 + 12 + 17];
        buf[..7].copy_from_slice(ID);
        buf[7..23].copy_from_slice(&id.to_hex());
        buf[23..38].copy_from_slice(START);
        buf[38..55].copy_from_slice(&start_text);
        let len = match end_text.flatten() {
            Some(end_text) => {
                buf[55..67].copy_from_slice(END);
                buf[67..84].copy_from_slice(&end_text);
                84
            }
            None => {
                buf[55..74].copy_from_slice(IN_PROGRESS);
                74
            }
        };
        o.first = false;
        o.out.extend_from_slice(&buf[..len]);
        return;
    }
    o.id("id", id);
    write_epoch_seconds(o.key("start_time"), data.start_micros);
    match end {
        Some(end) => write_epoch_seconds(o.key("end_time"), end),
        None => o.raw("in_progress", b"true"),
    }
}

fn write_fields(mut o: Obj<'_>, id: EntityId, data: &EntityData, children: &[Vec<u8>]) {
    o.str("name", &data.name);
    write_id_and_times(&mut o, id, data);
    if let Some(ns) = data.namespace {
        o.str("namespace", ns.as_str());
    }
    o.opt_str("origin", &data.origin);
    o.opt_str("user", &data.user);
    o.opt_str("resource_arn", &data.resource_arn);
    if !data.service.is_empty() {
        let out = o.key("service");
        let mut so = Obj::open(out);
        for (k, v) in &data.service {
            write_str(so.dyn_key(k), v);
        }
        so.close();
    }
    if data.http_request.is_some() || data.http_response.is_some() {
        let out = o.key("http");
        let mut ho = Obj::open(out);
        if let Some(r) = &data.http_request {
            let out = ho.key("request");
            let mut ro = Obj::open(out);
            ro.opt_str("method", &r.method);
            ro.opt_str("url", &r.url);
            ro.opt_str("user_agent", &r.user_agent);
            ro.opt_str("client_ip", &r.client_ip);
            ro.flag("x_forwarded_for", r.x_forwarded_for);
            ro.flag("traced", r.traced);
            ro.close();
        }
        if let Some(r) = &data.http_response {
            let out = ho.key("response");
            let mut ro = Obj::open(out);
            if let Some(s) = r.status {
                ro.uint("status", s as u64);
            }
            if let Some(len) = r.content_length {
                let out = ro.key("content_length");
                if len < 0 {
                    out.push(b'-');
                }
                write_u64(out, len.unsigned_abs());
            }
            ro.close();
        }
        ho.close();
    }
    match &data.xray {
        // A user's own `aws.xray` takes the place of the recorder's.
        Some(xray) if !data.aws.contains_key("xray") => {
            let out = o.key("aws");
            if data.aws.is_empty() {
                out.push(b'{');
            } else {
                // The user's members, then `xray`: `{…}` opened again after its last member.
                let text = serde_json::to_vec(&data.aws).unwrap_or_else(|_| b"{}".to_vec());
                out.extend_from_slice(&text[..text.len() - 1]);
                out.push(b',');
            }
            out.extend_from_slice(b"\"xray\":{");
            out.extend_from_slice(xray.sdk_members.as_bytes());
            if let Some(rule) = &xray.sampling_rule_name {
                out.extend_from_slice(b",\"sampling_rule_name\":");
                write_str(out, rule);
            }
            out.extend_from_slice(b"}}");
        }
        _ if !data.aws.is_empty() => {
            let text = serde_json::to_vec(&data.aws).unwrap_or_else(|_| b"{}".to_vec());
            o.raw("aws", &text);
        }
        _ => {}
    }
    if let Some(sql) = &data.sql {
        let out = o.key("sql");
        let mut so = Obj::open(out);
        so.opt_str("url", &sql.url);
        so.opt_str("connection_string", &sql.connection_string);
        so.opt_str("sanitized_query", &sql.sanitized_query);
        so.opt_str("database_type", &sql.database_type);
        so.opt_str("database_version", &sql.database_version);
        so.opt_str("driver_version", &sql.driver_version);
        so.opt_str("user", &sql.user);
        so.opt_str("preparation", &sql.preparation);
        so.close();
    }
    o.flag("error", data.error);
    o.flag("throttle", data.throttle);
    o.flag("fault", data.fault);
    if let Some(cause) = &data.cause {
        write_cause(o.key("cause"), cause);
    }
    if !data.annotations.is_empty() {
        let out = o.key("annotations");
        let mut ao = Obj::open(out);
        for (k, v) in &data.annotations {
            write_annotation(ao.dyn_key(k), v);
        }
        ao.close();
    }
    if !data.metadata.is_empty() {
        let out = o.key("metadata");
        let mut mo = Obj::open(out);
        // `all`: every entry is in this namespace (no filtering needed).
        let mut write_namespace = |ns: &str, all: bool| {
            let mut no = Obj::open(mo.dyn_key(ns));
            for e in data.metadata.iter().filter(|e| all || e.namespace == ns) {
                append(no.dyn_key(&e.key), e.value.as_str().as_bytes());
            }
            no.close();
        };
        // One namespace (the usual case) needs no grouping.
        let first = &data.metadata[0].namespace;
        if data.metadata[1..].iter().all(|e| e.namespace == *first) {
            write_namespace(first, true);
        } else {
            for ns in data.metadata_namespaces() {
                write_namespace(ns, false);
            }
        }
        mo.close();
    }
    if !data.precursor_ids.is_empty() {
        let out = o.key("precursor_ids");
        out.push(b'[');
        for (i, id) in data.precursor_ids.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(&id.to_hex());
            out.push(b'"');
        }
        out.push(b']');
    }
    if !children.is_empty() {
        let out = o.key("subsegments");
        out.push(b'[');
        for (i, c) in children.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(c);
        }
        out.push(b']');
    }
    o.close();
}

/// Writes the frame header and the opening of a standalone subsegment document:
/// `{"type":"subsegment","trace_id":…,"parent_id":…,` (fields follow).
pub fn write_standalone_prefix(out: &mut Vec<u8>, trace_id: TraceId, parent_id: EntityId) {
    out.extend_from_slice(crate::DAEMON_HEADER);
    out.extend_from_slice(b"{\"type\":\"subsegment\",\"trace_id\":\"");
    out.extend_from_slice(&trace_id.to_bytes());
    out.extend_from_slice(b"\",\"parent_id\":\"");
    out.extend_from_slice(&parent_id.to_hex());
    out.extend_from_slice(b"\",");
}

/// Writes the frame header and the opening of a segment document:
/// `{"trace_id":…,["parent_id":…,]` (fields follow).
pub fn write_root_prefix(out: &mut Vec<u8>, trace_id: TraceId, parent_id: Option<EntityId>) {
    out.extend_from_slice(crate::DAEMON_HEADER);
    out.extend_from_slice(b"{\"trace_id\":\"");
    out.extend_from_slice(&trace_id.to_bytes());
    out.extend_from_slice(b"\",");
    if let Some(p) = parent_id {
        out.extend_from_slice(b"\"parent_id\":\"");
        out.extend_from_slice(&p.to_hex());
        out.extend_from_slice(b"\",");
    }
}

/// A complete datagram for a subsegment fragment sent on its own.
pub fn standalone_subsegment(trace_id: TraceId, parent_id: EntityId, fragment: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fragment.len() + 128);
    write_standalone_prefix(&mut out, trace_id, parent_id);
    out.extend_from_slice(&fragment[1..]);
    out
}

/// A complete datagram for a segment fragment.
pub fn root_segment(trace_id: TraceId, parent_id: Option<EntityId>, fragment: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fragment.len() + 128);
    write_root_prefix(&mut out, trace_id, parent_id);
    out.extend_from_slice(&fragment[1..]);
    out
}

/// The document part of a datagram (the bytes after the frame header).
pub fn document_of(datagram: &[u8]) -> &[u8] {
    match datagram.iter().position(|b| *b == b'\n') {
        Some(i) => &datagram[i + 1..],
        None => datagram,
    }
}

/// What [`fit`] had to do to make an entity fit the bound.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FitReport {
    /// Children taken out of the fragment; the caller sends each on its own.
    pub streamed: Vec<Vec<u8>>,
    /// Values truncated (0 when the entity fit as it was).
    pub truncations: usize,
    /// Times the entity was written out (1 when it fit as it was).
    pub serializations: usize,
}

/// A replacement for a value that was too big: a prefix of its JSON text and the marker.
fn truncated_marker(original: &str, keep_bytes: usize) -> JsonText {
    let prefix = crate::sanitize::truncate_bytes(original, keep_bytes);
    JsonText::from_value(&serde_json::Value::String(format!(
        "{prefix}{TRUNCATED_MARK} (original {} bytes)",
        original.len()
    )))
}

/// Whether `v` is a marker left by [`truncated_marker`]. Checks the ends first: this runs for
/// every large value on every round of [`fit`], and a full scan of each would make ending an
/// entity with many large values quadratic in their bytes.
fn is_marker(v: &JsonText) -> bool {
    let s = v.as_str();
    s.starts_with('"') && s.ends_with(" bytes)\"") && s.contains(TRUNCATED_MARK)
}

/// The largest thing in `data` that can still be made smaller.
enum Shrinkable {
    Metadata(usize),
    Namespace(String),
    Stack(usize),
    SqlQuery,
    Annotations,
}

fn largest_shrinkable(data: &EntityData) -> Option<Shrinkable> {
    let mut best: Option<(usize, Shrinkable)> = None;
    let mut consider = |size: usize, s: Shrinkable| {
        if best.as_ref().is_none_or(|(b, _)| size > *b) {
            best = Some((size, s));
        }
    };
    for (i, e) in data.metadata.iter().enumerate() {
        if e.value.as_str().len() > 512 && !is_marker(&e.value) {
            consider(e.value.as_str().len(), Shrinkable::Metadata(i));
        }
    }
    for ns in data.metadata_namespaces() {
        let entries = || data.metadata.iter().filter(|e| e.namespace == ns);
        let total: usize = entries()
            .map(|e| e.key.len() + e.value.as_str().len())
            .sum();
        // A whole namespace goes only once none of its values can be shrunk alone.
        let has_big_value = entries().any(|e| e.value.as_str().len() > 512 && !is_marker(&e.value));
        if !has_big_value && entries().count() > 1 && total > 512 {
            consider(total, Shrinkable::Namespace(ns.to_string()));
        }
    }
    if let Some(Cause::Details { exceptions, .. }) = &data.cause {
        for (ei, e) in exceptions.iter().enumerate() {
            if !e.stack.is_empty() {
                let size: usize = e
                    .stack
                    .iter()
                    .map(|f| {
                        24 + f.path.as_deref().map_or(0, str::len)
                            + f.label.as_deref().map_or(0, str::len)
                    })
                    .sum();
                consider(size, Shrinkable::Stack(ei));
            }
        }
    }
    if let Some(q) = data.sql.as_ref().and_then(|s| s.sanitized_query.as_ref()) {
        if q.len() > 512 && !q.contains(TRUNCATED_MARK) {
            consider(q.len(), Shrinkable::SqlQuery);
        }
    }
    // Only when cutting them drops something: annotations already within their quarter of
    // the budget would be picked again and again while something that cannot be shrunk (a
    // large `aws` or `service` value) keeps the entity too big, and `end()` never returned.
    let size: usize = data
        .annotations
        .iter()
        .map(|(k, v)| annotation_cost(k, v))
        .sum();
    if size > FRAGMENT_BUDGET / 4 {
        consider(size, Shrinkable::Annotations);
    }
    best.map(|(_, s)| s)
}

/// About how many bytes an annotation takes in the document (key, value, quotes, separators).
fn annotation_cost(key: &str, value: &AnnotationValue) -> usize {
    key.len()
        + 4
        + match value {
            AnnotationValue::Str(s) => s.len() + 2,
            _ => 24,
        }
}

/// Makes `what` smaller. Returns how many bytes the serialized entity lost when that is
/// known exactly (a metadata value is written as its own text), else None.
fn shrink(data: &mut EntityData, what: Shrinkable) -> Option<usize> {
    match what {
        Shrinkable::Metadata(i) => {
            let v = &mut data.metadata[i].value;
            let before = v.as_str().len();
            *v = truncated_marker(v.as_str(), 256);
            return before.checked_sub(v.as_str().len());
        }
        Shrinkable::Namespace(ns) => {
            let in_ns = |e: &crate::model::MetadataEntry| e.namespace == ns.as_str();
            let original: usize = data
                .metadata
                .iter()
                .filter(|e| in_ns(e))
                .map(|e| e.key.len() + e.value.as_str().len() + 4)
                .sum();
            let count = data.metadata.iter().filter(|e| in_ns(e)).count();
            data.metadata.retain(|e| !in_ns(e));
            data.set_metadata(
                &ns,
                TRUNCATED_MARK,
                JsonText::from_value(&serde_json::Value::String(format!(
                    "{count} keys (original {original} bytes)"
                ))),
            );
        }
        Shrinkable::Stack(ei) => {
            if let Some(Cause::Details { exceptions, .. }) = &mut data.cause {
                let e = &mut exceptions[ei];
                let keep = e.stack.len() / 2;
                e.truncated += (e.stack.len() - keep) as u32;
                e.stack.truncate(keep);
            }
        }
        Shrinkable::SqlQuery => {
            if let Some(q) = data.sql.as_mut().and_then(|s| s.sanitized_query.as_mut()) {
                let original = q.len();
                let prefix = crate::sanitize::truncate_bytes(q, 256).to_string();
                *q = format!("{prefix}{TRUNCATED_MARK} (original {original} bytes)");
            }
        }
        Shrinkable::Annotations => {
            // Keep the first annotations that fit in a quarter of the budget.
            let mut used = 0;
            let original = data.annotations.len();
            data.annotations.retain(|(k, v)| {
                used += annotation_cost(k, v);
                used <= FRAGMENT_BUDGET / 4
            });
            let dropped = original - data.annotations.len();
            data.set_metadata(
                "oxray",
                "annotations",
                JsonText::from_value(&serde_json::Value::String(format!(
                    "{dropped} annotations{TRUNCATED_MARK}"
                ))),
            );
        }
    }
    None
}

/// Serializes `data` with `children` so the fragment is at most [`FRAGMENT_BUDGET`] bytes.
/// Streams children out (largest first) before truncating anything of the entity's own.
///
/// `out` may already hold a document prefix ([`write_standalone_prefix`] /
/// [`write_root_prefix`]); the fields are then written after it and `out` becomes a complete
/// datagram. With an empty `out` the result is a bare fragment. Streamed children are moved
/// from `children` to the report; those left were copied into `out`.
pub fn fit(
    id: EntityId,
    data: &mut EntityData,
    children: &mut Vec<Vec<u8>>,
    out: &mut Vec<u8>,
) -> FitReport {
    let prefix_len = out.len();
    // Room for the children and the usual fields up front: growing the buffer while copying
    // children in reallocates and copies it several times over in nested chains.
    if !children.is_empty() {
        let children_len: usize = children.iter().map(|c| c.len() + 1).sum();
        out.reserve(children_len + 512);
    }
    let serializations = std::cell::Cell::new(0);
    let write = |out: &mut Vec<u8>, data: &EntityData, children: &[Vec<u8>]| {
        serializations.set(serializations.get() + 1);
        out.truncate(prefix_len);
        if prefix_len == 0 {
            write_fragment(out, id, data, children);
        } else {
            write_after_prefix(out, id, data, children);
        }
        out.len() - prefix_len
    };
    let mut report = FitReport::default();
    let mut size = write(out, data, children);
    if size <= FRAGMENT_BUDGET {
        report.serializations = serializations.get();
        return report;
    }
    // 1. Stream the largest children until the rest fits.
    children.sort_by_key(|c| std::cmp::Reverse(c.len()));
    while size > FRAGMENT_BUDGET && !children.is_empty() {
        let child = children.remove(0);
        size -= child.len() + 1;
        report.streamed.push(child);
    }
    size = write(out, data, children);
    // 2. Shrink the entity's own largest values. A cut metadata value changes the size by a
    //    known amount, so many cuts need one serialization, not one each (which made ending an
    //    entity with hundreds of oversized values quadratic).
    let mut estimate = size;
    let mut written = true; // `out` holds `data` as it is now
    while estimate > FRAGMENT_BUDGET {
        let Some(what) = largest_shrinkable(data) else {
            break;
        };
        report.truncations += 1;
        match shrink(data, what) {
            Some(saved) => {
                estimate = estimate.saturating_sub(saved);
                written = false;
            }
            None => {
                estimate = write(out, data, children);
                written = true;
            }
        }
        if estimate <= FRAGMENT_BUDGET && !written {
            // The cuts should be enough: write, and go on if they were not.
            estimate = write(out, data, children);
            written = true;
        }
    }
    if !written {
        estimate = write(out, data, children);
    }
    size = estimate;
    // 3. Last resort: keep identity, timing, flags and a note; never drop the entity.
    if size > FRAGMENT_BUDGET {
        let mut minimal = EntityData {
            name: data.name.clone(),
            start_micros: data.start_micros,
            end_micros: data.end_micros,
            namespace: data.namespace,
            error: data.error,
            throttle: data.throttle,
            fault: data.fault,
            ..EntityData::default()
        };
        minimal.set_metadata(
            "oxray",
            "entity",
            JsonText::from_value(&serde_json::Value::String(format!(
                "fields{TRUNCATED_MARK} (original {size} bytes)"
            ))),
        );
        *data = minimal;
        report.truncations += 1;
        write(out, data, children);
    }
    report.serializations = serializations.get();
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::XrayInfo;

    #[test]
    fn append_copies_every_length() {
        let source: Vec<u8> = (0u8..80).collect();
        for len in 0..=40 {
            for prefix in [0usize, 3, 15] {
                let mut out = vec![b'x'; prefix];
                append(&mut out, &source[..len]);
                assert_eq!(out.len(), prefix + len);
                assert_eq!(&out[prefix..], &source[..len], "len {len}, prefix {prefix}");
                assert!(out[..prefix].iter().all(|b| *b == b'x'));
            }
        }
    }

    #[test]
    fn short_strings_escape_at_every_length_and_position() {
        for len in 1..=40 {
            for at in 0..len {
                for special in [b'"', b'\\', b'\n', 0x01u8, 0x1f] {
                    let mut text = vec![b'a'; len];
                    text[at] = special;
                    let text = String::from_utf8(text).unwrap();
                    let mut out = Vec::new();
                    write_str(&mut out, &text);
                    let back: String = serde_json::from_slice(&out).unwrap();
                    assert_eq!(back, text, "len {len}, at {at}");
                }
            }
            // Bytes next to the escaped ones (space, `!`, `#`, `[`, `]`, DEL) pass unchanged.
            for neighbour in [b' ', b'!', b'#', b'[', b']', 0x7f] {
                for at in 0..len {
                    let mut plain = vec![b'b'; len];
                    plain[at] = neighbour;
                    let plain = String::from_utf8(plain).unwrap();
                    let mut out = Vec::new();
                    write_str(&mut out, &plain);
                    assert_eq!(
                        out,
                        format!("\"{plain}\"").into_bytes(),
                        "len {len}, at {at}"
                    );
                }
            }
        }
    }

    #[test]
    fn recorder_xray_info_is_written_inside_aws_beside_the_users_members() {
        let xray = XrayInfo {
            sdk_members: "\"sdk\":\"oxray\",\"sdk_version\":\"0.1.0\"".into(),
            sampling_rule_name: Some("rule \"q\"".into()),
        };
        let aws_of = |aws: serde_json::Value| {
            let data = EntityData {
                name: "n".into(),
                start_micros: 1_480_615_200_010_000,
                aws: aws.as_object().cloned().unwrap_or_default(),
                xray: Some(xray.clone()),
                ..EntityData::default()
            };
            let mut out = Vec::new();
            write_fragment(&mut out, EntityId::generate(), &data, &[]);
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            v["aws"].clone()
        };
        let expected_xray = serde_json::json!({
            "sdk": "oxray", "sdk_version": "0.1.0", "sampling_rule_name": "rule \"q\""
        });
        assert_eq!(
            aws_of(serde_json::json!({})),
            serde_json::json!({ "xray": expected_xray })
        );
        assert_eq!(
            aws_of(serde_json::json!({ "operation": "GetItem", "region": "eu-west-1" })),
            serde_json::json!({ "operation": "GetItem", "region": "eu-west-1", "xray": expected_xray })
        );
        // The user's own `xray` wins, as when it replaced the recorder's map.
        assert_eq!(
            aws_of(serde_json::json!({ "xray": { "custom": 1 } })),
            serde_json::json!({ "xray": { "custom": 1 } })
        );
    }

    #[test]
    fn id_and_times_at_fixed_offsets_match_the_general_writer() {
        let id = EntityId::generate();
        for (start, end) in [
            (1_480_615_200_010_000u64, Some(1_480_615_200_020_000u64)),
            (1_480_615_200_010_000, None),
            (1_480_615_200_010_000, Some(1_480_615_200_000_000)), // end before start
            (5_000_007, Some(6_000_000)),                         // before 2001
            (1_480_615_200_010_000, Some(10_000_000_000_000_000)), // after 2286
        ] {
            let data = EntityData {
                name: "n".into(),
                start_micros: start,
                end_micros: end,
                ..EntityData::default()
            };
            let mut out = Vec::new();
            write_fragment(&mut out, id, &data, &[]);
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            let seconds = |m: u64| format!("{}.{:06}", m / 1_000_000, m % 1_000_000);
            let text = String::from_utf8(out).unwrap();
            assert_eq!(v["id"], id.to_string());
            assert!(
                text.contains(&format!("\"start_time\":{},", seconds(start))),
                "{text}"
            );
            match end {
                Some(end) => {
                    let end = seconds(end.max(start));
                    assert!(text.contains(&format!("\"end_time\":{end}")), "{text}");
                    assert!(v.get("in_progress").is_none());
                }
                None => assert_eq!(v["in_progress"], true),
            }
        }
    }

    #[test]
    fn many_oversized_values_cost_a_few_serializations_not_one_each() {
        let mut data = EntityData {
            name: "many".into(),
            start_micros: 1,
            end_micros: Some(2),
            ..Default::default()
        };
        let value = format!("\"{}\"", "v".repeat(40_000));
        // Cut to their ~300-byte markers, 150 values fit the bound together.
        for i in 0..150 {
            data.set_metadata("default", &format!("k{i}"), JsonText(value.clone()));
        }
        let mut out = Vec::new();
        let report = fit(EntityId::generate(), &mut data, &mut Vec::new(), &mut out);
        assert!(out.len() <= FRAGMENT_BUDGET, "{} bytes", out.len());
        assert_eq!(report.truncations, 150, "{report:?}");
        // Cutting each value changes the size by a known amount: the entity is written once
        // as it was, once after the cuts, and perhaps once more to confirm.
        assert!(
            report.serializations <= 4,
            "{} serializations",
            report.serializations
        );
        let parsed: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        let values = parsed["metadata"]["default"].as_object().unwrap();
        assert_eq!(values.len(), 150);
        assert!(values
            .values()
            .all(|v| v.as_str().unwrap().contains(TRUNCATED_MARK)));
    }

    #[test]
    fn escapes_round_trip_at_every_position() {
        // Every ASCII byte (and a multi-byte character) at every offset of strings long enough
        // to cross the eight-byte scanning chunks.
        let specials = (0u8..0x80)
            .map(|b| (b as char).to_string())
            .chain(["é€".to_string()]);
        for special in specials {
            for len in 0..20 {
                for at in 0..=len {
                    let text: String = "x".repeat(at) + &special + &"y".repeat(len - at);
                    let mut out = Vec::new();
                    write_str(&mut out, &text);
                    let back: String = serde_json::from_slice(&out).expect("valid JSON string");
                    assert_eq!(back, text);
                    assert!(
                        out.iter().all(|b| *b >= 0x20),
                        "raw control byte in {out:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn escapes_strings() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"b\\\\c\\nd\\u0001é\""
        );
    }

    #[test]
    fn an_unshrinkable_field_beside_small_annotations_ends_instead_of_looping() {
        // Found by the model fuzz target: a 100 KB `aws` value (which fit cannot cut) and a few
        // KB of annotations made fit pick the annotations forever; end() never returned.
        let mut data = EntityData {
            name: "big".into(),
            start_micros: 1,
            end_micros: Some(2),
            ..Default::default()
        };
        data.aws.insert("blob".into(), "a".repeat(100_000).into());
        for i in 0..10 {
            data.set_annotation(&format!("k{i}"), AnnotationValue::Str("v".repeat(500)));
        }
        let mut out = Vec::new();
        fit(EntityId(1), &mut data, &mut Vec::new(), &mut out);
        assert!(out.len() <= FRAGMENT_BUDGET, "{}", out.len());
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["name"], "big");
    }

    #[test]
    fn huge_metadata_is_truncated_with_marker() {
        let mut data = EntityData {
            name: "big".into(),
            start_micros: 1,
            end_micros: Some(2),
            ..Default::default()
        };
        let big = format!("\"{}\"", "x".repeat(200_000));
        data.set_metadata("default", "blob", JsonText(big));
        let mut out = Vec::new();
        let report = fit(EntityId(1), &mut data, &mut Vec::new(), &mut out);
        assert!(out.len() <= FRAGMENT_BUDGET);
        assert_eq!(report.truncations, 1);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let s = v["metadata"]["default"]["blob"].as_str().unwrap();
        assert!(s.contains("…truncated (original 200002 bytes)"));
    }
}
