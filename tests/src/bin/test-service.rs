//! The test service as a process, for tests that signal or kill it.

#[tokio::main]
async fn main() -> micro::Result<()> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    micro::Service::builder()
        .name(micro_tests::SERVICE)
        .handler(micro_tests::TestHandler {
            instance: std::process::id().to_string(),
            ..Default::default()
        })
        .build()?
        .run()
        .await
}
