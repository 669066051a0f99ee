//! [`oxray_status`]: the result of every fallible call, with fixed numbers.
//!
//! The numbers are part of the ABI: a code is never renumbered or reused, new codes are only
//! added. `OXRAY_PANIC` sits apart at 100 so that it stays recognisable as "a bug in oxray".

use std::ffi::{c_char, CStr};

use oxray_core::TraceError;

/// What a call did. `OXRAY_OK` is 0; every other value is a failure and
/// `oxray_last_error()` describes it. The numbers are fixed for all versions.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum oxray_status {
    /// Success.
    OXRAY_OK = 0,
    /// A required pointer argument was NULL.
    OXRAY_NULL_ARGUMENT = 1,
    /// A string argument was not valid UTF-8.
    OXRAY_INVALID_UTF8 = 2,
    /// An argument had a value out of its range or of the wrong form (the message says which),
    /// or the call is not allowed on this entity (a Lambda facade is read-only).
    OXRAY_INVALID_ARGUMENT = 3,
    /// A JSON text argument (metadata or `aws` value) did not parse as one JSON value.
    OXRAY_INVALID_JSON = 4,
    /// A handle was not a live handle of the expected kind: freed already, never returned by
    /// oxray, or a recorder passed where an entity was expected (or the reverse).
    OXRAY_INVALID_HANDLE = 5,
    /// The entity was already ended; the call changed nothing.
    OXRAY_ALREADY_ENDED = 6,
    /// A metadata namespace starting with `AWS.` (reserved for AWS SDKs) was refused.
    OXRAY_RESERVED_NAMESPACE = 7,
    /// There is no current entity on this thread (under `RUNTIME_ERROR` for
    /// `oxray_current_begin_subsegment`; always for `oxray_current_get`).
    OXRAY_CONTEXT_MISSING = 8,
    /// The caller's buffer is too small; the `needed` out-parameter says how many bytes are
    /// needed (terminating NUL included). Nothing was consumed.
    OXRAY_BUFFER_TOO_SMALL = 9,
    /// `oxray_recorder_flush` did not finish within its timeout.
    OXRAY_TIMEOUT = 10,
    /// A trace header did not parse (the message and `oxray_trace_header_fields.error` say why).
    OXRAY_INVALID_HEADER = 11,
    /// The recorder configuration JSON was refused (not an object, unknown key, wrong type or
    /// value); no recorder was made.
    OXRAY_INVALID_CONFIG = 12,
    /// A daemon address did not parse.
    OXRAY_INVALID_ADDRESS = 13,
    /// An internal error (a panic inside oxray) was caught at the ABI boundary. The host
    /// process is unaffected; please report it with the `oxray_last_error()` message.
    OXRAY_PANIC = 100,
}

pub use oxray_status::*;

