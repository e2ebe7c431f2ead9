//! `micro bot` as a process, against real services on a real etcd. Slack and Telegram cannot be
//! reached from here, so the bot talks to local servers speaking their documented protocols
//! (`micro_tests::slack`, `micro_tests::telegram`), which record what it sent. Events API
//! requests go through curl, signed with openssl.

use micro_tests::slack::{self, FakeSlack};
use micro_tests::telegram::{self, FakeTelegram};
use micro_tests::{Child, Etcd};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

const GREETER: &str = "go.micro.srv.greeter";

fn example(name: &str) -> PathBuf {
    micro_tests::sibling_binary(env!("CARGO_BIN_EXE_micro"), name)
}

/// A command on the etcd registry, its output kept out of the test's.
fn command(etcd: &Etcd, path: PathBuf) -> Command {
    let mut cmd = Command::new(path);
    cmd.env("MICRO_REGISTRY", "etcd")
        .env("MICRO_REGISTRY_ADDRESS", etcd.address())
        .env_remove("MICRO_SERVER_ADDRESS")
        .env_remove("MICRO_PROXY")
        .env_remove("MICRO_AUTH_TOKEN")
        .env_remove("MICRO_BOT_INPUTS")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Waits for `service` in etcd (the helper runs its own runtime, off this one's threads).
fn wait_for_service(etcd: &Etcd, service: &str) {
    tokio::task::block_in_place(|| etcd.wait_for_service(service));
}

fn spawn(mut cmd: Command) -> Child {
    Child(cmd.spawn().expect("starting a process"))
}

fn bot(etcd: &Etcd, args: &[&str]) -> Command {
    let mut cmd = command(etcd, env!("CARGO_BIN_EXE_micro").into());
    cmd.arg("bot").args(args);
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_socket_mode_answers_direct_messages_and_mentions_and_reconnects() {
    let etcd = Etcd::start();
    let _greeter = spawn(command(&etcd, example("greeter")));
    wait_for_service(&etcd, GREETER);
    let slack = FakeSlack::start().await;
    let mut cmd = bot(
        &etcd,
        &["--inputs", "slack", "--slack_allowed_users", "U1,U3"],
    );
    cmd.env("MICRO_SLACK_TOKEN", slack::BOT_TOKEN)
        .env("MICRO_SLACK_APP_TOKEN", slack::APP_TOKEN)
        .env("MICRO_SLACK_API_URL", slack.api_url());
    let _bot = spawn(cmd);
    slack.wait_for_connections(1).await;

    // A direct message: the CLI's list, in a code block, not in a thread.
    let mut envelopes =
        vec![slack.send_event("Ev1", slack::direct_message("U1", "list services", "1.1"))];
    let listed = slack.wait_for_post(GREETER).await;
    assert_eq!(listed["channel"], "D0DIRECT", "{listed}");
    assert!(listed.get("thread_ts").is_none(), "{listed}");
    let text = listed["text"].as_str().unwrap();
    assert!(
        text.starts_with("```\n") && text.ends_with("\n```"),
        "{text}"
    );

    // A mention typed on a phone: smart quotes; the answer goes in the mention's thread.
    let typed =
        "call go.micro.srv.greeter Greeter.Call {\u{201c}name\u{201d}: \u{201c}John\u{201d}}";
    envelopes.push(slack.send_event("Ev2", slack::mention("U1", "C1", typed, "2.2")));
    let called = slack.wait_for_post("Hello John").await;
    assert_eq!(called["channel"], "C1", "{called}");
    assert_eq!(called["thread_ts"], "2.2", "{called}");
    assert!(
        called["text"]
            .as_str()
            .unwrap()
            .contains("\"msg\": \"Hello John\""),
        "{called}"
    );

    // The bot's own message and another bot's are not answered; a user not allowed is told.
    let mut own = slack::direct_message(slack::BOT_USER, "echo own-message", "3.1");
    own["bot_id"] = "BMICRO".into();
    envelopes.push(slack.send_event("Ev3", own));
    let mut other_bot = slack::direct_message("U9", "echo other-bot", "3.2");
    other_bot["bot_id"] = "BOTHER".into();
    envelopes.push(slack.send_event("Ev4", other_bot));
    envelopes.push(slack.send_event(
        "Ev5",
        slack::direct_message("U2", "echo not-allowed", "3.3"),
    ));
    let refused = slack.wait_for_post("not allowed to use this bot").await;
    assert_eq!(
        refused["text"],
        "sorry, you are not allowed to use this bot"
    );
    envelopes.push(slack.send_event("Ev6", slack::direct_message("U3", "echo after-them", "3.4")));
    slack.wait_for_post("after-them").await;
    assert_eq!(slack.count_posts("own-message"), 0);
    assert_eq!(slack.count_posts("other-bot"), 0);
    assert_eq!(slack.count_posts("echo not-allowed"), 0);

    // A failing call says so.
    envelopes.push(slack.send_event(
        "Ev7",
        slack::direct_message("U1", "call go.micro.srv.nothing Nothing.Call {}", "4.1"),
    ));
    let failed = slack.wait_for_post("error executing cmd").await;
    assert!(
        failed["text"]
            .as_str()
            .unwrap()
            .contains("service not found"),
        "{failed}"
    );
    envelopes.push(slack.send_event(
        "Ev7b",
        slack::direct_message("U1", "call go.micro.srv.greeter", "4.2"),
    ));
    let usage = slack.wait_for_post("required arguments").await;
    assert!(
        usage["text"].as_str().unwrap().contains("&lt;ENDPOINT&gt;"),
        "{usage}"
    );

    // Slack asks for a new connection: the bot opens one and answers there.
    slack.disconnect();
    slack.wait_for_connections(2).await;
    envelopes.push(slack.send_event("Ev8", slack::direct_message("U1", "ping", "5.1")));
    slack.wait_for_post("pong").await;

    // The socket drops: the bot connects again, after a backoff, and answers there.
    slack.drop_socket();
    slack.wait_for_connections(3).await;
    envelopes.push(slack.send_event("Ev9", slack::direct_message("U1", "echo back-again", "6.1")));
    slack.wait_for_post("back-again").await;

    // Every envelope was acknowledged.
    let acks = slack.acks();
    for envelope in &envelopes {
        assert!(
            acks.contains(envelope),
            "{envelope} not acknowledged: {acks:?}"
        );
    }
}

/// `X-Slack-Signature` for `body` at `timestamp`, computed by openssl.
fn sign(secret: &str, timestamp: u64, body: &str) -> String {
    let mut openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl is needed: apt-get install -y openssl (scripts/test installs it)");
    let signed = format!("v0:{timestamp}:{body}");
    openssl
        .stdin
        .take()
        .unwrap()
        .write_all(signed.as_bytes())
        .unwrap();
    let out = openssl.wait_with_output().unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    let hex = out.rsplit(' ').next().unwrap().trim();
    format!("v0={hex}")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// POSTs `body` to the Events API endpoint with `headers`, through curl.
fn deliver(url: &str, body: &str, headers: &[String]) -> (u16, String) {
    let mut args = vec!["-H".to_string(), "Content-Type: application/json".into()];
    for header in headers {
        args.push("-H".into());
        args.push(header.clone());
    }
    args.push("--data-binary".into());
    args.push(body.into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    micro_tests::curl_status(url, &args)
}

fn signed(secret: &str, timestamp: u64, body: &str) -> Vec<String> {
    vec![
        format!("X-Slack-Request-Timestamp: {timestamp}"),
        format!("X-Slack-Signature: {}", sign(secret, timestamp, body)),
    ]
}

fn callback(event_id: &str, event: serde_json::Value) -> String {
    serde_json::json!({"type": "event_callback", "team_id": "T1", "event_id": event_id,
                       "event": event})
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_events_api_checks_every_signature_and_runs_a_retried_event_once() {
    const SECRET: &str = "test-signing-secret-0123456789";
    let etcd = Etcd::start();
    let _greeter = spawn(command(&etcd, example("greeter")));
    wait_for_service(&etcd, GREETER);
    let slack = FakeSlack::start().await;
    let address = format!("127.0.0.1:{}", micro_tests::free_port());
    let mut cmd = bot(&etcd, &["--inputs", "slack-events", "--read_only"]);
    cmd.env("MICRO_SLACK_TOKEN", slack::BOT_TOKEN)
        .env("MICRO_SLACK_SIGNING_SECRET", SECRET)
        .env("MICRO_SLACK_EVENTS_ADDRESS", &address)
        .env("MICRO_SLACK_API_URL", slack.api_url());
    let _bot = spawn(cmd);
    micro_tests::wait_for_listener(&address, Duration::from_secs(20)).await;
    let url = format!("http://{address}/slack/events");

    // The URL check Slack makes when the endpoint is set up.
    let challenge = r#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let (status, body) = deliver(&url, challenge, &signed(SECRET, now(), challenge));
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );

    // Signed: answered.
    let ping = callback("EvPing", slack::direct_message("U1", "ping", "1.1"));
    let (status, _) = deliver(&url, &ping, &signed(SECRET, now(), &ping));
    assert_eq!(status, 200);
    slack.wait_for_post("pong").await;

    // Refused with 401 and not run: a bad signature, an old timestamp, a missing header.
    type Headers = fn(&str) -> Vec<String>;
    let refused: [(&str, Headers, &str); 3] = [
        (
            "echo bad-signature",
            |body| signed("another secret", now(), body),
            "does not match",
        ),
        (
            "echo old-timestamp",
            |body| signed(SECRET, now() - 600, body),
            "5 minutes",
        ),
        (
            "echo no-signature",
            |_| vec![format!("X-Slack-Request-Timestamp: {}", now())],
            "missing X-Slack-Signature",
        ),
    ];
    for (n, (text, headers, reason)) in refused.into_iter().enumerate() {
        let body = callback(
            &format!("EvRefused{n}"),
            slack::direct_message("U1", text, "2.1"),
        );
        let (status, answer) = deliver(&url, &body, &headers(&body));
        assert_eq!(status, 401, "{text}: {answer}");
        assert!(answer.contains(reason), "{text}: {answer}");
    }

    // Slack retries an event it thinks was lost: it runs once.
    let once = callback(
        "EvOnce",
        slack::direct_message("U1", "echo run-once", "3.1"),
    );
    let (status, _) = deliver(&url, &once, &signed(SECRET, now(), &once));
    assert_eq!(status, 200);
    let mut retry = signed(SECRET, now(), &once);
    retry.push("X-Slack-Retry-Num: 1".into());
    retry.push("X-Slack-Retry-Reason: http_timeout".into());
    let (status, _) = deliver(&url, &once, &retry);
    assert_eq!(status, 200);

    // Read-only: `call` is refused, plainly.
    let call = callback(
        "EvCall",
        slack::direct_message("U1", "call go.micro.srv.greeter Greeter.Call {}", "4.1"),
    );
    let (status, _) = deliver(&url, &call, &signed(SECRET, now(), &call));
    assert_eq!(status, 200);
    let refused = slack.wait_for_post("read-only").await;
    assert_eq!(refused["text"], "call is turned off: this bot is read-only");

    let last = callback(
        "EvLast",
        slack::direct_message("U1", "echo the-last", "5.1"),
    );
    let (status, _) = deliver(&url, &last, &signed(SECRET, now(), &last));
    assert_eq!(status, 200);
    slack.wait_for_post("the-last").await;
    assert_eq!(slack.count_posts("run-once"), 1);
    for text in ["bad-signature", "old-timestamp", "no-signature"] {
        assert_eq!(slack.count_posts(text), 0, "{text} was run");
    }
}

/// Alice writes `text`; the bot's newest message to her after it.
async fn ask(tg: &FakeTelegram, chat: i64, text: &str) -> String {
    let before = tg.count_to(chat);
    tg.message(chat, "alice", text);
    micro_tests::eventually(
        &format!("an answer to {text:?}"),
        Duration::from_secs(20),
        || tg.count_to(chat) > before,
    )
    .await;
    let sent = tg.sent();
    let last = sent
        .iter()
        .rev()
        .find(|m| m["chat_id"].as_i64() == Some(chat));
    last.and_then(|m| m["text"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn telegram_answers_the_whitelist_and_commands_come_and_go_with_their_services() {
    const ALICE: i64 = 1001;
    const MALLORY: i64 = 1002;
    let etcd = Etcd::start();
    let dir = std::env::temp_dir().join(format!("micro-tools-bot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The test service checks tokens; the bot calls with its own (MICRO_AUTH_TOKEN).
    let keys = micro_tests::AuthKeys::new(&dir, "auth");
    let mut service = command(&etcd, example("test-service"));
    service
        .env("MICRO_AUTH", "jwt")
        .env("MICRO_AUTH_PUBLIC_KEY", &keys.public);
    let _test_service = spawn(service);
    wait_for_service(&etcd, micro_tests::SERVICE);
    let minted = command(&etcd, env!("CARGO_BIN_EXE_micro").into())
        .args([
            "auth",
            "token",
            "--subject",
            "bot",
            "--expiry",
            "1h",
            "--private_key",
        ])
        .arg(&keys.private)
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(minted.status.success());
    let token = String::from_utf8(minted.stdout).unwrap().trim().to_string();

    let tg = FakeTelegram::start().await;
    let log = dir.join("bot.log");
    let mut cmd = bot(
        &etcd,
        &["--inputs", "telegram", "--telegram_whitelist", "@alice"],
    );
    cmd.env("MICRO_TELEGRAM_TOKEN", telegram::TOKEN)
        .env("MICRO_TELEGRAM_API_URL", tg.api_url())
        .env("MICRO_AUTH_TOKEN", &token)
        .env("RUST_LOG", "debug")
        .stderr(std::fs::File::create(&log).unwrap());
    let _bot = spawn(cmd);

    tg.message(MALLORY, "mallory", "ping");
    tg.message(ALICE, "alice", "/ping");
    assert_eq!(tg.wait_for_reply(ALICE, "pong").await, "pong");

    // A command service: in help, runs with the words typed, its error reported.
    let mut shout = spawn(command(&etcd, example("bot-command")));
    wait_for_service(&etcd, "go.micro.bot.shout");
    let mut listed = false;
    for _ in 0..100 {
        if ask(&tg, ALICE, "help")
            .await
            .contains("shout [text] - Says the [text] loudly")
        {
            listed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(listed, "shout never appeared in help");
    assert_eq!(ask(&tg, ALICE, "shout hello there").await, "HELLO THERE!");
    assert_eq!(
        ask(&tg, ALICE, "Shout").await,
        "error executing cmd: shout what?"
    );

    // A command that takes long: "on it", then the answer.
    tg.message(
        ALICE,
        "alice",
        "call go.micro.test Test.Sleep {\"millis\": 3000}",
    );
    tg.wait_for_reply(ALICE, "on it: `call go.micro.test Test.Sleep")
        .await;
    tg.wait_for_reply(ALICE, "\"had_deadline\": true").await;

    // The service stops: the command goes with it.
    shout.terminate();
    shout.wait_for_exit(Duration::from_secs(20));
    let mut gone = false;
    for _ in 0..100 {
        if !ask(&tg, ALICE, "help").await.contains("shout") {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(gone, "shout is still in help after its service stopped");
    assert_eq!(
        ask(&tg, ALICE, "shout again").await,
        "unknown command \"shout\": type help for the commands"
    );

    // Mallory, not on the whitelist, was never answered.
    assert_eq!(tg.count_to(MALLORY), 0);

    // Neither the Telegram token nor the auth token is in the bot's debug log.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("telegram: signed in"), "{logged}");
    let signature = token.rsplit('.').next().unwrap();
    assert!(!logged.contains(telegram::TOKEN) && !logged.contains("test-telegram-token"));
    assert!(!logged.contains(signature), "the auth token was logged");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn settings_it_cannot_run_with_are_clear_errors() {
    let etcd = Etcd::start();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = bot(&etcd, args);
        cmd.stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&[], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("no input given") && err.contains("slack, slack-events, telegram"),
        "{err}"
    );
    let (code, err) = run(&["--inputs", "slack,irc"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("unknown input \"irc\""), "{err}");
    let (code, err) = run(&["--inputs", "slack"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("the slack input needs --slack_token (MICRO_SLACK_TOKEN)"),
        "{err}"
    );
    let (code, err) = run(
        &["--inputs", "telegram"],
        &[
            ("MICRO_TELEGRAM_TOKEN", "1:x"),
            ("MICRO_TELEGRAM_API_URL", "http://127.0.0.1:9"),
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("telegram needs --telegram_whitelist"), "{err}");
    let (code, err) = run(
        &["--inputs", "slack"],
        &[
            ("MICRO_SLACK_TOKEN", "xapp-swapped"),
            ("MICRO_SLACK_APP_TOKEN", "xoxb-swapped"),
            ("MICRO_SLACK_API_URL", "http://127.0.0.1:9"),
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("must start with xoxb-"), "{err}");
}
