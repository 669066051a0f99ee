//! Centralized sampling's warnings, captured through the diagnostics sink (`diag::set_sink`):
//! a failed proxy call is logged, but only the first ten failures and then every thousandth,
//! and the expiry of the cached rules is logged once per expiry.
//!
//! The sink is process-wide, so this file is its own test binary, and each test reads only
//! the lines that name its own stub's address (or its own cache TTL).

mod sampling_stub;

use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use oxray_core::diag::{self, Level};
use oxray_core::sampling::{
    CentralizedOptions, CentralizedSampler, FixedSampler, ManualClock, Sampler, SamplingRequest,
};
use oxray_core::Counters;
use sampling_stub::{rule, rules, targets, Answer, Stub};

const T0: u64 = 1_700_000_000;

static LINES: Mutex<Vec<(Level, String)>> = Mutex::new(Vec::new());

fn capture() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        diag::set_sink(Some(Arc::new(|level, message: &str| {
            LINES
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((level, message.to_string()));
        })));
    });
}

/// The captured lines that contain `needle`.
fn lines_with(needle: &str) -> Vec<(Level, String)> {
    LINES
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, m)| m.contains(needle))
        .cloned()
        .collect()
}

fn sampler(stub: &Stub, cache_ttl: Duration) -> (CentralizedSampler, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at_secs(T0, 5));
    let sampler = CentralizedSampler::with_clock(
        CentralizedOptions {
            timeout: Duration::from_secs(10),
            cache_ttl,
            ..CentralizedOptions::new(stub.addr)
        },
        Arc::new(FixedSampler::never()),
        clock.clone(),
        Arc::new(Counters::default()),
    );
    (sampler, clock)
}

#[test]
fn failures_are_logged_ten_times_then_every_thousandth() {
    capture();
    let stub = Stub::start();
    stub.answer("/GetSamplingRules", Answer::Status(500, "boom".into()));
    let (sampler, _clock) = sampler(&stub, Duration::from_secs(3600));
    let address = stub.addr.to_string();
    // (failures so far, warnings expected by then)
    let checkpoints = [
        (1, 1),
        (10, 10),
        (11, 10),
        (999, 10),
        (1000, 11),
        (1001, 11),
        (1999, 11),
        (2000, 12),
    ];
    let mut failures = 0;
    for (upto, expected) in checkpoints {
        while failures < upto {
            assert!(sampler.refresh_rules().is_err());
            failures += 1;
        }
        assert_eq!(sampler.status().errors, failures);
        let logged = lines_with(&address);
        assert_eq!(logged.len(), expected, "after {failures} failures");
    }
    for (level, message) in lines_with(&address) {
        assert_eq!(level, Level::Warn);
        assert!(
            message.contains("GetSamplingRules")
                && message.contains("500")
                && message.contains("local rules decide"),
            "{message}"
        );
    }
}

#[test]
fn a_failed_target_report_is_logged_with_the_cached_rules_in_force() {
    capture();
    let stub = Stub::start();
    stub.answer(
        "/GetSamplingRules",
        Answer::Json(rules(vec![rule("r", 1, 0.0, 0, "*")])),
    );
    stub.answer("/SamplingTargets", Answer::Status(503, "busy".into()));
    let (sampler, _clock) = sampler(&stub, Duration::from_secs(3600));
    let address = stub.addr.to_string();
    sampler.refresh_rules().unwrap();
    assert!(lines_with(&address).is_empty(), "a success logs nothing");
    sampler.should_sample(&SamplingRequest::default());
    assert!(sampler.report_statistics().is_err());
    let logged = lines_with(&address);
    assert_eq!(logged.len(), 1, "{logged:?}");
    let (level, message) = &logged[0];
    assert_eq!(*level, Level::Warn);
    assert!(
        message.contains("SamplingTargets")
            && message.contains("503")
            && message.contains("the cached service rules stay in force"),
        "{message}"
    );
    stub.answer("/SamplingTargets", Answer::Json(targets(&[], 0.0)));
    sampler.should_sample(&SamplingRequest::default());
    sampler.report_statistics().unwrap();
    assert_eq!(lines_with(&address).len(), 1);
}

#[test]
fn expired_rules_are_logged_once_per_expiry() {
    capture();
    let stub = Stub::start();
    stub.answer(
        "/GetSamplingRules",
        Answer::Json(rules(vec![rule("r", 1, 1.0, 0, "*")])),
    );
    // A TTL no other test uses, to find this test's lines.
    let ttl = Duration::from_secs(4321);
    let (sampler, clock) = sampler(&stub, ttl);
    let expiry = "were not refreshed for 4321 s";
    let decide = || sampler.should_sample(&SamplingRequest::default());

    // Before the first fetch the fallback decides, and nothing has expired.
    for _ in 0..10 {
        assert!(!decide().sampled);
    }
    sampler.refresh_rules().unwrap();
    clock.advance(ttl - Duration::from_secs(1));
    assert!(decide().sampled, "still fresh");
    assert!(lines_with(expiry).is_empty());

    clock.advance(Duration::from_secs(2));
    for _ in 0..100 {
        assert!(!decide().sampled, "expired: the fallback decides");
    }
    let logged = lines_with(expiry);
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0].0, Level::Warn);

    // A successful fetch re-arms the warning for the next expiry.
    sampler.refresh_rules().unwrap();
    assert!(decide().sampled);
    clock.advance(ttl + Duration::from_secs(1));
    for _ in 0..100 {
        decide();
    }
    assert_eq!(lines_with(expiry).len(), 2);
}
