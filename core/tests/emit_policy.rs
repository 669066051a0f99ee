//! The emit policy and the size bound, observed through a memory-mode recorder.

mod common;

use std::time::Duration;

use oxray_core::config::{Config, EmitMode};
use oxray_core::model::{Exception, HttpRequest, IncomingRequest, JsonText, StackFrame};
use oxray_core::sampling::SamplingRequest;
use oxray_core::{AnnotationValue, ContextMissing, Recorder, TraceError, TraceHeader};
use serde_json::Value;

const HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

fn recorder_with(f: impl FnOnce(&mut Config)) -> Recorder {
    let mut c = Config {
        emit_mode: EmitMode::Memory,
        ..Config::default()
    };
    f(&mut c);
    Recorder::new(c)
}

#[test]
fn children_beyond_the_count_bound_are_streamed() {
    let r = recorder_with(|c| c.max_embedded_children = 3);
    let seg = r.begin_segment(Some("svc"), None, &SamplingRequest::default());
    for i in 0..10 {
        seg.begin_subsegment(&format!("child {i}")).end().unwrap();
    }
    seg.end().unwrap();
    let docs = common::validated(&r);
    // 7 streamed on their own, then the segment with 3 embedded.
    assert_eq!(docs.len(), 8);
    let seg_doc = docs.last().unwrap();
    assert_eq!(seg_doc["subsegments"].as_array().unwrap().len(), 3);
    for d in &docs[..7] {
        assert_eq!(d["type"], "subsegment");
        assert_eq!(d["parent_id"], seg_doc["id"]);
    }
    assert_eq!(r.counters().streamed, 7);
    let tree = common::reassemble(&r.take_documents());
    assert!(tree.is_empty());
}

/// Levels of `subsegments` nesting below `doc`.
fn nesting(doc: &Value) -> usize {
    doc["subsegments"]
        .as_array()
        .map_or(0, |subs| 1 + subs.iter().map(nesting).max().unwrap_or(0))
}

#[test]
fn a_deep_chain_is_cut_into_documents_receivers_can_parse() {
    let r = recorder_with(|_| {});
    let seg = r.begin_segment(Some("svc"), None, &SamplingRequest::default());
    let mut chain = vec![seg.clone()];
    for i in 0..100 {
        let child = chain
            .last()
            .unwrap()
            .begin_subsegment(&format!("level {i}"));
        chain.push(child);
    }
    while let Some(entity) = chain.pop() {
        entity.end().unwrap();
    }
    // validate_document parses with serde_json's default recursion limit (128), as the
    // collector does.
    let docs = common::validated(&r);
    assert!(docs.len() > 1, "a 100-deep chain needs several documents");
    assert!(
        docs.iter().all(|d| nesting(d) <= 24),
        "{:?}",
        docs.iter().map(nesting).collect::<Vec<_>>()
    );
    let mut names = Vec::new();
    fn collect(doc: &Value, names: &mut Vec<String>) {
        names.push(doc["name"].as_str().unwrap().to_string());
        for sub in doc["subsegments"].as_array().into_iter().flatten() {
            collect(sub, names);
        }
    }
    for d in &docs {
        collect(d, &mut names);
    }
    names.sort();
    let mut expected: Vec<String> = (0..100).map(|i| format!("level {i}")).collect();
    expected.push("svc".into());
    expected.sort();
    assert_eq!(names, expected, "every entity exactly once");
}

#[test]
fn big_children_are_streamed_by_size_and_nothing_exceeds_the_bound() {
    let r = Recorder::in_memory();
    let seg = r.begin_segment(Some("svc"), None, &SamplingRequest::default());
    let blob = JsonText::parse(&format!("\"{}\"", "x".repeat(20_000))).unwrap();
    for i in 0..20 {
        let c = seg.begin_subsegment(&format!("c{i}"));
        c.put_metadata(None, "blob", blob.clone()).unwrap();
        c.end().unwrap();
    }
    seg.end().unwrap();
    let raw = r.take_documents();
    for d in &raw {
        assert!(d.len() <= oxray_core::MAX_DOCUMENT_BYTES);
        common::validate_document(d);
    }
    let roots = common::reassemble(&raw);
    let root = &roots[""][0];
    assert_eq!(
        root.children.len(),
        20,
        "every child arrives, reassembled under the segment"
    );
    assert_eq!(
        r.counters().truncated,
        0,
        "children are streamed, not truncated"
    );
}

