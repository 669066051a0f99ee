//! Parsing segment documents back into the model, for round-trip tests and for receivers
//! (the local collector). Lenient where the X-Ray service is lenient (exponent-form times,
//! `in_progress:false` beside `end_time`, unknown fields ignored, `traced` at top level or under
//! `http.request`, `cause` as an id string), strict where it refuses (missing name/id/start_time,
//! malformed ids).

use serde_json::{Map, Value};

use crate::id::{EntityId, TraceId};
use crate::model::{
    AnnotationValue, Cause, EntityData, Exception, HttpRequest, HttpResponse, JsonText, Namespace,
    Sql, StackFrame,
};
use crate::time::seconds_to_micros;

/// One entity of a parsed document, with its embedded subsegments.
#[derive(Debug, Clone)]
pub struct ParsedEntity {
    pub id: EntityId,
    pub trace_id: Option<TraceId>,
    pub parent_id: Option<EntityId>,
    /// `type` was `subsegment` (a standalone subsegment).
    pub standalone_subsegment: bool,
    /// `namespace` as written, when it is not `aws`/`remote` (e.g. the Python SDK's `local`).
    pub other_namespace: Option<String>,
    pub data: EntityData,
    pub subsegments: Vec<ParsedEntity>,
}

/// Why a document was refused; `path` locates the offending field (e.g. `subsegments[2].id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentError {
    pub path: String,
    pub reason: String,
}

impl std::fmt::Display for DocumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

impl std::error::Error for DocumentError {}

fn err(path: &str, reason: impl Into<String>) -> DocumentError {
    DocumentError {
        path: path.to_string(),
        reason: reason.into(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Parses one document (a segment or a standalone subsegment).
pub fn parse_document(text: &str) -> Result<ParsedEntity, DocumentError> {
    let value: Value = serde_json::from_str(text).map_err(|e| err("", format!("not JSON: {e}")))?;
    parse_value(&value)
}

/// Parses one document already decoded as JSON (for a receiver that inspects the value first,
/// like the local collector, and should not decode the text twice).
pub fn parse_value(value: &Value) -> Result<ParsedEntity, DocumentError> {
    let obj = value
        .as_object()
        .ok_or_else(|| err("", "a document must be a JSON object"))?;
    let entity = parse_entity(obj, "")?;
    if entity.trace_id.is_none() {
        return Err(err("trace_id", "missing"));
    }
    Ok(entity)
}

fn opt_str(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, DocumentError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(err(&join(path, key), "expected a string")),
    }
}

fn opt_bool(obj: &Map<String, Value>, key: &str, path: &str) -> Result<bool, DocumentError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(err(&join(path, key), "expected true or false")),
    }
}

fn time(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<u64>, DocumentError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .and_then(seconds_to_micros)
            .map(Some)
            .ok_or_else(|| err(&join(path, key), "expected epoch seconds")),
    }
}

fn entity_id(v: Option<&Value>, path: &str) -> Result<Option<EntityId>, DocumentError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => EntityId::parse(s)
            .map(Some)
            .map_err(|e| err(path, format!("not a 16-hex id: {e}"))),
        Some(_) => Err(err(path, "expected a string")),
    }
}

