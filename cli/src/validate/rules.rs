//! The rules themselves: a walk over a decoded document that stops at the first thing the
//! service refuses (a [`Fatal`] text) and records everything else as [`Warning`]s, removing
//! wrongly typed optional fields so the core's parser can read the rest.

use oxray_core::id::{EntityId, TraceId};
use serde_json::{Map, Value};

use super::Warning;

/// The JSON type an optional field should have.
#[derive(Clone, Copy)]
pub(super) enum Want {
    Str,
    Bool,
}

/// A fatal problem: the document is invalid. The text is `path: reason`.
pub(super) type Fatal = String;

#[derive(Default)]
pub(super) struct Checker {
    pub(super) warnings: Vec<Warning>,
    seen_ids: Vec<u64>,
}

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn fatal(path: &str, reason: impl std::fmt::Display) -> Fatal {
    if path.is_empty() {
        reason.to_string()
    } else {
        format!("{path}: {reason}")
    }
}

pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'-')
}

/// Characters the documented name charset allows (PROTOCOL.md §1.7; `\` is left out because
/// the published schema refuses it).
fn name_char_allowed(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || " _.:/%&#=+-@".contains(c)
    } else {
        c.is_alphanumeric() || (c.is_whitespace() && !c.is_control())
    }
}

/// What is wrong with a name, if anything.
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the name is empty".into());
    }
    if name.trim().is_empty() {
        return Some("the name is blank".into());
    }
    let count = name.chars().count();
    let mut bad: Vec<char> = name.chars().filter(|c| !name_char_allowed(*c)).collect();
    bad.dedup();
    let mut problems = Vec::new();
    if count > 200 {
        problems.push(format!("{count} characters, over 200"));
    }
    if !bad.is_empty() {
        let shown: String = bad.iter().take(8).map(|c| format!("{c:?} ")).collect();
        problems.push(format!(
            "characters outside the X-Ray name charset: {}",
            shown.trim_end()
        ));
    }
    if problems.is_empty() {
        None
    } else {
        Some(format!(
            "{} (the service may answer InvalidName)",
            problems.join("; ")
        ))
    }
}

