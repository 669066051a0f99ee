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

fn jittered(base: Duration, jitter: Duration) -> Duration {
    base + jitter.mul_f64(crate::sampling::random_unit())
}

fn run(target: Weak<dyn Polled>, control: Arc<Control>) {
    let schedule = match target.upgrade() {
        Some(t) => t.schedule(),
        None => return,
    };
    let start = Instant::now();
    let mut next_rules = start;
    let mut next_targets = start + jittered(schedule.targets, schedule.targets_jitter);
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
            next_rules = Instant::now()
                + if target.poll_rules() {
                    jittered(schedule.rules, schedule.rules_jitter)
                } else {
                    jittered(schedule.rules_retry, schedule.targets_jitter)
                };
        }
        if Instant::now() >= next_targets {
            if target.poll_targets() {
                next_rules = Instant::now();
            }
            next_targets = Instant::now() + jittered(schedule.targets, schedule.targets_jitter);
        }
    }
}
