//! Python values → JSON text, for metadata and `aws` fields.
//!
//! Walks the object without consuming or mutating it: built-in scalars and containers are
//! written here; anything else goes through `oxray._convert.to_jsonable` (datetimes,
//! decimals, dataclasses, pydantic models, objects with `__dict__`, streams and iterators
//! described by type, never read), whose answer is walked in turn. Cycles are marked, depth
//! and size are bounded, NaN/Infinity become strings: the output is always valid JSON.

use oxray_core::json::write_str;
use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString,
    PyTuple,
};

/// Deepest nesting written; deeper values become a marker string.
const MAX_DEPTH: usize = 32;
/// Output size after which containers stop early and strings are cut (the core's 64 kB
/// document bound truncates further, visibly).
const MAX_BYTES: usize = 256 * 1024;

pub const CIRCULAR: &str = "<circular reference>";
pub const TOO_DEEP: &str = "<max depth exceeded>";
pub const CUT: &str = "…truncated";

static CONVERTER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The converter, imported on first use. Not `get_or_try_init`: that releases the GIL while
/// the cell is marked as being initialized, and a `fork()` by another thread in that moment
/// leaves the child waiting on the cell forever. Two threads may both import it; one wins.
fn converter(py: Python<'_>) -> Option<&Bound<'_, PyAny>> {
    if CONVERTER.get(py).is_none() {
        let imported = py
            .import("oxray._convert")
            .and_then(|m| m.getattr("to_jsonable"))
            .ok()?;
        let _ = CONVERTER.set(py, imported.unbind());
    }
    CONVERTER.get(py).map(|c| c.bind(py))
}

struct Writer {
    out: Vec<u8>,
    /// Containers on the current path (by address), for cycle detection.
    path: Vec<usize>,
    /// Problems met (converter errors); reported once by the caller.
    problems: Vec<String>,
}

impl Writer {
    fn full(&self) -> bool {
        self.out.len() >= MAX_BYTES
    }

    fn str(&mut self, s: &str) {
        let room = MAX_BYTES.saturating_sub(self.out.len());
        if s.len() > room {
            let cut = oxray_core::sanitize::truncate_bytes(s, room);
            let text = format!("{cut}{CUT}");
            write_str(&mut self.out, &text);
        } else {
            write_str(&mut self.out, s);
        }
    }

    fn py_str(&mut self, s: &Bound<'_, PyString>) {
        match s.to_cow() {
            Ok(c) => self.str(&c),
            Err(_) => self.str(&s.to_string_lossy()),
        }
    }

    fn float(&mut self, f: f64) {
        if f.is_finite() {
            match serde_json::to_string(&f) {
                Ok(t) => self.out.extend_from_slice(t.as_bytes()),
                Err(_) => self.out.extend_from_slice(b"null"),
            }
        } else if f.is_nan() {
            self.str("NaN");
        } else if f > 0.0 {
            self.str("Infinity");
        } else {
            self.str("-Infinity");
        }
    }

    fn int(&mut self, v: &Bound<'_, PyAny>) {
        if let Ok(i) = v.extract::<i64>() {
            self.out.extend_from_slice(i.to_string().as_bytes());
        } else if let Ok(u) = v.extract::<u64>() {
            self.out.extend_from_slice(u.to_string().as_bytes());
        } else {
            // Beyond 64 bits: JSON numbers that large lose precision in most readers.
            match v.str() {
                Ok(s) => self.py_str(&s),
                Err(_) => self.str("<int>"),
            }
        }
    }

    fn value(&mut self, v: &Bound<'_, PyAny>, depth: usize, via_converter: bool) {
        let py = v.py();
        if v.is_none() {
            self.out.extend_from_slice(b"null");
        } else if let Ok(s) = v.cast::<PyString>() {
            self.py_str(s);
        } else if let Ok(b) = v.cast::<PyBool>() {
            self.out
                .extend_from_slice(if b.is_true() { b"true" } else { b"false" });
        } else if v.is_instance_of::<PyInt>() {
            self.int(v);
        } else if let Ok(f) = v.cast::<PyFloat>() {
            self.float(f.value());
        } else if depth >= MAX_DEPTH {
            self.str(TOO_DEEP);
        } else if let Ok(d) = v.cast::<PyDict>() {
            self.container(v, depth, |w| w.dict(d, depth));
        } else if let Ok(l) = v.cast::<PyList>() {
            self.container(v, depth, |w| w.seq(l.iter(), depth));
        } else if let Ok(t) = v.cast::<PyTuple>() {
            self.container(v, depth, |w| w.seq(t.iter(), depth));
        } else if v.is_instance_of::<PySet>() || v.is_instance_of::<PyFrozenSet>() {
            self.container(v, depth, |w| w.set(v, depth));
        } else if let Ok(b) = v.cast::<PyBytes>() {
            self.bytes(b.as_bytes());
        } else if let Ok(b) = v.cast::<PyByteArray>() {
            self.bytes(&b.to_vec());
        } else if via_converter {
            // The converter answered with something it should not have: describe it.
            self.describe(v);
        } else {
            match converter(py).map(|c| c.call1((v,))) {
                Some(Ok(converted)) => {
                    if converted.is(v) {
                        self.describe(v);
                    } else {
                        self.container(v, depth, |w| w.value(&converted, depth + 1, true));
                    }
                }
                Some(Err(e)) => {
                    self.problems.push(format!(
                        "metadata value of type {} could not be converted: {e}",
                        type_name(v)
                    ));
                    self.str(&format!("<unserializable {}>", type_name(v)));
                }
                None => self.describe(v),
            }
        }
    }

    /// Runs `f` with `v` on the path; a value already on the path is a cycle.
    fn container(&mut self, v: &Bound<'_, PyAny>, _depth: usize, f: impl FnOnce(&mut Self)) {
        let addr = v.as_ptr() as usize;
        if self.path.contains(&addr) {
            self.str(CIRCULAR);
            return;
        }
        self.path.push(addr);
        f(self);
        self.path.pop();
    }

    /// Walks a dict with `PyDict_Next` rather than pyo3's iterator: converting a value runs
    /// user code (`__str__`, `model_dump`, …) that may add or remove keys, and pyo3's
    /// iterator panics then (a `PanicException` into user code). A dict that changes size is
    /// cut there, marked, and reported.
    fn dict(&mut self, d: &Bound<'_, PyDict>, depth: usize) {
        let py = d.py();
        let size = d.len();
        let mut pos: ffi::Py_ssize_t = 0;
        self.out.push(b'{');
        let mut first = true;
        loop {
            let mut key = std::ptr::null_mut();
            let mut value = std::ptr::null_mut();
            // SAFETY: `d` is a dict and the GIL is held; PyDict_Next checks `pos` against the
            // dict's current table, so it stays in bounds even if the dict was resized.
            if unsafe { ffi::PyDict_Next(d.as_ptr(), &mut pos, &mut key, &mut value) } == 0 {
                break;
            }
            // SAFETY: borrowed references from PyDict_Next, made owned before any Python code
            // can run and drop them from the dict.
            let (k, v) = unsafe {
                (
                    Bound::from_borrowed_ptr(py, key),
                    Bound::from_borrowed_ptr(py, value),
                )
            };
            if !first {
                self.out.push(b',');
            }
            if self.full() {
                write_str(&mut self.out, CUT);
                self.out.extend_from_slice(b":true");
                break;
            }
            first = false;
            self.key(&k);
            self.out.push(b':');
            self.value(&v, depth + 1, false);
            if d.len() != size {
                self.problems
                    .push("a dict changed size while its metadata was recorded; the rest of it was left out".into());
                self.out.push(b',');
                write_str(&mut self.out, CUT);
                self.out.extend_from_slice(b":true");
                break;
            }
        }
        self.out.push(b'}');
    }

    fn key(&mut self, k: &Bound<'_, PyAny>) {
        match k.cast::<PyString>() {
            Ok(s) => self.py_str(s),
            Err(_) => self.str(&key_text(k)),
        }
    }

    fn seq<'py>(&mut self, items: impl Iterator<Item = Bound<'py, PyAny>>, depth: usize) {
        self.out.push(b'[');
        let mut first = true;
        for item in items {
            if !first {
                self.out.push(b',');
            }
            if self.full() {
                write_str(&mut self.out, CUT);
                break;
            }
            first = false;
            self.value(&item, depth + 1, false);
        }
        self.out.push(b']');
    }

    /// Sets through Python's own iterator, whose errors end the list: pyo3's set iterator
    /// panics when user code run by a conversion changes the set.
    fn set(&mut self, s: &Bound<'_, PyAny>, depth: usize) {
        let items = match s.try_iter() {
            Ok(it) => it,
            Err(e) => {
                self.problems.push(format!("a set could not be read: {e}"));
                self.out.extend_from_slice(b"[]");
                return;
            }
        };
        let mut failed = None;
        let stop_at_error = items.map_while(|item| match item {
            Ok(item) => Some(item),
            Err(e) => {
                failed = Some(e);
                None
            }
        });
        self.seq(stop_at_error, depth);
        if let Some(e) = failed {
            self.problems.push(format!(
                "a set changed while its metadata was recorded: {e}"
            ));
        }
    }

    fn bytes(&mut self, b: &[u8]) {
        match std::str::from_utf8(b) {
            Ok(s) => self.str(s),
            Err(_) => {
                let keep = &b[..b.len().min(MAX_BYTES / 2)];
                let mut text = String::from("base64:");
                base64(keep, &mut text);
                if keep.len() < b.len() {
                    text.push_str(CUT);
                }
                self.str(&text);
            }
        }
    }

    fn describe(&mut self, v: &Bound<'_, PyAny>) {
        match v.str() {
            Ok(s) => self.py_str(&s),
            Err(_) => self.str(&format!("<unserializable {}>", type_name(v))),
        }
    }
}

