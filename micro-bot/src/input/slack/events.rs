//! The Events API: Slack POSTs to `/slack/events`. Every request's signature is checked before
//! anything else; the `url_verification` challenge is answered; an event is answered 200 at
//! once and run after, once, however often Slack retries it.

use super::signature::SigningSecret;
use super::{EventsOptions, Slack};
use crate::BotError;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

/// The path Slack posts to.
pub(crate) const PATH: &str = "/slack/events";

struct Events {
    slack: Arc<Slack>,
    secret: SigningSecret,
}

/// The endpoint, bound and ready to serve.
pub(crate) struct Listening {
    listener: micro::server::Listener,
    app: axum::Router,
}

impl Listening {
    /// Serves until `stop` completes.
    pub(crate) async fn serve(self, stop: impl Future<Output = ()> + Send + 'static) {
        micro_api::serve(self.listener, self.app, stop).await;
    }
}

/// Binds `options.address`.
pub(crate) async fn listen(
    slack: Arc<Slack>,
    options: &EventsOptions,
) -> Result<Listening, BotError> {
    let tcp = tokio::net::TcpListener::bind(&options.address)
        .await
        .map_err(|source| BotError::Listen {
            address: options.address.clone(),
            source,
        })?;
    if let Ok(local) = tcp.local_addr() {
        tracing::info!(address = %local, path = PATH, "slack: events API listening");
    }
    let events = Arc::new(Events {
        slack,
        secret: SigningSecret::new(options.signing_secret.expose()),
    });
    let app = axum::Router::new()
        .route(PATH, post(receive))
        .layer(DefaultBodyLimit::max(options.max_body))
        .with_state(events);
    Ok(Listening {
        listener: micro_api::listener(tcp),
        app,
    })
}

async fn receive(State(events): State<Arc<Events>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = events.secret.check(&headers, &body, SystemTime::now()) {
        tracing::warn!(reason = %refusal, "slack: events API request refused");
        return (StatusCode::UNAUTHORIZED, refusal.to_string()).into_response();
    }
    let payload: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(payload) => payload,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("the body is not JSON: {e}"),
            )
                .into_response()
        }
    };
    match payload["type"].as_str() {
        Some("url_verification") => {
            let challenge = payload["challenge"].clone();
            axum::Json(serde_json::json!({ "challenge": challenge })).into_response()
        }
        Some("event_callback") => {
            if let Some(retry) = headers.get("X-Slack-Retry-Num") {
                tracing::debug!(retry = ?retry, "slack: a retried event");
            }
            events
                .slack
                .on_event(payload["event_id"].as_str(), &payload["event"]);
            StatusCode::OK.into_response()
        }
        _ => StatusCode::OK.into_response(),
    }
}
