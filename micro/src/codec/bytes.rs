//! The tonic codec micro uses on the wire: it passes encoded payloads through untouched, so the
//! choice of protobuf or JSON happens per request, above gRPC framing.

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// A tonic [`Codec`](tonic::codec::Codec) of already-encoded messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameCodec;

impl tonic::codec::Codec for FrameCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = FrameCodec;
    type Decoder = FrameCodec;

    fn encoder(&mut self) -> Self::Encoder {
        FrameCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        FrameCodec
    }
}

impl Encoder for FrameCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
