//! Subscribers: functions and methods called with the messages of a topic.

use crate::broker::{self, Event};
use crate::codec::{Codec, Message};
use crate::context::Context;
use crate::registry::{self, Value};
use crate::Result;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::future::Future;
use std::sync::Arc;

use super::delivery::Delivery;

/// The layers around every subscriber of a service.
pub type SubscriberLayers = crate::layer::Layers<Delivery, ()>;
/// A subscriber with the service's subscriber layers around it.
pub type SubscriberStack = crate::layer::Stack<Delivery, ()>;

/// A type whose methods (or a function) receive messages. Implemented by
/// `#[micro::subscriber]`.
pub trait Subscriber: Send + Sync + 'static {
    /// The subscriber endpoints, each calling into the shared value.
    fn endpoints(self: Arc<Self>) -> Vec<SubscriberEndpoint>;
}

pub(crate) type HandleFn =
    dyn Fn(Context, broker::Message) -> BoxFuture<'static, Result<()>> + Send + Sync;

/// One subscriber: its name (`Func`, `Example.Handle`), its message schema and its function.
#[derive(Clone)]
pub struct SubscriberEndpoint {
    name: String,
    request: Value,
    handle: Arc<HandleFn>,
}

impl std::fmt::Debug for SubscriberEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriberEndpoint")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SubscriberEndpoint {
    /// A subscriber named `name` calling `f` with each message decoded as `M`.
    ///
    /// The body is decoded by the message's `Content-Type` (JSON or protobuf; protobuf when
    /// absent). A message that cannot be decoded is logged with its topic and id and skipped: one
    /// bad message does not stop the subscriber.
    pub fn new<M, F, Fut>(name: &str, f: F) -> Self
    where
        M: Message,
        F: Fn(Context, M) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let f = Arc::new(f);
        let subscriber = name.to_string();
        let handle = move |ctx: Context, message: broker::Message| {
            let f = Arc::clone(&f);
            let subscriber = subscriber.clone();
            async move {
                let topic = message.header(broker::TOPIC).unwrap_or("").to_string();
                let id = message.header(broker::ID).unwrap_or("").to_string();
                let content_type = message.header(broker::CONTENT_TYPE).unwrap_or(Codec::Proto.content_type());
                let Some(codec) = Codec::from_content_type(content_type) else {
                    tracing::warn!(%topic, %id, subscriber, content_type, "skipping a message of an unsupported content type");
                    return Ok(());
                };
                match codec.decode::<M>(&message.body) {
                    Ok(msg) => f(ctx, msg).await,
                    Err(e) => {
                        tracing::warn!(%topic, %id, subscriber, error = %e, "skipping a message that cannot be decoded");
                        Ok(())
                    }
                }
            }
            .boxed()
        };
        SubscriberEndpoint {
            name: name.to_string(),
            request: M::schema(),
            handle: Arc::new(handle),
        }
    }

    /// The subscriber's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its registry description for `topic`.
    pub fn info(&self, topic: &str) -> registry::Endpoint {
        registry::Endpoint {
            name: self.name.clone(),
            request: Some(self.request.clone()),
            response: None,
            metadata: [("subscriber", "true"), ("topic", topic)]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
        }
    }

    /// The broker handler that runs this subscriber for `service`, through `layers`.
    pub fn handler(&self, service: &str, layers: &SubscriberLayers) -> broker::MessageHandler {
        let handle = Arc::clone(&self.handle);
        let (service, name) = (service.to_string(), self.name.clone());
        let stack =
            (!layers.is_empty()).then(|| layers.around(tower::service_fn(Delivery::dispatch)));
        Arc::new(move |event: Event| {
            let metadata = event
                .message
                .header
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect();
            let ctx = Context::new(service.clone(), name.clone()).with_metadata(metadata);
            match &stack {
                None => handle(ctx, event.message),
                Some(stack) => {
                    use tower::ServiceExt;
                    let delivery = Delivery {
                        context: ctx,
                        topic: event.topic,
                        message: event.message,
                        handle: Arc::clone(&handle),
                    };
                    stack.clone().oneshot(delivery).boxed()
                }
            }
        })
    }
}
