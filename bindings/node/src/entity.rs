//! Entity functions: each takes the entity's handle (see [`crate::slab`]).
//!
//! Mutators return `true` when the change was recorded and `false` when it was not: a stale
//! handle, an ended entity, the read-only Lambda facade or a refused value (the core has then
//! logged and counted why). On an unsampled entity every call succeeds and records nothing.

use napi_derive::napi;
use oxray_core::entity::EntityKind;
use oxray_core::model::StackFrame;
use oxray_core::{AnnotationValue, EntityId, Exception, HttpRequest, Namespace, Sql};

use crate::state::{self, with_entity};

/// One stack frame of a recorded exception.
#[napi(object)]
pub struct Frame {
    pub path: Option<String>,
    pub line: Option<u32>,
    pub label: Option<String>,
}

/// An exception to record in `cause.exceptions`.
#[napi(object)]
pub struct ExceptionInput {
    pub type_name: Option<String>,
    pub message: Option<String>,
    pub remote: Option<bool>,
    pub stack: Option<Vec<Frame>>,
    /// Frames left out of `stack`.
    pub truncated: Option<u32>,
    pub working_directory: Option<String>,
}

/// `http.request` fields.
#[napi(object)]
pub struct HttpRequestInput {
    pub method: Option<String>,
    pub url: Option<String>,
    pub user_agent: Option<String>,
    pub client_ip: Option<String>,
    /// Subsegments: the downstream call carries this subsegment's id as its parent.
    pub traced: Option<bool>,
}

/// `sql` fields (`url` must not carry a password).
#[napi(object)]
pub struct SqlInput {
    pub url: Option<String>,
    pub connection_string: Option<String>,
    pub sanitized_query: Option<String>,
    pub database_type: Option<String>,
    pub database_version: Option<String>,
    pub driver_version: Option<String>,
    pub user: Option<String>,
    /// `call` or `statement`.
    pub preparation: Option<String>,
}

/// Begins a subsegment under `parent` (name sanitized by the core); 0 if `parent` is stale.
#[napi]
pub fn begin(parent: u32, name: String) -> u32 {
    begin_in(parent, &name)
}

/// [`begin`] for Rust callers.
pub fn begin_in(parent: u32, name: &str) -> u32 {
    match with_entity(parent, |p| p.begin_subsegment(name)) {
        Some(child) => state::insert(child),
        None => 0,
    }
}

/// Ends the entity now; false if it was already ended or the handle is stale.
#[napi]
pub fn end(handle: u32) -> bool {
    let ok = with_entity(handle, |e| e.end().is_ok()).unwrap_or(false);
    if ok {
        state::with(|s| s.slab.ended(handle));
    }
    ok
}

/// Drops the handle. An entity released while open is sent as in-progress (core rule).
#[napi]
pub fn release(handle: u32) {
    // Take the entity out first so its drop (which may emit) runs outside the table borrow.
    let entity = state::with(|s| s.slab.release(handle)).flatten();
    drop(entity);
}

/// 16 lowercase hex digits, or null for a stale handle.
#[napi]
pub fn entity_id(handle: u32) -> Option<String> {
    with_entity(handle, |e| e.id().to_string())
}

/// `1-<8 hex>-<24 hex>`, or null for a stale handle.
#[napi]
pub fn trace_id(handle: u32) -> Option<String> {
    with_entity(handle, |e| e.trace_id().to_string())
}

/// The parent's id (a segment's upstream parent), if any.
#[napi]
pub fn parent_id(handle: u32) -> Option<String> {
    with_entity(handle, |e| e.parent_id().map(|id| id.to_string())).flatten()
}

#[napi]
pub fn is_sampled(handle: u32) -> bool {
    with_entity(handle, |e| e.is_sampled()).unwrap_or(false)
}

/// True while the handle is current and its entity has not ended.
#[napi]
pub fn is_open(handle: u32) -> bool {
    with_entity(handle, |e| !e.is_ended()).unwrap_or(false)
}

