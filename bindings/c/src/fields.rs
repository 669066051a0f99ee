//! Structured fields of an entity: `http`, `aws`, `sql`, and `cause` (exceptions).
//!
//! Inputs are C structs of optional strings (NULL = absent); zero-initialize them
//! (`oxray_sql sql = {0};`) and set what you have.

use std::ffi::c_char;

use oxray_core::{EntityId, Exception, HttpRequest, Sql, StackFrame};

use crate::cstr;
use crate::entity::{entity_of, oxray_entity};
use crate::error::{Failure, Outcome};
use crate::status::{
    oxray_status, OXRAY_BUFFER_TOO_SMALL, OXRAY_INVALID_ARGUMENT, OXRAY_INVALID_JSON,
    OXRAY_NULL_ARGUMENT,
};

/// `content_length` value meaning "absent" for `oxray_entity_set_http_response`.
pub const OXRAY_CONTENT_LENGTH_NONE: i64 = i64::MIN;

/// `status` value meaning "absent" for `oxray_entity_set_http_response`.
pub const OXRAY_HTTP_STATUS_NONE: i32 = 0;

/// `http.request` of an entity. Every string may be NULL (absent); strings longer than 250
/// characters are cut.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct oxray_http_request {
    pub method: *const c_char,
    /// Protocol, host and path.
    pub url: *const c_char,
    pub user_agent: *const c_char,
    pub client_ip: *const c_char,
    /// Segments: `client_ip` was read from an `X-Forwarded-For` header.
    pub x_forwarded_for: bool,
    /// Subsegments: the downstream call carries this subsegment's id as its parent.
    pub traced: bool,
}

/// `sql` of a subsegment. Every string may be NULL (absent).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct oxray_sql {
    /// `scheme://host[:port]/database[?…]`, without a password. Must name a database (the
    /// form `^(.+//.+)/([^?]+)\??.*$`), else `OXRAY_INVALID_ARGUMENT`: X-Ray receivers refuse a
    /// document whose `sql.url` does not.
    pub url: *const c_char,
    /// Used instead of `url` when the URL cannot be given (e.g. `user=x dbname=y`).
    pub connection_string: *const c_char,
    /// The query with values removed.
    pub sanitized_query: *const c_char,
    pub database_type: *const c_char,
    pub database_version: *const c_char,
    pub driver_version: *const c_char,
    pub user: *const c_char,
    /// `"call"` or `"statement"` (else `OXRAY_INVALID_ARGUMENT`).
    pub preparation: *const c_char,
}

/// One stack frame of an exception. Strings may be NULL.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct oxray_stack_frame {
    pub path: *const c_char,
    /// The function or method.
    pub label: *const c_char,
    /// Line number; 0 or negative means absent.
    pub line: i32,
}

/// An exception to record in `cause.exceptions`. Strings may be NULL.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct oxray_exception {
    /// The exception's type or class name.
    pub type_name: *const c_char,
    pub message: *const c_char,
    /// Caused by a downstream service.
    pub remote: bool,
    /// `stack_len` frames, innermost first; may be NULL when `stack_len` is 0.
    pub stack: *const oxray_stack_frame,
    pub stack_len: usize,
    /// Frames omitted from `stack`.
    pub truncated: u32,
    /// Recorded with the first exception of the entity.
    pub working_directory: *const c_char,
}

/// # Safety
/// `ptr` must be NULL or a NUL-terminated string.
unsafe fn owned(ptr: *const c_char, what: &str) -> Outcome<Option<String>> {
    // SAFETY: forwarded from the caller.
    Ok(unsafe { cstr::optional(ptr, what) }?.map(str::to_string))
}

/// Reads a C `bool` field without assuming it holds 0 or 1 (any non-zero byte is true), so
/// that a struct filled by memset or by another compiler's idea of `bool` is not undefined
/// behaviour.
///
/// # Safety
/// `field` must point to a readable byte.
unsafe fn flag(field: *const bool) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe { field.cast::<u8>().read() != 0 }
}

/// The core's rule for `sql.url` (kept as a name here for the binding's own checks and tests).
pub(crate) fn sql_url_names_a_database(url: &str) -> bool {
    oxray_core::model::Sql::url_names_database(url)
}

/// Sets `http.request`.
///
/// # Safety
/// `request` must be NULL or point to a valid `oxray_http_request` whose strings are NULL or
/// NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn oxray_entity_set_http_request(
    entity: *const oxray_entity,
    request: *const oxray_http_request,
) -> oxray_status {
    firewall!({
        let entity = entity_of(entity)?;
        if request.is_null() {
            return Err(Failure::new(
                OXRAY_NULL_ARGUMENT,
                "request must not be NULL",
            ));
        }
        // SAFETY: non-NULL and valid per this function's contract; fields are read one by
        // one through the raw pointer (the bools with `flag`).
        let request = unsafe {
            HttpRequest {
                method: owned((*request).method, "request.method")?,
                url: owned((*request).url, "request.url")?,
                user_agent: owned((*request).user_agent, "request.user_agent")?,
                client_ip: owned((*request).client_ip, "request.client_ip")?,
                x_forwarded_for: flag(&raw const (*request).x_forwarded_for),
                traced: flag(&raw const (*request).traced),
            }
        };
        Ok(entity.set_http_request(request)?)
    })
}