#[test]
fn an_entity_too_big_on_its_own_is_truncated_with_a_marker_never_dropped() {
    let r = Recorder::in_memory();
    let seg = r.begin_segment(Some("svc"), None, &SamplingRequest::default());
    seg.put_metadata(
        None,
        "huge",
        JsonText::parse(&format!("\"{}\"", "y".repeat(200_000))).unwrap(),
    )
    .unwrap();
    seg.put_metadata(None, "small", JsonText::parse("{\"keep\":true}").unwrap())
        .unwrap();
    let mut e = Exception::new(Some("Boom".into()), Some("deep".into()));
    e.stack = (0..5000)
        .map(|i| StackFrame {
            path: Some(format!("/very/long/path/to/module_{i}.py")),
            line: Some(i),
            label: Some(format!("function_{i}")),
        })
        .collect();
    seg.add_exception(e, None).unwrap();
    seg.end().unwrap();
    let docs = common::validated(&r);
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    let huge = d["metadata"]["default"]["huge"].as_str().unwrap();
    assert!(
        huge.contains("…truncated (original 200002 bytes)"),
        "{huge:.80}"
    );
    assert_eq!(d["metadata"]["default"]["small"]["keep"], true);
    let ex = &d["cause"]["exceptions"][0];
    let kept = ex["stack"].as_array().map_or(0, Vec::len);
    assert_eq!(kept as u64 + ex["truncated"].as_u64().unwrap(), 5000);
    assert_eq!(r.counters().truncated, 1);
}

#[test]
fn thousands_of_annotations_still_fit() {
    let r = Recorder::in_memory();
    let seg = r.begin_segment(Some("svc"), None, &SamplingRequest::default());
    for i in 0..5000 {
        seg.put_annotation(&format!("key_{i}"), AnnotationValue::Str("v".repeat(100)))
            .unwrap();
    }
    seg.end().unwrap();
    let docs = common::validated(&r);
    assert!(docs[0]["metadata"]["oxray"]["annotations"]
        .as_str()
        .unwrap()
        .contains("truncated"));
}

#[test]
fn dropping_an_open_entity_sends_it_in_progress_with_its_children() {
    let r = Recorder::in_memory();
    let seg = r.begin_segment(Some("svc"), None, &SamplingRequest::default());
    let open = seg.begin_subsegment("forgotten");
    open.begin_subsegment("finished").end().unwrap();
    drop(open);
    seg.end().unwrap();
    let raw = r.take_documents();
    for d in &raw {
        common::validate_document(d);
    }
    let roots = common::reassemble(&raw);
    let root = &roots[""][0];
    let forgotten = root.find("forgotten").expect("forgotten arrives");
    assert_eq!(forgotten.doc["in_progress"], true);
    assert_eq!(forgotten.children[0].name(), "finished");
}

#[test]
fn ended_entities_refuse_changes_and_count_a_warning() {
    let r = Recorder::in_memory();
    let seg = r.begin_segment(Some("svc"), None, &SamplingRequest::default());
    seg.end().unwrap();
    let before = r.counters().warnings;
    assert_eq!(seg.end(), Err(TraceError::AlreadyEnded));
    assert_eq!(
        seg.put_annotation("k", AnnotationValue::Bool(true)),
        Err(TraceError::AlreadyEnded)
    );
    assert!(r.counters().warnings >= before + 2);
    assert_eq!(r.take_documents().len(), 1);
}

