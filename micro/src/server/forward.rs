//! Calls a server hands on instead of serving: what a proxy is made of. A server given a
//! [`Forward`] serves its own endpoints (`Debug.*`, the gRPC health check, its handlers) and
//! gives every call addressed to another service to the forwarder, whole: headers, body frames
//! and all, undecoded.

use super::request::{Body, EndHooks, Reply, ReplyKind, Request, To};
use super::Shared;
use crate::codec::Codec;
use crate::context::Context;
use crate::Error;
use bytes::Bytes;
use futures::future::BoxFuture;
use http_body::Frame;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// A request as the server received it, its body not read.
pub type ForwardRequest = http::Request<tonic::body::Body>;
/// What goes back to the caller, trailers and all.
pub type ForwardResponse = http::Response<tonic::body::Body>;

/// Takes the calls a server is not the target of.
pub trait Forward: Send + Sync + std::fmt::Debug + 'static {
    /// Answers `request` for `target` (the request came from `peer`).
    fn forward(
        &self,
        target: Target,
        request: ForwardRequest,
        peer: Option<SocketAddr>,
    ) -> BoxFuture<'static, ForwardResponse>;
}

/// The header naming the target service when the path carries only `/Handler/Method`.
pub const SERVICE_HEADER: &str = "micro-service";

/// Whom a call is for, from its gRPC path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The service: the path's package, or the `micro-service` header.
    pub service: String,
    /// `Handler.Method`.
    pub endpoint: String,
}

/// Where a call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// To this server.
    Here,
    /// On, to another service.
    On(Target),
    /// Nowhere: the path is not `/[package.]Handler/Method`.
    Malformed(String),
}

/// Where a call to `path` with `headers` goes, for a server named `own` that forwards: the
/// path's package is the service (go-micro derives it so: `/go.micro.srv.greeter.Greeter/Call`
/// is `Greeter.Call` of `go.micro.srv.greeter`); a path without one is for the service the
/// `micro-service` header names, else for this server.
pub(crate) fn route(path: &str, headers: &http::HeaderMap, own: &str) -> Route {
    let Some((service_part, method)) = path.strip_prefix('/').and_then(|p| p.split_once('/'))
    else {
        return Route::Malformed(format!(
            "malformed gRPC path {path:?}: want /package.Handler/Method"
        ));
    };
    if service_part.is_empty() || method.is_empty() || method.contains('/') {
        return Route::Malformed(format!(
            "malformed gRPC path {path:?}: want /package.Handler/Method"
        ));
    }
    let (package, handler) = match service_part.rsplit_once('.') {
        Some((package, handler)) => (Some(package), handler),
        None => (None, service_part),
    };
    if handler.is_empty() || package == Some("") {
        return Route::Malformed(format!(
            "malformed gRPC path {path:?}: want /package.Handler/Method"
        ));
    }
    let header = headers
        .get(SERVICE_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty());
    let service = match (package, header) {
        (Some(package), _) => package,
        (None, Some(header)) => header,
        (None, None) => return Route::Here,
    };
    if service == own {
        return Route::Here;
    }
    Route::On(Target {
        service: service.to_string(),
        endpoint: format!("{handler}.{method}"),
    })
}

/// Forwards `request` for `target`: through the server's layers when it has any (they see it
/// as a [`Request`] of the target's service and endpoint, and its end when the answer's
/// trailers pass), else straight.
pub(crate) async fn serve(
    shared: &Arc<Shared>,
    forward: &Arc<dyn Forward>,
    target: Target,
    request: ForwardRequest,
    peer: Option<SocketAddr>,
) -> ForwardResponse {
    let (service, endpoint) = (target.service.clone(), target.endpoint.clone());
    let call = || format!("{service}.{endpoint}");
    let stopping = || super::guard::stopping(&shared.name, &call());
    let Some(stack) = &shared.stack else {
        return tokio::select! {
            response = forward.forward(target, request, peer) => cut_short(response, shared, call()),
            _ = shared.cut.cancelled() => stopping().to_status().into_http(),
        };
    };
    let codec = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(Codec::from_content_type)
        .unwrap_or(Codec::Proto);
    // An invalid grpc-timeout is the forwarder's to refuse; the layers see no deadline.
    let deadline = crate::grpc_timeout::decode(request.headers())
        .ok()
        .flatten()
        .map(|t| std::time::Instant::now() + t);
    let request = Request {
        context: Context {
            service: target.service,
            endpoint: target.endpoint,
            metadata: crate::metadata::from_headers(request.headers()),
            deadline,
            account: None,
        },
        peer,
        codec,
        body: Body::Forward(Box::new(request)),
        to: To::Forward(Arc::clone(forward)),
    };
    let answered = tokio::select! {
        answered = tower::ServiceExt::oneshot(stack.clone(), request) => answered,
        _ = shared.cut.cancelled() => Err(stopping()),
    };
    match answered {
        Ok(Reply {
            kind: ReplyKind::Forwarded(response),
            on_end,
        }) => {
            let response = cut_short(response, shared, call());
            if on_end.is_empty() {
                return response;
            }
            let hooks = EndHooks::new(on_end, &service, &endpoint);
            watched(response, hooks, &service)
        }
        Ok(_) => {
            let err = Error::internal_server_error(
                &shared.name,
                format!("a layer answered the call to {service}.{endpoint} itself; a forwarded call is answered by the service it goes to"),
            );
            err.to_status().into_http()
        }
        Err(err) => err.to_status().into_http(),
    }
}

