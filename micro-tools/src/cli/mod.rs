//! The CLI: `micro list|get|call|stream|publish|health|stats|register|deregister|cli`.
//!
//! Commands write to a writer and return a [`Failure`] with its exit code, so the interactive
//! shell runs exactly the same code as the command line.

mod commands;
mod shell;

use clap::{Parser, Subcommand};
use micro::registry::Registry;
use std::io::Write;
use std::sync::Arc;

const EXAMPLES: &str = "Examples:
  micro list services
  micro get service go.micro.srv.greeter
  micro call go.micro.srv.greeter Greeter.Call '{\"name\": \"John\"}'
  micro stream go.micro.srv.greeter Greeter.Stream '{\"count\": 3}'
  micro publish go.micro.topic.events '{\"message\": \"hello\"}'
  micro --registry=etcd --registry_address=127.0.0.1:2379 list services";

/// Micro for Rust: list, describe and call services, publish events.
#[derive(Debug, Parser)]
#[command(name = "micro", version, about, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub globals: Globals,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes; each also reads its `MICRO_*` variable.
#[derive(Debug, Clone, clap::Args)]
pub struct Globals {
    /// Registry: mdns, etcd or memory.
    #[arg(long, global = true, env = "MICRO_REGISTRY")]
    pub registry: Option<String>,
    /// Registry address(es), comma-separated.
    #[arg(
        long = "registry_address",
        alias = "registry-address",
        global = true,
        env = "MICRO_REGISTRY_ADDRESS"
    )]
    pub registry_address: Option<String>,
    /// Broker: http, nats or memory.
    #[arg(long, global = true, env = "MICRO_BROKER")]
    pub broker: Option<String>,
    /// Broker address.
    #[arg(
        long = "broker_address",
        alias = "broker-address",
        global = true,
        env = "MICRO_BROKER_ADDRESS"
    )]
    pub broker_address: Option<String>,
}

/// The commands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// List services.
    #[command(after_help = "Example:\n  micro list services")]
    List {
        #[command(subcommand)]
        what: ListWhat,
    },
    /// Describe a service: versions, nodes, endpoints.
    #[command(after_help = "Example:\n  micro get service go.micro.srv.greeter")]
    Get {
        #[command(subcommand)]
        what: GetWhat,
    },
    /// Call an endpoint with JSON; prints the reply.
    #[command(
        after_help = "Example:\n  micro call go.micro.srv.greeter Greeter.Call '{\"name\": \"John\"}'"
    )]
    Call(commands::CallArgs),
    /// Open a stream: prints each reply. With --stdin, JSON lines from stdin are the requests.
    #[command(
        after_help = "Examples:\n  micro stream go.micro.srv.greeter Greeter.Stream '{\"count\": 3}'\n  printf '{\"stroke\":1}\\n{\"stroke\":2}\\n' | micro stream --stdin go.micro.srv.greeter Greeter.PingPong"
    )]
    Stream(commands::StreamArgs),
    /// Publish a JSON message to a topic.
    #[command(
        after_help = "Example:\n  micro publish go.micro.topic.events '{\"message\": \"hello\"}'"
    )]
    Publish {
        /// The topic.
        topic: String,
        /// The message, as JSON.
        message: String,
    },
    /// Health of every node of a service (Debug.Health).
    #[command(after_help = "Example:\n  micro health go.micro.srv.greeter")]
    Health {
        /// The service.
        service: String,
    },
    /// Stats of every node of a service (Debug.Stats).
    #[command(after_help = "Example:\n  micro stats go.micro.srv.greeter")]
    Stats {
        /// The service.
        service: String,
    },
    /// Register a service record given as JSON.
    #[command(
        after_help = "Example:\n  micro register service '{\"name\":\"x\",\"version\":\"1\",\"nodes\":[{\"id\":\"x-1\",\"address\":\"127.0.0.1:9000\"}]}'"
    )]
    Register {
        #[command(subcommand)]
        what: RecordWhat,
    },
    /// Deregister a service record given as JSON.
    #[command(
        after_help = "Example:\n  micro deregister service '{\"name\":\"x\",\"version\":\"1\",\"nodes\":[{\"id\":\"x-1\"}]}'"
    )]
    Deregister {
        #[command(subcommand)]
        what: RecordWhat,
    },
    /// Interactive shell: the same commands, with history and completion.
    Cli,
    /// Create a new service crate from a template.
    #[command(
        after_help = "Example:\n  micro new example\n  micro new --namespace=com.acme --plugin=registry=etcd:broker=nats services/orders"
    )]
    New(crate::new::NewArgs),
    /// The HTTP API gateway: routes HTTP to services through the registry.
    #[command(
        after_help = "Example:\n  MICRO_API_HANDLER=rpc MICRO_API_NAMESPACE=go.micro.srv micro api\n  curl -XPOST -H 'Content-Type: application/json' -d '{\"name\": \"John\"}' http://localhost:8080/greeter/call"
    )]
    Api(ApiArgs),
}

