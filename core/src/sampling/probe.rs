//! Which rule a request falls under, without deciding anything or touching any state: for the
//! shared test vectors (`tests/vectors/sampling_rules.json`) in every language, and for tools.
//!
//! The rules are JSON text of either kind: a local rule file (v1/v2), or a `GetSamplingRules`
//! answer (an object with `SamplingRuleRecords`), read as the centralized sampler reads it.

use serde_json::Value;

use super::centralized::manifest::Manifest;
use super::centralized::wire;
use super::rules::{LocalMatch, LocalRules, RulesError};
use super::SamplingRequest;

enum RuleSet {
    Local(Box<LocalRules>),
    Centralized(Box<Manifest>),
}

fn read(rules_json: &str) -> Result<RuleSet, RulesError> {
    let value: Value = serde_json::from_str(rules_json).map_err(|e| RulesError {
        field: "sampling rules".into(),
        reason: format!("not valid JSON ({e})"),
    })?;
    if value.get("SamplingRuleRecords").is_none() {
        return LocalRules::from_value(&value).map(|r| RuleSet::Local(Box::new(r)));
    }
    let page = wire::parse_rules_page(rules_json.as_bytes()).map_err(|reason| RulesError {
        field: "SamplingRuleRecords".into(),
        reason,
    })?;
    Ok(RuleSet::Centralized(Box::new(Manifest::build(
        page.rules, None, 0,
    ))))
}

fn local_name(rules: &LocalRules, m: LocalMatch) -> String {
    match m {
        LocalMatch::Default => "default".into(),
        LocalMatch::Rule(i) => rules.rules()[i]
            .description
            .clone()
            .unwrap_or_else(|| format!("rules[{i}]")),
    }
}

/// The rule `request` falls under: for a local rule file, the rule's `description` (or
/// `rules[i]` without one) or `default`; for a `GetSamplingRules` answer, the `RuleName`, or
/// None when no usable rule (not even `Default`) matches, in which case the local rules decide.
pub fn matched_rule(
    rules_json: &str,
    request: &SamplingRequest<'_>,
) -> Result<Option<String>, RulesError> {
    Ok(match read(rules_json)? {
        RuleSet::Local(rules) => Some(local_name(&rules, rules.matching(request))),
        RuleSet::Centralized(m) => m.matching(request).map(|r| r.name.to_string()),
    })
}

/// The rules in the order they are tried, named as [`matched_rule`] names them (the local
/// `default`, and the centralized `Default`, last). Centralized rules the SDKs would not use
/// are left out.
pub fn rule_order(rules_json: &str) -> Result<Vec<String>, RulesError> {
    Ok(match read(rules_json)? {
        RuleSet::Local(rules) => (0..rules.rules().len())
            .map(|i| local_name(&rules, LocalMatch::Rule(i)))
            .chain(std::iter::once("default".to_string()))
            .collect(),
        RuleSet::Centralized(m) => m.all().map(|r| r.name.to_string()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_kinds() {
        let local = r#"{"version":2,"default":{"fixed_target":1,"rate":0.05},
            "rules":[{"host":"*","http_method":"GET","url_path":"*","fixed_target":1,"rate":0}]}"#;
        let get = SamplingRequest {
            method: Some("GET"),
            ..SamplingRequest::default()
        };
        let put = SamplingRequest {
            method: Some("PUT"),
            ..SamplingRequest::default()
        };
        assert_eq!(
            matched_rule(local, &get).unwrap().as_deref(),
            Some("rules[0]")
        );
        assert_eq!(
            matched_rule(local, &put).unwrap().as_deref(),
            Some("default")
        );
        assert_eq!(rule_order(local).unwrap(), ["rules[0]", "default"]);
        let central = r#"{"SamplingRuleRecords":[{"SamplingRule":{"RuleName":"r","ResourceARN":"*",
            "Priority":1,"FixedRate":0,"ReservoirSize":0,"ServiceName":"*","ServiceType":"*",
            "Host":"*","HTTPMethod":"GET","URLPath":"*","Version":1}}]}"#;
        assert_eq!(matched_rule(central, &get).unwrap().as_deref(), Some("r"));
        assert_eq!(matched_rule(central, &put).unwrap(), None);
        assert_eq!(rule_order(central).unwrap(), ["r"]);
        let bad = matched_rule(r#"{"SamplingRuleRecords":3}"#, &get).unwrap_err();
        assert_eq!(bad.field, "SamplingRuleRecords");
        assert_eq!(matched_rule("{", &get).unwrap_err().field, "sampling rules");
    }
}
