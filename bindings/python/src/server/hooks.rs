//! [`Hooks`]: what the Python middleware does at the rare ends of a request, given to the
//! native side once (`oxray.middleware._request.HOOKS`), so that the common end of a request
//! runs no Python code.

use pyo3::prelude::*;
use pyo3::types::PyDict;

#[pyclass(frozen, name = "ServerHooks", module = "oxray._core")]
pub struct Hooks {
    /// `fail(exchange, exc, sent)`: an exception raised while a streamed WSGI body was made
    /// or closed is recorded and ends the request. Never raises.
    pub fail: Py<PyAny>,
    /// `after(exchange)`: called when a request ended in Lambda (what it traced is sent
    /// now) or while `recorded` is not empty (its exceptions are forgotten). Never raises.
    pub after: Py<PyAny>,
    /// The exceptions the Python layer remembers (`oxray._errors._recorded`).
    pub recorded: Py<PyDict>,
}

#[pymethods]
impl Hooks {
    #[new]
    fn new(fail: Py<PyAny>, after: Py<PyAny>, recorded: Py<PyDict>) -> Hooks {
        Hooks {
            fail,
            after,
            recorded,
        }
    }
}

impl Hooks {
    /// Whether `after` has something to do for a request that just ended.
    pub fn after_needed(&self, py: Python<'_>, lambda: bool) -> bool {
        lambda || !self.recorded.bind(py).is_empty()
    }
}
