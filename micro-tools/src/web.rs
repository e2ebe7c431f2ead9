//! `micro web`: the dashboard ([`micro_web`]) served from the command line; its terminal runs
//! lines through the interactive shell's own code.

use crate::cli::shell::{completions, refresh, run_line, Known};
use crate::cli::Env;
use crate::failure::Failure;
use std::sync::{Arc, Mutex};

/// `micro web` flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct WebArgs {
    /// Where to listen. The dashboard can call every service, so it listens on loopback unless
    /// told otherwise; `:8082` means every interface.
    #[arg(long, env = "MICRO_WEB_ADDRESS", default_value = "127.0.0.1:8082")]
    pub address: String,
    /// Services named NAMESPACE.APP are web apps, served at /APP/.
    #[arg(long, env = "MICRO_WEB_NAMESPACE", default_value = "go.micro.web")]
    pub namespace: String,
    /// Largest request body, in bytes.
    #[arg(long = "max_body", alias = "max-body", env = "MICRO_WEB_MAX_BODY", default_value_t = 1 << 20)]
    pub max_body: usize,
    #[command(flatten)]
    pub tls: crate::serving::TlsArgs,
    #[command(flatten)]
    pub auth: crate::auth::EdgeAuthArgs,
}

/// The dashboard's terminal: each line as `micro cli` runs it.
struct ShellTerminal {
    env: Env,
    known: Mutex<Known>,
}

#[async_trait::async_trait]
impl micro_web::Terminal for ShellTerminal {
    async fn run(&self, line: &str) -> String {
        let line = line.trim();
        if line.split_whitespace().any(|w| w == "--stdin") {
            return "--stdin reads the dashboard's standard input: type the request instead\n"
                .into();
        }
        let mut out = Vec::new();
        if run_line(&self.env, line, &mut out).await == crate::cli::shell::Flow::Leave {
            return "the terminal stays open: close the page to leave\n".into();
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    async fn complete(&self, line: &str) -> Vec<String> {
        refresh(&self.env, &self.known).await;
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        completions(line, &known).1
    }
}

/// `micro web`: serves the dashboard until SIGINT or SIGTERM.
pub(crate) async fn run(env: Env, args: &WebArgs) -> Result<(), Failure> {
    let tcp = crate::serving::bind(&args.address).await?;
    let local = tcp
        .local_addr()
        .map_err(|e| Failure::new(format!("micro web: {e}")))?;
    let options = micro_web::Options {
        namespace: args.namespace.clone(),
        max_body: args.max_body,
        allowed_hosts: micro_web::Options::hosts_for(local),
        auth: args.auth.policy()?,
    };
    // Checking callers' tokens, calls carry the caller's token only; else the dashboard calls
    // as its operator, as the CLI does.
    let client = match options.auth {
        Some(_) => env.edge_client(),
        None => env.client.clone(),
    };
    let terminal = Arc::new(ShellTerminal {
        env: env.clone(),
        known: Mutex::default(),
    });
    let app = micro_web::router(client, env.registry.clone(), terminal, options);
    let listener = micro_api::listener(tcp).limits(env.config.connection_limits.clone());
    let listener = match args.tls.files()? {
        Some((cert, key)) => {
            let tls =
                micro_api::tls(cert, key).map_err(|e| Failure::new(format!("micro web: {e}")))?;
            listener.tls(tls)
        }
        None => listener,
    };
    eprintln!("micro web listening on {local}{}", args.tls.label());
    micro_api::serve(listener, app, micro::service::shutdown_signal()).await;
    Ok(())
}
