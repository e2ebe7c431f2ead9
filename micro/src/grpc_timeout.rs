//! The `grpc-timeout` header, both ways: the client writes a call's deadline into it, the
//! server reads the caller's deadline out of it.

use std::time::Duration;

/// The header's name.
pub const HEADER: &str = "grpc-timeout";

/// A deadline as `grpc-timeout`, in whole milliseconds (at least one). tonic would send
/// microseconds, a value new on every call that HPACK must send as a literal; the few
/// millisecond values a client sends repeat, and go as one indexed byte.
pub fn encode(timeout: Duration) -> tonic::metadata::AsciiMetadataValue {
    // Eight digits at most, as the spec allows: 99,999,999 ms is over a day. Written by hand
    // into one buffer: this runs on every call.
    let mut ms = timeout.as_millis().clamp(1, 99_999_999) as u32;
    let mut text = Vec::with_capacity(9);
    while ms > 0 {
        text.push(b'0' + (ms % 10) as u8);
        ms /= 10;
    }
    text.reverse();
    text.push(b'm');
    tonic::metadata::AsciiMetadataValue::try_from(bytes::Bytes::from(text))
        .unwrap_or_else(|_| tonic::metadata::AsciiMetadataValue::from_static("1m"))
}

/// The caller's deadline from `headers`: up to 8 digits and a unit (H, M, S, m, u, n); `None`
/// without the header. `Err` holds a value that is not one.
pub fn decode(headers: &http::HeaderMap) -> Result<Option<Duration>, String> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    let raw = value.to_str().map_err(|_| format!("{value:?}"))?;
    let invalid = || raw.to_string();
    if raw.len() < 2 || raw.len() > 9 {
        return Err(invalid());
    }
    let (digits, unit) = raw.split_at(raw.len() - 1);
    let n: u64 = digits.parse().map_err(|_| invalid())?;
    let d = match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return Err(invalid()),
    };
    Ok(Some(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(v: &str) -> Result<Option<Duration>, String> {
        let mut h = http::HeaderMap::new();
        h.insert(HEADER, v.parse().unwrap());
        decode(&h)
    }

    #[test]
    fn encodes_whole_milliseconds() {
        let value = |d| encode(d).to_str().unwrap().to_string();
        assert_eq!(value(Duration::from_millis(4_999)), "4999m");
        assert_eq!(value(Duration::from_micros(1_500)), "1m");
        assert_eq!(value(Duration::from_micros(10)), "1m", "never zero");
        assert_eq!(value(Duration::from_secs(5)), "5000m");
        assert_eq!(
            value(Duration::from_secs(10_000_000)),
            "99999999m",
            "eight digits"
        );
    }

    #[test]
    fn decodes_every_unit_and_refuses_the_rest() {
        assert_eq!(decoded("250m"), Ok(Some(Duration::from_millis(250))));
        assert_eq!(decoded("2S"), Ok(Some(Duration::from_secs(2))));
        assert_eq!(decoded("1H"), Ok(Some(Duration::from_secs(3600))));
        assert_eq!(decoded("3M"), Ok(Some(Duration::from_secs(180))));
        assert_eq!(decoded("7u"), Ok(Some(Duration::from_micros(7))));
        assert_eq!(decoded("9n"), Ok(Some(Duration::from_nanos(9))));
        assert!(decoded("5x").is_err());
        assert!(decoded("m").is_err());
        assert!(decoded("123456789m").is_err(), "nine digits");
        assert_eq!(decode(&http::HeaderMap::new()), Ok(None));
    }

    #[test]
    fn what_the_client_writes_the_server_reads() {
        for ms in [1, 250, 5_000, 86_400_000, 99_999_999] {
            let d = Duration::from_millis(ms);
            let mut h = http::HeaderMap::new();
            h.insert(
                HEADER,
                http::HeaderValue::from_bytes(encode(d).as_bytes()).unwrap(),
            );
            assert_eq!(decode(&h), Ok(Some(d)));
        }
    }
}
