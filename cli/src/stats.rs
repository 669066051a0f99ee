//! The collector's counters: shared atomics, so a caller (a test, the bench, an embedding
//! binding) can watch progress while the collector runs on another thread.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Live counters (relaxed atomics).
        #[derive(Debug, Default)]
        pub struct Stats {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        /// A copy of the counters at one moment.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct StatsSnapshot {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl Stats {
            pub fn snapshot(&self) -> StatsSnapshot {
                StatsSnapshot {
                    $($name: self.$name.load(Ordering::Relaxed),)*
                }
            }
        }

        impl StatsSnapshot {
            /// `name value` pairs, in declaration order.
            pub fn pairs(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name),)*]
            }
        }
    };
}

counters! {
    /// Datagrams received.
    datagrams,
    /// Bytes received.
    bytes,
    /// Documents accepted (with or without warnings).
    accepted,
    /// Accepted documents that carry warnings.
    accepted_with_warnings,
    /// Warnings over all accepted documents.
    warnings,
    /// Datagrams whose frame (header line) was refused.
    invalid_frame,
    /// Documents that are not JSON objects.
    invalid_json,
    /// Documents the service would refuse (missing fields, bad ids).
    invalid_refused,
    /// Documents the core's parser refused after validation passed.
    invalid_unreadable,
    /// Documents received twice.
    duplicates,
    /// Traces printed once idle.
    traces_completed,
    /// Traces closed early to stay within the caps.
    traces_evicted,
    /// Traces printed again because documents arrived after they were printed.
    traces_late,
    /// Datagrams sent on by --forward (one per target).
    forwarded,
    /// Failed --forward sends.
    forward_errors,
    /// Failed writes to the JSONL file.
    store_errors,
    /// Failed socket receives.
    receive_errors,
    /// Datagrams the kernel dropped because the receive buffer was full (Linux only).
    kernel_drops,
    /// Invalid-datagram reports not printed (rate limit); each is in the file.
    reports_suppressed,
    /// CPU time used by the receiving thread (µs), set when it stops.
    receive_cpu_micros,
    /// CPU time used by the recording thread (µs), set when it stops.
    record_cpu_micros,
}

impl Stats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// CPU time the calling thread has used, in µs (0 where the platform does not tell).
pub fn thread_cpu_micros() -> u64 {
    #[cfg(unix)]
    {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid clock id and a pointer to a timespec we own.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0 {
            return t.tv_sec as u64 * 1_000_000 + t.tv_nsec as u64 / 1_000;
        }
    }
    0
}

impl StatsSnapshot {
    /// All invalid datagrams.
    pub fn invalid(&self) -> u64 {
        self.invalid_frame + self.invalid_json + self.invalid_refused + self.invalid_unreadable
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        let unwritten = if self.store_errors > 0 {
            format!("; {} failed write(s) to the file", self.store_errors)
        } else {
            String::new()
        };
        format!(
            "{} datagram(s): {} accepted ({} with warnings), {} invalid (frame {}, not JSON {}, refused {}), {} duplicate(s); {} trace(s) printed, {} evicted, {} late; {} forwarded ({} failed); kernel drops {}{unwritten}",
            self.datagrams,
            self.accepted,
            self.accepted_with_warnings,
            self.invalid(),
            self.invalid_frame,
            self.invalid_json,
            self.invalid_refused + self.invalid_unreadable,
            self.duplicates,
            self.traces_completed,
            self.traces_evicted,
            self.traces_late,
            self.forwarded,
            self.forward_errors,
            self.kernel_drops,
        )
    }
}
