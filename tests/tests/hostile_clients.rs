//! Clients that hold a service's sockets, or its shutdown, hostage: idle sockets past the
//! connection cap, an HTTP/2 preface that never completes, a request body that never arrives,
//! a peer that stops answering, every connection busy, and calls still running when the drain
//! runs out. Each test prints what it saw.

use bytes::Bytes;
use micro::registry::{MemoryRegistry, Registry};
use micro::server::ConnectionLimits;
use micro::{CallOptions, Client, Flags};
use micro_tests::proto::{EchoRequest, EchoResponse, FloodItem, FloodRequest, SleepRequest};
use micro_tests::{TestHandler, SERVICE};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Short timeouts, so that each test sees them pass.
fn limits() -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        body_timeout: Duration::from_secs(1),
        keepalive_interval: Some(Duration::from_millis(500)),
        keepalive_timeout: Duration::from_millis(500),
        max_connections: 32,
    }
}

async fn service(
    registry: Arc<dyn Registry>,
    handler: TestHandler,
    limits: ConnectionLimits,
    drain: Duration,
) -> micro::service::RunningService {
    micro::Service::builder()
        .flags(Flags::default())
        .name(SERVICE)
        .address("127.0.0.1:0")
        .registry(registry)
        .handler(handler)
        .connection_limits(limits)
        .drain_timeout(drain)
        .build()
        .expect("building the test service")
        .start()
        .await
        .expect("starting the test service")
}

async fn echo(client: &Client, message: &str, opts: CallOptions) -> micro::Result<EchoResponse> {
    let request = EchoRequest {
        message: message.into(),
        ..Default::default()
    };
    client.call(SERVICE, "Test.Echo", &request, opts).await
}

/// Whether the server closes `stream` within `limit`, reading (and dropping) what it sends.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let read_to_end = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read_to_end).await.is_ok()
}

