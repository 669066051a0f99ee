//! Hot-path functions as raw Node-API callbacks.
//!
//! A traced call crosses into native code twice (begin and end). napi-rs wraps every exported
//! function that takes arguments in per-call bookkeeping (a borrow scope allocated on the heap,
//! argument type checks) that costs about as much as the work itself. The few functions
//! called once per traced call are therefore registered here by hand: they read integer
//! handles straight from the arguments and never throw (a bad argument reads as handle 0,
//! which matches nothing). They are not in the generated `binding.d.ts`; `lib/native.js`
//! declares their types.

use std::borrow::Cow;
use std::ffi::c_char;
use std::ptr;

use napi::bindgen_prelude::{Env, JsValue, Object};
use napi::sys;
use napi_derive::napi;
use oxray_core::AnnotationValue;

use crate::names;

/// Reads up to `N` arguments (missing ones are `undefined`).
///
/// # Safety
/// `env` and `info` must be the ones Node-API passed to the running callback.
pub(crate) unsafe fn args<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> [sys::napi_value; N] {
    let mut argv = [ptr::null_mut(); N];
    let mut argc = N;
    // SAFETY: `argv` has room for `argc` values, as Node-API requires.
    unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        );
    }
    argv
}

/// A handle argument: 0 unless it is a number.
///
/// # Safety
/// `value` must be a live value of the running callback's scope (or null).
pub(crate) unsafe fn handle(env: sys::napi_env, value: sys::napi_value) -> u32 {
    let mut out = 0u32;
    // SAFETY: a non-number leaves `out` untouched and returns an error status, which we ignore.
    if value.is_null()
        || unsafe { sys::napi_get_value_uint32(env, value, &mut out) } != sys::Status::napi_ok
    {
        return 0;
    }
    out
}

/// A string argument as UTF-8 (lone surrogates become U+FFFD), or None if it is not a string,
/// read in two passes (length, then copy): for strings too long for a stack buffer.
///
/// # Safety
/// `value` must be a live value of the running callback's scope (or null).
pub(crate) unsafe fn long_string(env: sys::napi_env, value: sys::napi_value) -> Option<String> {
    if value.is_null() {
        return None;
    }
    let mut len = 0usize;
    // SAFETY: a null buffer asks for the length only; a non-string returns an error status.
    let status =
        unsafe { sys::napi_get_value_string_utf8(env, value, ptr::null_mut(), 0, &mut len) };
    if status != sys::Status::napi_ok {
        return None;
    }
    let mut buf = vec![0u8; len + 1];
    let mut written = 0usize;
    // SAFETY: `buf` has room for `len` bytes plus the NUL Node-API writes.
    unsafe {
        sys::napi_get_value_string_utf8(
            env,
            value,
            buf.as_mut_ptr() as *mut c_char,
            len + 1,
            &mut written,
        )
    };
    buf.truncate(written);
    // V8 writes well-formed UTF-8; the check only guards against a broken engine.
    String::from_utf8(buf).ok()
}

/// Runs `f` on a string argument without allocating when it is short (None if it is not a
/// string).
///
/// # Safety
/// `value` must be a live value of the running callback's scope (or null).
unsafe fn with_str<R>(
    env: sys::napi_env,
    value: sys::napi_value,
    f: impl FnOnce(&str) -> R,
) -> Option<R> {
    if value.is_null() {
        return None;
    }
    let mut buf = [0u8; ROOM];
    let mut written = 0usize;
    // SAFETY: `buf` has ROOM bytes; Node-API writes at most ROOM - 1 plus a NUL.
    let status = unsafe {
        sys::napi_get_value_string_utf8(
            env,
            value,
            buf.as_mut_ptr() as *mut c_char,
            ROOM,
            &mut written,
        )
    };
    if status != sys::Status::napi_ok {
        return None;
    }
    // Node-API stops before a character that does not fit (up to 4 bytes in UTF-8), so a result
    // with room for one more character to spare is the whole string.
    if written + 4 < ROOM - 1 {
        return std::str::from_utf8(&buf[..written]).ok().map(f);
    }
    // Possibly cut: read it again at full length.
    // SAFETY: as above.
    unsafe { long_string(env, value) }.map(|s| f(&s))
}

