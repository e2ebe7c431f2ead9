//! The pubsub example: a subscriber service printing the events of a topic, and a publisher.

use micro::{Context, Result};

/// Types of `proto/pubsub/pubsub.proto`.
pub mod proto {
    micro::include_proto!("go.micro.srv.pubsub");
}

/// The topic the example publishes to.
pub const TOPIC: &str = "go.micro.topic.events";
/// The subscriber service's name.
pub const SERVICE: &str = "go.micro.srv.subscriber";

/// Prints every event it receives (subscriber endpoint `Print`).
#[micro::subscriber]
pub async fn print(ctx: &Context, event: proto::Event) -> Result<()> {
    let from = ctx
        .metadata()
        .get("micro-from-service")
        .map(String::as_str)
        .unwrap_or("?");
    println!("received {} from {from}: {}", event.id, event.message);
    Ok(())
}
