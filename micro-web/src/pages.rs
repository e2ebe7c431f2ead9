//! The pages: overview, service, call form, terminal and stats, each also as JSON.

use crate::html::{escape, page, url, Page};
use crate::state::{error_response, json_response, wants_json, Web};
use crate::WEB_ID;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use micro::registry::{Endpoint, RegistryError, Service};
use micro::{CallOptions, Error};
use serde::Deserialize;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

/// How long a node has to answer its health check on the service page.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// `?fragment=...`: only that part of the page, for the live updates.
#[derive(Debug, Deserialize)]
pub(crate) struct Fragment {
    fragment: Option<String>,
}

/// One service on the overview.
struct Summary {
    name: String,
    versions: Vec<String>,
    nodes: usize,
}

fn registry_error(e: RegistryError) -> Error {
    match e {
        RegistryError::NotFound => Error::not_found(WEB_ID, "service not found"),
        e => Error::unavailable(WEB_ID, e.to_string()),
    }
}

/// Every service with its versions and node count, sorted by name.
async fn summaries(web: &Web) -> Result<Vec<Summary>, Error> {
    let names = micro::describe::service_names(&*web.registry)
        .await
        .map_err(registry_error)?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        // A service that left between the listing and the lookup is left out.
        let Ok(versions) = web.registry.get_service(&name).await else {
            continue;
        };
        out.push(Summary {
            versions: versions.iter().map(|v| v.version.clone()).collect(),
            nodes: versions.iter().map(|v| v.nodes.len()).sum(),
            name,
        });
    }
    Ok(out)
}

/// The web apps among `services`: `(name, path)`.
fn apps<'a>(web: &Web, services: &'a [Summary]) -> Vec<(&'a str, String)> {
    let prefix = format!("{}.", web.options.namespace);
    services
        .iter()
        .filter_map(|s| {
            let app = s.name.strip_prefix(&prefix)?;
            (!app.is_empty()).then(|| (s.name.as_str(), format!("/{}/", url(app))))
        })
        .collect()
}

fn services_list(services: &[Summary]) -> String {
    let mut out = String::new();
    for s in services {
        let nodes = match s.nodes {
            1 => "1 node".to_string(),
            n => format!("{n} nodes"),
        };
        let _ = write!(
            out,
            "<li data-name=\"{name}\"><a href=\"/service/{href}\">{name}</a>\
             <span class=\"meta\">{versions} · {nodes}</span></li>",
            name = escape(&s.name),
            href = url(&s.name),
            versions = escape(&s.versions.join(", ")),
        );
    }
    if services.is_empty() {
        out.push_str("<li class=\"empty\">No services registered.</li>");
    }
    out
}

