//! The collector over real UDP on 127.0.0.1: documents from the core's recorder, hand-made bad
//! datagrams, a flood, `--forward`, the open-trace caps and late documents. Checks the printed
//! waterfalls and reports, the JSONL file and the counters.

mod common;

use std::collections::HashSet;
use std::net::UdpSocket;
use std::time::Duration;

use common::{Running, FRAME};
use oxray_core::model::{Exception, HttpRequest, JsonText, Namespace, StackFrame};
use oxray_core::AnnotationValue;
use serde_json::Value;

const TRACE: &str = "1-5759e988-bd862e3fe1be46a994272793";
const FACADE: &str = "53995c3f42cd8ad8";

/// The printed lines, blank ones (between traces) left out.
fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.is_empty()).collect()
}

#[test]
fn a_lambda_invocation_prints_as_a_waterfall() {
    let collector = Running::start("lambda", |_| {});
    let recorder = collector.recorder(true);
    let facade = recorder.lambda_facade(Some(&format!("Root={TRACE};Parent={FACADE};Sampled=1")));
    let handler = facade.begin_subsegment("## index.handler");
    handler
        .put_annotation("ColdStart", AnnotationValue::Bool(true))
        .unwrap();
    handler
        .put_annotation("Service", AnnotationValue::Str("payment".into()))
        .unwrap();
    let call = handler.begin_subsegment("bank.local");
    call.set_namespace(Some(Namespace::Remote)).unwrap();
    call.set_http_request(HttpRequest {
        method: Some("POST".into()),
        url: Some("http://bank.local/charge".into()),
        traced: true,
        ..Default::default()
    })
    .unwrap();
    call.set_http_response(Some(402), Some(8)).unwrap();
    call.end().unwrap();
    let charge = handler.begin_subsegment("### charge");
    let mut e = Exception::new(
        Some("PaymentDeclined".into()),
        Some("bank answered 402".into()),
    );
    e.stack.push(StackFrame {
        path: Some("handler.py".into()),
        line: Some(12),
        label: Some("charge".into()),
    });
    charge.add_exception(e, Some("/var/task")).unwrap();
    charge.set_fault(true).unwrap();
    charge.end().unwrap();
    handler
        .put_metadata(
            Some("payment"),
            "response",
            JsonText::parse("{\"ok\":false}").unwrap(),
        )
        .unwrap();
    handler.end().unwrap();
    assert!(recorder.flush(Duration::from_secs(10)));
    collector.wait("the trace to print", |s| s.traces_completed >= 1);
    let done = collector.stop();

    let out = lines(&done.out);
    assert!(
        out[0].starts_with(&format!("trace {TRACE}  ")),
        "{}",
        done.out
    );
    assert!(out[0].contains("3 entities in"), "{}", done.out);
    assert!(out[0].ends_with("FAULT  ERROR"), "{}", done.out);
    assert!(
        out[1].starts_with(&format!("  [{FACADE} not received] |┄")),
        "{}",
        done.out
    );
    assert!(out[2].starts_with("    ## index.handler "), "{}", done.out);
    assert!(
        out[2].ends_with("ColdStart=true  Service=\"payment\""),
        "{}",
        done.out
    );
    assert!(out[3].starts_with("      bank.local "), "{}", done.out);
    assert!(
        out[3].contains("remote  ERROR  POST http://bank.local/charge → 402"),
        "{}",
        done.out
    );
    assert!(out[4].starts_with("      ### charge "), "{}", done.out);
    assert!(out[4].contains("FAULT"), "{}", done.out);
    assert_eq!(out[5], "        ✗ PaymentDeclined: bank answered 402");
    assert_eq!(out.len(), 6, "{}", done.out);

    let s = done.stats;
    assert_eq!(s.datagrams, s.accepted);
    assert_eq!(
        (s.invalid(), s.accepted_with_warnings, s.duplicates),
        (0, 0, 0)
    );
    assert_eq!(s.accepted as usize, done.documents().len());
    done.assert_documents_valid();
    assert!(
        done.diag.contains("listening on udp 127.0.0.1:"),
        "{}",
        done.diag
    );
    assert!(
        done.diag.contains("oxray collect: stopped."),
        "{}",
        done.diag
    );
    assert_eq!(done.notes("started").len(), 1);
    assert_eq!(done.notes("stopped")[0]["accepted"], s.accepted);
}

