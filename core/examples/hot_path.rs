//! The benchmark's hot path as a plain loop, for instruction counts that do not drift with
//! machine noise: `valgrind --tool=callgrind target/release/examples/hot_path 100000 [owned|segment|nested]`.

use std::sync::Arc;

use oxray_core::config::Config;
use oxray_core::model::JsonText;
use oxray_core::{AnnotationValue, Recorder};

#[path = "../benches/support/discard.rs"]
mod discard;
use discard::Discard;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let recorder = Recorder::with_emitter(Config::default(), |_| Arc::new(Discard::default()));
    let facade = recorder.lambda_facade(Some(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    ));
    let metadata = JsonText::parse(r#"{"order":"o-123","items":3}"#).expect("valid JSON");
    let start = std::time::Instant::now();
    if std::env::args().nth(2).as_deref() == Some("segment") {
        // Server mode: a segment per request continuing an incoming sampled header.
        let incoming = oxray_core::TraceHeader::parse(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        )
        .expect("valid header");
        let request = oxray_core::sampling::SamplingRequest::default();
        for _ in 0..n {
            let segment = recorder.begin_segment(Some("orders"), Some(&incoming), &request);
            let _ = segment.end();
        }
        return;
    }
    if std::env::args().nth(2).as_deref() == Some("nested") {
        // A chain of 10 nested subsegments (Node's nested-10 benchmark in the core): n / 10
        // chains, each level with an annotation and a metadata value, ended innermost first.
        for _ in 0..n / 10 {
            let mut chain = vec![facade.begin_subsegment("### m1")];
            for level in 2..=10 {
                let child = chain[chain.len() - 1].begin_subsegment(&format!("### m{level}"));
                chain.push(child);
            }
            for sub in chain.iter().rev() {
                let _ = sub.put_annotation_str("k", "v");
                let _ = sub.put_metadata_ref(None, "m", &metadata);
                let _ = sub.end();
            }
        }
        return;
    }
    // `owned` as the second argument: values handed over as owned strings (an allocation each
    // on the caller's side) instead of lent.
    let owned = std::env::args().nth(2).as_deref() == Some("owned");
    for _ in 0..n {
        let sub = facade.begin_subsegment("### process_order");
        if owned {
            let _ = sub.put_annotation("order_id", AnnotationValue::Str("o-123".into()));
            let _ = sub.put_metadata(None, "order", metadata.clone());
        } else {
            let _ = sub.put_annotation_str("order_id", "o-123");
            let _ = sub.put_metadata_ref(None, "order", &metadata);
        }
        let _ = sub.end();
    }
    let elapsed = start.elapsed();
    println!(
        "{n} subsegments, {:.0} ns each",
        elapsed.as_nanos() as f64 / n as f64
    );
}
