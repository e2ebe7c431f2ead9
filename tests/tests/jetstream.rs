//! Durable events on a real nats-server with JetStream: nothing published is lost when the
//! subscriber is killed mid-stream or the server restarts; a failing handler gets the message
//! again, and after five deliveries it goes to the dead-letter topic. Figures are printed.

use micro::broker::jetstream::{dead_letter_topic, ERROR_HEADER, MAX_DELIVERIES};
use micro::broker::{Broker, Event, JetStreamBroker, Message, MessageHandler, SubscribeOptions};
use micro::Client;
use micro_tests::proto::EchoRequest;
use micro_tests::{Child, Nats, EVENTS};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn subscriber_process(nats: &Nats, events: &std::path::Path) -> Child {
    Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_test-service"))
            .env("MICRO_REGISTRY", "memory")
            .env("MICRO_BROKER", "jetstream")
            .env("MICRO_BROKER_ADDRESS", nats.address())
            .env("MICRO_TEST_EVENTS_FILE", events)
            .env("MICRO_TEST_EVENTS_QUEUE", "recorders")
            .env("MICRO_SERVER_ADDRESS", "127.0.0.1:0")
            .spawn()
            .expect("starting test-service"),
    )
}

/// The numbers recorded in `events`, and how many times one was recorded in all.
fn recorded(events: &std::path::Path) -> (BTreeSet<u32>, usize) {
    let text = std::fs::read_to_string(events).unwrap_or_default();
    let numbers: Vec<u32> = text.lines().filter_map(|l| l.parse().ok()).collect();
    let handled = numbers.len();
    (numbers.into_iter().collect(), handled)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_killed_mid_stream_loses_nothing_of_ten_thousand() {
    const COUNT: u32 = 10_000;
    let nats = Nats::start_jetstream();
    let events = std::env::temp_dir().join(format!("micro-js-events-{}", micro_tests::free_port()));
    let _ = std::fs::remove_file(&events);
    let mut subscriber = subscriber_process(&nats, &events);

    let broker: Arc<dyn Broker> = Arc::new(JetStreamBroker::new(&nats.address()));
    let client = Client::builder().broker(Arc::clone(&broker)).build();
    // The subscriber's durable consumer exists before the first publish.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        client
            .publish(
                EVENTS,
                &EchoRequest {
                    message: "ready".into(),
                    ..Default::default()
                },
            )
            .await
            .expect("publishing");
        tokio::time::sleep(Duration::from_millis(200)).await;
        if std::fs::read_to_string(&events).is_ok_and(|t| t.contains("ready")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the subscriber never received anything"
        );
    }

    let publisher = {
        let client = client.clone();
        tokio::spawn(async move {
            for i in 0..COUNT {
                let msg = EchoRequest {
                    message: i.to_string(),
                    ..Default::default()
                };
                client
                    .publish(EVENTS, &msg)
                    .await
                    .expect("a stored publish");
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while recorded(&events).1 < 2_000 {
        assert!(Instant::now() < deadline, "the subscriber is too slow");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    subscriber.0.kill().unwrap();
    let _ = subscriber.0.wait();
    let at_kill = recorded(&events).0.len();
    publisher.await.unwrap();

    let _restarted = subscriber_process(&nats, &events);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (numbers, _) = recorded(&events);
        if numbers.len() == COUNT as usize {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {COUNT} handled after the restart",
            numbers.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (numbers, handled) = recorded(&events);
    println!(
        "SIGKILL after {at_kill} of {COUNT}, restarted: {} of {COUNT} handled, {} handled twice, none lost",
        numbers.len(),
        handled - numbers.len()
    );
    assert_eq!(numbers, (0..COUNT).collect::<BTreeSet<u32>>());
    let _ = std::fs::remove_file(&events);
}

type Seen = Arc<Mutex<Vec<String>>>;

fn recorder(seen: &Seen) -> MessageHandler {
    let seen = Arc::clone(seen);
    Arc::new(move |event: Event| {
        let seen = Arc::clone(&seen);
        Box::pin(async move {
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&event.message.body).into_owned());
            Ok(())
        })
    })
}

fn message(text: &str) -> Message {
    Message {
        header: Default::default(),
        body: text.as_bytes().to_vec().into(),
    }
}

#[tokio::test]
async fn published_while_the_server_restarts_is_delivered_after() {
    let mut nats = Nats::start_jetstream();
    let topic = "go.micro.test.durable";
    let broker = JetStreamBroker::new(&nats.address());
    let seen: Seen = Arc::default();
    let _sub = broker
        .subscribe(
            topic,
            recorder(&seen),
            SubscribeOptions::default().queue("q"),
        )
        .await
        .unwrap();

    let mut stored = Vec::new();
    let mut failed_publishes = 0;
    for i in 0..200 {
        if i == 50 {
            nats.restart();
        }
        // A publish that fails said so; one that returned Ok must arrive.
        let text = format!("m{i}");
        match tokio::time::timeout(
            Duration::from_secs(10),
            broker.publish(topic, message(&text)),
        )
        .await
        {
            Ok(Ok(())) => stored.push(text),
            _ => failed_publishes += 1,
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: BTreeSet<String> = seen.lock().unwrap().iter().cloned().collect();
        if stored.iter().all(|m| got.contains(m)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} stored messages delivered",
            stored.iter().filter(|m| got.contains(*m)).count(),
            stored.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "server restarted during 200 publishes: {} stored, {failed_publishes} refused while it was down, every stored one delivered",
        stored.len()
    );
    assert!(stored.len() >= 150, "{} stored", stored.len());
}

#[tokio::test]
async fn a_failing_handler_gets_the_message_again_then_it_goes_to_the_dead_letters() {
    let nats = Nats::start_jetstream();
    let topic = "go.micro.test.poison";
    let broker = JetStreamBroker::new(&nats.address()).redelivery_delay(Duration::from_millis(50));
    let deliveries: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let handler: MessageHandler = {
        let deliveries = Arc::clone(&deliveries);
        Arc::new(move |event: Event| {
            let deliveries = Arc::clone(&deliveries);
            Box::pin(async move {
                let text = String::from_utf8_lossy(&event.message.body).into_owned();
                let n = {
                    let mut d = deliveries.lock().unwrap();
                    let n = d.entry(text.clone()).or_default();
                    *n += 1;
                    *n
                };
                match text.as_str() {
                    "flaky" if n == 1 => Err(micro::Error::unavailable("t", "not yet")),
                    "poison" => Err(micro::Error::bad_request("t", "cannot handle poison")),
                    _ => Ok(()),
                }
            })
        })
    };
    let opts = SubscribeOptions {
        queue: Some("workers".into()),
        auto_ack: false,
    };
    let _sub = broker.subscribe(topic, handler, opts).await.unwrap();
    let dead: Seen = Arc::default();
    let dead_headers: Arc<Mutex<Vec<Message>>> = Arc::default();
    let dead_handler: MessageHandler = {
        let (dead, headers) = (Arc::clone(&dead), Arc::clone(&dead_headers));
        Arc::new(move |event: Event| {
            let (dead, headers) = (Arc::clone(&dead), Arc::clone(&headers));
            Box::pin(async move {
                dead.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&event.message.body).into_owned());
                headers.lock().unwrap().push(event.message);
                Ok(())
            })
        })
    };
    let _dead_sub = broker
        .subscribe(
            &dead_letter_topic(topic),
            dead_handler,
            SubscribeOptions::default().queue("inspectors"),
        )
        .await
        .unwrap();

    for text in ["fine", "flaky", "poison"] {
        broker.publish(topic, message(text)).await.unwrap();
    }
    micro_tests::eventually(
        "poison reaches the dead letters",
        Duration::from_secs(30),
        || !dead.lock().unwrap().is_empty(),
    )
    .await;
    let deliveries = deliveries.lock().unwrap().clone();
    println!(
        "deliveries: {deliveries:?}; dead letters: {:?}",
        dead.lock().unwrap()
    );
    assert_eq!(deliveries["fine"], 1);
    assert_eq!(deliveries["flaky"], 2, "handled on its second delivery");
    assert_eq!(deliveries["poison"], MAX_DELIVERIES as u32);
    assert_eq!(*dead.lock().unwrap(), vec!["poison".to_string()]);
    let letter = dead_headers.lock().unwrap()[0].clone();
    let error = letter
        .header(ERROR_HEADER)
        .expect("the error travels with it");
    assert!(error.contains("cannot handle poison"), "{error}");
}
