//! `oxray_entity`: segments, subsegments and Lambda facades — lifecycle, identity,
//! annotations, metadata, flags, namespace and the outgoing trace header.
//!
//! Structured fields (http, aws, sql, exceptions) are in [`crate::fields`].

use std::ffi::c_char;

use oxray_core::{AnnotationValue, Entity, Namespace};

use crate::cstr;
use crate::error::{Failure, Outcome};
use crate::handles::Registry;
use crate::status::{oxray_status, OXRAY_INVALID_ARGUMENT};

/// A segment, subsegment or Lambda facade. Opaque: the pointer value is a token, never
/// dereference it. Made by `oxray_recorder_begin_segment`, `oxray_recorder_lambda_facade`,
/// `oxray_entity_begin_subsegment` and the `oxray_current_*` calls; released by
/// `oxray_entity_free`. Handles may be used from any thread.
pub struct oxray_entity {
    _opaque: [u8; 0],
}

static ENTITIES: Registry<Entity> = Registry::new("entity", 2);

/// Registers an entity and returns a new handle for C.
pub(crate) fn entity_handle(entity: Entity) -> *mut oxray_entity {
    ENTITIES.insert(entity)
}

/// The entity behind a handle.
pub(crate) fn entity_of(handle: *const oxray_entity) -> Outcome<Entity> {
    ENTITIES.get(handle, "entity")
}

/// Begins a subsegment under `parent` (any entity, ended or not; under an unsampled parent the
/// child is unsampled and records nothing). The name is sanitized to the X-Ray charset and 200
/// characters (a warning is logged if it changed). Free the new handle with
/// `oxray_entity_free`.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn oxray_entity_begin_subsegment(
    parent: *const oxray_entity,
    name: *const c_char,
    out: *mut *mut oxray_entity,
) -> oxray_status {
    firewall!({
        // SAFETY: forwarded from this function's contract.
        unsafe { cstr::store(out, std::ptr::null_mut(), "out")? };
        let parent = entity_of(parent)?;
        // SAFETY: as above.
        let name = unsafe { cstr::required(name, "name") }?;
        let child = parent.begin_subsegment(name);
        // SAFETY: out is writable (checked above).
        unsafe { out.write(entity_handle(child)) };
        Ok(())
    })
}

/// Releases a handle. The entity itself lives on while other handles, open children or the
/// thread's current-entity slot refer to it. An entity released without `oxray_entity_end`
/// is sent as in progress (with the closed children it held), so completed work is never
/// lost. NULL and handles already freed are ignored; using a freed handle is answered with
/// `OXRAY_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn oxray_entity_free(entity: *mut oxray_entity) {
    firewall!(or(), {
        drop(ENTITIES.remove(entity));
    })
}

/// Ends the entity now. A segment is sent; a subsegment is embedded in its open parent's
/// document (or sent on its own under a Lambda facade, or if the parent has ended or is full).
/// `OXRAY_ALREADY_ENDED` the second time.
#[no_mangle]
pub extern "C" fn oxray_entity_end(entity: *const oxray_entity) -> oxray_status {
    firewall!({ Ok(entity_of(entity)?.end()?) })
}

/// Sends an in-progress document for this open entity now (for long-running work), without
/// its children. The complete document sent at `oxray_entity_end` replaces it. One per entity:
/// a second call returns `OXRAY_OK` and sends nothing. `OXRAY_ALREADY_ENDED` once ended,
/// `OXRAY_INVALID_ARGUMENT` on a Lambda facade (never sent), `OXRAY_OK` and nothing when the
/// entity is not sampled.
#[no_mangle]
pub extern "C" fn oxray_entity_send_in_progress(entity: *const oxray_entity) -> oxray_status {
    firewall!({ Ok(entity_of(entity)?.send_in_progress()?) })
}

/// The body of the entity's text getters: `text` of the entity, written to `buf` by the
/// buffer convention (see `oxray_entity_outgoing_header`), inside the firewall.
///
/// # Safety
/// `buf` must be NULL or point to `len` writable bytes; `needed` NULL or writable.
unsafe fn write_text_of(
    entity: *const oxray_entity,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
    text: impl FnOnce(&Entity) -> String,
) -> oxray_status {
    firewall!({
        let text = text(&entity_of(entity)?);
        // SAFETY: forwarded from our caller's contract.
        unsafe { cstr::write(&text, buf, len, needed) }
    })
}

