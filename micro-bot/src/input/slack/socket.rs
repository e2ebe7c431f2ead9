//! Socket Mode: `apps.connections.open` gives a WebSocket address; Slack says `hello`, then
//! sends envelopes, each acknowledged at once (Slack wants that within 3 s; the work goes on
//! after). A `disconnect` message, a closed or silent socket: the bot connects again, with
//! backoff when connecting fails.

use super::Slack;
use crate::input::Backoff;
use crate::BotError;
use futures::{SinkExt, StreamExt};
use micro::auth::Token;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// How often the bot pings Slack, and how long a socket may stay silent before it counts as
/// dead (a connection can drop without a close).
const PING_EVERY: Duration = Duration::from_secs(30);
const SILENT_FOR: Duration = Duration::from_secs(90);

/// How a connection ended.
enum Ended {
    /// Slack asked the bot to connect again (`refresh_requested`, `warning`, ...).
    Disconnect(String),
    /// The socket closed or went silent.
    Closed,
}

/// Answers over Socket Mode until `stop` completes.
pub(crate) async fn run(slack: Arc<Slack>, app_token: Token, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut backoff = Backoff::new();
    loop {
        let ended = tokio::select! {
            () = &mut stop => return,
            ended = session(&slack, &app_token, &mut backoff) => ended,
        };
        let wait = match ended {
            Ok(Ended::Disconnect(reason)) => {
                tracing::info!(reason, "slack: Slack asked to reconnect");
                Duration::ZERO
            }
            Ok(Ended::Closed) => {
                tracing::warn!("slack: the socket closed; connecting again");
                backoff.next()
            }
            Err(e) => {
                tracing::warn!(error = %e, "slack: socket mode");
                backoff.next()
            }
        };
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

fn socket_error(e: impl std::fmt::Display) -> BotError {
    BotError::Slack {
        method: "socket mode",
        reason: e.to_string(),
    }
}

async fn session(
    slack: &Slack,
    app_token: &Token,
    backoff: &mut Backoff,
) -> Result<Ended, BotError> {
    let url = slack.api.open_connection(app_token).await?;
    let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .map_err(socket_error)?;
    let (mut sink, mut frames) = socket.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut heard = tokio::time::Instant::now();
    loop {
        let frame = tokio::select! {
            frame = frames.next() => frame,
            _ = ping.tick() => {
                if heard.elapsed() > SILENT_FOR {
                    return Ok(Ended::Closed);
                }
                sink.send(Message::Ping(Default::default())).await.map_err(socket_error)?;
                continue;
            }
        };
        let Some(frame) = frame else {
            return Ok(Ended::Closed);
        };
        heard = tokio::time::Instant::now();
        let text = match frame.map_err(socket_error)? {
            Message::Text(text) => text,
            Message::Close(_) => return Ok(Ended::Closed),
            _ => continue,
        };
        let envelope: serde_json::Value = match serde_json::from_str(text.as_str()) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::warn!(error = %e, "slack: a socket message that is not JSON");
                continue;
            }
        };
        if let Some(id) = envelope["envelope_id"].as_str() {
            let ack = serde_json::json!({ "envelope_id": id }).to_string();
            sink.send(Message::text(ack)).await.map_err(socket_error)?;
        }
        match envelope["type"].as_str() {
            Some("hello") => {
                backoff.reset();
                tracing::info!("slack: connected (socket mode)");
            }
            Some("disconnect") => {
                let reason = envelope["reason"].as_str().unwrap_or("unknown");
                return Ok(Ended::Disconnect(reason.to_string()));
            }
            Some("events_api") => {
                let payload = &envelope["payload"];
                if payload["type"].as_str() == Some("event_callback") {
                    slack.on_event(payload["event_id"].as_str(), &payload["event"]);
                }
            }
            other => {
                tracing::debug!(kind = ?other, "slack: envelope acknowledged, not for the bot")
            }
        }
    }
}
