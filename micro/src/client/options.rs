//! What one call may set: its timeout, retries, a node's address, metadata, how nodes are
//! chosen, and the wait between attempts.

use super::Backoff;
use crate::auth::{Token, AUTHORIZATION};
use crate::context::Context;
use crate::metadata::{Metadata, FROM_SERVICE};
use crate::selector::{Filter, SelectOptions};
use std::time::Duration;

/// Default time a call may take, retries included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default number of retries after the first attempt.
pub const DEFAULT_RETRIES: u32 = 1;

/// Options of one call; anything unset takes the client's default.
///
/// ```
/// use std::time::Duration;
/// let opts = micro::CallOptions::default()
///     .timeout(Duration::from_secs(1))
///     .retries(3)
///     .metadata("user", "john");
/// ```
#[derive(Clone, Default)]
pub struct CallOptions {
    /// Overall time for the call, retries included (default 5 s).
    pub timeout: Option<Duration>,
    /// Retries after the first attempt (default 1).
    pub retries: Option<u32>,
    /// Call this `host:port` instead of asking the selector.
    pub address: Option<String>,
    /// Metadata sent as gRPC headers.
    pub metadata: Metadata,
    /// Filters and strategy for choosing a node.
    pub select: SelectOptions,
    /// Wait before each attempt (default [`exponential_backoff`](super::exponential_backoff)).
    pub backoff: Option<Backoff>,
    /// The most time one attempt may take (default the client's, else the whole timeout), so
    /// that a retry on another node still fits when one hangs.
    pub attempt_timeout: Option<Duration>,
}

impl std::fmt::Debug for CallOptions {
    /// Every field, with secrets in the metadata (a token) redacted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallOptions")
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("address", &self.address)
            .field("metadata", &crate::metadata::Redacted(&self.metadata))
            .field("select", &self.select)
            .field("backoff", &self.backoff.is_some())
            .field("attempt_timeout", &self.attempt_timeout)
            .finish()
    }
}

impl CallOptions {
    /// Options for a call made while serving `ctx` on the caller's behalf: as
    /// [`From<&Context>`](#impl-From%3C%26Context%3E-for-CallOptions), and carrying the caller's
    /// token, so the service called checks the caller's scopes rather than this service's.
    pub fn on_behalf_of(ctx: &Context) -> Self {
        let mut options = CallOptions::from(ctx);
        if let Some(token) = ctx.metadata().get(AUTHORIZATION) {
            options.metadata.insert(AUTHORIZATION.into(), token.clone());
        }
        options
    }

    /// Sending `token` (instead of the client's own, `MICRO_AUTH_TOKEN`).
    pub fn token(mut self, token: &Token) -> Self {
        self.metadata.insert(AUTHORIZATION.into(), token.bearer());
        self
    }

    /// With this overall timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Giving each attempt at most this long.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// With this many retries.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }

    /// Calling this node address directly.
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// With one more metadata pair.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Only nodes of this version.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.select.filters.push(Filter::Version(version.into()));
        self
    }

    /// With this backoff between attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }
}

impl From<&Context> for CallOptions {
    /// Options for calls made while serving `ctx`: the time left before its deadline, and its
    /// metadata, less the caller's name and token: this service is the caller now, and calls
    /// with its own token (`MICRO_AUTH_TOKEN`). To pass the caller's token on, use
    /// [`CallOptions::on_behalf_of`].
    fn from(ctx: &Context) -> Self {
        let mut metadata = ctx.metadata().clone();
        metadata.remove(FROM_SERVICE);
        metadata.remove(AUTHORIZATION);
        CallOptions {
            timeout: ctx.remaining(),
            metadata,
            ..Default::default()
        }
    }
}
