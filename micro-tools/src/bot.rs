//! `micro bot`: the bot ([`micro_bot`]) from the command line. Its built-ins about services run
//! the CLI's own commands, so it answers what `micro` prints.

use crate::cli::{commands, Cli, Command, Env};
use crate::failure::Failure;
use clap::Parser;
use micro::auth::Token;
use micro_bot::input::{slack, telegram};
use micro_bot::{CliOutput, Input};
use std::sync::Arc;

/// `micro bot` flags. Tokens are best given as environment variables: flags show in `ps`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct BotArgs {
    /// The inputs, comma-separated: slack (Socket Mode), slack-events (the Events API over
    /// HTTP), telegram.
    #[arg(long, env = "MICRO_BOT_INPUTS")]
    pub inputs: Option<String>,
    /// Services named NAMESPACE.COMMAND are the bot's commands.
    #[arg(long, env = "MICRO_BOT_NAMESPACE", default_value = micro_bot::NAMESPACE)]
    pub namespace: String,
    /// Refuse call, register and deregister.
    #[arg(long = "read_only", alias = "read-only", env = "MICRO_BOT_READ_ONLY")]
    pub read_only: bool,
    /// Give up on a command after this long: `30s`, `2m`.
    #[arg(
        long = "command_timeout",
        env = "MICRO_BOT_COMMAND_TIMEOUT",
        default_value = "30s"
    )]
    pub command_timeout: String,

    /// Slack's bot token (xoxb-...), to post replies.
    #[arg(
        long = "slack_token",
        env = "MICRO_SLACK_TOKEN",
        hide_env_values = true
    )]
    pub slack_token: Option<String>,
    /// Slack's app-level token (xapp-...), for Socket Mode.
    #[arg(
        long = "slack_app_token",
        env = "MICRO_SLACK_APP_TOKEN",
        hide_env_values = true
    )]
    pub slack_app_token: Option<String>,
    /// Slack's signing secret, checking the Events API's requests.
    #[arg(
        long = "slack_signing_secret",
        env = "MICRO_SLACK_SIGNING_SECRET",
        hide_env_values = true
    )]
    pub slack_signing_secret: Option<String>,
    /// Where the Events API endpoint (/slack/events) listens; `:8083` means every interface.
    /// The bot can call every service, so it listens on loopback unless told otherwise.
    #[arg(
        long = "slack_events_address",
        env = "MICRO_SLACK_EVENTS_ADDRESS",
        default_value = "127.0.0.1:8083"
    )]
    pub slack_events_address: String,
    /// Slack's Web API.
    #[arg(long = "slack_api_url", env = "MICRO_SLACK_API_URL", default_value = slack::API_URL)]
    pub slack_api_url: String,
    /// Slack user ids (U...) allowed to use the bot, comma-separated; everyone when not given.
    #[arg(
        long = "slack_allowed_users",
        env = "MICRO_SLACK_ALLOWED_USERS",
        value_delimiter = ','
    )]
    pub slack_allowed_users: Vec<String>,
    /// Slack channel ids (C...) where mentions are answered, comma-separated; all when not
    /// given.
    #[arg(
        long = "slack_allowed_channels",
        env = "MICRO_SLACK_ALLOWED_CHANNELS",
        value_delimiter = ','
    )]
    pub slack_allowed_channels: Vec<String>,

    /// Telegram's bot token.
    #[arg(
        long = "telegram_token",
        env = "MICRO_TELEGRAM_TOKEN",
        hide_env_values = true
    )]
    pub telegram_token: Option<String>,
    /// Telegram user names the bot answers, comma-separated (required with telegram).
    #[arg(
        long = "telegram_whitelist",
        env = "MICRO_TELEGRAM_WHITELIST",
        value_delimiter = ','
    )]
    pub telegram_whitelist: Vec<String>,
    /// Telegram's Bot API.
    #[arg(
        long = "telegram_api_url",
        env = "MICRO_TELEGRAM_API_URL",
        default_value = telegram::API_URL
    )]
    pub telegram_api_url: String,
}

