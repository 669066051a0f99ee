//! `oxray._core`: the native module under the `oxray` Python package.
//!
//! Thin glue over oxray-core: [`recorder::PyRecorder`] wraps a `Recorder`,
//! [`entity::PyEntity`] an `Entity`, [`site::Site`] holds what a decorator needs per call
//! (name, metadata keys, namespace) so the hot path converts no strings; [`server::Exchange`]
//! is one HTTP request traced by the WSGI/ASGI middleware. Metadata values are
//! converted to JSON here ([`convert`]); exceptions are read here ([`exception`]); core
//! diagnostics are queued and logged through Python's `logging` by [`diag`].
//!
//! Nothing in this module raises into user code on bad *tracing* input: every problem is
//! logged (logger `oxray`), counted, and answered with `False`/`None`.

mod call;
mod cli;
mod convert;
mod diag;
mod entity;
mod exception;
mod recorder;
mod server;
mod site;
mod vectors;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    diag::install();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<entity::PyEntity>()?;
    m.add_class::<recorder::PyRecorder>()?;
    m.add_class::<site::Site>()?;
    m.add_class::<server::Exchange>()?;
    m.add_class::<server::Body>()?;
    m.add_class::<server::Hooks>()?;
    m.add_class::<server::State>()?;
    m.add_class::<server::WsgiMiddleware>()?;
    m.add_function(wrap_pyfunction!(call::install_call_hooks, m)?)?;
    m.add_function(wrap_pyfunction!(cli::cli_main, m)?)?;
    m.add_function(wrap_pyfunction!(diag::drain_logs, m)?)?;
    m.add_function(wrap_pyfunction!(diag::set_debug, m)?)?;
    m.add_function(wrap_pyfunction!(exception::set_internal_paths, m)?)?;
    m.add_function(wrap_pyfunction!(convert::to_json, m)?)?;
    m.add_function(wrap_pyfunction!(vectors::parse_trace_header, m)?)?;
    m.add_function(wrap_pyfunction!(vectors::parse_daemon_address, m)?)?;
    m.add_function(wrap_pyfunction!(vectors::sanitize_name, m)?)?;
    m.add_function(wrap_pyfunction!(vectors::sanitize_annotation_key, m)?)?;
    m.add_function(wrap_pyfunction!(vectors::sampling_rule_for, m)?)?;
    m.add_function(wrap_pyfunction!(vectors::sampling_rule_order, m)?)?;
    m.add_function(wrap_pyfunction!(vectors::check_sampling_rules, m)?)?;
    Ok(())
}
