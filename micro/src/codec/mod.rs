//! Codecs: how a message becomes bytes, chosen per request by content type.
//!
//! Every micro message is a prost type that also has serde impls in the proto3 JSON mapping (as
//! `micro-build` generates them), so one request can arrive as protobuf and the next as JSON.

mod bytes;
mod json;
mod proto;

pub use self::bytes::{FrameCodec, FrameDecoder};

use crate::schema::Schema;
use ::bytes::{Bytes, BytesMut};
use serde::{de::DeserializeOwned, Serialize};

/// Default largest message sent or received, by clients and servers alike (gRPC's 4 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// A message micro can send: protobuf (prost), proto3 JSON (serde) and a registry schema.
///
/// Implemented for every type that has the three; `micro-build` generates all of them.
pub trait Message:
    prost::Message + Default + Serialize + DeserializeOwned + Schema + Send + Sync + 'static
{
}

impl<T> Message for T where
    T: prost::Message + Default + Serialize + DeserializeOwned + Schema + Send + Sync + 'static
{
}

/// The encoding of a message on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Protocol buffers: `application/grpc`, `application/grpc+proto`.
    Proto,
    /// Proto3 JSON mapping: `application/grpc+json`.
    Json,
}

/// A message could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Protobuf decoding failed.
    #[error("invalid protobuf: {0}")]
    Proto(#[from] prost::DecodeError),
    /// JSON encoding or decoding failed.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A message longer than a gRPC frame can say (4 GiB).
    #[error("a message of {0} bytes does not fit in a gRPC frame")]
    TooLarge(usize),
}

impl Codec {
    /// The codec for a content type (parameters after `;` are ignored); `None` if unsupported.
    ///
    /// This is the one list of content types micro understands: servers, brokers and the gateway
    /// all ask it.
    ///
    /// ```
    /// use micro::codec::Codec;
    /// assert_eq!(Codec::from_content_type("application/grpc+json"), Some(Codec::Json));
    /// assert_eq!(Codec::from_content_type("application/grpc"), Some(Codec::Proto));
    /// assert_eq!(Codec::from_content_type("application/json; charset=utf-8"), Some(Codec::Json));
    /// assert_eq!(Codec::from_content_type("text/plain"), None);
    /// ```
    pub fn from_content_type(content_type: &str) -> Option<Codec> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        match essence.to_ascii_lowercase().as_str() {
            "application/grpc"
            | "application/grpc+proto"
            | "application/protobuf"
            | "application/x-protobuf"
            | "application/octet-stream"
            | "application/proto" => Some(Codec::Proto),
            "application/grpc+json" | "application/json" => Some(Codec::Json),
            _ => None,
        }
    }

    /// The gRPC content type of this codec.
    pub fn grpc_content_type(self) -> &'static str {
        match self {
            Codec::Proto => "application/grpc+proto",
            Codec::Json => "application/grpc+json",
        }
    }

    /// The plain content type of this codec (for brokers and HTTP).
    pub fn content_type(self) -> &'static str {
        match self {
            Codec::Proto => "application/protobuf",
            Codec::Json => "application/json",
        }
    }

    /// Encodes a message.
    pub fn encode<M: Message>(self, msg: &M) -> Result<Bytes, CodecError> {
        match self {
            Codec::Proto => Ok(proto::encode(msg)),
            Codec::Json => json::encode(msg),
        }
    }

    /// Appends `msg` to `buf` as one gRPC frame: the compression flag (none), the length, the
    /// message. A stream writes its replies one after another into one buffer this way.
    /// Returns the message's length.
    pub fn encode_frame<M: Message>(
        self,
        msg: &M,
        buf: &mut BytesMut,
    ) -> Result<usize, CodecError> {
        use ::bytes::BufMut;
        let start = buf.len();
        buf.put_u8(0);
        buf.put_u32(0);
        match self {
            Codec::Proto => proto::encode_into(msg, buf),
            Codec::Json => json::encode_into(msg, buf)?,
        }
        let len = buf.len() - start - 5;
        let Ok(header) = u32::try_from(len) else {
            buf.truncate(start);
            return Err(CodecError::TooLarge(len));
        };
        buf[start + 1..start + 5].copy_from_slice(&header.to_be_bytes());
        Ok(len)
    }

    /// Decodes a message.
    pub fn decode<M: Message>(self, buf: &[u8]) -> Result<M, CodecError> {
        match self {
            Codec::Proto => proto::decode(buf),
            Codec::Json => json::decode(buf),
        }
    }
}
