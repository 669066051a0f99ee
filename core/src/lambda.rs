//! Lambda: detection and the per-invocation trace header.
//!
//! In Lambda the function segment is recorded by Lambda itself; the SDK only sees its id in the
//! `Parent` of the invocation's trace header. oxray builds a *facade* from that header (see
//! [`crate::Recorder::lambda_facade`]): never sent, it parents the invocation's subsegments,
//! which are sent as standalone documents. The header is passed explicitly per invocation
//! (the way to go with concurrent invocations) or read from `_X_AMZN_TRACE_ID`.

use crate::header::{HeaderError, Sampled, TraceHeader};
use crate::id::{EntityId, TraceId};

/// Environment variable Lambda sets before each invocation.
pub const TRACE_ID_ENV: &str = "_X_AMZN_TRACE_ID";

/// True when running in Lambda (`LAMBDA_TASK_ROOT` is set).
pub fn in_lambda() -> bool {
    std::env::var_os("LAMBDA_TASK_ROOT").is_some()
}

/// The invocation's trace header from the environment, if set.
pub fn header_from_env() -> Option<String> {
    std::env::var(TRACE_ID_ENV).ok().filter(|s| !s.is_empty())
}

/// What a facade is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacadeContext {
    pub trace_id: TraceId,
    /// The function segment's id (the header's `Parent`).
    pub id: EntityId,
    pub sampled: bool,
    pub header: TraceHeader,
}

/// Why no traced facade could be made for an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FacadeError {
    /// No header was passed and `_X_AMZN_TRACE_ID` is not set.
    NoHeader,
    /// The header did not parse.
    Malformed(HeaderError),
    /// The header lacks `Root` or `Parent` (a header with only `Root` is Lambda's
    /// pass-through case): nothing is traced. `root` is the header's `Root`, if it has one:
    /// the facade keeps it, so calls made downstream carry this trace's id (with `Sampled=0`).
    Incomplete { root: Option<TraceId> },
}

impl std::fmt::Display for FacadeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FacadeError::NoHeader => write!(
                f,
                "no trace header for this invocation ({TRACE_ID_ENV} is not set)"
            ),
            FacadeError::Malformed(e) => write!(f, "invocation trace header is malformed: {e}"),
            FacadeError::Incomplete { .. } => f.write_str(
                "invocation trace header has no Root or no Parent; not tracing this invocation",
            ),
        }
    }
}

/// Parses an invocation header into facade parts. A missing `Sampled` or `Sampled=?` counts
/// as not sampled: Lambda always decides, so an undecided header means tracing is off.
pub fn facade_context(header_text: &str) -> Result<FacadeContext, FacadeError> {
    let header = TraceHeader::parse(header_text).map_err(FacadeError::Malformed)?;
    match (header.root, header.parent) {
        (Some(trace_id), Some(id)) => Ok(FacadeContext {
            trace_id,
            id,
            sampled: header.sampled == Some(Sampled::Yes),
            header,
        }),
        (root, _) => Err(FacadeError::Incomplete { root }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facade_from_a_lambda_header() {
        let f = facade_context(
            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
        )
        .unwrap();
        assert!(f.sampled);
        assert_eq!(f.id.to_string(), "9a9197af755a6419");
        assert_eq!(
            facade_context("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700"),
            Err(FacadeError::Incomplete {
                root: Some(TraceId::parse("1-5bef4de7-ad49b0e87f6ef6c87fc2e700").unwrap())
            })
        );
        assert_eq!(
            facade_context("Parent=9a9197af755a6419;Sampled=1"),
            Err(FacadeError::Incomplete { root: None })
        );
        assert!(matches!(
            facade_context("junk"),
            Err(FacadeError::Malformed(_))
        ));
        let unsampled = facade_context(
            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=0",
        )
        .unwrap();
        assert!(!unsampled.sampled);
    }
}
