//! `X-Amzn-Trace-Id` helpers: parse a header into fields, normalize it, format one from parts.

use std::ffi::c_char;

use oxray_core::header::HeaderError;
use oxray_core::{EntityId, Sampled, TraceHeader, TraceId};

use crate::cstr;
use crate::error::{Failure, Outcome};
use crate::status::{oxray_status, OXRAY_INVALID_ARGUMENT, OXRAY_INVALID_HEADER};
use crate::{OXRAY_ENTITY_ID_SIZE, OXRAY_TRACE_ID_SIZE};

/// The `Sampled` part of a trace header.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum oxray_sampled {
    /// No `Sampled` part.
    OXRAY_SAMPLED_ABSENT = 0,
    /// `Sampled=1`
    OXRAY_SAMPLED_YES = 1,
    /// `Sampled=0`
    OXRAY_SAMPLED_NO = 2,
    /// `Sampled=?`: the receiver decides.
    OXRAY_SAMPLED_REQUESTED = 3,
}

/// Why a trace header did not parse.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum oxray_header_error {
    /// It parsed.
    OXRAY_HEADER_ERROR_NONE = 0,
    /// Nothing but whitespace and `;`.
    OXRAY_HEADER_ERROR_EMPTY = 1,
    /// Longer than 8,192 bytes.
    OXRAY_HEADER_ERROR_TOO_LONG = 2,
    /// A part has no `=`.
    OXRAY_HEADER_ERROR_MISSING_EQUALS = 3,
    /// `Root` is not `1-<8 hex>-<24 hex>`.
    OXRAY_HEADER_ERROR_INVALID_ROOT = 4,
    /// `Parent` is not 16 hex digits.
    OXRAY_HEADER_ERROR_INVALID_PARENT = 5,
    /// `Sampled` is not `0`, `1` or `?`.
    OXRAY_HEADER_ERROR_INVALID_SAMPLED = 6,
    /// A character that is not printable ASCII or a tab (a CR/LF, say): refused, as it would
    /// be copied into downstream headers.
    OXRAY_HEADER_ERROR_INVALID_CHARACTER = 7,
}

/// The main fields of a parsed trace header (the Lineage and other keys are kept by
/// `oxray_trace_header_normalize`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct oxray_trace_header_fields {
    /// The trace id, lowercase, or "" when absent.
    pub root: [c_char; OXRAY_TRACE_ID_SIZE],
    /// The parent id, lowercase, or "" when absent.
    pub parent: [c_char; OXRAY_ENTITY_ID_SIZE],
    pub sampled: oxray_sampled,
    /// `OXRAY_HEADER_ERROR_NONE`, or why the header did not parse.
    pub error: oxray_header_error,
}

fn error_kind(e: &HeaderError) -> oxray_header_error {
    use oxray_header_error::*;
    match e {
        HeaderError::Empty => OXRAY_HEADER_ERROR_EMPTY,
        HeaderError::TooLong(_) => OXRAY_HEADER_ERROR_TOO_LONG,
        HeaderError::MissingEquals(_) => OXRAY_HEADER_ERROR_MISSING_EQUALS,
        HeaderError::InvalidRoot(_) => OXRAY_HEADER_ERROR_INVALID_ROOT,
        HeaderError::InvalidParent(_) => OXRAY_HEADER_ERROR_INVALID_PARENT,
        HeaderError::InvalidSampled(_) => OXRAY_HEADER_ERROR_INVALID_SAMPLED,
        HeaderError::InvalidCharacter(_) => OXRAY_HEADER_ERROR_INVALID_CHARACTER,
    }
}

fn sampled_of(s: Option<Sampled>) -> oxray_sampled {
    use oxray_sampled::*;
    match s {
        None => OXRAY_SAMPLED_ABSENT,
        Some(Sampled::Yes) => OXRAY_SAMPLED_YES,
        Some(Sampled::No) => OXRAY_SAMPLED_NO,
        Some(Sampled::Requested) => OXRAY_SAMPLED_REQUESTED,
    }
}

fn parse(text: &str) -> Outcome<TraceHeader> {
    TraceHeader::parse(text).map_err(|e| Failure::new(OXRAY_INVALID_HEADER, e.to_string()))
}

