//! Telegram, by long polling `getUpdates`; answers with `sendMessage`. Only users on the
//! whitelist are answered: anyone on Telegram can find a bot and write to it, so the bot does
//! not start without one. The token is part of every URL, so no URL is ever logged.

use crate::bot::Outbox;
use crate::error::transport;
use crate::input::Backoff;
use crate::reply::pieces;
use crate::{Bot, BotError, Reply};
use micro::auth::Token;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Telegram's Bot API unless told otherwise.
pub const API_URL: &str = "https://api.telegram.org";

/// How long one `getUpdates` waits for a message.
const POLL: Duration = Duration::from_secs(25);
/// Telegram takes at most 4,096 characters in a message.
const MESSAGE_CHARS: usize = 4_000;

/// Telegram's settings.
#[derive(Debug, Clone)]
pub struct TelegramOptions {
    /// The Bot API's base URL (`https://api.telegram.org`).
    pub api_url: String,
    /// The bot's token, from BotFather.
    pub token: Token,
    /// User names (with or without `@`) the bot answers; messages from anyone else are ignored.
    pub whitelist: Vec<String>,
}

/// The bot on Telegram.
pub(crate) struct Telegram {
    http: reqwest::Client,
    base: String,
    token: Token,
    whitelist: Vec<String>,
    /// The bot's own user name, which group commands carry (`/ping@name`).
    username: String,
    bot: Arc<Bot>,
}

impl Telegram {
    /// Checks the whitelist and the token (`getMe`).
    pub(crate) async fn connect(
        options: &TelegramOptions,
        bot: Arc<Bot>,
    ) -> Result<Arc<Telegram>, BotError> {
        let whitelist: Vec<String> = options
            .whitelist
            .iter()
            .map(|name| name.trim().trim_start_matches('@').to_lowercase())
            .filter(|name| !name.is_empty())
            .collect();
        if whitelist.is_empty() {
            return Err(BotError::Settings(
                "telegram needs --telegram_whitelist (MICRO_TELEGRAM_WHITELIST): anyone on Telegram can write to a bot, so list the user names it answers".into(),
            ));
        }
        let mut telegram = Telegram {
            http: super::http_client()?,
            base: options.api_url.trim_end_matches('/').to_string(),
            token: options.token.clone(),
            whitelist,
            username: String::new(),
            bot,
        };
        let me = telegram.method("getMe", &json!({}), None).await?;
        telegram.username = me["username"].as_str().unwrap_or_default().to_string();
        tracing::info!(username = %telegram.username, "telegram: signed in");
        Ok(Arc::new(telegram))
    }

    /// Polls until `stop` completes.
    pub(crate) async fn run(self: Arc<Self>, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut offset: i64 = 0;
        let mut backoff = Backoff::new();
        loop {
            let body = json!({
                "offset": offset,
                "timeout": POLL.as_secs(),
                "allowed_updates": ["message"],
            });
            let polled = tokio::select! {
                () = &mut stop => return,
                polled = self.method("getUpdates", &body, Some(POLL + Duration::from_secs(10))) => polled,
            };
            let updates = match polled {
                Ok(updates) => {
                    backoff.reset();
                    updates
                }
                Err(e) => {
                    tracing::warn!(error = %e, "telegram: polling");
                    tokio::select! {
                        () = &mut stop => return,
                        () = tokio::time::sleep(backoff.next()) => {}
                    }
                    continue;
                }
            };
            for update in updates.as_array().into_iter().flatten() {
                if let Some(id) = update["update_id"].as_i64() {
                    offset = offset.max(id + 1);
                }
                self.on_message(&update["message"]);
            }
        }
    }

    fn on_message(self: &Arc<Self>, message: &Value) {
        let (Some(text), Some(chat)) = (message["text"].as_str(), message["chat"]["id"].as_i64())
        else {
            return;
        };
        let from = &message["from"];
        if from["is_bot"].as_bool() == Some(true) {
            return;
        }
        let username = from["username"].as_str().unwrap_or_default().to_lowercase();
        if !self.whitelist.contains(&username) {
            tracing::info!(username, "telegram: a user not on the whitelist, ignored");
            return;
        }
        let outbox = Arc::new(Chat {
            telegram: Arc::clone(self),
            chat,
            reply_to: message["message_id"].as_i64(),
        });
        self.bot.answer(self.command(text), outbox);
    }

    /// The command in a message: Telegram's `/ping@bot_name args` is `ping args`.
    fn command(&self, text: &str) -> String {
        let text = text.trim();
        let Some(slashed) = text.strip_prefix('/') else {
            return text.to_string();
        };
        let (first, rest) = slashed
            .split_once(char::is_whitespace)
            .unwrap_or((slashed, ""));
        let word = match first.split_once('@') {
            Some((word, name)) if name.eq_ignore_ascii_case(&self.username) => word,
            _ => first,
        };
        format!("{word} {rest}").trim().to_string()
    }

    /// Calls a Bot API method; its `result`, or Telegram's `description` of what failed.
    async fn method(
        &self,
        method: &'static str,
        body: &Value,
        timeout: Option<Duration>,
    ) -> Result<Value, BotError> {
        let failed = |reason: String| BotError::Telegram { method, reason };
        let url = format!("{}/bot{}/{method}", self.base, self.token.expose());
        let mut request = self.http.post(url).json(body);
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let response = request.send().await.map_err(|e| failed(transport(e)))?;
        let status = response.status();
        let reply: Value = response
            .json()
            .await
            .map_err(|e| failed(format!("HTTP {status}: {}", transport(e))))?;
        if reply["ok"] == Value::Bool(true) {
            return Ok(reply["result"].clone());
        }
        let description = reply["description"]
            .as_str()
            .unwrap_or("the reply is not ok");
        Err(failed(format!("HTTP {status}: {description}")))
    }
}

/// Where a reply goes: the chat of the message, as a reply to it.
struct Chat {
    telegram: Arc<Telegram>,
    chat: i64,
    reply_to: Option<i64>,
}

#[async_trait::async_trait]
impl Outbox for Chat {
    async fn send(&self, reply: Reply) {
        for text in pieces(&reply.to_plain_text(), MESSAGE_CHARS) {
            let mut body = json!({ "chat_id": self.chat, "text": text });
            if let Some(id) = self.reply_to {
                body["reply_parameters"] =
                    json!({ "message_id": id, "allow_sending_without_reply": true });
            }
            if let Err(e) = self.telegram.method("sendMessage", &body, None).await {
                tracing::warn!(chat = self.chat, error = %e, "telegram: reply not sent");
                return;
            }
        }
    }
}
