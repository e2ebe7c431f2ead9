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
    #[command(flatten)]
    pub tls: crate::serving::TlsArgs,
    #[command(flatten)]
    pub auth: crate::auth::EdgeAuthArgs,
}

/// `micro proxy`: forwards calls until SIGINT or SIGTERM.
pub(crate) async fn run(env: Env, args: &ProxyArgs) -> Result<(), Failure> {
    let address = crate::serving::listen_address(&args.address);
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
    if let Some((cert, key)) = args.tls.files()? {
        // gRPC over TLS: ALPN h2.
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
        args.tls.label()
    );
    micro::service::shutdown_signal().await;
    running
        .stop()
        .await
        .map_err(|e| Failure::new(format!("micro proxy: {e}")))
}
