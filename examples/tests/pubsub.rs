//! The pubsub example as two processes, meeting through etcd and the http broker.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn publisher_and_subscriber_processes() {
    let etcd = micro_tests::Etcd::start();
    let envs = [
        ("MICRO_REGISTRY", "etcd".to_string()),
        ("MICRO_REGISTRY_ADDRESS", etcd.address()),
        ("MICRO_BROKER", "http".into()),
    ];
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pubsub-subscriber"));
    cmd.envs(envs.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut subscriber = micro_tests::Child(cmd.spawn().unwrap());
    let stdout = subscriber.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });

    // Publish until the subscriber is registered and the first event arrives (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = Vec::new();
    while lines.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the subscriber printed {lines:?}"
        );
        if lines.is_empty() {
            let out = Command::new(env!("CARGO_BIN_EXE_pubsub-publisher"))
                .arg("3")
                .envs(envs.iter().map(|(k, v)| (k, v)))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            lines.push(line);
        }
    }
    assert_eq!(
        &lines[..3],
        [
            "received event-0 from ?: hello #0",
            "received event-1 from ?: hello #1",
            "received event-2 from ?: hello #2"
        ]
    );
}
