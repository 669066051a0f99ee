//! [`Body`]: a streamed WSGI response body the server reads item by item, passed through.
//!
//! Each item is made in the request's context (its segment current), through that context's
//! `run`, only when the server asks for it. The bytes are counted on the exchange; `close()`
//! closes the application's iterable and ends the request. An exception is handed to the
//! middleware's `fail` hook (which records it and ends the request) and raised on unchanged.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use super::exchange::Exchange;

/// What a body needs from Python, looked up once: `contextvars.copy_context`, the unbound
/// `Context.run` (called as `run(context, f, *args)`: no bound method is made per request),
/// `next`, and a private object `next` returns at the end of an iterator (`next(it, end)`: no
/// StopIteration to raise and catch per body).
struct Builtins {
    copy_context: Py<PyAny>,
    run: Py<PyAny>,
    next: Py<PyAny>,
    end: Py<PyAny>,
}

static BUILTINS: PyOnceLock<Builtins> = PyOnceLock::new();

fn builtins(py: Python<'_>) -> PyResult<&Builtins> {
    BUILTINS.get_or_try_init(py, || {
        let contextvars = py.import(intern!(py, "contextvars"))?;
        let builtins = py.import(intern!(py, "builtins"))?;
        Ok(Builtins {
            copy_context: contextvars.getattr(intern!(py, "copy_context"))?.unbind(),
            run: contextvars
                .getattr(intern!(py, "Context"))?
                .getattr(intern!(py, "run"))?
                .unbind(),
            next: builtins.getattr(intern!(py, "next"))?.unbind(),
            end: builtins.getattr(intern!(py, "object"))?.call0()?.unbind(),
        })
    })
}

#[pyclass(frozen, name = "Body", module = "oxray._core")]
pub struct Body {
    /// The application's iterable (closed by `close()`).
    iterable: Py<PyAny>,
    /// `iter(iterable)`, made when the application returned it, its segment current.
    iterator: Py<PyAny>,
    exchange: Py<Exchange>,
    /// A copy of the request's context (its segment current), each item is made in.
    context: Py<PyAny>,
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
        let context = builtins(py)?.copy_context.call0(py)?;
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
        let b = builtins(py)?;
        match b
            .run
            .call1(py, (&self.context, &b.next, &self.iterator, &b.end))
        {
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
            let run = &builtins(py)?.run;
            if let Err(e) = run.call1(py, (&self.context, close)) {
                return Err(self.failed(py, e));
            }
        }
        Exchange::end(self.exchange.bind(py), false, 0);
        Ok(())
    }
}
