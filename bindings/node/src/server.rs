//! Server mode: the segment of one incoming HTTP request (`oxray/middleware`'s
//! `traceHttpServer` and `traceExpress`).
//!
//! [`begin_request`] reads what the JavaScript layer took from the request in one crossing: it
//! continues an incoming `X-Amzn-Trace-Id` (its `Sampled=1`/`0` decides), lets the sampler
//! decide otherwise (by host, method and path), begins the segment (in Lambda: a subsegment
//! of the invocation's function segment, which Lambda decides) and, when it is sampled,
//! records `http.request`. [`response_header`] is the `X-Amzn-Trace-Id` to answer with;
//! [`end_request`] records the response and ends the segment. Nothing here fails on what a
//! client sends: an unusable trace header is logged, counted and ignored.
//!
//! A sampled response's end is recorded in two steps: [`end_request_later`] at the response's
//! `close` (the end time is taken then), and [`flush_ended_requests`] on the next turn of the
//! event loop, which ends every request noted since. Why: between two requests' ends Node and
//! the application run so much code that oxray's ending and serializing code is out of the CPU's
//! instruction cache each time (callgrind's cache simulation: about 200 of the 500 first-level
//! instruction-cache misses of a sampled request's native code are in its end); run back to
//! back for all the requests that ended in one turn, it is cold once per turn. An unsampled
//! request has next to nothing to end and is ended at once ([`end_request`]): scheduling the
//! flush would cost it more than it saves. The noted ends live in the thread's state, so that a
//! thread that ends before its flush (a terminated worker) still ends them as its state is
//! released ([`end_noted_on_release`]); at process exit the JavaScript layer flushes.

use std::borrow::Cow;

use oxray_core::request_headers::host_name;
use oxray_core::sampling::SamplingRequest;
use oxray_core::{Entity, IncomingRequest, Recorder, Sampled, TraceHeader};

use crate::state;

/// What every request needs read: the name asked for, the trace header, and what sampling
/// rules match on. Borrowed from the caller's buffers; absent values are None.
#[derive(Default)]
pub struct RequestKey<'a> {
    /// The segment name asked for (the middleware's option or the Tracer's service name);
    /// without one, the Host's name. `AWS_XRAY_TRACING_NAME` wins over both (core rule).
    pub name: Option<&'a str>,
    pub trace_header: Option<&'a str>,
    /// The Host header as sent (with its port).
    pub host: Option<&'a str>,
    pub method: Option<&'a str>,
    /// The URL path, without the query.
    pub path: Option<&'a str>,
}

/// What a sampled request records besides its key (read only for sampled requests), borrowed
/// from the caller's buffers where it fits in them.
#[derive(Default)]
pub struct RequestDetails<'d> {
    /// `http` or `https`.
    pub scheme: Option<Cow<'d, str>>,
    pub user_agent: Option<Cow<'d, str>>,
    /// The peer address of the connection.
    pub remote_addr: Option<Cow<'d, str>>,
    /// The `X-Forwarded-For` header.
    pub forwarded_for: Option<Cow<'d, str>>,
}

/// Begins the request's segment and returns its handle; 0 when tracing is disabled or
/// before `init` (the middleware then passes the request through untouched). `details` is
/// called only when the request is sampled.
pub fn begin_request<'d>(
    key: &RequestKey<'_>,
    details: impl FnOnce() -> RequestDetails<'d>,
) -> u32 {
    let entity = state::with(|s| begin_entity(&s.recorder, key)).flatten();
    match entity {
        Some(entity) => {
            if entity.is_sampled() {
                record_request(&entity, key, &details());
            }
            state::insert(entity)
        }
        None => 0,
    }
}

fn begin_entity(recorder: &Recorder, key: &RequestKey<'_>) -> Option<Entity> {
    let config = recorder.config();
    if !config.enabled {
        return None;
    }
    let hostname = key.host.map(host_name).filter(|h| !h.is_empty());
    let name = key.name.filter(|n| !n.is_empty()).or(hostname);
    if config.lambda {
        // Lambda owns the function segment and its sampling decision: the request is a
        // subsegment of the invocation's.
        let shown = config.tracing_name.as_deref().or(name).unwrap_or("unnamed");
        return Some(recorder.lambda_facade(None).begin_subsegment(shown));
    }
    let incoming = match key.trace_header.map(TraceHeader::parse) {
        Some(Ok(h)) => Some(h),
        Some(Err(e)) => {
            recorder.report_bad_incoming_header(&e);
            None
        }
        None => None,
    };
    let sampling = SamplingRequest {
        host: hostname,
        method: key.method,
        url_path: key.path,
        ..SamplingRequest::default()
    };
    Some(recorder.begin_segment(name, incoming.as_ref(), &sampling))
}

