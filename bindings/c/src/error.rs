//! [`Failure`] (a status with its message) and the thread-local last-error message.
//!
//! Every status-returning call clears the message on entry and sets it when it fails, so
//! `oxray_last_error()` always describes the most recent such call on the calling thread.

use std::cell::RefCell;
use std::ffi::c_char;

use oxray_core::TraceError;

use crate::status::oxray_status;

/// A failed call: the status returned to C and the message kept for `oxray_last_error()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: oxray_status,
    pub message: String,
}

impl Failure {
    pub fn new(status: oxray_status, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }
}

impl From<TraceError> for Failure {
    fn from(e: TraceError) -> Failure {
        Failure::new(oxray_status::of(&e), e.to_string())
    }
}

/// The result type of every ABI function body.
pub type Outcome<T = ()> = Result<T, Failure>;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

pub(crate) fn clear_last_error() {
    // try_with: during thread teardown the slot may be gone; there is nothing to clear then.
    let _ = LAST_ERROR.try_with(|m| m.borrow_mut().clear());
}

pub(crate) fn set_last_error(message: &str) {
    let _ = LAST_ERROR.try_with(|m| {
        let mut m = m.borrow_mut();
        m.clear();
        m.push_str(message);
    });
}

/// The longest prefix of `s` that is at most `max` bytes and ends on a character boundary.
pub(crate) fn utf8_prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Copies the message of the most recent failed call on this thread into `buf` (at most
/// `len` bytes, always NUL-terminated when `len > 0`, cut on a UTF-8 character boundary if
/// needed) and returns the size needed for the whole message including its NUL. The message
/// is empty (the function returns 1) when the most recent status-returning call succeeded.
/// `buf` may be NULL when `len` is 0, to ask for the size.
///
/// # Safety
/// `buf` must be NULL or point to at least `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn oxray_last_error(buf: *mut c_char, len: usize) -> usize {
    firewall!(or 0, {
        LAST_ERROR
            .try_with(|m| {
                let m = m.borrow();
                if !buf.is_null() && len > 0 {
                    let part = utf8_prefix(&m, len - 1);
                    // SAFETY: the caller guarantees `len` writable bytes at `buf`;
                    // part.len() + 1 <= len.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            part.as_ptr(),
                            buf.cast::<u8>(),
                            part.len(),
                        );
                        *buf.add(part.len()) = 0;
                    }
                }
                m.len() + 1
            })
            .unwrap_or(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_respects_char_boundaries() {
        assert_eq!(utf8_prefix("héllo", 2), "h");
        assert_eq!(utf8_prefix("héllo", 3), "hé");
        assert_eq!(utf8_prefix("abc", 10), "abc");
        assert_eq!(utf8_prefix("abc", 0), "");
    }

    #[test]
    fn last_error_copies_and_truncates() {
        set_last_error("bad thing");
        let mut buf = [0x55 as c_char; 4];
        // SAFETY: buf has 4 bytes.
        let needed = unsafe { oxray_last_error(buf.as_mut_ptr(), buf.len()) };
        assert_eq!(needed, 10);
        assert_eq!(buf[3], 0);
        assert_eq!(buf[0] as u8, b'b');
        // SAFETY: NULL with len 0 is the size query.
        assert_eq!(unsafe { oxray_last_error(std::ptr::null_mut(), 0) }, 10);
        clear_last_error();
        // SAFETY: as above.
        assert_eq!(unsafe { oxray_last_error(std::ptr::null_mut(), 0) }, 1);
    }
}
