//! [`Recorder`]: configuration + sampler + emitter, and where traces begin.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use crate::config::{Config, ContextMissing, EmitMode};
use crate::emit::background::BackgroundEmitter;
use crate::emit::fork::PerProcess;
use crate::emit::memory::MemoryEmitter;
use crate::emit::udp::UdpEmitter;
use crate::emit::{Counters, CountersSnapshot, Emitter};
use crate::entity::{Entity, EntityKind, Inner, NewEntity};
use crate::header::{Sampled, TraceHeader};
use crate::id::{EntityId, TraceId};
use crate::lambda::{self, FacadeError};
use crate::model::XrayInfo;
use crate::sampling::{
    setup, CentralizedSampler, LocalRules, LocalSampler, RulesError, Sampler, SamplingDecision,
    SamplingRequest, SamplingStatus,
};
use crate::TraceError;

/// State shared by a recorder and all its entities.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) emitter: Arc<dyn Emitter>,
    pub(crate) counters: Arc<Counters>,
    memory: Option<Arc<MemoryEmitter>>,
    sampler: RwLock<Arc<dyn Sampler>>,
    /// The centralized sampler, when on (it is also `sampler`); local rules become its fallback.
    centralized: Mutex<Option<Arc<CentralizedSampler>>>,
    /// Open parents that hold closed children (weak: they may be dropped). Per process: a
    /// forked child starts with an empty list (the parent's open entities are the parent's).
    parents_with_children: PerProcess<Vec<Weak<Inner>>>,
    /// The last facade made, by header text: one parse per invocation.
    last_facade: Mutex<Option<(String, Weak<Inner>)>>,
    /// Unusable incoming trace headers seen (server mode), for rate-limited logging.
    bad_incoming_headers: AtomicU64,
    /// `"sdk":…,"sdk_version":…` of `aws.xray`, serialized once: every segment carries it.
    sdk_members: Arc<str>,
}

/// The JSON members naming the SDK in `aws.xray`.
fn sdk_members(config: &Config) -> Arc<str> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"\"sdk\":");
    crate::json::write_str(&mut out, &config.sdk_name);
    out.extend_from_slice(b",\"sdk_version\":");
    crate::json::write_str(&mut out, &config.sdk_version);
    Arc::from(String::from_utf8(out).unwrap_or_default())
}

impl Shared {
    pub(crate) fn warn(&self, message: &str) {
        Counters::bump(&self.counters.warnings);
        crate::diag::warn(message);
    }

    pub(crate) fn list_parent(&self, parent: Weak<Inner>) {
        let mut list = self.parents_with_children.lock();
        if list.len() >= 1024 && list.len().is_power_of_two() {
            // Amortized pruning: parents that ended or were dropped need no flushing.
            list.retain(|w| w.strong_count() > 0);
        }
        list.push(parent);
    }
}

/// Begins traces and owns where their documents go. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Recorder {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("config", &self.shared.config)
            .finish()
    }
}

impl Recorder {
    /// A recorder configured by `config`, with the sampler its sampling settings select (see
    /// [`crate::sampling::setup`]: by default the SDKs' rules, 1 trace per second then 5%, and
    /// every trace in memory mode) and the emitter `config.emit_mode` selects.
    pub fn new(config: Config) -> Recorder {
        let mut memory = None;
        let recorder = Recorder::with_emitter(config.clone(), |counters| match config.emit_mode {
            EmitMode::Memory => {
                let m = Arc::new(MemoryEmitter::new(counters));
                memory = Some(Arc::clone(&m));
                m
            }
            EmitMode::Udp => Arc::new(UdpEmitter::new(config.daemon.udp, counters)),
            EmitMode::Background => {
                let udp = Arc::new(UdpEmitter::new(config.daemon.udp, Arc::clone(&counters)));
                Arc::new(BackgroundEmitter::new(udp, config.queue_capacity, counters))
            }
        });
        match memory {
            Some(m) => recorder.keeping_documents_of(m),
            None => recorder,
        }
    }

