//! `micro cli`: the interactive shell. Prompt `micro> `, history, and tab completion of
//! commands, service names and endpoints (from the registry); the same commands as the CLI, run
//! by the same code, plus `help`, `quit` and `exit`.

use super::{commands, Cli, Command, Env};
use clap::Parser;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const COMMANDS: &[&str] = &[
    "call",
    "deregister",
    "exit",
    "get",
    "health",
    "help",
    "list",
    "publish",
    "quit",
    "register",
    "stats",
    "stream",
];

/// What completion offers: service names and their endpoints, refreshed before each prompt.
#[derive(Default)]
struct Known {
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
        let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let word = &before[start..];
        let words: Vec<&str> = before[..start].split_whitespace().collect();
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let candidates: Vec<String> = match words.as_slice() {
            [] => COMMANDS.iter().map(|c| c.to_string()).collect(),
            ["list"] => vec!["services".into()],
            ["get" | "register" | "deregister"] => vec!["service".into()],
            ["call" | "stream" | "health" | "stats"] | ["get", "service"] => {
                known.services.keys().cloned().collect()
            }
            ["call" | "stream", service] => {
                known.services.get(*service).cloned().unwrap_or_default()
            }
            _ => Vec::new(),
        };
        let pairs = candidates
            .into_iter()
            .filter(|c| c.starts_with(word))
            .map(|c| Pair {
                display: c.clone(),
                replacement: format!("{c} "),
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

async fn refresh(env: &Env, known: &Mutex<Known>) {
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

const HELP: &str = "Commands:
  list services                       every service
  get service NAME                    describe a service
  call SERVICE ENDPOINT [JSON]        call an endpoint
  stream SERVICE ENDPOINT [JSON]      open a stream
  publish TOPIC JSON                  publish a message
  health SERVICE                      health of every node
  stats SERVICE                       stats of every node
  register service JSON               add a service record
  deregister service JSON             remove a service record
  help                                this text
  quit, exit                          leave";

/// Runs the shell until `exit`, `quit` or end of input; returns the exit code.
pub async fn run(env: Env) -> i32 {
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
        let words = match shell_words::split(line) {
            Ok(w) => w,
            Err(e) => {
                println!("invalid input: {e}");
                continue;
            }
        };
        match words[0].as_str() {
            "exit" | "quit" => break,
            "help" => {
                println!("{HELP}");
                continue;
            }
            w if !COMMANDS.contains(&w) => {
                println!("unknown command");
                continue;
            }
            _ => {}
        }
        let args = std::iter::once("micro".to_string()).chain(words);
        let command = match Cli::try_parse_from(args) {
            Ok(Cli {
                command: Command::Cli,
                ..
            }) => {
                println!("already in the interactive shell");
                continue;
            }
            Ok(cli) => cli.command,
            Err(e) => {
                println!(
                    "{}",
                    e.to_string().lines().next().unwrap_or("invalid arguments")
                );
                continue;
            }
        };
        let mut out = std::io::stdout();
        if let Err(f) = commands::execute(&env, &command, &mut out).await {
            println!("{}", f.message);
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
