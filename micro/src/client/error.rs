//! Why an attempt failed, and the error a caller sees: a status from the transport means the
//! node could not be reached, one from the node is its answer.

use super::CLIENT_ID;
use crate::selector::Outcome;
use crate::Error;
use std::time::Duration;

/// Why one attempt failed: the node could not be reached, the deadline passed, or the node
/// answered with an error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// No connection to the node (refused, reset, unreachable); the transport's words.
    #[error("{0}")]
    Connect(String),
    /// The call's deadline passed before the node answered.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// The call reached the node and failed there.
    #[error("{0}")]
    Call(Error),
}

/// The call an attempt belonged to, named in the errors the client makes itself.
pub(super) struct Attempted<'a> {
    pub(super) service: &'a str,
    pub(super) endpoint: &'a str,
    pub(super) node: &'a str,
    pub(super) timeout: Duration,
}

impl CallError {
    /// What the selector learns of a node of `service` from this failure: a node that could
    /// not be reached or said itself that it is unavailable, or that did not answer within
    /// `timeout` (when that was long enough to say something about the node).
    pub fn outcome(&self, service: &str, timeout: Duration) -> Outcome {
        match self {
            CallError::Connect(_) => Outcome::Unreachable,
            CallError::DeadlineExceeded => Outcome::timed_out_after(timeout),
            CallError::Call(e) if e.code == 503 && e.id == service => Outcome::Unreachable,
            CallError::Call(_) => Outcome::Failed,
        }
    }

    /// The error the caller sees: the node's own, or one the client writes once, naming the
    /// call.
    pub(super) fn into_error(self, call: &Attempted<'_>) -> Error {
        match self {
            CallError::Connect(detail) => Error::unavailable(
                CLIENT_ID,
                format!("connecting to {} at {}: {detail}", call.service, call.node),
            ),
            CallError::DeadlineExceeded => Error::timeout(
                CLIENT_ID,
                format!(
                    "call to {}.{} timed out after {:?}",
                    call.service, call.endpoint, call.timeout
                ),
            ),
            CallError::Call(e) => e,
        }
    }
}

/// The transport's message and each cause under it (a TLS failure is three levels down: "tcp
/// connect error" alone would hide "invalid peer certificate: UnknownIssuer").
fn transport_detail(status: &tonic::Status) -> String {
    use std::error::Error as _;
    let mut detail = status.message().to_string();
    let mut source = status.source();
    while let Some(e) = source {
        let said = e.to_string();
        if !said.is_empty() && !detail.contains(&said) {
            detail.push_str(": ");
            detail.push_str(&said);
        }
        source = e.source();
    }
    // rustls' words for a peer that answered a handshake with something else.
    if detail.contains("InvalidContentType") {
        detail.push_str(" (the node does not speak TLS)");
    }
    detail
}

/// A status made by the transport (it has an error source; a server's has none) means the node
/// could not be reached, unless it is tonic's own deadline firing; anything else came from the
/// node.
pub(super) fn classify(status: &tonic::Status) -> CallError {
    use std::error::Error as _;
    let mut source = status.source();
    let from_transport = source.is_some();
    while let Some(e) = source {
        // io::Error hides a custom error from source(): look inside it too.
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        if e.is::<tonic::TimeoutExpired>() || inner.is_some_and(|i| i.is::<tonic::TimeoutExpired>())
        {
            return CallError::DeadlineExceeded;
        }
        source = e.source();
    }
    let unreachable = matches!(
        status.code(),
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
    );
    if from_transport && unreachable {
        CallError::Connect(transport_detail(status))
    } else {
        CallError::Call(Error::from_status(CLIENT_ID, status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tonic_timeouts_are_timeouts_not_connection_errors() {
        let status = tonic::Status::from_error(Box::new(tonic::TimeoutExpired(())));
        assert!(matches!(classify(&status), CallError::DeadlineExceeded));
        let wrapped =
            tonic::Status::from_error(Box::new(std::io::Error::other(tonic::TimeoutExpired(()))));
        assert!(
            matches!(classify(&wrapped), CallError::DeadlineExceeded),
            "{wrapped:?}"
        );
    }

    #[test]
    fn the_final_error_names_the_call() {
        let call = Attempted {
            service: "greeter",
            endpoint: "Say.Hello",
            node: "127.0.0.1:1",
            timeout: Duration::from_secs(2),
        };
        let timeout = CallError::DeadlineExceeded.into_error(&call);
        assert!(timeout.is_timeout() && timeout.is_from_client());
        assert_eq!(
            timeout.detail,
            "call to greeter.Say.Hello timed out after 2s"
        );
        let refused = CallError::Connect("connection refused".into()).into_error(&call);
        assert_eq!(refused.code, 503);
        assert_eq!(
            refused.detail,
            "connecting to greeter at 127.0.0.1:1: connection refused"
        );
    }

    #[test]
    fn a_status_from_a_server_is_not_a_connection_error() {
        let status = Error::unavailable("svc", "busy").to_status();
        assert!(matches!(classify(&status), CallError::Call(e) if e.code == 503 && e.id == "svc"));
    }
}
