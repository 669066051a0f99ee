//! [`LocalSampler`]: decisions from a local rule file, without any network.
//!
//! The first matching rule (else the default) decides: its reservoir admits `fixed_target`
//! traces per wall-clock second, and beyond that a trace is sampled with probability `rate`.
//! Reservoirs are per sampler (so per process), as in the SDKs.

use std::sync::Arc;

use super::clock::{chance, Clock, SystemClock};
use super::reservoir::PerSecond;
use super::rules::{LocalMatch, LocalRules};
use super::{Sampler, SamplingDecision, SamplingRequest};

pub struct LocalSampler {
    rules: LocalRules,
    /// One per rule, then the default's.
    reservoirs: Box<[PerSecond]>,
    clock: Arc<dyn Clock>,
}

impl LocalSampler {
    pub fn new(rules: LocalRules) -> LocalSampler {
        LocalSampler::with_clock(rules, Arc::new(SystemClock))
    }

    /// A sampler reading time and randomness from `clock` (tests pass a [`super::ManualClock`]).
    pub fn with_clock(rules: LocalRules, clock: Arc<dyn Clock>) -> LocalSampler {
        let reservoirs = (0..=rules.rules().len())
            .map(|_| PerSecond::new())
            .collect();
        LocalSampler {
            rules,
            reservoirs,
            clock,
        }
    }

    /// The SDKs' default rules: the first request each second, then 5%.
    pub fn sdk_default() -> LocalSampler {
        LocalSampler::new(LocalRules::sdk_default())
    }

    pub fn rules(&self) -> &LocalRules {
        &self.rules
    }
}

impl Sampler for LocalSampler {
    fn should_sample(&self, request: &SamplingRequest<'_>) -> SamplingDecision {
        let matched = self.rules.matching(request);
        let (target, rate) = self.rules.target_and_rate(matched);
        let slot = match matched {
            LocalMatch::Rule(i) => i,
            LocalMatch::Default => self.reservoirs.len() - 1,
        };
        let sampled = (target > 0 && self.reservoirs[slot].try_take(self.clock.now_secs(), target))
            || chance(self.clock.as_ref(), rate);
        SamplingDecision::new(sampled)
    }

    fn after_fork_child(&self) {
        self.reservoirs.iter().for_each(PerSecond::reset);
    }
}
