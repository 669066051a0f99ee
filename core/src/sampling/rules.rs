//! Local sampling rule files, versions 1 and 2: parsing, validation and matching.
//!
//! ```json
//! { "version": 2,
//!   "rules": [ { "description": "Player moves.", "host": "*", "http_method": "*",
//!                "url_path": "/api/move/*", "fixed_target": 0, "rate": 0.05 } ],
//!   "default": { "fixed_target": 1, "rate": 0.1 } }
//! ```
//!
//! Version 1 names the host field `service_name` (its value is still matched against the
//! request's host, as every SDK does). `default` is required and has only `fixed_target`,
//! `rate` (and an optional `description`); every other rule needs `host` (v2) or
//! `service_name` (v1), `http_method`, `url_path` (non-empty patterns, see
//! [`crate::sampling::glob`]), `fixed_target` (an integer ≥ 0: traces per second) and `rate`
//! (0..1). `rules` may be omitted. Unknown fields are refused, so a misspelt key is reported
//! instead of silently ignored. Every error names the field and the reason, e.g.
//! `rules[2].rate: must be a number from 0 to 1`.

use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

use super::glob::Pattern;
use super::matcher::RuleMatcher;
use super::SamplingRequest;

/// The SDKs' built-in rules: the first request each second, then 5% of the others.
pub const SDK_DEFAULT_RULES: &str =
    r#"{"version":2,"default":{"fixed_target":1,"rate":0.05},"rules":[]}"#;

/// Why a rule file was refused: the field (e.g. `rules[2].rate`) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesError {
    pub field: String,
    pub reason: String,
}

impl RulesError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> RulesError {
        RulesError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for RulesError {}

/// A non-default rule.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalRule {
    pub description: Option<String>,
    /// `host` (v2) or `service_name` (v1): matched against the request host.
    pub host: String,
    pub http_method: String,
    pub url_path: String,
    /// Traces per second taken before `rate` applies.
    pub fixed_target: u64,
    pub rate: f64,
}

/// The rule used when no other rule matches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DefaultRule {
    pub fixed_target: u64,
    pub rate: f64,
}

/// A validated rule file, ready to match requests.
#[derive(Debug, Clone)]
pub struct LocalRules {
    version: u8,
    rules: Vec<LocalRule>,
    default: DefaultRule,
    matcher: RuleMatcher<3>,
}

/// Which rule a request falls under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalMatch {
    /// `rules[i]`.
    Rule(usize),
    Default,
}

impl LocalRules {
    /// The SDKs' default: 1 per second, then 5%.
    pub fn sdk_default() -> LocalRules {
        LocalRules::assemble(
            2,
            Vec::new(),
            DefaultRule {
                fixed_target: 1,
                rate: 0.05,
            },
        )
    }

    /// Reads rules from `source`: JSON text if it starts with `{` (after white space), else
    /// the path of a rule file.
    pub fn from_source(source: &str) -> Result<LocalRules, RulesError> {
        if source.trim_start().starts_with('{') {
            LocalRules::from_json(source)
        } else {
            LocalRules::from_file(Path::new(source))
        }
    }

    pub fn from_file(path: &Path) -> Result<LocalRules, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            RulesError::new(
                format!("sampling rules file {:?}", path.display().to_string()),
                format!("cannot be read ({e})"),
            )
        })?;
        LocalRules::from_json(&text)
    }

    pub fn from_json(text: &str) -> Result<LocalRules, RulesError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| RulesError::new("sampling rules", format!("not valid JSON ({e})")))?;
        LocalRules::from_value(&value)
    }

    pub fn from_value(value: &Value) -> Result<LocalRules, RulesError> {
        let root = value
            .as_object()
            .ok_or_else(|| RulesError::new("sampling rules", "must be a JSON object"))?;
        refuse_unknown(root, "", &["version", "rules", "default"])?;
        let version = match root.get("version") {
            None => return Err(RulesError::new("version", "is required (1 or 2)")),
            Some(v) => match v.as_u64() {
                Some(1) => 1,
                Some(2) => 2,
                _ => {
                    return Err(RulesError::new(
                        "version",
                        format!("must be 1 or 2, not {v}"),
                    ))
                }
            },
        };
        let default = match root.get("default") {
            None => return Err(RulesError::new("default", "is required")),
            Some(v) => parse_default(v)?,
        };
        let rules = match root.get("rules") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_rule(item, version, &format!("rules[{i}]")))
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(RulesError::new("rules", "must be an array")),
        };
        Ok(LocalRules::assemble(version, rules, default))
    }

    fn assemble(version: u8, rules: Vec<LocalRule>, default: DefaultRule) -> LocalRules {
        let matcher = RuleMatcher::new(
            rules
                .iter()
                .map(|r| {
                    [
                        Pattern::new(&r.host),
                        Pattern::new(&r.http_method),
                        Pattern::new(&r.url_path),
                    ]
                })
                .collect(),
        );
        LocalRules {
            version,
            rules,
            default,
            matcher,
        }
    }

    pub fn version(&self) -> u8 {
        self.version
    }

    pub fn rules(&self) -> &[LocalRule] {
        &self.rules
    }

    pub fn default_rule(&self) -> DefaultRule {
        self.default
    }

    /// The first rule, in file order, matching the request's host, method and path (an
    /// absent or empty attribute matches); else the default.
    pub fn matching(&self, request: &SamplingRequest<'_>) -> LocalMatch {
        match self
            .matcher
            .first_match([request.host, request.method, request.url_path])
        {
            Some(i) => LocalMatch::Rule(i),
            None => LocalMatch::Default,
        }
    }

    /// `fixed_target` and `rate` of a match.
    pub fn target_and_rate(&self, m: LocalMatch) -> (u64, f64) {
        match m {
            LocalMatch::Rule(i) => (self.rules[i].fixed_target, self.rules[i].rate),
            LocalMatch::Default => (self.default.fixed_target, self.default.rate),
        }
    }
}

