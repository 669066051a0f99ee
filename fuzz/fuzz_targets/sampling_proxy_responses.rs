//! The sampling proxy's answers (`GetSamplingRules` and `SamplingTargets` JSON). The first
//! byte picks the answer type; the rest is the body. Neither parser panics; accepted rules
//! have rates in [0, 1] and build a manifest in which each kept rule's own texts, as a
//! request, match a rule (itself or one before it); targets apply to a rule's state, after which a
//! decision is still possible. The `NextToken` round trip: our request body carries it intact.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxray_core::sampling::centralized::manifest::Manifest;
use oxray_core::sampling::centralized::rule::RuleState;
use oxray_core::sampling::centralized::wire::{parse_rules_page, parse_targets, rules_request};
use oxray_core::sampling::{ManualClock, SamplingRequest};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    if kind % 2 == 0 {
        rules_answer(body);
    } else {
        targets_answer(body);
    }
});

fn rules_answer(body: &[u8]) {
    let Ok(page) = parse_rules_page(body) else {
        return;
    };
    if let Some(token) = &page.next_token {
        let request: Value = serde_json::from_slice(&rules_request(Some(token))).unwrap();
        assert_eq!(request["NextToken"].as_str(), Some(token.as_str()));
    }
    for rule in &page.rules {
        assert!((0.0..=1.0).contains(&rule.fixed_rate), "{rule:?}");
        assert!(!rule.name.is_empty() && !rule.service_type.is_empty());
    }
    let manifest = Manifest::build(page.rules.clone(), None, 0);
    // Building again over the first keeps the states of rules with the same name.
    let manifest = Manifest::build(page.rules.clone(), Some(&manifest), 1);
    // A repeated name keeps only its first definition: check the kept ones.
    for rule in manifest.all().take(16).map(|r| &r.definition) {
        let request = SamplingRequest {
            service_name: Some(&rule.service_name),
            service_type: Some(&rule.service_type),
            host: Some(&rule.host),
            method: Some(&rule.http_method),
            url_path: Some(&rule.url_path),
        };
        assert!(
            manifest.matching(&request).is_some(),
            "rule {:?}'s own texts matched nothing",
            rule.name
        );
    }
}

fn targets_answer(body: &[u8]) {
    let Ok(answer) = parse_targets(body) else {
        return;
    };
    let clock = ManualClock::at_secs(1_700_000_000, 7);
    let state = RuleState::new(0.5);
    for target in &answer.targets {
        assert!(!target.rule_name.is_empty());
        if let Some(rate) = target.fixed_rate {
            assert!((0.0..=1.0).contains(&rate), "{target:?}");
        }
        state.apply_target(
            target.fixed_rate,
            target.quota,
            target.quota_ttl_micros,
            target.interval_secs,
        );
        for now in [0, 1_700_000_000_000_000, u64::MAX] {
            let _ = state.decide(&clock, now, 1);
        }
        let _ = state.take_report(10);
    }
}
