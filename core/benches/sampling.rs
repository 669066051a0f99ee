//! Sampling benchmarks: one decision with 50 rules loaded (target ≤ 100 ns), for local rules
//! and for centralized rules (loaded from a stub proxy on 127.0.0.1), in the worst case (no
//! rule matches, the default decides after all 50 were tried), a mid-list match, and rules
//! whose patterns all start with a wildcard (so no prefix can rule them out).
//!
//! Each case is measured twice: in wall-clock time (criterion's default) and in the calling
//! thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), which does not count the time the thread was
//! preempted, so that a machine busy with other work still gives a usable figure.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use oxray_core::sampling::{
    CentralizedOptions, CentralizedSampler, LocalRules, LocalSampler, Sampler, SamplingRequest,
};
use serde_json::json;

const RULES: usize = 50;
const METHODS: [&str; 3] = ["GET", "POST", "*"];

fn local_rules(wildcard_start: bool) -> LocalRules {
    let rules: Vec<_> = (0..RULES)
        .map(|i| {
            let path = if wildcard_start {
                format!("*/service{i}/v1/*")
            } else {
                format!("/service{i}/v1/*")
            };
            json!({ "description": format!("rule {i}"), "host": if i % 3 == 0 { "*".to_string() } else { format!("api{i}.example.com") },
                    "http_method": METHODS[i % 3], "url_path": path,
                    "fixed_target": 1, "rate": 0.1 })
        })
        .collect();
    LocalRules::from_value(&json!({ "version": 2, "rules": rules,
                                     "default": { "fixed_target": 1, "rate": 0.05 } }))
    .unwrap()
}

/// 50 rules told apart only by the end of the host (`*.svcN.example.com`).
fn host_suffix_rules() -> LocalRules {
    let rules: Vec<_> = (0..RULES)
        .map(|i| {
            json!({ "description": format!("rule {i}"), "host": format!("*.svc{i}.example.com"),
                    "http_method": "*", "url_path": "*", "fixed_target": 1, "rate": 0.1 })
        })
        .collect();
    LocalRules::from_value(&json!({ "version": 2, "rules": rules,
                                     "default": { "fixed_target": 1, "rate": 0.05 } }))
    .unwrap()
}

fn request<'a>(path: &'a str) -> SamplingRequest<'a> {
    SamplingRequest {
        host: Some("www.example.com"),
        method: Some("GET"),
        url_path: Some(path),
        service_name: Some("checkout"),
        service_type: Some("AWS::EC2::Instance"),
    }
}

fn decide<M: Measurement + 'static>(
    c: &mut Criterion<M>,
    name: &str,
    sampler: &dyn Sampler,
    req: &SamplingRequest<'_>,
) {
    c.bench_function(name, |b| {
        b.iter(|| black_box(sampler.should_sample(black_box(req))))
    });
}

/// The calling thread's CPU time, in nanoseconds.
struct ThreadCpuTime;

fn thread_cpu_nanos() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_nanos()
    }

    fn end(&self, start: u64) -> u64 {
        thread_cpu_nanos().saturating_sub(start)
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuNanos
    }
}

struct CpuNanos;

impl ValueFormatter for CpuNanos {
    fn scale_values(&self, _typical: f64, _values: &mut [f64]) -> &'static str {
        "ns (CPU)"
    }

    fn scale_throughputs(
        &self,
        _typical: f64,
        _t: &Throughput,
        _values: &mut [f64],
    ) -> &'static str {
        "ns (CPU)"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// A proxy stub that answers every request with `body`.
fn stub_proxy(body: String) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 65536];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

fn centralized() -> CentralizedSampler {
    let mut records: Vec<_> = (0..RULES)
        .map(|i| {
            json!({ "SamplingRule": { "RuleName": format!("rule-{i}"), "ResourceARN": "*",
                "Priority": i + 1, "FixedRate": 0.1, "ReservoirSize": 1, "ServiceName": "*",
                "ServiceType": "*", "Host": if i % 3 == 0 { "*".to_string() } else { format!("api{i}.example.com") },
                "HTTPMethod": METHODS[i % 3], "URLPath": format!("/service{i}/v1/*"),
                "Version": 1, "Attributes": {} } })
        })
        .collect();
    records.push(
        json!({ "SamplingRule": { "RuleName": "Default", "ResourceARN": "*",
        "Priority": 10000, "FixedRate": 0.05, "ReservoirSize": 1, "ServiceName": "*",
        "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": "*", "Version": 1 } }),
    );
    let addr = stub_proxy(json!({ "SamplingRuleRecords": records }).to_string());
    let sampler = CentralizedSampler::new(
        CentralizedOptions::new(addr),
        Arc::new(LocalSampler::sdk_default()),
    );
    assert_eq!(sampler.refresh_rules().unwrap(), RULES + 1);
    sampler
}

fn sampling<M: Measurement + 'static>(c: &mut Criterion<M>, suffix: &str) {
    let n = |name: &str| format!("{name}{suffix}");
    let local = LocalSampler::new(local_rules(false));
    decide(
        c,
        &n("local, 50 rules, none matches"),
        &local,
        &request("/checkout/cart/42"),
    );
    decide(
        c,
        &n("local, 50 rules, rule 24 matches"),
        &local,
        &request("/service24/v1/x"),
    );
    let wild = LocalSampler::new(local_rules(true));
    decide(
        c,
        &n("local, 50 rules starting with *, none matches"),
        &wild,
        &request("/checkout/cart/42"),
    );
    decide(
        c,
        &n("local, 50 host-suffix rules (*.svcN.example.com), none matches"),
        &LocalSampler::new(host_suffix_rules()),
        &request("/checkout/cart/42"),
    );
    decide(
        c,
        &n("local, SDK default rules"),
        &LocalSampler::sdk_default(),
        &request("/x"),
    );
    let central = centralized();
    decide(
        c,
        &n("centralized, 50 rules + Default, Default decides"),
        &central,
        &request("/checkout/cart/42"),
    );
    decide(
        c,
        &n("centralized, 50 rules + Default, rule 24 matches"),
        &central,
        &request("/service24/v1/x"),
    );
}

fn wall_clock(c: &mut Criterion) {
    sampling(c, "");
}

fn cpu_time(c: &mut Criterion<ThreadCpuTime>) {
    sampling(c, " [CPU time]");
}

criterion_group! {
    name = wall;
    config = Criterion::default().warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = wall_clock
}
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpuTime)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = cpu_time
}
criterion_main!(wall, cpu);
