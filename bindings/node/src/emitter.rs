//! The emitter behind `emit_mode: "background"`: the core's sender thread, with back-pressure
//! instead of loss, and the end of an invocation sent from the caller.
//!
//! A traced call hands its finished document to the core's [`BackgroundEmitter`] queue and
//! returns; the sender thread makes the `send()`. If calls produce documents faster than the
//! thread sends them (thousands of streamed subsegments in one invocation), the queue would
//! fill and the core would drop documents; here, once the queue is half full, the calling
//! thread sends what is queued itself before going on (a batch the sender thread is sending at
//! that moment may then arrive after some later documents: the daemon does not mind).
//!
//! At the end of a Lambda invocation the handler has to wait until everything left anyway, so
//! [`QueueWithBackpressure::on_caller`] sends the documents made meanwhile (the handler's own,
//! in-progress ones) straight from the caller, and drains the queue there too: the common
//! invocation, whose subsegments all fit in the handler's document, never touches the queue
//! nor wakes the sender thread.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use oxray_core::emit::background::BackgroundEmitter;
use oxray_core::{Counters, Emitter};

/// How long a caller that drains the queue waits for a batch the sender thread already took.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// The queue length is checked at most once every this many documents (it takes its lock).
const MAX_CHECK_EVERY: usize = 64;

pub struct QueueWithBackpressure {
    queue: BackgroundEmitter,
    /// Where the sender thread sends; used directly inside [`QueueWithBackpressure::on_caller`].
    inner: Arc<dyn Emitter>,
    /// The caller drains the queue when it holds this many documents (half its capacity)…
    high_water: usize,
    /// …checked every this many documents (a quarter of the capacity at most), so the queue
    /// never reaches its capacity.
    check_every: usize,
    emitted: AtomicUsize,
    /// Set while the owning JavaScript thread sends from its own thread.
    direct: AtomicBool,
}

impl QueueWithBackpressure {
    /// A queue of at most `capacity` documents in front of `inner`.
    pub fn new(inner: Arc<dyn Emitter>, capacity: usize, counters: Arc<Counters>) -> Self {
        let capacity = capacity.max(1);
        QueueWithBackpressure {
            queue: BackgroundEmitter::new(Arc::clone(&inner), capacity, counters),
            inner,
            high_water: (capacity / 2).max(1),
            check_every: (capacity / 4).clamp(1, MAX_CHECK_EVERY),
            emitted: AtomicUsize::new(0),
            direct: AtomicBool::new(false),
        }
    }

    /// Runs `f` with every document it produces sent from the calling thread, then sends what
    /// is still queued from it as well (waiting at most `timeout` for a batch the sender thread
    /// took before). Returns false on that timeout.
    ///
    /// Documents of other threads sharing this recorder (none in Node: a recorder belongs to one
    /// JavaScript thread) would be sent directly too while `f` runs, which is harmless.
    pub fn on_caller(&self, timeout: Duration, f: impl FnOnce()) -> bool {
        self.direct.store(true, Ordering::Relaxed);
        f();
        self.direct.store(false, Ordering::Relaxed);
        self.queue.flush_on_caller(timeout)
    }
}

impl Emitter for QueueWithBackpressure {
    fn emit(&self, datagram: Vec<u8>) {
        if self.direct.load(Ordering::Relaxed) {
            self.inner.emit(datagram);
            return;
        }
        self.queue.emit(datagram);
        let n = self.emitted.fetch_add(1, Ordering::Relaxed);
        if n % self.check_every == self.check_every - 1 && self.queue.queued() >= self.high_water {
            self.queue.flush_on_caller(DRAIN_TIMEOUT);
        }
    }

    fn emit_now(&self, datagram: Vec<u8>) {
        self.inner.emit(datagram);
    }

    fn take_buffer(&self) -> Vec<u8> {
        self.queue.take_buffer()
    }

    fn flush(&self, timeout: Duration) -> bool {
        self.queue.flush(timeout)
    }

    fn flush_on_caller(&self, timeout: Duration) -> bool {
        self.queue.flush_on_caller(timeout)
    }

    fn after_fork_child(&self) {
        self.queue.after_fork_child();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxray_core::emit::memory::MemoryEmitter;

    #[test]
    fn a_burst_larger_than_the_queue_loses_nothing() {
        let counters = Arc::new(Counters::default());
        let memory = Arc::new(MemoryEmitter::new(Arc::clone(&counters)));
        let emitter = QueueWithBackpressure::new(memory.clone(), 256, Arc::clone(&counters));
        for i in 0..20_000u32 {
            emitter.emit(i.to_le_bytes().to_vec());
        }
        assert!(emitter.flush(Duration::from_secs(30)));
        let sent = memory.take_datagrams();
        assert_eq!(sent.len(), 20_000);
        assert_eq!(counters.snapshot().dropped, 0);
        let mut seen: Vec<u32> = sent
            .iter()
            .map(|d| u32::from_le_bytes([d[0], d[1], d[2], d[3]]))
            .collect();
        seen.sort_unstable();
        assert!(seen.iter().copied().eq(0..20_000));
    }

    #[test]
    fn on_caller_sends_from_the_caller_and_drains_the_queue() {
        let counters = Arc::new(Counters::default());
        let memory = Arc::new(MemoryEmitter::new(Arc::clone(&counters)));
        let emitter = QueueWithBackpressure::new(memory.clone(), 1000, Arc::clone(&counters));
        emitter.emit(vec![1]);
        assert!(emitter.on_caller(Duration::from_secs(30), || emitter.emit(vec![2])));
        let mut sent = memory.take_datagrams();
        sent.sort();
        assert_eq!(sent, vec![vec![1], vec![2]]);
        assert_eq!(emitter.queue.queued(), 0);
        // Afterwards documents are queued again.
        emitter.emit(vec![3]);
        assert!(emitter.flush(Duration::from_secs(30)));
        assert_eq!(memory.take_datagrams(), vec![vec![3]]);
    }
}
