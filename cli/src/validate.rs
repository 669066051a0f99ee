//! Judging one segment document the way the X-Ray service does, and reporting what stricter
//! receivers would refuse.
//!
//! Three outcomes (DESIGN.md, "The local collector"):
//! - **invalid**: what the service itself refuses — not JSON, not an object, a missing required
//!   field (`name`, `id`, `start_time`, `trace_id`, `end_time` or `in_progress:true`, `parent_id`
//!   on a standalone subsegment), a malformed `id`/`parent_id`/`trace_id`, a time that is not
//!   epoch seconds;
//! - **accepted with warnings**: what the published schema or the OpenTelemetry awsxray
//!   receiver (PROTOCOL.md §6.5) would refuse but the service takes — `namespace:"local"`,
//!   upper-case hex, names outside the charset or over 200 characters, dotted annotation keys,
//!   metadata namespaces that are not objects, `sql.url` without a database name, wrongly typed
//!   optional fields, documents over 64,000 bytes;
//! - **accepted**: everything else, including the Go SDK's `"Dummy"` field, exponent-form times
//!   and `in_progress:false` beside `end_time`.
//!
//! Optional fields with the wrong type are warned about and then left out of the copy handed to
//! the core's parser (which is strict about types), so the rest of the document is still shown.
//! The raw document is kept unchanged by the caller.

use oxray_core::document::{parse_value, ParsedEntity};
use oxray_core::id::{EntityId, TraceId};
use serde_json::{Map, Value};

/// Largest document the service takes (PROTOCOL.md §1.1).
pub const MAX_DOCUMENT_BYTES: usize = oxray_core::MAX_DOCUMENT_BYTES;

/// Something a stricter receiver would refuse, located by a field path such as
/// `subsegments[1].annotations.DDB.key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Which rule made a datagram invalid (one counter each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidKind {
    /// The daemon frame (header line) was refused.
    Frame,
    /// The document is not JSON (or not an object).
    NotJson,
    /// A required field is missing or an id/time is malformed.
    Refused,
    /// Passed these checks but the core's parser still refused it (a gap in this module).
    Unreadable,
}

impl InvalidKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidKind::Frame => "frame",
            InvalidKind::NotJson => "not_json",
            InvalidKind::Refused => "refused",
            InvalidKind::Unreadable => "unreadable",
        }
    }
}

/// A refused document: why, and its ids when they could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub kind: InvalidKind,
    pub reason: String,
    pub trace_id: Option<String>,
    pub id: Option<String>,
}

/// A document that passed the rules: decoded (with wrongly typed optional fields removed),
/// with what stricter receivers would refuse. [`Checked::parse`] makes the entity tree.
#[derive(Debug, Clone)]
pub struct Checked {
    pub decoded: Value,
    pub warnings: Vec<Warning>,
}

/// A document the service would take: parsed, with what stricter receivers would refuse.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub entity: ParsedEntity,
    pub warnings: Vec<Warning>,
}

impl Checked {
    /// Parses the checked document with the core's parser.
    pub fn parse(self) -> Result<Accepted, Invalid> {
        match parse_value(&self.decoded) {
            Ok(entity) => Ok(Accepted {
                entity,
                warnings: self.warnings,
            }),
            Err(e) => {
                let id = |key: &str| {
                    self.decoded
                        .get(key)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                };
                Err(Invalid {
                    kind: InvalidKind::Unreadable,
                    reason: format!("unreadable: {e}"),
                    trace_id: id("trace_id"),
                    id: id("id"),
                })
            }
        }
    }
}

/// Checks and parses a document given as bytes.
pub fn accept_bytes(body: &[u8]) -> Result<Accepted, Invalid> {
    check_bytes(body)?.parse()
}

/// Checks and parses a decoded document of `size` bytes.
pub fn accept_value(value: Value, size: usize) -> Result<Accepted, Invalid> {
    check_value(value, size)?.parse()
}

