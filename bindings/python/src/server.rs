//! Server mode: one incoming HTTP request, traced by the WSGI / ASGI middleware.
//!
//! `Recorder.begin_wsgi(name, environ)` / `Recorder.begin_asgi(name, scope)` read the request
//! from the WSGI environ or the ASGI scope in one native call: they continue an incoming
//! `X-Amzn-Trace-Id`, let the sampler decide when the header does not, begin the segment
//! (in Lambda: a subsegment of the function segment) and record `http.request`. They return
//! an [`Exchange`], which adds the response header to the response, records the status and
//! length, and ends the segment once. The URL and other request fields are only built when
//! the request is sampled.
//!
//! Nothing here raises on what the application or the client sends: an unreadable value is
//! treated as absent, and headers the middleware cannot rewrite are passed on unchanged.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use oxray_core::sampling::SamplingRequest;
use oxray_core::{Entity, HttpRequest, Recorder, TraceHeader};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::diag;
use crate::entity::PyEntity;

/// The response header's name, as WSGI and ASGI want it.
const HEADER_NAME: &str = "X-Amzn-Trace-Id";
const HEADER_NAME_LOWER: &[u8] = b"x-amzn-trace-id";

/// What the middleware needs from one request, whatever the server interface.
#[derive(Default)]
pub struct RequestFacts {
    pub trace_header: Option<String>,
    /// The Host header as sent (with its port).
    pub host: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub scheme: Option<String>,
    pub user_agent: Option<String>,
    pub forwarded_for: Option<String>,
    pub remote_addr: Option<String>,
}

/// The host name without its port (`example.com:8080` → `example.com`, `[::1]:80` → `::1`).
pub fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The first address of an `X-Forwarded-For` list.
fn first_forwarded(value: &str) -> Option<&str> {
    let first = value.split(',').next()?.trim();
    (!first.is_empty()).then_some(first)
}

