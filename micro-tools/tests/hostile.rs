//! `micro api` (the real binary) against hostile clients: idle sockets under a lowered
//! descriptor limit, headers and bodies sent a byte at a time, and a half-sent request at
//! shutdown. A normal request (curl) must keep succeeding throughout. Each test prints what it
//! saw.

use micro_tests::{free_port, Child};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `micro api` with a memory registry and these variables, under `ulimit -n descriptors`; its
/// stderr goes to the returned file.
fn api(env: &[(&str, &str)], descriptors: u32) -> (Child, String, std::path::PathBuf) {
    let address = format!("127.0.0.1:{}", free_port());
    let log = std::env::temp_dir().join(format!("micro-api-hostile-{}.log", free_port()));
    let stderr = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -n {descriptors} && exec \"$0\" api --address {address}"
        ))
        .arg(env!("CARGO_BIN_EXE_micro"))
        .env("MICRO_REGISTRY", "memory")
        .stdout(Stdio::null())
        .stderr(stderr);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = Child(cmd.spawn().expect("starting micro api"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&address).is_err() {
        assert!(Instant::now() < deadline, "micro api never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, address, log)
}

/// `GET /` with curl: the status, or 0 when the request failed.
fn curl_root(address: &str) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .arg(format!("http://{address}/"))
        .output()
        .expect("curl is needed: apt-get install -y curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Whether the server closes `stream` within `limit`, reading what it sends into `seen`.
fn closed_within(stream: &mut TcpStream, limit: Duration, seen: &mut Vec<u8>) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn idle_sockets_past_a_low_descriptor_limit_leave_the_gateway_serving() {
    // 128 descriptors: a default cap of 96 connections.
    let (_api, address, log) = api(&[("MICRO_SERVER_HEADER_TIMEOUT", "3")], 128);
    let mut idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(&address).expect("connecting"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let statuses: Vec<u16> = (0..20).map(|_| curl_root(&address)).collect();
    let served = statuses.iter().filter(|s| **s == 200).count();
    let mut closed = 0;
    for socket in &mut idle {
        if closed_within(socket, Duration::from_secs(15), &mut Vec::new()) {
            closed += 1;
        }
    }
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    println!(
        "300 idle sockets, ulimit -n 128: {served}/20 requests served during, {closed} sockets closed by the gateway"
    );
    assert_eq!(served, 20, "statuses during the attack: {statuses:?}");
    assert_eq!(closed, 300, "every idle socket is closed");
    assert!(
        !stderr.contains("Too many open files"),
        "the gateway ran out of descriptors:\n{stderr}"
    );
    assert_eq!(curl_root(&address), 200);
}

#[test]
fn headers_and_bodies_a_byte_at_a_time_are_cut_off() {
    let (_api, address, _log) = api(
        &[
            ("MICRO_SERVER_HEADER_TIMEOUT", "2"),
            ("MICRO_SERVER_BODY_TIMEOUT", "2"),
            ("MICRO_API_ENABLE_RPC", "true"),
        ],
        1024,
    );

    // Slow headers: a header line every 500 ms, never the blank line that ends them.
    let slow: Vec<_> = (0..20)
        .map(|_| {
            let address = address.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&address).unwrap();
                let started = Instant::now();
                let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n");
                let mut lines = 0;
                while started.elapsed() < Duration::from_secs(20) {
                    if s.write_all(format!("X-Slow-{lines}: 1\r\n").as_bytes())
                        .is_err()
                    {
                        break;
                    }
                    lines += 1;
                    let mut probe = [0u8; 1];
                    s.set_read_timeout(Some(Duration::from_millis(500)))
                        .unwrap();
                    match s.read(&mut probe) {
                        Ok(0) => break,
                        Ok(_) => {
                            // An answer (408) then the close.
                            let _ = closed_within(&mut s, Duration::from_secs(5), &mut Vec::new());
                            break;
                        }
                        Err(e)
                            if e.kind() == std::io::ErrorKind::WouldBlock
                                || e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(_) => break,
                    }
                }
                (lines, started.elapsed())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        curl_root(&address),
        200,
        "a normal request during slow headers"
    );
    let cut: Vec<(u32, Duration)> = slow.into_iter().map(|t| t.join().unwrap()).collect();
    let longest = cut.iter().map(|(_, d)| *d).max().unwrap();
    println!(
        "20 slow-header clients: cut after at most {} header lines, {longest:?}",
        cut.iter().map(|(l, _)| *l).max().unwrap()
    );
    assert!(
        cut.iter().all(|(_, d)| *d < Duration::from_secs(20)),
        "a slow-header client was never cut off: {cut:?}"
    );

    // A slow body: 100 bytes declared, 5 sent, then one every 500 ms.
    let mut s = TcpStream::connect(&address).unwrap();
    s.write_all(
        b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ser",
    )
    .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    while started.elapsed() < Duration::from_secs(15) {
        let _ = s.write_all(b" ");
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                    break;
                }
            }
            Err(_) => {}
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    println!(
        "slow body: after {:?}: {}",
        started.elapsed(),
        answer.lines().next().unwrap_or("")
    );
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "a slow body is answered 408: {answer}"
    );
    assert!(
        answer.contains("the request body did not arrive within the body timeout of 2s"),
        "{answer}"
    );
    assert_eq!(curl_root(&address), 200, "a normal request after");
}

#[test]
fn a_half_sent_request_does_not_keep_the_gateway_from_exiting() {
    let (mut api, address, _log) = api(&[], 1024);
    let mut half = TcpStream::connect(&address).unwrap();
    half.write_all(
        b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"service\":",
    )
    .unwrap();
    // And one that sent nothing at all.
    let _silent = TcpStream::connect(&address).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-INT", &api.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // The drain timeout (10 s) and a grace, well within this bound.
    let exited = api.wait_for_exit(Duration::from_secs(30));
    println!(
        "SIGINT with a half-sent request: exited {exited:?} after {:?}",
        started.elapsed()
    );
    assert!(exited.success(), "exit status {exited:?}");
}
