//! Test tool: validates every document the C tests saw.
//!
//! Usage: `validate_documents <schema.json> <documents.jsonl> [min_count]`, one document per
//! line (the exact bytes received). Each must pass the X-Ray segment-document JSON schema and
//! the stricter rules receivers apply (PROTOCOL.md §6.5): ids 16 lowercase hex, trace ids
//! `1-<8 hex>-<24 hex>`, `namespace` only `aws`/`remote`, top-level `name`/`id`/`start_time`/
//! `trace_id`, exactly one of `end_time` and `in_progress:true` on every entity, standalone
//! subsegments with `type:"subsegment"` and `parent_id`, at most 64,000 bytes, and a `sql.url`
//! that names a database. Exits non-zero on any failure, or when fewer than `min_count`
//! (default 1) documents were given.

use std::process::ExitCode;

use serde_json::Value;

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_entity_id(v: &Value) -> bool {
    v.as_str().is_some_and(|s| is_lower_hex(s, 16))
}

fn is_trace_id(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        let parts: Vec<&str> = s.split('-').collect();
        parts.len() == 3
            && parts[0] == "1"
            && is_lower_hex(parts[1], 8)
            && is_lower_hex(parts[2], 24)
    })
}

/// `^(.+//.+)/([^?]+)\??.*$` with Go's `.` (no newline), written out by hand.
fn sql_url_ok(url: &str) -> bool {
    !url.contains('\n')
        && url.match_indices('/').any(|(slash, _)| {
            let before = &url[..slash];
            url[slash + 1..].chars().next().is_some_and(|c| c != '?')
                && before
                    .match_indices("//")
                    .any(|(i, _)| i >= 1 && i + 2 < before.len())
        })
}

/// Checks one entity (the document or an embedded subsegment) and its children.
fn check_entity(e: &Value, path: &str, problems: &mut Vec<String>) {
    let mut bad = |what: String| problems.push(format!("{path}: {what}"));
    let Some(obj) = e.as_object() else {
        bad("entity is not an object".into());
        return;
    };
    if !obj.get("id").is_some_and(is_entity_id) {
        bad(format!("id {:?} is not 16 lowercase hex", obj.get("id")));
    }
    if let Some(p) = obj.get("parent_id") {
        if !is_entity_id(p) {
            bad(format!("parent_id {p} is not 16 lowercase hex"));
        }
    }
    if let Some(t) = obj.get("trace_id") {
        if !is_trace_id(t) {
            bad(format!("trace_id {t} is not 1-<8 hex>-<24 hex>"));
        }
    }
    let ended = obj.contains_key("end_time");
    let in_progress = obj.get("in_progress") == Some(&Value::Bool(true));
    if ended == in_progress {
        bad("needs exactly one of end_time and in_progress:true".into());
    }
    if let Some(ns) = obj.get("namespace") {
        if ns != "aws" && ns != "remote" {
            bad(format!("namespace {ns} is not aws or remote"));
        }
    }
    if let Some(url) = obj.get("sql").and_then(|s| s.get("url")) {
        if !url.as_str().is_some_and(sql_url_ok) {
            bad(format!("sql.url {url} does not name a database"));
        }
    }
    match obj.get("cause") {
        None => {}
        Some(Value::String(_)) if obj.get("cause").is_some_and(is_entity_id) => {}
        Some(Value::Object(c)) => {
            for (i, ex) in c
                .get("exceptions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                if !ex.get("id").is_some_and(is_entity_id) {
                    bad(format!("cause.exceptions[{i}].id is not 16 lowercase hex"));
                }
                if let Some(c) = ex.get("cause") {
                    if !is_entity_id(c) {
                        bad(format!(
                            "cause.exceptions[{i}].cause is not 16 lowercase hex"
                        ));
                    }
                }
            }
        }
        Some(other) => bad(format!(
            "cause {other} is neither an exception id nor an object"
        )),
    }
    for (i, child) in obj
        .get("subsegments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        check_entity(child, &format!("{path}.subsegments[{i}]"), problems);
    }
}

