//! What runs the built-in commands about services: the `micro` CLI's own commands (the `micro`
//! binary implements [`Cli`] with them), so the bot prints what the CLI prints.

/// The `micro` CLI, minus the terminal.
#[async_trait::async_trait]
pub trait Cli: Send + Sync + 'static {
    /// Runs one command given as its words after `micro` (`["list", "services"]`,
    /// `["call", SERVICE, ENDPOINT, JSON]`, ...).
    async fn run(&self, args: Vec<String>) -> CliOutput;
}

/// What a CLI command printed, and its error if it failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CliOutput {
    /// Standard output.
    pub text: String,
    /// The failure's message (what the CLI prints on standard error), if it failed.
    pub error: Option<String>,
}
