//! A bot command as a service: `go.micro.bot.shout` implements micro v2's `Command` service
//! (`Help`, `Exec`), so `micro bot` offers `shout [text]` for as long as it runs.

use micro::{Context, Result};
use micro_bot::proto::{ExecRequest, ExecResponse, HelpRequest, HelpResponse};

/// The service name: the bot's namespace, then the command.
pub const SERVICE: &str = "go.micro.bot.shout";

/// The command.
#[derive(Debug, Default, Clone)]
pub struct Shout;

#[micro::handler(name = "Command")]
impl Shout {
    /// What `help` shows for it.
    async fn help(&self, _ctx: &Context, _req: HelpRequest) -> Result<HelpResponse> {
        Ok(HelpResponse {
            usage: "shout [text]".into(),
            description: "Says the [text] loudly".into(),
        })
    }

    /// Runs it: `args` are the words typed, the command's own first.
    async fn exec(&self, _ctx: &Context, req: ExecRequest) -> Result<ExecResponse> {
        let words = req.args.get(1..).unwrap_or_default();
        if words.is_empty() {
            // A command's own failure goes in `error`; the bot shows it as such.
            return Ok(ExecResponse {
                error: "shout what?".into(),
                ..Default::default()
            });
        }
        Ok(ExecResponse {
            result: format!("{}!", words.join(" ").to_uppercase()).into_bytes(),
            ..Default::default()
        })
    }
}
