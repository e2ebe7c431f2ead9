//! Accepting and serving connections, for services and the gateway alike: a connection cap that
//! makes room before descriptors run out, per-connection timeouts and keep-alive pings, TLS, and
//! a shutdown that ends in bounded time whatever clients do.
//!
//! Shutdown: stop accepting, tell every connection to finish (HTTP/2 GOAWAY, HTTP/1 close after
//! the response), wait up to the drain timeout, then cut what still runs (gRPC streams end with
//! Unavailable, see [`Listener::cut_signal`]), wait a moment for that to be sent, and close.

use super::activity::{Activity, Expired, Tracked};
use super::limits::ConnectionLimits;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;

/// How long a connection closed for being idle may take to see its GOAWAY before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// How long cut streams have to send their final status before connections are dropped.
const CUT_GRACE: Duration = Duration::from_secs(1);
/// HTTP/2's limit on a request's headers: the one clients check against.
const MAX_HEADER_LIST_SIZE: u32 = crate::metadata::MAX_HEADER_BYTES as u32;
/// Refused connections are logged at most this often.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(5);

/// The HTTP a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/2 only (cleartext or TLS): gRPC services.
    Http2,
    /// HTTP/1.1 (with upgrades, for WebSockets) and HTTP/2: the gateway.
    Auto,
}

/// A bound socket and how to serve what it accepts.
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    protocol: Protocol,
    limits: Arc<ConnectionLimits>,
    drain_timeout: Duration,
    tls: Option<super::tls::Tls>,
    cut: CancellationToken,
}

impl Listener {
    /// Serves what `tcp` accepts, speaking `protocol`, with the default limits and a 10 s drain.
    pub fn new(tcp: TcpListener, protocol: Protocol) -> Listener {
        Listener {
            tcp,
            protocol,
            limits: Arc::new(ConnectionLimits::default()),
            drain_timeout: super::DEFAULT_DRAIN_TIMEOUT,
            tls: None,
            cut: CancellationToken::new(),
        }
    }

    /// Bounds each connection, and how many there are.
    pub fn limits(mut self, limits: ConnectionLimits) -> Listener {
        self.limits = Arc::new(limits);
        self
    }

    /// How long requests in flight may run once shutdown starts.
    pub fn drain_timeout(mut self, timeout: Duration) -> Listener {
        self.drain_timeout = timeout;
        self
    }

    /// Serves TLS with this certificate.
    pub fn tls(mut self, tls: super::tls::Tls) -> Listener {
        self.tls = Some(tls);
        self
    }

    /// Cancelled when the drain timeout has passed with requests still in flight: whatever
    /// serves them should end them now with a status saying the server is stopping.
    pub fn cut_signal(&self) -> CancellationToken {
        self.cut.clone()
    }

    /// The address bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Serves each connection with the service `make` returns for its peer, until `stop`
    /// completes; then drains, bounded by the drain timeout.
    pub async fn serve<M, S, B>(self, make: M, stop: impl Future<Output = ()>)
    where
        M: Fn(SocketAddr) -> S,
        S: tower::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
            + Clone
            + Send
            + 'static,
        S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        S::Future: Send + 'static,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let Listener {
            tcp,
            protocol,
            limits,
            drain_timeout,
            tls,
            cut,
        } = self;
        let draining = CancellationToken::new();
        // Connections live in this set, so dropping it (a kill) closes them all.
        let mut connections = JoinSet::new();
        let mut activities: HashMap<Id, Arc<Activity>> = HashMap::new();
        let mut refusals = Refusals::default();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                accepted = tcp.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(s) => s,
                        Err(e) => {
                            // Out of descriptors and the like: pause rather than spin.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    if !make_room(&activities, &limits) {
                        refusals.refused(peer, limits.max_connections);
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let activity = Activity::new();
                    let conn = Connection {
                        peer,
                        protocol,
                        limits: Arc::clone(&limits),
                        activity: Arc::clone(&activity),
                        draining: draining.clone(),
                        cut: cut.clone(),
                    };
                    let service = make(peer);
                    let handle = match &tls {
                        None => connections.spawn(conn.serve(stream, service)),
                        Some(tls) => connections.spawn(conn.serve_tls(tls.acceptor.clone(), stream, service)),
                    };
                    activities.insert(handle.id(), activity);
                }
                Some(ended) = connections.join_next_with_id(), if !connections.is_empty() => {
                    let id = match ended {
                        Ok((id, ())) => id,
                        Err(e) => e.id(),
                    };
                    activities.remove(&id);
                }
                _ = &mut stop => break,
            }
        }
        drop(tcp);
        draining.cancel();
        let all_ended = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(drain_timeout, all_ended)
            .await
            .is_err()
        {
            tracing::warn!(
                ?drain_timeout,
                connections = connections.len(),
                "requests still in flight after the drain timeout; ending them"
            );
            cut.cancel();
            let all_ended = async { while connections.join_next().await.is_some() {} };
            let _ = tokio::time::timeout(CUT_GRACE, all_ended).await;
        }
        connections.shutdown().await;
    }
}

