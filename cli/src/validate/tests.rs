//! The rules on small documents: what passes, what is a warning, what is invalid.

use super::*;

const T: &str = "1-5759e988-bd862e3fe1be46a994272793";

fn doc(extra: &str) -> String {
    format!(
        "{{\"name\":\"svc\",\"id\":\"70de5b6f19ff9a0a\",\"trace_id\":\"{T}\",\"start_time\":1.478293361271E9,\"end_time\":1478293361.449{extra}}}"
    )
}

fn warnings_of(text: &str) -> Vec<String> {
    match accept_bytes(text.as_bytes()) {
        Ok(a) => a.warnings.iter().map(|w| w.to_string()).collect(),
        Err(e) => panic!("refused: {} ({text})", e.reason),
    }
}

fn refusal_of(text: &str) -> Invalid {
    match accept_bytes(text.as_bytes()) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e,
    }
}

#[test]
fn what_the_service_accepts_passes_without_warnings() {
    for extra in [
        "",
        ",\"in_progress\":false",
        ",\"Dummy\":false,\"links\":[]",
        ",\"annotations\":{\"a_1\":\"x\",\"n\":1.5,\"b\":true}",
        ",\"metadata\":{\"default\":{\"k\":[1,{\"x\":null}]}}",
        ",\"http\":{\"request\":{\"method\":\"GET\",\"url\":\"http://x/y\"},\"response\":{\"status\":200,\"content_length\":-1}}",
        ",\"cause\":\"0123456789abcdef\"",
        ",\"subsegments\":[{\"name\":\"q\",\"id\":\"0000000000000001\",\"start_time\":1.5E9,\"in_progress\":true,\"namespace\":\"remote\",\"sql\":{\"url\":\"postgresql://h:5432/db?x=1\"}}]",
    ] {
        assert_eq!(warnings_of(&doc(extra)), Vec::<String>::new(), "{extra}");
    }
}

#[test]
fn stricter_receiver_rules_are_warnings() {
    let cases = [
        (",\"namespace\":\"local\"", "namespace: \"local\""),
        (
            ",\"annotations\":{\"DDB.key\":1}",
            "annotations.DDB.key: the key is outside",
        ),
        (
            ",\"metadata\":{\"default\":1}",
            "metadata.default: a metadata namespace must be an object",
        ),
        (
            ",\"sql\":{\"url\":\"mysql://host\"}",
            "sql.url: \"mysql://host\" names no database",
        ),
        (
            ",\"parent_id\":\"ABCDEF0123456789\"",
            "parent_id: ABCDEF0123456789 is not lower-case hex",
        ),
        (
            ",\"error\":\"yes\"",
            "error: expected true or false, found a string; ignored",
        ),
        (
            ",\"http\":{\"response\":{\"status\":\"500\"}}",
            "http.response.status: expected an HTTP status number",
        ),
        (
            ",\"cause\":{\"exceptions\":[{\"message\":\"m\"}]}",
            "cause.exceptions[0].id: missing",
        ),
        (
            ",\"cause\":42",
            "cause: expected an exception id or an object",
        ),
        (
            ",\"subsegments\":[{\"name\":\"q\",\"id\":\"0000000000000001\",\"start_time\":1,\"end_time\":2,\"trace_id\":\"1-5759e988-bd862e3fe1be46a994272794\"}]",
            "subsegments[0].trace_id: 1-5759e988-bd862e3fe1be46a994272794 differs from the document's 1-5759e988-bd862e3fe1be46a994272793",
        ),
        (
            ",\"subsegments\":[{\"name\":\"q\",\"id\":\"0000000000000001\",\"start_time\":1,\"end_time\":2,\"parent_id\":\"0000000000000009\"}]",
            "subsegments[0].parent_id: 0000000000000009 is not the enclosing entity's id 70de5b6f19ff9a0a",
        ),
        (
            ",\"subsegments\":[{\"name\":\"q\",\"id\":\"70de5b6f19ff9a0a\",\"start_time\":1,\"end_time\":2}]",
            "subsegments[0].id: 70de5b6f19ff9a0a appears twice in this document",
        ),
    ];
    for (extra, expected) in cases {
        let w = warnings_of(&doc(extra));
        assert!(w.iter().any(|w| w.starts_with(expected)), "{extra}: {w:?}");
    }
    let w = warnings_of(&doc(&format!(",\"user\":\"{}\"", "u".repeat(251))));
    assert_eq!(w, vec!["user: longer than 250 characters"]);
    let w = warnings_of(&doc("").replace("\"svc\"", "\"a?b\""));
    assert!(
        w[0].starts_with("name: characters outside the X-Ray name charset: '?'"),
        "{w:?}"
    );
    let long = doc(&format!(
        ",\"metadata\":{{\"d\":{{\"v\":\"{}\"}}}}",
        "x".repeat(64_000)
    ));
    assert!(warnings_of(&long)[0].contains("over the service's 64000-byte limit"));
}

