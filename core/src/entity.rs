//! [`Entity`]: a handle on one segment, subsegment or Lambda facade, and the emit policy.
//!
//! Entities are independent objects: each has its own lock, knows its trace id, its parent and
//! its data. There is no tree-wide lock.
//!
//! # Emit policy
//! When an entity ends it is serialized once, as a *fragment*, and handed on:
//! - a segment is sent as a document;
//! - a child of a Lambda facade, or of a parent that already ended, is sent on its own
//!   (`type`, `trace_id`, `parent_id`);
//! - otherwise it is embedded in its open parent, which sends it inside its own document —
//!   unless the parent already holds `max_embedded_children` children or `max_embedded_bytes`
//!   bytes of them, or the child is a multiple of `MAX_EMBEDDED_DEPTH` levels deep, in which
//!   case this child is streamed on its own at once.
//!
//! When the parent ends, [`crate::json::fit`] keeps its document ≤ 64,000 bytes: it streams the
//! largest children first and only then truncates the parent's own largest values, with a
//! visible marker. [`crate::Recorder::flush`] streams the closed children of parents still
//! open, and an entity dropped without `end()` is sent as in-progress with its children: nothing
//! that completed is lost. The reassembled trace is the same as if every subsegment had been
//! sent on close.

use std::sync::{Arc, OnceLock};

use crate::emit::Counters;
use crate::entity_lock::EntityLock;
use crate::header::TraceHeader;
use crate::http_meta::{HttpMetaUpdate, HttpMetaValue};
use crate::id::{EntityId, TraceId};
use crate::json;
use crate::model::{
    AnnotationValue, Cause, EntityData, Exception, HttpRequest, HttpResponse, IncomingRequest,
    JsonText, Namespace, Sql,
};
use crate::recorder::Shared;
use crate::sanitize;
use crate::TraceError;

/// Subsegments nested in one document at most; every `MAX_EMBEDDED_DEPTH`-th level of a chain
/// is sent on its own with its own embedded descendants (each level adds two levels of JSON).
const MAX_EMBEDDED_DEPTH: u32 = 24;

/// Where a closing entity's document goes (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// Into its open parent's document.
    Embed,
    /// On its own because its open parent already holds its fill of children.
    Streamed,
    /// On its own: a segment, or a child of a parent that has ended.
    OnItsOwn,
    /// On its own, sent from this thread at once: a child of a Lambda facade (see
    /// [`crate::Emitter::emit_now`]).
    Now,
}

/// What an entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Segment,
    Subsegment,
    /// The Lambda function segment, known only by its id; never sent.
    Facade,
}

pub(crate) struct State {
    /// None when unsampled, for a facade, or once ended. Boxed so that creating and ending an
    /// entity moves a pointer, not the whole (large) record.
    data: Option<Box<EntityData>>,
    ended: bool,
    /// Fragments of closed children waiting to be embedded.
    children: Vec<Vec<u8>>,
    children_bytes: usize,
    /// Listed in the recorder's set of parents holding children (for flush).
    listed: bool,
    /// [`Entity::send_in_progress`] sent its document (it sends one at most).
    in_progress_sent: bool,
}

/// What every entity of a trace needs from its root: the recorder and the trace's incoming
/// header.
#[derive(Clone)]
struct TraceLinks {
    shared: Arc<Shared>,
    incoming: Option<Arc<TraceHeader>>,
}

/// Where an entity hangs.
enum Up {
    /// A segment or facade: it holds the trace's links.
    Root(TraceLinks),
    /// A subsegment: its parent. The links are found through the parents (cloning two `Arc`s
    /// for every subsegment, four atomic operations with the drops, cost more than the short
    /// walk); every `MAX_EMBEDDED_DEPTH`-th level keeps a copy, so the walk stays short in
    /// deep chains.
    Child {
        parent: Entity,
        links: Option<TraceLinks>,
    },
}

pub(crate) struct Inner {
    id: EntityId,
    trace_id: TraceId,
    kind: EntityKind,
    /// Subsegments between this entity and its segment or facade (0 for those).
    depth: u32,
    sampled: bool,
    up: Up,
    /// A segment's upstream parent (from the incoming header).
    upstream_parent: Option<EntityId>,
    /// The opening of a child's standalone document (frame header, type, trace id, this
    /// entity as parent id): written once, on first use, instead of once per child sent on its
    /// own (every child of a facade; streamed children of other entities).
    child_prefix: OnceLock<Box<[u8]>>,
    state: EntityLock<State>,
}

impl Inner {
    fn parent(&self) -> Option<&Entity> {
        match &self.up {
            Up::Root(_) => None,
            Up::Child { parent, .. } => Some(parent),
        }
    }

