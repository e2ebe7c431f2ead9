//! Metadata: the string pairs that travel with a call as gRPC headers.

use std::collections::BTreeMap;

/// String keys and values, sorted so output is stable. On the wire each pair is a header;
/// keys are lower-case there, as HTTP/2 requires.
pub type Metadata = BTreeMap<String, String>;

/// The most header bytes a micro server accepts on one request, counted as HTTP/2 counts them
/// (name, value and 32 per field: SETTINGS_MAX_HEADER_LIST_SIZE); clients refuse to send more.
pub const MAX_HEADER_BYTES: usize = 16 << 10;

/// What the protocol's own fields of a request take of [`MAX_HEADER_BYTES`]: the pseudo-headers,
/// content type, `te`, `grpc-timeout`, the user agent; generous, so that a call the client lets
/// through is never refused by the server.
pub(crate) const PROTOCOL_HEADER_BYTES: usize = 1024;

/// The size of `headers` as HTTP/2 counts it against SETTINGS_MAX_HEADER_LIST_SIZE.
pub(crate) fn header_list_size(headers: &http::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 32)
        .sum()
}

/// Header carrying the calling service's name.
pub const FROM_SERVICE: &str = "micro-from-service";

/// Metadata whose value is a credential: never logged, never shown by `Debug`.
pub fn is_secret(key: &str) -> bool {
    [
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
    ]
    .iter()
    .any(|k| key.eq_ignore_ascii_case(k))
}

/// `Debug` of metadata with the values of [secret](is_secret) keys redacted.
pub struct Redacted<'a>(pub &'a Metadata);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let v: &dyn std::fmt::Debug = if is_secret(k) { &"<redacted>" } else { v };
                (k, v)
            }))
            .finish()
    }
}

/// Headers that belong to the protocol, not to the caller's metadata.
fn is_reserved(key: &str) -> bool {
    key.starts_with("grpc-")
        || key.starts_with(':')
        || matches!(
            key,
            "content-type" | "te" | "user-agent" | "accept-encoding" | "content-length"
        )
}

/// Headers whose value is new on every call (a trace's span id). HPACK would add each one to
/// the connection's header table, pushing out the headers that repeat; sent as never-indexed
/// they leave the table to those.
fn changes_every_call(key: &str) -> bool {
    matches!(key, "traceparent" | "tracestate")
}

/// The caller's metadata from request headers.
pub(crate) fn from_headers(headers: &http::HeaderMap) -> Metadata {
    headers
        .iter()
        .filter(|(k, _)| !is_reserved(k.as_str()))
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect()
}

/// Makes the metadata headers of `headers` say what `md` says: pairs added or changed are
/// set, pairs taken out are removed (reserved headers are left alone).
pub(crate) fn into_headers(md: &Metadata, headers: &mut http::HeaderMap) {
    let gone: Vec<http::HeaderName> = headers
        .iter()
        .filter(|(k, v)| {
            !is_reserved(k.as_str()) && v.to_str().is_ok() && !md.contains_key(k.as_str())
        })
        .map(|(k, _)| k.clone())
        .collect();
    for key in gone {
        headers.remove(key);
    }
    for (k, v) in md {
        let key = k.to_ascii_lowercase();
        if is_reserved(&key) {
            continue;
        }
        let same = headers.get(&key).and_then(|h| h.to_str().ok()) == Some(v.as_str());
        if same {
            continue;
        }
        match (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            (Ok(k), Ok(v)) => {
                headers.insert(k, v);
            }
            _ => tracing::warn!(key = %k, "metadata pair is not a valid header, not sent"),
        }
    }
}

/// Writes metadata into gRPC request metadata; pairs that are not valid headers are skipped
/// with a warning rather than failing the call.
pub(crate) fn to_grpc(md: &Metadata, out: &mut tonic::metadata::MetadataMap) {
    for (k, v) in md {
        let key = k.to_ascii_lowercase();
        if is_reserved(&key) {
            continue;
        }
        match (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(v.as_str()),
        ) {
            (Ok(k), Ok(mut v)) => {
                if changes_every_call(k.as_str()) || is_secret(k.as_str()) {
                    v.set_sensitive(true);
                }
                out.insert(k, v);
            }
            _ => tracing::warn!(key = %k, "metadata pair is not a valid header, not sent"),
        }
    }
}