/// The JavaScript type of a value.
///
/// # Safety
/// `value` must be a live value of the running callback's scope (or null).
unsafe fn type_of(env: sys::napi_env, value: sys::napi_value) -> sys::napi_valuetype {
    let mut kind = sys::ValueType::napi_undefined;
    if !value.is_null() {
        // SAFETY: on failure `kind` stays undefined.
        unsafe { sys::napi_typeof(env, value, &mut kind) };
    }
    kind
}

/// # Safety
/// `env` must be the running callback's environment.
unsafe fn uint(env: sys::napi_env, v: u32) -> sys::napi_value {
    let mut out = ptr::null_mut();
    // SAFETY: creating a number cannot fail on a live env; a null result reads as undefined.
    unsafe { sys::napi_create_uint32(env, v, &mut out) };
    out
}

/// # Safety
/// `env` must be the running callback's environment.
unsafe fn boolean(env: sys::napi_env, v: bool) -> sys::napi_value {
    let mut out = ptr::null_mut();
    // SAFETY: as above.
    unsafe { sys::napi_get_boolean(env, v, &mut out) };
    out
}

/// `beginNamed(parent, nameId) -> handle`: begins a subsegment named by an id from
/// `internName` under `parent`; 0 if either is unknown.
unsafe extern "C" fn begin_named(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API with its own env/info.
    let [parent, name] = unsafe { args::<2>(env, info) };
    let (parent, name) = unsafe { (handle(env, parent), handle(env, name)) };
    let h = names::with_name(name, |name| crate::entity::begin_in(parent, name)).unwrap_or(0);
    unsafe { uint(env, h) }
}

/// `sampledFast(handle) -> bool`: whether the entity's trace is recorded (false for a stale
/// handle). Asked once per root of traced work (an invocation, a facade), so that traced calls
/// under an unsampled one can skip everything.
unsafe extern "C" fn sampled_fast(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API with its own env/info.
    let [h] = unsafe { args::<1>(env, info) };
    let sampled = crate::entity::is_sampled(unsafe { handle(env, h) });
    unsafe { boolean(env, sampled) }
}

/// `endFast(handle) -> bool`: ends the entity now.
unsafe extern "C" fn end_fast(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API with its own env/info.
    let [h] = unsafe { args::<1>(env, info) };
    let ok = crate::entity::end(unsafe { handle(env, h) });
    unsafe { boolean(env, ok) }
}

/// `endWithMetadata(handle, namespaceId, keyId, json) -> bool`: records `json` (one JSON value
/// made by `lib/serialize.js`) as metadata `namespace.key` (interned names), then ends the
/// entity. One crossing for the common end of a traced call with a captured result.
unsafe extern "C" fn end_with_metadata(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API with its own env/info.
    let [h, namespace, key, json] = unsafe { args::<4>(env, info) };
    let h = unsafe { handle(env, h) };
    let (namespace, key) = unsafe { (handle(env, namespace), handle(env, key)) };
    // SAFETY: `json` belongs to this call.
    unsafe {
        with_str(env, json, |json| {
            crate::entity::metadata_named(h, namespace, key, json)
        })
    };
    let ok = crate::entity::end(h);
    unsafe { boolean(env, ok) }
}

/// Records an annotation whose value is a string (lent to the core: no allocation), a number
/// or a boolean; false for any other value (the JavaScript layer checks values first and
/// explains a refusal).
///
/// # Safety
/// `value` must be a live value of the running callback's scope (or null).
unsafe fn annotate_value(env: sys::napi_env, h: u32, key: &str, value: sys::napi_value) -> bool {
    // SAFETY: as required of our caller.
    unsafe {
        match type_of(env, value) {
            sys::ValueType::napi_string => {
                with_str(env, value, |v| crate::entity::annotate_text(h, key, v)).unwrap_or(false)
            }
            sys::ValueType::napi_number => {
                let mut n = 0f64;
                sys::napi_get_value_double(env, value, &mut n) == sys::Status::napi_ok
                    && crate::entity::annotate(h, key, crate::entity::number_annotation(n))
            }
            sys::ValueType::napi_boolean => {
                let mut b = false;
                sys::napi_get_value_bool(env, value, &mut b) == sys::Status::napi_ok
                    && crate::entity::annotate(h, key, AnnotationValue::Bool(b))
            }
            _ => false,
        }
    }
}