/// Applies the rules to a document given as bytes (the body of a datagram).
pub fn check_bytes(body: &[u8]) -> Result<Checked, Invalid> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        let reason = match std::str::from_utf8(body) {
            Err(u) => format!(
                "not JSON: not UTF-8 text (byte 0x{:02x} at offset {})",
                body[u.valid_up_to()],
                u.valid_up_to()
            ),
            Ok(_) if e.is_eof() => format!("not JSON: {e} (it ends early: a truncated datagram?)"),
            Ok(_) => format!("not JSON: {e}"),
        };
        Invalid {
            kind: InvalidKind::NotJson,
            reason,
            trace_id: None,
            id: None,
        }
    })?;
    check_value(value, body.len())
}

/// Applies the rules to a decoded document; `size` is its length in bytes (for the
/// 64,000-byte bound).
pub fn check_value(mut value: Value, size: usize) -> Result<Checked, Invalid> {
    let ids = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    let (trace_id, id) = (ids(&value, "trace_id"), ids(&value, "id"));
    let refuse = |kind: InvalidKind, reason: String| Invalid {
        kind,
        reason,
        trace_id: trace_id.clone(),
        id: id.clone(),
    };
    let mut checker = Checker::default();
    {
        let Some(obj) = value.as_object_mut() else {
            return Err(refuse(
                InvalidKind::NotJson,
                "a document must be a JSON object".into(),
            ));
        };
        checker
            .top(obj)
            .map_err(|reason| refuse(InvalidKind::Refused, reason))?;
    }
    if size > MAX_DOCUMENT_BYTES {
        checker.warn(
            "",
            format!(
                "the document is {size} bytes, over the service's {MAX_DOCUMENT_BYTES}-byte limit"
            ),
        );
    }
    Ok(Checked {
        decoded: value,
        warnings: checker.warnings,
    })
}

/// The JSON type an optional field should have.
#[derive(Clone, Copy)]
enum Want {
    Str,
    Bool,
}

/// A fatal problem: the document is invalid. The text is `path: reason`.
type Fatal = String;

#[derive(Default)]
struct Checker {
    warnings: Vec<Warning>,
    seen_ids: Vec<u64>,
}

