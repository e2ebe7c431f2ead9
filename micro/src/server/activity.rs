//! Whether a connection is in use: requests in flight (until their response bodies end), how
//! long it has been quiet, and the timer that closes it once it has been quiet too long.

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Why a connection is closed before its peer closes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// No whole request arrived within the header timeout of accepting it.
    NoRequest,
    /// No request was in flight for the idle timeout.
    Idle,
    /// The listener needed its descriptor for a new connection.
    Evicted,
}

/// One connection's use, shared by its requests and the listener.
#[derive(Debug)]
pub(crate) struct Activity {
    born: Instant,
    /// Requests whose responses have not ended.
    busy: AtomicUsize,
    /// Milliseconds from `born` to when `busy` last fell to zero.
    quiet_since: AtomicU64,
    /// Whether any request arrived.
    served: AtomicBool,
    evicted: AtomicBool,
    /// Told when `busy` falls to zero and on eviction.
    changed: Notify,
}

impl Activity {
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            born: Instant::now(),
            busy: AtomicUsize::new(0),
            quiet_since: AtomicU64::new(0),
            served: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            changed: Notify::new(),
        })
    }

    /// Marks a request in flight until the guard drops.
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        if !self.served.load(Ordering::Relaxed) {
            self.served.store(true, Ordering::Relaxed);
        }
        Busy(Arc::clone(self))
    }

    /// Whether any request arrived.
    pub(crate) fn has_served(&self) -> bool {
        self.served.load(Ordering::Relaxed)
    }

    /// How long the connection has had no request in flight; `None` while one is.
    pub(crate) fn quiet_for(&self) -> Option<Duration> {
        if self.busy.load(Ordering::Acquire) > 0 || self.evicted.load(Ordering::Relaxed) {
            return None;
        }
        let since = Duration::from_millis(self.quiet_since.load(Ordering::Acquire));
        Some(self.born.elapsed().saturating_sub(since))
    }

    /// Completes once no request holds the connection.
    pub(crate) async fn released(&self) {
        while self.busy.load(Ordering::Acquire) > 0 {
            self.changed.notified().await;
        }
    }

    /// Asks the connection to close: the listener needs room.
    pub(crate) fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        self.changed.notify_one();
    }

    /// Resolves once the connection has been quiet too long (`header_timeout` before its first
    /// request, `idle_timeout` after), or is evicted.
    pub(crate) async fn expired(
        &self,
        header_timeout: Duration,
        idle_timeout: Duration,
    ) -> Expired {
        loop {
            if self.evicted.load(Ordering::Acquire) {
                return Expired::Evicted;
            }
            if self.busy.load(Ordering::Acquire) > 0 {
                self.changed.notified().await;
                continue;
            }
            let since = self.quiet_since.load(Ordering::Acquire);
            let served = self.served.load(Ordering::Relaxed);
            let timeout = if served { idle_timeout } else { header_timeout };
            // A timeout too large to add is none.
            let deadline = self
                .born
                .checked_add(Duration::from_millis(since))
                .and_then(|at| at.checked_add(timeout));
            let Some(deadline) = deadline else {
                self.changed.notified().await;
                continue;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    let unchanged = self.busy.load(Ordering::Acquire) == 0
                        && self.quiet_since.load(Ordering::Acquire) == since
                        && self.served.load(Ordering::Relaxed) == served;
                    if unchanged {
                        return if served { Expired::Idle } else { Expired::NoRequest };
                    }
                }
                _ = self.changed.notified() => {}
            }
        }
    }
}

/// A request in flight; dropping it may make the connection quiet.
#[derive(Debug)]
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.0;
        if activity.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            let ms = u64::try_from(activity.born.elapsed().as_millis()).unwrap_or(u64::MAX);
            activity.quiet_since.store(ms, Ordering::Release);
            activity.changed.notify_one();
        }
    }
}

/// A connection's service: each request is busy until its response body ends, and carries the
/// connection's handle for handlers that take the connection over.
#[derive(Debug, Clone)]
pub(crate) struct Tracked<S> {
    pub(crate) inner: S,
    pub(crate) activity: Arc<Activity>,
    pub(crate) handle: super::listener::ConnectionHandle,
}

impl<S, R, B> hyper::service::Service<http::Request<R>> for Tracked<S>
where
    S: tower::Service<http::Request<R>, Response = http::Response<B>> + Clone,
{
    type Response = http::Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = TrackedFuture<tower::util::Oneshot<S, http::Request<R>>>;

    fn call(&self, mut request: http::Request<R>) -> Self::Future {
        request.extensions_mut().insert(self.handle.clone());
        TrackedFuture {
            inner: tower::ServiceExt::oneshot(self.inner.clone(), request),
            busy: Some(self.activity.begin()),
        }
    }
}

pin_project! {
    /// A response on its way; busy until its body ends.
    #[derive(Debug)]
    pub(crate) struct TrackedFuture<F> {
        #[pin]
        inner: F,
        busy: Option<Busy>,
    }
}

impl<F, B, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<TrackedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.inner.poll(cx))?;
        let busy = this.busy.take();
        Poll::Ready(Ok(response.map(|inner| TrackedBody { inner, busy })))
    }
}

pin_project! {
    /// A response body that keeps its connection busy until it ends or is dropped.
    #[derive(Debug)]
    pub(crate) struct TrackedBody<B> {
        #[pin]
        inner: B,
        busy: Option<Busy>,
    }
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            this.busy.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_connection_expires_only_while_nothing_is_in_flight() {
        let header = Duration::from_secs(10);
        let idle = Duration::from_secs(100);
        let activity = Activity::new();
        assert_eq!(activity.expired(header, idle).await, Expired::NoRequest);

        let activity = Activity::new();
        let busy = activity.begin();
        let waiting = tokio::spawn({
            let activity = Arc::clone(&activity);
            async move { (activity.expired(header, idle).await, Instant::now()) }
        });
        tokio::time::sleep(Duration::from_secs(500)).await;
        assert!(!waiting.is_finished(), "expired with a request in flight");
        assert_eq!(activity.quiet_for(), None);
        let ended = Instant::now();
        drop(busy);
        let (why, at) = waiting.await.unwrap();
        assert_eq!(why, Expired::Idle);
        assert_eq!(at.duration_since(ended).as_secs(), 100);

        let activity = Activity::new();
        let _busy = activity.begin();
        activity.evict();
        assert_eq!(activity.expired(header, idle).await, Expired::Evicted);
    }
}
