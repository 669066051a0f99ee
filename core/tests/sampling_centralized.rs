//! Centralized sampling against a stub of the daemon's sampling proxy on 127.0.0.1 (exact
//! request and answer shapes): the happy path through the poller thread and a recorder,
//! statistics batches and pages, and every failure — 500s, malformed answers, a proxy that
//! hangs, a proxy that is down at start — which must change nothing but a counted error.
//!
//! Waits are bounded loops guarding against a hang (generous deadlines); no assertion depends
//! on how long anything took.

mod common;
mod sampling_stub;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxray_core::config::{Config, DaemonAddress, EmitMode};
use oxray_core::sampling::{
    CentralizedOptions, CentralizedSampler, FixedSampler, ManualClock, Sampler, SamplingRequest,
    SamplingStatus,
};
use oxray_core::{Counters, Recorder, TraceHeader};
use sampling_stub::{rule, rules, targets, Answer, Stub};
use serde_json::{json, Value};

const T0: u64 = 1_700_000_000;

fn path(p: &str) -> SamplingRequest<'_> {
    SamplingRequest {
        url_path: Some(p),
        ..SamplingRequest::default()
    }
}

/// Waits (bounded) until `check` holds.
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Options for tests driven by the poller thread: fast target polls and retries.
fn fast(stub_addr: std::net::SocketAddr) -> CentralizedOptions {
    CentralizedOptions {
        rule_interval: Duration::from_secs(3600),
        rule_jitter: Duration::ZERO,
        rule_retry: Duration::from_millis(20),
        target_interval: Duration::from_millis(20),
        target_jitter: Duration::ZERO,
        timeout: Duration::from_secs(10),
        ..CentralizedOptions::new(stub_addr)
    }
}

/// A sampler on a manual clock, driven by explicit polls, with its counters.
fn manual(
    stub: &Stub,
    fallback: Arc<dyn Sampler>,
) -> (CentralizedSampler, Arc<ManualClock>, Arc<Counters>) {
    let clock = Arc::new(ManualClock::at_secs(T0, 21));
    let counters = Arc::new(Counters::default());
    let sampler = CentralizedSampler::with_clock(
        CentralizedOptions {
            timeout: Duration::from_secs(10),
            ..CentralizedOptions::new(stub.addr)
        },
        fallback,
        clock.clone(),
        counters.clone(),
    );
    (sampler, clock, counters)
}

fn status(s: &CentralizedSampler) -> SamplingStatus {
    s.status()
}