#[test]
fn bad_values_are_errors_or_corrected_never_invalid_json() {
    let r = Recorder::in_memory();
    let seg = r.begin_segment(Some("svc"), None, &SamplingRequest::default());
    assert!(matches!(
        seg.put_annotation("", AnnotationValue::Int(1)),
        Err(TraceError::InvalidArgument(_))
    ));
    seg.put_annotation("nan", AnnotationValue::Float(f64::NAN))
        .unwrap();
    seg.put_annotation("inf", AnnotationValue::Float(f64::INFINITY))
        .unwrap();
    seg.put_annotation("long", AnnotationValue::Str("z".repeat(5000)))
        .unwrap();
    assert!(matches!(
        seg.put_metadata_json(None, "x", "NaN"),
        Err(TraceError::InvalidJson(_))
    ));
    assert!(matches!(
        seg.put_metadata_json(None, "x", "{\"a\":"),
        Err(TraceError::InvalidJson(_))
    ));
    assert!(matches!(
        seg.put_metadata_json(Some("AWS.xray"), "x", "1"),
        Err(TraceError::ReservedNamespace(_))
    ));
    seg.put_metadata_json(Some("ok"), "quote\"key\n", "\"v\"")
        .unwrap();
    seg.end().unwrap();
    let d = &common::validated(&r)[0];
    assert_eq!(d["annotations"]["nan"], "NaN");
    assert_eq!(d["annotations"]["inf"], "inf");
    assert_eq!(d["annotations"]["long"].as_str().unwrap().len(), 1000);
    assert_eq!(d["metadata"]["ok"]["quote\"key\n"], "v");
    assert!(d["metadata"].get("AWS.xray").is_none());
}

#[test]
fn lent_values_are_checked_like_owned_ones_and_recycled_records_keep_none_of_them() {
    let r = Recorder::in_memory();
    let seg = r.begin_segment(Some("svc"), None, &SamplingRequest::default());
    let value = JsonText::parse(r#"{"order":"o-1","items":[1,2]}"#).unwrap();
    // Several subsegments in turn: each begins in the record the previous one gave back, so
    // a value or key surviving recycling would show up in a later document.
    for i in 0..5 {
        let sub = seg.begin_subsegment(&format!("step {i}"));
        if i == 0 {
            assert!(matches!(
                sub.put_annotation_str("", "v"),
                Err(TraceError::InvalidArgument(_))
            ));
            assert!(matches!(
                sub.put_metadata_ref(Some("AWS.x"), "k", &value),
                Err(TraceError::ReservedNamespace(_))
            ));
            assert!(matches!(
                sub.put_metadata_trusted_text(Some("AWS.x"), "k", "1"),
                Err(TraceError::ReservedNamespace(_))
            ));
            sub.put_annotation_str("bad key!", "q\"uote\n").unwrap();
            sub.put_annotation_str("long", &"é".repeat(1500)).unwrap();
            sub.put_metadata_ref(None, "order", &value).unwrap();
            sub.put_metadata_trusted_text(Some("ns"), "n", "42")
                .unwrap();
            // Replacing a value keeps one entry.
            sub.put_annotation_str("long", "short").unwrap();
        } else {
            sub.put_annotation_str("i", &i.to_string()).unwrap();
        }
        sub.end().unwrap();
    }
    seg.end().unwrap();
    let d = &common::validated(&r)[0];
    let subs = d["subsegments"].as_array().unwrap();
    assert_eq!(subs.len(), 5);
    let first = &subs[0];
    assert_eq!(first["annotations"]["bad_key_"], "q\"uote\n");
    assert_eq!(first["annotations"]["long"], "short");
    assert_eq!(first["annotations"].as_object().unwrap().len(), 2);
    assert_eq!(first["metadata"]["default"]["order"]["items"][1], 2);
    assert_eq!(first["metadata"]["ns"]["n"], 42);
    assert!(first["metadata"].get("AWS.x").is_none());
    for (i, sub) in subs.iter().enumerate().skip(1) {
        assert_eq!(
            sub["annotations"],
            serde_json::json!({ "i": i.to_string() })
        );
        assert!(sub.get("metadata").is_none(), "{sub}");
    }
    // A value longer than 1,000 characters is cut to 1,000 (characters, not bytes).
    let r = Recorder::in_memory();
    let seg = r.begin_segment(Some("svc"), None, &SamplingRequest::default());
    seg.put_annotation_str("long", &"é".repeat(1500)).unwrap();
    seg.end().unwrap();
    let d = &common::validated(&r)[0];
    assert_eq!(
        d["annotations"]["long"].as_str().unwrap().chars().count(),
        1000
    );
}

#[test]
fn a_segment_begun_in_a_recycled_record_carries_nothing_of_the_previous_one() {
    // Segments, like subsegments, begin in the record an ended entity gave back (a server
    // begins one per request): the second and third segments must show none of the first's.
    let r = Recorder::in_memory();
    for i in 0..3 {
        let name = format!("svc {i}");
        let seg = r.begin_segment(Some(&name), None, &SamplingRequest::default());
        if i == 0 {
            let request = HttpRequest {
                method: Some("POST".into()),
                url: Some("http://h/x".into()),
                user_agent: Some("ua".into()),
                client_ip: Some("192.0.2.1".into()),
                x_forwarded_for: true,
                traced: false,
            };
            seg.set_http_request(request).unwrap();
            seg.set_http_response(Some(503), Some(7)).unwrap();
            seg.put_annotation_str("k", "v").unwrap();
            seg.put_metadata_json(Some("ns"), "m", "1").unwrap();
        }
        seg.end().unwrap();
    }
    let docs = common::validated(&r);
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[0]["http"]["response"]["status"], 503);
    assert_eq!(docs[0]["fault"], true);
    for (i, d) in docs.iter().enumerate().skip(1) {
        assert_eq!(d["name"], format!("svc {i}"));
        for key in [
            "http",
            "annotations",
            "metadata",
            "fault",
            "error",
            "throttle",
            "end_time",
        ] {
            if key == "end_time" {
                assert!(d[key].as_f64().unwrap() >= d["start_time"].as_f64().unwrap());
            } else {
                assert!(d.get(key).is_none(), "{key} in {d}");
            }
        }
        assert_eq!(
            d["aws"], docs[0]["aws"],
            "the SDK's own fields, as for any segment"
        );
    }
}

