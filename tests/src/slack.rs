//! A local Slack for the bot's tests. Slack cannot be reached from here, so this server speaks
//! the parts of its documented wire protocol the bot uses, on 127.0.0.1, and records what the
//! bot sent:
//!
//! - Web API methods `auth.test`, `apps.connections.open` and `chat.postMessage`, with their
//!   bearer tokens checked (`invalid_auth`, `not_allowed_token_type` as Slack answers);
//! - the Socket Mode WebSocket: `hello` on connect, `events_api` envelopes pushed by the test,
//!   the bot's acknowledgements (`{"envelope_id"}`) recorded, `disconnect` on demand.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{any, post};
use axum::Json;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// The bot token the fake accepts.
pub const BOT_TOKEN: &str = "xoxb-1-test-bot-token";
/// The app-level token the fake accepts.
pub const APP_TOKEN: &str = "xapp-1-test-app-token";
/// The bot's user id.
pub const BOT_USER: &str = "UMICROBOT";

#[derive(Default)]
struct Recorded {
    address: String,
    posted: Mutex<Vec<Value>>,
    acks: Mutex<Vec<String>>,
    connections: AtomicUsize,
    envelopes: AtomicUsize,
    socket: Mutex<Option<mpsc::UnboundedSender<String>>>,
}

/// The fake Slack, serving until dropped.
pub struct FakeSlack {
    state: Arc<Recorded>,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeSlack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSlack")
            .field("address", &self.state.address)
            .finish()
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
}

async fn auth_test(headers: HeaderMap) -> Json<Value> {
    Json(match bearer(&headers) {
        BOT_TOKEN => json!({"ok": true, "team": "test", "user": "micro", "team_id": "T1",
                            "user_id": BOT_USER, "bot_id": "BMICRO"}),
        _ => json!({"ok": false, "error": "invalid_auth"}),
    })
}

async fn open(State(state): State<Arc<Recorded>>, headers: HeaderMap) -> Json<Value> {
    Json(match bearer(&headers) {
        APP_TOKEN => {
            let n = state.connections.load(Ordering::SeqCst);
            json!({"ok": true, "url": format!("ws://{}/link/?ticket={n}", state.address)})
        }
        BOT_TOKEN => json!({"ok": false, "error": "not_allowed_token_type"}),
        _ => json!({"ok": false, "error": "invalid_auth"}),
    })
}

async fn post_message(
    State(state): State<Arc<Recorded>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    if bearer(&headers) != BOT_TOKEN {
        return Json(json!({"ok": false, "error": "invalid_auth"}));
    }
    let mut posted = state.posted.lock().unwrap();
    posted.push(body.clone());
    Json(json!({"ok": true, "channel": body["channel"], "ts": format!("{}.0001", posted.len())}))
}

async fn link(State(state): State<Arc<Recorded>>, upgrade: WebSocketUpgrade) -> impl IntoResponse {
    upgrade.on_upgrade(move |socket| connection(state, socket))
}

async fn connection(state: Arc<Recorded>, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let hello = json!({"type": "hello", "num_connections": 1,
                       "debug_info": {"host": "fake-slack"}, "connection_info": {"app_id": "A1"}});
    if socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    *state.socket.lock().unwrap() = Some(tx);
    state.connections.fetch_add(1, Ordering::SeqCst);
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(text) => if socket.send(Message::Text(text.into())).await.is_err() { return },
                None => return,
            },
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(ack) = serde_json::from_str::<Value>(text.as_str()) {
                        if let Some(id) = ack["envelope_id"].as_str() {
                            state.acks.lock().unwrap().push(id.to_string());
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

impl FakeSlack {
    /// Starts the fake on a free port.
    pub async fn start() -> FakeSlack {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let state = Arc::new(Recorded {
            address: tcp.local_addr().unwrap().to_string(),
            ..Default::default()
        });
        let app = axum::Router::new()
            .route("/api/auth.test", post(auth_test))
            .route("/api/apps.connections.open", post(open))
            .route("/api/chat.postMessage", post(post_message))
            .route("/link/", any(link))
            .with_state(Arc::clone(&state));
        let server = tokio::spawn(async move {
            let _ = axum::serve(tcp, app).await;
        });
        FakeSlack { state, server }
    }

    /// The Web API's base URL, for `--slack_api_url`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.state.address)
    }

    /// How many Socket Mode connections were opened so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Waits until `n` Socket Mode connections have been opened.
    pub async fn wait_for_connections(&self, n: usize) {
        let connections = || self.connections() >= n;
        crate::eventually(
            &format!("{n} socket mode connection(s)"),
            Duration::from_secs(20),
            connections,
        )
        .await;
    }

    /// Sends an `events_api` envelope with `event` over the open socket; its envelope id.
    pub fn send_event(&self, event_id: &str, event: Value) -> String {
        let n = self.state.envelopes.fetch_add(1, Ordering::SeqCst);
        let envelope_id = format!("envelope-{n}");
        let envelope = json!({
            "envelope_id": envelope_id,
            "type": "events_api",
            "accepts_response_payload": false,
            "retry_attempt": 0,
            "retry_reason": "",
            "payload": {
                "token": "legacy",
                "team_id": "T1",
                "api_app_id": "A1",
                "type": "event_callback",
                "event_id": event_id,
                "event_time": 1,
                "event": event,
            },
        });
        self.send(envelope.to_string());
        envelope_id
    }

    /// Asks the bot to reconnect, as Slack does before it refreshes a connection.
    pub fn disconnect(&self) {
        let message = json!({"type": "disconnect", "reason": "refresh_requested",
                             "debug_info": {"host": "fake-slack"}});
        self.send(message.to_string());
    }

    /// Drops the open socket without a word, as a network failure would.
    pub fn drop_socket(&self) {
        self.state.socket.lock().unwrap().take();
    }

    fn send(&self, text: String) {
        let socket = self.state.socket.lock().unwrap();
        let socket = socket.as_ref().expect("no socket mode connection yet");
        socket
            .send(text)
            .expect("the socket mode connection is gone");
    }

    /// The envelope ids the bot acknowledged.
    pub fn acks(&self) -> Vec<String> {
        self.state.acks.lock().unwrap().clone()
    }

    /// The bodies of every `chat.postMessage`, in order.
    pub fn posted(&self) -> Vec<Value> {
        self.state.posted.lock().unwrap().clone()
    }

    /// Waits for a posted message whose text contains `part`; returns it.
    pub async fn wait_for_post(&self, part: &str) -> Value {
        let matching = || {
            self.posted()
                .into_iter()
                .find(|p| p["text"].as_str().is_some_and(|t| t.contains(part)))
        };
        let failed = || {
            let posted = self.posted();
            format!("a message containing {part:?} (posted: {posted:#?})")
        };
        crate::found(failed, Duration::from_secs(20), matching).await
    }

    /// How many posted messages contain `part`.
    pub fn count_posts(&self, part: &str) -> usize {
        self.posted()
            .iter()
            .filter(|p| p["text"].as_str().is_some_and(|t| t.contains(part)))
            .count()
    }
}

/// A direct message event from `user`.
pub fn direct_message(user: &str, text: &str, ts: &str) -> Value {
    json!({"type": "message", "channel_type": "im", "channel": "D0DIRECT", "user": user,
           "text": text, "ts": ts, "event_ts": ts})
}

/// A mention of the bot in `channel`.
pub fn mention(user: &str, channel: &str, text: &str, ts: &str) -> Value {
    json!({"type": "app_mention", "channel": channel, "user": user,
           "text": format!("<@{BOT_USER}> {text}"), "ts": ts, "event_ts": ts})
}
