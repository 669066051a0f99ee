//! [`Exchange`]: one request in flight, between its segment's beginning and its end.
//!
//! The middleware hands the exchange to the application in place of the server's callable:
//! for WSGI it *is* `start_response`, for ASGI it *is* `send` (it returns the server's
//! awaitable), so no Python wrapper runs per call. It records the status, the length and the
//! end of the response, and ends the segment once. For WSGI it also decides what the server
//! gets back ([`Exchange::respond`]).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use super::body::Body;
use super::headers::{self, AsgiStart, ResponseHeader};
use super::hooks::Hooks;
use super::text;
use super::Begun;
use crate::diag;
use crate::entity::PyEntity;

/// Which server interface the exchange stands in for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Interface {
    Wsgi,
    Asgi,
}

#[pyclass(frozen, name = "Exchange", module = "oxray._core")]
pub struct Exchange {
    segment: Py<PyEntity>,
    /// The `X-Amzn-Trace-Id` value returned on the response.
    header: ResponseHeader,
    interface: Interface,
    /// The server's `start_response` (WSGI) or `send` (ASGI); dropped when the request ends.
    server: Mutex<Option<Py<PyAny>>>,
    hooks: Py<Hooks>,
    lambda: bool,
    /// 0: no response started yet.
    status: AtomicU32,
    /// -1: the response had no Content-Length.
    content_length: AtomicI64,
    /// Body bytes seen (ASGI messages, or the items of a streamed WSGI body).
    sent: AtomicI64,
    /// The ASGI response announced trailers: it ends with the last trailers message.
    trailers: AtomicBool,
    /// When the response finished (epoch µs); 0 while it is still being sent.
    end_micros: AtomicU64,
    finished: AtomicBool,
}

impl Exchange {
    /// `server`: the server's `start_response` or `send`, which the exchange stands in for.
    pub fn new(
        begun: Begun,
        interface: Interface,
        server: Py<PyAny>,
        hooks: Py<Hooks>,
    ) -> Exchange {
        Exchange {
            segment: begun.segment,
            header: begun.header,
            interface,
            server: Mutex::new(Some(server)),
            hooks,
            lambda: begun.lambda,
            status: AtomicU32::new(0),
            content_length: AtomicI64::new(-1),
            sent: AtomicI64::new(0),
            trailers: AtomicBool::new(false),
            end_micros: AtomicU64::new(0),
            finished: AtomicBool::new(false),
        }
    }

    /// The request's segment (in Lambda: its subsegment of the function segment).
    pub fn segment_ref(&self) -> &Py<PyEntity> {
        &self.segment
    }

    pub fn hooks(&self) -> &Hooks {
        self.hooks.get()
    }

    /// Body bytes sent by a streamed WSGI body.
    pub fn count(&self, bytes: usize) {
        self.sent.fetch_add(bytes as i64, Ordering::Relaxed);
    }

    /// Ends the request (see `finish`); then, if the request ended in Lambda or exceptions are
    /// remembered, the `after` hook does the rest. False if it had ended already.
    pub fn end(slf: &Bound<'_, Exchange>, failed: bool, body_bytes: i64) -> bool {
        let py = slf.py();
        let me = slf.get();
        if !me.end_segment(py, failed, body_bytes) {
            return false;
        }
        let hooks = me.hooks();
        if hooks.after_needed(py, me.lambda) {
            // The hook never raises; if it did, the request is over all the same.
            let _ = hooks.after.call1(py, (slf,));
        }
        true
    }

