//! Parsers exposed for middleware and for the shared test vectors: trace headers, daemon
//! addresses, the name / annotation-key sanitizers the core applies, and sampling rule
//! matching (which rule a request falls under, without sampling).

use oxray_core::header::HeaderError;
use oxray_core::sampling::{probe, LocalRules, SamplingRequest};
use oxray_core::{DaemonAddress, Sampled, TraceHeader};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

fn error_kind(e: &HeaderError) -> &'static str {
    match e {
        HeaderError::Empty => "empty",
        HeaderError::TooLong(_) => "too_long",
        HeaderError::MissingEquals(_) => "missing_equals",
        HeaderError::InvalidRoot(_) => "invalid_root",
        HeaderError::InvalidParent(_) => "invalid_parent",
        HeaderError::InvalidSampled(_) => "invalid_sampled",
        HeaderError::InvalidCharacter(_) => "invalid_character",
    }
}

/// Parses an `X-Amzn-Trace-Id` value into a dict (root, parent, sampled "1"/"0"/"?",
/// lineage, extras, formatted). Raises ValueError(kind, message) when it is malformed.
#[pyfunction]
pub fn parse_trace_header<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyDict>> {
    let h = TraceHeader::parse(text)
        .map_err(|e| PyValueError::new_err((error_kind(&e), e.to_string())))?;
    let d = PyDict::new(py);
    d.set_item("root", h.root.map(|r| r.to_string()))?;
    d.set_item("parent", h.parent.map(|p| p.to_string()))?;
    d.set_item(
        "sampled",
        h.sampled.map(|s| match s {
            Sampled::Yes => "1",
            Sampled::No => "0",
            Sampled::Requested => "?",
        }),
    )?;
    d.set_item("lineage", h.lineage.clone())?;
    d.set_item("extras", h.extras.clone())?;
    d.set_item("formatted", h.to_string())?;
    Ok(d)
}

/// Parses `AWS_XRAY_DAEMON_ADDRESS` syntax into (udp, tcp) "ip:port" strings, or raises
/// ValueError.
#[pyfunction]
pub fn parse_daemon_address(text: &str) -> PyResult<(String, String)> {
    let d = DaemonAddress::parse(text).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok((d.udp.to_string(), d.tcp.to_string()))
}

/// The name X-Ray will get for `name`.
#[pyfunction]
pub fn sanitize_name(name: &str) -> String {
    oxray_core::sanitize::entity_name(name).0.into_owned()
}

/// The annotation key X-Ray will get for `key`, or None if it is refused.
#[pyfunction]
pub fn sanitize_annotation_key(key: &str) -> Option<String> {
    oxray_core::sanitize::annotation_key(key).map(|(k, _)| k.into_owned())
}

/// The rule a request falls under, for rules given as JSON text: a local rule file (v1/v2:
/// the rule's `description`, `rules[i]` without one, or `default`) or a `GetSamplingRules`
/// answer (the `RuleName`, or None when no usable rule matches). Raises ValueError naming
/// the field when the rules are invalid.
#[pyfunction]
#[pyo3(signature = (rules_json, host = None, method = None, url_path = None, service_name = None, service_type = None))]
pub fn sampling_rule_for(
    rules_json: &str,
    host: Option<&str>,
    method: Option<&str>,
    url_path: Option<&str>,
    service_name: Option<&str>,
    service_type: Option<&str>,
) -> PyResult<Option<String>> {
    let request = SamplingRequest {
        host,
        method,
        url_path,
        service_name,
        service_type,
    };
    probe::matched_rule(rules_json, &request).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// The rules in the order they are tried, named as `sampling_rule_for` names them.
#[pyfunction]
pub fn sampling_rule_order(rules_json: &str) -> PyResult<Vec<String>> {
    probe::rule_order(rules_json).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Checks local rules (a rule file path or the JSON text) as the recorder would load them.
/// Raises ValueError naming the field and the reason.
#[pyfunction]
pub fn check_sampling_rules(source: &str) -> PyResult<()> {
    LocalRules::from_source(source)
        .map(|_| ())
        .map_err(|e| PyValueError::new_err(e.to_string()))
}