#[test]
fn what_the_service_refuses_is_invalid_with_a_path() {
    let base = doc("");
    let cases = [
        (base.replace("\"name\":\"svc\",", ""), "name: missing"),
        (
            base.replace("\"id\":\"70de5b6f19ff9a0a\",", ""),
            "id: missing",
        ),
        (
            base.replace("70de5b6f19ff9a0a", "70de5b6f19ff9a0"),
            "id: \"70de5b6f19ff9a0\" is not a 16-hex id",
        ),
        (
            base.replace("70de5b6f19ff9a0a", "70de5b6f19ff9a0z"),
            "id: \"70de5b6f19ff9a0z\" is not a 16-hex id (non-hex character at offset 15)",
        ),
        (
            base.replace(T, "1-5759e988-bd862e3fe1be46a99427279"),
            "trace_id: invalid",
        ),
        (
            base.replace(&format!("\"trace_id\":\"{T}\","), ""),
            "trace_id: missing",
        ),
        (
            base.replace("\"start_time\":1.478293361271E9,", ""),
            "start_time: missing",
        ),
        (
            base.replace(",\"end_time\":1478293361.449", ""),
            "neither end_time nor in_progress:true",
        ),
        (
            base.replace("1478293361.449", "\"soon\""),
            "end_time: expected epoch seconds",
        ),
        (doc(",\"type\":\"subsegment\""), "parent_id: missing"),
        (doc(",\"parent_id\":7"), "parent_id: expected a string"),
        (
            doc(",\"subsegments\":[{\"name\":\"q\",\"id\":\"0000000000000001\",\"start_time\":1}]"),
            "subsegments[0]: neither end_time",
        ),
        (
            doc(",\"subsegments\":[3]"),
            "subsegments[0]: expected a subsegment object",
        ),
    ];
    for (text, expected) in cases {
        let e = refusal_of(&text);
        assert_eq!(e.kind, InvalidKind::Refused, "{text}");
        assert!(e.reason.starts_with(expected), "{}: {}", expected, e.reason);
    }
    assert_eq!(refusal_of("{\"name\":").kind, InvalidKind::NotJson);
    assert!(refusal_of("{\"name\":")
        .reason
        .contains("truncated datagram"));
    assert_eq!(refusal_of("[1,2]").kind, InvalidKind::NotJson);
    let e = refusal_of(&base.replace("\"name\":\"svc\",", ""));
    assert_eq!(e.trace_id.as_deref(), Some(T));
    assert_eq!(e.id.as_deref(), Some("70de5b6f19ff9a0a"));
}

#[test]
fn sql_url_rule_matches_the_receivers_regex() {
    for (url, ok) in [
        ("postgresql://host:5432/db", true),
        ("jdbc:mysql://host/db?ssl=true", true),
        ("mysql://host/a/b", true),
        ("mysql://host", false),
        ("mysql://host/", false),
        ("mysql://host/?x", false),
        ("//host/db", false),
        ("//a//b/c", true),
        ("db", false),
    ] {
        assert_eq!(sql_url_has_database(url), ok, "{url}");
    }
}
