//! Diagnostics: where the core's warnings and errors go.
//!
//! The core never prints into user output on its own terms: it hands each message to a sink.
//! The default sink writes `oxray: <level>: <message>` to stderr; bindings install a sink that
//! forwards to their language's logger (Python `logging.getLogger("oxray")`, Node's console).

use std::sync::{Arc, RwLock};

/// Severity of a diagnostic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Warn => "warning",
            Level::Error => "error",
        }
    }
}

/// A diagnostics sink.
pub type Sink = Arc<dyn Fn(Level, &str) + Send + Sync>;

static SINK: RwLock<Option<Sink>> = RwLock::new(None);
static MIN_LEVEL: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(1);

/// Installs `sink` for all future diagnostics (None restores stderr).
pub fn set_sink(sink: Option<Sink>) {
    if let Ok(mut guard) = SINK.write() {
        *guard = sink;
    }
}

/// Diagnostics below `level` are discarded (default: [`Level::Warn`]).
pub fn set_min_level(level: Level) {
    MIN_LEVEL.store(level as u8, std::sync::atomic::Ordering::Relaxed);
}

/// Reports one diagnostic.
pub fn report(level: Level, message: &str) {
    if (level as u8) < MIN_LEVEL.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let sink = SINK.read().ok().and_then(|g| g.clone());
    match sink {
        Some(sink) => sink(level, message),
        None => eprintln!("oxray: {}: {message}", level.as_str()),
    }
}

/// Reports a warning.
pub fn warn(message: &str) {
    report(Level::Warn, message)
}

/// Reports an error.
pub fn error(message: &str) {
    report(Level::Error, message)
}