/// Sets `http.response`, and from the status the flags as the X-Ray SDKs do: 429 sets
/// `throttle` and `error`, other 4xx `error`, 5xx `fault`. `status` is 100..=999 or
/// `OXRAY_HTTP_STATUS_NONE`; `content_length` is any value or `OXRAY_CONTENT_LENGTH_NONE`.
#[no_mangle]
pub extern "C" fn oxray_entity_set_http_response(
    entity: *const oxray_entity,
    status: i32,
    content_length: i64,
) -> oxray_status {
    firewall!({
        let entity = entity_of(entity)?;
        let status = match status {
            OXRAY_HTTP_STATUS_NONE => None,
            100..=999 => Some(status as u16),
            _ => {
                return Err(Failure::new(
                    OXRAY_INVALID_ARGUMENT,
                    format!("HTTP status {status} is not 100..=999 (or OXRAY_HTTP_STATUS_NONE)"),
                ))
            }
        };
        let content_length =
            (content_length != OXRAY_CONTENT_LENGTH_NONE).then_some(content_length);
        Ok(entity.set_http_response(status, content_length)?)
    })
}

/// Sets one field of the `aws` object (`operation`, `region`, `request_id`, `table_name`,
/// `account_id`, …) to a JSON value: `"\"PutItem\""`, `"3"` (for a `retries` count, say),
/// `"[\"a\",\"b\"]"`. The fields the segment document schema types must have its type, or the
/// call returns `OXRAY_INVALID_ARGUMENT` (receivers drop a whole document that does not
/// match): `account_id`, `operation`, `region`, `request_id`, `queue_url`, `table_name` are
/// strings; `ec2`, `ecs`, `elastic_beanstalk`, `tracing` objects whose named fields are
/// strings (`elastic_beanstalk.deployment_id` a number).
///
/// # Safety
/// `key`, `json_value`: NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn oxray_entity_set_aws(
    entity: *const oxray_entity,
    key: *const c_char,
    json_value: *const c_char,
) -> oxray_status {
    firewall!({
        let entity = entity_of(entity)?;
        // SAFETY: forwarded from this function's contract.
        let (key, json) = unsafe {
            (
                cstr::required(key, "key")?,
                cstr::required(json_value, "json_value")?,
            )
        };
        if key.is_empty() {
            return Err(Failure::new(
                OXRAY_INVALID_ARGUMENT,
                "aws key must not be empty",
            ));
        }
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
            Failure::new(
                OXRAY_INVALID_JSON,
                format!("aws value for {key:?} is not valid JSON: {e}"),
            )
        })?;
        Ok(entity.set_aws(key, value)?)
    })
}

/// Sets the `sql` block (replacing any earlier one).
///
/// # Safety
/// `sql` must be NULL or point to a valid `oxray_sql` whose strings are NULL or
/// NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn oxray_entity_set_sql(
    entity: *const oxray_entity,
    sql: *const oxray_sql,
) -> oxray_status {
    firewall!({
        let entity = entity_of(entity)?;
        // SAFETY: forwarded from this function's contract.
        let s = unsafe { sql.as_ref() }
            .ok_or_else(|| Failure::new(OXRAY_NULL_ARGUMENT, "sql must not be NULL"))?;
        // SAFETY: as above.
        let sql = unsafe {
            Sql {
                url: owned(s.url, "sql.url")?,
                connection_string: owned(s.connection_string, "sql.connection_string")?,
                sanitized_query: owned(s.sanitized_query, "sql.sanitized_query")?,
                database_type: owned(s.database_type, "sql.database_type")?,
                database_version: owned(s.database_version, "sql.database_version")?,
                driver_version: owned(s.driver_version, "sql.driver_version")?,
                user: owned(s.user, "sql.user")?,
                preparation: owned(s.preparation, "sql.preparation")?,
            }
        };
        if let Some(url) = &sql.url {
            if !sql_url_names_a_database(url) {
                return Err(Failure::new(
                    OXRAY_INVALID_ARGUMENT,
                    format!(
                        "sql.url {url:?} does not name a database (expected scheme://host/database)"
                    ),
                ));
            }
        }
        Ok(entity.set_sql(sql)?)
    })
}