fn parse_entity(obj: &Map<String, Value>, path: &str) -> Result<ParsedEntity, DocumentError> {
    let name = opt_str(obj, "name", path)?.ok_or_else(|| err(&join(path, "name"), "missing"))?;
    let id = entity_id(obj.get("id"), &join(path, "id"))?
        .ok_or_else(|| err(&join(path, "id"), "missing"))?;
    let start_micros =
        time(obj, "start_time", path)?.ok_or_else(|| err(&join(path, "start_time"), "missing"))?;
    let end_micros = time(obj, "end_time", path)?;
    let in_progress = opt_bool(obj, "in_progress", path)?;
    if end_micros.is_none() && !in_progress {
        return Err(err(path, "neither end_time nor in_progress:true"));
    }
    let trace_id = match obj.get("trace_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            TraceId::parse(s).map_err(|e| err(&join(path, "trace_id"), format!("invalid: {e}")))?,
        ),
        Some(_) => return Err(err(&join(path, "trace_id"), "expected a string")),
    };
    let parent_id = entity_id(obj.get("parent_id"), &join(path, "parent_id"))?;
    let ns_text = opt_str(obj, "namespace", path)?;
    let namespace = ns_text.as_deref().and_then(Namespace::parse);
    let other_namespace = ns_text.filter(|_| namespace.is_none());
    let mut data = EntityData {
        name,
        start_micros,
        end_micros,
        namespace,
        origin: opt_str(obj, "origin", path)?,
        user: opt_str(obj, "user", path)?,
        resource_arn: opt_str(obj, "resource_arn", path)?,
        error: opt_bool(obj, "error", path)?,
        throttle: opt_bool(obj, "throttle", path)?,
        fault: opt_bool(obj, "fault", path)?,
        ..EntityData::default()
    };
    if let Some(service) = obj.get("service") {
        let s = service
            .as_object()
            .ok_or_else(|| err(&join(path, "service"), "expected an object"))?;
        for (k, v) in s {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            data.service.push((k.clone(), text));
        }
    }
    parse_http(obj, path, &mut data)?;
    if let Some(aws) = obj.get("aws") {
        data.aws = aws
            .as_object()
            .ok_or_else(|| err(&join(path, "aws"), "expected an object"))?
            .clone();
    }
    if let Some(sql) = obj.get("sql") {
        let s = sql
            .as_object()
            .ok_or_else(|| err(&join(path, "sql"), "expected an object"))?;
        let p = join(path, "sql");
        data.sql = Some(Sql {
            url: opt_str(s, "url", &p)?,
            connection_string: opt_str(s, "connection_string", &p)?,
            sanitized_query: opt_str(s, "sanitized_query", &p)?,
            database_type: opt_str(s, "database_type", &p)?,
            database_version: opt_str(s, "database_version", &p)?,
            driver_version: opt_str(s, "driver_version", &p)?,
            user: opt_str(s, "user", &p)?,
            preparation: opt_str(s, "preparation", &p)?,
        });
    }
    if let Some(cause) = obj.get("cause") {
        data.cause = Some(parse_cause(cause, &join(path, "cause"))?);
    }
    if let Some(ann) = obj.get("annotations") {
        let a = ann
            .as_object()
            .ok_or_else(|| err(&join(path, "annotations"), "expected an object"))?;
        for (k, v) in a {
            let value = match v {
                Value::String(s) => AnnotationValue::Str(s.clone()),
                Value::Bool(b) => AnnotationValue::Bool(*b),
                Value::Number(n) => match n.as_i64() {
                    Some(i) => AnnotationValue::Int(i),
                    None => AnnotationValue::Float(n.as_f64().unwrap_or(0.0)),
                },
                _ => {
                    return Err(err(
                        &join(&join(path, "annotations"), k),
                        "annotation values must be strings, numbers or booleans",
                    ))
                }
            };
            data.annotations.push((k.clone(), value));
        }
    }
    if let Some(meta) = obj.get("metadata") {
        let m = meta
            .as_object()
            .ok_or_else(|| err(&join(path, "metadata"), "expected an object"))?;
        for (ns, entries) in m {
            let e = entries.as_object().ok_or_else(|| {
                err(
                    &join(&join(path, "metadata"), ns),
                    "a namespace must be an object",
                )
            })?;
            for (k, v) in e {
                data.set_metadata(ns, k, JsonText::from_value(v));
            }
        }
    }
    if let Some(pre) = obj.get("precursor_ids") {
        let list = pre
            .as_array()
            .ok_or_else(|| err(&join(path, "precursor_ids"), "expected an array"))?;
        for (i, v) in list.iter().enumerate() {
            let p = format!("{}[{i}]", join(path, "precursor_ids"));
            data.precursor_ids
                .push(entity_id(Some(v), &p)?.ok_or_else(|| err(&p, "null"))?);
        }
    }
    let mut subsegments = Vec::new();
    if let Some(subs) = obj.get("subsegments") {
        let list = subs
            .as_array()
            .ok_or_else(|| err(&join(path, "subsegments"), "expected an array"))?;
        for (i, s) in list.iter().enumerate() {
            let p = format!("{}[{i}]", join(path, "subsegments"));
            let o = s.as_object().ok_or_else(|| err(&p, "expected an object"))?;
            subsegments.push(parse_entity(o, &p)?);
        }
    }
    Ok(ParsedEntity {
        id,
        trace_id,
        parent_id,
        standalone_subsegment: obj.get("type").and_then(Value::as_str) == Some("subsegment"),
        other_namespace,
        data,
        subsegments,
    })
}

