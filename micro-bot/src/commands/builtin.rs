//! The built-in commands, with micro v2's usage, descriptions and answers. Those about
//! services run the `micro` CLI's own code.

use super::Line;
use crate::{Cli, Reply};

/// A built-in command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Builtin {
    Call,
    Deregister,
    Echo,
    Get,
    Health,
    Hello,
    Help,
    List,
    Ping,
    Register,
    Stats,
    ThreeLaws,
    Time,
}

/// Every built-in.
pub(crate) const ALL: [Builtin; 13] = [
    Builtin::Call,
    Builtin::Deregister,
    Builtin::Echo,
    Builtin::Get,
    Builtin::Health,
    Builtin::Hello,
    Builtin::Help,
    Builtin::List,
    Builtin::Ping,
    Builtin::Register,
    Builtin::Stats,
    Builtin::ThreeLaws,
    Builtin::Time,
];

const LAWS: [&str; 3] = [
    "1. A robot may not injure a human being or, through inaction, allow a human being to come to harm.",
    "2. A robot must obey the orders given it by human beings except where such orders would conflict with the First Law.",
    "3. A robot must protect its own existence as long as such protection does not conflict with the First or Second Laws.",
];

impl Builtin {
    /// The command's name, as `help` sorts it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Builtin::Call => "call",
            Builtin::Deregister => "deregister",
            Builtin::Echo => "echo",
            Builtin::Get => "get",
            Builtin::Health => "health",
            Builtin::Hello => "hello",
            Builtin::Help => "help",
            Builtin::List => "list",
            Builtin::Ping => "ping",
            Builtin::Register => "register",
            Builtin::Stats => "stats",
            Builtin::ThreeLaws => "the three laws",
            Builtin::Time => "time",
        }
    }

    pub(crate) fn usage(self) -> &'static str {
        match self {
            Builtin::Call => "call [service] [endpoint] [request]",
            Builtin::Deregister => "deregister service [definition]",
            Builtin::Echo => "echo [text]",
            Builtin::Get => "get service [name]",
            Builtin::Health => "health [service]",
            Builtin::Hello => "hello",
            Builtin::Help => "help",
            Builtin::List => "list services",
            Builtin::Ping => "ping",
            Builtin::Register => "register service [definition]",
            Builtin::Stats => "stats [service]",
            Builtin::ThreeLaws => "the three laws",
            Builtin::Time => "time",
        }
    }

    pub(crate) fn description(self) -> &'static str {
        match self {
            Builtin::Call => "Returns the response for a service call",
            Builtin::Deregister => "Deregisters a service",
            Builtin::Echo => "Returns the [text]",
            Builtin::Get => "Returns a registered service",
            Builtin::Health => "Returns health of a service",
            Builtin::Hello => "Returns a greeting",
            Builtin::Help => "Displays help for all known commands",
            Builtin::List => "Returns a list of registered services",
            Builtin::Ping => "Returns pong",
            Builtin::Register => "Registers a service",
            Builtin::Stats => "Returns stats of a service",
            Builtin::ThreeLaws => "Returns the three laws of robotics",
            Builtin::Time => "Returns the server time",
        }
    }

    /// Whether the command changes or calls something, and so is off in a read-only bot.
    pub(crate) fn writes(self) -> bool {
        matches!(
            self,
            Builtin::Call | Builtin::Register | Builtin::Deregister
        )
    }

    /// The built-in a line asks for, if any.
    pub(crate) fn find(line: &Line<'_>) -> Option<Builtin> {
        let command = line.command()?;
        let whole: Vec<String> = line.words().map(str::to_lowercase).collect();
        let whole: Vec<&str> = whole.iter().map(String::as_str).collect();
        // micro v2's `^(the )?three laws( of robotics)?$`.
        if matches!(
            whole.as_slice(),
            ["three", "laws"]
                | ["the", "three", "laws"]
                | ["three", "laws", "of", "robotics"]
                | ["the", "three", "laws", "of", "robotics"]
        ) {
            return Some(Builtin::ThreeLaws);
        }
        let found = ALL
            .into_iter()
            .find(|b| *b != Builtin::ThreeLaws && b.name() == command)?;
        // Commands that take nothing answer only when given nothing (v2's `^ping$`).
        let bare = matches!(
            found,
            Builtin::Hello | Builtin::Help | Builtin::Ping | Builtin::Time
        );
        (!bare || line.len() == 1).then_some(found)
    }

    /// Runs the command (all but `help`, which the bot answers from its table).
    pub(crate) async fn run(self, line: &Line<'_>, cli: &dyn Cli) -> Reply {
        match self {
            Builtin::Echo => Reply::plain(line.rest(1).unwrap_or("echo what?")),
            Builtin::Hello => Reply::plain("hey what's up?"),
            Builtin::Ping => Reply::plain("pong"),
            Builtin::Time => Reply::plain(format!(
                "Server time is: {}",
                httpdate::fmt_http_date(std::time::SystemTime::now())
            )),
            Builtin::ThreeLaws => Reply::plain(LAWS.join("\n")),
            Builtin::Help => Reply::failed("help is answered by the bot"),
            Builtin::List => match line.word(1) {
                None => Reply::plain("list what?"),
                Some("services") => run_cli(cli, vec!["list".into(), "services".into()]).await,
                Some(_) => unknown("list services"),
            },
            Builtin::Get => match (line.word(1), line.word(2)) {
                (None, _) => Reply::plain("get what?"),
                (Some("service"), None) => Reply::plain("require service name"),
                (Some("service"), Some(name)) => {
                    run_cli(cli, vec!["get".into(), "service".into(), name.into()]).await
                }
                (Some(_), _) => unknown("get service [name]"),
            },
            Builtin::Health => match line.word(1) {
                None => Reply::plain("health of what?"),
                Some(service) => run_cli(cli, vec!["health".into(), service.into()]).await,
            },
            Builtin::Stats => match line.word(1) {
                None => Reply::plain("stats of what?"),
                Some(service) => run_cli(cli, vec!["stats".into(), service.into()]).await,
            },
            Builtin::Call => {
                let Some(service) = line.word(1) else {
                    return Reply::plain("call what?");
                };
                let mut args = vec!["call".to_string(), service.to_string()];
                if let Some(endpoint) = line.word(2) {
                    args.push(endpoint.to_string());
                }
                if let Some(request) = line.rest(3) {
                    args.push(request.to_string());
                }
                run_cli(cli, args).await
            }
            Builtin::Register | Builtin::Deregister => {
                let verb = self.name();
                match (line.word(1), line.rest(2)) {
                    (None, _) => Reply::plain(format!("{verb} what?")),
                    (Some("service"), None) => Reply::plain("require service definition"),
                    (Some("service"), Some(json)) => {
                        run_cli(cli, vec![verb.into(), "service".into(), json.into()]).await
                    }
                    (Some(_), _) => unknown(self.usage()),
                }
            }
        }
    }
}

