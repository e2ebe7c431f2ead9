//! Example micro services. Each binary in `src/bin` is a runnable program:
//!
//! - `greeter` serves `go.micro.srv.greeter` (`Greeter.Call` answers `Hello <name>`);
//! - `greeter-client` calls it with the typed client generated from `proto/greeter/greeter.proto`;
//! - `pubsub-subscriber` prints the events of a topic, `pubsub-publisher` publishes some.
//! - `bot-command` serves the bot command `shout` (`go.micro.bot.shout`) for `micro bot`.

pub mod greeter;
pub mod pubsub;
pub mod shout;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