impl oxray_status {
    /// The constant's name, as a static NUL-terminated string.
    pub(crate) fn name(self) -> &'static CStr {
        match self {
            OXRAY_OK => c"OXRAY_OK",
            OXRAY_NULL_ARGUMENT => c"OXRAY_NULL_ARGUMENT",
            OXRAY_INVALID_UTF8 => c"OXRAY_INVALID_UTF8",
            OXRAY_INVALID_ARGUMENT => c"OXRAY_INVALID_ARGUMENT",
            OXRAY_INVALID_JSON => c"OXRAY_INVALID_JSON",
            OXRAY_INVALID_HANDLE => c"OXRAY_INVALID_HANDLE",
            OXRAY_ALREADY_ENDED => c"OXRAY_ALREADY_ENDED",
            OXRAY_RESERVED_NAMESPACE => c"OXRAY_RESERVED_NAMESPACE",
            OXRAY_CONTEXT_MISSING => c"OXRAY_CONTEXT_MISSING",
            OXRAY_BUFFER_TOO_SMALL => c"OXRAY_BUFFER_TOO_SMALL",
            OXRAY_TIMEOUT => c"OXRAY_TIMEOUT",
            OXRAY_INVALID_HEADER => c"OXRAY_INVALID_HEADER",
            OXRAY_INVALID_CONFIG => c"OXRAY_INVALID_CONFIG",
            OXRAY_INVALID_ADDRESS => c"OXRAY_INVALID_ADDRESS",
            OXRAY_PANIC => c"OXRAY_PANIC",
        }
    }

    /// Every status, for lookups by number (a C caller may pass any int).
    const ALL: [oxray_status; 15] = [
        OXRAY_OK,
        OXRAY_NULL_ARGUMENT,
        OXRAY_INVALID_UTF8,
        OXRAY_INVALID_ARGUMENT,
        OXRAY_INVALID_JSON,
        OXRAY_INVALID_HANDLE,
        OXRAY_ALREADY_ENDED,
        OXRAY_RESERVED_NAMESPACE,
        OXRAY_CONTEXT_MISSING,
        OXRAY_BUFFER_TOO_SMALL,
        OXRAY_TIMEOUT,
        OXRAY_INVALID_HEADER,
        OXRAY_INVALID_CONFIG,
        OXRAY_INVALID_ADDRESS,
        OXRAY_PANIC,
    ];

    pub(crate) fn from_number(n: i32) -> Option<oxray_status> {
        Self::ALL.into_iter().find(|s| *s as i32 == n)
    }

    /// The status a core error maps to.
    pub(crate) fn of(error: &TraceError) -> oxray_status {
        match error {
            TraceError::InvalidArgument(_) => OXRAY_INVALID_ARGUMENT,
            TraceError::AlreadyEnded => OXRAY_ALREADY_ENDED,
            TraceError::ReservedNamespace(_) => OXRAY_RESERVED_NAMESPACE,
            TraceError::InvalidJson(_) => OXRAY_INVALID_JSON,
            TraceError::ContextMissing(_) => OXRAY_CONTEXT_MISSING,
        }
    }
}

/// The name of a status code (`"OXRAY_OK"`, `"OXRAY_NULL_ARGUMENT"`, …), or
/// `"OXRAY_UNKNOWN_STATUS"` for a number that is not one. The string is static: never free it.
#[no_mangle]
pub extern "C" fn oxray_status_name(status: i32) -> *const c_char {
    firewall!(or c"OXRAY_UNKNOWN_STATUS".as_ptr().cast(), {
        let name: &'static CStr = match oxray_status::from_number(status) {
            Some(s) => s.name(),
            None => c"OXRAY_UNKNOWN_STATUS",
        };
        name.as_ptr().cast()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_fixed_and_names_match() {
        let expected = [
            (0, "OXRAY_OK"),
            (1, "OXRAY_NULL_ARGUMENT"),
            (2, "OXRAY_INVALID_UTF8"),
            (3, "OXRAY_INVALID_ARGUMENT"),
            (4, "OXRAY_INVALID_JSON"),
            (5, "OXRAY_INVALID_HANDLE"),
            (6, "OXRAY_ALREADY_ENDED"),
            (7, "OXRAY_RESERVED_NAMESPACE"),
            (8, "OXRAY_CONTEXT_MISSING"),
            (9, "OXRAY_BUFFER_TOO_SMALL"),
            (10, "OXRAY_TIMEOUT"),
            (11, "OXRAY_INVALID_HEADER"),
            (12, "OXRAY_INVALID_CONFIG"),
            (13, "OXRAY_INVALID_ADDRESS"),
            (100, "OXRAY_PANIC"),
        ];
        assert_eq!(expected.len(), oxray_status::ALL.len());
        for (n, name) in expected {
            let s = oxray_status::from_number(n).unwrap();
            assert_eq!(s as i32, n);
            assert_eq!(s.name().to_str().unwrap(), name);
        }
        assert_eq!(oxray_status::from_number(14), None);
        assert_eq!(oxray_status::from_number(-1), None);
    }
}
