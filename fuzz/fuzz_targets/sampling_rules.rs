//! Local sampling rule files (version 1 and 2): never panic; an accepted file has rates in
//! [0, 1]; the rule matcher (with its prefilters) picks exactly the first rule whose three
//! globs match, as a plain glob-by-glob check does; a rule's own pattern text, taken as a
//! request, matches that rule or an earlier one; and the sampler decides without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxray_core::sampling::glob::Pattern;
use oxray_core::sampling::{LocalMatch, LocalRules, LocalSampler, Sampler, SamplingRequest};

/// The first rule whose globs all match (an absent or empty attribute matches anything).
fn naive_first_match(rules: &LocalRules, request: [Option<&str>; 3]) -> LocalMatch {
    let attr_matches = |pattern: &str, attr: Option<&str>| {
        attr.is_none_or(|a| a.is_empty() || Pattern::new(pattern).matches(a))
    };
    rules
        .rules()
        .iter()
        .position(|r| {
            attr_matches(&r.host, request[0])
                && attr_matches(&r.http_method, request[1])
                && attr_matches(&r.url_path, request[2])
        })
        .map_or(LocalMatch::Default, LocalMatch::Rule)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let rules = match LocalRules::from_json(text) {
        Ok(r) => r,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(matches!(rules.version(), 1 | 2));
    let default = rules.default_rule();
    assert!((0.0..=1.0).contains(&default.rate), "{default:?}");
    for r in rules.rules() {
        assert!((0.0..=1.0).contains(&r.rate), "{r:?}");
    }
    // Requests: each rule's own texts, and each pair of rules' texts crossed (bounded).
    let texts: Vec<[&str; 3]> = rules
        .rules()
        .iter()
        .take(8)
        .map(|r| [r.host.as_str(), r.http_method.as_str(), r.url_path.as_str()])
        .collect();
    let sampler = LocalSampler::new(rules.clone());
    for (i, own) in texts.iter().enumerate() {
        let own_request = [Some(own[0]), Some(own[1]), Some(own[2])];
        match rules.matching(&request(own_request)) {
            LocalMatch::Rule(j) => assert!(j <= i, "rule {i}'s own text matched rule {j}"),
            LocalMatch::Default => panic!("rule {i}'s own text {own:?} matched no rule"),
        }
        for other in &texts {
            let crossed = [Some(own[0]), Some(other[1]), Some(other[2])];
            let got = rules.matching(&request(crossed));
            assert_eq!(got, naive_first_match(&rules, crossed), "{crossed:?}");
            let (_, rate) = rules.target_and_rate(got);
            assert!((0.0..=1.0).contains(&rate));
            let _ = sampler.should_sample(&request(crossed));
        }
    }
});

fn request(attrs: [Option<&str>; 3]) -> SamplingRequest<'_> {
    SamplingRequest {
        host: attrs[0],
        method: attrs[1],
        url_path: attrs[2],
        ..SamplingRequest::default()
    }
}
