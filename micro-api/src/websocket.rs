//! Streaming endpoints over WebSocket: each text message is one request frame (JSON), each reply
//! one text message; the socket closes when the stream ends. An error is sent as its JSON, then
//! the socket closes.

use crate::gateway::API_ID;
use crate::resolve::Route;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use micro::{CallOptions, Client, Error};

/// Whether the request asks for a WebSocket.
pub(crate) fn is_upgrade(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Upgrades and bridges the socket to a JSON stream of `route`.
pub(crate) async fn serve(
    client: Client,
    route: Route,
    mut parts: http::request::Parts,
    opts: CallOptions,
) -> Result<Response, Error> {
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|_| {
            Error::bad_request(
                API_ID,
                format!(
                    "{} is a streaming endpoint: connect with a WebSocket",
                    route.endpoint
                ),
            )
        })?;
    // The socket stays counted against the listener's cap, and ends at its shutdown.
    let held = parts
        .extensions
        .get::<micro::server::listener::ConnectionHandle>()
        .map(|c| c.hold());
    Ok(upgrade
        .on_upgrade(move |socket| bridge(socket, client, route, opts, held))
        .into_response())
}

async fn bridge(
    socket: WebSocket,
    client: Client,
    route: Route,
    opts: CallOptions,
    held: Option<micro::server::listener::Held>,
) {
    let stopping = async {
        match &held {
            Some(held) => held.stopping().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stopping);
    let (mut sink, mut source) = socket.split();
    let (tx, rx) = tokio::sync::mpsc::channel::<serde_json::Value>(16);
    let (bad_tx, mut bad_rx) = tokio::sync::mpsc::channel::<Error>(1);
    // Requests: text messages until the client closes (which ends the request stream).
    tokio::spawn(async move {
        while let Some(Ok(message)) = source.next().await {
            let text = match message {
                Message::Text(t) => t.to_string(),
                Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                Message::Close(_) => break,
                _ => continue,
            };
            match serde_json::from_str(&text) {
                Ok(v) => {
                    if tx.send(v).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = bad_tx
                        .send(Error::bad_request(API_ID, format!("invalid JSON: {e}")))
                        .await;
                    break;
                }
            }
        }
    });
    let requests = tokio_stream::wrappers::ReceiverStream::new(rx);
    let mut replies = match client
        .stream_json(&route.service, &route.endpoint, requests, opts)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            let _ = sink.send(Message::Text(error_text(&e).into())).await;
            let _ = sink.close().await;
            return;
        }
    };
    loop {
        tokio::select! {
            // A bad request ends the request stream, and with it the reply stream: look at the
            // error first, so the client is told why rather than seeing a plain close.
            biased;
            Some(e) = bad_rx.recv() => {
                let _ = sink.send(Message::Text(error_text(&e).into())).await;
                break;
            }
            _ = &mut stopping => {
                let e = Error::unavailable(API_ID, format!("{API_ID} is stopping: the stream of {} ends", route.endpoint));
                let _ = sink.send(Message::Text(error_text(&e).into())).await;
                break;
            }
            reply = replies.next() => match reply {
                Some(Ok(v)) => {
                    if sink.send(Message::Text(v.to_string().into())).await.is_err() {
                        return;
                    }
                }
                Some(Err(e)) => {
                    let _ = sink.send(Message::Text(error_text(&e).into())).await;
                    break;
                }
                None => break,
            },
        }
    }
    let _ = sink.close().await;
}

/// The same JSON an HTTP error carries.
fn error_text(e: &Error) -> String {
    serde_json::to_string(e).unwrap_or_default()
}