/// Writes the entity's id (16 lowercase hex digits) to `buf`; needs 17 bytes
/// (`OXRAY_ENTITY_ID_SIZE`). Buffer convention as for `oxray_entity_outgoing_header`.
///
/// # Safety
/// `buf` must be NULL or point to `len` writable bytes; `needed` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn oxray_entity_id(
    entity: *const oxray_entity,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> oxray_status {
    // SAFETY: forwarded from this function's contract.
    unsafe { write_text_of(entity, buf, len, needed, |e| e.id().to_string()) }
}

/// Writes the entity's trace id (`1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx`) to `buf`; needs 36
/// bytes (`OXRAY_TRACE_ID_SIZE`).
///
/// # Safety
/// As `oxray_entity_id`.
#[no_mangle]
pub unsafe extern "C" fn oxray_entity_trace_id(
    entity: *const oxray_entity,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> oxray_status {
    // SAFETY: forwarded from this function's contract.
    unsafe { write_text_of(entity, buf, len, needed, |e| e.trace_id().to_string()) }
}

/// Writes the parent's id (a subsegment's parent, or a segment's upstream parent from the
/// incoming header) to `buf`, or the empty string when there is none.
///
/// # Safety
/// As `oxray_entity_id`.
#[no_mangle]
pub unsafe extern "C" fn oxray_entity_parent_id(
    entity: *const oxray_entity,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> oxray_status {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        write_text_of(entity, buf, len, needed, |e| {
            e.parent_id().map(|id| id.to_string()).unwrap_or_default()
        })
    }
}

/// Sets `*out` to whether the entity's trace is recorded. Unsampled entities accept every
/// call and record nothing.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn oxray_entity_is_sampled(
    entity: *const oxray_entity,
    out: *mut bool,
) -> oxray_status {
    firewall!({
        let sampled = entity_of(entity)?.is_sampled();
        // SAFETY: forwarded from this function's contract.
        unsafe { cstr::store(out, sampled, "out") }
    })
}

/// Writes the `X-Amzn-Trace-Id` value to send on a downstream call made inside this entity:
/// `Root=…;Parent=<this id>;Sampled=0|1`, plus the Lineage and extra keys of the incoming
/// header. `*needed` (if not NULL) receives the size including the NUL; if `len` is smaller,
/// `buf[0]` is set to NUL and the call answers `OXRAY_BUFFER_TOO_SMALL`. `buf` may be NULL when
/// `len` is 0, to ask for the size. Every string-returning call follows this convention.
///
/// # Safety
/// As `oxray_entity_id`.
#[no_mangle]
pub unsafe extern "C" fn oxray_entity_outgoing_header(
    entity: *const oxray_entity,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> oxray_status {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        write_text_of(entity, buf, len, needed, |e| {
            e.outgoing_header().to_string()
        })
    }
}

/// Writes the document this entity would send now, as JSON text: in progress, with the
/// children closed so far embedded. Reading sends and counts nothing: it is for looking at an
/// open entity (the SDKs' `serialize()`). The empty string when there is no such document:
/// the entity is not sampled, has ended (its document was sent), or is a Lambda facade. The
/// document grows as the entity records more, so a size asked for first may no longer be
/// enough by the second call (`OXRAY_BUFFER_TOO_SMALL` again, with the new size).
///
/// # Safety
/// As `oxray_entity_id`.
#[no_mangle]
pub unsafe extern "C" fn oxray_entity_document(
    entity: *const oxray_entity,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> oxray_status {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        write_text_of(entity, buf, len, needed, |e| {
            e.document_now().unwrap_or_default()
        })
    }
}

/// # Safety
/// `key` must be NULL or a NUL-terminated string.
unsafe fn put_annotation(
    entity: *const oxray_entity,
    key: *const c_char,
    value: impl FnOnce() -> Outcome<AnnotationValue>,
) -> Outcome {
    let entity = entity_of(entity)?;
    // SAFETY: forwarded from the caller.
    let key = unsafe { cstr::required(key, "key") }?;
    Ok(entity.put_annotation(key, value()?)?)
}

/// Adds or replaces a string annotation (indexed for filter expressions). The key is cleaned
/// to `[A-Za-z0-9_]` (with a warning); an empty key is `OXRAY_INVALID_ARGUMENT`. Values over
/// 1,000 characters are truncated with a warning.
///
/// # Safety
/// `key`, `value`: NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn oxray_entity_put_annotation_string(
    entity: *const oxray_entity,
    key: *const c_char,
    value: *const c_char,
) -> oxray_status {
    firewall!({
        let entity = entity_of(entity)?;
        // SAFETY: forwarded from this function's contract.
        let (key, value) =
            unsafe { (cstr::required(key, "key")?, cstr::required(value, "value")?) };
        // Lent, not copied into a String here: the entity copies it into a recycled buffer.
        Ok(entity.put_annotation_str(key, value)?)
    })
}

