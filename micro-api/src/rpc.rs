//! The rpc handler (and meta, its default front): declared routes first, then micro v2's path
//! rules; the body and query become a JSON request typed by the endpoint's schema, or protobuf
//! passes through; streaming endpoints go over a WebSocket. Also `POST /rpc`.

use crate::gateway::{
    call_options, check_endpoint, content_type, error_response, json_response, lookup, read_body,
    Gateway, API_ID,
};
use crate::{api, event, query, resolve, routes, websocket};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, StatusCode};
use micro::codec::Codec;
use micro::Error;
use std::sync::Arc;

/// Declared routes first (method, host, path), then micro v2 path resolution.
pub(crate) async fn declared_or_rpc(gw: &Gateway, request: Request) -> Result<Response, Error> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    match gw
        .routes
        .find(request.method().as_str(), &host, request.uri().path())
    {
        None => rpc(gw, request, None).await,
        Some(routes::Match::MethodNotAllowed(allowed)) => Err(Error::method_not_allowed(
            API_ID,
            format!(
                "{} {} is not allowed; the route takes {}",
                request.method(),
                request.uri().path(),
                allowed.join(", ")
            ),
        )),
        Some(routes::Match::Route(route, captures)) => match route.handler.as_str() {
            "" | "rpc" | "meta" => {
                let target = resolve::Route {
                    service: route.service.clone(),
                    endpoint: route.endpoint.clone(),
                };
                let captures = captures
                    .into_iter()
                    .map(|(k, v)| (k, query::decode_path(&v)))
                    .collect();
                rpc(gw, request, Some((target, captures))).await
            }
            "event" => event::event(gw, request).await,
            "api" => {
                let target = resolve::Route {
                    service: route.service.clone(),
                    endpoint: route.endpoint.clone(),
                };
                api::api(gw, request, Some(target)).await
            }
            other => Err(Error::not_implemented(
                API_ID,
                format!(
                    "handler {other:?} of {} is not available yet",
                    route.endpoint
                ),
            )),
        },
    }
}

/// The rpc handler: resolve, build the request (body + query, typed by schema), call.
async fn rpc(
    gw: &Gateway,
    request: Request,
    declared: Option<(resolve::Route, Vec<(String, String)>)>,
) -> Result<Response, Error> {
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let (route, captures) = match declared {
        Some((route, captures)) => (route, captures),
        None => (
            resolve::rpc_route(&path, &gw.options.namespace)
                .ok_or_else(|| Error::not_found(API_ID, "no service in the path"))?,
            Vec::new(),
        ),
    };
    check_endpoint(
        &gw.options,
        request.headers(),
        &route.service,
        &route.endpoint,
    )?;
    let (parts, body) = if websocket::is_upgrade(request.headers()) {
        // A WebSocket upgrade has no body to read; the connection carries the messages.
        (request.into_parts().0, Bytes::new())
    } else {
        read_body(request, &gw.options).await?
    };
    let opts = call_options(&parts.headers);

    // Protobuf passes through as it came; anything else is taken as JSON (and checked).
    if Codec::from_content_type(content_type(&parts.headers)) == Some(Codec::Proto) {
        let reply = gw
            .client
            .call_raw(&route.service, &route.endpoint, Codec::Proto, body, opts)
            .await?;
        if reply.is_empty() {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        return Ok(([(header::CONTENT_TYPE, Codec::Proto.content_type())], reply).into_response());
    }

    let versions = lookup(gw, &route.service).await?;
    let endpoint = versions
        .iter()
        .flat_map(|v| v.endpoints.iter())
        .find(|e| e.name == route.endpoint);
    if endpoint.is_some_and(|e| e.metadata.get("stream").is_some_and(|s| s == "true")) {
        return websocket::serve(gw.client.clone(), route, parts, opts).await;
    }
    let blank = body.iter().all(u8::is_ascii_whitespace);
    if query.is_empty() && captures.is_empty() {
        // Nothing to merge: the body goes on as it came, once checked to be a JSON object,
        // and the service's JSON comes back as it was sent.
        let body = if blank {
            Bytes::from_static(b"{}")
        } else {
            check_object(&body)?;
            body
        };
        let reply = gw
            .client
            .call_raw(&route.service, &route.endpoint, Codec::Json, body, opts)
            .await?;
        let reply = if reply.is_empty() {
            Bytes::from_static(b"{}")
        } else {
            reply
        };
        return Ok(([(header::CONTENT_TYPE, Codec::Json.content_type())], reply).into_response());
    }
    let schema = endpoint.and_then(|e| e.request.as_ref());
    let mut request = if blank {
        serde_json::Map::new()
    } else {
        check_object(&body)?;
        serde_json::from_slice(&body)
            .map_err(|e| Error::bad_request(API_ID, format!("invalid JSON: {e}")))?
    };
    query::merge(&mut request, &query, schema);
    query::merge_pairs(&mut request, captures, schema);
    let reply = gw
        .client
        .call_json(
            &route.service,
            &route.endpoint,
            &serde_json::Value::Object(request),
            opts,
        )
        .await?;
    Ok(json_response(StatusCode::OK, &reply))
}

/// A request body must be one JSON object; checked without building it.
fn check_object(body: &[u8]) -> Result<(), Error> {
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        return Err(Error::bad_request(API_ID, format!("invalid JSON: {e}")));
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::bad_request(
            API_ID,
            "the request body must be a JSON object",
        ));
    }
    Ok(())
}

