//! `oxray_recorder`: configuration, where traces begin, flush, counters, fork, test capture.

use std::ffi::c_char;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oxray_core::sampling::SamplingRequest;
use oxray_core::{Config, Recorder, TraceHeader};

use crate::cstr;
use crate::entity::{entity_handle, oxray_entity};
use crate::error::{Failure, Outcome};
use crate::handles::Registry;
use crate::status::{oxray_status, OXRAY_INVALID_CONFIG, OXRAY_TIMEOUT};

/// A recorder: configuration, sampler and emitter. Opaque; made by `oxray_recorder_new`,
/// released by `oxray_recorder_free`. Safe to use from several threads at once.
pub struct oxray_recorder {
    _opaque: [u8; 0],
}

/// What the C layer keeps per recorder handle.
pub(crate) struct RecorderHandle {
    pub(crate) recorder: Recorder,
    /// Documents taken from the memory emitter but not yet delivered (the caller's buffer was
    /// too small): they are offered again on the next call, never lost.
    pending: Mutex<Vec<String>>,
}

static RECORDERS: Registry<Arc<RecorderHandle>> = Registry::new("recorder", 1);

pub(crate) fn recorder_of(handle: *const oxray_recorder) -> Outcome<Arc<RecorderHandle>> {
    RECORDERS.get(handle, "recorder")
}

/// Counters of a recorder since it was made (a point-in-time copy).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct oxray_counters {
    /// Documents handed to the socket (or kept, in memory mode).
    pub sent: u64,
    /// Documents lost: background queue full, or the socket refused them.
    pub dropped: u64,
    /// Documents in which a value was truncated to stay within 64,000 bytes.
    pub truncated: u64,
    /// Subsegments sent on their own rather than inside their parent's document.
    pub streamed: u64,
    /// Socket errors (each also counted in `dropped` if the document was lost).
    pub send_errors: u64,
    /// Inputs the recorder corrected or refused (bad keys, names, headers, context missing…).
    pub warnings: u64,
}

fn config_from(json: Option<&str>) -> Outcome<Config> {
    let mut config = Config::from_env();
    config.sdk_name = "oxray for C".to_string();
    if let Some(text) = json {
        config
            .apply_json(text)
            .map_err(|e| Failure::new(OXRAY_INVALID_CONFIG, e.to_string()))?;
    }
    Ok(config)
}

/// Makes a recorder. `config_json` is NULL (configure from the environment: the
/// `AWS_XRAY_*` variables) or a JSON object applied on top of the environment, with keys
/// `enabled`, `daemon_address`, `context_missing` (`LOG_ERROR`|`IGNORE_ERROR`|`RUNTIME_ERROR`),
/// `emit_mode` (`background` (default)|`udp`|`memory`), `queue_capacity`,
/// `max_embedded_children`, `max_embedded_bytes`, `tracing_name`, `lambda`, `function_name`,
/// `sdk_name`, `sdk_version`, `origin`, `sample_rate` (0..1). An unknown key or a bad value is
/// `OXRAY_INVALID_CONFIG`, naming the key. `*out` is set to the new handle, or NULL on failure.
/// A recorder is meant to be long-lived and shared by all threads (see `oxray_recorder_free`).
///
/// # Safety
/// `config_json` must be NULL or a NUL-terminated string; `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn oxray_recorder_new(
    config_json: *const c_char,
    out: *mut *mut oxray_recorder,
) -> oxray_status {
    firewall!({
        // SAFETY: forwarded from this function's contract.
        unsafe { cstr::store(out, std::ptr::null_mut(), "out")? };
        // SAFETY: as above.
        let json = unsafe { cstr::optional(config_json, "config_json") }?;
        let handle = Arc::new(RecorderHandle {
            recorder: Recorder::new(config_from(json)?),
            pending: Mutex::new(Vec::new()),
        });
        // SAFETY: out is writable (checked above).
        unsafe { out.write(RECORDERS.insert(handle)) };
        Ok(())
    })
}

/// Releases a recorder handle. Entities begun from it stay usable and still send. Call
/// `oxray_recorder_flush` first so nothing queued is lost. In the default `background` mode
/// the sender thread stays for the life of the process, so make one recorder per process (or
/// per configuration), not one per request. NULL, and handles already freed, are ignored.
#[no_mangle]
pub extern "C" fn oxray_recorder_free(recorder: *mut oxray_recorder) {
    firewall!(or(), {
        drop(RECORDERS.remove(recorder));
    })
}

