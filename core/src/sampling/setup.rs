//! The sampler a recorder starts with, chosen from its [`Config`].
//!
//! In order: `sampling_rules` (a rule file path or JSON) → a [`LocalSampler`] on those rules;
//! else `sample_rate` → a [`FixedSampler`]; else, for a memory-mode (test) recorder, a sampler
//! that records every trace; else the SDKs' default rules (1 per second, then 5%). With
//! `centralized_sampling` (outside Lambda) that sampler becomes the fallback of a
//! [`CentralizedSampler`] polling the daemon's TCP proxy. Unusable rules are logged and
//! counted as a warning, and the SDK default rules are used instead.

use std::sync::Arc;

use super::{
    CentralizedOptions, CentralizedSampler, FixedSampler, LocalRules, LocalSampler, Sampler,
    SystemClock,
};
use crate::config::{Config, EmitMode};
use crate::emit::Counters;

pub(crate) struct Initial {
    pub sampler: Arc<dyn Sampler>,
    pub centralized: Option<Arc<CentralizedSampler>>,
}

/// The local (non-centralized) sampler `config` asks for.
pub(crate) fn local_sampler(config: &Config, counters: &Counters) -> Arc<dyn Sampler> {
    if let Some(source) = &config.sampling_rules {
        match LocalRules::from_source(source) {
            Ok(rules) => return Arc::new(LocalSampler::new(rules)),
            Err(e) => {
                Counters::bump(&counters.warnings);
                crate::diag::error(&format!(
                    "sampling rules refused ({e}); using the default rules (1 per second, then 5%)"
                ));
                return Arc::new(LocalSampler::sdk_default());
            }
        }
    }
    match (config.sample_rate, config.emit_mode) {
        (Some(rate), _) => Arc::new(FixedSampler::new(rate)),
        (None, EmitMode::Memory) => Arc::new(FixedSampler::always()),
        (None, _) => Arc::new(LocalSampler::sdk_default()),
    }
}

/// A started centralized sampler over `fallback`, for the daemon proxy of `config`.
pub(crate) fn centralized(
    config: &Config,
    fallback: Arc<dyn Sampler>,
    counters: &Arc<Counters>,
) -> Arc<CentralizedSampler> {
    let sampler = Arc::new(CentralizedSampler::with_clock(
        CentralizedOptions::new(config.daemon.tcp),
        fallback,
        Arc::new(SystemClock),
        Arc::clone(counters),
    ));
    sampler.start();
    sampler
}

pub(crate) fn initial(config: &Config, counters: &Arc<Counters>) -> Initial {
    let local = local_sampler(config, counters);
    if !config.centralized_sampling || !config.enabled {
        return Initial {
            sampler: local,
            centralized: None,
        };
    }
    if config.lambda {
        crate::diag::report(
            crate::diag::Level::Debug,
            "centralized sampling is not used in Lambda: the Lambda service decides",
        );
        return Initial {
            sampler: local,
            centralized: None,
        };
    }
    let c = centralized(config, local, counters);
    Initial {
        sampler: Arc::clone(&c) as Arc<dyn Sampler>,
        centralized: Some(c),
    }
}
