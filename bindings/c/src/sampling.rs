//! Sampling through the C ABI: local rules, centralized sampling through the daemon's proxy,
//! its status, segments sampled by request attributes, and the rule probe used by the shared
//! vectors (`tests/vectors/sampling_rules.json`).

use std::ffi::c_char;

use oxray_core::sampling::{probe, SamplingRequest};
use oxray_core::TraceHeader;

use crate::cstr;
use crate::entity::{entity_handle, oxray_entity};
use crate::error::{Failure, Outcome};
use crate::recorder::{oxray_recorder, recorder_of};
use crate::status::{oxray_status, OXRAY_INVALID_ARGUMENT};

/// What a sampling decision may look at. Every field may be NULL (absent); an absent or empty
/// attribute matches any rule pattern.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct oxray_sampling_request {
    /// The request's `Host`.
    pub host: *const c_char,
    /// The HTTP method, e.g. `GET`.
    pub method: *const c_char,
    /// The URL path, e.g. `/orders/7`.
    pub url_path: *const c_char,
    /// The service (segment) name; NULL: the segment's name.
    pub service_name: *const c_char,
    /// The service type, e.g. `AWS::EC2::Instance`; NULL: the recorder's `origin`.
    pub service_type: *const c_char,
}

/// What sampling is doing (see `oxray_recorder_sampling_status`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct oxray_sampling_status {
    /// Centralized sampling is on.
    pub centralized: bool,
    /// Its background thread runs.
    pub polling: bool,
    /// Fresh rules from the service decide (false: the local rules do, before the first fetch
    /// and when the cached rules are more than an hour old).
    pub using_service_rules: bool,
    /// Rules cached (including `Default`).
    pub rules_cached: u64,
    /// Successful `GetSamplingRules` refreshes.
    pub rule_fetches: u64,
    /// Successful `SamplingTargets` calls.
    pub target_fetches: u64,
    /// Failed calls to the proxy (refused, timed out, non-2xx, unreadable answer): each is
    /// logged and counted, and changes nothing else.
    pub errors: u64,
}

/// Reads an optional request struct into the core's form (borrowing its strings).
///
/// # Safety
/// `request` must be NULL or point to a readable `oxray_sampling_request` whose non-NULL
/// fields are NUL-terminated strings outliving the returned value.
unsafe fn read_request<'a>(request: *const oxray_sampling_request) -> Outcome<SamplingRequest<'a>> {
    if request.is_null() {
        return Ok(SamplingRequest::default());
    }
    // SAFETY: non-NULL and readable per the contract; the struct holds only pointers.
    let r = unsafe { request.read() };
    // SAFETY: each field is NULL or a NUL-terminated string per the contract.
    unsafe {
        Ok(SamplingRequest {
            host: cstr::optional(r.host, "request->host")?,
            method: cstr::optional(r.method, "request->method")?,
            url_path: cstr::optional(r.url_path, "request->url_path")?,
            service_name: cstr::optional(r.service_name, "request->service_name")?,
            service_type: cstr::optional(r.service_type, "request->service_type")?,
        })
    }
}

/// Replaces the recorder's local sampling rules: `rules` is a rule file path or the rule file's
/// JSON text (version 1 or 2). With centralized sampling on they become its fallback. A
/// malformed file is `OXRAY_INVALID_ARGUMENT` with `oxray_last_error()` naming the field and
/// the reason (e.g. `rules[2].rate: must be a number from 0 to 1`); the rules in force stay.
/// (At creation the `sampling_rules` configuration key does the same.)
///
/// # Safety
/// `rules` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn oxray_recorder_set_sampling_rules(
    recorder: *const oxray_recorder,
    rules: *const c_char,
) -> oxray_status {
    firewall!({
        let handle = recorder_of(recorder)?;
        // SAFETY: forwarded from this function's contract.
        let rules = unsafe { cstr::required(rules, "rules") }?;
        handle.recorder.set_sampling_rules(rules).map_err(|e| {
            Failure::new(
                OXRAY_INVALID_ARGUMENT,
                format!("sampling rules refused: {e}"),
            )
        })
    })
}

/// Turns on centralized sampling: one background thread fetches the X-Ray service's rules and
/// quotas through the daemon's TCP proxy (the `tcp` part of the daemon address) and reports
/// statistics; the sampler in force is the fallback until rules arrive. Decisions never wait
/// on the network. Calling it again changes nothing. `OXRAY_INVALID_ARGUMENT` in Lambda (the
/// Lambda service decides) and when tracing is disabled. (At creation the
/// `centralized_sampling` configuration key does the same.)
#[no_mangle]
pub extern "C" fn oxray_recorder_enable_centralized_sampling(
    recorder: *const oxray_recorder,
) -> oxray_status {
    firewall!({
        recorder_of(recorder)?
            .recorder
            .enable_centralized_sampling()
            .map_err(Failure::from)
    })
}

/// Copies what sampling is doing into `*out` (all zero when centralized sampling is off).
///
/// # Safety
/// `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn oxray_recorder_sampling_status(
    recorder: *const oxray_recorder,
    out: *mut oxray_sampling_status,
) -> oxray_status {
    firewall!({
        let s = recorder_of(recorder)?.recorder.sampling_status();
        let status = oxray_sampling_status {
            centralized: s.centralized,
            polling: s.polling,
            using_service_rules: s.using_service_rules,
            rules_cached: s.rules_cached as u64,
            rule_fetches: s.rule_fetches,
            target_fetches: s.target_fetches,
            errors: s.errors,
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { cstr::store(out, status, "out") }
    })
}

/// Like `oxray_recorder_begin_segment`, with the request's attributes for the sampling rules
/// (`request` may be NULL: no attributes). An incoming `Sampled=1`/`Sampled=0` still decides
/// without the rules. When a centralized rule sampled the segment, its name is recorded as
/// `aws.xray.sampling_rule_name`.
///
/// # Safety
/// `name`, `trace_header`: NULL or NUL-terminated strings; `request`: as in
/// `oxray_sampling_request`'s contract, or NULL; `out`: NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn oxray_recorder_begin_segment_for_request(
    recorder: *const oxray_recorder,
    name: *const c_char,
    trace_header: *const c_char,
    request: *const oxray_sampling_request,
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
        // SAFETY: as above.
        let request = unsafe { read_request(request) }?;
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
        let segment = handle
            .recorder
            .begin_segment(name, incoming.as_ref(), &request);
        // SAFETY: out is writable (checked above).
        unsafe { out.write(entity_handle(segment)) };
        Ok(())
    })
}

