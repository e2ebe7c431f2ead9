//! Slack, as it is now: events arrive over Socket Mode ([`SocketOptions`]) or the Events API
//! ([`EventsOptions`]); either way the bot answers direct messages and mentions, in the thread of a
//! mention, with `chat.postMessage`.

mod api;
mod event;
pub(crate) mod events;
mod signature;
pub(crate) mod socket;
mod text;

use crate::bot::Outbox;
use crate::reply::pieces;
use crate::{Bot, BotError, Reply};
use api::{Identity, SlackApi};
use micro::auth::Token;
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

/// Slack's Web API unless told otherwise.
pub const API_URL: &str = "https://slack.com/api";

/// What both ways into Slack need.
#[derive(Debug, Clone)]
pub struct SlackOptions {
    /// The Web API's base URL (`https://slack.com/api`).
    pub api_url: String,
    /// The bot token (`xoxb-...`): replies are posted with it.
    pub bot_token: Token,
    /// User ids (`U...`) allowed to use the bot; everyone in the workspace when empty.
    pub allowed_users: Vec<String>,
    /// Channel ids (`C...`) where the bot answers mentions; every channel it is in when empty.
    /// Direct messages are governed by `allowed_users` alone.
    pub allowed_channels: Vec<String>,
}

/// Socket Mode: the bot opens a WebSocket to Slack, so it needs no public address.
#[derive(Debug, Clone)]
pub struct SocketOptions {
    /// The bot token and who may talk to the bot.
    pub slack: SlackOptions,
    /// The app-level token (`xapp-...`) with `connections:write`.
    pub app_token: Token,
}

/// The Events API: Slack POSTs events to `/slack/events` at the bot's address.
#[derive(Debug, Clone)]
pub struct EventsOptions {
    /// The bot token and who may talk to the bot.
    pub slack: SlackOptions,
    /// The app's signing secret: every request's `X-Slack-Signature` is checked with it.
    pub signing_secret: Token,
    /// Where to listen (`127.0.0.1:8083`); a tunnel or proxy in front takes Slack's requests.
    pub address: String,
    /// The largest request body, in bytes.
    pub max_body: usize,
}

/// The bot in one workspace.
pub(crate) struct Slack {
    api: Arc<SlackApi>,
    me: Identity,
    bot: Arc<Bot>,
    options: SlackOptions,
    seen: Mutex<Seen>,
}

impl Slack {
    /// Checks the bot token with `auth.test` and learns the bot's user id.
    pub(crate) async fn connect(
        options: &SlackOptions,
        bot: Arc<Bot>,
    ) -> Result<Arc<Slack>, BotError> {
        check_prefix(
            &options.bot_token,
            "xoxb-",
            "the Slack bot token (MICRO_SLACK_TOKEN)",
        )?;
        let api = SlackApi::new(&options.api_url, options.bot_token.clone())?;
        let me = api.identity().await?;
        tracing::info!(user = %me.user_id, "slack: signed in");
        Ok(Arc::new(Slack {
            api: Arc::new(api),
            me,
            bot,
            options: options.clone(),
            seen: Mutex::new(Seen::default()),
        }))
    }

    /// An event (`payload.event` of an `event_callback`): answered if it is a message for the
    /// bot from someone allowed; an event seen before (Slack retries) is not run again.
    pub(crate) fn on_event(&self, event_id: Option<&str>, event: &serde_json::Value) {
        if let Some(id) = event_id {
            let first = self
                .seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .first_time(id);
            if !first {
                tracing::debug!(event_id = id, "slack: event seen before, not run again");
                return;
            }
        }
        let Some(message) = event::message(event, &self.me) else {
            return;
        };
        let outbox = Arc::new(Conversation {
            api: Arc::clone(&self.api),
            channel: message.channel.clone(),
            thread_ts: message.thread_ts.clone(),
        });
        if let Some(refusal) = self.refusal(&message) {
            tracing::info!(user = %message.user, channel = %message.channel, "slack: refused");
            tokio::spawn(async move { outbox.send(Reply::plain(refusal)).await });
            return;
        }
        self.bot.answer(message.text, outbox);
    }

