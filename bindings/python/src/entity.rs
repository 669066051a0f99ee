//! `oxray._core.Entity`: a segment, subsegment or Lambda facade.
//!
//! Methods never raise on bad tracing input: they warn (logger `oxray`, counted by the
//! recorder) and return `False`/`None`. Argument *types* that Python cannot bind (a missing
//! positional argument) still raise `TypeError`, as for any function; the pure-Python layer
//! never calls them that way.

use std::borrow::Cow;
use std::sync::Arc;

use oxray_core::model::JsonText;
use oxray_core::{AnnotationValue, Entity, EntityId, EntityKind, HttpRequest, Namespace, Sql};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};

use crate::convert;
use crate::diag;
use crate::exception;

#[pyclass(frozen, name = "Entity", module = "oxray._core")]
pub struct PyEntity {
    pub(crate) entity: Entity,
    pub(crate) name: Arc<str>,
    /// The Python object of the parent, so `.parent` returns the same object.
    parent_obj: Option<Py<PyEntity>>,
}

impl PyEntity {
    pub fn new(entity: Entity, name: Arc<str>) -> PyEntity {
        PyEntity {
            entity,
            name,
            parent_obj: None,
        }
    }

    /// Logs and counts a problem met in the binding (not in the core).
    pub fn warn(&self, py: Python<'_>, message: &str) {
        self.entity.report_warning(message);
        diag::drain(py);
    }
}

fn annotation_value(v: &Bound<'_, PyAny>) -> Option<AnnotationValue> {
    if let Ok(s) = v.cast::<PyString>() {
        return Some(AnnotationValue::Str(s.to_string_lossy().into_owned()));
    }
    if let Ok(b) = v.cast::<PyBool>() {
        return Some(AnnotationValue::Bool(b.is_true()));
    }
    if v.is_instance_of::<PyInt>() {
        return match v.extract::<i64>() {
            Ok(i) => Some(AnnotationValue::Int(i)),
            Err(_) => v.extract::<f64>().ok().map(AnnotationValue::Float),
        };
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Some(AnnotationValue::Float(f.value()));
    }
    None
}

fn text_of(v: &Bound<'_, PyAny>) -> String {
    match v.cast::<PyString>() {
        Ok(s) => s.to_string_lossy().into_owned(),
        Err(_) => v
            .str()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|_| String::new()),
    }
}

fn kind_str(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Segment => "segment",
        EntityKind::Subsegment => "subsegment",
        EntityKind::Facade => "facade",
    }
}

pub fn micros_of(seconds: Option<f64>) -> Option<u64> {
    seconds.and_then(oxray_core::time::seconds_to_micros)
}

impl PyEntity {
    pub fn child(&self, name: Arc<str>, me: Option<&Bound<'_, PyEntity>>) -> PyEntity {
        PyEntity {
            entity: self.entity.begin_subsegment(&name),
            name,
            parent_obj: me.map(|b| b.clone().unbind()),
        }
    }

    pub fn metadata(
        &self,
        py: Python<'_>,
        namespace: &str,
        key: &str,
        value: &Bound<'_, PyAny>,
    ) -> bool {
        if !self.entity.is_sampled() {
            return true;
        }
        let (text, problems) = convert::json_text(value);
        for p in &problems {
            self.warn(py, p);
        }
        let ok = self
            .entity
            .put_metadata(Some(namespace), key, JsonText::from_trusted(text))
            .is_ok();
        diag::drain(py);
        ok
    }

    /// One field of `to_dict()`, or an empty dict when the document has none.
    fn document_field<'py>(&self, py: Python<'py>, field: &str) -> PyResult<Bound<'py, PyAny>> {
        self.to_dict(py)?
            .call_method1("get", (field, PyDict::new(py)))
    }
}

#[pymethods]
impl PyEntity {
    /// 16 lowercase hex digits.
    #[getter]
    fn id(&self) -> String {
        self.entity.id().to_string()
    }

