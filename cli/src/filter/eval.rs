//! Evaluating a filter expression against a reassembled trace.
//!
//! Flags and comparisons on entity fields match when **any** entity of the trace satisfies
//! them (`http.status = 500`: some request in the trace answered 500; `NOT fault`: no entity
//! faulted). `duration` is the whole trace (first start to last end) and `responsetime` the
//! root entity's duration, both in seconds. `service("name")` matches a trace with a node of
//! that name in the service graph (see [`crate::map::node_of`]).

use oxray_core::model::AnnotationValue;

use super::parser::{AnnotationTest, Cmp, Expr, Flag, NumField, TextField, TextOp};
use crate::assemble::{Node, NodeKind, TraceTree};
use crate::map::nodes_of;

/// What the evaluator needs of one trace, gathered once.
struct Facts<'a> {
    entities: Vec<&'a Node>,
    duration_secs: f64,
    response_secs: Option<f64>,
    services: Vec<String>,
}

impl<'a> Facts<'a> {
    fn of(tree: &'a TraceTree) -> Facts<'a> {
        let mut entities = Vec::new();
        tree.walk(&mut |n, _| {
            if n.kind != NodeKind::MissingParent {
                entities.push(n)
            }
        });
        let root = tree.roots.first().and_then(|r| match r.kind {
            NodeKind::MissingParent => r.children.first(),
            _ => Some(r),
        });
        Facts {
            entities,
            duration_secs: tree.duration_micros() as f64 / 1e6,
            response_secs: root.and_then(Node::duration_micros).map(|d| d as f64 / 1e6),
            services: nodes_of(tree)
                .into_iter()
                .map(|(_, name, _)| name)
                .collect(),
        }
    }
}

/// True when the trace matches.
pub fn matches(expr: &Expr, tree: &TraceTree) -> bool {
    eval(expr, &Facts::of(tree))
}

fn eval(expr: &Expr, facts: &Facts<'_>) -> bool {
    match expr {
        Expr::And(a, b) => eval(a, facts) && eval(b, facts),
        Expr::Or(a, b) => eval(a, facts) || eval(b, facts),
        Expr::Not(a) => !eval(a, facts),
        Expr::Flag(flag) => {
            let any = |f: fn(&Node) -> bool| facts.entities.iter().any(|n| f(n));
            match flag {
                Flag::Error => any(|n| n.data.error),
                Flag::Fault => any(|n| n.data.fault),
                Flag::Throttle => any(|n| n.data.throttle),
                Flag::Ok => !any(|n| n.data.error || n.data.fault || n.data.throttle),
            }
        }
        Expr::Number(field, cmp, value) => match field {
            NumField::Duration => compare(facts.duration_secs, *cmp, *value),
            NumField::ResponseTime => facts
                .response_secs
                .is_some_and(|r| compare(r, *cmp, *value)),
            NumField::HttpStatus => facts.entities.iter().any(|n| {
                n.data
                    .http_response
                    .and_then(|r| r.status)
                    .is_some_and(|s| compare(s as f64, *cmp, *value))
            }),
        },
        Expr::Text(field, op, value) => facts.entities.iter().any(|n| {
            let request = n.data.http_request.as_ref();
            let text = match field {
                TextField::HttpUrl => request.and_then(|r| r.url.as_deref()),
                TextField::HttpMethod => request.and_then(|r| r.method.as_deref()),
                TextField::HttpUserAgent => request.and_then(|r| r.user_agent.as_deref()),
                TextField::HttpClientIp => request.and_then(|r| r.client_ip.as_deref()),
                TextField::User => n.data.user.as_deref(),
            };
            text.is_some_and(|t| text_matches(t, *op, value))
        }),
        Expr::Annotation(key, test) => facts.entities.iter().any(|n| {
            n.data
                .annotations
                .iter()
                .filter(|(k, _)| k == key)
                .any(|(_, v)| annotation_matches(v, test))
        }),
        Expr::Service(name) => facts.services.iter().any(|s| s == name),
    }
}

fn compare(a: f64, cmp: Cmp, b: f64) -> bool {
    match cmp {
        Cmp::Eq => a == b,
        Cmp::Ne => a != b,
        Cmp::Lt => a < b,
        Cmp::Le => a <= b,
        Cmp::Gt => a > b,
        Cmp::Ge => a >= b,
    }
}

fn text_matches(text: &str, op: TextOp, value: &str) -> bool {
    match op {
        TextOp::Eq => text == value,
        TextOp::Ne => text != value,
        TextOp::Contains => text.contains(value),
        TextOp::BeginsWith => text.starts_with(value),
        TextOp::EndsWith => text.ends_with(value),
    }
}

fn annotation_matches(value: &AnnotationValue, test: &AnnotationTest) -> bool {
    match (test, value) {
        (AnnotationTest::IsTrue, AnnotationValue::Bool(b)) => *b,
        (AnnotationTest::Number(cmp, n), AnnotationValue::Int(i)) => compare(*i as f64, *cmp, *n),
        (AnnotationTest::Number(cmp, n), AnnotationValue::Float(f)) => compare(*f, *cmp, *n),
        (AnnotationTest::Bool(Cmp::Eq, b), AnnotationValue::Bool(v)) => v == b,
        (AnnotationTest::Bool(Cmp::Ne, b), AnnotationValue::Bool(v)) => v != b,
        (AnnotationTest::Text(op, s), AnnotationValue::Str(v)) => text_matches(v, *op, s),
        _ => false,
    }
}
