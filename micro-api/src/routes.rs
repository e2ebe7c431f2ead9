//! Declared routes: HTTP routes that endpoints publish in their registry metadata (go-micro's
//! api encoding: `endpoint`, `method`, `path`, `host`, `handler`), matched before path
//! resolution. A path is a template (`/greeter/{name}`, captures become request fields) or a
//! regex (`^/count/(?P<count>[0-9]+)$`, named groups become fields).

use futures::StreamExt;
use micro::registry::{Registry, RegistryError, WatchOptions, Watcher};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

/// How long to wait before watching again after the registry's watch failed.
const RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
enum Pattern {
    /// Segments; `Some(name)` captures.
    Template(Vec<(String, Option<String>)>),
    Regex(regex::Regex),
}

/// One declared route.
#[derive(Debug, Clone)]
pub struct Declared {
    /// Service to call.
    pub service: String,
    /// Endpoint to call.
    pub endpoint: String,
    /// Handler named by the route (`rpc` when empty).
    pub handler: String,
    methods: Vec<String>,
    hosts: Vec<String>,
    patterns: Vec<Pattern>,
}

/// What a request matched.
#[derive(Debug)]
pub enum Match {
    /// A route, with the fields its path captured.
    Route(Box<Declared>, Vec<(String, String)>),
    /// A route's path matched, but not with this method.
    MethodNotAllowed(Vec<String>),
}

/// Declared routes by service name, in name order.
type Routes = BTreeMap<String, Vec<Declared>>;

/// The route table, kept current by the registry's watch.
#[derive(Debug, Clone, Default)]
pub struct Table {
    routes: Arc<RwLock<Routes>>,
}

impl Table {
    /// A table kept current from `registry` by a background task (inside a tokio runtime):
    /// built whole when the watch starts, then each service's routes again when an event names
    /// it. Give it the registry the gateway calls through (etcd behind its cache), so it shares
    /// that registry's one watch.
    pub fn watch(registry: Arc<dyn Registry>) -> Self {
        let table = Table::default();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(follow(Arc::downgrade(&table.routes), registry));
        }
        table
    }

    /// The route for this request, if a declared one matches.
    pub fn find(&self, method: &str, host: &str, path: &str) -> Option<Match> {
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        let mut allowed = Vec::new();
        for route in routes.values().flatten() {
            if !route.hosts.is_empty()
                && !route
                    .hosts
                    .iter()
                    .any(|h| h == host || host.split(':').next() == Some(h.as_str()))
            {
                continue;
            }
            let Some(captures) = route.patterns.iter().find_map(|p| matches(p, path)) else {
                continue;
            };
            if route.methods.is_empty()
                || route.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
            {
                return Some(Match::Route(Box::new(route.clone()), captures));
            }
            allowed.extend(route.methods.iter().cloned());
        }
        (!allowed.is_empty()).then_some(Match::MethodNotAllowed(allowed))
    }
}

fn list(v: Option<&String>) -> Vec<String> {
    v.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    })
    .unwrap_or_default()
}

