//! Calls a server hands on instead of serving: what a proxy is made of. A server given a
//! [`Forward`] serves its own endpoints (`Debug.*`, the gRPC health check, its handlers) and
//! gives every call addressed to another service to the forwarder, whole: headers, body frames
//! and all, undecoded.

use futures::future::BoxFuture;
use std::net::SocketAddr;

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
