//! Serves `go.micro.srv.subscriber`, printing every event published to `go.micro.topic.events`,
//! until SIGINT or SIGTERM. `MICRO_REGISTRY` and `MICRO_BROKER` choose registry and broker.

use examples::pubsub::{Print, SERVICE, TOPIC};

#[tokio::main]
async fn main() {
    examples::init_logging();
    let service = micro::Service::builder()
        .name(SERVICE)
        .subscriber(TOPIC, Print)
        .build();
    if let Err(e) = async { service?.run().await }.await {
        eprintln!("pubsub-subscriber: {e}");
        std::process::exit(1);
    }
}
