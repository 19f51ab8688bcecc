//! One HTTP exchange, as data: a [`Request`] in, a [`Response`] (or a
//! [`FetchError`]) out, sent by a [`Client`].
//!
//! Natively the client is reqwest's. In a worker (wasm32) it is the
//! runtime's own `fetch`, reached in one of two ways (see the README):
//!
//! - **Driven**: work handed to [`spawn`] runs on a small executor whose
//!   JavaScript half awaits each request (and each [`sleep`]) itself and
//!   hands the result back in one call. No Rust future waits on a JS promise,
//!   so none of wasm-bindgen's per-await glue runs (two closures, a waker, a
//!   microtask and a task per awaited promise).
//! - **Direct**: anywhere else, one `JsFuture` per exchange.
//!
//! Either way a request's time limit goes with the request (an
//! `AbortController` whose timer is cleared once the answer is in), not a
//! timer raced against it in Rust.

use std::time::Duration;

/// One request, whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Give up when the response (body included) has not arrived in time.
    pub timeout: Option<Duration>,
    /// A 2xx answer's body is not wanted (see
    /// [`discard_success_body`](Self::discard_success_body)).
    pub discard_success_body: bool,
}

impl Request {
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout: None,
            discard_success_body: false,
        }
    }

    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A JSON body, and its content type.
    pub fn json<T: serde::Serialize + ?Sized>(self, body: &T) -> Result<Self, serde_json::Error> {
        let body = serde_json::to_vec(body)?;
        Ok(self.body(body).header("content-type", "application/json"))
    }

    #[must_use]
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }

    #[must_use]
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// For a call whose success says all there is to know (an edit, a
    /// delete): a 2xx answer's body is not read, and the [`Response`]'s body
    /// is empty. Any other answer is read whole, for its error. In a worker
    /// the unread body is cancelled, as workerd asks of a body no one reads
    /// (an unread one holds its connection until it is collected). A
    /// cancelled body closes its connection, so this is for answers that are
    /// large or end a conversation, not small ones the next call could reuse
    /// the connection after.
    #[must_use]
    pub fn discard_success_body(mut self) -> Self {
        self.discard_success_body = true;
        self
    }

    /// A header with a line break could not be sent (and would break
    /// [`header_lines`](Self::header_lines)): refused by name.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    fn check_headers(&self) -> Result<(), FetchError> {
        let breaks = |text: &str| text.contains(['\r', '\n']);
        match self
            .headers
            .iter()
            .find(|(name, value)| breaks(name) || name.contains(':') || breaks(value))
        {
            Some((name, _)) => Err(FetchError::Failed(format!(
                "header {name:?} has a line break or its name a colon"
            ))),
            None => Ok(()),
        }
    }

    /// The headers as `name:value` lines: how they cross into JavaScript in
    /// one string rather than one call each.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    fn header_lines(&self) -> String {
        let mut lines = String::new();
        for (name, value) in &self.headers {
            if !lines.is_empty() {
                lines.push('\n');
            }
            lines.push_str(name);
            lines.push(':');
            lines.push_str(value);
        }
        lines
    }
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The request's [`timeout`](Request::timeout) passed first.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// No answer at all (a refused connection, a reset, an unreadable body,
    /// a header the runtime would not send), with what the runtime said.
    #[error("fetch failed: {0}")]
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_cross_as_lines_and_line_breaks_are_refused() {
        let request = Request::new("POST", "http://127.0.0.1/x")
            .header("authorization", "Bot a:b")
            .header("user-agent", "x");
        assert_eq!(
            request.header_lines(),
            "authorization:Bot a:b\nuser-agent:x"
        );
        assert_eq!(request.check_headers(), Ok(()));
        for (name, value) in [("x-a", "1\r\nx-b: 2"), ("x-a\n", "1"), ("x:a", "1")] {
            let bad = Request::new("GET", "http://127.0.0.1/").header(name, value);
            assert!(bad.check_headers().is_err(), "{name:?}: {value:?}");
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use native::{Client, Response};
#[cfg(target_arch = "wasm32")]
pub use wasm::{Client, Drive, Response, js_error_message, sleep, spawn, undriven};

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use super::{FetchError, Request};

    /// reqwest's client. Built without a TLS crypto provider of its own
    /// (the relay and xtask enable `rustls-no-provider`, and features unify
    /// across the workspace), so the process-wide default is set to ring —
    /// the one twilight's gateway uses — unless something set one already.
    #[derive(Debug, Clone)]
    pub struct Client(reqwest::Client);

    impl Default for Client {
        fn default() -> Self {
            Self::new()
        }
    }

    /// A whole response: status, headers, body.
    #[derive(Debug)]
    pub struct Response {
        pub status: u16,
        pub body: Vec<u8>,
        headers: reqwest::header::HeaderMap,
    }

    impl Response {
        /// A response header, by case-insensitive name.
        pub fn header(&self, name: &str) -> Option<String> {
            self.headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        }
    }

    impl Client {
        pub fn new() -> Self {
            let _ = rustls::crypto::ring::default_provider().install_default();
            Self(reqwest::Client::new())
        }

        /// Sends `request` and reads the whole response (its body empty for
        /// a 2xx when the request
        /// [discards](Request::discard_success_body) it).
        pub async fn send(&self, request: &Request) -> Result<Response, FetchError> {
            let method = reqwest::Method::from_bytes(request.method.as_bytes())
                .map_err(|err| FetchError::Failed(err.to_string()))?;
            let mut builder = self.0.request(method, &request.url);
            for (name, value) in &request.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            if let Some(body) = &request.body {
                // reqwest takes its body by value.
                builder = builder.body(body.clone());
            }
            if let Some(limit) = request.timeout {
                builder = builder.timeout(limit);
            }
            let failed = |err: reqwest::Error| match request.timeout {
                Some(limit) if err.is_timeout() => FetchError::Timeout(limit),
                _ => FetchError::Failed(community_core::error_chain(&err)),
            };
            let response = builder.send().await.map_err(failed)?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            // Read even when discarded, so the connection goes back to the pool.
            let body = response.bytes().await.map_err(failed)?;
            let discard = request.discard_success_body && (200..300).contains(&status);
            let body = if discard { Vec::new() } else { body.to_vec() };
            Ok(Response {
                status,
                body,
                headers,
            })
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use std::cell::{Cell, RefCell};
    use std::future::Future;
    use std::pin::Pin;
    use std::rc::Rc;
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    use js_sys::{Promise, Uint8Array};
    use wasm_bindgen::prelude::wasm_bindgen;
    use wasm_bindgen::{JsCast as _, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::Headers;

    use super::{FetchError, Request};

    #[wasm_bindgen(inline_js = r#"
        const NOTHING = new Uint8Array(0);

        // One exchange: `fetch`, then the whole body (or, with `discardOk`,
        // a 2xx answer's body cancelled unread). Resolves to
        // `[status, headers, Uint8Array]`.
        export function exchange(method, url, lines, body, timeout, discardOk) {
          const headers = [];
          if (lines.length > 0) {
            for (const line of lines.split('\n')) {
              const colon = line.indexOf(':');
              headers.push([line.slice(0, colon), line.slice(colon + 1)]);
            }
          }
          const init = { method, headers };
          // `body` views wasm memory, which the work reuses once the answer
          // is in: the request gets its own copy.
          if (body !== undefined) init.body = body.slice();
          const whole = (r) => {
            if (discardOk && r.ok) {
              if (r.body !== null) r.body.cancel().catch(() => {});
              return [r.status, r.headers, NOTHING];
            }
            return r.arrayBuffer().then((b) => [r.status, r.headers, new Uint8Array(b)]);
          };
          if (timeout === 0) {
            return fetch(url, init).then(whole);
          }
          // A timer cleared once the answer is in, rather than
          // `AbortSignal.timeout`, whose timer outlives the exchange.
          const controller = new AbortController();
          init.signal = controller.signal;
          const timer = setTimeout(
            () => controller.abort(new DOMException('no answer in time', 'TimeoutError')),
            timeout,
          );
          return fetch(url, init).then(whole).finally(() => clearTimeout(timer));
        }

        export function after(ms) {
          return new Promise((resolve) => setTimeout(resolve, ms));
        }

        // The executor's JavaScript half: await what the work asks for,
        // hand back what it settled with, until the work is done. It starts
        // on a later turn of the event loop, not during the call: whoever
        // spawns it is answering a request, and that answer goes out first.
        export async function drive(work) {
          await after(0);
          try {
            for (let asked = work.step(); asked !== undefined; asked = work.step()) {
              let settled;
              let failed = false;
              try {
                settled = await asked;
              } catch (error) {
                settled = error;
                failed = true;
              }
              work.settle(settled, failed);
            }
          } finally {
            work.free();
          }
        }
    "#)]
    extern "C" {
        fn exchange(
            method: &str,
            url: &str,
            lines: &str,
            body: Option<&[u8]>,
            timeout: u32,
            discard_ok: bool,
        ) -> Promise;
        fn after(ms: u32) -> Promise;
        fn drive(work: Drive) -> Promise;
    }

    /// The runtime's `fetch`. Stateless: every worker request may use it.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Client;

    /// A whole response: status, headers (read on demand), body.
    #[derive(Debug)]
    pub struct Response {
        pub status: u16,
        pub body: Vec<u8>,
        headers: Headers,
    }

    impl Response {
        /// A response header, by case-insensitive name.
        pub fn header(&self, name: &str) -> Option<String> {
            self.headers.get(name).ok().flatten()
        }
    }

    /// What a JS exception says: an `Error`'s message, a thrown string, or
    /// whatever the value prints as.
    pub fn js_error_message(err: &JsValue) -> String {
        err.dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .or_else(|| err.as_string())
            .unwrap_or_else(|| format!("{err:?}"))
    }

    /// For `setTimeout`, which fires at once past 2^31 - 1 ms.
    fn millis(duration: Duration) -> u32 {
        u32::try_from(duration.as_millis())
            .unwrap_or(u32::MAX)
            .clamp(1, 2_147_483_647)
    }

    fn start(request: &Request) -> Promise {
        exchange(
            &request.method,
            &request.url,
            &request.header_lines(),
            request.body.as_deref(),
            request.timeout.map_or(0, millis),
            request.discard_success_body,
        )
    }

    /// What an exchange's promise settled with: `[status, headers, body]`,
    /// or the exception.
    fn read(
        settled: Result<JsValue, JsValue>,
        timeout: Option<Duration>,
    ) -> Result<Response, FetchError> {
        let whole: js_sys::Array = match settled {
            Ok(whole) => whole.unchecked_into(),
            Err(err) => {
                // The time limit aborts with a `TimeoutError` DOMException.
                let timed_out = js_sys::Reflect::get(&err, &JsValue::from_str("name"))
                    .ok()
                    .and_then(|name| name.as_string())
                    .is_some_and(|name| name == "TimeoutError");
                return Err(match timeout {
                    Some(limit) if timed_out => FetchError::Timeout(limit),
                    _ => FetchError::Failed(js_error_message(&err)),
                });
            }
        };
        let status = whole.get(0).as_f64().unwrap_or_default() as u16;
        let headers: Headers = whole.get(1).unchecked_into();
        let body: Uint8Array = whole.get(2).unchecked_into();
        Ok(Response {
            status,
            body: body.to_vec(),
            headers,
        })
    }

    impl Client {
        pub fn new() -> Self {
            Self
        }

        /// Sends `request` and reads the whole response (its body empty for
        /// a 2xx when the request
        /// [discards](Request::discard_success_body) it).
        pub async fn send(&self, request: &Request) -> Result<Response, FetchError> {
            request.check_headers()?;
            read(wait(start(request)).await, request.timeout)
        }
    }

    /// Waits `duration` (at least a millisecond).
    pub async fn sleep(duration: Duration) {
        let _ = wait(after(millis(duration))).await;
    }

    /// Awaits `promise`: through the executor's JavaScript half when a
    /// [`Drive`] can take it, else as a `JsFuture`.
    async fn wait(promise: Promise) -> Result<JsValue, JsValue> {
        if Asked::available() {
            Asked::new(promise).await
        } else {
            JsFuture::from(promise).await
        }
    }

    // ------------------------------------------------------------- driven

    /// One promise the work waits for and, once JavaScript has awaited it,
    /// what it settled with.
    struct Slot {
        ask: RefCell<Option<Promise>>,
        settled: RefCell<Option<Result<JsValue, JsValue>>>,
    }

    thread_local! {
        /// Set while a [`Drive`] polls its work.
        static DRIVING: Cell<bool> = const { Cell::new(false) };
        /// The ask made during that poll (one at a time; see [`Asked::new`]).
        static OUTBOX: RefCell<Option<Rc<Slot>>> = const { RefCell::new(None) };
    }

    /// A future settled by the executor's JavaScript half.
    struct Asked(Rc<Slot>);

    impl Asked {
        /// Whether a [`Drive`] is polling and its work has not asked for
        /// anything yet in this poll. Otherwise (two requests at once, as in
        /// a `join`, or no `Drive` at all) a request goes the direct way.
        fn available() -> bool {
            DRIVING.get() && OUTBOX.with(|outbox| outbox.borrow().is_none())
        }

        /// Puts `ask` in the outbox; only when [`available`](Self::available).
        fn new(ask: Promise) -> Self {
            let slot = Rc::new(Slot {
                ask: RefCell::new(Some(ask)),
                settled: RefCell::new(None),
            });
            OUTBOX.with(|outbox| *outbox.borrow_mut() = Some(Rc::clone(&slot)));
            Self(slot)
        }
    }

    impl Future for Asked {
        type Output = Result<JsValue, JsValue>;

        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            match self.0.settled.borrow_mut().take() {
                Some(settled) => Poll::Ready(settled),
                None => Poll::Pending,
            }
        }
    }

    /// `work`, with every wait it makes awaited the plain way (a
    /// `JsFuture`, woken by the runtime) even under a [`Drive`]. A Drive's
    /// JavaScript half awaits one promise per step, so it cannot wake work
    /// that waits on two things at once (a race between a request and a
    /// timer): it would sleep until the one it was handed settles. Work
    /// that asks nothing of the Drive is handed to wasm-bindgen's executor,
    /// which wakes it for whichever settles first.
    pub fn undriven<F: Future>(work: F) -> impl Future<Output = F::Output> {
        let mut work = Box::pin(work);
        std::future::poll_fn(move |cx| {
            let outer = DRIVING.replace(false);
            let polled = work.as_mut().poll(cx);
            DRIVING.set(outer);
            polled
        })
    }

    /// Work run by the executor (see [`spawn`]). Exported for the
    /// executor's JavaScript half only.
    #[wasm_bindgen]
    pub struct Drive {
        work: Option<Pin<Box<dyn Future<Output = ()>>>>,
        waiting: Option<Rc<Slot>>,
    }

    impl std::fmt::Debug for Drive {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Drive")
                .field("done", &self.work.is_none())
                .field("waiting", &self.waiting.is_some())
                .finish()
        }
    }

    #[wasm_bindgen]
    impl Drive {
        /// Runs the work until it waits: returns the promise it waits for
        /// (an exchange, a sleep, or — when it waits on anything else —
        /// the rest of the work, run by wasm-bindgen's own executor), or
        /// `undefined` once it is done.
        pub fn step(&mut self) -> JsValue {
            let Some(work) = self.work.as_mut() else {
                return JsValue::UNDEFINED;
            };
            // Saved and restored, so a `spawn` from inside the work (a
            // nested drive) neither takes this work's ask nor ends its turn.
            let outer_ask = OUTBOX.with(|outbox| outbox.borrow_mut().take());
            let outer_driving = DRIVING.replace(true);
            let polled = work.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            DRIVING.set(outer_driving);
            let asked =
                OUTBOX.with(|outbox| std::mem::replace(&mut *outbox.borrow_mut(), outer_ask));
            if polled.is_ready() {
                self.work = None;
                return JsValue::UNDEFINED;
            }
            let ask = asked.as_ref().and_then(|slot| slot.ask.borrow_mut().take());
            match ask {
                Some(promise) => {
                    self.waiting = asked;
                    promise.into()
                }
                None => {
                    // Waiting on something else: its waker is a no-op, so
                    // hand the rest to an executor with real wakers (its
                    // first poll registers them).
                    let Some(rest) = self.work.take() else {
                        return JsValue::UNDEFINED;
                    };
                    wasm_bindgen_futures::future_to_promise(async move {
                        rest.await;
                        Ok(JsValue::UNDEFINED)
                    })
                    .into()
                }
            }
        }

        /// What the promise [`step`](Self::step) returned settled with:
        /// its value, or (`failed`) what it rejected with.
        pub fn settle(&mut self, settled: JsValue, failed: bool) {
            if let Some(slot) = self.waiting.take() {
                *slot.settled.borrow_mut() = Some(if failed { Err(settled) } else { Ok(settled) });
            }
        }
    }

    /// Runs `work` to the end; the promise settles when it is done (give it
    /// to `ctx.waitUntil`). The work's exchanges and sleeps are awaited in
    /// JavaScript, one call into wasm each. Nothing of it runs before the
    /// caller returns: it starts on a later turn of the event loop, so a
    /// deferral's answer is not held up by the first request of its work.
    pub fn spawn(work: impl Future<Output = ()> + 'static) -> Promise {
        drive(Drive {
            work: Some(Box::pin(work)),
            waiting: None,
        })
    }
}
