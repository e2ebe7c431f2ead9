//! Serves `go.micro.srv.greeter` until SIGINT or SIGTERM.
//!
//! `MICRO_SERVER_ADDRESS` sets the listening address (default `127.0.0.1:0`, any free port) and
//! `MICRO_REGISTRY` the registry.

use examples::greeter::{Greeter, SERVICE};

#[tokio::main]
async fn main() -> micro::Result<()> {
    examples::init_logging();
    micro::Service::builder().name(SERVICE).handler(Greeter).build()?.run().await
}
