//! The one-command demo: a traced "payment" Lambda handler, invoked three times under a
//! simulated Lambda invocation (per-invocation trace header, one failing invocation, a traced
//! HTTP call to a local service), sending real UDP datagrams to a daemon-compatible listener on
//! 127.0.0.1. The listener's documents are reassembled and printed as a waterfall.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use oxray_core::config::{Config, DaemonAddress, EmitMode};
use oxray_core::model::{Exception, HttpRequest, JsonText, Namespace, StackFrame};
use oxray_core::{AnnotationValue, Entity, EntityId, Recorder, TraceId};
use serde_json::Value;

/// A local "bank" HTTP service: answers 200, or 402 for amounts over 1000.
fn start_bank() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind bank");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]);
            let declined = request.contains("amount=5000");
            let (status, body) = if declined {
                ("402 Payment Required", "declined")
            } else {
                ("200 OK", "approved")
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// A traced HTTP GET with the trace header injected, as an HTTP patch would do it.
fn traced_get(parent: &Entity, port: u16, path: &str) -> u16 {
    let sub = parent.begin_subsegment("127.0.0.1");
    let url = format!("http://127.0.0.1:{port}{path}");
    let _ = sub.set_namespace(Some(Namespace::Remote));
    let _ = sub.set_http_request(HttpRequest {
        method: Some("GET".into()),
        url: Some(url),
        traced: true,
        ..Default::default()
    });
    let header = sub.outgoing_header().to_string();
    let mut status = 0;
    if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
        // One write: the bank reads the request with a single read().
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amzn-Trace-Id: {header}\r\n\r\n");
        let _ = s.write_all(request.as_bytes());
        let mut response = String::new();
        let _ = s.read_to_string(&mut response);
        status = response
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let _ = sub.set_http_response(Some(status), Some(response.len() as i64));
    }
    let _ = sub.end();
    status
}

/// The user's handler, instrumented the way the Python/Node decorators do it.
fn payment_handler(
    facade: &Entity,
    bank: u16,
    amount: u32,
    cold_start: bool,
) -> Result<String, String> {
    let handler = facade.begin_subsegment("## payment.handler");
    let _ = handler.put_annotation("ColdStart", AnnotationValue::Bool(cold_start));
    let _ = handler.put_annotation("Service", AnnotationValue::Str("payment".into()));
    let validate = handler.begin_subsegment("### validate_order");
    let _ = validate.put_annotation("amount", AnnotationValue::Int(amount as i64));
    let _ = validate.end();
    let charge = handler.begin_subsegment("### charge_card");
    let status = traced_get(&charge, bank, &format!("/charge?amount={amount}"));
    let result = if status == 200 {
        let _ = charge.put_metadata(
            Some("payment"),
            "charge_card response",
            JsonText::from_value(&serde_json::json!({"status": "approved", "amount": amount})),
        );
        Ok("approved".to_string())
    } else {
        let mut e = Exception::new(
            Some("PaymentDeclined".into()),
            Some(format!("bank answered {status}")),
        );
        e.stack.push(StackFrame {
            path: Some("payment.py".into()),
            line: Some(27),
            label: Some("charge_card".into()),
        });
        let id = charge.add_exception(e, Some("/var/task")).ok();
        if let Some(id) = id {
            let _ = handler.set_cause_exception_ref(id);
        }
        Err(format!("bank answered {status}"))
    };
    let _ = charge.end();
    let _ = handler.put_metadata(
        Some("payment"),
        "payment.handler response",
        JsonText::from_value(&serde_json::json!({"result": format!("{result:?}")})),
    );
    let _ = handler.end();
    result
}