/// `POST /rpc` with `{"service", "endpoint", "request", "address"?}`.
pub(crate) async fn rpc_endpoint(State(gw): State<Arc<Gateway>>, request: Request) -> Response {
    let result = async {
        let (parts, body) = read_body(request, &gw.options).await?;
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| Error::bad_request(API_ID, format!("invalid JSON: {e}")))?;
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).filter(|s| !s.is_empty());
        let service =
            field("service").ok_or_else(|| Error::bad_request(API_ID, "missing \"service\""))?;
        let endpoint =
            field("endpoint").ok_or_else(|| Error::bad_request(API_ID, "missing \"endpoint\""))?;
        check_endpoint(&gw.options, &parts.headers, service, endpoint)?;
        check_namespace(&gw.options, service)?;
        let mut opts = call_options(&parts.headers);
        if let Some(address) = field("address") {
            check_node(&gw, service, address).await?;
            opts = opts.address(address);
        }
        let request = match v.get("request") {
            None | Some(serde_json::Value::Null) => serde_json::json!({}),
            // go-micro also accepts the request as a JSON string.
            Some(serde_json::Value::String(s)) => serde_json::from_str(s).map_err(|e| {
                Error::bad_request(API_ID, format!("invalid JSON in \"request\": {e}"))
            })?,
            Some(r) => r.clone(),
        };
        let reply = gw
            .client
            .call_json(service, endpoint, &request, opts)
            .await?;
        Ok::<_, Error>(json_response(StatusCode::OK, &reply))
    }
    .await;
    result.unwrap_or_else(|e| error_response(&e))
}

/// `/rpc` calls services within the gateway's namespace only, unless told otherwise.
fn check_namespace(options: &crate::Options, service: &str) -> Result<(), Error> {
    let ns = options.namespace.as_str();
    let within = ns.is_empty()
        || service
            .strip_prefix(ns)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
    if within || options.rpc_any_service {
        return Ok(());
    }
    Err(Error::forbidden(
        API_ID,
        format!("service {service} is outside the gateway's namespace {ns}"),
    ))
}

/// An `address` given to `/rpc` must be a node of the service named: otherwise the gateway
/// would connect wherever it is told, and its errors would say what listens there.
async fn check_node(gw: &Gateway, service: &str, address: &str) -> Result<(), Error> {
    if lookup(gw, service)
        .await?
        .iter()
        .flat_map(|v| v.nodes.iter())
        .any(|n| n.address == address)
    {
        return Ok(());
    }
    Err(Error::bad_request(
        API_ID,
        format!("address {address} is not a node of {service}"),
    ))
}
