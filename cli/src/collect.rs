//! `oxray collect`: the daemon-compatible UDP listener.
//!
//! A receiving thread ([`crate::receive`]) checks each datagram's frame and document and
//! forwards the valid ones; this thread appends a record for every datagram to the JSONL file
//! ([`crate::store`]) — valid or not — and reassembles traces ([`crate::open_traces`]). Traces
//! idle for the configured time are printed as waterfalls; traces evicted by the caps are
//! printed too, with a note in the file. Invalid datagrams are reported on the diagnostics
//! stream with their reason (at most `reports_per_second`; the rest are counted and all are in
//! the file). Stopping (the `stop` flag, SIGINT/SIGTERM, or `exit_when_idle`) prints the traces
//! still open, flushes the file and prints the counters.

use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxray_core::time::now_micros;

use crate::assemble::Received;
use crate::forward::Forwarder;
use crate::open_traces::{CloseReason, Closed, Limits, OpenTraces};
use crate::receive::{receive_loop, Arrival};
use crate::socket::{self, DropCounter};
use crate::stats::{Stats, StatsSnapshot};
use crate::store::Store;
use crate::validate::Invalid;
use crate::waterfall::{self, Style};

/// Everything `oxray collect` can be told.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    pub listen: SocketAddr,
    pub out: PathBuf,
    pub limits: Limits,
    pub forward: Vec<SocketAddr>,
    /// Print no waterfalls (the file and the final counters only).
    pub quiet: bool,
    pub style: Style,
    /// Stop once nothing arrived for this long.
    pub exit_when_idle: Option<Duration>,
    /// Invalid-datagram reports printed per second at most.
    pub reports_per_second: u32,
}

impl Default for CollectOptions {
    fn default() -> Self {
        CollectOptions {
            listen: ([127, 0, 0, 1], 2000).into(),
            out: PathBuf::from("traces.jsonl"),
            limits: Limits::default(),
            forward: Vec::new(),
            quiet: false,
            style: Style::default(),
            exit_when_idle: None,
            reports_per_second: 20,
        }
    }
}

/// A bound collector, ready to run.
pub struct Collector {
    socket: UdpSocket,
    local: SocketAddr,
    store: Store,
    forwarder: Forwarder,
    options: CollectOptions,
    stats: Arc<Stats>,
}

