//! One forwarded call: pick a node, send the caller's request to it as it is (with the deadline
//! that remains), and pass the node's response back; a node that cannot be reached before it
//! answers is swapped for the next one while the deadline lasts.

use crate::backend::Backend;
use crate::replay::Replay;
use crate::upstream::Upstream;
use crate::PROXY_ID;
use futures::future::BoxFuture;
use micro::registry::Node;
use micro::selector::{Next, Outcome, SelectOptions};
use micro::server::forward::{Forward, ForwardRequest, ForwardResponse, Target};
use micro::{Client, Error};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How much of a caller's body is kept to send again to another node. A call whose body is
/// larger is not retried once its first node took some of it.
const REPLAY_LIMIT: usize = micro::client::DEFAULT_MAX_MESSAGE_SIZE;

/// How long before the caller's deadline the proxy stops waiting for a node's answer and says
/// so itself: before the caller gives up, so that a node that hung is out of rotation by the
/// time the caller's next call arrives.
const DEADLINE_MARGIN: Duration = Duration::from_millis(20);

/// An attempt waiting for a node's answer. Dropped unanswered (the caller gave up) once the
/// call's deadline has passed, the node counts as timed out: the caller's own deadline fires
/// just before the proxy's, and the node that hung must still leave rotation.
struct Waiting<'a> {
    client: &'a Client,
    service: &'a str,
    node: &'a Node,
    deadline: Option<Instant>,
    sent: Instant,
    answered: bool,
}

impl Waiting<'_> {
    fn answered(mut self) {
        self.answered = true;
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let late = self
            .deadline
            .is_some_and(|d| Instant::now() + DEADLINE_SLACK >= d);
        if !self.answered {
            // Marked either way: the selector counts the node's calls in flight.
            let outcome = match self.deadline {
                Some(_) if late => Outcome::timed_out_after(self.sent.elapsed()),
                _ => Outcome::Failed,
            };
            self.client.mark(self.service, self.node, outcome);
        }
    }
}

/// How close to its deadline a caller that goes away counts as having timed out.
const DEADLINE_SLACK: Duration = Duration::from_millis(100);

/// The proxy: forwards calls through `client`'s selector and connections.
#[derive(Debug, Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    backend: Backend,
    /// Where this proxy listens, once it does: a node there is the proxy itself.
    own: OnceLock<SocketAddr>,
}

impl Proxy {
    /// Forwards calls to `backend` with `client` (which should not itself go through a proxy:
    /// build it with [`no_proxy`](micro::client::ClientBuilder::no_proxy)).
    pub fn new(client: Client, backend: Backend) -> Proxy {
        if client.proxy().is_some() {
            tracing::warn!("the proxy's client goes through a proxy itself; calls may loop");
        }
        Proxy {
            inner: Arc::new(Inner {
                client,
                backend,
                own: OnceLock::new(),
            }),
        }
    }

    /// Tells the proxy where it listens, so that it never forwards a call to itself.
    pub fn listening_on(&self, address: SocketAddr) {
        let _ = self.inner.own.set(address);
    }

    /// The proxy as a server's [`Forward`].
    pub fn forwarder(&self) -> Arc<dyn Forward> {
        Arc::new(self.clone())
    }
}

impl Forward for Proxy {
    fn forward(
        &self,
        target: Target,
        request: ForwardRequest,
        _peer: Option<SocketAddr>,
    ) -> BoxFuture<'static, ForwardResponse> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            inner
                .forward(&target, request)
                .await
                .unwrap_or_else(|err| err.to_status().into_http())
        })
    }
}

