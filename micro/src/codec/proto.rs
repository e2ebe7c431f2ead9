//! Protocol buffers, via prost.

use super::CodecError;
use bytes::{Bytes, BytesMut};

pub(super) fn encode<M: prost::Message>(msg: &M) -> Bytes {
    Bytes::from(msg.encode_to_vec())
}

pub(super) fn encode_into<M: prost::Message>(msg: &M, buf: &mut BytesMut) {
    buf.reserve(msg.encoded_len());
    // Cannot fail: the space was reserved.
    let _ = msg.encode(buf);
}

pub(super) fn decode<M: prost::Message + Default>(buf: &[u8]) -> Result<M, CodecError> {
    Ok(M::decode(buf)?)
}
