//! Python exceptions → `cause.exceptions` records.
//!
//! Reads the type name, `str(exc)` and the traceback's frames (innermost first), leaving out
//! frames from oxray's own files.

use std::sync::RwLock;

use oxray_core::{Exception, StackFrame};
use pyo3::prelude::*;

/// Longest exception message kept, in characters.
const MAX_MESSAGE_CHARS: usize = 2048;

static INTERNAL_PATHS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Frames from files under these path prefixes (oxray's own) are left out of stacks.
#[pyfunction]
pub fn set_internal_paths(paths: Vec<String>) {
    if let Ok(mut guard) = INTERNAL_PATHS.write() {
        *guard = paths;
    }
}

fn is_internal(path: &str) -> bool {
    INTERNAL_PATHS
        .read()
        .map(|p| p.iter().any(|prefix| path.starts_with(prefix.as_str())))
        .unwrap_or(false)
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn attr_string(obj: &Bound<'_, PyAny>, name: &str) -> Option<String> {
    obj.getattr(name)
        .ok()
        .and_then(|v| v.str().ok())
        .map(|s| s.to_string_lossy().into_owned())
}

/// The stack of `exc.__traceback__`, innermost frame first (where it was raised, as the
/// other X-Ray SDKs order it): up to `limit` frames, and how many were left out.
fn stack(exc: &Bound<'_, PyAny>, limit: usize) -> (Vec<StackFrame>, u32) {
    let mut frames = Vec::new();
    let mut tb = match exc.getattr("__traceback__") {
        Ok(tb) => tb,
        Err(_) => return (frames, 0),
    };
    // Bounded: a traceback cannot be cyclic, but be defensive against odd objects.
    for _ in 0..10_000 {
        if tb.is_none() {
            break;
        }
        let code = tb.getattr("tb_frame").and_then(|f| f.getattr("f_code"));
        if let Ok(code) = code {
            let path = attr_string(&code, "co_filename").unwrap_or_default();
            if !is_internal(&path) {
                frames.push(StackFrame {
                    path: Some(basename(&path).to_string()),
                    line: tb
                        .getattr("tb_lineno")
                        .and_then(|l| l.extract::<u32>())
                        .ok(),
                    label: attr_string(&code, "co_name"),
                });
            }
        }
        tb = match tb.getattr("tb_next") {
            Ok(next) => next,
            Err(_) => break,
        };
    }
    frames.reverse();
    let omitted = frames.len().saturating_sub(limit) as u32;
    frames.truncate(limit);
    (frames, omitted)
}

/// Builds the core's exception record for `exc`. Never fails.
pub fn from_python(exc: &Bound<'_, PyAny>, remote: bool, limit: usize) -> Exception {
    let type_name = Some(crate::convert::type_name(exc));
    let message = exc
        .str()
        .ok()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|m| !m.is_empty())
        .map(|m| {
            oxray_core::sanitize::truncate_chars(&m, MAX_MESSAGE_CHARS)
                .0
                .into_owned()
        });
    let (frames, omitted) = stack(exc, limit);
    let mut record = Exception::new(type_name, message);
    record.remote = remote;
    record.stack = frames;
    record.truncated = omitted;
    record
}
