//! Server mode: one incoming HTTP request, traced by the WSGI / ASGI middleware.
//!
//! `Recorder.begin_wsgi(name, environ, start_response)` / `Recorder.begin_asgi(name, scope,
//! send)` read the request ([`request`]) in one native call: they continue an incoming
//! `X-Amzn-Trace-Id`, let the sampler decide when the header does not, begin the segment (in
//! Lambda: a subsegment of the function segment) and, when it is sampled, record
//! `http.request`. They return an [`Exchange`], which stands in for the server's
//! `start_response` / `send`, adds the response header ([`headers`]), records the status and
//! length, and ends the segment once. A streamed WSGI body is passed through by a [`Body`].
//!
//! Nothing here raises on what the application or the client sends: an unreadable value is
//! treated as absent, and headers the middleware cannot rewrite are passed on unchanged.

mod body;
mod context;
mod exchange;
mod headers;
mod hooks;
mod middleware;
mod request;
mod text;

use std::sync::Arc;

use oxray_core::sampling::SamplingRequest;
use oxray_core::{Entity, IncomingRequest, Recorder, Sampled, TraceHeader};
use pyo3::prelude::*;

pub use body::Body;
pub use exchange::{Exchange, Interface};
pub use hooks::Hooks;
pub use middleware::{State, WsgiMiddleware};
pub use request::{AsgiRequest, RequestSource, WsgiRequest};

use crate::diag;
use crate::entity::PyEntity;
use headers::ResponseHeader;
use oxray_core::request_headers::host_name;
use request::RequestDetails;
use text::Text;

/// A request's beginning, for its [`Exchange`].
pub struct Begun {
    pub segment: Py<PyEntity>,
    /// The `X-Amzn-Trace-Id` value to answer with.
    pub header: ResponseHeader,
    pub lambda: bool,
}

/// Begins the segment for a request: a subsegment of `parent` when one is current, of the
/// Lambda function segment in Lambda, else a segment. None when tracing is disabled (the
/// middleware then passes the request through untouched).
pub fn begin<'py>(
    py: Python<'py>,
    rec: &Recorder,
    name: Option<&str>,
    parent: Option<&Bound<'py, PyEntity>>,
    source: &impl RequestSource<'py>,
) -> Option<Begun> {
    let config = rec.config();
    if !config.enabled {
        return None;
    }
    let incoming = match source
        .trace_header()
        .map(|h| TraceHeader::parse(h.as_str()))
    {
        Some(Ok(h)) => Some(h),
        Some(Err(e)) => {
            rec.report_bad_incoming_header(&e);
            None
        }
        None => None,
    };
    let requested = incoming.as_ref().and_then(|h| h.sampled);
    // The sampler decides a new segment unless the caller's header did.
    let sampler_decides = parent.is_none()
        && !config.lambda
        && !matches!(requested, Some(Sampled::Yes | Sampled::No));
    let name = name.filter(|n| !n.is_empty());
    // The Host names a segment that has no name; the method and path are read only for the
    // sampler here, and for a sampled request's record below.
    let host = (name.is_none() || sampler_decides)
        .then(|| source.host())
        .flatten();
    let hostname = host
        .as_ref()
        .map(|h| host_name(h.as_str()))
        .filter(|h| !h.is_empty());
    let name = name.or(hostname);
    let shown: Arc<str> = Arc::from(
        config
            .tracing_name
            .as_deref()
            .or(name)
            .or(config.function_name.as_deref())
            .unwrap_or("unnamed"),
    );
    let (mut method, mut path) = (None, None);
    let segment = match parent {
        // Inside a traced context (a Lambda handler traced with capture_lambda_handler, an
        // application mounted inside another traced one): a subsegment of what is current.
        Some(p) => p.get().child(Arc::clone(&shown), Some(p)),
        // Lambda owns the function segment: the request becomes a subsegment of it, and the
        // invocation's header (not the request's) decides.
        None if config.lambda => PyEntity::new(
            rec.lambda_facade(None).begin_subsegment(&shown),
            Arc::clone(&shown),
        ),
        None => {
            if sampler_decides {
                method = source.method();
                path = source.path();
            }
            let request = SamplingRequest {
                host: hostname,
                method: method.as_ref().map(Text::as_str),
                url_path: path.as_ref().map(Text::as_str),
                ..SamplingRequest::default()
            };
            let segment = rec.begin_segment(name, incoming.as_ref(), &request);
            PyEntity::new(segment, Arc::clone(&shown))
        }
    };
    let entity = &segment.entity;
    let answer = (requested == Some(Sampled::Requested)).then_some(entity.is_sampled());
    let header = ResponseHeader::new(entity.trace_id(), answer);
    if entity.is_sampled() {
        let host = host.or_else(|| source.host());
        let method = method.or_else(|| source.method());
        let path = path.or_else(|| source.path());
        record_request(entity, host, method, path, source.details());
    }
    let segment = Py::new(py, segment).ok()?;
    diag::drain(py);
    Some(Begun {
        segment,
        header,
        lambda: config.lambda,
    })
}

fn record_request(
    entity: &Entity,
    host: Option<Text<'_>>,
    method: Option<Text<'_>>,
    path: Option<Text<'_>>,
    details: RequestDetails<'_>,
) {
    let scheme = details.scheme.as_ref().map_or("http", Text::as_str);
    let url = host.as_ref().map(|host| {
        [
            scheme,
            host.as_str(),
            path.as_ref().map_or("/", Text::as_str),
        ]
    });
    // Written into the record's recycled buffers: nothing allocated per request.
    let _ = entity.set_incoming_request(&IncomingRequest {
        method: method.as_ref().map(Text::as_str),
        url,
        user_agent: details.user_agent.as_ref().map(Text::as_str),
        forwarded_for: details.forwarded_for.as_ref().map(Text::as_str),
        peer: details.remote_addr.as_ref().map(Text::as_str),
    });
}
