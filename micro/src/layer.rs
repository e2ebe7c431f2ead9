//! Layers: tower [`Layer`]s around what micro serves and sends, as go-micro's wrappers
//! (`server.WrapHandler`, `server.WrapSubscriber`, `client.Wrap`).
//!
//! A layer wraps a [`tower::Service`] from a request to a response or a
//! [`micro::Error`](crate::Error): the server's [`Request`](crate::server::Request) to a
//! [`Reply`](crate::server::Reply), a subscriber's [`Delivery`](crate::server::Delivery) to `()`,
//! a client's [`Attempt`](crate::client::Attempt) to its reply. The first layer added is the
//! outermost, as in tower's `ServiceBuilder`: it sees the request first and the response last.

use crate::Error;
use std::sync::Arc;
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service};

/// A service with every layer around it, boxed.
pub type Stack<Req, Rsp> = BoxCloneSyncService<Req, Rsp, Error>;

/// What every `layer` method takes: a tower [`Layer`] that goes around a [`Stack`] of `Req` to
/// `Rsp` and gives a service that can itself be stacked (cloned, sent, shared). Every such
/// layer is one; there is nothing to implement.
pub trait StackLayer<Req, Rsp>: Send + Sync + 'static {
    /// `inner` inside this layer, boxed.
    fn wrap(&self, inner: Stack<Req, Rsp>) -> Stack<Req, Rsp>;
}

impl<L, Req, Rsp> StackLayer<Req, Rsp> for L
where
    Req: Send + 'static,
    Rsp: Send + 'static,
    L: Layer<Stack<Req, Rsp>> + Send + Sync + 'static,
    L::Service: Service<Req, Response = Rsp, Error = Error> + Clone + Send + Sync + 'static,
    <L::Service as Service<Req>>::Future: Send + 'static,
{
    fn wrap(&self, inner: Stack<Req, Rsp>) -> Stack<Req, Rsp> {
        BoxCloneSyncService::new(self.layer(inner))
    }
}

/// Layers to put around one kind of service, outermost first.
pub struct Layers<Req, Rsp> {
    wraps: Vec<Arc<dyn StackLayer<Req, Rsp>>>,
}

impl<Req, Rsp> Default for Layers<Req, Rsp> {
    fn default() -> Self {
        Layers { wraps: Vec::new() }
    }
}

impl<Req, Rsp> Clone for Layers<Req, Rsp> {
    fn clone(&self) -> Self {
        Layers {
            wraps: self.wraps.clone(),
        }
    }
}

impl<Req, Rsp> std::fmt::Debug for Layers<Req, Rsp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layers")
            .field("count", &self.wraps.len())
            .finish()
    }
}

impl<Req: Send + 'static, Rsp: Send + 'static> Layers<Req, Rsp> {
    /// Adds `layer` inside the ones added before it.
    pub fn push(&mut self, layer: impl StackLayer<Req, Rsp>) {
        self.wraps.push(Arc::new(layer));
    }

    /// Adds `layer` outside the ones added before it.
    pub fn push_outermost(&mut self, layer: impl StackLayer<Req, Rsp>) {
        self.wraps.insert(0, Arc::new(layer));
    }

    /// Whether there are none (then nothing is boxed and calls go straight through).
    pub fn is_empty(&self) -> bool {
        self.wraps.is_empty()
    }

    /// `inner` with every layer around it.
    pub fn around<S>(&self, inner: S) -> Stack<Req, Rsp>
    where
        S: Service<Req, Response = Rsp, Error = Error> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
    {
        self.wraps
            .iter()
            .rev()
            .fold(BoxCloneSyncService::new(inner), |inner, layer| {
                layer.wrap(inner)
            })
    }
}

/// A layer made of an async function, as axum's `middleware::from_fn`: it gets each request and
/// the rest of the stack, and answers, by calling [`Next::run`] or not.
///
/// ```
/// use micro::layer::{from_fn, Next};
/// use micro::server::{Reply, Request};
///
/// let require_key = from_fn(|request: Request, next: Next<Request, Reply>| async move {
///     if !request.metadata().contains_key("x-api-key") {
///         return Err(micro::Error::new("auth", "x-api-key is missing", 401));
///     }
///     next.run(request).await
/// });
/// # let _ = micro::Service::builder().layer(require_key);
/// ```
pub fn from_fn<F>(f: F) -> FromFnLayer<F> {
    FromFnLayer { f }
}

/// The rest of the stack, for a [`from_fn`] layer to call.
pub struct Next<Req, Rsp> {
    inner: Stack<Req, Rsp>,
}

impl<Req, Rsp> std::fmt::Debug for Next<Req, Rsp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Next")
    }
}

impl<Req: 'static, Rsp: 'static> Next<Req, Rsp> {
    /// Passes `request` on and answers with what comes back.
    pub async fn run(self, request: Req) -> crate::Result<Rsp> {
        use tower::ServiceExt;
        self.inner.oneshot(request).await
    }
}

/// The layer [`from_fn`] makes.
#[derive(Debug, Clone)]
pub struct FromFnLayer<F> {
    f: F,
}

impl<F: Clone, Req, Rsp> Layer<Stack<Req, Rsp>> for FromFnLayer<F> {
    type Service = FromFn<F, Req, Rsp>;

    fn layer(&self, inner: Stack<Req, Rsp>) -> Self::Service {
        FromFn {
            f: self.f.clone(),
            inner,
        }
    }
}

/// The service of a [`FromFnLayer`].
pub struct FromFn<F, Req, Rsp> {
    f: F,
    inner: Stack<Req, Rsp>,
}

impl<F: Clone, Req, Rsp> Clone for FromFn<F, Req, Rsp> {
    fn clone(&self) -> Self {
        FromFn {
            f: self.f.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<F, Req, Rsp> std::fmt::Debug for FromFn<F, Req, Rsp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FromFn")
    }
}

impl<F, Fut, Req, Rsp> Service<Req> for FromFn<F, Req, Rsp>
where
    F: Fn(Req, Next<Req, Rsp>) -> Fut,
    Fut: std::future::Future<Output = crate::Result<Rsp>> + Send + 'static,
{
    type Response = Rsp;
    type Error = Error;
    type Future = futures::future::BoxFuture<'static, crate::Result<Rsp>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<crate::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        // The clone answers the next call; this one is ready (BoxCloneSyncService always is).
        let next = Next {
            inner: self.inner.clone(),
        };
        Box::pin((self.f)(request, next))
    }
}
