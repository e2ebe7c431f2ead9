//! Which Slack events are messages for the bot: direct messages, and mentions in channels.
//! Messages from bots (the bot itself among them) and edits, joins and the like are not.

use super::api::Identity;
use serde_json::Value;

/// A message for the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// Who wrote it (`U...`).
    pub(crate) user: String,
    /// Where (`C...`, `D...` for a direct message).
    pub(crate) channel: String,
    /// A direct message, not a mention in a channel.
    pub(crate) direct: bool,
    /// The command, as typed.
    pub(crate) text: String,
    /// The thread to answer in: a mention's own, or the thread it was written in.
    pub(crate) thread_ts: Option<String>,
}

/// The message for the bot in `event`, if it is one.
pub(crate) fn message(event: &Value, me: &Identity) -> Option<Message> {
    let present = |key: &str| event.get(key).is_some_and(|v| !v.is_null());
    if present("bot_id") || present("subtype") {
        return None;
    }
    let user = event["user"].as_str()?;
    if user == me.user_id {
        return None;
    }
    let channel = event["channel"].as_str()?;
    let raw = event["text"].as_str()?;
    let thread = event["thread_ts"].as_str().map(str::to_string);
    let (direct, thread_ts) = match event["type"].as_str()? {
        // A mention in a direct message also comes as `message.im`: answered once, there.
        "app_mention" if channel.starts_with('D') => return None,
        "app_mention" => (
            false,
            thread.or_else(|| event["ts"].as_str().map(str::to_string)),
        ),
        "message" if event["channel_type"].as_str() == Some("im") => (true, thread),
        _ => return None,
    };
    Some(Message {
        user: user.to_string(),
        channel: channel.to_string(),
        direct,
        text: super::text::typed(raw, &me.user_id),
        thread_ts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn me() -> Identity {
        Identity {
            user_id: "UBOT".into(),
        }
    }

    #[test]
    fn direct_messages_and_mentions_are_for_the_bot() {
        let dm = json!({"type": "message", "channel_type": "im", "user": "U1", "channel": "D1",
                        "text": "list services", "ts": "1.1"});
        assert_eq!(
            message(&dm, &me()),
            Some(Message {
                user: "U1".into(),
                channel: "D1".into(),
                direct: true,
                text: "list services".into(),
                thread_ts: None,
            })
        );
        let mention = json!({"type": "app_mention", "user": "U1", "channel": "C1",
                             "text": "<@UBOT> ping", "ts": "2.2"});
        let got = message(&mention, &me()).unwrap();
        assert_eq!(
            (got.text.as_str(), got.thread_ts.as_deref(), got.direct),
            ("ping", Some("2.2"), false)
        );
        let in_thread = json!({"type": "app_mention", "user": "U1", "channel": "C1",
                               "text": "<@UBOT> ping", "ts": "3.3", "thread_ts": "2.2"});
        assert_eq!(
            message(&in_thread, &me()).unwrap().thread_ts.as_deref(),
            Some("2.2")
        );
    }

    #[test]
    fn bots_edits_and_channel_chatter_are_not() {
        for event in [
            json!({"type": "message", "channel_type": "im", "user": "UBOT", "channel": "D1", "text": "pong"}),
            json!({"type": "message", "channel_type": "im", "user": "U2", "bot_id": "B2", "channel": "D1", "text": "hi"}),
            json!({"type": "message", "channel_type": "im", "subtype": "message_changed", "channel": "D1"}),
            json!({"type": "message", "channel_type": "channel", "user": "U1", "channel": "C1", "text": "ping"}),
            json!({"type": "app_mention", "user": "U1", "channel": "D1", "text": "<@UBOT> ping"}),
            json!({"type": "reaction_added", "user": "U1"}),
        ] {
            assert_eq!(message(&event, &me()), None, "{event}");
        }
    }
}
