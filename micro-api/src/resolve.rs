//! From an HTTP path to a service and an endpoint, as micro v2's api resolver does.

/// Where a request goes: the service (namespace included) and `Handler.Method`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Fully qualified service name, e.g. `go.micro.srv.greeter`.
    pub service: String,
    /// Endpoint, e.g. `Greeter.Call`.
    pub endpoint: String,
}

/// Resolves `path` for the rpc handlers, then prefixes `namespace`:
///
/// - `/foo` → `foo`, `Foo.Call`;
/// - `/foo/bar` → `foo`, `Foo.Bar`;
/// - `/v1/foo/bar` (a version first, three segments) → `v1.foo`, `Foo.Bar`;
/// - otherwise all but the last two segments are the service, the last two the endpoint:
///   `/foo/bar/baz` → `foo`, `Bar.Baz`;
/// - endpoint parts are title-cased with hyphens folded: `baz-xyz` → `BazXyz`.
///
/// `None` for the root path.
///
/// ```
/// use micro_api::resolve::{rpc_route, Route};
/// let r = rpc_route("/greeter/call", "go.micro.srv").unwrap();
/// assert_eq!(r, Route { service: "go.micro.srv.greeter".into(), endpoint: "Greeter.Call".into() });
/// ```
pub fn rpc_route(path: &str, namespace: &str) -> Option<Route> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let (service, handler, method) = match parts.as_slice() {
        [] => return None,
        [one] => (one.to_string(), *one, "call"),
        [v, service, method] if is_version(v) => (format!("{v}.{service}"), *service, *method),
        [service, method] => (service.to_string(), *service, *method),
        [rest @ .., handler, method] => (rest.join("."), *handler, *method),
    };
    Some(Route {
        service: qualify(namespace, &service),
        endpoint: format!("{}.{}", camel(handler), camel(method)),
    })
}

/// The service of a path for the http, web and event handlers: the first segment, or `vN.first`.
pub fn service_of(path: &str, namespace: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let service = match parts.as_slice() {
        [] => return None,
        [v, first, ..] if is_version(v) => format!("{v}.{first}"),
        [first, ..] => first.to_string(),
    };
    Some(qualify(namespace, &service))
}

fn qualify(namespace: &str, service: &str) -> String {
    if namespace.is_empty() {
        service.to_string()
    } else {
        format!("{namespace}.{service}")
    }
}

fn is_version(s: &str) -> bool {
    s.len() > 1 && s.starts_with('v') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

/// `baz-xyz` → `BazXyz`, `call` → `Call`.
fn camel(s: &str) -> String {
    s.split('-')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            match chars.next() {
                Some(c) => c.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(path: &str) -> (String, String) {
        let route = rpc_route(path, "ns").unwrap();
        (route.service, route.endpoint)
    }

    #[test]
    fn one_segment_is_the_call_endpoint() {
        assert_eq!(r("/foo"), ("ns.foo".into(), "Foo.Call".into()));
    }

    #[test]
    fn two_segments_are_service_and_method() {
        assert_eq!(r("/foo/bar"), ("ns.foo".into(), "Foo.Bar".into()));
    }

    #[test]
    fn a_version_first_with_three_segments() {
        assert_eq!(r("/v1/foo/bar"), ("ns.v1.foo".into(), "Foo.Bar".into()));
    }

    #[test]
    fn more_segments_make_a_dotted_service() {
        assert_eq!(r("/foo/bar/baz"), ("ns.foo".into(), "Bar.Baz".into()));
        assert_eq!(r("/a/b/c/d"), ("ns.a.b".into(), "C.D".into()));
    }

    #[test]
    fn hyphens_fold_to_camel_case() {
        assert_eq!(
            r("/foo/bar/baz-xyz"),
            ("ns.foo".into(), "Bar.BazXyz".into())
        );
    }

    #[test]
    fn the_root_resolves_to_nothing() {
        assert_eq!(rpc_route("/", "ns"), None);
    }

    #[test]
    fn http_web_and_event_use_the_first_segment() {
        assert_eq!(
            service_of("/user/login", "go.micro.evt"),
            Some("go.micro.evt.user".into())
        );
        assert_eq!(
            service_of("/v2/user/login", "ns"),
            Some("ns.v2.user".into())
        );
    }
}
