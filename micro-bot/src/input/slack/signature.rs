//! Slack's request signatures: `X-Slack-Signature` is `v0=` and the hex HMAC-SHA256, keyed by
//! the app's signing secret, of `v0:{X-Slack-Request-Timestamp}:{the raw body}`. Checked in
//! constant time; a timestamp more than five minutes from now is refused as a replay.

use axum::http::HeaderMap;
use ring::hmac;
use std::time::{Duration, SystemTime};

/// How far a request's timestamp may be from now.
const WINDOW: Duration = Duration::from_secs(5 * 60);

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("X-Slack-Request-Timestamp is not a unix time")]
    BadTimestamp,
    #[error("X-Slack-Request-Timestamp is more than 5 minutes from now: refused as a replay")]
    Stale,
    #[error("X-Slack-Signature is not v0=<hex>")]
    Malformed,
    #[error("X-Slack-Signature does not match the request")]
    Mismatch,
}

/// The signing secret, as an HMAC key.
pub(crate) struct SigningSecret(hmac::Key);

impl SigningSecret {
    pub(crate) fn new(secret: &str) -> Self {
        SigningSecret(hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()))
    }

    /// Whether Slack signed this request, now.
    pub(crate) fn check(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), Refusal> {
        let header = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or(Refusal::Missing(name))
        };
        let timestamp = header("X-Slack-Request-Timestamp")?;
        let signature = header("X-Slack-Signature")?;
        let at: u64 = timestamp
            .trim()
            .parse()
            .map_err(|_| Refusal::BadTimestamp)?;
        let now = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        if now.abs_diff(at) > WINDOW.as_secs() {
            return Err(Refusal::Stale);
        }
        let tag = signature
            .strip_prefix("v0=")
            .and_then(hex)
            .ok_or(Refusal::Malformed)?;
        let mut signed = format!("v0:{timestamp}:").into_bytes();
        signed.extend_from_slice(body);
        hmac::verify(&self.0, &signed, &tag).map_err(|_| Refusal::Mismatch)
    }
}

/// The 32 bytes of a SHA-256 written in hex.
fn hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's own example from "Verifying requests from Slack".
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const TIMESTAMP: u64 = 1_531_420_618;

    fn headers(timestamp: &str, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("X-Slack-Request-Timestamp", timestamp.parse().unwrap());
        headers.insert("X-Slack-Signature", signature.parse().unwrap());
        headers
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn slacks_own_example_verifies() {
        let secret = SigningSecret::new(SECRET);
        let ok = secret.check(
            &headers("1531420618", SIGNATURE),
            BODY.as_bytes(),
            at(TIMESTAMP + 10),
        );
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn anything_else_is_refused_with_its_reason() {
        let secret = SigningSecret::new(SECRET);
        let now = at(TIMESTAMP);
        let altered = format!("{BODY}&x=1");
        assert_eq!(
            secret.check(&headers("1531420618", SIGNATURE), altered.as_bytes(), now),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            secret.check(
                &headers("1531420618", SIGNATURE),
                BODY.as_bytes(),
                at(TIMESTAMP + 301)
            ),
            Err(Refusal::Stale)
        );
        assert_eq!(
            secret.check(&headers("soon", SIGNATURE), BODY.as_bytes(), now),
            Err(Refusal::BadTimestamp)
        );
        assert_eq!(
            secret.check(&headers("1531420618", "sha256=abc"), BODY.as_bytes(), now),
            Err(Refusal::Malformed)
        );
        assert_eq!(
            secret.check(&HeaderMap::new(), BODY.as_bytes(), now),
            Err(Refusal::Missing("X-Slack-Request-Timestamp"))
        );
        let other = SigningSecret::new("another secret");
        assert_eq!(
            other.check(&headers("1531420618", SIGNATURE), BODY.as_bytes(), now),
            Err(Refusal::Mismatch)
        );
    }
}