/// Parses a trace header into `*out`. On `OXRAY_INVALID_HEADER`, `out->error` says why and the
/// other fields are empty.
///
/// # Safety
/// `text` must be NULL or a NUL-terminated string; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn oxray_trace_header_parse(
    text: *const c_char,
    out: *mut oxray_trace_header_fields,
) -> oxray_status {
    firewall!({
        let mut fields = oxray_trace_header_fields {
            root: [0; OXRAY_TRACE_ID_SIZE],
            parent: [0; OXRAY_ENTITY_ID_SIZE],
            sampled: oxray_sampled::OXRAY_SAMPLED_ABSENT,
            error: oxray_header_error::OXRAY_HEADER_ERROR_NONE,
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { cstr::store(out, fields, "out")? };
        // SAFETY: as above.
        let text = unsafe { cstr::required(text, "text") }?;
        let result = TraceHeader::parse(text);
        match &result {
            Ok(h) => {
                if let Some(root) = h.root {
                    cstr::fill(&mut fields.root, &root.to_string());
                }
                if let Some(parent) = h.parent {
                    cstr::fill(&mut fields.parent, &parent.to_string());
                }
                fields.sampled = sampled_of(h.sampled);
            }
            Err(e) => fields.error = error_kind(e),
        }
        // SAFETY: out is writable (checked above).
        unsafe { out.write(fields) };
        result
            .map(drop)
            .map_err(|e| Failure::new(OXRAY_INVALID_HEADER, e.to_string()))
    })
}

/// Writes the canonical form of a trace header: `Root`, `Parent`, `Sampled`, `Lineage`, then
/// the other keys in their order, `Self` dropped, ids lowercase, no spaces. Buffer convention
/// as for `oxray_entity_outgoing_header`.
///
/// # Safety
/// `text` must be NULL or a NUL-terminated string; `buf` NULL or `len` writable bytes;
/// `needed` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn oxray_trace_header_normalize(
    text: *const c_char,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> oxray_status {
    firewall!({
        // SAFETY: forwarded from this function's contract.
        let text = unsafe { cstr::required(text, "text") }?;
        let header = parse(text)?;
        // SAFETY: as above.
        unsafe { cstr::write(&header.to_string(), buf, len, needed) }
    })
}

/// Formats a trace header from parts: `root` (a trace id) and `parent` (16 hex digits) may be
/// NULL; `sampled` is an `oxray_sampled` value. Invalid parts, or no part at all, are
/// `OXRAY_INVALID_ARGUMENT`. Buffer convention as for `oxray_entity_outgoing_header`.
///
/// # Safety
/// `root`, `parent`: NULL or NUL-terminated strings; `buf` NULL or `len` writable bytes;
/// `needed` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn oxray_trace_header_format(
    root: *const c_char,
    parent: *const c_char,
    sampled: i32,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> oxray_status {
    firewall!({
        let bad = |m: String| Failure::new(OXRAY_INVALID_ARGUMENT, m);
        // SAFETY: forwarded from this function's contract.
        let (root, parent) = unsafe {
            (
                cstr::optional(root, "root")?,
                cstr::optional(parent, "parent")?,
            )
        };
        let root = root
            .map(|r| TraceId::parse(r).map_err(|e| bad(format!("root {r:?}: {e}"))))
            .transpose()?;
        let parent = parent
            .map(|p| EntityId::parse(p).map_err(|e| bad(format!("parent {p:?}: {e}"))))
            .transpose()?;
        let sampled = match sampled {
            0 => None,
            1 => Some(Sampled::Yes),
            2 => Some(Sampled::No),
            3 => Some(Sampled::Requested),
            other => {
                return Err(bad(format!(
                    "sampled {other} is not an oxray_sampled value"
                )))
            }
        };
        if root.is_none() && parent.is_none() && sampled.is_none() {
            return Err(bad(
                "a trace header needs a root, a parent or a sampled part".into(),
            ));
        }
        let header = TraceHeader {
            root,
            parent,
            sampled,
            ..TraceHeader::default()
        };
        // SAFETY: as above.
        unsafe { cstr::write(&header.to_string(), buf, len, needed) }
    })
}
