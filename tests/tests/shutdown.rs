//! Graceful shutdown: deregister first, then stop accepting, then drain calls in flight.

use micro::registry::{
    MemoryRegistry, RegisterOptions, Registry, RegistryError, Service, WatchOptions, Watcher,
};
use micro::{CallOptions, Client};
use micro_tests::proto::{SleepRequest, SleepResponse};
use micro_tests::{start, Child, TestHandler, SERVICE};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A memory registry that, when asked to deregister, notes whether the server still accepts
/// connections at that moment.
#[derive(Debug, Default)]
struct Probe {
    inner: MemoryRegistry,
    address: Mutex<Option<SocketAddr>>,
    listening_at_deregister: Mutex<Option<bool>>,
}

#[micro::async_trait]
impl Registry for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    async fn register(&self, s: &Service, o: RegisterOptions) -> Result<(), RegistryError> {
        self.inner.register(s, o).await
    }
    async fn deregister(&self, s: &Service) -> Result<(), RegistryError> {
        let address = self.address.lock().unwrap().expect("address set");
        let listening = std::net::TcpStream::connect(address).is_ok();
        *self.listening_at_deregister.lock().unwrap() = Some(listening);
        self.inner.deregister(s).await
    }
    async fn get_service(&self, n: &str) -> Result<Arc<Vec<Service>>, RegistryError> {
        self.inner.get_service(n).await
    }
    async fn list_services(&self) -> Result<Vec<Service>, RegistryError> {
        self.inner.list_services().await
    }
    async fn watch(&self, o: WatchOptions) -> Result<Watcher, RegistryError> {
        self.inner.watch(o).await
    }
}

#[tokio::test]
async fn stop_deregisters_before_closing_and_drains_calls_in_flight() {
    let probe = Arc::new(Probe::default());
    let svc = start(probe.clone(), TestHandler::default()).await;
    let address = svc.local_addr();
    *probe.address.lock().unwrap() = Some(address);
    let client = Client::new(probe.clone());

    let calls: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .call::<_, SleepResponse>(
                        SERVICE,
                        "Test.Sleep",
                        &SleepRequest { millis: 500 },
                        CallOptions::default(),
                    )
                    .await
            })
        })
        .collect();
    // Let the calls reach the handler.
    tokio::time::sleep(Duration::from_millis(150)).await;
    svc.stop().await.unwrap();

    for call in calls {
        call.await
            .unwrap()
            .expect("a call in flight at shutdown completes");
    }
    assert_eq!(
        *probe.listening_at_deregister.lock().unwrap(),
        Some(true),
        "deregistered while still listening"
    );
    assert!(
        probe.get_service(SERVICE).await.is_err(),
        "the node left the registry"
    );
    assert!(
        std::net::TcpStream::connect(address).is_err(),
        "the listener is closed after stop"
    );
}

// Multi-threaded: the test blocks a thread waiting for the child while the client's
// connection must keep answering the server's shutdown PING.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_calls_in_flight_and_exits_zero() {
    let port = micro_tests::free_port();
    let address = format!("127.0.0.1:{port}");
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_test-service"))
            .env("MICRO_SERVER_ADDRESS", &address)
            .env("MICRO_REGISTRY", "memory")
            .spawn()
            .expect("starting test-service"),
    );
    micro_tests::wait_for_listener(&address, Duration::from_secs(20)).await;

    let client = Client::new(Arc::new(MemoryRegistry::new()));
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            let opts = CallOptions::default().address(address.clone());
            tokio::spawn(async move {
                client
                    .call::<_, SleepResponse>(
                        SERVICE,
                        "Test.Sleep",
                        &SleepRequest { millis: 700 },
                        opts,
                    )
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.terminate();
    for call in calls {
        call.await
            .unwrap()
            .expect("a call in flight at SIGTERM completes");
    }
    let status = child.wait_for_exit(Duration::from_secs(20));
    assert!(status.success(), "exit status {status:?}");
    assert!(std::net::TcpStream::connect(&address).is_err());
}
