//! `oxray._core.Recorder`: configuration, sampling and emission, and where traces begin.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oxray_core::sampling::SamplingRequest;
use oxray_core::{Config, Recorder, Sampled, TraceHeader};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::diag;
use crate::entity::PyEntity;
use crate::server;

#[pyclass(frozen, name = "Recorder", module = "oxray._core")]
pub struct PyRecorder {
    rec: Recorder,
    /// The last Lambda facade handed out, by header text ("" = no header): one object per
    /// invocation, not one per call.
    facade: Mutex<Option<(String, Py<PyEntity>)>>,
}

impl PyRecorder {
    /// The core recorder.
    pub fn core(&self) -> &Recorder {
        &self.rec
    }
}

#[pymethods]
impl PyRecorder {
    /// A recorder configured from the environment, then from `config` (a JSON object with
    /// the core's keys: emit_mode, daemon_address, enabled, context_missing, …). A bad
    /// `config` raises ValueError: this is set-up, not tracing.
    #[new]
    #[pyo3(signature = (config = None))]
    fn new(py: Python<'_>, config: Option<&str>) -> PyResult<PyRecorder> {
        let mut c = Config::from_env();
        c.sdk_name = "oxray for Python".to_string();
        if let Some(text) = config {
            c.apply_json(text)
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
        }
        let rec = Recorder::new(c);
        diag::drain(py);
        Ok(PyRecorder {
            rec,
            facade: Mutex::new(None),
        })
    }

    #[getter]
    fn enabled(&self) -> bool {
        self.rec.config().enabled
    }

    /// True when `LAMBDA_TASK_ROOT` was set when the recorder was made (or config said so).
    #[getter]
    fn lambda_mode(&self) -> bool {
        self.rec.config().lambda
    }

    #[getter]
    fn daemon_address(&self) -> String {
        self.rec.config().daemon.udp.to_string()
    }

