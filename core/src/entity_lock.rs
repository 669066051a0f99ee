//! The lock each entity keeps its state under.
//!
//! An entity's state is locked for a few dozen nanoseconds at a time (to add an annotation,
//! take its data at `end()`, hand a closed child's fragment to its parent) and almost never by
//! two threads at once: one handler or request works on it. For such a lock the cost is the
//! atomic operations themselves. `std::sync::Mutex` takes two per use (a compare-and-swap to
//! lock, a swap to unlock so it can wake sleepers); a traced subsegment locks three times.
//! This lock unlocks with a plain release store (one atomic read-modify-write per use) and,
//! with no sleepers to wake, a thread that finds it held spins briefly and then yields its
//! time slice until it is free.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

/// Spins before a waiting thread starts yielding (the holder usually finishes in that time).
const SPINS_BEFORE_YIELD: u32 = 64;

pub(crate) struct EntityLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, and one guard exists at a time (the
// `locked` flag is acquired before and released after), so sharing the lock between threads
// hands `T` from thread to thread like a `Mutex<T>` does: `T: Send` suffices.
unsafe impl<T: Send> Sync for EntityLock<T> {}
unsafe impl<T: Send> Send for EntityLock<T> {}

impl<T> EntityLock<T> {
    pub(crate) const fn new(value: T) -> EntityLock<T> {
        EntityLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) -> EntityGuard<'_, T> {
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        EntityGuard { lock: self }
    }

    #[cold]
    fn lock_contended(&self) {
        let mut spins = 0u32;
        loop {
            // Wait until it looks free before trying again (a read shares the cache line).
            while self.locked.load(Ordering::Relaxed) {
                if spins < SPINS_BEFORE_YIELD {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    /// The value, without locking: the caller has the only reference.
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

pub(crate) struct EntityGuard<'a, T> {
    lock: &'a EntityLock<T>,
}

impl<T> Deref for EntityGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock (see the `Sync` impl).
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for EntityGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the lock (see the `Sync` impl).
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for EntityGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_take_turns() {
        // Eight threads each add 1 to a plain (non-atomic) pair 20,000 times; with mutual
        // exclusion no increment is lost and the pair never differs.
        let lock = EntityLock::new((0u64, 0u64));
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..20_000 {
                        let mut pair = lock.lock();
                        assert_eq!(pair.0, pair.1);
                        pair.0 += 1;
                        pair.1 += 1;
                    }
                });
            }
        });
        assert_eq!(*lock.lock(), (160_000, 160_000));
    }

    #[test]
    fn a_panic_while_holding_the_lock_releases_it() {
        let lock = EntityLock::new(1);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = lock.lock();
            panic!("in a critical section");
        }));
        assert!(caught.is_err());
        *lock.lock() += 1;
        assert_eq!(*lock.lock(), 2);
    }
}