/// `beginInvocationNamed(header, nameId, coldStart, serviceId) -> handle`: the raw
/// `beginInvocation` (see `invocation.rs`), once per Lambda invocation, with the handler name
/// and service name interned and the header read without allocating. A header that is not a
/// string means `_X_AMZN_TRACE_ID`; 0 if a name id is unknown or before `init`.
unsafe extern "C" fn begin_invocation_named(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API with its own env/info; every value read belongs to this call.
    let [header, name, cold_start, service] = unsafe { args::<4>(env, info) };
    let (name, service) = unsafe { (handle(env, name), handle(env, service)) };
    let mut cold = false;
    // SAFETY: a non-boolean leaves `cold` false.
    unsafe { sys::napi_get_value_bool(env, cold_start, &mut cold) };
    let mut buf = [0u8; ROOM];
    // SAFETY: as above.
    let header = unsafe { read_into(env, header, &mut buf) };
    let h = names::with_pair(name, service, |name, service| {
        name.map_or(0, |name| {
            crate::invocation::begin(header.as_deref(), name, cold, service)
        })
    })
    .unwrap_or(0);
    unsafe { uint(env, h) }
}

/// `endInvocationFast(handle, timeoutMs) -> bool`: the raw `endInvocation` (see
/// `invocation.rs`), once per Lambda invocation; a timeout that is not a number is 0.
unsafe extern "C" fn end_invocation_fast(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API with its own env/info.
    let [h, timeout_ms] = unsafe { args::<2>(env, info) };
    let (h, timeout_ms) = unsafe { (handle(env, h), handle(env, timeout_ms)) };
    let ok = crate::invocation::end_invocation(h, timeout_ms);
    unsafe { boolean(env, ok) }
}

/// `annotateFast(handle, key, value) -> bool`: a string, number or boolean annotation.
unsafe extern "C" fn annotate_fast(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API with its own env/info; every value read belongs to this call.
    let [h, key, value] = unsafe { args::<3>(env, info) };
    let h = unsafe { handle(env, h) };
    let ok =
        unsafe { with_str(env, key, |key| annotate_value(env, h, key, value)) }.unwrap_or(false);
    unsafe { boolean(env, ok) }
}

/// `annotateNamed(handle, keyId, value) -> bool`: [`annotate_fast`] with the key interned
/// (`internName`): the usual constant keys cross as small integers, not as text.
unsafe extern "C" fn annotate_named(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API with its own env/info; every value read belongs to this call.
    let [h, key, value] = unsafe { args::<3>(env, info) };
    let (h, key) = unsafe { (handle(env, h), handle(env, key)) };
    // SAFETY: `value` belongs to this call.
    let ok =
        names::with_name(key, |key| unsafe { annotate_value(env, h, key, value) }).unwrap_or(false);
    unsafe { boolean(env, ok) }
}

/// `metadataNamed(handle, namespaceId, keyId, json) -> bool`: [`metadata_fast`] with the
/// namespace and key interned (namespace 0 is `default`).
unsafe extern "C" fn metadata_named(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API with its own env/info; every value read belongs to this call.
    let [h, namespace, key, json] = unsafe { args::<4>(env, info) };
    let h = unsafe { handle(env, h) };
    let (namespace, key) = unsafe { (handle(env, namespace), handle(env, key)) };
    let ok = unsafe {
        with_str(env, json, |json| {
            crate::entity::metadata_named(h, namespace, key, json)
        })
    }
    .unwrap_or(false);
    unsafe { boolean(env, ok) }
}

/// `metadataFast(handle, namespace, key, json) -> bool`: records `json` (one JSON value made by
/// `lib/serialize.js`) as metadata; a namespace that is not a string means `default`.
unsafe extern "C" fn metadata_fast(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API with its own env/info; every value read belongs to this call.
    let [h, namespace, key, json] = unsafe { args::<4>(env, info) };
    let h = unsafe { handle(env, h) };
    let ok = unsafe {
        with_str(env, json, |json| {
            with_str(env, key, |key| {
                if type_of(env, namespace) == sys::ValueType::napi_string {
                    with_str(env, namespace, |ns| {
                        crate::entity::put_metadata(h, Some(ns), key, json)
                    })
                    .unwrap_or(false)
                } else {
                    crate::entity::put_metadata(h, None, key, json)
                }
            })
            .unwrap_or(false)
        })
        .unwrap_or(false)
    };
    unsafe { boolean(env, ok) }
}

