//! [`Body`]: a WSGI response body the server reads item by item, passed through.
//!
//! Each item is made in the request's context (its segment current), through that context's
//! `run`, only when the server asks for it. The bytes are counted; `close()` closes the
//! application's iterable and ends the request. An exception is handed to the middleware's
//! `fail` hook (which records it) and raised on unchanged; the end goes through its `end` hook.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use pyo3::exceptions::PyStopIteration;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use super::exchange::Exchange;

static BUILTINS: PyOnceLock<(Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();

/// Python's `iter` and `next`, to give to `Context.run`.
fn iter_and_next(py: Python<'_>) -> PyResult<&(Py<PyAny>, Py<PyAny>)> {
    BUILTINS.get_or_try_init(py, || {
        let builtins = py.import(intern!(py, "builtins"))?;
        Ok((
            builtins.getattr(intern!(py, "iter"))?.unbind(),
            builtins.getattr(intern!(py, "next"))?.unbind(),
        ))
    })
}

#[pyclass(frozen, name = "Body", module = "oxray._core")]
pub struct Body {
    iterable: Py<PyAny>,
    /// `iter(iterable)`, made on the first item.
    iterator: Mutex<Option<Py<PyAny>>>,
    exchange: Py<Exchange>,
    /// `Context.run` of the request's context.
    run: Py<PyAny>,
    /// `fail(exchange, exc, sent)` and `end(exchange, sent)` of the middleware.
    fail: Py<PyAny>,
    end: Py<PyAny>,
    sent: AtomicI64,
}

impl Body {
    fn failed(&self, py: Python<'_>, error: PyErr) -> PyErr {
        let sent = self.sent.load(Ordering::Relaxed);
        // The hook never raises; if it did, the application's exception still wins.
        let _ = self
            .fail
            .call1(py, (self.exchange.clone_ref(py), error.value(py), sent));
        error
    }

    fn iterator(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if let Some(it) = self
            .iterator
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            return Ok(it.clone_ref(py));
        }
        let (iter, _) = iter_and_next(py)?;
        let it = self.run.call1(py, (iter, &self.iterable))?;
        *self.iterator.lock().unwrap_or_else(|e| e.into_inner()) = Some(it.clone_ref(py));
        Ok(it)
    }
}

#[pymethods]
impl Body {
    #[new]
    fn new(
        iterable: Py<PyAny>,
        exchange: Py<Exchange>,
        run: Py<PyAny>,
        fail: Py<PyAny>,
        end: Py<PyAny>,
    ) -> Body {
        Body {
            iterable,
            iterator: Mutex::new(None),
            exchange,
            run,
            fail,
            end,
            sent: AtomicI64::new(0),
        }
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let iterator = self.iterator(py).map_err(|e| self.failed(py, e))?;
        let (_, next) = iter_and_next(py)?;
        match self.run.call1(py, (next, iterator)) {
            Ok(item) => {
                if let Ok(n) = item.bind(py).len() {
                    self.sent.fetch_add(n as i64, Ordering::Relaxed);
                }
                Ok(Some(item))
            }
            Err(e) if e.is_instance_of::<PyStopIteration>(py) => Ok(None),
            Err(e) => Err(self.failed(py, e)),
        }
    }

    /// Closes the application's iterable (in the request's context) and ends the request.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if let Ok(close) = self.iterable.bind(py).getattr(intern!(py, "close")) {
            if let Err(e) = self.run.call1(py, (close,)) {
                return Err(self.failed(py, e));
            }
        }
        let sent = self.sent.load(Ordering::Relaxed);
        self.end
            .call1(py, (self.exchange.clone_ref(py), sent))
            .map(|_| ())
    }
}