/// The text of a key that is not a `str`, as `json.dumps` writes it (JSON keys are strings):
/// `None` → "null", booleans → "true"/"false", anything else → `str()` (which `json.dumps`
/// refuses for a tuple; a key whose `str()` fails → `<type key>`). Used for the keys of
/// recorded dicts and for `put_metadata`'s own key.
pub fn key_text(k: &Bound<'_, PyAny>) -> String {
    if let Ok(s) = k.cast::<PyString>() {
        s.to_string_lossy().into_owned()
    } else if k.is_none() {
        "null".to_owned()
    } else if let Ok(b) = k.cast::<PyBool>() {
        (if b.is_true() { "true" } else { "false" }).to_owned()
    } else {
        match k.str() {
            Ok(s) => s.to_string_lossy().into_owned(),
            Err(_) => format!("<{} key>", type_name(k)),
        }
    }
}

pub fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".to_string())
}

fn base64(data: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
}

/// Converts `v` to JSON text. Never fails: problems are returned for the caller to report.
pub fn json_text(v: &Bound<'_, PyAny>) -> (String, Vec<String>) {
    let mut w = Writer {
        out: Vec::with_capacity(64),
        path: Vec::new(),
        problems: Vec::new(),
    };
    w.value(v, 0, false);
    // Every byte written came from &str values or ASCII literals: valid UTF-8.
    let text = String::from_utf8(w.out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    (text, w.problems)
}

/// `to_json(value) -> str`: the JSON text oxray records for `value` as metadata.
#[pyfunction]
pub fn to_json(value: &Bound<'_, PyAny>) -> PyResult<String> {
    let (text, problems) = json_text(value);
    match problems.first() {
        Some(p) if text.is_empty() => Err(PyValueError::new_err(p.clone())),
        _ => Ok(text),
    }
}
