//! The data of one segment or subsegment (PROTOCOL.md §1), independent of how it is sent.
//!
//! Values here are already valid: names sanitized, annotation keys cleaned, metadata held as
//! validated JSON text, numbers finite. [`crate::entity::Entity`] enforces that on the way in;
//! [`crate::json`] writes these structs out.

use crate::id::EntityId;
use crate::recycled::Recycled;

/// `namespace` of a subsegment. Local work has none (PROTOCOL.md §1.9: omit rather than `local`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    /// A call to an AWS service through an AWS SDK.
    Aws,
    /// Any other downstream call (HTTP, SQL, …).
    Remote,
}

impl Namespace {
    pub fn as_str(self) -> &'static str {
        match self {
            Namespace::Aws => "aws",
            Namespace::Remote => "remote",
        }
    }

    /// `aws` or `remote`; anything else (including `local`) means no namespace.
    pub fn parse(s: &str) -> Option<Namespace> {
        match s {
            "aws" => Some(Namespace::Aws),
            "remote" => Some(Namespace::Remote),
            _ => None,
        }
    }
}

/// An annotation value: X-Ray indexes strings, numbers and booleans only.
#[derive(Debug, Clone, PartialEq)]
pub enum AnnotationValue {
    Str(String),
    Int(i64),
    /// Always finite: non-finite floats are recorded as strings instead.
    Float(f64),
    Bool(bool),
}

/// `http.request`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Option<String>,
    pub url: Option<String>,
    pub user_agent: Option<String>,
    pub client_ip: Option<String>,
    /// Segments only: `client_ip` was read from `X-Forwarded-For`.
    pub x_forwarded_for: bool,
    /// Subsegments only: the downstream call carries this subsegment's id as its parent.
    pub traced: bool,
}

/// `http.request` of a request a server received, borrowed from the caller:
/// [`crate::Entity::set_incoming_request`] writes it into the buffers a recycled record kept
/// from its previous request, so a server allocates nothing for it per request.
#[derive(Debug, Clone, Copy, Default)]
pub struct IncomingRequest<'a> {
    /// Recorded upper-cased.
    pub method: Option<&'a str>,
    /// Scheme, host (as sent, with its port) and path: `url` is `scheme://host` + path.
    pub url: Option<[&'a str; 3]>,
    pub user_agent: Option<&'a str>,
    /// The `X-Forwarded-For` header: its first address is recorded as `client_ip`, flagged
    /// `x_forwarded_for` (on segments).
    pub forwarded_for: Option<&'a str>,
    /// The connection's peer address: `client_ip` without a usable `X-Forwarded-For`.
    pub peer: Option<&'a str>,
}

impl HttpRequest {
    /// Overwrites this request with `incoming`, in the buffers its fields already hold; every
    /// text is cut to the schema's 250 characters.
    pub(crate) fn overwrite_with(&mut self, incoming: &IncomingRequest<'_>) {
        use std::slice::from_ref;
        write_short(&mut self.method, incoming.method.as_ref().map(from_ref));
        if let Some(method) = &mut self.method {
            method.make_ascii_uppercase();
        }
        let url = incoming
            .url
            .map(|[scheme, host, path]| [scheme, "://", host, path]);
        write_short(&mut self.url, url.as_ref().map(|parts| &parts[..]));
        write_short(
            &mut self.user_agent,
            incoming.user_agent.as_ref().map(from_ref),
        );
        let forwarded = incoming
            .forwarded_for
            .and_then(crate::request_headers::first_forwarded);
        let client_ip = forwarded.or(incoming.peer);
        write_short(&mut self.client_ip, client_ip.as_ref().map(from_ref));
        self.x_forwarded_for = forwarded.is_some();
        self.traced = false;
    }

    /// Frees the buffers too large to keep in a recycled record.
    fn drop_large(&mut self) {
        for text in [
            &mut self.method,
            &mut self.url,
            &mut self.user_agent,
            &mut self.client_ip,
        ]
        .into_iter()
        .flatten()
        {
            drop_if_large(text);
        }
    }
}

/// Writes `parts` joined into `slot`'s own buffer (absent: None), cut to
/// [`crate::sanitize::MAX_SHORT_FIELD_CHARS`] characters.
fn write_short(slot: &mut Option<String>, parts: Option<&[&str]>) {
    let Some(parts) = parts else {
        *slot = None;
        return;
    };
    let text = slot.get_or_insert_with(String::new);
    text.clear();
    for part in parts {
        text.push_str(part);
    }
    if let Some(cut) = crate::sanitize::char_cut(text, crate::sanitize::MAX_SHORT_FIELD_CHARS) {
        text.truncate(cut);
    }
}

