//! What a stand-in received, kept in order so tests can assert on the exact
//! requests the code under test sent.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One request as a stand-in received it (control requests under
/// `/_stand_in/` are not recorded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Upper-case, e.g. `POST`.
    pub method: String,
    /// The whole path, e.g. `/api/v10/channels/123/messages`.
    pub path: String,
    /// The raw query string without `?`, empty when there was none.
    pub query: String,
    /// Header names lower-cased; repeated headers joined with `, `. Nothing is
    /// redacted: tests assert on tokens and keys.
    pub headers: BTreeMap<String, String>,
    /// The body parsed as JSON when it is JSON, else the body as a string;
    /// `null` when the body was empty.
    pub body: Value,
    /// RFC 3339, UTC.
    pub received_at: String,
}

impl RecordedRequest {
    /// A header by name, in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The first value of a query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    pub(crate) fn new(
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Self {
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.unwrap_or_default().to_owned(),
            headers: header_map(headers),
            body: body_value(body),
            received_at: crate::clock::rfc3339_now(),
        }
    }
}

fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        map.entry(name.as_str().to_owned())
            .and_modify(|existing| {
                existing.push_str(", ");
                existing.push_str(&value);
            })
            .or_insert(value);
    }
    map
}

fn body_value(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn keeps_json_bodies_as_json_and_others_as_text() {
        assert_eq!(body_value(br#"{"a":1}"#), serde_json::json!({"a": 1}));
        assert_eq!(body_value(b"a=1&b=2"), Value::String("a=1&b=2".into()));
        assert_eq!(body_value(b""), Value::Null);
    }

    #[test]
    fn joins_repeated_headers_under_lower_case_names() {
        let mut headers = HeaderMap::new();
        headers.append("X-Thing", HeaderValue::from_static("one"));
        headers.append("x-thing", HeaderValue::from_static("two"));
        headers.append("Authorization", HeaderValue::from_static("Bot abc"));
        let recorded = RecordedRequest::new("GET", "/p", Some("a=1&b=x%20y"), &headers, b"");
        assert_eq!(recorded.header("X-THING"), Some("one, two"));
        assert_eq!(recorded.header("authorization"), Some("Bot abc"));
        assert_eq!(recorded.query_param("b").as_deref(), Some("x y"));
        assert_eq!(recorded.query_param("c"), None);
    }
}