impl Collector {
    /// Opens the output file, binds the socket and prepares the forward sockets.
    pub fn bind(options: CollectOptions) -> Result<Collector, String> {
        let store = Store::open(&options.out)
            .map_err(|e| format!("cannot open {}: {e}", options.out.display()))?;
        let socket = socket::bind(options.listen)
            .map_err(|e| format!("cannot listen on udp {}: {e}", options.listen))?;
        let local = socket
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?;
        let forwarder = Forwarder::new(&options.forward)
            .map_err(|e| format!("cannot open a socket to forward with: {e}"))?;
        Ok(Collector {
            socket,
            local,
            store,
            forwarder,
            options,
            stats: Arc::new(Stats::default()),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The live counters.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// Runs until `stop` is set, a stop signal arrives, or the idle exit time passes.
    /// Waterfalls go to `out`; reports and the summary to `diag`.
    pub fn run(
        self,
        stop: &AtomicBool,
        out: &mut dyn Write,
        diag: &mut dyn Write,
    ) -> StatsSnapshot {
        let Collector {
            socket,
            local,
            store,
            forwarder,
            options,
            stats,
        } = self;
        let drops = DropCounter::new(&socket);
        let tick =
            (options.limits.idle / 4).clamp(Duration::from_millis(10), Duration::from_millis(100));
        let forward_text = if options.forward.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = options.forward.iter().map(|a| a.to_string()).collect();
            format!("; forwarding valid datagrams to {}", list.join(", "))
        };
        let _ = writeln!(
            diag,
            "oxray collect: listening on udp {local}, appending to {}{forward_text}; a trace prints after {:.1} s idle. Stop with Ctrl-C.",
            options.out.display(),
            options.limits.idle.as_secs_f64()
        );
        let _ = diag.flush();
        let mut session = Session {
            open: OpenTraces::new(options.limits),
            store,
            stats: Arc::clone(&stats),
            seq: 0,
            reports_left: options.reports_per_second,
            store_failed: false,
            options,
        };
        let listen = local.to_string();
        let version = env!("CARGO_PKG_VERSION");
        let _ = session.store.note(
            now_micros(),
            "started",
            &[("listen", &listen), ("version", version)],
            &[],
        );

        let (to_session, arrivals) = sync_channel::<Vec<Arrival>>(256);
        let receiving = AtomicBool::new(true);
        std::thread::scope(|scope| {
            let (socket, forwarder, stats, receiving) = (&socket, &forwarder, &*stats, &receiving);
            scope
                .spawn(move || receive_loop(socket, forwarder, stats, to_session, receiving, tick));
            let mut last_tick = Instant::now();
            let mut last_datagram = Instant::now();
            let mut last_window = Instant::now();
            let mut last_flush = Instant::now();
            loop {
                if stop.load(Ordering::Relaxed) || crate::signal::requested() {
                    break;
                }
                match arrivals.recv_timeout(tick) {
                    Ok(batch) => {
                        last_datagram = Instant::now();
                        for arrival in batch {
                            session.handle(arrival, out, diag);
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                let now = Instant::now();
                if now.duration_since(last_flush) >= Duration::from_millis(50) {
                    session.flush_store(diag);
                    last_flush = now;
                }
                if now.duration_since(last_tick) < tick {
                    continue;
                }
                last_tick = now;
                for closed in session.open.expire(now) {
                    session.emit(closed, out);
                }
                if now.duration_since(last_window) >= Duration::from_secs(1) {
                    last_window = now;
                    session.end_report_window(diag);
                    if let Some(d) = drops.read() {
                        session.stats.kernel_drops.store(d, Ordering::Relaxed);
                    }
                }
                if let Some(limit) = session.options.exit_when_idle {
                    if now.duration_since(last_datagram) >= limit {
                        break;
                    }
                }
            }
            receiving.store(false, Ordering::Relaxed);
            // What was received before the stop is still recorded.
            for batch in arrivals.iter() {
                for arrival in batch {
                    session.handle(arrival, out, diag);
                }
            }
        });
        for closed in session.open.drain() {
            session.emit(closed, out);
        }
        if let Some(d) = drops.read() {
            session.stats.kernel_drops.store(d, Ordering::Relaxed);
        }
        session.end_report_window(diag);
        session
            .stats
            .record_cpu_micros
            .store(crate::stats::thread_cpu_micros(), Ordering::Relaxed);
        let snapshot = session.stats.snapshot();
        let _ = session
            .store
            .note(now_micros(), "stopped", &[], &snapshot.pairs());
        session.flush_store(diag);
        let _ = out.flush();
        let _ = writeln!(diag, "oxray collect: stopped. {}", snapshot.summary());
        let _ = writeln!(
            diag,
            "  show them again: oxray show {0}   filter: oxray show {0} --filter 'fault OR duration > 1'   graph: oxray map {0}",
            session.options.out.display()
        );
        let _ = diag.flush();
        snapshot
    }
}

/// The recording side of a running collector: the file, the open traces, the reports.
struct Session {
    open: OpenTraces,
    store: Store,
    stats: Arc<Stats>,
    options: CollectOptions,
    seq: u64,
    reports_left: u32,
    store_failed: bool,
}

impl Session {
    fn handle(&mut self, arrival: Arrival, out: &mut dyn Write, diag: &mut dyn Write) {
        match arrival {
            Arrival::Invalid {
                received_micros,
                from,
                invalid,
                raw,
                is_json,
                ..
            } => self.refuse(received_micros, from, &invalid, &raw, is_json, diag),
            Arrival::Checked {
                received_micros,
                at,
                from,
                body,
                judged,
            } => {
                let accepted = match judged.accept() {
                    Ok(a) => a,
                    Err(invalid) => {
                        Stats::bump(&self.stats.invalid_unreadable);
                        return self.refuse(received_micros, from, &invalid, &body, true, diag);
                    }
                };
                Stats::bump(&self.stats.accepted);
                if !accepted.warnings.is_empty() {
                    Stats::bump(&self.stats.accepted_with_warnings);
                    Stats::add(&self.stats.warnings, accepted.warnings.len() as u64);
                }
                let Some(trace_id) = accepted.entity.trace_id else {
                    return; // validation guarantees a trace id on the top entity
                };
                let id = accepted.entity.id;
                if let Err(e) = self.store.accepted(
                    received_micros,
                    from,
                    &body,
                    trace_id,
                    id,
                    &accepted.warnings,
                ) {
                    self.store_error(&e, diag);
                }
                self.seq += 1;
                let added = self.open.add(
                    trace_id,
                    Received {
                        seq: self.seq,
                        entity: accepted.entity,
                        warnings: accepted.warnings,
                        size: body.len(),
                    },
                    at,
                );
                if !added.kept {
                    Stats::bump(&self.stats.duplicates);
                }
                for closed in added.evicted {
                    self.emit(closed, out);
                }
            }
        }
    }

    fn refuse(
        &mut self,
        received: u64,
        from: SocketAddr,
        invalid: &Invalid,
        raw: &[u8],
        is_json: bool,
        diag: &mut dyn Write,
    ) {
        if let Err(e) = self.store.invalid(received, from, invalid, raw, is_json) {
            self.store_error(&e, diag);
        }
        if self.reports_left > 0 {
            self.reports_left -= 1;
            let ids = match (&invalid.trace_id, &invalid.id) {
                (Some(t), Some(i)) => format!(" (trace {t}, id {i})"),
                (Some(t), None) => format!(" (trace {t})"),
                _ => String::new(),
            };
            let _ = writeln!(
                diag,
                "invalid datagram from {from}{ids}: {} [{}]",
                invalid.reason,
                invalid.kind.as_str()
            );
        } else {
            Stats::bump(&self.stats.reports_suppressed);
        }
    }

    fn end_report_window(&mut self, diag: &mut dyn Write) {
        let shown = self.options.reports_per_second;
        if self.reports_left == 0 && shown > 0 {
            let _ = writeln!(
                diag,
                "(more invalid datagrams than {shown} a second: the rest are counted and recorded in {}, not printed)",
                self.options.out.display()
            );
        }
        self.reports_left = shown;
        let _ = diag.flush();
    }

    fn store_error(&mut self, e: &io::Error, diag: &mut dyn Write) {
        Stats::bump(&self.stats.store_errors);
        if !self.store_failed {
            self.store_failed = true;
            let _ = writeln!(diag, "cannot write {}: {e}", self.options.out.display());
        }
    }

    fn flush_store(&mut self, diag: &mut dyn Write) {
        if let Err(e) = self.store.flush() {
            self.store_error(&e, diag);
        }
    }

    fn emit(&mut self, closed: Closed, out: &mut dyn Write) {
        let trace = &closed.trace;
        if trace.notes.iter().any(|n| n.starts_with("late:")) {
            Stats::bump(&self.stats.traces_late);
        }
        let heading = match &closed.reason {
            CloseReason::Idle => {
                Stats::bump(&self.stats.traces_completed);
                None
            }
            CloseReason::Shutdown => {
                Stats::bump(&self.stats.traces_completed);
                Some("(printed at shutdown: may be incomplete)")
            }
            CloseReason::Evicted(why) => {
                Stats::bump(&self.stats.traces_evicted);
                let documents = trace.document_count() as u64;
                let trace_id = trace.trace_id.to_string();
                let _ = self.store.note(
                    now_micros(),
                    "evicted",
                    &[("trace_id", &trace_id), ("reason", why)],
                    &[("documents", documents)],
                );
                Some("(EVICTED: see the note below)")
            }
        };
        if self.options.quiet {
            return;
        }
        let text = waterfall::render(&trace.tree(), &self.options.style, heading);
        let _ = out.write_all(text.as_bytes());
        let _ = out.write_all(b"\n");
        let _ = out.flush();
    }
}
