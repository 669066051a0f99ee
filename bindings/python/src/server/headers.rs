//! The response side: the `X-Amzn-Trace-Id` value ([`ResponseHeader`]), added to WSGI header
//! lists and ASGI `http.response.start` messages (one the application set itself is
//! replaced), and the Content-Length read on the way. The application's own list and message are never changed:
//! new ones are made. What cannot be read is reported as None, and the caller passes the
//! application's original on, for the server to judge.

use oxray_core::TraceId;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use super::text;

pub const HEADER_NAME: &str = "X-Amzn-Trace-Id";
const HEADER_NAME_LOWER: &[u8] = b"x-amzn-trace-id";
const CONTENT_LENGTH: &[u8] = b"content-length";

/// The header's name as ASGI gives it (bytes, lower case), made once.
static ASGI_NAME: PyOnceLock<Py<PyBytes>> = PyOnceLock::new();

const ROOT: &[u8] = b"Root=";
const SAMPLED: &[u8] = b";Sampled=";
/// `Root=` + a trace id + `;Sampled=` + one digit.
const RESPONSE_MAX: usize = ROOT.len() + 35 + SAMPLED.len() + 1;

/// The `X-Amzn-Trace-Id` value answered on a response: `Root=<trace id>`, plus `;Sampled=0|1`
/// when the caller asked with `Sampled=?` (the same text as the core's
/// `TraceHeader::response`). Written into a fixed buffer, without formatting machinery or an
/// allocation: every traced request makes one.
#[derive(Clone, Copy)]
pub struct ResponseHeader {
    bytes: [u8; RESPONSE_MAX],
    len: usize,
}

impl ResponseHeader {
    /// `answer`: the sampling decision, when the caller asked for it.
    pub fn new(trace_id: TraceId, answer: Option<bool>) -> ResponseHeader {
        let mut header = ResponseHeader {
            bytes: [0; RESPONSE_MAX],
            len: 0,
        };
        header.push(ROOT);
        header.push(&trace_id.to_bytes());
        if let Some(sampled) = answer {
            header.push(SAMPLED);
            header.push(if sampled { b"1" } else { b"0" });
        }
        header
    }

    fn push(&mut self, part: &[u8]) {
        self.bytes[self.len..self.len + part.len()].copy_from_slice(part);
        self.len += part.len();
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    pub fn py_str<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        // ASCII by construction (a trace id's to_bytes is hex digits and dashes).
        PyString::new(py, std::str::from_utf8(self.as_bytes()).unwrap_or_default())
    }
}

/// Calls `each` on every item of `items`: a list (what PEP 3333 requires and ASGI servers
/// give) by index, without an iterator object; anything else through its iterator. Stops at
/// the first item `each` refuses or the iterator fails on, and then returns None.
pub fn for_each_item<'py>(
    items: &Bound<'py, PyAny>,
    mut each: impl FnMut(Bound<'py, PyAny>) -> Option<()>,
) -> Option<()> {
    match items.cast::<PyList>() {
        Ok(list) => {
            for item in list.iter() {
                each(item)?;
            }
        }
        Err(_) => {
            for item in items.try_iter().ok()? {
                each(item.ok()?)?;
            }
        }
    }
    Some(())
}

/// Item `index` of a header pair: tuples (what servers and frameworks use) read directly,
/// any other sequence through the generic protocol.
pub fn pair_item<'py>(pair: &Bound<'py, PyAny>, index: usize) -> Option<Bound<'py, PyAny>> {
    match pair.cast::<PyTuple>() {
        Ok(tuple) => tuple.get_item(index).ok(),
        Err(_) => pair.get_item(index).ok(),
    }
}

fn parse_length(value: &[u8]) -> Option<i64> {
    std::str::from_utf8(value)
        .ok()?
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
}

/// What a header name is to us. Names are compared only when their length could match, so
/// most headers cost no string copy.
enum Name {
    Trace,
    ContentLength,
    Other,
}

fn classify(name: &[u8]) -> Name {
    if name.eq_ignore_ascii_case(HEADER_NAME_LOWER) {
        Name::Trace
    } else if name.eq_ignore_ascii_case(CONTENT_LENGTH) {
        Name::ContentLength
    } else {
        Name::Other
    }
}

/// The ASCII character at `index` of `text`, lower-cased; None past the end or for
/// non-ASCII. Reads one character, without copying the string (the stable ABI has no
/// borrowed UTF-8 view before Python 3.10).
fn ascii_lower_at(text: &Bound<'_, PyString>, index: usize) -> Option<u8> {
    let index = pyo3::ffi::Py_ssize_t::try_from(index).ok()?;
    // SAFETY: `text` is a live str object (the GIL is held through the Bound); ReadChar
    // only reads it, and reports a bad index as an error, which is cleared below.
    let c = unsafe { pyo3::ffi::PyUnicode_ReadChar(text.as_ptr(), index) };
    if c == pyo3::ffi::Py_UCS4::MAX {
        // (Py_UCS4)-1: an error is set.
        let _ = PyErr::take(text.py());
        return None;
    }
    u8::try_from(c)
        .ok()
        .filter(u8::is_ascii)
        .map(|b| b.to_ascii_lowercase())
}

/// The HTTP status at the start of a WSGI status line (`"404 Not Found"` → 404).
pub fn status_code(status: &Bound<'_, PyAny>) -> Option<u16> {
    let status = status.cast::<PyString>().ok()?;
    let mut code = 0u16;
    for i in 0..3 {
        let digit = ascii_lower_at(status, i).filter(u8::is_ascii_digit)?;
        code = code * 10 + u16::from(digit - b'0');
    }
    Some(code)
}

