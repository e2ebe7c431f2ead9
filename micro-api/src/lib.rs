//! # micro-api
//!
//! The API gateway of `micro api` as a library, so it can be embedded in any binary: HTTP in,
//! services found through the registry, JSON calls out.
//!
//! ```no_run
//! # async fn demo() -> micro::Result<()> {
//! let registry = micro::registry::from_env()?;
//! let client = micro::Client::new(registry.clone());
//! let options = micro_api::Options { namespace: "go.micro.srv".into(), ..Default::default() };
//! let app = micro_api::router(client, registry, options);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # Ok(()) }
//! ```
//!
//! Handlers: `rpc` (JSON calls; endpoints with `stream=true` over a WebSocket), `event`
//! (publishes the request), and `meta`, the default, which uses rpc. Errors are always
//! go-micro's JSON `{id, code, detail, status}`.

mod proxy;
pub mod query;
pub mod resolve;
pub mod routes;
mod tls;
mod websocket;

pub use tls::{acceptor as tls_acceptor, serve_tls};

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use bytes::Bytes;
use http::{header, HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use micro::codec::Codec;
use micro::registry::Registry;
use micro::{CallOptions, Client, Error};
use std::sync::Arc;

const API_ID: &str = "go.micro.api";

/// Which handler serves paths that are not `/` or `/rpc`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Handler {
    /// The endpoint's declared handler, rpc otherwise (the default).
    #[default]
    Meta,
    /// JSON (or protobuf) calls to `Handler.Method` of the resolved service.
    Rpc,
    /// Publishes the request as an event to topic `<namespace>.<first segment>`.
    Event,
    /// Calls `Handler.Method` with the whole HTTP request as a `go.api.Request`; the service's
    /// `go.api.Response` becomes the HTTP response.
    Api,
    /// Reverse proxy to the HTTP service of the first segment, path unchanged.
    Http,
    /// Reverse proxy to the web service of the first segment, that segment stripped.
    Web,
}

impl std::str::FromStr for Handler {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "meta" => Ok(Handler::Meta),
            "rpc" => Ok(Handler::Rpc),
            "event" => Ok(Handler::Event),
            "api" => Ok(Handler::Api),
            "http" => Ok(Handler::Http),
            "web" => Ok(Handler::Web),
            other => Err(format!(
                "unknown handler {other:?} (meta, rpc, api, http, web, event)"
            )),
        }
    }
}

/// Gateway settings, `micro api`'s flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// Prefixed to resolved service names (`go.micro.api` by default).
    pub namespace: String,
    /// The handler for resolved paths.
    pub handler: Handler,
    /// Serve `POST /rpc` with `{service, endpoint, request, address?}`.
    pub enable_rpc: bool,
    /// Answer CORS preflights and allow any origin (on by default).
    pub enable_cors: bool,
    /// Largest request body in bytes (10 MiB by default); larger is 413 before reading it.
    pub max_body: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: "go.micro.api".into(),
            handler: Handler::Meta,
            enable_rpc: false,
            enable_cors: true,
            max_body: 10 << 20,
        }
    }
}

struct Gateway {
    client: Client,
    registry: Arc<dyn Registry>,
    options: Options,
    routes: routes::Table,
    /// For the http and web handlers.
    http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<Bytes>,
    >,
}

/// The gateway as an axum router.
pub fn router(client: Client, registry: Arc<dyn Registry>, options: Options) -> axum::Router {
    let cors = options.enable_cors;
    let registry = micro::registry::cached(registry);
    let gateway = Arc::new(Gateway {
        client,
        routes: routes::Table::watch(Arc::clone(&registry)),
        http: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http(),
        registry,
        options,
    });
    let mut app = axum::Router::new().route("/", get(root));
    if gateway.options.enable_rpc {
        app = app.route("/rpc", post(rpc_endpoint));
    }
    let app = app.fallback(any(dispatch)).with_state(gateway);
    if cors {
        app.layer(tower_http::cors::CorsLayer::very_permissive())
    } else {
        app
    }
}

