//! The `X-Amzn-Trace-Id` header: `Root=…;Parent=…;Sampled=0|1|?;Lineage=…` plus other keys.
//!
//! Parsing is tolerant in the ways the X-Ray SDKs disagree on (PROTOCOL.md §3.2): parts are
//! trimmed, empty parts are skipped, keys match case-insensitively, a value is everything after
//! the first `=`, unknown keys are kept in order. `Self` (added by ALB) is dropped on re-emit.
//! Values that cannot be right (a Root that is not a trace id, a Parent that is not 16 hex, a
//! Sampled other than 0/1/?) are a typed [`HeaderError`], never a panic.
//!
//! Only printable ASCII (and tabs) is accepted. Lineage and unknown keys are passed on to
//! downstream requests verbatim, so a CR/LF or another control character in an incoming header
//! would be written into outgoing HTTP headers (a header injection, or an exception from the
//! HTTP client inside the user's code); the header is refused whole instead, like any other
//! malformed one.

use std::fmt;

use crate::id::{EntityId, IdError, TraceId};

/// Header name as sent on HTTP requests.
pub const HEADER_NAME: &str = "X-Amzn-Trace-Id";

/// Longest header text accepted (the Lambda API's limit for `XAmznTraceId`).
pub const MAX_HEADER_LEN: usize = 8192;

/// The sampling decision carried by a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampled {
    /// `Sampled=1`
    Yes,
    /// `Sampled=0`
    No,
    /// `Sampled=?`: the receiver decides and answers with its decision.
    Requested,
}

impl Sampled {
    fn as_str(self) -> &'static str {
        match self {
            Sampled::Yes => "1",
            Sampled::No => "0",
            Sampled::Requested => "?",
        }
    }

    /// `Sampled::Yes` for true, `Sampled::No` for false.
    pub fn from_bool(sampled: bool) -> Sampled {
        if sampled {
            Sampled::Yes
        } else {
            Sampled::No
        }
    }
}

/// What was wrong with a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Nothing but whitespace and separators.
    Empty,
    /// Longer than [`MAX_HEADER_LEN`] bytes.
    TooLong(usize),
    /// A part with no `=` (the text of the part is given).
    MissingEquals(String),
    /// `Root` is not a valid trace id.
    InvalidRoot(IdError),
    /// `Parent` is not 16 hex digits.
    InvalidParent(IdError),
    /// `Sampled` is not `0`, `1` or `?` (the value is given).
    InvalidSampled(String),
    /// A character that is not printable ASCII or a tab (the first one is given).
    InvalidCharacter(char),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Empty => f.write_str("trace header is empty"),
            HeaderError::TooLong(n) => {
                write!(f, "trace header is {n} bytes, longer than {MAX_HEADER_LEN}")
            }
            HeaderError::MissingEquals(p) => write!(f, "trace header part {p:?} has no '='"),
            HeaderError::InvalidRoot(e) => write!(f, "trace header Root is invalid: {e}"),
            HeaderError::InvalidParent(e) => write!(f, "trace header Parent is invalid: {e}"),
            HeaderError::InvalidSampled(v) => {
                write!(f, "trace header Sampled={v:?} is not 0, 1 or ?")
            }
            HeaderError::InvalidCharacter(c) => write!(
                f,
                "trace header has {c:?}, which is not printable ASCII (nor a tab)"
            ),
        }
    }
}

impl std::error::Error for HeaderError {}

/// Printable ASCII or a tab: what a header value may hold (RFC 9110 field values without
/// `obs-text`, which HTTP clients encode differently or refuse).
fn is_header_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b)
}

/// A parsed trace header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TraceHeader {
    pub root: Option<TraceId>,
    pub parent: Option<EntityId>,
    pub sampled: Option<Sampled>,
    /// Opaque, passed through unchanged.
    pub lineage: Option<String>,
    /// Present on input from ALB; never re-emitted.
    pub self_id: Option<String>,
    /// Other keys with their values, in arrival order.
    pub extras: Vec<(String, String)>,
}

