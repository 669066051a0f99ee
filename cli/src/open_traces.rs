//! The traces the collector is still receiving, with bounded memory.
//!
//! A trace is complete once no document arrived for it during the idle time. Two caps bound
//! memory under load: the number of open traces and the bytes of their documents. When either
//! is exceeded the least recently active trace is closed early ("evicted") — its documents are
//! already in the JSONL file, so nothing is lost; the caller writes a note there and prints it.
//! A trace id seen again after its trace was closed opens a new trace marked as late.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use oxray_core::id::TraceId;

use crate::assemble::{Received, Trace};

/// How long a trace waits for more documents, and the memory caps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub idle: Duration,
    pub max_traces: usize,
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle: Duration::from_secs(1),
            max_traces: 10_000,
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Why a trace was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// Idle for the configured time: complete.
    Idle,
    /// Closed early to stay within a cap; the text says which.
    Evicted(String),
    /// The collector is stopping.
    Shutdown,
}

/// A trace leaving the table.
#[derive(Debug)]
pub struct Closed {
    pub trace: Trace,
    pub reason: CloseReason,
}

struct Open {
    trace: Trace,
    last_seq: u64,
    last_active: Instant,
}

/// Open traces by id, ordered by last activity.
pub struct OpenTraces {
    limits: Limits,
    traces: HashMap<TraceId, Open>,
    by_activity: BTreeMap<u64, TraceId>,
    bytes: usize,
    closed_ids: HashSet<TraceId>,
    closed_order: VecDeque<TraceId>,
}

/// What happened to one added document.
#[derive(Debug, Default)]
pub struct Added {
    /// False when the document duplicates one already received.
    pub kept: bool,
    /// Traces closed early to stay within the caps.
    pub evicted: Vec<Closed>,
}

