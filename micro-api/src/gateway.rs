//! What every handler of the gateway shares: its state, reading a bounded body, the call
//! options an HTTP request makes, and errors and JSON as HTTP responses.

use crate::options::Options;
use crate::routes;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, StatusCode};
use http_body_util::BodyExt;
use micro::codec::Codec;
use micro::registry::Registry;
use micro::{CallOptions, Client, Error};
use std::sync::Arc;

/// The id of errors the gateway raises itself.
pub(crate) const API_ID: &str = "go.micro.api";

/// The gateway's state, shared by every request.
pub(crate) struct Gateway {
    pub(crate) client: Client,
    pub(crate) registry: Arc<dyn Registry>,
    pub(crate) options: Options,
    pub(crate) routes: routes::Table,
    /// For the http and web handlers.
    pub(crate) http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<Bytes>,
    >,
}

/// `value` as a JSON response with `status`.
pub(crate) fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, Codec::Json.content_type())],
        value.to_string(),
    )
        .into_response()
}

/// A micro error as HTTP: its JSON, with the status its code maps to.
pub fn error_response(err: &Error) -> Response {
    let status = match err.code {
        // The server does not know the endpoint: for HTTP that is simply not found.
        501 => StatusCode::NOT_FOUND,
        // The gateway's own 408: the client was too slow sending its request.
        408 if err.id == API_ID => StatusCode::REQUEST_TIMEOUT,
        // A deadline passed on the way: the gateway timed out.
        408 => StatusCode::GATEWAY_TIMEOUT,
        code => u16::try_from(code)
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .filter(|s| !s.is_informational() && !s.is_success())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    };
    let body = serde_json::to_string(err).unwrap_or_default();
    (
        status,
        [(header::CONTENT_TYPE, Codec::Json.content_type())],
        body,
    )
        .into_response()
}

/// The registered versions of `service`: 404 when it has none, 503 when the registry fails.
pub(crate) async fn lookup(
    gw: &Gateway,
    service: &str,
) -> Result<Arc<Vec<micro::registry::Service>>, Error> {
    gw.registry.get_service(service).await.map_err(|e| match e {
        micro::registry::RegistryError::NotFound => {
            Error::not_found(API_ID, format!("service {service} not found"))
        }
        e => Error::unavailable(API_ID, e.to_string()),
    })
}

/// Whether a request with these headers may reach `endpoint` of `service` through the gateway.
/// The framework's own `Debug.*` endpoints are refused unless the gateway is told to route to
/// them: they tell memory, request counts and logs, which are not for outside callers. With
/// auth at the edge, the caller's token is checked against the rules here, so a caller without
/// one never reaches a service.
pub(crate) fn check_endpoint(
    options: &Options,
    headers: &HeaderMap,
    service: &str,
    endpoint: &str,
) -> Result<(), Error> {
    if !options.enable_debug && endpoint.starts_with("Debug.") {
        return Err(Error::not_found(
            API_ID,
            format!("{endpoint} of {service} is not served through the gateway"),
        ));
    }
    if let Some(policy) = &options.auth {
        // A header that is not text is no token: refused as malformed, not as missing.
        let authorization = headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or(""));
        policy
            .check(service, endpoint, authorization)
            .map_err(|e| e.into_error(API_ID))?;
    }
    Ok(())
}

/// Reads the body, refusing more than `max_body` bytes (by Content-Length first, without
/// reading), and a body slower than `body_timeout`.
pub(crate) async fn read_body(
    request: Request,
    options: &Options,
) -> Result<(http::request::Parts, Bytes), Error> {
    let max = options.max_body;
    let (parts, body) = request.into_parts();
    let too_large = || Error::too_large(API_ID, format!("request body larger than {max} bytes"));
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let collected = tokio::time::timeout(
        options.body_timeout,
        http_body_util::Limited::new(body, max).collect(),
    );
    let Ok(collected) = collected.await else {
        let detail = format!(
            "the request body did not arrive within the body timeout of {:?}",
            options.body_timeout
        );
        return Err(Error::new(API_ID, detail, 408));
    };
    let bytes = collected
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                too_large()
            } else {
                Error::bad_request(API_ID, format!("reading the body: {e}"))
            }
        })?
        .to_bytes();
    Ok((parts, bytes))
}

/// The request's content type, empty when it has none.
pub(crate) fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The call options an HTTP request makes: its headers as metadata, less the HTTP plumbing, the
/// framework's own headers (`micro-*`, `grpc-*`: an outside caller cannot claim to be a service
/// or set a deadline header) and cookies.
pub(crate) fn call_options(headers: &HeaderMap) -> CallOptions {
    let mut opts = CallOptions::default();
    // Headers travel on as metadata, minus the HTTP plumbing.
    for (k, v) in headers {
        let skip = matches!(
            k.as_str(),
            "host"
                | "content-type"
                | "content-length"
                | "connection"
                | "accept"
                | "accept-encoding"
                | "user-agent"
                | "origin"
                | "cookie"
        ) || k.as_str().starts_with("access-control-")
            || k.as_str().starts_with("micro-")
            || k.as_str().starts_with("grpc-");
        if let (false, Ok(v)) = (skip, v.to_str()) {
            opts = opts.metadata(k.as_str(), v);
        }
    }
    opts
}