    fn links(&self) -> &TraceLinks {
        let mut up = &self.up;
        loop {
            match up {
                Up::Root(links)
                | Up::Child {
                    links: Some(links), ..
                } => return links,
                Up::Child {
                    parent,
                    links: None,
                } => up = &parent.inner.up,
            }
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.links().shared
    }

    /// The trace's incoming header, for Lineage and extra keys on propagation.
    fn incoming(&self) -> Option<&Arc<TraceHeader>> {
        self.links().incoming.as_ref()
    }
}

/// A handle on a segment, subsegment or facade. Cheap to clone; all clones are the same entity.
#[derive(Clone)]
pub struct Entity {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entity")
            .field("kind", &self.inner.kind)
            .field("id", &self.inner.id)
            .field("trace_id", &self.inner.trace_id)
            .field("sampled", &self.inner.sampled)
            .finish()
    }
}

/// Parameters for creating a segment or facade (used by the recorder).
pub(crate) struct NewEntity {
    pub kind: EntityKind,
    pub id: EntityId,
    pub trace_id: TraceId,
    pub sampled: bool,
    pub upstream_parent: Option<EntityId>,
    pub incoming: Option<Arc<TraceHeader>>,
    pub data: Option<Box<EntityData>>,
}

fn new_state(data: Option<Box<EntityData>>) -> EntityLock<State> {
    EntityLock::new(State {
        data,
        ended: false,
        children: Vec::new(),
        children_bytes: 0,
        listed: false,
        in_progress_sent: false,
    })
}

impl Entity {
    /// A segment or facade: the root of its trace's entities in this process.
    pub(crate) fn create(shared: Arc<Shared>, n: NewEntity) -> Entity {
        Entity {
            inner: Arc::new(Inner {
                id: n.id,
                trace_id: n.trace_id,
                kind: n.kind,
                depth: 0,
                sampled: n.sampled,
                up: Up::Root(TraceLinks {
                    shared,
                    incoming: n.incoming,
                }),
                upstream_parent: n.upstream_parent,
                child_prefix: OnceLock::new(),
                state: new_state(n.data),
            }),
        }
    }

    pub fn id(&self) -> EntityId {
        self.inner.id
    }

    pub fn trace_id(&self) -> TraceId {
        self.inner.trace_id
    }

    pub fn kind(&self) -> EntityKind {
        self.inner.kind
    }

    /// Whether this entity's trace is recorded. Unsampled entities accept every call and
    /// record nothing.
    pub fn is_sampled(&self) -> bool {
        self.inner.sampled
    }

    /// The id of the parent entity (a subsegment's parent, or a segment's upstream parent).
    pub fn parent_id(&self) -> Option<EntityId> {
        match self.inner.parent() {
            Some(p) => Some(p.id()),
            None => self.inner.upstream_parent,
        }
    }

    /// The parent entity handle, for subsegments.
    pub fn parent(&self) -> Option<&Entity> {
        self.inner.parent()
    }

    pub fn is_ended(&self) -> bool {
        self.inner.state.lock().ended
    }

    /// True when both handles refer to the same entity.
    pub fn same_as(&self, other: &Entity) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Begins a subsegment under this entity. Works on any entity, ended or not; the child of
    /// an unsampled entity is unsampled. The name is sanitized (a warning is logged if it
    /// changed).
    pub fn begin_subsegment(&self, name: &str) -> Entity {
        // An unsampled entity records no times: skip the clock read (tens of ns on a VM).
        let start = if self.inner.sampled {
            crate::time::now_micros()
        } else {
            0
        };
        self.begin_subsegment_at(name, start)
    }

    /// [`Entity::begin_subsegment`] with an explicit start time in epoch microseconds.
    pub fn begin_subsegment_at(&self, name: &str, start_micros: u64) -> Entity {
        let data = self.inner.sampled.then(|| {
            crate::record_pool::take(&clean_name(|| self.inner.shared(), name), start_micros)
        });
        let depth = self.inner.depth.saturating_add(1);
        let links = (depth % MAX_EMBEDDED_DEPTH == 0).then(|| self.inner.links().clone());
        Entity {
            inner: Arc::new(Inner {
                id: EntityId::generate(),
                trace_id: self.inner.trace_id,
                kind: EntityKind::Subsegment,
                depth,
                sampled: self.inner.sampled,
                up: Up::Child {
                    parent: self.clone(),
                    links,
                },
                upstream_parent: None,
                child_prefix: OnceLock::new(),
                state: new_state(data),
            }),
        }
    }