/// `micro api` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
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
    /// Answer CORS preflights and allow any origin.
    #[arg(long = "enable_cors", alias = "enable-cors", env = "MICRO_API_ENABLE_CORS", default_value_t = true, action = clap::ArgAction::Set)]
    pub enable_cors: bool,
    /// Largest request body, in bytes.
    #[arg(long = "max_body", alias = "max-body", env = "MICRO_API_MAX_BODY", default_value_t = 10 << 20)]
    pub max_body: usize,
    /// Serve HTTPS (rustls) with --tls_cert_file and --tls_key_file.
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
}

/// `micro list ...`
#[derive(Debug, Clone, Subcommand)]
pub enum ListWhat {
    /// Every service name, sorted.
    Services,
}

/// `micro get ...`
#[derive(Debug, Clone, Subcommand)]
pub enum GetWhat {
    /// One service.
    Service {
        /// The service name.
        name: String,
    },
}

/// `micro register|deregister ...`
#[derive(Debug, Clone, Subcommand)]
pub enum RecordWhat {
    /// A service record (go-micro's registry JSON).
    Service {
        /// The record, as JSON.
        json: String,
    },
}

/// A command failed: what to print on stderr, and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: i32,
}

impl Failure {
    fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: 1,
        }
    }

    /// Whoever read our output stopped (`micro list services | head -1`): end quietly with the
    /// status of a process that SIGPIPE ended, as other Unix tools do.
    fn closed_output() -> Self {
        Failure {
            message: String::new(),
            code: 128 + 13,
        }
    }

    /// Prints the message (if any) on stderr; returns the exit code.
    fn report(self) -> i32 {
        if !self.message.is_empty() {
            eprintln!("{}", self.message);
        }
        self.code
    }
}

/// What commands work with, made from the global flags.
#[derive(Clone)]
pub struct Env {
    pub registry: Arc<dyn Registry>,
    pub client: micro::Client,
}

impl Env {
    fn new(globals: &Globals) -> Result<Self, Failure> {
        let registry_name = globals
            .registry
            .clone()
            .unwrap_or_else(|| micro::registry::DEFAULT.into());
        let registry =
            micro::registry::by_name(&registry_name, globals.registry_address.as_deref())
                .map_err(|e| Failure::new(e.to_string()))?;
        let broker_name = globals.broker.clone().unwrap_or_else(|| "http".into());
        let broker = micro::broker::by_name(
            &broker_name,
            globals.broker_address.as_deref(),
            Arc::clone(&registry),
        )
        .map_err(|e| Failure::new(e.to_string()))?;
        let client = micro::Client::builder()
            .registry(Arc::clone(&registry))
            .broker(Arc::clone(&broker))
            .build();
        Ok(Env { registry, client })
    }
}

/// `micro api`: serves the gateway until SIGINT or SIGTERM.
async fn api(env: Env, args: &ApiArgs) -> i32 {
    let handler = match args.handler.parse::<micro_api::Handler>() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let address = if args.address.starts_with(':') {
        format!("0.0.0.0{}", args.address)
    } else {
        args.address.clone()
    };
    let listener = match tokio::net::TcpListener::bind(&address).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {address}: {e}");
            return 1;
        }
    };
    let options = micro_api::Options {
        namespace: args.namespace.clone(),
        handler,
        enable_rpc: args.enable_rpc,
        enable_cors: args.enable_cors,
        max_body: args.max_body,
    };
    let app = micro_api::router(env.client.clone(), env.registry.clone(), options);
    if let Ok(local) = listener.local_addr() {
        eprintln!(
            "micro api listening on {local}{}",
            if args.enable_tls { " (TLS)" } else { "" }
        );
    }
    let served = if args.enable_tls {
        let (Some(cert), Some(key)) = (&args.tls_cert_file, &args.tls_key_file) else {
            eprintln!("--enable_tls needs --tls_cert_file and --tls_key_file");
            return 2;
        };
        match micro_api::tls_acceptor(cert, key) {
            Ok(acceptor) => {
                micro_api::serve_tls(listener, app, acceptor, micro::service::shutdown_signal())
                    .await
            }
            Err(e) => {
                eprintln!("micro api: {e}");
                return 1;
            }
        }
    } else {
        micro_api::serve(listener, app, micro::service::shutdown_signal()).await
    };
    match served {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("micro api: {e}");
            1
        }
    }
}

/// Runs a parsed command line; returns the exit code.
pub async fn run(cli: Cli) -> i32 {
    if let Command::New(args) = &cli.command {
        return match crate::new::run(args) {
            Ok(text) => match std::io::stdout().write_all(text.as_bytes()) {
                Ok(()) => 0,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    Failure::closed_output().report()
                }
                Err(e) => Failure::new(format!("writing output: {e}")).report(),
            },
            Err((message, code)) => {
                eprintln!("{message}");
                code
            }
        };
    }
    let env = match Env::new(&cli.globals) {
        Ok(env) => env,
        Err(f) => return f.report(),
    };
    if let Command::Cli = cli.command {
        return shell::run(env).await;
    }
    if let Command::Api(args) = &cli.command {
        return api(env, args).await;
    }
    let mut out = std::io::stdout();
    match commands::execute(&env, &cli.command, &mut out).await {
        Ok(()) => match out.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                Failure::closed_output().report()
            }
            _ => 0,
        },
        Err(f) => {
            let _ = out.flush();
            f.report()
        }
    }
}
