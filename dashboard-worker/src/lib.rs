//! The Creator Managers' dashboard, rendered on the server, as a Cloudflare
//! Worker. This file is the shell: read config once per isolate, build the
//! adapters (store, outbound probe, clock, randomness), hand the request to
//! [`app::App`], and turn its reply into a response with the security
//! headers. Everything else is platform-free and tested natively.

pub mod app;
mod charts;
mod config;
mod csv;
mod params;
mod session;
mod views;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use askama::Template as _;
use community_core::config::ConfigError;
use community_store::Store;
use futures_util::future::{Either, select};
use futures_util::stream;
use time::OffsetDateTime;
use worker::{
    AbortController, Context, Delay, Env, Fetch, Headers, Method as HttpMethod, Request,
    RequestInit, Response, Result, event,
};

use crate::app::{App, Body, LogStream, Method, Probe, Reply};
use crate::config::Config;
use crate::session::Keys;

/// Every response carries these. The CSP allows only this origin's script
/// and stylesheet (no inline script or style) and no framing.
const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Strict-Transport-Security", "max-age=31536000"),
    (
        "Permissions-Policy",
        "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    ),
];

/// How long one live-log stream stays open before the browser reconnects.
const STREAM_SECS: f64 = 25.0;
/// Most lines one poll of the live log sends (a burst of more between two
/// polls: the newest, and a word that the log page has the rest).
const STREAM_CATCH_UP: usize = 1000;

/// Outbound GETs with a deadline, the Workers way.
#[derive(Debug, Clone, Copy)]
pub struct WorkerProbe;

impl Probe for WorkerProbe {
    async fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        timeout_ms: u32,
    ) -> std::result::Result<u16, String> {
        let request_headers = Headers::new();
        for (name, value) in headers {
            request_headers
                .set(name, value)
                .map_err(|_| "invalid header".to_owned())?;
        }
        let mut init = RequestInit::new();
        init.with_method(HttpMethod::Get)
            .with_headers(request_headers);
        let request = Request::new_with_init(url, &init).map_err(|_| "invalid URL".to_owned())?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let fetch = Fetch::Request(request);
        let send = Box::pin(fetch.send_with_signal(&signal));
        let timeout = Box::pin(Delay::from(Duration::from_millis(u64::from(timeout_ms))));
        match select(send, timeout).await {
            Either::Left((Ok(response), _)) => Ok(response.status_code()),
            Either::Left((Err(err), _)) => Err(err.to_string()),
            Either::Right(((), _)) => {
                controller.abort();
                Err(format!("no answer within {} s", timeout_ms / 1000))
            }
        }
    }
}

thread_local! {
    // One application per isolate: config read and keys derived once.
    static APP: RefCell<Option<Rc<App<WorkerProbe>>>> = const { RefCell::new(None) };
}

fn lookup(env: &Env) -> impl Fn(&str) -> Option<String> + '_ {
    |name: &str| env.var(name).ok().map(|v| v.to_string())
}

/// Builds the application from a configuration.
fn build_app(config: Config) -> std::result::Result<App<WorkerProbe>, ConfigError> {
    let store = Store::new(
        &config.supabase_rest_url,
        config.supabase_service_role_key.expose(),
    )?;
    Ok(App {
        store,
        keys: Keys::new(config.session_secret.expose()),
        admin_password: config.admin_password,
        relay_stale_after_minutes: config.relay_stale_after_minutes,
        discord_api_base: config.discord_api_base,
        gemini_api_base: config.gemini_api_base,
        discord_bot_token: config.discord_bot_token,
        gemini_api_key: config.gemini_api_key,
        fixed_guild: config.guild_id,
        probe: WorkerProbe,
        random: random_hex,
        console: |line| worker::console_error!("{line}"),
    })
}

