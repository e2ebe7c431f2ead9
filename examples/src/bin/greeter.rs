//! Serves `go.micro.srv.greeter` until SIGINT or SIGTERM.
//!
//! Takes go-micro's service flags (`greeter --help`): `--server_address` (default
//! `127.0.0.1:0`, any free port), `--registry`, `--registry_address`, ...; each falls back to
//! its `MICRO_*` variable.

use examples::greeter::{Greeter, SERVICE};

#[tokio::main]
async fn main() -> micro::Result<()> {
    examples::init_logging();
    micro::Service::builder()
        .name(SERVICE)
        .handler(Greeter)
        .build()?
        .run()
        .await
}
