//! Diagnostics bridge: the core's warnings reach a JavaScript callback from any thread.
//!
//! The core may report from its background sender thread, where JavaScript cannot run. The
//! sink therefore hands each message to a weak, non-blocking threadsafe function: it is
//! delivered on the event loop, never keeps the process alive, and a full queue drops the
//! message instead of blocking the caller.

use std::sync::Arc;

use napi::bindgen_prelude::{FnArgs, Function};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;
use oxray_core::diag::{self, Level};

/// Most diagnostics waiting for the event loop; beyond this they are dropped.
const QUEUE_BOUND: usize = 1024;

/// Routes every core diagnostic at `min_level` (`debug`, `warn` or `error`) or above to
/// `callback(level, message)`, called asynchronously on the event loop. Replaces any
/// previously installed callback.
#[napi]
pub fn install_diagnostics(
    callback: Function<FnArgs<(String, String)>, ()>,
    min_level: String,
) -> napi::Result<()> {
    let tsfn = callback
        .build_threadsafe_function::<FnArgs<(String, String)>>()
        .weak::<true>()
        .max_queue_size::<QUEUE_BOUND>()
        .build()?;
    let sink: diag::Sink = Arc::new(move |level: Level, message: &str| {
        // NonBlocking: a full queue drops the message rather than stall the sender thread.
        let _ = tsfn.call(
            FnArgs::from((level.as_str().to_string(), message.to_string())),
            ThreadsafeFunctionCallMode::NonBlocking,
        );
    });
    diag::set_min_level(match min_level.as_str() {
        "debug" => Level::Debug,
        "error" | "silent" => Level::Error,
        _ => Level::Warn,
    });
    diag::set_sink(Some(sink));
    Ok(())
}
