//! Serves the bot command `shout` (`go.micro.bot.shout`) until SIGINT or SIGTERM: with
//! `micro bot` running on the same registry, `shout hello` answers `HELLO!`.

use examples::shout::{Shout, SERVICE};

#[tokio::main]
async fn main() -> micro::Result<()> {
    examples::init_logging();
    micro::Service::builder()
        .name(SERVICE)
        .handler(Shout)
        .build()?
        .run()
        .await
}
