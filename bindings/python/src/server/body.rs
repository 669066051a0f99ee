//! [`Body`]: a streamed WSGI response body the server reads item by item, passed through.
//!
//! Each item is made in the request's context (its segment current), entered and left around
//! it as `Context.run` does, only when the server asks for it. The bytes are counted on the
//! exchange; `close()` closes the application's iterable (in the same context) and ends the
//! request. An exception is handed to the middleware's `fail` hook (which records it and ends
//! the request) and raised on unchanged.

use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;

use super::context::Context;
use super::exchange::Exchange;

#[pyclass(frozen, name = "Body", module = "oxray._core")]
pub struct Body {
    /// The application's iterable (closed by `close()`).
    iterable: Py<PyAny>,
    /// `iter(iterable)`, made when the application returned it, its segment current.
    iterator: Py<PyAny>,
    exchange: Py<Exchange>,
    /// A copy of the request's context (its segment current), each item is made in.
    context: Context,
}

impl Body {
    /// `iterable` wrapped, with its `iterator`, in a copy of the current context: called while
    /// the request's segment is current.
    pub fn wrap<'py>(
        py: Python<'py>,
        iterable: Py<PyAny>,
        iterator: Py<PyAny>,
        exchange: Py<Exchange>,
    ) -> PyResult<Bound<'py, Body>> {
        let context = Context::copy_current(py)?;
        let body = Body {
            iterable,
            iterator,
            exchange,
            context,
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
}

#[pymethods]
impl Body {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let iterator = self.iterator.bind(py);
        // SAFETY: the GIL is held; `iterator` came from PyObject_GetIter (it is an iterator).
        // PyIter_Next returns a new reference, or NULL: the end, or an error when one is set.
        let next = || unsafe {
            let item = ffi::PyIter_Next(iterator.as_ptr());
            if item.is_null() {
                return PyErr::take(py).map_or(Ok(None), Err);
            }
            Ok(Some(Py::<PyAny>::from_owned_ptr(py, item)))
        };
        match self.context.run(py, next) {
            Ok(Some(item)) => {
                if let Ok(n) = item.bind(py).len() {
                    self.exchange.get().count(n);
                }
                Ok(Some(item))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(self.failed(py, e)),
        }
    }

    /// Closes the application's iterable (in the request's context) and ends the request.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if let Ok(close) = self.iterable.bind(py).getattr(intern!(py, "close")) {
            if let Err(e) = self.context.run(py, || close.call0()) {
                return Err(self.failed(py, e));
            }
        }
        Exchange::end(self.exchange.bind(py), false, 0);
        Ok(())
    }
}
