//! `micro`: the command line of Micro for Rust. Each command is a thin layer over the library.

mod api;
mod auth;
mod bot;
mod cli;
mod failure;
mod new;
mod proxy;
mod serving;
mod web;

use clap::Parser;

#[tokio::main]
async fn main() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "error".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let args = cli::Cli::parse();
    let code = cli::run(args).await;
    std::process::exit(code);
}
