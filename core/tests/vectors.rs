//! Runs the shared vectors in `tests/vectors/` through the core API.

mod common;

use std::collections::HashMap;

use oxray_core::header::{HeaderError, Sampled, TraceHeader};
use oxray_core::model::{Exception, HttpRequest, Namespace, Sql, StackFrame};
use oxray_core::sampling::SamplingRequest;
use oxray_core::{AnnotationValue, DaemonAddress, Entity, EntityId, Recorder};
use serde_json::Value;

fn opt(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

#[test]
fn trace_headers() {
    let cases = common::read_vector("trace_headers.json");
    for case in cases.as_array().unwrap() {
        let input = case["input"].as_str().unwrap();
        let parsed = TraceHeader::parse(input);
        if case["valid"].as_bool().unwrap() {
            let h = parsed.unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(
                h.root.map(|r| r.to_string()),
                opt(case, "root"),
                "{input:?}"
            );
            assert_eq!(
                h.parent.map(|p| p.to_string()),
                opt(case, "parent"),
                "{input:?}"
            );
            let sampled = h.sampled.map(|s| match s {
                Sampled::Yes => "1".to_string(),
                Sampled::No => "0".to_string(),
                Sampled::Requested => "?".to_string(),
            });
            assert_eq!(sampled, opt(case, "sampled"), "{input:?}");
            assert_eq!(h.lineage, opt(case, "lineage"), "{input:?}");
            let extras: Vec<(String, String)> = case["extras"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
                .collect();
            assert_eq!(h.extras, extras, "{input:?}");
            assert_eq!(
                h.to_string(),
                case["formatted"].as_str().unwrap(),
                "{input:?}"
            );
            // Formatting is stable: format → parse → format.
            assert_eq!(
                TraceHeader::parse(&h.to_string()).unwrap(),
                TraceHeader {
                    self_id: None,
                    ..h.clone()
                }
            );
        } else {
            let e = parsed.expect_err(input);
            let kind = match e {
                HeaderError::Empty => "empty",
                HeaderError::TooLong(_) => "too_long",
                HeaderError::MissingEquals(_) => "missing_equals",
                HeaderError::InvalidRoot(_) => "invalid_root",
                HeaderError::InvalidParent(_) => "invalid_parent",
                HeaderError::InvalidSampled(_) => "invalid_sampled",
                HeaderError::InvalidCharacter(_) => "invalid_character",
            };
            assert_eq!(kind, case["error"].as_str().unwrap(), "{input:?}");
            assert!(!e.to_string().is_empty());
        }
    }
    let long = format!(
        "Root=1-5759e988-bd862e3fe1be46a994272793;X={}",
        "a".repeat(9000)
    );
    assert!(matches!(
        TraceHeader::parse(&long),
        Err(HeaderError::TooLong(_))
    ));
}

#[test]
fn daemon_addresses() {
    for case in common::read_vector("daemon_addresses.json")
        .as_array()
        .unwrap()
    {
        let input = case["input"].as_str().unwrap();
        let parsed = DaemonAddress::parse(input);
        if case["valid"].as_bool().unwrap() {
            let d = parsed.unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(
                d.udp.to_string(),
                case["udp"].as_str().unwrap(),
                "{input:?}"
            );
            assert_eq!(
                d.tcp.to_string(),
                case["tcp"].as_str().unwrap(),
                "{input:?}"
            );
        } else {
            let e = parsed.expect_err(input);
            assert!(e.to_string().contains("expected \"host:port\""), "{e}");
        }
    }
}

#[test]
fn names_and_annotation_keys() {
    for case in common::read_vector("names.json").as_array().unwrap() {
        let input = case["input"].as_str().unwrap();
        let (out, _) = oxray_core::sanitize::entity_name(input);
        assert_eq!(out, case["output"].as_str().unwrap(), "{input:?}");
    }
    for case in common::read_vector("annotation_keys.json")
        .as_array()
        .unwrap()
    {
        let input = case["input"].as_str().unwrap();
        let out = oxray_core::sanitize::annotation_key(input).map(|(k, _)| k.into_owned());
        assert_eq!(out.as_deref(), case["output"].as_str(), "{input:?}");
    }
}

/// Matches `actual` against the subset pattern `expected` (see tests/vectors/README.md).
fn matches(
    expected: &Value,
    actual: Option<&Value>,
    names: &HashMap<String, String>,
    path: &str,
) -> Result<(), String> {
    if let Some(s) = expected.as_str() {
        if s == "$absent" {
            return match actual {
                None => Ok(()),
                Some(v) => Err(format!("{path}: expected absent, found {v}")),
            };
        }
        if let Some(name) = s.strip_prefix('$') {
            let want = names
                .get(name)
                .ok_or_else(|| format!("{path}: unknown placeholder {s}"))?;
            return match actual.and_then(Value::as_str) {
                Some(a) if a == want => Ok(()),
                other => Err(format!("{path}: expected {want} ({s}), found {other:?}")),
            };
        }
    }
    let actual = actual.ok_or_else(|| format!("{path}: missing (expected {expected})"))?;
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                matches(v, a.get(k), names, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!(
                    "{path}: expected {} elements, found {}",
                    e.len(),
                    a.len()
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                matches(ev, Some(av), names, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Number(e), Value::Number(a)) => (e.as_f64() == a.as_f64())
            .then_some(())
            .ok_or_else(|| format!("{path}: expected {e}, found {a}")),
        (e, a) => (e == a)
            .then_some(())
            .ok_or_else(|| format!("{path}: expected {e}, found {a}")),
    }
}

fn annotation(v: &Value) -> AnnotationValue {
    match v {
        Value::String(s) => AnnotationValue::Str(s.clone()),
        Value::Bool(b) => AnnotationValue::Bool(*b),
        Value::Number(n) => n
            .as_i64()
            .map(AnnotationValue::Int)
            .unwrap_or(AnnotationValue::Float(n.as_f64().unwrap())),
        other => panic!("bad annotation value {other}"),
    }
}

fn run_script(script: &Value) -> Result<(), String> {
    let recorder = Recorder::in_memory();
    let mut entities: HashMap<String, Entity> = HashMap::new();
    let mut names: HashMap<String, String> = HashMap::new();
    let get = |entities: &HashMap<String, Entity>, op: &Value, key: &str| -> Entity {
        entities[op[key].as_str().unwrap()].clone()
    };
    for op in script["ops"].as_array().unwrap() {
        let kind = op["op"].as_str().unwrap();
        let entity = |key: &str| get(&entities, op, key);
        match kind {
            "begin_segment" | "lambda_facade" | "begin_subsegment" => {
                let e = match kind {
                    "begin_segment" => {
                        let header = opt(op, "header").map(|h| TraceHeader::parse(&h).unwrap());
                        recorder.begin_segment(
                            op["name"].as_str(),
                            header.as_ref(),
                            &SamplingRequest::default(),
                        )
                    }
                    "lambda_facade" => recorder.lambda_facade(op["header"].as_str()),
                    _ => entity("parent").begin_subsegment(op["name"].as_str().unwrap()),
                };
                let name = op["as"].as_str().unwrap().to_string();
                names.insert(format!("id:{name}"), e.id().to_string());
                names.insert(format!("trace:{name}"), e.trace_id().to_string());
                entities.insert(name, e);
            }
            "annotation" => {
                let _ = entity("entity")
                    .put_annotation(op["key"].as_str().unwrap(), annotation(&op["value"]));
            }
            "metadata" => {
                let _ = entity("entity").put_metadata_json(
                    op["namespace"].as_str(),
                    op["key"].as_str().unwrap(),
                    &op["value"].to_string(),
                );
            }
            "namespace" => {
                entity("entity")
                    .set_namespace(Namespace::parse(op["value"].as_str().unwrap()))
                    .unwrap();
            }
            "http_request" => {
                entity("entity")
                    .set_http_request(HttpRequest {
                        method: opt(op, "method"),
                        url: opt(op, "url"),
                        user_agent: opt(op, "user_agent"),
                        client_ip: opt(op, "client_ip"),
                        traced: op["traced"].as_bool().unwrap_or(false),
                        x_forwarded_for: false,
                    })
                    .unwrap();
            }
            "http_response" => {
                entity("entity")
                    .set_http_response(
                        op["status"].as_u64().map(|s| s as u16),
                        op["content_length"].as_i64(),
                    )
                    .unwrap();
            }
            "aws" => entity("entity")
                .set_aws(op["key"].as_str().unwrap(), op["value"].clone())
                .unwrap(),
            "sql" => entity("entity")
                .set_sql(Sql {
                    url: opt(op, "url"),
                    connection_string: opt(op, "connection_string"),
                    sanitized_query: opt(op, "sanitized_query"),
                    database_type: opt(op, "database_type"),
                    database_version: opt(op, "database_version"),
                    driver_version: opt(op, "driver_version"),
                    user: opt(op, "user"),
                    preparation: opt(op, "preparation"),
                })
                .unwrap(),
            "exception" => {
                let mut e = Exception::new(opt(op, "type"), opt(op, "message"));
                e.remote = op["remote"].as_bool().unwrap_or(false);
                for f in op["stack"].as_array().into_iter().flatten() {
                    e.stack.push(StackFrame {
                        path: opt(f, "path"),
                        line: f["line"].as_u64().map(|l| l as u32),
                        label: opt(f, "label"),
                    });
                }
                let id = entity("entity").add_exception(e, None).unwrap();
                if let Some(name) = op["as"].as_str() {
                    names.insert(format!("exception:{name}"), id.to_string());
                }
            }
            "cause_ref" => {
                let id = EntityId::parse(
                    &names[&format!("exception:{}", op["exception"].as_str().unwrap())],
                )
                .unwrap();
                entity("entity").set_cause_exception_ref(id).unwrap();
            }
            "error" => entity("entity").set_error(true).unwrap(),
            "fault" => entity("entity").set_fault(true).unwrap(),
            "throttle" => entity("entity").set_throttle(true).unwrap(),
            "end" => entity("entity").end().unwrap(),
            "flush" => assert!(recorder.flush(std::time::Duration::from_secs(5))),
            other => panic!("unknown op {other}"),
        }
    }
    let docs = recorder.take_documents();
    let expect = script["expect"].as_array().unwrap();
    if docs.len() != expect.len() {
        return Err(format!(
            "expected {} documents, got {}: {docs:#?}",
            expect.len(),
            docs.len()
        ));
    }
    for (i, (e, d)) in expect.iter().zip(&docs).enumerate() {
        let v = common::validate_document(d);
        matches(e, Some(&v), &names, &format!("doc[{i}]")).map_err(|m| format!("{m}\n{d}"))?;
    }
    Ok(())
}

#[test]
fn entity_scripts() {
    let scripts = common::read_vector("entity_scripts.json");
    let mut failures = Vec::new();
    for script in scripts.as_array().unwrap() {
        if let Err(e) = run_script(script) {
            failures.push(format!("{}: {e}", script["name"]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
