//! Fields the segment document schema types or bounds, and the flags PROTOCOL.md gives to one
//! kind of entity only: what the core accepts, refuses (a warning counted, the previous value
//! kept) and cuts, observed in the documents a memory-mode recorder sends.

mod common;

use oxray_core::config::{Config, EmitMode};
use oxray_core::model::{HttpRequest, Sql};
use oxray_core::sampling::SamplingRequest;
use oxray_core::{Recorder, TraceError};
use serde_json::json;

fn recorder() -> Recorder {
    Recorder::new(Config {
        emit_mode: EmitMode::Memory,
        ..Config::default()
    })
}

#[test]
fn aws_fields_keep_the_schemas_types() {
    let r = recorder();
    let seg = r.begin_segment(Some("svc"), None, &SamplingRequest::default());
    let sub = seg.begin_subsegment("DynamoDB");
    sub.set_aws("operation", json!("PutItem")).unwrap();
    sub.set_aws("region", json!("eu-west-1")).unwrap();
    sub.set_aws("retries", json!(2)).unwrap();
    sub.set_aws("resource_names", json!(["orders"])).unwrap();
    let refused = [
        ("account_id", json!(3)),
        ("region", json!(42)),
        ("operation", json!([1])),
        ("request_id", json!(null)),
        ("queue_url", json!({})),
        ("table_name", json!(true)),
        ("ec2", json!("i-1")),
        ("ec2", json!({"instance_id": 1})),
        ("ecs", json!({"container": ["a"]})),
        ("elastic_beanstalk", json!({"deployment_id": "7"})),
        ("tracing", json!({"sdk": 1})),
    ];
    for (key, value) in &refused {
        let err = sub.set_aws(key, value.clone()).unwrap_err();
        assert!(
            matches!(&err, TraceError::InvalidArgument(m) if m.starts_with(&format!("aws.{key}"))),
            "{key} = {value}: {err:?}"
        );
    }
    sub.set_aws("ec2", json!({"instance_id": "i-1", "other": 1}))
        .unwrap();
    sub.set_aws("elastic_beanstalk", json!({"deployment_id": 7}))
        .unwrap();
    sub.end().unwrap();
    seg.end().unwrap();
    assert_eq!(r.counters().warnings, refused.len() as u64);
    let docs = common::validated(&r);
    let aws = &docs[0]["subsegments"][0]["aws"];
    // The refused calls left the values set before them.
    assert_eq!(aws["region"], "eu-west-1");
    assert_eq!(aws["operation"], "PutItem");
    assert_eq!(aws["retries"], 2);
    assert_eq!(aws["ec2"]["instance_id"], "i-1");
    assert!(aws.get("account_id").is_none());
}

#[test]
fn sql_user_is_cut_and_preparation_checked() {
    let r = recorder();
    let seg = r.begin_segment(Some("svc"), None, &SamplingRequest::default());
    let sub = seg.begin_subsegment("db");
    let sql = Sql {
        url: Some("postgresql://db.example.com:5432/orders".into()),
        user: Some("é".repeat(300)),
        preparation: Some("statement".into()),
        ..Sql::default()
    };
    let bogus = Sql {
        preparation: Some("bogus".into()),
        ..sql.clone()
    };
    let err = sub.set_sql(bogus).unwrap_err();
    assert!(matches!(&err, TraceError::InvalidArgument(m) if m.contains("sql.preparation")));
    sub.set_sql(sql).unwrap();
    sub.end().unwrap();
    seg.end().unwrap();
    assert_eq!(r.counters().warnings, 1);
    let docs = common::validated(&r);
    let recorded = &docs[0]["subsegments"][0]["sql"];
    assert_eq!(recorded["user"].as_str().unwrap().chars().count(), 250);
    assert_eq!(recorded["preparation"], "statement");
}

#[test]
fn http_request_flags_stay_on_their_kind_of_entity() {
    let r = recorder();
    let seg = r.begin_segment(Some("svc"), None, &SamplingRequest::default());
    let sub = seg.begin_subsegment("api.example.com");
    let both = HttpRequest {
        method: Some("GET".into()),
        url: Some("https://api.example.com/".into()),
        x_forwarded_for: true,
        traced: true,
        ..HttpRequest::default()
    };
    seg.set_http_request(both.clone()).unwrap();
    sub.set_http_request(both).unwrap();
    sub.end().unwrap();
    seg.end().unwrap();
    let docs = common::validated(&r);
    let seg_request = &docs[0]["http"]["request"];
    let sub_request = &docs[0]["subsegments"][0]["http"]["request"];
    // PROTOCOL.md §1.10: x_forwarded_for on segments only, traced on subsegments only.
    assert_eq!(seg_request["x_forwarded_for"], true);
    assert!(seg_request.get("traced").is_none(), "{seg_request}");
    assert_eq!(sub_request["traced"], true);
    assert!(
        sub_request.get("x_forwarded_for").is_none(),
        "{sub_request}"
    );
}

#[test]
fn put_http_meta_sets_one_field_at_a_time() {
    use oxray_core::http_meta::HttpMetaValue::{Flag, Number, Text};
    let r = recorder();
    let seg = r.begin_segment(Some("svc"), None, &SamplingRequest::default());
    let sub = seg.begin_subsegment("api.example.com");
    seg.put_http_meta("method", Text("post")).unwrap();
    seg.put_http_meta("url", Text("https://svc.example.com/orders"))
        .unwrap();
    seg.put_http_meta("x_forwarded_for", Flag(true)).unwrap();
    seg.put_http_meta("status", Text("429")).unwrap();
    sub.put_http_meta("url", Text("https://api.example.com/"))
        .unwrap();
    sub.put_http_meta("traced", Flag(true)).unwrap();
    sub.put_http_meta("status", Number(503)).unwrap();
    sub.put_http_meta("content_length", Number(12)).unwrap();
    // Refused, each with a warning; what was set stays.
    assert!(sub.put_http_meta("x_forwarded_for", Flag(true)).is_err());
    assert!(seg.put_http_meta("traced", Flag(true)).is_err());
    assert!(sub.put_http_meta("status", Text("fine")).is_err());
    assert!(sub.put_http_meta("colour", Text("red")).is_err());
    sub.end().unwrap();
    seg.end().unwrap();
    assert_eq!(r.counters().warnings, 4);
    let docs = common::validated(&r);
    let seg_doc = &docs[0];
    let sub_doc = &seg_doc["subsegments"][0];
    assert_eq!(
        seg_doc["http"],
        json!({"request": {"method": "POST", "url": "https://svc.example.com/orders", "x_forwarded_for": true}, "response": {"status": 429}})
    );
    assert_eq!(
        (seg_doc["error"].clone(), seg_doc["throttle"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(
        sub_doc["http"],
        json!({"request": {"url": "https://api.example.com/", "traced": true}, "response": {"status": 503, "content_length": 12}})
    );
    assert_eq!(sub_doc["fault"], true);
}
