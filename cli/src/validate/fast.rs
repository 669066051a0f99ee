//! A fast path for the common case: a document that breaks no rule at all.
//!
//! Decoding into `serde_json::Value` and then into the core's entity costs most of the
//! collector's time. Here the document is decoded straight into typed, borrowed structs and
//! the entity built from them. Anything unusual — a wrong type, a `null`, an escaped string, a
//! duplicate key, a `cause`, and every condition that would be a warning or make the document
//! invalid — makes this path give up (`None`), and the general path judges the document
//! instead. So this path only ever accepts documents the general path accepts without a
//! warning, and builds the same entity (the differential test in `tests/fast_path.rs` checks
//! both on a large corpus).

use std::collections::BTreeMap;

use oxray_core::document::ParsedEntity;
use oxray_core::id::{EntityId, TraceId};
use oxray_core::model::{
    AnnotationValue, EntityData, HttpRequest, HttpResponse, JsonText, Namespace, Sql,
};
use oxray_core::time::seconds_to_micros;
use serde::de::{Deserializer, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::rules::{annotation_key_ok, is_lower_hex, name_problem, sql_url_has_database, Checker};
use super::{Accepted, MAX_DOCUMENT_BYTES};

/// A JSON object decoded into `T`. (A derived struct would also take an array, field by field;
/// the general path refuses that, so this path must too.)
struct Obj<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, m: M) -> Result<T, M::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(m))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData)).map(Obj)
    }
}

/// `Some(T)` from a present value; a `null` is an error (the general path warns about it).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct Doc<'a> {
    name: &'a str,
    id: &'a str,
    start_time: f64,
    #[serde(default, deserialize_with = "present")]
    end_time: Option<f64>,
    #[serde(default, deserialize_with = "present")]
    in_progress: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    trace_id: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    parent_id: Option<&'a str>,
    #[serde(default, rename = "type", deserialize_with = "present")]
    kind: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    namespace: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    origin: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    user: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    resource_arn: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    error: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    throttle: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    fault: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    traced: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    service: Option<Map<String, Value>>,
    #[serde(default, borrow, deserialize_with = "present")]
    http: Option<Obj<Http<'a>>>,
    #[serde(default, deserialize_with = "present")]
    aws: Option<Map<String, Value>>,
    #[serde(default, borrow, deserialize_with = "present")]
    sql: Option<Obj<SqlDoc<'a>>>,
    /// Present (even `null`): the general path handles it.
    #[serde(default, deserialize_with = "present")]
    cause: Option<serde::de::IgnoredAny>,
    #[serde(default, borrow, deserialize_with = "present")]
    annotations: Option<Annotations<'a>>,
    #[serde(default, deserialize_with = "present")]
    metadata: Option<Map<String, Value>>,
    #[serde(default, borrow, deserialize_with = "present")]
    precursor_ids: Option<Vec<&'a str>>,
    #[serde(default, borrow, deserialize_with = "present")]
    subsegments: Option<Vec<Obj<Doc<'a>>>>,
}

#[derive(Deserialize)]
struct Http<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    request: Option<Obj<Request<'a>>>,
    #[serde(default, deserialize_with = "present")]
    response: Option<Obj<Response>>,
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(default, deserialize_with = "present")]
    method: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    url: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    user_agent: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    client_ip: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    x_forwarded_for: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    traced: Option<bool>,
}

#[derive(Deserialize)]
struct Response {
    #[serde(default, deserialize_with = "present")]
    status: Option<u16>,
    #[serde(default, deserialize_with = "present")]
    content_length: Option<i64>,
}

#[derive(Deserialize)]
struct SqlDoc<'a> {
    #[serde(default, deserialize_with = "present")]
    url: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    connection_string: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    sanitized_query: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    database_type: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    database_version: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    driver_version: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    user: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    preparation: Option<&'a str>,
}

