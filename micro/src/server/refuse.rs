//! Answering a call refused before its body was read.

use bytes::Bytes;
use std::time::Duration;

/// How much of a refused request's body is read before answering, and for how long.
const DRAIN_LIMIT: usize = 64 << 10;
const DRAIN_TIME: Duration = Duration::from_millis(250);

/// Answers a request refused before its body was read, reading the body first (a little, for a
/// short while): answering while the caller is still sending makes the server reset the
/// stream, and some clients (curl among them) then drop the answer and report only an HTTP/2
/// framing error instead of the precise status.
pub async fn refuse<B>(
    req: http::Request<B>,
    rsp: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    use http_body_util::BodyExt;
    let body = http_body_util::Limited::new(req.into_body(), DRAIN_LIMIT);
    let _ = tokio::time::timeout(DRAIN_TIME, body.collect()).await;
    rsp
}