    /// Records the response and ends the segment, once (see `finish`).
    fn end_segment(&self, py: Python<'_>, failed: bool, body_bytes: i64) -> bool {
        if self.finished.swap(true, Ordering::AcqRel) {
            return false;
        }
        *self.server.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let segment = &self.segment.get().entity;
        let status = match self.status.load(Ordering::Relaxed) {
            0 if failed => Some(500),
            0 => None,
            s => u16::try_from(s).ok(),
        };
        if let (Some(status), true) = (status, segment.is_sampled()) {
            let length = match self.content_length.load(Ordering::Relaxed) {
                -1 => Some(self.sent.load(Ordering::Relaxed) + body_bytes).filter(|n| *n > 0),
                n => Some(n),
            };
            let _ = segment.set_http_response(Some(status), length);
        }
        let _ = match self.end_micros.load(Ordering::Relaxed) {
            0 => segment.end(),
            t => segment.end_at(t),
        };
        diag::drain(py);
        true
    }

    fn server(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        let guard = self.server.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map(|s| s.clone_ref(py))
    }

    fn response_done(&self) {
        let _ = self.end_micros.compare_exchange(
            0,
            oxray_core::time::now_micros(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    fn set_status(&self, status: Option<u16>) {
        if let Some(s) = status {
            self.status.store(u32::from(s), Ordering::Relaxed);
        }
    }

    fn set_length(&self, length: Option<i64>) {
        if let Some(n) = length {
            self.content_length.store(n, Ordering::Relaxed);
        }
    }

    /// WSGI `start_response(status, headers[, exc_info])`: the server gets our headers list.
    fn wsgi_start<'py>(&self, py: Python<'py>, args: &Bound<'py, PyTuple>) -> Bound<'py, PyTuple> {
        let (Ok(status), Ok(app_headers)) = (args.get_item(0), args.get_item(1)) else {
            return args.clone();
        };
        self.set_status(headers::status_code(&status));
        let mut length = None;
        let value = self.header.py_str(py);
        let Some(ours) = headers::wsgi_headers(&app_headers, &value, &mut length) else {
            return args.clone();
        };
        self.set_length(length);
        let made = if args.len() == 2 {
            PyTuple::new(py, [status, ours.into_any()])
        } else {
            let mut items: Vec<Bound<'py, PyAny>> = vec![status, ours.into_any()];
            items.extend(args.iter().skip(2));
            PyTuple::new(py, items)
        };
        made.unwrap_or_else(|_| args.clone())
    }

    /// An ASGI message on its way to the server: the response start gets our header (in a
    /// copy), body messages are counted, and the last one marks the end of the response.
    fn asgi_message<'py>(&self, message: &Bound<'py, PyAny>) -> Bound<'py, PyAny> {
        let py = message.py();
        let Ok(dict) = message.cast::<PyDict>() else {
            return message.clone();
        };
        let Some(kind) = dict.get_item(intern!(py, "type")).ok().flatten() else {
            return message.clone();
        };
        let flag = |key: &Bound<'_, PyString>| {
            dict.get_item(key)
                .ok()
                .flatten()
                .map(|v| v.is_truthy().unwrap_or(false))
                .unwrap_or(false)
        };
        // The type read as UTF-8 in place (a str comparison through Python costs more).
        let kind = match kind.cast::<PyString>() {
            Ok(kind) => text::utf8(kind).unwrap_or(""),
            Err(_) => return message.clone(),
        };
        match kind {
            "http.response.body" => {
                if let Some(body) = dict.get_item(intern!(py, "body")).ok().flatten() {
                    if let Ok(n) = body.len() {
                        self.sent.fetch_add(n as i64, Ordering::Relaxed);
                    }
                }
                if !flag(intern!(py, "more_body")) && !self.trailers.load(Ordering::Relaxed) {
                    self.response_done();
                }
            }
            "http.response.start" => {
                let mut start = AsgiStart::default();
                let copy = headers::asgi_start(dict, self.header.as_bytes(), &mut start);
                self.set_status(start.status);
                self.set_length(start.content_length);
                self.trailers.store(start.trailers, Ordering::Relaxed);
                if let Some(copy) = copy {
                    return copy.into_any();
                }
            }
            "http.response.trailers" if !flag(intern!(py, "more_trailers")) => {
                self.response_done();
            }
            "http.response.zerocopysend"
                if !flag(intern!(py, "more_body")) && !self.trailers.load(Ordering::Relaxed) =>
            {
                self.response_done();
            }
            "http.response.pathsend" => self.response_done(),
            _ => {}
        }
        message.clone()
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
    fn header<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        self.header.py_str(py)
    }