fn application(env: &Env) -> std::result::Result<Rc<App<WorkerProbe>>, ConfigError> {
    if let Some(app) = APP.with(|cell| cell.borrow().clone()) {
        return Ok(app);
    }
    let app = Rc::new(build_app(Config::read(&lookup(env))?)?);
    APP.with(|cell| *cell.borrow_mut() = Some(Rc::clone(&app)));
    Ok(app)
}

fn now() -> OffsetDateTime {
    let millis = worker::Date::now().as_millis();
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// 16 bytes from the platform's CSPRNG (`crypto.getRandomValues`), as hex.
fn random_hex() -> String {
    use wasm_bindgen::JsCast as _;
    let bytes = js_sys::Uint8Array::new_with_length(16);
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into()).ok();
    let fill = crypto
        .as_ref()
        .and_then(|c| js_sys::Reflect::get(c, &"getRandomValues".into()).ok())
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    match (crypto, fill) {
        (Some(crypto), Some(fill)) if fill.call1(&crypto, &bytes).is_ok() => {
            hex::encode(bytes.to_vec())
        }
        // Never issue a guessable session: fail loudly instead.
        _ => panic!("crypto.getRandomValues is unavailable"),
    }
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    let path = req.path();
    if path == "/health" {
        return secure(health(&env)?, false);
    }
    let app = match application(&env) {
        Ok(app) => app,
        Err(err) => return secure(misconfigured(&err)?, false),
    };
    let request = read_request(&mut req, path).await?;
    let reply = app.handle(&request).await;
    respond(&app, reply)
}

/// The parts of a worker request the application reads.
async fn read_request(req: &mut Request, path: String) -> Result<app::Request> {
    let method = match req.method() {
        HttpMethod::Get => Method::Get,
        HttpMethod::Head => Method::Head,
        HttpMethod::Post => Method::Post,
        _ => Method::Other,
    };
    let url = req.url()?;
    let query = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let headers = req.headers();
    let cookies = headers.get("Cookie")?;
    let client = session::client_key(
        headers.get("CF-Connecting-IP")?.as_deref(),
        headers.get("X-Forwarded-For")?.as_deref(),
    );
    let last_event_id = headers.get("Last-Event-ID")?;
    let is_form = headers
        .get("Content-Type")?
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let form = if method == Method::Post && is_form {
        let body = req.bytes().await?;
        // A login form is tiny; refuse to parse anything large.
        if body.len() > 16 * 1024 {
            Vec::new()
        } else {
            worker::url::form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        }
    } else {
        Vec::new()
    };
    Ok(app::Request {
        method,
        path,
        query,
        cookies,
        client,
        last_event_id,
        form,
        now: now(),
    })
}

/// The one place application replies become responses.
fn respond(app: &Rc<App<WorkerProbe>>, reply: Reply) -> Result<Response> {
    let response = match reply.body {
        Body::Text(text) => Response::ok(text)?,
        Body::LogStream(spec) => {
            let response = Response::from_stream(log_events(Rc::clone(app), spec))?;
            response.headers().set("X-Accel-Buffering", "no")?;
            response
        }
    };
    let response = response.with_status(reply.status);
    let headers = response.headers();
    headers.set("Content-Type", reply.content_type)?;
    for (name, value) in &reply.headers {
        headers.append(name, value)?;
    }
    secure(response, reply.cacheable)
}

fn secure(response: Response, cacheable: bool) -> Result<Response> {
    let headers = response.headers();
    for (name, value) in SECURITY_HEADERS {
        headers.set(name, value)?;
    }
    headers.set(
        "Cache-Control",
        if cacheable {
            "public, max-age=3600"
        } else {
            "no-store"
        },
    )?;
    Ok(response)
}

