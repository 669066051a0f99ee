//! One datagram through the collector's receiving path (`oxray collect`): frame check, fast
//! path or general rules, then the core's parser, then reassembly and the waterfall. Never
//! panics; every datagram is counted exactly once, as accepted-for-parsing or under one
//! invalid reason; an accepted entity round-trips (parse → format → parse is stable), and
//! what the core writes back is accepted again by the collector.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use oxray_cli::assemble::{Received, Trace};
use oxray_cli::forward::Forwarder;
use oxray_cli::receive::{judge, Arrival};
use oxray_cli::stats::Stats;
use oxray_cli::validate;
use oxray_cli::waterfall::{self, Style};
use oxray_core::id::TraceId;
use oxray_fuzz::assert_document_round_trip;

fn forwarder() -> &'static Forwarder {
    static F: OnceLock<Forwarder> = OnceLock::new();
    F.get_or_init(|| Forwarder::new(&[]).expect("a forwarder with no targets"))
}

fuzz_target!(|data: &[u8]| {
    oxray_fuzz::quiet();
    let stats = Stats::default();
    let from = ([127, 0, 0, 1], 40000).into();
    let arrival = judge(data, from, &stats, forwarder());
    let s = stats.snapshot();
    assert_eq!(s.datagrams, 1);
    assert_eq!(s.bytes, data.len() as u64);
    let invalid = s.invalid_frame + s.invalid_json + s.invalid_refused + s.invalid_unreadable;
    let judged = match arrival {
        Arrival::Invalid { invalid: why, .. } => {
            assert_eq!(invalid, 1, "{why:?}");
            assert!(!why.reason.is_empty());
            return;
        }
        Arrival::Checked { judged, body, .. } => {
            assert_eq!(invalid, 0);
            assert!(data.ends_with(&body));
            judged
        }
    };
    let Ok(accepted) = judged.accept() else {
        return;
    };
    let document = assert_document_round_trip(&accepted.entity);
    validate::accept_bytes(&document).unwrap_or_else(|e| {
        panic!(
            "the collector refuses what the core wrote ({e:?}): {}",
            String::from_utf8_lossy(&document)
        )
    });
    let trace_id = accepted.entity.trace_id.unwrap_or(TraceId {
        epoch: 1,
        random: 1,
    });
    let mut trace = Trace::new(trace_id);
    trace.add(Received {
        seq: 0,
        entity: accepted.entity,
        warnings: accepted.warnings,
        size: data.len(),
    });
    let _ = waterfall::render(&trace.tree(), &Style::default(), None);
});