/// Watches `registry` for as long as the table lives: the whole table again whenever a watch
/// starts (nothing is missed in between: the watch is open before the table is read), then
/// one service at a time.
async fn follow(routes: Weak<RwLock<Routes>>, registry: Arc<dyn Registry>) {
    while routes.strong_count() > 0 {
        if let Ok(watcher) = registry.watch(WatchOptions::default()).await {
            // A registry that watches but cannot list is retried like a failed watch.
            if let Some(built) = build(registry.as_ref()).await {
                let Some(table) = routes.upgrade() else {
                    return;
                };
                *table.write().unwrap_or_else(|e| e.into_inner()) = built;
                drop(table);
                apply_events(&routes, registry.as_ref(), watcher).await;
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Rebuilds the routes of each service an event names, until the watch ends or fails.
async fn apply_events(
    routes: &Weak<RwLock<Routes>>,
    registry: &dyn Registry,
    mut watcher: Watcher,
) {
    while let Some(Ok(event)) = watcher.next().await {
        let name = event.service.name;
        let declared = service_routes(registry, &name).await;
        let Some(table) = routes.upgrade() else {
            return;
        };
        let mut table = table.write().unwrap_or_else(|e| e.into_inner());
        match declared {
            Ok(declared) if !declared.is_empty() => {
                table.insert(name, declared);
            }
            Ok(_) | Err(RegistryError::NotFound) => {
                table.remove(&name);
            }
            // Keep what was known; the next event or watch brings it up to date.
            Err(_) => {}
        }
    }
}

/// Every declared route of every service; `None` if the registry cannot list them.
async fn build(registry: &dyn Registry) -> Option<Routes> {
    let names = micro::describe::service_names(registry).await.ok()?;
    let mut routes = Routes::new();
    for name in names {
        if let Ok(declared) = service_routes(registry, &name).await {
            if !declared.is_empty() {
                routes.insert(name, declared);
            }
        }
    }
    Some(routes)
}

/// The routes the endpoints of `name` declare (none for a broker topic).
async fn service_routes(
    registry: &dyn Registry,
    name: &str,
) -> Result<Vec<Declared>, RegistryError> {
    if name.starts_with("topic:") {
        return Ok(Vec::new());
    }
    let versions = registry.get_service(name).await?;
    let mut routes = Vec::new();
    {
        for endpoint in versions.iter().flat_map(|v| v.endpoints.iter()) {
            let Some(paths) = endpoint.metadata.get("path") else {
                continue;
            };
            let patterns = paths
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .filter_map(|p| match pattern(p) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        tracing::warn!(service = %name, endpoint = %endpoint.name, path = p, error = %e, "ignoring a declared route");
                        None
                    }
                })
                .collect();
            routes.push(Declared {
                service: name.to_string(),
                endpoint: endpoint
                    .metadata
                    .get("endpoint")
                    .cloned()
                    .unwrap_or_else(|| endpoint.name.clone()),
                handler: endpoint
                    .metadata
                    .get("handler")
                    .cloned()
                    .unwrap_or_default(),
                methods: list(endpoint.metadata.get("method")),
                hosts: list(endpoint.metadata.get("host")),
                patterns,
            });
        }
    }
    Ok(routes)
}

fn pattern(p: &str) -> Result<Pattern, regex::Error> {
    if p.starts_with('^') {
        return regex::Regex::new(p).map(Pattern::Regex);
    }
    let segments = p
        .split('/')
        .filter(|s| !s.is_empty())
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => (String::new(), Some(name.to_string())),
                None => (s.to_string(), None),
            },
        )
        .collect();
    Ok(Pattern::Template(segments))
}

fn matches(pattern: &Pattern, path: &str) -> Option<Vec<(String, String)>> {
    match pattern {
        Pattern::Regex(re) => {
            let caps = re.captures(path)?;
            Some(
                re.capture_names()
                    .flatten()
                    .filter_map(|n| Some((n.to_string(), caps.name(n)?.as_str().to_string())))
                    .collect(),
            )
        }
        Pattern::Template(segments) => {
            let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut captures = Vec::new();
            for ((literal, capture), part) in segments.iter().zip(parts) {
                match capture {
                    Some(name) => captures.push((name.clone(), part.to_string())),
                    None if literal == part => {}
                    None => return None,
                }
            }
            Some(captures)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_and_regexes_capture_fields() {
        let t = pattern("/greeter/{name}").unwrap();
        assert_eq!(
            matches(&t, "/greeter/john"),
            Some(vec![("name".into(), "john".into())])
        );
        assert_eq!(matches(&t, "/greeter/john/x"), None);
        let r = pattern("^/count/(?P<count>[0-9]+)$").unwrap();
        assert_eq!(
            matches(&r, "/count/42"),
            Some(vec![("count".into(), "42".into())])
        );
        assert_eq!(matches(&r, "/count/x"), None);
    }
}
