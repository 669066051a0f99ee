//! The context variable C API, for the per-request path: the request's segment made current
//! ([`Var`]), and a streamed body's items made inside a copy of the request's context
//! ([`Context`]).
//!
//! Through the Python methods (`ContextVar.set` / `.reset`, `Context.run`) each of these is a
//! call from native code, which under the stable ABI before Python 3.12 packs its arguments
//! in a new tuple, plus the method's own dispatch. The C functions do the same work directly.
//! They are public C API since Python 3.7, exported by every CPython with these signatures,
//! but not part of the stable ABI, so pyo3 does not declare them for an abi3 build: they are
//! declared here (an abi3 wheel runs on CPython only).

use std::os::raw::c_int;

use pyo3::ffi;
use pyo3::prelude::*;

extern "C" {
    fn PyContext_CopyCurrent() -> *mut ffi::PyObject;
    fn PyContext_Enter(ctx: *mut ffi::PyObject) -> c_int;
    fn PyContext_Exit(ctx: *mut ffi::PyObject) -> c_int;
    fn PyContextVar_Get(
        var: *mut ffi::PyObject,
        default_value: *mut ffi::PyObject,
        value: *mut *mut ffi::PyObject,
    ) -> c_int;
    fn PyContextVar_Set(var: *mut ffi::PyObject, value: *mut ffi::PyObject) -> *mut ffi::PyObject;
    fn PyContextVar_Reset(var: *mut ffi::PyObject, token: *mut ffi::PyObject) -> c_int;
}

/// Whether `object` is a `contextvars.ContextVar` (what the functions below need).
fn is_context_var(object: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = object.py();
    let contextvars = py.import(pyo3::intern!(py, "contextvars"))?;
    let kind = contextvars.getattr(pyo3::intern!(py, "ContextVar"))?;
    Ok(object.get_type().is(&kind))
}

/// A `contextvars.ContextVar`.
pub struct Var(Py<PyAny>);

impl Var {
    /// `var` must be a `ContextVar` (else TypeError).
    pub fn new(var: &Bound<'_, PyAny>) -> PyResult<Var> {
        if !is_context_var(var)? {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "a contextvars.ContextVar was expected",
            ));
        }
        Ok(Var(var.clone().unbind()))
    }

    /// `var.get()`: the value in the current context, else the variable's default, else None.
    pub fn get<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut value: *mut ffi::PyObject = std::ptr::null_mut();
        // SAFETY: the GIL is held; `self.0` is a ContextVar (checked when made); `value`
        // receives a new reference or NULL (no value and no default).
        let status = unsafe { PyContextVar_Get(self.0.as_ptr(), std::ptr::null_mut(), &mut value) };
        if status < 0 {
            return Err(PyErr::fetch(py));
        }
        if value.is_null() {
            return Ok(py.None().into_bound(py));
        }
        // SAFETY: `value` is a new reference.
        Ok(unsafe { Bound::from_owned_ptr(py, value) })
    }

    /// `var.set(value)`: the token that resets it.
    pub fn set<'py>(&self, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = value.py();
        // SAFETY: as in `get`; returns a new reference to the token, or NULL with an error.
        unsafe {
            Bound::from_owned_ptr_or_err(py, PyContextVar_Set(self.0.as_ptr(), value.as_ptr()))
        }
    }

    /// `var.reset(token)`.
    pub fn reset(&self, token: &Bound<'_, PyAny>) -> PyResult<()> {
        // SAFETY: as in `get`; a token of another variable or context is reported as an error.
        if unsafe { PyContextVar_Reset(self.0.as_ptr(), token.as_ptr()) } < 0 {
            return Err(PyErr::fetch(token.py()));
        }
        Ok(())
    }
}

/// A copy of the current context, which code can be run in.
pub struct Context(Py<PyAny>);

impl Context {
    /// `contextvars.copy_context()`.
    pub fn copy_current(py: Python<'_>) -> PyResult<Context> {
        // SAFETY: the GIL is held; returns a new reference, or NULL with an error.
        let ctx = unsafe { Bound::from_owned_ptr_or_err(py, PyContext_CopyCurrent())? };
        Ok(Context(ctx.unbind()))
    }

    /// `f()` run in this context, as `Context.run(f)` does: entered (a RuntimeError if it is
    /// entered already), `f` called, left again. An error of `f` wins over one of leaving.
    pub fn run<'py, T>(&self, py: Python<'py>, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
        // SAFETY: the GIL is held; `self.0` is a Context (made by `copy_current`).
        if unsafe { PyContext_Enter(self.0.as_ptr()) } < 0 {
            return Err(PyErr::fetch(py));
        }
        let result = f();
        // SAFETY: as above; fails only if `f` left a different context current.
        let left = unsafe { PyContext_Exit(self.0.as_ptr()) };
        match result {
            Ok(_) if left < 0 => Err(PyErr::fetch(py)),
            Err(e) => {
                if left < 0 {
                    let _ = PyErr::take(py);
                }
                Err(e)
            }
            ok => ok,
        }
    }
}
