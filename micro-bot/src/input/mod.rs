//! Where messages come from and answers go: Slack (Socket Mode or the Events API) and
//! Telegram. Each input says who may talk to the bot; the bot answers the rest.

pub mod slack;
pub mod telegram;

use crate::{Bot, BotError};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The input names `--inputs` takes.
pub const NAMES: [&str; 3] = ["slack", "slack-events", "telegram"];

/// An input, with its settings.
#[derive(Debug, Clone)]
pub enum Input {
    /// Slack over Socket Mode: a WebSocket the bot opens, no public URL.
    Slack(slack::SocketOptions),
    /// Slack's Events API: Slack POSTs events to the bot's HTTP endpoint.
    SlackEvents(slack::EventsOptions),
    /// Telegram, by long polling.
    Telegram(telegram::TelegramOptions),
}

impl Input {
    /// Its name, as `--inputs` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Input::Slack(_) => "slack",
            Input::SlackEvents(_) => "slack-events",
            Input::Telegram(_) => "telegram",
        }
    }
}

/// The inputs named in `list` (`slack,telegram`): each name once, known, and at least one.
pub fn names(list: Option<&str>) -> Result<Vec<&'static str>, BotError> {
    let mut chosen = Vec::new();
    for name in list.unwrap_or_default().split(',').map(str::trim) {
        if name.is_empty() {
            continue;
        }
        let Some(known) = NAMES.iter().find(|n| **n == name) else {
            return Err(BotError::Settings(format!(
                "unknown input {name:?}: the inputs are {}",
                NAMES.join(", ")
            )));
        };
        if !chosen.contains(known) {
            chosen.push(*known);
        }
    }
    if chosen.is_empty() {
        return Err(BotError::Settings(format!(
            "no input given: --inputs (or MICRO_BOT_INPUTS) takes a comma-separated list of {}",
            NAMES.join(", ")
        )));
    }
    Ok(chosen)
}

/// Connects every input: a token refused or an address taken is an error here, before
/// anything is answered.
pub async fn connect(bot: Arc<Bot>, inputs: Vec<Input>) -> Result<Connected, BotError> {
    let mut connected = Vec::new();
    for input in inputs {
        connected.push(match input {
            Input::Slack(options) => {
                let slack = slack::Slack::connect(&options.slack, Arc::clone(&bot)).await?;
                Ready::Socket(slack, options.app_token)
            }
            Input::SlackEvents(options) => {
                let slack = slack::Slack::connect(&options.slack, Arc::clone(&bot)).await?;
                Ready::Events(slack::events::listen(slack, &options).await?)
            }
            Input::Telegram(options) => {
                Ready::Telegram(telegram::Telegram::connect(&options, Arc::clone(&bot)).await?)
            }
        });
    }
    Ok(Connected(connected))
}

/// The inputs, connected, ready to answer.
pub struct Connected(Vec<Ready>);

enum Ready {
    Socket(Arc<slack::Slack>, micro::auth::Token),
    Events(slack::events::Listening),
    Telegram(Arc<telegram::Telegram>),
}

impl std::fmt::Debug for Connected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connected")
            .field("inputs", &self.0.len())
            .finish()
    }
}

impl Connected {
    /// Answers messages until `shutdown` completes.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut running = tokio::task::JoinSet::new();
        for ready in self.0 {
            let stopped = until(stopped.clone());
            match ready {
                Ready::Socket(slack, token) => {
                    running.spawn(slack::socket::run(slack, token, stopped));
                }
                Ready::Events(listening) => {
                    running.spawn(listening.serve(stopped));
                }
                Ready::Telegram(telegram) => {
                    running.spawn(telegram.run(stopped));
                }
            }
        }
        shutdown.await;
        let _ = stop.send(true);
        while running.join_next().await.is_some() {}
    }
}

/// Completes when `stopped` turns true (or its sender is gone).
async fn until(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// The wait before connecting again: doubling from half a second up to 30 s, back to the
/// start once a connection works.
#[derive(Debug)]
pub(crate) struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(30);

    pub(crate) fn new() -> Self {
        Backoff(Self::FIRST)
    }

    /// The wait now; the next one is twice as long.
    pub(crate) fn next(&mut self) -> Duration {
        let now = self.0;
        self.0 = (self.0 * 2).min(Self::MAX);
        now
    }

    pub(crate) fn reset(&mut self) {
        self.0 = Self::FIRST;
    }
}

/// The same reqwest client settings for every input: bounded connects, no proxy surprises.
pub(crate) fn http_client() -> Result<reqwest::Client, BotError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| BotError::Settings(format!("the HTTP client: {}", crate::error::transport(e))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_named_known_and_at_least_one() {
        assert_eq!(
            names(Some("slack, telegram,slack")).unwrap(),
            ["slack", "telegram"]
        );
        let unknown = names(Some("slack,irc")).unwrap_err().to_string();
        assert_eq!(
            unknown,
            "unknown input \"irc\": the inputs are slack, slack-events, telegram"
        );
        let none = names(None).unwrap_err().to_string();
        assert!(none.starts_with("no input given"), "{none}");
        assert!(none.ends_with("slack, slack-events, telegram"), "{none}");
        assert!(names(Some(" , ")).is_err());
    }
}
