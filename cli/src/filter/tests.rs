//! The filter language: a table of expressions × traces, and bad expressions with positions.

use super::*;
use crate::assemble::{Received, Trace};
use crate::validate::accept_bytes;
use oxray_core::id::TraceId;

fn tree(n: u32, docs: &[&str]) -> TraceTree {
    let id = TraceId {
        epoch: 0x5759e988,
        random: n as u128,
    };
    let mut t = Trace::new(id);
    for (seq, text) in docs.iter().enumerate() {
        let text = text.replace("TRACE", &id.to_string());
        let a = accept_bytes(text.as_bytes()).unwrap_or_else(|e| panic!("{}: {text}", e.reason));
        t.add(Received {
            seq: seq as u64,
            entity: a.entity,
            warnings: a.warnings,
            size: text.len(),
        });
    }
    t.tree()
}

/// Three traces: a slow checkout with a failing payment call and a throttled DynamoDB call;
/// a fast catalog request; a Lambda handler (facade not received) declined by its bank.
fn traces() -> Vec<TraceTree> {
    vec![
        tree(1, &["{\"name\":\"checkout\",\"id\":\"0000000000000001\",\"trace_id\":\"TRACE\",\"start_time\":10,\"end_time\":12.5,\"user\":\"alice\",\
\"http\":{\"request\":{\"method\":\"GET\",\"url\":\"https://shop/cart/checkout\"},\"response\":{\"status\":200}},\
\"annotations\":{\"order_id\":\"o-1\",\"amount\":12.5,\"paid\":true,\"count\":3},\"subsegments\":[\
{\"name\":\"payments-api\",\"id\":\"0000000000000002\",\"namespace\":\"remote\",\"start_time\":10.5,\"end_time\":11,\"fault\":true,\
\"http\":{\"request\":{\"method\":\"POST\",\"url\":\"https://pay/charge\"},\"response\":{\"status\":500}}},\
{\"name\":\"DynamoDB\",\"id\":\"0000000000000003\",\"namespace\":\"aws\",\"start_time\":11,\"end_time\":11.2,\"throttle\":true,\"error\":true}]}"]),
        tree(2, &["{\"name\":\"catalog\",\"id\":\"0000000000000004\",\"trace_id\":\"TRACE\",\"start_time\":10,\"end_time\":10.1,\
\"http\":{\"request\":{\"method\":\"GET\",\"url\":\"https://shop/items\"},\"response\":{\"status\":200}},\"annotations\":{\"paid\":false,\"count\":10}}"]),
        tree(3, &["{\"name\":\"## handler\",\"id\":\"0000000000000005\",\"trace_id\":\"TRACE\",\"type\":\"subsegment\",\"parent_id\":\"53995c3f42cd8ad8\",\
\"start_time\":10,\"end_time\":10.5,\"error\":true,\"annotations\":{\"ColdStart\":true},\"subsegments\":[\
{\"name\":\"bank\",\"id\":\"0000000000000006\",\"namespace\":\"remote\",\"start_time\":10.1,\"end_time\":10.4,\"error\":true,\
\"http\":{\"request\":{\"method\":\"POST\",\"url\":\"http://bank/pay\"},\"response\":{\"status\":402}}}]}"]),
    ]
}

#[test]
fn expressions_times_traces() {
    let traces = traces();
    let table: &[(&str, [bool; 3])] = &[
        ("error", [true, false, true]),
        ("fault", [true, false, false]),
        ("throttle", [true, false, false]),
        ("ok", [false, true, false]),
        ("!ok", [true, false, true]),
        ("NOT ok", [true, false, true]),
        ("not not ok", [false, true, false]),
        ("FAULT", [true, false, false]),
        ("duration > 2", [true, false, false]),
        ("duration <= 0.1", [false, true, false]),
        ("duration = 0.5", [false, false, true]),
        ("duration != 0.5", [true, true, false]),
        ("responsetime >= 2.5", [true, false, false]),
        ("responsetime < 1", [false, true, true]),
        ("service(\"checkout\")", [true, false, false]),
        ("service(\"payments-api\")", [true, false, false]),
        ("service(\"DynamoDB\")", [true, false, false]),
        ("service(\"## handler\")", [false, false, true]),
        ("service(\"bank\")", [false, false, true]),
        ("service(\"nobody\")", [false, false, false]),
        ("http.status = 500", [true, false, false]),
        ("http.status >= 400", [true, false, true]),
        ("http.status = 200", [true, true, false]),
        ("NOT http.status = 500", [false, true, true]),
        ("http.status > 600", [false, false, false]),
        ("http.url CONTAINS \"/cart\"", [true, false, false]),
        ("http.url BEGINSWITH \"https://shop\"", [true, true, false]),
        ("http.url endswith \"/items\"", [false, true, false]),
        ("http.url = \"http://bank/pay\"", [false, false, true]),
        ("http.url != \"https://shop/items\"", [true, false, true]),
        ("http.method = \"POST\"", [true, false, true]),
        ("user = \"alice\"", [true, false, false]),
        ("user != \"alice\"", [false, false, false]),
        ("annotation.order_id = \"o-1\"", [true, false, false]),
        ("annotation.order_id CONTAINS \"o-\"", [true, false, false]),
        ("annotation.order_id = 1", [false, false, false]),
        ("annotation.amount > 10", [true, false, false]),
        (
            "annotation.count >= 3 AND annotation.count < 10",
            [true, false, false],
        ),
        ("annotation.count = 10", [false, true, false]),
        ("annotation.paid = true", [true, false, false]),
        ("annotation.paid = false", [false, true, false]),
        ("annotation.paid != true", [false, true, false]),
        ("annotation.ColdStart", [false, false, true]),
        ("annotation.missing", [false, false, false]),
        ("fault OR error AND duration < 1", [true, false, true]),
        ("(fault OR error) AND duration < 1", [false, false, true]),
        ("error and not fault", [false, false, true]),
        (
            "NOT (fault OR throttle) AND http.status = 200",
            [false, true, false],
        ),
        (
            "service(\"checkout\") OR service(\"bank\")",
            [true, false, true],
        ),
    ];
    for (text, expected) in table {
        let filter = Filter::parse(text).unwrap_or_else(|e| panic!("{}", e.render(text)));
        let got: Vec<bool> = traces.iter().map(|t| filter.matches(t)).collect();
        assert_eq!(&got[..], &expected[..], "{text}");
    }
}