#[test]
fn incoming_requests_are_written_into_recycled_buffers_and_keep_nothing_of_the_previous_one() {
    // A server's segments record `http.request` through set_incoming_request, in the buffers
    // the record kept from its previous request: each document shows only its own request.
    let r = Recorder::in_memory();
    let long_agent = "é".repeat(300);
    let requests = [
        IncomingRequest {
            method: Some("post"),
            url: Some(["https", "shop.example:8443", "/orders/42"]),
            user_agent: Some(&long_agent),
            forwarded_for: Some("203.0.113.9, 10.0.0.1"),
            peer: Some("10.0.0.2"),
        },
        // Fewer fields than the one before: what it had must not show through.
        IncomingRequest {
            method: Some("GET"),
            url: None,
            user_agent: None,
            forwarded_for: None,
            peer: Some("192.0.2.1"),
        },
        IncomingRequest::default(),
    ];
    for (i, request) in requests.iter().enumerate() {
        let seg = r.begin_segment(Some(&format!("svc {i}")), None, &SamplingRequest::default());
        seg.set_incoming_request(request).unwrap();
        let child = seg.begin_subsegment("downstream");
        child.set_incoming_request(request).unwrap();
        child.end().unwrap();
        seg.end().unwrap();
    }
    // A segment that records no request, in a record that held one.
    r.begin_segment(Some("svc 3"), None, &SamplingRequest::default())
        .end()
        .unwrap();
    let docs = common::validated(&r);
    assert_eq!(docs.len(), 4);
    let first = &docs[0]["http"]["request"];
    assert_eq!(first["method"], "POST");
    assert_eq!(first["url"], "https://shop.example:8443/orders/42");
    assert_eq!(first["client_ip"], "203.0.113.9");
    assert_eq!(first["x_forwarded_for"], true);
    let agent = first["user_agent"].as_str().unwrap();
    assert_eq!(
        agent.chars().count(),
        250,
        "cut to the schema's 250 characters"
    );
    assert!(agent.chars().all(|c| c == 'é'));
    // x_forwarded_for is a segment-only field (PROTOCOL.md §1.10).
    let child = &docs[0]["subsegments"][0]["http"]["request"];
    assert_eq!(child["method"], "POST");
    assert!(child.get("x_forwarded_for").is_none(), "{child}");
    let second = &docs[1]["http"]["request"];
    assert_eq!(
        second,
        &serde_json::json!({"method": "GET", "client_ip": "192.0.2.1"})
    );
    assert_eq!(docs[2]["http"]["request"], serde_json::json!({}));
    assert!(docs[3].get("http").is_none(), "{}", docs[3]);
}

