//! What a handler's failure becomes on the wire: its own error, a panic, the caller's deadline
//! passing, or the server's drain running out. Unary calls, the start of a stream and each reply
//! of a stream all end this way.

use crate::Error;
use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::Status;

/// Runs a handler's future until `deadline` or until `cut` (the server stopping), catching a
/// panic. `stage` says what was cut short ("finish", "start") in the error.
pub(super) async fn guarded<T>(
    service: &str,
    name: &str,
    deadline: Option<Instant>,
    cut: &CancellationToken,
    stage: &str,
    handler: impl Future<Output = crate::Result<T>>,
) -> Result<T, Status> {
    let handler = AssertUnwindSafe(handler).catch_unwind();
    let deadline = async {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
            None => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        outcome = handler => outcome,
        _ = deadline => {
            let detail = format!("{name} did not {stage} before the caller's deadline");
            return Err(Error::timeout(service, detail).to_status());
        }
        _ = cut.cancelled() => return Err(stopping(service, name).to_status()),
    };
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(handler_error(service, err)),
        Err(panic) => Err(panicked(service, name, &*panic)),
    }
}

/// What a call still running when the server's drain ran out ends with.
pub(super) fn stopping(service: &str, name: &str) -> Error {
    Error::unavailable(
        service,
        format!("{service} is stopping: {name} was still running when its drain timeout ran out"),
    )
}

/// A handler's own error, answered as the service's unless it names another.
pub(super) fn handler_error(service: &str, mut err: Error) -> Status {
    if err.id.is_empty() {
        err.id = service.to_string();
    }
    err.to_status()
}

/// A handler's panic: logged, and answered as Internal with the panic's message.
pub(super) fn panicked(service: &str, name: &str, panic: &(dyn std::any::Any + Send)) -> Status {
    let what = if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    };
    tracing::error!(endpoint = %name, panic = %what, "handler panicked");
    Error::internal_server_error(service, format!("{name} panicked: {what}")).to_status()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tonic::Code;

    #[tokio::test]
    async fn errors_panics_deadlines_and_the_cut_each_get_their_status() {
        let never = CancellationToken::new();
        let ok = guarded("svc", "Svc.Call", None, &never, "finish", async { Ok(7) }).await;
        assert_eq!(ok.unwrap(), 7);

        let failed = guarded::<()>("svc", "Svc.Call", None, &never, "finish", async {
            Err(Error::bad_request("", "no"))
        })
        .await
        .unwrap_err();
        let err = Error::from_status("x", &failed);
        assert_eq!((err.id.as_str(), err.code), ("svc", 400));

        let panicked = guarded::<()>("svc", "Svc.Call", None, &never, "finish", async {
            panic!("boom");
        })
        .await
        .unwrap_err();
        assert_eq!(panicked.code(), Code::Internal);
        assert_eq!(
            Error::from_status("x", &panicked).detail,
            "Svc.Call panicked: boom"
        );

        let deadline = Some(Instant::now() + Duration::from_millis(20));
        let late = guarded::<()>("svc", "Svc.Call", deadline, &never, "start", async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        })
        .await
        .unwrap_err();
        let err = Error::from_status("x", &late);
        assert!(err.is_timeout());
        assert_eq!(
            err.detail,
            "Svc.Call did not start before the caller's deadline"
        );

        let cut = CancellationToken::new();
        let running = guarded::<()>("svc", "Svc.Call", None, &cut, "finish", async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        });
        cut.cancel();
        let err = Error::from_status("x", &running.await.unwrap_err());
        assert_eq!(err.code, 503);
        assert_eq!(
            err.detail,
            "svc is stopping: Svc.Call was still running when its drain timeout ran out"
        );
    }
}