fn unknown(supported: &str) -> Reply {
    Reply::plain(format!(
        "unknown command...\nsupported commands: \n{supported}"
    ))
}

async fn run_cli(cli: &dyn Cli, args: Vec<String>) -> Reply {
    let output = cli.run(args).await;
    if output.text.trim().is_empty() && output.error.is_none() {
        return Reply::plain("done, with no output");
    }
    Reply {
        text: output.text,
        code: true,
        error: output.error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Option<Builtin> {
        Builtin::find(&Line::new(text))
    }

    #[test]
    fn lines_find_their_built_in_as_micro_v2_matched_them() {
        assert_eq!(find("ping"), Some(Builtin::Ping));
        assert_eq!(find("Ping"), Some(Builtin::Ping));
        assert_eq!(find("ping me"), None);
        assert_eq!(find("list"), Some(Builtin::List));
        assert_eq!(find("call a b {}"), Some(Builtin::Call));
        assert_eq!(find("the three laws"), Some(Builtin::ThreeLaws));
        assert_eq!(find("three laws of robotics"), Some(Builtin::ThreeLaws));
        assert_eq!(find("laws"), None);
        assert_eq!(find("deploy x"), None);
        assert_eq!(find(""), None);
        let mut names: Vec<&str> = ALL.iter().map(|b| b.name()).collect();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }
}
