//! Proto3 JSON, via the serde impls that micro-build generates.

use super::CodecError;
use bytes::{BufMut, Bytes, BytesMut};
use serde::{de::DeserializeOwned, Serialize};

pub(super) fn encode<M: Serialize>(msg: &M) -> Result<Bytes, CodecError> {
    Ok(Bytes::from(serde_json::to_vec(msg)?))
}

pub(super) fn encode_into<M: Serialize>(msg: &M, buf: &mut BytesMut) -> Result<(), CodecError> {
    Ok(serde_json::to_writer(buf.writer(), msg)?)
}

pub(super) fn decode<M: DeserializeOwned>(buf: &[u8]) -> Result<M, CodecError> {
    // An empty body is the empty message, as in protobuf.
    if buf.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::from_slice(b"{}")?);
    }
    Ok(serde_json::from_slice(buf)?)
}
