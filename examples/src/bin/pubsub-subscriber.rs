//! Serves `go.micro.srv.subscriber`, printing every event published to `go.micro.topic.events`,
//! until SIGINT or SIGTERM. `--registry` and `--broker` (or `MICRO_REGISTRY`, `MICRO_BROKER`)
//! choose registry and broker; `--help` lists every flag.

use examples::pubsub::{Print, SERVICE, TOPIC};

#[tokio::main]
async fn main() -> micro::Result<()> {
    examples::init_logging();
    micro::Service::builder()
        .name(SERVICE)
        .subscriber(TOPIC, Print)
        .build()?
        .run()
        .await
}