impl TraceHeader {
    /// Parses header text. See the module docs for the tolerance rules.
    pub fn parse(text: &str) -> Result<TraceHeader, HeaderError> {
        if text.len() > MAX_HEADER_LEN {
            return Err(HeaderError::TooLong(text.len()));
        }
        // Leading and trailing whitespace (a line end, say) is trimmed like a part's.
        let inner = text.trim_ascii();
        // Servers parse a header per request: every byte is checked without stopping early
        // (which the compiler turns into a few vector compares), and only a header that
        // fails is searched for its first bad byte. That byte starts a char: every byte
        // before it is ASCII.
        if inner.bytes().fold(false, |bad, b| bad | !is_header_byte(b)) {
            let at = inner.bytes().position(|b| !is_header_byte(b)).unwrap_or(0);
            let c = inner[at..]
                .chars()
                .next()
                .unwrap_or(char::REPLACEMENT_CHARACTER);
            return Err(HeaderError::InvalidCharacter(c));
        }
        let mut header = TraceHeader::default();
        let rest = header.take_canonical_start(text);
        let mut saw_part = rest.len() < text.len();
        for raw in rest.split(';') {
            let part = raw.trim();
            if part.is_empty() {
                continue;
            }
            saw_part = true;
            let (key, value) = match part.split_once('=') {
                Some((k, v)) => (k.trim(), v.trim()),
                None => return Err(HeaderError::MissingEquals(part.to_string())),
            };
            if key.eq_ignore_ascii_case("Root") {
                if header.root.is_none() {
                    header.root = Some(TraceId::parse(value).map_err(HeaderError::InvalidRoot)?);
                }
            } else if key.eq_ignore_ascii_case("Parent") {
                if header.parent.is_none() {
                    header.parent =
                        Some(EntityId::parse(value).map_err(HeaderError::InvalidParent)?);
                }
            } else if key.eq_ignore_ascii_case("Sampled") {
                if header.sampled.is_none() {
                    header.sampled = Some(match value {
                        "1" => Sampled::Yes,
                        "0" => Sampled::No,
                        "?" => Sampled::Requested,
                        other => return Err(HeaderError::InvalidSampled(other.to_string())),
                    });
                }
            } else if key.eq_ignore_ascii_case("Lineage") {
                header.lineage.get_or_insert_with(|| value.to_string());
            } else if key.eq_ignore_ascii_case("Self") {
                header.self_id.get_or_insert_with(|| value.to_string());
            } else {
                header.extras.push((key.to_string(), value.to_string()));
            }
        }
        if !saw_part {
            return Err(HeaderError::Empty);
        }
        Ok(header)
    }

    /// Reads `Root=<id>;Parent=<id>;Sampled=<0|1|?>` at the start of `text` when it is exactly
    /// that (the form every AWS service and SDK sends) and returns what follows; otherwise
    /// returns `text` whole for the general parse. Byte positions instead of splitting and
    /// trimming: servers parse a header per request.
    fn take_canonical_start<'t>(&mut self, text: &'t str) -> &'t str {
        const ROOT: usize = 5; // "Root="
        const PARENT: usize = ROOT + 35 + 8; // ";Parent="
        const SAMPLED: usize = PARENT + 16 + 9; // ";Sampled="
        const END: usize = SAMPLED + 1;
        let b = text.as_bytes();
        if b.len() < END
            || &b[..ROOT] != b"Root="
            || &b[ROOT + 35..PARENT] != b";Parent="
            || &b[PARENT + 16..SAMPLED] != b";Sampled="
            || (b.len() > END && b[END] != b';')
        {
            return text;
        }
        let sampled = match b[SAMPLED] {
            b'1' => Sampled::Yes,
            b'0' => Sampled::No,
            b'?' => Sampled::Requested,
            _ => return text,
        };
        // The separators checked above are ASCII, so these ranges are on char boundaries.
        match (
            TraceId::parse(&text[ROOT..ROOT + 35]),
            EntityId::parse(&text[PARENT..PARENT + 16]),
        ) {
            (Ok(root), Ok(parent)) => {
                self.root = Some(root);
                self.parent = Some(parent);
                self.sampled = Some(sampled);
                &text[END..]
            }
            _ => text,
        }
    }

    /// The header to send downstream from `parent`: Root, Parent, Sampled, Lineage and the
    /// extra keys of this (incoming) header, without `Self`.
    pub fn propagate(&self, root: TraceId, parent: EntityId, sampled: bool) -> TraceHeader {
        TraceHeader {
            root: Some(root),
            parent: Some(parent),
            sampled: Some(Sampled::from_bool(sampled)),
            lineage: self.lineage.clone(),
            self_id: None,
            extras: self.extras.clone(),
        }
    }

    /// The response header a server returns: `Root=…`, plus `;Sampled=<decision>` when the
    /// incoming header asked with `Sampled=?` (PROTOCOL.md §3.1).
    pub fn response(incoming: Option<&TraceHeader>, root: TraceId, sampled: bool) -> String {
        let requested = incoming.and_then(|h| h.sampled) == Some(Sampled::Requested);
        if requested {
            format!(
                "Root={root};Sampled={}",
                Sampled::from_bool(sampled).as_str()
            )
        } else {
            format!("Root={root}")
        }
    }
}

