//! # micro-bot
//!
//! The bot (`micro bot`), as a library: it answers commands typed in Slack or Telegram by
//! listing, describing and calling services.
//!
//! - **Inputs** ([`Input`]): Slack over Socket Mode (no public URL), Slack's Events API over
//!   HTTP (every request's signature checked), Telegram by long polling.
//! - **Built-in commands** with micro v2's syntax and text: `list services`, `get service`,
//!   `call`, `health`, `stats`, `register`/`deregister service`, `echo`, `hello`, `ping`,
//!   `time`, `the three laws`, `help`. Those about services run the `micro` CLI's own code
//!   ([`Cli`]), so their output is the CLI's.
//! - **Commands as services:** a service named `<namespace>.<command>` that implements micro
//!   v2's `Command` service ([`proto`]) is the command `<command>`, found by watching the
//!   registry; it leaves when the service does.
//! - **Safety:** who may talk to the bot is the input's to say (Slack users and channels, a
//!   Telegram whitelist); `--read_only` turns off `call`, `register` and `deregister`; a long
//!   command gets an "on it" reply first; a command that fails, panics or runs out of time says
//!   so, and the bot goes on.

mod bot;
mod cli;
mod commands;
mod error;
pub mod input;
mod reply;

pub use bot::{Bot, Options};
pub use cli::{Cli, CliOutput};
pub use error::BotError;
pub use input::{connect, Connected, Input};
pub use reply::Reply;

/// micro v2's `Command` service: `Help` and `Exec`, which a service implements to be a bot
/// command. The typed `CommandClient` and the messages.
// The proto is v2's, as it was, without comments; its messages are described above.
#[allow(missing_docs)]
pub mod proto {
    micro::include_proto!("go.micro.bot");
}

/// The namespace of command services unless told otherwise (micro v2's).
pub const NAMESPACE: &str = "go.micro.bot";
