//! The test service as a process, for tests that signal or kill it (named go.micro.test
//! unless `--server_name` or MICRO_SERVER_NAME says otherwise). With
//! `MICRO_TEST_EVENTS_FILE` set it also subscribes to `go.micro.test.events` and appends every
//! message to that file (in the queue group `MICRO_TEST_EVENTS_QUEUE`, if set).

#[tokio::main]
async fn main() -> micro::Result<()> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let handler = micro_tests::TestHandler {
        instance: std::process::id().to_string(),
        ..Default::default()
    };
    // The name is a default, so `--server_name` or MICRO_SERVER_NAME can run it as another.
    let defaults = micro::config::Config {
        server_name: Some(micro_tests::SERVICE.into()),
        ..Default::default()
    };
    let mut builder = micro::Service::builder()
        .defaults(defaults)
        .handler(handler);
    if std::env::var_os("MICRO_TEST_EVENTS_FILE").is_some() {
        let opts = micro::broker::SubscribeOptions {
            queue: std::env::var("MICRO_TEST_EVENTS_QUEUE").ok(),
            ..Default::default()
        };
        builder = builder.subscriber_with(micro_tests::EVENTS, micro_tests::RecordEvent, opts);
    }
    builder.build()?.run().await
}
