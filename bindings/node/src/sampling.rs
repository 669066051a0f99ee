//! Sampling from JavaScript: local rules, centralized sampling, its status, and rule matching
//! without sampling (for users' tests of a rule file and for the shared test vectors).
//!
//! Like the rest of the addon nothing here throws: a refusal comes back as text (the field and
//! the reason, e.g. `rules[2].rate: must be a number from 0 to 1`), and the JavaScript layer
//! decides how to report it.

use napi_derive::napi;
use oxray_core::sampling::{probe, LocalRules, SamplingRequest};

use crate::state;

/// The request attributes sampling rules match on; absent ones match any pattern.
#[napi(object)]
#[derive(Default)]
pub struct SamplingRequestInput {
    /// The Host header's name (without the port).
    pub host: Option<String>,
    pub method: Option<String>,
    /// The URL path (no query).
    pub url_path: Option<String>,
    /// Centralized rules only; defaults to the segment name when sampling a new segment.
    pub service_name: Option<String>,
    /// Centralized rules only; defaults to the recorder's `origin`.
    pub service_type: Option<String>,
}

impl SamplingRequestInput {
    /// The core's borrowed view of these fields.
    pub fn as_core(&self) -> SamplingRequest<'_> {
        SamplingRequest {
            host: self.host.as_deref(),
            method: self.method.as_deref(),
            url_path: self.url_path.as_deref(),
            service_name: self.service_name.as_deref(),
            service_type: self.service_type.as_deref(),
        }
    }
}

/// What centralized sampling is doing (all zero / false while it is off).
#[napi(object)]
pub struct SamplingStatusOutput {
    pub centralized: bool,
    /// The background thread runs.
    pub polling: bool,
    /// Rules in the cache (including `Default`).
    pub rules_cached: u32,
    /// The service's rules are cached and fresh, so they decide (else the local rules do).
    pub using_service_rules: bool,
    pub rule_fetches: f64,
    pub target_fetches: f64,
    /// Failed calls to the daemon's proxy.
    pub errors: f64,
    pub last_error: Option<String>,
    /// The 24-hex id this process reports statistics under (empty while off).
    pub client_id: String,
}

/// The rule a request falls under, or why the rules were refused.
#[napi(object)]
pub struct RuleMatch {
    pub valid: bool,
    /// Local rules: the rule's `description` (`rules[i]` without one) or `default`;
    /// `GetSamplingRules` answers: the `RuleName`, or null when no usable rule matches.
    pub rule: Option<String>,
    /// `<field>: <reason>` when the rules are invalid.
    pub error: Option<String>,
}

/// The rules in the order they are tried, or why they were refused.
#[napi(object)]
pub struct RuleOrder {
    pub valid: bool,
    pub rules: Vec<String>,
    pub error: Option<String>,
}

const NOT_INITIALIZED: &str = "the recorder is not initialized";

/// Checks local rules (a rule file path or the JSON text) as the recorder would load them.
/// Returns null when they are valid, else `<field>: <reason>`.
#[napi]
pub fn check_sampling_rules(source: String) -> Option<String> {
    LocalRules::from_source(&source)
        .err()
        .map(|e| e.to_string())
}

/// Samples this thread's new traces by local rules (a rule file path or the JSON text).
/// Returns null on success, else `<field>: <reason>`; refused rules change nothing.
#[napi]
pub fn set_sampling_rules(source: String) -> Option<String> {
    match state::with(|s| s.recorder.clone()) {
        Some(recorder) => recorder
            .set_sampling_rules(&source)
            .err()
            .map(|e| e.to_string()),
        None => Some(NOT_INITIALIZED.to_string()),
    }
}

/// Turns on centralized sampling for this thread's recorder. Returns null on success, else
/// why it was refused (in Lambda, with tracing disabled, before `init`).
#[napi]
pub fn enable_centralized_sampling() -> Option<String> {
    match state::with(|s| s.recorder.clone()) {
        Some(recorder) => recorder
            .enable_centralized_sampling()
            .err()
            .map(|e| e.to_string()),
        None => Some(NOT_INITIALIZED.to_string()),
    }
}

/// What centralized sampling is doing in this thread's recorder.
#[napi]
pub fn sampling_status() -> SamplingStatusOutput {
    let status = state::with(|s| s.recorder.sampling_status()).unwrap_or_default();
    SamplingStatusOutput {
        centralized: status.centralized,
        polling: status.polling,
        rules_cached: u32::try_from(status.rules_cached).unwrap_or(u32::MAX),
        using_service_rules: status.using_service_rules,
        rule_fetches: status.rule_fetches as f64,
        target_fetches: status.target_fetches as f64,
        errors: status.errors as f64,
        last_error: status.last_error,
        client_id: status.client_id,
    }
}

/// The rule `request` falls under for rules given as JSON text (a local rule file or a
/// `GetSamplingRules` answer), without sampling anything.
#[napi]
pub fn sampling_rule_for(rules_json: String, request: Option<SamplingRequestInput>) -> RuleMatch {
    let request = request.unwrap_or_default();
    match probe::matched_rule(&rules_json, &request.as_core()) {
        Ok(rule) => RuleMatch {
            valid: true,
            rule,
            error: None,
        },
        Err(e) => RuleMatch {
            valid: false,
            rule: None,
            error: Some(e.to_string()),
        },
    }
}

/// The rules in the order they are tried, named as `samplingRuleFor` names them.
#[napi]
pub fn sampling_rule_order(rules_json: String) -> RuleOrder {
    match probe::rule_order(&rules_json) {
        Ok(rules) => RuleOrder {
            valid: true,
            rules,
            error: None,
        },
        Err(e) => RuleOrder {
            valid: false,
            rules: Vec::new(),
            error: Some(e.to_string()),
        },
    }
}