impl BotArgs {
    fn token(value: &Option<String>, what: &str, input: &str) -> Result<Token, Failure> {
        match value.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => Ok(Token::new(t)),
            _ => Err(Failure::usage(format!("the {input} input needs {what}"))),
        }
    }

    fn slack(&self, input: &str) -> Result<slack::SlackOptions, Failure> {
        Ok(slack::SlackOptions {
            api_url: self.slack_api_url.clone(),
            bot_token: Self::token(
                &self.slack_token,
                "--slack_token (MICRO_SLACK_TOKEN)",
                input,
            )?,
            allowed_users: clean(&self.slack_allowed_users),
            allowed_channels: clean(&self.slack_allowed_channels),
        })
    }

    /// The inputs named, with their settings.
    fn inputs(&self) -> Result<Vec<Input>, Failure> {
        let names = micro_bot::input::names(self.inputs.as_deref())
            .map_err(|e| Failure::usage(e.to_string()))?;
        names
            .into_iter()
            .map(|name| {
                Ok(match name {
                    "slack" => Input::Slack(slack::SocketOptions {
                        slack: self.slack(name)?,
                        app_token: Self::token(
                            &self.slack_app_token,
                            "--slack_app_token (MICRO_SLACK_APP_TOKEN)",
                            name,
                        )?,
                    }),
                    "slack-events" => Input::SlackEvents(slack::EventsOptions {
                        slack: self.slack(name)?,
                        signing_secret: Self::token(
                            &self.slack_signing_secret,
                            "--slack_signing_secret (MICRO_SLACK_SIGNING_SECRET)",
                            name,
                        )?,
                        address: crate::serving::listen_address(&self.slack_events_address),
                        max_body: 1 << 20,
                    }),
                    _ => Input::Telegram(telegram::TelegramOptions {
                        api_url: self.telegram_api_url.clone(),
                        token: Self::token(
                            &self.telegram_token,
                            "--telegram_token (MICRO_TELEGRAM_TOKEN)",
                            name,
                        )?,
                        whitelist: clean(&self.telegram_whitelist),
                    }),
                })
            })
            .collect()
    }
}

fn clean(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The CLI's commands, as the bot runs them.
struct BotCli {
    env: Env,
}

#[async_trait::async_trait]
impl micro_bot::Cli for BotCli {
    async fn run(&self, args: Vec<String>) -> CliOutput {
        let argv = std::iter::once("micro".to_string()).chain(args);
        let command = match Cli::try_parse_from(argv) {
            Ok(cli) => cli.command,
            Err(e) => {
                // clap's message up to its usage line, on one line: the chat shows no terminal.
                let message = e.to_string();
                let words: Vec<&str> = message
                    .lines()
                    .take_while(|l| !l.starts_with("Usage:"))
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect();
                let error = words.join(" ");
                return CliOutput {
                    text: String::new(),
                    error: Some(error.trim_start_matches("error: ").to_string()),
                };
            }
        };
        // Only what the bot's built-ins ask for: nothing that serves, reads stdin or writes files.
        if !matches!(
            command,
            Command::List { .. }
                | Command::Get { .. }
                | Command::Call(_)
                | Command::Health { .. }
                | Command::Stats { .. }
                | Command::Register { .. }
                | Command::Deregister { .. }
        ) {
            return CliOutput {
                text: String::new(),
                error: Some("not a command of the bot".into()),
            };
        }
        let mut out = Vec::new();
        let failed = commands::execute(&self.env, &command, &mut out).await.err();
        CliOutput {
            text: String::from_utf8_lossy(&out).into_owned(),
            error: failed.map(|f| f.message),
        }
    }
}

/// `micro bot`: answers until SIGINT or SIGTERM.
pub(crate) async fn run(env: Env, args: &BotArgs) -> Result<(), Failure> {
    let inputs = args.inputs()?;
    let command_timeout = commands::parse_duration(&args.command_timeout)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            Failure::usage(format!(
                "invalid --command_timeout {:?}: expected e.g. 30s, 2m",
                args.command_timeout
            ))
        })?;
    let options = micro_bot::Options {
        namespace: args.namespace.clone(),
        read_only: args.read_only,
        command_timeout,
        ..Default::default()
    };
    // The bot calls as its operator, with MICRO_AUTH_TOKEN when set, as the CLI does.
    let cli = Arc::new(BotCli { env: env.clone() });
    let bot = micro_bot::Bot::new(env.client.clone(), env.registry.clone(), cli, options);
    let names: Vec<&str> = inputs.iter().map(Input::name).collect();
    let connected = micro_bot::connect(bot, inputs)
        .await
        .map_err(|e| Failure::new(format!("micro bot: {e}")))?;
    eprintln!("micro bot answering on {}", names.join(", "));
    connected.serve(micro::service::shutdown_signal()).await;
    Ok(())
}
