//! A bounded queue drained by one sender thread, for servers and for Lambda handlers that
//! should not pay for `send()` on their own time.
//!
//! Producers never make a syscall while the sender is active: the sender polls the queue
//! for a short while after each batch and only then sleeps, and producers wake it only when it
//! sleeps or the queue is half full. [`Emitter::flush`] wakes it and waits until everything
//! queued before the call has been sent.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{fork, worth_logging, Counters, Emitter};

/// Sent buffers kept for reuse: at most this many, each at most `SPARE_MAX_CAPACITY` bytes.
const SPARE_BUFFERS: usize = 256;
const SPARE_MAX_CAPACITY: usize = 4096;

thread_local! {
    /// A sent buffer set aside for this thread's next datagram: `emit`, which locks the queue
    /// anyway, takes one from the spares, so that `take_buffer` usually needs no lock (one
    /// lock per document instead of two). Any sender's buffer will do: it is only memory.
    static NEXT_BUFFER: std::cell::Cell<Option<Vec<u8>>> = const { std::cell::Cell::new(None) };
}

/// Sets one of `spare` aside for this thread's next datagram, if none is yet.
fn set_aside_next_buffer(spare: &mut Vec<Vec<u8>>) {
    let _ = NEXT_BUFFER.try_with(|slot| {
        let next = slot.take().or_else(|| spare.pop());
        slot.set(next);
    });
}

/// How long the sender polls an empty queue before it sleeps.
const POLL_INTERVAL: Duration = Duration::from_millis(2);
const POLLS_BEFORE_SLEEP: u32 = 25;

struct State {
    queue: VecDeque<Vec<u8>>,
    /// Datagrams ever accepted into the queue, and ever finished (sent or dropped).
    accepted: u64,
    finished: u64,
    sleeping: bool,
    wake_requested: bool,
    /// The emitter was dropped: the sender drains the queue and exits.
    shutdown: bool,
    /// Sent buffers, emptied, for producers to serialize into again.
    spare: Vec<Vec<u8>>,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    done: Condvar,
}

/// The queue and its sender thread, wrapping the emitter that actually sends.
pub struct BackgroundEmitter {
    /// `Arc::into_raw` of the queue shared with the sender thread (which holds its own
    /// reference). After fork it is replaced and the old one deliberately leaked: it may be
    /// locked by a thread that does not exist in the child.
    shared: AtomicPtr<Shared>,
    /// The fork generation (see [`fork`]) the queue was started in. In a child that has not
    /// restarted it yet, the queue is the parent's and is never touched.
    generation: AtomicU64,
    inner: Arc<dyn Emitter>,
    capacity: usize,
    counters: Arc<Counters>,
}

impl BackgroundEmitter {
    /// Queues at most `capacity` datagrams for `inner`.
    pub fn new(inner: Arc<dyn Emitter>, capacity: usize, counters: Arc<Counters>) -> Self {
        let emitter = BackgroundEmitter {
            shared: AtomicPtr::new(std::ptr::null_mut()),
            generation: AtomicU64::new(fork::generation()),
            inner,
            capacity: capacity.max(1),
            counters,
        };
        emitter.start();
        emitter
    }

