//! # micro-web
//!
//! The web dashboard (`micro web`), as a library: explore services, describe their endpoints
//! and formats, call them, and a terminal in the browser running the `micro` CLI's own
//! commands. Server-rendered pages with their styles and scripts embedded in the binary;
//! every page answers JSON too (`Accept: application/json`).
//!
//! - `/`: the services, their versions and nodes, a search box; the web apps
//!   (`<namespace>.<app>`, registered with `micro::web`) as links;
//! - `/service/{name}`: per version the nodes with their health (`Debug.Health`), the
//!   endpoints with their request and response fields, the subscribers and their topics;
//! - `/client`: the call form, its request pre-filled from the endpoint's schema;
//! - `/terminal`: the CLI in the browser ([`Terminal`]);
//! - `/stats`: the dashboard's own figures;
//! - `POST /rpc` `{service, endpoint, request, address?, metadata?}`: the reply, or the micro
//!   error with the HTTP status of its code; `POST /stream`: a stream's replies, one JSON per
//!   line, as they come;
//! - `/events`: server-sent events, one per registry change, which the pages follow;
//! - `/{app}/...`: the web app `<namespace>.<app>`, through the gateway's web handler.
//!
//! The pages update themselves when services come and go. Everything that calls (`/rpc`,
//! `/stream`, the terminal) takes JSON only, and only from the dashboard's own pages: a request
//! from another origin is refused, so a page the user visits cannot call services through the
//! dashboard.

mod assets;
mod guard;
mod html;
mod live;
mod pages;
mod rpc;
mod state;
mod terminal;

pub use state::Options;
pub use terminal::Terminal;

use axum::routing::{get, post};
use micro::registry::Registry;
use micro::Client;
use std::sync::Arc;

/// The id of errors the dashboard raises itself.
pub const WEB_ID: &str = "go.micro.web";

/// The dashboard: its pages, its JSON API and the web apps, calling services with `client`,
/// finding them in `registry`, running terminal lines with `terminal`.
pub fn router(
    client: Client,
    registry: Arc<dyn Registry>,
    terminal: Arc<dyn Terminal>,
    options: Options,
) -> axum::Router {
    let apps = micro_api::router(
        client.clone(),
        Arc::clone(&registry),
        micro_api::Options {
            namespace: options.namespace.clone(),
            handler: micro_api::HandlerKind::Web,
            max_body: options.max_body,
            ..Default::default()
        },
    );
    let web = Arc::new(state::Web::new(client, registry, terminal, options));
    axum::Router::new()
        .route("/", get(pages::overview))
        .route("/service/{name}", get(pages::service))
        .route("/client", get(pages::client))
        .route("/terminal", get(pages::terminal))
        .route("/stats", get(pages::stats))
        .route("/events", get(live::events))
        .route("/assets/{file}", get(assets::serve))
        .route("/rpc", post(rpc::call))
        .route("/stream", post(rpc::stream))
        .route("/terminal/run", post(terminal::run))
        .route("/terminal/complete", post(terminal::complete))
        .with_state(Arc::clone(&web))
        .fallback_service(apps)
        .layer(axum::middleware::from_fn_with_state(web, state::count))
}