/// `/`: the services and the web apps.
pub(crate) async fn overview(
    State(web): State<Arc<Web>>,
    Query(fragment): Query<Fragment>,
    headers: HeaderMap,
) -> Response {
    let services = match summaries(&web).await {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    if wants_json(&headers) {
        let list: Vec<serde_json::Value> = services
            .iter()
            .map(|s| serde_json::json!({"name": s.name, "versions": s.versions, "nodes": s.nodes}))
            .collect();
        let apps: Vec<serde_json::Value> = apps(&web, &services)
            .iter()
            .map(|(name, path)| serde_json::json!({"name": name, "path": path}))
            .collect();
        return json_response(
            StatusCode::OK,
            &serde_json::json!({"services": list, "apps": apps}),
        );
    }
    if fragment.fragment.as_deref() == Some("services") {
        return Html(services_list(&services)).into_response();
    }
    let mut apps_html = String::new();
    for (name, path) in apps(&web, &services) {
        let _ = write!(
            apps_html,
            "<a class=\"app\" href=\"{path}\">{}</a>",
            escape(name)
        );
    }
    let apps_html = match apps_html.is_empty() {
        true => String::new(),
        false => format!("<section class=\"apps\"><h2>Web apps</h2>{apps_html}</section>"),
    };
    let body = format!(
        "<h1>Services</h1>{apps_html}\
         <input id=\"search\" type=\"search\" placeholder=\"Filter services\" autocomplete=\"off\" autofocus>\
         <ul id=\"services\" class=\"services\">{}</ul>",
        services_list(&services)
    );
    page("Services", Page::Services, &body, Some("overview"))
}

/// Each node's `Debug.Health`: `ok`, or why not.
async fn health(web: &Web, service: &str, versions: &[Service]) -> Vec<Vec<String>> {
    let checks = versions.iter().map(|version| {
        futures::future::join_all(version.nodes.iter().map(|node| {
            let opts = CallOptions::default()
                .address(node.address.clone())
                .timeout(HEALTH_TIMEOUT)
                .retries(0);
            async move {
                let reply = web
                    .client
                    .call_json(service, "Debug.Health", &serde_json::json!({}), opts)
                    .await;
                match reply {
                    Ok(v) => v["status"].as_str().unwrap_or("ok").to_string(),
                    Err(e) => e.detail,
                }
            }
        }))
    });
    futures::future::join_all(checks).await
}

fn pairs(map: &micro::registry::Metadata) -> String {
    map.iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn endpoint_html(service: &str, endpoint: &Endpoint) -> String {
    let metadata: Vec<String> = endpoint
        .metadata
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect();
    format!(
        "<section class=\"endpoint\"><h3>{name} <a class=\"button\" href=\"/client?service={s}&amp;endpoint={e}\">Call</a></h3>\
         <p class=\"meta\">{metadata}</p><div class=\"formats\">\
         <div><h4>Request</h4><pre>{request}</pre></div>\
         <div><h4>Response</h4><pre>{response}</pre></div></div></section>",
        name = escape(&endpoint.name),
        s = url(service),
        e = url(&endpoint.name),
        metadata = metadata.join(" "),
        request = escape(&micro::describe::fields(endpoint.request.as_ref())),
        response = escape(&micro::describe::fields(endpoint.response.as_ref())),
    )
}

fn is_subscriber(endpoint: &Endpoint) -> bool {
    endpoint
        .metadata
        .get("subscriber")
        .is_some_and(|v| v == "true")
}

/// Each version: its nodes with their health, its endpoints, its subscribers.
fn versions_html(name: &str, versions: &[Service], health: &[Vec<String>]) -> String {
    let mut out = String::new();
    for (version, health) in versions.iter().zip(health) {
        let _ = write!(
            out,
            "<section class=\"version\"><h2>Version {}</h2><div class=\"scroll\"><table class=\"nodes\">\
             <thead><tr><th>ID</th><th>Address</th><th>Metadata</th><th>Health</th></tr></thead><tbody>",
            escape(&version.version)
        );
        for (node, status) in version.nodes.iter().zip(health) {
            let class = if status == "ok" { "ok" } else { "bad" };
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"meta\">{}</td><td class=\"health {class}\">{}</td></tr>",
                escape(&node.id),
                escape(&node.address),
                pairs(&node.metadata),
                escape(status)
            );
        }
        out.push_str("</tbody></table></div>");
        let (subscribers, endpoints): (Vec<&Endpoint>, Vec<&Endpoint>) =
            version.endpoints.iter().partition(|e| is_subscriber(e));
        if !endpoints.is_empty() {
            out.push_str("<h3 class=\"group\">Endpoints</h3>");
            for endpoint in endpoints {
                out.push_str(&endpoint_html(name, endpoint));
            }
        }
        if !subscribers.is_empty() {
            out.push_str("<h3 class=\"group\">Subscribers</h3><ul class=\"subscribers\">");
            for s in subscribers {
                let topic = s.metadata.get("topic").map(String::as_str).unwrap_or("");
                let _ = write!(
                    out,
                    "<li>{} <span class=\"meta\">topic {}</span><pre>{}</pre></li>",
                    escape(&s.name),
                    escape(topic),
                    escape(&micro::describe::fields(s.request.as_ref()))
                );
            }
            out.push_str("</ul>");
        }
        out.push_str("</section>");
    }
    out
}

/// `/service/{name}`: every version with its nodes and endpoints.
pub(crate) async fn service(
    State(web): State<Arc<Web>>,
    Path(name): Path<String>,
    Query(fragment): Query<Fragment>,
    headers: HeaderMap,
) -> Response {
    let versions = match web
        .registry
        .get_service(&name)
        .await
        .map_err(registry_error)
    {
        Ok(v) => v,
        Err(e) if wants_json(&headers) => return error_response(&e),
        Err(e) => {
            let body = format!(
                "<h1>{}</h1><p class=\"error\">{}</p><p><a href=\"/\">All services</a></p>",
                escape(&name),
                escape(&e.detail)
            );
            let mut response = page(&name, Page::Services, &body, Some("service"));
            *response.status_mut() = StatusCode::NOT_FOUND;
            return response;
        }
    };
    if wants_json(&headers) {
        return json_response(StatusCode::OK, &serde_json::json!(versions.as_slice()));
    }
    let health = health(&web, &name, &versions).await;
    let sections = versions_html(&name, &versions, &health);
    if fragment.fragment.as_deref() == Some("versions") {
        return Html(sections).into_response();
    }
    let body = format!(
        "<h1 id=\"name\" data-name=\"{n}\">{n}</h1><div id=\"versions\">{sections}</div>",
        n = escape(&name)
    );
    page(&name, Page::Services, &body, Some("service"))
}

/// `/client?service=..&endpoint=..`
#[derive(Debug, Deserialize)]
pub(crate) struct Pick {
    service: Option<String>,
    endpoint: Option<String>,
}

fn options_html(items: &[String], chosen: Option<&str>, empty: &str) -> String {
    let mut out = format!("<option value=\"\">{empty}</option>");
    for item in items {
        let selected = if Some(item.as_str()) == chosen {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<option value=\"{v}\"{selected}>{v}</option>",
            v = escape(item)
        );
    }
    out
}

/// `/client`: the call form.
pub(crate) async fn client(State(web): State<Arc<Web>>, Query(pick): Query<Pick>) -> Response {
    let names = micro::describe::service_names(&*web.registry)
        .await
        .unwrap_or_default();
    let service = pick.service.filter(|s| !s.is_empty());
    let versions = match &service {
        Some(s) => web.registry.get_service(s).await.ok(),
        None => None,
    };
    let endpoints: Vec<Endpoint> = versions
        .iter()
        .flat_map(|v| v.first())
        .flat_map(|v| v.endpoints.iter())
        .filter(|e| !is_subscriber(e))
        .cloned()
        .collect();
    let endpoint = pick
        .endpoint
        .as_deref()
        .and_then(|name| endpoints.iter().find(|e| e.name == name));
    let request = endpoint
        .map(|e| micro::describe::skeleton(e.request.as_ref()))
        .unwrap_or_else(|| serde_json::json!({}));
    let stream = endpoint
        .and_then(|e| e.metadata.get("stream"))
        .is_some_and(|v| v == "true");
    let endpoint_names: Vec<String> = endpoints.iter().map(|e| e.name.clone()).collect();
    let pretty = serde_json::to_string_pretty(&request).unwrap_or_default();
    let body = format!(
        "<h1>Call a service</h1>\
         <form id=\"call\" data-stream=\"{stream}\" autocomplete=\"off\">\
         <label>Service <select id=\"service\" name=\"service\">{services}</select></label>\
         <label>Endpoint <select id=\"endpoint\" name=\"endpoint\">{endpoints}</select></label>\
         <label>Request <textarea id=\"request\" rows=\"8\" spellcheck=\"false\">{pretty}</textarea></label>\
         <details><summary>Metadata and node</summary>\
         <label>Metadata (JSON object) <textarea id=\"metadata\" rows=\"2\" spellcheck=\"false\">{{}}</textarea></label>\
         <label>Node address (optional) <input id=\"address\" placeholder=\"host:port\"></label></details>\
         <div class=\"buttons\"><button id=\"send\" type=\"submit\">Call</button>\
         <button id=\"copy-cli\" type=\"button\" class=\"secondary\">Copy as micro call</button>\
         <button id=\"copy-curl\" type=\"button\" class=\"secondary\">Copy as curl</button></div></form>\
         <pre id=\"copied\" class=\"copied\" hidden></pre>\
         <h2>Reply</h2><pre id=\"reply\" class=\"reply\"></pre>",
        services = options_html(&names, service.as_deref(), "choose a service"),
        endpoints = options_html(
            &endpoint_names,
            endpoint.map(|e| e.name.as_str()),
            "choose an endpoint"
        ),
        pretty = escape(&pretty),
    );
    page("Call", Page::Client, &body, Some("client"))
}

/// `/terminal`: the CLI in the browser.
pub(crate) async fn terminal() -> Response {
    let body = "<h1>Terminal</h1><div id=\"terminal\" class=\"terminal\">\
        <pre id=\"screen\">Type help for the commands; Tab completes, up and down walk the history.\n</pre>\
        <div class=\"prompt\"><span>micro&gt;</span><input id=\"line\" autocomplete=\"off\" \
        autocapitalize=\"off\" spellcheck=\"false\" autofocus></div></div>";
    page("Terminal", Page::Terminal, body, Some("terminal"))
}

/// `/stats`: the dashboard's own figures, as a service's `Debug.Stats`.
pub(crate) async fn stats(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let s = web.stats.snapshot();
    if wants_json(&headers) {
        return json_response(
            StatusCode::OK,
            &serde_json::json!({
                "started": s.started, "uptime": s.uptime, "memory": s.memory,
                "threads": s.threads, "requests": s.requests, "errors": s.errors,
            }),
        );
    }
    let rows = [
        ("Started (Unix time)", s.started.to_string()),
        ("Uptime", format!("{} s", s.uptime)),
        ("Memory", format!("{:.1} MiB", s.memory as f64 / 1048576.0)),
        ("Threads", s.threads.to_string()),
        ("Requests", s.requests.to_string()),
        ("Errors", s.errors.to_string()),
    ];
    let mut table = String::new();
    for (k, v) in rows {
        let _ = write!(table, "<tr><th>{k}</th><td>{}</td></tr>", escape(&v));
    }
    let body = format!("<h1>Dashboard stats</h1><table class=\"stats\">{table}</table>");
    page("Stats", Page::Stats, &body, None)
}
