//! The HTTP broker, the default: no broker server, just the registry.
//!
//! A subscribing process serves `POST /_sub?id=<subscription>` on a port of its own and
//! registers each subscription as a node of service `topic:<topic>`, whose version is the queue
//! group (or `ff.http.broadcast` without one), as go-micro's http broker does. A publisher looks
//! the topic up through the registry cache and posts the message (JSON: header and base64 body)
//! to every broadcast node and to one node of each queue group, trying the group's next node when
//! a delivery fails.

use super::{Broker, BrokerError, Event, Message, MessageHandler, SubscribeOptions, Subscription};
use crate::registry::{Node, RegisterOptions, Registry, RegistryError, Service};
use bytes::Bytes;
use futures::FutureExt;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rand::seq::SliceRandom;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::OnceCell;

/// The version of broadcast subscriptions (go-micro's).
pub(crate) const BROADCAST: &str = "ff.http.broadcast";
const PATH: &str = "/_sub";
/// Largest message accepted.
const MAX_BODY: usize = 16 << 20;
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

fn backend(e: impl std::fmt::Display) -> BrokerError {
    BrokerError::Backend {
        broker: "http",
        detail: e.to_string(),
    }
}

/// Broker over HTTP and the registry.
#[derive(Debug, Clone)]
pub struct HttpBroker {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where subscriptions are registered and publishers look them up (etcd comes behind the
    /// cache from `registry::by_name`, so a publish makes no registry round trip).
    registry: Arc<dyn Registry>,
    /// Where to listen for deliveries (`127.0.0.1:0` by default).
    listen: String,
    /// The delivery server, started by the first subscription.
    server: OnceCell<SocketAddr>,
    subscriptions: Mutex<HashMap<String, Sub>>,
    client: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
    ttl: Duration,
    interval: Duration,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpBroker")
            .field("listen", &self.listen)
            .field("server", &self.server.get())
            .finish_non_exhaustive()
    }
}

struct Sub {
    topic: String,
    handler: MessageHandler,
    auto_ack: bool,
}

impl HttpBroker {
    /// The registry version of broadcast subscriptions (go-micro's); queue groups use their
    /// queue name.
    pub const BROADCAST: &'static str = BROADCAST;

    /// A broker registering subscriptions in `registry`, listening on `127.0.0.1:0`.
    pub fn new(registry: Arc<dyn Registry>) -> Self {
        Self::with_address(registry, "127.0.0.1:0")
    }

    /// As [`new`](Self::new), listening for deliveries on `address`.
    pub fn with_address(registry: Arc<dyn Registry>, address: &str) -> Self {
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build_http();
        HttpBroker {
            inner: Arc::new(Inner {
                registry,
                listen: address.to_string(),
                server: OnceCell::new(),
                subscriptions: Mutex::new(HashMap::new()),
                client,
                ttl: crate::registry::DEFAULT_TTL,
                interval: crate::registry::DEFAULT_INTERVAL,
            }),
        }
    }