/// `http.request` of a sampled request: method, full URL (no query), user agent, and the
/// client's address (the first `X-Forwarded-For` entry when there is one, flagged so), written
/// into the record's recycled buffers.
fn record_request(entity: &Entity, key: &RequestKey<'_>, details: &RequestDetails<'_>) {
    let url = key.host.map(|host| {
        let scheme = details.scheme.as_deref().unwrap_or("http");
        [scheme, host, key.path.unwrap_or("/")]
    });
    let _ = entity.set_incoming_request(&IncomingRequest {
        method: key.method,
        url,
        user_agent: details.user_agent.as_deref(),
        forwarded_for: details.forwarded_for.as_deref(),
        peer: details.remote_addr.as_deref(),
    });
}

/// Longest `X-Amzn-Trace-Id` answer: `Root=` + trace id (35) + `;Sampled=1`.
pub const ANSWER_ROOM: usize = 50;

/// What [`begin_request_answered`] read lazily: each is asked at most once, and only when
/// needed (the trace header always; host, method and path only when the segment is named
/// after the host, the sampling rules decide, or the request is sampled).
pub trait RequestSource<'a> {
    fn trace_header(&mut self) -> Option<&'a str>;
    fn host(&mut self) -> Option<&'a str>;
    fn method(&mut self) -> Option<&'a str>;
    fn path(&mut self) -> Option<&'a str>;
}

/// A begun request: its handle (0: not traced), whether it is sampled, and the
/// `X-Amzn-Trace-Id` to answer with (`answer[..answer_len]`, ASCII).
pub struct Begun {
    pub handle: u32,
    pub sampled: bool,
    pub answer: [u8; ANSWER_ROOM],
    pub answer_len: usize,
}

/// The request as the general path and `record_request` read it (host, method and path read
/// from `source` now).
fn request_key<'k, 'a: 'k>(
    name: Option<&'k str>,
    trace_header: Option<&'k str>,
    source: &mut impl RequestSource<'a>,
) -> RequestKey<'k> {
    RequestKey {
        name,
        trace_header,
        host: source.host(),
        method: source.method(),
        path: source.path(),
    }
}

/// [`begin_request`] and [`response_header`] in one pass, reading the request lazily from
/// `source` (see [`RequestSource`]): an unsampled request decided by its header never reads
/// its method or path. `name` is the segment name asked for (None: the Host's name).
pub fn begin_request_answered<'a, 'd>(
    name: Option<&str>,
    source: &mut impl RequestSource<'a>,
    details: impl FnOnce() -> RequestDetails<'d>,
) -> Begun {
    let mut begun = Begun {
        handle: 0,
        sampled: false,
        answer: [0; ANSWER_ROOM],
        answer_len: 0,
    };
    let name = name.filter(|n| !n.is_empty());
    let trace_header = source.trace_header();
    let incoming = state::with(|s| {
        let config = s.recorder.config();
        if !config.enabled || config.lambda {
            return None;
        }
        Some(match trace_header.map(TraceHeader::parse) {
            Some(Ok(h)) => Some(h),
            Some(Err(e)) => {
                s.recorder.report_bad_incoming_header(&e);
                None
            }
            None => None,
        })
    })
    .flatten();
    let entity = match incoming {
        // Outside Lambda: decided here.
        Some(incoming) => {
            let decided = incoming.as_ref().and_then(|h| h.sampled);
            let host = if name.is_none() || decided != Some(Sampled::No) {
                source.host()
            } else {
                None
            };
            let hostname = host.map(host_name).filter(|h| !h.is_empty());
            let undecided = !matches!(decided, Some(Sampled::Yes | Sampled::No));
            let sampling = if undecided {
                SamplingRequest {
                    host: hostname,
                    method: source.method(),
                    url_path: source.path(),
                    ..SamplingRequest::default()
                }
            } else {
                SamplingRequest::default()
            };
            state::with(|s| {
                s.recorder
                    .begin_segment(name.or(hostname), incoming.as_ref(), &sampling)
            })
        }
        // Tracing off, before `init`, or in Lambda (the general path decides).
        None => {
            let key = request_key(name, trace_header, source);
            state::with(|s| begin_entity(&s.recorder, &key)).flatten()
        }
    };
    let Some(entity) = entity else {
        return begun;
    };
    begun.sampled = entity.is_sampled();
    if begun.sampled {
        let key = request_key(name, trace_header, source);
        record_request(&entity, &key, &details());
    }
    begun.answer_len = write_answer(&entity, &mut begun.answer);
    begun.handle = state::insert(entity);
    begun
}

