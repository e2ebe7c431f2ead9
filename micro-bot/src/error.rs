//! The bot's errors: settings it cannot run with, and chat services that refused.

/// The bot could not start or an input failed.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// Missing or contradictory settings.
    #[error("{0}")]
    Settings(String),
    /// Slack's Web API refused a method or could not be reached.
    #[error("slack {method}: {reason}")]
    Slack {
        /// The Web API method, e.g. `chat.postMessage`.
        method: &'static str,
        /// Slack's `error` or what failed on the way.
        reason: String,
    },
    /// Telegram's Bot API refused a method or could not be reached.
    #[error("telegram {method}: {reason}")]
    Telegram {
        /// The Bot API method, e.g. `getUpdates`.
        method: &'static str,
        /// Telegram's `description` or what failed on the way.
        reason: String,
    },
    /// A listening address could not be bound.
    #[error("listening on {address}: {source}")]
    Listen {
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
}

/// What failed in an HTTP exchange, without the URL: the Telegram token is part of its URLs
/// and must never reach a log.
pub(crate) fn transport(e: reqwest::Error) -> String {
    e.without_url().to_string()
}