/// WSGI gives header values and paths as "bytes as latin-1" strings; non-ASCII text is
/// turned back into the UTF-8 the client sent.
fn wsgi_text(text: String) -> String {
    if text.is_ascii() || text.chars().any(|c| c as u32 > 0xFF) {
        return text;
    }
    let bytes: Vec<u8> = text.chars().map(|c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A non-empty Python str as text (lone surrogates replaced); anything else is absent.
fn text_of(value: &Bound<'_, PyAny>) -> Option<String> {
    let text = value
        .cast::<PyString>()
        .ok()?
        .to_string_lossy()
        .into_owned();
    (!text.is_empty()).then_some(text)
}

fn is_default_port(scheme: Option<&str>, port: &str) -> bool {
    matches!(
        (scheme.unwrap_or("http"), port),
        ("http", "80") | ("https", "443")
    )
}

/// `host[:port]`, the port left out when it is the scheme's default.
fn host_with_port(host: String, port: Option<String>, scheme: Option<&str>) -> String {
    match port {
        Some(p) if !is_default_port(scheme, &p) => format!("{host}:{p}"),
        _ => host,
    }
}

/// Reads a WSGI environ (PEP 3333).
pub fn from_environ(environ: &Bound<'_, PyDict>) -> RequestFacts {
    let py = environ.py();
    let get = |key: &Bound<'_, PyString>| {
        environ
            .get_item(key)
            .ok()
            .flatten()
            .and_then(|v| text_of(&v))
            .map(wsgi_text)
    };
    let script = get(intern!(py, "SCRIPT_NAME"));
    let path_info = get(intern!(py, "PATH_INFO"));
    let path = match (script, path_info) {
        (Some(s), Some(p)) => Some(s + &p),
        (s, p) => p.or(s),
    };
    let scheme = get(intern!(py, "wsgi.url_scheme"));
    let host = get(intern!(py, "HTTP_HOST")).or_else(|| {
        let name = get(intern!(py, "SERVER_NAME"))?;
        Some(host_with_port(
            name,
            get(intern!(py, "SERVER_PORT")),
            scheme.as_deref(),
        ))
    });
    RequestFacts {
        trace_header: get(intern!(py, "HTTP_X_AMZN_TRACE_ID")),
        host,
        method: get(intern!(py, "REQUEST_METHOD")),
        path,
        scheme,
        user_agent: get(intern!(py, "HTTP_USER_AGENT")),
        forwarded_for: get(intern!(py, "HTTP_X_FORWARDED_FOR")),
        remote_addr: get(intern!(py, "REMOTE_ADDR")),
    }
}

/// `(host, port)` of an ASGI `client` / `server` entry.
fn address_pair(value: &Bound<'_, PyAny>) -> Option<(String, Option<String>)> {
    if value.is_none() {
        return None;
    }
    let host = text_of(&value.get_item(0).ok()?)?;
    let port = value
        .get_item(1)
        .ok()
        .and_then(|p| p.extract::<i64>().ok())
        .map(|p| p.to_string());
    Some((host, port))
}

/// Reads an ASGI HTTP scope (headers are byte pairs with lower-case names).
pub fn from_scope<'py>(scope: &Bound<'py, PyDict>) -> RequestFacts {
    let py = scope.py();
    let get = |key: &Bound<'py, PyString>| scope.get_item(key).ok().flatten();
    let text = |key: &Bound<'py, PyString>| get(key).and_then(|v| text_of(&v));
    let mut facts = RequestFacts {
        method: text(intern!(py, "method")),
        path: text(intern!(py, "path")),
        scheme: text(intern!(py, "scheme")),
        ..RequestFacts::default()
    };
    if let Some(iter) = get(intern!(py, "headers")).and_then(|h| h.try_iter().ok()) {
        for pair in iter.flatten() {
            let (Ok(name), Ok(value)) = (pair.get_item(0), pair.get_item(1)) else {
                continue;
            };
            let (Ok(name), Ok(value)) = (name.cast::<PyBytes>(), value.cast::<PyBytes>()) else {
                continue;
            };
            let slot = match name.as_bytes() {
                b"x-amzn-trace-id" => &mut facts.trace_header,
                b"host" => &mut facts.host,
                b"user-agent" => &mut facts.user_agent,
                b"x-forwarded-for" => &mut facts.forwarded_for,
                _ => continue,
            };
            if slot.is_none() && !value.as_bytes().is_empty() {
                *slot = Some(String::from_utf8_lossy(value.as_bytes()).into_owned());
            }
        }
    }
    if facts.host.is_none() {
        if let Some((host, port)) = get(intern!(py, "server")).and_then(|s| address_pair(&s)) {
            facts.host = Some(host_with_port(host, port, facts.scheme.as_deref()));
        }
    }
    facts.remote_addr = get(intern!(py, "client"))
        .and_then(|c| address_pair(&c))
        .map(|(host, _)| host);
    facts
}

/// Begins the segment for a request. None when tracing is disabled (the middleware then
/// passes the request through untouched).
pub fn begin(
    py: Python<'_>,
    rec: &Recorder,
    name: Option<&str>,
    facts: &RequestFacts,
) -> Option<Exchange> {
    let config = rec.config();
    if !config.enabled {
        return None;
    }
    let incoming = match facts.trace_header.as_deref().map(TraceHeader::parse) {
        Some(Ok(h)) => Some(h),
        Some(Err(e)) => {
            rec.warn(&format!("incoming X-Amzn-Trace-Id ignored: {e}"));
            None
        }
        None => None,
    };
    let hostname = facts
        .host
        .as_deref()
        .map(host_name)
        .filter(|h| !h.is_empty());
    let name = name.filter(|n| !n.is_empty()).or(hostname);
    let shown: Arc<str> = Arc::from(
        config
            .tracing_name
            .as_deref()
            .or(name)
            .or(config.function_name.as_deref())
            .unwrap_or("unnamed"),
    );
    let entity = if config.lambda {
        // Lambda owns the function segment: the request becomes a subsegment of it, and the
        // invocation's header (not the request's) decides.
        rec.lambda_facade(None).begin_subsegment(&shown)
    } else {
        let request = SamplingRequest {
            host: hostname,
            method: facts.method.as_deref(),
            url_path: facts.path.as_deref(),
            ..SamplingRequest::default()
        };
        rec.begin_segment(name, incoming.as_ref(), &request)
    };
    if entity.is_sampled() {
        record_request(&entity, facts);
    }
    // `Root=…`, plus the decision when the caller asked with `Sampled=?`.
    let header = TraceHeader::response(incoming.as_ref(), entity.trace_id(), entity.is_sampled());
    let lambda = config.lambda;
    let segment = Py::new(py, PyEntity::new(entity, shown)).ok()?;
    diag::drain(py);
    Some(Exchange {
        segment,
        header,
        lambda,
        status: AtomicU32::new(0),
        content_length: AtomicI64::new(-1),
        sent: AtomicI64::new(0),
        trailers: AtomicBool::new(false),
        end_micros: AtomicU64::new(0),
        finished: AtomicBool::new(false),
    })
}

