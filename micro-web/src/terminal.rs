//! The terminal: lines typed in the browser run as the `micro` CLI's commands, by the CLI's own
//! code (the `micro` binary implements [`Terminal`] with it), so the output is the CLI's.

use crate::guard::{json_body, same_origin};
use crate::state::{json_response, Web};
use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;
use std::sync::Arc;

/// What runs the terminal's lines: the `micro` CLI's interactive shell, minus the keyboard.
#[async_trait::async_trait]
pub trait Terminal: Send + Sync + 'static {
    /// Runs one line (`list services`, `call SERVICE ENDPOINT JSON`, `help`, ...); returns what
    /// the shell prints for it.
    async fn run(&self, line: &str) -> String;

    /// What could complete the last word of `line`: whole words (commands, services,
    /// endpoints), to replace it with.
    async fn complete(&self, line: &str) -> Vec<String>;
}

/// `{"line": "..."}` from the request, or the refusal.
async fn line(web: &Web, request: Request) -> Result<String, micro::Error> {
    same_origin(web, request.headers())?;
    if web.options.auth.is_some() {
        return Err(micro::Error::forbidden(
            crate::WEB_ID,
            "the terminal calls as the dashboard's operator, so it is off while the dashboard checks callers' tokens (--auth)",
        ));
    }
    let body = json_body(web, request.into_body()).await?;
    match body.get("line").and_then(|l| l.as_str()) {
        Some(line) => Ok(line.to_string()),
        None => Err(micro::Error::bad_request(crate::WEB_ID, "missing \"line\"")),
    }
}

/// `POST /terminal/run` `{"line"}`: `{"output"}`.
pub(crate) async fn run(State(web): State<Arc<Web>>, request: Request) -> Response {
    match line(&web, request).await {
        Ok(line) => {
            let output = web.terminal.run(&line).await;
            json_response(StatusCode::OK, &serde_json::json!({ "output": output }))
        }
        Err(refused) => crate::state::error_response(&refused),
    }
}

/// `POST /terminal/complete` `{"line"}`: `{"completions": [...]}`.
pub(crate) async fn complete(State(web): State<Arc<Web>>, request: Request) -> Response {
    match line(&web, request).await {
        Ok(line) => {
            let completions = web.terminal.complete(&line).await;
            json_response(
                StatusCode::OK,
                &serde_json::json!({ "completions": completions }),
            )
        }
        Err(refused) => crate::state::error_response(&refused),
    }
}
