//! Third-party peers: a stock Python grpcio client and curl speak to micro services.

use micro::registry::MemoryRegistry;
use micro_tests::{python_client, start, TestHandler};
use std::sync::Arc;

async fn greeter() -> micro::service::RunningService {
    micro::Service::builder()
        .flags(micro::Flags::default())
        .name(examples::greeter::SERVICE)
        .registry(Arc::new(MemoryRegistry::new()))
        .handler(examples::greeter::Greeter)
        .build()
        .unwrap()
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn grpcio_calls_the_greeter() {
    let svc = greeter().await;
    let address = svc.local_addr().to_string();
    let (ok, out, err) =
        tokio::task::spawn_blocking(move || python_client(&["greet", &address, "John"]))
            .await
            .unwrap();
    assert!(ok, "python client failed: {err}");
    assert_eq!(out, "Hello John");
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn grpcio_sees_a_handler_error_as_invalid_argument() {
    let svc = start(Arc::new(MemoryRegistry::new()), TestHandler::default()).await;
    let address = svc.local_addr().to_string();
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        python_client(&["fail", &address, "400", "name is empty"])
    })
    .await
    .unwrap();
    assert!(ok, "python client failed: {err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("INVALID_ARGUMENT"));
    let details: serde_json::Value =
        serde_json::from_str(lines.next().unwrap_or("")).expect("details are the micro error JSON");
    assert_eq!(details["code"], 400);
    assert_eq!(details["detail"], "name is empty");
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn grpcio_health_check_says_serving() {
    let svc = greeter().await;
    let address = svc.local_addr().to_string();
    let (ok, out, err) = tokio::task::spawn_blocking(move || python_client(&["health", &address]))
        .await
        .unwrap();
    assert!(ok, "python client failed: {err}");
    assert_eq!(out, "SERVING");
    svc.stop().await.unwrap();
}

/// curl over HTTP/2 with a content type that is not gRPC: 415 and a gRPC status saying why.
#[tokio::test]
async fn a_wrong_content_type_is_refused_precisely() {
    let svc = start(Arc::new(MemoryRegistry::new()), TestHandler::default()).await;
    let url = format!("http://{}/go.micro.test.Test/Echo", svc.local_addr());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args([
                "-sS",
                "--http2-prior-knowledge",
                "-X",
                "POST",
                "-H",
                "content-type: text/plain",
                "--data",
                "hello",
                "-D",
                "-",
                "-o",
                "/dev/null",
                &url,
            ])
            .output()
    })
    .await
    .unwrap()
    .expect("curl is needed: apt-get install -y curl");
    let headers = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(
        headers.starts_with("http/2 415"),
        "curl ({}) printed {headers:?}; stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(headers.contains("grpc-status: 3"), "{headers}");
    // grpc-message is percent-encoded.
    assert!(
        headers.contains("unsupported%20content%20type%20\\%22text/plain\\%22%20for%20test.echo"),
        "{headers}"
    );

    // The server keeps serving.
    let client = micro::Client::new(Arc::new(MemoryRegistry::new()));
    let opts = micro::CallOptions::default().address(svc.local_addr().to_string());
    let reply = client
        .call_json(
            micro_tests::SERVICE,
            "Test.Echo",
            &serde_json::json!({"message": "ok"}),
            opts,
        )
        .await
        .unwrap();
    assert_eq!(reply["message"], "ok");
    svc.stop().await.unwrap();
}
