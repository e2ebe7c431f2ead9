//! Handlers and their endpoints: what the server dispatches to.

use crate::codec::{Codec, Message};
use crate::context::Context;
use crate::registry;
use crate::{Error, Result};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

/// A type whose methods are endpoints. Implemented by `#[micro::handler]` on an `impl` block.
pub trait Handler: Send + Sync + 'static {
    /// The endpoints this handler serves, each calling into the shared handler.
    fn endpoints(self: Arc<Self>) -> Vec<Endpoint>;
}

type UnaryFn = dyn Fn(Context, Codec, Bytes) -> BoxFuture<'static, Result<Bytes>> + Send + Sync;

/// One endpoint: its registry description and the function that serves it.
#[derive(Clone)]
pub struct Endpoint {
    pub(crate) info: registry::Endpoint,
    pub(crate) call: Arc<UnaryFn>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.info.name)
            .finish()
    }
}

impl Endpoint {
    /// A request-response endpoint named `name` (`Handler.Method`) served by `f`.
    ///
    /// The request is decoded with the codec of the call (protobuf or JSON) and the reply
    /// encoded with the same one.
    pub fn unary<Req, Rsp, F, Fut>(name: &str, f: F) -> Self
    where
        Req: Message,
        Rsp: Message,
        F: Fn(Context, Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Rsp>> + Send + 'static,
    {
        let f = Arc::new(f);
        let call = move |ctx: Context, codec: Codec, body: Bytes| {
            let f = Arc::clone(&f);
            async move {
                let request: Req = codec.decode(&body).map_err(|e| {
                    Error::bad_request(
                        ctx.service(),
                        format!("cannot decode request of {}: {e}", ctx.endpoint()),
                    )
                })?;
                let service = ctx.service.clone();
                let endpoint = ctx.endpoint.clone();
                let reply = f(ctx, request).await?;
                codec.encode(&reply).map_err(|e| {
                    Error::internal_server_error(
                        service,
                        format!("cannot encode reply of {endpoint}: {e}"),
                    )
                })
            }
            .boxed()
        };
        Endpoint {
            info: registry::Endpoint {
                name: name.to_string(),
                request: Some(Req::schema()),
                response: Some(Rsp::schema()),
                metadata: BTreeMap::from([("stream".to_string(), "false".to_string())]),
            },
            call: Arc::new(call),
        }
    }

    /// The endpoint's name, `Handler.Method`.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// Its registry description.
    pub fn info(&self) -> &registry::Endpoint {
        &self.info
    }

    /// Adds a metadata pair to its registry description.
    pub fn with_metadata(mut self, key: &str, value: &str) -> Self {
        self.info
            .metadata
            .insert(key.to_string(), value.to_string());
        self
    }
}