/// Which rule `request` falls under in `rules_json`, without sampling: a local rule file
/// (the rule's `description`, else `rules[i]`, else `default`) or a `GetSamplingRules` answer
/// (the `RuleName`; an empty string when no usable rule matches, so the local rules would
/// decide). Written to `buf` following the buffer convention. Invalid rules are
/// `OXRAY_INVALID_ARGUMENT`, naming the field. For tests and tools.
///
/// # Safety
/// `rules_json` NULL or NUL-terminated; `request` as for
/// `oxray_recorder_begin_segment_for_request`; `buf` NULL or `len` writable bytes; `needed`
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn oxray_sampling_rule_for(
    rules_json: *const c_char,
    request: *const oxray_sampling_request,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> oxray_status {
    firewall!({
        // SAFETY: forwarded from this function's contract.
        let rules = unsafe { cstr::required(rules_json, "rules_json") }?;
        // SAFETY: as above.
        let request = unsafe { read_request(request) }?;
        let rule = probe::matched_rule(rules, &request)
            .map_err(|e| Failure::new(OXRAY_INVALID_ARGUMENT, e.to_string()))?;
        // SAFETY: as above.
        unsafe { cstr::write(rule.as_deref().unwrap_or(""), buf, len, needed) }
    })
}

/// The rules of `rules_json` in the order they are tried, as a JSON array of the names
/// `oxray_sampling_rule_for` gives (local: `default` last; centralized: only the rules an SDK
/// uses, `Default` last). Buffer convention as usual; invalid rules are
/// `OXRAY_INVALID_ARGUMENT`.
///
/// # Safety
/// `rules_json` NULL or NUL-terminated; `buf` NULL or `len` writable bytes; `needed` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn oxray_sampling_rule_order(
    rules_json: *const c_char,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> oxray_status {
    firewall!({
        // SAFETY: forwarded from this function's contract.
        let rules = unsafe { cstr::required(rules_json, "rules_json") }?;
        let order = probe::rule_order(rules)
            .map_err(|e| Failure::new(OXRAY_INVALID_ARGUMENT, e.to_string()))?;
        let text = serde_json::Value::from(order).to_string();
        // SAFETY: as above.
        unsafe { cstr::write(&text, buf, len, needed) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::{oxray_recorder_free, oxray_recorder_new};
    use crate::status::{OXRAY_INVALID_UTF8, OXRAY_NULL_ARGUMENT, OXRAY_OK};

    fn recorder(config: &std::ffi::CStr) -> *mut oxray_recorder {
        let mut r = std::ptr::null_mut();
        // SAFETY: a NUL-terminated literal and a writable out-pointer.
        assert_eq!(
            unsafe { oxray_recorder_new(config.as_ptr(), &mut r) },
            OXRAY_OK
        );
        r
    }

    #[test]
    fn rules_status_and_probe() {
        let r = recorder(c"{\"emit_mode\":\"memory\"}");
        let good = c"{\"version\":2,\"default\":{\"fixed_target\":0,\"rate\":0}}";
        let bad = c"{\"version\":2,\"default\":{\"fixed_target\":0,\"rate\":2}}";
        // SAFETY: literals are NUL-terminated; out-pointers writable.
        unsafe {
            assert_eq!(
                oxray_recorder_set_sampling_rules(r, good.as_ptr()),
                OXRAY_OK
            );
            assert_eq!(
                oxray_recorder_set_sampling_rules(r, bad.as_ptr()),
                OXRAY_INVALID_ARGUMENT
            );
            assert_eq!(
                oxray_recorder_set_sampling_rules(r, std::ptr::null()),
                OXRAY_NULL_ARGUMENT
            );
            let mut status = oxray_sampling_status::default();
            assert_eq!(oxray_recorder_sampling_status(r, &mut status), OXRAY_OK);
            assert!(!status.centralized);
            let bad_utf8 = [0xffu8, 0];
            let req = oxray_sampling_request {
                host: bad_utf8.as_ptr().cast(),
                method: std::ptr::null(),
                url_path: std::ptr::null(),
                service_name: std::ptr::null(),
                service_type: std::ptr::null(),
            };
            let mut seg = std::ptr::null_mut();
            assert_eq!(
                oxray_recorder_begin_segment_for_request(
                    r,
                    std::ptr::null(),
                    std::ptr::null(),
                    &req,
                    &mut seg
                ),
                OXRAY_INVALID_UTF8
            );
            assert!(seg.is_null());
            let mut buf = [0 as c_char; 32];
            assert_eq!(
                oxray_sampling_rule_for(
                    good.as_ptr(),
                    std::ptr::null(),
                    buf.as_mut_ptr(),
                    32,
                    std::ptr::null_mut()
                ),
                OXRAY_OK
            );
            assert_eq!(
                std::ffi::CStr::from_ptr(buf.as_ptr()).to_str().unwrap(),
                "default"
            );
        }
        oxray_recorder_free(r);
    }
}