fn main() {
    let daemon = UdpSocket::bind("127.0.0.1:0").expect("bind listener");
    daemon
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let addr = daemon.local_addr().expect("addr");
    let bank = start_bank();
    let recorder = Recorder::new(Config {
        daemon: DaemonAddress {
            udp: addr,
            tcp: addr,
        },
        emit_mode: EmitMode::Background,
        lambda: true,
        sdk_name: "oxray demo".into(),
        ..Config::default()
    });
    println!("oxray demo: daemon-compatible listener on udp://{addr}, bank service on http://127.0.0.1:{bank}\n");
    for (i, amount) in [120u32, 80, 5000].into_iter().enumerate() {
        // What the Lambda runtime does per invocation: a fresh trace header.
        let header = format!(
            "Root={};Parent={};Sampled=1",
            TraceId::generate(),
            EntityId::generate()
        );
        let facade = recorder.lambda_facade(Some(&header));
        let outcome = payment_handler(&facade, bank, amount, i == 0);
        recorder.flush(Duration::from_secs(2));
        println!("invocation {} (amount {amount}): {:?}", i + 1, outcome);
    }
    let mut docs = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while let Ok(n) = daemon.recv(&mut buf) {
        let datagram = &buf[..n];
        if let Some(nl) = datagram.iter().position(|b| *b == b'\n') {
            docs.push(String::from_utf8_lossy(&datagram[nl + 1..]).into_owned());
        }
    }
    println!(
        "\nreceived {} datagrams; counters: {:?}\n",
        docs.len(),
        recorder.counters()
    );
    print_waterfalls(&docs);
}

fn print_waterfalls(docs: &[String]) {
    let mut traces: HashMap<String, Vec<Value>> = HashMap::new();
    for d in docs {
        if let Ok(v) = serde_json::from_str::<Value>(d) {
            traces
                .entry(v["trace_id"].as_str().unwrap_or("?").to_string())
                .or_default()
                .push(v);
        }
    }
    let mut traces: Vec<(String, Vec<Value>)> = traces.into_iter().collect();
    traces.sort_by(|a, b| {
        a.1[0]["start_time"]
            .as_f64()
            .partial_cmp(&b.1[0]["start_time"].as_f64())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    for (trace, roots) in traces {
        let start = roots
            .iter()
            .filter_map(|r| r["start_time"].as_f64())
            .fold(f64::MAX, f64::min);
        let end = roots
            .iter()
            .filter_map(|r| r["end_time"].as_f64())
            .fold(0.0, f64::max);
        println!("trace {trace}  ({:.2} ms)", (end - start) * 1000.0);
        for r in &roots {
            print_entity(r, 1, start, (end - start).max(1e-6));
        }
        println!();
    }
}

fn print_entity(e: &Value, depth: usize, t0: f64, span: f64) {
    const WIDTH: f64 = 30.0;
    let s = e["start_time"].as_f64().unwrap_or(t0);
    let f = e["end_time"].as_f64().unwrap_or(s);
    let offset = (((s - t0) / span) * WIDTH).round() as usize;
    let len = ((((f - s) / span) * WIDTH).round() as usize).max(1);
    let bar = format!(
        "{}{}",
        " ".repeat(offset.min(30)),
        "█".repeat(len.min(30 - offset.min(29)))
    );
    let mut marks = String::new();
    for (flag, mark) in [
        ("fault", " FAULT"),
        ("error", " ERROR"),
        ("throttle", " THROTTLE"),
    ] {
        if e[flag] == true {
            marks.push_str(mark);
        }
    }
    let status = e["http"]["response"]["status"]
        .as_u64()
        .map(|s| format!(" HTTP {s}"))
        .unwrap_or_default();
    let annotations = e["annotations"]
        .as_object()
        .map(|a| {
            a.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let name = format!(
        "{}{}",
        "  ".repeat(depth - 1),
        e["name"].as_str().unwrap_or("?")
    );
    println!(
        "  {name:<34} |{bar:<30}| {:>7.2} ms{status}{marks} {annotations}",
        (f - s) * 1000.0
    );
    if let Some(msg) = e["cause"]["exceptions"][0]["message"].as_str() {
        println!(
            "  {}  ! {}: {msg}",
            "  ".repeat(depth),
            e["cause"]["exceptions"][0]["type"].as_str().unwrap_or("?")
        );
    }
    for c in e["subsegments"].as_array().into_iter().flatten() {
        print_entity(c, depth + 1, t0, span);
    }
}
