//! Parsers exposed for tooling and for the shared test vectors (`tests/vectors/`).

use napi_derive::napi;
use oxray_core::header::{HeaderError, Sampled};
use oxray_core::{DaemonAddress, TraceHeader};

/// A parsed `X-Amzn-Trace-Id`, or why it was refused (`error` is then set).
#[napi(object)]
pub struct ParsedTraceHeader {
    pub valid: bool,
    /// `empty`, `too_long`, `missing_equals`, `invalid_root`, `invalid_parent`, `invalid_sampled`,
    /// `invalid_character`.
    pub error: Option<String>,
    pub message: Option<String>,
    pub root: Option<String>,
    pub parent: Option<String>,
    /// `1`, `0` or `?`.
    pub sampled: Option<String>,
    pub lineage: Option<String>,
    pub extras: Vec<Vec<String>>,
    /// The header as oxray re-emits it (`Self` dropped).
    pub formatted: Option<String>,
}

fn error_kind(e: &HeaderError) -> &'static str {
    match e {
        HeaderError::Empty => "empty",
        HeaderError::TooLong(_) => "too_long",
        HeaderError::MissingEquals(_) => "missing_equals",
        HeaderError::InvalidRoot(_) => "invalid_root",
        HeaderError::InvalidParent(_) => "invalid_parent",
        HeaderError::InvalidSampled(_) => "invalid_sampled",
        HeaderError::InvalidCharacter(_) => "invalid_character",
    }
}

/// Parses an `X-Amzn-Trace-Id` value. Never throws.
#[napi]
pub fn parse_trace_header(text: String) -> ParsedTraceHeader {
    match TraceHeader::parse(&text) {
        Ok(h) => ParsedTraceHeader {
            valid: true,
            error: None,
            message: None,
            root: h.root.map(|r| r.to_string()),
            parent: h.parent.map(|p| p.to_string()),
            sampled: h.sampled.map(|s| {
                match s {
                    Sampled::Yes => "1",
                    Sampled::No => "0",
                    Sampled::Requested => "?",
                }
                .to_string()
            }),
            lineage: h.lineage.clone(),
            extras: h
                .extras
                .iter()
                .map(|(k, v)| vec![k.clone(), v.clone()])
                .collect(),
            formatted: Some(h.to_string()),
        },
        Err(e) => ParsedTraceHeader {
            valid: false,
            error: Some(error_kind(&e).to_string()),
            message: Some(e.to_string()),
            root: None,
            parent: None,
            sampled: None,
            lineage: None,
            extras: Vec::new(),
            formatted: None,
        },
    }
}

/// A parsed `AWS_XRAY_DAEMON_ADDRESS`, or why it was refused.
#[napi(object)]
pub struct ParsedDaemonAddress {
    pub valid: bool,
    pub udp: Option<String>,
    pub tcp: Option<String>,
    pub message: Option<String>,
}

/// Parses a daemon address (`host:port` or `tcp:h:p udp:h:p`). Never throws.
#[napi]
pub fn parse_daemon_address(text: String) -> ParsedDaemonAddress {
    match DaemonAddress::parse(&text) {
        Ok(d) => ParsedDaemonAddress {
            valid: true,
            udp: Some(d.udp.to_string()),
            tcp: Some(d.tcp.to_string()),
            message: None,
        },
        Err(e) => ParsedDaemonAddress {
            valid: false,
            udp: None,
            tcp: None,
            message: Some(e.to_string()),
        },
    }
}
