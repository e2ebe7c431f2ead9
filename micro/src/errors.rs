//! `micro::Error`: the error every caller can act on.
//!
//! The shape is go-micro's (`{"id","code","detail","status"}`) so that errors read the same in
//! every tool. `code` is an HTTP-style number; on the wire the error maps to the nearest gRPC
//! status code and its JSON rides in the status message, so a micro client gets it back exactly.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The id of errors a client raises itself: no node answered, the deadline passed, ...
pub const CLIENT_ID: &str = "go.micro.client";

/// A `Result` whose error is [`micro::Error`](Error).
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error with an id (usually the service name), an HTTP-style code, a detail and a status text.
///
/// ```
/// let err = micro::Error::bad_request("go.micro.srv.greeter", "name is empty");
/// assert_eq!(err.code, 400);
/// assert_eq!(err.status, "Bad Request");
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct Error {
    /// Who raised the error, e.g. the service name or `go.micro.client`.
    #[serde(default)]
    pub id: String,
    /// HTTP-style status code (400, 404, 408, 500, ...).
    #[serde(default)]
    pub code: i32,
    /// Human-readable detail.
    #[serde(default)]
    pub detail: String,
    /// Status text matching `code` ("Bad Request", ...).
    #[serde(default)]
    pub status: String,
}

impl fmt::Display for Error {
    /// The JSON form, as go-micro prints its errors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_string(self) {
            Ok(s) => f.write_str(&s),
            Err(_) => write!(f, "{} {}: {}", self.id, self.code, self.detail),
        }
    }
}

impl fmt::Debug for Error {
    /// The detail alone, so that `main` returning `micro::Result` prints one readable line
    /// (`Error: unknown registry "etcd" ...`, exit status 1); `{:#?}` shows every field.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("Error")
                .field("id", &self.id)
                .field("code", &self.code)
                .field("detail", &self.detail)
                .field("status", &self.status)
                .finish();
        }
        match (self.detail.is_empty(), self.status.is_empty()) {
            (false, _) => f.write_str(&self.detail),
            (true, false) => write!(f, "{} {}", self.code, self.status),
            (true, true) => write!(f, "error {} from {}", self.code, self.id),
        }
    }
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $fn:ident => $code:expr;)*) => {
        $(
            $(#[$doc])*
            pub fn $fn(id: impl Into<String>, detail: impl Into<String>) -> Self {
                Self::new(id, detail, $code)
            }
        )*
    };
}

impl Error {
    /// An error with any code; the status text is derived from the code.
    pub fn new(id: impl Into<String>, detail: impl Into<String>, code: i32) -> Self {
        Error {
            id: id.into(),
            code,
            detail: detail.into(),
            status: status_text(code).to_string(),
        }
    }

    /// 408: the deadline passed.
    pub fn is_timeout(&self) -> bool {
        self.code == 408
    }

    /// 404: no such service, endpoint or thing.
    pub fn is_not_found(&self) -> bool {
        self.code == 404
    }

    /// Raised by a client itself (not by the service it called).
    pub fn is_from_client(&self) -> bool {
        self.id == CLIENT_ID
    }

    constructors! {
        /// 400: the request was malformed.
        bad_request => 400;
        /// 401: the caller is not authenticated.
        unauthorized => 401;
        /// 403: the caller may not do this.
        forbidden => 403;
        /// 404: no such service, endpoint or thing.
        not_found => 404;
        /// 405: the method is not allowed.
        method_not_allowed => 405;
        /// 408: the deadline passed.
        timeout => 408;
        /// 409: the thing exists already.
        conflict => 409;
        /// 413: the message is larger than the limit.
        too_large => 413;
        /// 429: too many requests.
        too_many_requests => 429;
        /// 500: the server failed.
        internal_server_error => 500;
        /// 501: the endpoint is not implemented.
        not_implemented => 501;
        /// 503: the service is unavailable.
        unavailable => 503;
    }

    /// Parses the JSON form; `None` if `s` is not a micro error.
    pub fn parse(s: &str) -> Option<Self> {
        let err: Error = serde_json::from_str(s).ok()?;
        (err.code != 0 || !err.id.is_empty()).then_some(err)
    }

    /// The gRPC status code nearest to `self.code`.
    pub fn grpc_code(&self) -> tonic::Code {
        use tonic::Code;
        match self.code {
            400 => Code::InvalidArgument,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::NotFound,
            408 => Code::DeadlineExceeded,
            409 => Code::AlreadyExists,
            413 | 429 => Code::ResourceExhausted,
            499 => Code::Cancelled,
            501 => Code::Unimplemented,
            503 => Code::Unavailable,
            _ => Code::Internal,
        }
    }

    /// The gRPC status carrying this error: nearest code, JSON in the message.
    pub fn to_status(&self) -> tonic::Status {
        tonic::Status::new(self.grpc_code(), self.to_string())
    }

    /// Recovers a micro error from a gRPC status: exactly, when the message holds one; otherwise
    /// by mapping the gRPC code to its HTTP-style code, with `id` as the error id.
    pub fn from_status(id: &str, status: &tonic::Status) -> Self {
        if let Some(err) = Error::parse(status.message()) {
            return err;
        }
        Error::new(id, status.message(), http_code(status.code()))
    }

    /// True for errors worth retrying on another node: timeouts, 500s, unavailability.
    pub fn is_retryable(&self) -> bool {
        matches!(self.code, 408 | 500 | 503)
    }
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        Error::from_status(CLIENT_ID, &status)
    }
}

impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        err.to_status()
    }
}

/// The HTTP-style code nearest to a gRPC status code.
pub fn http_code(code: tonic::Code) -> i32 {
    use tonic::Code;
    match code {
        Code::Ok => 200,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
        Code::Unauthenticated => 401,
        Code::PermissionDenied => 403,
        Code::NotFound => 404,
        Code::DeadlineExceeded => 408,
        // nginx's "client closed request".
        Code::Cancelled => 499,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::ResourceExhausted => 429,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::Unknown | Code::Internal | Code::DataLoss => 500,
    }
}

/// The standard text of an HTTP status code, as go-micro puts in `status`.
pub fn status_text(code: i32) -> &'static str {
    u16::try_from(code)
        .ok()
        .and_then(|c| http::StatusCode::from_u16(c).ok())
        .and_then(|c| c.canonical_reason())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_a_grpc_status() {
        let err = Error::bad_request("go.micro.srv.greeter", "name is empty");
        let status = err.to_status();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(Error::from(status), err);
    }

    #[test]
    fn maps_a_foreign_status_by_code() {
        let err = Error::from_status("x", &tonic::Status::unavailable("down"));
        assert_eq!(
            (err.code, err.detail.as_str(), err.status.as_str()),
            (503, "down", "Service Unavailable")
        );
    }

    #[test]
    fn displays_as_go_micro_json() {
        let err = Error::timeout("go.micro.client", "deadline");
        assert_eq!(
            err.to_string(),
            r#"{"id":"go.micro.client","code":408,"detail":"deadline","status":"Request Timeout"}"#
        );
    }

    #[test]
    fn debugs_as_its_detail_so_main_prints_one_line() {
        let err = Error::internal_server_error("go.micro.registry", "unknown registry \"x\"");
        assert_eq!(format!("{err:?}"), "unknown registry \"x\"");
        assert!(format!("{err:#?}").contains("id: \"go.micro.registry\""));
        assert_eq!(
            format!("{:?}", Error::new("svc", "", 503)),
            "503 Service Unavailable"
        );
    }
}
