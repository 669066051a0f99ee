//! The thread-local "current entity": a convenience for C code that does not want to pass
//! parent handles around. Each thread has its own slot; nothing is shared between threads.

use std::cell::RefCell;
use std::ffi::c_char;

use oxray_core::sampling::SamplingRequest;
use oxray_core::{Entity, Sampled, TraceHeader};

use crate::cstr;
use crate::entity::{entity_handle, entity_of, oxray_entity};
use crate::error::{Failure, Outcome};
use crate::recorder::{oxray_recorder, recorder_of};
use crate::status::{oxray_status, OXRAY_CONTEXT_MISSING};

thread_local! {
    static CURRENT: RefCell<Option<Entity>> = const { RefCell::new(None) };
}

fn current() -> Option<Entity> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// Makes `entity` the calling thread's current entity. The slot holds its own reference:
/// freeing the handle afterwards is fine. Replaces any previous current entity.
#[no_mangle]
pub extern "C" fn oxray_current_set(entity: *const oxray_entity) -> oxray_status {
    firewall!({
        let e = entity_of(entity)?;
        // The old value is dropped outside the borrow (dropping may emit a document).
        let old = CURRENT
            .try_with(|c| c.borrow_mut().replace(e))
            .map_err(|_| Failure::new(OXRAY_CONTEXT_MISSING, "thread is exiting"))?;
        drop(old);
        Ok(())
    })
}

/// Sets `*out` to a new handle on the calling thread's current entity (free it with
/// `oxray_entity_free`). With none, `*out` is NULL and the answer is `OXRAY_CONTEXT_MISSING`;
/// this query never logs (the context-missing strategy applies to
/// `oxray_current_begin_subsegment`).
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn oxray_current_get(out: *mut *mut oxray_entity) -> oxray_status {
    firewall!({
        // SAFETY: forwarded from this function's contract.
        unsafe { cstr::store(out, std::ptr::null_mut(), "out")? };
        let e = current().ok_or_else(|| {
            Failure::new(
                OXRAY_CONTEXT_MISSING,
                "no current entity on this thread (see oxray_current_set)",
            )
        })?;
        // SAFETY: out is writable (checked above).
        unsafe { out.write(entity_handle(e)) };
        Ok(())
    })
}

/// Empties the calling thread's current-entity slot (does nothing if it is empty).
#[no_mangle]
pub extern "C" fn oxray_current_clear() {
    firewall!(or(), {
        let old = CURRENT.try_with(|c| c.borrow_mut().take()).ok().flatten();
        drop(old);
    })
}

/// An unsampled stand-in entity: every call on it succeeds and records nothing.
fn stand_in(recorder: &oxray_core::Recorder) -> Entity {
    let unsampled = TraceHeader {
        sampled: Some(Sampled::No),
        ..TraceHeader::default()
    };
    recorder.begin_segment(None, Some(&unsampled), &SamplingRequest::default())
}

fn begin_under_current(recorder: &oxray_core::Recorder, name: &str) -> Outcome<Entity> {
    match current() {
        Some(parent) => Ok(parent.begin_subsegment(name)),
        None => {
            recorder.context_missing(&format!("cannot begin subsegment {name:?}"))?;
            Ok(stand_in(recorder))
        }
    }
}

/// Begins a subsegment under the calling thread's current entity (the current entity does
/// not change: call `oxray_current_set` with the new handle to descend). With no current
/// entity the recorder's context-missing strategy decides: `RUNTIME_ERROR` answers
/// `OXRAY_CONTEXT_MISSING` with `*out` NULL; `LOG_ERROR` (the default) logs a warning and
/// `IGNORE_ERROR` stays silent, and both return a stand-in handle that accepts every call and
/// records nothing, so the caller's code runs the same way.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn oxray_current_begin_subsegment(
    recorder: *const oxray_recorder,
    name: *const c_char,
    out: *mut *mut oxray_entity,
) -> oxray_status {
    firewall!({
        // SAFETY: forwarded from this function's contract.
        unsafe { cstr::store(out, std::ptr::null_mut(), "out")? };
        let handle = recorder_of(recorder)?;
        // SAFETY: as above.
        let name = unsafe { cstr::required(name, "name") }?;
        let child = begin_under_current(&handle.recorder, name)?;
        // SAFETY: out is writable (checked above).
        unsafe { out.write(entity_handle(child)) };
        Ok(())
    })
}