    /// A recorder sending through the emitter `make` builds (given the recorder's counters).
    pub fn with_emitter(
        config: Config,
        make: impl FnOnce(Arc<Counters>) -> Arc<dyn Emitter>,
    ) -> Recorder {
        let counters = Arc::new(Counters::default());
        let emitter = make(Arc::clone(&counters));
        let sampling = setup::initial(&config, &counters);
        Recorder {
            shared: Arc::new(Shared {
                sdk_members: sdk_members(&config),
                config,
                emitter,
                counters,
                memory: None,
                sampler: RwLock::new(sampling.sampler),
                centralized: Mutex::new(sampling.centralized),
                parents_with_children: PerProcess::new(),
                last_facade: Mutex::new(None),
                bad_incoming_headers: AtomicU64::new(0),
            }),
        }
    }

    fn keeping_documents_of(self, memory: Arc<MemoryEmitter>) -> Recorder {
        let mut shared = match Arc::try_unwrap(self.shared) {
            Ok(s) => s,
            Err(shared) => return Recorder { shared },
        };
        shared.memory = Some(memory);
        Recorder {
            shared: Arc::new(shared),
        }
    }

    /// A recorder configured from the environment ([`Config::from_env`]).
    pub fn from_env() -> Recorder {
        Recorder::new(Config::from_env())
    }

