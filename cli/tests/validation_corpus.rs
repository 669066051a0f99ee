//! The validator against a corpus made by mutating a document that uses every field: each
//! value replaced by values of every JSON type, each key removed. For every mutant the
//! collector's judgement must be total (no panic; never "unreadable", which would mean the core
//! parser refused what validation let through) and never silent about what the published
//! schema refuses: a schema violation is always either invalid or a warning. The fast path
//! (typed decoding for documents that break no rule) is checked against the general path on
//! the same corpus: whatever it accepts, the general path accepts without a warning, with the
//! same entity.

#![recursion_limit = "256"]

mod common;

use oxray_cli::validate::{accept_fast, accept_value, check_bytes, InvalidKind};
use serde_json::{json, Value};

fn rich_document() -> Value {
    json!({
        "name": "checkout",
        "id": "70de5b6f19ff9a0a",
        "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
        "parent_id": "53995c3f42cd8ad8",
        "start_time": 1.478293361271E9,
        "end_time": 1478293361.449,
        "in_progress": false,
        "origin": "AWS::EC2::Instance",
        "user": "alice",
        "resource_arn": "arn:aws:ec2:us-east-1:123:instance/i-1",
        "error": false,
        "fault": true,
        "throttle": false,
        "service": {"version": "1.2.3", "runtime": "python"},
        "http": {
            "request": {"method": "GET", "url": "https://shop/cart", "user_agent": "curl", "client_ip": "10.0.0.1", "x_forwarded_for": true},
            "response": {"status": 500, "content_length": 12}
        },
        "aws": {"account_id": "123", "ec2": {"instance_id": "i-1", "availability_zone": "us-east-1a"}, "xray": {"sdk": "oxray"}},
        "annotations": {"order_id": "o-1", "amount": 12.5, "paid": true},
        "metadata": {"default": {"request": {"items": [1, 2]}}, "payments": {"card": "visa"}},
        "cause": {
            "working_directory": "/var/task",
            "paths": ["handler.py"],
            "exceptions": [{
                "id": "0123456789abcdef",
                "message": "declined",
                "type": "PaymentError",
                "remote": true,
                "truncated": 2,
                "skipped": 0,
                "cause": "fedcba9876543210",
                "stack": [{"path": "handler.py", "line": 42, "label": "charge"}]
            }]
        },
        "Dummy": false,
        "subsegments": [{
            "name": "db",
            "id": "70de5b6f19ff9a0b",
            "start_time": 1478293361.3,
            "end_time": 1478293361.4,
            "namespace": "remote",
            "traced": true,
            "precursor_ids": ["70de5b6f19ff9a0c"],
            "sql": {"url": "postgresql://db:5432/shop", "sanitized_query": "SELECT 1", "database_type": "PostgreSQL", "user": "app", "preparation": "statement"},
            "http": {"request": {"url": "postgresql://db:5432/shop", "method": "SELECT", "traced": true}, "response": {"status": 200}},
            "aws": {"operation": "Query", "region": "us-east-1", "table_name": "t"},
            "cause": "0123456789abcdef",
            "annotations": {"rows": 3},
            "metadata": {"default": {"k": null}},
            "subsegments": [{"name": "pool", "id": "70de5b6f19ff9a0c", "start_time": 1478293361.31, "in_progress": true, "type": "subsegment"}]
        }]
    })
}

/// Every path into `v` (object keys and array indexes), depth first.
fn paths(v: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                prefix.push(PathStep::Key(k.clone()));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                prefix.push(PathStep::Index(i));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn slot<'a>(v: &'a mut Value, path: &[PathStep]) -> &'a mut Value {
    path.iter().fold(v, |v, step| match step {
        PathStep::Key(k) => &mut v[k.as_str()],
        PathStep::Index(i) => &mut v[*i],
    })
}

fn remove(v: &mut Value, path: &[PathStep]) {
    let (last, parent) = path.split_last().unwrap();
    match (slot(v, parent), last) {
        (Value::Object(o), PathStep::Key(k)) => {
            o.remove(k);
        }
        (Value::Array(a), PathStep::Index(i)) => {
            a.remove(*i);
        }
        _ => unreachable!(),
    }
}

fn replacements() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(1.5),
        json!("x"),
        json!(""),
        json!("ABCDEF0123456789"),
        json!("1-5759e988-bd862e3fe1be46a99427279Z"),
        json!([]),
        json!([1]),
        json!({}),
        json!({"k": 1}),
        json!("y".repeat(300)),
    ]
}

