//! The request context a handler receives: metadata, deadline, and who is calling what.

use crate::auth::Account;
use crate::metadata::{Metadata, FROM_SERVICE};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a handler knows about the call it is serving.
///
/// Pass `CallOptions::from(&ctx)` to calls made while serving, so the caller's
/// deadline and metadata travel on (`CallOptions::on_behalf_of(&ctx)` to pass its token on too).
#[derive(Clone, Default)]
pub struct Context {
    pub(crate) service: String,
    pub(crate) endpoint: String,
    pub(crate) metadata: Metadata,
    pub(crate) deadline: Option<Instant>,
    pub(crate) account: Option<Arc<Account>>,
}

impl std::fmt::Debug for Context {
    /// Every field, with secrets in the metadata (`authorization`, cookies) redacted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("service", &self.service)
            .field("endpoint", &self.endpoint)
            .field("metadata", &crate::metadata::Redacted(&self.metadata))
            .field("deadline", &self.deadline)
            .field("account", &self.account)
            .finish()
    }
}

impl Context {
    /// A context for `endpoint` of `service`, with no metadata and no deadline.
    pub fn new(service: impl Into<String>, endpoint: impl Into<String>) -> Self {
        Context {
            service: service.into(),
            endpoint: endpoint.into(),
            ..Default::default()
        }
    }

    /// With this metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// With this deadline.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The service serving the call.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The endpoint called, `Handler.Method`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The caller's metadata (lower-case keys).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The calling service, when the caller said (`micro-from-service`).
    pub fn from_service(&self) -> Option<&str> {
        self.metadata.get(FROM_SERVICE).map(String::as_str)
    }

    /// Who is calling, when the server checks tokens (its [`AuthLayer`](crate::wrappers::AuthLayer))
    /// and the call carried a valid one.
    pub fn account(&self) -> Option<&Account> {
        self.account.as_deref()
    }

    /// When the caller stops waiting, from its `grpc-timeout`.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time left before the deadline (zero once passed); `None` without a deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }
}