fn refuse_unknown(obj: &Map<String, Value>, at: &str, known: &[&str]) -> Result<(), RulesError> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(RulesError::new(
            format!("{at}{k}"),
            format!("unknown field (expected one of: {})", known.join(", ")),
        )),
    }
}

fn parse_default(value: &Value) -> Result<DefaultRule, RulesError> {
    let obj = value
        .as_object()
        .ok_or_else(|| RulesError::new("default", "must be an object"))?;
    for key in ["host", "service_name", "http_method", "url_path"] {
        if obj.contains_key(key) {
            return Err(RulesError::new(
                format!("default.{key}"),
                "is not allowed: the default rule applies to every request",
            ));
        }
    }
    refuse_unknown(obj, "default.", &["fixed_target", "rate", "description"])?;
    optional_string(obj, "default", "description")?;
    Ok(DefaultRule {
        fixed_target: fixed_target(obj, "default")?,
        rate: rate(obj, "default")?,
    })
}

fn parse_rule(value: &Value, version: u8, at: &str) -> Result<LocalRule, RulesError> {
    let obj = value
        .as_object()
        .ok_or_else(|| RulesError::new(at, "must be an object"))?;
    let (host_key, other) = if version == 1 {
        ("service_name", "host")
    } else {
        ("host", "service_name")
    };
    if obj.contains_key(other) {
        return Err(RulesError::new(
            format!("{at}.{other}"),
            format!("is not a version {version} field (version {version} uses {host_key})"),
        ));
    }
    refuse_unknown(
        obj,
        &format!("{at}."),
        &[
            host_key,
            "http_method",
            "url_path",
            "fixed_target",
            "rate",
            "description",
        ],
    )?;
    Ok(LocalRule {
        description: optional_string(obj, at, "description")?,
        host: pattern(obj, at, host_key)?,
        http_method: pattern(obj, at, "http_method")?,
        url_path: pattern(obj, at, "url_path")?,
        fixed_target: fixed_target(obj, at)?,
        rate: rate(obj, at)?,
    })
}

fn pattern(obj: &Map<String, Value>, at: &str, key: &str) -> Result<String, RulesError> {
    let field = || format!("{at}.{key}");
    match obj.get(key) {
        None => Err(RulesError::new(
            field(),
            "is required (use \"*\" to match anything)",
        )),
        Some(Value::String(s)) if s.is_empty() => Err(RulesError::new(
            field(),
            "must not be empty (use \"*\" to match anything)",
        )),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(RulesError::new(field(), "must be a string")),
    }
}

fn optional_string(
    obj: &Map<String, Value>,
    at: &str,
    key: &str,
) -> Result<Option<String>, RulesError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(RulesError::new(format!("{at}.{key}"), "must be a string")),
    }
}

fn fixed_target(obj: &Map<String, Value>, at: &str) -> Result<u64, RulesError> {
    let field = format!("{at}.fixed_target");
    let value = obj
        .get("fixed_target")
        .ok_or_else(|| RulesError::new(&field, "is required (traces per second, e.g. 1)"))?;
    // 2.0 is accepted like 2; 2.5, -1 and "2" are not.
    let whole = value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f <= 9.0e15)
            .map(|f| f as u64)
    });
    whole.ok_or_else(|| RulesError::new(field, "must be an integer of 0 or more"))
}

