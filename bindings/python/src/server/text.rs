//! Text read from a request, borrowed from its Python `str` or `bytes` object instead of copied.
//!
//! Under the stable ABI before Python 3.10 pyo3 can only copy a `str` out (through a new
//! `bytes` object). `PyUnicode_AsUTF8AndSize` gives the UTF-8 form the `str` keeps (for ASCII
//! text, its own buffer): every CPython since 3.3 exports it, and it is part of the stable ABI
//! from 3.10, so it is declared here for 3.9 as well.

use std::os::raw::c_char;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

extern "C" {
    fn PyUnicode_AsUTF8AndSize(
        unicode: *mut ffi::PyObject,
        size: *mut ffi::Py_ssize_t,
    ) -> *const c_char;
}

/// The UTF-8 text of `s`, borrowed from it; None if it has none (lone surrogates).
pub fn utf8<'a>(s: &'a Bound<'_, PyString>) -> Option<&'a str> {
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live str (the GIL is held through the Bound). The returned buffer
    // belongs to the str object and stays valid and unchanged while it lives (strs are
    // immutable), which the borrow of `s` guarantees; it holds `size` bytes of UTF-8.
    unsafe {
        let data = PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size);
        if data.is_null() {
            let _ = PyErr::take(s.py());
            return None;
        }
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), usize::try_from(size).ok()?);
        Some(std::str::from_utf8_unchecked(bytes))
    }
}

/// One value of a request.
pub enum Text<'py> {
    /// A str with UTF-8 text, and where that text is: the str's own UTF-8 buffer, read once
    /// when the value is made (not again at every use).
    Str(Bound<'py, PyString>, Borrowed),
    /// Bytes holding UTF-8 (checked when made).
    Bytes(Bound<'py, PyBytes>),
    Owned(String),
}

/// The place of a str's UTF-8 buffer, kept next to the str object that owns it.
pub struct Borrowed {
    data: *const u8,
    len: usize,
}

impl<'py> Text<'py> {
    /// A non-empty str's text; lone surrogates are replaced (in a copy).
    pub fn from_str(s: Bound<'py, PyString>) -> Option<Text<'py>> {
        match utf8(&s) {
            Some("") => None,
            Some(text) => {
                let place = Borrowed {
                    data: text.as_ptr(),
                    len: text.len(),
                };
                Some(Text::Str(s, place))
            }
            None if s.len().ok()? == 0 => None,
            None => Some(Text::Owned(s.to_string_lossy().into_owned())),
        }
    }

    /// Non-empty bytes as text; bytes that are not UTF-8 are decoded with replacements.
    pub fn from_bytes(b: Bound<'py, PyBytes>) -> Option<Text<'py>> {
        let bytes = b.as_bytes();
        if bytes.is_empty() {
            return None;
        }
        if std::str::from_utf8(bytes).is_ok() {
            return Some(Text::Bytes(b));
        }
        Some(Text::Owned(String::from_utf8_lossy(bytes).into_owned()))
    }

    /// Any non-empty str among `value`; anything else is absent.
    pub fn from_any(value: Bound<'py, PyAny>) -> Option<Text<'py>> {
        Text::from_str(value.cast_into::<PyString>().ok()?)
    }

    pub fn as_str(&self) -> &str {
        match self {
            // SAFETY: `place` is the UTF-8 buffer of `s` (from `utf8`), which belongs to the
            // str object, does not change (strs are immutable) and lives as long as it; this
            // Text holds the str, and the returned borrow cannot outlive the Text.
            Text::Str(_s, place) => unsafe {
                std::str::from_utf8_unchecked(std::slice::from_raw_parts(place.data, place.len))
            },
            // SAFETY: checked to be UTF-8 when made (`from_bytes`), and a bytes object never
            // changes: not checked again on every read.
            Text::Bytes(b) => unsafe { std::str::from_utf8_unchecked(b.as_bytes()) },
            Text::Owned(s) => s,
        }
    }

    pub fn into_string(self) -> String {
        match self {
            Text::Owned(s) => s,
            other => other.as_str().to_string(),
        }
    }
}

/// The parts joined, in one allocation of the right size (`format!` costs about a thousand
/// instructions more per request).
pub fn concat(parts: &[&str]) -> String {
    let mut joined = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        joined.push_str(part);
    }
    joined
}
