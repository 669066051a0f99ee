//! [`Body`]: a streamed WSGI response body the server reads item by item, passed through.
//!
//! Each item is made in the request's context (its segment current), through that context's
//! `run`, only when the server asks for it. The bytes are counted on the exchange; `close()`
//! closes the application's iterable and ends the request. An exception is handed to the
//! middleware's `fail` hook (which records it and ends the request) and raised on unchanged.

use std::sync::Mutex;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use super::exchange::Exchange;

/// Python's `iter` and `next`, and a private object `next` returns at the end of an
/// iterator (`next(it, end)`: no StopIteration to raise and catch per body).
struct Builtins {
    iter: Py<PyAny>,
    next: Py<PyAny>,
    end: Py<PyAny>,
}

static BUILTINS: PyOnceLock<Builtins> = PyOnceLock::new();

fn builtins(py: Python<'_>) -> PyResult<&Builtins> {
    BUILTINS.get_or_try_init(py, || {
        let builtins = py.import(intern!(py, "builtins"))?;
        Ok(Builtins {
            iter: builtins.getattr(intern!(py, "iter"))?.unbind(),
            next: builtins.getattr(intern!(py, "next"))?.unbind(),
            end: builtins.getattr(intern!(py, "object"))?.call0()?.unbind(),
        })
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
}

impl Body {
    /// `iterable` wrapped; `run`: the `Context.run` of a copy of the request's context.
    pub fn wrap<'py>(
        py: Python<'py>,
        iterable: Py<PyAny>,
        exchange: Py<Exchange>,
        run: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, Body>> {
        let body = Body {
            iterable,
            iterator: Mutex::new(None),
            exchange,
            run: run.unbind(),
        };
        Bound::new(py, body)
    }

    fn failed(&self, py: Python<'_>, error: PyErr) -> PyErr {
        let exchange = self.exchange.bind(py);
        // The hook never raises; if it did, the application's exception still wins.
        let _ = exchange
            .get()
            .hooks()
            .fail
            .call1(py, (exchange, error.value(py)));
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
        let it = self.run.call1(py, (&builtins(py)?.iter, &self.iterable))?;
        *self.iterator.lock().unwrap_or_else(|e| e.into_inner()) = Some(it.clone_ref(py));
        Ok(it)
    }
}

#[pymethods]
impl Body {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let iterator = self.iterator(py).map_err(|e| self.failed(py, e))?;
        let b = builtins(py)?;
        match self.run.call1(py, (&b.next, iterator, &b.end)) {
            Ok(item) if item.is(&b.end) => Ok(None),
            Ok(item) => {
                if let Ok(n) = item.bind(py).len() {
                    self.exchange.get().count(n);
                }
                Ok(Some(item))
            }
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
        Exchange::end(self.exchange.bind(py), false, 0);
        Ok(())
    }
}
