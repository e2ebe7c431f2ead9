//! Serves `go.micro.srv.greeter` until SIGINT or SIGTERM.
//!
//! `MICRO_SERVER_ADDRESS` sets the listening address (default `127.0.0.1:0`, any free port) and
//! `MICRO_REGISTRY` the registry.

use examples::greeter::{Greeter, SERVICE};

#[tokio::main]
async fn main() {
    examples::init_logging();
    let service = micro::Service::builder()
        .name(SERVICE)
        .handler(Greeter)
        .build();
    if let Err(e) = async { service?.run().await }.await {
        eprintln!("greeter: {e}");
        std::process::exit(1);
    }
}
