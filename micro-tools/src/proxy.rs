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
    let client = micro::Client::builder()
        .registry(env.registry.clone())
        .no_proxy()
        .build();
    let backend = micro_proxy::Backend::parse(args.endpoint.as_deref().unwrap_or(""));
    let proxy = micro_proxy::Proxy::new(client.clone(), backend);
    let service = micro::Service::builder()
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
    eprintln!("micro proxy listening on {}", running.local_addr());
    micro::service::shutdown_signal().await;
    running
        .stop()
        .await
        .map_err(|e| Failure::new(format!("micro proxy: {e}")))
}