    fn start(&self) {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                accepted: 0,
                finished: 0,
                sleeping: false,
                wake_requested: false,
                shutdown: false,
                spare: Vec::new(),
            }),
            work: Condvar::new(),
            done: Condvar::new(),
        });
        let for_sender = Arc::clone(&shared);
        let inner = Arc::clone(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("oxray-sender".into())
            .spawn(move || sender_loop(&for_sender, inner));
        if let Err(e) = spawned {
            crate::diag::error(&format!("cannot start the oxray sender thread: {e}"));
        }
        // Any previous queue (the parent's, after fork) is leaked on purpose: see `shared`.
        self.shared
            .store(Arc::into_raw(shared) as *mut Shared, Ordering::Release);
        self.generation.store(fork::generation(), Ordering::Release);
    }

    /// True in a forked child until `after_fork_child` restarted the queue: the queue and its
    /// lock are the parent's (its sender thread may have held the lock at the fork).
    fn parents_queue(&self) -> bool {
        self.generation.load(Ordering::Acquire) != fork::generation()
    }

    fn shared(&self) -> &Shared {
        // SAFETY: the pointer comes from `Arc::into_raw` in `start` (called from `new`), and
        // this emitter owns that reference until `drop`, so it is valid while `self` is.
        unsafe { &*self.shared.load(Ordering::Acquire) }
    }

    /// Datagrams waiting in the queue now.
    pub fn queued(&self) -> usize {
        if self.parents_queue() {
            return 0;
        }
        lock(&self.shared().state).queue.len()
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn sender_loop(shared: &Shared, inner: Arc<dyn Emitter>) {
    let mut idle_polls = 0u32;
    loop {
        let batch: Vec<Vec<u8>> = {
            let mut st = lock(&shared.state);
            while st.queue.is_empty() {
                if st.shutdown {
                    return;
                }
                if idle_polls < POLLS_BEFORE_SLEEP && !st.wake_requested {
                    idle_polls += 1;
                    st = shared
                        .work
                        .wait_timeout(st, POLL_INTERVAL)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                } else {
                    st.sleeping = true;
                    st.wake_requested = false;
                    st = shared.work.wait(st).unwrap_or_else(|e| e.into_inner());
                    st.sleeping = false;
                }
            }
            idle_polls = 0;
            st.wake_requested = false;
            st.queue.drain(..).collect()
        };
        let n = batch.len() as u64;
        inner.emit_batch_borrowed(&batch);
        let mut st = lock(&shared.state);
        st.finished += n;
        recycle(&mut st, batch);
        shared.done.notify_all();
    }
}

/// Keeps sent buffers (emptied) for producers to reuse.
fn recycle(st: &mut State, batch: Vec<Vec<u8>>) {
    for mut buffer in batch {
        if st.spare.len() >= SPARE_BUFFERS {
            break;
        }
        if buffer.capacity() <= SPARE_MAX_CAPACITY {
            buffer.clear();
            st.spare.push(buffer);
        }
    }
}

impl Emitter for BackgroundEmitter {
    fn emit(&self, datagram: Vec<u8>) {
        if self.parents_queue() {
            // Only the parent's open entities, freed in the child before its after-fork hooks
            // run, get here: their documents are the parent's to send.
            return;
        }
        let shared = self.shared();
        let mut st = lock(&shared.state);
        if st.queue.len() >= self.capacity {
            drop(st);
            let n = Counters::bump(&self.counters.dropped);
            if worth_logging(n) {
                crate::diag::error(&format!(
                    "send queue full ({} documents): dropped a document (dropped so far: {n})",
                    self.capacity
                ));
            }
            return;
        }
        st.queue.push_back(datagram);
        st.accepted += 1;
        set_aside_next_buffer(&mut st.spare);
        let wake = st.sleeping || st.queue.len() * 2 >= self.capacity;
        drop(st);
        if wake {
            shared.work.notify_one();
        }
    }

    fn emit_now(&self, datagram: Vec<u8>) {
        // The inner emitter sends on this thread; the queue (and a forked child's copy of the
        // parent's) is not involved.
        self.inner.emit(datagram);
    }

    fn take_buffer(&self) -> Vec<u8> {
        if self.parents_queue() {
            return Vec::with_capacity(512);
        }
        if let Some(buffer) = NEXT_BUFFER.try_with(|slot| slot.take()).ok().flatten() {
            return buffer;
        }
        lock(&self.shared().state)
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(512))
    }

    fn flush(&self, timeout: Duration) -> bool {
        if self.parents_queue() {
            return true; // nothing of this process is in the parent's queue
        }
        let shared = self.shared();
        let deadline = Instant::now() + timeout;
        let mut st = lock(&shared.state);
        let target = st.accepted;
        if st.finished >= target {
            return true;
        }
        st.wake_requested = true;
        shared.work.notify_one();
        while st.finished < target {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = shared
                .done
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    fn flush_on_caller(&self, timeout: Duration) -> bool {
        if self.parents_queue() {
            return true;
        }
        let shared = self.shared();
        let batch: Vec<Vec<u8>> = lock(&shared.state).queue.drain(..).collect();
        let n = batch.len() as u64;
        self.inner.emit_batch_borrowed(&batch);
        if n > 0 {
            let mut st = lock(&shared.state);
            st.finished += n;
            recycle(&mut st, batch);
            shared.done.notify_all();
        }
        // Anything the sender thread took before us is waited for as usual.
        self.flush(timeout)
    }

    fn after_fork_child(&self) {
        // The parent's queue belongs to the parent, which will send it.
        self.start();
    }
}

impl Drop for BackgroundEmitter {
    /// Lets the sender thread send what is queued and exit, then gives up this emitter's
    /// reference to the queue (the sender thread holds the other one).
    fn drop(&mut self) {
        if self.parents_queue() {
            return; // the parent's queue: leaked, like after a restart
        }
        let shared = self.shared();
        lock(&shared.state).shutdown = true;
        shared.work.notify_one();
        let raw = self.shared.swap(std::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: `raw` came from `Arc::into_raw` in `start` and is released exactly once, here.
        drop(unsafe { Arc::from_raw(raw as *const Shared) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emit::memory::MemoryEmitter;

    #[test]
    fn flush_delivers_everything_queued() {
        let counters = Arc::new(Counters::default());
        let memory = Arc::new(MemoryEmitter::new(Arc::clone(&counters)));
        let bg = BackgroundEmitter::new(memory.clone(), 100_000, Arc::clone(&counters));
        for i in 0..10_000u32 {
            bg.emit(i.to_le_bytes().to_vec());
        }
        assert!(bg.flush(Duration::from_secs(30)));
        assert_eq!(memory.take_datagrams().len(), 10_000);
        assert_eq!(counters.snapshot().dropped, 0);
    }

    #[test]
    fn flush_on_caller_delivers_everything_queued() {
        let counters = Arc::new(Counters::default());
        let memory = Arc::new(MemoryEmitter::new(Arc::clone(&counters)));
        let bg = BackgroundEmitter::new(memory.clone(), 100_000, Arc::clone(&counters));
        for round in 0..50u32 {
            for i in 0..100u32 {
                bg.emit((round * 100 + i).to_le_bytes().to_vec());
            }
            assert!(bg.flush_on_caller(Duration::from_secs(30)));
            assert_eq!(bg.queued(), 0);
        }
        assert_eq!(memory.take_datagrams().len(), 5_000);
        assert!(bg.flush(Duration::from_secs(1)));
    }

    #[test]
    fn dropping_the_emitter_sends_what_is_queued_and_stops_the_thread() {
        let counters = Arc::new(Counters::default());
        let memory = Arc::new(MemoryEmitter::new(Arc::clone(&counters)));
        let bg = BackgroundEmitter::new(memory.clone(), 1000, Arc::clone(&counters));
        for _ in 0..100 {
            bg.emit(vec![1]);
        }
        drop(bg);
        // The sender holds the only other reference to `memory`; it lets go when it exits.
        while Arc::strong_count(&memory) > 1 {
            std::thread::yield_now();
        }
        assert_eq!(memory.take_datagrams().len(), 100);
    }

    #[test]
    fn sent_buffers_come_back_empty_for_reuse() {
        let counters = Arc::new(Counters::default());
        let memory = Arc::new(MemoryEmitter::new(Arc::clone(&counters)));
        let bg = BackgroundEmitter::new(memory.clone(), 100, Arc::clone(&counters));
        let mut buffer = bg.take_buffer();
        buffer.extend_from_slice(&[7u8; 1000]);
        let capacity = buffer.capacity();
        bg.emit(buffer);
        assert!(bg.flush(Duration::from_secs(30)));
        let reused = bg.take_buffer();
        assert!(reused.is_empty());
        assert_eq!(reused.capacity(), capacity);
        assert_eq!(memory.take_datagrams(), vec![vec![7u8; 1000]]);
    }

    #[test]
    fn emitting_sets_a_sent_buffer_aside_for_the_threads_next_datagram() {
        let counters = Arc::new(Counters::default());
        let memory = Arc::new(MemoryEmitter::new(Arc::clone(&counters)));
        let bg = BackgroundEmitter::new(memory.clone(), 100, Arc::clone(&counters));
        let _ = NEXT_BUFFER.with(|slot| slot.take());
        let mut first = bg.take_buffer();
        first.extend_from_slice(&[1u8; 1000]);
        let capacity = first.capacity();
        bg.emit(first);
        assert!(bg.flush(Duration::from_secs(30)));
        // The next emit moves the sent buffer from the shared spares to this thread...
        bg.emit(vec![2u8; 10]);
        assert!(lock(&bg.shared().state).spare.is_empty());
        // ...where the next datagram's buffer comes from.
        let next = bg.take_buffer();
        assert!(next.is_empty());
        assert_eq!(next.capacity(), capacity);
        assert!(bg.flush(Duration::from_secs(30)));
        assert_eq!(
            memory.take_datagrams(),
            vec![vec![1u8; 1000], vec![2u8; 10]]
        );
    }

    /// A fork while another thread holds the queue's lock: in the child, emitting (the
    /// parent's entities freed before the after-fork hooks) and flushing must not wait on it.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_forked_child_never_waits_on_the_parents_queue() {
        let counters = Arc::new(Counters::default());
        let memory = Arc::new(MemoryEmitter::new(Arc::clone(&counters)));
        let bg = Arc::new(BackgroundEmitter::new(memory, 100, counters));
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = {
            let bg = Arc::clone(&bg);
            std::thread::spawn(move || {
                let _guard = lock(&bg.shared().state);
                locked_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            })
        };
        locked_rx.recv().unwrap();
        // SAFETY: the child only calls the emitter under test and then _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            bg.emit(vec![1]);
            let ok = bg.flush(Duration::from_secs(1)) && bg.queued() == 0;
            bg.after_fork_child();
            bg.emit(vec![2]);
            let ok = ok && bg.flush(Duration::from_secs(30));
            unsafe { libc::_exit(if ok { 0 } else { 3 }) };
        }
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        // Hang guard only: a child stuck on the parent's lock never exits.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut status = 0;
        loop {
            let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if done == pid {
                break;
            }
            if Instant::now() > deadline {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!("the forked child hung on the parent's queue lock");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "status {status}"
        );
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let counters = Arc::new(Counters::default());
        let memory = Arc::new(MemoryEmitter::new(Arc::clone(&counters)));
        let bg = BackgroundEmitter::new(memory.clone(), 1, Arc::clone(&counters));
        for _ in 0..1000 {
            bg.emit(vec![1]);
        }
        assert!(bg.flush(Duration::from_secs(30)));
        let snap = counters.snapshot();
        assert_eq!(snap.sent + snap.dropped, 1000);
        assert_eq!(memory.take_datagrams().len() as u64, snap.sent);
    }
}
