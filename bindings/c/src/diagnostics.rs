//! Diagnostics: forwards the core's warnings and errors to a C callback.

use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

use oxray_core::diag::{self, Level};

use crate::error::Failure;
use crate::status::{oxray_status, OXRAY_INVALID_ARGUMENT};

/// Severity of a diagnostic message.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum oxray_level {
    OXRAY_LEVEL_DEBUG = 0,
    OXRAY_LEVEL_WARN = 1,
    OXRAY_LEVEL_ERROR = 2,
}

/// Receives each diagnostic: its level, the message (UTF-8, NUL-terminated, valid only during
/// the call) and the `user_data` given to `oxray_diagnostics_set_callback`. It may be called
/// from any thread, several at once (including oxray's sender thread), so it must be
/// thread-safe; it should return quickly and must not unwind (no C++ exception, no longjmp)
/// across oxray.
pub type oxray_diagnostics_callback = Option<
    unsafe extern "C" fn(level: oxray_level, message: *const c_char, user_data: *mut c_void),
>;

/// The user's pointer, passed back untouched. The callback's contract makes it thread-safe.
struct UserData(*mut c_void);
// SAFETY: oxray never dereferences the pointer; the caller promises the callback may be
// called with it from any thread.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

impl UserData {
    /// Through a method, so closures capture the whole (Send + Sync) wrapper.
    fn get(&self) -> *mut c_void {
        self.0
    }
}

fn level_of(level: Level) -> oxray_level {
    match level {
        Level::Debug => oxray_level::OXRAY_LEVEL_DEBUG,
        Level::Warn => oxray_level::OXRAY_LEVEL_WARN,
        Level::Error => oxray_level::OXRAY_LEVEL_ERROR,
    }
}

/// Sends oxray's diagnostics (for the whole process) to `callback` instead of stderr, where
/// they go by default as `oxray: <level>: <message>`. NULL restores stderr.
#[no_mangle]
pub extern "C" fn oxray_diagnostics_set_callback(
    callback: oxray_diagnostics_callback,
    user_data: *mut c_void,
) -> oxray_status {
    firewall!({
        let Some(callback) = callback else {
            diag::set_sink(None);
            return Ok(());
        };
        let user_data = UserData(user_data);
        diag::set_sink(Some(Arc::new(move |level: Level, message: &str| {
            let text = CString::new(message.replace('\0', "\u{fffd}")).unwrap_or_default();
            // SAFETY: the callback's contract (see oxray_diagnostics_callback).
            unsafe { callback(level_of(level), text.as_ptr(), user_data.get()) };
        })));
        Ok(())
    })
}

/// Diagnostics below `level` (an `oxray_level` value) are discarded; the default is
/// `OXRAY_LEVEL_WARN`. Another value is `OXRAY_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn oxray_diagnostics_set_level(level: i32) -> oxray_status {
    firewall!({
        let level = match level {
            0 => Level::Debug,
            1 => Level::Warn,
            2 => Level::Error,
            other => {
                return Err(Failure::new(
                    OXRAY_INVALID_ARGUMENT,
                    format!("level {other} is not an oxray_level value"),
                ))
            }
        };
        diag::set_min_level(level);
        Ok(())
    })
}
