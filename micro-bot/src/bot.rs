//! The bot itself: a typed line becomes a command, the command runs, the answer goes back the
//! way the line came. Whoever typed it has been let in by the input already.

use crate::commands::{Builtin, Line, ServiceCommands};
use crate::{Cli, Reply};
use micro::registry::Registry;
use micro::Client;
use std::sync::Arc;
use std::time::Duration;

/// How the bot runs commands.
#[derive(Debug, Clone)]
pub struct Options {
    /// Services named `<namespace>.<command>` are commands (default `go.micro.bot`).
    pub namespace: String,
    /// `call`, `register` and `deregister` are refused.
    pub read_only: bool,
    /// A command still running after this gets an "on it" reply, then its answer.
    pub on_it_after: Duration,
    /// A command still running after this is given up, and says so.
    pub command_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: crate::NAMESPACE.into(),
            read_only: false,
            on_it_after: Duration::from_secs(2),
            command_timeout: Duration::from_secs(30),
        }
    }
}

/// Where the answers to one message go: the conversation it came from.
#[async_trait::async_trait]
pub(crate) trait Outbox: Send + Sync + 'static {
    /// Sends one reply; a failure is the outbox's to log, the bot goes on.
    async fn send(&self, reply: Reply);
}

/// The bot: its command table and what its commands run with.
pub struct Bot {
    cli: Arc<dyn Cli>,
    services: Arc<ServiceCommands>,
    options: Options,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot")
            .field("services", &self.services)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Bot {
    /// A bot calling with `client`, finding command services in `registry`, running the
    /// built-ins about services with `cli`. Starts following the registry at once (so it must
    /// be made inside a Tokio runtime); the watch ends with the runtime.
    pub fn new(
        client: Client,
        registry: Arc<dyn Registry>,
        cli: Arc<dyn Cli>,
        options: Options,
    ) -> Arc<Bot> {
        let services = Arc::new(ServiceCommands::new(&options.namespace, client, registry));
        tokio::spawn(Arc::clone(&services).follow());
        Arc::new(Bot {
            cli,
            services,
            options,
        })
    }

    /// The bot's options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Runs one typed line to its answer, however long it takes.
    pub async fn execute(&self, text: &str) -> Reply {
        let line = Line::new(text);
        let Some(command) = line.command() else {
            return Reply::plain("say something: type help for the commands");
        };
        if let Some(builtin) = Builtin::find(&line) {
            if builtin.writes() && self.options.read_only {
                return Reply::plain(format!(
                    "{} is turned off: this bot is read-only",
                    builtin.name()
                ));
            }
            if builtin == Builtin::Help {
                return self.help();
            }
            return builtin.run(&line, self.cli.as_ref()).await;
        }
        if let Some(service) = self.services.service_of(&command) {
            let args = line.words().map(str::to_string).collect();
            return self
                .services
                .exec(&service, args, self.options.command_timeout)
                .await;
        }
        Reply::plain(format!(
            "unknown command {:?}: type help for the commands",
            line.word(0).unwrap_or_default()
        ))
    }

    /// Every command, built-in or service, `usage - description`, sorted by name.
    pub fn help(&self) -> Reply {
        let mut lines: Vec<(String, String)> = crate::commands::builtin::ALL
            .iter()
            .map(|b| {
                let line = format!("{} - {}", b.usage(), b.description());
                (b.name().to_string(), line)
            })
            .collect();
        lines.extend(self.services.help_lines());
        lines.sort();
        let text: Vec<String> = lines.into_iter().map(|(_, line)| line).collect();
        Reply::code(text.join("\n"))
    }

    /// Answers `text` through `outbox`, in the background: "on it" when the command takes
    /// long, then the answer, or what went wrong (a time-out, a panic); never lost, never
    /// fatal to the bot.
    pub(crate) fn answer(self: &Arc<Self>, text: String, outbox: Arc<dyn Outbox>) {
        let bot = Arc::clone(self);
        tokio::spawn(async move {
            let summary = summary(&text);
            let work = {
                let bot = Arc::clone(&bot);
                tokio::spawn(async move { bot.execute(&text).await })
            };
            let reply = bot.wait(work, &summary, outbox.as_ref()).await;
            outbox.send(reply).await;
        });
    }

    async fn wait(
        &self,
        mut work: tokio::task::JoinHandle<Reply>,
        summary: &str,
        outbox: &dyn Outbox,
    ) -> Reply {
        let timeout = self.options.command_timeout;
        let first = self.options.on_it_after.min(timeout);
        let done = match tokio::time::timeout(first, &mut work).await {
            Ok(done) => Some(done),
            Err(_) if first < timeout => {
                outbox.send(Reply::plain(format!("on it: {summary}"))).await;
                tokio::time::timeout(timeout - first, &mut work).await.ok()
            }
            Err(_) => None,
        };
        match done {
            Some(Ok(reply)) => reply,
            Some(Err(e)) => {
                tracing::error!(command = summary, error = %e, "bot: command panicked");
                Reply::failed("the command failed unexpectedly; the bot carries on")
            }
            None => {
                work.abort();
                Reply::failed(format!("{summary} timed out after {}", seconds(timeout)))
            }
        }
    }
}

/// The line, short enough to repeat in a reply.
fn summary(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("`{}...`", &text[..cut]),
        None => format!("`{text}`"),
    }
}

fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}s")
    } else {
        format!("{s:.1}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CliOutput;
    use std::sync::Mutex;

    /// A CLI that echoes its arguments, slowly when asked to, or panics.
    struct FakeCli;

    #[async_trait::async_trait]
    impl Cli for FakeCli {
        async fn run(&self, args: Vec<String>) -> CliOutput {
            if args.get(1).map(String::as_str) == Some("slow") {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            if args.get(1).map(String::as_str) == Some("panic") {
                panic!("the CLI broke");
            }
            CliOutput {
                text: args.join("|"),
                error: None,
            }
        }
    }

    #[derive(Default)]
    struct Recorded(Mutex<Vec<Reply>>);

    #[async_trait::async_trait]
    impl Outbox for Recorded {
        async fn send(&self, reply: Reply) {
            self.0.lock().unwrap().push(reply);
        }
    }

    fn bot(options: Options) -> Arc<Bot> {
        let registry = micro::registry::MemoryRegistry::new();
        let registry: Arc<dyn Registry> = Arc::new(registry);
        let client = Client::builder().registry(Arc::clone(&registry)).build();
        Bot::new(client, registry, Arc::new(FakeCli), options)
    }

    async fn answers(bot: &Arc<Bot>, text: &str, wait: Duration) -> Vec<Reply> {
        let outbox = Arc::new(Recorded::default());
        bot.answer(text.into(), outbox.clone());
        tokio::time::sleep(wait).await;
        let replies = outbox.0.lock().unwrap().clone();
        replies
    }

    #[tokio::test]
    async fn built_ins_answer_as_micro_v2_and_the_cli_gets_the_request_as_typed() {
        let bot = bot(Options::default());
        assert_eq!(bot.execute("ping").await, Reply::plain("pong"));
        assert_eq!(bot.execute("hello").await, Reply::plain("hey what's up?"));
        assert_eq!(bot.execute("echo a  b").await, Reply::plain("a  b"));
        assert_eq!(bot.execute("echo").await, Reply::plain("echo what?"));
        assert!(bot
            .execute("time")
            .await
            .text
            .starts_with("Server time is: "));
        let call = bot
            .execute("call go.micro.srv.greeter Greeter.Call {\"name\": \"John\"}")
            .await;
        assert_eq!(
            call.text,
            "call|go.micro.srv.greeter|Greeter.Call|{\"name\": \"John\"}"
        );
        assert!(call.code);
        assert_eq!(bot.execute("list").await, Reply::plain("list what?"));
        assert_eq!(bot.execute("get service x").await.text, "get|service|x");
        let unknown = bot.execute("deploy everything").await;
        assert_eq!(
            unknown.text,
            "unknown command \"deploy\": type help for the commands"
        );
    }

    #[tokio::test]
    async fn help_lists_every_built_in_sorted() {
        let help = bot(Options::default()).help();
        let lines: Vec<&str> = help.text.lines().collect();
        assert_eq!(lines.len(), 13);
        assert_eq!(
            lines[0],
            "call [service] [endpoint] [request] - Returns the response for a service call"
        );
        assert!(lines.contains(&"ping - Returns pong"));
        assert_eq!(lines[12], "time - Returns the server time");
    }

    #[tokio::test]
    async fn read_only_refuses_what_calls_or_changes() {
        let bot = bot(Options {
            read_only: true,
            ..Options::default()
        });
        for (line, name) in [
            ("call a b {}", "call"),
            ("register service {}", "register"),
            ("deregister service {}", "deregister"),
        ] {
            assert_eq!(
                bot.execute(line).await,
                Reply::plain(format!("{name} is turned off: this bot is read-only"))
            );
        }
        assert_eq!(bot.execute("list services").await.text, "list|services");
    }

    #[tokio::test]
    async fn a_slow_command_gets_on_it_first_and_one_past_its_time_says_so() {
        let bot = bot(Options {
            on_it_after: Duration::from_millis(100),
            command_timeout: Duration::from_secs(5),
            ..Options::default()
        });
        let replies = answers(&bot, "health slow", Duration::from_millis(600)).await;
        assert_eq!(replies.len(), 2, "{replies:?}");
        assert_eq!(replies[0], Reply::plain("on it: `health slow`"));
        assert_eq!(replies[1].text, "health|slow");

        let bot = self::bot(Options {
            on_it_after: Duration::from_millis(50),
            command_timeout: Duration::from_millis(200),
            ..Options::default()
        });
        let replies = answers(&bot, "health slow", Duration::from_millis(600)).await;
        assert_eq!(replies.len(), 2, "{replies:?}");
        assert_eq!(
            replies[1].to_plain_text(),
            "error executing cmd: `health slow` timed out after 0.2s"
        );
    }

    #[tokio::test]
    async fn a_command_that_panics_is_reported_and_the_bot_goes_on() {
        let bot = bot(Options::default());
        let replies = answers(&bot, "health panic", Duration::from_millis(300)).await;
        assert_eq!(
            replies,
            [Reply::failed(
                "the command failed unexpectedly; the bot carries on"
            )]
        );
        assert_eq!(bot.execute("ping").await, Reply::plain("pong"));
    }
}