/// # Safety
/// `env` must be the running callback's environment.
unsafe fn js_string(env: sys::napi_env, text: Option<&str>) -> sys::napi_value {
    let mut out = ptr::null_mut();
    // SAFETY: `text` is valid UTF-8 of the given length; on failure `out` stays null, which
    // reads as undefined. None is returned as null.
    unsafe {
        match text {
            Some(t) => sys::napi_create_string_utf8(
                env,
                t.as_ptr() as *const c_char,
                t.len() as isize,
                &mut out,
            ),
            None => sys::napi_get_null(env, &mut out),
        }
    };
    out
}

/// A number argument, or None if it is not a finite number.
///
/// # Safety
/// `value` must be a live value of the running callback's scope (or null).
unsafe fn number(env: sys::napi_env, value: sys::napi_value) -> Option<f64> {
    let mut n = 0f64;
    // SAFETY: a non-number returns an error status and leaves `n` untouched.
    let ok = !value.is_null()
        && unsafe { sys::napi_get_value_double(env, value, &mut n) } == sys::Status::napi_ok;
    (ok && n.is_finite()).then_some(n)
}

/// Stack room for a string argument read without allocating.
pub(crate) const ROOM: usize = 256;

/// A string argument, borrowed from `buf` when it fits there (else copied), or None if it is
/// not a string.
///
/// # Safety
/// `value` must be a live value of the running callback's scope (or null).
pub(crate) unsafe fn read_into<'b>(
    env: sys::napi_env,
    value: sys::napi_value,
    buf: &'b mut [u8; ROOM],
) -> Option<Cow<'b, str>> {
    if value.is_null() {
        return None;
    }
    let mut written = 0usize;
    // SAFETY: `buf` has ROOM bytes; Node-API writes at most ROOM - 1 plus a NUL.
    let status = unsafe {
        sys::napi_get_value_string_utf8(
            env,
            value,
            buf.as_mut_ptr() as *mut c_char,
            ROOM,
            &mut written,
        )
    };
    if status != sys::Status::napi_ok {
        return None;
    }
    // As in `with_str`: room for one more character to spare means nothing was cut.
    if written + 4 < ROOM - 1 {
        return std::str::from_utf8(&buf[..written]).ok().map(Cow::Borrowed);
    }
    // SAFETY: as required of our caller.
    unsafe { long_string(env, value) }.map(Cow::Owned)
}

/// `beginRequest(name, traceHeader, host, method, path, scheme, userAgent, remoteAddr,
/// forwardedFor) -> handle`: the segment of one incoming request (see `server.rs`); each
/// argument is a string or absent. The last four are read only when the request is sampled.
/// 0 when tracing is off.
unsafe extern "C" fn begin_request(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API with its own env/info; every value read belongs to this call.
    let [name, header, host, method, path, scheme, agent, remote, forwarded] =
        unsafe { args::<9>(env, info) };
    let mut bufs = [[0u8; ROOM]; 5];
    let [b0, b1, b2, b3, b4] = &mut bufs;
    // SAFETY: every value read belongs to this call.
    let (name, header, host, method, path) = unsafe {
        (
            read_into(env, name, b0),
            read_into(env, header, b1),
            read_into(env, host, b2),
            read_into(env, method, b3),
            read_into(env, path, b4),
        )
    };
    let key = crate::server::RequestKey {
        name: name.as_deref(),
        trace_header: header.as_deref(),
        host: host.as_deref(),
        method: method.as_deref(),
        path: path.as_deref(),
    };
    let mut detail_bufs = [[0u8; ROOM]; 4];
    let [b5, b6, b7, b8] = &mut detail_bufs;
    // SAFETY: called before this callback returns, so the values are still live.
    let h = crate::server::begin_request(&key, move || unsafe {
        crate::server::RequestDetails {
            scheme: read_into(env, scheme, b5),
            user_agent: read_into(env, agent, b6),
            remote_addr: read_into(env, remote, b7),
            forwarded_for: read_into(env, forwarded, b8),
        }
    });
    unsafe { uint(env, h) }
}