/// Whether a new connection fits. Past seven eighths of the cap each new connection asks the one
/// idle longest to close, making room for those that follow; at the cap (connections asked to
/// close count until they have) a new connection is refused. The cap is never exceeded.
fn make_room(activities: &HashMap<Id, Arc<Activity>>, limits: &ConnectionLimits) -> bool {
    if activities.len() < limits.evict_above() {
        return true;
    }
    let idlest = activities
        .values()
        .filter_map(|a| a.quiet_for().map(|quiet| (quiet, a)))
        .max_by_key(|(quiet, _)| *quiet);
    if let Some((_, activity)) = idlest {
        activity.evict();
    }
    activities.len() < limits.max_connections
}

/// Counts refused connections and logs them now and then, not once each.
#[derive(Debug, Default)]
struct Refusals {
    since_log: u64,
    logged: Option<Instant>,
}

impl Refusals {
    fn refused(&mut self, peer: SocketAddr, cap: usize) {
        self.since_log += 1;
        if self
            .logged
            .is_none_or(|at| at.elapsed() >= REFUSAL_LOG_EVERY)
        {
            tracing::warn!(
                %peer,
                refused = self.since_log,
                max_connections = cap,
                "connection refused: at the connection cap and none is idle"
            );
            self.since_log = 0;
            self.logged = Some(Instant::now());
        }
    }
}

/// One accepted connection and what bounds it.
struct Connection {
    peer: SocketAddr,
    protocol: Protocol,
    limits: Arc<ConnectionLimits>,
    activity: Arc<Activity>,
    draining: CancellationToken,
    cut: CancellationToken,
}

/// The connection a request came on, in the request's extensions: what a handler that takes
/// the connection over (a WebSocket upgrade, a tunnel) holds so that the connection stays
/// counted against the cap, and watches to end at shutdown.
#[derive(Debug, Clone)]
pub struct ConnectionHandle {
    activity: Arc<Activity>,
    cut: CancellationToken,
}

impl ConnectionHandle {
    /// Keeps the connection in use (counted, never idle) until the guard drops.
    pub fn hold(&self) -> Held {
        Held {
            _busy: self.activity.begin(),
            cut: self.cut.clone(),
        }
    }
}

/// A connection taken over by a handler; see [`ConnectionHandle::hold`].
#[derive(Debug)]
pub struct Held {
    _busy: super::activity::Busy,
    cut: CancellationToken,
}

impl Held {
    /// Completes when the server stops waiting at shutdown: the handler should end the
    /// connection then.
    pub async fn stopping(&self) {
        self.cut.cancelled().await
    }
}

