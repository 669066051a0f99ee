//! Recorder functions: configuration, facades, segments, flushing and counters.

use std::sync::Arc;
use std::time::Duration;

use napi_derive::napi;
use oxray_core::emit::udp::UdpEmitter;
use oxray_core::{Config, EmitMode, Recorder, TraceHeader};

use crate::emitter::QueueWithBackpressure;
use crate::sampling::SamplingRequestInput;

use crate::state;

/// Counters of sent, dropped, truncated and streamed documents, and warnings.
#[napi(object)]
pub struct Counters {
    pub sent: f64,
    pub dropped: f64,
    pub truncated: f64,
    pub streamed: f64,
    pub send_errors: f64,
    pub warnings: f64,
    /// Entities this thread's handle table holds.
    pub handles: f64,
}

/// (Re)creates this thread's recorder from the environment, then `configJson` (keys of the
/// core's `Config::apply_json`, e.g. `{"emit_mode":"memory"}`). Returns null on success, or
/// the reason the configuration was refused (nothing changes then). `background` (the
/// default) is the core's sender thread with back-pressure (see `emitter.rs`).
#[napi]
pub fn init(config_json: Option<String>) -> Option<String> {
    let mut config = Config::from_env();
    if let Some(text) = config_json {
        if let Err(e) = config.apply_json(&text) {
            return Some(e.to_string());
        }
    }
    if matches!(config.emit_mode, EmitMode::Background) {
        let (daemon, capacity) = (config.daemon.udp, config.queue_capacity);
        let mut queue = None;
        let recorder = Recorder::with_emitter(config, |counters| {
            let udp = Arc::new(UdpEmitter::new(daemon, Arc::clone(&counters)));
            let q = Arc::new(QueueWithBackpressure::new(udp, capacity, counters));
            queue = Some(Arc::clone(&q));
            q
        });
        state::install(recorder, queue);
    } else {
        state::install(Recorder::new(config), None);
    }
    None
}

/// True once [`init`] succeeded in this thread.
#[napi]
pub fn is_initialized() -> bool {
    state::with(|_| ()).is_some()
}

/// Handle of the Lambda facade for an invocation: from `header` if given, else
/// `_X_AMZN_TRACE_ID`. Unsampled (records nothing) when the header is missing or unusable.
#[napi]
pub fn facade(header: Option<String>) -> u32 {
    match state::with(|s| s.recorder.lambda_facade(header.as_deref())) {
        Some(entity) => state::insert(entity),
        None => 0,
    }
}

/// Begins a segment (server mode), continuing the trace of `header` when it is valid (a bad
/// one is logged, counted and ignored). The header's `Sampled=1`/`0` decides; otherwise
/// (`Sampled=?`, no header) the sampler does, by `request`'s attributes. 0 before `init`.
#[napi]
pub fn begin_segment(
    name: Option<String>,
    header: Option<String>,
    request: Option<SamplingRequestInput>,
) -> u32 {
    let request = request.unwrap_or_default();
    let entity = state::with(|s| {
        let incoming = header.and_then(|h| match TraceHeader::parse(&h) {
            Ok(parsed) => Some(parsed),
            Err(e) => {
                s.recorder
                    .warn(&format!("incoming trace header ignored: {e}"));
                None
            }
        });
        s.recorder
            .begin_segment(name.as_deref(), incoming.as_ref(), &request.as_core())
    });
    entity.map(state::insert).unwrap_or(0)
}

/// Sends everything completed so far and waits (at most `timeoutMs`) until it left.
/// Returns false on timeout or before [`init`].
#[napi]
pub fn flush(timeout_ms: Option<u32>) -> bool {
    let recorder = state::with(|s| s.recorder.clone());
    recorder
        .map(|r| r.flush(Duration::from_millis(u64::from(timeout_ms.unwrap_or(1000)))))
        .unwrap_or(false)
}

#[napi]
pub fn counters() -> Counters {
    state::with(|s| {
        let c = s.recorder.counters();
        Counters {
            sent: c.sent as f64,
            dropped: c.dropped as f64,
            truncated: c.truncated as f64,
            streamed: c.streamed as f64,
            send_errors: c.send_errors as f64,
            warnings: c.warnings as f64,
            handles: s.slab.len() as f64,
        }
    })
    .unwrap_or(Counters {
        sent: 0.0,
        dropped: 0.0,
        truncated: 0.0,
        streamed: 0.0,
        send_errors: 0.0,
        warnings: 0.0,
        handles: 0.0,
    })
}

/// Logs and counts a tracing problem found by the JavaScript layer.
#[napi]
pub fn warn(message: String) {
    state::with(|s| s.recorder.warn(&message));
}

/// Documents sent so far, in memory mode (empty otherwise).
#[napi]
pub fn take_documents() -> Vec<String> {
    state::with(|s| s.recorder.take_documents()).unwrap_or_default()
}
