//! oxray-core: the language-neutral heart of oxray.
//!
//! Ids ([`id`]), the `X-Amzn-Trace-Id` header ([`header`]), the segment model ([`model`]),
//! size-bounded compact JSON ([`json`]), emission to the X-Ray daemon ([`emit`]), sampling
//! ([`sampling`]), Lambda detection ([`lambda`]), configuration ([`config`]) and the
//! [`Recorder`] that ties them together. This crate knows nothing of C, Python or Node:
//! bindings are thin glue over [`Recorder`] and [`Entity`].

mod aws_fields;
pub mod config;
pub mod diag;
pub mod document;
pub mod emit;
pub mod entity;
mod entity_lock;
mod fragment_pool;
pub mod header;
pub mod http_meta;
pub mod id;
pub mod json;
pub mod lambda;
pub mod model;
mod name_charset;
mod record_pool;
pub mod recorder;
pub mod recycled;
pub mod request_headers;
pub mod sampling;
pub mod sanitize;
pub mod time;
mod tsc_clock;

pub use config::{Config, ContextMissing, DaemonAddress, EmitMode};
pub use emit::{Counters, CountersSnapshot, Emitter};
pub use entity::{Entity, EntityKind};
pub use header::{Sampled, TraceHeader};
pub use id::{EntityId, TraceId};
pub use model::{
    AnnotationValue, Exception, HttpRequest, IncomingRequest, Namespace, Sql, StackFrame,
};
pub use recorder::Recorder;

/// Largest document (JSON text, without the daemon frame header) oxray ever sends.
pub const MAX_DOCUMENT_BYTES: usize = 64_000;

/// The daemon frame header that precedes every document in a datagram.
pub const DAEMON_HEADER: &[u8] = b"{\"format\":\"json\",\"version\":1}\n";

/// Errors reported to callers. Tracing never panics on bad input: it answers with one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceError {
    /// An argument was malformed; the message says which and why.
    InvalidArgument(String),
    /// The entity was already ended; the call changed nothing.
    AlreadyEnded,
    /// A metadata namespace starting with `AWS.` (reserved for AWS SDKs) was refused.
    ReservedNamespace(String),
    /// Metadata value was not valid JSON.
    InvalidJson(String),
    /// No current entity exists (context missing) and the strategy is RUNTIME_ERROR.
    ContextMissing(String),
}

impl std::fmt::Display for TraceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TraceError::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            TraceError::AlreadyEnded => write!(f, "entity already ended"),
            TraceError::ReservedNamespace(ns) => {
                write!(
                    f,
                    "metadata namespace {ns:?} is reserved for AWS (prefix \"AWS.\")"
                )
            }
            TraceError::InvalidJson(m) => write!(f, "metadata value is not valid JSON: {m}"),
            TraceError::ContextMissing(m) => write!(f, "context missing: {m}"),
        }
    }
}

impl std::error::Error for TraceError {}
