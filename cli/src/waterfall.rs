//! Printing a reassembled trace as a waterfall: one line per entity, indented by depth, a time
//! bar scaled to the whole trace, the duration, the namespace, HTTP/AWS/SQL details,
//! annotations and error/fault/throttle marks; exception messages on the lines below; then the
//! document warnings and the collector's notes about the trace.

use std::fmt::Write as _;

use oxray_core::model::{AnnotationValue, Cause, EntityData};

use crate::assemble::{Node, NodeKind, TraceTree};

/// How to draw.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// ANSI colours.
    pub color: bool,
    /// ASCII only (no block characters).
    pub ascii: bool,
    /// Width of the time bar in columns.
    pub bar_width: usize,
    /// Longest name column (indent included) before names are shortened.
    pub max_name_width: usize,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            color: false,
            ascii: false,
            bar_width: 30,
            max_name_width: 44,
        }
    }
}

const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const MAGENTA: &str = "\x1b[35m";
const CYAN: &str = "\x1b[36m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color && !text.is_empty() {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    }
}

/// `12.34 ms` below a second, `1.234 s` from a second on.
pub fn format_duration(micros: u64) -> String {
    if micros < 1_000_000 {
        format!("{:.2} ms", micros as f64 / 1000.0)
    } else {
        format!("{:.3} s", micros as f64 / 1_000_000.0)
    }
}

/// An annotation value as written in a filter expression: strings quoted.
pub fn format_annotation(value: &AnnotationValue) -> String {
    match value {
        AnnotationValue::Str(s) => serde_json::to_string(s).unwrap_or_default(),
        AnnotationValue::Int(i) => i.to_string(),
        AnnotationValue::Float(f) => f.to_string(),
        AnnotationValue::Bool(b) => b.to_string(),
    }
}

/// `1 document`, `2 documents`, `3 entities`.
pub fn plural(n: usize, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {noun}s"),
    }
}

fn shorten(text: &str, max: usize, ascii: bool) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let keep: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{keep}{}", if ascii { "~" } else { "…" })
}

/// Renders one trace. `heading` is added to the first line (e.g. why the trace was printed).
pub fn render(tree: &TraceTree, style: &Style, heading: Option<&str>) -> String {
    let mut out = String::new();
    let mut flags = Vec::new();
    let (mut fault, mut error, mut throttle) = (false, false, false);
    tree.walk(&mut |n, _| {
        fault |= n.data.fault;
        error |= n.data.error;
        throttle |= n.data.throttle;
    });
    if fault {
        flags.push(style.paint(RED, "FAULT"));
    }
    if error {
        flags.push(style.paint(YELLOW, "ERROR"));
    }
    if throttle {
        flags.push(style.paint(MAGENTA, "THROTTLE"));
    }
    let documents = match tree.duplicates {
        0 => plural(tree.documents, "document"),
        d => format!("{} (+{d} duplicate)", plural(tree.documents, "document")),
    };
    let _ = write!(
        out,
        "{} {}  {}  {} in {}",
        style.paint(BOLD, "trace"),
        style.paint(BOLD, &tree.trace_id.to_string()),
        format_duration(tree.duration_micros()),
        plural(tree.entity_count(), "entity"),
        documents
    );
    for f in flags {
        let _ = write!(out, "  {f}");
    }
    if let Some(h) = heading {
        let _ = write!(out, "  {}", style.paint(DIM, h));
    }
    out.push('\n');

    let mut name_width = 0;
    tree.walk(&mut |n, depth| {
        name_width = name_width.max(2 + depth * 2 + label(n).chars().count());
    });
    let name_width = name_width.clamp(16, style.max_name_width);
    tree.walk(&mut |n, depth| line(&mut out, tree, n, depth, name_width, style));

    if !tree.warnings.is_empty() {
        let _ = writeln!(out, "  {}", style.paint(YELLOW, "warnings:"));
        for (entity, w) in &tree.warnings {
            let mark = if style.ascii { "!" } else { "⚠" };
            let _ = writeln!(out, "    {} {entity}: {w}", style.paint(YELLOW, mark));
        }
    }
    let mut notes = tree.notes.clone();
    if tree.replaced_in_progress > 0 {
        notes.push(format!(
            "{} in-progress version(s) replaced by the complete document",
            tree.replaced_in_progress
        ));
    }
    for note in notes {
        let _ = writeln!(out, "  {} {note}", style.paint(DIM, "note:"));
    }
    out
}