    /// A recorder that keeps documents in memory (read them with [`Recorder::take_documents`]).
    pub fn in_memory() -> Recorder {
        Recorder::new(Config {
            emit_mode: EmitMode::Memory,
            ..Config::default()
        })
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Replaces the sampler consulted for new traces without an upstream decision (this also
    /// turns centralized sampling off).
    pub fn set_sampler(&self, sampler: Arc<dyn Sampler>) {
        let mut centralized = self
            .shared
            .centralized
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.install_sampler(sampler);
        // Dropped after the swap: its poller thread stops once nothing holds it.
        centralized.take();
    }

    fn install_sampler(&self, sampler: Arc<dyn Sampler>) {
        *self
            .shared
            .sampler
            .write()
            .unwrap_or_else(|e| e.into_inner()) = sampler;
    }

    /// Replaces the local sampling rules with those of `source`: a rule file path, or the
    /// JSON text itself (see [`crate::sampling::rules`]). With centralized sampling on, they
    /// become its fallback. A malformed source is refused with an error naming the field and
    /// the reason, and the rules in force stay in force.
    pub fn set_sampling_rules(&self, source: &str) -> Result<(), RulesError> {
        let local = Arc::new(LocalSampler::new(LocalRules::from_source(source)?));
        let centralized = self
            .shared
            .centralized
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match centralized.as_ref() {
            Some(c) => c.set_fallback(local),
            None => self.install_sampler(local),
        }
        Ok(())
    }

    /// Turns on centralized sampling through the daemon's TCP proxy (`config().daemon.tcp`):
    /// the sampler in force becomes the fallback, used until the service's rules arrive and
    /// whenever they are more than an hour old. Calling it again changes nothing. Refused in
    /// Lambda (the Lambda service decides) and when tracing is disabled.
    pub fn enable_centralized_sampling(&self) -> Result<(), TraceError> {
        let config = &self.shared.config;
        if config.lambda {
            return Err(TraceError::InvalidArgument(
                "centralized sampling is not used in Lambda: the Lambda service decides".into(),
            ));
        }
        if !config.enabled {
            return Err(TraceError::InvalidArgument(
                "tracing is disabled (AWS_XRAY_SDK_ENABLED)".into(),
            ));
        }
        let mut centralized = self
            .shared
            .centralized
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if centralized.is_none() {
            let c = setup::centralized(config, self.sampler(), &self.shared.counters);
            self.install_sampler(Arc::clone(&c) as Arc<dyn Sampler>);
            *centralized = Some(c);
        }
        Ok(())
    }

    /// What centralized sampling is doing (all zero / false when it is off).
    pub fn sampling_status(&self) -> SamplingStatus {
        self.shared
            .centralized
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|c| c.status())
            .unwrap_or_default()
    }

    /// Counters of sent, dropped, truncated and streamed documents, and warnings.
    pub fn counters(&self) -> CountersSnapshot {
        self.shared.counters.snapshot()
    }

    /// Reports a tracing problem found by a binding (logged and counted as a warning).
    pub fn warn(&self, message: &str) {
        self.shared.warn(message);
    }

    /// Logs (and counts as a warning) an unusable incoming `X-Amzn-Trace-Id`: the first 10,
    /// then every 1000th. Clients choose what they send, so a stream of bad headers must not
    /// flood the log. For every server-mode binding.
    pub fn report_bad_incoming_header(&self, error: &crate::header::HeaderError) {
        let seen = self
            .shared
            .bad_incoming_headers
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        if crate::emit::worth_logging(seen) {
            self.warn(&format!(
                "incoming X-Amzn-Trace-Id ignored ({seen} so far; logged the first 10 times, then every 1000th): {error}"
            ));
        }
    }

    /// The documents sent so far, in memory mode (empty otherwise).
    pub fn take_documents(&self) -> Vec<String> {
        self.shared
            .memory
            .as_ref()
            .map(|m| m.take_documents())
            .unwrap_or_default()
    }

    /// Applies the `AWS_XRAY_CONTEXT_MISSING` strategy when code wanted a current entity and
    /// there was none. Err only under `RUNTIME_ERROR`.
    pub fn context_missing(&self, what: &str) -> Result<(), TraceError> {
        match self.shared.config.context_missing {
            ContextMissing::IgnoreError => Ok(()),
            ContextMissing::LogError => {
                self.shared.warn(&format!(
                    "cannot find the current segment/subsegment: {what}"
                ));
                Ok(())
            }
            ContextMissing::RuntimeError => {
                Counters::bump(&self.shared.counters.warnings);
                Err(TraceError::ContextMissing(format!(
                    "cannot find the current segment/subsegment: {what}"
                )))
            }
        }
    }

    /// Begins a segment (server mode). The name is `AWS_XRAY_TRACING_NAME` if set, else
    /// `name`, else the Lambda function name, else `unnamed`. With an incoming header the trace
    /// and its upstream parent continue; its `Sampled=1/0` is honoured; otherwise the sampler
    /// decides from `request`.
    pub fn begin_segment(
        &self,
        name: Option<&str>,
        incoming: Option<&TraceHeader>,
        request: &SamplingRequest<'_>,
    ) -> Entity {
        let config = &self.shared.config;
        let name = config
            .tracing_name
            .as_deref()
            .or(name)
            .or(config.function_name.as_deref())
            .unwrap_or("unnamed");
        let decision = match incoming.and_then(|h| h.sampled) {
            _ if !config.enabled => SamplingDecision::new(false),
            Some(Sampled::Yes) => SamplingDecision::new(true),
            Some(Sampled::No) => SamplingDecision::new(false),
            Some(Sampled::Requested) | None => {
                let request = SamplingRequest {
                    service_name: request.service_name.or(Some(name)),
                    service_type: request.service_type.or(config.origin.as_deref()),
                    ..*request
                };
                self.sampler().should_sample(&request)
            }
        };
        let trace_id = incoming
            .and_then(|h| h.root)
            .unwrap_or_else(TraceId::generate);
        // Checked against the system clock: a segment may be the first work after a suspend.
        let start = crate::time::checked_now_micros();
        let mut data = None;
        if decision.sampled {
            // A recycled record, as for subsegments: a server begins a segment per request.
            let mut d =
                crate::record_pool::take(&crate::entity::clean_name(|| &self.shared, name), start);
            d.origin = config.origin.clone();
            // Pre-serialized, not a JSON map: built and dropped for every request otherwise.
            d.xray = Some(XrayInfo {
                sdk_members: Arc::clone(&self.shared.sdk_members),
                sampling_rule_name: decision.rule_name.clone(),
            });
            data = Some(d);
        }
        Entity::create(
            Arc::clone(&self.shared),
            NewEntity {
                kind: EntityKind::Segment,
                id: EntityId::generate(),
                trace_id,
                sampled: decision.sampled,
                upstream_parent: incoming.and_then(|h| h.parent),
                incoming: incoming.map(|h| Arc::new(h.clone())),
                data,
            },
        )
    }

    /// The Lambda facade for this invocation, from `header` (the invocation's trace header,
    /// passed explicitly with concurrent invocations) or else `_X_AMZN_TRACE_ID`. The facade is
    /// never sent; subsegments under it are sent as standalone documents. With no usable
    /// header the facade is unsampled (nothing is recorded; a header with only `Root` keeps that
    /// trace id for the headers of calls made downstream) and the reason is logged at debug.
    /// Asking again with the same header text returns the same facade while it is alive.
    pub fn lambda_facade(&self, header: Option<&str>) -> Entity {
        let text = match header {
            Some(h) => Some(h.to_string()),
            None => lambda::header_from_env(),
        };
        if let Some(text) = &text {
            let cache = self
                .shared
                .last_facade
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some((cached_text, weak)) = cache.as_ref() {
                if cached_text == text {
                    if let Some(inner) = weak.upgrade() {
                        return Entity { inner };
                    }
                }
            }
        }
        let context = match &text {
            None => Err(FacadeError::NoHeader),
            Some(t) => lambda::facade_context(t),
        };
        if context.as_ref().is_ok_and(|ctx| ctx.sampled) {
            // A new invocation: the environment may have been frozen since the last one.
            crate::time::checked_now_micros();
        }
        let entity = match context {
            Ok(ctx) => Entity::create(
                Arc::clone(&self.shared),
                NewEntity {
                    kind: EntityKind::Facade,
                    id: ctx.id,
                    trace_id: ctx.trace_id,
                    sampled: ctx.sampled && self.shared.config.enabled,
                    upstream_parent: None,
                    incoming: Some(Arc::new(ctx.header)),
                    data: None,
                },
            ),
            Err(e) => {
                if matches!(e, FacadeError::Malformed(_)) {
                    self.shared.warn(&e.to_string());
                } else {
                    crate::diag::report(crate::diag::Level::Debug, &e.to_string());
                }
                // A header with only `Root` keeps its trace: outgoing calls carry that `Root`
                // with `Sampled=0` rather than a new trace's id.
                let trace_id = match e {
                    FacadeError::Incomplete { root: Some(root) } => root,
                    _ => TraceId::generate(),
                };
                Entity::create(
                    Arc::clone(&self.shared),
                    NewEntity {
                        kind: EntityKind::Facade,
                        id: EntityId::generate(),
                        trace_id,
                        sampled: false,
                        upstream_parent: None,
                        incoming: None,
                        data: None,
                    },
                )
            }
        };
        if let Some(text) = text {
            *self
                .shared
                .last_facade
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some((text, Arc::downgrade(&entity.inner)));
        }
        entity
    }

    fn sampler(&self) -> Arc<dyn Sampler> {
        Arc::clone(
            &self
                .shared
                .sampler
                .read()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// Sends everything completed so far: closed children still held by open parents are
    /// streamed on their own, then the emitter is drained. Returns false if `timeout` passed
    /// before the last datagram was handed to the socket.
    pub fn flush(&self, timeout: Duration) -> bool {
        let parents = std::mem::take(&mut *self.shared.parents_with_children.lock());
        for weak in parents {
            if let Some(inner) = weak.upgrade() {
                Entity::stream_pending(&inner);
            }
        }
        self.shared.emitter.flush(timeout)
    }

    /// [`Recorder::flush`] for a caller that waits anyway (the end of a Lambda invocation):
    /// what is still queued is sent from the calling thread instead of waking the sender
    /// thread and waiting for it.
    pub fn flush_on_caller(&self, timeout: Duration) -> bool {
        let parents = std::mem::take(&mut *self.shared.parents_with_children.lock());
        for weak in parents {
            if let Some(inner) = weak.upgrade() {
                Entity::stream_pending(&inner);
            }
        }
        self.shared.emitter.flush_on_caller(timeout)
    }

    /// Call in the child after `fork()`: reseeds id generation and restarts the sender thread
    /// (and the centralized sampling thread, with a fresh client id and counts).
    pub fn after_fork_child(&self) {
        crate::id::reseed_after_fork();
        self.shared.emitter.after_fork_child();
        self.sampler().after_fork_child();
    }
}
