//! # micro-api
//!
//! The API gateway of `micro api` as a library, so it can be embedded in any binary: HTTP in,
//! services found through the registry, JSON calls out.
//!
//! ```no_run
//! # async fn demo() -> micro::Result<()> {
//! let registry = micro::config::Config::from_env().registry()?;
//! let client = micro::Client::new(registry.clone());
//! let options = micro_api::Options { namespace: "go.micro.srv".into(), ..Default::default() };
//! let app = micro_api::router(client, registry, options);
//! let tcp = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
//! micro_api::serve(micro_api::listener(tcp), app, micro::service::shutdown_signal()).await;
//! # Ok(()) }
//! ```
//!
//! Handlers: `rpc` (JSON calls; endpoints with `stream=true` over a WebSocket), `event`
//! (publishes the request), and `meta`, the default, which uses rpc. Errors are always
//! go-micro's JSON `{id, code, detail, status}`.

mod api;
mod event;
mod gateway;
mod options;
mod proxy;
pub mod query;
pub mod resolve;
pub mod routes;
mod rpc;
mod tls;
mod websocket;

pub use gateway::error_response;
pub use options::{HandlerKind, Options};
pub use tls::tls;

use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{any, get, post};
use gateway::{json_response, Gateway};
use http::StatusCode;
use micro::registry::Registry;
use micro::server::{Listener, Protocol};
use micro::Client;
use std::sync::Arc;

/// The gateway as an axum router.
pub fn router(client: Client, registry: Arc<dyn Registry>, options: Options) -> axum::Router {
    let cors = cors_layer(&options.cors_allowed_origins);
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
        app = app.route("/rpc", post(rpc::rpc_endpoint));
    }
    let app = app.fallback(any(dispatch)).with_state(gateway);
    match cors {
        Some(cors) => app.layer(cors),
        None => app,
    }
}

/// CORS for exactly these origins: none, no layer (no CORS headers); `*`, any origin without
/// credentials; otherwise the listed origins, with credentials. A reflected origin is never
/// granted credentials.
fn cors_layer(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use http::{header, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT])
        .max_age(std::time::Duration::from_secs(3600));
    if origins.iter().any(|o| o.trim() == "*") {
        return Some(layer.allow_origin(AllowOrigin::any()));
    }
    let listed: Vec<http::HeaderValue> = origins
        .iter()
        .filter_map(|o| http::HeaderValue::from_str(o.trim().trim_end_matches('/')).ok())
        .collect();
    Some(
        layer
            .allow_origin(AllowOrigin::list(listed))
            .allow_credentials(true),
    )
}

async fn root() -> Response {
    json_response(
        StatusCode::OK,
        &serde_json::json!({"version": env!("CARGO_PKG_VERSION")}),
    )
}

async fn dispatch(State(gw): State<Arc<Gateway>>, request: Request) -> Response {
    let result = match gw.options.handler {
        HandlerKind::Meta | HandlerKind::Rpc => rpc::declared_or_rpc(&gw, request).await,
        HandlerKind::Event => event::event(&gw, request).await,
        HandlerKind::Api => api::api(&gw, request, None).await,
        HandlerKind::Http => proxy::proxy(&gw, request, false).await,
        HandlerKind::Web => proxy::proxy(&gw, request, true).await,
    };
    result.unwrap_or_else(|e| error_response(&e))
}

/// A listener for the gateway on `tcp`: HTTP/1.1 (with WebSocket upgrades) and HTTP/2, with
/// the default connection limits (set others with [`Listener::limits`]).
pub fn listener(tcp: tokio::net::TcpListener) -> Listener {
    Listener::new(tcp, Protocol::Auto)
}

/// Serves `app` on `listener` until `shutdown` completes, then drains within the listener's
/// drain timeout, whatever clients do.
pub async fn serve(
    listener: Listener,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    listener
        .serve(micro::server::listener::same(app), shutdown)
        .await
}
