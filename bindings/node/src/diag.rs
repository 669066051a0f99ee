//! Diagnostics bridge: the core's warnings reach a JavaScript callback from any thread.
//!
//! The core may report from its background sender thread, where JavaScript cannot run. Each
//! JavaScript thread (main or worker) that loads oxray registers its own callback as a weak,
//! non-blocking threadsafe function: a message is delivered on an event loop, never keeps a
//! thread alive, and a full queue drops the message instead of blocking the caller.
//!
//! The core has one process-wide sink, but callbacks belong to threads that come and go
//! (worker threads). So the sink routes: a message reported on a JavaScript thread goes to
//! that thread's callback; one reported elsewhere (a sender thread), or on a thread whose
//! callback is gone, goes to the oldest callback still alive (normally the main thread's).
//! Callbacks of threads that ended are dropped on the first delivery that finds them closed;
//! with none left, messages go to stderr.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::{FnArgs, Function};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::Status;
use napi_derive::napi;
use oxray_core::diag::{self, Level};

/// Most diagnostics waiting for one event loop; beyond this they are dropped.
const QUEUE_BOUND: usize = 1024;

/// Hands one message to a thread's callback; false once that thread's callback is gone.
type Deliver = Arc<dyn Fn(Level, &str) -> bool + Send + Sync>;

/// Callbacks of the JavaScript threads that installed one, oldest first, with their ids.
static CALLBACKS: Mutex<Vec<(u64, Deliver)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Id of this thread's entry in [`CALLBACKS`] (0: none).
    static OWN_ID: Cell<u64> = const { Cell::new(0) };
}

fn callbacks() -> std::sync::MutexGuard<'static, Vec<(u64, Deliver)>> {
    CALLBACKS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The core's sink: this thread's callback first, then the others, oldest first.
fn route(level: Level, message: &str) {
    let own = OWN_ID.with(Cell::get);
    // Copied out so that no lock is held while calling into Node-API.
    let mut candidates: Vec<(u64, Deliver)> = callbacks().clone();
    if let Some(i) = candidates.iter().position(|(id, _)| *id == own) {
        let mine = candidates.remove(i);
        candidates.insert(0, mine);
    }
    for (id, deliver) in candidates {
        if deliver(level, message) {
            return;
        }
        callbacks().retain(|(other, _)| *other != id);
    }
    eprintln!("oxray: {}: {message}", level.as_str());
}

/// Routes every core diagnostic at `min_level` (`debug`, `warn` or `error`) or above to
/// `callback(level, message)`, called asynchronously on this thread's event loop. Replaces
/// the callback this thread installed before; other threads keep theirs.
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
    let deliver: Deliver = Arc::new(move |level: Level, message: &str| {
        // NonBlocking: a full queue drops the message rather than stall the sender thread.
        let status = tsfn.call(
            FnArgs::from((level.as_str().to_string(), message.to_string())),
            ThreadsafeFunctionCallMode::NonBlocking,
        );
        status != Status::Closing
    });
    let id = OWN_ID.with(|own| {
        if own.get() == 0 {
            own.set(NEXT_ID.fetch_add(1, Ordering::Relaxed));
        }
        own.get()
    });
    {
        let mut all = callbacks();
        match all.iter_mut().find(|(other, _)| *other == id) {
            Some(entry) => entry.1 = deliver,
            None => all.push((id, deliver)),
        }
    }
    diag::set_min_level(match min_level.as_str() {
        "debug" => Level::Debug,
        "error" | "silent" => Level::Error,
        _ => Level::Warn,
    });
    diag::set_sink(Some(Arc::new(route)));
    Ok(())
}
