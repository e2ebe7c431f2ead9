//! `micro cli`: the interactive shell. Prompt `micro> `, history, and tab completion of
//! commands, service names and endpoints (from the registry); the same commands as the CLI, run
//! by the same code, plus `help`, `quit` and `exit`.

use super::{commands, Cli, Command, Env};
use clap::{CommandFactory, Parser};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Commands of the command line that the shell does not run: the shell itself, and those
/// that serve or write files.
const NOT_IN_THE_SHELL: &[&str] = &["cli", "new", "api", "proxy", "web", "bot", "auth", "help"];

/// Positional arguments that take the rest of the line, as typed (JSON).
const FREE_FORM: &[&str] = &["request", "message", "json"];

/// The command line's commands that the shell runs: clap's definitions are the one list.
fn shell_commands() -> Vec<clap::Command> {
    Cli::command()
        .get_subcommands()
        .filter(|c| !NOT_IN_THE_SHELL.contains(&c.get_name()))
        .cloned()
        .collect()
}

/// Every word the shell takes first, sorted.
fn command_words() -> Vec<String> {
    let mut words: Vec<String> = shell_commands()
        .iter()
        .map(|c| c.get_name().to_string())
        .chain(["help", "quit", "exit"].map(String::from))
        .collect();
    words.sort();
    words
}

/// The command `words` start, and the nested subcommand (`list services`) when it has one:
/// the words that name it, and its definition.
fn command_of(words: &[&str]) -> Option<(usize, clap::Command)> {
    let command = shell_commands()
        .into_iter()
        .find(|c| Some(&c.get_name()) == words.first())?;
    if command.has_subcommands() {
        let sub = command.find_subcommand(words.get(1)?)?.clone();
        return Some((2, sub));
    }
    Some((1, command))
}

fn positionals(command: &clap::Command) -> Vec<&clap::Arg> {
    command.get_positionals().collect()
}

/// `list services  every service`, ... for every command, from its clap definition.
fn help() -> String {
    let mut lines = vec!["Commands:".to_string()];
    for command in shell_commands() {
        let nested: Vec<clap::Command> = if command.has_subcommands() {
            command.get_subcommands().cloned().collect()
        } else {
            vec![command.clone()]
        };
        for sub in nested {
            let mut usage = command.get_name().to_string();
            if command.has_subcommands() {
                usage = format!("{usage} {}", sub.get_name());
            }
            for arg in positionals(&sub) {
                let name = arg.get_id().as_str().to_uppercase();
                usage += &if arg.is_required_set() {
                    format!(" {name}")
                } else {
                    format!(" [{name}]")
                };
            }
            let about = sub.get_about().or(command.get_about());
            let about = about.map(|a| a.to_string()).unwrap_or_default();
            lines.push(format!("  {usage:<36}{about}"));
        }
    }
    lines.push(format!("  {:<36}this text", "help"));
    lines.push(format!("  {:<36}leave", "quit, exit"));
    lines.join("\n")
}

/// What completion offers: service names and their endpoints, refreshed before each prompt.
#[derive(Default)]
pub(crate) struct Known {
    services: BTreeMap<String, Vec<String>>,
}

struct ShellHelper {
    known: Arc<Mutex<Known>>,
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let (start, words) = completions(before, &known);
        let pairs = words
            .into_iter()
            .map(|c| Pair {
                display: c.clone(),
                replacement: format!("{c} "),
            })
            .collect();
        Ok((start, pairs))
    }
}

/// What completes the last word of `before` (a line up to the cursor): where that word
/// starts, and the whole words that could replace it.
pub(crate) fn completions(before: &str, known: &Known) -> (usize, Vec<String>) {
    let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
    let word = &before[start..];
    let words: Vec<&str> = before[..start].split_whitespace().collect();
    let matching = candidates(&words, known)
        .into_iter()
        .filter(|c| c.starts_with(word))
        .collect();
    (start, matching)
}

