//! TLS and mutual TLS between services, with certificates from CAs made here with openssl:
//! micro clients and a stock grpcio client call a TLS service; a client that does not trust
//! its CA, a plain-text client, and (with mutual TLS) a client without a certificate from the
//! right CA are each refused, saying why; a node registered under a service's name without
//! that service's certificate receives no call.

use micro::client::{ClientTls, SECURE};
use micro::registry::{MemoryRegistry, Node, Registry, Service};
use micro::server::tls::Tls;
use micro::tls::ClientTlsFiles;
use micro::{CallOptions, Client};
use micro_tests::proto::{EchoRequest, EchoResponse};
use micro_tests::{python_client_with, Pki, TestHandler, SERVICE};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A fresh directory for one test's certificates.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("micro-tls-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The test service over `tls`, telling its replies apart by `instance`.
async fn serve(
    registry: Arc<dyn Registry>,
    tls: Tls,
    instance: &str,
) -> micro::service::RunningService {
    let handler = TestHandler {
        instance: instance.into(),
        ..Default::default()
    };
    micro_tests::builder(registry, handler)
        .tls(tls)
        .build()
        .unwrap()
        .start()
        .await
        .unwrap()
}

fn client(registry: &Arc<dyn Registry>, tls: ClientTls) -> Client {
    Client::builder()
        .registry(Arc::clone(registry))
        .no_proxy()
        .tls(tls)
        .retries(0)
        .build()
}

/// A client without TLS settings.
fn client_plain(registry: &Arc<dyn Registry>) -> Client {
    client(registry, ClientTls::default())
}

fn trusting(ca: &Path) -> ClientTls {
    ClientTls::from_files(&ClientTlsFiles {
        ca: Some(ca.into()),
        ..Default::default()
    })
    .unwrap()
}