/// Begins a segment (a new trace, or the continuation of an incoming request's trace).
/// `name` may be NULL: the name is then `tracing_name` from the configuration (which also
/// wins over `name` when set, like `AWS_XRAY_TRACING_NAME`), else the Lambda function name,
/// else `unnamed`. `trace_header` is the incoming `X-Amzn-Trace-Id` value or NULL. A
/// malformed header is outside input, not a caller error: the segment starts a new trace and a
/// warning is logged and counted. Free the new handle with `oxray_entity_free`.
///
/// # Safety
/// `name`, `trace_header`: NULL or NUL-terminated strings; `out`: NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn oxray_recorder_begin_segment(
    recorder: *const oxray_recorder,
    name: *const c_char,
    trace_header: *const c_char,
    out: *mut *mut oxray_entity,
) -> oxray_status {
    firewall!({
        // SAFETY: forwarded from this function's contract.
        unsafe { cstr::store(out, std::ptr::null_mut(), "out")? };
        let handle = recorder_of(recorder)?;
        // SAFETY: as above.
        let name = unsafe { cstr::optional(name, "name") }?;
        // SAFETY: as above.
        let header_text = unsafe { cstr::optional(trace_header, "trace_header") }?;
        let incoming = match header_text.map(TraceHeader::parse) {
            Some(Ok(h)) => Some(h),
            Some(Err(e)) => {
                handle.recorder.warn(&format!(
                    "incoming trace header ignored ({e}); starting a new trace"
                ));
                None
            }
            None => None,
        };
        let segment =
            handle
                .recorder
                .begin_segment(name, incoming.as_ref(), &SamplingRequest::default());
        // SAFETY: out is writable (checked above).
        unsafe { out.write(entity_handle(segment)) };
        Ok(())
    })
}

/// The Lambda facade for this invocation: a read-only stand-in for the function segment
/// that Lambda records itself. `trace_header` is the invocation's trace header (pass it
/// explicitly when invocations overlap) or NULL to read `_X_AMZN_TRACE_ID`. Subsegments begun
/// under it are sent as standalone documents. Without a usable header the facade is unsampled
/// and records nothing (a malformed header is logged and counted). Asking again with the same
/// header while the facade is alive returns the same facade (a new handle to it).
///
/// # Safety
/// `trace_header`: NULL or a NUL-terminated string; `out`: NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn oxray_recorder_lambda_facade(
    recorder: *const oxray_recorder,
    trace_header: *const c_char,
    out: *mut *mut oxray_entity,
) -> oxray_status {
    firewall!({
        // SAFETY: forwarded from this function's contract.
        unsafe { cstr::store(out, std::ptr::null_mut(), "out")? };
        let handle = recorder_of(recorder)?;
        // SAFETY: as above.
        let header = unsafe { cstr::optional(trace_header, "trace_header") }?;
        let facade = handle.recorder.lambda_facade(header);
        // SAFETY: out is writable (checked above).
        unsafe { out.write(entity_handle(facade)) };
        Ok(())
    })
}

/// Sends everything completed so far (closed subsegments still held by open parents are
/// streamed on their own) and waits up to `timeout_ms` for the sender to hand every document
/// to the socket. `OXRAY_TIMEOUT` if that took longer (sending goes on in the background).
/// Call before a Lambda handler returns and before the process exits.
#[no_mangle]
pub extern "C" fn oxray_recorder_flush(
    recorder: *const oxray_recorder,
    timeout_ms: u32,
) -> oxray_status {
    firewall!({
        let handle = recorder_of(recorder)?;
        if handle
            .recorder
            .flush(Duration::from_millis(u64::from(timeout_ms)))
        {
            Ok(())
        } else {
            Err(Failure::new(
                OXRAY_TIMEOUT,
                format!("flush did not finish within {timeout_ms} ms"),
            ))
        }
    })
}

/// Copies the recorder's counters into `*out`.
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn oxray_recorder_counters(
    recorder: *const oxray_recorder,
    out: *mut oxray_counters,
) -> oxray_status {
    firewall!({
        let handle = recorder_of(recorder)?;
        let c = handle.recorder.counters();
        let counters = oxray_counters {
            sent: c.sent,
            dropped: c.dropped,
            truncated: c.truncated,
            streamed: c.streamed,
            send_errors: c.send_errors,
            warnings: c.warnings,
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { cstr::store(out, counters, "out") }
    })
}

/// Call in the child process right after `fork()`: reseeds id generation (so the child never
/// repeats the parent's ids) and restarts the background sender, whose thread did not survive
/// the fork. Documents the parent had queued are not sent by the child.
#[no_mangle]
pub extern "C" fn oxray_recorder_after_fork_child(recorder: *const oxray_recorder) -> oxray_status {
    firewall!({
        recorder_of(recorder)?.recorder.after_fork_child();
        Ok(())
    })
}

/// For tests, with `"emit_mode":"memory"`: moves the documents emitted so far into `buf` as
/// one JSON array of document objects (`[]` when there are none, and always in other modes),
/// following the buffer convention of `oxray_entity_outgoing_header`. When the buffer is too
/// small (`OXRAY_BUFFER_TOO_SMALL`, `*needed` set) nothing is lost: the same documents (and any
/// newer ones) are returned by the next call.
///
/// # Safety
/// `buf` must be NULL or point to `len` writable bytes; `needed` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn oxray_recorder_take_documents(
    recorder: *const oxray_recorder,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> oxray_status {
    firewall!({
        let handle = recorder_of(recorder)?;
        let mut pending = handle.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.extend(handle.recorder.take_documents());
        let text = format!("[{}]", pending.join(","));
        // SAFETY: forwarded from this function's contract.
        unsafe { cstr::write(&text, buf, len, needed) }?;
        pending.clear();
        Ok(())
    })
}