/// Annotations in document order, values as the core reads them.
struct Annotations<'a>(Vec<(&'a str, AnnotationValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Annotations<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Annotations<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of annotations")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Self::Value, M::Error> {
                let mut out = Vec::new();
                while let Some(key) = m.next_key::<&'de str>()? {
                    let Scalar(value) = m.next_value()?;
                    out.push((key, value));
                }
                Ok(Annotations(out))
            }
        }
        d.deserialize_map(Entries)
    }
}

/// A string, number or boolean annotation value (the core reads integers as `Int` when they
/// fit an i64, other numbers as `Float`).
struct Scalar(AnnotationValue);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(AnnotationValue::Bool(v)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(AnnotationValue::Int(v)))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(match i64::try_from(v) {
                    Ok(i) => AnnotationValue::Int(i),
                    Err(_) => AnnotationValue::Float(v as f64),
                }))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(AnnotationValue::Float(v)))
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Scalar, E> {
                Ok(Scalar(AnnotationValue::Str(v.to_string())))
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Scalar, E> {
                // An escaped string: the general path decides.
                Err(E::custom("escaped string"))
            }
        }
        d.deserialize_any(V)
    }
}

/// Accepts `body` when it breaks no rule, building the entity; `None` otherwise.
pub fn accept(body: &[u8]) -> Option<Accepted> {
    if body.len() > MAX_DOCUMENT_BYTES {
        return None;
    }
    let Obj(doc): Obj<Doc<'_>> = serde_json::from_slice(body).ok()?;
    let trace_id = TraceId::parse(doc.trace_id?).ok()?;
    if !is_lower_hex(doc.trace_id?) {
        return None;
    }
    match doc.kind {
        None => {}
        Some("subsegment") if doc.parent_id.is_some() => {}
        Some(_) => return None,
    }
    let mut seen = Vec::new();
    let entity = build(doc, trace_id, None, &mut seen)?;
    Some(Accepted {
        entity,
        warnings: Vec::new(),
    })
}

fn lower_id(text: &str) -> Option<EntityId> {
    let id = EntityId::parse(text).ok()?;
    is_lower_hex(text).then_some(id)
}

fn short(text: Option<&str>) -> bool {
    text.is_none_or(|t| t.chars().count() <= 250)
}