    #[getter]
    fn trace_id(&self) -> String {
        self.entity.trace_id().to_string()
    }

    #[getter]
    fn parent_id(&self) -> Option<String> {
        self.entity.parent_id().map(|p| p.to_string())
    }

    #[getter]
    fn sampled(&self) -> bool {
        self.entity.is_sampled()
    }

    /// "segment", "subsegment" or "facade".
    #[getter]
    fn kind(&self) -> &'static str {
        kind_str(self.entity.kind())
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    #[getter]
    fn ended(&self) -> bool {
        self.entity.is_ended()
    }

    /// The parent entity (subsegments only).
    #[getter]
    fn parent(&self, py: Python<'_>) -> Option<Py<PyEntity>> {
        if let Some(p) = &self.parent_obj {
            return Some(p.clone_ref(py));
        }
        self.entity
            .parent()
            .and_then(|p| Py::new(py, PyEntity::new(p.clone(), Arc::from(""))).ok())
    }

    /// The document as it stands, as JSON text (the SDK's `serialize()`). An open, sampled
    /// entity gives what it would send now: in progress, with its closed children. Any other
    /// (unsampled, ended: its document is sent and gone, the Lambda facade) gives its identity
    /// only: name, id, trace_id, and parent_id when it has one.
    fn serialize(&self) -> String {
        if let Some(document) = self.entity.document_now() {
            return document;
        }
        let mut identity = serde_json::Map::new();
        identity.insert("name".into(), self.name.as_ref().into());
        identity.insert("id".into(), self.entity.id().to_string().into());
        identity.insert("trace_id".into(), self.entity.trace_id().to_string().into());
        if let Some(parent) = self.entity.parent_id() {
            identity.insert("parent_id".into(), parent.to_string().into());
        }
        serde_json::Value::Object(identity).to_string()
    }

