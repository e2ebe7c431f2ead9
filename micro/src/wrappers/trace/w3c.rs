//! W3C trace context (`traceparent`, `tracestate`) in a request's metadata.
//!
//! Reading is the OpenTelemetry SDK's propagator. Writing is done here: a new span id goes out
//! on every call, and writing it in place (no formatting machinery, the metadata's own string
//! reused where the caller's `traceparent` was) keeps that off the cost of a call. A test holds
//! the output to the SDK's.

use crate::metadata::Metadata;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceFlags};
use opentelemetry::Context as Otel;
use opentelemetry_sdk::propagation::TraceContextPropagator;

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// The context `metadata` carries, as a remote parent (an empty context if it carries none).
pub(super) fn extract(metadata: &Metadata) -> Otel {
    TraceContextPropagator::new().extract(&Reader(metadata))
}

/// Puts `span`'s `traceparent` (and `tracestate`, when it says something) in `metadata`.
pub(super) fn inject(span: &SpanContext, metadata: &mut Metadata) {
    if !span.is_valid() {
        return;
    }
    match metadata.get_mut(TRACEPARENT) {
        Some(value) => {
            value.clear();
            write_traceparent(span, value);
        }
        None => {
            let mut value = String::with_capacity(55);
            write_traceparent(span, &mut value);
            metadata.insert(TRACEPARENT.to_string(), value);
        }
    }
    let state = span.trace_state().header();
    if !state.is_empty() {
        metadata.insert(TRACESTATE.to_string(), state);
    }
}

/// `00-<trace id>-<span id>-<flags>`, version 00 with only the sampled flag, as the SDK
/// writes it.
fn write_traceparent(span: &SpanContext, out: &mut String) {
    let mut text = [b'-'; 55];
    text[..2].copy_from_slice(b"00");
    hex(&span.trace_id().to_bytes(), &mut text[3..35]);
    hex(&span.span_id().to_bytes(), &mut text[36..52]);
    hex(
        &[(span.trace_flags() & TraceFlags::SAMPLED).to_u8()],
        &mut text[53..],
    );
    // Hex digits and dashes are ASCII.
    out.push_str(std::str::from_utf8(&text).unwrap_or_default());
}

fn hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
}

struct Reader<'a>(&'a Metadata);

impl Extractor for Reader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::propagation::Injector;
    use opentelemetry::trace::{SpanId, TraceContextExt, TraceId, TraceState};
    use std::collections::HashMap;

    struct Sdk(HashMap<String, String>);
    impl Injector for Sdk {
        fn set(&mut self, key: &str, value: String) {
            self.0.insert(key.to_string(), value);
        }
    }

    fn context(trace: u128, span: u64, flags: u8, state: &str) -> SpanContext {
        SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            TraceFlags::new(flags),
            false,
            state.parse::<TraceState>().expect("trace state"),
        )
    }

    #[test]
    fn writes_what_the_sdk_writes() {
        let cases = [
            context(1, 1, 1, ""),
            context(u128::MAX, u64::MAX, 0, ""),
            context(
                0x0af7651916cd43dd8448eb211c80319c,
                0xb7ad6b7169203331,
                0xff,
                "a=1,b=2",
            ),
        ];
        for span in cases {
            let mut sdk = Sdk(HashMap::new());
            TraceContextPropagator::new().inject_context(
                &Otel::new().with_remote_span_context(span.clone()),
                &mut sdk,
            );
            // Written fresh, and over a caller's traceparent.
            for before in [
                Metadata::new(),
                Metadata::from([(TRACEPARENT.into(), "x".repeat(80))]),
            ] {
                let mut ours = before;
                inject(&span, &mut ours);
                assert_eq!(ours.get(TRACEPARENT), sdk.0.get(TRACEPARENT));
                let state = sdk.0.get(TRACESTATE).filter(|s| !s.is_empty());
                assert_eq!(ours.get(TRACESTATE), state);
            }
            let back = extract(&Metadata::from([(
                TRACEPARENT.to_string(),
                sdk.0[TRACEPARENT].clone(),
            )]));
            assert_eq!(back.span().span_context().span_id(), span.span_id());
        }
    }

    #[test]
    fn writes_nothing_for_no_span() {
        let mut metadata = Metadata::new();
        inject(&SpanContext::empty_context(), &mut metadata);
        assert!(metadata.is_empty());
    }
}