#[test]
fn bad_expressions_point_at_the_offending_position() {
    let table: &[(&str, usize, &str)] = &[
        ("", 0, "the filter expression is empty"),
        ("   ", 0, "the filter expression is empty"),
        (
            "duration >",
            10,
            "duration compares with a number, found the end of the expression",
        ),
        (
            "duration > \"2\"",
            11,
            "duration compares with a number, found the string \"2\"",
        ),
        ("duratoin > 2", 0, "unknown keyword 'duratoin'"),
        ("(error", 6, "expected ')' to close the '(' at position 1"),
        ("error)", 5, "this ')' has no matching '('"),
        ("error fault", 6, "expected AND or OR before 'fault'"),
        (
            "error AND",
            9,
            "expected a condition, found the end of the expression",
        ),
        ("AND error", 0, "expected a condition before AND"),
        ("NOT", 3, "expected a condition, found the end"),
        (
            "http.url CONTAINS 5",
            18,
            "http.url compares with a quoted string, found the number 5",
        ),
        (
            "http.status CONTAINS \"5\"",
            12,
            "expected a comparison (=, !=, <, <=, >, >=) after http.status",
        ),
        (
            "http.url > \"a\"",
            9,
            "expected =, !=, CONTAINS, BEGINSWITH or ENDSWITH after http.url",
        ),
        (
            "service(checkout)",
            8,
            "service( compares with a quoted string, found 'checkout'",
        ),
        ("service \"a\"", 8, "expected '(' after service"),
        ("service(\"a\"", 11, "expected ')' after the service name"),
        ("service(\"a\") { fault }", 13, "not supported"),
        ("annotation. = 1", 0, "annotation. needs a key"),
        ("annotation.x > \"a\"", 15, "annotation.x > needs a number"),
        (
            "annotation.x = fault",
            15,
            "compares with a quoted string, a number, true or false, found 'fault'",
        ),
        ("duration == 2", 9, "use '=' to compare"),
        ("fault AND true", 10, "true needs a field"),
        ("fault AND , error", 10, "expected a condition, found ','"),
        (
            "error AND (fault OR ) ",
            20,
            "expected a condition, found ')'",
        ),
        ("http.url CONTAINS \"/x", 18, "no closing"),
        ("café = 1", 3, "unexpected character 'é'"),
    ];
    for (text, position, message) in table {
        let e = Filter::parse(text).map(|_| ()).expect_err(text);
        assert_eq!(e.position, *position, "{text}: {}", e.message);
        assert!(e.message.contains(message), "{text}: {}", e.message);
    }
}

#[test]
fn the_caret_sits_under_the_offending_character() {
    let text = "fault AND duraton > 2";
    let e = Filter::parse(text).unwrap_err();
    assert_eq!(
        e.render(text),
        "invalid filter at column 11: unknown keyword 'duraton' (known: error, fault, throttle, ok, duration, responsetime, http.status, http.url, http.method, http.useragent, http.clientip, user, annotation.KEY, service(\"name\"))\n  fault AND duraton > 2\n            ^"
    );
    // Columns count characters, not bytes.
    let text = "user = \"é\" x";
    let e = Filter::parse(text).unwrap_err();
    assert!(
        e.render(text)
            .ends_with("\n  user = \"é\" x\n             ^"),
        "{}",
        e.render(text)
    );
}

#[test]
fn deep_nesting_and_huge_expressions_are_refused_not_a_stack_overflow() {
    // Found while writing the filter's fuzz target: 10,000 '(' or NOTs overflowed the stack
    // and aborted `oxray show` (inputs that long are past libFuzzer's default 4,096 bytes).
    let parens = format!("{}ok{}", "(".repeat(50_000), ")".repeat(50_000));
    let e = Filter::parse(&parens).unwrap_err();
    assert_eq!(e.position, 100, "{}", e.message);
    assert!(
        e.message.contains("nests deeper than 100 levels"),
        "{}",
        e.message
    );
    let nots = format!("{}ok", "NOT !".repeat(30_000));
    let e = Filter::parse(&nots).unwrap_err();
    assert!(
        e.message.contains("nests deeper than 100 levels"),
        "{}",
        e.message
    );
    let chain = vec!["ok"; 20_000].join(" AND ");
    let e = Filter::parse(&chain).unwrap_err();
    assert!(
        e.message.contains("more than 1000 conditions"),
        "{}",
        e.message
    );
    // Up to the limits, expressions still parse.
    let deep = format!("{}ok{}", "(".repeat(99), ")".repeat(99));
    assert!(Filter::parse(&format!("NOT {deep}")).is_ok());
    assert!(Filter::parse(&vec!["fault"; 1000].join(" OR ")).is_ok());
}