/// The document the entity would send now, as JSON text: in progress, with the children
/// closed so far (`Entity::document_now`; sends and counts nothing). Null when there is none:
/// unsampled, ended, a facade, or a stale handle.
#[napi]
pub fn document_now(handle: u32) -> Option<String> {
    with_entity(handle, |e| e.document_now()).flatten()
}

/// `segment`, `subsegment`, `facade`, or null for a stale handle.
#[napi]
pub fn kind(handle: u32) -> Option<&'static str> {
    with_entity(handle, |e| match e.kind() {
        EntityKind::Segment => "segment",
        EntityKind::Subsegment => "subsegment",
        EntityKind::Facade => "facade",
    })
}

#[napi]
pub fn annotate_str(handle: u32, key: String, value: String) -> bool {
    with_entity(handle, |e| {
        e.put_annotation(&key, AnnotationValue::Str(value)).is_ok()
    })
    .unwrap_or(false)
}

/// Integral values within ±(2^53 − 1) are recorded as integers.
#[napi]
pub fn annotate_num(handle: u32, key: String, value: f64) -> bool {
    annotate(handle, &key, number_annotation(value))
}

/// A JavaScript number as an annotation: integral values within ±(2^53 − 1) as integers.
pub fn number_annotation(value: f64) -> AnnotationValue {
    const SAFE: f64 = 9_007_199_254_740_991.0;
    if value.fract() == 0.0 && value.abs() <= SAFE {
        AnnotationValue::Int(value as i64)
    } else {
        AnnotationValue::Float(value)
    }
}

/// Adds an annotation (the core checks and corrects the key and value).
pub fn annotate(handle: u32, key: &str, value: AnnotationValue) -> bool {
    with_entity(handle, |e| e.put_annotation(key, value).is_ok()).unwrap_or(false)
}

/// [`annotate`] with a string value the caller lends (copied into the record's recycled
/// buffers, no allocation per value).
pub fn annotate_text(handle: u32, key: &str, value: &str) -> bool {
    with_entity(handle, |e| e.put_annotation_str(key, value).is_ok()).unwrap_or(false)
}

#[napi]
pub fn annotate_bool(handle: u32, key: String, value: bool) -> bool {
    with_entity(handle, |e| {
        e.put_annotation(&key, AnnotationValue::Bool(value)).is_ok()
    })
    .unwrap_or(false)
}

/// `json` must be one valid JSON value produced by the JavaScript serializer
/// (`lib/serialize.js`, which guarantees it); it is not parsed again.
#[napi]
pub fn metadata(handle: u32, namespace: Option<String>, key: String, json: String) -> bool {
    put_metadata(handle, namespace.as_deref(), &key, &json)
}

/// [`metadata`] for Rust callers: the JSON text is lent (copied into the record's recycled
/// buffers, no allocation per value).
pub fn put_metadata(handle: u32, namespace: Option<&str>, key: &str, json: &str) -> bool {
    with_entity(handle, |e| {
        e.put_metadata_trusted_text(namespace, key, json).is_ok()
    })
    .unwrap_or(false)
}

/// [`metadata`] with the namespace and key given as interned names (see `internName`); the
/// namespace id 0 means `default`. The JSON text is lent, as in [`put_metadata`].
pub fn metadata_named(handle: u32, namespace: u32, key: u32, json: &str) -> bool {
    let Some(entity) = state::with(|s| s.slab.get(handle).cloned()).flatten() else {
        return false;
    };
    if !entity.is_sampled() {
        return true;
    }
    crate::names::with_pair(namespace, key, |namespace, key| {
        entity
            .put_metadata_trusted_text(namespace, key, json)
            .is_ok()
    })
    .unwrap_or(false)
}

/// `aws` or `remote`; anything else clears the namespace.
#[napi]
pub fn set_namespace(handle: u32, namespace: String) -> bool {
    with_entity(handle, |e| {
        e.set_namespace(Namespace::parse(&namespace)).is_ok()
    })
    .unwrap_or(false)
}