fn record_request(entity: &Entity, facts: &RequestFacts) {
    let url = facts.host.as_deref().map(|host| {
        format!(
            "{}://{host}{}",
            facts.scheme.as_deref().unwrap_or("http"),
            facts.path.as_deref().unwrap_or("/")
        )
    });
    let forwarded = facts.forwarded_for.as_deref().and_then(first_forwarded);
    let client_ip = forwarded
        .or(facts.remote_addr.as_deref())
        .map(str::to_string);
    let _ = entity.set_http_request(HttpRequest {
        method: facts.method.as_deref().map(str::to_ascii_uppercase),
        url,
        user_agent: facts.user_agent.as_deref().map(str::to_string),
        client_ip,
        x_forwarded_for: forwarded.is_some(),
        traced: false,
    });
}

/// One request in flight: its segment, the response header to return, and what is known of
/// the response so far. Shared by the middleware's wrappers; every method is safe to call
/// more than once and from any thread.
#[pyclass(frozen, name = "Exchange", module = "oxray._core")]
pub struct Exchange {
    segment: Py<PyEntity>,
    header: String,
    lambda: bool,
    /// 0: no response started yet.
    status: AtomicU32,
    /// -1: the response had no Content-Length.
    content_length: AtomicI64,
    /// Body bytes seen (ASGI messages, or counted by the WSGI wrapper).
    sent: AtomicI64,
    /// The ASGI response announced trailers: it ends with the last trailers message.
    trailers: AtomicBool,
    /// When the response finished (epoch µs); 0 while it is still being sent.
    end_micros: AtomicU64,
    finished: AtomicBool,
}

fn status_of_wsgi(status: &Bound<'_, PyAny>) -> Option<u16> {
    let text = status.cast::<PyString>().ok()?.to_string_lossy();
    text.get(..3)?.parse::<u16>().ok()
}

fn parse_length(value: &[u8]) -> Option<i64> {
    std::str::from_utf8(value)
        .ok()?
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
}

