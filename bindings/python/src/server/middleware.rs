//! The per-request path of the WSGI middleware, native: [`WsgiMiddleware`], the base class of
//! `oxray.middleware.XRayWSGIMiddleware`, whose `__call__` it is.
//!
//! A request used to run a Python `__call__` and about ten crossings into native code
//! (recorder, begin, the segment, the context variable, respond); now it is one native call
//! that does the same steps in the same order. What it reads from the Python layer per
//! request (tracing on/off, the recorder, the service names) is handed over once as a
//! [`State`]; module globals are read from their module's dict, since they change.

use pyo3::exceptions::{PyException, PyRuntimeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use super::context::Var;
use super::exchange::{Exchange, Interface};
use super::hooks::Hooks;
use super::request::WsgiRequest;
use super::text;
use crate::entity::PyEntity;
use crate::recorder::PyRecorder;

/// What the middleware reads from the Python layer, given once by
/// `oxray.middleware._request` (`STATE`).
#[pyclass(frozen, name = "ServerState", module = "oxray._core")]
pub struct State {
    /// `oxray._capture`'s globals: `_ENABLED`.
    capture: Py<PyDict>,
    /// `oxray._runtime`'s globals: `_recorder`, and `recorder()` to make it.
    runtime: Py<PyDict>,
    /// `oxray.xray_recorder`: its `service`.
    xray_recorder: Py<PyAny>,
    /// The `Tracer` class: `_config["service"]`.
    tracer: Py<PyAny>,
    /// The current-entity variable (`oxray.context._current`).
    current: Var,
    hooks: Py<Hooks>,
    /// `begin_failed(problem)`: logs that a request is not traced.
    begin_failed: Py<PyAny>,
}

#[pymethods]
impl State {
    #[new]
    fn new(
        capture: Py<PyDict>,
        runtime: Py<PyDict>,
        xray_recorder: Py<PyAny>,
        tracer: Py<PyAny>,
        current: &Bound<'_, PyAny>,
        hooks: Py<Hooks>,
        begin_failed: Py<PyAny>,
    ) -> PyResult<State> {
        Ok(State {
            capture,
            runtime,
            xray_recorder,
            tracer,
            current: Var::new(current)?,
            hooks,
            begin_failed,
        })
    }
}

impl State {
    /// `oxray._capture._ENABLED`.
    fn enabled(&self, py: Python<'_>) -> bool {
        let capture = self.capture.bind(py);
        match capture.get_item(intern!(py, "_ENABLED")) {
            Ok(Some(on)) => on.is_truthy().unwrap_or(true),
            _ => true,
        }
    }

    /// `_runtime._recorder or _runtime.recorder()`.
    fn recorder<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let runtime = self.runtime.bind(py);
        if let Some(rec) = runtime.get_item(intern!(py, "_recorder"))? {
            if rec.is_truthy()? {
                return Ok(rec);
            }
        }
        match runtime.get_item(intern!(py, "recorder"))? {
            Some(make) => make.call0(),
            None => Err(PyRuntimeError::new_err("oxray._runtime has no recorder()")),
        }
    }

    /// Makes the previous entity current again. A token from another context (the
    /// application switched contexts) cannot be reset; that must not reach the server.
    fn reset(&self, token: &Bound<'_, PyAny>) {
        let _ = self.current.reset(token);
    }
}

/// What a middleware keeps: the application, the names and the [`State`].
struct Setup {
    app: Py<PyAny>,
    /// The middleware's `name` (None when not given or empty).
    name: Py<PyAny>,
    /// `POWERTOOLS_SERVICE_NAME` when the middleware was made (None when unset).
    env_name: Py<PyAny>,
    state: Option<Py<State>>,
}

impl Setup {
    fn empty(py: Python<'_>) -> Setup {
        Setup {
            app: py.None(),
            name: py.None(),
            env_name: py.None(),
            state: None,
        }
    }

    fn copy(&self, py: Python<'_>) -> Setup {
        Setup {
            app: self.app.clone_ref(py),
            name: self.name.clone_ref(py),
            env_name: self.env_name.clone_ref(py),
            state: self.state.as_ref().map(|s| s.clone_ref(py)),
        }
    }

    fn state<'a, 'py>(&'a self, py: Python<'py>) -> PyResult<&'a Bound<'py, State>> {
        match &self.state {
            Some(state) => Ok(state.bind(py)),
            None => Err(PyRuntimeError::new_err(
                "the middleware was not set up: call super().__init__(app, ...)",
            )),
        }
    }

