//! `POST /rpc` and `POST /stream`: a call from the dashboard's pages (or a script), as micro
//! v2's `/rpc`: `{service, endpoint, request, address?, metadata?}`, the reply as JSON, errors
//! as the micro error with the HTTP status of its code.

use crate::guard::{json_body, same_origin};
use crate::state::{error_response, json_response, Web};
use crate::WEB_ID;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use http::{header, HeaderMap, StatusCode};
use micro::{CallOptions, Error};
use std::sync::Arc;

/// What to call.
struct Target {
    service: String,
    endpoint: String,
    request: serde_json::Value,
    options: CallOptions,
}

impl Target {
    /// The call `body` asks for, with the caller's `Authorization` passed on.
    async fn read(
        web: &Web,
        body: &serde_json::Value,
        headers: &HeaderMap,
    ) -> Result<Target, Error> {
        let field = |k: &str| {
            body.get(k)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        let service =
            field("service").ok_or_else(|| Error::bad_request(WEB_ID, "missing \"service\""))?;
        let endpoint =
            field("endpoint").ok_or_else(|| Error::bad_request(WEB_ID, "missing \"endpoint\""))?;
        let request = match body.get("request") {
            None | Some(serde_json::Value::Null) => serde_json::json!({}),
            Some(v @ serde_json::Value::Object(_)) => v.clone(),
            Some(_) => {
                return Err(Error::bad_request(
                    WEB_ID,
                    "\"request\" must be a JSON object",
                ))
            }
        };
        let mut options = CallOptions::default();
        match body.get("metadata") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Object(pairs)) => {
                for (k, v) in pairs {
                    let v = v.as_str().ok_or_else(|| {
                        Error::bad_request(WEB_ID, format!("metadata {k:?} must be a string"))
                    })?;
                    options = options.metadata(k.to_ascii_lowercase(), v);
                }
            }
            Some(_) => {
                return Err(Error::bad_request(
                    WEB_ID,
                    "\"metadata\" must be a JSON object of strings",
                ))
            }
        }
        // A header that is not text is no token: refused as malformed, not as missing.
        let authorization = headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or(""));
        if let Some(policy) = &web.options.auth {
            policy
                .check(service, endpoint, authorization)
                .map_err(|e| e.into_error(WEB_ID))?;
        }
        if let Some(token) = authorization {
            options = options.metadata(micro::auth::AUTHORIZATION, token);
        }
        if let Some(address) = field("address") {
            // Only a node of the service named: the dashboard is no way to reach other ports.
            let versions =
                web.registry.get_service(service).await.map_err(|_| {
                    Error::not_found(WEB_ID, format!("service {service} not found"))
                })?;
            if !versions
                .iter()
                .flat_map(|v| &v.nodes)
                .any(|n| n.address == address)
            {
                return Err(Error::bad_request(
                    WEB_ID,
                    format!("address {address} is not a node of {service}"),
                ));
            }
            options = options.address(address);
        }
        Ok(Target {
            service: service.to_string(),
            endpoint: endpoint.to_string(),
            request,
            options,
        })
    }
}

/// Checks the request and reads its target.
async fn target(web: &Web, request: Request) -> Result<Target, Error> {
    same_origin(web, request.headers())?;
    let (parts, body) = request.into_parts();
    let body = json_body(web, body).await?;
    Target::read(web, &body, &parts.headers).await
}

/// `POST /rpc`: one call, its reply.
pub(crate) async fn call(State(web): State<Arc<Web>>, request: Request) -> Response {
    let target = match target(&web, request).await {
        Ok(t) => t,
        Err(refused) => return error_response(&refused),
    };
    let reply = web
        .client
        .call_json(
            &target.service,
            &target.endpoint,
            &target.request,
            target.options,
        )
        .await;
    match reply {
        Ok(reply) => json_response(StatusCode::OK, &reply),
        Err(e) => error_response(&e),
    }
}

/// `POST /stream`: a stream opened with one request; its replies as they come, one JSON per
/// line (`application/x-ndjson`), and an error that ends it as `{"error": {...}}`.
pub(crate) async fn stream(State(web): State<Arc<Web>>, request: Request) -> Response {
    let target = match target(&web, request).await {
        Ok(t) => t,
        Err(refused) => return error_response(&refused),
    };
    let replies = web
        .client
        .stream_json(
            &target.service,
            &target.endpoint,
            futures::stream::iter([target.request]),
            target.options,
        )
        .await;
    let replies = match replies {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let lines = replies.map(|reply| {
        let line = match reply {
            Ok(v) => v.to_string(),
            Err(e) => serde_json::json!({ "error": e }).to_string(),
        };
        Ok::<_, std::convert::Infallible>(format!("{line}\n"))
    });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        axum::body::Body::from_stream(lines),
    )
        .into_response()
}
