//! One Lambda invocation in two native calls: [`begin_invocation`] makes the handler
//! subsegment under the invocation's facade and annotates it; [`end_invocation`] ends it,
//! reports the subsegments it left running, and sends everything before the handler returns.

use std::time::Duration;

use napi_derive::napi;
use oxray_core::{AnnotationValue, Entity};

use crate::state;

/// Begins the handler subsegment `name` under the facade of `header` (else
/// `_X_AMZN_TRACE_ID`) and annotates it with `ColdStart` and `Service`. Returns its handle
/// (its entity keeps the facade alive), or 0 before `init`.
#[napi]
pub fn begin_invocation(
    header: Option<String>,
    name: String,
    cold_start: bool,
    service: String,
) -> u32 {
    begin(header.as_deref(), &name, cold_start, &service)
}

/// [`begin_invocation`] for Rust callers (the raw `beginInvocationNamed` of `fast.rs`).
pub fn begin(header: Option<&str>, name: &str, cold_start: bool, service: &str) -> u32 {
    let Some(facade) = state::with(|s| s.recorder.lambda_facade(header)) else {
        return 0;
    };
    let handler = facade.begin_subsegment(name);
    // Both keys are valid and the values are short: these cannot be refused.
    let _ = handler.put_annotation("ColdStart", AnnotationValue::Bool(cold_start));
    let _ = handler.put_annotation("Service", AnnotationValue::Str(service.to_owned()));
    state::insert(handler)
}

/// True when `ancestor` is `entity`'s parent, grandparent, ….
fn descends_from(entity: &Entity, ancestor: &Entity) -> bool {
    let mut parent = entity.parent();
    while let Some(p) = parent {
        if p.same_as(ancestor) {
            return true;
        }
        parent = p.parent();
    }
    false
}

/// Ends the handler subsegment (if still open), sends an in-progress document for each of its
/// descendants still open (their final documents replace these when they end), and sends
/// everything from the calling thread, waiting at most `timeoutMs` for documents the sender
/// thread already took. Returns false on timeout or before `init`.
#[napi]
pub fn end_invocation(handler: u32, timeout_ms: u32) -> bool {
    let Some((recorder, queue)) = state::with(|s| (s.recorder.clone(), s.queue.clone())) else {
        return false;
    };
    let timeout = Duration::from_millis(u64::from(timeout_ms));
    let finish = || finish_handler(handler);
    match queue {
        // Children still held by open parents are streamed too (Recorder::flush's job).
        Some(queue) => queue.on_caller(timeout, || {
            finish();
            recorder.flush_on_caller(timeout);
        }),
        None => {
            finish();
            recorder.flush_on_caller(timeout)
        }
    }
}

/// Ends the handler if it is open and sends an in-progress document for each open descendant.
fn finish_handler(handler: u32) {
    if crate::entity::is_open(handler) {
        crate::entity::end(handler);
    }
    let running = state::with(|s| {
        let handler = s.slab.get(handler)?;
        Some(
            s.slab
                .open_handles()
                .iter()
                .filter_map(|&h| s.slab.get(h))
                .filter(|e| descends_from(e, handler))
                .cloned()
                .collect::<Vec<Entity>>(),
        )
    })
    .flatten()
    .unwrap_or_default();
    for entity in running {
        let _ = entity.send_in_progress();
    }
}
