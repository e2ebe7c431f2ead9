//! HTML for the pages: escaping, and the layout every page shares.

use axum::response::{Html, IntoResponse, Response};

/// `text` safe inside HTML text and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as a URL query value or path segment.
pub(crate) fn url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The pages, for the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Page {
    Services,
    Client,
    Terminal,
    Stats,
}

/// A whole page: the navigation bar, `body`, and the page's script (`/assets/NAME.js`).
pub(crate) fn page(title: &str, active: Page, body: &str, script: Option<&str>) -> Response {
    let link = |page: Page, href: &str, label: &str| {
        let class = if page == active {
            " class=\"active\""
        } else {
            ""
        };
        format!("<a href=\"{href}\"{class}>{label}</a>")
    };
    let script = script
        .map(|name| {
            format!("<script src=\"/assets/common.js\"></script><script src=\"/assets/{name}.js\"></script>")
        })
        .unwrap_or_default();
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · micro</title><link rel=\"stylesheet\" href=\"/assets/style.css\"></head>\
<body><header><nav><span class=\"brand\">micro</span>{}{}{}{}</nav></header>\
<main>{body}</main>{script}</body></html>",
        link(Page::Services, "/", "Services"),
        link(Page::Client, "/client", "Call"),
        link(Page::Terminal, "/terminal", "Terminal"),
        link(Page::Stats, "/stats", "Stats"),
        title = escape(title),
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_urls() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(url("go.micro.srv/a b"), "go.micro.srv%2Fa%20b");
    }
}