impl Connection {
    /// Completes the TLS handshake (bounded), then serves.
    async fn serve_tls<S, B>(
        self,
        acceptor: tokio_rustls::TlsAcceptor,
        stream: tokio::net::TcpStream,
        service: S,
    ) where
        S: tower::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
            + Clone
            + Send
            + 'static,
        S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        S::Future: Send + 'static,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let peer = self.peer;
        // A client speaking plain text to this port is answered, in its protocol, that the
        // server speaks TLS only: a precise error for it instead of a dropped connection.
        let opened = async {
            let mut first = [0u8; 1];
            match stream.peek(&mut first).await {
                Ok(1) if first[0] != TLS_HANDSHAKE_RECORD => Err(stream),
                _ => Ok(acceptor.accept(stream).await),
            }
        };
        let handshake = tokio::time::timeout(super::tls::HANDSHAKE_TIMEOUT, opened);
        let limits = &self.limits;
        // A handshake is bounded by the header timeout too, and ends on eviction.
        let expired = self
            .activity
            .expired(limits.header_timeout, limits.idle_timeout);
        let stream = tokio::select! {
            done = handshake => match done {
                Ok(Ok(Ok(stream))) => stream,
                Ok(Ok(Err(e))) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Ok(Err(plain)) => {
                    tracing::debug!(%peer, "plain text on the TLS port: answering that TLS is needed");
                    let refused = tower::service_fn(plain_text_refused);
                    return self.serve(plain, refused).await;
                }
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            },
            why = expired => return tracing::debug!(%peer, ?why, "closed during the TLS handshake"),
            _ = self.draining.cancelled() => return,
        };
        self.serve(stream, service).await
    }

    /// Serves HTTP on `io` until the peer closes, the connection expires, or the server drains.
    async fn serve<I, S, B>(self, io: I, service: S)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        S: tower::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
            + Clone
            + Send
            + 'static,
        S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        S::Future: Send + 'static,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
        let io = TokioIo::new(io);
        let service = Tracked {
            inner: service,
            activity: Arc::clone(&self.activity),
            handle: ConnectionHandle {
                activity: Arc::clone(&self.activity),
                cut: self.cut.clone(),
            },
        };
        let limits = &self.limits;
        match self.protocol {
            Protocol::Http2 => {
                let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                builder
                    .timer(TokioTimer::new())
                    .keep_alive_interval(limits.keepalive_interval)
                    .keep_alive_timeout(limits.keepalive_timeout)
                    .max_header_list_size(MAX_HEADER_LIST_SIZE);
                let conn = builder.serve_connection(io, service);
                self.drive(conn, |c| c.graceful_shutdown()).await;
            }
            Protocol::Auto => {
                let mut builder =
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                builder
                    .http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_timeout);
                builder
                    .http2()
                    .timer(TokioTimer::new())
                    .keep_alive_interval(limits.keepalive_interval)
                    .keep_alive_timeout(limits.keepalive_timeout)
                    .max_header_list_size(MAX_HEADER_LIST_SIZE);
                let conn = builder.serve_connection_with_upgrades(io, service);
                self.drive(conn, |c| c.graceful_shutdown()).await;
            }
        }
    }

    /// Runs `conn` until it ends; closes it early (gracefully, then not) when it expires or the
    /// server drains.
    async fn drive<C, E>(&self, conn: C, graceful_shutdown: impl FnOnce(Pin<&mut C>))
    where
        C: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let peer = self.peer;
        tokio::pin!(conn);
        let limits = &self.limits;
        let expired = self
            .activity
            .expired(limits.header_timeout, limits.idle_timeout);
        let why = tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                // Taken over (upgraded): counted until the handler lets go, which it does at
                // the cut at the latest.
                self.activity.released().await;
                return;
            }
            why = expired => Some(why),
            _ = self.draining.cancelled() => None,
        };
        graceful_shutdown(conn.as_mut());
        match why {
            // The listener bounds the drain.
            None => {
                let _ = conn.await;
            }
            Some(why) => {
                match why {
                    Expired::NoRequest => {
                        tracing::debug!(%peer, "closing: no request within the header timeout")
                    }
                    Expired::Idle => tracing::debug!(%peer, "closing: idle"),
                    Expired::Evicted => {
                        tracing::debug!(%peer, "closing: idle, and its slot is needed")
                    }
                }
                // A peer that never sent a request has nothing to be told: its descriptor goes
                // now. One that did gets a moment to read the GOAWAY.
                if self.activity.has_served() {
                    let _ = tokio::time::timeout(CLOSE_GRACE, conn).await;
                }
            }
        }
    }
}

/// A `make` for [`Listener::serve`] that gives every connection the same service.
pub fn same<S: Clone>(service: S) -> impl Fn(SocketAddr) -> S {
    move |_| service.clone()
}

/// The first byte of a TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Why a plain-text request to a TLS port gets no answer but this one.
const TLS_ONLY: &str = "this server speaks TLS only, and the request came in plain text: connect over TLS (micro clients do so to nodes registered secure=true; other clients need TLS credentials or https)";

/// The answer to every request on a plain-text connection to a TLS port: a gRPC status for
/// gRPC calls, else 400 with the reason.
async fn plain_text_refused(
    req: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<tonic::body::Body>, std::convert::Infallible> {
    let grpc = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    let answer = if grpc {
        tonic::Status::unavailable(TLS_ONLY).into_http()
    } else {
        let mut answer = http::Response::new(tonic::body::Body::new(http_body_util::Full::new(
            bytes::Bytes::from_static(TLS_ONLY.as_bytes()),
        )));
        *answer.status_mut() = http::StatusCode::BAD_REQUEST;
        answer.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        answer
    };
    Ok(super::refuse(req, answer).await)
}
