//! A request body as a server reads it: gRPC frames (flag, length, message) through tonic's
//! reader and micro's frame decoder, with micro's 4 MiB limit. Any bytes give messages, then the
//! end or a refusal; never a panic, never more than the limit held.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = http_body_util::Full::new(Bytes::copy_from_slice(data));
    let mut frames = tonic::codec::Streaming::new_request(
        micro::codec::FrameDecoder::default(),
        body,
        None,
        Some(micro::server::DEFAULT_MAX_MESSAGE_SIZE),
    );
    futures::executor::block_on(async {
        while let Ok(Some(message)) = frames.message().await {
            assert!(message.len() <= micro::server::DEFAULT_MAX_MESSAGE_SIZE);
        }
    });
});
