//! Property tests of the model: random sequences of begin / annotate / metadata / exception /
//! in-progress / end, run from several threads at once on one memory-mode recorder. Whatever
//! the order, every document must be schema-valid and pass the stricter receivers' rules,
//! every entity must sit under the parent it was begun under (embedded in it, or standalone
//! with its `parent_id`), carry exactly what was recorded on it, and every closed entity must
//! be emitted exactly once, counting embedded, streamed and standalone documents.
//!
//! 48 cases per run by default (a few seconds); `PROPTEST_CASES=2000 cargo test -p oxray-core
//! --test model_properties` runs more.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use oxray_core::config::{Config, EmitMode};
use oxray_core::model::{Exception, JsonText};
use oxray_core::sampling::SamplingRequest;
use oxray_core::{AnnotationValue, Entity, EntityId, Recorder, TraceId};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use serde_json::Value;

const THREADS: usize = 3;
const ANNOTATION_KEYS: [&str; 4] = ["a", "b", "c_1", "Key"];
const METADATA_KEYS: [&str; 3] = ["m0", "m1", "m2"];

#[derive(Debug, Clone)]
enum Annotation {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Annotation {
    fn to_core(&self) -> AnnotationValue {
        match self {
            Annotation::Str(s) => AnnotationValue::Str(s.clone()),
            Annotation::Int(i) => AnnotationValue::Int(*i),
            Annotation::Float(f) => AnnotationValue::Float(*f),
            Annotation::Bool(b) => AnnotationValue::Bool(*b),
        }
    }