/// `responseHeader(handle) -> string | null`: the `X-Amzn-Trace-Id` to answer the request with.
unsafe extern "C" fn response_header(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API with its own env/info.
    let [h] = unsafe { args::<1>(env, info) };
    let header = crate::server::response_header(unsafe { handle(env, h) });
    unsafe { js_string(env, header.as_deref()) }
}

/// The arguments `(handle, status, contentLength)` of `endRequest` and `endRequestLater`: a
/// status of 0 or a non-number is unknown; so is a negative or non-number length.
///
/// # Safety
/// `env` and `info` must be the running callback's.
unsafe fn response_args(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> (u32, Option<u16>, Option<i64>) {
    // SAFETY: as required of our caller; every value read belongs to this call.
    let [h, status, length] = unsafe { args::<3>(env, info) };
    let (h, status, length) = unsafe { (handle(env, h), handle(env, status), number(env, length)) };
    let status = u16::try_from(status).ok().filter(|s| *s != 0);
    let length = length.filter(|n| *n >= 0.0).map(|n| n as i64);
    (h, status, length)
}

/// `endRequest(handle, status, contentLength) -> bool`: records the response (see
/// `response_args`) and ends the segment.
unsafe extern "C" fn end_request(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API with its own env/info.
    let (h, status, length) = unsafe { response_args(env, info) };
    let ok = crate::server::end_request(h, status, length);
    unsafe { boolean(env, ok) }
}

/// `endRequestLater(handle, status, contentLength) -> bool`: `endRequest` with the segment
/// ended at the next `flushRequests()`, at the time of this call; true when the caller is to
/// schedule that flush (see `server::end_request_later`).
unsafe extern "C" fn end_request_later(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API with its own env/info.
    let (h, status, length) = unsafe { response_args(env, info) };
    let first = crate::server::end_request_later(h, status, length);
    unsafe { boolean(env, first) }
}

/// `flushRequests() -> number`: ends the requests noted by `endRequestLater`; how many ended.
unsafe extern "C" fn flush_requests(
    env: sys::napi_env,
    _info: sys::napi_callback_info,
) -> sys::napi_value {
    let ended = crate::server::flush_ended_requests();
    // SAFETY: called by Node-API with its own env.
    unsafe { uint(env, ended) }
}

type Callback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

const FAST: &[(&str, Callback)] = &[
    ("beginNamed\0", begin_named),
    ("beginInvocationNamed\0", begin_invocation_named),
    ("endInvocationFast\0", end_invocation_fast),
    ("sampledFast\0", sampled_fast),
    ("endFast\0", end_fast),
    ("endWithMetadata\0", end_with_metadata),
    ("annotateFast\0", annotate_fast),
    ("annotateNamed\0", annotate_named),
    ("metadataFast\0", metadata_fast),
    ("metadataNamed\0", metadata_named),
    ("beginRequest\0", begin_request),
    ("responseHeader\0", response_header),
    ("endRequest\0", end_request),
    ("endRequestLater\0", end_request_later),
    ("flushRequests\0", flush_requests),
];

/// Adds the raw functions to the module's exports (runs once, when the addon loads).
#[napi(module_exports)]
pub fn register_fast_path(exports: Object, env: Env) -> napi::Result<()> {
    let raw_env = env.raw();
    for (name, callback) in FAST {
        let mut function = ptr::null_mut();
        // SAFETY: `name` is NUL-terminated; the callback has the Node-API callback signature.
        let status = unsafe {
            sys::napi_create_function(
                raw_env,
                name.as_ptr() as *const c_char,
                (name.len() - 1) as isize,
                Some(*callback),
                ptr::null_mut(),
                &mut function,
            )
        };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::from_reason(format!(
                "cannot create {}",
                name.trim_end_matches('\0')
            )));
        }
        // SAFETY: as above; `exports` is the live exports object.
        unsafe {
            sys::napi_set_named_property(
                raw_env,
                exports.raw(),
                name.as_ptr() as *const c_char,
                function,
            )
        };
    }
    Ok(())
}
