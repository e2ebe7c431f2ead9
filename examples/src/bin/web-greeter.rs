//! A web service: a plain axum app registered as `go.micro.web.greeter` with `micro::web`, so
//! `micro api --handler=web --namespace=go.micro.web` serves it at `/greeter/...`.
//!
//! Routes: `GET /` is a page linking to the others, under the path prefix the gateway or the
//! dashboard says it is served at (`X-Micro-Web-Base-Path`); `GET /call?name=John` (also under
//! `/greeter/call`) answers `{"msg": "Hello John"}`; `GET /echo` is a WebSocket that echoes
//! every text message.

use axum::extract::Query;
use axum::routing::get;
use std::collections::HashMap;

/// The service name it registers as.
const SERVICE: &str = "go.micro.web.greeter";

async fn call(Query(q): Query<HashMap<String, String>>) -> axum::Json<serde_json::Value> {
    let name = q.get("name").cloned().unwrap_or_default();
    axum::Json(serde_json::json!({"msg": format!("Hello {name}")}))
}

/// The home page, its links under the prefix it is served at.
async fn home(headers: axum::http::HeaderMap) -> axum::response::Html<String> {
    let base = headers
        .get("x-micro-web-base-path")
        .and_then(|v| v.to_str().ok())
        .filter(|b| {
            b.starts_with('/')
                && b.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c))
        })
        .unwrap_or("");
    axum::response::Html(format!(
        "<!doctype html><title>web greeter</title><h1>Hello from the web greeter</h1>\
         <p>Served under <code id=\"base\">{base}/</code>: <a href=\"{base}/call?name=John\">greet John</a>, \
         or open a WebSocket at <code>{base}/echo</code>.</p>"
    ))
}

async fn echo(ws: axum::extract::ws::WebSocketUpgrade) -> axum::response::Response {
    ws.on_upgrade(|mut socket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if let axum::extract::ws::Message::Text(text) = message {
                if socket
                    .send(axum::extract::ws::Message::Text(text))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
    })
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    let result = async {
        let routes = axum::Router::new()
            .route("/", get(home))
            .route("/call", get(call))
            .route("/echo", get(echo));
        let app = axum::Router::new()
            .nest("/greeter", routes.clone())
            .merge(routes);
        let address = micro::config::Config::from_env()
            .server_address
            .unwrap_or_else(|| "127.0.0.1:0".into());
        let listener = tokio::net::TcpListener::bind(&address).await.map_err(|e| {
            micro::Error::internal_server_error(SERVICE, format!("cannot listen on {address}: {e}"))
        })?;
        let local = listener
            .local_addr()
            .map_err(|e| micro::Error::internal_server_error(SERVICE, e.to_string()))?;
        let web = micro::web::register(
            SERVICE,
            &local.to_string(),
            micro::config::Config::from_env().registry()?,
        )
        .await?;
        axum::serve(listener, app)
            .with_graceful_shutdown(micro::service::shutdown_signal())
            .await
            .map_err(|e| micro::Error::internal_server_error(SERVICE, e.to_string()))?;
        web.deregister().await
    }
    .await;
    if let Err(e) = result {
        eprintln!("web-greeter: {e:?}");
        std::process::exit(1);
    }
}