#[test]
fn in_progress_and_streamed_parts_of_a_server_trace_come_together() {
    let collector = Running::start("server", |_| {});
    let recorder = collector.recorder(false);
    let seg = common::segment(&recorder, "checkout", TRACE, FACADE);
    seg.send_in_progress().unwrap();
    let validate = seg.begin_subsegment("validate");
    validate.end().unwrap();
    assert!(recorder.flush(Duration::from_secs(10)));
    let slow = seg.begin_subsegment("slow");
    seg.end().unwrap();
    slow.end().unwrap();
    assert!(recorder.flush(Duration::from_secs(10)));
    collector.wait("the trace to print", |s| s.traces_completed >= 1);
    let done = collector.stop();
    assert!(done.documents().len() >= 3, "{:#?}", done.records);
    done.assert_documents_valid();
    let out = lines(&done.out);
    assert!(
        out[1].starts_with(&format!("  [{FACADE} not received]")),
        "{}",
        done.out
    );
    assert!(out[2].starts_with("    checkout "), "{}", done.out);
    assert!(out[3].starts_with("      validate "), "{}", done.out);
    assert!(out[4].starts_with("      slow "), "{}", done.out);
    assert!(!done.out.contains("IN PROGRESS"), "{}", done.out);
    assert!(
        done.out
            .contains("in-progress version(s) replaced by the complete document"),
        "{}",
        done.out
    );
}

fn valid_doc(trace: &str, id: u64, name: &str) -> String {
    format!("{{\"name\":\"{name}\",\"id\":\"{id:016x}\",\"trace_id\":\"{trace}\",\"start_time\":1700000000.5,\"end_time\":1700000000.75}}")
}