/// Writes the `X-Amzn-Trace-Id` answer for `entity` into `out` (what
/// `TraceHeader::response` makes, without formatting); returns its length.
fn write_answer(entity: &Entity, out: &mut [u8; ANSWER_ROOM]) -> usize {
    out[..5].copy_from_slice(b"Root=");
    out[5..40].copy_from_slice(&entity.trace_id().to_bytes());
    let requested = entity.incoming_header().and_then(|h| h.sampled) == Some(Sampled::Requested);
    if !requested {
        return 40;
    }
    out[40..49].copy_from_slice(b";Sampled=");
    out[49] = if entity.is_sampled() { b'1' } else { b'0' };
    ANSWER_ROOM
}

/// The `X-Amzn-Trace-Id` to answer with: `Root=…`, plus the decision when the caller asked
/// with `Sampled=?`. None for a stale handle.
pub fn response_header(handle: u32) -> Option<String> {
    state::with_entity(handle, |e| {
        TraceHeader::response(e.incoming_header(), e.trace_id(), e.is_sampled())
    })
}

/// Records the response (status → error/throttle/fault, content length; nothing when neither
/// is known: the connection closed before an answer) and ends the segment. False if it had already ended or the handle is stale.
pub fn end_request(handle: u32, status: Option<u16>, content_length: Option<i64>) -> bool {
    ResponseEnd::now(handle, status, content_length).apply()
}

/// A request's response ended: what it was and when.
pub struct ResponseEnd {
    handle: u32,
    status: Option<u16>,
    content_length: Option<i64>,
    /// Epoch microseconds, the core's clock.
    at_micros: u64,
}

impl ResponseEnd {
    fn now(handle: u32, status: Option<u16>, content_length: Option<i64>) -> Self {
        Self {
            handle,
            status,
            content_length,
            at_micros: oxray_core::time::now_micros(),
        }
    }

    /// Records the response and ends the segment at the time noted (see [`end_request`]).
    fn apply(&self) -> bool {
        let ended = state::with_entity(self.handle, |e| self.apply_to(e)) == Some(true);
        if ended {
            state::with(|s| s.slab.ended(self.handle));
        }
        ended
    }

    /// [`Self::apply`] on the entity itself; false if it had already ended.
    fn apply_to(&self, e: &Entity) -> bool {
        let known = self.status.is_some() || self.content_length.is_some();
        !e.is_ended()
            && (!known
                || !e.is_sampled()
                || e.set_http_response(self.status, self.content_length)
                    .is_ok())
            && e.end_at(self.at_micros).is_ok()
    }
}

/// Noted ends past this many are flushed at once: a caller that never flushes holds a bounded
/// number of requests back.
const MAX_NOTED_ENDS: usize = 1024;

/// Notes that the request's response ended now (see the module docs). True when it is the
/// first end noted since the last flush: the caller schedules [`flush_ended_requests`].
pub fn end_request_later(handle: u32, status: Option<u16>, content_length: Option<i64>) -> bool {
    let end = ResponseEnd::now(handle, status, content_length);
    // Kept in the thread's state, in the order the responses ended (no state: nothing began).
    let Some((first, full)) = state::with(|s| {
        s.noted_ends.push(end);
        (
            s.noted_ends.len() == 1,
            s.noted_ends.len() >= MAX_NOTED_ENDS,
        )
    }) else {
        return false;
    };
    if full {
        flush_ended_requests();
    }
    first
}

/// Ends every request noted by [`end_request_later`] at its noted time; returns how many
/// were ended (one already ended, by `close()` on its segment say, is skipped).
pub fn flush_ended_requests() -> u32 {
    // Taken out while the segments end (the state cannot stay borrowed: ending looks the
    // handles up in it), then handed back empty: its capacity serves the next turn.
    let mut noted = state::with(|s| std::mem::take(&mut s.noted_ends)).unwrap_or_default();
    let ended = noted.drain(..).map(|end| u32::from(end.apply())).sum();
    state::with(|s| {
        if s.noted_ends.is_empty() {
            s.noted_ends = noted;
        }
    });
    ended
}

/// The thread's state is being released: its noted requests are ended from its own table.
pub(crate) fn end_noted_on_release(state: &mut state::State) {
    for end in std::mem::take(&mut state.noted_ends) {
        if let Some(entity) = state.slab.get(end.handle) {
            end.apply_to(entity);
        }
    }
}
