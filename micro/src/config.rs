//! A service's settings, in layers: go-micro's defaults, then the program's own defaults, then
//! the `MICRO_*` environment (and OpenTelemetry's `OTEL_EXPORTER_OTLP_*`), then the command
//! line ([`Flags`]).

use crate::auth::{AuthSettings, Token};
use crate::broker::{self, Broker, BrokerError, HttpBroker};
use crate::flags::Flags;
use crate::registry::{self, Registry, RegistryError};
use crate::server::ConnectionLimits;
use crate::tls::{ClientTlsFiles, ServerTlsFiles};
use std::sync::Arc;
use std::time::Duration;

/// Settings of a service or tool; each has go-micro's variable name.
#[derive(Debug, Clone)]
pub struct Config {
    /// `MICRO_SERVER_NAME`: the service name.
    pub server_name: Option<String>,
    /// `MICRO_SERVER_VERSION`: the service version.
    pub server_version: Option<String>,
    /// `MICRO_REGISTRY`: registry name.
    pub registry: String,
    /// `MICRO_REGISTRY_ADDRESS`: registry address(es), comma-separated.
    pub registry_address: Option<String>,
    /// `MICRO_BROKER`: broker name.
    pub broker: String,
    /// `MICRO_BROKER_ADDRESS`: broker address (NATS servers; for http, where to listen).
    pub broker_address: Option<String>,
    /// `MICRO_SERVER_ADDRESS`: where a service listens.
    pub server_address: Option<String>,
    /// `MICRO_REGISTER_TTL` (seconds): how long a registration lives.
    pub register_ttl: Duration,
    /// `MICRO_REGISTER_INTERVAL` (seconds): how often a service registers again.
    pub register_interval: Duration,
    /// `MICRO_METRICS_ADDRESS`: where Prometheus metrics are served (off when unset).
    pub metrics_address: Option<String>,
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT`: where traces
    /// are exported over OTLP/gRPC (off when unset).
    pub otlp_endpoint: Option<String>,
    /// Bounds on a server's connections: `MICRO_SERVER_MAX_CONNECTIONS`, and in seconds
    /// `MICRO_SERVER_HEADER_TIMEOUT`, `MICRO_SERVER_IDLE_TIMEOUT`, `MICRO_SERVER_BODY_TIMEOUT`,
    /// `MICRO_SERVER_KEEPALIVE_INTERVAL` (0: no pings).
    pub connection_limits: ConnectionLimits,
    /// `MICRO_SERVER_TLS_CERT`, `_KEY`, `_CLIENT_CA`: TLS, and mutual TLS, for the server.
    pub server_tls: ServerTlsFiles,
    /// `MICRO_CLIENT_TLS_CA`, `_CERT`, `_KEY`, `_SERVER_NAME`: TLS to `secure=true` nodes.
    pub client_tls: ClientTlsFiles,
    /// `MICRO_AUTH`, `MICRO_AUTH_PUBLIC_KEY`, `MICRO_AUTH_RULES`, `MICRO_AUTH_TOKEN`: tokens
    /// checked by the service, and the token its client sends.
    pub auth: AuthSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server_name: None,
            server_version: None,
            registry: registry::DEFAULT.into(),
            registry_address: None,
            broker: "http".into(),
            broker_address: None,
            server_address: None,
            register_ttl: registry::DEFAULT_TTL,
            register_interval: registry::DEFAULT_INTERVAL,
            metrics_address: None,
            otlp_endpoint: None,
            connection_limits: ConnectionLimits::default(),
            server_tls: ServerTlsFiles::default(),
            client_tls: ClientTlsFiles::default(),
            auth: AuthSettings::default(),
        }
    }
}

impl Config {
    /// The registry these settings name (`registry`, `registry_address`).
    pub fn registry(&self) -> Result<Arc<dyn Registry>, RegistryError> {
        registry::by_name(&self.registry, self.registry_address.as_deref())
    }

    /// The broker these settings name (`broker`, `broker_address`), over `registry` where it
    /// needs one; the http broker registers its subscriptions with these TTL and interval.
    pub fn broker(&self, registry: Arc<dyn Registry>) -> Result<Arc<dyn Broker>, BrokerError> {
        let address = self.broker_address.as_deref();
        match self.broker.trim() {
            "" | "http" => Ok(Arc::new(
                HttpBroker::with_address(registry, address.unwrap_or("127.0.0.1:0"))
                    .registering_every(self.register_ttl, self.register_interval),
            )),
            other => broker::by_name(other, address, registry),
        }
    }

    /// Defaults overridden by whatever `MICRO_*` variables are set (and not empty).
    pub fn from_env() -> Self {
        Config::default().with_env()
    }

    /// As [`from_env`](Self::from_env), reading variables through `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        Config::default().with_lookup(get)
    }

    /// These settings, overridden by whatever `MICRO_*` variables are set (and not empty).
    pub fn with_env(self) -> Self {
        self.with_lookup(|k| std::env::var(k).ok())
    }

    /// As [`with_env`](Self::with_env), reading variables through `get`.
    pub fn with_lookup(self, get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let secs = |k: &str, default: Duration| match get(k).map(|v| v.trim().parse::<u64>()) {
            Some(Ok(s)) => Duration::from_secs(s),
            Some(Err(_)) => {
                tracing::warn!(
                    variable = k,
                    "not a whole number of seconds, using the default"
                );
                default
            }
            None => default,
        };
        let path = |k: &str| get(k).map(std::path::PathBuf::from);
        let limits = self.connection_limits;
        let max_connections = match get("MICRO_SERVER_MAX_CONNECTIONS").map(|v| v.trim().parse()) {
            Some(Ok(n)) if n > 0 => n,
            Some(_) => {
                tracing::warn!(
                    variable = "MICRO_SERVER_MAX_CONNECTIONS",
                    "not a positive whole number, using the default"
                );
                limits.max_connections
            }
            None => limits.max_connections,
        };
        let keepalive = limits.keepalive_interval.unwrap_or(Duration::ZERO);
        let keepalive = secs("MICRO_SERVER_KEEPALIVE_INTERVAL", keepalive);
        // A timeout of 0 would close every connection or fail every call: not a setting.
        let timeout = |k: &str, default: Duration| match secs(k, default) {
            t if t.is_zero() => {
                tracing::warn!(
                    variable = k,
                    "0 s would refuse everything, using the default"
                );
                default
            }
            t => t,
        };
        let connection_limits = ConnectionLimits {
            header_timeout: timeout("MICRO_SERVER_HEADER_TIMEOUT", limits.header_timeout),
            idle_timeout: timeout("MICRO_SERVER_IDLE_TIMEOUT", limits.idle_timeout),
            body_timeout: timeout("MICRO_SERVER_BODY_TIMEOUT", limits.body_timeout),
            keepalive_interval: (!keepalive.is_zero()).then_some(keepalive),
            keepalive_timeout: limits.keepalive_timeout,
            max_connections,
        };
        Config {
            server_name: get("MICRO_SERVER_NAME").or(self.server_name),
            server_version: get("MICRO_SERVER_VERSION").or(self.server_version),
            registry: get("MICRO_REGISTRY").unwrap_or(self.registry),
            registry_address: get("MICRO_REGISTRY_ADDRESS").or(self.registry_address),
            broker: get("MICRO_BROKER").unwrap_or(self.broker),
            broker_address: get("MICRO_BROKER_ADDRESS").or(self.broker_address),
            server_address: get("MICRO_SERVER_ADDRESS").or(self.server_address),
            register_ttl: secs("MICRO_REGISTER_TTL", self.register_ttl),
            register_interval: secs("MICRO_REGISTER_INTERVAL", self.register_interval),
            metrics_address: get("MICRO_METRICS_ADDRESS").or(self.metrics_address),
            otlp_endpoint: get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                .or_else(|| get("OTEL_EXPORTER_OTLP_ENDPOINT"))
                .or(self.otlp_endpoint),
            connection_limits,
            server_tls: ServerTlsFiles {
                cert: path("MICRO_SERVER_TLS_CERT").or(self.server_tls.cert),
                key: path("MICRO_SERVER_TLS_KEY").or(self.server_tls.key),
                client_ca: path("MICRO_SERVER_TLS_CLIENT_CA").or(self.server_tls.client_ca),
            },
            client_tls: ClientTlsFiles {
                ca: path("MICRO_CLIENT_TLS_CA").or(self.client_tls.ca),
                cert: path("MICRO_CLIENT_TLS_CERT").or(self.client_tls.cert),
                key: path("MICRO_CLIENT_TLS_KEY").or(self.client_tls.key),
                server_name: get("MICRO_CLIENT_TLS_SERVER_NAME").or(self.client_tls.server_name),
            },
            auth: AuthSettings {
                kind: get("MICRO_AUTH").or(self.auth.kind),
                public_key: get("MICRO_AUTH_PUBLIC_KEY").or(self.auth.public_key),
                rules: path("MICRO_AUTH_RULES").or(self.auth.rules),
                token: get("MICRO_AUTH_TOKEN").map(Token::new).or(self.auth.token),
            },
        }
    }

    /// These settings, overridden by every flag given on the command line.
    pub fn with_flags(self, flags: &Flags) -> Self {
        let given = |s: &Option<String>| s.clone().filter(|v| !v.trim().is_empty());
        Config {
            server_name: given(&flags.server_name).or(self.server_name),
            server_version: given(&flags.server_version).or(self.server_version),
            registry: given(&flags.registry).unwrap_or(self.registry),
            registry_address: given(&flags.registry_address).or(self.registry_address),
            broker: given(&flags.broker).unwrap_or(self.broker),
            broker_address: given(&flags.broker_address).or(self.broker_address),
            server_address: given(&flags.server_address).or(self.server_address),
            register_ttl: flags
                .register_ttl
                .map_or(self.register_ttl, Duration::from_secs),
            register_interval: flags
                .register_interval
                .map_or(self.register_interval, Duration::from_secs),
            metrics_address: self.metrics_address,
            otlp_endpoint: self.otlp_endpoint,
            connection_limits: self.connection_limits,
            server_tls: ServerTlsFiles {
                cert: flags.server_tls_cert.clone().or(self.server_tls.cert),
                key: flags.server_tls_key.clone().or(self.server_tls.key),
                client_ca: flags
                    .server_tls_client_ca
                    .clone()
                    .or(self.server_tls.client_ca),
            },
            client_tls: self.client_tls,
            auth: AuthSettings {
                kind: given(&flags.auth).or(self.auth.kind),
                public_key: given(&flags.auth_public_key).or(self.auth.public_key),
                rules: flags.auth_rules.clone().or(self.auth.rules),
                token: self.auth.token,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_variables_over_defaults() {
        let cfg = Config::from_lookup(|k| match k {
            "MICRO_REGISTER_TTL" => Some("10".into()),
            "MICRO_SERVER_ADDRESS" => Some("127.0.0.1:9090".into()),
            "MICRO_REGISTER_INTERVAL" => Some("x".into()),
            "MICRO_SERVER_MAX_CONNECTIONS" => Some("50".into()),
            "MICRO_SERVER_IDLE_TIMEOUT" => Some("7".into()),
            "MICRO_SERVER_KEEPALIVE_INTERVAL" => Some("0".into()),
            "MICRO_SERVER_HEADER_TIMEOUT" => Some("0".into()),
            _ => None,
        });
        let limits = &cfg.connection_limits;
        assert_eq!(limits.max_connections, 50);
        assert_eq!(limits.idle_timeout, Duration::from_secs(7));
        assert_eq!(limits.keepalive_interval, None);
        assert_eq!(
            limits.header_timeout,
            crate::server::limits::DEFAULT_HEADER_TIMEOUT
        );
        assert_eq!(cfg.register_ttl, Duration::from_secs(10));
        assert_eq!(cfg.register_interval, Duration::from_secs(30));
        assert_eq!(cfg.server_address.as_deref(), Some("127.0.0.1:9090"));
        assert_eq!(cfg.registry, crate::registry::DEFAULT);
    }

    #[test]
    fn flags_beat_variables_and_variables_beat_the_programs_defaults() {
        let program = Config {
            registry: "etcd".into(),
            broker: "nats".into(),
            server_version: Some("1.0".into()),
            ..Config::default()
        };
        let env = |k: &str| match k {
            "MICRO_REGISTRY" => Some("memory".into()),
            "MICRO_REGISTER_TTL" => Some("10".into()),
            "MICRO_SERVER_ADDRESS" => Some("127.0.0.1:9090".into()),
            _ => None,
        };
        let flags = Flags::try_parse_from([
            "svc",
            "--registry_address=127.0.0.1:2379",
            "--register_ttl",
            "20",
            "--server-address=127.0.0.1:9191",
        ])
        .unwrap();
        let cfg = program.with_lookup(env).with_flags(&flags);
        assert_eq!(cfg.registry, "memory", "env over the program's default");
        assert_eq!(
            cfg.broker, "nats",
            "the program's default where nothing else is set"
        );
        assert_eq!(cfg.server_version.as_deref(), Some("1.0"));
        assert_eq!(cfg.registry_address.as_deref(), Some("127.0.0.1:2379"));
        assert_eq!(cfg.register_ttl, Duration::from_secs(20), "flag over env");
        assert_eq!(cfg.server_address.as_deref(), Some("127.0.0.1:9191"));
    }
}