impl Exchange {
    /// The WSGI headers with ours appended (and any the app set under that name removed), or
    /// None when the list cannot be read (the app's own list is then passed on).
    fn wsgi_headers<'py>(&self, headers: &Bound<'py, PyAny>) -> Option<Bound<'py, PyList>> {
        let py = headers.py();
        let out = PyList::empty(py);
        for item in headers.try_iter().ok()? {
            let item = item.ok()?;
            if let Ok(name) = item.get_item(0) {
                if let Ok(name) = name.cast::<PyString>() {
                    let name = name.to_string_lossy();
                    if name.eq_ignore_ascii_case(HEADER_NAME) {
                        continue;
                    }
                    if name.eq_ignore_ascii_case("content-length") {
                        if let Some(n) = item
                            .get_item(1)
                            .ok()
                            .and_then(|v| {
                                v.cast::<PyString>()
                                    .ok()
                                    .map(|s| s.to_string_lossy().into_owned())
                            })
                            .and_then(|v| parse_length(v.as_bytes()))
                        {
                            self.content_length.store(n, Ordering::Relaxed);
                        }
                    }
                }
            }
            out.append(item).ok()?;
        }
        let ours = PyTuple::new(py, [HEADER_NAME, self.header.as_str()]).ok()?;
        out.append(ours).ok()?;
        Some(out)
    }

    /// A copy of an ASGI `http.response.start` message with our header added.
    fn asgi_start<'py>(&self, message: &Bound<'py, PyDict>) -> Option<Bound<'py, PyDict>> {
        let py = message.py();
        if let Ok(Some(status)) = message.get_item(intern!(py, "status")) {
            if let Ok(status) = status.extract::<u16>() {
                self.status.store(u32::from(status), Ordering::Relaxed);
            }
        }
        if let Ok(Some(t)) = message.get_item(intern!(py, "trailers")) {
            self.trailers
                .store(t.is_truthy().unwrap_or(false), Ordering::Relaxed);
        }
        let out = PyList::empty(py);
        if let Ok(Some(headers)) = message.get_item(intern!(py, "headers")) {
            for item in headers.try_iter().ok()? {
                let item = item.ok()?;
                if let Ok(name) = item.get_item(0) {
                    if let Ok(name) = name.cast::<PyBytes>() {
                        let name = name.as_bytes();
                        if name.eq_ignore_ascii_case(HEADER_NAME_LOWER) {
                            continue;
                        }
                        if name.eq_ignore_ascii_case(b"content-length") {
                            if let Some(n) = item.get_item(1).ok().and_then(|v| {
                                v.cast::<PyBytes>()
                                    .ok()
                                    .and_then(|b| parse_length(b.as_bytes()))
                            }) {
                                self.content_length.store(n, Ordering::Relaxed);
                            }
                        }
                    }
                }
                out.append(item).ok()?;
            }
        }
        let ours = PyTuple::new(
            py,
            [
                PyBytes::new(py, HEADER_NAME_LOWER),
                PyBytes::new(py, self.header.as_bytes()),
            ],
        )
        .ok()?;
        out.append(ours).ok()?;
        let copy = message.copy().ok()?;
        copy.set_item(intern!(py, "headers"), out).ok()?;
        Some(copy)
    }

    fn response_done(&self) {
        let _ = self.end_micros.compare_exchange(
            0,
            oxray_core::time::now_micros(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}

#[pymethods]
impl Exchange {
    /// The request's segment (in Lambda: its subsegment of the function segment).
    #[getter]
    fn segment(&self, py: Python<'_>) -> Py<PyEntity> {
        self.segment.clone_ref(py)
    }

    /// The `X-Amzn-Trace-Id` value returned on the response.
    #[getter]
    fn header(&self) -> &str {
        &self.header
    }

    /// True when the request is a subsegment of a Lambda invocation.
    #[getter]
    fn lambda_mode(&self) -> bool {
        self.lambda
    }

    /// The response status, once the response started.
    #[getter]
    fn status(&self) -> Option<u16> {
        match self.status.load(Ordering::Relaxed) {
            0 => None,
            s => u16::try_from(s).ok(),
        }
    }

    #[getter]
    fn finished(&self) -> bool {
        self.finished.load(Ordering::Relaxed)
    }

    /// WSGI `start_response(status, headers)`: records the status and Content-Length and
    /// returns the headers to give the server (a new list ending with our header). Headers
    /// it cannot read are returned unchanged, for the server to judge.
    fn wsgi_start(&self, status: &Bound<'_, PyAny>, headers: &Bound<'_, PyAny>) -> Py<PyAny> {
        if let Some(s) = status_of_wsgi(status) {
            self.status.store(u32::from(s), Ordering::Relaxed);
        }
        match self.wsgi_headers(headers) {
            Some(list) => list.into_any().unbind(),
            None => headers.clone().unbind(),
        }
    }

    /// An ASGI message on its way to the server: the response start gets our header (a
    /// copy of the message is returned), body messages are counted, and the last one marks
    /// the end of the response. Anything else is returned as it is.
    fn asgi_message(&self, message: &Bound<'_, PyAny>) -> Py<PyAny> {
        let py = message.py();
        let Ok(dict) = message.cast::<PyDict>() else {
            return message.clone().unbind();
        };
        let Ok(Some(kind)) = dict.get_item(intern!(py, "type")) else {
            return message.clone().unbind();
        };
        let Ok(kind) = kind.cast::<PyString>() else {
            return message.clone().unbind();
        };
        let kind = kind.to_string_lossy();
        let more = |key: &Bound<'_, PyString>| {
            dict.get_item(key)
                .ok()
                .flatten()
                .map(|v| v.is_truthy().unwrap_or(false))
                .unwrap_or(false)
        };
        match &*kind {
            "http.response.start" => {
                if let Some(copy) = self.asgi_start(dict) {
                    return copy.into_any().unbind();
                }
            }
            "http.response.body" => {
                if let Ok(Some(body)) = dict.get_item(intern!(py, "body")) {
                    if let Ok(n) = body.len() {
                        self.sent.fetch_add(n as i64, Ordering::Relaxed);
                    }
                }
                if !more(intern!(py, "more_body")) && !self.trailers.load(Ordering::Relaxed) {
                    self.response_done();
                }
            }
            "http.response.trailers" if !more(intern!(py, "more_trailers")) => {
                self.response_done();
            }
            "http.response.zerocopysend"
                if !more(intern!(py, "more_body")) && !self.trailers.load(Ordering::Relaxed) =>
            {
                self.response_done();
            }
            "http.response.pathsend" => self.response_done(),
            _ => {}
        }
        message.clone().unbind()
    }

    /// Adds body bytes counted by the caller (WSGI).
    fn add_sent(&self, n: i64) {
        if n > 0 {
            self.sent.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Records the response (status; Content-Length, else the body bytes seen) and its
    /// error/throttle/fault flags, and ends the segment, once. `failed`: the application
    /// raised; with no response started, that is a 500.
    #[pyo3(signature = (failed = false))]
    fn finish(&self, py: Python<'_>, failed: bool) {
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        let segment = &self.segment.get().entity;
        let status = match self.status.load(Ordering::Relaxed) {
            0 if failed => Some(500),
            0 => None,
            s => u16::try_from(s).ok(),
        };
        if let Some(status) = status {
            if segment.is_sampled() {
                let length = match self.content_length.load(Ordering::Relaxed) {
                    -1 => Some(self.sent.load(Ordering::Relaxed)).filter(|n| *n > 0),
                    n => Some(n),
                };
                let _ = segment.set_http_response(Some(status), length);
            }
        }
        let _ = match self.end_micros.load(Ordering::Relaxed) {
            0 => segment.end(),
            t => segment.end_at(t),
        };
        diag::drain(py);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(host_name("example.com:8080"), "example.com");
        assert_eq!(host_name("example.com"), "example.com");
        assert_eq!(host_name("[::1]:80"), "::1");
        assert_eq!(host_name("[::1]"), "::1");
        assert_eq!(host_name("a:b"), "a:b");
        assert_eq!(host_name(""), "");
    }

    #[test]
    fn forwarded_and_text() {
        assert_eq!(
            first_forwarded(" 203.0.113.7 , 10.0.0.1"),
            Some("203.0.113.7")
        );
        assert_eq!(first_forwarded(" ,x"), None);
        // "café" as UTF-8 bytes read as latin-1 by a WSGI server.
        let mangled: String = "café".bytes().map(char::from).collect();
        assert_eq!(wsgi_text(mangled), "café");
        assert_eq!(wsgi_text("plain".into()), "plain");
        assert_eq!(wsgi_text("ok ✓".into()), "ok ✓");
        assert_eq!(parse_length(b" 12 "), Some(12));
        assert_eq!(parse_length(b"-1"), None);
    }
}
