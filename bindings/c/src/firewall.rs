//! The panic firewall: every exported function body runs inside [`firewall!`].
//!
//! A panic must never unwind into C (that aborts the host, or worse). The macro runs the body
//! under `catch_unwind`; a panic becomes `OXRAY_PANIC` (or the fallback value of a function
//! that returns no status) and its message is kept for `oxray_last_error()`.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{clear_last_error, set_last_error, Outcome};
use crate::status::{oxray_status, OXRAY_OK, OXRAY_PANIC};

/// Runs an exported function body behind the panic firewall.
///
/// - `firewall!({ body })`: `body` evaluates to an [`Outcome`]; the function returns its
///   [`oxray_status`]. The thread's last-error message is cleared first and set on failure.
/// - `firewall!(or fallback, { body })`: for functions that return a value rather than a
///   status; `fallback` is returned if the body panics. The last error is left alone unless
///   the body panics.
macro_rules! firewall {
    (or $fallback:expr, $body:block) => {
        $crate::firewall::guard_value(move || $body, move || $fallback)
    };
    ($body:block) => {
        $crate::firewall::guard_status(move || -> $crate::error::Outcome { $body })
    };
}

/// The status form of [`firewall!`].
pub(crate) fn guard_status(body: impl FnOnce() -> Outcome) -> oxray_status {
    clear_last_error();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => OXRAY_OK,
        Ok(Err(failure)) => {
            set_last_error(&failure.message);
            failure.status
        }
        Err(payload) => {
            record_panic(payload.as_ref());
            OXRAY_PANIC
        }
    }
}

/// The value form of [`firewall!`].
pub(crate) fn guard_value<T>(body: impl FnOnce() -> T, fallback: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(payload) => {
            record_panic(payload.as_ref());
            fallback()
        }
    }
}

fn record_panic(payload: &(dyn Any + Send)) {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic payload");
    set_last_error(&format!(
        "internal error in oxray (caught at the C ABI boundary): {what}"
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{oxray_last_error, Failure};
    use crate::status::OXRAY_INVALID_ARGUMENT;

    fn last_error() -> String {
        let mut buf = [0 as std::ffi::c_char; 256];
        // SAFETY: buf has 256 bytes.
        unsafe { oxray_last_error(buf.as_mut_ptr(), buf.len()) };
        // SAFETY: oxray_last_error NUL-terminates within buf.
        unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_a_status_with_its_message() {
        let status = firewall!({
            if last_error().is_empty() {
                panic!("boom {}", 42);
            }
            Ok(())
        });
        assert_eq!(status, OXRAY_PANIC);
        assert!(last_error().contains("boom 42"), "{}", last_error());
    }

    #[test]
    fn a_value_function_returns_its_fallback_on_panic() {
        let v: i32 = firewall!(or - 1, {
            let items: Vec<i32> = Vec::new();
            items[items.len()]
        });
        assert_eq!(v, -1);
        assert!(last_error().contains("internal error"));
    }

    #[test]
    fn failures_set_and_successes_clear_the_message() {
        let status = firewall!({ Err(Failure::new(OXRAY_INVALID_ARGUMENT, "nope")) });
        assert_eq!(status, OXRAY_INVALID_ARGUMENT);
        assert_eq!(last_error(), "nope");
        assert_eq!(firewall!({ Ok(()) }), OXRAY_OK);
        assert_eq!(last_error(), "");
    }
}
