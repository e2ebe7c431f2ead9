//! go-micro's service flags (`--registry`, `--server_address`, ...), which every
//! [`Service`](crate::Service) takes on its own command line.
//!
//! Order, strongest first: what the program sets on the builder (`.name(..)`, `.registry(..)`),
//! then these flags, then the `MICRO_*` variables, then the program's defaults
//! ([`ServiceBuilder::defaults`](crate::service::ServiceBuilder::defaults)), then go-micro's.
//!
//! A program with flags of its own flattens [`Flags`] into its own `clap` parser and hands
//! them to the builder, so `--help` lists both:
//!
//! ```no_run
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     /// How to greet.
//!     #[arg(long, default_value = "Hello")]
//!     greeting: String,
//!     #[command(flatten)]
//!     micro: micro::Flags,
//! }
//!
//! let cli = Cli::parse();
//! let service = micro::Service::builder()
//!     .name("go.micro.srv.greeter")
//!     .flags(cli.micro)
//!     .build();
//! ```

use crate::config::Config;
use clap::{Args, CommandFactory, FromArgMatches, Parser};

/// The service flags; each falls back to its `MICRO_*` variable when not given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
#[command(next_help_heading = "Service options")]
pub struct Flags {
    /// Name of the service [env: MICRO_SERVER_NAME]
    #[arg(long = "server_name", alias = "server-name", value_name = "NAME")]
    pub server_name: Option<String>,
    /// Version of the service [env: MICRO_SERVER_VERSION]
    #[arg(
        long = "server_version",
        alias = "server-version",
        value_name = "VERSION"
    )]
    pub server_version: Option<String>,
    /// Where to listen, host:port [env: MICRO_SERVER_ADDRESS; default 127.0.0.1:0]
    #[arg(
        long = "server_address",
        alias = "server-address",
        value_name = "ADDRESS"
    )]
    pub server_address: Option<String>,
    /// Registry: mdns, etcd or memory [env: MICRO_REGISTRY; default mdns]
    #[arg(long, value_name = "NAME")]
    pub registry: Option<String>,
    /// Registry address(es), comma-separated [env: MICRO_REGISTRY_ADDRESS]
    #[arg(
        long = "registry_address",
        alias = "registry-address",
        value_name = "ADDRESS"
    )]
    pub registry_address: Option<String>,
    /// Broker: http, nats or memory [env: MICRO_BROKER; default http]
    #[arg(long, value_name = "NAME")]
    pub broker: Option<String>,
    /// Broker address [env: MICRO_BROKER_ADDRESS]
    #[arg(
        long = "broker_address",
        alias = "broker-address",
        value_name = "ADDRESS"
    )]
    pub broker_address: Option<String>,
    /// Seconds a registration lives [env: MICRO_REGISTER_TTL; default 60]
    #[arg(long = "register_ttl", alias = "register-ttl", value_name = "SECONDS")]
    pub register_ttl: Option<u64>,
    /// Seconds between registrations [env: MICRO_REGISTER_INTERVAL; default 30]
    #[arg(
        long = "register_interval",
        alias = "register-interval",
        value_name = "SECONDS"
    )]
    pub register_interval: Option<u64>,
    /// The certificate (PEM) to serve TLS with [env: MICRO_SERVER_TLS_CERT]
    #[arg(
        long = "server_tls_cert",
        alias = "server-tls-cert",
        value_name = "FILE"
    )]
    pub server_tls_cert: Option<std::path::PathBuf>,
    /// Its private key (PEM) [env: MICRO_SERVER_TLS_KEY]
    #[arg(long = "server_tls_key", alias = "server-tls-key", value_name = "FILE")]
    pub server_tls_key: Option<std::path::PathBuf>,
    /// Require client certificates signed by this CA (PEM): mutual TLS
    /// [env: MICRO_SERVER_TLS_CLIENT_CA]
    #[arg(
        long = "server_tls_client_ca",
        alias = "server-tls-client-ca",
        value_name = "FILE"
    )]
    pub server_tls_client_ca: Option<std::path::PathBuf>,
    /// Check tokens on every call: jwt [env: MICRO_AUTH]
    #[arg(long, value_name = "KIND")]
    pub auth: Option<String>,
    /// The public key (PEM) tokens are verified with [env: MICRO_AUTH_PUBLIC_KEY]
    #[arg(
        long = "auth_public_key",
        alias = "auth-public-key",
        value_name = "FILE"
    )]
    pub auth_public_key: Option<String>,
    /// The rules (JSON): which endpoints need which scopes [env: MICRO_AUTH_RULES]
    #[arg(long = "auth_rules", alias = "auth-rules", value_name = "FILE")]
    pub auth_rules: Option<std::path::PathBuf>,
}

/// A command line of these flags alone.
#[derive(Parser)]
#[command(name = "service")]
struct Line {
    #[command(flatten)]
    flags: Flags,
}

impl Flags {
    /// The flags of this process's command line. `--help` prints them (with `about` above) and
    /// exits 0; an unknown flag or a bad value prints clap's error and exits 2.
    pub fn from_args(about: &str) -> Self {
        let program = std::env::args()
            .next()
            .and_then(|p| {
                std::path::Path::new(&p)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "service".into());
        let matches = Line::command()
            .bin_name(program)
            .about(about.to_string())
            .get_matches();
        match Line::from_arg_matches(&matches) {
            Ok(line) => line.flags,
            Err(e) => e.exit(),
        }
    }

    /// The settings these flags make of the program's `defaults`: the `MICRO_*` variables over
    /// the defaults, these flags over both.
    pub fn config(&self, defaults: Config) -> Config {
        defaults.with_env().with_flags(self)
    }

    /// The flags of `args` (the first is the program's name), or clap's error.
    pub fn try_parse_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Line::try_parse_from(args).map(|line| line.flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_go_micros_spelling_and_dashes() {
        let flags = Flags::try_parse_from([
            "svc",
            "--registry=etcd",
            "--registry_address",
            "127.0.0.1:2379",
            "--broker-address=nats://127.0.0.1:4222",
            "--register_interval=5",
        ])
        .unwrap();
        assert_eq!(flags.registry.as_deref(), Some("etcd"));
        assert_eq!(flags.registry_address.as_deref(), Some("127.0.0.1:2379"));
        assert_eq!(
            flags.broker_address.as_deref(),
            Some("nats://127.0.0.1:4222")
        );
        assert_eq!(flags.register_interval, Some(5));
        assert_eq!(flags.register_ttl, None);
    }

    #[test]
    fn refuses_unknown_flags_and_bad_numbers() {
        assert!(Flags::try_parse_from(["svc", "--registy=etcd"]).is_err());
        assert!(Flags::try_parse_from(["svc", "--register_ttl=soon"]).is_err());
    }
}
