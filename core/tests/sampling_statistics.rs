//! Statistical tests of sampling decisions with an injected clock and seeded randomness
//! ([`ManualClock`]): per-second reservoir exactness (also across threads), rates within
//! binomial bounds, borrowing, quotas and their expiry, and the expiry of the rule cache.
//!
//! Rate bounds: n decisions at rate p give a Binomial(n, p) count with mean np and standard
//! deviation σ = √(np(1−p)); each assertion allows ±5σ (a false failure has probability
//! below 10⁻⁶ for a fresh seed; with the fixed seeds here the runs are deterministic).

mod sampling_stub;

use std::sync::Arc;
use std::time::Duration;

use oxray_core::sampling::{
    CentralizedOptions, CentralizedSampler, FixedSampler, LocalRules, LocalSampler, ManualClock,
    Sampler, SamplingRequest,
};
use oxray_core::Counters;
use sampling_stub::{rule, rules, targets, Answer, Stub};
use serde_json::Value;

const T0: u64 = 1_700_000_000;

fn path(p: &str) -> SamplingRequest<'_> {
    SamplingRequest {
        url_path: Some(p),
        ..SamplingRequest::default()
    }
}

fn local(json: &str, clock: &Arc<ManualClock>) -> LocalSampler {
    LocalSampler::with_clock(LocalRules::from_json(json).unwrap(), clock.clone())
}

/// Asserts `count` is within ±5σ of Binomial(n, p)'s mean.
fn assert_binomial(count: usize, n: usize, p: f64, what: &str) {
    let mean = n as f64 * p;
    let sigma = (n as f64 * p * (1.0 - p)).sqrt();
    let (lo, hi) = (mean - 5.0 * sigma, mean + 5.0 * sigma);
    assert!(
        (lo..=hi).contains(&(count as f64)),
        "{what}: {count} not within {lo:.0}..={hi:.0} (n={n}, p={p})"
    );
}

#[test]
fn local_reservoirs_take_exactly_fixed_target_each_second() {
    let clock = Arc::new(ManualClock::at_secs(T0, 1));
    let sampler = local(
        r#"{"version":2,"default":{"fixed_target":2,"rate":0},
            "rules":[{"host":"*","http_method":"*","url_path":"/r/*","fixed_target":5,"rate":0}]}"#,
        &clock,
    );
    for second in 0..20 {
        let (mut rule, mut default) = (0, 0);
        // 200 requests spread over the second, 5 ms apart.
        for _ in 0..100 {
            rule += usize::from(sampler.should_sample(&path("/r/x")).sampled);
            default += usize::from(sampler.should_sample(&path("/other")).sampled);
            clock.advance(Duration::from_millis(10));
        }
        assert_eq!((rule, default), (5, 2), "second {second}");
    }
}

