//! `micro api`: the HTTP gateway ([`micro_api`]) served from the command line.

use crate::cli::Env;
use crate::failure::Failure;

/// `micro api` flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ApiArgs {
    /// Where to listen; `:8080` means every interface.
    #[arg(long, env = "MICRO_API_ADDRESS", default_value = ":8080")]
    pub address: String,
    /// Handler: meta, rpc, api, http, web or event.
    #[arg(long, env = "MICRO_API_HANDLER", default_value = "meta")]
    pub handler: String,
    /// Namespace prefixed to resolved service names.
    #[arg(long, env = "MICRO_API_NAMESPACE", default_value = "go.micro.api")]
    pub namespace: String,
    /// Serve POST /rpc.
    #[arg(
        long = "enable_rpc",
        alias = "enable-rpc",
        env = "MICRO_API_ENABLE_RPC"
    )]
    pub enable_rpc: bool,
    /// Let POST /rpc call services outside --namespace.
    #[arg(
        long = "rpc_any_service",
        alias = "rpc-any-service",
        env = "MICRO_API_RPC_ANY_SERVICE"
    )]
    pub rpc_any_service: bool,
    /// Route to the framework's Debug.* endpoints (memory, request counts, logs); 404 otherwise.
    #[arg(
        long = "enable_debug",
        alias = "enable-debug",
        env = "MICRO_API_ENABLE_DEBUG"
    )]
    pub enable_debug: bool,
    /// Origins whose web pages may call through the gateway (CORS), comma-separated; none by
    /// default (no CORS headers). `*` allows any origin, without credentials.
    #[arg(
        long = "cors_allowed_origins",
        alias = "cors-allowed-origins",
        env = "MICRO_API_CORS_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_allowed_origins: Vec<String>,
    /// Largest request body, in bytes.
    #[arg(long = "max_body", alias = "max-body", env = "MICRO_API_MAX_BODY", default_value_t = 10 << 20)]
    pub max_body: usize,
    #[command(flatten)]
    pub tls: crate::serving::TlsArgs,
    #[command(flatten)]
    pub auth: crate::auth::EdgeAuthArgs,
}

/// `micro api`: serves the gateway until SIGINT or SIGTERM.
pub(crate) async fn run(env: Env, args: &ApiArgs) -> Result<(), Failure> {
    let handler = args
        .handler
        .parse::<micro_api::HandlerKind>()
        .map_err(|e| Failure::usage(e.to_string()))?;
    let tcp = crate::serving::bind(&args.address).await?;
    let options = micro_api::Options {
        namespace: args.namespace.clone(),
        handler,
        enable_rpc: args.enable_rpc,
        rpc_any_service: args.rpc_any_service,
        enable_debug: args.enable_debug,
        cors_allowed_origins: args.cors_allowed_origins.clone(),
        max_body: args.max_body,
        body_timeout: env.config.connection_limits.body_timeout,
        auth: args.auth.policy()?,
    };
    // Calls carry the caller's token or none: never one of the gateway's own.
    let app = micro_api::router(env.edge_client(), env.registry.clone(), options);
    let listener = micro_api::listener(tcp).limits(env.config.connection_limits.clone());
    let listener = match args.tls.files()? {
        Some((cert, key)) => {
            let tls =
                micro_api::tls(cert, key).map_err(|e| Failure::new(format!("micro api: {e}")))?;
            listener.tls(tls)
        }
        None => listener,
    };
    if let Ok(local) = listener.local_addr() {
        eprintln!("micro api listening on {local}{}", args.tls.label());
    }
    micro_api::serve(listener, app, micro::service::shutdown_signal()).await;
    Ok(())
}
