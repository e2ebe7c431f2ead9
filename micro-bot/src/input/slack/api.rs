//! The few Slack Web API methods the bot uses: `auth.test`, `apps.connections.open`,
//! `chat.postMessage`. Tokens travel as bearer headers and are never logged.

use crate::error::transport;
use crate::BotError;
use micro::auth::Token;
use serde_json::Value;
use std::time::Duration;

/// Who the bot is in the workspace.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// The bot's user id (`U...`): how it is mentioned.
    pub(crate) user_id: String,
}

/// A Web API client with the bot token.
#[derive(Debug)]
pub(crate) struct SlackApi {
    http: reqwest::Client,
    base: String,
    bot_token: Token,
}

/// Rate-limited calls are tried this many times, waiting as Slack says.
const ATTEMPTS: usize = 3;

impl SlackApi {
    pub(crate) fn new(base: &str, bot_token: Token) -> Result<Self, BotError> {
        Ok(SlackApi {
            http: super::super::http_client()?,
            base: base.trim_end_matches('/').to_string(),
            bot_token,
        })
    }

    /// `auth.test`: the bot token works, and whose it is.
    pub(crate) async fn identity(&self) -> Result<Identity, BotError> {
        let reply = self.call("auth.test", &self.bot_token, None).await?;
        let user_id = reply["user_id"].as_str().ok_or(BotError::Slack {
            method: "auth.test",
            reason: "no user_id in the reply".into(),
        })?;
        Ok(Identity {
            user_id: user_id.to_string(),
        })
    }

    /// `apps.connections.open`: a Socket Mode WebSocket address, for the app-level token.
    pub(crate) async fn open_connection(&self, app_token: &Token) -> Result<String, BotError> {
        let reply = self.call("apps.connections.open", app_token, None).await?;
        reply["url"]
            .as_str()
            .map(str::to_string)
            .ok_or(BotError::Slack {
                method: "apps.connections.open",
                reason: "no url in the reply".into(),
            })
    }

    /// `chat.postMessage`: `text` in `channel`, in the thread of `thread_ts` when given.
    pub(crate) async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        text: &str,
    ) -> Result<(), BotError> {
        let mut body = serde_json::json!({ "channel": channel, "text": text });
        if let Some(ts) = thread_ts {
            body["thread_ts"] = Value::String(ts.to_string());
        }
        self.call("chat.postMessage", &self.bot_token, Some(&body))
            .await
            .map(drop)
    }

    async fn call(
        &self,
        method: &'static str,
        token: &Token,
        body: Option<&Value>,
    ) -> Result<Value, BotError> {
        let failed = |reason: String| BotError::Slack { method, reason };
        for _ in 0..ATTEMPTS {
            let request = self
                .http
                .post(format!("{}/{method}", self.base))
                .bearer_auth(token.expose());
            let request = match body {
                Some(body) => request.json(body),
                None => request
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(""),
            };
            let response = request.send().await.map_err(|e| failed(transport(e)))?;
            let status = response.status();
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                let wait = retry_after(response.headers());
                tracing::warn!(method, wait_s = wait.as_secs(), "slack: rate limited");
                tokio::time::sleep(wait).await;
                continue;
            }
            if !status.is_success() {
                return Err(failed(format!("HTTP {status}")));
            }
            let reply: Value = response.json().await.map_err(|e| failed(transport(e)))?;
            if reply["ok"] == Value::Bool(true) {
                return Ok(reply);
            }
            let error = reply["error"].as_str().unwrap_or("the reply is not ok");
            return Err(failed(error.to_string()));
        }
        Err(failed(format!("still rate limited after {ATTEMPTS} tries")))
    }
}

/// Slack's `Retry-After`, in seconds; at most 30 s are waited.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    let seconds = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(seconds.clamp(1, 30))
}
