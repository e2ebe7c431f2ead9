//! The stylesheet and scripts, embedded in the binary: nothing is fetched at run time.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{header, StatusCode};

const FILES: &[(&str, &str, &str)] = &[
    ("style.css", "text/css", include_str!("../assets/style.css")),
    (
        "common.js",
        "text/javascript",
        include_str!("../assets/common.js"),
    ),
    (
        "overview.js",
        "text/javascript",
        include_str!("../assets/overview.js"),
    ),
    (
        "service.js",
        "text/javascript",
        include_str!("../assets/service.js"),
    ),
    (
        "client.js",
        "text/javascript",
        include_str!("../assets/client.js"),
    ),
    (
        "terminal.js",
        "text/javascript",
        include_str!("../assets/terminal.js"),
    ),
];

/// `/assets/{file}`.
pub(crate) async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, text)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *text,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
