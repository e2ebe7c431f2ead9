//! The http and web handlers: reverse proxy to HTTP services found in the registry (see
//! `micro::web`). `http` forwards the path as it is; `web` strips the service segment, so
//! `/greeter/call` reaches the greeter web service as `/call`.

use crate::gateway::{check_endpoint, lookup, read_body, Gateway, API_ID};
use crate::resolve;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use micro::Error;
use rand::seq::SliceRandom;

/// Headers that belong to one hop, not to the request.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "host",
];

/// The header telling a web app the path prefix it is served under.
pub(crate) const BASE_PATH: &str = "x-micro-web-base-path";

pub(crate) async fn proxy(
    gw: &Gateway,
    request: Request,
    strip_service: bool,
) -> Result<Response, Error> {
    let path = request.uri().path().to_string();
    let service = resolve::service_of(&path, &gw.options.namespace)
        .ok_or_else(|| Error::not_found(API_ID, "no service in the path"))?;
    check_endpoint(&gw.options, request.headers(), &service, &path)?;
    let mut nodes: Vec<_> = lookup(gw, &service)
        .await?
        .iter()
        .flat_map(|v| v.nodes.iter().cloned())
        .collect();
    nodes.shuffle(&mut rand::rng());
    // The web handler strips the app's prefix (`/greeter` of `/greeter/x`) and tells the app
    // what it was (`X-Micro-Web-Base-Path`), so its pages can link under it.
    let (base_path, forwarded_path) = if strip_service {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let skip = if segments.first().is_some_and(|v| {
            v.len() > 1 && v.starts_with('v') && v[1..].bytes().all(|b| b.is_ascii_digit())
        }) {
            2
        } else {
            1
        };
        let base = format!("/{}", segments[..skip.min(segments.len())].join("/"));
        let rest = format!("/{}", segments.get(skip..).unwrap_or_default().join("/"));
        (Some(base), rest)
    } else {
        (None, path.clone())
    };
    let query = request
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let mut request = request;
    if let Some(base) = base_path
        .as_deref()
        .and_then(|b| http::HeaderValue::from_str(b).ok())
    {
        request.headers_mut().insert(BASE_PATH, base);
    }
    if strip_service && crate::websocket::is_upgrade(request.headers()) {
        let node = nodes
            .first()
            .ok_or_else(|| Error::unavailable(API_ID, format!("no node of {service}")))?;
        let uri = format!("http://{}{forwarded_path}{query}", node.address);
        return tunnel(gw, request, &uri).await;
    }
    let (parts, body) = read_body(request, &gw.options).await?;
    let mut errors = Vec::new();
    for node in &nodes {
        let mut builder = http::Request::builder()
            .method(parts.method.clone())
            .uri(format!("http://{}{forwarded_path}{query}", node.address));
        for (k, v) in &parts.headers {
            if !HOP_BY_HOP.contains(&k.as_str()) {
                builder = builder.header(k, v);
            }
        }
        let forwarded = builder
            .body(Full::new(body.clone()))
            .map_err(|e| Error::bad_request(API_ID, e.to_string()))?;
        match gw.http.request(forwarded).await {
            Ok(rsp) => {
                let (mut head, body) = rsp.into_parts();
                for h in HOP_BY_HOP {
                    head.headers.remove(*h);
                }
                let body: Bytes = body.collect().await.map(|b| b.to_bytes()).map_err(|e| {
                    Error::unavailable(API_ID, format!("reading the reply of {service}: {e}"))
                })?;
                return Ok(Response::from_parts(head, axum::body::Body::from(body)).into_response());
            }
            Err(e) => errors.push(format!("{}: {e}", node.address)),
        }
    }
    Err(Error::unavailable(
        API_ID,
        format!("no node of {service} answered: {}", errors.join("; ")),
    ))
}

/// The web handler's WebSocket tunnel: forward the upgrade, then copy bytes both ways.
async fn tunnel(gw: &Gateway, mut request: Request, uri: &str) -> Result<Response, Error> {
    let mut builder = http::Request::builder()
        .method(request.method().clone())
        .uri(uri);
    for (k, v) in request.headers() {
        if k != http::header::HOST {
            builder = builder.header(k, v);
        }
    }
    let forwarded = builder
        .body(Full::new(Bytes::new()))
        .map_err(|e| Error::bad_request(API_ID, e.to_string()))?;
    let mut backend = gw
        .http
        .request(forwarded)
        .await
        .map_err(|e| Error::unavailable(API_ID, format!("opening the WebSocket: {e}")))?;
    if backend.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        let (head, body) = backend.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Ok(Response::from_parts(head, axum::body::Body::from(body)));
    }
    let client_side = hyper::upgrade::on(&mut request);
    let backend_side = hyper::upgrade::on(&mut backend);
    // The tunnel stays counted against the listener's cap, and closes at its shutdown.
    let held = request
        .extensions()
        .get::<micro::server::listener::ConnectionHandle>()
        .map(|c| c.hold());
    tokio::spawn(async move {
        let (Ok(client), Ok(server)) = (client_side.await, backend_side.await) else {
            return;
        };
        let mut client = hyper_util::rt::TokioIo::new(client);
        let mut server = hyper_util::rt::TokioIo::new(server);
        let stopping = async {
            match &held {
                Some(held) => held.stopping().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
            _ = stopping => {}
        }
    });
    let mut response = Response::builder().status(http::StatusCode::SWITCHING_PROTOCOLS);
    for (k, v) in backend.headers() {
        response = response.header(k, v);
    }
    response
        .body(axum::body::Body::empty())
        .map_err(|e| Error::internal_server_error(API_ID, e.to_string()))
}