    /// True when `written` (as read back from a document) holds this value; a float may be
    /// written in integer form.
    fn is_written_as(&self, written: &Value) -> bool {
        match self {
            Annotation::Str(s) => written.as_str() == Some(s.as_str()),
            Annotation::Int(i) => written.as_i64() == Some(*i),
            Annotation::Float(f) => written.as_f64() == Some(*f),
            Annotation::Bool(b) => written.as_bool() == Some(*b),
        }
    }
}

/// One step of one thread. Indices are taken modulo what exists when the step runs.
#[derive(Debug, Clone)]
enum Op {
    /// A new segment (`None`) or a subsegment of any entity begun so far, by any thread.
    Begin {
        parent: Option<usize>,
    },
    Annotate {
        target: usize,
        key: usize,
        value: Annotation,
    },
    Metadata {
        target: usize,
        key: usize,
        text: String,
    },
    Exception {
        target: usize,
        message: String,
    },
    InProgress {
        target: usize,
    },
    End {
        target: usize,
    },
}

fn annotation() -> impl Strategy<Value = Annotation> {
    prop_oneof![
        ".{0,24}".prop_map(Annotation::Str),
        any::<i64>().prop_map(Annotation::Int),
        (-1.0e12f64..1.0e12).prop_map(Annotation::Float),
        any::<bool>().prop_map(Annotation::Bool),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => proptest::option::weighted(0.85, any::<usize>()).prop_map(|parent| Op::Begin { parent }),
        3 => (any::<usize>(), 0..ANNOTATION_KEYS.len(), annotation())
            .prop_map(|(target, key, value)| Op::Annotate { target, key, value }),
        2 => (any::<usize>(), 0..METADATA_KEYS.len(), ".{0,40}")
            .prop_map(|(target, key, text)| Op::Metadata { target, key, text }),
        1 => (any::<usize>(), ".{0,16}").prop_map(|(target, message)| Op::Exception { target, message }),
        1 => any::<usize>().prop_map(|target| Op::InProgress { target }),
        3 => any::<usize>().prop_map(|target| Op::End { target }),
    ]
}

/// What one entity should look like, as its owning thread recorded it.
#[derive(Debug)]
struct Expected {
    id: EntityId,
    trace_id: TraceId,
    parent: Option<EntityId>,
    annotations: HashMap<&'static str, Annotation>,
    metadata: HashMap<&'static str, String>,
    exceptions: usize,
    ended: bool,
}

struct Owned {
    entity: Entity,
    expected: Expected,
}

/// Entities any thread may begin children under.
type Pool = Mutex<Vec<Entity>>;

fn begin(recorder: &Recorder, pool: &Pool, parent: Option<usize>, name: &str) -> Owned {
    let parent = parent.and_then(|p| {
        let pool = pool.lock().unwrap();
        (!pool.is_empty()).then(|| pool[p % pool.len()].clone())
    });
    let entity = match &parent {
        Some(p) => p.begin_subsegment(name),
        None => recorder.begin_segment(Some(name), None, &SamplingRequest::default()),
    };
    pool.lock().unwrap().push(entity.clone());
    Owned {
        expected: Expected {
            id: entity.id(),
            trace_id: entity.trace_id(),
            parent: parent.map(|p| p.id()),
            annotations: HashMap::new(),
            metadata: HashMap::new(),
            exceptions: 0,
            ended: false,
        },
        entity,
    }
}

/// Runs one thread's steps on its own entities (children may hang under anyone's).
fn run_thread(thread: usize, ops: &[Op], recorder: &Recorder, pool: &Pool) -> Vec<Expected> {
    let mut mine: Vec<Owned> = vec![begin(recorder, pool, None, &format!("t{thread}"))];
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Begin { parent } => {
                let owned = begin(recorder, pool, *parent, &format!("t{thread}-{step}"));
                mine.push(owned);
            }
            Op::Annotate { target, key, value } => {
                let i = target % mine.len();
                let o = &mut mine[i];
                let result = o
                    .entity
                    .put_annotation(ANNOTATION_KEYS[*key], value.to_core());
                assert_eq!(result.is_ok(), !o.expected.ended, "{result:?}");
                if result.is_ok() {
                    o.expected
                        .annotations
                        .insert(ANNOTATION_KEYS[*key], value.clone());
                }
            }
            Op::Metadata { target, key, text } => {
                let i = target % mine.len();
                let o = &mut mine[i];
                let value = JsonText::from_value(&Value::from(text.as_str()));
                let result = o.entity.put_metadata(None, METADATA_KEYS[*key], value);
                assert_eq!(result.is_ok(), !o.expected.ended, "{result:?}");
                if result.is_ok() {
                    o.expected
                        .metadata
                        .insert(METADATA_KEYS[*key], text.clone());
                }
            }
            Op::Exception { target, message } => {
                let i = target % mine.len();
                let o = &mut mine[i];
                let e = Exception::new(Some("Boom".into()), Some(message.clone()));
                let result = o.entity.add_exception(e, None);
                assert_eq!(result.is_ok(), !o.expected.ended, "{result:?}");
                o.expected.exceptions += usize::from(result.is_ok());
            }
            Op::InProgress { target } => {
                let o = &mine[target % mine.len()];
                let _ = o.entity.send_in_progress();
            }
            Op::End { target } => {
                let i = target % mine.len();
                let o = &mut mine[i];
                assert_eq!(o.entity.end().is_ok(), !o.expected.ended);
                o.expected.ended = true;
            }
        }
    }
    // Whatever is still open ends now, newest first.
    for o in mine.iter_mut().rev() {
        if !o.expected.ended {
            o.entity.end().unwrap();
            o.expected.ended = true;
        }
    }
    mine.into_iter().map(|o| o.expected).collect()
}

/// One entity as found in a document: its own fields and where it was found.
struct Found {
    doc: Value,
    /// The entity it was embedded in, or its `parent_id` when it came on its own.
    parent: Option<String>,
    trace_id: String,
}

/// Every entity in `doc`, depth first, with the parent it was embedded in (or named).
fn flatten(doc: &Value, embedded_in: Option<&str>, trace_id: &str, out: &mut Vec<Found>) {
    let parent = match embedded_in {
        Some(p) => {
            assert!(
                doc.get("parent_id").is_none(),
                "embedded with a parent_id: {doc}"
            );
            Some(p.to_string())
        }
        None => doc["parent_id"].as_str().map(str::to_string),
    };
    let id = doc["id"].as_str().unwrap().to_string();
    for child in doc["subsegments"].as_array().into_iter().flatten() {
        flatten(child, Some(&id), trace_id, out);
    }
    out.push(Found {
        doc: doc.clone(),
        parent,
        trace_id: trace_id.to_string(),
    });
}

