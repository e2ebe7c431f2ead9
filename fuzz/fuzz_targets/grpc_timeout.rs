//! `grpc-timeout` values from a caller: any bytes that make a header value parse or are refused
//! with a reason, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = http::HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = http::HeaderMap::new();
    headers.insert("grpc-timeout", value);
    if let Ok(Some(timeout)) = micro::grpc_timeout::decode(&headers) {
        // What decodes encodes again.
        let _ = micro::grpc_timeout::encode(timeout);
    }
});
