//! A centralized rule's live state: its target (rate, reservoir quota and its TTL, reporting
//! interval) and its statistics, all atomics, so a decision takes no lock.
//!
//! A decision for a matched rule (PROTOCOL.md §4.4) counts the request, then:
//! 1. with a quota whose TTL has not passed, takes from it (at most `quota` per second);
//! 2. with no quota, or an expired one, and `ReservoirSize > 0`, borrows one per second;
//! 3. otherwise samples with probability `FixedRate`.
//!
//! `SampledCount` counts every sampled request, borrowed ones included (the API's semantics;
//! `BorrowCount` is a subset of it).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::sampling::clock::{chance, Clock};
use crate::sampling::reservoir::PerSecond;

const NO_QUOTA: u64 = u64::MAX;

/// Target polls per reporting interval when the service has not said otherwise (every 10 s).
pub const DEFAULT_INTERVAL_SECS: u64 = 10;

/// How a sampled decision came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Quota,
    Borrowed,
    Rate,
    NotSampled,
}

/// Counts taken for one report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    pub sampled: u64,
    pub borrowed: u64,
}

/// The state of one rule, kept across rule refreshes (matched by name).
#[derive(Debug)]
pub struct RuleState {
    fixed_rate_bits: AtomicU64,
    quota: AtomicU64,
    quota_ttl_micros: AtomicU64,
    per_second: PerSecond,
    interval_secs: AtomicU64,
    polls_since_report: AtomicU64,
    requests: AtomicU64,
    sampled: AtomicU64,
    borrowed: AtomicU64,
}

impl RuleState {
    pub fn new(fixed_rate: f64) -> RuleState {
        RuleState {
            fixed_rate_bits: AtomicU64::new(fixed_rate.to_bits()),
            quota: AtomicU64::new(NO_QUOTA),
            quota_ttl_micros: AtomicU64::new(0),
            per_second: PerSecond::new(),
            interval_secs: AtomicU64::new(DEFAULT_INTERVAL_SECS),
            polls_since_report: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            sampled: AtomicU64::new(0),
            borrowed: AtomicU64::new(0),
        }
    }

    pub fn fixed_rate(&self) -> f64 {
        f64::from_bits(self.fixed_rate_bits.load(Ordering::Relaxed))
    }

    pub fn set_fixed_rate(&self, rate: f64) {
        self.fixed_rate_bits
            .store(rate.to_bits(), Ordering::Relaxed);
    }

    /// The quota and its TTL (epoch µs), if one was assigned.
    pub fn quota(&self) -> Option<(u64, u64)> {
        let q = self.quota.load(Ordering::Acquire);
        (q != NO_QUOTA).then(|| (q, self.quota_ttl_micros.load(Ordering::Acquire)))
    }

    /// Applies a target: each value given replaces the current one.
    pub fn apply_target(
        &self,
        fixed_rate: Option<f64>,
        quota: Option<u64>,
        ttl_micros: Option<u64>,
        interval_secs: Option<u64>,
    ) {
        if let Some(r) = fixed_rate {
            self.set_fixed_rate(r);
        }
        if let Some(ttl) = ttl_micros {
            self.quota_ttl_micros.store(ttl, Ordering::Release);
        }
        if let Some(q) = quota {
            self.quota.store(q.min(NO_QUOTA - 1), Ordering::Release);
        }
        if let Some(i) = interval_secs {
            self.interval_secs.store(i.max(1), Ordering::Relaxed);
        }
    }

    /// Decides for one request matched to this rule, at `now` (epoch µs, from `clock`).
    pub fn decide(&self, clock: &dyn Clock, now: u64, reservoir_size: u64) -> Outcome {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let outcome = match self.quota() {
            Some((quota, ttl)) if now <= ttl => {
                if self.per_second.try_take(now / 1_000_000, quota) {
                    Outcome::Quota
                } else {
                    self.by_rate(clock)
                }
            }
            _ if reservoir_size > 0 => {
                if self.per_second.try_take(now / 1_000_000, 1) {
                    Outcome::Borrowed
                } else {
                    self.by_rate(clock)
                }
            }
            _ => self.by_rate(clock),
        };
        if outcome != Outcome::NotSampled {
            self.sampled.fetch_add(1, Ordering::SeqCst);
        }
        if outcome == Outcome::Borrowed {
            self.borrowed.fetch_add(1, Ordering::SeqCst);
        }
        outcome
    }

