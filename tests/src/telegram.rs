//! A local Telegram for the bot's tests. Telegram cannot be reached from here, so this server
//! speaks the Bot API methods the bot uses (`getMe`, long-polled `getUpdates` with `offset`,
//! `sendMessage`), on 127.0.0.1, with the token in the path checked as Telegram does, and
//! records what the bot sent.

use axum::extract::{Request, State};
use axum::Json;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// The token the fake accepts.
pub const TOKEN: &str = "123456:test-telegram-token";

#[derive(Default)]
struct Recorded {
    updates: Mutex<Vec<Value>>,
    arrived: Notify,
    sent: Mutex<Vec<Value>>,
    next_update: AtomicI64,
}

/// The fake Telegram, serving until dropped.
pub struct FakeTelegram {
    address: String,
    state: Arc<Recorded>,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeTelegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTelegram")
            .field("address", &self.address)
            .finish()
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn method(State(state): State<Arc<Recorded>>, request: Request) -> Json<Value> {
    let path = request.uri().path().to_string();
    let Some((token, name)) = path
        .strip_prefix("/bot")
        .and_then(|rest| rest.rsplit_once('/'))
    else {
        return Json(json!({"ok": false, "error_code": 404, "description": "Not Found"}));
    };
    if token != TOKEN {
        return Json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
    }
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match name {
        "getMe" => Json(json!({"ok": true, "result": {"id": 42, "is_bot": true,
                                "first_name": "micro", "username": "micro_test_bot"}})),
        "getUpdates" => {
            let offset = body["offset"].as_i64().unwrap_or(0);
            // Long polling, held at most a second so the tests end quickly.
            let wait = Duration::from_secs(body["timeout"].as_u64().unwrap_or(0).min(1));
            let pending = |state: &Recorded| -> Vec<Value> {
                state
                    .updates
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|u| u["update_id"].as_i64() >= Some(offset))
                    .cloned()
                    .collect()
            };
            let mut result = pending(&state);
            if result.is_empty() {
                let _ = tokio::time::timeout(wait, state.arrived.notified()).await;
                result = pending(&state);
            }
            Json(json!({"ok": true, "result": result}))
        }
        "sendMessage" => {
            let mut sent = state.sent.lock().unwrap();
            sent.push(body.clone());
            Json(
                json!({"ok": true, "result": {"message_id": 1000 + sent.len(),
                        "chat": {"id": body["chat_id"]}, "text": body["text"]}}),
            )
        }
        _ => Json(
            json!({"ok": false, "error_code": 404, "description": "Not Found: method not found"}),
        ),
    }
}

impl FakeTelegram {
    /// Starts the fake on a free port.
    pub async fn start() -> FakeTelegram {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap().to_string();
        let state = Arc::new(Recorded {
            next_update: AtomicI64::new(1),
            ..Default::default()
        });
        let app = axum::Router::new()
            .fallback(method)
            .with_state(Arc::clone(&state));
        let server = tokio::spawn(async move {
            let _ = axum::serve(tcp, app).await;
        });
        FakeTelegram {
            address,
            state,
            server,
        }
    }

    /// The Bot API's base URL, for `--telegram_api_url`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// `username` writes `text` to the bot in a private chat whose id is `chat`.
    pub fn message(&self, chat: i64, username: &str, text: &str) {
        let id = self.state.next_update.fetch_add(1, Ordering::SeqCst);
        let update = json!({
            "update_id": id,
            "message": {
                "message_id": id,
                "date": 1,
                "from": {"id": chat, "is_bot": false, "first_name": username, "username": username},
                "chat": {"id": chat, "type": "private", "username": username},
                "text": text,
            },
        });
        self.state.updates.lock().unwrap().push(update);
        self.state.arrived.notify_waiters();
    }

    /// Every `sendMessage` body, in order.
    pub fn sent(&self) -> Vec<Value> {
        self.state.sent.lock().unwrap().clone()
    }

    /// Waits for a message to `chat` whose text contains `part`; returns its text.
    pub async fn wait_for_reply(&self, chat: i64, part: &str) -> String {
        let matching = |sent: Vec<Value>| {
            sent.into_iter().find_map(|m| {
                let text = m["text"].as_str()?;
                (m["chat_id"].as_i64() == Some(chat) && text.contains(part))
                    .then(|| text.to_string())
            })
        };
        let failed = || {
            let sent = self.sent();
            format!("a reply to {chat} containing {part:?} (sent: {sent:#?})")
        };
        crate::found(failed, Duration::from_secs(20), || matching(self.sent())).await
    }

    /// How many messages went to `chat`.
    pub fn count_to(&self, chat: i64) -> usize {
        self.sent()
            .iter()
            .filter(|m| m["chat_id"].as_i64() == Some(chat))
            .count()
    }
}
