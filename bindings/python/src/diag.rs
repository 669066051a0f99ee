//! Core diagnostics → Python `logging.getLogger("oxray")`.
//!
//! The core may report from any thread, including its sender thread while the interpreter
//! shuts down. Taking the GIL there could deadlock, so the sink only queues the message (a
//! bounded queue, no Python involved). Every native call that can produce a message drains the
//! queue before it returns, with the GIL already held, so a warning caused by a call is logged
//! before that call returns; messages from other threads are logged on the next call.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use oxray_core::diag::{self, Level};
use pyo3::prelude::*;

const MAX_QUEUED: usize = 1000;

static QUEUE: Mutex<VecDeque<(Level, String)>> = Mutex::new(VecDeque::new());
static PENDING: AtomicBool = AtomicBool::new(false);
static LOST: AtomicU64 = AtomicU64::new(0);

/// Routes core diagnostics into the queue (called once, at module import).
pub fn install() {
    diag::set_sink(Some(Arc::new(|level: Level, message: &str| {
        let mut q = QUEUE.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= MAX_QUEUED {
            LOST.fetch_add(1, Ordering::Relaxed);
            return;
        }
        q.push_back((level, message.to_string()));
        PENDING.store(true, Ordering::Release);
    })));
}

/// Logs queued messages if there are any. Cheap when there are none (one atomic load).
#[inline]
pub fn drain(py: Python<'_>) {
    if PENDING.load(Ordering::Acquire) {
        drain_slow(py);
    }
}

#[cold]
fn drain_slow(py: Python<'_>) {
    let messages: Vec<(Level, String)> = {
        let mut q = QUEUE.lock().unwrap_or_else(|e| e.into_inner());
        PENDING.store(false, Ordering::Release);
        q.drain(..).collect()
    };
    let lost = LOST.swap(0, Ordering::Relaxed);
    let logger = match py
        .import("logging")
        .and_then(|m| m.call_method1("getLogger", ("oxray",)))
    {
        Ok(l) => l,
        Err(_) => return,
    };
    for (level, message) in messages {
        let method = match level {
            Level::Debug => "debug",
            Level::Warn => "warning",
            Level::Error => "error",
        };
        // A failing log handler must not turn into an exception in user code.
        let _ = logger.call_method1(method, (message,));
    }
    if lost > 0 {
        let _ = logger.call_method1(
            "warning",
            (format!(
                "{lost} oxray diagnostic message(s) were dropped (queue full)"
            ),),
        );
    }
}

/// Logs everything queued so far (diagnostics from other threads, e.g. the sender).
/// With nothing queued it does nothing: in particular it does not import `logging`, which
/// would cost a process that exits more than the whole of `import oxray`.
#[pyfunction]
pub fn drain_logs(py: Python<'_>) {
    if PENDING.load(Ordering::Acquire) || LOST.load(Ordering::Relaxed) > 0 {
        drain_slow(py);
    }
}

/// Also forward debug-level diagnostics (`POWERTOOLS_DEBUG` / `OXRAY_DEBUG`).
#[pyfunction]
pub fn set_debug(on: bool) {
    diag::set_min_level(if on { Level::Debug } else { Level::Warn });
}