    fn by_rate(&self, clock: &dyn Clock) -> Outcome {
        if chance(clock, self.fixed_rate()) {
            Outcome::Rate
        } else {
            Outcome::NotSampled
        }
    }

    /// Called once per target poll: the counts to report if this rule had requests and its
    /// reporting interval is due (they are reset), else None.
    pub fn take_report(&self, poll_period_secs: u64) -> Option<Counts> {
        let polls = self.polls_since_report.fetch_add(1, Ordering::Relaxed) + 1;
        let interval = self.interval_secs.load(Ordering::Relaxed);
        let due_polls = interval.div_ceil(poll_period_secs.max(1)).max(1);
        if polls < due_polls || self.requests.load(Ordering::SeqCst) == 0 {
            return None;
        }
        self.polls_since_report.store(0, Ordering::Relaxed);
        // Sampled before requests: a request counted after the swap of `requests` has its
        // `sampled` in a later report, never in an earlier one.
        let mut sampled = self.sampled.swap(0, Ordering::SeqCst);
        let mut borrowed = self.borrowed.swap(0, Ordering::SeqCst);
        let requests = self.requests.swap(0, Ordering::SeqCst);
        // A decision racing the swaps can leave its sampled/borrowed count ahead of its
        // request; carry any excess over to the next report.
        if sampled > requests {
            self.sampled.fetch_add(sampled - requests, Ordering::SeqCst);
            sampled = requests;
        }
        if borrowed > sampled {
            self.borrowed
                .fetch_add(borrowed - sampled, Ordering::SeqCst);
            borrowed = sampled;
        }
        Some(Counts {
            requests,
            sampled,
            borrowed,
        })
    }

    /// Puts counts back after a report that failed, so the next one includes them.
    pub fn restore(&self, counts: Counts) {
        self.requests.fetch_add(counts.requests, Ordering::SeqCst);
        self.sampled.fetch_add(counts.sampled, Ordering::SeqCst);
        self.borrowed.fetch_add(counts.borrowed, Ordering::SeqCst);
    }

    /// Starts afresh in a forked child: the parent reports its own counts.
    pub fn reset_after_fork(&self) {
        self.per_second.reset();
        self.requests.store(0, Ordering::SeqCst);
        self.sampled.store(0, Ordering::SeqCst);
        self.borrowed.store(0, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::clock::ManualClock;

    #[test]
    fn borrow_then_quota_then_rate() {
        let clock = ManualClock::at_secs(1000, 1);
        let state = RuleState::new(0.0);
        let outcomes: Vec<Outcome> = (0..3)
            .map(|_| state.decide(&clock, clock.now_micros(), 1))
            .collect();
        assert_eq!(
            outcomes,
            [Outcome::Borrowed, Outcome::NotSampled, Outcome::NotSampled]
        );
        state.apply_target(Some(0.0), Some(2), Some(1_005_000_000), Some(20));
        clock.advance(std::time::Duration::from_secs(1));
        let outcomes: Vec<Outcome> = (0..3)
            .map(|_| state.decide(&clock, clock.now_micros(), 1))
            .collect();
        assert_eq!(
            outcomes,
            [Outcome::Quota, Outcome::Quota, Outcome::NotSampled]
        );
        assert_eq!(
            state.take_report(10),
            None,
            "interval 20 s = every second poll"
        );
        let counts = state.take_report(10).unwrap();
        assert_eq!(
            counts,
            Counts {
                requests: 6,
                sampled: 3,
                borrowed: 1
            }
        );
        assert_eq!(state.take_report(10), None);
        assert_eq!(
            state.take_report(10),
            None,
            "no requests, nothing to report"
        );
        state.restore(counts);
        assert_eq!(state.take_report(10), Some(counts));
    }
}
