//! Publishes `COUNT` events (default 3) to `go.micro.topic.events` and exits.
//!
//! Usage: `pubsub-publisher [COUNT]`. `MICRO_REGISTRY` and `MICRO_BROKER` choose registry and
//! broker, as for the subscriber.

use examples::pubsub::{proto::Event, TOPIC};
use std::time::{SystemTime, UNIX_EPOCH};

#[tokio::main]
async fn main() {
    examples::init_logging();
    let count: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let result = async {
        let client = micro::Client::from_env()?;
        for i in 0..count {
            let event = Event {
                id: format!("event-{i}"),
                timestamp: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64),
                message: format!("hello #{i}"),
            };
            client.publish(TOPIC, &event).await?;
            println!("published {}", event.id);
        }
        Ok::<(), micro::Error>(())
    }
    .await;
    if let Err(e) = result {
        eprintln!("pubsub-publisher: {e:?}");
        std::process::exit(1);
    }
}
