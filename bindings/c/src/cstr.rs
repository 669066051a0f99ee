//! Strings across the boundary: NUL-terminated UTF-8 in (validated), caller buffers out.
//!
//! Output convention for every string-returning call: `(char *buf, size_t len, size_t *needed)`.
//! `needed` (may be NULL) receives the size of the whole string including its NUL. If it fits,
//! the string is written NUL-terminated; if not, `buf[0]` is set to NUL (when `len > 0`) and
//! the call fails with `OXRAY_BUFFER_TOO_SMALL`. `buf` may be NULL only with `len == 0`, which
//! asks for the size (and also answers `OXRAY_BUFFER_TOO_SMALL`).

use std::ffi::{c_char, CStr};

use crate::error::{Failure, Outcome};
use crate::status::{OXRAY_BUFFER_TOO_SMALL, OXRAY_INVALID_UTF8, OXRAY_NULL_ARGUMENT};

/// Reads a required string argument named `what`.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string that outlives the returned borrow.
pub(crate) unsafe fn required<'a>(ptr: *const c_char, what: &str) -> Outcome<&'a str> {
    // SAFETY: forwarded to the caller.
    unsafe { optional(ptr, what) }?
        .ok_or_else(|| Failure::new(OXRAY_NULL_ARGUMENT, format!("{what} must not be NULL")))
}

/// Reads an optional string argument (NULL → None) named `what`.
///
/// # Safety
/// As [`required`].
pub(crate) unsafe fn optional<'a>(ptr: *const c_char, what: &str) -> Outcome<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    std::str::from_utf8(bytes).map(Some).map_err(|e| {
        Failure::new(
            OXRAY_INVALID_UTF8,
            format!(
                "{what} is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// Writes `text` to a caller buffer following the module's output convention.
///
/// # Safety
/// `buf` must be NULL or point to `len` writable bytes; `needed` must be NULL or writable.
pub(crate) unsafe fn write(
    text: &str,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> Outcome {
    let size = text.len() + 1;
    if !needed.is_null() {
        // SAFETY: writable per the caller's contract.
        unsafe { *needed = size };
    }
    if buf.is_null() && len > 0 {
        return Err(Failure::new(
            OXRAY_NULL_ARGUMENT,
            "buf must not be NULL when len > 0",
        ));
    }
    if len < size {
        if len > 0 {
            // SAFETY: buf has at least one writable byte.
            unsafe { *buf = 0 };
        }
        return Err(Failure::new(
            OXRAY_BUFFER_TOO_SMALL,
            format!("buffer of {len} bytes is too small: {size} bytes needed"),
        ));
    }
    // SAFETY: buf has len >= size writable bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
        *buf.add(text.len()) = 0;
    }
    Ok(())
}

/// Copies `text` into a fixed-size C array field (always fits: callers size the arrays for
/// their longest value), NUL-terminated.
pub(crate) fn fill(field: &mut [c_char], text: &str) {
    let text = crate::error::utf8_prefix(text, field.len().saturating_sub(1));
    for (slot, byte) in field.iter_mut().zip(text.bytes()) {
        *slot = byte as c_char;
    }
    if let Some(end) = field.get_mut(text.len()) {
        *end = 0;
    }
}

/// Stores `value` through a required out-pointer named `what`.
///
/// # Safety
/// `out` must be NULL or writable.
pub(crate) unsafe fn store<T>(out: *mut T, value: T, what: &str) -> Outcome {
    if out.is_null() {
        return Err(Failure::new(
            OXRAY_NULL_ARGUMENT,
            format!("{what} must not be NULL"),
        ));
    }
    // SAFETY: non-NULL and writable per the caller's contract.
    unsafe { out.write(value) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_validate_utf8_and_null() {
        let ok = c"héllo";
        // SAFETY: literals are NUL-terminated.
        unsafe {
            assert_eq!(required(ok.as_ptr(), "name").unwrap(), "héllo");
            assert_eq!(optional(std::ptr::null(), "name").unwrap(), None);
            let err = required(std::ptr::null(), "name").unwrap_err();
            assert_eq!(err.status, OXRAY_NULL_ARGUMENT);
            let bad = b"ab\xffcd\0";
            let err = required(bad.as_ptr().cast(), "key").unwrap_err();
            assert_eq!(err.status, OXRAY_INVALID_UTF8);
            assert!(err.message.contains("offset 2"), "{}", err.message);
        }
    }

    #[test]
    fn writes_follow_the_buffer_convention() {
        let mut buf = [1 as c_char; 6];
        let mut needed = 0usize;
        // SAFETY: buf has 6 bytes, needed is writable.
        unsafe {
            write("hello", buf.as_mut_ptr(), 6, &mut needed).unwrap();
            assert_eq!(needed, 6);
            assert_eq!(buf[5], 0);
            let err = write("hello!", buf.as_mut_ptr(), 6, &mut needed).unwrap_err();
            assert_eq!(err.status, OXRAY_BUFFER_TOO_SMALL);
            assert_eq!(needed, 7);
            assert_eq!(buf[0], 0);
            let err = write("x", std::ptr::null_mut(), 0, &mut needed).unwrap_err();
            assert_eq!(err.status, OXRAY_BUFFER_TOO_SMALL);
            assert_eq!(needed, 2);
            let err = write("x", std::ptr::null_mut(), 4, std::ptr::null_mut()).unwrap_err();
            assert_eq!(err.status, OXRAY_NULL_ARGUMENT);
        }
    }

    #[test]
    fn fill_terminates_and_cuts_on_boundaries() {
        let mut field = [1 as c_char; 4];
        fill(&mut field, "ab");
        assert_eq!(&field[..3], &[b'a' as c_char, b'b' as c_char, 0]);
        fill(&mut field, "aé€");
        assert_eq!(field[3], 0);
        assert_eq!(field[0] as u8, b'a');
    }
}