/// `http.response`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: Option<u16>,
    pub content_length: Option<i64>,
}

/// `sql` (PROTOCOL.md §1.15). `url` must not carry a password.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sql {
    pub url: Option<String>,
    pub connection_string: Option<String>,
    pub sanitized_query: Option<String>,
    pub database_type: Option<String>,
    pub database_version: Option<String>,
    pub driver_version: Option<String>,
    pub user: Option<String>,
    /// `call` or `statement`.
    pub preparation: Option<String>,
}

impl Sql {
    /// True when `url` has the form X-Ray receivers accept, `^(.+//.+)/([^?]+)\??.*$` (with
    /// `.` not matching a newline): receivers reject the whole document otherwise
    /// (PROTOCOL.md §1.15).
    pub fn url_names_database(url: &str) -> bool {
        if url.contains('\n') {
            return false;
        }
        // Some '/' must have "//" with text on both sides before it, and a character other
        // than '?' right after it.
        url.match_indices('/').any(|(slash, _)| {
            let after_ok = url[slash + 1..].chars().next().is_some_and(|c| c != '?');
            let before = &url[..slash];
            let scheme_ok = before
                .match_indices("//")
                .any(|(i, _)| i >= 1 && i + 2 < before.len());
            after_ok && scheme_ok
        })
    }
}

/// One stack frame of an exception.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackFrame {
    pub path: Option<String>,
    pub line: Option<u32>,
    pub label: Option<String>,
}

/// An exception in `cause.exceptions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub id: EntityId,
    pub message: Option<String>,
    pub type_name: Option<String>,
    /// Caused by a downstream service.
    pub remote: bool,
    pub stack: Vec<StackFrame>,
    /// Stack frames omitted.
    pub truncated: u32,
    /// Exceptions skipped between this one and its cause.
    pub skipped: u32,
    /// Id of the exception that caused this one.
    pub cause: Option<EntityId>,
}

impl Exception {
    /// A new exception record with a fresh id.
    pub fn new(type_name: Option<String>, message: Option<String>) -> Exception {
        Exception {
            id: EntityId::generate(),
            message,
            type_name,
            remote: false,
            stack: Vec::new(),
            truncated: 0,
            skipped: 0,
            cause: None,
        }
    }
}

/// `cause`: either exception details, or the id of an exception recorded in a descendant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    Details {
        working_directory: Option<String>,
        paths: Vec<String>,
        exceptions: Vec<Exception>,
    },
    /// The same exception was already recorded by a descendant entity: its id. (Emitted ids
    /// are 16 hex; parsed documents may hold any 16-character string, as the schema allows.)
    ExceptionRef(String),
}

/// A metadata value: validated, compact JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(pub(crate) String);

impl JsonText {
    /// Validates `text` as one JSON value and keeps it. NaN/Infinity are not JSON, so they are
    /// refused here.
    pub fn parse(text: &str) -> Result<JsonText, serde_json::Error> {
        let value: serde_json::Value = serde_json::from_str(text)?;
        Ok(JsonText::from_value(&value))
    }

    /// Serializes a JSON value (serde_json's `Value` cannot hold NaN/Infinity).
    pub fn from_value(value: &serde_json::Value) -> JsonText {
        JsonText(serde_json::to_string(value).unwrap_or_else(|_| "null".to_string()))
    }