    pub(crate) fn clean_name(&self, name: &str) -> String {
        clean_name(|| self.inner.shared(), name).into_owned()
    }

    fn warn(&self, message: &str) {
        self.inner.shared().warn(message);
    }

    /// Reports a problem a binding found with input for this entity: logged and counted as a
    /// warning by its recorder, like the core's own checks.
    pub fn report_warning(&self, message: &str) {
        self.warn(message);
    }

    /// Runs `f` on the data if this entity is sampled and open. Unsampled: Ok, nothing done.
    fn with_data(&self, f: impl FnOnce(&mut EntityData)) -> Result<(), TraceError> {
        if !self.inner.sampled {
            return Ok(());
        }
        let mut st = self.inner.state.lock();
        let ended = st.ended;
        match st.data.as_mut() {
            Some(data) => {
                f(data);
                Ok(())
            }
            None if ended => {
                drop(st);
                self.warn(&format!(
                    "{} was already ended; the change was ignored",
                    self.describe()
                ));
                Err(TraceError::AlreadyEnded)
            }
            None => {
                drop(st);
                self.warn(
                    "a Lambda facade segment cannot be changed; record on a subsegment instead",
                );
                Err(TraceError::InvalidArgument(
                    "the Lambda facade segment is read-only".into(),
                ))
            }
        }
    }

    fn describe(&self) -> String {
        format!("{:?} {}", self.inner.kind, self.inner.id).to_lowercase()
    }

    /// Adds or replaces an annotation. The key is sanitized to `[A-Za-z0-9_]` (with a
    /// warning); an empty key is refused. Strings over 1,000 characters are truncated and
    /// non-finite numbers are recorded as strings, each with a warning.
    pub fn put_annotation(&self, key: &str, value: AnnotationValue) -> Result<(), TraceError> {
        if !self.inner.sampled {
            return Ok(());
        }
        let clean_key = self.annotation_key(key)?;
        let value = match value {
            AnnotationValue::Str(s) => match self.annotation_text(&clean_key, &s) {
                std::borrow::Cow::Owned(cut) => AnnotationValue::Str(cut),
                std::borrow::Cow::Borrowed(_) => AnnotationValue::Str(s),
            },
            AnnotationValue::Float(f) if !f.is_finite() => {
                self.warn(&format!(
                    "annotation {clean_key:?} is {f}, which JSON cannot hold; recorded as a string"
                ));
                AnnotationValue::Str(f.to_string())
            }
            other => other,
        };
        self.with_data(|d| d.set_annotation(&clean_key, value))
    }

    /// [`Entity::put_annotation`] of a string value the caller lends: the value is copied into
    /// a buffer the entity's record recycles, so a binding holding the text elsewhere (a
    /// Python `str`, a C string, a scratch buffer) pays no allocation per annotation.
    pub fn put_annotation_str(&self, key: &str, value: &str) -> Result<(), TraceError> {
        if !self.inner.sampled {
            return Ok(());
        }
        let clean_key = self.annotation_key(key)?;
        let value = self.annotation_text(&clean_key, value);
        self.with_data(|d| d.set_annotation_text(&clean_key, &value))
    }

