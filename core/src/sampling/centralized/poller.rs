//! The one background thread of centralized sampling: fetches rules (at once, then every
//! `rule_interval` + jitter) and reports statistics / reads targets (every `target_interval` +
//! jitter), sleeping on a condition variable in between so that it can be woken (rules changed
//! on the service, or the sampler dropped).
//!
//! The thread holds only a `Weak` reference to what it polls: dropping the sampler drops the
//! [`Poller`], which wakes the thread with a stop flag, and the thread exits.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::sampling::random_unit;

/// What the thread drives.
pub trait Polled: Send + Sync {
    /// Fetches the rules; true on success.
    fn poll_rules(&self) -> bool;
    /// Reports statistics and applies targets; true when the service says the rules changed.
    fn poll_targets(&self) -> bool;
    fn schedule(&self) -> Schedule;
}

/// Periods, and the most random delay added to each.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub rules: Duration,
    pub rules_jitter: Duration,
    /// After a failed rule fetch, the next try comes this much later instead.
    pub rules_retry: Duration,
    pub targets: Duration,
    pub targets_jitter: Duration,
}

#[derive(Default)]
struct Flags {
    stop: bool,
    rules_wanted: bool,
}

struct Control {
    flags: Mutex<Flags>,
    wake: Condvar,
}

/// The slot holding the running thread's control block (null when none runs).
#[derive(Default)]
pub struct Poller {
    control: AtomicPtr<Control>,
}

impl Poller {
    /// Starts the thread unless it runs. Errors if the OS refuses a thread.
    pub fn start(&self, target: Weak<dyn Polled>) -> Result<(), String> {
        let control = Arc::new(Control {
            flags: Mutex::new(Flags::default()),
            wake: Condvar::new(),
        });
        let raw = Arc::into_raw(Arc::clone(&control)) as *mut Control;
        if self
            .control
            .compare_exchange(
                std::ptr::null_mut(),
                raw,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            // SAFETY: `raw` came from Arc::into_raw above and was not published.
            drop(unsafe { Arc::from_raw(raw) });
            return Ok(());
        }
        let spawned = std::thread::Builder::new()
            .name("oxray-sampling".into())
            .spawn(move || run(target, control));
        match spawned {
            Ok(_) => Ok(()),
            Err(e) => {
                self.release(true);
                Err(format!("cannot start the sampling thread: {e}"))
            }
        }
    }

    pub fn is_running(&self) -> bool {
        !self.control.load(Ordering::Acquire).is_null()
    }

    /// Stops the thread (it exits at once if asleep, else after its current call).
    pub fn stop(&self) {
        self.release(true);
    }

    /// In a forked child: the thread does not exist there, and its lock may have been held
    /// at the fork, so the control block is abandoned untouched.
    pub fn forget_after_fork(&self) {
        self.release(false);
    }

