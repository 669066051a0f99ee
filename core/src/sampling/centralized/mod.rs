//! Centralized sampling: rules and quotas from the X-Ray service, through the daemon's TCP
//! proxy (the `tcp` part of `AWS_XRAY_DAEMON_ADDRESS`), with local rules as the fallback.
//!
//! - [`poller`]: one background thread calls `POST /GetSamplingRules` at once and then every
//!   5 minutes (+ up to 5 s jitter), and `POST /SamplingTargets` every 10 s (+ up to 0.1 s),
//!   reporting each used rule's statistics and reading its quota. A `LastRuleModification`
//!   newer than the cached rules triggers a rule fetch at once. A failed rule fetch is
//!   retried after 10 s (rather than 5 minutes) while it keeps failing.
//! - [`manifest`]: the cached rules, in priority order then name, `Default` last; they
//!   expire one hour after the last successful fetch, and then (as before the first fetch)
//!   the fallback sampler decides.
//! - [`rule`]: per-rule quota, borrowing and statistics, lock-free.
//! - [`wire`] and [`http`]: the JSON and a minimal HTTP/1.1 client with timeouts.
//!
//! A request never waits on the network: deciding reads the cache and atomics only. A proxy
//! that is down, slow, or answers errors or garbage changes nothing but a logged and counted
//! error ([`SamplingStatus::errors`], and `sampling_errors` in the recorder's counters).

pub mod http;
pub mod manifest;
pub mod poller;
pub mod rule;
pub mod wire;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use self::manifest::Manifest;
use self::poller::{Polled, Poller, Schedule};
use self::rule::{Outcome, DEFAULT_INTERVAL_SECS};
use self::wire::StatisticsDocument;
use super::clock::{Clock, SystemClock};
use super::{Sampler, SamplingDecision, SamplingRequest};
use crate::diag::{self, Level};
use crate::emit::{worth_logging, Counters};

/// Most statistics documents per `SamplingTargets` call (the API's limit).
const MAX_DOCUMENTS_PER_CALL: usize = 25;
/// Most `GetSamplingRules` pages followed (`NextToken`).
const MAX_RULE_PAGES: usize = 10;

/// Where the proxy is and how often to call it. [`CentralizedOptions::new`] gives the SDKs'
/// periods; tests shorten them.
#[derive(Debug, Clone)]
pub struct CentralizedOptions {
    /// The daemon's TCP address.
    pub proxy: SocketAddr,
    pub rule_interval: Duration,
    pub rule_jitter: Duration,
    /// Delay before trying again after a failed rule fetch.
    pub rule_retry: Duration,
    pub target_interval: Duration,
    pub target_jitter: Duration,
    /// Bound on each HTTP call (connect + write + read).
    pub timeout: Duration,
    /// Rules older than this are not used (the fallback decides).
    pub cache_ttl: Duration,
}

impl CentralizedOptions {
    pub fn new(proxy: SocketAddr) -> CentralizedOptions {
        CentralizedOptions {
            proxy,
            rule_interval: Duration::from_secs(300),
            rule_jitter: Duration::from_secs(5),
            rule_retry: Duration::from_secs(10),
            target_interval: Duration::from_secs(10),
            target_jitter: Duration::from_millis(100),
            timeout: Duration::from_secs(5),
            cache_ttl: Duration::from_secs(3600),
        }
    }
}

/// What centralized sampling is doing, for diagnostics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SamplingStatus {
    /// Centralized sampling is on for this recorder.
    pub centralized: bool,
    /// The background thread runs.
    pub polling: bool,
    /// Rules in the cache (including `Default`).
    pub rules_cached: usize,
    /// Usable rules are cached and fresh, so they decide (else the local fallback does).
    pub using_service_rules: bool,
    /// Successful `GetSamplingRules` fetches (all pages of one refresh count once).
    pub rule_fetches: u64,
    /// Successful `SamplingTargets` calls.
    pub target_fetches: u64,
    /// Failed calls: connection refused, timeout, non-2xx status, unreadable answer.
    pub errors: u64,
    pub last_error: Option<String>,
    /// The 24-hex id this process reports statistics under.
    pub client_id: String,
}