fn label(n: &Node) -> String {
    match n.kind {
        NodeKind::MissingParent => format!("[{} not received]", n.id),
        _ => n.data.name.clone(),
    }
}

fn bar(tree: &TraceTree, n: &Node, style: &Style) -> String {
    let w = style.bar_width.max(1);
    let t0 = tree.start_micros;
    let span = tree.duration_micros().max(1) as f64;
    let start = n.start_micros().saturating_sub(t0) as f64;
    let end = n.end_micros().unwrap_or(tree.end_micros).saturating_sub(t0) as f64;
    let mut c0 = ((start / span) * w as f64).floor() as usize;
    let mut c1 = ((end / span) * w as f64).ceil() as usize;
    c0 = c0.min(w - 1);
    c1 = c1.clamp(c0 + 1, w);
    let fill = match (n.kind, n.in_progress(), style.ascii) {
        (NodeKind::MissingParent, _, false) => "┄",
        (NodeKind::MissingParent, _, true) => ".",
        (_, true, false) => "░",
        (_, true, true) => "~",
        (_, false, false) => "█",
        (_, false, true) => "#",
    };
    let filled = style.paint(CYAN, &fill.repeat(c1 - c0));
    format!("|{}{}{}|", " ".repeat(c0), filled, " ".repeat(w - c1))
}

fn details(data: &EntityData, n: &Node, style: &Style) -> Vec<String> {
    let mut parts = Vec::new();
    if n.in_progress() {
        parts.push(style.paint(MAGENTA, "IN PROGRESS"));
    }
    if let Some(ns) = data
        .namespace
        .map(|ns| ns.as_str().to_string())
        .or(n.other_namespace.clone())
    {
        parts.push(style.paint(DIM, &ns));
    }
    if data.fault {
        parts.push(style.paint(RED, "FAULT"));
    }
    if data.error {
        parts.push(style.paint(YELLOW, "ERROR"));
    }
    if data.throttle {
        parts.push(style.paint(MAGENTA, "THROTTLE"));
    }
    let request = data.http_request.as_ref();
    let status = data.http_response.as_ref().and_then(|r| r.status);
    if request.is_some() || status.is_some() {
        let mut http = Vec::new();
        if let Some(m) = request.and_then(|r| r.method.as_deref()) {
            http.push(m.to_string());
        }
        if let Some(u) = request.and_then(|r| r.url.as_deref()) {
            http.push(shorten(u, 60, style.ascii));
        }
        if let Some(s) = status {
            http.push(format!("{} {s}", if style.ascii { "->" } else { "→" }));
        }
        parts.push(http.join(" "));
    }
    for (key, label) in [
        ("operation", "operation"),
        ("table_name", "table"),
        ("queue_url", "queue"),
    ] {
        if let Some(v) = data.aws.get(key).and_then(|v| v.as_str()) {
            parts.push(format!("{label}={}", shorten(v, 40, style.ascii)));
        }
    }
    if let Some(sql) = &data.sql {
        if let Some(q) = sql.sanitized_query.as_deref().or(sql.url.as_deref()) {
            parts.push(format!("sql: {}", shorten(q, 60, style.ascii)));
        }
    }
    for (k, v) in &data.annotations {
        parts.push(format!(
            "{k}={}",
            shorten(&format_annotation(v), 40, style.ascii)
        ));
    }
    parts
}

