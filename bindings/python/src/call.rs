//! `Site.call`: one traced call of a plain (synchronous) function, done in a single native
//! call instead of five from the Python wrapper (current entity, begin, set the context
//! variable, reset it, finish). It is the hot path of `capture_method` and
//! `xray_recorder.capture`.
//!
//! The current entity lives in the Python layer's `contextvars.ContextVar`; the context
//! variable C API is not in the limited (abi3) API, so the variable's own `get`/`set`/`reset`
//! methods are called. Those, the fallback parent (`oxray._capture.root`) and the failure
//! recorder (`oxray._capture._fail`) are handed over once by [`install_call_hooks`].

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};

use crate::entity::PyEntity;
use crate::site::Site;

struct CallHooks {
    /// `ContextVar.get`, `.set`, `.reset` of the current-entity variable, bound.
    get: Py<PyAny>,
    set: Py<PyAny>,
    reset: Py<PyAny>,
    /// `() -> Entity | None`: the parent when none is current (the Lambda facade).
    root: Py<PyAny>,
    /// `(site, sub, exc) -> None`: records an exception on `sub` and ends it; never raises.
    fail: Py<PyAny>,
}

static HOOKS: PyOnceLock<CallHooks> = PyOnceLock::new();

/// Hands the Python layer's current-entity variable, fallback parent and failure recorder
/// to `Site.call`. Called once, when `oxray._capture` is imported; later calls are ignored
/// (the hooks are the module's, which lives for the whole process).
#[pyfunction]
pub fn install_call_hooks(
    py: Python<'_>,
    var: &Bound<'_, PyAny>,
    root: Bound<'_, PyAny>,
    fail: Bound<'_, PyAny>,
) -> PyResult<()> {
    let hooks = CallHooks {
        get: var.getattr("get")?.unbind(),
        set: var.getattr("set")?.unbind(),
        reset: var.getattr("reset")?.unbind(),
        root: root.unbind(),
        fail: fail.unbind(),
    };
    let _ = HOOKS.set(py, hooks);
    Ok(())
}

/// Runs `fn(*args, **kwargs)` traced as `site`'s subsegment of the current entity, as the
/// Python wrapper did: untraced when there is no parent or it is not sampled; otherwise the
/// subsegment is current while `fn` runs, records the response and ends, or records the
/// exception (with its traceback) and ends before the exception is re-raised unchanged.
pub fn traced_call(
    site: &Bound<'_, Site>,
    func: &Bound<'_, PyAny>,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    let py = site.py();
    let Some(hooks) = HOOKS.get(py) else {
        return func.call(args, kwargs).map(Bound::unbind);
    };
    let Some(parent) = current_parent(py, hooks) else {
        return func.call(args, kwargs).map(Bound::unbind);
    };
    let Some(sub) = site.get().begin(py, &parent) else {
        return func.call(args, kwargs).map(Bound::unbind);
    };
    // Tracing must not keep the function from running: if the subsegment cannot be made
    // current (no memory for it), it is ended at once and the function runs untraced.
    let Ok(sub) = Bound::new(py, sub) else {
        return func.call(args, kwargs).map(Bound::unbind);
    };
    let Ok(token) = hooks.set.bind(py).call1((&sub,)) else {
        let _ = sub.get().entity.end();
        return func.call(args, kwargs).map(Bound::unbind);
    };
    let outcome = func.call(args, kwargs);
    match outcome {
        Ok(result) => {
            reset(py, hooks, &token);
            site.get().finish(py, &sub, &result);
            Ok(result.unbind())
        }
        Err(err) => {
            // Recorded while the subsegment is still current, as the `except` clause of the
            // Python wrapper did; the exception object carries its traceback for the record
            // and is re-raised as it came.
            let exc = err.into_value(py).into_bound(py);
            let _ = hooks.fail.bind(py).call1((site, &sub, &exc));
            reset(py, hooks, &token);
            Err(PyErr::from_value(exc.into_any()))
        }
    }
}

/// The current entity, or the fallback parent; None when there is nowhere to record.
fn current_parent<'py>(py: Python<'py>, hooks: &CallHooks) -> Option<Bound<'py, PyEntity>> {
    let current = hooks.get.bind(py).call0().ok()?;
    let entity = if current.is_none() {
        hooks.root.bind(py).call0().ok()?
    } else {
        current
    };
    entity.cast_into::<PyEntity>().ok()
}

/// Makes the previous entity current again. A token from another context (the function
/// switched contexts) cannot be reset; that must not turn into an error in user code.
fn reset(py: Python<'_>, hooks: &CallHooks, token: &Bound<'_, PyAny>) {
    let _ = hooks.reset.bind(py).call1((token,));
}
