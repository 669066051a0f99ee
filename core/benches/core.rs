//! Core benchmarks: the cost of one traced subsegment (begin + 1 annotation + 1 metadata + end +
//! serialize, excluding the send) and the cost of emitting a document next to a raw `send()`
//! of the same bytes to the same listener, in the same run.

use std::hint::black_box;
use std::net::UdpSocket;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use oxray_core::config::Config;
use oxray_core::emit::udp::UdpEmitter;
use oxray_core::emit::{Counters, Emitter};
use oxray_core::model::JsonText;
use oxray_core::{AnnotationValue, Recorder};

#[path = "support/discard.rs"]
mod discard;
use discard::Discard;

const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

fn subsegment(c: &mut Criterion) {
    let recorder = Recorder::with_emitter(Config::default(), |_| Arc::new(Discard::default()));
    let facade = recorder.lambda_facade(Some(HEADER));
    let metadata = JsonText::parse(r#"{"order":"o-123","items":3}"#).unwrap();
    // Values lent to the entity (copied into buffers its record recycles): what the C,
    // Python and Node bindings do.
    c.bench_function(
        "subsegment: begin + annotation + metadata + end + serialize",
        |b| {
            b.iter(|| {
                let sub = facade.begin_subsegment("### process_order");
                sub.put_annotation_str("order_id", "o-123").unwrap();
                sub.put_metadata_ref(None, "order", &metadata).unwrap();
                sub.end().unwrap();
            })
        },
    );
    // The same with values handed over as owned strings: the caller allocates one per value.
    c.bench_function(
        "subsegment, owned values: begin + annotation + metadata + end + serialize",
        |b| {
            b.iter(|| {
                let sub = facade.begin_subsegment("### process_order");
                sub.put_annotation("order_id", AnnotationValue::Str("o-123".into()))
                    .unwrap();
                sub.put_metadata(None, "order", metadata.clone()).unwrap();
                sub.end().unwrap();
            })
        },
    );
    let unsampled = recorder.lambda_facade(Some(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
    ));
    c.bench_function("subsegment, unsampled", |b| {
        b.iter(|| {
            let sub = unsampled.begin_subsegment("### process_order");
            sub.put_annotation("order_id", AnnotationValue::Str("o-123".into()))
                .unwrap();
            sub.end().unwrap();
        })
    });
}

fn emission(c: &mut Criterion) {
    let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        while listener.recv(&mut buf).is_ok() {}
    });
    // A typical ~400-byte subsegment document.
    let recorder = Recorder::in_memory();
    let facade = recorder.lambda_facade(Some(HEADER));
    let sub = facade.begin_subsegment("### process_order");
    sub.put_annotation("order_id", AnnotationValue::Str("o-123".into()))
        .unwrap();
    sub.put_metadata(
        None,
        "order",
        JsonText::parse(r#"{"order":"o-123","items":[1,2,3]}"#).unwrap(),
    )
    .unwrap();
    sub.end().unwrap();
    let mut datagram = oxray_core::DAEMON_HEADER.to_vec();
    datagram.extend_from_slice(recorder.take_documents()[0].as_bytes());

    let mut group = c.benchmark_group("emission per document");
    let emitter = UdpEmitter::new(addr, Arc::new(Counters::default()));
    let raw = UdpSocket::bind("127.0.0.1:0").unwrap();
    raw.connect(addr).unwrap();
    // Both loops hand the kernel a freshly cloned buffer, so the clone is in both or neither.
    group.bench_function("raw send() floor", |b| {
        b.iter(|| {
            let d = datagram.clone();
            raw.send(black_box(&d)).unwrap()
        })
    });
    group.bench_function("oxray UdpEmitter", |b| {
        b.iter(|| emitter.emit(datagram.clone()))
    });
    group.finish();
}

criterion_group!(benches, subsegment, emission);
criterion_main!(benches);