fn join(path: &str, key: &str) -> String {
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

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn is_lower_hex(s: &str) -> bool {
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

fn annotation_key_ok(key: &str) -> bool {
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
    fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.warnings.push(Warning {
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// An optional field the schema types: absent is fine; null is warned about (the core's
    /// parser reads it as absent); another type is warned about and removed.
    fn typed(&mut self, obj: &mut Map<String, Value>, key: &str, path: &str, want: Want) {
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
    fn drop_field(&mut self, obj: &mut Map<String, Value>, key: &str, path: &str, expected: &str) {
        if let Some(v) = obj.remove(key) {
            let what = type_name(&v);
            self.warn(
                &join(path, key),
                format!("expected {expected}, found {what}; ignored"),
            );
        }
    }

    fn top(&mut self, obj: &mut Map<String, Value>) -> Result<(), Fatal> {
        let trace_id = match obj.get("trace_id") {
            None | Some(Value::Null) => return Err(fatal("trace_id", "missing")),
            Some(Value::String(s)) => {
                TraceId::parse(s).map_err(|e| fatal("trace_id", format!("invalid ({e})")))?;
                if !is_lower_hex(s) {
                    self.warn("trace_id", "not lower-case hex");
                }
                s.clone()
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
        self.entity(obj, "", &trace_id, None)
    }

    fn entity(
        &mut self,
        obj: &mut Map<String, Value>,
        path: &str,
        trace_id: &str,
        enclosing: Option<&str>,
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
                Some(Value::String(t)) if t == trace_id => {}
                Some(Value::String(t)) => {
                    TraceId::parse(t)
                        .map_err(|e| fatal(&join(path, "trace_id"), format!("invalid ({e})")))?;
                    self.warn(
                        &join(path, "trace_id"),
                        format!("{t} differs from the document's {trace_id}"),
                    );
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
                if parent.to_string() != enclosing.to_ascii_lowercase() {
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
        self.subsegments(obj, path, trace_id, &id.to_string())
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

    fn namespace(&mut self, obj: &mut Map<String, Value>, path: &str) {
        match obj.get("namespace") {
            None => {}
            Some(Value::String(ns)) if ns == "aws" || ns == "remote" => {}
            Some(Value::String(ns)) if ns == "local" => self.warn(
                &join(path, "namespace"),
                "\"local\" (the Python SDK's default) is refused by OpenTelemetry awsxray receivers before 2024; omit it for local work",
            ),
            Some(Value::String(ns)) => self.warn(
                &join(path, "namespace"),
                format!("{ns:?} is neither \"aws\" nor \"remote\"; stricter receivers refuse the document"),
            ),
            Some(_) => self.drop_field(obj, "namespace", path, "\"aws\" or \"remote\""),
        }
    }

    fn service(&mut self, obj: &mut Map<String, Value>, path: &str) {
        match obj.get("service") {
            None => {}
            Some(Value::Object(s)) => {
                if let Some(v) = s.get("version") {
                    if !v.is_string() {
                        self.warn(
                            &join(path, "service.version"),
                            format!("expected a string, found {}", type_name(v)),
                        );
                    }
                }
            }
            Some(_) => self.drop_field(obj, "service", path, "an object"),
        }
    }

    fn http(&mut self, obj: &mut Map<String, Value>, path: &str) {
        let hp = join(path, "http");
        let http = match obj.get_mut("http") {
            None => return,
            Some(Value::Object(h)) => h,
            Some(_) => return self.drop_field(obj, "http", path, "an object"),
        };
        let mut local = Checker::default();
        match http.get_mut("request") {
            None => {}
            Some(Value::Object(r)) => {
                let rp = join(&hp, "request");
                for key in ["method", "url", "user_agent", "client_ip"] {
                    match r.get(key) {
                        None => {}
                        Some(Value::String(s)) if s.chars().count() > 250 => {
                            local.warn(&join(&rp, key), "longer than 250 characters")
                        }
                        Some(Value::String(_)) => {}
                        Some(Value::Null) => {
                            local.warn(&join(&rp, key), "null where a string belongs")
                        }
                        Some(_) => local.drop_field(r, key, &rp, "a string"),
                    }
                }
                for key in ["x_forwarded_for", "traced"] {
                    local.typed(r, key, &rp, Want::Bool);
                }
            }
            Some(_) => local.drop_field(http, "request", &hp, "an object"),
        }
        match http.get_mut("response") {
            None => {}
            Some(Value::Object(r)) => {
                let rp = join(&hp, "response");
                match r.get("status") {
                    None => {}
                    Some(Value::Null) => {
                        local.warn(&join(&rp, "status"), "null where a number belongs")
                    }
                    Some(Value::Number(n)) if n.as_u64().is_some_and(|s| s <= 999) => {}
                    Some(_) => local.drop_field(r, "status", &rp, "an HTTP status number"),
                }
                match r.get("content_length") {
                    None => {}
                    Some(Value::Null) => {
                        local.warn(&join(&rp, "content_length"), "null where a number belongs")
                    }
                    Some(Value::Number(n)) if n.is_i64() => {}
                    Some(Value::String(_)) => local.warn(
                        &join(&rp, "content_length"),
                        "a string where the schema wants a number",
                    ),
                    Some(_) => local.drop_field(r, "content_length", &rp, "an integer"),
                }
            }
            Some(_) => local.drop_field(http, "response", &hp, "an object"),
        }
        self.warnings.append(&mut local.warnings);
    }

    fn aws(&mut self, obj: &mut Map<String, Value>, path: &str, subsegment: bool) {
        let aws = match obj.get("aws") {
            None => return,
            Some(Value::Object(a)) => a,
            Some(_) => return self.drop_field(obj, "aws", path, "an object"),
        };
        let ap = join(path, "aws");
        // The fields the published schema types (PROTOCOL.md §1.11).
        let mut strings: Vec<&str> = vec!["account_id"];
        if subsegment {
            strings.extend([
                "operation",
                "region",
                "request_id",
                "queue_url",
                "table_name",
            ]);
        }
        let mut problems = Vec::new();
        for key in strings {
            if let Some(v) = aws.get(key) {
                if !v.is_string() {
                    problems.push((
                        join(&ap, key),
                        format!("expected a string, found {}", type_name(v)),
                    ));
                }
            }
        }
        if !subsegment {
            let nested: [(&str, &[&str]); 4] = [
                ("ecs", &["container"]),
                ("ec2", &["instance_id", "availability_zone"]),
                ("elastic_beanstalk", &["environment_name", "version_label"]),
                ("tracing", &["sdk"]),
            ];
            for (block, keys) in nested {
                match aws.get(block) {
                    None => {}
                    Some(Value::Object(b)) => {
                        for key in keys {
                            if let Some(v) = b.get(*key) {
                                if !v.is_string() {
                                    problems.push((
                                        format!("{ap}.{block}.{key}"),
                                        format!("expected a string, found {}", type_name(v)),
                                    ));
                                }
                            }
                        }
                        if block == "elastic_beanstalk" {
                            if let Some(v) = b.get("deployment_id") {
                                if !v.is_number() {
                                    problems.push((
                                        format!("{ap}.{block}.deployment_id"),
                                        format!("expected a number, found {}", type_name(v)),
                                    ));
                                }
                            }
                        }
                    }
                    Some(v) => problems.push((
                        format!("{ap}.{block}"),
                        format!("expected an object, found {}", type_name(v)),
                    )),
                }
            }
        }
        for (p, m) in problems {
            self.warn(&p, m);
        }
    }

    fn sql(&mut self, obj: &mut Map<String, Value>, path: &str) {
        let sql = match obj.get_mut("sql") {
            None => return,
            Some(Value::Object(s)) => s,
            Some(_) => return self.drop_field(obj, "sql", path, "an object"),
        };
        let sp = join(path, "sql");
        let mut local = Checker::default();
        for key in [
            "url",
            "connection_string",
            "sanitized_query",
            "database_type",
            "database_version",
            "driver_version",
            "user",
            "preparation",
        ] {
            local.typed(sql, key, &sp, Want::Str);
        }
        if let Some(Value::String(user)) = sql.get("user") {
            if user.chars().count() > 250 {
                local.warn(&join(&sp, "user"), "longer than 250 characters");
            }
        }
        if let Some(Value::String(url)) = sql.get("url") {
            if !sql_url_has_database(url) {
                local.warn(
                    &join(&sp, "url"),
                    format!("{url:?} names no database (…//host/database); the OpenTelemetry awsxray receiver refuses the document"),
                );
            }
        }
        self.warnings.append(&mut local.warnings);
    }

    fn cause(&mut self, obj: &mut Map<String, Value>, path: &str) {
        let cp = join(path, "cause");
        let cause = match obj.get_mut("cause") {
            None => return,
            Some(Value::String(s)) => {
                if s.chars().count() != 16 {
                    self.warn(
                        &cp,
                        format!("an exception id must be 16 characters, found {s:?}"),
                    );
                }
                return;
            }
            Some(Value::Object(c)) => c,
            Some(_) => return self.drop_field(obj, "cause", path, "an exception id or an object"),
        };
        let mut local = Checker::default();
        local.typed(cause, "working_directory", &cp, Want::Str);
        match cause.get("paths") {
            None => {}
            Some(Value::Array(list)) if list.iter().any(|p| !p.is_string()) => {
                local.warn(&join(&cp, "paths"), "entries must be strings");
            }
            Some(Value::Array(_)) => {}
            Some(v) => {
                let what = type_name(v);
                local.warn(
                    &join(&cp, "paths"),
                    format!("expected an array, found {what}"),
                );
            }
        }
        match cause.get_mut("exceptions") {
            None => {}
            Some(Value::Array(list)) => {
                let ep = join(&cp, "exceptions");
                let mut index = 0;
                list.retain_mut(|e| {
                    let p = format!("{ep}[{index}]");
                    index += 1;
                    match e {
                        Value::Object(o) => {
                            local.exception(o, &p);
                            true
                        }
                        other => {
                            local.warn(
                                &p,
                                format!("expected an object, found {}; ignored", type_name(other)),
                            );
                            false
                        }
                    }
                });
            }
            Some(_) => local.drop_field(cause, "exceptions", &cp, "an array"),
        }
        self.warnings.append(&mut local.warnings);
    }

    fn exception(&mut self, o: &mut Map<String, Value>, path: &str) {
        let placeholder = || Value::String("0000000000000000".into());
        match o.get("id") {
            Some(Value::String(s)) if EntityId::parse(s).is_ok() => {
                if !is_lower_hex(s) {
                    self.warn(&join(path, "id"), format!("{s} is not lower-case hex"));
                }
            }
            Some(v) => {
                let shown = v.to_string();
                self.warn(
                    &join(path, "id"),
                    format!("{shown} is not a 16-hex exception id"),
                );
                o.insert("id".into(), placeholder());
            }
            None => {
                self.warn(
                    &join(path, "id"),
                    "missing (the schema requires an exception id)",
                );
                o.insert("id".into(), placeholder());
            }
        }
        for key in ["message", "type"] {
            self.typed(o, key, path, Want::Str);
        }
        self.typed(o, "remote", path, Want::Bool);
        for key in ["truncated", "skipped"] {
            if let Some(v) = o.get(key) {
                if !(v.is_u64() || v.is_i64()) {
                    let what = type_name(v);
                    self.warn(
                        &join(path, key),
                        format!("expected an integer, found {what}"),
                    );
                }
            }
        }
        if let Some(v) = o.get("cause") {
            if !v.is_string() {
                let what = type_name(v);
                self.warn(
                    &join(path, "cause"),
                    format!("expected an exception id, found {what}"),
                );
            }
        }
        match o.get_mut("stack") {
            None => {}
            Some(Value::Array(frames)) => {
                let sp = join(path, "stack");
                let mut local = Checker::default();
                let mut index = 0;
                frames.retain_mut(|f| {
                    let p = format!("{sp}[{index}]");
                    index += 1;
                    let Value::Object(fo) = f else {
                        local.warn(
                            &p,
                            format!("expected an object, found {}; ignored", type_name(f)),
                        );
                        return false;
                    };
                    for key in ["path", "label"] {
                        local.typed(fo, key, &p, Want::Str);
                    }
                    if let Some(v) = fo.get("line") {
                        if !v.is_u64() {
                            let what = type_name(v);
                            local.warn(
                                &join(&p, "line"),
                                format!("expected a line number, found {what}"),
                            );
                        }
                    }
                    true
                });
                self.warnings.append(&mut local.warnings);
            }
            Some(v) => {
                let what = type_name(v);
                self.warn(
                    &join(path, "stack"),
                    format!("expected an array, found {what}"),
                );
            }
        }
    }

    fn annotations(&mut self, obj: &mut Map<String, Value>, path: &str) {
        let ap = join(path, "annotations");
        let annotations = match obj.get_mut("annotations") {
            None => return,
            Some(Value::Object(a)) => a,
            Some(_) => return self.drop_field(obj, "annotations", path, "an object"),
        };
        let mut local = Checker::default();
        annotations.retain(|key, value| {
            let p = join(&ap, key);
            if !annotation_key_ok(key) {
                let why = if key.contains('.') {
                    " (dotted keys come from the Go SDK; filters cannot use them)"
                } else {
                    ""
                };
                local.warn(&p, format!("the key is outside [A-Za-z0-9_]{{1,500}}{why}"));
            }
            match value {
                Value::String(s) => {
                    if s.chars().count() > 1000 {
                        local.warn(&p, "a string value longer than 1000 characters");
                    }
                    true
                }
                Value::Number(_) | Value::Bool(_) => true,
                other => {
                    local.warn(
                        &p,
                        format!(
                            "annotation values are strings, numbers or booleans, found {}; ignored",
                            type_name(other)
                        ),
                    );
                    false
                }
            }
        });
        self.warnings.append(&mut local.warnings);
    }

    fn metadata(&mut self, obj: &mut Map<String, Value>, path: &str) {
        let mp = join(path, "metadata");
        let metadata = match obj.get_mut("metadata") {
            None => return,
            Some(Value::Object(m)) => m,
            Some(_) => return self.drop_field(obj, "metadata", path, "an object"),
        };
        let mut local = Checker::default();
        metadata.retain(|ns, value| {
            if value.is_object() {
                return true;
            }
            local.warn(
                &join(&mp, ns),
                format!(
                    "a metadata namespace must be an object, found {}; ignored",
                    type_name(value)
                ),
            );
            false
        });
        self.warnings.append(&mut local.warnings);
    }

    fn precursor_ids(&mut self, obj: &mut Map<String, Value>, path: &str) {
        let pp = join(path, "precursor_ids");
        let list = match obj.get_mut("precursor_ids") {
            None => return,
            Some(Value::Array(l)) => l,
            Some(_) => return self.drop_field(obj, "precursor_ids", path, "an array"),
        };
        let mut local = Checker::default();
        let mut index = 0;
        list.retain(|v| {
            let p = format!("{pp}[{index}]");
            index += 1;
            match v.as_str().map(|s| (s, EntityId::parse(s))) {
                Some((s, Ok(_))) => {
                    if !is_lower_hex(s) {
                        local.warn(&p, format!("{s} is not lower-case hex"));
                    }
                    true
                }
                _ => {
                    local.warn(&p, format!("{v} is not a 16-hex id; ignored"));
                    false
                }
            }
        });
        self.warnings.append(&mut local.warnings);
    }

    fn subsegments(
        &mut self,
        obj: &mut Map<String, Value>,
        path: &str,
        trace_id: &str,
        id: &str,
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

#[cfg(test)]
mod tests {
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
            (base.replace("\"id\":\"70de5b6f19ff9a0a\",", ""), "id: missing"),
            (base.replace("70de5b6f19ff9a0a", "70de5b6f19ff9a0"), "id: \"70de5b6f19ff9a0\" is not a 16-hex id"),
            (base.replace("70de5b6f19ff9a0a", "70de5b6f19ff9a0z"), "id: \"70de5b6f19ff9a0z\" is not a 16-hex id (non-hex character at offset 15)"),
            (base.replace(T, "1-5759e988-bd862e3fe1be46a99427279"), "trace_id: invalid"),
            (base.replace(&format!("\"trace_id\":\"{T}\","), ""), "trace_id: missing"),
            (base.replace("\"start_time\":1.478293361271E9,", ""), "start_time: missing"),
            (base.replace(",\"end_time\":1478293361.449", ""), "neither end_time nor in_progress:true"),
            (base.replace("1478293361.449", "\"soon\""), "end_time: expected epoch seconds"),
            (doc(",\"type\":\"subsegment\""), "parent_id: missing"),
            (doc(",\"parent_id\":7"), "parent_id: expected a string"),
            (doc(",\"subsegments\":[{\"name\":\"q\",\"id\":\"0000000000000001\",\"start_time\":1}]"), "subsegments[0]: neither end_time"),
            (doc(",\"subsegments\":[3]"), "subsegments[0]: expected a subsegment object"),
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
}