    /// Takes text produced by a trusted serializer (a binding's own encoder) without
    /// re-validating it. The caller guarantees it is one valid JSON value.
    pub fn from_trusted(text: String) -> JsonText {
        JsonText(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One metadata value: `metadata.<namespace>.<key>`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataEntry {
    pub namespace: std::borrow::Cow<'static, str>,
    pub key: String,
    pub value: JsonText,
}

impl MetadataEntry {
    /// The namespace as stored: the default namespace without an allocation.
    fn namespace_text(namespace: &str) -> std::borrow::Cow<'static, str> {
        match namespace {
            "default" => std::borrow::Cow::Borrowed("default"),
            other => std::borrow::Cow::Owned(other.to_string()),
        }
    }
}

/// `aws.xray` of a segment begun by a recorder: the SDK (serialized once per recorder) and
/// the centralized sampling rule that sampled it. Written inside `aws`; an `xray` key the
/// user put in `aws` takes its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XrayInfo {
    /// `"sdk":…,"sdk_version":…`: JSON object members, escaped.
    pub sdk_members: std::sync::Arc<str>,
    pub sampling_rule_name: Option<std::sync::Arc<str>>,
}

/// Everything recorded on one entity. Built under the entity's lock, serialized at end.
#[derive(Debug, Clone, Default)]
pub struct EntityData {
    pub name: String,
    pub start_micros: u64,
    pub end_micros: Option<u64>,
    pub namespace: Option<Namespace>,
    pub origin: Option<String>,
    pub user: Option<String>,
    pub resource_arn: Option<String>,
    /// `service` object (segments): version, runtime, runtime_version, …
    pub service: Vec<(String, String)>,
    pub http_request: Option<HttpRequest>,
    /// The buffers of the `http_request` a recycled record held, for the next
    /// [`crate::Entity::set_incoming_request`]. Never serialized.
    pub spare_http_request: Option<HttpRequest>,
    pub http_response: Option<HttpResponse>,
    /// `aws` object: free-form (operation, region, request_id, table_name, xray, …).
    pub aws: serde_json::Map<String, serde_json::Value>,
    /// `aws.xray` of a segment begun by a recorder (see [`XrayInfo`]).
    pub xray: Option<XrayInfo>,
    pub sql: Option<Sql>,
    pub error: bool,
    pub throttle: bool,
    pub fault: bool,
    pub cause: Option<Cause>,
    /// Annotations in insertion order, one per key. A recycled record's earlier entries stay
    /// as stale slots whose strings the next entity's keys and values are written into.
    pub annotations: Recycled<(String, AnnotationValue)>,
    /// Metadata entries in insertion order, one per (namespace, key); serialized grouped by
    /// namespace in order of first appearance. Flat, so one value costs no per-namespace
    /// vector, and the usual `default` namespace costs no allocation. Recycled like
    /// `annotations`.
    pub metadata: Recycled<MetadataEntry>,
    pub precursor_ids: Vec<EntityId>,
}

/// Strings a recycled record keeps in its stale slots at most this large; larger ones are
/// freed (a record never pins much memory).
const KEEP_TEXT_BYTES: usize = 256;

/// Frees `text`'s buffer if it is too large to keep in a recycled record.
fn drop_if_large(text: &mut String) {
    if text.capacity() > KEEP_TEXT_BYTES {
        *text = String::new();
    }
}

/// Replaces `text`'s contents with `with`, in its own buffer.
#[inline]
fn overwrite(text: &mut String, with: &str) {
    text.clear();
    // SAFETY: appending the bytes of a `&str` to an empty `String` keeps it valid UTF-8.
    crate::json::append(unsafe { text.as_mut_vec() }, with.as_bytes());
}

/// Sets a metadata entry's namespace, in its own buffer when it has one.
fn set_namespace(slot: &mut std::borrow::Cow<'static, str>, namespace: &str) {
    match slot {
        std::borrow::Cow::Owned(text) if namespace != "default" => overwrite(text, namespace),
        _ => *slot = MetadataEntry::namespace_text(namespace),
    }
}

impl EntityData {
    /// Empties the record for reuse, keeping the capacity of its buffers. Cheaper than
    /// assigning a fresh record (which writes all of it); the exhaustive destructuring makes
    /// a new field a compile error here until it is reset too.
    pub(crate) fn clear_for_reuse(&mut self) {
        let EntityData {
            name,
            start_micros,
            end_micros,
            namespace,
            origin,
            user,
            resource_arn,
            service,
            http_request,
            spare_http_request,
            http_response,
            aws,
            xray,
            sql,
            error,
            throttle,
            fault,
            cause,
            annotations,
            metadata,
            precursor_ids,
        } = self;
        name.clear();
        *start_micros = 0;
        *end_micros = None;
        *namespace = None;
        // Fields most entities never set are only dropped when set: dropping an empty
        // `Option`/map still runs its destructor's checks, which add up on every subsegment.
        if origin.is_some() {
            *origin = None;
        }
        if user.is_some() {
            *user = None;
        }
        if resource_arn.is_some() {
            *resource_arn = None;
        }
        service.clear();
        if let Some(mut request) = http_request.take() {
            request.drop_large();
            *spare_http_request = Some(request);
        }
        *http_response = None;
        if !aws.is_empty() {
            aws.clear();
        }
        if xray.is_some() {
            *xray = None;
        }
        if sql.is_some() {
            *sql = None;
        }
        *error = false;
        *throttle = false;
        *fault = false;
        if cause.is_some() {
            *cause = None;
        }
        // The live entries stay as stale slots for the next entity's; only large strings go.
        for (key, value) in annotations.iter_mut() {
            drop_if_large(key);
            if let AnnotationValue::Str(text) = value {
                drop_if_large(text);
            }
        }
        annotations.clear();
        for entry in metadata.iter_mut() {
            drop_if_large(&mut entry.key);
            drop_if_large(&mut entry.value.0);
        }
        metadata.clear();
        precursor_ids.clear();
    }

