//! A request body as a server decodes it, in each codec: protobuf and proto3 JSON bytes from a
//! caller decode or are refused, never panic; what decodes encodes again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use micro::codec::Codec;
use micro::server::debug::proto::{HealthResponse, StatsResponse};

fuzz_target!(|data: &[u8]| {
    for codec in [Codec::Proto, Codec::Json] {
        if let Ok(msg) = codec.decode::<HealthResponse>(data) {
            codec.encode(&msg).expect("a decoded message encodes");
        }
        if let Ok(msg) = codec.decode::<StatsResponse>(data) {
            codec.encode(&msg).expect("a decoded message encodes");
        }
    }
});