/// `response` (to `call`, `Service.Handler.Method`), ended with Unavailable if it is still
/// streaming when the server's drain runs out.
fn cut_short(response: ForwardResponse, shared: &Shared, call: String) -> ForwardResponse {
    if tonic::Status::from_header_map(response.headers()).is_some() {
        return response;
    }
    let token = shared.cut.clone();
    let waiting = Box::pin(token.clone().cancelled_owned());
    let server = shared.name.clone();
    response.map(|body| {
        tonic::body::Body::new(CutShort {
            inner: body,
            token,
            waiting,
            server,
            call,
            done: false,
        })
    })
}

/// A forwarded answer's body that ends with Unavailable when the server stops waiting for it,
/// whether it is waiting for the node or passing a busy stream on.
struct CutShort {
    inner: tonic::body::Body,
    token: CancellationToken,
    waiting: Pin<Box<WaitForCancellationFutureOwned>>,
    /// Named in the status: this server, and the call.
    server: String,
    call: String,
    /// The cut's trailers were sent.
    done: bool,
}

impl http_body::Body for CutShort {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        if self.done {
            return Poll::Ready(None);
        }
        // A stream that always has data ready is cut too.
        let cut = self.token.is_cancelled();
        let polled = match cut {
            true => Poll::Pending,
            false => Pin::new(&mut self.inner).poll_frame(cx),
        };
        if polled.is_pending() && (cut || self.waiting.as_mut().poll(cx).is_ready()) {
            self.done = true;
            let stopping = super::guard::stopping(&self.server, &self.call);
            let mut trailers = http::HeaderMap::new();
            let sent = stopping.to_status().add_header(&mut trailers);
            return Poll::Ready(Some(sent.map(|()| Frame::trailers(trailers))));
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }
}

/// `response` with `hooks` told how it ended: by its status (in its headers when it has no
/// body, else in its trailers), by a broken body, or by the caller going away (when dropped).
fn watched(response: ForwardResponse, hooks: EndHooks, service: &str) -> ForwardResponse {
    if let Some(status) = tonic::Status::from_header_map(response.headers()) {
        ended(&hooks, service, &status);
        return response;
    }
    let service = service.to_string();
    response.map(|body| {
        tonic::body::Body::new(Watched {
            inner: body,
            hooks: Some(hooks),
            service,
        })
    })
}

fn ended(hooks: &EndHooks, service: &str, status: &tonic::Status) {
    if status.code() == tonic::Code::Ok {
        hooks.ended(Ok(()));
    } else {
        hooks.ended(Err(&Error::from_status(service, status)));
    }
}

/// A forwarded answer's body, passed on; its trailers tell the hooks how the call ended.
struct Watched {
    inner: tonic::body::Body,
    hooks: Option<EndHooks>,
    service: String,
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let status = match &polled {
            Poll::Ready(Some(Ok(frame))) => frame.trailers_ref().map(|t| {
                tonic::Status::from_header_map(t)
                    .unwrap_or_else(|| tonic::Status::unknown("trailers without a grpc-status"))
            }),
            Poll::Ready(Some(Err(status))) => Some(status.clone()),
            Poll::Ready(None) => Some(tonic::Status::unknown("the answer ended without a status")),
            Poll::Pending => None,
        };
        if let Some(status) = status {
            if let Some(hooks) = self.hooks.take() {
                ended(&hooks, &self.service, &status);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routed(path: &str, header: Option<&str>) -> Route {
        let mut headers = http::HeaderMap::new();
        if let Some(h) = header {
            headers.insert(SERVICE_HEADER, h.parse().unwrap());
        }
        route(path, &headers, "go.micro.proxy")
    }

    fn on(service: &str, endpoint: &str) -> Route {
        Route::On(Target {
            service: service.into(),
            endpoint: endpoint.into(),
        })
    }

    #[test]
    fn the_package_is_the_service() {
        assert_eq!(
            routed("/go.micro.srv.greeter.Greeter/Call", None),
            on("go.micro.srv.greeter", "Greeter.Call")
        );
        assert_eq!(
            routed("/helloworld.Greeter/SayHello", None),
            on("helloworld", "Greeter.SayHello")
        );
        // The path wins over the header.
        assert_eq!(routed("/a.b.Foo/Bar", Some("other")), on("a.b", "Foo.Bar"));
    }

    #[test]
    fn without_a_package_the_header_names_the_service() {
        assert_eq!(
            routed("/Greeter/Call", Some("greeter")),
            on("greeter", "Greeter.Call")
        );
        assert_eq!(routed("/Debug/Health", None), Route::Here);
        assert_eq!(routed("/go.micro.proxy.Debug/Health", None), Route::Here);
        assert_eq!(routed("/Debug/Health", Some("go.micro.proxy")), Route::Here);
    }

    #[test]
    fn malformed_paths() {
        for path in [
            "/",
            "/Greeter",
            "Greeter/Call",
            "/Greeter/",
            "//Call",
            "/.Greeter/Call",
            "/a.b./Call",
            "/a.B/c/d",
        ] {
            assert!(matches!(routed(path, None), Route::Malformed(_)), "{path}");
        }
    }
}