#[test]
fn the_lambda_facade_is_read_only_and_never_sent() {
    let r = Recorder::in_memory();
    let facade = r.lambda_facade(Some(HEADER));
    assert!(facade.put_annotation("k", AnnotationValue::Int(1)).is_err());
    let again = r.lambda_facade(Some(HEADER));
    assert!(again.same_as(&facade), "one facade per invocation header");
    facade.end().unwrap();
    assert!(r.flush(Duration::from_secs(1)));
    assert!(r.take_documents().is_empty());
}

#[test]
fn lambda_without_a_usable_header_traces_nothing() {
    let r = Recorder::in_memory();
    for header in ["Root=1-5759e988-bd862e3fe1be46a994272793", "garbage", ""] {
        let facade = r.lambda_facade(Some(header));
        assert!(!facade.is_sampled(), "{header}");
        facade.begin_subsegment("## handler").end().unwrap();
    }
    assert!(r.take_documents().is_empty());
}

#[test]
fn a_header_with_only_root_keeps_its_trace_downstream_unsampled() {
    let r = Recorder::in_memory();
    let facade = r.lambda_facade(Some("Root=1-5759e988-bd862e3fe1be46a994272793"));
    assert!(!facade.is_sampled());
    assert_eq!(
        facade.trace_id().to_string(),
        "1-5759e988-bd862e3fe1be46a994272793"
    );
    let call = facade
        .begin_subsegment("## handler")
        .begin_subsegment("api.example.com");
    assert_eq!(
        call.outgoing_header().to_string(),
        format!(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent={};Sampled=0",
            call.id()
        )
    );
    // Without a Root there is no trace to keep: a new one, still unsampled.
    let rootless = r.lambda_facade(Some("Parent=53995c3f42cd8ad8;Sampled=1"));
    assert!(!rootless.is_sampled());
    assert_ne!(rootless.trace_id(), facade.trace_id());
}

#[test]
fn outgoing_headers_propagate_lineage_and_drop_self() {
    let r = Recorder::in_memory();
    let incoming = TraceHeader::parse(
        "Self=1-67891233-12456789abcdef012345678;Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1;App=x",
    )
    .unwrap();
    let seg = r.begin_segment(Some("svc"), Some(&incoming), &SamplingRequest::default());
    let child = seg.begin_subsegment("call");
    assert_eq!(
        child.outgoing_header().to_string(),
        format!(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent={};Sampled=1;Lineage=a87bd80c:1;App=x",
            child.id()
        )
    );
    assert_eq!(
        TraceHeader::response(Some(&incoming), seg.trace_id(), true),
        "Root=1-5759e988-bd862e3fe1be46a994272793"
    );
    // Subsegments reach the trace's header through their parents (and the copy kept every
    // 24 levels): at every depth of a long chain they still propagate it, and report it.
    let mut deepest = child.clone();
    for depth in 2..=60 {
        deepest = deepest.begin_subsegment(&format!("level {depth}"));
        assert_eq!(
            deepest.outgoing_header().to_string(),
            format!(
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent={};Sampled=1;Lineage=a87bd80c:1;App=x",
                deepest.id()
            ),
            "at depth {depth}"
        );
        assert_eq!(deepest.incoming_header(), Some(&incoming));
    }
    let asked = TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?").unwrap();
    assert_eq!(
        TraceHeader::response(Some(&asked), seg.trace_id(), false),
        "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0"
    );
}

