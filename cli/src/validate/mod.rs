//! Judging one segment document the way the X-Ray service does, and reporting what stricter
//! receivers would refuse.
//!
//! Three outcomes (DESIGN.md, "The local collector"):
//! - **invalid**: what the service itself refuses — not JSON, not an object, a missing required
//!   field (`name`, `id`, `start_time`, `trace_id`, `end_time` or `in_progress:true`, `parent_id`
//!   on a standalone subsegment), a malformed `id`/`parent_id`/`trace_id`, a time that is not
//!   epoch seconds;
//! - **accepted with warnings**: what the published schema or the OpenTelemetry awsxray
//!   receiver (PROTOCOL.md §6.5) would refuse but the service takes — `namespace:"local"`,
//!   upper-case hex, names outside the charset or over 200 characters, dotted annotation keys,
//!   metadata namespaces that are not objects, `sql.url` without a database name, wrongly typed
//!   optional fields, documents over 64,000 bytes;
//! - **accepted**: everything else, including the Go SDK's `"Dummy"` field, exponent-form times
//!   and `in_progress:false` beside `end_time`.
//!
//! Optional fields with the wrong type are warned about and then left out of the copy handed to
//! the core's parser (which is strict about types), so the rest of the document is still shown.
//! The raw document is kept unchanged by the caller.

mod blocks;
mod fast;
mod rules;

pub use rules::{name_problem, sql_url_has_database};

use oxray_core::document::{parse_value, ParsedEntity};
use serde_json::Value;

use rules::Checker;

/// Largest document the service takes (PROTOCOL.md §1.1).
pub const MAX_DOCUMENT_BYTES: usize = oxray_core::MAX_DOCUMENT_BYTES;

/// Something a stricter receiver would refuse, located by a field path such as
/// `subsegments[1].annotations.DDB.key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Which rule made a datagram invalid (one counter each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidKind {
    /// The daemon frame (header line) was refused.
    Frame,
    /// The document is not JSON (or not an object).
    NotJson,
    /// A required field is missing or an id/time is malformed.
    Refused,
    /// Passed these checks but the core's parser still refused it (a gap in this module).
    Unreadable,
}

impl InvalidKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidKind::Frame => "frame",
            InvalidKind::NotJson => "not_json",
            InvalidKind::Refused => "refused",
            InvalidKind::Unreadable => "unreadable",
        }
    }
}

/// A refused document: why, and its ids when they could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub kind: InvalidKind,
    pub reason: String,
    pub trace_id: Option<String>,
    pub id: Option<String>,
}

/// A document that passed the rules: decoded (with wrongly typed optional fields removed),
/// with what stricter receivers would refuse. [`Checked::parse`] makes the entity tree.
#[derive(Debug, Clone)]
pub struct Checked {
    pub decoded: Value,
    pub warnings: Vec<Warning>,
}

/// A document the service would take: parsed, with what stricter receivers would refuse.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub entity: ParsedEntity,
    pub warnings: Vec<Warning>,
}

impl Checked {
    /// Parses the checked document with the core's parser.
    pub fn parse(self) -> Result<Accepted, Invalid> {
        match parse_value(&self.decoded) {
            Ok(entity) => Ok(Accepted {
                entity,
                warnings: self.warnings,
            }),
            Err(e) => {
                let id = |key: &str| {
                    self.decoded
                        .get(key)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                };
                Err(Invalid {
                    kind: InvalidKind::Unreadable,
                    reason: format!("unreadable: {e}"),
                    trace_id: id("trace_id"),
                    id: id("id"),
                })
            }
        }
    }
}

/// A judged document: accepted outright by the fast path, or checked by the general rules
/// (parse it with [`Checked::parse`], possibly on another thread).
#[derive(Debug)]
pub enum Judged {
    /// Boxed: an entity is much larger than a checked document.
    Accepted(Box<Accepted>),
    Checked(Checked),
}

impl Judged {
    /// The accepted document (parsing it if it was only checked).
    pub fn accept(self) -> Result<Accepted, Invalid> {
        match self {
            Judged::Accepted(a) => Ok(*a),
            Judged::Checked(c) => c.parse(),
        }
    }
}

/// Judges a document given as bytes: the fast path for documents that break no rule, else
/// the general rules.
pub fn judge_bytes(body: &[u8]) -> Result<Judged, Invalid> {
    match fast::accept(body) {
        Some(accepted) => Ok(Judged::Accepted(Box::new(accepted))),
        None => check_bytes(body).map(Judged::Checked),
    }
}

/// Only the fast path: `Some` when the document breaks no rule (for tests comparing paths).
pub fn accept_fast(body: &[u8]) -> Option<Accepted> {
    fast::accept(body)
}

/// Checks and parses a document given as bytes.
pub fn accept_bytes(body: &[u8]) -> Result<Accepted, Invalid> {
    judge_bytes(body)?.accept()
}

/// Checks and parses a decoded document of `size` bytes.
pub fn accept_value(value: Value, size: usize) -> Result<Accepted, Invalid> {
    check_value(value, size)?.parse()
}

/// Applies the rules to a document given as bytes (the body of a datagram).
pub fn check_bytes(body: &[u8]) -> Result<Checked, Invalid> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        let reason = match std::str::from_utf8(body) {
            Err(u) => format!(
                "not JSON: not UTF-8 text (byte 0x{:02x} at offset {})",
                body[u.valid_up_to()],
                u.valid_up_to()
            ),
            Ok(_) if e.is_eof() => format!("not JSON: {e} (it ends early: a truncated datagram?)"),
            Ok(_) => format!("not JSON: {e}"),
        };
        Invalid {
            kind: InvalidKind::NotJson,
            reason,
            trace_id: None,
            id: None,
        }
    })?;
    check_value(value, body.len())
}

/// Applies the rules to a decoded document; `size` is its length in bytes (for the
/// 64,000-byte bound).
pub fn check_value(mut value: Value, size: usize) -> Result<Checked, Invalid> {
    let refuse = |kind: InvalidKind, reason: String, value: &Value| {
        let id = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
        Invalid {
            kind,
            reason,
            trace_id: id("trace_id"),
            id: id("id"),
        }
    };
    let mut checker = Checker::default();
    let verdict = match value.as_object_mut() {
        None => Err((
            InvalidKind::NotJson,
            "a document must be a JSON object".to_string(),
        )),
        Some(obj) => checker
            .top(obj)
            .map_err(|reason| (InvalidKind::Refused, reason)),
    };
    if let Err((kind, reason)) = verdict {
        return Err(refuse(kind, reason, &value));
    }
    if size > MAX_DOCUMENT_BYTES {
        checker.warn(
            "",
            format!(
                "the document is {size} bytes, over the service's {MAX_DOCUMENT_BYTES}-byte limit"
            ),
        );
    }
    Ok(Checked {
        decoded: value,
        warnings: checker.warnings,
    })
}

#[cfg(test)]
mod tests;