/// Server-sent events: poll the log every second for new lines, for
/// `STREAM_SECS`, then end; the browser's EventSource reconnects (after the
/// `retry` delay) with `Last-Event-ID`, so nothing is missed.
fn log_events(
    app: Rc<App<WorkerProbe>>,
    spec: LogStream,
) -> impl futures_util::Stream<Item = Result<Vec<u8>>> {
    struct State {
        app: Rc<App<WorkerProbe>>,
        spec: LogStream,
        started: f64,
        first: bool,
        done: bool,
    }
    let state = State {
        app,
        spec,
        started: js_sys::Date::now(),
        first: true,
        done: false,
    };
    stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        if state.first {
            state.first = false;
            if state.spec.after_id.is_none() {
                // Nothing seen yet: start after the newest line.
                let mut newest = state.spec.query.clone();
                newest.limit = 1;
                let id = state
                    .app
                    .store
                    .logs(&newest)
                    .await
                    .ok()
                    .and_then(|lines| lines.first().map(|l| l.id));
                state.spec.after_id = Some(id.unwrap_or(0));
            }
            return Some((Ok(b"retry: 1000\n: live log\n\n".to_vec()), state));
        }
        Delay::from(Duration::from_secs(1)).await;
        let after_id = state.spec.after_id.unwrap_or(0);
        let mut chunk = String::new();
        match state
            .app
            .store
            .logs_after(&state.spec.query, after_id, STREAM_CATCH_UP)
            .await
        {
            Ok((lines, left_out)) => {
                if left_out {
                    chunk.push_str(
                        "event: trouble\ndata: more new lines than the live log shows at once; \
                         the log page has them all\n\n",
                    );
                }
                for line in &lines {
                    chunk.push_str(&app::log_event(line));
                    state.spec.after_id = Some(line.id);
                }
                if lines.is_empty() {
                    chunk.push_str(": waiting\n\n");
                }
            }
            Err(err) => {
                worker::console_error!("dashboard: live log: {err}");
                chunk.push_str("event: trouble\ndata: the database did not answer\n\n");
                state.done = true;
            }
        }
        if (js_sys::Date::now() - state.started) / 1000.0 >= STREAM_SECS {
            state.done = true;
        }
        Some((Ok(chunk.into_bytes()), state))
    })
}

/// Pages answer a clear 503 naming what is missing (never the values).
fn misconfigured(err: &ConfigError) -> Result<Response> {
    worker::console_error!("{err}");
    let page = views::ErrorPage {
        page: views::Chrome {
            title: "Not configured".to_owned(),
            nav: Vec::new(),
            csrf: String::new(),
            guild: String::new(),
            signed_in: false,
            refresh: None,
            script: false,
            generated_at: views::datetime(now()),
            asset_version: views::ASSET_VERSION,
        },
        heading: "The dashboard is not configured".to_owned(),
        message: "Set these variables or secrets on the worker (wrangler.toml, `wrangler secret put`), then reload:".to_owned(),
        details: err.problems.iter().map(ToString::to_string).collect(),
        back_href: "/health".to_owned(),
        back_label: "Configuration status (JSON)".to_owned(),
    };
    let html = page
        .render()
        .unwrap_or_else(|_| "The dashboard is not configured.".to_owned());
    let response = Response::ok(html)?.with_status(503);
    response
        .headers()
        .set("Content-Type", "text/html; charset=utf-8")?;
    Ok(response)
}

/// Liveness plus configuration: 200 when every variable is present and
/// valid and the application builds from them (as every request's does),
/// 503 naming each missing or malformed one (never their values).
fn health(env: &Env) -> Result<Response> {
    let problems = match application(env) {
        Ok(_) => Vec::new(),
        Err(err) => err.problems.iter().map(ToString::to_string).collect(),
    };
    let status = if problems.is_empty() { 200 } else { 503 };
    let body = serde_json::json!({
        "service": "dashboard-worker",
        "version": env!("CARGO_PKG_VERSION"),
        "status": if problems.is_empty() { "ok" } else { "misconfigured" },
        "problems": problems,
    });
    Ok(Response::from_json(&body)?.with_status(status))
}
