//! The daemon frame check (PROTOCOL.md §2.1): a datagram is a JSON header, a newline, and one
//! document. The header passes when it is valid JSON whose `format` equals `json` (any case)
//! and whose `version` is the integer 1, exactly as the X-Ray daemon and the OpenTelemetry
//! awsxray receiver decide; whitespace inside the header does not matter.

use serde_json::Value;

/// Why a datagram's frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The datagram was empty.
    Empty,
    /// No newline: header and document cannot be told apart.
    MissingNewline,
    /// Nothing after the header line.
    EmptyBody,
    /// The header is not `{"format":"json","version":1}`; the text says what is wrong.
    BadHeader(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Empty => f.write_str("empty datagram"),
            FrameError::MissingNewline => f.write_str(
                "missing header or segment: no newline after the {\"format\":\"json\",\"version\":1} header",
            ),
            FrameError::EmptyBody => f.write_str("missing segment: nothing after the header line"),
            FrameError::BadHeader(why) => write!(f, "invalid header: {why}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// The exact header every oxray emitter writes: checked first, without JSON parsing.
const CANONICAL: &[u8] = b"{\"format\":\"json\",\"version\":1}";

/// Splits a datagram at its first newline and checks the header; returns the document bytes.
pub fn split(datagram: &[u8]) -> Result<&[u8], FrameError> {
    if datagram.is_empty() {
        return Err(FrameError::Empty);
    }
    let newline = datagram
        .iter()
        .position(|b| *b == b'\n')
        .ok_or(FrameError::MissingNewline)?;
    let (header, body) = (&datagram[..newline], &datagram[newline + 1..]);
    if header != CANONICAL {
        check_header(header)?;
    }
    if body.is_empty() {
        return Err(FrameError::EmptyBody);
    }
    Ok(body)
}

fn check_header(header: &[u8]) -> Result<(), FrameError> {
    let bad = |why: &str| FrameError::BadHeader(why.to_string());
    let value: Value = serde_json::from_slice(header)
        .map_err(|e| FrameError::BadHeader(format!("not JSON ({e})")))?;
    let obj = value.as_object().ok_or_else(|| bad("not a JSON object"))?;
    // The daemon decodes into a Go struct, whose field matching ignores case; the last
    // duplicate key wins, as in serde_json's map.
    let field = |name: &str| {
        obj.iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .next_back()
    };
    match field("format") {
        Some(Value::String(s)) if s.eq_ignore_ascii_case("json") => {}
        Some(other) => return Err(bad(&format!("format is {other}, expected \"json\""))),
        None => return Err(bad("no \"format\" field")),
    }
    match field("version") {
        Some(v) if v.as_u64() == Some(1) => Ok(()),
        Some(other) => Err(bad(&format!("version is {other}, expected the number 1"))),
        None => Err(bad("no \"version\" field")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_sdks_header_spelling() {
        for header in [
            "{\"format\":\"json\",\"version\":1}",
            "{\"format\": \"json\", \"version\": 1}",
            " { \"version\" : 1 , \"format\" : \"JSON\" } ",
            "{\"Format\":\"json\",\"VERSION\":1}",
            "{\"format\":\"json\",\"version\":1,\"extra\":[1,2]}",
        ] {
            let datagram = format!("{header}\n{{\"a\":1}}");
            assert_eq!(
                split(datagram.as_bytes()),
                Ok(&b"{\"a\":1}"[..]),
                "{header}"
            );
        }
    }

    #[test]
    fn splits_at_the_first_newline_only() {
        let body = split(b"{\"format\":\"json\",\"version\":1}\n{}\n{}").unwrap();
        assert_eq!(body, b"{}\n{}");
    }

    #[test]
    fn refuses_bad_frames_with_a_reason() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty datagram"),
            (b"{\"format\":\"json\",\"version\":1}", "no newline"),
            (b"{\"format\":\"json\",\"version\":1}\n", "nothing after"),
            (
                b"{\"format\":\"json\",\"version\":\"1\"}\n{}",
                "version is \"1\"",
            ),
            (
                b"{\"format\":\"json\",\"version\":1.0}\n{}",
                "version is 1.0",
            ),
            (b"{\"format\":\"json\",\"version\":2}\n{}", "version is 2"),
            (
                b"{\"format\":\"xml\",\"version\":1}\n{}",
                "format is \"xml\"",
            ),
            (b"{\"version\":1}\n{}", "no \"format\""),
            (b"{\"format\":\"json\"}\n{}", "no \"version\""),
            (b"[1]\n{}", "not a JSON object"),
            (b"{\"format\":\"json\",\"version\":1\n{}", "not JSON"),
            (b"{\"format\":\"json\",\"version\":1} x\n{}", "not JSON"),
            (b"\xff\xfe\n{}", "not JSON"),
            (b"\n{}", "not JSON"),
        ];
        for (datagram, expected) in cases {
            let err = split(datagram).expect_err(&String::from_utf8_lossy(datagram));
            assert!(
                err.to_string().contains(expected),
                "{:?}: {err}",
                String::from_utf8_lossy(datagram)
            );
        }
    }
}