pub(super) fn annotation_key_ok(key: &str) -> bool {
    !key.is_empty()
        && key.chars().count() <= 500
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The receiver's `sql.url` rule: `^(.+//.+)/([^?]+)\??.*$` must find a database name.
pub fn sql_url_has_database(url: &str) -> bool {
    // `(.+//.+)` needs a "//" after at least one character and one character after it; then a
    // '/' followed by at least one character other than '?'.
    url.match_indices("//").any(|(at, _)| {
        let after = &url[at + 2..];
        at > 0
            && after
                .char_indices()
                .skip(1)
                .any(|(i, c)| c == '/' && after[i + 1..].chars().next().is_some_and(|n| n != '?'))
    })
}

impl Checker {
    pub(super) fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.warnings.push(Warning {
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// An optional field the schema types: absent is fine; null is warned about (the core's
    /// parser reads it as absent); another type is warned about and removed.
    pub(super) fn typed(
        &mut self,
        obj: &mut Map<String, Value>,
        key: &str,
        path: &str,
        want: Want,
    ) {
        let (ok, expected) = match (obj.get(key), want) {
            (None, _) => return,
            (Some(Value::Null), Want::Str) => {
                return self.warn(&join(path, key), "null where a string belongs")
            }
            (Some(Value::Null), Want::Bool) => {
                return self.warn(&join(path, key), "null where a boolean belongs")
            }
            (Some(v), Want::Str) => (v.is_string(), "a string"),
            (Some(v), Want::Bool) => (v.is_boolean(), "true or false"),
        };
        if !ok {
            self.drop_field(obj, key, path, expected);
        }
    }

    /// Warns about a wrongly typed optional field and removes it from the parser's copy.
    pub(super) fn drop_field(
        &mut self,
        obj: &mut Map<String, Value>,
        key: &str,
        path: &str,
        expected: &str,
    ) {
        if let Some(v) = obj.remove(key) {
            let what = type_name(&v);
            self.warn(
                &join(path, key),
                format!("expected {expected}, found {what}; ignored"),
            );
        }
    }

    pub(super) fn top(&mut self, obj: &mut Map<String, Value>) -> Result<(), Fatal> {
        let trace_id = match obj.get("trace_id") {
            None | Some(Value::Null) => return Err(fatal("trace_id", "missing")),
            Some(Value::String(s)) => {
                let parsed =
                    TraceId::parse(s).map_err(|e| fatal("trace_id", format!("invalid ({e})")))?;
                if !is_lower_hex(s) {
                    self.warn("trace_id", "not lower-case hex");
                }
                parsed
            }
            Some(v) => {
                return Err(fatal(
                    "trace_id",
                    format!("expected a string, found {}", type_name(v)),
                ))
            }
        };
        match obj.get("type") {
            None => {}
            Some(Value::String(t)) if t == "subsegment" => {
                if matches!(obj.get("parent_id"), None | Some(Value::Null)) {
                    return Err(fatal(
                        "parent_id",
                        "missing: a subsegment sent on its own (type \"subsegment\") needs its parent's id",
                    ));
                }
            }
            Some(other) => self.warn(
                "type",
                format!("{other} is not a known document type (only \"subsegment\" is)"),
            ),
        }
        self.entity(obj, "", trace_id, None)
    }

    fn entity(
        &mut self,
        obj: &mut Map<String, Value>,
        path: &str,
        trace_id: TraceId,
        enclosing: Option<EntityId>,
    ) -> Result<(), Fatal> {
        let embedded = enclosing.is_some();
        match obj.get("name") {
            None | Some(Value::Null) => return Err(fatal(&join(path, "name"), "missing")),
            Some(Value::String(name)) => {
                if let Some(problem) = name_problem(name) {
                    self.warn(&join(path, "name"), problem);
                }
            }
            Some(v) => {
                return Err(fatal(
                    &join(path, "name"),
                    format!("expected a string, found {}", type_name(v)),
                ))
            }
        }
        let id = self.required_id(obj, "id", path)?;
        if self.seen_ids.contains(&id.0) {
            self.warn(
                &join(path, "id"),
                format!("{id} appears twice in this document"),
            );
        } else {
            self.seen_ids.push(id.0);
        }
        let start = self.time(obj, "start_time", path)?;
        let start = start.ok_or_else(|| fatal(&join(path, "start_time"), "missing"))?;
        let end = self.time(obj, "end_time", path)?;
        if obj.get("end_time") == Some(&Value::Null) {
            self.warn(&join(path, "end_time"), "null where epoch seconds belong");
        }
        self.typed(obj, "in_progress", path, Want::Bool);
        let in_progress = obj.get("in_progress") == Some(&Value::Bool(true));
        match (end, in_progress) {
            (None, false) => return Err(fatal(path, "neither end_time nor in_progress:true")),
            (Some(_), true) => self.warn(
                &join(path, "in_progress"),
                "true beside end_time (expected exactly one); shown as complete",
            ),
            (Some(e), false) if e < start => {
                self.warn(&join(path, "end_time"), "earlier than start_time")
            }
            _ => {}
        }
        if embedded {
            if let Some(t) = obj.get("type").filter(|t| !t.is_string()) {
                let what = type_name(t);
                self.warn(
                    &join(path, "type"),
                    format!("expected a string, found {what}"),
                );
            }
            match obj.get("trace_id") {
                None | Some(Value::Null) => {}
                Some(Value::String(t)) => {
                    let embedded_trace = TraceId::parse(t)
                        .map_err(|e| fatal(&join(path, "trace_id"), format!("invalid ({e})")))?;
                    if embedded_trace != trace_id {
                        self.warn(
                            &join(path, "trace_id"),
                            format!("{t} differs from the document's {trace_id}"),
                        );
                    }
                }
                Some(v) => {
                    return Err(fatal(
                        &join(path, "trace_id"),
                        format!("expected a string, found {}", type_name(v)),
                    ))
                }
            }
        }
        if let Some(parent) = self.optional_id(obj, "parent_id", path)? {
            if let Some(enclosing) = enclosing {
                if parent != enclosing {
                    self.warn(
                        &join(path, "parent_id"),
                        format!("{parent} is not the enclosing entity's id {enclosing}"),
                    );
                }
            }
        }
        self.namespace(obj, path);
        for key in ["origin", "user", "resource_arn"] {
            match obj.get(key) {
                None | Some(Value::String(_)) => {}
                Some(Value::Null) => self.warn(&join(path, key), "null where a string belongs"),
                Some(_) => self.drop_field(obj, key, path, "a string"),
            }
        }
        if let Some(Value::String(user)) = obj.get("user") {
            if user.chars().count() > 250 {
                self.warn(&join(path, "user"), "longer than 250 characters");
            }
        }
        for key in ["error", "throttle", "fault"] {
            match obj.get(key) {
                None | Some(Value::Bool(_)) => {}
                Some(Value::Null) => self.warn(&join(path, key), "null where a boolean belongs"),
                Some(_) => self.drop_field(obj, key, path, "true or false"),
            }
        }
        match obj.get("traced") {
            None | Some(Value::Bool(_)) => {}
            Some(_) => self.drop_field(obj, "traced", path, "true or false"),
        }
        self.service(obj, path);
        self.http(obj, path);
        self.aws(obj, path, embedded);
        self.sql(obj, path);
        self.cause(obj, path);
        self.annotations(obj, path);
        self.metadata(obj, path);
        self.precursor_ids(obj, path);
        self.subsegments(obj, path, trace_id, id)
    }

    fn required_id(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<EntityId, Fatal> {
        self.optional_id(obj, key, path)?
            .ok_or_else(|| fatal(&join(path, key), "missing"))
    }

    fn optional_id(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<EntityId>, Fatal> {
        match obj.get(key) {
            None => Ok(None),
            Some(Value::Null) => {
                self.warn(&join(path, key), "null where an id belongs");
                Ok(None)
            }
            Some(Value::String(s)) => {
                let id = EntityId::parse(s).map_err(|e| {
                    fatal(&join(path, key), format!("{s:?} is not a 16-hex id ({e})"))
                })?;
                if !is_lower_hex(s) {
                    self.warn(&join(path, key), format!("{s} is not lower-case hex"));
                }
                Ok(Some(id))
            }
            Some(v) => Err(fatal(
                &join(path, key),
                format!("expected a string, found {}", type_name(v)),
            )),
        }
    }

    fn time(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<f64>, Fatal> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(t) if t.is_finite() && t >= 0.0 => Ok(Some(t)),
                _ => Err(fatal(&join(path, key), format!("{n} is not epoch seconds"))),
            },
            Some(v) => Err(fatal(
                &join(path, key),
                format!("expected epoch seconds, found {}", type_name(v)),
            )),
        }
    }

    fn subsegments(
        &mut self,
        obj: &mut Map<String, Value>,
        path: &str,
        trace_id: TraceId,
        id: EntityId,
    ) -> Result<(), Fatal> {
        let list = match obj.get_mut("subsegments") {
            None => return Ok(()),
            Some(Value::Array(l)) => l,
            Some(_) => {
                self.drop_field(obj, "subsegments", path, "an array");
                return Ok(());
            }
        };
        for (i, s) in list.iter_mut().enumerate() {
            let p = format!("{}[{i}]", join(path, "subsegments"));
            let Value::Object(o) = s else {
                return Err(fatal(
                    &p,
                    format!("expected a subsegment object, found {}", type_name(s)),
                ));
            };
            self.entity(o, &p, trace_id, Some(id))?;
        }
        Ok(())
    }
}