async fn root() -> Response {
    json_response(
        StatusCode::OK,
        &serde_json::json!({"version": env!("CARGO_PKG_VERSION")}),
    )
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// A micro error as HTTP: its JSON, with the status its code maps to.
pub fn error_response(err: &Error) -> Response {
    let status = match err.code {
        // The server does not know the endpoint: for HTTP that is simply not found.
        501 => StatusCode::NOT_FOUND,
        // A deadline passed on the way: the gateway timed out.
        408 => StatusCode::GATEWAY_TIMEOUT,
        code => u16::try_from(code)
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .filter(|s| !s.is_informational() && !s.is_success())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    };
    let body = serde_json::to_string(err).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Reads the body, refusing more than `max` bytes (by Content-Length first, without reading).
async fn read_body(request: Request, max: usize) -> Result<(http::request::Parts, Bytes), Error> {
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
    let bytes = http_body_util::Limited::new(body, max)
        .collect()
        .await
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

async fn dispatch(State(gw): State<Arc<Gateway>>, request: Request) -> Response {
    let result = match gw.options.handler {
        Handler::Meta | Handler::Rpc => declared_or_rpc(&gw, request).await,
        Handler::Event => event(&gw, request).await,
        Handler::Api => api(&gw, request, None).await,
        Handler::Http => proxy::proxy(&gw, request, false).await,
        Handler::Web => proxy::proxy(&gw, request, true).await,
    };
    result.unwrap_or_else(|e| error_response(&e))
}

/// Declared routes first (method, host, path), then micro v2 path resolution.
async fn declared_or_rpc(gw: &Gateway, request: Request) -> Result<Response, Error> {
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
            "event" => event(gw, request).await,
            "api" => {
                let target = resolve::Route {
                    service: route.service.clone(),
                    endpoint: route.endpoint.clone(),
                };
                api(gw, request, Some(target)).await
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

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn call_options(headers: &HeaderMap) -> CallOptions {
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
        ) || k.as_str().starts_with("access-control-");
        if let (false, Ok(v)) = (skip, v.to_str()) {
            opts = opts.metadata(k.as_str(), v);
        }
    }
    opts
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
    let (parts, body) = if websocket::is_upgrade(request.headers()) {
        // A WebSocket upgrade has no body to read; the connection carries the messages.
        (request.into_parts().0, Bytes::new())
    } else {
        read_body(request, gw.options.max_body).await?
    };
    let opts = call_options(&parts.headers);

    let proto = matches!(
        content_type(&parts.headers)
            .split(';')
            .next()
            .unwrap_or("")
            .trim(),
        "application/grpc"
            | "application/protobuf"
            | "application/octet-stream"
            | "application/x-protobuf"
    );
    if proto {
        let reply = gw
            .client
            .call_raw(&route.service, &route.endpoint, Codec::Proto, body, opts)
            .await?;
        if reply.is_empty() {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        return Ok(([(header::CONTENT_TYPE, "application/protobuf")], reply).into_response());
    }

    let versions = gw
        .registry
        .lookup(&route.service)
        .await
        .map_err(|e| match e {
            micro::registry::RegistryError::NotFound => {
                Error::not_found(API_ID, format!("service {} not found", route.service))
            }
            e => Error::unavailable(API_ID, e.to_string()),
        })?;
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
        return Ok(([(header::CONTENT_TYPE, "application/json")], reply).into_response());
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

fn pairs<'a>(items: impl Iterator<Item = (&'a str, String)>) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (k, v) in items {
        let entry = map
            .entry(k.to_string())
            .or_insert_with(|| serde_json::json!({"key": k, "values": []}));
        if let Some(values) = entry["values"].as_array_mut() {
            values.push(serde_json::Value::String(v));
        }
    }
    serde_json::Value::Object(map)
}

fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (query::decode_query(k), query::decode_query(v))
        })
        .collect()
}