fn rate(obj: &Map<String, Value>, at: &str) -> Result<f64, RulesError> {
    let field = format!("{at}.rate");
    let value = obj
        .get("rate")
        .ok_or_else(|| RulesError::new(&field, "is required (a number from 0 to 1)"))?;
    value
        .as_f64()
        .filter(|r| (0.0..=1.0).contains(r))
        .ok_or_else(|| RulesError::new(field, "must be a number from 0 to 1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        LocalRules::from_json(text).unwrap_err().to_string()
    }

    #[test]
    fn sdk_default_parses_to_the_built_in() {
        let parsed = LocalRules::from_json(SDK_DEFAULT_RULES).unwrap();
        let builtin = LocalRules::sdk_default();
        assert_eq!(parsed.default_rule(), builtin.default_rule());
        assert_eq!(parsed.rules(), builtin.rules());
    }

    #[test]
    fn errors_name_the_field() {
        let d = r#""default":{"fixed_target":1,"rate":0.1}"#;
        assert_eq!(err("[]"), "sampling rules: must be a JSON object");
        assert!(err("{").starts_with("sampling rules: not valid JSON"));
        assert!(err(&format!("{{{d}}}")).starts_with("version: is required"));
        assert!(err(&format!(r#"{{"version":3,{d}}}"#)).starts_with("version: must be 1 or 2"));
        assert!(err(r#"{"version":2}"#).starts_with("default: is required"));
        assert!(err(r#"{"version":2,"default":{"rate":0.1}}"#)
            .starts_with("default.fixed_target: is required"));
        assert!(
            err(r#"{"version":2,"default":{"fixed_target":1,"rate":2}}"#)
                .starts_with("default.rate: must be a number from 0 to 1")
        );
        assert!(
            err(r#"{"version":2,"default":{"fixed_target":1,"rate":0,"host":"*"}}"#)
                .starts_with("default.host: is not allowed")
        );
        let rule = |body: &str| {
            format!(
                r#"{{"version":2,{d},"rules":[{{"host":"*","http_method":"*","url_path":"*","fixed_target":1,"rate":0.5}},{{{body}}}]}}"#
            )
        };
        assert_eq!(
            err(&rule(
                r#""host":"*","http_method":"*","url_path":"*","fixed_target":1,"rate":-0.1"#
            )),
            "rules[1].rate: must be a number from 0 to 1"
        );
        assert_eq!(
            err(&rule(
                r#""host":"*","http_method":"*","url_path":"*","fixed_target":1.5,"rate":0"#
            )),
            "rules[1].fixed_target: must be an integer of 0 or more"
        );
        assert!(err(&rule(
            r#""http_method":"*","url_path":"*","fixed_target":1,"rate":0"#
        ))
        .starts_with("rules[1].host: is required"));
        assert!(err(&rule(
            r#""host":"","http_method":"*","url_path":"*","fixed_target":1,"rate":0"#
        ))
        .starts_with("rules[1].host: must not be empty"));
        assert!(err(&rule(r#""service_name":"a","host":"*","http_method":"*","url_path":"*","fixed_target":1,"rate":0"#))
            .starts_with("rules[1].service_name: is not a version 2 field"));
        assert!(err(&rule(
            r#""host":"*","http_method":"*","url_path":"*","fixed_target":1,"rate":0,"ratio":1"#
        ))
        .starts_with("rules[1].ratio: unknown field"));
        assert!(err(&rule(
            r#""host":7,"http_method":"*","url_path":"*","fixed_target":1,"rate":0"#
        ))
        .starts_with("rules[1].host: must be a string"));
        assert!(LocalRules::from_source("/nonexistent/rules.json")
            .unwrap_err()
            .to_string()
            .contains("cannot be read"));
    }

    #[test]
    fn version_1_matches_service_name_against_the_host() {
        let rules = LocalRules::from_json(
            r#"{"version":1,"default":{"fixed_target":0,"rate":0},
                "rules":[{"service_name":"*.example.com","http_method":"GET","url_path":"/a","fixed_target":2,"rate":0.5,"description":"x"}]}"#,
        )
        .unwrap();
        let req = SamplingRequest {
            host: Some("www.example.com"),
            method: Some("get"),
            url_path: Some("/a"),
            ..SamplingRequest::default()
        };
        assert_eq!(rules.matching(&req), LocalMatch::Rule(0));
        assert_eq!(rules.target_and_rate(LocalMatch::Rule(0)), (2, 0.5));
        let other = SamplingRequest {
            host: Some("example.org"),
            ..req
        };
        assert_eq!(rules.matching(&other), LocalMatch::Default);
    }
}