/// Samples by the service's rules when they are known and fresh, else by the fallback.
pub struct CentralizedSampler {
    inner: Arc<Inner>,
}

struct Inner {
    /// Tells samplers apart in the per-thread manifest cache.
    id: u64,
    /// Bumped after every manifest swap (see [`ThreadCache`]).
    generation: AtomicU64,
    options: CentralizedOptions,
    clock: Arc<dyn Clock>,
    counters: Arc<Counters>,
    manifest: RwLock<Option<Arc<Manifest>>>,
    fallback: RwLock<Arc<dyn Sampler>>,
    rule_fetches: AtomicU64,
    target_fetches: AtomicU64,
    errors: AtomicU64,
    last_error: Mutex<Option<String>>,
    expiry_logged: AtomicBool,
    client_id: Mutex<String>,
    started: AtomicBool,
    poller: Poller,
}

/// Each thread keeps the manifest it last used: deciding then costs one atomic load to check
/// the generation instead of a lock and reference-count traffic on shared cache lines.
struct ThreadCache {
    sampler: u64,
    generation: u64,
    manifest: Option<Arc<Manifest>>,
}

thread_local! {
    static THREAD_CACHE: std::cell::RefCell<Option<ThreadCache>> =
        const { std::cell::RefCell::new(None) };
}

static NEXT_SAMPLER_ID: AtomicU64 = AtomicU64::new(1);