/// What may come after `words`: a command, a nested command, a service name or an endpoint of
/// the service before it, as the clap definition names the next positional argument.
fn candidates(words: &[&str], known: &Known) -> Vec<String> {
    if words.is_empty() {
        return command_words();
    }
    if let [first] = words {
        if let Some(command) = shell_commands().iter().find(|c| c.get_name() == *first) {
            if command.has_subcommands() {
                return command
                    .get_subcommands()
                    .map(|c| c.get_name().to_string())
                    .collect();
            }
        }
    }
    let Some((path, command)) = command_of(words) else {
        return Vec::new();
    };
    let args = positionals(&command);
    let Some(next) = args.get(words.len() - path) else {
        return Vec::new();
    };
    match next.get_id().as_str() {
        "service" | "name" => known.services.keys().cloned().collect(),
        "endpoint" => known
            .services
            .get(words[words.len() - 1])
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

/// Reads the services and their endpoints again, for completion.
pub(crate) async fn refresh(env: &Env, known: &Mutex<Known>) {
    let Ok(names) = micro::describe::service_names(env.registry.as_ref()).await else {
        return;
    };
    let mut services = BTreeMap::new();
    for name in names {
        let endpoints = match env.registry.get_service(&name).await {
            Ok(versions) => versions
                .first()
                .map(|v| v.endpoints.iter().map(|e| e.name.clone()).collect())
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        services.insert(name, endpoints);
    }
    known.lock().unwrap_or_else(|e| e.into_inner()).services = services;
}

/// How many words come before the command's free-form request (JSON), if it takes one:
/// the words naming the command, and the positional arguments before the request.
fn words_before_request(words: &[&str]) -> Option<usize> {
    let (path, command) = command_of(words)?;
    let args = positionals(&command);
    let last = args.last()?;
    FREE_FORM
        .contains(&last.get_id().as_str())
        .then(|| path + args.len() - 1)
}

/// Flags that stand alone; every other `--flag` without `=` takes the next word as its value.
const SWITCHES: &[&str] = &["--stdin", "--help", "-h"];

/// Where the word starting at `start` ends: at whitespace outside quotes.
fn word_end(line: &str, start: usize) -> usize {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in line[start..].char_indices() {
        match (quote, c) {
            _ if escaped => escaped = false,
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (Some('"') | None, '\\') => escaped = true,
            (None, '\'' | '"') => quote = Some(c),
            (None, c) if c.is_whitespace() => return start + i,
            _ => {}
        }
    }
    line.len()
}

/// Splits a shell line into words as go-micro's shell does: the command, its flags and names
/// are words as in a POSIX shell, and everything after them is the request as typed, so
/// `call svc Greeter.Call {"name": "John"}` needs no quotes. A request quoted whole
/// (`'{"name": "John"}'`) is unquoted.
fn split_line(line: &str) -> Result<Vec<String>, shell_words::ParseError> {
    let leading: Vec<&str> = line.split_whitespace().take(2).collect();
    let Some(before) = words_before_request(&leading) else {
        return shell_words::split(line);
    };
    let (mut pos, mut names, mut value_next) = (0, 0, false);
    while names < before || value_next {
        let Some(skip) = line[pos..].find(|c: char| !c.is_whitespace()) else {
            return shell_words::split(line);
        };
        let start = pos + skip;
        pos = word_end(line, start);
        let word = &line[start..pos];
        if value_next {
            value_next = false;
        } else if word.starts_with('-') {
            value_next = !word.contains('=') && !SWITCHES.contains(&word);
        } else {
            names += 1;
        }
    }
    let mut words = shell_words::split(&line[..pos])?;
    let request = line[pos..].trim();
    if !request.is_empty() {
        // A JSON object or array typed as is; anything else may be shell-quoted.
        let as_typed = request.starts_with(['{', '['])
            && serde_json::from_str::<serde_json::Value>(request).is_ok();
        match shell_words::split(request) {
            Ok(mut unquoted) if !as_typed && unquoted.len() == 1 => words.append(&mut unquoted),
            _ => words.push(request.to_string()),
        }
    }
    Ok(words)
}

/// Whether the shell goes on after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Leave,
}

/// Runs one line typed in the shell (not empty), writing what it prints to `out`: the
/// interactive shell and the web dashboard's terminal both run lines through here.
pub(crate) async fn run_line(env: &Env, line: &str, out: &mut (dyn std::io::Write + Send)) -> Flow {
    let words = match split_line(line) {
        Ok(w) if !w.is_empty() => w,
        Ok(_) => return Flow::Continue,
        Err(e) => {
            let _ = writeln!(out, "invalid input: {e}");
            return Flow::Continue;
        }
    };
    match words[0].as_str() {
        "exit" | "quit" => return Flow::Leave,
        "help" => {
            let _ = writeln!(out, "{}", help());
            return Flow::Continue;
        }
        w if !command_words().iter().any(|c| c == w) => {
            let _ = writeln!(out, "unknown command");
            return Flow::Continue;
        }
        _ => {}
    }
    let args = std::iter::once("micro".to_string()).chain(words);
    let command = match Cli::try_parse_from(args) {
        Ok(Cli {
            command: Command::Cli,
            ..
        }) => {
            let _ = writeln!(out, "already in the interactive shell");
            return Flow::Continue;
        }
        Ok(cli) => cli.command,
        Err(e) => {
            let first = e.to_string();
            let _ = writeln!(
                out,
                "{}",
                first.lines().next().unwrap_or("invalid arguments")
            );
            return Flow::Continue;
        }
    };
    if let Err(f) = commands::execute(env, &command, out).await {
        let _ = writeln!(out, "{}", f.message);
    }
    let _ = out.flush();
    Flow::Continue
}

/// Runs the shell until `exit`, `quit` or end of input; returns the exit code.
pub(super) async fn run(env: Env) -> i32 {
    let known = Arc::new(Mutex::new(Known::default()));
    let mut editor =
        match rustyline::Editor::<ShellHelper, rustyline::history::DefaultHistory>::new() {
            Ok(e) => e,
            Err(e) => {
                eprintln!("cannot start the shell: {e}");
                return 1;
            }
        };
    editor.set_helper(Some(ShellHelper {
        known: Arc::clone(&known),
    }));
    let history = std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".micro_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    let editor = Arc::new(Mutex::new(editor));
    loop {
        refresh(&env, &known).await;
        let ed = Arc::clone(&editor);
        let line = tokio::task::spawn_blocking(move || {
            ed.lock()
                .unwrap_or_else(|e| e.into_inner())
                .readline("micro> ")
        })
        .await;
        let line = match line {
            Ok(Ok(line)) => line,
            Ok(Err(ReadlineError::Interrupted)) => continue,
            Ok(Err(ReadlineError::Eof)) | Err(_) => break,
            Ok(Err(e)) => {
                eprintln!("{e}");
                break;
            }
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let _ = editor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add_history_entry(line);
        let mut out = std::io::stdout();
        if run_line(&env, line, &mut out).await == Flow::Leave {
            break;
        }
    }
    if let Some(h) = &history {
        let _ = editor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .save_history(h);
    }
    0
}

#[cfg(test)]
mod tests {
    use super::split_line;

    fn split(line: &str) -> Vec<String> {
        split_line(line).unwrap()
    }

    #[test]
    fn the_request_is_everything_after_the_endpoint_as_typed() {
        assert_eq!(
            split(r#"call go.micro.srv.greeter Greeter.Call {"name": "John"}"#),
            [
                "call",
                "go.micro.srv.greeter",
                "Greeter.Call",
                r#"{"name": "John"}"#
            ]
        );
        assert_eq!(
            split(r#"publish t.x {"i": 1, "s": "a b"}"#),
            ["publish", "t.x", r#"{"i": 1, "s": "a b"}"#]
        );
    }

    #[test]
    fn a_quoted_request_is_unquoted_and_flags_keep_their_values() {
        assert_eq!(
            split(r#"call --timeout 2s svc Greeter.Call '{"name": "John"}'"#),
            [
                "call",
                "--timeout",
                "2s",
                "svc",
                "Greeter.Call",
                r#"{"name": "John"}"#
            ]
        );
        assert_eq!(
            split(r#"stream --metadata='a=b c' svc G.S "{\"count\": 3}""#),
            [
                "stream",
                "--metadata=a=b c",
                "svc",
                "G.S",
                r#"{"count": 3}"#
            ]
        );
        assert_eq!(
            split("call svc Greeter.Call"),
            ["call", "svc", "Greeter.Call"]
        );
        assert_eq!(split("list services"), ["list", "services"]);
    }

    #[test]
    fn an_unquotable_request_goes_as_typed_and_fails_as_json() {
        assert_eq!(
            split(r#"publish t {"a": 1"#),
            ["publish", "t", r#"{"a": 1"#]
        );
        assert_eq!(split(r#"publish t 'x' y"#), ["publish", "t", "'x' y"]);
    }
}