#[test]
fn context_missing_strategies() {
    let r = recorder_with(|c| c.context_missing = ContextMissing::LogError);
    assert!(r.context_missing("put_annotation").is_ok());
    assert_eq!(r.counters().warnings, 1);
    let r = recorder_with(|c| c.context_missing = ContextMissing::IgnoreError);
    assert!(r.context_missing("put_annotation").is_ok());
    let r = recorder_with(|c| c.context_missing = ContextMissing::RuntimeError);
    assert!(matches!(
        r.context_missing("put_annotation"),
        Err(TraceError::ContextMissing(_))
    ));
}

#[test]
fn disabled_recorder_records_nothing() {
    let r = recorder_with(|c| c.enabled = false);
    let seg = r.begin_segment(Some("svc"), None, &SamplingRequest::default());
    assert!(!seg.is_sampled());
    seg.begin_subsegment("x").end().unwrap();
    seg.end().unwrap();
    assert!(r.take_documents().is_empty());
}

#[test]
fn tracing_name_overrides_and_sampling_rule_name_is_recorded() {
    struct RuleSampler;
    impl oxray_core::sampling::Sampler for RuleSampler {
        fn should_sample(
            &self,
            req: &SamplingRequest<'_>,
        ) -> oxray_core::sampling::SamplingDecision {
            assert_eq!(req.service_name, Some("from-env"));
            oxray_core::sampling::SamplingDecision {
                sampled: true,
                rule_name: Some("checkout".into()),
            }
        }
    }
    let r = recorder_with(|c| c.tracing_name = Some("from-env".into()));
    r.set_sampler(std::sync::Arc::new(RuleSampler));
    r.begin_segment(Some("given"), None, &SamplingRequest::default())
        .end()
        .unwrap();
    let d = &common::validated(&r)[0];
    assert_eq!(d["name"], "from-env");
    assert_eq!(d["aws"]["xray"]["sampling_rule_name"], "checkout");
    assert_eq!(d["aws"]["xray"]["sdk"], "oxray");
}

/// A Lambda function's top-level documents (children of the facade) are sent from the calling
/// thread when they end, past the background queue: a handler without a wrapper that flushes
/// would otherwise leave them queued when Lambda freezes the process after it returns. What
/// they stream (children beyond the bound) still goes through the queue.
#[test]
fn facade_children_are_sent_before_end_returns() {
    use oxray_core::emit::background::BackgroundEmitter;
    use oxray_core::emit::memory::MemoryEmitter;
    use std::sync::Arc;

    let mut memory = None;
    let config = Config {
        max_embedded_children: 2,
        ..Config::default()
    };
    let r = Recorder::with_emitter(config, |counters| {
        let m = Arc::new(MemoryEmitter::new(Arc::clone(&counters)));
        memory = Some(Arc::clone(&m));
        Arc::new(BackgroundEmitter::new(m, 1024, counters))
    });
    let memory = memory.unwrap();
    let facade = r.lambda_facade(Some(HEADER));
    for i in 0..20 {
        let top = facade.begin_subsegment(&format!("## step {i}"));
        top.end().unwrap();
        // Already sent, before any flush and whatever the sender thread is doing.
        let sent = memory.take_datagrams();
        assert_eq!(sent.len(), 1, "step {i}");
        let doc = common::validate_document(document_of(&sent[0]));
        assert_eq!(doc["name"], format!("## step {i}"));
        assert_eq!(doc["parent_id"], "53995c3f42cd8ad8");
    }
    let handler = facade.begin_subsegment("## handler");
    for i in 0..5 {
        handler
            .begin_subsegment(&format!("child {i}"))
            .end()
            .unwrap();
    }
    handler.end().unwrap();
    assert!(r.flush(Duration::from_secs(5)));
    let docs: Vec<Value> = memory
        .take_datagrams()
        .iter()
        .map(|d| common::validate_document(document_of(d)))
        .collect();
    // 3 children streamed through the queue, then the handler with 2 embedded.
    assert_eq!(docs.len(), 4, "{docs:?}");
    assert_eq!(r.counters().streamed, 3);
    assert_eq!(r.counters().sent, 24);
}

