//! What can go wrong talking to the database API.
//!
//! Everything here is an internal failure from the user's point of view: the
//! shells log the whole chain and show a generic message.

/// An error from the data layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API could not be reached or the connection failed mid-request.
    #[error("database API unreachable during {call}")]
    Unreachable {
        call: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The API answered with an error status (PostgREST error body when it
    /// sent one: `code`, `message`, `details`, `hint`).
    #[error("database API refused {call}: HTTP {status}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Api {
        call: &'static str,
        status: u16,
        code: Option<String>,
        message: String,
        details: Option<String>,
        hint: Option<String>,
    },

    /// The API answered 2xx with a body that is not what the call returns.
    #[error("database API answered {call} with an unexpected body")]
    Malformed {
        call: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// True when the request may succeed if sent again later (network trouble,
    /// 5xx, 429): callers that must not lose data retry or spool on these.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Api { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Self::Malformed { .. } => false,
        }
    }

    /// The PostgREST / Postgres error code, when the API gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// PostgREST's error body.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct ApiErrorBody {
    pub(crate) code: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) details: Option<serde_json::Value>,
    pub(crate) hint: Option<serde_json::Value>,
}

impl ApiErrorBody {
    pub(crate) fn into_error(self, call: &'static str, status: u16, raw: &str) -> Error {
        let text = |v: Option<serde_json::Value>| match v {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s),
            Some(other) => Some(other.to_string()),
        };
        Error::Api {
            call,
            status,
            code: self.code,
            message: self
                .message
                .unwrap_or_else(|| truncate(raw, 300).to_owned()),
            details: text(self.details),
            hint: text(self.hint),
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgrest_error_body_becomes_a_typed_error() {
        let body: ApiErrorBody = serde_json::from_str(
            r#"{"code":"22023","message":"bad batch","details":null,"hint":"fix it"}"#,
        )
        .expect("valid body");
        let err = body.into_error("ingest_events", 400, "");
        assert_eq!(err.code(), Some("22023"));
        assert!(!err.is_transient());
        assert_eq!(
            err.to_string(),
            "database API refused ingest_events: HTTP 400 (22023): bad batch"
        );
    }

    #[test]
    fn server_errors_and_throttling_are_transient() {
        for (status, transient) in [
            (500, true),
            (503, true),
            (429, true),
            (400, false),
            (404, false),
        ] {
            let err = ApiErrorBody::default().into_error("x", status, "oops");
            assert_eq!(err.is_transient(), transient, "status {status}");
        }
    }

    #[test]
    fn a_non_postgrest_error_body_is_kept_short_and_whole_characters() {
        let raw = "é".repeat(400);
        let Error::Api { message, .. } = ApiErrorBody::default().into_error("x", 502, &raw) else {
            panic!("expected an API error");
        };
        assert!(message.len() <= 300);
        assert!(message.chars().all(|c| c == 'é'));
    }
}
