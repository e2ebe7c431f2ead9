//! [`AuthLayer`] (go-micro's auth handler wrapper): every call to a server checked against a
//! [`Policy`]: its token verified and the rules for its endpoint applied, before the handler
//! runs. The handler sees the caller in [`Context::account`](crate::Context::account).

use crate::auth::{Policy, AUTHORIZATION};
use crate::layer::Stack;
use crate::server::{Reply, Request};
use crate::Error;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Refuses calls the policy does not let through: 401 (no token, a malformed, expired or
/// forged one), 403 (a scope missing, named), raised by the service called.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    policy: Arc<Policy>,
}

impl AuthLayer {
    /// Enforces `policy`.
    pub fn new(policy: Arc<Policy>) -> Self {
        AuthLayer { policy }
    }
}

impl tower::Layer<Stack<Request, Reply>> for AuthLayer {
    type Service = Auth<Stack<Request, Reply>>;

    fn layer(&self, inner: Stack<Request, Reply>) -> Self::Service {
        Auth {
            policy: Arc::clone(&self.policy),
            inner,
        }
    }
}

/// The service of an [`AuthLayer`].
#[derive(Clone)]
pub struct Auth<S> {
    policy: Arc<Policy>,
    inner: S,
}

impl<S> std::fmt::Debug for Auth<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").finish_non_exhaustive()
    }
}

impl tower::Service<Request> for Auth<Stack<Request, Reply>> {
    type Response = Reply;
    type Error = Error;
    type Future = futures::future::Either<
        <Stack<Request, Reply> as tower::Service<Request>>::Future,
        std::future::Ready<crate::Result<Reply>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<crate::Result<()>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        use futures::future::Either;
        let checked = self.policy.check(
            request.service(),
            request.endpoint(),
            request.metadata().get(AUTHORIZATION).map(String::as_str),
        );
        match checked {
            Ok(account) => {
                request.context.account = account;
                Either::Left(self.inner.call(request))
            }
            Err(refused) => Either::Right(std::future::ready(Err(
                refused.into_error(request.service())
            ))),
        }
    }
}
