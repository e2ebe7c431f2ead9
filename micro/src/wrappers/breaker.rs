//! A circuit breaker for the client, per node and endpoint (go-plugins' `wrapper/breaker`).
//!
//! Closed, calls pass. After `failures` failures in a row, it opens: calls to that node's
//! endpoint fail at once with 503 naming the open circuit, and the call's retry goes to the node
//! the selector picks next. After the cool-down it is half-open: one call goes through; if it
//! succeeds the circuit closes, if not it opens again. Each transition is logged, and shown as
//! the gauge `micro_circuit_state{node, service, endpoint}` (0 closed, 1 half-open, 2 open) when
//! the `metrics` feature is on.

use crate::client::{Answer, Attempt, Kind, CLIENT_ID};
use crate::layer::Stack;
use crate::Error;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The state of one circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Calls pass; this many have failed in a row.
    Closed(u32),
    /// Calls fail at once until this instant.
    Open(Instant),
    /// One call is on its way to see whether the node recovered.
    HalfOpen,
}

/// Which circuit: node address, service, endpoint.
type Key = (String, String, String);

#[derive(Debug, Default)]
struct Circuits {
    states: Mutex<HashMap<Key, State>>,
}

/// Opens a circuit per node and endpoint after `failures` failures in a row, for `cool_down`.
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer {
    failures: u32,
    cool_down: Duration,
    circuits: Arc<Circuits>,
}

impl CircuitBreakerLayer {
    /// Opens after `failures` failures in a row (at least 1), half-opens after `cool_down`.
    pub fn new(failures: u32, cool_down: Duration) -> Self {
        CircuitBreakerLayer {
            failures: failures.max(1),
            cool_down,
            circuits: Arc::default(),
        }
    }

    /// The state of the circuit of `endpoint` of `service` at `node` (an address); closed if
    /// it has seen no call.
    pub fn state(&self, node: &str, service: &str, endpoint: &str) -> State {
        let key = (node.to_string(), service.to_string(), endpoint.to_string());
        let states = self
            .circuits
            .states
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        states.get(&key).copied().unwrap_or(State::Closed(0))
    }
}

impl tower::Layer<Stack<Attempt, Answer>> for CircuitBreakerLayer {
    type Service = CircuitBreaker;

    fn layer(&self, inner: Stack<Attempt, Answer>) -> CircuitBreaker {
        CircuitBreaker {
            layer: self.clone(),
            inner,
        }
    }
}

/// The service of a [`CircuitBreakerLayer`].
#[derive(Clone)]
pub struct CircuitBreaker {
    layer: CircuitBreakerLayer,
    inner: Stack<Attempt, Answer>,
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

/// Failures that say the node is in trouble: it could not be reached, ran out of time, or
/// failed on its side. A caller's mistake (4xx) does not count.
fn counts_as_failure(err: &Error) -> bool {
    err.code >= 500 || err.code == 408
}

impl tower::Service<Attempt> for CircuitBreaker {
    type Response = Answer;
    type Error = Error;
    type Future = futures::future::BoxFuture<'static, crate::Result<Answer>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<crate::Result<()>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, attempt: Attempt) -> Self::Future {
        let node = match (attempt.kind(), attempt.node()) {
            (Kind::Publish, _) | (_, None) => return self.inner.call(attempt),
            (_, Some(node)) => node.address.clone(),
        };
        let key = (
            node,
            attempt.service().to_string(),
            attempt.endpoint().to_string(),
        );
        let layer = self.layer.clone();
        if let Err(open) = layer.admit(&key) {
            return Box::pin(futures::future::ready(Err(open)));
        }
        let call = self.inner.call(attempt);
        Box::pin(async move {
            let result = call.await;
            let failed = result.as_ref().err().is_some_and(counts_as_failure);
            layer.record(&key, failed);
            result
        })
    }
}

impl CircuitBreakerLayer {
    /// Runs `f` on the circuit of `key` (closed if new), under the lock.
    fn with_state<T>(&self, key: &Key, f: impl FnOnce(&mut State) -> T) -> T {
        let mut states = self
            .circuits
            .states
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        f(states.entry(key.clone()).or_insert(State::Closed(0)))
    }

    /// Lets a call through, or refuses it while the circuit is open.
    fn admit(&self, key: &Key) -> crate::Result<()> {
        let (node, service, endpoint) = key;
        self.with_state(key, |state| match *state {
            State::Closed(_) => Ok(()),
            State::Open(until) if Instant::now() >= until => {
                *state = State::HalfOpen;
                tracing::info!(%node, %service, %endpoint, "circuit half-open: one call goes through");
                show(key, *state);
                Ok(())
            }
            State::Open(until) => Err(Error::unavailable(
                CLIENT_ID,
                format!(
                    "the circuit of {service}.{endpoint} at {node} is open after {} failures in a row; it half-opens in {:?}",
                    self.failures,
                    until.saturating_duration_since(Instant::now())
                ),
            )),
            State::HalfOpen => Err(Error::unavailable(
                CLIENT_ID,
                format!(
                    "the circuit of {service}.{endpoint} at {node} is half-open: one call is already testing it"
                ),
            )),
        })
    }

    /// Counts the call's outcome.
    fn record(&self, key: &Key, failed: bool) {
        let (node, service, endpoint) = key;
        let open = State::Open(Instant::now() + self.cool_down);
        self.with_state(key, |state| {
            let next = match (*state, failed) {
                (State::HalfOpen, false) => {
                    tracing::info!(%node, %service, %endpoint, "circuit closed: the node answers again");
                    State::Closed(0)
                }
                (_, false) => State::Closed(0),
                (State::Closed(n), true) if n + 1 >= self.failures => {
                    tracing::warn!(%node, %service, %endpoint, failures = n + 1, cool_down = ?self.cool_down, "circuit open");
                    open
                }
                (State::Closed(n), true) => State::Closed(n + 1),
                (State::HalfOpen, true) => {
                    tracing::warn!(%node, %service, %endpoint, cool_down = ?self.cool_down, "circuit open again: the test call failed");
                    open
                }
                // A call admitted before the circuit opened, ending after: it stays open.
                (State::Open(until), true) => State::Open(until),
            };
            if std::mem::discriminant(state) != std::mem::discriminant(&next) {
                show(key, next);
            }
            *state = next;
        })
    }
}

/// Shows a circuit's new state as the `micro_circuit_state` metric (when metrics are built in).
fn show(key: &Key, state: State) {
    #[cfg(feature = "metrics")]
    {
        let (node, service, endpoint) = key;
        let value = match state {
            State::Closed(_) => 0,
            State::HalfOpen => 1,
            State::Open(_) => 2,
        };
        super::metrics::circuit_state(node, service, endpoint, value);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (key, state);
}