impl fmt::Display for TraceHeader {
    /// Canonical form: Root, Parent, Sampled, Lineage, then extras; `Self` dropped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(root) = &self.root {
            write!(f, "Root={root}")?;
            sep = ";";
        }
        if let Some(parent) = &self.parent {
            write!(f, "{sep}Parent={parent}")?;
            sep = ";";
        }
        if let Some(sampled) = self.sampled {
            write!(f, "{sep}Sampled={}", sampled.as_str())?;
            sep = ";";
        }
        if let Some(lineage) = &self.lineage {
            write!(f, "{sep}Lineage={lineage}")?;
            sep = ";";
        }
        for (k, v) in &self.extras {
            write!(f, "{sep}{k}={v}")?;
            sep = ";";
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let h = TraceHeader::parse(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        )
        .unwrap();
        assert_eq!(
            h.root.unwrap().to_string(),
            "1-5759e988-bd862e3fe1be46a994272793"
        );
        assert_eq!(h.parent.unwrap().to_string(), "53995c3f42cd8ad8");
        assert_eq!(h.sampled, Some(Sampled::Yes));
    }

    #[test]
    fn drops_self_keeps_extras_in_order() {
        let h = TraceHeader::parse(
            "Self=1-67891233-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678;CalledFrom=app;Zed=1",
        )
        .unwrap();
        assert_eq!(
            h.to_string(),
            "Root=1-67891233-abcdef012345678912345678;CalledFrom=app;Zed=1"
        );
    }

    #[test]
    fn never_panics_on_garbage() {
        for s in [
            "",
            ";;",
            "=",
            "Root",
            "Root=",
            "Sampled=2",
            "\u{0}",
            "Parent=é",
        ] {
            let _ = TraceHeader::parse(s);
        }
    }

    #[test]
    fn control_characters_refuse_the_header_and_are_named() {
        let root = "Root=1-5759e988-bd862e3fe1be46a994272793";
        let err = TraceHeader::parse(&format!("{root};App=a\r\nX-Injected: yes")).unwrap_err();
        assert_eq!(err, HeaderError::InvalidCharacter('\r'));
        assert!(err.to_string().contains("'\\r'"), "{err}");
        // Only inside: a line end around the header is trimmed.
        assert!(TraceHeader::parse(&format!("{root};Sampled=1\r\n")).is_ok());
        // A character of several bytes is named whole, and the first bad one is named.
        let err = TraceHeader::parse(&format!("{root};Name=café\x01")).unwrap_err();
        assert_eq!(err, HeaderError::InvalidCharacter('é'));
        let err = TraceHeader::parse(&format!("{root};Name=\x7f;Other=é")).unwrap_err();
        assert_eq!(err, HeaderError::InvalidCharacter('\x7f'));
    }

    #[test]
    fn the_canonical_fast_path_agrees_with_the_general_parse() {
        // A leading space keeps a header off the fast path (which wants exact bytes) without
        // changing its meaning: both parses must give the same header or the same error.
        let root = "Root=1-5759e988-bd862e3fe1be46a994272793";
        let cases = [
            format!("{root};Parent=53995c3f42cd8ad8;Sampled=1"),
            format!("{root};Parent=53995c3f42cd8ad8;Sampled=0"),
            format!("{root};Parent=53995c3f42cd8ad8;Sampled=?"),
            format!("{root};Parent=53995C3F42CD8AD8;Sampled=1"),
            format!("{root};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1;App=x"),
            format!("{root};Parent=53995c3f42cd8ad8;Sampled=1;"),
            format!(
                "{root};Parent=53995c3f42cd8ad8;Sampled=1;Root=1-00000000-000000000000000000000000"
            ),
            format!("{root};Parent=53995c3f42cd8ad8;Sampled=2"),
            format!("{root};Parent=53995c3f42cd8ad8;Sampled=10"),
            format!("{root};Parent=53995c3f42cd8ad8;Sampled=1x"),
            format!("{root};Parent=53995c3f42cd8ad8;Sampled=1;garbage"),
            format!("{root};Parent=53995c3f42cd8adZ;Sampled=1"),
            "Root=1-5759e988-bd862e3fe1be46a99427279Z;Parent=53995c3f42cd8ad8;Sampled=1".into(),
            "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into(),
            "Root=1-5759e988-bd862e3fe1be46a99427279é;Parent=53995c3f42cd8ad8;Sampled=1".into(),
            format!("{root};Parent=53995c3f42cd8ad8"),
            format!("{root};Sampled=1"),
        ];
        for text in &cases {
            let fast = TraceHeader::parse(text);
            let general = TraceHeader::parse(&format!(" {text}"));
            assert_eq!(fast, general, "{text}");
        }
        assert_eq!(
            TraceHeader::parse(&cases[4]).unwrap().lineage.as_deref(),
            Some("a87bd80c:1")
        );
    }
}