#[test]
fn requests_and_statistics_have_the_exact_shapes() {
    let stub = Stub::start();
    stub.answer(
        "/GetSamplingRules",
        Answer::Json(rules(vec![
            rule("orders", 10, 0.0, 1, "/orders/*"),
            rule("unused", 20, 0.0, 1, "/unused/*"),
            rule("Default", 10000, 0.0, 0, "*"),
        ])),
    );
    stub.answer("/SamplingTargets", Answer::Json(targets(&[], 0.0)));
    let (sampler, _clock, _) = manual(&stub, Arc::new(FixedSampler::never()));
    assert_eq!(sampler.refresh_rules().unwrap(), 3);

    let get = &stub.received_on("/GetSamplingRules")[0];
    assert_eq!(get.method, "POST");
    assert_eq!(get.headers["content-type"], "application/json");
    assert_eq!(get.body, json!({}));

    let first = sampler.should_sample(&path("/orders/1"));
    assert!(first.sampled, "borrowed: no quota known yet");
    assert_eq!(first.rule_name.as_deref(), Some("orders"));
    let second = sampler.should_sample(&path("/orders/2"));
    assert!(!second.sampled);
    let other = sampler.should_sample(&path("/cart"));
    assert_eq!(
        (other.sampled, other.rule_name.as_deref()),
        (false, Some("Default"))
    );

    sampler.report_statistics().unwrap();
    let post = &stub.received_on("/SamplingTargets")[0];
    assert_eq!(post.method, "POST");
    assert_eq!(post.headers["content-type"], "application/json");
    let client_id = status(&sampler).client_id;
    assert_eq!(client_id.len(), 24);
    assert!(client_id
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    let mut docs = post.body["SamplingStatisticsDocuments"]
        .as_array()
        .unwrap()
        .clone();
    docs.sort_by_key(|d| d["RuleName"].as_str().unwrap().to_string());
    assert_eq!(
        Value::Array(docs),
        json!([
            {"RuleName": "Default", "ClientID": client_id, "RequestCount": 1, "SampledCount": 0,
             "BorrowCount": 0, "Timestamp": T0},
            {"RuleName": "orders", "ClientID": client_id, "RequestCount": 2, "SampledCount": 1,
             "BorrowCount": 1, "Timestamp": T0}
        ]),
        "only rules with requests; borrowed counted in SampledCount too"
    );
    assert_eq!(post.body.as_object().unwrap().len(), 1);
    // The same client id for the life of the process.
    sampler.should_sample(&path("/orders/3"));
    sampler.report_statistics().unwrap();
    let again = &stub.received_on("/SamplingTargets")[1];
    assert_eq!(
        again.body["SamplingStatisticsDocuments"][0]["ClientID"],
        client_id
    );
}

#[test]
fn the_poller_thread_fetches_rules_at_once_and_reports_statistics() {
    let stub = Stub::start();
    stub.answer(
        "/GetSamplingRules",
        Answer::Json(rules(vec![rule("all", 1, 1.0, 0, "*")])),
    );
    stub.answer("/SamplingTargets", Answer::Json(targets(&[], 0.0)));
    let sampler = CentralizedSampler::new(fast(stub.addr), Arc::new(FixedSampler::never()));
    assert!(
        !sampler.should_sample(&path("/x")).sampled,
        "the fallback until rules arrive"
    );
    sampler.start();
    sampler.start(); // a second start changes nothing
    wait_for("rules fetched", || status(&sampler).rule_fetches >= 1);
    let s = status(&sampler);
    assert!(s.centralized && s.polling && s.using_service_rules, "{s:?}");
    assert_eq!(s.rules_cached, 1);
    for _ in 0..5 {
        let d = sampler.should_sample(&path("/x"));
        assert_eq!((d.sampled, d.rule_name.as_deref()), (true, Some("all")));
    }
    // The poller may report between decisions: the counts add up over its reports.
    let requests_reported = |received: &[sampling_stub::Received]| -> u64 {
        received
            .iter()
            .filter(|r| r.path == "/SamplingTargets")
            .flat_map(|r| {
                r.body["SamplingStatisticsDocuments"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .inspect(|d| assert_eq!(d["RuleName"], "all"))
            .map(|d| d["RequestCount"].as_u64().unwrap())
            .sum()
    };
    stub.wait_until("statistics for 5 requests", |r| requests_reported(r) == 5);
    assert_eq!(
        stub.received_on("/GetSamplingRules").len(),
        1,
        "one thread, one fetch"
    );
    assert_eq!(status(&sampler).errors, 0);
}

#[test]
fn a_newer_rule_modification_makes_the_poller_fetch_rules_again() {
    let stub = Stub::start();
    stub.answer(
        "/GetSamplingRules",
        Answer::Json(rules(vec![rule("all", 1, 1.0, 0, "*")])),
    );
    // Modified long after our fetch (the answer is in epoch seconds).
    let future = (oxray_core::time::now_secs() + 100_000) as f64;
    stub.answer("/SamplingTargets", Answer::Json(targets(&[], future)));
    let sampler = CentralizedSampler::new(fast(stub.addr), Arc::new(FixedSampler::never()));
    sampler.start();
    wait_for("rules fetched", || status(&sampler).rule_fetches >= 1);
    sampler.should_sample(&path("/x"));
    // The rule interval is an hour: only LastRuleModification can cause a second fetch.
    stub.wait_until("a second rule fetch", |r| {
        r.iter().filter(|r| r.path == "/GetSamplingRules").count() >= 2
    });
}

#[test]
fn a_recorder_records_the_rule_name_and_honours_upstream_decisions() {
    let stub = Stub::start();
    stub.answer(
        "/GetSamplingRules",
        Answer::Json(rules(vec![
            rule("orders", 1, 1.0, 0, "/orders/*"),
            rule("Default", 10000, 0.0, 0, "*"),
        ])),
    );
    stub.answer("/SamplingTargets", Answer::Json(targets(&[], 0.0)));
    let recorder = Recorder::new(Config {
        emit_mode: EmitMode::Memory,
        daemon: DaemonAddress {
            udp: "127.0.0.1:9".parse().unwrap(),
            tcp: stub.addr,
        },
        centralized_sampling: true,
        ..Config::default()
    });
    wait_for("rules fetched", || {
        recorder.sampling_status().rule_fetches >= 1
    });
    let seg = recorder.begin_segment(Some("shop"), None, &path("/orders/7"));
    assert!(seg.is_sampled());
    seg.end().unwrap();
    let unsampled = recorder.begin_segment(Some("shop"), None, &path("/cart"));
    assert!(
        !unsampled.is_sampled(),
        "Default: FixedRate 0, no reservoir"
    );
    unsampled.end().unwrap();
    // An upstream decision wins over the rules, both ways.
    let yes = TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1").unwrap();
    let forced = recorder.begin_segment(Some("shop"), Some(&yes), &path("/cart"));
    assert!(forced.is_sampled());
    forced.end().unwrap();
    let no = TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0").unwrap();
    assert!(!recorder
        .begin_segment(Some("shop"), Some(&no), &path("/orders/1"))
        .is_sampled());

    let docs: Vec<Value> = recorder
        .take_documents()
        .iter()
        .map(|d| common::validate_document(d))
        .collect();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["aws"]["xray"]["sampling_rule_name"], "orders");
    assert!(docs[1]["aws"]["xray"].get("sampling_rule_name").is_none());
    assert_eq!(recorder.counters().sampling_errors, 0);

    // set_sampler turns centralized sampling off.
    recorder.set_sampler(Arc::new(FixedSampler::always()));
    assert!(!recorder.sampling_status().centralized);
}

#[test]
fn enabling_on_a_running_recorder_keeps_its_sampler_as_the_fallback() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let recorder = Recorder::new(Config {
        emit_mode: EmitMode::Memory,
        daemon: DaemonAddress {
            udp: port,
            tcp: port,
        },
        ..Config::default()
    });
    recorder
        .set_sampling_rules(r#"{"version":2,"default":{"fixed_target":0,"rate":0}}"#)
        .unwrap();
    recorder.enable_centralized_sampling().unwrap();
    recorder.enable_centralized_sampling().unwrap();
    wait_for("a counted error: nobody listens", || {
        recorder.counters().sampling_errors >= 1
    });
    assert!(!recorder
        .begin_segment(Some("s"), None, &path("/x"))
        .is_sampled());
    // New local rules become the fallback; a malformed file changes nothing.
    recorder
        .set_sampling_rules(r#"{"version":2,"default":{"fixed_target":0,"rate":1}}"#)
        .unwrap();
    let err = recorder
        .set_sampling_rules(r#"{"version":2,"default":{"fixed_target":0,"rate":"all"}}"#)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "default.rate: must be a number from 0 to 1"
    );
    assert!(recorder
        .begin_segment(Some("s"), None, &path("/x"))
        .is_sampled());
    let s = recorder.sampling_status();
    assert!(
        s.centralized && !s.using_service_rules && s.errors >= 1,
        "{s:?}"
    );
    assert!(s.last_error.unwrap().contains("local rules decide"));

    let lambda = Recorder::new(Config {
        emit_mode: EmitMode::Memory,
        lambda: true,
        centralized_sampling: true,
        ..Config::default()
    });
    assert!(!lambda.sampling_status().centralized, "never in Lambda");
    assert!(lambda.enable_centralized_sampling().is_err());
}

#[test]
fn a_proxy_answering_500_changes_nothing_but_counted_errors() {
    let stub = Stub::start();
    stub.answer(
        "/GetSamplingRules",
        Answer::Status(500, "{\"message\":\"boom\"}".into()),
    );
    let (sampler, _clock, counters) = manual(&stub, Arc::new(FixedSampler::never()));
    let err = sampler.refresh_rules().unwrap_err();
    assert!(err.contains("500"), "{err}");
    let s = status(&sampler);
    assert_eq!((s.errors, s.rule_fetches, s.rules_cached), (1, 0, 0));
    assert!(s.last_error.unwrap().contains("GetSamplingRules"));
    assert_eq!(counters.snapshot().sampling_errors, 1);
    let d = sampler.should_sample(&path("/x"));
    assert_eq!(
        (d.sampled, d.rule_name),
        (false, None),
        "the fallback decides"
    );

    // Rules arrive; then targets fail: the counts are kept for the next report.
    stub.answer(
        "/GetSamplingRules",
        Answer::Json(rules(vec![rule("r", 1, 0.0, 0, "*")])),
    );
    sampler.refresh_rules().unwrap();
    stub.answer("/SamplingTargets", Answer::Status(503, "busy".into()));
    for _ in 0..3 {
        sampler.should_sample(&path("/x"));
    }
    assert!(sampler.report_statistics().unwrap_err().contains("503"));
    assert_eq!(counters.snapshot().sampling_errors, 2);
    stub.answer("/SamplingTargets", Answer::Json(targets(&[], 0.0)));
    sampler.should_sample(&path("/x"));
    sampler.report_statistics().unwrap();
    let last = stub.received_on("/SamplingTargets").pop().unwrap();
    assert_eq!(
        last.body["SamplingStatisticsDocuments"][0]["RequestCount"],
        4
    );
}

#[test]
fn malformed_answers_are_counted_and_the_cached_rules_stay() {
    let stub = Stub::start();
    stub.answer(
        "/GetSamplingRules",
        Answer::Json(rules(vec![rule("kept", 1, 1.0, 0, "*")])),
    );
    let (sampler, _clock, counters) = manual(&stub, Arc::new(FixedSampler::never()));
    sampler.refresh_rules().unwrap();
    let bad_rules = [
        Answer::Raw("not json".into()),
        Answer::Raw(String::new()),
        Answer::Raw("{\"SamplingRuleRecords\":[".into()),
        Answer::Json(json!([1, 2])),
        Answer::Json(json!({"SamplingRuleRecords": 5})),
        Answer::Json(json!({"Other": []})),
    ];
    for (i, answer) in bad_rules.into_iter().enumerate() {
        stub.answer("/GetSamplingRules", answer);
        assert!(sampler.refresh_rules().is_err());
        assert_eq!(status(&sampler).errors, i as u64 + 1);
        let d = sampler.should_sample(&path("/x"));
        assert_eq!(
            d.rule_name.as_deref(),
            Some("kept"),
            "the cached rules stay"
        );
    }
    for answer in [
        Answer::Raw("<html>".into()),
        Answer::Json(json!({"SamplingTargetDocuments": "x"})),
    ] {
        stub.answer("/SamplingTargets", answer);
        sampler.should_sample(&path("/x"));
        assert!(sampler.report_statistics().is_err());
    }
    assert_eq!(counters.snapshot().sampling_errors, 8);
    // A target document that cannot be read is skipped; the others apply.
    stub.answer(
        "/SamplingTargets",
        Answer::Json(json!({"SamplingTargetDocuments": [
            {"RuleName": "kept", "FixedRate": "high"}, {"FixedRate": 0.5},
            {"RuleName": "unknown-rule", "FixedRate": 0.5}]})),
    );
    sampler.report_statistics().unwrap();
    assert!(
        sampler.should_sample(&path("/x")).sampled,
        "FixedRate 1 kept"
    );
    assert_eq!(counters.snapshot().sampling_errors, 8);
}

#[test]
fn a_hanging_proxy_never_delays_a_decision() {
    let stub = Stub::start();
    stub.answer("/GetSamplingRules", Answer::Hang);
    let sampler = CentralizedSampler::new(
        CentralizedOptions {
            timeout: Duration::from_secs(600),
            ..fast(stub.addr)
        },
        Arc::new(FixedSampler::always()),
    );
    sampler.start();
    stub.wait_hanging();
    // The poller thread is blocked reading; decisions go on meanwhile.
    let sampled = (0..10_000)
        .filter(|_| sampler.should_sample(&path("/x")).sampled)
        .count();
    assert_eq!(sampled, 10_000);
    assert_eq!(stub.hanging(), 1, "still blocked while we decided");
    assert_eq!(status(&sampler).errors, 0);
    // The proxy gives up: the poller gets an error, counts it and carries on.
    stub.release();
    wait_for("the error is counted", || status(&sampler).errors >= 1);
}

#[test]
fn a_call_that_exceeds_the_timeout_is_an_error() {
    let stub = Stub::start();
    stub.answer("/GetSamplingRules", Answer::Hang);
    let counters = Arc::new(Counters::default());
    let sampler = CentralizedSampler::with_clock(
        CentralizedOptions {
            timeout: Duration::from_millis(200),
            ..CentralizedOptions::new(stub.addr)
        },
        Arc::new(FixedSampler::never()),
        Arc::new(ManualClock::at_secs(T0, 1)),
        counters.clone(),
    );
    let err = sampler.refresh_rules().unwrap_err();
    assert!(err.contains("timeout"), "{err}");
    assert_eq!(counters.snapshot().sampling_errors, 1);
}

#[test]
fn a_proxy_down_at_start_is_retried_until_it_answers() {
    // Bind then drop: nobody listens on this port for now.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let sampler = CentralizedSampler::new(fast(port), Arc::new(FixedSampler::never()));
    sampler.start();
    wait_for("two refused attempts", || status(&sampler).errors >= 2);
    let d = sampler.should_sample(&path("/x"));
    assert_eq!((d.sampled, d.rule_name), (false, None));
    let Ok(listener) = TcpListener::bind(port) else {
        // Another process took the port meanwhile: nothing more to check here.
        return;
    };
    let stub = Stub::on(listener);
    stub.answer(
        "/GetSamplingRules",
        Answer::Json(rules(vec![rule("up", 1, 1.0, 0, "*")])),
    );
    stub.answer("/SamplingTargets", Answer::Json(targets(&[], 0.0)));
    wait_for("rules after the proxy came up", || {
        status(&sampler).rule_fetches >= 1
    });
    let d = sampler.should_sample(&path("/x"));
    assert_eq!((d.sampled, d.rule_name.as_deref()), (true, Some("up")));
}

#[test]
fn statistics_go_in_batches_of_25_and_rules_follow_next_token() {
    let stub = Stub::start();
    let all: Vec<Value> = (0..30)
        .map(|i| rule(&format!("r{i:02}"), i, 0.0, 0, &format!("/r{i:02}")))
        .collect();
    let mut first = rules(all[..20].to_vec());
    first["NextToken"] = json!("page-2");
    let mut pages = HashMap::new();
    pages.insert(String::new(), first);
    pages.insert("page-2".to_string(), rules(all[20..].to_vec()));
    stub.answer("/GetSamplingRules", Answer::ByToken(pages));
    stub.answer("/SamplingTargets", Answer::Json(targets(&[], 0.0)));
    let (sampler, _clock, _) = manual(&stub, Arc::new(FixedSampler::never()));
    assert_eq!(sampler.refresh_rules().unwrap(), 30);
    let calls = stub.received_on("/GetSamplingRules");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].body, json!({"NextToken": "page-2"}));
    for i in 0..30 {
        let p = format!("/r{i:02}");
        assert_eq!(
            sampler.should_sample(&path(&p)).rule_name.as_deref(),
            Some(format!("r{i:02}").as_str())
        );
    }
    sampler.report_statistics().unwrap();
    let posts = stub.received_on("/SamplingTargets");
    let sizes: Vec<usize> = posts
        .iter()
        .map(|p| {
            p.body["SamplingStatisticsDocuments"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(sizes, [25, 5]);
    let mut names: Vec<String> = posts
        .iter()
        .flat_map(|p| {
            p.body["SamplingStatisticsDocuments"]
                .as_array()
                .unwrap()
                .clone()
        })
        .map(|d| d["RuleName"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        (0..30).map(|i| format!("r{i:02}")).collect::<Vec<_>>()
    );
}

/// What a forked child does (without forking the test process: the parent's thread lives on
/// here, which a real child would not have): a fresh client id, a restarted poller, and
/// statistics reported under the new id.
#[test]
fn after_fork_child_restarts_polling_under_a_new_client_id() {
    let stub = Stub::start();
    stub.answer(
        "/GetSamplingRules",
        Answer::Json(rules(vec![rule("all", 1, 1.0, 0, "*")])),
    );
    stub.answer("/SamplingTargets", Answer::Json(targets(&[], 0.0)));
    let sampler = CentralizedSampler::new(fast(stub.addr), Arc::new(FixedSampler::never()));
    sampler.start();
    wait_for("rules fetched", || status(&sampler).rule_fetches >= 1);
    let parent_id = status(&sampler).client_id;
    sampler.after_fork_child();
    let child = status(&sampler);
    assert_ne!(child.client_id, parent_id);
    assert!(child.polling && child.using_service_rules, "{child:?}");
    assert!(sampler.should_sample(&path("/x")).sampled);
    let child_id = child.client_id.clone();
    stub.wait_until("a report under the child's id", |r| {
        r.iter().any(|r| {
            r.path == "/SamplingTargets"
                && r.body["SamplingStatisticsDocuments"][0]["ClientID"] == child_id.as_str()
        })
    });
}

/// Decisions propagate: `Sampled=?` asks the rules, and the outgoing and response headers carry
/// the decision.
#[test]
fn decisions_propagate_in_headers() {
    let recorder = Recorder::in_memory();
    recorder
        .set_sampling_rules(
            r#"{"version":2,"default":{"fixed_target":0,"rate":0},
                "rules":[{"host":"*","http_method":"*","url_path":"/yes/*","fixed_target":0,"rate":1}]}"#,
        )
        .unwrap();
    let asking = TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?").unwrap();
    for (p, decision) in [("/yes/1", "1"), ("/no/1", "0")] {
        let seg = recorder.begin_segment(Some("svc"), Some(&asking), &path(p));
        assert_eq!(seg.is_sampled(), decision == "1");
        let outgoing = seg.outgoing_header().to_string();
        assert!(
            outgoing.ends_with(&format!(";Sampled={decision}")),
            "{outgoing}"
        );
        assert_eq!(
            TraceHeader::response(Some(&asking), seg.trace_id(), seg.is_sampled()),
            format!("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled={decision}")
        );
        seg.end().unwrap();
    }
    let docs = recorder.take_documents();
    assert_eq!(docs.len(), 1);
    common::validate_document(&docs[0]);
}
