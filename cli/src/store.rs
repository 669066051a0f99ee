//! The JSONL file: one record per line, appended as datagrams arrive, and read back by
//! `oxray show` and `oxray map`.
//!
//! Record shapes (every record has `received`, epoch seconds):
//! - accepted document: `{"received","from","status":"ok"|"warning","trace_id","id","bytes",
//!   "warnings"?:[text],"document":{…}}` — `document` is the received JSON, byte for byte except
//!   that raw newlines (whitespace in valid JSON) become spaces so the record stays on one line;
//! - invalid datagram: `{"received","from","status":"invalid","kind","reason","bytes",
//!   "trace_id"?,"id"?,"document"?|"raw"?|"raw_base64"?}` — the JSON document when it parsed, else
//!   the datagram as text, else (not UTF-8) as base64;
//! - note: `{"received","note":"…",…}` (collector started/stopped, trace evicted).
//!
//! The reader also takes lines that are bare segment documents, so files made by other tools
//! (one document per line) can be shown too.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;

use oxray_core::id::{EntityId, TraceId};
use oxray_core::json::write_str;
use oxray_core::time::write_epoch_seconds;
use serde_json::Value;

use crate::validate::{Invalid, Warning};

/// Appends records to the JSONL file.
pub struct Store {
    out: BufWriter<File>,
    line: Vec<u8>,
    records: u64,
}

impl Store {
    /// Opens (creating if needed) `path` for appending.
    pub fn open(path: &Path) -> io::Result<Store> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Store {
            out: BufWriter::with_capacity(256 * 1024, file),
            line: Vec::with_capacity(4096),
            records: 0,
        })
    }

    /// Records written since opening.
    pub fn records(&self) -> u64 {
        self.records
    }

    fn begin(&mut self, received_micros: u64) {
        self.line.clear();
        self.line.extend_from_slice(b"{\"received\":");
        write_epoch_seconds(&mut self.line, received_micros);
    }

    fn field_str(&mut self, key: &str, value: &str) {
        self.line.push(b',');
        write_str(&mut self.line, key);
        self.line.push(b':');
        write_str(&mut self.line, value);
    }

    fn field_raw(&mut self, key: &str, json: &[u8]) {
        self.line.push(b',');
        write_str(&mut self.line, key);
        self.line.push(b':');
        self.line.extend_from_slice(json);
    }

    fn field_from(&mut self, from: SocketAddr) {
        use std::io::Write as _;
        self.line.extend_from_slice(b",\"from\":\"");
        // A socket address needs no JSON escaping.
        let _ = write!(self.line, "{from}");
        self.line.push(b'"');
    }

    /// A field whose value is ASCII that needs no escaping (ids).
    fn field_ascii(&mut self, key: &str, value: &[u8]) {
        self.line.push(b',');
        write_str(&mut self.line, key);
        self.line.extend_from_slice(b":\"");
        self.line.extend_from_slice(value);
        self.line.push(b'"');
    }

    fn finish(&mut self) -> io::Result<()> {
        self.line.extend_from_slice(b"}\n");
        self.out.write_all(&self.line)?;
        self.records += 1;
        Ok(())
    }

    /// Appends a document's JSON text (known valid) on one line.
    fn document(&mut self, json: &[u8]) {
        self.line.extend_from_slice(b",\"document\":");
        let start = self.line.len();
        self.line.extend_from_slice(json);
        // In valid JSON a raw CR or LF can only be whitespace between tokens.
        for b in &mut self.line[start..] {
            if *b == b'\n' || *b == b'\r' {
                *b = b' ';
            }
        }
    }

    /// Records an accepted document.
    pub fn accepted(
        &mut self,
        received_micros: u64,
        from: SocketAddr,
        body: &[u8],
        trace_id: TraceId,
        id: EntityId,
        warnings: &[Warning],
    ) -> io::Result<()> {
        self.begin(received_micros);
        self.field_from(from);
        let status = if warnings.is_empty() { "ok" } else { "warning" };
        self.field_str("status", status);
        self.field_ascii("trace_id", &trace_id.to_bytes());
        self.field_ascii("id", &id.to_hex());
        self.line.extend_from_slice(b",\"bytes\":");
        oxray_core::time::write_u64(&mut self.line, body.len() as u64);
        if !warnings.is_empty() {
            self.line.extend_from_slice(b",\"warnings\":[");
            for (i, w) in warnings.iter().enumerate() {
                if i > 0 {
                    self.line.push(b',');
                }
                write_str(&mut self.line, &w.to_string());
            }
            self.line.push(b']');
        }
        self.document(body);
        self.finish()
    }

    /// Records an invalid datagram with its reason. `body_is_json` says whether `raw` is a
    /// JSON document (the frame was fine but the document was refused).
    pub fn invalid(
        &mut self,
        received_micros: u64,
        from: SocketAddr,
        invalid: &Invalid,
        raw: &[u8],
        body_is_json: bool,
    ) -> io::Result<()> {
        self.begin(received_micros);
        self.field_from(from);
        self.field_str("status", "invalid");
        self.field_str("kind", invalid.kind.as_str());
        self.field_str("reason", &invalid.reason);
        self.field_raw("bytes", raw.len().to_string().as_bytes());
        if let Some(t) = &invalid.trace_id {
            self.field_str("trace_id", t);
        }
        if let Some(i) = &invalid.id {
            self.field_str("id", i);
        }
        if body_is_json {
            self.document(raw);
        } else {
            match std::str::from_utf8(raw) {
                Ok(text) => self.field_str("raw", text),
                Err(_) => self.field_str("raw_base64", &base64(raw)),
            }
        }
        self.finish()
    }

    /// Records a note with extra string and number fields.
    pub fn note(
        &mut self,
        received_micros: u64,
        note: &str,
        texts: &[(&str, &str)],
        numbers: &[(&str, u64)],
    ) -> io::Result<()> {
        self.begin(received_micros);
        self.field_str("note", note);
        for (k, v) in texts {
            self.field_str(k, v);
        }
        for (k, v) in numbers {
            self.field_raw(k, v.to_string().as_bytes());
        }
        self.finish()
    }

    /// Hands buffered records to the operating system.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One line of a JSONL file, as read back.