/// The api handler: the HTTP request as a `go.api.Request`, the service's `go.api.Response` as
/// the HTTP response.
async fn api(
    gw: &Gateway,
    request: Request,
    target: Option<resolve::Route>,
) -> Result<Response, Error> {
    let path = request.uri().path().to_string();
    let route = match target {
        Some(r) => r,
        None => resolve::rpc_route(&path, &gw.options.namespace)
            .ok_or_else(|| Error::not_found(API_ID, "no service in the path"))?,
    };
    let method = request.method().to_string();
    let url = request.uri().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let (parts, body) = read_body(request, gw.options.max_body).await?;
    let headers = pairs(
        parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?.to_string()))),
    );
    let get_pairs = form_pairs(&query);
    let get = pairs(get_pairs.iter().map(|(k, v)| (k.as_str(), v.clone())));
    let is_form = content_type(&parts.headers).starts_with("application/x-www-form-urlencoded");
    let post_pairs = if is_form {
        form_pairs(&String::from_utf8_lossy(&body))
    } else {
        Vec::new()
    };
    let post = pairs(post_pairs.iter().map(|(k, v)| (k.as_str(), v.clone())));
    let api_request = serde_json::json!({
        "method": method,
        "path": path,
        "header": headers,
        "get": get,
        "post": post,
        "body": String::from_utf8_lossy(&body),
        "url": url,
    });
    let reply = gw
        .client
        .call_json(
            &route.service,
            &route.endpoint,
            &api_request,
            call_options(&parts.headers),
        )
        .await?;
    let status = reply["statusCode"]
        .as_u64()
        .and_then(|c| u16::try_from(c).ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::OK);
    let mut response = (status, reply["body"].as_str().unwrap_or("").to_string()).into_response();
    if let Some(h) = reply["header"].as_object() {
        for pair in h.values() {
            let key = pair["key"].as_str().unwrap_or("");
            for value in pair["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
            {
                if let (Ok(k), Ok(v)) = (
                    http::HeaderName::try_from(key),
                    http::HeaderValue::try_from(value),
                ) {
                    response.headers_mut().append(k, v);
                }
            }
        }
    }
    Ok(response)
}

/// `POST /rpc` with `{"service", "endpoint", "request", "address"?}`.
async fn rpc_endpoint(State(gw): State<Arc<Gateway>>, request: Request) -> Response {
    let result = async {
        let (parts, body) = read_body(request, gw.options.max_body).await?;
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| Error::bad_request(API_ID, format!("invalid JSON: {e}")))?;
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).filter(|s| !s.is_empty());
        let service =
            field("service").ok_or_else(|| Error::bad_request(API_ID, "missing \"service\""))?;
        let endpoint =
            field("endpoint").ok_or_else(|| Error::bad_request(API_ID, "missing \"endpoint\""))?;
        let mut opts = call_options(&parts.headers);
        if let Some(address) = field("address") {
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

/// The event handler: `POST /user/login` publishes `{name: "login", id, timestamp, header, data}`
/// to topic `<namespace>.user`.
async fn event(gw: &Gateway, request: Request) -> Result<Response, Error> {
    if request.method() == Method::OPTIONS {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let path = request.uri().path().to_string();
    let topic = resolve::service_of(&path, &gw.options.namespace)
        .ok_or_else(|| Error::not_found(API_ID, "no topic in the path"))?;
    let name = path
        .split('/')
        .filter(|p| !p.is_empty())
        .nth(1)
        .unwrap_or("")
        .to_string();
    let (parts, body) = read_body(request, gw.options.max_body).await?;
    let mut header = serde_json::Map::new();
    for (k, v) in &parts.headers {
        if let Ok(v) = v.to_str() {
            header.insert(k.as_str().to_string(), serde_json::json!([v]));
        }
    }
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let event = serde_json::json!({
        "name": name,
        "id": uuid::Uuid::new_v4().to_string(),
        "timestamp": timestamp,
        "header": header,
        "data": String::from_utf8_lossy(&body),
    });
    gw.client.publish_json(&topic, &event).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(shutdown)
        .await
}
