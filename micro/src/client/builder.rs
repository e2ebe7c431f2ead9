//! Building a [`Client`] with settings other than go-micro's defaults.

use super::attempt::{Answer, Attempt, ClientLayers, Wire};
use super::via::Via;
use super::{
    pool::Pool, Client, ClientTls, Inner, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
};
use crate::layer::StackLayer;
use crate::registry::Registry;
use crate::selector::{RegistrySelector, Selector};
use std::sync::Arc;
use std::time::Duration;

/// Builds a [`Client`] with non-default settings.
#[derive(Debug, Default)]
pub struct ClientBuilder {
    registry: Option<Arc<dyn Registry>>,
    selector: Option<Arc<dyn Selector>>,
    broker: Option<Arc<dyn crate::broker::Broker>>,
    timeout: Option<Duration>,
    retries: Option<u32>,
    max_message_size: Option<usize>,
    from_service: Option<String>,
    /// `Some(None)`: no proxy whatever `MICRO_PROXY` says; `None`: as it says.
    proxy: Option<Option<Via>>,
    layers: ClientLayers,
    attempt_timeout: Option<Duration>,
    tls: Option<ClientTls>,
    /// `Some(None)`: no token whatever `MICRO_AUTH_TOKEN` says; `None`: as it says.
    token: Option<Option<crate::auth::Token>>,
}

impl ClientBuilder {
    /// Find services in this registry (with the default selector).
    pub fn registry(mut self, registry: Arc<dyn Registry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Pick nodes with this selector (overrides [`registry`](Self::registry)).
    pub fn selector(mut self, selector: Arc<dyn Selector>) -> Self {
        self.selector = Some(selector);
        self
    }

    /// Publish through this broker (default: `MICRO_BROKER`, made on first publish).
    pub fn broker(mut self, broker: Arc<dyn crate::broker::Broker>) -> Self {
        self.broker = Some(broker);
        self
    }

    /// Default overall timeout per call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Default most time one attempt of a call may take (none by default: the first attempt may
    /// use the call's whole timeout). With it, an attempt to a node that hangs gives up in time
    /// for a retry on another node.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// Retries after a failed attempt (default 1).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }

    /// Largest message sent or received (default 4 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = Some(bytes);
        self
    }

    /// Sends every attempt through `layer`, a tower [`Layer`](tower::Layer) over the
    /// client's [`ClientStack`](super::ClientStack) (go-micro's client wrappers): each attempt of a call (a retry
    /// is another attempt, to the node the selector chose next), each stream opened and each
    /// publish. The first layer added is the outermost.
    pub fn layer(mut self, layer: impl StackLayer<Attempt, Answer>) -> Self {
        self.layers.push(layer);
        self
    }

    /// The calling service's name, sent with every call.
    pub fn from_service(mut self, name: impl Into<String>) -> Self {
        self.from_service = Some(name.into());
        self
    }

    /// Sends every call and stream through `via` (a `micro proxy`), the real service named in
    /// the path, with no retries of its own. Without this, `MICRO_PROXY` says (see [`Via::parse`]).
    pub fn proxy(mut self, via: Via) -> Self {
        self.proxy = Some(Some(via));
        self
    }

    /// Calls nodes directly whatever `MICRO_PROXY` says (what a proxy's own client does).
    pub fn no_proxy(mut self) -> Self {
        self.proxy = Some(None);
        self
    }

    /// TLS to secure nodes with these settings, instead of the `MICRO_CLIENT_TLS_*` variables.
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sends `token` with every call that carries none of its own (default: `MICRO_AUTH_TOKEN`).
    pub fn token(mut self, token: crate::auth::Token) -> Self {
        self.token = Some(Some(token));
        self
    }

    /// Sends no token of its own, whatever `MICRO_AUTH_TOKEN` says.
    pub fn no_token(mut self) -> Self {
        self.token = Some(None);
        self
    }

    /// The client. Without a registry or selector it uses the shared in-process registry.
    pub fn build(self) -> Client {
        let registry = self.registry;
        let selector = self.selector.unwrap_or_else(|| {
            let registry = registry
                .clone()
                .unwrap_or_else(crate::registry::MemoryRegistry::shared);
            Arc::new(RegistrySelector::new(registry))
        });
        let broker = std::sync::OnceLock::new();
        if let Some(b) = self.broker {
            let _ = broker.set(b);
        }
        let layers = self.layers;
        let token = self.token.unwrap_or_else(|| {
            std::env::var("MICRO_AUTH_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty())
                .map(crate::auth::Token::new)
        });
        // Built once; sensitive, so neither HPACK's table nor `Debug` keeps it.
        let authorization = token.and_then(|t| {
            let mut value = tonic::metadata::AsciiMetadataValue::try_from(t.bearer()).ok()?;
            value.set_sensitive(true);
            Some(value)
        });
        Client {
            inner: Arc::new_cyclic(|inner| Inner {
                selector,
                pool: Pool::new(match self.tls {
                    Some(tls) => Ok(tls),
                    None => ClientTls::from_env().map_err(|e| e.to_string()),
                }),
                timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
                retries: self.retries.unwrap_or(DEFAULT_RETRIES),
                max_message_size: self.max_message_size.unwrap_or(DEFAULT_MAX_MESSAGE_SIZE),
                from_service: self.from_service,
                authorization,
                proxy: self.proxy.unwrap_or_else(|| {
                    std::env::var("MICRO_PROXY")
                        .ok()
                        .and_then(|v| Via::parse(&v))
                }),
                registry,
                broker,
                attempt_timeout: self.attempt_timeout,
                probes: Default::default(),
                stack: (!layers.is_empty()).then(|| {
                    layers.around(Wire {
                        inner: inner.clone(),
                    })
                }),
            }),
        }
    }
}