    /// The annotation key X-Ray indexes (`[A-Za-z0-9_]`), with a warning when it changed; an
    /// empty key is refused.
    #[inline]
    fn annotation_key<'k>(&self, key: &'k str) -> Result<std::borrow::Cow<'k, str>, TraceError> {
        let Some((clean_key, changed)) = sanitize::annotation_key(key) else {
            self.warn("annotation key is empty; annotation dropped");
            return Err(TraceError::InvalidArgument(
                "annotation key must not be empty".into(),
            ));
        };
        if changed {
            self.warn(&format!(
                "annotation key {:?} was changed to {clean_key:?} (only A-Z, a-z, 0-9 and _ are indexed)",
                sanitize::truncate_chars(key, 64).0
            ));
        }
        Ok(clean_key)
    }

    /// A string annotation value within the schema's length, with a warning when cut.
    #[inline]
    fn annotation_text<'v>(&self, clean_key: &str, value: &'v str) -> std::borrow::Cow<'v, str> {
        let (v, cut) = sanitize::truncate_chars(value, sanitize::MAX_ANNOTATION_VALUE_CHARS);
        if cut {
            self.warn(&format!(
                "annotation {clean_key:?} was truncated to {} characters",
                sanitize::MAX_ANNOTATION_VALUE_CHARS
            ));
        }
        v
    }

    /// Adds or replaces a metadata value under `namespace` (default `default`). Namespaces
    /// starting with `AWS.` are reserved and refused.
    pub fn put_metadata(
        &self,
        namespace: Option<&str>,
        key: &str,
        value: JsonText,
    ) -> Result<(), TraceError> {
        if !self.inner.sampled {
            return Ok(());
        }
        let namespace = self.metadata_namespace(namespace)?;
        self.with_data(|d| d.set_metadata(namespace, key, value))
    }

    /// [`Entity::put_metadata`] of a value the caller lends: copied into a buffer the entity's
    /// record recycles (no allocation per value in steady state).
    pub fn put_metadata_ref(
        &self,
        namespace: Option<&str>,
        key: &str,
        value: &JsonText,
    ) -> Result<(), TraceError> {
        self.put_metadata_trusted_text(namespace, key, value.as_str())
    }

    /// [`Entity::put_metadata_ref`] of JSON text produced by a trusted serializer (a
    /// binding's own encoder), not validated again: the caller guarantees it is one valid JSON
    /// value, as with [`JsonText::from_trusted`].
    pub fn put_metadata_trusted_text(
        &self,
        namespace: Option<&str>,
        key: &str,
        json: &str,
    ) -> Result<(), TraceError> {
        if !self.inner.sampled {
            return Ok(());
        }
        let namespace = self.metadata_namespace(namespace)?;
        self.with_data(|d| d.set_metadata_text(namespace, key, json))
    }

    /// The namespace to record under (`default` when none); `AWS.` namespaces are refused.
    #[inline]
    fn metadata_namespace<'n>(&self, namespace: Option<&'n str>) -> Result<&'n str, TraceError> {
        let namespace = namespace.unwrap_or("default");
        if namespace.starts_with("AWS.") {
            self.warn(&format!(
                "metadata namespace {namespace:?} is reserved for AWS; value dropped"
            ));
            return Err(TraceError::ReservedNamespace(namespace.to_string()));
        }
        Ok(namespace)
    }

    /// [`Entity::put_metadata`] from JSON text, which is validated first.
    pub fn put_metadata_json(
        &self,
        namespace: Option<&str>,
        key: &str,
        json_text: &str,
    ) -> Result<(), TraceError> {
        if !self.inner.sampled {
            return Ok(());
        }
        match JsonText::parse(json_text) {
            Ok(v) => self.put_metadata(namespace, key, v),
            Err(e) => {
                self.warn(&format!(
                    "metadata {key:?} is not valid JSON ({e}); value dropped"
                ));
                Err(TraceError::InvalidJson(e.to_string()))
            }
        }
    }

    /// Sets `http.request`. String fields are cut to 250 characters (the schema's limit).
    pub fn set_http_request(&self, mut request: HttpRequest) -> Result<(), TraceError> {
        for field in [
            &mut request.method,
            &mut request.url,
            &mut request.user_agent,
            &mut request.client_ip,
        ]
        .into_iter()
        .flatten()
        {
            sanitize::cut_chars_in_place(field, sanitize::MAX_SHORT_FIELD_CHARS);
        }
        // Each flag belongs to one kind of entity (PROTOCOL.md §1.10).
        let segment = self.inner.kind == EntityKind::Segment;
        request.x_forwarded_for &= segment;
        request.traced &= !segment;
        self.with_data(|d| d.http_request = Some(request))
    }

    /// Sets `http.request` of a request a server received (see [`IncomingRequest`]): the same
    /// as [`Entity::set_http_request`], written into the record's recycled buffers.
    pub fn set_incoming_request(&self, request: &IncomingRequest<'_>) -> Result<(), TraceError> {
        self.with_data(|d| {
            let mut recorded = d
                .http_request
                .take()
                .or_else(|| d.spare_http_request.take())
                .unwrap_or_default();
            recorded.overwrite_with(request);
            // A segment-only field (PROTOCOL.md §1.10).
            recorded.x_forwarded_for &= self.inner.kind == EntityKind::Segment;
            d.http_request = Some(recorded);
        })
    }

    /// Sets `http.response` and, from the status, the error/throttle/fault flags.
    pub fn set_http_response(
        &self,
        status: Option<u16>,
        content_length: Option<i64>,
    ) -> Result<(), TraceError> {
        self.with_data(|d| {
            d.http_response = Some(HttpResponse {
                status,
                content_length,
            });
            if let Some(s) = status {
                d.apply_status(s);
            }
        })
    }

    /// Sets one field of `http.request` or `http.response` by the X-Ray SDKs' key names
    /// (`method`, `url`, `user_agent`, `client_ip`, `x_forwarded_for` on segments, `traced` on
    /// subsegments, `status`, `content_length`), keeping the others: their `put_http_meta`.
    /// Anything else is refused with a warning.
    pub fn put_http_meta(&self, key: &str, value: HttpMetaValue<'_>) -> Result<(), TraceError> {
        let segment = self.inner.kind == EntityKind::Segment;
        match HttpMetaUpdate::parse(key, value, segment) {
            Ok(update) => self.with_data(|d| update.apply(d)),
            Err(reason) => {
                self.warn(&format!("put_http_meta refused: {reason}"));
                Err(TraceError::InvalidArgument(reason))
            }
        }
    }

    /// Sets one field of the `aws` object (e.g. `operation`, `region`, `request_id`). A field
    /// the schema types (`account_id`, `operation`, … strings; `ec2`, `ecs`, … objects) is
    /// refused with another type: receivers drop a whole document whose field does not match.
    pub fn set_aws(&self, key: &str, value: serde_json::Value) -> Result<(), TraceError> {
        if let Err(reason) = crate::aws_fields::check(key, &value) {
            self.warn(&format!("aws.{key} refused: {reason}"));
            return Err(TraceError::InvalidArgument(format!("aws.{key}: {reason}")));
        }
        let key = key.to_string();
        self.with_data(|d| {
            d.aws.insert(key, value);
        })
    }

    /// Sets the `sql` block. A `url` that names no database is refused (receivers would
    /// reject the whole document); put such text in `connection_string` instead. So is a
    /// `preparation` other than `call` or `statement`. `user` is cut to 250 characters (the
    /// schema's limit).
    pub fn set_sql(&self, mut sql: Sql) -> Result<(), TraceError> {
        if let Some(p) = &sql.preparation {
            if p != "call" && p != "statement" {
                let reason = format!("sql.preparation {p:?} is not \"call\" or \"statement\"");
                self.warn(&format!("{reason}; sql block refused"));
                return Err(TraceError::InvalidArgument(reason));
            }
        }
        if let Some(user) = &mut sql.user {
            sanitize::cut_chars_in_place(user, sanitize::MAX_SHORT_FIELD_CHARS);
        }
        if let Some(url) = &sql.url {
            if !Sql::url_names_database(url) {
                self.warn(&format!(
                    "sql.url {url:?} names no database; sql block refused"
                ));
                return Err(TraceError::InvalidArgument(format!(
                    "sql.url {url:?} must look like scheme://host/database"
                )));
            }
        }
        self.with_data(|d| d.sql = Some(sql))
    }

    /// Sets or clears the namespace (`aws` or `remote`; none for local work).
    pub fn set_namespace(&self, namespace: Option<Namespace>) -> Result<(), TraceError> {
        self.with_data(|d| d.namespace = namespace)
    }

    pub fn set_origin(&self, origin: &str) -> Result<(), TraceError> {
        let origin = origin.to_string();
        self.with_data(|d| d.origin = Some(origin))
    }

    /// Sets `user` (cut to 250 characters).
    pub fn set_user(&self, user: &str) -> Result<(), TraceError> {
        let user = sanitize::truncate_chars(user, sanitize::MAX_SHORT_FIELD_CHARS)
            .0
            .into_owned();
        self.with_data(|d| d.user = Some(user))
    }

    pub fn set_resource_arn(&self, arn: &str) -> Result<(), TraceError> {
        let arn = arn.to_string();
        self.with_data(|d| d.resource_arn = Some(arn))
    }

    /// Sets one key of the `service` object (`version`, `runtime`, `runtime_version`, …).
    pub fn set_service(&self, key: &str, value: &str) -> Result<(), TraceError> {
        let (key, value) = (key.to_string(), value.to_string());
        self.with_data(|d| match d.service.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => d.service.push((key, value)),
        })
    }

    pub fn add_precursor_id(&self, id: EntityId) -> Result<(), TraceError> {
        self.with_data(|d| d.precursor_ids.push(id))
    }

    pub fn set_error(&self, on: bool) -> Result<(), TraceError> {
        self.with_data(|d| d.error = on)
    }

    pub fn set_fault(&self, on: bool) -> Result<(), TraceError> {
        self.with_data(|d| d.fault = on)
    }

    pub fn set_throttle(&self, on: bool) -> Result<(), TraceError> {
        self.with_data(|d| d.throttle = on)
    }

    /// Renames the entity (sanitized).
    pub fn set_name(&self, name: &str) -> Result<(), TraceError> {
        let name = self.clean_name(name);
        self.with_data(|d| d.name = name)
    }

    /// Records an exception in `cause.exceptions` and returns its id. Sets `fault` unless
    /// `error` or `throttle` already describe the failure. `working_directory` is recorded
    /// the first time it is given.
    pub fn add_exception(
        &self,
        exception: Exception,
        working_directory: Option<&str>,
    ) -> Result<EntityId, TraceError> {
        let id = exception.id;
        let wd = working_directory.map(str::to_string);
        self.with_data(|d| {
            if !d.error && !d.throttle {
                d.fault = true;
            }
            match &mut d.cause {
                Some(Cause::Details {
                    exceptions,
                    working_directory,
                    ..
                }) => {
                    exceptions.push(exception);
                    if working_directory.is_none() {
                        *working_directory = wd;
                    }
                }
                _ => {
                    d.cause = Some(Cause::Details {
                        working_directory: wd,
                        paths: Vec::new(),
                        exceptions: vec![exception],
                    })
                }
            }
        })?;
        Ok(id)
    }

    /// Records that this entity failed with an exception already recorded (with `exception_id`)
    /// by a descendant: `cause` becomes that id. Sets `fault` like [`Entity::add_exception`].
    pub fn set_cause_exception_ref(&self, exception_id: EntityId) -> Result<(), TraceError> {
        self.with_data(|d| {
            if !d.error && !d.throttle {
                d.fault = true;
            }
            d.cause = Some(Cause::ExceptionRef(exception_id.to_string()));
        })
    }

    /// The `X-Amzn-Trace-Id` to send on a downstream call made inside this entity:
    /// `Root=<trace>;Parent=<this id>;Sampled=<0|1>` plus Lineage and extra keys of the
    /// incoming header, without `Self`.
    pub fn outgoing_header(&self) -> TraceHeader {
        match self.inner.incoming() {
            Some(h) => h.propagate(self.inner.trace_id, self.inner.id, self.inner.sampled),
            None => TraceHeader::default().propagate(
                self.inner.trace_id,
                self.inner.id,
                self.inner.sampled,
            ),
        }
    }

    /// The incoming header of this entity's trace, if any.
    pub fn incoming_header(&self) -> Option<&TraceHeader> {
        self.inner.incoming().map(|h| &**h)
    }

    /// Ends the entity now. See the module docs for where it goes.
    pub fn end(&self) -> Result<(), TraceError> {
        let end = if self.inner.sampled {
            crate::time::now_micros()
        } else {
            0
        };
        self.end_at(end)
    }

    /// Ends the entity at `end_micros` (epoch microseconds; clamped to its start).
    pub fn end_at(&self, end_micros: u64) -> Result<(), TraceError> {
        let (data, children) = {
            let mut st = self.inner.state.lock();
            if st.ended {
                drop(st);
                if self.inner.sampled {
                    self.warn(&format!("{} was already ended", self.describe()));
                }
                return Err(TraceError::AlreadyEnded);
            }
            st.ended = true;
            st.children_bytes = 0;
            (st.data.take(), std::mem::take(&mut st.children))
        };
        match data {
            Some(mut data) => {
                data.end_micros = Some(end_micros.max(data.start_micros));
                self.finish(&mut data, children);
                crate::record_pool::give_back(data);
            }
            // A facade that held children (not expected: they are streamed) still sends them.
            None => self.stream_children(children),
        }
        Ok(())
    }

    /// The document this entity would send if it were sent now, as JSON text (without the
    /// daemon's header line): in progress, with the children that closed so far embedded.
    /// What the SDKs' `serialize()` gives, for looking at an entity while it is open. None
    /// when there is no such document: unsampled, ended (its document is gone), or a Lambda
    /// facade. Sends nothing and counts nothing.
    pub fn document_now(&self) -> Option<String> {
        if !self.inner.sampled {
            return None;
        }
        let (data, children) = {
            let st = self.inner.state.lock();
            (st.data.as_ref()?.clone(), st.children.clone())
        };
        // Children too large to embed are left out here (fit moves them to its report).
        let (mut datagram, _) = self.in_progress_datagram(data, children, Vec::new());
        // The document is what follows the daemon's header line, in the same buffer.
        let header_end = datagram.iter().position(|b| *b == b'\n')?;
        datagram.drain(..=header_end);
        String::from_utf8(datagram).ok()
    }

    /// `data` as an in-progress document with `children` embedded, written after this
    /// entity's datagram prefix into `out` (the daemon's header line included).
    fn in_progress_datagram(
        &self,
        mut data: Box<EntityData>,
        mut children: Vec<Vec<u8>>,
        mut out: Vec<u8>,
    ) -> (Vec<u8>, json::FitReport) {
        data.end_micros = None;
        self.write_prefix(&mut out);
        let report = json::fit(self.inner.id, &mut data, &mut children, &mut out);
        (out, report)
    }

    /// Sends an in-progress document for this open entity (for long-running work), without
    /// its children. The complete document sent at `end()` replaces it. One per entity
    /// (PROTOCOL.md §1.2: "one or zero in-progress segments"): later calls send nothing. Like
    /// the setters: an ended entity gives `AlreadyEnded`, a Lambda facade (never sent)
    /// `InvalidArgument`, an unsampled one Ok and nothing.
    pub fn send_in_progress(&self) -> Result<(), TraceError> {
        let mut snapshot = None;
        self.with_data(|d| snapshot = Some(Box::new(d.clone())))?;
        let Some(snapshot) = snapshot else {
            return Ok(()); // unsampled
        };
        if std::mem::replace(&mut self.inner.state.lock().in_progress_sent, true) {
            return Ok(()); // sent already
        }
        let shared = self.inner.shared();
        let (datagram, report) =
            self.in_progress_datagram(snapshot, Vec::new(), shared.emitter.take_buffer());
        if report.truncations > 0 {
            Counters::bump(&shared.counters.truncated);
        }
        shared.emitter.emit(datagram);
        Ok(())
    }

    /// Serializes within the bound and hands the result on. When the entity will be sent on
    /// its own (a segment, a child of a facade, of an ended parent or of one already holding
    /// its fill of children) it is written straight into its datagram, not copied into one.
    fn finish(&self, data: &mut EntityData, mut children: Vec<Vec<u8>>) {
        // Found once: a subsegment reaches the recorder through its parents.
        let shared = self.inner.shared();
        let route = self.route(shared);
        // A fragment to embed comes from (and, once its parent copied it, goes back to) this
        // thread's pool; a datagram's buffer from the emitter, which recycles what it sent.
        let mut buf = if route == Route::Embed {
            crate::fragment_pool::take()
        } else {
            let mut buf = shared.emitter.take_buffer();
            self.write_prefix(&mut buf);
            buf
        };
        let report = json::fit(self.inner.id, data, &mut children, &mut buf);
        if children.capacity() > 0 {
            crate::fragment_pool::give_back_list(children);
        }
        if report.truncations > 0 {
            Counters::bump(&shared.counters.truncated);
            self.warn(&format!(
                "{} {:?} was larger than {} bytes: {} value(s) truncated with a \"{}\" marker",
                self.describe(),
                data.name,
                crate::MAX_DOCUMENT_BYTES,
                report.truncations,
                json::TRUNCATED_MARK
            ));
        }
        if !report.streamed.is_empty() {
            self.stream_children(report.streamed);
        }
        match route {
            Route::Embed => self.deliver(buf),
            Route::Streamed => {
                Counters::bump(&shared.counters.streamed);
                shared.emitter.emit(buf);
            }
            Route::OnItsOwn => shared.emitter.emit(buf),
            Route::Now => shared.emitter.emit_now(buf),
        }
    }

    /// Where this entity's document goes, decided before it is serialized. Embedding is
    /// confirmed (or, rarely, turned into streaming) by [`Entity::deliver`] once the size is
    /// known.
    fn route(&self, shared: &Shared) -> Route {
        let Some(parent) = self.inner.parent() else {
            return Route::OnItsOwn;
        };
        if parent.inner.kind == EntityKind::Facade {
            return Route::Now;
        }
        // Deep chains are cut into several documents: receivers (and serde_json's default
        // recursion limit of 128) refuse JSON nested much deeper than this.
        if self.inner.depth % MAX_EMBEDDED_DEPTH == 0 {
            return Route::Streamed;
        }
        let config = &shared.config;
        let st = parent.inner.state.lock();
        if st.ended {
            Route::OnItsOwn
        } else if st.children.len() >= config.max_embedded_children
            || st.children_bytes >= config.max_embedded_bytes
        {
            Route::Streamed
        } else {
            Route::Embed
        }
    }

    /// The opening of a standalone document for a child of this entity (see `child_prefix`).
    fn child_prefix(&self) -> &[u8] {
        self.inner.child_prefix.get_or_init(|| {
            let mut prefix = Vec::with_capacity(128);
            json::write_standalone_prefix(&mut prefix, self.inner.trace_id, self.inner.id);
            prefix.into_boxed_slice()
        })
    }

    /// Writes the frame header and document opening for this entity sent on its own.
    fn write_prefix(&self, out: &mut Vec<u8>) {
        match (&self.inner.kind, self.inner.parent()) {
            (EntityKind::Subsegment, Some(parent)) => out.extend_from_slice(parent.child_prefix()),
            _ => json::write_root_prefix(out, self.inner.trace_id, self.inner.upstream_parent),
        }
    }

    /// Sends children fragments on their own, with this entity as their parent.
    fn stream_children(&self, children: Vec<Vec<u8>>) {
        let shared = &self.inner.shared();
        for child in children {
            Counters::bump(&shared.counters.streamed);
            shared.emitter.emit(self.child_datagram(&child));
            crate::fragment_pool::give_back(child);
        }
    }

    /// A datagram for a closed child's fragment sent on its own, in a recycled buffer.
    fn child_datagram(&self, fragment: &[u8]) -> Vec<u8> {
        let prefix = self.child_prefix();
        let mut out = self.inner.shared().emitter.take_buffer();
        out.reserve(prefix.len() + fragment.len());
        out.extend_from_slice(prefix);
        out.extend_from_slice(&fragment[1..]);
        out
    }

    /// The datagram for this entity's own fragment sent as a document.
    fn datagram(&self, fragment: &[u8]) -> Vec<u8> {
        match (&self.inner.kind, self.inner.parent()) {
            (EntityKind::Subsegment, Some(parent)) => parent.child_datagram(fragment),
            _ => json::root_segment(self.inner.trace_id, self.inner.upstream_parent, fragment),
        }
    }

    /// Embeds the closed fragment in its open parent, or sends it (see module docs).
    fn deliver(&self, fragment: Vec<u8>) {
        let shared = &self.inner.shared();
        let Some(parent) = self.inner.parent() else {
            shared.emitter.emit(self.datagram(&fragment));
            crate::fragment_pool::give_back(fragment);
            return;
        };
        let mut st = parent.inner.state.lock();
        let full = st.children.len() >= shared.config.max_embedded_children
            || st.children_bytes + fragment.len() > shared.config.max_embedded_bytes;
        if st.ended || full {
            drop(st);
            if full {
                Counters::bump(&shared.counters.streamed);
            }
            shared.emitter.emit(self.datagram(&fragment));
            crate::fragment_pool::give_back(fragment);
            return;
        }
        if st.children.capacity() == 0 {
            st.children = crate::fragment_pool::take_list();
        }
        st.children_bytes += fragment.len();
        st.children.push(fragment);
        let newly_listed = !st.listed;
        st.listed = true;
        drop(st);
        if newly_listed {
            shared.list_parent(Arc::downgrade(&parent.inner));
        }
    }

    /// Streams the closed children this open entity holds (flush). Returns how many.
    pub(crate) fn stream_pending(inner: &Arc<Inner>) -> usize {
        let children = {
            let mut st = inner.state.lock();
            st.listed = false;
            if st.ended {
                return 0;
            }
            st.children_bytes = 0;
            std::mem::take(&mut st.children)
        };
        let n = children.len();
        Entity {
            inner: Arc::clone(inner),
        }
        .stream_children(children);
        n
    }
}

