//! The NATS broker on a three-server NATS cluster (routes on loopback): the server a subscriber
//! is connected to is killed; the subscriber reconnects to another (learned from the cluster,
//! not configured) and keeps receiving. Figures are printed.

use micro::broker::{Broker, Event, Message, MessageHandler, NatsBroker, SubscribeOptions};
use micro_tests::{free_port, Child};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Server {
    port: u16,
    child: Option<Child>,
}

fn start_cluster() -> Vec<Server> {
    let cluster_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let servers: Vec<Server> = (0..3)
        .map(|i| {
            let port = free_port();
            let routes: Vec<String> = cluster_ports
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, p)| format!("nats://127.0.0.1:{p}"))
                .collect();
            let child = std::process::Command::new("nats-server")
                .args(["-a", "127.0.0.1", "-p", &port.to_string()])
                .args(["--name", &format!("n{i}"), "--cluster_name", "micro-test"])
                .args([
                    "--cluster",
                    &format!("nats://127.0.0.1:{}", cluster_ports[i]),
                ])
                .args(["--routes", &routes.join(",")])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("nats-server is needed: apt-get install -y nats-server ({e})")
                });
            Server {
                port,
                child: Some(Child(child)),
            }
        })
        .collect();
    for s in &servers {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", s.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    servers
}

#[tokio::test]
async fn a_subscriber_whose_server_dies_reconnects_to_another_and_keeps_receiving() {
    let mut servers = start_cluster();
    let topic = "go.micro.test.cluster";
    // The subscriber knows only the first server; the publisher only the third.
    let subscriber = NatsBroker::new(&format!("127.0.0.1:{}", servers[0].port));
    let publisher = NatsBroker::new(&format!("127.0.0.1:{}", servers[2].port));
    let seen: Arc<Mutex<Vec<u32>>> = Arc::default();
    let handler: MessageHandler = {
        let seen = Arc::clone(&seen);
        Arc::new(move |event: Event| {
            let seen = Arc::clone(&seen);
            Box::pin(async move {
                let n = String::from_utf8_lossy(&event.message.body)
                    .parse()
                    .unwrap_or(u32::MAX);
                seen.lock().unwrap().push(n);
                Ok(())
            })
        })
    };
    let _sub = subscriber
        .subscribe(topic, handler, SubscribeOptions::default())
        .await
        .unwrap();
    // Routes carry the subscription to the publisher's server: wait until a message crosses.
    let mut n = 0u32;
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no message crossed the cluster");
        let msg = Message {
            header: Default::default(),
            body: n.to_string().into_bytes().into(),
        };
        publisher.publish(topic, msg).await.unwrap();
        n += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let killed_at = n;
    servers[0].child = None;
    let killed = Instant::now();
    // Publishing on, bounded: until the subscriber has received from well after the kill.
    let mut resumed = None;
    while killed.elapsed() < Duration::from_secs(30) {
        let msg = Message {
            header: Default::default(),
            body: n.to_string().into_bytes().into(),
        };
        publisher.publish(topic, msg).await.unwrap();
        n += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let after: Vec<u32> = seen
            .lock()
            .unwrap()
            .iter()
            .copied()
            .filter(|m| *m > killed_at)
            .collect();
        if resumed.is_none() && !after.is_empty() {
            resumed = Some((killed.elapsed(), after[0]));
        }
        if after.len() >= 50 {
            break;
        }
    }
    let (after, first) = resumed.expect("the subscriber never received after its server died");
    println!(
        "subscriber's server killed at message {killed_at}: receiving again after {after:?}, from message {first} (core NATS: the {} published while it reconnected are not delivered)",
        first.saturating_sub(killed_at + 1)
    );
    let got = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|m| **m > killed_at)
        .count();
    assert!(got >= 50, "only {got} received after the kill");
    let _ = servers;
}
