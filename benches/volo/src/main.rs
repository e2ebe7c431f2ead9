//! The volo-grpc peer of micro-bench (see `benches/src/load/volo.rs`):
//!
//! - `volo-greeter serve`: the greeter on volo-grpc, on a free loopback port, until stdin closes;
//!   says `READY {"address":"127.0.0.1:PORT"}`.
//! - `volo-greeter load ADDRESS CONCURRENCY WARMUP RUN`: volo's client calling `Greeter.Call`
//!   in a closed loop from CONCURRENCY tasks, WARMUP seconds unmeasured and RUN measured, as
//!   micro-bench's own `drive` does; says `OPEN` and `CLOSED` around the measured window, then
//!   `SAMPLE {"items":..,"seconds":..,"latencies_ns":[..]}`, one latency per measured call.

// The greeter's streams yield volo's own `Result<_, volo_grpc::Status>`, a large error type.
#![allow(clippy::result_large_err)]

mod proto {
    include!(concat!(env!("OUT_DIR"), "/greeter.rs"));
}

use futures::StreamExt;
use proto::greeter::go::micro::srv::greeter::{
    Greeter, GreeterClient, GreeterClientBuilder, GreeterServer, Ping, Pong, Request, Response,
    StreamingRequest, StreamingResponse,
};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use volo_grpc::{BoxStream, RecvStream, Status};

/// How long one call may take before the run fails (micro-bench's `OP_TIMEOUT`).
const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// The greeter, answering as the raw tonic and micro greeters do.
struct VoloGreeter;

impl Greeter for VoloGreeter {
    async fn call(
        &self,
        req: volo_grpc::Request<Request>,
    ) -> Result<volo_grpc::Response<Response>, Status> {
        let msg = format!("Hello {}", req.get_ref().name);
        Ok(volo_grpc::Response::new(Response { msg: msg.into() }))
    }

    async fn stream(
        &self,
        req: volo_grpc::Request<StreamingRequest>,
    ) -> Result<volo_grpc::Response<BoxStream<'static, Result<StreamingResponse, Status>>>, Status>
    {
        let count = req.get_ref().count.max(0);
        let replies = futures::stream::iter(0..count).map(|count| Ok(StreamingResponse { count }));
        Ok(volo_grpc::Response::new(Box::pin(replies)))
    }

    async fn ping_pong(
        &self,
        req: volo_grpc::Request<RecvStream<Ping>>,
    ) -> Result<volo_grpc::Response<BoxStream<'static, Result<Pong, Status>>>, Status> {
        let pongs = req.into_inner().map(|ping| {
            ping.map(|ping| Pong {
                stroke: ping.stroke,
            })
        });
        Ok(volo_grpc::Response::new(Box::pin(pongs)))
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("serve") => serve().await,
        Some("load") => load(&args[1..]).await,
        _ => Err("usage: volo-greeter serve | load ADDRESS CONCURRENCY WARMUP RUN".into()),
    };
    if let Err(e) = outcome {
        eprintln!("volo-greeter: {e}");
        std::process::exit(1);
    }
}

async fn serve() -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("binding: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let server = volo_grpc::server::Server::new().add_service(
        volo_grpc::server::ServiceBuilder::new(GreeterServer::new(VoloGreeter)).build(),
    );
    // Accepted connections get TCP_NODELAY from volo, as tonic's greeter sets it.
    tokio::spawn(server.run(volo::net::DefaultIncoming::from(listener)));
    println!(
        "READY {}",
        serde_json::json!({ "address": address.to_string() })
    );
    // Until micro-bench closes stdin (or is gone).
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    Ok(())
}

async fn load(args: &[String]) -> Result<(), String> {
    let [address, concurrency, warmup, run] = args else {
        return Err("load ADDRESS CONCURRENCY WARMUP RUN".into());
    };
    let address: SocketAddr = address.parse().map_err(|e| format!("{address}: {e}"))?;
    let concurrency: usize = concurrency
        .parse()
        .map_err(|e| format!("{concurrency}: {e}"))?;
    let seconds = |s: &String| {
        s.parse::<f64>()
            .map(Duration::from_secs_f64)
            .map_err(|e| format!("{s}: {e}"))
    };
    let (warmup, run) = (seconds(warmup)?, seconds(run)?);
    let client = GreeterClientBuilder::new("go.micro.srv.greeter")
        .address(address)
        .build();
    let opened = Instant::now() + warmup;
    let closed = opened + run;
    let callers: Vec<_> = (0..concurrency)
        .map(|_| tokio::spawn(caller(client.clone(), opened, closed)))
        .collect();
    tokio::time::sleep_until(opened.into()).await;
    println!("OPEN");
    tokio::time::sleep_until(closed.into()).await;
    println!("CLOSED");
    let mut latencies = Vec::new();
    for caller in callers {
        latencies.extend(
            caller
                .await
                .map_err(|e| format!("caller panicked: {e}"))??,
        );
    }
    // micro-bench makes the percentiles, as for its own cases.
    let latencies_ns: Vec<u64> = latencies.iter().map(|l| l.as_nanos() as u64).collect();
    let sample = serde_json::json!({
        "items": latencies.len(),
        "seconds": run.as_secs_f64(),
        "latencies_ns": latencies_ns,
    });
    println!("SAMPLE {sample}");
    Ok(())
}

/// One closed-loop caller: the latencies of the calls that began and ended inside the window.
async fn caller(
    client: GreeterClient,
    opened: Instant,
    closed: Instant,
) -> Result<Vec<Duration>, String> {
    let mut latencies = Vec::new();
    loop {
        let start = Instant::now();
        if start >= closed {
            return Ok(latencies);
        }
        let request = Request {
            name: "John".into(),
        };
        let reply = match tokio::time::timeout(OP_TIMEOUT, client.call(request)).await {
            Ok(reply) => reply.map_err(|s| s.to_string())?,
            Err(_) => return Err(format!("no answer within {OP_TIMEOUT:?}")),
        };
        if reply.get_ref().msg != "Hello John" {
            return Err(format!("volo reply {:?}", reply.get_ref().msg));
        }
        let end = Instant::now();
        if start >= opened && end <= closed {
            latencies.push(end - start);
        }
    }
}