    /// True in Lambda: what the request traced is sent when it ends.
    #[getter]
    fn lambda_mode(&self) -> bool {
        self.lambda
    }

    /// The response status, once the response started.
    #[getter]
    fn status(&self) -> Option<u16> {
        u16::try_from(self.status.load(Ordering::Relaxed))
            .ok()
            .filter(|s| *s != 0)
    }

    #[getter]
    fn finished(&self) -> bool {
        self.finished.load(Ordering::Relaxed)
    }

    /// WSGI: `start_response(status, headers, exc_info=None)`; ASGI: `send(message)`.
    /// Calls the server's own with our header added and returns what it returns.
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let Some(server) = self.server(py) else {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "this request is over; its start_response/send cannot be used any more",
            ));
        };
        let args = match self.interface {
            Interface::Wsgi => self.wsgi_start(py, args),
            Interface::Asgi => match args.get_item(0) {
                Ok(message) if args.len() == 1 => {
                    let observed = self.asgi_message(&message);
                    if observed.is(&message) {
                        args.clone() // passed on as it came (body messages)
                    } else {
                        PyTuple::new(py, [observed]).unwrap_or(args.clone())
                    }
                }
                _ => args.clone(),
            },
        };
        server.bind(py).call(args, kwargs).map(Bound::unbind)
    }

    /// Records the response (status; Content-Length, else the body bytes seen: the ones
    /// counted here, plus the lengths of the items of `body`, a WSGI list body) and its
    /// error/throttle/fault flags, and ends the segment, once; then calls the `after` hook if
    /// the request ran in Lambda or exceptions are remembered. `failed`: the application
    /// raised; with no response started, that is a 500. False if the request had ended already.
    #[pyo3(signature = (failed = false, body = None))]
    fn finish(slf: &Bound<'_, Self>, failed: bool, body: Option<&Bound<'_, PyList>>) -> bool {
        Exchange::end(slf, failed, body.map_or(0, list_bytes))
    }

    /// WSGI: what the server gets for the application's `result`. A list body is complete:
    /// the request ends now and the list is returned as it is; so is a `wsgi.file_wrapper`
    /// body, which the server can then still send its own fast way. Any other body is wrapped
    /// in a [`Body`] whose items are made, as the server asks, in a copy of the current context.
    /// Called while the request's segment is current, which is when the body's iterator is
    /// made; only an exception of the application's `__iter__` is raised (the middleware
    /// records it and ends the request).
    pub fn respond<'py>(
        slf: &Bound<'py, Self>,
        result: Bound<'py, PyAny>,
        environ: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        if let Ok(list) = result.cast_exact::<PyList>() {
            Exchange::end(slf, false, list_bytes(list));
            return Ok(result);
        }
        let file_wrapper = environ
            .get_item(intern!(py, "wsgi.file_wrapper"))
            .ok()
            .flatten();
        if file_wrapper.is_some_and(|w| result.get_type().is(&w)) {
            Exchange::end(slf, false, 0);
            return Ok(result);
        }
        let iterator = result.try_iter()?;
        let body = Body::wrap(
            py,
            result.clone().unbind(),
            iterator.into_any().unbind(),
            slf.clone().unbind(),
        );
        Ok(match body {
            Ok(body) => body.into_any(),
            Err(problem) => {
                // Not expected; the body then goes out unwrapped, outside the segment.
                let me = slf.get();
                me.segment
                    .get()
                    .warn(py, &format!("streamed body not traced: {problem}"));
                Exchange::end(slf, false, 0);
                result
            }
        })
    }
}

/// The bytes of a list body's items.
fn list_bytes(items: &Bound<'_, PyList>) -> i64 {
    items
        .iter()
        .filter_map(|item| item.len().ok())
        .map(|n| n as i64)
        .sum()
}