#[test]
fn bad_datagrams_are_reported_counted_and_kept_and_the_collector_goes_on() {
    let collector = Running::start("bad", |o| o.reports_per_second = 1000);
    let good = valid_doc(TRACE, 1, "good");
    let datagram = [FRAME, good.as_bytes()].concat();
    // Truncations: inside the header (no newline), right after it (empty body), inside the body.
    let truncated: Vec<&[u8]> = vec![
        &datagram[..10],
        &datagram[..FRAME.len()],
        &datagram[..FRAME.len() + 20],
        &datagram[..datagram.len() - 1],
    ];
    collector.send_raw(&truncated);
    let headers: Vec<Vec<u8>> = [
        "{\"format\":\"json\",\"version\":2}",
        "{\"format\":\"json\",\"version\":\"1\"}",
        "{\"format\":\"xml\",\"version\":1}",
        "format=json",
    ]
    .iter()
    .map(|h| format!("{h}\n{good}").into_bytes())
    .collect();
    collector.send_raw(&headers.iter().map(Vec::as_slice).collect::<Vec<_>>());
    collector.send_raw(&[
        b"",
        &[FRAME, b"hello"].concat(),
        &[FRAME, b"\xff\xfe{}"].concat(),
        &[FRAME, b"[1,2]"].concat(),
    ]);
    let refused = [
        good.replace("\"name\":\"good\",", ""),
        good.replace("0000000000000001", "000000000000001g"),
        good.replace(",\"end_time\":1700000000.75", ""),
        good.replace("\"start_time\"", "\"type\":\"subsegment\",\"start_time\""),
    ];
    collector.send_documents(&refused.iter().map(String::as_str).collect::<Vec<_>>());
    let warned = [
        valid_doc(TRACE, 2, "w").replace('}', ",\"namespace\":\"local\"}"),
        valid_doc(TRACE, 3, "w").replace('}', ",\"annotations\":{\"DDB.key\":1}}"),
        valid_doc(TRACE, 4, "w").replace('}', ",\"metadata\":{\"default\":\"flat\"}}"),
    ];
    collector.send_documents(&warned.iter().map(String::as_str).collect::<Vec<_>>());
    collector.wait_datagrams(19);
    // Still working: a valid trace afterwards is printed.
    collector.send_documents(&[&valid_doc(
        "1-5759e988-00000000000000000000000a",
        9,
        "after",
    )]);
    collector.wait("the later trace", |s| s.traces_completed >= 2);
    let done = collector.stop();

    let s = done.stats;
    assert_eq!(s.datagrams, 20);
    assert_eq!(
        (
            s.invalid_frame,
            s.invalid_json,
            s.invalid_refused,
            s.invalid_unreadable
        ),
        (7, 5, 4, 0),
        "{s:?}"
    );
    assert_eq!(
        (s.accepted, s.accepted_with_warnings, s.warnings),
        (4, 3, 3)
    );
    for reason in [
        "missing header or segment: no newline",
        "missing segment: nothing after the header line",
        "(it ends early: a truncated datagram?)",
        "invalid header: version is 2, expected the number 1",
        "invalid header: version is \"1\"",
        "invalid header: format is \"xml\"",
        "invalid header: not JSON",
        "empty datagram",
        "not JSON: expected value at line 1 column 1",
        "not JSON: not UTF-8 text (byte 0xff at offset 0)",
        "a document must be a JSON object",
        "name: missing",
        "id: \"000000000000001g\" is not a 16-hex id",
        "neither end_time nor in_progress:true",
        "parent_id: missing: a subsegment sent on its own",
    ] {
        assert!(
            done.diag.contains(reason),
            "{reason:?} not reported:\n{}",
            done.diag
        );
    }
    assert_eq!(
        done.diag
            .matches("invalid datagram from 127.0.0.1:")
            .count(),
        16
    );
    // Every invalid datagram is in the file with its reason and its bytes.
    let invalid = done.invalid();
    assert_eq!(invalid.len(), 16);
    assert!(invalid
        .iter()
        .all(|r| !r["reason"].as_str().unwrap().is_empty()));
    let raw_texts: HashSet<String> = invalid
        .iter()
        .filter_map(|r| r["raw"].as_str().map(String::from))
        .collect();
    assert!(raw_texts.contains(&String::from_utf8_lossy(&datagram[..10]).into_owned()));
    assert!(raw_texts.iter().any(|t| t.starts_with("format=json\n")));
    assert!(
        invalid.iter().any(|r| r["raw_base64"] == "//57fQ=="),
        "{invalid:#?}"
    );
    let missing_name = invalid
        .iter()
        .find(|r| r["reason"] == "name: missing")
        .unwrap();
    assert_eq!(missing_name["document"]["id"], "0000000000000001");
    assert_eq!(missing_name["trace_id"], TRACE);
    let warned_records: Vec<&Value> = done
        .records
        .iter()
        .filter(|r| r["status"] == "warning")
        .collect();
    assert_eq!(warned_records.len(), 3);
    assert!(warned_records[1]["warnings"][0]
        .as_str()
        .unwrap()
        .starts_with("annotations.DDB.key: the key is outside"));
    // Warnings are shown under the trace they belong to.
    assert!(
        done.out
            .contains("⚠ w (0000000000000002): namespace: \"local\""),
        "{}",
        done.out
    );
    assert!(
        done.out.contains(
            "⚠ w (0000000000000004): metadata.default: a metadata namespace must be an object"
        ),
        "{}",
        done.out
    );
    assert!(
        done.out
            .contains("trace 1-5759e988-00000000000000000000000a"),
        "{}",
        done.out
    );
}

