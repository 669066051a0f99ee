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
}

impl Stats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl StatsSnapshot {
    /// All invalid datagrams.
    pub fn invalid(&self) -> u64 {
        self.invalid_frame + self.invalid_json + self.invalid_refused + self.invalid_unreadable
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        format!(
            "{} datagram(s): {} accepted ({} with warnings), {} invalid (frame {}, not JSON {}, refused {}), {} duplicate(s); {} trace(s) printed, {} evicted, {} late; {} forwarded ({} failed); kernel drops {}",
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
