//! The CLI: `micro list|get|call|stream|publish|health|stats|register|deregister|cli|auth`
//! (and `micro web`, whose terminal runs the shell's lines, and `micro bot`, whose built-ins
//! run these commands).
//!
//! Commands write to a writer and return a [`Failure`] with its exit code, so the interactive
//! shell runs exactly the same code as the command line.

pub(crate) mod commands;
pub(crate) mod shell;

pub(crate) use crate::failure::Failure;
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
pub(crate) struct Cli {
    #[command(flatten)]
    pub globals: Globals,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes; each also reads its `MICRO_*` variable.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Globals {
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
pub(crate) enum Command {
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
    Api(crate::api::ApiArgs),
    /// The service proxy: forwards every gRPC call to the service its path names.
    #[command(
        after_help = "Example:\n  micro proxy --address 127.0.0.1:8081\n  MICRO_PROXY=127.0.0.1:8081 micro call go.micro.srv.greeter Greeter.Call '{\"name\": \"John\"}'"
    )]
    Proxy(crate::proxy::ProxyArgs),
    /// The web dashboard: explore, describe and call services, a terminal in the browser.
    #[command(after_help = "Example:\n  micro web\n  open http://127.0.0.1:8082")]
    Web(crate::web::WebArgs),
    /// The bot: answers commands typed in Slack or Telegram; services in its namespace are
    /// commands too.
    #[command(
        after_help = "Examples:\n  MICRO_SLACK_TOKEN=xoxb-... MICRO_SLACK_APP_TOKEN=xapp-... micro bot --inputs slack\n  MICRO_TELEGRAM_TOKEN=... micro bot --inputs telegram --telegram_whitelist alice,bob"
    )]
    Bot(crate::bot::BotArgs),
    /// Auth: the key pair, tokens, and what a token says.
    #[command(
        after_help = "Example:\n  micro auth keys --out keys\n  micro auth token --subject john --scope greeter --expiry 1h --private_key keys/private.pem"
    )]
    Auth {
        #[command(subcommand)]
        what: crate::auth::AuthCommand,
    },
}

/// `micro list ...`
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum ListWhat {
    /// Every service name, sorted.
    Services,
}

/// `micro get ...`
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum GetWhat {
    /// One service.
    Service {
        /// The service name.
        name: String,
    },
}

/// `micro register|deregister ...`
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum RecordWhat {
    /// A service record (go-micro's registry JSON).
    Service {
        /// The record, as JSON.
        json: String,
    },
}

/// What commands work with, made from the global flags.
#[derive(Clone)]
pub(crate) struct Env {
    pub registry: Arc<dyn Registry>,
    pub client: micro::Client,
    /// The client's metrics and traces (`MICRO_METRICS_ADDRESS`, `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub telemetry: micro::wrappers::Telemetry,
    /// The `MICRO_*` settings (connection limits among them).
    pub config: micro::config::Config,
    broker: Arc<dyn micro::broker::Broker>,
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
        let config = micro::config::Config::from_env();
        let telemetry = micro::wrappers::Telemetry::from_config(&config, "micro")
            .map_err(|e| Failure::new(e.detail))?;
        let client = telemetry
            .around_client(micro::Client::builder())
            .registry(Arc::clone(&registry))
            .broker(Arc::clone(&broker))
            .build();
        Ok(Env {
            registry,
            client,
            telemetry,
            config,
            broker,
        })
    }

    /// A client like [`client`](Self::client) but sending no token of its own
    /// (`MICRO_AUTH_TOKEN`): for the edges, whose calls carry their caller's token or none.
    pub(crate) fn edge_client(&self) -> micro::Client {
        self.telemetry
            .around_client(micro::Client::builder())
            .registry(Arc::clone(&self.registry))
            .broker(Arc::clone(&self.broker))
            .no_token()
            .build()
    }
}

/// Runs a parsed command line; returns the exit code.
pub(crate) async fn run(cli: Cli) -> i32 {
    if let Command::New(args) = &cli.command {
        let written = crate::new::run(args).and_then(|text| {
            std::io::stdout()
                .write_all(text.as_bytes())
                .map_err(Failure::output)
        });
        return written.map_or_else(Failure::report, |()| 0);
    }
    if let Command::Auth { what } = &cli.command {
        let mut out = std::io::stdout();
        return crate::auth::run(what, &mut out).map_or_else(Failure::report, |()| 0);
    }
    let env = match Env::new(&cli.globals) {
        Ok(env) => env,
        Err(f) => return f.report(),
    };
    // The proxy is a service: its metrics and traces are its own.
    if let Command::Proxy(args) = &cli.command {
        return crate::proxy::run(env, args)
            .await
            .map_or_else(Failure::report, |()| 0);
    }
    if let Err(e) = env.telemetry.start("micro").await {
        return Failure::new(e.detail).report();
    }
    let code = match &cli.command {
        Command::Cli => shell::run(env.clone()).await,
        Command::Api(args) => crate::api::run(env.clone(), args)
            .await
            .map_or_else(Failure::report, |()| 0),
        Command::Web(args) => crate::web::run(env.clone(), args)
            .await
            .map_or_else(Failure::report, |()| 0),
        Command::Bot(args) => crate::bot::run(env.clone(), args)
            .await
            .map_or_else(Failure::report, |()| 0),
        command => {
            let mut out = std::io::stdout();
            match commands::execute(&env, command, &mut out).await {
                Ok(()) => out
                    .flush()
                    .map_or_else(|e| Failure::output(e).report(), |()| 0),
                Err(f) => {
                    let _ = out.flush();
                    f.report()
                }
            }
        }
    };
    // Spans of the calls just made go out before the process does.
    env.telemetry.flush().await;
    code
}
