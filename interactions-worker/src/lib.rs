//! Discord's interactions endpoint and the relay's scoring endpoint, as a
//! Cloudflare Worker. This file is the shell: read config, build adapters,
//! call the application, turn its reply into a response. Everything else is
//! platform-free and tested natively.

pub mod app;
pub mod audits;
pub mod config;
pub mod events;
pub mod tickets;

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use community_clients::gemini::GeminiClient;
use community_clients::{DiscordClient, Sleep};
use community_core::config::ConfigError;
use community_store::Store;
use time::OffsetDateTime;
use worker::{Context, Env, Method, Request, Response, Result, event};

use crate::app::{App, Rejection, Reply};
use crate::config::Config;

/// Waiting, the Workers way.
#[derive(Clone, Copy, Debug)]
pub struct WorkerSleep;

impl Sleep for WorkerSleep {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> {
        worker::Delay::from(duration)
    }
}

/// Build the application from a configuration and its adapters.
pub fn build_app<S: Sleep + Clone>(
    config: Config,
    sleep: S,
    console: fn(&str),
) -> std::result::Result<App<S>, String> {
    let store = Store::new(
        &config.supabase_rest_url,
        config.supabase_service_role_key.expose(),
    )
    .map_err(|e| e.to_string())?;
    let (Some(key), Some(application_id), Some(prices)) =
        (config.public_key, config.application_id, config.prices)
    else {
        return Err("configuration incomplete".to_owned());
    };
    Ok(App {
        key,
        application_id,
        store,
        discord: DiscordClient::new(&config.discord_api_base, config.bot_token, sleep.clone()),
        gemini: config.gemini_api_key.map(|api_key| {
            GeminiClient::new(
                &config.gemini_api_base,
                api_key,
                &config.gemini_model,
                sleep,
            )
        }),
        prices,
        relay_secret: config.relay_shared_secret,
        relay_max_skew_secs: config.relay_max_skew_secs,
        console,
    })
}

thread_local! {
    // One application per isolate: the public key is parsed once, not per request.
    static APP: RefCell<Option<Rc<App<WorkerSleep>>>> = const { RefCell::new(None) };
}

fn lookup(env: &Env) -> impl Fn(&str) -> Option<String> + '_ {
    |name: &str| env.var(name).ok().map(|v| v.to_string())
}

fn application(env: &Env) -> std::result::Result<Rc<App<WorkerSleep>>, ConfigError> {
    if let Some(app) = APP.with(|cell| cell.borrow().clone()) {
        return Ok(app);
    }
    let config = Config::read(&lookup(env))?;
    let app = build_app(config, WorkerSleep, |line| worker::console_log!("{line}"))
        .map_err(|what| ConfigError::single("SUPABASE_REST_URL", what))?;
    let app = Rc::new(app);
    APP.with(|cell| *cell.borrow_mut() = Some(Rc::clone(&app)));
    Ok(app)
}

fn now() -> OffsetDateTime {
    let millis = worker::Date::now().as_millis();
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    let path = req.path();
    match (req.method(), path.as_str()) {
        (Method::Get, "/health") => health(&env),
        (Method::Post, "/interactions") => {
            let app = match application(&env) {
                Ok(app) => app,
                Err(err) => return misconfigured(&err),
            };
            let signature = req.headers().get("X-Signature-Ed25519")?;
            let timestamp = req.headers().get("X-Signature-Timestamp")?;
            let body = req.bytes().await?;
            let result = app
                .interaction(signature.as_deref(), timestamp.as_deref(), &body, now())
                .await;
            respond(result, &ctx)
        }
        (Method::Post, "/events") => {
            let app = match application(&env) {
                Ok(app) => app,
                Err(err) => return misconfigured(&err),
            };
            let timestamp = req.headers().get(community_core::relay::TIMESTAMP_HEADER)?;
            let mac = req.headers().get(community_core::relay::SIGNATURE_HEADER)?;
            let body = req.bytes().await?;
            let result = app
                .events(timestamp.as_deref(), mac.as_deref(), &body, now())
                .await;
            respond(result, &ctx)
        }
        (_, "/interactions" | "/events") => Response::error("Method not allowed", 405),
        _ => Response::error("Not found", 404),
    }
}

/// The one place replies and rejections become HTTP responses.
fn respond(result: std::result::Result<Reply, Rejection>, ctx: &Context) -> Result<Response> {
    match result {
        Ok(reply) => {
            if let Some(later) = reply.later {
                ctx.wait_until(later);
            }
            Ok(Response::from_json(&reply.body)?.with_status(reply.status))
        }
        Err(rejection) => {
            worker::console_log!("rejected: {rejection}");
            Ok(
                Response::from_json(&serde_json::json!({ "error": rejection.to_string() }))?
                    .with_status(rejection.status()),
            )
        }
    }
}

fn misconfigured(err: &ConfigError) -> Result<Response> {
    worker::console_error!("{err}");
    let problems: Vec<String> = err.problems.iter().map(ToString::to_string).collect();
    Ok(
        Response::from_json(
            &serde_json::json!({ "error": "misconfigured", "problems": problems }),
        )?
        .with_status(503),
    )
}

/// Liveness plus configuration: 200 when every variable is present and
/// valid, 503 naming each missing or malformed one (never their values).
fn health(env: &Env) -> Result<Response> {
    let problems = match Config::read(&lookup(env)) {
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
    Ok(Response::from_json(&body)?.with_status(status))
}