fn build(
    doc: Doc<'_>,
    trace_id: TraceId,
    enclosing: Option<EntityId>,
    seen: &mut Vec<u64>,
) -> Option<ParsedEntity> {
    if name_problem(doc.name).is_some() {
        return None;
    }
    let id = lower_id(doc.id)?;
    if seen.contains(&id.0) {
        return None;
    }
    seen.push(id.0);
    let start_micros = seconds_to_micros(doc.start_time)?;
    let end_micros = match doc.end_time {
        Some(e) => Some(seconds_to_micros(e)?),
        None => None,
    };
    let in_progress = doc.in_progress == Some(true);
    match (end_micros, in_progress) {
        (None, false) | (Some(_), true) => return None,
        // Compared in seconds, as the general path does.
        (Some(_), false) if doc.end_time < Some(doc.start_time) => return None,
        _ => {}
    }
    if doc.cause.is_some() {
        return None;
    }
    if enclosing.is_some() {
        if let Some(t) = doc.trace_id {
            if TraceId::parse(t).ok()? != trace_id {
                return None;
            }
        }
    }
    let parent_id = match doc.parent_id {
        Some(p) => Some(lower_id(p)?),
        None => None,
    };
    if enclosing.is_some() && parent_id.is_some() && parent_id != enclosing {
        return None;
    }
    let namespace = match doc.namespace {
        None => None,
        Some(ns) => Some(Namespace::parse(ns)?),
    };
    if !short(doc.user) {
        return None;
    }
    let mut data = EntityData {
        name: doc.name.to_string(),
        start_micros,
        end_micros,
        namespace,
        origin: doc.origin.map(str::to_string),
        user: doc.user.map(str::to_string),
        resource_arn: doc.resource_arn.map(str::to_string),
        error: doc.error.unwrap_or(false),
        throttle: doc.throttle.unwrap_or(false),
        fault: doc.fault.unwrap_or(false),
        ..EntityData::default()
    };
    if let Some(service) = doc.service {
        if service.get("version").is_some_and(|v| !v.is_string()) {
            return None;
        }
        for (k, v) in service {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            data.service.push((k, text));
        }
    }
    http(doc.http, doc.traced.unwrap_or(false), &mut data)?;
    if let Some(aws) = doc.aws {
        // The general path's checks, on the decoded block.
        let mut holder = Map::new();
        holder.insert("aws".into(), Value::Object(aws));
        let mut checker = Checker::default();
        checker.aws(&mut holder, "", enclosing.is_some());
        if !checker.warnings.is_empty() {
            return None;
        }
        if let Some(Value::Object(aws)) = holder.remove("aws") {
            data.aws = aws;
        }
    }
    if let Some(Obj(sql)) = doc.sql {
        let fields = [
            sql.url,
            sql.connection_string,
            sql.sanitized_query,
            sql.database_type,
            sql.database_version,
            sql.driver_version,
            sql.user,
            sql.preparation,
        ];
        if !short(sql.user) || sql.url.is_some_and(|u| !sql_url_has_database(u)) {
            return None;
        }
        let [url, connection_string, sanitized_query, database_type, database_version, driver_version, user, preparation] =
            fields.map(|f| f.map(str::to_string));
        data.sql = Some(Sql {
            url,
            connection_string,
            sanitized_query,
            database_type,
            database_version,
            driver_version,
            user,
            preparation,
        });
    }
    if let Some(Annotations(list)) = doc.annotations {
        // The general path reads them from an ordered map: sorted, the last duplicate winning.
        let mut sorted: BTreeMap<&str, AnnotationValue> = BTreeMap::new();
        for (k, v) in list {
            if !annotation_key_ok(k)
                || matches!(&v, AnnotationValue::Str(s) if s.chars().count() > 1000)
            {
                return None;
            }
            if sorted.insert(k, v).is_some() {
                return None;
            }
        }
        data.annotations = sorted
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    }
    if let Some(metadata) = doc.metadata {
        for (ns, entries) in metadata {
            let Value::Object(entries) = entries else {
                return None;
            };
            for (k, v) in entries {
                data.set_metadata(&ns, &k, JsonText::from_value(&v));
            }
        }
    }
    for p in doc.precursor_ids.into_iter().flatten() {
        data.precursor_ids.push(lower_id(p)?);
    }
    let mut subsegments = Vec::new();
    for Obj(child) in doc.subsegments.into_iter().flatten() {
        subsegments.push(build(child, trace_id, Some(id), seen)?);
    }
    Some(ParsedEntity {
        id,
        trace_id: if enclosing.is_none() {
            Some(trace_id)
        } else {
            doc.trace_id.map(|_| trace_id)
        },
        parent_id,
        standalone_subsegment: doc.kind == Some("subsegment"),
        other_namespace: None,
        data,
        subsegments,
    })
}

fn http(http: Option<Obj<Http<'_>>>, top_traced: bool, data: &mut EntityData) -> Option<()> {
    let (request, response) = match http {
        Some(Obj(h)) => (h.request.map(|Obj(r)| r), h.response.map(|Obj(r)| r)),
        None => (None, None),
    };
    if request.is_some() || top_traced {
        let r = request.unwrap_or(Request {
            method: None,
            url: None,
            user_agent: None,
            client_ip: None,
            x_forwarded_for: None,
            traced: None,
        });
        if ![r.method, r.url, r.user_agent, r.client_ip]
            .into_iter()
            .all(short)
        {
            return None;
        }
        data.http_request = Some(HttpRequest {
            method: r.method.map(str::to_string),
            url: r.url.map(str::to_string),
            user_agent: r.user_agent.map(str::to_string),
            client_ip: r.client_ip.map(str::to_string),
            x_forwarded_for: r.x_forwarded_for.unwrap_or(false),
            traced: top_traced || r.traced.unwrap_or(false),
        });
    }
    if let Some(r) = response {
        if r.status.is_some_and(|s| s > 999) {
            return None;
        }
        data.http_response = Some(HttpResponse {
            status: r.status,
            content_length: r.content_length,
        });
    }
    Some(())
}
