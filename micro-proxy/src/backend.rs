//! Where the proxy sends calls: to the service each call names, or to one fixed backend.

/// Where calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// To a node of the service named in each call's path, found through the registry.
    Discover,
    /// Every call to this address (`host:port`).
    Address(String),
    /// Every call to a node of this service.
    Service(String),
}

impl Backend {
    /// `--endpoint`'s value, as micro v2 reads it: with a `:` an address, else a service name;
    /// empty means discovery.
    pub fn parse(endpoint: &str) -> Backend {
        match endpoint.trim() {
            "" => Backend::Discover,
            e if e.contains(':') => Backend::Address(e.to_string()),
            e => Backend::Service(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_with_a_colon_is_an_address() {
        assert_eq!(Backend::parse(""), Backend::Discover);
        assert_eq!(
            Backend::parse("127.0.0.1:9090"),
            Backend::Address("127.0.0.1:9090".into())
        );
        assert_eq!(
            Backend::parse("go.micro.srv.greeter"),
            Backend::Service("go.micro.srv.greeter".into())
        );
    }
}
