//! How long and how many: the bounds a listener puts on each connection and on all of them, so
//! that slow, idle or dead clients cannot hold a server's sockets or descriptors.

use std::time::Duration;

/// Default [`ConnectionLimits::header_timeout`].
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ConnectionLimits::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Default [`ConnectionLimits::body_timeout`].
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`ConnectionLimits::keepalive_interval`].
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// Default [`ConnectionLimits::keepalive_timeout`].
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// The most connections a default cap allows, however high the descriptor limit.
const MAX_DEFAULT_CONNECTIONS: usize = 100_000;

/// Bounds on a listener's connections. The defaults suit a service or gateway on a shared host;
/// every one can be set (`MICRO_SERVER_*` variables, [`crate::config::Config`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long a new connection may take to send its first whole request head (HTTP/2: the
    /// preface, settings and a HEADERS frame; HTTP/1: the request line and headers), and an
    /// HTTP/1 connection the next one.
    pub header_timeout: Duration,
    /// How long a connection with no request in flight is kept open.
    pub idle_timeout: Duration,
    /// How long a request body may take to arrive in full (a unary gRPC request, any body at the
    /// gateway); streams are not bound by it.
    pub body_timeout: Duration,
    /// How often an HTTP/2 ping checks that the peer is still there; `None`: never.
    pub keepalive_interval: Option<Duration>,
    /// How long a ping may go unanswered before the connection is closed as dead.
    pub keepalive_timeout: Duration,
    /// The most connections open at once. Past seven eighths of it each new connection closes
    /// the one that has been idle longest; at it, new connections are refused (and logged).
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            keepalive_interval: Some(DEFAULT_KEEPALIVE_INTERVAL),
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
            max_connections: default_max_connections(descriptor_limit()),
        }
    }
}

impl ConnectionLimits {
    /// The number of connections past which idle ones are closed to make room.
    pub(crate) fn evict_above(&self) -> usize {
        self.max_connections - self.max_connections / 8
    }
}

/// Three quarters of the descriptor limit: the rest stays for the server's own outgoing
/// connections, registry watches and files.
fn default_max_connections(descriptors: Option<u64>) -> usize {
    let descriptors = descriptors.unwrap_or(1024);
    usize::try_from(descriptors / 4 * 3)
        .unwrap_or(MAX_DEFAULT_CONNECTIONS)
        .clamp(16, MAX_DEFAULT_CONNECTIONS)
}

/// The process's soft limit on open descriptors, where it has one.
fn descriptor_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_leaves_a_quarter_of_the_descriptors() {
        assert_eq!(default_max_connections(Some(1024)), 768);
        assert_eq!(default_max_connections(None), 768);
        assert_eq!(default_max_connections(Some(8)), 16);
        assert_eq!(
            default_max_connections(Some(u64::MAX)),
            MAX_DEFAULT_CONNECTIONS
        );
        let limits = ConnectionLimits {
            max_connections: 768,
            ..ConnectionLimits::default()
        };
        assert_eq!(limits.evict_above(), 672);
    }
}