#[test]
fn a_flood_is_counted_exactly_and_the_collector_keeps_running() {
    let collector = Running::start("flood", |o| {
        o.reports_per_second = 5;
        o.quiet = true;
    });
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let total = 30_000u64;
    let mut valid = 0u64;
    for i in 0..total {
        if i % 3 == 0 {
            socket.send_to(b"not a datagram", collector.addr).unwrap();
        } else {
            let trace = format!("1-5759e988-{:024x}", i % 1000);
            let doc = valid_doc(&trace, i + 1, "flood");
            socket
                .send_to(&[FRAME, doc.as_bytes()].concat(), collector.addr)
                .unwrap();
            valid += 1;
        }
    }
    collector.wait(
        "every datagram received or counted as dropped by the kernel",
        |s| s.datagrams + s.kernel_drops >= total,
    );
    collector.send_documents(&[&valid_doc(
        "1-5759e988-00000000000000000000000b",
        7,
        "after",
    )]);
    collector.wait("the document sent after the flood", |s| {
        s.datagrams + s.kernel_drops > total
    });
    let done = collector.stop();
    let s = done.stats;
    assert_eq!(s.datagrams + s.kernel_drops, total + 1, "{s:?}");
    assert_eq!(s.accepted + s.invalid(), s.datagrams);
    assert!(s.accepted <= valid + 1);
    assert_eq!(
        done.documents().len() + done.invalid().len(),
        s.datagrams as usize
    );
    assert!(done
        .documents()
        .iter()
        .any(|r| r["document"]["name"] == "after"));
    assert!(s.reports_suppressed > 0);
    assert!(
        done.diag.contains("more invalid datagrams than 5 a second"),
        "{}",
        done.diag
    );
    assert!(done.out.is_empty(), "quiet prints no waterfalls");
}

#[test]
fn forward_sends_every_valid_datagram_on_unchanged() {
    let target = UdpSocket::bind("127.0.0.1:0").unwrap();
    target
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let target_addr = target.local_addr().unwrap();
    let collector = Running::start("forward", |o| o.forward = vec![target_addr]);
    // The recorder sends to a capture socket; its exact datagrams are then relayed.
    let capture = UdpSocket::bind("127.0.0.1:0").unwrap();
    capture
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let recorder = oxray_core::Recorder::new(oxray_core::Config {
        daemon: oxray_core::DaemonAddress {
            udp: capture.local_addr().unwrap(),
            tcp: capture.local_addr().unwrap(),
        },
        emit_mode: oxray_core::EmitMode::Udp,
        ..oxray_core::Config::default()
    });
    let seg = common::segment(&recorder, "front", TRACE, FACADE);
    seg.begin_subsegment("child").end().unwrap();
    seg.end().unwrap();
    assert!(recorder.flush(Duration::from_secs(10)));
    let mut buf = vec![0u8; 65_536];
    let n = capture.recv(&mut buf).expect("the recorder's datagram");
    let from_core = buf[..n].to_vec();
    let spaced = format!(
        "{{\"format\": \"json\", \"version\": 1}}\n{}",
        valid_doc(TRACE, 5, "spaced")
    )
    .into_bytes();
    let warned = [
        FRAME,
        valid_doc(TRACE, 6, "w")
            .replace('}', ",\"namespace\":\"local\"}")
            .as_bytes(),
    ]
    .concat();
    collector.send_raw(&[
        &from_core,
        &spaced,
        &warned,
        b"junk",
        &[FRAME, b"{}"].concat(),
    ]);
    collector.wait_datagrams(5);
    let mut forwarded = HashSet::new();
    while forwarded.len() < 3 {
        let n = target.recv(&mut buf).expect("a forwarded datagram");
        forwarded.insert(buf[..n].to_vec());
    }
    let done = collector.stop();
    assert_eq!((done.stats.forwarded, done.stats.forward_errors), (3, 0));
    assert_eq!(forwarded, HashSet::from([from_core, spaced, warned]));
    done.assert_core_documents_valid("front");
}

