//! Discord's interactions endpoint and the relay's scoring endpoint, as a
//! Cloudflare Worker. This file is the shell: read config, build adapters,
//! call the application, turn its reply into a response. Everything else is
//! platform-free and tested natively.

pub mod app;
pub mod audits;
pub mod config;
#[cfg(target_arch = "wasm32")]
pub mod entry;
pub mod events;
pub mod settings;
pub mod tickets;
pub mod verify;

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use community_clients::gemini::GeminiClient;
use community_clients::{DiscordClient, Sleep};
use community_core::audit::RequestTemplate;
use community_core::config::ConfigError;
use community_store::Store;
use time::OffsetDateTime;
use worker::{Context, Env, Result, event, js_sys, wasm_bindgen_futures, web_sys};

use crate::app::{App, Rejection, Reply};
use crate::config::Config;
use crate::verify::Verifier;

/// Waiting, the Workers way (see `community_fetch::sleep`).
#[derive(Clone, Copy, Debug)]
pub struct WorkerSleep;

impl Sleep for WorkerSleep {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> {
        #[cfg(target_arch = "wasm32")]
        {
            community_fetch::sleep(duration)
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            worker::Delay::from(duration)
        }
    }
}

/// Build the application from a configuration and its adapters.
pub fn build_app<S: Sleep + Clone>(
    config: Config,
    sleep: S,
    console: fn(&str),
) -> std::result::Result<App<S>, ConfigError> {
    let store = Store::new(
        &config.supabase_rest_url,
        config.supabase_service_role_key.expose(),
    )?;
    let (Some(key), Some(application_id), Some(prices)) =
        (config.public_key, config.application_id, config.prices)
    else {
        return Err(ConfigError::single(
            "DISCORD_PUBLIC_KEY, DISCORD_APPLICATION_ID or AI_PRICES",
            "incomplete",
        ));
    };
    Ok(App {
        verifier: Verifier::Dalek(key),
        application_id,
        store,
        discord: DiscordClient::new(&config.discord_api_base, config.bot_token, sleep.clone()),
        gemini: config.gemini_api_key.map(|api_key| {
            GeminiClient::new(&config.gemini_api_base, api_key, &config.gemini_model)
                .with_timeout(config.gemini_timeout)
        }),
        gemini_model: config.gemini_model,
        audit_template: RequestTemplate::new(config.gemini_limits),
        prices,
        relay_secret: config.relay_shared_secret,
        relay_max_skew_secs: config.relay_max_skew_secs,
        console,
        sleep,
        bot_user: std::cell::Cell::new(None),
        answer_within: app::ANSWER_WITHIN,
        slow_after: app::SLOW_AFTER,
    })
}

thread_local! {
    // One application per isolate: the public key is parsed once, not per request.
    static APP: RefCell<Option<Rc<App<WorkerSleep>>>> = const { RefCell::new(None) };
}

fn lookup(env: &Env) -> impl Fn(&str) -> Option<String> + '_ {
    |name: &str| env.var(name).ok().map(|v| v.to_string())
}

pub(crate) fn application(env: &Env) -> std::result::Result<Rc<App<WorkerSleep>>, ConfigError> {
    if let Some(app) = APP.with(|cell| cell.borrow().clone()) {
        return Ok(app);
    }
    let config = Config::read(&lookup(env))?;
    #[cfg_attr(not(target_arch = "wasm32"), allow(unused_mut))]
    let mut app = build_app(config, WorkerSleep, |line| worker::console_log!("{line}"))?;
    // Check signatures with the runtime's native Ed25519, not in wasm.
    #[cfg(target_arch = "wasm32")]
    {
        let key = lookup(env)("DISCORD_PUBLIC_KEY").unwrap_or_default();
        app.verifier = Verifier::web_crypto(&key)
            .map_err(|what| ConfigError::single("DISCORD_PUBLIC_KEY", what))?;
    }
    let app = Rc::new(app);
    APP.with(|cell| *cell.borrow_mut() = Some(Rc::clone(&app)));
    Ok(app)
}

pub(crate) fn now() -> OffsetDateTime {
    let millis = js_sys::Date::now() as i128;
    OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

// The shell speaks `web_sys` rather than `worker::Request`/`Response`: those
// convert eagerly (method, URL parsed in wasm, headers, cf, body copied into
// a response builder and out again), and each conversion is a JS<->wasm
// crossing that every signed PING pays for in CPU time (see bench/README.md).
#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    console_error_panic_hook::set_once();
    let url = req.url();
    match (req.method().as_str(), path_of(&url)) {
        ("GET", "/health") => health(&env),
        // `entry/index.mjs` (the worker's `main`) takes this route before the
        // bundle sees it; see `entry.rs`. Reaching it here means `main`
        // points at the bare bundle.
        ("POST", "/interactions") => {
            worker::console_error!(
                "POST /interactions reached the bare bundle: `main` must be interactions-worker/entry/index.mjs"
            );
            text(500, "Misdeployed: see the worker's log")
        }
        ("POST", "/events") => {
            let app = match application(&env) {
                Ok(app) => app,
                Err(err) => return misconfigured(&err),
            };
            let headers = req.headers();
            let timestamp = headers.get(community_core::relay::TIMESTAMP_HEADER)?;
            let mac = headers.get(community_core::relay::SIGNATURE_HEADER)?;
            let body = body(&req).await?;
            let result = app
                .events(timestamp.as_deref(), mac.as_deref(), &body, now())
                .await;
            respond(result, &ctx)
        }
        (_, "/interactions" | "/events") => text(405, "Method not allowed"),
        _ => text(404, "Not found"),
    }
}