/// Adds or replaces an integer annotation.
///
/// # Safety
/// `key`: NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn oxray_entity_put_annotation_int64(
    entity: *const oxray_entity,
    key: *const c_char,
    value: i64,
) -> oxray_status {
    // SAFETY: forwarded from this function's contract.
    firewall!({ unsafe { put_annotation(entity, key, || Ok(AnnotationValue::Int(value))) } })
}

/// Adds or replaces a number annotation. NaN and infinities, which JSON cannot hold, are
/// recorded as strings with a warning.
///
/// # Safety
/// `key`: NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn oxray_entity_put_annotation_double(
    entity: *const oxray_entity,
    key: *const c_char,
    value: f64,
) -> oxray_status {
    // SAFETY: forwarded from this function's contract.
    firewall!({ unsafe { put_annotation(entity, key, || Ok(AnnotationValue::Float(value))) } })
}

/// Adds or replaces a boolean annotation.
///
/// # Safety
/// `key`: NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn oxray_entity_put_annotation_bool(
    entity: *const oxray_entity,
    key: *const c_char,
    value: bool,
) -> oxray_status {
    // SAFETY: forwarded from this function's contract.
    firewall!({ unsafe { put_annotation(entity, key, || Ok(AnnotationValue::Bool(value))) } })
}

/// Adds or replaces a metadata value (not indexed; any JSON). `namespace` NULL means
/// `default`; namespaces starting with `AWS.` are `OXRAY_RESERVED_NAMESPACE`. `json_value`
/// must be one JSON value (`"text"`, `42`, `{"a":[1,2]}`, …), else `OXRAY_INVALID_JSON`.
///
/// # Safety
/// `namespace`, `key`, `json_value`: NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn oxray_entity_put_metadata(
    entity: *const oxray_entity,
    namespace: *const c_char,
    key: *const c_char,
    json_value: *const c_char,
) -> oxray_status {
    firewall!({
        let entity = entity_of(entity)?;
        // SAFETY: forwarded from this function's contract.
        let (namespace, key, json) = unsafe {
            (
                cstr::optional(namespace, "namespace")?,
                cstr::required(key, "key")?,
                cstr::required(json_value, "json_value")?,
            )
        };
        Ok(entity.put_metadata_json(namespace, key, json)?)
    })
}

/// Sets or clears the `error` flag (a client error, 4xx).
#[no_mangle]
pub extern "C" fn oxray_entity_set_error(entity: *const oxray_entity, on: bool) -> oxray_status {
    firewall!({ Ok(entity_of(entity)?.set_error(on)?) })
}

/// Sets or clears the `fault` flag (a server error, 5xx).
#[no_mangle]
pub extern "C" fn oxray_entity_set_fault(entity: *const oxray_entity, on: bool) -> oxray_status {
    firewall!({ Ok(entity_of(entity)?.set_fault(on)?) })
}

/// Sets or clears the `throttle` flag (429).
#[no_mangle]
pub extern "C" fn oxray_entity_set_throttle(entity: *const oxray_entity, on: bool) -> oxray_status {
    firewall!({ Ok(entity_of(entity)?.set_throttle(on)?) })
}

/// Sets the subsegment's `namespace`: `"aws"` (a call through an AWS SDK) or `"remote"` (any
/// other downstream call); NULL clears it (local work has none). Anything else, including
/// `"local"`, is `OXRAY_INVALID_ARGUMENT`.
///
/// # Safety
/// `namespace`: NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn oxray_entity_set_namespace(
    entity: *const oxray_entity,
    namespace: *const c_char,
) -> oxray_status {
    firewall!({
        let entity = entity_of(entity)?;
        // SAFETY: forwarded from this function's contract.
        let text = unsafe { cstr::optional(namespace, "namespace") }?;
        let namespace = match text {
            None => None,
            Some(t) => Some(Namespace::parse(t).ok_or_else(|| {
                Failure::new(
                    OXRAY_INVALID_ARGUMENT,
                    format!(
                        "namespace {t:?} is not \"aws\" or \"remote\" (pass NULL for local work)"
                    ),
                )
            })?),
        };
        Ok(entity.set_namespace(namespace)?)
    })
}
