//! Reading an incoming request from a WSGI environ or an ASGI scope.
//!
//! Each value is read only when it is needed: the trace header for every request; the Host
//! for a segment named after it, for the sampler and for a sampled request's URL; the method
//! and the path for the sampler and a sampled request; the [`RequestDetails`] (what is
//! recorded in `http.request`) only for sampled ones. So a request whose incoming header
//! decided, in a named application, reads one value. Values are borrowed from their Python
//! objects ([`Text`]) and copied only to be recorded.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use super::headers::{for_each_item, pair_item};
use super::text::{concat, Text};

/// What a sampled request records besides its Host, method and path.
#[derive(Default)]
pub struct RequestDetails<'py> {
    pub scheme: Option<Text<'py>>,
    pub user_agent: Option<Text<'py>>,
    pub forwarded_for: Option<Text<'py>>,
    pub remote_addr: Option<Text<'py>>,
}

/// A request as a server interface presents it.
pub trait RequestSource<'py> {
    /// The incoming `X-Amzn-Trace-Id`.
    fn trace_header(&self) -> Option<Text<'py>>;
    /// The Host header as sent (with its port), else the server's own address.
    fn host(&self) -> Option<Text<'py>>;
    fn method(&self) -> Option<Text<'py>>;
    fn path(&self) -> Option<Text<'py>>;
    fn details(&self) -> RequestDetails<'py>;
}

/// WSGI gives header values and paths as "bytes as latin-1" strings: non-ASCII text is turned
/// back into the UTF-8 the client sent. None when the text needs no change.
fn from_latin1(text: &str) -> Option<String> {
    if text.is_ascii() || text.chars().any(|c| c as u32 > 0xFF) {
        return None;
    }
    let bytes: Vec<u8> = text.chars().map(|c| c as u8).collect();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn wsgi_text(text: Text<'_>) -> Text<'_> {
    match from_latin1(text.as_str()) {
        Some(fixed) => Text::Owned(fixed),
        None => text,
    }
}

fn is_default_port(scheme: Option<&str>, port: &str) -> bool {
    matches!(
        (scheme.unwrap_or("http"), port),
        ("http", "80") | ("https", "443")
    )
}

/// `host:port`, or None when the port is absent or the scheme's default (the host alone).
fn with_port(host: &str, port: Option<&str>, scheme: Option<&str>) -> Option<String> {
    match port {
        Some(p) if !is_default_port(scheme, p) => Some(concat(&[host, ":", p])),
        _ => None,
    }
}

fn host_with_port<'py>(host: Text<'py>, port: Option<String>, scheme: Option<&str>) -> Text<'py> {
    match with_port(host.as_str(), port.as_deref(), scheme) {
        Some(joined) => Text::Owned(joined),
        None => host,
    }
}

/// A WSGI environ (PEP 3333).
pub struct WsgiRequest<'a, 'py> {
    pub environ: &'a Bound<'py, PyDict>,
}

impl<'py> WsgiRequest<'_, 'py> {
    fn get(&self, key: &Bound<'py, PyString>) -> Option<Text<'py>> {
        let value = self.environ.get_item(key).ok()??;
        Text::from_any(value).map(wsgi_text)
    }
}