/// The document in a datagram (after the daemon's header line).
fn document_of(datagram: &[u8]) -> &str {
    let document = datagram.strip_prefix(oxray_core::DAEMON_HEADER).unwrap();
    std::str::from_utf8(document).unwrap()
}

/// PROTOCOL.md §1.2: "one complete segment, and one or zero in-progress segments". A second
/// `send_in_progress` sends nothing; after `end` it is refused like a setter.
#[test]
fn send_in_progress_sends_one_document_per_entity() {
    let r = recorder_with(|_| {});
    let seg = r.begin_segment(Some("svc"), None, &SamplingRequest::default());
    seg.send_in_progress().unwrap();
    seg.put_annotation("k", AnnotationValue::Int(1)).unwrap();
    seg.send_in_progress().unwrap();
    seg.end().unwrap();
    assert!(matches!(
        seg.send_in_progress(),
        Err(TraceError::AlreadyEnded)
    ));
    let facade = r.lambda_facade(Some(HEADER));
    assert!(matches!(
        facade.send_in_progress(),
        Err(TraceError::InvalidArgument(_))
    ));
    let docs = common::validated(&r);
    assert_eq!(docs.len(), 2, "{docs:?}");
    assert_eq!(docs[0]["in_progress"], true);
    assert!(docs[0].get("annotations").is_none());
    assert_eq!(docs[1]["annotations"]["k"], 1);
    assert!(docs[1].get("end_time").is_some());
}

#[test]
fn document_now_shows_an_open_entity_without_sending_it() {
    let r = recorder_with(|_| {});
    let seg = r.begin_segment(Some("svc"), None, &SamplingRequest::default());
    seg.put_annotation("order", AnnotationValue::Str("o-1".into()))
        .unwrap();
    let child = seg.begin_subsegment("child");
    child.begin_subsegment("grandchild").end().unwrap();
    // The open child: its document as it would be streamed, with its closed child.
    let child_doc = common::validate_document(&child.document_now().unwrap());
    assert_eq!(child_doc["in_progress"], true);
    assert_eq!(child_doc["type"], "subsegment");
    assert_eq!(child_doc["parent_id"], seg.id().to_string());
    assert_eq!(child_doc["subsegments"][0]["name"], "grandchild");
    child.end().unwrap();
    let seg_doc = common::validate_document(&seg.document_now().unwrap());
    assert_eq!(seg_doc["in_progress"], true);
    assert!(seg_doc.get("end_time").is_none());
    assert_eq!(seg_doc["annotations"]["order"], "o-1");
    assert_eq!(seg_doc["subsegments"][0]["name"], "child");
    assert_eq!(seg_doc["trace_id"], seg.trace_id().to_string());
    // Looking sent nothing, counted nothing, and took nothing from the entity.
    assert!(r.take_documents().is_empty());
    assert_eq!(r.counters().sent, 0);
    seg.end().unwrap();
    let docs = common::validated(&r);
    assert_eq!(docs.len(), 1);
    assert_eq!(
        docs[0]["subsegments"][0]["subsegments"][0]["name"],
        "grandchild"
    );
    // Ended: its document is gone.
    assert!(seg.document_now().is_none());
    // Unsampled: there is none.
    let incoming =
        TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0").unwrap();
    let unsampled = r.begin_segment(Some("svc"), Some(&incoming), &SamplingRequest::default());
    assert!(unsampled.document_now().is_none());
}
