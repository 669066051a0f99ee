//! A lock-free per-second reservoir: at most `limit` takes in each wall-clock second.
//!
//! The state is one `AtomicU64` packing (epoch second, takes in that second). A take loads it,
//! starts the count afresh when the second has changed, and publishes with one compare-and-swap;
//! once the second's limit is reached a take is a plain load. No lock, no allocation, and exact
//! across threads: at most `limit` takes succeed per second however many threads race.

use std::sync::atomic::{AtomicU64, Ordering};

/// Largest limit representable (takes are counted in 32 bits).
pub const MAX_LIMIT: u64 = u32::MAX as u64;

#[derive(Debug, Default)]
pub struct PerSecond {
    /// `(second as u32) << 32 | count`.
    state: AtomicU64,
}

fn pack(second: u64, count: u64) -> u64 {
    ((second & 0xffff_ffff) << 32) | count
}

impl PerSecond {
    pub fn new() -> PerSecond {
        PerSecond::default()
    }

    /// Takes one if fewer than `limit` were taken in second `now_sec`. Any change of second
    /// (also backwards, if the clock is set back) starts a new count.
    pub fn try_take(&self, now_sec: u64, limit: u64) -> bool {
        if limit == 0 {
            return false;
        }
        let limit = limit.min(MAX_LIMIT);
        let second = now_sec & 0xffff_ffff;
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            let (held_second, count) = (current >> 32, current & 0xffff_ffff);
            let next = if held_second != second {
                pack(second, 1)
            } else if count < limit {
                current + 1
            } else {
                return false;
            };
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }

    /// Forgets what was taken (a new quota, or a fresh process after fork).
    pub fn reset(&self) {
        self.state.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn limit_per_second() {
        let r = PerSecond::new();
        assert_eq!((0..10).filter(|_| r.try_take(100, 3)).count(), 3);
        assert_eq!((0..10).filter(|_| r.try_take(101, 3)).count(), 3);
        assert!(r.try_take(100, 3), "a clock set back starts a new second");
        assert!(!r.try_take(100, 0));
        assert!(r.try_take(102, u64::MAX));
    }

    #[test]
    fn exact_across_threads() {
        let r = Arc::new(PerSecond::new());
        let taken: usize = (0..8)
            .map(|_| {
                let r = Arc::clone(&r);
                std::thread::spawn(move || (0..10_000).filter(|_| r.try_take(7, 1000)).count())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(taken, 1000);
    }
}