impl Drop for Inner {
    /// An entity dropped without `end()` is sent as in-progress, with the children it held:
    /// completed work is never lost because a handle was abandoned.
    fn drop(&mut self) {
        let st = self.state.get_mut();
        if st.ended {
            return;
        }
        let children = std::mem::take(&mut st.children);
        let data = st.data.take();
        if data.is_none() && children.is_empty() {
            return;
        }
        for child in &children {
            Counters::bump(&self.shared().counters.streamed);
            self.shared()
                .emitter
                .emit(json::standalone_subsegment(self.trace_id, self.id, child));
        }
        if let Some(mut data) = data {
            data.end_micros = None;
            let mut buf = Vec::new();
            json::fit(self.id, &mut data, &mut Vec::new(), &mut buf);
            let datagram = match (&self.kind, self.parent()) {
                (EntityKind::Subsegment, Some(parent)) => {
                    json::standalone_subsegment(self.trace_id, parent.id(), &buf)
                }
                _ => json::root_segment(self.trace_id, self.upstream_parent, &buf),
            };
            self.shared().emitter.emit(datagram);
        }
    }
}

/// The sanitized entity name; a warning is logged and counted when it had to change. The
/// recorder is asked for only then (a subsegment reaches it through its parents).
pub(crate) fn clean_name<'a, 's>(
    shared: impl FnOnce() -> &'s Shared,
    name: &'a str,
) -> std::borrow::Cow<'a, str> {
    let (clean, changed) = sanitize::entity_name(name);
    if changed {
        shared().warn(&format!(
            "entity name {:?} was changed to {clean:?} (allowed: letters, digits, spaces and _.:/%&#=+-@; at most 200 characters)",
            sanitize::truncate_chars(name, 64).0
        ));
    }
    clean
}
