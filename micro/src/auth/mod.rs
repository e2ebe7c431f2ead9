//! Auth (go-micro's `--auth`): callers carry a signed token, services check it against rules.
//!
//! - A [`Token`] is a JWT signed with ES256 (ECDSA P-256), carrying a subject, scopes and an
//!   expiry. Services hold only the public key ([`Verifier`]); whoever mints tokens holds the
//!   private one ([`Signer`], `micro auth token`). A token's own `alg` is never trusted: only
//!   ES256 verifies, so `none` and HS256-with-the-public-key are refused.
//! - [`Rules`] map a service and an endpoint pattern (`Greeter.*`) to the scopes they need, or
//!   to public. With no rule for an endpoint it needs a valid token of any scope; only
//!   `Debug.Health` and the gRPC health check are public by default.
//! - A [`Policy`] is the two together, set up from [`AuthSettings`] (`MICRO_AUTH=jwt`, ...).
//!   [`AuthLayer`](crate::wrappers::AuthLayer) enforces it in a server (no or malformed token
//!   401, expired 401, a scope missing 403 naming it); the edges (`micro api`, `micro proxy`)
//!   call [`Policy::check`] themselves.
//!
//! A handler sees who called in [`Context::account`](crate::Context::account). Tokens never
//! appear in errors, logs or `Debug` output.
//!
//! ```
//! use micro::auth::{Access, Rules};
//! let rules = Rules::new().rule("go.micro.srv.greeter", "Greeter.*", Access::scopes(["greeter"]));
//! assert_eq!(rules.access("go.micro.srv.greeter", "Greeter.Hello"), Access::scopes(["greeter"]));
//! assert_eq!(rules.access("go.micro.srv.greeter", "Debug.Health"), Access::Public);
//! assert_eq!(rules.access("go.micro.srv.greeter", "Debug.Stats"), Access::Account);
//! ```

mod policy;
mod rules;
mod secret;
mod token;

pub use policy::{AuthSettings, Policy};
pub use rules::{Access, Rules};
pub use secret::Token;
pub use token::{inspect, Claims, Signer, Verifier, ALGORITHM};

use std::time::{Duration, SystemTime};

/// The metadata key (and HTTP header) a token travels in, as `Bearer <token>`.
pub const AUTHORIZATION: &str = "authorization";

/// Who is calling: the subject and scopes of a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The token's subject (`sub`): a user or a service.
    pub subject: String,
    /// What the token may do (`scopes`).
    pub scopes: Vec<String>,
    /// When the token expires (`exp`).
    pub expires: SystemTime,
}

impl Account {
    /// Whether the account has `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Why a token or a setting was refused. The messages never quote a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The call carries no token.
    #[error("{endpoint} needs a token: send the metadata (header) authorization: Bearer <token>")]
    Missing {
        /// The endpoint called.
        endpoint: String,
    },
    /// What was sent is not a token.
    #[error("the token is malformed: {0}")]
    Malformed(String),
    /// The token's expiry has passed.
    #[error("the token has expired")]
    Expired,
    /// The signature does not verify with the key the service holds.
    #[error("the token's signature does not verify with this service's public key")]
    Signature,
    /// The token names another algorithm than ES256.
    #[error("the token is signed with {0}; only ES256 tokens are accepted")]
    Algorithm(String),
    /// The token is valid, but has none of the scopes the endpoint needs.
    #[error("{endpoint} needs scope {}; the token of {subject} has {}", .needs.join(" or "), list_scopes(.have))]
    Forbidden {
        /// The endpoint called.
        endpoint: String,
        /// The scopes any one of which would do.
        needs: Vec<String>,
        /// The token's subject.
        subject: String,
        /// The token's scopes.
        have: Vec<String>,
    },
    /// A key could not be read or used.
    #[error("auth key: {0}")]
    Key(String),
    /// The rules could not be read.
    #[error("auth rules: {0}")]
    Rules(String),
}

fn list_scopes(scopes: &[String]) -> String {
    if scopes.is_empty() {
        "no scopes".into()
    } else {
        format!("scopes {}", scopes.join(", "))
    }
}

impl AuthError {
    /// The HTTP-style code: 403 for a scope missing, 401 for a token missing or refused, 500
    /// for a setting that could not be used.
    pub fn code(&self) -> i32 {
        match self {
            AuthError::Forbidden { .. } => 403,
            AuthError::Key(_) | AuthError::Rules(_) => 500,
            _ => 401,
        }
    }

    /// As a [`micro::Error`](crate::Error) raised by `id` (the service refusing the call).
    pub fn into_error(self, id: impl Into<String>) -> crate::Error {
        let code = self.code();
        crate::Error::new(id, self.to_string(), code)
    }
}

/// How long a token is taken past its expiry (or before its issue time), for clocks apart.
pub const LEEWAY: Duration = Duration::from_secs(10);
