//! Calls `Greeter.Call` of `go.micro.srv.greeter` with the typed client and prints the reply.
//!
//! Usage: `greeter-client [NAME]` (default `John`). The service is found through the registry
//! (`MICRO_REGISTRY`); when `MICRO_SERVER_ADDRESS` is set, that node is called directly.

use examples::greeter::proto::{GreeterClient, Request};
use examples::greeter::SERVICE;

#[tokio::main]
async fn main() {
    examples::init_logging();
    let name = std::env::args().nth(1).unwrap_or_else(|| "John".into());
    let mut opts = micro::CallOptions::default();
    if let Some(address) = micro::config::Config::from_env().server_address {
        opts = opts.address(address);
    }
    let result = async {
        let greeter = GreeterClient::new(micro::Client::from_env()?, SERVICE);
        greeter.call_with(Request { name }, opts).await
    }
    .await;
    match result {
        Ok(reply) => println!("{}", reply.msg),
        Err(e) => {
            eprintln!("error calling {SERVICE}.Greeter.Call: {e:?}");
            std::process::exit(1);
        }
    }
}