/// Judges one mutant; returns what is wrong with the judgement, if anything.
fn judge(doc: &Value, what: &str) -> Option<String> {
    let size = doc.to_string().len();
    let schema = common::schema_problems(doc);
    match accept_value(doc.clone(), size) {
        Ok(accepted) if !schema.is_empty() && accepted.warnings.is_empty() => Some(format!(
            "{what}: the schema refuses it ({schema:?}) but it was accepted without a warning"
        )),
        Ok(_) => None,
        Err(invalid) if invalid.kind == InvalidKind::Unreadable => Some(format!(
            "{what}: validation let through what the core parser refused: {}",
            invalid.reason
        )),
        Err(invalid) if invalid.reason.is_empty() => Some(format!("{what}: no reason")),
        Err(_) => None,
    }
}

#[test]
fn the_rich_document_is_valid_everywhere() {
    let doc = rich_document();
    common::assert_valid_document(&doc.to_string());
    let accepted = accept_value(doc.clone(), 1000).expect("accepted");
    assert!(accepted.warnings.is_empty(), "{:?}", accepted.warnings);
    assert_eq!(accepted.entity.subsegments[0].subsegments.len(), 1);
}

#[test]
fn every_mutation_is_judged_and_no_schema_violation_goes_unreported() {
    let doc = rich_document();
    let mut all = Vec::new();
    paths(&doc, &mut Vec::new(), &mut all);
    assert!(all.len() > 100, "{} paths", all.len());
    let mut judged = 0;
    let mut wrong = Vec::new();
    for path in &all {
        for value in replacements() {
            let mut mutant = doc.clone();
            *slot(&mut mutant, path) = value.clone();
            wrong.extend(judge(&mutant, &format!("{path:?} = {value}")));
            judged += 1;
        }
        let mut mutant = doc.clone();
        remove(&mut mutant, path);
        wrong.extend(judge(&mutant, &format!("{path:?} removed")));
        judged += 1;
    }
    assert!(
        wrong.is_empty(),
        "{} of {judged} mutants misjudged:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(judged, all.len() * (replacements().len() + 1));
}

#[test]
fn the_shipped_samples_are_accepted_with_the_expected_warnings() {
    let dir = common::repo_root().join("../shared/spec/samples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("samples") {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let accepted = oxray_cli::validate::accept_bytes(text.as_bytes())
            .unwrap_or_else(|e| panic!("{path:?}: {}", e.reason));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let warnings: Vec<String> = accepted.warnings.iter().map(|w| w.to_string()).collect();
        if name == "ddbSample.txt" {
            // The Go SDK's dotted annotation key: accepted, with a warning.
            assert!(
                warnings.iter().any(|w| w.contains(
                    "DDB.DescribeExistingTableAndPutToMissingTable.Annotation: the key is outside"
                )),
                "{warnings:?}"
            );
        } else {
            assert!(warnings.is_empty(), "{name}: {warnings:?}");
        }
        seen += 1;
    }
    assert_eq!(seen, 6);
}

/// Where the fast path accepts, the general path must accept without a warning and build the
/// same entity. Returns whether the fast path accepted.
fn same_judgement(body: &[u8], what: &str) -> Result<bool, String> {
    let Some(fast) = accept_fast(body) else {
        return Ok(false);
    };
    let general = check_bytes(body).and_then(|c| c.parse()).map_err(|e| {
        format!(
            "{what}: fast path accepted, general path refused: {}",
            e.reason
        )
    })?;
    if !general.warnings.is_empty() {
        return Err(format!(
            "{what}: fast path accepted, general path warned: {:?}",
            general.warnings
        ));
    }
    let (a, b) = (
        format!("{:?}", fast.entity),
        format!("{:?}", general.entity),
    );
    if a != b {
        return Err(format!(
            "{what}: different entities\nfast:    {a}\ngeneral: {b}"
        ));
    }
    Ok(true)
}

fn without_cause() -> Value {
    let mut doc = rich_document();
    doc.as_object_mut().unwrap().remove("cause");
    doc["subsegments"][0]
        .as_object_mut()
        .unwrap()
        .remove("cause");
    doc
}

#[test]
fn the_fast_path_agrees_with_the_general_path() {
    let mut wrong = Vec::new();
    let mut fast = 0;
    let mut total = 0;
    let mut judge = |body: Vec<u8>, what: String| {
        total += 1;
        match same_judgement(&body, &what) {
            Ok(true) => fast += 1,
            Ok(false) => {}
            Err(e) => wrong.push(e),
        }
    };
    let doc = without_cause();
    judge(doc.to_string().into_bytes(), "the rich document".into());
    judge(
        serde_json::to_vec_pretty(&doc).unwrap(),
        "pretty-printed".into(),
    );
    let mut all = Vec::new();
    paths(&doc, &mut Vec::new(), &mut all);
    for path in &all {
        for value in replacements() {
            let mut mutant = doc.clone();
            *slot(&mut mutant, path) = value.clone();
            judge(
                mutant.to_string().into_bytes(),
                format!("{path:?} = {value}"),
            );
        }
        let mut mutant = doc.clone();
        remove(&mut mutant, path);
        judge(mutant.to_string().into_bytes(), format!("{path:?} removed"));
    }
    let text = doc.to_string();
    let edits = [
        (
            "escaped name",
            text.replacen("\"checkout\"", "\"check\\u006fut\"", 1),
        ),
        (
            "duplicate key",
            text.replacen(
                "\"name\":\"checkout\"",
                "\"name\":\"x\",\"name\":\"checkout\"",
                1,
            ),
        ),
        (
            "duplicate annotation",
            text.replacen("\"paid\":true", "\"paid\":true,\"paid\":false", 1),
        ),
        (
            "huge integer annotation",
            text.replacen("\"paid\":true", "\"paid\":18446744073709551615", 1),
        ),
        (
            "negative annotation",
            text.replacen("\"paid\":true", "\"paid\":-7", 1),
        ),
        (
            "end just before start",
            text.replacen("1478293361.449", "1478293361.2709999", 1),
        ),
        (
            "exponent times",
            text.replacen("1478293361.449", "1.478293361449E9", 1),
        ),
        (
            "unicode name",
            text.replacen("\"checkout\"", "\"café kasse\"", 1),
        ),
    ];
    for (what, edited) in edits {
        assert_ne!(edited, text, "{what}");
        judge(edited.into_bytes(), what.to_string());
    }
    // Field values in field order, as an array: a derived decoder would take it.
    judge(
        b"[\"checkout\",\"70de5b6f19ff9a0a\",1.5,2.5]".to_vec(),
        "an array".into(),
    );
    for entry in std::fs::read_dir(common::repo_root().join("../shared/spec/samples")).unwrap() {
        let path = entry.unwrap().path();
        judge(std::fs::read(&path).unwrap(), format!("{path:?}"));
    }
    assert!(
        wrong.is_empty(),
        "{} of {total} disagree:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(fast >= 10, "the fast path accepted only {fast} of {total}");
}

#[test]
fn the_fast_path_takes_what_the_core_emits() {
    use oxray_core::model::{HttpRequest, JsonText, Namespace, Sql};
    use oxray_core::{AnnotationValue, Recorder, TraceHeader};
    let recorder = Recorder::in_memory();
    let header = TraceHeader::parse(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    )
    .unwrap();
    let seg = recorder.begin_segment(Some("checkout"), Some(&header), &Default::default());
    seg.put_annotation("order_id", AnnotationValue::Str("o-1".into()))
        .unwrap();
    seg.put_annotation("amount", AnnotationValue::Float(12.5))
        .unwrap();
    seg.put_metadata(
        None,
        "request",
        JsonText::parse("{\"b\":1,\"a\":[1,2]}").unwrap(),
    )
    .unwrap();
    seg.set_http_request(HttpRequest {
        method: Some("GET".into()),
        url: Some("https://shop/cart".into()),
        ..Default::default()
    })
    .unwrap();
    seg.set_http_response(Some(200), Some(10)).unwrap();
    let db = seg.begin_subsegment("db");
    db.set_namespace(Some(Namespace::Remote)).unwrap();
    db.set_sql(Sql {
        url: Some("postgresql://db:5432/shop".into()),
        sanitized_query: Some("SELECT 1".into()),
        ..Default::default()
    })
    .unwrap();
    db.end().unwrap();
    let ddb = seg.begin_subsegment("DynamoDB");
    ddb.set_namespace(Some(Namespace::Aws)).unwrap();
    ddb.set_aws("operation", serde_json::json!("GetItem"))
        .unwrap();
    ddb.set_aws("table_name", serde_json::json!("orders"))
        .unwrap();
    ddb.end().unwrap();
    seg.end().unwrap();
    let facade = recorder.lambda_facade(Some(
        "Root=1-5759e988-bd862e3fe1be46a994272794;Parent=53995c3f42cd8ad8;Sampled=1",
    ));
    let handler = facade.begin_subsegment("## handler");
    handler
        .put_annotation("ColdStart", AnnotationValue::Bool(true))
        .unwrap();
    handler.begin_subsegment("### step").end().unwrap();
    handler.end().unwrap();
    let docs = recorder.take_documents();
    assert!(docs.len() >= 2, "{docs:?}");
    for doc in docs {
        common::assert_valid_document(&doc);
        assert_eq!(same_judgement(doc.as_bytes(), &doc), Ok(true), "{doc}");
    }
}