fn check(plan: &[Vec<Op>], max_embedded_children: usize) -> Result<(), TestCaseError> {
    let recorder = Recorder::new(Config {
        emit_mode: EmitMode::Memory,
        max_embedded_children,
        ..Config::default()
    });
    let pool: Pool = Mutex::new(Vec::new());
    let start = Arc::new(Barrier::new(plan.len()));
    let expected: Vec<Expected> = std::thread::scope(|scope| {
        let handles: Vec<_> = plan
            .iter()
            .enumerate()
            .map(|(t, ops)| {
                let (recorder, pool, start) = (&recorder, &pool, Arc::clone(&start));
                scope.spawn(move || {
                    start.wait();
                    run_thread(t, ops, recorder, pool)
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("no thread panics"))
            .collect()
    });
    drop(pool);
    prop_assert!(recorder.flush(Duration::from_secs(5)));
    let documents = recorder.take_documents();

    let mut found = Vec::new();
    for text in &documents {
        let doc = common::validate_document(text);
        if doc.get("parent_id").is_none() {
            prop_assert!(doc.get("type").is_none(), "a segment has no type: {doc}");
        } else {
            prop_assert_eq!(&doc["type"], "subsegment");
        }
        let trace_id = doc["trace_id"].as_str().unwrap().to_string();
        flatten(&doc, None, &trace_id, &mut found);
    }
    let mut closed: HashMap<String, Vec<&Found>> = HashMap::new();
    let mut in_progress: HashMap<String, usize> = HashMap::new();
    for f in &found {
        let id = f.doc["id"].as_str().unwrap().to_string();
        if f.doc.get("end_time").is_some() {
            closed.entry(id).or_default().push(f);
        } else {
            prop_assert_eq!(&f.doc["in_progress"], true);
            *in_progress.entry(id).or_default() += 1;
        }
    }
    prop_assert_eq!(
        closed.len(),
        expected.len(),
        "one closed entity per entity begun"
    );
    for e in &expected {
        let id = e.id.to_string();
        let versions = closed.get(&id).map_or(&[][..], Vec::as_slice);
        prop_assert_eq!(
            versions.len(),
            1,
            "entity {} emitted {} times closed",
            id,
            versions.len()
        );
        let f = versions[0];
        prop_assert_eq!(
            f.parent.clone(),
            e.parent.map(|p| p.to_string()),
            "parent of {}",
            id
        );
        prop_assert_eq!(&f.trace_id, &e.trace_id.to_string());
        let annotations = f.doc["annotations"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        prop_assert_eq!(
            annotations.len(),
            e.annotations.len(),
            "annotations of {}",
            id
        );
        for (key, value) in &e.annotations {
            let written = annotations.get(*key).cloned().unwrap_or_default();
            prop_assert!(
                value.is_written_as(&written),
                "{} {:?} written as {}",
                key,
                value,
                written
            );
        }
        for (key, text) in &e.metadata {
            prop_assert_eq!(&f.doc["metadata"]["default"][*key], text.as_str());
        }
        let exceptions = f.doc["cause"]["exceptions"].as_array().map_or(0, Vec::len);
        prop_assert_eq!(exceptions, e.exceptions);
        if e.exceptions > 0 {
            prop_assert_eq!(&f.doc["fault"], true);
        }
    }
    for id in in_progress.keys() {
        prop_assert!(closed.contains_key(id), "in-progress {} never closed", id);
    }
    Ok(())
}

#[test]
fn concurrent_random_operations_emit_valid_documents_with_correct_parentage_exactly_once() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let strategy = (
        proptest::collection::vec(proptest::collection::vec(op(), 0..40), THREADS),
        prop_oneof![Just(0usize), Just(1), Just(3), Just(1000)],
    );
    runner
        .run(&strategy, |(plan, max_children)| check(&plan, max_children))
        .unwrap();
}
