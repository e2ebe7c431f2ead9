//! The test service as a process, for tests that signal or kill it.

#[tokio::main]
async fn main() -> micro::Result<()> {
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
