//! What both stand-ins share: recording every request, scripted faults, and
//! the control API under `/_stand_in/`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::discord::{self, ApiError, Channel, Message, json_response};
use crate::fault::{Fault, FaultQueue};
use crate::record::RecordedRequest;
use crate::{gemini, lock};

/// Bodies larger than this are refused; nothing the worker sends comes close.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The recorder and fault queue of one server.
#[derive(Debug, Default)]
pub(crate) struct Service {
    requests: Mutex<Vec<RecordedRequest>>,
    faults: Mutex<FaultQueue>,
}

impl Service {
    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    pub(crate) fn add_fault(&self, fault: Fault) {
        lock(&self.faults).push(fault);
    }

    pub(crate) fn clear_requests(&self) {
        lock(&self.requests).clear();
    }

    pub(crate) fn clear_faults(&self) {
        lock(&self.faults).clear();
    }
}

/// The fake Discord with its control API.
pub(crate) fn discord_app(service: Arc<Service>, state: discord::Shared) -> Router {
    let seeding = Router::new()
        .route(
            "/_stand_in/discord/guilds/{guild_id}/channels",
            get(guild_channels).post(seed_channel),
        )
        .route(
            "/_stand_in/discord/channels/{channel_id}/messages",
            get(channel_messages).post(seed_message),
        )
        .with_state(state.clone());
    discord::router(state)
        .merge(control_routes(service.clone()))
        .merge(seeding)
        .fallback(discord::not_found)
        .method_not_allowed_fallback(discord::method_not_allowed)
        .layer(middleware::from_fn_with_state(service, record_and_fault))
}

/// The fake Gemini with its control API.
pub(crate) fn gemini_app(service: Arc<Service>) -> Router {
    gemini::router()
        .merge(control_routes(service.clone()))
        .fallback(gemini::not_found)
        .layer(middleware::from_fn_with_state(service, record_and_fault))
}

/// Records the request, then answers with the first matching fault, if any,
/// or lets the stand-in answer. Control requests pass untouched.
async fn record_and_fault(
    State(service): State<Arc<Service>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if path.starts_with("/_stand_in/") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    lock(&service.requests).push(RecordedRequest::new(
        parts.method.as_str(),
        &path,
        parts.uri.query(),
        &parts.headers,
        &bytes,
    ));
    let fault = lock(&service.faults).take(parts.method.as_str(), &path);
    if let Some(fault) = fault {
        if fault.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(fault.delay_ms)).await;
        }
        if let Some(status) = fault.status {
            if fault.after_acting {
                drop(
                    next.run(Request::from_parts(parts, Body::from(bytes)))
                        .await,
                );
            }
            return fault_response(&fault, status);
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn fault_response(fault: &Fault, status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match &fault.body {
        Some(body) => json_response(status, body),
        None => status.into_response(),
    };
    for (name, value) in &fault.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn control_routes(service: Arc<Service>) -> Router {
    Router::new()
        .route(
            "/_stand_in/requests",
            get(list_requests).delete(clear_requests),
        )
        .route(
            "/_stand_in/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .with_state(service)
}

fn bad_control_request(detail: impl std::fmt::Display) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({ "error": detail.to_string() }),
    )
}

async fn list_requests(State(service): State<Arc<Service>>) -> Response {
    json_response(StatusCode::OK, &json!(service.requests()))
}

async fn clear_requests(State(service): State<Arc<Service>>) -> StatusCode {
    service.clear_requests();
    StatusCode::NO_CONTENT
}

async fn list_faults(State(service): State<Arc<Service>>) -> Response {
    json_response(StatusCode::OK, &json!(lock(&service.faults).pending()))
}

async fn add_fault(State(service): State<Arc<Service>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) => {
            service.add_fault(fault);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => bad_control_request(error),
    }
}

async fn clear_faults(State(service): State<Arc<Service>>) -> StatusCode {
    service.clear_faults();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct SeedMessage {
    author_id: String,
    author_name: String,
    content: String,
}

async fn seed_message(
    State(state): State<discord::Shared>,
    Path(channel_id): Path<String>,
    body: Bytes,
) -> Response {
    let seed: SeedMessage = match serde_json::from_slice(&body) {
        Ok(seed) => seed,
        Err(error) => return bad_control_request(error),
    };
    match lock(&state).seed_message(
        &channel_id,
        &seed.author_id,
        &seed.author_name,
        &seed.content,
    ) {
        Ok(message) => json_response(StatusCode::CREATED, &message.to_json()),
        Err(error) => error.into_response(),
    }
}

async fn channel_messages(
    State(state): State<discord::Shared>,
    Path(channel_id): Path<String>,
) -> Response {
    match lock(&state).messages(&channel_id) {
        Some(messages) => json_response(
            StatusCode::OK,
            &Value::Array(messages.iter().map(Message::to_json).collect()),
        ),
        None => ApiError::unknown_channel().into_response(),
    }
}

async fn guild_channels(
    State(state): State<discord::Shared>,
    Path(guild_id): Path<String>,
) -> Response {
    let channels = lock(&state).channels(&guild_id);
    json_response(
        StatusCode::OK,
        &Value::Array(channels.iter().map(Channel::to_json).collect()),
    )
}

async fn seed_channel(
    State(state): State<discord::Shared>,
    Path(guild_id): Path<String>,
    body: Bytes,
) -> Response {
    let body: Value = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(error) => return bad_control_request(error),
    };
    match lock(&state).create_channel(&guild_id, &body) {
        Ok(channel) => json_response(StatusCode::CREATED, &channel.to_json()),
        Err(error) => error.into_response(),
    }
}