#[tokio::test]
async fn idle_sockets_past_the_cap_are_closed_and_calls_still_get_through() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let limits = ConnectionLimits {
        header_timeout: Duration::from_secs(5),
        ..limits()
    };
    let svc = service(
        registry.clone(),
        TestHandler::default(),
        limits.clone(),
        Duration::from_secs(1),
    )
    .await;
    let address = svc.local_addr();

    // Twice the cap, sending nothing.
    let mut idle = Vec::new();
    for _ in 0..2 * limits.max_connections {
        idle.push(TcpStream::connect(address).await.expect("connecting"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Each call on a connection of its own, while the idle sockets are open.
    let mut served = 0;
    for i in 0..10 {
        let client = Client::new(registry.clone());
        let reply = echo(
            &client,
            &format!("during {i}"),
            CallOptions::default().retries(0),
        )
        .await
        .expect("a call while idle sockets fill the cap");
        assert_eq!(reply.message, format!("during {i}"));
        served += 1;
    }

    let started = Instant::now();
    let mut closed = 0;
    for socket in &mut idle {
        if closed_within(socket, Duration::from_secs(15)).await {
            closed += 1;
        }
    }
    println!(
        "{} idle sockets against a cap of {}: {served}/10 calls served during, {closed} closed by the server (the last {:?} after the calls)",
        idle.len(),
        limits.max_connections,
        started.elapsed()
    );
    assert_eq!(closed, idle.len(), "every idle socket is closed");
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_preface_that_never_completes_is_closed_after_the_header_timeout() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let svc = service(
        registry.clone(),
        TestHandler::default(),
        limits(),
        Duration::from_secs(1),
    )
    .await;
    let address = svc.local_addr();

    // One byte of the preface every 200 ms: it would take 4.8 s to send.
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut slow = TcpStream::connect(address).await.unwrap();
    let started = Instant::now();
    let mut sent = 0;
    for byte in preface {
        if slow.write_all(&[*byte]).await.is_err() {
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        closed_within(&mut slow, Duration::from_secs(10)).await,
        "the slow preface was not closed"
    );
    println!(
        "slow preface: closed after {sent} of {} bytes, {:?}",
        preface.len(),
        started.elapsed()
    );
    assert!(sent < preface.len(), "the whole preface went through");

    // A whole preface and settings, then no request: closed too.
    let mut silent = TcpStream::connect(address).await.unwrap();
    silent.write_all(preface).await.unwrap();
    silent
        .write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
        .await
        .unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(10)).await,
        "a connection that never sent a request was not closed"
    );

    // Meanwhile calls are served as ever.
    let client = Client::new(registry);
    echo(&client, "after", CallOptions::default())
        .await
        .unwrap();
    svc.stop().await.unwrap();
}

/// A unary call sent over HTTP/2 whose body stops after `first` bytes.
async fn call_with_a_stalled_body(
    address: SocketAddr,
    first: &'static [u8],
) -> (tonic::Status, Duration) {
    use http_body_util::BodyExt;
    let stream = TcpStream::connect(address).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("HTTP/2 handshake");
    tokio::spawn(conn);
    let (tx, rx) =
        futures::channel::mpsc::channel::<Result<http_body::Frame<Bytes>, std::io::Error>>(1);
    let mut tx = tx;
    futures::SinkExt::send(
        &mut tx,
        Ok(http_body::Frame::data(Bytes::from_static(first))),
    )
    .await
    .unwrap();
    let request = http::Request::post(format!("http://{address}/Test/Echo"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(http_body_util::StreamBody::new(rx))
        .unwrap();
    let started = Instant::now();
    let response = sender.send_request(request).await.expect("a response");
    let headers = response.headers().clone();
    let trailers = response
        .into_body()
        .collect()
        .await
        .ok()
        .and_then(|c| c.trailers().cloned());
    let status = tonic::Status::from_header_map(&headers)
        .or_else(|| trailers.as_ref().and_then(tonic::Status::from_header_map))
        .expect("a grpc-status");
    drop(tx);
    (status, started.elapsed())
}

#[tokio::test]
async fn a_request_body_that_never_arrives_gets_deadline_exceeded() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let svc = service(
        registry,
        TestHandler::default(),
        limits(),
        Duration::from_secs(1),
    )
    .await;
    // Three of the five bytes of a frame header, then nothing.
    let (status, after) = call_with_a_stalled_body(svc.local_addr(), b"\0\0\0").await;
    println!(
        "stalled body: {:?} {:?} after {after:?}",
        status.code(),
        status.message()
    );
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
    let err = micro::Error::from_status("x", &status);
    assert_eq!(err.code, 408);
    assert_eq!(
        err.detail,
        "the request to Test.Echo did not arrive within the body timeout of 1s"
    );
    svc.stop().await.unwrap();
}

/// A TCP relay between a client and a server that can be frozen: it then stops passing bytes
/// either way (a peer that hung, or a network that dropped everything) but keeps both sockets
/// open, and notes when the server closes its side.
struct Relay {
    address: SocketAddr,
    frozen: Arc<AtomicBool>,
    server_closed: Arc<AtomicBool>,
}

impl Relay {
    async fn to(server: SocketAddr) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let frozen = Arc::new(AtomicBool::new(false));
        let server_closed = Arc::new(AtomicBool::new(false));
        let (f, closed) = (frozen.clone(), server_closed.clone());
        tokio::spawn(async move {
            let (client, _) = listener.accept().await.unwrap();
            let upstream = TcpStream::connect(server).await.unwrap();
            let (mut client_rd, mut client_wr) = client.into_split();
            let (mut server_rd, mut server_wr) = upstream.into_split();
            let f2 = f.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 << 10];
                loop {
                    if f2.load(Ordering::SeqCst) {
                        // Frozen: the client's bytes (ping acks among them) go nowhere.
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    match client_rd.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) if !f2.load(Ordering::SeqCst) => {
                            if server_wr.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                    }
                }
            });
            let mut buf = vec![0u8; 16 << 10];
            loop {
                match server_rd.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        closed.store(true, Ordering::SeqCst);
                        return;
                    }
                    // Frozen: read and dropped, so that the server's close can be seen.
                    Ok(_) if f.load(Ordering::SeqCst) => {}
                    Ok(n) => {
                        if client_wr.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Relay {
            address,
            frozen,
            server_closed,
        }
    }
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_dropped_mid_stream() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let handler = TestHandler::default();
    let dropped = handler.flood_dropped.clone();
    let svc = service(registry.clone(), handler, limits(), Duration::from_secs(1)).await;
    let relay = Relay::to(svc.local_addr()).await;

    let client = Client::new(registry);
    let flood = FloodRequest {
        count: 1_000_000,
        delay_ms: 100,
        ..Default::default()
    };
    let opts = CallOptions::default().address(relay.address.to_string());
    let mut items = client
        .server_stream::<_, FloodItem>(SERVICE, "Test.Flood", &flood, opts)
        .await
        .expect("the stream starts");
    for _ in 0..3 {
        items.message().await.unwrap().expect("an item");
    }
    relay.frozen.store(true, Ordering::SeqCst);
    let frozen_at = Instant::now();
    micro_tests::eventually(
        "the server closes the connection of a peer that stopped answering",
        Duration::from_secs(20),
        || relay.server_closed.load(Ordering::SeqCst),
    )
    .await;
    println!(
        "frozen peer mid-stream (pings every 500 ms, 500 ms to answer): closed after {:?}",
        frozen_at.elapsed()
    );
    micro_tests::eventually(
        "the handler's stream is dropped with the dead connection",
        Duration::from_secs(5),
        || dropped.load(Ordering::SeqCst),
    )
    .await;
    drop(items);
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn at_the_cap_with_every_connection_busy_new_ones_are_refused_until_one_frees() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let limits = ConnectionLimits {
        max_connections: 4,
        idle_timeout: Duration::from_secs(30),
        ..limits()
    };
    let svc = service(
        registry.clone(),
        TestHandler::default(),
        limits,
        Duration::from_secs(1),
    )
    .await;

    // Four clients, four connections, each with a call in flight.
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let client = Client::new(registry.clone());
            tokio::spawn(async move {
                let sleep = SleepRequest { millis: 2500 };
                client
                    .call::<_, micro_tests::proto::SleepResponse>(
                        SERVICE,
                        "Test.Sleep",
                        &sleep,
                        CallOptions::default(),
                    )
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let fifth = Client::new(registry.clone());
    let refused = echo(&fifth, "fifth", CallOptions::default().retries(0)).await;
    let err = refused.expect_err("a fifth connection while four are busy");
    println!("at the cap, all busy: {err}");
    assert_eq!(err.code, 503, "refused as unavailable: {err}");

    for call in busy {
        call.await.unwrap().expect("the busy calls complete");
    }
    let reply = echo(&fifth, "fifth again", CallOptions::default())
        .await
        .expect("served once a connection is free");
    assert_eq!(reply.message, "fifth again");
    svc.stop().await.unwrap();
}

// Multi-threaded: the grpcio client's output is read on a blocking thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_running_when_the_drain_runs_out_end_with_unavailable() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let svc = service(
        registry.clone(),
        TestHandler::default(),
        limits(),
        Duration::from_millis(500),
    )
    .await;
    let address = svc.local_addr().to_string();
    let client = Client::new(registry);

    let flood = FloodRequest {
        count: 1_000_000,
        delay_ms: 50,
        ..Default::default()
    };
    let mut items = client
        .server_stream::<_, FloodItem>(SERVICE, "Test.Flood", &flood, CallOptions::default())
        .await
        .unwrap();
    items.message().await.unwrap().expect("a first item");
    let unary = {
        let client = client.clone();
        tokio::spawn(async move {
            let sleep = SleepRequest { millis: 60_000 };
            client
                .call::<_, micro_tests::proto::SleepResponse>(
                    SERVICE,
                    "Test.Sleep",
                    &sleep,
                    CallOptions::default().retries(0),
                )
                .await
        })
    };
    // grpcio's view of the same: a stream running at the cut.
    let mut grpcio = std::process::Command::new(micro_tests::python())
        .arg(micro_tests::workspace_root().join("tests/python/grpc_client.py"))
        .args(["flood", &address, "50"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starting the grpcio client");
    let mut out = std::io::BufReader::new(grpcio.stdout.take().unwrap());
    let mut line = String::new();
    tokio::task::block_in_place(|| std::io::BufRead::read_line(&mut out, &mut line)).unwrap();
    assert_eq!(line.trim(), "started");

    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), svc.stop())
        .await
        .expect("stop ends within the drain timeout and a grace")
        .unwrap();
    println!(
        "stop with a stream and a 60 s call in flight took {:?}",
        started.elapsed()
    );

    let end = loop {
        match items.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the stream ended as if complete"),
            Err(e) => break e,
        }
    };
    assert_eq!(end.code, 503, "{end}");
    assert_eq!(
        end.detail,
        "go.micro.test is stopping: Test.Flood was still running when its drain timeout ran out"
    );
    let unary = unary.await.unwrap().expect_err("the 60 s call is cut");
    assert_eq!(unary.code, 503, "{unary}");
    assert_eq!(
        unary.detail,
        "go.micro.test is stopping: Test.Sleep was still running when its drain timeout ran out"
    );

    let mut rest = String::new();
    tokio::task::block_in_place(|| std::io::Read::read_to_string(&mut out, &mut rest)).unwrap();
    let _ = grpcio.wait();
    println!("grpcio at the cut: {}", rest.replace('\n', " | "));
    let lines: Vec<&str> = rest.lines().collect();
    assert_eq!(lines.get(1), Some(&"UNAVAILABLE"), "grpcio saw: {rest}");
    let details: serde_json::Value =
        serde_json::from_str(lines.get(2).copied().unwrap_or("")).expect("a micro error");
    assert_eq!(
        details["detail"],
        "go.micro.test is stopping: Test.Flood was still running when its drain timeout ran out"
    );
}