    /// Registers each subscription for `ttl`, renewed every `interval` (default 60 s / 30 s).
    /// Call before the first subscription.
    pub fn registering_every(mut self, ttl: Duration, interval: Duration) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.ttl = ttl;
            inner.interval = interval;
        }
        self
    }

    /// The address deliveries arrive on, once a subscription started the server.
    pub fn address(&self) -> Option<SocketAddr> {
        self.inner.server.get().copied()
    }

    async fn server(&self) -> Result<SocketAddr, BrokerError> {
        let inner = Arc::downgrade(&self.inner);
        let listen = self.inner.listen.clone();
        self.inner
            .server
            .get_or_try_init(|| async move {
                let listener = tokio::net::TcpListener::bind(&listen)
                    .await
                    .map_err(|e| backend(format!("listening on {listen}: {e}")))?;
                let address = listener.local_addr().map_err(backend)?;
                tokio::spawn(accept_loop(listener, inner));
                Ok(address)
            })
            .await
            .copied()
    }

    /// Posts `message` to one node; the error says why it was not delivered.
    async fn deliver(&self, node: &Node, body: Bytes) -> Result<(), String> {
        let uri = format!("http://{}{PATH}?id={}", node.address, urlencode(&node.id));
        let request = http::Request::post(uri)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(DELIVERY_TIMEOUT, self.inner.client.request(request))
            .await
            .map_err(|_| format!("no answer within {DELIVERY_TIMEOUT:?}"))?
            .map_err(|e| format!("{e}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            let status = response.status();
            let text = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Err(format!("{status}: {}", String::from_utf8_lossy(&text)))
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn urldecode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            // Bytes, not `&s[..]`: a `%` before a multi-byte character must not split it.
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn accept_loop(listener: tokio::net::TcpListener, inner: Weak<Inner>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if inner.strong_count() == 0 {
            return;
        }
        let inner = inner.clone();
        let service = hyper::service::service_fn(move |req| {
            let inner = inner.clone();
            async move { Ok::<_, std::convert::Infallible>(receive(inner, req).await) }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn reply(status: http::StatusCode, text: String) -> http::Response<Full<Bytes>> {
    let mut rsp = http::Response::new(Full::new(Bytes::from(text)));
    *rsp.status_mut() = status;
    rsp
}

/// One delivery: find the subscription, decode the message, run the handler.
async fn receive(
    inner: Weak<Inner>,
    req: http::Request<hyper::body::Incoming>,
) -> http::Response<Full<Bytes>> {
    use http::StatusCode;
    if req.method() != http::Method::POST || req.uri().path() != PATH {
        return reply(
            StatusCode::NOT_FOUND,
            format!("only POST {PATH} is served here"),
        );
    }
    let id = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("id=")))
        .map(urldecode)
        .unwrap_or_default();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("reading the message: {e}"),
            )
        }
    };
    let message: Message = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            return reply(
                StatusCode::BAD_REQUEST,
                format!("not a broker message: {e}"),
            )
        }
    };
    let Some(inner) = inner.upgrade() else {
        return reply(StatusCode::SERVICE_UNAVAILABLE, "broker stopped".into());
    };
    let found = {
        let subs = inner
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        subs.get(&id)
            .map(|s| (s.topic.clone(), Arc::clone(&s.handler), s.auto_ack))
    };
    let Some((topic, handler, auto_ack)) = found else {
        return reply(StatusCode::NOT_FOUND, format!("no subscription {id} here"));
    };
    let message_id = message.header(super::ID).unwrap_or("").to_string();
    match handler(Event {
        topic: topic.clone(),
        message,
    })
    .await
    {
        Ok(()) => reply(StatusCode::OK, String::new()),
        Err(e) => {
            tracing::warn!(%topic, id = %message_id, error = %e, "subscriber failed");
            if auto_ack {
                reply(StatusCode::OK, String::new())
            } else {
                reply(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
        }
    }
}

#[async_trait::async_trait]
impl Broker for HttpBroker {
    fn name(&self) -> &'static str {
        "http"
    }

    async fn publish(&self, topic: &str, message: Message) -> Result<(), BrokerError> {
        let services = match self
            .inner
            .registry
            .get_service(&format!("topic:{topic}"))
            .await
        {
            Ok(s) => s,
            // Nobody listens: not the publisher's problem.
            Err(RegistryError::NotFound) => return Ok(()),
            Err(e) => return Err(backend(format!("looking up subscribers of {topic}: {e}"))),
        };
        let body = Bytes::from(serde_json::to_vec(&message).map_err(backend)?);
        let mut deliveries = Vec::new();
        for service in services.iter() {
            let this = self.clone();
            let body = body.clone();
            let topic = topic.to_string();
            deliveries.push(async move {
                if service.version == BROADCAST {
                    let all = service.nodes.iter().map(|node| {
                        let (this, body, topic) = (this.clone(), body.clone(), topic.clone());
                        async move {
                            if let Err(e) = this.deliver(node, body).await {
                                tracing::warn!(%topic, node = %node.address, error = %e, "delivery failed; node skipped");
                            }
                        }
                    });
                    futures::future::join_all(all).await;
                    return Ok(());
                }
                // A queue group: one member gets it; a failed delivery goes to the next member.
                let mut nodes = service.nodes.clone();
                nodes.shuffle(&mut rand::rng());
                let mut errors = Vec::new();
                for node in &nodes {
                    match this.deliver(node, body.clone()).await {
                        Ok(()) => return Ok(()),
                        Err(e) => errors.push(format!("{}: {e}", node.address)),
                    }
                }
                Err(backend(format!("no member of queue {} of {topic} took the message: {}", service.version, errors.join("; "))))
            });
        }
        let failures: Vec<BrokerError> = futures::future::join_all(deliveries)
            .await
            .into_iter()
            .filter_map(Result::err)
            .collect();
        match failures.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn subscribe(
        &self,
        topic: &str,
        handler: MessageHandler,
        opts: SubscribeOptions,
    ) -> Result<Subscription, BrokerError> {
        let address = self.server().await?;
        let id = format!("{topic}-{}", uuid::Uuid::new_v4());
        self.inner
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                id.clone(),
                Sub {
                    topic: topic.to_string(),
                    handler,
                    auto_ack: opts.auto_ack,
                },
            );
        let record = Service {
            name: format!("topic:{topic}"),
            version: opts.queue.clone().unwrap_or_else(|| BROADCAST.to_string()),
            nodes: vec![Node {
                id: id.clone(),
                address: address.to_string(),
                metadata: BTreeMap::from(
                    [("broker", "http"), ("topic", topic), ("secure", "false")]
                        .map(|(k, v)| (k.to_string(), v.to_string())),
                ),
            }],
            ..Default::default()
        };
        let registry = Arc::clone(&self.inner.registry);
        let ttl = RegisterOptions {
            ttl: Some(self.inner.ttl),
        };
        if let Err(e) = registry.register(&record, ttl).await {
            self.inner
                .subscriptions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            return Err(backend(format!(
                "registering the subscription to {topic}: {e}"
            )));
        }
        let heartbeat = {
            let (registry, record, interval) =
                (Arc::clone(&registry), record.clone(), self.inner.interval);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(interval).await;
                    if let Err(e) = registry.register(&record, ttl).await {
                        tracing::warn!(error = %e, topic = %record.name, "re-registering a subscription failed");
                    }
                }
            })
        };
        let inner = Arc::clone(&self.inner);
        let stop = async move {
            heartbeat.abort();
            inner
                .subscriptions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            registry
                .deregister(&record)
                .await
                .map_err(|e| backend(format!("deregistering a subscription: {e}")))
        };
        Ok(Subscription::new(topic, opts.queue, stop.boxed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_survive_the_query_string() {
        let id = "topic.go.micro/x y-1&é";
        let encoded = urlencode(id);
        assert_eq!(encoded, "topic.go.micro%2Fx%20y-1%26%C3%A9");
        assert_eq!(urldecode(&encoded), id);
        assert_eq!(urldecode("a%2fb%20c"), "a/b c", "lower-case hex too");
    }

    #[test]
    fn a_stray_percent_is_kept_as_it_is() {
        assert_eq!(urldecode("100%"), "100%");
        assert_eq!(urldecode("%zz%4"), "%zz%4");
        assert_eq!(urldecode("%aé"), "%aé", "no panic on a split character");
    }
}
