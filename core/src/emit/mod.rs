//! Emission: where finished documents go.
//!
//! An [`Emitter`] takes complete datagrams (frame header + one document). [`udp::UdpEmitter`]
//! sends them to the daemon from the calling thread; [`background::BackgroundEmitter`] queues
//! them (bounded) for a sender thread, with a [`Emitter::flush`] that waits until everything
//! queued so far has been handed to the socket; [`memory::MemoryEmitter`] keeps them for tests.
//! Every emitter counts what it sent and dropped in the shared [`Counters`].

pub mod background;
pub mod fork;
pub mod memory;
pub mod udp;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Where finished datagrams go. Implementations never panic and never block for long.
pub trait Emitter: Send + Sync {
    /// Takes one datagram: [`crate::DAEMON_HEADER`] followed by one document.
    fn emit(&self, datagram: Vec<u8>);

    /// Sends a datagram from the calling thread before returning, bypassing any queue: a
    /// Lambda function's top-level document (a child of the facade), which must be out before
    /// the handler returns and Lambda freezes the process, also when no handler wrapper
    /// flushes at its end (the X-Ray SDKs send these at once too). Emitters without a queue
    /// just emit.
    fn emit_now(&self, datagram: Vec<u8>) {
        self.emit(datagram)
    }

    /// Sends a datagram the caller keeps (the background sender recycles its buffers).
    fn emit_borrowed(&self, datagram: &[u8]) {
        self.emit(datagram.to_vec())
    }

    /// Sends several datagrams the caller keeps. [`udp::UdpEmitter`] hands them to the kernel
    /// in as few system calls as it can (`sendmmsg`); others send them one by one.
    fn emit_batch_borrowed(&self, datagrams: &[Vec<u8>]) {
        for datagram in datagrams {
            self.emit_borrowed(datagram);
        }
    }

    /// An empty buffer to serialize the next datagram into. The background sender hands back
    /// buffers it has sent, so the producing thread does not allocate what another thread
    /// frees (glibc's allocator serializes such pairs on an arena lock).
    fn take_buffer(&self) -> Vec<u8> {
        Vec::with_capacity(512)
    }

    /// Waits until every datagram passed to `emit` before this call has been sent (or
    /// dropped and counted). Returns false if `timeout` passed first.
    fn flush(&self, _timeout: Duration) -> bool {
        true
    }

    /// Like [`Emitter::flush`], but a caller that has to wait anyway sends what is still
    /// queued itself instead of waking a sender thread and waiting for it (end of a Lambda
    /// invocation). Emitters without a queue just flush.
    fn flush_on_caller(&self, timeout: Duration) -> bool {
        self.flush(timeout)
    }

    /// Called in the child process after `fork()`: restart threads, forget the parent's queue.
    fn after_fork_child(&self) {}
}

/// Counters shared by a recorder and its emitters. Readable from every binding.
#[derive(Debug, Default)]
pub struct Counters {
    /// Datagrams handed to the socket (or memory) successfully.
    pub sent: AtomicU64,
    /// Datagrams lost: queue full, or the socket refused them.
    pub dropped: AtomicU64,
    /// Documents in which at least one value was truncated to fit the size bound.
    pub truncated: AtomicU64,
    /// Subsegments sent on their own because their parent's document would have overflowed
    /// (or their parent was still open at flush).
    pub streamed: AtomicU64,
    /// Socket errors seen (each also counted in `dropped` if the datagram was lost). Includes
    /// refusals ("port unreachable": nothing listens at the daemon address), which the kernel
    /// reports on a later send, for a datagram already counted in `sent`.
    pub send_errors: AtomicU64,
    /// Inputs the recorder corrected or refused (bad keys, bad values, context missing, …).
    pub warnings: AtomicU64,
    /// Failed calls to the daemon's sampling proxy (centralized sampling): refused, timed
    /// out, non-2xx, or an unreadable answer. Sampling goes on with cached or local rules.
    pub sampling_errors: AtomicU64,
}

/// A point-in-time copy of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountersSnapshot {
    pub sent: u64,
    pub dropped: u64,
    pub truncated: u64,
    pub streamed: u64,
    pub send_errors: u64,
    pub warnings: u64,
    pub sampling_errors: u64,
}

impl Counters {
    pub fn snapshot(&self) -> CountersSnapshot {
        CountersSnapshot {
            sent: self.sent.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            truncated: self.truncated.load(Ordering::Relaxed),
            streamed: self.streamed.load(Ordering::Relaxed),
            send_errors: self.send_errors.load(Ordering::Relaxed),
            warnings: self.warnings.load(Ordering::Relaxed),
            sampling_errors: self.sampling_errors.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn bump(counter: &AtomicU64) -> u64 {
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// True for the 1st, 2nd, … 10th, then every 1000th occurrence: how often a repeated
/// problem is logged, so a dead daemon does not flood the log.
pub(crate) fn worth_logging(occurrence: u64) -> bool {
    occurrence <= 10 || occurrence % 1000 == 0
}
