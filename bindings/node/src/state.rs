//! Per-thread state: the recorder and the handle table of one JavaScript thread.
//!
//! Each JavaScript thread (main or worker) has its own state, so no lock is taken on the
//! hot path and handles never cross threads.

use std::cell::RefCell;

use std::sync::Arc;

use oxray_core::{Entity, Recorder};

use crate::emitter::QueueWithBackpressure;
use crate::server::ResponseEnd;
use crate::slab::Slab;

pub struct State {
    pub recorder: Recorder,
    /// The recorder's emitter when it is the background queue (it can send on the caller).
    pub queue: Option<Arc<QueueWithBackpressure>>,
    pub slab: Slab,
    /// Server mode's requests whose responses ended, to be ended by the next flush
    /// (`server::end_request_later`).
    pub noted_ends: Vec<ResponseEnd>,
}

impl Drop for State {
    /// The thread is ending (a worker terminated before its flush ran, say): the noted requests
    /// are ended as they would have been, before the slab releases what is still open.
    fn drop(&mut self) {
        crate::server::end_noted_on_release(self);
    }
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// Replaces this thread's state.
pub fn install(recorder: Recorder, queue: Option<Arc<QueueWithBackpressure>>) {
    let replaced = STATE.with(|s| {
        s.borrow_mut().replace(State {
            recorder,
            queue,
            slab: Slab::default(),
            noted_ends: Vec::new(),
        })
    });
    // Dropped once the state is no longer borrowed: its drop ends what it noted.
    drop(replaced);
}

/// Runs `f` on this thread's state; None before [`install`].
pub fn with<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    STATE.with(|s| s.borrow_mut().as_mut().map(f))
}

/// Runs `f` on the entity behind `handle`; None if the handle is not current.
pub fn with_entity<R>(handle: u32, f: impl FnOnce(&Entity) -> R) -> Option<R> {
    // Clone the handle out of the table first: core calls may report diagnostics, and the
    // entity must not be used while the table is borrowed.
    let entity = with(|s| s.slab.get(handle).cloned()).flatten()?;
    Some(f(&entity))
}

/// Stores `entity` and returns its handle; 0 (and a counted warning) when the table is full.
pub fn insert(entity: Entity) -> u32 {
    with(|s| match s.slab.insert(entity) {
        Some(h) => h,
        None => {
            s.recorder.warn(&format!(
                "more than {} open entities in this thread; new ones are not recorded",
                crate::slab::MAX_SLOTS
            ));
            0
        }
    })
    .unwrap_or(0)
}