    /// The segment name: `name or xray_recorder.service or Tracer._config["service"] or
    /// env_name`.
    fn segment_name<'py>(&self, py: Python<'py>, state: &State) -> PyResult<Bound<'py, PyAny>> {
        let own = self.name.bind(py);
        if own.is_truthy()? {
            return Ok(own.clone());
        }
        let service = state
            .xray_recorder
            .bind(py)
            .getattr(intern!(py, "service"))?;
        if service.is_truthy()? {
            return Ok(service);
        }
        let config = state.tracer.bind(py).getattr(intern!(py, "_config"))?;
        let service = config.get_item(intern!(py, "service"))?;
        if service.is_truthy()? {
            return Ok(service);
        }
        Ok(self.env_name.bind(py).clone())
    }

    /// Begins the request (as `rec.begin_wsgi(name, environ, start_response, current,
    /// hooks)`); None when tracing is disabled. The usual recorder, parent, environ and name
    /// are handled here; anything else goes through the recorder's Python method, as before.
    fn begin<'py>(
        &self,
        py: Python<'py>,
        state: &State,
        request: &Bound<'py, PyAny>,
        server: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, Exchange>>> {
        let rec = state.recorder(py)?;
        let name = self.segment_name(py, state)?;
        let parent = state.current.get(py)?;
        if let (Ok(rec), Ok(request)) = (rec.cast::<PyRecorder>(), request.cast::<PyDict>()) {
            let parent = match parent.cast::<PyEntity>() {
                Ok(p) => Some(Some(p)),
                Err(_) if parent.is_none() => Some(None),
                Err(_) => None,
            };
            let name = match name.cast::<PyString>() {
                Ok(s) => text::utf8(s).map(Some),
                Err(_) if name.is_none() => Some(None),
                Err(_) => None,
            };
            if let (Some(parent), Some(name)) = (parent, name) {
                let core = rec.get().core();
                let begun = super::begin(py, core, name, parent, &WsgiRequest { environ: request });
                let Some(begun) = begun else {
                    return Ok(None);
                };
                let hooks = state.hooks.clone_ref(py);
                let exchange =
                    Exchange::new(begun, Interface::Wsgi, server.clone().unbind(), hooks);
                return Bound::new(py, exchange).map(Some);
            }
        }
        let method = intern!(py, "begin_wsgi");
        let got = rec.call_method1(method, (name, request, server, parent, &state.hooks))?;
        if got.is_none() {
            return Ok(None);
        }
        Ok(Some(got.cast_into::<Exchange>()?))
    }

    /// [`Setup::begin`], with a failure logged (the request then goes untraced); only what
    /// is not an `Exception` (an interrupt) is raised.
    fn try_begin<'py>(
        &self,
        py: Python<'py>,
        state: &State,
        request: &Bound<'py, PyAny>,
        server: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, Exchange>>> {
        match self.begin(py, state, request, server) {
            Ok(exchange) => Ok(exchange),
            Err(problem) if problem.is_instance_of::<PyException>(py) => {
                let _ = state.begin_failed.bind(py).call1((problem.value(py),));
                Ok(None)
            }
            Err(interrupt) => Err(interrupt),
        }
    }
}

/// The base of `XRayWSGIMiddleware`: its `__call__`.
#[pyclass(subclass, name = "WsgiMiddleware", module = "oxray._core")]
pub struct WsgiMiddleware {
    setup: Setup,
}

#[pymethods]
impl WsgiMiddleware {
    /// Takes any arguments: the Python subclass's `__init__` reads them and calls `_setup`.
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(
        py: Python<'_>,
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, PyDict>>,
    ) -> Self {
        WsgiMiddleware {
            setup: Setup::empty(py),
        }
    }

    /// Called by the subclass's `__init__`: the application, the middleware's `name` (None
    /// if none), `POWERTOOLS_SERVICE_NAME` (None if unset) and the Python layer's [`State`].
    fn _setup(&mut self, app: Py<PyAny>, name: Py<PyAny>, env_name: Py<PyAny>, state: Py<State>) {
        self.setup = Setup {
            app,
            name,
            env_name,
            state: Some(state),
        };
    }

    /// The application traced.
    #[getter]
    fn app(&self, py: Python<'_>) -> Py<PyAny> {
        self.setup.app.clone_ref(py)
    }

    #[setter]
    fn set_app(&mut self, app: Py<PyAny>) {
        self.setup.app = app;
    }

    #[getter]
    fn _name(&self, py: Python<'_>) -> Py<PyAny> {
        self.setup.name.clone_ref(py)
    }

    #[getter]
    fn _env_name(&self, py: Python<'_>) -> Py<PyAny> {
        self.setup.env_name.clone_ref(py)
    }

    /// WSGI `app(environ, start_response)`: the application called with the request's
    /// segment current and the exchange as its `start_response`; what the server gets back
    /// is [`Exchange::respond`]'s. An exception of the application (or of its body's
    /// `__iter__`) is recorded, ends the request and is raised on unchanged.
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        environ: Bound<'py, PyAny>,
        start_response: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        // A copy of the references: the application may be replaced while a request runs.
        let setup = slf.borrow().setup.copy(py);
        let app = setup.app.bind(py);
        let state = setup.state(py)?.get();
        if !state.enabled(py) {
            return app.call1((environ, start_response));
        }
        let Some(exchange) = setup.try_begin(py, state, &environ, &start_response)? else {
            return app.call1((environ, start_response));
        };
        let segment = exchange.get().segment_ref().bind(py);
        // Tracing must not keep the application from running: if the segment cannot be made
        // current (no memory), the request is ended at once and runs untraced.
        let Ok(token) = state.current.set(segment.as_any()) else {
            Exchange::end(&exchange, false, 0);
            return app.call1((environ, start_response));
        };
        let outcome = app
            .call1((&environ, &exchange))
            .and_then(|result| Exchange::respond(&exchange, result, environ.cast::<PyDict>()?));
        if let Err(error) = &outcome {
            // Recorded while the segment is still current; the hook never raises.
            let _ = state
                .hooks
                .get()
                .fail
                .call1(py, (&exchange, error.value(py)));
        }
        state.reset(&token);
        outcome
    }
}