    /// [`serialize`](Self::serialize) as a dict (the SDK's `to_dict()`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?
            .call_method1("loads", (self.serialize(),))
    }

    /// The annotations recorded so far (a copy; empty when there is no document to read, see
    /// `serialize`).
    #[getter]
    fn annotations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.document_field(py, "annotations")
    }

    /// The metadata recorded so far, by namespace (a copy, as `annotations`).
    #[getter(metadata)]
    fn recorded_metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.document_field(py, "metadata")
    }

    /// `"aws"` or `"remote"` when set; None for local work (oxray writes no `"local"`).
    #[getter]
    fn namespace<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.to_dict(py)?.call_method1("get", ("namespace",))
    }

    fn same_as(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyEntity>()
            .map(|o| o.get().entity.same_as(&self.entity))
            .unwrap_or(false)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        self.same_as(other)
    }

    fn __hash__(&self) -> u64 {
        let hex = self.entity.id().to_hex();
        u64::from_str_radix(std::str::from_utf8(&hex).unwrap_or("0"), 16).unwrap_or(0)
    }

    fn __repr__(&self) -> String {
        format!(
            "<oxray Entity {} {:?} id={} trace_id={} sampled={}>",
            kind_str(self.entity.kind()),
            &*self.name,
            self.entity.id(),
            self.entity.trace_id(),
            self.entity.is_sampled()
        )
    }

    /// Begins a child subsegment (name sanitized, with a warning if it changed).
    fn begin_subsegment(slf: &Bound<'_, Self>, name: &Bound<'_, PyAny>) -> PyEntity {
        let py = slf.py();
        let name: Arc<str> = Arc::from(text_of(name));
        let child = slf.get().child(name, Some(slf));
        diag::drain(py);
        child
    }

    /// Adds an annotation: key a str, value str/int/float/bool. Anything else is logged and
    /// dropped (returns False).
    fn put_annotation(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> bool {
        if !self.entity.is_sampled() {
            return true;
        }
        let Ok(key) = key.cast::<PyString>() else {
            self.warn(
                py,
                &format!(
                    "annotation key must be a str, not {}; annotation dropped",
                    convert::type_name(key)
                ),
            );
            return false;
        };
        let key = key.to_string_lossy();
        let Some(value) = annotation_value(value) else {
            self.warn(py, &format!(
                "annotation {key:?}: value of type {} is not a str, int, float or bool; annotation dropped",
                convert::type_name(value)
            ));
            return false;
        };
        let ok = self.entity.put_annotation(&key, value).is_ok();
        diag::drain(py);
        ok
    }

    /// Adds metadata under `namespace` (default "default"). The value is converted to JSON
    /// now (later changes to it are not recorded); streams and iterators are not read.
    #[pyo3(signature = (key, value, namespace = None))]
    fn put_metadata(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        namespace: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        if !self.entity.is_sampled() {
            return true;
        }
        let key = match key.cast::<PyString>() {
            Ok(s) => s.to_string_lossy(),
            // Not a str: recorded under its JSON text (`1` → "1"), as the SDK's `json.dumps`
            // of the document writes it, not dropped.
            Err(_) => Cow::Owned(convert::key_text(key)),
        };
        let namespace = match namespace {
            None => "default".to_string(),
            Some(ns) if ns.is_none() => "default".to_string(),
            Some(ns) => match ns.cast::<PyString>() {
                Ok(s) => s.to_string_lossy().into_owned(),
                Err(_) => {
                    self.warn(
                        py,
                        &format!(
                            "metadata namespace must be a str, not {}; value dropped",
                            convert::type_name(ns)
                        ),
                    );
                    return false;
                }
            },
        };
        self.metadata(py, &namespace, &key, value)
    }

    #[pyo3(signature = (method = None, url = None, user_agent = None, client_ip = None, traced = false, x_forwarded_for = false))]
    #[allow(clippy::too_many_arguments)]
    fn set_http_request(
        &self,
        py: Python<'_>,
        method: Option<String>,
        url: Option<String>,
        user_agent: Option<String>,
        client_ip: Option<String>,
        traced: bool,
        x_forwarded_for: bool,
    ) -> bool {
        let ok = self
            .entity
            .set_http_request(HttpRequest {
                method,
                url,
                user_agent,
                client_ip,
                x_forwarded_for,
                traced,
            })
            .is_ok();
        diag::drain(py);
        ok
    }

    /// Sets `http.response` and the error/throttle/fault flags from the status.
    #[pyo3(signature = (status = None, content_length = None))]
    fn set_http_response(
        &self,
        py: Python<'_>,
        status: Option<&Bound<'_, PyAny>>,
        content_length: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        let status = status.and_then(|s| s.extract::<u16>().ok());
        let content_length = content_length.and_then(|c| c.extract::<i64>().ok());
        let ok = self
            .entity
            .set_http_response(status, content_length)
            .is_ok();
        diag::drain(py);
        ok
    }

    /// Sets one field of the `aws` object; the value is converted like metadata. Given one
    /// dict instead (the X-Ray SDK's `set_aws(aws_meta)`), sets each of its items.
    #[pyo3(signature = (key, value = None))]
    fn set_aws(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        if !self.entity.is_sampled() {
            return true;
        }
        let value = match (key.cast::<PyDict>(), value) {
            (Ok(fields), None) => {
                let mut all = true;
                for (k, v) in fields.iter() {
                    all &= self.set_aws(py, &k, Some(&v));
                }
                return all;
            }
            (_, Some(value)) => value,
            (Err(_), None) => {
                self.warn(py, "set_aws needs a key and a value, or one dict; ignored");
                return false;
            }
        };
        let Ok(key) = key.cast::<PyString>() else {
            self.warn(
                py,
                &format!(
                    "aws key must be a str, not {}; ignored",
                    convert::type_name(key)
                ),
            );
            return false;
        };
        let key = key.to_string_lossy();
        let key: &str = &key;
        let (text, _) = convert::json_text(value);
        let json: serde_json::Value =
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        let ok = self.entity.set_aws(key, json).is_ok();
        diag::drain(py);
        ok
    }

    #[pyo3(signature = (url = None, connection_string = None, sanitized_query = None, database_type = None, database_version = None, driver_version = None, user = None, preparation = None))]
    #[allow(clippy::too_many_arguments)]
    fn set_sql(
        &self,
        py: Python<'_>,
        url: Option<String>,
        connection_string: Option<String>,
        sanitized_query: Option<String>,
        database_type: Option<String>,
        database_version: Option<String>,
        driver_version: Option<String>,
        user: Option<String>,
        preparation: Option<String>,
    ) -> bool {
        let ok = self
            .entity
            .set_sql(Sql {
                url,
                connection_string,
                sanitized_query,
                database_type,
                database_version,
                driver_version,
                user,
                preparation,
            })
            .is_ok();
        diag::drain(py);
        ok
    }

    /// "aws" or "remote"; None (or "local") for local work, which has no namespace.
    #[pyo3(signature = (namespace = None))]
    fn set_namespace(&self, py: Python<'_>, namespace: Option<&Bound<'_, PyAny>>) -> bool {
        let text = namespace
            .and_then(|n| n.cast::<PyString>().ok())
            .map(|n| n.to_string_lossy().into_owned());
        let ok = self
            .entity
            .set_namespace(text.as_deref().and_then(Namespace::parse))
            .is_ok();
        diag::drain(py);
        ok
    }

    #[pyo3(signature = (on = true))]
    fn set_error(&self, py: Python<'_>, on: bool) -> bool {
        let ok = self.entity.set_error(on).is_ok();
        diag::drain(py);
        ok
    }

    #[pyo3(signature = (on = true))]
    fn set_fault(&self, py: Python<'_>, on: bool) -> bool {
        let ok = self.entity.set_fault(on).is_ok();
        diag::drain(py);
        ok
    }

    #[pyo3(signature = (on = true))]
    fn set_throttle(&self, py: Python<'_>, on: bool) -> bool {
        let ok = self.entity.set_throttle(on).is_ok();
        diag::drain(py);
        ok
    }

    /// The X-Ray SDK's names for `set_error()`, `set_fault()`, `set_throttle()`.
    fn add_error_flag(&self, py: Python<'_>) -> bool {
        self.set_error(py, true)
    }

    fn add_fault_flag(&self, py: Python<'_>) -> bool {
        self.set_fault(py, true)
    }

    fn add_throttle_flag(&self, py: Python<'_>) -> bool {
        self.set_throttle(py, true)
    }

    /// Sets one field of `http.request` / `http.response` by the X-Ray SDK's key names
    /// (`method`, `url`, `user_agent`, `client_ip`, `x_forwarded_for`, `traced`, `status`,
    /// `content_length`), keeping the others. A `None` value is ignored, as in the SDK.
    fn put_http_meta(&self, py: Python<'_>, key: &str, value: &Bound<'_, PyAny>) -> bool {
        use oxray_core::http_meta::HttpMetaValue;
        if value.is_none() || !self.entity.is_sampled() {
            return true;
        }
        let text;
        let meta = if let Ok(b) = value.cast::<PyBool>() {
            HttpMetaValue::Flag(b.is_true())
        } else if let Ok(n) = value.extract::<i64>() {
            HttpMetaValue::Number(n)
        } else if let Ok(s) = value.cast::<PyString>() {
            text = s.to_string_lossy().into_owned();
            HttpMetaValue::Text(&text)
        } else {
            self.warn(
                py,
                &format!(
                    "put_http_meta {key:?}: a {} value is not text, a number or a bool; ignored",
                    convert::type_name(value)
                ),
            );
            return false;
        };
        let ok = self.entity.put_http_meta(key, meta).is_ok();
        diag::drain(py);
        ok
    }

    fn set_user(&self, py: Python<'_>, user: &Bound<'_, PyAny>) -> bool {
        let Ok(user) = user.cast::<PyString>() else {
            self.warn(
                py,
                &format!(
                    "user must be a str, not {}; ignored",
                    convert::type_name(user)
                ),
            );
            return false;
        };
        let ok = self.entity.set_user(&user.to_string_lossy()).is_ok();
        diag::drain(py);
        ok
    }

    fn set_service(&self, py: Python<'_>, key: &str, value: &str) -> bool {
        let ok = self.entity.set_service(key, value).is_ok();
        diag::drain(py);
        ok
    }

    fn set_origin(&self, py: Python<'_>, origin: &str) -> bool {
        let ok = self.entity.set_origin(origin).is_ok();
        diag::drain(py);
        ok
    }

    /// Records `exc` in `cause.exceptions` (type, message, up to `limit` stack frames from its
    /// traceback, oxray's own frames left out) and sets `fault`. Returns the exception id.
    /// `stack` is the X-Ray SDK's second argument (a stack it was given): accepted and not
    /// used, the frames come from the exception's own traceback.
    #[pyo3(signature = (exc, stack = None, remote = false, limit = 10))]
    fn add_exception(
        &self,
        py: Python<'_>,
        exc: &Bound<'_, PyAny>,
        stack: Option<&Bound<'_, PyAny>>,
        remote: bool,
        limit: usize,
    ) -> Option<String> {
        let _ = stack;
        if !self.entity.is_sampled() {
            return None;
        }
        let record = exception::from_python(exc, remote, limit);
        let wd = std::env::current_dir()
            .ok()
            .map(|p| p.to_string_lossy().into_owned());
        let id = self
            .entity
            .add_exception(record, wd.as_deref())
            .ok()
            .map(|id| id.to_string());
        diag::drain(py);
        id
    }

    /// Marks this entity as failed by an exception already recorded (by id) on a descendant.
    fn add_exception_ref(&self, py: Python<'_>, exception_id: &str) -> bool {
        if !self.entity.is_sampled() {
            return true;
        }
        let ok = match EntityId::parse(exception_id) {
            Ok(id) => self.entity.set_cause_exception_ref(id).is_ok(),
            Err(e) => {
                self.warn(
                    py,
                    &format!("exception id {exception_id:?} is invalid: {e}"),
                );
                false
            }
        };
        diag::drain(py);
        ok
    }

    /// Ends the entity (now, or at `end_time` epoch seconds). False if it was already ended.
    #[pyo3(signature = (end_time = None))]
    fn end(&self, py: Python<'_>, end_time: Option<f64>) -> bool {
        let ok = match micros_of(end_time) {
            Some(t) => self.entity.end_at(t),
            None => self.entity.end(),
        }
        .is_ok();
        diag::drain(py);
        ok
    }

    /// X-Ray SDK name for `end`.
    #[pyo3(signature = (end_time = None))]
    fn close(&self, py: Python<'_>, end_time: Option<f64>) -> bool {
        self.end(py, end_time)
    }

    /// X-Ray SDK compatibility: error/throttle/fault from an HTTP status, without recording
    /// `http.response`.
    fn apply_status_code(&self, py: Python<'_>, status: &Bound<'_, PyAny>) -> bool {
        let Ok(status) = status.extract::<u16>() else {
            self.warn(
                py,
                &format!(
                    "status code must be an int, not {}; ignored",
                    convert::type_name(status)
                ),
            );
            return false;
        };
        let ok = match status {
            429 => self
                .entity
                .set_throttle(true)
                .and(self.entity.set_error(true)),
            400..=499 => self.entity.set_error(true),
            500..=599 => self.entity.set_fault(true),
            _ => Ok(()),
        }
        .is_ok();
        diag::drain(py);
        ok
    }

    /// The `X-Amzn-Trace-Id` value for a downstream call made inside this entity.
    fn outgoing_header(&self) -> String {
        self.entity.outgoing_header().to_string()
    }

    /// Sends an in-progress document now (long-running work); the final one replaces it.
    fn send_in_progress(&self, py: Python<'_>) -> bool {
        let ok = self.entity.send_in_progress().is_ok();
        diag::drain(py);
        ok
    }
}
