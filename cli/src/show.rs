//! `oxray show` and `oxray map`: reading a JSONL file back into traces.
//!
//! Documents are reassembled in file order (arrival order), every trace from all of its
//! documents — also traces the collector had to evict early. Invalid records and unreadable
//! lines are counted and can be listed.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::Path;

use oxray_core::id::TraceId;

use crate::assemble::{Received, Trace, TraceTree};
use crate::filter::Filter;
use crate::map::ServiceGraph;
use crate::store::{self, Line};
use crate::validate;
use crate::waterfall::{self, Style};

/// The contents of a JSONL file.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Reassembled traces, by start time.
    pub traces: Vec<TraceTree>,
    /// Invalid datagrams recorded by the collector: `line: from [kind] reason`.
    pub invalid: Vec<String>,
    /// Lines that could not be read: `line: reason`.
    pub unreadable: Vec<String>,
    /// Documents reassembled.
    pub documents: usize,
}

/// Reads a file (`-` for standard input).
pub fn load(path: &Path) -> io::Result<Loaded> {
    if path == Path::new("-") {
        load_from(io::stdin().lock())
    } else {
        load_from(BufReader::new(File::open(path)?))
    }
}

/// Reads JSONL records from `input`.
pub fn load_from(input: impl io::BufRead) -> io::Result<Loaded> {
    let mut loaded = Loaded::default();
    let mut traces: HashMap<TraceId, Trace> = HashMap::new();
    let mut evicted: HashSet<String> = HashSet::new();
    store::read(input, |line| match line {
        Line::Document {
            line,
            document,
            bytes,
        } => match validate::accept_value(document, bytes) {
            Ok(accepted) => {
                let Some(trace_id) = accepted.entity.trace_id else {
                    return;
                };
                loaded.documents += 1;
                traces
                    .entry(trace_id)
                    .or_insert_with(|| Trace::new(trace_id))
                    .add(Received {
                        seq: line as u64,
                        entity: accepted.entity,
                        warnings: accepted.warnings,
                        size: bytes,
                    });
            }
            Err(invalid) => loaded.invalid.push(format!(
                "line {line}: [{}] {}",
                invalid.kind.as_str(),
                invalid.reason
            )),
        },
        Line::Invalid {
            line,
            from,
            kind,
            reason,
        } => loaded
            .invalid
            .push(format!("line {line}: from {from} [{kind}] {reason}")),
        Line::Note { note, record, .. } => {
            if note == "evicted" {
                if let Some(t) = record.get("trace_id").and_then(|v| v.as_str()) {
                    evicted.insert(t.to_string());
                }
            }
        }
        Line::Unreadable { line, reason } => {
            loaded.unreadable.push(format!("line {line}: {reason}"))
        }
    })?;
    let mut trees: Vec<TraceTree> = traces
        .into_values()
        .map(|mut t| {
            if evicted.contains(&t.trace_id.to_string()) {
                t.notes.push(
                    "the collector evicted this trace while it was open (cap reached); all its documents are reassembled here"
                        .into(),
                );
            }
            t.tree()
        })
        .collect();
    trees.sort_by_key(|t| (t.start_micros, t.trace_id.to_string()));
    loaded.traces = trees;
    Ok(loaded)
}

/// What `oxray show` prints.
#[derive(Debug, Clone)]
pub struct ShowOptions {
    pub trace: Option<TraceId>,
    pub filter: Option<Filter>,
    pub style: Style,
    /// List invalid records and unreadable lines.
    pub list_invalid: bool,
}

/// Prints the matching traces to `out` and a summary to `diag`; returns the exit code.
pub fn show(
    loaded: &Loaded,
    source: &str,
    options: &ShowOptions,
    out: &mut dyn Write,
    diag: &mut dyn Write,
) -> i32 {
    let mut shown = 0;
    for tree in &loaded.traces {
        if options.trace.is_some_and(|t| t != tree.trace_id) {
            continue;
        }
        if options.filter.as_ref().is_some_and(|f| !f.matches(tree)) {
            continue;
        }
        shown += 1;
        let _ = writeln!(out, "{}", waterfall::render(tree, &options.style, None));
    }
    if options.list_invalid {
        for line in loaded.invalid.iter().chain(&loaded.unreadable) {
            let _ = writeln!(out, "{line}");
        }
    }
    let _ = writeln!(
        diag,
        "{}",
        summary(loaded, source, shown, options.list_invalid)
    );
    if let Some(t) = options.trace {
        if shown == 0 {
            let present = loaded.traces.iter().any(|tree| tree.trace_id == t);
            let why = if present {
                "does not match the filter"
            } else {
                "is not in the file"
            };
            let _ = writeln!(diag, "oxray show: trace {t} {why}");
            return 1;
        }
    }
    0
}

fn summary(loaded: &Loaded, source: &str, shown: usize, listed: bool) -> String {
    let mut text = format!(
        "{source}: {shown} of {} trace(s) shown ({} document(s))",
        loaded.traces.len(),
        loaded.documents
    );
    if !loaded.invalid.is_empty() {
        text.push_str(&format!("; {} invalid record(s)", loaded.invalid.len()));
    }
    if !loaded.unreadable.is_empty() {
        text.push_str(&format!("; {} unreadable line(s)", loaded.unreadable.len()));
    }
    let anything_bad = !loaded.invalid.is_empty() || !loaded.unreadable.is_empty();
    if !listed && anything_bad {
        text.push_str(" — list them with --invalid");
    }
    text
}

/// Prints the service graph of the matching traces; returns the exit code.
pub fn map(loaded: &Loaded, filter: Option<&Filter>, json: bool, out: &mut dyn Write) -> i32 {
    let mut graph = ServiceGraph::default();
    for tree in &loaded.traces {
        if filter.is_some_and(|f| !f.matches(tree)) {
            continue;
        }
        graph.add(tree);
    }
    let text = if json {
        format!("{}\n", graph.to_json())
    } else {
        graph.render()
    };
    let _ = out.write_all(text.as_bytes());
    0
}
