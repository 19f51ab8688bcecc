//! The Creator Managers' dashboard, rendered on the server, as a Cloudflare
//! Worker. A thin shell: read config, build adapters, call the core, render.

mod config;

use worker::{Context, Env, Request, Response, Result, event};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    match req.path().as_str() {
        "/health" => health(&env),
        _ => Response::error("Not found", 404),
    }
}

/// Liveness plus configuration: 200 when every variable is present and
/// valid, 503 naming each missing or malformed one (never their values).
fn health(env: &Env) -> Result<Response> {
    let problems = match config::Config::from_env(env) {
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