/// The path of an absolute URL as the runtime gives it (`https://host/path?query`).
fn path_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(url, |at| &url[at + 3..]);
    let path = after_scheme.find('/').map_or("/", |at| &after_scheme[at..]);
    path.split(['?', '#']).next().unwrap_or(path)
}

async fn body(req: &web_sys::Request) -> Result<Vec<u8>> {
    let buffer = wasm_bindgen_futures::JsFuture::from(req.array_buffer()?).await?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// The one place replies and rejections become HTTP responses; deferred
/// work is kept alive with `ctx.wait_until`.
pub(crate) fn respond(
    result: std::result::Result<Reply, Rejection>,
    ctx: &Context,
) -> Result<web_sys::Response> {
    match result {
        Ok(reply) => {
            if let Some(later) = reply.later {
                wait_until(ctx, later, reply.later_races);
            }
            json_text(reply.status, reply.body)
        }
        Err(rejection) => reject(&rejection),
    }
}

/// Keeps `work` alive after the response. In a worker it runs on
/// `community_fetch`'s executor: its requests are awaited in JavaScript.
fn wait_until(ctx: &Context, work: app::Later, races: bool) {
    #[cfg(target_arch = "wasm32")]
    {
        let work = if races {
            Box::pin(community_fetch::undriven(work))
        } else {
            work
        };
        let _ = ctx.as_ref().wait_until(&community_fetch::spawn(work));
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = races;
        ctx.wait_until(work);
    }
}

/// A request refused before anything happened.
pub(crate) fn reject(rejection: &Rejection) -> Result<web_sys::Response> {
    worker::console_log!("rejected: {rejection}");
    json(
        rejection.status(),
        &serde_json::json!({ "error": rejection.to_string() }),
    )
}

thread_local! {
    // What JSON answers are sent with, built once per isolate: `new Response`
    // copies its init, so one object serves every request.
    static JSON_HEADERS: web_sys::Headers = json_headers();
    static JSON_OK: web_sys::ResponseInit = {
        let init = web_sys::ResponseInit::new();
        init.set_status(200);
        JSON_HEADERS.with(|headers| init.set_headers(headers));
        init
    };
}

fn json_headers() -> web_sys::Headers {
    let headers = web_sys::Headers::new().unwrap_or_else(|_| unreachable_headers());
    let _ = headers.set("content-type", "application/json");
    headers
}

#[allow(clippy::unwrap_used)]
fn unreachable_headers() -> web_sys::Headers {
    // `new Headers()` cannot throw.
    web_sys::Headers::new().unwrap()
}

fn json(status: u16, body: &serde_json::Value) -> Result<web_sys::Response> {
    json_text(status, serde_json::to_string(body)?)
}

fn json_text(status: u16, text: String) -> Result<web_sys::Response> {
    if status == 200 {
        return JSON_OK.with(|init| {
            Ok(web_sys::Response::new_with_opt_str_and_init(
                Some(&text),
                init,
            )?)
        });
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(status);
    JSON_HEADERS.with(|headers| init.set_headers(headers));
    Ok(web_sys::Response::new_with_opt_str_and_init(
        Some(&text),
        &init,
    )?)
}

fn text(status: u16, body: &str) -> Result<web_sys::Response> {
    let init = web_sys::ResponseInit::new();
    init.set_status(status);
    Ok(web_sys::Response::new_with_opt_str_and_init(
        Some(body),
        &init,
    )?)
}

pub(crate) fn misconfigured(err: &ConfigError) -> Result<web_sys::Response> {
    worker::console_error!("{err}");
    let problems: Vec<String> = err.problems.iter().map(ToString::to_string).collect();
    json(
        503,
        &serde_json::json!({ "error": "misconfigured", "problems": problems }),
    )
}

/// Liveness plus configuration: 200 when every variable is present and
/// valid and the application builds from them (as every request's does),
/// 503 naming each missing or malformed one (never their values).
fn health(env: &Env) -> Result<web_sys::Response> {
    let problems = match application(env) {
        Ok(_) => Vec::new(),
        Err(err) => err.problems.iter().map(ToString::to_string).collect(),
    };
    let status = if problems.is_empty() { 200 } else { 503 };
    let body = serde_json::json!({
        "service": "interactions-worker",
        "version": env!("CARGO_PKG_VERSION"),
        "status": if problems.is_empty() { "ok" } else { "misconfigured" },
        "problems": problems,
    });
    json(status, &body)
}

#[cfg(test)]
mod tests {
    use super::path_of;

    #[test]
    fn paths_come_from_absolute_urls() {
        for (url, path) in [
            ("https://example.com/interactions", "/interactions"),
            ("http://127.0.0.1:8787/interactions?x=1", "/interactions"),
            ("https://example.com/events#frag", "/events"),
            ("https://example.com", "/"),
            ("https://example.com/", "/"),
            ("https://example.com?q", "/"),
        ] {
            assert_eq!(path_of(url), path, "{url}");
        }
    }
}
