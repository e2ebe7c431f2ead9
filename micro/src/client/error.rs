//! Why an attempt failed, and the error a caller sees: a status from the transport means the
//! node could not be reached, one from the node is its answer.

use super::CLIENT_ID;
use crate::registry::Node;
use crate::selector::Outcome;
use crate::Error;
use std::time::Duration;

/// Why one attempt failed: the node could not be reached, or it answered with an error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// No connection to the node (refused, reset, unreachable).
    #[error("{0}")]
    Connect(Error),
    /// The call reached the node and failed there, or ran out of time.
    #[error("{0}")]
    Call(Error),
}

impl CallError {
    /// What the selector learns of the node from this failure.
    pub fn outcome(&self) -> Outcome {
        match self {
            CallError::Connect(_) => Outcome::Unreachable,
            CallError::Call(_) => Outcome::Failed,
        }
    }

    /// The error the caller sees.
    pub fn into_error(self) -> Error {
        match self {
            CallError::Connect(e) | CallError::Call(e) => e,
        }
    }
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
            return CallError::Call(Error::timeout(CLIENT_ID, "deadline exceeded"));
        }
        source = e.source();
    }
    let unreachable = matches!(
        status.code(),
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
    );
    if from_transport && unreachable {
        CallError::Connect(Error::unavailable(CLIENT_ID, status.message()))
    } else {
        CallError::Call(Error::from_status(CLIENT_ID, status))
    }
}

/// Names the call in errors the client made itself, so they say what failed where.
pub(super) fn describe(
    err: CallError,
    service: &str,
    endpoint: &str,
    node: &Node,
    timeout: Duration,
) -> CallError {
    let reword = |e: Error, detail: String| Error { detail, ..e };
    match err {
        CallError::Connect(e) => {
            let detail = format!("connecting to {service} at {}: {}", node.address, e.detail);
            CallError::Connect(reword(e, detail))
        }
        CallError::Call(e) if e.is_from_client() && e.is_timeout() => {
            let detail = format!("call to {service}.{endpoint} timed out after {timeout:?}");
            CallError::Call(reword(e, detail))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tonic_timeouts_are_timeouts_not_connection_errors() {
        let status = tonic::Status::from_error(Box::new(tonic::TimeoutExpired(())));
        assert!(matches!(classify(&status), CallError::Call(e) if e.code == 408));
        let wrapped =
            tonic::Status::from_error(Box::new(std::io::Error::other(tonic::TimeoutExpired(()))));
        assert!(
            matches!(classify(&wrapped), CallError::Call(e) if e.code == 408),
            "{wrapped:?}"
        );
    }

    #[test]
    fn a_status_from_a_server_is_not_a_connection_error() {
        let status = Error::unavailable("svc", "busy").to_status();
        assert!(matches!(classify(&status), CallError::Call(e) if e.code == 503 && e.id == "svc"));
    }
}
