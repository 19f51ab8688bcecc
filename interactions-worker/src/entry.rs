//! `POST /interactions` as `entry/index.mjs` drives it: three synchronous
//! calls instead of one async export.
//!
//! Every signed PING pays for the glue between JavaScript and wasm in CPU
//! time, and the async kind is the expensive kind: `future_to_promise` for
//! the export, and a `JsFuture` (two closures registered for finalization, a
//! microtask per wake-up) for each await inside (see `bench/README.md`). So
//! the entry module does the two awaits a request needs — reading the body
//! and `crypto.subtle.verify` — and calls into Rust between them, where every
//! decision is made:
//!
//! 1. [`interaction_check`]: the configuration, the headers (missing, length,
//!    hex) and what to verify; or the refusal.
//! 2. [`interaction_key`]: the application key's `CryptoKey`, imported once
//!    per isolate (the entry keeps it).
//! 3. [`interaction_verified`]: the verdict and the answer — a PONG or a
//!    refusal at once, or a promise for everything that needs the database,
//!    Discord or Gemini (the only path that enters async Rust).
//!
//! The application ([`App::triage`], [`App::act`]) is the same one the native
//! tests drive through [`App::interaction`].

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use worker::{Context, Env, js_sys, wasm_bindgen_futures, web_sys, worker_sys};

use crate::app::{App, Rejection, Triage};
use crate::verify::{self, SIGNATURE_LENGTH, Verifier, VerifyError};
use crate::{WorkerSleep, application, misconfigured, now, reject, respond};

fn to_js(response: worker::Result<web_sys::Response>) -> JsValue {
    match response {
        Ok(response) => response.into(),
        Err(err) => JsValue::from(err),
    }
}

fn app_or_response(env: &Env) -> Result<Rc<App<WorkerSleep>>, JsValue> {
    application(env).map_err(|err| to_js(misconfigured(&err)))
}

fn rejection(err: &VerifyError) -> Rejection {
    if err.is_senders_fault() {
        Rejection::Unauthorized(err.to_string())
    } else {
        Rejection::Unavailable(err.to_string())
    }
}

/// Step 1: returns a `Uint8Array` holding the signature's
/// [`SIGNATURE_LENGTH`] bytes and then the signed message (timestamp, body),
/// or the `Response` that ends the request: 401 for missing or malformed
/// headers, 503 when the worker is misconfigured.
#[wasm_bindgen]
pub fn interaction_check(
    env: &Env,
    signature: Option<String>,
    timestamp: Option<String>,
    body: &[u8],
) -> JsValue {
    if let Err(response) = app_or_response(env) {
        return response;
    }
    match verify::check_headers(signature.as_deref(), timestamp.as_deref()) {
        Ok((signature, timestamp)) => {
            let parts = verify::signature_then_message(&signature, timestamp, body);
            debug_assert!(parts.len() >= SIGNATURE_LENGTH);
            js_sys::Uint8Array::from(&parts[..]).into()
        }
        Err(err) => to_js(reject(&rejection(&VerifyError::Refused(err)))),
    }
}

/// Step 2: a promise of the application key as a `CryptoKey`. Called once per
/// isolate; a rejection reaches step 3 as the verdict (a 503).
#[wasm_bindgen]
pub fn interaction_key(env: &Env) -> Result<js_sys::Promise, JsValue> {
    let app = application(env).map_err(|err| JsValue::from_str(&err.to_string()))?;
    match &app.verifier {
        Verifier::WebCrypto(key) => key
            .import()
            .map_err(|err| JsValue::from_str(&err.to_string())),
        Verifier::Dalek(_) => Err(JsValue::from_str(
            "the worker verifies with WebCrypto; no key to import",
        )),
    }
}

/// Step 3: `settled` is what `crypto.subtle.verify` settled with (`true`,
/// `false`, or the exception). Returns the `Response`, or a promise of it
/// when the interaction needs I/O; deferred work goes to `ctx.waitUntil`.
#[wasm_bindgen]
pub fn interaction_verified(
    env: &Env,
    ctx: worker_sys::Context,
    settled: JsValue,
    body: &[u8],
) -> JsValue {
    let app = match app_or_response(env) {
        Ok(app) => app,
        Err(response) => return response,
    };
    if let Err(err) = verify::web_crypto::outcome(settled) {
        return to_js(reject(&rejection(&err)));
    }
    let ctx = Context::new(ctx);
    match app.triage(body, now()) {
        Err(refused) => to_js(reject(&refused)),
        // Deferrals too: their work goes to `ctx.waitUntil`.
        Ok(Triage::Answer(reply)) => to_js(respond(Ok(reply), &ctx)),
        Ok(Triage::Act(interaction, pending)) => {
            let answer = async move {
                let reply = app.act(*interaction, pending, now()).await;
                respond(Ok(reply), &ctx)
                    .map(JsValue::from)
                    .map_err(JsValue::from)
            };
            wasm_bindgen_futures::future_to_promise(answer).into()
        }
    }
}