    fn release(&self, signal: bool) {
        let raw = self.control.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if raw.is_null() {
            return;
        }
        // SAFETY: a non-null pointer in the slot came from Arc::into_raw and is taken out once.
        let control = unsafe { Arc::from_raw(raw) };
        if signal {
            control.flags.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
            control.wake.notify_all();
        } else {
            // Never touch (or free) it: a thread that died in the fork may own its lock.
            std::mem::forget(control);
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Schedule {
    /// When to fetch the rules next, after a fetch that began at `began` and `fetched` them
    /// or failed: `rules` later, or `rules_retry` later after a failure (with the targets'
    /// small jitter then). `unit`, a uniform draw in [0, 1), picks the jitter.
    pub fn next_rules(&self, began: Instant, fetched: bool, unit: f64) -> Instant {
        began
            + if fetched {
                jittered(self.rules, self.rules_jitter, unit)
            } else {
                jittered(self.rules_retry, self.targets_jitter, unit)
            }
    }

    /// When to report statistics next: `targets` plus jitter after `now` (the thread's start,
    /// or the end of the last report). `unit`, a uniform draw in [0, 1), picks the jitter.
    pub fn next_targets(&self, now: Instant, unit: f64) -> Instant {
        now + jittered(self.targets, self.targets_jitter, unit)
    }
}

fn jittered(base: Duration, jitter: Duration, unit: f64) -> Duration {
    base + jitter.mul_f64(unit)
}

fn run(target: Weak<dyn Polled>, control: Arc<Control>) {
    let schedule = match target.upgrade() {
        Some(t) => t.schedule(),
        None => return,
    };
    let start = Instant::now();
    let mut next_rules = start;
    let mut next_targets = schedule.next_targets(start, random_unit());
    loop {
        {
            let mut flags = control.flags.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if flags.stop {
                    return;
                }
                if flags.rules_wanted {
                    flags.rules_wanted = false;
                    next_rules = Instant::now();
                }
                let due = next_rules.min(next_targets);
                let now = Instant::now();
                if now >= due {
                    break;
                }
                flags = control
                    .wake
                    .wait_timeout(flags, due - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        let Some(target) = target.upgrade() else {
            return;
        };
        if Instant::now() >= next_rules {
            let began = Instant::now();
            next_rules = schedule.next_rules(began, target.poll_rules(), random_unit());
        }
        if Instant::now() >= next_targets {
            if target.poll_targets() {
                next_rules = Instant::now();
            }
            next_targets = schedule.next_targets(Instant::now(), random_unit());
        }
    }
}

#[cfg(test)]
mod tests {
    //! The schedule's arithmetic with seeded draws, and the real thread against a recording
    //! stand-in. The thread checks are logical (what was called, in which order, how often)
    //! or lower bounds on a monotonic clock, never how soon something happened.

    use super::*;
    use crate::sampling::centralized::{CentralizedOptions, CentralizedSampler};
    use crate::sampling::clock::{Clock, ManualClock};
    use crate::sampling::FixedSampler;

    const DRAWS: usize = 10_000;

    fn defaults() -> Schedule {
        let options = CentralizedOptions::new("127.0.0.1:2000".parse().unwrap());
        let sampler = CentralizedSampler::new(options, Arc::new(FixedSampler::never()));
        sampler.inner.schedule()
    }

    #[test]
    fn the_default_periods_are_the_protocols() {
        // PROTOCOL.md §4.4: rules about every 300 s with up to 5 s jitter, targets every 10 s
        // plus up to 0.1 s; README: a failed rule fetch is retried after 10 s.
        let s = defaults();
        assert_eq!(s.rules, Duration::from_secs(300));
        assert_eq!(s.rules_jitter, Duration::from_secs(5));
        assert_eq!(s.rules_retry, Duration::from_secs(10));
        assert_eq!(s.targets, Duration::from_secs(10));
        assert_eq!(s.targets_jitter, Duration::from_millis(100));
    }

    /// The smallest and largest delay after `t0` over many seeded draws.
    fn spread(mut next: impl FnMut(f64) -> Instant, t0: Instant) -> (Duration, Duration) {
        let clock = ManualClock::new(0, 7);
        let delays: Vec<Duration> = (0..DRAWS).map(|_| next(clock.random_unit()) - t0).collect();
        (*delays.iter().min().unwrap(), *delays.iter().max().unwrap())
    }

    #[test]
    fn the_jitter_stays_within_its_bounds_and_is_used() {
        let s = defaults();
        let t0 = Instant::now();
        let cases = [
            (
                "rules",
                spread(|u| s.next_rules(t0, true, u), t0),
                300_000,
                5_000,
            ),
            (
                "retry",
                spread(|u| s.next_rules(t0, false, u), t0),
                10_000,
                100,
            ),
            (
                "targets",
                spread(|u| s.next_targets(t0, u), t0),
                10_000,
                100,
            ),
        ];
        for (what, (min, max), base_ms, jitter_ms) in cases {
            let base = Duration::from_millis(base_ms);
            let jitter = Duration::from_millis(jitter_ms);
            assert!(min >= base, "{what}: {min:?} < {base:?}");
            assert!(
                max <= base + jitter,
                "{what}: {max:?} > {base:?} + {jitter:?}"
            );
            // Over 10 000 uniform draws both ends of the range are reached closely.
            assert!(min < base + jitter / 100, "{what}: no draw near 0: {min:?}");
            assert!(
                max > base + jitter * 99 / 100,
                "{what}: no draw near 1: {max:?}"
            );
        }
        // The ends of the draw's range.
        assert_eq!(s.next_rules(t0, true, 0.0) - t0, Duration::from_secs(300));
        assert_eq!(s.next_targets(t0, 0.0) - t0, Duration::from_secs(10));
        assert!(s.next_rules(t0, true, 1.0 - f64::EPSILON) - t0 <= Duration::from_secs(305));
        assert!(s.next_targets(t0, 1.0 - f64::EPSILON) - t0 <= Duration::from_millis(10_100));
    }

    #[test]
    fn each_poll_is_scheduled_from_its_own_time() {
        let s = defaults();
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(1234);
        assert_eq!(
            s.next_rules(later, true, 0.5) - s.next_rules(t0, true, 0.5),
            Duration::from_secs(1234)
        );
        assert_eq!(
            s.next_targets(later, 0.5) - s.next_targets(t0, 0.5),
            Duration::from_secs(1234)
        );
        assert_eq!(
            s.next_rules(t0, true, 0.5) - t0,
            Duration::from_millis(302_500)
        );
        assert_eq!(
            s.next_rules(t0, false, 0.5) - t0,
            Duration::from_millis(10_050)
        );
        assert_eq!(s.next_targets(t0, 0.5) - t0, Duration::from_millis(10_050));
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Call {
        Rules,
        Targets,
    }

    /// Records each call and when it began; answers as configured.
    struct Recording {
        schedule: Schedule,
        rules_fetched: bool,
        rules_changed: bool,
        calls: Mutex<Vec<(Call, Instant)>>,
    }

    impl Recording {
        fn new(schedule: Schedule, rules_fetched: bool, rules_changed: bool) -> Arc<Recording> {
            Arc::new(Recording {
                schedule,
                rules_fetched,
                rules_changed,
                calls: Mutex::new(Vec::new()),
            })
        }

        fn calls(&self) -> Vec<(Call, Instant)> {
            self.calls.lock().unwrap().clone()
        }

        fn count(&self, call: Call) -> usize {
            self.calls().iter().filter(|(c, _)| *c == call).count()
        }

        fn record(&self, call: Call) {
            self.calls.lock().unwrap().push((call, Instant::now()));
        }

        /// Waits until `check` holds (see [`wait_until`]).
        fn wait_for(&self, what: &str, check: impl Fn(&Recording) -> bool) {
            wait_until(what, || check(self));
        }
    }

    /// Waits until `check` holds; the 60 s bound is a guard against a hang, not a timing check.
    fn wait_until(what: &str, check: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !check() {
            assert!(Instant::now() < deadline, "never happened: {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    impl Polled for Recording {
        fn poll_rules(&self) -> bool {
            self.record(Call::Rules);
            self.rules_fetched
        }

        fn poll_targets(&self) -> bool {
            self.record(Call::Targets);
            self.rules_changed
        }

        fn schedule(&self) -> Schedule {
            self.schedule
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn schedule(rules: Duration, rules_retry: Duration, targets: Duration) -> Schedule {
        Schedule {
            rules,
            rules_jitter: Duration::ZERO,
            rules_retry,
            targets,
            targets_jitter: Duration::from_millis(1),
        }
    }

    fn run_on(recording: &Arc<Recording>) -> Poller {
        let poller = Poller::default();
        let weak: Weak<dyn Polled> = Arc::downgrade(recording) as Weak<dyn Polled>;
        poller.start(weak).unwrap();
        poller
    }

    #[test]
    fn rules_are_fetched_at_once_then_not_before_the_rule_interval() {
        let targets = Duration::from_millis(5);
        let r = Recording::new(schedule(HOUR, HOUR, targets), true, false);
        let t0 = Instant::now();
        let poller = run_on(&r);
        r.wait_for("5 target polls", |r| r.count(Call::Targets) >= 5);
        drop(poller);
        let calls = r.calls();
        assert_eq!(calls[0].0, Call::Rules, "rules first, at once: {calls:?}");
        assert_eq!(r.count(Call::Rules), 1, "the rule interval is an hour");
        // Targets: the first one period after the start, each next one period after the last
        // (lower bounds on a monotonic clock; a busy machine only makes the gaps longer).
        let times: Vec<Instant> = calls
            .iter()
            .filter(|(c, _)| *c == Call::Targets)
            .map(|(_, t)| *t)
            .collect();
        assert!(times[0] - t0 >= targets);
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= targets, "{:?}", pair[1] - pair[0]);
        }
    }

    #[test]
    fn rules_are_fetched_again_after_the_rule_interval() {
        let r = Recording::new(schedule(Duration::from_millis(5), HOUR, HOUR), true, false);
        let poller = run_on(&r);
        r.wait_for("4 rule fetches", |r| r.count(Call::Rules) >= 4);
        drop(poller);
        assert_eq!(r.count(Call::Targets), 0, "the target interval is an hour");
    }

    #[test]
    fn a_failed_rule_fetch_is_retried_after_the_retry_delay() {
        let r = Recording::new(schedule(HOUR, Duration::from_millis(5), HOUR), false, false);
        let poller = run_on(&r);
        r.wait_for("4 rule fetches", |r| r.count(Call::Rules) >= 4);
        drop(poller);
        assert_eq!(r.count(Call::Targets), 0);
    }

    #[test]
    fn changed_rules_are_fetched_right_after_the_target_poll() {
        let r = Recording::new(schedule(HOUR, HOUR, Duration::from_millis(5)), true, true);
        let poller = run_on(&r);
        r.wait_for("3 target polls", |r| r.count(Call::Targets) >= 3);
        drop(poller);
        let calls: Vec<Call> = r.calls().iter().map(|(c, _)| *c).collect();
        // Every target poll that saw a change is followed by a rule fetch (the last one may
        // not have been when the thread stopped).
        for (i, pair) in calls.windows(2).enumerate() {
            if pair[0] == Call::Targets {
                assert_eq!(pair[1], Call::Rules, "call {i}: {calls:?}");
            }
        }
        assert!(r.count(Call::Rules) >= 3, "{calls:?}");
    }

    #[test]
    fn the_thread_stops_when_the_poller_is_dropped() {
        let r = Recording::new(schedule(HOUR, HOUR, HOUR), true, false);
        let poller = run_on(&r);
        assert!(poller.is_running());
        r.wait_for("the first rule fetch", |r| r.count(Call::Rules) == 1);
        drop(poller);
        // The thread holds the only weak reference, and drops it as it exits.
        wait_until("the thread exited", || Arc::weak_count(&r) == 0);
        assert_eq!(r.count(Call::Rules), 1);
        assert_eq!(r.count(Call::Targets), 0);
    }
}
