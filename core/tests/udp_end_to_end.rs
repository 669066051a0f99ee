//! End to end over real UDP on 127.0.0.1: a daemon-compatible listener receives the datagrams,
//! checks the frame, and the trace is reassembled from them.

mod common;

use std::time::Duration;

use oxray_core::config::{Config, DaemonAddress, EmitMode};
use oxray_core::model::{Exception, HttpRequest, JsonText, Namespace, StackFrame};
use oxray_core::sampling::SamplingRequest;
use oxray_core::{AnnotationValue, Recorder, TraceHeader};

const PARENT: &str = "53995c3f42cd8ad8";

fn header() -> String {
    format!("Root=1-5759e988-bd862e3fe1be46a994272793;Parent={PARENT};Sampled=1")
}

fn recorder_for(listener: &common::Listener, mode: EmitMode, queue: usize) -> Recorder {
    Recorder::new(Config {
        daemon: DaemonAddress {
            udp: listener.addr,
            tcp: listener.addr,
        },
        emit_mode: mode,
        queue_capacity: queue,
        lambda: true,
        ..Config::default()
    })
}

#[test]
fn a_lambda_invocation_arrives_as_one_trace() {
    let listener = common::Listener::start();
    let recorder = recorder_for(&listener, EmitMode::Background, 1024);
    let facade = recorder.lambda_facade(Some(&header()));
    let handler = facade.begin_subsegment("## index.handler");
    handler
        .put_annotation("ColdStart", AnnotationValue::Bool(true))
        .unwrap();
    handler
        .put_annotation("Service", AnnotationValue::Str("payment".into()))
        .unwrap();
    let call = handler.begin_subsegment("api.example.com");
    call.set_namespace(Some(Namespace::Remote)).unwrap();
    call.set_http_request(HttpRequest {
        method: Some("POST".into()),
        url: Some("http://api.example.com/charge".into()),
        traced: true,
        ..Default::default()
    })
    .unwrap();
    let downstream = call.outgoing_header();
    assert_eq!(downstream.parent, Some(call.id()));
    call.set_http_response(Some(502), Some(10)).unwrap();
    call.end().unwrap();
    let failing = handler.begin_subsegment("### charge");
    let mut e = Exception::new(Some("PaymentError".into()), Some("declined".into()));
    e.stack.push(StackFrame {
        path: Some("handler.py".into()),
        line: Some(42),
        label: Some("charge".into()),
    });
    let exception_id = failing.add_exception(e, Some("/var/task")).unwrap();
    failing.end().unwrap();
    handler.set_cause_exception_ref(exception_id).unwrap();
    handler
        .put_metadata(
            Some("payment"),
            "index.handler response",
            JsonText::parse("{\"ok\":false}").unwrap(),
        )
        .unwrap();
    handler.end().unwrap();
    assert!(recorder.flush(Duration::from_secs(10)));

    let docs = listener.wait_for(1);
    assert_eq!(listener.bad_frames(), 0);
    assert_eq!(
        docs.len(),
        1,
        "the handler embeds its closed children: one datagram"
    );
    for d in &docs {
        common::validate_document(d);
    }
    let roots = common::reassemble(&docs);
    let handler_node = &roots[PARENT][0];
    assert_eq!(handler_node.name(), "## index.handler");
    assert_eq!(handler_node.doc["type"], "subsegment");
    assert_eq!(
        handler_node.doc["trace_id"],
        "1-5759e988-bd862e3fe1be46a994272793"
    );
    assert_eq!(handler_node.doc["cause"], exception_id.to_string());
    assert_eq!(handler_node.doc["annotations"]["Service"], "payment");
    let call_node = handler_node.find("api.example.com").unwrap();
    assert_eq!(call_node.doc["fault"], true);
    assert_eq!(call_node.doc["namespace"], "remote");
    let charge = handler_node.find("### charge").unwrap();
    assert_eq!(charge.doc["cause"]["exceptions"][0]["message"], "declined");
    assert_eq!(recorder.counters().sent, 1);
}

#[test]
fn a_200_kb_metadata_value_arrives_within_the_bound() {
    let listener = common::Listener::start();
    let recorder = recorder_for(&listener, EmitMode::Udp, 1);
    let seg = recorder.begin_segment(
        Some("svc"),
        Some(&TraceHeader::parse(&header()).unwrap()),
        &SamplingRequest::default(),
    );
    let child = seg.begin_subsegment("big");
    let value = serde_json::json!({ "payload": "p".repeat(200 * 1024) });
    child
        .put_metadata(None, "blob", JsonText::from_value(&value))
        .unwrap();
    child
        .put_annotation("kept", AnnotationValue::Int(7))
        .unwrap();
    child.end().unwrap();
    seg.end().unwrap();
    let docs = listener.wait_for(1);
    assert_eq!(docs.len(), 1);
    let d = common::validate_document(&docs[0]);
    let big = &d["subsegments"][0];
    assert_eq!(big["annotations"]["kept"], 7);
    let marker = big["metadata"]["default"]["blob"].as_str().unwrap();
    assert!(marker.contains("…truncated (original"), "{marker:.100}");
    assert_eq!(recorder.counters().truncated, 1);
}

#[test]
fn eight_threads_times_ten_thousand_subsegments_all_arrive() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 10_000;
    let listener = common::Listener::start();
    let recorder = recorder_for(&listener, EmitMode::Background, THREADS * PER_THREAD);
    let facade = recorder.lambda_facade(Some(&header()));
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let facade = facade.clone();
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    let sub = facade.begin_subsegment(&format!("t{t} #{i}"));
                    sub.put_annotation("thread", AnnotationValue::Int(t as i64))
                        .unwrap();
                    sub.end().unwrap();
                }
            });
        }
    });
    assert!(recorder.flush(Duration::from_secs(60)));
    let counters = recorder.counters();
    assert_eq!(counters.dropped, 0, "{counters:?}");
    assert_eq!(counters.sent, (THREADS * PER_THREAD) as u64);
    let docs = listener.wait_for(THREADS * PER_THREAD);
    assert_eq!(docs.len(), THREADS * PER_THREAD, "received vs sent");
    let mut names = std::collections::HashSet::new();
    for (i, d) in docs.iter().enumerate() {
        // Full validation of a sample keeps the test fast; every one is parsed.
        let v: serde_json::Value = if i % 97 == 0 {
            common::validate_document(d)
        } else {
            serde_json::from_str(d).unwrap()
        };
        assert_eq!(v["parent_id"], PARENT);
        names.insert(v["name"].as_str().unwrap().to_string());
    }
    assert_eq!(
        names.len(),
        THREADS * PER_THREAD,
        "each subsegment exactly once"
    );
}

#[test]
fn a_daemon_that_is_down_costs_nothing_but_counts() {
    // Bind then drop: a port with nobody listening.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let recorder = Recorder::new(Config {
        daemon: DaemonAddress {
            udp: port,
            tcp: port,
        },
        emit_mode: EmitMode::Udp,
        // Every trace recorded (the default rules would take 1 per second, then 5%).
        sample_rate: Some(1.0),
        ..Config::default()
    });
    for _ in 0..50 {
        recorder
            .begin_segment(Some("svc"), None, &SamplingRequest::default())
            .end()
            .unwrap();
    }
    let c = recorder.counters();
    assert_eq!(c.sent + c.dropped, 50, "{c:?}");
}
