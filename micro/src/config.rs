//! `MICRO_*` environment configuration shared by services and tools.

use std::time::Duration;

/// Settings read from the environment; each has go-micro's variable name.
#[derive(Debug, Clone)]
pub struct Config {
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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            registry: crate::registry::DEFAULT.into(),
            registry_address: None,
            broker: "http".into(),
            broker_address: None,
            server_address: None,
            register_ttl: Duration::from_secs(60),
            register_interval: Duration::from_secs(30),
        }
    }
}

impl Config {
    /// Defaults overridden by whatever `MICRO_*` variables are set (and not empty).
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// As [`from_env`](Self::from_env), reading variables through `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
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
        let d = Config::default();
        Config {
            registry: get("MICRO_REGISTRY").unwrap_or(d.registry),
            registry_address: get("MICRO_REGISTRY_ADDRESS"),
            broker: get("MICRO_BROKER").unwrap_or(d.broker),
            broker_address: get("MICRO_BROKER_ADDRESS"),
            server_address: get("MICRO_SERVER_ADDRESS"),
            register_ttl: secs("MICRO_REGISTER_TTL", d.register_ttl),
            register_interval: secs("MICRO_REGISTER_INTERVAL", d.register_interval),
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
            _ => None,
        });
        assert_eq!(cfg.register_ttl, Duration::from_secs(10));
        assert_eq!(cfg.register_interval, Duration::from_secs(30));
        assert_eq!(cfg.server_address.as_deref(), Some("127.0.0.1:9090"));
        assert_eq!(cfg.registry, crate::registry::DEFAULT);
    }
}
