//! Runs `tests/vectors/sampling_rules.json` through the core: the probe API, the local rule
//! parser and matcher, and a real [`CentralizedSampler`] fed the vector's rules by a stub proxy
//! (so the rule name in its decisions is checked too).

mod common;
mod sampling_stub;

use std::sync::Arc;

use oxray_core::sampling::{
    probe, CentralizedOptions, CentralizedSampler, FixedSampler, LocalMatch, LocalRules, Sampler,
    SamplingRequest,
};
use sampling_stub::{Answer, Stub};
use serde_json::Value;

fn request(v: &Value) -> SamplingRequest<'_> {
    let field = |k: &str| v.get(k).and_then(Value::as_str);
    SamplingRequest {
        host: field("host"),
        method: field("method"),
        url_path: field("url_path"),
        service_name: field("service_name"),
        service_type: field("service_type"),
    }
}

fn vectors() -> Value {
    common::read_vector("sampling_rules.json")
}

#[test]
fn local_rule_sets() {
    let sets = vectors()["local"].as_array().unwrap().clone();
    assert!(sets.len() >= 4);
    for set in &sets {
        let name = set["name"].as_str().unwrap();
        let text = set["rules"].to_string();
        let rules = LocalRules::from_json(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        for case in set["cases"].as_array().unwrap() {
            let req = request(&case["request"]);
            let expected = case["rule"].as_str().unwrap();
            let chosen = match rules.matching(&req) {
                LocalMatch::Default => "default".to_string(),
                LocalMatch::Rule(i) => rules.rules()[i].description.clone().unwrap(),
            };
            assert_eq!(chosen, expected, "{name}: {case}");
            let probed = probe::matched_rule(&text, &req).unwrap();
            assert_eq!(probed.as_deref(), Some(expected), "{name}: {case}");
        }
    }
}

#[test]
fn centralized_rule_sets_through_a_sampler() {
    let sets = vectors()["centralized"].as_array().unwrap().clone();
    assert!(sets.len() >= 2);
    for set in &sets {
        let name = set["name"].as_str().unwrap();
        let text = set["rules"].to_string();
        let usable: Vec<String> = set["usable"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(probe::rule_order(&text).unwrap(), usable, "{name}");

        let stub = Stub::start();
        stub.answer("/GetSamplingRules", Answer::Json(set["rules"].clone()));
        let sampler = CentralizedSampler::new(
            CentralizedOptions::new(stub.addr),
            Arc::new(FixedSampler::never()),
        );
        assert_eq!(sampler.refresh_rules().unwrap(), usable.len(), "{name}");
        for case in set["cases"].as_array().unwrap() {
            let req = request(&case["request"]);
            let expected = case["rule"].as_str();
            let decision = sampler.should_sample(&req);
            assert_eq!(decision.rule_name.as_deref(), expected, "{name}: {case}");
            assert_eq!(
                probe::matched_rule(&text, &req).unwrap().as_deref(),
                expected,
                "{name}: {case}"
            );
        }
    }
}

#[test]
fn invalid_local_rule_files_name_the_field() {
    let cases = vectors()["invalid_local"].as_array().unwrap().clone();
    assert!(cases.len() >= 10);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let field = case["field"].as_str().unwrap();
        let err = LocalRules::from_json(&case["rules"].to_string()).expect_err(name);
        assert_eq!(err.field, field, "{name}: {err}");
        assert!(
            err.to_string().starts_with(&format!("{field}: ")),
            "{name}: {err}"
        );
        assert!(!err.reason.is_empty());
        let probed = probe::matched_rule(&case["rules"].to_string(), &SamplingRequest::default());
        assert_eq!(probed.unwrap_err().field, field, "{name}");
    }
}
