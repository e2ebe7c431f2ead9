//! How long to wait before each attempt.

use std::time::Duration;

/// Time to wait before attempt `attempt` (0 for the first), go-micro's curve:
/// `attempt^e × 100 ms`, so 0, 100 ms, ~660 ms, ~2 s, ...
pub type Backoff = fn(attempt: u32) -> Duration;

/// go-micro's default exponential backoff.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(micro::client::exponential_backoff(0), Duration::ZERO);
/// assert_eq!(micro::client::exponential_backoff(1), Duration::from_millis(100));
/// ```
pub fn exponential_backoff(attempt: u32) -> Duration {
    if attempt == 0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(f64::from(attempt).powf(std::f64::consts::E) * 0.1)
}

/// No wait between attempts.
pub fn no_backoff(_attempt: u32) -> Duration {
    Duration::ZERO
}
