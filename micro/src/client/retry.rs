//! Which failures are worth another attempt.

use super::CallError;

/// Retry on connection errors, and on 408, 500 and 503 (go-micro's `RetryOnError`).
pub fn should_retry(err: &CallError) -> bool {
    match err {
        CallError::Connect(_) | CallError::DeadlineExceeded => true,
        CallError::Call(e) => e.is_retryable(),
    }
}