#[test]
fn open_traces_are_capped_and_evictions_are_noted_in_the_file() {
    let collector = Running::start("cap", |o| {
        o.limits.max_traces = 5;
        o.limits.idle = Duration::from_secs(3600);
    });
    let traces: Vec<String> = (0..50).map(|i| format!("1-5759e988-{i:024x}")).collect();
    for (i, t) in traces.iter().enumerate() {
        collector.send_documents(&[&valid_doc(t, i as u64 + 1, "capped")]);
        // One at a time, so the eviction order is the sending order.
        collector.wait_datagrams(i as u64 + 1);
    }
    collector.wait("45 evictions", |s| s.traces_evicted >= 45);
    let done = collector.stop();
    assert_eq!(
        (done.stats.traces_evicted, done.stats.traces_completed),
        (45, 5)
    );
    let notes = done.notes("evicted");
    let evicted: Vec<&str> = notes
        .iter()
        .map(|n| n["trace_id"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = traces[..45].iter().map(String::as_str).collect();
    assert_eq!(evicted, expected);
    assert!(notes.iter().all(|n| n["documents"] == 1
        && n["reason"]
            .as_str()
            .unwrap()
            .contains("more than 5 open traces")));
    assert_eq!(
        done.out.matches("(EVICTED: see the note below)").count(),
        45
    );
    assert_eq!(
        done.out
            .matches("(printed at shutdown: may be incomplete)")
            .count(),
        5
    );
    // Nothing was lost: `oxray show` reassembles every trace from the file.
    let loaded = oxray_cli::show::load(&done.path).unwrap();
    assert_eq!(loaded.traces.len(), 50);
    let noted = loaded
        .traces
        .iter()
        .filter(|t| {
            t.notes
                .iter()
                .any(|n| n.contains("the collector evicted this trace"))
        })
        .count();
    assert_eq!(noted, 45);
}

#[test]
fn the_byte_cap_bounds_memory_too() {
    let collector = Running::start("bytes", |o| {
        o.limits.max_bytes = 2_000;
        o.limits.idle = Duration::from_secs(3600);
        o.quiet = true;
    });
    let trace = "1-5759e988-0000000000000000000000ff";
    for i in 0..40u64 {
        collector.send_documents(&[&valid_doc(trace, i + 1, &"n".repeat(100))]);
        collector.wait_datagrams(i + 1);
    }
    let done = collector.stop();
    // One trace of 40 documents of ~200 bytes cannot stay open under a 2,000-byte cap.
    assert!(done.stats.traces_evicted >= 3, "{:?}", done.stats);
    assert_eq!(done.documents().len(), 40);
}

#[test]
fn documents_after_a_trace_printed_reopen_it_as_late() {
    let collector = Running::start("late", |o| o.limits.idle = Duration::from_millis(200));
    collector.send_documents(&[&valid_doc(TRACE, 1, "first")]);
    collector.wait("the first print", |s| s.traces_completed >= 1);
    collector.send_documents(&[&valid_doc(TRACE, 2, "second")]);
    collector.wait("the second print", |s| s.traces_completed >= 2);
    let done = collector.stop();
    assert_eq!(done.stats.traces_late, 1);
    assert!(
        done.out
            .contains("note: late: documents arrived after this trace was printed"),
        "{}",
        done.out
    );
}

#[test]
fn duplicates_are_counted_once() {
    let collector = Running::start("dup", |_| {});
    let doc = valid_doc(TRACE, 1, "twice");
    collector.send_documents(&[&doc, &doc, &doc]);
    collector.wait("the trace", |s| s.traces_completed >= 1);
    let done = collector.stop();
    assert_eq!((done.stats.accepted, done.stats.duplicates), (3, 2));
    assert_eq!(done.documents().len(), 3, "every datagram is in the file");
    assert!(
        done.out.contains("1 entity in 1 document (+2 duplicate)"),
        "{}",
        done.out
    );
}
