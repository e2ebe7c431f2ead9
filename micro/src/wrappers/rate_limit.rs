//! Rate limits (go-plugins' `wrapper/ratelimiter`): so many requests per second per service
//! or per endpoint, for servers (the excess answered 429, gRPC ResourceExhausted) and clients
//! (the excess waits for its turn within its deadline, or fails at once).
//!
//! Each key has a bucket of `burst` tokens refilled at `per_second`; a request takes one, so at
//! most `burst + per_second × t` are admitted in any `t` seconds. The default burst is 2: with
//! room for one token more than a request needs, time refilled while the next request is on
//! its way is kept, and steady traffic gets its full rate (with 1 it would get less). Written here rather than taken from a crate: it is twenty lines, and a
//! dependency would be the larger part.

use crate::client::Attempt;
use crate::layer::Stack;
use crate::server::Request;
use crate::Error;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// What a request over the limit gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Excess {
    /// 429 at once.
    Refuse,
    /// Waits for a token, as long as its deadline allows (then 429).
    Wait,
}

/// Limits requests to `per_second` per service (or per endpoint).
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    per_second: f64,
    burst: f64,
    per_endpoint: bool,
    excess: Excess,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimitLayer {
    /// `per_second` requests a second per service, a burst of two, the excess refused.
    pub fn new(per_second: f64) -> Self {
        RateLimitLayer {
            per_second: per_second.max(f64::MIN_POSITIVE),
            burst: 2.0,
            per_endpoint: false,
            excess: Excess::Refuse,
            buckets: Arc::default(),
        }
    }

    /// A limit for each endpoint instead of one for the whole service.
    pub fn per_endpoint(mut self) -> Self {
        self.per_endpoint = true;
        self
    }

    /// Up to `burst` requests at once after a quiet spell (at least 1).
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = f64::from(burst.max(1));
        self
    }

    /// Requests over the limit wait for their turn (within their deadline) instead of being
    /// refused at once; for clients.
    pub fn wait(mut self) -> Self {
        self.excess = Excess::Wait;
        self
    }

    /// Takes a token for `key`, or says how long until one is there.
    fn take(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refilled = now.saturating_duration_since(bucket.at).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refilled).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }

    /// Admits a request for `key` (`what` names it in the error), waiting if told to and
    /// `deadline` allows.
    async fn admit(
        &self,
        key: String,
        what: String,
        id: String,
        deadline: Option<Instant>,
    ) -> crate::Result<()> {
        loop {
            let wait = match self.take(&key) {
                Ok(()) => return Ok(()),
                Err(wait) => wait,
            };
            let in_time = deadline.is_none_or(|d| Instant::now() + wait < d);
            if self.excess == Excess::Refuse || !in_time {
                return Err(Error::new(
                    id,
                    format!(
                        "{what} is over its rate limit of {} requests a second; try again in {wait:?}",
                        self.per_second
                    ),
                    429,
                ));
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// The service of a [`RateLimitLayer`], on either side.
#[derive(Clone)]
pub struct RateLimit<S> {
    layer: RateLimitLayer,
    inner: S,
}

impl<S> std::fmt::Debug for RateLimit<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

impl<Req, Rsp> tower::Layer<Stack<Req, Rsp>> for RateLimitLayer {
    type Service = RateLimit<Stack<Req, Rsp>>;

    fn layer(&self, inner: Stack<Req, Rsp>) -> Self::Service {
        RateLimit {
            layer: self.clone(),
            inner,
        }
    }
}

/// A request a rate limit can key on: the server's [`Request`] and the client's [`Attempt`].
pub trait Limited {
    /// The service called.
    fn service(&self) -> &str;
    /// The endpoint called.
    fn endpoint(&self) -> &str;
    /// When the caller stops waiting.
    fn deadline(&self) -> Option<Instant>;
    /// The id of the 429: the service refusing, or the client.
    fn refused_by(&self) -> String;
}

impl Limited for Request {
    fn service(&self) -> &str {
        Request::service(self)
    }
    fn endpoint(&self) -> &str {
        Request::endpoint(self)
    }
    fn deadline(&self) -> Option<Instant> {
        Request::deadline(self)
    }
    fn refused_by(&self) -> String {
        Request::service(self).to_string()
    }
}

impl Limited for Attempt {
    fn service(&self) -> &str {
        Attempt::service(self)
    }
    fn endpoint(&self) -> &str {
        Attempt::endpoint(self)
    }
    fn deadline(&self) -> Option<Instant> {
        self.timeout().map(|t| Instant::now() + t)
    }
    fn refused_by(&self) -> String {
        crate::client::CLIENT_ID.to_string()
    }
}

impl<Req, Rsp> tower::Service<Req> for RateLimit<Stack<Req, Rsp>>
where
    Req: Limited + Send + 'static,
    Rsp: Send + 'static,
{
    type Response = Rsp;
    type Error = Error;
    type Future = futures::future::BoxFuture<'static, crate::Result<Rsp>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<crate::Result<()>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let (key, what) = if self.layer.per_endpoint {
            let what = format!("{}.{}", request.service(), request.endpoint());
            (what.clone(), what)
        } else {
            (request.service().to_string(), request.service().to_string())
        };
        let (id, deadline) = (request.refused_by(), request.deadline());
        let layer = self.layer.clone();
        // The clone serves this request once admitted; `self.inner` stays ready for the next.
        let mut inner = self.inner.clone();
        Box::pin(async move {
            layer.admit(key, what, id, deadline).await?;
            use tower::ServiceExt;
            inner.ready().await?.call(request).await
        })
    }
}