#[derive(Debug, Clone)]
pub enum Line {
    /// A document to reassemble: from an accepted record, or a bare document line.
    Document {
        line: usize,
        document: Value,
        /// Its size in bytes as received (or the line's length for a bare document).
        bytes: usize,
    },
    /// A record of an invalid datagram.
    Invalid {
        line: usize,
        from: String,
        kind: String,
        reason: String,
    },
    /// A note of the collector (started, stopped, evicted…).
    Note {
        line: usize,
        note: String,
        record: Value,
    },
    /// A line that is neither: why.
    Unreadable { line: usize, reason: String },
}

/// Reads every line of `input`, calling `each` in file order (blank lines are skipped).
pub fn read(input: impl BufRead, mut each: impl FnMut(Line)) -> io::Result<()> {
    for (index, text) in input.lines().enumerate() {
        let text = text?;
        let line = index + 1;
        if text.trim().is_empty() {
            continue;
        }
        each(classify(line, &text));
    }
    Ok(())
}

fn classify(line: usize, text: &str) -> Line {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Line::Unreadable {
                line,
                reason: format!("not JSON: {e}"),
            }
        }
    };
    let Value::Object(mut record) = value else {
        return Line::Unreadable {
            line,
            reason: "not a JSON object".into(),
        };
    };
    let text_of = |r: &serde_json::Map<String, Value>, k: &str| {
        r.get(k).and_then(Value::as_str).unwrap_or("").to_string()
    };
    if record.contains_key("note") {
        return Line::Note {
            line,
            note: text_of(&record, "note"),
            record: Value::Object(record),
        };
    }
    match record.get("status").and_then(Value::as_str) {
        Some("invalid") => Line::Invalid {
            line,
            from: text_of(&record, "from"),
            kind: text_of(&record, "kind"),
            reason: text_of(&record, "reason"),
        },
        Some(_) => {
            let bytes = record
                .get("bytes")
                .and_then(Value::as_u64)
                .map_or(text.len(), |b| b as usize);
            match record.remove("document") {
                Some(document) => Line::Document {
                    line,
                    document,
                    bytes,
                },
                None => Line::Unreadable {
                    line,
                    reason: "a record without a document".into(),
                },
            }
        }
        None if record.contains_key("trace_id") && record.contains_key("id") => Line::Document {
            line,
            bytes: text.len(),
            document: Value::Object(record),
        },
        None => Line::Unreadable {
            line,
            reason: "neither an oxray record nor a segment document".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::InvalidKind;

    #[test]
    fn base64_matches_the_rfc_examples() {
        for (input, out) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), out);
        }
    }

    #[test]
    fn records_round_trip_on_one_line_each() {
        let dir = std::env::temp_dir().join(format!("oxray-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.jsonl");
        let _ = std::fs::remove_file(&path);
        let from: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let pretty = b"{\n  \"name\": \"a\\nb\",\r\n  \"id\": \"x\"\n}";
        {
            let mut store = Store::open(&path).unwrap();
            store
                .note(
                    1_000_000,
                    "started",
                    &[("listen", "127.0.0.1:2000")],
                    &[("n", 3)],
                )
                .unwrap();
            let w = Warning {
                path: "namespace".into(),
                message: "\"local\"".into(),
            };
            store
                .accepted(
                    1_500_000,
                    from,
                    pretty,
                    TraceId {
                        epoch: 1,
                        random: 2,
                    },
                    EntityId(3),
                    &[w],
                )
                .unwrap();
            let invalid = Invalid {
                kind: InvalidKind::Frame,
                reason: "invalid header".into(),
                trace_id: None,
                id: None,
            };
            store
                .invalid(2_000_000, from, &invalid, b"\xff\x00", false)
                .unwrap();
            store
                .invalid(2_000_000, from, &invalid, b"{oops\n", false)
                .unwrap();
            store.flush().unwrap();
            assert_eq!(store.records(), 4);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
        let mut lines = Vec::new();
        read(text.as_bytes(), |l| lines.push(l)).unwrap();
        match &lines[1] {
            Line::Document {
                document, bytes, ..
            } => {
                assert_eq!(document["name"], "a\nb");
                assert_eq!(*bytes, pretty.len());
            }
            other => panic!("{other:?}"),
        }
        let record: Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        assert_eq!(record["status"], "warning");
        assert_eq!(record["warnings"][0], "namespace: \"local\"");
        assert_eq!(record["received"], 1.5);
        assert_eq!(record["trace_id"], "1-00000001-000000000000000000000002");
        assert_eq!(record["id"], "0000000000000003");
        assert_eq!(record["from"], "127.0.0.1:4000");
        let bad: Value = serde_json::from_str(text.lines().nth(2).unwrap()).unwrap();
        assert_eq!(bad["raw_base64"], "/wA=");
        let bad: Value = serde_json::from_str(text.lines().nth(3).unwrap()).unwrap();
        assert_eq!(bad["raw"], "{oops\n");
        assert!(matches!(&lines[0], Line::Note { note, .. } if note == "started"));
        assert!(matches!(&lines[2], Line::Invalid { kind, .. } if kind == "frame"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bare_documents_and_junk_lines_are_told_apart() {
        let input = "{\"trace_id\":\"1-a\",\"id\":\"b\",\"name\":\"n\"}\n\n[1]\nnope\n{\"x\":1}\n";
        let mut lines = Vec::new();
        read(input.as_bytes(), |l| lines.push(l)).unwrap();
        assert!(matches!(lines[0], Line::Document { line: 1, .. }));
        assert!(matches!(lines[1], Line::Unreadable { line: 3, .. }));
        assert!(matches!(lines[2], Line::Unreadable { line: 4, .. }));
        assert!(matches!(lines[3], Line::Unreadable { line: 5, .. }));
    }
}