    fn refusal(&self, message: &event::Message) -> Option<String> {
        let allowed = |list: &[String], id: &str| list.is_empty() || list.iter().any(|a| a == id);
        if !allowed(&self.options.allowed_users, &message.user) {
            return Some("sorry, you are not allowed to use this bot".into());
        }
        if !message.direct && !allowed(&self.options.allowed_channels, &message.channel) {
            return Some("sorry, this bot does not take commands in this channel".into());
        }
        None
    }
}

/// Checks a token's kind by its prefix, so a swapped token fails at start with a clear word.
fn check_prefix(token: &Token, prefix: &str, what: &str) -> Result<(), BotError> {
    if token.expose().starts_with(prefix) {
        Ok(())
    } else {
        Err(BotError::Settings(format!(
            "{what} must start with {prefix}"
        )))
    }
}

/// Where a reply goes: the channel of the message, in its thread when there is one.
struct Conversation {
    api: Arc<SlackApi>,
    channel: String,
    thread_ts: Option<String>,
}

/// Slack shows about 4,000 characters of a message; longer replies go in several.
const MESSAGE_BYTES: usize = 3_500;

#[async_trait::async_trait]
impl Outbox for Conversation {
    async fn send(&self, reply: Reply) {
        for message in render(&reply) {
            let posted = self
                .api
                .post_message(&self.channel, self.thread_ts.as_deref(), &message)
                .await;
            if let Err(e) = posted {
                tracing::warn!(channel = %self.channel, error = %e, "slack: reply not posted");
                return;
            }
        }
    }
}

/// A reply as Slack messages: code in code blocks, the error line after it.
fn render(reply: &Reply) -> Vec<String> {
    let output = reply.text.trim_end();
    let mut messages: Vec<String> = if output.is_empty() {
        Vec::new()
    } else if reply.code {
        pieces(output, MESSAGE_BYTES)
            .iter()
            .map(|p| format!("```\n{}\n```", text::escape(p.trim_end_matches('\n'))))
            .collect()
    } else {
        pieces(output, MESSAGE_BYTES)
            .iter()
            .map(|p| text::escape(p))
            .collect()
    };
    if let Some(error) = reply.error_line() {
        match messages.last_mut() {
            Some(last) if last.len() + error.len() < MESSAGE_BYTES => {
                last.push('\n');
                last.push_str(&text::escape(&error));
            }
            _ => messages.push(text::escape(&error)),
        }
    }
    messages
}

/// Event ids already run, the latest few thousand: Slack retries an event it thinks was not
/// received, and a retried event must not run twice.
#[derive(Debug, Default)]
struct Seen {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    const KEEP: usize = 10_000;

    fn first_time(&mut self, id: &str) -> bool {
        if self.ids.contains(id) {
            return false;
        }
        if self.order.len() == Self::KEEP {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
        self.ids.insert(id.to_string());
        self.order.push_back(id.to_string());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_render_as_slack_messages() {
        assert_eq!(render(&Reply::plain("pong")), ["pong"]);
        assert_eq!(
            render(&Reply::code("{\n  \"msg\": \"<Hello>\"\n}\n")),
            ["```\n{\n  \"msg\": \"&lt;Hello&gt;\"\n}\n```"]
        );
        assert_eq!(
            render(&Reply::failed("service not found")),
            ["error executing cmd: service not found"]
        );
        let long = "line\n".repeat(2_000);
        let messages = render(&Reply::code(long.clone()));
        assert!(messages.len() > 1);
        assert!(messages
            .iter()
            .all(|m| m.starts_with("```\n") && m.ends_with("\n```")));
        let lines: usize = messages.iter().map(|m| m.matches("line").count()).sum();
        assert_eq!(lines, 2_000);
    }

    #[test]
    fn an_event_runs_once() {
        let mut seen = Seen::default();
        assert!(seen.first_time("Ev1"));
        assert!(!seen.first_time("Ev1"));
        assert!(seen.first_time("Ev2"));
    }
}
