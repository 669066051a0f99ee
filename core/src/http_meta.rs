//! `put_http_meta(key, value)`: the X-Ray SDKs' way of setting one field of `http.request` or
//! `http.response` at a time, by their key names, keeping the fields set before.

use crate::model::{EntityData, HttpRequest, HttpResponse};
use crate::sanitize;

/// A value given to `put_http_meta`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HttpMetaValue<'a> {
    Text(&'a str),
    Number(i64),
    Flag(bool),
}

/// What one call does, checked before the entity is locked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HttpMetaUpdate {
    Method(String),
    Url(String),
    UserAgent(String),
    ClientIp(String),
    XForwardedFor(bool),
    Traced(bool),
    Status(u16),
    ContentLength(i64),
}

impl HttpMetaUpdate {
    /// The update `key` = `value` asks for on a segment (`segment`) or a subsegment; an error
    /// names what is wrong. Text is cut to 250 characters (the schema's limit), a status or a
    /// length given as text is read as a number, as the SDKs do.
    pub(crate) fn parse(
        key: &str,
        value: HttpMetaValue<'_>,
        segment: bool,
    ) -> Result<HttpMetaUpdate, String> {
        let text = |v: HttpMetaValue<'_>| match v {
            HttpMetaValue::Text(t) => {
                Ok(sanitize::truncate_chars(t, sanitize::MAX_SHORT_FIELD_CHARS)
                    .0
                    .into_owned())
            }
            _ => Err(format!("http {key} must be text")),
        };
        let number = |v: HttpMetaValue<'_>| match v {
            HttpMetaValue::Number(n) => Ok(n),
            HttpMetaValue::Text(t) => t
                .trim()
                .parse::<i64>()
                .map_err(|_| format!("http {key} {t:?} is not a number")),
            HttpMetaValue::Flag(_) => Err(format!("http {key} must be a number")),
        };
        let flag = |v: HttpMetaValue<'_>| match v {
            HttpMetaValue::Flag(b) => Ok(b),
            _ => Err(format!("http {key} must be true or false")),
        };
        Ok(match key {
            "method" => HttpMetaUpdate::Method(text(value)?.to_ascii_uppercase()),
            "url" => HttpMetaUpdate::Url(text(value)?),
            "user_agent" => HttpMetaUpdate::UserAgent(text(value)?),
            "client_ip" => HttpMetaUpdate::ClientIp(text(value)?),
            // Each flag belongs to one kind of entity (PROTOCOL.md §1.10).
            "x_forwarded_for" if segment => HttpMetaUpdate::XForwardedFor(flag(value)?),
            "traced" if !segment => HttpMetaUpdate::Traced(flag(value)?),
            "x_forwarded_for" | "traced" => {
                return Err(format!(
                    "http {key} is for {} only",
                    if segment { "subsegments" } else { "segments" }
                ))
            }
            "status" => {
                let n = number(value)?;
                HttpMetaUpdate::Status(
                    u16::try_from(n)
                        .ok()
                        .filter(|s| (100..=999).contains(s))
                        .ok_or_else(|| format!("http status {n} is not from 100 to 999"))?,
                )
            }
            "content_length" => {
                let n = number(value)?;
                if n < 0 {
                    return Err(format!("http content_length {n} is negative"));
                }
                HttpMetaUpdate::ContentLength(n)
            }
            _ => return Err(format!("http key {key:?} is not one the X-Ray SDKs know")),
        })
    }

    /// Writes the update into `d`, keeping the other fields; a status sets the error, throttle
    /// and fault flags as `http.response` does.
    pub(crate) fn apply(self, d: &mut EntityData) {
        fn request(d: &mut EntityData) -> &mut HttpRequest {
            d.http_request.get_or_insert_with(HttpRequest::default)
        }
        fn response(d: &mut EntityData) -> &mut HttpResponse {
            d.http_response.get_or_insert_with(HttpResponse::default)
        }
        match self {
            HttpMetaUpdate::Method(v) => request(d).method = Some(v),
            HttpMetaUpdate::Url(v) => request(d).url = Some(v),
            HttpMetaUpdate::UserAgent(v) => request(d).user_agent = Some(v),
            HttpMetaUpdate::ClientIp(v) => request(d).client_ip = Some(v),
            HttpMetaUpdate::XForwardedFor(v) => request(d).x_forwarded_for = v,
            HttpMetaUpdate::Traced(v) => request(d).traced = v,
            HttpMetaUpdate::Status(s) => {
                response(d).status = Some(s);
                d.apply_status(s);
            }
            HttpMetaUpdate::ContentLength(n) => response(d).content_length = Some(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_are_checked_by_kind() {
        use HttpMetaValue::{Flag, Number, Text};
        let ok = |k, v, seg| HttpMetaUpdate::parse(k, v, seg).unwrap();
        assert_eq!(
            ok("method", Text("get"), true),
            HttpMetaUpdate::Method("GET".into())
        );
        assert_eq!(
            ok("status", Text(" 503 "), false),
            HttpMetaUpdate::Status(503)
        );
        assert_eq!(
            ok("content_length", Number(7), false),
            HttpMetaUpdate::ContentLength(7)
        );
        assert_eq!(
            ok("x_forwarded_for", Flag(true), true),
            HttpMetaUpdate::XForwardedFor(true)
        );
        assert_eq!(
            ok("traced", Flag(true), false),
            HttpMetaUpdate::Traced(true)
        );
        let url = ok("url", Text(&"u".repeat(300)), false);
        assert!(matches!(url, HttpMetaUpdate::Url(u) if u.len() == 250));
        for (key, value, segment) in [
            ("x_forwarded_for", Flag(true), false),
            ("traced", Flag(true), true),
            ("status", Number(70_000), true),
            ("status", Number(42), true),
            ("status", Text("ok"), true),
            ("status", Flag(true), true),
            ("content_length", Number(-1), true),
            ("url", Number(1), true),
            ("colour", Text("red"), true),
        ] {
            assert!(
                HttpMetaUpdate::parse(key, value, segment).is_err(),
                "{key} {value:?}"
            );
        }
    }
}