    /// Sets error/throttle/fault from an HTTP status as the SDKs do (PROTOCOL.md §1.10).
    pub fn apply_status(&mut self, status: u16) {
        match status {
            429 => {
                self.throttle = true;
                self.error = true;
            }
            400..=499 => self.error = true,
            500..=599 => self.fault = true,
            _ => {}
        }
    }

    /// The slot for the annotation `key`: its entry, else a stale slot made live with `key`
    /// written into it; None when there is neither (the caller pushes a new entry).
    fn annotation_slot(&mut self, key: &str) -> Option<&mut (String, AnnotationValue)> {
        match self.annotations.iter().position(|(k, _)| k == key) {
            Some(i) => Some(&mut self.annotations[i]),
            None => {
                let slot = self.annotations.reuse_next()?;
                overwrite(&mut slot.0, key);
                Some(slot)
            }
        }
    }

    /// The slot for the metadata `namespace`.`key`, as [`Self::annotation_slot`].
    fn metadata_slot(&mut self, namespace: &str, key: &str) -> Option<&mut MetadataEntry> {
        let found = self
            .metadata
            .iter()
            .position(|e| e.namespace == namespace && e.key == key);
        match found {
            Some(i) => Some(&mut self.metadata[i]),
            None => {
                let entry = self.metadata.reuse_next()?;
                set_namespace(&mut entry.namespace, namespace);
                overwrite(&mut entry.key, key);
                Some(entry)
            }
        }
    }

    /// Inserts or replaces an annotation.
    pub fn set_annotation(&mut self, key: &str, value: AnnotationValue) {
        match self.annotation_slot(key) {
            Some(slot) => slot.1 = value,
            None => self.annotations.push((key.to_string(), value)),
        }
    }

    /// Inserts or replaces a string annotation, copying `value` into the buffer of the slot it
    /// takes when it has one.
    pub fn set_annotation_text(&mut self, key: &str, value: &str) {
        match self.annotation_slot(key) {
            Some((_, AnnotationValue::Str(text))) => overwrite(text, value),
            Some((_, other)) => *other = AnnotationValue::Str(value.to_string()),
            None => self
                .annotations
                .push((key.to_string(), AnnotationValue::Str(value.to_string()))),
        }
    }

    /// Inserts or replaces a metadata value given as JSON text the caller vouches for,
    /// copying it into the buffer of the slot it takes when it has one.
    pub fn set_metadata_text(&mut self, namespace: &str, key: &str, json: &str) {
        match self.metadata_slot(namespace, key) {
            Some(entry) => overwrite(&mut entry.value.0, json),
            None => self.metadata.push(MetadataEntry {
                namespace: MetadataEntry::namespace_text(namespace),
                key: key.to_string(),
                value: JsonText(json.to_string()),
            }),
        }
    }

    /// Inserts or replaces a metadata value.
    pub fn set_metadata(&mut self, namespace: &str, key: &str, value: JsonText) {
        match self.metadata_slot(namespace, key) {
            Some(entry) => entry.value = value,
            None => self.metadata.push(MetadataEntry {
                namespace: MetadataEntry::namespace_text(namespace),
                key: key.to_string(),
                value,
            }),
        }
    }

    /// The distinct metadata namespaces, in order of first appearance.
    pub fn metadata_namespaces(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        for e in &self.metadata {
            if !seen.contains(&e.namespace.as_ref()) {
                seen.push(&e.namespace);
            }
        }
        seen
    }
}
