//! Protocol buffers, via prost.

use super::CodecError;
use bytes::Bytes;

pub(super) fn encode<M: prost::Message>(msg: &M) -> Bytes {
    Bytes::from(msg.encode_to_vec())
}

pub(super) fn decode<M: prost::Message + Default>(buf: &[u8]) -> Result<M, CodecError> {
    Ok(M::decode(buf)?)
}
