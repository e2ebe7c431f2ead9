//! What every handler of the dashboard shares: its settings and state, and how it answers
//! errors and JSON.

use crate::terminal::Terminal;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, StatusCode};
use micro::registry::Registry;
use micro::server::debug::Stats;
use micro::{Client, Error};
use std::sync::Arc;

/// Dashboard settings, `micro web`'s flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// Services named `<namespace>.<app>` are web apps, served at `/<app>/` (`go.micro.web`).
    pub namespace: String,
    /// Largest request body in bytes (1 MiB); larger is 413.
    pub max_body: usize,
    /// The `Host` values the dashboard answers calls under (`127.0.0.1:8082`, `localhost:8082`,
    /// ...); empty: any host, as long as the request's origin is that host. A name not listed
    /// (a DNS name rebound to 127.0.0.1 by another site) is refused.
    pub allowed_hosts: Vec<String>,
    /// Tokens checked before a call (`--auth`): the caller's `Authorization: Bearer` against
    /// the rules, 401 or 403 otherwise; the terminal, which calls as the dashboard's operator,
    /// is then off. `None` (the default): calls carry the caller's token, if any, for the
    /// services to check.
    pub auth: Option<Arc<micro::auth::Policy>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: "go.micro.web".into(),
            max_body: 1 << 20,
            allowed_hosts: Vec::new(),
            auth: None,
        }
    }
}

impl Options {
    /// The hosts a dashboard listening on `address` is reached by: the address itself, and
    /// `localhost`, `127.0.0.1` and `[::1]` at its port for a loopback address. Empty for a
    /// wildcard address (`0.0.0.0`): every name is then the user's to choose.
    pub fn hosts_for(address: std::net::SocketAddr) -> Vec<String> {
        let port = address.port();
        if address.ip().is_unspecified() {
            return Vec::new();
        }
        let mut hosts = vec![address.to_string()];
        if address.ip().is_loopback() {
            for name in ["localhost", "127.0.0.1", "[::1]"] {
                let host = format!("{name}:{port}");
                if !hosts.contains(&host) {
                    hosts.push(host);
                }
            }
        }
        hosts
    }
}

/// The dashboard's state.
pub(crate) struct Web {
    pub client: Client,
    pub registry: Arc<dyn Registry>,
    pub terminal: Arc<dyn Terminal>,
    pub options: Options,
    /// The dashboard's own figures, as a service's `Debug.Stats`.
    pub stats: Stats,
}

impl Web {
    pub(crate) fn new(
        client: Client,
        registry: Arc<dyn Registry>,
        terminal: Arc<dyn Terminal>,
        options: Options,
    ) -> Self {
        Web {
            client,
            registry,
            terminal,
            options,
            stats: Stats::new(),
        }
    }
}

/// Counts every request and every error answer, for `/stats`.
pub(crate) async fn count(State(web): State<Arc<Web>>, request: Request, next: Next) -> Response {
    web.stats.count_request();
    let response = next.run(request).await;
    if response.status().is_client_error() || response.status().is_server_error() {
        web.stats.count_error();
    }
    response
}

/// Whether the request asks for JSON rather than a page.
pub(crate) fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json") && !v.contains("text/html"))
}

/// `value` as a JSON response with `status`.
pub(crate) fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// A micro error as HTTP: its JSON, with the status its code maps to (the gateway's mapping).
pub(crate) fn error_response(err: &Error) -> Response {
    micro_api::error_response(err)
}
