//! What one call may set: its timeout, retries, a node's address, metadata, how nodes are
//! chosen, and the wait between attempts.

use super::Backoff;
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
#[derive(Debug, Clone, Default)]
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

impl CallOptions {
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
    /// metadata (less the caller's name: this service is the caller now).
    fn from(ctx: &Context) -> Self {
        let mut metadata = ctx.metadata().clone();
        metadata.remove(FROM_SERVICE);
        CallOptions {
            timeout: ctx.remaining(),
            metadata,
            ..Default::default()
        }
    }
}