/// Sets `http.request` (string fields cut to 250 characters by the core).
#[napi]
pub fn http_request(handle: u32, request: HttpRequestInput) -> bool {
    with_entity(handle, |e| {
        e.set_http_request(HttpRequest {
            method: request.method,
            url: request.url,
            user_agent: request.user_agent,
            client_ip: request.client_ip,
            traced: request.traced.unwrap_or(false),
            ..HttpRequest::default()
        })
        .is_ok()
    })
    .unwrap_or(false)
}

/// Sets the `sql` block.
#[napi]
pub fn set_sql(handle: u32, sql: SqlInput) -> bool {
    with_entity(handle, |e| {
        e.set_sql(Sql {
            url: sql.url,
            connection_string: sql.connection_string,
            sanitized_query: sql.sanitized_query,
            database_type: sql.database_type,
            database_version: sql.database_version,
            driver_version: sql.driver_version,
            user: sql.user,
            preparation: sql.preparation,
        })
        .is_ok()
    })
    .unwrap_or(false)
}

/// Sets `http.response` and the error/throttle/fault flags its status implies.
#[napi]
pub fn http_response(handle: u32, status: Option<u32>, content_length: Option<f64>) -> bool {
    let status = status.and_then(|s| u16::try_from(s).ok());
    let length = content_length
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| n as i64);
    with_entity(handle, |e| e.set_http_response(status, length).is_ok()).unwrap_or(false)
}

/// Sets one key of the `aws` object from JSON text (validated).
#[napi]
pub fn set_aws(handle: u32, key: String, json: String) -> bool {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&json) else {
        return false;
    };
    with_entity(handle, |e| e.set_aws(&key, value).is_ok()).unwrap_or(false)
}

/// Sets the flags given as true (false leaves a flag as it is).
#[napi]
pub fn set_flags(handle: u32, error: bool, fault: bool, throttle: bool) -> bool {
    with_entity(handle, |e| {
        (!error || e.set_error(true).is_ok())
            && (!fault || e.set_fault(true).is_ok())
            && (!throttle || e.set_throttle(true).is_ok())
    })
    .unwrap_or(false)
}

/// Records an exception; returns its id (16 hex), or null if nothing was recorded.
#[napi]
pub fn add_exception(handle: u32, exception: ExceptionInput) -> Option<String> {
    with_entity(handle, |e| {
        if !e.is_sampled() {
            return None;
        }
        let mut record = Exception::new(exception.type_name, exception.message);
        record.remote = exception.remote.unwrap_or(false);
        record.truncated = exception.truncated.unwrap_or(0);
        record.stack = exception
            .stack
            .unwrap_or_default()
            .into_iter()
            .map(|f| StackFrame {
                path: f.path,
                line: f.line,
                label: f.label,
            })
            .collect();
        e.add_exception(record, exception.working_directory.as_deref())
            .ok()
            .map(|id| id.to_string())
    })
    .flatten()
}

/// Marks the entity as failed with an exception a descendant already recorded.
#[napi]
pub fn set_cause_ref(handle: u32, exception_id: String) -> bool {
    let Ok(id) = EntityId::parse(&exception_id) else {
        return false;
    };
    with_entity(handle, |e| e.set_cause_exception_ref(id).is_ok()).unwrap_or(false)
}

/// Sends an in-progress document for this open entity (its final document replaces it).
#[napi]
pub fn send_in_progress(handle: u32) -> bool {
    with_entity(handle, |e| !e.is_ended() && e.send_in_progress().is_ok()).unwrap_or(false)
}

/// The `X-Amzn-Trace-Id` value for a downstream call made inside this entity.
#[napi]
pub fn outgoing_header(handle: u32) -> Option<String> {
    with_entity(handle, |e| e.outgoing_header().to_string())
}
