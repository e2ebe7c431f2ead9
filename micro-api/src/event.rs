//! The event handler: an HTTP request published as a `go.api.Event`.

use crate::gateway::{check_endpoint, read_body, Gateway, API_ID};
use crate::resolve;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use micro::Error;

/// The event handler: `POST /user/login` publishes `{name: "login", id, timestamp, header, data}`
/// to topic `<namespace>.user`.
pub(crate) async fn event(gw: &Gateway, request: Request) -> Result<Response, Error> {
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
    check_endpoint(&gw.options, request.headers(), &topic, &name)?;
    let (parts, body) = read_body(request, &gw.options).await?;
    let mut header = serde_json::Map::new();
    // Every header but credentials: subscribers are not the caller's to authenticate to.
    for (k, v) in &parts.headers {
        if micro::metadata::is_secret(k.as_str()) {
            continue;
        }
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
