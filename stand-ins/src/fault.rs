//! Scripted failures: the next `times` requests that match get a canned
//! response (after an optional delay) instead of the stand-in's normal one.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A scripted failure, as `POST /_stand_in/faults` takes it:
///
/// ```json
/// { "method": "POST", "path_prefix": "/api/v10/guilds/", "status": 403,
///   "body": {"message": "Missing Permissions", "code": 50013},
///   "headers": {}, "times": 1, "delay_ms": 0 }
/// ```
///
/// Only `status` (or `delay_ms`) is needed: no `method` matches every method,
/// no `path_prefix` every path, `times` defaults to 1. Without `status` the
/// request waits `delay_ms` and is then answered normally, which simulates a
/// slow service (a client with a shorter timeout sees a timeout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    #[serde(default)]
    pub method: Option<String>,
    /// Matched against the whole request path, e.g. `/api/v10/guilds/`.
    #[serde(default)]
    pub path_prefix: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    /// Sent as JSON; no body when absent.
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default = "one")]
    pub times: u32,
    #[serde(default)]
    pub delay_ms: u64,
    /// The stand-in acts on the request first (creates the channel, say)
    /// and only its answer is replaced: a gateway error after the service
    /// did the work, the way a client cannot tell from a failure before it.
    #[serde(default)]
    pub after_acting: bool,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// Answers the next matching request with `status` and the JSON `body`.
    pub fn respond(status: u16, body: Value) -> Self {
        Self {
            method: None,
            path_prefix: None,
            status: Some(status),
            body: Some(body),
            headers: BTreeMap::new(),
            times: 1,
            delay_ms: 0,
            after_acting: false,
        }
    }

    /// Holds the next matching request for `delay`, then answers it normally.
    pub fn delay_only(delay: Duration) -> Self {
        Self {
            method: None,
            path_prefix: None,
            status: None,
            body: None,
            headers: BTreeMap::new(),
            times: 1,
            delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            after_acting: false,
        }
    }

    /// Only requests with this method and a path starting with `path_prefix`.
    pub fn on(mut self, method: &str, path_prefix: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self.path_prefix = Some(path_prefix.to_owned());
        self
    }

    /// Only requests whose path starts with `path_prefix`, any method.
    pub fn on_path(mut self, path_prefix: &str) -> Self {
        self.path_prefix = Some(path_prefix.to_owned());
        self
    }

    /// For the next `times` matching requests instead of one.
    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    /// Waits this long before answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Let the stand-in act on the request, then answer with this fault
    /// instead of its own answer.
    pub fn after_acting(mut self) -> Self {
        self.after_acting = true;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_owned(), value.to_owned());
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|wanted| wanted.eq_ignore_ascii_case(method))
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|prefix| path.starts_with(prefix))
    }
}

/// The faults waiting on one server, first queued first used.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    pending: Vec<Fault>,
}

impl FaultQueue {
    pub(crate) fn push(&mut self, fault: Fault) {
        if fault.times > 0 {
            self.pending.push(fault);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }

    pub(crate) fn pending(&self) -> Vec<Fault> {
        self.pending.clone()
    }

    /// Uses up one of the first matching fault's `times`.
    pub(crate) fn take(&mut self, method: &str, path: &str) -> Option<Fault> {
        let index = self
            .pending
            .iter()
            .position(|fault| fault.matches(method, path))?;
        let fault = &mut self.pending[index];
        fault.times -= 1;
        if fault.times == 0 {
            Some(self.pending.remove(index))
        } else {
            Some(fault.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_fault_is_used_exactly_times_times() {
        let mut queue = FaultQueue::default();
        queue.push(Fault::respond(500, json!({})).times(2));
        assert!(queue.take("GET", "/x").is_some());
        assert!(queue.take("GET", "/x").is_some());
        assert!(queue.take("GET", "/x").is_none());
    }

    #[test]
    fn only_matching_requests_use_a_fault_and_the_oldest_match_goes_first() {
        let mut queue = FaultQueue::default();
        queue.push(Fault::respond(403, json!({"n": 1})).on("post", "/api/v10/guilds/"));
        queue.push(Fault::respond(429, json!({"n": 2})));
        assert_eq!(
            queue
                .take("GET", "/api/v10/guilds/1/channels")
                .and_then(|f| f.status),
            Some(429)
        );
        assert_eq!(
            queue.take("POST", "/api/v10/channels/1").map(|f| f.status),
            None
        );
        assert_eq!(
            queue
                .take("POST", "/api/v10/guilds/1/channels")
                .and_then(|f| f.status),
            Some(403)
        );
    }

    #[test]
    fn reads_the_documented_json_form_with_defaults() {
        let fault: Fault = serde_json::from_value(json!({"status": 503})).expect("parses");
        assert_eq!(fault.times, 1);
        assert_eq!(fault.delay_ms, 0);
        assert_eq!(fault.method, None);
        let full: Fault = serde_json::from_value(json!({
            "method": "POST", "path_prefix": "/api/v10/guilds/", "status": 403,
            "body": {"code": 50013}, "headers": {"x-a": "b"}, "times": 3, "delay_ms": 20
        }))
        .expect("parses");
        assert_eq!(full.headers.get("x-a").map(String::as_str), Some("b"));
        assert_eq!((full.times, full.delay_ms), (3, 20));
    }
}