/// Only names of the right length are read (most headers are not), and not copied.
fn classify_str(name: &Bound<'_, PyString>) -> Name {
    match name.len() {
        Ok(n) if n == HEADER_NAME_LOWER.len() || n == CONTENT_LENGTH.len() => {
            text::utf8(name).map_or(Name::Other, |s| classify(s.as_bytes()))
        }
        _ => Name::Other,
    }
}

/// A WSGI header list with ours appended. `content_length` is set from the application's
/// Content-Length header, if it has a readable one.
pub fn wsgi_headers<'py>(
    headers: &Bound<'py, PyAny>,
    value: &Bound<'py, PyString>,
    content_length: &mut Option<i64>,
) -> Option<Bound<'py, PyList>> {
    let py = headers.py();
    let out = PyList::empty(py);
    for_each_item(headers, |item| wsgi_header(&out, item, content_length))?;
    let ours = PyTuple::new(py, [intern!(py, HEADER_NAME), value]).ok()?;
    out.append(ours).ok()?;
    Some(out)
}

/// One header of the application's list, copied to `out` unless it is a trace header.
fn wsgi_header<'py>(
    out: &Bound<'py, PyList>,
    item: Bound<'py, PyAny>,
    content_length: &mut Option<i64>,
) -> Option<()> {
    copy_header(
        out,
        item,
        |name| name.cast::<PyString>().ok().map(classify_str),
        |value| {
            let s = value.cast::<PyString>().ok()?;
            Some(text::utf8(s).and_then(|s| parse_length(s.as_bytes())))
        },
        content_length,
    )
}

/// One `(name, value)` pair copied to `out` unless its name is a trace header's. `classify`
/// reads a name (None: not of the interface's type); `length` reads a Content-Length value
/// (None: not of the interface's type, left unrecorded; Some(None): unreadable).
fn copy_header<'py>(
    out: &Bound<'py, PyList>,
    pair: Bound<'py, PyAny>,
    classify: impl Fn(&Bound<'py, PyAny>) -> Option<Name>,
    length: impl Fn(&Bound<'py, PyAny>) -> Option<Option<i64>>,
    content_length: &mut Option<i64>,
) -> Option<()> {
    match pair_item(&pair, 0).as_ref().and_then(&classify) {
        Some(Name::Trace) => return Some(()),
        Some(Name::ContentLength) => {
            if let Some(parsed) = pair_item(&pair, 1).as_ref().and_then(&length) {
                *content_length = parsed;
            }
        }
        _ => {}
    }
    out.append(pair).ok()
}

/// What an ASGI response start said.
#[derive(Default)]
pub struct AsgiStart {
    pub status: Option<u16>,
    pub trailers: bool,
    pub content_length: Option<i64>,
}

/// A copy of an ASGI `http.response.start` message with our header added.
pub fn asgi_start<'py>(
    message: &Bound<'py, PyDict>,
    value: &[u8],
    start: &mut AsgiStart,
) -> Option<Bound<'py, PyDict>> {
    let py = message.py();
    let item = |key: &Bound<'py, PyString>| message.get_item(key).ok().flatten();
    start.status = item(intern!(py, "status")).and_then(|s| s.extract::<u16>().ok());
    start.trailers = item(intern!(py, "trailers"))
        .map(|t| t.is_truthy().unwrap_or(false))
        .unwrap_or(false);
    let out = PyList::empty(py);
    if let Some(headers) = item(intern!(py, "headers")) {
        for_each_item(&headers, |pair| asgi_header(&out, pair, start))?;
    }
    let name = ASGI_NAME.get_or_init(py, || PyBytes::new(py, HEADER_NAME_LOWER).unbind());
    let ours = PyTuple::new(py, [name.bind(py), &PyBytes::new(py, value)]).ok()?;
    out.append(ours).ok()?;
    let copy = message.copy().ok()?;
    copy.set_item(intern!(py, "headers"), out).ok()?;
    Some(copy)
}

/// One header of an ASGI response start, copied to `out` unless it is a trace header.
fn asgi_header<'py>(
    out: &Bound<'py, PyList>,
    pair: Bound<'py, PyAny>,
    start: &mut AsgiStart,
) -> Option<()> {
    copy_header(
        out,
        pair,
        |name| name.cast::<PyBytes>().ok().map(|n| classify(n.as_bytes())),
        |value| Some(parse_length(value.cast::<PyBytes>().ok()?.as_bytes())),
        &mut start.content_length,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_header_as_the_core_writes_it() {
        let id = TraceId::parse("1-6740c2a1-5f1e2d3c4b5a69788796a5b4").unwrap();
        let requested = oxray_core::TraceHeader::parse("Sampled=?").unwrap();
        for (incoming, answer) in [(None, None), (Some(&requested), Some(true))] {
            let ours = ResponseHeader::new(id, answer);
            let core = oxray_core::TraceHeader::response(incoming, id, true);
            assert_eq!(ours.as_bytes(), core.as_bytes());
        }
        let ours = ResponseHeader::new(id, Some(false));
        let core = oxray_core::TraceHeader::response(Some(&requested), id, false);
        assert_eq!(ours.as_bytes(), core.as_bytes());
        assert_eq!(ours.as_bytes().len(), RESPONSE_MAX);
    }

    #[test]
    fn lengths_and_names() {
        assert_eq!(parse_length(b" 12 "), Some(12));
        assert_eq!(parse_length(b"-1"), None);
        assert_eq!(parse_length(b"x"), None);
        assert!(matches!(classify(b"X-Amzn-Trace-Id"), Name::Trace));
        assert!(matches!(classify(b"Content-Length"), Name::ContentLength));
        assert!(matches!(classify(b"content-type"), Name::Other));
    }
}