impl<'py> RequestSource<'py> for WsgiRequest<'_, 'py> {
    fn trace_header(&self) -> Option<Text<'py>> {
        self.get(intern!(self.environ.py(), "HTTP_X_AMZN_TRACE_ID"))
    }

    fn host(&self) -> Option<Text<'py>> {
        let py = self.environ.py();
        self.get(intern!(py, "HTTP_HOST")).or_else(|| {
            let name = self.get(intern!(py, "SERVER_NAME"))?;
            let scheme = self.get(intern!(py, "wsgi.url_scheme"));
            let port = self.get(intern!(py, "SERVER_PORT")).map(Text::into_string);
            Some(host_with_port(
                name,
                port,
                scheme.as_ref().map(Text::as_str),
            ))
        })
    }

    fn method(&self) -> Option<Text<'py>> {
        self.get(intern!(self.environ.py(), "REQUEST_METHOD"))
    }

    fn path(&self) -> Option<Text<'py>> {
        let py = self.environ.py();
        let script = self.get(intern!(py, "SCRIPT_NAME"));
        let path_info = self.get(intern!(py, "PATH_INFO"));
        match (script, path_info) {
            (Some(s), Some(p)) => Some(Text::Owned(concat(&[s.as_str(), p.as_str()]))),
            (s, p) => p.or(s),
        }
    }

    fn details(&self) -> RequestDetails<'py> {
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
        if let Some(headers) = headers {
            // Unreadable pairs are skipped by read_header; an iterator that fails ends the scan.
            let _ = for_each_item(&headers, |pair| {
                request.read_header(&pair);
                Some(())
            });
        }
        request
    }

    /// One `(name, value)` pair of the scope's headers: kept if it is one we read (the first
    /// of each name).
    fn read_header(&mut self, pair: &Bound<'py, PyAny>) {
        let (Some(name), Some(value)) = (pair_item(pair, 0), pair_item(pair, 1)) else {
            return;
        };
        let (Ok(name), Ok(value)) = (name.cast_into::<PyBytes>(), value.cast_into::<PyBytes>())
        else {
            return;
        };
        let slot = match name.as_bytes() {
            b"x-amzn-trace-id" => &mut self.trace_header,
            b"host" => &mut self.host,
            b"user-agent" => &mut self.user_agent,
            b"x-forwarded-for" => &mut self.forwarded_for,
            _ => return,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }

    fn item(&self, key: &Bound<'py, PyString>) -> Option<Bound<'py, PyAny>> {
        self.scope.get_item(key).ok().flatten()
    }

    fn text(&self, key: &Bound<'py, PyString>) -> Option<Text<'py>> {
        self.item(key).and_then(Text::from_any)
    }

    fn header(value: &Option<Bound<'py, PyBytes>>) -> Option<Text<'py>> {
        value.clone().and_then(Text::from_bytes)
    }

    /// The host of the `client` / `server` entry (`(host, port)`).
    fn address_host(&self, key: &Bound<'py, PyString>) -> Option<Text<'py>> {
        let value = self.item(key).filter(|v| !v.is_none())?;
        Text::from_any(pair_item(&value, 0)?)
    }

    /// `(host, port)` of the `client` / `server` entry.
    fn address(&self, key: &Bound<'py, PyString>) -> Option<(Text<'py>, Option<String>)> {
        let value = self.item(key).filter(|v| !v.is_none())?;
        let host = Text::from_any(pair_item(&value, 0)?)?;
        let port = pair_item(&value, 1)
            .and_then(|p| p.extract::<i64>().ok())
            .map(|p| p.to_string());
        Some((host, port))
    }
}

impl<'py> RequestSource<'py> for AsgiRequest<'_, 'py> {
    fn trace_header(&self) -> Option<Text<'py>> {
        Self::header(&self.trace_header)
    }

    fn host(&self) -> Option<Text<'py>> {
        let py = self.scope.py();
        Self::header(&self.host).or_else(|| {
            let (host, port) = self.address(intern!(py, "server"))?;
            let scheme = self.text(intern!(py, "scheme"));
            Some(host_with_port(
                host,
                port,
                scheme.as_ref().map(Text::as_str),
            ))
        })
    }

    fn method(&self) -> Option<Text<'py>> {
        self.text(intern!(self.scope.py(), "method"))
    }

    fn path(&self) -> Option<Text<'py>> {
        self.text(intern!(self.scope.py(), "path"))
    }

    fn details(&self) -> RequestDetails<'py> {
        let py = self.scope.py();
        RequestDetails {
            scheme: self.text(intern!(py, "scheme")),
            user_agent: Self::header(&self.user_agent),
            forwarded_for: Self::header(&self.forwarded_for),
            // Its port is not recorded: not read.
            remote_addr: self.address_host(intern!(py, "client")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wsgi_text_and_ports() {
        // "café" as UTF-8 bytes read as latin-1 by a WSGI server.
        let mangled: String = "café".bytes().map(char::from).collect();
        assert_eq!(from_latin1(&mangled).as_deref(), Some("café"));
        assert_eq!(from_latin1("plain"), None);
        assert_eq!(from_latin1("ok ✓"), None);
        assert!(is_default_port(None, "80") && is_default_port(Some("https"), "443"));
        assert_eq!(
            with_port("h", Some("8080"), None).as_deref(),
            Some("h:8080")
        );
        assert_eq!(with_port("h", Some("443"), Some("https")), None);
    }
}