#[test]
fn local_reservoir_is_exact_across_threads() {
    let clock = Arc::new(ManualClock::at_secs(T0, 2));
    let sampler = Arc::new(local(
        r#"{"version":2,"default":{"fixed_target":1000,"rate":0},"rules":[]}"#,
        &clock,
    ));
    for _ in 0..3 {
        let total: usize = (0..8)
            .map(|_| {
                let s = Arc::clone(&sampler);
                std::thread::spawn(move || {
                    (0..2000)
                        .filter(|_| s.should_sample(&SamplingRequest::default()).sampled)
                        .count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(total, 1000, "8 threads x 2000 requests in one second");
        clock.advance(Duration::from_secs(1));
    }
}

#[test]
fn local_rates_stay_within_binomial_bounds() {
    for (seed, rate) in [(3, 0.05), (4, 0.1), (5, 0.5), (6, 0.99)] {
        let clock = Arc::new(ManualClock::at_secs(T0, seed));
        let sampler = local(
            &format!(r#"{{"version":2,"default":{{"fixed_target":0,"rate":{rate}}}}}"#),
            &clock,
        );
        let n = 100_000;
        let count = (0..n)
            .filter(|_| sampler.should_sample(&SamplingRequest::default()).sampled)
            .count();
        assert_binomial(count, n, rate, &format!("rate {rate}"));
    }
    for (rate, expected) in [(0.0, 0), (1.0, 1000)] {
        let clock = Arc::new(ManualClock::at_secs(T0, 7));
        let sampler = local(
            &format!(r#"{{"version":2,"default":{{"fixed_target":0,"rate":{rate}}}}}"#),
            &clock,
        );
        let count = (0..1000)
            .filter(|_| sampler.should_sample(&SamplingRequest::default()).sampled)
            .count();
        assert_eq!(count, expected, "rate {rate}");
    }
}

#[test]
fn the_sdk_default_takes_one_per_second_then_five_percent() {
    let clock = Arc::new(ManualClock::at_secs(T0, 8));
    let sampler = LocalSampler::with_clock(LocalRules::sdk_default(), clock.clone());
    let (seconds, per_second) = (200, 500);
    let mut first_of_second = 0;
    let mut count = 0;
    for _ in 0..seconds {
        for i in 0..per_second {
            let sampled = sampler.should_sample(&SamplingRequest::default()).sampled;
            if i == 0 {
                first_of_second += usize::from(sampled);
            } else {
                count += usize::from(sampled);
            }
            clock.advance(Duration::from_micros(1_000_000 / per_second as u64));
        }
    }
    assert_eq!(
        first_of_second, seconds,
        "the first request of every second"
    );
    assert_binomial(count, seconds * (per_second - 1), 0.05, "the others at 5%");
}

// ---- centralized: rules from a stub proxy, decisions by the injected clock ----

struct Central {
    stub: Stub,
    clock: Arc<ManualClock>,
    sampler: CentralizedSampler,
}

fn central(records: Vec<Value>, seed: u64) -> Central {
    let stub = Stub::start();
    stub.answer("/GetSamplingRules", Answer::Json(rules(records)));
    let clock = Arc::new(ManualClock::at_secs(T0, seed));
    let sampler = CentralizedSampler::with_clock(
        CentralizedOptions::new(stub.addr),
        Arc::new(FixedSampler::always()),
        clock.clone(),
        Arc::new(Counters::default()),
    );
    sampler.refresh_rules().unwrap();
    Central {
        stub,
        clock,
        sampler,
    }
}

impl Central {
    /// Sampled decisions among `n` requests for `p`, in the current second.
    fn sampled(&self, p: &str, n: usize) -> usize {
        (0..n)
            .filter(|_| self.sampler.should_sample(&path(p)).sampled)
            .count()
    }

    fn next_second(&self) {
        self.clock.advance(Duration::from_secs(1));
    }

    /// Reports statistics, answering with `answer`, and returns the statistics documents sent.
    fn report(&self, answer: Value) -> Vec<Value> {
        self.stub.answer("/SamplingTargets", Answer::Json(answer));
        let before = self.stub.received_on("/SamplingTargets").len();
        self.sampler.report_statistics().unwrap();
        let sent = self.stub.received_on("/SamplingTargets");
        sent[before..]
            .iter()
            .flat_map(|r| {
                r.body["SamplingStatisticsDocuments"]
                    .as_array()
                    .unwrap()
                    .clone()
            })
            .collect()
    }
}

fn doc<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["RuleName"] == name)
        .unwrap_or_else(|| panic!("no statistics for {name}: {docs:?}"))
}

#[test]
fn without_a_quota_a_rule_borrows_one_per_second() {
    let c = central(
        vec![
            rule("borrow", 1, 0.0, 3, "/b/*"),
            rule("no-reservoir", 2, 0.0, 0, "/n/*"),
        ],
        11,
    );
    let (mut borrowed, mut none) = (0, 0);
    for _ in 0..10 {
        borrowed += c.sampled("/b/x", 50);
        none += c.sampled("/n/x", 50);
        c.next_second();
    }
    assert_eq!(
        borrowed, 10,
        "one per second, not ReservoirSize (3) per second"
    );
    assert_eq!(none, 0, "ReservoirSize 0: no borrowing, FixedRate 0");
    let docs = c.report(targets(&[], 0.0));
    let b = doc(&docs, "borrow");
    assert_eq!(
        (&b["RequestCount"], &b["SampledCount"], &b["BorrowCount"]),
        (&500.into(), &10.into(), &10.into()),
        "borrowed requests count as sampled too"
    );
    let n = doc(&docs, "no-reservoir");
    assert_eq!(
        (&n["RequestCount"], &n["SampledCount"]),
        (&500.into(), &0.into())
    );
}

#[test]
fn a_quota_is_taken_per_second_until_its_ttl_then_borrowing_resumes() {
    let c = central(
        vec![rule("q", 1, 0.0, 1, "/q/*"), rule("q0", 2, 0.0, 0, "/z/*")],
        12,
    );
    // Targets come back only for rules with requests to report.
    c.sampled("/q/x", 1);
    c.sampled("/z/x", 1);
    let ttl = (T0 + 5) as f64;
    c.report(targets(
        &[
            ("q", 0.0, Some(4), Some(ttl), None),
            ("q0", 0.0, Some(2), Some(ttl), None),
        ],
        0.0,
    ));
    c.next_second();
    // Seconds T0+1 ..= T0+5 are within the TTL (now ≤ TTL): exactly the quota each second.
    for s in 1..=5 {
        assert_eq!(c.sampled("/q/x", 40), 4, "second {s}");
        assert_eq!(c.sampled("/z/x", 40), 2, "second {s}");
        c.next_second();
    }
    // Expired: back to borrowing one per second where ReservoirSize > 0, nothing otherwise.
    for s in 6..10 {
        assert_eq!(c.sampled("/q/x", 40), 1, "second {s}");
        assert_eq!(c.sampled("/z/x", 40), 0, "second {s}");
        c.next_second();
    }
    // A new quota replaces the old one.
    let now = c.clock.now_secs_f64();
    c.report(targets(&[("q", 0.0, Some(7), Some(now + 60.0), None)], 0.0));
    assert_eq!(c.sampled("/q/x", 40), 7);
    c.next_second();
    // A target without a quota keeps the current one; a rate change applies.
    c.report(targets(&[("q", 1.0, None, None, None)], 0.0));
    assert_eq!(
        c.sampled("/q/x", 40),
        40,
        "7 by quota, the rest by FixedRate 1"
    );
}

#[test]
fn a_target_rate_stays_within_binomial_bounds() {
    let c = central(vec![rule("r", 1, 0.0, 0, "*")], 13);
    c.sampled("/any", 1);
    c.report(targets(
        &[("r", 0.25, Some(0), Some((T0 + 3600) as f64), None)],
        0.0,
    ));
    let n = 100_000;
    assert_binomial(c.sampled("/any", n), n, 0.25, "FixedRate 0.25");
}

#[test]
fn statistics_follow_the_reporting_interval() {
    let c = central(vec![rule("slow", 1, 0.0, 0, "*")], 14);
    c.sampled("/x", 3);
    // Default interval (10 s): reported at every poll.
    assert_eq!(
        doc(
            &c.report(targets(&[("slow", 0.0, None, None, Some(30))], 0.0)),
            "slow"
        )["RequestCount"],
        3
    );
    // Interval 30 s: every third poll.
    c.sampled("/x", 2);
    assert!(c.report(targets(&[], 0.0)).is_empty());
    assert!(c.report(targets(&[], 0.0)).is_empty());
    assert_eq!(doc(&c.report(targets(&[], 0.0)), "slow")["RequestCount"], 2);
    // Nothing to report without requests: no call at all.
    let calls = c.stub.received_on("/SamplingTargets").len();
    for _ in 0..4 {
        c.sampler.report_statistics().unwrap();
    }
    assert_eq!(c.stub.received_on("/SamplingTargets").len(), calls);
}

#[test]
fn the_rule_cache_expires_after_an_hour_and_the_fallback_decides() {
    let c = central(vec![rule("never", 1, 0.0, 0, "*")], 15);
    c.clock.advance(Duration::from_secs(3599));
    let d = c.sampler.should_sample(&path("/x"));
    assert_eq!((d.sampled, d.rule_name.as_deref()), (false, Some("never")));
    assert!(c.sampler.status().using_service_rules);
    c.clock.advance(Duration::from_secs(1));
    let d = c.sampler.should_sample(&path("/x"));
    assert_eq!(
        (d.sampled, d.rule_name.as_deref()),
        (true, None),
        "the fallback (sample everything here) decides"
    );
    assert!(!c.sampler.status().using_service_rules);
    c.sampler.refresh_rules().unwrap();
    let d = c.sampler.should_sample(&path("/x"));
    assert_eq!(d.rule_name.as_deref(), Some("never"));
}

trait SecsF64 {
    fn now_secs_f64(&self) -> f64;
}

impl SecsF64 for ManualClock {
    fn now_secs_f64(&self) -> f64 {
        use oxray_core::sampling::Clock;
        self.now_micros() as f64 / 1e6
    }
}
