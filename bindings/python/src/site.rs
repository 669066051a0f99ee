//! `oxray._core.Site`: what a decorated function needs on every call, prepared once at
//! decoration time (name, metadata keys, namespace), so the hot path converts no strings.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::diag;
use crate::entity::PyEntity;

#[pyclass(frozen, name = "Site", module = "oxray._core")]
pub struct Site {
    name: Arc<str>,
    namespace: String,
    response_key: String,
    error_key: String,
    capture_response: bool,
    capture_error: bool,
}

#[pymethods]
impl Site {
    /// `name` is the subsegment name; `label` prefixes the metadata keys
    /// (`"<label> response"`, `"<label> error"`) recorded under `namespace`.
    #[new]
    #[pyo3(signature = (name, label, namespace, capture_response = true, capture_error = true))]
    fn new(
        name: &str,
        label: &str,
        namespace: &str,
        capture_response: bool,
        capture_error: bool,
    ) -> Site {
        Site {
            name: Arc::from(name),
            namespace: namespace.to_string(),
            response_key: format!("{label} response"),
            error_key: format!("{label} error"),
            capture_response,
            capture_error,
        }
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    #[getter]
    fn namespace(&self) -> &str {
        &self.namespace
    }

    #[getter]
    fn capture_response(&self) -> bool {
        self.capture_response
    }

    #[getter]
    fn capture_error(&self) -> bool {
        self.capture_error
    }

    /// `func(*args, **kwargs)` traced as this site's subsegment of the current entity, in
    /// one native call (see [`crate::call`]). The function's result or exception passes
    /// through unchanged.
    #[pyo3(signature = (func, args, kwargs = None))]
    fn call(
        slf: &Bound<'_, Self>,
        func: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        crate::call::traced_call(slf, func, args, kwargs)
    }

    /// Begins this site's subsegment under `parent`; None when `parent` is not sampled
    /// (nothing would be recorded, so the caller just runs the function).
    pub(crate) fn begin(&self, py: Python<'_>, parent: &Bound<'_, PyEntity>) -> Option<PyEntity> {
        let p = parent.get();
        if !p.entity.is_sampled() {
            return None;
        }
        let child = p.child(Arc::clone(&self.name), Some(parent));
        diag::drain(py);
        Some(child)
    }

    /// Records `result` as the response (unless None or capture is off) and ends `sub`.
    pub(crate) fn finish(
        &self,
        py: Python<'_>,
        sub: &Bound<'_, PyEntity>,
        result: &Bound<'_, PyAny>,
    ) {
        let sub = sub.get();
        if self.capture_response && !result.is_none() {
            sub.metadata(py, &self.namespace, &self.response_key, result);
        }
        let _ = sub.entity.end();
        diag::drain(py);
    }

    /// Records `value` as the response (unless None or capture is off), without ending.
    fn respond(&self, py: Python<'_>, sub: &Bound<'_, PyEntity>, value: &Bound<'_, PyAny>) {
        if self.capture_response && !value.is_none() {
            sub.get()
                .metadata(py, &self.namespace, &self.response_key, value);
        }
    }

    /// Records `exc` as the error metadata (if capture is on). The cause and the end are
    /// recorded by the caller, which knows whether the exception was seen before.
    fn error_metadata(&self, py: Python<'_>, sub: &Bound<'_, PyEntity>, exc: &Bound<'_, PyAny>) {
        if self.capture_error {
            sub.get()
                .metadata(py, &self.namespace, &self.error_key, exc);
        }
    }
}
