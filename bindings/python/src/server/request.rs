//! Reading an incoming request from a WSGI environ or an ASGI scope.
//!
//! In two steps, because strings cost a copy each under the stable ABI: the [`RequestKey`]
//! (what sampling and naming need) for every request, the [`RequestDetails`] (what is recorded
//! in `http.request`) only for sampled ones.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use super::headers::pair_item;

/// What every request needs read: the trace header, and what sampling rules match on.
#[derive(Default)]
pub struct RequestKey {
    pub trace_header: Option<String>,
    /// The Host header as sent (with its port).
    pub host: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
}

/// What a sampled request records besides its key.
#[derive(Default)]
pub struct RequestDetails {
    pub scheme: Option<String>,
    pub user_agent: Option<String>,
    pub forwarded_for: Option<String>,
    pub remote_addr: Option<String>,
}

/// A request as a server interface presents it.
pub trait RequestSource {
    fn key(&self) -> RequestKey;
    fn details(&self) -> RequestDetails;
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
pub fn first_forwarded(value: &str) -> Option<&str> {
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

/// A non-empty Python str as text; anything else is absent.
fn text_of(value: &Bound<'_, PyAny>) -> Option<String> {
    let s = value.cast::<PyString>().ok()?;
    if s.len().ok()? == 0 {
        return None;
    }
    Some(owned_text(s))
}

/// The text of a str. The strict UTF-8 conversion is the fast one under the stable ABI; a
/// str holding lone surrogates (which it refuses) gets them replaced.
pub fn owned_text(s: &Bound<'_, PyString>) -> String {
    match s.to_cow() {
        Ok(text) => text.into_owned(),
        Err(_) => s.to_string_lossy().into_owned(),
    }
}

fn bytes_text(value: &Bound<'_, PyBytes>) -> Option<String> {
    let bytes = value.as_bytes();
    (!bytes.is_empty()).then(|| String::from_utf8_lossy(bytes).into_owned())
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

/// A WSGI environ (PEP 3333).
pub struct WsgiRequest<'a, 'py> {
    pub environ: &'a Bound<'py, PyDict>,
}

impl WsgiRequest<'_, '_> {
    fn get(&self, key: &Bound<'_, PyString>) -> Option<String> {
        let value = self.environ.get_item(key).ok()??;
        text_of(&value).map(wsgi_text)
    }
}

impl RequestSource for WsgiRequest<'_, '_> {
    fn key(&self) -> RequestKey {
        let py = self.environ.py();
        let script = self.get(intern!(py, "SCRIPT_NAME"));
        let path_info = self.get(intern!(py, "PATH_INFO"));
        let path = match (script, path_info) {
            (Some(s), Some(p)) => Some(s + &p),
            (s, p) => p.or(s),
        };
        let host = self.get(intern!(py, "HTTP_HOST")).or_else(|| {
            let name = self.get(intern!(py, "SERVER_NAME"))?;
            let scheme = self.get(intern!(py, "wsgi.url_scheme"));
            Some(host_with_port(
                name,
                self.get(intern!(py, "SERVER_PORT")),
                scheme.as_deref(),
            ))
        });
        RequestKey {
            trace_header: self.get(intern!(py, "HTTP_X_AMZN_TRACE_ID")),
            host,
            method: self.get(intern!(py, "REQUEST_METHOD")),
            path,
        }
    }

    fn details(&self) -> RequestDetails {
        let py = self.environ.py();
        RequestDetails {
            scheme: self.get(intern!(py, "wsgi.url_scheme")),
            user_agent: self.get(intern!(py, "HTTP_USER_AGENT")),
            forwarded_for: self.get(intern!(py, "HTTP_X_FORWARDED_FOR")),
            remote_addr: self.get(intern!(py, "REMOTE_ADDR")),
        }
    }
}

/// An ASGI HTTP scope; its headers (byte pairs, lower-case names) are scanned once.
pub struct AsgiRequest<'a, 'py> {
    scope: &'a Bound<'py, PyDict>,
    trace_header: Option<Bound<'py, PyBytes>>,
    host: Option<Bound<'py, PyBytes>>,
    user_agent: Option<Bound<'py, PyBytes>>,
    forwarded_for: Option<Bound<'py, PyBytes>>,
}

impl<'a, 'py> AsgiRequest<'a, 'py> {
    pub fn new(scope: &'a Bound<'py, PyDict>) -> Self {
        let mut request = AsgiRequest {
            scope,
            trace_header: None,
            host: None,
            user_agent: None,
            forwarded_for: None,
        };
        let headers = scope
            .get_item(intern!(scope.py(), "headers"))
            .ok()
            .flatten();
        if let Some(iter) = headers.and_then(|h| h.try_iter().ok()) {
            for pair in iter.flatten() {
                let (Some(name), Some(value)) = (pair_item(&pair, 0), pair_item(&pair, 1)) else {
                    continue;
                };
                let (Ok(name), Ok(value)) =
                    (name.cast_into::<PyBytes>(), value.cast_into::<PyBytes>())
                else {
                    continue;
                };
                let slot = match name.as_bytes() {
                    b"x-amzn-trace-id" => &mut request.trace_header,
                    b"host" => &mut request.host,
                    b"user-agent" => &mut request.user_agent,
                    b"x-forwarded-for" => &mut request.forwarded_for,
                    _ => continue,
                };
                if slot.is_none() {
                    *slot = Some(value);
                }
            }
        }
        request
    }

    fn item(&self, key: &Bound<'py, PyString>) -> Option<Bound<'py, PyAny>> {
        self.scope.get_item(key).ok().flatten()
    }

    fn text(&self, key: &Bound<'py, PyString>) -> Option<String> {
        self.item(key).and_then(|v| text_of(&v))
    }

    /// `(host, port)` of the `client` / `server` entry.
    fn address(&self, key: &Bound<'py, PyString>) -> Option<(String, Option<String>)> {
        let value = self.item(key).filter(|v| !v.is_none())?;
        let host = text_of(&value.get_item(0).ok()?)?;
        let port = value
            .get_item(1)
            .ok()
            .and_then(|p| p.extract::<i64>().ok())
            .map(|p| p.to_string());
        Some((host, port))
    }
}

impl RequestSource for AsgiRequest<'_, '_> {
    fn key(&self) -> RequestKey {
        let py = self.scope.py();
        let host = self.host.as_ref().and_then(bytes_text).or_else(|| {
            let (host, port) = self.address(intern!(py, "server"))?;
            let scheme = self.text(intern!(py, "scheme"));
            Some(host_with_port(host, port, scheme.as_deref()))
        });
        RequestKey {
            trace_header: self.trace_header.as_ref().and_then(bytes_text),
            host,
            method: self.text(intern!(py, "method")),
            path: self.text(intern!(py, "path")),
        }
    }

    fn details(&self) -> RequestDetails {
        let py = self.scope.py();
        RequestDetails {
            scheme: self.text(intern!(py, "scheme")),
            user_agent: self.user_agent.as_ref().and_then(bytes_text),
            forwarded_for: self.forwarded_for.as_ref().and_then(bytes_text),
            remote_addr: self.address(intern!(py, "client")).map(|(host, _)| host),
        }
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
        assert!(is_default_port(None, "80") && is_default_port(Some("https"), "443"));
        assert_eq!(
            host_with_port("h".into(), Some("8080".into()), None),
            "h:8080"
        );
    }
}
