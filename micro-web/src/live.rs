//! `/events`: the registry's changes as server-sent events, one per change, naming the
//! service; the pages follow them and fetch what changed.

use crate::state::Web;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use micro::registry::WatchOptions;
use std::sync::Arc;

/// Each registry change as an event `change` with data `{"action", "service"}`.
pub(crate) async fn events(State(web): State<Arc<Web>>) -> Response {
    let watcher = match web.registry.watch(WatchOptions::default()).await {
        Ok(w) => w,
        Err(e) => {
            let error = micro::Error::unavailable(crate::WEB_ID, e.to_string());
            return crate::state::error_response(&error);
        }
    };
    let events = watcher.filter_map(|change| async move {
        let change = change.ok()?;
        let data = serde_json::json!({"action": change.action, "service": change.service.name});
        Some(Ok::<_, std::convert::Infallible>(
            Event::default().event("change").data(data.to_string()),
        ))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}
