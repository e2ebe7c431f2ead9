//! `micro proxy`: the service proxy ([`micro_proxy`]) served from the command line.

use crate::cli::Env;
use crate::failure::Failure;

/// `micro proxy` flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ProxyArgs {
    /// Where to listen. The proxy can call every service, so it listens on loopback unless
    /// told otherwise; `:8081` means every interface.
    #[arg(long, env = "MICRO_PROXY_ADDRESS", default_value = "127.0.0.1:8081")]
    pub address: String,
    /// A fixed backend instead of discovery: `host:port`, or a service name.
    #[arg(long, env = "MICRO_PROXY_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Serve gRPC over TLS (rustls, ALPN h2) with --tls_cert_file and --tls_key_file.
    #[arg(long = "enable_tls", alias = "enable-tls", env = "MICRO_ENABLE_TLS")]
    pub enable_tls: bool,
    /// PEM certificate chain for TLS.
    #[arg(
        long = "tls_cert_file",
        alias = "tls-cert-file",
        env = "MICRO_TLS_CERT_FILE"
    )]
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// PEM private key for TLS.
    #[arg(
        long = "tls_key_file",
        alias = "tls-key-file",
        env = "MICRO_TLS_KEY_FILE"
    )]
    pub tls_key_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub auth: crate::auth::EdgeAuthArgs,
}

/// `micro proxy`: forwards calls until SIGINT or SIGTERM.
pub(crate) async fn run(env: Env, args: &ProxyArgs) -> Result<(), Failure> {
    let address = if args.address.starts_with(':') {
        format!("0.0.0.0{}", args.address)
    } else {
        args.address.clone()
    };
    if let Ok(via) = std::env::var("MICRO_PROXY") {
        if !via.trim().is_empty() {
            eprintln!("micro proxy: MICRO_PROXY={via} is ignored: the proxy calls nodes itself");
        }
    }
    // Calls carry the caller's token or none: never one of the proxy's own.
    let client = micro::Client::builder()
        .registry(env.registry.clone())
        .no_proxy()
        .no_token()
        .build();
    let backend = micro_proxy::Backend::parse(args.endpoint.as_deref().unwrap_or(""));
    let proxy = micro_proxy::Proxy::new(client.clone(), backend);
    let mut builder = micro::Service::builder();
    if let Some(policy) = args.auth.policy()? {
        builder = builder.auth(policy);
    }
    if args.enable_tls {
        let (Some(cert), Some(key)) = (&args.tls_cert_file, &args.tls_key_file) else {
            return Err(Failure::usage(
                "--enable_tls needs --tls_cert_file and --tls_key_file",
            ));
        };
        let tls = micro::server::tls::Tls::from_pem_files(cert, key, &[b"h2"])
            .map_err(|e| Failure::new(format!("micro proxy: {e}")))?;
        builder = builder.tls(tls);
    }
    let service = builder
        .name(micro::client::PROXY_SERVICE)
        .address(address.clone())
        .registry(env.registry.clone())
        .client(client)
        .flags(micro::Flags::default())
        .forward(proxy.forwarder())
        .build()
        .map_err(|e| Failure::new(format!("micro proxy: {e}")))?;
    let running = service
        .start()
        .await
        .map_err(|e| Failure::new(format!("micro proxy: {e}")))?;
    proxy.listening_on(running.local_addr());
    eprintln!(
        "micro proxy listening on {}{}",
        running.local_addr(),
        if args.enable_tls { " (TLS)" } else { "" }
    );
    micro::service::shutdown_signal().await;
    running
        .stop()
        .await
        .map_err(|e| Failure::new(format!("micro proxy: {e}")))
}