fn check_document(line: &str, schema: &jsonschema::Validator) -> Vec<String> {
    let mut problems = Vec::new();
    if line.len() > 64_000 {
        problems.push(format!("document is {} bytes, over 64,000", line.len()));
    }
    let doc: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return vec![format!("not JSON: {e}")],
    };
    for error in schema.iter_errors(&doc) {
        problems.push(format!("schema: {error} at {}", error.instance_path()));
    }
    for key in ["name", "id", "start_time", "trace_id"] {
        if doc.get(key).is_none() {
            problems.push(format!("top-level {key} is missing"));
        }
    }
    if doc.get("type").is_some_and(|t| t == "subsegment") && doc.get("parent_id").is_none() {
        problems.push("standalone subsegment without parent_id".into());
    }
    if doc.get("parent_id").is_some() && doc.get("type").is_some_and(|t| t != "subsegment") {
        problems.push("type is present but not \"subsegment\"".into());
    }
    check_entity(&doc, "$", &mut problems);
    problems
}

fn run(args: &[String]) -> Result<usize, String> {
    let [_, schema_path, docs_path, rest @ ..] = args else {
        return Err("usage: validate_documents <schema.json> <documents.jsonl> [min_count]".into());
    };
    let min_count: usize = match rest.first() {
        Some(n) => n
            .parse()
            .map_err(|_| format!("min_count {n:?} is not a number"))?,
        None => 1,
    };
    let schema_text =
        std::fs::read_to_string(schema_path).map_err(|e| format!("{schema_path}: {e}"))?;
    let schema: Value = serde_json::from_str(&schema_text).map_err(|e| format!("schema: {e}"))?;
    let validator = jsonschema::validator_for(&schema).map_err(|e| format!("schema: {e}"))?;
    let docs = std::fs::read_to_string(docs_path).map_err(|e| format!("{docs_path}: {e}"))?;
    let mut count = 0;
    let mut failures = 0;
    for (n, line) in docs.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        count += 1;
        let problems = check_document(line, &validator);
        if !problems.is_empty() {
            failures += 1;
            // Cut on a character boundary: documents hold multi-byte text.
            let shown: String = line.chars().take(300).collect();
            eprintln!("document on line {}: {shown}", n + 1);
            for p in problems {
                eprintln!("  - {p}");
            }
        }
    }
    if failures > 0 {
        return Err(format!("{failures} of {count} documents are invalid"));
    }
    if count < min_count {
        return Err(format!(
            "only {count} documents, expected at least {min_count}"
        ));
    }
    Ok(count)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match run(&args) {
        Ok(count) => {
            println!("validate_documents: {count} documents valid (schema + receiver rules)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("validate_documents: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validator() -> jsonschema::Validator {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/spec/xray-segmentdocument-schema-v1.0.0.json"
        );
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        jsonschema::validator_for(&schema).unwrap()
    }

    #[test]
    fn accepts_a_good_document_and_names_each_bad_one() {
        let v = validator();
        let good = r#"{"name":"a","id":"70de5b6f19ff9a0a","start_time":1.0,"trace_id":"1-581cf771-a006649127e371903a2de979","end_time":2.0}"#;
        assert_eq!(check_document(good, &v), Vec::<String>::new());
        let bad = [
            r#"{"name":"a","id":"70DE5B6F19FF9A0A","start_time":1.0,"trace_id":"1-581cf771-a006649127e371903a2de979","end_time":2.0}"#,
            r#"{"name":"a","id":"70de5b6f19ff9a0a","start_time":1.0,"trace_id":"1-581cf771-a006649127e371903a2de979"}"#,
            r#"{"name":"a","id":"70de5b6f19ff9a0a","start_time":1.0,"trace_id":"1-581cf771-a006649127e371903a2de979","end_time":2.0,"namespace":"local"}"#,
            r#"{"name":"a","id":"70de5b6f19ff9a0a","start_time":1.0,"trace_id":"1-581cf771-a006649127e371903a2de979","end_time":2.0,"type":"subsegment"}"#,
            r#"{"name":"a","id":"70de5b6f19ff9a0a","start_time":1.0,"trace_id":"1-581cf771-a006649127e371903a2de979","end_time":2.0,"sql":{"url":"pg://h"}}"#,
            r#"{"name":"a!","id":"70de5b6f19ff9a0a","start_time":1.0,"trace_id":"1-581cf771-a006649127e371903a2de979","end_time":2.0}"#,
            r#"{"id":"70de5b6f19ff9a0a","start_time":1.0,"trace_id":"1-581cf771-a006649127e371903a2de979","end_time":2.0}"#,
        ];
        for doc in bad {
            assert!(!check_document(doc, &v).is_empty(), "{doc}");
        }
    }
}