fn line(
    out: &mut String,
    tree: &TraceTree,
    n: &Node,
    depth: usize,
    name_width: usize,
    style: &Style,
) {
    let indent = "  ".repeat(depth + 1);
    let name = shorten(
        &label(n),
        name_width.saturating_sub(indent.len()).max(4),
        style.ascii,
    );
    let pad = name_width.saturating_sub(indent.len() + name.chars().count());
    let shown_name = match n.kind {
        NodeKind::Segment => style.paint(BOLD, &name),
        NodeKind::MissingParent => style.paint(DIM, &name),
        NodeKind::Subsegment => name,
    };
    let duration = n.duration_micros().map(format_duration).unwrap_or_default();
    let _ = write!(
        out,
        "{indent}{shown_name}{} {} {:>10}",
        " ".repeat(pad),
        bar(tree, n, style),
        duration
    );
    for part in details(&n.data, n, style) {
        let _ = write!(out, "  {part}");
    }
    // A placeholder has no duration or details: no trailing blanks.
    out.truncate(out.trim_end_matches(' ').len());
    out.push('\n');
    if let Some(Cause::Details { exceptions, .. }) = &n.data.cause {
        let mark = if style.ascii { "x" } else { "✗" };
        for e in exceptions {
            let text = match (e.type_name.as_deref(), e.message.as_deref()) {
                (Some(t), Some(m)) => format!("{t}: {m}"),
                (Some(t), None) => t.to_string(),
                (None, Some(m)) => m.to_string(),
                (None, None) => "exception".to_string(),
            };
            let remote = if e.remote { " (remote)" } else { "" };
            let _ = writeln!(
                out,
                "{indent}  {} {}{remote}",
                style.paint(RED, mark),
                shorten(&text, 160, style.ascii)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assemble::{Received, Trace};
    use crate::validate::accept_bytes;
    use oxray_core::id::TraceId;

    const T: &str = "1-5759e988-bd862e3fe1be46a994272793";

    fn tree(docs: &[&str]) -> TraceTree {
        let mut trace = Trace::new(TraceId::parse(T).unwrap());
        for (seq, text) in docs.iter().enumerate() {
            let a = accept_bytes(text.as_bytes()).unwrap_or_else(|e| panic!("{}", e.reason));
            trace.add(Received {
                seq: seq as u64,
                entity: a.entity,
                warnings: a.warnings,
                size: text.len(),
            });
        }
        trace.tree()
    }

    #[test]
    fn a_lambda_trace_reads_as_a_waterfall() {
        let handler = format!(
            "{{\"name\":\"## index.handler\",\"id\":\"1000000000000001\",\"trace_id\":\"{T}\",\"type\":\"subsegment\",\"parent_id\":\"53995c3f42cd8ad8\",\"start_time\":100.0,\"end_time\":100.1,\"fault\":true,\"annotations\":{{\"ColdStart\":true,\"Service\":\"payment\"}},\"cause\":{{\"exceptions\":[{{\"id\":\"2000000000000001\",\"type\":\"PaymentError\",\"message\":\"declined\"}}]}},\"subsegments\":[{{\"name\":\"bank\",\"id\":\"1000000000000002\",\"start_time\":100.05,\"end_time\":100.1,\"namespace\":\"remote\",\"error\":true,\"http\":{{\"request\":{{\"method\":\"POST\",\"url\":\"http://bank/charge\"}},\"response\":{{\"status\":402}}}}}}]}}"
        );
        let streamed = format!(
            "{{\"name\":\"### validate\",\"id\":\"1000000000000003\",\"trace_id\":\"{T}\",\"type\":\"subsegment\",\"parent_id\":\"1000000000000001\",\"start_time\":100.0,\"in_progress\":true,\"namespace\":\"local\"}}"
        );
        let text = render(
            &tree(&[&handler, &streamed]),
            &Style {
                ascii: true,
                ..Style::default()
            },
            Some("complete"),
        );
        let expected = format!(
            "trace {T}  100.00 ms  3 entities in 2 documents  FAULT  ERROR  complete
  [53995c3f42cd8ad8 not received] |..............................|
    ## index.handler              |##############################|  100.00 ms  FAULT  ColdStart=true  Service=\"payment\"
      x PaymentError: declined
      ### validate                |~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~|             IN PROGRESS  local
      bank                        |               ###############|   50.00 ms  remote  ERROR  POST http://bank/charge -> 402
  warnings:
    ! ### validate (1000000000000003): namespace: \"local\" (the Python SDK's default) is refused by OpenTelemetry awsxray receivers before 2024; omit it for local work
"
        );
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn colours_only_when_asked() {
        let doc = format!(
            "{{\"name\":\"svc\",\"id\":\"1000000000000001\",\"trace_id\":\"{T}\",\"start_time\":100.0,\"end_time\":101.5,\"throttle\":true}}"
        );
        let plain = render(&tree(&[&doc]), &Style::default(), None);
        assert!(!plain.contains('\x1b'));
        assert!(plain.contains("████"));
        assert!(plain.contains("1.500 s"));
        let coloured = render(
            &tree(&[&doc]),
            &Style {
                color: true,
                ..Style::default()
            },
            None,
        );
        assert!(coloured.contains("\x1b[35mTHROTTLE\x1b[0m"));
    }

    #[test]
    fn durations_are_readable() {
        assert_eq!(format_duration(0), "0.00 ms");
        assert_eq!(format_duration(1_234), "1.23 ms");
        assert_eq!(format_duration(999_999), "1000.00 ms");
        assert_eq!(format_duration(2_500_000), "2.500 s");
    }
}