impl OpenTraces {
    pub fn new(limits: Limits) -> OpenTraces {
        OpenTraces {
            limits,
            traces: HashMap::new(),
            by_activity: BTreeMap::new(),
            bytes: 0,
            closed_ids: HashSet::new(),
            closed_order: VecDeque::new(),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Open traces.
    pub fn len(&self) -> usize {
        self.traces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.traces.is_empty()
    }

    /// Bytes of the documents held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adds a document to its trace (opening it if needed), then evicts the least recently
    /// active traces while a cap is exceeded.
    pub fn add(&mut self, trace_id: TraceId, doc: Received, now: Instant) -> Added {
        let seq = doc.seq;
        let size = doc.size;
        let open = match self.traces.get_mut(&trace_id) {
            Some(open) => {
                self.by_activity.remove(&open.last_seq);
                open
            }
            None => {
                let mut trace = Trace::new(trace_id);
                if self.closed_ids.contains(&trace_id) {
                    trace.notes.push(format!(
                        "late: documents arrived after this trace was printed (idle time {:.1} s); shown again",
                        self.limits.idle.as_secs_f64()
                    ));
                }
                self.traces.entry(trace_id).or_insert(Open {
                    trace,
                    last_seq: seq,
                    last_active: now,
                })
            }
        };
        open.last_seq = seq;
        open.last_active = now;
        self.by_activity.insert(seq, trace_id);
        let kept = open.trace.add(doc);
        if kept {
            self.bytes += size;
        }
        let mut evicted = Vec::new();
        while self.traces.len() > self.limits.max_traces || self.bytes > self.limits.max_bytes {
            let why = if self.traces.len() > self.limits.max_traces {
                format!(
                    "evicted before it was complete: more than {} open traces",
                    self.limits.max_traces
                )
            } else {
                format!(
                    "evicted before it was complete: open traces held more than {} bytes",
                    self.limits.max_bytes
                )
            };
            match self.close_oldest(CloseReason::Evicted(why)) {
                Some(c) => evicted.push(c),
                None => break,
            }
        }
        Added { kept, evicted }
    }

    /// Closes every trace idle for at least the idle time, oldest first.
    pub fn expire(&mut self, now: Instant) -> Vec<Closed> {
        let mut out = Vec::new();
        while let Some((_, id)) = self.by_activity.first_key_value() {
            let idle_since = self.traces[id].last_active;
            if now.saturating_duration_since(idle_since) < self.limits.idle {
                break;
            }
            match self.close_oldest(CloseReason::Idle) {
                Some(c) => out.push(c),
                None => break,
            }
        }
        out
    }

    /// Closes everything (the collector is stopping), oldest first.
    pub fn drain(&mut self) -> Vec<Closed> {
        let mut out = Vec::new();
        while let Some(c) = self.close_oldest(CloseReason::Shutdown) {
            out.push(c);
        }
        out
    }

    fn close_oldest(&mut self, reason: CloseReason) -> Option<Closed> {
        let (_, id) = self.by_activity.pop_first()?;
        let open = self.traces.remove(&id)?;
        self.bytes -= open.trace.bytes;
        self.remember_closed(id);
        let mut trace = open.trace;
        if let CloseReason::Evicted(why) = &reason {
            trace.notes.push(why.clone());
        }
        Some(Closed { trace, reason })
    }

    /// Keeps the ids of as many recently closed traces as traces may be open (bounded).
    fn remember_closed(&mut self, id: TraceId) {
        if self.closed_ids.insert(id) {
            self.closed_order.push_back(id);
        }
        while self.closed_order.len() > self.limits.max_traces.max(1) {
            if let Some(old) = self.closed_order.pop_front() {
                self.closed_ids.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::accept_bytes;

    fn trace_id(n: u32) -> TraceId {
        TraceId {
            epoch: 0x5759e988,
            random: n as u128,
        }
    }

    fn doc(seq: u64, trace: TraceId, id: u64) -> Received {
        let text = format!(
            "{{\"name\":\"s\",\"id\":\"{id:016x}\",\"trace_id\":\"{}\",\"start_time\":1,\"end_time\":2}}",
            String::from_utf8_lossy(&trace.to_bytes())
        );
        let a = accept_bytes(text.as_bytes()).unwrap();
        Received {
            seq,
            entity: a.entity,
            warnings: a.warnings,
            size: 100,
        }
    }

    #[test]
    fn idle_traces_close_in_order_of_last_activity() {
        let t0 = Instant::now();
        let mut open = OpenTraces::new(Limits {
            idle: Duration::from_secs(1),
            ..Limits::default()
        });
        open.add(trace_id(1), doc(0, trace_id(1), 1), t0);
        open.add(
            trace_id(2),
            doc(1, trace_id(2), 2),
            t0 + Duration::from_millis(100),
        );
        open.add(
            trace_id(1),
            doc(2, trace_id(1), 3),
            t0 + Duration::from_millis(200),
        );
        assert!(open.expire(t0 + Duration::from_millis(1050)).is_empty());
        let closed = open.expire(t0 + Duration::from_millis(1150));
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].trace.trace_id, trace_id(2));
        assert_eq!(closed[0].reason, CloseReason::Idle);
        let closed = open.expire(t0 + Duration::from_millis(1250));
        assert_eq!(closed[0].trace.document_count(), 2);
        assert!(open.is_empty());
        assert_eq!(open.bytes(), 0);
    }

    #[test]
    fn the_trace_cap_evicts_the_least_recently_active() {
        let now = Instant::now();
        let mut open = OpenTraces::new(Limits {
            max_traces: 3,
            ..Limits::default()
        });
        let mut evicted = Vec::new();
        for n in 0..10u32 {
            let added = open.add(trace_id(n), doc(n as u64, trace_id(n), 1), now);
            assert!(added.kept);
            evicted.extend(added.evicted);
            assert!(open.len() <= 3);
        }
        let ids: Vec<u128> = evicted.iter().map(|c| c.trace.trace_id.random).collect();
        assert_eq!(ids, (0..7).collect::<Vec<u128>>());
        assert!(evicted[0].trace.notes[0].contains("more than 3 open traces"));
        let rest: Vec<u128> = open
            .drain()
            .iter()
            .map(|c| c.trace.trace_id.random)
            .collect();
        assert_eq!(rest, vec![7, 8, 9]);
    }

    #[test]
    fn the_byte_cap_evicts_too_and_late_documents_are_marked() {
        let now = Instant::now();
        let mut open = OpenTraces::new(Limits {
            max_bytes: 250,
            ..Limits::default()
        });
        open.add(trace_id(1), doc(0, trace_id(1), 1), now);
        open.add(trace_id(1), doc(1, trace_id(1), 2), now);
        let added = open.add(trace_id(2), doc(2, trace_id(2), 1), now);
        assert_eq!(added.evicted.len(), 1);
        assert!(added.evicted[0].trace.notes[0].contains("more than 250 bytes"));
        assert_eq!(open.bytes(), 100);
        // A duplicate is not counted twice.
        assert!(!open.add(trace_id(2), doc(3, trace_id(2), 1), now).kept);
        assert_eq!(open.bytes(), 100);
        let again = open.add(trace_id(1), doc(4, trace_id(1), 3), now);
        assert!(again.kept && again.evicted.is_empty());
        let rest = open.drain();
        assert_eq!(rest[0].trace.trace_id, trace_id(2));
        assert!(rest[0].trace.notes.is_empty());
        assert_eq!(rest[1].trace.trace_id, trace_id(1));
        assert!(rest[1].trace.notes[0].starts_with("late:"));
        assert_eq!(rest[1].reason, CloseReason::Shutdown);
    }
}