fn parse_http(
    obj: &Map<String, Value>,
    path: &str,
    data: &mut EntityData,
) -> Result<(), DocumentError> {
    let top_traced = opt_bool(obj, "traced", path)?;
    let http = match obj.get("http") {
        None | Some(Value::Null) => None,
        Some(Value::Object(h)) => Some(h),
        Some(_) => return Err(err(&join(path, "http"), "expected an object")),
    };
    let p = join(path, "http");
    let request = http
        .and_then(|h| h.get("request"))
        .and_then(Value::as_object);
    if request.is_some() || top_traced {
        let rp = join(&p, "request");
        let empty = Map::new();
        let r = request.unwrap_or(&empty);
        data.http_request = Some(HttpRequest {
            method: opt_str(r, "method", &rp)?,
            url: opt_str(r, "url", &rp)?,
            user_agent: opt_str(r, "user_agent", &rp)?,
            client_ip: opt_str(r, "client_ip", &rp)?,
            x_forwarded_for: opt_bool(r, "x_forwarded_for", &rp)?,
            traced: top_traced || opt_bool(r, "traced", &rp)?,
        });
    }
    if let Some(r) = http
        .and_then(|h| h.get("response"))
        .and_then(Value::as_object)
    {
        let rp = join(&p, "response");
        let status = match r.get("status") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|s| u16::try_from(s).ok())
                    .ok_or_else(|| err(&join(&rp, "status"), "expected an HTTP status"))?,
            ),
        };
        let content_length = match r.get("content_length") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            Some(v) => Some(
                v.as_i64()
                    .ok_or_else(|| err(&join(&rp, "content_length"), "expected an integer"))?,
            ),
        };
        data.http_response = Some(HttpResponse {
            status,
            content_length,
        });
    }
    Ok(())
}

fn parse_cause(v: &Value, path: &str) -> Result<Cause, DocumentError> {
    match v {
        Value::String(s) => Ok(Cause::ExceptionRef(s.clone())),
        Value::Object(o) => {
            let working_directory = opt_str(o, "working_directory", path)?;
            let mut paths = Vec::new();
            if let Some(list) = o.get("paths").and_then(Value::as_array) {
                for p in list {
                    if let Some(s) = p.as_str() {
                        paths.push(s.to_string());
                    }
                }
            }
            let mut exceptions = Vec::new();
            if let Some(list) = o.get("exceptions") {
                let list = list
                    .as_array()
                    .ok_or_else(|| err(&join(path, "exceptions"), "expected an array"))?;
                for (i, e) in list.iter().enumerate() {
                    let p = format!("{}[{i}]", join(path, "exceptions"));
                    let eo = e.as_object().ok_or_else(|| err(&p, "expected an object"))?;
                    exceptions.push(parse_exception(eo, &p)?);
                }
            }
            Ok(Cause::Details {
                working_directory,
                paths,
                exceptions,
            })
        }
        _ => Err(err(path, "expected an exception id string or an object")),
    }
}

fn parse_exception(o: &Map<String, Value>, path: &str) -> Result<Exception, DocumentError> {
    let id = entity_id(o.get("id"), &join(path, "id"))?
        .ok_or_else(|| err(&join(path, "id"), "missing"))?;
    let mut stack = Vec::new();
    if let Some(list) = o.get("stack").and_then(Value::as_array) {
        for (i, f) in list.iter().enumerate() {
            let p = format!("{}[{i}]", join(path, "stack"));
            let fo = f.as_object().ok_or_else(|| err(&p, "expected an object"))?;
            stack.push(StackFrame {
                path: opt_str(fo, "path", &p)?,
                line: fo.get("line").and_then(Value::as_u64).map(|l| l as u32),
                label: opt_str(fo, "label", &p)?,
            });
        }
    }
    let count = |key: &str| o.get(key).and_then(Value::as_u64).unwrap_or(0) as u32;
    Ok(Exception {
        id,
        message: opt_str(o, "message", path)?,
        type_name: opt_str(o, "type", path)?,
        remote: opt_bool(o, "remote", path)?,
        stack,
        truncated: count("truncated"),
        skipped: count("skipped"),
        cause: entity_id(o.get("cause"), &join(path, "cause")).unwrap_or(None),
    })
}

/// Serializes a parsed entity back to a document (standalone form when it was standalone).
pub fn to_document(entity: &ParsedEntity) -> Vec<u8> {
    let mut fragment = Vec::new();
    write_tree(&mut fragment, entity);
    let trace_id = entity.trace_id.unwrap_or(TraceId {
        epoch: 0,
        random: 0,
    });
    let datagram = match (entity.standalone_subsegment, entity.parent_id) {
        (true, Some(parent)) => crate::json::standalone_subsegment(trace_id, parent, &fragment),
        _ => crate::json::root_segment(trace_id, entity.parent_id, &fragment),
    };
    crate::json::document_of(&datagram).to_vec()
}

/// Writes `entity` as a fragment with its subsegments embedded, depth first.
fn write_tree(out: &mut Vec<u8>, entity: &ParsedEntity) {
    let children: Vec<Vec<u8>> = entity
        .subsegments
        .iter()
        .map(|c| {
            let mut o = Vec::new();
            write_tree(&mut o, c);
            o
        })
        .collect();
    crate::json::write_fragment(out, entity.id, &entity.data, &children);
}