fn new_client_id() -> String {
    let mut rng = ChaCha8Rng::from_os_rng();
    let mut bytes = [0u8; 12];
    rng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl CentralizedSampler {
    /// A sampler for the proxy in `options`, falling back to `fallback`. Nothing is fetched
    /// until [`CentralizedSampler::start`] (or a manual poll).
    pub fn new(options: CentralizedOptions, fallback: Arc<dyn Sampler>) -> CentralizedSampler {
        CentralizedSampler::with_clock(
            options,
            fallback,
            Arc::new(SystemClock),
            Arc::new(Counters::default()),
        )
    }

    /// As [`CentralizedSampler::new`], with time and randomness from `clock` and errors also
    /// counted in `counters.sampling_errors`.
    pub fn with_clock(
        options: CentralizedOptions,
        fallback: Arc<dyn Sampler>,
        clock: Arc<dyn Clock>,
        counters: Arc<Counters>,
    ) -> CentralizedSampler {
        CentralizedSampler {
            inner: Arc::new(Inner {
                id: NEXT_SAMPLER_ID.fetch_add(1, Ordering::Relaxed),
                generation: AtomicU64::new(0),
                options,
                clock,
                counters,
                manifest: RwLock::new(None),
                fallback: RwLock::new(fallback),
                rule_fetches: AtomicU64::new(0),
                target_fetches: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                last_error: Mutex::new(None),
                expiry_logged: AtomicBool::new(false),
                client_id: Mutex::new(new_client_id()),
                started: AtomicBool::new(false),
                poller: Poller::default(),
            }),
        }
    }

    /// Starts the background thread (once). A failure to start is logged and counted; the
    /// fallback keeps deciding.
    pub fn start(&self) {
        self.inner.started.store(true, Ordering::SeqCst);
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let weak: Weak<dyn Polled> = weak;
        if let Err(e) = self.inner.poller.start(weak) {
            self.inner.record_error("starting", e);
        }
    }

    /// Replaces the sampler used while no fresh service rules are known.
    pub fn set_fallback(&self, fallback: Arc<dyn Sampler>) {
        *self
            .inner
            .fallback
            .write()
            .unwrap_or_else(|e| e.into_inner()) = fallback;
    }

    /// Fetches the rules once, on the calling thread (the poller does this on its own).
    /// Returns the number of usable rules cached.
    pub fn refresh_rules(&self) -> Result<usize, String> {
        self.inner.refresh_rules()
    }

    /// Reports statistics and applies targets once, on the calling thread (the poller does
    /// this on its own). Returns true when the service's rules changed after the cached ones.
    pub fn report_statistics(&self) -> Result<bool, String> {
        self.inner.report_statistics()
    }

    pub fn status(&self) -> SamplingStatus {
        let i = &self.inner;
        let manifest = i.current_manifest();
        SamplingStatus {
            centralized: true,
            polling: i.poller.is_running(),
            rules_cached: manifest.as_ref().map_or(0, |m| m.len()),
            using_service_rules: manifest
                .as_ref()
                .is_some_and(|m| !m.is_empty() && m.is_fresh(i.clock.now_micros(), i.ttl_micros())),
            rule_fetches: i.rule_fetches.load(Ordering::Relaxed),
            target_fetches: i.target_fetches.load(Ordering::Relaxed),
            errors: i.errors.load(Ordering::Relaxed),
            last_error: i
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            client_id: i
                .client_id
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

impl Sampler for CentralizedSampler {
    fn should_sample(&self, request: &SamplingRequest<'_>) -> SamplingDecision {
        let i = &self.inner;
        let now = i.clock.now_micros();
        let mut expired = false;
        let decided = i.with_manifest(|manifest| {
            let manifest = manifest?;
            if !manifest.is_fresh(now, i.ttl_micros()) {
                expired = true;
                return None;
            }
            let rule = manifest.matching(request)?;
            let outcome = rule
                .state
                .decide(i.clock.as_ref(), now, rule.definition.reservoir_size);
            Some(SamplingDecision {
                sampled: outcome != Outcome::NotSampled,
                rule_name: Some(Arc::clone(&rule.name)),
            })
        });
        if let Some(decision) = decided {
            return decision;
        }
        if expired && !i.expiry_logged.swap(true, Ordering::Relaxed) {
            diag::warn(&format!(
                "centralized sampling rules were not refreshed for {} s; local rules decide until the daemon proxy answers again",
                i.options.cache_ttl.as_secs()
            ));
        }
        let fallback = Arc::clone(&i.fallback.read().unwrap_or_else(|e| e.into_inner()));
        fallback.should_sample(request)
    }

    fn after_fork_child(&self) {
        let i = &self.inner;
        i.poller.forget_after_fork();
        *i.client_id.lock().unwrap_or_else(|e| e.into_inner()) = new_client_id();
        if let Some(m) = i.current_manifest() {
            m.all().for_each(|r| r.state.reset_after_fork());
        }
        i.fallback
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .after_fork_child();
        if i.started.load(Ordering::SeqCst) {
            self.start();
        }
    }
}

impl Inner {
    fn ttl_micros(&self) -> u64 {
        self.options.cache_ttl.as_micros() as u64
    }

    /// Runs `f` on the current manifest, from this thread's cache when still current.
    #[inline]
    fn with_manifest<R>(&self, mut f: impl FnMut(Option<&Manifest>) -> R) -> R {
        let generation = self.generation.load(Ordering::Acquire);
        let cached = THREAD_CACHE.try_with(|cell| {
            // Busy only if `f` somehow re-entered sampling on this thread: go uncached then.
            let mut slot = cell.try_borrow_mut().ok()?;
            let current =
                matches!(&*slot, Some(c) if c.sampler == self.id && c.generation == generation);
            if !current {
                *slot = Some(ThreadCache {
                    sampler: self.id,
                    generation,
                    manifest: self.current_manifest(),
                });
            }
            Some(f(slot.as_ref().and_then(|c| c.manifest.as_deref())))
        });
        match cached {
            Ok(Some(answer)) => answer,
            // The thread is being torn down, or the cache is busy.
            _ => f(self.current_manifest().as_deref()),
        }
    }

    fn current_manifest(&self) -> Option<Arc<Manifest>> {
        self.manifest
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn post(&self, path: &str, body: &[u8]) -> Result<Vec<u8>, String> {
        http::post_json(self.options.proxy, path, body, self.options.timeout)
            .map_err(|e| e.to_string())
    }

    fn record_error(&self, call: &str, error: String) {
        let n = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        Counters::bump(&self.counters.sampling_errors);
        let fresh = self
            .current_manifest()
            .is_some_and(|m| m.is_fresh(self.clock.now_micros(), self.ttl_micros()));
        let message = format!(
            "centralized sampling: {call} through the daemon proxy {} failed: {error}; {}",
            self.options.proxy,
            if fresh {
                "the cached service rules stay in force"
            } else {
                "local rules decide"
            }
        );
        if worth_logging(n) {
            diag::warn(&message);
        }
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
    }

    fn refresh_rules(&self) -> Result<usize, String> {
        let mut definitions = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_RULE_PAGES {
            let page = self
                .post("/GetSamplingRules", &wire::rules_request(token.as_deref()))
                .and_then(|body| wire::parse_rules_page(&body))
                .inspect_err(|e| self.record_error("GetSamplingRules", e.clone()))?;
            for why in &page.skipped {
                diag::report(Level::Debug, &format!("sampling rule not used: {why}"));
            }
            definitions.extend(page.rules);
            match page.next_token {
                Some(next) if token.as_ref() != Some(&next) => token = Some(next),
                _ => break,
            }
        }
        let previous = self.current_manifest();
        let manifest = Manifest::build(definitions, previous.as_deref(), self.clock.now_micros());
        let count = manifest.len();
        *self.manifest.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(manifest));
        self.generation.fetch_add(1, Ordering::Release);
        self.expiry_logged.store(false, Ordering::Relaxed);
        self.rule_fetches.fetch_add(1, Ordering::Relaxed);
        Ok(count)
    }

    fn report_statistics(&self) -> Result<bool, String> {
        let Some(manifest) = self.current_manifest() else {
            return Ok(false);
        };
        let timestamp = self.clock.now_secs();
        let client_id = self
            .client_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let taken: Vec<_> = manifest
            .all()
            .filter_map(|r| {
                r.state
                    .take_report(DEFAULT_INTERVAL_SECS)
                    .map(|counts| (r, counts))
            })
            .collect();
        let mut rules_changed = false;
        for (n, batch) in taken.chunks(MAX_DOCUMENTS_PER_CALL).enumerate() {
            let documents: Vec<StatisticsDocument> = batch
                .iter()
                .map(|(r, c)| StatisticsDocument {
                    rule_name: r.name.to_string(),
                    client_id: client_id.clone(),
                    request_count: c.requests,
                    sampled_count: c.sampled,
                    borrow_count: c.borrowed,
                    timestamp,
                })
                .collect();
            let answer = self
                .post("/SamplingTargets", &wire::targets_request(&documents))
                .and_then(|body| wire::parse_targets(&body));
            let answer = match answer {
                Ok(a) => a,
                Err(e) => {
                    // Keep the counts of this and every later batch for the next report.
                    for (r, c) in taken.iter().skip(n * MAX_DOCUMENTS_PER_CALL) {
                        r.state.restore(*c);
                    }
                    self.record_error("SamplingTargets", e.clone());
                    return Err(e);
                }
            };
            self.target_fetches.fetch_add(1, Ordering::Relaxed);
            for target in &answer.targets {
                if let Some(rule) = manifest.find(&target.rule_name) {
                    rule.state.apply_target(
                        target.fixed_rate,
                        target.quota,
                        target.quota_ttl_micros,
                        target.interval_secs,
                    );
                }
            }
            for problem in &answer.problems {
                diag::report(Level::Debug, &format!("sampling targets: {problem}"));
            }
            if answer
                .last_rule_modification_micros
                .is_some_and(|m| m > manifest.fetched_micros)
            {
                rules_changed = true;
            }
        }
        Ok(rules_changed)
    }
}

impl Polled for Inner {
    fn poll_rules(&self) -> bool {
        self.refresh_rules().is_ok()
    }

    fn poll_targets(&self) -> bool {
        self.report_statistics().unwrap_or(false)
    }

    fn schedule(&self) -> Schedule {
        let o = &self.options;
        Schedule {
            rules: o.rule_interval,
            rules_jitter: o.rule_jitter,
            rules_retry: o.rule_retry,
            targets: o.target_interval,
            targets_jitter: o.target_jitter,
        }
    }
}