impl Inner {
    async fn forward(
        &self,
        target: &Target,
        request: ForwardRequest,
    ) -> Result<ForwardResponse, Error> {
        let received = Instant::now();
        let service = &target.service;
        let checked = match micro::grpc_timeout::decode(request.headers()) {
            Ok(timeout) => self
                .nodes(service)
                .await
                .map(|(select_as, next)| (timeout.map(|t| received + t), select_as, next)),
            Err(raw) => Err(Error::bad_request(
                PROXY_ID,
                format!(
                    "invalid grpc-timeout {raw:?} calling {service}.{}",
                    target.endpoint
                ),
            )),
        };
        let (deadline, select_as, mut next) = match checked {
            Ok(checked) => checked,
            // Refused before the body is read: read it first, so the caller sees the status.
            Err(err) => {
                return Ok(micro::server::refuse(request, err.to_status().into_http()).await)
            }
        };
        let (parts, body) = request.into_parts();
        let replay = Replay::new(body, REPLAY_LIMIT);
        let attempt_timeout = self.client.attempt_timeout();
        let mut tried: Vec<String> = Vec::new();
        // Each node once, and at least one retry (on the same node when it is the only one),
        // as the client does by default.
        for _ in 0..next.len().max(1 + micro::client::DEFAULT_RETRIES as usize) {
            let Some(node) = next.next_node().cloned() else {
                break;
            };
            if self.is_self(&node.address) {
                tried.push(format!("{} (this proxy)", node.address));
                continue;
            }
            let remaining = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Err(deadline_passed(target, &tried)),
                },
                None => None,
            };
            let mut upstream = http::Request::new(replay.attempt());
            *upstream.method_mut() = parts.method.clone();
            *upstream.uri_mut() = parts.uri.clone();
            *upstream.version_mut() = parts.version;
            *upstream.headers_mut() = parts.headers.clone();
            if let Some(left) = remaining {
                let value = micro::grpc_timeout::encode(left);
                if let Ok(value) = http::HeaderValue::from_bytes(value.as_bytes()) {
                    upstream
                        .headers_mut()
                        .insert(micro::grpc_timeout::HEADER, value);
                }
            }
            let upstream = upstream.map(tonic::body::Body::new);
            self.client.selector().started(select_as, &node);
            let waiting = Waiting {
                client: &self.client,
                service: select_as,
                node: &node,
                deadline,
                sent: Instant::now(),
                answered: false,
            };
            let sent = self.client.send_http(&node, select_as, upstream);
            // The answer's headers within the call's deadline, or the client's attempt timeout
            // when that is shorter (a retry on another node then still fits).
            let bound = match (
                remaining.map(|left| left.saturating_sub(DEADLINE_MARGIN)),
                attempt_timeout,
            ) {
                (Some(left), Some(limit)) => Some(left.min(limit)),
                (left, limit) => left.or(limit),
            };
            let sent = match bound {
                Some(bound) => match tokio::time::timeout(bound, sent).await {
                    Ok(sent) => sent,
                    Err(_) => {
                        waiting.answered();
                        self.client
                            .mark(select_as, &node, Outcome::timed_out_after(bound));
                        // Another node only while more than the margin is left.
                        let time_left = deadline.is_none_or(|d| {
                            d.saturating_duration_since(Instant::now()) > DEADLINE_MARGIN
                        });
                        if !(time_left && replay.can_replay()) {
                            return Err(deadline_passed(target, &tried));
                        }
                        tried.push(format!("{} (no answer within {bound:?})", node.address));
                        continue;
                    }
                },
                None => sent.await,
            };
            waiting.answered();
            match sent {
                Ok(Ok(response)) => {
                    self.client.mark(select_as, &node, Outcome::Succeeded);
                    replay.settle();
                    let address = node.address.clone();
                    return Ok(response.map(|body| {
                        tonic::body::Body::new(Upstream::new(body, service.clone(), address))
                    }));
                }
                Ok(Err(err)) => {
                    self.client.mark(select_as, &node, Outcome::Unreachable);
                    tried.push(format!("{} ({})", node.address, transport_error(&err)));
                    if !replay.can_replay() {
                        break;
                    }
                }
                Err(err) => {
                    // The node's address is not one to connect to.
                    self.client.mark(select_as, &node, Outcome::Unreachable);
                    tried.push(format!("{} ({})", node.address, err.detail));
                }
            }
        }
        Err(Error::unavailable(
            PROXY_ID,
            format!(
                "no node of {service} could be reached for {}: tried {}",
                target.endpoint,
                tried.join(", ")
            ),
        ))
    }

    /// The nodes to try, and the service the selector knows them by.
    async fn nodes<'a>(&'a self, service: &'a str) -> Result<(&'a str, Next), Error> {
        let selector = self.client.selector();
        let found = |select_as: &'a str| async move {
            match selector.select(select_as, &SelectOptions::default()).await {
                Ok(next) => Ok((select_as, next)),
                Err(micro::selector::SelectError::NotFound(_)) => Err(Error::not_found(
                    PROXY_ID,
                    format!("service {select_as} not found"),
                )),
                Err(micro::selector::SelectError::NoneAvailable(_)) => Err(Error::unavailable(
                    PROXY_ID,
                    format!("no node of service {select_as} is available"),
                )),
                Err(err) => Err(Error::internal_server_error(
                    PROXY_ID,
                    format!("looking up {select_as}: {err}"),
                )),
            }
        };
        match &self.backend {
            Backend::Discover => found(service).await,
            Backend::Service(fixed) => found(fixed).await,
            Backend::Address(address) => Ok((
                service,
                Next::new(vec![Node {
                    id: address.clone(),
                    address: address.clone(),
                    metadata: Default::default(),
                }]),
            )),
        }
    }

    /// Whether `address` is where this proxy listens.
    fn is_self(&self, address: &str) -> bool {
        let (Some(own), Ok(node)) = (self.own.get(), address.parse::<SocketAddr>()) else {
            return false;
        };
        own.port() == node.port()
            && (own.ip() == node.ip()
                || (own.ip().is_unspecified()
                    && (node.ip().is_loopback() || node.ip().is_unspecified())))
    }
}

fn deadline_passed(target: &Target, tried: &[String]) -> Error {
    let mut detail = format!(
        "the deadline of the call to {}.{} passed in the proxy",
        target.service, target.endpoint
    );
    if !tried.is_empty() {
        detail.push_str(&format!(" after trying {}", tried.join(", ")));
    }
    Error::timeout(PROXY_ID, detail)
}

/// A transport error in a few words: its innermost cause.
fn transport_error(err: &tonic::transport::Error) -> String {
    let mut source: &dyn std::error::Error = err;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}