async fn echo(client: &Client, opts: CallOptions) -> micro::Result<EchoResponse> {
    let req = EchoRequest {
        message: "over tls".into(),
        ..Default::default()
    };
    client.call(SERVICE, "Test.Echo", &req, opts).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn micro_and_grpcio_clients_call_a_tls_service_and_others_are_told_why_not() {
    let dir = scratch("plain");
    let pki = Pki::new(&dir, "ca");
    let (cert, key) = pki.server("greeter", &[&format!("DNS:{SERVICE}"), "IP:127.0.0.1"]);
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let tls = Tls::from_pem_files(&cert, &key, &[b"h2"]).unwrap();
    let running = serve(Arc::clone(&registry), tls, "real").await;
    let address = running.local_addr().to_string();

    // The node says it serves TLS.
    let record = registry.get_service(SERVICE).await.unwrap();
    assert_eq!(
        record[0].nodes[0].metadata.get(SECURE).map(String::as_str),
        Some("true")
    );

    // A micro client trusting the CA, finding the node in the registry.
    let reply = echo(
        &client(&registry, trusting(&pki.ca())),
        CallOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(reply.message, "over tls");
    assert_eq!(reply.instance, "real");

    // A stock grpcio client with ssl_channel_credentials(CA), checking the name 127.0.0.1.
    let ca = pki.ca();
    let (ok, out, err) = python_client_with(&["health", &address], &[("MICRO_TEST_TLS_CA", &ca)]);
    assert!(ok, "{err}");
    assert_eq!(out, "SERVING");

    // A client trusting only the system's roots: a certificate error, naming the cause.
    let err = echo(
        &client(&registry, ClientTls::default()),
        CallOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, 503, "{err}");
    assert!(err.detail.contains("certificate"), "{}", err.detail);
    assert!(err.detail.contains("UnknownIssuer"), "{}", err.detail);

    // Plain text to the TLS port: answered, saying TLS is needed (no hang, no bare reset).
    let plain = client(&registry, ClientTls::default());
    let err = echo(&plain, CallOptions::default().address(&address))
        .await
        .unwrap_err();
    assert!(err.detail.contains("speaks TLS only"), "{}", err.detail);
    let (ok, out, err) = python_client_with(&["health", &address], &[]);
    assert!(!ok, "{out}");
    assert!(err.contains("speaks TLS only"), "{err}");

    // The service still serves.
    let reply = echo(
        &client(&registry, trusting(&pki.ca())),
        CallOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(reply.instance, "real");
    running.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_takes_only_clients_with_a_certificate_from_its_ca() {
    let dir = scratch("mutual");
    let pki = Pki::new(&dir, "ca");
    let other = Pki::new(&dir, "other-ca");
    let (cert, key) = pki.server("greeter", &[&format!("DNS:{SERVICE}"), "IP:127.0.0.1"]);
    let (client_cert, client_key) = pki.client("client");
    let (stranger_cert, stranger_key) = other.client("stranger");
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let tls = Tls::mutual(&cert, &key, &pki.ca(), &[b"h2"]).unwrap();
    assert!(tls.is_mutual());
    let running = serve(Arc::clone(&registry), tls, "real").await;
    let address = running.local_addr().to_string();

    let with_cert = |cert: &Path, key: &Path| {
        ClientTls::from_files(&ClientTlsFiles {
            ca: Some(pki.ca()),
            cert: Some(cert.into()),
            key: Some(key.into()),
            server_name: None,
        })
        .unwrap()
    };
    let reply = echo(
        &client(&registry, with_cert(&client_cert, &client_key)),
        CallOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(reply.instance, "real");

    // No certificate, or one from another CA: refused in the handshake.
    for (who, tls) in [
        ("no certificate", trusting(&pki.ca())),
        (
            "another CA's certificate",
            with_cert(&stranger_cert, &stranger_key),
        ),
    ] {
        let err = echo(&client(&registry, tls), CallOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.code, 503, "{who}: {err}");
        // In TLS 1.3 the client has finished its handshake before the server checks its
        // certificate: the server's alert reaches the call only when hyper has not yet seen
        // the connection end; otherwise it reports the connection closed or the pipe broken.
        let alert = if who.starts_with("another") {
            "UnknownCA"
        } else {
            "CertificateRequired"
        };
        let cut = ["connection closed", "broken pipe"];
        assert!(
            err.detail.contains(alert) || cut.iter().any(|c| err.detail.contains(c)),
            "{who}: {}",
            err.detail
        );
    }

    // grpcio: with the client certificate it is served, without one it is not.
    let ca = pki.ca();
    let (ok, out, err) = python_client_with(
        &["health", &address],
        &[
            ("MICRO_TEST_TLS_CA", &ca),
            ("MICRO_TEST_TLS_CERT", &client_cert),
            ("MICRO_TEST_TLS_KEY", &client_key),
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "SERVING");
    let (ok, out, _) = python_client_with(&["health", &address], &[("MICRO_TEST_TLS_CA", &ca)]);
    assert!(!ok, "served without a client certificate: {out}");
    let (ok, out, _) = python_client_with(
        &["health", &address],
        &[
            ("MICRO_TEST_TLS_CA", &ca),
            ("MICRO_TEST_TLS_CERT", &stranger_cert),
            ("MICRO_TEST_TLS_KEY", &stranger_key),
        ],
    );
    assert!(!ok, "served with another CA's certificate: {out}");
    running.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impostor_node_without_the_services_certificate_receives_no_call() {
    let dir = scratch("impostor");
    let pki = Pki::new(&dir, "ca");
    let (cert, key) = pki.server("greeter", &[&format!("DNS:{SERVICE}"), "IP:127.0.0.1"]);
    // The impostor holds a certificate from the same CA, for another service.
    let (fake_cert, fake_key) = pki.server("fake", &["DNS:go.micro.srv.fake", "IP:127.0.0.1"]);
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let real = serve(
        Arc::clone(&registry),
        Tls::from_pem_files(&cert, &key, &[b"h2"]).unwrap(),
        "real",
    )
    .await;
    // Two impostors under the service's name: one with the other certificate, registered
    // secure, and one registered as plain text.
    let fakes: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let fake_tls = serve(
        Arc::clone(&fakes),
        Tls::from_pem_files(&fake_cert, &fake_key, &[b"h2"]).unwrap(),
        "impostor",
    )
    .await;
    let impostor = TestHandler {
        instance: "impostor".into(),
        ..Default::default()
    };
    let fake_plain = micro_tests::builder(Arc::clone(&fakes), impostor)
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    for (fake, secure) in [(&fake_tls, true), (&fake_plain, false)] {
        let mut metadata = std::collections::BTreeMap::new();
        if secure {
            metadata.insert(SECURE.to_string(), "true".to_string());
        }
        registry
            .register(
                &Service {
                    name: SERVICE.into(),
                    version: "latest".into(),
                    nodes: vec![Node {
                        id: format!("impostor-{secure}"),
                        address: fake.local_addr().to_string(),
                        metadata,
                    }],
                    ..Default::default()
                },
                micro::registry::RegisterOptions::default(),
            )
            .await
            .unwrap();
    }
    let nodes: usize = registry
        .get_service(SERVICE)
        .await
        .unwrap()
        .iter()
        .map(|s| s.nodes.len())
        .sum();
    assert_eq!(nodes, 3);

    // Every call lands on the real node: the impostors fail the handshake and are skipped.
    // (Two retries: a call may meet both impostors before they are out of rotation.)
    let client = Client::builder()
        .registry(Arc::clone(&registry))
        .no_proxy()
        .tls(trusting(&pki.ca()))
        .retries(2)
        .build();
    for _ in 0..20 {
        let reply = echo(&client, CallOptions::default()).await.unwrap();
        assert_eq!(reply.instance, "real");
    }
    // The impostors were tried and refused, never called: each has served one request, the
    // stats call asked here (over its own TLS, by its own name, and in plain text).
    let fake_client = Client::builder()
        .registry(Arc::clone(&fakes))
        .no_proxy()
        .tls(trusting(&pki.ca()).server_name("go.micro.srv.fake"))
        .build();
    for (fake, client) in [
        (&fake_tls, &fake_client),
        (&fake_plain, &client_plain(&fakes)),
    ] {
        let opts = CallOptions::default().address(fake.local_addr().to_string());
        let stats: serde_json::Value = client
            .call_json(SERVICE, "Debug.Stats", &serde_json::json!({}), opts)
            .await
            .unwrap();
        assert_eq!(stats["requests"], "1", "the impostor served calls: {stats}");
    }
    real.stop().await.unwrap();
    fake_tls.stop().await.unwrap();
    fake_plain.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_given_an_address_checks_the_services_name_even_with_a_proxy_set() {
    let dir = scratch("address");
    let pki = Pki::new(&dir, "ca");
    let (cert, key) = pki.server("greeter", &[&format!("DNS:{SERVICE}")]);
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let tls = Tls::from_pem_files(&cert, &key, &[b"h2"]).unwrap();
    let running = serve(Arc::clone(&registry), tls, "real").await;
    let address = running.local_addr().to_string();
    // Every call goes through a proxy (here none listens, on loopback's discard port) ...
    let client = Client::builder()
        .registry(Arc::clone(&registry))
        .proxy(micro::client::Via::Address("127.0.0.1:9".into()))
        .tls(trusting(&pki.ca()))
        .retries(0)
        .build();
    let err = echo(&client, CallOptions::default()).await.unwrap_err();
    assert!(err.detail.contains("127.0.0.1:9"), "{err}");
    // ... except one given an address: straight to the node, whose certificate must name the
    // service called (not the proxy).
    let reply = echo(&client, CallOptions::default().address(&address))
        .await
        .unwrap();
    assert_eq!(reply.instance, "real");
    running.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
