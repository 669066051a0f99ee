//! The sampling seam: the [`crate::Recorder`] asks a [`Sampler`] once per new trace.
//!
//! An upstream decision in the incoming header (`Sampled=1` / `Sampled=0`) always wins and
//! the sampler is not asked; in Lambda the header decides. `Sampled=?` or no header asks the
//! sampler. This module holds the trait and the fixed samplers; the submodules implement
//! rule-based sampling behind the same trait:
//!
//! - [`rules`] (local rule files v1/v2) with [`glob`] patterns and the [`matcher`];
//! - [`reservoir`] (lock-free per-second counting) and [`local`] ([`LocalSampler`]);
//! - [`centralized`] ([`CentralizedSampler`]: rules and quotas from the daemon's proxy);
//! - [`clock`] (time and randomness, injectable for tests);
//! - [`probe`] (which rule a request falls under, for the shared vectors and tools);
//! - [`setup`] (the sampler a recorder starts with, from its configuration).

pub mod centralized;
pub mod clock;
pub mod glob;
pub mod local;
pub mod matcher;
pub mod probe;
pub mod reservoir;
pub mod rules;
pub mod setup;

pub use centralized::{CentralizedOptions, CentralizedSampler, SamplingStatus};
pub use clock::{Clock, ManualClock, SystemClock};
pub use local::LocalSampler;
pub use rules::{LocalMatch, LocalRules, RulesError, SDK_DEFAULT_RULES};

use std::sync::Arc;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// What the sampler may look at when a trace starts. Absent fields match any rule.
#[derive(Debug, Clone, Copy, Default)]
pub struct SamplingRequest<'a> {
    pub host: Option<&'a str>,
    pub method: Option<&'a str>,
    pub url_path: Option<&'a str>,
    /// The segment (service) name.
    pub service_name: Option<&'a str>,
    /// The recorder's origin, e.g. `AWS::EC2::Instance`.
    pub service_type: Option<&'a str>,
}

/// A sampler's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamplingDecision {
    pub sampled: bool,
    /// Set when a centralized rule made the decision (recorded as `aws.xray.sampling_rule_name`).
    pub rule_name: Option<Arc<str>>,
}

impl SamplingDecision {
    pub fn new(sampled: bool) -> SamplingDecision {
        SamplingDecision {
            sampled,
            rule_name: None,
        }
    }
}

/// Decides whether a new trace is recorded. Must be cheap and must never block on I/O.
pub trait Sampler: Send + Sync {
    fn should_sample(&self, request: &SamplingRequest<'_>) -> SamplingDecision;

    /// Called in the child process after `fork()` (restart threads, forget per-process state).
    fn after_fork_child(&self) {}
}

/// Samples with a fixed probability: 1.0 samples everything, 0.0 nothing.
pub struct FixedSampler {
    rate: f64,
}

impl FixedSampler {
    /// `rate` is clamped to 0..=1 (NaN counts as 0).
    pub fn new(rate: f64) -> FixedSampler {
        let rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        FixedSampler { rate }
    }

    pub fn always() -> FixedSampler {
        FixedSampler::new(1.0)
    }

    pub fn never() -> FixedSampler {
        FixedSampler::new(0.0)
    }
}

thread_local! {
    static SAMPLING_RNG: std::cell::RefCell<ChaCha8Rng> =
        std::cell::RefCell::new(ChaCha8Rng::from_os_rng());
}

/// A uniform number in [0, 1).
pub fn random_unit() -> f64 {
    SAMPLING_RNG.with(|r| (r.borrow_mut().next_u64() >> 11) as f64 / (1u64 << 53) as f64)
}

impl Sampler for FixedSampler {
    fn should_sample(&self, _request: &SamplingRequest<'_>) -> SamplingDecision {
        let sampled = self.rate >= 1.0 || (self.rate > 0.0 && random_unit() < self.rate);
        SamplingDecision::new(sampled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_rates() {
        let req = SamplingRequest::default();
        assert!((0..1000).all(|_| FixedSampler::always().should_sample(&req).sampled));
        assert!((0..1000).all(|_| !FixedSampler::never().should_sample(&req).sampled));
        let half = FixedSampler::new(0.5);
        let n = (0..10_000)
            .filter(|_| half.should_sample(&req).sampled)
            .count();
        // 10k Bernoulli(0.5): 6 standard deviations is ±300.
        assert!((4700..=5300).contains(&n), "{n}");
        assert!(!FixedSampler::new(f64::NAN).should_sample(&req).sampled);
    }
}
