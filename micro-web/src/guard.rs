//! What stops the dashboard being used from another site: everything that calls takes JSON
//! only (a form or a `text/plain` post from another page cannot send it without CORS, which
//! the dashboard never grants), from the dashboard's own origin, under a host it knows.

use crate::state::Web;
use crate::WEB_ID;
use bytes::Bytes;
use http::{header, HeaderMap};
use http_body_util::BodyExt;
use micro::Error;

/// Refuses a request that is not JSON from the dashboard's own pages: 415 for another content
/// type, 403 for another origin or an unknown host.
pub(crate) fn same_origin(web: &Web, headers: &HeaderMap) -> Result<(), Error> {
    let refuse = |code: i32, detail: String| Error::new(WEB_ID, detail, code);
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let content_type = text(header::CONTENT_TYPE).unwrap_or("");
    if !content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    {
        return Err(refuse(
            415,
            format!("the dashboard takes application/json only, not {content_type:?}"),
        ));
    }
    let host = text(header::HOST).unwrap_or("");
    let hosts = &web.options.allowed_hosts;
    if !hosts.is_empty() && !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return Err(refuse(
            403,
            format!(
                "host {host:?} is not this dashboard's (it answers as {})",
                hosts.join(", ")
            ),
        ));
    }
    if let Some(origin) = text(header::ORIGIN) {
        let own = ["http://", "https://"]
            .iter()
            .any(|scheme| origin.eq_ignore_ascii_case(&format!("{scheme}{host}")));
        if !own {
            return Err(refuse(
                403,
                format!(
                    "a request from {origin} is refused: only the dashboard's own pages may call"
                ),
            ));
        }
    }
    // Browsers that do not send Origin on same-origin requests still say where one came from.
    if let Some(site) = text(http::HeaderName::from_static("sec-fetch-site")) {
        if !matches!(site, "same-origin" | "none") {
            return Err(refuse(
                403,
                format!("a {site} request is refused: only the dashboard's own pages may call"),
            ));
        }
    }
    Ok(())
}

/// The request's body as JSON, at most the dashboard's `max_body` bytes: 413 past it, 400 for
/// what is not JSON.
pub(crate) async fn json_body(
    web: &Web,
    body: axum::body::Body,
) -> Result<serde_json::Value, Error> {
    let max = web.options.max_body;
    let bytes: Bytes = http_body_util::Limited::new(body, max)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                Error::too_large(WEB_ID, format!("request body larger than {max} bytes"))
            } else {
                Error::bad_request(WEB_ID, format!("reading the body: {e}"))
            }
        })?
        .to_bytes();
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::bad_request(WEB_ID, format!("invalid JSON: {e}")))
}
