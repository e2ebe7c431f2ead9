//! The router: from a gRPC path to the endpoint that serves it.

use super::handler::HandlerEndpoint;
use std::collections::HashMap;
use std::sync::Arc;

/// Endpoints by name, plus a few fixed paths of standard gRPC services.
#[derive(Debug, Default, Clone)]
pub(crate) struct Router {
    /// Shared: a request holds its endpoint (schemas and all) without copying it.
    endpoints: HashMap<String, Arc<HandlerEndpoint>>,
    /// Full paths such as `/grpc.health.v1.Health/Check`, which must not clash with a user's
    /// own `Health` handler.
    exact: HashMap<String, Arc<HandlerEndpoint>>,
    /// Endpoints the framework serves itself; not listed in the registry.
    internal: Vec<String>,
}

impl Router {
    pub(crate) fn add(&mut self, endpoint: HandlerEndpoint) {
        if self.endpoints.contains_key(endpoint.name()) {
            tracing::warn!(
                endpoint = endpoint.name(),
                "endpoint defined twice; the later one serves"
            );
        }
        self.endpoints
            .insert(endpoint.name().to_string(), Arc::new(endpoint));
    }

    pub(crate) fn add_internal(&mut self, mut endpoint: HandlerEndpoint) {
        endpoint.internal = true;
        self.internal.push(endpoint.name().to_string());
        self.add(endpoint);
    }

    pub(crate) fn add_exact(&mut self, path: &str, mut endpoint: HandlerEndpoint) {
        endpoint.internal = true;
        self.exact.insert(path.to_string(), Arc::new(endpoint));
    }

    /// Whether `path` is one of the fixed paths (such as the gRPC health check), served
    /// whatever its package says.
    pub(crate) fn is_exact(&self, path: &str) -> bool {
        self.exact.contains_key(path)
    }

    /// The endpoint for `path` and the name it is known by (`Handler.Method`).
    pub(crate) fn route(&self, path: &str) -> (String, Option<&Arc<HandlerEndpoint>>) {
        if let Some(e) = self.exact.get(path) {
            return (e.name().to_string(), Some(e));
        }
        let name = endpoint_name(path);
        let endpoint = self.endpoints.get(&name);
        (name, endpoint)
    }

    /// Endpoints to publish in the registry, sorted by name.
    pub(crate) fn public_endpoints(&self) -> Vec<crate::registry::Endpoint> {
        let mut list: Vec<_> = self
            .endpoints
            .values()
            .filter(|e| !self.internal.iter().any(|i| i == e.name()))
            .map(|e| e.info().clone())
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }
}

/// `Handler.Method` from `/<package>.<Handler>/<Method>`: the last name before the slash and
/// the method, so `/Greeter/Call` and `/go.micro.srv.greeter.Greeter/Call` both give
/// `Greeter.Call`.
pub(crate) fn endpoint_name(path: &str) -> String {
    let path = path.trim_start_matches('/');
    match path.rsplit_once('/') {
        Some((service, method)) => {
            let handler = service.rsplit('.').next().unwrap_or(service);
            format!("{handler}.{method}")
        }
        None => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::endpoint_name;

    #[test]
    fn dispatches_on_the_last_two_names() {
        assert_eq!(
            endpoint_name("/go.micro.srv.greeter.Greeter/Call"),
            "Greeter.Call"
        );
        assert_eq!(endpoint_name("/Greeter/Call"), "Greeter.Call");
        assert_eq!(endpoint_name("/Func"), "Func");
    }
}