    #[getter]
    fn context_missing_strategy(&self) -> &'static str {
        match self.rec.config().context_missing {
            oxray_core::ContextMissing::LogError => "LOG_ERROR",
            oxray_core::ContextMissing::IgnoreError => "IGNORE_ERROR",
            oxray_core::ContextMissing::RuntimeError => "RUNTIME_ERROR",
        }
    }

    /// The Lambda facade for this invocation: from `header`, else `_X_AMZN_TRACE_ID`.
    /// Unsampled (records nothing) when there is no usable header.
    #[pyo3(signature = (header = None))]
    fn lambda_facade(&self, py: Python<'_>, header: Option<&str>) -> Py<PyEntity> {
        let text = match header {
            Some(h) => h.to_string(),
            None => oxray_core::lambda::header_from_env().unwrap_or_default(),
        };
        // The lock is never held while Python code may run (object creation can run a GC
        // and release the GIL; another thread waiting on this lock with the GIL would deadlock).
        {
            let cache = self.facade.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((cached, entity)) = cache.as_ref() {
                if *cached == text {
                    return entity.clone_ref(py);
                }
            }
        }
        let facade = self
            .rec
            .lambda_facade(if text.is_empty() { None } else { Some(&text) });
        let made = match Py::new(py, PyEntity::new(facade, Arc::from("facade"))) {
            Ok(e) => e,
            Err(_) => {
                let f = self.rec.lambda_facade(None);
                return Py::new(py, PyEntity::new(f, Arc::from("facade")))
                    .expect("cannot allocate an oxray entity");
            }
        };
        let keep = made.clone_ref(py);
        *self.facade.lock().unwrap_or_else(|e| e.into_inner()) = Some((text, keep));
        diag::drain(py);
        made
    }

    /// Begins a segment (server mode). `header` is an incoming `X-Amzn-Trace-Id` (a bad one is
    /// logged and ignored); `sampled` overrides its decision and the sampler's.
    #[pyo3(signature = (name = None, header = None, sampled = None, host = None, method = None, url_path = None))]
    #[allow(clippy::too_many_arguments)]
    fn begin_segment(
        &self,
        py: Python<'_>,
        name: Option<&str>,
        header: Option<&str>,
        sampled: Option<bool>,
        host: Option<&str>,
        method: Option<&str>,
        url_path: Option<&str>,
    ) -> PyEntity {
        let mut incoming = match header.map(TraceHeader::parse) {
            Some(Ok(h)) => Some(h),
            Some(Err(e)) => {
                self.rec
                    .warn(&format!("incoming trace header ignored: {e}"));
                None
            }
            None => None,
        };
        if let Some(s) = sampled {
            incoming.get_or_insert_with(TraceHeader::default).sampled = Some(Sampled::from_bool(s));
        }
        let request = SamplingRequest {
            host,
            method,
            url_path,
            ..SamplingRequest::default()
        };
        let segment = self.rec.begin_segment(name, incoming.as_ref(), &request);
        let shown: Arc<str> = Arc::from(
            self.rec
                .config()
                .tracing_name
                .as_deref()
                .or(name)
                .or(self.rec.config().function_name.as_deref())
                .unwrap_or("unnamed"),
        );
        diag::drain(py);
        PyEntity::new(segment, shown)
    }

    /// Server mode, WSGI: begins the segment for the request in `environ` (see
    /// [`crate::server`]) and returns the exchange to give the application as its
    /// `start_response`. `name` is the segment name unless `AWS_XRAY_TRACING_NAME` is set;
    /// without one, the Host. `parent`: the entity current when the request arrived (the
    /// request is then its subsegment). `hooks`: the middleware's (`ServerHooks`). None when
    /// tracing is disabled.
    fn begin_wsgi(
        &self,
        py: Python<'_>,
        name: Option<&str>,
        environ: &Bound<'_, PyDict>,
        start_response: Py<PyAny>,
        parent: Option<&Bound<'_, PyEntity>>,
        hooks: Py<server::Hooks>,
    ) -> Option<server::Exchange> {
        let source = server::WsgiRequest { environ };
        server::begin(py, &self.rec, name, parent, &source).map(|begun| {
            server::Exchange::new(begun, server::Interface::Wsgi, start_response, hooks)
        })
    }

    /// Server mode, ASGI: as `begin_wsgi`, for an HTTP `scope`; the exchange stands in for
    /// `send`.
    fn begin_asgi(
        &self,
        py: Python<'_>,
        name: Option<&str>,
        scope: &Bound<'_, PyDict>,
        send: Py<PyAny>,
        parent: Option<&Bound<'_, PyEntity>>,
        hooks: Py<server::Hooks>,
    ) -> Option<server::Exchange> {
        let source = server::AsgiRequest::new(scope);
        server::begin(py, &self.rec, name, parent, &source)
            .map(|begun| server::Exchange::new(begun, server::Interface::Asgi, send, hooks))
    }

    /// Sends everything completed so far and waits until it left, at most `timeout` seconds.
    /// False if the time ran out. The GIL is released while waiting unless `release_gil` is
    /// false: a daemon thread must keep it, because CPython < 3.14 ends a thread that takes
    /// the GIL back during interpreter finalization with `pthread_exit`, whose unwinding
    /// through these Rust frames aborts the process. (The sender thread never needs the GIL.)
    #[pyo3(signature = (timeout = 1.0, release_gil = true))]
    fn flush(&self, py: Python<'_>, timeout: f64, release_gil: bool) -> bool {
        let timeout = seconds(timeout);
        let rec = self.rec.clone();
        let ok = if release_gil {
            py.detach(move || rec.flush(timeout))
        } else {
            rec.flush(timeout)
        };
        diag::drain(py);
        ok
    }

    /// Like `flush`, but what is still queued is sent from this thread (the end of a Lambda
    /// invocation: the caller waits anyway, so it does not wait for the sender to wake up).
    /// `release_gil` as for `flush`.
    #[pyo3(signature = (timeout = 1.0, release_gil = true))]
    fn flush_on_caller(&self, py: Python<'_>, timeout: f64, release_gil: bool) -> bool {
        let timeout = seconds(timeout);
        let rec = self.rec.clone();
        let ok = if release_gil {
            py.detach(move || rec.flush_on_caller(timeout))
        } else {
            rec.flush_on_caller(timeout)
        };
        diag::drain(py);
        ok
    }

    /// sent, dropped, truncated, streamed, send_errors, warnings, sampling_errors.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.rec.counters();
        let d = PyDict::new(py);
        d.set_item("sent", c.sent)?;
        d.set_item("dropped", c.dropped)?;
        d.set_item("truncated", c.truncated)?;
        d.set_item("streamed", c.streamed)?;
        d.set_item("send_errors", c.send_errors)?;
        d.set_item("warnings", c.warnings)?;
        d.set_item("sampling_errors", c.sampling_errors)?;
        Ok(d)
    }

    /// Documents kept in memory mode, oldest first (and forgotten).
    fn take_documents(&self) -> Vec<String> {
        self.rec.take_documents()
    }

    /// Logs (logger `oxray`) and counts a problem found by the Python layer.
    fn warn(&self, py: Python<'_>, message: &str) {
        self.rec.warn(message);
        diag::drain(py);
    }

    /// Applies AWS_XRAY_CONTEXT_MISSING for "no current entity": logs (LOG_ERROR), stays
    /// silent (IGNORE_ERROR), or returns True when the caller should raise (RUNTIME_ERROR).
    fn context_missing(&self, py: Python<'_>, what: &str) -> bool {
        let raise = self.rec.context_missing(what).is_err();
        diag::drain(py);
        raise
    }

    /// Call in a forked child: new ids, a new sender thread.
    fn after_fork_child(&self) {
        self.rec.after_fork_child();
        // try_lock: a lock held by another thread at fork time stays held forever in the child.
        if let Ok(mut cache) = self.facade.try_lock() {
            *cache = None;
        }
    }
}

/// A timeout given in seconds; negative, NaN or infinite values mean no wait.
fn seconds(timeout: f64) -> Duration {
    Duration::from_secs_f64(if timeout.is_finite() && timeout > 0.0 {
        timeout
    } else {
        0.0
    })
}
