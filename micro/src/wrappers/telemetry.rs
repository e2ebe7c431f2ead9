//! The metrics and traces the settings ask for, put around a service or a tool: what
//! `MICRO_METRICS_ADDRESS` and `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` turn on.

use crate::client::ClientBuilder;
use crate::config::Config;
use crate::server::{Layers, SubscriberLayers};

/// How long [`Telemetry::flush`] waits for the exporter.
pub const TRACE_FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The observing layers [`Config`] asks for, outermost (so what other layers refuse is seen
/// too): traces, then metrics.
#[derive(Debug, Clone, Default)]
pub struct Telemetry {
    #[cfg(feature = "metrics")]
    metrics_address: Option<String>,
    #[cfg(feature = "trace")]
    tracer: Option<super::trace::Tracer>,
}

impl Telemetry {
    /// What `config` asks for, for `service` (the name its spans carry). Settings for a part
    /// this build lacks (cargo features `metrics`, `trace`) are said in a warning, not ignored.
    /// Call inside a tokio runtime when traces are exported.
    pub fn from_config(config: &Config, service: &str) -> crate::Result<Telemetry> {
        #[cfg(not(feature = "metrics"))]
        if let Some(address) = &config.metrics_address {
            tracing::warn!(%address, "MICRO_METRICS_ADDRESS is set, but micro was built without its `metrics` feature: no metrics");
        }
        #[cfg(not(feature = "trace"))]
        if let Some(endpoint) = &config.otlp_endpoint {
            tracing::warn!(%endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT is set, but micro was built without its `trace` feature: no traces");
        }
        let _ = service;
        Ok(Telemetry {
            #[cfg(feature = "metrics")]
            metrics_address: config.metrics_address.clone(),
            #[cfg(feature = "trace")]
            tracer: match &config.otlp_endpoint {
                None => None,
                Some(endpoint) => Some(
                    super::trace::Tracer::exporting(service, endpoint)
                        .map_err(|e| crate::Error::internal_server_error(service, e.to_string()))?,
                ),
            },
        })
    }

    /// Puts the layers around a server's endpoints.
    pub fn around_server(&self, layers: &mut Layers) {
        #[cfg(feature = "metrics")]
        if self.metrics_address.is_some() {
            layers.push_outermost(super::metrics::MetricsLayer::server());
        }
        #[cfg(feature = "trace")]
        if let Some(tracer) = &self.tracer {
            layers.push_outermost(tracer.server());
        }
        let _ = layers;
    }

    /// Puts the layers around a service's subscribers.
    pub fn around_subscribers(&self, layers: &mut SubscriberLayers) {
        #[cfg(feature = "metrics")]
        if self.metrics_address.is_some() {
            layers.push_outermost(super::metrics::MetricsLayer::subscriber());
        }
        #[cfg(feature = "trace")]
        if let Some(tracer) = &self.tracer {
            layers.push_outermost(tracer.subscriber());
        }
        let _ = layers;
    }

    /// Puts the layers around a client's attempts; call before adding layers of its own.
    pub fn around_client(&self, builder: ClientBuilder) -> ClientBuilder {
        #[cfg(feature = "trace")]
        let builder = match &self.tracer {
            Some(tracer) => builder.layer(tracer.client()),
            None => builder,
        };
        #[cfg(feature = "metrics")]
        let builder = match self.metrics_address {
            Some(_) => builder.layer(super::metrics::MetricsLayer::client()),
            None => builder,
        };
        builder
    }

    /// Starts what serves: the metrics exporter (once per process).
    pub async fn start(&self, service: &str) -> crate::Result<()> {
        #[cfg(feature = "metrics")]
        if let Some(address) = &self.metrics_address {
            super::metrics::serve(address).await.map_err(|e| {
                crate::Error::internal_server_error(
                    service,
                    format!("cannot serve metrics on {address} (MICRO_METRICS_ADDRESS): {e}"),
                )
            })?;
        }
        let _ = service;
        Ok(())
    }

    /// Sends the spans not yet exported, for at most [`TRACE_FLUSH_LIMIT`] (a collector that hangs
    /// does not hold a stopping service); a failure is logged (the spans are lost).
    pub async fn flush(&self) {
        #[cfg(feature = "trace")]
        if let Some(tracer) = &self.tracer {
            match tokio::time::timeout(TRACE_FLUSH_LIMIT, tracer.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "traces not flushed"),
                Err(_) => tracing::warn!(limit = ?TRACE_FLUSH_LIMIT, "traces not flushed in time"),
            }
        }
    }
}
