//! Which side of a `fork()` this code runs on.
//!
//! A child process starts with the forking thread only: a lock that another thread of the
//! parent held at the fork stays held forever in the child. Code of the child may run before
//! anyone calls `after_fork_child`: CPython, inside `PyOS_AfterFork_Child` and before any
//! `os.register_at_fork` hook, frees the parent's other threads' objects, and an open entity
//! freed there emits its document. A `pthread_atfork` child handler, which runs inside
//! `fork()` itself before any such code, bumps a generation number; an emitter started in
//! another generation belongs to the parent and its locks must not be touched.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The number of forks between the first call and now, in this process's line of descent.
pub fn generation() -> u64 {
    install();
    GENERATION.load(Ordering::Acquire)
}

#[cfg(target_os = "linux")]
fn install() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // SAFETY: registers a handler that only does an atomic add (async-signal-safe, as a
        // handler running in a fork child must be).
        unsafe {
            libc::pthread_atfork(None, None, Some(in_child));
        }
    });
}

#[cfg(not(target_os = "linux"))]
fn install() {}

#[cfg(target_os = "linux")]
extern "C" fn in_child() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// A value behind a mutex that a forked child replaces with a fresh default instead of locking
/// it: a thread of the parent may have held the lock at the fork. Values of earlier generations
/// are leaked on purpose (their lock may be held forever).
pub struct PerProcess<T: Default> {
    slot: AtomicPtr<Slot<T>>,
    _owns: PhantomData<Box<Slot<T>>>,
}

struct Slot<T> {
    generation: u64,
    value: Mutex<T>,
}

impl<T: Default> PerProcess<T> {
    pub fn new() -> Self {
        PerProcess {
            slot: AtomicPtr::new(Self::fresh(generation())),
            _owns: PhantomData,
        }
    }

    fn fresh(generation: u64) -> *mut Slot<T> {
        Box::into_raw(Box::new(Slot {
            generation,
            value: Mutex::new(T::default()),
        }))
    }

    /// Locks this process's value (a fresh default in a child's first call after a fork).
    pub fn lock(&self) -> MutexGuard<'_, T> {
        let now = generation();
        loop {
            let current = self.slot.load(Ordering::Acquire);
            // SAFETY: slots come from `fresh` and are freed only in `drop` (which has `&mut
            // self`); replaced ones are leaked. So `current` is valid while `self` is borrowed.
            let slot = unsafe { &*current };
            if slot.generation == now {
                return slot.value.lock().unwrap_or_else(|e| e.into_inner());
            }
            let fresh = Self::fresh(now);
            if self
                .slot
                .compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // SAFETY: `fresh` was never published.
                drop(unsafe { Box::from_raw(fresh) });
            }
        }
    }
}

impl<T: Default> Default for PerProcess<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Default> Drop for PerProcess<T> {
    fn drop(&mut self) {
        let current = *self.slot.get_mut();
        // SAFETY: as in `lock`; with `&mut self` nobody borrows it any more.
        if unsafe { &*current }.generation == generation() {
            drop(unsafe { Box::from_raw(current) });
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn a_child_gets_a_fresh_value_even_if_the_lock_was_held_at_the_fork() {
        let shared = Arc::new(PerProcess::<Vec<u32>>::new());
        shared.lock().push(7);
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let _guard = shared.lock();
                locked_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            })
        };
        locked_rx.recv().unwrap();
        // SAFETY: the child only locks the value under test and then _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let ok = shared.lock().is_empty();
            shared.lock().push(1);
            let ok = ok && *shared.lock() == [1];
            unsafe { libc::_exit(if ok { 0 } else { 3 }) };
        }
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        assert_eq!(*shared.lock(), [7], "the parent keeps its value");
        // Hang guard only: a child stuck on the parent's lock never exits.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut status = 0;
        while unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } != pid {
            if Instant::now() > deadline {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!("the forked child hung on the parent's lock");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "status {status}"
        );
    }
}