/// # Safety
/// `frames` must be NULL or point to `len` valid frames.
unsafe fn stack_frames(frames: *const oxray_stack_frame, len: usize) -> Outcome<Vec<StackFrame>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    if frames.is_null() {
        return Err(Failure::new(
            OXRAY_NULL_ARGUMENT,
            "exception.stack must not be NULL when stack_len > 0",
        ));
    }
    // SAFETY: non-NULL with `len` frames per the caller's contract.
    let frames = unsafe { std::slice::from_raw_parts(frames, len) };
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            // SAFETY: the frame's strings are NULL or NUL-terminated per the contract.
            unsafe {
                Ok(StackFrame {
                    path: owned(f.path, &format!("exception.stack[{i}].path"))?,
                    label: owned(f.label, &format!("exception.stack[{i}].label"))?,
                    line: u32::try_from(f.line).ok().filter(|l| *l > 0),
                })
            }
        })
        .collect()
}

/// Records an exception in the entity's `cause.exceptions` and sets `fault` (unless `error`
/// or `throttle` already describe the failure). The exception's new id (16 hex digits) is
/// written to `id_buf` (17 bytes, `OXRAY_ENTITY_ID_SIZE`), for `oxray_entity_set_cause_exception_id`
/// on an ancestor; `id_buf` may be NULL when the id is not wanted. A buffer that is too small
/// fails before anything is recorded.
///
/// # Safety
/// `exception` must be NULL or point to a valid `oxray_exception` (strings NULL or
/// NUL-terminated, `stack` holding `stack_len` frames); `id_buf` NULL or `id_len` writable
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn oxray_entity_add_exception(
    entity: *const oxray_entity,
    exception: *const oxray_exception,
    id_buf: *mut c_char,
    id_len: usize,
) -> oxray_status {
    firewall!({
        let entity = entity_of(entity)?;
        if exception.is_null() {
            return Err(Failure::new(
                OXRAY_NULL_ARGUMENT,
                "exception must not be NULL",
            ));
        }
        if !id_buf.is_null() && id_len < crate::OXRAY_ENTITY_ID_SIZE {
            // Checked first so that a failure here records nothing.
            if id_len > 0 {
                // SAFETY: id_buf has id_len >= 1 writable bytes per this function's contract.
                unsafe { *id_buf = 0 };
            }
            return Err(Failure::new(
                OXRAY_BUFFER_TOO_SMALL,
                format!(
                    "id_buf of {id_len} bytes is too small: {} bytes needed",
                    crate::OXRAY_ENTITY_ID_SIZE
                ),
            ));
        }
        // SAFETY: non-NULL and valid per this function's contract; fields are read one by
        // one through the raw pointer (the bool with `flag`).
        let (record, working_directory) = unsafe {
            let mut record = Exception::new(
                owned((*exception).type_name, "exception.type_name")?,
                owned((*exception).message, "exception.message")?,
            );
            record.remote = flag(&raw const (*exception).remote);
            record.stack = stack_frames((*exception).stack, (*exception).stack_len)?;
            record.truncated = (*exception).truncated;
            let wd = cstr::optional(
                (*exception).working_directory,
                "exception.working_directory",
            )?;
            (record, wd)
        };
        let id = entity.add_exception(record, working_directory)?;
        if !id_buf.is_null() {
            // SAFETY: id_buf has id_len >= 17 writable bytes (checked above).
            unsafe { cstr::write(&id.to_string(), id_buf, id_len, std::ptr::null_mut()) }?;
        }
        Ok(())
    })
}

/// Records that this entity failed with an exception already recorded by a descendant (the
/// id returned by `oxray_entity_add_exception`): `cause` becomes that id, and `fault` is set
/// as by `oxray_entity_add_exception`. An id that is not 16 hex digits is
/// `OXRAY_INVALID_ARGUMENT`.
///
/// # Safety
/// `exception_id`: NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn oxray_entity_set_cause_exception_id(
    entity: *const oxray_entity,
    exception_id: *const c_char,
) -> oxray_status {
    firewall!({
        let entity = entity_of(entity)?;
        // SAFETY: forwarded from this function's contract.
        let text = unsafe { cstr::required(exception_id, "exception_id") }?;
        let id = EntityId::parse(text).map_err(|e| {
            Failure::new(
                OXRAY_INVALID_ARGUMENT,
                format!("exception_id {text:?} is not 16 hex digits: {e}"),
            )
        })?;
        Ok(entity.set_cause_exception_ref(id)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_urls_must_name_a_database() {
        for ok in [
            "postgresql://db.example.com:5432/orders",
            "mysql://host/db?ssl=true",
            "jdbc:postgresql://h/d",
            "a//b/c",
        ] {
            assert!(sql_url_names_a_database(ok), "{ok}");
        }
        for bad in [
            "postgresql://db.example.com",
            "postgresql://db.example.com/",
            "postgresql://db.example.com/?x=1",
            "//host/db",
            "host/db",
            "",
            "pg://h/d\nx",
        ] {
            assert!(!sql_url_names_a_database(bad), "{bad}");
        }
    }
}
